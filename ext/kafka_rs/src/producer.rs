//! `KafkaRs::Native::Producer`: delivers a batch of buffered messages in one call (one GVL
//! release for the whole batch) through its own core [`BackgroundProducer`], which ships them at
//! once (no linger) and settles each. Calls from several threads share that pipeline, so
//! messages that arrive while a request is in flight go out together in the next one
//! (`Client#deliver_message` from many Puma threads). The buffer itself, its limits and
//! `DeliveryFailed` live in `lib/kafka_rs/producer.rb`.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_rs_core::producer::{
    BackgroundProducer, OutgoingMessage, Partitioner, PipelineOptions, ProduceOptions,
};
use kafka_rs_core::protocol::records::{Compression, ProduceRecord, RecordHeader};
use kafka_rs_core::Error as CoreError;
use magnus::{
    function, method, prelude::*, Error, IntoValue, RArray, RHash, RModule, RString, Ruby,
    TryConvert, Value,
};

use crate::client::{secs, ClientHandle, NativeClient};
use crate::errors::{guard, to_ruby, to_ruby_exception};
use crate::runtime::PerFork;
use crate::{args, gvl};

#[magnus::wrap(class = "KafkaRs::Native::Producer", free_immediately, size)]
pub struct NativeProducer {
    client: Arc<ClientHandle>,
    opts: PipelineOptions,
    /// The core producer of this process (rebuilt after a fork).
    producer: PerFork<BackgroundProducer>,
}

fn invalid(arg: &'static str, message: String) -> Error {
    to_ruby(CoreError::invalid(arg, message))
}

