//! Fetching from partitions by offset, without a consumer group.
//!
//! A fetch names `(topic, partition, offset)` cursors; the client groups them by partition leader
//! and sends one Fetch request per leader, all leaders at once, so a long-poll on one broker does
//! not delay the others. Fetches travel on each broker's fetch connection ([`Lane::Fetch`]), so
//! a long poll never holds up produce or admin requests, and a fetch abandoned before its answer
//! closes that connection rather than delaying the next fetch. Each partition's records come back as a zero-copy `Bytes` slice of the
//! response; [`FetchedPartition::records`] decodes them lazily, skipping records below the fetch
//! offset (a fetch returns whole batches, which may start earlier).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinSet;

use super::fetch_session::{FetchSession, PartitionMarks, SessionPlan};
use crate::client::Client;
use crate::cluster::Lane;
use crate::connection::BrokerConnection;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::log::Level;
use crate::protocol::codec::DecodeError;
use crate::protocol::messages::fetch::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopic,
    FetchTopicPartitions, IsolationLevel,
};
use crate::protocol::messages::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::protocol::records::decode::FetchedRecords;
use crate::protocol::records::decode_records_from;

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    Earliest,
    Latest,
    At(i64),
}

/// A position to read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCursor {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    pub max_wait: Duration,
    pub min_bytes: i32,
    /// Per partition (and, for the whole response, the same cap times the partition count).
    pub max_bytes: i32,
    pub isolation_level: IsolationLevel,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            max_wait: Duration::from_secs(5),
            min_bytes: 1,
            max_bytes: 1_048_576,
            isolation_level: IsolationLevel::ReadUncommitted,
        }
    }
}

/// What one partition returned.
#[derive(Debug, Clone)]
pub struct FetchedPartition {
    pub topic: String,
    pub partition: i32,
    /// The offset that was asked for.
    pub fetch_offset: i64,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// The raw record batches (empty when none).
    pub records: Bytes,
    /// Aborted transactions in the records, `(producer id, first offset)` (read_committed).
    pub aborted: Vec<(i64, i64)>,
}

impl FetchedPartition {
    /// The records at or after the fetch offset, decoded one at a time. Once exhausted, the
    /// iterator's `next_offset()` says where the next fetch starts (past transaction markers and
    /// compaction gaps, which yield no records).
    pub fn records(&self) -> FetchedRecords {
        let records = decode_records_from(self.records.clone(), self.fetch_offset);
        if self.aborted.is_empty() {
            records
        } else {
            records.skipping_aborted(self.aborted.clone())
        }
    }
}

/// How many times a fetch is retried after a stale-leader answer or a broken connection.
const FETCH_ATTEMPTS: usize = 3;

impl Client {
    /// Resolves a start position to an offset.
    pub async fn resolve_offset(
        &self,
        topic: &str,
        partition: i32,
        start: StartOffset,
    ) -> Result<i64> {
        let timestamp = match start {
            StartOffset::At(o) => return Ok(o),
            StartOffset::Earliest => EARLIEST_TIMESTAMP,
            StartOffset::Latest => LATEST_TIMESTAMP,
        };
        let offsets = self
            .list_offsets(topic, Some(&[partition]), timestamp)
            .await?;
        offsets.get(&partition).copied().ok_or_else(|| {
            Error::kafka(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("{topic}/{partition}"),
            )
        })
    }

