//! IncrementalAlterConfigs (API key 44), versions 0 and 1 (KIP-339, Kafka 2.3): changes only
//! the configs named in the request, each by an operation (set, delete, append, subtract);
//! every other config of the resource keeps its value.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version (Kafka 2.3) |
//! | 1 | flexible (compact encodings, tagged fields) |
//!
//! The response has the layout of AlterConfigs' ([`AlterConfigsResponse`]). Topic resources go
//! to any broker (KRaft brokers forward them to the controller); a broker's own configs
//! (resource name = its id) must be sent to that broker on ZooKeeper clusters.

use bytes::{BufMut, BytesMut};

use super::alter_configs::{decode_alter_configs_response, AlterConfigsResponse};
use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// What to do with one config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigOperation {
    /// Give it the value.
    Set = 0,
    /// Remove the override: the config reverts to the next level (broker, then default).
    Delete = 1,
    /// Add the value to a list config.
    Append = 2,
    /// Remove the value from a list config.
    Subtract = 3,
}

/// An IncrementalAlterConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalAlterConfigsRequest<'a> {
    pub resources: Vec<IncrementalAlterConfigsResource<'a>>,
    /// Check the request without changing anything.
    pub validate_only: bool,
}

/// One resource and the changes to its configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalAlterConfigsResource<'a> {
    /// [`RESOURCE_TOPIC`](super::describe_configs::RESOURCE_TOPIC) or
    /// [`RESOURCE_BROKER`](super::describe_configs::RESOURCE_BROKER).
    pub resource_type: i8,
    pub resource_name: &'a str,
    pub configs: Vec<AlterableConfig<'a>>,
}

/// One change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlterableConfig<'a> {
    pub name: &'a str,
    pub operation: ConfigOperation,
    /// Null for [`ConfigOperation::Delete`].
    pub value: Option<&'a str>,
}

