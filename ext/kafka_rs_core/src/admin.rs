//! Topic administration and offset lookups: create, delete and grow topics, list topics and
//! brokers, resolve offsets by time, describe and alter topic and broker configs, the broker's
//! API versions.
//!
//! Admin requests go to the controller (KRaft brokers forward them there themselves); a
//! broker's own configs are asked of, and changed through, that broker. After a change the
//! client waits until the metadata it can see agrees (a created topic has a leader for every
//! partition and each leader answers for its partition, a deleted one is gone), so that the
//! caller's next produce or fetch does not race the change through the cluster.
//!
//! Config changes use IncrementalAlterConfigs (Kafka 2.3+): only the named configs change. A
//! broker without it (2.1, 2.2) gets AlterConfigs, which replaces a resource's whole set of
//! overrides, so the client first reads the current overrides and sends them back with the
//! changes applied ([`merge_overrides`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::cluster::metadata::BrokerInfo;
use crate::cluster::TopicInfo;
use crate::connection::BrokerConnection;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::log::Level;
use crate::protocol::api::ApiKey;
use crate::protocol::messages::alter_configs::{
    AlterConfigsRequest, AlterConfigsResource, AlterConfigsResponse,
};
use crate::protocol::messages::api_versions::{ApiVersionEntry, ApiVersionsRequest};
use crate::protocol::messages::create_partitions::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use crate::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use crate::protocol::messages::delete_topics::DeleteTopicsRequest;
use crate::protocol::messages::describe_configs::{
    DescribeConfigsEntry, DescribeConfigsRequest, DescribeConfigsResource, RESOURCE_BROKER,
    RESOURCE_TOPIC,
};
use crate::protocol::messages::incremental_alter_configs::{
    AlterableConfig, ConfigOperation, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResource,
};
use crate::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic, CONSUMER_REPLICA_ID,
};
use crate::protocol::messages::IsolationLevel;

pub use crate::protocol::messages::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

/// A resource whose configs can be described and altered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    Topic(String),
    /// A broker, by node id (its own configs, not the cluster-wide defaults).
    Broker(i32),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(name) => (RESOURCE_TOPIC, name.clone()),
            ConfigResource::Broker(id) => (RESOURCE_BROKER, id.to_string()),
        }
    }

    /// The `config_source` of a value set on this very resource (DescribeConfigs v1+):
    /// `DYNAMIC_TOPIC_CONFIG` (1) or `DYNAMIC_BROKER_CONFIG` (2).
    fn own_source(&self) -> i8 {
        match self {
            ConfigResource::Topic(_) => 1,
            ConfigResource::Broker(_) => 2,
        }
    }
}

/// One config change: `Some(value)` sets it, `None` removes the override (the config reverts
/// to the broker's or Kafka's default).
pub type ConfigChange = (String, Option<String>);

/// Which request [`Client::alter_configs`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterMode {
    /// IncrementalAlterConfigs where the broker has it, else read-merge-replace with
    /// AlterConfigs.
    Auto,
    /// Read-merge-replace with AlterConfigs even where IncrementalAlterConfigs exists (the path
    /// of brokers older than 2.3, exercised against newer ones by the tests).
    Replace,
}

/// How often to retry an admin request that reached a broker which is not (or no longer) the
/// controller.
const CONTROLLER_ATTEMPTS: usize = 3;
const METADATA_POLL: Duration = Duration::from_millis(50);

