//! Delivery outcomes of the pipeline producer.
//!
//! Messages handed over in one call (one `produce_async`, or a whole `produce_many`) share one
//! [`DeliveryGroup`]: a slot per message, filled exactly once with where it landed or why it
//! failed. A [`Slot`] names one message's place in its group; the accumulator carries it with the
//! record until the broker answers. Waiters (a Ruby `DeliveryHandle`, a flush) await the group's
//! [`Notify`], which is signalled once per settled batch, not once per message.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use super::{Delivered, DeliveryResult};
use crate::protocol::records::{ProduceRecord, RecordHeader};

/// The outcomes of the messages of one call.
#[derive(Debug)]
pub struct DeliveryGroup {
    results: Box<[OnceLock<DeliveryResult>]>,
    remaining: AtomicUsize,
    settled: Notify,
    /// Where a [`Report`] of each settled message goes (a producer with callbacks).
    reports: Option<Arc<ReportQueue>>,
    /// Outcomes are reported but not kept ([`DeliveryGroup::untracked`]).
    untracked: bool,
}

impl DeliveryGroup {
    pub fn new(len: usize) -> Arc<DeliveryGroup> {
        Self::reporting(len, None)
    }

    /// A group whose settled messages are also reported to `reports`.
    pub fn reporting(len: usize, reports: Option<Arc<ReportQueue>>) -> Arc<DeliveryGroup> {
        Arc::new(DeliveryGroup {
            results: (0..len).map(|_| OnceLock::new()).collect(),
            remaining: AtomicUsize::new(len),
            settled: Notify::new(),
            reports,
            untracked: false,
        })
    }

    /// A group for any number of messages whose outcomes nobody waits for: settling one only
    /// reports it (to `reports`, if any). [`get`](Self::get) knows nothing and
    /// [`is_settled`](Self::is_settled) is always true.
    pub fn untracked(reports: Option<Arc<ReportQueue>>) -> Arc<DeliveryGroup> {
        Arc::new(DeliveryGroup {
            results: Box::new([]),
            remaining: AtomicUsize::new(0),
            settled: Notify::new(),
            reports,
            untracked: true,
        })
    }

    /// Whether settled messages go to `reports` (the same queue, or both none).
    pub fn reports_to(&self, reports: Option<&Arc<ReportQueue>>) -> bool {
        match (&self.reports, reports) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.results.len()
    }

    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }

    /// The outcome of message `index`, once settled.
    pub fn get(&self, index: usize) -> Option<&DeliveryResult> {
        self.results.get(index)?.get()
    }

    /// Whether every message of the group is settled.
    pub fn is_settled(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0
    }

    /// Settles message `index` (a second outcome for the same message is ignored: the first
    /// one is what the caller was told). Waiters are woken by [`wake`](Self::wake).
    /// Returns whether this was the message's first outcome.
    pub(crate) fn settle(&self, index: usize, result: DeliveryResult) -> bool {
        if self.untracked {
            return true;
        }
        match self.results.get(index) {
            Some(slot) if slot.set(result).is_ok() => {
                self.remaining.fetch_sub(1, Ordering::AcqRel);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn wake(&self) {
        if !self.untracked {
            self.settled.notify_waiters();
        }
    }

    /// Waits until message `index` is settled.
    pub async fn wait(&self, index: usize) -> &DeliveryResult {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(result) = self.get(index) {
                return result;
            }
            notified.await;
        }
    }

    /// Waits until every message of the group is settled.
    pub async fn wait_all(&self) {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_settled() {
                return;
            }
            notified.await;
        }
    }
}

/// One message's place in its group.
#[derive(Debug, Clone)]
pub struct Slot {
    pub group: Arc<DeliveryGroup>,
    pub index: u32,
}

/// The messages being settled: their topic, partition (-1 when none was chosen yet) and
/// records, in the order of their slots.
pub(crate) struct Settling<'a> {
    pub topic: &'a Arc<str>,
    pub partition: i32,
    pub records: &'a [ProduceRecord],
}

