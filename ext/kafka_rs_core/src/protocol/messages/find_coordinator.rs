//! FindCoordinator (API key 10), versions 0 to 4: which broker coordinates a consumer group (or a
//! transactional id). Any broker answers.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | one group id; the answer is an error code and a broker |
//! | 1 | `key_type` in the request (0 group, 1 transaction); `throttle_time_ms` and `error_message` in the response |
//! | 2 | same as 1 (the broker answers before throttling) |
//! | 3 | flexible (compact encodings, tagged fields) |
//! | 4 | batched: many keys in the request, one coordinator (with its key, error and message) per key in the response (KIP-699) |
//!
//! v5 (may return `TRANSACTION_ABORTABLE`, KIP-890) and v6 (share groups, KIP-932) are not
//! implemented.
//!
//! [`FindCoordinatorResponse`] has one shape for every version: a list of coordinators. Below v4
//! it holds exactly one, whose `key` is empty (the broker does not repeat the key it was asked
//! for); from v4 on one per key asked, each naming its key. Below v4 a request carries exactly
//! one key, and a transaction key needs v1: [`FindCoordinatorRequest::min_version`].

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// What kind of coordinator a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(i8)]
pub enum CoordinatorType {
    /// A consumer group's coordinator; the key is the group id.
    #[default]
    Group = 0,
    /// A transactional producer's coordinator; the key is the transactional id (v1+).
    Transaction = 1,
}

/// A FindCoordinator request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorRequest<'a> {
    pub key_type: CoordinatorType,
    /// The group ids or transactional ids to look up: exactly one below v4, any number from v4
    /// on. Below v4 only the first is sent ("" if there is none).
    pub keys: Vec<&'a str>,
}

impl<'a> FindCoordinatorRequest<'a> {
    /// Looks up the coordinator of one consumer group.
    pub fn group(group_id: &'a str) -> Self {
        FindCoordinatorRequest {
            key_type: CoordinatorType::Group,
            keys: vec![group_id],
        }
    }

    /// Looks up the coordinator of one transactional id.
    pub fn transaction(transactional_id: &'a str) -> Self {
        FindCoordinatorRequest {
            key_type: CoordinatorType::Transaction,
            keys: vec![transactional_id],
        }
    }

    /// The lowest version that carries this request whole: 4 for any number of keys but one,
    /// 1 for a transaction key, else 0.
    pub fn min_version(&self) -> i16 {
        if self.keys.len() != 1 {
            4
        } else if self.key_type != CoordinatorType::Group {
            1
        } else {
            Self::MIN_VERSION
        }
    }
}

/// A FindCoordinator response: one coordinator per key (exactly one below v4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindCoordinatorResponse {
    /// v1+; 0 before.
    pub throttle_time_ms: i32,
    pub coordinators: Vec<Coordinator>,
}

/// The coordinator of one key, or the error that prevented finding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// The key this answers (v4+); empty below v4, where the answer is for the one key asked.
    pub key: String,
    /// The coordinator's broker id; -1 on error.
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    /// For example `COORDINATOR_NOT_AVAILABLE` while the group's partition has no leader.
    pub error_code: i16,
    /// v1+ (`None` before); `None` or empty without error (Kafka 4.4 sends "" at v4).
    pub error_message: Option<String>,
}

