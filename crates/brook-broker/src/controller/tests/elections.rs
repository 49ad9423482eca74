//! AlterPartition checks and explicit leader elections (preferred, unclean).

use super::*;

#[test]
fn alter_partition_checks_epochs_leadership_and_eligibility() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, ""), (4, "")], 0);
    h.topic("t", &[&[1, 2, 3]], &[]);
    let code = |r: &AlterPartitionResult| ErrorCode::from_wire(r.error_code);
    // Success: ISR shrinks, partition epoch bumps, leader epoch does not.
    let r = h.alter(1, "t", 0, |d| d.new_isr = vec![1, 2]);
    assert_eq!(code(&r), ErrorCode::None);
    assert_eq!(
        (
            r.leader_id,
            r.leader_epoch,
            r.isr.clone(),
            r.partition_epoch
        ),
        (1, 0, vec![1, 2], 1)
    );
    assert_eq!(h.part("t", 0).isr, vec![1, 2]);
    // Stale partition epoch.
    let r = h.alter(1, "t", 0, |d| {
        d.partition_epoch = 0;
        d.new_isr = vec![1];
    });
    assert_eq!(code(&r), ErrorCode::InvalidUpdateVersion);
    assert_eq!(r.partition_epoch, 1, "the current state comes back");
    // Stale leader epoch.
    let r = h.alter(1, "t", 0, |d| d.leader_epoch = -1);
    assert_eq!(code(&r), ErrorCode::FencedLeaderEpoch);
    // Not the leader.
    let r = h.alter(2, "t", 0, |d| d.new_isr = vec![1, 2, 3]);
    assert_eq!(code(&r), ErrorCode::NotLeaderOrFollower);
    // Not an assigned replica; leader missing; fenced replica.
    let r = h.alter(1, "t", 0, |d| d.new_isr = vec![1, 2, 4]);
    assert_eq!(code(&r), ErrorCode::IneligibleReplica);
    let r = h.alter(1, "t", 0, |d| d.new_isr = vec![2, 3]);
    assert_eq!(code(&r), ErrorCode::IneligibleReplica);
    h.register(3, "", 100); // 3 restarts: fenced until it heartbeats
    let r = h.alter(1, "t", 0, |d| d.new_isr = vec![1, 2, 3]);
    assert_eq!(code(&r), ErrorCode::IneligibleReplica);
    h.heartbeat(3, 200);
    let r = h.alter(1, "t", 0, |d| d.new_isr = vec![1, 2, 3]);
    assert_eq!(code(&r), ErrorCode::None);
    assert_eq!(r.partition_epoch, 2);
    // Same ISR again: accepted, nothing written.
    let before = h.log.len();
    let r = h.alter(1, "t", 0, |_| {});
    assert_eq!((code(&r), h.log.len()), (ErrorCode::None, before));
    // Stale broker epoch: the whole request.
    let (recs, resp) = h.c.alter_partition(&AlterPartitionRequest {
        node_id: 1,
        broker_epoch: h.epochs[&1] - 1,
        topics: vec![],
    });
    assert!(recs.is_empty());
    assert_eq!(resp.error_code, ErrorCode::StaleBrokerEpoch as i32);
    // A deposed leader (1 fenced, 2 elected) is told FENCED_LEADER_EPOCH.
    let stale = h.part("t", 0);
    h.heartbeat_with(1, 300, |q| q.want_fence = true);
    assert_eq!(h.part("t", 0).leader, 2);
    let req = AlterPartitionRequest {
        node_id: 1,
        broker_epoch: h.epochs[&1],
        topics: vec![AlterPartitionTopic {
            name: "t".into(),
            partitions: vec![AlterPartitionData {
                partition: 0,
                leader_epoch: stale.leader_epoch,
                partition_epoch: stale.partition_epoch,
                new_isr: vec![1],
            }],
        }],
    };
    let (recs, resp) = h.c.alter_partition(&req);
    assert!(recs.is_empty());
    assert_eq!(
        code(&resp.topics[0].partitions[0]),
        ErrorCode::FencedLeaderEpoch
    );
    // The same partition twice in one request: the second is rejected.
    let p = h.part("t", 0);
    let d = AlterPartitionData {
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: vec![2],
    };
    assert_eq!(p.isr, vec![2, 3]);
    let (recs, resp) = h.c.alter_partition(&AlterPartitionRequest {
        node_id: 2,
        broker_epoch: h.epochs[&2],
        topics: vec![AlterPartitionTopic {
            name: "t".into(),
            partitions: vec![d.clone(), d],
        }],
    });
    assert_eq!(recs.len(), 1);
    assert_eq!(
        code(&resp.topics[0].partitions[1]),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn preferred_election_returns_leadership_to_the_first_replica() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, "")], 0);
    h.topic("t", &[&[1, 2, 3]], &[]);
    assert_eq!(
        h.elect(ElectionType::ElectionPreferred, "t", 0),
        ErrorCode::ElectionNotNeeded
    );
    h.heartbeat(2, 5000);
    h.heartbeat(3, 5000);
    h.tick(TIMEOUT + 1);
    assert_eq!(h.part("t", 0).leader, 2);
    // 1 is back but not in the ISR yet.
    h.heartbeat(1, 10_000);
    assert_eq!(
        h.part("t", 0).leader,
        2,
        "unfencing does not steal leadership"
    );
    assert_eq!(
        h.elect(ElectionType::ElectionPreferred, "t", 0),
        ErrorCode::PreferredLeaderNotAvailable
    );
    // The leader re-adds it once caught up; now the preferred election moves leadership.
    h.alter(2, "t", 0, |d| d.new_isr = vec![2, 3, 1]);
    let before = h.part("t", 0);
    assert_eq!(
        h.elect(ElectionType::ElectionPreferred, "t", 0),
        ErrorCode::None
    );
    let p = h.part("t", 0);
    assert_eq!((p.leader, p.isr.clone()), (1, vec![2, 3, 1]));
    assert_eq!(p.leader_epoch, before.leader_epoch + 1);
    assert_eq!(p.partition_epoch, before.partition_epoch + 1);
    assert_eq!(
        h.elect(ElectionType::ElectionPreferred, "t", 0),
        ErrorCode::ElectionNotNeeded
    );
    assert_eq!(
        h.elect(ElectionType::ElectionPreferred, "t", 7),
        ErrorCode::UnknownTopicOrPartition
    );
    assert_eq!(
        h.elect(ElectionType::ElectionPreferred, "nope", 0),
        ErrorCode::UnknownTopicOrPartition
    );
    h.check_invariants();
}