impl Client {
    /// Creates a topic and waits (up to `timeout`) until every partition has a leader that
    /// accepts requests.
    pub async fn create_topic(&self, topic: &NewTopic, timeout: Duration) -> Result<()> {
        let timeout_ms = duration_ms(timeout);
        let configs: Vec<CreatableTopicConfig<'_>> = topic
            .configs
            .iter()
            .map(|(k, v)| CreatableTopicConfig {
                name: k,
                value: Some(v),
            })
            .collect();
        let req = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: &topic.name,
                num_partitions: topic.num_partitions,
                replication_factor: topic.replication_factor,
                assignments: Vec::new(),
                configs,
            }],
            timeout_ms,
            validate_only: false,
        };
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self.controller().await?;
            // The broker's defaults (-1) need CreateTopics v4 (Kafka 2.4, KIP-464); older
            // brokers would reject the request with a less helpful INVALID_PARTITIONS.
            if (topic.num_partitions < 0 || topic.replication_factor < 0)
                && conn.version_for::<CreateTopicsRequest>()? < 4
            {
                return Err(Error::invalid(
                    if topic.num_partitions < 0 {
                        "num_partitions"
                    } else {
                        "replication_factor"
                    },
                    "-1 (the broker's default) needs Kafka 2.4 or newer; give an explicit value",
                ));
            }
            let resp = conn.request_with_wait(&req, timeout).await?;
            let result = resp
                .topics
                .iter()
                .find(|t| t.name == topic.name)
                .ok_or_else(|| {
                    Error::Protocol(crate::protocol::codec::DecodeError::invalid(
                        "CreateTopics response",
                        format!("no result for {}", topic.name),
                    ))
                })?;
            let code = ErrorCode(result.error_code);
            if code == ErrorCode::NOT_CONTROLLER && attempt < CONTROLLER_ATTEMPTS {
                self.refresh_metadata(Some(&[])).await?;
                continue;
            }
            if !code.is_ok() {
                let context = result
                    .error_message
                    .clone()
                    .unwrap_or_else(|| topic.name.clone());
                return Err(Error::kafka(code, context));
            }
            break;
        }
        let expected = topic.num_partitions.max(1) as usize;
        self.wait_for_topic(&topic.name, deadline, |t| {
            t.is_some_and(|t| {
                t.is_ready() && (topic.num_partitions < 0 || t.partitions.len() >= expected)
            })
        })
        .await?;
        self.wait_for_leaders(&topic.name, deadline).await?;
        self.events().log(Level::Info, || {
            format!(
                "created topic {} ({} partitions, replication factor {})",
                topic.name, topic.num_partitions, topic.replication_factor
            )
        });
        Ok(())
    }

    /// Deletes a topic and waits (up to `timeout`) until the metadata no longer lists it.
    pub async fn delete_topic(&self, name: &str, timeout: Duration) -> Result<()> {
        let names = [name];
        let req = DeleteTopicsRequest {
            names: &names,
            timeout_ms: duration_ms(timeout),
        };
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self.controller().await?;
            let resp = conn.request_with_wait(&req, timeout).await?;
            let code = resp
                .responses
                .iter()
                .find(|r| r.name.as_deref() == Some(name))
                .map(|r| ErrorCode(r.error_code))
                .unwrap_or(ErrorCode::NONE);
            if code == ErrorCode::NOT_CONTROLLER && attempt < CONTROLLER_ATTEMPTS {
                self.refresh_metadata(Some(&[])).await?;
                continue;
            }
            if !code.is_ok() {
                return Err(Error::kafka(code, name));
            }
            break;
        }
        self.wait_for_topic(name, deadline, |t| t.is_none()).await?;
        self.events()
            .log(Level::Info, || format!("deleted topic {name}"));
        Ok(())
    }

    /// Grows a topic to `count` partitions and waits until they all have leaders.
    pub async fn create_partitions(&self, name: &str, count: i32, timeout: Duration) -> Result<()> {
        let req = CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic { name, count }],
            timeout_ms: duration_ms(timeout),
            validate_only: false,
        };
        let deadline = Instant::now() + timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self.controller().await?;
            let resp = conn.request_with_wait(&req, timeout).await?;
            let result = resp.results.iter().find(|r| r.name == name);
            let code = result
                .map(|r| ErrorCode(r.error_code))
                .unwrap_or(ErrorCode::NONE);
            if code == ErrorCode::NOT_CONTROLLER && attempt < CONTROLLER_ATTEMPTS {
                self.refresh_metadata(Some(&[])).await?;
                continue;
            }
            if !code.is_ok() {
                let context = result
                    .and_then(|r| r.error_message.clone())
                    .unwrap_or_else(|| name.to_string());
                return Err(Error::kafka(code, context));
            }
            break;
        }
        self.wait_for_topic(name, deadline, |t| {
            t.is_some_and(|t| t.is_ready() && t.partitions.len() >= count as usize)
        })
        .await?;
        self.wait_for_leaders(name, deadline).await?;
        self.events().log(Level::Info, || {
            format!("grew topic {name} to {count} partitions")
        });
        Ok(())
    }

    /// Polls metadata for `name` until `done` holds or the deadline passes.
    async fn wait_for_topic(
        &self,
        name: &str,
        deadline: Instant,
        done: impl Fn(Option<&TopicInfo>) -> bool,
    ) -> Result<()> {
        loop {
            let snap = self.refresh_metadata(Some(&[name])).await?;
            let info = snap
                .topics
                .get(name)
                .filter(|t| t.error != ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
            if done(info.map(|t| &**t)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::kafka(
                    ErrorCode::REQUEST_TIMED_OUT,
                    format!("waiting for the metadata of {name} to settle"),
                ));
            }
            tokio::time::sleep(METADATA_POLL).await;
        }
    }

    /// The configuration of a topic: `(name, value)` pairs, all of them when `keys` is empty.
    pub async fn describe_topic_configs(
        &self,
        name: &str,
        keys: &[&str],
    ) -> Result<Vec<(String, Option<String>)>> {
        let resource = ConfigResource::Topic(name.to_string());
        Ok(self
            .describe_configs(&resource, keys)
            .await?
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect())
    }

    /// The configs of a topic (asked of any broker) or of a broker (asked of that broker), all
    /// of them when `keys` is empty.
    pub async fn describe_configs(
        &self,
        resource: &ConfigResource,
        keys: &[&str],
    ) -> Result<Vec<DescribeConfigsEntry>> {
        let conn = match resource {
            ConfigResource::Topic(_) => self.any_broker().await?,
            ConfigResource::Broker(id) => self.broker(*id).await?,
        };
        describe_configs_on(&conn, resource, keys).await
    }

    /// Changes configs of a topic or a broker: each `(name, Some(value))` sets a config, each
    /// `(name, None)` removes its override. Configs not named keep their values. Topic changes
    /// go to the controller, a broker's to that broker.
    pub async fn alter_configs(
        &self,
        resource: &ConfigResource,
        changes: &[ConfigChange],
        mode: AlterMode,
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = match resource {
                ConfigResource::Topic(_) => self.controller().await?,
                ConfigResource::Broker(id) => self.broker(*id).await?,
            };
            let incremental = mode == AlterMode::Auto
                && conn
                    .versions()
                    .and_then(|v| v.get(ApiKey::IncrementalAlterConfigs))
                    .is_some();
            let resp = if incremental {
                alter_incrementally(&conn, resource, changes).await?
            } else {
                alter_by_replacing(&conn, resource, changes).await?
            };
            let (resource_type, resource_name) = resource.wire();
            let result = resp
                .responses
                .into_iter()
                .find(|r| r.resource_type == resource_type && r.resource_name == resource_name)
                .ok_or_else(|| {
                    Error::Protocol(crate::protocol::codec::DecodeError::invalid(
                        "AlterConfigs response",
                        format!("no result for {resource_name}"),
                    ))
                })?;
            let code = ErrorCode(result.error_code);
            if code == ErrorCode::NOT_CONTROLLER
                && attempt < CONTROLLER_ATTEMPTS
                && matches!(resource, ConfigResource::Topic(_))
            {
                self.refresh_metadata(Some(&[])).await?;
                continue;
            }
            if !code.is_ok() {
                return Err(Error::kafka(
                    code,
                    result.error_message.unwrap_or(resource_name),
                ));
            }
            self.wait_for_configs(resource, changes).await?;
            self.events().log(Level::Info, || {
                let names: Vec<&str> = changes.iter().map(|(n, _)| n.as_str()).collect();
                format!(
                    "altered configs of {} {}: {}",
                    if resource_type == RESOURCE_TOPIC {
                        "topic"
                    } else {
                        "broker"
                    },
                    resource_name,
                    names.join(", ")
                )
            });
            return Ok(());
        }
    }

    /// Waits until DescribeConfigs, asked where [`describe_configs`](Self::describe_configs)
    /// asks, shows `changes`. A broker applies a change it accepted a moment later (on KRaft
    /// clusters, once the controller's record reaches it): without this wait, measured on one
    /// KRaft broker, about 1 describe in 100 right after an alter still showed the old value.
    /// Sensitive values are not revealed, so not compared. After the socket timeout this gives
    /// up with a warning in the log, not an error: the change itself was accepted.
    async fn wait_for_configs(
        &self,
        resource: &ConfigResource,
        changes: &[ConfigChange],
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = changes.iter().map(|(n, _)| n.as_str()).collect();
        let deadline = Instant::now() + self.config().connection.request_timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let current = self.describe_configs(resource, &keys).await?;
            let applied = changes.iter().all(|(name, value)| {
                let entry = current.iter().find(|c| &c.name == name);
                match (entry, value) {
                    (Some(c), _) if c.is_sensitive => true,
                    (Some(c), Some(v)) => c.value.as_deref() == Some(v.as_str()),
                    (Some(c), None) => c.config_source != resource.own_source(),
                    (None, _) => true,
                }
            });
            if applied {
                return Ok(());
            }
            if Instant::now() + pause > deadline {
                self.events().log(Level::Warn, || {
                    format!(
                        "the change of {} was accepted, but DescribeConfigs does not show it yet",
                        keys.join(", ")
                    )
                });
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// The API versions a broker (any one) supports, ordered by API key.
    pub async fn api_versions(&self) -> Result<Vec<ApiVersionEntry>> {
        let conn = self.any_broker().await?;
        let resp = conn.request(&ApiVersionsRequest::default()).await?;
        let code = ErrorCode(resp.error_code);
        if !code.is_ok() {
            return Err(Error::kafka(
                code,
                format!("ApiVersions from {}", conn.addr()),
            ));
        }
        let mut apis = resp.api_keys;
        apis.sort_by_key(|a| a.api_key);
        Ok(apis)
    }

    /// The broker the cluster's metadata names as controller (on KRaft clusters, a broker that
    /// forwards admin requests to the controller quorum), or `None` if it names none.
    pub async fn controller_broker(&self) -> Result<Option<BrokerInfo>> {
        let snap = self.refresh_metadata(Some(&[])).await?;
        Ok(snap
            .controller_id
            .and_then(|id| snap.brokers.get(&id))
            .cloned())
    }

    /// The number of replicas of the topic's first partition.
    pub async fn replica_count(&self, topic: &str) -> Result<usize> {
        let info = self.topic(topic).await?;
        info.partitions
            .iter()
            .min_by_key(|p| p.id)
            .map(|p| p.replicas.len())
            .ok_or_else(|| Error::kafka(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, topic))
    }

    /// Names of every topic in the cluster (internal ones included).
    pub async fn topic_names(&self) -> Result<Vec<String>> {
        let snap = self.refresh_metadata(None).await?;
        let mut names: Vec<String> = snap
            .topics
            .values()
            .filter(|t| t.error.is_ok())
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether the topic exists (asks the cluster, does not trust the cache).
    pub async fn has_topic(&self, name: &str) -> Result<bool> {
        let snap = self.refresh_metadata(Some(&[name])).await?;
        Ok(snap.topics.get(name).is_some_and(|t| t.error.is_ok()))
    }

    /// The brokers of the cluster.
    pub async fn brokers(&self) -> Result<Vec<BrokerInfo>> {
        let snap = self.refresh_metadata(Some(&[])).await?;
        Ok(snap.brokers.values().cloned().collect())
    }

    /// Resolves `timestamp` ([`LATEST_TIMESTAMP`], [`EARLIEST_TIMESTAMP`] or a time in ms) to an offset for each of
    /// `partitions` of `topic` (`None`: all partitions), asking each partition's leader.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partitions: Option<&[i32]>,
        timestamp: i64,
    ) -> Result<BTreeMap<i32, i64>> {
        let mut out = BTreeMap::new();
        let mut pending: Vec<i32> = match partitions {
            Some(p) => p.to_vec(),
            None => self
                .topic(topic)
                .await?
                .partitions
                .iter()
                .map(|p| p.id)
                .collect(),
        };
        let mut attempts = 0;
        while !pending.is_empty() {
            attempts += 1;
            let failed = self
                .list_offsets_once(topic, &pending, timestamp, &mut out)
                .await?;
            if failed.is_empty() {
                break;
            }
            if let Some(&(p, code)) = failed
                .iter()
                .find(|(_, c)| !c.is_retriable() || attempts >= 3)
            {
                return Err(Error::kafka(code, format!("{topic}/{p}")));
            }
            if failed.iter().any(|(_, c)| c.invalidates_metadata()) {
                self.refresh_metadata(Some(&[topic])).await?;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            pending = failed.into_iter().map(|(p, _)| p).collect();
        }
        Ok(out)
    }

    /// One round of ListOffsets for `partitions` of `topic`, grouped by leader: answers go into
    /// `out`, partitions the leaders refused come back with their error code.
    async fn list_offsets_once(
        &self,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
        out: &mut BTreeMap<i32, i64>,
    ) -> Result<Vec<(i32, ErrorCode)>> {
        let info = self.topic(topic).await?;
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        let mut failed = Vec::new();
        for &p in partitions {
            let part = info.partition(p).ok_or_else(|| {
                Error::kafka(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("{topic}/{p}"),
                )
            })?;
            match part.leader {
                Some(leader) => by_leader.entry(leader).or_default().push(p),
                None => failed.push((p, ErrorCode::LEADER_NOT_AVAILABLE)),
            }
        }
        for (leader, parts) in by_leader {
            let conn = self.broker(leader).await?;
            let req = ListOffsetsRequest {
                replica_id: CONSUMER_REPLICA_ID,
                isolation_level: IsolationLevel::ReadUncommitted,
                topics: vec![ListOffsetsTopic {
                    name: topic,
                    partitions: parts
                        .iter()
                        .map(|&p| ListOffsetsPartition::new(p, timestamp))
                        .collect(),
                }],
                timeout_ms: 0,
            };
            let resp = conn.request(&req).await?;
            for t in resp.topics.iter().filter(|t| t.name == topic) {
                for p in &t.partitions {
                    let code = ErrorCode(p.error_code);
                    if code.is_ok() {
                        out.insert(p.partition_index, p.offset);
                    } else {
                        failed.push((p.partition_index, code));
                    }
                }
            }
        }
        Ok(failed)
    }

    /// Waits until the leader of every partition of `name` acts as leader
    /// (answers ListOffsets without NOT_LEADER_OR_FOLLOWER). Metadata names a new partition's
    /// leader a moment before that broker accepts produce requests for it; without this wait
    /// the caller's first produce would be refused and wait out a retry backoff.
    async fn wait_for_leaders(&self, name: &str, deadline: Instant) -> Result<()> {
        let info = self.topic(name).await?;
        let mut pending: Vec<i32> = info.partitions.iter().map(|p| p.id).collect();
        loop {
            let mut ignored = BTreeMap::new();
            let failed = self
                .list_offsets_once(name, &pending, LATEST_TIMESTAMP, &mut ignored)
                .await?;
            if let Some(&(p, code)) = failed.iter().find(|(_, c)| !c.is_retriable()) {
                return Err(Error::kafka(code, format!("{name}/{p}")));
            }
            if failed.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::kafka(
                    ErrorCode::REQUEST_TIMED_OUT,
                    format!("waiting for the leaders of {name} to take over"),
                ));
            }
            tokio::time::sleep(METADATA_POLL).await;
            if failed.iter().any(|(_, c)| c.invalidates_metadata()) {
                self.refresh_metadata(Some(&[name])).await?;
            }
            pending = failed.into_iter().map(|(p, _)| p).collect();
        }
    }
}

