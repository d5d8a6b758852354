//! Consumer-group administration: the groups of the cluster, one group's state and members, its
//! committed offsets and its lag.
//!
//! * [`Client::list_groups`] asks every broker (ListGroups, concurrently): a broker lists only
//!   the groups it coordinates, so the cluster's groups are the union of the answers.
//! * [`Client::describe_group`] and [`Client::group_offsets`] ask the group's coordinator
//!   (FindCoordinator on any broker, then DescribeGroups, or OffsetFetch for every committed
//!   partition, which needs v2) on the general lane: neither request parks at the broker.
//! * [`Client::consumer_lag`] reads both (concurrently), then the end offsets of every topic
//!   involved (ListOffsets, one task per topic).
//!
//! The coordinator is looked up on every call (a group's coordinator moves with the leader of its
//! `__consumer_offsets` partition). A coordinator error (`NOT_COORDINATOR`,
//! `COORDINATOR_LOAD_IN_PROGRESS`, `COORDINATOR_NOT_AVAILABLE`) or a broken connection is retried
//! with a fresh lookup after a short backoff ([`CoordinatorBackoff`]), until the client's request
//! timeout has passed since the call began.
//!
//! Members of a consumer group (protocol type `"consumer"`) carry their subscription and
//! assignment in the [`consumer_protocol`](crate::protocol::consumer_protocol) encoding; they are
//! decoded here. The broker fills them only while the group is `Stable`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::client::Client;
use crate::cluster::Lane;
use crate::connection::BrokerConnection;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::log::{EventLog, Level};
use crate::protocol::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicPartitions, PROTOCOL_TYPE,
};
use crate::protocol::messages::describe_groups::{DescribeGroupsRequest, DescribedGroup};
use crate::protocol::messages::list_groups::{ListGroupsRequest, ListedGroup};
use crate::protocol::messages::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::protocol::messages::offset_fetch::OffsetFetchRequest;

/// The state DescribeGroups reports for a group that does not exist.
pub const DEAD: &str = "Dead";

/// The longest group id the protocol carries (an `i16`-prefixed string).
const MAX_GROUP_ID_BYTES: usize = i16::MAX as usize;

/// One group, as a broker lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// `"consumer"` for consumer groups; empty for groups that only commit offsets.
    pub protocol_type: String,
    /// The group's state, from brokers that speak ListGroups v4 (Kafka 2.6+).
    pub state: Option<String>,
}

/// A group's state and members, from its coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// `"Stable"`, `"PreparingRebalance"`, `"CompletingRebalance"`, `"Empty"` or [`DEAD`] (also
    /// for a group that does not exist).
    pub state: String,
    /// `"consumer"` for consumer groups; empty for a group without members.
    pub protocol_type: String,
    /// The protocol the group chose (for consumer groups, the assignor), or empty.
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    /// The static member's `group.instance.id` (DescribeGroups v4+, Kafka 2.4+).
    pub group_instance_id: Option<String>,
    pub client_id: String,
    /// The member's address as the coordinator saw it (`/10.0.0.7`).
    pub client_host: String,
    /// The topics the member subscribes to: consumer groups only, and only while the broker
    /// reports members' metadata (the group is `Stable`); `None` otherwise.
    pub subscription: Option<Vec<String>>,
    /// The partitions assigned to the member, under the same conditions.
    pub assignment: Option<Vec<TopicPartitions>>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The offset of the next message the group will read.
    pub offset: i64,
    /// The metadata string committed with it.
    pub metadata: Option<String>,
}

/// Committed offsets by topic and partition.
pub type GroupOffsets = BTreeMap<String, BTreeMap<i32, CommittedOffset>>;

/// Lag by topic and partition.
pub type GroupLag = BTreeMap<String, BTreeMap<i32, PartitionLag>>;

/// How far a group is behind on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The committed offset; `None` if the group has committed none for the partition.
    pub committed: Option<i64>,
    /// The partition's end offset (high watermark); `None` if the topic or partition no longer
    /// exists.
    pub end_offset: Option<i64>,
    /// `end_offset - committed` (never negative); without a commit, `end_offset` minus the
    /// partition's earliest offset (every retained message, which a member starting from the
    /// earliest offset would read); `None` without an end offset.
    pub lag: Option<i64>,
    /// The member the partition is assigned to (index into the description's members).
    pub owner: Option<usize>,
}

