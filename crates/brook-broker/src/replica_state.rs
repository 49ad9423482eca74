//! Replication decisions as plain data with an injected clock: the leader's view of its
//! followers and the ISR / high-watermark rules built on it (reference rules F1–F9, H1, P8), and
//! the follower's truncation decision after an epoch query (E6, KIP-101 / KIP-279).
//!
//! Nothing here does I/O or takes locks. The integration (fetch handler, ISR-expiration task,
//! AlterPartition client, replica fetcher) calls these methods and acts on what they return:
//!
//! - on every served follower fetch: [`LeaderReplication::record_fetch`], then
//!   [`LeaderReplication::propose_expand`] and [`LeaderReplication::maybe_increment_hw`];
//! - every `replica.lag.time.max.ms / 2`: [`LeaderReplication::propose_shrink`];
//! - on a leader append: [`LeaderReplication::maybe_increment_hw`];
//! - when the controller answers an AlterPartition: [`LeaderReplication::apply_isr_change`] or
//!   [`LeaderReplication::reject_pending`], then `maybe_increment_hw` again;
//! - on a follower, after each `OffsetsForLeaderEpoch` answer: [`truncation_offset`].
//!
//! Kafka sources mirrored: Partition.scala (updateFollowerFetchState, maybeExpandIsr,
//! maybeShrinkIsr, maybeIncrementLeaderHW, prepareIsrExpand/Shrink), Replica.scala,
//! AbstractFetcherThread.getOffsetTruncationState.

use std::collections::BTreeMap;

use crate::leader_epoch::{LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

/// An offset the leader has not learned yet (Kafka's `UnifiedLog.UnknownOffset`).
pub const UNKNOWN_OFFSET: i64 = -1;
/// A time that never happened. Kafka uses 0 (the Unix epoch), which is safe with wall clocks;
/// Brook's clocks are injected and tests start them at 0, where "0" would look like "just now"
/// and make a silent replica count as caught up. Differences use `saturating_sub`.
pub const NEVER_MS: i64 = i64::MIN;
/// `broker_epoch` when a fetch did not carry one: no broker-epoch check is possible (KIP-903).
pub const NO_BROKER_EPOCH: i64 = -1;

/// `now - then`, safe for `then == NEVER_MS`.
fn elapsed(now_ms: i64, then_ms: i64) -> i64 {
    now_ms.saturating_sub(then_ms)
}

/// What the leader knows about one follower (Kafka's `ReplicaState`, rule F2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerState {
    pub id: i32,
    /// The follower's LEO = the offset of its last fetch (F1); `UNKNOWN_OFFSET` until it fetches.
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    /// Everything below this is fsynced on the follower (reported in every fetch, SPEC §4).
    pub flushed_offset: i64,
    /// The leader's LEO when the previous fetch arrived.
    pub last_fetch_leader_leo: i64,
    pub last_fetch_time_ms: i64,
    pub last_caught_up_time_ms: i64,
    /// The broker epoch carried by the last fetch (`NO_BROKER_EPOCH` if none).
    pub broker_epoch: i64,
}

impl FollowerState {
    /// A follower the leader has not heard from.
    pub fn new(id: i32) -> Self {
        FollowerState {
            id,
            log_end_offset: UNKNOWN_OFFSET,
            log_start_offset: UNKNOWN_OFFSET,
            flushed_offset: UNKNOWN_OFFSET,
            last_fetch_leader_leo: UNKNOWN_OFFSET,
            last_fetch_time_ms: NEVER_MS,
            last_caught_up_time_ms: NEVER_MS,
            broker_epoch: NO_BROKER_EPOCH,
        }
    }

    /// Records a served fetch at `now_ms` whose fetch offset was `fetch_offset`, while the
    /// leader's LEO (sampled before the read, F1) was `leader_leo_at_fetch`.
    ///
    /// `last_caught_up_time_ms` follows F2 exactly:
    /// - the fetch reached the leader's LEO → `max(old, now)`;
    /// - else it reached the leader LEO seen at the previous fetch → `max(old, previous fetch
    ///   time)`: the follower was caught up *as of* the previous fetch, which is what keeps a
    ///   follower that is always one batch behind a steady stream in sync;
    /// - else unchanged, so a follower that never catches up ages out.
    pub fn update_on_fetch(
        &mut self,
        fetch_offset: i64,
        flushed_offset: i64,
        leader_leo_at_fetch: i64,
        now_ms: i64,
    ) {
        if fetch_offset >= leader_leo_at_fetch {
            self.last_caught_up_time_ms = self.last_caught_up_time_ms.max(now_ms);
        } else if fetch_offset >= self.last_fetch_leader_leo {
            self.last_caught_up_time_ms = self.last_caught_up_time_ms.max(self.last_fetch_time_ms);
        }
        self.log_end_offset = fetch_offset;
        // A follower cannot have flushed what it does not have; never trust more than its LEO.
        self.flushed_offset = flushed_offset.min(fetch_offset);
        // Kafka keeps the max: the leader LEO never goes back within one leadership, and a
        // reordered sample must not make the "previous fetch" bar easier to reach.
        self.last_fetch_leader_leo = self.last_fetch_leader_leo.max(leader_leo_at_fetch);
        self.last_fetch_time_ms = now_ms;
    }

