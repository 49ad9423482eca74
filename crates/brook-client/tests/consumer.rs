//! Consumer behaviour against the mock broker: poll, seek, position, commits,
//! auto.offset.reset, auto-commit; plus the admin client and the dead-letter helper.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use brook_client::{
    Admin, AdminConfig, ClientError, Consumer, ConsumerConfig, DeadLetterProducer, DlqOutcome,
    ErrorCode, OffsetReset, OffsetSpec, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};
use brook_proto::v1::ElectionType;
use bytes::Bytes;
use common::MockBroker;

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

async fn produce(broker: &MockBroker, partition: i32, n: usize) {
    let p =
        Producer::new(ProducerConfig::new(&broker.addr).linger(Duration::from_millis(1))).unwrap();
    for i in 0..n {
        let rec = ProducerRecord::with_key("t", format!("k{i}"), i.to_string())
            .partition(partition)
            .header("h", Some(Bytes::from_static(b"v")));
        p.send(rec).await.unwrap();
    }
    p.flush().await;
}

fn consumer(broker: &MockBroker) -> ConsumerConfig {
    ConsumerConfig::new(&broker.addr)
        .fetch_max_wait(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(5))
}

async fn poll_all(c: &mut Consumer, want: usize) -> Vec<brook_client::ConsumerRecord> {
    let mut out = Vec::new();
    for _ in 0..100 {
        if out.len() >= want {
            break;
        }
        out.extend(c.poll(Duration::from_millis(50)).await.unwrap());
    }
    out
}

#[tokio::test]
async fn poll_seek_and_position() {
    let broker = MockBroker::start().await;
    produce(&broker, 0, 30).await;
    produce(&broker, 1, 5).await;
    let mut c = Consumer::new(
        consumer(&broker)
            .auto_offset_reset(OffsetReset::Earliest)
            .max_poll_records(7),
    )
    .unwrap();
    c.assign(vec![tp(0), tp(1)]);
    let first = c.poll(Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 7, "max.poll.records");
    let rest = poll_all(&mut c, 28).await;
    let mut all = first;
    all.extend(rest);
    let p0: Vec<i64> = all
        .iter()
        .filter(|r| r.partition == 0)
        .map(|r| r.offset)
        .collect();
    assert_eq!(p0, (0..30).collect::<Vec<_>>());
    let r = all
        .iter()
        .find(|r| r.partition == 0 && r.offset == 3)
        .unwrap();
    assert_eq!(r.value.as_deref(), Some(&b"3"[..]));
    assert_eq!(r.key.as_deref(), Some(&b"k3"[..]));
    assert_eq!(
        r.headers,
        vec![("h".to_string(), Some(Bytes::from_static(b"v")))]
    );
    assert_eq!(r.leader_epoch, Some(0));
    assert_eq!(c.position(&tp(0)).await.unwrap(), 30);
    assert_eq!(c.position(&tp(1)).await.unwrap(), 5);

    // Seeking into the middle of a batch skips the records below the position.
    c.seek(&tp(0), 17).unwrap();
    let again = poll_all(&mut c, 13).await;
    let p0: Vec<i64> = again
        .iter()
        .filter(|r| r.partition == 0)
        .map(|r| r.offset)
        .collect();
    assert_eq!(p0, (17..30).collect::<Vec<_>>());

    c.seek_to_beginning(&[tp(1)]).await.unwrap();
    assert_eq!(c.position(&tp(1)).await.unwrap(), 0);
    c.seek_to_end(&[tp(1)]).await.unwrap();
    assert_eq!(c.position(&tp(1)).await.unwrap(), 5);
    assert!(c.poll(Duration::from_millis(30)).await.unwrap().is_empty());
    assert!(matches!(
        c.seek(&tp(7), 0),
        Err(ClientError::IllegalState(_))
    ));
}

#[tokio::test]
async fn auto_offset_reset_policies() {
    let broker = MockBroker::start().await;
    produce(&broker, 0, 10).await;

    let mut latest = Consumer::new(consumer(&broker)).unwrap();
    latest.assign(vec![tp(0)]);
    assert_eq!(
        latest.position(&tp(0)).await.unwrap(),
        10,
        "default is latest"
    );

    let mut earliest =
        Consumer::new(consumer(&broker).auto_offset_reset(OffsetReset::Earliest)).unwrap();
    earliest.assign(vec![tp(0)]);
    assert_eq!(earliest.position(&tp(0)).await.unwrap(), 0);

    let mut none = Consumer::new(consumer(&broker).auto_offset_reset(OffsetReset::None)).unwrap();
    none.assign(vec![tp(0)]);
    let err = none.poll(Duration::from_millis(10)).await.unwrap_err();
    assert!(
        matches!(err, ClientError::NoOffsetForPartition(ref t) if *t == tp(0)),
        "{err}"
    );

    // Out of range: the log start moved past the position.
    earliest.seek(&tp(0), 2).unwrap();
    broker.state().log_start.insert(("t".into(), 0), 4);
    let recs = poll_all(&mut earliest, 6).await;
    assert_eq!(
        recs.first().map(|r| r.offset),
        Some(4),
        "reset to the new log start"
    );
    none.seek(&tp(0), 1).unwrap();
    // Room for this consumer's first metadata lookup on a loaded machine; the error comes
    // back as soon as the fetch answers.
    let err = none.poll(Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OffsetOutOfRange));
}

