//! Unit tests of the leader-side replica state: T5 (ISR shrink timing), T6 (expansion),
//! F5/P8 HW rules, and E6 truncation decisions (T7, T8, KIP-279).

use super::*;
use crate::leader_epoch::EpochEntry;

const LAG: i64 = 10_000;
/// Tests start the clock far from zero, as well as at zero, to show neither matters.
const T0: i64 = 1_000_000;

fn assignment(replicas: &[i32], isr: &[i32], min_insync: i32) -> LeaderAssignment {
    LeaderAssignment {
        my_id: replicas[0],
        leader_epoch: 1,
        partition_epoch: 1,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        min_insync,
    }
}

/// A leader plus its followers' logs, driven by a simulated clock.
struct Sim {
    lr: LeaderReplication,
    leader_leo: i64,
    /// Each follower's LEO after the last fetch response it got.
    follower_leo: BTreeMap<i32, i64>,
    /// When each ISR change was applied, and the resulting ISR.
    changes: Vec<(i64, Vec<i32>)>,
}

impl Sim {
    fn new(replicas: &[i32], min_insync: i32, now: i64) -> Sim {
        let lr =
            LeaderReplication::new_leader(assignment(replicas, replicas, min_insync), 0, 0, now);
        Sim {
            lr,
            leader_leo: 0,
            follower_leo: replicas[1..].iter().map(|&id| (id, 0)).collect(),
            changes: Vec::new(),
        }
    }

    fn produce(&mut self, records: i64, now: i64) {
        self.leader_leo += records;
        self.lr.maybe_increment_hw(self.leader_leo, now, LAG);
    }

    /// One fetch by `id` at its LEO; the response carries up to `max_records` (all if None).
    fn fetch(&mut self, id: i32, max_records: Option<i64>, now: i64) {
        let offset = self.follower_leo[&id];
        let fetch = FollowerFetch {
            replica_id: id,
            fetch_offset: offset,
            log_start_offset: 0,
            flushed_offset: offset,
            broker_epoch: NO_BROKER_EPOCH,
            leader_leo_at_fetch: self.leader_leo,
        };
        self.lr.record_fetch(&fetch, now).unwrap();
        // The controller accepts expansions at once too.
        if let Some(isr) = self.lr.propose_expand(id) {
            let epoch = self.lr.partition_epoch + 1;
            assert!(self.lr.apply_isr_change(isr.clone(), epoch));
            self.changes.push((now, isr));
        }
        self.lr.maybe_increment_hw(self.leader_leo, now, LAG);
        let got = max_records.map_or(self.leader_leo, |m| (offset + m).min(self.leader_leo));
        self.follower_leo.insert(id, got);
    }

    /// The ISR-expiration task; the controller accepts at once.
    fn expire(&mut self, now: i64) {
        if let Some(isr) = self.lr.propose_shrink(self.leader_leo, now, LAG) {
            let epoch = self.lr.partition_epoch + 1;
            assert!(self.lr.apply_isr_change(isr.clone(), epoch));
            self.lr.maybe_increment_hw(self.leader_leo, now, LAG);
            self.changes.push((now, isr));
        }
    }
}

/// Runs `sim` from `start` to `end` in 10 ms ticks: the expiration task runs every LAG/2
/// from `start + phase`, and `tick(sim, t)` does everything else at time t.
fn run(sim: &mut Sim, start: i64, end: i64, phase: i64, mut tick: impl FnMut(&mut Sim, i64)) {
    let mut t = start;
    while t <= end {
        tick(sim, t);
        if (t - start - phase).rem_euclid(LAG / 2) == 0 {
            sim.expire(t);
        }
        t += 10;
    }
}

