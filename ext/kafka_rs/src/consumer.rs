//! `KafkaRs::Native::Consumer`: a consumer-group member ([`GroupConsumer`]) for Ruby. `poll`,
//! `commit` and `leave` wait with the GVL released; the rest is quick and keeps it. Keywords,
//! defaults, callbacks and the processing loop live in `lib/kafka_rs/consumer.rb`.
//!
//! The core consumer is built on the first `poll` (so the subscriptions' fetch sizes are known)
//! and belongs to one fork generation, as the producers' do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_rs_core::consumer::assignor::Assignor;
use kafka_rs_core::consumer::fetch::{FetchOptions, StartOffset};
use kafka_rs_core::consumer::group::{GroupConsumer, GroupOptions, Poll, SubscribedTopic};
use kafka_rs_core::consumer::prefetch::{PrefetchOptions, TopicPartition};
use kafka_rs_core::protocol::messages::fetch::IsolationLevel;
use kafka_rs_core::Error as CoreError;
use magnus::{
    function, method, prelude::*, Error, IntoValue, RArray, RModule, Ruby, TryConvert, Value,
};

use crate::client::{partition_to_ruby, secs, ClientHandle, NativeClient};
use crate::errors::{guard, to_ruby};
use crate::runtime::PerFork;
use crate::{args, gvl};

#[magnus::wrap(class = "KafkaRs::Native::Consumer", free_immediately, size)]
pub struct NativeConsumer {
    client: Arc<ClientHandle>,
    opts: GroupOptions,
    /// Subscribed topics with their fetch size per partition.
    topics: Mutex<Vec<(SubscribedTopic, i32)>>,
    consumer: PerFork<GroupConsumer>,
}

fn invalid(arg: &'static str, message: String) -> Error {
    to_ruby(CoreError::invalid(arg, message))
}

impl NativeConsumer {
    /// `Native::Consumer.new(client, [group_id, session_timeout, rebalance_timeout,
    /// heartbeat_interval, retention (negative: broker default), max_queued_chunks, assignor
    /// names, group_instance_id, isolation (0 uncommitted, 1 committed)])`, times in seconds.
    fn new(client: &NativeClient, settings: Value) -> Result<Self, Error> {
        let [group_id, session, rebalance, heartbeat, retention, max_chunks, assignors, instance, isolation] =
            args::fixed::<9>(settings)?;
        let assignors = args::vec_of(RArray::try_convert(assignors)?, |name| {
            let name = String::try_convert(name)?;
            Assignor::from_name(&name)
                .ok_or_else(|| invalid("assignment_strategy", format!("unknown assignor {name:?}")))
        })?;
        let retention = f64::try_convert(retention)?;
        let opts = GroupOptions {
            group_id: String::try_convert(group_id)?,
            session_timeout: secs("session_timeout", f64::try_convert(session)?)?,
            rebalance_timeout: secs("rebalance_timeout", f64::try_convert(rebalance)?)?,
            heartbeat_interval: secs("heartbeat_interval", f64::try_convert(heartbeat)?)?,
            retention: if retention < 0.0 {
                None
            } else {
                Some(secs("offset_retention_time", retention)?)
            },
            assignors,
            group_instance_id: Option::<String>::try_convert(instance)?,
            prefetch: PrefetchOptions {
                max_chunks: usize::try_convert(max_chunks)?.max(1),
                fetch: FetchOptions {
                    isolation_level: if i64::try_convert(isolation)? == 0 {
                        IsolationLevel::ReadUncommitted
                    } else {
                        IsolationLevel::ReadCommitted
                    },
                    ..FetchOptions::default()
                },
                ..PrefetchOptions::default()
            },
        };
        Ok(NativeConsumer {
            client: client.handle(),
            opts,
            topics: Mutex::new(Vec::new()),
            consumer: PerFork::default(),
        })
    }

