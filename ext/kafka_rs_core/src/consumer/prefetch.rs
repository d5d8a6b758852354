//! The prefetcher: a background task per consumer that keeps fetched data ready, so the host's
//! thread takes records without waiting on the network while data is available.
//!
//! ```text
//!  assign / seek / pause / resume / revoke ──► partitions (positions, epochs) ─┐
//!                                                                            │ wake
//!  fetch loop task: one Fetch per leader at a time ◄─────────────────────────┘
//!        │ answers (checked against the partition's epoch)
//!        ▼
//!  ready queue of chunks (one per partition at most, bounded in chunks and bytes)
//!        │ take (the consumer's thread)
//!        ▼
//!  records decoded on the host's thread
//! ```
//!
//! Invariants:
//! - A partition has at most one fetch in flight and at most two chunks waiting to be taken, so
//!   its chunks come out in offset order and memory is bounded by partitions x 2 x fetch size
//!   and by `max_chunks` / `max_bytes`.
//! - Every change of a partition's position (seek, pause, revoke, reassign) bumps its epoch and
//!   drops its waiting chunk; an answer for an older epoch is dropped, never delivered.
//! - Each leader's fetches run in a fetch session (KIP-227, see [`super::fetch_session`]): after
//!   the first, a request names only the partitions whose position moved, and partitions not
//!   fetched this time (paused, queue full, backing off) leave the session.
//! - Stopping fires a cancellation that ends every in-flight fetch at once (a late answer is
//!   discarded by its connection), then closes the prefetcher's own connections.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::fetch::{FetchOptions, FetchedPartition, PartitionCursor, StartOffset};
use super::fetch_session::{FetchSession, SessionCounts};
use crate::client::Client;
use crate::cluster::Lane;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::log::Level;
use crate::protocol::messages::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::protocol::records::decode::RecordBatches;

pub type TopicPartition = (Arc<str>, i32);

/// The longest a fetch waits for data while another partition of the same leader has data
/// waiting to be taken (that partition is fetched again only after this fetch returns).
const SHORT_POLL: Duration = Duration::from_millis(10);

/// Chunks of one partition ready at once: two, so the next is fetched while the host works on
/// one (a partition's chunks still come out in offset order: it has one fetch at a time).
const READY_PER_PARTITION: usize = 2;

/// Settings of a prefetcher.
#[derive(Debug, Clone)]
pub struct PrefetchOptions {
    pub fetch: FetchOptions,
    /// Chunks (one partition's answer to one fetch) ready at most.
    pub max_chunks: usize,
    /// Bytes of ready chunks at most (a chunk is always taken in, even if larger).
    pub max_bytes: usize,
    /// Pause after a fetch error before the partition is fetched again.
    pub retry_backoff: Duration,
}

impl Default for PrefetchOptions {
    fn default() -> Self {
        PrefetchOptions {
            fetch: FetchOptions::default(),
            max_chunks: 100,
            max_bytes: 64 * 1024 * 1024,
            retry_backoff: Duration::from_millis(250),
        }
    }
}

/// One partition's records from one fetch, ready to be decoded.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub topic: Arc<str>,
    pub partition: i32,
    pub data: FetchedPartition,
    /// Where the next fetch of the partition starts (past this chunk's last batch).
    pub next_offset: i64,
}

/// Where a partition reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// To be resolved with ListOffsets (earliest or latest).
    Reset(StartOffset),
    At(i64),
}

#[derive(Debug)]
struct PartitionState {
    position: Position,
    /// What to reset to when the position is out of range.
    reset: StartOffset,
    epoch: u64,
    paused: bool,
    in_flight: bool,
    /// Chunks of this partition waiting in the ready queue (at most [`READY_PER_PARTITION`]).
    ready: usize,
    /// Not fetched before this instant (after an error).
    not_before: Option<tokio::time::Instant>,
}

#[derive(Debug, Default)]
struct State {
    partitions: HashMap<TopicPartition, PartitionState>,
    queue: VecDeque<(u64, Chunk)>,
    queued_bytes: usize,
    /// Errors for the consumer (a partition that cannot be read), oldest first.
    errors: VecDeque<Error>,
    next_epoch: u64,
    /// Leaders with a fetch in flight.
    busy_leaders: Vec<i32>,
    /// The fetch session with each leader (taken out while its fetch is in flight).
    sessions: HashMap<i32, FetchSession>,
    session_counts: SessionCounts,
}

