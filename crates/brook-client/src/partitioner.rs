//! Choosing a partition for a record: Kafka's murmur2 key hash (byte-for-byte `Utils.murmur2`,
//! so a key lands on the same partition as with a Java client), the sticky choice for records
//! without a key (KIP-480: stay on one partition until a batch for it is sent, so that null-key
//! records still form full batches), and round-robin.

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;

use crate::config::PartitionerKind;

/// Kafka's `Utils.murmur2` (MurmurHash2, seed `0x9747b28c`), returned as Java's signed int.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java's `int` arithmetic wraps; `>>>` is a logical shift, i.e. a shift on u32.
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
    let rest = chunks.remainder();
    // Java's switch falls through from case 3 to case 1.
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on MIN).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Kafka's default partitioner picks for a non-null key.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    if num_partitions <= 0 {
        return 0;
    }
    to_positive(murmur2(key)) % num_partitions
}

/// Per-topic partition choice for records that name no partition.
#[derive(Debug)]
pub struct Partitioner {
    kind: PartitionerKind,
    /// Sticky partition per topic (null keys) or the round-robin counter per topic.
    state: Mutex<HashMap<String, i32>>,
}

impl Partitioner {
    /// A partitioner of `kind` with no sticky choice or round-robin position yet.
    pub fn new(kind: PartitionerKind) -> Partitioner {
        Partitioner {
            kind,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// The partition for a record of `topic` with `key`, given the topic's partition count.
    pub fn partition(&self, topic: &str, key: Option<&[u8]>, num_partitions: i32) -> i32 {
        if num_partitions <= 1 {
            return 0;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match (self.kind, key) {
            (PartitionerKind::Murmur2, Some(k)) => partition_for_key(k, num_partitions),
            (PartitionerKind::Murmur2, None) => {
                let p = state
                    .entry(topic.to_string())
                    .or_insert_with(|| rand::rng().random_range(0..num_partitions));
                // The partition count may have shrunk in the metadata since we chose.
                if *p >= num_partitions {
                    *p = rand::rng().random_range(0..num_partitions);
                }
                *p
            }
            (PartitionerKind::RoundRobin, _) => {
                let next = state.entry(topic.to_string()).or_insert(0);
                let p = next.rem_euclid(num_partitions);
                *next = next.wrapping_add(1);
                p
            }
        }
    }

    /// Called when a batch of `topic`/`partition` is sent: a null-key topic sticking to that
    /// partition moves to another one (KIP-480), so batches spread over all partitions.
    pub fn on_batch_sent(&self, topic: &str, partition: i32, num_partitions: i32) {
        if self.kind != PartitionerKind::Murmur2 || num_partitions <= 1 {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = state.get_mut(topic)
            && *p == partition
        {
            // A different partition, uniformly among the others.
            let step = rand::rng().random_range(1..num_partitions);
            *p = (partition + step).rem_euclid(num_partitions);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka_utils_test() {
        // Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input), expected, "murmur2({input:?})");
        }
    }

    #[test]
    fn key_partition_uses_to_positive() {
        // toPositive(-790332482) = 1357151166; % 50 = 16 (cross-checked with other ports).
        assert_eq!(partition_for_key(b"foobar", 50), 16);
        for n in 1..20 {
            let p = partition_for_key(b"21", n);
            assert!((0..n).contains(&p));
        }
        assert_eq!(to_positive(i32::MIN), 0);
    }

    #[test]
    fn sticky_switches_after_batch_sent() {
        let p = Partitioner::new(PartitionerKind::Murmur2);
        let first = p.partition("t", None, 4);
        assert_eq!(
            p.partition("t", None, 4),
            first,
            "sticks until a batch is sent"
        );
        p.on_batch_sent("t", (first + 1) % 4, 4);
        assert_eq!(
            p.partition("t", None, 4),
            first,
            "other partitions' batches don't move it"
        );
        p.on_batch_sent("t", first, 4);
        let second = p.partition("t", None, 4);
        assert_ne!(second, first);
        assert_eq!(
            p.partition("t", Some(b"foobar"), 50),
            16,
            "keyed records ignore stickiness"
        );
    }

    #[test]
    fn round_robin_cycles() {
        let p = Partitioner::new(PartitionerKind::RoundRobin);
        let got: Vec<i32> = (0..6).map(|_| p.partition("t", Some(b"k"), 3)).collect();
        assert_eq!(got, vec![0, 1, 2, 0, 1, 2]);
    }
}