impl<'a> Request for IncrementalAlterConfigsRequest<'a> {
    type Response = AlterConfigsResponse;
    const API_KEY: ApiKey = ApiKey::IncrementalAlterConfigs;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;
    const FLEXIBLE_FROM: i16 = 1;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_array_len(self.resources.len(), compact);
        for resource in &self.resources {
            buf.put_i8(resource.resource_type);
            buf.put_string(resource.resource_name, compact);
            buf.put_array_len(resource.configs.len(), compact);
            for config in &resource.configs {
                buf.put_string(config.name, compact);
                buf.put_i8(config.operation as i8);
                buf.put_nullable_string(config.value, compact);
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

#[cfg(test)]
mod tests {
    use super::super::alter_configs::tests::{encode_response, sample_response};
    use super::super::alter_configs::AlterConfigsResourceResponse;
    use super::super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
    use super::super::test_support::encode_request;
    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;
    use bytes::Bytes;

    type Req = IncrementalAlterConfigsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// (resource_type, resource_name, [(name, operation, value)])
    type DecodedResource = (i8, String, Vec<(String, i8, Option<String>)>);

    /// A test-only request decoder, written from the protocol guide.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<(Vec<DecodedResource>, bool)> {
        let compact = version >= 1;
        let mut r = Reader::new(bytes);
        let resources = r.array(compact, |r| {
            let resource_type = r.i8()?;
            let resource_name = r.string(compact)?;
            let configs = r.array(compact, |r| {
                let name = r.string(compact)?;
                let operation = r.i8()?;
                let value = r.nullable_string(compact)?;
                r.tagged_fields_if(compact)?;
                Ok((name, operation, value))
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

    fn set(name: &'static str, value: &'static str) -> AlterableConfig<'static> {
        AlterableConfig {
            name,
            operation: ConfigOperation::Set,
            value: Some(value),
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let req = IncrementalAlterConfigsRequest {
            resources: vec![
                IncrementalAlterConfigsResource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "orders",
                    configs: vec![
                        set("retention.ms", "86400000"),
                        AlterableConfig {
                            name: "ε",
                            operation: ConfigOperation::Delete,
                            value: None,
                        },
                        AlterableConfig {
                            name: "cleanup.policy",
                            operation: ConfigOperation::Append,
                            value: Some("compact"),
                        },
                        AlterableConfig {
                            name: "follower.replication.throttled.replicas",
                            operation: ConfigOperation::Subtract,
                            value: Some("0:1"),
                        },
                    ],
                },
                IncrementalAlterConfigsResource {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1",
                    configs: vec![],
                },
            ],
            validate_only: true,
        };
        let s = |v: &str| Some(v.to_string());
        let expected = (
            vec![
                (
                    RESOURCE_TOPIC,
                    "orders".to_string(),
                    vec![
                        ("retention.ms".to_string(), 0, s("86400000")),
                        ("ε".to_string(), 1, None),
                        ("cleanup.policy".to_string(), 2, s("compact")),
                        (
                            "follower.replication.throttled.replicas".to_string(),
                            3,
                            s("0:1"),
                        ),
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
        IncrementalAlterConfigsRequest {
            resources: vec![IncrementalAlterConfigsResource {
                resource_type: RESOURCE_BROKER,
                resource_name: "1",
                configs: vec![
                    set("a", "9"),
                    AlterableConfig {
                        name: "b",
                        operation: ConfigOperation::Delete,
                        value: None,
                    },
                ],
            }],
            validate_only: true,
        }
    }

    #[test]
    fn classic_v0_request_matches_the_protocol_guide() {
        // IncrementalAlterConfigs Request (Version: 0) => [resources] validate_only
        //   resources => resource_type resource_name [configs]
        //     configs => name config_operation value
        let expected: &[u8] = &[
            0, 0, 0, 1, // resources: 1
            4, // resource_type: broker
            0, 1, b'1', // resource_name
            0, 0, 0, 2, // configs: 2
            0, 1, b'a', // name
            0,    // config_operation: SET
            0, 1, b'9', // value
            0, 1, b'b', // name
            1,    // config_operation: DELETE
            0xff, 0xff, // value: null
            1,    // validate_only
        ];
        assert_eq!(&encode_request(&small_request(), 0)[..], expected);
    }

    #[test]
    fn flexible_v1_request_matches_the_protocol_guide() {
        let expected: &[u8] = &[
            2, // resources: COMPACT_ARRAY of 1
            4, // resource_type: broker
            2, b'1', // resource_name
            3,    // configs: 2
            2, b'a', // name
            0,    // config_operation: SET
            2, b'9', // value
            0,    // config tags
            2, b'b', // name
            1,    // config_operation: DELETE
            0,    // value: null
            0,    // config tags
            0,    // resource tags
            1,    // validate_only
            0,    // request tags
        ];
        assert_eq!(&encode_request(&small_request(), 1)[..], expected);
    }

    #[test]
    fn response_round_trips_in_every_version() {
        let resp = sample_response();
        for version in VERSIONS {
            let bytes = encode_response(&resp, version >= 1);
            let decoded = decode_whole::<Req>(bytes, version).unwrap();
            assert_eq!(decoded, resp, "v{version}");
        }
    }

    #[test]
    fn responses_match_the_protocol_guide() {
        let v0: &[u8] = &[
            0, 0, 0, 0, // throttle_time_ms
            0, 0, 0, 1, // responses: 1
            0, 3, // error_code: UNKNOWN_TOPIC_OR_PARTITION
            0xff, 0xff, // error_message: null
            2,    // resource_type: topic
            0, 1, b't', // resource_name
        ];
        let v1: &[u8] = &[
            0, 0, 0, 0, // throttle_time_ms
            2, // responses: COMPACT_ARRAY of 1
            0, 3, // error_code
            0, // error_message: null
            2, // resource_type: topic
            2, b't', // resource_name
            0,    // response tags
            0,    // body tags
        ];
        let expected = vec![AlterConfigsResourceResponse {
            error_code: 3,
            error_message: None,
            resource_type: RESOURCE_TOPIC,
            resource_name: "t".into(),
        }];
        for (version, bytes) in [(0, v0), (1, v1)] {
            let resp = decode_whole::<Req>(Bytes::from_static(bytes), version).unwrap();
            assert_eq!(resp.responses, expected, "v{version}");
        }
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        let resp = sample_response();
        for version in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&resp, version >= 1), version);
        }
    }

    #[test]
    fn hostile_array_counts_fail_without_allocating() {
        for version in VERSIONS {
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            if version >= 1 {
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
            let valid = encode_response(&sample_response(), version >= 1);
            assert_mutations_never_panic::<Req>(&valid, version, 0x9fb2_1c65_1e98_df25_u64);
        }
    }
}
