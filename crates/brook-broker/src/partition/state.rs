//! A partition's replication state as plain data, and every decision made on it — the one owner
//! of leader epoch, partition epoch, ISR, high watermark and the min.insync.replicas rule.
//!
//! What the broker knows depends on its role, and so does where each value lives:
//!
//! ```text
//! Role::Leader(LeaderReplication)   epochs, ISR, HW, min.insync, followers   (replica_state/)
//! Role::Follower { leader, view }   epochs, ISR from the controller; HW learned from the leader
//! Role::Offline(view)               the same view, with no live leader anywhere
//! ```
//!
//! Each value exists once: the accessors ([`PartitionState::isr`], [`PartitionState::high_watermark`],
//! …) read it from wherever the role keeps it, and the transitions below are the only writers.
//! Nothing here does I/O or reads a clock: `partition/` calls these methods under its lock with
//! the log end offset and the time, then does the I/O they ask for (persist the epoch cache,
//! publish offsets, log). The sans-IO tests are at the bottom of this file.

use std::collections::BTreeMap;

use brook_proto::ErrorCode;

use crate::acks::Acks;
use crate::config::TopicConfig;
use crate::error::{BrokerError, Result};
use crate::events::{IsrCause, Lagging};
use crate::metadata::{BrokerMeta, PartitionMeta};
use crate::replica_state::{
    FetchRejected, FollowerFetch, LeaderAssignment, LeaderReplication, NEVER_MS,
};

/// Offsets published to waiters (long-polling fetches, `acks=all` produces) on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offsets {
    /// First offset still in the log.
    pub log_start: i64,
    /// The log end offset (LEO): the offset the next record gets.
    pub log_end: i64,
    /// The high watermark: everything below it is committed.
    pub high_watermark: i64,
    /// The leader epoch this broker knows for the partition.
    pub leader_epoch: i32,
    /// Whether this broker leads the partition.
    pub is_leader: bool,
}

/// What a broker that does not lead the partition knows about it: the controller's epochs and
/// ISR, and the high watermark it last learned from the leader (H2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    /// The leader epoch from the latest metadata (-1 before any).
    pub leader_epoch: i32,
    /// The partition epoch from the latest metadata (-1 before any).
    pub partition_epoch: i32,
    /// The ISR from the latest metadata.
    pub isr: Vec<i32>,
    /// The HW as learned from the leader's fetch answers (or the checkpoint at load).
    pub high_watermark: i64,
}

/// What this broker is for the partition.
#[derive(Debug, Clone)]
pub enum Role {
    /// This broker leads: the leader's view of its followers owns epochs, ISR and HW.
    Leader(Box<LeaderReplication>),
    /// Another broker leads; this one replicates from it.
    Follower {
        /// The leader's node id.
        leader: i32,
        /// What this follower knows.
        view: ReplicaView,
    },
    /// Assigned, but with no live leader anywhere (an offline partition), or not yet told.
    Offline(ReplicaView),
}

/// An ISR change the leader wants the controller to make (AlterPartition, F4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    /// The leader epoch the proposal is made in.
    pub leader_epoch: i32,
    /// The partition epoch the proposal builds on; the controller refuses a stale one.
    pub partition_epoch: i32,
    /// The ISR asked for.
    pub new_isr: Vec<i32>,
    /// The committed ISR it changes.
    pub old_isr: Vec<i32>,
    /// Why (for the replication event logged once the controller accepts it).
    pub cause: IsrCause,
}

/// What applying a metadata update asks the I/O shell to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataChange {
    /// Older than what this broker already applied: ignored, nothing to do.
    Stale,
    /// Applied; nothing else to do (same role, same epoch).
    Applied,
    /// This broker became leader in `epoch`, which starts at `start_offset` (its LEO, E3): the
    /// shell records the epoch in the epoch cache before any write in it.
    BecameLeader {
        /// The new leader epoch.
        epoch: i32,
        /// Where the epoch starts.
        start_offset: i64,
    },
    /// This broker follows `leader` in `epoch`; `changed` when that is new (a fetcher must
    /// (re)start).
    Follow {
        /// The leader to fetch from.
        leader: i32,
        /// Its leader epoch.
        epoch: i32,
        /// Whether the leader or epoch changed (or this broker was not a follower before).
        changed: bool,
    },
}

