//! Restarts: topics, configs and data survive a clean shutdown and an abrupt kill; the broker
//! comes back on a fresh port-0 address and advertises it; a killed broker stops answering.

mod common;

use std::time::Duration;

use brook_broker::{BrokerConfig, BrokerHandle};
use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::*;
use common::*;

async fn advertised(b: &TestBroker) -> Vec<(i32, String)> {
    let m = b
        .client()
        .metadata(MetadataRequest::default())
        .await
        .unwrap()
        .into_inner();
    m.brokers
        .iter()
        .map(|x| (x.node_id, format!("{}:{}", x.host, x.port)))
        .collect()
}

#[tokio::test]
async fn topics_configs_and_data_survive_a_clean_restart_on_a_new_port() {
    let mut b = TestBroker::start().await;
    b.create_topic("plain", 3, &[]).await;
    b.create_topic("flushed", 1, &[("flush.messages", "1")])
        .await;
    for p in 0..3 {
        for i in 0..=p {
            b.produce_ok("plain", p, batch(&[format!("{p}-{i}").as_bytes()]))
                .await;
        }
    }
    b.produce_ok("flushed", 0, batch(&[b"f0", b"f1"])).await;
    let old_addr = b.addr.clone();
    assert_eq!(advertised(&b).await, [(1, old_addr.clone())]);

    b.restart_clean().await;

    // Reached through the new address, which is also what the broker now advertises.
    assert_eq!(advertised(&b).await, [(1, b.addr.clone())]);
    let d = b.describe("plain").await;
    assert_eq!(code(d.error_code), ErrorCode::None, "{d:?}");
    assert_eq!(d.partitions.len(), 3);
    for p in 0..3 {
        let part = &d.partitions[p as usize];
        let n = p as i64 + 1;
        assert_eq!(
            (
                part.log_end_offset,
                part.high_watermark,
                part.log_start_offset
            ),
            (n, n, 0),
            "{part:?}"
        );
        let values = values_of(&b.read_all("plain", p, 0).await);
        let expected: Vec<String> = (0..=p).map(|i| format!("{p}-{i}")).collect();
        assert_eq!(values, expected);
        assert_eq!(b.list_offset("plain", p, -1).await.offset, n);
    }
    let d = b.describe("flushed").await;
    assert_eq!(
        d.configs.get("flush.messages").map(String::as_str),
        Some("1")
    );
    assert_eq!(values_of(&b.read_all("flushed", 0, 0).await), ["f0", "f1"]);
    // Appends continue at the LEO, and the topic config still applies.
    assert_eq!(b.produce_ok("plain", 2, batch(&[b"next"])).await, 3);
    let p = b.produce("flushed", 0, 1, batch(&[b"f2"])).await;
    assert_eq!((code(p.error_code), p.base_offset), (ErrorCode::None, 2));
    assert_eq!(p.durability, Durability::LeaderFlushed as i32, "{p:?}");
    // Restart again: still all there.
    b.restart_clean().await;
    assert_eq!(b.leo("plain", 2).await, 4);
    assert_eq!(b.leo("flushed", 0).await, 3);
}

#[tokio::test]
async fn acks_1_data_survives_an_abrupt_kill_across_segments() {
    let mut b = TestBroker::start().await;
    b.create_topic("t", 2, &[("segment.bytes", "1024")]).await;
    let mut expected = Vec::new();
    for i in 0..40 {
        let v = format!("{i:03}-{}", "x".repeat(100));
        let p = b.produce("t", 0, 1, batch(&[v.as_bytes()])).await;
        assert_eq!((code(p.error_code), p.base_offset), (ErrorCode::None, i));
        assert_eq!(p.durability, Durability::LeaderWritten as i32);
        expected.push(v);
    }
    b.produce_ok("t", 1, batch(&[b"other"])).await;

    b.kill_and_restart().await;

    assert_eq!(advertised(&b).await, [(1, b.addr.clone())]);
    let p = b.describe_partition("t", 0).await;
    assert_eq!((p.log_end_offset, p.high_watermark), (40, 40), "{p:?}");
    assert_eq!(values_of(&b.read_all("t", 0, 0).await), expected);
    // Every offset is readable on its own (indexes rebuilt).
    for o in [0, 7, 13, 39] {
        let f = b.fetch_one(fetch_req("t", 0, o, 0, 1, 1, 1)).await;
        let recs = records_of(&f.records);
        assert_eq!(recs[0].offset, o, "fetch at {o}");
    }
    assert_eq!(values_of(&b.read_all("t", 1, 0).await), ["other"]);
    assert_eq!(b.produce_ok("t", 0, batch(&[b"after"])).await, 40);
}

