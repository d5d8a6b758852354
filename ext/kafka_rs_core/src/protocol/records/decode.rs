//! The lazy decoder for the `records` field of a fetch response.
//!
//! [`RecordBatches`] walks the batches: it reads each header, checks `batchLength` and the CRC,
//! and hands magic-0/1 message sets to [`legacy`]. Brokers cut the last batch of a
//! response at `max_bytes`, so an incomplete batch at the end ends the iteration without an error
//! ([`RecordBatches::truncated`] tells it happened). [`Batch::records`] then decodes records one at
//! a time; nothing is decoded or decompressed before it is asked for.
//!
//! Zero copy: keys, values and header values are `Bytes` slices of the response (or, for a
//! compressed batch, of its decompressed records section). The only allocations per record are
//! the `headers` Vec and its key Strings, when the record has headers.
//!
//! Every count and length is checked against the bytes that remain before it is used: a record
//! count cannot exceed the records section / 7 (the smallest record is 7 bytes), a header count
//! cannot exceed the record's remaining bytes / 2, a key or value cannot be longer than what is
//! left of its record.

use bytes::Bytes;

use super::encode::{
    ATTRIBUTES_AT, ATTR_CONTROL, ATTR_TIMESTAMP_TYPE, ATTR_TRANSACTIONAL, BATCH_HEADER_LEN, CRC_AT,
    LENGTH_AT, LOG_OVERHEAD, MAGIC_AT,
};
use super::{compression, legacy, Compression, RecordHeader};
use crate::protocol::codec::{DecodeError, DecodeResult, Reader};

/// The smallest possible magic-2 record: length, attributes, timestamp delta, offset delta, key
/// length, value length and header count, one byte each.
const MIN_RECORD_LEN: usize = 7;

/// How a record's timestamp was set (batch attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Set by the producer (magic-0 records, which have no timestamp, read as CreateTime -1).
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch.
    LogAppendTime,
}

impl TimestampType {
    pub(crate) fn from_attributes(attributes: i16) -> Self {
        if attributes & ATTR_TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
}

/// One record read from a fetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    pub offset: i64,
    /// Milliseconds since the epoch; -1 when the record has none (magic 0).
    pub timestamp_ms: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    /// `None` is a tombstone.
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

/// Iterates the batches of a fetch response's `records` field. Stops at the first error (after
/// yielding it) and, quietly, at an incomplete trailing batch.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    rest: Bytes,
    truncated: bool,
}

impl RecordBatches {
    pub fn new(records: Bytes) -> Self {
        RecordBatches {
            rest: records,
            truncated: false,
        }
    }

    /// Whether the iteration ended at an incomplete batch (the broker cut the response at
    /// `max_bytes`). When no batch at all came out, the next batch is larger than the fetch size.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    fn next_batch(&mut self) -> DecodeResult<Option<Batch>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        if self.rest.len() < LOG_OVERHEAD {
            self.truncated = true;
            return Ok(None);
        }
        let length = i32::from_be_bytes(
            self.rest[LENGTH_AT..LOG_OVERHEAD]
                .try_into()
                .expect("4 bytes"),
        );
        if length < legacy::MIN_MESSAGE_LEN as i32 {
            return Err(DecodeError::invalid(
                "record batch",
                format!("batch length {length} is below the smallest possible batch"),
            ));
        }
        let size = LOG_OVERHEAD + length as usize;
        if size > self.rest.len() {
            self.truncated = true;
            return Ok(None);
        }
        let raw = self.rest.split_to(size);
        match raw[MAGIC_AT] as i8 {
            2 => Batch::parse_v2(raw),
            0 | 1 => legacy::parse_entry(raw).map(Batch::from_legacy),
            magic => Err(DecodeError::invalid(
                "record batch",
                format!("unknown magic {magic}"),
            )),
        }
        .map(Some)
    }
}

impl Iterator for RecordBatches {
    type Item = DecodeResult<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(batch) => batch.map(Ok),
            Err(e) => {
                self.rest = Bytes::new();
                Some(Err(e))
            }
        }
    }
}

/// One batch: its header fields as they are on the wire, and its records, decoded on demand.
///
/// A magic-0/1 message (or compressed wrapper message) reads as a batch too: no producer id (-1),
/// partition leader epoch -1, both timestamps the message's (or -1 for magic 0), base offset and
/// record count those of the messages it holds.
#[derive(Debug, Clone)]
pub struct Batch {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
    last_offset: i64,
    compression: Compression,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// The records section as on the wire (compressed or not).
    V2(Bytes),
    Legacy(legacy::LegacyBody),
}

