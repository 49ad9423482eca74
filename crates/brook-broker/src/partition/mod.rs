//! One partition on this broker: its log, its replication state, its epoch cache and
//! idempotent-producer state under one lock, and a watch channel that wakes long-polling
//! fetches and `acks=all` waiters whenever the log end or the high watermark moves.
//!
//! This is the I/O shell around plain decisions: [`state::PartitionState`] (role, epochs, ISR,
//! HW, the min.insync rule), `replica_state/` (the leader's view of its followers),
//! `leader_epoch.rs` and `producer_state/`. Each method here takes the lock, asks the state what
//! to do (with the log end offset and the time), does the I/O (log append, epoch-cache
//! persist, snapshot) and publishes the new offsets. The async plumbing (fetchers,
//! AlterPartition, waits) lives in `replica_manager.rs`, `produce.rs` and `replication.rs`.
//!
//! ```text
//! mod.rs           the struct, loading, metadata, the guard and publishing
//! leader.rs        the leader side: produce appends, durability, consumer and follower reads,
//!                  ISR proposals, ListOffsets, OffsetForLeaderEpoch
//! follower.rs      the follower side: replicated appends, truncation
//! housekeeping.rs  producer expiry and snapshots, retention
//! state.rs         the replication state as plain data (sans-IO, with its tests)
//! ```

mod follower;
mod housekeeping;
mod leader;
pub mod state;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use brook_log::{Clock, FlushState, SharedLog, lock};
use tokio::sync::watch;

use crate::config::TopicConfig;
use crate::error::{BrokerError, Result};
use crate::events::{EpochRole, Event};
use crate::leader_epoch::LeaderEpochCache;
use crate::metadata::{BrokerMeta, PartitionMeta};
use crate::producer_state::ProducerStateManager;

pub use leader::Appended;
pub use state::{IsrProposal, MetadataChange, Offsets, PartitionState, ReplicaView, Role};

/// One hosted partition. Shared (`Arc`) by the replica manager, fetchers and waiters.
#[derive(Debug)]
pub struct Partition {
    /// The topic's name.
    pub topic: String,
    /// The partition index.
    pub index: i32,
    /// The partition's log directory.
    pub dir: PathBuf,
    log: SharedLog,
    durability: Arc<FlushState>,
    fs: Arc<dyn brook_log::io::FileSystem>,
    clock: Arc<dyn Clock>,
    state: Mutex<Inner>,
    offsets: watch::Sender<Offsets>,
}

/// Everything the partition lock guards.
#[derive(Debug)]
struct Inner {
    state: PartitionState,
    producers: ProducerStateManager,
    epochs: LeaderEpochCache,
}

/// What a partition is made of when it is loaded.
#[derive(Debug)]
pub struct PartitionParts {
    /// The open log.
    pub log: SharedLog,
    /// The replication state to start from (no role yet, HW from the checkpoint).
    pub state: PartitionState,
    /// Producer state rebuilt from snapshots and the log.
    pub producers: ProducerStateManager,
    /// The leader-epoch cache, loaded or rebuilt.
    pub epochs: LeaderEpochCache,
    /// The file system the broker writes through (fault-injecting in the embedded cluster).
    pub fs: Arc<dyn brook_log::io::FileSystem>,
    /// The broker's clock (`BrokerEnv::clock`).
    pub clock: Arc<dyn Clock>,
}

