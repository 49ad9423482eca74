//! The consumer in assign mode: the application assigns partitions, `poll` fetches from their
//! leaders and returns records in offset order per partition, positions advance as records are
//! returned, and offsets are committed to the group coordinator (`commit_sync`,
//! `commit_async`, `enable.auto.commit`) — Kafka's single-threaded `KafkaConsumer` model (§7).
//!
//! Consumer groups (subscribe, membership, rebalances) come in a later issue; `Subscription`
//! and `ConsumerRebalanceListener` are the seams they slot into. As in Kafka, manual
//! assignment fires no rebalance callbacks.

pub mod assignor;
mod fetcher;
pub(crate) mod membership;
mod offsets;
pub mod protocol;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::backoff::Retrier;
use crate::config::{ConsumerConfig, OffsetReset};
use crate::error::{ClientError, Result};
use crate::metadata::Metadata;
use crate::topic_partition::TopicPartition;
use fetcher::Outcome;
use offsets::Coordinator;
pub(crate) use offsets::list_offsets;
pub use offsets::{EARLIEST, LATEST};

/// One record as `poll` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic the record was read from.
    pub topic: String,
    /// The partition the record was read from.
    pub partition: i32,
    /// The record's offset in its partition.
    pub offset: i64,
    /// The record's timestamp, milliseconds since the Unix epoch (CreateTime as the producer
    /// set it, or the batch's LogAppendTime).
    pub timestamp: i64,
    /// The record's key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The record's value; `None` is a null value.
    pub value: Option<Bytes>,
    /// The record's headers in wire order: key, and value (`None` = null).
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The leader epoch stamped into the record's batch, if any.
    pub leader_epoch: Option<i32>,
}

/// How the consumer got its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subscription {
    /// No partitions: before the first `assign`, or after `unsubscribe`.
    None,
    /// `assign`: fixed partitions, no group membership.
    Assigned(Vec<TopicPartition>),
    // Group subscription (`Topics(Vec<String>)`) arrives with consumer groups.
}

/// Called around ownership changes by group membership (rule C6). Manual `assign` fires none,
/// as in Kafka. Implementations must be quick: they run inside `poll`.
pub trait ConsumerRebalanceListener: Send {
    /// Before partitions are taken away: the last chance to commit their offsets.
    fn on_partitions_revoked(&mut self, _partitions: &[TopicPartition]) {}
    /// After partitions were given to this consumer (seek here if needed).
    fn on_partitions_assigned(&mut self, _partitions: &[TopicPartition]) {}
    /// Partitions already owned by someone else: do not commit them.
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(partitions);
    }
}

/// Where the consumer stands on one assigned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// No position yet: use the committed offset, else `auto.offset.reset`.
    Unknown,
    /// Out of range or explicitly reset: apply `auto.offset.reset`.
    NeedsReset,
    /// The next offset to return.
    At(i64),
}

/// The consumer (Kafka's `KafkaConsumer` in assign mode): positions per assigned partition,
/// `poll` to fetch, and offset commits to the group coordinator when `group.id` is set. Driven
/// by one task at a time (`poll` takes `&mut self`), like Kafka's single-threaded consumer.
pub struct Consumer {
    config: ConsumerConfig,
    metadata: Arc<Metadata>,
    coordinator: Option<Arc<Coordinator>>,
    subscription: Subscription,
    positions: BTreeMap<TopicPartition, Position>,
    /// Leader epoch of the last record returned per partition, to tell a truncated log from a
    /// position that is merely out of range (KIP-320).
    last_epochs: BTreeMap<TopicPartition, i32>,
    /// Fetched records not yet returned, per partition, in offset order.
    buffered: BTreeMap<TopicPartition, VecDeque<ConsumerRecord>>,
    last_auto_commit: Instant,
    /// Paces fetch rounds after rounds that found no leader or an unreachable one.
    fetch_retry: Retrier,
    /// Behind a mutex so that `Consumer` is `Sync` and its futures can be spawned; only the
    /// consumer's own calls ever lock it.
    listener: Option<std::sync::Mutex<Box<dyn ConsumerRebalanceListener>>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .field("subscription", &self.subscription)
            .field("positions", &self.positions)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer over plain TCP connections, with no partitions assigned. Errors:
    /// `InvalidConfig` from [`ConsumerConfig::validate`]. Nothing is sent until the first call
    /// that needs the cluster.
    pub fn new(config: ConsumerConfig) -> Result<Consumer> {
        Consumer::with_channels(config, Channels::default())
    }

