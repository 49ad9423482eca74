//! The lag evaluation wired into a running coordinator (raw gRPC): OffsetCommits feed the
//! windows, the refresher follows the log's end offset, GroupLag answers, and the status moves
//! — OK while the group keeps up, STOP once its commits stop while the log grows, STALL while
//! it commits the same offset with lag, REWIND after a commit backwards. The rules themselves,
//! with scripted timestamps, are unit-tested in `group_coordinator/lag/tests.rs`; here only the
//! wiring is shown, with conditions waited for (bounded), no fixed sleeps.

mod common;

use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::{GroupLagRequest, GroupLagResponse, LagStatus, PartitionLag};
use common::cluster::Cluster3;
use common::groups::{GROUP_TEST_CONFIG, wait_for};
use common::{TestBroker, batch, code, now_ms};
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(10);
const T: &str = "t";

/// A broker refreshing end offsets every 50 ms and storing every commit (no min distance).
async fn broker() -> TestBroker {
    let mut pairs: Vec<(&str, &str)> = GROUP_TEST_CONFIG.to_vec();
    pairs.extend([
        ("group.lag.offset.refresh.ms", "50"),
        ("group.lag.window.min.distance.ms", "0"),
    ]);
    let b = TestBroker::start_with(&pairs).await;
    b.create_topic(T, 1, &[]).await;
    b
}

