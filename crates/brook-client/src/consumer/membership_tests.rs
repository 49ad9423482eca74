//! Unit tests of the member state machine: every transition driven with hand-made broker
//! answers and a hand-moved clock.

use super::*;
use crate::topic_partition::TopicPartition;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn cfg(instance: Option<&str>) -> MemberConfig {
    MemberConfig {
        session_timeout: ms(1000),
        heartbeat_interval: ms(100),
        max_poll_interval: ms(5000),
        group_instance_id: instance.map(String::from),
        protocol: RebalanceProtocol::Eager,
        backoff: ExponentialBackoff::new(ms(100), ms(1000)),
    }
}

fn join_ok(member: &str, generation: i32, leader: &str) -> JoinGroupResponse {
    JoinGroupResponse {
        generation_id: generation,
        protocol_type: "consumer".into(),
        protocol_name: "range".into(),
        leader: leader.into(),
        member_id: member.into(),
        members: vec![JoinGroupMember {
            member_id: member.into(),
            group_instance_id: String::new(),
            metadata: Default::default(),
        }],
        ..JoinGroupResponse::default()
    }
}

fn join_err(code: ErrorCode, member: &str) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: code as i32,
        member_id: member.into(),
        generation_id: -1,
        ..JoinGroupResponse::default()
    }
}

