//! Writes the seed corpora of the `frames`, `responses` and `consumer_protocol` fuzz targets
//! (fuzz/corpus is not committed): a handful of valid responses of every API, in the layouts of a
//! classic and a flexible version, as bare bodies and as whole frames, and consumer-protocol
//! subscriptions and assignments. Run from ext/kafka_rs_core:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example seed_corpora
//! ```

use std::fs;
use std::path::Path;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_rs_core::protocol::api::Request;
use kafka_rs_core::protocol::codec::{Reader, WireWrite};
use kafka_rs_core::protocol::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicPartitions,
};
use kafka_rs_core::protocol::frame::response_header_has_tags;
use kafka_rs_core::protocol::messages::{
    api_versions::ApiVersionsRequest, create_partitions::CreatePartitionsRequest,
    create_topics::CreateTopicsRequest, delete_topics::DeleteTopicsRequest,
    describe_configs::DescribeConfigsRequest, describe_groups::DescribeGroupsRequest,
    fetch::FetchRequest, find_coordinator::FindCoordinatorRequest, heartbeat::HeartbeatRequest,
    init_producer_id::InitProducerIdRequest, join_group::JoinGroupRequest,
    leave_group::LeaveGroupRequest, list_groups::ListGroupsRequest,
    list_offsets::ListOffsetsRequest, metadata::MetadataRequest,
    offset_commit::OffsetCommitRequest, offset_fetch::OffsetFetchRequest, produce::ProduceRequest,
    sasl_authenticate::SaslAuthenticateRequest, sasl_handshake::SaslHandshakeRequest,
    sync_group::SyncGroupRequest,
};

/// A tagged-field section holding one unknown field, to be skipped.
fn tags(b: &mut BytesMut, flexible: bool) {
    if flexible {
        b.put_uvarint(1);
        b.put_uvarint(7);
        b.put_uvarint(2);
        b.put_u16(0xbeef);
    }
}

fn produce(v: i16) -> Bytes {
    let c = v >= 9;
    let mut b = BytesMut::new();
    b.put_array_len(1, c);
    b.put_string("orders", c);
    b.put_array_len(2, c);
    for (index, error) in [(0, 0), (1, 10)] {
        b.put_i32(index);
        b.put_i16(error);
        b.put_i64(42);
        b.put_i64(-1);
        if v >= 5 {
            b.put_i64(3);
        }
        if v >= 8 {
            b.put_array_len(1, c);
            b.put_i32(2);
            b.put_nullable_string(Some("bad record"), c);
            b.put_tagged_fields_if(c);
            b.put_nullable_string((error != 0).then_some("too large"), c);
        }
        tags(&mut b, c);
    }
    b.put_tagged_fields_if(c);
    b.put_i32(0);
    tags(&mut b, c);
    b.freeze()
}

fn fetch(v: i16) -> Bytes {
    let c = v >= 12;
    let mut b = BytesMut::new();
    b.put_i32(0);
    if v >= 7 {
        b.put_i16(0);
        b.put_i32(17);
    }
    b.put_array_len(1, c);
    b.put_string("t", c);
    b.put_array_len(2, c);
    for (index, records) in [(0, Some(&[0xa, 0xb, 0xc][..])), (1, None)] {
        b.put_i32(index);
        b.put_i16(0);
        b.put_i64(8);
        b.put_i64(6);
        if v >= 5 {
            b.put_i64(0);
        }
        b.put_array_len(1, c);
        b.put_i64(77);
        b.put_i64(5);
        b.put_tagged_fields_if(c);
        if v >= 11 {
            b.put_i32(-1);
        }
        b.put_nullable_bytes(records, c);
        tags(&mut b, c);
    }
    b.put_tagged_fields_if(c);
    tags(&mut b, c);
    b.freeze()
}

fn list_offsets(v: i16) -> Bytes {
    let c = v >= 6;
    let mut b = BytesMut::new();
    if v >= 2 {
        b.put_i32(250);
    }
    b.put_array_len(1, c);
    b.put_string("orders", c);
    b.put_array_len(1, c);
    b.put_i32(0);
    b.put_i16(0);
    b.put_i64(1_700_000_000_000);
    b.put_i64(1234);
    if v >= 4 {
        b.put_i32(7);
    }
    tags(&mut b, c);
    b.put_tagged_fields_if(c);
    b.put_tagged_fields_if(c);
    b.freeze()
}

