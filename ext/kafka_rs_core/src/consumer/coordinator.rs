//! A consumer's requests to its group coordinator: finding it, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit and OffsetFetch. Each call maps the broker's error codes
//! to [`Error::Kafka`] for the state machine ([`super::group`]) to act on; a coordinator error
//! or a broken connection makes the next call look the coordinator up again.
//!
//! Every request travels on the consumer's own connection lane to the coordinator
//! ([`Lane::Group`]): a JoinGroup parks there for up to the rebalance timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::prefetch::TopicPartition;
use crate::client::Client;
use crate::cluster::Lane;
use crate::connection::{BrokerAddr, BrokerConnection};
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::protocol::messages::find_coordinator::FindCoordinatorRequest;
use crate::protocol::messages::heartbeat::HeartbeatRequest;
use crate::protocol::messages::join_group::{JoinGroupProtocol, JoinGroupRequest};
use crate::protocol::messages::leave_group::{LeaveGroupMember, LeaveGroupRequest};
use crate::protocol::messages::offset_commit::{
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use crate::protocol::messages::offset_fetch::{OffsetFetchRequest, OffsetFetchTopic};
use crate::protocol::messages::sync_group::{SyncGroupAssignment, SyncGroupRequest};

/// A member of a JoinGroup answer (the leader gets every member).
#[derive(Debug, Clone)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's subscription in the chosen protocol (consumer protocol encoding).
    pub metadata: Bytes,
}

/// What a successful JoinGroup says.
#[derive(Debug, Clone)]
pub struct Joined {
    pub generation: i32,
    pub protocol: String,
    pub leader: String,
    pub member_id: String,
    pub members: Vec<JoinedMember>,
}

pub struct Coordinator {
    client: Client,
    group_id: String,
    lane: Lane,
    /// The coordinator's address once found.
    addr: Mutex<Option<BrokerAddr>>,
}

impl Client {
    /// FindCoordinator for `group_id`, asked of any broker: where the group's coordinator is.
    pub(crate) async fn find_group_coordinator(&self, group_id: &str) -> Result<BrokerAddr> {
        let any = self.any_broker().await?;
        let resp = any
            .request(&FindCoordinatorRequest::group(group_id))
            .await?;
        let c = resp.coordinators.into_iter().next().ok_or_else(|| {
            Error::kafka(
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                format!("FindCoordinator for group {group_id}: no answer"),
            )
        })?;
        let code = ErrorCode(c.error_code);
        if !code.is_ok() {
            return Err(Error::kafka(
                code,
                format!(
                    "FindCoordinator for group {group_id}{}",
                    c.error_message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            ));
        }
        let port = u16::try_from(c.port).map_err(|_| {
            Error::kafka(
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                format!("coordinator port {} is not a port", c.port),
            )
        })?;
        Ok(BrokerAddr { host: c.host, port })
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.client.pool().close_lane(self.lane);
    }
}

impl Coordinator {
    pub fn new(client: Client, group_id: String) -> Coordinator {
        Coordinator {
            client,
            group_id,
            lane: Lane::own_group(),
            addr: Mutex::new(None),
        }
    }

    /// An error code of a response as an error; a coordinator error forgets the coordinator.
    fn check(&self, code: i16, what: impl FnOnce() -> String) -> Result<()> {
        let code = ErrorCode(code);
        if code.is_ok() {
            return Ok(());
        }
        if code.is_coordinator_error() {
            self.forget();
        }
        Err(Error::kafka(code, what()))
    }

    /// Forgets the coordinator: the next call looks it up again.
    pub fn forget(&self) {
        *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The connection to the coordinator, looking it up (FindCoordinator, any broker) first
    /// when needed.
    async fn conn(&self) -> Result<Arc<BrokerConnection>> {
        let known = self.addr.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let addr = match known {
            Some(addr) => addr,
            None => {
                let addr = self.client.find_group_coordinator(&self.group_id).await?;
                *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr.clone());
                addr
            }
        };
        match self.client.pool().get(&addr, self.lane).await {
            Ok(conn) => Ok(conn),
            Err(e) => {
                self.forget();
                Err(e)
            }
        }
    }

