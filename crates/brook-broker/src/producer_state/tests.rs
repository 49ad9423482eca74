//! Unit tests of the producer-state machine and its snapshots.

use super::*;
use proptest::prelude::*;

const PID: i64 = 1000;

fn meta(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchMetadata {
    let records = i64::from(last_seq.wrapping_sub(first_seq)) + 1;
    BatchMetadata {
        first_seq,
        last_seq,
        first_offset,
        last_offset: first_offset + records - 1,
        timestamp: 1_000 + first_offset,
    }
}

/// Leader path: check, and on Append record it at `offset`. Returns the verdict.
fn produce(
    s: &mut ProducerStateManager,
    pid: i64,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
    offset: i64,
) -> Result<Verdict, ProducerStateError> {
    let v = s.check(pid, epoch, first_seq, last_seq)?;
    if v == Verdict::Append {
        s.update(pid, epoch, meta(first_seq, last_seq, offset));
    }
    Ok(v)
}

fn ooo(expected: i32, got: i32) -> ProducerStateError {
    ProducerStateError::OutOfOrderSequence {
        producer_id: PID,
        expected,
        got,
    }
}

#[test]
fn t12_retry_returns_original_offsets() {
    let mut s = ProducerStateManager::new();
    s.set_map_end_offset(100);
    // seq 0-9 appended at 100-109; the response is lost and the client resends.
    assert_eq!(produce(&mut s, PID, 0, 0, 9, 100), Ok(Verdict::Append));
    assert_eq!(s.map_end_offset(), 110);
    let v = s.check(PID, 0, 0, 9).unwrap();
    assert_eq!(v, Verdict::Duplicate(meta(0, 9, 100)));
    let Verdict::Duplicate(d) = v else {
        unreachable!()
    };
    assert_eq!((d.first_offset, d.last_offset), (100, 109));

    // 5 consecutive in-flight batches, all acks dropped: every retry is deduplicated,
    // in any order, and the state is unchanged by the checks.
    for i in 1..=5 {
        let off = 100 + 10 * i64::from(i);
        assert_eq!(
            produce(&mut s, PID, 0, 10 * i, 10 * i + 9, off),
            Ok(Verdict::Append)
        );
    }
    let before = s.entry(PID).cloned();
    for i in [3, 1, 5, 2, 4] {
        let off = 100 + 10 * i64::from(i);
        assert_eq!(
            s.check(PID, 0, 10 * i, 10 * i + 9),
            Ok(Verdict::Duplicate(meta(10 * i, 10 * i + 9, off)))
        );
    }
    assert_eq!(s.entry(PID).cloned(), before);
    assert_eq!(s.entry(PID).map(|e| e.batches.len()), Some(5));
    // The next new batch is still in sequence.
    assert_eq!(s.check(PID, 0, 60, 69), Ok(Verdict::Append));
}

#[test]
fn t13_sequence_and_epoch_errors() {
    let mut s = ProducerStateManager::new();
    for i in 0..2 {
        produce(&mut s, PID, 0, 10 * i, 10 * i + 9, 10 * i64::from(i)).unwrap();
    }
    // Gap.
    assert_eq!(s.check(PID, 0, 30, 39), Err(ooo(20, 30)));
    assert_eq!(
        s.check(PID, 0, 30, 39).unwrap_err().kafka_name(),
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    // Behind but not an exact cached range (overlapping retry) is out of order too.
    assert_eq!(s.check(PID, 0, 5, 14), Err(ooo(20, 5)));
    // Epoch bump must start at 0.
    assert_eq!(s.check(PID, 1, 5, 9), Err(ooo(0, 5)));
    assert_eq!(produce(&mut s, PID, 1, 0, 4, 20), Ok(Verdict::Append));
    let e = s.entry(PID).unwrap();
    assert_eq!(
        (e.epoch, e.batches.len()),
        (1, 1),
        "a new epoch clears the window"
    );
    // The old epoch is fenced, even for what used to be the next sequence or a duplicate.
    let fenced = ProducerStateError::InvalidProducerEpoch {
        producer_id: PID,
        current: 1,
        got: 0,
    };
    assert_eq!(s.check(PID, 0, 20, 29), Err(fenced.clone()));
    assert_eq!(s.check(PID, 0, 10, 19), Err(fenced.clone()));
    assert_eq!(fenced.kafka_name(), "INVALID_PRODUCER_EPOCH");
    // Epoch 1 continues at 5.
    assert_eq!(s.check(PID, 1, 5, 9), Ok(Verdict::Append));

    // A duplicate 6 batches back is outside the window.
    let mut s = ProducerStateManager::new();
    for i in 0..6 {
        produce(&mut s, PID, 0, i, i, i64::from(i)).unwrap();
    }
    assert_eq!(s.check(PID, 0, 0, 0), Err(ooo(6, 0)));
    assert_eq!(s.check(PID, 0, 1, 1), Ok(Verdict::Duplicate(meta(1, 1, 1))));

    // No state for this producer: any sequence, any epoch.
    assert_eq!(s.check(PID + 1, 0, 37, 40), Ok(Verdict::Append));
    assert_eq!(s.check(PID + 1, 7, 37, 40), Ok(Verdict::Append));
    // Non-idempotent batches are never checked.
    assert_eq!(s.check(-1, -1, -1, -1), Ok(Verdict::Append));
    // A negative sequence from an idempotent producer never fits.
    assert_eq!(s.check(PID, 0, -1, -1), Err(ooo(6, -1)));
    assert!(s.check(PID + 1, 0, -1, -1).is_err());
}

#[test]
fn duplicate_check_comes_before_fencing_and_sequence() {
    let mut s = ProducerStateManager::new();
    produce(&mut s, PID, 3, 0, 0, 0).unwrap();
    produce(&mut s, PID, 3, 1, 1, 1).unwrap();
    // Same epoch, exact range: duplicate although the sequence is behind.
    assert_eq!(s.check(PID, 3, 0, 0), Ok(Verdict::Duplicate(meta(0, 0, 0))));
    // Same first sequence, different last: not a duplicate.
    assert_eq!(s.check(PID, 3, 0, 1), Err(ooo(2, 0)));
    // A newer epoch with a cached range is a new batch, not a duplicate.
    assert_eq!(s.check(PID, 4, 0, 0), Ok(Verdict::Append));
}

#[test]
fn window_keeps_the_last_five_batches() {
    let mut s = ProducerStateManager::new();
    for i in 0..8 {
        s.update(PID, 0, meta(i, i, i64::from(i)));
    }
    let e = s.entry(PID).unwrap();
    assert_eq!(e.batches.len(), NUM_BATCHES_TO_RETAIN);
    let seqs: Vec<i32> = e.batches.iter().map(|b| b.first_seq).collect();
    assert_eq!(seqs, vec![3, 4, 5, 6, 7]);
    assert_eq!(e.next_expected_seq(), 8);
    assert_eq!(s.map_end_offset(), 8);
    assert_eq!(s.len(), 1);
    assert!(!s.is_empty());
}

#[test]
fn replication_updates_are_lenient() {
    let mut s = ProducerStateManager::new();
    // Gaps and odd epochs are recorded as the log has them.
    s.update(PID, 2, meta(0, 0, 0));
    s.update(PID, 2, meta(50, 50, 1));
    assert_eq!(s.entry(PID).map(|e| e.batches.len()), Some(2));
    s.update(PID, 1, meta(7, 7, 2));
    let e = s.entry(PID).unwrap();
    assert_eq!((e.epoch, e.batches.len()), (1, 1));
    // Non-idempotent batches record no producer but advance the map end.
    s.update(-1, -1, meta(-1, -1, 3));
    assert_eq!(s.len(), 1);
    assert_eq!(s.map_end_offset(), 4);
}

#[test]
fn sequences_wrap_at_i32_max() {
    let mut s = ProducerStateManager::new();
    let max = i32::MAX;
    s.update(PID, 0, meta(max - 9, max, 0));
    assert_eq!(next_seq(max), 0);
    assert_eq!(s.entry(PID).unwrap().next_expected_seq(), 0);
    assert_eq!(s.check(PID, 0, 0, 4), Ok(Verdict::Append));
    assert_eq!(
        s.check(PID, 0, i32::MIN, i32::MIN + 4),
        Err(ooo(0, i32::MIN))
    );
    // A batch that itself wraps (max-1, max, 0, 1, 2).
    let mut s = ProducerStateManager::new();
    s.update(PID, 0, meta(max - 11, max - 2, 0));
    let wrapping = BatchMetadata {
        first_seq: max - 1,
        last_seq: 2,
        first_offset: 10,
        last_offset: 14,
        timestamp: 0,
    };
    assert_eq!(s.check(PID, 0, max - 1, 2), Ok(Verdict::Append));
    s.update(PID, 0, wrapping);
    assert_eq!(
        s.check(PID, 0, max - 1, 2),
        Ok(Verdict::Duplicate(wrapping))
    );
    assert_eq!(s.check(PID, 0, 3, 3), Ok(Verdict::Append));
}

#[test]
fn expire_drops_idle_producers() {
    let mut s = ProducerStateManager::new();
    let mut m = meta(0, 0, 0);
    m.timestamp = 1_000;
    s.update(1, 0, m);
    m.timestamp = 5_000;
    m.first_offset = 1;
    m.last_offset = 1;
    s.update(2, 0, m);
    s.expire(5_999, 5_000);
    assert_eq!(s.len(), 2);
    s.expire(6_000, 5_000); // idle exactly 5000 ms: expired, as Kafka
    assert!(s.entry(1).is_none());
    assert!(s.entry(2).is_some());
    // The expired producer is accepted at any sequence afterwards.
    assert_eq!(s.check(1, 0, 37, 37), Ok(Verdict::Append));
    // A clock going backwards keeps the newest timestamp.
    m.timestamp = 10;
    m.first_offset = 2;
    m.last_offset = 2;
    s.update(2, 0, m);
    assert_eq!(s.entry(2).map(|e| e.last_timestamp), Some(5_000));
    // Absurd timestamps do not overflow.
    s.expire(i64::MIN, i64::MAX);
    s.expire(i64::MAX, 1);
    assert!(s.is_empty());
}

#[test]
fn truncate_to_forgets_batches_at_and_above() {
    let mut s = ProducerStateManager::new();
    for i in 0..4 {
        s.update(1, 0, meta(10 * i, 10 * i + 9, 10 * i64::from(i)));
    }
    s.update(2, 0, meta(0, 9, 40));
    s.truncate_to(25); // cuts into the batch 20..=29: it goes whole
    let e = s.entry(1).unwrap();
    assert_eq!(e.batches.len(), 2);
    assert_eq!(e.next_expected_seq(), 20);
    assert!(s.entry(2).is_none());
    assert_eq!(s.map_end_offset(), 25);
    s.truncate_to(100);
    assert_eq!(s.map_end_offset(), 25);
    s.truncate_to(0);
    assert!(s.is_empty());
    assert_eq!(s.map_end_offset(), 0);
}

#[test]
fn error_names_and_messages() {
    let e = ProducerStateError::Snapshot("disk".into());
    assert_eq!(e.kafka_name(), "KAFKA_STORAGE_ERROR");
    assert!(e.to_string().starts_with("KAFKA_STORAGE_ERROR"));
    assert!(
        ooo(1, 2)
            .to_string()
            .starts_with("OUT_OF_ORDER_SEQUENCE_NUMBER")
    );
    let f = ProducerStateError::InvalidProducerEpoch {
        producer_id: 1,
        current: 2,
        got: 1,
    };
    assert!(f.to_string().starts_with("INVALID_PRODUCER_EPOCH"));
}

fn sample_state() -> ProducerStateManager {
    let mut s = ProducerStateManager::new();
    for i in 0..5 {
        s.update(PID, 2, meta(10 * i, 10 * i + 9, 10 * i64::from(i)));
    }
    s.update(7, 0, meta(0, 0, 50));
    s.update(-1, -1, meta(-1, -1, 51));
    s
}

#[test]
fn snapshot_round_trip_keeps_every_retained_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = sample_state();
    let path = s.write_snapshot(dir.path()).unwrap();
    assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some("00000000000000000052.snapshot")
    );
    assert!(!path.with_extension("snapshot.tmp").exists());
    let (loaded, offset) = ProducerStateManager::load_latest_snapshot(dir.path(), 52).unwrap();
    assert_eq!(offset, 52);
    assert_eq!(loaded.map_end_offset(), 52);
    assert_eq!(loaded.len(), 2);
    let e = loaded.entry(PID).unwrap();
    assert_eq!(e.epoch, 2);
    assert_eq!(
        e.batches,
        s.entry(PID).unwrap().batches,
        "all 5 batches, oldest first"
    );
    assert_eq!(e.batches.len(), 5);
    assert_eq!(e.last_timestamp, s.entry(PID).unwrap().last_timestamp);
    assert_eq!(loaded.entry(7), s.entry(7));
}