/// DescribeConfigs for one resource on `conn`; a resource-level error code is an error.
async fn describe_configs_on(
    conn: &BrokerConnection,
    resource: &ConfigResource,
    keys: &[&str],
) -> Result<Vec<DescribeConfigsEntry>> {
    let (resource_type, resource_name) = resource.wire();
    let req = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type,
            resource_name: &resource_name,
            configuration_keys: (!keys.is_empty()).then(|| keys.to_vec()),
        }],
        include_synonyms: false,
        include_documentation: false,
    };
    let resp = conn.request(&req).await?;
    let result = resp
        .results
        .into_iter()
        .find(|r| r.resource_type == resource_type && r.resource_name == resource_name)
        .ok_or_else(|| match resource {
            ConfigResource::Topic(name) => {
                Error::kafka(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, name)
            }
            ConfigResource::Broker(id) => {
                Error::kafka(ErrorCode::BROKER_NOT_AVAILABLE, format!("broker {id}"))
            }
        })?;
    let code = ErrorCode(result.error_code);
    if !code.is_ok() {
        return Err(Error::kafka(
            code,
            result.error_message.unwrap_or(resource_name),
        ));
    }
    Ok(result.configs)
}

async fn alter_incrementally(
    conn: &Arc<BrokerConnection>,
    resource: &ConfigResource,
    changes: &[ConfigChange],
) -> Result<AlterConfigsResponse> {
    let (resource_type, resource_name) = resource.wire();
    let req = IncrementalAlterConfigsRequest {
        resources: vec![IncrementalAlterConfigsResource {
            resource_type,
            resource_name: &resource_name,
            configs: changes
                .iter()
                .map(|(name, value)| AlterableConfig {
                    name,
                    operation: if value.is_some() {
                        ConfigOperation::Set
                    } else {
                        ConfigOperation::Delete
                    },
                    value: value.as_deref(),
                })
                .collect(),
        }],
        validate_only: false,
    };
    conn.request(&req).await
}

