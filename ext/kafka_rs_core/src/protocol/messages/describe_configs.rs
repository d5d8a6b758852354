//! DescribeConfigs (API key 32), versions 1 to 4. Topic configs can be asked of any broker; a
//! broker's own configs must be asked of that broker.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 1 | `include_synonyms`; each config carries `config_source` and its synonyms instead of `is_default` (v0 is gone in Kafka 4.0) |
//! | 2 | same as 1 (the broker answers before throttling) |
//! | 3 | `include_documentation`; each config carries its `config_type` and `documentation` (KIP-569) |
//! | 4 | flexible |
//!
//! The response's synonyms, config types and documentation are read and skipped;
//! [`DescribeConfigsEntry::is_default`] is derived from `config_source`.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// The `resource_type` of a topic.
pub const RESOURCE_TOPIC: i8 = 2;
/// The `resource_type` of a broker (its name is the broker id in decimal, or empty for the
/// cluster-wide dynamic defaults).
pub const RESOURCE_BROKER: i8 = 4;
/// The `config_source` of a value that nobody set (`DEFAULT_CONFIG`).
pub const CONFIG_SOURCE_DEFAULT: i8 = 5;

/// A DescribeConfigs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsRequest<'a> {
    pub resources: Vec<DescribeConfigsResource<'a>>,
    /// Ask for each config's synonyms (they are skipped when decoding).
    pub include_synonyms: bool,
    /// Ask for each config's documentation (v3+; not sent before v3, and skipped when decoding).
    pub include_documentation: bool,
}

/// One resource whose configs to describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResource<'a> {
    /// [`RESOURCE_TOPIC`] or [`RESOURCE_BROKER`].
    pub resource_type: i8,
    pub resource_name: &'a str,
    /// The config names to describe, or `None` for all of them.
    pub configuration_keys: Option<Vec<&'a str>>,
}

/// A DescribeConfigs response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResponse {
    pub throttle_time_ms: i32,
    pub results: Vec<DescribeConfigsResult>,
}

/// The outcome for one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsResult {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub resource_type: i8,
    pub resource_name: String,
    pub configs: Vec<DescribeConfigsEntry>,
}

/// One config of a resource. Its synonyms, `config_type` (v3+) and `documentation` (v3+) are
/// skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeConfigsEntry {
    pub name: String,
    /// `None` when unset or sensitive.
    pub value: Option<String>,
    pub read_only: bool,
    /// Where the value comes from: 1 topic, 2 dynamic broker, 3 dynamic default broker, 4 static
    /// broker, 5 default, 6 dynamic broker logger, 7 client metrics, 8 group; 0 unknown.
    pub config_source: i8,
    pub is_sensitive: bool,
    /// Whether the value is the default: `config_source == CONFIG_SOURCE_DEFAULT` (the wire field
    /// exists in v0 only).
    pub is_default: bool,
}

impl<'a> Request for DescribeConfigsRequest<'a> {
    type Response = DescribeConfigsResponse;
    const API_KEY: ApiKey = ApiKey::DescribeConfigs;
    /// v0 was removed in Kafka 4.0 (KIP-896); 2.1 speaks 0 to 2.
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 4;
    const FLEXIBLE_FROM: i16 = 4;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_array_len(self.resources.len(), compact);
        for resource in &self.resources {
            buf.put_i8(resource.resource_type);
            buf.put_string(resource.resource_name, compact);
            match &resource.configuration_keys {
                None => buf.put_len(None, compact, true),
                Some(keys) => {
                    buf.put_array_len(keys.len(), compact);
                    for key in keys {
                        buf.put_string(key, compact);
                    }
                }
            }
            buf.put_tagged_fields_if(compact);
        }
        buf.put_bool(self.include_synonyms);
        if version >= 3 {
            buf.put_bool(self.include_documentation);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<DescribeConfigsResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let results = r.array(compact, |r| {
            let error_code = r.i16()?;
            let error_message = r.nullable_string(compact)?;
            let resource_type = r.i8()?;
            let resource_name = r.string(compact)?;
            let configs = r.array(compact, |r| {
                let name = r.string(compact)?;
                let value = r.nullable_string(compact)?;
                let read_only = r.bool()?;
                let config_source = r.i8()?;
                let is_sensitive = r.bool()?;
                skip_synonyms(r, compact)?;
                if version >= 3 {
                    let _config_type = r.i8()?;
                    let _documentation = r.nullable_string(compact)?;
                }
                r.tagged_fields_if(compact)?;
                Ok(DescribeConfigsEntry {
                    name,
                    value,
                    read_only,
                    config_source,
                    is_sensitive,
                    is_default: config_source == CONFIG_SOURCE_DEFAULT,
                })
            })?;
            r.tagged_fields_if(compact)?;
            Ok(DescribeConfigsResult {
                error_code,
                error_message,
                resource_type,
                resource_name,
                configs,
            })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(DescribeConfigsResponse {
            throttle_time_ms,
            results,
        })
    }
}

/// Reads past a config's synonyms array (v1+): `[name, value (nullable), source]`.
fn skip_synonyms(r: &mut Reader, compact: bool) -> DecodeResult<()> {
    let n = r.nullable_array_len(compact)?.unwrap_or(0);
    for _ in 0..n {
        r.string(compact)?;
        r.nullable_string(compact)?;
        r.i8()?;
        r.tagged_fields_if(compact)?;
    }
    Ok(())
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

    type Req = DescribeConfigsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    fn sample_request() -> Req {
        DescribeConfigsRequest {
            resources: vec![
                DescribeConfigsResource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "orders",
                    configuration_keys: Some(vec!["cleanup.policy", "retention.ms"]),
                },
                DescribeConfigsResource {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1",
                    configuration_keys: None,
                },
                DescribeConfigsResource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "empty",
                    configuration_keys: Some(vec![]),
                },
            ],
            include_synonyms: true,
            include_documentation: true,
        }
    }

