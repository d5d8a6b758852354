//! ListOffsets (API key 2), versions 1 to 10: the offset of a partition at a point in time, or at
//! one of its ends.
//!
//! The request asks, for each partition, for the first offset whose timestamp is at or after
//! `timestamp`, or for one of the special positions ([`LATEST_TIMESTAMP`], [`EARLIEST_TIMESTAMP`]
//! and the newer sentinels below). Each answer carries the offset found, the timestamp of that
//! record and (v4+) the leader epoch it was written in.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 1 | one offset per partition, with its timestamp (v0, gone in Kafka 4.0, returned a list) |
//! | 2 | `isolation_level` in the request; `throttle_time_ms` in the response |
//! | 3 | same as 2 (the broker answers before throttling) |
//! | 4 | `current_leader_epoch` in the request, `leader_epoch` in the response (fencing) |
//! | 5 | same as 4; may return `OFFSET_NOT_AVAILABLE` |
//! | 6 | flexible (compact encodings, tagged fields) |
//! | 7 | same as 6; accepts [`MAX_TIMESTAMP`] |
//! | 8 | same as 6; accepts [`EARLIEST_LOCAL_TIMESTAMP`] |
//! | 9 | same as 6; accepts [`LATEST_TIERED_TIMESTAMP`] |
//! | 10 | `timeout_ms` in the request (remote-storage lookups) |
//!
//! A broker answers a sentinel timestamp that is newer than the request's version with
//! `UNSUPPORTED_VERSION` for that partition; [`min_version_for_timestamp`] says which version a
//! timestamp needs.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};
use crate::protocol::messages::IsolationLevel;

/// The offset of the next record to be written (the high watermark, or the last stable offset
/// under [`IsolationLevel::ReadCommitted`]).
pub const LATEST_TIMESTAMP: i64 = -1;
/// The log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// The offset of the record with the largest timestamp (v7+, KIP-734).
pub const MAX_TIMESTAMP: i64 = -3;
/// The first offset still in the broker's local log, as opposed to tiered storage (v8+, KIP-405).
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
/// The last offset copied to tiered storage (v9+, KIP-1005).
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// `replica_id` of an ordinary client.
pub const CONSUMER_REPLICA_ID: i32 = -1;
/// "No leader epoch known": the broker skips its fencing check.
pub const NO_LEADER_EPOCH: i32 = -1;

/// The lowest ListOffsets version that accepts `timestamp`, or `None` for a negative value that
/// no version defines.
pub fn min_version_for_timestamp(timestamp: i64) -> Option<i16> {
    match timestamp {
        t if t >= 0 => Some(ListOffsetsRequest::MIN_VERSION),
        LATEST_TIMESTAMP | EARLIEST_TIMESTAMP => Some(ListOffsetsRequest::MIN_VERSION),
        MAX_TIMESTAMP => Some(7),
        EARLIEST_LOCAL_TIMESTAMP => Some(8),
        LATEST_TIERED_TIMESTAMP => Some(9),
        _ => None,
    }
}

/// A ListOffsets request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsRequest<'a> {
    /// [`CONSUMER_REPLICA_ID`] for a client.
    pub replica_id: i32,
    /// v2+; v1 always reads uncommitted.
    pub isolation_level: IsolationLevel,
    pub topics: Vec<ListOffsetsTopic<'a>>,
    /// How long the broker may wait on tiered storage, in ms; 0 lets it use its own
    /// `remote.list.offsets.request.timeout.ms` (v10+, KIP-1075).
    pub timeout_ms: i32,
}

/// The partitions of one topic to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsTopic<'a> {
    pub name: &'a str,
    pub partitions: Vec<ListOffsetsPartition>,
}

/// One partition to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    pub partition_index: i32,
    /// The leader epoch the client knows, for fencing, or [`NO_LEADER_EPOCH`] (v4+).
    pub current_leader_epoch: i32,
    /// A time in ms since the epoch, or one of the `*_TIMESTAMP` sentinels.
    pub timestamp: i64,
}

impl ListOffsetsPartition {
    /// A lookup with no leader epoch to fence on.
    pub fn new(partition_index: i32, timestamp: i64) -> Self {
        ListOffsetsPartition {
            partition_index,
            current_leader_epoch: NO_LEADER_EPOCH,
            timestamp,
        }
    }
}