/// The partition's replication state as plain data.
#[derive(Debug, Clone)]
pub struct PartitionState {
    config: TopicConfig,
    my_id: i32,
    /// `replica.lag.time.max.ms`, for the caught-up rule (F2).
    lag_max_ms: i64,
    /// The assigned replicas, in the controller's order.
    replicas: Vec<i32>,
    role: Role,
}

impl PartitionState {
    /// A partition just loaded from disk: no role until the controller says, HW from the
    /// checkpoint (capped at `leo`: a HW never exceeds what the log has).
    pub fn new(
        config: TopicConfig,
        my_id: i32,
        lag_max_ms: i64,
        checkpointed_hw: i64,
        leo: i64,
    ) -> Self {
        PartitionState {
            config,
            my_id,
            lag_max_ms,
            replicas: Vec::new(),
            role: Role::Offline(ReplicaView {
                leader_epoch: -1,
                partition_epoch: -1,
                isr: Vec::new(),
                high_watermark: checkpointed_hw.min(leo),
            }),
        }
    }

    /// The topic config the partition runs with.
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    /// This broker's node id.
    pub fn my_id(&self) -> i32 {
        self.my_id
    }

    /// The assigned replicas, in the controller's order.
    pub fn replicas(&self) -> &[i32] {
        &self.replicas
    }

