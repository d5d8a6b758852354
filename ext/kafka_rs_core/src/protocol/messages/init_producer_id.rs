//! InitProducerId (API key 22), versions 0 to 4: obtains a producer id and epoch for an
//! idempotent producer (any broker) or a transactional one (its transaction coordinator).
//!
//! An idempotent producer sends a null `transactional_id`; a transactional producer sends its id
//! and the timeout after which the coordinator aborts its idle transactions. The answer is the
//! producer id and epoch to stamp on every record batch.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version (Kafka 0.11) |
//! | 1 | same as 0 (the broker answers before throttling) |
//! | 2 | flexible (compact encodings, tagged fields) |
//! | 3 | `producer_id` and `producer_epoch` in the request: bump the epoch of a known producer after `INVALID_PRODUCER_EPOCH` or `UNKNOWN_PRODUCER_ID` instead of starting over (KIP-360) |
//! | 4 | same as 3; may return `PRODUCER_FENCED` (KIP-588) |
//!
//! The response has the same four fields in every version. v5 (same layout, may return
//! `TRANSACTION_ABORTABLE`, KIP-890) is not implemented.
//!
//! Below v3 the request has no `producer_id` / `producer_epoch` and [`Request::encode`] leaves
//! them out; [`InitProducerIdRequest::min_version`] says whether a request needs v3.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// "No producer id": a request that asks for a fresh one, or a failed response.
pub const NO_PRODUCER_ID: i64 = -1;
/// "No producer epoch", sent with [`NO_PRODUCER_ID`].
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// An InitProducerId request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdRequest<'a> {
    /// The transactional id, or `None` for an idempotent (non-transactional) producer.
    pub transactional_id: Option<&'a str>,
    /// How long the coordinator lets a transaction of this producer sit idle before aborting it,
    /// in ms. Only meaningful with a `transactional_id`.
    pub transaction_timeout_ms: i32,
    /// The current producer id whose epoch should be bumped, or [`NO_PRODUCER_ID`] (v3+).
    pub producer_id: i64,
    /// The current epoch of `producer_id`, or [`NO_PRODUCER_EPOCH`] (v3+).
    pub producer_epoch: i16,
}

impl<'a> InitProducerIdRequest<'a> {
    /// A request for a fresh producer id (no id or epoch to bump).
    pub fn new(transactional_id: Option<&'a str>, transaction_timeout_ms: i32) -> Self {
        InitProducerIdRequest {
            transactional_id,
            transaction_timeout_ms,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
        }
    }

    /// The lowest version that carries this request whole: 3 when it names a producer id or
    /// epoch to bump, else [`Self::MIN_VERSION`].
    pub fn min_version(&self) -> i16 {
        if self.producer_id != NO_PRODUCER_ID || self.producer_epoch != NO_PRODUCER_EPOCH {
            3
        } else {
            Self::MIN_VERSION
        }
    }
}

/// An InitProducerId response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// The producer id to use, or [`NO_PRODUCER_ID`] on error.
    pub producer_id: i64,
    /// The epoch of `producer_id`.
    pub producer_epoch: i16,
}

