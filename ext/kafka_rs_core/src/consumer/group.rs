//! A consumer-group member: the group protocol's state machine over a [`Coordinator`], a
//! [`Prefetcher`] for the assigned partitions, and the offsets to commit.
//!
//! ```text
//!            subscribe / heartbeat says "rebalance" / poll deadline missed
//!   Stable ─────────────────────────────────────────────────────────────► Rejoin
//!     ▲   (eager: poll returns Revoked(all) first; the host commits)        │
//!     │                                                                     ▼
//!     └── poll returns Assigned(new) ◄── committed offsets fetched ◄── JoinGroup, SyncGroup
//!         (cooperative: Revoked(lost) then Assigned(gained); a loss asks for a follow-up join)
//! ```
//!
//! The protocol steps (join, sync, commit, leave) run inside [`GroupConsumer::poll`] and
//! friends, on the host's thread with its lock released, as the Java client runs them inside
//! `poll()`; only heartbeats run in the background ([`heartbeat_loop`]). So the host's
//! callbacks (revoked, assigned) run on its own thread, and a rebalance waits for the host to
//! come back to `poll` (up to the rebalance timeout, after which the member leaves the group:
//! the Java client's `max.poll.interval.ms`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::assignor::{Assignor, MemberSubscription};
use super::coordinator::{Coordinator, JoinedMember};
use super::fetch::StartOffset;
use super::fetch_session::SessionCounts;
use super::prefetch::{Chunk, PrefetchOptions, Prefetcher, TopicPartition};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::log::Level;
use crate::protocol::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicPartitions, MAX_VERSION,
};

/// Settings of a group member.
#[derive(Debug, Clone)]
pub struct GroupOptions {
    pub group_id: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// How long the broker keeps committed offsets (`None`: the broker's default).
    pub retention: Option<Duration>,
    /// In order of preference; the group picks one every member supports.
    pub assignors: Vec<Assignor>,
    /// Static membership (KIP-345).
    pub group_instance_id: Option<String>,
    pub prefetch: PrefetchOptions,
}

/// A subscribed topic and where its partitions start without a committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribedTopic {
    pub name: String,
    pub reset: StartOffset,
}

/// What [`GroupConsumer::poll`] hands the host.
#[derive(Debug)]
pub enum Poll {
    /// These partitions are no longer this member's: commit what was processed, run the
    /// callback. (The data of revoked partitions is already dropped.)
    Revoked(Vec<TopicPartition>),
    /// These partitions are now this member's (their committed offsets are in place).
    Assigned(Vec<TopicPartition>),
    Chunks(Vec<Chunk>),
    /// Nothing within the wait (or the wait was interrupted).
    Idle,
}

#[derive(Debug, Default)]
struct State {
    member_id: String,
    generation: i32,
    /// The assignor the group chose in the last join.
    protocol: Option<String>,
    subscriptions: Vec<SubscribedTopic>,
    /// Partitions owned now.
    owned: Vec<TopicPartition>,
    /// Events to hand out before anything else (cooperative rebalances produce two).
    events: Vec<Poll>,
    /// Next offset to commit per partition (processed + 1), and what was committed.
    marked: HashMap<TopicPartition, i64>,
    committed: HashMap<TopicPartition, i64>,
    /// Partitions handed out as revoked: their offsets are forgotten at the next poll, once
    /// the host has committed them.
    revoked: Vec<TopicPartition>,
}

struct Inner {
    client: Client,
    opts: GroupOptions,
    coordinator: Coordinator,
    prefetcher: Prefetcher,
    state: Mutex<State>,
    /// Set by the heartbeat task (or a subscription change): join again at the next poll.
    rejoin: AtomicBool,
    /// When the host last called `poll` (the heartbeat task leaves the group when it is late).
    last_poll: Mutex<Instant>,
    /// The heartbeat task of the current generation.
    heartbeat: Mutex<Option<tokio::task::AbortHandle>>,
    closed: AtomicBool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop_heartbeat(&self) {
        if let Some(h) = self
            .heartbeat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            h.abort();
        }
    }
}

/// A consumer-group member. Cheap to share; one host thread polls it.
pub struct GroupConsumer {
    inner: Arc<Inner>,
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        self.inner.stop_heartbeat();
        self.inner.prefetcher.stop();
    }
}

