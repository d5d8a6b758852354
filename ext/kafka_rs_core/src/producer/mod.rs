//! Producing: partition choice ([`partitioner`]) and delivery of a set of messages with retries.
//!
//! Life of a delivery ([`Producer::deliver`]):
//! 1. each message gets its partition once (explicit, by key, or round-robin) and keeps it
//!    across retries, so a retried message never changes partition;
//! 2. messages are grouped by partition leader, then by partition, in their original order, and
//!    each partition's records are cut into batches of at most `max_batch_bytes`;
//! 3. batches are packed into Produce requests of at most `max_request_bytes`, and every request
//!    to every leader is sent at once (requests to one broker are pipelined on its connection);
//!    each batch is encoded straight from the caller's records into the request buffer;
//! 4. each partition's answer settles its messages: success (offset = base offset + index),
//!    a retriable error (kept for the next round, after a metadata refresh and the backoff), or
//!    a final error. A request that failed on the connection is retried whole: it may have been
//!    written, so a retry can duplicate (at-least-once).
//!
//! The result has one entry per message, in input order.

pub mod accumulator;
pub mod delivery;
pub mod partitioner;
pub mod pipeline;
mod sender;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;

pub use delivery::DeliveryGroup;
pub use partitioner::{Partitioner, RoundRobin};
pub use pipeline::{BackgroundProducer, PipelineOptions};

use crate::client::Client;
use crate::cluster::TopicInfo;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::log::Level;
use crate::protocol::messages::produce::{ProducePartition, ProduceRequest, ProduceTopic};
use crate::protocol::records::{BatchIdentity, Compression, ProduceRecord};

/// A message to deliver.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    /// Shared, so that a batch of messages to one topic holds one copy of its name.
    pub topic: Arc<str>,
    /// An explicit partition, overriding the partitioner.
    pub partition: Option<i32>,
    /// Hashed instead of the record key to pick the partition, when set.
    pub partition_key: Option<Bytes>,
    pub record: ProduceRecord,
}

#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// 0, 1 or -1 (all in-sync replicas).
    pub acks: i16,
    pub ack_timeout: Duration,
    /// Attempts after the first one.
    pub max_retries: u32,
    pub retry_backoff: Duration,
    pub partitioner: Partitioner,
    pub compression: Compression,
    /// Batches with fewer records than this go uncompressed (ruby-kafka's
    /// `compression_threshold`; 1 compresses every batch).
    pub compression_threshold: usize,
    pub max_batch_bytes: usize,
    pub max_request_bytes: usize,
    /// Ask the broker to create topics that do not exist (where it allows auto-creation).
    pub auto_create_topics: bool,
}

impl ProduceOptions {
    /// The codec for a batch of `records` records: none below the compression threshold.
    pub fn codec_for(&self, records: usize) -> Compression {
        if records >= self.compression_threshold {
            self.compression
        } else {
            Compression::None
        }
    }
}

impl Default for ProduceOptions {
    fn default() -> Self {
        ProduceOptions {
            acks: -1,
            ack_timeout: Duration::from_secs(5),
            max_retries: 2,
            retry_backoff: Duration::from_secs(1),
            partitioner: Partitioner::Crc32,
            compression: Compression::None,
            compression_threshold: 1,
            max_batch_bytes: 1_000_000,
            max_request_bytes: 8 * 1024 * 1024,
            auto_create_topics: true,
        }
    }
}

/// Where a message landed. `offset` is -1 with `acks = 0` (the broker does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

pub type DeliveryResult = std::result::Result<Delivered, Error>;

/// Delivers messages for one producer; holds the round-robin position for keyless messages.
pub struct Producer {
    client: Client,
    opts: ProduceOptions,
    round_robin: RoundRobin,
}

/// One batch: a partition and the indices (into the caller's messages) of its records.
struct Chunk<'a> {
    topic: &'a str,
    partition: i32,
    indices: Vec<usize>,
    bytes: usize,
}

