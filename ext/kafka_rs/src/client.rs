//! `KafkaRs::Native::Client`: a core [`Client`] for Ruby, with positional arguments. Keyword
//! arguments, defaults and validation live in `lib/kafka_rs/client.rb`.
//!
//! The core client is rebuilt lazily in a forked child: the parent's client (its sockets and the
//! tasks of the parent's runtime) is leaked there, never dropped, as [`crate::runtime`] requires.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use kafka_rs_core::admin::{AlterMode, ConfigChange, ConfigResource, NewTopic};
use kafka_rs_core::connection::sasl::SaslConfig;
use kafka_rs_core::connection::{sockets, BrokerAddr, ConnectionConfig};
use kafka_rs_core::consumer::{FetchOptions, FetchedPartition, PartitionCursor, StartOffset};
use kafka_rs_core::log::Level;
use kafka_rs_core::protocol::records::FetchedRecord;
use kafka_rs_core::{Client, ClientConfig, Error as CoreError};
use magnus::scan_args::scan_args;
use magnus::value::{Lazy, ReprValue};
use magnus::{
    function, method, prelude::*, Error, IntoValue, RArray, RClass, RHash, RModule, RString, Ruby,
    Value,
};

use crate::errors::{guard, to_ruby};
use crate::runtime;
use crate::{args, gvl, tls};

/// The core client of this process, shared by a Ruby client and the producers it made.
pub struct ClientHandle {
    config: ClientConfig,
    state: Mutex<ClientState>,
    /// Set once, before the first core client is built (see [`crate::sasl`]).
    pub(crate) sasl: OnceLock<SaslConfig>,
}

#[derive(Default)]
struct ClientState {
    generation: u64,
    client: Option<Client>,
    closed: bool,
    /// Applied to every core client this handle builds (`None`: logging off).
    log_level: Option<Level>,
    /// Request timing records on (see [`kafka_rs_core::log::RequestRecord`]), for every core
    /// client this handle builds.
    requests: bool,
}

/// `[broker, api_key, group_id, request_size, response_size, started, duration, error_code,
/// transport_error]` (times as seconds: since the epoch, and elapsed), as `drain_requests` hands a
/// request record to Ruby.
type RequestRow = (
    String,
    i16,
    Option<String>,
    usize,
    usize,
    f64,
    f64,
    Option<i16>,
    Option<String>,
);

impl Drop for ClientState {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if !runtime::is_current(self.generation) {
                std::mem::forget(client);
            }
        }
    }
}

impl ClientHandle {
    /// The core client for this process: built on first use and again after a fork.
    pub fn core(&self) -> Result<Client, Error> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.closed {
            return Err(to_ruby(CoreError::Closed));
        }
        if let Some(client) = &st.client {
            if runtime::is_current(st.generation) {
                return Ok(client.clone());
            }
        }
        // A client of an earlier generation: this is a forked child. Leaked, never dropped.
        let forked = match st.client.take() {
            Some(parent_client) => {
                std::mem::forget(parent_client);
                true
            }
            None => false,
        };
        let _context = runtime::runtime().enter();
        let mut config = self.config.clone();
        config.connection.sasl = self.sasl.get().cloned();
        let client = Client::new(config).map_err(to_ruby)?;
        client.events().set_level(st.log_level);
        client.events().set_requests(st.requests);
        if forked {
            client.events().log(Level::Debug, || {
                format!(
                    "forked: new connections for this process ({} broker sockets inherited from \
                     the parent were released at the fork)",
                    sockets::released_after_fork()
                )
            });
        }
        st.generation = runtime::generation();
        st.client = Some(client.clone());
        Ok(client)
    }

    fn set_log_level(&self, level: Option<Level>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.log_level = level;
        if let Some(client) = &st.client {
            if runtime::is_current(st.generation) {
                client.events().set_level(level);
            }
        }
    }

    fn drain_log(&self) -> Vec<(u8, String)> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &st.client {
            Some(client) if runtime::is_current(st.generation) => client
                .events()
                .drain()
                .into_iter()
                .map(|e| (e.level as u8, e.message))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn set_requests(&self, on: bool) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.requests = on;
        if let Some(client) = &st.client {
            if runtime::is_current(st.generation) {
                client.events().set_requests(on);
            }
        }
    }

    fn drain_requests(&self) -> (Vec<RequestRow>, u64) {
        use kafka_rs_core::log::RequestFailure;
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (records, dropped) = match &st.client {
            Some(client) if runtime::is_current(st.generation) => client.events().drain_requests(),
            _ => return (Vec::new(), 0),
        };
        let rows = records
            .into_iter()
            .map(|r| {
                let started = r
                    .started
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                let (code, transport) = match r.failure {
                    None => (None, None),
                    Some(RequestFailure::Code(code)) => (Some(code), None),
                    Some(RequestFailure::Transport(message)) => (None, Some(message)),
                };
                (
                    r.broker,
                    r.api_key,
                    r.group_id,
                    r.request_size,
                    r.response_size,
                    started,
                    r.duration.as_secs_f64(),
                    code,
                    transport,
                )
            })
            .collect();
        (rows, dropped)
    }

    /// Whether a core client was built (the configuration is fixed from then on).
    pub(crate) fn started(&self) -> bool {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.client.is_some() || st.closed
    }

    fn close(&self) {
        if let Some(SaslConfig::OAuthBearer(tokens)) = self.sasl.get() {
            tokens.close();
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.closed = true;
        if let Some(client) = st.client.take() {
            if runtime::is_current(st.generation) {
                client.close();
            } else {
                std::mem::forget(client);
            }
        }
    }
}

