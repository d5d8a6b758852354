//! Decodes arbitrary bytes as the `records` field of a fetch response, all the way down to every
//! record of every batch. It must never panic, hang, or allocate beyond the decompression caps.
//!
//! Random bytes almost never carry a valid CRC, which would stop the fuzzer at the first check;
//! so each input is decoded twice: as it is, and with the CRC of every framed batch (CRC32C for
//! magic 2, CRC32 for magic 0/1) recomputed, which lets it reach the record decoders.

#![no_main]

use bytes::Bytes;
use kafka_rs_core::protocol::records::{decode_records, RecordBatches};
use libfuzzer_sys::fuzz_target;

fn decode_fully(bytes: Bytes) {
    for record in decode_records(bytes.clone()) {
        if record.is_err() {
            break;
        }
    }
    for batch in RecordBatches::new(bytes).flatten() {
        let _ = (
            batch.last_offset(),
            batch.is_control(),
            batch.timestamp_type(),
        );
        for record in batch.records() {
            let _ = record;
        }
    }
}

/// Walks the batch framing (offset i64, length i32) and rewrites each batch's CRC.
fn with_valid_crcs(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut at = 0;
    while out.len() - at >= 17 {
        let length = i32::from_be_bytes(out[at + 8..at + 12].try_into().unwrap());
        if length < 0 || at + 12 + length as usize > out.len() {
            break;
        }
        let end = at + 12 + length as usize;
        match out[at + 16] {
            2 if end >= at + 21 => {
                let crc = crc32c::crc32c(&out[at + 21..end]);
                out[at + 17..at + 21].copy_from_slice(&crc.to_be_bytes());
            }
            0 | 1 if end > at + 16 => {
                let crc = crc32fast::hash(&out[at + 16..end]);
                out[at + 12..at + 16].copy_from_slice(&crc.to_be_bytes());
            }
            _ => {}
        }
        at = end;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    decode_fully(Bytes::copy_from_slice(data));
    decode_fully(Bytes::from(with_valid_crcs(data)));
});