#[test]
fn f2_last_caught_up_rules() {
    let mut f = FollowerState::new(2);
    assert!(
        !f.is_caught_up(0, 0, LAG),
        "never heard from: not caught up, even at t=0"
    );
    // Reached the leader LEO → now.
    f.update_on_fetch(10, 10, 10, 100);
    assert_eq!(f.last_caught_up_time_ms, 100);
    // Behind the current LEO but reached the previous fetch's LEO (10) → previous fetch time.
    f.update_on_fetch(10, 5, 15, 200);
    assert_eq!(f.last_caught_up_time_ms, 100);
    assert_eq!(f.flushed_offset, 5);
    f.update_on_fetch(15, 15, 20, 300);
    assert_eq!(f.last_caught_up_time_ms, 200);
    // Behind the previous fetch's LEO (20) → unchanged.
    f.update_on_fetch(17, 20, 30, 400);
    assert_eq!(f.last_caught_up_time_ms, 200);
    assert_eq!(
        f.flushed_offset, 17,
        "flushed is capped at the fetch offset"
    );
    assert_eq!(f.last_fetch_leader_leo, 30);
    assert!(f.is_caught_up(30, 200 + LAG, LAG));
    assert!(!f.is_caught_up(30, 201 + LAG, LAG));
    // At the leader's LEO counts as caught up however old the last catch-up is.
    f.update_on_fetch(30, 30, 31, 500);
    assert!(f.is_caught_up(30, 1_000_000, LAG));
}

#[test]
fn t5a_stopped_follower_leaves_isr_between_lag_and_one_and_a_half_lag() {
    for start in [0, T0] {
        for phase in [0, 10, 1_230, 2_500, 4_990] {
            let mut sim = Sim::new(&[1, 2, 3], 2, start);
            let stop = start + 20_000;
            let mut c_caught_up_at = NEVER_MS;
            run(&mut sim, start, start + 60_000, phase, |sim, t| {
                if t % 100 == 50 {
                    sim.produce(1, t);
                }
                if t % 100 == 0 {
                    sim.fetch(2, None, t);
                    if t <= stop {
                        sim.fetch(3, None, t);
                        c_caught_up_at = sim.lr.followers[&3].last_caught_up_time_ms;
                    }
                }
            });
            assert_eq!(sim.changes.len(), 1, "start {start} phase {phase}");
            let (at, isr) = &sim.changes[0];
            assert_eq!(isr, &vec![1, 2]);
            // Exactly F2/F3: removed at the first run with now − lastCaughtUp > lag …
            assert!(*at > c_caught_up_at + LAG, "phase {phase}: removed at {at}");
            assert!(*at <= c_caught_up_at + LAG + LAG / 2);
            // … which, seen from when it stopped, is within [lag, 1.5·lag] up to the one
            // fetch interval by which "caught up" trails under a steady stream.
            assert!(*at >= stop + LAG - 100 && *at <= stop + LAG + LAG / 2);
        }
    }
}

#[test]
fn t5a_idle_partition_does_not_shrink_but_first_write_starts_the_clock() {
    // Kafka semantics: a follower at the leader's LEO is caught up, so a stopped follower
    // of an idle partition stays in the ISR; once data arrives it is out of sync at the next
    // run, since it last caught up long ago.
    let mut sim = Sim::new(&[1, 2, 3], 2, T0);
    sim.fetch(2, None, T0);
    sim.fetch(3, None, T0);
    run(&mut sim, T0, T0 + 60_000, 0, |sim, t| {
        if t >= T0 + 30_000 && t % 100 == 50 {
            sim.produce(1, t);
        }
        if t % 100 == 0 {
            sim.fetch(2, None, t);
        }
    });
    assert_eq!(sim.changes.len(), 1);
    let (at, isr) = &sim.changes[0];
    assert_eq!(isr, &vec![1, 2]);
    assert!(*at > T0 + 30_000 && *at <= T0 + 30_000 + LAG / 2);
}

