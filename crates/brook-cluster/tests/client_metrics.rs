//! The client metrics (issue 13, items 2, 3 and 8) against an embedded cluster: a leader killed
//! under an idempotent producer with unbounded retries shows up as `record-retry-rate > 0` and
//! `record-error-rate == 0` with every record acknowledged; a consumer that reads a topic to its
//! end sees `records-lag` and `records-lag-max` go to 0 and measures every record's end-to-end
//! latency, its commits and its group's rebalance.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use brook_cluster::client::{NoopRebalanceListener, RecordMetadata};
use brook_cluster::{Acks, Cluster, ProducerRecord, TopicPartition};
use tokio::time::Instant;

/// Polls `done` with pauses doubling from 1 ms to 20 ms, panicking with `what` after `timeout`.
async fn wait_for(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Kills the leader of a replicated partition while an idempotent producer (acks=all, retries
/// unbounded, a long delivery timeout) keeps sending: the batches in flight to it, or sent to it
/// before the producer learns of the new leader, are retried — `record-retry-rate > 0` — and
/// none fails — `record-error-rate == 0`, every record acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_kill_is_retried_not_failed_by_an_idempotent_producer() {
    let cluster = Cluster::builder()
        .brokers(3)
        .controller_voters(1)
        .broker_config("broker.session.timeout.ms", "800")
        .broker_config("replica.lag.time.max.ms", "400")
        .broker_config("replica.fetch.wait.max.ms", "100")
        .start()
        .await
        .unwrap();
    // A partition led by a broker other than 1, the only controller voter.
    let mut topic = None;
    for i in 0..16 {
        let name = format!("m-{i}");
        cluster
            .create_topic(&name, 1, 3)
            .config("min.insync.replicas", "2")
            .await
            .unwrap();
        if cluster.leader_of(&name, 0).await.unwrap() != 1 {
            topic = Some(name);
            break;
        }
    }
    let topic = topic.expect("a topic led by broker 2 or 3");
    let leader = cluster.leader_of(&topic, 0).await.unwrap();

    let producer = cluster
        .producer()
        .acks(Acks::All)
        .idempotence(true)
        .retries(i32::MAX)
        .delivery_timeout(Duration::from_secs(60))
        .request_timeout(Duration::from_secs(5))
        .linger(Duration::from_millis(1))
        .build()
        .await
        .unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    const AFTER_KILL: usize = 500;
    let task = {
        let (producer, acked, killed, topic) = (
            producer.clone(),
            acked.clone(),
            killed.clone(),
            topic.clone(),
        );
        tokio::spawn(async move {
            // At most 200 records outstanding, so that sending goes on before, during and after
            // the failover instead of everything being queued at once.
            let mut pending = VecDeque::new();
            let mut results: Vec<brook_cluster::client::Result<RecordMetadata>> = Vec::new();
            let (mut sent, mut sent_after_kill) = (0usize, 0usize);
            while sent_after_kill < AFTER_KILL {
                if killed.load(Ordering::Acquire) {
                    sent_after_kill += 1;
                }
                let record = ProducerRecord::new(&topic, format!("{sent}"));
                pending.push_back(producer.send(record).await.unwrap());
                sent += 1;
                if pending.len() > 200 {
                    if let Some(f) = pending.pop_front() {
                        results.push(f.await);
                        acked.fetch_add(1, Ordering::Release);
                    }
                }
            }
            while let Some(f) = pending.pop_front() {
                results.push(f.await);
            }
            results
        })
    };
    wait_for("300 acknowledged records", Duration::from_secs(20), || {
        acked.load(Ordering::Acquire) >= 300
    })
    .await;
    cluster.kill(leader).await.unwrap();
    killed.store(true, Ordering::Release);
    let results = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the producer finishes")
        .unwrap();

    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "every record acknowledged: {failed:?}");
    assert!(results.len() > 300 + AFTER_KILL, "{}", results.len());
    let m = producer.metrics();
    eprintln!("{m:#?}");
    assert!(
        m.record_retry_total > 0 && m.record_retry_rate > 0.0,
        "the batches caught by the kill were retried: {m:?}"
    );
    assert_eq!(
        (m.record_error_total, m.record_error_rate),
        (0, 0.0),
        "and none failed: {m:?}"
    );
    assert!(m.record_send_total >= results.len() as u64, "{m:?}");
    assert!(
        m.request_latency_max_ms >= m.request_latency_avg_ms,
        "{m:?}"
    );
    assert!(
        m.batch_size_avg > 0.0 && m.record_queue_time_avg_ms >= 0.0,
        "{m:?}"
    );
    producer.close().await;
    assert_eq!(
        producer.metrics().buffer_available_bytes,
        producer.metrics().buffer_total_bytes,
        "nothing outstanding holds buffer memory after close"
    );
}

