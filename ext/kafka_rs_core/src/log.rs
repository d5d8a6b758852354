//! Diagnostics for the host: connections made and lost, metadata refreshes, retries.
//!
//! The core never calls into the host language (its tasks run on threads that must not touch
//! Ruby). Instead each client owns an [`EventLog`]: the core appends events to a bounded queue
//! and the host drains it on its own thread (the Ruby binding does so after every call and hands
//! the events to the app's `Logger`). With logging off (the default) an event costs one atomic
//! load and its message is never formatted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

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
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            min_level: AtomicU8::new(OFF),
            queue: Mutex::new(VecDeque::new()),
            dropped: AtomicU64::new(0),
        }
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
