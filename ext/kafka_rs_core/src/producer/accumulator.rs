//! The pipeline producer's queues: messages wait here from `produce` until their batch is sent.
//!
//! ```text
//! produce ──► incoming (arrival order) ──assign──► per partition: [batch][batch][batch…]
//!                 │ topic metadata missing:                 │ head batch ready (full, linger
//!                 │ the topic's messages wait, in order     │ passed, flush), partition has no
//!                 ▼                                         ▼ batch in flight, leader known
//!          topics to look up                          drain ──► sender
//! ```
//!
//! No I/O and no clock of its own (the caller passes `now`): every rule is unit-tested here.
//!
//! Invariants:
//! - A partition's batches leave in order, and a partition has at most `max_in_flight` batches
//!   in flight (1 without idempotence). A batch that fails retriably goes back to the *front*
//!   of its queue, so nothing sent after it can overtake it.
//! - Only the last batch of a partition that has never been sent takes new records; a batch's
//!   records never change once it has been sent (a retry resends the same batch).
//! - Every message here is counted in `messages`/`bytes` until it is settled (delivered or
//!   failed), which is what bounds the queue.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::delivery::{settle_all, DeliveryGroup, Settling, Slot};
use super::idempotence::{next_sequence, Idempotence, Sequenced};
use super::partitioner::Partitioner;
use super::{estimated_size, OutgoingMessage};
use crate::error::Error;
use crate::error_code::ErrorCode;
use crate::protocol::records::ProduceRecord;

pub type TopicPartition = (Arc<str>, i32);

/// A message waiting in the accumulator.
#[derive(Debug)]
pub struct Pending {
    pub message: OutgoingMessage,
    pub slot: Slot,
    pub enqueued: Instant,
    /// The record's estimated size (`producer::estimated_size`), computed once on the way in.
    pub size: usize,
}

/// Records of one partition sent (and, on a retriable error, resent) as one record batch.
#[derive(Debug)]
pub struct Batch {
    pub topic: Arc<str>,
    pub partition: i32,
    pub records: Vec<ProduceRecord>,
    pub slots: Vec<Slot>,
    pub bytes: usize,
    /// When the first record was appended (linger counts from here).
    pub created: Instant,
    /// When the oldest message of the batch was handed to the producer.
    pub oldest: Instant,
    /// Sends so far (0: never sent, still open for appends if last in its queue).
    pub attempts: u32,
    /// Creation order within the partition: a retried batch goes back to its place by it.
    pub serial: u64,
    /// Idempotent producers: the producer id, epoch and base sequence given at the first send
    /// and kept on retries (cleared by an epoch bump, then given afresh).
    pub sequence: Option<Sequenced>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub(crate) fn settling(&self) -> Settling<'_> {
        Settling {
            topic: &self.topic,
            partition: self.partition,
            records: &self.records,
        }
    }
}

#[derive(Debug, Default)]
struct PartitionQueue {
    batches: VecDeque<Batch>,
    in_flight: usize,
    /// A retried batch waits for its backoff.
    not_before: Option<Instant>,
    /// Serial of the next batch created.
    next_serial: u64,
    /// Idempotence: the base sequence of the next batch sent under the current epoch.
    next_sequence: i32,
    /// Idempotence: the sequence right after the last acknowledged batch (what the broker
    /// expects next, as far as this producer knows).
    expected_sequence: i32,
}

/// What the caller knows of a topic, from the metadata snapshot (no I/O).
#[derive(Debug, Clone)]
pub enum TopicState {
    /// The topic's partition count. A message naming a partition beyond it waits (the topic
    /// is returned for a lookup: it may have grown).
    Ready(usize),
    /// The partition count, and the error for messages naming a partition beyond it (the
    /// lookups for it ran out of retries).
    Missing(usize, Error),
    /// Not known yet: its messages wait and the topic is returned for a metadata lookup.
    Unknown,
    /// Looking it up failed for good: its waiting messages fail with this error.
    Failed(Error),
}

/// Limits and triggers of the accumulator.
#[derive(Debug, Clone)]
pub struct AccumulatorConfig {
    pub max_batch_bytes: usize,
    /// Close a batch at this many records (ruby-kafka's `delivery_threshold`); 0: no limit.
    pub max_batch_records: usize,
    /// Send a batch this long after its first record; `None`: only when full or flushed.
    pub linger: Option<Duration>,
    /// Batches of one partition in flight at once (at most 5 with idempotence, else 1).
    pub max_in_flight: usize,
    pub retry_backoff: Duration,
    pub partitioner: Partitioner,
    /// Stamp batches with a producer id, epoch and sequences ([`super::idempotence`]).
    pub idempotent: bool,
    /// Produce requests in flight to one broker at once (as the Java client's
    /// `max.in.flight.requests.per.connection`); batches for a busy broker wait, and grow.
    pub max_requests_per_leader: usize,
}

