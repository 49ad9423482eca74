//! The `LogObserver` hook in `LogOptions`: told of every fsync round (with the appends it made
//! durable) and of the corruption crash recovery finds.

mod common;

use std::fs::OpenOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use brook_log::Shutdown;
use brook_log::metrics::LogObserver;
use common::*;

#[derive(Debug, Default)]
struct Counting {
    fsyncs: AtomicU64,
    appends: AtomicU64,
    corruptions: AtomicU64,
}

impl LogObserver for Counting {
    fn fsync(&self, _elapsed: Duration, appends: u64) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.appends.fetch_add(appends, Ordering::Relaxed);
    }

    fn corruption(&self) {
        self.corruptions.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn each_fsync_round_reports_the_appends_it_covered() {
    let t = TestLog::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Counting::default());
    let options = brook_log::LogOptions {
        observer: seen.clone(),
        ..t.options()
    };
    let (mut log, _) = brook_log::Log::open(dir.path(), options, Shutdown::Clean).unwrap();
    for i in 0..3 {
        log.append(&batch(i, 1, 10, i as i64), 0).unwrap();
    }
    log.flush().unwrap();
    // Nothing new: no fsync round, nothing reported.
    log.flush().unwrap();
    log.append(&batch(3, 1, 10, 3), 0).unwrap();
    log.flush().unwrap();
    assert_eq!(seen.fsyncs.load(Ordering::Relaxed), 2);
    assert_eq!(seen.appends.load(Ordering::Relaxed), 4);
    assert_eq!(log.durability().sync_count(), 2);
}

#[test]
fn recovery_reports_a_torn_batch_to_the_observer() {
    let t = TestLog::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    for i in 0..5 {
        log.append(&batch(i, 1, 100, i as i64), 0).unwrap();
    }
    let seg = log.segments().pop().unwrap();
    drop(log); // a crash
    OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .unwrap()
        .set_len(seg.size_bytes - 10)
        .unwrap();
    let seen = Arc::new(Counting::default());
    let options = brook_log::LogOptions {
        observer: seen.clone(),
        ..t.options()
    };
    let (log, report) =
        brook_log::Log::open(dir.path(), options, Shutdown::Unclean { recovery_point: 0 }).unwrap();
    assert!(report.corruption.is_some());
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(seen.corruptions.load(Ordering::Relaxed), 1);
}
