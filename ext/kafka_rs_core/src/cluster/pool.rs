//! The broker pool: at most one live connection per broker address and [`Lane`].
//!
//! A new connection is published only once it is ready: connected (TCP, TLS), API versions
//! negotiated, and, when the client uses SASL, authenticated ([`sasl::authenticate`]). A
//! connection that fails authentication is closed at once; the error is final (not retriable),
//! so callers do not retry it, though the next attempt still waits out the backoff.
//!
//! **Sessions that expire (KIP-368).** When the broker limits a SASL session, the connection is
//! *retired* at 80 to 90% of the session's lifetime instead of being authenticated again: the
//! pool stops handing it out and opens a fresh one for the next caller, and the retired
//! connection stays open until no caller holds it and its requests are answered, then closes.
//! So no request is written after the session ends (the broker would close the connection) and
//! none in flight is lost. For a moment two connections to the broker exist on that lane.
//!
//! Each address and lane has a slot guarded by an async mutex, so concurrent callers that need the same
//! broker share one connection attempt instead of racing. A failed attempt pushes the next one
//! out by an exponential backoff with ±20% jitter (50 ms doubling to 1 s by default), so a dead
//! broker is not hammered. A reaper pass ([`BrokerPool::reap_idle`]) closes connections that have
//! carried no request for the idle limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Mutex as AsyncMutex;

use crate::connection::sasl::{self, SaslSession};
use crate::connection::{BrokerAddr, BrokerConnection, ConnectionConfig};
use crate::error::Result;
use crate::log::{EventLog, Level};

/// Reconnect backoff bounds.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The delay before attempt `failures + 1`: `initial`, doubling with each failure, up to
    /// `max`.
    pub fn exponential(&self, failures: u32) -> Duration {
        self.initial
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.max)
    }

    /// [`exponential`](Self::exponential), jittered by ±20%.
    pub fn delay(&self, failures: u32) -> Duration {
        let jitter = 0.8 + 0.4 * pseudo_random_unit();
        self.exponential(failures).mul_f64(jitter)
    }
}

/// A cheap pseudo-random number in [0, 1) for jitter (no cryptographic quality needed).
fn pseudo_random_unit() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// What a connection carries. A broker handles the requests of one connection one at a time,
/// in order, so a Fetch it holds for `max_wait` would delay every produce, metadata and admin
/// request queued behind it on the same connection. Long-poll fetches therefore get their own
/// connection to each broker; everything else shares the general one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    General,
    Fetch,
    /// One consumer's prefetcher: its long polls hold neither the client's other fetches nor
    /// another consumer's.
    Prefetch(u64),
    /// One consumer's group requests to its coordinator: a JoinGroup parks for up to the
    /// rebalance timeout, which must hold neither other traffic nor another group's heartbeats.
    Group(u64),
}

/// Ids of [`Lane::Prefetch`] and [`Lane::Group`] lanes, unique in the process.
static NEXT_LANE_ID: AtomicU64 = AtomicU64::new(1);

