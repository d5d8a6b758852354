//! ApiVersions (key 18), versions 0..=3, flexible from 3: which versions of which APIs a broker
//! speaks. The first request on every connection.
//!
//! | version | request adds                                        | response adds        |
//! |---------|-----------------------------------------------------|----------------------|
//! | 0       | (empty body)                                        | error_code, api_keys |
//! | 1, 2    | (empty body)                                        | throttle_time_ms     |
//! | 3       | client_software_name, client_software_version; flexible | tagged fields (features: skipped) |
//!
//! Kafka 2.1 brokers speak 0..=2, Kafka 2.4+ speak 0..=3, Kafka 3.9+ also speak 4 (same layout as
//! 3, only the broker's feature list changes), which we do not need.
//!
//! # Two exceptions to the general rules
//!
//! * **Response header.** The ApiVersions response header is *always* header v0 (correlation id
//!   only, no tagged fields), even for the flexible v3: a client cannot know yet whether the
//!   broker understood the flexible request, so the header must parse either way. The
//!   connection's header code must special-case it: every other flexible response has header v1.
//!   The request header follows the usual rule (v2 for v3).
//! * **Version fallback.** A broker that does not support the request's version answers with
//!   `UNSUPPORTED_VERSION` (35) in the **v0 body layout**, whatever version was asked. Brokers
//!   2.4+ (KIP-511) list their own ApiVersions range in `api_keys`; older brokers (2.1 to 2.3)
//!   send it empty. [`ApiVersionsRequest::decode_response`] reads the error code first and, if it
//!   is 35, reads the rest as v0; [`ApiVersionsResponse::fallback_version`] then says which
//!   version to retry with.
//!
//! # Client software name
//!
//! Brokers validate v3's `client_software_name` and `client_software_version` against
//! `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?` and answer `INVALID_REQUEST` (42) otherwise. An
//! underscore is not allowed, hence [`CLIENT_SOFTWARE_NAME`] is `kafka-rs`, not `kafka_rs`.

use bytes::BytesMut;

use crate::protocol::api::{negotiate, ApiKey, Request, VersionRange};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// The client software name sent in v3+ (must match the broker's pattern, see the module docs).
pub const CLIENT_SOFTWARE_NAME: &str = "kafka-rs";
/// The client software version sent in v3+: this crate's version.
pub const CLIENT_SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The error code of a broker that does not support the request's ApiVersions version.
pub const UNSUPPORTED_VERSION: i16 = 35;

/// ApiVersions request. The body is empty before v3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionsRequest<'a> {
    /// v3+. Must match `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
    pub client_software_name: &'a str,
    /// v3+. Same pattern as the name.
    pub client_software_version: &'a str,
}

impl Default for ApiVersionsRequest<'static> {
    fn default() -> Self {
        ApiVersionsRequest {
            client_software_name: CLIENT_SOFTWARE_NAME,
            client_software_version: CLIENT_SOFTWARE_VERSION,
        }
    }
}

/// The versions a broker supports for one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionEntry {
    pub api_key: i16,
    pub min_version: i16,
    pub max_version: i16,
}

/// ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsResponse {
    /// 0, or [`UNSUPPORTED_VERSION`] (then the body was read in the v0 layout and `api_keys`
    /// holds at most the broker's ApiVersions range), or `INVALID_REQUEST` (42).
    pub error_code: i16,
    pub api_keys: Vec<ApiVersionEntry>,
    /// v1+ (0 before, and 0 in an `UNSUPPORTED_VERSION` answer).
    pub throttle_time_ms: i32,
}

impl ApiVersionsResponse {
    /// The range the broker advertises for `key`, if it supports that API at all.
    pub fn range(&self, key: ApiKey) -> Option<VersionRange> {
        self.api_keys
            .iter()
            .find(|e| e.api_key == key.code())
            .map(|e| VersionRange {
                min: e.min_version,
                max: e.max_version,
            })
    }

    /// After an `UNSUPPORTED_VERSION` answer: the ApiVersions version to retry with (the highest
    /// both sides support, or 0 when the broker did not list its range, as before Kafka 2.4).
    /// `None` if the error is something else, or if the ranges do not overlap.
    pub fn fallback_version(&self) -> Option<i16> {
        if self.error_code != UNSUPPORTED_VERSION {
            return None;
        }
        match self.range(ApiKey::ApiVersions) {
            Some(theirs) => negotiate(
                VersionRange {
                    min: ApiVersionsRequest::MIN_VERSION,
                    max: ApiVersionsRequest::MAX_VERSION,
                },
                theirs,
            ),
            None => Some(0),
        }
    }
}