/// The queues. Guarded by the producer's mutex; every method is quick (no I/O, no await).
#[derive(Debug)]
pub struct Accumulator {
    config: AccumulatorConfig,
    incoming: VecDeque<Pending>,
    queues: HashMap<TopicPartition, PartitionQueue>,
    /// Partition that keyless messages of a topic stick to until its batch is full.
    sticky: HashMap<Arc<str>, i32>,
    round_robin: usize,
    /// Ship every batch now (a flush or a close), whatever linger says.
    pub flushing: bool,
    pub idempotence: Idempotence,
    /// Produce requests in flight per leader.
    requests: HashMap<i32, usize>,
}

impl Accumulator {
    pub fn new(config: AccumulatorConfig, seed: usize) -> Accumulator {
        Accumulator {
            idempotence: Idempotence::new(config.idempotent),
            config,
            incoming: VecDeque::new(),
            queues: HashMap::new(),
            sticky: HashMap::new(),
            round_robin: seed,
            flushing: false,
            requests: HashMap::new(),
        }
    }

    pub fn push(&mut self, pending: Pending) {
        self.incoming.push_back(pending);
    }

    /// Messages not yet given a partition.
    pub fn incoming_len(&self) -> usize {
        self.incoming.len()
    }

    /// Batches waiting to be sent (not counting those in flight).
    pub fn queued_batches(&self) -> usize {
        self.queues.values().map(|q| q.batches.len()).sum()
    }

    /// Gives incoming messages their partition and appends them to its queue, in arrival order.
    /// A message whose topic is [`TopicState::Unknown`] waits, and so do the later messages of
    /// the same topic (their order holds); the topics to look up are returned. Messages whose
    /// topic [`TopicState::Failed`], or whose explicit partition does not exist, are settled
    /// with an error here; returns how many messages (and bytes) were settled so.
    pub fn assign(
        &mut self,
        now: Instant,
        mut topic_state: impl FnMut(&str) -> TopicState,
        lookups: &mut Vec<Arc<str>>,
    ) -> (usize, usize) {
        let mut settled = (0, 0);
        let mut states: Vec<(Arc<str>, TopicState)> = Vec::new();
        let mut waiting = VecDeque::new();
        while let Some(pending) = self.incoming.pop_front() {
            let topic = pending.message.topic.clone();
            let state = match states.iter().find(|(t, _)| *t == topic) {
                Some((_, s)) => s.clone(),
                None => {
                    let s = topic_state(&topic);
                    states.push((topic.clone(), s.clone()));
                    s
                }
            };
            match state {
                TopicState::Unknown => {
                    if !lookups.contains(&topic) {
                        lookups.push(topic);
                    }
                    waiting.push_back(pending);
                }
                TopicState::Failed(e) => fail_one(&pending, &e, &mut settled),
                TopicState::Ready(count) | TopicState::Missing(count, _)
                    if pending
                        .message
                        .partition
                        .is_some_and(|p| p >= 0 && p as usize >= count) =>
                {
                    if let TopicState::Missing(count, e) = state {
                        let p = pending.message.partition.unwrap_or(-1);
                        let e = Error::kafka(
                            e.code().unwrap_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                            format!("{topic}/{p}: the topic has {count} partitions"),
                        );
                        fail_one(&pending, &e, &mut settled);
                    } else {
                        if !lookups.contains(&topic) {
                            lookups.push(topic);
                        }
                        waiting.push_back(pending);
                    }
                }
                TopicState::Ready(count) | TopicState::Missing(count, _) => {
                    match self.partition_for(&pending.message, pending.size, count) {
                        Ok(p) => self.append(now, p, pending),
                        Err(e) => fail_one(&pending, &e, &mut settled),
                    }
                }
            }
        }
        self.incoming = waiting;
        settled
    }

    fn partition_for(
        &mut self,
        msg: &OutgoingMessage,
        size: usize,
        count: usize,
    ) -> Result<i32, Error> {
        if count == 0 {
            return Err(Error::kafka(
                ErrorCode::LEADER_NOT_AVAILABLE,
                format!("{}: the metadata lists no partitions for it", msg.topic),
            ));
        }
        if let Some(p) = msg.partition {
            if p < 0 || p as usize >= count {
                // (A partition beyond the count waits in `assign`; only a negative one or one
                // whose lookups gave up gets here.)
                return Err(Error::kafka(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("{}/{p}: the topic has {count} partitions", msg.topic),
                ));
            }
            return Ok(p);
        }
        if let Some(key) = msg.partition_key.as_deref().or(msg.record.key.as_deref()) {
            return Ok(self.config.partitioner.partition_for_key(key, count));
        }
        // Keyless: stick to one partition while its open batch has room; move on once it is
        // full or has been sent (as the Java client and librdkafka do).
        let p = match self.sticky.get(&msg.topic) {
            Some(&p) if (p as usize) < count && self.open_batch_has_room(&msg.topic, p, size) => p,
            _ => {
                let p = (self.round_robin % count) as i32;
                self.round_robin = self.round_robin.wrapping_add(1);
                self.sticky.insert(msg.topic.clone(), p);
                p
            }
        };
        Ok(p)
    }

