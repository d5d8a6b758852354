//! `KafkaRs::Native::Producer`: delivers a batch of buffered messages in one call (one GVL
//! release for the whole batch). The buffer itself, its limits and `DeliveryFailed` live in
//! `lib/kafka_rs/producer.rb`.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_rs_core::producer::{OutgoingMessage, Partitioner, ProduceOptions, Producer};
use kafka_rs_core::protocol::records::{Compression, ProduceRecord, RecordHeader};
use kafka_rs_core::Error as CoreError;
use magnus::{
    function, method, prelude::*, Error, IntoValue, RArray, RHash, RModule, RString, Ruby,
    TryConvert, Value,
};

use crate::client::{ClientHandle, NativeClient};
use crate::errors::{guard, to_ruby, to_ruby_exception};
use crate::runtime::PerFork;
use crate::{args, gvl};

#[magnus::wrap(class = "KafkaRs::Native::Producer", free_immediately, size)]
pub struct NativeProducer {
    client: Arc<ClientHandle>,
    opts: ProduceOptions,
    /// The core producer of this process (rebuilt after a fork).
    producer: PerFork<Producer>,
}

fn invalid(arg: &'static str, message: String) -> Error {
    to_ruby(CoreError::invalid(arg, message))
}

/// The produce settings both native producers take, as Ruby passes them.
struct ProduceSettings {
    acks: i16,
    ack_timeout: f64,
    /// -1: retry until the delivery timeout (background producer only).
    max_retries: i64,
    retry_backoff: f64,
    partitioner: String,
    compression: String,
    compression_threshold: usize,
    auto_create_topics: bool,
}

impl ProduceSettings {
    /// Checked options, and whether retries are unlimited.
    fn into_options(self) -> Result<(ProduceOptions, bool), Error> {
        let secs = |arg, s: f64| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| invalid(arg, format!("{s} is not a valid number of seconds")))
        };
        let partitioner = match self.partitioner.as_str() {
            "crc32" => Partitioner::Crc32,
            "murmur2" => Partitioner::Murmur2,
            other => {
                return Err(invalid(
                    "partitioner",
                    format!("unknown partitioner {other:?}"),
                ))
            }
        };
        let compression = match self.compression.as_str() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            "zstd" => Compression::Zstd,
            other => {
                return Err(invalid(
                    "compression_codec",
                    format!("unknown codec {other:?}"),
                ))
            }
        };
        if !matches!(self.acks, -1..=1) {
            return Err(invalid(
                "required_acks",
                format!("{} is not one of -1 (all), 0 or 1", self.acks),
            ));
        }
        let unlimited = self.max_retries < 0;
        let max_retries = u32::try_from(self.max_retries.max(0))
            .map_err(|_| invalid("max_retries", format!("{} is too large", self.max_retries)))?;
        let opts = ProduceOptions {
            acks: self.acks,
            ack_timeout: secs("ack_timeout", self.ack_timeout)?,
            max_retries,
            retry_backoff: secs("retry_backoff", self.retry_backoff)?,
            partitioner,
            compression,
            compression_threshold: self.compression_threshold.max(1),
            auto_create_topics: self.auto_create_topics,
            ..ProduceOptions::default()
        };
        Ok((opts, unlimited))
    }
}

/// Parses `[acks, ack_timeout, max_retries, retry_backoff, partitioner, compression,
/// compression_threshold, auto_create_topics]` (see `Native::Producer.new`; `max_retries` may
/// be -1: unlimited). Returns the options and whether retries are unlimited.
pub(crate) fn produce_options(settings: Value) -> Result<(ProduceOptions, bool), Error> {
    let [acks, ack_timeout, max_retries, retry_backoff, partitioner, compression, threshold, auto_create] =
        args::fixed::<8>(settings)?;
    ProduceSettings {
        acks: i16::try_convert(acks)?,
        ack_timeout: f64::try_convert(ack_timeout)?,
        max_retries: i64::try_convert(max_retries)?,
        retry_backoff: f64::try_convert(retry_backoff)?,
        partitioner: String::try_convert(partitioner)?,
        compression: String::try_convert(compression)?,
        compression_threshold: usize::try_convert(threshold)?,
        auto_create_topics: bool::try_convert(auto_create)?,
    }
    .into_options()
}

impl NativeProducer {
    /// `Native::Producer.new(client, acks, ack_timeout, max_retries, retry_backoff, partitioner,
    /// compression, compression_threshold, auto_create_topics)`; `partitioner` is `"crc32"` or
    /// `"murmur2"`, `compression` `"none"`, `"gzip"`, `"snappy"`, `"lz4"` or `"zstd"`; batches
    /// with fewer than `compression_threshold` records go uncompressed; `auto_create_topics`
    /// asks the broker to create missing topics (where it allows that).
    #[allow(clippy::too_many_arguments)]
    fn new(
        client: &NativeClient,
        acks: i16,
        ack_timeout: f64,
        max_retries: u32,
        retry_backoff: f64,
        partitioner: String,
        compression: String,
        compression_threshold: usize,
        auto_create_topics: bool,
    ) -> Result<Self, Error> {
        let settings = ProduceSettings {
            acks,
            ack_timeout,
            max_retries: i64::from(max_retries),
            retry_backoff,
            partitioner,
            compression,
            compression_threshold,
            auto_create_topics,
        };
        let (opts, _) = settings.into_options()?;
        Ok(NativeProducer {
            client: client.handle(),
            opts,
            producer: PerFork::default(),
        })
    }

