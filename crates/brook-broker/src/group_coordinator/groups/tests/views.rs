//! OffsetCommit verdicts, DescribeGroups / ListGroups / DeleteGroups, partition ownership
//! (load, unload, load in progress) and deadlines.

use super::*;

#[test]
fn commits_from_outside_the_group_are_accepted_only_while_it_is_empty() {
    let mut s = Sim::with(config(10));
    // generation -1, member "": an unknown group is created Empty (Kafka's "simple" group).
    assert_eq!(s.g.check_commit("solo", -1, "", None, s.now), Ok(()));
    let solo = s.g.group("solo").unwrap();
    assert_eq!((solo.state, solo.generation), (GroupState::Empty, 0));
    let ids = s.form(&["a", "b"]);
    assert_eq!(
        s.g.check_commit(G, -1, "", None, s.now),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(s.g.check_commit(G, 1, &ids[0], None, s.now), Ok(()));
    assert_eq!(s.leave(&ids[0]), Ok(vec![ErrorCode::None]));
    assert_eq!(s.leave(&ids[1]), Ok(vec![ErrorCode::None]));
    assert_eq!(s.state(), GroupState::Empty);
    assert_eq!(s.g.check_commit(G, -1, "", None, s.now), Ok(()));
    // A former member's commit is refused once it is gone.
    assert_eq!(
        s.g.check_commit(G, 1, &ids[0], None, s.now),
        Err(ErrorCode::UnknownMemberId)
    );
}

#[test]
fn commit_verdicts_follow_the_group_state() {
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let c = s.new_id("c");
    let tc = s.join(Sim::request(&c, "c"));
    // PreparingRebalance: the current generation may still commit (it renews the session).
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    s.advance(900);
    assert_eq!(s.g.check_commit(G, 1, &a, None, s.now), Ok(()));
    assert_eq!(s.g.check_commit(G, 1, &b, None, s.now), Ok(()));
    s.advance(900);
    assert!(
        s.group().unwrap().members.contains_key(&a),
        "the commit renewed a's session"
    );
    let ta = s.join(Sim::request(&a, "a"));
    let tb = s.join(Sim::request(&b, "b"));
    assert_eq!(s.state(), GroupState::CompletingRebalance);
    assert_eq!(
        s.g.check_commit(G, 2, &a, None, s.now),
        Err(ErrorCode::RebalanceInProgress)
    );
    // A zombie of the old generation.
    assert_eq!(
        s.g.check_commit(G, 1, &a, None, s.now),
        Err(ErrorCode::IllegalGeneration)
    );
    // An instance id the group does not know.
    assert_eq!(
        s.g.check_commit(G, 2, &a, Some("nope"), s.now),
        Err(ErrorCode::UnknownMemberId)
    );
    for t in [ta, tb, tc] {
        assert_eq!(s.joined(t).unwrap().generation_id, 2);
    }
    s.settle_sync(&[a.clone(), b.clone(), c.clone()], &["a", "b", "c"], 2);
    assert_eq!(s.g.check_commit(G, 2, &c, None, s.now), Ok(()));
}

#[test]
fn describe_list_and_delete_follow_kafka() {
    let mut s = Sim::with(config(10));
    let unknown = s.g.describe("unknown").unwrap();
    assert_eq!((unknown.state, unknown.generation), (GroupState::Dead, -1));
    assert!(unknown.members.is_empty());
    assert_eq!(s.g.delete("unknown"), Err(ErrorCode::GroupIdNotFound));
    let ids = s.form(&["a", "b"]);
    let d = s.g.describe(G).unwrap();
    assert_eq!(d.state.name(), "Stable");
    assert_eq!(
        (d.protocol_type.as_str(), d.protocol.as_str()),
        ("consumer", "range")
    );
    assert_eq!((d.generation, d.leader.as_str()), (1, ids[0].as_str()));
    let a = d.members.iter().find(|m| m.member_id == ids[0]).unwrap();
    assert_eq!(
        (a.client_id.as_str(), a.client_host.as_str()),
        ("a", "/127.0.0.1")
    );
    assert_eq!(a.metadata, Bytes::from_static(b"r-a"));
    assert_eq!(a.assignment, Bytes::from_static(b"a-a"));
    let (all, loading) = s.g.list(&[]);
    assert!(!loading);
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].group_id.as_str(), all[0].protocol_type.as_str()),
        (G, "consumer")
    );
    assert_eq!(all[0].state, GroupState::Stable);
    assert!(s.g.list(&[GroupState::Empty]).0.is_empty());
    assert_eq!(
        s.g.list(&[GroupState::Empty, GroupState::Stable]).0.len(),
        1
    );
    assert_eq!(
        GroupState::parse("completingrebalance"),
        Some(GroupState::CompletingRebalance)
    );
    assert_eq!(GroupState::parse("Rebalancing"), None);
    // While rebalancing, no protocol, metadata or assignments are shown.
    let c = s.new_id("c");
    s.join(Sim::request(&c, "c"));
    let d = s.g.describe(G).unwrap();
    assert_eq!(
        (d.state.name(), d.protocol.as_str()),
        ("PreparingRebalance", "")
    );
    assert!(
        d.members
            .iter()
            .all(|m| m.assignment.is_empty() && m.metadata.is_empty())
    );
    assert_eq!(d.members.len(), 3);
    assert_eq!(s.g.delete(G), Err(ErrorCode::NonEmptyGroup));
    for id in ids.iter().chain([&c]) {
        assert_eq!(s.leave(id), Ok(vec![ErrorCode::None]));
    }
    assert_eq!(s.state(), GroupState::Empty);
    assert_eq!(s.g.delete(G), Ok(()));
    assert!(s.group().is_none());
    assert_eq!(s.g.describe(G).unwrap().state, GroupState::Dead);
    assert_eq!(s.g.delete(G), Err(ErrorCode::GroupIdNotFound));
}

