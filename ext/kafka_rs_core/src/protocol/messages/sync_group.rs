//! SyncGroup (API key 14), versions 0 to 5: after JoinGroup, every member asks its coordinator
//! for its assignment; the leader's request carries the assignment of every member.
//!
//! The coordinator answers once the leader's assignments have arrived. For the consumer protocol
//! an assignment is an encoded
//! [`ConsumerProtocolAssignment`](crate::protocol::consumer_protocol::ConsumerProtocolAssignment);
//! a member the leader left out receives empty bytes.
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
//! | 5 | `protocol_type` and `protocol_name` in the request (checked against the group's) and in the response (KIP-559) |
//!
//! Below v3 the request has no `group_instance_id` ([`SyncGroupRequest::min_version`]); below v5
//! `protocol_type` and `protocol_name` are left out (the broker then does not check them).

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A SyncGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupRequest<'a> {
    pub group_id: &'a str,
    /// The generation from JoinGroup.
    pub generation_id: i32,
    /// This member's id from JoinGroup.
    pub member_id: &'a str,
    /// The static member's `group.instance.id` (v3+), or `None` for a dynamic member.
    pub group_instance_id: Option<&'a str>,
    /// The group's protocol type, `"consumer"` (v5+).
    pub protocol_type: Option<&'a str>,
    /// The protocol JoinGroup chose (v5+).
    pub protocol_name: Option<&'a str>,
    /// The leader's assignment for every member; empty for the other members.
    pub assignments: Vec<SyncGroupAssignment<'a>>,
}

/// The assignment the leader gives one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupAssignment<'a> {
    pub member_id: &'a str,
    /// For the consumer protocol, an encoded
    /// [`ConsumerProtocolAssignment`](crate::protocol::consumer_protocol::ConsumerProtocolAssignment).
    pub assignment: Bytes,
}

impl SyncGroupRequest<'_> {
    /// The lowest version that carries this request whole: 3 for a static member, else
    /// [`Self::MIN_VERSION`]. (`protocol_type` and `protocol_name` are checks the broker skips
    /// below v5.)
    pub fn min_version(&self) -> i16 {
        if self.group_instance_id.is_some() {
            3
        } else {
            Self::MIN_VERSION
        }
    }
}

/// A SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncGroupResponse {
    /// v1+; 0 before.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// v5+; `None` before, or when the broker sent null.
    pub protocol_type: Option<String>,
    /// v5+; `None` before, or when the broker sent null.
    pub protocol_name: Option<String>,
    /// This member's assignment (a zero-copy slice of the response); empty when the leader gave
    /// it none, and on error.
    pub assignment: Bytes,
}

