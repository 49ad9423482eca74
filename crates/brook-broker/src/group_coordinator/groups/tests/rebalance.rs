//! Rebalances: who triggers them, who is waited for, who is removed, and when.

use super::*;

#[test]
fn a_new_member_triggers_a_rebalance_that_heartbeats_report() {
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a", "b"]);
    let (a, b) = (&ids[0], &ids[1]);
    assert_eq!(s.generation(), 1);
    let c = s.new_id("c");
    let tc = s.join(Sim::request(&c, "c"));
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    assert!(s.joined(tc).is_none(), "c waits for a and b to rejoin");
    assert_eq!(s.heartbeat(a, 1), ErrorCode::RebalanceInProgress);
    assert_eq!(s.heartbeat(b, 1), ErrorCode::RebalanceInProgress);
    let ta = s.join(Sim::request(a, "a"));
    assert!(s.joined(ta).is_none(), "b has not rejoined");
    let tb = s.join(Sim::request(b, "b"));
    let answers = [
        s.joined(ta).unwrap(),
        s.joined(tb).unwrap(),
        s.joined(tc).unwrap(),
    ];
    for r in &answers {
        assert_eq!((r.error, r.generation_id), (ErrorCode::None, 2), "{r:?}");
    }
    assert_eq!(answers.iter().filter(|r| !r.members.is_empty()).count(), 1);
    assert_eq!(s.group().unwrap().members.len(), 3);
    assert_eq!(s.state(), GroupState::CompletingRebalance);
    // A heartbeat of the old generation is now ILLEGAL_GENERATION; the new one is fine.
    assert_eq!(s.heartbeat(a, 1), ErrorCode::IllegalGeneration);
    assert_eq!(s.heartbeat(a, 2), ErrorCode::None);
}

#[test]
fn the_rebalance_timeout_removes_members_that_did_not_rejoin() {
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let c = s.new_id("c");
    let tc = s.join(Sim::request(&c, "c"));
    let ta = s.join(Sim::request(&a, "a"));
    // b keeps heartbeating (so its session lives) but never rejoins.
    let mut waited = 0;
    while !s.joins.contains_key(&tc) {
        assert_eq!(s.heartbeat(&b, 1), ErrorCode::RebalanceInProgress);
        s.advance(500);
        waited += 500;
        if waited == 2000 {
            // a's session timeout passed long ago: waiting in the join phase satisfies it.
            assert!(s.group().unwrap().members.contains_key(&a));
        }
        assert!(waited <= 5000, "the rebalance timeout is 5000");
    }
    assert_eq!(waited, 5000);
    let r = s.joined(ta).unwrap();
    assert_eq!(r.generation_id, 2);
    let members: Vec<&String> = s.group().unwrap().members.keys().collect();
    assert_eq!(members.len(), 2);
    assert!(!members.contains(&&b));
    assert_eq!(s.heartbeat(&b, 1), ErrorCode::UnknownMemberId);
}

#[test]
fn session_expiry_removes_a_silent_member_and_rebalances() {
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    // Both sessions were renewed when SyncGroup was answered; a heartbeats, b does not.
    s.advance(600);
    assert_eq!(s.heartbeat(&a, 1), ErrorCode::None);
    s.advance(399);
    assert!(s.group().unwrap().members.contains_key(&b));
    assert_eq!(s.state(), GroupState::Stable);
    s.advance(1);
    assert!(
        !s.group().unwrap().members.contains_key(&b),
        "b's session expired"
    );
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    assert_eq!(s.heartbeat(&a, 1), ErrorCode::RebalanceInProgress);
    let ta = s.join(Sim::request(&a, "a"));
    let r = s.joined(ta).unwrap();
    assert_eq!((r.generation_id, r.members.len()), (2, 1));
    assert_eq!(s.heartbeat(&b, 1), ErrorCode::UnknownMemberId);
}

#[test]
fn leave_rebalances_and_the_last_leave_empties_the_group_in_a_new_generation() {
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    assert_eq!(s.leave(&b), Ok(vec![ErrorCode::None]));
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    let ta = s.join(Sim::request(&a, "a"));
    assert_eq!(s.joined(ta).unwrap().generation_id, 2);
    s.settle_sync(std::slice::from_ref(&a), &["a"], 2);
    assert_eq!(s.leave(&a), Ok(vec![ErrorCode::None]));
    // Kafka bumps the generation when the group goes empty, and stores that.
    assert_eq!((s.state(), s.generation()), (GroupState::Empty, 3));
    assert_eq!(s.persists.len(), 1);
    let rec = &s.persists[0].record;
    assert_eq!(
        (rec.generation, rec.protocol.as_ref(), rec.leader.as_ref()),
        (3, None, None)
    );
    assert!(rec.members.is_empty());
    assert_eq!(rec.protocol_type, "consumer");
    assert_eq!(s.leave(&a), Ok(vec![ErrorCode::UnknownMemberId]));
    // An unknown group: each member UNKNOWN_MEMBER_ID, no group created.
    let l = LeavingMember {
        member_id: "x".into(),
        group_instance_id: None,
    };
    let (r, _) = s.g.leave("other", &[l], s.now);
    assert_eq!(r, Ok(vec![ErrorCode::UnknownMemberId]));
    assert!(s.g.group("other").is_none());
}

