//! Choosing a partition for a message.
//!
//! * [`Partitioner::Crc32`] (the default): `crc32(key) % partitions`, the partition ruby-kafka and
//!   librdkafka's default (`consistent_random`) choose for the same key, so a migrated app keeps
//!   each key on the partition it used before.
//! * [`Partitioner::Murmur2`]: the Java client's default, `(murmur2(key) & 0x7fffffff) %
//!   partitions`, to share partitions with JVM producers.
//!
//! Messages without a key are spread round-robin over the partitions.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partitioner {
    #[default]
    Crc32,
    Murmur2,
}

impl Partitioner {
    /// The partition for `key` among `partitions` (> 0).
    pub fn partition_for_key(self, key: &[u8], partitions: usize) -> i32 {
        debug_assert!(partitions > 0);
        let hash = match self {
            Partitioner::Crc32 => crc32fast::hash(key) as usize,
            Partitioner::Murmur2 => (murmur2(key) & 0x7fff_ffff) as usize,
        };
        (hash % partitions) as i32
    }
}

/// Spreads keyless messages over partitions.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    pub fn with_start(start: usize) -> Self {
        RoundRobin {
            next: AtomicUsize::new(start),
        }
    }

    pub fn next(&self, partitions: usize) -> i32 {
        (self.next.fetch_add(1, Ordering::Relaxed) % partitions) as i32
    }
}

/// MurmurHash2 (32-bit) with the seed and finalisation the Java client uses.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Reference values of org.apache.kafka.common.utils.Utils.murmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn crc32_is_zlib_crc32() {
        // Zlib.crc32("hello") == 907060870 in Ruby.
        assert_eq!(crc32fast::hash(b"hello"), 907060870);
        assert_eq!(Partitioner::Crc32.partition_for_key(b"hello", 10), 0);
        assert_eq!(
            Partitioner::Crc32.partition_for_key(b"hello", 7),
            (907060870u32 % 7) as i32
        );
    }

    #[test]
    fn round_robin_visits_every_partition() {
        let rr = RoundRobin::default();
        let got: Vec<i32> = (0..6).map(|_| rr.next(3)).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
    }
}
