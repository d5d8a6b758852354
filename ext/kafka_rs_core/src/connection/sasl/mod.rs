//! SASL authentication, run on every new connection of a client configured for it.
//!
//! ```text
//!  connect (TCP, TLS) ─► ApiVersions ─► SaslHandshake(mechanism) ─► SaslAuthenticate ×N ─► pool
//!                                          │ not enabled: the broker's    │ error code, or a server
//!                                          │ list goes in the error       │ token that fails a check
//!                                          └──────────────► Error::Authentication (final) ◄┘
//! ```
//!
//! [`authenticate`] drives the exchange with framed requests over the connection's ordinary
//! request path (SaslHandshake v1, then SaslAuthenticate: KIP-152), so it works the same over
//! plain TCP and TLS. The mechanisms are pure state machines, tested without a broker:
//! [`plain`] (RFC 4616), [`scram`] (RFC 5802 and 7677, the server's signature verified) and
//! [`oauthbearer`] (RFC 7628 framing, with the [`oauthbearer::TokenSource`] the host fills).
//!
//! An authentication failure closes the connection and is final: the error is not retriable, so
//! no caller retries it with backoff and the client does not try the other seed brokers with
//! the same credentials.
//!
//! **Session lifetime (KIP-368).** When the broker limits the session (`connections.max.reauth.ms`,
//! or a token that expires), SaslAuthenticate v1+ says how long it lasts; the broker closes a
//! connection that sends a request after that. [`SaslSession::retire_at`] is when the pool stops
//! handing the connection out (80 to 90% of the lifetime): new requests go to a fresh connection,
//! and the old one closes once its requests in flight are answered.
//!
//! Secrets (passwords, tokens) live in [`Secret`], whose `Debug` and `Display` print
//! `[redacted]`; error messages never contain them (a broker message that quotes one is
//! redacted too).

pub mod oauthbearer;
pub mod plain;
pub mod scram;

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::BrokerConnection;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::protocol::messages::sasl_authenticate::SaslAuthenticateRequest;
use crate::protocol::messages::sasl_handshake::SaslHandshakeRequest;

pub use super::secret::Secret;

/// The SASL mechanism and credentials of a client; every connection authenticates with them.
#[derive(Debug, Clone)]
pub enum SaslConfig {
    Plain(plain::PlainCredentials),
    Scram(scram::ScramCredentials),
    OAuthBearer(Arc<oauthbearer::TokenSource>),
}

impl SaslConfig {
    /// The mechanism's SASL name, as sent in SaslHandshake.
    pub fn mechanism(&self) -> &'static str {
        match self {
            SaslConfig::Plain(_) => plain::MECHANISM,
            SaslConfig::Scram(c) => c.mechanism.name(),
            SaslConfig::OAuthBearer(_) => oauthbearer::MECHANISM,
        }
    }
}

/// One step of a client's exchange, after the broker's latest token.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token next.
    Respond(Vec<u8>),
    /// The client is satisfied (for SCRAM: the server proved it knows the password).
    Done,
}

/// A mechanism's client side: the first token, then one step per server token. A refusal is a
/// message for the user that never contains a secret.
pub trait Exchange: Send {
    fn first(&mut self) -> Result<Vec<u8>, String>;
    fn next(&mut self, server: &[u8]) -> Result<Step, String>;
}

/// What a completed authentication established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslSession {
    pub mechanism: &'static str,
    /// When the exchange began (the session's lifetime is counted from a moment after it).
    pub started: Instant,
    /// How long the broker accepts requests on this connection; `None`: no limit.
    pub lifetime: Option<Duration>,
}

impl SaslSession {
    /// When the broker stops accepting requests on the connection (measured from the start of
    /// the exchange, so a little early).
    pub fn expires_at(&self) -> Option<Instant> {
        self.lifetime.map(|l| self.started + l)
    }

    /// When to stop handing the connection out: at 80% to 90% of the lifetime (`unit`, in
    /// [0, 1), picks where), so connections opened together do not all reconnect at once and a
    /// request handed out just before still reaches the broker in time.
    pub fn retire_at(&self, unit: f64) -> Option<Instant> {
        let fraction = 0.80 + 0.10 * unit.clamp(0.0, 1.0);
        self.lifetime.map(|l| self.started + l.mul_f64(fraction))
    }
}

/// Rounds after which an exchange that has not ended is abandoned (SCRAM needs 2, PLAIN 1,
/// OAUTHBEARER 1, or 2 to hear the broker's reason for a refusal).
const MAX_ROUNDS: usize = 8;