impl Lane {
    /// A prefetch lane no other prefetcher shares.
    pub fn own_prefetch() -> Lane {
        Lane::Prefetch(NEXT_LANE_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// A group lane no other consumer shares.
    pub fn own_group() -> Lane {
        Lane::Group(NEXT_LANE_ID.fetch_add(1, Ordering::Relaxed))
    }

    pub fn name(self) -> &'static str {
        match self {
            Lane::General => "general",
            Lane::Fetch => "fetch",
            Lane::Group(_) => "group",
            Lane::Prefetch(_) => "prefetch",
        }
    }
}

type SharedSlot = Arc<AsyncMutex<Slot>>;

#[derive(Default)]
struct Slot {
    conn: Option<Arc<BrokerConnection>>,
    /// When to stop handing `conn` out: its SASL session is about to end.
    retire_at: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Slot {
    /// Whether the connection's SASL session is about to end.
    fn due(&self) -> bool {
        self.retire_at.is_some_and(|at| Instant::now() >= at)
    }

    /// The connection, if it is alive and not due for retirement.
    fn usable(&self) -> Option<&Arc<BrokerConnection>> {
        let due = self.due();
        self.conn.as_ref().filter(|c| c.is_alive() && !due)
    }
}

/// How often a retired connection checks whether it can close.
const RETIRED_CHECK: Duration = Duration::from_millis(50);

pub struct BrokerPool {
    config: Arc<ConnectionConfig>,
    backoff: Backoff,
    events: Arc<EventLog>,
    slots: Mutex<HashMap<(BrokerAddr, Lane), SharedSlot>>,
}

impl BrokerPool {
    pub fn new(config: Arc<ConnectionConfig>, backoff: Backoff, events: Arc<EventLog>) -> Self {
        BrokerPool {
            config,
            backoff,
            events,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &Arc<ConnectionConfig> {
        &self.config
    }

    fn slot(&self, addr: &BrokerAddr, lane: Lane) -> SharedSlot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry((addr.clone(), lane)).or_default().clone()
    }

    /// The live connection to `addr` on `lane`, connecting (after any backoff) if there is none.
    pub async fn get(&self, addr: &BrokerAddr, lane: Lane) -> Result<Arc<BrokerConnection>> {
        let slot = self.slot(addr, lane);
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.usable() {
            return Ok(conn.clone());
        }
        if let Some(old) = slot.conn.take() {
            if old.is_alive() {
                self.retire(old, lane);
            }
        }
        slot.retire_at = None;
        if let Some(at) = slot.retry_at {
            tokio::time::sleep_until(at.into()).await;
        }
        match self.open(addr).await {
            Ok((conn, session)) => {
                self.events.log(Level::Debug, || {
                    let auth = match session {
                        Some(SaslSession {
                            mechanism,
                            lifetime: Some(l),
                            ..
                        }) => format!(", {mechanism}, session of {} ms", l.as_millis()),
                        Some(s) => format!(", {}", s.mechanism),
                        None => String::new(),
                    };
                    format!("connected to {addr} ({} connection{auth})", lane.name())
                });
                slot.failures = 0;
                slot.retry_at = None;
                slot.retire_at = session.and_then(|s| s.retire_at(pseudo_random_unit()));
                slot.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(err) => {
                slot.failures = slot.failures.saturating_add(1);
                let delay = self.backoff.delay(slot.failures);
                slot.retry_at = Some(Instant::now() + delay);
                self.events.log(Level::Warn, || {
                    if err.is_final_for_connect() {
                        // Nothing retries it: a refused certificate or login stays refused.
                        format!("could not connect to {addr}: {err}")
                    } else {
                        format!(
                            "could not connect to {addr}: {err} (next attempt in {} ms)",
                            delay.as_millis()
                        )
                    }
                });
                Err(err)
            }
        }
    }

    /// Connects to `addr`, negotiates versions and, when the client uses SASL, authenticates.
    /// A connection that fails authentication is closed before the error is returned.
    async fn open(
        &self,
        addr: &BrokerAddr,
    ) -> Result<(Arc<BrokerConnection>, Option<SaslSession>)> {
        let conn = BrokerConnection::connect(addr, self.config.clone()).await?;
        let Some(config) = &self.config.sasl else {
            return Ok((conn, None));
        };
        match sasl::authenticate(&conn, config, self.config.connect_timeout).await {
            Ok(session) => Ok((conn, Some(session))),
            Err(e) => {
                conn.close("SASL authentication failed");
                Err(e)
            }
        }
    }

    /// Lets a connection whose SASL session is ending finish: it stays open until nobody else
    /// holds it and its requests are answered (or it fails), then closes. A caller that took
    /// it just before could still start a request on it, which is why the pool's reference is
    /// the last one to go.
    fn retire(&self, conn: Arc<BrokerConnection>, lane: Lane) {
        self.events.log(Level::Debug, || {
            format!(
                "retiring the {} connection to {}: its SASL session ends soon; new requests go to a fresh connection",
                lane.name(),
                conn.addr()
            )
        });
        tokio::spawn(async move {
            loop {
                let pending = conn.pending();
                let idle = pending.in_flight == 0 && pending.waiting == 0;
                if !conn.is_alive() || (idle && Arc::strong_count(&conn) == 1) {
                    return;
                }
                tokio::time::sleep(RETIRED_CHECK).await;
            }
        });
    }

    /// The live connection to `addr` on `lane` if there is one, without connecting (none when
    /// its SASL session is about to end: the caller connects anew through [`get`](Self::get)).
    pub fn existing(&self, addr: &BrokerAddr, lane: Lane) -> Option<Arc<BrokerConnection>> {
        let slot = self.slot(addr, lane);
        let slot = slot.try_lock().ok()?;
        slot.usable().cloned()
    }

    /// Closes connections idle for at least `max_idle`, and forgets failed ones. Returns how many
    /// were closed.
    pub fn reap_idle(&self, max_idle: Duration) -> usize {
        let slots: Vec<_> = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.values().cloned().collect()
        };
        let mut closed = 0;
        for slot in slots {
            let Ok(mut slot) = slot.try_lock() else {
                continue;
            };
            let due = slot.due();
            let stale = match &slot.conn {
                Some(c) => {
                    let idle = c.idle_for();
                    !c.is_alive()
                        || idle.is_some_and(|idle| idle >= max_idle)
                        // Its session is ending and nothing is pending: close it now rather
                        // than let the broker do it.
                        || (due && idle.is_some() && Arc::strong_count(c) == 1)
                }
                None => false,
            };
            if stale {
                slot.conn = None;
                slot.retire_at = None;
                closed += 1;
            }
        }
        closed
    }

    /// Closes the connections of `lane` and forgets its slots (a consumer's own lanes, when the
    /// consumer is done). A request still holding one of them keeps it until it lets go.
    pub fn close_lane(&self, lane: Lane) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|(_, l), _| *l != lane);
    }

