//! README, "Monitoring": the snippet, compiled (`tests/readme.rs` checks that the README still
//! shows exactly these lines) and run by `tests/monitoring_example.rs`. Run it with
//! `cargo run --example monitoring`: three brokers serving `/metrics`, a producer and a consumer
//! reading their own metrics, the producer's into a Prometheus registry, and the group's lag
//! judged by its coordinator with Burrow's rules.

use brook::client::admin::GroupLag;
use brook::client::{ConsumerMetrics, ProducerMetrics};

/// What one run saw (tests/monitoring_example.rs checks it).
pub struct Seen {
    /// Broker 1's `/metrics` URL.
    pub url: Option<String>,
    /// The producer's snapshot after its 100 records were acknowledged.
    pub producer: ProducerMetrics,
    /// The producer's metrics as a Prometheus registry encodes them.
    pub registry_text: String,
    /// The consumer's snapshot after it read the 100 records.
    pub consumer: ConsumerMetrics,
    /// The group's evaluation by its coordinator.
    pub lag: GroupLag,
}

#[rustfmt::skip] // the body is the README's text, line for line
pub async fn run() -> Result<Seen, Box<dyn std::error::Error>> {
    let cluster = brook::Cluster::builder().brokers(3).metrics(true).start().await?;
    let url = cluster.metrics_url(1);                      // Some("http://127.0.0.1:PORT/metrics")
    cluster.create_topic("orders", 3, 3).await?;
    let producer = cluster.producer().build().await?;
    for i in 0..100 {
        producer.send(brook::ProducerRecord::new("orders", format!("order {i}"))).await?;
    }
    producer.flush().await;
    let p = producer.metrics();                            // Kafka's producer-metrics, a snapshot
    println!("sent {} retried {} failed {}", p.record_send_total, p.record_retry_total, p.record_error_total);
    let mut registry = prometheus_client::registry::Registry::default();
    producer.register_metrics(&mut registry);              // brook-client's feature "prometheus"
    let mut registry_text = String::new();
    prometheus_client::encoding::text::encode(&mut registry_text, &registry)?;

    let mut consumer = cluster.consumer().group_id("billing").from_beginning().build().await?;
    consumer.subscribe(vec!["orders".into()], brook::client::consumer::NoopRebalanceListener)?;
    let mut read = 0;
    while read < 100 {
        read += consumer.poll(std::time::Duration::from_millis(500)).await?.len();
    }
    consumer.commit_sync().await?;
    let c = consumer.metrics();                            // records-lag, end-to-end latency, …
    println!("records-lag-max {} end-to-end p99 {} ms", c.records_lag_max, c.end_to_end_latency.p99_ms);
    let lag = cluster.admin()?.group_lag("billing").await?;   // Burrow's rules, at the coordinator
    println!("group billing: {} (total lag {})", lag.status, lag.total_lag);
    consumer.close().await?;
    cluster.shutdown().await?;
    Ok(Seen { url, producer: p, registry_text, consumer: c, lag })
}

#[allow(dead_code)] // a test includes this file for `run`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await.map(|_| ())
}
