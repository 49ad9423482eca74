//! Group semantics for the checker: which re-consumptions a consumer group may make.
//!
//! In a group, partitions move between members. With *commit after processing* (the verifiable
//! consumer commits what it reported after every poll), a record is consumed again only when
//! the member that consumed it could not commit it: Kafka's at-least-once window. So a record
//! consumed more than once is fine only when an earlier consumption of it lay after the last
//! successful commit of an *ownership period* (one member session owning one partition, from
//! `partitions_assigned` to `partitions_revoked` or the session's end) that
//!
//! * ended with the member dead: its log has no `shutdown_complete` for that session (a
//!   hard-killed member, or a consumer process that was killed), or
//! * saw a commit fail (`offsets_committed` with `success: false`: the member was fenced, its
//!   generation was over, the coordinator was gone for too long).
//!
//! Every other re-consumption is a *consumed twice* finding: a clean rebalance, a clean close,
//! or a clean restart must hand over exactly at the last commit. Feed each member's log in turn
//! (or one log with several sessions); a session is a `startup_complete` … `shutdown_complete`
//! stretch, and a new `startup_complete` without a `shutdown_complete` before it means the
//! previous session died.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{Finding, Position, Tp};
use crate::events::Event;

/// What the group semantics found, part of [`super::Report`] when the checker was made with
/// [`super::Checker::with_group_semantics`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupDelivery {
    /// Consumer sessions seen (member incarnations).
    pub sessions: u64,
    /// Sessions that ended without `shutdown_complete` (hard-killed members).
    pub died: u64,
    /// Commits that failed (`offsets_committed` with `success: false`).
    pub failed_commits: u64,
    /// Ownership periods: a partition owned by one session, assignment to revocation.
    pub ownership_periods: u64,
    /// Extra consumptions of a position inside the at-least-once window: after the last commit
    /// of a member that died or whose commit failed. Allowed.
    pub redelivered_in_window: u64,
    /// Extra consumptions outside that window (a committed record read again, or a clean
    /// handover that was not at the last commit): a failure with commit after processing. One
    /// example position per extra consumption.
    pub consumed_twice: Finding<Position>,
}

/// One member session owning one partition.
#[derive(Debug)]
struct Period {
    session: usize,
    /// The highest offset this period committed successfully (the next offset to read).
    last_commit: Option<i64>,
    /// A commit of this period failed.
    failed_commit: bool,
}

/// Follows sessions, ownership periods and commits through the consumer events.
#[derive(Debug, Default)]
pub(super) struct GroupTracker {
    /// Per session: whether it ended with `shutdown_complete`.
    clean: Vec<bool>,
    periods: Vec<Period>,
    /// The current session's owned partitions → their period.
    open: HashMap<Tp, usize>,
    /// Position → the periods that consumed it, in feed order.
    consumptions: BTreeMap<(Tp, i64), Vec<usize>>,
    failed_commits: u64,
}

impl GroupTracker {
    fn session(&mut self) -> usize {
        if self.clean.is_empty() {
            // Events before any startup_complete: an implicit first session.
            self.clean.push(false);
        }
        self.clean.len() - 1
    }

    fn period(&mut self, tp: &Tp) -> usize {
        if let Some(&p) = self.open.get(tp) {
            return p;
        }
        // Records of a partition with no assignment event (assign-mode logs print one at the
        // start; be lenient with logs that do not): a period of its own.
        let session = self.session();
        self.periods.push(Period {
            session,
            last_commit: None,
            failed_commit: false,
        });
        let p = self.periods.len() - 1;
        self.open.insert(tp.clone(), p);
        p
    }

