//! The rebalance listener (Kafka's `ConsumerRebalanceListener`) and what its callbacks may do
//! ([`RebalanceContext`]). The callbacks run inside `poll` (and `close`), on the application's
//! task, at Kafka's points:
//!
//! - `on_partitions_revoked`: eager protocol — before every rejoin, with every owned
//!   partition; cooperative — after a SyncGroup took partitions away, with only those (not
//!   called when nothing was taken), and on `close` with all of them. Auto-commit (if on) has
//!   committed their positions just before.
//! - `on_partitions_assigned`: after every SyncGroup — eager: the whole assignment;
//!   cooperative: only the partitions added (possibly none).
//! - `on_partitions_lost`: the member's generation ended without a clean revocation (fenced,
//!   session expired, `max.poll.interval.ms` exceeded): the partitions may already belong to
//!   others, so nothing is committed for them.
//!
//! Commits a callback asks for ([`RebalanceContext::commit`]) run as one commit_sync right
//! after it returns, before the rebalance goes on; an error from it is returned by `poll`.

use std::collections::{BTreeMap, VecDeque};

use tracing::warn;

use super::{ConsumerRecord, Position};
use crate::topic_partition::TopicPartition;

/// Called around ownership changes made by group membership. Manual `assign` fires none, as in
/// Kafka. Implementations must be quick: they run inside `poll`.
pub trait ConsumerRebalanceListener: Send {
    /// Before partitions are taken away: the last chance to commit their offsets.
    fn on_partitions_revoked(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        _partitions: &[TopicPartition],
    ) {
    }

    /// After partitions were given to this consumer (seek here if needed).
    fn on_partitions_assigned(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        _partitions: &[TopicPartition],
    ) {
    }

    /// Partitions already owned by someone else. The default calls `on_partitions_revoked`
    /// (Kafka's default); commits asked for here are not sent.
    fn on_partitions_lost(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.on_partitions_revoked(ctx, partitions);
    }
}

/// A listener that does nothing (rebalances still commit if auto-commit is on).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopRebalanceListener;

impl ConsumerRebalanceListener for NoopRebalanceListener {}

/// What a listener callback may do: read positions, ask for commits (run as a commit_sync right
/// after the callback returns, before the rebalance goes on; an error is returned by `poll`),
/// and seek (on assigned partitions).
pub struct RebalanceContext<'a> {
    positions: &'a mut BTreeMap<TopicPartition, Position>,
    buffered: &'a mut BTreeMap<TopicPartition, VecDeque<ConsumerRecord>>,
    last_epochs: &'a mut BTreeMap<TopicPartition, i32>,
    commits: BTreeMap<TopicPartition, i64>,
    generation: i32,
    member_id: &'a str,
}

impl std::fmt::Debug for RebalanceContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RebalanceContext")
            .field("generation", &self.generation)
            .field("member_id", &self.member_id)
            .field("commits", &self.commits)
            .finish_non_exhaustive()
    }
}

impl<'a> RebalanceContext<'a> {
    pub(super) fn new(
        positions: &'a mut BTreeMap<TopicPartition, Position>,
        buffered: &'a mut BTreeMap<TopicPartition, VecDeque<ConsumerRecord>>,
        last_epochs: &'a mut BTreeMap<TopicPartition, i32>,
        generation: i32,
        member_id: &'a str,
    ) -> RebalanceContext<'a> {
        RebalanceContext {
            positions,
            buffered,
            last_epochs,
            commits: BTreeMap::new(),
            generation,
            member_id,
        }
    }

    /// The commits asked for, merged (a later offset for a partition replaces an earlier one).
    pub(super) fn into_commits(self) -> BTreeMap<TopicPartition, i64> {
        self.commits
    }

    /// The position (next offset `poll` returns) of an owned partition, if it has one yet
    /// (newly assigned partitions get theirs from the committed offset at the next `poll`).
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        match self.positions.get(tp) {
            Some(Position::At(o)) => Some(*o),
            _ => None,
        }
    }

    /// Every owned partition that has a position.
    pub fn positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.positions
            .iter()
            .filter_map(|(tp, p)| match p {
                Position::At(o) => Some((tp.clone(), *o)),
                _ => None,
            })
            .collect()
    }

    /// Asks for `offsets` (each the next offset to read) to be committed right after the
    /// callback returns.
    pub fn commit(&mut self, offsets: BTreeMap<TopicPartition, i64>) {
        self.commits.extend(offsets);
    }

    /// Asks for the current positions of `partitions` to be committed (those without a position
    /// are skipped).
    pub fn commit_positions(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(o) = self.position(tp) {
                self.commits.insert(tp.clone(), o);
            }
        }
    }

    /// The next `poll` returns records of `tp` from `offset` on. Only owned partitions can be
    /// sought (in `on_partitions_assigned`, the new ones are owned); others are ignored with a
    /// warning, as is a negative offset.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) {
        if !self.positions.contains_key(tp) || offset < 0 {
            warn!(%tp, offset, "seek in a rebalance callback ignored: not an owned partition or a negative offset");
            return;
        }
        self.buffered.remove(tp);
        self.last_epochs.remove(tp);
        self.positions.insert(tp.clone(), Position::At(offset));
    }

    /// The generation the member is in (-1 when it has none, as in `on_partitions_lost`).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The member id ("" when it has none).
    pub fn member_id(&self) -> &str {
        self.member_id
    }
}