impl GroupConsumer {
    /// Must be called inside the client's runtime (it starts the prefetcher).
    pub fn new(client: Client, opts: GroupOptions) -> GroupConsumer {
        let prefetcher = Prefetcher::new(client.clone(), opts.prefetch.clone());
        let coordinator = Coordinator::new(client.clone(), opts.group_id.clone());
        GroupConsumer {
            inner: Arc::new(Inner {
                client,
                coordinator,
                prefetcher,
                state: Mutex::new(State {
                    generation: -1,
                    ..State::default()
                }),
                rejoin: AtomicBool::new(true),
                last_poll: Mutex::new(Instant::now()),
                heartbeat: Mutex::new(None),
                closed: AtomicBool::new(false),
                opts,
            }),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.inner.opts.group_id
    }

    /// Sets the subscribed topics; a change makes the member join again at the next poll.
    pub fn subscribe(&self, topics: Vec<SubscribedTopic>) {
        let mut st = self.inner.lock();
        if st.subscriptions != topics {
            st.subscriptions = topics;
            self.inner.rejoin.store(true, Ordering::Release);
            self.inner.prefetcher.interrupt();
        }
    }

    /// Runs the group protocol as needed and hands over what is next: a rebalance's events,
    /// else prefetched data (waiting up to `max_wait`).
    pub async fn poll(&self, max_wait: Duration, max_chunks: usize) -> Result<Poll> {
        let inner = &self.inner;
        *inner.last_poll.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        {
            let mut st = inner.lock();
            for tp in std::mem::take(&mut st.revoked) {
                if !st.owned.contains(&tp) {
                    st.marked.remove(&tp);
                    st.committed.remove(&tp);
                }
            }
            if let Some(event) = pop_event(&mut st) {
                return Ok(event);
            }
        }
        if inner.rejoin.load(Ordering::Acquire) {
            return self.rebalance().await;
        }
        match inner.prefetcher.take(max_chunks, max_wait).await {
            Ok(chunks) if chunks.is_empty() => Ok(Poll::Idle),
            Ok(chunks) => Ok(Poll::Chunks(chunks)),
            Err(e) => Err(e),
        }
    }

    /// The host is making progress through the data it took (ruby-kafka heartbeats between
    /// messages): the poll deadline counts from now.
    pub fn touch(&self) {
        *self
            .inner
            .last_poll
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Wakes a poll that waits for data (a stop, a rebalance).
    pub fn interrupt(&self) {
        self.inner.prefetcher.interrupt();
    }

    /// Counts the partition's messages before `next_offset` as processed.
    pub fn mark(&self, tp: TopicPartition, next_offset: i64) {
        let mut st = self.inner.lock();
        let slot = st.marked.entry(tp).or_insert(next_offset);
        *slot = (*slot).max(next_offset);
    }

    /// Commits the processed offsets not committed yet, for the partitions still owned.
    pub async fn commit(&self) -> Result<()> {
        let inner = &self.inner;
        let (generation, member_id, offsets) = {
            let st = inner.lock();
            let offsets: Vec<(TopicPartition, i64)> = st
                .marked
                .iter()
                .filter(|(tp, o)| st.committed.get(*tp) != Some(o))
                .map(|(tp, o)| (tp.clone(), *o))
                .collect();
            (st.generation, st.member_id.clone(), offsets)
        };
        if offsets.is_empty() {
            return Ok(());
        }
        let result = inner
            .coordinator
            .commit(
                generation,
                &member_id,
                inner.opts.group_instance_id.as_deref(),
                &offsets,
                inner.opts.retention,
            )
            .await;
        match result {
            Ok(()) => {
                let mut st = inner.lock();
                for (tp, o) in offsets {
                    st.committed.insert(tp, o);
                }
                Ok(())
            }
            Err(e) => {
                if needs_rejoin(&e) {
                    inner.rejoin.store(true, Ordering::Release);
                }
                inner.client.events().log(Level::Warn, || {
                    format!(
                        "committing {} offsets of group {} failed: {e}",
                        offsets.len(),
                        inner.opts.group_id
                    )
                });
                Err(e)
            }
        }
    }

    /// Stops fetching the partition; `position`: the first message the host has not processed
    /// of the data it already took, if any.
    pub fn pause(&self, tp: &TopicPartition, position: Option<i64>) -> bool {
        self.inner.prefetcher.pause(tp, position)
    }

    pub fn resume(&self, tp: &TopicPartition) -> bool {
        self.inner.prefetcher.resume(tp)
    }

    pub fn is_paused(&self, tp: &TopicPartition) -> bool {
        self.inner.prefetcher.is_paused(tp)
    }

    pub fn seek(&self, tp: &TopicPartition, offset: i64) -> bool {
        self.inner.prefetcher.seek(tp, offset)
    }

    /// The partitions owned now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        let mut owned = self.inner.lock().owned.clone();
        owned.sort();
        owned
    }

    /// What the prefetcher's fetch sessions did so far (full and incremental fetches, lost
    /// sessions).
    pub fn fetch_session_counts(&self) -> SessionCounts {
        self.inner.prefetcher.session_counts()
    }

    /// Leaves the group (static members stay: their partitions wait for them until the session
    /// times out) and stops fetching.
    pub async fn leave(&self) -> Result<()> {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::Release);
        inner.stop_heartbeat();
        inner.prefetcher.stop();
        let member_id = {
            let mut st = inner.lock();
            st.owned.clear();
            std::mem::take(&mut st.member_id)
        };
        if member_id.is_empty() || inner.opts.group_instance_id.is_some() {
            return Ok(());
        }
        inner.coordinator.leave(&member_id, None).await
    }

