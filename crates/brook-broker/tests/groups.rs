//! Consumer groups over the wire (raw gRPC): JoinGroup / SyncGroup / Heartbeat / LeaveGroup,
//! rebalances, session expiry, OffsetCommit fenced by generation and member, static members,
//! DescribeGroups / ListGroups / DeleteGroups, bad input, and the group carried on across a
//! restart and a coordinator failover.

mod common;

use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::{CreatableTopic, CreateTopicsRequest, DescribedGroup};
use common::cluster::Cluster3;
use common::groups::*;
use common::{TestBroker, code};
use tonic::transport::Channel;

const G: &str = "g";
const WAIT: Duration = Duration::from_secs(10);

async fn broker() -> TestBroker {
    TestBroker::start_with(GROUP_TEST_CONFIG).await
}

/// Waits until the broker coordinates `group` (creating `__consumer_offsets` on the way).
async fn ready(ch: &Channel, group: &str) {
    wait_for("the coordinator to be ready", WAIT, || async {
        find_coordinator(ch, group).await?;
        let d = describe_group(ch, group).await;
        (code(d.error_code) == ErrorCode::None).then_some(())
    })
    .await;
}

/// Waits until `m`'s heartbeat answers `want` (heartbeating every 20 ms meanwhile).
async fn heartbeat_until(ch: &Channel, m: &Member, want: ErrorCode) {
    wait_for(
        &format!("{}'s heartbeat to answer {want}", m.client_id),
        WAIT,
        || async { (heartbeat(ch, m).await == want).then_some(()) },
    )
    .await;
}

/// A member alone in a new group, generation 1, with assignment `a-<client_id>`.
async fn first_member(ch: &Channel, group: &str, client_id: &str, session_ms: i32) -> Member {
    let r = join_new(ch, group, client_id, session_ms).await;
    let m = Member::from_join(group, client_id, "", &r);
    assert_eq!(
        (m.generation, r.leader.as_str()),
        (1, m.id.as_str()),
        "{r:?}"
    );
    let s = sync(ch, &m, &[(&m.id, &format!("a-{client_id}"))]).await;
    assert_eq!(code(s.error_code), ErrorCode::None, "{s:?}");
    m
}

/// `first` (alone, Stable) is joined by a new member: it learns of the rebalance from its
/// heartbeat, rejoins, and both sync (assignment `p-<client_id>`). Returns both in the new
/// generation.
async fn add_member(
    ch: &Channel,
    first: &Member,
    client_id: &str,
    session_ms: i32,
) -> (Member, Member) {
    let (ch2, group, cid) = (ch.clone(), first.group.clone(), client_id.to_string());
    let joining = tokio::spawn(async move { join_new(&ch2, &group, &cid, session_ms).await });
    heartbeat_until(ch, first, ErrorCode::RebalanceInProgress).await;
    let ra = rejoin(ch, first, 10_000).await;
    let rb = joining.await.unwrap();
    let a = Member::from_join(&first.group, &first.client_id, &first.instance, &ra);
    let b = Member::from_join(&first.group, client_id, "", &rb);
    assert_eq!(a.generation, first.generation + 1);
    assert_eq!(b.generation, a.generation);
    let (ch2, b2) = (ch.clone(), b.clone());
    let follower = tokio::spawn(async move { sync(&ch2, &b2, &[]).await });
    let pa = format!("p-{}", a.client_id);
    let pb = format!("p-{}", b.client_id);
    let sa = sync(ch, &a, &[(&a.id, &pa), (&b.id, &pb)]).await;
    assert_eq!(
        (code(sa.error_code), &sa.assignment[..]),
        (ErrorCode::None, pa.as_bytes())
    );
    let sb = follower.await.unwrap();
    assert_eq!(
        (code(sb.error_code), &sb.assignment[..]),
        (ErrorCode::None, pb.as_bytes())
    );
    (a, b)
}

