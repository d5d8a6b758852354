//! AlterConfigs (API key 33), versions 0 to 2: **replaces** the whole set of dynamic configs of
//! each resource with the ones sent (a config left out reverts to its default). The client uses
//! it only with brokers older than 2.3, which lack IncrementalAlterConfigs
//! ([`super::incremental_alter_configs`]); its response layout is shared with that API.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version (Kafka 0.11) |
//! | 1 | same as 0 (the broker answers before throttling) |
//! | 2 | flexible (compact encodings, tagged fields) |
//!
//! Topic resources go to any broker (KRaft brokers forward them to the controller); a broker's
//! own configs (resource name = its id) must be sent to that broker on ZooKeeper clusters.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// An AlterConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsRequest<'a> {
    pub resources: Vec<AlterConfigsResource<'a>>,
    /// Check the request without changing anything.
    pub validate_only: bool,
}

/// One resource and the complete set of dynamic configs it should have afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsResource<'a> {
    /// [`RESOURCE_TOPIC`](super::describe_configs::RESOURCE_TOPIC) or
    /// [`RESOURCE_BROKER`](super::describe_configs::RESOURCE_BROKER).
    pub resource_type: i8,
    pub resource_name: &'a str,
    /// `(name, value)`; a `None` value is sent as a null string.
    pub configs: Vec<(&'a str, Option<&'a str>)>,
}

/// The response of AlterConfigs, and of IncrementalAlterConfigs (same layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsResponse {
    pub throttle_time_ms: i32,
    pub responses: Vec<AlterConfigsResourceResponse>,
}

/// The outcome for one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigsResourceResponse {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub resource_type: i8,
    pub resource_name: String,
}

impl<'a> Request for AlterConfigsRequest<'a> {
    type Response = AlterConfigsResponse;
    const API_KEY: ApiKey = ApiKey::AlterConfigs;
    /// Kafka 2.1 speaks 0 and 1.
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;
    const FLEXIBLE_FROM: i16 = 2;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_array_len(self.resources.len(), compact);
        for resource in &self.resources {
            buf.put_i8(resource.resource_type);
            buf.put_string(resource.resource_name, compact);
            buf.put_array_len(resource.configs.len(), compact);
            for (name, value) in &resource.configs {
                buf.put_string(name, compact);
                buf.put_nullable_string(*value, compact);
                buf.put_tagged_fields_if(compact);
            }
            buf.put_tagged_fields_if(compact);
        }
        buf.put_bool(self.validate_only);
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<AlterConfigsResponse> {
        decode_alter_configs_response(r, Self::is_flexible(version))
    }
}