    /// F2's "caught up": at the leader's LEO, or caught up within the last `lag_max_ms`.
    pub fn is_caught_up(&self, leader_leo: i64, now_ms: i64, lag_max_ms: i64) -> bool {
        self.log_end_offset == leader_leo
            || elapsed(now_ms, self.last_caught_up_time_ms) <= lag_max_ms
    }

    /// F9 (Replica.resetReplicaState). A new leader knows nothing about the follower's log;
    /// either way an ISR member gets a fresh `lag_max` of grace so that a leadership change
    /// does not shrink the ISR at once, and a non-member must prove itself.
    fn reset(&mut self, is_new_leader: bool, in_isr: bool, leader_leo: i64, now_ms: i64) {
        let caught_up = if in_isr { now_ms } else { NEVER_MS };
        if is_new_leader {
            *self = FollowerState {
                last_caught_up_time_ms: caught_up,
                ..FollowerState::new(self.id)
            };
        } else {
            self.last_fetch_leader_leo = leader_leo;
            self.last_fetch_time_ms = now_ms;
            self.last_caught_up_time_ms = caught_up;
        }
    }
}

/// An ISR change sent to the controller and not answered yet (F4: at most one in flight).
/// Each variant holds the proposed new ISR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingIsrChange {
    Shrink(Vec<i32>),
    Expand(Vec<i32>),
}

/// The controller's view of a broker, as far as ISR eligibility goes (F6, KIP-903).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerView {
    pub broker_epoch: i64,
    pub fenced: bool,
    pub in_controlled_shutdown: bool,
}

/// A follower fetch, as seen by the leader after serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerFetch {
    pub replica_id: i32,
    pub fetch_offset: i64,
    pub log_start_offset: i64,
    pub flushed_offset: i64,
    pub broker_epoch: i64,
    /// The leader's LEO sampled *before* the read (F1).
    pub leader_leo_at_fetch: i64,
}

/// Why a fetch was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchRejected {
    /// The requester is not an assigned replica (`NOT_LEADER_OR_FOLLOWER` on the wire).
    NotAReplica(i32),
    /// The fetch comes from an older incarnation of the broker than the controller knows
    /// (Replica.updateFetchStateOrThrow; `NOT_LEADER_OR_FOLLOWER` on the wire).
    StaleBrokerEpoch {
        replica_id: i32,
        fetch_epoch: i64,
        current_epoch: i64,
    },
}

/// What the controller says about the partition when this broker becomes (or stays) leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAssignment {
    pub my_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// All assigned replicas, this broker included.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub min_insync: i32,
}

/// The leader's replication state for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderReplication {
    pub my_id: i32,
    pub leader_epoch: i32,
    /// Bumped by the controller on every ISR / leader change; stale answers are ignored.
    pub partition_epoch: i32,
    /// The leader's LEO when it took this epoch (E3); a follower must reach it to join (F6).
    pub epoch_start_offset: i64,
    /// The ISR as last accepted by the controller (this broker included).
    pub isr: Vec<i32>,
    pub pending_isr: Option<PendingIsrChange>,
    /// Every assigned replica but this broker.
    pub followers: BTreeMap<i32, FollowerState>,
    /// The controller's view of brokers; a broker missing here is not known to be ineligible
    /// (the controller re-checks eligibility when it validates the AlterPartition, F4).
    pub brokers: BTreeMap<i32, BrokerView>,
    pub high_watermark: i64,
    pub min_insync: i32,
}

