//! The background producer's sender: one task per producer that moves messages through the
//! [`Accumulator`](super::accumulator::Accumulator) and one task per Produce request.
//!
//! Each turn of [`run`]: give incoming messages their partitions (topics without metadata are
//! looked up by a spawned task, creating them where allowed), fail what passed the delivery
//! timeout, drain the ready batches, pack each leader's batches into requests and spawn one task
//! per request. A request task settles its batches itself: delivered, back to the front of the
//! partition's queue (retriable, attempts left), or failed. Then it wakes the sender, which
//! sleeps otherwise until new messages, a flush, or the next linger or backoff deadline.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::accumulator::{Batch, TopicState};
use super::delivery::{delivered, settle_all};
use super::pipeline::Shared;
use crate::client::topic_from_snapshot;
use crate::cluster::metadata::ClusterSnapshot;
use crate::error::Error;
use crate::error_code::ErrorCode;
use crate::log::Level;
use crate::protocol::messages::produce::{ProducePartition, ProduceRequest, ProduceTopic};
use crate::protocol::records::BatchIdentity;

/// The longest the sender sleeps while messages are outstanding (delivery timeouts are checked
/// at least this often).
const MAX_IDLE: Duration = Duration::from_millis(500);

/// Per-topic state of metadata lookups, kept by the sender.
#[derive(Default)]
pub(crate) struct Lookups {
    running: Vec<Arc<str>>,
    /// Lookups that failed for good: the topic's waiting messages fail with the error.
    failed: HashMap<Arc<str>, Error>,
    /// Failed attempts per topic (for `max_retries`).
    attempts: HashMap<Arc<str>, u32>,
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let lookups = Arc::new(std::sync::Mutex::new(Lookups::default()));
    loop {
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = Instant::now();
        let snapshot = shared.client.snapshot();
        let mut wanted: Vec<Arc<str>> = Vec::new();
        let mut released = (0usize, 0usize);
        let (ready, next) = {
            let failed =
                std::mem::take(&mut lookups.lock().unwrap_or_else(|e| e.into_inner()).failed);
            let mut acc = shared.lock();
            let settled = acc.assign(
                now,
                |topic| topic_state(&snapshot, topic, &failed),
                &mut wanted,
            );
            add(&mut released, settled);
            if let Some(deadline) = now.checked_sub(shared.opts.delivery_timeout) {
                let why = delivery_timeout_error(shared.opts.delivery_timeout);
                add(&mut released, acc.expire(deadline, &why));
            }
            let (ready, next) = acc.drain(
                now,
                |topic, partition| leader_of(&snapshot, topic, partition),
                &mut wanted,
            );
            if acc.incoming_len() == 0 && acc.queued_batches() == 0 {
                acc.flushing = false;
            }
            (ready, next)
        };
        shared.release(released.0, released.1);
        for topic in wanted {
            start_lookup(&shared, &lookups, topic);
        }
        for (leader, batches) in by_leader(ready) {
            for request in pack(batches, shared.opts.produce.max_request_bytes) {
                tokio::spawn(send(shared.clone(), leader, request));
            }
        }
        let outstanding = shared.outstanding.load(Ordering::Acquire);
        if shared.closed.load(Ordering::Acquire) && outstanding == 0 {
            return;
        }
        let idle = if outstanding > 0 {
            MAX_IDLE
        } else {
            Duration::from_secs(3600)
        };
        let wake_at = next.map_or(now + idle, |n| n.min(now + idle));
        let _ = tokio::time::timeout_at(wake_at.into(), notified).await;
    }
}

fn add(total: &mut (usize, usize), settled: (usize, usize)) {
    total.0 += settled.0;
    total.1 += settled.1;
}

fn delivery_timeout_error(timeout: Duration) -> Error {
    Error::kafka(
        ErrorCode::REQUEST_TIMED_OUT,
        format!(
            "not delivered within the delivery timeout ({} ms)",
            timeout.as_millis()
        ),
    )
}

fn topic_state(
    snap: &ClusterSnapshot,
    topic: &str,
    failed: &HashMap<Arc<str>, Error>,
) -> TopicState {
    if let Some(e) = failed.get(topic) {
        return TopicState::Failed(e.clone());
    }
    // Unknown, an error code or no partitions: a lookup (with its retries) decides.
    match topic_from_snapshot(snap, topic) {
        Ok(info) => TopicState::Ready(info.partitions.len()),
        Err(_) => TopicState::Unknown,
    }
}

fn leader_of(snap: &ClusterSnapshot, topic: &str, partition: i32) -> Option<i32> {
    let leader = snap.topics.get(topic)?.partition(partition)?.leader?;
    snap.broker(leader).map(|_| leader)
}

