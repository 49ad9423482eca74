//! Static membership (KIP-345): an instance id keeps its place across restarts; the newest
//! member id for it wins and the older one is fenced.

use super::*;

fn static_request(member_id: &str, instance: &str, client: &str) -> JoinRequest {
    let mut r = Sim::request(member_id, client);
    r.group_instance_id = Some(instance.into());
    r
}

/// A Stable group of one static member ("i1") and one dynamic ("b"); returns their ids.
fn stable_pair(s: &mut Sim) -> (String, String) {
    let ts = s.join(static_request("", "i1", "s"));
    let b = s.new_id("b");
    let tb = s.join(Sim::request(&b, "b"));
    s.advance(10);
    s.advance(10);
    let rs = s
        .joined(ts)
        .expect("a static member needs no MEMBER_ID_REQUIRED round");
    assert_eq!((rs.error, rs.generation_id), (ErrorCode::None, 1));
    assert!(rs.member_id.starts_with("i1-"), "{}", rs.member_id);
    assert_eq!(s.joined(tb).unwrap().generation_id, 1);
    s.settle_sync(&[rs.member_id.clone(), b.clone()], &["s", "b"], 1);
    (rs.member_id, b)
}

#[test]
fn a_static_rejoin_with_unchanged_metadata_fences_the_old_id_without_a_rebalance() {
    let mut s = Sim::with(config(10));
    let (old, b) = stable_pair(&mut s);
    assert_eq!(s.group().unwrap().leader.as_deref(), Some(old.as_str()));
    // The static member restarts: no member id, same instance id and metadata.
    let t = s.join(static_request("", "i1", "s"));
    // Stored before it is answered; the group stays Stable in generation 1.
    assert!(s.joined(t).is_none());
    assert_eq!(s.persists.len(), 1);
    assert_eq!((s.state(), s.generation()), (GroupState::Stable, 1));
    s.persist_ok();
    let r = s.joined(t).unwrap();
    assert_eq!((r.error, r.generation_id), (ErrorCode::None, 1));
    let new = r.member_id.clone();
    assert_ne!(new, old);
    // The old leader id is returned, so the member does not compute an assignment.
    assert_eq!(r.leader, old);
    assert!(r.members.is_empty());
    let g = s.group().unwrap();
    assert_eq!(
        g.leader.as_deref(),
        Some(new.as_str()),
        "leadership moved with the instance"
    );
    assert_eq!(g.static_members["i1"], new);
    // The zombie is fenced everywhere; the new id works and keeps the assignment.
    let (code, _) = s.g.heartbeat(G, 1, &old, Some("i1"), s.now);
    assert_eq!(code, ErrorCode::FencedInstanceId);
    assert_eq!(
        s.g.check_commit(G, 1, &old, Some("i1"), s.now),
        Err(ErrorCode::FencedInstanceId)
    );
    assert_eq!(s.heartbeat(&new, 1), ErrorCode::None);
    let ts = s.sync(&new, 1, &[]);
    assert_eq!(s.synced(ts).unwrap().assignment, Bytes::from_static(b"a-s"));
    assert_eq!(
        s.heartbeat(&b, 1),
        ErrorCode::None,
        "b never saw a rebalance"
    );
    // The zombie's JoinGroup with its old id is fenced too.
    let tz = s.join(static_request(&old, "i1", "s"));
    assert_eq!(s.joined(tz).unwrap().error, ErrorCode::FencedInstanceId);
}

#[test]
fn a_static_rejoin_with_new_metadata_rebalances() {
    let mut s = Sim::with(config(10));
    let (old, b) = stable_pair(&mut s);
    let mut req = static_request("", "i1", "s");
    req.protocols[0].metadata = Bytes::from_static(b"another subscription");
    let t = s.join(req);
    assert!(s.persists.is_empty());
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    assert_eq!(s.heartbeat(&b, 1), ErrorCode::RebalanceInProgress);
    let (code, _) = s.g.heartbeat(G, 1, &old, Some("i1"), s.now);
    assert_eq!(code, ErrorCode::FencedInstanceId);
    let tb = s.join(Sim::request(&b, "b"));
    assert_eq!(s.joined(t).unwrap().generation_id, 2);
    assert_eq!(s.joined(tb).unwrap().generation_id, 2);
}

#[test]
fn a_failed_static_rejoin_persist_restores_the_old_member() {
    let mut s = Sim::with(config(10));
    let (old, _) = stable_pair(&mut s);
    let before = s.view();
    let t = s.join(static_request("", "i1", "s"));
    let p = s.persists.pop().unwrap();
    let e = s.g.persisted(p.id, Err(ErrorCode::NotCoordinator), s.now);
    s.apply(e);
    let r = s.joined(t).unwrap();
    assert_eq!(r.error, ErrorCode::NotCoordinator);
    assert_eq!(s.view(), before, "the group is as it was");
    assert_eq!(s.group().unwrap().static_members["i1"], old);
    assert_eq!(s.heartbeat(&old, 1), ErrorCode::None);
}

#[test]
fn static_members_leave_by_instance_id_and_are_spared_by_the_rebalance_timeout() {
    let mut s = Sim::with(config(10));
    let (st, b) = stable_pair(&mut s);
    // A rebalance the static member sits out: it stays (only its session can remove it).
    let c = s.new_id("c");
    let tc = s.join(Sim::request(&c, "c"));
    let tb = s.join(Sim::request(&b, "b"));
    while !s.joins.contains_key(&tc) {
        assert_eq!(s.heartbeat(&st, 1), ErrorCode::RebalanceInProgress);
        s.advance(500);
    }
    assert_eq!(s.joined(tb).unwrap().generation_id, 2);
    assert!(s.group().unwrap().members.contains_key(&st));
    // An admin removes it by instance id alone; a fenced id cannot leave for it.
    let by_old_id = LeavingMember {
        member_id: "i1-stale".into(),
        group_instance_id: Some("i1".into()),
    };
    let by_instance = LeavingMember {
        member_id: String::new(),
        group_instance_id: Some("i1".into()),
    };
    let unknown = LeavingMember {
        member_id: String::new(),
        group_instance_id: Some("nobody".into()),
    };
    let (r, e) = s.g.leave(G, &[by_old_id, by_instance, unknown], s.now);
    s.apply(e);
    assert_eq!(
        r,
        Ok(vec![
            ErrorCode::FencedInstanceId,
            ErrorCode::None,
            ErrorCode::UnknownMemberId
        ])
    );
    assert!(!s.group().unwrap().members.contains_key(&st));
    assert!(!s.group().unwrap().static_members.contains_key("i1"));
}
