//! Producer state against a real `brook_log::Log`: snapshots plus replay (`rebuild`) restore the
//! deduplication window after a restart, a corrupt snapshot falls back to an older one, and
//! truncation and retention are followed correctly.

use std::path::Path;

use brook_broker::producer_state::{
    BatchMetadata, NUM_BATCHES_TO_RETAIN, ProducerStateError, ProducerStateManager, Verdict,
};
use brook_log::record::BatchBuilder;
use brook_log::{Log, LogConfig, LogOptions, Shutdown};

const PID: i64 = 42;

fn open(dir: &Path, config: LogConfig) -> Log {
    Log::open(dir, LogOptions::with_config(config), Shutdown::Clean)
        .unwrap()
        .0
}

fn batch(pid: i64, epoch: i16, seq: i32, records: usize, value_len: usize) -> bytes::Bytes {
    let mut b = BatchBuilder::new();
    if pid >= 0 {
        b = b.producer(pid, epoch, seq);
    }
    let value = vec![b'v'; value_len];
    for i in 0..records {
        b.append(1_000 + i as i64, None, Some(&value), &[]);
    }
    b.build()
}

/// The leader path: check, append, update. Returns where the batch is (new or original).
fn produce(
    log: &mut Log,
    state: &mut ProducerStateManager,
    pid: i64,
    epoch: i16,
    seq: i32,
    records: usize,
) -> Result<(Verdict, BatchMetadata), ProducerStateError> {
    let last_seq = if pid >= 0 {
        seq + records as i32 - 1
    } else {
        -1
    };
    let verdict = state.check(pid, epoch, seq, last_seq)?;
    match verdict {
        Verdict::Duplicate(m) => Ok((verdict, m)),
        Verdict::Append => {
            let info = log.append(&batch(pid, epoch, seq, records, 16), 0).unwrap();
            let m = BatchMetadata {
                first_seq: seq,
                last_seq,
                first_offset: info.base_offset,
                last_offset: info.last_offset,
                timestamp: info.max_timestamp,
            };
            state.update(pid, epoch, m);
            Ok((verdict, m))
        }
    }
}

fn entries(s: &ProducerStateManager) -> Vec<(i64, i16, Vec<BatchMetadata>)> {
    s.entries()
        .map(|e| (e.producer_id, e.epoch, e.batches.iter().copied().collect()))
        .collect()
}

#[test]
fn restart_with_snapshot_and_replay_restores_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut log = open(d, LogConfig::default());
    let mut live = ProducerStateManager::new();
    let mut sent = Vec::new();
    // b0..b2, then a snapshot, then b3..b9 interleaved with other traffic.
    for i in 0..3 {
        sent.push(produce(&mut log, &mut live, PID, 0, 3 * i, 3).unwrap().1);
    }
    live.set_map_end_offset(log.log_end_offset());
    let snap = live.write_snapshot(d).unwrap();
    assert_eq!(
        snap.file_name().and_then(|n| n.to_str()),
        Some("00000000000000000009.snapshot")
    );
    for i in 3..10 {
        sent.push(produce(&mut log, &mut live, PID, 0, 3 * i, 3).unwrap().1);
        produce(&mut log, &mut live, -1, -1, -1, 2).unwrap();
        produce(&mut log, &mut live, 7, 0, i, 1).unwrap();
    }
    let leo = log.log_end_offset();
    log.close().unwrap();

    let log = open(d, LogConfig::default());
    let rebuilt = ProducerStateManager::rebuild(d, &log).unwrap();
    assert_eq!(rebuilt.map_end_offset(), leo);
    // Identical to the state the leader built as it went.
    assert_eq!(entries(&rebuilt), entries(&live));
    // The last 5 batches are all deduplicated with their original offsets …
    for m in &sent[sent.len() - NUM_BATCHES_TO_RETAIN..] {
        assert_eq!(
            rebuilt.check(PID, 0, m.first_seq, m.last_seq),
            Ok(Verdict::Duplicate(*m))
        );
    }
    // … and the one before is out of order, never appended again.
    let old = sent[sent.len() - NUM_BATCHES_TO_RETAIN - 1];
    assert_eq!(
        rebuilt
            .check(PID, 0, old.first_seq, old.last_seq)
            .map_err(|e| e.kafka_name()),
        Err("OUT_OF_ORDER_SEQUENCE_NUMBER")
    );
    assert_eq!(rebuilt.check(PID, 0, 30, 32), Ok(Verdict::Append));
}

