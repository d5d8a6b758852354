//! Produce (key 0), versions 3..=11, flexible from 9: append one record batch per partition.
//!
//! | version | request                                           | response adds                    |
//! |---------|---------------------------------------------------|----------------------------------|
//! | 3       | transactional_id; magic-2 record batches only     | (log_append_time_ms since v2)    |
//! | 4       | (no layout change; KAFKA_STORAGE_ERROR possible)  |                                  |
//! | 5, 6    | (no layout change)                                | log_start_offset (v5)            |
//! | 7       | (no layout change) **zstd allowed from here**     |                                  |
//! | 8       | (no layout change)                                | record_errors, error_message     |
//! | 9       | flexible                                          | flexible                         |
//! | 10      | (no layout change, KIP-951)                       | tagged current_leader, node_endpoints (skipped) |
//! | 11      | (no layout change; TRANSACTION_ABORTABLE possible)|                                  |
//!
//! v0..=2 (magic 0/1 message sets) are gone from Kafka 4.x (KIP-896); Kafka 2.1 speaks up to v7.
//! v12 (Kafka 4.0) has the v11 layout but, with transactions V2 (KIP-890), implicitly adds the
//! partition to the transaction; v13 (4.1) replaces topic names by ids. Capping at 11 keeps the
//! classic transaction protocol (the producer sends AddPartitionsToTxn itself) on every broker.
//!
//! Brokers reject zstd batches in versions below 7 (`UNSUPPORTED_COMPRESSION_TYPE`);
//! [`ProduceRequest::min_version`] says which version a request needs.
//!
//! With `acks = 0` the broker sends **no response at all**: the connection must not wait for one
//! (see [`ProduceRequest::expects_response`]).
//!
//! # Encoding: fallible work first, then an infallible `encode`
//!
//! [`Request::encode`] cannot fail, but building a record batch can
//! ([`RecordsError`]: empty batch, batch too large, codec failure). Every fallible step therefore
//! happens in [`ProducePartition::new`], which the producer calls per partition, so an error is
//! tied to the one partition (and its records) that caused it:
//!
//! * an **uncompressed** partition is only checked there, by the encoder's own sizing pass
//!   ([`encoded_batch_len`]: non-empty, within the format's `i32` limits), which is the only
//!   fallible step of an uncompressed batch; `encode` later writes the batch straight from the
//!   caller's record slice into the request buffer, with no intermediate copy (the sizing pass
//!   reads only lengths, no payload);
//! * a **compressed** partition is encoded and compressed there ([`encode_batch`]) into a batch of
//!   its own, which `encode` copies into the request buffer behind the length prefix the version
//!   needs. The extra copy is of compressed bytes only.
//!
//! The trait stays as it is, and the version (hence the prefix form) may be chosen after the
//! request is built.

use std::borrow::Borrow;

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};
use crate::protocol::records::encode::{encode_batch, encoded_batch_len, put_produce_records};
use crate::protocol::records::{BatchIdentity, Compression, ProduceRecord, RecordsError};

/// Produce request over the caller's records (`R` is `ProduceRecord` or anything that borrows
/// as one, e.g. a producer's queued-record type).
#[derive(Debug, Clone)]
pub struct ProduceRequest<'a, R = ProduceRecord> {
    /// v3+: the transactional id, `None` for a non-transactional producer.
    pub transactional_id: Option<&'a str>,
    /// 0 (no response at all), 1 (the leader wrote it) or -1 (all in-sync replicas did).
    pub acks: i16,
    /// How long the broker may wait for the acknowledgements.
    pub timeout_ms: i32,
    pub topics: Vec<ProduceTopic<'a, R>>,
}

/// The partitions to produce to in one topic.
#[derive(Debug, Clone)]
pub struct ProduceTopic<'a, R = ProduceRecord> {
    pub name: &'a str,
    pub partitions: Vec<ProducePartition<'a, R>>,
}

/// One partition's batch, checked (and compressed, if asked) by [`ProducePartition::new`].
#[derive(Debug, Clone)]
pub struct ProducePartition<'a, R = ProduceRecord> {
    index: i32,
    compression: Compression,
    batch: PartitionBatch<'a, R>,
}