#[test]
fn t5b_follower_one_batch_behind_stays_in_sync() {
    let mut sim = Sim::new(&[1, 2, 3], 2, T0);
    let mut hw_before = 0;
    run(&mut sim, T0, T0 + 600_000, 1_230, |sim, t| {
        if t % 100 == 0 {
            // A batch lands just before every fetch: B never fetches at the leader's LEO,
            // but always at the LEO seen at its previous fetch.
            sim.produce(1, t);
            sim.fetch(2, None, t);
            sim.fetch(3, None, t);
            assert!(sim.lr.followers[&2].log_end_offset < sim.leader_leo);
            assert!(sim.lr.followers[&2].is_caught_up(sim.leader_leo, t, LAG));
        }
        if t % 10_000 == 0 && t > T0 {
            assert!(sim.lr.high_watermark > hw_before, "HW keeps moving");
            hw_before = sim.lr.high_watermark;
        }
    });
    assert!(sim.changes.is_empty(), "changes: {:?}", sim.changes);
    assert_eq!(sim.lr.isr, vec![1, 2, 3]);
    assert_eq!(sim.lr.high_watermark, sim.leader_leo - 1);
}

#[test]
fn t5c_follower_that_never_reaches_previous_leo_is_removed() {
    for phase in [0, 2_000, 4_990] {
        let mut sim = Sim::new(&[1, 2, 3], 2, T0);
        // Caught up at T0, then throttled to 1 record per fetch while 10 arrive per 100 ms.
        sim.fetch(2, None, T0);
        run(&mut sim, T0 + 10, T0 + 60_000, phase, |sim, t| {
            if t % 100 == 50 {
                sim.produce(10, t);
            }
            if t % 100 == 0 {
                sim.fetch(2, Some(1), t);
                sim.fetch(3, None, t);
            }
        });
        assert_eq!(sim.changes.len(), 1, "phase {phase}");
        let (at, isr) = &sim.changes[0];
        assert_eq!(isr, &vec![1, 3]);
        let last = sim.lr.followers[&2].last_caught_up_time_ms;
        assert!(last <= T0 + 100, "B stopped catching up at once: {last}");
        assert!(*at > last + LAG && *at <= last + LAG + LAG / 2 + 10);
    }
}

#[test]
fn f9_new_leader_gives_isr_members_grace_and_knows_no_offsets() {
    let lr = LeaderReplication::new_leader(assignment(&[1, 2, 3], &[1, 2], 2), 50, 40, T0);
    let b = &lr.followers[&2];
    let c = &lr.followers[&3];
    assert_eq!(b.last_caught_up_time_ms, T0);
    assert_eq!(c.last_caught_up_time_ms, NEVER_MS);
    assert_eq!(b.log_end_offset, UNKNOWN_OFFSET);
    assert_eq!(lr.epoch_start_offset, 50);
    assert!(lr.out_of_sync(50, T0 + LAG, LAG).is_empty());
    assert_eq!(lr.out_of_sync(50, T0 + LAG + 1, LAG), vec![2]);
    // The HW cannot move until B (in the ISR) has fetched (H5).
    let mut lr = lr;
    assert!(!lr.maybe_increment_hw(50, T0, LAG));
    assert_eq!(lr.high_watermark, 40);
}

#[test]
fn update_assignment_with_new_epoch_keeps_offsets_and_resets_timing() {
    let mut lr = LeaderReplication::new_leader(assignment(&[1, 2, 3], &[1, 2, 3], 2), 0, 0, 0);
    for id in [2, 3] {
        let fetch = FollowerFetch {
            replica_id: id,
            fetch_offset: 10,
            log_start_offset: 0,
            flushed_offset: 10,
            broker_epoch: NO_BROKER_EPOCH,
            leader_leo_at_fetch: 10,
        };
        lr.record_fetch(&fetch, 100).unwrap();
    }
    lr.pending_isr = Some(PendingIsrChange::Shrink(vec![1, 2]));
    let mut a = assignment(&[1, 2, 3, 4], &[1, 2], 2);
    a.leader_epoch = 2;
    a.partition_epoch = 5;
    assert!(lr.update_assignment(a.clone(), 12, 5_000));
    assert_eq!(lr.pending_isr, None);
    assert_eq!(lr.epoch_start_offset, 12);
    assert_eq!(lr.followers[&2].log_end_offset, 10);
    assert_eq!(lr.followers[&2].last_caught_up_time_ms, 5_000);
    assert_eq!(lr.followers[&3].last_caught_up_time_ms, NEVER_MS);
    assert_eq!(lr.followers[&4].log_end_offset, UNKNOWN_OFFSET);
    assert_eq!(lr.followers[&4].last_caught_up_time_ms, NEVER_MS);
    a.leader_epoch = 1;
    assert!(!lr.update_assignment(a, 12, 6_000), "stale epoch ignored");
}

