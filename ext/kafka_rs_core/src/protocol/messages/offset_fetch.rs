//! OffsetFetch (API key 9), versions 0 to 8: the offsets a group has committed, from the group's
//! coordinator.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | one group, listed partitions; brokers before 3.0 read v0 offsets from ZooKeeper (KRaft brokers refuse v0) |
//! | 1 | same layout, offsets from the group (`__consumer_offsets`) |
//! | 2 | null `topics` asks for every committed partition; a top-level `error_code` in the response |
//! | 3 | `throttle_time_ms` in the response |
//! | 4 | same as 3 (the broker answers before throttling) |
//! | 5 | `committed_leader_epoch` per partition in the response |
//! | 6 | flexible (compact encodings, tagged fields) |
//! | 7 | `require_stable` (KIP-447): with pending transactional commits the broker answers `UNSTABLE_OFFSET_COMMIT` instead of an offset that may still change |
//! | 8 | batched: several groups per request, one result per group in the response (KIP-709) |
//!
//! v9 (member id and epoch, for the KIP-848 consumer protocol) is not implemented.
//!
//! [`OffsetFetchResponse`] has one shape for every version: a list of groups. Below v8 it holds
//! exactly one, whose `group_id` is empty (the broker does not repeat the group it was asked
//! for) and whose `error_code` is the top-level error (v2+; below v2 a group-level error such as
//! `NOT_COORDINATOR` is reported on every partition). A request carries exactly one group below
//! v8 and can ask for every partition (null `topics`) only from v2 on:
//! [`OffsetFetchRequest::min_version`]. `require_stable` is a hint left out below v7, as the
//! Java client does unless told to fail.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// `committed_offset` of a partition that has no committed offset.
pub const NO_OFFSET: i64 = -1;
/// `committed_leader_epoch` when unknown (and before v5).
pub const NO_LEADER_EPOCH: i32 = -1;

/// An OffsetFetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequest<'a> {
    /// The groups to read: exactly one below v8 (only the first is sent; an empty group id if
    /// there is none), any number from v8 on.
    pub groups: Vec<OffsetFetchGroup<'a>>,
    /// Ask the broker to hold back offsets with pending transactional commits (v7+).
    pub require_stable: bool,
}

/// The partitions to read for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchGroup<'a> {
    pub group_id: &'a str,
    /// The partitions to read, or `None` for every partition the group has committed (v2+;
    /// below v2 `None` is sent as an empty list and asks for nothing).
    pub topics: Option<Vec<OffsetFetchTopic<'a>>>,
}

/// The partitions to read of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchTopic<'a> {
    pub name: &'a str,
    pub partition_indexes: Vec<i32>,
}

impl<'a> OffsetFetchRequest<'a> {
    /// Reads the offsets of one group: the listed partitions, or every committed one (`None`).
    pub fn group(group_id: &'a str, topics: Option<Vec<OffsetFetchTopic<'a>>>) -> Self {
        OffsetFetchRequest {
            groups: vec![OffsetFetchGroup { group_id, topics }],
            require_stable: false,
        }
    }

    /// The lowest version that carries this request whole: 8 for any number of groups but one,
    /// 2 to ask for every partition, else 1 (v0 reads ZooKeeper on brokers before 3.0).
    /// `require_stable` is not counted: it is a hint, left out below v7.
    pub fn min_version(&self) -> i16 {
        if self.groups.len() != 1 {
            8
        } else if self.groups[0].topics.is_none() {
            2
        } else {
            1
        }
    }
}

/// An OffsetFetch response: one result per group (exactly one below v8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetFetchResponse {
    /// v3+; 0 before.
    pub throttle_time_ms: i32,
    pub groups: Vec<OffsetFetchGroupResponse>,
}

/// The committed offsets of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchGroupResponse {
    /// The group this answers (v8+); empty below v8, where the answer is for the one group asked.
    pub group_id: String,
    /// The group-level error (v2+; 0 before, where it is on every partition instead).
    pub error_code: i16,
    pub topics: Vec<OffsetFetchTopicResponse>,
}

/// The committed offsets of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchTopicResponse {
    pub name: String,
    pub partitions: Vec<OffsetFetchPartitionResponse>,
}

