//! Magic 0 and 1 message sets (the formats before KIP-98), read on fetch only.
//!
//! ```text
//! message set entry:  offset i64 | message_size i32 | message
//! message:            crc u32 (CRC32 of magic..end) | magic i8 | attributes i8
//!                     | timestamp i64 (magic 1 only) | key bytes (i32 length, -1 = null)
//!                     | value bytes (i32 length, -1 = null)
//! attributes:         bits 0-2 codec (none, gzip, snappy, lz4) | bit 3 LogAppendTime (magic 1)
//! ```
//!
//! The `offset` and `message_size` fields take the places of a magic-2 batch's `baseOffset` and
//! `batchLength`, and the magic byte sits at the same position in both, so [`RecordBatches`]
//! frames either kind alike and hands the entry here by its magic.
//!
//! A compressed message (a "wrapper") carries a whole inner message set, compressed, as its
//! value. Inner offsets are absolute under a magic-0 wrapper. Under a magic-1 wrapper (KIP-31)
//! they are relative, 0 upward, and the wrapper's offset is the absolute offset of the last inner
//! message: `absolute = wrapper_offset - last_inner_relative + inner_relative` (a wrapper offset
//! of 0 means the producer left it unset: inner offsets are then taken as they are). Under a
//! magic-1 wrapper with LogAppendTime, every inner record takes the wrapper's timestamp.
//!
//! Wrappers are decompressed when the entry is framed (a batch needs its first offset and its
//! record count); the inner messages are decoded one at a time, each CRC checked.
//!
//! [`RecordBatches`]: super::RecordBatches

use bytes::Bytes;

use super::compression::{decompress, decompression_limit, repair_magic0_lz4_header};
use super::decode::{FetchedRecord, TimestampType};
use super::Compression;
use crate::protocol::codec::{DecodeError, DecodeResult, Reader};

/// crc, magic, attributes, key length and value length: the smallest magic-0 message.
pub(crate) const MIN_MESSAGE_LEN: usize = 14;
/// offset and message_size.
const ENTRY_OVERHEAD: usize = 12;
const ATTR_LOG_APPEND_TIME: i8 = 0x08;

/// One message set entry, as the header fields of a batch.
#[derive(Debug)]
pub(crate) struct LegacyEntry {
    pub base_offset: i64,
    pub last_offset: i64,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub timestamp: i64,
    pub record_count: i32,
    pub compression: Compression,
    pub body: LegacyBody,
}

#[derive(Debug, Clone)]
pub(crate) enum LegacyBody {
    /// An uncompressed message: one record, already decoded.
    Single(FetchedRecord),
    /// The decompressed inner message set of a wrapper.
    Wrapped {
        inner: Bytes,
        /// Added to each inner offset (0 when inner offsets are absolute).
        offset_base: i64,
        /// The wrapper's timestamp when it is LogAppendTime (magic-1 wrapper).
        log_append_time: Option<i64>,
    },
}

impl LegacyBody {
    pub(crate) fn records(&self) -> LegacyRecords {
        match self {
            LegacyBody::Single(record) => LegacyRecords {
                single: Some(record.clone()),
                inner: Bytes::new(),
                offset_base: 0,
                log_append_time: None,
            },
            LegacyBody::Wrapped {
                inner,
                offset_base,
                log_append_time,
            } => LegacyRecords {
                single: None,
                inner: inner.clone(),
                offset_base: *offset_base,
                log_append_time: *log_append_time,
            },
        }
    }
}