/// Authenticates a connection whose API versions are negotiated: SaslHandshake v1 naming the
/// mechanism, then SaslAuthenticate rounds until the mechanism is done. `token_wait` bounds how
/// long an OAUTHBEARER connection waits for a token from the host.
pub async fn authenticate(
    conn: &BrokerConnection,
    sasl: &SaslConfig,
    token_wait: Duration,
) -> Result<SaslSession> {
    let started = Instant::now();
    let mechanism = sasl.mechanism();
    let broker = conn.addr().to_string();
    let failed = |code: Option<ErrorCode>, message: String| Error::Authentication {
        broker: broker.clone(),
        mechanism,
        code,
        message,
    };

    let handshake_version = conn.version_for::<SaslHandshakeRequest>()?;
    if handshake_version < 1 {
        return Err(Error::UnsupportedVersion {
            broker: broker.clone(),
            message: "SASL needs SaslHandshake v1 (SaslAuthenticate, Kafka 1.0+); the broker \
                      offers v0 only"
                .into(),
        });
    }
    let handshake = conn.request(&SaslHandshakeRequest { mechanism }).await?;
    match ErrorCode(handshake.error_code) {
        ErrorCode::NONE => {}
        ErrorCode::UNSUPPORTED_SASL_MECHANISM => {
            let offered = if handshake.mechanisms.is_empty() {
                "none".to_string()
            } else {
                handshake.mechanisms.join(", ")
            };
            return Err(failed(
                Some(ErrorCode::UNSUPPORTED_SASL_MECHANISM),
                format!("the broker does not enable {mechanism} on this listener (it enables: {offered})"),
            ));
        }
        code @ ErrorCode::ILLEGAL_SASL_STATE => {
            return Err(failed(
                Some(code),
                format!("SaslHandshake answered {code}: is this listener configured for SASL?"),
            ))
        }
        code => return Err(failed(Some(code), format!("SaslHandshake answered {code}"))),
    }

    let (exchange, secret): (Box<dyn Exchange>, Secret) = match sasl {
        SaslConfig::Plain(c) => (
            Box::new(plain::PlainExchange::new(c.clone())),
            c.password.clone(),
        ),
        SaslConfig::Scram(c) => (
            Box::new(scram::ScramExchange::new(c.clone())),
            c.password.clone(),
        ),
        SaslConfig::OAuthBearer(source) => {
            let token = source
                .token_for_connection(token_wait)
                .await
                .map_err(|message| failed(None, message))?;
            let secret = token.value.clone();
            (
                Box::new(oauthbearer::OAuthBearerExchange::new(token)),
                secret,
            )
        }
    };
    let result = run_exchange(conn, exchange, &secret, &failed).await;
    if let SaslConfig::OAuthBearer(source) = sasl {
        match &result {
            Ok(lifetime) => source.session_established(&secret, started.into(), *lifetime),
            Err(Error::Authentication { .. }) => source.token_refused(&secret),
            Err(_) => {}
        }
    }
    Ok(SaslSession {
        mechanism,
        started,
        lifetime: result?,
    })
}

/// The SaslAuthenticate rounds. Returns the session lifetime the broker announced. A refusal
/// (the broker's error code, or a server token that fails the mechanism's checks) is built by
/// `failed`; a connection failure meanwhile is returned as it is. The mechanism's steps run on
/// the blocking pool: SCRAM's key derivation takes milliseconds of CPU, which would otherwise
/// hold up a runtime worker and every task on it.
async fn run_exchange(
    conn: &BrokerConnection,
    mut exchange: Box<dyn Exchange>,
    secret: &Secret,
    failed: &(dyn Fn(Option<ErrorCode>, String) -> Error + Sync),
) -> Result<Option<Duration>> {
    let refused = |message: String| failed(None, redact(&message, secret));
    let mut token = exchange.first().map_err(refused)?;
    for _ in 0..MAX_ROUNDS {
        let resp = conn
            .request(&SaslAuthenticateRequest { auth_bytes: &token })
            .await;
        token.fill(0);
        let resp = resp?;
        let code = ErrorCode(resp.error_code);
        if !code.is_ok() {
            let reason = resp
                .error_message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| code.to_string());
            return Err(failed(Some(code), redact(&reason, secret)));
        }
        let server = resp.auth_bytes;
        let (back, step) = tokio::task::spawn_blocking(move || {
            let step = exchange.next(&server);
            (exchange, step)
        })
        .await
        .map_err(|e| refused(format!("the mechanism's step failed: {e}")))?;
        exchange = back;
        match step.map_err(refused)? {
            Step::Respond(next) => token = next,
            Step::Done => {
                let ms = resp.session_lifetime_ms;
                return Ok((ms > 0).then(|| Duration::from_millis(ms as u64)));
            }
        }
    }
    Err(refused(format!(
        "the exchange did not end after {MAX_ROUNDS} rounds"
    )))
}

