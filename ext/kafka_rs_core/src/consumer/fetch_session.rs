//! Fetch sessions (KIP-227): the bookkeeping of one consumer's session with one broker.
//!
//! A session lets the broker remember which partitions a consumer fetches and from where, so
//! that after the first (full) request each fetch names only the partitions whose position or
//! size changed, and the broker answers only for partitions with something new. With many
//! partitions this shrinks requests and answers from O(partitions) to O(partitions that moved).
//!
//! `(session_id, epoch)` of a request:
//!
//! | session_id | epoch | meaning                                                        |
//! |------------|-------|----------------------------------------------------------------|
//! | 0          | -1    | a full fetch without a session (brokers older than Fetch v7)   |
//! | 0          | 0     | a full fetch that asks for a new session                       |
//! | S          | 0     | a full fetch that closes session S and asks for a new one      |
//! | S          | n > 0 | the session's n-th incremental fetch                           |
//!
//! Rules kept here:
//! - The session's partitions are exactly those of the last request that the broker answered:
//!   a partition the caller does not fetch this time (paused, its queue full, backing off) is
//!   forgotten, so the broker never sends data for a position the caller did not ask for.
//! - A partition is sent again when its fetch offset or size differs from what the broker holds.
//! - The epoch goes up by one per answered request (wrapping from `i32::MAX` to 1). A request
//!   that gets no answer (broken connection, timeout, cancelled) leaves the broker's epoch
//!   unknown, so the next request recreates the session; a session error from the broker
//!   (`FETCH_SESSION_ID_NOT_FOUND`, `INVALID_FETCH_SESSION_EPOCH`) starts over from none.
//! - An incremental answer leaves out partitions with nothing new; they read as empty, with the
//!   high watermark and offsets last seen.

use std::collections::HashMap;

use super::fetch::PartitionCursor;
use crate::protocol::messages::fetch::FetchRequest;

/// What the broker holds for one partition of the session, and what it last said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SessionPartition {
    offset: i64,
    max_bytes: i32,
    marks: PartitionMarks,
}

/// A partition's high watermark, last stable offset and log start offset, as last answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionMarks {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

impl PartitionMarks {
    pub const UNKNOWN: PartitionMarks = PartitionMarks {
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
    };
}

/// One consumer's fetch session with one broker (see the module docs).
#[derive(Debug, Default)]
pub struct FetchSession {
    id: i32,
    /// Epoch of the next request; 0 asks for a (new) session with a full fetch.
    next_epoch: i32,
    partitions: HashMap<(String, i32), SessionPartition>,
    counts: SessionCounts,
}

/// What a session did since the counts were last taken.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SessionCounts {
    /// Answered full fetches (with or without a session).
    pub full: u64,
    /// Answered incremental fetches.
    pub incremental: u64,
    /// Sessions the broker no longer knew (session errors).
    pub resets: u64,
}

impl SessionCounts {
    pub fn add(&mut self, other: SessionCounts) {
        self.full += other.full;
        self.incremental += other.incremental;
        self.resets += other.resets;
    }
}

/// What one request carries, made by [`FetchSession::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPlan {
    pub session_id: i32,
    pub session_epoch: i32,
    /// Indexes into the cursors of the partitions to name in the request.
    pub send: Vec<usize>,
    /// Partitions leaving the session.
    pub forgotten: Vec<(String, i32)>,
}

impl SessionPlan {
    /// A full fetch without a session: every cursor, nothing forgotten.
    pub fn sessionless(cursors: usize) -> SessionPlan {
        let (session_id, session_epoch) = FetchRequest::SESSIONLESS;
        SessionPlan {
            session_id,
            session_epoch,
            send: (0..cursors).collect(),
            forgotten: Vec::new(),
        }
    }

    pub fn is_incremental(&self) -> bool {
        self.session_epoch > 0
    }
}

impl FetchSession {
    pub fn new() -> FetchSession {
        FetchSession::default()
    }

