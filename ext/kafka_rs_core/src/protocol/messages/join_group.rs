//! JoinGroup (API key 11), versions 0 to 9: a member joins (or rejoins) a group at its
//! coordinator, offering the protocols it speaks; the coordinator answers once the group has
//! gathered, naming the generation, the chosen protocol and the leader. Only the leader receives
//! the members and their metadata (for the consumer protocol, each member's subscription, see
//! [`consumer_protocol`](crate::protocol::consumer_protocol)), computes the assignment and sends
//! it with SyncGroup.
//!
//! The coordinator holds the answer until every known member has rejoined or
//! `rebalance_timeout_ms` has passed, so the request's own timeout must be longer than that.
//!
//! From v4 on a new member (empty `member_id`) first receives `MEMBER_ID_REQUIRED` with the
//! member id the coordinator chose in [`JoinGroupResponse::member_id`], and must join again with
//! it (KIP-394); before v4 the first join assigns the id and proceeds.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version; the coordinator waits `session_timeout_ms` for members to rejoin |
//! | 1 | `rebalance_timeout_ms` in the request |
//! | 2 | `throttle_time_ms` in the response |
//! | 3 | same as 2 (the broker answers before throttling) |
//! | 4 | same layout; a new member gets `MEMBER_ID_REQUIRED` and joins again (KIP-394) |
//! | 5 | `group_instance_id` in the request and in each member of the response (static membership, KIP-345) |
//! | 6 | flexible (compact encodings, tagged fields) |
//! | 7 | `protocol_type` in the response; `protocol_name` may be null (KIP-559) |
//! | 8 | `reason` in the request (KIP-800) |
//! | 9 | `skip_assignment` in the response (the leader must not assign, KIP-814) |
//!
//! Below v5 the request has no `group_instance_id` ([`JoinGroupRequest::min_version`]); below v8
//! the `reason` is left out (it is only logged by the broker).

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// The member id of a member that has not joined yet.
pub const NEW_MEMBER_ID: &str = "";

/// A JoinGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest<'a> {
    pub group_id: &'a str,
    /// The coordinator drops a member it has not heard from (heartbeat) for this long, in ms.
    pub session_timeout_ms: i32,
    /// How long the coordinator waits for every member to rejoin during a rebalance, in ms (v1+;
    /// v0 waits `session_timeout_ms`).
    pub rebalance_timeout_ms: i32,
    /// The id the coordinator gave this member, or [`NEW_MEMBER_ID`].
    pub member_id: &'a str,
    /// The static member's `group.instance.id` (v5+), or `None` for a dynamic member.
    pub group_instance_id: Option<&'a str>,
    /// `"consumer"` for consumer groups.
    pub protocol_type: &'a str,
    /// The protocols (assignment strategies) this member speaks, in order of preference.
    pub protocols: Vec<JoinGroupProtocol<'a>>,
    /// Why the member (re)joins, for the broker's log (v8+).
    pub reason: Option<&'a str>,
}

/// One protocol a member offers, with its metadata in that protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupProtocol<'a> {
    /// For the consumer protocol, the assignor name (`"range"`, `"roundrobin"`, ...).
    pub name: &'a str,
    /// For the consumer protocol, an encoded
    /// [`ConsumerProtocolSubscription`](crate::protocol::consumer_protocol::ConsumerProtocolSubscription).
    pub metadata: Bytes,
}

impl JoinGroupRequest<'_> {
    /// The lowest version that carries this request whole: 5 for a static member, else
    /// [`Self::MIN_VERSION`]. (The `reason` is informative and left out below v8.)
    pub fn min_version(&self) -> i16 {
        if self.group_instance_id.is_some() {
            5
        } else {
            Self::MIN_VERSION
        }
    }
}

/// A JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinGroupResponse {
    /// v2+; 0 before.
    pub throttle_time_ms: i32,
    pub error_code: i16,
    /// The generation this join opened; -1 on error.
    pub generation_id: i32,
    /// The group's protocol type (v7+); `None` before v7 or when the broker sent null.
    pub protocol_type: Option<String>,
    /// The protocol the coordinator chose; `None` only from v7 on (on error).
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// v9+: the leader must not compute an assignment (the broker does, KIP-814); false before.
    pub skip_assignment: bool,
    /// This member's id: the one it joined with, or the one the coordinator chose (also with
    /// `MEMBER_ID_REQUIRED`, v4+).
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol; empty unless this member leads.
    pub members: Vec<JoinGroupMember>,
}

impl JoinGroupResponse {
    /// Whether this member is the group's leader (and must send the assignment).
    pub fn is_leader(&self) -> bool {
        self.leader == self.member_id
    }
}

