//! Diagnostics for the host: connections made and lost, metadata refreshes, retries.
//!
//! The core never calls into the host language (its tasks run on threads that must not touch
//! Ruby). Instead each client owns an [`EventLog`]: the core appends events to a bounded queue
//! and the host drains it on its own thread (the Ruby binding does so after every call and hands
//! the events to the app's `Logger`). With logging off (the default) an event costs one atomic
//! load and its message is never formatted.
//!
//! The same log carries [`RequestRecord`]s, the timing of each request a connection sends,
//! for the host's instrumentation (ruby-kafka's `request.connection.kafka` event). They are off
//! unless the host asks for them ([`EventLog::set_requests`], while someone subscribes): then
//! a request costs a clock reading at its start and one record at its answer; otherwise one
//! atomic load.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Severity, ordered like Ruby's `Logger` levels (DEBUG = 0 ... ERROR = 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

impl Level {
    pub fn from_u8(n: u8) -> Option<Level> {
        match n {
            0 => Some(Level::Debug),
            1 => Some(Level::Info),
            2 => Some(Level::Warn),
            3 => Some(Level::Error),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub level: Level,
    pub message: String,
}

/// Events kept until drained; beyond this the oldest are dropped (and counted).
pub const CAPACITY: usize = 1024;

/// Marks logging as off in `min_level`.
const OFF: u8 = u8::MAX;

pub struct EventLog {
    min_level: AtomicU8,
    queue: Mutex<VecDeque<Event>>,
    dropped: AtomicU64,
    requests_on: AtomicBool,
    requests: Mutex<VecDeque<RequestRecord>>,
    requests_dropped: AtomicU64,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            min_level: AtomicU8::new(OFF),
            queue: Mutex::new(VecDeque::new()),
            dropped: AtomicU64::new(0),
            requests_on: AtomicBool::new(false),
            requests: Mutex::new(VecDeque::new()),
            requests_dropped: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").finish_non_exhaustive()
    }
}

/// How one request went: its broker, API, sizes and times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `host:port`
    pub broker: String,
    pub api_key: i16,
    /// The group a group-membership request (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) is for.
    pub group_id: Option<String>,
    /// Bytes of the request frame.
    pub request_size: usize,
    /// Bytes of the response body (0 when none came).
    pub response_size: usize,
    /// Wall-clock time the request was queued on its connection.
    pub started: SystemTime,
    /// From then until its response was decoded (or the request failed).
    pub duration: Duration,
    pub failure: Option<RequestFailure>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestFailure {
    /// The response's top-level error code (group-membership APIs only).
    Code(i16),
    /// No usable response: the connection failed, the request timed out, the response did not
    /// decode.
    Transport(String),
}

/// Request records kept until drained; beyond this the oldest are dropped (and counted).
pub const REQUEST_CAPACITY: usize = 10_000;

/// A request being timed: made when it starts (only while records are on), turned into a
/// [`RequestRecord`] when it ends. A request whose caller gives up leaves no record.
pub struct RequestTimer {
    log: Arc<EventLog>,
    record: RequestRecord,
    at: Instant,
}

impl RequestTimer {
    /// Starts timing a request if `log` wants records; `None` (one atomic load) otherwise.
    pub fn start(
        log: Option<&Arc<EventLog>>,
        broker: &str,
        api_key: i16,
        group_id: Option<&str>,
        request_size: usize,
    ) -> Option<RequestTimer> {
        let log = log.filter(|l| l.requests_enabled())?;
        Some(RequestTimer {
            log: log.clone(),
            record: RequestRecord {
                broker: broker.to_string(),
                api_key,
                group_id: group_id.map(str::to_string),
                request_size,
                response_size: 0,
                started: SystemTime::now(),
                duration: Duration::ZERO,
                failure: None,
            },
            at: Instant::now(),
        })
    }

    /// Records the request's outcome: `response_size` bytes came back, with top-level error
    /// `code` (0: none), or the request failed with `transport`.
    pub fn finish(mut self, response_size: usize, code: i16, transport: Option<String>) {
        self.record.duration = self.at.elapsed();
        self.record.response_size = response_size;
        self.record.failure = match transport {
            Some(message) => Some(RequestFailure::Transport(message)),
            None if code != 0 => Some(RequestFailure::Code(code)),
            None => None,
        };
        self.log.push_request(self.record);
    }
}

impl EventLog {
    /// Keeps events at `level` and above; `None` turns logging off and discards queued events.
    pub fn set_level(&self, level: Option<Level>) {
        self.min_level
            .store(level.map_or(OFF, |l| l as u8), Ordering::Relaxed);
        if level.is_none() {
            self.lock().clear();
        }
    }

    pub fn enabled(&self, level: Level) -> bool {
        let min = self.min_level.load(Ordering::Relaxed);
        min != OFF && level as u8 >= min
    }

