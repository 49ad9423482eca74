//! Replication events for people learning the mechanisms: one INFO line on the tracing target
//! [`TARGET`] (`brook::events`) per ISR shrink or expand, leader election, leader-epoch change
//! applied on a broker, follower truncation and broker fencing, naming the partition and the
//! numbers involved (`brook dev --events` prints them; `RUST_LOG=brook::events=info brook serve`
//! logs the same lines).
//!
//! Each [`Event`] is plain data with a `Display` (the line) and [`Event::log`]. Who logs what:
//! - the partition leader, once its AlterPartition was accepted (`replication.rs` `alter_isr`):
//!   ISR shrinks of lagging followers and ISR expands ([`IsrCause`] travels in the
//!   `IsrProposal`);
//! - the active controller, once a decision is committed (`controller/host.rs` `decide`, events
//!   derived from the decision's records by [`controller_decision`]): elections, fencing, and the
//!   ISR shrinks that fencing, controlled shutdown or a restart cause (a shrink requested by a
//!   leader is the leader's line, not logged twice);
//! - every broker: leader epochs it applies (`Partition::apply_metadata`) and truncations of its
//!   log (`Partition::truncate_to`).

use std::fmt;

use brook_proto::v1::PartitionChangeRecord;
use brook_proto::v1::metadata_record::Record;

use crate::controller::Controller;
use crate::metadata::NO_LEADER;

/// The tracing target every event is logged to.
pub const TARGET: &str = "brook::events";

/// One follower the leader drops from the ISR, and why (F3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lagging {
    /// The follower's broker id.
    pub replica: i32,
    /// Records it is behind the leader's LEO (-1: it never fetched).
    pub behind: i64,
    /// Milliseconds since it was last caught up (`None`: never since this leader took over).
    pub not_caught_up_ms: Option<i64>,
}

/// Why an ISR changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IsrCause {
    /// The leader dropped followers that were not caught up within `replica.lag.time.max.ms`.
    Lagging(Vec<Lagging>),
    /// A follower reached the HW and the current epoch's start (F6).
    CaughtUp {
        /// The follower's broker id.
        replica: i32,
        /// Its log end offset when it qualified.
        offset: i64,
    },
    /// The controller removed these brokers: fenced (session expired or asked for).
    Fenced(Vec<i32>),
    /// The controller removed these brokers: controlled shutdown.
    ShuttingDown(Vec<i32>),
    /// The controller removed these brokers: they registered again (a restart may lose a tail).
    Restarted(Vec<i32>),
}

/// What kind of election made a leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionKind {
    /// A live ISR member (E1).
    Clean,
    /// A replica outside the ISR (E2): committed records it lacked are lost.
    Unclean,
    /// Back to the first assigned replica (ElectLeaders PREFERRED).
    Preferred,
    /// No live ISR member and unclean election off: the partition is offline (leader -1).
    Offline,
}

/// Why a broker was fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceCause {
    /// No heartbeat for longer than `broker.session.timeout.ms`.
    SessionExpired {
        /// Milliseconds since its last heartbeat.
        silent_ms: i64,
    },
    /// It asked to shut down (its leaderships and ISR places were moved first).
    ControlledShutdown,
    /// It asked to be fenced (`want_fence` in a heartbeat).
    Requested,
}

/// Why a follower cut its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncationCause {
    /// OffsetForLeaderEpoch (E6): the leader says `epoch` ends at `end_offset`.
    DivergentEpoch {
        /// The follower's epoch asked about.
        epoch: i32,
        /// Where it ends on the leader.
        end_offset: i64,
        /// The leader.
        leader: i32,
    },
    /// The leader's log is shorter than ours (it was elected uncleanly, E7).
    LeaderLogEnd {
        /// The leader.
        leader: i32,
    },
}

/// A broker's role in a leader epoch it applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochRole {
    /// It leads; the epoch starts at its LEO.
    Leader {
        /// The epoch's start offset (E3).
        start_offset: i64,
    },
    /// It follows `leader`.
    Follower {
        /// The leader.
        leader: i32,
    },
    /// No leader: the partition is offline.
    Offline,
}