fn fetch(lr: &mut LeaderReplication, id: i32, offset: i64, leader_leo: i64, now: i64) {
    let f = FollowerFetch {
        replica_id: id,
        fetch_offset: offset,
        log_start_offset: 0,
        flushed_offset: offset,
        broker_epoch: NO_BROKER_EPOCH,
        leader_leo_at_fetch: leader_leo,
    };
    lr.record_fetch(&f, now).unwrap();
}

#[test]
fn t6_expand_needs_hw_and_epoch_start_and_hw_waits_for_pending_member() {
    // B (id 2) became leader in epoch 3 at LEO 100, with a lagged HW of 90. A (1) follows;
    // C (3) was removed from the ISR earlier and restarts far behind.
    let mut a = assignment(&[2, 1, 3], &[2, 1], 2);
    a.leader_epoch = 3;
    let mut lr = LeaderReplication::new_leader(a, 100, 90, T0);
    let mut leo = 100;
    let mut now = T0;

    fetch(&mut lr, 3, 40, leo, now);
    assert_eq!(lr.expand_candidate(3), None, "C.LEO 40 < HW 90");
    fetch(&mut lr, 3, 95, leo, now);
    assert_eq!(
        lr.expand_candidate(3),
        None,
        "C.LEO 95 ≥ HW 90 but < epoch start 100"
    );
    // A catches up: the HW moves to 100 (C is neither in the ISR nor caught up).
    now += 100;
    fetch(&mut lr, 1, 100, leo, now);
    assert!(lr.maybe_increment_hw(leo, now, LAG));
    assert_eq!(lr.high_watermark, 100);
    // New data; A follows and the HW reaches 120.
    leo = 120;
    now += 100;
    fetch(&mut lr, 1, 120, leo, now);
    assert!(lr.maybe_increment_hw(leo, now, LAG));
    assert_eq!(lr.high_watermark, 120);
    // C reaches the epoch start but not the HW: still not added.
    fetch(&mut lr, 3, 100, leo, now);
    assert_eq!(lr.expand_candidate(3), None, "C.LEO 100 < HW 120");
    // C reached the leader LEO seen at its previous fetch, so it is caught up: the HW now
    // waits for it (H1) although it is not a member yet.
    assert!(lr.followers[&3].is_caught_up(leo, now, LAG));
    leo = 130;
    now += 100;
    fetch(&mut lr, 1, 130, leo, now);
    assert!(!lr.maybe_increment_hw(leo, now, LAG));
    assert_eq!(lr.high_watermark, 120);
    // Both conditions hold: one proposal, pending.
    fetch(&mut lr, 3, 120, leo, now);
    assert_eq!(lr.expand_candidate(3), Some(vec![2, 1, 3]));
    assert_eq!(lr.propose_expand(3), Some(vec![2, 1, 3]));
    assert_eq!(
        lr.pending_isr,
        Some(PendingIsrChange::Expand(vec![2, 1, 3]))
    );
    assert_eq!(lr.maximal_isr(), vec![2, 1, 3]);
    // While pending: no second change, and the HW never passes C's LEO (F7).
    assert_eq!(lr.propose_expand(3), None);
    assert_eq!(lr.propose_shrink(leo, now + 10 * LAG, LAG), None);
    assert!(!lr.maybe_increment_hw(leo, now + 10 * LAG, LAG));
    assert_eq!(lr.high_watermark, 120);
    now += 100;
    fetch(&mut lr, 3, 125, leo, now);
    assert!(lr.maybe_increment_hw(leo, now, LAG));
    assert_eq!(lr.high_watermark, 125);
    // The controller accepts with the next partition epoch.
    assert!(lr.apply_isr_change(vec![2, 1, 3], 2));
    assert_eq!(lr.pending_isr, None);
    assert_eq!(lr.isr, vec![2, 1, 3]);
    assert_eq!(lr.partition_epoch, 2);
    fetch(&mut lr, 3, 130, leo, now);
    assert!(lr.maybe_increment_hw(leo, now, LAG));
    assert_eq!(lr.high_watermark, 130);
    assert!(
        !lr.apply_isr_change(vec![2], 1),
        "stale partition epoch ignored"
    );
}