impl State {
    fn bump(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    /// Drops the partition's waiting chunk, if any, moving its position back to where that
    /// chunk started (nothing in it was handed out).
    fn drop_ready(&mut self, tp: &TopicPartition) {
        let mut freed = 0;
        let mut rewind: Option<i64> = None;
        self.queue.retain(|(_, c)| {
            let keep = !(c.topic == tp.0 && c.partition == tp.1);
            if !keep {
                freed += c.data.records.len();
                rewind = Some(rewind.map_or(c.data.fetch_offset, |r| r.min(c.data.fetch_offset)));
            }
            keep
        });
        self.queued_bytes -= freed;
        if let (Some(offset), Some(p)) = (rewind, self.partitions.get_mut(tp)) {
            p.ready = 0;
            p.position = Position::At(offset);
        }
    }
}

struct Shared {
    client: Client,
    /// This prefetcher's own fetch connections.
    lane: Lane,
    opts: PrefetchOptions,
    state: Mutex<State>,
    /// Wakes the fetch loop: assignment, seek, resume, room in the queue, a fetch finished.
    wake: Notify,
    /// Wakes the consumer: a chunk or an error is ready.
    ready: Notify,
    stopped: AtomicBool,
    /// Fired (with `stopped` set) to end in-flight fetches.
    cancel: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once the prefetcher is stopped.
    async fn cancelled(&self) {
        loop {
            let fired = self.cancel.notified();
            tokio::pin!(fired);
            fired.as_mut().enable();
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            fired.await;
        }
    }
}

/// A consumer's prefetcher. Dropping it stops the fetch loop.
pub struct Prefetcher {
    shared: Arc<Shared>,
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Prefetcher {
    /// Starts the fetch loop. Must be called inside the client's runtime.
    pub fn new(client: Client, opts: PrefetchOptions) -> Prefetcher {
        let shared = Arc::new(Shared {
            client,
            lane: Lane::own_prefetch(),
            opts,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            ready: Notify::new(),
            stopped: AtomicBool::new(false),
            cancel: Notify::new(),
        });
        tokio::spawn(fetch_loop(shared.clone()));
        Prefetcher { shared }
    }

    /// Starts reading `partitions`, each from its start (`reset`: where to go when the offset is
    /// out of range, or when the start is earliest/latest). A partition already assigned moves.
    pub fn assign(&self, partitions: Vec<(TopicPartition, StartOffset, StartOffset)>) {
        let mut st = self.shared.lock();
        for (tp, start, reset) in partitions {
            st.drop_ready(&tp);
            let epoch = st.bump();
            let position = match start {
                StartOffset::At(o) if o >= 0 => Position::At(o),
                StartOffset::At(_) => Position::Reset(reset),
                other => Position::Reset(other),
            };
            st.partitions.insert(
                tp,
                PartitionState {
                    position,
                    reset,
                    epoch,
                    paused: false,
                    in_flight: false,
                    ready: 0,
                    not_before: None,
                },
            );
        }
        drop(st);
        self.shared.wake.notify_one();
    }

    /// Stops reading `partitions`; their waiting data is dropped.
    pub fn revoke(&self, partitions: &[TopicPartition]) {
        let mut st = self.shared.lock();
        for tp in partitions {
            st.drop_ready(tp);
            st.partitions.remove(tp);
        }
    }

    /// The partitions being read.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        let mut out: Vec<TopicPartition> = self.shared.lock().partitions.keys().cloned().collect();
        out.sort();
        out
    }

    /// Reads the partition from `offset` next (its waiting data is dropped).
    pub fn seek(&self, tp: &TopicPartition, offset: i64) -> bool {
        let mut st = self.shared.lock();
        st.drop_ready(tp);
        let epoch = st.bump();
        let Some(p) = st.partitions.get_mut(tp) else {
            return false;
        };
        p.position = Position::At(offset);
        p.epoch = epoch;
        p.not_before = None;
        drop(st);
        self.shared.wake.notify_one();
        true
    }

