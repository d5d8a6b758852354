//! SASL OAUTHBEARER (RFC 7628): the client sends a bearer token the broker validates.
//!
//! ```text
//!  client   n,,\x01auth=Bearer <token>[\x01<key>=<value>...]\x01\x01
//!  server   (empty)                          accepted
//!           {"status":"invalid_token",...}   refused: the client answers \x01 and the broker
//!                                            fails the exchange with that JSON as its message
//! ```
//!
//! **Where tokens come from.** The host (the Ruby layer) owns the token provider, whose `#token`
//! may only run on a host thread. It pushes tokens into the client's [`TokenSource`]; the core
//! never calls the host. A connection takes the current token; when there is none, or it
//! expired, or the broker refused it, the connection asks for a fresh one and waits for the host
//! to push it (up to the connect timeout). The host's refresher waits in
//! [`TokenSource::wait_refresh_wanted`] and pulls a token when one is asked for or when the
//! current one is at 80% of its life: its expiry as the host read it from the token (a JWT's
//! `exp`), or the session lifetime the broker announced for it, whichever comes first.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
// Tokio's clock (the same as the system's monotonic clock, except in tests with paused time).
use tokio::time::Instant;

use super::{Exchange, Secret, Step};
use crate::error::{Error, Result};

pub const MECHANISM: &str = "OAUTHBEARER";
/// RFC 7628's key-value separator.
const KVSEP: u8 = 0x01;
/// Refreshes at this fraction of a token's known life.
const REFRESH_AT: f64 = 0.8;
/// A token is never refreshed sooner than this after it arrived (a provider that keeps handing
/// back a token close to its expiry is not asked in a loop).
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// A bearer token and its SASL extensions. `Debug` hides the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthToken {
    pub value: Secret,
    /// `key=value` pairs sent after the token (KIP-342), for example a cluster's `logicalCluster`.
    pub extensions: Vec<(String, String)>,
    /// When the token expires, if known.
    pub expires_at: Option<Instant>,
}

