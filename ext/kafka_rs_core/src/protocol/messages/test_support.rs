//! Checks shared by the response decoders' tests: whole responses decode exactly, hostile input
//! fails cleanly.

use bytes::{Bytes, BytesMut};

use crate::protocol::api::Request;
use crate::protocol::codec::{DecodeResult, Reader};

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
