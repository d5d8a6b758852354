//! LeaveGroup (API key 13), versions 0 to 5: members leave their group at its coordinator, so
//! that it rebalances at once instead of after their session timeout.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | one member id |
//! | 1 | `throttle_time_ms` in the response |
//! | 2 | same as 1 (the broker answers before throttling) |
//! | 3 | batched: a list of members, each with its `group_instance_id`, and one result per member in the response (KIP-345) |
//! | 4 | flexible (compact encodings, tagged fields) |
//! | 5 | a `reason` per member (KIP-800) |
//!
//! Below v3 the request carries exactly one member and no instance id
//! ([`LeaveGroupRequest::min_version`]); below v5 the `reason` is left out (it is only logged by
//! the broker).

use bytes::BytesMut;

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupRequest<'a> {
    pub group_id: &'a str,
    /// The members leaving: exactly one below v3 (only its `member_id` is sent; "" if there is
    /// none), any number from v3 on.
    pub members: Vec<LeaveGroupMember<'a>>,
}

/// One member leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaveGroupMember<'a> {
    /// The member's id; may be empty for a static member named by its instance id (v3+).
    pub member_id: &'a str,
    /// The static member's `group.instance.id` (v3+), or `None` for a dynamic member.
    pub group_instance_id: Option<&'a str>,
    /// Why the member leaves, for the broker's log (v5+).
    pub reason: Option<&'a str>,
}

impl<'a> LeaveGroupRequest<'a> {
    /// One dynamic member leaves.
    pub fn member(group_id: &'a str, member_id: &'a str) -> Self {
        LeaveGroupRequest {
            group_id,
            members: vec![LeaveGroupMember {
                member_id,
                group_instance_id: None,
                reason: None,
            }],
        }
    }

    /// The lowest version that carries this request whole: 3 for any number of members but one
    /// or for a static member, else [`Self::MIN_VERSION`]. (The `reason` is informative and left
    /// out below v5.)
    pub fn min_version(&self) -> i16 {
        if self.members.len() != 1 || self.members.iter().any(|m| m.group_instance_id.is_some()) {
            3
        } else {
            Self::MIN_VERSION
        }
    }
}

/// A LeaveGroup response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaveGroupResponse {
    /// v1+; 0 before.
    pub throttle_time_ms: i32,
    /// The group-level error (e.g. `NOT_COORDINATOR`); below v3 the error of the one member.
    pub error_code: i16,
    /// One result per member (v3+); empty before.
    pub members: Vec<LeaveGroupMemberResponse>,
}

/// The outcome for one leaving member (v3+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupMemberResponse {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// For example `UNKNOWN_MEMBER_ID`, or `FENCED_INSTANCE_ID` when the instance id belongs to
    /// another member id.
    pub error_code: i16,
}