/// One replication event. `Display` is the line logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The ISR lost members.
    IsrShrink {
        /// Topic and partition, e.g. `t-0`.
        partition: String,
        /// The leader epoch it happened in.
        leader_epoch: i32,
        /// The ISR before.
        old_isr: Vec<i32>,
        /// The ISR after.
        new_isr: Vec<i32>,
        /// Why.
        cause: IsrCause,
        /// Who decided: the leader's or the controller's broker id, see `by_controller`.
        by: i32,
        /// `by` is the active controller (else the partition leader).
        by_controller: bool,
    },
    /// The ISR gained a member.
    IsrExpand {
        /// Topic and partition.
        partition: String,
        /// The leader epoch.
        leader_epoch: i32,
        /// The ISR before.
        old_isr: Vec<i32>,
        /// The ISR after.
        new_isr: Vec<i32>,
        /// Why (normally [`IsrCause::CaughtUp`]).
        cause: IsrCause,
        /// The leader.
        leader: i32,
    },
    /// The controller moved leadership.
    LeaderElection {
        /// Topic and partition.
        partition: String,
        /// Clean, unclean, preferred, or none possible.
        kind: ElectionKind,
        /// The previous leader (-1: none).
        old_leader: i32,
        /// The new leader (-1: none).
        new_leader: i32,
        /// The new leader epoch.
        leader_epoch: i32,
        /// The ISR before.
        old_isr: Vec<i32>,
        /// The ISR after.
        new_isr: Vec<i32>,
        /// The active controller.
        controller: i32,
    },
    /// A broker applied a new leader epoch.
    LeaderEpoch {
        /// Topic and partition.
        partition: String,
        /// The broker applying it.
        broker: i32,
        /// Its epoch before.
        old_epoch: i32,
        /// The new epoch.
        new_epoch: i32,
        /// Its role in the new epoch.
        role: EpochRole,
    },
    /// A follower cut its log.
    Truncation {
        /// Topic and partition.
        partition: String,
        /// The broker truncating.
        broker: i32,
        /// Its LEO before.
        from: i64,
        /// Its LEO after.
        to: i64,
        /// Why.
        cause: TruncationCause,
    },
    /// The controller fenced a broker.
    BrokerFenced {
        /// The fenced broker.
        broker: i32,
        /// Its broker epoch (the registration fenced).
        broker_epoch: i64,
        /// Why.
        cause: FenceCause,
        /// The active controller.
        controller: i32,
    },
}

impl Event {
    /// The event's short name, the line's first word.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::IsrShrink { .. } => "isr-shrink",
            Event::IsrExpand { .. } => "isr-expand",
            Event::LeaderElection { .. } => "leader-election",
            Event::LeaderEpoch { .. } => "leader-epoch",
            Event::Truncation { .. } => "truncation",
            Event::BrokerFenced { .. } => "broker-fenced",
        }
    }

    /// Logs the line at INFO on [`TARGET`] (field `kind` carries [`Event::kind`]).
    pub fn log(&self) {
        tracing::info!(target: TARGET, kind = self.kind(), "{self}");
    }

    /// The ISR change a leader's accepted AlterPartition made.
    pub fn isr_change(
        partition: String,
        leader: i32,
        leader_epoch: i32,
        old_isr: Vec<i32>,
        new_isr: Vec<i32>,
        cause: IsrCause,
    ) -> Event {
        if new_isr.len() < old_isr.len() {
            Event::IsrShrink {
                partition,
                leader_epoch,
                old_isr,
                new_isr,
                cause,
                by: leader,
                by_controller: false,
            }
        } else {
            Event::IsrExpand {
                partition,
                leader_epoch,
                old_isr,
                new_isr,
                cause,
                leader,
            }
        }
    }
}

/// `[1,2,3]`.
struct Ids<'a>(&'a [i32]);

impl fmt::Display for Ids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{id}")?;
        }
        f.write_str("]")
    }
}

/// A broker id, `none` for -1.
struct Leader(i32);