#[tokio::test]
async fn two_members_share_a_generation_and_the_leaders_assignment() {
    let b = broker().await;
    let ch = b.channel();
    ready(&ch, G).await;
    let a1 = first_member(&ch, G, "a", 10_000).await;
    // b's JoinGroup waits until a rejoins; a hears of it in its heartbeat.
    let ch2 = ch.clone();
    let joining_b = tokio::spawn(async move { join_new(&ch2, G, "b", 10_000).await });
    heartbeat_until(&ch, &a1, ErrorCode::RebalanceInProgress).await;
    let ra = rejoin(&ch, &a1, 10_000).await;
    let rb = joining_b.await.unwrap();
    let a = Member::from_join(G, "a", "", &ra);
    let bm = Member::from_join(G, "b", "", &rb);
    assert_eq!((a.generation, bm.generation), (2, 2));
    assert_eq!(
        (ra.leader.as_str(), rb.leader.as_str()),
        (a.id.as_str(), a.id.as_str())
    );
    assert_eq!(
        (ra.protocol_name.as_str(), ra.protocol_type.as_str()),
        ("range", "consumer")
    );
    // The leader gets every member with its metadata; the follower nothing.
    let mut members: Vec<(String, Vec<u8>)> = ra
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.metadata.to_vec()))
        .collect();
    members.sort();
    let mut want = vec![
        (a.id.clone(), b"sub-a".to_vec()),
        (bm.id.clone(), b"sub-b".to_vec()),
    ];
    want.sort();
    assert_eq!(members, want);
    assert!(rb.members.is_empty());
    // The follower's SyncGroup waits for the leader's; each gets what the leader assigned.
    let (ch2, b2) = (ch.clone(), bm.clone());
    let follower = tokio::spawn(async move { sync(&ch2, &b2, &[]).await });
    let sa = sync(&ch, &a, &[(&a.id, "p0"), (&bm.id, "p1")]).await;
    assert_eq!(&sa.assignment[..], b"p0");
    let sb = follower.await.unwrap();
    assert_eq!(
        (code(sb.error_code), &sb.assignment[..]),
        (ErrorCode::None, &b"p1"[..])
    );
    assert_eq!(heartbeat(&ch, &a).await, ErrorCode::None);
    assert_eq!(heartbeat(&ch, &bm).await, ErrorCode::None);
    let d = describe_group(&ch, G).await;
    assert_eq!((d.group_state.as_str(), d.generation_id), ("Stable", 2));
    assert_eq!(
        (d.protocol_data.as_str(), d.leader.as_str()),
        ("range", a.id.as_str())
    );
    assert_eq!(d.members.len(), 2);
    for m in &d.members {
        assert_eq!(m.client_host, "/127.0.0.1", "{m:?}");
        let want: &[u8] = if m.member_id == a.id { b"p0" } else { b"p1" };
        assert_eq!(&m.member_assignment[..], want);
    }
    // A third member: both heartbeats report the rebalance.
    let ch2 = ch.clone();
    let joining_c = tokio::spawn(async move { join_new(&ch2, G, "c", 10_000).await });
    heartbeat_until(&ch, &a, ErrorCode::RebalanceInProgress).await;
    assert_eq!(heartbeat(&ch, &bm).await, ErrorCode::RebalanceInProgress);
    // a and b leave instead of rejoining: c's join completes, alone, in generation 3.
    for m in [&a, &bm] {
        let l = leave(&ch, m).await;
        assert_eq!(code(l.error_code), ErrorCode::None, "{l:?}");
        assert_eq!(code(l.members[0].error_code), ErrorCode::None, "{l:?}");
    }
    let rc = joining_c.await.unwrap();
    assert_eq!(
        (code(rc.error_code), rc.generation_id),
        (ErrorCode::None, 3),
        "{rc:?}"
    );
    assert_eq!(rc.leader, rc.member_id);
    assert_eq!(heartbeat(&ch, &a).await, ErrorCode::UnknownMemberId);
}

