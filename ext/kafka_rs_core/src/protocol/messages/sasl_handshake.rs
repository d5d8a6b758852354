//! SaslHandshake (API key 17), versions 0 and 1: the client names the SASL mechanism it wants;
//! the broker says whether it has it enabled, and lists the mechanisms it has.
//!
//! What each version changes:
//!
//! | version | change |
//! |---------|--------|
//! | 0 | first version: the SASL tokens that follow travel as raw size-prefixed frames |
//! | 1 | same layout; the tokens that follow travel in SaslAuthenticate requests (KIP-152) |
//!
//! The layouts are the same; the version only tells the broker how the exchange continues. The
//! connection speaks v1 (every broker from 1.0 on has it) and never sends raw tokens. No version
//! is flexible: Kafka cannot raise this API's version without breaking clients up to 2.4, which
//! negotiated it wrongly (KAFKA-9577).
//!
//! The answer's error code is `UNSUPPORTED_SASL_MECHANISM` (33) when the mechanism is not enabled
//! on the listener, `ILLEGAL_SASL_STATE` (34) when a handshake comes at the wrong time.

use bytes::BytesMut;

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// A SaslHandshake request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslHandshakeRequest<'a> {
    /// The mechanism's SASL name: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER`.
    pub mechanism: &'a str,
}

/// A SaslHandshake response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslHandshakeResponse {
    pub error_code: i16,
    /// The mechanisms enabled on the broker's listener (sent with an error too, so a refusal can
    /// say what the broker would accept).
    pub mechanisms: Vec<String>,
}

impl Request for SaslHandshakeRequest<'_> {
    type Response = SaslHandshakeResponse;
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;
    const FLEXIBLE_FROM: i16 = i16::MAX;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        debug_assert!((Self::MIN_VERSION..=Self::MAX_VERSION).contains(&version));
        buf.put_string(self.mechanism, false);
    }

    fn decode_response(r: &mut Reader, _version: i16) -> DecodeResult<SaslHandshakeResponse> {
        let error_code = r.i16()?;
        let mechanisms = r.array(false, |r| r.string(false))?;
        Ok(SaslHandshakeResponse {
            error_code,
            mechanisms,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::test_support::{
        assert_every_prefix_fails, assert_mutations_never_panic, decode_whole, encode_request,
        encode_sasl_handshake_response,
    };
    use super::*;
    use crate::protocol::codec::DecodeError;

    type Req = SaslHandshakeRequest<'static>;
    const VERSIONS: std::ops::RangeInclusive<i16> = Req::MIN_VERSION..=Req::MAX_VERSION;

    /// A test-only request decoder, written from the message definition: the mechanism.
    fn decode_request(bytes: Bytes) -> DecodeResult<String> {
        let mut r = Reader::new(bytes);
        let mechanism = r.string(false)?;
        assert!(r.is_empty(), "{} bytes left", r.remaining());
        Ok(mechanism)
    }

    fn sample() -> SaslHandshakeResponse {
        SaslHandshakeResponse {
            error_code: 33, // UNSUPPORTED_SASL_MECHANISM
            mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-512".into()],
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "OAUTHBEARER", ""] {
            for v in VERSIONS {
                let req = SaslHandshakeRequest { mechanism };
                assert_eq!(decode_request(encode_request(&req, v)).unwrap(), mechanism);
            }
        }
    }

    #[test]
    fn request_by_hand() {
        // SaslHandshake Request (Version: 0 and 1) => mechanism (INT16 length)
        let req = SaslHandshakeRequest { mechanism: "PLAIN" };
        let want: &[u8] = &[0, 5, b'P', b'L', b'A', b'I', b'N'];
        for v in VERSIONS {
            assert_eq!(&encode_request(&req, v)[..], want, "v{v}");
        }
    }

    #[test]
    fn response_round_trips_in_every_version() {
        for resp in [sample(), SaslHandshakeResponse::default()] {
            for v in VERSIONS {
                assert_eq!(
                    decode_whole::<Req>(encode_sasl_handshake_response(&resp), v).unwrap(),
                    resp,
                    "v{v}"
                );
            }
        }
    }

    #[test]
    fn response_by_hand() {
        // error_code, then [mechanisms] with an INT32 count and INT16-length strings.
        let bytes: &[u8] = &[
            0, 0, // error_code
            0, 0, 0, 2, // 2 mechanisms
            0, 5, b'P', b'L', b'A', b'I', b'N', // PLAIN
            0, 11, b'O', b'A', b'U', b'T', b'H', b'B', b'E', b'A', b'R', b'E', b'R',
        ];
        let resp = decode_whole::<Req>(Bytes::from_static(bytes), 1).unwrap();
        assert_eq!(
            resp,
            SaslHandshakeResponse {
                error_code: 0,
                mechanisms: vec!["PLAIN".into(), "OAUTHBEARER".into()],
            }
        );
    }

    #[test]
    fn every_truncation_of_a_response_is_an_error() {
        for v in VERSIONS {
            assert_every_prefix_fails::<Req>(&encode_sasl_handshake_response(&sample()), v);
        }
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        // A mechanism count that cannot fit in the bytes left.
        let bytes: &[u8] = &[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, b'x'];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 1),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // A mechanism name longer than the frame.
        let bytes: &[u8] = &[0, 0, 0, 0, 0, 1, 0x7f, 0xff, b'x'];
        assert!(matches!(
            decode_whole::<Req>(Bytes::from_static(bytes), 1),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_responses_never_panic() {
        for v in VERSIONS {
            assert_mutations_never_panic::<Req>(
                &encode_sasl_handshake_response(&sample()),
                v,
                0x5a51_0017_0000_0001,
            );
        }
    }
}
