//! Topic administration and offset lookups: create, delete and grow topics, list topics and
//! brokers, resolve offsets by time.
//!
//! Admin requests go to the controller (KRaft brokers forward them there themselves). After a
//! change the client waits until the metadata it can see agrees (a created topic has a leader
//! for every partition and each leader answers for its partition, a deleted one is gone), so
//! that the caller's next produce or fetch does not race the change through the cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::cluster::metadata::BrokerInfo;
use crate::cluster::TopicInfo;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::log::Level;
use crate::protocol::messages::create_partitions::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use crate::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use crate::protocol::messages::delete_topics::DeleteTopicsRequest;
use crate::protocol::messages::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResource, RESOURCE_TOPIC,
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
        let req = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: RESOURCE_TOPIC,
                resource_name: name,
                configuration_keys: (!keys.is_empty()).then(|| keys.to_vec()),
            }],
            include_synonyms: false,
            include_documentation: false,
        };
        let conn = self.any_broker().await?;
        let resp = conn.request(&req).await?;
        let result = resp
            .results
            .into_iter()
            .find(|r| r.resource_name == name)
            .ok_or_else(|| Error::kafka(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, name))?;
        let code = ErrorCode(result.error_code);
        if !code.is_ok() {
            return Err(Error::kafka(
                code,
                result.error_message.unwrap_or_else(|| name.to_string()),
            ));
        }
        Ok(result
            .configs
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect())
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

fn duration_ms(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}
