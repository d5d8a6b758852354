//! SASL PLAIN (RFC 4616): one message, `authzid NUL authcid NUL password`; the broker answers
//! with an empty token or refuses. The password crosses the wire as it is: only over TLS is it
//! safe from the network (the Ruby layer refuses SASL without TLS unless told otherwise).

use super::{Exchange, Secret, Step};
use crate::error::{Error, Result};

pub const MECHANISM: &str = "PLAIN";

/// PLAIN credentials. `Debug` shows the names, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    /// The identity to act as; empty (the usual case) to act as `username`.
    pub authzid: String,
    pub username: String,
    pub password: Secret,
}

impl PlainCredentials {
    /// Checks what RFC 4616 requires: no NUL in any part (NUL separates them), a non-empty
    /// username and password. Errors name the Ruby option at fault, never its value.
    pub fn new(
        authzid: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self> {
        let (authzid, username, password) = (authzid.into(), username.into(), password.into());
        if username.is_empty() {
            return Err(Error::invalid("sasl_plain_username", "must not be empty"));
        }
        if password.is_empty() {
            return Err(Error::invalid("sasl_plain_password", "must not be empty"));
        }
        for (arg, value) in [
            ("sasl_plain_authzid", &authzid),
            ("sasl_plain_username", &username),
            ("sasl_plain_password", &password),
        ] {
            if value.contains('\0') {
                return Err(Error::invalid(arg, "must not contain a NUL character"));
            }
        }
        Ok(PlainCredentials {
            authzid,
            username,
            password: Secret::new(password),
        })
    }

    /// The one client message.
    pub fn message(&self) -> Vec<u8> {
        let password = self.password.expose();
        let mut out =
            Vec::with_capacity(self.authzid.len() + self.username.len() + password.len() + 2);
        out.extend_from_slice(self.authzid.as_bytes());
        out.push(0);
        out.extend_from_slice(self.username.as_bytes());
        out.push(0);
        out.extend_from_slice(password.as_bytes());
        out
    }
}

/// The client side of one PLAIN exchange.
pub struct PlainExchange {
    credentials: PlainCredentials,
}

impl PlainExchange {
    pub fn new(credentials: PlainCredentials) -> Self {
        PlainExchange { credentials }
    }
}

impl Exchange for PlainExchange {
    fn first(&mut self) -> Result<Vec<u8>, String> {
        Ok(self.credentials.message())
    }

    /// The broker's answer to the message (empty) ends the exchange: a refusal comes as an
    /// error code instead.
    fn next(&mut self, _server: &[u8]) -> Result<Step, String> {
        Ok(Step::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_authzid_nul_username_nul_password() {
        let c = PlainCredentials::new("", "alice", "s3cr=t,").unwrap();
        assert_eq!(c.message(), b"\0alice\0s3cr=t,");
        let c = PlainCredentials::new("admin", "alice", "pw").unwrap();
        assert_eq!(c.message(), b"admin\0alice\0pw");
        let c = PlainCredentials::new("", "jürgen", "pässword").unwrap();
        assert_eq!(c.message(), "\0jürgen\0pässword".as_bytes());
    }

    #[test]
    fn the_exchange_is_one_message() {
        let mut ex = PlainExchange::new(PlainCredentials::new("", "u", "p").unwrap());
        assert_eq!(ex.first().unwrap(), b"\0u\0p");
        assert_eq!(ex.next(b"").unwrap(), Step::Done);
    }

    #[test]
    fn bad_credentials_name_the_option_not_the_value() {
        let cases = [
            (("", "", "pw"), "sasl_plain_username"),
            (("", "u", ""), "sasl_plain_password"),
            (("a\0b", "u", "pw"), "sasl_plain_authzid"),
            (("", "u\0", "pw"), "sasl_plain_username"),
            (("", "u", "hunter\0"), "sasl_plain_password"),
        ];
        for ((authzid, user, pw), arg) in cases {
            let err = PlainCredentials::new(authzid, user, pw).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(arg), "{text}");
            assert!(!text.contains("hunter"), "{text}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let c = PlainCredentials::new("", "alice", "hunter2").unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