fn metadata(v: i16) -> Bytes {
    let c = v >= 9;
    let ints = |b: &mut BytesMut, xs: &[i32]| {
        b.put_array_len(xs.len(), c);
        for &x in xs {
            b.put_i32(x);
        }
    };
    let mut b = BytesMut::new();
    if v >= 3 {
        b.put_i32(0);
    }
    b.put_array_len(1, c);
    b.put_i32(1);
    b.put_string("b1.example", c);
    b.put_i32(9092);
    b.put_nullable_string(Some("rack-a"), c);
    tags(&mut b, c);
    if v >= 2 {
        b.put_nullable_string(Some("cluster"), c);
    }
    b.put_i32(1);
    b.put_array_len(1, c);
    b.put_i16(0);
    b.put_nullable_string(Some("orders"), c);
    if v >= 10 {
        b.put_slice(&[7; 16]);
    }
    b.put_bool(false);
    b.put_array_len(1, c);
    b.put_i16(0);
    b.put_i32(0);
    b.put_i32(1);
    if v >= 7 {
        b.put_i32(4);
    }
    ints(&mut b, &[1, 2]);
    ints(&mut b, &[1]);
    if v >= 5 {
        ints(&mut b, &[2]);
    }
    tags(&mut b, c);
    if v >= 8 {
        b.put_i32(0);
    }
    b.put_tagged_fields_if(c);
    if (8..=10).contains(&v) {
        b.put_i32(0);
    }
    b.put_tagged_fields_if(c);
    b.freeze()
}

fn api_versions(v: i16) -> Bytes {
    let c = v >= 3;
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_array_len(3, c);
    for (key, max) in [(0, 11), (3, 12), (18, 3)] {
        b.put_i16(key);
        b.put_i16(0);
        b.put_i16(max);
        b.put_tagged_fields_if(c);
    }
    if v >= 1 {
        b.put_i32(0);
    }
    tags(&mut b, c);
    b.freeze()
}

/// The answer of a broker that does not speak the asked version: error 35 in the v0 layout.
fn api_versions_unsupported() -> Bytes {
    Bytes::from_static(&[0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 2])
}

fn create_topics(v: i16) -> Bytes {
    let c = v >= 5;
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_array_len(1, c);
    b.put_string("orders", c);
    if v >= 7 {
        b.put_slice(&[3; 16]);
    }
    b.put_i16(0);
    b.put_nullable_string(None, c);
    if v >= 5 {
        b.put_i32(3);
        b.put_i16(1);
        b.put_array_len(1, c);
        b.put_string("cleanup.policy", c);
        b.put_nullable_string(Some("compact"), c);
        b.put_bool(false);
        b.put_i8(1);
        b.put_bool(false);
        tags(&mut b, c);
    }
    tags(&mut b, c);
    b.put_tagged_fields_if(c);
    b.freeze()
}

fn delete_topics(v: i16) -> Bytes {
    let c = v >= 4;
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_array_len(2, c);
    for (name, error) in [("orders", 0), ("missing", 3)] {
        if v >= 6 {
            b.put_nullable_string(Some(name), c);
            b.put_slice(&[9; 16]);
        } else {
            b.put_string(name, c);
        }
        b.put_i16(error);
        if v >= 5 {
            b.put_nullable_string((error != 0).then_some("unknown topic"), c);
        }
        tags(&mut b, c);
    }
    b.put_tagged_fields_if(c);
    b.freeze()
}

fn describe_configs(v: i16) -> Bytes {
    let c = v >= 4;
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_array_len(1, c);
    b.put_i16(0);
    b.put_nullable_string(None, c);
    b.put_i8(2);
    b.put_string("orders", c);
    b.put_array_len(1, c);
    b.put_string("retention.ms", c);
    b.put_nullable_string(Some("604800000"), c);
    b.put_bool(false);
    b.put_i8(1);
    b.put_bool(false);
    b.put_array_len(1, c);
    b.put_string("retention.ms", c);
    b.put_nullable_string(None, c);
    b.put_i8(5);
    tags(&mut b, c);
    if v >= 3 {
        b.put_i8(5);
        b.put_nullable_string(Some("How long to keep a log."), c);
    }
    tags(&mut b, c);
    b.put_tagged_fields_if(c);
    b.put_tagged_fields_if(c);
    b.freeze()
}

fn create_partitions(v: i16) -> Bytes {
    let c = v >= 2;
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_array_len(2, c);
    for (name, error, message) in [("orders", 0, None), ("t", 37, Some("too few"))] {
        b.put_string(name, c);
        b.put_i16(error);
        b.put_nullable_string(message, c);
        tags(&mut b, c);
    }
    b.put_tagged_fields_if(c);
    b.freeze()
}

