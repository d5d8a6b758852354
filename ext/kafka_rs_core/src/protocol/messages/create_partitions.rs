//! CreatePartitions (API key 37), versions 0 to 3: raises the partition count of existing topics,
//! letting the broker place the new replicas. Sent to the controller (any broker under KRaft,
//! which forwards it).
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version (Kafka 1.0) |
//! | 1 | same as 0 (the broker answers before throttling) |
//! | 2 | flexible (compact encodings, tagged fields) |
//! | 3 | same as 2; may return `THROTTLING_QUOTA_EXCEEDED` (KIP-599) |
//!
//! We always send a null `assignments` array: the broker chooses where the new partitions go.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A CreatePartitions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsRequest<'a> {
    pub topics: Vec<CreatePartitionsTopic<'a>>,
    /// How long the broker waits for the partitions to be created before answering, in ms.
    pub timeout_ms: i32,
    /// Check the request without creating anything.
    pub validate_only: bool,
}

/// One topic to grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatePartitionsTopic<'a> {
    pub name: &'a str,
    /// The new total partition count (not the number to add).
    pub count: i32,
}

/// A CreatePartitions response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsResponse {
    pub throttle_time_ms: i32,
    pub results: Vec<CreatePartitionsTopicResult>,
}

/// The outcome for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePartitionsTopicResult {
    pub name: String,
    pub error_code: i16,
    pub error_message: Option<String>,
}

