//! The admin client's GroupLag call (Brook's own, no Kafka equivalent): the group's consumer
//! lag as its coordinator evaluates it with Burrow's rules (the broker's
//! `group_coordinator/lag/` explains them), for `brook lag` and the STATUS column of
//! `brook groups describe`. Sent to the group's coordinator with the same lookup and retries
//! as the other group calls (`admin/groups.rs`).

use brook_proto::v1::{self, GroupLagRequest};

use super::Admin;
use crate::error::{Result, check};
use crate::rpc;

pub use brook_proto::LagStatus;

/// One commit in a partition's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagWindowEntry {
    /// The committed offset.
    pub offset: i64,
    /// When it was committed, ms since the epoch.
    pub timestamp_ms: i64,
    /// The lag at commit time (end offset − offset), if known.
    pub lag: Option<u64>,
}

/// One partition's evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// OK, WARN, STOP, STALL or REWIND.
    pub status: LagStatus,
    /// End offset − the last commit in the window (0 when ahead).
    pub current_lag: u64,
    /// The oldest commit in the window.
    pub start: Option<LagWindowEntry>,
    /// The newest commit in the window.
    pub end: Option<LagWindowEntry>,
    /// The group's committed offset, if any.
    pub committed_offset: Option<i64>,
    /// The latest end offset (high watermark) the coordinator knows, if any.
    pub end_offset: Option<i64>,
    /// The filled share of the window (1.0: full).
    pub complete: f32,
}

/// A group's lag evaluation (Burrow's consumer-group status).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupLag {
    /// The group id.
    pub group_id: String,
    /// NOTFOUND, OK, WARN or ERR.
    pub status: LagStatus,
    /// The share of partitions whose window is full.
    pub complete: f32,
    /// The sum of the partitions' current lags.
    pub total_lag: u64,
    /// The partition with the highest current lag.
    pub max_lag: Option<PartitionLag>,
    /// Every partition with a window, by (topic, partition).
    pub partitions: Vec<PartitionLag>,
}

impl Admin {
    /// The group's consumer lag evaluated by its coordinator with Burrow's rules.
    /// `GROUP_ID_NOT_FOUND` for a group with neither members nor commits; a group whose
    /// coordinator has no commit of it stored yet (new, or after a coordinator failover) is
    /// [`LagStatus::Notfound`] without partitions.
    pub async fn group_lag(&self, group: &str) -> Result<GroupLag> {
        let timeout = self.config.request_timeout;
        self.at_coordinator(group, "GroupLag", |mut c, _| async move {
            let req = GroupLagRequest {
                group_id: group.to_string(),
            };
            let r = rpc::call(timeout, c.group_lag(req)).await?;
            check(
                r.error_code,
                &r.error_message,
                &format!("GroupLag for group {group}"),
            )?;
            Ok(GroupLag {
                group_id: r.group_id,
                status: LagStatus::from_wire(r.status),
                complete: r.complete,
                total_lag: u64::try_from(r.total_lag).unwrap_or(0),
                max_lag: r.max_lag.map(partition),
                partitions: r.partitions.into_iter().map(partition).collect(),
            })
        })
        .await
    }
}

fn partition(p: v1::PartitionLag) -> PartitionLag {
    PartitionLag {
        topic: p.topic,
        partition: p.partition,
        status: LagStatus::from_wire(p.status),
        current_lag: u64::try_from(p.current_lag).unwrap_or(0),
        start: p.start.map(entry),
        end: p.end.map(entry),
        committed_offset: (p.committed_offset >= 0).then_some(p.committed_offset),
        end_offset: (p.end_offset >= 0).then_some(p.end_offset),
        complete: p.complete,
    }
}

fn entry(e: v1::LagWindowEntry) -> LagWindowEntry {
    LagWindowEntry {
        offset: e.offset,
        timestamp_ms: e.timestamp,
        lag: u64::try_from(e.lag).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_print_burrows_names_and_read_burrows_numbers() {
        let names: Vec<String> = (0..=7)
            .map(|v| LagStatus::from_wire(v).to_string())
            .collect();
        assert_eq!(
            names,
            [
                "NOTFOUND", "OK", "WARN", "ERR", "STOP", "STALL", "REWIND", "NOTFOUND"
            ]
        );
        assert_eq!(format!("{:<6}|", LagStatus::Ok), "OK    |");
    }
}