async fn group_lag(ch: &Channel, group: &str) -> GroupLagResponse {
    BrookClient::new(ch.clone())
        .group_lag(GroupLagRequest {
            group_id: group.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Commits `offset` for partition 0 of `t`, waiting out the coordinator's first load.
async fn commit(b: &TestBroker, group: &str, offset: i64) {
    wait_for("a commit to be stored", WAIT, || async {
        let r = b.commit(group, &[(T, 0, offset)]).await;
        let ok = code(r.error_code) == ErrorCode::None && r.topics[0].partitions[0].error_code == 0;
        ok.then_some(())
    })
    .await;
}

fn status(wire: i32) -> LagStatus {
    LagStatus::try_from(wire).unwrap_or(LagStatus::Notfound)
}

fn only_partition(r: &GroupLagResponse) -> &PartitionLag {
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!(r.partitions.len(), 1, "{r:?}");
    &r.partitions[0]
}

/// Produces `n` one-record batches to `t`-0; returns the log end offset after them.
async fn produce(b: &TestBroker, n: usize) -> i64 {
    let mut end = 0;
    for _ in 0..n {
        end = b.produce_ok(T, 0, batch(&[b"x"])).await + 1;
    }
    end
}

#[tokio::test]
async fn a_group_that_keeps_up_is_ok_and_stop_once_its_commits_stop_while_the_log_grows() {
    let b = broker().await;
    let ch = b.channel();
    for _ in 0..3 {
        let end = produce(&b, 5).await;
        commit(&b, "g", end).await;
    }
    let r = group_lag(&ch, "g").await;
    let p = only_partition(&r);
    assert_eq!(
        (status(r.status), status(p.status), p.committed_offset),
        (LagStatus::Ok, LagStatus::Ok, 15),
        "{r:?}"
    );
    assert_eq!(p.start.as_ref().map(|s| s.offset), Some(5), "{r:?}");
    assert_eq!(p.end.as_ref().map(|s| s.offset), Some(15), "{r:?}");

    // The log grows, the group commits no more: once the refresher has seen the new end and
    // the silence outlasts the window's span, the partition is STOP and the group ERR.
    let end = produce(&b, 5).await;
    let r = wait_for("the partition to be STOP", WAIT, || async {
        let r = group_lag(&ch, "g").await;
        (status(only_partition(&r).status) == LagStatus::Stop).then_some(r)
    })
    .await;
    let p = only_partition(&r);
    assert_eq!(status(r.status), LagStatus::Err, "{r:?}");
    assert_eq!(
        (p.end_offset, p.current_lag, r.total_lag),
        (end, 5, 5),
        "{r:?}"
    );
    assert_eq!(r.max_lag.as_ref().map(|m| m.partition), Some(0));

    // The gauges' view says the same (Burrow's numbers: ERR = 3).
    let summaries = b.handle().broker.coordinator.lag_summaries(now_ms());
    let g = summaries
        .iter()
        .find(|s| s.group == "g")
        .expect("g summarised");
    assert_eq!((g.status, g.total_lag, g.max_lag), (3, 5, 5));

    // It catches up: OK again.
    commit(&b, "g", end).await;
    let r = group_lag(&ch, "g").await;
    assert_eq!(status(r.status), LagStatus::Ok, "{r:?}");
}

#[tokio::test]
async fn committing_the_same_offset_with_lag_is_stall() {
    let b = broker().await;
    let ch = b.channel();
    produce(&b, 10).await;
    // Keep committing offset 2 (lag 8): the window fills with one offset, never a lag of 0.
    let r = wait_for("the partition to be STALL", WAIT, || async {
        commit(&b, "stuck", 2).await;
        let r = group_lag(&ch, "stuck").await;
        (status(only_partition(&r).status) == LagStatus::Stall).then_some(r)
    })
    .await;
    let p = only_partition(&r);
    assert_eq!(
        (status(r.status), p.current_lag),
        (LagStatus::Err, 8),
        "{r:?}"
    );
}

#[tokio::test]
async fn an_offset_committed_backwards_is_rewind() {
    let b = broker().await;
    let ch = b.channel();
    produce(&b, 10).await;
    commit(&b, "back", 5).await;
    // Commits of 8 until the window spans 150 ms (so that a prompt look after the next commit
    // cannot count as stopped: STOP is judged before REWIND).
    wait_for("a window spanning 150 ms", WAIT, || async {
        commit(&b, "back", 8).await;
        let r = group_lag(&ch, "back").await;
        let p = only_partition(&r);
        let span = p.end.as_ref()?.timestamp - p.start.as_ref()?.timestamp;
        (span >= 150).then_some(())
    })
    .await;
    commit(&b, "back", 3).await;
    let r = group_lag(&ch, "back").await;
    let p = only_partition(&r);
    assert_eq!(
        (status(r.status), status(p.status), p.committed_offset),
        (LagStatus::Err, LagStatus::Rewind, 3),
        "{r:?}"
    );
}

#[tokio::test]
async fn unknown_groups_are_group_id_not_found_and_empty_ids_invalid_group_id() {
    let b = broker().await;
    let ch = b.channel();
    commit(&b, "known", 0).await;
    let r = group_lag(&ch, "nobody").await;
    assert_eq!(code(r.error_code), ErrorCode::GroupIdNotFound, "{r:?}");
    let r = group_lag(&ch, "").await;
    assert_eq!(code(r.error_code), ErrorCode::InvalidGroupId, "{r:?}");
    let r = group_lag(&ch, "known").await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
}

#[tokio::test]
async fn end_offsets_of_partitions_led_elsewhere_come_from_their_leaders() {
    let c = Cluster3::start().await;
    let mut admin = c.admin(1);
    admin
        .create_topics(brook_proto::v1::CreateTopicsRequest {
            topics: vec![brook_proto::v1::CreatableTopic {
                name: T.into(),
                num_partitions: 3,
                replication_factor: 1,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    // Commit offset 0 on every partition (from the coordinator's broker); the coordinator must
    // learn each partition's end offset, two of them at other leaders, through ListOffsets.
    let group = "spread";
    let coordinator = wait_for("a coordinator", WAIT, || async {
        common::groups::find_coordinator(&c.channel(1), group).await
    })
    .await;
    let ch = c.channel(coordinator.node_id);
    let client = BrookClient::new(ch.clone());
    let r = wait_for("every partition to show its end offset", WAIT, || {
        let mut client = client.clone();
        let ch = ch.clone();
        async move {
            let req = brook_proto::v1::OffsetCommitRequest {
                group_id: group.into(),
                generation_id: -1,
                topics: vec![brook_proto::v1::OffsetCommitTopic {
                    name: T.into(),
                    partitions: (0..3)
                        .map(|p| brook_proto::v1::OffsetCommitPartition {
                            partition: p,
                            committed_offset: 0,
                            committed_leader_epoch: -1,
                            metadata: String::new(),
                        })
                        .collect(),
                }],
                ..Default::default()
            };
            client.offset_commit(req).await.ok()?;
            let r = group_lag(&ch, group).await;
            (r.partitions.len() == 3 && r.partitions.iter().all(|p| p.end_offset == 0)).then_some(r)
        }
    })
    .await;
    assert_eq!(status(r.status), LagStatus::Ok, "{r:?}");
}
