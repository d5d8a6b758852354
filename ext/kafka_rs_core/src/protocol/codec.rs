//! Wire primitives: a bounds-checked [`Reader`] over `Bytes` and the [`WireWrite`] extension on
//! `BytesMut`.
//!
//! Every length read from the wire goes through this module and is checked against the bytes that
//! remain in the frame *before* anything is allocated: a string or byte field can never be longer
//! than the rest of the frame, and an array can never hold more elements than there are bytes left
//! (every element takes at least one byte), nor reserve more memory up front than those bytes
//! (an element can be much larger in memory than on the wire). A hostile or corrupt broker can
//! therefore make a decoder fail, never make it reserve memory by a length it merely announced.
//!
//! Byte fields are returned as `Bytes` slices of the frame (no copy). Flexible ("compact")
//! encodings from KIP-482 are selected with the `compact` flag: unsigned-varint lengths stored as
//! `len + 1`, with 0 meaning null.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A decoding failure: the bytes are not a valid encoding of what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated input: {what} needs {needed} bytes, {remaining} remain")]
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
}

impl DecodeError {
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Invalid {
            what,
            detail: detail.into(),
        }
    }
}

pub type DecodeResult<T> = Result<T, DecodeError>;

/// A cursor over one frame. Reads advance it; byte fields are zero-copy slices.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
}

macro_rules! fixed {
    ($name:ident, $ty:ty, $get:ident, $n:expr) => {
        #[inline]
        pub fn $name(&mut self) -> DecodeResult<$ty> {
            self.need(stringify!($name), $n)?;
            Ok(self.buf.$get())
        }
    };
}

impl Reader {
    pub fn new(buf: Bytes) -> Self {
        Reader { buf }
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread bytes, as a zero-copy slice of the frame.
    pub fn into_rest(self) -> Bytes {
        self.buf
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &[u8] {
        &self.buf
    }

    #[inline]
    fn need(&self, what: &'static str, n: usize) -> DecodeResult<()> {
        if self.buf.len() < n {
            Err(DecodeError::Truncated {
                what,
                needed: n,
                remaining: self.buf.len(),
            })
        } else {
            Ok(())
        }
    }

    fixed!(i8, i8, get_i8, 1);
    fixed!(i16, i16, get_i16, 2);
    fixed!(i32, i32, get_i32, 4);
    fixed!(i64, i64, get_i64, 8);
    fixed!(u8, u8, get_u8, 1);
    fixed!(u16, u16, get_u16, 2);
    fixed!(u32, u32, get_u32, 4);
    fixed!(f64, f64, get_f64, 8);

    pub fn bool(&mut self) -> DecodeResult<bool> {
        Ok(self.i8()? != 0)
    }

    pub fn uuid(&mut self) -> DecodeResult<[u8; 16]> {
        self.need("uuid", 16)?;
        let mut out = [0u8; 16];
        self.buf.copy_to_slice(&mut out);
        Ok(out)
    }

    /// Takes the next `n` bytes as a zero-copy slice.
    pub fn take(&mut self, what: &'static str, n: usize) -> DecodeResult<Bytes> {
        self.need(what, n)?;
        Ok(self.buf.split_to(n))
    }

    pub fn skip(&mut self, what: &'static str, n: usize) -> DecodeResult<()> {
        self.need(what, n)?;
        self.buf.advance(n);
        Ok(())
    }

    /// Splits off the next `n` bytes as a reader of their own (for nested sized structures).
    pub fn sub_reader(&mut self, what: &'static str, n: usize) -> DecodeResult<Reader> {
        Ok(Reader::new(self.take(what, n)?))
    }

    /// Unsigned LEB128 varint of at most 5 bytes (u32).
    pub fn uvarint(&mut self) -> DecodeResult<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.u8().map_err(|_| DecodeError::Truncated {
                what: "varint",
                needed: i + 1,
                remaining: i,
            })?;
            if i == 4 && b > 0x0f {
                return Err(DecodeError::invalid("varint", "more than 32 bits"));
            }
            value |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::invalid("varint", "longer than 5 bytes"))
    }