    /// Closes every connection.
    pub fn close_all(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.clear();
    }

    /// Number of live connections (for tests and stats).
    pub fn live_connections(&self) -> usize {
        let slots: Vec<_> = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.values().cloned().collect()
        };
        slots
            .iter()
            .filter(|s| {
                s.try_lock()
                    .map(|s| s.conn.as_ref().is_some_and(|c| c.is_alive()))
                    .unwrap_or(true)
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jittered_and_capped() {
        let b = Backoff::default();
        for _ in 0..100 {
            let d1 = b.delay(1);
            assert!(
                d1 >= Duration::from_millis(40) && d1 <= Duration::from_millis(60),
                "{d1:?}"
            );
            let d3 = b.delay(3);
            assert!(
                d3 >= Duration::from_millis(160) && d3 <= Duration::from_millis(240),
                "{d3:?}"
            );
            let d20 = b.delay(20);
            assert!(d20 <= Duration::from_millis(1200), "{d20:?}");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_and_backs_off() {
        // Bind then drop a listener so the port is (very likely) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let events = Arc::new(EventLog::default());
        events.set_level(Some(Level::Debug));
        let pool = BrokerPool::new(
            Arc::new(ConnectionConfig::default()),
            Backoff::default(),
            events.clone(),
        );
        let addr = BrokerAddr {
            host: "127.0.0.1".into(),
            port,
        };
        let err = pool.get(&addr, Lane::General).await.unwrap_err();
        assert!(err.is_retriable(), "{err}");
        let started = Instant::now();
        assert!(pool.get(&addr, Lane::General).await.is_err());
        assert!(
            started.elapsed() >= Duration::from_millis(35),
            "second attempt waited out the backoff"
        );
        let events = events.drain();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events.iter().all(|e| e.level == Level::Warn
            && e.message
                .starts_with(&format!("could not connect to 127.0.0.1:{port}"))));
    }
}
