//! OffsetCommit (API key 8), versions 0 to 8: a group stores the offsets its members have
//! consumed up to, at the group's coordinator.
//!
//! A member of a generation sends its `generation_id` and `member_id`, so that the coordinator
//! refuses commits from a member that was dropped (`ILLEGAL_GENERATION`, `UNKNOWN_MEMBER_ID`,
//! `REBALANCE_IN_PROGRESS`). A consumer outside any generation (manual assignment) sends
//! [`NO_GENERATION`] and an empty member id.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | group id and offsets only; brokers before 3.0 keep v0 commits in ZooKeeper, not in the group (KRaft brokers refuse v0) |
//! | 1 | `generation_id` and `member_id`; a per-partition `commit_timestamp` (we send -1: the broker's time) |
//! | 2 | `retention_time_ms` replaces the per-partition timestamp |
//! | 3 | `throttle_time_ms` in the response |
//! | 4 | same as 3 (the broker answers before throttling) |
//! | 5 | `retention_time_ms` removed (the broker's `offsets.retention.minutes` rules) |
//! | 6 | `committed_leader_epoch` per partition (KIP-320) |
//! | 7 | `group_instance_id` (static membership, KIP-345) |
//! | 8 | flexible (compact encodings, tagged fields) |
//!
//! v9 (the same layout, for the KIP-848 consumer protocol) is not implemented. Below v7 the request
//! has no `group_instance_id` ([`OffsetCommitRequest::min_version`]); fields a version lacks are
//! left out.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// The generation id of a commit made outside any group generation (manual assignment).
pub const NO_GENERATION: i32 = -1;
/// `retention_time_ms` that leaves the retention to the broker (v2 to v4).
pub const DEFAULT_RETENTION_TIME: i64 = -1;
/// "No leader epoch known" (v6+).
pub const NO_LEADER_EPOCH: i32 = -1;

/// An OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest<'a> {
    pub group_id: &'a str,
    /// The generation from JoinGroup, or [`NO_GENERATION`] (v1+).
    pub generation_id: i32,
    /// This member's id from JoinGroup, or "" outside a generation (v1+).
    pub member_id: &'a str,
    /// The static member's `group.instance.id` (v7+), or `None`.
    pub group_instance_id: Option<&'a str>,
    /// How long the broker keeps these offsets, in ms, or [`DEFAULT_RETENTION_TIME`] (v2 to v4
    /// only).
    pub retention_time_ms: i64,
    pub topics: Vec<OffsetCommitTopic<'a>>,
}

/// The offsets to commit for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitTopic<'a> {
    pub name: &'a str,
    pub partitions: Vec<OffsetCommitPartition<'a>>,
}

/// The offset to commit for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetCommitPartition<'a> {
    pub partition_index: i32,
    /// The offset of the next record to consume.
    pub committed_offset: i64,
    /// The leader epoch of the last consumed record, or [`NO_LEADER_EPOCH`] (v6+).
    pub committed_leader_epoch: i32,
    /// Free text kept with the offset, or `None`.
    pub committed_metadata: Option<&'a str>,
}

impl OffsetCommitPartition<'_> {
    /// An offset with no leader epoch and no metadata.
    pub fn new(partition_index: i32, committed_offset: i64) -> Self {
        OffsetCommitPartition {
            partition_index,
            committed_offset,
            committed_leader_epoch: NO_LEADER_EPOCH,
            committed_metadata: None,
        }
    }
}

impl OffsetCommitRequest<'_> {
    /// The lowest version that carries this request whole: 7 for a static member, else 1 (v0
    /// has no generation and, on brokers before 3.0, commits to ZooKeeper).
    pub fn min_version(&self) -> i16 {
        if self.group_instance_id.is_some() {
            7
        } else {
            1
        }
    }
}

/// An OffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCommitResponse {
    /// v3+; 0 before.
    pub throttle_time_ms: i32,
    pub topics: Vec<OffsetCommitTopicResponse>,
}

/// The outcome for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitTopicResponse {
    pub name: String,
    pub partitions: Vec<OffsetCommitPartitionResponse>,
}

/// The outcome for one partition; group-level errors (`NOT_COORDINATOR`,
/// `REBALANCE_IN_PROGRESS`, ...) are repeated on every partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetCommitPartitionResponse {
    pub partition_index: i32,
    pub error_code: i16,
}