impl OAuthToken {
    /// Checks the token and extensions against RFC 7628 and what Kafka's broker parses (a token
    /// of printable ASCII, extension keys of letters other than `auth`, values of printable
    /// ASCII, spaces and tabs). Errors never contain the token.
    pub fn new(
        value: impl Into<String>,
        extensions: Vec<(String, String)>,
        expires_in: Option<Duration>,
    ) -> Result<Self> {
        let value = value.into();
        let arg = "sasl_oauth_token_provider";
        if value.is_empty() {
            return Err(Error::invalid(arg, "#token returned an empty token"));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                arg,
                "#token returned a token with characters other than printable ASCII",
            ));
        }
        for (key, val) in &extensions {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) || key == "auth" {
                return Err(Error::invalid(
                    arg,
                    format!("extension key {key:?} must be letters only, and not \"auth\""),
                ));
            }
            if val.is_empty()
                || !val
                    .bytes()
                    .all(|b| b.is_ascii_graphic() || b" \t".contains(&b))
            {
                return Err(Error::invalid(
                    arg,
                    format!("extension {key:?} must have a value of printable ASCII"),
                ));
            }
        }
        Ok(OAuthToken {
            value: Secret::new(value),
            extensions,
            expires_at: expires_in.map(|d| Instant::now() + d),
        })
    }

    /// The client's initial response (RFC 7628, section 3.1), without authorization id.
    pub fn initial_response(&self) -> Vec<u8> {
        let mut out = b"n,,".to_vec();
        out.push(KVSEP);
        out.extend_from_slice(b"auth=Bearer ");
        out.extend_from_slice(self.value.expose().as_bytes());
        for (key, value) in &self.extensions {
            out.push(KVSEP);
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(&[KVSEP, KVSEP]);
        out
    }

    fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The client side of one OAUTHBEARER exchange.
pub struct OAuthBearerExchange {
    token: OAuthToken,
    refused: bool,
}

impl OAuthBearerExchange {
    pub fn new(token: OAuthToken) -> Self {
        OAuthBearerExchange {
            token,
            refused: false,
        }
    }
}

impl Exchange for OAuthBearerExchange {
    fn first(&mut self) -> Result<Vec<u8>, String> {
        Ok(self.token.initial_response())
    }

    /// An empty answer accepts the token. Anything else is the broker's error (JSON): the client
    /// acknowledges it with a lone separator, and the broker then fails the exchange with that
    /// error as its message.
    fn next(&mut self, server: &[u8]) -> Result<Step, String> {
        if server.is_empty() {
            return Ok(Step::Done);
        }
        if self.refused {
            return Err("the broker kept answering after refusing the token".into());
        }
        self.refused = true;
        Ok(Step::Respond(vec![KVSEP]))
    }
}

#[derive(Default)]
struct SourceState {
    token: Option<OAuthToken>,
    /// When the current token arrived.
    arrived: Option<Instant>,
    /// When to pull the next token, if that is known.
    refresh_at: Option<Instant>,
    /// A connection needs a fresh token.
    wanted: bool,
    /// The broker refused the current token.
    refused: bool,
    closed: bool,
}

impl SourceState {
    /// Whether `used` is the current token (a later push makes news about it moot).
    fn is_current(&self, used: &Secret) -> bool {
        self.token.as_ref().is_some_and(|t| t.value == *used)
    }
}

/// The client's current OAUTHBEARER token, filled by the host (see the module documentation).
#[derive(Default)]
pub struct TokenSource {
    state: Mutex<SourceState>,
    /// A token arrived, or the source closed (connections waiting for a token).
    pushed: Notify,
    /// A refresh was asked for, the refresh time moved, or the source closed (the host's
    /// refresher).
    wanted: Notify,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("TokenSource")
            .field("has_token", &st.token.is_some())
            .field("wanted", &st.wanted)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SourceState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs a fresh token from the host.
    pub fn push(&self, token: OAuthToken) {
        let now = Instant::now();
        {
            let mut st = self.lock();
            st.refresh_at = token
                .expires_at
                .map(|at| refresh_time(now, at.saturating_duration_since(now)));
            st.token = Some(token);
            st.arrived = Some(now);
            st.wanted = false;
            st.refused = false;
        }
        self.pushed.notify_waiters();
        self.wanted.notify_waiters();
    }

    /// Stops the source: waiting connections fail and the host's refresher is told to stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.pushed.notify_waiters();
        self.wanted.notify_waiters();
    }

    /// For the host's refresher: waits until a fresh token is wanted (`Some(true)`), or up to
    /// `timeout` (`Some(false)`); `None` once the source is closed.
    pub async fn wait_refresh_wanted(&self, timeout: Duration) -> Option<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.wanted.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let st = self.lock();
                if st.closed {
                    return None;
                }
                let now = Instant::now();
                if st.wanted || st.refresh_at.is_some_and(|at| at <= now) {
                    return Some(true);
                }
                if now >= deadline {
                    return Some(false);
                }
                st.refresh_at.map_or(deadline, |at| at.min(deadline))
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// The token for a new connection: the current one if it is neither expired nor refused,
    /// else a fresh one the host pushes within `wait`.
    pub(crate) async fn token_for_connection(&self, wait: Duration) -> Result<OAuthToken, String> {
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.pushed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let why = {
                let mut st = self.lock();
                if st.closed {
                    return Err("the client is closed".into());
                }
                let why = match &st.token {
                    Some(t) if !st.refused && !t.expired(Instant::now()) => return Ok(t.clone()),
                    Some(_) if st.refused => "the broker refused the last token",
                    Some(_) => "the last token expired",
                    None => "no token yet",
                };
                if !st.wanted {
                    st.wanted = true;
                    drop(st);
                    self.wanted.notify_waiters();
                }
                why
            };
            if tokio::time::timeout_at(deadline, &mut notified)
                .await
                .is_err()
            {
                return Err(format!(
                    "sasl_oauth_token_provider gave no fresh token within {} ms ({why})",
                    wait.as_millis()
                ));
            }
        }
    }

    /// The broker accepted `used` for a session of `lifetime` from `started`: if it is still the
    /// current token, the next refresh comes at 80% of that lifetime at the latest.
    pub(crate) fn session_established(
        &self,
        used: &Secret,
        started: Instant,
        lifetime: Option<Duration>,
    ) {
        let Some(lifetime) = lifetime else {
            return;
        };
        {
            let mut st = self.lock();
            if !st.is_current(used) {
                return;
            }
            let at = refresh_time(started, lifetime)
                .max(st.arrived.unwrap_or(started) + MIN_REFRESH_INTERVAL);
            if st.refresh_at.is_some_and(|current| current <= at) {
                return;
            }
            st.refresh_at = Some(at);
        }
        self.wanted.notify_waiters();
    }

    /// The broker refused `used`: if it is still the current token, the next connection waits
    /// for a fresh one.
    pub(crate) fn token_refused(&self, used: &Secret) {
        {
            let mut st = self.lock();
            if !st.is_current(used) {
                return;
            }
            st.refused = true;
            st.wanted = true;
        }
        self.wanted.notify_waiters();
    }
}

