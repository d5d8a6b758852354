//! The client: configuration, the broker pool, the metadata snapshot and the lookups every
//! operation shares (any broker, a partition's leader, the controller). Operations live beside
//! it: [`crate::admin`], [`crate::producer`], [`crate::consumer`].
//!
//! A `Client` is cheap to clone (an `Arc`) and safe to use from many tasks at once. It owns one
//! background task, the idle-connection reaper, which stops when the last clone is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Mutex as AsyncMutex;

use crate::cluster::metadata::ClusterSnapshot;
use crate::cluster::pool::Backoff;
use crate::cluster::{BrokerPool, Lane, TopicInfo};
use crate::connection::{BrokerAddr, BrokerConnection, ConnectionConfig};
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::log::{EventLog, Level};
use crate::protocol::messages::metadata::MetadataRequest;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub seed_brokers: Vec<BrokerAddr>,
    pub connection: ConnectionConfig,
    pub reconnect_backoff: Backoff,
    /// Metadata older than this is refreshed before use.
    pub metadata_max_age: Duration,
    /// Connections that carried no request for this long are closed.
    pub connections_max_idle: Duration,
}

impl ClientConfig {
    pub fn new(seed_brokers: Vec<BrokerAddr>) -> Self {
        ClientConfig {
            seed_brokers,
            connection: ConnectionConfig::default(),
            reconnect_backoff: Backoff::default(),
            metadata_max_age: Duration::from_secs(300),
            connections_max_idle: Duration::from_secs(540),
        }
    }
}

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    events: Arc<EventLog>,
    pool: BrokerPool,
    snapshot: RwLock<Arc<ClusterSnapshot>>,
    /// Serializes metadata refreshes so a burst of callers causes one request.
    refreshing: AsyncMutex<()>,
    closed: AtomicBool,
}