#[tokio::test]
async fn a_member_whose_session_expires_is_removed() {
    let b = broker().await;
    let ch = b.channel();
    ready(&ch, G).await;
    let a1 = first_member(&ch, G, "a", 10_000).await;
    let (a, silent) = add_member(&ch, &a1, "silent", 300).await;
    // `silent` never heartbeats: 300 ms later it is gone and a is told to rejoin.
    heartbeat_until(&ch, &a, ErrorCode::RebalanceInProgress).await;
    let d = describe_group(&ch, G).await;
    assert_eq!(d.group_state, "PreparingRebalance");
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id, a.id);
    let r = rejoin(&ch, &a, 10_000).await;
    assert_eq!((r.generation_id, r.members.len()), (3, 1), "{r:?}");
    assert_eq!(heartbeat(&ch, &silent).await, ErrorCode::UnknownMemberId);
}

#[tokio::test]
async fn a_zombie_commit_is_refused_with_illegal_generation() {
    let b = broker().await;
    let ch = b.channel();
    b.create_topic("t", 1, &[]).await;
    ready(&ch, G).await;
    let a1 = first_member(&ch, G, "a", 10_000).await;
    assert_eq!(
        commit_as(&ch, G, Some(&a1), "t", 0, 5).await,
        (ErrorCode::None, ErrorCode::None)
    );
    assert_eq!(committed(&ch, G, "t", 0).await, Ok(5));
    // A commit from outside the group while it has members.
    let outside = commit_as(&ch, G, None, "t", 0, 6).await;
    assert_eq!(
        outside,
        (ErrorCode::UnknownMemberId, ErrorCode::UnknownMemberId)
    );
    let (a2, bm) = add_member(&ch, &a1, "b", 10_000).await;
    // a1 is a's previous generation: a zombie.
    let zombie = commit_as(&ch, G, Some(&a1), "t", 0, 99).await;
    assert_eq!(
        zombie,
        (ErrorCode::IllegalGeneration, ErrorCode::IllegalGeneration)
    );
    let stranger = Member {
        id: "stranger".into(),
        ..a2.clone()
    };
    let r = commit_as(&ch, G, Some(&stranger), "t", 0, 99).await;
    assert_eq!(r, (ErrorCode::UnknownMemberId, ErrorCode::UnknownMemberId));
    assert_eq!(
        committed(&ch, G, "t", 0).await,
        Ok(5),
        "nothing refused was stored"
    );
    assert_eq!(
        commit_as(&ch, G, Some(&bm), "t", 0, 7).await,
        (ErrorCode::None, ErrorCode::None)
    );
    assert_eq!(committed(&ch, G, "t", 0).await, Ok(7));
    // A third member starts a rebalance.
    let ch2 = ch.clone();
    let joining = tokio::spawn(async move { join_new(&ch2, G, "c", 10_000).await });
    heartbeat_until(&ch, &a2, ErrorCode::RebalanceInProgress).await;
    // PreparingRebalance: the current generation may still commit.
    assert_eq!(
        commit_as(&ch, G, Some(&a2), "t", 0, 8).await,
        (ErrorCode::None, ErrorCode::None)
    );
    let (ch2, a2c) = (ch.clone(), a2.clone());
    let rejoining = tokio::spawn(async move { rejoin(&ch2, &a2c, 10_000).await });
    let rb = rejoin(&ch, &bm, 10_000).await;
    let a3 = Member::from_join(G, "a", "", &rejoining.await.unwrap());
    assert_eq!(rb.generation_id, a3.generation);
    assert_eq!(joining.await.unwrap().generation_id, a3.generation);
    // CompletingRebalance (no SyncGroup yet): REBALANCE_IN_PROGRESS.
    let r = commit_as(&ch, G, Some(&a3), "t", 0, 9).await;
    assert_eq!(
        r,
        (
            ErrorCode::RebalanceInProgress,
            ErrorCode::RebalanceInProgress
        )
    );
    assert_eq!(committed(&ch, G, "t", 0).await, Ok(8));
}

