//! Client metrics with Kafka's names and Kafka's sampled-rate semantics: what the producer and
//! the consumer count, how they are read as a snapshot ([`ProducerMetrics`],
//! [`ConsumerMetrics`]), and (feature `prometheus`) how a caller's `prometheus_client` registry
//! scrapes them.
//!
//! The mechanisms are sans-IO: [`stats`] (Kafka's `Rate`, `Avg`, `Max`, `Meter` over
//! `metrics.num.samples` windows of `metrics.sample.window.ms`), the producer's and consumer's
//! stats structs (plain data, time passed in). The thin shells (`ProducerSensors`,
//! `ConsumerSensors`) own one mutex and one clock (the tokio clock, so paused-time tests work;
//! the wall clock only for end-to-end latency, whose start is a record's CreateTime) and are what
//! the producer's sender and the consumer's poll call: one call per batch, request, fetch
//! response, commit, rebalance step or poll, never per record.
//!
//! ```text
//! metrics/
//!   mod.rs         this map; KafkaMetric (a metric under its Kafka group/name/tags)
//!   stats.rs       MetricConfig, Rate, Avg, Max, Meter, AvgMax (sans-IO, unit-tested)
//!   producer.rs    ProducerMetrics (snapshot), ProducerStats (sans-IO), ProducerSensors (shell)
//!   consumer.rs    ConsumerMetrics, EndToEndLatency (snapshots), ConsumerStats (sans-IO, with the
//!                  end-to-end histogram), ConsumerSensors (shell)
//!   prometheus.rs  (feature `prometheus`) a Collector encoding a snapshot at scrape time under
//!                  the JMX exporter's names: kafka_producer_producer_metrics_record_send_rate…
//! ```

mod consumer;
mod producer;
#[cfg(feature = "prometheus")]
pub(crate) mod prometheus;
pub mod stats;

pub(crate) use consumer::ConsumerSensors;
pub use consumer::{ConsumerMetrics, EndToEndLatency};
pub use producer::ProducerMetrics;
pub(crate) use producer::ProducerSensors;
pub use stats::MetricConfig;

/// Whether a metric only grows (Kafka's `-total` metrics, a cumulative sum or count) or may go
/// up and down (rates, averages, maxima, lags, gauges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A value that may go up and down.
    Gauge,
    /// A cumulative total.
    Counter,
}

/// One metric under Kafka's naming: the JMX domain (`kafka.producer`), the group (the MBean's
/// `type`, e.g. `producer-metrics`), the name (`record-send-rate`) and the tags (`client-id`,
/// `topic`, `partition`), with its value and Kafka's description.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaMetric {
    /// JMX domain: `kafka.producer`, `kafka.consumer`, or `brook.consumer` for Brook's own.
    pub domain: &'static str,
    /// Kafka's metric group (`producer-metrics`, `consumer-fetch-manager-metrics`,
    /// `consumer-coordinator-metrics`).
    pub group: &'static str,
    /// Kafka's metric name (`record-send-rate`, …).
    pub name: &'static str,
    /// Tags in Kafka's spelling (`client-id`, `topic`, `partition`), in this order.
    pub tags: Vec<(&'static str, String)>,
    /// The value (NaN for a windowed average or maximum with nothing in the window, as Kafka).
    pub value: f64,
    /// Gauge or cumulative counter.
    pub kind: MetricKind,
    /// Kafka's description of the metric.
    pub description: &'static str,
}

impl KafkaMetric {
    /// The name the Prometheus JMX exporter gives it with its default rules: domain, group and
    /// name joined by `_`, every character outside `[a-zA-Z0-9_]` as `_`
    /// (`kafka_producer_producer_metrics_record_send_rate`). Counters keep their `_total`.
    pub fn prometheus_name(&self) -> String {
        format!("{}_{}_{}", self.domain, self.group, self.name)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    }

    /// The tags as Prometheus labels (`client-id` → `client_id`).
    pub fn prometheus_labels(&self) -> Vec<(String, String)> {
        self.tags
            .iter()
            .map(|(k, v)| (k.replace('-', "_"), v.clone()))
            .collect()
    }
}

/// Builds the metrics of one group with shared tags.
pub(crate) struct MetricList {
    out: Vec<KafkaMetric>,
    domain: &'static str,
    group: &'static str,
    tags: Vec<(&'static str, String)>,
}

impl MetricList {
    pub fn new(client_id: &str, domain: &'static str, group: &'static str) -> MetricList {
        MetricList {
            out: Vec::new(),
            domain,
            group,
            tags: vec![("client-id", client_id.to_string())],
        }
    }

    /// Switches to another group (same domain and client id).
    pub fn group(&mut self, domain: &'static str, group: &'static str) {
        self.domain = domain;
        self.group = group;
    }

    pub fn gauge(&mut self, name: &'static str, value: f64, description: &'static str) {
        self.push(name, value, MetricKind::Gauge, description, Vec::new());
    }

    pub fn counter(&mut self, name: &'static str, value: f64, description: &'static str) {
        self.push(name, value, MetricKind::Counter, description, Vec::new());
    }

    pub fn push(
        &mut self,
        name: &'static str,
        value: f64,
        kind: MetricKind,
        description: &'static str,
        extra_tags: Vec<(&'static str, String)>,
    ) {
        let mut tags = self.tags.clone();
        tags.extend(extra_tags);
        self.out.push(KafkaMetric {
            domain: self.domain,
            group: self.group,
            name,
            tags,
            value,
            kind,
            description,
        });
    }

    pub fn finish(self) -> Vec<KafkaMetric> {
        self.out
    }
}

/// Milliseconds as f64 (the unit of Kafka's latency metrics).
pub(crate) fn ms_f64(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_names_follow_the_jmx_exporter() {
        let m = KafkaMetric {
            domain: "kafka.consumer",
            group: "consumer-fetch-manager-metrics",
            name: "records-lag",
            tags: vec![
                ("client-id", "c-1".into()),
                ("topic", "t".into()),
                ("partition", "0".into()),
            ],
            value: 3.0,
            kind: MetricKind::Gauge,
            description: "",
        };
        assert_eq!(
            m.prometheus_name(),
            "kafka_consumer_consumer_fetch_manager_metrics_records_lag"
        );
        assert_eq!(m.prometheus_labels()[0], ("client_id".into(), "c-1".into()));
    }
}