/// Reads the response body of AlterConfigs or IncrementalAlterConfigs.
pub(crate) fn decode_alter_configs_response(
    r: &mut Reader,
    compact: bool,
) -> DecodeResult<AlterConfigsResponse> {
    let throttle_time_ms = r.i32()?;
    let responses = r.array(compact, |r| {
        let response = AlterConfigsResourceResponse {
            error_code: r.i16()?,
            error_message: r.nullable_string(compact)?,
            resource_type: r.i8()?,
            resource_name: r.string(compact)?,
        };
        r.tagged_fields_if(compact)?;
        Ok(response)
    })?;
    r.tagged_fields_if(compact)?;
    Ok(AlterConfigsResponse {
        throttle_time_ms,
        responses,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
    use super::super::test_support::encode_request;
    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;
    use bytes::Bytes;

    type Req = AlterConfigsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// (resource_type, resource_name, [(name, value)])
    type DecodedResource = (i8, String, Vec<(String, Option<String>)>);

    /// A test-only request decoder, written from the protocol guide.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<(Vec<DecodedResource>, bool)> {
        let compact = version >= 2;
        let mut r = Reader::new(bytes);
        let resources = r.array(compact, |r| {
            let resource_type = r.i8()?;
            let resource_name = r.string(compact)?;
            let configs = r.array(compact, |r| {
                let name = r.string(compact)?;
                let value = r.nullable_string(compact)?;
                r.tagged_fields_if(compact)?;
                Ok((name, value))
            })?;
            r.tagged_fields_if(compact)?;
            Ok((resource_type, resource_name, configs))
        })?;
        let validate_only = r.bool()?;
        r.tagged_fields_if(compact)?;
        assert!(
            r.is_empty(),
            "v{version}: {} bytes left over",
            r.remaining()
        );
        Ok((resources, validate_only))
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let req = AlterConfigsRequest {
            resources: vec![
                AlterConfigsResource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "orders",
                    configs: vec![("retention.ms", Some("86400000")), ("ε", None)],
                },
                AlterConfigsResource {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1",
                    configs: vec![],
                },
            ],
            validate_only: true,
        };
        let expected = (
            vec![
                (
                    RESOURCE_TOPIC,
                    "orders".to_string(),
                    vec![
                        ("retention.ms".to_string(), Some("86400000".to_string())),
                        ("ε".to_string(), None),
                    ],
                ),
                (RESOURCE_BROKER, "1".to_string(), vec![]),
            ],
            true,
        );
        for version in VERSIONS {
            let decoded = decode_request(encode_request(&req, version), version).unwrap();
            assert_eq!(decoded, expected, "v{version}");
        }
    }

    fn small_request() -> Req {
        AlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: RESOURCE_TOPIC,
                resource_name: "t",
                configs: vec![("a", Some("1")), ("b", None)],
            }],
            validate_only: false,
        }
    }

    #[test]
    fn classic_requests_match_the_protocol_guide() {
        // AlterConfigs Request (Version: 0) => [resources] validate_only
        //   resources => resource_type resource_name [configs]
        //     configs => name value
        let expected: &[u8] = &[
            0, 0, 0, 1, // resources: 1
            2, // resource_type: topic
            0, 1, b't', // resource_name
            0, 0, 0, 2, // configs: 2
            0, 1, b'a', // name
            0, 1, b'1', // value
            0, 1, b'b', // name
            0xff, 0xff, // value: null
            0,    // validate_only
        ];
        assert_eq!(&encode_request(&small_request(), 0)[..], expected);
        assert_eq!(&encode_request(&small_request(), 1)[..], expected);
    }

    #[test]
    fn flexible_v2_request_matches_the_protocol_guide() {
        let expected: &[u8] = &[
            2, // resources: COMPACT_ARRAY of 1
            2, // resource_type: topic
            2, b't', // resource_name
            3,    // configs: 2
            2, b'a', // name
            2, b'1', // value
            0,    // config tags
            2, b'b', // name
            0,    // value: null
            0,    // config tags
            0,    // resource tags
            0,    // validate_only
            0,    // request tags
        ];
        assert_eq!(&encode_request(&small_request(), 2)[..], expected);
    }

    pub(crate) fn sample_response() -> AlterConfigsResponse {
        AlterConfigsResponse {
            throttle_time_ms: 3,
            responses: vec![
                AlterConfigsResourceResponse {
                    error_code: 0,
                    error_message: None,
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "orders".into(),
                },
                AlterConfigsResourceResponse {
                    error_code: 40,
                    error_message: Some("Unknown topic config name: retention.mss".into()),
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "events".into(),
                },
                AlterConfigsResourceResponse {
                    error_code: 0,
                    error_message: None,
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1".into(),
                },
            ],
        }
    }

    /// A test-only response encoder, written from the protocol guide; flexible layouts carry an
    /// unknown tagged field at each level, which must be skipped.
    pub(crate) fn encode_response(resp: &AlterConfigsResponse, compact: bool) -> Bytes {
        let tags = |buf: &mut BytesMut| {
            if compact {
                buf.put_uvarint(1);
                buf.put_uvarint(77);
                buf.put_uvarint(2);
                buf.put_u16(0xcafe);
            }
        };
        let mut buf = BytesMut::new();
        buf.put_i32(resp.throttle_time_ms);
        buf.put_array_len(resp.responses.len(), compact);
        for res in &resp.responses {
            buf.put_i16(res.error_code);
            buf.put_nullable_string(res.error_message.as_deref(), compact);
            buf.put_i8(res.resource_type);
            buf.put_string(&res.resource_name, compact);
            tags(&mut buf);
        }
        tags(&mut buf);
        buf.freeze()
    }

    #[test]
    fn response_round_trips_in_every_version() {
        let resp = sample_response();
        for version in VERSIONS {
            let bytes = encode_response(&resp, version >= 2);
            let decoded = decode_whole::<Req>(bytes, version).unwrap();
            assert_eq!(decoded, resp, "v{version}");
        }
    }

    #[test]
    fn classic_v0_response_matches_the_protocol_guide() {
        let bytes: &[u8] = &[
            0, 0, 0, 7, // throttle_time_ms
            0, 0, 0, 1, // responses: 1
            0, 40, // error_code: INVALID_CONFIG
            0, 2, b'n', b'o', // error_message
            2,    // resource_type: topic
            0, 1, b't', // resource_name
        ];
        for version in 0..=1 {
            let resp = decode_whole::<Req>(Bytes::from_static(bytes), version).unwrap();
            assert_eq!(
                resp,
                AlterConfigsResponse {
                    throttle_time_ms: 7,
                    responses: vec![AlterConfigsResourceResponse {
                        error_code: 40,
                        error_message: Some("no".into()),
                        resource_type: RESOURCE_TOPIC,
                        resource_name: "t".into(),
                    }],
                },
                "v{version}"
            );
        }
    }

    #[test]
    fn flexible_v2_response_matches_the_protocol_guide() {
        let bytes: &[u8] = &[
            0, 0, 0, 0, // throttle_time_ms
            2, // responses: COMPACT_ARRAY of 1
            0, 0, // error_code
            0, // error_message: null
            4, // resource_type: broker
            2, b'1', // resource_name
            0,    // response tags
            0,    // body tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 2).unwrap();
        assert_eq!(
            resp.responses,
            vec![AlterConfigsResourceResponse {
                error_code: 0,
                error_message: None,
                resource_type: RESOURCE_BROKER,
                resource_name: "1".into(),
            }]
        );
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        let resp = sample_response();
        for version in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&resp, version >= 2), version);
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
    fn garbage_and_mutated_responses_never_panic() {
        for version in VERSIONS {
            let valid = encode_response(&sample_response(), version >= 2);
            assert_mutations_never_panic::<Req>(&valid, version, 0x2545_f491_4f6c_dd1d_u64);
        }
    }
}