#[test]
fn t14_restart_keeps_the_whole_dedupe_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = ProducerStateManager::new();
    // b0..b5: six batches, so b0 has already left the 5-batch window.
    for i in 0..6 {
        produce(&mut s, PID, 0, 10 * i, 10 * i + 9, 10 * i64::from(i)).unwrap();
    }
    s.write_snapshot(dir.path()).unwrap();
    let (s, _) = ProducerStateManager::load_latest_snapshot(dir.path(), 60).unwrap();
    // Every batch a client can still have in flight (the last 5) is deduplicated with its
    // original offsets after the restart — b4 included, which Kafka's last-batch-only snapshots
    // would answer OUT_OF_ORDER (and a client bumping its epoch would then write twice).
    for i in 1..6 {
        assert_eq!(
            s.check(PID, 0, 10 * i, 10 * i + 9),
            Ok(Verdict::Duplicate(meta(
                10 * i,
                10 * i + 9,
                10 * i64::from(i)
            )))
        );
    }
    // Older than the window: refused, never silently appended.
    assert_eq!(s.check(PID, 0, 0, 9), Err(ooo(60, 0)));
    // The next batch continues normally; the old epoch stays fenced.
    assert_eq!(s.check(PID, 0, 60, 69), Ok(Verdict::Append));
    assert!(matches!(
        s.check(PID, -1, 60, 69),
        Err(ProducerStateError::InvalidProducerEpoch { .. })
    ));
}