impl LeaderReplication {
    /// Becoming leader of a partition this broker did not lead (F9 with a new leader): nothing
    /// is known about the followers' logs, so the HW cannot move until every ISR member has
    /// fetched (H5). `leader_leo` is this replica's LEO, which is also where the new epoch
    /// starts (E3); `high_watermark` is the (follower-lagged) HW it had.
    pub fn new_leader(
        assignment: LeaderAssignment,
        leader_leo: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> Self {
        let LeaderAssignment {
            my_id,
            leader_epoch,
            partition_epoch,
            replicas,
            isr,
            min_insync,
        } = assignment;
        let followers = replicas
            .iter()
            .filter(|&&id| id != my_id)
            .map(|&id| {
                let mut f = FollowerState::new(id);
                f.reset(true, isr.contains(&id), leader_leo, now_ms);
                (id, f)
            })
            .collect();
        LeaderReplication {
            my_id,
            leader_epoch,
            partition_epoch,
            epoch_start_offset: leader_leo,
            isr,
            pending_isr: None,
            followers,
            brokers: BTreeMap::new(),
            // Never above the LEO; a lagged HW from the follower days is fine (it only grows).
            high_watermark: high_watermark.min(leader_leo),
            min_insync,
        }
    }

    /// A new assignment while already leader (Partition.makeLeader on a leader). A new leader
    /// epoch resets follower timing per F9 but keeps their known offsets, and moves the epoch
    /// start to `leader_leo`. The ISR from the controller replaces ours and any in-flight
    /// change is dropped (the controller's state is what counts). Replicas added to or
    /// removed from the assignment get or lose their state. Stale assignments are ignored;
    /// returns whether it was applied.
    pub fn update_assignment(
        &mut self,
        assignment: LeaderAssignment,
        leader_leo: i64,
        now_ms: i64,
    ) -> bool {
        if assignment.my_id != self.my_id
            || assignment.leader_epoch < self.leader_epoch
            || (assignment.leader_epoch == self.leader_epoch
                && assignment.partition_epoch < self.partition_epoch)
        {
            return false;
        }
        let new_epoch = assignment.leader_epoch > self.leader_epoch;
        self.followers
            .retain(|id, _| assignment.replicas.contains(id));
        for &id in &assignment.replicas {
            if id != self.my_id {
                self.followers
                    .entry(id)
                    .or_insert_with(|| FollowerState::new(id));
            }
        }
        if new_epoch {
            for (id, f) in self.followers.iter_mut() {
                f.reset(false, assignment.isr.contains(id), leader_leo, now_ms);
            }
            self.epoch_start_offset = leader_leo;
        }
        self.leader_epoch = assignment.leader_epoch;
        self.partition_epoch = assignment.partition_epoch;
        self.isr = assignment.isr;
        self.min_insync = assignment.min_insync;
        self.pending_isr = None;
        true
    }

    /// Records the controller's view of a broker (for F6 eligibility and fetch fencing).
    pub fn set_broker_view(&mut self, broker_id: i32, view: BrokerView) {
        self.brokers.insert(broker_id, view);
    }

    /// F1/F2: records a served follower fetch. A fetch that reported a diverging epoch (no
    /// data) must not be recorded, nor one that failed (e.g. out of range).
    pub fn record_fetch(
        &mut self,
        fetch: &FollowerFetch,
        now_ms: i64,
    ) -> Result<(), FetchRejected> {
        let current_epoch = self.brokers.get(&fetch.replica_id).map(|b| b.broker_epoch);
        let Some(f) = self.followers.get_mut(&fetch.replica_id) else {
            return Err(FetchRejected::NotAReplica(fetch.replica_id));
        };
        if let Some(current) = current_epoch {
            if fetch.broker_epoch != NO_BROKER_EPOCH && current > fetch.broker_epoch {
                return Err(FetchRejected::StaleBrokerEpoch {
                    replica_id: fetch.replica_id,
                    fetch_epoch: fetch.broker_epoch,
                    current_epoch: current,
                });
            }
        }
        f.update_on_fetch(
            fetch.fetch_offset,
            fetch.flushed_offset,
            fetch.leader_leo_at_fetch,
            now_ms,
        );
        f.log_start_offset = fetch.log_start_offset;
        f.broker_epoch = fetch.broker_epoch;
        Ok(())
    }

    /// The replication factor: the assigned replicas, this broker included.
    pub fn replication_factor(&self) -> usize {
        self.followers.len() + 1
    }

    /// The ISR size below which the HW freezes (P8): min.insync.replicas capped at the
    /// replication factor, the same policy as `PartitionState::effective_min_isr`.
    pub fn effective_min_isr(&self) -> usize {
        (self.min_insync.max(1) as usize).min(self.replication_factor())
    }

    pub fn is_under_min_isr(&self) -> bool {
        self.isr.len() < self.effective_min_isr()
    }

    /// F3: ISR members (but this broker) that are not caught up or unknown. Empty while an ISR
    /// change is in flight, since only one may be (F4).
    pub fn out_of_sync(&self, leader_leo: i64, now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        if self.pending_isr.is_some() {
            return Vec::new();
        }
        self.isr
            .iter()
            .copied()
            .filter(|&id| id != self.my_id)
            .filter(|id| {
                self.followers
                    .get(id)
                    .is_none_or(|f| !f.is_caught_up(leader_leo, now_ms, lag_max_ms))
            })
            .collect()
    }

    /// F3, run every `lag_max_ms / 2`: proposes the ISR without its out-of-sync members and
    /// marks the change pending (the caller sends it to the controller). `None` when nobody
    /// is out of sync or a change is already in flight. The proposal is never empty (KRaft
    /// never records an empty ISR; the leader is never out of sync with itself).
    pub fn propose_shrink(
        &mut self,
        leader_leo: i64,
        now_ms: i64,
        lag_max_ms: i64,
    ) -> Option<Vec<i32>> {
        let out = self.out_of_sync(leader_leo, now_ms, lag_max_ms);
        if out.is_empty() {
            return None;
        }
        let proposed: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|id| !out.contains(id))
            .collect();
        if proposed.is_empty() {
            return None;
        }
        self.pending_isr = Some(PendingIsrChange::Shrink(proposed.clone()));
        Some(proposed)
    }