    /// One consumer event.
    pub(super) fn event(&mut self, event: &Event) {
        match event {
            Event::StartupComplete { .. } => {
                self.clean.push(false);
                self.open.clear();
            }
            Event::ShutdownComplete { .. } => {
                let s = self.session();
                self.clean[s] = true;
                self.open.clear();
            }
            Event::PartitionsAssigned { partitions, .. } => {
                for p in partitions {
                    let tp = (p.topic.clone(), p.partition);
                    // Cooperative rebalancing lists only added partitions; an eager one lists
                    // all after revoking all. A partition still owned keeps its period.
                    self.period(&tp);
                }
            }
            Event::PartitionsRevoked { partitions, .. } => {
                for p in partitions {
                    self.open.remove(&(p.topic.clone(), p.partition));
                }
            }
            Event::RecordData {
                topic,
                partition,
                offset,
                ..
            } => {
                let tp = (topic.clone(), *partition);
                let p = self.period(&tp);
                self.consumptions.entry((tp, *offset)).or_default().push(p);
            }
            Event::OffsetsCommitted {
                offsets, success, ..
            } => {
                if !success {
                    self.failed_commits += 1;
                }
                for o in offsets {
                    let tp = (o.topic.clone(), o.partition);
                    let p = self.period(&tp);
                    let period = &mut self.periods[p];
                    if *success {
                        period.last_commit = period.last_commit.max(Some(o.offset));
                    } else {
                        period.failed_commit = true;
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether period `p`'s consumption of `offset` lay in the at-least-once window.
    fn in_window(&self, p: usize, offset: i64) -> bool {
        let period = &self.periods[p];
        let died = !self.clean.get(period.session).copied().unwrap_or(false);
        (died || period.failed_commit) && period.last_commit.is_none_or(|c| offset >= c)
    }

    /// The verdict over everything fed so far.
    pub(super) fn report(&self) -> GroupDelivery {
        let mut in_window = 0;
        let mut twice = Vec::new();
        for ((tp, offset), periods) in &self.consumptions {
            let extra = periods.len().saturating_sub(1);
            if extra == 0 {
                continue;
            }
            let excusable = periods
                .iter()
                .filter(|&&p| self.in_window(p, *offset))
                .count();
            let excused = extra.min(excusable);
            in_window += excused as u64;
            for _ in excused..extra {
                twice.push(Position {
                    topic: tp.0.clone(),
                    partition: tp.1,
                    offset: *offset,
                });
            }
        }
        GroupDelivery {
            sessions: self.clean.len() as u64,
            died: self.clean.iter().filter(|c| !**c).count() as u64,
            failed_commits: self.failed_commits,
            ownership_periods: self.periods.len() as u64,
            redelivered_in_window: in_window,
            consumed_twice: Finding::from_all(twice),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{CommittedOffset, TopicPartitionRef};

    fn start() -> Event {
        Event::StartupComplete { timestamp: 0 }
    }
    fn stop() -> Event {
        Event::ShutdownComplete {
            timestamp: 0,
            end_to_end_latency_ms: None,
        }
    }
    fn assigned(ps: &[i32]) -> Event {
        Event::PartitionsAssigned {
            timestamp: 0,
            partitions: ps
                .iter()
                .map(|&p| TopicPartitionRef {
                    topic: "t".into(),
                    partition: p,
                })
                .collect(),
        }
    }
    fn revoked(ps: &[i32]) -> Event {
        match assigned(ps) {
            Event::PartitionsAssigned { partitions, .. } => Event::PartitionsRevoked {
                timestamp: 0,
                partitions,
            },
            _ => unreachable!(),
        }
    }
    fn rec(p: i32, o: i64) -> Event {
        Event::RecordData {
            timestamp: 0,
            topic: "t".into(),
            partition: p,
            offset: o,
            key: None,
            value: format!("{p}.{o}"),
        }
    }
    fn commit(p: i32, o: i64, success: bool) -> Event {
        Event::OffsetsCommitted {
            timestamp: 0,
            offsets: vec![CommittedOffset {
                topic: "t".into(),
                partition: p,
                offset: o,
            }],
            success,
            error: None,
        }
    }
    fn run(logs: &[Vec<Event>]) -> GroupDelivery {
        let mut g = GroupTracker::default();
        for log in logs {
            for e in log {
                g.event(e);
            }
        }
        g.report()
    }

    #[test]
    fn a_dead_members_uncommitted_tail_may_be_consumed_again() {
        // Member A commits 0..2, reads 2..4 and dies; B takes over at the commit (2).
        let a = vec![
            start(),
            assigned(&[0]),
            rec(0, 0),
            rec(0, 1),
            commit(0, 2, true),
            rec(0, 2),
            rec(0, 3),
        ];
        let b = vec![
            start(),
            assigned(&[0]),
            rec(0, 2),
            rec(0, 3),
            rec(0, 4),
            stop(),
        ];
        let r = run(&[a, b]);
        assert_eq!(r.redelivered_in_window, 2);
        assert!(r.consumed_twice.is_empty());
        assert_eq!((r.sessions, r.died), (2, 1));
    }

    #[test]
    fn a_committed_record_read_again_is_consumed_twice_even_after_a_death() {
        // A died after committing 2; B starts at 1: offset 1 was committed by A.
        let a = vec![
            start(),
            assigned(&[0]),
            rec(0, 0),
            rec(0, 1),
            commit(0, 2, true),
        ];
        let b = vec![start(), assigned(&[0]), rec(0, 1), rec(0, 2), stop()];
        let r = run(&[a, b]);
        assert_eq!(r.redelivered_in_window, 0);
        assert_eq!(r.consumed_twice.count, 1);
        assert_eq!(r.consumed_twice.examples[0].offset, 1);
    }

    #[test]
    fn a_clean_handover_must_be_exactly_at_the_last_commit() {
        // A is revoked cleanly after committing 2 but had read 2 as well: nothing excuses it.
        let a = vec![
            start(),
            assigned(&[0, 1]),
            rec(0, 0),
            rec(0, 1),
            commit(0, 2, true),
            rec(0, 2),
            revoked(&[0]),
            rec(1, 0),
            commit(1, 1, true),
            stop(),
        ];
        let b = vec![start(), assigned(&[0]), rec(0, 2), stop()];
        let r = run(&[a, b]);
        assert_eq!(r.consumed_twice.count, 1);
        assert_eq!(r.ownership_periods, 3);
    }

    #[test]
    fn a_failed_commit_opens_the_window_for_the_records_it_covered() {
        let a = vec![
            start(),
            assigned(&[0]),
            rec(0, 0),
            commit(0, 1, true),
            rec(0, 1),
            commit(0, 2, false),
            revoked(&[0]),
            stop(),
        ];
        let b = vec![start(), assigned(&[0]), rec(0, 1), stop()];
        let r = run(&[a, b]);
        assert_eq!(r.redelivered_in_window, 1);
        assert!(r.consumed_twice.is_empty());
        assert_eq!(r.failed_commits, 1);
    }

    #[test]
    fn clean_rebalances_without_overlap_find_nothing() {
        let a = vec![
            start(),
            assigned(&[0, 1]),
            rec(0, 0),
            rec(1, 0),
            commit(0, 1, true),
            commit(1, 1, true),
            revoked(&[1]),
            rec(0, 1),
            commit(0, 2, true),
            stop(),
        ];
        let b = vec![
            start(),
            assigned(&[1]),
            rec(1, 1),
            commit(1, 2, true),
            stop(),
        ];
        let r = run(&[a, b]);
        assert_eq!(
            r,
            GroupDelivery {
                sessions: 2,
                died: 0,
                failed_commits: 0,
                ownership_periods: 3,
                redelivered_in_window: 0,
                consumed_twice: Finding::default(),
            }
        );
    }
}