impl Request for SyncGroupRequest<'_> {
    type Response = SyncGroupResponse;
    const API_KEY: ApiKey = ApiKey::SyncGroup;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
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
        if version >= 5 {
            buf.put_nullable_string(self.protocol_type, compact);
            buf.put_nullable_string(self.protocol_name, compact);
        }
        buf.put_array_len(self.assignments.len(), compact);
        for a in &self.assignments {
            buf.put_string(a.member_id, compact);
            buf.put_nullable_bytes(Some(&a.assignment), compact);
            buf.put_tagged_fields_if(compact);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<SyncGroupResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        let (protocol_type, protocol_name) = if version >= 5 {
            (r.nullable_string(compact)?, r.nullable_string(compact)?)
        } else {
            (None, None)
        };
        let assignment = r.bytes(compact)?;
        r.tagged_fields_if(compact)?;
        Ok(SyncGroupResponse {
            throttle_time_ms,
            error_code,
            protocol_type,
            protocol_name,
            assignment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole, encode_request,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;

    type Req = SyncGroupRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// What a broker reads from our request, with the fields a version lacks as `None`.
    #[derive(Debug, PartialEq, Eq)]
    struct DecodedRequest {
        group_id: String,
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
        protocol_type: Option<String>,
        protocol_name: Option<String>,
        assignments: Vec<(String, Bytes)>,
    }

    /// A test-only request decoder, written from the message definition.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 4;
        let mut r = Reader::new(bytes);
        let group_id = r.string(compact)?;
        let generation_id = r.i32()?;
        let member_id = r.string(compact)?;
        let group_instance_id = if version >= 3 {
            r.nullable_string(compact)?
        } else {
            None
        };
        let (protocol_type, protocol_name) = if version >= 5 {
            (r.nullable_string(compact)?, r.nullable_string(compact)?)
        } else {
            (None, None)
        };
        let assignments = r.array(compact, |r| {
            let member = r.string(compact)?;
            let assignment = r.bytes(compact)?;
            r.tagged_fields_if(compact)?;
            Ok((member, assignment))
        })?;
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok(DecodedRequest {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
            protocol_type,
            protocol_name,
            assignments,
        })
    }

    /// A test-only response encoder; flexible versions carry an unknown tagged field.
    fn encode_response(resp: &SyncGroupResponse, version: i16) -> Bytes {
        let compact = version >= 4;
        let mut b = BytesMut::new();
        if version >= 1 {
            b.put_i32(resp.throttle_time_ms);
        }
        b.put_i16(resp.error_code);
        if version >= 5 {
            b.put_nullable_string(resp.protocol_type.as_deref(), compact);
            b.put_nullable_string(resp.protocol_name.as_deref(), compact);
        }
        b.put_nullable_bytes(Some(&resp.assignment), compact);
        if compact {
            b.put_uvarint(1);
            b.put_uvarint(0);
            b.put_uvarint(1);
            b.put_u8(9);
        }
        b.freeze()
    }

    fn sample_request() -> Req {
        SyncGroupRequest {
            group_id: "orders-consumers",
            generation_id: 3,
            member_id: "m-1",
            group_instance_id: Some("web-1"),
            protocol_type: Some("consumer"),
            protocol_name: Some("range"),
            assignments: vec![
                SyncGroupAssignment {
                    member_id: "m-1",
                    assignment: Bytes::from_static(&[0, 3, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
                },
                SyncGroupAssignment {
                    member_id: "m-2",
                    assignment: Bytes::new(),
                },
            ],
        }
    }

    fn sample(version: i16) -> SyncGroupResponse {
        SyncGroupResponse {
            throttle_time_ms: if version >= 1 { 8 } else { 0 },
            error_code: 0,
            protocol_type: (version >= 5).then(|| "consumer".into()),
            protocol_name: (version >= 5).then(|| "range".into()),
            assignment: Bytes::from((0..150u8).collect::<Vec<_>>()),
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let follower = SyncGroupRequest {
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
            ..sample_request()
        };
        for req in [sample_request(), follower] {
            for v in VERSIONS {
                let got = decode_request(encode_request(&req, v), v).unwrap();
                let want = DecodedRequest {
                    group_id: req.group_id.into(),
                    generation_id: req.generation_id,
                    member_id: req.member_id.into(),
                    group_instance_id: req.group_instance_id.filter(|_| v >= 3).map(str::to_string),
                    protocol_type: req.protocol_type.filter(|_| v >= 5).map(str::to_string),
                    protocol_name: req.protocol_name.filter(|_| v >= 5).map(str::to_string),
                    assignments: req
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                        .collect(),
                };
                assert_eq!(got, want, "v{v}: {req:?}");
            }
        }
    }

    fn small_request() -> Req {
        SyncGroupRequest {
            group_id: "g",
            generation_id: 2,
            member_id: "m",
            group_instance_id: Some("i"),
            protocol_type: Some("consumer"),
            protocol_name: Some("range"),
            assignments: vec![SyncGroupAssignment {
                member_id: "m",
                assignment: Bytes::from_static(&[0xab]),
            }],
        }
    }

    #[test]
    fn classic_v3_request_by_hand() {
        // v3 => group_id generation_id member_id group_instance_id [member_id assignment]
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 1, b'g',             // group_id
            0, 0, 0, 2,             // generation_id
            0, 1, b'm',             // member_id
            0, 1, b'i',             // group_instance_id
            0, 0, 0, 1,             // 1 assignment
            0, 1, b'm',             //   member_id
            0, 0, 0, 1, 0xab,       //   assignment (INT32 length)
        ];
        assert_eq!(&encode_request(&small_request(), 3)[..], want);
        // v0 to v2: the same without the instance id.
        let mut v0 = want[..10].to_vec();
        v0.extend_from_slice(&want[13..]);
        assert_eq!(&encode_request(&small_request(), 0)[..], &v0[..]);
    }

    #[test]
    fn flexible_v5_request_by_hand() {
        // v5 => group_id generation_id member_id group_instance_id protocol_type protocol_name
        //       [member_id assignment TAG_BUFFER] TAG_BUFFER
        #[rustfmt::skip]
        let want: &[u8] = &[
            2, b'g',
            0, 0, 0, 2,
            2, b'm',
            2, b'i',
            9, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
            6, b'r', b'a', b'n', b'g', b'e',                   // protocol_name
            2,                      // 1 assignment
            2, b'm',                //   member_id
            2, 0xab,                //   assignment (compact bytes)
            0,                      //   tags
            0,                      // tags
        ];
        assert_eq!(&encode_request(&small_request(), 5)[..], want);
    }

    #[test]
    fn static_membership_needs_v3() {
        let mut req = small_request();
        assert_eq!(req.min_version(), 3);
        req.group_instance_id = None;
        assert_eq!(req.min_version(), 0);
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
        // v0 => error_code assignment; a member the leader left out gets empty bytes.
        let resp = decode_whole::<Req>(Bytes::from_static(&[0, 0, 0, 0, 0, 0]), 0).unwrap();
        assert_eq!(resp, SyncGroupResponse::default());
        // v5 => throttle_time_ms error_code protocol_type protocol_name assignment TAG_BUFFER
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,             // throttle_time_ms
            0, 27,                  // REBALANCE_IN_PROGRESS
            0,                      // protocol_type null
            0,                      // protocol_name null
            1,                      // assignment: empty
            0,                      // tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 5).unwrap();
        assert_eq!(
            resp,
            SyncGroupResponse {
                error_code: 27,
                ..SyncGroupResponse::default()
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
    fn hostile_lengths_fail_without_allocating() {
        // v0: an assignment claiming i32::MAX bytes.
        let bytes: &[u8] = &[0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 0),
            Err(DecodeError::Truncated { what: "bytes", .. })
        ));
        // v1: a null assignment is not an assignment.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(decode_whole::<Req>(Bytes::from_static(bytes), 1).is_err());
        // v5: a protocol type claiming 2^31 - 2 bytes.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 5),
            Err(DecodeError::Truncated { what: "string", .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0x2545_f491_4f6c_dd1d);
        }
    }
}