    /// Runs `call` on the coordinator's connection; a coordinator error or a connection failure
    /// forgets the coordinator.
    async fn on_coordinator<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: FnOnce(Arc<BrokerConnection>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let conn = self.conn().await?;
        let result = call(conn).await;
        if let Err(e) = &result {
            if e.code().is_none_or(|c| c.is_coordinator_error()) {
                self.forget();
            }
        }
        result
    }

    /// JoinGroup, answering MEMBER_ID_REQUIRED (KIP-394) by joining again with the id given.
    pub async fn join(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        session_timeout: Duration,
        rebalance_timeout: Duration,
        protocols: Vec<(String, Bytes)>,
    ) -> Result<Joined> {
        let mut member_id = member_id.to_string();
        for _ in 0..2 {
            let protocols: Vec<JoinGroupProtocol<'_>> = protocols
                .iter()
                .map(|(name, metadata)| JoinGroupProtocol {
                    name: name.as_str(),
                    metadata: metadata.clone(),
                })
                .collect();
            let req = JoinGroupRequest {
                group_id: &self.group_id,
                session_timeout_ms: millis(session_timeout),
                rebalance_timeout_ms: millis(rebalance_timeout),
                member_id: &member_id,
                group_instance_id,
                protocol_type: "consumer",
                protocols,
                reason: None,
            };
            let resp = self
                .on_coordinator(|conn| async move {
                    conn.request_with_wait(&req, rebalance_timeout).await
                })
                .await?;
            let code = ErrorCode(resp.error_code);
            if code == ErrorCode::MEMBER_ID_REQUIRED && !resp.member_id.is_empty() {
                member_id = resp.member_id;
                continue;
            }
            self.check(resp.error_code, || format!("JoinGroup {}", self.group_id))?;
            return Ok(Joined {
                generation: resp.generation_id,
                protocol: resp.protocol_name.unwrap_or_default(),
                leader: resp.leader,
                member_id: resp.member_id,
                members: resp
                    .members
                    .into_iter()
                    .map(|m| JoinedMember {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        metadata: m.metadata,
                    })
                    .collect(),
            });
        }
        Err(Error::kafka(
            ErrorCode::MEMBER_ID_REQUIRED,
            format!(
                "JoinGroup {}: the coordinator kept asking for a member id",
                self.group_id
            ),
        ))
    }

