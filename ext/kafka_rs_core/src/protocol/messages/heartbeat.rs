//! Heartbeat (API key 12), versions 0 to 4: a group member tells its coordinator it is alive,
//! and learns whether the group is rebalancing.
//!
//! A member sends one every `heartbeat.interval.ms` between SyncGroup and its next JoinGroup.
//! The answer is only an error code: `REBALANCE_IN_PROGRESS` means "join again",
//! `ILLEGAL_GENERATION` / `UNKNOWN_MEMBER_ID` mean the member was dropped from the group,
//! `FENCED_INSTANCE_ID` that another process took over its static identity.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version |
//! | 1 | `throttle_time_ms` in the response |
//! | 2 | same as 1 (the broker answers before throttling) |
//! | 3 | `group_instance_id` in the request (static membership, KIP-345) |
//! | 4 | flexible (compact encodings, tagged fields) |
//!
//! Below v3 the request has no `group_instance_id` and [`Request::encode`] leaves it out;
//! [`HeartbeatRequest::min_version`] says whether a request needs v3.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A Heartbeat request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatRequest<'a> {
    pub group_id: &'a str,
    /// The generation the member joined (from JoinGroup).
    pub generation_id: i32,
    /// The member id the coordinator assigned (from JoinGroup).
    pub member_id: &'a str,
    /// The static member's `group.instance.id` (v3+), or `None` for a dynamic member.
    pub group_instance_id: Option<&'a str>,
}

impl HeartbeatRequest<'_> {
    /// The lowest version that carries this request whole: 3 for a static member, else
    /// [`Self::MIN_VERSION`].
    pub fn min_version(&self) -> i16 {
        if self.group_instance_id.is_some() {
            3
        } else {
            Self::MIN_VERSION
        }
    }
}

/// A Heartbeat response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// v1+; 0 before.
    pub throttle_time_ms: i32,
    pub error_code: i16,
}