/// `message` with every occurrence of the secret replaced by `[redacted]` (brokers do not quote
/// credentials, but a message must never carry one whatever a broker sends).
pub fn redact(message: &str, secret: &Secret) -> String {
    match secret.expose() {
        // Replacing "" would put the marker between every two characters.
        "" => message.to_string(),
        s => message.replace(s, "[redacted]"),
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, Bytes, BytesMut};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::connection::{BrokerAddr, ConnectionConfig};
    use crate::protocol::codec::{Reader, WireWrite};
    use crate::protocol::messages::api_versions::{
        ApiVersionEntry, ApiVersionsResponse, UNSUPPORTED_VERSION,
    };
    use crate::protocol::messages::sasl_authenticate::SaslAuthenticateResponse;
    use crate::protocol::messages::sasl_handshake::SaslHandshakeResponse;
    use crate::protocol::messages::test_support::{
        encode_api_versions_response, encode_sasl_authenticate_response,
        encode_sasl_handshake_response,
    };

    /// A byte-level peer on a loopback socket (not a broker): it answers ApiVersions so that the
    /// connection negotiates SaslHandshake v1 and SaslAuthenticate v2, then answers each SASL
    /// request with the next body `script` gives it.
    async fn peer(
        mut script: impl FnMut(i16, Bytes) -> Option<Bytes> + Send + 'static,
    ) -> (BrokerAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = BrokerAddr {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
        };
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            while let Some((key, version, id, body)) = read_request(&mut sock).await {
                let mut out = BytesMut::new();
                out.put_i32(id);
                match key {
                    // Refuses the first version asked for (answering in the v0 layout, as
                    // brokers do), then lists the APIs at v0.
                    18 if version > 0 => {
                        out.put_slice(&api_versions_answer(UNSUPPORTED_VERSION, &[(18, 0)]));
                    }
                    18 => out.put_slice(&api_versions_answer(0, &[(17, 1), (18, 0), (36, 2)])),
                    _ => {
                        if key == 36 {
                            out.put_uvarint(0); // response header v1
                        }
                        let Some(answer) = script(key, body) else {
                            return;
                        };
                        out.put_slice(&answer);
                    }
                }
                let mut frame = (out.len() as i32).to_be_bytes().to_vec();
                frame.extend_from_slice(&out);
                sock.write_all(&frame).await.unwrap();
            }
        });
        (addr, task)
    }

    /// Reads one request: api key, version, correlation id and the body after the header.
    async fn read_request(sock: &mut TcpStream) -> Option<(i16, i16, i32, Bytes)> {
        let size = sock.read_i32().await.ok()?;
        let mut frame = vec![0; size as usize];
        sock.read_exact(&mut frame).await.ok()?;
        let mut r = Reader::new(Bytes::from(frame));
        let (key, version, id) = (r.i16().ok()?, r.i16().ok()?, r.i32().ok()?);
        r.nullable_string(false).ok()?;
        if key == 36 && version >= 2 {
            r.skip_tagged_fields().ok()?; // request header v2
        }
        Some((key, version, id, r.into_rest()))
    }

    /// An ApiVersions v0 answer listing `apis` as (key, max version), each from version 0.
    fn api_versions_answer(error: i16, apis: &[(i16, i16)]) -> Bytes {
        let resp = ApiVersionsResponse {
            error_code: error,
            api_keys: apis
                .iter()
                .map(|&(api_key, max_version)| ApiVersionEntry {
                    api_key,
                    min_version: 0,
                    max_version,
                })
                .collect(),
            throttle_time_ms: 0,
        };
        encode_api_versions_response(&resp, 0)
    }

    fn handshake_answer(error: i16, mechanisms: &[&str]) -> Bytes {
        encode_sasl_handshake_response(&SaslHandshakeResponse {
            error_code: error,
            mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(),
        })
    }

    /// A SaslAuthenticate v2 answer.
    fn authenticate_answer(
        error: i16,
        message: Option<&str>,
        auth: &[u8],
        lifetime_ms: i64,
    ) -> Bytes {
        let resp = SaslAuthenticateResponse {
            error_code: error,
            error_message: message.map(str::to_owned),
            auth_bytes: Bytes::copy_from_slice(auth),
            session_lifetime_ms: lifetime_ms,
        };
        encode_sasl_authenticate_response(&resp, 2)
    }

    /// The client bytes of a SaslAuthenticate v2 body.
    fn auth_bytes(body: Bytes) -> Bytes {
        Reader::new(body).bytes(true).unwrap()
    }

    async fn run(addr: &BrokerAddr, sasl: &SaslConfig) -> Result<SaslSession> {
        let config = Arc::new(ConnectionConfig::default());
        let conn = BrokerConnection::connect(addr, config).await.unwrap();
        authenticate(&conn, sasl, Duration::from_secs(1)).await
    }

    fn plain() -> SaslConfig {
        SaslConfig::Plain(plain::PlainCredentials::new("", "alice", "hunter2").unwrap())
    }

    #[tokio::test]
    async fn a_mechanism_the_broker_does_not_enable_is_refused_with_the_ones_it_does() {
        let (addr, _peer) =
            peer(|_, _| Some(handshake_answer(33, &["PLAIN", "SCRAM-SHA-512"]))).await;
        let sasl = SaslConfig::Scram(
            scram::ScramCredentials::new(scram::ScramMechanism::Sha256, "alice", "hunter2")
                .unwrap(),
        );
        let err = run(&addr, &sasl).await.unwrap_err();
        assert!(!err.is_retriable());
        assert_eq!(err.code(), Some(ErrorCode::UNSUPPORTED_SASL_MECHANISM));
        assert_eq!(
            err.to_string(),
            format!(
                "SASL SCRAM-SHA-256 authentication with {addr} failed: the broker does not enable \
                 SCRAM-SHA-256 on this listener (it enables: PLAIN, SCRAM-SHA-512)"
            )
        );
    }

    #[tokio::test]
    async fn plain_sends_its_message_and_keeps_the_session_lifetime() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (addr, _peer) = peer(move |key, body| match key {
            17 => Some(handshake_answer(0, &["PLAIN"])),
            _ => {
                tx.send(auth_bytes(body)).unwrap();
                Some(authenticate_answer(0, None, b"", 10_000))
            }
        })
        .await;
        let session = run(&addr, &plain()).await.unwrap();
        assert_eq!(session.mechanism, "PLAIN");
        assert_eq!(session.lifetime, Some(Duration::from_secs(10)));
        assert_eq!(&rx.recv().unwrap()[..], b"\0alice\0hunter2");
    }

    #[tokio::test]
    async fn a_refusal_carries_the_broker_message_without_the_password() {
        let (addr, _peer) = peer(|key, _| match key {
            17 => Some(handshake_answer(0, &["PLAIN"])),
            // A broker that quotes the password: it is redacted.
            _ => Some(authenticate_answer(
                58,
                Some("bad password hunter2"),
                b"",
                0,
            )),
        })
        .await;
        let err = run(&addr, &plain()).await.unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::SASL_AUTHENTICATION_FAILED));
        assert_eq!(
            err.to_string(),
            format!("SASL PLAIN authentication with {addr} failed: bad password [redacted]")
        );
    }

    #[tokio::test]
    async fn a_scram_broker_that_cannot_sign_is_refused_even_though_it_accepted() {
        let (addr, _peer) = peer(|key, body| match key {
            17 => Some(handshake_answer(0, &["SCRAM-SHA-512"])),
            _ => {
                let client = String::from_utf8(auth_bytes(body).to_vec()).unwrap();
                let answer = match client.split_once(",r=") {
                    // client-first: extend the nonce.
                    Some(("n,,n=alice", nonce)) => {
                        format!("r={nonce}srv,s=c2FsdHNhbHQ=,i=4096")
                    }
                    // client-final: "accept" with a signature made without the credentials.
                    _ => "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
                        .to_string(),
                };
                Some(authenticate_answer(0, None, answer.as_bytes(), 0))
            }
        })
        .await;
        let sasl = SaslConfig::Scram(
            scram::ScramCredentials::new(scram::ScramMechanism::Sha512, "alice", "hunter2")
                .unwrap(),
        );
        let err = run(&addr, &sasl).await.unwrap_err();
        assert!(
            matches!(err, Error::Authentication { code: None, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("signature does not verify"),
            "{err}"
        );
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
        let plain =
            SaslConfig::Plain(plain::PlainCredentials::new("", "alice", "hunter2").unwrap());
        let shown = format!("{plain:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("alice"),
            "{shown}"
        );
    }

    #[test]
    fn redaction_replaces_every_occurrence() {
        let s = Secret::new("pw");
        assert_eq!(redact("bad pw, pw!", &s), "bad [redacted], [redacted]!");
        assert_eq!(redact("no secret here", &s), "no secret here");
        assert_eq!(redact("empty", &Secret::new("")), "empty");
    }

    #[test]
    fn a_session_retires_at_80_to_90_percent_of_its_lifetime() {
        let started = Instant::now();
        let session = SaslSession {
            mechanism: "PLAIN",
            started,
            lifetime: Some(Duration::from_secs(100)),
        };
        assert_eq!(
            session.retire_at(0.0),
            Some(started + Duration::from_secs(80))
        );
        assert_eq!(
            session.retire_at(0.5),
            Some(started + Duration::from_secs(85))
        );
        assert_eq!(
            session.retire_at(1.0),
            Some(started + Duration::from_secs(90))
        );
        assert_eq!(
            session.expires_at(),
            Some(started + Duration::from_secs(100))
        );
        let unlimited = SaslSession {
            lifetime: None,
            ..session
        };
        assert_eq!(unlimited.retire_at(0.3), None);
        assert_eq!(unlimited.expires_at(), None);
    }
}
