//! CreateTopics (API key 19), versions 2 to 7. Sent to the controller (any broker under KRaft,
//! which forwards it).
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 1 | `validate_only`; `error_message` in the response (v0 and v1 are gone in Kafka 4.0) |
//! | 2 | `throttle_time_ms` in the response |
//! | 3 | same as 2 (the broker answers before throttling) |
//! | 4 | same layout; -1 partitions or replication factor means the broker's default (KIP-464) |
//! | 5 | flexible; the response carries each topic's partitions, replicas and configs (KIP-525) |
//! | 6 | same as 5; may return `THROTTLING_QUOTA_EXCEEDED` (KIP-599) |
//! | 7 | `topic_id` in the response |
//!
//! Before v4 the broker rejects -1 for `num_partitions` or `replication_factor` when no
//! assignments are given: against a broker whose highest version is 2 or 3 (Kafka 2.1 to 2.3),
//! the caller must give both.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsRequest<'a> {
    pub topics: Vec<CreatableTopic<'a>>,
    /// How long the broker waits for the topics to be created before answering, in ms.
    pub timeout_ms: i32,
    /// Check the request without creating anything.
    pub validate_only: bool,
}

/// One topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopic<'a> {
    pub name: &'a str,
    /// The partition count, or -1 for the broker's default (v4+) or when `assignments` are
    /// given.
    pub num_partitions: i32,
    /// The replica count, or -1 for the broker's default (v4+) or when `assignments` are given.
    pub replication_factor: i16,
    /// A manual replica placement, or empty for the broker's automatic one.
    pub assignments: Vec<CreatableReplicaAssignment>,
    pub configs: Vec<CreatableTopicConfig<'a>>,
}

/// The replicas of one partition, for a manual placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableReplicaAssignment {
    pub partition_index: i32,
    pub broker_ids: Vec<i32>,
}

/// A topic config to set at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatableTopicConfig<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

/// A CreateTopics response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsResponse {
    pub throttle_time_ms: i32,
    pub topics: Vec<CreatableTopicResult>,
}

/// The outcome for one topic. The tagged `topic_config_error_code` (v5+, why `configs` is absent)
/// is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopicResult {
    pub name: String,
    /// The new topic's id (v7+); all zeros before v7 or on error.
    pub topic_id: [u8; 16],
    pub error_code: i16,
    pub error_message: Option<String>,
    /// The partition count the topic got (v5+); -1 before v5 or on error.
    pub num_partitions: i32,
    /// The replication factor the topic got (v5+); -1 before v5 or on error.
    pub replication_factor: i16,
    /// The topic's configs (v5+); empty before v5, on error, or when the broker withheld them.
    pub configs: Vec<CreatableTopicConfigResult>,
}

/// One config of a created topic (v5+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopicConfigResult {
    pub name: String,
    /// `None` when unset or sensitive.
    pub value: Option<String>,
    pub read_only: bool,
    /// Where the value comes from (the DescribeConfigs `ConfigSource` codes), -1 if unknown.
    pub config_source: i8,
    pub is_sensitive: bool,
}

