//! The consumer protocol: what consumer-group members put in the opaque bytes of the group APIs
//! (protocol type [`PROTOCOL_TYPE`]).
//!
//! * A member's [`ConsumerProtocolSubscription`] is its `metadata` for each protocol it offers in
//!   JoinGroup ([`JoinGroupProtocol`](super::messages::join_group::JoinGroupProtocol)); the leader
//!   receives every member's subscription in the JoinGroup response.
//! * The leader's [`ConsumerProtocolAssignment`] for each member travels in its SyncGroup request;
//!   each member receives its own in the SyncGroup response.
//!
//! Both are classic (non-flexible) encodings preceded by an `i16` version, as the Java client
//! writes them; librdkafka and ruby-kafka read and write the same layout.
//!
//! | version | subscription | assignment |
//! |---------|--------------|------------|
//! | 0 | `topics`, `user_data` | `assigned_partitions`, `user_data` |
//! | 1 | `owned_partitions` (for cooperative rebalancing, KIP-429) | same as 0 |
//! | 2 | `generation_id` of the owned partitions (KIP-792) | same as 0 |
//! | 3 | `rack_id` (rack-aware assignment, KIP-881) | same as 0 |
//!
//! Versions only ever append fields, so a reader parses a version newer than it knows as the
//! newest it knows and ignores the bytes after it (as the Java client does); a version below 0 is
//! an error. A member that speaks only v0 (ruby-kafka) reads the v0 fields of a newer encoding
//! and ignores the rest.
//!
//! A SyncGroup response carries empty bytes to a member the leader left out of its assignment;
//! [`ConsumerProtocolAssignment::decode`] reads those as an empty assignment (as librdkafka does).
//!
//! Every length is checked against the bytes left before anything is allocated (see
//! [`codec`](super::codec)): these bytes come from other members, through the broker.

use bytes::{BufMut, Bytes, BytesMut};

use super::codec::{DecodeError, DecodeResult, Reader, WireWrite};

/// The JoinGroup `protocol_type` of consumer groups.
pub const PROTOCOL_TYPE: &str = "consumer";
/// The newest version of both the subscription and the assignment.
pub const MAX_VERSION: i16 = 3;
/// `generation_id` of a subscription that owns nothing from a known generation (and before v2).
pub const NO_GENERATION: i32 = -1;

/// The partitions of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// What a member subscribes to, sent as its JoinGroup protocol metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerProtocolSubscription {
    pub topics: Vec<String>,
    /// Opaque data for the assignor (e.g. the sticky assignor's previous assignment).
    pub user_data: Option<Bytes>,
    /// The partitions the member holds now (v1+); empty before.
    pub owned_partitions: Vec<TopicPartitions>,
    /// The generation in which the member got `owned_partitions` (v2+); [`NO_GENERATION`]
    /// before.
    pub generation_id: i32,
    /// The member's `client.rack` (v3+); `None` before.
    pub rack_id: Option<String>,
}

impl ConsumerProtocolSubscription {
    /// A subscription to `topics` that owns nothing.
    pub fn new(topics: Vec<String>) -> Self {
        ConsumerProtocolSubscription {
            topics,
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: NO_GENERATION,
            rack_id: None,
        }
    }

    /// The version prefix and the fields of `version` (0 to [`MAX_VERSION`]; fields a version
    /// lacks are left out).
    pub fn encode(&self, version: i16) -> Bytes {
        debug_assert!((0..=MAX_VERSION).contains(&version));
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        buf.put_array_len(self.topics.len(), false);
        for topic in &self.topics {
            buf.put_string(topic, false);
        }
        buf.put_nullable_bytes(self.user_data.as_deref(), false);
        if version >= 1 {
            put_topic_partitions(&mut buf, &self.owned_partitions);
        }
        if version >= 2 {
            buf.put_i32(self.generation_id);
        }
        if version >= 3 {
            buf.put_nullable_string(self.rack_id.as_deref(), false);
        }
        buf.freeze()
    }