    /// One rebalance step. Eager protocols first give back every owned partition (the host
    /// commits), then join; cooperative ones join keeping theirs.
    async fn rebalance(&self) -> Result<Poll> {
        let inner = &self.inner;
        let eager = !inner
            .lock()
            .protocol
            .as_deref()
            .and_then(Assignor::from_name)
            .is_some_and(|a| a.is_cooperative());
        if eager {
            let owned = {
                let mut st = inner.lock();
                let owned = std::mem::take(&mut st.owned);
                st.revoked.extend(owned.iter().cloned());
                owned
            };
            if !owned.is_empty() {
                inner.prefetcher.revoke(&owned);
                // The heartbeat keeps the member alive while the host commits.
                return Ok(Poll::Revoked(owned));
            }
        }
        inner.stop_heartbeat();
        inner.rejoin.store(false, Ordering::Release);
        let deadline = Instant::now() + inner.opts.rebalance_timeout + inner.opts.session_timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.join_and_sync().await {
                Ok(assigned) => return self.take_assignment(assigned).await,
                Err(e) if Instant::now() < deadline && (e.is_retriable() || needs_rejoin(&e)) => {
                    inner.client.events().log(Level::Info, || {
                        format!(
                            "joining group {} failed ({e}); retrying",
                            inner.opts.group_id
                        )
                    });
                    if matches!(
                        e.code(),
                        Some(ErrorCode::UNKNOWN_MEMBER_ID) | Some(ErrorCode::FENCED_INSTANCE_ID)
                    ) {
                        inner.lock().member_id.clear();
                    }
                    if e.code().is_none_or(|c| c.is_coordinator_error()) {
                        inner.coordinator.forget();
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    inner.rejoin.store(true, Ordering::Release);
                    return Err(e);
                }
            }
        }
    }

