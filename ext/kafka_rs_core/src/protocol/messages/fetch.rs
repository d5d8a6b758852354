//! Fetch (key 1), versions 4..=12, flexible from 12: read record batches from partition leaders
//! (or a preferred read replica).
//!
//! | version | request adds                                  | response adds                       |
//! |---------|-----------------------------------------------|-------------------------------------|
//! | 4       | isolation_level (max_bytes since v3)          | last_stable_offset, aborted_transactions |
//! | 5       | log_start_offset (followers only; we send -1) | log_start_offset                    |
//! | 6       | (no layout change)                            |                                     |
//! | 7       | session_id, session_epoch, forgotten_topics_data (KIP-227) | error_code, session_id |
//! | 8       | (no layout change)                            |                                     |
//! | 9       | current_leader_epoch (KIP-320)                |                                     |
//! | 10      | (no layout change; zstd)                      |                                     |
//! | 11      | rack_id (KIP-392)                             | preferred_read_replica              |
//! | 12      | last_fetched_epoch; flexible                  | tagged: diverging_epoch, current_leader, snapshot_id (skipped) |
//!
//! v0..=3 are gone from Kafka 4.x (KIP-896); Kafka 2.1 speaks up to v10. v13+ replace topic names
//! with topic ids (KIP-516), so we cap at 12, which every 4.x broker still speaks.
//!
//! Fetch sessions (KIP-227, v7+): a request carries `session_id` and `session_epoch` and, when
//! incremental, only the partitions that changed plus `forgotten_topics_data` for those that left
//! the session; [`FetchRequest::SESSIONLESS`] fields (`0`, `-1`, none forgotten) make a full fetch
//! without a session. The consumer's session bookkeeping lives in
//! [`consumer::fetch_session`](crate::consumer::fetch_session).
//!
//! The records of each partition are kept as a zero-copy `Bytes` slice of the response frame, to
//! be decoded lazily by [`records::decode`](crate::protocol::records::decode).

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

pub use super::IsolationLevel;

/// Fetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest<'a> {
    /// How long the broker may wait for `min_bytes` to accumulate.
    pub max_wait_ms: i32,
    pub min_bytes: i32,
    /// Cap on the whole response (the first batch of the first partition is returned even if
    /// larger, KIP-74).
    pub max_bytes: i32,
    /// v4+.
    pub isolation_level: IsolationLevel,
    /// v7+: the fetch session (0: none, or a new one when `session_epoch` is 0).
    pub session_id: i32,
    /// v7+: -1 for a sessionless full fetch, 0 to create a session (closing `session_id` if
    /// set), then 1, 2, ... for the session's incremental fetches.
    pub session_epoch: i32,
    pub topics: Vec<FetchTopic<'a>>,
    /// v7+: partitions leaving the session (incremental fetches only).
    pub forgotten: Vec<FetchTopicPartitions<'a>>,
    /// v11+: the consumer's rack, letting the broker pick a preferred read replica (KIP-392).
    /// `""` for none.
    pub rack_id: &'a str,
}

/// The partitions to fetch from one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopic<'a> {
    pub name: &'a str,
    pub partitions: Vec<FetchPartition>,
}

/// Partitions of one topic, by index (forgotten topics data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopicPartitions<'a> {
    pub name: &'a str,
    pub partitions: Vec<i32>,
}

impl FetchRequest<'_> {
    /// `session_id` and `session_epoch` of a full fetch without a session.
    pub const SESSIONLESS: (i32, i32) = (0, -1);
}

/// One partition to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPartition {
    pub partition: i32,
    /// v9+: the leader epoch the consumer knows, for fencing (KIP-320); -1 if unknown.
    pub current_leader_epoch: i32,
    pub fetch_offset: i64,
    /// v12+: the epoch of the last fetched record, for divergence detection; -1 if none.
    pub last_fetched_epoch: i32,
    pub partition_max_bytes: i32,
}

