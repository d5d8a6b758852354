//! Reading: partition fetches without a group ([`fetch`]); the consumer group: a member's
//! state machine ([`group`]), its requests to the coordinator ([`coordinator`]), the partition
//! assignors a group leader runs ([`assignor`]) and the background prefetcher ([`prefetch`]).

pub mod assignor;
pub mod coordinator;
pub mod fetch;
pub mod fetch_session;
pub mod group;
pub mod prefetch;

pub use assignor::{
    cooperative_sticky_plan, Assignor, GroupAssignment, MemberSubscription, StickyPlan,
    TopicPartition,
};
pub use fetch::{FetchOptions, FetchedPartition, PartitionCursor, StartOffset};
