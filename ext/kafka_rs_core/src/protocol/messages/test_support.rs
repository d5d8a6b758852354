//! Test support shared by the response decoders' tests (whole responses decode exactly, hostile
//! input fails cleanly) and by tests that play a broker on a socket (`connection::sasl`): the
//! broker-side encoders of the responses those tests need, written from the message definitions.

use bytes::{BufMut, Bytes, BytesMut};

use super::api_versions::ApiVersionsResponse;
use super::sasl_authenticate::SaslAuthenticateResponse;
use super::sasl_handshake::SaslHandshakeResponse;
use crate::protocol::api::Request;
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// The body of `req` encoded at `version` (no frame, no header).
pub fn encode_request<R: Request>(req: &R, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    req.encode(&mut buf, version);
    buf.freeze()
}

/// Decodes a response body of `version`; bytes left over after it fail the test.
pub fn decode_whole<R: Request>(bytes: Bytes, version: i16) -> DecodeResult<R::Response> {
    let mut r = Reader::new(bytes);
    let resp = R::decode_response(&mut r, version)?;
    assert!(
        r.is_empty(),
        "v{version}: {} bytes left over",
        r.remaining()
    );
    Ok(resp)
}

/// Every strict prefix of a valid response `full` must fail to decode.
pub fn assert_every_prefix_fails<R: Request>(full: &Bytes, version: i16) {
    for len in 0..full.len() {
        let mut r = Reader::new(full.slice(..len));
        assert!(
            R::decode_response(&mut r, version).is_err(),
            "v{version}: prefix of {len} bytes decoded"
        );
    }
}

/// 500 single-byte mutations of `valid` and 500 random byte strings decode without panicking
/// (the result is irrelevant). `seed` makes each caller's sequence its own, and repeatable.
pub fn assert_mutations_never_panic<R: Request>(valid: &Bytes, version: i16, seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let mut bytes = valid.to_vec();
        let i = next() as usize % bytes.len();
        bytes[i] = next() as u8;
        let _ = R::decode_response(&mut Reader::new(bytes.into()), version);
        let len = next() as usize % 64;
        let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = R::decode_response(&mut Reader::new(garbage.into()), version);
    }
}

/// A tagged-field section holding one field, `tag` with `value`.
fn put_one_tagged_field(b: &mut BytesMut, tag: u32, value: &[u8]) {
    b.put_uvarint(1);
    b.put_uvarint(tag);
    b.put_uvarint(value.len() as u32);
    b.put_slice(value);
}

/// An ApiVersions response body of `version`; v3 carries a tagged field (FinalizedFeaturesEpoch)
/// that a decoder must skip.
pub fn encode_api_versions_response(resp: &ApiVersionsResponse, version: i16) -> Bytes {
    let compact = version >= 3;
    let mut b = BytesMut::new();
    b.put_i16(resp.error_code);
    b.put_array_len(resp.api_keys.len(), compact);
    for e in &resp.api_keys {
        b.put_i16(e.api_key);
        b.put_i16(e.min_version);
        b.put_i16(e.max_version);
        b.put_tagged_fields_if(compact);
    }
    if version >= 1 {
        b.put_i32(resp.throttle_time_ms);
    }
    if compact {
        // FinalizedFeaturesEpoch (tag 1, int64).
        put_one_tagged_field(&mut b, 1, &7i64.to_be_bytes());
    }
    b.freeze()
}

/// A SaslHandshake response body (one layout for v0 and v1).
pub fn encode_sasl_handshake_response(resp: &SaslHandshakeResponse) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(resp.error_code);
    b.put_array_len(resp.mechanisms.len(), false);
    for m in &resp.mechanisms {
        b.put_string(m, false);
    }
    b.freeze()
}

/// A SaslAuthenticate response body of `version`; v2 carries an unknown tagged field that a
/// decoder must skip.
pub fn encode_sasl_authenticate_response(resp: &SaslAuthenticateResponse, version: i16) -> Bytes {
    let compact = version >= 2;
    let mut b = BytesMut::new();
    b.put_i16(resp.error_code);
    b.put_nullable_string(resp.error_message.as_deref(), compact);
    b.put_nullable_bytes(Some(&resp.auth_bytes), compact);
    if version >= 1 {
        b.put_i64(resp.session_lifetime_ms);
    }
    if compact {
        put_one_tagged_field(&mut b, 3, &0xbeef_u16.to_be_bytes());
    }
    b.freeze()
}
