//! The consumer's metrics: Kafka's `consumer-fetch-manager-metrics` (lag, records consumed,
//! fetches) and `consumer-coordinator-metrics` (commits, rebalances), plus Brook's end-to-end
//! latency histogram. [`ConsumerMetrics`] is the snapshot `Consumer::metrics` returns;
//! `ConsumerStats` the sans-IO state; `ConsumerSensors` the shell poll, the fetcher, the
//! committer and the join task call (one mutex, the tokio clock, one wall-clock read per poll).
//!
//! What is recorded where (as Kafka's `FetchMetricsManager` / `ConsumerCoordinator`):
//! - each fetch response for a partition stores its high watermark; an empty one records the
//!   partition's lag (HW − position) at once, one with records when `poll` returns them (HW −
//!   the position after them: buffered records still count as lag, as in Kafka);
//! - each `poll` that returns records counts them (`records-consumed`) and adds `now − CreateTime`
//!   of each (LogAppendTime and negative timestamps skipped, negative differences as 0) to the
//!   end-to-end histogram, with one wall-clock read for the whole poll;
//! - each Fetch answer its round trip (`fetch-latency`), each OffsetCommit answer its round trip
//!   (`commit-latency`);
//! - a rebalance starts with the first JoinGroup of a join round and, as Kafka's
//!   `lastRebalanceStartMs`, keeps its start across failed rounds; a successful SyncGroup ends it
//!   (`rebalance-latency`, `rebalance-total`), a failed JoinGroup or SyncGroup counts in
//!   `failed-rebalance-total` (MEMBER_ID_REQUIRED is not a failure, as in Kafka).

use std::collections::BTreeMap;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::stats::{AvgMax, Max, Meter, MetricConfig};
use super::{KafkaMetric, MetricKind, MetricList, ms_f64};
use crate::consumer::{ConsumerRecord, Position, TimestampType};
use crate::topic_partition::TopicPartition;

/// The end-to-end latency of the records `poll` returned since the consumer was created: the
/// time from each record's CreateTime (set by the producer) to the `poll` that returned it, in
/// ms (a histogram with 3 significant digits). Records with LogAppendTime or no timestamp are not
/// counted; a CreateTime in the future (clock skew) counts as 0. Brook's own: Kafka's clients have
/// no such metric. Zeros while `count` is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EndToEndLatency {
    /// Records measured.
    pub count: u64,
    /// Median, in ms.
    pub p50_ms: u64,
    /// 99th percentile, in ms.
    pub p99_ms: u64,
    /// 99.9th percentile, in ms.
    pub p999_ms: u64,
    /// Largest, in ms.
    pub max_ms: u64,
    /// Mean, in ms.
    pub mean_ms: f64,
}

