//! One partition on this broker: its log, its role (leader, follower, or neither), leader
//! epoch and epoch cache, the leader's view of its followers (ISR, HW), idempotent-producer
//! state, and a watch channel that wakes long-polling fetches and `acks=all` waiters whenever the
//! log end or the high watermark moves.
//!
//! The decisions live in plain code (`replica_state.rs`, `leader_epoch.rs`,
//! `producer_state/`); this file applies them to the log under one lock. The async plumbing
//! (fetchers, AlterPartition, waits) lives in `replica_manager.rs` and `replication.rs`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use brook_log::batch::{self, BatchHeader};
use brook_log::{FlushState, SharedLog, ValidBatch, lock};
use brook_proto::{Durability, ErrorCode};
use bytes::Bytes;
use tokio::sync::watch;

use crate::config::TopicConfig;
use crate::error::{BrokerError, Result};
use crate::leader_epoch::LeaderEpochCache;
use crate::metadata::PartitionMeta;
use crate::metadata_log::now_ms;
use crate::producer_state::{BatchMetadata, ProducerStateManager, Verdict};
use crate::replica_state::{FollowerFetch, LeaderAssignment, LeaderReplication};

pub use crate::partition_state::{Offsets, PartitionState, Role};

/// What a leader append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// A retry of a batch already in the log: nothing was written (rule I3).
    pub duplicate: bool,
    /// The flush policy wants this on disk before it is acknowledged.
    pub flush_required: bool,
    /// The leader epoch the batch was accepted (a duplicate: answered) in.
    pub leader_epoch: i32,
}

/// An ISR change the leader wants the controller to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

#[derive(Debug)]
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub dir: PathBuf,
    log: SharedLog,
    durability: Arc<FlushState>,
    fs: Arc<dyn brook_log::io::FileSystem>,
    state: Mutex<Inner>,
    offsets: watch::Sender<Offsets>,
}

#[derive(Debug)]
struct Inner {
    state: PartitionState,
    producers: ProducerStateManager,
    epochs: LeaderEpochCache,
}