impl Request for HeartbeatRequest<'_> {
    type Response = HeartbeatResponse;
    const API_KEY: ApiKey = ApiKey::Heartbeat;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;
    const FLEXIBLE_FROM: i16 = 4;

    fn group_id(&self) -> Option<&str> {
        Some(self.group_id)
    }

    fn response_error_code(response: &Self::Response) -> i16 {
        response.error_code
    }

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_string(self.group_id, compact);
        buf.put_i32(self.generation_id);
        buf.put_string(self.member_id, compact);
        if version >= 3 {
            buf.put_nullable_string(self.group_instance_id, compact);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<HeartbeatResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        r.tagged_fields_if(compact)?;
        Ok(HeartbeatResponse {
            throttle_time_ms,
            error_code,
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

    type Req = HeartbeatRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// What a broker reads: (group_id, generation_id, member_id, group_instance_id).
    type DecodedRequest = (String, i32, String, Option<String>);

    /// A test-only request decoder, written from the message definition.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 4;
        let mut r = Reader::new(bytes);
        let group_id = r.string(compact)?;
        let generation_id = r.i32()?;
        let member_id = r.string(compact)?;
        let instance = if version >= 3 {
            r.nullable_string(compact)?
        } else {
            None
        };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok((group_id, generation_id, member_id, instance))
    }

    /// A test-only response encoder; flexible versions carry an unknown tagged field.
    fn encode_response(resp: &HeartbeatResponse, version: i16) -> Bytes {
        let mut b = BytesMut::new();
        if version >= 1 {
            b.put_i32(resp.throttle_time_ms);
        }
        b.put_i16(resp.error_code);
        if version >= 4 {
            b.put_uvarint(1);
            b.put_uvarint(5);
            b.put_uvarint(1);
            b.put_u8(0xee);
        }
        b.freeze()
    }

    fn sample(version: i16) -> HeartbeatResponse {
        HeartbeatResponse {
            throttle_time_ms: if version >= 1 { 30 } else { 0 },
            error_code: 27, // REBALANCE_IN_PROGRESS
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let requests = [
            HeartbeatRequest {
                group_id: "orders-consumers",
                generation_id: 7,
                member_id: "rdkafka-1b2c",
                group_instance_id: None,
            },
            HeartbeatRequest {
                group_id: "grüppe",
                generation_id: -1,
                member_id: "",
                group_instance_id: Some("host-3"),
            },
        ];
        for req in &requests {
            for v in VERSIONS {
                let got = decode_request(encode_request(req, v), v).unwrap();
                let instance = if v >= 3 { req.group_instance_id } else { None };
                let want = (
                    req.group_id.to_string(),
                    req.generation_id,
                    req.member_id.to_string(),
                    instance.map(str::to_string),
                );
                assert_eq!(got, want, "v{v}: {req:?}");
            }
        }
    }

    #[test]
    fn classic_v0_request_by_hand() {
        // Heartbeat Request (Version: 0) => group_id generation_id member_id
        let req = HeartbeatRequest {
            group_id: "g",
            generation_id: 5,
            member_id: "m",
            group_instance_id: Some("dropped before v3"),
        };
        let want: &[u8] = &[
            0, 1, b'g', // group_id
            0, 0, 0, 5, // generation_id
            0, 1, b'm', // member_id
        ];
        assert_eq!(&encode_request(&req, 0)[..], want);
        assert_eq!(&encode_request(&req, 2)[..], want);
        // v3 adds group_instance_id (INT16 length).
        let mut v3 = want.to_vec();
        v3.extend_from_slice(&[0, 17]);
        v3.extend_from_slice(b"dropped before v3");
        assert_eq!(&encode_request(&req, 3)[..], &v3[..]);
    }

    #[test]
    fn flexible_v4_request_by_hand() {
        // v4 => group_id generation_id member_id group_instance_id TAG_BUFFER (compact).
        let mut req = HeartbeatRequest {
            group_id: "g",
            generation_id: 5,
            member_id: "m",
            group_instance_id: Some("i"),
        };
        let want: &[u8] = &[
            2, b'g', // group_id (len 1 + 1)
            0, 0, 0, 5, // generation_id
            2, b'm', // member_id
            2, b'i', // group_instance_id
            0,    // tags
        ];
        assert_eq!(&encode_request(&req, 4)[..], want);
        req.group_instance_id = None;
        assert_eq!(
            &encode_request(&req, 4)[..],
            &[2, b'g', 0, 0, 0, 5, 2, b'm', 0, 0]
        );
    }

    #[test]
    fn static_membership_needs_v3() {
        let mut req = HeartbeatRequest {
            group_id: "g",
            generation_id: 1,
            member_id: "m",
            group_instance_id: None,
        };
        assert_eq!(req.min_version(), 0);
        req.group_instance_id = Some("i");
        assert_eq!(req.min_version(), 3);
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
        // v0 => error_code
        let resp = decode_whole::<Req>(Bytes::from_static(&[0, 25]), 0).unwrap();
        assert_eq!(
            resp,
            HeartbeatResponse {
                throttle_time_ms: 0,
                error_code: 25
            }
        );
        // v4 => throttle_time_ms error_code TAG_BUFFER
        let bytes: &[u8] = &[0, 0, 0, 9, 0, 0, 0];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 4).unwrap();
        assert_eq!(
            resp,
            HeartbeatResponse {
                throttle_time_ms: 9,
                error_code: 0
            }
        );
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        for v in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&sample(v), v), v);
        }
    }

    #[test]
    fn hostile_tagged_fields_fail_without_allocating() {
        // v4: a tagged-field count that cannot fit, then a field longer than the frame.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 4),
            Err(DecodeError::Invalid {
                what: "tagged fields",
                ..
            })
        ));
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x07, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 4),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0x1234_5678_9abc_def1);
        }
    }
}
