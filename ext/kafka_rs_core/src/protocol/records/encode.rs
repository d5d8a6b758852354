//! The magic-2 record batch encoder (KIP-98 format), written straight into a request buffer.
//!
//! Batch layout (61 header bytes, then the records):
//!
//! ```text
//! offset  field                 notes
//!  0      baseOffset      i64   0 in a Produce request (the broker assigns offsets)
//!  8      batchLength     i32   bytes after this field; back-filled
//! 12      partitionLeaderEpoch  -1 from producers
//! 16      magic           i8    2
//! 17      crc             u32   CRC32C of bytes 21..end; back-filled
//! 21      attributes      i16   codec (bits 0-2) | transactional (bit 4)
//! 23      lastOffsetDelta i32   record count - 1
//! 27      baseTimestamp   i64   first record's timestamp
//! 35      maxTimestamp    i64   largest record timestamp
//! 43      producerId      i64   \
//! 51      producerEpoch   i16    } BatchIdentity
//! 53      baseSequence    i32   /
//! 57      recordCount     i32
//! 61      records               compressed as a whole when the codec is not None
//! ```
//!
//! Each record: `length varint | attributes i8 (0) | timestampDelta varlong | offsetDelta varint |
//! key (varint length, -1 = null) | value (same) | header count varint | headers (key varint
//! length + UTF-8, value varint length, -1 = null)`.
//!
//! Cost: the encoder walks the records twice (once to size, once to write), reserves the buffer
//! once, and allocates nothing per record. Compressed batches use two scratch buffers per batch
//! (the records section, and its compressed form).

use std::borrow::Borrow;

use bytes::{BufMut, BytesMut};

use super::{compression, BatchIdentity, Compression, ProduceRecord, RecordsError};
use crate::protocol::codec::{patch_i32, uvarint_len, varint_len, varlong_len, WireWrite};

/// Bytes of a magic-2 batch before its first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes of the header that `batchLength` does not count (baseOffset and batchLength).
pub(crate) const LOG_OVERHEAD: usize = 12;
pub(crate) const LENGTH_AT: usize = 8;
pub(crate) const MAGIC_AT: usize = 16;
pub(crate) const CRC_AT: usize = 17;
/// Where the CRC32C coverage starts (the attributes).
pub(crate) const ATTRIBUTES_AT: usize = 21;

pub(crate) const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
pub(crate) const ATTR_TRANSACTIONAL: i16 = 0x10;
pub(crate) const ATTR_CONTROL: i16 = 0x20;

/// Writes the `records` field of a Produce request for one partition: the length prefix (i32, or
/// compact uvarint `len + 1` when `compact`) followed by one magic-2 batch holding `records`
/// (base offset 0).
pub fn put_produce_records<R: Borrow<ProduceRecord>>(
    buf: &mut BytesMut,
    records: &[R],
    identity: BatchIdentity,
    compression: Compression,
    compact: bool,
) -> Result<(), RecordsError> {
    write_batch(buf, records, identity, compression, 0, Some(compact)).map(|_| ())
}

/// Writes one bare magic-2 batch (no length prefix) at the end of `buf`; returns its size in
/// bytes.
pub fn encode_batch<R: Borrow<ProduceRecord>>(
    buf: &mut BytesMut,
    records: &[R],
    identity: BatchIdentity,
    compression: Compression,
    base_offset: i64,
) -> Result<usize, RecordsError> {
    write_batch(buf, records, identity, compression, base_offset, None)
}

/// The exact size of the uncompressed magic-2 batch holding `records`, header included.
pub fn encoded_batch_len<R: Borrow<ProduceRecord>>(records: &[R]) -> Result<usize, RecordsError> {
    Ok(BATCH_HEADER_LEN + plan(records)?.records_len)
}

/// What the sizing pass learns.
struct Plan {
    base_timestamp: i64,
    max_timestamp: i64,
    /// The uncompressed records section, in bytes.
    records_len: usize,
}