    /// Whether the partition has an open batch (never sent) that can take `size` more bytes.
    fn open_batch_has_room(&self, topic: &Arc<str>, partition: i32, size: usize) -> bool {
        let Some(queue) = self.queues.get(&(topic.clone(), partition)) else {
            return false;
        };
        queue
            .batches
            .back()
            .is_some_and(|b| b.attempts == 0 && self.fits(b, size))
    }

    fn fits(&self, batch: &Batch, size: usize) -> bool {
        batch.bytes + size <= self.config.max_batch_bytes
            && (self.config.max_batch_records == 0
                || batch.records.len() < self.config.max_batch_records)
    }

    /// Appends to the partition's open batch, or starts a new one.
    fn append(&mut self, now: Instant, partition: i32, pending: Pending) {
        let Pending {
            message,
            slot,
            enqueued,
            size,
        } = pending;
        let topic = message.topic;
        let max_bytes = self.config.max_batch_bytes;
        let max_records = self.config.max_batch_records;
        let queue = self.queues.entry((topic.clone(), partition)).or_default();
        let open = queue.batches.back_mut().filter(|b| {
            b.attempts == 0
                && b.bytes + size <= max_bytes
                && (max_records == 0 || b.records.len() < max_records)
        });
        match open {
            Some(batch) => {
                batch.records.push(message.record);
                batch.slots.push(slot);
                batch.bytes += size;
            }
            None => {
                let serial = queue.next_serial;
                queue.next_serial += 1;
                queue.batches.push_back(Batch {
                    topic: topic.clone(),
                    partition,
                    records: vec![message.record],
                    slots: vec![slot],
                    bytes: size,
                    created: now,
                    oldest: enqueued,
                    attempts: 0,
                    serial,
                    sequence: None,
                });
            }
        }
    }

    /// Takes the batches that may be sent now, grouped by leader. A partition's head batch is
    /// ready when a batch follows it (it is full), when it is full itself, when linger has
    /// passed, or while flushing; it is taken only if the partition has room in flight, its
    /// retry backoff has passed and `leader_of` knows its leader (else the topic is added to
    /// `lookups`). Returns the batches and the next instant something becomes ready by time.
    ///
    /// Idempotent producers: nothing is drained before the producer has an id, or while an
    /// epoch bump waits for the batches in flight to settle (the bump happens here once none
    /// is); a retried batch goes only when nothing else of its partition is in flight; a batch
    /// gets its sequence when it is first taken.
    pub fn drain(
        &mut self,
        now: Instant,
        mut leader_of: impl FnMut(&str, i32) -> Option<i32>,
        lookups: &mut Vec<Arc<str>>,
    ) -> (Vec<(i32, Batch)>, Option<Instant>) {
        let mut ready = Vec::new();
        let mut next: Option<Instant> = None;
        let mut soonest = |at: Instant| {
            next = Some(next.map_or(at, |n: Instant| n.min(at)));
        };
        if self.idempotence.enabled {
            if self.idempotence.bump_requested && self.in_flight() == 0 && self.idempotence.bump() {
                self.restart_sequences();
            }
            if !self.idempotence.ready() {
                return (Vec::new(), None);
            }
        }
        let identity = self.idempotence.identity;
        let cfg = &self.config;
        let requests = &self.requests;
        for ((topic, partition), queue) in self.queues.iter_mut() {
            while let Some(head) = queue.batches.front() {
                if queue.in_flight >= cfg.max_in_flight {
                    break;
                }
                if cfg.idempotent && head.attempts > 0 && queue.in_flight > 0 {
                    break;
                }
                if let Some(at) = queue.not_before {
                    if at > now {
                        soonest(at);
                        break;
                    }
                    queue.not_before = None;
                }
                let full = queue.batches.len() > 1
                    || head.bytes >= cfg.max_batch_bytes
                    || (cfg.max_batch_records > 0 && head.len() >= cfg.max_batch_records);
                let lingered = match cfg.linger {
                    Some(linger) => {
                        let at = head.created + linger;
                        if at > now {
                            soonest(at);
                        }
                        at <= now
                    }
                    None => false,
                };
                if !(full || lingered || self.flushing || head.attempts > 0) {
                    break;
                }
                let Some(leader) = leader_of(topic, *partition) else {
                    if !lookups.contains(topic) {
                        lookups.push(topic.clone());
                    }
                    break;
                };
                if requests.get(&leader).copied().unwrap_or(0) >= cfg.max_requests_per_leader {
                    break;
                }
                let mut batch = queue.batches.pop_front().expect("head exists");
                if let (Some(producer), None) = (identity, batch.sequence) {
                    batch.sequence = Some(Sequenced {
                        producer,
                        base_sequence: queue.next_sequence,
                    });
                    queue.next_sequence = next_sequence(queue.next_sequence, batch.len());
                }
                queue.in_flight += 1;
                ready.push((leader, batch));
            }
        }
        (ready, next)
    }