#[derive(Debug, Clone)]
enum PartitionBatch<'a, R> {
    /// Uncompressed: written straight from the records into the request buffer by `encode`.
    Plain {
        records: &'a [R],
        identity: BatchIdentity,
    },
    /// Compressed by `new`: the complete batch, without the records field's length prefix.
    Encoded(Bytes),
}

impl<'a, R: Borrow<ProduceRecord>> ProducePartition<'a, R> {
    /// Prepares the batch of partition `index`: one magic-2 batch holding `records` in order,
    /// with `identity` in its header (producer id, epoch, base sequence, transactional flag).
    ///
    /// Fails if `records` is empty, if the batch would exceed the format's `i32` limits, or if
    /// the codec fails. Compressed batches are built here; uncompressed ones are only checked
    /// and are written during [`Request::encode`].
    pub fn new(
        index: i32,
        records: &'a [R],
        identity: BatchIdentity,
        compression: Compression,
    ) -> Result<Self, RecordsError> {
        let batch = if compression == Compression::None {
            // The same sizing pass the encoder runs: it fails exactly when encoding would.
            encoded_batch_len(records)?;
            PartitionBatch::Plain { records, identity }
        } else {
            let mut batch = BytesMut::new();
            encode_batch(&mut batch, records, identity, compression, 0)?;
            PartitionBatch::Encoded(batch.freeze())
        };
        Ok(ProducePartition {
            index,
            compression,
            batch,
        })
    }
}

impl<R: Borrow<ProduceRecord>> ProducePartition<'_, R> {
    pub fn index(&self) -> i32 {
        self.index
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Writes the `records` field (length prefix and batch).
    fn put_records(&self, buf: &mut BytesMut, compact: bool) {
        match &self.batch {
            PartitionBatch::Plain { records, identity } => {
                let start = buf.len();
                if put_produce_records(buf, records, *identity, Compression::None, compact).is_err()
                {
                    // Cannot happen: `new` ran the same sizing pass, the only fallible step of
                    // an uncompressed batch, over the same (borrowed, immutable) records. Should
                    // it happen anyway, an empty records field makes the broker fail this one
                    // partition (INVALID_RECORD) rather than the client panicking or sending a
                    // corrupt frame.
                    buf.truncate(start);
                    buf.put_len(Some(0), compact, true);
                }
            }
            PartitionBatch::Encoded(batch) => buf.put_nullable_bytes(Some(batch), compact),
        }
    }
}

impl<R: Borrow<ProduceRecord>> ProduceRequest<'_, R> {
    /// Whether the broker answers at all (`acks != 0`). With `acks = 0` the connection must
    /// send the request and not wait for (or register a correlation id for) a response.
    pub fn expects_response(&self) -> bool {
        self.acks != 0
    }

    /// The lowest version that can carry this request: 7 if a partition uses zstd, else
    /// [`MIN_VERSION`](Request::MIN_VERSION).
    pub fn min_version(&self) -> i16 {
        let zstd = self
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .any(|p| p.compression == Compression::Zstd);
        if zstd {
            7
        } else {
            Self::MIN_VERSION
        }
    }
}

/// Produce response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceResponse {
    pub topics: Vec<ProduceTopicResponse>,
    pub throttle_time_ms: i32,
}

/// The results of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopicResponse {
    pub name: String,
    pub partitions: Vec<ProducePartitionResponse>,
}

/// The result of one partition's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartitionResponse {
    pub index: i32,
    pub error_code: i16,
    /// The offset of the batch's first record.
    pub base_offset: i64,
    /// The broker's append time if the topic uses LogAppendTime, else -1.
    pub log_append_time_ms: i64,
    /// v5+ (-1 before).
    pub log_start_offset: i64,
    /// v8+: the records (by index in the batch) that made the broker drop the batch.
    pub record_errors: Vec<RecordError>,
    /// v8+: a summary of why the batch was dropped.
    pub error_message: Option<String>,
}