/// A snapshot of a consumer's metrics (tag `client-id`). Rates are per second (per hour where
/// the name says so) over the sample window (`metrics.sample.window.ms` ×
/// `metrics.num.samples`); `-avg` / `-max` are over the same window and NaN when nothing was
/// recorded in it, as Kafka's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerMetrics {
    /// The consumer's `client.id` (`consumer-GROUP-N` / `consumer-N` when not set).
    pub client_id: String,
    /// `records-lag` (consumer-fetch-manager-metrics, tags `topic`, `partition`): per assigned
    /// partition, the latest lag seen: the high watermark of the last fetch response minus the
    /// consumer's position.
    pub records_lag: BTreeMap<TopicPartition, i64>,
    /// `records-lag-max` (consumer-fetch-manager-metrics): the largest lag of any partition
    /// recorded in the window (NaN when none was).
    pub records_lag_max: f64,
    /// `records-consumed-rate` (consumer-fetch-manager-metrics): records returned by `poll` per
    /// second.
    pub records_consumed_rate: f64,
    /// `records-consumed-total` (consumer-fetch-manager-metrics): records returned by `poll`.
    pub records_consumed_total: u64,
    /// `fetch-rate` (consumer-fetch-manager-metrics): fetch responses per second.
    pub fetch_rate: f64,
    /// `fetch-total` (consumer-fetch-manager-metrics): fetch responses received.
    pub fetch_total: u64,
    /// `fetch-latency-avg` (consumer-fetch-manager-metrics): mean fetch round trip, in ms
    /// (including the broker's long-poll wait, `fetch.max.wait.ms`, as in Kafka).
    pub fetch_latency_avg_ms: f64,
    /// `fetch-latency-max` (consumer-fetch-manager-metrics): longest fetch round trip, in ms.
    pub fetch_latency_max_ms: f64,
    /// `commit-rate` (consumer-coordinator-metrics): OffsetCommit answers per second.
    pub commit_rate: f64,
    /// `commit-total` (consumer-coordinator-metrics): OffsetCommit answers received.
    pub commit_total: u64,
    /// `commit-latency-avg` (consumer-coordinator-metrics): mean OffsetCommit round trip, in ms.
    pub commit_latency_avg_ms: f64,
    /// `commit-latency-max` (consumer-coordinator-metrics): longest OffsetCommit round trip, in
    /// ms.
    pub commit_latency_max_ms: f64,
    /// `rebalance-total` (consumer-coordinator-metrics): rebalances this member completed
    /// (joined and synced).
    pub rebalance_total: u64,
    /// `rebalance-rate-per-hour` (consumer-coordinator-metrics): completed rebalances per hour.
    pub rebalance_rate_per_hour: f64,
    /// `rebalance-latency-avg` (consumer-coordinator-metrics): mean time from the first
    /// JoinGroup of a rebalance to its successful SyncGroup, in ms.
    pub rebalance_latency_avg_ms: f64,
    /// `rebalance-latency-max` (consumer-coordinator-metrics): longest such time, in ms.
    pub rebalance_latency_max_ms: f64,
    /// `rebalance-latency-total` (consumer-coordinator-metrics): the sum of all such times, in
    /// ms.
    pub rebalance_latency_total_ms: f64,
    /// `failed-rebalance-total` (consumer-coordinator-metrics): join rounds that failed (a
    /// JoinGroup or SyncGroup error).
    pub failed_rebalance_total: u64,
    /// `failed-rebalance-rate-per-hour` (consumer-coordinator-metrics): failed join rounds per
    /// hour.
    pub failed_rebalance_rate_per_hour: f64,
    /// `last-rebalance-seconds-ago` (consumer-coordinator-metrics): whole seconds since the last
    /// completed rebalance, -1 when there was none.
    pub last_rebalance_seconds_ago: f64,
    /// Brook: the end-to-end latency histogram of the records returned so far.
    pub end_to_end_latency: EndToEndLatency,
}

const DOMAIN: &str = "kafka.consumer";
const FETCH: &str = "consumer-fetch-manager-metrics";
const COORDINATOR: &str = "consumer-coordinator-metrics";

