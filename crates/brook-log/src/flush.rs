//! Durability bookkeeping and group commit (SPEC §3.3).
//!
//! The log's *flushed offset* (Kafka's recovery point) is the offset below which everything is
//! known to be on disk. Appends never fsync while holding the log: they return, and a caller that
//! must wait for durability (`flush.messages` says so, or the broker wants to report
//! `LEADER_FLUSHED`) calls [`FlushState::wait_flushed`]. The first waiter to arrive becomes the
//! *syncer*: it takes a [`SyncJob`] covering everything appended so far and fsyncs it outside the
//! log's lock, while later waiters sleep; one fsync then releases all of them. This is group
//! commit: N concurrent appenders pay for about one fsync per round, not N.
//!
//! Async callers (the broker's produce path) use [`FlushState::flush_turn`] instead: waiting
//! costs them no thread, and only the one whose turn it is to fsync needs a blocking thread
//! (for [`SyncTurn::run`]). Both kinds of waiter share one queue.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::{LogError, Result};
use crate::io::LogFile;
use crate::metrics::LogObserver;

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
    /// one: `make_job` is called (typically `|| Ok(lock(&log).sync_job())`) and its job executed
    /// without holding any lock. Otherwise it queues and sleeps. When an fsync finishes, the
    /// syncer wakes exactly the waiters it covered and hands the next fsync to one of the rest,
    /// so one fsync serves every appender that arrived while the previous one ran, and nobody
    /// stampedes on a shared lock (wake-ups are costly on small VMs).
    pub fn wait_flushed<F>(&self, target: i64, make_job: F) -> Result<()>
    where
        F: FnOnce() -> Result<SyncJob>,
    {
        match self.enqueue(target) {
            Entry::Done => return Ok(()),
            Entry::Sync => {}
            Entry::Queued(waiter) => match waiter.wait() {
                Turn::Done => return Ok(()),
                Turn::Sync => {} // our turn to run the next fsync
            },
        }
        let result = make_job().and_then(SyncJob::run);
        self.hand_over();
        result
    }

    /// The async form of [`FlushState::wait_flushed`]: resolves to `None` once everything below
    /// `target` is on disk, or to a [`SyncTurn`] when this caller must run the next fsync (on a
    /// blocking thread: `SyncTurn::run`). Dropping the future, or the turn unrun, passes the
    /// turn on, so a cancelled request never strands the waiters behind it.
    pub fn flush_turn(self: &Arc<Self>, target: i64) -> FlushTurn {
        let entry = match self.enqueue(target) {
            Entry::Done => None,
            Entry::Sync => Some(Ok(Turn::Sync)),
            Entry::Queued(waiter) => Some(Err(waiter)),
        };
        FlushTurn {
            state: self.clone(),
            entry,
        }
    }

    /// Joins the queue: done already, the syncer (nobody was syncing), or a queued waiter.
    fn enqueue(&self, target: i64) -> Entry {
        if self.flushed_offset() >= target {
            return Entry::Done;
        }
        let mut queue = self.lock();
        if self.flushed_offset() >= target {
            return Entry::Done;
        }
        if queue.syncing {
            let waiter = Arc::new(Waiter::new(target));
            queue.waiters.push(waiter.clone());
            Entry::Queued(waiter)
        } else {
            queue.syncing = true;
            Entry::Sync
        }
    }

    /// A waiter gave up (its future was dropped): take it out of the queue, or, if it had been
    /// given the turn to fsync, pass the turn on.
    fn abandon(&self, waiter: &Arc<Waiter>) {
        let mut queue = self.lock();
        if let Some(i) = queue.waiters.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.waiters.remove(i);
            return;
        }
        // Not queued: `hand_over` already gave it a turn (under the queue lock).
        let turn = waiter.turn();
        drop(queue);
        if turn == Some(Turn::Sync) {
            self.hand_over();
        }
    }

    /// Called by the syncer after its fsync: wake the covered waiters, pass the turn on. Turns
    /// are set under the queue lock, so that a waiter that gives up (`abandon`) finds itself
    /// either still queued or already given its turn.
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
        let mut wakers: Vec<Waker> = covered.iter().filter_map(|w| w.set(Turn::Done)).collect();
        wakers.extend(next.as_ref().and_then(|w| w.set(Turn::Sync)));
        drop(queue);
        for w in covered.iter().chain(next.as_ref()) {
            w.cv.notify_one();
        }
        for w in wakers {
            w.wake();
        }
    }
}