impl Producer {
    pub fn new(client: Client, opts: ProduceOptions) -> Producer {
        let start = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)) as usize;
        Producer {
            client,
            opts,
            round_robin: RoundRobin::with_start(start),
        }
    }

    pub fn options(&self) -> &ProduceOptions {
        &self.opts
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn choose_partition(&self, msg: &OutgoingMessage, partitions: usize) -> i32 {
        if let Some(p) = msg.partition {
            return p;
        }
        match msg.partition_key.as_deref().or(msg.record.key.as_deref()) {
            Some(key) => self.opts.partitioner.partition_for_key(key, partitions),
            None => self.round_robin.next(partitions),
        }
    }

    /// Delivers `messages`; one result per message, in order.
    pub async fn deliver(&self, messages: &[OutgoingMessage]) -> Vec<DeliveryResult> {
        let mut results: Vec<Option<DeliveryResult>> = vec![None; messages.len()];
        let mut partitions: Vec<Option<i32>> = vec![None; messages.len()];
        let mut pending: Vec<usize> = (0..messages.len()).collect();
        let mut attempt: u32 = 0;
        if let Err(e) = self.client.check_open() {
            return messages.iter().map(|_| Err(e.clone())).collect();
        }
        loop {
            let last_round = attempt >= self.opts.max_retries;
            let mut retry: Vec<(usize, Error)> = Vec::new();
            // 1 + 2: partition and group by leader, then partition. Topic metadata is looked
            // up once per topic per round (messages of one topic usually come in runs).
            let mut topics: Vec<(&str, Result<Arc<TopicInfo>>)> = Vec::new();
            let mut by_leader: BTreeMap<i32, BTreeMap<(usize, i32), Vec<usize>>> = BTreeMap::new();
            for &i in &pending {
                let msg = &messages[i];
                let t = match topics.iter().rposition(|(name, _)| *name == &*msg.topic) {
                    Some(t) => t,
                    None => {
                        let info = self
                            .client
                            .topic_with(&msg.topic, self.opts.auto_create_topics)
                            .await;
                        topics.push((&msg.topic, info));
                        topics.len() - 1
                    }
                };
                let info = match &topics[t].1 {
                    Ok(info) => info,
                    Err(e) => {
                        retry.push((i, e.clone()));
                        continue;
                    }
                };
                let p = *partitions[i]
                    .get_or_insert_with(|| self.choose_partition(msg, info.partitions.len()));
                let leader = match info.partition(p) {
                    None => Err(Error::kafka(
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        format!(
                            "{}/{p}: the topic has {} partitions",
                            msg.topic,
                            info.partitions.len()
                        ),
                    )),
                    Some(part) => part.leader.ok_or_else(|| {
                        Error::kafka(
                            ErrorCode::LEADER_NOT_AVAILABLE,
                            format!("{}/{p}", msg.topic),
                        )
                    }),
                };
                match leader {
                    Ok(l) => by_leader
                        .entry(l)
                        .or_default()
                        .entry((t, p))
                        .or_default()
                        .push(i),
                    Err(e) => retry.push((i, e)),
                }
            }
            // 3: batches and requests, sent leader by leader concurrently.
            let mut sends = Vec::new();
            for (leader, parts) in by_leader {
                let parts = parts
                    .into_iter()
                    .map(|((t, p), indices)| ((topics[t].0, p), indices))
                    .collect();
                let chunks = self.chunk(messages, parts);
                sends.push(self.send_to_leader(leader, messages, &partitions, chunks));
            }
            // 4: settle.
            for outcome in join_all(sends).await {
                for (i, res) in outcome {
                    match res {
                        Ok(d) => results[i] = Some(Ok(d)),
                        Err(e) if e.is_retriable() => retry.push((i, e)),
                        Err(e) => results[i] = Some(Err(e)),
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            if last_round {
                self.client.events().log(Level::Error, || {
                    format!(
                        "{} messages not delivered after {} attempts: {}",
                        retry.len(),
                        attempt + 1,
                        retry[0].1
                    )
                });
                for (i, e) in retry {
                    results[i] = Some(Err(e));
                }
                break;
            }
            attempt += 1;
            self.client.events().log(Level::Warn, || {
                format!(
                    "{} messages failed with a retriable error ({}); retry {attempt} of {} in {} ms",
                    retry.len(),
                    retry[0].1,
                    self.opts.max_retries,
                    self.opts.retry_backoff.as_millis()
                )
            });
            tokio::time::sleep(self.opts.retry_backoff).await;
            let mut topics: Vec<&str> = retry.iter().map(|(i, _)| &*messages[*i].topic).collect();
            topics.sort_unstable();
            topics.dedup();
            // A failed refresh shows up as errors in the next round.
            let _ = self.client.refresh_metadata(Some(&topics)).await;
            pending = retry.into_iter().map(|(i, _)| i).collect();
            pending.sort_unstable();
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Closed)))
            .collect()
    }

    /// Cuts each partition's records into batches of at most `max_batch_bytes` (a record larger
    /// than that travels alone; the broker then decides).
    fn chunk<'a>(
        &self,
        messages: &[OutgoingMessage],
        parts: Vec<((&'a str, i32), Vec<usize>)>,
    ) -> Vec<Chunk<'a>> {
        let mut chunks = Vec::new();
        for ((topic, partition), indices) in parts {
            let mut current = Chunk {
                topic,
                partition,
                indices: Vec::new(),
                bytes: 0,
            };
            for i in indices {
                let size = estimated_size(&messages[i].record);
                if !current.indices.is_empty() && current.bytes + size > self.opts.max_batch_bytes {
                    let next = Chunk {
                        topic,
                        partition,
                        indices: Vec::new(),
                        bytes: 0,
                    };
                    chunks.push(std::mem::replace(&mut current, next));
                }
                current.indices.push(i);
                current.bytes += size;
            }
            chunks.push(current);
        }
        chunks
    }

    /// Sends one leader's batches, never two requests for the same partition at once: wave `k`
    /// carries the `k`-th batch of every partition (packed into requests sent concurrently),
    /// and the next wave starts when it is answered. A partition whose batch failed with a
    /// retriable error sends nothing more this round: its later batches fail with the same
    /// error, so the retry keeps them behind it and the partition's order holds.
    async fn send_to_leader<'a>(
        &self,
        leader: i32,
        messages: &[OutgoingMessage],
        partitions: &[Option<i32>],
        chunks: Vec<Chunk<'a>>,
    ) -> Vec<(usize, DeliveryResult)> {
        let mut out = Vec::new();
        let mut stopped: Vec<((&str, i32), Error)> = Vec::new();
        for wave in into_waves(chunks) {
            let mut sends = Vec::new();
            for chunk in wave {
                let key = (chunk.topic, chunk.partition);
                match stopped.iter().find(|(p, _)| *p == key) {
                    Some((_, e)) => out.extend(chunk.indices.iter().map(|&i| (i, Err(e.clone())))),
                    None => sends.push(chunk),
                }
            }
            let requests = self.pack(sends);
            let answered = join_all(
                requests
                    .into_iter()
                    .map(|r| self.send_request(leader, messages, r))
                    .collect(),
            )
            .await;
            for (i, res) in answered.into_iter().flatten() {
                if let (Err(e), Some(p)) = (&res, partitions[i]) {
                    let key = (&*messages[i].topic, p);
                    if e.is_retriable() && !stopped.iter().any(|(k, _)| *k == key) {
                        stopped.push((key, e.clone()));
                    }
                }
                out.push((i, res));
            }
        }
        out
    }

    /// Packs batches into requests of at most `max_request_bytes`; a partition appears at most
    /// once per request (brokers take one batch per partition per request).
    fn pack<'a>(&self, chunks: Vec<Chunk<'a>>) -> Vec<Vec<Chunk<'a>>> {
        let mut requests: Vec<(usize, Vec<Chunk<'a>>)> = Vec::new();
        for chunk in chunks {
            let slot = requests.iter_mut().find(|(bytes, cs)| {
                *bytes + chunk.bytes <= self.opts.max_request_bytes
                    && !cs
                        .iter()
                        .any(|c| c.topic == chunk.topic && c.partition == chunk.partition)
            });
            match slot {
                Some((bytes, cs)) => {
                    *bytes += chunk.bytes;
                    cs.push(chunk);
                }
                None => requests.push((chunk.bytes, vec![chunk])),
            }
        }
        requests.into_iter().map(|(_, cs)| cs).collect()
    }

    /// Sends one request and returns a result per message it carried.
    async fn send_request(
        &self,
        leader: i32,
        messages: &[OutgoingMessage],
        chunks: Vec<Chunk<'_>>,
    ) -> Vec<(usize, DeliveryResult)> {
        // Fails every chunk that was encoded (the others already failed in `early`).
        let all = |e: Error, encoded: &[bool], mut early: Vec<(usize, DeliveryResult)>| {
            for (c, _) in chunks.iter().zip(encoded).filter(|(_, ok)| **ok) {
                early.extend(c.indices.iter().map(|&i| (i, Err(e.clone()))));
            }
            early
        };
        // The records of each chunk, in order, borrowed from the caller.
        let batches: Vec<Vec<&ProduceRecord>> = chunks
            .iter()
            .map(|c| c.indices.iter().map(|&i| &messages[i].record).collect())
            .collect();
        let mut topics: Vec<ProduceTopic<'_, &ProduceRecord>> = Vec::new();
        let mut early: Vec<(usize, DeliveryResult)> = Vec::new();
        let mut encoded = vec![true; chunks.len()];
        for ((chunk, records), encoded) in chunks.iter().zip(&batches).zip(&mut encoded) {
            let part = match ProducePartition::new(
                chunk.partition,
                records,
                BatchIdentity::default(),
                self.opts.codec_for(records.len()),
            ) {
                Ok(p) => p,
                Err(e) => {
                    let err = Error::invalid("messages", e.to_string());
                    early.extend(chunk.indices.iter().map(|&i| (i, Err(err.clone()))));
                    *encoded = false;
                    continue;
                }
            };
            match topics.iter_mut().find(|t| t.name == chunk.topic) {
                Some(t) => t.partitions.push(part),
                None => topics.push(ProduceTopic {
                    name: chunk.topic,
                    partitions: vec![part],
                }),
            }
        }
        if topics.is_empty() {
            return early;
        }
        let req = ProduceRequest {
            transactional_id: None,
            acks: self.opts.acks,
            timeout_ms: self.opts.ack_timeout.as_millis().min(i32::MAX as u128) as i32,
            topics,
        };
        let conn = match self.client.broker(leader).await {
            Ok(c) => c,
            Err(e) => return all(e, &encoded, early),
        };
        if self.opts.acks == 0 {
            // Delivered means written to the socket. Chunks that failed to encode are already in
            // `early` as failures, and are not reported again.
            let sent = chunks.iter().zip(&encoded).filter(|(_, ok)| **ok);
            return match conn.send_without_response(&req).await {
                Ok(()) => {
                    let mut out = early;
                    for (chunk, _) in sent {
                        out.extend(chunk.indices.iter().map(|&i| {
                            let delivered = Delivered {
                                partition: chunk.partition,
                                offset: -1,
                            };
                            (i, Ok(delivered))
                        }));
                    }
                    out
                }
                Err(e) => all(e, &encoded, early),
            };
        }
        let resp = match conn.request_with_wait(&req, self.opts.ack_timeout).await {
            Ok(r) => r,
            Err(e) => return all(e, &encoded, early),
        };
        let mut out = early;
        for (chunk, _) in chunks.iter().zip(&encoded).filter(|(_, ok)| **ok) {
            let answer = resp
                .topics
                .iter()
                .filter(|t| t.name == chunk.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.index == chunk.partition);
            let res: Result<i64> = match answer {
                None => Err(Error::kafka(
                    ErrorCode::UNKNOWN_SERVER_ERROR,
                    format!("no answer for {}/{}", chunk.topic, chunk.partition),
                )),
                Some(p) if p.error_code == 0 => Ok(p.base_offset),
                Some(p) => {
                    let detail = p.error_message.clone().unwrap_or_default();
                    Err(Error::kafka(
                        ErrorCode(p.error_code),
                        format!("{}/{} {detail}", chunk.topic, chunk.partition)
                            .trim_end()
                            .to_string(),
                    ))
                }
            };
            match res {
                Ok(base) => out.extend(chunk.indices.iter().enumerate().map(|(k, &i)| {
                    (
                        i,
                        Ok(Delivered {
                            partition: chunk.partition,
                            offset: base + k as i64,
                        }),
                    )
                })),
                Err(e) => out.extend(chunk.indices.iter().map(|&i| (i, Err(e.clone())))),
            }
        }
        out
    }
}