impl ConsumerMetrics {
    /// Every metric under its Kafka group, name and tags, with Kafka's description; Brook's
    /// end-to-end latency under domain `brook.consumer`, group `end-to-end-latency`.
    pub fn to_kafka_names(&self) -> Vec<KafkaMetric> {
        let mut l = MetricList::new(&self.client_id, DOMAIN, FETCH);
        for (tp, lag) in &self.records_lag {
            l.push(
                "records-lag",
                *lag as f64,
                MetricKind::Gauge,
                "The latest lag of the partition",
                vec![
                    ("topic", tp.topic.clone()),
                    ("partition", tp.partition.to_string()),
                ],
            );
        }
        l.gauge(
            "records-lag-max",
            self.records_lag_max,
            "The maximum lag in terms of number of records for any partition in this window",
        );
        l.gauge(
            "records-consumed-rate",
            self.records_consumed_rate,
            "The average number of records consumed per second",
        );
        l.counter(
            "records-consumed-total",
            self.records_consumed_total as f64,
            "The total number of records consumed",
        );
        l.gauge(
            "fetch-rate",
            self.fetch_rate,
            "The number of fetch requests per second.",
        );
        l.counter(
            "fetch-total",
            self.fetch_total as f64,
            "The total number of fetch requests.",
        );
        l.gauge(
            "fetch-latency-avg",
            self.fetch_latency_avg_ms,
            "The average time taken for a fetch request.",
        );
        l.gauge(
            "fetch-latency-max",
            self.fetch_latency_max_ms,
            "The max time taken for any fetch request.",
        );
        l.group(DOMAIN, COORDINATOR);
        l.gauge(
            "commit-rate",
            self.commit_rate,
            "The number of commit calls per second",
        );
        l.counter(
            "commit-total",
            self.commit_total as f64,
            "The total number of commit calls",
        );
        l.gauge(
            "commit-latency-avg",
            self.commit_latency_avg_ms,
            "The average time taken for a commit request",
        );
        l.gauge(
            "commit-latency-max",
            self.commit_latency_max_ms,
            "The max time taken for a commit request",
        );
        l.counter(
            "rebalance-total",
            self.rebalance_total as f64,
            "The total number of successful rebalance events, each event is composed of several \
             failed re-trials until it succeeded",
        );
        l.gauge(
            "rebalance-rate-per-hour",
            self.rebalance_rate_per_hour,
            "The number of successful rebalance events per hour, each event is composed of \
             several failed re-trials until it succeeded",
        );
        l.gauge(
            "rebalance-latency-avg",
            self.rebalance_latency_avg_ms,
            "The average time taken for a group to complete a successful rebalance, which may be \
             composed of several failed re-trials until it succeeded",
        );
        l.gauge(
            "rebalance-latency-max",
            self.rebalance_latency_max_ms,
            "The max time taken for a group to complete a successful rebalance, which may be \
             composed of several failed re-trials until it succeeded",
        );
        l.counter(
            "rebalance-latency-total",
            self.rebalance_latency_total_ms,
            "The total number of milliseconds this consumer has spent in successful rebalances \
             since creation",
        );
        l.counter(
            "failed-rebalance-total",
            self.failed_rebalance_total as f64,
            "The total number of failed rebalance events",
        );
        l.gauge(
            "failed-rebalance-rate-per-hour",
            self.failed_rebalance_rate_per_hour,
            "The number of failed rebalance events per hour",
        );
        l.gauge(
            "last-rebalance-seconds-ago",
            self.last_rebalance_seconds_ago,
            "The number of seconds since the last successful rebalance event",
        );
        l.group("brook.consumer", "end-to-end-latency");
        let e = &self.end_to_end_latency;
        l.counter(
            "records-total",
            e.count as f64,
            "Records whose end-to-end latency (CreateTime to poll) was measured",
        );
        for (name, v, what) in [
            (
                "p50-ms",
                e.p50_ms,
                "Median end-to-end latency (CreateTime to poll), ms",
            ),
            ("p99-ms", e.p99_ms, "99th percentile end-to-end latency, ms"),
            (
                "p999-ms",
                e.p999_ms,
                "99.9th percentile end-to-end latency, ms",
            ),
            ("max-ms", e.max_ms, "Largest end-to-end latency, ms"),
        ] {
            l.gauge(name, v as f64, what);
        }
        l.finish()
    }
}