enum Entry {
    Done,
    Sync,
    Queued(Arc<Waiter>),
}

/// What [`FlushState::flush_turn`] returns: a future of `None` (flushed) or the turn to fsync.
#[derive(Debug)]
pub struct FlushTurn {
    state: Arc<FlushState>,
    /// `None`: resolved (or flushed from the start). `Ok(Sync)`: the turn, not yet handed out.
    /// `Err(waiter)`: queued.
    entry: Option<std::result::Result<Turn, Arc<Waiter>>>,
}

impl Future for FlushTurn {
    type Output = Option<SyncTurn>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SyncTurn>> {
        let turn = match &self.entry {
            None => return Poll::Ready(None),
            Some(Ok(turn)) => *turn,
            Some(Err(waiter)) => match waiter.poll_turn(cx.waker()) {
                Some(turn) => turn,
                None => return Poll::Pending,
            },
        };
        self.entry = None;
        Poll::Ready(match turn {
            Turn::Done => None,
            Turn::Sync => Some(SyncTurn {
                state: Some(self.state.clone()),
            }),
        })
    }
}

impl Drop for FlushTurn {
    fn drop(&mut self) {
        match self.entry.take() {
            None => {}
            Some(Ok(_)) => self.state.hand_over(),
            Some(Err(waiter)) => self.state.abandon(&waiter),
        }
    }
}

/// The obligation to run the next fsync of a group commit; see [`FlushState::flush_turn`].
#[derive(Debug)]
#[must_use = "the waiters behind this turn wait until it runs or is dropped"]
pub struct SyncTurn {
    /// `None` once run.
    state: Option<Arc<FlushState>>,
}

impl SyncTurn {
    /// Runs the fsync (blocking: call it where blocking is allowed), wakes the waiters it
    /// covered and passes the turn on. `make_job` is typically `|| Ok(lock(&log).sync_job())`.
    pub fn run<F>(mut self, make_job: F) -> Result<()>
    where
        F: FnOnce() -> Result<SyncJob>,
    {
        let result = make_job().and_then(SyncJob::run);
        if let Some(state) = self.state.take() {
            state.hand_over();
        }
        result
    }
}

impl Drop for SyncTurn {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.hand_over();
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

/// One sleeping appender, woken only when its data is on disk or it must run the next fsync:
/// a thread on its own condvar, or a task through its waker.
#[derive(Debug)]
pub(crate) struct Waiter {
    target: i64,
    slot: Mutex<Slot>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct Slot {
    turn: Option<Turn>,
    waker: Option<Waker>,
}

impl Waiter {
    fn new(target: i64) -> Waiter {
        Waiter {
            target,
            slot: Mutex::default(),
            cv: Condvar::new(),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn turn(&self) -> Option<Turn> {
        self.slot().turn
    }

    fn wait(&self) -> Turn {
        let mut slot = self.slot();
        loop {
            if let Some(t) = slot.turn {
                return t;
            }
            slot = self.cv.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn poll_turn(&self, waker: &Waker) -> Option<Turn> {
        let mut slot = self.slot();
        if slot.turn.is_none() {
            slot.waker = Some(waker.clone());
        }
        slot.turn
    }

    /// Gives the waiter its turn; the caller then notifies `cv` and wakes the returned waker
    /// (after releasing the queue lock).
    fn set(&self, t: Turn) -> Option<Waker> {
        let mut slot = self.slot();
        slot.turn = Some(t);
        slot.waker.take()
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
    /// Appends this job makes durable (for the observer).
    pub(crate) appends: u64,
    pub(crate) observer: Arc<dyn LogObserver>,
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
        let started = Instant::now();
        for f in &self.files {
            f.sync()
                .map_err(|e| LogError::storage("fsync during flush", e))?;
        }
        self.observer.fsync(started.elapsed(), self.appends);
        self.state.syncs.fetch_add(1, Ordering::Relaxed);
        self.state.raise_to(self.upto, self.generation);
        Ok(())
    }
}
