//! What the client knows about the cluster and how it reaches it.
//!
//! * [`pool`]: one [`BrokerConnection`](crate::connection::BrokerConnection) per broker and lane
//!   (general requests, long-poll fetches), opened on first use, replaced after failure with
//!   jittered exponential backoff, closed when idle.
//! * [`metadata`]: the latest Metadata response as a snapshot (brokers, topics, partition
//!   leaders), refreshed on demand and after errors that say the snapshot is stale.

pub mod metadata;
pub mod pool;

pub use metadata::{ClusterSnapshot, PartitionInfo, TopicInfo};
pub use pool::{BrokerPool, Lane};
