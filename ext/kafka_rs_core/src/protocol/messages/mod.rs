//! One module per Kafka API: the request (its body encoding) and the response (its body
//! decoding), for every version in the range the [`Request`](super::api::Request) impl declares.
//! Responses decode only the fields the client uses and skip the rest, with every length capped
//! (see [`codec`](super::codec)).

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod sync_group;

#[cfg(test)]
pub(crate) mod test_support;

/// Which records a fetch (or a ListOffsets) may see (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(i8)]
pub enum IsolationLevel {
    /// Every record, including those of open and aborted transactions.
    #[default]
    ReadUncommitted = 0,
    /// Only up to the last stable offset; aborted transactions are listed so they can be dropped.
    ReadCommitted = 1,
}
