//! The Rust client against a real broker: pipelined idempotent production keeps order and
//! exactly-once, consumers resume from committed offsets, and errors arrive typed.

use std::time::Duration;

use brook_broker::{BrokerConfig, BrokerHandle};
use brook_client::admin::Admin;
use brook_client::consumer::Consumer;
use brook_client::{
    AdminConfig, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};

async fn broker(dir: &tempfile::TempDir) -> BrokerHandle {
    let config = BrokerConfig::from_pairs([
        ("listeners", "127.0.0.1:0"),
        ("log.dirs", dir.path().to_str().unwrap()),
        ("offsets.topic.num.partitions", "4"),
    ])
    .unwrap();
    BrokerHandle::start(config).await.unwrap()
}

async fn read_all(addr: &str, tp: &TopicPartition, expect: usize) -> Vec<String> {
    let mut c = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap.servers", addr),
            ("auto.offset.reset", "earliest"),
        ])
        .unwrap(),
    )
    .unwrap();
    c.assign(vec![tp.clone()]);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < expect && tokio::time::Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(200)).await.unwrap() {
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_idempotent_producer_keeps_order_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(&dir).await;
    let addr = b.addr().to_string();
    let admin = Admin::new(AdminConfig::new(&addr)).unwrap();
    admin.create_topic("t", 1, 1, &[]).await.unwrap();
    // Small batches and a short linger force many requests in flight at once.
    let producer = Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap.servers", addr.as_str()),
            ("batch.size", "2048"),
            ("linger.ms", "1"),
        ])
        .unwrap(),
    )
    .unwrap();
    assert!(producer.is_idempotent());
    let n = 20_000;
    let mut deliveries = Vec::with_capacity(n);
    for i in 0..n {
        deliveries.push(
            producer
                .send(ProducerRecord::new("t", format!("{i}")))
                .await
                .unwrap(),
        );
    }
    let mut last = -1;
    for d in deliveries {
        let md = d.await.unwrap();
        assert!(
            md.offset > last,
            "acknowledged offsets increase in send order"
        );
        last = md.offset;
    }
    let m = producer.metrics();
    producer.close().await;
    let values = read_all(&addr, &TopicPartition::new("t", 0), n).await;
    let expected: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    assert_eq!(values.len(), n, "exactly once");
    assert_eq!(values, expected, "in send order");
    assert!(
        m.request_total < n as u64 / 5,
        "batched: {} requests for {n} records",
        m.request_total
    );
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_resumes_from_committed_offsets_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(&dir).await;
    let addr = b.addr().to_string();
    Admin::new(AdminConfig::new(&addr))
        .unwrap()
        .create_topic("t", 1, 1, &[])
        .await
        .unwrap();
    let producer = Producer::new(ProducerConfig::new(&addr)).unwrap();
    for i in 0..10 {
        producer
            .send_and_wait(ProducerRecord::new("t", format!("{i}")))
            .await
            .unwrap();
    }
    let tp = TopicPartition::new("t", 0);
    let config = || {
        ConsumerConfig::from_pairs([
            ("bootstrap.servers", addr.as_str()),
            ("group.id", "g"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "4"),
        ])
        .unwrap()
    };
    let mut c = Consumer::new(config()).unwrap();
    c.assign(vec![tp.clone()]);
    let first = c.poll(Duration::from_secs(5)).await.unwrap();
    assert_eq!(first.len(), 4);
    c.commit_sync().await.unwrap();
    c.close().await.unwrap();
    producer.close().await;
    b.shutdown().await.unwrap();

    let b = broker(&dir).await;
    let addr2 = b.addr().to_string();
    let mut c = Consumer::new(
        ConsumerConfig::from_pairs([
            ("bootstrap.servers", addr2.as_str()),
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
        ])
        .unwrap(),
    )
    .unwrap();
    c.assign(vec![tp.clone()]);
    let rest = c.poll(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        rest.first().map(|r| r.offset),
        Some(4),
        "resumes at the committed offset"
    );
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_on_a_topic_that_cannot_meet_min_insync_fails_with_the_kafka_error() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(&dir).await;
    let addr = b.addr().to_string();
    Admin::new(AdminConfig::new(&addr))
        .unwrap()
        .create_topic("t", 1, 1, &[("min.insync.replicas".into(), "2".into())])
        .await
        .unwrap();
    let producer = Producer::new(
        ProducerConfig::from_pairs([
            ("bootstrap.servers", addr.as_str()),
            ("delivery.timeout.ms", "1500"),
            ("request.timeout.ms", "500"),
            ("linger.ms", "0"),
        ])
        .unwrap(),
    )
    .unwrap();
    let err = producer
        .send_and_wait(ProducerRecord::new("t", "x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NOT_ENOUGH_REPLICAS"), "{err}");
    let m = producer.metrics();
    assert!(
        m.record_retry_total > 0,
        "NOT_ENOUGH_REPLICAS is retriable until the delivery timeout"
    );
    assert_eq!(m.record_error_total, 1);
    b.shutdown().await.unwrap();
}