#[test]
fn load_prefers_newest_valid_and_deletes_corrupt_and_future() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = ProducerStateManager::new();
    s.update(1, 0, meta(0, 0, 0));
    s.write_snapshot(d).unwrap(); // 1
    s.update(1, 0, meta(1, 1, 1));
    let p2 = s.write_snapshot(d).unwrap(); // 2
    s.update(1, 0, meta(2, 2, 2));
    let p3 = s.write_snapshot(d).unwrap(); // 3
    s.update(1, 0, meta(3, 3, 3));
    let p4 = s.write_snapshot(d).unwrap(); // 4
    std::fs::write(d.join("junk.snapshot"), b"x").unwrap();
    std::fs::write(d.join("00000000000000000009.snapshot.tmp"), b"x").unwrap();

    // Flip a byte in 3.
    let mut bytes = std::fs::read(&p3).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&p3, bytes).unwrap();

    // Max offset 3: 4 is beyond it and deleted, 3 is corrupt and deleted, 2 loads.
    let (loaded, offset) = ProducerStateManager::load_latest_snapshot(d, 3).unwrap();
    assert_eq!(offset, 2);
    assert_eq!(
        loaded.entry(1).and_then(|e| e.last_batch().copied()),
        Some(meta(1, 1, 1))
    );
    assert!(!p3.exists() && !p4.exists() && p2.exists());
    assert!(d.join("junk.snapshot").exists(), "not ours: left alone");

    // Nothing at all: empty state at 0.
    let (empty, offset) = ProducerStateManager::load_latest_snapshot(d, 0).unwrap();
    assert!(empty.is_empty());
    assert_eq!((offset, empty.map_end_offset()), (0, 0));
    let (_, offset) = ProducerStateManager::load_latest_snapshot(&d.join("missing"), 100).unwrap();
    assert_eq!(offset, 0);
}

