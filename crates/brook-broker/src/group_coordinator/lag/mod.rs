//! Consumer lag evaluation after LinkedIn's Burrow: is a consumer group keeping up, falling
//! behind, stuck, or gone? A single lag number cannot say ("lag 5000" is fine for a group
//! that reads in large batches and fatal for one that stopped an hour ago); Burrow judges the
//! *history* of a group's commits instead, and so does this module.
//!
//! ## What is kept: a window per (group, topic, partition)
//!
//! Each accepted OffsetCommit becomes a [`StoredCommit`]: the committed offset, the commit's
//! timestamp, and the **lag at commit time** — the partition's latest known end offset (the
//! high watermark, refreshed every `group.lag.offset.refresh.ms`) minus the committed offset,
//! 0 if the commit is ahead of a stale end offset. The window keeps the last
//! `group.lag.window.intervals` commits (Burrow's `intervals`, 10), oldest first. Two storage
//! rules shape it (Burrow's `core/internal/storage/inmemory.go`):
//!
//! - **min distance**: a commit less than `group.lag.window.min.distance.ms` after the newest
//!   stored one *replaces* it (new offset and lag, the older timestamp kept), so a consumer that
//!   commits every 10 ms does not flush the window within 100 ms;
//! - **no end offset yet, no commit**: a commit for a partition whose end offset was never
//!   fetched is dropped (Burrow's "no broker offset"), as its lag cannot be computed.
//!
//! Next to it the last `intervals` end offsets of each partition are kept, one per refresh.
//!
//! ## The rules (`rules.rs`, Burrow's `evaluator/caching.go`)
//!
//! With `current lag` = latest end offset − last committed offset, a partition is:
//!
//! 1. **OK** if the current lag is at most `group.lag.allowed.lag` (0): nothing else is asked.
//! 2. **STOP** if the consumer stopped committing: the time since the last commit is longer
//!    than the whole window spans (last − first commit time) — unless one of the recent end
//!    offsets was at or below the last commit (it was caught up a few refreshes ago).
//! 3. **REWIND** if an offset in the window is below the one before it and the consumer has
//!    not got back to where it was since.
//! 4. Only if the lag was above `allowed.lag` at *every* commit in the window (rule 1 of
//!    Burrow: a window in which it caught up once is fine):
//!    **STALL** if every commit has the same offset (committing, not moving), else
//!    **WARN** if the lag never went down from one commit to the next (moving, but slower than
//!    the producers).
//! 5. Otherwise **OK**.
//!
//! A window not yet full is *incomplete* (`complete` = stored / intervals); windows below
//! `group.lag.minimum.complete` (0: judge at once) stay OK. The **group** is the worst of its
//! partitions, where STOP, STALL and REWIND count as **ERR**; its total lag is the sum of the
//! current lags and the max-lag partition the one with the highest. A group with no stored
//! commits is **NOTFOUND**. Statuses carry Burrow's numbers (NOTFOUND=0 … REWIND=6,
//! [`LagStatus`]).
//!
//! ## Worked example (intervals 5, commits every 100 s)
//!
//! ```text
//! offset  1000  2000  3000  4000  5000      end offset now 5200 → current lag 200
//! lag        0    50   100   150   200      commit times 100 s … 500 s
//! at 600 s: not stopped (100 s since the last commit < 400 s span); lag was 0 once → OK
//! at 901 s: 401 s since the last commit > 400 s span, lag 200, not caught up lately → STOP
//! ```
//!
//! ## Layout
//!
//! ```text
//! mod.rs      the types, this explanation
//! rules.rs    Burrow's rules as pure functions (ported function by function)
//! window.rs   LagWindows: the sans-IO store (windows, end offsets) and evaluate(now_ms)
//! monitor.rs  the shell: commits fed from OffsetCommit, the end-offset refresher, RPC views
//! tests.rs    Burrow's own rule table (caching_test.go) and the storage rules
//! ```
//!
//! Windows live in memory on the group's coordinator: they are dropped when it stops
//! coordinating the group, and a new coordinator (failover, restart) starts them empty — the
//! group is NOTFOUND until its members commit again, and its windows fill from there.

pub mod monitor;
pub mod rules;
#[cfg(test)]
mod tests;
pub mod window;

pub use window::{CommitOutcome, LagWindows};

pub use brook_proto::LagStatus;

