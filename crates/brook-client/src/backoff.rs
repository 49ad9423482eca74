//! Retry pacing for every client retry loop: Kafka's exponential backoff (KIP-580) and the
//! per-loop state that applies it and keeps the loop's log to one line per backoff step.
//!
//! [`ExponentialBackoff`] is Kafka's `ExponentialBackoff` with `retry.backoff.ms` as the
//! initial interval, multiplier 2, `retry.backoff.max.ms` as the cap and ±20 % jitter. It is
//! plain arithmetic: the jitter's randomness is an argument (`delay_with`) so tests pin it.
//! [`Retrier`] is one loop's state — consecutive failures, when the next attempt may go, when it
//! may log again — with the time passed in, so the schedule is tested without clocks or sleeps.
//! The loops that use it (InitProducerId in the producer's sender, metadata refreshes, admin
//! calls, coordinator calls, consumer fetch retries) only sleep for the delay it returns and log
//! when it says so. They exist so that a client facing an unavailable cluster slows down to one
//! attempt (and at most one log line) per `retry.backoff.max.ms` instead of hammering it every
//! `retry.backoff.ms` forever.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// Kafka's backoff multiplier (`CommonClientConfigs.RETRY_BACKOFF_EXP_BASE`).
pub const MULTIPLIER: f64 = 2.0;
/// Kafka's backoff jitter (`CommonClientConfigs.RETRY_BACKOFF_JITTER`): each delay is scaled
/// by a random factor in `[1 - JITTER, 1 + JITTER)` before the cap applies.
pub const JITTER: f64 = 0.2;

/// Kafka's `ExponentialBackoff`: `initial * MULTIPLIER^attempts`, jittered by ±[`JITTER`],
/// capped at `max`. Time-free: it maps a failure count to a delay and nothing else.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackoff {
    initial: Duration,
    max: Duration,
    /// The exponent at which `initial * MULTIPLIER^exp` reaches `max` (0 when it never grows).
    exp_max: f64,
}

impl ExponentialBackoff {
    /// A backoff from `initial` (`retry.backoff.ms`) growing to `max` (`retry.backoff.max.ms`).
    /// A `max` below `initial` is raised to `initial`, as Kafka does: the delay then stays at
    /// `initial`, without jitter.
    pub fn new(initial: Duration, max: Duration) -> ExponentialBackoff {
        let max = max.max(initial);
        let exp_max = if max > initial {
            // Kafka divides by max(initial, 1 ms) so that an initial of 0 still has a cap.
            let floor = initial.max(Duration::from_millis(1)).as_secs_f64();
            (max.as_secs_f64() / floor).log(MULTIPLIER).max(0.0)
        } else {
            0.0
        };
        ExponentialBackoff {
            initial,
            max,
            exp_max,
        }
    }

    /// The first delay before jitter (`retry.backoff.ms`).
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The cap (`retry.backoff.max.ms`, at least `initial`).
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Whether the delay after `attempts` failures has stopped growing: it is at the cap,
    /// only jitter (downwards) changes it.
    pub fn is_capped(&self, attempts: u32) -> bool {
        f64::from(attempts) >= self.exp_max
    }

    /// The delay before the retry that follows `attempts` earlier retries (0 for the first),
    /// with jitter from the thread-local random generator.
    pub fn delay(&self, attempts: u32) -> Duration {
        self.delay_with(attempts, rand::rng().random::<f64>())
    }