    /// A Produce request to `leader` was started (counted against `max_requests_per_leader`).
    pub fn request_started(&mut self, leader: i32) {
        *self.requests.entry(leader).or_insert(0) += 1;
    }

    /// A Produce request to `leader` was answered (or failed).
    pub fn request_finished(&mut self, leader: i32) {
        if let Some(n) = self.requests.get_mut(&leader) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.requests.remove(&leader);
            }
        }
    }

    /// Batches in flight, over all partitions.
    fn in_flight(&self) -> usize {
        self.queues.values().map(|q| q.in_flight).sum()
    }

    /// After an epoch bump: every partition starts again at sequence 0 and queued batches get
    /// new sequences when they are drained.
    fn restart_sequences(&mut self) {
        for q in self.queues.values_mut() {
            q.next_sequence = 0;
            q.expected_sequence = 0;
            for b in q.batches.iter_mut() {
                b.sequence = None;
            }
        }
        // Partitions without a queue restart at 0 anyway (a new queue starts there).
    }

    /// The sequence the broker expects next for the partition (idempotence).
    pub fn expected_sequence(&self, topic: &Arc<str>, partition: i32) -> i32 {
        self.queues
            .get(&(topic.clone(), partition))
            .map_or(0, |q| q.expected_sequence)
    }

    /// A sent batch was settled: delivered (`delivered`), or failed for good. A sequenced batch
    /// that failed leaves a gap in its partition's sequences: the epoch is bumped.
    pub fn finished(&mut self, batch: &Batch, delivered: bool) {
        let key = (batch.topic.clone(), batch.partition);
        let current = self.idempotence.identity;
        if let Some(q) = self.queues.get_mut(&key) {
            q.in_flight = q.in_flight.saturating_sub(1);
            if let Some(seq) = batch.sequence {
                if delivered && Some(seq.producer) == current {
                    q.expected_sequence = next_sequence(seq.base_sequence, batch.len());
                }
            }
            if q.in_flight == 0 && q.batches.is_empty() && q.next_sequence == 0 {
                self.queues.remove(&key);
            }
        }
        if batch.sequence.is_some() && !delivered {
            self.idempotence.bump_requested = true;
        }
    }

    /// A sent batch failed retriably: back to its place in its queue (ahead of every batch
    /// created after it), after the backoff.
    pub fn retry(&mut self, now: Instant, mut batch: Batch) {
        batch.attempts = batch.attempts.max(1);
        let backoff = self.config.retry_backoff;
        let q = self
            .queues
            .entry((batch.topic.clone(), batch.partition))
            .or_default();
        q.in_flight = q.in_flight.saturating_sub(1);
        q.not_before = Some(now + backoff);
        let at = q
            .batches
            .iter()
            .position(|b| b.serial > batch.serial)
            .unwrap_or(q.batches.len());
        q.batches.insert(at, batch);
    }

    /// Removes the messages of `group` that were never sent (waiting for a partition, or in a
    /// batch not sent yet), settling them with `why`. Messages in flight or waiting for a retry
    /// stay: they may already be written. Returns how many were removed (and their bytes).
    pub fn cancel(&mut self, group: &Arc<DeliveryGroup>, why: &Error) -> (usize, usize) {
        let mut settled = (0, 0);
        let mine = |slot: &Slot| Arc::ptr_eq(&slot.group, group);
        let mut keep = VecDeque::with_capacity(self.incoming.len());
        for p in std::mem::take(&mut self.incoming) {
            if mine(&p.slot) {
                fail_one(&p, why, &mut settled);
            } else {
                keep.push_back(p);
            }
        }
        self.incoming = keep;
        for q in self.queues.values_mut() {
            for b in q.batches.iter_mut().filter(|b| b.attempts == 0) {
                if !b.slots.iter().any(mine) {
                    continue;
                }
                let records = std::mem::take(&mut b.records);
                let slots = std::mem::take(&mut b.slots);
                for (record, slot) in records.into_iter().zip(slots) {
                    if mine(&slot) {
                        let size = estimated_size(&record);
                        let what = Settling {
                            topic: &b.topic,
                            partition: b.partition,
                            records: std::slice::from_ref(&record),
                        };
                        settle_all(what, std::slice::from_ref(&slot), |_| Err(why.clone()));
                        settled.0 += 1;
                        settled.1 += size;
                        b.bytes -= size;
                    } else {
                        b.records.push(record);
                        b.slots.push(slot);
                    }
                }
            }
            q.batches.retain(|b| !b.is_empty());
        }
        settled
    }

    /// Removes every queued message (incoming and unsent batches) whose oldest message was
    /// handed over before `deadline`, with `why` as their error. Returns how many (and bytes).
    pub fn expire(&mut self, deadline: Instant, why: &Error) -> (usize, usize) {
        let mut settled = (0, 0);
        let mut keep = VecDeque::with_capacity(self.incoming.len());
        for p in std::mem::take(&mut self.incoming) {
            if p.enqueued < deadline {
                fail_one(&p, why, &mut settled);
            } else {
                keep.push_back(p);
            }
        }
        self.incoming = keep;
        for q in self.queues.values_mut() {
            while q.batches.front().is_some_and(|b| b.oldest < deadline) {
                let b = q.batches.pop_front().expect("front exists");
                if b.sequence.is_some() {
                    self.idempotence.bump_requested = true;
                }
                settle_all(b.settling(), &b.slots, |_| Err(why.clone()));
                settled.0 += b.len();
                settled.1 += b.bytes;
            }
        }
        self.queues
            .retain(|_, q| q.in_flight > 0 || !q.batches.is_empty() || q.next_sequence != 0);
        settled
    }
}

