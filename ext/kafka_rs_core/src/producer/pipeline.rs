//! The background producer: `produce` only queues (no I/O); a sender task on the runtime ships
//! batches and settles each message's [`DeliveryGroup`].
//!
//! ```text
//!  caller ──enqueue──► Accumulator (mutex) ──drain──► sender task ──► one task per request
//!    ▲                      ▲   │ wake (Notify)          │ metadata lookups (spawned)   │
//!    └── DeliveryGroup ◄────┼───┴────────────── settle ◄─┴──────────────────────────────┘
//!                           └── retry (front of the partition's queue, after the backoff)
//! ```
//!
//! What a caller is promised: every message accepted by [`BackgroundProducer::enqueue`] is
//! settled exactly once, delivered or failed (retries exhausted, delivery timeout, closed
//! producer); until then it counts against the queue bounds, so the queue never grows past them
//! and nothing is dropped silently.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::accumulator::{Accumulator, AccumulatorConfig, Batch, Pending};
use super::delivery::{DeliveryGroup, ReportQueue, Slot};
use super::sender;
use super::{estimated_size, OutgoingMessage, ProduceOptions};
use crate::client::Client;
use crate::error::{Error, Result};

/// Batches of one partition in flight at once with idempotence: the broker keeps the last five
/// batches' sequences per producer and partition, so a retry within them is recognised.
pub const MAX_IN_FLIGHT_IDEMPOTENT: usize = 5;

/// `parked_until` while the sender runs a turn.
const RUNNING: u64 = 0;

/// Without a record limit per batch, the sender is woken each time this many messages wait.
const WAKE_EVERY: usize = 1000;

/// Settings of the background producer on top of [`ProduceOptions`].
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    pub produce: ProduceOptions,
    /// Send a batch this long after its first message (`None`: only when full or flushed).
    pub linger: Option<Duration>,
    /// Close a batch at this many messages (0: bytes only).
    pub max_batch_records: usize,
    /// Messages accepted and not yet settled, at most.
    pub max_queue_messages: usize,
    /// Bytes (keys and values) accepted and not yet settled, at most.
    pub max_queue_bytes: usize,
    /// A message not delivered this long after it was accepted fails.
    pub delivery_timeout: Duration,
    /// Produce requests in flight to one broker at once. Fewer means bigger batches for callers
    /// that wait on each message (the synchronous producer uses 1); more means more overlap.
    pub max_requests_per_leader: usize,
    /// Retry retriable failures without counting (`ProduceOptions::max_retries` is ignored):
    /// only the delivery timeout ends them (ruby-kafka's async `max_retries: -1`).
    pub unlimited_retries: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            produce: ProduceOptions::default(),
            linger: Some(Duration::from_millis(5)),
            max_batch_records: 0,
            max_queue_messages: 100_000,
            max_queue_bytes: 64 * 1024 * 1024,
            delivery_timeout: Duration::from_secs(120),
            unlimited_retries: false,
            max_requests_per_leader: MAX_IN_FLIGHT_IDEMPOTENT,
        }
    }
}

pub(crate) struct Shared {
    pub client: Client,
    pub opts: PipelineOptions,
    pub acc: Mutex<Accumulator>,
    /// Wakes the sender: new messages, a settled request, a flush, a close.
    pub wake: Notify,
    /// Signalled whenever messages are settled (flush waits on it).
    pub settled: Notify,
    /// Messages accepted and not settled, and their bytes.
    pub outstanding: AtomicUsize,
    pub outstanding_bytes: AtomicUsize,
    /// Messages settled with an error, ever.
    pub failed: AtomicUsize,
    pub closed: AtomicBool,
    /// An InitProducerId request is running.
    pub init_running: AtomicBool,
    /// When the parked sender wakes by itself (nanoseconds since `started`), or [`RUNNING`].
    pub parked_until: AtomicU64,
    pub started: Instant,
    /// The shared group of untracked messages ([`BackgroundProducer::enqueue_untracked`]).
    pub untracked: Mutex<Option<Arc<DeliveryGroup>>>,
    /// Where settled messages are reported, once [`BackgroundProducer::reports`] was called.
    pub reports: OnceLock<Arc<ReportQueue>>,
    /// Each leader's dispatcher task (see `sender::dispatch`).
    pub dispatchers: Mutex<HashMap<i32, mpsc::UnboundedSender<Vec<Batch>>>>,
    /// Set by a close whose flush timed out: failures are final from then on (no retries).
    pub abandoned: AtomicBool,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Accumulator> {
        self.acc.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn dispatchers(&self) -> MutexGuard<'_, HashMap<i32, mpsc::UnboundedSender<Vec<Batch>>>> {
        self.dispatchers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the sender will pick up the `added` messages just queued in time without being
    /// woken: it is parked until no later than their linger allows, and they do not complete a
    /// batch's worth of waiting messages. Waking a parked task costs a context switch, which at
    /// one per message would cost more than the rest of `produce`; a running sender only takes a
    /// stored permit, so it is always told.
    fn sender_will_see(&self, acc: &Accumulator, now: Instant, added: usize) -> bool {
        let until = self.parked_until.load(Ordering::Acquire);
        if until == RUNNING || acc.flushing {
            return false;
        }
        let every = if self.opts.max_batch_records > 0 {
            self.opts.max_batch_records
        } else {
            WAKE_EVERY
        };
        let waiting = acc.incoming_len();
        if waiting / every != (waiting - added) / every {
            return false;
        }
        match self.opts.linger {
            // Batches go only when full or flushed (a flush wakes the sender itself).
            None => true,
            Some(linger) => until <= self.nanos(now + linger),
        }
    }

    /// `at` as nanoseconds since the producer started (for `parked_until`).
    pub fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_nanos() as u64
    }

