//! Producer behaviour against the mock broker: batching, pipelining, retries, idempotent
//! deduplication and ordering under injected failures, timeouts and error reporting.

mod common;

use std::time::{Duration, Instant};

use brook_client::partitioner::partition_for_key;
use brook_client::{
    Acks, ClientError, Durability, ErrorCode, Producer, ProducerConfig, ProducerRecord,
};
use bytes::Bytes;
use common::{Fault, MockBroker};

fn config(broker: &MockBroker) -> ProducerConfig {
    ProducerConfig::new(&broker.addr)
        .linger(Duration::from_millis(2))
        .retry_backoff(Duration::from_millis(5))
        .request_timeout(Duration::from_millis(2_000))
        .delivery_timeout(Duration::from_millis(10_000))
}

fn value(i: usize) -> Bytes {
    Bytes::from(i.to_string())
}

fn numbers(values: &[Bytes]) -> Vec<usize> {
    values
        .iter()
        .map(|v| std::str::from_utf8(v).unwrap().parse().unwrap())
        .collect()
}

/// Sends `n` records to `partition` pipelined and returns their offsets.
async fn pipeline(p: &Producer, partition: i32, n: usize) -> Vec<i64> {
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let rec = ProducerRecord::new("t", value(i)).partition(partition);
        futures.push(p.send(rec).await.unwrap());
    }
    let mut offsets = Vec::with_capacity(n);
    for f in futures {
        offsets.push(f.await.unwrap().offset);
    }
    offsets
}

#[tokio::test]
async fn send_returns_offsets_and_durability() {
    let broker = MockBroker::start().await;
    let p = Producer::new(config(&broker)).unwrap();
    assert!(p.is_idempotent());
    let md = p
        .send_and_wait(ProducerRecord::new("t", "hello").partition(1))
        .await
        .unwrap();
    assert_eq!((md.topic.as_str(), md.partition, md.offset), ("t", 1, 0));
    assert_eq!(md.durability, Durability::IsrReplicated);
    assert!(md.timestamp > 0);
    let md = p
        .send_and_wait(ProducerRecord::with_key("t", "foobar", "v"))
        .await
        .unwrap();
    assert_eq!(md.partition, partition_for_key(b"foobar", 2));
    p.close().await;
    assert_eq!(
        p.send(ProducerRecord::new("t", "x")).await.unwrap_err(),
        ClientError::Closed
    );
}

#[tokio::test]
async fn ten_thousand_records_are_batched_and_ordered() {
    let broker = MockBroker::start().await;
    let p = Producer::new(config(&broker)).unwrap();
    let n = 10_000;
    let mut futures = Vec::with_capacity(n);
    for i in 0..n {
        let rec = ProducerRecord::new("t", value(i)).partition((i % 2) as i32);
        futures.push(p.send(rec).await.unwrap());
    }
    for f in futures {
        f.await.unwrap();
    }
    let st = broker.state();
    assert!(
        st.produce_requests * 20 < n,
        "{} requests for {n} records",
        st.produce_requests
    );
    for part in 0..2 {
        let expected: Vec<usize> = (0..n).filter(|i| i % 2 == part).collect();
        assert_eq!(numbers(&st.values("t", part as i32)), expected);
    }
    drop(st);
    let m = p.metrics();
    assert_eq!(m.record_send_total, n as u64);
    assert_eq!(m.record_error_total, 0);
    assert!(m.batch_size_avg > 100.0);
    assert!(m.request_total >= 1 && m.request_latency_max_ms >= m.request_latency_avg_ms);
}

#[tokio::test]
async fn idempotent_retry_after_lost_response_writes_once() {
    let broker = MockBroker::start().await;
    broker.state().push_faults(
        "t",
        0,
        &[
            Fault::AppendThen(ErrorCode::RequestTimedOut),
            Fault::Reject(ErrorCode::NotLeaderOrFollower),
            Fault::AppendThen(ErrorCode::NotEnoughReplicasAfterAppend),
        ],
    );
    let p = Producer::new(config(&broker)).unwrap();
    let offsets = pipeline(&p, 0, 5).await;
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
    assert_eq!(numbers(&broker.state().values("t", 0)), vec![0, 1, 2, 3, 4]);
    let m = p.metrics();
    assert!(m.record_retry_total >= 5, "{m:?}");
    assert_eq!(m.record_error_total, 0);
}

#[tokio::test]
async fn without_idempotence_a_lost_response_duplicates() {
    let broker = MockBroker::start().await;
    broker
        .state()
        .push_faults("t", 0, &[Fault::AppendThen(ErrorCode::RequestTimedOut)]);
    let p = Producer::new(config(&broker).enable_idempotence(false)).unwrap();
    p.send_and_wait(ProducerRecord::new("t", "0").partition(0))
        .await
        .unwrap();
    assert_eq!(
        broker.state().values("t", 0).len(),
        2,
        "the retry was not deduplicated"
    );
    assert_eq!(broker.state().init_pid_calls, 0);
}

