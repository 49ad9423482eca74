//! Helpers shared by the criterion microbenchmarks (`codec`, `index`, `log`): the batch shapes
//! every bench uses, a cheap deterministic pseudo-random sequence for lookup targets, and a
//! scratch directory on a real disk.
//!
//! The shapes are fixed so that figures stay comparable between runs: one small record (a
//! producer sending a record at a time, where fixed per-batch costs dominate), ~16 KiB of small
//! records (a batching producer; the per-record walk dominates) and ~16 KiB of 1 KiB records
//! (the byte-proportional work — CRC, copies — dominates).
#![allow(dead_code)]

use std::path::PathBuf;

use brook_log::record::BatchBuilder;
use bytes::Bytes;

/// A fixed timestamp, so no segment ever rolls on `segment.ms` during a bench.
pub const T0: i64 = 1_700_000_000_000;

/// One batch shape: `records` records of `value_len`-byte values with short keys.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub name: &'static str,
    pub records: usize,
    pub value_len: usize,
}

pub const ONE_SMALL: Shape = Shape {
    name: "1x100B",
    records: 1,
    value_len: 100,
};
pub const MANY_SMALL: Shape = Shape {
    name: "128x100B",
    records: 128,
    value_len: 100,
};
pub const FEW_LARGE: Shape = Shape {
    name: "16x1KiB",
    records: 16,
    value_len: 1024,
};

pub const SHAPES: [Shape; 3] = [ONE_SMALL, MANY_SMALL, FEW_LARGE];

/// The keys and values of a batch of `shape`, prepared outside any timed region.
pub struct Payload {
    pub keys: Vec<Vec<u8>>,
    pub values: Vec<Vec<u8>>,
}

impl Payload {
    pub fn new(shape: Shape) -> Payload {
        let keys = (0..shape.records)
            .map(|i| format!("key-{i:06}").into_bytes())
            .collect();
        let values = (0..shape.records)
            .map(|i| {
                let mut v = format!("value-{i}-").into_bytes();
                v.resize(shape.value_len, b'x');
                v
            })
            .collect();
        Payload { keys, values }
    }

    /// Encodes the batch (this is exactly what `codec/encode` times).
    pub fn encode(&self) -> Bytes {
        let mut b = BatchBuilder::new();
        for (i, (k, v)) in self.keys.iter().zip(&self.values).enumerate() {
            b.append(T0 + i as i64, Some(k), Some(v), &[]);
        }
        b.build()
    }
}

/// One encoded batch of `shape`.
pub fn batch(shape: Shape) -> Bytes {
    Payload::new(shape).encode()
}

/// xorshift64: deterministic "random" lookup targets without a rand dependency.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    /// A value in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x % bound
    }
}

/// A fresh directory for log and index files, removed on drop. Under `$BROOK_BENCH_DIR` if set,
/// else cargo's per-target temp dir inside `target/` (a real disk; `/tmp` may be tmpfs, where an
/// fsync costs nothing).
pub fn scratch_dir() -> tempfile::TempDir {
    let base = std::env::var_os("BROOK_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).expect("create bench dir");
    tempfile::Builder::new()
        .prefix("brook-micro-")
        .tempdir_in(base)
        .expect("create scratch dir")
}