#[test]
fn groups_answer_not_coordinator_until_loaded_and_load_in_progress_while_loading() {
    let mut g = Groups::new(config(0), 1);
    let p = g.partition_of(G);
    assert_eq!(g.status(G), Err(ErrorCode::NotCoordinator));
    let e = g.join(1, Sim::request("", "a"), 0);
    assert!(matches!(&e[..], [Effect::Join(1, r)] if r.error == ErrorCode::NotCoordinator));
    assert!(g.begin_load(p, 3).is_empty());
    assert_eq!(g.status(G), Err(ErrorCode::CoordinatorLoadInProgress));
    assert_eq!(
        g.heartbeat(G, 1, "m", None, 0).0,
        ErrorCode::CoordinatorLoadInProgress
    );
    assert_eq!(
        g.check_commit(G, -1, "", None, 0),
        Err(ErrorCode::CoordinatorLoadInProgress)
    );
    assert_eq!(
        g.describe(G).unwrap_err(),
        ErrorCode::CoordinatorLoadInProgress
    );
    assert!(g.list(&[]).1, "ListGroups says a partition is loading");
    // A stale load (another epoch) does not complete this one.
    assert_eq!(g.finish_load(p, 2, BTreeMap::new(), [], 0), 0);
    assert_eq!(g.status(G), Err(ErrorCode::CoordinatorLoadInProgress));
    g.finish_load(p, 3, BTreeMap::new(), [], 0);
    assert_eq!(g.status(G), Ok(()));
    assert_eq!(g.partition_status(p), Some(LoadStatus::Loaded(3)));
    // Other partitions are still not ours.
    let other = (0..100)
        .map(|i| format!("g{i}"))
        .find(|id| g.partition_of(id) != p)
        .unwrap();
    assert_eq!(g.status(&other), Err(ErrorCode::NotCoordinator));
}

