//! The controller quorum (issue 10, seed §7.2): with every broker a controller voter, losing any
//! one broker — the active controller included — stops writes only for the failover window.
//!
//! - `killing_the_active_controller_under_idempotent_traffic_loses_nothing`
//! - `an_isolated_controller_changes_nothing_and_follows_after_heal`
//! - `with_two_of_three_voters_down_metadata_is_refused_but_produce_goes_on`
//! - `restarting_every_voter_keeps_the_metadata_from_snapshot_and_log`
//! - `a_voter_with_a_different_voter_set_refuses_to_start`
//! - `a_voter_that_missed_the_purged_log_catches_up_from_a_snapshot`
//! - `a_slow_active_controller_resigns_and_is_replaced`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brook::client::ErrorCode;
use brook::{Acks, Cluster, ClusterView, ProducerRecord, TopicPartition};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(20);
const TOPIC: &str = "orders";

async fn three_voters() -> Cluster {
    Cluster::builder()
        .brokers(3)
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap()
}

async fn active(cluster: &Cluster) -> i32 {
    let v = cluster
        .wait_until(|v| v.active_controller().is_some(), WAIT)
        .await
        .unwrap_or_else(|e| panic!("no active controller: {e}"));
    v.active_controller().unwrap_or(-1)
}

/// The partitions each broker leads.
fn led_by(v: &ClusterView, partitions: i32, broker: i32) -> Vec<i32> {
    (0..partitions)
        .filter(|p| v.leader(TOPIC, *p) == Some(broker))
        .collect()
}

/// acks=all idempotent records `run-0`, `run-1`, … sent without pause until stopped; returns
/// the values that were acknowledged.
fn traffic(
    producer: brook::Producer,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut i = 0;
        while !stop.load(Ordering::Acquire) {
            let value = format!("run-{i}");
            i += 1;
            match producer
                .send_and_wait(ProducerRecord::new(TOPIC, value.clone()))
                .await
            {
                Ok(_) => acked.push(value),
                Err(e) => panic!("acks=all idempotent send of {value} failed: {e}"),
            }
        }
        producer.close().await;
        acked
    })
}