    /// F6 eligibility (Partition.isReplicaIsrEligible): not fenced, not shutting down, and the
    /// broker epoch of its fetches matches the controller's view, so a restarted broker that
    /// lost data is not re-added on the strength of a fetch from its previous life.
    fn is_eligible(&self, follower: &FollowerState) -> bool {
        match self.brokers.get(&follower.id) {
            None => true,
            Some(view) => {
                !view.fenced
                    && !view.in_controlled_shutdown
                    && (follower.broker_epoch == NO_BROKER_EPOCH
                        || follower.broker_epoch == view.broker_epoch)
            }
        }
    }

    /// F6: the ISR with `follower` added, if it may join now: no change in flight, an
    /// eligible assigned replica outside the ISR, whose LEO is at least the HW (the leader
    /// judges by HW, as followers do) and at least the start of the current epoch (it has
    /// truncated/caught up past the epoch boundary). Does not change any state.
    pub fn expand_candidate(&self, follower: i32) -> Option<Vec<i32>> {
        if self.pending_isr.is_some() || follower == self.my_id || self.isr.contains(&follower) {
            return None;
        }
        let f = self.followers.get(&follower)?;
        let leo = f.log_end_offset;
        if !self.is_eligible(f) || leo < self.high_watermark || leo < self.epoch_start_offset {
            return None;
        }
        let mut proposed = self.isr.clone();
        proposed.push(follower);
        Some(proposed)
    }

    /// [`Self::expand_candidate`], and if it holds, marks the expansion pending: from now on
    /// the follower counts for the HW (F7), and the caller sends the proposal to the controller.
    pub fn propose_expand(&mut self, follower: i32) -> Option<Vec<i32>> {
        let proposed = self.expand_candidate(follower)?;
        self.pending_isr = Some(PendingIsrChange::Expand(proposed.clone()));
        Some(proposed)
    }