    /// Stops fetching the partition. `offset`: the first message the app has not processed, when
    /// it holds data of the partition already taken (else the position of the data not taken).
    pub fn pause(&self, tp: &TopicPartition, offset: Option<i64>) -> bool {
        let mut st = self.shared.lock();
        st.drop_ready(tp);
        let epoch = st.bump();
        let Some(p) = st.partitions.get_mut(tp) else {
            return false;
        };
        p.paused = true;
        p.epoch = epoch;
        if let Some(o) = offset {
            p.position = Position::At(o);
        }
        true
    }

    pub fn resume(&self, tp: &TopicPartition) -> bool {
        let mut st = self.shared.lock();
        let Some(p) = st.partitions.get_mut(tp) else {
            return false;
        };
        p.paused = false;
        drop(st);
        self.shared.wake.notify_one();
        true
    }

    pub fn is_paused(&self, tp: &TopicPartition) -> bool {
        self.shared
            .lock()
            .partitions
            .get(tp)
            .is_some_and(|p| p.paused)
    }

    /// Takes up to `max` ready chunks, waiting up to `max_wait` for the first. An error of a
    /// partition that cannot be read comes out instead, once.
    pub async fn take(&self, max: usize, max_wait: Duration) -> Result<Vec<Chunk>> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            let notified = self.shared.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.shared.lock();
                if let Some(e) = st.errors.pop_front() {
                    return Err(e);
                }
                if !st.queue.is_empty() {
                    let n = st.queue.len().min(max.max(1));
                    let mut out = Vec::with_capacity(n);
                    for (epoch, chunk) in st.queue.drain(..n).collect::<Vec<_>>() {
                        let tp = (chunk.topic.clone(), chunk.partition);
                        st.queued_bytes -= chunk.data.records.len();
                        let Some(p) = st.partitions.get_mut(&tp) else {
                            continue;
                        };
                        p.ready = p.ready.saturating_sub(1);
                        if p.epoch == epoch {
                            out.push(chunk);
                        }
                    }
                    drop(st);
                    self.shared.wake.notify_one();
                    if !out.is_empty() {
                        return Ok(out);
                    }
                    continue;
                }
            }
            if self.shared.stopped.load(Ordering::Acquire) {
                return Ok(Vec::new());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    /// Wakes a [`take`](Self::take) in progress (it returns what is ready, maybe nothing).
    pub fn interrupt(&self) {
        self.shared.ready.notify_waiters();
    }

    /// What the fetch sessions did so far.
    pub fn session_counts(&self) -> SessionCounts {
        self.shared.lock().session_counts
    }

    /// Stops the fetch loop, ends in-flight fetches and closes the prefetcher's connections.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.cancel.notify_waiters();
        self.shared.wake.notify_one();
        self.shared.ready.notify_waiters();
        self.shared.client.pool().close_lane(self.shared.lane);
    }
}

async fn fetch_loop(shared: Arc<Shared>) {
    while !shared.stopped.load(Ordering::Acquire) {
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next_retry = start_fetches(&shared).await;
        let wait =
            next_retry.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let _ = tokio::time::timeout_at(wait, notified).await;
    }
}

