//! Cluster metadata snapshots.
//!
//! A [`ClusterSnapshot`] is immutable and shared (`Arc`): readers never lock while they look up a
//! leader. A refresh builds a new snapshot from a Metadata response, merged with the previous one
//! when only some topics were asked for, and swaps it in.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use crate::connection::BrokerAddr;
use crate::error_code::ErrorCode;
use crate::protocol::messages::metadata::MetadataResponse;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub addr: BrokerAddr,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub id: i32,
    /// `None` while the partition has no leader.
    pub leader: Option<i32>,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error: ErrorCode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub error: ErrorCode,
    pub is_internal: bool,
    /// Sorted by partition id.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    pub fn partition(&self, id: i32) -> Option<&PartitionInfo> {
        self.partitions
            .binary_search_by_key(&id, |p| p.id)
            .ok()
            .map(|i| &self.partitions[i])
    }

    /// True when the topic exists and every partition has a leader.
    pub fn is_ready(&self) -> bool {
        self.error.is_ok()
            && !self.partitions.is_empty()
            && self.partitions.iter().all(|p| p.leader.is_some())
    }
}

#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: HashMap<String, Arc<TopicInfo>>,
    /// When each topic was last refreshed.
    pub refreshed: HashMap<String, Instant>,
}

impl ClusterSnapshot {
    /// A new snapshot: `resp` applied on top of `self`. When `all_topics` is set the response
    /// lists every topic, so topics missing from it are dropped.
    pub fn merged(&self, resp: MetadataResponse, all_topics: bool) -> ClusterSnapshot {
        let now = Instant::now();
        let brokers = resp
            .brokers
            .into_iter()
            .filter_map(|b| {
                let port = u16::try_from(b.port).ok()?;
                Some((
                    b.node_id,
                    BrokerInfo {
                        node_id: b.node_id,
                        addr: BrokerAddr { host: b.host, port },
                        rack: b.rack,
                    },
                ))
            })
            .collect();
        let (mut topics, mut refreshed) = if all_topics {
            (HashMap::new(), HashMap::new())
        } else {
            (self.topics.clone(), self.refreshed.clone())
        };
        for t in resp.topics {
            let Some(name) = t.name else { continue };
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .into_iter()
                .map(|p| PartitionInfo {
                    id: p.partition_index,
                    leader: (p.leader_id >= 0).then_some(p.leader_id),
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes,
                    isr: p.isr_nodes,
                    offline_replicas: p.offline_replicas,
                    error: ErrorCode(p.error_code),
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            refreshed.insert(name.clone(), now);
            topics.insert(
                name.clone(),
                Arc::new(TopicInfo {
                    name,
                    error: ErrorCode(t.error_code),
                    is_internal: t.is_internal,
                    partitions,
                }),
            );
        }
        ClusterSnapshot {
            cluster_id: resp.cluster_id.or_else(|| self.cluster_id.clone()),
            controller_id: (resp.controller_id >= 0).then_some(resp.controller_id),
            brokers,
            topics,
            refreshed,
        }
    }

    pub fn broker(&self, node_id: i32) -> Option<&BrokerInfo> {
        self.brokers.get(&node_id)
    }
}