/// A group member reads a produced topic to its end: `records-lag` of every partition and
/// `records-lag-max` (with a 100 ms sample window) go to 0, every record's end-to-end latency
/// was measured (count == records consumed, p50 ≤ p99 ≤ max), the commit and the rebalance
/// were timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_caught_up_has_no_lag_and_measured_every_record() {
    let cluster = Cluster::builder().start().await.unwrap();
    cluster
        .create_topic("e2e", 3, 1)
        .config("min.insync.replicas", "1")
        .await
        .unwrap();
    let producer = cluster.producer().build().await.unwrap();
    const N: usize = 600;
    let mut pending = Vec::new();
    for i in 0..N {
        let record = ProducerRecord::new("e2e", format!("{i}")).partition((i % 3) as i32);
        pending.push(producer.send(record).await.unwrap());
    }
    for f in pending {
        f.await.unwrap();
    }
    producer.close().await;

    let mut consumer = cluster
        .consumer()
        .group_id("metrics")
        .from_beginning()
        .config("enable.auto.commit", "false")
        .config("max.poll.records", "100")
        .config("metrics.sample.window.ms", "100")
        .config("metrics.num.samples", "2")
        .build()
        .await
        .unwrap();
    consumer
        .subscribe(vec!["e2e".into()], NoopRebalanceListener)
        .unwrap();
    let mut consumed = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while consumed < N {
        assert!(Instant::now() < deadline, "consumed only {consumed} of {N}");
        consumed += consumer
            .poll(Duration::from_millis(200))
            .await
            .unwrap()
            .len();
    }
    assert_eq!(consumed, N);
    let during = consumer.metrics();
    assert_eq!(during.records_consumed_total, N as u64);
    assert!(during.records_consumed_rate > 0.0, "{during:?}");
    consumer.commit_sync().await.unwrap();
    let committed = consumer.metrics();
    assert!(committed.commit_total >= 1, "{committed:?}");
    assert!(
        committed.commit_latency_max_ms >= committed.commit_latency_avg_ms,
        "{committed:?}"
    );

    // Empty polls record lag 0; after two sample windows nothing older is left in the max.
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        assert!(
            consumer
                .poll(Duration::from_millis(50))
                .await
                .unwrap()
                .is_empty()
        );
        let m = consumer.metrics();
        if m.records_lag_max == 0.0 {
            break m;
        }
        assert!(Instant::now() < deadline, "records-lag-max stayed {m:?}");
    };
    eprintln!("{m:#?}");
    let all: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new("e2e", p)).collect();
    assert_eq!(m.records_lag.keys().cloned().collect::<Vec<_>>(), all);
    assert!(m.records_lag.values().all(|l| *l == 0), "{m:?}");
    let e = m.end_to_end_latency;
    assert_eq!(
        e.count, N as u64,
        "every record returned was measured: {e:?}"
    );
    assert!(
        e.p50_ms <= e.p99_ms && e.p99_ms <= e.p999_ms && e.p999_ms <= e.max_ms,
        "{e:?}"
    );
    assert!(
        m.fetch_total > 0 && m.fetch_latency_max_ms >= m.fetch_latency_avg_ms,
        "{m:?}"
    );
    assert!(m.rebalance_total >= 1, "{m:?}");
    assert!(
        m.rebalance_latency_total_ms >= 0.0 && m.last_rebalance_seconds_ago >= 0.0,
        "{m:?}"
    );
    consumer.close().await.unwrap();
}