#[tokio::test]
async fn a_static_member_rejoin_fences_the_old_member_id() {
    let b = broker().await;
    let ch = b.channel();
    b.create_topic("t", 1, &[]).await;
    ready(&ch, G).await;
    // A static member gets its member id at once (no MEMBER_ID_REQUIRED round).
    let r = join(&ch, join_request(G, "", "s", "instance-1", 10_000)).await;
    let old = Member::from_join(G, "s", "instance-1", &r);
    assert!(old.id.starts_with("instance-1-"), "{r:?}");
    assert_eq!(old.generation, 1);
    let s = sync(&ch, &old, &[(&old.id, "mine")]).await;
    assert_eq!(&s.assignment[..], b"mine");
    // The process restarts: same instance id, same metadata, no member id.
    let r = join(&ch, join_request(G, "", "s", "instance-1", 10_000)).await;
    let new = Member::from_join(G, "s", "instance-1", &r);
    assert_ne!(new.id, old.id);
    assert_eq!(new.generation, 1, "no rebalance");
    let d = describe_group(&ch, G).await;
    assert_eq!((d.group_state.as_str(), d.generation_id), ("Stable", 1));
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id, new.id);
    assert_eq!(d.members[0].group_instance_id, "instance-1");
    assert_eq!(&d.members[0].member_assignment[..], b"mine");
    // The old member id is fenced everywhere.
    assert_eq!(heartbeat(&ch, &old).await, ErrorCode::FencedInstanceId);
    let r = commit_as(&ch, G, Some(&old), "t", 0, 3).await;
    assert_eq!(
        r,
        (ErrorCode::FencedInstanceId, ErrorCode::FencedInstanceId)
    );
    let l = leave(&ch, &old).await;
    assert_eq!(code(l.members[0].error_code), ErrorCode::FencedInstanceId);
    // The new one carries on with the stored assignment.
    assert_eq!(heartbeat(&ch, &new).await, ErrorCode::None);
    let s = sync(&ch, &new, &[]).await;
    assert_eq!(&s.assignment[..], b"mine");
    assert_eq!(
        commit_as(&ch, G, Some(&new), "t", 0, 4).await,
        (ErrorCode::None, ErrorCode::None)
    );
}

#[tokio::test]
async fn describe_list_and_delete_groups() {
    let mut b = broker().await;
    let ch = b.channel();
    b.create_topic("t", 1, &[]).await;
    ready(&ch, G).await;
    let unknown = describe_group(&ch, "nobody").await;
    assert_eq!(
        (code(unknown.error_code), unknown.group_state.as_str()),
        (ErrorCode::None, "Dead")
    );
    let a = first_member(&ch, G, "a", 10_000).await;
    assert_eq!(
        commit_as(&ch, G, Some(&a), "t", 0, 11).await,
        (ErrorCode::None, ErrorCode::None)
    );
    let all = list_groups(&ch, &[]).await;
    assert_eq!(code(all.error_code), ErrorCode::None);
    let listed: Vec<_> = all
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.protocol_type.as_str(),
                g.group_state.as_str(),
            )
        })
        .collect();
    assert_eq!(listed, [(G, "consumer", "Stable")]);
    assert!(list_groups(&ch, &["Empty"]).await.groups.is_empty());
    assert_eq!(list_groups(&ch, &["stable"]).await.groups.len(), 1);
    assert_eq!(delete_group(&ch, G).await, ErrorCode::NonEmptyGroup);
    assert_eq!(
        delete_group(&ch, "nobody").await,
        ErrorCode::GroupIdNotFound
    );
    let l = leave(&ch, &a).await;
    assert_eq!(code(l.members[0].error_code), ErrorCode::None);
    let d = describe_group(&ch, G).await;
    assert_eq!((d.group_state.as_str(), d.generation_id), ("Empty", 2));
    assert!(d.members.is_empty());
    assert_eq!(delete_group(&ch, G).await, ErrorCode::None);
    assert_eq!(describe_group(&ch, G).await.group_state, "Dead");
    assert_eq!(
        committed(&ch, G, "t", 0).await,
        Ok(-1),
        "its offsets went with it"
    );
    assert_eq!(delete_group(&ch, G).await, ErrorCode::GroupIdNotFound);
    // The tombstones are in the log: a restarted broker does not bring the group back.
    b.restart_clean().await;
    let ch = b.channel();
    ready(&ch, G).await;
    assert_eq!(describe_group(&ch, G).await.group_state, "Dead");
    assert_eq!(committed(&ch, G, "t", 0).await, Ok(-1));
    assert!(list_groups(&ch, &[]).await.groups.is_empty());
}