impl FetchPartition {
    /// A partition fetch with unknown epochs.
    pub fn new(partition: i32, fetch_offset: i64, partition_max_bytes: i32) -> Self {
        FetchPartition {
            partition,
            current_leader_epoch: -1,
            fetch_offset,
            last_fetched_epoch: -1,
            partition_max_bytes,
        }
    }
}

/// Fetch response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchResponse {
    pub throttle_time_ms: i32,
    /// v7+: a top-level error (e.g. a fetch-session error); 0 before.
    pub error_code: i16,
    /// v7+: the session the request created or continued; 0 when there is none.
    pub session_id: i32,
    pub topics: Vec<FetchTopicResponse>,
}

/// The partitions fetched from one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopicResponse {
    pub topic: String,
    pub partitions: Vec<FetchPartitionResponse>,
}

/// One fetched partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartitionResponse {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    /// v4+ (-1 when unknown).
    pub last_stable_offset: i64,
    /// v5+ (-1 before).
    pub log_start_offset: i64,
    /// v4+: aborted transactions overlapping the returned records (read_committed only); a null
    /// array reads as empty.
    pub aborted_transactions: Vec<AbortedTransaction>,
    /// v11+: the replica to fetch from next, or -1 (the leader).
    pub preferred_read_replica: i32,
    /// The raw record batches (possibly ending with a partial batch), a zero-copy slice of the
    /// response; `None` when the broker sent null.
    pub records: Option<Bytes>,
}

/// An aborted transaction: records of `producer_id` from `first_offset` on, up to its abort
/// marker, must be dropped under read_committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTransaction {
    pub producer_id: i64,
    pub first_offset: i64,
}

impl Request for FetchRequest<'_> {
    type Response = FetchResponse;
    const API_KEY: ApiKey = ApiKey::Fetch;
    const MIN_VERSION: i16 = 4;
    const MAX_VERSION: i16 = 12;
    const FLEXIBLE_FROM: i16 = 12;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        let compact = version >= Self::FLEXIBLE_FROM;
        buf.put_i32(-1); // replica_id: a consumer (v0..=14)
        buf.put_i32(self.max_wait_ms);
        buf.put_i32(self.min_bytes);
        buf.put_i32(self.max_bytes);
        buf.put_i8(self.isolation_level as i8);
        if version >= 7 {
            buf.put_i32(self.session_id);
            buf.put_i32(self.session_epoch);
        }
        buf.put_array_len(self.topics.len(), compact);
        for topic in &self.topics {
            buf.put_string(topic.name, compact);
            buf.put_array_len(topic.partitions.len(), compact);
            for p in &topic.partitions {
                buf.put_i32(p.partition);
                if version >= 9 {
                    buf.put_i32(p.current_leader_epoch);
                }
                buf.put_i64(p.fetch_offset);
                if version >= 12 {
                    buf.put_i32(p.last_fetched_epoch);
                }
                if version >= 5 {
                    buf.put_i64(-1); // log_start_offset: followers only
                }
                buf.put_i32(p.partition_max_bytes);
                buf.put_tagged_fields_if(compact);
            }
            buf.put_tagged_fields_if(compact);
        }
        if version >= 7 {
            buf.put_array_len(self.forgotten.len(), compact);
            for topic in &self.forgotten {
                buf.put_string(topic.name, compact);
                buf.put_array_len(topic.partitions.len(), compact);
                for p in &topic.partitions {
                    buf.put_i32(*p);
                }
                buf.put_tagged_fields_if(compact);
            }
        }
        if version >= 11 {
            buf.put_string(self.rack_id, compact);
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<FetchResponse> {
        let compact = version >= Self::FLEXIBLE_FROM;
        let throttle_time_ms = r.i32()?;
        let (error_code, session_id) = if version >= 7 {
            (r.i16()?, r.i32()?)
        } else {
            (0, 0)
        };
        let topics = r.array(compact, |r| {
            let topic = r.string(compact)?;
            let partitions = r.array(compact, |r| decode_partition(r, version, compact))?;
            r.tagged_fields_if(compact)?;
            Ok(FetchTopicResponse { topic, partitions })
        })?;
        r.tagged_fields_if(compact)?;
        Ok(FetchResponse {
            throttle_time_ms,
            error_code,
            session_id,
            topics,
        })
    }
}