    /// The session id the broker gave, 0 when there is none.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The next request for `cursors`, each fetching up to `max_bytes`.
    pub fn plan(&self, cursors: &[&PartitionCursor], max_bytes: i32) -> SessionPlan {
        if self.id == 0 || self.next_epoch == 0 {
            return SessionPlan {
                session_id: self.id,
                session_epoch: 0,
                send: (0..cursors.len()).collect(),
                forgotten: Vec::new(),
            };
        }
        let send = cursors
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                self.partitions
                    .get(&(c.topic.clone(), c.partition))
                    .is_none_or(|p| p.offset != c.offset || p.max_bytes != max_bytes)
            })
            .map(|(i, _)| i)
            .collect();
        let mut forgotten: Vec<(String, i32)> = self
            .partitions
            .keys()
            .filter(|(t, p)| !cursors.iter().any(|c| c.partition == *p && c.topic == *t))
            .cloned()
            .collect();
        forgotten.sort();
        SessionPlan {
            session_id: self.id,
            session_epoch: self.next_epoch,
            send,
            forgotten,
        }
    }

    /// The broker answered `plan` (made by [`plan`](Self::plan) for `cursors`) with
    /// `session_id`; `answered[i]` holds the marks the answer gave cursor `i`, `None` when it left
    /// the partition out. Returns each cursor's marks: from the answer, or (left out of an
    /// incremental answer) as last seen.
    pub fn answered(
        &mut self,
        plan: &SessionPlan,
        cursors: &[&PartitionCursor],
        max_bytes: i32,
        session_id: i32,
        answered: &[Option<PartitionMarks>],
    ) -> Vec<PartitionMarks> {
        if plan.is_incremental() {
            self.counts.incremental += 1;
        } else {
            self.counts.full += 1;
        }
        if !plan.is_incremental() {
            self.partitions.clear();
        }
        for (topic, partition) in &plan.forgotten {
            self.partitions.remove(&(topic.clone(), *partition));
        }
        let mut out = Vec::with_capacity(cursors.len());
        for (c, answer) in cursors.iter().zip(answered) {
            let key = (c.topic.clone(), c.partition);
            let last = self.partitions.get(&key).map(|p| p.marks);
            let marks = answer.or(last).unwrap_or(PartitionMarks::UNKNOWN);
            self.partitions.insert(
                key,
                SessionPartition {
                    offset: c.offset,
                    max_bytes,
                    marks,
                },
            );
            out.push(marks);
        }
        if session_id == 0 {
            // The broker keeps no session (none asked for, or its cache is full): the next
            // request asks again with a full fetch.
            self.id = 0;
            self.next_epoch = 0;
            self.partitions.clear();
        } else {
            self.id = session_id;
            self.next_epoch = if plan.is_incremental() {
                next_epoch(plan.session_epoch)
            } else {
                1
            };
        }
        out
    }

    /// The request got no answer: the broker's epoch is unknown, so the next request is a full
    /// fetch that closes this session and asks for a new one.
    pub fn failed(&mut self) {
        self.next_epoch = 0;
        self.partitions.clear();
    }

    /// The broker does not know the session or its epoch: start over without one.
    pub fn reset(&mut self) {
        self.id = 0;
        self.next_epoch = 0;
        self.partitions.clear();
        self.counts.resets += 1;
    }

    /// The counts since they were last taken.
    pub fn take_counts(&mut self) -> SessionCounts {
        std::mem::take(&mut self.counts)
    }
}