    /// The role and what it holds.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The leader's replication state, when this broker leads.
    pub fn leader(&self) -> Option<&LeaderReplication> {
        match &self.role {
            Role::Leader(l) => Some(l),
            _ => None,
        }
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// The node id of the leader as this broker knows it (-1: none).
    pub fn leader_id(&self) -> i32 {
        match &self.role {
            Role::Leader(_) => self.my_id,
            Role::Follower { leader, .. } => *leader,
            Role::Offline(_) => -1,
        }
    }

    /// The current leader epoch.
    pub fn leader_epoch(&self) -> i32 {
        match &self.role {
            Role::Leader(l) => l.leader_epoch,
            Role::Follower { view, .. } | Role::Offline(view) => view.leader_epoch,
        }
    }

    /// The current partition epoch.
    pub fn partition_epoch(&self) -> i32 {
        match &self.role {
            Role::Leader(l) => l.partition_epoch,
            Role::Follower { view, .. } | Role::Offline(view) => view.partition_epoch,
        }
    }

    /// The committed ISR (as the controller last accepted it).
    pub fn isr(&self) -> &[i32] {
        match &self.role {
            Role::Leader(l) => &l.isr,
            Role::Follower { view, .. } | Role::Offline(view) => &view.isr,
        }
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> i64 {
        match &self.role {
            Role::Leader(l) => l.high_watermark,
            Role::Follower { view, .. } | Role::Offline(view) => view.high_watermark,
        }
    }

    fn set_high_watermark(&mut self, hw: i64) {
        match &mut self.role {
            Role::Leader(l) => l.high_watermark = hw,
            Role::Follower { view, .. } | Role::Offline(view) => view.high_watermark = hw,
        }
    }

    /// The offsets to publish, given the log's start and end.
    pub fn offsets(&self, log_start: i64, log_end: i64) -> Offsets {
        Offsets {
            log_start,
            log_end,
            high_watermark: self.high_watermark(),
            leader_epoch: self.leader_epoch(),
            is_leader: self.is_leader(),
        }
    }

    /// Replaces the topic config (AlterConfigs); the leader's min.insync follows it.
    pub fn set_config(&mut self, config: TopicConfig) {
        if let Role::Leader(l) = &mut self.role {
            l.min_insync = config.min_insync_replicas;
        }
        self.config = config;
    }

    /// Applies the controller's view of the partition at log end `leo` and time `now_ms`.
    /// Stale metadata (an older leader epoch, or an older partition epoch in the same leader
    /// epoch, e.g. an ISR change this leader already applied from its AlterPartition answer)
    /// must not roll the ISR back and is ignored.
    pub fn apply_metadata(
        &mut self,
        meta: &PartitionMeta,
        brokers: &BTreeMap<i32, BrokerMeta>,
        leo: i64,
        now_ms: i64,
    ) -> MetadataChange {
        let (epoch, partition_epoch) = (self.leader_epoch(), self.partition_epoch());
        if meta.leader_epoch < epoch
            || (meta.leader_epoch == epoch && meta.partition_epoch < partition_epoch)
        {
            return MetadataChange::Stale;
        }
        let epoch_changed = meta.leader_epoch != epoch || meta.leader != self.leader_id();
        let hw = self.high_watermark();
        self.replicas = meta.replicas.clone();
        let view = ReplicaView {
            leader_epoch: meta.leader_epoch,
            partition_epoch: meta.partition_epoch,
            isr: meta.isr.clone(),
            high_watermark: hw,
        };
        if meta.leader == self.my_id {
            let assignment = LeaderAssignment {
                my_id: self.my_id,
                leader_epoch: meta.leader_epoch,
                partition_epoch: meta.partition_epoch,
                replicas: meta.replicas.clone(),
                isr: meta.isr.clone(),
                min_insync: self.config.min_insync_replicas,
            };
            let change = match &mut self.role {
                Role::Leader(l) if !epoch_changed => {
                    l.update_assignment(assignment, leo, now_ms);
                    MetadataChange::Applied
                }
                _ => {
                    // E3: the new epoch starts at our LEO.
                    self.role = Role::Leader(Box::new(LeaderReplication::new_leader(
                        assignment, leo, hw, now_ms,
                    )));
                    MetadataChange::BecameLeader {
                        epoch: meta.leader_epoch,
                        start_offset: leo,
                    }
                }
            };
            if let Role::Leader(l) = &mut self.role {
                l.observe_brokers(&meta.replicas, brokers);
                l.maybe_increment_hw(leo, now_ms, self.lag_max_ms);
            }
            change
        } else if meta.leader >= 0 {
            let changed = epoch_changed || !matches!(self.role, Role::Follower { .. });
            self.role = Role::Follower {
                leader: meta.leader,
                view,
            };
            MetadataChange::Follow {
                leader: meta.leader,
                epoch: meta.leader_epoch,
                changed,
            }
        } else {
            self.role = Role::Offline(view);
            MetadataChange::Applied
        }
    }

    /// **The leader/epoch guard** every leader-side request passes: NOT_LEADER_OR_FOLLOWER
    /// unless this broker leads, then the requester's view of the epoch (rule F1; -1 = no
    /// check): FENCED_LEADER_EPOCH if older, UNKNOWN_LEADER_EPOCH if newer.
    pub fn check_leader(&self, current_leader_epoch: i32) -> Result<&LeaderReplication> {
        let Role::Leader(l) = &self.role else {
            return Err(BrokerError::new(
                ErrorCode::NotLeaderOrFollower,
                "this broker does not lead the partition",
            ));
        };
        let epoch = l.leader_epoch;
        if current_leader_epoch < 0 || current_leader_epoch == epoch {
            Ok(l)
        } else if current_leader_epoch < epoch {
            Err(BrokerError::new(
                ErrorCode::FencedLeaderEpoch,
                format!("epoch {current_leader_epoch} is older than {epoch}"),
            ))
        } else {
            Err(BrokerError::new(
                ErrorCode::UnknownLeaderEpoch,
                format!("epoch {current_leader_epoch} is newer than {epoch}"),
            ))
        }
    }

    /// Rule P3, before anything is written: this broker must lead, and with `acks=all` the ISR
    /// must hold `min.insync.replicas` ([`LeaderReplication::below_min_insync`]).
    pub fn check_produce(&self, acks: Acks) -> Result<()> {
        let l = self.check_leader(-1)?;
        if acks == Acks::All && l.below_min_insync() {
            return Err(BrokerError::new(
                ErrorCode::NotEnoughReplicas,
                format!(
                    "ISR {:?} is smaller than min.insync.replicas={}",
                    l.isr, l.min_insync
                ),
            ));
        }
        Ok(())
    }

    /// Rule P7, the verdict on a parked `acks=all` batch ending below `required_offset`: `None`
    /// while it must keep waiting for the HW; NOT_LEADER_OR_FOLLOWER if leadership moved;
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND if it committed while the ISR was below min.insync (the
    /// same rule as P3).
    pub fn commit_status(&self, required_offset: i64) -> Option<Result<()>> {
        let Role::Leader(l) = &self.role else {
            return Some(Err(BrokerError::new(
                ErrorCode::NotLeaderOrFollower,
                "leadership moved while the batch waited",
            )));
        };
        if l.high_watermark < required_offset {
            return None;
        }
        if l.below_min_insync() {
            return Some(Err(BrokerError::new(
                ErrorCode::NotEnoughReplicasAfterAppend,
                "the batch is committed but the ISR shrank below min.insync.replicas meanwhile",
            )));
        }
        Some(Ok(()))
    }

    /// After a leader append that left the log ending at `leo`: H1 (the HW may move when the ISR
    /// is only the leader). Returns whether the HW moved.
    pub fn on_leader_append(&mut self, leo: i64, now_ms: i64) -> bool {
        let lag = self.lag_max_ms;
        match &mut self.role {
            Role::Leader(l) => l.maybe_increment_hw(leo, now_ms, lag),
            _ => false,
        }
    }

    /// A served follower fetch (F1, F2, F6, H1): records what the follower has (the leader's LEO
    /// `leo` sampled before the read), moves the HW, and returns the ISR expansion to propose.
    pub fn record_follower_fetch(
        &mut self,
        fetch: &FollowerFetch,
        leo: i64,
        now_ms: i64,
    ) -> Result<Option<IsrProposal>> {
        let lag = self.lag_max_ms;
        let Role::Leader(l) = &mut self.role else {
            return Err(BrokerError::new(
                ErrorCode::NotLeaderOrFollower,
                "this broker does not lead the partition",
            ));
        };
        let fetch = FollowerFetch {
            leader_leo_at_fetch: leo,
            ..*fetch
        };
        l.record_fetch(&fetch, now_ms).map_err(|e| match e {
            FetchRejected::NotAReplica(id) => BrokerError::new(
                ErrorCode::NotLeaderOrFollower,
                format!("broker {id} is not a replica of the partition"),
            ),
            FetchRejected::StaleBrokerEpoch { .. } => {
                BrokerError::new(ErrorCode::NotLeaderOrFollower, format!("{e:?}"))
            }
        })?;
        l.maybe_increment_hw(leo, now_ms, lag);
        if l.isr.contains(&fetch.replica_id) {
            return Ok(None);
        }
        Ok(l.propose_expand(fetch.replica_id)
            .map(|new_isr| IsrProposal {
                leader_epoch: l.leader_epoch,
                partition_epoch: l.partition_epoch,
                new_isr,
                old_isr: l.isr.clone(),
                cause: IsrCause::CaughtUp {
                    replica: fetch.replica_id,
                    offset: fetch.fetch_offset,
                },
            }))
    }

    /// Rule F3: the ISR shrink the leader should propose now, if any.
    pub fn propose_shrink(&mut self, leo: i64, now_ms: i64) -> Option<IsrProposal> {
        let lag = self.lag_max_ms;
        let Role::Leader(l) = &mut self.role else {
            return None;
        };
        let lagging = (l.out_of_sync(leo, now_ms, lag).into_iter())
            .map(|replica| {
                let f = l.followers.get(&replica);
                let known = |v: i64| (v != NEVER_MS).then_some(v);
                Lagging {
                    replica,
                    behind: f
                        .filter(|f| f.log_end_offset >= 0)
                        .map_or(-1, |f| leo - f.log_end_offset),
                    not_caught_up_ms: f
                        .and_then(|f| known(f.last_caught_up_time_ms))
                        .map(|t| now_ms.saturating_sub(t)),
                }
            })
            .collect();
        l.propose_shrink(leo, now_ms, lag)
            .map(|new_isr| IsrProposal {
                leader_epoch: l.leader_epoch,
                partition_epoch: l.partition_epoch,
                new_isr,
                old_isr: l.isr.clone(),
                cause: IsrCause::Lagging(lagging),
            })
    }

    /// The controller rejected (or never answered) the proposed ISR change.
    pub fn isr_change_failed(&mut self) {
        if let Role::Leader(l) = &mut self.role {
            l.reject_pending();
        }
    }

    /// The controller accepted an ISR change (it also arrives later through metadata); a shrink
    /// can let the HW move.
    pub fn isr_changed(&mut self, isr: Vec<i32>, partition_epoch: i32, leo: i64, now_ms: i64) {
        let lag = self.lag_max_ms;
        if let Role::Leader(l) = &mut self.role {
            if l.apply_isr_change(isr, partition_epoch) {
                l.maybe_increment_hw(leo, now_ms, lag);
            }
        }
    }

    /// The guard of a follower append: this broker must still follow in `leader_epoch`.
    pub fn check_follower(&self, leader_epoch: i32) -> Result<()> {
        match &self.role {
            Role::Follower { view, .. } if view.leader_epoch == leader_epoch => Ok(()),
            _ => Err(BrokerError::new(
                ErrorCode::FencedLeaderEpoch,
                "leadership changed during the fetch",
            )),
        }
    }

    /// Whether this broker still follows `leader` in `epoch` (a fetcher's reason to live).
    pub fn follows(&self, leader: i32, epoch: i32) -> bool {
        matches!(&self.role, Role::Follower { leader: l, view } if *l == leader && view.leader_epoch == epoch)
    }

    /// H2: a follower learns the leader's HW, never above its own LEO and never backwards.
    pub fn learn_leader_hw(&mut self, leader_hw: i64, leo: i64) {
        let hw = self.high_watermark().max(leader_hw.min(leo));
        self.set_high_watermark(hw);
    }

    /// The log was truncated to end at `leo` (E6): the HW cannot stay above it.
    pub fn truncated_to(&mut self, leo: i64) {
        let hw = self.high_watermark().min(leo);
        self.set_high_watermark(hw);
    }

    /// The offset below which the whole ISR has fsynced (for ISR_FLUSHED), given the leader's
    /// own flushed offset; a non-leader only knows its own.
    pub fn isr_flushed_offset(&self, own_flushed: i64) -> i64 {
        match &self.role {
            Role::Leader(l) => l.isr_flushed_offset(own_flushed),
            _ => own_flushed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::PartitionMeta;

    const LAG: i64 = 10_000;

    fn state(min_insync: i32) -> PartitionState {
        let config = TopicConfig {
            log: brook_log::LogConfig::default(),
            min_insync_replicas: min_insync,
            unclean_leader_election: false,
        };
        PartitionState::new(config, 1, LAG, 0, 0)
    }

    fn meta(leader: i32, epoch: i32, replicas: &[i32], isr: &[i32]) -> PartitionMeta {
        PartitionMeta {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: epoch,
            partition_epoch: epoch,
        }
    }

    fn code<T: std::fmt::Debug>(r: Result<T>) -> ErrorCode {
        r.err().map_or(ErrorCode::None, |e| e.code())
    }

    /// The min.insync.replicas rule on both paths at once: the `acks=all` refusal (P3) and the
    /// HW freeze (P8) agree whenever min.insync ≤ RF, and where min.insync > RF the refusal
    /// stays (uncapped) while the HW still moves (capped at the RF).
    #[test]
    fn min_insync_rule_on_both_paths() {
        let none = BTreeMap::new();
        // RF 3, min.insync 2, ISR {1}: refused AND frozen.
        let mut s = state(2);
        s.apply_metadata(&meta(1, 1, &[1, 2, 3], &[1]), &none, 0, 0);
        assert_eq!(
            code(s.check_produce(Acks::All)),
            ErrorCode::NotEnoughReplicas
        );
        assert_eq!(code(s.check_produce(Acks::Leader)), ErrorCode::None);
        assert!(!s.on_leader_append(5, 1), "HW frozen under min ISR");
        assert_eq!(s.high_watermark(), 0);
        // ISR {1, 2}: accepted AND the HW moves once follower 2 has the data.
        s.isr_changed(vec![1, 2], 2, 5, 2);
        assert_eq!(code(s.check_produce(Acks::All)), ErrorCode::None);
        let fetch = FollowerFetch {
            replica_id: 2,
            fetch_offset: 5,
            log_start_offset: 0,
            flushed_offset: 5,
            broker_epoch: -1,
            leader_leo_at_fetch: -1,
        };
        s.record_follower_fetch(&fetch, 5, 3).map(|_| ()).ok();
        assert_eq!(s.high_watermark(), 5);
        assert_eq!(s.commit_status(5).map(code), Some(ErrorCode::None));
        // Back to ISR {1}: a parked batch that commits now gets the P7 verdict.
        s.isr_changed(vec![1], 3, 5, 4);
        assert_eq!(
            s.commit_status(5).map(code),
            Some(ErrorCode::NotEnoughReplicasAfterAppend)
        );
        assert_eq!(
            code(s.check_produce(Acks::All)),
            ErrorCode::NotEnoughReplicas
        );

        // RF 1, min.insync 2: acks=all is refused (it can never be honoured), acks=1 data
        // still becomes visible: the HW is not frozen.
        let mut solo = state(2);
        solo.apply_metadata(&meta(1, 1, &[1], &[1]), &none, 0, 0);
        assert_eq!(
            code(solo.check_produce(Acks::All)),
            ErrorCode::NotEnoughReplicas
        );
        assert!(solo.on_leader_append(3, 1));
        assert_eq!(solo.high_watermark(), 3);
    }

    #[test]
    fn leader_guard_checks_role_then_epoch() {
        let none = BTreeMap::new();
        let mut s = state(1);
        assert_eq!(code(s.check_leader(-1)), ErrorCode::NotLeaderOrFollower);
        s.apply_metadata(&meta(1, 5, &[1, 2], &[1, 2]), &none, 0, 0);
        assert_eq!(code(s.check_leader(-1)), ErrorCode::None);
        assert_eq!(code(s.check_leader(5)), ErrorCode::None);
        assert_eq!(code(s.check_leader(4)), ErrorCode::FencedLeaderEpoch);
        assert_eq!(code(s.check_leader(6)), ErrorCode::UnknownLeaderEpoch);
    }

    #[test]
    fn metadata_transitions_and_stale_updates() {
        let none = BTreeMap::new();
        let mut s = state(1);
        let change = s.apply_metadata(&meta(1, 1, &[1, 2], &[1, 2]), &none, 7, 0);
        assert_eq!(
            change,
            MetadataChange::BecameLeader {
                epoch: 1,
                start_offset: 7
            }
        );
        // Same leader, same epoch, newer partition epoch: applied, still the same leadership.
        let mut m = meta(1, 1, &[1, 2], &[1]);
        m.partition_epoch = 2;
        assert_eq!(s.apply_metadata(&m, &none, 7, 0), MetadataChange::Applied);
        assert_eq!(s.isr(), &[1]);
        // An older partition epoch must not roll the ISR back.
        assert_eq!(
            s.apply_metadata(&meta(1, 1, &[1, 2], &[1, 2]), &none, 7, 0),
            MetadataChange::Stale
        );
        assert_eq!(s.isr(), &[1]);
        // Broker 2 takes over: follow it; the HW carries over.
        let hw = s.high_watermark();
        let change = s.apply_metadata(&meta(2, 2, &[1, 2], &[2]), &none, 7, 0);
        assert_eq!(
            change,
            MetadataChange::Follow {
                leader: 2,
                epoch: 2,
                changed: true
            }
        );
        assert_eq!(
            (s.high_watermark(), s.leader_epoch(), s.leader_id()),
            (hw, 2, 2)
        );
        assert!(s.follows(2, 2) && !s.follows(2, 1));
        assert_eq!(code(s.check_follower(2)), ErrorCode::None);
        assert_eq!(code(s.check_follower(1)), ErrorCode::FencedLeaderEpoch);
        // H2 and truncation bound the follower's HW by its own log.
        s.learn_leader_hw(100, 9);
        assert_eq!(s.high_watermark(), 9);
        s.truncated_to(4);
        assert_eq!(s.high_watermark(), 4);
        // No leader anywhere: offline.
        s.apply_metadata(&meta(-1, 3, &[1, 2], &[2]), &none, 4, 0);
        assert!(matches!(s.role(), Role::Offline(_)));
        assert_eq!(s.leader_id(), -1);
    }
}