/// Parses the settings both native producers take: `[acks, ack_timeout, max_retries,
/// retry_backoff, partitioner, compression, compression_threshold, auto_create_topics,
/// idempotent]`.
/// `partitioner` is `"crc32"` or `"murmur2"`; `compression` `"none"`, `"gzip"`, `"snappy"`,
/// `"lz4"` or `"zstd"`; batches with fewer than `compression_threshold` records go
/// uncompressed; `auto_create_topics` asks the broker to create missing topics (where it allows
/// that); `max_retries` -1 means unlimited; `idempotent` needs `acks` -1. Returns the options and whether retries are
/// unlimited.
pub(crate) fn produce_options(settings: Value) -> Result<(ProduceOptions, bool), Error> {
    let [acks, ack_timeout, max_retries, retry_backoff, partitioner, compression, threshold, auto_create, idempotent] =
        args::fixed::<9>(settings)?;
    let acks = i16::try_convert(acks)?;
    if !matches!(acks, -1..=1) {
        return Err(invalid(
            "required_acks",
            format!("{acks} is not one of -1 (all), 0 or 1"),
        ));
    }
    let partitioner = match String::try_convert(partitioner)?.as_str() {
        "crc32" => Partitioner::Crc32,
        "murmur2" => Partitioner::Murmur2,
        other => {
            return Err(invalid(
                "partitioner",
                format!("unknown partitioner {other:?}"),
            ))
        }
    };
    let compression = match String::try_convert(compression)?.as_str() {
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
    let idempotent = bool::try_convert(idempotent)?;
    if idempotent && acks != -1 {
        return Err(invalid(
            "idempotent",
            format!("needs required_acks :all, got {acks}"),
        ));
    }
    let max_retries = i64::try_convert(max_retries)?;
    let unlimited = max_retries < 0;
    let opts = ProduceOptions {
        acks,
        ack_timeout: secs("ack_timeout", f64::try_convert(ack_timeout)?)?,
        max_retries: u32::try_from(max_retries.max(0))
            .map_err(|_| invalid("max_retries", format!("{max_retries} is too large")))?,
        retry_backoff: secs("retry_backoff", f64::try_convert(retry_backoff)?)?,
        partitioner,
        compression,
        compression_threshold: usize::try_convert(threshold)?.max(1),
        auto_create_topics: bool::try_convert(auto_create)?,
        idempotent,
        ..ProduceOptions::default()
    };
    Ok((opts, unlimited))
}

impl NativeProducer {
    /// `Native::Producer.new(client, settings)`, `settings` as [`produce_options`] reads them
    /// (`max_retries` at least 0 here).
    fn new(client: &NativeClient, settings: Value) -> Result<Self, Error> {
        let (opts, unlimited) = produce_options(settings)?;
        if unlimited {
            return Err(invalid("max_retries", "must be 0 or more".to_owned()));
        }
        // The Ruby buffer bounds what one call hands over; the pipeline only has to hold the
        // calls in progress. Retries are counted (`max_retries`); the delivery timeout is the
        // Java client's outer bound.
        let opts = PipelineOptions {
            produce: opts,
            linger: None,
            max_batch_records: 0,
            max_queue_messages: usize::MAX / 4,
            max_queue_bytes: usize::MAX / 4,
            delivery_timeout: std::time::Duration::from_secs(120),
            unlimited_retries: false,
            // One request per broker at a time: calls that arrive meanwhile share the next one.
            max_requests_per_leader: 1,
        };
        Ok(NativeProducer {
            client: client.handle(),
            opts,
            producer: PerFork::default(),
        })
    }

    fn core(&self) -> Result<Arc<BackgroundProducer>, Error> {
        let client = self.client.core()?;
        Ok(self
            .producer
            .get_or_build(|| BackgroundProducer::new(client, self.opts.clone())))
    }

    /// `deliver(messages)`: each message is `[value, key, topic, partition, partition_key,
    /// headers, timestamp_ms]`. Returns one entry per message: `[partition, offset]` when
    /// delivered, or the exception that failed it.
    fn deliver(ruby: &Ruby, rb_self: &Self, messages: RArray) -> Result<RArray, Error> {
        let producer = rb_self.core()?;
        let outgoing = guard(|| {
            // One message (`deliver_message`) gets no 64 KB arena.
            let mut converter = if messages.len() == 1 {
                Converter::single()
            } else {
                Converter::new()
            };
            args::vec_of(messages, |entry| converter.message(entry))
        })?;
        let count = outgoing.len();
        let group =
            gvl::block_on(async move { producer.deliver(outgoing).await })?.map_err(to_ruby)?;
        let out = ruby.ary_new_capa(count);
        for index in 0..count {
            match group.get(index) {
                Some(Ok(d)) => out.push(ruby.ary_new_from_values(&[
                    d.partition.into_value_with(ruby),
                    d.offset.into_value_with(ruby),
                ]))?,
                Some(Err(e)) => out.push(to_ruby_exception(e.clone()))?,
                // `deliver` returns once every message is settled; never reached.
                None => out.push(to_ruby_exception(CoreError::Closed))?,
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
            let auto_create = producer.options().produce.auto_create_topics;
            producer
                .client()
                .topic_with(&topic, auto_create)
                .await
                .map(|t| t.partitions.len())
        })?
        .map_err(to_ruby)
    }
}

/// Converts entries. For a batch, keys and values are copied into shared arenas (one
/// allocation per `ARENA_BYTES` instead of one per field) and each topic name is stored once.
pub(crate) struct Converter {
    arena: BytesMut,
    /// Size of a fresh arena; 0: every field gets its own allocation.
    arena_bytes: usize,
    topics: Vec<Arc<str>>,
}

const ARENA_BYTES: usize = 64 * 1024;

impl Converter {
    /// For a batch of entries, converted and delivered together.
    pub(crate) fn new() -> Self {
        Converter {
            arena: BytesMut::new(),
            arena_bytes: ARENA_BYTES,
            topics: Vec::new(),
        }
    }

    /// For one entry that may stay queued on its own: no arena, whose unused rest would stay
    /// allocated as long as the message is queued.
    pub(crate) fn single() -> Self {
        Converter {
            arena_bytes: 0,
            ..Converter::new()
        }
    }

    /// [`single`](Self::single), knowing `topic` (the topic of the previous message), so a
    /// message to the same topic shares its name instead of allocating a copy.
    pub(crate) fn single_knowing(topic: Option<Arc<str>>) -> Self {
        Converter {
            topics: topic.into_iter().collect(),
            ..Converter::single()
        }
    }

    /// The topic of the last message converted.
    pub(crate) fn last_topic(&self) -> Option<Arc<str>> {
        self.topics.last().cloned()
    }

    fn bytes(&mut self, s: Option<RString>) -> Option<Bytes> {
        // SAFETY: the slice is copied before any Ruby code can run and change the string.
        let s = s?;
        let slice = unsafe { s.as_slice() };
        if slice.len() > self.arena_bytes / 4 {
            return Some(Bytes::copy_from_slice(slice));
        }
        if self.arena.capacity() - self.arena.len() < slice.len() {
            self.arena = BytesMut::with_capacity(self.arena_bytes);
        }
        self.arena.extend_from_slice(slice);
        Some(self.arena.split().freeze())
    }

    fn topic(&mut self, s: RString) -> Result<Arc<str>, Error> {
        // SAFETY: compared and copied before any Ruby code runs.
        let name = unsafe { s.as_str()? };
        if let Some(k) = self.topics.iter().rposition(|t| &**t == name) {
            // Keep the latest at the end (see `last_topic`).
            let t = self.topics.remove(k);
            self.topics.push(t.clone());
            return Ok(t);
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
                    // Any String whose bytes are UTF-8, whatever its encoding tag (a binary
                    // String from a socket or a file is common; ruby-kafka takes it).
                    // SAFETY: copied before any Ruby code runs.
                    key: String::from_utf8(unsafe { k.as_slice() }.to_vec()).map_err(|_| {
                        invalid("headers", "a header key is not valid UTF-8".to_owned())
                    })?,
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
    class.define_singleton_method("new", function!(NativeProducer::new, 2))?;
    class.define_method("deliver", method!(NativeProducer::deliver, 1))?;
    class.define_method(
        "partition_count",
        method!(NativeProducer::partition_count, 1),
    )?;
    Ok(())
}