/// AlterConfigs replaces every override of the resource, so the current ones are read first
/// and sent back with `changes` applied. Not atomic: a change made by someone else between the
/// read and the write is lost, as with any client on these brokers.
async fn alter_by_replacing(
    conn: &Arc<BrokerConnection>,
    resource: &ConfigResource,
    changes: &[ConfigChange],
) -> Result<AlterConfigsResponse> {
    let current = describe_configs_on(conn, resource, &[]).await?;
    let merged = merge_overrides(&current, resource.own_source(), changes).map_err(|name| {
        Error::UnsupportedVersion {
            broker: conn.addr().to_string(),
            message: format!(
                "the broker lacks IncrementalAlterConfigs (Kafka 2.3+), and replacing the \
                 configs with AlterConfigs would drop the value of the sensitive config {name}, \
                 which the broker does not reveal"
            ),
        }
    })?;
    let (resource_type, resource_name) = resource.wire();
    let req = AlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type,
            resource_name: &resource_name,
            configs: merged
                .iter()
                .map(|(n, v)| (n.as_str(), Some(v.as_str())))
                .collect(),
        }],
        validate_only: false,
    };
    conn.request(&req).await
}

/// The overrides a resource should have after `changes`: those set on the resource itself
/// (`config_source == own_source`), with each change applied (set, or removed for `None`), in
/// name order. `Err(name)` if an override that is not changed is sensitive: the broker does not
/// reveal its value, so it cannot be sent back.
fn merge_overrides(
    current: &[DescribeConfigsEntry],
    own_source: i8,
    changes: &[ConfigChange],
) -> std::result::Result<Vec<(String, String)>, String> {
    let mut merged: BTreeMap<String, Option<String>> = current
        .iter()
        .filter(|c| c.config_source == own_source)
        .map(|c| (c.name.clone(), c.value.clone()))
        .collect();
    for (name, value) in changes {
        match value {
            Some(v) => merged.insert(name.clone(), Some(v.clone())),
            None => merged.remove(name),
        };
    }
    merged
        .into_iter()
        .map(|(name, value)| match value {
            Some(v) => Ok((name, v)),
            None => Err(name),
        })
        .collect()
}

