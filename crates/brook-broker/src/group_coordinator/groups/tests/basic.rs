//! Joining, the protocol vote, the initial delay, SyncGroup and the assignment's persist.

use super::*;

#[test]
fn a_first_join_without_a_member_id_is_member_id_required_with_a_generated_id() {
    let mut s = Sim::new();
    let t = s.join(Sim::request("", "client-a"));
    let r = s.joined(t).expect("answered at once");
    assert_eq!(r.error, ErrorCode::MemberIdRequired);
    // `{client_id}-{uuid}`, a v4 UUID layout.
    let uuid = r
        .member_id
        .strip_prefix("client-a-")
        .expect("client id prefix");
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(uuid.as_bytes()[14], b'4', "{uuid}");
    // The group exists, Empty, with the id pending: no member yet.
    let g = s.group().unwrap();
    assert_eq!(g.state, GroupState::Empty);
    assert!(g.members.is_empty());
    assert!(g.pending_members.contains_key(&r.member_id));
    // Another first join gets another id.
    assert_ne!(s.new_id("client-a"), r.member_id);
}

#[test]
fn a_pending_member_id_joins_and_the_group_reaches_generation_one() {
    let mut s = Sim::new();
    let id = s.new_id("a");
    let t = s.join(Sim::request(&id, "a"));
    // Initial delay 0: the join phase ends at once.
    let r = s.joined(t).expect("the join phase ended");
    assert_eq!(r.error, ErrorCode::None, "{r:?}");
    assert_eq!((r.generation_id, r.member_id.as_str()), (1, id.as_str()));
    assert_eq!(r.leader, id);
    assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1);
    assert_eq!(r.members[0].metadata, Bytes::from_static(b"r-a"));
    assert_eq!(s.state(), GroupState::CompletingRebalance);
    assert!(s.group().unwrap().pending_members.is_empty());
}

#[test]
fn the_leader_gets_every_member_and_followers_get_none() {
    let mut s = Sim::with(config(100));
    let a = s.new_id("a");
    let b = s.new_id("b");
    let ta = s.join(Sim::request(&a, "a"));
    let tb = s.join(Sim::request(&b, "b"));
    s.advance(100);
    assert!(
        s.joined(ta).is_none(),
        "b joined during the delay: it is extended"
    );
    s.advance(100);
    let (ra, rb) = (s.joined(ta).unwrap(), s.joined(tb).unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    assert_eq!(ra.leader, a);
    assert_eq!(rb.leader, a);
    let mut got: Vec<_> = ra
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.metadata.clone()))
        .collect();
    got.sort();
    let mut want = vec![
        (a.clone(), Bytes::from_static(b"r-a")),
        (b.clone(), Bytes::from_static(b"r-b")),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(rb.members.is_empty());
}

#[test]
fn the_initial_delay_is_extended_per_new_member_up_to_the_rebalance_timeout() {
    // Delay 300, rebalance timeout 1000: the first join waits 300; a join during it extends
    // by another 300, up to 1000 in all.
    let mut s = Sim::with(config(300));
    let req = |id: &str, c: &str| {
        let mut r = Sim::request(id, c);
        r.rebalance_timeout_ms = 1000;
        r
    };
    let a = s.new_id("a");
    let ta = s.join(req(&a, "a"));
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    let mut waited = 0;
    let mut n = 0;
    while !s.joins.contains_key(&ta) {
        // A new member every 250 ms keeps extending the delay.
        if waited % 250 == 0 && waited < 2000 {
            n += 1;
            let id = s.new_id(&format!("m{n}"));
            s.join(req(&id, &format!("m{n}")));
        }
        s.advance(50);
        waited += 50;
        assert!(waited <= 2000, "never completed");
    }
    // 300 (first delay) + 300 + 300 + the last 100 of the rebalance timeout.
    assert_eq!(waited, 1000, "the delay stops at the rebalance timeout");
    assert_eq!(s.joined(ta).unwrap().members.len(), n + 1);
    // Without new members it ends after one delay.
    let mut s = Sim::with(config(300));
    let a = s.new_id("a");
    let ta = s.join(req(&a, "a"));
    s.advance(299);
    assert!(s.joined(ta).is_none());
    s.advance(1);
    assert_eq!(s.joined(ta).unwrap().generation_id, 1);
}

