//! Kafka's sampled statistics (`org.apache.kafka.common.metrics.stats`), sans-IO: every call takes
//! the time (`now_ms`, any monotonic millisecond clock) instead of reading one.
//!
//! A sampled stat keeps up to `metrics.num.samples` samples of `metrics.sample.window.ms` each. A
//! value goes into the current sample; once the current sample is a window old, the next value
//! starts a new one (reusing the oldest slot). Reading first resets samples older than
//! `num_samples × window` (Kafka's `purgeObsoleteSamples`), then combines what is left:
//!
//! - [`Rate`]: the sum of the samples divided by the elapsed window, which is the time since the
//!   oldest sample started, counted as at least `num_samples − 1` full windows (so a rate read one
//!   second after the first event is not 30× too high) and at least 1 ms — Kafka's
//!   `Rate.windowSize`.
//! - [`Avg`]: the sum of the samples' values over the number of events in them; NaN without any.
//! - [`Max`]: the largest value in the samples; NaN without any.
//! - [`Meter`]: a [`Rate`] and a cumulative total (Kafka's `Meter`: `x-rate` and `x-total`).

/// The two keys every client shares: Kafka's `metrics.sample.window.ms` and `metrics.num.samples`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricConfig {
    /// `metrics.sample.window.ms` (default 30 000): the length of one sample.
    pub sample_window_ms: u64,
    /// `metrics.num.samples` (default 2): how many samples a stat keeps.
    pub num_samples: usize,
}

impl Default for MetricConfig {
    fn default() -> Self {
        MetricConfig {
            sample_window_ms: 30_000,
            num_samples: 2,
        }
    }
}

impl MetricConfig {
    fn samples(&self) -> usize {
        self.num_samples.max(1)
    }
}

#[derive(Debug, Clone)]
struct Sample {
    start_ms: u64,
    count: u64,
    value: f64,
}

/// Kafka's `SampledStat`: the ring of samples; `initial` is a fresh sample's value.
#[derive(Debug, Clone)]
struct SampledStat {
    samples: Vec<Sample>,
    current: usize,
    initial: f64,
}

impl SampledStat {
    fn new(initial: f64) -> Self {
        SampledStat {
            samples: Vec::new(),
            current: 0,
            initial,
        }
    }

    fn fresh(&self, now_ms: u64) -> Sample {
        Sample {
            start_ms: now_ms,
            count: 0,
            value: self.initial,
        }
    }

    fn record(&mut self, cfg: &MetricConfig, now_ms: u64, update: impl FnOnce(&mut f64)) {
        if self.samples.is_empty() {
            self.samples.push(self.fresh(now_ms));
            self.current = 0;
        }
        let start = self.samples[self.current].start_ms;
        if now_ms.saturating_sub(start) >= cfg.sample_window_ms {
            self.current = (self.current + 1) % cfg.samples();
            let fresh = self.fresh(now_ms);
            if self.current >= self.samples.len() {
                self.samples.push(fresh);
                self.current = self.samples.len() - 1;
            } else {
                self.samples[self.current] = fresh;
            }
        }
        let sample = &mut self.samples[self.current];
        update(&mut sample.value);
        sample.count += 1;
    }

    /// Resets the samples that are `num_samples` windows old or older.
    fn purge(&mut self, cfg: &MetricConfig, now_ms: u64) {
        let expire = cfg.sample_window_ms.saturating_mul(cfg.samples() as u64);
        let initial = self.initial;
        for s in &mut self.samples {
            if now_ms.saturating_sub(s.start_ms) >= expire {
                *s = Sample {
                    start_ms: now_ms,
                    count: 0,
                    value: initial,
                };
            }
        }
    }

    fn oldest_start(&mut self, now_ms: u64) -> u64 {
        if self.samples.is_empty() {
            self.samples.push(self.fresh(now_ms));
        }
        self.samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms)
    }

    fn count(&self) -> u64 {
        self.samples.iter().map(|s| s.count).sum()
    }
}

/// A windowed rate: the values recorded in the window per `unit` (Kafka's `Rate` over a
/// `WindowedSum`; recording 1 per event makes it a `WindowedCount`).
#[derive(Debug, Clone)]
pub struct Rate {
    stat: SampledStat,
    unit_ms: u64,
}

impl Rate {
    /// Per second (Kafka's default `TimeUnit.SECONDS`).
    pub fn per_second() -> Rate {
        Rate {
            stat: SampledStat::new(0.0),
            unit_ms: 1000,
        }
    }