#[tokio::test]
async fn order_is_kept_under_injected_failures() {
    let broker = MockBroker::start().await;
    {
        let mut st = broker.state();
        use Fault::*;
        for part in 0..2 {
            st.push_faults(
                "t",
                part,
                &[
                    Pass,
                    AppendThen(ErrorCode::RequestTimedOut),
                    Pass,
                    Pass,
                    Reject(ErrorCode::NotLeaderOrFollower),
                    Unavailable,
                    Pass,
                    AppendThen(ErrorCode::NotEnoughReplicasAfterAppend),
                    Reject(ErrorCode::NotEnoughReplicas),
                    Pass,
                    Pass,
                    Pass,
                    AppendThen(ErrorCode::RequestTimedOut),
                    Reject(ErrorCode::LeaderNotAvailable),
                ],
            );
        }
    }
    // Small batches so that many are in flight per partition when the faults hit.
    let p = Producer::new(config(&broker).batch_size(256)).unwrap();
    let n = 3_000;
    let mut futures = Vec::new();
    for i in 0..n {
        let rec = ProducerRecord::new("t", value(i)).partition((i % 2) as i32);
        futures.push(p.send(rec).await.unwrap());
    }
    for f in futures {
        f.await.unwrap();
    }
    let st = broker.state();
    for part in 0..2 {
        let expected: Vec<usize> = (0..n).filter(|i| i % 2 == part).collect();
        assert_eq!(
            numbers(&st.values("t", part as i32)),
            expected,
            "partition {part}: exactly once, in order"
        );
    }
    assert!(p.metrics().record_retry_total > 0);
}

#[tokio::test]
async fn out_of_order_for_the_first_batch_bumps_the_epoch() {
    let broker = MockBroker::start().await;
    broker.state().push_faults(
        "t",
        0,
        &[Fault::Reject(ErrorCode::OutOfOrderSequenceNumber)],
    );
    let p = Producer::new(config(&broker)).unwrap();
    let md = p
        .send_and_wait(ProducerRecord::new("t", "0").partition(0))
        .await
        .unwrap();
    assert_eq!(md.offset, 0);
    let offsets = pipeline(&p, 0, 3).await;
    assert_eq!(offsets, vec![1, 2, 3]);
    let st = broker.state();
    assert_eq!(st.init_pid_calls, 2, "one InitProducerId, one epoch bump");
    assert_eq!(numbers(&st.values("t", 0)), vec![0, 0, 1, 2]);
}

#[tokio::test]
async fn duplicate_sequence_is_success_without_offset() {
    let broker = MockBroker::start().await;
    broker
        .state()
        .push_faults("t", 0, &[Fault::Reject(ErrorCode::DuplicateSequenceNumber)]);
    let p = Producer::new(config(&broker)).unwrap();
    let md = p
        .send_and_wait(ProducerRecord::new("t", "0").partition(0))
        .await
        .unwrap();
    assert_eq!(md.offset, -1);
}

#[tokio::test]
async fn non_retriable_error_fails_fast_with_kafka_name() {
    let broker = MockBroker::start().await;
    broker.state().always = Some(ErrorCode::InvalidRecord);
    let p = Producer::new(config(&broker)).unwrap();
    let start = Instant::now();
    let err = p
        .send_and_wait(ProducerRecord::new("t", "x").partition(0))
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(err.code(), Some(ErrorCode::InvalidRecord));
    assert!(err.to_string().starts_with("INVALID_RECORD"), "{err}");
    let m = p.metrics();
    assert_eq!((m.record_error_total, m.record_retry_total), (1, 0));
    assert_eq!(broker.state().produce_requests, 1);
}

#[tokio::test]
async fn retries_are_bounded_by_the_retries_setting() {
    let broker = MockBroker::start().await;
    broker.state().always = Some(ErrorCode::NotEnoughReplicas);
    let p = Producer::new(config(&broker).enable_idempotence(false).retries(2)).unwrap();
    let err = p
        .send_and_wait(ProducerRecord::new("t", "x").partition(0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotEnoughReplicas));
    assert_eq!(broker.state().produce_requests, 3, "first try + 2 retries");
    assert_eq!(p.metrics().record_retry_total, 2);
}

#[tokio::test]
async fn delivery_timeout_bounds_total_time() {
    let broker = MockBroker::start().await;
    broker.state().always = Some(ErrorCode::NotEnoughReplicas);
    let cfg = config(&broker)
        .request_timeout(Duration::from_millis(200))
        .delivery_timeout(Duration::from_millis(400));
    let p = Producer::new(cfg).unwrap();
    let start = Instant::now();
    let err = p
        .send_and_wait(ProducerRecord::new("t", "x").partition(0))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
    match &err {
        ClientError::Timeout { last_error, .. } => assert_eq!(
            last_error.as_ref().and_then(|e| e.code()),
            Some(ErrorCode::NotEnoughReplicas)
        ),
        other => panic!("expected a delivery timeout, got {other}"),
    }
    assert!(err.to_string().starts_with("REQUEST_TIMED_OUT"));
    assert!(p.metrics().record_retry_total > 0);
}

