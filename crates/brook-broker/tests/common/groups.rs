//! Consumer-group helpers for the end-to-end tests: the group RPCs as raw gRPC calls on a
//! channel, a member's identity, and a bounded wait-for-condition loop.

use std::future::Future;
use std::time::{Duration, Instant};

use brook_proto::ErrorCode;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::*;
use bytes::Bytes;
use tonic::transport::Channel;

use super::code;

/// Broker keys for group tests: few offsets partitions, no initial rebalance delay, short
/// session timeouts allowed (the embedded cluster's test defaults).
pub const GROUP_TEST_CONFIG: &[(&str, &str)] = &[
    ("offsets.topic.num.partitions", "4"),
    ("group.initial.rebalance.delay.ms", "0"),
    ("group.min.session.timeout.ms", "100"),
];

/// How long a join waits for the others (ms) in these tests.
pub const REBALANCE_TIMEOUT_MS: i32 = 10_000;

/// Who a member is after a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub group: String,
    pub id: String,
    pub generation: i32,
    pub instance: String,
    pub client_id: String,
}

impl Member {
    /// The member as a JoinGroup response names it.
    pub fn from_join(
        group: &str,
        client_id: &str,
        instance: &str,
        r: &JoinGroupResponse,
    ) -> Member {
        assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
        Member {
            group: group.into(),
            id: r.member_id.clone(),
            generation: r.generation_id,
            instance: instance.into(),
            client_id: client_id.into(),
        }
    }
}

/// A JoinGroup with one protocol, "range", whose metadata is `sub-<client_id>`.
pub fn join_request(
    group: &str,
    member_id: &str,
    client_id: &str,
    instance: &str,
    session_timeout_ms: i32,
) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms,
        rebalance_timeout_ms: REBALANCE_TIMEOUT_MS,
        member_id: member_id.into(),
        group_instance_id: instance.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupProtocol {
            name: "range".into(),
            metadata: Bytes::from(format!("sub-{client_id}")),
        }],
        reason: String::new(),
        client_id: client_id.into(),
    }
}

pub async fn join(ch: &Channel, req: JoinGroupRequest) -> JoinGroupResponse {
    BrookClient::new(ch.clone())
        .join_group(req)
        .await
        .unwrap()
        .into_inner()
}

/// The member id MEMBER_ID_REQUIRED hands a new dynamic member.
pub async fn member_id_for(ch: &Channel, group: &str, client_id: &str) -> String {
    let r = join(ch, join_request(group, "", client_id, "", 10_000)).await;
    assert_eq!(code(r.error_code), ErrorCode::MemberIdRequired, "{r:?}");
    assert!(r.member_id.starts_with(&format!("{client_id}-")), "{r:?}");
    r.member_id
}

/// Joins as a new dynamic member (both rounds) and waits for the join phase to end.
pub async fn join_new(
    ch: &Channel,
    group: &str,
    client_id: &str,
    session_ms: i32,
) -> JoinGroupResponse {
    let id = member_id_for(ch, group, client_id).await;
    join(ch, join_request(group, &id, client_id, "", session_ms)).await
}

/// Joins again as a known member.
pub async fn rejoin(ch: &Channel, m: &Member, session_ms: i32) -> JoinGroupResponse {
    join(
        ch,
        join_request(&m.group, &m.id, &m.client_id, &m.instance, session_ms),
    )
    .await
}

pub async fn sync(ch: &Channel, m: &Member, assignments: &[(&str, &str)]) -> SyncGroupResponse {
    BrookClient::new(ch.clone())
        .sync_group(SyncGroupRequest {
            group_id: m.group.clone(),
            generation_id: m.generation,
            member_id: m.id.clone(),
            group_instance_id: m.instance.clone(),
            protocol_type: "consumer".into(),
            protocol_name: "range".into(),
            assignments: assignments
                .iter()
                .map(|(id, a)| SyncGroupAssignment {
                    member_id: id.to_string(),
                    assignment: Bytes::from(a.to_string()),
                })
                .collect(),
        })
        .await
        .unwrap()
        .into_inner()
}

