//! Committed consumer offsets over the wire: FindCoordinator, OffsetCommit and OffsetFetch, their
//! errors, and commits surviving clean and abrupt restarts (they are records in
//! `__consumer_offsets`, replayed on load).

mod common;

use brook_proto::ErrorCode;
use brook_proto::v1::*;
use common::*;

const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The LEO of every `__consumer_offsets` partition, in partition order.
async fn offsets_topic_leos(b: &TestBroker) -> Vec<i64> {
    let d = b.describe(OFFSETS_TOPIC).await;
    assert_eq!(code(d.error_code), ErrorCode::None, "{d:?}");
    d.partitions.iter().map(|p| p.log_end_offset).collect()
}

#[tokio::test]
async fn find_coordinator_names_this_broker() {
    let b = TestBroker::start().await;
    let r = b
        .client()
        .find_coordinator(FindCoordinatorRequest { key: "g".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!(r.node_id, 1);
    assert_eq!(format!("{}:{}", r.host, r.port), b.addr);
    // The offsets topic now exists, internal, with the configured partition count.
    let d = b.describe(OFFSETS_TOPIC).await;
    assert_eq!(code(d.error_code), ErrorCode::None, "{d:?}");
    assert!(d.is_internal);
    assert_eq!(d.partitions.len(), 50);
}

#[tokio::test]
async fn commit_then_fetch_returns_the_committed_offsets() {
    let b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]).await;
    b.create_topic("t", 2, &[]).await;
    let r = b.commit("g", &[("t", 0, 42), ("t", 1, 7)]).await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    for p in &r.topics[0].partitions {
        assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
    }
    assert_eq!(b.committed("g", "t", 0).await, 42);
    assert_eq!(b.committed("g", "t", 1).await, 7);
    // Metadata and leader epoch come back too.
    let f = b.offset_fetch("g", &[("t", &[0])]).await;
    let p = &f.topics[0].partitions[0];
    assert_eq!((p.metadata.as_str(), p.committed_leader_epoch), ("m42", 0));
    // A later commit replaces the earlier one; other groups are independent.
    let r = b.commit("g", &[("t", 0, 50)]).await;
    assert_eq!(code(r.topics[0].partitions[0].error_code), ErrorCode::None);
    assert_eq!(b.committed("g", "t", 0).await, 50);
    assert_eq!(b.committed("g", "t", 1).await, 7);
    assert_eq!(b.committed("other", "t", 0).await, -1);
    // Fetching with no topics lists everything the group committed.
    let all = b.offset_fetch("g", &[]).await;
    assert_eq!(code(all.error_code), ErrorCode::None);
    let mut got: Vec<(String, i32, i64)> = all
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition, p.committed_offset))
        })
        .collect();
    got.sort();
    assert_eq!(got, [("t".to_string(), 0, 50), ("t".to_string(), 1, 7)]);
}

#[tokio::test]
async fn offset_fetch_for_an_unknown_group_is_minus_one() {
    let b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]).await;
    b.create_topic("t", 1, &[]).await;
    assert_eq!(b.committed("never-committed", "t", 0).await, -1);
    let f = b.offset_fetch("never-committed", &[("t", &[0])]).await;
    let p = &f.topics[0].partitions[0];
    assert_eq!(p.committed_leader_epoch, -1);
    assert!(p.metadata.is_empty());
    let all = b.offset_fetch("never-committed", &[]).await;
    assert_eq!(code(all.error_code), ErrorCode::None);
    assert!(all.topics.is_empty(), "{all:?}");
}

#[tokio::test]
async fn an_empty_group_id_is_invalid_group_id() {
    let b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]).await;
    b.create_topic("t", 1, &[]).await;
    let r = b
        .client()
        .find_coordinator(FindCoordinatorRequest { key: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(r.error_code), ErrorCode::InvalidGroupId, "{r:?}");
    assert_eq!(r.node_id, -1);
    let r = b.commit("", &[("t", 0, 1)]).await;
    assert_eq!(code(r.error_code), ErrorCode::InvalidGroupId, "{r:?}");
    for p in &r.topics[0].partitions {
        assert_eq!(code(p.error_code), ErrorCode::InvalidGroupId, "{p:?}");
    }
    let f = b.offset_fetch("", &[("t", &[0])]).await;
    assert_eq!(code(f.error_code), ErrorCode::InvalidGroupId, "{f:?}");
    // Nothing was stored anywhere: the offsets topic was not even needed.
    assert!(!b.topic_exists(OFFSETS_TOPIC).await);
}