/// Resolves positions that need ListOffsets, then starts one fetch per idle leader for its
/// fetchable partitions. Returns when a partition waiting out an error backoff becomes ready.
async fn start_fetches(shared: &Arc<Shared>) -> Option<tokio::time::Instant> {
    let now = tokio::time::Instant::now();
    let mut next_retry: Option<tokio::time::Instant> = None;
    // 1. Positions to resolve, grouped by topic and reset kind (one ListOffsets per group).
    let to_resolve: Vec<(TopicPartition, StartOffset, u64)> = {
        let st = shared.lock();
        st.partitions
            .iter()
            .filter_map(|(tp, p)| match p.position {
                Position::Reset(start) if !p.in_flight => Some((tp.clone(), start, p.epoch)),
                _ => None,
            })
            .collect()
    };
    if !to_resolve.is_empty() {
        resolve(shared, to_resolve).await;
    }
    // 2. What can be fetched, by leader.
    let snapshot = shared.client.snapshot();
    let mut by_leader: BTreeMap<i32, Vec<(PartitionCursor, u64)>> = BTreeMap::new();
    let mut unknown_topics: Vec<Arc<str>> = Vec::new();
    let mut short_poll: Vec<i32> = Vec::new();
    {
        let mut st = shared.lock();
        let room =
            st.queue.len() < shared.opts.max_chunks && st.queued_bytes < shared.opts.max_bytes;
        if !room {
            return None;
        }
        let busy = st.busy_leaders.clone();
        for (tp, p) in st.partitions.iter_mut() {
            let Position::At(offset) = p.position else {
                continue;
            };
            if p.ready > 0 && !p.paused {
                // Its leader's next fetch must not long-poll: the partition needs fetching as
                // soon as its chunk is taken, which a parked fetch would delay.
                if let Some(leader) = snapshot
                    .topics
                    .get(&*tp.0)
                    .and_then(|t| t.partition(tp.1))
                    .and_then(|part| part.leader)
                {
                    if !short_poll.contains(&leader) {
                        short_poll.push(leader);
                    }
                }
            }
            if p.paused || p.in_flight || p.ready >= READY_PER_PARTITION {
                continue;
            }
            if let Some(at) = p.not_before {
                if at > now {
                    next_retry = Some(next_retry.map_or(at, |n| n.min(at)));
                    continue;
                }
                p.not_before = None;
            }
            let leader = snapshot
                .topics
                .get(&*tp.0)
                .and_then(|t| t.partition(tp.1))
                .and_then(|part| part.leader);
            let Some(leader) = leader else {
                if !unknown_topics.contains(&tp.0) {
                    unknown_topics.push(tp.0.clone());
                }
                continue;
            };
            if busy.contains(&leader) {
                continue;
            }
            by_leader.entry(leader).or_default().push((
                PartitionCursor {
                    topic: tp.0.to_string(),
                    partition: tp.1,
                    offset,
                },
                p.epoch,
            ));
        }
        for (leader, parts) in &by_leader {
            st.busy_leaders.push(*leader);
            for (c, _) in parts {
                if let Some(p) = st
                    .partitions
                    .get_mut(&(Arc::from(c.topic.as_str()), c.partition))
                {
                    p.in_flight = true;
                }
            }
        }
    }
    if !unknown_topics.is_empty() {
        let topics: Vec<&str> = unknown_topics.iter().map(|t| &**t).collect();
        if shared.client.refresh_metadata(Some(&topics)).await.is_err() {
            let at = now + shared.opts.retry_backoff;
            next_retry = Some(next_retry.map_or(at, |n| n.min(at)));
        } else {
            shared.wake.notify_one();
        }
    }
    // 3. One fetch per leader, each in its own task.
    for (leader, parts) in by_leader {
        let shared = shared.clone();
        let mut opts = shared.opts.fetch;
        if short_poll.contains(&leader) {
            opts.max_wait = opts.max_wait.min(SHORT_POLL);
        }
        tokio::spawn(async move {
            let cursors: Vec<PartitionCursor> = parts.iter().map(|(c, _)| c.clone()).collect();
            let mut session = shared.lock().sessions.remove(&leader).unwrap_or_default();
            let answer = tokio::select! {
                biased;
                _ = shared.cancelled() => return,
                answer = shared
                    .client
                    .fetch_leader(leader, shared.lane, &cursors, opts, &mut session) => answer,
            };
            {
                let mut st = shared.lock();
                let counts = session.take_counts();
                st.session_counts.add(counts);
                st.sessions.insert(leader, session);
            }
            deliver(&shared, leader, parts, answer);
        });
    }
    next_retry
}

