//! Connections to brokers.
//!
//! * [`transport`]: opening a socket (TCP today; TLS and SASL plug in here).
//! * [`messenger`]: one [`BrokerConnection`]: a writer task and a reader task over the socket, a
//!   correlation map of requests in flight (up to [`ConnectionConfig::max_in_flight`] at once:
//!   pipelining; the rest wait for room, in order), and poisoning: when the socket fails every
//!   waiter gets the error and the connection is never used again.
//! * [`versions`]: the ApiVersions handshake and the negotiated version table.
//! * [`sasl`]: SASL authentication (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) after ApiVersions,
//!   before the pool hands a connection out.
//! * [`sockets`]: the registry of open broker sockets, which a forked child releases.

pub mod messenger;
pub mod sasl;
pub mod sockets;
pub mod transport;
pub mod versions;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use messenger::BrokerConnection;

use crate::error::{Error, Result};

/// Where a broker listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for BrokerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl BrokerAddr {
    pub const DEFAULT_PORT: u16 = 9092;

    /// Parses `host`, `host:port`, `[v6]:port` or `kafka://host:port` (the scheme ruby-kafka
    /// accepts). Anything else is an [`Error::InvalidArgument`] naming `seed_brokers`.
    pub fn parse(input: &str) -> Result<BrokerAddr> {
        let bad = |why: &str| Error::invalid("seed_brokers", format!("{input:?} {why}"));
        let s = input.trim();
        let s = match s.split_once("://") {
            Some(("kafka" | "plaintext", rest)) => rest,
            Some((scheme, _)) => return Err(bad(&format!("has unsupported scheme {scheme:?}"))),
            None => s,
        };
        let s = s.trim_end_matches('/');
        if s.is_empty() {
            return Err(bad("is empty"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("has an unclosed ["))?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("is not host:port")),
            }
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return Err(bad("has no valid host"));
        }
        let port = match port {
            None => Self::DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad("has an invalid port")),
            },
        };
        Ok(BrokerAddr {
            host: host.to_string(),
            port,
        })
    }
}

/// Settings shared by every connection of a client.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub client_id: String,
    pub connect_timeout: Duration,
    /// How long a request may wait for its response (on top of any time the request itself asks
    /// the broker to wait, such as a fetch's max wait).
    pub request_timeout: Duration,
    /// Largest response frame accepted.
    pub max_frame_size: usize,
    /// Requests one connection hands to the broker before an answer comes back (the Java
    /// client's `max.in.flight.requests.per.connection`); later ones wait for room, in order.
    /// 0 counts as 1.
    pub max_in_flight: usize,
    /// SASL mechanism and credentials every connection authenticates with (`None`: no SASL).
    pub sasl: Option<sasl::SaslConfig>,
    /// The client's diagnostics, where requests are timed while the host asks for it
    /// ([`crate::log::EventLog::set_requests`]); set by [`crate::Client::new`].
    pub events: Option<Arc<crate::log::EventLog>>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "kafka_rs".into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_frame_size: 256 * 1024 * 1024,
            max_in_flight: 5,
            sasl: None,
            events: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_broker_forms() {
        let p = |s| BrokerAddr::parse(s).map(|a| a.to_string());
        assert_eq!(p("localhost").unwrap(), "localhost:9092");
        assert_eq!(p("kafka://10.0.0.1:9093").unwrap(), "10.0.0.1:9093");
        assert_eq!(
            p(" broker-1.example.com:19092 ").unwrap(),
            "broker-1.example.com:19092"
        );
        assert_eq!(p("[::1]:9092").unwrap(), "[::1]:9092");
        for bad in [
            "",
            "kafka://",
            "host:0",
            "host:99999",
            "host:abc",
            "http://x:1",
            "[::1",
        ] {
            let err = BrokerAddr::parse(bad).unwrap_err();
            assert!(err.to_string().contains("seed_brokers"), "{bad}: {err}");
        }
    }
}