impl<'a> Request for CreateTopicsRequest<'a> {
    type Response = CreateTopicsResponse;
    const API_KEY: ApiKey = ApiKey::CreateTopics;
    /// v0 and v1 were removed in Kafka 4.0; 2.1 speaks 0 to 3.
    const MIN_VERSION: i16 = 2;
    const MAX_VERSION: i16 = 7;
    const FLEXIBLE_FROM: i16 = 5;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_array_len(self.topics.len(), compact);
        for topic in &self.topics {
            buf.put_string(topic.name, compact);
            buf.put_i32(topic.num_partitions);
            buf.put_i16(topic.replication_factor);
            buf.put_array_len(topic.assignments.len(), compact);
            for a in &topic.assignments {
                buf.put_i32(a.partition_index);
                buf.put_array_len(a.broker_ids.len(), compact);
                for &id in &a.broker_ids {
                    buf.put_i32(id);
                }
                buf.put_tagged_fields_if(compact);
            }
            buf.put_array_len(topic.configs.len(), compact);
            for c in &topic.configs {
                buf.put_string(c.name, compact);
                buf.put_nullable_string(c.value, compact);
                buf.put_tagged_fields_if(compact);
            }
            buf.put_tagged_fields_if(compact);
        }
        buf.put_i32(self.timeout_ms);
        buf.put_bool(self.validate_only);
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<CreateTopicsResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let topic_id = if version >= 7 { r.uuid()? } else { [0; 16] };
            let error_code = r.i16()?;
            let error_message = r.nullable_string(compact)?;
            let (mut num_partitions, mut replication_factor, mut configs) = (-1, -1, Vec::new());
            if version >= 5 {
                num_partitions = r.i32()?;
                replication_factor = r.i16()?;
                configs = r.array(compact, |r| {
                    let config = CreatableTopicConfigResult {
                        name: r.string(compact)?,
                        value: r.nullable_string(compact)?,
                        read_only: r.bool()?,
                        config_source: r.i8()?,
                        is_sensitive: r.bool()?,
                    };
                    r.tagged_fields_if(compact)?;
                    Ok(config)
                })?;
            }
            // Holds the tagged topic_config_error_code (tag 0) in v5+.
            r.tagged_fields_if(compact)?;
            Ok(CreatableTopicResult {
                name,
                topic_id,
                error_code,
                error_message,
                num_partitions,
                replication_factor,
                configs,
            })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(CreateTopicsResponse {
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

    type Req = CreateTopicsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    fn sample_request() -> Req {
        CreateTopicsRequest {
            topics: vec![
                CreatableTopic {
                    name: "orders",
                    num_partitions: 12,
                    replication_factor: 3,
                    assignments: vec![],
                    configs: vec![
                        CreatableTopicConfig {
                            name: "cleanup.policy",
                            value: Some("compact"),
                        },
                        CreatableTopicConfig {
                            name: "retention.ms",
                            value: None,
                        },
                    ],
                },
                CreatableTopic {
                    name: "placed",
                    num_partitions: -1,
                    replication_factor: -1,
                    assignments: vec![
                        CreatableReplicaAssignment {
                            partition_index: 0,
                            broker_ids: vec![1, 2, 3],
                        },
                        CreatableReplicaAssignment {
                            partition_index: 1,
                            broker_ids: vec![],
                        },
                    ],
                    configs: vec![],
                },
            ],
            timeout_ms: 60_000,
            validate_only: true,
        }
    }

    /// (name, num_partitions, replication_factor, [(partition, brokers)], [(name, value)])
    type DecodedTopic = (
        String,
        i32,
        i16,
        Vec<(i32, Vec<i32>)>,
        Vec<(String, Option<String>)>,
    );

    /// A test-only request decoder, written from the protocol guide.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<(Vec<DecodedTopic>, i32, bool)> {
        let compact = version >= 5;
        let mut r = Reader::new(bytes);
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let num_partitions = r.i32()?;
            let replication_factor = r.i16()?;
            let assignments = r.array(compact, |r| {
                let index = r.i32()?;
                let brokers = r.array(compact, |r| r.i32())?;
                r.tagged_fields_if(compact)?;
                Ok((index, brokers))
            })?;
            let configs = r.array(compact, |r| {
                let pair = (r.string(compact)?, r.nullable_string(compact)?);
                r.tagged_fields_if(compact)?;
                Ok(pair)
            })?;
            r.tagged_fields_if(compact)?;
            Ok((
                name,
                num_partitions,
                replication_factor,
                assignments,
                configs,
            ))
        })?;
        let timeout_ms = r.i32()?;
        let validate_only = r.bool()?;
        r.tagged_fields_if(compact)?;
        assert!(
            r.is_empty(),
            "v{version}: {} bytes left over",
            r.remaining()
        );
        Ok((topics, timeout_ms, validate_only))
    }

    fn expected_request(req: &Req) -> (Vec<DecodedTopic>, i32, bool) {
        let topics = req
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.num_partitions,
                    t.replication_factor,
                    t.assignments
                        .iter()
                        .map(|a| (a.partition_index, a.broker_ids.clone()))
                        .collect(),
                    t.configs
                        .iter()
                        .map(|c| (c.name.to_string(), c.value.map(str::to_string)))
                        .collect(),
                )
            })
            .collect();
        (topics, req.timeout_ms, req.validate_only)
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let req = sample_request();
        for version in VERSIONS {
            let decoded = decode_request(encode_request(&req, version), version).unwrap();
            assert_eq!(decoded, expected_request(&req), "v{version}");
        }
    }

    fn small_request() -> Req {
        CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t",
                num_partitions: 3,
                replication_factor: -1,
                assignments: vec![],
                configs: vec![CreatableTopicConfig {
                    name: "a",
                    value: None,
                }],
            }],
            timeout_ms: 1000,
            validate_only: false,
        }
    }

    #[test]
    fn classic_v2_request_matches_the_protocol_guide() {
        // CreateTopics Request (Version: 2) => [topics] timeout_ms validate_only
        //   topics => name num_partitions replication_factor [assignments] [configs]
        let expected: &[u8] = &[
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name
            0, 0, 0, 3, // num_partitions
            0xff, 0xff, // replication_factor -1
            0, 0, 0, 0, // assignments: 0
            0, 0, 0, 1, // configs: 1
            0, 1, b'a', // config name
            0xff, 0xff, // value: null (INT16 -1)
            0, 0, 0x03, 0xe8, // timeout_ms 1000
            0,    // validate_only false
        ];
        for version in 2..=4 {
            assert_eq!(
                &encode_request(&small_request(), version)[..],
                expected,
                "v{version}"
            );
        }
    }

    #[test]
    fn flexible_v5_request_matches_the_protocol_guide() {
        let expected: &[u8] = &[
            2, // topics: COMPACT_ARRAY of 1
            2, b't', // name
            0, 0, 0, 3, // num_partitions
            0xff, 0xff, // replication_factor -1
            1,    // assignments: 0
            2,    // configs: 1
            2, b'a', // config name
            0,    // value: null (COMPACT_NULLABLE_STRING 0)
            0,    // config tags
            0,    // topic tags
            0, 0, 0x03, 0xe8, // timeout_ms 1000
            0,    // validate_only
            0,    // request tags
        ];
        for version in 5..=7 {
            assert_eq!(
                &encode_request(&small_request(), version)[..],
                expected,
                "v{version}"
            );
        }
    }

    fn sample_response() -> CreateTopicsResponse {
        CreateTopicsResponse {
            throttle_time_ms: 17,
            topics: vec![
                CreatableTopicResult {
                    name: "orders".into(),
                    topic_id: *b"0123456789abcdef",
                    error_code: 0,
                    error_message: None,
                    num_partitions: 12,
                    replication_factor: 3,
                    configs: vec![
                        CreatableTopicConfigResult {
                            name: "cleanup.policy".into(),
                            value: Some("compact".into()),
                            read_only: false,
                            config_source: 1,
                            is_sensitive: false,
                        },
                        CreatableTopicConfigResult {
                            name: "sasl.jaas.config".into(),
                            value: None,
                            read_only: true,
                            config_source: -1,
                            is_sensitive: true,
                        },
                    ],
                },
                CreatableTopicResult {
                    name: "dup".into(),
                    topic_id: [0; 16],
                    error_code: 36,
                    error_message: Some("Topic 'dup' already exists.".into()),
                    num_partitions: -1,
                    replication_factor: -1,
                    configs: vec![],
                },
            ],
        }
    }

    fn expected_response(resp: &CreateTopicsResponse, version: i16) -> CreateTopicsResponse {
        let mut out = resp.clone();
        for t in &mut out.topics {
            if version < 7 {
                t.topic_id = [0; 16];
            }
            if version < 5 {
                t.num_partitions = -1;
                t.replication_factor = -1;
                t.configs.clear();
            }
        }
        out
    }

    /// A test-only response encoder, written from the protocol guide. In flexible versions it
    /// writes the tagged `topic_config_error_code` and an unknown tag, which must be skipped.
    /// `null_configs` writes a null configs array (v5+) for topics without configs.
    fn encode_response(resp: &CreateTopicsResponse, version: i16, null_configs: bool) -> Bytes {
        let compact = version >= 5;
        let mut buf = BytesMut::new();
        buf.put_i32(resp.throttle_time_ms);
        buf.put_array_len(resp.topics.len(), compact);
        for t in &resp.topics {
            buf.put_string(&t.name, compact);
            if version >= 7 {
                buf.put_slice(&t.topic_id);
            }
            buf.put_i16(t.error_code);
            buf.put_nullable_string(t.error_message.as_deref(), compact);
            if version >= 5 {
                buf.put_i32(t.num_partitions);
                buf.put_i16(t.replication_factor);
                if null_configs && t.configs.is_empty() {
                    buf.put_uvarint(0);
                } else {
                    buf.put_array_len(t.configs.len(), compact);
                }
                for c in &t.configs {
                    buf.put_string(&c.name, compact);
                    buf.put_nullable_string(c.value.as_deref(), compact);
                    buf.put_bool(c.read_only);
                    buf.put_i8(c.config_source);
                    buf.put_bool(c.is_sensitive);
                    buf.put_uvarint(0);
                }
                // Tagged fields: topic_config_error_code (tag 0, INT16) and an unknown tag 5.
                buf.put_uvarint(2);
                buf.put_uvarint(0);
                buf.put_uvarint(2);
                buf.put_i16(29);
                buf.put_uvarint(5);
                buf.put_uvarint(1);
                buf.put_u8(0xee);
            }
        }
        if compact {
            buf.put_uvarint(1);
            buf.put_uvarint(3);
            buf.put_uvarint(0);
        }
        buf.freeze()
    }

    #[test]
    fn response_round_trips_in_every_version() {
        let resp = sample_response();
        for version in VERSIONS {
            for null_configs in [false, true] {
                let bytes = encode_response(&resp, version, null_configs);
                let decoded = decode_whole::<Req>(bytes, version).unwrap();
                assert_eq!(decoded, expected_response(&resp, version), "v{version}");
            }
        }
    }

    #[test]
    fn classic_response_matches_the_protocol_guide() {
        let bytes: &[u8] = &[
            0, 0, 0, 5, // throttle_time_ms
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name
            0, 41, // error_code
            0, 2, b'n', b'o', // error_message
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 3).unwrap();
        assert_eq!(resp.throttle_time_ms, 5);
        assert_eq!(resp.topics[0].name, "t");
        assert_eq!(resp.topics[0].error_code, 41);
        assert_eq!(resp.topics[0].error_message.as_deref(), Some("no"));
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        let resp = sample_response();
        for version in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&resp, version, true), version);
        }
    }

    fn put_huge_count(buf: &mut BytesMut, compact: bool) {
        if compact {
            buf.put_uvarint(u32::MAX);
        } else {
            buf.put_i32(i32::MAX);
        }
    }

    #[test]
    fn hostile_array_counts_fail_without_allocating() {
        for version in VERSIONS {
            let compact = version >= 5;
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            put_huge_count(&mut buf, compact);
            buf.put_slice(&[0; 32]);
            let err = Req::decode_response(&mut Reader::new(buf.freeze()), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::Invalid { what: "array", .. }),
                "v{version}: {err:?}"
            );

            if version >= 5 {
                // The nested configs array.
                let mut buf = BytesMut::new();
                buf.put_i32(0);
                buf.put_array_len(1, compact);
                buf.put_string("t", compact);
                if version >= 7 {
                    buf.put_slice(&[0; 16]);
                }
                buf.put_i16(0);
                buf.put_nullable_string(None, compact);
                buf.put_i32(1);
                buf.put_i16(1);
                put_huge_count(&mut buf, compact);
                buf.put_slice(&[0; 32]);
                let err =
                    Req::decode_response(&mut Reader::new(buf.freeze()), version).unwrap_err();
                assert!(
                    matches!(err, DecodeError::Invalid { what: "array", .. }),
                    "v{version}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn fuzz_regression_topic_count_near_the_frame_size() {
        // Found by the `responses` fuzz target: a v7 body announcing 50 topics with 50 bytes
        // left made `Reader::array` reserve 50 CreatableTopicResults (4800 bytes) up front, about
        // 100 times the body. The reservation is now capped by the bytes left (see
        // `codec::array_reservation`); the decode fails as before, since a v7 topic needs at
        // least 28 bytes.
        let body: &[u8] = &[
            0, 0, 8, 99, 51, 0, 255, 255, 255, 190, 239, 1, 7, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 1, 7,
            7, 0, 7, 0, 7, 0, 1, 7, 0, 1, 7, 1, 7, 0, 255, 255, 255, 255, 190, 239, 1, 7, 0, 1, 7,
            0, 7, 0, 7, 0,
        ];
        let mut r = Reader::new(Bytes::from_static(body));
        assert!(Req::decode_response(&mut r, 7).is_err());
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for version in VERSIONS {
            let valid = encode_response(&sample_response(), version, true);
            assert_mutations_never_panic::<Req>(&valid, version, 0x2545_f491_4f6c_dd1d_u64);
        }
    }
}
