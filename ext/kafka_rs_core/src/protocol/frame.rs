//! Framing: every Kafka message is a big-endian `i32` size followed by that many bytes.
//!
//! Requests are written as one contiguous buffer (size, request header, body) so the connection
//! can hand it to the socket in one write. Responses are read by [`FrameReader`], which checks the
//! announced size against a cap *before* reserving any memory for the body.
//!
//! Request header: v1 (`api_key`, `api_version`, `correlation_id`, `client_id` as a classic
//! nullable string) for classic versions, v2 (v1 plus an empty tagged-field section) for flexible
//! ones. Response header: v0 (`correlation_id`) or v1 (plus tagged fields) for flexible versions,
//! except that ApiVersions responses always use header v0 (so that a broker can answer a version
//! it does not understand).

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::api::{ApiKey, Request};
use super::codec::{patch_i32, DecodeError, DecodeResult, Reader, WireWrite};

/// Byte offset of the correlation id inside an encoded request frame (after size, key, version).
pub const CORRELATION_ID_OFFSET: usize = 8;

/// Encodes `req` at `version` as a complete frame. The correlation id is written as 0 here and
/// patched by the connection when it assigns one ([`set_correlation_id`]).
pub fn encode_request<R: Request>(req: &R, version: i16, client_id: &str) -> BytesMut {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0); // size, back-filled below
    buf.put_i16(R::API_KEY.code());
    buf.put_i16(version);
    buf.put_i32(0); // correlation id
    buf.put_nullable_string(Some(client_id), false);
    buf.put_tagged_fields_if(R::is_flexible(version));
    req.encode(&mut buf, version);
    let size = (buf.len() - 4) as i32;
    patch_i32(&mut buf, 0, size);
    buf
}

/// Writes the correlation id into an encoded request frame.
pub fn set_correlation_id(frame: &mut BytesMut, id: i32) {
    patch_i32(frame, CORRELATION_ID_OFFSET, id);
}

/// Whether the response to `api` at a version that is (or is not) flexible carries a tagged-field
/// section in its header.
pub fn response_header_has_tags(api: ApiKey, flexible: bool) -> bool {
    flexible && api != ApiKey::ApiVersions
}

/// Splits a response frame into its correlation id and a reader positioned at the body.
pub fn split_response(frame: Bytes) -> DecodeResult<(i32, Reader)> {
    let mut r = Reader::new(frame);
    let id = r.i32()?;
    Ok((id, r))
}

/// Reads size-prefixed frames from a byte stream, refusing any frame larger than `max_size`.
pub struct FrameReader<S> {
    stream: S,
    max_size: usize,
}

impl<S: AsyncRead + Unpin> FrameReader<S> {
    pub fn new(stream: S, max_size: usize) -> Self {
        FrameReader { stream, max_size }
    }

    /// Reads one frame. `Ok(None)` on a clean end of stream between frames.
    pub async fn read_frame(&mut self) -> std::io::Result<Option<Bytes>> {
        let mut size = [0u8; 4];
        match self.stream.read_exact(&mut size).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let size = i32::from_be_bytes(size);
        let size = check_frame_size(size, self.max_size)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut body = BytesMut::zeroed(size);
        self.stream.read_exact(&mut body).await?;
        Ok(Some(body.freeze()))
    }
}

/// Validates an announced frame size against the cap.
pub fn check_frame_size(size: i32, max_size: usize) -> DecodeResult<usize> {
    if size < 4 {
        return Err(DecodeError::invalid(
            "frame",
            format!("size {size} is smaller than a response header"),
        ));
    }
    let size = size as usize;
    if size > max_size {
        return Err(DecodeError::invalid(
            "frame",
            format!("size {size} exceeds the limit of {max_size} bytes"),
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::api::{ApiKey, Request};

    struct Empty;
    impl Request for Empty {
        type Response = ();
        const API_KEY: ApiKey = ApiKey::ApiVersions;
        const MIN_VERSION: i16 = 0;
        const MAX_VERSION: i16 = 3;
        const FLEXIBLE_FROM: i16 = 3;
        fn encode(&self, _buf: &mut BytesMut, _version: i16) {}
        fn decode_response(_r: &mut Reader, _version: i16) -> DecodeResult<()> {
            Ok(())
        }
    }

    #[test]
    fn request_header_v1_layout_from_the_protocol_guide() {
        let mut frame = encode_request(&Empty, 0, "ab");
        set_correlation_id(&mut frame, 7);
        assert_eq!(
            &frame[..],
            &[0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 7, 0, 2, b'a', b'b']
        );
    }

    #[test]
    fn request_header_v2_adds_empty_tagged_fields() {
        let frame = encode_request(&Empty, 3, "");
        assert_eq!(&frame[..], &[0, 0, 0, 11, 0, 18, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[tokio::test]
    async fn frames_are_capped_before_allocation() {
        let data: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let mut reader = FrameReader::new(data, 1024);
        let err = reader.read_frame().await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let data: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(FrameReader::new(data, 1024).read_frame().await.is_err());
    }

    #[tokio::test]
    async fn frames_split_and_end_cleanly() {
        let data: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 1, 0xaa];
        let mut reader = FrameReader::new(data, 1024);
        let f = reader.read_frame().await.unwrap().unwrap();
        assert_eq!(split_response(f).unwrap().0, 9);
        let f = reader.read_frame().await.unwrap().unwrap();
        let (id, mut body) = split_response(f).unwrap();
        assert_eq!((id, body.u8().unwrap()), (1, 0xaa));
        assert!(reader.read_frame().await.unwrap().is_none());
        // A frame cut short is an error, not a clean end.
        let data: &[u8] = &[0, 0, 0, 8, 0, 0];
        assert!(FrameReader::new(data, 1024).read_frame().await.is_err());
    }
}
