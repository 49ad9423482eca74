//! Durability bookkeeping and group commit (SPEC §3.3).
//!
//! The log's *flushed offset* (Kafka's recovery point) is the offset below which everything is
//! known to be on disk. Appends never fsync while holding the log: they return, and a caller that
//! must wait for durability (`flush.messages` says so, or the broker wants to report
//! `LEADER_FLUSHED`) calls [`FlushState::wait_flushed`]. The first waiter to arrive becomes the
//! *syncer*: it takes a [`SyncJob`] covering everything appended so far and fsyncs it outside the
//! log's lock, while later waiters sleep; one fsync then releases all of them. This is group
//! commit: N concurrent appenders pay for about one fsync per round, not N.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{LogError, Result};
use crate::io::LogFile;

/// Shared between a [`crate::Log`] and everyone waiting on its durability.
#[derive(Debug)]
pub struct FlushState {
    /// Lock-free mirror of `mark.0` for readers.
    flushed: AtomicI64,
    /// (flushed offset, truncation generation): a job created before a truncation must not raise
    /// the flushed offset afterwards, since the bytes it fsynced may have been cut and rewritten.
    mark: Mutex<(i64, u64)>,
    syncs: AtomicU64,
    queue: Mutex<Queue>,
}

impl FlushState {
    pub(crate) fn new(flushed: i64) -> Arc<FlushState> {
        Arc::new(FlushState {
            flushed: AtomicI64::new(flushed),
            mark: Mutex::new((flushed, 0)),
            syncs: AtomicU64::new(0),
            queue: Mutex::new(Queue::default()),
        })
    }

    /// Everything below this offset is on disk.
    pub fn flushed_offset(&self) -> i64 {
        self.flushed.load(Ordering::Acquire)
    }

    /// How many fsync rounds have run (each may cover many appends).
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    fn mark(&self) -> MutexGuard<'_, (i64, u64)> {
        self.mark.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The log was truncated to `offset`: lower the flushed offset and invalidate running jobs.
    pub(crate) fn truncated_to(&self, offset: i64) {
        let mut mark = self.mark();
        mark.0 = mark.0.min(offset);
        mark.1 += 1;
        self.flushed.store(mark.0, Ordering::Release);
    }

    pub(crate) fn generation(&self) -> u64 {
        self.mark().1
    }

    fn raise_to(&self, offset: i64, generation: u64) {
        let mut mark = self.mark();
        if mark.1 == generation && offset > mark.0 {
            mark.0 = offset;
            self.flushed.store(offset, Ordering::Release);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing done under this lock can panic halfway; a poisoned lock is still consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks until everything below `target` is on disk. If no fsync is running, this caller runs
    /// one: `make_job` is called (typically `|| log.lock().sync_job()`) and its job executed
    /// without holding any lock. Otherwise it queues and sleeps. When an fsync finishes, the
    /// syncer wakes exactly the waiters it covered and hands the next fsync to one of the rest,
    /// so one fsync serves every appender that arrived while the previous one ran, and nobody
    /// stampedes on a shared lock (wake-ups are costly on small VMs).
    pub fn wait_flushed<F>(&self, target: i64, make_job: F) -> Result<()>
    where
        F: FnOnce() -> Result<SyncJob>,
    {
        if self.flushed_offset() >= target {
            return Ok(());
        }
        let mut queue = self.lock();
        if self.flushed_offset() >= target {
            return Ok(());
        }
        if queue.syncing {
            let waiter = Arc::new(Waiter::new(target));
            queue.waiters.push(waiter.clone());
            drop(queue);
            match waiter.wait() {
                Turn::Done => return Ok(()),
                Turn::Sync => {} // our turn to run the next fsync
            }
        } else {
            queue.syncing = true;
            drop(queue);
        }
        let result = make_job().and_then(SyncJob::run);
        self.hand_over();
        result
    }

    /// Called by the syncer after its fsync: wake the covered waiters, pass the turn on.
    fn hand_over(&self) {
        let flushed = self.flushed_offset();
        let mut queue = self.lock();
        let (covered, rest): (Vec<_>, Vec<_>) =
            queue.waiters.drain(..).partition(|w| w.target <= flushed);
        queue.waiters = rest;
        let next = if queue.waiters.is_empty() {
            queue.syncing = false;
            None
        } else {
            Some(queue.waiters.remove(0))
        };
        drop(queue);
        for w in covered {
            w.wake(Turn::Done);
        }
        if let Some(w) = next {
            w.wake(Turn::Sync);
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    syncing: bool,
    waiters: Vec<Arc<Waiter>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    Done,
    Sync,
}

/// One sleeping appender, with its own condvar so that it is woken only when its data is on
/// disk or it must run the next fsync.
#[derive(Debug)]
struct Waiter {
    target: i64,
    turn: Mutex<Option<Turn>>,
    cv: Condvar,
}

impl Waiter {
    fn new(target: i64) -> Waiter {
        Waiter {
            target,
            turn: Mutex::new(None),
            cv: Condvar::new(),
        }
    }

    fn wait(&self) -> Turn {
        let mut turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(t) = *turn {
                return t;
            }
            turn = self.cv.wait(turn).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn wake(&self, t: Turn) {
        *self.turn.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
        self.cv.notify_one();
    }
}

/// An fsync of every file holding unflushed data, detached from the log so that it can run
/// without the log's lock. Running it raises the flushed offset to `upto`.
#[derive(Debug)]
pub struct SyncJob {
    pub(crate) files: Vec<Arc<dyn LogFile>>,
    pub(crate) upto: i64,
    pub(crate) generation: u64,
    pub(crate) state: Arc<FlushState>,
}

impl SyncJob {
    /// The flushed offset this job establishes.
    pub fn upto(&self) -> i64 {
        self.upto
    }

    /// fsyncs the files (oldest first) and publishes the new flushed offset.
    pub fn run(self) -> Result<()> {
        if self.upto <= self.state.flushed_offset() {
            return Ok(());
        }
        for f in &self.files {
            f.sync()
                .map_err(|e| LogError::storage("fsync during flush", e))?;
        }
        self.state.syncs.fetch_add(1, Ordering::Relaxed);
        self.state.raise_to(self.upto, self.generation);
        Ok(())
    }
}
