//! The producer's metrics (Kafka's `producer-metrics` group, `SenderMetricsRegistry`):
//! [`ProducerMetrics`], the snapshot `Producer::metrics` returns; `ProducerStats`, the sans-IO
//! counters and sampled stats; `ProducerSensors`, the shell the sender calls (one mutex, the
//! tokio clock).
//!
//! What is recorded where (as Kafka's `Sender`): each time a batch is drained into a produce
//! request — first send or retry — its records count into `record-send`, its size into
//! `batch-size`, its time since creation into `record-queue-time`, and, on a retry, its records
//! into `record-retry`; each produce request into `request`; each answer that arrived (not a
//! transport failure or timeout) its round trip into `request-latency`; each record that finally
//! failed (at `send`, or its batch failed for good) into `record-error`.

use std::sync::Mutex;

use tokio::time::Instant;

use super::stats::{AvgMax, Meter, MetricConfig};
use super::{KafkaMetric, MetricList, ms_f64};

/// A snapshot of a producer's metrics (Kafka's `producer-metrics` group, tag `client-id`). Rates
/// are per second over the sample window (`metrics.sample.window.ms` × `metrics.num.samples`);
/// `-avg` / `-max` are over the same window and NaN when nothing was recorded in it, as Kafka's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerMetrics {
    /// The producer's `client.id` (`producer-N` when not set), the `client-id` tag.
    pub client_id: String,
    /// `record-send-rate` (producer-metrics): records sent per second, counted each time their
    /// batch goes into a produce request (a retried batch counts again, as in Kafka).
    pub record_send_rate: f64,
    /// `record-send-total` (producer-metrics): records sent, as `record-send-rate` counts them.
    pub record_send_total: u64,
    /// `record-error-rate` (producer-metrics): records per second whose send finally failed
    /// (rejected by `send`, or their batch failed for good: a non-retriable error, retries or
    /// `delivery.timeout.ms` exhausted).
    pub record_error_rate: f64,
    /// `record-error-total` (producer-metrics): records whose send finally failed.
    pub record_error_total: u64,
    /// `record-retry-rate` (producer-metrics): records per second in batches sent again after a
    /// retriable failure.
    pub record_retry_rate: f64,
    /// `record-retry-total` (producer-metrics): records in batches sent again.
    pub record_retry_total: u64,
    /// `request-rate` (producer-metrics): produce requests sent per second (Kafka's counts every
    /// request of the connection; Brook's the produce requests).
    pub request_rate: f64,
    /// `request-total` (producer-metrics): produce requests sent.
    pub request_total: u64,
    /// `response-total` (producer-metrics): produce responses received (requests that failed in
    /// transport or timed out are not counted, as in Kafka).
    pub response_total: u64,
    /// `request-latency-avg` (producer-metrics): mean round trip of the produce requests answered
    /// in the window, in ms.
    pub request_latency_avg_ms: f64,
    /// `request-latency-max` (producer-metrics): longest such round trip, in ms.
    pub request_latency_max_ms: f64,
    /// Brook: the sum of every answered request's round trip since the start, in ms (with
    /// `response_total`, a mean between two snapshots); no Kafka counterpart.
    pub request_latency_sum_ms: f64,
    /// `record-queue-time-avg` (producer-metrics): mean time batches spent in the accumulator
    /// (creation to being drained into a request; for a retry, creation to that resend), in ms.
    pub record_queue_time_avg_ms: f64,
    /// `record-queue-time-max` (producer-metrics): longest such time, in ms.
    pub record_queue_time_max_ms: f64,
    /// `batch-size-avg` (producer-metrics): mean encoded size of the batches sent, in bytes.
    pub batch_size_avg: f64,
    /// `batch-size-max` (producer-metrics): largest batch sent, in bytes.
    pub batch_size_max: f64,
    /// `buffer-available-bytes` (producer-metrics): `buffer.memory` not held by queued or
    /// unacknowledged records.
    pub buffer_available_bytes: u64,
    /// `buffer-total-bytes` (producer-metrics): `buffer.memory`.
    pub buffer_total_bytes: u64,
}

const DOMAIN: &str = "kafka.producer";
const GROUP: &str = "producer-metrics";

