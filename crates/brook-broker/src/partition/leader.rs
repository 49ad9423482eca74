//! The leader side of a partition: produce appends (P2–P4, I3), the durability an
//! acknowledgement reports, the `acks=all` verdict, consumer and follower reads, ISR proposals,
//! ListOffsets and OffsetForLeaderEpoch. Every request passes [`Partition::leader_guard`] first.

use std::sync::Arc;

use brook_log::batch::BatchHeader;
use brook_log::{ValidBatch, lock};
use brook_proto::{Durability, ErrorCode};
use bytes::Bytes;

use super::{IsrProposal, Offsets, Partition};
use crate::acks::Acks;
use crate::error::{BrokerError, Result};
use crate::producer_state::{BatchMetadata, Verdict};
use crate::replica_state::FollowerFetch;

/// What a leader append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Offset of the batch's last record.
    pub last_offset: i64,
    /// A retry of a batch already in the log: nothing was written (rule I3).
    pub duplicate: bool,
    /// The flush policy wants this on disk before it is acknowledged.
    pub flush_required: bool,
    /// The leader epoch the batch was accepted (a duplicate: answered) in.
    pub leader_epoch: i32,
}

impl Partition {
    /// Appends a producer's batch as leader (rules P2–P4, I3). Nothing is written on any error.
    /// The verdict is the partition state's (leadership, min.insync for `acks=all`), then the
    /// batch's own (base offset 0), then the producer state's
    /// ([`crate::producer_state::ProducerStateManager::verdict`]): unless `final_attempt`, a
    /// batch ahead of its producer's next sequence is [`BrokerError::SequenceAhead`], so the
    /// caller can wait for the batches it overtook.
    pub fn append_as_leader(
        &self,
        records: &Bytes,
        acks: Acks,
        final_attempt: bool,
    ) -> Result<Appended> {
        let mut inner = self.inner();
        inner.state.check_produce(acks).map_err(|e| self.named(e))?;
        let valid = ValidBatch::new(records)?;
        let h: BatchHeader = *valid.header();
        if h.base_offset != 0 {
            return Err(BrokerError::new(
                ErrorCode::InvalidRecord,
                format!(
                    "a producer batch must have base offset 0, not {}",
                    h.base_offset
                ),
            ));
        }
        let epoch = inner.state.leader_epoch();
        if let Verdict::Duplicate(meta) = inner.producers.verdict(&h, !final_attempt)? {
            return Ok(Appended {
                base_offset: meta.first_offset,
                last_offset: meta.last_offset,
                duplicate: true,
                flush_required: false,
                leader_epoch: epoch,
            });
        }
        let (info, leo) = {
            let mut log = lock(&self.log);
            let info = log.append_valid(valid, epoch)?;
            (info, log.log_end_offset())
        };
        if h.producer_id >= 0 {
            inner.producers.update(
                h.producer_id,
                h.producer_epoch,
                BatchMetadata {
                    first_seq: h.base_sequence,
                    last_seq: h.last_sequence(),
                    first_offset: info.base_offset,
                    last_offset: info.last_offset,
                    timestamp: info.max_timestamp,
                },
            );
        }
        inner.state.on_leader_append(leo, self.now_ms());
        self.publish(&inner.state);
        Ok(Appended {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            duplicate: false,
            flush_required: info.flush_required,
            leader_epoch: epoch,
        })
    }

    /// Waits until everything up to `last_offset` is fsynced, sharing fsyncs with every other
    /// waiter (group commit). Waiting takes no thread; only when it is this caller's turn to
    /// fsync does it run one, on a blocking thread.
    pub async fn flush(self: &Arc<Self>, last_offset: i64) -> Result<()> {
        let Some(turn) = self.durability.flush_turn(last_offset + 1).await else {
            return Ok(());
        };
        let log = self.log.clone();
        tokio::task::spawn_blocking(move || turn.run(move || Ok(lock(&log).sync_job())))
            .await
            .map_err(|e| BrokerError::Storage(format!("flush task failed: {e}")))??;
        Ok(())
    }

    /// The strongest durability that holds for a batch ending at `last_offset`.
    pub fn durability_of(&self, last_offset: i64, committed: bool) -> Durability {
        let own_flushed = self.flushed_offset();
        let isr_flushed = self.inner().state.isr_flushed_offset(own_flushed);
        match (committed, own_flushed > last_offset) {
            (true, _) if isr_flushed > last_offset => Durability::IsrFlushed,
            (true, _) => Durability::IsrReplicated,
            (false, true) => Durability::LeaderFlushed,
            (false, false) => Durability::LeaderWritten,
        }
    }