    /// The ISR the HW is computed over. A pending shrink still counts the members it would
    /// remove (F5: pessimistic, so a rejected shrink never advanced the HW wrongly); a pending
    /// expansion already counts the new member (F7: only makes the HW stricter).
    pub fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.isr.clone();
        if let Some(PendingIsrChange::Expand(proposed)) = &self.pending_isr {
            for &id in proposed {
                if !isr.contains(&id) {
                    isr.push(id);
                }
            }
        }
        isr
    }

    /// H1 (Partition.maybeIncrementLeaderHW): frozen while the committed ISR is smaller than
    /// the effective min ISR (P8); otherwise the min LEO over the maximal ISR, leader included,
    /// also waiting for a caught-up eligible follower about to join (so it is not outrun
    /// forever). Only ever moves up, never above `leader_leo`. Returns true if it moved.
    pub fn maybe_increment_hw(&mut self, leader_leo: i64, now_ms: i64, lag_max_ms: i64) -> bool {
        if self.is_under_min_isr() {
            return false;
        }
        let maximal = self.maximal_isr();
        // An ISR member without state (the controller named a replica we do not track) has an
        // unknown LEO: nothing can be committed until it is known.
        if maximal
            .iter()
            .any(|id| *id != self.my_id && !self.followers.contains_key(id))
        {
            return false;
        }
        let mut candidate = leader_leo;
        for f in self.followers.values() {
            let counts = maximal.contains(&f.id)
                || (f.is_caught_up(leader_leo, now_ms, lag_max_ms) && self.is_eligible(f));
            if counts && f.log_end_offset < candidate {
                candidate = f.log_end_offset;
            }
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            return true;
        }
        false
    }

    /// The offset below which every member of the (maximal) ISR has fsynced, for the
    /// ISR_FLUSHED durability level. Capped at the HW: a record only counts as ISR-flushed
    /// once it is also committed (which a frozen HW, P8, may prevent).
    pub fn isr_flushed_offset(&self, leader_flushed: i64) -> i64 {
        let mut flushed = leader_flushed;
        for id in self.maximal_isr() {
            if id == self.my_id {
                continue;
            }
            let f = self
                .followers
                .get(&id)
                .map_or(UNKNOWN_OFFSET, |f| f.flushed_offset);
            flushed = flushed.min(f);
        }
        flushed.min(self.high_watermark)
    }

    /// The controller accepted an ISR change (or pushed one): adopt it and clear the pending
    /// change. Answers older than our partition epoch are ignored (returns false). The caller
    /// then re-runs `maybe_increment_hw` (a shrink can let the HW move).
    pub fn apply_isr_change(&mut self, new_isr: Vec<i32>, partition_epoch: i32) -> bool {
        if partition_epoch < self.partition_epoch {
            return false;
        }
        self.isr = new_isr;
        self.partition_epoch = partition_epoch;
        self.pending_isr = None;
        true
    }

    /// The controller rejected the pending change: keep the committed ISR; the next fetch or
    /// expiration run may propose again.
    pub fn reject_pending(&mut self) {
        self.pending_isr = None;
    }
}

/// A follower's next step after an `OffsetsForLeaderEpoch` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncationDecision {
    /// Truncate the log (and epoch cache) to this offset and start fetching from it.
    TruncateTo(i64),
    /// Truncate to `truncate_to`, then ask the leader again about `epoch` (which is then the
    /// follower's latest epoch): the follower held epochs the leader never had (KIP-279).
    AskAgain { epoch: i32, truncate_to: i64 },
}

/// Rule E6 (AbstractFetcherThread.getOffsetTruncationState): given the leader's answer
/// `(leader_epoch L, end_offset O)` for the follower's latest epoch.
///
/// - `O` undefined → keep the fetch offset already chosen, which in Brook is always the LEO
///   (F8: never the HW); the leader only answers undefined when the follower had no epoch
///   to ask about, i.e. an empty log.
/// - `L` undefined with `O` defined (a leader without epoch information) → `min(O, LEO)`.
/// - Otherwise the follower looks up its own end offset for `L`: `(Lf, Of)`:
///   - unknown (empty cache, or `L` above every epoch it has) → `min(O, LEO)`;
///   - `Lf != L`: it never had epoch `L`; everything from its next epoch on diverges →
///     truncate to `min(Of, LEO)` and ask again about `Lf` (multi-round, KIP-279);
///   - else → `min(O, Of, LEO)`. This includes "every epoch the follower has is above `L`",
///     where its end offset is the start of its first epoch: its records there were written
///     in later epochs than the leader's at the same offsets, so they go too.
pub fn truncation_offset(
    leader_answer: (i32, i64),
    follower_cache: &LeaderEpochCache,
    follower_leo: i64,
) -> TruncationDecision {
    let (leader_epoch, end_offset) = leader_answer;
    if end_offset == UNDEFINED_EPOCH_OFFSET || end_offset < 0 {
        return TruncationDecision::TruncateTo(follower_leo);
    }
    if leader_epoch == UNDEFINED_EPOCH || leader_epoch < 0 {
        return TruncationDecision::TruncateTo(end_offset.min(follower_leo));
    }
    let (follower_epoch, follower_end) = follower_cache.end_offset_for(leader_epoch, follower_leo);
    if follower_end == UNDEFINED_EPOCH_OFFSET {
        return TruncationDecision::TruncateTo(end_offset.min(follower_leo));
    }
    if follower_epoch != leader_epoch {
        return TruncationDecision::AskAgain {
            epoch: follower_epoch,
            truncate_to: follower_end.min(follower_leo),
        };
    }
    TruncationDecision::TruncateTo(end_offset.min(follower_end).min(follower_leo))
}

#[cfg(test)]
mod tests {
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
            let lr = LeaderReplication::new_leader(
                assignment(replicas, replicas, min_insync),
                0,
                0,
                now,
            );
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
}
