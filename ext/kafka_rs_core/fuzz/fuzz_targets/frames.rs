//! Reads arbitrary bytes as the stream a broker connection delivers: size-prefixed frames through
//! `FrameReader` (which checks each size with `check_frame_size` before reserving the body), then
//! `split_response` and, as for a flexible response header, the tagged-field section.
//!
//! Input: two bytes choosing the frame size cap (0..=4096), then the stream. `FrameReader` is
//! driven over an in-memory `&[u8]`, which never blocks, so a single poll with a no-op waker
//! completes each read (no runtime needed). Every result is checked against a plain walk of the
//! same bytes, and no single allocation may exceed the cap (beyond a small slack for error
//! messages).

#![no_main]

#[path = "common/largest_alloc.rs"]
mod largest_alloc;

use std::future::Future;
use std::io::ErrorKind;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use kafka_rs_core::protocol::frame::{check_frame_size, split_response, FrameReader};
use largest_alloc::{largest_allocation_during, LargestAlloc};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: LargestAlloc = LargestAlloc;

const MAX_CAP: usize = 4096;
/// Allocations this small are error values and messages, not frame bodies.
const SLACK: usize = 256;

/// Polls `fut` once: reads from a byte slice are always ready.
fn now<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a read from an in-memory slice never blocks"),
    }
}

fn read_stream(stream: &[u8], cap: usize) {
    let mut reader = FrameReader::new(stream, cap);
    let mut rest = stream;
    loop {
        let got = now(reader.read_frame());
        let Some(size) = rest.first_chunk::<4>() else {
            // The stream ends between frames or inside a size prefix: both read as a clean end.
            assert!(
                matches!(got, Ok(None)),
                "{} bytes left: {got:?}",
                rest.len()
            );
            return;
        };
        let size = i32::from_be_bytes(*size);
        rest = &rest[4..];
        let len = match check_frame_size(size, cap) {
            Ok(len) => len,
            Err(_) => {
                let err = got.expect_err("a refused size must fail the read");
                assert_eq!(err.kind(), ErrorKind::InvalidData);
                return;
            }
        };
        assert!(
            (4..=cap).contains(&len),
            "size {size} accepted under cap {cap}"
        );
        if rest.len() < len {
            let err = got.expect_err("a frame cut short must fail the read");
            assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
            return;
        }
        let frame = got
            .expect("a whole frame reads")
            .expect("a whole frame is not the end");
        assert_eq!(&frame[..], &rest[..len]);
        rest = &rest[len..];

        let (id, body) = split_response(frame.clone()).expect("a frame holds a correlation id");
        assert_eq!(id.to_be_bytes(), frame[..4]);
        assert_eq!(body.peek_rest(), &frame[4..]);
        // Response header v1: the tagged fields follow the correlation id.
        let mut tagged = body.clone();
        if tagged.skip_tagged_fields().is_ok() {
            assert!(tagged.remaining() < body.remaining());
            assert!(body.peek_rest().ends_with(tagged.peek_rest()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((cap, stream)) = data.split_first_chunk::<2>() else {
        return;
    };
    let cap = u16::from_be_bytes(*cap) as usize % (MAX_CAP + 1);
    let ((), largest) = largest_allocation_during(|| read_stream(stream, cap));
    assert!(
        largest <= cap.max(SLACK),
        "allocated {largest} bytes at once under a cap of {cap}"
    );
});
