//! A partition's periodic housekeeping, run by the broker's housekeeping task: idle producer
//! ids expire (I8), producer-state snapshots are written (I7), and segments past retention are
//! deleted below the high watermark (S7).

use brook_log::lock;

use super::Partition;
use crate::error::{BrokerError, Result};
use crate::producer_state::ProducerStateManager;

/// Producer-state snapshots kept per partition.
const SNAPSHOTS_KEPT: usize = 2;

impl Partition {
    /// Drops producer ids idle for `expiration_ms` at `now_ms` (rule I8).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) {
        self.inner().producers.expire(now_ms, expiration_ms);
    }

    /// Writes a producer-state snapshot if the state moved since the last one (or `force`).
    pub fn snapshot_producers(&self, force: bool) -> Result<()> {
        let inner = self.inner();
        let end = inner.producers.map_end_offset();
        let latest = latest_snapshot_offset(&self.dir);
        if force || latest.is_none_or(|l| l < end) {
            inner
                .producers
                .write_snapshot(&self.dir)
                .map_err(|e| BrokerError::Storage(e.to_string()))?;
            ProducerStateManager::clean_snapshots(&self.dir, SNAPSHOTS_KEPT)
                .map_err(|e| BrokerError::Storage(e.to_string()))?;
        }
        Ok(())
    }

    /// Retention below the HW (rule S7). Returns how many segments were deleted.
    pub fn apply_retention(&self) -> Result<usize> {
        let hw = self.inner().state.high_watermark();
        let n = lock(&self.log).delete_old_segments(hw)?;
        if n > 0 {
            let mut inner = self.inner();
            let start = lock(&self.log).log_start_offset();
            if inner.epochs.truncate_from_start(start) {
                inner.epochs.persist(self.fs.as_ref(), &self.dir)?;
            }
            self.publish(&inner.state);
        }
        Ok(n)
    }
}

/// The offset of the newest producer-state snapshot in `dir`.
fn latest_snapshot_offset(dir: &std::path::Path) -> Option<i64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            name.strip_suffix(".snapshot")?.parse::<i64>().ok()
        })
        .max()
}
