//! Decodes arbitrary bytes as a consumer-protocol subscription or assignment (the bytes other
//! group members send through the broker in JoinGroup and SyncGroup).
//!
//! Input: `[kind, rest...]`; the low bit of `kind` picks the subscription (0) or the assignment
//! (1). Besides never panicking, each decode must:
//! * make no single allocation larger than [`ALLOC_PER_BYTE`] times the bytes it was given;
//! * when it succeeds, give back the same value after encoding it at the newest version and
//!   decoding that.

#![no_main]

#[path = "common/largest_alloc.rs"]
mod largest_alloc;

use bytes::Bytes;
use kafka_rs_core::protocol::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, MAX_VERSION,
};
use largest_alloc::{largest_allocation_during, LargestAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: LargestAlloc = LargestAlloc;

/// A 2-byte topic name becomes a 24-byte `String`, a 6-byte assigned topic a 48-byte
/// `TopicPartitions`, and a growing `Vec` doubles its capacity: about 24 times the input.
const ALLOC_PER_BYTE: usize = 32;
/// Room for small fixed allocations (error messages, a `Vec`'s minimum capacity).
const SLACK: usize = 1024;

fn check_subscription(bytes: Bytes) {
    let Ok(sub) = ConsumerProtocolSubscription::decode(bytes) else {
        return;
    };
    let again = ConsumerProtocolSubscription::decode(sub.encode(MAX_VERSION));
    assert_eq!(again.as_ref(), Ok(&sub), "subscription round trip");
}

fn check_assignment(bytes: Bytes) {
    let Ok(assignment) = ConsumerProtocolAssignment::decode(bytes) else {
        return;
    };
    let again = ConsumerProtocolAssignment::decode(assignment.encode(MAX_VERSION));
    assert_eq!(again.as_ref(), Ok(&assignment), "assignment round trip");
}

fuzz_target!(|data: &[u8]| {
    let [kind, rest @ ..] = data else {
        return;
    };
    let len = rest.len();
    let bytes = Bytes::copy_from_slice(rest);
    let ((), largest) = largest_allocation_during(|| {
        if kind & 1 == 0 {
            check_subscription(bytes)
        } else {
            check_assignment(bytes)
        }
    });
    assert!(
        largest <= ALLOC_PER_BYTE * len + SLACK,
        "allocated {largest} bytes at once for {len} bytes"
    );
});
