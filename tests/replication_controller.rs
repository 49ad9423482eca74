//! The controller going away (SPEC §5): while it is down, existing leaders keep serving produce
//! (acks=all included, as long as the ISR needs no change) and fetch; after it restarts it replays
//! its metadata log and gives every broker one session timeout before fencing anyone, so nothing
//! moves just because the controller was gone.

use std::time::Duration;

use brook::Cluster;
use brook::proto::net::Channels;
use brook::proto::v1::brook_client::BrookClient;
use brook::proto::v1::*;

const WAIT: Duration = Duration::from_secs(20);

fn one_record(value: &str) -> bytes::Bytes {
    let mut b = brook::log::record::BatchBuilder::new();
    b.append(0, None, Some(value.as_bytes()), &[]);
    b.build()
}

async fn produce_all(
    cluster: &Cluster,
    leader: i32,
    topic: &str,
    p: i32,
    value: &str,
) -> PartitionProduceResponse {
    let addr = cluster.addr(leader).unwrap().to_string();
    let mut client = BrookClient::new(Channels::default().get(&addr).unwrap());
    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 3000,
        topics: vec![TopicProduceData {
            name: topic.into(),
            partitions: vec![PartitionProduceData {
                partition: p,
                records: one_record(value),
            }],
        }],
    };
    client.produce(req).await.unwrap().into_inner().topics[0].partitions[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_keep_serving_while_the_controller_is_down_and_nobody_is_fenced_after_it_returns() {
    // The seed's "controller restart" test: one voter, so the controller really is gone.
    let cluster = Cluster::builder()
        .brokers(3)
        .controller_voters(1)
        .broker_config("broker.session.timeout.ms", "1500")
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    // A partition replicated on brokers 2 and 3 only, so the controller's broker holds no replica.
    cluster.create_topic("orders", 6, 2).await.unwrap();
    let view = cluster
        .wait_until(|v| (0..6).all(|p| v.isr("orders", p).len() == 2), WAIT)
        .await
        .unwrap();
    let p = (0..6)
        .find(|p| !view.replicas("orders", *p).contains(&1))
        .unwrap_or_else(|| panic!("no partition avoids broker 1: {}", view.summary()));
    let leader = view.leader("orders", p).unwrap();
    let epoch = view.leader_epoch("orders", p).unwrap();
    let r = produce_all(&cluster, leader, "orders", p, "before").await;
    assert_eq!(r.error_code, 0, "{r:?}");

    cluster.kill_keep_page_cache(1).await.unwrap();
    // Controller gone for longer than a session timeout: the leader still commits acks=all
    // writes through its ISR the whole time.
    let down_until = tokio::time::Instant::now() + Duration::from_millis(2000);
    let mut written = 1;
    while tokio::time::Instant::now() < down_until {
        let r = produce_all(&cluster, leader, "orders", p, &format!("during-{written}")).await;
        assert_eq!(
            r.error_code, 0,
            "acks=all while the controller is down: {r:?}"
        );
        assert_eq!(r.base_offset, written);
        written += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    cluster.restart(1).await.unwrap();
    // Within one session timeout of grace every broker re-heartbeats: nobody is fenced, and the
    // partition keeps its leader and epoch.
    let view = cluster
        .wait_until(
            |v| [1, 2, 3].iter().all(|at| v.lists_unfenced(*at, &[1, 2, 3])),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(view.leader("orders", p), Some(leader));
    assert_eq!(
        view.leader_epoch("orders", p),
        Some(epoch),
        "no election happened"
    );
    let r = produce_all(&cluster, leader, "orders", p, "after").await;
    assert_eq!((r.error_code, r.base_offset), (0, written), "{r:?}");
    let v = cluster
        .wait_until(|v| v.high_watermark("orders", p) == Some(written + 1), WAIT)
        .await
        .unwrap();
    assert_eq!(v.isr("orders", p).len(), 2);
}
