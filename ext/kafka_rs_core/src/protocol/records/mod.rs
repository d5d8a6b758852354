//! Record batches: the produce and fetch hot path, written by hand.
//!
//! * [`encode`]: magic-2 record batches written straight into a request buffer, CRC32C over the
//!   batch, lengths back-filled; [`encoded_batch_len`] gives the exact size of an uncompressed
//!   batch up front (needed for the compact length prefix of flexible Produce requests).
//!   [`put_produce_records`] writes the whole `records` field of a Produce partition.
//! * [`decode`]: a lazy decoder over the `Bytes` of a fetch response. [`RecordBatches`] yields one
//!   [`Batch`] at a time (header checked, CRC verified, a trailing partial batch ends the
//!   iteration quietly); [`Batch::records`] decodes its records one at a time. Keys, values and
//!   header values are zero-copy slices of the response, or of the decompressed records section
//!   for compressed batches. [`decode_records`] / [`decode_records_from`] flatten all of it for
//!   the fetch path.
//! * [`legacy`]: magic 0 and 1 message sets (CRC32), read on fetch only, surfaced as [`Batch`]es
//!   so callers never see the difference.
//! * [`compression`]: gzip, snappy (xerial-framed and raw), lz4 (frame) and zstd, with a cap on
//!   how far a batch may inflate ([`decompression_limit`]).
//!
//! ```text
//! produce:  &[ProduceRecord] --encode::put_produce_records--> BytesMut (request body)
//! fetch:    Bytes (records field) --RecordBatches--> Batch --records()--> FetchedRecord
//!                                  (magic 0/1 --legacy--)     (compressed --compression--)
//! ```

pub mod compression;
pub mod decode;
pub mod encode;
pub mod legacy;

pub use compression::{decompression_limit, MAX_DECOMPRESSED_BATCH_BYTES};
pub use decode::{
    decode_records, decode_records_from, Batch, FetchedRecord, FetchedRecords, RecordBatches,
    Records, TimestampType,
};
pub use encode::{encode_batch, encoded_batch_len, put_produce_records};

use bytes::Bytes;

use crate::protocol::codec::DecodeError;

/// A record to be produced. Key, value and header values are owned `Bytes`, copied once from the
/// caller; encoding copies them once more, into the request buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRecord {
    pub key: Option<Bytes>,
    /// `None` is a tombstone.
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
    /// Milliseconds since the epoch (CreateTime).
    pub timestamp_ms: i64,
}

/// One record header. Kafka header keys are strings; values may be null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub key: String,
    pub value: Option<Bytes>,
}

/// Compression codecs, by their attribute bits (batch attributes & 0x07).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Compression {
    /// The codec named by the low three bits of batch (or legacy message) attributes.
    pub fn from_attributes(attributes: i16) -> Result<Compression, DecodeError> {
        match attributes & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(DecodeError::invalid(
                "compression codec",
                format!("unknown codec id {other} in attributes {attributes:#06x}"),
            )),
        }
    }

    /// The codec's name as Kafka configurations spell it (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// A record batch that cannot be encoded. Decoding failures are [`DecodeError`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    /// A batch needs at least one record (brokers reject empty batches).
    #[error("a record batch needs at least one record")]
    EmptyBatch,
    /// A field, or the whole batch, does not fit the i32 lengths and counts of the format.
    #[error("{what} is too large for a record batch ({len} bytes or entries)")]
    TooLarge { what: &'static str, len: usize },
    /// The codec failed (in practice only on allocation-like failures inside the codec).
    #[error("{} compression failed: {message}", .codec.name())]
    Compression { codec: Compression, message: String },
}

/// Producer-identity fields of a batch header (idempotent and transactional producing). The
/// default is a plain, non-idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub transactional: bool,
}

impl Default for BatchIdentity {
    fn default() -> Self {
        BatchIdentity {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
        }
    }
}

/// A test-only global allocator that counts allocations per thread, so tests can assert that the
/// hot paths allocate what they claim to (see `encode` and `decode` tests).
#[cfg(test)]
pub(crate) mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    fn bump() {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }

    struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump();
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            bump();
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump();
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// Runs `f`, returning its result and how many allocations (and reallocations) it made on
    /// this thread.
    pub(crate) fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let before = ALLOCATIONS.with(Cell::get);
        let out = f();
        (out, ALLOCATIONS.with(Cell::get) - before)
    }
}