    /// Fetches from every cursor (one request per partition leader, concurrently). Partitions
    /// come back in the order of `cursors`. A partition error fails the whole call, after
    /// retries for errors that a metadata refresh can fix.
    pub async fn fetch(
        &self,
        cursors: &[PartitionCursor],
        opts: FetchOptions,
    ) -> Result<Vec<FetchedPartition>> {
        self.check_open()?;
        let mut results: Vec<Option<FetchedPartition>> = vec![None; cursors.len()];
        let mut pending: Vec<usize> = (0..cursors.len()).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
            for &i in &pending {
                let c = &cursors[i];
                let info = self.topic(&c.topic).await?;
                let part = info.partition(c.partition).ok_or_else(|| {
                    Error::kafka(
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        format!(
                            "{}/{}: the topic has {} partitions",
                            c.topic,
                            c.partition,
                            info.partitions.len()
                        ),
                    )
                })?;
                let leader = part.leader.ok_or_else(|| {
                    Error::kafka(
                        ErrorCode::LEADER_NOT_AVAILABLE,
                        format!("{}/{}", c.topic, c.partition),
                    )
                })?;
                by_leader.entry(leader).or_default().push(i);
            }
            let mut tasks = JoinSet::new();
            for (leader, idxs) in by_leader {
                let client = self.clone();
                let batch: Vec<(usize, PartitionCursor)> =
                    idxs.into_iter().map(|i| (i, cursors[i].clone())).collect();
                tasks.spawn(async move {
                    let outcome = client.fetch_from(leader, &batch, opts).await;
                    (batch, outcome)
                });
            }
            let mut retry = Vec::new();
            let mut last_err: Option<Error> = None;
            while let Some(joined) = tasks.join_next().await {
                let (batch, outcome) = joined.map_err(|e| Error::Connection {
                    broker: "fetch task".into(),
                    message: e.to_string(),
                })?;
                match outcome {
                    Ok(parts) => {
                        for ((i, _), part) in batch.into_iter().zip(parts) {
                            match part {
                                Ok(p) => results[i] = Some(p),
                                Err(e) if e.is_retriable() && attempt < FETCH_ATTEMPTS => {
                                    retry.push(i);
                                    last_err = Some(e);
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Err(e) if e.is_retriable() && attempt < FETCH_ATTEMPTS => {
                        retry.extend(batch.into_iter().map(|(i, _)| i));
                        last_err = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(e) = &last_err {
                self.events().log(Level::Warn, || {
                    format!(
                        "fetch of {} partitions failed ({e}); refreshing metadata and retrying",
                        retry.len()
                    )
                });
                let topics: Vec<&str> = retry.iter().map(|&i| cursors[i].topic.as_str()).collect();
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.refresh_metadata(Some(&topics)).await?;
            }
            pending = retry;
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every partition answered"))
            .collect())
    }

    /// One Fetch request to `leader` for `cursors` (which it leads), in `session`: the outer
    /// error fails the request, the inner ones are per partition, in the order of `cursors`. No
    /// retries, except one with a new session when the broker no longer knows `session`.
    /// `lane`: the connection to use (a consumer's prefetcher has its own, which is not closed
    /// when this future is dropped: the late answer is discarded by the connection).
    pub async fn fetch_leader(
        &self,
        leader: i32,
        lane: Lane,
        cursors: &[PartitionCursor],
        opts: FetchOptions,
        session: &mut FetchSession,
    ) -> Result<Vec<Result<FetchedPartition>>> {
        let cursors: Vec<&PartitionCursor> = cursors.iter().collect();
        self.fetch_on(leader, lane, &cursors, opts, Some(session))
            .await
    }

    /// One Fetch request to one leader, without a session. The outer error is a request
    /// failure (all partitions); the inner ones are per partition, in the order of `batch`.
    async fn fetch_from(
        &self,
        leader: i32,
        batch: &[(usize, PartitionCursor)],
        opts: FetchOptions,
    ) -> Result<Vec<Result<FetchedPartition>>> {
        let cursors: Vec<&PartitionCursor> = batch.iter().map(|(_, c)| c).collect();
        self.fetch_on(leader, Lane::Fetch, &cursors, opts, None)
            .await
    }

    async fn fetch_on(
        &self,
        leader: i32,
        lane: Lane,
        cursors: &[&PartitionCursor],
        opts: FetchOptions,
        mut session: Option<&mut FetchSession>,
    ) -> Result<Vec<Result<FetchedPartition>>> {
        let conn = self.broker_on(leader, lane).await?;
        if conn.version_for::<FetchRequest>()? < 7 {
            session = None;
        }
        let mut session_retried = false;
        loop {
            let plan = match session.as_deref() {
                Some(s) => s.plan(cursors, opts.max_bytes),
                None => SessionPlan::sessionless(cursors.len()),
            };
            let answer = fetch_once(&conn, lane, cursors, &plan, opts).await;
            let resp = match answer {
                Ok(resp) => resp,
                Err(e) => {
                    if let Some(s) = session.as_deref_mut() {
                        s.failed();
                    }
                    return Err(e);
                }
            };
            let top = ErrorCode(resp.error_code);
            if top == ErrorCode::FETCH_SESSION_ID_NOT_FOUND
                || top == ErrorCode::INVALID_FETCH_SESSION_EPOCH
            {
                if let Some(s) = session.as_deref_mut() {
                    s.reset();
                    if !session_retried {
                        session_retried = true;
                        self.events().log(Level::Debug, || {
                            format!(
                                "broker {leader}: fetch session lost ({top}); starting a new one"
                            )
                        });
                        continue;
                    }
                }
            }
            if !top.is_ok() {
                if let Some(s) = session.as_deref_mut() {
                    s.failed();
                }
                return Err(Error::kafka(top, format!("Fetch from broker {leader}")));
            }
            return Ok(partition_outcomes(&resp, cursors, &plan, opts, session));
        }
    }
}

/// Sends one Fetch request for `plan` and waits for its answer.
async fn fetch_once(
    conn: &BrokerConnection,
    lane: Lane,
    cursors: &[&PartitionCursor],
    plan: &SessionPlan,
    opts: FetchOptions,
) -> Result<FetchResponse> {
    let topics = by_topic(plan.send.iter().map(|&i| {
        let c = cursors[i];
        let fp = FetchPartition::new(c.partition, c.offset, opts.max_bytes);
        (c.topic.as_str(), fp)
    }))
    .map(|(name, partitions)| FetchTopic { name, partitions })
    .collect();
    let forgotten = by_topic(plan.forgotten.iter().map(|(t, p)| (t.as_str(), *p)))
        .map(|(name, partitions)| FetchTopicPartitions { name, partitions })
        .collect();
    let req = FetchRequest {
        max_wait_ms: opts.max_wait.as_millis().min(i32::MAX as u128) as i32,
        min_bytes: opts.min_bytes,
        max_bytes: opts
            .max_bytes
            .saturating_mul(cursors.len().min(i32::MAX as usize) as i32),
        isolation_level: opts.isolation_level,
        session_id: plan.session_id,
        session_epoch: plan.session_epoch,
        topics,
        forgotten,
        rack_id: "",
    };
    // Dropped before the answer (a Ruby interrupt, a timeout around the call) on the shared
    // fetch connection: the broker still holds the fetch for up to max_wait and would answer
    // this connection's next request only after it, so the connection is closed instead and
    // the next fetch opens a new one. A prefetcher's own connection is dropped only when the
    // prefetcher stops, and goes with it.
    let abandoned = CloseOnDrop((lane == Lane::Fetch).then_some(conn));
    let resp = conn.request_with_wait(&req, opts.max_wait).await;
    abandoned.disarm();
    resp
}

/// `(topic, item)` pairs grouped by topic: topics in the order they first appear, each topic's
/// items in their order.
fn by_topic<'a, T>(
    pairs: impl IntoIterator<Item = (&'a str, T)>,
) -> impl Iterator<Item = (&'a str, Vec<T>)> {
    let mut out: Vec<(&'a str, Vec<T>)> = Vec::new();
    for (topic, item) in pairs {
        match out.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, items)) => items.push(item),
            None => out.push((topic, vec![item])),
        }
    }
    out.into_iter()
}

/// Each cursor's outcome from an answered fetch (and the session's bookkeeping of it).
fn partition_outcomes(
    resp: &FetchResponse,
    cursors: &[&PartitionCursor],
    plan: &SessionPlan,
    opts: FetchOptions,
    session: Option<&mut FetchSession>,
) -> Vec<Result<FetchedPartition>> {
    let found: Vec<Option<&FetchPartitionResponse>> = cursors
        .iter()
        .map(|c| {
            resp.topics
                .iter()
                .filter(|t| t.topic == c.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == c.partition)
        })
        .collect();
    let marks: Vec<PartitionMarks> = match session {
        Some(s) => {
            let answered: Vec<Option<PartitionMarks>> = found
                .iter()
                .map(|part| {
                    part.map(|p| PartitionMarks {
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        log_start_offset: p.log_start_offset,
                    })
                })
                .collect();
            s.answered(plan, cursors, opts.max_bytes, resp.session_id, &answered)
        }
        None => vec![PartitionMarks::UNKNOWN; cursors.len()],
    };
    cursors
        .iter()
        .zip(found)
        .zip(marks)
        .map(|((c, part), marks)| {
            let Some(part) = part else {
                if plan.is_incremental() {
                    // Left out of an incremental answer: nothing new.
                    return Ok(FetchedPartition {
                        topic: c.topic.clone(),
                        partition: c.partition,
                        fetch_offset: c.offset,
                        high_watermark: marks.high_watermark,
                        last_stable_offset: marks.last_stable_offset,
                        log_start_offset: marks.log_start_offset,
                        records: Bytes::new(),
                        aborted: Vec::new(),
                    });
                }
                return Err(Error::Protocol(DecodeError::invalid(
                    "Fetch response",
                    format!("no answer for {}/{}", c.topic, c.partition),
                )));
            };
            let code = ErrorCode(part.error_code);
            if !code.is_ok() {
                return Err(Error::kafka(
                    code,
                    format!("{}/{} at offset {}", c.topic, c.partition, c.offset),
                ));
            }
            Ok(FetchedPartition {
                topic: c.topic.clone(),
                partition: c.partition,
                fetch_offset: c.offset,
                high_watermark: part.high_watermark,
                last_stable_offset: part.last_stable_offset,
                log_start_offset: part.log_start_offset,
                records: part.records.clone().unwrap_or_default(),
                aborted: part
                    .aborted_transactions
                    .iter()
                    .map(|a| (a.producer_id, a.first_offset))
                    .collect(),
            })
        })
        .collect()
}

/// Closes a connection if dropped while armed (see [`Client::fetch_from`]).
struct CloseOnDrop<'a>(Option<&'a BrokerConnection>);

impl CloseOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.0 {
            conn.close("a long-poll fetch was abandoned before its answer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_group_by_topic_in_order_of_first_appearance() {
        let grouped: Vec<_> =
            by_topic([("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)]).collect();
        assert_eq!(
            grouped,
            vec![("b", vec![1, 3]), ("a", vec![2, 5]), ("c", vec![4])]
        );
        assert_eq!(by_topic(Vec::<(&str, i32)>::new()).count(), 0);
    }
}