    /// JoinGroup then SyncGroup (computing the assignment when this member leads). Returns
    /// this member's partitions.
    async fn join_and_sync(&self) -> Result<Vec<TopicPartition>> {
        let inner = &self.inner;
        let opts = &inner.opts;
        let (member_id, subscription, owned) = {
            let st = inner.lock();
            let topics: Vec<String> = st.subscriptions.iter().map(|s| s.name.clone()).collect();
            (st.member_id.clone(), topics, st.owned.clone())
        };
        let protocols: Vec<(String, bytes::Bytes)> = opts
            .assignors
            .iter()
            .map(|a| {
                let owned_now = if a.is_cooperative() {
                    owned.clone()
                } else {
                    Vec::new()
                };
                let meta = ConsumerProtocolSubscription {
                    topics: subscription.clone(),
                    user_data: None,
                    owned_partitions: group_by_topic(&owned_now),
                    generation_id: inner.lock().generation,
                    rack_id: None,
                };
                (a.name().to_string(), meta.encode(MAX_VERSION))
            })
            .collect();
        let joined = inner
            .coordinator
            .join(
                &member_id,
                opts.group_instance_id.as_deref(),
                opts.session_timeout,
                opts.rebalance_timeout,
                protocols,
            )
            .await?;
        {
            let mut st = inner.lock();
            st.member_id = joined.member_id.clone();
            st.generation = joined.generation;
            st.protocol = Some(joined.protocol.clone());
        }
        let assignments = if joined.leader == joined.member_id {
            self.assign(&joined.protocol, &joined.members).await?
        } else {
            Vec::new()
        };
        let mine = inner
            .coordinator
            .sync(
                joined.generation,
                &joined.member_id,
                opts.group_instance_id.as_deref(),
                &joined.protocol,
                assignments,
            )
            .await?;
        let assigned = if mine.is_empty() {
            Vec::new()
        } else {
            ConsumerProtocolAssignment::decode(mine)
                .map_err(Error::Protocol)?
                .assigned_partitions
        };
        Ok(assigned
            .into_iter()
            .flat_map(|tp| {
                let topic: Arc<str> = Arc::from(tp.topic.as_str());
                tp.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect())
    }

    /// The leader's part: every member's subscription, the topics' partition counts, the
    /// chosen assignor's result, encoded per member.
    async fn assign(
        &self,
        protocol: &str,
        members: &[JoinedMember],
    ) -> Result<Vec<(String, bytes::Bytes)>> {
        let assignor = Assignor::from_name(protocol).ok_or_else(|| {
            Error::kafka(
                ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
                format!("the group chose {protocol}, which this member does not know"),
            )
        })?;
        let mut subscriptions = Vec::with_capacity(members.len());
        let mut topics: Vec<String> = Vec::new();
        for m in members {
            let sub = ConsumerProtocolSubscription::decode(m.metadata.clone())
                .map_err(Error::Protocol)?;
            for t in &sub.topics {
                if !topics.contains(t) {
                    topics.push(t.clone());
                }
            }
            subscriptions.push(MemberSubscription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                topics: sub.topics,
                owned_partitions: sub
                    .owned_partitions
                    .into_iter()
                    .flat_map(|tp| {
                        let t = tp.topic;
                        tp.partitions.into_iter().map(move |p| (t.clone(), p))
                    })
                    .collect(),
                generation: Some(sub.generation_id).filter(|g| *g >= 0),
                rack: sub.rack_id,
            });
        }
        let mut partitions_per_topic = BTreeMap::new();
        for t in &topics {
            // A topic that does not exist (yet) gets no partitions; the member keeps its
            // subscription and the next rebalance picks the topic up.
            if let Ok(info) = self.inner.client.topic(t).await {
                partitions_per_topic.insert(t.clone(), info.partitions.len() as i32);
            }
        }
        let plan = assignor.assign(&subscriptions, &partitions_per_topic);
        Ok(subscriptions
            .iter()
            .map(|m| {
                let mine = plan.get(&m.member_id).cloned().unwrap_or_default();
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for (t, p) in mine {
                    by_topic.entry(t).or_default().push(p);
                }
                let a = ConsumerProtocolAssignment {
                    assigned_partitions: by_topic
                        .into_iter()
                        .map(|(topic, partitions)| TopicPartitions { topic, partitions })
                        .collect(),
                    user_data: None,
                };
                (m.member_id.clone(), a.encode(MAX_VERSION))
            })
            .collect())
    }

    /// Takes a new assignment: the committed offsets of gained partitions, the prefetcher, the
    /// heartbeat task, and the events for the host.
    async fn take_assignment(&self, assigned: Vec<TopicPartition>) -> Result<Poll> {
        let inner = &self.inner;
        let (lost, gained) = {
            let st = inner.lock();
            let lost: Vec<TopicPartition> = st
                .owned
                .iter()
                .filter(|tp| !assigned.contains(tp))
                .cloned()
                .collect();
            let gained: Vec<TopicPartition> = assigned
                .iter()
                .filter(|tp| !st.owned.contains(tp))
                .cloned()
                .collect();
            (lost, gained)
        };
        if !lost.is_empty() {
            // Cooperative: give these up now, and join again so they can move.
            inner.prefetcher.revoke(&lost);
            inner.rejoin.store(true, Ordering::Release);
        }
        let committed = if gained.is_empty() {
            HashMap::new()
        } else {
            inner.coordinator.fetch_offsets(&gained).await?
        };
        let resets: HashMap<String, StartOffset> = inner
            .lock()
            .subscriptions
            .iter()
            .map(|s| (s.name.clone(), s.reset))
            .collect();
        inner.prefetcher.assign(
            gained
                .iter()
                .map(|tp| {
                    let reset = resets.get(&*tp.0).copied().unwrap_or(StartOffset::Latest);
                    let start = committed.get(tp).map_or(reset, |o| StartOffset::At(*o));
                    (tp.clone(), start, reset)
                })
                .collect(),
        );
        {
            let mut st = inner.lock();
            st.owned = assigned;
            // The host commits what it processed of these when it gets the Revoked event.
            st.revoked.extend(lost.iter().cloned());
            // A gained partition starts from its committed offset: nothing marked before (in
            // an earlier ownership) may be committed over it.
            for tp in &gained {
                st.marked.remove(tp);
                st.committed.remove(tp);
            }
            for (tp, o) in &committed {
                st.committed.insert(tp.clone(), *o);
            }
            if !gained.is_empty() {
                st.events.push(Poll::Assigned(gained));
            }
            if !lost.is_empty() {
                st.events.push(Poll::Revoked(lost));
            }
        }
        self.start_heartbeat();
        inner.client.events().log(Level::Info, || {
            let st = inner.lock();
            format!(
                "group {}: generation {}, member {}, {} partitions",
                inner.opts.group_id,
                st.generation,
                st.member_id,
                st.owned.len()
            )
        });
        Ok(pop_event(&mut inner.lock()).unwrap_or(Poll::Idle))
    }

    fn start_heartbeat(&self) {
        let task = tokio::spawn(heartbeat_loop(self.inner.clone()));
        if let Some(old) = self
            .inner
            .heartbeat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task.abort_handle())
        {
            old.abort();
        }
    }
}

