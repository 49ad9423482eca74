//! Crash recovery (rules S5, S6; scenario T15) and the clean-shutdown fast path.

mod common;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};

use brook_log::{LogDir, LogOptions, Shutdown, lock};
use common::*;

/// Three segments of 1 KiB records: 16 KiB segments hold ~15 batches each.
fn three_segments(t: &TestLog, dir: &std::path::Path) -> Vec<brook_log::SegmentInfo> {
    let mut log = t.open(dir, Shutdown::Clean);
    for i in 0..40 {
        log.append(&batch(i, 1, 1024, i as i64), 0).unwrap();
    }
    let segs = log.segments();
    assert_eq!(segs.len(), 3, "{segs:?}");
    drop(log); // no close: a crash
    segs
}

fn flip_byte(path: &std::path::Path, at: u64) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    use std::io::Read;
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x5a]).unwrap();
}

#[test]
fn t15a_torn_tail_is_cut_at_the_last_complete_batch() {
    let t = TestLog::new(&[("segment.bytes", "16384")]);
    let dir = tempfile::tempdir().unwrap();
    let segs = three_segments(&t, dir.path());
    let last = segs.last().unwrap();
    // Cut the last segment in the middle of its last batch.
    let batch_size = (last.size_bytes / (last.next_offset - last.base_offset) as u64) as u64;
    let torn_len = last.size_bytes - batch_size / 2;
    OpenOptions::new()
        .write(true)
        .open(&last.path)
        .unwrap()
        .set_len(torn_len)
        .unwrap();

    let before = brook_log::metrics::corruptions_detected();
    let (log, report) = brook_log::Log::open(
        dir.path(),
        t.options(),
        Shutdown::Unclean { recovery_point: 0 },
    )
    .unwrap();
    assert_eq!(
        log.log_end_offset(),
        39,
        "LEO = last complete batch's offset + 1"
    );
    assert!(report.corruption.is_some());
    assert_eq!(report.truncated_bytes, batch_size - batch_size / 2);
    assert_eq!(report.segments_scanned, 3);
    assert!(brook_log::metrics::corruptions_detected() > before);
    let values = read_all(&log);
    assert_eq!(values.len(), 39);
    for (i, (o, v)) in values.iter().enumerate() {
        assert_eq!((*o, value_id(v)), (i as i64, format!("v{i}")));
    }
}

#[test]
fn t15b_flipped_byte_in_middle_segment_truncates_there_and_deletes_later_segments() {
    let t = TestLog::new(&[("segment.bytes", "16384"), ("index.interval.bytes", "2048")]);
    let dir = tempfile::tempdir().unwrap();
    let segs = three_segments(&t, dir.path());
    let middle = &segs[1];
    let per = middle.size_bytes / (middle.next_offset - middle.base_offset) as u64;
    // Corrupt a value byte inside the 4th batch of the middle segment.
    flip_byte(&middle.path, 3 * per + per / 2);

    let (mut log, report) = brook_log::Log::open(
        dir.path(),
        t.options(),
        Shutdown::Unclean { recovery_point: 0 },
    )
    .unwrap();
    let expected_leo = middle.base_offset + 3;
    assert_eq!(log.log_end_offset(), expected_leo);
    assert_eq!(report.deleted_segments, 1);
    let why = report.corruption.unwrap();
    assert!(why.contains("CRC mismatch"), "{why}");
    assert!(!segs[2].path.exists(), "later segment deleted");
    // Indexes rebuilt: every remaining offset readable at the right batch.
    for o in 0..expected_leo {
        let bytes = log.read(o, 1).unwrap();
        let h = brook_log::batch::check_crc(&bytes).unwrap();
        assert_eq!(h.base_offset, o);
    }
    // The log keeps working: appends continue at the new LEO.
    let info = log.append(&batch(100, 1, 10, 100), 0).unwrap();
    assert_eq!(info.base_offset, expected_leo);
}

#[test]
fn nothing_below_the_recovery_point_is_rescanned() {
    let t = TestLog::new(&[("segment.bytes", "16384")]);
    let dir = tempfile::tempdir().unwrap();
    let segs = three_segments(&t, dir.path());
    // Recovery point at the start of the last segment: only that one is scanned.
    let (_, report) = brook_log::Log::open(
        dir.path(),
        t.options(),
        Shutdown::Unclean {
            recovery_point: segs[2].base_offset,
        },
    )
    .unwrap();
    assert_eq!(report.segments_scanned, 1);
    assert_eq!(report.corruption, None);
}