impl Partition {
    pub fn new(
        topic: &str,
        index: i32,
        log: SharedLog,
        state: PartitionState,
        producers: ProducerStateManager,
        epochs: LeaderEpochCache,
        fs: Arc<dyn brook_log::io::FileSystem>,
    ) -> Partition {
        let (dir, durability, offsets) = {
            let l = lock(&log);
            let offsets = Offsets {
                log_start: l.log_start_offset(),
                log_end: l.log_end_offset(),
                high_watermark: state.high_watermark.min(l.log_end_offset()),
                leader_epoch: state.leader_epoch,
                is_leader: state.is_leader(),
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
            fs,
            state: Mutex::new(Inner {
                state,
                producers,
                epochs,
            }),
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

    pub fn high_watermark(&self) -> i64 {
        self.inner().state.high_watermark
    }

    /// Replaces the topic config (AlterConfigs) for the partition and its log.
    pub fn set_config(&self, config: TopicConfig) {
        lock(&self.log).set_config(config.log.clone());
        let mut inner = self.inner();
        if let Role::Leader(l) = &mut inner.state.role {
            l.min_insync = config.min_insync_replicas;
        }
        inner.state.config = config;
    }

    fn publish(&self, state: &PartitionState) {
        let (log_start, log_end) = {
            let l = lock(&self.log);
            (l.log_start_offset(), l.log_end_offset())
        };
        self.offsets.send_replace(Offsets {
            log_start,
            log_end,
            high_watermark: state.high_watermark,
            leader_epoch: state.leader_epoch,
            is_leader: state.is_leader(),
        });
    }

    fn leo(&self) -> i64 {
        lock(&self.log).log_end_offset()
    }

    /// Applies the controller's view of the partition. Returns the leader this broker must
    /// follow now (`Some((leader, epoch))` when a fetcher must (re)start), `None` otherwise.
    pub fn apply_metadata(
        &self,
        meta: &PartitionMeta,
        brokers: &std::collections::BTreeMap<i32, crate::metadata::BrokerMeta>,
    ) -> Result<Option<(i32, i32)>> {
        let mut inner = self.inner();
        let now = now_ms();
        let leo = self.leo();
        let me = inner.state.my_id;
        let st = &mut inner.state;
        let epoch_changed =
            meta.leader_epoch != st.leader_epoch || meta.leader != leader_of(&st.role, me);
        // Stale metadata (an older leader epoch, or an older partition epoch in the same leader
        // epoch, e.g. an ISR change this leader already applied from its AlterPartition answer)
        // must not roll the ISR back.
        if meta.leader_epoch < st.leader_epoch
            || (meta.leader_epoch == st.leader_epoch && meta.partition_epoch < st.partition_epoch)
        {
            return Ok(None);
        }
        st.replicas = meta.replicas.clone();
        st.partition_epoch = meta.partition_epoch;
        let result = if meta.leader == me {
            let assignment = LeaderAssignment {
                my_id: me,
                leader_epoch: meta.leader_epoch,
                partition_epoch: meta.partition_epoch,
                replicas: meta.replicas.clone(),
                isr: meta.isr.clone(),
                min_insync: st.config.min_insync_replicas,
            };
            match &mut st.role {
                Role::Leader(l) if !epoch_changed => {
                    l.update_assignment(assignment, leo, now);
                }
                _ => {
                    // E3: the new epoch starts at our LEO, recorded before any write in it.
                    let hw = st.high_watermark;
                    st.role = Role::Leader(Box::new(LeaderReplication::new_leader(
                        assignment, leo, hw, now,
                    )));
                    inner.epochs.assign(meta.leader_epoch, leo);
                    inner.epochs.persist(self.fs.as_ref(), &self.dir)?;
                    tracing::info!(topic = %self.topic, partition = self.index, epoch = meta.leader_epoch, leo, "became leader");
                }
            }
            None
        } else if meta.leader >= 0 {
            let changed = epoch_changed || !matches!(st.role, Role::Follower { .. });
            st.role = Role::Follower {
                leader: meta.leader,
            };
            if changed {
                tracing::info!(topic = %self.topic, partition = self.index, leader = meta.leader, epoch = meta.leader_epoch, "became follower");
            }
            changed.then_some((meta.leader, meta.leader_epoch))
        } else {
            st.role = Role::None;
            None
        };
        let st = &mut inner.state;
        st.leader_epoch = meta.leader_epoch;
        st.isr = meta.isr.clone();
        if let Role::Leader(l) = &mut st.role {
            l.observe_brokers(&meta.replicas, brokers);
            l.maybe_increment_hw(leo, now, st.lag_max_ms);
            st.high_watermark = st.high_watermark.max(l.high_watermark);
        }
        self.publish(&inner.state);
        Ok(result)
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
        if !inner.state.is_leader() {
            return Err(inner.state.not_leader(&self.topic, self.index));
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
        if h.producer_id >= 0 {
            if !final_attempt {
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
                    leader_epoch: inner.state.leader_epoch,
                });
            }
        }
        let epoch = inner.state.leader_epoch;
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
        let lag = inner.state.lag_max_ms;
        if let Role::Leader(l) = &mut inner.state.role {
            if l.maybe_increment_hw(leo, now_ms(), lag) {
                inner.state.high_watermark = l.high_watermark;
            }
        }
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
        let isr_flushed = match &self.inner().state.role {
            Role::Leader(l) => l.isr_flushed_offset(own_flushed),
            _ => own_flushed,
        };
        match (committed, own_flushed > last_offset) {
            (true, _) if isr_flushed > last_offset => Durability::IsrFlushed,
            (true, _) => Durability::IsrReplicated,
            (false, true) => Durability::LeaderFlushed,
            (false, false) => Durability::LeaderWritten,
        }
    }

    /// Verdict for a parked `acks=all` batch: `None` while it must keep waiting.
    pub fn commit_status(&self, required_offset: i64) -> Option<Result<()>> {
        let inner = self.inner();
        if !inner.state.is_leader() {
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

    /// Reads for a consumer (up to the HW) on the leader.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        current_leader_epoch: i32,
        _for_replica: bool,
    ) -> Result<(Bytes, Offsets)> {
        let hw = {
            let inner = self.inner();
            if !inner.state.is_leader() {
                return Err(inner.state.not_leader(&self.topic, self.index));
            }
            inner.state.check_epoch(current_leader_epoch)?;
            inner.state.high_watermark
        };
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
        let mut inner = self.inner();
        if !inner.state.is_leader() {
            return Err(inner.state.not_leader(&self.topic, self.index));
        }
        inner.state.check_epoch(current_leader_epoch)?;
        let (bytes, log_start, leo) = {
            let log = lock(&self.log);
            (
                log.read_upto(fetch.fetch_offset, max_bytes, i64::MAX)?,
                log.log_start_offset(),
                log.log_end_offset(),
            )
        };
        let now = now_ms();
        let lag = inner.state.lag_max_ms;
        let st = &mut inner.state;
        let mut proposal = None;
        if let Role::Leader(l) = &mut st.role {
            let fetch = FollowerFetch {
                leader_leo_at_fetch: leo,
                ..*fetch
            };
            if let Err(e) = l.record_fetch(&fetch, now) {
                return Err(BrokerError::new(
                    ErrorCode::NotLeaderOrFollower,
                    format!("{e:?}"),
                ));
            }
            if l.maybe_increment_hw(leo, now, lag) {
                st.high_watermark = l.high_watermark;
            }
            if !st.isr.contains(&fetch.replica_id) {
                proposal = l
                    .propose_expand(fetch.replica_id)
                    .map(|new_isr| IsrProposal {
                        leader_epoch: st.leader_epoch,
                        partition_epoch: l.partition_epoch,
                        new_isr,
                    });
            }
        }
        let offsets = Offsets {
            log_start,
            log_end: leo,
            high_watermark: st.high_watermark,
            leader_epoch: st.leader_epoch,
            is_leader: true,
        };
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
        let mut inner = self.inner();
        let lag = inner.state.lag_max_ms;
        let epoch = inner.state.leader_epoch;
        match &mut inner.state.role {
            Role::Leader(l) => l
                .propose_shrink(leo, now_ms(), lag)
                .map(|new_isr| IsrProposal {
                    leader_epoch: epoch,
                    partition_epoch: l.partition_epoch,
                    new_isr,
                }),
            _ => None,
        }
    }

    /// The controller rejected (or never answered) a proposed ISR change.
    pub fn isr_change_failed(&self) {
        if let Role::Leader(l) = &mut self.inner().state.role {
            l.reject_pending();
        }
    }

    /// The controller accepted an ISR change (also arrives later through metadata).
    pub fn isr_changed(&self, isr: Vec<i32>, partition_epoch: i32) {
        let leo = self.leo();
        let mut inner = self.inner();
        let lag = inner.state.lag_max_ms;
        let st = &mut inner.state;
        if let Role::Leader(l) = &mut st.role {
            if l.apply_isr_change(isr.clone(), partition_epoch) {
                st.isr = isr;
                st.partition_epoch = partition_epoch;
                l.maybe_increment_hw(leo, now_ms(), lag);
                st.high_watermark = st.high_watermark.max(l.high_watermark);
            }
        }
        self.publish(&inner.state);
    }

    /// OffsetForLeaderEpoch on the leader (rule E5).
    pub fn end_offset_for_epoch(
        &self,
        current_leader_epoch: i32,
        epoch: i32,
    ) -> Result<(i32, i64)> {
        let inner = self.inner();
        if !inner.state.is_leader() {
            return Err(inner.state.not_leader(&self.topic, self.index));
        }
        inner.state.check_epoch(current_leader_epoch)?;
        Ok(inner.epochs.end_offset_for(epoch, self.leo()))
    }

    /// The follower's latest epoch and its cache (for the truncation dialogue).
    pub fn epoch_cache(&self) -> LeaderEpochCache {
        self.inner().epochs.clone()
    }

    /// Follower: appends batches fetched from the leader and learns the leader's HW (H2).
    /// Returns the last offset appended when the flush policy wants it fsynced now.
    pub fn append_as_follower(
        &self,
        records: &Bytes,
        leader_hw: i64,
        leader_epoch: i32,
    ) -> Result<Option<i64>> {
        let mut inner = self.inner();
        if inner.state.leader_epoch != leader_epoch
            || !matches!(inner.state.role, Role::Follower { .. })
        {
            return Err(BrokerError::new(
                ErrorCode::FencedLeaderEpoch,
                "leadership changed during the fetch",
            ));
        }
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
        let st = &mut inner.state;
        st.high_watermark = st.high_watermark.max(leader_hw.min(leo));
        self.publish(&inner.state);
        Ok(flush)
    }

    /// Whether this broker still follows `leader` in `epoch` (a fetcher's reason to live).
    pub fn follows(&self, leader: i32, epoch: i32) -> bool {
        let inner = self.inner();
        inner.state.leader_epoch == epoch
            && matches!(inner.state.role, Role::Follower { leader: l } if l == leader)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.leo()
    }

    /// Follower: removes everything at and above `offset` (E6), trimming the epoch cache and
    /// rebuilding producer state from the log.
    pub fn truncate_to(&self, offset: i64) -> Result<i64> {
        let mut inner = self.inner();
        let leo = {
            let mut log = lock(&self.log);
            let leo = log.truncate_to(offset)?;
            inner.producers = ProducerStateManager::rebuild(&self.dir, &log)
                .map_err(|e| BrokerError::Storage(e.to_string()))?;
            leo
        };
        if inner.epochs.truncate_from_end(leo) {
            inner.epochs.persist(self.fs.as_ref(), &self.dir)?;
        }
        inner.state.high_watermark = inner.state.high_watermark.min(leo);
        self.publish(&inner.state);
        Ok(leo)
    }

    /// ListOffsets: -2 earliest, -1 latest (HW), else the first offset with timestamp ≥ ts.
    /// Returns (offset, timestamp, leader epoch); the timestamp is the found record's, -1 for
    /// earliest/latest and when no record is that new (Kafka's answer).
    pub fn offset_for(&self, timestamp: i64, current_leader_epoch: i32) -> Result<(i64, i64, i64)> {
        let (hw, epoch) = {
            let inner = self.inner();
            if !inner.state.is_leader() {
                return Err(inner.state.not_leader(&self.topic, self.index));
            }
            inner.state.check_epoch(current_leader_epoch)?;
            (inner.state.high_watermark, inner.state.leader_epoch)
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

    /// Per-replica LEO / lag / flushed offset as the leader knows them (describe).
    pub fn replica_states(&self) -> Vec<(i32, i64, i64, i64)> {
        let leo = self.leo();
        let flushed = self.flushed_offset();
        let inner = self.inner();
        let mut out = vec![(inner.state.my_id, leo, flushed, now_ms())];
        if let Role::Leader(l) = &inner.state.role {
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

fn leader_of(role: &Role, me: i32) -> i32 {
    match role {
        Role::Leader(_) => me,
        Role::Follower { leader } => *leader,
        Role::None => -1,
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