fn sync_ok() -> SyncGroupResponse {
    SyncGroupResponse::default()
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn kafka(code: ErrorCode) -> ClientError {
    ClientError::kafka(code, "test")
}

/// A member that joined generation 1 as "m-1" and holds partitions 0 and 1, at `t0`.
fn stable(t0: Instant, instance: Option<&str>) -> Membership {
    let mut m = Membership::new(cfg(instance), t0);
    assert_eq!(m.next_step(t0), PollStep::Join);
    m.join_started();
    let v = m.on_join_response(t0, Ok(join_ok("m-1", 1, "m-1")));
    assert!(matches!(v, JoinVerdict::Sync { .. }), "{v:?}");
    assert_eq!(
        m.on_sync_response(t0, Ok((sync_ok(), vec![tp(0), tp(1)]))),
        None
    );
    assert_eq!(m.next_step(t0), PollStep::Assigned(vec![tp(0), tp(1)]));
    assert_eq!(m.next_step(t0), PollStep::Stable);
    m
}

#[test]
fn join_with_member_id_required_then_leader_sync_then_stable() {
    let t0 = Instant::now();
    let mut m = Membership::new(cfg(None), t0);
    assert_eq!(m.state(), MemberState::Unjoined);
    assert!(m.commit_identity().is_err(), "no commits before joining");
    assert_eq!(m.next_step(t0), PollStep::Join);
    let first = m.join_started();
    assert_eq!((first.generation, first.member_id.as_str()), (-1, ""));
    assert_eq!(m.next_step(t0), PollStep::InFlight);
    let v = m.on_join_response(t0, Ok(join_err(ErrorCode::MemberIdRequired, "c-42")));
    let JoinVerdict::Rejoin(again) = v else {
        panic!("{v:?}")
    };
    assert_eq!((again.generation, again.member_id.as_str()), (-1, "c-42"));
    let v = m.on_join_response(t0, Ok(join_ok("c-42", 3, "c-42")));
    let JoinVerdict::Sync {
        identity,
        protocol,
        members,
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!((identity.generation, protocol.as_str()), (3, "range"));
    assert_eq!(
        members.map(|m| m.len()),
        Some(1),
        "the leader gets the members"
    );
    assert_eq!(m.next_step(t0), PollStep::InFlight, "sync still in flight");
    m.on_sync_response(t0, Ok((sync_ok(), vec![tp(1)])));
    assert_eq!(m.state(), MemberState::Stable);
    assert_eq!(m.next_step(t0), PollStep::Assigned(vec![tp(1)]));
    assert_eq!(m.next_step(t0), PollStep::Stable);
    let c = m.commit_identity().unwrap();
    assert_eq!((c.generation, c.member_id.as_str()), (3, "c-42"));
}

#[test]
fn followers_and_skip_assignment_leaders_compute_nothing() {
    let t0 = Instant::now();
    let mut m = Membership::new(cfg(None), t0);
    m.join_started();
    let v = m.on_join_response(t0, Ok(join_ok("f", 2, "someone-else")));
    assert!(
        matches!(v, JoinVerdict::Sync { members: None, .. }),
        "{v:?}"
    );
    let mut m = Membership::new(cfg(Some("i")), t0);
    m.join_started();
    let mut resp = join_ok("s", 2, "s");
    resp.skip_assignment = true;
    let v = m.on_join_response(t0, Ok(resp));
    assert!(
        matches!(v, JoinVerdict::Sync { members: None, .. }),
        "{v:?}"
    );
}

#[test]
fn heartbeats_follow_the_interval_one_at_a_time() {
    let t0 = Instant::now();
    let mut m = stable(t0, None);
    assert_eq!(
        m.heartbeat_action(t0),
        HeartbeatAction::Idle(Some(t0 + ms(100)))
    );
    m.on_poll(t0 + ms(50));
    let HeartbeatAction::Send(id) = m.heartbeat_action(t0 + ms(100)) else {
        panic!("due")
    };
    assert_eq!(id.generation, 1);
    // In flight: no second heartbeat, only the poll deadline to watch.
    assert_eq!(
        m.heartbeat_action(t0 + ms(150)),
        HeartbeatAction::Idle(Some(t0 + ms(5050)))
    );
    let out = m.on_heartbeat_response(t0 + ms(160), &id, Ok(()));
    assert_eq!(out, HeartbeatOutcome::default());
    assert_eq!(
        m.heartbeat_action(t0 + ms(161)),
        HeartbeatAction::Idle(Some(t0 + ms(260)))
    );
    assert!(!m.session_expired(t0 + ms(1160)));
    assert!(m.session_expired(t0 + ms(1161)));
}

#[test]
fn rebalance_in_progress_asks_for_a_rejoin_keeping_partitions() {
    let t0 = Instant::now();
    let mut m = stable(t0, None);
    let HeartbeatAction::Send(id) = m.heartbeat_action(t0 + ms(100)) else {
        panic!()
    };
    let out = m.on_heartbeat_response(
        t0 + ms(101),
        &id,
        Err(kafka(ErrorCode::RebalanceInProgress)),
    );
    assert!(out.wake && !out.rediscover);
    assert_eq!(m.next_step(t0 + ms(101)), PollStep::Join, "no Lost step");
    // The old generation still commits (the broker accepts it while preparing the rebalance).
    assert_eq!(m.commit_identity().unwrap().generation, 1);
    let id = m.join_started();
    assert_eq!((id.generation, id.member_id.as_str()), (1, "m-1"));
}

#[test]
fn illegal_generation_loses_partitions_and_keeps_the_member_id() {
    let t0 = Instant::now();
    let mut m = stable(t0, None);
    let HeartbeatAction::Send(id) = m.heartbeat_action(t0 + ms(100)) else {
        panic!()
    };
    let out = m.on_heartbeat_response(t0 + ms(101), &id, Err(kafka(ErrorCode::IllegalGeneration)));
    assert!(out.wake);
    assert!(matches!(m.next_step(t0 + ms(101)), PollStep::Lost(_)));
    assert_eq!(m.next_step(t0 + ms(101)), PollStep::Join);
    let e = m.commit_identity().unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::IllegalGeneration));
    let id = m.join_started();
    assert_eq!((id.generation, id.member_id.as_str()), (-1, "m-1"));
}

#[test]
fn unknown_member_id_resets_the_member_id_too() {
    let t0 = Instant::now();
    let mut m = stable(t0, None);
    let HeartbeatAction::Send(id) = m.heartbeat_action(t0 + ms(100)) else {
        panic!()
    };
    m.on_heartbeat_response(t0 + ms(101), &id, Err(kafka(ErrorCode::UnknownMemberId)));
    assert!(matches!(m.next_step(t0 + ms(101)), PollStep::Lost(_)));
    assert_eq!(
        m.commit_identity().unwrap_err().code(),
        Some(ErrorCode::UnknownMemberId)
    );
    let id = m.join_started();
    assert_eq!((id.generation, id.member_id.as_str()), (-1, ""));
}