/// 80% into a life of `life` from `from`, but not before [`MIN_REFRESH_INTERVAL`].
fn refresh_time(from: Instant, life: Duration) -> Instant {
    from + life.mul_f64(REFRESH_AT).max(MIN_REFRESH_INTERVAL)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn token(value: &str) -> OAuthToken {
        OAuthToken::new(value, Vec::new(), None).unwrap()
    }

    #[test]
    fn the_initial_response_follows_rfc_7628() {
        assert_eq!(
            token("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.").initial_response(),
            b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.\x01\x01"
        );
        let with_extensions = OAuthToken::new(
            "t0k",
            vec![
                ("logicalCluster".into(), "lkc-123".into()),
                ("traceId".into(), "a b".into()),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            with_extensions.initial_response(),
            b"n,,\x01auth=Bearer t0k\x01logicalCluster=lkc-123\x01traceId=a b\x01\x01"
        );
    }

    #[test]
    fn bad_tokens_and_extensions_are_refused_without_printing_the_token() {
        let bad = [
            OAuthToken::new("", Vec::new(), None),
            OAuthToken::new("secret tok", Vec::new(), None),
            OAuthToken::new("secret\x01", Vec::new(), None),
            OAuthToken::new("secret", vec![("auth".into(), "x".into())], None),
            OAuthToken::new("secret", vec![("k1".into(), "x".into())], None),
            OAuthToken::new("secret", vec![("k".into(), "".into())], None),
            OAuthToken::new("secret", vec![("k".into(), "a\x01b".into())], None),
        ];
        for result in bad {
            let text = result.unwrap_err().to_string();
            assert!(text.contains("sasl_oauth_token_provider"), "{text}");
            assert!(!text.contains("secret"), "{text}");
        }
        let shown = format!("{:?}", token("secret"));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn an_empty_answer_accepts_and_an_error_is_acknowledged_once() {
        let mut ex = OAuthBearerExchange::new(token("t"));
        assert_eq!(ex.first().unwrap(), b"n,,\x01auth=Bearer t\x01\x01");
        assert_eq!(ex.next(b"").unwrap(), Step::Done);

        let mut ex = OAuthBearerExchange::new(token("t"));
        ex.first().unwrap();
        let refusal = br#"{"status":"invalid_token"}"#;
        assert_eq!(ex.next(refusal).unwrap(), Step::Respond(vec![1]));
        assert!(ex.next(refusal).is_err());
    }

    #[tokio::test]
    async fn a_connection_waits_for_the_first_token_and_asks_for_it() {
        let source = Arc::new(TokenSource::new());
        let s = source.clone();
        let waiting =
            tokio::spawn(async move { s.token_for_connection(Duration::from_secs(10)).await });
        assert_eq!(
            source.wait_refresh_wanted(Duration::from_secs(10)).await,
            Some(true),
            "the refresher is asked"
        );
        source.push(token("first"));
        assert_eq!(waiting.await.unwrap().unwrap().value.expose(), "first");
        assert_eq!(
            source.wait_refresh_wanted(Duration::from_millis(10)).await,
            Some(false),
            "nothing wanted once pushed"
        );
    }

    #[tokio::test]
    async fn without_a_push_the_connection_gives_up_and_says_why() {
        let source = TokenSource::new();
        let err = source
            .token_for_connection(Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(
            err.contains("no fresh token within 20 ms (no token yet)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_refused_or_expired_token_is_not_used_again() {
        let source = TokenSource::new();
        source.push(token("old"));
        let old = source
            .token_for_connection(Duration::from_secs(1))
            .await
            .unwrap();
        source.token_refused(&old.value);
        let err = source
            .token_for_connection(Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(err.contains("refused the last token"), "{err}");
        assert_eq!(source.wait_refresh_wanted(Duration::ZERO).await, Some(true));
        source.push(OAuthToken::new("expired", Vec::new(), Some(Duration::ZERO)).unwrap());
        let err = source
            .token_for_connection(Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(err.contains("expired"), "{err}");
        // A refusal of a token that is no longer current changes nothing.
        source.push(token("new"));
        source.token_refused(&old.value);
        let current = source
            .token_for_connection(Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(current.value, Secret::new("new"));
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_come_at_80_percent_of_the_known_life() {
        let source = TokenSource::new();
        source.push(OAuthToken::new("t", Vec::new(), Some(Duration::from_secs(100))).unwrap());
        let started = Instant::now();
        assert_eq!(
            source.wait_refresh_wanted(Duration::from_secs(300)).await,
            Some(true)
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(80) && waited < Duration::from_secs(81),
            "{waited:?}"
        );

        // No expiry known: the session lifetime the broker announced sets the refresh.
        source.push(token("u"));
        assert_eq!(
            source.wait_refresh_wanted(Duration::from_secs(1000)).await,
            Some(false)
        );
        let used = Secret::new("u");
        let started = Instant::now();
        source.session_established(&used, started, Some(Duration::from_secs(50)));
        assert_eq!(
            source.wait_refresh_wanted(Duration::from_secs(300)).await,
            Some(true)
        );
        assert!(started.elapsed() >= Duration::from_secs(40));
        // A session of a token that is no longer current changes nothing.
        source.push(token("v"));
        source.session_established(&used, Instant::now(), Some(Duration::from_secs(5)));
        assert_eq!(
            source.wait_refresh_wanted(Duration::from_secs(100)).await,
            Some(false)
        );
    }

    #[tokio::test]
    async fn closing_ends_every_wait() {
        let source = Arc::new(TokenSource::new());
        let s = source.clone();
        let refresher = tokio::spawn(async move {
            s.wait_refresh_wanted(Duration::ZERO).await;
            s.wait_refresh_wanted(Duration::from_secs(30)).await
        });
        tokio::task::yield_now().await;
        source.close();
        assert_eq!(refresher.await.unwrap(), None);
        assert!(source
            .token_for_connection(Duration::from_secs(30))
            .await
            .is_err());
    }
}