/// `[node_id, host, port, rack]`, as `Client#brokers` hands it to Ruby.
type BrokerRow = (i32, String, u16, Option<String>);

/// `[name, value, read_only, is_default, is_sensitive]`, as `Client#describe_configs` hands it
/// to Ruby.
type ConfigRow = (String, Option<String>, bool, bool, bool);

/// `[member_id, group_instance_id, client_id, client_host, topics_or_nil,
/// [[topic, [partition, ...]], ...]_or_nil]`, as `Client#describe_group` hands a member to Ruby.
type MemberRow = (
    String,
    Option<String>,
    String,
    String,
    Option<Vec<String>>,
    Option<Vec<(String, Vec<i32>)>>,
);

/// `[group_id, state, protocol_type, protocol, [member, ...]]`.
type GroupRow = (String, String, String, String, Vec<MemberRow>);

/// `[topic, [[partition, committed_or_nil, end_offset_or_nil, lag_or_nil, member_id_or_nil,
/// client_id_or_nil, client_host_or_nil], ...]]`, as `Client#consumer_lag` hands a topic to Ruby.
type LagRow = (
    String,
    Vec<(
        i32,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    )>,
);

/// `[topic, [[partition, offset, metadata_or_nil], ...]]`, as `Client#fetch_group_offsets`
/// hands a topic to Ruby.
type OffsetsRow = (String, Vec<(i32, i64, Option<String>)>);

/// `[[name, value_or_nil], ...]` from Ruby: a nil value removes the config's override.
fn config_changes(value: Value) -> Result<Vec<ConfigChange>, Error> {
    args::vec_of(RArray::try_convert(value)?, |pair| {
        let [name, value] = args::fixed::<2>(pair)?;
        Ok((
            String::try_convert(name)?,
            Option::<String>::try_convert(value)?,
        ))
    })
}

fn alter_mode(replace: bool) -> AlterMode {
    if replace {
        AlterMode::Replace
    } else {
        AlterMode::Auto
    }
}

#[magnus::wrap(class = "KafkaRs::Native::Client", free_immediately, size)]
pub struct NativeClient {
    handle: Arc<ClientHandle>,
}

/// A number of seconds from Ruby as a `Duration`; an ArgumentError naming `arg` if it is not one.
pub(crate) fn secs(arg: &'static str, s: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        to_ruby(CoreError::invalid(
            arg,
            format!("{s} is not a valid number of seconds"),
        ))
    })
}

static FETCHED_MESSAGE: Lazy<RClass> = Lazy::new(|ruby| {
    ruby.class_object()
        .const_get::<_, RModule>("KafkaRs")
        .and_then(|m| m.const_get("FetchedMessage"))
        .expect("KafkaRs::FetchedMessage is defined by lib/kafka_rs/fetched_message.rb")
});

impl NativeClient {
    pub fn handle(&self) -> Arc<ClientHandle> {
        self.handle.clone()
    }