/// The consumer's counters, sampled stats and end-to-end histogram (sans-IO: `now_ms` from any
/// monotonic clock, `wall_ms` the time of day for the end-to-end latency).
#[derive(Debug, Clone)]
pub(crate) struct ConsumerStats {
    cfg: MetricConfig,
    high_watermarks: BTreeMap<TopicPartition, i64>,
    lag: BTreeMap<TopicPartition, i64>,
    lag_max: Max,
    consumed: Meter,
    fetch: Meter,
    fetch_latency: AvgMax,
    commit: Meter,
    commit_latency: AvgMax,
    rebalance: Meter,
    rebalance_latency: AvgMax,
    failed_rebalance: Meter,
    rebalance_start_ms: Option<u64>,
    last_rebalance_end_ms: Option<u64>,
    rebalance_latency_total_ms: f64,
    end_to_end: Histogram<u64>,
}

/// The histogram of end-to-end latencies, in ms: auto-resizing, 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    // `new` fails only for a sigfig outside 0..=5; 3 is a constant.
    Histogram::new(3).expect("3 significant digits are supported")
}

impl ConsumerStats {
    pub fn new(cfg: MetricConfig) -> ConsumerStats {
        ConsumerStats {
            cfg,
            high_watermarks: BTreeMap::new(),
            lag: BTreeMap::new(),
            lag_max: Max::default(),
            consumed: Meter::per_second(),
            fetch: Meter::per_second(),
            fetch_latency: AvgMax::default(),
            commit: Meter::per_second(),
            commit_latency: AvgMax::default(),
            rebalance: Meter::per_hour(),
            rebalance_latency: AvgMax::default(),
            failed_rebalance: Meter::per_hour(),
            rebalance_start_ms: None,
            last_rebalance_end_ms: None,
            rebalance_latency_total_ms: 0.0,
            end_to_end: new_histogram(),
        }
    }

    fn record_lag(&mut self, now_ms: u64, tp: &TopicPartition, lag: i64) {
        self.lag_max.record(&self.cfg, lag as f64, now_ms);
        match self.lag.get_mut(tp) {
            Some(l) => *l = lag,
            None => {
                self.lag.insert(tp.clone(), lag);
            }
        }
    }

    /// A fetch response for `tp` at fetch position `position`: its high watermark and how many
    /// records it brought.
    pub fn fetched(
        &mut self,
        now_ms: u64,
        tp: &TopicPartition,
        hw: i64,
        position: i64,
        records: usize,
    ) {
        if hw < 0 {
            return;
        }
        self.high_watermarks.insert(tp.clone(), hw);
        if records == 0 {
            self.record_lag(now_ms, tp, (hw - position).max(0));
        }
    }

    /// `poll` returns `records`; `positions` are the positions after them.
    pub fn returned(
        &mut self,
        now_ms: u64,
        wall_ms: i64,
        records: &[ConsumerRecord],
        positions: &BTreeMap<TopicPartition, Position>,
    ) {
        if records.is_empty() {
            return;
        }
        self.consumed
            .record(&self.cfg, records.len() as f64, now_ms);
        let mut last: Option<(&str, i32)> = None;
        for r in records {
            if r.timestamp_type == TimestampType::CreateTime && r.timestamp >= 0 {
                let latency = u64::try_from(wall_ms.saturating_sub(r.timestamp)).unwrap_or(0);
                // Auto-resizing: fails only past u64 range limits, and then the value is dropped.
                let _ = self.end_to_end.record(latency);
            }
            let here = (r.topic.as_str(), r.partition);
            if last == Some(here) {
                continue;
            }
            last = Some(here);
            let tp = TopicPartition::new(&r.topic, r.partition);
            if let (Some(hw), Some(Position::At(pos))) =
                (self.high_watermarks.get(&tp).copied(), positions.get(&tp))
            {
                self.record_lag(now_ms, &tp, (hw - pos).max(0));
            }
        }
    }

    pub fn fetch_response(&mut self, now_ms: u64, latency_ms: f64) {
        self.fetch.record(&self.cfg, 1.0, now_ms);
        self.fetch_latency.record(&self.cfg, latency_ms, now_ms);
    }