#[test]
fn a_pending_member_id_is_waited_for_until_it_expires() {
    let mut s = Sim::with(config(10));
    let a = s.form(&["a"]).remove(0);
    let b = s.new_id("b");
    let tb = s.join(Sim::request(&b, "b"));
    // c got an id but never joins with it; the join phase waits for it (KIP-394).
    let c = s.new_id("c");
    let ta = s.join(Sim::request(&a, "a"));
    assert!(s.joined(ta).is_none());
    s.advance(i64::from(SESSION) - 1);
    assert!(s.joined(ta).is_none());
    s.advance(1);
    let r = s
        .joined(ta)
        .expect("c's pending id expired after its session timeout");
    assert_eq!(r.generation_id, 2);
    assert_eq!(s.joined(tb).unwrap().generation_id, 2);
    assert!(!s.group().unwrap().pending_members.contains_key(&c));
    // Its id is now unknown.
    let tc = s.join(Sim::request(&c, "c"));
    assert_eq!(s.joined(tc).unwrap().error, ErrorCode::UnknownMemberId);
}

#[test]
fn members_that_never_sync_are_removed_at_the_end_of_the_sync_phase() {
    let mut s = Sim::with(config(10));
    let a = s.new_id("a");
    let b = s.new_id("b");
    s.join(Sim::request(&a, "a"));
    s.join(Sim::request(&b, "b"));
    s.advance(10);
    s.advance(10);
    assert_eq!(s.state(), GroupState::CompletingRebalance);
    let t = s.sync(&a, 1, &[(a.as_str(), "A"), (b.as_str(), "B")]);
    s.persist_ok();
    assert_eq!(s.synced(t).unwrap().error, ErrorCode::None);
    assert_eq!(s.state(), GroupState::Stable);
    // b heartbeats but never sends SyncGroup: removed one rebalance timeout after the join.
    let mut waited = 0;
    while s.group().unwrap().members.contains_key(&b) {
        assert_eq!(s.heartbeat(&b, 1), ErrorCode::None);
        assert_eq!(s.heartbeat(&a, 1), ErrorCode::None);
        s.advance(250);
        waited += 250;
        assert!(waited <= i64::from(REBALANCE), "never removed");
    }
    assert_eq!(waited, i64::from(REBALANCE));
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    assert_eq!(s.heartbeat(&a, 1), ErrorCode::RebalanceInProgress);
}

#[test]
fn known_members_rejoining_a_stable_group() {
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    assert_eq!(s.group().unwrap().leader.as_deref(), Some(a.as_str()));
    // A follower with the same metadata gets the current generation, no rebalance.
    let tb = s.join(Sim::request(&b, "b"));
    let r = s.joined(tb).unwrap();
    assert_eq!(
        (r.error, r.generation_id, r.leader.as_str()),
        (ErrorCode::None, 1, a.as_str())
    );
    assert!(r.members.is_empty());
    assert_eq!(s.state(), GroupState::Stable);
    // The leader rejoining forces a rebalance (it may have seen topics change).
    let ta = s.join(Sim::request(&a, "a"));
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    let tb = s.join(Sim::request(&b, "b"));
    assert_eq!(s.joined(ta).unwrap().generation_id, 2);
    assert_eq!(s.joined(tb).unwrap().generation_id, 2);
    s.settle_sync(&ids, &["a", "b"], 2);
    // A follower whose metadata changed forces one too.
    let mut changed = Sim::request(&b, "b");
    changed.protocols[0].metadata = Bytes::from_static(b"new subscription");
    let tb = s.join(changed);
    assert!(s.joined(tb).is_none());
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    // A second JoinGroup of the same member supersedes the first.
    let tb2 = s.join(Sim::request(&b, "b"));
    assert_eq!(s.joined(tb).unwrap().error, ErrorCode::RebalanceInProgress);
    let ta = s.join(Sim::request(&a, "a"));
    assert_eq!(s.joined(ta).unwrap().generation_id, 3);
    assert_eq!(s.joined(tb2).unwrap().generation_id, 3);
}