#[test]
fn t14_restart_after_snapshot_at_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut log = open(d, LogConfig::default());
    let mut live = ProducerStateManager::new();
    let b: Vec<BatchMetadata> = (0..5)
        .map(|i| produce(&mut log, &mut live, PID, 0, 10 * i, 10).unwrap().1)
        .collect();
    // Clean shutdown: snapshot at the log end.
    live.write_snapshot(d).unwrap();
    log.close().unwrap();

    let mut log = open(d, LogConfig::default());
    let mut state = ProducerStateManager::rebuild(d, &log).unwrap();
    let leo = log.log_end_offset();
    // b5 (the last): deduplicated with its original offsets, nothing appended.
    let (v, m) = produce(&mut log, &mut state, PID, 0, 40, 10).unwrap();
    assert_eq!((v, m), (Verdict::Duplicate(b[4]), b[4]));
    assert_eq!(log.log_end_offset(), leo);
    // b4 too: the snapshot keeps the whole 5-batch window (Kafka's keeps only the last batch and
    // would answer OUT_OF_ORDER here).
    let (v, m) = produce(&mut log, &mut state, PID, 0, 30, 10).unwrap();
    assert_eq!((v, m), (Verdict::Duplicate(b[3]), b[3]));
    assert_eq!(log.log_end_offset(), leo);
}

#[test]
fn rebuild_without_snapshot_replays_the_whole_log_across_many_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = LogConfig {
        segment_bytes: 256 << 10,
        ..LogConfig::default()
    };
    let mut log = open(d, config.clone());
    let mut live = ProducerStateManager::new();
    // ~2.5 MiB over several segments, so rebuild needs several 1 MiB reads.
    let mut seqs = [0i32; 3];
    for i in 0..2_500 {
        let p = i % 3;
        let pid = 100 + p as i64;
        let bytes = batch(pid, 0, seqs[p], 1, 1_000);
        let info = log.append(&bytes, 0).unwrap();
        live.update(
            pid,
            0,
            BatchMetadata {
                first_seq: seqs[p],
                last_seq: seqs[p],
                first_offset: info.base_offset,
                last_offset: info.last_offset,
                timestamp: info.max_timestamp,
            },
        );
        seqs[p] += 1;
    }
    assert!(log.segments().len() > 3);
    let rebuilt = ProducerStateManager::rebuild(d, &log).unwrap();
    assert_eq!(entries(&rebuilt), entries(&live));
    assert_eq!(rebuilt.map_end_offset(), log.log_end_offset());
}

#[test]
fn corrupt_snapshot_is_deleted_and_an_older_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut log = open(d, LogConfig::default());
    let mut live = ProducerStateManager::new();
    for i in 0..4 {
        produce(&mut log, &mut live, PID, 0, i, 1).unwrap();
    }
    let older = live.write_snapshot(d).unwrap();
    for i in 4..12 {
        produce(&mut log, &mut live, PID, 0, i, 1).unwrap();
    }
    let newer = live.write_snapshot(d).unwrap();
    // Damage the newest snapshot (a torn write of the body).
    let bytes = std::fs::read(&newer).unwrap();
    std::fs::write(&newer, &bytes[..bytes.len() - 3]).unwrap();

    let rebuilt = ProducerStateManager::rebuild(d, &log).unwrap();
    assert!(!newer.exists(), "corrupt snapshot deleted");
    assert!(older.exists());
    assert_eq!(entries(&rebuilt), entries(&live));

    // Garbage in every snapshot: rebuilt from the log alone.
    std::fs::write(&older, b"not a snapshot").unwrap();
    let rebuilt = ProducerStateManager::rebuild(d, &log).unwrap();
    assert!(!older.exists());
    assert_eq!(entries(&rebuilt), entries(&live));
}