#[tokio::test]
async fn committing_for_an_unknown_topic_or_partition_is_refused_and_stores_nothing() {
    let b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]).await;
    b.create_topic("t", 1, &[]).await;
    b.commit_ok("g", &[("t", 0, 5)]).await;
    let before = offsets_topic_leos(&b).await;
    for (topic, partition) in [("nope", 0), ("t", 1)] {
        let r = b.commit("g", &[(topic, partition, 9)]).await;
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            code(p.error_code),
            ErrorCode::UnknownTopicOrPartition,
            "{r:?}"
        );
        assert_eq!(offsets_topic_leos(&b).await, before, "nothing appended");
        let f = b.offset_fetch("g", &[(topic, &[partition])]).await;
        assert_eq!(f.topics[0].partitions[0].committed_offset, -1);
    }
    assert_eq!(b.committed("g", "t", 0).await, 5);
    // A negative offset is refused too (Brook's choice: INVALID_REQUEST).
    let r = b.commit("g", &[("t", 0, -3)]).await;
    assert_eq!(
        code(r.topics[0].partitions[0].error_code),
        ErrorCode::InvalidRequest,
        "{r:?}"
    );
    assert_eq!(b.committed("g", "t", 0).await, 5);
    assert_eq!(offsets_topic_leos(&b).await, before);
}

#[tokio::test]
async fn commits_survive_a_clean_restart() {
    let mut b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]).await;
    b.create_topic("t", 2, &[]).await;
    b.commit_ok("g1", &[("t", 0, 10), ("t", 1, 11)]).await;
    b.commit_ok("g2", &[("t", 0, 20)]).await;
    b.commit_ok("g1", &[("t", 0, 12)]).await;
    b.restart_clean().await;
    assert_eq!(
        b.committed("g1", "t", 0).await,
        12,
        "the latest commit wins"
    );
    assert_eq!(b.committed("g1", "t", 1).await, 11);
    assert_eq!(b.committed("g2", "t", 0).await, 20);
    assert_eq!(b.committed("g2", "t", 1).await, -1);
    // And commits keep working after the restart.
    b.commit_ok("g2", &[("t", 1, 21)]).await;
    assert_eq!(b.committed("g2", "t", 1).await, 21);
}

#[tokio::test]
async fn commits_survive_an_abrupt_kill_and_restart() {
    let mut b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]).await;
    b.create_topic("t", 2, &[]).await;
    b.commit_ok("g1", &[("t", 0, 10), ("t", 1, 11)]).await;
    b.commit_ok("g2", &[("t", 0, 20)]).await;
    b.commit_ok("g1", &[("t", 0, 12)]).await;
    b.kill_and_restart().await;
    assert_eq!(
        b.committed("g1", "t", 0).await,
        12,
        "the latest commit wins"
    );
    assert_eq!(b.committed("g1", "t", 1).await, 11);
    assert_eq!(b.committed("g2", "t", 0).await, 20);
    b.commit_ok("g2", &[("t", 1, 21)]).await;
    assert_eq!(b.committed("g2", "t", 1).await, 21);
    b.kill_and_restart().await;
    assert_eq!(b.committed("g2", "t", 1).await, 21);
    assert_eq!(b.committed("g1", "t", 0).await, 12);
}

#[tokio::test]
async fn an_unknown_partition_in_a_commit_does_not_fail_the_known_ones() {
    let b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]).await;
    b.create_topic("t", 2, &[]).await;
    // Kafka answers OffsetCommit per partition: the unknown one fails, the others are stored.
    let r = b
        .commit("g", &[("t", 0, 6), ("nope", 0, 9), ("t", 1, 8)])
        .await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    let mut got: Vec<(String, i32, ErrorCode)> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition, code(p.error_code)))
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("nope".to_string(), 0, ErrorCode::UnknownTopicOrPartition),
            ("t".to_string(), 0, ErrorCode::None),
            ("t".to_string(), 1, ErrorCode::None),
        ]
    );
    assert_eq!(b.committed("g", "t", 0).await, 6);
    assert_eq!(b.committed("g", "t", 1).await, 8);
    let f = b.offset_fetch("g", &[("nope", &[0])]).await;
    assert_eq!(f.topics[0].partitions[0].committed_offset, -1);
}

#[tokio::test]
async fn an_empty_commit_succeeds_and_stores_nothing() {
    let b = TestBroker::start_with(&[("offsets.topic.num.partitions", "3")]).await;
    b.create_topic("t", 1, &[]).await;
    b.commit_ok("g", &[("t", 0, 1)]).await;
    let before = offsets_topic_leos(&b).await;
    let r = b.commit("g", &[]).await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert!(r.topics.is_empty());
    assert_eq!(offsets_topic_leos(&b).await, before);
    assert_eq!(b.committed("g", "t", 0).await, 1);
}