struct Message {
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// Decodes one message (`crc..end`), checking its CRC32.
fn parse_message(message: Bytes) -> DecodeResult<Message> {
    if message.len() < MIN_MESSAGE_LEN {
        return Err(DecodeError::invalid(
            "legacy message",
            format!("{} bytes is below the smallest message", message.len()),
        ));
    }
    let computed = crc32fast::hash(&message[4..]);
    let mut r = Reader::new(message);
    let crc = r.u32()?;
    if crc != computed {
        return Err(DecodeError::invalid(
            "legacy message",
            format!("CRC32 mismatch: stored {crc:#010x}, computed {computed:#010x}"),
        ));
    }
    let magic = r.i8()?;
    if magic != 0 && magic != 1 {
        return Err(DecodeError::invalid(
            "legacy message",
            format!("magic {magic}"),
        ));
    }
    let attributes = r.i8()?;
    let timestamp = if magic == 1 { r.i64()? } else { -1 };
    let key = r.nullable_bytes(false)?;
    let value = r.nullable_bytes(false)?;
    if !r.is_empty() {
        return Err(DecodeError::invalid(
            "legacy message",
            format!("{} bytes left after the value", r.remaining()),
        ));
    }
    Ok(Message {
        crc,
        magic,
        attributes,
        timestamp,
        key,
        value,
    })
}

/// Splits the next entry off `set`: `(offset, message)`. The caller has checked that `set` is not
/// empty; inside a decompressed set, an entry cut short is an error.
fn next_entry(set: &mut Bytes) -> DecodeResult<(i64, Bytes)> {
    if set.len() < ENTRY_OVERHEAD {
        return Err(DecodeError::invalid(
            "legacy message set",
            "inner message cut short",
        ));
    }
    let offset = i64::from_be_bytes(set[..8].try_into().expect("8 bytes"));
    let size = i32::from_be_bytes(set[8..12].try_into().expect("4 bytes"));
    if size < MIN_MESSAGE_LEN as i32 || ENTRY_OVERHEAD + size as usize > set.len() {
        return Err(DecodeError::invalid(
            "legacy message set",
            format!(
                "inner message cut short: {size} bytes with {} left",
                set.len() - ENTRY_OVERHEAD
            ),
        ));
    }
    let mut entry = set.split_to(ENTRY_OVERHEAD + size as usize);
    Ok((offset, entry.split_off(ENTRY_OVERHEAD)))
}

/// Decodes one complete, framed message set entry (`offset..end`) into batch header fields.
pub(crate) fn parse_entry(mut raw: Bytes) -> DecodeResult<LegacyEntry> {
    let (offset, message) = next_entry(&mut raw)?;
    let m = parse_message(message)?;
    let compression = Compression::from_attributes(m.attributes as i16)?;
    let attributes = m.attributes as u8 as i16;
    if compression == Compression::None {
        let timestamp_type = if m.magic == 1 && m.attributes & ATTR_LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        return Ok(LegacyEntry {
            base_offset: offset,
            last_offset: offset,
            magic: m.magic,
            crc: m.crc,
            attributes,
            timestamp: m.timestamp,
            record_count: 1,
            compression,
            body: LegacyBody::Single(FetchedRecord {
                offset,
                timestamp_ms: m.timestamp,
                timestamp_type,
                key: m.key,
                value: m.value,
                headers: Vec::new(),
            }),
        });
    }

    if compression == Compression::Zstd {
        return Err(DecodeError::invalid("legacy message", "zstd needs magic 2"));
    }
    let compressed = m.value.ok_or_else(|| {
        DecodeError::invalid("legacy message", "compressed wrapper with a null value")
    })?;
    let limit = decompression_limit(compressed.len());
    let inner = if m.magic == 0 && compression == Compression::Lz4 {
        decompress(compression, &repair_magic0_lz4_header(&compressed), limit)?
    } else {
        decompress(compression, &compressed, limit)?
    };
    let inner = Bytes::from(inner);

    // First pass: count the inner messages and find the first and last inner offsets.
    let (mut count, mut first, mut last) = (0i32, 0i64, 0i64);
    let mut scan = inner.clone();
    while !scan.is_empty() {
        let (inner_offset, message) = next_entry(&mut scan)?;
        if message[5] & 0x07 != 0 {
            return Err(DecodeError::invalid(
                "legacy message set",
                "a compressed message inside a compressed one",
            ));
        }
        if count == 0 {
            first = inner_offset;
        }
        last = inner_offset;
        count += 1;
    }
    if count == 0 {
        return Err(DecodeError::invalid(
            "legacy message set",
            "compressed wrapper with no messages",
        ));
    }

    let offset_base = if m.magic == 0 || offset == 0 {
        0
    } else if offset < last {
        return Err(DecodeError::invalid(
            "legacy message set",
            format!("wrapper offset {offset} is below the last relative inner offset {last}"),
        ));
    } else {
        offset - last
    };
    let absolute = |relative: i64| {
        offset_base
            .checked_add(relative)
            .ok_or_else(|| DecodeError::invalid("legacy message set", "inner offset overflows"))
    };
    let log_append_time =
        (m.magic == 1 && m.attributes & ATTR_LOG_APPEND_TIME != 0).then_some(m.timestamp);
    Ok(LegacyEntry {
        base_offset: absolute(first)?,
        last_offset: absolute(last)?,
        magic: m.magic,
        crc: m.crc,
        attributes,
        timestamp: m.timestamp,
        record_count: count,
        compression,
        body: LegacyBody::Wrapped {
            inner,
            offset_base,
            log_append_time,
        },
    })
}

/// The records of one legacy entry.
#[derive(Debug)]
pub(crate) struct LegacyRecords {
    single: Option<FetchedRecord>,
    inner: Bytes,
    offset_base: i64,
    log_append_time: Option<i64>,
}

impl LegacyRecords {
    fn inner_record(&mut self) -> DecodeResult<FetchedRecord> {
        let (inner_offset, message) = next_entry(&mut self.inner)?;
        let m = parse_message(message)?;
        if m.attributes & 0x07 != 0 {
            return Err(DecodeError::invalid(
                "legacy message set",
                "a compressed message inside a compressed one",
            ));
        }
        let offset = self
            .offset_base
            .checked_add(inner_offset)
            .ok_or_else(|| DecodeError::invalid("legacy message set", "inner offset overflows"))?;
        let (timestamp_ms, timestamp_type) = match (m.magic, self.log_append_time) {
            (0, _) => (-1, TimestampType::CreateTime),
            (_, Some(ts)) => (ts, TimestampType::LogAppendTime),
            (_, None) => (m.timestamp, TimestampType::CreateTime),
        };
        Ok(FetchedRecord {
            offset,
            timestamp_ms,
            timestamp_type,
            key: m.key,
            value: m.value,
            headers: Vec::new(),
        })
    }
}

impl Iterator for LegacyRecords {
    type Item = DecodeResult<FetchedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(record) = self.single.take() {
            return Some(Ok(record));
        }
        if self.inner.is_empty() {
            return None;
        }
        let record = self.inner_record();
        if record.is_err() {
            self.inner = Bytes::new();
        }
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use bytes::{BufMut, BytesMut};