    /// A consumer whose connections go through `channels` (fault injection).
    pub fn with_channels(config: ConsumerConfig, channels: Channels) -> Result<Consumer> {
        config.validate()?;
        let metadata = Metadata::new(
            config.bootstrap_servers.clone(),
            channels,
            config.request_timeout,
            config.retry_backoff.min(Duration::from_millis(100)),
            config.backoff(),
        );
        let coordinator = config.group_id.clone().map(|g| {
            Arc::new(Coordinator::new(
                g,
                metadata.clone(),
                config.request_timeout,
                config.backoff(),
            ))
        });
        let fetch_retry = Retrier::new(config.backoff());
        Ok(Consumer {
            config,
            metadata,
            coordinator,
            subscription: Subscription::None,
            positions: BTreeMap::new(),
            last_epochs: BTreeMap::new(),
            buffered: BTreeMap::new(),
            last_auto_commit: Instant::now(),
            fetch_retry,
            listener: None,
        })
    }

    /// The configuration the consumer runs with.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Replaces the assignment. Positions of partitions that stay assigned are kept.
    pub fn assign(&mut self, partitions: Vec<TopicPartition>) {
        let mut positions = BTreeMap::new();
        for tp in &partitions {
            let pos = self.positions.get(tp).copied().unwrap_or(Position::Unknown);
            positions.insert(tp.clone(), pos);
        }
        self.buffered.retain(|tp, _| positions.contains_key(tp));
        self.last_epochs.retain(|tp, _| positions.contains_key(tp));
        self.positions = positions;
        self.subscription = Subscription::Assigned(partitions);
    }

    /// Drops every partition (Kafka's `unsubscribe`).
    pub fn unsubscribe(&mut self) {
        self.positions.clear();
        self.last_epochs.clear();
        self.buffered.clear();
        self.subscription = Subscription::None;
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.positions.keys().cloned().collect()
    }

    /// How the consumer got its partitions.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// Installs the callbacks group membership will call (none fire in assign mode).
    pub fn set_rebalance_listener(&mut self, listener: Box<dyn ConsumerRebalanceListener>) {
        self.listener = Some(std::sync::Mutex::new(listener));
    }

    fn assigned(&self, tp: &TopicPartition) -> Result<()> {
        if self.positions.contains_key(tp) {
            Ok(())
        } else {
            Err(ClientError::IllegalState(format!(
                "{tp} is not assigned to this consumer"
            )))
        }
    }

