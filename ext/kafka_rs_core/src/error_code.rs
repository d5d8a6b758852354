//! Kafka protocol error codes.
//!
//! Every code a broker can send, from `-1` (`UNKNOWN_SERVER_ERROR`) up to the newest ones, with
//! the name Kafka's Java client gives it (`org.apache.kafka.common.protocol.Errors`), whether the
//! Java client treats it as retriable (its exception class extends `RetriableException`), and a
//! short description. The Ruby binding builds one exception class per entry of [`ErrorCode::all`].
//!
//! Codes the table does not know (a newer broker) are not an error here: [`ErrorCode::name`] is
//! `"UNKNOWN"`, they are not retriable and they do not invalidate metadata.

use std::fmt;

/// A Kafka protocol error code as sent by brokers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

/// One row of the error-code table (see [`ErrorCode::all`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCodeInfo {
    /// The code on the wire.
    pub code: i16,
    /// The Java enum name, e.g. `"NOT_LEADER_OR_FOLLOWER"`.
    pub name: &'static str,
    /// Whether the Java client's exception for this code is a `RetriableException`.
    pub retriable: bool,
    /// A one-line description.
    pub description: &'static str,
}

/// Declares one associated constant per code and the static table, from a single list, so the
/// constants, names and table cannot drift apart.
macro_rules! error_codes {
    ($($name:ident = $code:literal, $retriable:literal, $description:literal;)*) => {
        impl ErrorCode {
            $(
                #[doc = $description]
                pub const $name: ErrorCode = ErrorCode($code);
            )*
        }

        /// Sorted by code (checked by a test), so lookups can binary-search.
        static TABLE: &[ErrorCodeInfo] = &[
            $(
                ErrorCodeInfo {
                    code: $code,
                    name: stringify!($name),
                    retriable: $retriable,
                    description: $description,
                },
            )*
        ];
    };
}

