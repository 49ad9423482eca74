//! Helpers shared by brook-log's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use brook_log::io::{FaultyFileSystem, FileSystem};
use brook_log::record::{BatchBuilder, decode_records};
use brook_log::{Clock, Log, LogConfig, LogOptions, ManualClock, Shutdown};
use bytes::Bytes;

/// The test clock's start; record timestamps are given relative to it.
pub const T0: i64 = 1_700_000_000_000;

/// One batch of `count` records whose values are `value_len` bytes starting with `"v{first}"`,
/// timestamped `T0 + ts`.
pub fn batch(first: u64, count: u64, value_len: usize, ts: i64) -> Bytes {
    let ts = T0 + ts;
    let mut b = BatchBuilder::new();
    for i in first..first + count {
        let mut v = format!("v{i}-").into_bytes();
        v.resize(value_len.max(v.len()), b'x');
        b.append(ts, Some(format!("k{i}").as_bytes()), Some(&v), &[]);
    }
    b.build()
}

pub struct TestLog {
    pub fs: FaultyFileSystem,
    pub clock: Arc<ManualClock>,
    pub config: LogConfig,
}

impl TestLog {
    pub fn new(pairs: &[(&str, &str)]) -> TestLog {
        TestLog {
            fs: FaultyFileSystem::new(),
            clock: ManualClock::new(T0),
            config: LogConfig::from_pairs(pairs.iter().copied()).expect("valid test config"),
        }
    }

    pub fn options(&self) -> LogOptions {
        let fs: Arc<dyn FileSystem> = Arc::new(self.fs.clone());
        let clock: Arc<dyn Clock> = self.clock.clone();
        LogOptions {
            config: self.config.clone(),
            fs,
            clock,
            observer: brook_log::metrics::no_observer(),
        }
    }

    pub fn open(&self, dir: &Path, shutdown: Shutdown) -> Log {
        Log::open(dir, self.options(), shutdown)
            .expect("open log")
            .0
    }
}

/// Every record in the log, in order, as (offset, value).
pub fn read_all(log: &Log) -> Vec<(i64, Bytes)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20).expect("read");
        assert!(!bytes.is_empty(), "empty read at {offset} below LEO");
        for item in brook_log::batch::batches(&bytes) {
            let (pos, h) = item.expect("whole batches");
            let records = decode_records(&bytes.slice(pos..pos + h.size())).expect("decode");
            for r in records {
                if r.offset >= offset {
                    out.push((r.offset, r.value.clone().unwrap_or_default()));
                }
            }
            offset = h.next_offset();
        }
    }
    out
}

/// The value text of a record up to its padding.
pub fn value_id(v: &Bytes) -> String {
    let s = String::from_utf8_lossy(v);
    s.split('-').next().unwrap_or_default().to_string()
}
