//! `brook top` against an embedded 3-broker cluster: the snapshot poller marks a killed broker
//! DEAD and the partitions it replicated under-replicated (from the other brokers' answers), and
//! `brook top --once` prints the partition rows and a group's Burrow status. (Rendering is tested on hand-built snapshots in
//! `src/top/tests.rs`.)

use std::collections::BTreeMap;
use std::time::Duration;

use brook::client::admin::LagStatus;

use brook::top::{Poller, Snapshot};
use brook::{Cluster, ProducerRecord, TopicPartition};

#[path = "common/serve.rs"]
mod serve;

const WAIT: Duration = Duration::from_secs(20);

async fn cluster_with_topic() -> Cluster {
    // One controller voter (broker 1): the killed broker is never the controller.
    let cluster = Cluster::builder()
        .brokers(3)
        .controller_voters(1)
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    cluster
        .create_topic("top", 3, 3)
        .config("min.insync.replicas", "3")
        .await
        .unwrap();
    cluster
        .wait_until(|v| (0..3).all(|p| v.isr("top", p).len() == 3), WAIT)
        .await
        .unwrap();
    let producer = cluster.producer().build().await.unwrap();
    for p in 0..3 {
        producer
            .send_and_wait(ProducerRecord::new("top", format!("r{p}")).partition(p))
            .await
            .unwrap();
    }
    producer.close().await;
    cluster
}

/// Polls until `pred` holds for a snapshot (bounded), returning it.
async fn poll_until(poller: &mut Poller, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        let snap = poller.poll().await;
        if pred(&snap) {
            return snap;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{what} not seen within {WAIT:?}; last snapshot: {snap:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_broker_is_dead_and_its_partitions_under_replicated() {
    let cluster = cluster_with_topic().await;
    let bootstrap = cluster
        .bootstrap_servers()
        .split(',')
        .map(str::to_string)
        .collect();
    let mut poller = Poller::new(bootstrap);
    let healthy = poll_until(&mut poller, "a healthy cluster", |s| {
        s.brokers.iter().filter(|b| b.alive).count() == 3
            && s.partitions.iter().filter(|p| p.topic == "top").count() == 3
            && s.partitions.iter().all(|p| !p.under_replicated())
            && s.partitions.iter().all(|p| p.high_watermark == Some(1))
    })
    .await;
    assert_eq!(
        healthy.brokers.iter().filter(|b| b.controller).count(),
        1,
        "{healthy:#?}"
    );
    let victim = 3;
    cluster.kill(victim).await.unwrap();
    let after = poll_until(
        &mut poller,
        "broker 3 dead, its partitions under-replicated",
        |s| {
            s.brokers.iter().any(|b| b.id == victim && !b.alive)
                && s.partitions
                    .iter()
                    .filter(|p| p.replicas.contains(&victim))
                    .all(|p| p.under_replicated() && !p.isr.contains(&victim))
        },
    )
    .await;
    assert!(after.stale_since_ms.is_none());
    assert_eq!(after.brokers.iter().filter(|b| b.alive).count(), 2);
    // min.insync.replicas=3 with two replicas left: every partition is under min ISR too.
    assert!(
        after.partitions.iter().all(|p| p.under_min_isr()),
        "{after:#?}"
    );
    for p in &after.partitions {
        let dead = p.replica_rows.iter().find(|r| r.id == victim).unwrap();
        assert!(!dead.alive && !dead.in_isr, "{p:#?}");
        assert!(p.leader.is_some_and(|l| l != victim), "{p:#?}");
    }
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_once_prints_the_partition_rows_and_the_group_status() {
    let cluster = cluster_with_topic().await;
    // A group caught up on every partition: its coordinator evaluates it OK once a commit has
    // landed in each window (a commit that arrives before the coordinator knows a remote
    // partition's end offset is not stored, as in Burrow, so commit until it says OK).
    let admin = cluster.admin().unwrap();
    let caught_up: BTreeMap<TopicPartition, i64> =
        (0..3).map(|p| (TopicPartition::new("top", p), 1)).collect();
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        admin
            .alter_consumer_group_offsets("watchers", caught_up.clone())
            .await
            .unwrap();
        let lag = admin.group_lag("watchers").await.unwrap();
        if lag.status == LagStatus::Ok && lag.partitions.len() == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "never OK: {lag:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bootstrap = cluster.bootstrap_servers();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        serve::run_brook(&["top", "--once", "--bootstrap-server", &bootstrap], "")
    })
    .await
    .unwrap();
    assert!(ok, "brook top --once failed: {err}");
    assert!(out.contains("TOPIC"), "{out}");
    for p in 0..3 {
        let row = out
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .take(2)
                    .eq(["top".to_string(), p.to_string()]
                        .iter()
                        .map(String::as_str))
            })
            .unwrap_or_else(|| panic!("no row for top-{p}:\n{out}"));
        assert!(row.contains("[") && row.contains(":1"), "{row}");
    }
    assert_eq!(out.matches("alive").count(), 3, "{out}");
    let group = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some("watchers"))
        .unwrap_or_else(|| panic!("no group row:\n{out}"));
    assert_eq!(group.split_whitespace().last(), Some("OK"), "{group}");
    cluster.shutdown().await.unwrap();
}