/// A ListOffsets response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    /// v2+; 0 before.
    pub throttle_time_ms: i32,
    pub topics: Vec<ListOffsetsTopicResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsTopicResponse {
    pub name: String,
    pub partitions: Vec<ListOffsetsPartitionResponse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOffsetsPartitionResponse {
    pub partition_index: i32,
    pub error_code: i16,
    /// The timestamp of the record at `offset`, or -1.
    pub timestamp: i64,
    /// The offset found, or -1.
    pub offset: i64,
    /// The leader epoch of the record at `offset` (v4+); -1 when unknown or before v4.
    pub leader_epoch: i32,
}

impl<'a> Request for ListOffsetsRequest<'a> {
    type Response = ListOffsetsResponse;
    const API_KEY: ApiKey = ApiKey::ListOffsets;
    /// v0 was removed in Kafka 4.0; 2.1 speaks 0 to 4.
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 10;
    const FLEXIBLE_FROM: i16 = 6;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_i32(self.replica_id);
        if version >= 2 {
            buf.put_i8(self.isolation_level as i8);
        }
        buf.put_array_len(self.topics.len(), compact);
        for topic in &self.topics {
            buf.put_string(topic.name, compact);
            buf.put_array_len(topic.partitions.len(), compact);
            for p in &topic.partitions {
                buf.put_i32(p.partition_index);
                if version >= 4 {
                    buf.put_i32(p.current_leader_epoch);
                }
                buf.put_i64(p.timestamp);
                buf.put_tagged_fields_if(compact);
            }
            buf.put_tagged_fields_if(compact);
        }
        if version >= 10 {
            buf.put_i32(self.timeout_ms);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<ListOffsetsResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 2 { r.i32()? } else { 0 };
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let partitions = r.array(compact, |r| {
                let partition_index = r.i32()?;
                let error_code = r.i16()?;
                let timestamp = r.i64()?;
                let offset = r.i64()?;
                let leader_epoch = if version >= 4 {
                    r.i32()?
                } else {
                    NO_LEADER_EPOCH
                };
                r.tagged_fields_if(compact)?;
                Ok(ListOffsetsPartitionResponse {
                    partition_index,
                    error_code,
                    timestamp,
                    offset,
                    leader_epoch,
                })
            })?;
            r.tagged_fields_if(compact)?;
            Ok(ListOffsetsTopicResponse { name, partitions })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(ListOffsetsResponse {
            throttle_time_ms,
            topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::encode_request;
    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;
    use bytes::Bytes;

    type Req = ListOffsetsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    fn sample_request() -> Req {
        ListOffsetsRequest {
            replica_id: CONSUMER_REPLICA_ID,
            isolation_level: IsolationLevel::ReadCommitted,
            topics: vec![
                ListOffsetsTopic {
                    name: "orders",
                    partitions: vec![
                        ListOffsetsPartition::new(0, LATEST_TIMESTAMP),
                        ListOffsetsPartition {
                            partition_index: 7,
                            current_leader_epoch: 12,
                            timestamp: 1_700_000_000_000,
                        },
                    ],
                },
                ListOffsetsTopic {
                    name: "é",
                    partitions: vec![],
                },
                ListOffsetsTopic {
                    name: "",
                    partitions: vec![ListOffsetsPartition::new(3, EARLIEST_TIMESTAMP)],
                },
            ],
            timeout_ms: 1500,
        }
    }

    /// What a broker reads from a request: (replica_id, isolation_level, topics, timeout_ms).
    type DecodedRequest = (i32, i8, Vec<(String, Vec<(i32, i32, i64)>)>, i32);

    /// A test-only request decoder, written from the protocol guide.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 6;
        let mut r = Reader::new(bytes);
        let replica_id = r.i32()?;
        let isolation_level = if version >= 2 { r.i8()? } else { 0 };
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let partitions = r.array(compact, |r| {
                let index = r.i32()?;
                let epoch = if version >= 4 { r.i32()? } else { -1 };
                let timestamp = r.i64()?;
                r.tagged_fields_if(compact)?;
                Ok((index, epoch, timestamp))
            })?;
            r.tagged_fields_if(compact)?;
            Ok((name, partitions))
        })?;
        let timeout_ms = if version >= 10 { r.i32()? } else { 0 };
        r.tagged_fields_if(compact)?;
        assert!(
            r.is_empty(),
            "v{version}: {} bytes left over",
            r.remaining()
        );
        Ok((replica_id, isolation_level, topics, timeout_ms))
    }

    /// What the request should carry at `version`: fields the version lacks take their defaults.
    fn expected_request(req: &Req, version: i16) -> DecodedRequest {
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let epoch = if version >= 4 {
                            p.current_leader_epoch
                        } else {
                            -1
                        };
                        (p.partition_index, epoch, p.timestamp)
                    })
                    .collect();
                (t.name.to_string(), partitions)
            })
            .collect();
        (
            req.replica_id,
            if version >= 2 {
                req.isolation_level as i8
            } else {
                0
            },
            topics,
            if version >= 10 { req.timeout_ms } else { 0 },
        )
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let req = sample_request();
        for version in VERSIONS {
            let decoded = decode_request(encode_request(&req, version), version).unwrap();
            assert_eq!(decoded, expected_request(&req, version), "v{version}");
        }
    }

    fn one_partition_request(epoch: i32, timestamp: i64) -> Req {
        ListOffsetsRequest {
            replica_id: -1,
            isolation_level: IsolationLevel::ReadCommitted,
            topics: vec![ListOffsetsTopic {
                name: "t",
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    current_leader_epoch: epoch,
                    timestamp,
                }],
            }],
            timeout_ms: 30_000,
        }
    }

    #[test]
    fn classic_v1_request_matches_the_protocol_guide() {
        // ListOffsets Request (Version: 1) => replica_id [topics]
        //   topics => name [partitions]; partitions => partition_index timestamp
        let expected: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name (INT16 length)
            0, 0, 0, 1, // partitions: 1
            0, 0, 0, 0, // partition_index
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // timestamp -1
        ];
        let req = one_partition_request(5, LATEST_TIMESTAMP);
        assert_eq!(&encode_request(&req, 1)[..], expected);
    }

    #[test]
    fn classic_v4_request_matches_the_protocol_guide() {
        // v4 => replica_id isolation_level [topics]; partitions => index current_leader_epoch ts
        let expected: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, // replica_id
            1,    // isolation_level READ_COMMITTED
            0, 0, 0, 1, // topics
            0, 1, b't', // name
            0, 0, 0, 1, // partitions
            0, 0, 0, 0, // partition_index
            0, 0, 0, 5, // current_leader_epoch
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp -2
        ];
        let req = one_partition_request(5, EARLIEST_TIMESTAMP);
        assert_eq!(&encode_request(&req, 4)[..], expected);
    }

    #[test]
    fn flexible_v6_and_v10_requests_match_the_protocol_guide() {
        // v6 => replica_id isolation_level [topics] TAG_BUFFER, compact arrays and strings.
        let v6: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, // replica_id
            1,    // isolation_level
            2,    // topics: COMPACT_ARRAY of 1
            2, b't', // COMPACT_STRING "t"
            2,    // partitions: 1
            0, 0, 0, 0, // partition_index
            0, 0, 0, 5, // current_leader_epoch
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // timestamp 1000
            0,    // partition tags
            0,    // topic tags
            0,    // request tags
        ];
        let req = one_partition_request(5, 1000);
        assert_eq!(&encode_request(&req, 6)[..], v6);
        // v10 adds timeout_ms after the topics.
        let mut v10 = v6[..v6.len() - 1].to_vec();
        v10.extend_from_slice(&[0, 0, 0x75, 0x30, 0]);
        assert_eq!(&encode_request(&req, 10)[..], &v10[..]);
        // v7 to v9 are laid out as v6.
        for version in 7..=9 {
            assert_eq!(&encode_request(&req, version)[..], v6, "v{version}");
        }
    }

    fn sample_response() -> ListOffsetsResponse {
        ListOffsetsResponse {
            throttle_time_ms: 250,
            topics: vec![
                ListOffsetsTopicResponse {
                    name: "orders".into(),
                    partitions: vec![
                        ListOffsetsPartitionResponse {
                            partition_index: 0,
                            error_code: 0,
                            timestamp: -1,
                            offset: 42,
                            leader_epoch: 3,
                        },
                        ListOffsetsPartitionResponse {
                            partition_index: 1,
                            error_code: 6,
                            timestamp: 1_700_000_000_123,
                            offset: -1,
                            leader_epoch: -1,
                        },
                    ],
                },
                ListOffsetsTopicResponse {
                    name: "empty".into(),
                    partitions: vec![],
                },
            ],
        }
    }

    /// What a client should read at `version`: fields the version lacks take their defaults.
    fn expected_response(resp: &ListOffsetsResponse, version: i16) -> ListOffsetsResponse {
        let mut out = resp.clone();
        if version < 2 {
            out.throttle_time_ms = 0;
        }
        for p in out.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            if version < 4 {
                p.leader_epoch = -1;
            }
        }
        out
    }

    /// Tagged fields a newer broker might add; the decoder must skip them.
    fn put_unknown_tags(buf: &mut BytesMut) {
        buf.put_uvarint(1);
        buf.put_uvarint(9);
        buf.put_uvarint(2);
        buf.put_slice(&[0xab, 0xcd]);
    }

    /// A test-only response encoder, written from the protocol guide.
    fn encode_response(resp: &ListOffsetsResponse, version: i16) -> Bytes {
        let compact = version >= 6;
        let tags = |buf: &mut BytesMut| {
            if compact {
                put_unknown_tags(buf)
            }
        };
        let mut buf = BytesMut::new();
        if version >= 2 {
            buf.put_i32(resp.throttle_time_ms);
        }
        buf.put_array_len(resp.topics.len(), compact);
        for t in &resp.topics {
            buf.put_string(&t.name, compact);
            buf.put_array_len(t.partitions.len(), compact);
            for p in &t.partitions {
                buf.put_i32(p.partition_index);
                buf.put_i16(p.error_code);
                buf.put_i64(p.timestamp);
                buf.put_i64(p.offset);
                if version >= 4 {
                    buf.put_i32(p.leader_epoch);
                }
                tags(&mut buf);
            }
            tags(&mut buf);
        }
        tags(&mut buf);
        buf.freeze()
    }

    #[test]
    fn response_round_trips_in_every_version() {
        let resp = sample_response();
        for version in VERSIONS {
            let decoded = decode_whole::<Req>(encode_response(&resp, version), version).unwrap();
            assert_eq!(decoded, expected_response(&resp, version), "v{version}");
        }
    }

    #[test]
    fn flexible_response_matches_the_protocol_guide() {
        let bytes: &[u8] = &[
            0, 0, 0, 0, // throttle_time_ms
            2, // topics: 1
            2, b't', // name
            2,    // partitions: 1
            0, 0, 0, 4, // partition_index
            0, 0, // error_code
            0, 0, 0, 0, 0, 0, 0, 9, // timestamp
            0, 0, 0, 0, 0, 0, 0, 10, // offset
            0, 0, 0, 2, // leader_epoch
            0, 0, 0, // partition, topic, response tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 6).unwrap();
        assert_eq!(
            resp.topics[0].partitions[0],
            ListOffsetsPartitionResponse {
                partition_index: 4,
                error_code: 0,
                timestamp: 9,
                offset: 10,
                leader_epoch: 2
            }
        );
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        let resp = sample_response();
        for version in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&resp, version), version);
        }
    }

    #[test]
    fn hostile_array_counts_fail_without_allocating() {
        for version in VERSIONS {
            let compact = version >= 6;
            // Top-level topics array claiming ~2^31 (or ~2^32) entries.
            let mut buf = BytesMut::new();
            if version >= 2 {
                buf.put_i32(0);
            }
            if compact {
                buf.put_uvarint(u32::MAX);
            } else {
                buf.put_i32(i32::MAX);
            }
            buf.put_slice(&[0; 16]);
            let err = Req::decode_response(&mut Reader::new(buf.freeze()), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::Invalid { what: "array", .. }),
                "v{version}: {err:?}"
            );

            // A nested partitions array claiming i32::MAX entries.
            let mut buf = BytesMut::new();
            if version >= 2 {
                buf.put_i32(0);
            }
            buf.put_array_len(1, compact);
            buf.put_string("t", compact);
            if compact {
                buf.put_uvarint(i32::MAX as u32);
            } else {
                buf.put_i32(i32::MAX);
            }
            buf.put_slice(&[0; 40]);
            let err = Req::decode_response(&mut Reader::new(buf.freeze()), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::Invalid { what: "array", .. }),
                "v{version}: {err:?}"
            );

            // A classic count below -1.
            if !compact {
                let mut buf = BytesMut::new();
                if version >= 2 {
                    buf.put_i32(0);
                }
                buf.put_i32(-5);
                buf.put_slice(&[0; 16]);
                assert!(Req::decode_response(&mut Reader::new(buf.freeze()), version).is_err());
            }
        }
    }

    #[test]
    fn null_topics_array_reads_as_empty() {
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        buf.put_i32(-1);
        let resp = decode_whole::<Req>(buf.freeze(), 5).unwrap();
        assert!(resp.topics.is_empty());
        let resp = decode_whole::<Req>(Bytes::from_static(&[0, 0, 0, 0, 0, 0]), 6).unwrap();
        assert!(resp.topics.is_empty());
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for version in VERSIONS {
            let valid = encode_response(&sample_response(), version);
            assert_mutations_never_panic::<Req>(&valid, version, 0x9e37_79b9_7f4a_7c15_u64);
        }
    }

    #[test]
    fn timestamps_map_to_the_version_that_accepts_them() {
        assert_eq!(min_version_for_timestamp(0), Some(1));
        assert_eq!(min_version_for_timestamp(LATEST_TIMESTAMP), Some(1));
        assert_eq!(min_version_for_timestamp(EARLIEST_TIMESTAMP), Some(1));
        assert_eq!(min_version_for_timestamp(MAX_TIMESTAMP), Some(7));
        assert_eq!(min_version_for_timestamp(EARLIEST_LOCAL_TIMESTAMP), Some(8));
        assert_eq!(min_version_for_timestamp(LATEST_TIERED_TIMESTAMP), Some(9));
        assert_eq!(min_version_for_timestamp(-6), None);
    }
}
