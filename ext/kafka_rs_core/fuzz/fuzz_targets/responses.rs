//! Decodes arbitrary bytes as the response of one of the APIs the client speaks, at one of the
//! versions it negotiates, through the public `Request::decode_response` entry point.
//!
//! Input: `[kind, mode_and_version, rest...]`.
//! * `kind % DECODERS.len()` indexes [`DECODERS`] (ordered by API key).
//! * The low 7 bits of the second byte pick the version within the API's supported range. Its
//!   high bit picks what `rest` is: clear, a bare response body; set, a whole response frame
//!   (after the size prefix), read as the connection does: `split_response`, then the header's
//!   tagged fields if `response_header_has_tags` says so (flexible versions, except
//!   ApiVersions), then the body.
//!
//! Besides never panicking, each decode must:
//! * make no single allocation larger than [`ALLOC_PER_BYTE`] times the bytes it was given;
//! * when it succeeds, depend on exactly the bytes it consumed: those bytes alone decode to the
//!   same response with nothing left over, and one byte fewer fails.

#![no_main]

#[path = "common/largest_alloc.rs"]
mod largest_alloc;

use std::fmt::Debug;

use bytes::Bytes;
use kafka_rs_core::protocol::api::Request;
use kafka_rs_core::protocol::codec::Reader;
use kafka_rs_core::protocol::frame::{response_header_has_tags, split_response};
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
use largest_alloc::{largest_allocation_during, LargestAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: LargestAlloc = LargestAlloc;

/// Every array element takes at least one byte on the wire, but decoded data may outgrow its
/// encoding: a 3-byte compact topic entry becomes a 48-byte struct, a 4-byte DeleteTopics result a
/// 72-byte one, a 3-byte compact ListGroups entry a 72-byte one, and a growing `Vec` doubles its
/// capacity, so the largest legitimate allocation is about 48 times the input. What `Reader::array`
/// reserves for an announced element count before reading the elements is capped at the bytes
/// left, so it stays below that.
const ALLOC_PER_BYTE: usize = 64;
/// Room for small fixed allocations (error messages, a `Vec`'s minimum capacity).
const SLACK: usize = 1024;

type Decoder = fn(Bytes, u8, bool);

/// One entry per API, ordered by API key (the seed generator uses the same order).
const DECODERS: [Decoder; 21] = [
    check::<ProduceRequest<'static>>,
    check::<FetchRequest<'static>>,
    check::<ListOffsetsRequest<'static>>,
    check::<MetadataRequest<'static>>,
    check::<OffsetCommitRequest<'static>>,
    check::<OffsetFetchRequest<'static>>,
    check::<FindCoordinatorRequest<'static>>,
    check::<JoinGroupRequest<'static>>,
    check::<HeartbeatRequest<'static>>,
    check::<LeaveGroupRequest<'static>>,
    check::<SyncGroupRequest<'static>>,
    check::<DescribeGroupsRequest<'static>>,
    check::<ListGroupsRequest<'static>>,
    check::<SaslHandshakeRequest<'static>>,
    check::<ApiVersionsRequest<'static>>,
    check::<CreateTopicsRequest<'static>>,
    check::<DeleteTopicsRequest<'static>>,
    check::<InitProducerIdRequest<'static>>,
    check::<DescribeConfigsRequest<'static>>,
    check::<SaslAuthenticateRequest<'static>>,
    check::<CreatePartitionsRequest<'static>>,
];

fn check<R: Request>(input: Bytes, version_pick: u8, whole_frame: bool)
where
    R::Response: PartialEq + Debug,
{
    let range = (R::MAX_VERSION - R::MIN_VERSION + 1) as u8;
    let version = R::MIN_VERSION + (version_pick % range) as i16;
    let body = if whole_frame {
        let Ok((_correlation_id, mut r)) = split_response(input) else {
            return;
        };
        if response_header_has_tags(R::API_KEY, R::is_flexible(version))
            && r.skip_tagged_fields().is_err()
        {
            return;
        }
        r.into_rest()
    } else {
        input
    };
    let len = body.len();
    let ((), largest) = largest_allocation_during(|| check_body::<R>(body, version));
    assert!(
        largest <= ALLOC_PER_BYTE * len + SLACK,
        "{} v{version}: allocated {largest} bytes at once for a {len}-byte body",
        R::API_KEY.name()
    );
}

fn check_body<R: Request>(body: Bytes, version: i16)
where
    R::Response: PartialEq + Debug,
{
    let mut r = Reader::new(body.clone());
    let Ok(resp) = R::decode_response(&mut r, version) else {
        return;
    };
    let used = body.len() - r.remaining();
    let name = R::API_KEY.name();
    assert!(used > 0, "{name} v{version}: decoded from no bytes");

    let mut exact = Reader::new(body.slice(..used));
    assert_eq!(
        R::decode_response(&mut exact, version).as_ref(),
        Ok(&resp),
        "{name} v{version}: the {used} consumed bytes alone decode differently"
    );
    assert!(exact.is_empty(), "{name} v{version}: consumed bytes differ");

    let mut short = Reader::new(body.slice(..used - 1));
    assert!(
        R::decode_response(&mut short, version).is_err(),
        "{name} v{version}: decoded from {} of the {used} bytes it needs",
        used - 1
    );
}

fuzz_target!(|data: &[u8]| {
    let [kind, mode_and_version, rest @ ..] = data else {
        return;
    };
    let decode = DECODERS[*kind as usize % DECODERS.len()];
    decode(
        Bytes::copy_from_slice(rest),
        mode_and_version & 0x7f,
        mode_and_version & 0x80 != 0,
    );
});