#[test]
fn a_loaded_group_is_stable_with_fresh_session_deadlines() {
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a", "b"]);
    let record = s.group().unwrap().record(&BTreeMap::new());
    // Another broker loads the partition later.
    let mut t = Sim::with(config(10));
    let p = t.g.partition_of(G);
    t.g.unload(p);
    t.g.begin_load(p, 2);
    let loaded = BTreeMap::from([(G.to_string(), record)]);
    let n =
        t.g.finish_load(p, 2, loaded, ["offsets-only".to_string()], t.now);
    assert_eq!(n, 2);
    let g = t.group().unwrap();
    assert_eq!((g.state, g.generation), (GroupState::Stable, 1));
    assert_eq!(g.leader.as_deref(), Some(ids[0].as_str()));
    assert_eq!(g.members[&ids[1]].assignment, Bytes::from_static(b"a-b"));
    for m in g.members.values() {
        assert_eq!(m.session_deadline_ms, Some(t.now + i64::from(SESSION)));
    }
    let d = t.g.describe(G).unwrap();
    assert_eq!(d.protocol, "range");
    assert_eq!(d.members.len(), 2);
    assert_eq!(
        t.g.describe("offsets-only").unwrap().state,
        GroupState::Empty
    );
    // The members carry on: heartbeats and SyncGroup work in the same generation.
    t.advance(500);
    assert_eq!(t.heartbeat(&ids[0], 1), ErrorCode::None);
    let ts = t.sync(&ids[1], 1, &[]);
    assert_eq!(t.synced(ts).unwrap().assignment, Bytes::from_static(b"a-b"));
    // One that never shows up is removed after its session timeout, as usual.
    t.advance(499);
    assert_eq!(t.heartbeat(&ids[0], 1), ErrorCode::None);
    t.advance(501);
    assert!(!t.group().unwrap().members.contains_key(&ids[1]));
    assert_eq!(t.heartbeat(&ids[0], 1), ErrorCode::RebalanceInProgress);
}

#[test]
fn unloading_answers_waiting_requests_not_coordinator() {
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a", "b"]);
    let c = s.new_id("c");
    let tc = s.join(Sim::request(&c, "c"));
    let ta = s.join(Sim::request(&ids[0], "a"));
    let tb = s.join(Sim::request(&ids[1], "b"));
    assert_eq!(s.joined(ta).unwrap().generation_id, 2);
    assert!(s.joined(tb).is_some() && s.joined(tc).is_some());
    // b waits in SyncGroup for the leader; the leader's record is being stored.
    let wait = s.sync(&ids[1], 2, &[]);
    let lead = s.sync(&ids[0], 2, &[]);
    assert_eq!(s.persists.len(), 1);
    let p = s.g.partition_of(G);
    let e = s.g.unload(p);
    s.apply(e);
    assert_eq!(s.synced(wait).unwrap().error, ErrorCode::NotCoordinator);
    assert_eq!(s.synced(lead).unwrap().error, ErrorCode::NotCoordinator);
    assert!(s.group().is_none());
    assert_eq!(s.g.status(G), Err(ErrorCode::NotCoordinator));
    // The store finishing afterwards changes nothing.
    assert_eq!(s.persist_ok(), 1);
    assert!(s.syncs.is_empty());
    // And a waiting JoinGroup is answered too.
    let mut s = Sim::with(config(10));
    let ids = s.form(&["a"]);
    let b = s.new_id("b");
    let tb = s.join(Sim::request(&b, "b"));
    let e = s.g.unload(p);
    s.apply(e);
    assert_eq!(s.joined(tb).unwrap().error, ErrorCode::NotCoordinator);
    assert_eq!(s.heartbeat(&ids[0], 1), ErrorCode::NotCoordinator);
}

#[test]
fn next_deadline_follows_sessions_and_phases() {
    let mut s = Sim::with(config(10));
    assert_eq!(s.g.next_deadline(), None);
    let a = s.form(&["a"]).remove(0);
    // The sync phase's end and a's session.
    assert_eq!(s.g.next_deadline(), Some(s.now + i64::from(SESSION)));
    s.advance(400);
    assert_eq!(s.heartbeat(&a, 1), ErrorCode::None);
    assert_eq!(s.g.next_deadline(), Some(s.now + i64::from(SESSION)));
    // A tick before any deadline changes nothing.
    let before = s.view();
    s.advance(999);
    assert_eq!(s.view(), before);
    assert!(s.joins.is_empty() && s.syncs.is_empty() && s.persists.is_empty());
}
