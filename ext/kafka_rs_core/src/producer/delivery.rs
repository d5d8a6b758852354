//! Delivery outcomes of the pipeline producer.
//!
//! Messages handed over in one call (one `produce_async`, or a whole `produce_many`) share one
//! [`DeliveryGroup`]: a slot per message, filled exactly once with where it landed or why it
//! failed. A [`Slot`] names one message's place in its group; the accumulator carries it with the
//! record until the broker answers. Waiters (a Ruby `DeliveryHandle`, a flush) await the group's
//! [`Notify`], which is signalled once per settled batch, not once per message.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use super::{Delivered, DeliveryResult};

/// The outcomes of the messages of one call.
#[derive(Debug)]
pub struct DeliveryGroup {
    results: Box<[OnceLock<DeliveryResult>]>,
    remaining: AtomicUsize,
    settled: Notify,
}

impl DeliveryGroup {
    pub fn new(len: usize) -> Arc<DeliveryGroup> {
        Arc::new(DeliveryGroup {
            results: (0..len).map(|_| OnceLock::new()).collect(),
            remaining: AtomicUsize::new(len),
            settled: Notify::new(),
        })
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
    pub(crate) fn settle(&self, index: usize, result: DeliveryResult) {
        if let Some(slot) = self.results.get(index) {
            if slot.set(result).is_ok() {
                self.remaining.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    pub(crate) fn wake(&self) {
        self.settled.notify_waiters();
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

/// Settles `slots` with `outcome(position in slots)` and wakes each group once.
pub(crate) fn settle_all(slots: &[Slot], mut outcome: impl FnMut(usize) -> DeliveryResult) {
    for (k, slot) in slots.iter().enumerate() {
        slot.group.settle(slot.index as usize, outcome(k));
    }
    wake_groups(slots);
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

/// A successful outcome at `offset` (-1 when the broker does not say: `acks = 0`).
pub(crate) fn delivered(partition: i32, offset: i64) -> DeliveryResult {
    Ok(Delivered { partition, offset })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[tokio::test]
    async fn a_group_settles_each_message_once_and_wakes_waiters() {
        let group = DeliveryGroup::new(3);
        assert!(!group.is_settled());
        let waiter = {
            let group = group.clone();
            tokio::spawn(async move { group.wait(1).await.clone() })
        };
        let slots: Vec<Slot> = (0..3)
            .map(|index| Slot {
                group: group.clone(),
                index,
            })
            .collect();
        settle_all(&slots[..2], |k| delivered(4, 10 + k as i64));
        assert_eq!(waiter.await.unwrap().unwrap().offset, 11);
        assert!(!group.is_settled());
        settle_all(&slots[2..], |_| Err(Error::Closed));
        // A late second outcome is ignored.
        settle_all(&slots[..1], |_| Err(Error::Closed));
        group.wait_all().await;
        assert!(group.is_settled());
        assert_eq!(group.get(0).unwrap().as_ref().unwrap().offset, 10);
        assert!(matches!(group.get(2), Some(Err(Error::Closed))));
    }
}