#[test]
fn t6_expand_respects_broker_eligibility() {
    let mut lr = LeaderReplication::new_leader(assignment(&[1, 2, 3], &[1, 2], 1), 10, 10, T0);
    let mut view = BrokerView {
        broker_epoch: 7,
        fenced: true,
        in_controlled_shutdown: false,
    };
    lr.set_broker_view(3, view);
    let mut f = FollowerFetch {
        replica_id: 3,
        fetch_offset: 10,
        log_start_offset: 0,
        flushed_offset: 0,
        broker_epoch: 7,
        leader_leo_at_fetch: 10,
    };
    lr.record_fetch(&f, T0).unwrap();
    assert_eq!(lr.expand_candidate(3), None, "fenced");
    view.fenced = false;
    view.in_controlled_shutdown = true;
    lr.set_broker_view(3, view);
    assert_eq!(lr.expand_candidate(3), None, "shutting down");
    view.in_controlled_shutdown = false;
    lr.set_broker_view(3, view);
    assert_eq!(lr.expand_candidate(3), Some(vec![1, 2, 3]));
    // The broker restarted (epoch 8) but a fetch from its old life arrives: fenced.
    view.broker_epoch = 8;
    lr.set_broker_view(3, view);
    assert_eq!(
        lr.expand_candidate(3),
        None,
        "stale broker epoch in last fetch"
    );
    assert!(matches!(
        lr.record_fetch(&f, T0),
        Err(FetchRejected::StaleBrokerEpoch { .. })
    ));
    f.broker_epoch = 8;
    lr.record_fetch(&f, T0).unwrap();
    assert_eq!(lr.expand_candidate(3), Some(vec![1, 2, 3]));
    f.replica_id = 9;
    assert_eq!(lr.record_fetch(&f, T0), Err(FetchRejected::NotAReplica(9)));
    assert_eq!(lr.expand_candidate(1), None, "the leader itself");
    assert_eq!(lr.expand_candidate(2), None, "already a member");
}

#[test]
fn f5_pending_shrink_is_pessimistic() {
    let mut lr = LeaderReplication::new_leader(assignment(&[1, 2, 3], &[1, 2, 3], 2), 0, 0, T0);
    fetch(&mut lr, 2, 0, 0, T0);
    fetch(&mut lr, 3, 0, 0, T0);
    // C stops at 0; B follows the leader to 50.
    let leo = 50;
    let now = T0 + LAG + 1;
    fetch(&mut lr, 2, 50, leo, now);
    assert_eq!(lr.propose_shrink(leo, now, LAG), Some(vec![1, 2]));
    assert_eq!(lr.maximal_isr(), vec![1, 2, 3]);
    assert!(
        !lr.maybe_increment_hw(leo, now, LAG),
        "C still counts while pending"
    );
    assert_eq!(lr.high_watermark, 0);
    // Rejected: nothing was exposed on the strength of the smaller ISR.
    lr.reject_pending();
    assert_eq!(lr.isr, vec![1, 2, 3]);
    assert!(!lr.maybe_increment_hw(leo, now, LAG));
    // Proposed again and accepted: now the HW moves.
    assert_eq!(lr.propose_shrink(leo, now, LAG), Some(vec![1, 2]));
    assert!(lr.apply_isr_change(vec![1, 2], 2));
    assert!(lr.maybe_increment_hw(leo, now, LAG));
    assert_eq!(lr.high_watermark, 50);
}

