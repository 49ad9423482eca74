//! One partition on this broker: its log, its role (leader or not), leader epoch, ISR, high
//! watermark and idempotent-producer state, plus a watch channel that wakes long-polling fetches
//! and `acks=all` waiters whenever the log end or the high watermark moves.
//!
//! The decisions (may this batch be appended? where is the HW now? which durability held?) are
//! plain methods over [`PartitionState`]; the async plumbing lives in `replica_manager.rs`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use brook_log::batch::BatchHeader;
use brook_log::{FlushState, SharedLog, ValidBatch, lock};
use brook_proto::{Durability, ErrorCode};
use bytes::Bytes;
use tokio::sync::watch;

use crate::config::TopicConfig;
use crate::error::{BrokerError, Result};
use crate::producer_state::{BatchMetadata, ProducerStateManager, Verdict};

/// Offsets published to waiters on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offsets {
    pub log_start: i64,
    pub log_end: i64,
    pub high_watermark: i64,
    pub leader_epoch: i32,
    pub is_leader: bool,
}

/// The partition's replication state: plain data, no I/O.
#[derive(Debug, Clone)]
pub struct PartitionState {
    pub config: TopicConfig,
    pub is_leader: bool,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub high_watermark: i64,
}

impl PartitionState {
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

    /// The ISR size below which the HW freezes (rule P8): min.insync.replicas, capped at the
    /// replication factor so that an under-replicated topic can still make acks=1 data visible.
    fn effective_min_isr(&self) -> usize {
        (self.config.min_insync_replicas.max(1) as usize).min(self.replicas.len().max(1))
    }

    /// Rule H1: HW = min LEO over the ISR, never backwards, frozen while |ISR| < min ISR.
    /// `isr_leos` yields the LEO of every ISR member (the leader's own included).
    pub fn maybe_increment_hw(&mut self, isr_leos: impl Iterator<Item = i64>) -> bool {
        if self.isr.len() < self.effective_min_isr() {
            return false;
        }
        let Some(candidate) = isr_leos.min() else {
            return false;
        };
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            return true;
        }
        false
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

    /// Checks a requester's view of the leader epoch (`-1` = no check).
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
}

/// What a leader append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// A retry of a batch already in the log: nothing was written (rule I3).
    pub duplicate: bool,
    /// The flush policy wants this on disk before it is acknowledged.
    pub flush_required: bool,
}

#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub dir: PathBuf,
    log: SharedLog,
    durability: Arc<FlushState>,
    state: Mutex<Inner>,
    offsets: watch::Sender<Offsets>,
}

#[derive(Debug)]
struct Inner {
    state: PartitionState,
    producers: ProducerStateManager,
}