impl Request for OffsetCommitRequest<'_> {
    type Response = OffsetCommitResponse;
    const API_KEY: ApiKey = ApiKey::OffsetCommit;
    /// Kafka 4.4 accepts 2 to 10 (v0 and v1 removed, KIP-896); 2.1 speaks 0 to 6.
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 8;
    const FLEXIBLE_FROM: i16 = 8;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_string(self.group_id, compact);
        if version >= 1 {
            buf.put_i32(self.generation_id);
            buf.put_string(self.member_id, compact);
        }
        if version >= 7 {
            buf.put_nullable_string(self.group_instance_id, compact);
        }
        if (2..=4).contains(&version) {
            buf.put_i64(self.retention_time_ms);
        }
        buf.put_array_len(self.topics.len(), compact);
        for topic in &self.topics {
            buf.put_string(topic.name, compact);
            buf.put_array_len(topic.partitions.len(), compact);
            for p in &topic.partitions {
                buf.put_i32(p.partition_index);
                buf.put_i64(p.committed_offset);
                if version >= 6 {
                    buf.put_i32(p.committed_leader_epoch);
                }
                if version == 1 {
                    buf.put_i64(-1); // commit_timestamp: the broker's time
                }
                buf.put_nullable_string(p.committed_metadata, compact);
                buf.put_tagged_fields_if(compact);
            }
            buf.put_tagged_fields_if(compact);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<OffsetCommitResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let partitions = r.array(compact, |r| {
                let p = OffsetCommitPartitionResponse {
                    partition_index: r.i32()?,
                    error_code: r.i16()?,
                };
                r.tagged_fields_if(compact)?;
                Ok(p)
            })?;
            r.tagged_fields_if(compact)?;
            Ok(OffsetCommitTopicResponse { name, partitions })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(OffsetCommitResponse {
            throttle_time_ms,
            topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole, encode_request,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;

    type Req = OffsetCommitRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// (partition_index, committed_offset, committed_leader_epoch, commit_timestamp, metadata)
    /// as a broker reads them; absent fields at their defaults (-1).
    type DecodedPartition = (i32, i64, i32, i64, Option<String>);

    /// What a broker reads from our request, with the fields a version lacks at their defaults.
    #[derive(Debug, PartialEq, Eq)]
    struct DecodedRequest {
        group_id: String,
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
        retention_time_ms: i64,
        topics: Vec<(String, Vec<DecodedPartition>)>,
    }

    /// A test-only request decoder, written from the message definition.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 8;
        let mut r = Reader::new(bytes);
        let group_id = r.string(compact)?;
        let (generation_id, member_id) = if version >= 1 {
            (r.i32()?, r.string(compact)?)
        } else {
            (-1, String::new())
        };
        let group_instance_id = if version >= 7 {
            r.nullable_string(compact)?
        } else {
            None
        };
        let retention_time_ms = if (2..=4).contains(&version) {
            r.i64()?
        } else {
            -1
        };
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let partitions = r.array(compact, |r| {
                let index = r.i32()?;
                let offset = r.i64()?;
                let epoch = if version >= 6 { r.i32()? } else { -1 };
                let timestamp = if version == 1 { r.i64()? } else { -1 };
                let metadata = r.nullable_string(compact)?;
                r.tagged_fields_if(compact)?;
                Ok((index, offset, epoch, timestamp, metadata))
            })?;
            r.tagged_fields_if(compact)?;
            Ok((name, partitions))
        })?;
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok(DecodedRequest {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
            retention_time_ms,
            topics,
        })
    }

    /// A tagged-field section with one unknown field, when `compact`.
    fn tags(b: &mut BytesMut, compact: bool) {
        if compact {
            b.put_uvarint(1);
            b.put_uvarint(200); // a two-byte tag
            b.put_uvarint(1);
            b.put_u8(1);
        }
    }

    /// A test-only response encoder (the broker side).
    fn encode_response(resp: &OffsetCommitResponse, version: i16) -> Bytes {
        let compact = version >= 8;
        let mut b = BytesMut::new();
        if version >= 3 {
            b.put_i32(resp.throttle_time_ms);
        }
        b.put_array_len(resp.topics.len(), compact);
        for t in &resp.topics {
            b.put_string(&t.name, compact);
            b.put_array_len(t.partitions.len(), compact);
            for p in &t.partitions {
                b.put_i32(p.partition_index);
                b.put_i16(p.error_code);
                tags(&mut b, compact);
            }
            tags(&mut b, compact);
        }
        tags(&mut b, compact);
        b.freeze()
    }

    fn sample_request() -> Req {
        OffsetCommitRequest {
            group_id: "orders-consumers",
            generation_id: 9,
            member_id: "m-1",
            group_instance_id: Some("web-1"),
            retention_time_ms: 86_400_000,
            topics: vec![
                OffsetCommitTopic {
                    name: "orders",
                    partitions: vec![
                        OffsetCommitPartition::new(0, 1234),
                        OffsetCommitPartition {
                            partition_index: 5,
                            committed_offset: 1 << 40,
                            committed_leader_epoch: 3,
                            committed_metadata: Some("worker-7"),
                        },
                    ],
                },
                OffsetCommitTopic {
                    name: "empty",
                    partitions: vec![],
                },
            ],
        }
    }

    fn sample(version: i16) -> OffsetCommitResponse {
        OffsetCommitResponse {
            throttle_time_ms: if version >= 3 { 6 } else { 0 },
            topics: vec![
                OffsetCommitTopicResponse {
                    name: "orders".into(),
                    partitions: vec![
                        OffsetCommitPartitionResponse {
                            partition_index: 0,
                            error_code: 0,
                        },
                        OffsetCommitPartitionResponse {
                            partition_index: 5,
                            error_code: 22, // ILLEGAL_GENERATION
                        },
                    ],
                },
                OffsetCommitTopicResponse {
                    name: "t".repeat(130),
                    partitions: vec![],
                },
            ],
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let req = sample_request();
        for v in VERSIONS {
            let got = decode_request(encode_request(&req, v), v).unwrap();
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            (
                                p.partition_index,
                                p.committed_offset,
                                if v >= 6 { p.committed_leader_epoch } else { -1 },
                                -1,
                                p.committed_metadata.map(str::to_string),
                            )
                        })
                        .collect();
                    (t.name.to_string(), partitions)
                })
                .collect();
            let want = DecodedRequest {
                group_id: req.group_id.into(),
                generation_id: if v >= 1 { req.generation_id } else { -1 },
                member_id: if v >= 1 {
                    req.member_id.into()
                } else {
                    String::new()
                },
                group_instance_id: req.group_instance_id.filter(|_| v >= 7).map(str::to_string),
                retention_time_ms: if (2..=4).contains(&v) {
                    req.retention_time_ms
                } else {
                    -1
                },
                topics,
            };
            assert_eq!(got, want, "v{v}");
        }
    }

    fn small_request() -> Req {
        OffsetCommitRequest {
            group_id: "g",
            generation_id: 2,
            member_id: "m",
            group_instance_id: Some("i"),
            retention_time_ms: DEFAULT_RETENTION_TIME,
            topics: vec![OffsetCommitTopic {
                name: "t",
                partitions: vec![OffsetCommitPartition {
                    partition_index: 1,
                    committed_offset: 100,
                    committed_leader_epoch: 4,
                    committed_metadata: Some(""),
                }],
            }],
        }
    }

    #[test]
    fn classic_requests_by_hand() {
        // v1 => group_id generation_id member_id
        //       [name [partition_index committed_offset commit_timestamp committed_metadata]]
        #[rustfmt::skip]
        let v1: &[u8] = &[
            0, 1, b'g',                     // group_id
            0, 0, 0, 2,                     // generation_id
            0, 1, b'm',                     // member_id
            0, 0, 0, 1,                     // 1 topic
            0, 1, b't',                     //   name
            0, 0, 0, 1,                     //   1 partition
            0, 0, 0, 1,                     //     partition_index
            0, 0, 0, 0, 0, 0, 0, 100,       //     committed_offset
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // commit_timestamp -1
            0, 0,                           //     committed_metadata ""
        ];
        assert_eq!(&encode_request(&small_request(), 1)[..], v1);
        // v2 => group_id generation_id member_id retention_time_ms
        //       [name [partition_index committed_offset committed_metadata]]
        #[rustfmt::skip]
        let v2: &[u8] = &[
            0, 1, b'g',
            0, 0, 0, 2,
            0, 1, b'm',
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // retention_time_ms -1
            0, 0, 0, 1,
            0, 1, b't',
            0, 0, 0, 1,
            0, 0, 0, 1,
            0, 0, 0, 0, 0, 0, 0, 100,
            0, 0,
        ];
        assert_eq!(&encode_request(&small_request(), 2)[..], v2);
        // v7 => group_id generation_id member_id group_instance_id
        //       [name [partition_index committed_offset committed_leader_epoch committed_metadata]]
        #[rustfmt::skip]
        let v7: &[u8] = &[
            0, 1, b'g',
            0, 0, 0, 2,
            0, 1, b'm',
            0, 1, b'i',                     // group_instance_id
            0, 0, 0, 1,
            0, 1, b't',
            0, 0, 0, 1,
            0, 0, 0, 1,
            0, 0, 0, 0, 0, 0, 0, 100,
            0, 0, 0, 4,                     //     committed_leader_epoch
            0, 0,
        ];
        assert_eq!(&encode_request(&small_request(), 7)[..], v7);
    }

    #[test]
    fn flexible_v8_request_by_hand() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            2, b'g',                        // group_id
            0, 0, 0, 2,                     // generation_id
            2, b'm',                        // member_id
            2, b'i',                        // group_instance_id
            2,                              // 1 topic
            2, b't',                        //   name
            2,                              //   1 partition
            0, 0, 0, 1,                     //     partition_index
            0, 0, 0, 0, 0, 0, 0, 100,       //     committed_offset
            0, 0, 0, 4,                     //     committed_leader_epoch
            1,                              //     committed_metadata ""
            0,                              //     tags
            0,                              //   tags
            0,                              // tags
        ];
        assert_eq!(&encode_request(&small_request(), 8)[..], want);
    }

    #[test]
    fn min_version_follows_the_membership() {
        let mut req = small_request();
        assert_eq!(req.min_version(), 7);
        req.group_instance_id = None;
        assert_eq!(req.min_version(), 1);
    }

    #[test]
    fn response_round_trips_in_every_version() {
        for v in VERSIONS {
            let resp = sample(v);
            assert_eq!(
                decode_whole::<Req>(encode_response(&resp, v), v).unwrap(),
                resp,
                "v{v}"
            );
        }
    }

    #[test]
    fn responses_by_hand() {
        // v2 => [name [partition_index error_code]]
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 1,                     // 1 topic
            0, 1, b't',                     //   name
            0, 0, 0, 1,                     //   1 partition
            0, 0, 0, 3,                     //     partition_index 3
            0, 27,                          //     REBALANCE_IN_PROGRESS
        ];
        let want = OffsetCommitResponse {
            throttle_time_ms: 0,
            topics: vec![OffsetCommitTopicResponse {
                name: "t".into(),
                partitions: vec![OffsetCommitPartitionResponse {
                    partition_index: 3,
                    error_code: 27,
                }],
            }],
        };
        assert_eq!(
            decode_whole::<Req>(Bytes::from_static(bytes), 2).unwrap(),
            want
        );
        // v8 => throttle_time_ms [name [partition_index error_code TAG_BUFFER] TAG_BUFFER]
        //       TAG_BUFFER
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,                     // throttle_time_ms
            2,                              // 1 topic
            2, b't',                        //   name
            2,                              //   1 partition
            0, 0, 0, 3,                     //     partition_index 3
            0, 27,                          //     error_code
            0,                              //     tags
            0,                              //   tags
            0,                              // tags
        ];
        assert_eq!(
            decode_whole::<Req>(Bytes::from_static(bytes), 8).unwrap(),
            want
        );
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        for v in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&sample(v), v), v);
        }
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        // v0: topics claiming i32::MAX elements.
        let bytes: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 0),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v8: one topic whose partitions claim 2^32 - 2 elements.
        let bytes: &[u8] = &[0, 0, 0, 0, 2, 2, b't', 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 8),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v3: a negative topic name length.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xf0, 0, 0];
        assert!(decode_whole::<Req>(Bytes::from_static(bytes), 3).is_err());
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0xd1b5_4a32_d192_ed03);
        }
    }
}