impl Batch {
    fn parse_v2(raw: Bytes) -> DecodeResult<Batch> {
        if raw.len() < BATCH_HEADER_LEN {
            return Err(DecodeError::invalid(
                "record batch",
                format!(
                    "batch length {} is below the header size",
                    raw.len() - LOG_OVERHEAD
                ),
            ));
        }
        let stored_crc =
            u32::from_be_bytes(raw[CRC_AT..ATTRIBUTES_AT].try_into().expect("4 bytes"));
        let crc = crc32c::crc32c(&raw[ATTRIBUTES_AT..]);
        if crc != stored_crc {
            return Err(DecodeError::invalid(
                "record batch",
                format!("CRC32C mismatch: stored {stored_crc:#010x}, computed {crc:#010x}"),
            ));
        }
        let mut r = Reader::new(raw);
        let base_offset = r.i64()?;
        let _length = r.i32()?;
        let partition_leader_epoch = r.i32()?;
        let magic = r.i8()?;
        let crc = r.u32()?;
        let attributes = r.i16()?;
        let last_offset_delta = r.i32()?;
        let base_timestamp = r.i64()?;
        let max_timestamp = r.i64()?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let base_sequence = r.i32()?;
        let record_count = r.i32()?;
        let compression = Compression::from_attributes(attributes)?;
        let records = r.take("records", r.remaining())?;
        if record_count < 0 {
            return Err(DecodeError::invalid(
                "record batch",
                format!("record count {record_count}"),
            ));
        }
        if compression == Compression::None {
            check_record_count(record_count, records.len())?;
        }
        Ok(Batch {
            base_offset,
            partition_leader_epoch,
            magic,
            crc,
            attributes,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            record_count,
            last_offset: base_offset.wrapping_add(last_offset_delta as i64),
            compression,
            body: Body::V2(records),
        })
    }

    fn from_legacy(entry: legacy::LegacyEntry) -> Batch {
        Batch {
            base_offset: entry.base_offset,
            partition_leader_epoch: -1,
            magic: entry.magic,
            crc: entry.crc,
            attributes: entry.attributes,
            last_offset_delta: entry
                .last_offset
                .wrapping_sub(entry.base_offset)
                .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            base_timestamp: entry.timestamp,
            max_timestamp: entry.timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: entry.record_count,
            last_offset: entry.last_offset,
            compression: entry.compression,
            body: Body::Legacy(entry.body),
        }
    }

    /// The offset of the batch's last record (for magic 2, as the producer or the broker set it:
    /// compaction can remove records and keep the batch's offset range).
    pub fn last_offset(&self) -> i64 {
        self.last_offset
    }

    /// Where to fetch from after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset.wrapping_add(1)
    }

    /// A control batch holds transaction markers, not data.
    pub fn is_control(&self) -> bool {
        self.magic >= 2 && self.attributes & ATTR_CONTROL != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.magic >= 2 && self.attributes & ATTR_TRANSACTIONAL != 0
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic == 0 {
            TimestampType::CreateTime
        } else {
            TimestampType::from_attributes(self.attributes)
        }
    }

    /// Decodes the records, one per `next`. A compressed batch is decompressed here, on every
    /// call (call it once); a decompression failure is the iterator's one and only item.
    pub fn records(&self) -> Records {
        match &self.body {
            Body::Legacy(body) => Records(Inner::Legacy(body.records())),
            Body::V2(section) => {
                let section = match self.compression {
                    Compression::None => section.clone(),
                    codec => match decompress_section(codec, section, self.record_count) {
                        Ok(section) => section,
                        Err(e) => return Records(Inner::Failed(Some(e))),
                    },
                };
                let log_append_time = match self.timestamp_type() {
                    TimestampType::LogAppendTime => Some(self.max_timestamp),
                    TimestampType::CreateTime => None,
                };
                Records(Inner::V2(V2Records {
                    reader: Reader::new(section),
                    left: self.record_count as u32,
                    count: self.record_count as u32,
                    base_offset: self.base_offset,
                    base_timestamp: self.base_timestamp,
                    log_append_time,
                }))
            }
        }
    }
}

fn check_record_count(count: i32, section_len: usize) -> DecodeResult<()> {
    if count as usize > section_len / MIN_RECORD_LEN {
        return Err(DecodeError::invalid(
            "record batch",
            format!("{count} records cannot fit in {section_len} bytes"),
        ));
    }
    Ok(())
}

fn decompress_section(
    codec: Compression,
    section: &Bytes,
    record_count: i32,
) -> DecodeResult<Bytes> {
    let limit = compression::decompression_limit(section.len());
    let plain = compression::decompress(codec, section, limit)?;
    check_record_count(record_count, plain.len())?;
    Ok(Bytes::from(plain))
}