fn offset_commit(v: i16) -> Bytes {
    let c = v >= 8;
    let mut b = BytesMut::new();
    if v >= 3 {
        b.put_i32(0);
    }
    b.put_array_len(1, c);
    b.put_string("orders", c);
    b.put_array_len(2, c);
    for (index, error) in [(0, 0), (1, 22)] {
        b.put_i32(index);
        b.put_i16(error);
        tags(&mut b, c);
    }
    b.put_tagged_fields_if(c);
    tags(&mut b, c);
    b.freeze()
}

fn offset_fetch_topics(b: &mut BytesMut, v: i16) {
    let c = v >= 6;
    b.put_array_len(1, c);
    b.put_string("orders", c);
    b.put_array_len(2, c);
    for (index, offset, metadata) in [(0, 42, Some("")), (1, -1, None)] {
        b.put_i32(index);
        b.put_i64(offset);
        if v >= 5 {
            b.put_i32(3);
        }
        b.put_nullable_string(metadata, c);
        b.put_i16(0);
        tags(b, c);
    }
    b.put_tagged_fields_if(c);
}

fn offset_fetch(v: i16) -> Bytes {
    let c = v >= 6;
    let mut b = BytesMut::new();
    if v >= 3 {
        b.put_i32(0);
    }
    if v >= 8 {
        b.put_array_len(1, c);
        b.put_string("orders-consumers", c);
        offset_fetch_topics(&mut b, v);
        b.put_i16(0);
        b.put_tagged_fields_if(c);
    } else {
        offset_fetch_topics(&mut b, v);
        if v >= 2 {
            b.put_i16(0);
        }
    }
    tags(&mut b, c);
    b.freeze()
}

fn find_coordinator(v: i16) -> Bytes {
    let c = v >= 3;
    let mut b = BytesMut::new();
    if v >= 1 {
        b.put_i32(0);
    }
    if v >= 4 {
        b.put_array_len(1, c);
        b.put_string("orders-consumers", c);
    } else {
        b.put_i16(0);
        if v >= 1 {
            b.put_nullable_string(None, c);
        }
    }
    b.put_i32(1);
    b.put_string("b1.example", c);
    b.put_i32(9092);
    if v >= 4 {
        b.put_i16(0);
        b.put_nullable_string(None, c);
        tags(&mut b, c);
    }
    tags(&mut b, c);
    b.freeze()
}

fn join_group(v: i16) -> Bytes {
    let c = v >= 6;
    let mut b = BytesMut::new();
    if v >= 2 {
        b.put_i32(0);
    }
    b.put_i16(0);
    b.put_i32(3);
    if v >= 7 {
        b.put_nullable_string(Some("consumer"), c);
    }
    b.put_nullable_string(Some("range"), c);
    b.put_string("m-1", c);
    if v >= 9 {
        b.put_bool(false);
    }
    b.put_string("m-1", c);
    b.put_array_len(2, c);
    for (member, instance) in [("m-1", Some("web-1")), ("m-2", None)] {
        b.put_string(member, c);
        if v >= 5 {
            b.put_nullable_string(instance, c);
        }
        let metadata = ConsumerProtocolSubscription::new(vec!["orders".into()]).encode(3);
        b.put_nullable_bytes(Some(&metadata), c);
        tags(&mut b, c);
    }
    tags(&mut b, c);
    b.freeze()
}

fn heartbeat(v: i16) -> Bytes {
    let c = v >= 4;
    let mut b = BytesMut::new();
    if v >= 1 {
        b.put_i32(0);
    }
    b.put_i16(27);
    tags(&mut b, c);
    b.freeze()
}

fn leave_group(v: i16) -> Bytes {
    let c = v >= 4;
    let mut b = BytesMut::new();
    if v >= 1 {
        b.put_i32(0);
    }
    b.put_i16(0);
    if v >= 3 {
        b.put_array_len(2, c);
        for (member, instance, error) in [("m-1", Some("web-1"), 0), ("", None, 25)] {
            b.put_string(member, c);
            b.put_nullable_string(instance, c);
            b.put_i16(error);
            tags(&mut b, c);
        }
    }
    tags(&mut b, c);
    b.freeze()
}

fn sync_group(v: i16) -> Bytes {
    let c = v >= 4;
    let mut b = BytesMut::new();
    if v >= 1 {
        b.put_i32(0);
    }
    b.put_i16(0);
    if v >= 5 {
        b.put_nullable_string(Some("consumer"), c);
        b.put_nullable_string(Some("range"), c);
    }
    b.put_nullable_bytes(Some(&assignment()), c);
    tags(&mut b, c);
    b.freeze()
}