/// A record that made the broker drop its batch (KIP-467).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Index of the record within its batch.
    pub batch_index: i32,
    pub message: Option<String>,
}

impl<R: Borrow<ProduceRecord>> Request for ProduceRequest<'_, R> {
    type Response = ProduceResponse;
    const API_KEY: ApiKey = ApiKey::Produce;
    const MIN_VERSION: i16 = 3;
    const MAX_VERSION: i16 = 11;
    const FLEXIBLE_FROM: i16 = 9;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        let compact = version >= Self::FLEXIBLE_FROM;
        buf.put_nullable_string(self.transactional_id, compact);
        buf.put_i16(self.acks);
        buf.put_i32(self.timeout_ms);
        buf.put_array_len(self.topics.len(), compact);
        for topic in &self.topics {
            buf.put_string(topic.name, compact);
            buf.put_array_len(topic.partitions.len(), compact);
            for p in &topic.partitions {
                buf.put_i32(p.index);
                p.put_records(buf, compact);
                buf.put_tagged_fields_if(compact);
            }
            buf.put_tagged_fields_if(compact);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<ProduceResponse> {
        let compact = version >= Self::FLEXIBLE_FROM;
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let partitions = r.array(compact, |r| decode_partition(r, version, compact))?;
            r.tagged_fields_if(compact)?;
            Ok(ProduceTopicResponse { name, partitions })
        })?;
        let throttle_time_ms = r.i32()?;
        // v10+: node_endpoints (tag 0) is skipped.
        r.tagged_fields_if(compact)?;
        Ok(ProduceResponse {
            topics,
            throttle_time_ms,
        })
    }
}