fn decode_partition(
    r: &mut Reader,
    version: i16,
    compact: bool,
) -> DecodeResult<FetchPartitionResponse> {
    let partition_index = r.i32()?;
    let error_code = r.i16()?;
    let high_watermark = r.i64()?;
    let last_stable_offset = r.i64()?;
    let log_start_offset = if version >= 5 { r.i64()? } else { -1 };
    let aborted_transactions = r.array(compact, |r| {
        let tx = AbortedTransaction {
            producer_id: r.i64()?,
            first_offset: r.i64()?,
        };
        r.tagged_fields_if(compact)?;
        Ok(tx)
    })?;
    let preferred_read_replica = if version >= 11 { r.i32()? } else { -1 };
    let records = r.nullable_bytes(compact)?;
    // v12+: diverging_epoch (tag 0), current_leader (tag 1), snapshot_id (tag 2) are skipped.
    r.tagged_fields_if(compact)?;
    Ok(FetchPartitionResponse {
        partition_index,
        error_code,
        high_watermark,
        last_stable_offset,
        log_start_offset,
        aborted_transactions,
        preferred_read_replica,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::decode_whole;
    use super::super::test_support::encode_request;
    use super::*;
    use crate::protocol::codec::DecodeError;

    /// (partition, current_leader_epoch, fetch_offset, last_fetched_epoch, log_start_offset,
    /// partition_max_bytes) as a broker reads them.
    type DecodedPartition = (i32, i32, i64, i32, i64, i32);

    /// What a broker reads from our request (test-only decoder), with the fields absent from a
    /// version at their defaults.
    #[derive(Debug, PartialEq, Eq)]
    struct DecodedRequest {
        replica_id: i32,
        max_wait_ms: i32,
        min_bytes: i32,
        max_bytes: i32,
        isolation_level: i8,
        session_id: i32,
        session_epoch: i32,
        topics: Vec<(String, Vec<DecodedPartition>)>,
        forgotten: Vec<(String, Vec<i32>)>,
        rack_id: String,
    }

    fn decode_request(body: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 12;
        let mut r = Reader::new(body);
        let replica_id = r.i32()?;
        let max_wait_ms = r.i32()?;
        let min_bytes = r.i32()?;
        let max_bytes = r.i32()?;
        let isolation_level = r.i8()?;
        let (session_id, session_epoch) = if version >= 7 {
            (r.i32()?, r.i32()?)
        } else {
            (0, -1)
        };
        let topics = r.array(compact, |r| {
            let name = r.string(compact)?;
            let parts = r.array(compact, |r| {
                let partition = r.i32()?;
                let cle = if version >= 9 { r.i32()? } else { -1 };
                let offset = r.i64()?;
                let lfe = if version >= 12 { r.i32()? } else { -1 };
                let lso = if version >= 5 { r.i64()? } else { -1 };
                let max = r.i32()?;
                r.tagged_fields_if(compact)?;
                Ok((partition, cle, offset, lfe, lso, max))
            })?;
            r.tagged_fields_if(compact)?;
            Ok((name, parts))
        })?;
        let forgotten = if version >= 7 {
            r.array(compact, |r| {
                let name = r.string(compact)?;
                let parts = r.array(compact, |r| r.i32())?;
                r.tagged_fields_if(compact)?;
                Ok((name, parts))
            })?
        } else {
            Vec::new()
        };
        let rack_id = if version >= 11 {
            r.string(compact)?
        } else {
            String::new()
        };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "trailing bytes");
        Ok(DecodedRequest {
            replica_id,
            max_wait_ms,
            min_bytes,
            max_bytes,
            isolation_level,
            session_id,
            session_epoch,
            topics,
            forgotten,
            rack_id,
        })
    }

    /// Test-only response encoder (the broker side). In v12 every partition carries the three
    /// tagged fields we skip, and the top level an unknown one.
    fn encode_response(resp: &FetchResponse, version: i16) -> Bytes {
        let compact = version >= 12;
        let mut b = BytesMut::new();
        b.put_i32(resp.throttle_time_ms);
        if version >= 7 {
            b.put_i16(resp.error_code);
            b.put_i32(resp.session_id);
        }
        b.put_array_len(resp.topics.len(), compact);
        for t in &resp.topics {
            b.put_string(&t.topic, compact);
            b.put_array_len(t.partitions.len(), compact);
            for p in &t.partitions {
                b.put_i32(p.partition_index);
                b.put_i16(p.error_code);
                b.put_i64(p.high_watermark);
                b.put_i64(p.last_stable_offset);
                if version >= 5 {
                    b.put_i64(p.log_start_offset);
                }
                b.put_array_len(p.aborted_transactions.len(), compact);
                for tx in &p.aborted_transactions {
                    b.put_i64(tx.producer_id);
                    b.put_i64(tx.first_offset);
                    b.put_tagged_fields_if(compact);
                }
                if version >= 11 {
                    b.put_i32(p.preferred_read_replica);
                }
                b.put_nullable_bytes(p.records.as_deref(), compact);
                if compact {
                    b.put_uvarint(3);
                    // diverging_epoch: epoch, end_offset, tags
                    b.put_uvarint(0);
                    b.put_uvarint(13);
                    b.put_i32(4);
                    b.put_i64(100);
                    b.put_uvarint(0);
                    // current_leader: leader_id, leader_epoch, tags
                    b.put_uvarint(1);
                    b.put_uvarint(9);
                    b.put_i32(2);
                    b.put_i32(5);
                    b.put_uvarint(0);
                    // snapshot_id: end_offset, epoch, tags
                    b.put_uvarint(2);
                    b.put_uvarint(13);
                    b.put_i64(90);
                    b.put_i32(3);
                    b.put_uvarint(0);
                }
            }
            b.put_tagged_fields_if(compact);
        }
        if compact {
            b.put_uvarint(1);
            b.put_uvarint(5);
            b.put_uvarint(1);
            b.put_u8(0);
        }
        b.freeze()
    }

    fn sample_request() -> FetchRequest<'static> {
        FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 52_428_800,
            isolation_level: IsolationLevel::ReadCommitted,
            topics: vec![
                FetchTopic {
                    name: "orders",
                    partitions: vec![
                        FetchPartition::new(0, 42, 1_048_576),
                        FetchPartition {
                            partition: 3,
                            current_leader_epoch: 7,
                            fetch_offset: 1 << 40,
                            last_fetched_epoch: 6,
                            partition_max_bytes: 65_536,
                        },
                    ],
                },
                FetchTopic {
                    name: "empty",
                    partitions: vec![],
                },
            ],
            session_id: 77,
            session_epoch: 3,
            forgotten: vec![FetchTopicPartitions {
                name: "gone",
                partitions: vec![1, 4],
            }],
            rack_id: "eu-west-1a",
        }
    }

    fn sample(version: i16) -> FetchResponse {
        let records = Bytes::from((0..300u16).map(|i| i as u8).collect::<Vec<_>>());
        FetchResponse {
            throttle_time_ms: 3,
            error_code: if version >= 7 { 58 } else { 0 },
            session_id: if version >= 7 { 12 } else { 0 },
            topics: vec![
                FetchTopicResponse {
                    topic: "orders".into(),
                    partitions: vec![
                        FetchPartitionResponse {
                            partition_index: 0,
                            error_code: 0,
                            high_watermark: 1000,
                            last_stable_offset: 990,
                            log_start_offset: if version >= 5 { 10 } else { -1 },
                            aborted_transactions: vec![
                                AbortedTransaction {
                                    producer_id: 77,
                                    first_offset: 900,
                                },
                                AbortedTransaction {
                                    producer_id: 78,
                                    first_offset: 950,
                                },
                            ],
                            preferred_read_replica: if version >= 11 { 2 } else { -1 },
                            records: Some(records),
                        },
                        FetchPartitionResponse {
                            partition_index: 1,
                            error_code: 1,
                            high_watermark: -1,
                            last_stable_offset: -1,
                            log_start_offset: -1,
                            aborted_transactions: vec![],
                            preferred_read_replica: -1,
                            records: None,
                        },
                        FetchPartitionResponse {
                            partition_index: 2,
                            error_code: 0,
                            high_watermark: 5,
                            last_stable_offset: 5,
                            log_start_offset: if version >= 5 { 0 } else { -1 },
                            aborted_transactions: vec![],
                            preferred_read_replica: -1,
                            records: Some(Bytes::new()),
                        },
                    ],
                },
                FetchTopicResponse {
                    topic: "other".into(),
                    partitions: vec![],
                },
            ],
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let req = sample_request();
        for v in FetchRequest::MIN_VERSION..=FetchRequest::MAX_VERSION {
            let got = decode_request(encode_request(&req, v), v).unwrap();
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| {
                            (
                                p.partition,
                                if v >= 9 { p.current_leader_epoch } else { -1 },
                                p.fetch_offset,
                                if v >= 12 { p.last_fetched_epoch } else { -1 },
                                -1,
                                p.partition_max_bytes,
                            )
                        })
                        .collect();
                    (t.name.to_string(), parts)
                })
                .collect();
            assert_eq!(
                got,
                DecodedRequest {
                    replica_id: -1,
                    max_wait_ms: 500,
                    min_bytes: 1,
                    max_bytes: 52_428_800,
                    isolation_level: 1,
                    session_id: if v >= 7 { 77 } else { 0 },
                    session_epoch: if v >= 7 { 3 } else { -1 },
                    topics,
                    forgotten: if v >= 7 {
                        vec![("gone".into(), vec![1, 4])]
                    } else {
                        Vec::new()
                    },
                    rack_id: if v >= 11 {
                        "eu-west-1a".into()
                    } else {
                        String::new()
                    },
                },
                "v{v}"
            );
        }
    }

    #[test]
    fn request_v4_bytes_by_hand() {
        let req = FetchRequest {
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
            topics: vec![FetchTopic {
                name: "t",
                partitions: vec![FetchPartition::new(2, 9, 512)],
            }],
            session_id: 0,
            session_epoch: -1,
            forgotten: vec![],
            rack_id: "ignored before v11",
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0, 0, 0, 100,           // max_wait_ms
            0, 0, 0, 1,             // min_bytes
            0, 0, 4, 0,             // max_bytes
            0,                      // isolation_level
            0, 0, 0, 1,             // 1 topic
            0, 1, b't',             //   "t"
            0, 0, 0, 1,             //   1 partition
            0, 0, 0, 2,             //     partition 2
            0, 0, 0, 0, 0, 0, 0, 9, //     fetch_offset 9
            0, 0, 2, 0,             //     partition_max_bytes 512
        ];
        assert_eq!(&encode_request(&req, 4)[..], want);
    }

    #[test]
    fn request_v12_bytes_by_hand() {
        let req = FetchRequest {
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 1024,
            isolation_level: IsolationLevel::ReadCommitted,
            topics: vec![FetchTopic {
                name: "t",
                partitions: vec![FetchPartition {
                    partition: 2,
                    current_leader_epoch: 5,
                    fetch_offset: 9,
                    last_fetched_epoch: 4,
                    partition_max_bytes: 512,
                }],
            }],
            session_id: 0,
            session_epoch: -1,
            forgotten: vec![],
            rack_id: "r",
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0, 0, 0, 100,           // max_wait_ms
            0, 0, 0, 1,             // min_bytes
            0, 0, 4, 0,             // max_bytes
            1,                      // isolation_level
            0, 0, 0, 0,             // session_id 0
            0xff, 0xff, 0xff, 0xff, // session_epoch -1
            2,                      // 1 topic (compact)
            2, b't',                //   "t"
            2,                      //   1 partition
            0, 0, 0, 2,             //     partition 2
            0, 0, 0, 5,             //     current_leader_epoch 5
            0, 0, 0, 0, 0, 0, 0, 9, //     fetch_offset 9
            0, 0, 0, 4,             //     last_fetched_epoch 4
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_start_offset -1
            0, 0, 2, 0,             //     partition_max_bytes 512
            0,                      //     tags
            0,                      //   tags
            1,                      // forgotten_topics_data: empty
            2, b'r',                // rack_id "r"
            0,                      // tags
        ];
        assert_eq!(&encode_request(&req, 12)[..], want);
    }

    #[test]
    fn response_round_trips_in_every_version() {
        for v in FetchRequest::MIN_VERSION..=FetchRequest::MAX_VERSION {
            let resp = sample(v);
            assert_eq!(
                decode_whole::<FetchRequest>(encode_response(&resp, v), v).unwrap(),
                resp,
                "v{v}"
            );
        }
    }

    #[test]
    fn response_v4_bytes_by_hand() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0,                 // throttle_time_ms
            0, 0, 0, 1,                 // 1 topic
            0, 1, b't',                 //   "t"
            0, 0, 0, 1,                 //   1 partition
            0, 0, 0, 0,                 //     partition 0
            0, 0,                       //     error_code
            0, 0, 0, 0, 0, 0, 0, 8,     //     high_watermark 8
            0, 0, 0, 0, 0, 0, 0, 6,     //     last_stable_offset 6
            0xff, 0xff, 0xff, 0xff,     //     aborted_transactions null
            0, 0, 0, 3, 0xa, 0xb, 0xc,  //     records (3 bytes)
        ];
        let frame = Bytes::from_static(bytes);
        let resp = decode_whole::<FetchRequest>(frame.clone(), 4).unwrap();
        let p = &resp.topics[0].partitions[0];
        assert_eq!(resp.topics[0].topic, "t");
        assert_eq!((p.high_watermark, p.last_stable_offset), (8, 6));
        assert_eq!(p.log_start_offset, -1);
        assert!(p.aborted_transactions.is_empty());
        let records = p.records.as_ref().unwrap();
        assert_eq!(&records[..], &[0xa, 0xb, 0xc]);
        // Zero copy: the records point into the frame.
        assert_eq!(records.as_ptr(), frame[frame.len() - 3..].as_ptr());
    }

    #[test]
    fn every_truncation_fails_without_panicking() {
        for v in FetchRequest::MIN_VERSION..=FetchRequest::MAX_VERSION {
            let full = encode_response(&sample(v), v);
            for n in 0..full.len() {
                let mut r = Reader::new(full.slice(..n));
                assert!(
                    FetchRequest::decode_response(&mut r, v).is_err(),
                    "v{v} prefix {n}"
                );
            }
        }
    }

    #[test]
    fn hostile_lengths_fail() {
        // v4: topics claiming i32::MAX elements.
        let bytes = [0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0];
        assert!(matches!(
            decode_whole::<FetchRequest>(Bytes::copy_from_slice(&bytes), 4),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // v12: records claiming 2^31 bytes.
        let mut b = BytesMut::new();
        b.put_i32(0);
        b.put_i16(0);
        b.put_i32(0);
        b.put_uvarint(2); // 1 topic
        b.put_string("t", true);
        b.put_uvarint(2); // 1 partition
        b.put_i32(0);
        b.put_i16(0);
        b.put_i64(0);
        b.put_i64(0);
        b.put_i64(0);
        b.put_uvarint(1); // no aborted transactions
        b.put_i32(-1);
        b.put_uvarint(1 << 31); // records length 2^31 - 1
        b.put_slice(&[0; 8]);
        assert!(matches!(
            decode_whole::<FetchRequest>(b.freeze(), 12),
            Err(DecodeError::Truncated { what: "bytes", .. })
        ));
    }
}