fn describe_groups(v: i16) -> Bytes {
    let c = v >= 5;
    let mut b = BytesMut::new();
    if v >= 1 {
        b.put_i32(0);
    }
    b.put_array_len(1, c);
    b.put_i16(0);
    b.put_string("orders-consumers", c);
    b.put_string("Stable", c);
    b.put_string("consumer", c);
    b.put_string("range", c);
    b.put_array_len(1, c);
    b.put_string("m-1", c);
    if v >= 4 {
        b.put_nullable_string(Some("web-1"), c);
    }
    b.put_string("kafka_rs", c);
    b.put_string("/10.0.0.7", c);
    let metadata = ConsumerProtocolSubscription::new(vec!["orders".into()]).encode(3);
    b.put_nullable_bytes(Some(&metadata), c);
    b.put_nullable_bytes(Some(&assignment()), c);
    tags(&mut b, c);
    if v >= 3 {
        b.put_i32(i32::MIN);
    }
    tags(&mut b, c);
    tags(&mut b, c);
    b.freeze()
}

fn list_groups(v: i16) -> Bytes {
    let c = v >= 3;
    let mut b = BytesMut::new();
    if v >= 1 {
        b.put_i32(0);
    }
    b.put_i16(0);
    b.put_array_len(2, c);
    for (group, protocol_type, state) in [
        ("orders-consumers", "consumer", "Stable"),
        ("o", "", "Empty"),
    ] {
        b.put_string(group, c);
        b.put_string(protocol_type, c);
        if v >= 4 {
            b.put_string(state, c);
        }
        tags(&mut b, c);
    }
    tags(&mut b, c);
    b.freeze()
}

fn sasl_handshake(_v: i16) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(33);
    b.put_array_len(2, false);
    b.put_string("PLAIN", false);
    b.put_string("SCRAM-SHA-512", false);
    b.freeze()
}

fn sasl_authenticate(v: i16) -> Bytes {
    let c = v >= 2;
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_nullable_string(None, c);
    b.put_nullable_bytes(
        Some(b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"),
        c,
    );
    if v >= 1 {
        b.put_i64(3_600_000);
    }
    tags(&mut b, c);
    b.freeze()
}

fn init_producer_id(v: i16) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(0);
    b.put_i64(4000);
    b.put_i16(0);
    tags(&mut b, v >= 2);
    b.freeze()
}

/// A consumer-protocol assignment of two partitions with user data.
fn assignment() -> Bytes {
    ConsumerProtocolAssignment {
        assigned_partitions: vec![TopicPartitions {
            topic: "orders".into(),
            partitions: vec![0, 1],
        }],
        user_data: Some(Bytes::from_static(b"gen-3")),
    }
    .encode(3)
}

/// A response frame without its size prefix: correlation id, header tags (header v1), body.
fn frame_contents<R: Request>(version: i16, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(7);
    if response_header_has_tags(R::API_KEY, R::is_flexible(version)) {
        b.put_uvarint(0);
    }
    b.put_slice(body);
    b.to_vec()
}

/// Writes `body` as `responses` seeds, bare and framed, after checking that it decodes whole.
/// `kind` is the target's `DECODERS` index (API key order).
fn response_seeds<R: Request>(dir: &Path, kind: u8, version: i16, body: &[u8], name: &str) {
    let mut r = Reader::new(Bytes::copy_from_slice(body));
    if let Err(e) = R::decode_response(&mut r, version) {
        panic!("{name}: {e}");
    }
    assert!(r.is_empty(), "{name}: {} bytes left over", r.remaining());
    let pick = (version - R::MIN_VERSION) as u8;
    let mut bare = vec![kind, pick];
    bare.extend_from_slice(body);
    fs::write(dir.join(format!("{name}-bare")), bare).unwrap();
    let mut framed = vec![kind, pick | 0x80];
    framed.extend(frame_contents::<R>(version, body));
    fs::write(dir.join(format!("{name}-frame")), framed).unwrap();
}