fn decode_partition(
    r: &mut Reader,
    version: i16,
    compact: bool,
) -> DecodeResult<ProducePartitionResponse> {
    let index = r.i32()?;
    let error_code = r.i16()?;
    let base_offset = r.i64()?;
    let log_append_time_ms = r.i64()?;
    let log_start_offset = if version >= 5 { r.i64()? } else { -1 };
    let (record_errors, error_message) = if version >= 8 {
        let errors = r.array(compact, |r| {
            let e = RecordError {
                batch_index: r.i32()?,
                message: r.nullable_string(compact)?,
            };
            r.tagged_fields_if(compact)?;
            Ok(e)
        })?;
        (errors, r.nullable_string(compact)?)
    } else {
        (Vec::new(), None)
    };
    // v10+: current_leader (tag 0) is skipped.
    r.tagged_fields_if(compact)?;
    Ok(ProducePartitionResponse {
        index,
        error_code,
        base_offset,
        log_append_time_ms,
        log_start_offset,
        record_errors,
        error_message,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::decode_whole;
    use super::super::test_support::encode_request;
    use super::*;
    use crate::protocol::codec::DecodeError;

    fn record(value: &str) -> ProduceRecord {
        ProduceRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: vec![],
            timestamp_ms: 1_700_000_000_000,
        }
    }

    /// The records field as `put_produce_records` writes it, without its length prefix.
    fn batch_bytes(records: &[ProduceRecord], identity: BatchIdentity, c: Compression) -> Bytes {
        let mut b = BytesMut::new();
        put_produce_records(&mut b, records, identity, c, false).unwrap();
        b.freeze().slice(4..)
    }

    /// What a broker reads from our request (test-only decoder).
    #[derive(Debug, PartialEq, Eq)]
    struct DecodedRequest {
        transactional_id: Option<String>,
        acks: i16,
        timeout_ms: i32,
        topics: Vec<(String, Vec<(i32, Bytes)>)>,
    }

    fn decode_request(body: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 9;
        let mut r = Reader::new(body);
        let transactional_id = r.nullable_string(compact)?;
        let acks = r.i16()?;
        let timeout_ms = r.i32()?;
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let parts = r.array(compact, |r| {
                let index = r.i32()?;
                let records = r.bytes(compact)?;
                r.tagged_fields_if(compact)?;
                Ok((index, records))
            })?;
            r.tagged_fields_if(compact)?;
            Ok((name, parts))
        })?;
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "trailing bytes");
        Ok(DecodedRequest {
            transactional_id,
            acks,
            timeout_ms,
            topics,
        })
    }

    /// Test-only response encoder (the broker side). In v10+ each partition carries a
    /// current_leader tagged field and the top level a node_endpoints one, both skipped.
    fn encode_response(resp: &ProduceResponse, version: i16) -> Bytes {
        let compact = version >= 9;
        let mut b = BytesMut::new();
        b.put_array_len(resp.topics.len(), compact);
        for t in &resp.topics {
            b.put_string(&t.name, compact);
            b.put_array_len(t.partitions.len(), compact);
            for p in &t.partitions {
                b.put_i32(p.index);
                b.put_i16(p.error_code);
                b.put_i64(p.base_offset);
                b.put_i64(p.log_append_time_ms);
                if version >= 5 {
                    b.put_i64(p.log_start_offset);
                }
                if version >= 8 {
                    b.put_array_len(p.record_errors.len(), compact);
                    for e in &p.record_errors {
                        b.put_i32(e.batch_index);
                        b.put_nullable_string(e.message.as_deref(), compact);
                        b.put_tagged_fields_if(compact);
                    }
                    b.put_nullable_string(p.error_message.as_deref(), compact);
                }
                if version >= 10 {
                    // current_leader: leader_id, leader_epoch, tags
                    b.put_uvarint(1);
                    b.put_uvarint(0);
                    b.put_uvarint(9);
                    b.put_i32(3);
                    b.put_i32(12);
                    b.put_uvarint(0);
                } else {
                    b.put_tagged_fields_if(compact);
                }
            }
            b.put_tagged_fields_if(compact);
        }
        b.put_i32(resp.throttle_time_ms);
        if version >= 10 {
            // node_endpoints: [node_id host port rack tags]
            let mut e = BytesMut::new();
            e.put_array_len(1, true);
            e.put_i32(3);
            e.put_string("b3", true);
            e.put_i32(9092);
            e.put_nullable_string(None, true);
            e.put_uvarint(0);
            b.put_uvarint(1);
            b.put_uvarint(0);
            b.put_uvarint(e.len() as u32);
            b.put_slice(&e);
        } else {
            b.put_tagged_fields_if(compact);
        }
        b.freeze()
    }

    fn sample(version: i16) -> ProduceResponse {
        ProduceResponse {
            topics: vec![
                ProduceTopicResponse {
                    name: "orders".into(),
                    partitions: vec![
                        ProducePartitionResponse {
                            index: 0,
                            error_code: 0,
                            base_offset: 1 << 33,
                            log_append_time_ms: -1,
                            log_start_offset: if version >= 5 { 100 } else { -1 },
                            record_errors: vec![],
                            error_message: None,
                        },
                        ProducePartitionResponse {
                            index: 4,
                            error_code: 87,
                            base_offset: -1,
                            log_append_time_ms: 1_700_000_000_123,
                            log_start_offset: -1,
                            record_errors: if version >= 8 {
                                vec![
                                    RecordError {
                                        batch_index: 2,
                                        message: Some("bad".into()),
                                    },
                                    RecordError {
                                        batch_index: 5,
                                        message: None,
                                    },
                                ]
                            } else {
                                vec![]
                            },
                            error_message: (version >= 8).then(|| "x".repeat(150)),
                        },
                    ],
                },
                ProduceTopicResponse {
                    name: "empty".into(),
                    partitions: vec![],
                },
            ],
            throttle_time_ms: 9,
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let a: Vec<ProduceRecord> = (0..3).map(|i| record(&format!("a{i}"))).collect();
        let b = vec![record("b")];
        let idempotent = BatchIdentity {
            producer_id: 4000,
            producer_epoch: 2,
            base_sequence: 17,
            transactional: true,
        };
        let req = ProduceRequest {
            transactional_id: Some("tx-1"),
            acks: -1,
            timeout_ms: 30_000,
            topics: vec![
                ProduceTopic {
                    name: "orders",
                    partitions: vec![
                        ProducePartition::new(0, &a[..2], idempotent, Compression::None).unwrap(),
                        ProducePartition::new(
                            1,
                            &a[2..],
                            BatchIdentity::default(),
                            Compression::Gzip,
                        )
                        .unwrap(),
                    ],
                },
                ProduceTopic {
                    name: "other",
                    partitions: vec![ProducePartition::new(
                        7,
                        &b,
                        BatchIdentity::default(),
                        Compression::None,
                    )
                    .unwrap()],
                },
            ],
        };
        let want = DecodedRequest {
            transactional_id: Some("tx-1".into()),
            acks: -1,
            timeout_ms: 30_000,
            topics: vec![
                (
                    "orders".into(),
                    vec![
                        (0, batch_bytes(&a[..2], idempotent, Compression::None)),
                        (
                            1,
                            batch_bytes(&a[2..], BatchIdentity::default(), Compression::Gzip),
                        ),
                    ],
                ),
                (
                    "other".into(),
                    vec![(
                        7,
                        batch_bytes(&b, BatchIdentity::default(), Compression::None),
                    )],
                ),
            ],
        };
        for v in ProduceRequest::<ProduceRecord>::MIN_VERSION
            ..=ProduceRequest::<ProduceRecord>::MAX_VERSION
        {
            assert_eq!(
                decode_request(encode_request(&req, v), v).unwrap(),
                want,
                "v{v}"
            );
        }
    }

    #[test]
    fn records_may_be_borrowed_through_any_borrow_type() {
        // A producer's own queue type holding the records by reference-counted pointer.
        let queued: Vec<std::sync::Arc<ProduceRecord>> =
            vec![record("x").into(), record("y").into()];
        let plain: Vec<ProduceRecord> = queued.iter().map(|r| (**r).clone()).collect();
        let p =
            ProducePartition::new(3, &queued, BatchIdentity::default(), Compression::None).unwrap();
        let req = ProduceRequest {
            transactional_id: None,
            acks: 1,
            timeout_ms: 1000,
            topics: vec![ProduceTopic {
                name: "t",
                partitions: vec![p],
            }],
        };
        let got = decode_request(encode_request(&req, 9), 9).unwrap();
        assert_eq!(
            got.topics[0].1[0].1,
            batch_bytes(&plain, BatchIdentity::default(), Compression::None)
        );
    }

    #[test]
    fn request_bytes_by_hand() {
        let recs = vec![record("v")];
        let batch = batch_bytes(&recs, BatchIdentity::default(), Compression::None);
        let req = ProduceRequest {
            transactional_id: None,
            acks: 1,
            timeout_ms: 1500,
            topics: vec![ProduceTopic {
                name: "t",
                partitions: vec![ProducePartition::new(
                    2,
                    &recs,
                    BatchIdentity::default(),
                    Compression::None,
                )
                .unwrap()],
            }],
        };
        // v3: transactional_id null (i16 -1), acks, timeout, [topic [partition records]].
        let mut want: Vec<u8> = vec![
            0xff, 0xff, // transactional_id null
            0, 1, // acks 1
            0, 0, 0x05, 0xdc, // timeout 1500
            0, 0, 0, 1, // 1 topic
            0, 1, b't', // "t"
            0, 0, 0, 1, // 1 partition
            0, 0, 0, 2, // partition 2
        ];
        want.extend_from_slice(&(batch.len() as i32).to_be_bytes());
        want.extend_from_slice(&batch);
        assert_eq!(&encode_request(&req, 3)[..], &want[..]);

        // v9: compact null (0), acks, timeout, compact arrays, records with uvarint len + 1,
        // tags after each partition, topic and the body.
        let mut want: Vec<u8> = vec![0, 0, 1, 0, 0, 0x05, 0xdc, 2, 2, b't', 2, 0, 0, 0, 2];
        let mut prefix = BytesMut::new();
        prefix.put_uvarint(batch.len() as u32 + 1);
        want.extend_from_slice(&prefix);
        want.extend_from_slice(&batch);
        want.extend_from_slice(&[0, 0, 0]);
        assert_eq!(&encode_request(&req, 9)[..], &want[..]);
    }

    #[test]
    fn partition_errors_surface_when_preparing() {
        let none: Vec<ProduceRecord> = vec![];
        for c in [Compression::None, Compression::Gzip] {
            assert_eq!(
                ProducePartition::new(0, &none, BatchIdentity::default(), c).unwrap_err(),
                RecordsError::EmptyBatch
            );
        }
    }

    #[test]
    fn zstd_needs_version_7_and_acks_0_has_no_response() {
        let recs = vec![record("z")];
        let mut req = ProduceRequest {
            transactional_id: None,
            acks: 0,
            timeout_ms: 1000,
            topics: vec![ProduceTopic {
                name: "t",
                partitions: vec![ProducePartition::new(
                    0,
                    &recs,
                    BatchIdentity::default(),
                    Compression::None,
                )
                .unwrap()],
            }],
        };
        assert_eq!(req.min_version(), 3);
        assert!(!req.expects_response());
        req.acks = -1;
        assert!(req.expects_response());
        req.topics[0].partitions.push(
            ProducePartition::new(1, &recs, BatchIdentity::default(), Compression::Zstd).unwrap(),
        );
        assert_eq!(req.min_version(), 7);
    }

    #[test]
    fn response_round_trips_in_every_version() {
        for v in ProduceRequest::<ProduceRecord>::MIN_VERSION
            ..=ProduceRequest::<ProduceRecord>::MAX_VERSION
        {
            let resp = sample(v);
            assert_eq!(
                decode_whole::<ProduceRequest::<ProduceRecord>>(encode_response(&resp, v), v)
                    .unwrap(),
                resp,
                "v{v}"
            );
        }
    }

    #[test]
    fn response_v3_bytes_by_hand() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 1,                         // 1 topic
            0, 1, b't',                         //   "t"
            0, 0, 0, 1,                         //   1 partition
            0, 0, 0, 2,                         //     index 2
            0, 0,                               //     error_code 0
            0, 0, 0, 0, 0, 0, 0x01, 0x00,       //     base_offset 256
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_append_time -1
            0, 0, 0, 0,                         // throttle_time_ms 0
        ];
        let resp =
            decode_whole::<ProduceRequest<ProduceRecord>>(Bytes::from_static(bytes), 3).unwrap();
        assert_eq!(
            resp,
            ProduceResponse {
                topics: vec![ProduceTopicResponse {
                    name: "t".into(),
                    partitions: vec![ProducePartitionResponse {
                        index: 2,
                        error_code: 0,
                        base_offset: 256,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                        record_errors: vec![],
                        error_message: None,
                    }],
                }],
                throttle_time_ms: 0,
            }
        );
    }

    #[test]
    fn every_truncation_fails_without_panicking() {
        for v in ProduceRequest::<ProduceRecord>::MIN_VERSION
            ..=ProduceRequest::<ProduceRecord>::MAX_VERSION
        {
            let full = encode_response(&sample(v), v);
            for n in 0..full.len() {
                let mut r = Reader::new(full.slice(..n));
                assert!(
                    ProduceRequest::<ProduceRecord>::decode_response(&mut r, v).is_err(),
                    "v{v} prefix {n}"
                );
            }
        }
    }

    #[test]
    fn hostile_array_counts_fail() {
        let bytes = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(
            decode_whole::<ProduceRequest::<ProduceRecord>>(Bytes::copy_from_slice(&bytes), 3),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v9: record_errors claiming 2^32 - 2 entries.
        let mut b = BytesMut::new();
        b.put_uvarint(2);
        b.put_string("t", true);
        b.put_uvarint(2);
        b.put_i32(0);
        b.put_i16(0);
        b.put_i64(0);
        b.put_i64(0);
        b.put_i64(0);
        b.put_uvarint(u32::MAX);
        b.put_slice(&[0; 6]);
        assert!(matches!(
            decode_whole::<ProduceRequest::<ProduceRecord>>(b.freeze(), 9),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
    }
}