    /// (resource_type, resource_name, configuration_keys)
    type DecodedResource = (i8, String, Option<Vec<String>>);

    /// A test-only request decoder, written from the protocol guide.
    fn decode_request(
        bytes: Bytes,
        version: i16,
    ) -> DecodeResult<(Vec<DecodedResource>, bool, bool)> {
        let compact = version >= 4;
        let mut r = Reader::new(bytes);
        let resources = r.array(compact, |r| {
            let resource_type = r.i8()?;
            let resource_name = r.string(compact)?;
            let keys = match r.nullable_array_len(compact)? {
                None => None,
                Some(n) => Some(
                    (0..n)
                        .map(|_| r.string(compact))
                        .collect::<DecodeResult<Vec<_>>>()?,
                ),
            };
            r.tagged_fields_if(compact)?;
            Ok((resource_type, resource_name, keys))
        })?;
        let include_synonyms = r.bool()?;
        let include_documentation = if version >= 3 { r.bool()? } else { false };
        r.tagged_fields_if(compact)?;
        assert!(
            r.is_empty(),
            "v{version}: {} bytes left over",
            r.remaining()
        );
        Ok((resources, include_synonyms, include_documentation))
    }

    fn expected_request(req: &Req, version: i16) -> (Vec<DecodedResource>, bool, bool) {
        let resources = req
            .resources
            .iter()
            .map(|res| {
                (
                    res.resource_type,
                    res.resource_name.to_string(),
                    res.configuration_keys
                        .as_ref()
                        .map(|keys| keys.iter().map(|k| k.to_string()).collect()),
                )
            })
            .collect();
        (
            resources,
            req.include_synonyms,
            version >= 3 && req.include_documentation,
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

    fn small_request() -> Req {
        DescribeConfigsRequest {
            resources: vec![
                DescribeConfigsResource {
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "t",
                    configuration_keys: Some(vec!["a"]),
                },
                DescribeConfigsResource {
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1",
                    configuration_keys: None,
                },
            ],
            include_synonyms: true,
            include_documentation: true,
        }
    }

    #[test]
    fn classic_requests_match_the_protocol_guide() {
        // DescribeConfigs Request (Version: 1) => [resources] include_synonyms
        //   resources => resource_type resource_name [configuration_keys]
        let v1: &[u8] = &[
            0, 0, 0, 2, // resources: 2
            2, // resource_type: topic
            0, 1, b't', // resource_name
            0, 0, 0, 1, // configuration_keys: 1
            0, 1, b'a', // key
            4,    // resource_type: broker
            0, 1, b'1', // resource_name
            0xff, 0xff, 0xff, 0xff, // configuration_keys: null (INT32 -1)
            1,    // include_synonyms
        ];
        for version in 1..=2 {
            assert_eq!(
                &encode_request(&small_request(), version)[..],
                v1,
                "v{version}"
            );
        }
        // Version 3 appends include_documentation.
        let mut v3 = v1.to_vec();
        v3.push(1);
        assert_eq!(&encode_request(&small_request(), 3)[..], &v3[..]);
    }

    #[test]
    fn flexible_v4_request_matches_the_protocol_guide() {
        let expected: &[u8] = &[
            3, // resources: COMPACT_ARRAY of 2
            2, // resource_type: topic
            2, b't', // resource_name
            2,    // configuration_keys: 1
            2, b'a', // key
            0,    // resource tags
            4,    // resource_type: broker
            2, b'1', // resource_name
            0,    // configuration_keys: null (COMPACT_ARRAY 0)
            0,    // resource tags
            1,    // include_synonyms
            1,    // include_documentation
            0,    // request tags
        ];
        assert_eq!(&encode_request(&small_request(), 4)[..], expected);
    }

    fn entry(
        name: &str,
        value: Option<&str>,
        read_only: bool,
        config_source: i8,
        is_sensitive: bool,
    ) -> DescribeConfigsEntry {
        DescribeConfigsEntry {
            name: name.into(),
            value: value.map(Into::into),
            read_only,
            config_source,
            is_sensitive,
            is_default: config_source == CONFIG_SOURCE_DEFAULT,
        }
    }

    fn sample_response() -> DescribeConfigsResponse {
        DescribeConfigsResponse {
            throttle_time_ms: 17,
            results: vec![
                DescribeConfigsResult {
                    error_code: 0,
                    error_message: None,
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "orders".into(),
                    configs: vec![
                        entry("cleanup.policy", Some("compact"), false, 1, false),
                        entry("retention.ms", Some("604800000"), false, 5, false),
                        entry("sasl.jaas.config", None, true, 4, true),
                    ],
                },
                DescribeConfigsResult {
                    error_code: 3,
                    error_message: Some("This server does not host this topic-partition.".into()),
                    resource_type: RESOURCE_TOPIC,
                    resource_name: "missing".into(),
                    configs: vec![],
                },
                DescribeConfigsResult {
                    error_code: 0,
                    error_message: None,
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1".into(),
                    configs: vec![entry("log.retention.hours", Some("168"), true, 5, false)],
                },
            ],
        }
    }

    /// A test-only response encoder, written from the protocol guide. The i-th config gets
    /// `i % 3` synonyms (alternately with and without a value) and, in v3+, a config type and a
    /// documentation that is null for every other config; flexible versions add an unknown tag
    /// at every level, all of which must be skipped.
    fn encode_response(resp: &DescribeConfigsResponse, version: i16) -> Bytes {
        let compact = version >= 4;
        let put_unknown_tag = |buf: &mut BytesMut| {
            if compact {
                buf.put_uvarint(1);
                buf.put_uvarint(9);
                buf.put_uvarint(2);
                buf.put_u16(0xbeef);
            }
        };
        let mut buf = BytesMut::new();
        buf.put_i32(resp.throttle_time_ms);
        buf.put_array_len(resp.results.len(), compact);
        for res in &resp.results {
            buf.put_i16(res.error_code);
            buf.put_nullable_string(res.error_message.as_deref(), compact);
            buf.put_i8(res.resource_type);
            buf.put_string(&res.resource_name, compact);
            buf.put_array_len(res.configs.len(), compact);
            for (i, c) in res.configs.iter().enumerate() {
                buf.put_string(&c.name, compact);
                buf.put_nullable_string(c.value.as_deref(), compact);
                buf.put_bool(c.read_only);
                buf.put_i8(c.config_source);
                buf.put_bool(c.is_sensitive);
                buf.put_array_len(i % 3, compact);
                for s in 0..i % 3 {
                    buf.put_string(&c.name, compact);
                    buf.put_nullable_string((s % 2 == 0).then_some("synonym"), compact);
                    buf.put_i8(4);
                    put_unknown_tag(&mut buf);
                }
                if version >= 3 {
                    buf.put_i8(2);
                    buf.put_nullable_string((i % 2 == 0).then_some("The documentation."), compact);
                }
                put_unknown_tag(&mut buf);
            }
            put_unknown_tag(&mut buf);
        }
        put_unknown_tag(&mut buf);
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
    fn classic_v1_response_matches_the_protocol_guide() {
        let bytes: &[u8] = &[
            0, 0, 0, 5, // throttle_time_ms
            0, 0, 0, 1, // results: 1
            0, 0, // error_code
            0xff, 0xff, // error_message: null
            2,    // resource_type: topic
            0, 1, b't', // resource_name
            0, 0, 0, 1, // configs: 1
            0, 1, b'a', // name
            0, 1, b'1', // value
            0,    // read_only
            5,    // config_source: DEFAULT_CONFIG
            0,    // is_sensitive
            0, 0, 0, 1, // synonyms: 1
            0, 1, b'a', // synonym name
            0xff, 0xff, // synonym value: null
            5,    // synonym source
        ];
        for version in 1..=2 {
            let resp = decode_whole::<Req>(Bytes::from_static(bytes), version).unwrap();
            assert_eq!(resp.throttle_time_ms, 5);
            let result = &resp.results[0];
            assert_eq!(result.error_code, 0);
            assert_eq!(result.error_message, None);
            assert_eq!(result.resource_type, RESOURCE_TOPIC);
            assert_eq!(result.resource_name, "t");
            assert_eq!(
                result.configs,
                vec![entry("a", Some("1"), false, 5, false)],
                "v{version}"
            );
            assert!(result.configs[0].is_default);
        }
    }

    #[test]
    fn flexible_v4_response_matches_the_protocol_guide() {
        let bytes: &[u8] = &[
            0, 0, 0, 0, // throttle_time_ms
            2, // results: COMPACT_ARRAY of 1
            0, 0, // error_code
            0, // error_message: null
            4, // resource_type: broker
            2, b'1', // resource_name
            2,    // configs: 1
            2, b'x', // name
            0,    // value: null
            1,    // read_only
            4,    // config_source: STATIC_BROKER_CONFIG
            1,    // is_sensitive
            2,    // synonyms: 1
            2, b'x', // synonym name
            0,    // synonym value: null
            4,    // synonym source
            0,    // synonym tags
            9,    // config_type: PASSWORD
            3, b'h', b'i', // documentation
            0,    // config tags
            0,    // result tags
            0,    // response tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 4).unwrap();
        assert_eq!(
            resp,
            DescribeConfigsResponse {
                throttle_time_ms: 0,
                results: vec![DescribeConfigsResult {
                    error_code: 0,
                    error_message: None,
                    resource_type: RESOURCE_BROKER,
                    resource_name: "1".into(),
                    configs: vec![entry("x", None, true, 4, true)],
                }],
            }
        );
        assert!(!resp.results[0].configs[0].is_default);
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        let resp = sample_response();
        for version in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&resp, version), version);
        }
    }

    fn put_huge_count(buf: &mut BytesMut, compact: bool) {
        if compact {
            buf.put_uvarint(u32::MAX);
        } else {
            buf.put_i32(i32::MAX);
        }
    }

    fn assert_hostile(buf: BytesMut, version: i16) {
        let err = Req::decode_response(&mut Reader::new(buf.freeze()), version).unwrap_err();
        assert!(
            matches!(err, DecodeError::Invalid { what: "array", .. }),
            "v{version}: {err:?}"
        );
    }

    #[test]
    fn hostile_array_counts_fail_without_allocating() {
        for version in VERSIONS {
            let compact = version >= 4;

            // The results array.
            let mut buf = BytesMut::new();
            buf.put_i32(0);
            put_huge_count(&mut buf, compact);
            buf.put_slice(&[0; 32]);
            assert_hostile(buf, version);

            // The configs array of a result.
            let mut result = BytesMut::new();
            result.put_i32(0);
            result.put_array_len(1, compact);
            result.put_i16(0);
            result.put_nullable_string(None, compact);
            result.put_i8(RESOURCE_TOPIC);
            result.put_string("t", compact);
            let mut buf = result.clone();
            put_huge_count(&mut buf, compact);
            buf.put_slice(&[0; 32]);
            assert_hostile(buf, version);

            // The synonyms array of a config.
            let mut buf = result;
            buf.put_array_len(1, compact);
            buf.put_string("a", compact);
            buf.put_nullable_string(None, compact);
            buf.put_bool(false);
            buf.put_i8(5);
            buf.put_bool(false);
            put_huge_count(&mut buf, compact);
            buf.put_slice(&[0; 32]);
            assert_hostile(buf, version);
        }
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for version in VERSIONS {
            let valid = encode_response(&sample_response(), version);
            assert_mutations_never_panic::<Req>(&valid, version, 0x9e37_79b9_7f4a_7c15_u64);
        }
    }
}
