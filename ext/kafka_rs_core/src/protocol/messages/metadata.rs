//! Metadata (key 3), versions 1..=12, flexible from 9: brokers, controller, topics, partitions
//! and their leaders.
//!
//! | version | request adds                                   | response adds                        |
//! |---------|------------------------------------------------|--------------------------------------|
//! | 1       | topics nullable (null = all topics)            | rack, controller_id, is_internal     |
//! | 2       |                                                | cluster_id                           |
//! | 3       |                                                | throttle_time_ms                     |
//! | 4       | allow_auto_topic_creation                      |                                      |
//! | 5       |                                                | offline_replicas                     |
//! | 6       |                                                | (no layout change)                   |
//! | 7       |                                                | leader_epoch                         |
//! | 8       | include_{cluster,topic}_authorized_operations | topic/cluster_authorized_operations  |
//! | 9       | flexible                                       | flexible                             |
//! | 10      | topic_id; topic name nullable                  | topic_id                             |
//! | 11      | include_cluster_authorized_operations removed  | cluster_authorized_operations removed|
//! | 12      | (names may be null: lookup by id)              | topic name nullable                  |
//!
//! v0 (an empty array meant "all topics") is not implemented: every broker from 2.1 on speaks
//! 1..=7, Kafka 4.x speaks 0..=13 (v13 adds a top-level error code, KIP-1102, not needed yet).
//! We always query topics by name; the authorized-operations bitfields are neither requested nor
//! kept.

use bytes::{BufMut, BytesMut};

use crate::protocol::api::{ApiKey, Request};
use crate::protocol::codec::{DecodeResult, Reader, WireWrite};

/// Metadata request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataRequest<'a> {
    /// `None`: every topic (a null array). `Some(&[])`: no topic, only brokers and controller.
    pub topics: Option<&'a [&'a str]>,
    /// v4+: whether the broker may create the requested topics that do not exist (if its
    /// `auto.create.topics.enable` allows it). Before v4 the broker decides alone.
    pub allow_auto_topic_creation: bool,
}

impl<'a> MetadataRequest<'a> {
    /// All topics, no auto-creation.
    pub fn all_topics() -> Self {
        MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
        }
    }

    /// These topics, no auto-creation.
    pub fn topics(topics: &'a [&'a str]) -> Self {
        MetadataRequest {
            topics: Some(topics),
            allow_auto_topic_creation: false,
        }
    }
}

/// Metadata response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataResponse {
    /// v3+ (0 before).
    pub throttle_time_ms: i32,
    pub brokers: Vec<MetadataBroker>,
    /// v2+ (`None` before, or when the broker has none).
    pub cluster_id: Option<String>,
    /// v1+; -1 when unknown.
    pub controller_id: i32,
    pub topics: Vec<MetadataTopic>,
}

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    /// v1+; `None` when the broker has no rack.
    pub rack: Option<String>,
}

/// One topic of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    pub error_code: i16,
    /// Always `Some` before v12; from v12 on `None` only for a topic queried by id that does not
    /// exist (we query by name, so in practice always `Some`).
    pub name: Option<String>,
    /// v10+ (all zero before, and for a topic queried by name that does not exist).
    pub topic_id: [u8; 16],
    /// v1+.
    pub is_internal: bool,
    pub partitions: Vec<MetadataPartition>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    pub error_code: i16,
    pub partition_index: i32,
    /// -1 when there is no leader.
    pub leader_id: i32,
    /// v7+ (-1 before).
    pub leader_epoch: i32,
    pub replica_nodes: Vec<i32>,
    pub isr_nodes: Vec<i32>,
    /// v5+ (empty before).
    pub offline_replicas: Vec<i32>,
}