    /// Unsigned LEB128 varint of at most 10 bytes (u64).
    pub fn uvarlong(&mut self) -> DecodeResult<u64> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.u8().map_err(|_| DecodeError::Truncated {
                what: "varlong",
                needed: i + 1,
                remaining: i,
            })?;
            if i == 9 && b > 0x01 {
                return Err(DecodeError::invalid("varlong", "more than 64 bits"));
            }
            value |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::invalid("varlong", "longer than 10 bytes"))
    }

    /// Zigzag-encoded signed varint (i32), as used inside record batches.
    pub fn varint(&mut self) -> DecodeResult<i32> {
        let v = self.uvarint()?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    /// Zigzag-encoded signed varlong (i64).
    pub fn varlong(&mut self) -> DecodeResult<i64> {
        let v = self.uvarlong()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A length prefix for a string or bytes field: `None` for null; checked against the rest of
    /// the frame.
    fn length(
        &mut self,
        what: &'static str,
        compact: bool,
        wide: bool,
    ) -> DecodeResult<Option<usize>> {
        let len: i64 = if compact {
            self.uvarint()? as i64 - 1
        } else if wide {
            self.i32()? as i64
        } else {
            self.i16()? as i64
        };
        if len < -1 {
            return Err(DecodeError::invalid(what, format!("negative length {len}")));
        }
        if len == -1 {
            return Ok(None);
        }
        let len = len as usize;
        self.need(what, len)?;
        Ok(Some(len))
    }

    pub fn nullable_string(&mut self, compact: bool) -> DecodeResult<Option<String>> {
        match self.length("string", compact, false)? {
            None => Ok(None),
            Some(n) => {
                let raw = self.buf.split_to(n);
                String::from_utf8(raw.to_vec())
                    .map(Some)
                    .map_err(|_| DecodeError::invalid("string", "not UTF-8"))
            }
        }
    }

    pub fn string(&mut self, compact: bool) -> DecodeResult<String> {
        self.nullable_string(compact)?
            .ok_or_else(|| DecodeError::invalid("string", "null where a string is required"))
    }

    pub fn nullable_bytes(&mut self, compact: bool) -> DecodeResult<Option<Bytes>> {
        match self.length("bytes", compact, true)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.buf.split_to(n))),
        }
    }

    pub fn bytes(&mut self, compact: bool) -> DecodeResult<Bytes> {
        self.nullable_bytes(compact)?
            .ok_or_else(|| DecodeError::invalid("bytes", "null where bytes are required"))
    }

    /// An array length: `None` for a null array. Capped by the bytes that remain, since every
    /// element is at least one byte on the wire.
    pub fn nullable_array_len(&mut self, compact: bool) -> DecodeResult<Option<usize>> {
        let len: i64 = if compact {
            self.uvarint()? as i64 - 1
        } else {
            self.i32()? as i64
        };
        if len < -1 {
            return Err(DecodeError::invalid(
                "array",
                format!("negative length {len}"),
            ));
        }
        if len == -1 {
            return Ok(None);
        }
        let len = len as usize;
        if len > self.buf.len() {
            return Err(DecodeError::invalid(
                "array",
                format!(
                    "{len} elements cannot fit in the {} bytes left",
                    self.buf.len()
                ),
            ));
        }
        Ok(Some(len))
    }

    /// Reads an array (a null array reads as empty) with `f` for each element.
    pub fn array<T>(
        &mut self,
        compact: bool,
        mut f: impl FnMut(&mut Reader) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        let n = self.nullable_array_len(compact)?.unwrap_or(0);
        let mut out = Vec::with_capacity(array_reservation::<T>(n, self.buf.len()));
        for _ in 0..n {
            out.push(f(self)?);
        }
        Ok(out)
    }

    /// Skips a tagged-field section (KIP-482); we read no tagged fields today.
    pub fn skip_tagged_fields(&mut self) -> DecodeResult<()> {
        let n = self.uvarint()? as usize;
        if n > self.buf.len() {
            return Err(DecodeError::invalid(
                "tagged fields",
                format!("{n} fields cannot fit"),
            ));
        }
        for _ in 0..n {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.skip("tagged field", size)?;
        }
        Ok(())
    }

    /// Skips the tagged-field section when `flexible`.
    #[inline]
    pub fn tagged_fields_if(&mut self, flexible: bool) -> DecodeResult<()> {
        if flexible {
            self.skip_tagged_fields()
        } else {
            Ok(())
        }
    }
}