impl Request for LeaveGroupRequest<'_> {
    type Response = LeaveGroupResponse;
    const API_KEY: ApiKey = ApiKey::LeaveGroup;
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
        if version < 3 {
            let member_id = self.members.first().map_or("", |m| m.member_id);
            buf.put_string(member_id, compact);
        } else {
            buf.put_array_len(self.members.len(), compact);
            for m in &self.members {
                buf.put_string(m.member_id, compact);
                buf.put_nullable_string(m.group_instance_id, compact);
                if version >= 5 {
                    buf.put_nullable_string(m.reason, compact);
                }
                buf.put_tagged_fields_if(compact);
            }
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<LeaveGroupResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        let members = if version >= 3 {
            r.array(compact, |r| {
                let member = LeaveGroupMemberResponse {
                    member_id: r.string(compact)?,
                    group_instance_id: r.nullable_string(compact)?,
                    error_code: r.i16()?,
                };
                r.tagged_fields_if(compact)?;
                Ok(member)
            })?
        } else {
            Vec::new()
        };
        r.tagged_fields_if(compact)?;
        Ok(LeaveGroupResponse {
            throttle_time_ms,
            error_code,
            members,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;
    use bytes::Bytes;

    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole, encode_request,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;

    type Req = LeaveGroupRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// (member_id, group_instance_id, reason) as a broker reads them.
    type DecodedMember = (String, Option<String>, Option<String>);

    /// What a broker reads: the group id, then the one member id (below v3) or the members.
    type DecodedRequest = (String, Vec<DecodedMember>);

    /// A test-only request decoder, written from the message definition.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 4;
        let mut r = Reader::new(bytes);
        let group_id = r.string(compact)?;
        let members = if version < 3 {
            vec![(r.string(compact)?, None, None)]
        } else {
            r.array(compact, |r| {
                let member_id = r.string(compact)?;
                let instance = r.nullable_string(compact)?;
                let reason = if version >= 5 {
                    r.nullable_string(compact)?
                } else {
                    None
                };
                r.tagged_fields_if(compact)?;
                Ok((member_id, instance, reason))
            })?
        };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok((group_id, members))
    }

    /// A tagged-field section with one unknown field, when `compact`.
    fn tags(b: &mut BytesMut, compact: bool) {
        if compact {
            b.put_uvarint(1);
            b.put_uvarint(2);
            b.put_uvarint(2);
            b.put_u16(0x0102);
        }
    }

    /// A test-only response encoder (the broker side).
    fn encode_response(resp: &LeaveGroupResponse, version: i16) -> Bytes {
        let compact = version >= 4;
        let mut b = BytesMut::new();
        if version >= 1 {
            b.put_i32(resp.throttle_time_ms);
        }
        b.put_i16(resp.error_code);
        if version >= 3 {
            b.put_array_len(resp.members.len(), compact);
            for m in &resp.members {
                b.put_string(&m.member_id, compact);
                b.put_nullable_string(m.group_instance_id.as_deref(), compact);
                b.put_i16(m.error_code);
                tags(&mut b, compact);
            }
        }
        tags(&mut b, compact);
        b.freeze()
    }

    fn sample(version: i16) -> LeaveGroupResponse {
        LeaveGroupResponse {
            throttle_time_ms: if version >= 1 { 2 } else { 0 },
            error_code: 0,
            members: if version >= 3 {
                vec![
                    LeaveGroupMemberResponse {
                        member_id: "m-1".into(),
                        group_instance_id: Some("web-1".into()),
                        error_code: 0,
                    },
                    LeaveGroupMemberResponse {
                        member_id: "".into(),
                        group_instance_id: None,
                        error_code: 25, // UNKNOWN_MEMBER_ID
                    },
                ]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let batch = LeaveGroupRequest {
            group_id: "orders-consumers",
            members: vec![
                LeaveGroupMember {
                    member_id: "m-1",
                    group_instance_id: Some("web-1"),
                    reason: Some("shutting down"),
                },
                LeaveGroupMember {
                    member_id: "",
                    group_instance_id: Some("web-2"),
                    reason: None,
                },
            ],
        };
        let single = LeaveGroupRequest::member("orders-consumers", "m-3");
        let empty = LeaveGroupRequest {
            group_id: "g",
            members: vec![],
        };
        for req in [batch, single, empty] {
            for v in VERSIONS {
                let got = decode_request(encode_request(&req, v), v).unwrap();
                let members = if v < 3 {
                    let id = req.members.first().map_or("", |m| m.member_id);
                    vec![(id.to_string(), None, None)]
                } else {
                    req.members
                        .iter()
                        .map(|m| {
                            (
                                m.member_id.to_string(),
                                m.group_instance_id.map(str::to_string),
                                m.reason.filter(|_| v >= 5).map(str::to_string),
                            )
                        })
                        .collect()
                };
                assert_eq!(got, (req.group_id.to_string(), members), "v{v}: {req:?}");
            }
        }
    }

    #[test]
    fn classic_v0_request_by_hand() {
        // v0 => group_id member_id
        let req = LeaveGroupRequest::member("g", "m");
        assert_eq!(&encode_request(&req, 0)[..], &[0, 1, b'g', 0, 1, b'm']);
        // v3 => group_id [member_id group_instance_id]
        #[rustfmt::skip]
        let v3: &[u8] = &[
            0, 1, b'g',             // group_id
            0, 0, 0, 1,             // 1 member
            0, 1, b'm',             //   member_id
            0xff, 0xff,             //   group_instance_id null
        ];
        assert_eq!(&encode_request(&req, 3)[..], v3);
    }

    #[test]
    fn flexible_v5_request_by_hand() {
        // v5 => group_id [member_id group_instance_id reason TAG_BUFFER] TAG_BUFFER
        let req = LeaveGroupRequest {
            group_id: "g",
            members: vec![LeaveGroupMember {
                member_id: "m",
                group_instance_id: Some("i"),
                reason: Some("r"),
            }],
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            2, b'g',                // group_id
            2,                      // 1 member
            2, b'm',                //   member_id
            2, b'i',                //   group_instance_id
            2, b'r',                //   reason
            0,                      //   tags
            0,                      // tags
        ];
        assert_eq!(&encode_request(&req, 5)[..], want);
        // v4: no reason.
        assert_eq!(
            &encode_request(&req, 4)[..],
            &[2, b'g', 2, 2, b'm', 2, b'i', 0, 0]
        );
    }

    #[test]
    fn batches_and_static_members_need_v3() {
        let mut req = LeaveGroupRequest::member("g", "m");
        assert_eq!(req.min_version(), 0);
        req.members[0].group_instance_id = Some("i");
        assert_eq!(req.min_version(), 3);
        req.members[0].group_instance_id = None;
        req.members.push(req.members[0]);
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
        assert_eq!(resp.error_code, 25);
        assert!(resp.members.is_empty());
        // v3 => throttle_time_ms error_code [member_id group_instance_id error_code]
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,             // throttle_time_ms
            0, 0,                   // error_code
            0, 0, 0, 1,             // 1 member
            0, 1, b'm',             //   member_id
            0, 1, b'i',             //   group_instance_id
            0, 82,                  //   FENCED_INSTANCE_ID
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 3).unwrap();
        assert_eq!(
            resp.members,
            vec![LeaveGroupMemberResponse {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                error_code: 82,
            }]
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
        // v3: members claiming i32::MAX elements.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 3),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v4: one member whose id claims 2^31 - 2 bytes.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0x07, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 4),
            Err(DecodeError::Truncated { what: "string", .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0x9e37_79b9_7f4a_7c15);
        }
    }
}
