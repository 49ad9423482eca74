//! Process-wide counters of what crash recovery found: torn or corrupt batches (and damage
//! below a recovery point) and the bytes it cut off, for a broker to export. Recovery is their
//! only writer; nothing outside brook-log's tests reads them yet.

use std::sync::atomic::{AtomicU64, Ordering};

static CORRUPTIONS: AtomicU64 = AtomicU64::new(0);
static TRUNCATED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Torn or corrupt batches found (and cut off) by crash recovery, plus corruption found below a
/// recovery point, since the process started.
pub fn corruptions_detected() -> u64 {
    CORRUPTIONS.load(Ordering::Relaxed)
}

/// Bytes cut off by crash recovery since the process started.
pub fn recovery_truncated_bytes() -> u64 {
    TRUNCATED_BYTES.load(Ordering::Relaxed)
}

pub(crate) fn record_corruption(truncated_bytes: u64) {
    CORRUPTIONS.fetch_add(1, Ordering::Relaxed);
    TRUNCATED_BYTES.fetch_add(truncated_bytes, Ordering::Relaxed);
}
