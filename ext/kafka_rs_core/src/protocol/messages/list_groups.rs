//! ListGroups (API key 16), versions 0 to 4: the groups one broker coordinates. To list every
//! group of the cluster, ask every broker.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version: an empty request |
//! | 1 | `throttle_time_ms` in the response |
//! | 2 | same as 1 (the broker answers before throttling) |
//! | 3 | flexible (compact encodings, tagged fields) |
//! | 4 | `states_filter` in the request, each group's `group_state` in the response (KIP-518) |
//!
//! v5 (group types, KIP-848) is not implemented. A states filter needs v4
//! ([`ListGroupsRequest::min_version`]); below v4 it is left out and every group is listed.

use bytes::BytesMut;

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A ListGroups request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListGroupsRequest<'a> {
    /// List only the groups in these states (`"Stable"`, `"Empty"`, `"PreparingRebalance"`,
    /// ...); empty for every group (v4+).
    pub states_filter: Vec<&'a str>,
}

impl ListGroupsRequest<'_> {
    /// The lowest version that carries this request whole: 4 with a states filter, else 0.
    pub fn min_version(&self) -> i16 {
        if self.states_filter.is_empty() {
            Self::MIN_VERSION
        } else {
            4
        }
    }
}

/// A ListGroups response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListGroupsResponse {
    /// v1+; 0 before.
    pub throttle_time_ms: i32,
    /// For example `COORDINATOR_LOAD_IN_PROGRESS`.
    pub error_code: i16,
    pub groups: Vec<ListedGroup>,
}

/// One group the broker coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    /// `"consumer"` for consumer groups; empty for groups that only commit offsets.
    pub protocol_type: String,
    /// The group's state (v4+); `None` before.
    pub group_state: Option<String>,
}

impl Request for ListGroupsRequest<'_> {
    type Response = ListGroupsResponse;
    const API_KEY: ApiKey = ApiKey::ListGroups;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;
    const FLEXIBLE_FROM: i16 = 3;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        if version >= 4 {
            buf.put_array_len(self.states_filter.len(), compact);
            for state in &self.states_filter {
                buf.put_string(state, compact);
            }
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<ListGroupsResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        let groups = r.array(compact, |r| {
            let group_id = r.string(compact)?;
            let protocol_type = r.string(compact)?;
            let group_state = if version >= 4 {
                Some(r.string(compact)?)
            } else {
                None
            };
            r.tagged_fields_if(compact)?;
            Ok(ListedGroup {
                group_id,
                protocol_type,
                group_state,
            })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(ListGroupsResponse {
            throttle_time_ms,
            error_code,
            groups,
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

    type Req = ListGroupsRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// A test-only request decoder: the states filter (empty below v4).
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<Vec<String>> {
        let compact = version >= 3;
        let mut r = Reader::new(bytes);
        let states = if version >= 4 {
            r.array(compact, |r| r.string(compact))?
        } else {
            Vec::new()
        };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok(states)
    }

    /// A test-only response encoder (the broker side), with unknown tagged fields.
    fn encode_response(resp: &ListGroupsResponse, version: i16) -> Bytes {
        let compact = version >= 3;
        let tags = |b: &mut BytesMut| {
            if compact {
                b.put_uvarint(1);
                b.put_uvarint(0);
                b.put_uvarint(4);
                b.put_i32(-5);
            }
        };
        let mut b = BytesMut::new();
        if version >= 1 {
            b.put_i32(resp.throttle_time_ms);
        }
        b.put_i16(resp.error_code);
        b.put_array_len(resp.groups.len(), compact);
        for g in &resp.groups {
            b.put_string(&g.group_id, compact);
            b.put_string(&g.protocol_type, compact);
            if version >= 4 {
                b.put_string(g.group_state.as_deref().unwrap(), compact);
            }
            tags(&mut b);
        }
        tags(&mut b);
        b.freeze()
    }

    fn sample(version: i16) -> ListGroupsResponse {
        let state = |s: &str| (version >= 4).then(|| s.to_string());
        ListGroupsResponse {
            throttle_time_ms: if version >= 1 { 4 } else { 0 },
            error_code: 0,
            groups: vec![
                ListedGroup {
                    group_id: "orders-consumers".into(),
                    protocol_type: "consumer".into(),
                    group_state: state("Stable"),
                },
                ListedGroup {
                    group_id: "offsets-only".into(),
                    protocol_type: String::new(),
                    group_state: state("Empty"),
                },
            ],
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let requests = [
            ListGroupsRequest::default(),
            ListGroupsRequest {
                states_filter: vec!["Stable", "PreparingRebalance"],
            },
        ];
        for req in &requests {
            for v in VERSIONS {
                let got = decode_request(encode_request(req, v), v).unwrap();
                let want: Vec<String> = if v >= 4 {
                    req.states_filter.iter().map(|s| s.to_string()).collect()
                } else {
                    vec![]
                };
                assert_eq!(got, want, "v{v}: {req:?}");
            }
        }
    }

    #[test]
    fn requests_by_hand() {
        let req = ListGroupsRequest {
            states_filter: vec!["Empty"],
        };
        // v0 to v2: an empty body; v3: only the tags.
        assert!(encode_request(&req, 0).is_empty());
        assert!(encode_request(&req, 2).is_empty());
        assert_eq!(&encode_request(&req, 3)[..], &[0]);
        // v4 => [states_filter] TAG_BUFFER
        assert_eq!(
            &encode_request(&req, 4)[..],
            &[2, 6, b'E', b'm', b'p', b't', b'y', 0]
        );
        assert_eq!(
            &encode_request(&ListGroupsRequest::default(), 4)[..],
            &[1, 0]
        );
    }

    #[test]
    fn a_states_filter_needs_v4() {
        assert_eq!(ListGroupsRequest::default().min_version(), 0);
        let req = ListGroupsRequest {
            states_filter: vec!["Stable"],
        };
        assert_eq!(req.min_version(), 4);
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
        // v0 => error_code [group_id protocol_type]
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0,                           // error_code
            0, 0, 0, 1,                     // 1 group
            0, 1, b'g',                     //   group_id
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 0).unwrap();
        assert_eq!(
            resp.groups,
            vec![ListedGroup {
                group_id: "g".into(),
                protocol_type: "consumer".into(),
                group_state: None,
            }]
        );
        // v4 => throttle_time_ms error_code [group_id protocol_type group_state TAG_BUFFER]
        //       TAG_BUFFER
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,                     // throttle_time_ms
            0, 0,                           // error_code
            2,                              // 1 group
            2, b'g',                        //   group_id
            1,                              //   protocol_type ""
            5, b'D', b'e', b'a', b'd',      //   group_state "Dead"
            0,                              //   tags
            0,                              // tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 4).unwrap();
        assert_eq!(
            resp.groups,
            vec![ListedGroup {
                group_id: "g".into(),
                protocol_type: String::new(),
                group_state: Some("Dead".into()),
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
        // v0: groups claiming i32::MAX elements.
        let bytes: &[u8] = &[0, 0, 0x7f, 0xff, 0xff, 0xff, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 0),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v3: one group whose id claims 2^31 - 2 bytes.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff, 0x07, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 3),
            Err(DecodeError::Truncated { what: "string", .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0xbb67_ae85_84ca_a73b);
        }
    }
}