#[tokio::test]
async fn a_group_carries_on_across_a_broker_restart() {
    let mut b = broker().await;
    let ch = b.channel();
    ready(&ch, G).await;
    let a1 = first_member(&ch, G, "a", 10_000).await;
    let (a, bm) = add_member(&ch, &a1, "b", 10_000).await;
    b.restart_clean().await;
    let ch = b.channel();
    ready(&ch, G).await;
    let d = describe_group(&ch, G).await;
    assert_eq!(
        (d.group_state.as_str(), d.generation_id),
        ("Stable", a.generation)
    );
    assert_eq!(d.leader, a.id);
    let mut got: Vec<(String, Vec<u8>)> = d
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.member_assignment.to_vec()))
        .collect();
    got.sort();
    let mut want = vec![
        (a.id.clone(), b"p-a".to_vec()),
        (bm.id.clone(), b"p-b".to_vec()),
    ];
    want.sort();
    assert_eq!(got, want);
    // Same generation: heartbeats and SyncGroup work as before the restart.
    assert_eq!(heartbeat(&ch, &a).await, ErrorCode::None);
    assert_eq!(heartbeat(&ch, &bm).await, ErrorCode::None);
    assert_eq!(&sync(&ch, &bm, &[]).await.assignment[..], b"p-b");
}