impl Request for MetadataRequest<'_> {
    type Response = MetadataResponse;
    const API_KEY: ApiKey = ApiKey::Metadata;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 12;
    const FLEXIBLE_FROM: i16 = 9;

    fn encode(&self, buf: &mut BytesMut, version: i16) {
        let compact = version >= Self::FLEXIBLE_FROM;
        match self.topics {
            None => buf.put_len(None, compact, true),
            Some(topics) => {
                buf.put_array_len(topics.len(), compact);
                for name in topics {
                    if version >= 10 {
                        buf.put_slice(&[0u8; 16]);
                    }
                    buf.put_string(name, compact);
                    buf.put_tagged_fields_if(compact);
                }
            }
        }
        if version >= 4 {
            buf.put_bool(self.allow_auto_topic_creation);
        }
        if (8..=10).contains(&version) {
            buf.put_bool(false); // include_cluster_authorized_operations
        }
        if version >= 8 {
            buf.put_bool(false); // include_topic_authorized_operations
        }
        buf.put_tagged_fields_if(compact);
    }

    fn decode_response(r: &mut Reader, version: i16) -> DecodeResult<MetadataResponse> {
        let compact = version >= Self::FLEXIBLE_FROM;
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        let brokers = r.array(compact, |r| {
            let broker = MetadataBroker {
                node_id: r.i32()?,
                host: r.string(compact)?,
                port: r.i32()?,
                rack: r.nullable_string(compact)?,
            };
            r.tagged_fields_if(compact)?;
            Ok(broker)
        })?;
        let cluster_id = if version >= 2 {
            r.nullable_string(compact)?
        } else {
            None
        };
        let controller_id = r.i32()?;
        let topics = r.array(compact, |r| decode_topic(r, version, compact))?;
        if (8..=10).contains(&version) {
            r.i32()?; // cluster_authorized_operations
        }
        r.tagged_fields_if(compact)?;
        Ok(MetadataResponse {
            throttle_time_ms,
            brokers,
            cluster_id,
            controller_id,
            topics,
        })
    }
}

