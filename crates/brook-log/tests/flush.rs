//! Flush policy (rule S5, SPEC §3.3): flush.messages on the append path, flush.ms in the
//! background, group commit for concurrent appenders, and injected disk faults.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use brook_log::{LogDir, Shutdown, lock};
use common::*;

#[test]
fn default_policy_never_flushes_on_append() {
    let t = TestLog::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    for i in 0..100 {
        let info = log.append(&batch(i, 1, 10, 0), 0).unwrap();
        assert!(!info.flush_required);
    }
    assert_eq!(log.flushed_offset(), 0);
    assert_eq!(log.durability().sync_count(), 0);
}

#[test]
fn flush_messages_requires_a_flush_every_n_records() {
    let t = TestLog::new(&[("flush.messages", "3")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    let mut required = Vec::new();
    for i in 0..7 {
        let info = log.append(&batch(i, 1, 10, 0), 0).unwrap();
        required.push(info.flush_required);
        if info.flush_required {
            log.flush().unwrap();
            assert_eq!(
                log.flushed_offset(),
                info.last_offset + 1,
                "on disk before ack"
            );
        }
    }
    assert_eq!(required, [false, false, true, false, false, true, false]);
    assert_eq!(log.durability().sync_count(), 2);
}

#[test]
fn flush_messages_one_with_a_power_loss_loses_nothing_acknowledged() {
    let t = TestLog::new(&[("flush.messages", "1"), ("segment.bytes", "8192")]);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = t.open(dir.path(), Shutdown::Clean);
        for i in 0..30 {
            let info = log.append(&batch(i, 1, 500, 0), 0).unwrap();
            assert!(info.flush_required);
            log.flush().unwrap();
        }
        assert!(log.segments().len() > 2, "rolls happened");
    }
    t.fs.drop_unsynced().unwrap();
    let (log, report) = brook_log::Log::open(
        dir.path(),
        t.options(),
        Shutdown::Unclean { recovery_point: 30 },
    )
    .unwrap();
    assert_eq!(report.corruption, None);
    assert_eq!(read_all(&log).len(), 30);
}

#[test]
fn group_commit_shares_fsyncs_between_concurrent_appenders() {
    let t = TestLog::new(&[("flush.messages", "1")]);
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(t.open(dir.path(), Shutdown::Clean)));
    let durability = lock(&log).durability();
    // A slow disk makes the sharing deterministic: while one fsync runs, the others queue up.
    t.fs.faults().sync_delay_ms.store(20, Ordering::Release);
    let threads = 16;
    let per_thread = 5;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|n| {
            let (log, durability, barrier) = (log.clone(), durability.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..per_thread {
                    let b = batch((n * 100 + i) as u64, 1, 50, 0);
                    let info = lock(&log).append(&b, 0).unwrap();
                    assert!(info.flush_required);
                    durability
                        .wait_flushed(info.last_offset + 1, || Ok(lock(&log).sync_job()))
                        .unwrap();
                    assert!(durability.flushed_offset() > info.last_offset);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let appends = (threads * per_thread) as u64;
    let syncs = durability.sync_count();
    assert_eq!(lock(&log).flushed_offset(), appends as i64);
    // Without grouping there would be one fsync per append; with it, about one per round of
    // waiters. Allow generous slack; the point is "far fewer", not an exact figure.
    assert!(syncs <= appends / 3, "{syncs} fsyncs for {appends} appends");
}

#[test]
fn flush_ms_background_flusher_flushes_old_data() {
    let t = TestLog::new(&[("flush.ms", "50")]);
    let root = tempfile::tempdir().unwrap();
    let mut dir = LogDir::open(root.path(), t.options()).unwrap();
    let log = dir.create_log("t-0", t.config.clone()).unwrap();
    dir.start_flusher(Duration::from_millis(5));
    lock(&log).append(&batch(0, 5, 10, 0), 0).unwrap();
    // Not yet old enough (the manual clock has not moved): stays unflushed.
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(lock(&log).flushed_offset(), 0);
    t.clock.advance(50);
    let deadline = Instant::now() + Duration::from_secs(5);
    while lock(&log).flushed_offset() < 5 {
        assert!(Instant::now() < deadline, "flusher never flushed");
        std::thread::sleep(Duration::from_millis(2));
    }
    // The flusher also checkpoints the recovery point, just after the fsync it published.
    let path = root.path().join("recovery-point-offset-checkpoint");
    let cp = loop {
        if let Some(cp) = brook_log::checkpoint::read(&path).unwrap() {
            if cp.iter().any(|(_, o)| *o == 5) {
                break cp;
            }
        }
        assert!(Instant::now() < deadline, "flusher never checkpointed");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(cp, vec![("t-0".to_string(), 5)]);
}

#[test]
fn failing_fsync_is_a_storage_error_and_nothing_claims_durability() {
    let t = TestLog::new(&[("flush.messages", "1")]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    t.fs.faults().fail_sync.store(true, Ordering::Release);
    log.append(&batch(0, 1, 10, 0), 0).unwrap();
    let err = log.flush().unwrap_err();
    assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
    assert_eq!(log.flushed_offset(), 0);
    let durability = log.durability();
    let err = durability
        .wait_flushed(1, || Ok(log.sync_job()))
        .unwrap_err();
    assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
    t.fs.faults().fail_sync.store(false, Ordering::Release);
    log.flush().unwrap();
    assert_eq!(log.flushed_offset(), 1);
}

#[test]
fn a_full_disk_refuses_the_append_without_a_partial_write() {
    let t = TestLog::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    log.append(&batch(0, 1, 10, 0), 0).unwrap();
    let size = log.size_bytes();
    t.fs.faults().space_left.store(100, Ordering::Release);
    let err = log.append(&batch(1, 1, 500, 0), 0).unwrap_err();
    assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
    assert_eq!(log.size_bytes(), size);
    assert_eq!(log.log_end_offset(), 1);
    t.fs.faults().space_left.store(u64::MAX, Ordering::Release);
    assert_eq!(log.append(&batch(1, 1, 500, 0), 0).unwrap().base_offset, 1);
}

#[test]
fn truncation_during_a_flush_never_overstates_durability() {
    let t = TestLog::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut log = t.open(dir.path(), Shutdown::Clean);
    for i in 0..10 {
        log.append(&batch(i, 1, 10, 0), 0).unwrap();
    }
    let job = log.sync_job(); // covers 0..10
    log.truncate_to(5).unwrap();
    log.append(&batch(5, 1, 10, 0), 0).unwrap(); // new, unflushed data at offset 5
    job.run().unwrap();
    assert!(
        log.flushed_offset() <= 5,
        "flushed {} claims the rewritten offset 5",
        log.flushed_offset()
    );
}

#[test]
fn power_off_cuts_files_to_their_last_fsync_and_refuses_every_later_write() {
    use brook_log::io::{FaultyFileSystem, FileSystem};
    let fs = FaultyFileSystem::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.log");
    let file = fs.open(&path).unwrap();
    file.append(&[1u8; 100]).unwrap();
    file.sync().unwrap();
    // A writer keeps appending while the power goes: whatever it wrote after the last fsync
    // must be gone, and nothing it tries afterwards may land.
    let writer = {
        let file = file.clone();
        std::thread::spawn(move || {
            let mut ok = 0u32;
            while file.append(&[2u8; 10]).is_ok() {
                ok += 1;
            }
            ok
        })
    };
    while file.len() < 1_000 {
        std::thread::yield_now();
    }
    fs.power_off().unwrap();
    let appended = writer.join().unwrap();
    assert!(
        appended >= 90,
        "the writer ran before the power went ({appended})"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 100);
    assert!(file.append(&[3u8; 10]).is_err());
    assert!(file.sync().is_err());
    assert!(fs.open(&dir.path().join("new.log")).is_err());
    assert!(!dir.path().join("new.log").exists());
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        100,
        "no write after the cut"
    );
}

/// A minimal executor for the async waiters: poll, park until woken, poll again.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn async_waiters_share_fsyncs_and_only_the_syncer_blocks() {
    let t = TestLog::new(&[("flush.messages", "1")]);
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(t.open(dir.path(), Shutdown::Clean)));
    let durability = lock(&log).durability();
    t.fs.faults().sync_delay_ms.store(20, Ordering::Release);
    let (threads, per_thread) = (16, 5);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|n| {
            let (log, durability, barrier) = (log.clone(), durability.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut turns = 0;
                for i in 0..per_thread {
                    let b = batch((n * 100 + i) as u64, 1, 50, 0);
                    let info = lock(&log).append(&b, 0).unwrap();
                    if let Some(turn) = block_on(durability.flush_turn(info.last_offset + 1)) {
                        turns += 1;
                        turn.run(|| Ok(lock(&log).sync_job())).unwrap();
                    }
                    assert!(durability.flushed_offset() > info.last_offset);
                }
                turns
            })
        })
        .collect();
    let turns: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let appends = (threads * per_thread) as u64;
    assert_eq!(lock(&log).flushed_offset(), appends as i64);
    assert_eq!(turns, durability.sync_count(), "every turn ran one fsync");
    assert!(turns <= appends / 3, "{turns} fsyncs for {appends} appends");
}

