//! KIP-320 on the consumer side (reference E11, T10): after an unclean election truncated the
//! log under a consumer's position, the consumer continues at the divergence offset — it neither
//! rewinds to the beginning (re-reading everything) nor skips records written after the election.

use std::time::Duration;

use brook::client::ProducerRecord;
use brook::client::consumer::Consumer;
use brook::{Acks, Cluster, TopicPartition};

const WAIT: Duration = Duration::from_secs(20);

async fn poll_until(consumer: &mut Consumer, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while out.len() < n && tokio::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            out.push((
                r.offset,
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_continues_at_the_divergence_offset_after_an_unclean_election() {
    let cluster = Cluster::builder()
        .brokers(3)
        .broker_config("replica.lag.time.max.ms", "300")
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    cluster
        .create_topic("trunc", 6, 2)
        .config("unclean.leader.election.enable", "true")
        .config("min.insync.replicas", "1")
        .await
        .unwrap();
    let view = cluster
        .wait_until(|v| (0..6).all(|p| v.isr("trunc", p).len() == 2), WAIT)
        .await
        .unwrap();
    // A partition on brokers 2 and 3 only: broker 1 hosts the controller and must stay up.
    let p = (0..6)
        .find(|p| !view.replicas("trunc", *p).contains(&1))
        .unwrap_or_else(|| panic!("no partition avoids broker 1: {}", view.summary()));
    let a = view.leader("trunc", p).unwrap();
    let b = if a == 2 { 3 } else { 2 };
    let producer = cluster
        .producer()
        .acks(Acks::Leader)
        .idempotence(false)
        .build()
        .await
        .unwrap();
    let send = |v: String| ProducerRecord::new("trunc", v).partition(p);

    for i in 0..5 {
        producer
            .send_and_wait(send(format!("old-{i}")))
            .await
            .unwrap();
    }
    cluster
        .wait_until(|v| v.high_watermark("trunc", p) == Some(5), WAIT)
        .await
        .unwrap();
    // B stops; A alone takes 20 more (ISR {A}).
    cluster.shutdown_broker(b).await.unwrap();
    cluster
        .wait_until(|v| v.isr("trunc", p) == vec![a], WAIT)
        .await
        .unwrap();
    for i in 5..25 {
        producer
            .send_and_wait(send(format!("old-{i}")))
            .await
            .unwrap();
    }
    cluster
        .wait_until(|v| v.high_watermark("trunc", p) == Some(25), WAIT)
        .await
        .unwrap();

    let tp = TopicPartition::new("trunc", p);
    let mut consumer = cluster.consumer().from_beginning().build().await.unwrap();
    consumer.assign(vec![tp.clone()]);
    let first = poll_until(&mut consumer, 25).await;
    assert_eq!(first.len(), 25);

    // A goes away, B comes back: the unclean election makes B leader with only 5 records.
    cluster.shutdown_broker(a).await.unwrap();
    cluster.restart(b).await.unwrap();
    cluster
        .wait_until(
            |v| v.leader("trunc", p) == Some(b) && v.log_end_offset("trunc", p, b) == Some(5),
            WAIT,
        )
        .await
        .unwrap();
    for i in 0..3 {
        producer
            .send_and_wait(send(format!("new-{i}")))
            .await
            .unwrap();
    }

    // The consumer's position (25) is past B's end (8): it must resume at 5, the divergence.
    let after = poll_until(&mut consumer, 3).await;
    assert_eq!(
        after,
        vec![
            (5, "new-0".to_string()),
            (6, "new-1".to_string()),
            (7, "new-2".to_string())
        ],
        "continued at the divergence offset, without re-reading old records"
    );
}
