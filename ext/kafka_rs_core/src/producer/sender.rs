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

use tokio::sync::mpsc;

use super::accumulator::{Batch, TopicState};
use super::delivery::{delivered, settle_all};
use super::idempotence::{self, InitVerdict, ProducerIdentity, SequenceVerdict};
use super::pipeline::Shared;
use crate::client::topic_from_snapshot;
use crate::cluster::metadata::ClusterSnapshot;
use crate::cluster::pool::Backoff;
use crate::connection::messenger::{BrokerConnection, PendingResponse, WriteNotice};
use crate::error::Error;
use crate::error_code::ErrorCode;
use crate::log::Level;
use crate::protocol::messages::init_producer_id::InitProducerIdRequest;
use crate::protocol::messages::produce::{
    ProducePartition, ProduceRequest, ProduceResponse, ProduceTopic,
};
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
    /// Lookups for a partition beyond a topic's count that ran out of retries: the count, and
    /// the error for the messages naming such a partition.
    missing: HashMap<Arc<str>, (usize, Error)>,
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
        let want_producer_id;
        let (ready, next) = {
            let (failed, missing) = {
                let mut l = lookups.lock().unwrap_or_else(|e| e.into_inner());
                (
                    std::mem::take(&mut l.failed),
                    std::mem::take(&mut l.missing),
                )
            };
            let mut acc = shared.lock();
            let settled = acc.assign(
                now,
                |topic| topic_state(&snapshot, topic, &failed, &missing),
                &mut wanted,
            );
            add(&mut released, settled);
            if let Some(fatal) = acc.idempotence.fatal.clone() {
                add(&mut released, acc.expire(far_future(now), &fatal));
            }
            want_producer_id = acc.idempotence.needs_producer_id();
            if let Some(deadline) = now.checked_sub(shared.opts.delivery_timeout) {
                let why = delivery_timeout_error(
                    shared.opts.delivery_timeout,
                    acc.idempotence.waiting_for_id(),
                );
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
            let mut requests = Vec::new();
            for (leader, batches) in by_leader(ready) {
                for request in pack(batches, shared.opts.produce.max_request_bytes) {
                    acc.request_started(leader);
                    requests.push((leader, request));
                }
            }
            (requests, next)
        };
        shared.release(released.0, released.1, released.0);
        if want_producer_id && shared.outstanding.load(Ordering::Acquire) > 0 {
            start_init_producer_id(&shared);
        }
        for topic in wanted {
            start_lookup(&shared, &lookups, topic);
        }
        for (leader, request) in ready {
            dispatch(&shared, leader, request);
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
        shared.set_parked(Some(wake_at));
        // Messages queued during this turn, whose producer saw the sender running (and stored
        // a permit) or saw this deadline: either way they are picked up in time.
        let _ = tokio::time::timeout_at(wake_at.into(), notified).await;
        shared.set_parked(None);
    }
}

/// An instant later than any message's deadline.
pub(crate) fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(365 * 24 * 3600)
}

