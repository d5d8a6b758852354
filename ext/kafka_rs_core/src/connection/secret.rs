//! [`Secret`]: the one type that holds a secret string (a private key's PEM, a key password, a
//! SASL password, an OAUTHBEARER token).

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

/// A secret string. `Debug` and `Display` print `[redacted]`; [`Secret::expose`] is the only way
/// to the value. Clones share one copy, wiped from memory when the last clone is dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Arc<Zeroizing<String>>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::new(Zeroizing::new(value.into())))
    }

    /// The secret itself: hand it only to what needs it, never to a message.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.clone(), s);
        assert!(Secret::default().is_empty());
    }
}
