//! What the storage layer tells whoever exports metrics, without depending on any metrics
//! library: the [`LogObserver`] hook (carried in [`crate::LogOptions`], called on every
//! group-commit fsync and on every corruption recovery finds), and process-wide counters of
//! what crash recovery found (torn or corrupt batches, damage below a recovery point, and the
//! bytes cut off). The broker implements the observer (its `metrics/` module) and exports one
//! set of figures per broker; the process-wide counters remain for brook-log's own tests.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Told what the logs' I/O did. Calls come from the thread doing the I/O (often a blocking
/// thread of the broker's runtime), so implementations must be cheap and must not block.
pub trait LogObserver: Send + Sync + Debug {
    /// One fsync round of a log's data finished (a [`crate::SyncJob`]): how long its file
    /// syncs took, and how many appends (calls of `Log::append*`) it made durable at once —
    /// group commit at work when that is more than one.
    fn fsync(&self, elapsed: Duration, appends: u64) {
        let _ = (elapsed, appends);
    }

    /// Opening a log found corruption: a torn or corrupt batch cut off by crash recovery, or
    /// damage to flushed data that took the log offline.
    fn corruption(&self) {}
}

/// The default observer: ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl LogObserver for NoObserver {}

/// The [`NoObserver`] as the `Arc` that [`crate::LogOptions`] carries.
pub fn no_observer() -> Arc<dyn LogObserver> {
    Arc::new(NoObserver)
}

static CORRUPTIONS: AtomicU64 = AtomicU64::new(0);
static TRUNCATED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Torn or corrupt batches found (and cut off) by crash recovery, plus corruption found below a
/// recovery point, since the process started (every log of the process).
pub fn corruptions_detected() -> u64 {
    CORRUPTIONS.load(Ordering::Relaxed)
}

/// Bytes cut off by crash recovery since the process started.
pub fn recovery_truncated_bytes() -> u64 {
    TRUNCATED_BYTES.load(Ordering::Relaxed)
}

pub(crate) fn record_corruption(observer: &dyn LogObserver, truncated_bytes: u64) {
    CORRUPTIONS.fetch_add(1, Ordering::Relaxed);
    TRUNCATED_BYTES.fetch_add(truncated_bytes, Ordering::Relaxed);
    observer.corruption();
}