/// How many elements [`Reader::array`] reserves up front for an array announced with `n`
/// elements when `remaining` bytes are left in the frame.
///
/// `n` is already capped by `remaining` (one byte per element), but an element can be far larger
/// in memory than on the wire: a DeleteTopics result is 72 bytes as a struct and can be 4 bytes
/// encoded. Reserving all `n` would let a frame of F bytes reserve about 100·F bytes (more with
/// nested arrays) before a single element is read, which the `responses` fuzz target caught.
/// So the reservation is capped at `remaining` bytes' worth of elements; an array that really
/// holds more grows as its elements decode.
fn array_reservation<T>(n: usize, remaining: usize) -> usize {
    n.min(remaining / std::mem::size_of::<T>().max(1))
}

/// Size of an unsigned varint encoding of `v`.
#[inline]
pub fn uvarint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Size of a zigzag varint encoding of `v`.
#[inline]
pub fn varint_len(v: i32) -> usize {
    uvarint_len(((v << 1) ^ (v >> 31)) as u32)
}

/// Size of a zigzag varlong encoding of `v`.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// Kafka's wire encodings on top of `BufMut`.
pub trait WireWrite: BufMut {
    #[inline]
    fn put_uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.put_u8(v as u8);
    }

    #[inline]
    fn put_uvarlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.put_u8(v as u8);
    }

    #[inline]
    fn put_varint(&mut self, v: i32) {
        self.put_uvarint(((v << 1) ^ (v >> 31)) as u32);
    }

    #[inline]
    fn put_varlong(&mut self, v: i64) {
        self.put_uvarlong(((v << 1) ^ (v >> 63)) as u64);
    }

    fn put_bool(&mut self, v: bool) {
        self.put_i8(v as i8);
    }

    /// A length prefix in the classic (`i16`/`i32`) or compact (`uvarint len + 1`) form; `None`
    /// writes null.
    fn put_len(&mut self, len: Option<usize>, compact: bool, wide: bool) {
        match (compact, len) {
            (true, None) => self.put_uvarint(0),
            (true, Some(n)) => self.put_uvarint(n as u32 + 1),
            (false, None) if wide => self.put_i32(-1),
            (false, None) => self.put_i16(-1),
            (false, Some(n)) if wide => self.put_i32(n as i32),
            (false, Some(n)) => self.put_i16(n as i16),
        }
    }

    fn put_string(&mut self, s: &str, compact: bool) {
        self.put_len(Some(s.len()), compact, false);
        self.put_slice(s.as_bytes());
    }

    fn put_nullable_string(&mut self, s: Option<&str>, compact: bool) {
        match s {
            Some(s) => self.put_string(s, compact),
            None => self.put_len(None, compact, false),
        }
    }

    fn put_nullable_bytes(&mut self, b: Option<&[u8]>, compact: bool) {
        self.put_len(b.map(|b| b.len()), compact, true);
        if let Some(b) = b {
            self.put_slice(b);
        }
    }

    fn put_array_len(&mut self, n: usize, compact: bool) {
        self.put_len(Some(n), compact, true);
    }

    /// An empty tagged-field section, when `flexible`.
    #[inline]
    fn put_tagged_fields_if(&mut self, flexible: bool) {
        if flexible {
            self.put_uvarint(0);
        }
    }
}

impl<T: BufMut + ?Sized> WireWrite for T {}