impl Request for ApiVersionsRequest<'_> {
    type Response = ApiVersionsResponse;
    const API_KEY: ApiKey = ApiKey::ApiVersions;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;
    const FLEXIBLE_FROM: i16 = 3;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        let compact = version >= Self::FLEXIBLE_FROM;
        if version >= 3 {
            buf.put_string(self.client_software_name, compact);
            buf.put_string(self.client_software_version, compact);
        }
        buf.put_tagged_fields_if(compact);
    }

    /// Reads the body; an `UNSUPPORTED_VERSION` error is read in the v0 layout whatever `version`
    /// is (see the module docs).
    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<ApiVersionsResponse> {
        let error_code = r.i16()?;
        let version = if error_code == UNSUPPORTED_VERSION {
            0
        } else {
            version
        };
        let compact = version >= Self::FLEXIBLE_FROM;
        let api_keys = r.array(compact, |r| {
            let entry = ApiVersionEntry {
                api_key: r.i16()?,
                min_version: r.i16()?,
                max_version: r.i16()?,
            };
            r.tagged_fields_if(compact)?;
            Ok(entry)
        })?;
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        r.tagged_fields_if(compact)?;
        Ok(ApiVersionsResponse {
            error_code,
            api_keys,
            throttle_time_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{decode_whole, encode_api_versions_response, encode_request};
    use bytes::Bytes;

    use super::*;
    use crate::protocol::codec::DecodeError;

    /// Test-only request decoder: (name, version) for v3+, `None` before.
    fn decode_request(body: Bytes, version: i16) -> DecodeResult<Option<(String, String)>> {
        let compact = version >= 3;
        let mut r = Reader::new(body);
        let out = if version >= 3 {
            Some((r.string(compact)?, r.string(compact)?))
        } else {
            None
        };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "trailing bytes");
        Ok(out)
    }

    fn sample(version: i16) -> ApiVersionsResponse {
        ApiVersionsResponse {
            error_code: 0,
            api_keys: (0..70)
                .map(|k| ApiVersionEntry {
                    api_key: k,
                    min_version: k % 3,
                    max_version: k + 1,
                })
                .collect(),
            throttle_time_ms: if version >= 1 { 123 } else { 0 },
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let req = ApiVersionsRequest::default();
        for v in ApiVersionsRequest::MIN_VERSION..=ApiVersionsRequest::MAX_VERSION {
            let decoded = decode_request(encode_request(&req, v), v).unwrap();
            if v >= 3 {
                let (name, version) = decoded.unwrap();
                assert_eq!(name, CLIENT_SOFTWARE_NAME);
                assert_eq!(version, CLIENT_SOFTWARE_VERSION);
            } else {
                assert!(decoded.is_none());
            }
        }
    }

    #[test]
    fn request_bytes_match_the_protocol_guide() {
        // v0..v2: the body is empty.
        for v in 0..=2 {
            assert!(encode_request(&ApiVersionsRequest::default(), v).is_empty());
        }
        // v3: compact string "kafka-rs" (len 8 + 1), compact string "0.1.0" (5 + 1), no tags.
        let req = ApiVersionsRequest {
            client_software_name: "kafka-rs",
            client_software_version: "0.1.0",
        };
        let mut want = vec![9u8];
        want.extend_from_slice(b"kafka-rs");
        want.push(6);
        want.extend_from_slice(b"0.1.0");
        want.push(0);
        assert_eq!(&encode_request(&req, 3)[..], &want[..]);
    }

    #[test]
    fn default_software_name_and_version_match_the_broker_pattern() {
        fn valid(s: &str) -> bool {
            let b = s.as_bytes();
            let edge = |c: u8| c.is_ascii_alphanumeric();
            !b.is_empty()
                && edge(b[0])
                && edge(b[b.len() - 1])
                && b.iter().all(|&c| edge(c) || c == b'-' || c == b'.')
        }
        assert!(valid(CLIENT_SOFTWARE_NAME));
        assert!(valid(CLIENT_SOFTWARE_VERSION));
        assert!(!valid("kafka_rs"));
    }

    #[test]
    fn response_round_trips_in_every_version() {
        for v in ApiVersionsRequest::MIN_VERSION..=ApiVersionsRequest::MAX_VERSION {
            let resp = sample(v);
            assert_eq!(
                decode_whole::<ApiVersionsRequest>(encode_api_versions_response(&resp, v), v)
                    .unwrap(),
                resp,
                "v{v}"
            );
        }
    }

    #[test]
    fn response_v0_bytes_by_hand() {
        // error_code 0, array of 1: Produce 0..=7.
        let bytes = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 7];
        let resp = decode_whole::<ApiVersionsRequest>(Bytes::copy_from_slice(&bytes), 0).unwrap();
        assert_eq!(
            resp,
            ApiVersionsResponse {
                error_code: 0,
                api_keys: vec![ApiVersionEntry {
                    api_key: 0,
                    min_version: 0,
                    max_version: 7
                }],
                throttle_time_ms: 0,
            }
        );
        assert_eq!(
            resp.range(ApiKey::Produce),
            Some(VersionRange { min: 0, max: 7 })
        );
        assert_eq!(resp.range(ApiKey::Fetch), None);
        assert_eq!(resp.fallback_version(), None);
    }

    #[test]
    fn response_v3_bytes_by_hand() {
        // error 0; compact array of 1 (2); Metadata 0..=12 + empty tags; throttle 5; one tagged
        // field (tag 0, 3 bytes) to skip.
        let bytes = [
            0, 0, 2, 0, 3, 0, 0, 0, 12, 0, 0, 0, 0, 5, 1, 0, 3, 0xaa, 0xbb, 0xcc,
        ];
        let resp = decode_whole::<ApiVersionsRequest>(Bytes::copy_from_slice(&bytes), 3).unwrap();
        assert_eq!(resp.throttle_time_ms, 5);
        assert_eq!(
            resp.range(ApiKey::Metadata),
            Some(VersionRange { min: 0, max: 12 })
        );
    }

    #[test]
    fn unsupported_version_is_read_in_the_v0_layout() {
        // Kafka 2.4+: error 35 and the broker's ApiVersions range (0..=2), v0 layout, in answer to
        // a v3 request.
        let bytes = [0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 2];
        for v in 0..=3 {
            let resp =
                decode_whole::<ApiVersionsRequest>(Bytes::copy_from_slice(&bytes), v).unwrap();
            assert_eq!(resp.error_code, UNSUPPORTED_VERSION);
            assert_eq!(
                resp.api_keys,
                vec![ApiVersionEntry {
                    api_key: 18,
                    min_version: 0,
                    max_version: 2
                }]
            );
            assert_eq!(resp.throttle_time_ms, 0);
            assert_eq!(resp.fallback_version(), Some(2));
        }
        // Kafka 2.1..2.3: error 35 and no ranges: retry with v0.
        let bytes = [0, 35, 0, 0, 0, 0];
        let resp = decode_whole::<ApiVersionsRequest>(Bytes::copy_from_slice(&bytes), 3).unwrap();
        assert!(resp.api_keys.is_empty());
        assert_eq!(resp.fallback_version(), Some(0));
        // A broker whose range does not reach ours (a made-up 5..=9): no retry.
        let bytes = [0, 35, 0, 0, 0, 1, 0, 18, 0, 5, 0, 9];
        let resp = decode_whole::<ApiVersionsRequest>(Bytes::copy_from_slice(&bytes), 3).unwrap();
        assert_eq!(resp.fallback_version(), None);
    }

    #[test]
    fn every_truncation_fails_without_panicking() {
        for v in ApiVersionsRequest::MIN_VERSION..=ApiVersionsRequest::MAX_VERSION {
            let full = encode_api_versions_response(&sample(v), v);
            for n in 0..full.len() {
                let mut r = Reader::new(full.slice(..n));
                assert!(
                    ApiVersionsRequest::decode_response(&mut r, v).is_err(),
                    "v{v} prefix {n}"
                );
            }
        }
    }

    fn is_array_error<T>(r: DecodeResult<T>) -> bool {
        matches!(r, Err(DecodeError::Invalid { what: "array", .. }))
    }

    #[test]
    fn hostile_array_counts_fail() {
        for v in 0..=2 {
            let bytes = [0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0];
            assert!(is_array_error(decode_whole::<ApiVersionsRequest>(
                Bytes::copy_from_slice(&bytes),
                v
            )));
        }
        let bytes = [0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
        assert!(is_array_error(decode_whole::<ApiVersionsRequest>(
            Bytes::copy_from_slice(&bytes),
            3
        )));
    }
}