/// Asks any broker for an idempotent producer id (unless a request is running): a broker's
/// retriable answer is retried with backoff while messages wait, whatever their retry count (the
/// delivery timeout ends the wait); no answer at all counts against the retries; a refusal is
/// final and fails every message ([`idempotence::after_init_failure`], [`idempotence::refused`]).
fn start_init_producer_id(shared: &Arc<Shared>) {
    if shared.init_running.swap(true, Ordering::AcqRel) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let backoff = init_backoff(shared.opts.produce.retry_backoff);
        let mut failures = 0u32;
        let mut unanswered = 0u32;
        loop {
            // The transaction timeout means nothing without a transactional id.
            let req = InitProducerIdRequest::new(None, 60_000);
            let answer = match shared.client.any_broker().await {
                Ok(conn) => conn.request(&req).await,
                Err(e) => Err(e),
            };
            let outcome = answer.and_then(|r| match ErrorCode(r.error_code) {
                ErrorCode::NONE => Ok(ProducerIdentity {
                    id: r.producer_id,
                    epoch: r.producer_epoch,
                }),
                code => Err(Error::kafka(code, "InitProducerId")),
            });
            let e = match outcome {
                Ok(identity) => {
                    shared.client.events().log(Level::Debug, || {
                        format!(
                            "idempotent producer id {} epoch {}",
                            identity.id, identity.epoch
                        )
                    });
                    let mut acc = shared.lock();
                    acc.idempotence.identity = Some(identity);
                    acc.idempotence.init_failure = None;
                    break;
                }
                Err(e) => e,
            };
            failures += 1;
            if !idempotence::answered(&e) {
                unanswered += 1;
            }
            let waiting = shared.outstanding.load(Ordering::Acquire) > 0;
            let abandoned = shared.abandoned.load(Ordering::Acquire);
            let max_retries =
                (!shared.opts.unlimited_retries).then_some(shared.opts.produce.max_retries);
            match idempotence::after_init_failure(&e, unanswered, max_retries, waiting, abandoned) {
                InitVerdict::Retry => {
                    let pause = backoff.exponential(failures);
                    let level = idempotence::init_retry_level(&e, failures);
                    shared.client.events().log(level, || {
                        format!(
                            "getting an idempotent producer id failed ({e}); retry {failures} \
                             in {} ms",
                            pause.as_millis()
                        )
                    });
                    shared.lock().idempotence.init_failure = Some(e);
                    tokio::time::sleep(pause).await;
                }
                InitVerdict::Stop => break,
                InitVerdict::GiveUp => {
                    shared.client.events().log(Level::Error, || {
                        format!("getting an idempotent producer id failed {failures} times: {e}")
                    });
                    let released = shared.lock().expire(far_future(Instant::now()), &e);
                    shared.release(released.0, released.1, released.0);
                    break;
                }
                InitVerdict::Fail => {
                    let fatal = match e.code() {
                        Some(code) if !e.is_retriable() => idempotence::refused(code),
                        _ => e,
                    };
                    shared
                        .client
                        .events()
                        .log(Level::Error, || format!("producing failed: {fatal}"));
                    shared.lock().idempotence.fatal = Some(fatal);
                    break;
                }
            }
        }
        shared.init_running.store(false, Ordering::Release);
        shared.wake.notify_one();
    });
}

/// The pause before InitProducerId attempt `failures + 1`: 100 ms at first (a just-started
/// broker has its block of ids within milliseconds), doubling up to the retry backoff.
fn init_backoff(retry_backoff: Duration) -> Backoff {
    let first = Duration::from_millis(100);
    Backoff {
        initial: first,
        max: retry_backoff.max(first),
    }
}

fn add(total: &mut (usize, usize), settled: (usize, usize)) {
    total.0 += settled.0;
    total.1 += settled.1;
}

/// The error of messages that passed the delivery timeout; `waiting_for_id`: why the producer
/// still has no idempotent producer id, if it has none.
fn delivery_timeout_error(timeout: Duration, waiting_for_id: Option<&Error>) -> Error {
    let why = waiting_for_id.map_or(String::new(), |e| {
        format!("; getting an idempotent producer id last failed: {e}")
    });
    Error::kafka(
        ErrorCode::REQUEST_TIMED_OUT,
        format!(
            "not delivered within the delivery timeout ({} ms){why}",
            timeout.as_millis()
        ),
    )
}