    /// `Native::Client.new(seed_brokers, client_id, connect_timeout, socket_timeout, tls = nil)`
    /// (`tls`: the options Array of [`crate::tls::options`]).
    ///
    /// Array arguments (here and below) are taken as `Value`s and converted by [`args`], not as
    /// `Vec`s or tuples, which magnus converts through a slice that Ruby code can free.
    fn new(args: &[Value]) -> Result<Self, Error> {
        let args = scan_args::<(Value, String, f64, f64), (Option<Value>,), (), (), (), ()>(args)?;
        let (seed_brokers, client_id, connect_timeout, socket_timeout) = args.required;
        let (tls_options,) = args.optional;
        let seed_brokers: Vec<String> = args::vec(seed_brokers)?;
        let (seeds, seeds_ask_for_tls) = BrokerAddr::parse_seeds(&seed_brokers).map_err(to_ruby)?;
        let tls_options = tls::options(tls_options)?;
        let mut config = ClientConfig::new(seeds);
        config.connection = ConnectionConfig {
            client_id,
            connect_timeout: secs("connect_timeout", connect_timeout)?,
            request_timeout: secs("socket_timeout", socket_timeout)?,
            tls: tls::config(seeds_ask_for_tls, &tls_options)?,
            ..ConnectionConfig::default()
        };
        if config.seed_brokers.is_empty() {
            return Err(to_ruby(CoreError::invalid(
                "seed_brokers",
                "at least one broker is required",
            )));
        }
        Ok(NativeClient {
            handle: Arc::new(ClientHandle {
                config,
                state: Mutex::new(ClientState::default()),
                sasl: OnceLock::new(),
            }),
        })
    }

    fn core(&self) -> Result<Client, Error> {
        self.handle.core()
    }

    /// `tls?`: whether this client's connections use TLS.
    fn tls(&self) -> bool {
        self.handle.config.connection.tls.is_some()
    }

    /// `log_level = level`: 0 (debug) to 3 (error) as Ruby's `Logger` numbers them, or nil (off).
    /// Levels above 3 (Logger::FATAL, UNKNOWN) keep only errors.
    fn set_log_level(&self, level: Option<u8>) {
        self.handle
            .set_log_level(level.map(|l| Level::from_u8(l.min(3)).unwrap_or(Level::Error)));
    }

    /// `drain_log`: the queued diagnostics as `[[level, message], ...]`, oldest first.
    fn drain_log(&self) -> Vec<(u8, String)> {
        self.handle.drain_log()
    }

    /// `request_events = true/false`: time every request (for `request.connection.kafka`).
    fn set_request_events(&self, on: bool) {
        self.handle.set_requests(on);
    }

    /// `drain_requests`: `[[request row, ...], dropped]`, oldest first (see [`RequestRow`]).
    fn drain_requests(&self) -> (Vec<RequestRow>, u64) {
        self.handle.drain_requests()
    }

    fn topics(&self) -> Result<Vec<String>, Error> {
        let client = self.core()?;
        gvl::block_on(async move { client.topic_names().await })?.map_err(to_ruby)
    }

    fn has_topic(&self, name: String) -> Result<bool, Error> {
        let client = self.core()?;
        gvl::block_on(async move { client.has_topic(&name).await })?.map_err(to_ruby)
    }

    fn partitions_for(&self, topic: String) -> Result<usize, Error> {
        let client = self.core()?;
        gvl::block_on(async move { client.topic(&topic).await.map(|t| t.partitions.len()) })?
            .map_err(to_ruby)
    }

    fn create_topic(
        &self,
        name: String,
        num_partitions: i32,
        replication_factor: i16,
        timeout: f64,
        configs: Value,
    ) -> Result<(), Error> {
        let configs = args::string_pairs(configs)?;
        let client = self.core()?;
        let timeout = secs("timeout", timeout)?;
        let topic = NewTopic {
            name,
            num_partitions,
            replication_factor,
            configs,
        };
        gvl::block_on(async move { client.create_topic(&topic, timeout).await })?.map_err(to_ruby)
    }

    fn delete_topic(&self, name: String, timeout: f64) -> Result<(), Error> {
        let client = self.core()?;
        let timeout = secs("timeout", timeout)?;
        gvl::block_on(async move { client.delete_topic(&name, timeout).await })?.map_err(to_ruby)
    }

    fn create_partitions(&self, name: String, count: i32, timeout: f64) -> Result<(), Error> {
        let client = self.core()?;
        let timeout = secs("timeout", timeout)?;
        gvl::block_on(async move { client.create_partitions(&name, count, timeout).await })?
            .map_err(to_ruby)
    }