impl ProducerMetrics {
    /// Every metric under its Kafka group, name and tags, with Kafka's description.
    pub fn to_kafka_names(&self) -> Vec<KafkaMetric> {
        let mut l = MetricList::new(&self.client_id, DOMAIN, GROUP);
        l.gauge(
            "record-send-rate",
            self.record_send_rate,
            "The average number of records sent per second.",
        );
        l.counter(
            "record-send-total",
            self.record_send_total as f64,
            "The total number of records sent.",
        );
        l.gauge(
            "record-error-rate",
            self.record_error_rate,
            "The average per-second number of record sends that resulted in errors.",
        );
        l.counter(
            "record-error-total",
            self.record_error_total as f64,
            "The total number of record sends that resulted in errors.",
        );
        l.gauge(
            "record-retry-rate",
            self.record_retry_rate,
            "The average per-second number of retried record sends.",
        );
        l.counter(
            "record-retry-total",
            self.record_retry_total as f64,
            "The total number of retried record sends.",
        );
        l.gauge(
            "request-rate",
            self.request_rate,
            "The number of produce requests sent per second.",
        );
        l.counter(
            "request-total",
            self.request_total as f64,
            "The total number of produce requests sent.",
        );
        l.counter(
            "response-total",
            self.response_total as f64,
            "The total number of produce responses received.",
        );
        l.gauge(
            "request-latency-avg",
            self.request_latency_avg_ms,
            "The average request latency in ms.",
        );
        l.gauge(
            "request-latency-max",
            self.request_latency_max_ms,
            "The maximum request latency in ms.",
        );
        l.gauge(
            "record-queue-time-avg",
            self.record_queue_time_avg_ms,
            "The average time in ms record batches spent in the send buffer.",
        );
        l.gauge(
            "record-queue-time-max",
            self.record_queue_time_max_ms,
            "The maximum time in ms record batches spent in the send buffer.",
        );
        l.gauge(
            "batch-size-avg",
            self.batch_size_avg,
            "The average number of bytes sent per partition per-request.",
        );
        l.gauge(
            "batch-size-max",
            self.batch_size_max,
            "The max number of bytes sent per partition per-request.",
        );
        l.gauge(
            "buffer-available-bytes",
            self.buffer_available_bytes as f64,
            "The total amount of buffer memory that is not being used (either unallocated or in \
             the free list).",
        );
        l.gauge(
            "buffer-total-bytes",
            self.buffer_total_bytes as f64,
            "The maximum amount of buffer memory the client can use (whether or not it is \
             currently used).",
        );
        l.finish()
    }
}

/// The producer's counters and sampled stats (sans-IO: `now_ms` from any monotonic clock).
#[derive(Debug, Clone)]
pub(crate) struct ProducerStats {
    cfg: MetricConfig,
    record_send: Meter,
    record_error: Meter,
    record_retry: Meter,
    request: Meter,
    response_total: u64,
    request_latency: AvgMax,
    request_latency_sum_ms: f64,
    queue_time: AvgMax,
    batch_size: AvgMax,
}

impl ProducerStats {
    pub fn new(cfg: MetricConfig) -> ProducerStats {
        ProducerStats {
            cfg,
            record_send: Meter::per_second(),
            record_error: Meter::per_second(),
            record_retry: Meter::per_second(),
            request: Meter::per_second(),
            response_total: 0,
            request_latency: AvgMax::default(),
            request_latency_sum_ms: 0.0,
            queue_time: AvgMax::default(),
            batch_size: AvgMax::default(),
        }
    }

    /// A batch of `records` records and `bytes` bytes went into a request, `queue_ms` after it
    /// was created; `retry` when it was sent before.
    pub fn batch_drained(
        &mut self,
        now_ms: u64,
        records: usize,
        bytes: usize,
        queue_ms: f64,
        retry: bool,
    ) {
        let cfg = &self.cfg;
        self.record_send.record(cfg, records as f64, now_ms);
        if retry {
            self.record_retry.record(cfg, records as f64, now_ms);
        }
        self.batch_size.record(cfg, bytes as f64, now_ms);
        self.queue_time.record(cfg, queue_ms, now_ms);
    }

    pub fn request_sent(&mut self, now_ms: u64) {
        self.request.record(&self.cfg, 1.0, now_ms);
    }

    pub fn response(&mut self, now_ms: u64, latency_ms: f64) {
        self.response_total += 1;
        self.request_latency_sum_ms += latency_ms;
        self.request_latency.record(&self.cfg, latency_ms, now_ms);
    }

    pub fn record_errors(&mut self, now_ms: u64, records: usize) {
        self.record_error.record(&self.cfg, records as f64, now_ms);
    }

    pub fn snapshot(&mut self, now_ms: u64) -> ProducerMetrics {
        let cfg = self.cfg;
        let (request_latency_avg_ms, request_latency_max_ms) =
            self.request_latency.measure(&cfg, now_ms);
        let (record_queue_time_avg_ms, record_queue_time_max_ms) =
            self.queue_time.measure(&cfg, now_ms);
        let (batch_size_avg, batch_size_max) = self.batch_size.measure(&cfg, now_ms);
        ProducerMetrics {
            client_id: String::new(),
            record_send_rate: self.record_send.rate(&cfg, now_ms),
            record_send_total: self.record_send.total() as u64,
            record_error_rate: self.record_error.rate(&cfg, now_ms),
            record_error_total: self.record_error.total() as u64,
            record_retry_rate: self.record_retry.rate(&cfg, now_ms),
            record_retry_total: self.record_retry.total() as u64,
            request_rate: self.request.rate(&cfg, now_ms),
            request_total: self.request.total() as u64,
            response_total: self.response_total,
            request_latency_avg_ms,
            request_latency_max_ms,
            request_latency_sum_ms: self.request_latency_sum_ms,
            record_queue_time_avg_ms,
            record_queue_time_max_ms,
            batch_size_avg,
            batch_size_max,
            buffer_available_bytes: 0,
            buffer_total_bytes: 0,
        }
    }
}