#[test]
fn corruption_below_the_recovery_point_is_a_storage_error_and_nothing_is_cut() {
    let t = TestLog::new(&[("segment.bytes", "16384")]);
    let dir = tempfile::tempdir().unwrap();
    let segs = three_segments(&t, dir.path());
    let last = &segs[2];
    let per = last.size_bytes / (last.next_offset - last.base_offset) as u64;
    flip_byte(&last.path, per / 2);
    let size_before = std::fs::metadata(&last.path).unwrap().len();
    let err = brook_log::Log::open(
        dir.path(),
        t.options(),
        Shutdown::Unclean { recovery_point: 40 },
    )
    .unwrap_err();
    assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
    assert_eq!(std::fs::metadata(&last.path).unwrap().len(), size_before);
}

#[test]
fn clean_shutdown_marker_skips_the_scan_and_its_absence_forces_one() {
    let t = TestLog::new(&[("segment.bytes", "16384")]);
    let root = tempfile::tempdir().unwrap();
    let options: LogOptions = t.options();
    {
        let mut dir = LogDir::open(root.path(), options.clone()).unwrap();
        let log = dir.create_log("orders-0", t.config.clone()).unwrap();
        for i in 0..40 {
            lock(&log).append(&batch(i, 1, 1024, i as i64), 0).unwrap();
        }
        drop(log);
        dir.close().unwrap();
    }
    assert!(root.path().join(".brook_cleanshutdown").exists());
    let dir = LogDir::open(root.path(), options.clone()).unwrap();
    assert_eq!(dir.recovery_reports()["orders-0"].segments_scanned, 0);
    assert_eq!(lock(&dir.log("orders-0").unwrap()).log_end_offset(), 40);
    assert!(
        !root.path().join(".brook_cleanshutdown").exists(),
        "marker consumed on open"
    );
    drop(dir); // crash: no marker, recovery point from the checkpoint (40 = all flushed)
    let dir = LogDir::open(root.path(), options.clone()).unwrap();
    let report = &dir.recovery_reports()["orders-0"];
    assert_eq!(report.corruption, None);
    assert_eq!(lock(&dir.log("orders-0").unwrap()).log_end_offset(), 40);
}

#[test]
fn a_corrupt_partition_goes_offline_alone() {
    let t = TestLog::new(&[("segment.bytes", "16384")]);
    let root = tempfile::tempdir().unwrap();
    let options = t.options();
    let (good, bad);
    {
        let mut dir = LogDir::open(root.path(), options.clone()).unwrap();
        good = dir.create_log("good-0", t.config.clone()).unwrap();
        bad = dir.create_log("bad-0", t.config.clone()).unwrap();
        for i in 0..20 {
            lock(&good).append(&batch(i, 1, 1024, 0), 0).unwrap();
            lock(&bad).append(&batch(i, 1, 1024, 0), 0).unwrap();
        }
        lock(&good).flush().unwrap();
        lock(&bad).flush().unwrap();
        dir.checkpoint_recovery_points().unwrap();
    } // crash
    // Damage the active segment, which recovery rescans from its start, at a batch below the
    // recovery point: that data was fsynced, so this is a broken disk, not a torn write.
    let bad_last = lock(&bad).segments().last().unwrap().path.clone();
    drop((good, bad));
    flip_byte(&bad_last, 200);
    let dir = LogDir::open(root.path(), options).unwrap();
    assert_eq!(dir.offline()["bad-0"].kafka_name(), "KAFKA_STORAGE_ERROR");
    let good = dir.log("good-0").expect("good partition still serves");
    assert_eq!(read_all(&lock(&good)).len(), 20);
    assert!(dir.log("bad-0").is_none());
}

#[test]
fn power_loss_keeps_exactly_what_was_flushed() {
    let t = TestLog::new(&[("segment.bytes", "16384")]);
    let dir = tempfile::tempdir().unwrap();
    let flushed_leo;
    {
        let mut log = t.open(dir.path(), Shutdown::Clean);
        for i in 0..25 {
            log.append(&batch(i, 1, 1024, 0), 0).unwrap();
        }
        log.flush().unwrap();
        flushed_leo = log.flushed_offset();
        for i in 25..35 {
            log.append(&batch(i, 1, 1024, 0), 0).unwrap();
        }
        assert_eq!(log.flushed_offset(), 25);
    }
    t.fs.drop_unsynced().unwrap();
    let (log, _) = brook_log::Log::open(
        dir.path(),
        t.options(),
        Shutdown::Unclean {
            recovery_point: flushed_leo,
        },
    )
    .unwrap();
    assert_eq!(log.log_end_offset(), 25);
    assert_eq!(read_all(&log).len(), 25);
}
