//! The follower side of a partition: appending what the leader sent (learning its HW, H2, and
//! the epochs and producer state carried in the batches, I6), and truncation after the epoch
//! dialogue (E6).

use brook_log::{batch, lock};
use bytes::Bytes;

use super::Partition;
use crate::error::{BrokerError, Result};
use crate::events::{Event, TruncationCause};
use crate::leader_epoch::LeaderEpochCache;
use crate::producer_state::ProducerStateManager;

impl Partition {
    /// Appends batches fetched from the leader in `leader_epoch` and learns the leader's HW
    /// (H2). Returns the last offset appended when the flush policy wants it fsynced now.
    pub fn append_as_follower(
        &self,
        records: &Bytes,
        leader_hw: i64,
        leader_epoch: i32,
    ) -> Result<Option<i64>> {
        let mut inner = self.inner();
        inner.state.check_follower(leader_epoch)?;
        let mut flush = None;
        if !records.is_empty() {
            let info = lock(&self.log).append_replicated(records)?;
            if info.flush_required {
                flush = Some(info.last_offset);
            }
            let mut epochs_changed = false;
            for item in batch::batches(records) {
                let (_, h) = item?;
                epochs_changed |= inner.epochs.assign(h.partition_leader_epoch, h.base_offset);
                inner.producers.update_from_header(&h);
            }
            if epochs_changed {
                inner.epochs.persist(self.fs.as_ref(), &self.dir)?;
            }
        }
        let leo = self.leo();
        inner.state.learn_leader_hw(leader_hw, leo);
        self.publish(&inner.state);
        Ok(flush)
    }

    /// Whether this broker still follows `leader` in `epoch` (a fetcher's reason to live).
    pub fn follows(&self, leader: i32, epoch: i32) -> bool {
        self.inner().state.follows(leader, epoch)
    }

    /// The epoch cache (the follower's side of the truncation dialogue).
    pub fn epoch_cache(&self) -> LeaderEpochCache {
        self.inner().epochs.clone()
    }

    /// Removes everything at and above `offset` (E6), trimming the epoch cache and rebuilding
    /// producer state from the log; `why` goes into the truncation event. Returns the new log
    /// end offset.
    pub fn truncate_to(&self, offset: i64, why: TruncationCause) -> Result<i64> {
        let mut inner = self.inner();
        let leo = {
            let mut log = lock(&self.log);
            let from = log.log_end_offset();
            let leo = log.truncate_to(offset)?;
            if leo < from {
                let (partition, broker) = (self.name(), inner.state.my_id());
                Event::Truncation {
                    partition,
                    broker,
                    from,
                    to: leo,
                    cause: why,
                }
                .log();
            }
            inner.producers = ProducerStateManager::rebuild(&self.dir, &log)
                .map_err(|e| BrokerError::Storage(e.to_string()))?;
            leo
        };
        if inner.epochs.truncate_from_end(leo) {
            inner.epochs.persist(self.fs.as_ref(), &self.dir)?;
        }
        inner.state.truncated_to(leo);
        self.publish(&inner.state);
        Ok(leo)
    }
}