    pub fn commit_response(&mut self, now_ms: u64, latency_ms: f64) {
        self.commit.record(&self.cfg, 1.0, now_ms);
        self.commit_latency.record(&self.cfg, latency_ms, now_ms);
    }

    pub fn rebalance_started(&mut self, now_ms: u64) {
        self.rebalance_start_ms.get_or_insert(now_ms);
    }

    pub fn rebalance_succeeded(&mut self, now_ms: u64) {
        let start = self.rebalance_start_ms.take().unwrap_or(now_ms);
        let latency = now_ms.saturating_sub(start) as f64;
        self.rebalance.record(&self.cfg, 1.0, now_ms);
        self.rebalance_latency.record(&self.cfg, latency, now_ms);
        self.rebalance_latency_total_ms += latency;
        self.last_rebalance_end_ms = Some(now_ms);
    }

    pub fn rebalance_failed(&mut self, now_ms: u64) {
        self.failed_rebalance.record(&self.cfg, 1.0, now_ms);
    }

    /// Forgets the partitions no longer assigned (Kafka removes their sensors).
    pub fn retain(&mut self, positions: &BTreeMap<TopicPartition, Position>) {
        if self.lag.keys().all(|tp| positions.contains_key(tp)) {
            return;
        }
        self.lag.retain(|tp, _| positions.contains_key(tp));
        self.high_watermarks
            .retain(|tp, _| positions.contains_key(tp));
    }

    pub fn snapshot(&mut self, now_ms: u64) -> ConsumerMetrics {
        let cfg = self.cfg;
        let (fetch_latency_avg_ms, fetch_latency_max_ms) = self.fetch_latency.measure(&cfg, now_ms);
        let (commit_latency_avg_ms, commit_latency_max_ms) =
            self.commit_latency.measure(&cfg, now_ms);
        let (rebalance_latency_avg_ms, rebalance_latency_max_ms) =
            self.rebalance_latency.measure(&cfg, now_ms);
        let h = &self.end_to_end;
        let end_to_end_latency = if h.is_empty() {
            EndToEndLatency::default()
        } else {
            EndToEndLatency {
                count: h.len(),
                p50_ms: h.value_at_quantile(0.5),
                p99_ms: h.value_at_quantile(0.99),
                p999_ms: h.value_at_quantile(0.999),
                max_ms: h.max(),
                mean_ms: h.mean(),
            }
        };
        ConsumerMetrics {
            client_id: String::new(),
            records_lag: self.lag.clone(),
            records_lag_max: self.lag_max.measure(&cfg, now_ms),
            records_consumed_rate: self.consumed.rate(&cfg, now_ms),
            records_consumed_total: self.consumed.total() as u64,
            fetch_rate: self.fetch.rate(&cfg, now_ms),
            fetch_total: self.fetch.total() as u64,
            fetch_latency_avg_ms,
            fetch_latency_max_ms,
            commit_rate: self.commit.rate(&cfg, now_ms),
            commit_total: self.commit.total() as u64,
            commit_latency_avg_ms,
            commit_latency_max_ms,
            rebalance_total: self.rebalance.total() as u64,
            rebalance_rate_per_hour: self.rebalance.rate(&cfg, now_ms),
            rebalance_latency_avg_ms,
            rebalance_latency_max_ms,
            rebalance_latency_total_ms: self.rebalance_latency_total_ms,
            failed_rebalance_total: self.failed_rebalance.total() as u64,
            failed_rebalance_rate_per_hour: self.failed_rebalance.rate(&cfg, now_ms),
            last_rebalance_seconds_ago: match self.last_rebalance_end_ms {
                Some(end) => (now_ms.saturating_sub(end) / 1000) as f64,
                None => -1.0,
            },
            end_to_end_latency,
        }
    }
}

/// The shell around [`ConsumerStats`], shared by the consumer, its coordinator client (commits,
/// the join task) and the fetcher.
#[derive(Debug)]
pub(crate) struct ConsumerSensors {
    client_id: String,
    origin: Instant,
    stats: Mutex<ConsumerStats>,
}