/// The committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchPartitionResponse {
    pub partition_index: i32,
    /// The offset of the next record to consume, or [`NO_OFFSET`].
    pub committed_offset: i64,
    /// v5+; [`NO_LEADER_EPOCH`] when unknown, and before v5.
    pub committed_leader_epoch: i32,
    /// The metadata committed with the offset.
    pub metadata: Option<String>,
    /// For example `UNSTABLE_OFFSET_COMMIT` (v7+, with `require_stable`).
    pub error_code: i16,
}

impl Request for OffsetFetchRequest<'_> {
    type Response = OffsetFetchResponse;
    const API_KEY: ApiKey = ApiKey::OffsetFetch;
    /// Kafka 4.4 accepts 1 to 10 (v0 removed, KIP-896); 2.1 speaks 0 to 5.
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 8;
    const FLEXIBLE_FROM: i16 = 6;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        if version >= 8 {
            buf.put_array_len(self.groups.len(), compact);
            for group in &self.groups {
                buf.put_string(group.group_id, compact);
                encode_topics(buf, group.topics.as_deref(), version, compact);
                buf.put_tagged_fields_if(compact);
            }
        } else {
            let group = self.groups.first();
            buf.put_string(group.map_or("", |g| g.group_id), compact);
            let topics = match group {
                Some(g) => g.topics.as_deref(),
                None => Some(&[][..]),
            };
            encode_topics(buf, topics, version, compact);
        }
        if version >= 7 {
            buf.put_bool(self.require_stable);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<OffsetFetchResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        let groups = if version >= 8 {
            r.array(compact, |r| {
                let group_id = r.string(compact)?;
                let topics = decode_topics(r, version, compact)?;
                let error_code = r.i16()?;
                r.tagged_fields_if(compact)?;
                Ok(OffsetFetchGroupResponse {
                    group_id,
                    error_code,
                    topics,
                })
            })?
        } else {
            let topics = decode_topics(r, version, compact)?;
            let error_code = if version >= 2 { r.i16()? } else { 0 };
            vec![OffsetFetchGroupResponse {
                group_id: String::new(),
                error_code,
                topics,
            }]
        };
        r.tagged_fields_if(compact)?;
        Ok(OffsetFetchResponse {
            throttle_time_ms,
            groups,
        })
    }
}