#[test]
fn clean_snapshots_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut s = ProducerStateManager::new();
    let mut paths = Vec::new();
    for i in 0..4 {
        s.update(1, 0, meta(i, i, i64::from(i)));
        paths.push(s.write_snapshot(d).unwrap());
    }
    ProducerStateManager::clean_snapshots(d, 2).unwrap();
    let exists: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
    assert_eq!(exists, vec![false, false, true, true]);
    ProducerStateManager::clean_snapshots(d, 0).unwrap();
    assert!(paths.iter().all(|p| !p.exists()));
    ProducerStateManager::clean_snapshots(&d.join("missing"), 1).unwrap();
}

#[test]
fn write_snapshot_refuses_inconsistent_state_and_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sample_state();
    s.set_map_end_offset(10); // below the batches it holds
    let err = s.write_snapshot(dir.path()).unwrap_err();
    assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
    s.set_map_end_offset(-1);
    assert!(s.write_snapshot(dir.path()).is_err());

    let s = sample_state();
    let fs = brook_log::io::FaultyFileSystem::new();
    fs.faults()
        .fail_sync
        .store(true, std::sync::atomic::Ordering::Release);
    let err = s.write_snapshot_with(&fs, dir.path()).unwrap_err();
    assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no file left behind"
    );
    assert!(s.write_snapshot(&dir.path().join("missing")).is_err());
}