/// Writes `v` as a big-endian i32 at `pos` of `buf` (to back-fill a length or CRC).
pub fn patch_i32(buf: &mut BytesMut, pos: usize, v: i32) {
    buf[pos..pos + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader {
        Reader::new(Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0i32, 1, -1, 63, -64, 64, 300, -300, i32::MAX, i32::MIN] {
            let mut b = BytesMut::new();
            b.put_varint(v);
            assert_eq!(b.len(), varint_len(v), "{v}");
            assert_eq!(reader(&b).varint().unwrap(), v);
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut b = BytesMut::new();
            b.put_varlong(v);
            assert_eq!(b.len(), varlong_len(v), "{v}");
            assert_eq!(reader(&b).varlong().unwrap(), v);
        }
    }

    #[test]
    fn zigzag_matches_the_protocol_guide() {
        // 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, 2147483647 -> 4294967294
        let mut b = BytesMut::new();
        b.put_varint(-2);
        assert_eq!(&b[..], &[3]);
        let mut b = BytesMut::new();
        b.put_varint(150);
        assert_eq!(&b[..], &[0xac, 0x02]);
    }

    #[test]
    fn overlong_varints_are_rejected() {
        assert!(reader(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
            .uvarint()
            .is_err());
        assert!(reader(&[0xff, 0xff, 0xff, 0xff, 0x7f]).uvarint().is_err());
        assert!(reader(&[0x80]).uvarint().is_err());
    }

    #[test]
    fn strings_and_bytes_in_both_forms() {
        for compact in [false, true] {
            let mut b = BytesMut::new();
            b.put_string("héllo", compact);
            b.put_nullable_string(None, compact);
            b.put_nullable_bytes(Some(b"\x00\x01"), compact);
            b.put_nullable_bytes(None, compact);
            let mut r = reader(&b);
            assert_eq!(r.string(compact).unwrap(), "héllo");
            assert_eq!(r.nullable_string(compact).unwrap(), None);
            assert_eq!(&r.bytes(compact).unwrap()[..], b"\x00\x01");
            assert_eq!(r.nullable_bytes(compact).unwrap(), None);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn hostile_lengths_fail_before_allocating() {
        // A string claiming 32767 bytes with 2 present.
        assert!(matches!(
            reader(&[0x7f, 0xff, b'a', b'b']).string(false),
            Err(DecodeError::Truncated { .. })
        ));
        // An array claiming i32::MAX elements.
        let err = reader(&[0x7f, 0xff, 0xff, 0xff, 0, 0])
            .array(false, |r| r.i8())
            .unwrap_err();
        assert!(matches!(err, DecodeError::Invalid { what: "array", .. }));
        // A compact array claiming 2^32-2 elements.
        let err = reader(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .array(true, |r| r.i8())
            .unwrap_err();
        assert!(matches!(err, DecodeError::Invalid { what: "array", .. }));
        // Bytes with a length below -1.
        assert!(reader(&[0xff, 0xff, 0xff, 0xfe]).bytes(false).is_err());
    }

    #[test]
    fn array_reservation_is_capped_by_the_bytes_left() {
        // Regression (fuzz target `responses`): CreateTopics v7 announcing 50 topics with 50
        // bytes left reserved 50 * 96 bytes before reading a topic.
        assert_eq!(array_reservation::<[u8; 96]>(50, 50), 0);
        assert_eq!(array_reservation::<[u8; 96]>(50, 4800), 50);
        assert_eq!(array_reservation::<[u8; 96]>(50, 1000), 10);
        // Elements no larger than their minimal encoding keep the announced count.
        assert_eq!(array_reservation::<i32>(10, 40), 10);
        assert_eq!(array_reservation::<u8>(7, 7), 7);
        assert_eq!(array_reservation::<()>(5, 5), 5);
        // Arrays still decode whole when the reservation falls short.
        let mut b = BytesMut::new();
        b.put_array_len(3, false);
        b.put_slice(&[1, 2, 3]);
        let big = reader(&b).array(false, |r| Ok([r.u8()?; 96])).unwrap();
        assert_eq!(big.iter().map(|e| e[95]).collect::<Vec<_>>(), [1, 2, 3]);
    }

    #[test]
    fn tagged_fields_are_skipped() {
        let mut b = BytesMut::new();
        b.put_uvarint(2);
        b.put_uvarint(0);
        b.put_uvarint(3);
        b.put_slice(b"abc");
        b.put_uvarint(7);
        b.put_uvarint(0);
        b.put_i8(42);
        let mut r = reader(&b);
        r.skip_tagged_fields().unwrap();
        assert_eq!(r.i8().unwrap(), 42);
    }
}
