//! Criterion microbenchmarks of `Log`: the per-call cost of the two storage hot paths of a broker.
//!
//! * `append`: `Log::append` of one producer batch — full validation, offset stamping into the
//!   log's scratch buffer, one `pwrite` to the active segment, index upkeep — with no fsync, i.e.
//!   into the page cache. The log is emptied (outside the timed region) whenever it reaches
//!   64 MiB, so a long run neither fills the disk nor rolls segments (a roll costs fsyncs).
//! * `append_flush`: the same followed by `Log::flush` (one `fdatasync`), the cost of
//!   `flush.messages=1` for a lone producer; dominated by the disk, hence fewer samples.
//! * `read`: `Log::read` at a pseudo-random offset: index lookup, forward header scan
//!   (`Segment::find_batch`) and one `pread` — of one batch (`max_bytes` = 1), as a follower or
//!   consumer asking for the next batch does, and of 1 MiB, a full fetch.
//!
//! Throughput is in batch bytes. `benches/storage.rs` at the repository root measures sustained
//! MB/s against raw-disk baselines; these figures are per operation, to spot regressions in the
//! code around the syscalls. Files go under `$BROOK_BENCH_DIR` or `target/tmp` (see `common`).
//! Run: `cargo bench -p brook-log --bench log`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use brook_log::{Log, LogConfig, LogOptions, Shutdown};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::{MANY_SMALL, ONE_SMALL, SHAPES, Shape, XorShift, batch, scratch_dir};

/// The append benches empty the log when it would grow past this.
const APPEND_CAP: u64 = 64 << 20;
const FETCH_BYTES: usize = 1 << 20;
/// Size of the log the read benches read from.
const READ_LOG_BYTES: u64 = 8 << 20;
const TARGETS: usize = 1 << 12;

fn open_log(dir: &std::path::Path) -> Log {
    let options = LogOptions::with_config(LogConfig::default());
    Log::open(dir, options, Shutdown::Clean)
        .expect("open log")
        .0
}

/// Appends `batch` `iters` times, timing only the appends (and the flushes, if asked).
fn timed_appends(log: &mut Log, batch: &[u8], iters: u64, flush: bool) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let room = APPEND_CAP.saturating_sub(log.size_bytes()) / batch.len() as u64;
        if room == 0 {
            log.truncate_fully_and_start_at(0).expect("empty the log");
            continue;
        }
        let n = room.min(iters - done);
        let start = Instant::now();
        for _ in 0..n {
            black_box(log.append(black_box(batch), 0).expect("append"));
            if flush {
                log.flush().expect("flush");
            }
        }
        elapsed += start.elapsed();
        done += n;
    }
    elapsed
}

fn append(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut group = c.benchmark_group("log/append");
    for shape in SHAPES {
        let bytes = batch(shape);
        let mut log = open_log(&dir.path().join(shape.name));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(shape.name, |b| {
            b.iter_custom(|iters| timed_appends(&mut log, &bytes, iters, false))
        });
    }
    group.finish();
}

fn append_flush(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut group = c.benchmark_group("log/append_flush");
    group.sample_size(20);
    for shape in [ONE_SMALL, MANY_SMALL] {
        let bytes = batch(shape);
        let mut log = open_log(&dir.path().join(shape.name));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(shape.name, |b| {
            b.iter_custom(|iters| timed_appends(&mut log, &bytes, iters, true))
        });
    }
    group.finish();
}

/// A log of `READ_LOG_BYTES` of `shape` batches and the batch itself.
fn filled_log(dir: &std::path::Path, shape: Shape) -> (Log, usize) {
    let bytes = batch(shape);
    let mut log = open_log(dir);
    while log.size_bytes() < READ_LOG_BYTES {
        log.append(&bytes, 0).expect("append");
    }
    (log, bytes.len())
}

fn read(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut group = c.benchmark_group("log/read");
    for shape in [ONE_SMALL, MANY_SMALL] {
        let (log, batch_len) = filled_log(&dir.path().join(shape.name), shape);
        let records = shape.records as u64;
        let leo = log.log_end_offset() as u64;
        let mut rng = XorShift::new(7);
        let anywhere: Vec<i64> = (0..TARGETS).map(|_| rng.below(leo) as i64).collect();

        group.throughput(Throughput::Bytes(batch_len as u64));
        group.bench_function(format!("one_batch/{}", shape.name), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & (TARGETS - 1);
                black_box(log.read(black_box(anywhere[i]), 1).expect("read"))
            })
        });

        // Targets leave room for a whole fetch, so every read returns the same byte count.
        let per_fetch = FETCH_BYTES / batch_len;
        let room = leo - (per_fetch as u64 + 1) * records;
        let early: Vec<i64> = (0..TARGETS).map(|_| rng.below(room) as i64).collect();
        group.throughput(Throughput::Bytes((per_fetch * batch_len) as u64));
        group.bench_function(format!("fetch_1MiB/{}", shape.name), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & (TARGETS - 1);
                black_box(log.read(black_box(early[i]), FETCH_BYTES).expect("read"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, append, append_flush, read);
criterion_main!(benches);