/// Settles one waiting message with `why`, counting it (and its bytes) in `settled`.
fn fail_one(pending: &Pending, why: &Error, settled: &mut (usize, usize)) {
    let what = Settling {
        topic: &pending.message.topic,
        partition: pending.message.partition.unwrap_or(-1),
        records: std::slice::from_ref(&pending.message.record),
    };
    settle_all(what, std::slice::from_ref(&pending.slot), |_| {
        Err(why.clone())
    });
    settled.0 += 1;
    settled.1 += pending.size;
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn config() -> AccumulatorConfig {
        AccumulatorConfig {
            max_batch_bytes: 1000,
            max_batch_records: 0,
            linger: Some(Duration::from_millis(5)),
            max_in_flight: 1,
            retry_backoff: Duration::from_millis(100),
            partitioner: Partitioner::Crc32,
            idempotent: false,
            max_requests_per_leader: 100,
        }
    }

    fn pending(
        group: &Arc<DeliveryGroup>,
        index: u32,
        topic: &str,
        partition: Option<i32>,
        key: Option<&str>,
        value_len: usize,
        now: Instant,
    ) -> Pending {
        Pending {
            message: OutgoingMessage {
                topic: Arc::from(topic),
                partition,
                partition_key: None,
                record: ProduceRecord {
                    key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                    value: Some(Bytes::from(vec![b'v'; value_len])),
                    headers: Vec::new(),
                    timestamp_ms: 0,
                },
            },
            slot: Slot {
                group: group.clone(),
                index,
            },
            enqueued: now,
            size: value_len + 30,
        }
    }

    fn ready_topics(_: &str) -> TopicState {
        TopicState::Ready(3)
    }

    #[test]
    fn a_batch_goes_when_linger_passes_not_before() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config(), 0);
        let g = DeliveryGroup::new(2);
        acc.push(pending(&g, 0, "t", Some(1), None, 10, t0));
        acc.push(pending(&g, 1, "t", Some(1), None, 10, t0));
        let mut lookups = Vec::new();
        assert_eq!(acc.assign(t0, ready_topics, &mut lookups), (0, 0));
        let (ready, next) = acc.drain(t0, |_, _| Some(7), &mut lookups);
        assert!(ready.is_empty());
        assert_eq!(next, Some(t0 + Duration::from_millis(5)));
        let (ready, _) = acc.drain(t0 + Duration::from_millis(5), |_, _| Some(7), &mut lookups);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].0, 7);
        assert_eq!(ready[0].1.len(), 2);
        assert!(lookups.is_empty());
    }

    #[test]
    fn one_batch_per_partition_in_flight_and_a_retry_goes_first() {
        let t0 = Instant::now();
        let mut cfg = config();
        cfg.max_batch_bytes = 100; // two 40-byte records per batch
        let mut acc = Accumulator::new(cfg, 0);
        let g = DeliveryGroup::new(6);
        for i in 0..6 {
            acc.push(pending(&g, i, "t", Some(0), None, 40 - 30, t0));
        }
        let mut lookups = Vec::new();
        acc.assign(t0, ready_topics, &mut lookups);
        assert_eq!(
            acc.queued_batches(),
            3,
            "two records of 40 estimated bytes per batch"
        );
        acc.flushing = true;
        let (first, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        assert_eq!(first.len(), 1, "only one batch of the partition in flight");
        let (none, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        assert!(none.is_empty());
        // The first batch fails retriably: it goes back to the front, after the backoff.
        let (_, batch) = first.into_iter().next().unwrap();
        let first_indices: Vec<u32> = batch.slots.iter().map(|s| s.index).collect();
        acc.retry(t0, batch);
        let (early, next) = acc.drain(t0 + Duration::from_millis(50), |_, _| Some(1), &mut lookups);
        assert!(early.is_empty());
        assert_eq!(next, Some(t0 + Duration::from_millis(100)));
        let (again, _) = acc.drain(
            t0 + Duration::from_millis(100),
            |_, _| Some(1),
            &mut lookups,
        );
        assert_eq!(again.len(), 1);
        let again_indices: Vec<u32> = again[0].1.slots.iter().map(|s| s.index).collect();
        assert_eq!(again_indices, first_indices, "the retried batch, unchanged");
        assert_eq!(again[0].1.attempts, 1);
        acc.finished(&again[0].1, true);
        let (next_batch, _) = acc.drain(
            t0 + Duration::from_millis(100),
            |_, _| Some(1),
            &mut lookups,
        );
        assert_eq!(next_batch[0].1.slots[0].index, 2);
    }

    #[test]
    fn messages_of_an_unknown_topic_wait_in_order_and_others_go_on() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config(), 0);
        let g = DeliveryGroup::new(3);
        acc.push(pending(&g, 0, "new", None, Some("k"), 10, t0));
        acc.push(pending(&g, 1, "old", None, Some("k"), 10, t0));
        acc.push(pending(&g, 2, "new", None, Some("k"), 10, t0));
        let mut lookups = Vec::new();
        let state = |t: &str| {
            if t == "old" {
                TopicState::Ready(2)
            } else {
                TopicState::Unknown
            }
        };
        acc.assign(t0, state, &mut lookups);
        assert_eq!(lookups, vec![Arc::<str>::from("new")]);
        assert_eq!(acc.incoming_len(), 2);
        assert_eq!(acc.queued_batches(), 1);
        // Once known, both go to the key's partition, in order.
        acc.assign(t0, |_| TopicState::Ready(2), &mut lookups);
        acc.flushing = true;
        let (ready, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        let new: Vec<u32> = ready
            .iter()
            .filter(|(_, b)| &*b.topic == "new")
            .flat_map(|(_, b)| b.slots.iter().map(|s| s.index))
            .collect();
        assert_eq!(new, vec![0, 2]);
    }

    #[test]
    fn failed_topics_and_missing_partitions_settle_with_errors() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config(), 0);
        let g = DeliveryGroup::new(3);
        acc.push(pending(&g, 0, "gone", None, None, 10, t0));
        acc.push(pending(&g, 1, "t", Some(9), None, 10, t0));
        acc.push(pending(&g, 2, "t", Some(0), None, 10, t0));
        let mut lookups = Vec::new();
        let state = |t: &str| match t {
            "gone" => {
                TopicState::Failed(Error::kafka(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "gone"))
            }
            _ => TopicState::Ready(3),
        };
        assert_eq!(acc.assign(t0, state, &mut lookups), (1, 40));
        assert!(g.get(0).unwrap().is_err());
        // Partition 9 of a 3-partition topic waits for the topic to grow, and is looked up...
        assert_eq!(lookups, vec![Arc::<str>::from("t")]);
        assert!(g.get(1).is_none());
        assert_eq!(acc.incoming_len(), 1);
        // ... until the lookups give up.
        let missing = |_: &str| {
            TopicState::Missing(
                3,
                Error::kafka(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "t/9"),
            )
        };
        assert_eq!(acc.assign(t0, missing, &mut lookups), (1, 40));
        let err = g.get(1).unwrap().as_ref().unwrap_err().to_string();
        assert!(err.contains("t/9"), "{err}");
        assert!(g.get(2).is_none());
        assert_eq!(
            acc.expire(t0 + Duration::from_millis(1), &Error::Closed),
            (1, 40)
        );
        assert!(matches!(g.get(2), Some(Err(Error::Closed))));
        assert!(g.is_settled());
    }

    #[test]
    fn a_busy_leader_gets_no_more_requests_and_its_batches_grow() {
        let t0 = Instant::now();
        let mut cfg = config();
        cfg.max_requests_per_leader = 1;
        let mut acc = Accumulator::new(cfg, 0);
        let g = DeliveryGroup::new(3);
        let mut lookups = Vec::new();
        acc.flushing = true;
        acc.push(pending(&g, 0, "t", Some(0), None, 10, t0));
        acc.assign(t0, ready_topics, &mut lookups);
        let (first, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        assert_eq!(first.len(), 1);
        acc.request_started(1);
        acc.push(pending(&g, 1, "t", Some(1), None, 10, t0));
        acc.push(pending(&g, 2, "t", Some(1), None, 10, t0));
        acc.assign(t0, ready_topics, &mut lookups);
        assert!(acc.drain(t0, |_, _| Some(1), &mut lookups).0.is_empty());
        acc.request_finished(1);
        let (second, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].1.len(), 2, "both waiting messages in one batch");
    }

    #[test]
    fn keyless_messages_move_to_another_partition_once_their_batch_is_sent() {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(config(), 0);
        let g = DeliveryGroup::new(2);
        let mut lookups = Vec::new();
        acc.flushing = true;
        acc.push(pending(&g, 0, "t", None, None, 10, t0));
        acc.assign(t0, ready_topics, &mut lookups);
        let (first, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        acc.push(pending(&g, 1, "t", None, None, 10, t0));
        acc.assign(t0, ready_topics, &mut lookups);
        let (second, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        assert_ne!(first[0].1.partition, second[0].1.partition);
    }

    #[test]
    fn cancel_removes_only_the_unsent_messages_of_one_group() {
        let t0 = Instant::now();
        let mut cfg = config();
        cfg.max_batch_records = 2;
        let mut acc = Accumulator::new(cfg, 0);
        let mine = DeliveryGroup::new(4);
        let other = DeliveryGroup::new(1);
        for i in 0..2 {
            acc.push(pending(&mine, i, "t", Some(0), None, 10, t0));
        }
        let mut lookups = Vec::new();
        acc.assign(t0, ready_topics, &mut lookups);
        acc.flushing = true;
        let (sent, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        assert_eq!(sent.len(), 1, "messages 0 and 1 are in flight");
        acc.push(pending(&mine, 2, "t", Some(0), None, 10, t0));
        acc.push(pending(&other, 0, "t", Some(0), None, 10, t0));
        acc.assign(t0, ready_topics, &mut lookups);
        acc.push(pending(&mine, 3, "u", None, None, 10, t0)); // still incoming
        assert_eq!(acc.cancel(&mine, &Error::Closed), (2, 80));
        assert!(matches!(mine.get(2), Some(Err(Error::Closed))));
        assert!(matches!(mine.get(3), Some(Err(Error::Closed))));
        assert!(
            mine.get(0).is_none() && mine.get(1).is_none(),
            "in flight: untouched"
        );
        assert!(other.get(0).is_none());
        assert_eq!(
            acc.queued_batches(),
            1,
            "the other group's message stays queued"
        );
    }

    #[test]
    fn keyless_messages_stick_to_a_partition_until_its_batch_is_full() {
        let t0 = Instant::now();
        let mut cfg = config();
        cfg.max_batch_records = 2;
        let mut acc = Accumulator::new(cfg, 0);
        let g = DeliveryGroup::new(6);
        for i in 0..6 {
            acc.push(pending(&g, i, "t", None, None, 10, t0));
        }
        let mut lookups = Vec::new();
        acc.assign(t0, ready_topics, &mut lookups);
        acc.flushing = true;
        let (ready, _) = acc.drain(t0, |_, _| Some(1), &mut lookups);
        let mut by_partition: Vec<(i32, Vec<u32>)> = ready
            .iter()
            .map(|(_, b)| (b.partition, b.slots.iter().map(|s| s.index).collect()))
            .collect();
        by_partition.sort();
        // Batches of two consecutive messages, each on its own partition.
        let mut groups: Vec<Vec<u32>> = by_partition.iter().map(|(_, s)| s.clone()).collect();
        groups.sort();
        assert_eq!(groups, vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
        let partitions: Vec<i32> = by_partition.iter().map(|(p, _)| *p).collect();
        assert_eq!(partitions, vec![0, 1, 2]);
    }
}

#[cfg(test)]
mod idempotence_tests {
    use super::*;
    use crate::producer::idempotence::ProducerIdentity;
    use bytes::Bytes;

    const PID: ProducerIdentity = ProducerIdentity { id: 42, epoch: 0 };

    /// An idempotent accumulator with a producer id, holding `batches` batches of two records
    /// for partition 0 of "t", flushing.
    fn loaded(batches: u32) -> Accumulator {
        let t0 = Instant::now();
        let mut acc = Accumulator::new(
            AccumulatorConfig {
                max_batch_bytes: 1000,
                max_batch_records: 2,
                linger: None,
                max_in_flight: 5,
                retry_backoff: Duration::ZERO,
                partitioner: Partitioner::Crc32,
                idempotent: true,
                max_requests_per_leader: 100,
            },
            0,
        );
        let g = DeliveryGroup::new(batches as usize * 2);
        for i in 0..batches * 2 {
            acc.push(Pending {
                message: OutgoingMessage {
                    topic: Arc::from("t"),
                    partition: Some(0),
                    partition_key: None,
                    record: ProduceRecord {
                        key: None,
                        value: Some(Bytes::from_static(b"v")),
                        headers: Vec::new(),
                        timestamp_ms: 0,
                    },
                },
                slot: Slot {
                    group: g.clone(),
                    index: i,
                },
                enqueued: t0,
                size: 10,
            });
        }
        acc.assign(t0, |_| TopicState::Ready(1), &mut Vec::new());
        acc.flushing = true;
        acc
    }

    fn drain(acc: &mut Accumulator) -> Vec<Batch> {
        let (ready, _) = acc.drain(Instant::now(), |_, _| Some(1), &mut Vec::new());
        ready.into_iter().map(|(_, b)| b).collect()
    }

    fn bases(batches: &[Batch]) -> Vec<i32> {
        batches
            .iter()
            .map(|b| b.sequence.expect("sequenced").base_sequence)
            .collect()
    }

    #[test]
    fn nothing_is_drained_before_the_producer_has_an_id() {
        let mut acc = loaded(2);
        assert!(drain(&mut acc).is_empty());
        assert!(acc.idempotence.needs_producer_id());
        acc.idempotence.identity = Some(PID);
        assert_eq!(bases(&drain(&mut acc)), vec![0, 2]);
    }

    #[test]
    fn five_batches_in_flight_with_consecutive_sequences() {
        let mut acc = loaded(7);
        acc.idempotence.identity = Some(PID);
        let first = drain(&mut acc);
        assert_eq!(
            bases(&first),
            vec![0, 2, 4, 6, 8],
            "five in flight, no more"
        );
        assert!(drain(&mut acc).is_empty());
        acc.finished(&first[0], true);
        assert_eq!(acc.expected_sequence(&Arc::from("t"), 0), 2);
        assert_eq!(bases(&drain(&mut acc)), vec![10]);
    }

    #[test]
    fn a_retry_keeps_its_sequence_and_waits_until_nothing_of_its_partition_is_in_flight() {
        let mut acc = loaded(4);
        acc.idempotence.identity = Some(PID);
        let mut sent = drain(&mut acc);
        assert_eq!(bases(&sent), vec![0, 2, 4, 6]);
        // The second batch fails retriably; the later ones then fail with a sequence gap and
        // come back in the other order. The first is still in flight.
        let fourth = sent.pop().unwrap();
        let third = sent.pop().unwrap();
        let second = sent.pop().unwrap();
        acc.retry(Instant::now(), fourth);
        acc.retry(Instant::now(), second);
        acc.retry(Instant::now(), third);
        assert!(
            drain(&mut acc).is_empty(),
            "the first batch is still in flight"
        );
        acc.finished(&sent[0], true);
        let again = drain(&mut acc);
        assert_eq!(
            bases(&again),
            vec![2],
            "the lowest sequence goes first, alone"
        );
        assert_eq!(again[0].attempts, 1);
        acc.finished(&again[0], true);
        assert_eq!(bases(&drain(&mut acc)), vec![4]);
    }

    #[test]
    fn a_batch_that_failed_after_being_sent_bumps_the_epoch_and_restarts_sequences() {
        let mut acc = loaded(3);
        acc.idempotence.identity = Some(PID);
        let sent = drain(&mut acc);
        assert_eq!(bases(&sent), vec![0, 2, 4]);
        acc.finished(&sent[0], true);
        acc.finished(&sent[1], false); // failed for good: a gap at sequence 2
        let third = sent.into_iter().nth(2).unwrap();
        acc.retry(Instant::now(), third); // came back out of order
        assert!(acc.idempotence.bump_requested);
        let resent = drain(&mut acc);
        assert_eq!(resent.len(), 1, "bumped once nothing was in flight");
        let seq = resent[0].sequence.unwrap();
        assert_eq!(seq.producer, ProducerIdentity { id: 42, epoch: 1 });
        assert_eq!(
            seq.base_sequence, 0,
            "sequences restart under the new epoch"
        );
        assert_eq!(acc.expected_sequence(&Arc::from("t"), 0), 0);
    }

    #[test]
    fn an_expired_batch_that_had_been_sent_requests_a_bump() {
        let mut acc = loaded(1);
        acc.idempotence.identity = Some(PID);
        let sent = drain(&mut acc);
        let batch = sent.into_iter().next().unwrap();
        acc.retry(Instant::now(), batch);
        assert!(!acc.idempotence.bump_requested);
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(acc.expire(far, &Error::Closed).0, 2);
        assert!(acc.idempotence.bump_requested);
    }
}