#[test]
fn decode_rejects_every_kind_of_damage() {
    let s = sample_state();
    let good = s.encode_snapshot().unwrap();
    assert!(ProducerStateManager::decode_snapshot(&good, 52).is_ok());
    // Wrong name.
    assert!(ProducerStateManager::decode_snapshot(&good, 53).is_err());
    // Every truncation.
    for len in 0..good.len() {
        assert!(ProducerStateManager::decode_snapshot(&good[..len], 52).is_err());
    }
    // Every single-bit flip.
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            assert!(
                ProducerStateManager::decode_snapshot(&b, 52).is_err(),
                "flip of bit {bit} at {i} went unnoticed"
            );
        }
    }
    // Valid crc over invalid content: a batch at the snapshot offset, a duplicate producer,
    // a huge count.
    let reseal = |mut b: Vec<u8>| {
        let crc = crc32fast::hash(&b[SNAPSHOT_PREFIX_LEN..]);
        b[2..6].copy_from_slice(&crc.to_be_bytes());
        b
    };
    let mut b = good.clone();
    // Producer 7 has a batch at offset 50: not below a snapshot at 50.
    b[6..14].copy_from_slice(&50i64.to_be_bytes());
    assert!(ProducerStateManager::decode_snapshot(&reseal(b), 50).is_err());
    let mut b = good.clone();
    let second = SNAPSHOT_PREFIX_LEN + SNAPSHOT_BODY_HEADER_LEN + SNAPSHOT_ENTRY_LEN;
    b[second..second + 8].copy_from_slice(&7i64.to_be_bytes());
    b.truncate(second + SNAPSHOT_ENTRY_LEN);
    let first = SNAPSHOT_PREFIX_LEN + SNAPSHOT_BODY_HEADER_LEN;
    b[first..first + 8].copy_from_slice(&7i64.to_be_bytes());
    assert!(ProducerStateManager::decode_snapshot(&reseal(b), 52).is_err());
    let mut b = good.clone();
    b[14..18].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(ProducerStateManager::decode_snapshot(&reseal(b), 52).is_err());
    let mut b = good;
    b[14..18].copy_from_slice(&(-1i32).to_be_bytes());
    assert!(ProducerStateManager::decode_snapshot(&reseal(b), 52).is_err());
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), offset in any::<i64>()) {
        let _ = ProducerStateManager::decode_snapshot(&bytes, offset);
    }

    /// A well-behaved producer's batches are always appended in order, and each retry of any
    /// of its last 5 batches is recognised as a duplicate with the original offsets.
    #[test]
    fn in_order_batches_append_and_retries_dedupe(
        start in any::<i32>().prop_map(|s| s & i32::MAX),
        sizes in proptest::collection::vec(1i32..50, 1..20),
    ) {
        let mut s = ProducerStateManager::new();
        let mut seq = start;
        let mut offset = 0i64;
        let mut sent = Vec::new();
        for n in sizes {
            let mut last = seq;
            for _ in 1..n {
                last = next_seq(last);
            }
            prop_assert_eq!(s.check(PID, 0, seq, last), Ok(Verdict::Append));
            let m = BatchMetadata {
                first_seq: seq,
                last_seq: last,
                first_offset: offset,
                last_offset: offset + i64::from(n) - 1,
                timestamp: 0,
            };
            s.update(PID, 0, m);
            sent.push(m);
            offset += i64::from(n);
            seq = next_seq(last);
            for (back, old) in sent.iter().rev().enumerate() {
                let v = s.check(PID, 0, old.first_seq, old.last_seq);
                if back < NUM_BATCHES_TO_RETAIN {
                    prop_assert_eq!(v, Ok(Verdict::Duplicate(*old)));
                } else {
                    prop_assert!(v.is_err());
                }
            }
        }
    }
}

