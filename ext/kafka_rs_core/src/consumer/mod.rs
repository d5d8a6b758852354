//! Reading: partition fetches without a group ([`fetch`]), and the partition assignors a group
//! leader runs ([`assignor`]). Consumer groups (coordinator, joins, heartbeats, offset commits)
//! will live beside them.

pub mod assignor;
pub mod fetch;

pub use assignor::{
    cooperative_sticky_plan, Assignor, GroupAssignment, MemberSubscription, StickyPlan,
    TopicPartition,
};
pub use fetch::{FetchOptions, FetchedPartition, PartitionCursor, StartOffset};