/// The shell around [`ProducerStats`]: the producer's client id, a clock origin, one mutex.
#[derive(Debug)]
pub(crate) struct ProducerSensors {
    client_id: String,
    origin: Instant,
    stats: Mutex<ProducerStats>,
}

impl ProducerSensors {
    pub fn new(client_id: String, cfg: MetricConfig) -> ProducerSensors {
        ProducerSensors {
            client_id,
            origin: Instant::now(),
            stats: Mutex::new(ProducerStats::new(cfg)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn with<T>(&self, f: impl FnOnce(&mut ProducerStats, u64) -> T) -> T {
        let now = self.now_ms();
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut stats, now)
    }

    /// A batch created at `created` went into a request at `now` (`retry`: not its first time).
    pub fn batch_drained(
        &self,
        now: Instant,
        created: Instant,
        records: usize,
        bytes: usize,
        retry: bool,
    ) {
        let queue_ms = ms_f64(now.saturating_duration_since(created));
        self.with(|s, t| s.batch_drained(t, records, bytes, queue_ms, retry));
    }

    /// A produce request was sent.
    pub fn request_sent(&self) {
        self.with(|s, t| s.request_sent(t));
    }

    /// A produce request was answered after `latency`.
    pub fn response(&self, latency: std::time::Duration) {
        self.with(|s, t| s.response(t, ms_f64(latency)));
    }

    /// `records` records failed for good.
    pub fn record_errors(&self, records: usize) {
        self.with(|s, t| s.record_errors(t, records));
    }

    /// The snapshot, with the buffer figures the producer knows.
    pub fn snapshot(&self, buffer_available: u64, buffer_total: u64) -> ProducerMetrics {
        let mut m = self.with(|s, t| s.snapshot(t));
        m.client_id = self.client_id.clone();
        m.buffer_available_bytes = buffer_available;
        m.buffer_total_bytes = buffer_total;
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_count_as_sends_and_retries_errors_separately() {
        let mut s = ProducerStats::new(MetricConfig::default());
        s.batch_drained(0, 10, 1000, 5.0, false);
        s.request_sent(0);
        s.batch_drained(100, 10, 1000, 120.0, true);
        s.request_sent(100);
        s.response(150, 50.0);
        s.record_errors(200, 1);
        let m = s.snapshot(1_000);
        assert_eq!(
            (
                m.record_send_total,
                m.record_retry_total,
                m.record_error_total
            ),
            (20, 10, 1)
        );
        assert_eq!((m.request_total, m.response_total), (2, 1));
        // The retry sample started at 100 ms: at 1 s the rate is over 0.9 s + one full window.
        assert!((m.record_retry_rate - 10.0 / 30.9).abs() < 1e-9);
        assert_eq!(
            (m.request_latency_avg_ms, m.request_latency_max_ms),
            (50.0, 50.0)
        );
        assert_eq!(m.record_queue_time_max_ms, 120.0);
        assert_eq!(m.batch_size_avg, 1000.0);
        // Past two windows the rates and averages are empty; the totals stay.
        let later = s.snapshot(100_000);
        assert_eq!(later.record_retry_rate, 0.0);
        assert!(later.request_latency_avg_ms.is_nan());
        assert_eq!(later.record_retry_total, 10);
        assert_eq!(later.request_latency_sum_ms, 50.0);
    }

    #[test]
    fn kafka_names_are_kafkas() {
        let m = ProducerMetrics {
            client_id: "p".into(),
            record_retry_total: 3,
            ..Default::default()
        };
        let names = m.to_kafka_names();
        let retry = names
            .iter()
            .find(|k| k.name == "record-retry-total")
            .expect("record-retry-total");
        assert_eq!(retry.value, 3.0);
        assert_eq!(retry.group, "producer-metrics");
        assert_eq!(
            retry.prometheus_name(),
            "kafka_producer_producer_metrics_record_retry_total"
        );
        for n in [
            "record-send-rate",
            "record-error-rate",
            "record-retry-rate",
            "request-latency-avg",
            "request-latency-max",
            "record-queue-time-avg",
            "batch-size-avg",
            "buffer-available-bytes",
        ] {
            assert!(names.iter().any(|k| k.name == n), "{n}");
        }
    }
}