impl<'a> Request for InitProducerIdRequest<'a> {
    type Response = InitProducerIdResponse;
    const API_KEY: ApiKey = ApiKey::InitProducerId;
    /// Kafka 4.0 still accepts v0; 2.1 speaks 0 and 1.
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;
    const FLEXIBLE_FROM: i16 = 2;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_nullable_string(self.transactional_id, compact);
        buf.put_i32(self.transaction_timeout_ms);
        if version >= 3 {
            buf.put_i64(self.producer_id);
            buf.put_i16(self.producer_epoch);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<InitProducerIdResponse> {
        let compact = Self::is_flexible(version);
        let resp = InitProducerIdResponse {
            throttle_time_ms: r.i32()?,
            error_code: r.i16()?,
            producer_id: r.i64()?,
            producer_epoch: r.i16()?,
        };
        r.tagged_fields_if(compact)?;
        Ok(resp)
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

    type Req = InitProducerIdRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// What a broker reads: (transactional_id, transaction_timeout_ms, producer_id, epoch).
    type DecodedRequest = (Option<String>, i32, i64, i16);

    /// A test-only request decoder, written from the protocol guide; v0 to v2 read the v3 fields
    /// as their defaults.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 2;
        let mut r = Reader::new(bytes);
        let transactional_id = r.nullable_string(compact)?;
        let timeout = r.i32()?;
        let (producer_id, epoch) = if version >= 3 {
            (r.i64()?, r.i16()?)
        } else {
            (-1, -1)
        };
        r.tagged_fields_if(compact)?;
        assert!(
            r.is_empty(),
            "v{version}: {} bytes left over",
            r.remaining()
        );
        Ok((transactional_id, timeout, producer_id, epoch))
    }

    fn bump_request() -> Req {
        InitProducerIdRequest {
            transactional_id: Some("tx"),
            transaction_timeout_ms: 60_000,
            producer_id: 4000,
            producer_epoch: 7,
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let requests = [
            InitProducerIdRequest::new(None, 0),
            InitProducerIdRequest::new(Some("orders-tx-ε"), 900_000),
            bump_request(),
        ];
        for req in &requests {
            for version in VERSIONS {
                let decoded = decode_request(encode_request(req, version), version).unwrap();
                let (producer_id, epoch) = if version >= 3 {
                    (req.producer_id, req.producer_epoch)
                } else {
                    (-1, -1)
                };
                let expected = (
                    req.transactional_id.map(str::to_string),
                    req.transaction_timeout_ms,
                    producer_id,
                    epoch,
                );
                assert_eq!(decoded, expected, "v{version}: {req:?}");
            }
        }
    }

    #[test]
    fn classic_v0_request_matches_the_protocol_guide() {
        // InitProducerId Request (Version: 0) => transactional_id transaction_timeout_ms
        let transactional: &[u8] = &[
            0, 2, b't', b'x', // transactional_id "tx" (INT16 length)
            0, 0, 0xea, 0x60, // transaction_timeout_ms 60000
        ];
        assert_eq!(&encode_request(&bump_request(), 0)[..], transactional);
        assert_eq!(&encode_request(&bump_request(), 1)[..], transactional);

        let idempotent: &[u8] = &[
            0xff, 0xff, // transactional_id null
            0, 0, 0, 0, // transaction_timeout_ms 0
        ];
        let req = InitProducerIdRequest::new(None, 0);
        assert_eq!(&encode_request(&req, 0)[..], idempotent);
    }

    #[test]
    fn flexible_v2_request_matches_the_protocol_guide() {
        // v2 => transactional_id transaction_timeout_ms TAG_BUFFER, compact string.
        let transactional: &[u8] = &[
            3, b't', b'x', // transactional_id: COMPACT_NULLABLE_STRING "tx" (len 2 + 1)
            0, 0, 0xea, 0x60, // transaction_timeout_ms 60000
            0,    // request tags
        ];
        assert_eq!(&encode_request(&bump_request(), 2)[..], transactional);

        let idempotent: &[u8] = &[
            0, // transactional_id null
            0, 0, 0, 0, // transaction_timeout_ms 0
            0, // request tags
        ];
        let req = InitProducerIdRequest::new(None, 0);
        assert_eq!(&encode_request(&req, 2)[..], idempotent);
    }

    #[test]
    fn flexible_v4_request_matches_the_protocol_guide() {
        // v3/v4 => transactional_id transaction_timeout_ms producer_id producer_epoch TAG_BUFFER
        let bump: &[u8] = &[
            3, b't', b'x', // transactional_id "tx"
            0, 0, 0xea, 0x60, // transaction_timeout_ms 60000
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0, // producer_id 4000
            0, 7, // producer_epoch 7
            0, // request tags
        ];
        assert_eq!(&encode_request(&bump_request(), 4)[..], bump);
        assert_eq!(&encode_request(&bump_request(), 3)[..], bump);

        let idempotent: &[u8] = &[
            0, // transactional_id null
            0, 0, 0, 0, // transaction_timeout_ms 0
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producer_id -1
            0xff, 0xff, // producer_epoch -1
            0,    // request tags
        ];
        let req = InitProducerIdRequest::new(None, 0);
        assert_eq!(&encode_request(&req, 4)[..], idempotent);
    }

    #[test]
    fn bumping_an_epoch_needs_v3() {
        assert_eq!(InitProducerIdRequest::new(None, 0).min_version(), 0);
        assert_eq!(
            InitProducerIdRequest::new(Some("tx"), 1000).min_version(),
            0
        );
        assert_eq!(bump_request().min_version(), 3);
        let only_epoch = InitProducerIdRequest {
            producer_epoch: 0,
            ..InitProducerIdRequest::new(None, 0)
        };
        assert_eq!(only_epoch.min_version(), 3);
    }

    fn sample_response() -> InitProducerIdResponse {
        InitProducerIdResponse {
            throttle_time_ms: 12,
            error_code: 0,
            producer_id: 0x0102_0304_0506_0708,
            producer_epoch: 3,
        }
    }

    /// A test-only response encoder, written from the protocol guide; flexible versions carry an
    /// unknown tagged field, which must be skipped.
    fn encode_response(resp: &InitProducerIdResponse, version: i16) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i32(resp.throttle_time_ms);
        buf.put_i16(resp.error_code);
        buf.put_i64(resp.producer_id);
        buf.put_i16(resp.producer_epoch);
        if version >= 2 {
            buf.put_uvarint(1);
            buf.put_uvarint(300);
            buf.put_uvarint(2);
            buf.put_slice(&[0xab, 0xcd]);
        }
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
    fn classic_v0_response_by_hand() {
        let bytes: &[u8] = &[
            0, 0, 0, 0, // throttle_time_ms 0
            0, 0, // error_code 0
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, // producer_id 1000
            0, 0, // producer_epoch 0
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 0).unwrap();
        assert_eq!(
            resp,
            InitProducerIdResponse {
                throttle_time_ms: 0,
                error_code: 0,
                producer_id: 1000,
                producer_epoch: 0,
            }
        );
    }

    #[test]
    fn flexible_v3_response_by_hand() {
        // An epoch bump answered with INVALID_PRODUCER_EPOCH (47), plus one unknown tagged field.
        let bytes: &[u8] = &[
            0, 0, 0, 5, // throttle_time_ms 5
            0, 47, // error_code INVALID_PRODUCER_EPOCH
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producer_id -1
            0xff, 0xff, // producer_epoch -1
            1,    // tagged fields: 1
            0,    // tag 0
            3,    // size 3
            0xaa, 0xbb, 0xcc, // tagged value, skipped
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 3).unwrap();
        assert_eq!(
            resp,
            InitProducerIdResponse {
                throttle_time_ms: 5,
                error_code: 47,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
            }
        );
        // Without tags, the same body is a v0/v1 response; read as v3 it is truncated.
        let classic = &bytes[..16];
        assert_eq!(
            decode_whole::<Req>(Bytes::copy_from_slice(classic), 1).unwrap(),
            resp
        );
        assert!(matches!(
            Req::decode_response(&mut Reader::new(Bytes::copy_from_slice(classic)), 3),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        let resp = sample_response();
        for version in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&resp, version), version);
        }
    }

    #[test]
    fn hostile_tagged_field_lengths_fail_without_allocating() {
        for version in 2..=Req::MAX_VERSION {
            let fixed = &encode_response(&sample_response(), 0)[..];
            // A tagged-field count that cannot fit in the bytes left.
            let mut buf = BytesMut::from(fixed);
            buf.put_uvarint(u32::MAX);
            buf.put_slice(&[0; 4]);
            let err = Req::decode_response(&mut Reader::new(buf.freeze()), version).unwrap_err();
            assert!(
                matches!(
                    err,
                    DecodeError::Invalid {
                        what: "tagged fields",
                        ..
                    }
                ),
                "v{version}: {err:?}"
            );
            // One tagged field announcing more bytes than remain.
            let mut buf = BytesMut::from(fixed);
            buf.put_uvarint(1);
            buf.put_uvarint(0);
            buf.put_uvarint(i32::MAX as u32);
            buf.put_slice(&[0; 4]);
            let err = Req::decode_response(&mut Reader::new(buf.freeze()), version).unwrap_err();
            assert!(
                matches!(err, DecodeError::Truncated { .. }),
                "v{version}: {err:?}"
            );
        }
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for version in VERSIONS {
            let valid = encode_response(&sample_response(), version);
            assert_mutations_never_panic::<Req>(&valid, version, 0x5851_f42d_4c95_7f2d_u64);
        }
    }
}