pub async fn heartbeat(ch: &Channel, m: &Member) -> ErrorCode {
    let r = BrookClient::new(ch.clone())
        .heartbeat(HeartbeatRequest {
            group_id: m.group.clone(),
            generation_id: m.generation,
            member_id: m.id.clone(),
            group_instance_id: m.instance.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    code(r.error_code)
}

pub async fn leave(ch: &Channel, m: &Member) -> LeaveGroupResponse {
    BrookClient::new(ch.clone())
        .leave_group(LeaveGroupRequest {
            group_id: m.group.clone(),
            members: vec![MemberIdentity {
                member_id: m.id.clone(),
                group_instance_id: m.instance.clone(),
                reason: "test".into(),
            }],
        })
        .await
        .unwrap()
        .into_inner()
}

pub async fn describe_group(ch: &Channel, group: &str) -> DescribedGroup {
    let mut r = BrookClient::new(ch.clone())
        .describe_groups(DescribeGroupsRequest {
            groups: vec![group.into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.groups.len(), 1, "{r:?}");
    r.groups.remove(0)
}

pub async fn list_groups(ch: &Channel, states: &[&str]) -> ListGroupsResponse {
    BrookClient::new(ch.clone())
        .list_groups(ListGroupsRequest {
            states_filter: states.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .unwrap()
        .into_inner()
}

pub async fn delete_group(ch: &Channel, group: &str) -> ErrorCode {
    let r = BrookClient::new(ch.clone())
        .delete_groups(DeleteGroupsRequest {
            groups: vec![group.into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results.len(), 1, "{r:?}");
    code(r.results[0].error_code)
}

/// An OffsetCommit of one partition as member `m` (or from outside the group with
/// generation -1 and member "" when `m` is `None`); the group-level and partition codes.
pub async fn commit_as(
    ch: &Channel,
    group: &str,
    m: Option<&Member>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> (ErrorCode, ErrorCode) {
    let r = BrookClient::new(ch.clone())
        .offset_commit(OffsetCommitRequest {
            group_id: group.into(),
            generation_id: m.map_or(-1, |m| m.generation),
            member_id: m.map(|m| m.id.clone()).unwrap_or_default(),
            group_instance_id: m.map(|m| m.instance.clone()).unwrap_or_default(),
            topics: vec![OffsetCommitTopic {
                name: topic.into(),
                partitions: vec![OffsetCommitPartition {
                    partition,
                    committed_offset: offset,
                    committed_leader_epoch: -1,
                    metadata: String::new(),
                }],
            }],
        })
        .await
        .unwrap()
        .into_inner();
    (
        code(r.error_code),
        code(r.topics[0].partitions[0].error_code),
    )
}

/// The committed offset of one partition (-1 if none), or the group-level error.
pub async fn committed(
    ch: &Channel,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<i64, ErrorCode> {
    let r = BrookClient::new(ch.clone())
        .offset_fetch(OffsetFetchRequest {
            group_id: group.into(),
            topics: vec![OffsetFetchTopic {
                name: topic.into(),
                partitions: vec![partition],
            }],
        })
        .await
        .unwrap()
        .into_inner();
    match code(r.error_code) {
        ErrorCode::None => Ok(r.topics[0].partitions[0].committed_offset),
        e => Err(e),
    }
}

/// The coordinator FindCoordinator names for `group` (asked through `ch`), once it has one.
pub async fn find_coordinator(ch: &Channel, group: &str) -> Option<FindCoordinatorResponse> {
    let r = BrookClient::new(ch.clone())
        .find_coordinator(FindCoordinatorRequest { key: group.into() })
        .await
        .ok()?
        .into_inner();
    (code(r.error_code) == ErrorCode::None).then_some(r)
}

/// Polls `f` every 20 ms until it gives `Some`, for at most `within`; panics naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
