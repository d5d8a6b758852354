//! SaslAuthenticate (API key 36), versions 0 to 2: one round of a SASL exchange, after a
//! SaslHandshake v1 chose the mechanism (KIP-152). The client sends the mechanism's next token;
//! the broker answers with its own token, or an error.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version |
//! | 1 | `session_lifetime_ms` in the response (KIP-368): how long the authenticated session lasts |
//! | 2 | flexible (compact encodings, tagged fields) |
//!
//! A failed exchange answers `SASL_AUTHENTICATION_FAILED` (58) with the broker's reason in
//! `error_message` (for example "Authentication failed: Invalid username or password"), then the
//! broker closes the connection. `session_lifetime_ms` is 0 when the broker does not limit the
//! session (its `connections.max.reauth.ms` is 0 and the credential does not expire); otherwise
//! the client must authenticate again, or stop using the connection, before it runs out.
//!
//! The request's bytes hold the credentials (a PLAIN password, an OAUTHBEARER token, a SCRAM
//! proof): its `Debug` prints their length only.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A SaslAuthenticate request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SaslAuthenticateRequest<'a> {
    /// The mechanism's next client token.
    pub auth_bytes: &'a [u8],
}

impl fmt::Debug for SaslAuthenticateRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslAuthenticateRequest")
            .field(
                "auth_bytes",
                &format_args!("[redacted, {} bytes]", self.auth_bytes.len()),
            )
            .finish()
    }
}

/// A SaslAuthenticate response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslAuthenticateResponse {
    pub error_code: i16,
    pub error_message: Option<String>,
    /// The mechanism's next server token (a slice of the response frame).
    pub auth_bytes: Bytes,
    /// v1+: milliseconds the session may be used for, 0 for no limit; 0 before v1.
    pub session_lifetime_ms: i64,
}

impl Request for SaslAuthenticateRequest<'_> {
    type Response = SaslAuthenticateResponse;
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;
    const FLEXIBLE_FROM: i16 = 2;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        let compact = Self::is_flexible(version);
        buf.put_nullable_bytes(Some(self.auth_bytes), compact);
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<SaslAuthenticateResponse> {
        let compact = Self::is_flexible(version);
        let error_code = r.i16()?;
        let error_message = r.nullable_string(compact)?;
        let auth_bytes = r.bytes(compact)?;
        let session_lifetime_ms = if version >= 1 { r.i64()? } else { 0 };
        r.tagged_fields_if(compact)?;
        Ok(SaslAuthenticateResponse {
            error_code,
            error_message,
            auth_bytes,
            session_lifetime_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole, encode_request,
        encode_sasl_authenticate_response,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;

    type Req = SaslAuthenticateRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// A test-only request decoder, written from the message definition: the auth bytes.
    fn decode_request(bytes: Bytes, version: i16) -> DecodeResult<Bytes> {
        let compact = version >= 2;
        let mut r = Reader::new(bytes);
        let auth = r.bytes(compact)?;
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "v{version}: {} bytes left", r.remaining());
        Ok(auth)
    }

    fn sample(version: i16) -> SaslAuthenticateResponse {
        SaslAuthenticateResponse {
            error_code: 0,
            error_message: None,
            auth_bytes: Bytes::from_static(b"r=abc,s=QSXCR+Q6sek8bf92,i=4096"),
            session_lifetime_ms: if version >= 1 { 3_600_000 } else { 0 },
        }
    }

    fn failure() -> SaslAuthenticateResponse {
        SaslAuthenticateResponse {
            error_code: 58,
            error_message: Some("Authentication failed: Invalid username or password".into()),
            auth_bytes: Bytes::new(),
            session_lifetime_ms: 0,
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let long = vec![0xa5; 300];
        for auth in [&b"\0alice\0secret"[..], b"", &long] {
            for v in VERSIONS {
                let req = SaslAuthenticateRequest { auth_bytes: auth };
                assert_eq!(
                    &decode_request(encode_request(&req, v), v).unwrap()[..],
                    auth
                );
            }
        }
    }

    #[test]
    fn requests_by_hand() {
        let req = SaslAuthenticateRequest {
            auth_bytes: b"\0a\0b",
        };
        // v0, v1 => auth_bytes (INT32 length)
        let classic: &[u8] = &[0, 0, 0, 4, 0, b'a', 0, b'b'];
        assert_eq!(&encode_request(&req, 0)[..], classic);
        assert_eq!(&encode_request(&req, 1)[..], classic);
        // v2 => auth_bytes (compact: length + 1) TAG_BUFFER
        assert_eq!(&encode_request(&req, 2)[..], &[5, 0, b'a', 0, b'b', 0]);
    }

    #[test]
    fn the_request_debug_hides_the_credentials() {
        let req = SaslAuthenticateRequest {
            auth_bytes: b"\0alice\0hunter2",
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted, 14 bytes]"), "{shown}");
    }

    #[test]
    fn response_round_trips_in_every_version() {
        for v in VERSIONS {
            for resp in [sample(v), failure()] {
                assert_eq!(
                    decode_whole::<Req>(encode_sasl_authenticate_response(&resp, v), v).unwrap(),
                    resp,
                    "v{v}"
                );
            }
        }
    }

    #[test]
    fn responses_by_hand() {
        // v0 => error_code error_message auth_bytes
        let bytes: &[u8] = &[0, 58, 0, 2, b'n', b'o', 0, 0, 0, 0];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 0).unwrap();
        assert_eq!(
            resp,
            SaslAuthenticateResponse {
                error_code: 58,
                error_message: Some("no".into()),
                auth_bytes: Bytes::new(),
                session_lifetime_ms: 0,
            }
        );
        // v1 adds session_lifetime_ms; a null error message.
        let bytes: &[u8] = &[
            0, 0, 0xff, 0xff, 0, 0, 0, 1, b'x', 0, 0, 0, 0, 0, 0, 0x27, 0x10,
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 1).unwrap();
        assert_eq!(
            resp,
            SaslAuthenticateResponse {
                error_code: 0,
                error_message: None,
                auth_bytes: Bytes::from_static(b"x"),
                session_lifetime_ms: 10_000,
            }
        );
        // v2 => compact fields, then TAG_BUFFER.
        let bytes: &[u8] = &[0, 0, 0, 2, b'x', 0, 0, 0, 0, 0, 0, 0, 5, 0];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 2).unwrap();
        assert_eq!(resp.auth_bytes, Bytes::from_static(b"x"));
        assert_eq!(resp.session_lifetime_ms, 5);
    }

    #[test]
    fn null_auth_bytes_are_an_error() {
        let bytes: &[u8] = &[0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 0),
            Err(DecodeError::Invalid { what: "bytes", .. })
        ));
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        for v in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_sasl_authenticate_response(&sample(v), v), v);
            assert_every_prefix_fails::<Req>(&encode_sasl_authenticate_response(&failure(), v), v);
        }
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        // auth_bytes announcing 2 GB in a 10-byte response.
        let bytes: &[u8] = &[0, 0, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 0];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 0),
            Err(DecodeError::Truncated { .. })
        ));
        // v2: a tagged-field count that cannot fit.
        let bytes: &[u8] = &[
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f,
        ];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 2),
            Err(DecodeError::Invalid {
                what: "tagged fields",
                ..
            })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            assert_mutations_never_panic::<Req>(
                &encode_sasl_authenticate_response(&sample(v), v),
                v,
                0x5a51_0036_0000_0002,
            );
        }
    }
}