/// A group's lag with the description it was computed from (for the owners of partitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerLag {
    pub description: GroupDescription,
    pub partitions: GroupLag,
}

/// The pauses between coordinator lookups: 50 ms, doubling up to 1 s.
#[derive(Debug, Clone, Copy)]
pub struct CoordinatorBackoff {
    next: Duration,
}

impl CoordinatorBackoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(1);

    pub fn new() -> Self {
        CoordinatorBackoff { next: Self::FIRST }
    }

    /// The next pause.
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        pause
    }
}

impl Default for CoordinatorBackoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a failed coordinator request may succeed after looking the coordinator up again.
fn retry_with_new_coordinator(e: &Error) -> bool {
    match e {
        Error::Kafka { code, .. } => code.is_coordinator_error(),
        Error::Connection { .. } | Error::Timeout { .. } => true,
        _ => false,
    }
}

fn check_group_id(group_id: &str) -> Result<()> {
    if group_id.is_empty() {
        return Err(Error::invalid("group_id", "must not be empty"));
    }
    if group_id.len() > MAX_GROUP_ID_BYTES {
        return Err(Error::invalid(
            "group_id",
            format!(
                "is {} bytes long; Kafka allows at most {MAX_GROUP_ID_BYTES}",
                group_id.len()
            ),
        ));
    }
    Ok(())
}

