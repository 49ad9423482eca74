//! Append, read, offsets, roll and index behaviour of a single log (rules S1–S4, T16 first part).

mod common;

use brook_log::batch::{self, BatchHeader};
use brook_log::{LogError, Shutdown};
use common::*;

#[test]
fn append_assigns_offsets_and_stamps_epoch_without_breaking_crc() {
    let t = TestLog::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    let a = log.append(&batch(0, 3, 10, 1000), 7).unwrap();
    let b = log.append(&batch(3, 2, 10, 1001), 7).unwrap();
    assert_eq!((a.base_offset, a.last_offset, a.record_count), (0, 2, 3));
    assert_eq!((b.base_offset, b.last_offset), (3, 4));
    assert_eq!(log.log_end_offset(), 5);
    let bytes = log.read(3, 1 << 20).unwrap();
    let h = batch::validate(&bytes).unwrap();
    assert_eq!((h.base_offset, h.partition_leader_epoch), (3, 7));
    let values: Vec<String> = read_all(&log).iter().map(|(_, v)| value_id(v)).collect();
    assert_eq!(values, ["v0", "v1", "v2", "v3", "v4"]);
}

#[test]
fn bad_batches_are_refused_and_nothing_is_written() {
    let t = TestLog::new(&[("max.message.bytes", "2000"), ("segment.bytes", "4096")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    log.append(&batch(0, 1, 10, 1), 0).unwrap();
    let before = log.size_bytes();

    let mut corrupt = batch(1, 2, 10, 1).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(
        log.append(&corrupt, 0).unwrap_err().kafka_name(),
        "CORRUPT_MESSAGE"
    );

    let big = batch(1, 1, 3000, 1);
    assert_eq!(
        log.append(&big, 0).unwrap_err().kafka_name(),
        "MESSAGE_TOO_LARGE"
    );

    assert_eq!(
        log.append(&corrupt[..40], 0).unwrap_err().kafka_name(),
        "CORRUPT_MESSAGE"
    );
    assert_eq!(
        log.append(b"", 0).unwrap_err().kafka_name(),
        "CORRUPT_MESSAGE"
    );

    assert_eq!(log.size_bytes(), before);
    assert_eq!(log.log_end_offset(), 1);
}

#[test]
fn a_batch_larger_than_a_segment_is_record_list_too_large() {
    let t = TestLog::new(&[("segment.bytes", "1024"), ("max.message.bytes", "100000")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    let err = log.append(&batch(0, 1, 2000, 1), 0).unwrap_err();
    assert!(matches!(err, LogError::RecordListTooLarge { .. }), "{err}");
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn reads_outside_the_log_are_offset_out_of_range_and_at_leo_are_empty() {
    let t = TestLog::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    log.append(&batch(0, 10, 10, 1), 0).unwrap();
    assert!(log.read(10, 1000).unwrap().is_empty());
    assert_eq!(
        log.read(11, 1000).unwrap_err().kafka_name(),
        "OFFSET_OUT_OF_RANGE"
    );
    assert_eq!(
        log.read(-1, 1000).unwrap_err().kafka_name(),
        "OFFSET_OUT_OF_RANGE"
    );
}

#[test]
fn read_returns_whole_batches_at_least_one_and_respects_upper_bound() {
    let t = TestLog::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    for i in 0..4 {
        log.append(&batch(i * 5, 5, 500, 1), 0).unwrap();
    }
    // max_bytes smaller than one batch still returns that one batch.
    let one = log.read(7, 10).unwrap();
    let h = BatchHeader::parse(&one).unwrap();
    assert_eq!((h.base_offset, h.size()), (5, one.len()));
    // Offset in the middle of a batch starts at that batch.
    let two = log.read(7, 2 * h.size() + 16).unwrap();
    assert_eq!(batch::batches(&two).count(), 2);
    // The upper bound (a high watermark) excludes batches that reach it.
    let below_hw = log.read_upto(0, 1 << 20, 12).unwrap();
    let last = batch::batches(&below_hw).last().unwrap().unwrap().1;
    assert_eq!(last.last_offset(), 9);
    assert!(log.read_upto(10, 1 << 20, 12).unwrap().is_empty());
}

#[test]
fn t16_rolls_segments_names_files_and_indexes_every_4k() {
    // T16: segment.bytes = 16 KiB, index.interval.bytes = 4096, 1 KiB records.
    let t = TestLog::new(&[("segment.bytes", "16384"), ("index.interval.bytes", "4096")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    let mut sizes = Vec::new();
    for i in 0..60 {
        let b = batch(i, 1, 1024, 1000 + i as i64);
        sizes.push(b.len());
        log.append(&b, 0).unwrap();
    }
    let segs = log.segments();
    assert!(segs.len() >= 4, "{segs:?}");
    for (i, s) in segs.iter().enumerate() {
        let name = s.path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(name, format!("{:020}.log", s.base_offset));
        assert!(
            s.size_bytes <= 16384,
            "segment {i} is {} bytes",
            s.size_bytes
        );
        if i + 1 < segs.len() {
            // Rolled only because the next batch would not fit.
            assert!(s.size_bytes + sizes[0] as u64 > 16384);
            assert_eq!(s.next_offset, segs[i + 1].base_offset);
            // One index entry per > 4096 bytes appended: ~ size / (4096 + batch).
            let expected = (s.size_bytes as usize - 1) / (4096 + sizes[0]);
            assert!(
                s.index_entries >= expected.saturating_sub(1) && s.index_entries <= expected + 1,
                "segment {i}: {} entries for {} bytes",
                s.index_entries,
                s.size_bytes
            );
            assert!(s.index_entries >= 2);
        }
    }
    // Fetch at every offset returns the batch holding that record.
    for o in 0..60 {
        let bytes = log.read(o, 1).unwrap();
        let h = BatchHeader::parse(&bytes).unwrap();
        assert!(
            h.base_offset <= o && o <= h.last_offset(),
            "offset {o} -> {h:?}"
        );
    }
    // And after a clean reopen (indexes loaded from disk, trimmed on roll).
    log.close().unwrap();
    let log = t.open(dir.path(), Shutdown::Clean);
    assert_eq!(log.log_end_offset(), 60);
    for o in 0..60 {
        let h = BatchHeader::parse(&log.read(o, 1).unwrap()).unwrap();
        assert_eq!(h.base_offset, o);
    }
}

#[test]
fn segment_ms_rolls_an_old_segment() {
    let t = TestLog::new(&[("segment.ms", "1000")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    log.append(&batch(0, 1, 10, 0), 0).unwrap();
    log.append(&batch(1, 1, 10, 500), 0).unwrap();
    assert_eq!(log.segments().len(), 1);
    t.clock.advance(1001);
    log.append(&batch(2, 1, 10, 1001), 0).unwrap();
    let segs = log.segments();
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[1].base_offset, 2);
}

#[test]
fn offset_for_timestamp_finds_first_record_at_or_after() {
    let t = TestLog::new(&[("segment.bytes", "4096"), ("index.interval.bytes", "100")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    for i in 0..40 {
        log.append(&batch(i, 1, 200, 10_000 + 10 * i as i64), 0)
            .unwrap();
    }
    assert!(log.segments().len() > 1);
    // Kafka answers with the found record's timestamp, not the one asked for.
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, T0 + 10_000)));
    assert_eq!(
        log.offset_for_timestamp(T0 + 10_000).unwrap(),
        Some((0, T0 + 10_000))
    );
    assert_eq!(
        log.offset_for_timestamp(T0 + 10_001).unwrap(),
        Some((1, T0 + 10_010))
    );
    assert_eq!(
        log.offset_for_timestamp(T0 + 10_245).unwrap(),
        Some((25, T0 + 10_250))
    );
    assert_eq!(
        log.offset_for_timestamp(T0 + 10_390).unwrap(),
        Some((39, T0 + 10_390))
    );
    assert_eq!(log.offset_for_timestamp(T0 + 10_391).unwrap(), None);
}

#[test]
fn truncate_to_removes_later_batches_segments_and_index_entries() {
    let t = TestLog::new(&[("segment.bytes", "4096"), ("index.interval.bytes", "0")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    for i in 0..30 {
        log.append(&batch(i * 2, 2, 300, 1), 0).unwrap();
    }
    let before = log.segments().len();
    assert!(before > 3);
    // Offset 21 sits inside the batch [20, 21]: the whole batch goes.
    let leo = log.truncate_to(21).unwrap();
    assert_eq!(leo, 20);
    assert_eq!(log.log_end_offset(), 20);
    assert!(log.segments().len() < before);
    assert_eq!(read_all(&log).len(), 20);
    assert_eq!(
        log.read(21, 100).unwrap_err().kafka_name(),
        "OFFSET_OUT_OF_RANGE"
    );
    // Appending continues from the new LEO, and files of removed segments are gone.
    let info = log.append(&batch(100, 1, 10, 1), 0).unwrap();
    assert_eq!(info.base_offset, 20);
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, log.segments().len() * 3);
    // Reopen cleanly after truncation: index entries beyond the cut are gone.
    log.close().unwrap();
    let log = t.open(dir.path(), Shutdown::Clean);
    assert_eq!(log.log_end_offset(), 21);
    assert_eq!(read_all(&log).len(), 21);
}

#[test]
fn follower_append_keeps_offsets_and_requires_contiguity() {
    let t = TestLog::new(&[]);
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    let mut leader = t.open(leader_dir.path(), Shutdown::Clean);
    let mut follower = t.open(follower_dir.path(), Shutdown::Clean);
    for i in 0..5 {
        leader.append(&batch(i * 3, 3, 20, 1), 4).unwrap();
    }
    let fetched = leader.read(0, 1 << 20).unwrap();
    let info = follower.append_replicated(&fetched).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (0, 14));
    assert_eq!(
        follower.read(0, 1 << 20).unwrap(),
        fetched,
        "byte-identical replica"
    );
    // A gap or an overlap is refused, with nothing written.
    let again = follower.append_replicated(&fetched).unwrap_err();
    assert_eq!(again.kafka_name(), "INVALID_RECORD");
    assert_eq!(follower.log_end_offset(), 15);
}

#[test]
fn a_replicated_run_of_batches_rolls_segments_where_needed() {
    let leader_t = TestLog::new(&[]);
    let follower_t = TestLog::new(&[("segment.bytes", "4096")]);
    let (ld, fd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut leader = leader_t.open(ld.path(), Shutdown::Clean);
    let mut follower = follower_t.open(fd.path(), Shutdown::Clean);
    for i in 0..40 {
        leader.append(&batch(i, 1, 300, 0), 0).unwrap();
    }
    // One fetch carrying all 40 batches, appended as a few writes with rolls in between.
    let fetched = leader.read(0, 1 << 20).unwrap();
    follower.append_replicated(&fetched).unwrap();
    let segs = follower.segments();
    assert!(segs.len() > 3, "{segs:?}");
    for s in &segs {
        assert!(
            s.size_bytes <= 4096,
            "segment {} is {} bytes",
            s.base_offset,
            s.size_bytes
        );
    }
    assert_eq!(read_all(&follower), read_all(&leader));
}