// name = code, retriable, description.
// Retriable flags follow apache/kafka: true exactly when the exception class mapped in `Errors`
// extends `RetriableException` (directly or through `InvalidMetadataException` /
// `RefreshRetriableException`).
error_codes! {
    UNKNOWN_SERVER_ERROR = -1, false,
        "The broker hit an unexpected error while handling the request.";
    NONE = 0, false,
        "No error.";
    OFFSET_OUT_OF_RANGE = 1, false,
        "The requested offset is outside the range of offsets the broker holds for the partition.";
    CORRUPT_MESSAGE = 2, true,
        "A message failed its CRC check, has an invalid size, lacks a key on a compacted topic, or is otherwise corrupt.";
    UNKNOWN_TOPIC_OR_PARTITION = 3, true,
        "The broker does not host this topic or partition.";
    INVALID_FETCH_SIZE = 4, false,
        "The fetch size in the request is invalid.";
    LEADER_NOT_AVAILABLE = 5, true,
        "The partition has no leader right now (a leader election is probably in progress).";
    NOT_LEADER_OR_FOLLOWER = 6, true,
        "The broker is not the leader (or not a replica) of the partition: the client's metadata is stale.";
    REQUEST_TIMED_OUT = 7, true,
        "The broker did not complete the request within its timeout.";
    BROKER_NOT_AVAILABLE = 8, false,
        "The broker is not available.";
    REPLICA_NOT_AVAILABLE = 9, true,
        "A replica of the partition is not available on the broker.";
    MESSAGE_TOO_LARGE = 10, false,
        "A message is larger than the maximum message size the broker accepts.";
    STALE_CONTROLLER_EPOCH = 11, false,
        "The request came from a controller that is no longer the active one.";
    OFFSET_METADATA_TOO_LARGE = 12, false,
        "The metadata string attached to an offset commit is too long.";
    NETWORK_EXCEPTION = 13, true,
        "The connection was closed before a response arrived.";
    COORDINATOR_LOAD_IN_PROGRESS = 14, true,
        "The coordinator is still loading its state and cannot serve requests yet.";
    COORDINATOR_NOT_AVAILABLE = 15, true,
        "No coordinator is available for the group or transactional id.";
    NOT_COORDINATOR = 16, true,
        "The broker is not the coordinator for this group or transactional id.";
    INVALID_TOPIC_EXCEPTION = 17, false,
        "The topic name is invalid, or the operation is not allowed on this topic (e.g. an internal one).";
    RECORD_LIST_TOO_LARGE = 18, false,
        "A record batch is larger than the broker's log segment size.";
    NOT_ENOUGH_REPLICAS = 19, true,
        "Fewer in-sync replicas than required are available, so the write was rejected.";
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20, true,
        "The write was appended, but to fewer in-sync replicas than required.";
    INVALID_REQUIRED_ACKS = 21, false,
        "The required acks value of the produce request is not valid.";
    ILLEGAL_GENERATION = 22, false,
        "The group generation id in the request is not the current one.";
    INCONSISTENT_GROUP_PROTOCOL = 23, false,
        "The member's protocol type or protocols are incompatible with the group's.";
    INVALID_GROUP_ID = 24, false,
        "The group id is invalid.";
    UNKNOWN_MEMBER_ID = 25, false,
        "The coordinator does not know this member id.";
    INVALID_SESSION_TIMEOUT = 26, false,
        "The session timeout is outside the range the broker allows.";
    REBALANCE_IN_PROGRESS = 27, false,
        "The group is rebalancing; the member must rejoin.";
    INVALID_COMMIT_OFFSET_SIZE = 28, false,
        "The size of the offset commit data is not valid.";
    TOPIC_AUTHORIZATION_FAILED = 29, false,
        "Not authorized to access the topic.";
    GROUP_AUTHORIZATION_FAILED = 30, false,
        "Not authorized to access the group.";
    CLUSTER_AUTHORIZATION_FAILED = 31, false,
        "Not authorized to perform this cluster-level operation.";
    INVALID_TIMESTAMP = 32, false,
        "A message timestamp is outside the acceptable range.";
    UNSUPPORTED_SASL_MECHANISM = 33, false,
        "The broker does not support the requested SASL mechanism.";
    ILLEGAL_SASL_STATE = 34, false,
        "The request is not valid in the current state of SASL authentication.";
    UNSUPPORTED_VERSION = 35, false,
        "The broker does not support this version of the API.";
    TOPIC_ALREADY_EXISTS = 36, false,
        "A topic with this name already exists.";
    INVALID_PARTITIONS = 37, false,
        "The number of partitions is invalid.";
    INVALID_REPLICATION_FACTOR = 38, false,
        "The replication factor is below 1 or above the number of available brokers.";
    INVALID_REPLICA_ASSIGNMENT = 39, false,
        "The replica assignment is invalid.";
    INVALID_CONFIG = 40, false,
        "The configuration is invalid.";
    NOT_CONTROLLER = 41, true,
        "The broker is not the active controller of the cluster.";
    INVALID_REQUEST = 42, false,
        "The request is malformed or otherwise invalid (usually a client bug or a version mismatch).";
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43, false,
        "The broker's message format version does not support this request.";
    POLICY_VIOLATION = 44, false,
        "The request violates a policy configured on the broker.";
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45, false,
        "The broker received a producer sequence number out of order.";
    DUPLICATE_SEQUENCE_NUMBER = 46, false,
        "The broker received a duplicate producer sequence number.";
    INVALID_PRODUCER_EPOCH = 47, false,
        "The producer used an outdated epoch (a newer instance exists, or its transaction expired).";
    INVALID_TXN_STATE = 48, false,
        "The transactional operation is not valid in the transaction's current state.";
    INVALID_PRODUCER_ID_MAPPING = 49, false,
        "The producer id is not the one currently assigned to this transactional id.";
    INVALID_TRANSACTION_TIMEOUT = 50, false,
        "The transaction timeout exceeds the broker's maximum (transaction.max.timeout.ms).";
    CONCURRENT_TRANSACTIONS = 51, true,
        "Another operation on the same transaction is still in progress.";
    TRANSACTION_COORDINATOR_FENCED = 52, false,
        "The transaction coordinator that sent this request is no longer the current one.";
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53, false,
        "Not authorized to use the transactional id.";
    SECURITY_DISABLED = 54, false,
        "Security features are disabled on the broker.";
    OPERATION_NOT_ATTEMPTED = 55, false,
        "The broker skipped this operation because another part of the same request failed.";
    KAFKA_STORAGE_ERROR = 56, true,
        "The broker hit a disk error while accessing the partition's log.";
    LOG_DIR_NOT_FOUND = 57, false,
        "The requested log directory is not configured on the broker.";
    SASL_AUTHENTICATION_FAILED = 58, false,
        "SASL authentication failed.";
    UNKNOWN_PRODUCER_ID = 59, false,
        "The broker has no state for this producer id (for instance its records were removed by retention).";
    REASSIGNMENT_IN_PROGRESS = 60, false,
        "A partition reassignment is in progress.";
    DELEGATION_TOKEN_AUTH_DISABLED = 61, false,
        "Delegation tokens are disabled on the broker.";
    DELEGATION_TOKEN_NOT_FOUND = 62, false,
        "The delegation token does not exist.";
    DELEGATION_TOKEN_OWNER_MISMATCH = 63, false,
        "The principal is neither the owner nor a renewer of the delegation token.";
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64, false,
        "Delegation token requests are not allowed on this kind of connection (plaintext, one-way TLS or token-authenticated).";
    DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65, false,
        "Not authorized to manage delegation tokens.";
    DELEGATION_TOKEN_EXPIRED = 66, false,
        "The delegation token has expired.";
    INVALID_PRINCIPAL_TYPE = 67, false,
        "The principal type is not supported.";
    NON_EMPTY_GROUP = 68, false,
        "The group still has members.";
    GROUP_ID_NOT_FOUND = 69, false,
        "The group does not exist.";
    FETCH_SESSION_ID_NOT_FOUND = 70, true,
        "The broker has no fetch session with this id.";
    INVALID_FETCH_SESSION_EPOCH = 71, true,
        "The fetch session epoch does not match the broker's.";
    LISTENER_NOT_FOUND = 72, true,
        "The partition leader has no listener matching the one the request arrived on.";
    TOPIC_DELETION_DISABLED = 73, false,
        "Topic deletion is disabled on the broker.";
    FENCED_LEADER_EPOCH = 74, true,
        "The leader epoch in the request is older than the broker's.";
    UNKNOWN_LEADER_EPOCH = 75, true,
        "The leader epoch in the request is newer than the broker's.";
    UNSUPPORTED_COMPRESSION_TYPE = 76, false,
        "The request version cannot carry the compression type the partition uses.";
    STALE_BROKER_EPOCH = 77, false,
        "The broker epoch has changed.";
    OFFSET_NOT_AVAILABLE = 78, true,
        "The new leader's high watermark has not caught up yet, so the offset is not available.";
    MEMBER_ID_REQUIRED = 79, false,
        "The member must rejoin using the member id the coordinator assigned.";
    PREFERRED_LEADER_NOT_AVAILABLE = 80, true,
        "The preferred leader is not available.";
    GROUP_MAX_SIZE_REACHED = 81, false,
        "The group already has the maximum number of members.";
    FENCED_INSTANCE_ID = 82, false,
        "Another member with the same group.instance.id has fenced this static member.";
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83, true,
        "No eligible leader is available for the partition.";
    ELECTION_NOT_NEEDED = 84, true,
        "No leader election is needed for the partition.";
    NO_REASSIGNMENT_IN_PROGRESS = 85, false,
        "No partition reassignment is in progress.";
    GROUP_SUBSCRIBED_TO_TOPIC = 86, false,
        "The offsets of a topic cannot be deleted while the group is subscribed to it.";
    INVALID_RECORD = 87, false,
        "The broker rejected a record that failed validation.";
    UNSTABLE_OFFSET_COMMIT = 88, true,
        "Pending transactional offsets must be resolved before committed offsets can be read.";
    THROTTLING_QUOTA_EXCEEDED = 89, true,
        "The request exceeded a throttling quota.";
    PRODUCER_FENCED = 90, false,
        "A newer producer with the same transactional id has fenced this one.";
    RESOURCE_NOT_FOUND = 91, false,
        "The request refers to a resource that does not exist.";
    DUPLICATE_RESOURCE = 92, false,
        "The request refers to the same resource more than once.";
    UNACCEPTABLE_CREDENTIAL = 93, false,
        "The requested credential does not meet the acceptability criteria.";
    INCONSISTENT_VOTER_SET = 94, false,
        "The sender or the receiver is not in the current voter set.";
    INVALID_UPDATE_VERSION = 95, false,
        "The update version is invalid.";
    FEATURE_UPDATE_FAILED = 96, false,
        "Updating the finalized features failed because of an unexpected broker error.";
    PRINCIPAL_DESERIALIZATION_FAILURE = 97, false,
        "The principal of a forwarded request could not be deserialized.";
    SNAPSHOT_NOT_FOUND = 98, false,
        "The requested snapshot does not exist.";
    POSITION_OUT_OF_RANGE = 99, false,
        "The requested position is outside the snapshot.";
    UNKNOWN_TOPIC_ID = 100, true,
        "The broker does not host a topic with this id.";
    DUPLICATE_BROKER_REGISTRATION = 101, false,
        "Another broker already registered this broker id.";
    BROKER_ID_NOT_REGISTERED = 102, false,
        "The broker id is not registered.";
    INCONSISTENT_TOPIC_ID = 103, true,
        "The topic id in the request differs from the one in the broker's log.";
    INCONSISTENT_CLUSTER_ID = 104, false,
        "The cluster id in the request differs from the server's.";
    TRANSACTIONAL_ID_NOT_FOUND = 105, false,
        "The transactional id does not exist.";
    FETCH_SESSION_TOPIC_ID_ERROR = 106, true,
        "The fetch session used topic ids inconsistently.";
    INELIGIBLE_REPLICA = 107, false,
        "The proposed in-sync replica set contains an ineligible replica.";
    NEW_LEADER_ELECTED = 108, false,
        "The partition state was updated, but a new leader has been elected meanwhile.";
    OFFSET_MOVED_TO_TIERED_STORAGE = 109, false,
        "The requested offset is now only in tiered storage.";
    FENCED_MEMBER_EPOCH = 110, false,
        "The member epoch is fenced: the member must give up its partitions and rejoin.";
    UNRELEASED_INSTANCE_ID = 111, false,
        "The instance id is still held by another member, which must leave the group first.";
    UNSUPPORTED_ASSIGNOR = 112, false,
        "The group does not support the assignor or its version range.";
    STALE_MEMBER_EPOCH = 113, false,
        "The member epoch is stale: retry once a heartbeat has returned the current one.";
    MISMATCHED_ENDPOINT_TYPE = 114, false,
        "The request reached an endpoint of the wrong type (broker versus controller).";
    UNSUPPORTED_ENDPOINT_TYPE = 115, false,
        "This endpoint type is not supported yet.";
    UNKNOWN_CONTROLLER_ID = 116, false,
        "The controller id is unknown.";
    UNKNOWN_SUBSCRIPTION_ID = 117, false,
        "The telemetry push used an unknown or outdated subscription id.";
    TELEMETRY_TOO_LARGE = 118, false,
        "The telemetry push exceeds the maximum size the broker accepts.";
    INVALID_REGISTRATION = 119, false,
        "The controller considers the broker registration invalid.";
    TRANSACTION_ABORTABLE = 120, false,
        "The transaction failed on the server; aborting it lets the transactional id be used again.";
    INVALID_RECORD_STATE = 121, false,
        "The delivery state of the record does not allow this acknowledgement.";
    SHARE_SESSION_NOT_FOUND = 122, true,
        "The broker has no such share session.";
    INVALID_SHARE_SESSION_EPOCH = 123, true,
        "The share session epoch is invalid.";
    FENCED_STATE_EPOCH = 124, false,
        "The share-group state epoch does not match the share coordinator's.";
    INVALID_VOTER_KEY = 125, false,
        "The voter key does not match the receiving replica's.";
    DUPLICATE_VOTER = 126, false,
        "The voter is already in the voter set.";
    VOTER_NOT_FOUND = 127, false,
        "The voter is not in the voter set.";
    INVALID_REGULAR_EXPRESSION = 128, false,
        "The regular expression is invalid.";
    REBOOTSTRAP_REQUIRED = 129, false,
        "The client's metadata is too stale: it must start over from the bootstrap servers.";
    STREAMS_INVALID_TOPOLOGY = 130, false,
        "The Kafka Streams topology is invalid.";
    STREAMS_INVALID_TOPOLOGY_EPOCH = 131, false,
        "The Kafka Streams topology epoch is invalid.";
    STREAMS_TOPOLOGY_FENCED = 132, false,
        "The Kafka Streams topology epoch is outdated.";
    SHARE_SESSION_LIMIT_REACHED = 133, true,
        "The broker has reached its limit of share sessions.";
}