impl Partition {
    /// Assembles a loaded partition; its role comes with the next metadata.
    pub fn new(topic: &str, index: i32, parts: PartitionParts) -> Partition {
        let PartitionParts {
            log,
            state,
            producers,
            epochs,
            fs,
            clock,
        } = parts;
        let (dir, durability, offsets) = {
            let l = lock(&log);
            let offsets = state.offsets(l.log_start_offset(), l.log_end_offset());
            (l.dir().to_path_buf(), l.durability(), offsets)
        };
        Partition {
            topic: topic.to_string(),
            index,
            dir,
            log,
            durability,
            fs,
            clock,
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

    /// **The guard** of every leader-side request: the lock, once [`PartitionState::check_leader`]
    /// passed (this broker leads, in the epoch the requester names; -1 = any).
    fn leader_guard(&self, current_leader_epoch: i32) -> Result<MutexGuard<'_, Inner>> {
        let inner = self.inner();
        match inner.state.check_leader(current_leader_epoch) {
            Ok(_) => Ok(inner),
            Err(e) => Err(self.named(e)),
        }
    }

    /// Names the partition in a NOT_LEADER_OR_FOLLOWER message.
    fn named(&self, e: BrokerError) -> BrokerError {
        match e.code() {
            brook_proto::ErrorCode::NotLeaderOrFollower => BrokerError::new(
                e.code(),
                format!("{}-{} is not led by this broker", self.topic, self.index),
            ),
            _ => e,
        }
    }

    /// `topic-index`, as events and messages name the partition.
    pub fn name(&self) -> String {
        format!("{}-{}", self.topic, self.index)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The partition's log.
    pub fn log(&self) -> &SharedLog {
        &self.log
    }

    /// A copy of the replication state.
    pub fn state(&self) -> PartitionState {
        self.inner().state.clone()
    }

    /// The offsets last published.
    pub fn offsets(&self) -> Offsets {
        *self.offsets.borrow()
    }

    /// A receiver that sees every change of LEO / HW / leadership.
    pub fn subscribe(&self) -> watch::Receiver<Offsets> {
        self.offsets.subscribe()
    }

    /// Everything below this offset is fsynced on this broker.
    pub fn flushed_offset(&self) -> i64 {
        self.durability.flushed_offset()
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.inner().state.high_watermark()
    }

    /// The log end offset.
    pub fn log_end_offset(&self) -> i64 {
        self.leo()
    }

    /// Replaces the topic config (AlterConfigs) for the partition and its log.
    pub fn set_config(&self, config: TopicConfig) {
        lock(&self.log).set_config(config.log.clone());
        self.inner().state.set_config(config);
    }

    fn publish(&self, state: &PartitionState) {
        let (log_start, log_end) = {
            let l = lock(&self.log);
            (l.log_start_offset(), l.log_end_offset())
        };
        self.offsets.send_replace(state.offsets(log_start, log_end));
    }

    fn leo(&self) -> i64 {
        lock(&self.log).log_end_offset()
    }

    /// Applies the controller's view of the partition. Returns the leader this broker must
    /// follow now (`Some((leader, epoch))` when a fetcher must (re)start), `None` otherwise.
    pub fn apply_metadata(
        &self,
        meta: &PartitionMeta,
        brokers: &std::collections::BTreeMap<i32, BrokerMeta>,
    ) -> Result<Option<(i32, i32)>> {
        let mut inner = self.inner();
        let leo = self.leo();
        let old_epoch = inner.state.leader_epoch();
        let change = inner
            .state
            .apply_metadata(meta, brokers, leo, self.now_ms());
        let follow = match change {
            MetadataChange::Stale => return Ok(None),
            MetadataChange::Applied => None,
            MetadataChange::BecameLeader {
                epoch,
                start_offset,
            } => {
                // E3: the epoch is recorded before any write in it.
                inner.epochs.assign(epoch, start_offset);
                inner.epochs.persist(self.fs.as_ref(), &self.dir)?;
                None
            }
            MetadataChange::Follow {
                leader,
                epoch,
                changed,
            } => changed.then_some((leader, epoch)),
        };
        let new_epoch = inner.state.leader_epoch();
        if new_epoch != old_epoch {
            let role = match change {
                MetadataChange::BecameLeader { start_offset, .. } => {
                    EpochRole::Leader { start_offset }
                }
                MetadataChange::Follow { leader, .. } => EpochRole::Follower { leader },
                _ => EpochRole::Offline,
            };
            let (partition, broker) = (self.name(), inner.state.my_id());
            Event::LeaderEpoch {
                partition,
                broker,
                old_epoch,
                new_epoch,
                role,
            }
            .log();
        }
        self.publish(&inner.state);
        Ok(follow)
    }
}