impl Client {
    /// Creates a client. No connection is made until the first operation. Must be called inside a
    /// tokio runtime (it starts the idle reaper).
    pub fn new(config: ClientConfig) -> Result<Client> {
        if config.seed_brokers.is_empty() {
            return Err(Error::invalid(
                "seed_brokers",
                "at least one broker is required",
            ));
        }
        let events = Arc::new(EventLog::default());
        let mut conn_config = config.connection.clone();
        conn_config.events = Some(events.clone());
        let conn_config = Arc::new(conn_config);
        let inner = Arc::new(Inner {
            pool: BrokerPool::new(conn_config, config.reconnect_backoff, events.clone()),
            events,
            config,
            snapshot: RwLock::new(Arc::new(ClusterSnapshot::default())),
            refreshing: AsyncMutex::new(()),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(reap_idle_connections(Arc::downgrade(&inner)));
        Ok(Client { inner })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub fn pool(&self) -> &BrokerPool {
        &self.inner.pool
    }

    /// Diagnostics for the host to drain (off until [`EventLog::set_level`]).
    pub fn events(&self) -> &EventLog {
        &self.inner.events
    }

    /// Closes every connection; later operations fail with [`Error::Closed`].
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.pool.close_all();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The current snapshot, without any I/O.
    pub fn snapshot(&self) -> Arc<ClusterSnapshot> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A connection to any reachable broker: known brokers first, then the seeds.
    pub async fn any_broker(&self) -> Result<Arc<BrokerConnection>> {
        self.check_open()?;
        let snapshot = self.snapshot();
        for b in snapshot.brokers.values() {
            if let Some(conn) = self.inner.pool.existing(&b.addr, Lane::General) {
                return Ok(conn);
            }
        }
        let mut candidates: Vec<BrokerAddr> =
            snapshot.brokers.values().map(|b| b.addr.clone()).collect();
        for seed in &self.inner.config.seed_brokers {
            if !candidates.contains(seed) {
                candidates.push(seed.clone());
            }
        }
        let mut failures = Vec::new();
        for addr in candidates {
            match self.inner.pool.get(&addr, Lane::General).await {
                Ok(conn) => return Ok(conn),
                // Final errors: every broker of the cluster would give the same answer.
                Err(e) if e.is_final_for_connect() => return Err(e),
                Err(e) => failures.push(e.to_string()),
            }
        }
        Err(Error::NoBrokers(format!(
            "could not connect to any broker: {}",
            failures.join("; ")
        )))
    }

    /// The general connection to broker `node_id`, refreshing metadata once if the broker is
    /// unknown.
    pub async fn broker(&self, node_id: i32) -> Result<Arc<BrokerConnection>> {
        self.broker_on(node_id, Lane::General).await
    }

    /// The live general connection to broker `node_id`, if there is one (no I/O, no wait).
    pub fn existing_broker(&self, node_id: i32) -> Option<Arc<BrokerConnection>> {
        let addr = self.snapshot().broker(node_id)?.addr.clone();
        self.inner.pool.existing(&addr, Lane::General)
    }

    /// The connection to broker `node_id` on `lane`.
    pub async fn broker_on(&self, node_id: i32, lane: Lane) -> Result<Arc<BrokerConnection>> {
        self.check_open()?;
        let addr = match self.snapshot().broker(node_id) {
            Some(b) => b.addr.clone(),
            None => {
                let snap = self.refresh_metadata(Some(&[])).await?;
                snap.broker(node_id)
                    .map(|b| b.addr.clone())
                    .ok_or_else(|| {
                        Error::kafka(ErrorCode::BROKER_NOT_AVAILABLE, format!("broker {node_id}"))
                    })?
            }
        };
        self.inner.pool.get(&addr, lane).await
    }

    /// Fetches metadata for `topics` (`None`: every topic; `Some(&[])`: brokers only) and
    /// installs the merged snapshot.
    pub async fn refresh_metadata(&self, topics: Option<&[&str]>) -> Result<Arc<ClusterSnapshot>> {
        self.refresh_metadata_with(topics, false).await
    }

    /// [`refresh_metadata`](Self::refresh_metadata), asking the broker to create the named topics
    /// that do not exist when `auto_create` is set (brokers do so only where
    /// `auto.create.topics.enable` is on; the Java producer asks the same way).
    pub async fn refresh_metadata_with(
        &self,
        topics: Option<&[&str]>,
        auto_create: bool,
    ) -> Result<Arc<ClusterSnapshot>> {
        self.check_open()?;
        let started = Instant::now();
        let _guard = self.inner.refreshing.lock().await;
        // Another caller may have refreshed these topics while we waited for the lock.
        if let Some(names) = topics {
            let snap = self.snapshot();
            if !names.is_empty()
                && names
                    .iter()
                    .all(|t| snap.refreshed.get(*t).is_some_and(|at| *at >= started))
            {
                return Ok(snap);
            }
        }
        let conn = self.any_broker().await?;
        let req = MetadataRequest {
            topics,
            allow_auto_topic_creation: auto_create && topics.is_some_and(|t| !t.is_empty()),
        };
        let resp = conn.request(&req).await?;
        self.inner.events.log(Level::Debug, || match topics {
            None => format!("refreshed metadata of every topic from {}", conn.addr()),
            Some([]) => format!("refreshed broker metadata from {}", conn.addr()),
            Some(names) => format!(
                "refreshed metadata of {} from {}",
                names.join(", "),
                conn.addr()
            ),
        });
        let next = Arc::new(self.snapshot().merged(resp, topics.is_none()));
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner()) = next.clone();
        Ok(next)
    }

    /// Metadata for one topic, from the snapshot when fresh, else refreshed. An unknown topic is
    /// an `UNKNOWN_TOPIC_OR_PARTITION` error.
    pub async fn topic(&self, topic: &str) -> Result<Arc<TopicInfo>> {
        self.topic_with(topic, false).await
    }

    /// [`topic`](Self::topic) for producing: with `auto_create`, a topic that does not exist is
    /// created where the broker allows it, and this waits (up to the request timeout) until the
    /// new topic's partitions have leaders, polling metadata with a short backoff rather than
    /// failing the first produce with a retriable error.
    pub async fn topic_with(&self, topic: &str, auto_create: bool) -> Result<Arc<TopicInfo>> {
        let fresh = |snap: &ClusterSnapshot| {
            let info = snap.topics.get(topic)?;
            let at = snap.refreshed.get(topic)?;
            (info.is_ready() && at.elapsed() < self.inner.config.metadata_max_age)
                .then(|| info.clone())
        };
        if let Some(info) = fresh(&self.snapshot()) {
            return Ok(info);
        }
        let deadline = Instant::now() + self.inner.config.connection.request_timeout;
        let mut pause = Duration::from_millis(20);
        loop {
            let snap = self
                .refresh_metadata_with(Some(&[topic]), auto_create)
                .await?;
            let result = topic_from_snapshot(&snap, topic);
            // A topic being auto-created shows up as LEADER_NOT_AVAILABLE, or with partitions
            // that have no leader yet, for a moment.
            let settling = match &result {
                Ok(info) => !info.is_ready(),
                Err(e) => e.code() == Some(ErrorCode::LEADER_NOT_AVAILABLE),
            };
            if !auto_create || !settling || Instant::now() + pause > deadline {
                return result;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// A connection to the leader of `topic`/`partition`.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<Arc<BrokerConnection>> {
        let info = self.topic(topic).await?;
        let p = info.partition(partition).ok_or_else(|| {
            Error::kafka(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!(
                    "{topic}/{partition}: the topic has {} partitions",
                    info.partitions.len()
                ),
            )
        })?;
        let leader = p.leader.ok_or_else(|| {
            Error::kafka(
                ErrorCode::LEADER_NOT_AVAILABLE,
                format!("{topic}/{partition}"),
            )
        })?;
        self.broker(leader).await
    }

    /// A connection to the controller (or, on KRaft clusters, to the broker the metadata names,
    /// which forwards admin requests to the controller).
    pub async fn controller(&self) -> Result<Arc<BrokerConnection>> {
        let mut snap = self.snapshot();
        if snap.controller_id.is_none() {
            snap = self.refresh_metadata(Some(&[])).await?;
        }
        match snap.controller_id {
            Some(id) => self.broker(id).await,
            None => self.any_broker().await,
        }
    }
}

/// A topic's entry in `snap`: errors for a topic the cluster does not know, a topic-level error
/// code, and a topic whose metadata lists no partitions (which would leave nothing to produce to
/// or read from).
pub(crate) fn topic_from_snapshot(snap: &ClusterSnapshot, topic: &str) -> Result<Arc<TopicInfo>> {
    let info = snap
        .topics
        .get(topic)
        .cloned()
        .ok_or_else(|| Error::kafka(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, topic))?;
    if !info.error.is_ok() {
        return Err(Error::kafka(info.error, topic));
    }
    if info.partitions.is_empty() {
        return Err(Error::kafka(
            ErrorCode::LEADER_NOT_AVAILABLE,
            format!("{topic}: the cluster's metadata lists no partitions for it"),
        ));
    }
    Ok(info)
}

async fn reap_idle_connections(inner: Weak<Inner>) {
    loop {
        let period = match inner.upgrade() {
            Some(inner) => {
                let max_idle = inner.config.connections_max_idle;
                inner.pool.reap_idle(max_idle);
                (max_idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
            }
            None => return,
        };
        tokio::time::sleep(period).await;
    }
}