/// Looks `topic` up in the background (creating it where allowed), unless a lookup is running.
fn start_lookup(shared: &Arc<Shared>, lookups: &Arc<std::sync::Mutex<Lookups>>, topic: Arc<str>) {
    {
        let mut l = lookups.lock().unwrap_or_else(|e| e.into_inner());
        if l.running.contains(&topic) {
            return;
        }
        l.running.push(topic.clone());
    }
    let shared = shared.clone();
    let lookups = lookups.clone();
    tokio::spawn(async move {
        let opts = &shared.opts;
        let result = shared
            .client
            .topic_with(&topic, opts.produce.auto_create_topics)
            .await;
        let pause = {
            let mut l = lookups.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok(_) => {
                    l.attempts.remove(&topic);
                    None
                }
                Err(e) => {
                    let attempts = l.attempts.entry(topic.clone()).or_insert(0);
                    *attempts += 1;
                    let out_of_retries =
                        !opts.unlimited_retries && *attempts > opts.produce.max_retries;
                    if !e.is_retriable() || out_of_retries {
                        shared
                            .client
                            .events()
                            .log(Level::Error, || format!("messages to {topic} failed: {e}"));
                        l.attempts.remove(&topic);
                        l.failed.insert(topic.clone(), e);
                        None
                    } else {
                        shared.client.events().log(Level::Warn, || {
                            format!("looking up topic {topic} failed ({e}); retrying")
                        });
                        Some(opts.produce.retry_backoff)
                    }
                }
            }
        };
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
        lookups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .running
            .retain(|t| *t != topic);
        shared.wake.notify_one();
    });
}

fn by_leader(ready: Vec<(i32, Batch)>) -> Vec<(i32, Vec<Batch>)> {
    let mut out: Vec<(i32, Vec<Batch>)> = Vec::new();
    for (leader, batch) in ready {
        match out.iter_mut().find(|(l, _)| *l == leader) {
            Some((_, batches)) => batches.push(batch),
            None => out.push((leader, vec![batch])),
        }
    }
    out
}

/// Packs one leader's batches into requests of at most `max_bytes` (a batch larger than that
/// travels alone). The accumulator drains at most one batch per partition at a time, so no
/// request holds two batches of one partition.
fn pack(batches: Vec<Batch>, max_bytes: usize) -> Vec<Vec<Batch>> {
    let mut requests: Vec<(usize, Vec<Batch>)> = Vec::new();
    for batch in batches {
        match requests
            .iter_mut()
            .find(|(bytes, _)| *bytes + batch.bytes <= max_bytes)
        {
            Some((bytes, bs)) => {
                *bytes += batch.bytes;
                bs.push(batch);
            }
            None => requests.push((batch.bytes, vec![batch])),
        }
    }
    requests.into_iter().map(|(_, bs)| bs).collect()
}

/// Sends one request and settles its batches.
async fn send(shared: Arc<Shared>, leader: i32, mut batches: Vec<Batch>) {
    let opts = &shared.opts.produce;
    for b in &mut batches {
        b.attempts += 1;
    }
    let mut outcomes: Vec<Option<Result<i64, Error>>> = vec![None; batches.len()];
    // Encode each batch; one that cannot be encoded fails alone.
    let mut topics: Vec<ProduceTopic<'_>> = Vec::new();
    for (k, b) in batches.iter().enumerate() {
        match ProducePartition::new(
            b.partition,
            &b.records,
            BatchIdentity::default(),
            opts.codec_for(b.records.len()),
        ) {
            Ok(part) => match topics.iter_mut().find(|t| t.name == &*b.topic) {
                Some(t) => t.partitions.push(part),
                None => topics.push(ProduceTopic {
                    name: &b.topic,
                    partitions: vec![part],
                }),
            },
            Err(e) => outcomes[k] = Some(Err(Error::invalid("messages", e.to_string()))),
        }
    }
    if !topics.is_empty() {
        let req = ProduceRequest {
            transactional_id: None,
            acks: opts.acks,
            timeout_ms: opts.ack_timeout.as_millis().min(i32::MAX as u128) as i32,
            topics,
        };
        let answer = match shared.client.broker(leader).await {
            Err(e) => Err(e),
            Ok(conn) if opts.acks == 0 => conn.send_without_response(&req).await.map(|()| None),
            Ok(conn) => conn
                .request_with_wait(&req, opts.ack_timeout)
                .await
                .map(Some),
        };
        for (k, b) in batches.iter().enumerate() {
            if outcomes[k].is_some() {
                continue;
            }
            outcomes[k] = Some(match &answer {
                Err(e) => Err(e.clone()),
                Ok(None) => Ok(-1),
                Ok(Some(resp)) => {
                    let part = resp
                        .topics
                        .iter()
                        .filter(|t| t.name == *b.topic)
                        .flat_map(|t| t.partitions.iter())
                        .find(|p| p.index == b.partition);
                    match part {
                        None => Err(Error::kafka(
                            ErrorCode::UNKNOWN_SERVER_ERROR,
                            format!("no answer for {}/{}", b.topic, b.partition),
                        )),
                        Some(p) if p.error_code == 0 => Ok(p.base_offset),
                        Some(p) => Err(Error::kafka(
                            ErrorCode(p.error_code),
                            format!(
                                "{}/{} {}",
                                b.topic,
                                b.partition,
                                p.error_message.as_deref().unwrap_or("")
                            )
                            .trim_end()
                            .to_string(),
                        )),
                    }
                }
            });
        }
    }
    settle(&shared, batches, outcomes);
}