#[tokio::test]
async fn a_deleted_topic_stays_deleted_after_a_restart() {
    let mut b = TestBroker::start().await;
    b.create_topic("gone", 1, &[]).await;
    b.create_topic("kept", 1, &[]).await;
    b.produce_ok("gone", 0, batch(&[b"x"])).await;
    let r = b
        .admin()
        .delete_topics(DeleteTopicsRequest {
            names: vec!["gone".into()],
            timeout_ms: 1000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(r.topics[0].error_code), ErrorCode::None, "{r:?}");
    b.restart_clean().await;
    assert!(!b.topic_exists("gone").await);
    assert!(b.topic_exists("kept").await);
    b.kill_and_restart().await;
    assert!(!b.topic_exists("gone").await);
    // The name can be reused, and starts empty.
    b.create_topic("gone", 1, &[]).await;
    assert_eq!(b.leo("gone", 0).await, 0);
}

#[tokio::test]
async fn a_killed_broker_stops_answering_on_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig::from_pairs([
        ("listeners", "127.0.0.1:0"),
        ("log.dirs", dir.path().to_str().unwrap()),
    ])
    .unwrap();
    let handle = BrokerHandle::start(config).await.unwrap();
    let addr = handle.addr().to_string();
    let mut client = BrookClient::new(Channels::default().get(&addr).unwrap());
    client
        .metadata(MetadataRequest::default())
        .await
        .expect("serving before the kill");
    handle.kill();
    // The connection is already open: a broker that was killed must not answer on it.
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        client.metadata(MetadataRequest::default()),
    )
    .await;
    assert!(
        !matches!(r, Ok(Ok(_))),
        "a killed broker still answered on an existing connection"
    );
}

fn meta(offset: i64, record: metadata_record::Record) -> MetadataRecord {
    MetadataRecord {
        offset,
        record: Some(record),
    }
}

fn registration(offset: i64, node_id: i32) -> MetadataRecord {
    meta(
        offset,
        metadata_record::Record::RegisterBroker(RegisterBrokerRecord {
            node_id,
            broker_epoch: offset,
            incarnation_id: format!("{node_id}-{offset}"),
            host: "127.0.0.1".into(),
            port: 9,
            rack: String::new(),
        }),
    )
}

/// A restarted broker may have lost its log's unflushed tail while the metadata before its new
/// registration still names it leader in its old epoch. Its partitions follow the metadata only
/// once the image holds this incarnation's registration record (the broker epoch is its
/// offset), which comes in one commit with the controller moving it out of its leaderships.
#[test]
fn partitions_follow_the_metadata_only_from_this_incarnations_registration() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig::from_pairs([
        ("node.id", "2"),
        ("process.roles", "broker"),
        ("controller.quorum.voters", "1@127.0.0.1:9"),
        ("listeners", "127.0.0.1:0"),
        ("log.dirs", dir.path().to_str().unwrap()),
    ])
    .unwrap();
    let broker =
        brook_broker::Broker::open(config, "127.0.0.1:9".into(), Default::default()).unwrap();
    // The previous incarnation's history: registered at 0, leader of t-0 in epoch 0.
    let history = [
        registration(0, 2),
        meta(
            1,
            metadata_record::Record::Topic(TopicRecord {
                name: "t".into(),
                ..Default::default()
            }),
        ),
        meta(
            2,
            metadata_record::Record::Partition(PartitionRecord {
                topic: "t".into(),
                partition: 0,
                replicas: vec![2, 3],
                isr: vec![2, 3],
                leader: 2,
                leader_epoch: 0,
                partition_epoch: 0,
            }),
        ),
    ];
    // Not registered yet: the image advances, the partitions do not.
    assert!(broker.apply_metadata(&history).unwrap().is_empty());
    assert_eq!(broker.applied_offset(), 3);
    assert!(broker.replicas.get("t", 0).is_none());
    // Registered at offset 3, but only the records before it have arrived: still nothing.
    broker
        .broker_epoch
        .store(3, std::sync::atomic::Ordering::Release);
    assert!(broker.apply_metadata(&history).unwrap().is_empty());
    assert!(broker.replicas.get("t", 0).is_none());
    // The registration and, in the same commit, leadership moved to broker 3 in epoch 1.
    let registered = [
        registration(3, 2),
        meta(
            4,
            metadata_record::Record::PartitionChange(PartitionChangeRecord {
                topic: "t".into(),
                partition: 0,
                isr: vec![3],
                leader: 3,
                leader_epoch: 1,
                partition_epoch: 1,
                unclean: false,
            }),
        ),
    ];
    let to_follow = broker.apply_metadata(&registered).unwrap();
    let part = broker
        .replicas
        .get("t", 0)
        .expect("t-0 loaded after the registration");
    let state = part.state();
    assert!(!state.is_leader(), "{state:?}");
    assert_eq!(state.leader_epoch(), 1);
    assert_eq!(
        to_follow
            .iter()
            .map(|(p, leader, epoch)| (p.index, *leader, *epoch))
            .collect::<Vec<_>>(),
        vec![(0, 3, 1)]
    );
}
