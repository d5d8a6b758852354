//! Record batches: the produce and fetch hot path, written by hand.
//!
//! * [`encode`]: magic-2 record batches written straight into a request buffer, CRC32C over the
//!   batch, lengths back-filled; [`encoded_batch_len`] gives the exact size up front (needed for
//!   the compact length prefix of flexible Produce requests).
//! * [`decode`]: a lazy decoder over the `Bytes` of a fetch response; record keys, values and
//!   header values are zero-copy slices of the response.
//! * [`legacy`]: magic 0 and 1 message sets (CRC32), read on fetch.

pub mod decode;
pub mod encode;
pub mod legacy;




use bytes::Bytes;

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