/// A client batch header for `verdict`: `records` records from `first_seq` in `epoch`.
fn header(pid: i64, epoch: i16, first_seq: i32, records: i32) -> BatchHeader {
    BatchHeader {
        base_offset: 0,
        batch_length: 0,
        partition_leader_epoch: 0,
        magic: 2,
        crc: 0,
        attributes: 0,
        last_offset_delta: records - 1,
        base_timestamp: 0,
        max_timestamp: 0,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: first_seq,
        record_count: records,
    }
}

/// The produce path's verdict: a batch ahead of the next sequence (or a first batch above 0)
/// is SequenceAhead only while the caller may wait; on the last attempt it gets I3's verdict.
/// Duplicates, fencing and in-order batches are never "ahead".
#[test]
fn verdict_says_ahead_only_while_the_caller_may_wait() {
    let mut s = ProducerStateManager::new();
    let ahead = |got| ProducerStateError::SequenceAhead {
        producer_id: PID,
        got,
    };
    // A first batch at sequence 5: ahead while waiting, accepted (KIP-360) at the end.
    assert_eq!(s.verdict(&header(PID, 0, 5, 1), true), Err(ahead(5)));
    assert_eq!(s.verdict(&header(PID, 0, 5, 1), false), Ok(Verdict::Append));
    assert_eq!(s.verdict(&header(PID, 0, 0, 5), true), Ok(Verdict::Append));
    produce(&mut s, PID, 0, 0, 4, 0).unwrap();
    // In order, a duplicate, and a gap.
    assert_eq!(s.verdict(&header(PID, 0, 5, 5), true), Ok(Verdict::Append));
    assert!(matches!(
        s.verdict(&header(PID, 0, 0, 5), true),
        Ok(Verdict::Duplicate(_))
    ));
    assert_eq!(s.verdict(&header(PID, 0, 10, 1), true), Err(ahead(10)));
    assert_eq!(s.verdict(&header(PID, 0, 10, 1), false), Err(ooo(5, 10)));
    // A newer epoch is not "ahead" (its sequence must restart at 0); an older one is fenced.
    assert_eq!(s.verdict(&header(PID, 1, 3, 1), true), Err(ooo(0, 3)));
    assert!(matches!(
        s.verdict(&header(PID, -1, 5, 1), true),
        Err(ProducerStateError::InvalidProducerEpoch { .. })
    ));
    // Non-idempotent batches are always appended.
    assert_eq!(s.verdict(&header(-1, -1, -1, 3), true), Ok(Verdict::Append));
}

/// Every producer-state error reaches the wire as its Kafka code.
#[test]
fn producer_state_errors_convert_to_their_kafka_codes() {
    use crate::error::BrokerError;
    use brook_proto::ErrorCode;
    let cases = [
        (ooo(1, 3), ErrorCode::OutOfOrderSequenceNumber),
        (
            ProducerStateError::InvalidProducerEpoch {
                producer_id: PID,
                current: 2,
                got: 1,
            },
            ErrorCode::InvalidProducerEpoch,
        ),
        (
            ProducerStateError::Snapshot("disk".into()),
            ErrorCode::KafkaStorageError,
        ),
        (
            ProducerStateError::SequenceAhead {
                producer_id: PID,
                got: 9,
            },
            ErrorCode::OutOfOrderSequenceNumber,
        ),
    ];
    for (e, code) in cases {
        let b = BrokerError::from(e.clone());
        assert_eq!(b.code(), code, "{e}");
        assert_eq!(
            matches!(b, BrokerError::SequenceAhead(_)),
            matches!(e, ProducerStateError::SequenceAhead { .. })
        );
    }
}
