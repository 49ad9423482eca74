//! CreateTopics with a manual replica assignment (Kafka's `--replica-assignment`): the replicas
//! land where asked, the first of each list leads, and bad assignments are refused by name.

use std::time::Duration;

use brook::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_land_where_asked_and_bad_assignments_are_refused() {
    let cluster = Cluster::builder().brokers(3).start().await.unwrap();
    let admin = cluster.admin().unwrap();
    admin
        .create_topic_with_assignment("placed", &[vec![3, 2], vec![2, 3]], &[])
        .await
        .unwrap();
    let view = cluster
        .wait_until(|v| v.leader("placed", 1).is_some(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(view.replicas("placed", 0), vec![3, 2]);
    assert_eq!(view.leader("placed", 0), Some(3));
    assert_eq!(view.leader("placed", 1), Some(2));
    for (name, bad) in [
        ("dup", vec![vec![1, 1]]),
        ("ghost", vec![vec![1, 9]]),
        ("ragged", vec![vec![1, 2], vec![3]]),
    ] {
        let err = admin
            .create_topic_with_assignment(name, &bad, &[])
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with("INVALID_REPLICA_ASSIGNMENT"),
            "{name}: {err}"
        );
    }
}