#[test]
fn fenced_instance_id_is_fatal_on_every_poll() {
    let t0 = Instant::now();
    let mut m = stable(t0, Some("inst"));
    let HeartbeatAction::Send(id) = m.heartbeat_action(t0 + ms(100)) else {
        panic!()
    };
    assert_eq!(id.group_instance_id.as_deref(), Some("inst"));
    m.on_heartbeat_response(t0 + ms(101), &id, Err(kafka(ErrorCode::FencedInstanceId)));
    for _ in 0..3 {
        let PollStep::Fail(e) = m.next_step(t0 + ms(200)) else {
            panic!("fatal")
        };
        assert_eq!(e.code(), Some(ErrorCode::FencedInstanceId));
    }
    assert_eq!(
        m.heartbeat_action(t0 + ms(300)),
        HeartbeatAction::Idle(None)
    );
    // A join answered so is fatal too.
    let mut m = Membership::new(cfg(Some("inst")), t0);
    m.join_started();
    m.on_join_response(t0, Ok(join_err(ErrorCode::FencedInstanceId, "")));
    assert!(matches!(m.next_step(t0), PollStep::Fail(_)));
}

#[test]
fn coordinator_errors_rediscover_with_growing_backoff() {
    let t0 = Instant::now();
    let mut m = stable(t0, None);
    let mut now = t0 + ms(100);
    let mut delays = Vec::new();
    let mut logs = 0;
    for _ in 0..4 {
        let HeartbeatAction::Send(id) = m.heartbeat_action(now) else {
            panic!("due at {:?}", now - t0)
        };
        let out = m.on_heartbeat_response(now, &id, Err(kafka(ErrorCode::NotCoordinator)));
        assert!(out.rediscover && !out.wake);
        let step = out.retry.unwrap();
        logs += usize::from(step.log);
        delays.push(step.delay);
        now += step.delay;
    }
    assert!(delays.windows(2).all(|w| w[1] > w[0]), "{delays:?}");
    assert_eq!(logs, 4, "one line per backoff step");
    assert_eq!(m.next_step(now), PollStep::Stable, "still a member");

    // During a join: Done{rediscover}, then a backoff before the next join.
    let mut m = Membership::new(cfg(None), t0);
    m.join_started();
    let v = m.on_join_response(t0, Err(ClientError::Transport("down".into())));
    let JoinVerdict::Done(Some(f)) = v else {
        panic!("{v:?}")
    };
    assert!(f.rediscover && f.retry.is_some_and(|s| s.log));
    let PollStep::Backoff(at) = m.next_step(t0) else {
        panic!()
    };
    assert!(at > t0);
    assert_eq!(m.next_step(at), PollStep::Join);
    m.join_started();
    let v = m.on_join_response(at, Ok(join_err(ErrorCode::CoordinatorLoadInProgress, "")));
    assert!(
        matches!(&v, JoinVerdict::Done(Some(f)) if f.rediscover),
        "{v:?}"
    );
}

#[test]
fn other_join_errors_are_returned_once_then_retried() {
    let t0 = Instant::now();
    let mut m = Membership::new(cfg(None), t0);
    m.join_started();
    m.on_join_response(t0, Ok(join_err(ErrorCode::InconsistentGroupProtocol, "")));
    let PollStep::Fail(e) = m.next_step(t0) else {
        panic!()
    };
    assert_eq!(e.code(), Some(ErrorCode::InconsistentGroupProtocol));
    assert!(matches!(m.next_step(t0), PollStep::Backoff(_)));
}