    use super::*;
    use crate::protocol::records::{decode_records, decode_records_from, Batch, RecordBatches};

    /// One message set entry, built field by field from the layout above.
    fn entry(
        offset: i64,
        magic: i8,
        attributes: i8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut body = Vec::new();
        body.push(magic as u8);
        body.push(attributes as u8);
        if magic == 1 {
            body.extend_from_slice(&timestamp.to_be_bytes());
        }
        for field in [key, value] {
            match field {
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(b) => {
                    body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    body.extend_from_slice(b);
                }
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn records(bytes: Vec<u8>) -> Vec<FetchedRecord> {
        decode_records(Bytes::from(bytes))
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn magic0_byte_vector() {
        // offset 5, size 19, crc, magic 0, attributes 0, key "ab", value "xyz".
        let mut bytes: Vec<u8> = vec![0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 19];
        let body: &[u8] = &[0, 0, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 3, b'x', b'y', b'z'];
        bytes.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
        bytes.extend_from_slice(body);
        assert_eq!(bytes, entry(5, 0, 0, 0, Some(b"ab"), Some(b"xyz")));
        let fetched = records(bytes);
        assert_eq!(
            fetched,
            vec![FetchedRecord {
                offset: 5,
                timestamp_ms: -1,
                timestamp_type: TimestampType::CreateTime,
                key: Some(Bytes::from_static(b"ab")),
                value: Some(Bytes::from_static(b"xyz")),
                headers: vec![],
            }]
        );
    }

    #[test]
    fn magic1_messages_with_both_timestamp_types_and_nulls() {
        let mut bytes = entry(7, 1, 0, 1234, None, Some(b"v"));
        bytes.extend(entry(8, 1, ATTR_LOG_APPEND_TIME, 5678, Some(b"k"), None));
        let fetched = records(bytes.clone());
        assert_eq!(fetched.len(), 2);
        assert_eq!(
            (
                fetched[0].offset,
                fetched[0].timestamp_ms,
                fetched[0].timestamp_type
            ),
            (7, 1234, TimestampType::CreateTime)
        );
        assert_eq!(
            (fetched[0].key.clone(), fetched[0].value.clone()),
            (None, Some(Bytes::from_static(b"v")))
        );
        assert_eq!(
            (
                fetched[1].offset,
                fetched[1].timestamp_ms,
                fetched[1].timestamp_type
            ),
            (8, 5678, TimestampType::LogAppendTime)
        );
        assert_eq!(fetched[1].value, None);

        let batches: Vec<Batch> = RecordBatches::new(Bytes::from(bytes))
            .map(Result::unwrap)
            .collect();
        assert_eq!(batches[0].magic, 1);
        assert_eq!(
            (
                batches[0].base_offset,
                batches[0].last_offset(),
                batches[0].record_count
            ),
            (7, 7, 1)
        );
        assert_eq!(batches[1].timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(batches[0].producer_id, -1);
    }

    #[test]
    fn gzip_wrapped_magic1_set_uses_relative_offsets() {
        // Three inner messages with relative offsets 0..2; the wrapper sits at absolute 102.
        let mut inner = Vec::new();
        for (i, v) in [&b"one"[..], b"two", b"three"].iter().enumerate() {
            inner.extend(entry(i as i64, 1, 0, 1000 + i as i64, Some(b"k"), Some(v)));
        }
        let wrapper = entry(102, 1, 1, 999, None, Some(&gzip(&inner)));
        let mut bytes = entry(99, 1, 0, 1, None, Some(b"before"));
        bytes.extend(wrapper.clone());
        let fetched = records(bytes.clone());
        let seen: Vec<(i64, i64, &[u8])> = fetched
            .iter()
            .map(|r| (r.offset, r.timestamp_ms, r.value.as_deref().unwrap()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (99, 1, &b"before"[..]),
                (100, 1000, &b"one"[..]),
                (101, 1001, &b"two"[..]),
                (102, 1002, &b"three"[..])
            ]
        );
        let batches: Vec<Batch> = RecordBatches::new(Bytes::from(bytes.clone()))
            .map(Result::unwrap)
            .collect();
        let b = &batches[1];
        assert_eq!(
            (b.base_offset, b.last_offset(), b.record_count),
            (100, 102, 3)
        );
        assert_eq!(b.compression(), Compression::Gzip);
        let from: Vec<i64> = decode_records_from(Bytes::from(bytes), 101)
            .map(|r| r.unwrap().offset)
            .collect();
        assert_eq!(from, vec![101, 102]);

        // LogAppendTime on the wrapper overrides the inner timestamps.
        let wrapper = entry(
            102,
            1,
            1 | ATTR_LOG_APPEND_TIME,
            999,
            None,
            Some(&gzip(&inner)),
        );
        for r in records(wrapper) {
            assert_eq!(
                (r.timestamp_ms, r.timestamp_type),
                (999, TimestampType::LogAppendTime)
            );
        }
    }

    #[test]
    fn wrapped_magic0_set_keeps_absolute_offsets_for_every_legacy_codec() {
        let mut inner = Vec::new();
        for offset in [40i64, 41] {
            inner.extend(entry(offset, 0, 0, 0, None, Some(b"payload")));
        }
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let mut compressed = Vec::new();
            super::super::compression::compress(codec, &inner, &mut compressed).unwrap();
            let fetched = records(entry(41, 0, codec as i8, 0, None, Some(&compressed)));
            let offsets: Vec<(i64, i64)> =
                fetched.iter().map(|r| (r.offset, r.timestamp_ms)).collect();
            assert_eq!(offsets, vec![(40, -1), (41, -1)], "{codec:?}");
        }
    }

    #[test]
    fn magic0_lz4_with_the_old_broken_header_checksum_is_read() {
        let inner = entry(3, 0, 0, 0, None, Some(b"lz4 v0"));
        let mut compressed = Vec::new();
        super::super::compression::compress(Compression::Lz4, &inner, &mut compressed).unwrap();
        compressed[6] = (twox_hash::XxHash32::oneshot(0, &compressed[..6]) >> 8) as u8;
        let fetched = records(entry(
            3,
            0,
            Compression::Lz4 as i8,
            0,
            None,
            Some(&compressed),
        ));
        assert_eq!(fetched[0].value.as_deref(), Some(&b"lz4 v0"[..]));
    }

    #[test]
    fn bad_legacy_input_is_an_error() {
        let inner = entry(0, 1, 0, 0, None, Some(b"x"));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("CRC32", {
                let mut b = entry(0, 1, 0, 0, None, Some(b"x"));
                *b.last_mut().unwrap() ^= 1;
                b
            }),
            ("zstd", entry(0, 1, 4, 0, None, Some(b"x"))),
            ("null value", entry(0, 1, 1, 0, None, None)),
            ("no messages", entry(0, 1, 1, 0, None, Some(&gzip(b"")))),
            ("inside a compressed", {
                let nested = entry(0, 1, 1, 0, None, Some(&gzip(&inner)));
                entry(0, 1, 1, 0, None, Some(&gzip(&nested)))
            }),
            ("below the last relative", {
                let mut two = inner.clone();
                two.extend(entry(5, 1, 0, 0, None, Some(b"y")));
                entry(3, 1, 1, 0, None, Some(&gzip(&two)))
            }),
            (
                "cut short",
                entry(0, 1, 1, 0, None, Some(&gzip(&inner[..inner.len() - 1]))),
            ),
            ("left after the value", {
                let mut b = entry(0, 1, 0, 0, None, Some(b"x"));
                b.push(0);
                let size = (b.len() - 12) as i32;
                b[8..12].copy_from_slice(&size.to_be_bytes());
                let crc = crc32fast::hash(&b[16..]);
                b[12..16].copy_from_slice(&crc.to_be_bytes());
                b
            }),
        ];
        for (expected, bytes) in cases {
            let mut it = decode_records(Bytes::from(bytes));
            let err = it
                .find_map(Result::err)
                .unwrap_or_else(|| panic!("{expected}: no error"));
            assert!(err.to_string().contains(expected), "{expected}: {err}");
            assert!(it.next().is_none());
        }
    }

    #[test]
    fn a_cut_legacy_entry_ends_cleanly_and_hostile_lengths_error() {
        let mut bytes = entry(1, 1, 0, 0, Some(b"k"), Some(b"v"));
        bytes.extend(entry(2, 1, 0, 0, Some(b"k"), Some(b"v")));
        for cut in 0..bytes.len() {
            let results: Vec<_> = decode_records(Bytes::copy_from_slice(&bytes[..cut])).collect();
            assert!(results.iter().all(Result::is_ok), "cut at {cut}");
            assert_eq!(
                results.len(),
                usize::from(cut >= bytes.len() / 2),
                "cut at {cut}"
            );
        }
        // A key length of i32::MAX inside a message whose CRC is right.
        let mut b = BytesMut::new();
        b.put_i64(0);
        b.put_i32(4 + 1 + 1 + 4 + 4);
        let body: &[u8] = &[0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        b.put_u32(crc32fast::hash(body));
        b.put_slice(body);
        let mut it = decode_records(b.freeze());
        assert!(matches!(
            it.next(),
            Some(Err(DecodeError::Truncated { .. }))
        ));
    }
}
