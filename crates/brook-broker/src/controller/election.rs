//! Leader and ISR choices for one partition (reference §4 E1–E3, §3 F4), as pure functions of the
//! partition's current state and a liveness predicate.
//!
//! Nothing here reads a clock or the rest of the image: the controller decides who is live and
//! whether unclean election is allowed, and turns a [`Target`] into a `PartitionChangeRecord`
//! with [`change_record`], which is the only place epochs are bumped.

use brook_proto::ErrorCode;
use brook_proto::v1::PartitionChangeRecord;

use crate::metadata::{NO_LEADER, PartitionMeta};

/// What a partition should become. Epochs are derived from the old state by [`change_record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The new ISR.
    pub isr: Vec<i32>,
    /// The new leader's broker id, or [`NO_LEADER`].
    pub leader: i32,
    /// The leader was chosen from outside the ISR (E2): committed data may have been lost.
    pub unclean: bool,
}

/// The ISR without its non-live members, but never empty (KRaft without ELR keeps the last
/// member, F4). When every member is gone we keep the one most likely to hold everything: the
/// current leader if it was in the ISR (its log is the longest), else the first ISR member.
/// Keeping it means the partition stays offline until that broker returns, instead of electing
/// a replica that may lack committed records.
pub fn shrink_isr(p: &PartitionMeta, live: impl Fn(i32) -> bool) -> Vec<i32> {
    let kept: Vec<i32> = p.isr.iter().copied().filter(|&b| live(b)).collect();
    if !kept.is_empty() || p.isr.is_empty() {
        return kept;
    }
    if p.isr.contains(&p.leader) {
        vec![p.leader]
    } else {
        p.isr[..1].to_vec()
    }
}

/// E1: the first replica in assignment order that is live and in `isr`.
pub fn elect_clean(replicas: &[i32], isr: &[i32], live: impl Fn(i32) -> bool) -> Option<i32> {
    replicas
        .iter()
        .copied()
        .find(|&r| live(r) && isr.contains(&r))
}

/// E2: the first live replica in assignment order, in sync or not.
pub fn elect_unclean(replicas: &[i32], live: impl Fn(i32) -> bool) -> Option<i32> {
    replicas.iter().copied().find(|&r| live(r))
}

/// Brings a partition in line with the set of live brokers: drops non-live brokers from the ISR
/// (keeping the last one), keeps a valid leader, otherwise elects one cleanly, otherwise (if
/// `unclean_allowed`) uncleanly with ISR = {new leader}, otherwise leaves it offline (-1).
/// Returns `None` when nothing changes, so calling it again on the result is a no-op.
pub fn reconcile(
    p: &PartitionMeta,
    live: impl Fn(i32) -> bool,
    unclean_allowed: bool,
) -> Option<Target> {
    let isr = shrink_isr(p, &live);
    // KRaft's electAnyLeader keeps the current leader while it is still valid: moving it would
    // bump the leader epoch and bounce every client for nothing.
    let leader_valid = p.leader != NO_LEADER && live(p.leader) && isr.contains(&p.leader);
    let target = if leader_valid {
        Target {
            isr,
            leader: p.leader,
            unclean: false,
        }
    } else if let Some(leader) = elect_clean(&p.replicas, &isr, &live) {
        Target {
            isr,
            leader,
            unclean: false,
        }
    } else if let Some(leader) = elect_unclean(&p.replicas, &live).filter(|_| unclean_allowed) {
        Target {
            isr: vec![leader],
            leader,
            unclean: true,
        }
    } else {
        Target {
            isr,
            leader: NO_LEADER,
            unclean: false,
        }
    };
    (target.isr != p.isr || target.leader != p.leader).then_some(target)
}

/// Preferred election: `replicas[0]` if it is live and in the ISR.
pub fn preferred(p: &PartitionMeta, live: impl Fn(i32) -> bool) -> Result<Target, ErrorCode> {
    let Some(&preferred) = p.replicas.first() else {
        return Err(ErrorCode::PreferredLeaderNotAvailable);
    };
    if p.leader == preferred {
        return Err(ErrorCode::ElectionNotNeeded);
    }
    if !live(preferred) || !p.isr.contains(&preferred) {
        return Err(ErrorCode::PreferredLeaderNotAvailable);
    }
    Ok(Target {
        isr: p.isr.clone(),
        leader: preferred,
        unclean: false,
    })
}

/// The operator's one-shot unclean election (ElectLeaders UNCLEAN) for a leaderless partition.
/// Like Kafka it still prefers a live ISR member when there is one; only otherwise does an
/// out-of-sync replica take over with ISR = {it}.
pub fn unclean(p: &PartitionMeta, live: impl Fn(i32) -> bool) -> Result<Target, ErrorCode> {
    if p.leader != NO_LEADER {
        return Err(ErrorCode::ElectionNotNeeded);
    }
    if let Some(leader) = elect_clean(&p.replicas, &p.isr, &live) {
        return Ok(Target {
            isr: shrink_isr(p, &live),
            leader,
            unclean: false,
        });
    }
    match elect_unclean(&p.replicas, &live) {
        Some(leader) => Ok(Target {
            isr: vec![leader],
            leader,
            unclean: true,
        }),
        None => Err(ErrorCode::EligibleLeadersNotAvailable),
    }
}

/// The record that moves `p` to `target`: the leader epoch goes up on every leader change
/// (including to and from -1, E3), the partition epoch on every change at all. Saturating adds:
/// 2^31 elections of one partition cannot happen, and wrapping would un-fence old leaders.
pub fn change_record(
    topic: &str,
    partition: i32,
    p: &PartitionMeta,
    target: &Target,
) -> PartitionChangeRecord {
    let leader_epoch = if target.leader != p.leader {
        p.leader_epoch.saturating_add(1)
    } else {
        p.leader_epoch
    };
    PartitionChangeRecord {
        topic: topic.to_string(),
        partition,
        isr: target.isr.clone(),
        leader: target.leader,
        leader_epoch,
        partition_epoch: p.partition_epoch.saturating_add(1),
        unclean: target.unclean,
    }
}