impl<'a> Request for CreatePartitionsRequest<'a> {
    type Response = CreatePartitionsResponse;
    const API_KEY: ApiKey = ApiKey::CreatePartitions;
    /// Kafka 4.0 still accepts v0; 2.1 speaks 0 and 1.
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;
    const FLEXIBLE_FROM: i16 = 2;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_array_len(self.topics.len(), compact);
        for topic in &self.topics {
            buf.put_string(topic.name, compact);
            buf.put_i32(topic.count);
            // assignments: null.
            buf.put_len(None, compact, true);
            buf.put_tagged_fields_if(compact);
        }
        buf.put_i32(self.timeout_ms);
        buf.put_bool(self.validate_only);
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<CreatePartitionsResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let results = r.array(compact, |r| {
            let result = CreatePartitionsTopicResult {
                name: r.string(compact)?,
                error_code: r.i16()?,
                error_message: r.nullable_string(compact)?,
            };
            r.tagged_fields_if(compact)?;
            Ok(result)
        })?;
        r.tagged_fields_if(compact)?;
        Ok(CreatePartitionsResponse {
            throttle_time_ms,
            results,
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

    type Req = CreatePartitionsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// What a broker reads: ([(name, count, assignments were null)], timeout_ms, validate_only).
    type DecodedRequest = (Vec<(String, i32, bool)>, i32, bool);

    /// A test-only request decoder, written from the protocol guide.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 2;
        let mut r = Reader::new(bytes);
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let count = r.i32()?;
            let null_assignments = r.nullable_array_len(compact)?.is_none();
            r.tagged_fields_if(compact)?;
            Ok((name, count, null_assignments))
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

    #[test]
    fn request_round_trips_in_every_version() {
        let req = CreatePartitionsRequest {
            topics: vec![
                CreatePartitionsTopic {
                    name: "orders",
                    count: 24,
                },
                CreatePartitionsTopic {
                    name: "ε",
                    count: 2,
                },
            ],
            timeout_ms: 45_000,
            validate_only: true,
        };
        let expected = (
            vec![("orders".to_string(), 24, true), ("ε".to_string(), 2, true)],
            45_000,
            true,
        );
        for version in VERSIONS {
            let decoded = decode_request(encode_request(&req, version), version).unwrap();
            assert_eq!(decoded, expected, "v{version}");
        }
    }

    fn small_request() -> Req {
        CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: "t",
                count: 6,
            }],
            timeout_ms: 1000,
            validate_only: false,
        }
    }

    #[test]
    fn classic_v0_request_matches_the_protocol_guide() {
        // CreatePartitions Request (Version: 0) => [topics] timeout_ms validate_only
        //   topics => name count [assignments]
        let expected: &[u8] = &[
            0, 0, 0, 1, // topics: 1
            0, 1, b't', // name
            0, 0, 0, 6, // count
            0xff, 0xff, 0xff, 0xff, // assignments: null
            0, 0, 0x03, 0xe8, // timeout_ms
            0,    // validate_only
        ];
        assert_eq!(&encode_request(&small_request(), 0)[..], expected);
        assert_eq!(&encode_request(&small_request(), 1)[..], expected);
    }

    #[test]
    fn flexible_v2_request_matches_the_protocol_guide() {
        let expected: &[u8] = &[
            2, // topics: COMPACT_ARRAY of 1
            2, b't', // name
            0, 0, 0, 6, // count
            0, // assignments: null
            0, // topic tags
            0, 0, 0x03, 0xe8, // timeout_ms
            0,    // validate_only
            0,    // request tags
        ];
        assert_eq!(&encode_request(&small_request(), 2)[..], expected);
        assert_eq!(&encode_request(&small_request(), 3)[..], expected);
    }

    fn sample_response() -> CreatePartitionsResponse {
        CreatePartitionsResponse {
            throttle_time_ms: 9,
            results: vec![
                CreatePartitionsTopicResult {
                    name: "orders".into(),
                    error_code: 0,
                    error_message: None,
                },
                CreatePartitionsTopicResult {
                    name: "small".into(),
                    error_code: 37,
                    error_message: Some(
                        "Topic currently has 3 partitions, which is higher than the requested 2."
                            .into(),
                    ),
                },
            ],
        }
    }

    /// A test-only response encoder, written from the protocol guide; flexible versions carry an
    /// unknown tagged field at each level, which must be skipped.
    fn encode_response(resp: &CreatePartitionsResponse, version: i16) -> Bytes {
        let compact = version >= 2;
        let tags = |buf: &mut BytesMut| {
            if compact {
                buf.put_uvarint(1);
                buf.put_uvarint(200);
                buf.put_uvarint(1);
                buf.put_u8(1);
            }
        };
        let mut buf = BytesMut::new();
        buf.put_i32(resp.throttle_time_ms);
        buf.put_array_len(resp.results.len(), compact);
        for t in &resp.results {
            buf.put_string(&t.name, compact);
            buf.put_i16(t.error_code);
            buf.put_nullable_string(t.error_message.as_deref(), compact);
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
            assert_eq!(decoded, resp, "v{version}");
        }
    }

    #[test]
    fn flexible_response_matches_the_protocol_guide() {
        let bytes: &[u8] = &[
            0, 0, 0, 0, // throttle_time_ms
            2, // results: 1
            2, b't', // name
            0, 89, // error_code THROTTLING_QUOTA_EXCEEDED
            3, b'q', b'!', // error_message
            0, 0, // result tags, response tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 3).unwrap();
        assert_eq!(
            resp.results,
            vec![CreatePartitionsTopicResult {
                name: "t".into(),
                error_code: 89,
                error_message: Some("q!".into()),
            }]
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
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            if version >= 2 {
                buf.put_uvarint(u32::MAX);
            } else {
                buf.put_i32(i32::MAX);
            }
            buf.put_slice(&[0; 32]);
            let err = Req::decode_response(&mut Reader::new(buf.freeze()), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::Invalid { what: "array", .. }),
                "v{version}: {err:?}"
            );
        }
    }

    #[test]
    fn null_results_array_reads_as_empty() {
        let resp =
            decode_whole::<Req>(Bytes::from_static(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), 1)
                .unwrap();
        assert!(resp.results.is_empty());
        let resp = decode_whole::<Req>(Bytes::from_static(&[0, 0, 0, 0, 0, 0]), 2).unwrap();
        assert!(resp.results.is_empty());
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for version in VERSIONS {
            let valid = encode_response(&sample_response(), version);
            assert_mutations_never_panic::<Req>(&valid, version, 0x0123_4567_89ab_cdef_u64);
        }
    }
}
