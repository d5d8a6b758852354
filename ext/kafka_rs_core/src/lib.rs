//! kafka_rs_core: a Kafka client in pure Rust (no Ruby), the engine of the kafka_rs gem.
//!
//! Layers, bottom up:
//! * [`protocol`]: wire codecs (primitives, framing, one module per API, record batches).
//! * [`connection`]: one socket per broker with pipelined requests ([`connection::messenger`]).
//! * [`cluster`]: the broker pool and metadata snapshots.
//! * [`client`]: the shared [`Client`], and the operations beside it: [`admin`], [`admin_groups`],
//!   [`producer`], [`consumer`].
//!
//! Everything async runs on the caller's tokio runtime; the only background work is each
//! connection's reader and writer task and the client's idle reaper. Diagnostics go to the
//! client's [`log::EventLog`], which the host drains on its own thread.

pub mod admin;
pub mod admin_groups;
pub mod client;
pub mod cluster;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod error_code;
pub mod log;
pub mod producer;
pub mod protocol;

pub use client::{Client, ClientConfig};
pub use error::{Error, Result};
pub use error_code::ErrorCode;
