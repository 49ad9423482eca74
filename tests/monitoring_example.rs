//! `examples/monitoring.rs` (the README's "Monitoring" snippet) run as a test: the cluster serves
//! `/metrics`, the producer's snapshot counts its 100 records and no failure, its registry has
//! Kafka's JMX-exporter names, the consumer measured every record's end-to-end latency, and the
//! coordinator answers the group's lag evaluation with no lag left.

#[path = "../examples/monitoring.rs"]
mod monitoring;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_monitoring_snippet_sees_what_it_prints() {
    let seen = monitoring::run().await.unwrap();
    let url = seen.url.expect("metrics(true) serves /metrics");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    assert!(
        seen.producer.record_send_total >= 100,
        "{:?}",
        seen.producer
    );
    assert_eq!(seen.producer.record_error_total, 0);
    for name in [
        "kafka_producer_producer_metrics_record_send_total",
        "kafka_producer_producer_metrics_record_error_rate",
        "kafka_producer_producer_metrics_record_retry_rate",
    ] {
        assert!(
            seen.registry_text.contains(name),
            "{name} missing:\n{}",
            seen.registry_text
        );
    }
    assert_eq!(seen.consumer.records_consumed_total, 100);
    assert_eq!(seen.consumer.end_to_end_latency.count, 100);
    assert!(seen.consumer.end_to_end_latency.p50_ms <= seen.consumer.end_to_end_latency.max_ms);
    assert_eq!(seen.lag.group_id, "billing");
    assert_eq!(seen.lag.total_lag, 0, "{:?}", seen.lag);
}
