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
    /// The follower's broker id.
    pub id: i32,
    /// The follower's LEO = the offset of its last fetch (F1); `UNKNOWN_OFFSET` until it fetches.
    pub log_end_offset: i64,
    /// The follower's log start offset, as its last fetch reported it; `UNKNOWN_OFFSET` until
    /// it fetches.
    pub log_start_offset: i64,
    /// Everything below this is fsynced on the follower (reported in every fetch, SPEC §4).
    pub flushed_offset: i64,
    /// The leader's LEO when the previous fetch arrived.
    pub last_fetch_leader_leo: i64,
    /// When (ms, the leader's clock) the last fetch was recorded; [`NEVER_MS`] before the first.
    pub last_fetch_time_ms: i64,
    /// The last time (ms) the follower was known caught up with the leader (F2), which the ISR
    /// shrink compares with `replica.lag.time.max.ms` (F3); [`NEVER_MS`] if never.
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
    /// either way an ISR member gets a fresh `replica.lag.time.max.ms` of grace so that a
    /// leadership change does not shrink the ISR at once, and a non-member must prove itself.
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
    /// Out-of-sync members removed (F3); until the controller accepts, the HW still counts
    /// them (F5).
    Shrink(Vec<i32>),
    /// One caught-up follower added (F6); it counts for the HW at once (F7).
    Expand(Vec<i32>),
}

/// The controller's view of a broker, as far as ISR eligibility goes (F6, KIP-903).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerView {
    /// The broker epoch of the broker's current registration; fetches carrying an older one
    /// are from a previous incarnation.
    pub broker_epoch: i64,
    /// Fenced by the controller (session expired, or not yet unfenced): not ISR-eligible.
    pub fenced: bool,
    /// In controlled shutdown: not ISR-eligible.
    pub in_controlled_shutdown: bool,
}

/// A follower fetch, as seen by the leader after serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerFetch {
    /// The fetching follower's broker id.
    pub replica_id: i32,
    /// The offset it fetched from, which is its LEO (F1).
    pub fetch_offset: i64,
    /// Its log start offset.
    pub log_start_offset: i64,
    /// Everything below this is fsynced on the follower.
    pub flushed_offset: i64,
    /// The broker epoch the fetch carried, or [`NO_BROKER_EPOCH`].
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
        /// The fetching follower's broker id.
        replica_id: i32,
        /// The broker epoch the fetch carried.
        fetch_epoch: i64,
        /// The (newer) broker epoch the controller knows for that broker.
        current_epoch: i64,
    },
}

/// What the controller says about the partition when this broker becomes (or stays) leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAssignment {
    /// This broker's id (the leader's).
    pub my_id: i32,
    /// The leader epoch the controller gave this leadership (E3).
    pub leader_epoch: i32,
    /// The partition epoch of that state (F4).
    pub partition_epoch: i32,
    /// All assigned replicas, this broker included.
    pub replicas: Vec<i32>,
    /// The ISR the controller committed.
    pub isr: Vec<i32>,
    /// The topic's `min.insync.replicas`, as configured.
    pub min_insync: i32,
}

/// The leader's replication state for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderReplication {
    /// This broker's id (the leader's).
    pub my_id: i32,
    /// The current leader epoch (E3).
    pub leader_epoch: i32,
    /// Bumped by the controller on every ISR / leader change; stale answers are ignored.
    pub partition_epoch: i32,
    /// The leader's LEO when it took this epoch (E3); a follower must reach it to join (F6).
    pub epoch_start_offset: i64,
    /// The ISR as last accepted by the controller (this broker included).
    pub isr: Vec<i32>,
    /// The ISR change sent to the controller and not answered yet, if any (F4: at most one).
    pub pending_isr: Option<PendingIsrChange>,
    /// Every assigned replica but this broker.
    pub followers: BTreeMap<i32, FollowerState>,
    /// The controller's view of brokers; a broker missing here is not known to be ineligible
    /// (the controller re-checks eligibility when it validates the AlterPartition, F4).
    pub brokers: BTreeMap<i32, BrokerView>,
    /// The high watermark (H1): every offset below it is on every member of the maximal ISR.
    /// Only grows within a leadership.
    pub high_watermark: i64,
    /// The topic's `min.insync.replicas`, as configured (see [`Self::below_min_insync`]).
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

    /// Records the metadata image's view of each replica's broker. A fenced broker's follower
    /// then no longer holds the HW back as a caught-up replica about to join (Kafka's
    /// isReplicaIsrEligible), so the HW moves on as soon as the fencing is applied, not only once
    /// `replica.lag.time.max.ms` has passed.
    pub fn observe_brokers(
        &mut self,
        replicas: &[i32],
        brokers: &BTreeMap<i32, crate::metadata::BrokerMeta>,
    ) {
        for id in replicas {
            if let Some(b) = brokers.get(id) {
                let view = BrokerView {
                    broker_epoch: b.broker_epoch,
                    fenced: b.fenced,
                    in_controlled_shutdown: false,
                };
                self.set_broker_view(*id, view);
            }
        }
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

    /// **The min.insync.replicas rule**, one place for both paths that apply it:
    ///
    /// - *before an `acks=all` append* (P3) and *when a parked `acks=all` batch commits* (P7):
    ///   the committed ISR must hold at least `min.insync.replicas` **as configured**
    ///   ([`Self::below_min_insync`]). Not capped at the replication factor: a topic whose
    ///   min.insync exceeds its RF cannot take `acks=all` writes and says so
    ///   (`NOT_ENOUGH_REPLICAS`) instead of quietly promising more copies than exist;
    /// - *for the high watermark* (P8): the HW freezes while the committed ISR is smaller than
    ///   min.insync **capped at the replication factor** ([`Self::effective_min_isr`],
    ///   Kafka's `Partition.effectiveMinIsr`), so the same misconfiguration does not make
    ///   `acks=1` data invisible to consumers forever.
    ///
    /// With min.insync ≤ RF (every sane topic) the two are the same test.
    pub fn below_min_insync(&self) -> bool {
        (self.isr.len() as i32) < self.min_insync
    }

    /// The ISR size below which the HW freezes (P8): min.insync.replicas capped at the
    /// replication factor. See [`Self::below_min_insync`] for the rule as a whole.
    pub fn effective_min_isr(&self) -> usize {
        (self.min_insync.max(1) as usize).min(self.replication_factor())
    }

    /// P8: whether the HW is frozen because the committed ISR is below [`Self::effective_min_isr`].
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
    AskAgain {
        /// The follower's epoch to ask the leader about next.
        epoch: i32,
        /// Where to truncate before asking (exclusive end of what is kept).
        truncate_to: i64,
    },
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
mod tests;