/// One member of the group, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupMember {
    pub member_id: String,
    /// v5+; `None` for a dynamic member, and before v5.
    pub group_instance_id: Option<String>,
    /// The member's metadata in the chosen protocol (a zero-copy slice of the response).
    pub metadata: Bytes,
}

impl Request for JoinGroupRequest<'_> {
    type Response = JoinGroupResponse;
    const API_KEY: ApiKey = ApiKey::JoinGroup;
    /// Kafka 4.4 still accepts v0 (measured); 2.1 speaks 0 to 3.
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 9;
    const FLEXIBLE_FROM: i16 = 6;

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
        buf.put_i32(self.session_timeout_ms);
        if version >= 1 {
            buf.put_i32(self.rebalance_timeout_ms);
        }
        buf.put_string(self.member_id, compact);
        if version >= 5 {
            buf.put_nullable_string(self.group_instance_id, compact);
        }
        buf.put_string(self.protocol_type, compact);
        buf.put_array_len(self.protocols.len(), compact);
        for p in &self.protocols {
            buf.put_string(p.name, compact);
            buf.put_nullable_bytes(Some(&p.metadata), compact);
            buf.put_tagged_fields_if(compact);
        }
        if version >= 8 {
            buf.put_nullable_string(self.reason, compact);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<JoinGroupResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 2 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        let generation_id = r.i32()?;
        let (protocol_type, protocol_name) = if version >= 7 {
            (r.nullable_string(compact)?, r.nullable_string(compact)?)
        } else {
            (None, Some(r.string(compact)?))
        };
        let leader = r.string(compact)?;
        let skip_assignment = if version >= 9 { r.bool()? } else { false };
        let member_id = r.string(compact)?;
        let members = r.array(compact, |r| {
            let member_id = r.string(compact)?;
            let group_instance_id = if version >= 5 {
                r.nullable_string(compact)?
            } else {
                None
            };
            let metadata = r.bytes(compact)?;
            r.tagged_fields_if(compact)?;
            Ok(JoinGroupMember {
                member_id,
                group_instance_id,
                metadata,
            })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(JoinGroupResponse {
            throttle_time_ms,
            error_code,
            generation_id,
            protocol_type,
            protocol_name,
            leader,
            skip_assignment,
            member_id,
            members,
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

    type Req = JoinGroupRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// What a broker reads from our request, with the fields a version lacks at their defaults
    /// (rebalance timeout -1, no instance id, no reason).
    #[derive(Debug, PartialEq, Eq)]
    struct DecodedRequest {
        group_id: String,
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        member_id: String,
        group_instance_id: Option<String>,
        protocol_type: String,
        protocols: Vec<(String, Bytes)>,
        reason: Option<String>,
    }

    /// A test-only request decoder, written from the message definition.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 6;
        let mut r = Reader::new(bytes);
        let group_id = r.string(compact)?;
        let session_timeout_ms = r.i32()?;
        let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
        let member_id = r.string(compact)?;
        let group_instance_id = if version >= 5 {
            r.nullable_string(compact)?
        } else {
            None
        };
        let protocol_type = r.string(compact)?;
        let protocols = r.array(compact, |r| {
            let name = r.string(compact)?;
            let metadata = r.bytes(compact)?;
            r.tagged_fields_if(compact)?;
            Ok((name, metadata))
        })?;
        let reason = if version >= 8 {
            r.nullable_string(compact)?
        } else {
            None
        };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok(DecodedRequest {
            group_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            member_id,
            group_instance_id,
            protocol_type,
            protocols,
            reason,
        })
    }

    /// A tagged-field section with one unknown field, when `compact`.
    fn tags(b: &mut BytesMut, compact: bool) {
        if compact {
            b.put_uvarint(1);
            b.put_uvarint(4);
            b.put_uvarint(2);
            b.put_u16(0xcafe);
        }
    }

    /// A test-only response encoder (the broker side).
    fn encode_response(resp: &JoinGroupResponse, version: i16) -> Bytes {
        let compact = version >= 6;
        let mut b = BytesMut::new();
        if version >= 2 {
            b.put_i32(resp.throttle_time_ms);
        }
        b.put_i16(resp.error_code);
        b.put_i32(resp.generation_id);
        if version >= 7 {
            b.put_nullable_string(resp.protocol_type.as_deref(), compact);
        }
        b.put_nullable_string(resp.protocol_name.as_deref(), compact);
        b.put_string(&resp.leader, compact);
        if version >= 9 {
            b.put_bool(resp.skip_assignment);
        }
        b.put_string(&resp.member_id, compact);
        b.put_array_len(resp.members.len(), compact);
        for m in &resp.members {
            b.put_string(&m.member_id, compact);
            if version >= 5 {
                b.put_nullable_string(m.group_instance_id.as_deref(), compact);
            }
            b.put_nullable_bytes(Some(&m.metadata), compact);
            tags(&mut b, compact);
        }
        tags(&mut b, compact);
        b.freeze()
    }

    fn sample_request() -> Req {
        JoinGroupRequest {
            group_id: "orders-consumers",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 300_000,
            member_id: "kafka_rs-5d1c",
            group_instance_id: Some("web-1"),
            protocol_type: "consumer",
            protocols: vec![
                JoinGroupProtocol {
                    name: "range",
                    metadata: Bytes::from_static(&[0, 3, 0, 0, 0, 1, 0, 1, b't']),
                },
                JoinGroupProtocol {
                    name: "roundrobin",
                    metadata: Bytes::new(),
                },
            ],
            reason: Some("rebalance: topic partitions changed"),
        }
    }

    /// A leader's response holding, for `version`, exactly what that version carries.
    fn sample(version: i16) -> JoinGroupResponse {
        let big = Bytes::from((0..200u8).collect::<Vec<_>>()); // two-byte compact length
        JoinGroupResponse {
            throttle_time_ms: if version >= 2 { 3 } else { 0 },
            error_code: 0,
            generation_id: 12,
            protocol_type: (version >= 7).then(|| "consumer".into()),
            protocol_name: Some("range".into()),
            leader: "m-1".into(),
            skip_assignment: version >= 9,
            member_id: "m-1".into(),
            members: vec![
                JoinGroupMember {
                    member_id: "m-1".into(),
                    group_instance_id: (version >= 5).then(|| "web-1".into()),
                    metadata: big,
                },
                JoinGroupMember {
                    member_id: "m-2".into(),
                    group_instance_id: None,
                    metadata: Bytes::new(),
                },
            ],
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let dynamic = JoinGroupRequest {
            member_id: NEW_MEMBER_ID,
            group_instance_id: None,
            reason: None,
            protocols: vec![],
            ..sample_request()
        };
        for req in [sample_request(), dynamic] {
            for v in VERSIONS {
                let got = decode_request(encode_request(&req, v), v).unwrap();
                let want = DecodedRequest {
                    group_id: req.group_id.into(),
                    session_timeout_ms: req.session_timeout_ms,
                    rebalance_timeout_ms: if v >= 1 { req.rebalance_timeout_ms } else { -1 },
                    member_id: req.member_id.into(),
                    group_instance_id: req.group_instance_id.filter(|_| v >= 5).map(str::to_string),
                    protocol_type: req.protocol_type.into(),
                    protocols: req
                        .protocols
                        .iter()
                        .map(|p| (p.name.to_string(), p.metadata.clone()))
                        .collect(),
                    reason: req.reason.filter(|_| v >= 8).map(str::to_string),
                };
                assert_eq!(got, want, "v{v}: {req:?}");
            }
        }
    }

    fn small_request() -> Req {
        JoinGroupRequest {
            group_id: "g",
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 60_000,
            member_id: "",
            group_instance_id: Some("i"),
            protocol_type: "consumer",
            protocols: vec![JoinGroupProtocol {
                name: "range",
                metadata: Bytes::from_static(&[0xaa, 0xbb]),
            }],
            reason: Some("r"),
        }
    }

    #[test]
    fn classic_requests_by_hand() {
        // v0 => group_id session_timeout_ms member_id protocol_type [name metadata]
        #[rustfmt::skip]
        let v0: &[u8] = &[
            0, 1, b'g',                         // group_id
            0, 0, 0x27, 0x10,                   // session_timeout_ms 10000
            0, 0,                               // member_id ""
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
            0, 0, 0, 1,                         // 1 protocol
            0, 5, b'r', b'a', b'n', b'g', b'e', //   name "range"
            0, 0, 0, 2, 0xaa, 0xbb,             //   metadata (INT32 length)
        ];
        assert_eq!(&encode_request(&small_request(), 0)[..], v0);
        // v5 adds rebalance_timeout_ms (v1+) after the session timeout and group_instance_id
        // after the member id.
        #[rustfmt::skip]
        let v5: &[u8] = &[
            0, 1, b'g',
            0, 0, 0x27, 0x10,                   // session_timeout_ms
            0, 0, 0xea, 0x60,                   // rebalance_timeout_ms 60000
            0, 0,                               // member_id ""
            0, 1, b'i',                         // group_instance_id "i"
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r',
            0, 0, 0, 1,
            0, 5, b'r', b'a', b'n', b'g', b'e',
            0, 0, 0, 2, 0xaa, 0xbb,
        ];
        assert_eq!(&encode_request(&small_request(), 5)[..], v5);
    }

    #[test]
    fn flexible_v8_request_by_hand() {
        // v8 => group_id session_timeout_ms rebalance_timeout_ms member_id group_instance_id
        //       protocol_type [name metadata TAG_BUFFER] reason TAG_BUFFER
        #[rustfmt::skip]
        let want: &[u8] = &[
            2, b'g',                            // group_id
            0, 0, 0x27, 0x10,                   // session_timeout_ms
            0, 0, 0xea, 0x60,                   // rebalance_timeout_ms
            1,                                  // member_id "" (compact: len 0 + 1)
            2, b'i',                            // group_instance_id
            9, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r',
            2,                                  // 1 protocol
            6, b'r', b'a', b'n', b'g', b'e',    //   name
            3, 0xaa, 0xbb,                      //   metadata (compact bytes)
            0,                                  //   tags
            2, b'r',                            // reason "r"
            0,                                  // tags
        ];
        assert_eq!(&encode_request(&small_request(), 8)[..], want);
        // v6 and v7: the same without the reason.
        let mut v6 = want[..want.len() - 3].to_vec();
        v6.push(0);
        assert_eq!(&encode_request(&small_request(), 6)[..], &v6[..]);
    }

    #[test]
    fn static_membership_needs_v5() {
        let mut req = small_request();
        assert_eq!(req.min_version(), 5);
        req.group_instance_id = None;
        assert_eq!(req.min_version(), 0);
    }

    #[test]
    fn response_round_trips_in_every_version() {
        for v in VERSIONS {
            let resp = sample(v);
            let got = decode_whole::<Req>(encode_response(&resp, v), v).unwrap();
            assert_eq!(got, resp, "v{v}");
            assert!(got.is_leader());
        }
    }

    #[test]
    fn member_id_required_carries_the_new_id() {
        // v4 => throttle_time_ms error_code generation_id protocol_name leader member_id
        //       [member_id metadata]
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,                 // throttle_time_ms
            0, 79,                      // MEMBER_ID_REQUIRED
            0xff, 0xff, 0xff, 0xff,     // generation_id -1
            0, 0,                       // protocol_name ""
            0, 0,                       // leader ""
            0, 3, b'c', b'-', b'1',     // member_id "c-1": join again with it
            0, 0, 0, 0,                 // no members
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 4).unwrap();
        assert_eq!(
            resp,
            JoinGroupResponse {
                throttle_time_ms: 0,
                error_code: 79,
                generation_id: -1,
                protocol_type: None,
                protocol_name: Some(String::new()),
                leader: String::new(),
                skip_assignment: false,
                member_id: "c-1".into(),
                members: vec![],
            }
        );
        assert!(!resp.is_leader());
    }

    #[test]
    fn flexible_v9_response_by_hand() {
        // v9 => throttle_time_ms error_code generation_id protocol_type protocol_name leader
        //       skip_assignment member_id [member_id group_instance_id metadata TAG_BUFFER]
        //       TAG_BUFFER
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 1,                 // throttle_time_ms 1
            0, 0,                       // error_code
            0, 0, 0, 4,                 // generation_id 4
            2, b'c',                    // protocol_type "c"
            2, b'r',                    // protocol_name "r"
            2, b'a',                    // leader "a"
            1,                          // skip_assignment
            2, b'b',                    // member_id "b"
            2,                          // 1 member
            2, b'a',                    //   member_id "a"
            0,                          //   group_instance_id null
            2, 0x7f,                    //   metadata [0x7f]
            0,                          //   tags
            0,                          // tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 9).unwrap();
        assert_eq!(
            resp,
            JoinGroupResponse {
                throttle_time_ms: 1,
                error_code: 0,
                generation_id: 4,
                protocol_type: Some("c".into()),
                protocol_name: Some("r".into()),
                leader: "a".into(),
                skip_assignment: true,
                member_id: "b".into(),
                members: vec![JoinGroupMember {
                    member_id: "a".into(),
                    group_instance_id: None,
                    metadata: Bytes::from_static(&[0x7f]),
                }],
            }
        );
        // From v7 on the protocol name may be null (an error before a protocol was chosen).
        let mut null_name = bytes.to_vec();
        null_name.splice(12..14, [0]);
        let resp = decode_whole::<Req>(Bytes::from(null_name), 9).unwrap();
        assert_eq!(resp.protocol_name, None);
    }

    #[test]
    fn null_protocol_name_before_v7_is_an_error() {
        let mut resp = sample(6);
        resp.protocol_name = None;
        assert!(decode_whole::<Req>(encode_response(&resp, 6), 6).is_err());
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        for v in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_response(&sample(v), v), v);
        }
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        // v0: members claiming i32::MAX elements.
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
            0x7f, 0xff, 0xff, 0xff, 0, 0,
        ];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 0),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v6: one member whose metadata claims 2^31 - 2 bytes.
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1,
            2, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0,
        ];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 6),
            Err(DecodeError::Truncated { what: "bytes", .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0x7a3c_91e5_0b2d_6f48);
        }
    }
}
