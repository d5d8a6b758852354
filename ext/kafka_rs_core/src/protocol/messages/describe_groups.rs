//! DescribeGroups (API key 15), versions 0 to 5: the state, protocol and members of groups, from
//! their coordinator.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version |
//! | 1 | `throttle_time_ms` in the response |
//! | 2 | same as 1 (the broker answers before throttling) |
//! | 3 | `include_authorized_operations` in the request, `authorized_operations` per group in the response (KIP-430) |
//! | 4 | `group_instance_id` per member in the response (static membership, KIP-345) |
//! | 5 | flexible (compact encodings, tagged fields) |
//!
//! v6 (a per-group error message, KIP-1043) is not implemented. A member's metadata and
//! assignment are only filled while the group is `Stable`; for a consumer group they are an
//! encoded subscription and assignment of the
//! [`consumer_protocol`](crate::protocol::consumer_protocol).

use bytes::{Bytes, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// `authorized_operations` when they were not asked for (and before v3).
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// A DescribeGroups request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeGroupsRequest<'a> {
    pub groups: Vec<&'a str>,
    /// Ask for the operations this client may perform on each group (v3+).
    pub include_authorized_operations: bool,
}

/// A DescribeGroups response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeGroupsResponse {
    /// v1+; 0 before.
    pub throttle_time_ms: i32,
    pub groups: Vec<DescribedGroup>,
}

/// One described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// For example `NOT_COORDINATOR`, or `GROUP_AUTHORIZATION_FAILED`.
    pub error_code: i16,
    pub group_id: String,
    /// `"Stable"`, `"PreparingRebalance"`, `"CompletingRebalance"`, `"Empty"` or `"Dead"` (a
    /// group that does not exist is described as `Dead`).
    pub group_state: String,
    /// `"consumer"` for consumer groups, or empty.
    pub protocol_type: String,
    /// The chosen protocol (for consumer groups, the assignor), or empty.
    pub protocol_data: String,
    pub members: Vec<DescribedGroupMember>,
    /// A bitfield of the operations this client may perform on the group (v3+, when asked);
    /// [`AUTHORIZED_OPERATIONS_OMITTED`] otherwise.
    pub authorized_operations: i32,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroupMember {
    pub member_id: String,
    /// v4+; `None` for a dynamic member, and before v4.
    pub group_instance_id: Option<String>,
    /// The `client.id` of the member's last JoinGroup.
    pub client_id: String,
    /// The member's address, as the broker saw it (`/10.0.0.7`).
    pub client_host: String,
    /// The member's metadata in the chosen protocol (a zero-copy slice of the response).
    pub member_metadata: Bytes,
    /// The member's current assignment (a zero-copy slice of the response).
    pub member_assignment: Bytes,
}

impl Request for DescribeGroupsRequest<'_> {
    type Response = DescribeGroupsResponse;
    const API_KEY: ApiKey = ApiKey::DescribeGroups;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FLEXIBLE_FROM: i16 = 5;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_array_len(self.groups.len(), compact);
        for group in &self.groups {
            buf.put_string(group, compact);
        }
        if version >= 3 {
            buf.put_bool(self.include_authorized_operations);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<DescribeGroupsResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let groups = r.array(compact, |r| decode_group(r, version, compact))?;
        r.tagged_fields_if(compact)?;
        Ok(DescribeGroupsResponse {
            throttle_time_ms,
            groups,
        })
    }
}