/// Splits one leader's batches into waves: wave `k` holds the `k`-th batch of each partition, so
/// no wave has two batches of one partition.
fn into_waves(chunks: Vec<Chunk<'_>>) -> Vec<Vec<Chunk<'_>>> {
    let mut waves: Vec<Vec<Chunk<'_>>> = Vec::new();
    let mut seen: Vec<((&str, i32), usize)> = Vec::new();
    for chunk in chunks {
        let key = (chunk.topic, chunk.partition);
        let k = match seen.iter_mut().find(|(p, _)| *p == key) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                seen.push((key, 0));
                0
            }
        };
        if waves.len() <= k {
            waves.push(Vec::new());
        }
        waves[k].push(chunk);
    }
    waves
}

/// Upper-bound estimate of a record's encoded size, for batching.
fn estimated_size(r: &ProduceRecord) -> usize {
    let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len());
    let headers: usize = r
        .headers
        .iter()
        .map(|h| h.key.len() + len(&h.value) + 10)
        .sum();
    len(&r.key) + len(&r.value) + headers + 30
}

/// Runs futures concurrently on the current task and collects their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(topic: &str, partition: i32, first: usize) -> Chunk<'_> {
        Chunk {
            topic,
            partition,
            indices: vec![first, first + 1],
            bytes: 10,
        }
    }

    #[test]
    fn waves_never_hold_two_batches_of_one_partition_and_keep_their_order() {
        let chunks = vec![
            chunk("a", 0, 0),
            chunk("a", 0, 2),
            chunk("a", 1, 4),
            chunk("b", 0, 6),
            chunk("a", 0, 8),
            chunk("b", 0, 10),
        ];
        let waves = into_waves(chunks);
        let shape: Vec<Vec<(&str, i32, usize)>> = waves
            .iter()
            .map(|w| {
                w.iter()
                    .map(|c| (c.topic, c.partition, c.indices[0]))
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                vec![("a", 0, 0), ("a", 1, 4), ("b", 0, 6)],
                vec![("a", 0, 2), ("b", 0, 10)],
                vec![("a", 0, 8)],
            ]
        );
    }

    #[test]
    fn batches_below_the_compression_threshold_go_uncompressed() {
        let opts = ProduceOptions {
            compression: Compression::Zstd,
            compression_threshold: 10,
            ..ProduceOptions::default()
        };
        assert_eq!(opts.codec_for(1), Compression::None);
        assert_eq!(opts.codec_for(9), Compression::None);
        assert_eq!(opts.codec_for(10), Compression::Zstd);
        assert_eq!(opts.codec_for(500), Compression::Zstd);
        let every = ProduceOptions {
            compression: Compression::Gzip,
            ..ProduceOptions::default()
        };
        assert_eq!(every.codec_for(1), Compression::Gzip);
    }
}