    /// The delay before the retry that follows `attempts` earlier retries, with the jitter
    /// drawn as `unit` in `[0, 1]`: 0 scales by `1 - JITTER`, 0.5 by 1, 1 by `1 + JITTER`.
    /// Values outside `[0, 1]` are clamped (NaN counts as 0.5, no jitter).
    pub fn delay_with(&self, attempts: u32, unit: f64) -> Duration {
        // A zero initial interval stays zero at every step, as in Kafka.
        if self.exp_max <= 0.0 || self.initial.is_zero() {
            return self.initial;
        }
        let unit = if unit.is_nan() {
            0.5
        } else {
            unit.clamp(0.0, 1.0)
        };
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        // At the cap the term is `max` itself, not a float power that may land a hair below.
        let term = if self.is_capped(attempts) {
            micros(self.max)
        } else {
            micros(self.initial) * MULTIPLIER.powf(f64::from(attempts))
        };
        let factor = (1.0 - JITTER) + 2.0 * JITTER * unit;
        // Truncated to whole microseconds (Kafka truncates to ms); the epsilon keeps float
        // noise such as 119.99999 from losing a unit.
        let whole = (term * factor + 1e-6).floor();
        Duration::try_from_secs_f64(whole / 1e6)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// What a retry loop should do after a failure: wait `delay`, and log a line only if `log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Consecutive failures so far, this one included (1 for the first failure).
    pub attempt: u32,
    /// How long to wait before the next attempt.
    pub delay: Duration,
    /// Whether this step may log: false while an earlier line still covers it.
    pub log: bool,
}

impl Step {
    /// `delay` in whole milliseconds, for log lines.
    pub fn delay_ms(&self) -> u128 {
        self.delay.as_millis()
    }
}

/// One retry loop's state: consecutive failures, when the next attempt may go, and when the
/// loop may log again. Time is passed in; nothing here sleeps or reads a clock.
///
/// Logging rule: a step is logged unless an earlier logged step still covers `now`. A logged
/// step covers its own delay, or the whole cap interval (`max`) once the delay is capped — so a
/// loop logs at most once per backoff step, and at the cap at most once per `max`, however
/// often it is made to fail.
#[derive(Debug, Clone)]
pub struct Retrier {
    backoff: ExponentialBackoff,
    failures: u32,
    retry_at: Option<Instant>,
    quiet_until: Option<Instant>,
}

impl Retrier {
    /// A loop that has not failed yet.
    pub fn new(backoff: ExponentialBackoff) -> Retrier {
        Retrier {
            backoff,
            failures: 0,
            retry_at: None,
            quiet_until: None,
        }
    }

    /// The policy this loop follows.
    pub fn backoff(&self) -> &ExponentialBackoff {
        &self.backoff
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next attempt may go, after a failure; `None` when nothing failed since the
    /// last success (an attempt may go at once).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Whether an attempt may go at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| t <= now)
    }

    /// Records a failure at `now` with random jitter; see [`Retrier::failed_with`].
    pub fn failed(&mut self, now: Instant) -> Step {
        self.failed_with(now, rand::rng().random::<f64>())
    }

    /// Records a failure at `now`, jitter drawn as `unit` (see
    /// [`ExponentialBackoff::delay_with`]): the next attempt may go after the returned delay.
    pub fn failed_with(&mut self, now: Instant, unit: f64) -> Step {
        let earlier = self.failures;
        self.failures = self.failures.saturating_add(1);
        let delay = self.backoff.delay_with(earlier, unit);
        self.retry_at = Some(now + delay);
        let log = self.quiet_until.is_none_or(|q| now >= q);
        if log {
            let covered = if self.backoff.is_capped(earlier) {
                self.backoff.max.max(delay)
            } else {
                delay
            };
            self.quiet_until = Some(now + covered);
        }
        Step {
            attempt: self.failures,
            delay,
            log,
        }
    }

    /// Records a success: the next failure starts again from `retry.backoff.ms`, and logs.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
        self.quiet_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn kafka_default() -> ExponentialBackoff {
        ExponentialBackoff::new(ms(100), ms(1000))
    }

