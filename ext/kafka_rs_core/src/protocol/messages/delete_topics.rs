//! DeleteTopics (API key 20), versions 1 to 6. Deletes topics by name. Sent to the controller
//! (any broker under KRaft, which forwards it).
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 1 | `throttle_time_ms` in the response (v0 is gone in Kafka 4.0) |
//! | 2 | same as 1 (the broker answers before throttling) |
//! | 3 | same as 2; may return `TOPIC_DELETION_DISABLED` |
//! | 4 | flexible (compact encodings, tagged fields) |
//! | 5 | `error_message` in the response; may return `THROTTLING_QUOTA_EXCEEDED` (KIP-599) |
//! | 6 | request: `topics` of (nullable name, topic id) replace `topic_names`; response: `topic_id`, `name` nullable |
//!
//! From v6 on we send each name with the all-zero topic id, which asks the broker to delete by
//! name.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A DeleteTopics request, by topic name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicsRequest<'a> {
    /// The topics to delete (`TopicNames` before v6, `Topics[].Name` from v6).
    pub names: &'a [&'a str],
    /// How long the broker waits for the deletions to complete before answering, in ms.
    pub timeout_ms: i32,
}

/// A DeleteTopics response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicsResponse {
    pub throttle_time_ms: i32,
    pub responses: Vec<DeletableTopicResult>,
}

/// The outcome for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletableTopicResult {
    /// The topic's name; `None` only from v6 on, for a topic deleted by id.
    pub name: Option<String>,
    /// The topic's id (v6+); all zeros before v6 or when unknown.
    pub topic_id: [u8; 16],
    pub error_code: i16,
    /// v5+; `None` before v5 or when there is no error.
    pub error_message: Option<String>,
}