    /// Per hour (Kafka's `rebalance-rate-per-hour`).
    pub fn per_hour() -> Rate {
        Rate {
            stat: SampledStat::new(0.0),
            unit_ms: 3_600_000,
        }
    }

    /// Adds `value` at `now_ms`.
    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now_ms: u64) {
        self.stat.record(cfg, now_ms, |v| *v += value);
    }

    /// The rate at `now_ms`: the window's sum over the elapsed window, in the unit.
    pub fn measure(&mut self, cfg: &MetricConfig, now_ms: u64) -> f64 {
        self.stat.purge(cfg, now_ms);
        let total = self.stat.samples.iter().fold(0.0, |t, s| t + s.value);
        let window_ms = self.window_ms(cfg, now_ms);
        total / (window_ms as f64 / self.unit_ms as f64)
    }

    /// Kafka's `Rate.windowSize`: the time since the oldest sample started, at least
    /// `num_samples − 1` full windows and 1 ms.
    fn window_ms(&mut self, cfg: &MetricConfig, now_ms: u64) -> u64 {
        let mut elapsed = now_ms.saturating_sub(self.stat.oldest_start(now_ms));
        let window = cfg.sample_window_ms.max(1);
        let full = elapsed / window;
        let min_full = (cfg.samples() - 1) as u64;
        if full < min_full {
            elapsed += (min_full - full) * window;
        }
        elapsed.max(1)
    }
}

/// A windowed mean (Kafka's `Avg`).
#[derive(Debug, Clone)]
pub struct Avg {
    stat: SampledStat,
}

impl Default for Avg {
    fn default() -> Self {
        Avg {
            stat: SampledStat::new(0.0),
        }
    }
}

impl Avg {
    /// Records one value.
    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now_ms: u64) {
        self.stat.record(cfg, now_ms, |v| *v += value);
    }

    /// The mean of the values in the window; NaN when there are none (as Kafka).
    pub fn measure(&mut self, cfg: &MetricConfig, now_ms: u64) -> f64 {
        self.stat.purge(cfg, now_ms);
        let count = self.stat.count();
        if count == 0 {
            return f64::NAN;
        }
        self.stat.samples.iter().fold(0.0, |t, s| t + s.value) / count as f64
    }
}

/// A windowed maximum (Kafka's `Max`).
#[derive(Debug, Clone)]
pub struct Max {
    stat: SampledStat,
}

impl Default for Max {
    fn default() -> Self {
        Max {
            stat: SampledStat::new(f64::NEG_INFINITY),
        }
    }
}

impl Max {
    /// Records one value.
    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now_ms: u64) {
        self.stat.record(cfg, now_ms, |v| *v = v.max(value));
    }

    /// The largest value in the window; NaN when there is none (as Kafka).
    pub fn measure(&mut self, cfg: &MetricConfig, now_ms: u64) -> f64 {
        self.stat.purge(cfg, now_ms);
        if self.stat.count() == 0 {
            return f64::NAN;
        }
        self.stat
            .samples
            .iter()
            .map(|s| s.value)
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// Kafka's `Meter`: a windowed [`Rate`] (`x-rate`) and a cumulative total (`x-total`).
#[derive(Debug, Clone)]
pub struct Meter {
    rate: Rate,
    total: f64,
}

impl Meter {
    /// A meter whose rate is per second.
    pub fn per_second() -> Meter {
        Meter {
            rate: Rate::per_second(),
            total: 0.0,
        }
    }

    /// A meter whose rate is per hour.
    pub fn per_hour() -> Meter {
        Meter {
            rate: Rate::per_hour(),
            total: 0.0,
        }
    }

    /// Adds `value` (a count of events or records) at `now_ms`.
    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now_ms: u64) {
        self.rate.record(cfg, value, now_ms);
        self.total += value;
    }

    /// The windowed rate at `now_ms`.
    pub fn rate(&mut self, cfg: &MetricConfig, now_ms: u64) -> f64 {
        self.rate.measure(cfg, now_ms)
    }

    /// Everything ever recorded.
    pub fn total(&self) -> f64 {
        self.total
    }
}

/// A windowed mean and maximum of one quantity (Kafka records most latencies as both).
#[derive(Debug, Clone, Default)]
pub struct AvgMax {
    /// The `-avg` stat.
    pub avg: Avg,
    /// The `-max` stat.
    pub max: Max,
}