    /// `list_offsets(topic, partitions_or_nil, timestamp)` → `{ partition => offset }`.
    fn list_offsets(
        ruby: &Ruby,
        rb_self: &Self,
        topic: String,
        partitions: Option<RArray>,
        timestamp: i64,
    ) -> Result<RHash, Error> {
        let partitions = partitions
            .map(|p| args::vec_of(p, i32::try_convert))
            .transpose()?;
        let client = rb_self.core()?;
        let offsets = gvl::block_on(async move {
            client
                .list_offsets(&topic, partitions.as_deref(), timestamp)
                .await
        })?
        .map_err(to_ruby)?;
        let hash = ruby.hash_new();
        for (p, o) in offsets {
            hash.aset(p, o)?;
        }
        Ok(hash)
    }

    /// `describe_topic(name, keys)` → `{ config_name => value }` (all configs when `keys` is empty).
    fn describe_topic(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        keys: Value,
    ) -> Result<RHash, Error> {
        let keys: Vec<String> = args::vec(keys)?;
        let client = rb_self.core()?;
        let configs = gvl::block_on(async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            client.describe_topic_configs(&name, &keys).await
        })?
        .map_err(to_ruby)?;
        let hash = ruby.hash_new();
        for (k, v) in configs {
            hash.aset(k, v)?;
        }
        Ok(hash)
    }

    /// `describe_broker(broker_id, keys)` → `[[name, value, read_only, is_default,
    /// is_sensitive], ...]` (all configs when `keys` is empty).
    fn describe_broker(&self, broker_id: i32, keys: Value) -> Result<Vec<ConfigRow>, Error> {
        let keys: Vec<String> = args::vec(keys)?;
        let client = self.core()?;
        let configs = gvl::block_on(async move {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            client
                .describe_configs(&ConfigResource::Broker(broker_id), &keys)
                .await
        })?
        .map_err(to_ruby)?;
        Ok(configs
            .into_iter()
            .map(|c| (c.name, c.value, c.read_only, c.is_default, c.is_sensitive))
            .collect())
    }

    /// `alter_topic(name, [[config, value_or_nil], ...], replace)`; `replace` forces the
    /// AlterConfigs path of brokers older than 2.3.
    fn alter_topic(&self, name: String, changes: Value, replace: bool) -> Result<(), Error> {
        let changes = config_changes(changes)?;
        let client = self.core()?;
        gvl::block_on(async move {
            client
                .alter_configs(&ConfigResource::Topic(name), &changes, alter_mode(replace))
                .await
        })?
        .map_err(to_ruby)
    }

    /// `alter_broker(broker_id, [[config, value_or_nil], ...], replace)`.
    fn alter_broker(&self, broker_id: i32, changes: Value, replace: bool) -> Result<(), Error> {
        let changes = config_changes(changes)?;
        let client = self.core()?;
        gvl::block_on(async move {
            client
                .alter_configs(
                    &ConfigResource::Broker(broker_id),
                    &changes,
                    alter_mode(replace),
                )
                .await
        })?
        .map_err(to_ruby)
    }

    /// `api_versions` → `[[api_key, min_version, max_version], ...]` of one broker, by key.
    fn api_versions(&self) -> Result<Vec<(i16, i16, i16)>, Error> {
        let client = self.core()?;
        let apis = gvl::block_on(async move { client.api_versions().await })?.map_err(to_ruby)?;
        Ok(apis
            .into_iter()
            .map(|a| (a.api_key, a.min_version, a.max_version))
            .collect())
    }

    /// `controller_broker` → `[node_id, host, port, rack]` or nil.
    fn controller_broker(&self) -> Result<Option<BrokerRow>, Error> {
        let client = self.core()?;
        let broker =
            gvl::block_on(async move { client.controller_broker().await })?.map_err(to_ruby)?;
        Ok(broker.map(|b| (b.node_id, b.addr.host, b.addr.port, b.rack)))
    }

    fn replica_count_for(&self, topic: String) -> Result<usize, Error> {
        let client = self.core()?;
        gvl::block_on(async move { client.replica_count(&topic).await })?.map_err(to_ruby)
    }

    /// `brokers` → `[[node_id, host, port, rack], ...]`.
    fn brokers(&self) -> Result<Vec<BrokerRow>, Error> {
        let client = self.core()?;
        let brokers = gvl::block_on(async move { client.brokers().await })?.map_err(to_ruby)?;
        Ok(brokers
            .into_iter()
            .map(|b| (b.node_id, b.addr.host, b.addr.port, b.rack))
            .collect())
    }

    /// `groups` → every group id of the cluster, sorted.
    fn groups(&self) -> Result<Vec<String>, Error> {
        let client = self.core()?;
        let groups = gvl::block_on(async move { client.list_groups().await })?.map_err(to_ruby)?;
        Ok(groups.into_iter().map(|g| g.group_id).collect())
    }

    /// `describe_group(group_id)` → a [`GroupRow`].
    fn describe_group(&self, group_id: String) -> Result<GroupRow, Error> {
        let client = self.core()?;
        let g = gvl::block_on(async move { client.describe_group(&group_id).await })?
            .map_err(to_ruby)?;
        let members = g
            .members
            .into_iter()
            .map(|m| {
                (
                    m.member_id,
                    m.group_instance_id,
                    m.client_id,
                    m.client_host,
                    m.subscription,
                    m.assignment
                        .map(|a| a.into_iter().map(|tp| (tp.topic, tp.partitions)).collect()),
                )
            })
            .collect();
        Ok((g.group_id, g.state, g.protocol_type, g.protocol, members))
    }

    /// `fetch_group_offsets(group_id)` → `[OffsetsRow, ...]`, by topic.
    fn fetch_group_offsets(&self, group_id: String) -> Result<Vec<OffsetsRow>, Error> {
        let client = self.core()?;
        let offsets = gvl::block_on(async move { client.group_offsets(&group_id).await })?
            .map_err(to_ruby)?;
        Ok(offsets
            .into_iter()
            .map(|(topic, parts)| {
                let parts = parts
                    .into_iter()
                    .map(|(p, c)| (p, c.offset, c.metadata))
                    .collect();
                (topic, parts)
            })
            .collect())
    }

    /// `consumer_lag(group_id)` → `[LagRow, ...]`, by topic.
    fn consumer_lag(&self, group_id: String) -> Result<Vec<LagRow>, Error> {
        let client = self.core()?;
        let lag =
            gvl::block_on(async move { client.consumer_lag(&group_id).await })?.map_err(to_ruby)?;
        let members = &lag.description.members;
        Ok(lag
            .partitions
            .into_iter()
            .map(|(topic, parts)| {
                let parts = parts
                    .into_iter()
                    .map(|(p, l)| {
                        let owner = l.owner.and_then(|i| members.get(i));
                        (
                            p,
                            l.committed,
                            l.end_offset,
                            l.lag,
                            owner.map(|m| m.member_id.clone()),
                            owner.map(|m| m.client_id.clone()),
                            owner.map(|m| m.client_host.clone()),
                        )
                    })
                    .collect();
                (topic, parts)
            })
            .collect())
    }

    fn close(&self) {
        self.handle.close();
    }

    /// `fetch(cursors, max_wait, min_bytes, max_bytes)` where `cursors` is
    /// `[[topic, partition, offset], ...]` and an offset of -1 means latest, -2 earliest.
    /// Returns `[[topic, partition, high_watermark, [FetchedMessage, ...], next_offset], ...]`.
    fn fetch(
        ruby: &Ruby,
        rb_self: &Self,
        cursors: Value,
        max_wait: f64,
        min_bytes: i32,
        max_bytes: i32,
    ) -> Result<RArray, Error> {
        let cursors = args::vec_of(RArray::try_convert(cursors)?, |cursor| {
            let [topic, partition, offset] = args::fixed::<3>(cursor)?;
            Ok((
                String::try_convert(topic)?,
                i32::try_convert(partition)?,
                i64::try_convert(offset)?,
            ))
        })?;
        let client = rb_self.core()?;
        let opts = FetchOptions {
            max_wait: secs("max_wait_time", max_wait)?,
            min_bytes,
            max_bytes,
            ..FetchOptions::default()
        };
        let parts = gvl::block_on(async move {
            let mut resolved = Vec::with_capacity(cursors.len());
            for (topic, partition, offset) in cursors {
                let start = match offset {
                    -1 => StartOffset::Latest,
                    -2 => StartOffset::Earliest,
                    o => StartOffset::At(o),
                };
                let offset = client.resolve_offset(&topic, partition, start).await?;
                resolved.push(PartitionCursor {
                    topic,
                    partition,
                    offset,
                });
            }
            client.fetch(&resolved, opts).await
        })?
        .map_err(to_ruby)?;
        guard(|| {
            let out = ruby.ary_new_capa(parts.len());
            for part in &parts {
                out.push(partition_to_ruby(ruby, part)?)?;
            }
            Ok(out)
        })
    }
}