#[test]
fn p8_hw_freezes_below_effective_min_isr() {
    // RF3, min ISR 2, ISR {A}: frozen however far the leader gets.
    let mut lr = LeaderReplication::new_leader(assignment(&[1, 2, 3], &[1], 2), 0, 0, T0);
    assert!(lr.is_under_min_isr());
    assert!(!lr.maybe_increment_hw(10, T0, LAG));
    assert_eq!(lr.high_watermark, 0);
    // B catches up and is proposed: a pending expansion does not lift the freeze (the
    // committed ISR is what min.insync is about) …
    fetch(&mut lr, 2, 10, 10, T0);
    assert_eq!(lr.propose_expand(2), Some(vec![1, 2]));
    assert!(!lr.maybe_increment_hw(10, T0, LAG));
    // … the controller's acceptance does.
    assert!(lr.apply_isr_change(vec![1, 2], 2));
    assert!(lr.maybe_increment_hw(10, T0, LAG));
    assert_eq!(lr.high_watermark, 10);
}

#[test]
fn p8_effective_min_isr_is_capped_at_replication_factor() {
    // RF2 with min.insync 3 → effective 2.
    let mut lr = LeaderReplication::new_leader(assignment(&[1, 2], &[1, 2], 3), 0, 0, T0);
    assert_eq!(lr.effective_min_isr(), 2);
    fetch(&mut lr, 2, 5, 5, T0);
    assert!(lr.maybe_increment_hw(5, T0, LAG));
    assert_eq!(lr.high_watermark, 5);
    // RF1 with min.insync 2 → effective 1: acks=1 data still becomes visible.
    let mut solo = LeaderReplication::new_leader(assignment(&[1], &[1], 2), 0, 0, T0);
    assert_eq!(solo.effective_min_isr(), 1);
    assert!(solo.maybe_increment_hw(3, T0, LAG));
    assert_eq!(solo.high_watermark, 3);
    assert!(!solo.maybe_increment_hw(2, T0, LAG), "never backwards");
    assert_eq!(solo.high_watermark, 3);
}

#[test]
fn isr_flushed_offset_is_min_over_isr_capped_at_hw() {
    let mut lr = LeaderReplication::new_leader(assignment(&[1, 2, 3], &[1, 2], 1), 0, 0, T0);
    let mut f = FollowerFetch {
        replica_id: 2,
        fetch_offset: 20,
        log_start_offset: 0,
        flushed_offset: 12,
        broker_epoch: NO_BROKER_EPOCH,
        leader_leo_at_fetch: 20,
    };
    lr.record_fetch(&f, T0).unwrap();
    assert!(lr.maybe_increment_hw(20, T0, LAG));
    assert_eq!(lr.isr_flushed_offset(20), 12);
    assert_eq!(lr.isr_flushed_offset(8), 8);
    f.flushed_offset = 20;
    lr.record_fetch(&f, T0).unwrap();
    assert_eq!(lr.isr_flushed_offset(25), 20);
    // C is not in the ISR: its flushed offset does not matter, until it is pending.
    f.replica_id = 3;
    f.flushed_offset = 3;
    lr.record_fetch(&f, T0).unwrap();
    assert_eq!(lr.isr_flushed_offset(25), 20);
    assert!(lr.propose_expand(3).is_some());
    assert_eq!(lr.isr_flushed_offset(25), 3);
}

// ---- follower truncation (E6) ----

fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
    LeaderEpochCache {
        entries: entries
            .iter()
            .map(|&(epoch, start_offset)| EpochEntry {
                epoch,
                start_offset,
            })
            .collect(),
    }
}

use TruncationDecision::{AskAgain, TruncateTo};

#[test]
fn e6_basic_cases() {
    let follower = cache(&[(1, 0), (3, 10)]);
    // Undefined answer: keep the LEO (the fetch offset chosen per F8).
    assert_eq!(truncation_offset((-1, -1), &follower, 15), TruncateTo(15));
    // Leader without epochs.
    assert_eq!(truncation_offset((-1, 12), &follower, 15), TruncateTo(12));
    // Same epoch: min of both ends and the LEO.
    assert_eq!(truncation_offset((3, 12), &follower, 15), TruncateTo(12));
    assert_eq!(truncation_offset((3, 20), &follower, 15), TruncateTo(15));
    assert_eq!(truncation_offset((1, 8), &follower, 15), TruncateTo(8));
    // Empty follower cache or an epoch above all of the follower's: min(O, LEO).
    assert_eq!(truncation_offset((2, 7), &cache(&[]), 15), TruncateTo(7));
    assert_eq!(truncation_offset((5, 30), &follower, 15), TruncateTo(15));
    // Every follower epoch is above the leader's: its records from its first epoch on were
    // written later than the leader's at those offsets, so they go.
    assert_eq!(
        truncation_offset((3, 10), &cache(&[(5, 0)]), 8),
        TruncateTo(0)
    );
}

#[test]
fn t7_kip101_scenario1_no_truncation_to_hw() {
    // A and B hold m0, m1 in epoch 0; B's HW is 1 but it keeps m1 on restart (F8).
    let b_cache = cache(&[(0, 0)]);
    let mut a_cache = cache(&[(0, 0)]);
    // A dies; B is elected in epoch 1 at its LEO 2 (E3).
    let mut b_new = b_cache.clone();
    b_new.assign(1, 2);
    // A returns as follower and asks for its latest epoch, 0.
    let answer = b_new.end_offset_for(a_cache.latest_epoch().unwrap(), 2);
    assert_eq!(answer, (0, 2));
    assert_eq!(
        truncation_offset(answer, &a_cache, 2),
        TruncateTo(2),
        "m1 kept"
    );
    a_cache.truncate_from_end(2);
    assert_eq!(a_cache, cache(&[(0, 0)]));
}

#[test]
fn t8_kip101_scenario2_divergence_after_double_failure() {
    // Both wrote 10 single-record batches in epoch 0. A lost its last 5 (unflushed), was
    // elected alone in epoch 1 at LEO 5 and wrote 10 more.
    let mut a = cache(&[(0, 0)]);
    a.truncate_from_end(5);
    a.assign(1, 5);
    let a_leo = 15;
    let b = cache(&[(0, 0)]);
    let answer = a.end_offset_for(b.latest_epoch().unwrap(), a_leo);
    assert_eq!(answer, (0, 5));
    assert_eq!(truncation_offset(answer, &b, 10), TruncateTo(5));
}

#[test]
fn t9_kip279_multi_round_truncation() {
    // The follower led epochs 2 and 4 briefly; the leader never saw them.
    let leader = cache(&[(1, 0), (3, 5), (5, 15)]);
    let leader_leo = 20;
    let mut follower = cache(&[(1, 0), (2, 5), (4, 8)]);
    let mut follower_leo = 12;

    let answer = leader.end_offset_for(follower.latest_epoch().unwrap(), leader_leo);
    assert_eq!(answer, (3, 15));
    let d = truncation_offset(answer, &follower, follower_leo);
    assert_eq!(
        d,
        AskAgain {
            epoch: 2,
            truncate_to: 8
        }
    );
    follower_leo = 8;
    follower.truncate_from_end(8);
    assert_eq!(follower.latest_epoch(), Some(2));

    let answer = leader.end_offset_for(2, leader_leo);
    assert_eq!(answer, (1, 5));
    assert_eq!(
        truncation_offset(answer, &follower, follower_leo),
        TruncateTo(5)
    );
}

