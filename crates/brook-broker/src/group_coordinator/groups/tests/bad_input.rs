//! Bad input (issue 12 item 6): each is a named error and leaves the group exactly as it was
//! (state, generation, members with protocols and assignments, leader, protocol).

use super::*;

/// A Stable group of a and b (generation 1) and its view.
fn stable(s: &mut Sim) -> (String, String, Option<View>) {
    let ids = s.form(&["a", "b"]);
    let v = s.view();
    (ids[0].clone(), ids[1].clone(), v)
}

fn join_error(s: &mut Sim, req: JoinRequest) -> JoinResult {
    let t = s.join(req);
    let r = s.joined(t).expect("refused at once");
    assert_eq!(r.generation_id, -1, "{r:?}");
    r
}

#[test]
fn an_empty_group_id_is_invalid_group_id_everywhere() {
    let mut s = Sim::new();
    let mut req = Sim::request("", "a");
    req.group_id = String::new();
    assert_eq!(join_error(&mut s, req).error, ErrorCode::InvalidGroupId);
    let (code, _) = s.g.heartbeat("", 1, "m", None, s.now);
    assert_eq!(code, ErrorCode::InvalidGroupId);
    let t = s.ticket();
    let e = s.g.sync(
        t,
        SyncRequest {
            group_id: String::new(),
            generation_id: 1,
            member_id: "m".into(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![],
        },
        s.now,
    );
    s.apply(e);
    assert_eq!(s.synced(t).unwrap().error, ErrorCode::InvalidGroupId);
    assert_eq!(s.g.leave("", &[], s.now).0, Err(ErrorCode::InvalidGroupId));
    assert_eq!(
        s.g.check_commit("", -1, "", None, s.now),
        Err(ErrorCode::InvalidGroupId)
    );
    assert_eq!(s.g.describe("").unwrap_err(), ErrorCode::InvalidGroupId);
    assert_eq!(s.g.delete(""), Err(ErrorCode::InvalidGroupId));
    assert!(s.g.list(&[]).0.is_empty(), "no group was created");
}

#[test]
fn session_timeouts_outside_the_bounds_are_invalid_session_timeout() {
    let mut s = Sim::with(config(10));
    let (a, _, before) = stable(&mut s);
    for bad in [99, 60_001, 0, -5] {
        let mut req = Sim::request("", "c");
        req.session_timeout_ms = bad;
        let r = join_error(&mut s, req);
        assert_eq!(r.error, ErrorCode::InvalidSessionTimeout, "{bad}");
        assert!(
            r.message.contains("group.min.session.timeout.ms"),
            "{}",
            r.message
        );
        // A known member asking for a bad timeout does not rebalance the group either.
        let mut req = Sim::request(&a, "a");
        req.session_timeout_ms = bad;
        assert_eq!(
            join_error(&mut s, req).error,
            ErrorCode::InvalidSessionTimeout
        );
    }
    assert_eq!(s.view(), before);
    assert!(s.group().unwrap().pending_members.is_empty());
    // On a group that does not exist yet: no group is created.
    let mut req = Sim::request("", "c");
    req.group_id = "fresh".into();
    req.session_timeout_ms = 1;
    assert_eq!(
        join_error(&mut s, req).error,
        ErrorCode::InvalidSessionTimeout
    );
    assert!(s.g.group("fresh").is_none());
}

#[test]
fn oversized_member_metadata_and_overlong_strings_are_invalid_request() {
    let mut s = Sim::with(config(10));
    let (a, _, before) = stable(&mut s);
    // The bound (message.max.bytes in a broker) is 1000 here: names plus metadata.
    let mut req = Sim::request(&a, "a");
    req.protocols = vec![protocol("range", &"x".repeat(996))];
    let r = join_error(&mut s, req);
    assert_eq!(r.error, ErrorCode::InvalidRequest);
    assert!(r.message.contains("1001 bytes"), "{}", r.message);
    let mut req = Sim::request("", "c");
    req.protocols = vec![
        protocol("range", "x"),
        protocol("roundrobin", &"y".repeat(1000)),
    ];
    assert_eq!(join_error(&mut s, req).error, ErrorCode::InvalidRequest);
    let mut req = Sim::request("", &"c".repeat(40_000));
    req.protocols = vec![protocol("range", "")];
    assert_eq!(join_error(&mut s, req).error, ErrorCode::InvalidRequest);
    assert_eq!(s.view(), before);
    // Exactly at the bound is fine.
    let mut req = Sim::request(&a, "a");
    req.protocols = vec![protocol("range", &"x".repeat(995))];
    let t = s.join(req);
    assert!(
        s.joined(t).is_none(),
        "accepted: the leader's rejoin rebalances"
    );
}

#[test]
fn an_unknown_or_missing_protocol_type_is_inconsistent_group_protocol() {
    let mut s = Sim::with(config(10));
    let (a, _, before) = stable(&mut s);
    let mut connect = Sim::request("", "c");
    connect.protocol_type = "connect".into();
    assert_eq!(
        join_error(&mut s, connect).error,
        ErrorCode::InconsistentGroupProtocol
    );
    let mut empty = Sim::request(&a, "a");
    empty.protocol_type = String::new();
    assert_eq!(
        join_error(&mut s, empty).error,
        ErrorCode::InconsistentGroupProtocol
    );
    let mut none = Sim::request("", "c");
    none.protocols.clear();
    assert_eq!(
        join_error(&mut s, none).error,
        ErrorCode::InconsistentGroupProtocol
    );
    // A protocol nobody in the group supports.
    let mut sticky = Sim::request("", "c");
    sticky.protocols = vec![protocol("sticky", "s")];
    assert_eq!(
        join_error(&mut s, sticky).error,
        ErrorCode::InconsistentGroupProtocol
    );
    assert_eq!(s.view(), before);
    // A new group without a protocol type is not created.
    let mut req = Sim::request("", "c");
    req.group_id = "fresh".into();
    req.protocol_type = String::new();
    assert_eq!(
        join_error(&mut s, req).error,
        ErrorCode::InconsistentGroupProtocol
    );
    assert!(s.g.group("fresh").is_none());
}

#[test]
fn heartbeats_and_syncs_from_unknown_members_are_unknown_member_id() {
    let mut s = Sim::with(config(10));
    let (_, _, before) = stable(&mut s);
    assert_eq!(s.heartbeat("stranger", 1), ErrorCode::UnknownMemberId);
    let (code, _) = s.g.heartbeat("no-such-group", 1, "stranger", None, s.now);
    assert_eq!(code, ErrorCode::UnknownMemberId);
    assert!(s.g.group("no-such-group").is_none());
    let t = s.sync("stranger", 1, &[]);
    assert_eq!(s.synced(t).unwrap().error, ErrorCode::UnknownMemberId);
    // A join with a member id the group never handed out, and into a group that does not exist.
    assert_eq!(
        join_error(&mut s, Sim::request("stranger", "x")).error,
        ErrorCode::UnknownMemberId
    );
    let mut req = Sim::request("stranger", "x");
    req.group_id = "no-such-group".into();
    assert_eq!(join_error(&mut s, req).error, ErrorCode::UnknownMemberId);
    assert!(s.g.group("no-such-group").is_none());
    assert_eq!(
        s.g.check_commit(G, 1, "stranger", None, s.now),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(s.view(), before);
}

#[test]
fn stale_generations_are_illegal_generation() {
    let mut s = Sim::with(config(10));
    let (a, b, before) = stable(&mut s);
    assert_eq!(s.heartbeat(&a, 0), ErrorCode::IllegalGeneration);
    assert_eq!(s.heartbeat(&b, 2), ErrorCode::IllegalGeneration);
    let t = s.sync(&b, 7, &[]);
    assert_eq!(s.synced(t).unwrap().error, ErrorCode::IllegalGeneration);
    assert_eq!(
        s.g.check_commit(G, 0, &a, None, s.now),
        Err(ErrorCode::IllegalGeneration)
    );
    // A commit with a generation for a group that does not exist: a zombie of a deleted group.
    assert_eq!(
        s.g.check_commit("gone", 3, &a, None, s.now),
        Err(ErrorCode::IllegalGeneration)
    );
    assert!(s.g.group("gone").is_none());
    // A SyncGroup naming another protocol.
    let t = s.ticket();
    let e = s.g.sync(
        t,
        SyncRequest {
            group_id: G.into(),
            generation_id: 1,
            member_id: a.clone(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("roundrobin".into()),
            assignments: vec![],
        },
        s.now,
    );
    s.apply(e);
    assert_eq!(
        s.synced(t).unwrap().error,
        ErrorCode::InconsistentGroupProtocol
    );
    assert_eq!(s.view(), before);
}

#[test]
fn group_max_size_is_enforced() {
    let mut c = config(10);
    c.max_size = 2;
    let mut s = Sim::with(c);
    let (a, _, before) = stable(&mut s);
    let r = join_error(&mut s, Sim::request("", "c"));
    assert_eq!(r.error, ErrorCode::GroupMaxSizeReached);
    assert_eq!(s.view(), before);
    // During a rebalance, at most max_size members may wait in the join phase.
    let ta = s.join(Sim::request(&a, "a"));
    assert_eq!(s.state(), GroupState::PreparingRebalance);
    let c_id = s.new_id("c");
    let tc = s.join(Sim::request(&c_id, "c"));
    assert!(s.joined(tc).is_none(), "a and c wait: 2 members");
    let d = join_error(&mut s, Sim::request("", "d"));
    assert_eq!(d.error, ErrorCode::GroupMaxSizeReached);
    assert!(s.joined(ta).is_none());
}
