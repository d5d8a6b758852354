//! The four Kafka compression codecs, behind one pair of functions: [`compress`] and
//! [`decompress`]. No codec crate's type leaves this module.
//!
//! | codec  | written as                                  | read as                              |
//! |--------|---------------------------------------------|--------------------------------------|
//! | gzip   | one gzip member (level 6)                   | one or more concatenated members     |
//! | snappy | xerial framing, 32 KiB chunks (Java client) | xerial framing, or raw snappy        |
//! | lz4    | LZ4 frame, 64 KiB independent blocks        | LZ4 frame(s)                         |
//! | zstd   | one zstd frame (level 3)                    | zstd frame(s)                        |
//!
//! Decompression is capped: a batch may not inflate beyond [`decompression_limit`] of its
//! compressed size, so a hostile or corrupt batch fails with a clear error instead of exhausting
//! memory. The output is read incrementally, never allocated from a size the input claims.

use std::borrow::Cow;
use std::io::{Read, Write};

use super::{Compression, RecordsError};
use crate::protocol::codec::DecodeError;

/// No batch, whatever its compressed size, may inflate beyond this many bytes.
pub const MAX_DECOMPRESSED_BATCH_BYTES: usize = 256 << 20;

/// Above [`RATIO_CHECK_FLOOR`], a batch may not inflate beyond this multiple of its compressed
/// size.
pub const MAX_COMPRESSION_RATIO: usize = 64;

/// Any batch may inflate to this many bytes whatever its ratio: legitimate small batches of
/// repetitive data (zero padding, repeated JSON) compress far better than 64:1, and refusing one
/// would leave a consumer stuck at its offset for ever.
pub const RATIO_CHECK_FLOOR: usize = 32 << 20;

/// The most bytes a batch whose compressed payload is `compressed_len` bytes may inflate to:
/// `64 x compressed_len`, but at least 32 MiB and at most 256 MiB.
pub fn decompression_limit(compressed_len: usize) -> usize {
    compressed_len
        .saturating_mul(MAX_COMPRESSION_RATIO)
        .clamp(RATIO_CHECK_FLOOR, MAX_DECOMPRESSED_BATCH_BYTES)
}

/// The header of the xerial snappy stream format that the Java client writes: a magic of 8
/// bytes, then a version and a minimum compatible version (big-endian i32, both 1).
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
const XERIAL_VERSION: i32 = 1;
/// Uncompressed bytes per xerial chunk (the Java default block size).
const XERIAL_CHUNK: usize = 32 * 1024;

/// Raw snappy cannot expand more than about 21:1 (a 3-byte copy element yields at most 64
/// bytes); a length header claiming more is corrupt, and is refused before allocating.
const SNAPPY_MAX_EXPANSION: usize = 32;

const GZIP_LEVEL: u32 = 6;
const ZSTD_LEVEL: i32 = 3;

const LZ4_FRAME_MAGIC: u32 = 0x184D_2204;

/// Compresses `input` with `codec`, appending to `out`.
pub fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<(), RecordsError> {
    let failed = |e: std::io::Error| RecordsError::Compression {
        codec,
        message: e.to_string(),
    };
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
            enc.write_all(input).map_err(failed)?;
            enc.finish().map_err(failed)?;
        }
        Compression::Snappy => {
            snappy_xerial_compress(input, out).map_err(|e| RecordsError::Compression {
                codec,
                message: e.to_string(),
            })?
        }
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            enc.write_all(input).map_err(failed)?;
            enc.finish().map_err(|e| RecordsError::Compression {
                codec,
                message: e.to_string(),
            })?;
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).map_err(failed)?;
            enc.write_all(input).map_err(failed)?;
            enc.finish().map_err(failed)?;
        }
    }
    Ok(())
}

fn snappy_xerial_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), snap::Error> {
    out.reserve(XERIAL_HEADER_LEN + input.len() / 2 + 64);
    out.extend_from_slice(&XERIAL_MAGIC);
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_CHUNK) {
        let at = out.len();
        out.resize(at + 4 + snap::raw::max_compress_len(chunk.len()), 0);
        let n = enc.compress(chunk, &mut out[at + 4..])?;
        out.truncate(at + 4 + n);
        // n <= max_compress_len(32 KiB), far below i32::MAX.
        out[at..at + 4].copy_from_slice(&(n as i32).to_be_bytes());
    }
    Ok(())
}