#[test]
fn the_protocol_is_chosen_by_vote_among_those_every_member_supports() {
    let mut s = Sim::with(config(10));
    let with = |s: &mut Sim, client: &str, protocols: &[&str]| {
        let req = |id: &str| {
            let mut r = Sim::request(id, client);
            r.protocols = protocols.iter().map(|p| protocol(p, client)).collect();
            r
        };
        // The first join (MEMBER_ID_REQUIRED) is checked against the group's protocols too.
        let t = s.join(req(""));
        let id = s.joined(t).unwrap().member_id;
        s.join(req(&id))
    };
    // sticky is supported by all, first choice of two; range is first choice of one but not
    // supported by c; roundrobin is not supported by a.
    let t = with(&mut s, "a", &["range", "sticky"]);
    with(&mut s, "b", &["sticky", "range", "roundrobin"]);
    with(&mut s, "c", &["sticky", "roundrobin"]);
    s.advance(10);
    s.advance(10);
    let r = s.joined(t).unwrap();
    assert_eq!(r.protocol_name.as_deref(), Some("sticky"));
    // The leader gets each member's metadata for the chosen protocol.
    assert!(r.members.iter().all(|m| !m.metadata.is_empty()));
    // A tie goes to the name that sorts first.
    let mut s = Sim::with(config(10));
    let t = with(&mut s, "a", &["zeta", "alpha"]);
    with(&mut s, "b", &["alpha", "zeta"]);
    s.advance(10);
    s.advance(10);
    assert_eq!(s.joined(t).unwrap().protocol_name.as_deref(), Some("alpha"));
}

#[test]
fn sync_waits_for_the_leaders_assignment_to_be_stored() {
    let mut s = Sim::with(config(10));
    let a = s.new_id("a");
    let b = s.new_id("b");
    let c = s.new_id("c");
    for (id, cl) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        s.join(Sim::request(id, cl));
    }
    s.advance(10);
    s.advance(10);
    assert_eq!(s.state(), GroupState::CompletingRebalance);
    let leader = s.group().unwrap().leader.clone().unwrap();
    let followers: Vec<String> = [&a, &b, &c]
        .into_iter()
        .filter(|m| **m != leader)
        .cloned()
        .collect();
    // A follower's SyncGroup waits for the leader.
    let tf = s.sync(&followers[0], 1, &[]);
    assert!(s.synced(tf).is_none());
    assert!(s.persists.is_empty());
    // The leader gives the first follower nothing, and names a stranger (ignored).
    let tl = s.sync(
        &leader,
        1,
        &[
            (leader.as_str(), "L"),
            (followers[1].as_str(), "F1"),
            ("stranger", "x"),
        ],
    );
    // Nobody is answered before the record is stored.
    assert!(s.synced(tl).is_none() && s.synced(tf).is_none());
    assert_eq!(s.persists.len(), 1);
    let p = &s.persists[0];
    assert_eq!((p.group_id.as_str(), p.record.generation), (G, 1));
    assert_eq!(p.record.leader.as_deref(), Some(leader.as_str()));
    assert_eq!(p.record.protocol.as_deref(), Some("range"));
    let stored: BTreeMap<_, _> = p
        .record
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.assignment.clone()))
        .collect();
    assert_eq!(stored.len(), 3, "strangers are not stored");
    assert_eq!(stored[&followers[0]], Bytes::new());
    assert_eq!(stored[&followers[1]], Bytes::from_static(b"F1"));
    assert_eq!(s.state(), GroupState::CompletingRebalance);
    s.persist_ok();
    assert_eq!(s.state(), GroupState::Stable);
    assert_eq!(s.synced(tl).unwrap().assignment, Bytes::from_static(b"L"));
    let f0 = s.synced(tf).unwrap();
    assert_eq!((f0.error, f0.assignment), (ErrorCode::None, Bytes::new()));
    assert_eq!(f0.protocol_name.as_deref(), Some("range"));
    // A follower syncing after that gets its assignment from the Stable group at once.
    let t1 = s.sync(&followers[1], 1, &[]);
    assert_eq!(s.synced(t1).unwrap().assignment, Bytes::from_static(b"F1"));
}

#[test]
fn a_failed_assignment_persist_answers_the_error_and_rebalances() {
    let mut s = Sim::new();
    let a = s.new_id("a");
    let ta = s.join(Sim::request(&a, "a"));
    assert_eq!(s.joined(ta).unwrap().generation_id, 1);
    let t = s.sync(&a, 1, &[(a.as_str(), "A")]);
    let p = s.persists.pop().unwrap();
    let e = s.g.persisted(p.id, Err(ErrorCode::NotCoordinator), s.now);
    s.apply(e);
    let r = s.synced(t).unwrap();
    assert_eq!(r.error, ErrorCode::NotCoordinator);
    assert_eq!(r.assignment, Bytes::new());
    // Kafka then prepares a rebalance: the member must join again.
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    assert_eq!(s.group().unwrap().members[&a].assignment, Bytes::new());
    assert_eq!(s.heartbeat(&a, 1), ErrorCode::RebalanceInProgress);
    // A persist result nobody waits for any more is ignored.
    assert!(s.g.persisted(p.id, Ok(()), s.now).is_empty());
}
