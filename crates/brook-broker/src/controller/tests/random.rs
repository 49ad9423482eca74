//! A randomized walk of heartbeats, restarts, clock jumps, ISR shrinks and elections, checking
//! the controller's invariants after every step.

use super::*;

/// One step of the random walk below.
#[derive(Debug, Clone)]
enum Op {
    Heartbeat(i32),
    Restart(i32),
    Shrink(usize),
    Advance(i64),
    Preferred(usize),
    Unclean(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=4i32).prop_map(Op::Heartbeat),
        1 => (1..=4i32).prop_map(Op::Restart),
        2 => (0..4usize).prop_map(Op::Shrink),
        3 => (1..6000i64).prop_map(Op::Advance),
        1 => (0..4usize).prop_map(Op::Preferred),
        1 => (0..4usize).prop_map(Op::Unclean),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever brokers do, the ISR is never empty, the leader is a live ISR member or -1,
    /// epochs never go down, and the state is the replay of the log.
    #[test]
    fn invariants_hold_under_random_histories(ops in proptest::collection::vec(op(), 1..80), unclean in any::<bool>()) {
        let mut h = Harness::with_config(ControllerConfig {
            session_timeout_ms: TIMEOUT,
            unclean_leader_election: unclean,
            ..ControllerConfig::default()
        });
        h.brokers(&[(1, "a"), (2, "a"), (3, "b"), (4, "c")], 0);
        h.create("t", 4, 3).unwrap();
        let mut now = 0;
        let mut last: Vec<(i32, i32)> = vec![(0, 0); 4];
        for op in ops {
            match op {
                Op::Heartbeat(id) => { h.heartbeat(id, now); }
                Op::Restart(id) => { h.register(id, "", now); }
                Op::Advance(ms) => { now += ms; h.tick(now); }
                Op::Shrink(i) => {
                    let p = h.part("t", i as i32);
                    if p.leader != NO_LEADER && p.isr.len() > 1 {
                        let leader = p.leader;
                        h.alter(leader, "t", i as i32, |d| d.new_isr.retain(|&r| r == leader));
                    }
                }
                Op::Preferred(i) => { h.elect(ElectionType::ElectionPreferred, "t", i as i32); }
                Op::Unclean(i) => { h.elect(ElectionType::ElectionUnclean, "t", i as i32); }
            }
            h.check_invariants();
            for (i, l) in last.iter_mut().enumerate() {
                let p = h.part("t", i as i32);
                prop_assert!((p.leader_epoch, p.partition_epoch) >= *l);
                prop_assert!(p.partition_epoch >= l.1);
                *l = (p.leader_epoch, p.partition_epoch);
            }
        }
        let replayed = Controller::from_records(h.c.config().clone(), &h.log);
        prop_assert_eq!(replayed.image(), h.c.image());
    }
}