fn decode_group(r: &mut Reader, version: i16, compact: bool) -> DecodeResult<DescribedGroup> {
    let error_code = r.i16()?;
    let group_id = r.string(compact)?;
    let group_state = r.string(compact)?;
    let protocol_type = r.string(compact)?;
    let protocol_data = r.string(compact)?;
    let members = r.array(compact, |r| {
        let member_id = r.string(compact)?;
        let group_instance_id = if version >= 4 {
            r.nullable_string(compact)?
        } else {
            None
        };
        let client_id = r.string(compact)?;
        let client_host = r.string(compact)?;
        let member_metadata = r.bytes(compact)?;
        let member_assignment = r.bytes(compact)?;
        r.tagged_fields_if(compact)?;
        Ok(DescribedGroupMember {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            member_metadata,
            member_assignment,
        })
    })?;
    let authorized_operations = if version >= 3 {
        r.i32()?
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    r.tagged_fields_if(compact)?;
    Ok(DescribedGroup {
        error_code,
        group_id,
        group_state,
        protocol_type,
        protocol_data,
        members,
        authorized_operations,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole, encode_request,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;
    use bytes::BufMut;

    type Req = DescribeGroupsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// A test-only request decoder: the groups, and the authorized-operations flag (false below
    /// v3).
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<(Vec<String>, bool)> {
        let compact = version >= 5;
        let mut r = Reader::new(bytes);
        let groups = r.array(compact, |r| r.string(compact))?;
        let include = if version >= 3 { r.bool()? } else { false };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok((groups, include))
    }

    /// A test-only response encoder (the broker side), with unknown tagged fields.
    fn encode_response(resp: &DescribeGroupsResponse, version: i16) -> Bytes {
        let compact = version >= 5;
        let tags = |b: &mut BytesMut| {
            if compact {
                b.put_uvarint(2);
                b.put_uvarint(0);
                b.put_uvarint(0);
                b.put_uvarint(1);
                b.put_uvarint(1);
                b.put_u8(7);
            }
        };
        let mut b = BytesMut::new();
        if version >= 1 {
            b.put_i32(resp.throttle_time_ms);
        }
        b.put_array_len(resp.groups.len(), compact);
        for g in &resp.groups {
            b.put_i16(g.error_code);
            b.put_string(&g.group_id, compact);
            b.put_string(&g.group_state, compact);
            b.put_string(&g.protocol_type, compact);
            b.put_string(&g.protocol_data, compact);
            b.put_array_len(g.members.len(), compact);
            for m in &g.members {
                b.put_string(&m.member_id, compact);
                if version >= 4 {
                    b.put_nullable_string(m.group_instance_id.as_deref(), compact);
                }
                b.put_string(&m.client_id, compact);
                b.put_string(&m.client_host, compact);
                b.put_nullable_bytes(Some(&m.member_metadata), compact);
                b.put_nullable_bytes(Some(&m.member_assignment), compact);
                tags(&mut b);
            }
            if version >= 3 {
                b.put_i32(g.authorized_operations);
            }
            tags(&mut b);
        }
        tags(&mut b);
        b.freeze()
    }

    fn sample(version: i16) -> DescribeGroupsResponse {
        DescribeGroupsResponse {
            throttle_time_ms: if version >= 1 { 1 } else { 0 },
            groups: vec![
                DescribedGroup {
                    error_code: 0,
                    group_id: "orders-consumers".into(),
                    group_state: "Stable".into(),
                    protocol_type: "consumer".into(),
                    protocol_data: "range".into(),
                    members: vec![
                        DescribedGroupMember {
                            member_id: "m-1".into(),
                            group_instance_id: (version >= 4).then(|| "web-1".into()),
                            client_id: "kafka_rs".into(),
                            client_host: "/10.0.0.7".into(),
                            member_metadata: Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
                            member_assignment: Bytes::from((0..140u8).collect::<Vec<_>>()),
                        },
                        DescribedGroupMember {
                            member_id: "m-2".into(),
                            group_instance_id: None,
                            client_id: "rdkafka".into(),
                            client_host: "/10.0.0.8".into(),
                            member_metadata: Bytes::new(),
                            member_assignment: Bytes::new(),
                        },
                    ],
                    authorized_operations: if version >= 3 {
                        0b1_1000_0000
                    } else {
                        AUTHORIZED_OPERATIONS_OMITTED
                    },
                },
                DescribedGroup {
                    error_code: 0,
                    group_id: "missing".into(),
                    group_state: "Dead".into(),
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    members: vec![],
                    authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                },
            ],
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let requests = [
            DescribeGroupsRequest {
                groups: vec!["a", "orders-consumers"],
                include_authorized_operations: true,
            },
            DescribeGroupsRequest::default(),
        ];
        for req in &requests {
            for v in VERSIONS {
                let got = decode_request(encode_request(req, v), v).unwrap();
                let groups = req.groups.iter().map(|g| g.to_string()).collect();
                let want = (groups, v >= 3 && req.include_authorized_operations);
                assert_eq!(got, want, "v{v}: {req:?}");
            }
        }
    }

    #[test]
    fn requests_by_hand() {
        let req = DescribeGroupsRequest {
            groups: vec!["g"],
            include_authorized_operations: true,
        };
        // v0 => [groups]
        assert_eq!(&encode_request(&req, 0)[..], &[0, 0, 0, 1, 0, 1, b'g']);
        // v3 => [groups] include_authorized_operations
        assert_eq!(&encode_request(&req, 3)[..], &[0, 0, 0, 1, 0, 1, b'g', 1]);
        // v5 => [groups] include_authorized_operations TAG_BUFFER (compact)
        assert_eq!(&encode_request(&req, 5)[..], &[2, 2, b'g', 1, 0]);
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
    fn classic_v0_response_by_hand() {
        // v0 => [error_code group_id group_state protocol_type protocol_data
        //        [member_id client_id client_host member_metadata member_assignment]]
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 1,                     // 1 group
            0, 0,                           //   error_code
            0, 1, b'g',                     //   group_id
            0, 5, b'E', b'm', b'p', b't', b'y', // group_state
            0, 0,                           //   protocol_type ""
            0, 0,                           //   protocol_data ""
            0, 0, 0, 1,                     //   1 member
            0, 1, b'm',                     //     member_id
            0, 1, b'c',                     //     client_id
            0, 1, b'h',                     //     client_host
            0, 0, 0, 1, 0xaa,               //     member_metadata
            0, 0, 0, 0,                     //     member_assignment (empty)
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 0).unwrap();
        assert_eq!(
            resp.groups,
            vec![DescribedGroup {
                error_code: 0,
                group_id: "g".into(),
                group_state: "Empty".into(),
                protocol_type: String::new(),
                protocol_data: String::new(),
                members: vec![DescribedGroupMember {
                    member_id: "m".into(),
                    group_instance_id: None,
                    client_id: "c".into(),
                    client_host: "h".into(),
                    member_metadata: Bytes::from_static(&[0xaa]),
                    member_assignment: Bytes::new(),
                }],
                authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
            }]
        );
    }

    #[test]
    fn flexible_v5_response_by_hand() {
        // v5 => throttle_time_ms [error_code group_id group_state protocol_type protocol_data
        //       [member_id group_instance_id client_id client_host member_metadata
        //       member_assignment TAG_BUFFER] authorized_operations TAG_BUFFER] TAG_BUFFER
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,                     // throttle_time_ms
            2,                              // 1 group
            0, 16,                          //   NOT_COORDINATOR
            2, b'g',                        //   group_id
            1, 1, 1,                        //   group_state, protocol_type, protocol_data ""
            1,                              //   no members
            0x80, 0, 0, 0,                  //   authorized_operations omitted
            0,                              //   tags
            0,                              // tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 5).unwrap();
        assert_eq!(
            resp.groups,
            vec![DescribedGroup {
                error_code: 16,
                group_id: "g".into(),
                group_state: String::new(),
                protocol_type: String::new(),
                protocol_data: String::new(),
                members: vec![],
                authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
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
        // v1: groups claiming i32::MAX elements.
        let bytes: &[u8] = &[0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 1),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v5: a member whose metadata claims 2^31 - 2 bytes.
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0, 2, 0, 0, 2, b'g', 1, 1, 1,
            2, 1, 0, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0,
        ];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 5),
            Err(DecodeError::Truncated { what: "bytes", .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0x3c6e_f372_fe94_f82b);
        }
    }
}
