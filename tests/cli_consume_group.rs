//! `brook consume --group G` end to end: the built binary against an embedded cluster. Two
//! consoles in one group share the topic's partitions, nothing is printed twice across them (what
//! one printed is committed after each poll and on revocation), and the group's committed offsets
//! end at the log end; `--max-messages` commits exactly what was printed.

use std::collections::{BTreeMap, BTreeSet};

use brook::Cluster;
use brook::client::{ProducerRecord, TopicPartition};

#[path = "common/serve.rs"]
mod serve;

const PARTITIONS: i32 = 4;
const RECORDS: usize = 400;

/// `brook consume --bootstrap-server B --topic orders ARGS` on a blocking thread:
/// (exit status 0, stdout, stderr).
async fn consume(cluster: &Cluster, args: &[&str]) -> (bool, String, String) {
    let mut all = vec![
        "consume".to_string(),
        "--bootstrap-server".to_string(),
        cluster.bootstrap_servers(),
        "--topic".to_string(),
        "orders".to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        serve::run_brook(&args, "")
    })
    .await
    .unwrap()
}

/// One broker, `orders` with 4 partitions holding `RECORDS` keyed records ("0" … "399").
async fn cluster_with_orders() -> Cluster {
    let cluster = Cluster::builder().brokers(1).start().await.unwrap();
    cluster.create_topic("orders", PARTITIONS, 1).await.unwrap();
    let producer = cluster.producer().build().await.unwrap();
    for i in 0..RECORDS {
        let r = ProducerRecord::with_key("orders", i.to_string(), i.to_string());
        producer.send_and_wait(r).await.unwrap();
    }
    producer.close().await;
    cluster
}

async fn log_ends(cluster: &Cluster) -> BTreeMap<TopicPartition, i64> {
    let admin = cluster.admin().unwrap();
    let mut out = BTreeMap::new();
    for p in 0..PARTITIONS {
        let tp = TopicPartition::new("orders", p);
        let end = admin
            .list_offsets(&tp, brook::client::OffsetSpec::Latest)
            .await
            .unwrap();
        out.insert(tp, end);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consoles_in_one_group_share_the_partitions_and_print_nothing_twice() {
    let cluster = cluster_with_orders().await;
    let args = [
        "--group",
        "G",
        "--from-beginning",
        "--timeout-ms",
        "3000",
        "--consumer-property",
        "session.timeout.ms=2000",
        "--consumer-property",
        "heartbeat.interval.ms=100",
    ];
    let (a, b) = tokio::join!(consume(&cluster, &args), consume(&cluster, &args));
    for (ok, out, err) in [&a, &b] {
        assert!(*ok, "consume failed:\n{out}\n{err}");
        assert!(err.contains("Assigned: "), "no assignment reported:\n{err}");
    }
    let printed: Vec<&str> = a.1.lines().chain(b.1.lines()).collect();
    let distinct: BTreeSet<&str> = printed.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        RECORDS,
        "every record printed by one of them"
    );
    assert_eq!(printed.len(), RECORDS, "nothing printed twice");
    let committed = cluster
        .admin()
        .unwrap()
        .list_consumer_group_offsets("G")
        .await
        .unwrap();
    assert_eq!(committed, log_ends(&cluster).await, "lag 0 at the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_messages_commits_exactly_what_was_printed() {
    let cluster = cluster_with_orders().await;
    let (ok, out, err) = consume(
        &cluster,
        &["--group", "H", "--from-beginning", "--max-messages", "7"],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.lines().count(), 7, "{out}");
    assert!(err.contains("Processed a total of 7 messages"), "{err}");
    let committed = cluster
        .admin()
        .unwrap()
        .list_consumer_group_offsets("H")
        .await
        .unwrap();
    assert_eq!(committed.values().sum::<i64>(), 7, "{committed:?}");
    // A second console in the group starts exactly there.
    let (ok, rest, err) = consume(
        &cluster,
        &["--group", "H", "--from-beginning", "--timeout-ms", "2000"],
    )
    .await;
    assert!(ok, "{rest}\n{err}");
    let all: BTreeSet<&str> = out.lines().chain(rest.lines()).collect();
    assert_eq!(all.len(), RECORDS);
    assert_eq!(out.lines().count() + rest.lines().count(), RECORDS);
}
