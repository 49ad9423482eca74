//! A first end-to-end check: start a broker, create a topic, produce, fetch.

use brook_broker::{BrokerConfig, BrokerHandle};
use brook_log::record::BatchBuilder;
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::*;

#[tokio::test]
async fn produce_then_fetch_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig::from_pairs([
        ("listeners", "127.0.0.1:0"),
        ("log.dirs", dir.path().to_str().unwrap()),
    ])
    .unwrap();
    let handle = BrokerHandle::start(config).await.unwrap();
    let channel = Channels::default().get(&handle.addr().to_string()).unwrap();
    let mut admin = AdminClient::new(channel.clone());
    let mut client = BrookClient::new(channel);
    let r = admin
        .create_topics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 2,
                replication_factor: 1,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0]);
    let mut b = BatchBuilder::new();
    b.append(1, Some(b"k"), Some(b"hello"), &[]);
    let resp = client
        .produce(ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topics: vec![TopicProduceData {
                name: "t".into(),
                partitions: vec![PartitionProduceData {
                    partition: 1,
                    records: b.build(),
                }],
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0), "{p:?}");
    assert_eq!(p.durability, Durability::IsrReplicated as i32);
    let f = client
        .fetch(FetchRequest {
            replica_id: -1,
            max_wait_ms: 100,
            min_bytes: 1,
            max_bytes: 1 << 20,
            replica_epoch: -1,
            topics: vec![FetchTopic {
                name: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 1,
                    current_leader_epoch: -1,
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
            }],
        })
        .await
        .unwrap()
        .into_inner();
    let fp = &f.topics[0].partitions[0];
    assert_eq!(fp.high_watermark, 1);
    let recs = brook_log::record::decode_records(&fp.records).unwrap();
    assert_eq!(recs[0].value.as_deref(), Some(&b"hello"[..]));
    handle.shutdown().await.unwrap();
}
