//! The lag evaluation's shell on the coordinator: [`LagWindows`] behind a mutex, fed from two
//! sides, and the views the RPC and the metrics read.
//!
//! - **Commits**: every OffsetCommit the coordinator stored (`Broker::commit_offsets`) goes into
//!   the windows with its commit timestamp (`Broker::record_lag_commits`). A partition whose
//!   end offset is not known yet gets one at once if this broker leads it (its high watermark);
//!   otherwise the commit is dropped, as in Burrow, and the refresher is woken to fetch it.
//! - **End offsets**: [`run_refresher`] every `group.lag.offset.refresh.ms` fetches the high
//!   watermark (what a consumer can reach; Burrow asks for the broker's latest offset) of every
//!   partition the coordinated groups commit for: this broker's own partitions directly, other
//!   leaders' with one `ListOffsets` (latest) per leader, all leaders at once. A leader that
//!   does not answer leaves its partitions without a sample for that round.
//! - **Ownership**: the windows of groups whose `__consumer_offsets` partition this broker stops
//!   leading go with it ([`GroupCoordinator::unload`] calls [`LagMonitor::unload_partition`]);
//!   deleted groups and topics go too. A new coordinator starts empty (see `lag/mod.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::{ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic};
use tokio::sync::Notify;

use super::{GroupLagEvaluation, GroupLagSummary, LagConfig, LagStatus, LagWindows};
use crate::broker::Broker;
use crate::group_coordinator::GroupCoordinator;
use crate::group_coordinator::groups::GroupState;
use crate::group_coordinator::offsets::{Committed, partition_for};

/// How long one ListOffsets to another leader may take.
const LIST_OFFSETS_TIMEOUT: Duration = Duration::from_secs(5);

/// (topic, partition).
type Tp = (String, i32);

/// The windows of one coordinator and the refresher's wake-up.
#[derive(Debug)]
pub struct LagMonitor {
    windows: Mutex<LagWindows>,
    wake: Notify,
}

impl LagMonitor {
    /// Empty windows with these settings.
    pub fn new(config: LagConfig) -> LagMonitor {
        LagMonitor {
            windows: Mutex::new(LagWindows::new(config)),
            wake: Notify::new(),
        }
    }

    /// The store (a poisoned lock is taken over: the windows stay consistent per call).
    pub fn windows(&self) -> MutexGuard<'_, LagWindows> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the windows of the groups stored in `partition` of `__consumer_offsets` (of
    /// `partitions`): this broker no longer coordinates them.
    pub fn unload_partition(&self, partition: i32, partitions: i32) {
        self.windows()
            .retain_groups(|g| partition_for(g, partitions) != partition);
    }
}

/// A group's evaluation with the committed offsets next to it (the GroupLag answer).
#[derive(Debug, Clone)]
pub struct GroupLagView {
    /// The evaluation.
    pub evaluation: GroupLagEvaluation,
    /// The group's committed offset per partition.
    pub committed: BTreeMap<Tp, i64>,
}

impl GroupCoordinator {
    /// What the `brook_consumergroup_status`, `_totallag` and `_maxlag` gauges show: one entry
    /// per group with stored commits that this broker coordinates, sorted by group, evaluated
    /// at `now_ms`.
    pub fn lag_summaries(&self, now_ms: i64) -> Vec<GroupLagSummary> {
        let w = self.lag.windows();
        w.groups()
            .iter()
            .map(|g| w.evaluate(g, now_ms).summary())
            .collect()
    }

    /// The group's lag evaluation at `now_ms`: INVALID_GROUP_ID, NOT_COORDINATOR or
    /// COORDINATOR_LOAD_IN_PROGRESS as the other group calls, GROUP_ID_NOT_FOUND for a group
    /// with neither members nor commits. A known group without stored commits is NOTFOUND.
    pub fn group_lag(&self, group: &str, now_ms: i64) -> Result<GroupLagView, ErrorCode> {
        self.status(group)?;
        let committed: BTreeMap<Tp, i64> = self
            .fetch(group)
            .into_iter()
            .map(|(t, p, c)| ((t, p), c.offset))
            .collect();
        let evaluation = self.lag.windows().evaluate(group, now_ms);
        let known = evaluation.status != LagStatus::Notfound
            || !committed.is_empty()
            || self
                .describe(group)
                .is_ok_and(|d| d.state != GroupState::Dead);
        if !known {
            return Err(ErrorCode::GroupIdNotFound);
        }
        Ok(GroupLagView {
            evaluation,
            committed,
        })
    }