/// One commit as the window stores it (Burrow's `ConsumerOffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredCommit {
    /// The committed offset.
    pub offset: i64,
    /// When it was committed (ms since the epoch; with min distance, the older commit's time).
    pub timestamp_ms: i64,
    /// End offset − offset at commit time (0 if ahead). Always set by [`LagWindows`]; `None`
    /// exists for Burrow's rules, which skip commits without a lag.
    pub lag: Option<u64>,
}

/// The settings (broker keys `group.lag.*`, Burrow's names in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct LagConfig {
    /// `group.lag.window.intervals` [storage `intervals`]: commits kept per partition, and
    /// end offsets kept per partition.
    pub intervals: usize,
    /// `group.lag.window.min.distance.ms` [storage `min-distance`, in seconds there]: a commit
    /// closer than this to the newest stored one replaces it.
    pub min_distance_ms: i64,
    /// `group.lag.offset.refresh.ms` [cluster `offset-refresh`]: how often the end offsets of
    /// the partitions groups commit for are fetched.
    pub offset_refresh_ms: u64,
    /// `group.lag.allowed.lag` [evaluator `allowed-lag`]: a lag this small counts as none.
    pub allowed_lag: u64,
    /// `group.lag.minimum.complete` [evaluator `minimum-complete`]: windows filled less than
    /// this share (0.0–1.0) are OK without evaluation.
    pub minimum_complete: f32,
}

impl Default for LagConfig {
    fn default() -> Self {
        LagConfig {
            intervals: 10,
            min_distance_ms: 1000,
            offset_refresh_ms: 10_000,
            allowed_lag: 0,
            minimum_complete: 0.0,
        }
    }
}

/// One partition's evaluation (Burrow's `PartitionStatus`).
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLagEvaluation {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// OK, WARN, STOP, STALL or REWIND.
    pub status: LagStatus,
    /// Latest end offset − last stored commit (0 when ahead or no end offset is known).
    pub current_lag: u64,
    /// The oldest commit in the window.
    pub start: Option<StoredCommit>,
    /// The newest commit in the window.
    pub end: Option<StoredCommit>,
    /// The filled share of the window (1.0 = `intervals` commits stored).
    pub complete: f32,
    /// The latest end offset known, if any.
    pub end_offset: Option<i64>,
}

/// A group's evaluation (Burrow's `ConsumerGroupStatus`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupLagEvaluation {
    /// The group id.
    pub group: String,
    /// NOTFOUND, OK, WARN or ERR.
    pub status: LagStatus,
    /// The share of partitions whose window is complete (0 without partitions).
    pub complete: f32,
    /// The sum of the partitions' current lags.
    pub total_lag: u64,
    /// The partition with the highest current lag.
    pub max_lag: Option<PartitionLagEvaluation>,
    /// Every partition with a window, sorted by (topic, partition).
    pub partitions: Vec<PartitionLagEvaluation>,
}

impl GroupLagEvaluation {
    /// The gauge's view of this evaluation.
    pub fn summary(&self) -> GroupLagSummary {
        GroupLagSummary {
            group: self.group.clone(),
            status: self.status.value(),
            total_lag: i64::try_from(self.total_lag).unwrap_or(i64::MAX),
            max_lag: self
                .max_lag
                .as_ref()
                .map_or(0, |p| i64::try_from(p.current_lag).unwrap_or(i64::MAX)),
            partitions: self
                .partitions
                .iter()
                .map(|p| PartitionLagSummary {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    status: p.status.value(),
                    lag: i64::try_from(p.current_lag).unwrap_or(i64::MAX),
                })
                .collect(),
        }
    }
}

/// What the `brook_consumergroup_*` gauges show for one group
/// ([`GroupCoordinator::lag_summaries`](crate::group_coordinator::GroupCoordinator::lag_summaries)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLagSummary {
    /// The group id (the gauges' `group` label).
    pub group: String,
    /// Burrow's status number: `brook_consumergroup_status`.
    pub status: i64,
    /// `brook_consumergroup_totallag`.
    pub total_lag: i64,
    /// The highest partition lag: `brook_consumergroup_maxlag`.
    pub max_lag: i64,
    /// Each partition with a window: `brook_consumergroup_partition_status` and
    /// `brook_consumergroup_lag`.
    pub partitions: Vec<PartitionLagSummary>,
}

/// What the per-partition group-lag gauges show for one partition of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLagSummary {
    /// The topic (label `topic`).
    pub topic: String,
    /// The partition (label `partition`).
    pub partition: i32,
    /// Burrow's partition status number: `brook_consumergroup_partition_status`.
    pub status: i64,
    /// Latest end offset − last stored commit: `brook_consumergroup_lag`.
    pub lag: i64,
}
