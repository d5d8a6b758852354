//! `KafkaRs::Native::AsyncProducer`: the core [`BackgroundProducer`] for Ruby. `produce` and
//! `produce_many` only queue (the GVL is kept: no I/O, no wait); `flush` and `close` wait with the
//! GVL released. Keywords, defaults and ruby-kafka's semantics live in
//! `lib/kafka_rs/async_producer.rb`.
//!
//! The core producer belongs to one fork generation: a forked child builds its own on first use
//! and leaks the parent's (never dropped there, as [`crate::runtime`] requires), so messages
//! queued in the parent are never sent by a child.

use std::sync::Arc;

use kafka_rs_core::producer::{BackgroundProducer, PipelineOptions, ProduceOptions};
use magnus::{function, method, prelude::*, Error, IntoValue, RArray, RModule, Ruby, Value};

use crate::client::{secs, ClientHandle, NativeClient};
use crate::delivery_handle::NativeDeliveryGroup;
use crate::errors::{guard, to_ruby, to_ruby_exception};
use crate::producer::{produce_options, Converter};
use crate::runtime::PerFork;
use crate::{args, gvl};

#[magnus::wrap(class = "KafkaRs::Native::AsyncProducer", free_immediately, size)]
pub struct NativeAsyncProducer {
    client: Arc<ClientHandle>,
    opts: PipelineOptions,
    /// Dropped in its own process, the core producer's sender finishes what is queued (the
    /// Ruby layer shuts producers down explicitly, and at exit).
    producer: PerFork<BackgroundProducer>,
    /// The topic of the last message produced (its name is shared, not copied, by the next).
    last_topic: std::sync::Mutex<Option<Arc<str>>>,
}

impl NativeAsyncProducer {
    /// `Native::AsyncProducer.new(client, produce_options, linger, max_batch_records,
    /// max_queue_messages, max_queue_bytes, delivery_timeout)`. `produce_options` is the settings
    /// Array `Native::Producer.new` takes too (see [`produce_options`]); `max_retries` -1 retries
    /// until the delivery timeout. `linger` is seconds, or a
    /// negative number for no timed sending (batches go when full or flushed).
    fn new(
        client: &NativeClient,
        produce: Value,
        linger: f64,
        max_batch_records: usize,
        max_queue_messages: usize,
        max_queue_bytes: usize,
        delivery_timeout: f64,
    ) -> Result<Self, Error> {
        let (produce, unlimited_retries): (ProduceOptions, bool) = produce_options(produce)?;
        let opts = PipelineOptions {
            produce,
            linger: if linger < 0.0 {
                None
            } else {
                Some(secs("linger", linger)?)
            },
            max_batch_records,
            max_queue_messages: max_queue_messages.max(1),
            max_queue_bytes: max_queue_bytes.max(1),
            delivery_timeout: secs("delivery_timeout", delivery_timeout)?,
            unlimited_retries,
            ..PipelineOptions::default()
        };
        Ok(NativeAsyncProducer {
            client: client.handle(),
            opts,
            producer: PerFork::default(),
            last_topic: std::sync::Mutex::new(None),
        })
    }

    fn core(&self) -> Result<Arc<BackgroundProducer>, Error> {
        let client = self.client.core()?;
        Ok(self
            .producer
            .get_or_build(|| BackgroundProducer::new(client, self.opts.clone())))
    }

    /// `produce(entry, want_handle)`: queues one `[value, key, topic, partition, partition_key,
    /// headers, timestamp_ms]` entry; returns its `Native::DeliveryGroup` when asked, else nil.
    /// Raises `KafkaRs::BufferOverflow` when the queue is full (nothing queued).
    fn produce(
        &self,
        entry: Value,
        want_handle: bool,
    ) -> Result<Option<NativeDeliveryGroup>, Error> {
        let producer = self.core()?;
        // Not locked while converting: a conversion may run Ruby code (`to_str`), which may
        // switch to another thread that produces too.
        let known = self
            .last_topic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut converter = Converter::single_knowing(known);
        let message = guard(|| converter.message(entry))?;
        *self.last_topic.lock().unwrap_or_else(|e| e.into_inner()) = converter.last_topic();
        if !want_handle {
            producer.enqueue_untracked(vec![message]).map_err(to_ruby)?;
            return Ok(None);
        }
        let group = producer.enqueue(vec![message]).map_err(to_ruby)?;
        Ok(Some(NativeDeliveryGroup::new(group)))
    }

    /// `produce_many(entries)`: queues every entry in one call (all or none) and returns one
    /// `Native::DeliveryGroup` holding their outcomes, in order.
    fn produce_many(&self, entries: Value) -> Result<NativeDeliveryGroup, Error> {
        let producer = self.core()?;
        let messages = guard(|| {
            let mut converter = Converter::new();
            args::vec_of(RArray::try_convert(entries)?, |entry| {
                converter.message(entry)
            })
        })?;
        let group = producer.enqueue(messages).map_err(to_ruby)?;
        Ok(NativeDeliveryGroup::new(group))
    }