impl Partition {
    pub fn new(
        topic: &str,
        index: i32,
        log: SharedLog,
        state: PartitionState,
        producers: ProducerStateManager,
    ) -> Partition {
        let (dir, durability, offsets) = {
            let l = lock(&log);
            let offsets = Offsets {
                log_start: l.log_start_offset(),
                log_end: l.log_end_offset(),
                high_watermark: state.high_watermark.min(l.log_end_offset()),
                leader_epoch: state.leader_epoch,
                is_leader: state.is_leader,
            };
            (l.dir().to_path_buf(), l.durability(), offsets)
        };
        let mut state = state;
        state.high_watermark = offsets.high_watermark;
        Partition {
            topic: topic.to_string(),
            index,
            dir,
            log,
            durability,
            state: Mutex::new(Inner { state, producers }),
            offsets: watch::Sender::new(offsets),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self) -> &SharedLog {
        &self.log
    }

    pub fn state(&self) -> PartitionState {
        self.inner().state.clone()
    }

    pub fn offsets(&self) -> Offsets {
        *self.offsets.borrow()
    }

    /// A receiver that sees every change of LEO / HW / leadership.
    pub fn subscribe(&self) -> watch::Receiver<Offsets> {
        self.offsets.subscribe()
    }

    pub fn flushed_offset(&self) -> i64 {
        self.durability.flushed_offset()
    }

    /// Replaces the topic config (AlterConfigs) for the partition and its log.
    pub fn set_config(&self, config: TopicConfig) {
        lock(&self.log).set_config(config.log.clone());
        self.inner().state.config = config;
    }

    /// Appends a producer's batch as leader (rules P2–P4, I3). Nothing is written on any error.
    /// Unless `final_attempt`, an idempotent batch that is *ahead* of its producer's next
    /// sequence (or the first batch seen from a producer, at a sequence above 0) is answered
    /// with [`BrokerError::SequenceAhead`] so the caller can wait for the batches it overtook.
    pub fn append_as_leader(
        &self,
        records: &Bytes,
        acks: i32,
        final_attempt: bool,
    ) -> Result<Appended> {
        let mut inner = self.inner();
        if !inner.state.is_leader {
            return Err(BrokerError::new(
                ErrorCode::NotLeaderOrFollower,
                format!("{}-{} is not led by this broker", self.topic, self.index),
            ));
        }
        inner.state.check_min_isr(acks)?;
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
        if h.producer_id >= 0 && !final_attempt {
            let ahead = match inner.producers.entry(h.producer_id) {
                None => h.base_sequence > 0,
                Some(e) => {
                    e.epoch == h.producer_epoch
                        && e.find_duplicate(h.base_sequence, h.last_sequence())
                            .is_none()
                        && h.base_sequence > e.next_expected_seq()
                }
            };
            if ahead {
                return Err(BrokerError::SequenceAhead(format!(
                    "producer {} sequence {} is ahead of the next expected one",
                    h.producer_id, h.base_sequence
                )));
            }
        }
        if h.producer_id >= 0 {
            let verdict = inner
                .producers
                .check(
                    h.producer_id,
                    h.producer_epoch,
                    h.base_sequence,
                    h.last_sequence(),
                )
                .map_err(|e| {
                    let code = match e.kafka_name() {
                        "INVALID_PRODUCER_EPOCH" => ErrorCode::InvalidProducerEpoch,
                        "OUT_OF_ORDER_SEQUENCE_NUMBER" => ErrorCode::OutOfOrderSequenceNumber,
                        _ => ErrorCode::KafkaStorageError,
                    };
                    BrokerError::new(code, e.to_string())
                })?;
            if let Verdict::Duplicate(meta) = verdict {
                return Ok(Appended {
                    base_offset: meta.first_offset,
                    last_offset: meta.last_offset,
                    duplicate: true,
                    flush_required: false,
                });
            }
        }
        let epoch = inner.state.leader_epoch;
        let (info, leo, log_start) = {
            let mut log = lock(&self.log);
            let info = log.append_valid(valid, epoch)?;
            (info, log.log_end_offset(), log.log_start_offset())
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
        // Followers' LEOs are not tracked yet (single broker): the leader is the whole ISR
        // when it is alone; with more replicas the HW waits for them.
        let single = inner.state.isr.len() <= 1;
        if single {
            inner.state.maybe_increment_hw(std::iter::once(leo));
        }
        self.publish(&inner.state, log_start, leo);
        Ok(Appended {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            duplicate: false,
            flush_required: info.flush_required,
        })
    }

    fn publish(&self, state: &PartitionState, log_start: i64, log_end: i64) {
        self.offsets.send_replace(Offsets {
            log_start,
            log_end,
            high_watermark: state.high_watermark,
            leader_epoch: state.leader_epoch,
            is_leader: state.is_leader,
        });
    }

    /// Blocks until everything up to `last_offset` is fsynced, sharing fsyncs with every other
    /// waiter (group commit). Call from a blocking thread.
    pub fn wait_flushed(&self, last_offset: i64) -> Result<()> {
        let log = self.log.clone();
        self.durability
            .wait_flushed(last_offset + 1, move || Ok(lock(&log).sync_job()))?;
        Ok(())
    }

    /// The strongest durability that holds for a batch ending at `last_offset`.
    pub fn durability_of(&self, last_offset: i64, committed: bool) -> Durability {
        let flushed = self.flushed_offset() > last_offset;
        match (committed, flushed) {
            // Single broker: the ISR's flushed watermark is the leader's own.
            (true, true) => Durability::IsrFlushed,
            (true, false) => Durability::IsrReplicated,
            (false, true) => Durability::LeaderFlushed,
            (false, false) => Durability::LeaderWritten,
        }
    }

    /// Verdict for a parked `acks=all` batch: `None` while it must keep waiting.
    pub fn commit_status(&self, required_offset: i64) -> Option<Result<()>> {
        let inner = self.inner();
        if !inner.state.is_leader {
            return Some(Err(BrokerError::new(
                ErrorCode::NotLeaderOrFollower,
                "leadership moved while the batch waited",
            )));
        }
        if inner.state.high_watermark >= required_offset {
            return Some(inner.state.committed_verdict());
        }
        None
    }

    /// Reads for a consumer (`upper` = HW) or a replica (`upper` = LEO).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        current_leader_epoch: i32,
        for_replica: bool,
    ) -> Result<(Bytes, Offsets)> {
        let state = {
            let inner = self.inner();
            if !inner.state.is_leader {
                return Err(BrokerError::new(
                    ErrorCode::NotLeaderOrFollower,
                    format!("{}-{} is not led by this broker", self.topic, self.index),
                ));
            }
            inner.state.check_epoch(current_leader_epoch)?;
            inner.state.high_watermark
        };
        let log = lock(&self.log);
        let upper = if for_replica { i64::MAX } else { state };
        let bytes = log.read_upto(offset, max_bytes, upper)?;
        let offsets = Offsets {
            log_start: log.log_start_offset(),
            log_end: log.log_end_offset(),
            high_watermark: state,
            ..self.offsets()
        };
        Ok((bytes, offsets))
    }

    /// ListOffsets: -2 earliest, -1 latest (HW), else the first offset with timestamp ≥ ts.
    pub fn offset_for(&self, timestamp: i64, current_leader_epoch: i32) -> Result<(i64, i64)> {
        let (hw, epoch) = {
            let inner = self.inner();
            if !inner.state.is_leader {
                return Err(BrokerError::new(
                    ErrorCode::NotLeaderOrFollower,
                    "not the leader",
                ));
            }
            inner.state.check_epoch(current_leader_epoch)?;
            (inner.state.high_watermark, inner.state.leader_epoch)
        };
        let log = lock(&self.log);
        let offset = match timestamp {
            -2 => log.log_start_offset(),
            -1 => hw,
            ts => match log.offset_for_timestamp(ts)? {
                Some(o) if o < hw => o,
                _ => -1,
            },
        };
        Ok((offset, epoch as i64))
    }

    /// Drops idle producer ids (rule I8).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) {
        self.inner().producers.expire(now_ms, expiration_ms);
    }

    /// Writes a producer-state snapshot if the state moved since the last one.
    pub fn snapshot_producers(&self, force: bool) -> Result<()> {
        let inner = self.inner();
        let end = inner.producers.map_end_offset();
        let latest = latest_snapshot_offset(&self.dir);
        if force || latest.is_none_or(|l| l < end) {
            inner
                .producers
                .write_snapshot(&self.dir)
                .map_err(|e| BrokerError::Storage(e.to_string()))?;
            ProducerStateManager::clean_snapshots(&self.dir, 2)
                .map_err(|e| BrokerError::Storage(e.to_string()))?;
        }
        Ok(())
    }

    /// Retention below the HW (rule S7).
    pub fn apply_retention(&self) -> Result<usize> {
        let hw = self.inner().state.high_watermark;
        let mut log = lock(&self.log);
        let n = log.delete_old_segments(hw)?;
        if n > 0 {
            let (start, end) = (log.log_start_offset(), log.log_end_offset());
            drop(log);
            self.publish(&self.inner().state, start, end);
        }
        Ok(n)
    }

    pub fn high_watermark(&self) -> i64 {
        self.inner().state.high_watermark
    }
}

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