fn decode_topic(r: &mut Reader, version: i16, compact: bool) -> DecodeResult<MetadataTopic> {
    let error_code = r.i16()?;
    let name = if version >= 12 {
        r.nullable_string(compact)?
    } else {
        Some(r.string(compact)?)
    };
    let topic_id = if version >= 10 { r.uuid()? } else { [0; 16] };
    let is_internal = r.bool()?;
    let partitions = r.array(compact, |r| {
        let error_code = r.i16()?;
        let partition_index = r.i32()?;
        let leader_id = r.i32()?;
        let leader_epoch = if version >= 7 { r.i32()? } else { -1 };
        let replica_nodes = r.array(compact, Reader::i32)?;
        let isr_nodes = r.array(compact, Reader::i32)?;
        let offline_replicas = if version >= 5 {
            r.array(compact, Reader::i32)?
        } else {
            Vec::new()
        };
        r.tagged_fields_if(compact)?;
        Ok(MetadataPartition {
            error_code,
            partition_index,
            leader_id,
            leader_epoch,
            replica_nodes,
            isr_nodes,
            offline_replicas,
        })
    })?;
    if version >= 8 {
        r.i32()?; // topic_authorized_operations
    }
    r.tagged_fields_if(compact)?;
    Ok(MetadataTopic {
        error_code,
        name,
        topic_id,
        is_internal,
        partitions,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::decode_whole;
    use super::super::test_support::encode_request;
    use bytes::Bytes;

    use super::*;
    use crate::protocol::codec::DecodeError;

    /// (topic_id if v10+, name) as a broker reads them.
    type DecodedTopic = (Option<[u8; 16]>, Option<String>);

    /// What a broker reads from our request (test-only decoder).
    #[derive(Debug, PartialEq, Eq)]
    struct DecodedRequest {
        topics: Option<Vec<DecodedTopic>>,
        allow_auto_topic_creation: Option<bool>,
        include_cluster_ops: Option<bool>,
        include_topic_ops: Option<bool>,
    }

    fn decode_request(body: Bytes, version: i16) -> DecodeResult<DecodedRequest> {
        let compact = version >= 9;
        let mut r = Reader::new(body);
        let topics = match r.nullable_array_len(compact)? {
            None => None,
            Some(n) => {
                let mut out = Vec::new();
                for _ in 0..n {
                    let id = if version >= 10 { Some(r.uuid()?) } else { None };
                    let name = if version >= 10 {
                        r.nullable_string(compact)?
                    } else {
                        Some(r.string(compact)?)
                    };
                    r.tagged_fields_if(compact)?;
                    out.push((id, name));
                }
                Some(out)
            }
        };
        let allow_auto_topic_creation = if version >= 4 { Some(r.bool()?) } else { None };
        let include_cluster_ops = if (8..=10).contains(&version) {
            Some(r.bool()?)
        } else {
            None
        };
        let include_topic_ops = if version >= 8 { Some(r.bool()?) } else { None };
        r.tagged_fields_if(compact)?;
        assert!(r.is_empty(), "trailing bytes");
        Ok(DecodedRequest {
            topics,
            allow_auto_topic_creation,
            include_cluster_ops,
            include_topic_ops,
        })
    }

    /// Test-only response encoder (the broker side). Writes non-zero authorized-operations
    /// bitfields and an unknown tagged field in every flexible struct, to check they are skipped.
    fn encode_response(resp: &MetadataResponse, version: i16) -> Bytes {
        let compact = version >= 9;
        let mut b = BytesMut::new();
        let tags = |b: &mut BytesMut| {
            if compact {
                b.put_uvarint(1);
                b.put_uvarint(9);
                b.put_uvarint(2);
                b.put_u16(0xbeef);
            }
        };
        let ints = |b: &mut BytesMut, v: &[i32]| {
            b.put_array_len(v.len(), compact);
            for x in v {
                b.put_i32(*x);
            }
        };
        if version >= 3 {
            b.put_i32(resp.throttle_time_ms);
        }
        b.put_array_len(resp.brokers.len(), compact);
        for br in &resp.brokers {
            b.put_i32(br.node_id);
            b.put_string(&br.host, compact);
            b.put_i32(br.port);
            b.put_nullable_string(br.rack.as_deref(), compact);
            tags(&mut b);
        }
        if version >= 2 {
            b.put_nullable_string(resp.cluster_id.as_deref(), compact);
        }
        b.put_i32(resp.controller_id);
        b.put_array_len(resp.topics.len(), compact);
        for t in &resp.topics {
            b.put_i16(t.error_code);
            b.put_nullable_string(t.name.as_deref(), compact);
            if version >= 10 {
                b.put_slice(&t.topic_id);
            }
            b.put_bool(t.is_internal);
            b.put_array_len(t.partitions.len(), compact);
            for p in &t.partitions {
                b.put_i16(p.error_code);
                b.put_i32(p.partition_index);
                b.put_i32(p.leader_id);
                if version >= 7 {
                    b.put_i32(p.leader_epoch);
                }
                ints(&mut b, &p.replica_nodes);
                ints(&mut b, &p.isr_nodes);
                if version >= 5 {
                    ints(&mut b, &p.offline_replicas);
                }
                tags(&mut b);
            }
            if version >= 8 {
                b.put_i32(0x0000_0f00);
            }
            tags(&mut b);
        }
        if (8..=10).contains(&version) {
            b.put_i32(0x0000_00f0);
        }
        tags(&mut b);
        b.freeze()
    }

    /// A response holding, for `version`, exactly what that version carries.
    fn sample(version: i16) -> MetadataResponse {
        let long_name = "t".repeat(200); // two-byte compact length
        MetadataResponse {
            throttle_time_ms: if version >= 3 { 17 } else { 0 },
            brokers: vec![
                MetadataBroker {
                    node_id: 1,
                    host: "b1.example".into(),
                    port: 9092,
                    rack: Some("rack-a".into()),
                },
                MetadataBroker {
                    node_id: 2,
                    host: long_name.clone(),
                    port: 9093,
                    rack: None,
                },
            ],
            cluster_id: (version >= 2).then(|| "cluster-xyz".into()),
            controller_id: 2,
            topics: vec![
                MetadataTopic {
                    error_code: 0,
                    name: Some("orders".into()),
                    topic_id: if version >= 10 { [7; 16] } else { [0; 16] },
                    is_internal: false,
                    partitions: (0..3)
                        .map(|i| MetadataPartition {
                            error_code: if i == 2 { 5 } else { 0 },
                            partition_index: i,
                            leader_id: if i == 2 { -1 } else { 1 + i % 2 },
                            leader_epoch: if version >= 7 { 40 + i } else { -1 },
                            replica_nodes: vec![1, 2],
                            isr_nodes: vec![1 + i % 2],
                            offline_replicas: if version >= 5 && i == 2 {
                                vec![2]
                            } else {
                                vec![]
                            },
                        })
                        .collect(),
                },
                MetadataTopic {
                    error_code: 3,
                    name: if version >= 12 { None } else { Some(long_name) },
                    topic_id: [0; 16],
                    is_internal: true,
                    partitions: vec![],
                },
            ],
        }
    }

    #[test]
    fn request_round_trips_in_every_version() {
        let names = ["a", "topic-two"];
        for v in MetadataRequest::MIN_VERSION..=MetadataRequest::MAX_VERSION {
            let cases = [
                MetadataRequest::all_topics(),
                MetadataRequest::topics(&[]),
                MetadataRequest {
                    topics: Some(&names),
                    allow_auto_topic_creation: true,
                },
            ];
            for req in cases {
                let got = decode_request(encode_request(&req, v), v).unwrap();
                let want_topics = req.topics.map(|ts| {
                    ts.iter()
                        .map(|t| ((v >= 10).then_some([0; 16]), Some(t.to_string())))
                        .collect::<Vec<_>>()
                });
                assert_eq!(
                    got,
                    DecodedRequest {
                        topics: want_topics,
                        allow_auto_topic_creation: (v >= 4)
                            .then_some(req.allow_auto_topic_creation),
                        include_cluster_ops: (8..=10).contains(&v).then_some(false),
                        include_topic_ops: (v >= 8).then_some(false),
                    },
                    "v{v} {req:?}"
                );
            }
        }
    }

    #[test]
    fn request_bytes_by_hand() {
        // v1, all topics: a null array.
        assert_eq!(
            &encode_request(&MetadataRequest::all_topics(), 1)[..],
            &[0xff, 0xff, 0xff, 0xff]
        );
        // v4, topic "ab", allow auto-creation false.
        let names = ["ab"];
        assert_eq!(
            &encode_request(&MetadataRequest::topics(&names), 4)[..],
            &[0, 0, 0, 1, 0, 2, b'a', b'b', 0]
        );
        // v9 (flexible), no topic: compact array of 0 (1), allow false, topic ops false, no tags.
        assert_eq!(
            &encode_request(&MetadataRequest::topics(&[]), 9)[..],
            &[1, 0, 0, 0, 0]
        );
        // v12, null topics: compact null (0), allow false, topic ops false, tags.
        assert_eq!(
            &encode_request(&MetadataRequest::all_topics(), 12)[..],
            &[0, 0, 0, 0]
        );
        // v10, topic "x": compact array of 1 (2), zero uuid, compact "x", tags, allow, cluster
        // ops, topic ops, tags.
        let names = ["x"];
        let mut want = vec![2u8];
        want.extend_from_slice(&[0; 16]);
        want.extend_from_slice(&[2, b'x', 0, 0, 0, 0, 0]);
        assert_eq!(
            &encode_request(&MetadataRequest::topics(&names), 10)[..],
            &want[..]
        );
    }

    #[test]
    fn response_round_trips_in_every_version() {
        for v in MetadataRequest::MIN_VERSION..=MetadataRequest::MAX_VERSION {
            let resp = sample(v);
            assert_eq!(
                decode_whole::<MetadataRequest>(encode_response(&resp, v), v).unwrap(),
                resp,
                "v{v}"
            );
        }
    }

    #[test]
    fn response_v1_bytes_by_hand() {
        // Metadata v1: brokers [node_id host port rack] controller_id
        //   topics [error_code name is_internal partitions [error_code partition leader
        //   replicas isr]]
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 1,                 // 1 broker
            0, 0, 0, 5,                 //   node_id 5
            0, 4, b'h', b'o', b's', b't', //   host "host"
            0, 0, 0x23, 0x84,           //   port 9092
            0xff, 0xff,                 //   rack null
            0, 0, 0, 5,                 // controller_id 5
            0, 0, 0, 1,                 // 1 topic
            0, 0,                       //   error_code 0
            0, 1, b't',                 //   name "t"
            0,                          //   is_internal false
            0, 0, 0, 1,                 //   1 partition
            0, 0,                       //     error_code 0
            0, 0, 0, 0,                 //     partition 0
            0, 0, 0, 5,                 //     leader 5
            0, 0, 0, 1, 0, 0, 0, 5,     //     replicas [5]
            0, 0, 0, 1, 0, 0, 0, 5,     //     isr [5]
        ];
        let resp = decode_whole::<MetadataRequest>(Bytes::from_static(bytes), 1).unwrap();
        assert_eq!(
            resp,
            MetadataResponse {
                throttle_time_ms: 0,
                brokers: vec![MetadataBroker {
                    node_id: 5,
                    host: "host".into(),
                    port: 9092,
                    rack: None,
                }],
                cluster_id: None,
                controller_id: 5,
                topics: vec![MetadataTopic {
                    error_code: 0,
                    name: Some("t".into()),
                    topic_id: [0; 16],
                    is_internal: false,
                    partitions: vec![MetadataPartition {
                        error_code: 0,
                        partition_index: 0,
                        leader_id: 5,
                        leader_epoch: -1,
                        replica_nodes: vec![5],
                        isr_nodes: vec![5],
                        offline_replicas: vec![],
                    }],
                }],
            }
        );
    }

    #[test]
    fn null_topic_name_is_an_error_before_v12() {
        let mut resp = sample(11);
        resp.topics[1].name = None;
        assert!(decode_whole::<MetadataRequest>(encode_response(&resp, 11), 11).is_err());
    }

    #[test]
    fn null_arrays_read_as_empty() {
        // v1, null brokers, controller -1, null topics.
        let bytes = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let resp = decode_whole::<MetadataRequest>(Bytes::copy_from_slice(&bytes), 1).unwrap();
        assert!(resp.brokers.is_empty() && resp.topics.is_empty());
        assert_eq!(resp.controller_id, -1);
    }

    #[test]
    fn every_truncation_fails_without_panicking() {
        for v in MetadataRequest::MIN_VERSION..=MetadataRequest::MAX_VERSION {
            let full = encode_response(&sample(v), v);
            for n in 0..full.len() {
                let mut r = Reader::new(full.slice(..n));
                assert!(
                    MetadataRequest::decode_response(&mut r, v).is_err(),
                    "v{v} prefix {n}"
                );
            }
        }
    }

    fn is_array_error<T>(r: DecodeResult<T>) -> bool {
        matches!(r, Err(DecodeError::Invalid { what: "array", .. }))
    }

    #[test]
    fn hostile_array_counts_fail() {
        // v1: brokers claiming i32::MAX elements.
        let bytes = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(is_array_error(decode_whole::<MetadataRequest>(
            Bytes::copy_from_slice(&bytes),
            1
        )));
        // v9: throttle, brokers claiming 2^32 - 2 elements (compact).
        let bytes = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
        assert!(is_array_error(decode_whole::<MetadataRequest>(
            Bytes::copy_from_slice(&bytes),
            9
        )));
        // v1: a partition whose replica list claims i32::MAX elements.
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1,
            0, 0, 0, 1, b't', 0, 0, 0, 0, 1,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0x7f, 0xff, 0xff, 0xff, 0, 0,
        ];
        assert!(is_array_error(decode_whole::<MetadataRequest>(
            Bytes::from_static(bytes),
            1
        )));
    }
}