impl ErrorCode {
    /// The name reported for codes missing from the table.
    pub const UNKNOWN_NAME: &'static str = "UNKNOWN";

    /// Every known code, sorted by code, including `NONE` (0).
    pub fn all() -> &'static [ErrorCodeInfo] {
        TABLE
    }

    /// The code whose Java enum name is `name` (exact, upper case).
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        TABLE
            .iter()
            .find(|info| info.name == name)
            .map(|info| ErrorCode(info.code))
    }

    /// This code's table row, `None` for a code the table does not know.
    pub fn info(self) -> Option<&'static ErrorCodeInfo> {
        TABLE
            .binary_search_by_key(&self.0, |info| info.code)
            .ok()
            .map(|index| &TABLE[index])
    }

    /// Whether the table knows this code.
    pub fn is_known(self) -> bool {
        self.info().is_some()
    }

    /// `true` for `NONE` (0).
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// The Java enum name (`"NOT_LEADER_OR_FOLLOWER"`), or `"UNKNOWN"` for an unknown code.
    pub fn name(self) -> &'static str {
        self.info().map_or(Self::UNKNOWN_NAME, |info| info.name)
    }

    /// A one-line description; for an unknown code, a generic one.
    pub fn description(self) -> &'static str {
        self.info().map_or(
            "The broker sent an error code this client does not know.",
            |info| info.description,
        )
    }

    /// Whether the Java client considers the error transient (retrying the same operation may
    /// succeed). Unknown codes are not retriable.
    pub fn is_retriable(self) -> bool {
        self.info().is_some_and(|info| info.retriable)
    }

    /// Whether the group (or transaction) coordinator must be looked up again: it moved, is not
    /// there, or is still loading.
    pub fn is_coordinator_error(self) -> bool {
        matches!(
            self,
            ErrorCode::NOT_COORDINATOR
                | ErrorCode::COORDINATOR_NOT_AVAILABLE
                | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
        )
    }

    /// Whether, after this error, the client must refresh its cluster metadata (partition leaders,
    /// brokers, controller, topic ids) or look the group/transaction coordinator up again before
    /// retrying.
    ///
    /// This is the set the Java client reacts to: every code whose exception is an
    /// `InvalidMetadataException`, plus the codes its producer, consumer and admin client handle by
    /// requesting a metadata update or a coordinator lookup (`OFFSET_NOT_AVAILABLE`,
    /// `UNKNOWN_LEADER_EPOCH`, `NOT_CONTROLLER`, `NOT_COORDINATOR`, `COORDINATOR_NOT_AVAILABLE`,
    /// `REBOOTSTRAP_REQUIRED`), and `BROKER_NOT_AVAILABLE`. Unknown codes return `false`.
    pub fn invalidates_metadata(self) -> bool {
        matches!(
            self,
            // InvalidMetadataException subclasses.
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                | ErrorCode::LEADER_NOT_AVAILABLE
                | ErrorCode::NOT_LEADER_OR_FOLLOWER
                | ErrorCode::REPLICA_NOT_AVAILABLE
                | ErrorCode::NETWORK_EXCEPTION
                | ErrorCode::KAFKA_STORAGE_ERROR
                | ErrorCode::LISTENER_NOT_FOUND
                | ErrorCode::FENCED_LEADER_EPOCH
                | ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE
                | ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE
                | ErrorCode::ELECTION_NOT_NEEDED
                | ErrorCode::UNKNOWN_TOPIC_ID
                | ErrorCode::INCONSISTENT_TOPIC_ID
                // Handled by a metadata refresh in the Java fetch/list-offsets paths.
                | ErrorCode::UNKNOWN_LEADER_EPOCH
                | ErrorCode::OFFSET_NOT_AVAILABLE
                // Broker or controller moved or went away.
                | ErrorCode::BROKER_NOT_AVAILABLE
                | ErrorCode::NOT_CONTROLLER
                // Coordinator moved: look it up again.
                | ErrorCode::NOT_COORDINATOR
                | ErrorCode::COORDINATOR_NOT_AVAILABLE
                // Metadata is beyond repair: start over from the bootstrap servers.
                | ErrorCode::REBOOTSTRAP_REQUIRED
        )
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(code: ErrorCode) -> Self {
        code.0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn error_code_table_is_sorted_contiguous_and_unique() {
        let all = ErrorCode::all();
        assert_eq!(all.first().map(|i| i.code), Some(-1));
        for pair in all.windows(2) {
            assert_eq!(
                pair[0].code + 1,
                pair[1].code,
                "gap or disorder after {}",
                pair[0].name
            );
        }
        let codes: HashSet<i16> = all.iter().map(|i| i.code).collect();
        assert_eq!(codes.len(), all.len());
        let names: HashSet<&str> = all.iter().map(|i| i.name).collect();
        assert_eq!(names.len(), all.len());
        assert!(!names.contains(ErrorCode::UNKNOWN_NAME));
    }

    #[test]
    fn error_code_table_entries_are_well_formed() {
        for info in ErrorCode::all() {
            assert!(
                info.name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{}",
                info.name
            );
            assert!(!info.description.is_empty(), "{}", info.name);
            assert!(info.description.ends_with('.'), "{}", info.name);
            let code = ErrorCode(info.code);
            assert_eq!(code.name(), info.name);
            assert_eq!(code.is_retriable(), info.retriable);
            assert_eq!(code.description(), info.description);
            assert_eq!(ErrorCode::from_name(info.name), Some(code));
        }
    }

    #[test]
    fn error_code_spot_checks() {
        let cases = [
            (-1, "UNKNOWN_SERVER_ERROR", false),
            (0, "NONE", false),
            (2, "CORRUPT_MESSAGE", true),
            (3, "UNKNOWN_TOPIC_OR_PARTITION", true),
            (5, "LEADER_NOT_AVAILABLE", true),
            (6, "NOT_LEADER_OR_FOLLOWER", true),
            (7, "REQUEST_TIMED_OUT", true),
            (8, "BROKER_NOT_AVAILABLE", false),
            (10, "MESSAGE_TOO_LARGE", false),
            (16, "NOT_COORDINATOR", true),
            (25, "UNKNOWN_MEMBER_ID", false),
            (27, "REBALANCE_IN_PROGRESS", false),
            (35, "UNSUPPORTED_VERSION", false),
            (36, "TOPIC_ALREADY_EXISTS", false),
            (41, "NOT_CONTROLLER", true),
            (51, "CONCURRENT_TRANSACTIONS", true),
            (56, "KAFKA_STORAGE_ERROR", true),
            (74, "FENCED_LEADER_EPOCH", true),
            (90, "PRODUCER_FENCED", false),
            (99, "POSITION_OUT_OF_RANGE", false),
            (133, "SHARE_SESSION_LIMIT_REACHED", true),
        ];
        for (code, name, retriable) in cases {
            let ec = ErrorCode(code);
            assert_eq!(ec.name(), name);
            assert_eq!(ec.is_retriable(), retriable, "{name}");
        }
        assert_eq!(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, ErrorCode(3));
        assert_eq!(ErrorCode::NOT_LEADER_OR_FOLLOWER, ErrorCode(6));
        assert_eq!(ErrorCode::MESSAGE_TOO_LARGE, ErrorCode(10));
        assert_eq!(ErrorCode::TOPIC_ALREADY_EXISTS, ErrorCode(36));
        assert_eq!(ErrorCode::NONE, ErrorCode(0));
        assert!(ErrorCode::NONE.is_ok());
        assert!(!ErrorCode::UNKNOWN_SERVER_ERROR.is_ok());
        assert_eq!(
            ErrorCode::NOT_LEADER_OR_FOLLOWER.to_string(),
            "NOT_LEADER_OR_FOLLOWER (6)"
        );
    }

    #[test]
    fn error_code_unknown_codes() {
        for code in [-2, 134, 999, i16::MAX, i16::MIN] {
            let ec = ErrorCode(code);
            assert!(!ec.is_known());
            assert!(ec.info().is_none());
            assert_eq!(ec.name(), "UNKNOWN");
            assert!(!ec.is_retriable());
            assert!(!ec.invalidates_metadata());
            assert!(!ec.is_ok());
            assert!(!ec.description().is_empty());
            assert_eq!(ec.to_string(), format!("UNKNOWN ({code})"));
        }
        assert_eq!(ErrorCode::from_name("UNKNOWN"), None);
        assert_eq!(ErrorCode::from_name("not_controller"), None);
        assert_eq!(ErrorCode::from(41i16), ErrorCode::NOT_CONTROLLER);
        assert_eq!(i16::from(ErrorCode::NOT_CONTROLLER), 41);
    }

    #[test]
    fn error_code_metadata_invalidation() {
        for ec in [
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            ErrorCode::LEADER_NOT_AVAILABLE,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::NOT_CONTROLLER,
            ErrorCode::FENCED_LEADER_EPOCH,
            ErrorCode::UNKNOWN_LEADER_EPOCH,
            ErrorCode::KAFKA_STORAGE_ERROR,
            ErrorCode::NOT_COORDINATOR,
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            ErrorCode::REPLICA_NOT_AVAILABLE,
            ErrorCode::BROKER_NOT_AVAILABLE,
            ErrorCode::UNKNOWN_TOPIC_ID,
            ErrorCode::REBOOTSTRAP_REQUIRED,
        ] {
            assert!(ec.invalidates_metadata(), "{ec}");
        }
        for ec in [
            ErrorCode::NONE,
            ErrorCode::UNKNOWN_SERVER_ERROR,
            ErrorCode::MESSAGE_TOO_LARGE,
            ErrorCode::REQUEST_TIMED_OUT,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ErrorCode::REBALANCE_IN_PROGRESS,
            ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            ErrorCode::TOPIC_ALREADY_EXISTS,
        ] {
            assert!(!ec.invalidates_metadata(), "{ec}");
        }
        // Everything that invalidates metadata is a known code.
        for info in ErrorCode::all() {
            let ec = ErrorCode(info.code);
            if ec.invalidates_metadata() {
                assert!(ec.is_known());
            }
        }
    }
}