impl fmt::Display for Leader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == NO_LEADER {
            f.write_str("none")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl fmt::Display for IsrCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let brokers = |f: &mut fmt::Formatter<'_>, what: &str, ids: &[i32]| match ids {
            [one] => write!(f, "broker {one} {what}"),
            _ => write!(f, "brokers {} {what}", Ids(ids)),
        };
        match self {
            IsrCause::Lagging(lagging) => {
                for (i, l) in lagging.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "replica {} ", l.replica)?;
                    match l.not_caught_up_ms {
                        Some(ms) => write!(f, "not caught up for {ms} ms")?,
                        None => f.write_str("not caught up since this leader took over")?,
                    }
                    if l.behind >= 0 {
                        write!(f, ", lagging by {} records", l.behind)?;
                    } else {
                        f.write_str(", never fetched")?;
                    }
                }
                Ok(())
            }
            IsrCause::CaughtUp { replica, offset } => {
                write!(f, "replica {replica} caught up at offset {offset}")
            }
            IsrCause::Fenced(ids) => brokers(f, "fenced", ids),
            IsrCause::ShuttingDown(ids) => brokers(f, "in controlled shutdown", ids),
            IsrCause::Restarted(ids) => brokers(f, "re-registered after a restart", ids),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        match self {
            Event::IsrShrink {
                partition,
                leader_epoch,
                old_isr,
                new_isr,
                cause,
                by,
                by_controller,
            } => {
                let who = if *by_controller {
                    "controller"
                } else {
                    "leader"
                };
                write!(
                    f,
                    "{kind} {partition} epoch {leader_epoch}: isr {} → {} ({cause}) by {who} {by}",
                    Ids(old_isr),
                    Ids(new_isr)
                )
            }
            Event::IsrExpand {
                partition,
                leader_epoch,
                old_isr,
                new_isr,
                cause,
                leader,
            } => write!(
                f,
                "{kind} {partition} epoch {leader_epoch}: isr {} → {} ({cause}) by leader {leader}",
                Ids(old_isr),
                Ids(new_isr)
            ),
            Event::LeaderElection {
                partition,
                kind: election,
                old_leader,
                new_leader,
                leader_epoch,
                old_isr,
                new_isr,
                controller,
            } => {
                let how = match election {
                    ElectionKind::Clean => "clean",
                    ElectionKind::Unclean => "UNCLEAN (committed records may be lost)",
                    ElectionKind::Preferred => "preferred",
                    ElectionKind::Offline => "none possible, partition offline",
                };
                write!(
                    f,
                    "{kind} {partition}: {how}, leader {} → {}, epoch {leader_epoch}, isr {} → {} \
                     by controller {controller}",
                    Leader(*old_leader),
                    Leader(*new_leader),
                    Ids(old_isr),
                    Ids(new_isr)
                )
            }
            Event::LeaderEpoch {
                partition,
                broker,
                old_epoch,
                new_epoch,
                role,
            } => {
                write!(
                    f,
                    "{kind} {partition} on broker {broker}: epoch {old_epoch} → {new_epoch}, "
                )?;
                match role {
                    EpochRole::Leader { start_offset } => {
                        write!(f, "leader, epoch starts at offset {start_offset}")
                    }
                    EpochRole::Follower { leader } => write!(f, "follower of {leader}"),
                    EpochRole::Offline => f.write_str("no leader (offline)"),
                }
            }
            Event::Truncation {
                partition,
                broker,
                from,
                to,
                cause,
            } => {
                write!(f, "{kind} {partition} on broker {broker}: {from} → {to} (")?;
                match cause {
                    TruncationCause::DivergentEpoch {
                        epoch,
                        end_offset,
                        leader,
                    } => write!(
                        f,
                        "divergent: epoch {epoch} ends at {end_offset} on leader {leader})"
                    ),
                    TruncationCause::LeaderLogEnd { leader } => {
                        write!(
                            f,
                            "leader {leader}'s log ends at {to}: it was elected unclean)"
                        )
                    }
                }
            }
            Event::BrokerFenced {
                broker,
                broker_epoch,
                cause,
                controller,
            } => {
                write!(f, "{kind} broker {broker} epoch {broker_epoch}: ")?;
                match cause {
                    FenceCause::SessionExpired { silent_ms } => {
                        write!(f, "session expired (no heartbeat for {silent_ms} ms)")?
                    }
                    FenceCause::ControlledShutdown => f.write_str("controlled shutdown")?,
                    FenceCause::Requested => f.write_str("it asked to be fenced")?,
                }
                write!(f, " by controller {controller}")
            }
        }
    }
}

/// The events of one controller decision, derived from its `records` before they are replayed
/// on `c` (so `c.image()` is the state they change; `c`'s sessions are already updated by the
/// decision). Fencing first, then each partition change: a leader change is a
/// [`Event::LeaderElection`]; an ISR shrink with the same leader is logged only when the
/// controller caused it (fencing, shutdown, restart), since a leader's own AlterPartition is the
/// leader's line. Empty when the target is disabled.
pub fn controller_decision(
    c: &Controller,
    records: &[Record],
    controller: i32,
    now_ms: i64,
) -> Vec<Event> {
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return Vec::new();
    }
    let fenced: Vec<i32> = records
        .iter()
        .filter_map(|r| match r {
            Record::FenceBroker(f) => Some(f.node_id),
            _ => None,
        })
        .collect();
    let registered: Vec<i32> = records
        .iter()
        .filter_map(|r| match r {
            Record::RegisterBroker(b) => Some(b.node_id),
            _ => None,
        })
        .collect();
    let shutting_down = |id: i32| c.session(id).is_some_and(|s| s.shutting_down);
    let mut events = Vec::new();
    for r in records {
        if let Record::FenceBroker(f) = r {
            let cause = if shutting_down(f.node_id) {
                FenceCause::ControlledShutdown
            } else {
                match c.session(f.node_id) {
                    Some(s) if now_ms - s.last_heartbeat_ms > c.config().session_timeout_ms => {
                        FenceCause::SessionExpired {
                            silent_ms: now_ms - s.last_heartbeat_ms,
                        }
                    }
                    _ => FenceCause::Requested,
                }
            };
            events.push(Event::BrokerFenced {
                broker: f.node_id,
                broker_epoch: f.broker_epoch,
                cause,
                controller,
            });
        }
    }
    for r in records {
        let Record::PartitionChange(rec) = r else {
            continue;
        };
        let Some(old) = c.image().partition(&rec.topic, rec.partition) else {
            continue;
        };
        let partition = format!("{}-{}", rec.topic, rec.partition);
        if rec.leader != old.leader {
            events.push(Event::LeaderElection {
                partition,
                kind: election_kind(rec, old.leader),
                old_leader: old.leader,
                new_leader: rec.leader,
                leader_epoch: rec.leader_epoch,
                old_isr: old.isr.clone(),
                new_isr: rec.isr.clone(),
                controller,
            });
            continue;
        }
        let removed: Vec<i32> = old
            .isr
            .iter()
            .copied()
            .filter(|b| !rec.isr.contains(b))
            .collect();
        let cause = if removed.is_empty() {
            None
        } else if removed.iter().all(|b| registered.contains(b)) {
            Some(IsrCause::Restarted(removed))
        } else if removed.iter().all(|&b| shutting_down(b)) {
            Some(IsrCause::ShuttingDown(removed))
        } else if removed.iter().all(|b| fenced.contains(b)) {
            Some(IsrCause::Fenced(removed))
        } else {
            None // the leader's own AlterPartition: its line
        };
        if let Some(cause) = cause {
            events.push(Event::IsrShrink {
                partition,
                leader_epoch: rec.leader_epoch,
                old_isr: old.isr.clone(),
                new_isr: rec.isr.clone(),
                cause,
                by: controller,
                by_controller: true,
            });
        }
    }
    events
}