/// Settles answered batches: delivered, retried (back to the front of their queue), or failed.
fn settle(shared: &Arc<Shared>, batches: Vec<Batch>, outcomes: Vec<Option<Result<i64, Error>>>) {
    let opts = &shared.opts;
    let now = Instant::now();
    let mut released = (0usize, 0usize);
    let mut refresh: Vec<Arc<str>> = Vec::new();
    {
        let mut acc = shared.lock();
        for (batch, outcome) in batches.into_iter().zip(outcomes) {
            let outcome = outcome.unwrap_or(Err(Error::Closed));
            match outcome {
                Ok(base) => {
                    let partition = batch.partition;
                    settle_all(&batch.slots, |k| {
                        delivered(partition, if base < 0 { -1 } else { base + k as i64 })
                    });
                    acc.finished(&batch.topic, partition);
                    add(&mut released, (batch.len(), batch.bytes));
                }
                Err(e) => {
                    let timed_out = now.duration_since(batch.oldest) >= opts.delivery_timeout;
                    let retries_left =
                        opts.unlimited_retries || batch.attempts <= opts.produce.max_retries;
                    if e.is_retriable()
                        && retries_left
                        && !timed_out
                        && !shared.abandoned.load(Ordering::Acquire)
                    {
                        shared.client.events().log(Level::Warn, || {
                            format!(
                                "{} messages to {}/{} failed with a retriable error ({e}); \
                                 retry {} in {} ms",
                                batch.len(),
                                batch.topic,
                                batch.partition,
                                batch.attempts,
                                opts.produce.retry_backoff.as_millis()
                            )
                        });
                        if !refresh.contains(&batch.topic) {
                            refresh.push(batch.topic.clone());
                        }
                        acc.retry(now, batch);
                    } else {
                        shared.client.events().log(Level::Error, || {
                            format!(
                                "{} messages to {}/{} not delivered after {} attempts: {e}",
                                batch.len(),
                                batch.topic,
                                batch.partition,
                                batch.attempts
                            )
                        });
                        settle_all(&batch.slots, |_| Err(e.clone()));
                        acc.finished(&batch.topic, batch.partition);
                        add(&mut released, (batch.len(), batch.bytes));
                    }
                }
            }
        }
    }
    shared.release(released.0, released.1);
    if !refresh.is_empty() {
        let shared = shared.clone();
        tokio::spawn(async move {
            let topics: Vec<&str> = refresh.iter().map(|t| &**t).collect();
            // A failed refresh shows up as errors on the next attempt.
            let _ = shared.client.refresh_metadata(Some(&topics)).await;
            shared.wake.notify_one();
        });
    }
    shared.wake.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::delivery::{DeliveryGroup, Slot};
    use crate::protocol::records::ProduceRecord;

    fn batch(partition: i32, bytes: usize) -> Batch {
        let now = Instant::now();
        Batch {
            topic: Arc::from("t"),
            partition,
            records: vec![ProduceRecord {
                key: None,
                value: None,
                headers: Vec::new(),
                timestamp_ms: 0,
            }],
            slots: vec![Slot {
                group: DeliveryGroup::new(1),
                index: 0,
            }],
            bytes,
            created: now,
            oldest: now,
            attempts: 0,
        }
    }

    #[test]
    fn requests_are_packed_up_to_the_byte_limit_and_batches_stay_whole() {
        let requests = pack(
            vec![batch(0, 60), batch(1, 30), batch(2, 50), batch(3, 500)],
            100,
        );
        let shape: Vec<Vec<i32>> = requests
            .iter()
            .map(|r| r.iter().map(|b| b.partition).collect())
            .collect();
        assert_eq!(shape, vec![vec![0, 1], vec![2], vec![3]]);
    }

    #[test]
    fn batches_are_grouped_by_leader_in_order() {
        let grouped = by_leader(vec![(2, batch(0, 1)), (1, batch(1, 1)), (2, batch(2, 1))]);
        let shape: Vec<(i32, Vec<i32>)> = grouped
            .iter()
            .map(|(l, bs)| (*l, bs.iter().map(|b| b.partition).collect()))
            .collect();
        assert_eq!(shape, vec![(2, vec![0, 2]), (1, vec![1])]);
    }
}