#[test]
fn unclean_elect_leaders_is_one_shot_for_leaderless_partitions() {
    let mut h = Harness::new();
    h.brokers(&[(1, ""), (2, ""), (3, "")], 0);
    h.topic("t", &[&[1, 2, 3], &[2, 3, 1]], &[]);
    h.alter(1, "t", 0, |d| d.new_isr = vec![1]);
    h.heartbeat(2, 5000);
    h.heartbeat(3, 5000);
    h.tick(TIMEOUT + 1);
    assert_eq!(h.part("t", 0).leader, NO_LEADER);
    assert_eq!(
        h.elect(ElectionType::ElectionUnclean, "t", 1),
        ErrorCode::ElectionNotNeeded
    );
    let before = h.part("t", 0);
    let (recs, resp) = h.c.elect_leaders(ElectionType::ElectionUnclean, &[]);
    assert_eq!(
        resp.topics[0].partitions.len(),
        2,
        "empty request = every partition"
    );
    let stamped = h.commit(recs);
    let c = &Harness::changes(&stamped)[0];
    assert_eq!((c.leader, c.isr.clone(), c.unclean), (2, vec![2], true));
    assert_eq!(c.leader_epoch, before.leader_epoch + 1);
    // The topic config is untouched: it really was one-shot.
    assert!(!h.c.unclean_enabled(&h.c.image().topics["t"]));
    // Nobody alive at all → ELIGIBLE_LEADERS_NOT_AVAILABLE.
    h.heartbeat_with(2, 12_000, |q| q.want_fence = true);
    h.heartbeat_with(3, 12_000, |q| q.want_fence = true);
    assert_eq!(h.part("t", 0).leader, NO_LEADER);
    assert_eq!(
        h.elect(ElectionType::ElectionUnclean, "t", 0),
        ErrorCode::EligibleLeadersNotAvailable
    );
    h.check_invariants();
}