#[test]
fn truncation_then_rebuild_forgets_the_truncated_history() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut log = open(d, LogConfig::default());
    let mut live = ProducerStateManager::new();
    for i in 0..4 {
        produce(&mut log, &mut live, PID, 0, 10 * i, 10).unwrap();
    }
    let at_40 = live.write_snapshot(d).unwrap();
    for i in 4..8 {
        produce(&mut log, &mut live, PID, 0, 10 * i, 10).unwrap();
    }
    let at_80 = live.write_snapshot(d).unwrap();

    // A follower truncates to 55 (inside the batch 50..=59, which goes whole).
    let leo = log.truncate_to(55).unwrap();
    assert_eq!(leo, 50);
    live.truncate_to(leo);
    let rebuilt = ProducerStateManager::rebuild(d, &log).unwrap();
    assert!(!at_80.exists(), "snapshot of truncated history deleted");
    assert!(at_40.exists());
    assert_eq!(rebuilt.map_end_offset(), 50);
    let e = rebuilt.entry(PID).unwrap();
    assert_eq!(e.next_expected_seq(), 50);
    // The rebuilt window (snapshot at 40 holding its 4 batches + the replayed 40..=49) ends with
    // exactly what the live state kept after truncating; it may remember older batches too.
    let rebuilt_batches = &rebuilt.entry(PID).unwrap().batches;
    let live_batches = &live.entry(PID).unwrap().batches;
    assert!(rebuilt_batches.len() <= 5);
    assert!(
        rebuilt_batches
            .iter()
            .rev()
            .zip(live_batches.iter().rev())
            .all(|(a, b)| a == b)
    );
    assert_eq!(rebuilt_batches.back(), live_batches.back());
    // The truncated batch 50..=59 is new again, not a duplicate.
    assert_eq!(rebuilt.check(PID, 0, 50, 59), Ok(Verdict::Append));
    assert_eq!(
        rebuilt
            .check(PID, 0, 40, 49)
            .map(|v| matches!(v, Verdict::Duplicate(_))),
        Ok(true)
    );

    // The new leader's history diverges (a new epoch) and is replicated; after a restart the
    // rebuilt state follows it.
    let mut log = log;
    let mut state = rebuilt;
    produce(&mut log, &mut state, PID, 1, 0, 5).unwrap();
    log.close().unwrap();
    let log = open(d, LogConfig::default());
    let rebuilt = ProducerStateManager::rebuild(d, &log).unwrap();
    assert_eq!(entries(&rebuilt), entries(&state));
    assert_eq!(rebuilt.entry(PID).map(|e| e.epoch), Some(1));

    // Truncating everything: empty state.
    let mut log = log;
    log.truncate_to(0).unwrap();
    let rebuilt = ProducerStateManager::rebuild(d, &log).unwrap();
    assert!(rebuilt.is_empty());
    assert!(!at_40.exists());
}

#[test]
fn rebuild_starts_at_the_log_start_when_retention_passed_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = LogConfig {
        segment_bytes: 4 << 10,
        retention_bytes: Some(8 << 10),
        retention_ms: None,
        ..LogConfig::default()
    };
    let mut log = open(d, config);
    let mut live = ProducerStateManager::new();
    produce(&mut log, &mut live, 1, 0, 0, 1).unwrap();
    live.write_snapshot(d).unwrap(); // at offset 1: producer 1 known only from the snapshot
    for i in 0..60 {
        let bytes = batch(2, 0, i, 1, 500);
        let info = log.append(&bytes, 0).unwrap();
        live.update(
            2,
            0,
            BatchMetadata {
                first_seq: i,
                last_seq: i,
                first_offset: info.base_offset,
                last_offset: info.last_offset,
                timestamp: info.max_timestamp,
            },
        );
    }
    assert!(log.delete_old_segments(log.log_end_offset()).unwrap() > 0);
    assert!(log.log_start_offset() > 1);
    let rebuilt = ProducerStateManager::rebuild(d, &log).unwrap();
    // Producer 1 survives from the snapshot (Kafka keeps state beyond retention); producer 2's
    // window comes from what is left of the log, and matches the live state.
    assert_eq!(entries(&rebuilt), entries(&live));
    assert_eq!(rebuilt.map_end_offset(), log.log_end_offset());
}