    /// Reads a subscription of any version; bytes after the fields of its version are ignored.
    pub fn decode(bytes: Bytes) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let version = read_version(&mut r)?;
        let topics = r.array(false, |r| r.string(false))?;
        let user_data = r.nullable_bytes(false)?;
        let owned_partitions = if version >= 1 {
            read_topic_partitions(&mut r)?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 {
            r.i32()?
        } else {
            NO_GENERATION
        };
        let rack_id = if version >= 3 {
            r.nullable_string(false)?
        } else {
            None
        };
        Ok(ConsumerProtocolSubscription {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }
}

/// The partitions the leader assigns one member, sent in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerProtocolAssignment {
    pub assigned_partitions: Vec<TopicPartitions>,
    /// Opaque data from the assignor.
    pub user_data: Option<Bytes>,
}

impl ConsumerProtocolAssignment {
    /// The version prefix and the fields (the same in every version, 0 to [`MAX_VERSION`]).
    pub fn encode(&self, version: i16) -> Bytes {
        debug_assert!((0..=MAX_VERSION).contains(&version));
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        put_topic_partitions(&mut buf, &self.assigned_partitions);
        buf.put_nullable_bytes(self.user_data.as_deref(), false);
        buf.freeze()
    }

    /// Reads an assignment of any version; bytes after its fields are ignored. Empty bytes (a
    /// member the leader left out) read as an empty assignment.
    pub fn decode(bytes: Bytes) -> DecodeResult<Self> {
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        let mut r = Reader::new(bytes);
        read_version(&mut r)?;
        let assigned_partitions = read_topic_partitions(&mut r)?;
        let user_data = r.nullable_bytes(false)?;
        Ok(ConsumerProtocolAssignment {
            assigned_partitions,
            user_data,
        })
    }
}

/// The version prefix, with a version newer than ours read as ours.
fn read_version(r: &mut Reader) -> DecodeResult<i16> {
    let version = r.i16()?;
    if version < 0 {
        return Err(DecodeError::invalid(
            "consumer protocol version",
            format!("{version} is negative"),
        ));
    }
    Ok(version.min(MAX_VERSION))
}

fn put_topic_partitions(buf: &mut BytesMut, topics: &[TopicPartitions]) {
    buf.put_array_len(topics.len(), false);
    for t in topics {
        buf.put_string(&t.topic, false);
        buf.put_array_len(t.partitions.len(), false);
        for &p in &t.partitions {
            buf.put_i32(p);
        }
    }
}

fn read_topic_partitions(r: &mut Reader) -> DecodeResult<Vec<TopicPartitions>> {
    r.array(false, |r| {
        Ok(TopicPartitions {
            topic: r.string(false)?,
            partitions: r.array(false, Reader::i32)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partitions: &[i32]) -> TopicPartitions {
        TopicPartitions {
            topic: topic.into(),
            partitions: partitions.to_vec(),
        }
    }

    /// A subscription holding, for `version`, exactly what that version carries.
    fn subscription(version: i16) -> ConsumerProtocolSubscription {
        ConsumerProtocolSubscription {
            topics: vec!["orders".into(), "payments-ü".into()],
            user_data: Some(Bytes::from_static(&[1, 2, 3])),
            owned_partitions: if version >= 1 {
                vec![tp("orders", &[0, 3]), tp("payments-ü", &[])]
            } else {
                vec![]
            },
            generation_id: if version >= 2 { 17 } else { NO_GENERATION },
            rack_id: (version >= 3).then(|| "eu-west-1a".into()),
        }
    }

    fn assignment() -> ConsumerProtocolAssignment {
        ConsumerProtocolAssignment {
            assigned_partitions: vec![tp("orders", &[1, 2]), tp("t", &[0])],
            user_data: Some(Bytes::from_static(b"gen-4")),
        }
    }

    #[test]
    fn subscriptions_round_trip_in_every_version() {
        for v in 0..=MAX_VERSION {
            let sub = subscription(v);
            assert_eq!(
                ConsumerProtocolSubscription::decode(sub.encode(v)).unwrap(),
                sub,
                "v{v}"
            );
            let bare = ConsumerProtocolSubscription::new(vec![]);
            assert_eq!(
                ConsumerProtocolSubscription::decode(bare.encode(v)).unwrap(),
                bare,
                "v{v}"
            );
        }
    }

    #[test]
    fn older_versions_leave_the_newer_fields_out() {
        let full = subscription(MAX_VERSION);
        for v in 0..=MAX_VERSION {
            assert_eq!(
                ConsumerProtocolSubscription::decode(full.encode(v)).unwrap(),
                subscription(v),
                "v{v}"
            );
        }
    }

    #[test]
    fn v0_subscription_by_hand() {
        // Version => int16, Topics => [string], UserData => nullable bytes: what ruby-kafka writes
        // and reads.
        let sub = ConsumerProtocolSubscription::new(vec!["ab".into(), "c".into()]);
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 0,                           // version 0
            0, 0, 0, 2,                     // 2 topics
            0, 2, b'a', b'b',               //   "ab"
            0, 1, b'c',                     //   "c"
            0xff, 0xff, 0xff, 0xff,         // user_data null
        ];
        assert_eq!(&sub.encode(0)[..], want);
        assert_eq!(
            ConsumerProtocolSubscription::decode(Bytes::from_static(want)).unwrap(),
            sub
        );
    }

    #[test]
    fn v3_subscription_by_hand() {
        let sub = ConsumerProtocolSubscription {
            topics: vec!["t".into()],
            user_data: Some(Bytes::new()),
            owned_partitions: vec![tp("t", &[4])],
            generation_id: 2,
            rack_id: Some("r".into()),
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 3,                           // version 3
            0, 0, 0, 1, 0, 1, b't',         // topics ["t"]
            0, 0, 0, 0,                     // user_data: empty (as librdkafka sends)
            0, 0, 0, 1,                     // 1 owned topic
            0, 1, b't',                     //   "t"
            0, 0, 0, 1, 0, 0, 0, 4,         //   partitions [4]
            0, 0, 0, 2,                     // generation_id 2
            0, 1, b'r',                     // rack_id "r"
        ];
        assert_eq!(&sub.encode(3)[..], want);
        assert_eq!(
            ConsumerProtocolSubscription::decode(Bytes::from_static(want)).unwrap(),
            sub
        );
    }

    #[test]
    fn assignments_round_trip_in_every_version() {
        for v in 0..=MAX_VERSION {
            let a = assignment();
            assert_eq!(ConsumerProtocolAssignment::decode(a.encode(v)).unwrap(), a);
            let none = ConsumerProtocolAssignment::default();
            assert_eq!(
                ConsumerProtocolAssignment::decode(none.encode(v)).unwrap(),
                none
            );
        }
    }

    #[test]
    fn assignment_by_hand() {
        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![tp("t", &[0, 1])],
            user_data: None,
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 3,                           // version 3
            0, 0, 0, 1,                     // 1 topic
            0, 1, b't',                     //   "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // partitions [0, 1]
            0xff, 0xff, 0xff, 0xff,         // user_data null
        ];
        assert_eq!(&a.encode(3)[..], want);
        // Every version has the same layout after the prefix.
        let mut v0 = want.to_vec();
        v0[1] = 0;
        assert_eq!(&a.encode(0)[..], &v0[..]);
        assert_eq!(
            ConsumerProtocolAssignment::decode(Bytes::from(v0)).unwrap(),
            a
        );
    }

    #[test]
    fn empty_bytes_are_an_empty_assignment() {
        assert_eq!(
            ConsumerProtocolAssignment::decode(Bytes::new()).unwrap(),
            ConsumerProtocolAssignment::default()
        );
        // A subscription cannot be empty.
        assert!(ConsumerProtocolSubscription::decode(Bytes::new()).is_err());
    }

    #[test]
    fn newer_versions_read_as_ours_and_trailing_bytes_are_ignored() {
        // A v7 subscription with a field we do not know appended.
        let mut bytes = BytesMut::from(&subscription(3).encode(3)[..]);
        bytes[1] = 7;
        bytes.put_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(
            ConsumerProtocolSubscription::decode(bytes.freeze()).unwrap(),
            subscription(3)
        );
        // A v1 subscription followed by v2 fields a v1 reader does not know.
        let mut bytes = BytesMut::from(&subscription(2).encode(2)[..]);
        bytes[1] = 1;
        assert_eq!(
            ConsumerProtocolSubscription::decode(bytes.freeze()).unwrap(),
            subscription(1)
        );
        // An assignment of a future version.
        let mut bytes = BytesMut::from(&assignment().encode(3)[..]);
        bytes[1] = 9;
        bytes.put_u8(0);
        assert_eq!(
            ConsumerProtocolAssignment::decode(bytes.freeze()).unwrap(),
            assignment()
        );
    }

    #[test]
    fn negative_versions_are_refused() {
        let mut bytes = BytesMut::from(&subscription(0).encode(0)[..]);
        bytes[0] = 0xff;
        bytes[1] = 0xff;
        let err = ConsumerProtocolSubscription::decode(bytes.freeze()).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Invalid {
                what: "consumer protocol version",
                ..
            }
        ));
        assert!(
            ConsumerProtocolAssignment::decode(Bytes::from_static(&[0x80, 0, 0, 0, 0, 0])).is_err()
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        for v in 0..=MAX_VERSION {
            let full = subscription(v).encode(v);
            for n in 0..full.len() {
                assert!(
                    ConsumerProtocolSubscription::decode(full.slice(..n)).is_err(),
                    "subscription v{v}: prefix of {n} bytes decoded"
                );
            }
            let full = assignment().encode(v);
            // The empty prefix is the empty assignment; every other one fails.
            for n in 1..full.len() {
                assert!(
                    ConsumerProtocolAssignment::decode(full.slice(..n)).is_err(),
                    "assignment v{v}: prefix of {n} bytes decoded"
                );
            }
        }
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        // Topics claiming i32::MAX elements.
        let bytes = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0]);
        assert!(matches!(
            ConsumerProtocolSubscription::decode(bytes),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // User data claiming i32::MAX bytes.
        let bytes = Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0]);
        assert!(matches!(
            ConsumerProtocolSubscription::decode(bytes),
            Err(DecodeError::Truncated { what: "bytes", .. })
        ));
        // An assigned topic whose partitions claim 2^30 elements.
        #[rustfmt::skip]
        let bytes = Bytes::from_static(&[
            0, 0, 0, 0, 0, 1, 0, 1, b't', 0x40, 0, 0, 0, 0, 0, 0, 1,
        ]);
        assert!(matches!(
            ConsumerProtocolAssignment::decode(bytes),
            Err(DecodeError::Invalid { what: "array", .. })
        ));
        // A topic name claiming 32767 bytes.
        let bytes = Bytes::from_static(&[0, 1, 0, 0, 0, 1, 0x7f, 0xff, b'x']);
        assert!(matches!(
            ConsumerProtocolSubscription::decode(bytes),
            Err(DecodeError::Truncated { what: "string", .. })
        ));
    }

    #[test]
    fn garbage_and_mutated_bytes_never_panic() {
        let mut state = 0x8c3a_5f1e_22d4_9b07_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = [subscription(3).encode(3), assignment().encode(3)];
        for _ in 0..2000 {
            for bytes in &valid {
                let mut mutated = bytes.to_vec();
                let i = next() as usize % mutated.len();
                mutated[i] = next() as u8;
                let mutated = Bytes::from(mutated);
                let _ = ConsumerProtocolSubscription::decode(mutated.clone());
                let _ = ConsumerProtocolAssignment::decode(mutated);
            }
            let garbage: Vec<u8> = (0..next() % 48).map(|_| next() as u8).collect();
            let garbage = Bytes::from(garbage);
            let _ = ConsumerProtocolSubscription::decode(garbage.clone());
            let _ = ConsumerProtocolAssignment::decode(garbage);
        }
    }
}
