//! Criterion microbenchmarks of the batch codec: the CPU cost per batch of the work every produce
//! request pays before any byte reaches a file (and that recovery and time lookups pay on reads).
//!
//! * `encode`: `BatchBuilder::append` × n + `build` (what a producer or test encodes; the broker
//!   itself never re-encodes).
//! * `validate`: `batch::validate`, the full allocation-free check of every incoming batch (header,
//!   CRC, walk of every record).
//! * `decode`: `record::decode_records`, which also materialises `Record`s (zero-copy slices).
//! * `check_crc`: `batch::check_crc`, header parse + CRC-32C only (recovery scans, replicated
//!   appends); `crc32c_raw` is the bare `crc32c::crc32c` over the same bytes, the floor for both.
//!
//! Each over the three shapes of `common` (1 small record; ~16 KiB of 100 B records; ~16 KiB of
//! 1 KiB records), throughput in batch bytes. Unlike `benches/storage.rs` at the repository root
//! (end-to-end MB/s against raw-disk baselines), these isolate per-operation cost.
//! Run: `cargo bench -p brook-log --bench codec`.

use std::hint::black_box;

use brook_log::batch;
use brook_log::record::decode_records;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::{Payload, SHAPES};

/// Bytes the CRC covers start at the attributes field (S1).
const CRC_COVERED_FROM: usize = 21;

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for shape in SHAPES {
        let payload = Payload::new(shape);
        let bytes = payload.encode();
        batch::validate(&bytes).expect("the bench batch is valid");
        group.throughput(Throughput::Bytes(bytes.len() as u64));

        group.bench_function(format!("encode/{}", shape.name), |b| {
            b.iter(|| black_box(black_box(&payload).encode()))
        });
        group.bench_function(format!("validate/{}", shape.name), |b| {
            b.iter(|| black_box(batch::validate(black_box(&bytes)).unwrap()))
        });
        group.bench_function(format!("decode/{}", shape.name), |b| {
            b.iter(|| black_box(decode_records(black_box(&bytes)).unwrap()))
        });
        group.bench_function(format!("check_crc/{}", shape.name), |b| {
            b.iter(|| black_box(batch::check_crc(black_box(&bytes)).unwrap()))
        });
        group.bench_function(format!("crc32c_raw/{}", shape.name), |b| {
            b.iter(|| black_box(crc32c::crc32c(&black_box(&bytes)[CRC_COVERED_FROM..])))
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