impl<'a> Request for DeleteTopicsRequest<'a> {
    type Response = DeleteTopicsResponse;
    const API_KEY: ApiKey = ApiKey::DeleteTopics;
    /// v0 was removed in Kafka 4.0; 2.1 speaks 0 to 3.
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 6;
    const FLEXIBLE_FROM: i16 = 4;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_array_len(self.names.len(), compact);
        for &name in self.names {
            if version >= 6 {
                // DeleteTopicState: name (nullable), topic_id, tagged fields.
                buf.put_nullable_string(Some(name), compact);
                buf.put_slice(&[0; 16]);
                buf.put_tagged_fields_if(compact);
            } else {
                buf.put_string(name, compact);
            }
        }
        buf.put_i32(self.timeout_ms);
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<DeleteTopicsResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let responses = r.array(compact, |r| {
            let name = if version >= 6 {
                r.nullable_string(compact)?
            } else {
                Some(r.string(compact)?)
            };
            let topic_id = if version >= 6 { r.uuid()? } else { [0; 16] };
            let error_code = r.i16()?;
            let error_message = if version >= 5 {
                r.nullable_string(compact)?
            } else {
                None
            };
            r.tagged_fields_if(compact)?;
            Ok(DeletableTopicResult {
                name,
                topic_id,
                error_code,
                error_message,
            })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(DeleteTopicsResponse {
            throttle_time_ms,
            responses,
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

    type Req = DeleteTopicsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// What a broker reads: (names, topic ids (v6+), timeout_ms).
    type DecodedRequest = (Vec<Option<String>>, Vec<[u8; 16]>, i32);

    /// A test-only request decoder, written from the protocol guide.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 4;
        let mut r = Reader::new(bytes);
        let mut ids = Vec::new();
        let names = if version >= 6 {
            r.array(compact, |r| {
                let name = r.nullable_string(compact)?;
                ids.push(r.uuid()?);
                r.tagged_fields_if(compact)?;
                Ok(name)
            })?
        } else {
            r.array(compact, |r| r.string(compact).map(Some))?
        };
        let timeout_ms = r.i32()?;
        r.tagged_fields_if(compact)?;
        assert!(
            r.is_empty(),
            "v{version}: {} bytes left over",
            r.remaining()
        );
        Ok((names, ids, timeout_ms))
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let req = DeleteTopicsRequest {
            names: &["orders", "", "ünïcode"],
            timeout_ms: 30_000,
        };
        let names: Vec<_> = req.names.iter().map(|n| Some(n.to_string())).collect();
        for version in VERSIONS {
            let (got_names, ids, timeout_ms) =
                decode_request(encode_request(&req, version), version).unwrap();
            assert_eq!(got_names, names, "v{version}");
            let expected_ids = if version >= 6 {
                vec![[0; 16]; 3]
            } else {
                vec![]
            };
            assert_eq!(ids, expected_ids, "v{version}");
            assert_eq!(timeout_ms, 30_000, "v{version}");
        }
    }

    fn small_request() -> Req {
        DeleteTopicsRequest {
            names: &["ab"],
            timeout_ms: 1000,
        }
    }

    #[test]
    fn classic_v1_request_matches_the_protocol_guide() {
        // DeleteTopics Request (Version: 1) => [topic_names] timeout_ms
        let expected: &[u8] = &[
            0, 0, 0, 1, // topic_names: 1
            0, 2, b'a', b'b', // STRING
            0, 0, 0x03, 0xe8, // timeout_ms
        ];
        for version in 1..=3 {
            assert_eq!(&encode_request(&small_request(), version)[..], expected);
        }
    }

    #[test]
    fn flexible_v4_and_v6_requests_match_the_protocol_guide() {
        // v4 => [topic_names] timeout_ms TAG_BUFFER
        let v4: &[u8] = &[
            2, // topic_names: COMPACT_ARRAY of 1
            3, b'a', b'b', // COMPACT_STRING
            0, 0, 0x03, 0xe8, // timeout_ms
            0,    // tags
        ];
        assert_eq!(&encode_request(&small_request(), 4)[..], v4);
        assert_eq!(&encode_request(&small_request(), 5)[..], v4);
        // v6 => [topics] timeout_ms TAG_BUFFER; topics => name topic_id TAG_BUFFER
        let mut v6 = vec![2, 3, b'a', b'b'];
        v6.extend_from_slice(&[0; 16]);
        v6.extend_from_slice(&[0, 0, 0, 0x03, 0xe8, 0]);
        assert_eq!(&encode_request(&small_request(), 6)[..], &v6[..]);
    }

    fn sample_response() -> DeleteTopicsResponse {
        DeleteTopicsResponse {
            throttle_time_ms: 3,
            responses: vec![
                DeletableTopicResult {
                    name: Some("orders".into()),
                    topic_id: *b"fedcba9876543210",
                    error_code: 0,
                    error_message: None,
                },
                DeletableTopicResult {
                    name: Some("missing".into()),
                    topic_id: [0; 16],
                    error_code: 3,
                    error_message: Some("This server does not host this topic.".into()),
                },
                DeletableTopicResult {
                    name: None,
                    topic_id: [7; 16],
                    error_code: 100,
                    error_message: None,
                },
            ],
        }
    }

    fn expected_response(resp: &DeleteTopicsResponse, version: i16) -> DeleteTopicsResponse {
        let mut out = resp.clone();
        if version < 6 {
            // A null name cannot be sent before v6; the test encoder writes "" for it.
            for t in &mut out.responses {
                t.name.get_or_insert_with(String::new);
                t.topic_id = [0; 16];
            }
        }
        if version < 5 {
            for t in &mut out.responses {
                t.error_message = None;
            }
        }
        out
    }

    /// A test-only response encoder, written from the protocol guide; flexible versions carry an
    /// unknown tagged field at each level, which must be skipped.
    fn encode_response(resp: &DeleteTopicsResponse, version: i16) -> Bytes {
        let compact = version >= 4;
        let tags = |buf: &mut BytesMut| {
            if compact {
                buf.put_uvarint(1);
                buf.put_uvarint(4);
                buf.put_uvarint(3);
                buf.put_slice(b"xyz");
            }
        };
        let mut buf = BytesMut::new();
        buf.put_i32(resp.throttle_time_ms);
        buf.put_array_len(resp.responses.len(), compact);
        for t in &resp.responses {
            if version >= 6 {
                buf.put_nullable_string(t.name.as_deref(), compact);
                buf.put_slice(&t.topic_id);
            } else {
                buf.put_string(t.name.as_deref().unwrap_or(""), compact);
            }
            buf.put_i16(t.error_code);
            if version >= 5 {
                buf.put_nullable_string(t.error_message.as_deref(), compact);
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
    fn classic_response_matches_the_protocol_guide() {
        let bytes: &[u8] = &[
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, // responses: 1
            0, 1, b't', // name
            0, 73, // error_code TOPIC_DELETION_DISABLED
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 3).unwrap();
        assert_eq!(
            resp.responses,
            vec![DeletableTopicResult {
                name: Some("t".into()),
                topic_id: [0; 16],
                error_code: 73,
                error_message: None,
            }]
        );
    }

    #[test]
    fn null_name_is_rejected_before_v6() {
        for version in 1..=5 {
            let compact = version >= 4;
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            buf.put_array_len(1, compact);
            buf.put_nullable_string(None, compact);
            buf.put_i16(0);
            if version >= 5 {
                buf.put_nullable_string(None, compact);
            }
            buf.put_tagged_fields_if(compact);
            buf.put_tagged_fields_if(compact);
            assert!(
                decode_whole::<Req>(buf.freeze(), version).is_err(),
                "v{version}"
            );
        }
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
            if version >= 4 {
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
    fn null_responses_array_reads_as_empty() {
        let resp =
            decode_whole::<Req>(Bytes::from_static(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), 3)
                .unwrap();
        assert!(resp.responses.is_empty());
        let resp = decode_whole::<Req>(Bytes::from_static(&[0, 0, 0, 0, 0, 0]), 6).unwrap();
        assert!(resp.responses.is_empty());
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for version in VERSIONS {
            let valid = encode_response(&sample_response(), version);
            assert_mutations_never_panic::<Req>(&valid, version, 0xdead_beef_cafe_f00d_u64);
        }
    }
}