    /// The partitions whose end offsets the refresher fetches: those with a window, and those
    /// the coordinated groups have committed offsets for.
    fn lag_partitions(&self) -> BTreeSet<Tp> {
        let mut wanted: BTreeSet<Tp> = self.lag.windows().partitions();
        wanted.extend(self.committed_partitions());
        wanted
    }
}

impl Broker {
    /// Feeds stored commits of `group` (committed at `now_ms`) into the lag windows.
    pub(crate) fn record_lag_commits(
        &self,
        group: &str,
        offsets: &[(String, i32, Committed)],
        now_ms: i64,
    ) {
        let lag = &self.coordinator.lag;
        let mut unknown = false;
        {
            let mut w = lag.windows();
            for (t, p, c) in offsets {
                if w.end_offset(t, *p).is_none() {
                    match self.local_end_offset(t, *p) {
                        Some(hw) => w.update_end_offset(t, *p, hw),
                        None => unknown = true,
                    }
                }
                w.record_commit(group, t, *p, c.offset, now_ms);
            }
        }
        if unknown {
            lag.wake.notify_one();
        }
    }

    /// The high watermark of a partition this broker leads.
    fn local_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.replicas
            .get(topic, partition)
            .filter(|p| p.state().is_leader())
            .map(|p| p.high_watermark())
    }
}

/// The end-offset refresher (part of the broker's background set, aborted with it): one round
/// at once, then every `group.lag.offset.refresh.ms`, or sooner when a commit named a partition
/// without an end offset.
pub async fn run_refresher(broker: Arc<Broker>) {
    let every = Duration::from_millis(broker.config.group_lag.offset_refresh_ms.max(1));
    loop {
        refresh(&broker).await;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = broker.coordinator.lag.wake.notified() => {}
        }
    }
}

/// One refresh round.
async fn refresh(broker: &Broker) {
    let wanted = broker.coordinator.lag_partitions();
    let image = broker.image();
    let me = broker.config.node_id;
    let mut found: Vec<(Tp, i64)> = Vec::new();
    let mut remote: BTreeMap<i32, Vec<Tp>> = BTreeMap::new();
    for (t, p) in &wanted {
        match image.partition(t, *p).map(|m| m.leader) {
            Some(l) if l == me => {
                if let Some(hw) = broker.local_end_offset(t, *p) {
                    found.push(((t.clone(), *p), hw));
                }
            }
            Some(l) if l >= 0 => remote.entry(l).or_default().push((t.clone(), *p)),
            _ => {}
        }
    }
    let asked = remote
        .into_iter()
        .map(|(leader, tps)| end_offsets_at(broker, leader, tps));
    for answer in futures_util::future::join_all(asked).await {
        found.extend(answer);
    }
    let mut w = broker.coordinator.lag.windows();
    w.retain_end_offsets(&wanted);
    for ((t, p), end) in found {
        w.update_end_offset(&t, p, end);
    }
}

/// The high watermarks of `tps` at another leader (ListOffsets, latest); partitions that
/// fail are left out.
async fn end_offsets_at(broker: &Broker, leader: i32, tps: Vec<Tp>) -> Vec<(Tp, i64)> {
    let Some(mut client) = crate::replication::leader_client(broker, leader) else {
        return Vec::new();
    };
    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in tps {
        topics.entry(t).or_default().push(p);
    }
    let req = ListOffsetsRequest {
        replica_id: -1,
        topics: topics
            .into_iter()
            .map(|(name, ps)| ListOffsetsTopic {
                name,
                partitions: ps
                    .into_iter()
                    .map(|partition| ListOffsetsPartition {
                        partition,
                        current_leader_epoch: -1,
                        timestamp: -1,
                    })
                    .collect(),
            })
            .collect(),
    };
    let resp = match tokio::time::timeout(LIST_OFFSETS_TIMEOUT, client.list_offsets(req)).await {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(status)) => {
            tracing::debug!(leader, %status, "lag: ListOffsets failed");
            return Vec::new();
        }
        Err(_) => {
            tracing::debug!(leader, "lag: ListOffsets timed out");
            return Vec::new();
        }
    };
    resp.topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions
                .into_iter()
                .filter(|p| p.error_code == 0 && p.offset >= 0)
                .map(move |p| ((name.clone(), p.partition), p.offset))
        })
        .collect()
}