/// Only a preferred election moves leadership away from a leader that stays live and in sync.
fn election_kind(rec: &PartitionChangeRecord, old_leader: i32) -> ElectionKind {
    if rec.unclean {
        ElectionKind::Unclean
    } else if rec.leader == NO_LEADER {
        ElectionKind::Offline
    } else if old_leader != NO_LEADER && rec.isr.contains(&old_leader) {
        ElectionKind::Preferred
    } else {
        ElectionKind::Clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_partition_and_the_numbers() {
        let shrink = Event::isr_change(
            "t-0".into(),
            1,
            3,
            vec![1, 2, 3],
            vec![1, 3],
            IsrCause::Lagging(vec![Lagging {
                replica: 2,
                behind: 120,
                not_caught_up_ms: Some(1000),
            }]),
        );
        assert_eq!(
            shrink.to_string(),
            "isr-shrink t-0 epoch 3: isr [1,2,3] → [1,3] (replica 2 not caught up for 1000 ms, \
             lagging by 120 records) by leader 1"
        );
        let expand = Event::isr_change(
            "t-0".into(),
            1,
            3,
            vec![1, 3],
            vec![1, 3, 2],
            IsrCause::CaughtUp {
                replica: 2,
                offset: 540,
            },
        );
        assert_eq!(
            expand.to_string(),
            "isr-expand t-0 epoch 3: isr [1,3] → [1,3,2] (replica 2 caught up at offset 540) by \
             leader 1"
        );
        let fenced = Event::BrokerFenced {
            broker: 2,
            broker_epoch: 17,
            cause: FenceCause::SessionExpired { silent_ms: 9001 },
            controller: 1,
        };
        assert_eq!(
            fenced.to_string(),
            "broker-fenced broker 2 epoch 17: session expired (no heartbeat for 9001 ms) by \
             controller 1"
        );
        let cut = Event::Truncation {
            partition: "t-0".into(),
            broker: 1,
            from: 560,
            to: 540,
            cause: TruncationCause::DivergentEpoch {
                epoch: 3,
                end_offset: 540,
                leader: 2,
            },
        };
        assert_eq!(
            cut.to_string(),
            "truncation t-0 on broker 1: 560 → 540 (divergent: epoch 3 ends at 540 on leader 2)"
        );
    }

    #[test]
    fn election_kinds_follow_from_the_record() {
        let rec = |leader: i32, isr: Vec<i32>, unclean: bool| PartitionChangeRecord {
            topic: "t".into(),
            partition: 0,
            isr,
            leader,
            leader_epoch: 4,
            partition_epoch: 9,
            unclean,
        };
        assert_eq!(
            election_kind(&rec(2, vec![2, 3], false), 1),
            ElectionKind::Clean
        );
        assert_eq!(
            election_kind(&rec(1, vec![1, 2, 3], false), 2),
            ElectionKind::Preferred
        );
        assert_eq!(
            election_kind(&rec(3, vec![3], true), -1),
            ElectionKind::Unclean
        );
        assert_eq!(
            election_kind(&rec(-1, vec![1], false), 1),
            ElectionKind::Offline
        );
        assert_eq!(
            election_kind(&rec(2, vec![2], false), -1),
            ElectionKind::Clean
        );
    }
}