    #[test]
    fn delay_doubles_from_initial_and_stops_at_the_cap() {
        let b = kafka_default();
        let delays: Vec<u64> = (0..8)
            .map(|a| b.delay_with(a, 0.5).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
        assert!(!b.is_capped(3));
        assert!(b.is_capped(4));
        assert_eq!(b.delay_with(u32::MAX, 0.5), ms(1000));
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_never_passes_the_cap() {
        let b = kafka_default();
        assert_eq!(b.delay_with(0, 0.0), ms(80));
        assert_eq!(b.delay_with(0, 1.0), ms(120));
        assert_eq!(b.delay_with(2, 0.0), ms(320));
        assert_eq!(b.delay_with(2, 1.0), ms(480));
        // At the cap jitter can only lower the delay.
        assert_eq!(b.delay_with(10, 0.0), ms(800));
        assert_eq!(b.delay_with(10, 1.0), ms(1000));
        // Out-of-range draws are clamped, NaN is no jitter.
        assert_eq!(b.delay_with(0, -3.0), ms(80));
        assert_eq!(b.delay_with(0, 7.0), ms(120));
        assert_eq!(b.delay_with(0, f64::NAN), ms(100));
        for attempts in 0..12 {
            for _ in 0..50 {
                let d = b.delay(attempts);
                let nominal = 100.0 * 2f64.powi(attempts as i32);
                let lo = (0.8 * nominal).min(800.0);
                let hi = (1.2 * nominal).min(1000.0);
                let got = d.as_millis() as f64;
                assert!(
                    (lo..=hi).contains(&got),
                    "{got} ms outside {lo}..={hi} at {attempts}"
                );
            }
        }
    }

    #[test]
    fn max_below_initial_means_a_constant_initial_delay() {
        let b = ExponentialBackoff::new(ms(500), ms(100));
        assert_eq!(b.max(), ms(500));
        for a in [0, 1, 5] {
            assert_eq!(b.delay_with(a, 0.0), ms(500));
            assert_eq!(b.delay_with(a, 1.0), ms(500));
        }
        let same = ExponentialBackoff::new(ms(100), ms(100));
        assert_eq!(same.delay_with(3, 1.0), ms(100));
    }

    #[test]
    fn zero_initial_backoff_stays_zero() {
        let b = ExponentialBackoff::new(Duration::ZERO, ms(1000));
        assert_eq!(b.delay_with(0, 1.0), Duration::ZERO);
        assert_eq!(b.delay_with(20, 1.0), Duration::ZERO);
    }

    #[test]
    fn retrier_schedules_growing_delays_and_resets_on_success() {
        let t0 = Instant::now();
        let mut r = Retrier::new(kafka_default());
        assert!(r.is_due(t0));
        let s = r.failed_with(t0, 0.5);
        assert_eq!((s.attempt, s.delay, s.log), (1, ms(100), true));
        assert_eq!(r.retry_at(), Some(t0 + ms(100)));
        assert!(!r.is_due(t0 + ms(99)));
        assert!(r.is_due(t0 + ms(100)));
        let s = r.failed_with(t0 + ms(100), 0.5);
        assert_eq!((s.attempt, s.delay), (2, ms(200)));
        r.succeeded();
        assert_eq!(r.failures(), 0);
        assert_eq!(r.retry_at(), None);
        assert!(r.is_due(t0 + ms(100)));
        let s = r.failed_with(t0 + ms(150), 0.5);
        assert_eq!((s.attempt, s.delay, s.log), (1, ms(100), true));
    }

    #[test]
    fn a_loop_logs_once_per_step_not_once_per_attempt() {
        let t0 = Instant::now();
        let mut r = Retrier::new(kafka_default());
        assert!(r.failed_with(t0, 0.5).log);
        // Failures faster than the step (100 ms) are not logged again.
        assert!(!r.failed_with(t0 + ms(10), 0.5).log);
        assert!(!r.failed_with(t0 + ms(99), 0.5).log);
        // The next failure after the logged step's delay logs.
        assert!(r.failed_with(t0 + ms(100), 0.5).log);
    }

    #[test]
    fn at_the_cap_a_loop_logs_at_most_once_per_cap_interval() {
        let mut now = Instant::now();
        let mut r = Retrier::new(kafka_default());
        // Lowest jitter: capped delays are 800 ms, shorter than the 1000 ms cap interval.
        let mut logged_at = Vec::new();
        for _ in 0..20 {
            let s = r.failed_with(now, 0.0);
            if s.log && r.backoff().is_capped(s.attempt - 1) {
                logged_at.push(now);
            }
            now += s.delay;
        }
        assert!(
            logged_at.len() >= 5,
            "capped steps still log: {logged_at:?}"
        );
        for pair in logged_at.windows(2) {
            assert!(pair[1] - pair[0] >= ms(1000), "{:?}", pair[1] - pair[0]);
        }
    }
}
