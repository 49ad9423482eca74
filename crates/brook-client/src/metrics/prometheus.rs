//! (Feature `prometheus`.) A `prometheus_client` [`Collector`] that takes a fresh snapshot of a
//! producer's or consumer's metrics at every scrape and encodes it under the names the
//! Prometheus JMX exporter gives Kafka's client MBeans with its default rules:
//! `kafka_producer_producer_metrics_record_send_rate{client_id="…"}`,
//! `kafka_consumer_consumer_fetch_manager_metrics_records_lag{client_id,topic,partition}`,
//! `kafka_consumer_consumer_coordinator_metrics_rebalance_total{client_id}`, … Kafka's `-total`
//! metrics are counters (their name keeps `_total`), the rest gauges; NaN (an empty window) is
//! encoded as NaN, as the JMX exporter does.
//!
//! Each registered client adds its own collector; two clients in one registry repeat a metric
//! family's `# HELP` / `# TYPE` lines (their samples differ by `client_id`).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::registry::Registry;

use super::{KafkaMetric, MetricKind};

type Source = Box<dyn Fn() -> Vec<KafkaMetric> + Send + Sync>;

/// Encodes `source()` at each scrape.
pub(crate) struct SnapshotCollector {
    source: Source,
}

impl std::fmt::Debug for SnapshotCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotCollector").finish_non_exhaustive()
    }
}

/// Registers a collector over `source` into `registry`.
pub(crate) fn register(registry: &mut Registry, source: Source) {
    registry.register_collector(Box::new(SnapshotCollector { source }));
}

/// A metric value already computed, encoded as a gauge or a counter.
struct Value(f64, MetricKind);

impl EncodeMetric for Value {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        match self.1 {
            MetricKind::Gauge => encoder.encode_gauge(&self.0),
            // Whole totals print as integers (`7`, not `7.0`).
            MetricKind::Counter if self.0 >= 0.0 && self.0.fract() == 0.0 && self.0 < 2e18 => {
                encoder.encode_counter::<NoLabelSet, u64, f64>(
                    &(self.0 as u64),
                    None::<&Exemplar<NoLabelSet, f64>>,
                )
            }
            MetricKind::Counter => encoder.encode_counter::<NoLabelSet, f64, f64>(
                &self.0,
                None::<&Exemplar<NoLabelSet, f64>>,
            ),
        }
    }

    fn metric_type(&self) -> MetricType {
        match self.1 {
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Counter => MetricType::Counter,
        }
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let metrics = (self.source)();
        let mut i = 0;
        // One family per name (the per-partition `records-lag` samples share one).
        while i < metrics.len() {
            let name = metrics[i].prometheus_name();
            let mut j = i + 1;
            while j < metrics.len() && metrics[j].prometheus_name() == name {
                j += 1;
            }
            let first = &metrics[i];
            let kind = Value(0.0, first.kind);
            // The text encoder appends `_total` to a counter's name.
            let family = match first.kind {
                MetricKind::Counter => name.strip_suffix("_total").unwrap_or(&name),
                MetricKind::Gauge => &name,
            };
            let mut family_encoder =
                encoder.encode_descriptor(family, first.description, None, kind.metric_type())?;
            for m in &metrics[i..j] {
                let labels = m.prometheus_labels();
                let sample = family_encoder.encode_family(&labels)?;
                Value(m.value, m.kind).encode(sample)?;
            }
            i = j;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prometheus_client::encoding::text::encode;

    use super::*;
    use crate::TopicPartition;
    use crate::metrics::{ConsumerMetrics, ProducerMetrics};

    #[test]
    fn a_scrape_encodes_the_snapshot_under_jmx_exporter_names() {
        let mut registry = Registry::default();
        register(
            &mut registry,
            Box::new(|| {
                ProducerMetrics {
                    client_id: "p-1".into(),
                    record_send_total: 7,
                    record_retry_rate: 0.5,
                    ..Default::default()
                }
                .to_kafka_names()
            }),
        );
        register(
            &mut registry,
            Box::new(|| {
                ConsumerMetrics {
                    client_id: "c-1".into(),
                    records_lag: BTreeMap::from([
                        (TopicPartition::new("t", 0), 3),
                        (TopicPartition::new("t", 1), 0),
                    ]),
                    rebalance_total: 2,
                    ..Default::default()
                }
                .to_kafka_names()
            }),
        );
        let mut text = String::new();
        encode(&mut text, &registry).expect("encoding into a String");
        for line in [
            r#"kafka_producer_producer_metrics_record_send_total{client_id="p-1"} 7"#,
            r#"kafka_producer_producer_metrics_record_retry_rate{client_id="p-1"} 0.5"#,
            r#"kafka_consumer_consumer_fetch_manager_metrics_records_lag{client_id="c-1",topic="t",partition="0"} 3.0"#,
            r#"kafka_consumer_consumer_fetch_manager_metrics_records_lag{client_id="c-1",topic="t",partition="1"} 0.0"#,
            r#"kafka_consumer_consumer_coordinator_metrics_rebalance_total{client_id="c-1"} 2"#,
            "# TYPE kafka_producer_producer_metrics_record_send counter",
            "# TYPE kafka_producer_producer_metrics_buffer_available_bytes gauge",
            "# TYPE brook_consumer_end_to_end_latency_p99_ms gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
        // One family for the two partitions' lag.
        let lag_types = text
            .lines()
            .filter(|l| {
                l.starts_with("# TYPE kafka_consumer_consumer_fetch_manager_metrics_records_lag ")
            })
            .count();
        assert_eq!(lag_types, 1, "{text}");
    }
}