    fn core(&self) -> Result<Arc<Producer>, Error> {
        let client = self.client.core()?;
        Ok(self
            .producer
            .get_or_build(|| Producer::new(client, self.opts.clone())))
    }

    /// `deliver(messages)`: each message is `[value, key, topic, partition, partition_key,
    /// headers, timestamp_ms]`. Returns one entry per message: `[partition, offset]` when
    /// delivered, or the exception that failed it.
    fn deliver(ruby: &Ruby, rb_self: &Self, messages: RArray) -> Result<RArray, Error> {
        let producer = rb_self.core()?;
        let outgoing = guard(|| {
            let mut converter = Converter::new();
            args::vec_of(messages, |entry| converter.message(entry))
        })?;
        let results = gvl::block_on(async move { producer.deliver(&outgoing).await })?;
        let out = ruby.ary_new_capa(results.len());
        for r in results {
            match r {
                Ok(d) => out.push(ruby.ary_new_from_values(&[
                    d.partition.into_value_with(ruby),
                    d.offset.into_value_with(ruby),
                ]))?,
                Err(e) => out.push(to_ruby_exception(e))?,
            }
        }
        Ok(out)
    }
}

impl NativeProducer {
    /// `partition_count(topic)`: the topic's number of partitions as this producer sees it
    /// (creating the topic where the producer and the broker allow it), for partitioners
    /// written in Ruby.
    fn partition_count(&self, topic: String) -> Result<usize, Error> {
        let producer = self.core()?;
        gvl::block_on(async move {
            let auto_create = producer.options().auto_create_topics;
            producer
                .client()
                .topic_with(&topic, auto_create)
                .await
                .map(|t| t.partitions.len())
        })?
        .map_err(to_ruby)
    }
}

/// Converts a batch of entries. Keys and values are copied into shared arenas (one allocation
/// per `ARENA_BYTES` instead of one per field) and each topic name is stored once.
pub(crate) struct Converter {
    arena: BytesMut,
    topics: Vec<Arc<str>>,
}

const ARENA_BYTES: usize = 64 * 1024;

impl Converter {
    pub(crate) fn new() -> Self {
        Converter {
            arena: BytesMut::new(),
            topics: Vec::new(),
        }
    }

    fn bytes(&mut self, s: Option<RString>) -> Option<Bytes> {
        // SAFETY: the slice is copied before any Ruby code can run and change the string.
        let s = s?;
        let slice = unsafe { s.as_slice() };
        if slice.len() > ARENA_BYTES / 4 {
            return Some(Bytes::copy_from_slice(slice));
        }
        if self.arena.capacity() - self.arena.len() < slice.len() {
            self.arena = BytesMut::with_capacity(ARENA_BYTES);
        }
        self.arena.extend_from_slice(slice);
        Some(self.arena.split().freeze())
    }

    fn topic(&mut self, s: RString) -> Result<Arc<str>, Error> {
        // SAFETY: compared and copied before any Ruby code runs.
        let name = unsafe { s.as_str()? };
        if let Some(t) = self.topics.iter().rev().find(|t| &***t == name) {
            return Ok(t.clone());
        }
        let t: Arc<str> = Arc::from(name);
        self.topics.push(t.clone());
        Ok(t)
    }

    /// A buffered message as Ruby passes it: `[value, key, topic, partition, partition_key,
    /// headers, timestamp_ms]`.
    pub(crate) fn message(&mut self, entry: Value) -> Result<OutgoingMessage, Error> {
        // Copied out of the entry before any is converted: a conversion (`to_str`, `to_int`) may
        // run Ruby code that changes the entry (see `args`).
        let [value, key, topic, partition, partition_key, headers, timestamp_ms] =
            args::fixed::<7>(entry)?;
        let value = Option::<RString>::try_convert(value)?;
        let key = Option::<RString>::try_convert(key)?;
        let topic = RString::try_convert(topic)?;
        let partition = Option::<i32>::try_convert(partition)?;
        let partition_key = Option::<RString>::try_convert(partition_key)?;
        let headers = Option::<RHash>::try_convert(headers)?;
        let timestamp_ms = i64::try_convert(timestamp_ms)?;
        let mut record_headers = Vec::new();
        if let Some(h) = headers {
            record_headers.reserve(h.len());
            h.foreach(|k: RString, v: Option<RString>| {
                record_headers.push(RecordHeader {
                    key: k.to_string()?,
                    value: self.bytes(v),
                });
                Ok(magnus::r_hash::ForEach::Continue)
            })?;
        }
        Ok(OutgoingMessage {
            topic: self.topic(topic)?,
            partition,
            partition_key: self.bytes(partition_key),
            record: ProduceRecord {
                key: self.bytes(key),
                value: self.bytes(value),
                headers: record_headers,
                timestamp_ms,
            },
        })
    }
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Producer", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeProducer::new, 9))?;
    class.define_method("deliver", method!(NativeProducer::deliver, 1))?;
    class.define_method(
        "partition_count",
        method!(NativeProducer::partition_count, 1),
    )?;
    Ok(())
}