/// Every value in the topic, read from the beginning, with how often each appears.
async fn read_all(cluster: &Cluster, partitions: i32, expect: usize) -> BTreeMap<String, usize> {
    let mut consumer = cluster.consumer().from_beginning().build().await.unwrap();
    consumer.assign(
        (0..partitions)
            .map(|p| TopicPartition::new(TOPIC, p))
            .collect(),
    );
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    let mut total = 0;
    while total < expect && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            *seen.entry(v).or_insert(0) += 1;
            total += 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_active_controller_under_idempotent_traffic_loses_nothing() {
    let cluster = three_voters().await;
    cluster
        .create_topic(TOPIC, 3, 3)
        .config("min.insync.replicas", "2")
        .await
        .unwrap();
    let old = active(&cluster).await;
    let before = cluster
        .wait_until(|v| (0..3).all(|p| v.isr(TOPIC, p).len() == 3), WAIT)
        .await
        .unwrap();
    let led = led_by(&before, 3, old);

    let producer = cluster.producer().acks(Acks::All).build().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let task = traffic(producer, stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;

    cluster.kill(old).await.unwrap();
    let after = cluster
        .wait_until(
            |v| {
                v.active_controller().is_some_and(|c| c != old)
                    && led
                        .iter()
                        .all(|p| v.leader(TOPIC, *p).is_some_and(|l| l != old))
            },
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("no failover from controller {old}: {e}"));
    let new = after.active_controller().unwrap();
    assert_ne!(new, old);
    // The producer goes on through the new leaders.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Release);
    let acked = task.await.unwrap();
    assert!(
        acked.len() > 10,
        "too few acknowledged writes: {}",
        acked.len()
    );

    let seen = read_all(&cluster, 3, acked.len()).await;
    let lost: Vec<&String> = acked.iter().filter(|v| !seen.contains_key(*v)).collect();
    let duplicated: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost: {lost:?}",
        lost.len()
    );
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    // Producer ids stay unique across the failover: a new producer gets a fresh one.
    let p2 = cluster.producer().acks(Acks::All).build().await.unwrap();
    p2.send_and_wait(ProducerRecord::new(TOPIC, "after"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_controller_changes_nothing_and_follows_after_heal() {
    let cluster = three_voters().await;
    cluster.create_topic(TOPIC, 3, 3).await.unwrap();
    let old = active(&cluster).await;
    cluster.isolate(old).await.unwrap();
    let v = cluster
        .wait_until(|v| v.active_controller().is_some_and(|c| c != old), WAIT)
        .await
        .unwrap_or_else(|e| panic!("the majority elected no controller: {e}"));
    let new = v.active_controller().unwrap();
    let isolated = cluster.broker(old).await.unwrap();
    let frozen = isolated.controller().unwrap().image().next_offset;

    // The majority changes metadata; the isolated voter learns nothing of it.
    let admin = cluster.admin().unwrap();
    admin.create_topic("during", 1, 2, &[]).await.unwrap();
    cluster
        .wait_until(
            |v| v.clusters.contains_key(&new) && v.topic("during").is_some(),
            WAIT,
        )
        .await
        .unwrap();
    let host = isolated.controller().unwrap();
    assert!(
        !host.is_active(),
        "a cut-off voter must not act as controller"
    );
    assert!(!host.image().topics.contains_key("during"));
    assert_eq!(
        host.image().next_offset,
        frozen,
        "the minority committed metadata"
    );
    let described = host.describe().await;
    assert_ne!(described.leader_id, old);

    cluster.heal().await.unwrap();
    let deadline = Instant::now() + WAIT;
    while !host.image().topics.contains_key("during") {
        assert!(
            Instant::now() < deadline,
            "the old controller did not catch up after heal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = active(&cluster).await;
    assert!(c == new || c == old, "active controller {c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_of_three_voters_down_metadata_is_refused_but_produce_goes_on() {
    // Five brokers, voters 1-3; the topic lives on brokers 4 and 5 only.
    let cluster = Cluster::builder()
        .brokers(5)
        .controller_voters(3)
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    let admin = cluster.admin().unwrap();
    admin
        .create_topic_with_assignment(
            TOPIC,
            &[vec![4, 5]],
            &[("min.insync.replicas".into(), "2".into())],
        )
        .await
        .unwrap();
    cluster
        .wait_until(|v| v.isr(TOPIC, 0).len() == 2, WAIT)
        .await
        .unwrap();
    let producer = cluster.producer().acks(Acks::All).build().await.unwrap();
    producer
        .send_and_wait(ProducerRecord::new(TOPIC, "before"))
        .await
        .unwrap();

    let survivor = active(&cluster).await;
    // DescribeQuorum: three voters, the leader caught up, brokers 4 and 5 as observers.
    let q = admin.describe_quorum().await.unwrap();
    let ids =
        |r: &[brook::proto::v1::QuorumReplica]| r.iter().map(|v| v.node_id).collect::<Vec<_>>();
    assert_eq!(q.leader_id, survivor, "{q:?}");
    assert_eq!(ids(&q.voters), [1, 2, 3], "{q:?}");
    assert_eq!(ids(&q.observers), [4, 5], "{q:?}");
    assert!(q.high_watermark > 0 && q.leader_epoch > 0, "{q:?}");
    let leader = q.voters.iter().find(|v| v.node_id == survivor).unwrap();
    assert_eq!(leader.status, "Leader");
    assert!(
        q.observers.iter().all(|o| o.last_fetch_timestamp > 0),
        "{q:?}"
    );
    for id in (1..=3).filter(|id| *id != survivor) {
        cluster.kill(id).await.unwrap();
    }
    cluster
        .wait_until(|v| v.active_controller().is_none(), WAIT)
        .await
        .unwrap_or_else(|e| panic!("a lone voter still acts as controller: {e}"));

    // Metadata changes are refused with an error that says why.
    let short = brook::client::Admin::with_channels(
        brook::client::AdminConfig::new(&cluster.bootstrap_servers())
            .request_timeout(Duration::from_secs(3)),
        cluster.client_channels(),
    )
    .unwrap();
    let err = short.create_topic("refused", 1, 1, &[]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err.code(),
            Some(ErrorCode::NotController | ErrorCode::RequestTimedOut)
        ) || text.contains("NOT_CONTROLLER"),
        "unexpected error: {text}"
    );
    assert!(
        text.contains("controller"),
        "the error must say what is missing: {text}"
    );

    // The partition whose whole ISR is alive keeps taking acks=all writes.
    for i in 0..20 {
        producer
            .send_and_wait(ProducerRecord::new(TOPIC, format!("during-{i}")))
            .await
            .unwrap_or_else(|e| panic!("produce with the quorum down: {e}"));
    }
    producer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_every_voter_keeps_the_metadata_from_snapshot_and_log() {
    let cluster = Cluster::builder()
        .brokers(3)
        // Snapshot every few entries, so the restart loads a snapshot plus the log after it.
        .broker_config("metadata.log.max.entries.between.snapshots", "5")
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    for i in 0..6 {
        cluster.create_topic(&format!("t{i}"), 2, 3).await.unwrap();
    }
    cluster
        .admin()
        .unwrap()
        .alter_topic_config("t0", &[("retention.ms".into(), "1000000".into())], &[])
        .await
        .unwrap();
    let before = cluster
        .wait_until(
            |v| (0..6).all(|i| v.isr(&format!("t{i}"), 1).len() == 3),
            WAIT,
        )
        .await
        .unwrap();
    for id in 1..=3 {
        let dir = cluster.data_dir(id).unwrap();
        assert!(
            dir.join("quorum-snapshot").exists(),
            "broker {id} wrote no metadata snapshot"
        );
    }
    for id in 1..=3 {
        cluster.kill(id).await.unwrap();
    }
    for id in 1..=3 {
        cluster.restart(id).await.unwrap();
    }
    let after = cluster
        .wait_until(
            |v| {
                v.active_controller().is_some()
                    && (1..=3).all(|id| v.lists_unfenced(id, &[1, 2, 3]))
                    && (0..6).all(|i| v.leader(&format!("t{i}"), 0).is_some())
            },
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("cluster did not come back: {e}"));
    for i in 0..6 {
        let t = format!("t{i}");
        let (b, a) = (before.topic(&t).unwrap(), after.topic(&t).unwrap());
        assert_eq!(a.partitions.len(), b.partitions.len(), "{t}");
        for (pa, pb) in a.partitions.iter().zip(&b.partitions) {
            assert_eq!(pa.replicas, pb.replicas, "{t}");
        }
    }
    let t0 = after.topic("t0").unwrap();
    assert!(
        t0.configs
            .iter()
            .any(|(k, v)| k == "retention.ms" && v == "1000000"),
        "config lost: {:?}",
        t0.configs
    );
    let producer = cluster.producer().acks(Acks::All).build().await.unwrap();
    producer
        .send_and_wait(ProducerRecord::new("t3", "after"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_with_a_different_voter_set_refuses_to_start() {
    let cluster = three_voters().await;
    let dir = cluster.data_dir(3).unwrap().to_path_buf();
    cluster.kill(3).await.unwrap();
    // Broker 3's metadata log records voters 1,2,3; now it is told the voters are 3 and 4.
    let config = brook::broker::BrokerConfig::from_pairs([
        ("node.id", "3".to_string()),
        ("listeners", "127.0.0.1:0".to_string()),
        ("log.dirs", dir.display().to_string()),
        (
            "controller.quorum.voters",
            "3@127.0.0.1:1,4@127.0.0.1:2".to_string(),
        ),
    ])
    .unwrap();
    let err = brook::broker::BrokerHandle::start(config)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidConfig, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("controller.quorum.voters") && text.contains("1,2,3"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_that_missed_the_purged_log_catches_up_from_a_snapshot() {
    let cluster = Cluster::builder()
        .brokers(3)
        // Snapshot every 5 entries and keep only 5 after it: a voter down for longer than that
        // can only catch up by installing the leader's snapshot.
        .broker_config("metadata.log.max.entries.between.snapshots", "5")
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    let old = active(&cluster).await;
    let behind = (1..=3).find(|id| *id != old).unwrap();
    cluster.kill(behind).await.unwrap();
    for i in 0..15 {
        cluster.create_topic(&format!("t{i}"), 1, 2).await.unwrap();
    }
    cluster.restart(behind).await.unwrap();
    let broker = cluster.broker(behind).await.unwrap();
    let host = broker.controller().unwrap().clone();
    let deadline = Instant::now() + WAIT;
    while !(0..15).all(|i| host.image().topics.contains_key(&format!("t{i}"))) {
        assert!(
            Instant::now() < deadline,
            "voter {behind} did not catch up: {:?}",
            host.image().topics.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let q = host.describe().await;
    assert!(q.high_watermark > 15, "{q:?}");
    // The entries it lacked were purged on the leader: they came as one snapshot.
    assert!(
        host.snapshots_installed() >= 1,
        "voter {behind} caught up without installing a snapshot"
    );
    assert!(
        cluster
            .data_dir(behind)
            .unwrap()
            .join("quorum-snapshot")
            .exists()
    );
}

/// A gray failure: every link of the active controller gets 200 ms of latency each way, more than
/// half its lease. Its heartbeats still arrive (so, without check-quorum, the others would never
/// elect) but no answer comes back in time: it resigns and a healthy voter takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_active_controller_resigns_and_is_replaced() {
    let cluster = three_voters().await;
    let slow = active(&cluster).await;
    cluster
        .slow(slow, Duration::from_millis(200))
        .await
        .unwrap();
    let replaced = cluster
        .wait_until(|v| v.active_controller().is_some_and(|c| c != slow), WAIT)
        .await;
    cluster.slow(slow, Duration::ZERO).await.unwrap();
    let v =
        replaced.unwrap_or_else(|e| panic!("no voter replaced the slow controller {slow}: {e}"));
    let new = v.active_controller().unwrap();
    // The cluster works under the new controller: a topic can be created.
    cluster.create_topic("after", 1, 3).await.unwrap();
    assert_ne!(new, slow);
}