impl Request for FindCoordinatorRequest<'_> {
    type Response = FindCoordinatorResponse;
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;
    const FLEXIBLE_FROM: i16 = 3;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        if version < 4 {
            buf.put_string(self.keys.first().copied().unwrap_or(""), compact);
        }
        if version >= 1 {
            buf.put_i8(self.key_type as i8);
        }
        if version >= 4 {
            buf.put_array_len(self.keys.len(), compact);
            for key in &self.keys {
                buf.put_string(key, compact);
            }
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<FindCoordinatorResponse> {
        let compact = Self::is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let coordinators = if version >= 4 {
            r.array(compact, |r| {
                let coordinator = Coordinator {
                    key: r.string(compact)?,
                    node_id: r.i32()?,
                    host: r.string(compact)?,
                    port: r.i32()?,
                    error_code: r.i16()?,
                    error_message: r.nullable_string(compact)?,
                };
                r.tagged_fields_if(compact)?;
                Ok(coordinator)
            })?
        } else {
            let error_code = r.i16()?;
            let error_message = if version >= 1 {
                r.nullable_string(compact)?
            } else {
                None
            };
            vec![Coordinator {
                key: String::new(),
                node_id: r.i32()?,
                host: r.string(compact)?,
                port: r.i32()?,
                error_code,
                error_message,
            }]
        };
        r.tagged_fields_if(compact)?;
        Ok(FindCoordinatorResponse {
            throttle_time_ms,
            coordinators,
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

    type Req = FindCoordinatorRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// What a broker reads: (key below v4, key_type from v1, keys from v4).
    type DecodedRequest = (Option<String>, Option<i8>, Option<Vec<String>>);

    /// A test-only request decoder, written from the message definition.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 3;
        let mut r = Reader::new(bytes);
        let key = if version < 4 {
            Some(r.string(compact)?)
        } else {
            None
        };
        let key_type = if version >= 1 { Some(r.i8()?) } else { None };
        let keys = if version >= 4 {
            Some(r.array(compact, |r| r.string(compact))?)
        } else {
            None
        };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok((key, key_type, keys))
    }

    /// A tagged-field section with one unknown field, when `compact`.
    fn tags(b: &mut BytesMut, compact: bool) {
        if compact {
            b.put_uvarint(1);
            b.put_uvarint(11);
            b.put_uvarint(3);
            b.put_slice(b"xyz");
        }
    }

    /// A test-only response encoder (the broker side).
    fn encode_response(resp: &FindCoordinatorResponse, version: i16) -> Bytes {
        let compact = version >= 3;
        let mut b = BytesMut::new();
        if version >= 1 {
            b.put_i32(resp.throttle_time_ms);
        }
        if version >= 4 {
            b.put_array_len(resp.coordinators.len(), compact);
            for c in &resp.coordinators {
                b.put_string(&c.key, compact);
                b.put_i32(c.node_id);
                b.put_string(&c.host, compact);
                b.put_i32(c.port);
                b.put_i16(c.error_code);
                b.put_nullable_string(c.error_message.as_deref(), compact);
                tags(&mut b, compact);
            }
        } else {
            let c = &resp.coordinators[0];
            b.put_i16(c.error_code);
            if version >= 1 {
                b.put_nullable_string(c.error_message.as_deref(), compact);
            }
            b.put_i32(c.node_id);
            b.put_string(&c.host, compact);
            b.put_i32(c.port);
        }
        tags(&mut b, compact);
        b.freeze()
    }

    /// A response holding, for `version`, exactly what that version carries.
    fn sample(version: i16) -> FindCoordinatorResponse {
        let found = Coordinator {
            key: if version >= 4 {
                "orders-consumers".into()
            } else {
                String::new()
            },
            node_id: 2,
            host: "broker-2.example".into(),
            port: 9093,
            error_code: 0,
            error_message: None,
        };
        let failed = Coordinator {
            key: "tx-1".into(),
            node_id: -1,
            host: String::new(),
            port: -1,
            error_code: 15, // COORDINATOR_NOT_AVAILABLE
            error_message: Some("The coordinator is not available.".into()),
        };
        FindCoordinatorResponse {
            throttle_time_ms: if version >= 1 { 40 } else { 0 },
            coordinators: if version >= 4 {
                vec![found, failed]
            } else if version >= 1 {
                vec![Coordinator {
                    key: String::new(),
                    ..failed
                }]
            } else {
                vec![found]
            },
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let requests = [
            FindCoordinatorRequest::group("orders-consumers"),
            FindCoordinatorRequest::transaction("tx-ünïcode"),
            FindCoordinatorRequest {
                key_type: CoordinatorType::Group,
                keys: vec!["a", "b", "c"],
            },
            FindCoordinatorRequest {
                key_type: CoordinatorType::Group,
                keys: vec![],
            },
        ];
        for req in &requests {
            for v in VERSIONS {
                let got = decode_request(encode_request(req, v), v).unwrap();
                let first = req.keys.first().copied().unwrap_or("").to_string();
                let keys = req.keys.iter().map(|k| k.to_string()).collect();
                let want = (
                    (v < 4).then_some(first),
                    (v >= 1).then_some(req.key_type as i8),
                    (v >= 4).then_some(keys),
                );
                assert_eq!(got, want, "v{v}: {req:?}");
            }
        }
    }

    #[test]
    fn classic_requests_by_hand() {
        // v0 => key
        let req = FindCoordinatorRequest::group("grp");
        assert_eq!(&encode_request(&req, 0)[..], &[0, 3, b'g', b'r', b'p']);
        // v1 => key key_type
        let req = FindCoordinatorRequest::transaction("tx");
        assert_eq!(&encode_request(&req, 1)[..], &[0, 2, b't', b'x', 1]);
        assert_eq!(&encode_request(&req, 2)[..], &[0, 2, b't', b'x', 1]);
    }

    #[test]
    fn flexible_requests_by_hand() {
        // v3 => key key_type TAG_BUFFER
        let req = FindCoordinatorRequest::group("grp");
        assert_eq!(&encode_request(&req, 3)[..], &[4, b'g', b'r', b'p', 0, 0]);
        // v4 => key_type [coordinator_keys] TAG_BUFFER
        let req = FindCoordinatorRequest {
            key_type: CoordinatorType::Group,
            keys: vec!["a", "bc"],
        };
        let want: &[u8] = &[
            0, // key_type group
            3, // 2 keys (compact array)
            2, b'a', // "a"
            3, b'b', b'c', // "bc"
            0,    // tags
        ];
        assert_eq!(&encode_request(&req, 4)[..], want);
    }

    #[test]
    fn min_version_follows_keys_and_type() {
        assert_eq!(FindCoordinatorRequest::group("g").min_version(), 0);
        assert_eq!(FindCoordinatorRequest::transaction("t").min_version(), 1);
        let batch = FindCoordinatorRequest {
            key_type: CoordinatorType::Group,
            keys: vec!["a", "b"],
        };
        assert_eq!(batch.min_version(), 4);
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
        // v0 => error_code node_id host port
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0,                   // error_code
            0, 0, 0, 1,             // node_id 1
            0, 2, b'h', b'1',       // host "h1"
            0, 0, 0x23, 0x84,       // port 9092
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 0).unwrap();
        assert_eq!(
            resp.coordinators,
            vec![Coordinator {
                key: String::new(),
                node_id: 1,
                host: "h1".into(),
                port: 9092,
                error_code: 0,
                error_message: None,
            }]
        );
    }

    #[test]
    fn flexible_v4_response_by_hand() {
        // v4 => throttle_time_ms [key node_id host port error_code error_message TAG_BUFFER]
        //       TAG_BUFFER
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,             // throttle_time_ms
            2,                      // 1 coordinator
            2, b'g',                //   key "g"
            0, 0, 0, 3,             //   node_id 3
            2, b'h',                //   host "h"
            0, 0, 0x23, 0x85,       //   port 9093
            0, 0,                   //   error_code
            0,                      //   error_message null
            0,                      //   tags
            0,                      // tags
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 4).unwrap();
        assert_eq!(
            resp.coordinators,
            vec![Coordinator {
                key: "g".into(),
                node_id: 3,
                host: "h".into(),
                port: 9093,
                error_code: 0,
                error_message: None,
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
        // v4: coordinators claiming 2^32 - 2 elements.
        let bytes: &[u8] = &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 4),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v1: an error message claiming 32767 bytes.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 15, 0x7f, 0xff, b'x'];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 1),
            Err(DecodeError::Truncated { what: "string", .. })
        ));
        // v3: a host claiming 2^31 bytes (compact).
        let bytes: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x08,
        ];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 3),
            Err(DecodeError::Truncated { what: "string", .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            let valid = encode_response(&sample(v), v);
            assert_mutations_never_panic::<Req>(&valid, v, 0x0f1e_2d3c_4b5a_6978);
        }
    }
}
