//! Producing: one pipeline behind every producer of the gem.
//!
//! [`BackgroundProducer`] ([`pipeline`]) takes messages without I/O and a sender task ships
//! them: [`accumulator`] (per-partition batches, triggers, in-flight rules, retries),
//! [`sender`] (metadata lookups, Produce requests, settling), [`delivery`] (one settle-once slot
//! per message), [`idempotence`] (producer id, epoch, sequences) and [`partitioner`]. The
//! Ruby async producer queues into it and returns; the synchronous calls (`deliver_messages`,
//! `deliver_message`) queue, flush and wait for their own messages, so concurrent callers share
//! batches.

pub mod accumulator;
pub mod delivery;
pub mod idempotence;
pub mod partitioner;
pub mod pipeline;
mod sender;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use delivery::{DeliveryGroup, Report, ReportQueue, ReportedMessage};
pub use partitioner::{Partitioner, RoundRobin};
pub use pipeline::{BackgroundProducer, PipelineOptions};

use crate::error::Error;
use crate::protocol::records::{Compression, ProduceRecord};

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
    /// Idempotent producing (needs `acks = -1`): see [`idempotence`]. Only the background
    /// producer ([`BackgroundProducer`]) honours it.
    pub idempotent: bool,
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
            idempotent: false,
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

#[cfg(test)]
mod tests {
    use super::*;

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