/// Resolves earliest/latest positions with ListOffsets, one request per topic and kind.
async fn resolve(shared: &Arc<Shared>, items: Vec<(TopicPartition, StartOffset, u64)>) {
    // (topic, ListOffsets timestamp) -> (partition, epoch) of each position to resolve.
    type Lookups = BTreeMap<(Arc<str>, i64), Vec<(i32, u64)>>;
    let mut groups: Lookups = BTreeMap::new();
    for ((topic, partition), start, epoch) in items {
        let ts = match start {
            StartOffset::Earliest => EARLIEST_TIMESTAMP,
            _ => LATEST_TIMESTAMP,
        };
        groups
            .entry((topic, ts))
            .or_default()
            .push((partition, epoch));
    }
    let lookups = groups.into_iter().map(|((topic, ts), parts)| {
        let client = shared.client.clone();
        async move {
            let ids: Vec<i32> = parts.iter().map(|(p, _)| *p).collect();
            let result = client.list_offsets(&topic, Some(&ids), ts).await;
            (topic, parts, result)
        }
    });
    let results = join_all(lookups.collect()).await;
    let mut st = shared.lock();
    for (topic, parts, result) in results {
        match result {
            Ok(offsets) => {
                for (partition, epoch) in parts {
                    let tp = (topic.clone(), partition);
                    if let (Some(p), Some(o)) =
                        (st.partitions.get_mut(&tp), offsets.get(&partition))
                    {
                        if p.epoch == epoch {
                            p.position = Position::At(*o);
                        }
                    }
                }
            }
            Err(e) => {
                shared.client.events().log(Level::Warn, || {
                    format!("looking up the start offsets of {topic} failed ({e}); retrying")
                });
                let at = tokio::time::Instant::now() + shared.opts.retry_backoff;
                for (partition, _) in parts {
                    if let Some(p) = st.partitions.get_mut(&(topic.clone(), partition)) {
                        p.not_before = Some(at);
                    }
                }
            }
        }
    }
}

/// Files a leader's answer: each partition's chunk joins the ready queue (if its epoch still
/// holds), errors reset or back off the partition, or reach the consumer.
fn deliver(
    shared: &Arc<Shared>,
    leader: i32,
    parts: Vec<(PartitionCursor, u64)>,
    answer: Result<Vec<Result<FetchedPartition>>>,
) {
    let mut refresh = false;
    let mut any_ready = false;
    {
        let mut st = shared.lock();
        st.busy_leaders.retain(|l| *l != leader);
        let outcomes: Vec<Result<FetchedPartition>> = match answer {
            Ok(outcomes) => outcomes,
            Err(e) => parts.iter().map(|_| Err(e.clone())).collect(),
        };
        for ((cursor, epoch), outcome) in parts.into_iter().zip(outcomes) {
            let tp: TopicPartition = (Arc::from(cursor.topic.as_str()), cursor.partition);
            let Some(p) = st.partitions.get_mut(&tp) else {
                continue;
            };
            p.in_flight = false;
            if p.epoch != epoch || p.paused {
                continue;
            }
            match outcome {
                Ok(data) => {
                    let next_offset = next_offset_after(&data);
                    if next_offset == cursor.offset {
                        // Nothing new (a long poll that timed out).
                        continue;
                    }
                    p.position = Position::At(next_offset);
                    p.ready += 1;
                    let bytes = data.records.len();
                    st.queued_bytes += bytes;
                    st.queue.push_back((
                        epoch,
                        Chunk {
                            topic: tp.0.clone(),
                            partition: tp.1,
                            data,
                            next_offset,
                        },
                    ));
                    any_ready = true;
                }
                Err(e) if e.code() == Some(ErrorCode::OFFSET_OUT_OF_RANGE) => {
                    let reset = p.reset;
                    shared.client.events().log(Level::Warn, || {
                        format!(
                            "{}/{}: offset {} is out of range; resetting to the {:?} offset",
                            tp.0, tp.1, cursor.offset, reset
                        )
                    });
                    p.position = Position::Reset(reset);
                }
                Err(e) if e.is_retriable() => {
                    p.not_before = Some(tokio::time::Instant::now() + shared.opts.retry_backoff);
                    refresh = true;
                }
                Err(e) => {
                    p.not_before = Some(tokio::time::Instant::now() + shared.opts.retry_backoff);
                    st.errors.push_back(e);
                    any_ready = true;
                }
            }
        }
    }
    if any_ready {
        shared.ready.notify_waiters();
    }
    if refresh {
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = shared.client.refresh_metadata(None).await;
            shared.wake.notify_one();
        });
    }
    shared.wake.notify_one();
}

/// Where the partition's next fetch starts after `data`: past its last complete batch (control
/// batches and compaction gaps included), or where it started when no batch is complete.
fn next_offset_after(data: &FetchedPartition) -> i64 {
    let mut next = data.fetch_offset;
    for batch in RecordBatches::new(data.records.clone()) {
        match batch {
            Ok(b) => next = next.max(b.next_offset()),
            Err(_) => break,
        }
    }
    next
}

/// Runs futures concurrently on the current task and collects their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(futures.len());
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}