    /// SyncGroup: the leader sends every member's assignment; returns this member's.
    pub async fn sync(
        &self,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        protocol: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<Bytes> {
        let req = SyncGroupRequest {
            group_id: &self.group_id,
            generation_id: generation,
            member_id,
            group_instance_id,
            protocol_type: Some("consumer"),
            protocol_name: Some(protocol),
            assignments: assignments
                .iter()
                .map(|(m, a)| SyncGroupAssignment {
                    member_id: m,
                    assignment: a.clone(),
                })
                .collect(),
        };
        let resp = self
            .on_coordinator(|conn| async move { conn.request(&req).await })
            .await?;
        self.check(resp.error_code, || format!("SyncGroup {}", self.group_id))?;
        Ok(resp.assignment)
    }

    pub async fn heartbeat(
        &self,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<()> {
        let req = HeartbeatRequest {
            group_id: &self.group_id,
            generation_id: generation,
            member_id,
            group_instance_id,
        };
        let resp = self
            .on_coordinator(|conn| async move { conn.request(&req).await })
            .await?;
        self.check(resp.error_code, || format!("Heartbeat {}", self.group_id))
    }

    pub async fn leave(&self, member_id: &str, group_instance_id: Option<&str>) -> Result<()> {
        let req = LeaveGroupRequest {
            group_id: &self.group_id,
            members: vec![LeaveGroupMember {
                member_id,
                group_instance_id,
                reason: None,
            }],
        };
        let resp = self
            .on_coordinator(|conn| async move { conn.request(&req).await })
            .await?;
        self.check(resp.error_code, || format!("LeaveGroup {}", self.group_id))
    }

    /// OffsetCommit of `offsets` (next offsets to read) under the member's generation.
    pub async fn commit(
        &self,
        generation: i32,
        member_id: &str,
        group_instance_id: Option<&str>,
        offsets: &[(TopicPartition, i64)],
        retention: Option<Duration>,
    ) -> Result<()> {
        let mut topics: Vec<OffsetCommitTopic<'_>> = Vec::new();
        for ((topic, partition), offset) in offsets {
            let p = OffsetCommitPartition {
                partition_index: *partition,
                committed_offset: *offset,
                committed_leader_epoch: -1,
                committed_metadata: None,
            };
            match topics.iter_mut().find(|t| t.name == &**topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(OffsetCommitTopic {
                    name: topic,
                    partitions: vec![p],
                }),
            }
        }
        let req = OffsetCommitRequest {
            group_id: &self.group_id,
            generation_id: generation,
            member_id,
            group_instance_id,
            retention_time_ms: retention.map_or(-1, |r| r.as_millis().min(i64::MAX as u128) as i64),
            topics,
        };
        let resp = self
            .on_coordinator(|conn| async move { conn.request(&req).await })
            .await?;
        for t in &resp.topics {
            for p in &t.partitions {
                self.check(p.error_code, || {
                    format!(
                        "OffsetCommit {} {}/{}",
                        self.group_id, t.name, p.partition_index
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The committed offsets of `partitions` (partitions without one are left out).
    pub async fn fetch_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        let mut topics: Vec<OffsetFetchTopic<'_>> = Vec::new();
        for (topic, partition) in partitions {
            match topics.iter_mut().find(|t| t.name == &**topic) {
                Some(t) => t.partition_indexes.push(*partition),
                None => topics.push(OffsetFetchTopic {
                    name: topic,
                    partition_indexes: vec![*partition],
                }),
            }
        }
        let mut req = OffsetFetchRequest::group(&self.group_id, Some(topics));
        req.require_stable = true;
        let req = &req;
        let mut pause = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self
                .on_coordinator(|conn| async move { conn.request(req).await })
                .await?;
            let group = resp.groups.into_iter().next().ok_or_else(|| {
                Error::kafka(
                    ErrorCode::UNKNOWN_SERVER_ERROR,
                    format!("OffsetFetch {}: no answer for the group", self.group_id),
                )
            })?;
            // Offsets of a transaction still open: ask again shortly (KIP-447).
            let unstable = ErrorCode(group.error_code) == ErrorCode::UNSTABLE_OFFSET_COMMIT
                || group
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .any(|p| ErrorCode(p.error_code) == ErrorCode::UNSTABLE_OFFSET_COMMIT);
            if unstable && attempt < 50 {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
                continue;
            }
            self.check(group.error_code, || {
                format!("OffsetFetch {}", self.group_id)
            })?;
            let mut out = HashMap::new();
            for t in group.topics {
                let topic: Arc<str> = partitions
                    .iter()
                    .find(|(n, _)| **n == *t.name)
                    .map_or_else(|| Arc::from(t.name.as_str()), |(n, _)| n.clone());
                for p in t.partitions {
                    self.check(p.error_code, || {
                        format!(
                            "OffsetFetch {} {}/{}",
                            self.group_id, t.name, p.partition_index
                        )
                    })?;
                    if p.committed_offset >= 0 {
                        out.insert((topic.clone(), p.partition_index), p.committed_offset);
                    }
                }
            }
            return Ok(out);
        }
    }
}

fn millis(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}