#[test]
fn sync_errors_follow_the_same_rules() {
    let t0 = Instant::now();
    let mut m = Membership::new(cfg(None), t0);
    m.join_started();
    m.on_join_response(t0, Ok(join_ok("m", 4, "m")));
    let resp = SyncGroupResponse {
        error_code: ErrorCode::RebalanceInProgress as i32,
        ..SyncGroupResponse::default()
    };
    let f = m.on_sync_response(t0, Ok((resp, vec![]))).unwrap();
    assert!(!f.rediscover);
    assert_eq!(m.state(), MemberState::Unjoined);
    assert!(matches!(m.next_step(t0), PollStep::Backoff(_)));
    assert_eq!(m.identity().generation, 4, "kept: the rejoin carries it");
    m.join_started();
    m.on_join_response(t0, Ok(join_ok("m", 5, "m")));
    let resp = SyncGroupResponse {
        error_code: ErrorCode::NotCoordinator as i32,
        ..SyncGroupResponse::default()
    };
    let f = m.on_sync_response(t0, Ok((resp, vec![]))).unwrap();
    assert!(f.rediscover);
    assert_eq!(f.error.code(), Some(ErrorCode::NotCoordinator));
}

#[test]
fn poll_timeout_leaves_for_dynamic_members_and_resets_static_ones_silently() {
    let t0 = Instant::now();
    let mut m = stable(t0, None);
    m.on_poll(t0 + ms(1000));
    let HeartbeatAction::Leave(Some(id)) = m.heartbeat_action(t0 + ms(6000)) else {
        panic!("dynamic member leaves")
    };
    assert_eq!((id.generation, id.member_id.as_str()), (1, "m-1"));
    assert_eq!(
        m.heartbeat_action(t0 + ms(6001)),
        HeartbeatAction::Idle(None)
    );
    assert!(matches!(m.next_step(t0 + ms(7000)), PollStep::Lost(_)));
    assert_eq!(m.next_step(t0 + ms(7000)), PollStep::Join);
    assert_eq!(
        m.commit_identity().unwrap_err().code(),
        Some(ErrorCode::UnknownMemberId)
    );

    let mut s = stable(t0, Some("inst"));
    assert_eq!(
        s.heartbeat_action(t0 + ms(5000)),
        HeartbeatAction::Leave(None)
    );
    assert!(matches!(s.next_step(t0 + ms(5000)), PollStep::Lost(_)));
}

#[test]
fn stale_answers_are_ignored() {
    let t0 = Instant::now();
    let mut m = stable(t0, None);
    let HeartbeatAction::Send(old) = m.heartbeat_action(t0 + ms(100)) else {
        panic!()
    };
    // A rejoin to generation 2 happens before the old heartbeat's answer arrives.
    m.request_rejoin("test");
    m.join_started();
    m.on_join_response(t0, Ok(join_ok("m-1", 2, "m-1")));
    m.on_sync_response(t0, Ok((sync_ok(), vec![tp(0)])));
    let out = m.on_heartbeat_response(t0 + ms(120), &old, Err(kafka(ErrorCode::IllegalGeneration)));
    assert_eq!(out, HeartbeatOutcome::default());
    assert_eq!(m.next_step(t0), PollStep::Assigned(vec![tp(0)]));
    assert_eq!(m.next_step(t0), PollStep::Stable);
    // Same for commits sent in the old generation.
    assert!(!m.on_commit_error(&old, &kafka(ErrorCode::IllegalGeneration)));
    let now = m.commit_identity().unwrap();
    assert!(m.on_commit_error(&now, &kafka(ErrorCode::UnknownMemberId)));
    assert!(matches!(m.next_step(t0), PollStep::Lost(_)));
}

#[test]
fn leave_names_dynamic_members_only_and_stops_heartbeats() {
    let t0 = Instant::now();
    let mut m = stable(t0, None);
    let id = m.leave().unwrap();
    assert_eq!(id.member_id, "m-1");
    assert_eq!(m.heartbeat_action(t0), HeartbeatAction::Stop);
    let mut s = stable(t0, Some("inst"));
    assert_eq!(s.leave(), None);
    let mut never = Membership::new(cfg(None), t0);
    assert_eq!(never.leave(), None, "nothing to leave before joining");
}