/// Events come out Revoked before Assigned (pushed in the other order, popped from the back).
fn pop_event(st: &mut State) -> Option<Poll> {
    st.events.pop()
}

/// Whether an error means the member must join again (its generation is over).
fn needs_rejoin(e: &Error) -> bool {
    matches!(
        e.code(),
        Some(ErrorCode::REBALANCE_IN_PROGRESS)
            | Some(ErrorCode::ILLEGAL_GENERATION)
            | Some(ErrorCode::UNKNOWN_MEMBER_ID)
            | Some(ErrorCode::MEMBER_ID_REQUIRED)
    )
}

fn group_by_topic(tps: &[TopicPartition]) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in tps {
        by_topic.entry(t.to_string()).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(topic, partitions)| TopicPartitions { topic, partitions })
        .collect()
}

/// Heartbeats every `heartbeat_interval` while the generation lasts. A rebalance, a lost
/// membership or a late host (no poll within the rebalance timeout: the member leaves the group
/// so the others need not wait for it) sets `rejoin` and wakes the host's poll.
async fn heartbeat_loop(inner: Arc<Inner>) {
    let opts = &inner.opts;
    loop {
        tokio::time::sleep(opts.heartbeat_interval).await;
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        let since_poll = inner
            .last_poll
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        if since_poll > opts.rebalance_timeout {
            inner.client.events().log(Level::Warn, || {
                format!(
                    "group {}: the consumer has not polled for {} ms (processing took longer than \
                     the rebalance timeout of {} ms); leaving the group so its partitions move",
                    opts.group_id,
                    since_poll.as_millis(),
                    opts.rebalance_timeout.as_millis()
                )
            });
            let member_id = std::mem::take(&mut inner.lock().member_id);
            if opts.group_instance_id.is_none() && !member_id.is_empty() {
                let _ = inner.coordinator.leave(&member_id, None).await;
            }
            inner.rejoin.store(true, Ordering::Release);
            inner.prefetcher.interrupt();
            return;
        }
        let (generation, member_id) = {
            let st = inner.lock();
            (st.generation, st.member_id.clone())
        };
        match inner
            .coordinator
            .heartbeat(generation, &member_id, opts.group_instance_id.as_deref())
            .await
        {
            Ok(()) => {}
            Err(e) if needs_rejoin(&e) => {
                inner.client.events().log(Level::Info, || {
                    format!("group {}: {e}; rejoining", opts.group_id)
                });
                if e.code() == Some(ErrorCode::UNKNOWN_MEMBER_ID) {
                    inner.lock().member_id.clear();
                }
                inner.rejoin.store(true, Ordering::Release);
                inner.prefetcher.interrupt();
                return;
            }
            Err(e) => {
                // The coordinator moved or the connection broke: find it again next time.
                inner.client.events().log(Level::Warn, || {
                    format!("group {}: heartbeat failed ({e})", opts.group_id)
                });
                inner.coordinator.forget();
            }
        }
    }
}