fn topic_state(
    snap: &ClusterSnapshot,
    topic: &str,
    failed: &HashMap<Arc<str>, Error>,
    missing: &HashMap<Arc<str>, (usize, Error)>,
) -> TopicState {
    if let Some(e) = failed.get(topic) {
        return TopicState::Failed(e.clone());
    }
    if let Some((count, e)) = missing.get(topic) {
        return TopicState::Missing(*count, e.clone());
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

/// The pause before lookup attempt `attempts + 1`: `base`, doubling with each failed attempt up
/// to a second (or `base`, if longer), as the Java client backs off metadata refreshes
/// (KIP-580). A message waiting for a topic to grow, with unlimited retries, then costs one
/// metadata request a second rather than ten.
fn lookup_backoff(base: Duration, attempts: u32) -> Duration {
    Backoff {
        initial: base,
        max: base.max(Duration::from_secs(1)),
    }
    .exponential(attempts)
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
        let auto_create = opts.produce.auto_create_topics;
        // A topic known with every leader: a message names a partition beyond its count. The
        // topic may have grown: refresh, and count a lookup that finds no more partitions as a
        // failed attempt.
        let known = topic_from_snapshot(&shared.client.snapshot(), &topic)
            .ok()
            .filter(|info| info.is_ready())
            .map(|info| info.partitions.len());
        let result = match known {
            None => shared.client.topic_with(&topic, auto_create).await.map(|_| ()),
            Some(before) => shared
                .client
                .refresh_metadata_with(Some(&[&topic]), auto_create)
                .await
                .and_then(|snap| {
                    let now = topic_from_snapshot(&snap, &topic)?.partitions.len();
                    if now > before {
                        Ok(())
                    } else {
                        Err(Error::kafka(
                            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                            format!("{topic} has {now} partitions: none for a message naming a higher one"),
                        ))
                    }
                }),
        };
        let pause = {
            let mut l = lookups.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok(()) => {
                    l.attempts.remove(&topic);
                    None
                }
                Err(e) => {
                    let attempts = l.attempts.entry(topic.clone()).or_insert(0);
                    *attempts += 1;
                    let attempts = *attempts;
                    let out_of_retries =
                        !opts.unlimited_retries && attempts > opts.produce.max_retries;
                    if let (Some(count), true) = (known, out_of_retries || !e.is_retriable()) {
                        shared.client.events().log(Level::Error, || {
                            format!(
                                "messages to missing partitions of {topic} not delivered after \
                                 {attempts} attempts: {e}"
                            )
                        });
                        l.attempts.remove(&topic);
                        l.missing.insert(topic.clone(), (count, e));
                        None
                    } else if !e.is_retriable() || out_of_retries {
                        shared.client.events().log(Level::Error, || {
                            format!(
                                "messages to {topic} not delivered after {attempts} \
                                     attempts: {e}"
                            )
                        });
                        l.attempts.remove(&topic);
                        l.failed.insert(topic.clone(), e);
                        None
                    } else {
                        let pause = lookup_backoff(opts.produce.retry_backoff, attempts);
                        shared.client.events().log(Level::Warn, || {
                            let of = if opts.unlimited_retries {
                                String::new()
                            } else {
                                format!(" of {}", opts.produce.max_retries)
                            };
                            format!(
                                "looking up topic {topic} failed ({e}); retry {attempts}{of} \
                                 in {} ms",
                                pause.as_millis()
                            )
                        });
                        Some(pause)
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
/// travels alone). A request holds at most one batch per partition, and a partition's batches
/// (drained in sequence order) land in requests in that order.
fn pack(batches: Vec<Batch>, max_bytes: usize) -> Vec<Vec<Batch>> {
    let mut requests: Vec<(usize, Vec<Batch>)> = Vec::new();
    for batch in batches {
        let same_partition = |b: &Batch| b.partition == batch.partition && b.topic == batch.topic;
        // After the last request holding this partition, so the partition's order holds.
        let after = requests
            .iter()
            .rposition(|(_, bs)| bs.iter().any(same_partition))
            .map_or(0, |k| k + 1);
        match requests[after..]
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

/// Starts a request on its leader's connection, in the order requests are handed over, so a
/// partition's batches reach the broker in sequence order even with several in flight (the
/// answers are awaited concurrently). With the connection up, the request starts right here,
/// in the sender's turn; otherwise a dispatcher task for the leader connects and starts the
/// leader's requests in order, and later requests for that leader queue behind it until it
/// has drained them.
fn dispatch(shared: &Arc<Shared>, leader: i32, batches: Vec<Batch>) {
    let mut dispatchers = shared.dispatchers();
    let batches = match dispatchers.get(&leader) {
        Some(tx) => match tx.send(batches) {
            Ok(()) => return,
            Err(returned) => returned.0,
        },
        None => batches,
    };
    if let Some(conn) = shared.client.existing_broker(leader) {
        start(shared, leader, Ok(conn), batches);
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(batches);
    dispatchers.insert(leader, tx);
    tokio::spawn(dispatcher(shared.clone(), leader, rx));
}

async fn dispatcher(shared: Arc<Shared>, leader: i32, mut rx: mpsc::UnboundedReceiver<Vec<Batch>>) {
    loop {
        let batches = match rx.try_recv() {
            Ok(batches) => batches,
            Err(_) => {
                // Drained: leave. Under the map's lock, so no request can be handed to a
                // receiver that is going away.
                let mut dispatchers = shared.dispatchers();
                match rx.try_recv() {
                    Ok(batches) => batches,
                    Err(_) => {
                        dispatchers.remove(&leader);
                        drop(rx);
                        return;
                    }
                }
            }
        };
        let conn = shared.client.broker(leader).await;
        start(&shared, leader, conn, batches);
    }
}

/// Encodes and starts one Produce request on the leader's connection (or fails its batches
/// with the connection's error); a spawned task awaits the answer and settles the batches.
fn start(
    shared: &Arc<Shared>,
    leader: i32,
    conn: Result<Arc<BrokerConnection>, Error>,
    mut batches: Vec<Batch>,
) {
    let opts = &shared.opts.produce;
    for b in &mut batches {
        b.attempts += 1;
    }
    let mut outcomes: Vec<Option<Result<i64, Error>>> = vec![None; batches.len()];
    let started = {
        // Encode each batch; one that cannot be encoded fails alone.
        let mut topics: Vec<ProduceTopic<'_>> = Vec::new();
        for (k, b) in batches.iter().enumerate() {
            let identity = b
                .sequence
                .map_or_else(BatchIdentity::default, |s| BatchIdentity {
                    producer_id: s.producer.id,
                    producer_epoch: s.producer.epoch,
                    base_sequence: s.base_sequence,
                    transactional: false,
                });
            match ProducePartition::new(
                b.partition,
                &b.records,
                identity,
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
        if topics.is_empty() {
            None
        } else {
            let req = ProduceRequest {
                transactional_id: None,
                acks: opts.acks,
                timeout_ms: opts.ack_timeout.as_millis().min(i32::MAX as u128) as i32,
                topics,
            };
            Some(match conn {
                Err(e) => Started::Failed(e),
                // Written in order too: the frame is queued before the wait starts.
                Ok(conn) if opts.acks == 0 => Started::Written(conn.queue_without_response(&req)),
                Ok(conn) => match conn.start_request(&req, opts.ack_timeout) {
                    Ok(pending) => Started::Answer(pending),
                    Err(e) => Started::Failed(e),
                },
            })
        }
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let answer = match started {
            None => None,
            Some(Started::Failed(e)) => Some(Err(e)),
            Some(Started::Written(notice)) => Some(notice.wait().await.map(|()| None)),
            Some(Started::Answer(pending)) => Some(pending.response().await.map(Some)),
        };
        if let Some(answer) = answer {
            fill_outcomes(&batches, &mut outcomes, &answer);
        }
        settle(&shared, leader, batches, outcomes);
    });
}

/// A Produce request on its way.
enum Started {
    Failed(Error),
    /// acks = 0: done once written.
    Written(WriteNotice),
    Answer(PendingResponse<ProduceResponse>),
}

/// Each batch's outcome from the request's answer (`None`: acks = 0, offset unknown).
fn fill_outcomes(
    batches: &[Batch],
    outcomes: &mut [Option<Result<i64, Error>>],
    answer: &Result<Option<ProduceResponse>, Error>,
) {
    for (k, b) in batches.iter().enumerate() {
        if outcomes[k].is_some() {
            continue;
        }
        outcomes[k] = Some(match answer {
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

/// Settles answered batches: delivered, retried (back to the front of their queue), or failed.
fn settle(
    shared: &Arc<Shared>,
    leader: i32,
    batches: Vec<Batch>,
    outcomes: Vec<Option<Result<i64, Error>>>,
) {
    let opts = &shared.opts;
    let now = Instant::now();
    let mut released = (0usize, 0usize);
    let mut failed = 0usize;
    let mut refresh: Vec<Arc<str>> = Vec::new();
    let more = {
        let mut acc = shared.lock();
        acc.request_finished(leader);
        for (batch, outcome) in batches.into_iter().zip(outcomes) {
            let mut outcome = outcome.unwrap_or(Err(Error::Closed));
            // Sequence errors of an idempotent batch: see `idempotence`.
            let mut resend = false;
            if let (Some(seq), Err(e)) = (batch.sequence, &outcome) {
                let expected = acc.expected_sequence(&batch.topic, batch.partition);
                let code = e.code().unwrap_or(ErrorCode::NONE);
                match idempotence::verdict(code, seq.base_sequence, expected) {
                    SequenceVerdict::Duplicate => outcome = Ok(-1),
                    SequenceVerdict::ResendInOrder => resend = true,
                    SequenceVerdict::Bump => {
                        shared.client.events().log(Level::Warn, || {
                            format!(
                                "{}/{}: {e}; bumping the producer epoch",
                                batch.topic, batch.partition
                            )
                        });
                        acc.idempotence.bump_requested = true;
                        resend = true;
                    }
                    SequenceVerdict::Other => {}
                }
            }
            match outcome {
                Ok(base) => {
                    let partition = batch.partition;
                    settle_all(batch.settling(), &batch.slots, |k| {
                        delivered(partition, if base < 0 { -1 } else { base + k as i64 })
                    });
                    acc.finished(&batch, true);
                    add(&mut released, (batch.len(), batch.bytes));
                }
                Err(e) => {
                    let timed_out = now.duration_since(batch.oldest) >= opts.delivery_timeout;
                    let retries_left =
                        opts.unlimited_retries || batch.attempts <= opts.produce.max_retries;
                    if (e.is_retriable() || resend)
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
                        settle_all(batch.settling(), &batch.slots, |_| Err(e.clone()));
                        acc.finished(&batch, false);
                        add(&mut released, (batch.len(), batch.bytes));
                        failed += batch.len();
                    }
                }
            }
        }
        // The sender has work only if something waits (behind this request, or retried) or
        // an epoch bump waits for nothing to be in flight.
        acc.incoming_len() > 0 || acc.queued_batches() > 0 || acc.idempotence.bump_requested
    };
    shared.release(released.0, released.1, failed);
    if !refresh.is_empty() {
        let shared = shared.clone();
        tokio::spawn(async move {
            let topics: Vec<&str> = refresh.iter().map(|t| &**t).collect();
            // A failed refresh shows up as errors on the next attempt.
            let _ = shared.client.refresh_metadata(Some(&topics)).await;
            shared.wake.notify_one();
        });
    }
    if more || shared.closed.load(Ordering::Acquire) {
        shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::delivery::{DeliveryGroup, Slot};
    use crate::protocol::records::ProduceRecord;

    #[test]
    fn lookups_back_off_doubling_up_to_a_second() {
        let ms = |attempts| lookup_backoff(Duration::from_millis(100), attempts).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5), ms(40)],
            [100, 200, 400, 800, 1000, 1000]
        );
        // A base above a second is kept (the buffered producer's default is 1 s).
        assert_eq!(
            lookup_backoff(Duration::from_secs(2), 5),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn producer_id_requests_back_off_from_100_ms_doubling_up_to_the_retry_backoff() {
        let ms = |base, failures| init_backoff(base).exponential(failures).as_millis();
        let second = Duration::from_secs(1);
        assert_eq!(
            [
                ms(second, 1),
                ms(second, 2),
                ms(second, 4),
                ms(second, 5),
                ms(second, 30)
            ],
            [100, 200, 800, 1000, 1000]
        );
        assert_eq!(ms(Duration::ZERO, 3), 100, "never less than 100 ms");
    }

    #[test]
    fn a_timeout_waiting_for_a_producer_id_says_why() {
        let plain = delivery_timeout_error(Duration::from_secs(2), None);
        assert_eq!(plain.code(), Some(ErrorCode::REQUEST_TIMED_OUT));
        assert!(plain.to_string().contains("(2000 ms)"), "{plain}");
        let busy = Error::kafka(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS, "InitProducerId");
        let why = delivery_timeout_error(Duration::from_secs(2), Some(&busy));
        assert_eq!(why.code(), Some(ErrorCode::REQUEST_TIMED_OUT));
        assert!(
            why.to_string().contains("COORDINATOR_LOAD_IN_PROGRESS"),
            "{why}"
        );
    }

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
            serial: 0,
            sequence: None,
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
    fn a_request_holds_one_batch_per_partition_and_a_partitions_batches_stay_in_order() {
        let requests = pack(
            vec![batch(0, 10), batch(0, 10), batch(1, 10), batch(0, 10)],
            100,
        );
        let shape: Vec<Vec<i32>> = requests
            .iter()
            .map(|r| r.iter().map(|b| b.partition).collect())
            .collect();
        assert_eq!(shape, vec![vec![0, 1], vec![0], vec![0]]);
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