/// The records of one [`Batch`]. Stops after the first error.
#[derive(Debug)]
pub struct Records(Inner);

#[derive(Debug)]
enum Inner {
    V2(V2Records),
    Legacy(legacy::LegacyRecords),
    Failed(Option<DecodeError>),
}

impl Iterator for Records {
    type Item = DecodeResult<FetchedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match &mut self.0 {
            Inner::V2(records) => records.next(),
            Inner::Legacy(records) => records.next(),
            Inner::Failed(e) => return e.take().map(Err),
        };
        if let Some(Err(e)) = &item {
            self.0 = Inner::Failed(None);
            return Some(Err(e.clone()));
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            Inner::V2(records) => (0, Some(records.left as usize + 1)),
            Inner::Legacy(records) => records.size_hint(),
            Inner::Failed(e) => (0, Some(e.is_some() as usize)),
        }
    }
}

#[derive(Debug)]
struct V2Records {
    reader: Reader,
    left: u32,
    count: u32,
    base_offset: i64,
    base_timestamp: i64,
    /// `Some(maxTimestamp)` when the broker set the timestamps (LogAppendTime).
    log_append_time: Option<i64>,
}

impl V2Records {
    fn next(&mut self) -> Option<DecodeResult<FetchedRecord>> {
        if self.left == 0 {
            if self.reader.is_empty() {
                return None;
            }
            let extra = self.reader.remaining();
            self.reader = Reader::new(Bytes::new());
            return Some(Err(DecodeError::invalid(
                "record batch",
                format!(
                    "{extra} bytes left after the last of {} records",
                    self.count
                ),
            )));
        }
        self.left -= 1;
        Some(self.record())
    }

    fn record(&mut self) -> DecodeResult<FetchedRecord> {
        let length = self.reader.varint()?;
        if length < 0 {
            return Err(DecodeError::invalid(
                "record",
                format!("negative length {length}"),
            ));
        }
        let mut r = self.reader.sub_reader("record", length as usize)?;
        let _attributes = r.i8()?;
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key = varint_bytes(&mut r, "record key")?;
        let value = varint_bytes(&mut r, "record value")?;
        let header_count = r.varint()?;
        // A header is at least two bytes (key length, value length).
        if header_count < 0 || header_count as usize > r.remaining() / 2 {
            return Err(DecodeError::invalid(
                "record headers",
                format!(
                    "{header_count} headers cannot fit in {} bytes",
                    r.remaining()
                ),
            ));
        }
        let mut headers = Vec::with_capacity(header_count as usize);
        for _ in 0..header_count {
            let key_len = r.varint()?;
            if key_len < 0 {
                return Err(DecodeError::invalid(
                    "record header",
                    format!("key length {key_len}"),
                ));
            }
            let raw_key = r.take("record header key", key_len as usize)?;
            // Lossy, as the Java client reads header keys: librdkafka writes any bytes, and
            // refusing them would leave a consumer stuck at the record for ever.
            let key = String::from_utf8_lossy(&raw_key).into_owned();
            let value = varint_bytes(&mut r, "record header value")?;
            headers.push(RecordHeader { key, value });
        }
        if !r.is_empty() {
            return Err(DecodeError::invalid(
                "record",
                format!("{} bytes left after its last header", r.remaining()),
            ));
        }
        let offset = self
            .base_offset
            .checked_add(offset_delta as i64)
            .ok_or_else(|| DecodeError::invalid("record", "offset overflows"))?;
        let (timestamp_ms, timestamp_type) = match self.log_append_time {
            Some(ts) => (ts, TimestampType::LogAppendTime),
            None => (
                self.base_timestamp.wrapping_add(timestamp_delta),
                TimestampType::CreateTime,
            ),
        };
        Ok(FetchedRecord {
            offset,
            timestamp_ms,
            timestamp_type,
            key,
            value,
            headers,
        })
    }
}

/// A varint-length byte field: -1 is null; the length is checked against what is left.
fn varint_bytes(r: &mut Reader, what: &'static str) -> DecodeResult<Option<Bytes>> {
    match r.varint()? {
        -1 => Ok(None),
        n if n < -1 => Err(DecodeError::invalid(what, format!("length {n}"))),
        n => r.take(what, n as usize).map(Some),
    }
}

/// All data records of all batches of a fetch response's `records` field, control batches
/// skipped. Stops after the first error.
pub fn decode_records(records: Bytes) -> FetchedRecords {
    decode_records_from(records, i64::MIN)
}