    /// Verdict for a parked `acks=all` batch (rule P7): `None` while it must keep waiting.
    pub fn commit_status(&self, required_offset: i64) -> Option<Result<()>> {
        self.inner().state.commit_status(required_offset)
    }

    /// Reads for a consumer (up to the HW) on the leader.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        current_leader_epoch: i32,
    ) -> Result<(Bytes, Offsets)> {
        let hw = self
            .leader_guard(current_leader_epoch)?
            .state
            .high_watermark();
        let log = lock(&self.log);
        let bytes = log.read_upto(offset, max_bytes, hw)?;
        let offsets = Offsets {
            log_start: log.log_start_offset(),
            log_end: log.log_end_offset(),
            high_watermark: hw,
            ..self.offsets()
        };
        Ok((bytes, offsets))
    }

    /// A follower's fetch on the leader (rules F1, F2, F6, H1): records what the follower has,
    /// moves the HW, and returns the data up to the LEO plus any ISR expansion to propose.
    pub fn read_for_replica(
        &self,
        fetch: &FollowerFetch,
        current_leader_epoch: i32,
        max_bytes: usize,
    ) -> Result<(Bytes, Offsets, Option<IsrProposal>)> {
        let mut inner = self.leader_guard(current_leader_epoch)?;
        let (bytes, log_start, leo) = {
            let log = lock(&self.log);
            (
                log.read_upto(fetch.fetch_offset, max_bytes, i64::MAX)?,
                log.log_start_offset(),
                log.log_end_offset(),
            )
        };
        let proposal = inner
            .state
            .record_follower_fetch(fetch, leo, self.now_ms())?;
        let offsets = inner.state.offsets(log_start, leo);
        let publish = offsets != self.offsets();
        drop(inner);
        if publish {
            self.offsets.send_replace(offsets);
        }
        Ok((bytes, offsets, proposal))
    }

    /// Rule F3: the ISR shrink the leader should propose now, if any.
    pub fn propose_shrink(&self) -> Option<IsrProposal> {
        let leo = self.leo();
        let now = self.now_ms();
        self.inner().state.propose_shrink(leo, now)
    }

    /// The controller rejected (or never answered) a proposed ISR change.
    pub fn isr_change_failed(&self) {
        self.inner().state.isr_change_failed();
    }

    /// The controller accepted an ISR change (also arrives later through metadata).
    pub fn isr_changed(&self, isr: Vec<i32>, partition_epoch: i32) {
        let leo = self.leo();
        let mut inner = self.inner();
        inner
            .state
            .isr_changed(isr, partition_epoch, leo, self.now_ms());
        self.publish(&inner.state);
    }

    /// OffsetForLeaderEpoch on the leader (rule E5).
    pub fn end_offset_for_epoch(
        &self,
        current_leader_epoch: i32,
        epoch: i32,
    ) -> Result<(i32, i64)> {
        let inner = self.leader_guard(current_leader_epoch)?;
        Ok(inner.epochs.end_offset_for(epoch, self.leo()))
    }

    /// ListOffsets: -2 earliest, -1 latest (HW), else the first offset with timestamp ≥ ts.
    /// Returns (offset, timestamp, leader epoch); the timestamp is the found record's, -1 for
    /// earliest/latest and when no record is that new (Kafka's answer).
    pub fn offset_for(&self, timestamp: i64, current_leader_epoch: i32) -> Result<(i64, i64, i64)> {
        let (hw, epoch) = {
            let inner = self.leader_guard(current_leader_epoch)?;
            (inner.state.high_watermark(), inner.state.leader_epoch())
        };
        let log = lock(&self.log);
        let (offset, found) = match timestamp {
            -2 => (log.log_start_offset(), -1),
            -1 => (hw, -1),
            ts => match log.offset_for_timestamp(ts)? {
                Some((o, t)) if o < hw => (o, t),
                _ => (-1, -1),
            },
        };
        Ok((offset, found, epoch as i64))
    }

    /// Per-replica (id, LEO, flushed offset, last caught-up time) as the leader knows them
    /// (describe); this broker first.
    pub fn replica_states(&self) -> Vec<(i32, i64, i64, i64)> {
        let leo = self.leo();
        let flushed = self.flushed_offset();
        let inner = self.inner();
        let mut out = vec![(inner.state.my_id(), leo, flushed, self.now_ms())];
        if let Some(l) = inner.state.leader() {
            for f in l.followers.values() {
                out.push((
                    f.id,
                    f.log_end_offset,
                    f.flushed_offset,
                    f.last_caught_up_time_ms,
                ));
            }
        }
        out
    }
}
