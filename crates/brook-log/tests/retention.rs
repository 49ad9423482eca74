//! Retention (rule S7; scenario T16 second part): whole segments only, only below the bound the
//! broker passes (its high watermark), never the active segment; log start moves forward.

mod common;

use brook_log::Shutdown;
use common::*;

fn filled(t: &TestLog, dir: &std::path::Path, n: u64) -> brook_log::Log {
    let mut log = t.open(dir, Shutdown::Clean);
    for i in 0..n {
        log.append(&batch(i, 1, 1024, i as i64), 0).unwrap();
    }
    log
}

#[test]
fn t16_retention_bytes_deletes_oldest_whole_segments_below_hw_only() {
    let t = TestLog::new(&[("segment.bytes", "16384"), ("retention.bytes", "32768")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(&t, dir.path(), 70);
    let segs = log.segments();
    assert!(segs.len() >= 5, "{segs:?}");

    // HW held at 0 (followers paused): nothing may go, however big the log is.
    assert_eq!(log.delete_old_segments(0).unwrap(), 0);
    // HW inside the second segment: only the first segment may go.
    assert_eq!(log.delete_old_segments(segs[1].base_offset + 1).unwrap(), 1);
    assert_eq!(log.log_start_offset(), segs[1].base_offset);
    assert!(!segs[0].path.exists());
    // Reading below the new log start is OFFSET_OUT_OF_RANGE.
    assert_eq!(
        log.read(0, 100).unwrap_err().kafka_name(),
        "OFFSET_OUT_OF_RANGE"
    );
    assert!(!log.read(segs[1].base_offset, 100).unwrap().is_empty());

    // HW at LEO: delete oldest while the rest still holds ≥ retention.bytes; active stays.
    let deleted = log.delete_old_segments(log.log_end_offset()).unwrap();
    assert!(deleted >= 1);
    let left = log.segments();
    let total: u64 = left.iter().map(|s| s.size_bytes).sum();
    assert!(total >= 32768 - 16384, "kept {total} bytes");
    assert!(
        total - left[0].size_bytes < 32768,
        "could have deleted more: {left:?}"
    );
    assert_eq!(log.log_start_offset(), left[0].base_offset);
    assert_eq!(
        left.last().unwrap().base_offset,
        segs.last().unwrap().base_offset
    );
}

#[test]
fn retention_ms_deletes_segments_whose_newest_record_is_too_old() {
    let t = TestLog::new(&[("segment.bytes", "16384"), ("retention.ms", "60000")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(&t, dir.path(), 40); // record timestamps T0+0 .. T0+39 ms
    let n = log.segments().len();
    assert_eq!(
        log.delete_old_segments(i64::MAX).unwrap(),
        0,
        "nothing old yet"
    );
    t.clock.advance(60_100);
    // Every non-active segment is now older than retention.ms; the active one stays.
    assert_eq!(log.delete_old_segments(i64::MAX).unwrap(), n - 1);
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.log_start_offset(), log.segments()[0].base_offset);
    // Writing continues after retention emptied the old segments.
    let info = log.append(&batch(40, 1, 10, 70_000), 0).unwrap();
    assert_eq!(info.base_offset, 40);
}

#[test]
fn log_start_survives_reopen_after_retention() {
    let t = TestLog::new(&[("segment.bytes", "16384"), ("retention.bytes", "1")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(&t, dir.path(), 40);
    log.delete_old_segments(i64::MAX).unwrap();
    let start = log.log_start_offset();
    assert!(start > 0);
    log.close().unwrap();
    let log = t.open(dir.path(), Shutdown::Clean);
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(log.log_end_offset(), 40);
}
