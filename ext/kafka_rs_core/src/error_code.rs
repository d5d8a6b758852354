//! Kafka's error codes: TODO being written (table of every code with name, retriable flag and
//! description).

use std::fmt;

/// A Kafka protocol error code as sent by brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    pub const NONE: ErrorCode = ErrorCode(0);

    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    pub fn name(self) -> &'static str {
        "UNKNOWN_SERVER_ERROR"
    }

    pub fn is_retriable(self) -> bool {
        false
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}
