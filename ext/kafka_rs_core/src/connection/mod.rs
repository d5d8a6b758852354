//! Connections to brokers.
//!
//! * [`transport`]: opening the stream: TCP, then the TLS handshake when the client uses TLS
//!   (SASL plugs in after it).
//! * [`tls`]: the TLS configuration (rustls, built once per client), certificates and keys from
//!   PEM, the classification of TLS failures.
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
pub mod secret;
pub mod sockets;
pub mod tls;
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

    /// Parses `host`, `host:port`, `[v6]:port`, optionally behind a scheme ruby-kafka accepts
    /// (`kafka://`, `plaintext://`, `kafka+ssl://`, `ssl://`; see [`parse_seed`] for what the
    /// scheme asks for). Anything else is an [`Error::InvalidArgument`] naming `seed_brokers`.
    ///
    /// [`parse_seed`]: BrokerAddr::parse_seed
    pub fn parse(input: &str) -> Result<BrokerAddr> {
        Self::parse_seed(input).map(|(addr, _)| addr)
    }

    /// [`parse`](BrokerAddr::parse), with what the scheme asks for.
    pub fn parse_seed(input: &str) -> Result<(BrokerAddr, SeedScheme)> {
        let bad = |why: &str| Error::invalid("seed_brokers", format!("{input:?} {why}"));
        let s = input.trim();
        let (s, scheme) = match s.split_once("://") {
            Some(("kafka" | "plaintext", rest)) => (rest, SeedScheme::Plaintext),
            Some(("kafka+ssl" | "ssl", rest)) => (rest, SeedScheme::Tls),
            Some((scheme, _)) => return Err(bad(&format!("has unsupported scheme {scheme:?}"))),
            None => (s, SeedScheme::Unspecified),
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
        let addr = BrokerAddr {
            host: host.to_string(),
            port,
        };
        Ok((addr, scheme))
    }

    /// Parses a list of seed brokers. Returns the addresses and whether a `kafka+ssl://` (or
    /// `ssl://`) scheme asks for TLS. Mixing TLS and plaintext schemes is an
    /// [`Error::InvalidArgument`]: a client uses one listener kind for every broker.
    pub fn parse_seeds<S: AsRef<str>>(inputs: &[S]) -> Result<(Vec<BrokerAddr>, bool)> {
        let mut addrs = Vec::with_capacity(inputs.len());
        let (mut tls, mut plain) = (None, None);
        for input in inputs {
            let (addr, scheme) = Self::parse_seed(input.as_ref())?;
            match scheme {
                SeedScheme::Tls => tls = tls.or(Some(input.as_ref().trim())),
                SeedScheme::Plaintext => plain = plain.or(Some(input.as_ref().trim())),
                SeedScheme::Unspecified => {}
            }
            addrs.push(addr);
        }
        if let (Some(tls), Some(plain)) = (tls, plain) {
            return Err(Error::invalid(
                "seed_brokers",
                format!(
                    "mixes TLS and plaintext schemes ({tls:?} and {plain:?}): use kafka+ssl:// \
                     for every broker, or none"
                ),
            ));
        }
        Ok((addrs, tls.is_some()))
    }
}

/// What a seed broker's scheme asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedScheme {
    /// No scheme: the client's TLS options decide.
    Unspecified,
    /// `kafka://` or `plaintext://`.
    Plaintext,
    /// `kafka+ssl://` or `ssl://`: TLS, as hosted providers' `KAFKA_URL` values ask.
    Tls,
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
    /// TLS for every connection (`None`: plain TCP).
    pub tls: Option<tls::TlsConfig>,
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
            tls: None,
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
        assert_eq!(
            p("kafka+ssl://b1.example.com:9096").unwrap(),
            "b1.example.com:9096"
        );
        assert_eq!(
            BrokerAddr::parse_seed("ssl://[::1]:9093").unwrap(),
            (
                BrokerAddr {
                    host: "::1".into(),
                    port: 9093
                },
                SeedScheme::Tls
            )
        );
        for bad in [
            "",
            "kafka://",
            "kafka+ssl://",
            "kafka+sasl://x:1",
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

    #[test]
    fn seed_lists_turn_tls_on_and_refuse_mixed_schemes() {
        let (addrs, tls) = BrokerAddr::parse_seeds(&["kafka+ssl://a:9096", "b:9096"]).unwrap();
        assert!(tls);
        assert_eq!(addrs.len(), 2);
        let (_, tls) = BrokerAddr::parse_seeds(&["kafka://a:9092", "b"]).unwrap();
        assert!(!tls);
        let err = BrokerAddr::parse_seeds(&["kafka+ssl://a:9096", "kafka://b:9092"]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidArgument {
                    arg: "seed_brokers",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("kafka+ssl://a:9096"), "{err}");
    }
}