/// Decompresses `input`, refusing to produce more than `limit` bytes.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(too_large(codec, input.len(), limit));
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => read_capped(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            input.len(),
            limit,
        ),
        Compression::Snappy => {
            if input.len() >= XERIAL_HEADER_LEN && input[..XERIAL_MAGIC.len()] == XERIAL_MAGIC {
                snappy_xerial_decompress(&input[XERIAL_HEADER_LEN..], input.len(), limit)
            } else {
                let mut out = Vec::new();
                snappy_raw_decompress(input, &mut out, input.len(), limit)?;
                Ok(out)
            }
        }
        Compression::Lz4 => read_capped(
            codec,
            lz4_flex::frame::FrameDecoder::new(input),
            input.len(),
            limit,
        ),
        Compression::Zstd => {
            let dec =
                zstd::stream::read::Decoder::with_buffer(input).map_err(|e| corrupt(codec, e))?;
            read_capped(codec, dec, input.len(), limit)
        }
    }
}

/// Magic-0 messages compressed with lz4 by old Kafka producers carry a wrong frame header
/// checksum (computed over the frame magic as well as the descriptor). Returns the frame with
/// that byte recomputed over the descriptor alone, so the standard decoder accepts it; input that
/// does not look like an LZ4 frame is returned untouched (and fails to decode later).
pub(crate) fn repair_magic0_lz4_header(input: &[u8]) -> Cow<'_, [u8]> {
    if input.len() < 7
        || u32::from_le_bytes([input[0], input[1], input[2], input[3]]) != LZ4_FRAME_MAGIC
    {
        return Cow::Borrowed(input);
    }
    let flg = input[4];
    let descriptor_end =
        6 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 0x01 != 0 { 4 } else { 0 };
    if input.len() <= descriptor_end {
        return Cow::Borrowed(input);
    }
    let checksum = (twox_hash::XxHash32::oneshot(0, &input[4..descriptor_end]) >> 8) as u8;
    if input[descriptor_end] == checksum {
        return Cow::Borrowed(input);
    }
    let mut fixed = input.to_vec();
    fixed[descriptor_end] = checksum;
    Cow::Owned(fixed)
}

fn snappy_xerial_decompress(
    mut chunks: &[u8],
    compressed_len: usize,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    while !chunks.is_empty() {
        if chunks.len() < 4 {
            return Err(corrupt(
                Compression::Snappy,
                "xerial chunk length cut short",
            ));
        }
        let n = i32::from_be_bytes([chunks[0], chunks[1], chunks[2], chunks[3]]);
        chunks = &chunks[4..];
        if n < 0 || n as usize > chunks.len() {
            return Err(corrupt(
                Compression::Snappy,
                format!("xerial chunk of {n} bytes with {} bytes left", chunks.len()),
            ));
        }
        let (chunk, rest) = chunks.split_at(n as usize);
        snappy_raw_decompress(chunk, &mut out, compressed_len, limit)?;
        chunks = rest;
    }
    Ok(out)
}

/// Decompresses one raw snappy block, appending to `out`.
fn snappy_raw_decompress(
    input: &[u8],
    out: &mut Vec<u8>,
    compressed_len: usize,
    limit: usize,
) -> Result<(), DecodeError> {
    let codec = Compression::Snappy;
    let n = snap::raw::decompress_len(input).map_err(|e| corrupt(codec, e))?;
    if n > input.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(corrupt(
            codec,
            format!("a block of {} bytes claims to inflate to {n}", input.len()),
        ));
    }
    if out.len().saturating_add(n) > limit {
        return Err(too_large(codec, compressed_len, limit));
    }
    let at = out.len();
    out.resize(at + n, 0);
    let written = snap::raw::Decoder::new()
        .decompress(input, &mut out[at..])
        .map_err(|e| corrupt(codec, e))?;
    out.truncate(at + written);
    Ok(())
}

/// Reads `reader` to its end, failing once more than `limit` bytes come out.
fn read_capped(
    codec: Compression,
    reader: impl Read,
    compressed_len: usize,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(4).min(limit).min(1 << 20));
    reader
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() > limit {
        return Err(too_large(codec, compressed_len, limit));
    }
    Ok(out)
}

fn corrupt(codec: Compression, e: impl std::fmt::Display) -> DecodeError {
    DecodeError::invalid(
        "compressed records",
        format!("{} data does not decompress: {e}", codec.name()),
    )
}