#[tokio::test]
async fn bad_input_gets_named_errors_and_leaves_the_group_unharmed() {
    let b = TestBroker::start_with(&[
        ("offsets.topic.num.partitions", "4"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.min.session.timeout.ms", "100"),
        ("group.max.session.timeout.ms", "60000"),
        ("message.max.bytes", "10000"),
    ])
    .await;
    let ch = b.channel();
    ready(&ch, G).await;
    let a = first_member(&ch, G, "a", 10_000).await;
    let before = describe_group(&ch, G).await;
    /// Spoils one field of a valid JoinGroup.
    type Spoil = fn(&mut brook_proto::v1::JoinGroupRequest);
    let bad = |f: Spoil| {
        let mut r = join_request(G, "", "x", "", 10_000);
        f(&mut r);
        r
    };
    let cases: [(Spoil, ErrorCode); 6] = [
        (|r| r.group_id.clear(), ErrorCode::InvalidGroupId),
        (
            |r| r.session_timeout_ms = 50,
            ErrorCode::InvalidSessionTimeout,
        ),
        (
            |r| r.session_timeout_ms = 60_001,
            ErrorCode::InvalidSessionTimeout,
        ),
        (
            |r| r.protocol_type.clear(),
            ErrorCode::InconsistentGroupProtocol,
        ),
        (
            |r| r.protocol_type = "connect".into(),
            ErrorCode::InconsistentGroupProtocol,
        ),
        (
            |r| r.protocols[0].metadata = vec![0u8; 20_000].into(),
            ErrorCode::InvalidRequest,
        ),
    ];
    for (f, want) in cases {
        let r = join(&ch, bad(f)).await;
        assert_eq!(code(r.error_code), want, "{r:?}");
    }
    // A member the group does not know, a stale generation.
    let stranger = Member {
        id: "stranger".into(),
        ..a.clone()
    };
    assert_eq!(heartbeat(&ch, &stranger).await, ErrorCode::UnknownMemberId);
    let stale = Member {
        generation: 0,
        ..a.clone()
    };
    assert_eq!(heartbeat(&ch, &stale).await, ErrorCode::IllegalGeneration);
    assert_eq!(
        code(sync(&ch, &stale, &[]).await.error_code),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        describe_group(&ch, G).await,
        before,
        "the group is unharmed"
    );
    assert_eq!(heartbeat(&ch, &a).await, ErrorCode::None);
}

// ---------------------------------------------------------------------------------------------
// Coordinator failover: three brokers, `__consumer_offsets` with replication factor 3.

/// A three-broker cluster with topic "t" and a group coordinated by broker 2 or 3 (broker 1
/// hosts the controller, so it stays up); returns the group and its coordinator.
async fn failover_setup() -> (Cluster3, String, i32) {
    let c = Cluster3::start().await;
    let r = c
        .admin(1)
        .create_topics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 1,
                replication_factor: 3,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(r.topics[0].error_code), ErrorCode::None, "{r:?}");
    let ch1 = c.channel(1);
    for i in 0..64 {
        let group = format!("failover-{i}");
        let coordinator =
            wait_for("FindCoordinator", WAIT, || find_coordinator(&ch1, &group)).await;
        if coordinator.node_id != 1 {
            let ch = c.channel(coordinator.node_id);
            ready(&ch, &group).await;
            let d = c
                .admin(1)
                .describe_topics(brook_proto::v1::DescribeTopicsRequest {
                    topics: vec!["__consumer_offsets".into()],
                    local_only: false,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(
                d.topics[0].partitions.iter().all(|p| p.replicas.len() == 3),
                "{d:?}"
            );
            return (c, group, coordinator.node_id);
        }
    }
    panic!("every group is coordinated by broker 1");
}

/// Waits until a broker other than `dead` coordinates `group` and has loaded it.
async fn new_coordinator(c: &Cluster3, group: &str, dead: i32) -> (Channel, DescribedGroup) {
    let ch1 = c.channel(1);
    wait_for(
        "another broker to coordinate the group",
        Duration::from_secs(20),
        || async {
            let r = find_coordinator(&ch1, group).await?;
            if r.node_id == dead {
                return None;
            }
            let ch = c.channel(r.node_id);
            let d = describe_group(&ch, group).await;
            (code(d.error_code) == ErrorCode::None).then_some((ch, d))
        },
    )
    .await
}

fn assignments(d: &DescribedGroup) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = d
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.member_assignment.to_vec()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_new_coordinator_carries_a_stable_group_on() {
    let (mut c, group, coordinator) = failover_setup().await;
    let ch = c.channel(coordinator);
    let a1 = first_member(&ch, &group, "a", 10_000).await;
    let (a, b) = add_member(&ch, &a1, "b", 10_000).await;
    assert_eq!(
        commit_as(&ch, &group, Some(&b), "t", 0, 42).await,
        (ErrorCode::None, ErrorCode::None)
    );
    let before = describe_group(&ch, &group).await;
    // Another broker answers NOT_COORDINATOR for the group.
    let other = if coordinator == 2 { 3 } else { 2 };
    assert_eq!(
        heartbeat(&c.channel(other), &a).await,
        ErrorCode::NotCoordinator
    );
    c.kill(coordinator);
    let (ch, d) = new_coordinator(&c, &group, coordinator).await;
    assert_eq!(
        (d.group_state.as_str(), d.generation_id),
        ("Stable", a.generation)
    );
    assert_eq!(
        (d.leader.as_str(), d.protocol_data.as_str()),
        (a.id.as_str(), "range")
    );
    assert_eq!(assignments(&d), assignments(&before));
    assert_eq!(assignments(&d), {
        let mut w = vec![
            (a.id.clone(), b"p-a".to_vec()),
            (b.id.clone(), b"p-b".to_vec()),
        ];
        w.sort();
        w
    });
    // Same generation: the members heartbeat on, their commits are there and still fenced.
    assert_eq!(heartbeat(&ch, &a).await, ErrorCode::None);
    assert_eq!(heartbeat(&ch, &b).await, ErrorCode::None);
    assert_eq!(committed(&ch, &group, "t", 0).await, Ok(42));
    assert_eq!(
        commit_as(&ch, &group, Some(&a), "t", 0, 43).await,
        (ErrorCode::None, ErrorCode::None)
    );
    let zombie = commit_as(&ch, &group, Some(&a1), "t", 0, 1).await;
    assert_eq!(
        zombie,
        (ErrorCode::IllegalGeneration, ErrorCode::IllegalGeneration)
    );
    assert_eq!(&sync(&ch, &b, &[]).await.assignment[..], b"p-b");
}

#[tokio::test]
async fn a_rebalance_interrupted_by_a_coordinator_failover_completes_on_the_new_one() {
    let (mut c, group, coordinator) = failover_setup().await;
    let ch = c.channel(coordinator);
    let a1 = first_member(&ch, &group, "a", 10_000).await;
    let (a, b) = add_member(&ch, &a1, "b", 10_000).await;
    // c's JoinGroup is waiting in the join phase when the coordinator dies.
    let c_id = member_id_for(&ch, &group, "c").await;
    let (ch2, req) = (ch.clone(), join_request(&group, &c_id, "c", "", 10_000));
    let pending = tokio::spawn(async move { BrookClient::new(ch2).join_group(req).await });
    wait_for("the rebalance to start", WAIT, || async {
        (describe_group(&ch, &group).await.group_state == "PreparingRebalance").then_some(())
    })
    .await;
    c.kill(coordinator);
    assert!(
        pending.await.unwrap().is_err(),
        "the dead coordinator answers nothing"
    );
    // The new coordinator has the last stored generation: Stable, a and b.
    let (ch, d) = new_coordinator(&c, &group, coordinator).await;
    assert_eq!(
        (d.group_state.as_str(), d.generation_id),
        ("Stable", a.generation)
    );
    assert_eq!(d.members.len(), 2);
    // c starts over there (its member id died with the old coordinator); a and b rejoin.
    let r = join(&ch, join_request(&group, &c_id, "c", "", 10_000)).await;
    assert_eq!(code(r.error_code), ErrorCode::UnknownMemberId, "{r:?}");
    let ch2 = ch.clone();
    let g2 = group.clone();
    let joining_c = tokio::spawn(async move { join_new(&ch2, &g2, "c", 10_000).await });
    heartbeat_until(&ch, &a, ErrorCode::RebalanceInProgress).await;
    let (ch2, a2) = (ch.clone(), a.clone());
    let rejoining_a = tokio::spawn(async move { rejoin(&ch2, &a2, 10_000).await });
    let rb = rejoin(&ch, &b, 10_000).await;
    let ra = rejoining_a.await.unwrap();
    let rc = joining_c.await.unwrap();
    let generation = a.generation + 1;
    for r in [&ra, &rb, &rc] {
        assert_eq!(
            (code(r.error_code), r.generation_id),
            (ErrorCode::None, generation),
            "{r:?}"
        );
    }
    let leader = [&ra, &rb, &rc]
        .into_iter()
        .find(|r| !r.members.is_empty())
        .expect("one leader");
    assert_eq!(leader.members.len(), 3);
    let members: Vec<Member> = [(&ra, "a"), (&rb, "b"), (&rc, "c")]
        .into_iter()
        .map(|(r, cid)| Member::from_join(&group, cid, "", r))
        .collect();
    let lead = members.iter().find(|m| m.id == leader.member_id).unwrap();
    let plan: Vec<(String, String)> = members
        .iter()
        .map(|m| (m.id.clone(), format!("q-{}", m.client_id)))
        .collect();
    let plan_refs: Vec<(&str, &str)> = plan.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let mut syncs = Vec::new();
    for m in members.iter().filter(|m| m.id != lead.id) {
        let (ch2, m2) = (ch.clone(), m.clone());
        syncs.push(tokio::spawn(async move { sync(&ch2, &m2, &[]).await }));
    }
    let s = sync(&ch, lead, &plan_refs).await;
    assert_eq!(code(s.error_code), ErrorCode::None, "{s:?}");
    for t in syncs {
        assert_eq!(code(t.await.unwrap().error_code), ErrorCode::None);
    }
    let d = describe_group(&ch, &group).await;
    assert_eq!(
        (d.group_state.as_str(), d.generation_id),
        ("Stable", generation)
    );
    assert_eq!(d.members.len(), 3);
    for m in &members {
        assert_eq!(heartbeat(&ch, m).await, ErrorCode::None);
    }
}