fn duration_ms(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, value: Option<&str>, config_source: i8) -> DescribeConfigsEntry {
        DescribeConfigsEntry {
            name: name.into(),
            value: value.map(Into::into),
            read_only: false,
            config_source,
            is_sensitive: value.is_none(),
            is_default: config_source == 5,
        }
    }

    fn change(name: &str, value: Option<&str>) -> ConfigChange {
        (name.into(), value.map(Into::into))
    }

    #[test]
    fn replacing_keeps_the_resources_own_overrides_and_applies_the_changes() {
        let current = [
            entry("retention.ms", Some("1000"), 1),
            entry("cleanup.policy", Some("compact"), 1),
            entry("segment.bytes", Some("1073741824"), 5),
            entry("max.message.bytes", Some("2000000"), 4),
            entry("min.insync.replicas", Some("2"), 1),
        ];
        let changes = [
            change("retention.ms", Some("2000")),
            change("min.insync.replicas", None),
            change("flush.ms", Some("10")),
        ];
        let merged = merge_overrides(&current, 1, &changes).unwrap();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            merged,
            vec![
                s("cleanup.policy", "compact"),
                s("flush.ms", "10"),
                s("retention.ms", "2000"),
            ]
        );
    }

    #[test]
    fn replacing_refuses_to_drop_a_sensitive_override_it_cannot_read() {
        let current = [
            entry("log.cleaner.threads", Some("2"), 2),
            entry("listener.name.x.ssl.key.password", None, 2),
            entry("ssl.keystore.password", None, 4),
        ];
        let err = merge_overrides(&current, 2, &[change("log.cleaner.threads", Some("3"))]);
        assert_eq!(err, Err("listener.name.x.ssl.key.password".to_string()));
        // Changing the sensitive override itself (or removing it) is fine; static and default
        // values (other sources) are never sent back.
        let merged = merge_overrides(
            &current,
            2,
            &[change("listener.name.x.ssl.key.password", Some("new"))],
        )
        .unwrap();
        assert_eq!(merged.len(), 2);
        let merged = merge_overrides(
            &current,
            2,
            &[change("listener.name.x.ssl.key.password", None)],
        )
        .unwrap();
        assert_eq!(
            merged,
            vec![("log.cleaner.threads".to_string(), "2".to_string())]
        );
    }
}