impl ConsumerSensors {
    pub fn new(client_id: String, cfg: MetricConfig) -> ConsumerSensors {
        ConsumerSensors {
            client_id,
            origin: Instant::now(),
            stats: Mutex::new(ConsumerStats::new(cfg)),
        }
    }

    /// The consumer's client id (also the one its group requests carry).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn with<T>(&self, f: impl FnOnce(&mut ConsumerStats, u64) -> T) -> T {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut stats, now)
    }

    /// A fetch response for `tp` (see [`ConsumerStats::fetched`]).
    pub fn fetched(&self, tp: &TopicPartition, hw: i64, position: i64, records: usize) {
        self.with(|s, t| s.fetched(t, tp, hw, position, records));
    }

    /// `poll` returns `records`; reads the wall clock once.
    pub fn returned(
        &self,
        records: &[ConsumerRecord],
        positions: &BTreeMap<TopicPartition, Position>,
    ) {
        if records.is_empty() {
            return;
        }
        let wall = brook_log::clock::unix_now_ms();
        self.with(|s, t| s.returned(t, wall, records, positions));
    }

    /// A Fetch answered after `latency`.
    pub fn fetch_response(&self, latency: std::time::Duration) {
        self.with(|s, t| s.fetch_response(t, ms_f64(latency)));
    }

    /// An OffsetCommit answered after `latency`.
    pub fn commit_response(&self, latency: std::time::Duration) {
        self.with(|s, t| s.commit_response(t, ms_f64(latency)));
    }

    /// A join round starts.
    pub fn rebalance_started(&self) {
        self.with(|s, t| s.rebalance_started(t));
    }

    /// A join round ended with a successful SyncGroup.
    pub fn rebalance_succeeded(&self) {
        self.with(|s, t| s.rebalance_succeeded(t));
    }

    /// A join round failed.
    pub fn rebalance_failed(&self) {
        self.with(|s, t| s.rebalance_failed(t));
    }

    /// Forgets partitions no longer assigned.
    pub fn retain(&self, positions: &BTreeMap<TopicPartition, Position>) {
        self.with(|s, _| s.retain(positions));
    }

    /// The snapshot.
    pub fn snapshot(&self) -> ConsumerMetrics {
        let mut m = self.with(|s, t| s.snapshot(t));
        m.client_id = self.client_id.clone();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        tp: &TopicPartition,
        offset: i64,
        timestamp: i64,
        ty: TimestampType,
    ) -> ConsumerRecord {
        ConsumerRecord {
            topic: tp.topic.clone(),
            partition: tp.partition,
            offset,
            timestamp,
            timestamp_type: ty,
            key: None,
            value: None,
            headers: Vec::new(),
            leader_epoch: None,
        }
    }

    #[test]
    fn lag_is_the_high_watermark_minus_the_position_after_the_records_returned() {
        let mut s = ConsumerStats::new(MetricConfig::default());
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        s.fetched(0, &a, 100, 0, 10);
        s.fetched(0, &b, 7, 7, 0); // caught up: lag 0 at once
        let recs: Vec<ConsumerRecord> = (0..10)
            .map(|o| record(&a, o, 1_000, TimestampType::CreateTime))
            .collect();
        let positions =
            BTreeMap::from([(a.clone(), Position::At(10)), (b.clone(), Position::At(7))]);
        s.returned(10, 1_500, &recs, &positions);
        let m = s.snapshot(1_000);
        assert_eq!(
            m.records_lag,
            BTreeMap::from([(a.clone(), 90), (b.clone(), 0)])
        );
        assert_eq!(m.records_lag_max, 90.0);
        assert_eq!(m.records_consumed_total, 10);
        // Unassigning forgets the partition's lag.
        s.retain(&BTreeMap::from([(b.clone(), Position::At(7))]));
        assert_eq!(s.snapshot(1_000).records_lag.len(), 1);
    }

    #[test]
    fn lag_max_is_windowed() {
        let cfg = MetricConfig {
            sample_window_ms: 100,
            num_samples: 2,
        };
        let mut s = ConsumerStats::new(cfg);
        let tp = TopicPartition::new("t", 0);
        s.fetched(0, &tp, 50, 0, 0);
        assert_eq!(s.snapshot(10).records_lag_max, 50.0);
        s.fetched(150, &tp, 50, 50, 0);
        // The 50 is in a sample two windows old at 200: only the 0 is left.
        assert_eq!(s.snapshot(200).records_lag_max, 0.0);
    }

    #[test]
    fn end_to_end_latency_counts_create_time_records_only() {
        let mut s = ConsumerStats::new(MetricConfig::default());
        let tp = TopicPartition::new("t", 0);
        let mut recs: Vec<ConsumerRecord> = (0..100)
            .map(|i| record(&tp, i, 10_000 - i, TimestampType::CreateTime))
            .collect();
        recs.push(record(&tp, 100, 5_000, TimestampType::LogAppendTime));
        recs.push(record(&tp, 101, -1, TimestampType::CreateTime));
        recs.push(record(&tp, 102, 20_000, TimestampType::CreateTime)); // in the future: 0
        s.returned(0, 10_000, &recs, &BTreeMap::new());
        let e = s.snapshot(0).end_to_end_latency;
        assert_eq!(e.count, 101);
        assert_eq!(e.max_ms, 99);
        assert!(e.p50_ms <= e.p99_ms && e.p99_ms <= e.p999_ms && e.p999_ms <= e.max_ms);
        assert!((48..=50).contains(&e.p50_ms), "{e:?}");
        assert_eq!(s.snapshot(0).records_consumed_total, 103);
    }

    #[test]
    fn rebalance_latency_spans_failed_rounds() {
        let mut s = ConsumerStats::new(MetricConfig::default());
        s.rebalance_started(1_000);
        s.rebalance_failed(1_200);
        s.rebalance_started(1_500); // a retry keeps the first start
        s.rebalance_succeeded(1_800);
        let m = s.snapshot(5_000);
        assert_eq!((m.rebalance_total, m.failed_rebalance_total), (1, 1));
        assert_eq!(m.rebalance_latency_max_ms, 800.0);
        assert_eq!(m.rebalance_latency_total_ms, 800.0);
        assert_eq!(m.last_rebalance_seconds_ago, 3.0);
        assert_eq!(
            ConsumerStats::new(MetricConfig::default())
                .snapshot(0)
                .last_rebalance_seconds_ago,
            -1.0
        );
    }

    #[test]
    fn kafka_names_cover_both_groups() {
        let m = ConsumerMetrics {
            client_id: "c".into(),
            records_lag: BTreeMap::from([(TopicPartition::new("t", 3), 4)]),
            ..Default::default()
        };
        let names = m.to_kafka_names();
        let lag = names.iter().find(|k| k.name == "records-lag").expect("lag");
        assert_eq!(
            lag.prometheus_labels(),
            vec![
                ("client_id".to_string(), "c".to_string()),
                ("topic".into(), "t".into()),
                ("partition".into(), "3".into())
            ]
        );
        let groups: Vec<&str> = names.iter().map(|k| k.group).collect();
        for g in [FETCH, COORDINATOR, "end-to-end-latency"] {
            assert!(groups.contains(&g), "{g}");
        }
        for n in [
            "records-lag-max",
            "records-consumed-rate",
            "fetch-latency-avg",
            "commit-latency-avg",
            "rebalance-total",
            "rebalance-latency-avg",
            "rebalance-latency-max",
            "failed-rebalance-total",
        ] {
            assert!(names.iter().any(|k| k.name == n), "{n}");
        }
    }
}
