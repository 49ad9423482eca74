//! A partition's replication state as plain data (`PartitionState`: epochs, replicas, ISR, HW,
//! role) with the checks made on it before an append or a fetch, and the offsets published to
//! waiters. `partition.rs` holds it under its lock and applies it to the log.

use brook_proto::ErrorCode;

use crate::config::TopicConfig;
use crate::error::{BrokerError, Result};
use crate::replica_state::LeaderReplication;

/// Offsets published to waiters on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offsets {
    pub log_start: i64,
    pub log_end: i64,
    pub high_watermark: i64,
    pub leader_epoch: i32,
    pub is_leader: bool,
}

/// What this broker is for the partition.
#[derive(Debug, Clone)]
pub enum Role {
    Leader(Box<LeaderReplication>),
    Follower {
        leader: i32,
    },
    /// Assigned but with no live leader anywhere (offline partition).
    None,
}

/// The partition's replication state as plain data.
#[derive(Debug, Clone)]
pub struct PartitionState {
    pub config: TopicConfig,
    pub my_id: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub high_watermark: i64,
    pub role: Role,
    /// replica.lag.time.max.ms, for the caught-up rule.
    pub lag_max_ms: i64,
}

impl PartitionState {
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    /// Rule P3: with `acks=all`, refuse before appending when the ISR is smaller than
    /// `min.insync.replicas`. (Brook does not cap min.insync at the replication factor as Kafka
    /// does: a topic with RF 1 and min.insync 2 cannot take `acks=all` writes, and says so.)
    pub fn check_min_isr(&self, acks: i32) -> Result<()> {
        if acks == -1 && (self.isr.len() as i32) < self.config.min_insync_replicas {
            return Err(BrokerError::new(
                ErrorCode::NotEnoughReplicas,
                format!(
                    "ISR {:?} is smaller than min.insync.replicas={}",
                    self.isr, self.config.min_insync_replicas
                ),
            ));
        }
        Ok(())
    }

    /// Rule P7's verdict on a parked `acks=all` batch once the HW passed it.
    pub fn committed_verdict(&self) -> Result<()> {
        if (self.isr.len() as i32) < self.config.min_insync_replicas {
            return Err(BrokerError::new(
                ErrorCode::NotEnoughReplicasAfterAppend,
                "the batch is committed but the ISR shrank below min.insync.replicas meanwhile",
            ));
        }
        Ok(())
    }

    /// Checks a requester's view of the leader epoch (`-1` = no check), rule F1.
    pub fn check_epoch(&self, current_leader_epoch: i32) -> Result<()> {
        if current_leader_epoch < 0 || current_leader_epoch == self.leader_epoch {
            Ok(())
        } else if current_leader_epoch < self.leader_epoch {
            Err(BrokerError::new(
                ErrorCode::FencedLeaderEpoch,
                format!(
                    "epoch {current_leader_epoch} is older than {}",
                    self.leader_epoch
                ),
            ))
        } else {
            Err(BrokerError::new(
                ErrorCode::UnknownLeaderEpoch,
                format!(
                    "epoch {current_leader_epoch} is newer than {}",
                    self.leader_epoch
                ),
            ))
        }
    }

    pub(crate) fn not_leader(&self, topic: &str, index: i32) -> BrokerError {
        BrokerError::new(
            ErrorCode::NotLeaderOrFollower,
            format!("{topic}-{index} is not led by this broker"),
        )
    }
}
