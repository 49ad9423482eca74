//! Criterion microbenchmarks of the sparse, memory-mapped segment indexes: one lookup in an
//! `OffsetIndex` (offset → file position; every fetch and follower read starts with one) and in a
//! `TimeIndex` (timestamp → offset; ListOffsets by time), each a binary search over big-endian
//! entries in the mapping.
//!
//! Sizes: 1 Ki entries (a small segment) and 256 Ki entries (a full default 1 GiB segment at the
//! default `index.interval.bytes` of 4096: 2 MiB of offset index, 3 MiB of time index). Targets
//! are pseudo-random over the indexed range, so the large case pays cache misses the way a
//! consumer seeking to arbitrary offsets would. Throughput is in lookups (an index lookup touches
//! a handful of entries; bytes per second would mean nothing here).
//! Run: `cargo bench -p brook-log --bench index`.

use std::hint::black_box;

use brook_log::index::{OffsetIndex, TimeIndex};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::{T0, XorShift, scratch_dir};

const SIZES: [usize; 2] = [1 << 10, 1 << 18];
/// Base offset of the indexed segment (non-zero, so relative offsets are exercised).
const BASE: i64 = 1_000_000;
/// Offsets between two entries (~4 KiB of 100 B records).
const OFFSET_STEP: i64 = 32;
const POSITION_STEP: u32 = 4096;
const TIME_STEP: i64 = 10;
/// Lookup targets cycled through; a power of two so the cycle is a mask.
const TARGETS: usize = 1 << 12;

fn offset_index(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut group = c.benchmark_group("index/offset_lookup");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let mut idx =
            OffsetIndex::open(&dir.path().join(format!("{n}.index")), BASE).expect("open index");
        idx.make_writable((n * OffsetIndex::ENTRY_SIZE) as u64)
            .expect("size index");
        for i in 0..n {
            assert!(idx.append(BASE + i as i64 * OFFSET_STEP, i as u32 * POSITION_STEP));
        }
        let mut rng = XorShift::new(n as u64);
        let span = n as u64 * OFFSET_STEP as u64;
        let targets: Vec<i64> = (0..TARGETS)
            .map(|_| BASE + rng.below(span) as i64)
            .collect();
        group.bench_with_input(BenchmarkId::from_parameter(n), &targets, |b, targets| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & (TARGETS - 1);
                black_box(idx.lookup(black_box(targets[i])))
            })
        });
    }
    group.finish();
}

fn time_index(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut group = c.benchmark_group("index/time_lookup");
    group.throughput(Throughput::Elements(1));
    for n in SIZES {
        let mut idx = TimeIndex::open(&dir.path().join(format!("{n}.timeindex")), BASE)
            .expect("open time index");
        idx.make_writable((n * TimeIndex::ENTRY_SIZE) as u64)
            .expect("size time index");
        for i in 0..n as i64 {
            assert!(idx.append(T0 + i * TIME_STEP, BASE + i * OFFSET_STEP));
        }
        let mut rng = XorShift::new(n as u64 + 1);
        let span = n as u64 * TIME_STEP as u64;
        let targets: Vec<i64> = (0..TARGETS).map(|_| T0 + rng.below(span) as i64).collect();
        group.bench_with_input(BenchmarkId::from_parameter(n), &targets, |b, targets| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & (TARGETS - 1);
                black_box(idx.lookup(black_box(targets[i])))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, offset_index, time_index);
criterion_main!(benches);