/// The epoch after `epoch` (1 follows `i32::MAX`; 0 is reserved for creating a session).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(topic: &str, partition: i32, offset: i64) -> PartitionCursor {
        PartitionCursor {
            topic: topic.into(),
            partition,
            offset,
        }
    }

    fn marks(hw: i64) -> PartitionMarks {
        PartitionMarks {
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: 0,
        }
    }

    /// Plans a request for `cursors`, and has the broker answer with `session_id` naming
    /// `named` (topic, partition, high watermark). Returns the plan and the marks per cursor.
    fn round(
        s: &mut FetchSession,
        cursors: &[PartitionCursor],
        session_id: i32,
        named: &[(&str, i32, i64)],
    ) -> (SessionPlan, Vec<i64>) {
        let cursors: Vec<&PartitionCursor> = cursors.iter().collect();
        let plan = s.plan(&cursors, 100);
        // What the answer named, in cursor order.
        let named: Vec<Option<PartitionMarks>> = cursors
            .iter()
            .map(|c| {
                named
                    .iter()
                    .find(|(t, p, _)| *t == c.topic && *p == c.partition)
                    .map(|(_, _, hw)| marks(*hw))
            })
            .collect();
        let out = s.answered(&plan, &cursors, 100, session_id, &named);
        (plan, out.iter().map(|m| m.high_watermark).collect())
    }

    #[test]
    fn first_request_creates_a_session_then_only_moved_partitions_are_sent() {
        let mut s = FetchSession::new();
        let cs = [cursor("a", 0, 10), cursor("a", 1, 20), cursor("b", 0, 5)];
        let (plan, hws) = round(&mut s, &cs, 42, &[("a", 0, 11), ("a", 1, 20), ("b", 0, 9)]);
        assert_eq!((plan.session_id, plan.session_epoch), (0, 0));
        assert_eq!(plan.send, vec![0, 1, 2]);
        assert_eq!(hws, vec![11, 20, 9]);
        assert_eq!(s.id(), 42);

        // a/0 moved to 11; the others did not: only a/0 is named, and the answer names only it.
        let cs = [cursor("a", 0, 11), cursor("a", 1, 20), cursor("b", 0, 5)];
        let (plan, hws) = round(&mut s, &cs, 42, &[("a", 0, 12)]);
        assert_eq!((plan.session_id, plan.session_epoch), (42, 1));
        assert_eq!(plan.send, vec![0]);
        assert!(plan.forgotten.is_empty());
        // Left out of the answer: nothing new, marks as last seen.
        assert_eq!(hws, vec![12, 20, 9]);

        // Nothing moved: an empty incremental request, epoch 2.
        let (plan, _) = round(&mut s, &cs, 42, &[]);
        assert_eq!(plan.session_epoch, 2);
        assert!(plan.send.is_empty());
    }

    #[test]
    fn partitions_not_fetched_are_forgotten_and_sent_in_full_when_they_return() {
        let mut s = FetchSession::new();
        let all = [cursor("a", 0, 10), cursor("a", 1, 20)];
        round(&mut s, &all, 7, &[]);
        // a/1 is paused: it leaves the session.
        let (plan, _) = round(&mut s, &all[..1], 7, &[]);
        assert_eq!(plan.forgotten, vec![("a".to_string(), 1)]);
        assert!(plan.send.is_empty());
        // It comes back at the same offset: it must be named again, the broker forgot it.
        let (plan, _) = round(&mut s, &all, 7, &[]);
        assert_eq!(plan.send, vec![1]);
        assert!(plan.forgotten.is_empty());
        assert_eq!(plan.session_epoch, 2);
    }

    #[test]
    fn a_changed_size_is_sent_again() {
        let mut s = FetchSession::new();
        let cs = [cursor("a", 0, 10)];
        round(&mut s, &cs, 7, &[]);
        let plan = s.plan(&[&cs[0]], 200);
        assert_eq!(plan.send, vec![0]);
    }

    #[test]
    fn a_failed_request_recreates_the_session_closing_the_old_one() {
        let mut s = FetchSession::new();
        let cs = [cursor("a", 0, 10), cursor("a", 1, 20)];
        round(&mut s, &cs, 9, &[]);
        round(&mut s, &cs, 9, &[]);
        s.failed();
        let cs: Vec<&PartitionCursor> = cs.iter().collect();
        let plan = s.plan(&cs, 100);
        assert_eq!((plan.session_id, plan.session_epoch), (9, 0));
        assert_eq!(plan.send, vec![0, 1]);
        assert!(plan.forgotten.is_empty());
        // The broker closes 9 and opens 10.
        s.answered(&plan, &cs, 100, 10, &[]);
        assert_eq!((s.id(), s.plan(&cs, 100).session_epoch), (10, 1));
        assert_eq!(
            s.take_counts(),
            SessionCounts {
                full: 2,
                incremental: 1,
                resets: 0
            }
        );
    }

    #[test]
    fn a_session_error_starts_over_without_a_session() {
        let mut s = FetchSession::new();
        let cs = [cursor("a", 0, 10)];
        round(&mut s, &cs, 9, &[]);
        s.reset();
        assert_eq!(s.take_counts().resets, 1);
        let plan = s.plan(&[&cs[0]], 100);
        assert_eq!((plan.session_id, plan.session_epoch), (0, 0));
        assert_eq!(plan.send, vec![0]);
    }

    #[test]
    fn a_broker_without_room_for_sessions_gets_full_fetches() {
        let mut s = FetchSession::new();
        let cs = [cursor("a", 0, 10)];
        let (_, hws) = round(&mut s, &cs, 0, &[("a", 0, 15)]);
        assert_eq!(hws, vec![15]);
        let plan = s.plan(&[&cs[0]], 100);
        assert_eq!((plan.session_id, plan.session_epoch), (0, 0));
        assert_eq!(plan.send, vec![0]);
    }

    #[test]
    fn the_epoch_wraps_to_one() {
        assert_eq!(next_epoch(1), 2);
        assert_eq!(next_epoch(i32::MAX), 1);
        let mut s = FetchSession {
            id: 5,
            next_epoch: i32::MAX,
            ..FetchSession::default()
        };
        let c = cursor("a", 0, 1);
        let cs = [&c];
        let plan = s.plan(&cs, 100);
        assert_eq!(plan.session_epoch, i32::MAX);
        s.answered(&plan, &cs, 100, 5, &[]);
        assert_eq!(s.plan(&cs, 100).session_epoch, 1);
    }
}