    /// The next `poll` returns records of `tp` from `offset` on.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.assigned(tp)?;
        if offset < 0 {
            return Err(ClientError::IllegalState(format!(
                "cannot seek {tp} to negative offset {offset}"
            )));
        }
        self.buffered.remove(tp);
        // A position set by hand has no epoch to validate it against.
        self.last_epochs.remove(tp);
        self.positions.insert(tp.clone(), Position::At(offset));
        Ok(())
    }

    /// Moves to the log start offset of each partition.
    pub async fn seek_to_beginning(&mut self, tps: &[TopicPartition]) -> Result<()> {
        self.seek_to(tps, EARLIEST).await
    }

    /// Moves to the high watermark of each partition.
    pub async fn seek_to_end(&mut self, tps: &[TopicPartition]) -> Result<()> {
        self.seek_to(tps, LATEST).await
    }

    async fn seek_to(&mut self, tps: &[TopicPartition], spec: i64) -> Result<()> {
        for tp in tps {
            self.assigned(tp)?;
        }
        let specs: Vec<(TopicPartition, i64)> = tps.iter().map(|tp| (tp.clone(), spec)).collect();
        let found = list_offsets(&self.metadata, self.config.request_timeout, &specs).await?;
        for (tp, offset) in found {
            self.seek(&tp, offset)?;
        }
        Ok(())
    }

    /// The offset of the next record `poll` returns for `tp`, resolving it (committed offset,
    /// else `auto.offset.reset`) if the consumer has none yet.
    pub async fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.assigned(tp)?;
        self.update_positions().await?;
        match self.positions.get(tp) {
            Some(Position::At(o)) => Ok(*o),
            _ => Err(ClientError::NoOffsetForPartition(tp.clone())),
        }
    }

    /// Resolves every partition that has no position.
    async fn update_positions(&mut self) -> Result<()> {
        let unknown: Vec<TopicPartition> = self
            .positions
            .iter()
            .filter(|(_, p)| **p == Position::Unknown)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !unknown.is_empty() {
            let committed = match &self.coordinator {
                Some(c) => c.fetch(&unknown).await?,
                None => BTreeMap::new(),
            };
            for tp in unknown {
                let pos = match committed.get(&tp).copied().flatten() {
                    Some(o) => Position::At(o),
                    None => Position::NeedsReset,
                };
                self.positions.insert(tp, pos);
            }
        }
        let reset: Vec<TopicPartition> = self
            .positions
            .iter()
            .filter(|(_, p)| **p == Position::NeedsReset)
            .map(|(tp, _)| tp.clone())
            .collect();
        if reset.is_empty() {
            return Ok(());
        }
        let spec = match self.config.auto_offset_reset {
            OffsetReset::Earliest => EARLIEST,
            OffsetReset::Latest => LATEST,
            OffsetReset::None => return Err(ClientError::NoOffsetForPartition(reset[0].clone())),
        };
        let specs: Vec<(TopicPartition, i64)> = reset.into_iter().map(|tp| (tp, spec)).collect();
        let found = list_offsets(&self.metadata, self.config.request_timeout, &specs).await?;
        for (tp, offset) in found {
            debug!(%tp, offset, "position reset by auto.offset.reset");
            if self.positions.contains_key(&tp) {
                self.positions.insert(tp, Position::At(offset));
            }
        }
        Ok(())
    }

    /// Returns up to `max.poll.records` records, waiting up to `timeout` for some to arrive.
    /// Positions advance past the records returned; auto-commit (if on) runs here.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        self.maybe_auto_commit().await;
        loop {
            self.update_positions().await?;
            let out = self.drain_buffered();
            if !out.is_empty() {
                return Ok(out);
            }
            // After a round that needed a leader lookup the next waits out the backoff, in this
            // poll or the next one.
            if let Some(at) = self.fetch_retry.retry_at() {
                if !self.fetch_retry.is_due(Instant::now()) {
                    tokio::time::sleep_until(at.min(deadline)).await;
                    if !self.fetch_retry.is_due(Instant::now()) {
                        return Ok(Vec::new());
                    }
                }
            }
            let now = Instant::now();
            let remaining = deadline.saturating_duration_since(now);
            let wanted: Vec<(TopicPartition, i64)> = self
                .positions
                .iter()
                .filter_map(|(tp, p)| match p {
                    Position::At(o) => Some((tp.clone(), *o)),
                    _ => None,
                })
                .collect();
            if wanted.is_empty() {
                tokio::time::sleep(remaining).await;
                return Ok(Vec::new());
            }
            let max_wait = remaining.min(self.config.fetch_max_wait);
            let results =
                fetcher::fetch_round(&self.metadata, &self.config, &wanted, max_wait).await?;
            let mut retry = None;
            for (tp, outcome) in results {
                // A seek or re-assignment may have happened since; the position asked for is
                // still the current one because `poll` holds `&mut self`.
                match outcome {
                    Outcome::Records(recs) if !recs.is_empty() => {
                        self.buffered.entry(tp).or_default().extend(recs);
                    }
                    Outcome::Records(_) => {}
                    Outcome::OutOfRange => {
                        // KIP-320: if the log was truncated under us (an unclean election), the
                        // leader's end offset for the epoch of our last record is below our
                        // position: continue from there instead of resetting (no rewind to 0,
                        // no skipping ahead past records that were never seen).
                        if let (Some(&epoch), Some(Position::At(pos))) =
                            (self.last_epochs.get(&tp), self.positions.get(&tp).copied())
                        {
                            let end = offsets::end_offset_for_epoch(
                                &self.metadata,
                                self.config.request_timeout,
                                &tp,
                                epoch,
                            )
                            .await;
                            if let Ok(end) = end {
                                if (0..pos).contains(&end) {
                                    warn!(%tp, position = pos, diverged_at = end,
                                        "log truncated below the position (unclean election?); continuing at the divergence offset");
                                    self.positions.insert(tp, Position::At(end));
                                    continue;
                                }
                            }
                        }
                        warn!(%tp, "fetch position out of range; applying auto.offset.reset");
                        if self.config.auto_offset_reset == OffsetReset::None {
                            return Err(ClientError::kafka(
                                ErrorCode::OffsetOutOfRange,
                                format!(
                                    "position of {tp} is out of range and auto.offset.reset=none"
                                ),
                            ));
                        }
                        self.positions.insert(tp, Position::NeedsReset);
                    }
                    Outcome::Retry(e) => {
                        retry.get_or_insert(e);
                    }
                }
            }
            if retry.is_none() {
                self.fetch_retry.succeeded();
            }
            if !self.buffered.is_empty() {
                continue;
            }
            if let Some(e) = retry {
                // Leaders are being looked up again; don't spin on the same answer.
                let step = self.fetch_retry.failed(Instant::now());
                if step.log {
                    info!(error = %e, "fetch found no usable leader; retrying in {} ms (attempt {})",
                        step.delay_ms(), step.attempt);
                }
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
        }
    }

    /// Takes up to `max.poll.records` buffered records, partition by partition, advancing
    /// positions past them.
    fn drain_buffered(&mut self) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let max = self.config.max_poll_records;
        for (tp, queue) in self.buffered.iter_mut() {
            while out.len() < max {
                let Some(r) = queue.pop_front() else { break };
                self.positions
                    .insert(tp.clone(), Position::At(r.offset + 1));
                if let Some(e) = r.leader_epoch {
                    self.last_epochs.insert(tp.clone(), e);
                }
                out.push(r);
            }
            if out.len() >= max {
                break;
            }
        }
        self.buffered.retain(|_, q| !q.is_empty());
        out
    }

    fn coordinator(&self) -> Result<Arc<Coordinator>> {
        self.coordinator.clone().ok_or_else(|| {
            ClientError::kafka(
                ErrorCode::InvalidGroupId,
                "committing offsets needs a group.id",
            )
        })
    }

    /// Current positions of partitions that have one (what a commit stores).
    fn current_offsets(&self) -> BTreeMap<TopicPartition, i64> {
        self.positions
            .iter()
            .filter_map(|(tp, p)| match p {
                Position::At(o) => Some((tp.clone(), *o)),
                _ => None,
            })
            .collect()
    }

    /// Commits the current positions, retrying retriable errors (C5).
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.current_offsets();
        self.commit_sync_offsets(offsets).await
    }

    /// Commits the given offsets (each the next offset to read: last processed + 1).
    pub async fn commit_sync_offsets(&self, offsets: BTreeMap<TopicPartition, i64>) -> Result<()> {
        self.coordinator()?.commit(&offsets).await
    }

    /// Commits the current positions in the background; the handle reports the outcome.
    pub fn commit_async(&self) -> JoinHandle<Result<()>> {
        let offsets = self.current_offsets();
        let coordinator = self.coordinator();
        tokio::spawn(async move { coordinator?.commit(&offsets).await })
    }

    /// The committed offsets of `tps` (`None`: nothing committed).
    pub async fn committed(
        &self,
        tps: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        self.coordinator()?.fetch(tps).await
    }

    async fn maybe_auto_commit(&mut self) {
        if !self.config.auto_commit_enabled()
            || self.last_auto_commit.elapsed() < self.config.auto_commit_interval
        {
            return;
        }
        self.last_auto_commit = Instant::now();
        if let Err(e) = self.commit_sync().await {
            warn!(error = %e, "auto commit failed");
        }
    }

    /// Commits positions if auto-commit is on, then drops the consumer. (In assign mode
    /// nothing is revoked, so no listener callback runs.)
    pub async fn close(mut self) -> Result<()> {
        if self.config.auto_commit_enabled() {
            self.commit_sync().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod send_tests {
    /// Consumers are driven from spawned tasks (the verifier runs one beside a producer).
    #[test]
    fn consumer_and_its_futures_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Consumer>();
    }
}