    /// The sender parks until `at` (`None`: it is running).
    pub fn set_parked(&self, at: Option<Instant>) {
        let value = at.map_or(RUNNING, |at| self.nanos(at).max(1));
        self.parked_until.store(value, Ordering::Release);
    }

    /// `count` messages of `bytes` bytes were settled, `failed` of them with an error.
    pub fn release(&self, count: usize, bytes: usize, failed: usize) {
        if count == 0 {
            return;
        }
        self.failed.fetch_add(failed, Ordering::AcqRel);
        self.outstanding.fetch_sub(count, Ordering::AcqRel);
        self.outstanding_bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.settled.notify_waiters();
    }
}

/// A producer whose sends happen in the background. Cheap to share (`Arc`); dropping the last
/// handle stops the sender once everything queued is settled.
pub struct BackgroundProducer {
    shared: Arc<Shared>,
}

impl Drop for BackgroundProducer {
    fn drop(&mut self) {
        // The sender task holds only a weak reference of its own; tell it to finish up.
        self.shared.closed.store(true, Ordering::Release);
        self.shared.lock().flushing = true;
        self.shared.wake.notify_one();
    }
}

impl BackgroundProducer {
    /// Starts the sender task. Must be called inside the client's tokio runtime.
    /// Idempotence (`opts.produce.idempotent`) applies only with `acks = -1`.
    pub fn new(client: Client, opts: PipelineOptions) -> BackgroundProducer {
        let idempotent = opts.produce.idempotent && opts.produce.acks == -1;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as usize)
            .unwrap_or(0);
        let config = AccumulatorConfig {
            max_batch_bytes: opts.produce.max_batch_bytes,
            max_batch_records: opts.max_batch_records,
            linger: opts.linger,
            max_in_flight: if idempotent {
                MAX_IN_FLIGHT_IDEMPOTENT
            } else {
                1
            },
            retry_backoff: opts.produce.retry_backoff,
            partitioner: opts.produce.partitioner,
            idempotent,
            max_requests_per_leader: opts.max_requests_per_leader.max(1),
        };
        let shared = Arc::new(Shared {
            client,
            acc: Mutex::new(Accumulator::new(config, seed)),
            opts,
            wake: Notify::new(),
            settled: Notify::new(),
            outstanding: AtomicUsize::new(0),
            outstanding_bytes: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            init_running: AtomicBool::new(false),
            dispatchers: Mutex::new(HashMap::new()),
            reports: OnceLock::new(),
            untracked: Mutex::new(None),
            parked_until: AtomicU64::new(RUNNING),
            started: Instant::now(),
            abandoned: AtomicBool::new(false),
        });
        tokio::spawn(sender::run(shared.clone()));
        BackgroundProducer { shared }
    }

    /// Queues `messages` (no I/O) and returns their delivery group, or fails them all, queuing
    /// nothing: [`Error::QueueFull`] when they do not fit the bounds, [`Error::Closed`] after
    /// [`close`](Self::close).
    pub fn enqueue(&self, messages: Vec<OutgoingMessage>) -> Result<Arc<DeliveryGroup>> {
        let group = DeliveryGroup::reporting(messages.len(), self.shared.reports.get().cloned());
        self.enqueue_into(messages, &group)?;
        Ok(group)
    }

    /// [`enqueue`](Self::enqueue) for messages whose outcome nobody waits for (ruby-kafka's
    /// `produce`): they share one untracked group, so queuing one costs no allocation for its
    /// outcome. They are still counted, flushed, reported to callbacks and logged.
    pub fn enqueue_untracked(&self, messages: Vec<OutgoingMessage>) -> Result<()> {
        let group = {
            let reports = self.shared.reports.get();
            let mut untracked = self
                .shared
                .untracked
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match untracked.as_ref() {
                Some(g) if g.reports_to(reports) => g.clone(),
                _ => {
                    let g = DeliveryGroup::untracked(reports.cloned());
                    *untracked = Some(g.clone());
                    g
                }
            }
        };
        self.enqueue_into(messages, &group)
    }

    fn enqueue_into(
        &self,
        messages: Vec<OutgoingMessage>,
        group: &Arc<DeliveryGroup>,
    ) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let count = messages.len();
        if count == 0 {
            return Ok(());
        }
        let bytes: usize = messages.iter().map(|m| estimated_size(&m.record)).sum();
        let opts = &self.shared.opts;
        let now = Instant::now();
        {
            let mut acc = self.shared.lock();
            if let Some(fatal) = acc.idempotence.fatal.clone() {
                return Err(fatal);
            }
            let queued = self.shared.outstanding.load(Ordering::Acquire);
            let queued_bytes = self.shared.outstanding_bytes.load(Ordering::Acquire);
            if queued + count > opts.max_queue_messages {
                return Err(Error::QueueFull(format!(
                    "{queued} messages queued, {count} more would pass max_queue_size ({})",
                    opts.max_queue_messages
                )));
            }
            if queued_bytes + bytes > opts.max_queue_bytes {
                return Err(Error::QueueFull(format!(
                    "{queued_bytes} bytes queued, {bytes} more would pass the limit of {} bytes",
                    opts.max_queue_bytes
                )));
            }
            self.shared.outstanding.fetch_add(count, Ordering::AcqRel);
            self.shared
                .outstanding_bytes
                .fetch_add(bytes, Ordering::AcqRel);
            for (index, message) in messages.into_iter().enumerate() {
                let size = estimated_size(&message.record);
                acc.push(Pending {
                    message,
                    slot: Slot {
                        group: group.clone(),
                        index: index as u32,
                    },
                    enqueued: now,
                    size,
                });
            }
            if self.shared.sender_will_see(&acc, now, count) {
                return Ok(());
            }
        }
        self.shared.wake.notify_one();
        Ok(())
    }

    /// The queue of reports of settled messages (for delivery callbacks), created on the first
    /// call: every message accepted after that is reported once settled.
    pub fn reports(&self) -> Arc<ReportQueue> {
        self.shared.reports.get_or_init(ReportQueue::new).clone()
    }

    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    pub fn options(&self) -> &PipelineOptions {
        &self.shared.opts
    }

    /// Takes back the messages of `group` that were never sent, failing them with `why`
    /// (a synchronous caller that was interrupted puts them back in its own buffer). Messages
    /// already sent stay and settle normally. Returns how many were taken back.
    pub fn cancel(&self, group: &Arc<DeliveryGroup>, why: &Error) -> usize {
        let (count, bytes) = self.shared.lock().cancel(group, why);
        self.shared.release(count, bytes, count);
        count
    }

    /// Queues `messages`, ships them now and waits until each is settled; the group has their
    /// outcomes. If the returned future is dropped before that (an interrupted caller), the
    /// messages not yet sent are taken back ([`cancel`](Self::cancel)).
    pub async fn deliver(&self, messages: Vec<OutgoingMessage>) -> Result<Arc<DeliveryGroup>> {
        let group = self.enqueue(messages)?;
        self.flush_now();
        let guard = CancelOnDrop {
            producer: self,
            group: &group,
        };
        group.wait_all().await;
        std::mem::forget(guard);
        Ok(group)
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Messages accepted and not yet settled.
    pub fn outstanding(&self) -> usize {
        self.shared.outstanding.load(Ordering::Acquire)
    }

    /// Asks for every queued batch to be sent now, whatever linger says (no wait).
    pub fn flush_now(&self) {
        self.shared.lock().flushing = true;
        self.shared.wake.notify_one();
    }

    /// Sends everything queued and waits until every message accepted so far is settled, or
    /// `timeout` passes. Returns whether everything was settled.
    pub async fn flush(&self, timeout: Duration) -> bool {
        self.flush_now();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.outstanding() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.outstanding() == 0;
            }
            // A flush that found nothing left to send turns `flushing` off; keep it on while
            // messages are still arriving for this flush.
            if self.outstanding() > 0 {
                self.flush_now();
            }
        }
    }

    /// Stops taking messages, delivers what is queued within `timeout`, then fails whatever is
    /// left with [`Error::Closed`] and stops the sender. Returns how many messages failed while
    /// it ran (errors during the last flush, and what was left).
    pub async fn close(&self, timeout: Duration) -> usize {
        let failed_before = self.shared.failed.load(Ordering::Acquire);
        self.shared.closed.store(true, Ordering::Release);
        if !self.flush(timeout).await {
            self.shared.abandoned.store(true, Ordering::Release);
        }
        // Everything still queued (not in flight: those settle when answered) fails now.
        let far_future = sender::far_future(Instant::now());
        let (left, bytes) = self.shared.lock().expire(far_future, &Error::Closed);
        self.shared.release(left, bytes, left);
        self.shared.wake.notify_one();
        if let Some(reports) = self.shared.reports.get() {
            reports.wake();
        }
        self.shared.failed.load(Ordering::Acquire) - failed_before
    }
}

/// Takes back a waiting caller's unsent messages when its wait is abandoned.
struct CancelOnDrop<'a> {
    producer: &'a BackgroundProducer,
    group: &'a Arc<DeliveryGroup>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.producer.cancel(self.group, &Error::Closed);
    }
}