    /// The core consumer, built on first use with the fetch settings of `poll`.
    fn core(
        &self,
        max_wait: Duration,
        min_bytes: i32,
        max_bytes: i32,
    ) -> Result<Arc<GroupConsumer>, Error> {
        let client = self.client.core()?;
        let topics = self
            .topics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(self.consumer.get_or_build(|| {
            let mut opts = self.opts.clone();
            let per_partition = topics.iter().map(|(_, b)| *b).max().unwrap_or(1_048_576);
            opts.prefetch.fetch.max_wait = max_wait;
            opts.prefetch.fetch.min_bytes = min_bytes;
            opts.prefetch.fetch.max_bytes = per_partition;
            opts.prefetch.max_bytes = (max_bytes as usize).max(per_partition as usize) * 4;
            let consumer = GroupConsumer::new(client, opts);
            consumer.subscribe(topics.into_iter().map(|(t, _)| t).collect());
            consumer
        }))
    }

    /// `subscribe([[topic, reset (-2 earliest, -1 latest), max_bytes_per_partition], ...])`:
    /// the whole subscription (a change makes the member join again).
    fn subscribe(&self, topics: RArray) -> Result<(), Error> {
        let topics = args::vec_of(topics, |t| {
            let [name, reset, max_bytes] = args::fixed::<3>(t)?;
            Ok((
                SubscribedTopic {
                    name: String::try_convert(name)?,
                    reset: if i64::try_convert(reset)? == -2 {
                        StartOffset::Earliest
                    } else {
                        StartOffset::Latest
                    },
                },
                i32::try_convert(max_bytes)?,
            ))
        })?;
        if let Some(c) = self.consumer.get() {
            c.subscribe(topics.iter().map(|(t, _)| t.clone()).collect());
        }
        *self.topics.lock().unwrap_or_else(|e| e.into_inner()) = topics;
        Ok(())
    }

    /// `poll(max_wait, min_bytes, max_bytes)`: runs the group protocol as needed and returns
    /// `[:revoked, [[topic, partition], ...]]`, `[:assigned, [...]]`, `[:batches, [[topic,
    /// partition, high_watermark, messages, next_offset], ...]]` or `[:idle, nil]`.
    fn poll(
        ruby: &Ruby,
        rb_self: &Self,
        max_wait: f64,
        min_bytes: i32,
        max_bytes: i32,
    ) -> Result<RArray, Error> {
        let wait = secs("max_wait_time", max_wait)?;
        let consumer = rb_self.core(wait, min_bytes, max_bytes)?;
        let max_chunks = rb_self.opts.prefetch.max_chunks;
        let polled = gvl::block_on(async move { consumer.poll(wait, max_chunks).await })?
            .map_err(to_ruby)?;
        guard(|| {
            let (kind, payload) = match polled {
                Poll::Revoked(tps) => ("revoked", partitions_to_ruby(ruby, &tps)?.as_value()),
                Poll::Assigned(tps) => ("assigned", partitions_to_ruby(ruby, &tps)?.as_value()),
                Poll::Chunks(chunks) => {
                    let out = ruby.ary_new_capa(chunks.len());
                    for chunk in &chunks {
                        out.push(partition_to_ruby(ruby, &chunk.data)?)?;
                    }
                    ("batches", out.as_value())
                }
                Poll::Idle => ("idle", ruby.qnil().as_value()),
            };
            Ok(ruby.ary_new_from_values(&[ruby.to_symbol(kind).as_value(), payload]))
        })
    }

    fn existing(&self) -> Option<Arc<GroupConsumer>> {
        self.consumer.get()
    }

    /// `mark(topic, partition, next_offset)`
    fn mark(&self, topic: String, partition: i32, next_offset: i64) {
        if let Some(c) = self.existing() {
            c.mark((Arc::from(topic.as_str()), partition), next_offset);
        }
    }

