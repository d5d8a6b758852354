//! Reading: partition fetches without a group ([`fetch`]). Consumer groups (coordinator, joins,
//! heartbeats, offset commits) will live beside it.

pub mod fetch;

pub use fetch::{FetchOptions, FetchedPartition, PartitionCursor, StartOffset};