#[tokio::test]
async fn delivery_timeout_bounds_a_hung_broker() {
    let broker = MockBroker::start().await;
    broker.state().produce_delay = Some(Duration::from_secs(30));
    let cfg = config(&broker)
        .request_timeout(Duration::from_millis(300))
        .delivery_timeout(Duration::from_millis(500));
    let p = Producer::new(cfg).unwrap();
    let start = Instant::now();
    let err = p
        .send_and_wait(ProducerRecord::new("t", "x").partition(0))
        .await
        .unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(matches!(err, ClientError::Timeout { .. }), "{err}");
    assert!(err.is_indeterminate());
}

#[tokio::test]
async fn acks_zero_reports_no_offset() {
    let broker = MockBroker::start().await;
    let p = Producer::new(config(&broker).acks(Acks::None)).unwrap();
    assert!(!p.is_idempotent());
    let md = p
        .send_and_wait(ProducerRecord::new("t", "x").partition(0))
        .await
        .unwrap();
    assert_eq!((md.offset, md.durability), (-1, Durability::None));
    assert_eq!(broker.state().values("t", 0).len(), 1);
}

#[tokio::test]
async fn oversized_records_and_unknown_topics_fail_at_send() {
    let broker = MockBroker::start().await;
    let p = Producer::new(
        config(&broker)
            .max_request_size(1_000)
            .max_block(Duration::from_millis(200)),
    )
    .unwrap();
    let err = p
        .send(ProducerRecord::new("t", vec![0u8; 2_000]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::MessageTooLarge));
    let err = p.send(ProducerRecord::new("nope", "x")).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
    let err = p
        .send(ProducerRecord::new("t", "x").partition(7))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
    assert_eq!(broker.state().produce_requests, 0);
    // A record larger than batch.size but within max.request.size goes alone.
    let p = Producer::new(config(&broker).batch_size(100)).unwrap();
    let md = p
        .send_and_wait(ProducerRecord::new("t", vec![1u8; 500]).partition(0))
        .await
        .unwrap();
    assert_eq!(md.offset, 0);
}

#[tokio::test]
async fn flush_sends_lingering_batches() {
    let broker = MockBroker::start().await;
    let p = Producer::new(
        config(&broker)
            .linger(Duration::from_secs(20))
            .request_timeout(Duration::from_secs(5))
            .delivery_timeout(Duration::from_secs(60)),
    )
    .unwrap();
    let mut futures = Vec::new();
    for i in 0..50 {
        futures.push(p.send(ProducerRecord::new("t", value(i))).await.unwrap());
    }
    tokio::time::timeout(Duration::from_secs(5), p.flush())
        .await
        .expect("flush finished well before linger.ms");
    for f in futures {
        f.await.unwrap();
    }
    let stored = {
        let st = broker.state();
        st.values("t", 0).len() + st.values("t", 1).len()
    };
    assert_eq!(stored, 50);
    // close delivers what is queued.
    let f = p.send(ProducerRecord::new("t", "last")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), p.close())
        .await
        .unwrap();
    f.await.unwrap();
}

/// While InitProducerId fails (the controller is away), the producer retries it with waits
/// growing from `retry.backoff.ms` to `retry.backoff.max.ms` (KIP-580), then proceeds. Only
/// lower bounds are asserted: a wait never ends early, and load only lengthens the gaps.
#[tokio::test]
async fn init_producer_id_retries_back_off_exponentially() {
    let broker = MockBroker::start().await;
    broker
        .state()
        .init_pid_faults
        .extend([ErrorCode::CoordinatorNotAvailable; 5]);
    let cfg = config(&broker)
        .retry_backoff(Duration::from_millis(20))
        .retry_backoff_max(Duration::from_millis(80));
    let p = Producer::new(cfg).unwrap();
    let md = p
        .send_and_wait(ProducerRecord::new("t", "after the outage").partition(0))
        .await
        .unwrap();
    assert_eq!(md.offset, 0);
    let times = broker.state().init_pid_times.clone();
    assert_eq!(times.len(), 6, "5 failures, then the call that succeeds");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Nominal waits 20, 40, 80, 80, 80 ms; jitter takes at most 20 % off.
    for (i, (gap, nominal)) in gaps.iter().zip([20u64, 40, 80, 80, 80]).enumerate() {
        let floor = Duration::from_millis(nominal * 8 / 10);
        assert!(
            *gap >= floor,
            "gap {i} was {gap:?}, below {floor:?}: {gaps:?}"
        );
    }
}