/// Like [`decode_records`], skipping records with an offset below `min_offset` (a fetch returns
/// whole batches, which can start before the offset asked for). Batches that end before
/// `min_offset` are skipped without being decoded or decompressed.
pub fn decode_records_from(records: Bytes, min_offset: i64) -> FetchedRecords {
    FetchedRecords {
        batches: RecordBatches::new(records),
        current: None,
        min_offset,
        next_offset: None,
        done: false,
        aborted: Vec::new(),
        aborting: Vec::new(),
    }
}

impl FetchedRecords {
    /// Drops the records of aborted transactions (read_committed): `aborted` lists `(producer
    /// id, first offset)` of each transaction the broker reported aborted in this response. A
    /// transactional batch of such a producer, at or after the transaction's first offset, is
    /// skipped until that producer's abort marker (a control batch), as the Java client does.
    pub fn skipping_aborted(mut self, mut aborted: Vec<(i64, i64)>) -> FetchedRecords {
        // Taken in offset order; the last entry is the next to start.
        aborted.sort_by_key(|a| std::cmp::Reverse(a.1));
        self.aborted = aborted;
        self
    }

    /// Whether `batch` belongs to an aborted transaction (and tracks markers).
    fn aborted(&mut self, batch: &Batch) -> bool {
        while self
            .aborted
            .last()
            .is_some_and(|(_, first)| *first <= batch.last_offset())
        {
            let (pid, _) = self.aborted.pop().expect("checked");
            if !self.aborting.contains(&pid) {
                self.aborting.push(pid);
            }
        }
        if !batch.is_transactional() || !self.aborting.contains(&batch.producer_id) {
            return false;
        }
        if batch.is_control() {
            // The abort marker ends the producer's aborted transaction.
            self.aborting.retain(|p| *p != batch.producer_id);
        }
        true
    }
}

/// The iterator of [`decode_records`].
#[derive(Debug)]
pub struct FetchedRecords {
    batches: RecordBatches,
    current: Option<Records>,
    min_offset: i64,
    next_offset: Option<i64>,
    done: bool,
    /// Aborted transactions not reached yet, the first to start last.
    aborted: Vec<(i64, i64)>,
    /// Producers whose aborted transaction is under way.
    aborting: Vec<i64>,
}

impl FetchedRecords {
    /// The offset after the last batch entered so far, control and emptied batches included.
    /// Once the iterator is exhausted without error, this is where the next fetch starts (it can
    /// be past the last record yielded: transaction markers and compaction leave gaps).
    pub fn next_offset(&self) -> Option<i64> {
        self.next_offset
    }

    /// Whether the response ended with an incomplete batch (see [`RecordBatches::truncated`]).
    pub fn truncated(&self) -> bool {
        self.batches.truncated()
    }
}