#[tokio::test]
async fn commits_are_stored_and_used_as_start_position() {
    let broker = MockBroker::start().await;
    produce(&broker, 0, 10).await;
    let cfg = consumer(&broker)
        .group_id("g")
        .enable_auto_commit(false)
        .auto_offset_reset(OffsetReset::Earliest);
    let mut c = Consumer::new(cfg.clone()).unwrap();
    c.assign(vec![tp(0), tp(1)]);
    assert_eq!(
        c.committed(&[tp(0)]).await.unwrap(),
        BTreeMap::from([(tp(0), None)])
    );
    let recs = poll_all(&mut c, 10).await;
    assert_eq!(recs.len(), 10);
    // A retriable coordinator error is retried after re-discovery.
    broker
        .state()
        .coordinator_faults
        .push_back(ErrorCode::NotCoordinator);
    c.commit_sync().await.unwrap();
    assert_eq!(
        broker.state().committed.get(&("g".into(), "t".into(), 0)),
        Some(&10)
    );
    c.commit_sync_offsets(BTreeMap::from([(tp(0), 6)]))
        .await
        .unwrap();
    assert_eq!(c.committed(&[tp(0)]).await.unwrap()[&tp(0)], Some(6));

    // A new consumer of the group starts from the committed offset.
    let mut c2 = Consumer::new(cfg).unwrap();
    c2.assign(vec![tp(0)]);
    assert_eq!(c2.position(&tp(0)).await.unwrap(), 6);
    c2.seek(&tp(0), 8).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    c2.commit_async(Some(Box::new(move |offsets, result| {
        let _ = tx.send((offsets.clone(), result.clone()));
    })));
    let (offsets, result) = rx.await.unwrap();
    result.unwrap();
    assert_eq!(offsets, BTreeMap::from([(tp(0), 8)]));
    assert_eq!(
        broker.state().committed.get(&("g".into(), "t".into(), 0)),
        Some(&8)
    );

    // Without a group id, commits are refused with Kafka's name for it.
    let mut anon = Consumer::new(consumer(&broker)).unwrap();
    anon.assign(vec![tp(0)]);
    let err = anon.commit_sync().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidGroupId));
}

#[tokio::test]
async fn commit_async_is_never_retried_and_callbacks_keep_commit_order() {
    let broker = MockBroker::start().await;
    let cfg = consumer(&broker).group_id("a").enable_auto_commit(false);
    let mut c = Consumer::new(cfg).unwrap();
    c.assign(vec![tp(0)]);
    // The first commit meets a retriable error: commit_sync would retry it, commit_async
    // reports it; the second lands, and nothing later moves the offset back.
    broker
        .state()
        .coordinator_faults
        .push_back(ErrorCode::NotCoordinator);
    let outcomes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for offset in [3, 5] {
        let outcomes = outcomes.clone();
        c.commit_async_offsets(
            BTreeMap::from([(tp(0), offset)]),
            Some(Box::new(move |offsets, result| {
                outcomes.lock().unwrap().push((
                    offsets[&tp(0)],
                    result.as_ref().err().and_then(|e| e.code()),
                ));
            })),
        );
    }
    // A sync commit after them waits for both (one queue).
    c.commit_sync_offsets(BTreeMap::from([(tp(1), 1)]))
        .await
        .unwrap();
    assert_eq!(
        *outcomes.lock().unwrap(),
        vec![(3, Some(ErrorCode::NotCoordinator)), (5, None)]
    );
    assert_eq!(
        broker.state().committed.get(&("a".into(), "t".into(), 0)),
        Some(&5)
    );
    // Without a group id the callback still hears of the refusal.
    let mut anon = Consumer::new(consumer(&broker)).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    anon.commit_async(Some(Box::new(move |_, r| {
        let _ = tx.send(r.clone());
    })));
    let err = rx.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidGroupId));
}

#[tokio::test]
async fn auto_commit_commits_positions_in_poll_and_close() {
    let broker = MockBroker::start().await;
    produce(&broker, 0, 5).await;
    let cfg = consumer(&broker)
        .group_id("auto")
        .auto_commit_interval(Duration::from_millis(1))
        .auto_offset_reset(OffsetReset::Earliest);
    let mut c = Consumer::new(cfg).unwrap();
    c.assign(vec![tp(0)]);
    assert_eq!(poll_all(&mut c, 5).await.len(), 5);
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.poll(Duration::from_millis(1)).await.unwrap();
    assert_eq!(
        broker
            .state()
            .committed
            .get(&("auto".into(), "t".into(), 0)),
        Some(&5)
    );
    produce(&broker, 0, 2).await;
    assert_eq!(poll_all(&mut c, 2).await.len(), 2);
    c.close().await.unwrap();
    assert_eq!(
        broker
            .state()
            .committed
            .get(&("auto".into(), "t".into(), 0)),
        Some(&7)
    );
}