fn plan<R: Borrow<ProduceRecord>>(records: &[R]) -> Result<Plan, RecordsError> {
    let first = records.first().ok_or(RecordsError::EmptyBatch)?.borrow();
    let base_timestamp = first.timestamp_ms;
    let mut max_timestamp = base_timestamp;
    let mut records_len = 0usize;
    for (i, record) in records.iter().enumerate() {
        let record = record.borrow();
        max_timestamp = max_timestamp.max(record.timestamp_ms);
        let body = record_body_len(
            record,
            i as i32,
            record.timestamp_ms.wrapping_sub(base_timestamp),
        );
        records_len += varint_len(body as i32) + body;
    }
    // Every field and count is part of the records section, so one check on its total covers
    // them all: past this point every length and count fits an i32. (The sums cannot overflow a
    // usize: each term is backed by bytes that exist in memory.)
    if records_len > i32::MAX as usize - BATCH_HEADER_LEN {
        return Err(RecordsError::TooLarge {
            what: "record batch",
            len: records_len,
        });
    }
    Ok(Plan {
        base_timestamp,
        max_timestamp,
        records_len,
    })
}

#[inline]
fn bytes_field_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

/// Bytes of a record after its length prefix.
#[inline]
fn record_body_len(record: &ProduceRecord, offset_delta: i32, timestamp_delta: i64) -> usize {
    let mut n = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
    n += bytes_field_len(record.key.as_deref());
    n += bytes_field_len(record.value.as_deref());
    n += varint_len(record.headers.len() as i32);
    for h in &record.headers {
        n += bytes_field_len(Some(h.key.as_bytes())) + bytes_field_len(h.value.as_deref());
    }
    n
}

#[inline]
fn put_bytes_field<B: BufMut>(out: &mut B, b: Option<&[u8]>) {
    match b {
        None => out.put_varint(-1),
        Some(b) => {
            out.put_varint(b.len() as i32);
            out.put_slice(b);
        }
    }
}

/// Writes the records section (uncompressed) into `out`.
fn put_records<B: BufMut, R: Borrow<ProduceRecord>>(
    out: &mut B,
    records: &[R],
    base_timestamp: i64,
) {
    for (i, record) in records.iter().enumerate() {
        let record = record.borrow();
        let offset_delta = i as i32;
        let timestamp_delta = record.timestamp_ms.wrapping_sub(base_timestamp);
        out.put_varint(record_body_len(record, offset_delta, timestamp_delta) as i32);
        out.put_i8(0);
        out.put_varlong(timestamp_delta);
        out.put_varint(offset_delta);
        put_bytes_field(out, record.key.as_deref());
        put_bytes_field(out, record.value.as_deref());
        out.put_varint(record.headers.len() as i32);
        for h in &record.headers {
            put_bytes_field(out, Some(h.key.as_bytes()));
            put_bytes_field(out, h.value.as_deref());
        }
    }
}