/// The topics of one group: null (every partition) from v2 on, an empty list below.
fn encode_topics(
    buf: &mut BytesMut,
    topics: Option<&[OffsetFetchTopic<'_>]>,
    version: i16,
    compact: bool,
) {
    let Some(topics) = topics else {
        if version >= 2 {
            buf.put_len(None, compact, true);
        } else {
            buf.put_array_len(0, compact);
        }
        return;
    };
    buf.put_array_len(topics.len(), compact);
    for topic in topics {
        buf.put_string(topic.name, compact);
        buf.put_array_len(topic.partition_indexes.len(), compact);
        for &p in &topic.partition_indexes {
            buf.put_i32(p);
        }
        buf.put_tagged_fields_if(compact);
    }
}

fn decode_topics(
    r: &mut Reader,
    version: i16,
    compact: bool,
) -> DecodeResult<Vec<OffsetFetchTopicResponse>> {
    r.array(compact, |r| {
        let name = r.string(compact)?;
        let partitions = r.array(compact, |r| {
            let partition_index = r.i32()?;
            let committed_offset = r.i64()?;
            let committed_leader_epoch = if version >= 5 {
                r.i32()?
            } else {
                NO_LEADER_EPOCH
            };
            let metadata = r.nullable_string(compact)?;
            let error_code = r.i16()?;
            r.tagged_fields_if(compact)?;
            Ok(OffsetFetchPartitionResponse {
                partition_index,
                committed_offset,
                committed_leader_epoch,
                metadata,
                error_code,
            })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(OffsetFetchTopicResponse { name, partitions })
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole, encode_request,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;

    type Req = OffsetFetchRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// The topics of one group as a broker reads them: (name, partition indexes), or null.
    type DecodedTopics = Option<Vec<(String, Vec<i32>)>>;

    /// One group as a broker reads it: (group_id, topics or null).
    type DecodedGroup = (String, DecodedTopics);

    /// A test-only request decoder, written from the message definition: the groups (one below
    /// v8) and `require_stable` (false below v7).
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<(Vec<DecodedGroup>, bool)> {
        let compact = version >= 6;
        let mut r = Reader::new(bytes);
        let topics = |r: &mut Reader| -> DecodeResult<DecodedTopics> {
            let Some(n) = r.nullable_array_len(compact)? else {
                return Ok(None);
            };
            let mut out = Vec::new();
            for _ in 0..n {
                let name = r.string(compact)?;
                let partitions = r.array(compact, Reader::i32)?;
                r.tagged_fields_if(compact)?;
                out.push((name, partitions));
            }
            Ok(Some(out))
        };
        let groups = if version >= 8 {
            r.array(compact, |r| {
                let group_id = r.string(compact)?;
                let t = topics(r)?;
                r.tagged_fields_if(compact)?;
                Ok((group_id, t))
            })?
        } else {
            let group_id = r.string(compact)?;
            vec![(group_id, topics(&mut r)?)]
        };
        let require_stable = if version >= 7 { r.bool()? } else { false };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok((groups, require_stable))
    }

    /// A tagged-field section with one unknown field, when `compact`.
    fn tags(b: &mut BytesMut, compact: bool) {
        if compact {
            b.put_uvarint(1);
            b.put_uvarint(3);
            b.put_uvarint(0);
        }
    }

    fn encode_topics_response(b: &mut BytesMut, topics: &[OffsetFetchTopicResponse], v: i16) {
        let compact = v >= 6;
        b.put_array_len(topics.len(), compact);
        for t in topics {
            b.put_string(&t.name, compact);
            b.put_array_len(t.partitions.len(), compact);
            for p in &t.partitions {
                b.put_i32(p.partition_index);
                b.put_i64(p.committed_offset);
                if v >= 5 {
                    b.put_i32(p.committed_leader_epoch);
                }
                b.put_nullable_string(p.metadata.as_deref(), compact);
                b.put_i16(p.error_code);
                tags(b, compact);
            }
            tags(b, compact);
        }
    }

    /// A test-only response encoder (the broker side).
    fn encode_response(resp: &OffsetFetchResponse, version: i16) -> Bytes {
        let compact = version >= 6;
        let mut b = BytesMut::new();
        if version >= 3 {
            b.put_i32(resp.throttle_time_ms);
        }
        if version >= 8 {
            b.put_array_len(resp.groups.len(), compact);
            for g in &resp.groups {
                b.put_string(&g.group_id, compact);
                encode_topics_response(&mut b, &g.topics, version);
                b.put_i16(g.error_code);
                tags(&mut b, compact);
            }
        } else {
            let g = &resp.groups[0];
            encode_topics_response(&mut b, &g.topics, version);
            if version >= 2 {
                b.put_i16(g.error_code);
            }
        }
        tags(&mut b, compact);
        b.freeze()
    }

    fn sample_topics(version: i16) -> Vec<OffsetFetchTopicResponse> {
        vec![
            OffsetFetchTopicResponse {
                name: "orders".into(),
                partitions: vec![
                    OffsetFetchPartitionResponse {
                        partition_index: 0,
                        committed_offset: 1234,
                        committed_leader_epoch: if version >= 5 { 6 } else { -1 },
                        metadata: Some("worker-7".into()),
                        error_code: 0,
                    },
                    OffsetFetchPartitionResponse {
                        partition_index: 1,
                        committed_offset: NO_OFFSET,
                        committed_leader_epoch: NO_LEADER_EPOCH,
                        metadata: None,
                        error_code: if version >= 7 { 88 } else { 0 }, // UNSTABLE_OFFSET_COMMIT
                    },
                ],
            },
            OffsetFetchTopicResponse {
                name: "empty".into(),
                partitions: vec![],
            },
        ]
    }

    fn sample(version: i16) -> OffsetFetchResponse {
        let first = OffsetFetchGroupResponse {
            group_id: if version >= 8 {
                "g1".into()
            } else {
                String::new()
            },
            error_code: 0,
            topics: sample_topics(version),
        };
        let mut groups = vec![first];
        if version >= 8 {
            groups.push(OffsetFetchGroupResponse {
                group_id: "g2".into(),
                error_code: 16, // NOT_COORDINATOR
                topics: vec![],
            });
        } else if version >= 2 {
            groups[0].error_code = 14; // COORDINATOR_LOAD_IN_PROGRESS
        }
        OffsetFetchResponse {
            throttle_time_ms: if version >= 3 { 11 } else { 0 },
            groups,
        }
    }

    fn listed() -> Vec<OffsetFetchTopic<'static>> {
        vec![
            OffsetFetchTopic {
                name: "orders",
                partition_indexes: vec![0, 1, 2],
            },
            OffsetFetchTopic {
                name: "none",
                partition_indexes: vec![],
            },
        ]
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let mut stable = OffsetFetchRequest::group("g", Some(listed()));
        stable.require_stable = true;
        let requests = [
            stable,
            OffsetFetchRequest::group("all-of-it", None),
            OffsetFetchRequest {
                groups: vec![
                    OffsetFetchGroup {
                        group_id: "a",
                        topics: Some(listed()),
                    },
                    OffsetFetchGroup {
                        group_id: "b",
                        topics: None,
                    },
                ],
                require_stable: false,
            },
            OffsetFetchRequest {
                groups: vec![],
                require_stable: false,
            },
        ];
        for req in &requests {
            for v in VERSIONS {
                let got = decode_request(encode_request(req, v), v).unwrap();
                let as_read = |g: &OffsetFetchGroup<'_>| -> DecodedGroup {
                    let topics = match &g.topics {
                        None if v < 2 => Some(vec![]),
                        None => None,
                        Some(ts) => Some(
                            ts.iter()
                                .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                                .collect(),
                        ),
                    };
                    (g.group_id.to_string(), topics)
                };
                let groups = if v >= 8 {
                    req.groups.iter().map(as_read).collect()
                } else {
                    vec![req
                        .groups
                        .first()
                        .map_or((String::new(), Some(vec![])), as_read)]
                };
                let want = (groups, v >= 7 && req.require_stable);
                assert_eq!(got, want, "v{v}: {req:?}");
            }
        }
    }

    fn small_request() -> Req {
        let mut req = OffsetFetchRequest::group(
            "g",
            Some(vec![OffsetFetchTopic {
                name: "t",
                partition_indexes: vec![0, 2],
            }]),
        );
        req.require_stable = true;
        req
    }

    #[test]
    fn classic_requests_by_hand() {
        // v1 => group_id [name [partition_indexes]]
        #[rustfmt::skip]
        let v1: &[u8] = &[
            0, 1, b'g',                     // group_id
            0, 0, 0, 1,                     // 1 topic
            0, 1, b't',                     //   name
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // partition_indexes [0, 2]
        ];
        assert_eq!(&encode_request(&small_request(), 1)[..], v1);
        assert_eq!(&encode_request(&small_request(), 5)[..], v1);
        // v2, every partition: a null array.
        let all = OffsetFetchRequest::group("g", None);
        assert_eq!(
            &encode_request(&all, 2)[..],
            &[0, 1, b'g', 0xff, 0xff, 0xff, 0xff]
        );
        // v1 cannot ask for every partition: an empty list.
        assert_eq!(&encode_request(&all, 1)[..], &[0, 1, b'g', 0, 0, 0, 0]);
    }

    #[test]
    fn flexible_requests_by_hand() {
        // v7 => group_id [name [partition_indexes] TAG_BUFFER] require_stable TAG_BUFFER
        #[rustfmt::skip]
        let v7: &[u8] = &[
            2, b'g',                        // group_id
            2,                              // 1 topic
            2, b't',                        //   name
            3, 0, 0, 0, 0, 0, 0, 0, 2,      //   partition_indexes [0, 2]
            0,                              //   tags
            1,                              // require_stable
            0,                              // tags
        ];
        assert_eq!(&encode_request(&small_request(), 7)[..], v7);
        // v6: no require_stable.
        let v6 = [&v7[..v7.len() - 2], &[0]].concat();
        assert_eq!(&encode_request(&small_request(), 6)[..], &v6[..]);
        // v8 => [group_id [name [partition_indexes] TAG_BUFFER] TAG_BUFFER] require_stable
        //       TAG_BUFFER
        let req = OffsetFetchRequest {
            groups: vec![
                OffsetFetchGroup {
                    group_id: "a",
                    topics: None,
                },
                OffsetFetchGroup {
                    group_id: "b",
                    topics: Some(vec![]),
                },
            ],
            require_stable: false,
        };
        #[rustfmt::skip]
        let v8: &[u8] = &[
            3,                              // 2 groups
            2, b'a', 0, 0,                  //   "a", topics null, tags
            2, b'b', 1, 0,                  //   "b", no topics, tags
            0,                              // require_stable
            0,                              // tags
        ];
        assert_eq!(&encode_request(&req, 8)[..], v8);
    }

    #[test]
    fn min_version_follows_groups_and_topics() {
        assert_eq!(small_request().min_version(), 1);
        assert_eq!(OffsetFetchRequest::group("g", None).min_version(), 2);
        let two = OffsetFetchRequest {
            groups: vec![
                OffsetFetchGroup {
                    group_id: "a",
                    topics: None,
                },
                OffsetFetchGroup {
                    group_id: "b",
                    topics: None,
                },
            ],
            require_stable: false,
        };
        assert_eq!(two.min_version(), 8);
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
    fn classic_v1_response_by_hand() {
        // v1 => [name [partition_index committed_offset metadata error_code]]
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 1,                     // 1 topic
            0, 1, b't',                     //   name
            0, 0, 0, 1,                     //   1 partition
            0, 0, 0, 2,                     //     partition_index 2
            0, 0, 0, 0, 0, 0, 0, 42,        //     committed_offset 42
            0, 0,                           //     metadata ""
            0, 16,                          //     NOT_COORDINATOR
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 1).unwrap();
        assert_eq!(
            resp.groups,
            vec![OffsetFetchGroupResponse {
                group_id: String::new(),
                error_code: 0,
                topics: vec![OffsetFetchTopicResponse {
                    name: "t".into(),
                    partitions: vec![OffsetFetchPartitionResponse {
                        partition_index: 2,
                        committed_offset: 42,
                        committed_leader_epoch: NO_LEADER_EPOCH,
                        metadata: Some(String::new()),
                        error_code: 16,
                    }],
                }],
            }]
        );
    }

    #[test]
    fn flexible_v8_response_by_hand() {
        // v8 => throttle_time_ms [group_id [name [partition_index committed_offset
        //       committed_leader_epoch metadata error_code TAG_BUFFER] TAG_BUFFER] error_code
        //       TAG_BUFFER] TAG_BUFFER
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,                     // throttle_time_ms
            2,                              // 1 group
            2, b'g',                        //   group_id
            2,                              //   1 topic
            2, b't',                        //     name
            2,                              //     1 partition
            0, 0, 0, 0,                     //       partition_index
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // committed_offset -1
            0xff, 0xff, 0xff, 0xff,         //       committed_leader_epoch -1
            0,                              //       metadata null
            0, 0,                           //       error_code
            0,                              //       tags
            0,                              //     tags
            0, 0,                           //   error_code
            0,                              //   tags
            0,                              // tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 8).unwrap();
        assert_eq!(
            resp.groups,
            vec![OffsetFetchGroupResponse {
                group_id: "g".into(),
                error_code: 0,
                topics: vec![OffsetFetchTopicResponse {
                    name: "t".into(),
                    partitions: vec![OffsetFetchPartitionResponse {
                        partition_index: 0,
                        committed_offset: NO_OFFSET,
                        committed_leader_epoch: NO_LEADER_EPOCH,
                        metadata: None,
                        error_code: 0,
                    }],
                }],
            }]
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
        // v2: topics claiming i32::MAX elements.
        let bytes: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 0, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 2),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v8: groups claiming 2^32 - 2 elements.
        let bytes: &[u8] = &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 8),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v6: a partition whose metadata claims 2^31 - 2 bytes.
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0, 2, 2, b't', 2,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0x07, 0, 0,
        ];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 6),
            Err(DecodeError::Truncated { what: "string", .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0x6a09_e667_f3bc_c908);
        }
    }
}