#[test]
fn a_dropped_waiter_passes_its_turn_on_and_strands_nobody() {
    let t = TestLog::new(&[("flush.messages", "1")]);
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(t.open(dir.path(), Shutdown::Clean)));
    let durability = lock(&log).durability();
    let first = lock(&log).append(&batch(1, 1, 50, 0), 0).unwrap();
    // A takes the turn, with a job made before the next append: it will not cover B and C.
    let a = block_on(durability.flush_turn(first.last_offset + 1)).expect("nobody was syncing");
    let job = lock(&log).sync_job();
    let second = lock(&log).append(&batch(2, 1, 50, 0), 0).unwrap();
    let target = second.last_offset + 1;
    let b = durability.flush_turn(target);
    let mut c = Box::pin(durability.flush_turn(target));
    a.run(|| Ok(job)).unwrap();
    assert_eq!(durability.flushed_offset(), first.last_offset + 1);
    // B was handed the next turn but goes away (a cancelled request): C must get it.
    drop(b);
    // One poll, not a wait: a stranded C would hang a blocking wait instead of failing.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let std::task::Poll::Ready(Some(turn)) = c.as_mut().poll(&mut cx) else {
        panic!("the turn did not pass on to C");
    };
    turn.run(|| Ok(lock(&log).sync_job())).unwrap();
    assert_eq!(durability.flushed_offset(), target);
    // A turn dropped unrun releases the queue too: the next caller becomes the syncer.
    let third = lock(&log).append(&batch(3, 1, 50, 0), 0).unwrap();
    let unrun = block_on(durability.flush_turn(third.last_offset + 1)).expect("a turn");
    drop(unrun);
    let again = block_on(durability.flush_turn(third.last_offset + 1)).expect("a new turn");
    again.run(|| Ok(lock(&log).sync_job())).unwrap();
    assert_eq!(durability.flushed_offset(), third.last_offset + 1);
}
