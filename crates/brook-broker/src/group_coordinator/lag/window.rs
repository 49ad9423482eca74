//! The lag store, sans-IO (Burrow's `core/internal/storage/inmemory.go`, the parts that shape
//! the window): per (group, topic, partition) the last `intervals` commits with their lag, per
//! (topic, partition) the last `intervals` end offsets, and [`LagWindows::evaluate`] at a
//! `now_ms` passed in. No clock reads, no I/O; the shell (`monitor.rs`) feeds it.
//!
//! Where Burrow does more: it orders commits by their position in `__consumer_offsets`
//! (`Order`) and inserts late arrivals in between ("backfill"); Brook's coordinator feeds
//! commits in the order it stored them, so every commit is the newest and is appended. Groups
//! are not expired after Burrow's `expire-group` (7 days): they go when deleted, or when this
//! broker stops coordinating them.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::rules::{evaluate_group, evaluate_partition};
use super::{GroupLagEvaluation, LagConfig, LagStatus, StoredCommit};

/// (topic, partition).
type Tp = (String, i32);

/// What [`LagWindows::record_commit`] did with a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Stored as the newest entry (the oldest dropped if the window was full).
    Appended,
    /// Closer than `min.distance.ms` to the newest entry: replaced it (its timestamp kept).
    Merged,
    /// No end offset known for the partition yet: not stored (its lag is unknown).
    NoEndOffset,
}

/// Every window this coordinator keeps.
#[derive(Debug)]
pub struct LagWindows {
    config: LagConfig,
    /// The last `intervals` end offsets per partition, oldest first.
    end_offsets: HashMap<Tp, VecDeque<i64>>,
    /// group → partition → the last `intervals` commits, oldest first.
    groups: HashMap<String, BTreeMap<Tp, VecDeque<StoredCommit>>>,
}

impl LagWindows {
    /// An empty store (an `intervals` of 0 is taken as 1).
    pub fn new(mut config: LagConfig) -> LagWindows {
        config.intervals = config.intervals.max(1);
        LagWindows {
            config,
            end_offsets: HashMap::new(),
            groups: HashMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &LagConfig {
        &self.config
    }

    /// The latest end offset known for a partition.
    pub fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.end_offsets
            .get(&(topic.to_string(), partition))
            .and_then(|r| r.back().copied())
    }

    /// One refresh's end offset of a partition (Burrow's `addBrokerOffset`): appended to its
    /// ring of `intervals`, the oldest dropped.
    pub fn update_end_offset(&mut self, topic: &str, partition: i32, end_offset: i64) {
        let ring = self
            .end_offsets
            .entry((topic.to_string(), partition))
            .or_default();
        ring.push_back(end_offset);
        while ring.len() > self.config.intervals {
            ring.pop_front();
        }
    }

    /// An accepted commit (Burrow's `addConsumerOffset`): its lag against the latest end
    /// offset (0 if it is ahead of it), then appended, or merged into the newest entry when
    /// closer than `min.distance.ms` to it.
    pub fn record_commit(
        &mut self,
        group: &str,
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp_ms: i64,
    ) -> CommitOutcome {
        let Some(end) = self.end_offset(topic, partition) else {
            return CommitOutcome::NoEndOffset;
        };
        let lag = u64::try_from(end.saturating_sub(offset)).unwrap_or(0);
        let window = self
            .groups
            .entry(group.to_string())
            .or_default()
            .entry((topic.to_string(), partition))
            .or_default();
        let mut commit = StoredCommit {
            offset,
            timestamp_ms,
            lag: Some(lag),
        };
        // mergeFrequentCommitIntoPrevious: keep the older timestamp, or a consumer committing
        // more often than min-distance would never add an entry.
        if let Some(prev) = window.back_mut() {
            if timestamp_ms.saturating_sub(prev.timestamp_ms) < self.config.min_distance_ms {
                commit.timestamp_ms = prev.timestamp_ms;
                *prev = commit;
                return CommitOutcome::Merged;
            }
        }
        window.push_back(commit);
        while window.len() > self.config.intervals {
            window.pop_front();
        }
        CommitOutcome::Appended
    }

    /// The window of one partition of a group, oldest first.
    pub fn window(&self, group: &str, topic: &str, partition: i32) -> Vec<StoredCommit> {
        self.groups
            .get(group)
            .and_then(|g| g.get(&(topic.to_string(), partition)))
            .map(|w| w.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether any commit of `group` is stored.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// The groups with stored commits, sorted.
    pub fn groups(&self) -> Vec<String> {
        let mut g: Vec<String> = self.groups.keys().cloned().collect();
        g.sort();
        g
    }

    /// Every partition some group has a window for, sorted.
    pub fn partitions(&self) -> BTreeSet<Tp> {
        self.groups
            .values()
            .flat_map(|g| g.keys().cloned())
            .collect()
    }

    /// Forgets a group's windows (deleted, or no longer coordinated here).
    pub fn remove_group(&mut self, group: &str) {
        self.groups.remove(group);
    }

    /// Keeps only the groups `keep` says yes to.
    pub fn retain_groups(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.groups.retain(|g, _| keep(g));
    }

    /// Forgets a deleted topic (windows and end offsets).
    pub fn remove_topic(&mut self, topic: &str) {
        for g in self.groups.values_mut() {
            g.retain(|(t, _), _| t != topic);
        }
        self.groups.retain(|_, g| !g.is_empty());
        self.end_offsets.retain(|(t, _), _| t != topic);
    }

    /// Forgets end offsets of partitions neither in a window nor in `wanted`.
    pub fn retain_end_offsets(&mut self, wanted: &BTreeSet<Tp>) {
        let used = self.partitions();
        self.end_offsets
            .retain(|tp, _| wanted.contains(tp) || used.contains(tp));
    }

    /// The group's evaluation at `now_ms` (Burrow's `fetchConsumer` then
    /// `evaluateConsumerStatus`): NOTFOUND without stored commits.
    pub fn evaluate(&self, group: &str, now_ms: i64) -> GroupLagEvaluation {
        let Some(windows) = self.groups.get(group) else {
            return GroupLagEvaluation {
                group: group.to_string(),
                status: LagStatus::Notfound,
                complete: 1.0,
                total_lag: 0,
                max_lag: None,
                partitions: Vec::new(),
            };
        };
        let partitions: Vec<_> = windows
            .iter()
            .map(|((topic, partition), w)| {
                let stored: Vec<StoredCommit> = w.iter().copied().collect();
                let ends: Vec<i64> = self
                    .end_offsets
                    .get(&(topic.clone(), *partition))
                    .map(|r| r.iter().copied().collect())
                    .unwrap_or_default();
                // fetchConsumer: the current lag is the latest end offset minus the last
                // commit, 0 if the commit is ahead or no end offset is known.
                let current_lag = match (ends.last(), stored.last()) {
                    (Some(&e), Some(c)) => u64::try_from(e.saturating_sub(c.offset)).unwrap_or(0),
                    _ => 0,
                };
                evaluate_partition(
                    topic,
                    *partition,
                    &stored,
                    self.config.intervals,
                    &ends,
                    current_lag,
                    now_ms,
                    self.config.minimum_complete,
                    self.config.allowed_lag,
                )
            })
            .collect();
        let (status, complete, total_lag, max) = evaluate_group(&partitions);
        GroupLagEvaluation {
            group: group.to_string(),
            status,
            complete,
            total_lag,
            max_lag: max.map(|i| partitions[i].clone()),
            partitions,
        }
    }
}