/// Settles `slots` with `outcome(position in slots)`, reports each to its group's report queue
/// (if any), and wakes each group and queue once.
pub(crate) fn settle_all(
    what: Settling<'_>,
    slots: &[Slot],
    mut outcome: impl FnMut(usize) -> DeliveryResult,
) {
    let mut queues: Vec<&Arc<ReportQueue>> = Vec::new();
    for (k, slot) in slots.iter().enumerate() {
        let result = outcome(k);
        let report = slot
            .group
            .reports
            .as_ref()
            .filter(|q| result.is_err() || !q.failures_only.load(Ordering::Relaxed))
            .map(|q| (q, result.clone()));
        if slot.group.settle(slot.index as usize, result) {
            if let Some((queue, result)) = report {
                queue.push(Report::new(&what, k, result));
                if !queues.iter().any(|q| Arc::ptr_eq(q, queue)) {
                    queues.push(queue);
                }
            }
        }
    }
    wake_groups(slots);
    for q in queues {
        q.ready.notify_one();
    }
}

/// Wakes every distinct group among `slots` (consecutive slots usually share one).
pub(crate) fn wake_groups(slots: &[Slot]) {
    let mut last: Option<&Arc<DeliveryGroup>> = None;
    for slot in slots {
        if last.is_some_and(|g| Arc::ptr_eq(g, &slot.group)) {
            continue;
        }
        slot.group.wake();
        last = Some(&slot.group);
    }
}

/// One settled message, for delivery callbacks: where it landed or why it failed, with the
/// message itself (so a callback can log, store or resend it; the bytes are shared, not copied).
#[derive(Debug, Clone)]
pub struct Report {
    pub topic: Arc<str>,
    pub partition: i32,
    pub timestamp_ms: i64,
    pub result: DeliveryResult,
    pub message: Option<ReportedMessage>,
}

/// The message of a [`Report`].
#[derive(Debug, Clone)]
pub struct ReportedMessage {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

impl Report {
    fn new(what: &Settling<'_>, k: usize, result: DeliveryResult) -> Report {
        let record = what.records.get(k);
        let message = record.map(|r| ReportedMessage {
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        });
        Report {
            topic: what.topic.clone(),
            partition: match &result {
                Ok(d) => d.partition,
                Err(_) => what.partition,
            },
            timestamp_ms: record.map_or(-1, |r| r.timestamp_ms),
            result,
            message,
        }
    }
}

/// Reports of settled messages, waiting for the host's callback thread.
#[derive(Debug, Default)]
pub struct ReportQueue {
    reports: Mutex<VecDeque<Report>>,
    ready: Notify,
    /// Only failed messages are reported (the host only wants to hear of failures: an error
    /// callback, a failure event): a delivered message then costs nothing here.
    failures_only: AtomicBool,
}

impl ReportQueue {
    pub fn new() -> Arc<ReportQueue> {
        Arc::new(ReportQueue::default())
    }

    /// Reports failed messages only (true), or every settled message (false, the default).
    pub fn set_failures_only(&self, on: bool) {
        self.failures_only.store(on, Ordering::Relaxed);
    }

    fn push(&self, report: Report) {
        self.reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(report);
    }

    /// Takes up to `max` reports, waiting up to `timeout` for the first one.
    pub async fn take(&self, max: usize, timeout: Duration) -> Vec<Report> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
                if !reports.is_empty() {
                    let n = reports.len().min(max);
                    return reports.drain(..n).collect();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }

    /// Wakes a waiting [`take`](Self::take) (a closing producer), which returns what is there.
    pub fn wake(&self) {
        self.ready.notify_one();
    }
}

/// A successful outcome at `offset` (-1 when the broker does not say: `acks = 0`).
pub(crate) fn delivered(partition: i32, offset: i64) -> DeliveryResult {
    Ok(Delivered { partition, offset })
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::Error;

    static TOPIC: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("t"));

    /// The slots of `group` at `indexes` (an untracked group's slots are all at 0).
    fn slots(group: &Arc<DeliveryGroup>, indexes: impl IntoIterator<Item = u32>) -> Vec<Slot> {
        indexes
            .into_iter()
            .map(|index| Slot {
                group: group.clone(),
                index,
            })
            .collect()
    }