impl Client {
    /// Every group of the cluster, by id (each broker is asked for the groups it coordinates).
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let snap = self.refresh_metadata(Some(&[])).await?;
        let mut tasks = JoinSet::new();
        for &node_id in snap.brokers.keys() {
            let client = self.clone();
            tasks.spawn(async move { client.list_groups_of(node_id).await });
        }
        let mut groups: BTreeMap<String, GroupListing> = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            let listed = joined.map_err(|e| Error::Connection {
                broker: "ListGroups task".into(),
                message: e.to_string(),
            })??;
            for g in listed {
                groups.entry(g.group_id.clone()).or_insert(GroupListing {
                    group_id: g.group_id,
                    protocol_type: g.protocol_type,
                    state: g.group_state,
                });
            }
        }
        Ok(groups.into_values().collect())
    }

    /// ListGroups on one broker; a broker still loading its groups is asked again.
    async fn list_groups_of(&self, node_id: i32) -> Result<Vec<ListedGroup>> {
        let deadline = Instant::now() + self.config().connection.request_timeout;
        let mut backoff = CoordinatorBackoff::new();
        loop {
            let conn = self.broker(node_id).await?;
            let resp = conn.request(&ListGroupsRequest::default()).await?;
            let code = ErrorCode(resp.error_code);
            if code.is_ok() {
                return Ok(resp.groups);
            }
            let pause = backoff.next_pause();
            if code != ErrorCode::COORDINATOR_LOAD_IN_PROGRESS || Instant::now() + pause > deadline
            {
                return Err(Error::kafka(code, format!("ListGroups on {}", conn.addr())));
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// The state, protocol and members of a group, from its coordinator. A group that does not
    /// exist is described as [`DEAD`] with no members.
    pub async fn describe_group(&self, group_id: &str) -> Result<GroupDescription> {
        check_group_id(group_id)?;
        let group = self
            .on_group_coordinator(group_id, "DescribeGroups", |conn| async move {
                let req = DescribeGroupsRequest {
                    groups: vec![group_id],
                    include_authorized_operations: false,
                };
                let resp = conn.request(&req).await?;
                let group = resp
                    .groups
                    .into_iter()
                    .find(|g| g.group_id == group_id)
                    .ok_or_else(|| {
                        Error::kafka(
                            ErrorCode::UNKNOWN_SERVER_ERROR,
                            format!("DescribeGroups {group_id}: no answer for the group"),
                        )
                    })?;
                let code = ErrorCode(group.error_code);
                // A missing group is described as Dead up to DescribeGroups v5; Kafka's new group
                // coordinator answers GROUP_ID_NOT_FOUND from v6 on (not sent by this client
                // yet). Both read as Dead, as ruby-kafka reports a missing group.
                if !code.is_ok() && code != ErrorCode::GROUP_ID_NOT_FOUND {
                    return Err(Error::kafka(code, format!("DescribeGroups {group_id}")));
                }
                Ok(group)
            })
            .await?;
        Ok(group_description(group, self.events()))
    }

    /// The committed offsets of a group, for every partition it has committed (an unknown
    /// group has none).
    pub async fn group_offsets(&self, group_id: &str) -> Result<GroupOffsets> {
        check_group_id(group_id)?;
        self.on_group_coordinator(group_id, "OffsetFetch", |conn| async move {
            let req = OffsetFetchRequest::group(group_id, None);
            let version = conn.version_for::<OffsetFetchRequest>()?;
            if version < req.min_version() {
                return Err(Error::UnsupportedVersion {
                    broker: conn.addr().to_string(),
                    message: format!(
                        "reading every committed offset of a group needs OffsetFetch v{} \
                         (Kafka 0.10.2+); the broker speaks up to v{version}",
                        req.min_version()
                    ),
                });
            }
            let resp = conn.request_at(&req, version, Duration::ZERO).await?;
            let group = resp.groups.into_iter().next().ok_or_else(|| {
                Error::kafka(
                    ErrorCode::UNKNOWN_SERVER_ERROR,
                    format!("OffsetFetch {group_id}: no answer for the group"),
                )
            })?;
            let code = ErrorCode(group.error_code);
            if !code.is_ok() {
                return Err(Error::kafka(code, format!("OffsetFetch {group_id}")));
            }
            let mut out = GroupOffsets::new();
            for t in group.topics {
                for p in t.partitions {
                    let code = ErrorCode(p.error_code);
                    if !code.is_ok() {
                        return Err(Error::kafka(
                            code,
                            format!("OffsetFetch {group_id} {}/{}", t.name, p.partition_index),
                        ));
                    }
                    if p.committed_offset >= 0 {
                        out.entry(t.name.clone()).or_default().insert(
                            p.partition_index,
                            CommittedOffset {
                                offset: p.committed_offset,
                                metadata: p.metadata,
                            },
                        );
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// How far a group is behind, for every partition it has committed and every partition of
    /// the topics its members subscribe to (see [`PartitionLag`] for the numbers).
    pub async fn consumer_lag(&self, group_id: &str) -> Result<ConsumerLag> {
        check_group_id(group_id)?;
        let (description, offsets) =
            tokio::try_join!(self.describe_group(group_id), self.group_offsets(group_id))?;
        let mut owners: BTreeMap<(String, i32), usize> = BTreeMap::new();
        let mut subscribed: BTreeSet<String> = BTreeSet::new();
        for (i, m) in description.members.iter().enumerate() {
            subscribed.extend(m.subscription.iter().flatten().cloned());
            for tp in m.assignment.iter().flatten() {
                for &p in &tp.partitions {
                    owners.insert((tp.topic.clone(), p), i);
                }
            }
        }
        // Every topic involved, with the partitions known to be involved before asking the
        // cluster: those committed and those assigned.
        let mut topics: BTreeMap<String, TopicLagQuery> = BTreeMap::new();
        for (topic, parts) in &offsets {
            let q = topics.entry(topic.clone()).or_default();
            q.committed = parts.iter().map(|(&p, c)| (p, c.offset)).collect();
        }
        for (topic, p) in owners.keys() {
            topics.entry(topic.clone()).or_default().assigned.insert(*p);
        }
        for topic in subscribed {
            topics.entry(topic).or_default().subscribed = true;
        }
        let mut tasks = JoinSet::new();
        for (topic, query) in topics {
            let client = self.clone();
            tasks.spawn(async move {
                let lag = client.topic_lag(&topic, &query).await;
                (topic, lag)
            });
        }
        let mut partitions = GroupLag::new();
        while let Some(joined) = tasks.join_next().await {
            let (topic, lag) = joined.map_err(|e| Error::Connection {
                broker: "ListOffsets task".into(),
                message: e.to_string(),
            })?;
            let mut lag = lag?;
            for (&p, entry) in lag.iter_mut() {
                entry.owner = owners.get(&(topic.clone(), p)).copied();
            }
            partitions.insert(topic, lag);
        }
        Ok(ConsumerLag {
            description,
            partitions,
        })
    }

    /// The lag of one topic's partitions of interest (owners left unset).
    async fn topic_lag(
        &self,
        topic: &str,
        query: &TopicLagQuery,
    ) -> Result<BTreeMap<i32, PartitionLag>> {
        let existing: Option<BTreeSet<i32>> = match self.topic(topic).await {
            Ok(info) => Some(info.partitions.iter().map(|p| p.id).collect()),
            Err(e) if e.code() == Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION) => None,
            Err(e) => return Err(e),
        };
        let mut wanted: BTreeSet<i32> = query.committed.keys().copied().collect();
        wanted.extend(&query.assigned);
        if query.subscribed {
            wanted.extend(existing.iter().flatten());
        }
        let present: Vec<i32> = wanted
            .iter()
            .copied()
            .filter(|p| existing.as_ref().is_some_and(|e| e.contains(p)))
            .collect();
        let uncommitted: Vec<i32> = present
            .iter()
            .copied()
            .filter(|p| !query.committed.contains_key(p))
            .collect();
        let (ends, earliest) = tokio::try_join!(
            async {
                if present.is_empty() {
                    Ok(BTreeMap::new())
                } else {
                    self.list_offsets(topic, Some(&present), LATEST_TIMESTAMP)
                        .await
                }
            },
            async {
                if uncommitted.is_empty() {
                    Ok(BTreeMap::new())
                } else {
                    self.list_offsets(topic, Some(&uncommitted), EARLIEST_TIMESTAMP)
                        .await
                }
            }
        )?;
        Ok(wanted
            .into_iter()
            .map(|p| {
                let committed = query.committed.get(&p).copied();
                let end_offset = ends.get(&p).copied();
                let lag = partition_lag(committed, end_offset, earliest.get(&p).copied());
                (
                    p,
                    PartitionLag {
                        committed,
                        end_offset,
                        lag,
                        owner: None,
                    },
                )
            })
            .collect())
    }

    /// Runs `call` on a connection to the group's coordinator, looking the coordinator up again
    /// after a coordinator error or a broken connection (see the module docs).
    async fn on_group_coordinator<'a, T, F, Fut>(
        &self,
        group_id: &'a str,
        what: &str,
        call: F,
    ) -> Result<T>
    where
        F: Fn(Arc<BrokerConnection>) -> Fut,
        Fut: Future<Output = Result<T>> + 'a,
    {
        let deadline = Instant::now() + self.config().connection.request_timeout;
        let mut backoff = CoordinatorBackoff::new();
        loop {
            let result = match self.group_coordinator(group_id).await {
                Ok(conn) => call(conn).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if retry_with_new_coordinator(&e) => {
                    let pause = backoff.next_pause();
                    if Instant::now() + pause > deadline {
                        return Err(e);
                    }
                    self.events().log(Level::Debug, || {
                        format!(
                            "{what} for group {group_id}: {e}; looking up the coordinator again \
                             in {} ms",
                            pause.as_millis()
                        )
                    });
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }

    /// FindCoordinator (any broker), then the general connection to the coordinator.
    async fn group_coordinator(&self, group_id: &str) -> Result<Arc<BrokerConnection>> {
        let addr = self.find_group_coordinator(group_id).await?;
        self.pool().get(&addr, Lane::General).await
    }
}

/// A described group with its consumer members' subscriptions and assignments decoded.
fn group_description(g: DescribedGroup, events: &EventLog) -> GroupDescription {
    let consumer = g.protocol_type == PROTOCOL_TYPE;
    let members = g
        .members
        .into_iter()
        .map(|m| {
            let (subscription, assignment) = if consumer {
                let subscription = (!m.member_metadata.is_empty())
                    .then(|| ConsumerProtocolSubscription::decode(m.member_metadata))
                    .transpose();
                let assignment = (!m.member_assignment.is_empty())
                    .then(|| ConsumerProtocolAssignment::decode(m.member_assignment))
                    .transpose();
                let warn = |what: &str, e: &dyn std::fmt::Display| {
                    events.log(Level::Warn, || {
                        format!(
                            "group {}: the {what} of member {} does not decode ({e}); \
                             reported as unknown",
                            g.group_id, m.member_id
                        )
                    })
                };
                let subscription = subscription.unwrap_or_else(|e| {
                    warn("subscription", &e);
                    None
                });
                let assignment = assignment.unwrap_or_else(|e| {
                    warn("assignment", &e);
                    None
                });
                (
                    subscription.map(|s| s.topics),
                    assignment.map(|a| merge_topic_partitions(a.assigned_partitions)),
                )
            } else {
                (None, None)
            };
            GroupMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                subscription,
                assignment,
            }
        })
        .collect();
    GroupDescription {
        group_id: g.group_id,
        state: if ErrorCode(g.error_code) == ErrorCode::GROUP_ID_NOT_FOUND {
            DEAD.to_string()
        } else {
            g.group_state
        },
        protocol_type: g.protocol_type,
        protocol: g.protocol_data,
        members,
    }
}

/// What [`Client::topic_lag`] needs to know about one topic.
#[derive(Debug, Default)]
struct TopicLagQuery {
    committed: BTreeMap<i32, i64>,
    assigned: BTreeSet<i32>,
    /// A member subscribes to the topic: every partition counts.
    subscribed: bool,
}

/// The lag of one partition: see [`PartitionLag::lag`].
fn partition_lag(committed: Option<i64>, end: Option<i64>, earliest: Option<i64>) -> Option<i64> {
    let end = end?;
    let from = committed.or(earliest)?;
    Some((end - from).max(0))
}

/// Assigned partitions by topic, each topic once (in first-seen order), partitions sorted and
/// without repeats: an assignor may list a topic twice.
fn merge_topic_partitions(list: Vec<TopicPartitions>) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = Vec::new();
    for tp in list {
        match out.iter_mut().find(|t| t.topic == tp.topic) {
            Some(t) => t.partitions.extend(tp.partitions),
            None => out.push(tp),
        }
    }
    for t in &mut out {
        t.partitions.sort_unstable();
        t.partitions.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::messages::describe_groups::DescribedGroupMember;

    fn tp(topic: &str, partitions: &[i32]) -> TopicPartitions {
        TopicPartitions {
            topic: topic.into(),
            partitions: partitions.to_vec(),
        }
    }

    #[test]
    fn lag_counts_from_the_commit_or_else_from_the_earliest_offset() {
        assert_eq!(partition_lag(Some(7), Some(10), None), Some(3));
        assert_eq!(partition_lag(Some(7), Some(10), Some(2)), Some(3));
        assert_eq!(partition_lag(None, Some(10), Some(2)), Some(8));
        // A commit past the end (the topic was recreated, or truncated) is no lag.
        assert_eq!(partition_lag(Some(12), Some(10), None), Some(0));
        // Without an end offset (the partition is gone) there is no lag to tell.
        assert_eq!(partition_lag(Some(7), None, None), None);
        assert_eq!(partition_lag(None, Some(10), None), None);
    }

    #[test]
    fn only_coordinator_errors_and_broken_connections_are_retried() {
        for code in [
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ] {
            assert!(
                retry_with_new_coordinator(&Error::kafka(code, "")),
                "{code}"
            );
        }
        assert!(retry_with_new_coordinator(&Error::Connection {
            broker: "b".into(),
            message: "reset".into()
        }));
        for code in [
            ErrorCode::GROUP_AUTHORIZATION_FAILED,
            ErrorCode::INVALID_GROUP_ID,
            ErrorCode::UNKNOWN_SERVER_ERROR,
        ] {
            assert!(
                !retry_with_new_coordinator(&Error::kafka(code, "")),
                "{code}"
            );
        }
        assert!(!retry_with_new_coordinator(&Error::Closed));
        assert!(!retry_with_new_coordinator(&Error::NoBrokers(
            "none".into()
        )));
    }

    #[test]
    fn coordinator_backoff_doubles_up_to_a_second() {
        let mut b = CoordinatorBackoff::new();
        let pauses: Vec<u128> = (0..8).map(|_| b.next_pause().as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn group_ids_are_checked_before_anything_is_sent() {
        assert!(matches!(
            check_group_id(""),
            Err(Error::InvalidArgument {
                arg: "group_id",
                ..
            })
        ));
        assert!(check_group_id(&"g".repeat(MAX_GROUP_ID_BYTES)).is_ok());
        assert!(matches!(
            check_group_id(&"g".repeat(MAX_GROUP_ID_BYTES + 1)),
            Err(Error::InvalidArgument {
                arg: "group_id",
                ..
            })
        ));
    }

    #[test]
    fn assignments_list_each_topic_once_with_sorted_partitions() {
        let merged =
            merge_topic_partitions(vec![tp("b", &[2, 0]), tp("a", &[1]), tp("b", &[1, 0])]);
        assert_eq!(merged, vec![tp("b", &[0, 1, 2]), tp("a", &[1])]);
    }

    fn member(metadata: Bytes, assignment: Bytes) -> DescribedGroupMember {
        DescribedGroupMember {
            member_id: "m-1".into(),
            group_instance_id: Some("web-1".into()),
            client_id: "kafka_rs".into(),
            client_host: "/10.0.0.7".into(),
            member_metadata: metadata,
            member_assignment: assignment,
        }
    }

    fn described(
        protocol_type: &str,
        error_code: i16,
        members: Vec<DescribedGroupMember>,
    ) -> DescribedGroup {
        DescribedGroup {
            error_code,
            group_id: "g".into(),
            group_state: if error_code == 0 { "Stable" } else { "" }.into(),
            protocol_type: protocol_type.into(),
            protocol_data: "range".into(),
            members,
            authorized_operations: i32::MIN,
        }
    }

    #[test]
    fn consumer_members_are_decoded_and_undecodable_ones_reported_as_unknown() {
        let events = EventLog::default();
        events.set_level(Some(Level::Debug));
        let subscription = ConsumerProtocolSubscription::new(vec!["orders".into()]).encode(3);
        let assignment = ConsumerProtocolAssignment {
            assigned_partitions: vec![tp("orders", &[2, 0, 1])],
            user_data: None,
        }
        .encode(0);
        let d = group_description(
            described(
                "consumer",
                0,
                vec![
                    member(subscription, assignment),
                    member(Bytes::from_static(&[0xff]), Bytes::from_static(&[0, 0, 0])),
                    member(Bytes::new(), Bytes::new()),
                ],
            ),
            &events,
        );
        assert_eq!(d.state, "Stable");
        assert_eq!(d.protocol, "range");
        assert_eq!(d.members[0].subscription, Some(vec!["orders".to_string()]));
        assert_eq!(
            d.members[0].assignment,
            Some(vec![tp("orders", &[0, 1, 2])])
        );
        assert_eq!(d.members[0].group_instance_id.as_deref(), Some("web-1"));
        assert_eq!(
            (
                d.members[1].subscription.clone(),
                d.members[1].assignment.clone()
            ),
            (None, None)
        );
        assert_eq!(
            (
                d.members[2].subscription.clone(),
                d.members[2].assignment.clone()
            ),
            (None, None)
        );
        let warnings: Vec<String> = events
            .drain()
            .into_iter()
            .filter(|e| e.level == Level::Warn)
            .map(|e| e.message)
            .collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("subscription of member m-1"),
            "{warnings:?}"
        );
    }

    #[test]
    fn other_protocols_keep_their_bytes_undecoded_and_a_missing_group_is_dead() {
        let events = EventLog::default();
        let subscription = ConsumerProtocolSubscription::new(vec!["orders".into()]).encode(0);
        let d = group_description(
            described(
                "connect",
                0,
                vec![member(subscription.clone(), Bytes::new())],
            ),
            &events,
        );
        assert_eq!(
            (
                d.members[0].subscription.clone(),
                d.members[0].assignment.clone()
            ),
            (None, None)
        );
        let d = group_description(
            described("", ErrorCode::GROUP_ID_NOT_FOUND.0, vec![]),
            &events,
        );
        assert_eq!(d.state, DEAD);
        assert!(d.members.is_empty());
    }
}