impl AvgMax {
    /// Records one value into both.
    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now_ms: u64) {
        self.avg.record(cfg, value, now_ms);
        self.max.record(cfg, value, now_ms);
    }

    /// (avg, max) at `now_ms`.
    pub fn measure(&mut self, cfg: &MetricConfig, now_ms: u64) -> (f64, f64) {
        (self.avg.measure(cfg, now_ms), self.max.measure(cfg, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: MetricConfig = MetricConfig {
        sample_window_ms: 30_000,
        num_samples: 2,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_young_rate_counts_the_missing_windows_as_elapsed() {
        let mut r = Rate::per_second();
        r.record(&CFG, 10.0, 0);
        // 1 s into the first window: 1 s + one more full window = 31 s (Kafka's windowSize).
        assert!(close(r.measure(&CFG, 1_000), 10.0 / 31.0));
        // Nothing recorded yet: 0 (not NaN, and not -0, which prints as "-0").
        let empty = Rate::per_second().measure(&CFG, 5_000);
        assert!(empty == 0.0 && empty.is_sign_positive());
    }

    #[test]
    fn a_rate_spans_the_samples_it_keeps_and_forgets_older_ones() {
        let mut r = Rate::per_second();
        r.record(&CFG, 30.0, 0);
        r.record(&CFG, 30.0, 30_000); // a window later: the second sample
        assert!(close(r.measure(&CFG, 45_000), 60.0 / 45.0));
        // At 60 s the first sample (started at 0) is two windows old and reset; the second
        // (started at 30 s) is what is left, over 30 s.
        assert!(close(r.measure(&CFG, 60_000), 30.0 / 30.0));
        // At 90 s both are gone.
        assert_eq!(r.measure(&CFG, 90_000), 0.0);
    }

    #[test]
    fn a_third_window_reuses_the_oldest_slot() {
        let mut r = Rate::per_second();
        r.record(&CFG, 1.0, 0);
        r.record(&CFG, 2.0, 30_000);
        r.record(&CFG, 4.0, 60_000); // replaces the sample started at 0
        assert!(close(r.measure(&CFG, 60_000), 6.0 / 30.0));
    }

    #[test]
    fn per_hour_rates_scale_the_unit() {
        let mut r = Rate::per_hour();
        r.record(&CFG, 1.0, 0);
        assert!(close(
            r.measure(&CFG, 30_000),
            1.0 / (30_000.0 / 3_600_000.0)
        ));
    }

    #[test]
    fn avg_and_max_are_nan_when_empty_and_windowed() {
        let mut a = Avg::default();
        let mut m = Max::default();
        assert!(a.measure(&CFG, 0).is_nan() && m.measure(&CFG, 0).is_nan());
        for (v, t) in [(10.0, 0), (20.0, 1_000), (3.0, 30_000)] {
            a.record(&CFG, v, t);
            m.record(&CFG, v, t);
        }
        assert!(close(a.measure(&CFG, 30_000), 11.0));
        assert_eq!(m.measure(&CFG, 30_000), 20.0);
        // The first sample expires at 60 s: only the 3 is left.
        assert!(close(a.measure(&CFG, 60_000), 3.0));
        assert_eq!(m.measure(&CFG, 60_000), 3.0);
        assert!(a.measure(&CFG, 90_000).is_nan() && m.measure(&CFG, 90_000).is_nan());
    }

    #[test]
    fn negative_values_are_a_max_too() {
        let mut m = Max::default();
        m.record(&CFG, -5.0, 0);
        assert_eq!(m.measure(&CFG, 1), -5.0);
    }

    #[test]
    fn a_meter_keeps_the_total_past_the_window() {
        let mut m = Meter::per_second();
        m.record(&CFG, 5.0, 0);
        m.record(&CFG, 5.0, 100_000);
        assert_eq!(m.total(), 10.0);
        // Only the second 5 is in the window: over one full window plus the 0 ms elapsed.
        assert!(close(m.rate(&CFG, 100_000), 5.0 / 30.0));
    }

    #[test]
    fn one_sample_config_uses_the_partial_window() {
        let cfg = MetricConfig {
            sample_window_ms: 1_000,
            num_samples: 1,
        };
        let mut r = Rate::per_second();
        r.record(&cfg, 4.0, 0);
        assert!(close(r.measure(&cfg, 500), 8.0));
        // At 1 s the only sample is a window old: reset.
        assert_eq!(r.measure(&cfg, 1_000), 0.0);
    }

    #[test]
    fn time_going_backwards_does_not_panic() {
        let mut r = Rate::per_second();
        r.record(&CFG, 1.0, 10_000);
        r.record(&CFG, 1.0, 5_000);
        assert!(r.measure(&CFG, 0).is_finite());
    }
}