    /// `commit`: commits the marked offsets (GVL released).
    fn commit(&self) -> Result<(), Error> {
        let Some(c) = self.existing() else {
            return Ok(());
        };
        gvl::block_on(async move { c.commit().await })?.map_err(to_ruby)
    }

    /// `pause(topic, partition, position)`: `position` (or nil) is the first offset the app has
    /// not processed of the data it already took.
    fn pause(&self, topic: String, partition: i32, position: Option<i64>) -> bool {
        self.existing()
            .is_some_and(|c| c.pause(&(Arc::from(topic.as_str()), partition), position))
    }

    fn resume(&self, topic: String, partition: i32) -> bool {
        self.existing()
            .is_some_and(|c| c.resume(&(Arc::from(topic.as_str()), partition)))
    }

    fn is_paused(&self, topic: String, partition: i32) -> bool {
        self.existing()
            .is_some_and(|c| c.is_paused(&(Arc::from(topic.as_str()), partition)))
    }

    fn seek(&self, topic: String, partition: i32, offset: i64) -> bool {
        self.existing()
            .is_some_and(|c| c.seek(&(Arc::from(topic.as_str()), partition), offset))
    }

    /// `touch`: the app is making progress through the data it took (see
    /// [`GroupConsumer::touch`]).
    fn touch(&self) {
        if let Some(c) = self.existing() {
            c.touch();
        }
    }

    /// `interrupt`: wakes a `poll` waiting for data (safe from a signal handler).
    fn interrupt(&self) {
        if let Some(c) = self.existing() {
            c.interrupt();
        }
    }

    /// `leave`: leaves the group and stops fetching (GVL released).
    fn leave(&self) -> Result<(), Error> {
        let Some(c) = self.existing() else {
            return Ok(());
        };
        gvl::block_on(async move { c.leave().await })?.map_err(to_ruby)
    }

    /// `assignment`: `[[topic, partition], ...]`
    fn assignment(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        let tps = rb_self
            .existing()
            .map(|c| c.assignment())
            .unwrap_or_default();
        partitions_to_ruby(ruby, &tps)
    }
}

impl NativeConsumer {
    /// `fetch_stats`: `[full_fetches, incremental_fetches, session_resets]` of the prefetcher's
    /// fetch sessions.
    fn fetch_stats(&self) -> (u64, u64, u64) {
        let c = self
            .existing()
            .map(|c| c.fetch_session_counts())
            .unwrap_or_default();
        (c.full, c.incremental, c.resets)
    }
}

fn partitions_to_ruby(ruby: &Ruby, tps: &[TopicPartition]) -> Result<RArray, Error> {
    let out = ruby.ary_new_capa(tps.len());
    for (t, p) in tps {
        out.push(ruby.ary_new_from_values(&[ruby.str_new(t).as_value(), p.into_value_with(ruby)]))?;
    }
    Ok(out)
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Consumer", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeConsumer::new, 2))?;
    class.define_method("subscribe", method!(NativeConsumer::subscribe, 1))?;
    class.define_method("poll", method!(NativeConsumer::poll, 3))?;
    class.define_method("mark", method!(NativeConsumer::mark, 3))?;
    class.define_method("commit", method!(NativeConsumer::commit, 0))?;
    class.define_method("pause", method!(NativeConsumer::pause, 3))?;
    class.define_method("resume", method!(NativeConsumer::resume, 2))?;
    class.define_method("paused?", method!(NativeConsumer::is_paused, 2))?;
    class.define_method("seek", method!(NativeConsumer::seek, 3))?;
    class.define_method("interrupt", method!(NativeConsumer::interrupt, 0))?;
    class.define_method("touch", method!(NativeConsumer::touch, 0))?;
    class.define_method("leave", method!(NativeConsumer::leave, 0))?;
    class.define_method("assignment", method!(NativeConsumer::assignment, 0))?;
    class.define_method("fetch_stats", method!(NativeConsumer::fetch_stats, 0))?;
    Ok(())
}