/// A replica in the failover simulation: the epoch of each record, and its epoch cache.
#[derive(Debug, Clone, Default)]
struct Replica {
    log: Vec<i32>,
    cache: LeaderEpochCache,
}

impl Replica {
    fn leo(&self) -> i64 {
        self.log.len() as i64
    }

    fn append(&mut self, epoch: i32) {
        self.cache.assign(epoch, self.leo());
        self.log.push(epoch);
    }

    fn become_leader(&mut self, epoch: i32) {
        self.cache.assign(epoch, self.leo());
    }

    fn truncate(&mut self, to: i64) {
        self.log.truncate(usize::try_from(to).unwrap());
        self.cache.truncate_from_end(to);
    }

    /// Becomes follower of `leader`: epoch queries until done, then replicates. Returns the
    /// number of queries.
    fn follow(&mut self, leader: &Replica) -> usize {
        let mut ask = self.cache.latest_epoch().unwrap_or(UNDEFINED_EPOCH);
        let mut rounds = 0;
        loop {
            rounds += 1;
            let answer = leader.cache.end_offset_for(ask, leader.leo());
            match truncation_offset(answer, &self.cache, self.leo()) {
                TruncateTo(o) => {
                    self.truncate(o);
                    break;
                }
                AskAgain { epoch, truncate_to } => {
                    self.truncate(truncate_to);
                    assert_eq!(self.cache.latest_epoch(), Some(epoch));
                    ask = epoch;
                }
            }
        }
        for i in self.log.len()..leader.log.len() {
            self.append(leader.log[i]);
        }
        rounds
    }
}

#[test]
fn t9_fast_leader_changes_keep_logs_identical() {
    let mut leader = Replica::default();
    let mut follower = Replica::default();
    let mut epoch = 0;
    leader.become_leader(epoch);
    for round in 1..=5 {
        leader.append(epoch);
        follower.follow(&leader);
        // Bounce the follower: it keeps its log and re-follows.
        follower.follow(&leader);
        // Bounce the leader: the follower takes over in the next epoch.
        epoch += 1;
        follower.become_leader(epoch);
        std::mem::swap(&mut leader, &mut follower);
        follower.follow(&leader);
        assert_eq!(leader.leo(), round);
        assert_eq!(follower.log, leader.log);
        let n = follower.cache.entries.len();
        assert_eq!(follower.cache.entries[..], leader.cache.entries[..n]);
    }
}

#[test]
fn t9_rf3_follower_with_epochs_the_final_leader_never_had() {
    let (mut a, mut b, mut c) = (Replica::default(), Replica::default(), Replica::default());
    // Epoch 1, A leads: offsets 0..5 everywhere.
    a.become_leader(1);
    for _ in 0..5 {
        a.append(1);
    }
    b.follow(&a);
    c.follow(&a);
    // Epoch 2: C leads briefly (partitioned from the others), writes 3 records alone.
    c.become_leader(2);
    for _ in 0..3 {
        c.append(2);
    }
    // Epoch 3: A leads again (never saw epoch 2), writes 10; B follows.
    a.become_leader(3);
    for _ in 0..10 {
        a.append(3);
    }
    b.follow(&a);
    // Epoch 4: C again briefly, now with only its own stale log, writes 4 more.
    c.become_leader(4);
    for _ in 0..4 {
        c.append(4);
    }
    // Epoch 5: B leads; C rejoins and needs more than one round.
    b.become_leader(5);
    b.append(5);
    a.follow(&b);
    let rounds = c.follow(&b);
    assert!(rounds >= 2, "rounds {rounds}");
    assert_eq!(c.log, b.log);
    assert_eq!(a.log, b.log);
    assert_eq!(c.cache, b.cache);
    assert_eq!(b.leo(), 16);
}