impl Iterator for FetchedRecords {
    type Item = DecodeResult<FetchedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(records) = &mut self.current {
                match records.next() {
                    Some(Ok(record)) if record.offset < self.min_offset => continue,
                    Some(Ok(record)) => return Some(Ok(record)),
                    Some(Err(e)) => {
                        self.done = true;
                        self.current = None;
                        return Some(Err(e));
                    }
                    None => self.current = None,
                }
            }
            if self.done {
                return None;
            }
            match self.batches.next() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(batch)) => {
                    let next = batch.next_offset();
                    self.next_offset = Some(self.next_offset.map_or(next, |n| n.max(next)));
                    let aborted = !self.aborted.is_empty() || !self.aborting.is_empty();
                    if aborted && self.aborted(&batch) {
                        continue;
                    }
                    if !batch.is_control() && batch.last_offset() >= self.min_offset {
                        self.current = Some(batch.records());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::*;
    use crate::protocol::codec::WireWrite;
    use crate::protocol::records::{encode_batch, BatchIdentity, ProduceRecord};

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn header(key: &str, value: Option<&[u8]>) -> RecordHeader {
        RecordHeader {
            key: key.into(),
            value: value.map(Bytes::copy_from_slice),
        }
    }

    fn sample_records() -> Vec<ProduceRecord> {
        vec![
            ProduceRecord {
                key: Some(Bytes::from_static(b"key-1")),
                value: Some(Bytes::from_static(b"value-1")),
                headers: vec![
                    header("trace", Some(b"abc")),
                    header("nothing", None),
                    header("", Some(b"")),
                ],
                timestamp_ms: 1_700_000_000_000,
            },
            ProduceRecord {
                key: None,
                value: Some(Bytes::from_static(b"no key")),
                headers: vec![],
                timestamp_ms: 1_699_999_999_000, // negative delta
            },
            ProduceRecord {
                key: Some(Bytes::from_static(b"deleted")),
                value: None, // tombstone
                headers: vec![header("h\u{e9}", Some(&[0, 255, 1]))],
                timestamp_ms: 1_700_000_000_500,
            },
            ProduceRecord {
                key: Some(Bytes::new()),
                value: Some(Bytes::from((0..=255u8).collect::<Vec<_>>())), // binary
                headers: vec![],
                timestamp_ms: 1_700_000_000_001,
            },
            ProduceRecord {
                key: None,
                value: Some(Bytes::from(vec![0x5a; 1 << 20])), // 1 MiB
                headers: vec![],
                timestamp_ms: 0,
            },
        ]
    }

    fn batch_bytes(
        records: &[ProduceRecord],
        compression: Compression,
        base_offset: i64,
    ) -> BytesMut {
        let mut buf = BytesMut::new();
        encode_batch(
            &mut buf,
            records,
            BatchIdentity::default(),
            compression,
            base_offset,
        )
        .unwrap();
        buf
    }

    fn assert_same(fetched: &[FetchedRecord], produced: &[ProduceRecord], base_offset: i64) {
        assert_eq!(fetched.len(), produced.len());
        for (i, (f, p)) in fetched.iter().zip(produced).enumerate() {
            assert_eq!(f.offset, base_offset + i as i64);
            assert_eq!(f.timestamp_ms, p.timestamp_ms);
            assert_eq!(f.timestamp_type, TimestampType::CreateTime);
            assert_eq!(f.key, p.key);
            assert_eq!(f.value, p.value);
            assert_eq!(f.headers, p.headers);
        }
    }

    #[test]
    fn round_trip_with_every_codec() {
        let produced = sample_records();
        for codec in CODECS {
            let bytes = batch_bytes(&produced, codec, 100).freeze();
            let batches: Vec<Batch> = RecordBatches::new(bytes.clone())
                .map(Result::unwrap)
                .collect();
            assert_eq!(batches.len(), 1);
            let b = &batches[0];
            assert_eq!(b.compression(), codec);
            assert_eq!(
                (b.base_offset, b.last_offset(), b.next_offset()),
                (100, 104, 105)
            );
            assert_eq!(b.base_timestamp, 1_700_000_000_000);
            assert_eq!(b.max_timestamp, 1_700_000_000_500);
            assert_eq!(
                (b.producer_id, b.producer_epoch, b.base_sequence),
                (-1, -1, -1)
            );
            assert!(!b.is_control() && !b.is_transactional());
            let fetched: Vec<FetchedRecord> = b.records().map(Result::unwrap).collect();
            assert_same(&fetched, &produced, 100);
            if codec == Compression::None {
                // Zero copy: the value is a slice of the response.
                let v = fetched[4].value.as_ref().unwrap();
                let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
                assert!(range.contains(&(v.as_ptr() as usize)));
            }
            let flat: Vec<FetchedRecord> = decode_records(bytes).map(Result::unwrap).collect();
            assert_eq!(flat, fetched);
        }
    }

    #[test]
    fn several_batches_and_a_cut_last_one() {
        let produced = sample_records();
        let mut buf = batch_bytes(&produced[..2], Compression::None, 0);
        buf.extend_from_slice(&batch_bytes(&produced[2..4], Compression::Lz4, 2));
        let whole = buf.len();
        buf.extend_from_slice(&batch_bytes(&produced[4..], Compression::None, 4));
        let cut = buf.freeze().slice(..whole + 100);
        let mut it = decode_records(cut);
        let fetched: Vec<FetchedRecord> = it.by_ref().map(Result::unwrap).collect();
        assert_same(&fetched, &produced[..4], 0);
        assert!(it.truncated());
        assert_eq!(it.next_offset(), Some(4));
    }

    #[test]
    fn decode_from_skips_lower_offsets_and_whole_batches() {
        let produced = sample_records();
        let mut buf = batch_bytes(&produced[..2], Compression::Gzip, 10);
        buf.extend_from_slice(&batch_bytes(&produced[2..], Compression::None, 12));
        let buf = buf.freeze();
        let offsets: Vec<i64> = decode_records_from(buf.clone(), 13)
            .map(|r| r.unwrap().offset)
            .collect();
        assert_eq!(offsets, vec![13, 14]);
        let offsets: Vec<i64> = decode_records_from(buf.clone(), 11)
            .map(|r| r.unwrap().offset)
            .collect();
        assert_eq!(offsets, vec![11, 12, 13, 14]);
        assert_eq!(decode_records_from(buf, 15).count(), 0);
    }

    /// Rewrites attributes (and whatever else `edit` changes in the header) and fixes the CRC.
    fn edit_header(buf: &mut BytesMut, edit: impl FnOnce(&mut [u8])) {
        edit(&mut buf[..]);
        let crc = crc32c::crc32c(&buf[ATTRIBUTES_AT..]);
        buf[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
    }

    #[test]
    fn control_batches_are_skipped_and_log_append_time_applies() {
        let produced = sample_records();
        let mut control = batch_bytes(&produced[..1], Compression::None, 0);
        edit_header(&mut control, |b| {
            b[22] |= (ATTR_CONTROL | ATTR_TRANSACTIONAL) as u8
        });
        let mut data = batch_bytes(&produced[..3], Compression::Snappy, 1);
        edit_header(&mut data, |b| b[22] |= ATTR_TIMESTAMP_TYPE as u8);
        let mut buf = control.clone();
        buf.extend_from_slice(&data);
        let batches: Vec<Batch> = RecordBatches::new(buf.clone().freeze())
            .map(Result::unwrap)
            .collect();
        assert!(batches[0].is_control() && batches[0].is_transactional());
        assert_eq!(batches[1].timestamp_type(), TimestampType::LogAppendTime);
        let fetched: Vec<FetchedRecord> =
            decode_records(buf.freeze()).map(Result::unwrap).collect();
        assert_eq!(fetched.len(), 3);
        assert_eq!(fetched[0].offset, 1);
        for f in &fetched {
            assert_eq!(f.timestamp_type, TimestampType::LogAppendTime);
            assert_eq!(f.timestamp_ms, 1_700_000_000_500);
        }
        // A response holding only a marker still moves the position past it.
        let mut only_marker = decode_records(control.freeze());
        assert!(only_marker.next().is_none());
        assert_eq!(only_marker.next_offset(), Some(1));
    }

    #[test]
    fn records_of_aborted_transactions_are_dropped_until_the_abort_marker() {
        let produced = sample_records();
        // Producer 7: an aborted transaction at 0..=1, its abort marker at 2, then a later
        // transaction at 3 (not aborted); producer 9 writes without a transaction at 4.
        let txn = |records: &[ProduceRecord], base: i64, pid: i64, control: bool| {
            let mut b = batch_bytes(records, Compression::None, base);
            edit_header(&mut b, |h| {
                h[22] |= ATTR_TRANSACTIONAL as u8;
                if control {
                    h[22] |= ATTR_CONTROL as u8;
                }
                h[43..51].copy_from_slice(&pid.to_be_bytes());
            });
            b
        };
        let mut buf = txn(&produced[..2], 0, 7, false);
        buf.extend_from_slice(&txn(&produced[..1], 2, 7, true));
        buf.extend_from_slice(&txn(&produced[..1], 3, 7, false));
        let mut plain = batch_bytes(&produced[..1], Compression::None, 4);
        edit_header(&mut plain, |h| {
            h[43..51].copy_from_slice(&9i64.to_be_bytes())
        });
        buf.extend_from_slice(&plain);
        let buf = buf.freeze();
        let offsets = |aborted: Vec<(i64, i64)>| -> Vec<i64> {
            decode_records(buf.clone())
                .skipping_aborted(aborted)
                .map(|r| r.unwrap().offset)
                .collect()
        };
        assert_eq!(offsets(vec![(7, 0)]), vec![3, 4]);
        assert_eq!(
            offsets(Vec::new()),
            vec![0, 1, 3, 4],
            "read_uncommitted sees all"
        );
        assert_eq!(
            offsets(vec![(9, 4)]),
            vec![0, 1, 3, 4],
            "not transactional: kept"
        );
        let mut it = decode_records(buf.clone()).skipping_aborted(vec![(7, 0)]);
        while it.next().is_some() {}
        assert_eq!(it.next_offset(), Some(5));
    }

    #[test]
    fn an_empty_batch_left_by_compaction_reads_as_no_records() {
        // Compaction can keep a batch with no records to preserve producer state.
        let mut buf = batch_bytes(&sample_records()[..1], Compression::None, 40);
        let len = BATCH_HEADER_LEN - LOG_OVERHEAD;
        buf.truncate(BATCH_HEADER_LEN);
        edit_header(&mut buf, |b| {
            b[LENGTH_AT..LOG_OVERHEAD].copy_from_slice(&(len as i32).to_be_bytes());
            b[23..27].copy_from_slice(&2i32.to_be_bytes()); // lastOffsetDelta
            b[57..61].copy_from_slice(&0i32.to_be_bytes()); // recordCount
        });
        let mut it = decode_records(buf.freeze());
        assert!(it.next().is_none());
        assert_eq!(it.next_offset(), Some(43));
    }

    #[test]
    fn bad_crc_unknown_magic_and_short_length_are_errors() {
        let good = batch_bytes(&sample_records()[..2], Compression::None, 0);

        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        let err = decode_records(bad_crc.freeze())
            .next()
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("CRC32C"), "{err}");

        let mut magic3 = good.clone();
        magic3[MAGIC_AT] = 3;
        let err = decode_records(magic3.freeze()).next().unwrap().unwrap_err();
        assert!(err.to_string().contains("unknown magic 3"), "{err}");

        for length in [-1i32, 0, 13, 48] {
            let mut short = good.clone();
            short[LENGTH_AT..LOG_OVERHEAD].copy_from_slice(&length.to_be_bytes());
            let mut it = RecordBatches::new(short.freeze());
            assert!(it.next().unwrap().is_err(), "length {length}");
            assert!(it.next().is_none(), "stops after an error");
        }
    }

    #[test]
    fn every_cut_point_ends_cleanly_or_errors_never_panics() {
        let produced = sample_records();
        let small = &produced[..4];
        for codec in CODECS {
            let mut buf = batch_bytes(small, codec, 0);
            buf.extend_from_slice(&batch_bytes(small, codec, 4));
            let buf = buf.freeze();
            let first_len = buf.len() / 2;
            for cut in 0..buf.len() {
                let results: Vec<_> = decode_records(buf.slice(..cut)).collect();
                // Cutting inside a batch drops that batch quietly; the CRC protects the rest.
                let expected = if cut >= first_len { 4 } else { 0 };
                assert_eq!(results.len(), expected, "{codec:?} cut at {cut}");
                assert!(results.iter().all(Result::is_ok));
            }
        }
    }

    /// Builds a batch around a hand-written records section (with a valid CRC).
    fn raw_batch(record_count: i32, section: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        buf.put_i64(0);
        buf.put_i32((BATCH_HEADER_LEN - LOG_OVERHEAD + section.len()) as i32);
        buf.put_i32(-1);
        buf.put_i8(2);
        buf.put_u32(0);
        buf.put_i16(0);
        buf.put_i32(0);
        buf.put_i64(0);
        buf.put_i64(0);
        buf.put_i64(-1);
        buf.put_i16(-1);
        buf.put_i32(-1);
        buf.put_i32(record_count);
        buf.put_slice(section);
        edit_header(&mut buf, |_| {});
        buf.freeze()
    }

    fn first_error(bytes: Bytes) -> DecodeError {
        let mut it = decode_records(bytes);
        let err = it.find_map(Result::err).expect("an error");
        assert!(it.next().is_none(), "stops after an error");
        err
    }

    #[test]
    fn hostile_counts_and_lengths_fail_without_allocating() {
        // recordCount = i32::MAX with one small record.
        // The smallest record: length 6, attributes, deltas 0, null key and value, no headers.
        const SMALLEST: [u8; 7] = [12, 0, 0, 0, 1, 1, 0];
        let mut one = BytesMut::new();
        one.put_slice(&SMALLEST);
        assert_eq!(decode_records(raw_batch(1, &one)).count(), 1);
        let err = first_error(raw_batch(i32::MAX, &one));
        assert!(err.to_string().contains("cannot fit"), "{err}");
        assert!(first_error(raw_batch(-1, &one))
            .to_string()
            .contains("record count"));

        // Record length larger than what is left.
        let mut rec = BytesMut::new();
        rec.put_varint(1_000_000);
        rec.put_slice(&[0; 10]);
        assert!(matches!(
            first_error(raw_batch(1, &rec)),
            DecodeError::Truncated { .. }
        ));

        // A record whose key claims more bytes than the record holds.
        let mut body = BytesMut::new();
        body.put_i8(0);
        body.put_varlong(0);
        body.put_varint(0);
        body.put_varint(i32::MAX); // key length
        body.put_slice(b"abc");
        let mut rec = BytesMut::new();
        rec.put_varint(body.len() as i32);
        rec.put_slice(&body);
        assert!(matches!(
            first_error(raw_batch(1, &rec)),
            DecodeError::Truncated { .. }
        ));

        // A header count of i32::MAX, and a negative one.
        for count in [i32::MAX, -5] {
            let mut body = BytesMut::new();
            body.put_slice(&[0, 0, 0, 1, 1]);
            body.put_varint(count);
            body.put_slice(&[0; 8]);
            let mut rec = BytesMut::new();
            rec.put_varint(body.len() as i32);
            rec.put_slice(&body);
            let err = first_error(raw_batch(1, &rec));
            assert!(err.to_string().contains("headers cannot fit"), "{err}");
        }

        // A null header key.
        let mut body = BytesMut::new();
        body.put_slice(&[0, 0, 0, 1, 1, 2]);
        body.put_varint(-1);
        body.put_varint(-1);
        let mut rec = BytesMut::new();
        rec.put_varint(body.len() as i32);
        rec.put_slice(&body);
        assert!(first_error(raw_batch(1, &rec))
            .to_string()
            .contains("record header"));

        // Trailing bytes inside a record, and after the last record.
        let mut rec = BytesMut::new();
        rec.put_slice(&[14, 0, 0, 0, 1, 1, 0, 9]);
        assert!(first_error(raw_batch(1, &rec))
            .to_string()
            .contains("after its last header"));
        let mut rec = BytesMut::new();
        rec.put_slice(&SMALLEST);
        rec.put_slice(&SMALLEST);
        assert!(first_error(raw_batch(1, &rec))
            .to_string()
            .contains("after the last of 1"));

        // Fewer records than counted (one record of 14 bytes, counted as 2).
        let mut rec = BytesMut::new();
        rec.put_slice(&[26, 0, 0, 0, 14, 1, 2, 3, 4, 5, 6, 7, 1, 0]);
        assert!(matches!(
            first_error(raw_batch(2, &rec)),
            DecodeError::Truncated { .. }
        ));
    }

    #[test]
    fn a_header_key_that_is_not_utf8_reads_lossily_like_the_java_client() {
        // librdkafka (kcat -H) writes header keys as given; Java decodes them with U+FFFD.
        let mut body = BytesMut::new();
        body.put_slice(&[0, 0, 0, 1, 1, 2]);
        body.put_varint(5);
        body.put_slice(b"k\xffe\xfey");
        body.put_varint(1);
        body.put_slice(b"v");
        let mut rec = BytesMut::new();
        rec.put_varint(body.len() as i32);
        rec.put_slice(&body);
        let records: Vec<_> = decode_records(raw_batch(1, &rec))
            .collect::<DecodeResult<_>>()
            .unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0].headers,
            vec![header("k\u{fffd}e\u{fffd}y", Some(b"v"))]
        );
    }

    #[test]
    fn decoding_allocates_only_header_vecs() {
        use crate::protocol::records::alloc_count::allocations;
        let plain = |i: i64| ProduceRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"value")),
            headers: vec![],
            timestamp_ms: i,
        };
        let small: Vec<ProduceRecord> = (0..10).map(plain).collect();
        let large: Vec<ProduceRecord> = (0..1000).map(plain).collect();
        let count =
            |bytes: Bytes| allocations(|| decode_records(bytes).map(Result::unwrap).count());
        let ((n_small, a_small), (n_large, a_large)) = (
            count(batch_bytes(&small, Compression::None, 0).freeze()),
            count(batch_bytes(&large, Compression::None, 0).freeze()),
        );
        assert_eq!((n_small, n_large), (10, 1000));
        assert_eq!(a_small, a_large, "no allocation per record without headers");

        // With headers: the Vec and one String per header key, nothing else.
        let with_headers: Vec<ProduceRecord> = (0..100)
            .map(|i| ProduceRecord {
                headers: vec![header("a", Some(b"1")), header("b", None)],
                ..plain(i)
            })
            .collect();
        let (n, a) = count(batch_bytes(&with_headers, Compression::None, 0).freeze());
        assert_eq!(n, 100);
        assert_eq!(a - a_small, 100 * 3);
    }

    #[test]
    fn a_compressed_bomb_is_refused() {
        let value = vec![0u8; 40 << 20];
        let produced = [ProduceRecord {
            key: None,
            value: Some(Bytes::from(value)),
            headers: vec![],
            timestamp_ms: 0,
        }];
        let bytes = batch_bytes(&produced, Compression::Zstd, 0).freeze();
        assert!(bytes.len() < 1 << 20);
        let err = first_error(bytes);
        assert!(
            err.to_string().contains("inflates beyond the limit"),
            "{err}"
        );
    }

    #[test]
    fn a_compressed_record_count_is_checked_against_the_inflated_size() {
        let mut buf = batch_bytes(&sample_records()[..1], Compression::Gzip, 0);
        edit_header(&mut buf, |b| {
            b[57..61].copy_from_slice(&1_000_000i32.to_be_bytes())
        });
        assert!(first_error(buf.freeze()).to_string().contains("cannot fit"));
    }
}