fn sized(contents: &[u8]) -> Vec<u8> {
    let mut out = (contents.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(contents);
    out
}

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let responses = corpus.join("responses");
    let frames = corpus.join("frames");
    let consumer_protocol = corpus.join("consumer_protocol");
    fs::create_dir_all(&responses).unwrap();
    fs::create_dir_all(&frames).unwrap();
    fs::create_dir_all(&consumer_protocol).unwrap();

    macro_rules! seeds {
        ($req:ty, $kind:expr, $encode:ident, [$($v:expr),*]) => {$(
            let name = format!("{}-v{}", <$req>::API_KEY.name(), $v);
            response_seeds::<$req>(&responses, $kind, $v, &$encode($v), &name);
        )*};
    }
    seeds!(ProduceRequest<'static>, 0, produce, [3, 8, 10]);
    seeds!(FetchRequest<'static>, 1, fetch, [4, 11, 12]);
    seeds!(ListOffsetsRequest<'static>, 2, list_offsets, [1, 6]);
    seeds!(MetadataRequest<'static>, 3, metadata, [1, 9, 12]);
    seeds!(OffsetCommitRequest<'static>, 4, offset_commit, [2, 8]);
    seeds!(OffsetFetchRequest<'static>, 5, offset_fetch, [1, 5, 7, 8]);
    seeds!(
        FindCoordinatorRequest<'static>,
        6,
        find_coordinator,
        [0, 2, 3, 4]
    );
    seeds!(JoinGroupRequest<'static>, 7, join_group, [2, 5, 7, 9]);
    seeds!(HeartbeatRequest<'static>, 8, heartbeat, [0, 4]);
    seeds!(LeaveGroupRequest<'static>, 9, leave_group, [2, 3, 5]);
    seeds!(SyncGroupRequest<'static>, 10, sync_group, [2, 4, 5]);
    seeds!(
        DescribeGroupsRequest<'static>,
        11,
        describe_groups,
        [2, 4, 5]
    );
    seeds!(ListGroupsRequest<'static>, 12, list_groups, [2, 4]);
    seeds!(SaslHandshakeRequest<'static>, 13, sasl_handshake, [1]);
    seeds!(ApiVersionsRequest<'static>, 14, api_versions, [0, 3]);
    seeds!(CreateTopicsRequest<'static>, 15, create_topics, [2, 7]);
    seeds!(DeleteTopicsRequest<'static>, 16, delete_topics, [1, 6]);
    seeds!(InitProducerIdRequest<'static>, 17, init_producer_id, [0, 4]);
    seeds!(
        DescribeConfigsRequest<'static>,
        18,
        describe_configs,
        [1, 4]
    );
    seeds!(
        SaslAuthenticateRequest<'static>,
        19,
        sasl_authenticate,
        [0, 1, 2]
    );
    seeds!(
        CreatePartitionsRequest<'static>,
        20,
        create_partitions,
        [0, 2]
    );
    let unsupported = api_versions_unsupported();
    response_seeds::<ApiVersionsRequest<'static>>(
        &responses,
        14,
        3,
        &unsupported,
        "ApiVersions-v3-unsupported",
    );

    // `frames` seeds: a two-byte cap, then a stream.
    let cap = |cap: u16, stream: &[u8]| {
        let mut out = cap.to_be_bytes().to_vec();
        out.extend_from_slice(stream);
        out
    };
    let mut stream = sized(&frame_contents::<ApiVersionsRequest<'static>>(
        3,
        &api_versions(3),
    ));
    stream.extend(sized(&frame_contents::<MetadataRequest<'static>>(
        12,
        &metadata(12),
    )));
    stream.extend(sized(&frame_contents::<FetchRequest<'static>>(
        4,
        &fetch(4),
    )));
    let two_small = [0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 1, 0xaa];
    let seeds: [(&str, Vec<u8>); 6] = [
        ("responses", cap(4096, &stream)),
        ("two-small", cap(64, &two_small)),
        ("over-cap", cap(16, &sized(&[0; 17]))),
        (
            "negative-size",
            cap(4096, &[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0]),
        ),
        ("cut-short", cap(4096, &[0, 0, 0, 8, 0, 0, 0, 1, 0])),
        ("cut-in-size", cap(4096, &[0, 0, 0, 4, 0, 0, 0, 1, 0, 0])),
    ];
    for (name, bytes) in seeds {
        fs::write(frames.join(name), bytes).unwrap();
    }
    // `consumer_protocol` seeds: a kind byte (0 subscription, 1 assignment), then the bytes.
    let mut subscription = ConsumerProtocolSubscription::new(vec!["orders".into(), "t".into()]);
    subscription.user_data = Some(Bytes::from_static(b"sticky"));
    subscription.owned_partitions = vec![TopicPartitions {
        topic: "orders".into(),
        partitions: vec![0, 2],
    }];
    subscription.generation_id = 4;
    subscription.rack_id = Some("eu-west-1a".into());
    for v in 0..=3 {
        let mut seed = vec![0];
        seed.extend_from_slice(&subscription.encode(v));
        fs::write(consumer_protocol.join(format!("subscription-v{v}")), seed).unwrap();
    }
    fs::write(
        consumer_protocol.join("assignment-v3"),
        [&[1][..], &assignment()].concat(),
    )
    .unwrap();
    fs::write(consumer_protocol.join("assignment-empty"), [1]).unwrap();
}
