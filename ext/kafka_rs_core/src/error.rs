//! The core's error type. Every failure the client reports is one of these; the Ruby binding maps
//! each variant (and each Kafka error code) to a Ruby exception class once, at the boundary.

use crate::connection::tls::TlsFailure;
use crate::error_code::ErrorCode;
use crate::protocol::codec::DecodeError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A broker answered with a Kafka error code.
    #[error("{code}{}", context_suffix(.context))]
    Kafka { code: ErrorCode, context: String },

    /// The TCP (later TLS) connection could not be made, or broke. Requests in flight on a broken
    /// connection may or may not have been processed by the broker.
    #[error("connection to {broker} failed: {message}")]
    Connection { broker: String, message: String },

    /// TLS could not be set up: a certificate or key of the configuration is unusable
    /// (`broker: None`, when the client is built), or a broker's handshake failed. Final: the
    /// same certificates fail the same way on every attempt and every broker. The message says
    /// what was wrong, never a key or a password.
    #[error("{}", tls_message(.broker, .message))]
    Tls {
        broker: Option<String>,
        failure: TlsFailure,
        message: String,
    },

    /// A request got no answer within the socket timeout (the connection is closed).
    #[error("request {api} to {broker} timed out after {timeout_ms} ms")]
    Timeout {
        broker: String,
        api: &'static str,
        timeout_ms: u64,
    },

    /// The broker sent bytes that do not decode.
    #[error("protocol error: {0}")]
    Protocol(#[from] DecodeError),

    /// SASL authentication with a broker failed: credentials or a token the broker refused, a
    /// mechanism it does not enable, or a broker that failed the mechanism's own checks (a SCRAM
    /// server signature that does not verify). `code` is the broker's error code, if it sent one
    /// (`SASL_AUTHENTICATION_FAILED`, `UNSUPPORTED_SASL_MECHANISM`, `ILLEGAL_SASL_STATE`). Final:
    /// the same credentials would fail again, so it is not retried. The message never contains a
    /// password or token.
    #[error("SASL {mechanism} authentication with {broker} failed: {message}")]
    Authentication {
        broker: String,
        mechanism: &'static str,
        code: Option<ErrorCode>,
        message: String,
    },

    /// The broker does not support a version of an API this client can speak.
    #[error("unsupported by broker {broker}: {message}")]
    UnsupportedVersion { broker: String, message: String },

    /// A caller passed something unusable (a bad topic name, partition, option...).
    #[error("invalid {arg}: {message}")]
    InvalidArgument { arg: &'static str, message: String },

    /// No broker could be reached, or metadata could not be obtained.
    #[error("{0}")]
    NoBrokers(String),

    /// The client (or the producer) was closed.
    #[error("client is closed")]
    Closed,

    /// A producer's queue is full: the message was not accepted.
    #[error("queue full: {0}")]
    QueueFull(String),
}

fn tls_message(broker: &Option<String>, message: &str) -> String {
    match broker {
        Some(broker) => format!("TLS with {broker} failed: {message}"),
        None => format!("TLS configuration: {message}"),
    }
}

fn context_suffix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" ({context})")
    }
}

impl Error {
    pub fn kafka(code: ErrorCode, context: impl Into<String>) -> Self {
        Error::Kafka {
            code,
            context: context.into(),
        }
    }

    pub fn invalid(arg: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            arg,
            message: message.into(),
        }
    }

    /// Whether repeating the same operation (after refreshing metadata) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { code, .. } => code.is_retriable(),
            Error::Connection { .. } | Error::Timeout { .. } | Error::NoBrokers(_) => true,
            Error::Protocol(_)
            | Error::Authentication { .. }
            | Error::Tls { .. }
            | Error::UnsupportedVersion { .. }
            | Error::InvalidArgument { .. }
            | Error::Closed
            | Error::QueueFull(_) => false,
        }
    }

    /// Whether connecting to another broker, or again later, cannot help: the client's own
    /// configuration (TLS material, SASL credentials) or the broker's version is wrong. The
    /// client stops at such an error instead of trying every seed broker with backoff.
    pub fn is_final_for_connect(&self) -> bool {
        matches!(
            self,
            Error::Tls { .. } | Error::Authentication { .. } | Error::UnsupportedVersion { .. }
        )
    }

    /// The Kafka error code, if the broker sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            Error::Authentication { code, .. } => *code,
            _ => None,
        }
    }
}