    /// Messages of topic "t" being settled.
    fn settling(partition: i32, records: &[ProduceRecord]) -> Settling<'_> {
        Settling {
            topic: &TOPIC,
            partition,
            records,
        }
    }

    #[tokio::test]
    async fn a_group_settles_each_message_once_and_wakes_waiters() {
        let group = DeliveryGroup::new(3);
        assert!(!group.is_settled());
        let waiter = {
            let group = group.clone();
            tokio::spawn(async move { group.wait(1).await.clone() })
        };
        let slots = slots(&group, 0..3);
        let none = || settling(4, &[]);
        settle_all(none(), &slots[..2], |k| delivered(4, 10 + k as i64));
        assert_eq!(waiter.await.unwrap().unwrap().offset, 11);
        assert!(!group.is_settled());
        settle_all(none(), &slots[2..], |_| Err(Error::Closed));
        // A late second outcome is ignored.
        settle_all(none(), &slots[..1], |_| Err(Error::Closed));
        group.wait_all().await;
        assert!(group.is_settled());
        assert_eq!(group.get(0).unwrap().as_ref().unwrap().offset, 10);
        assert!(matches!(group.get(2), Some(Err(Error::Closed))));
    }

    #[tokio::test]
    async fn a_reporting_group_reports_each_message_once_with_its_message() {
        let queue = ReportQueue::new();
        let group = DeliveryGroup::reporting(2, Some(queue.clone()));
        let slots = slots(&group, 0..2);
        let records: Vec<ProduceRecord> = (0..2)
            .map(|i| ProduceRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("v{i}"))),
                headers: Vec::new(),
                timestamp_ms: 100 + i,
            })
            .collect();
        let what = || settling(3, &records);
        settle_all(what(), &slots, |k| {
            if k == 0 {
                delivered(3, 7)
            } else {
                Err(Error::Closed)
            }
        });
        settle_all(what(), &slots, |_| Err(Error::Closed)); // ignored: already settled
        let reports = queue.take(10, Duration::from_millis(10)).await;
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].result.as_ref().unwrap().offset, 7);
        assert_eq!(reports[0].timestamp_ms, 100);
        assert_eq!(
            reports[0].message.as_ref().unwrap().key.as_deref(),
            Some(&b"k0"[..])
        );
        let failed = reports[1].message.as_ref().unwrap();
        assert_eq!(failed.value.as_deref(), Some(&b"v1"[..]));
        assert_eq!((reports[1].partition, &*reports[1].topic), (3, "t"));
        assert!(queue.take(10, Duration::from_millis(10)).await.is_empty());
    }

    #[tokio::test]
    async fn an_untracked_group_keeps_no_outcome_but_still_reports() {
        let queue = ReportQueue::new();
        let group = DeliveryGroup::untracked(Some(queue.clone()));
        assert!(group.reports_to(Some(&queue)) && !group.reports_to(None));
        let slots = slots(&group, [0; 3]);
        settle_all(settling(1, &[]), &slots, |k| delivered(1, k as i64));
        assert!(group.get(0).is_none() && group.is_settled());
        let offsets: Vec<i64> = queue
            .take(10, Duration::from_millis(10))
            .await
            .iter()
            .map(|r| r.result.as_ref().unwrap().offset)
            .collect();
        assert_eq!(offsets, vec![0, 1, 2], "every message reported, none kept");
    }

    #[tokio::test]
    async fn a_failures_only_queue_reports_failed_messages_alone() {
        let queue = ReportQueue::new();
        queue.set_failures_only(true);
        let group = DeliveryGroup::untracked(Some(queue.clone()));
        let slots = slots(&group, [0; 3]);
        let what = || settling(1, &[]);
        settle_all(what(), &slots, |k| {
            if k == 1 {
                Err(Error::Closed)
            } else {
                delivered(1, k as i64)
            }
        });
        let reports = queue.take(10, Duration::from_millis(10)).await;
        assert_eq!(reports.len(), 1);
        assert!(matches!(reports[0].result, Err(Error::Closed)));
        queue.set_failures_only(false);
        settle_all(what(), &slots[..1], |_| delivered(1, 9));
        assert_eq!(queue.take(10, Duration::from_millis(10)).await.len(), 1);
    }
}