    /// Queues an event; `message` is only called when `level` is enabled.
    pub fn log(&self, level: Level, message: impl FnOnce() -> String) {
        if !self.enabled(level) {
            return;
        }
        let event = Event {
            level,
            message: message(),
        };
        let mut queue = self.lock();
        if queue.len() >= CAPACITY {
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queue.push_back(event);
    }

    /// Takes every queued event, oldest first. When events were dropped for lack of room, a
    /// warning saying how many comes first.
    pub fn drain(&self) -> Vec<Event> {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        let mut out = Vec::new();
        if dropped > 0 {
            out.push(Event {
                level: Level::Warn,
                message: format!(
                    "{dropped} log events were dropped (more than {CAPACITY} between drains)"
                ),
            });
        }
        out.extend(self.lock().drain(..));
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Event>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Turns request records on or off; off discards queued records.
    pub fn set_requests(&self, on: bool) {
        self.requests_on.store(on, Ordering::Relaxed);
        if !on {
            self.lock_requests().clear();
        }
    }

    pub fn requests_enabled(&self) -> bool {
        self.requests_on.load(Ordering::Relaxed)
    }

    fn push_request(&self, record: RequestRecord) {
        if !self.requests_enabled() {
            return;
        }
        let mut queue = self.lock_requests();
        if queue.len() >= REQUEST_CAPACITY {
            queue.pop_front();
            self.requests_dropped.fetch_add(1, Ordering::Relaxed);
        }
        queue.push_back(record);
    }

    /// Takes every queued request record, oldest first, and how many were dropped for lack of
    /// room since the last drain.
    pub fn drain_requests(&self) -> (Vec<RequestRecord>, u64) {
        let dropped = self.requests_dropped.swap(0, Ordering::Relaxed);
        (self.lock_requests().drain(..).collect(), dropped)
    }

    fn lock_requests(&self) -> std::sync::MutexGuard<'_, VecDeque<RequestRecord>> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_never_formats_disabled_events() {
        let log = EventLog::default();
        log.log(Level::Error, || panic!("formatted while off"));
        assert!(log.drain().is_empty());
        log.set_level(Some(Level::Warn));
        log.log(Level::Info, || panic!("formatted below the level"));
        log.log(Level::Warn, || "w".into());
        log.log(Level::Error, || "e".into());
        let got: Vec<_> = log
            .drain()
            .into_iter()
            .map(|e| (e.level, e.message))
            .collect();
        assert_eq!(
            got,
            vec![
                (Level::Warn, "w".to_string()),
                (Level::Error, "e".to_string())
            ]
        );
        assert!(log.drain().is_empty(), "drain empties the queue");
    }

    #[test]
    fn overflow_drops_the_oldest_and_says_how_many() {
        let log = EventLog::default();
        log.set_level(Some(Level::Debug));
        for i in 0..CAPACITY + 5 {
            log.log(Level::Debug, || format!("event {i}"));
        }
        let events = log.drain();
        assert_eq!(events.len(), CAPACITY + 1);
        assert_eq!(events[0].level, Level::Warn);
        assert!(events[0].message.starts_with("5 log events were dropped"));
        assert_eq!(events[1].message, "event 5");
        assert_eq!(events[CAPACITY].message, format!("event {}", CAPACITY + 4));
    }

    #[test]
    fn request_records_only_while_on() {
        let log = Arc::new(EventLog::default());
        assert!(RequestTimer::start(Some(&log), "b:1", 3, None, 10).is_none());
        assert!(RequestTimer::start(None, "b:1", 3, None, 10).is_none());
        log.set_requests(true);
        let t = RequestTimer::start(Some(&log), "b:1", 11, Some("g"), 40).unwrap();
        t.finish(25, 79, None);
        let t = RequestTimer::start(Some(&log), "b:2", 3, None, 7).unwrap();
        t.finish(0, 0, Some("timed out".into()));
        let (records, dropped) = log.drain_requests();
        assert_eq!(dropped, 0);
        assert_eq!(records.len(), 2);
        assert_eq!(
            (
                records[0].broker.as_str(),
                records[0].api_key,
                records[0].group_id.as_deref(),
                records[0].request_size,
                records[0].response_size,
                records[0].failure.clone()
            ),
            ("b:1", 11, Some("g"), 40, 25, Some(RequestFailure::Code(79)))
        );
        assert_eq!(
            records[1].failure,
            Some(RequestFailure::Transport("timed out".into()))
        );
        assert!(records[0].started <= SystemTime::now());
        assert!(log.drain_requests().0.is_empty());

        // Turned off while a request runs: its record is not kept; queued ones are discarded.
        let t = RequestTimer::start(Some(&log), "b:2", 0, None, 99).unwrap();
        RequestTimer::start(Some(&log), "b:2", 0, None, 1)
            .unwrap()
            .finish(0, 0, None);
        log.set_requests(false);
        t.finish(5, 0, None);
        log.set_requests(true);
        assert!(log.drain_requests().0.is_empty());
    }

    #[test]
    fn request_overflow_drops_the_oldest_and_counts() {
        let log = Arc::new(EventLog::default());
        log.set_requests(true);
        for i in 0..REQUEST_CAPACITY + 3 {
            RequestTimer::start(Some(&log), "b:1", 0, None, i)
                .unwrap()
                .finish(0, 0, None);
        }
        let (records, dropped) = log.drain_requests();
        assert_eq!(dropped, 3);
        assert_eq!(records.len(), REQUEST_CAPACITY);
        assert_eq!(records[0].request_size, 3);
    }

    #[test]
    fn turning_off_discards_queued_events() {
        let log = EventLog::default();
        log.set_level(Some(Level::Info));
        log.log(Level::Info, || "kept until off".into());
        log.set_level(None);
        assert!(log.drain().is_empty());
        assert_eq!(Level::from_u8(2), Some(Level::Warn));
        assert_eq!(Level::from_u8(9), None);
    }
}