#[tokio::test]
async fn admin_operations_map_per_topic_errors() {
    let broker = MockBroker::start().await;
    let admin = Admin::new(AdminConfig::new(&broker.addr)).unwrap();
    admin
        .create_topic("orders", 3, 1, &[("retention.ms".into(), "1000".into())])
        .await
        .unwrap();
    let err = admin.create_topic("orders", 3, 1, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists));
    assert!(err.to_string().starts_with("TOPIC_ALREADY_EXISTS"), "{err}");
    let err = admin.create_topic("x", 1, 3, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidReplicationFactor));
    assert_eq!(admin.list_topics().await.unwrap(), vec!["orders", "t"]);
    let d = admin.describe_topics(&["orders"]).await.unwrap();
    assert_eq!(d[0].partitions.len(), 3);
    assert_eq!(
        d[0].configs.get("retention.ms").map(String::as_str),
        Some("1000")
    );
    let err = admin.describe_topics(&["nope"]).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
    admin
        .alter_topic_config("orders", &[("flush.messages".into(), "1".into())], &[])
        .await
        .unwrap();
    let err = admin
        .alter_topic_config("nope", &[], &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 1);
    let results = admin
        .elect_leaders(
            ElectionType::ElectionUnclean,
            &[TopicPartition::new("orders", 0)],
        )
        .await
        .unwrap();
    assert_eq!(
        results[0].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::ElectionNotNeeded)
    );
    assert_eq!(
        broker.state().last_election,
        Some(ElectionType::ElectionUnclean as i32)
    );
    produce(&broker, 1, 4).await;
    assert_eq!(
        admin
            .list_offsets(&tp(1), OffsetSpec::Latest)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        admin
            .list_offsets(&tp(1), OffsetSpec::Earliest)
            .await
            .unwrap(),
        0
    );
    admin.delete_topic("orders").await.unwrap();
    let err = admin.delete_topic("orders").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownTopicOrPartition));
}

#[tokio::test]
async fn dead_letter_routing() {
    let broker = MockBroker::start().await;
    broker.state().topics.insert("dlq".into(), 1);
    let p = Producer::new(
        ProducerConfig::new(&broker.addr)
            .linger(Duration::from_millis(1))
            .max_request_size(2_000),
    )
    .unwrap();
    let dlq = DeadLetterProducer::new(p, "dlq");
    // Delivered normally.
    let ok = dlq
        .send(ProducerRecord::new("t", "fine").partition(0))
        .await;
    assert!(ok.is_delivered());
    // A non-retriable error on partition 1 sends the record to the DLQ with headers.
    broker
        .state()
        .push_faults("t", 1, &[common::Fault::Reject(ErrorCode::InvalidRecord)]);
    let out = dlq
        .send(
            ProducerRecord::with_key("t", "k", "bad")
                .partition(1)
                .header("app", None),
        )
        .await;
    let DlqOutcome::DeadLettered { error, dead_letter } = out else {
        panic!("expected a dead letter, got {out:?}");
    };
    assert_eq!(error.code(), Some(ErrorCode::InvalidRecord));
    let md = dead_letter.unwrap();
    assert_eq!((md.topic.as_str(), md.offset), ("dlq", 0));
    // Too large for max.request.size: dead-lettered is attempted and fails the same way.
    let out = dlq.send(ProducerRecord::new("t", vec![0u8; 5_000])).await;
    match out {
        DlqOutcome::DeadLettered { error, dead_letter } => {
            assert_eq!(error.code(), Some(ErrorCode::MessageTooLarge));
            assert_eq!(
                dead_letter.unwrap_err().code(),
                Some(ErrorCode::MessageTooLarge)
            );
        }
        other => panic!("{other:?}"),
    }

    let mut c = Consumer::new(consumer(&broker).auto_offset_reset(OffsetReset::Earliest)).unwrap();
    c.assign(vec![TopicPartition::new("dlq", 0)]);
    let recs = poll_all(&mut c, 1).await;
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(r.value.as_deref(), Some(&b"bad"[..]));
    let header = |k: &str| {
        r.headers
            .iter()
            .find(|h| h.0 == k)
            .and_then(|h| h.1.clone())
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    };
    assert_eq!(header("dlq.error").as_deref(), Some("INVALID_RECORD"));
    assert!(
        header("dlq.error.message")
            .unwrap()
            .starts_with("INVALID_RECORD")
    );
    assert_eq!(header("dlq.original.topic").as_deref(), Some("t"));
    assert_eq!(header("dlq.original.partition").as_deref(), Some("1"));
    assert!(
        r.headers.iter().any(|h| h.0 == "app"),
        "original headers kept"
    );
}
