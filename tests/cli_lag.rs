//! `brook lag` end to end: the built binary against an embedded cluster (lag refresh 200 ms
//! and no min distance, the cluster's test defaults). A group's committed offset is set from
//! outside the group (the admin client), the log grows, and the printed STATUS moves from OK to
//! STOP; an unknown group gets Kafka's words.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use brook::Cluster;
use brook::client::{ProducerRecord, TopicPartition};

#[path = "common/serve.rs"]
mod serve;

async fn lag(cluster: &Cluster, group: &str) -> (bool, String, String) {
    let args = [
        "lag".to_string(),
        "--bootstrap-server".to_string(),
        cluster.bootstrap_servers(),
        "--group".to_string(),
        group.to_string(),
    ];
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serve::run_brook(&args, "")
    })
    .await
    .unwrap()
}

/// The group line's STATUS and the partition rows' STATUS column.
fn statuses(out: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = out.lines().collect();
    let cell = |line: &str, i: usize| line.split_whitespace().nth(i).unwrap_or("").to_string();
    assert_eq!(cell(lines[0], 1), "STATUS", "{out}");
    let group = cell(lines[1], 1);
    let rows = lines
        .iter()
        .skip_while(|l| !l.starts_with("TOPIC"))
        .skip(1)
        .map(|l| cell(l, 2))
        .collect();
    (group, rows)
}

async fn produce(cluster: &Cluster, n: usize) {
    let producer = cluster.producer().build().await.unwrap();
    for i in 0..n {
        let r = ProducerRecord::new("orders", format!("r{i}")).partition(0);
        producer.send_and_wait(r).await.unwrap();
    }
    producer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brook_lag_prints_ok_while_caught_up_then_stop_once_commits_stop_and_the_log_grows() {
    let cluster = Cluster::builder().brokers(1).start().await.unwrap();
    cluster.create_topic("orders", 1, 1).await.unwrap();
    produce(&cluster, 5).await;
    let admin = cluster.admin().unwrap();
    admin
        .alter_consumer_group_offsets(
            "billing",
            BTreeMap::from([(TopicPartition::new("orders", 0), 5)]),
        )
        .await
        .unwrap();

    let (ok, out, err) = lag(&cluster, "billing").await;
    assert!(ok, "{err}");
    assert_eq!(statuses(&out), ("OK".into(), vec!["OK".into()]), "{out}");
    assert!(
        out.contains("TOPIC   PARTITION  STATUS  CURRENT-OFFSET  LOG-END-OFFSET  LAG  WINDOW"),
        "{out}"
    );

    // The log grows and nobody commits: within a few refreshes the partition is STOP and the
    // group ERR (bounded: 10 s).
    produce(&cluster, 5).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let out = loop {
        let (ok, out, err) = lag(&cluster, "billing").await;
        assert!(ok, "{err}");
        if statuses(&out).1 == ["STOP"] {
            break out;
        }
        assert!(Instant::now() < deadline, "never STOP: {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(statuses(&out).0, "ERR", "{out}");
    let row: Vec<&str> = out.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(row[..6], ["orders", "0", "STOP", "5", "10", "5"], "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brook_lag_of_an_unknown_group_says_it_does_not_exist() {
    let cluster = Cluster::builder().brokers(1).start().await.unwrap();
    let (ok, _, err) = lag(&cluster, "nobody").await;
    assert!(!ok);
    assert!(
        err.contains("Consumer group 'nobody' does not exist."),
        "{err}"
    );
}