    /// `flush_now`: ships every queued batch now, whatever linger says (no wait).
    fn flush_now(&self) -> Result<(), Error> {
        self.core()?.flush_now();
        Ok(())
    }

    /// `flush(timeout)`: ships everything and waits until every message is settled; false if
    /// `timeout` seconds passed first.
    fn flush(&self, timeout: f64) -> Result<bool, Error> {
        let producer = self.core()?;
        let timeout = secs("timeout", timeout)?;
        gvl::block_on(async move { producer.flush(timeout).await })
    }

    /// `close(timeout)`: stops taking messages, delivers what is queued within `timeout`, fails
    /// the rest; returns how many failed so.
    fn close(&self, timeout: f64) -> Result<usize, Error> {
        // Also after the client was closed: what is still queued is failed and counted.
        let producer = match self.producer.get() {
            Some(p) => p,
            None => self.core()?,
        };
        let timeout = secs("timeout", timeout)?;
        gvl::block_on(async move { producer.close(timeout).await })
    }

    /// `report_failures_only = true/false`: whether [`Self::reports`] hands over failed messages
    /// only (a delivered message is then not queued at all) or every settled message.
    fn set_report_failures_only(&self, on: bool) -> Result<(), Error> {
        self.core()?.reports().set_failures_only(on);
        Ok(())
    }

    /// `reports(max, timeout)`: waits up to `timeout` seconds (GVL released) for reports of
    /// settled messages and returns up to `max` of them, each `[topic, partition, offset,
    /// timestamp_ms, error, value, key, headers]` (`error` nil when delivered, `offset` nil
    /// when failed). Returns nil once the producer is closed and every
    /// message is settled and reported. Messages queued before the first call are not reported.
    fn reports(ruby: &Ruby, rb_self: &Self, max: usize, timeout: f64) -> Result<Value, Error> {
        let producer = rb_self.core()?;
        let queue = producer.reports();
        let timeout = secs("timeout", timeout)?;
        let reports = gvl::block_on(async move { queue.take(max.max(1), timeout).await })?;
        if reports.is_empty() && producer.is_closed() && producer.outstanding() == 0 {
            return Ok(ruby.qnil().as_value());
        }
        let out = ruby.ary_new_capa(reports.len());
        for r in reports {
            let (offset, error) = match r.result {
                Ok(d) => (d.offset.into_value_with(ruby), ruby.qnil().as_value()),
                Err(e) => (ruby.qnil().as_value(), to_ruby_exception(e)),
            };
            let (value, key, headers) = match r.message {
                None => (
                    ruby.qnil().as_value(),
                    ruby.qnil().as_value(),
                    ruby.qnil().as_value(),
                ),
                Some(m) => {
                    let bytes = |b: Option<bytes::Bytes>| match b {
                        Some(b) => ruby.str_from_slice(&b).as_value(),
                        None => ruby.qnil().as_value(),
                    };
                    let headers = ruby.hash_new();
                    for h in m.headers {
                        headers.aset(ruby.str_new(&h.key), bytes(h.value))?;
                    }
                    (bytes(m.value), bytes(m.key), headers.as_value())
                }
            };
            out.push(ruby.ary_new_from_values(&[
                ruby.str_new(&r.topic).as_value(),
                r.partition.into_value_with(ruby),
                offset,
                r.timestamp_ms.into_value_with(ruby),
                error,
                value,
                key,
                headers,
            ]))?;
        }
        Ok(out.as_value())
    }

    /// `outstanding`: messages queued or in flight, not yet settled.
    fn outstanding(&self) -> Result<usize, Error> {
        match self.producer.get() {
            Some(p) => Ok(p.outstanding()),
            None => Ok(self.core()?.outstanding()),
        }
    }
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("AsyncProducer", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeAsyncProducer::new, 7))?;
    class.define_method("produce", method!(NativeAsyncProducer::produce, 2))?;
    class.define_method(
        "produce_many",
        method!(NativeAsyncProducer::produce_many, 1),
    )?;
    class.define_method("flush_now", method!(NativeAsyncProducer::flush_now, 0))?;
    class.define_method("flush", method!(NativeAsyncProducer::flush, 1))?;
    class.define_method("close", method!(NativeAsyncProducer::close, 1))?;
    class.define_method("outstanding", method!(NativeAsyncProducer::outstanding, 0))?;
    class.define_method("reports", method!(NativeAsyncProducer::reports, 2))?;
    class.define_method(
        "report_failures_only=",
        method!(NativeAsyncProducer::set_report_failures_only, 1),
    )?;
    Ok(())
}