/// Writes `[prefix] batch` at the end of `buf`; returns the batch size (prefix excluded).
fn write_batch<R: Borrow<ProduceRecord>>(
    buf: &mut BytesMut,
    records: &[R],
    identity: BatchIdentity,
    compression: Compression,
    base_offset: i64,
    prefix_compact: Option<bool>,
) -> Result<usize, RecordsError> {
    let plan = plan(records)?;
    let compressed = match compression {
        Compression::None => None,
        codec => {
            let mut section = Vec::with_capacity(plan.records_len);
            put_records(&mut section, records, plan.base_timestamp);
            debug_assert_eq!(section.len(), plan.records_len);
            let mut out = Vec::with_capacity(plan.records_len / 2 + 64);
            compression::compress(codec, &section, &mut out)?;
            if out.len() > i32::MAX as usize - BATCH_HEADER_LEN {
                return Err(RecordsError::TooLarge {
                    what: "compressed record batch",
                    len: out.len(),
                });
            }
            Some(out)
        }
    };
    let batch_len = BATCH_HEADER_LEN + compressed.as_ref().map_or(plan.records_len, Vec::len);

    let prefix_len = match prefix_compact {
        None => 0,
        Some(true) => uvarint_len(batch_len as u32 + 1),
        Some(false) => 4,
    };
    buf.reserve(prefix_len + batch_len);
    match prefix_compact {
        None => {}
        Some(true) => buf.put_uvarint(batch_len as u32 + 1),
        Some(false) => buf.put_i32(batch_len as i32),
    }

    let start = buf.len();
    let mut attributes = compression as i16;
    if identity.transactional {
        attributes |= ATTR_TRANSACTIONAL;
    }
    buf.put_i64(base_offset);
    buf.put_i32((batch_len - LOG_OVERHEAD) as i32);
    buf.put_i32(-1); // partitionLeaderEpoch
    buf.put_i8(2); // magic
    buf.put_u32(0); // crc, back-filled
    buf.put_i16(attributes);
    buf.put_i32(records.len() as i32 - 1); // lastOffsetDelta
    buf.put_i64(plan.base_timestamp);
    buf.put_i64(plan.max_timestamp);
    buf.put_i64(identity.producer_id);
    buf.put_i16(identity.producer_epoch);
    buf.put_i32(identity.base_sequence);
    buf.put_i32(records.len() as i32);
    match &compressed {
        None => put_records(buf, records, plan.base_timestamp),
        Some(bytes) => buf.put_slice(bytes),
    }
    debug_assert_eq!(buf.len() - start, batch_len);
    let crc = crc32c::crc32c(&buf[start + ATTRIBUTES_AT..]);
    patch_i32(buf, start + CRC_AT, crc as i32);
    Ok(batch_len)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::records::RecordHeader;

    fn record(key: Option<&[u8]>, value: Option<&[u8]>, ts: i64) -> ProduceRecord {
        ProduceRecord {
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: Vec::new(),
            timestamp_ms: ts,
        }
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    /// Builds the expected bytes field by field from the protocol guide's layout, with the CRC
    /// computed by a bitwise CRC32C written here (not the crate used by the encoder).
    #[test]
    fn matches_a_batch_built_by_hand() {
        fn crc32c_bitwise(data: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &b in data {
                crc ^= b as u32;
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0x82F6_3B78
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        assert_eq!(crc32c_bitwise(b"123456789"), 0xE306_9283);

        let records = [
            ProduceRecord {
                key: Some(Bytes::from_static(b"k")),
                value: Some(Bytes::from_static(b"v1")),
                headers: vec![RecordHeader {
                    key: "h".into(),
                    value: None,
                }],
                timestamp_ms: 1000,
            },
            record(None, None, 998),
        ];
        let identity = BatchIdentity {
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 5,
            transactional: true,
        };

        // Record 0: attrs 0, tsDelta 0, offsetDelta 0, key "k", value "v1", 1 header ("h", null).
        let r0: &[u8] = &[
            0x00, 0x00, 0x00, 0x02, b'k', 0x04, b'v', b'1', 0x02, 0x02, b'h', 0x01,
        ];
        // Record 1: tsDelta -2 (zigzag 3), offsetDelta 1 (zigzag 2), null key, null value, 0 headers.
        let r1: &[u8] = &[0x00, 0x03, 0x02, 0x01, 0x01, 0x00];
        let mut records_section = Vec::new();
        records_section.push((r0.len() as u8) << 1);
        records_section.extend_from_slice(r0);
        records_section.push((r1.len() as u8) << 1);
        records_section.extend_from_slice(r1);

        let mut after_crc = Vec::new();
        after_crc.extend_from_slice(&0x0010i16.to_be_bytes()); // attributes: transactional
        after_crc.extend_from_slice(&1i32.to_be_bytes()); // lastOffsetDelta
        after_crc.extend_from_slice(&1000i64.to_be_bytes()); // baseTimestamp
        after_crc.extend_from_slice(&1000i64.to_be_bytes()); // maxTimestamp
        after_crc.extend_from_slice(&7i64.to_be_bytes());
        after_crc.extend_from_slice(&1i16.to_be_bytes());
        after_crc.extend_from_slice(&5i32.to_be_bytes());
        after_crc.extend_from_slice(&2i32.to_be_bytes()); // recordCount
        after_crc.extend_from_slice(&records_section);

        let mut expected = Vec::new();
        expected.extend_from_slice(&0i64.to_be_bytes());
        expected.extend_from_slice(&((4 + 1 + 4 + after_crc.len()) as i32).to_be_bytes());
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        expected.push(2);
        expected.extend_from_slice(&crc32c_bitwise(&after_crc).to_be_bytes());
        expected.extend_from_slice(&after_crc);

        let mut buf = BytesMut::new();
        let n = encode_batch(&mut buf, &records, identity, Compression::None, 0).unwrap();
        assert_eq!(n, expected.len());
        assert_eq!(&buf[..], &expected[..]);
        assert_eq!(encoded_batch_len(&records).unwrap(), expected.len());

        // The Produce field: i32 prefix, or compact uvarint len+1.
        let mut buf = BytesMut::new();
        put_produce_records(&mut buf, &records, identity, Compression::None, false).unwrap();
        assert_eq!(&buf[..4], &(expected.len() as i32).to_be_bytes());
        assert_eq!(&buf[4..], &expected[..]);
        let mut buf = BytesMut::new();
        put_produce_records(&mut buf, &records, identity, Compression::None, true).unwrap();
        assert_eq!(buf[0] as usize, expected.len() + 1);
        assert_eq!(&buf[1..], &expected[..]);
    }

    #[test]
    fn compact_prefix_is_exact_for_multi_byte_lengths_and_every_codec() {
        let big = vec![7u8; 300];
        let records: Vec<ProduceRecord> = (0..50)
            .map(|i| record(Some(b"key"), Some(&big), i))
            .collect();
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            for compact in [false, true] {
                let mut buf = BytesMut::from(&b"xyz"[..]);
                put_produce_records(&mut buf, &records, BatchIdentity::default(), codec, compact)
                    .unwrap();
                let mut r = crate::protocol::codec::Reader::new(buf.freeze());
                r.skip("prefix", 3).unwrap();
                let field = r.bytes(compact).unwrap();
                assert!(r.is_empty());
                let len = i32::from_be_bytes(field[8..12].try_into().unwrap()) as usize;
                assert_eq!(len + LOG_OVERHEAD, field.len(), "{codec:?}");
                assert_eq!(i16::from_be_bytes([field[21], field[22]]) & 7, codec as i16);
            }
        }
    }

    #[test]
    fn empty_batches_are_refused() {
        let none: [ProduceRecord; 0] = [];
        let mut buf = BytesMut::new();
        let err = put_produce_records(
            &mut buf,
            &none,
            BatchIdentity::default(),
            Compression::None,
            true,
        );
        assert_eq!(err, Err(RecordsError::EmptyBatch));
        assert!(buf.is_empty());
    }

    #[test]
    fn one_allocation_for_an_uncompressed_batch_and_none_per_record() {
        use crate::protocol::records::alloc_count::allocations;
        let value = vec![1u8; 1000];
        let records: Vec<ProduceRecord> = (0..100)
            .map(|i| ProduceRecord {
                headers: vec![RecordHeader {
                    key: "h".into(),
                    value: Some(Bytes::from_static(b"v")),
                }],
                ..record(Some(b"k"), Some(&value), i)
            })
            .collect();
        let refs: Vec<&ProduceRecord> = records.iter().collect();
        let (buf, n) = allocations(|| {
            let mut buf = BytesMut::new();
            put_produce_records(
                &mut buf,
                &refs,
                BatchIdentity::default(),
                Compression::None,
                true,
            )
            .unwrap();
            buf
        });
        assert_eq!(n, 1, "one reservation, nothing per record");
        let (_, n) = allocations(|| {
            let mut again = BytesMut::with_capacity(buf.len());
            put_produce_records(
                &mut again,
                &records,
                BatchIdentity::default(),
                Compression::None,
                true,
            )
            .unwrap();
            assert_eq!(again, buf);
        });
        assert_eq!(
            n, 1,
            "only the with_capacity above: the right-sized buffer is never grown"
        );
    }
}
