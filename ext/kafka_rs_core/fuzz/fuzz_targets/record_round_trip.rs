//! Encodes records built from the fuzzer's bytes with every codec and checks that decoding gives
//! them back exactly.

#![no_main]

use bytes::{Bytes, BytesMut};
use kafka_rs_core::protocol::records::{
    decode_records, encode_batch, BatchIdentity, Compression, ProduceRecord, RecordHeader,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    codec: u8,
    base_offset: u32,
    records: Vec<InputRecord>,
}

#[derive(Debug, Arbitrary)]
struct InputRecord {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp_ms: i64,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fuzz_target!(|input: Input| {
    if input.records.is_empty() {
        return;
    }
    let codec = match input.codec % 5 {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        _ => Compression::Zstd,
    };
    let records: Vec<ProduceRecord> = input
        .records
        .into_iter()
        .map(|r| ProduceRecord {
            key: r.key.map(Bytes::from),
            value: r.value.map(Bytes::from),
            headers: r
                .headers
                .into_iter()
                .map(|(key, value)| RecordHeader {
                    key,
                    value: value.map(Bytes::from),
                })
                .collect(),
            timestamp_ms: r.timestamp_ms,
        })
        .collect();
    let base_offset = input.base_offset as i64;
    let mut buf = BytesMut::new();
    encode_batch(
        &mut buf,
        &records,
        BatchIdentity::default(),
        codec,
        base_offset,
    )
    .unwrap();
    let fetched: Vec<_> = decode_records(buf.freeze()).map(Result::unwrap).collect();
    assert_eq!(fetched.len(), records.len());
    for (i, (f, p)) in fetched.iter().zip(&records).enumerate() {
        assert_eq!(f.offset, base_offset + i as i64);
        assert_eq!(f.timestamp_ms, p.timestamp_ms);
        assert_eq!(
            (&f.key, &f.value, &f.headers),
            (&p.key, &p.value, &p.headers)
        );
    }
});
