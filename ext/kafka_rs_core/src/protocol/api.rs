//! API keys, the version ranges this client implements, and version negotiation.
//!
//! Each request type implements [`Request`]: it says which API it is, which versions we can
//! encode and decode, from which version on it is "flexible" (KIP-482 compact encodings and
//! tagged fields), how to write its body and how to read its response body. Framing and headers
//! are the connection's job ([`crate::protocol::frame`]).

use bytes::BytesMut;

use super::codec::{DecodeResult, Reader};

/// The Kafka APIs this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i16)]
pub enum ApiKey {
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    DescribeGroups = 15,
    ListGroups = 16,
    SaslHandshake = 17,
    ApiVersions = 18,
    CreateTopics = 19,
    DeleteTopics = 20,
    InitProducerId = 22,
    DescribeConfigs = 32,
    AlterConfigs = 33,
    SaslAuthenticate = 36,
    CreatePartitions = 37,
    IncrementalAlterConfigs = 44,
}

impl ApiKey {
    pub fn code(self) -> i16 {
        self as i16
    }

    pub fn name(self) -> &'static str {
        match self {
            ApiKey::Produce => "Produce",
            ApiKey::Fetch => "Fetch",
            ApiKey::ListOffsets => "ListOffsets",
            ApiKey::Metadata => "Metadata",
            ApiKey::OffsetCommit => "OffsetCommit",
            ApiKey::OffsetFetch => "OffsetFetch",
            ApiKey::FindCoordinator => "FindCoordinator",
            ApiKey::JoinGroup => "JoinGroup",
            ApiKey::Heartbeat => "Heartbeat",
            ApiKey::LeaveGroup => "LeaveGroup",
            ApiKey::SyncGroup => "SyncGroup",
            ApiKey::DescribeGroups => "DescribeGroups",
            ApiKey::ListGroups => "ListGroups",
            ApiKey::SaslHandshake => "SaslHandshake",
            ApiKey::ApiVersions => "ApiVersions",
            ApiKey::CreateTopics => "CreateTopics",
            ApiKey::DeleteTopics => "DeleteTopics",
            ApiKey::InitProducerId => "InitProducerId",
            ApiKey::DescribeConfigs => "DescribeConfigs",
            ApiKey::AlterConfigs => "AlterConfigs",
            ApiKey::SaslAuthenticate => "SaslAuthenticate",
            ApiKey::CreatePartitions => "CreatePartitions",
            ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        }
    }
}

/// A request message: its API, the versions we implement, its body encoding and the decoding of
/// its response body (the part after the response header).
pub trait Request {
    type Response;
    const API_KEY: ApiKey;
    /// Lowest version we implement.
    const MIN_VERSION: i16;
    /// Highest version we implement.
    const MAX_VERSION: i16;
    /// First flexible version (compact encodings, tagged fields, request header v2, response
    /// header v1); `i16::MAX` if the API has no flexible version in our range.
    const FLEXIBLE_FROM: i16;

    fn encode(&self, buf: &mut BytesMut, version: i16);
    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<Self::Response>;

    fn is_flexible(version: i16) -> bool {
        version >= Self::FLEXIBLE_FROM
    }

    /// The consumer group a group-membership request is for (request timing records name it).
    fn group_id(&self) -> Option<&str> {
        None
    }

    /// The response's top-level error code, for the APIs whose records report one (0: none).
    fn response_error_code(_response: &Self::Response) -> i16 {
        0
    }
}

/// The version range a broker advertises for one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

/// Picks the highest version both sides support, or `None` if the ranges do not overlap.
pub fn negotiate(ours: VersionRange, theirs: VersionRange) -> Option<i16> {
    let hi = ours.max.min(theirs.max);
    let lo = ours.min.max(theirs.min);
    (hi >= lo).then_some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        let ours = VersionRange { min: 3, max: 11 };
        assert_eq!(negotiate(ours, VersionRange { min: 0, max: 9 }), Some(9));
        assert_eq!(negotiate(ours, VersionRange { min: 3, max: 13 }), Some(11));
        assert_eq!(negotiate(ours, VersionRange { min: 0, max: 2 }), None);
        assert_eq!(negotiate(ours, VersionRange { min: 12, max: 13 }), None);
    }
}