fn bytes_to_ruby(ruby: &Ruby, b: &Option<Bytes>) -> Value {
    match b {
        Some(b) => {
            let s = ruby.str_from_slice(b);
            s.freeze();
            s.as_value()
        }
        None => ruby.qnil().as_value(),
    }
}

fn record_to_ruby(
    ruby: &Ruby,
    class: RClass,
    topic: RString,
    partition: i32,
    r: &FetchedRecord,
) -> Result<Value, Error> {
    let headers = ruby.hash_new();
    for h in &r.headers {
        headers.aset(h.key.as_str(), bytes_to_ruby(ruby, &h.value))?;
    }
    class.new_instance((
        bytes_to_ruby(ruby, &r.value),
        bytes_to_ruby(ruby, &r.key),
        headers,
        topic,
        partition,
        r.offset,
        r.timestamp_ms,
    ))
}

pub(crate) fn partition_to_ruby(ruby: &Ruby, part: &FetchedPartition) -> Result<RArray, Error> {
    let class = ruby.get_inner(&FETCHED_MESSAGE);
    let topic = ruby.str_new(&part.topic);
    topic.freeze();
    let messages = ruby.ary_new();
    let mut records = part.records();
    for record in records.by_ref() {
        let record = record.map_err(|e| to_ruby(CoreError::Protocol(e)))?;
        messages.push(record_to_ruby(ruby, class, topic, part.partition, &record)?)?;
    }
    // Where the next fetch starts: past control batches and compaction gaps too.
    let next_offset = records.next_offset().unwrap_or(part.fetch_offset);
    Ok(ruby.ary_new_from_values(&[
        topic.as_value(),
        part.partition.into_value_with(ruby),
        part.high_watermark.into_value_with(ruby),
        messages.as_value(),
        next_offset.into_value_with(ruby),
    ]))
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("Client", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeClient::new, -1))?;
    class.define_method("tls?", method!(NativeClient::tls, 0))?;
    class.define_method("topics", method!(NativeClient::topics, 0))?;
    class.define_method("has_topic?", method!(NativeClient::has_topic, 1))?;
    class.define_method("partitions_for", method!(NativeClient::partitions_for, 1))?;
    class.define_method("create_topic", method!(NativeClient::create_topic, 5))?;
    class.define_method("delete_topic", method!(NativeClient::delete_topic, 2))?;
    class.define_method(
        "create_partitions",
        method!(NativeClient::create_partitions, 3),
    )?;
    class.define_method("list_offsets", method!(NativeClient::list_offsets, 3))?;
    class.define_method("describe_topic", method!(NativeClient::describe_topic, 2))?;
    class.define_method("describe_broker", method!(NativeClient::describe_broker, 2))?;
    class.define_method("alter_topic", method!(NativeClient::alter_topic, 3))?;
    class.define_method("alter_broker", method!(NativeClient::alter_broker, 3))?;
    class.define_method("api_versions", method!(NativeClient::api_versions, 0))?;
    class.define_method(
        "controller_broker",
        method!(NativeClient::controller_broker, 0),
    )?;
    class.define_method(
        "replica_count_for",
        method!(NativeClient::replica_count_for, 1),
    )?;
    class.define_method("brokers", method!(NativeClient::brokers, 0))?;
    class.define_method("groups", method!(NativeClient::groups, 0))?;
    class.define_method("describe_group", method!(NativeClient::describe_group, 1))?;
    class.define_method(
        "fetch_group_offsets",
        method!(NativeClient::fetch_group_offsets, 1),
    )?;
    class.define_method("consumer_lag", method!(NativeClient::consumer_lag, 1))?;
    class.define_method("close", method!(NativeClient::close, 0))?;
    class.define_method("fetch", method!(NativeClient::fetch, 4))?;
    class.define_method("log_level=", method!(NativeClient::set_log_level, 1))?;
    class.define_method("drain_log", method!(NativeClient::drain_log, 0))?;
    class.define_method(
        "request_events=",
        method!(NativeClient::set_request_events, 1),
    )?;
    class.define_method("drain_requests", method!(NativeClient::drain_requests, 0))?;
    Ok(())
}
