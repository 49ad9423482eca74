//! Time as brook-log sees it. Segment age (`segment.ms`), retention (`retention.ms`) and the
//! background flush (`flush.ms`) all read a [`Clock`], so tests can move time instead of sleeping.
//! [`unix_now_ms`] is the one direct wall-clock read, shared with the client and the verifier.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch. The log reads it for
/// segment age, retention and `flush.ms`; [`SystemClock`] is the real one, [`ManualClock`] the
/// one tests move by hand.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        unix_now_ms()
    }
}

/// The wall clock read directly: milliseconds since the Unix epoch (0 if the clock is before it).
/// Everything in Brook that stamps wall time (record CreateTime, registration times, reports)
/// reads this or a [`Clock`]; code that must be testable with moved time takes a [`Clock`].
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `start_ms` (milliseconds since the Unix epoch), shared so that the
    /// test and the log it is handed to see the same time.
    pub fn new(start_ms: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock(AtomicI64::new(start_ms)))
    }
    /// Moves the clock forward by `ms` milliseconds (backward if negative).
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::AcqRel);
    }
    /// Sets the clock to `ms` milliseconds since the Unix epoch.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }
}