fn too_large(codec: Compression, compressed_len: usize, limit: usize) -> DecodeError {
    DecodeError::invalid(
        "compressed records",
        format!(
            "{} data of {compressed_len} bytes inflates beyond the limit of {limit} bytes; refusing it",
            codec.name()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        for input in [Vec::new(), b"x".to_vec(), sample()] {
            for codec in CODECS {
                let mut out = Vec::new();
                compress(codec, &input, &mut out).unwrap();
                let back = decompress(codec, &out, MAX_DECOMPRESSED_BATCH_BYTES).unwrap();
                assert_eq!(back, input, "{codec:?}");
            }
        }
    }

    #[test]
    fn snappy_is_written_in_xerial_chunks_and_raw_snappy_is_read() {
        let input = sample();
        let mut out = Vec::new();
        compress(Compression::Snappy, &input, &mut out).unwrap();
        assert_eq!(&out[..8], &XERIAL_MAGIC);
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        // The first chunk holds exactly 32 KiB.
        let n = i32::from_be_bytes(out[16..20].try_into().unwrap()) as usize;
        let first = snap::raw::Decoder::new()
            .decompress_vec(&out[20..20 + n])
            .unwrap();
        assert_eq!(first, &input[..XERIAL_CHUNK]);

        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, usize::MAX).unwrap(),
            input
        );
    }

    #[test]
    fn lz4_is_a_standard_frame_with_independent_64k_blocks() {
        let mut out = Vec::new();
        compress(Compression::Lz4, &sample(), &mut out).unwrap();
        assert_eq!(
            u32::from_le_bytes(out[..4].try_into().unwrap()),
            LZ4_FRAME_MAGIC
        );
        assert_eq!(out[4] & 0xc0, 0x40, "version 01");
        assert_ne!(out[4] & 0x20, 0, "independent blocks");
        assert_eq!(out[5], 0x40, "64 KiB blocks");
    }

    #[test]
    fn inflating_past_the_limit_is_refused() {
        let zeros = vec![0u8; 1 << 20];
        for codec in CODECS {
            let mut out = Vec::new();
            compress(codec, &zeros, &mut out).unwrap();
            let err = decompress(codec, &out, 1000).unwrap_err();
            assert!(
                err.to_string().contains("limit of 1000 bytes"),
                "{codec:?}: {err}"
            );
            assert_eq!(decompress(codec, &out, 1 << 20).unwrap().len(), 1 << 20);
        }
    }

    #[test]
    fn the_limit_has_a_floor_a_ratio_and_a_ceiling() {
        assert_eq!(decompression_limit(0), RATIO_CHECK_FLOOR);
        assert_eq!(decompression_limit(1 << 20), 64 << 20);
        assert_eq!(
            decompression_limit(usize::MAX),
            MAX_DECOMPRESSED_BATCH_BYTES
        );
    }

    #[test]
    fn snappy_length_claims_are_checked_before_allocating() {
        // A raw block claiming 2^32-1 bytes of output from 5 bytes of input.
        let hostile = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decompress(Compression::Snappy, &hostile, usize::MAX).is_err());
        // A xerial chunk longer than the input.
        let mut framed = Vec::new();
        compress(Compression::Snappy, b"hello", &mut framed).unwrap();
        framed[19] = 0x7f;
        assert!(decompress(Compression::Snappy, &framed, usize::MAX).is_err());
        // A xerial chunk length cut short.
        framed.truncate(18);
        assert!(decompress(Compression::Snappy, &framed, usize::MAX).is_err());
    }

    #[test]
    fn garbage_is_an_error_for_every_codec() {
        for codec in &CODECS[1..] {
            assert!(
                decompress(*codec, b"definitely not compressed", usize::MAX).is_err(),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn magic0_lz4_header_checksum_is_repaired() {
        let mut frame = Vec::new();
        compress(Compression::Lz4, b"old kafka", &mut frame).unwrap();
        let good = frame[6];
        // Old producers hashed the frame magic too.
        let broken = (twox_hash::XxHash32::oneshot(0, &frame[..6]) >> 8) as u8;
        assert_ne!(good, broken);
        frame[6] = broken;
        assert!(decompress(Compression::Lz4, &frame, usize::MAX).is_err());
        let repaired = repair_magic0_lz4_header(&frame);
        assert_eq!(
            decompress(Compression::Lz4, &repaired, usize::MAX).unwrap(),
            b"old kafka"
        );
        assert!(matches!(
            repair_magic0_lz4_header(b"short"),
            Cow::Borrowed(_)
        ));
    }
}
