//! The consumer — Kafka's single-threaded `KafkaConsumer` model (§7). Either the application
//! assigns partitions (`assign`), or it subscribes to topics as a member of a consumer group
//! (`subscribe`) and the group's rebalances decide its partitions. Either way `poll` fetches
//! from the partitions' leaders and returns records in offset order per partition, positions
//! advance as records are returned, and offsets are committed to the group coordinator
//! (`commit_sync`, `commit_async`, `enable.auto.commit`).
//!
//! In a group, `poll` also runs the membership: joins and rebalances happen inside it (the RPCs
//! on a join task, `group.rs`), the rebalance listener is called from it (`rebalance.rs`), and a
//! heartbeat task keeps the member alive between polls. As in Kafka, manual assignment fires no
//! rebalance callbacks and commits as generation -1 with no member id.
//!
//! ```text
//! mod.rs        Consumer: assign/subscribe, positions, poll, commits, close
//! listener.rs   ConsumerRebalanceListener, RebalanceContext, NoopRebalanceListener
//! rebalance.rs  the poll-side of rebalances: revoke, assign, lose, leave
//! membership.rs the member state machine (sans-IO): join/sync/heartbeat decisions, timers
//! group.rs      the async shell: join task, heartbeat task, group RPCs
//! assignor/     range, roundrobin, cooperative-sticky (sans-IO)
//! commit.rs     the committer task: commits in order, async never retried
//! offsets.rs    the coordinator client (FindCoordinator, OffsetCommit/Fetch), ListOffsets
//! fetcher.rs    one fetch round
//! protocol.rs   Kafka's consumer protocol codec (subscription / assignment bytes)
//! ```

pub mod assignor;
mod commit;
mod fetcher;
mod group;
mod listener;
pub(crate) mod membership;
mod offsets;
pub mod protocol;
mod rebalance;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use bytes::Bytes;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::backoff::Retrier;
use crate::config::{ConsumerConfig, OffsetReset};
use crate::error::{ClientError, Result};
use crate::metadata::Metadata;
use crate::metrics::{ConsumerMetrics, ConsumerSensors};
use crate::topic_partition::TopicPartition;
use commit::Committer;
pub use commit::OffsetCommitCallback;
use fetcher::Outcome;
pub use fetcher::TimestampType;
use group::{Group, GroupCtx, default_client_id};
pub use listener::{ConsumerRebalanceListener, NoopRebalanceListener, RebalanceContext};
pub(crate) use membership::Identity as CommitIdentity;
use membership::{Identity, MemberConfig, NO_GENERATION};
use offsets::Coordinator;
pub use offsets::{EARLIEST, LATEST};
pub(crate) use offsets::{
    check_offset_commit, list_offsets, list_offsets_at, offset_commit_request,
};

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
    /// Which of the two `timestamp` is (the batch's timestamp-type attribute).
    pub timestamp_type: TimestampType,
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
    /// No partitions: before the first `assign` or `subscribe`, or after `unsubscribe`.
    None,
    /// `assign`: fixed partitions, no group membership.
    Assigned(Vec<TopicPartition>),
    /// `subscribe`: these topics, partitions from the group's rebalances.
    Topics(Vec<String>),
}

/// The consumer's place in its group (Kafka's `ConsumerGroupMetadata`), while it is a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
}

/// Where the consumer stands on one assigned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// No position yet: use the committed offset, else `auto.offset.reset`.
    Unknown,
    /// Out of range or explicitly reset: apply `auto.offset.reset`.
    NeedsReset,
    /// The next offset to return.
    At(i64),
}

/// The consumer (Kafka's `KafkaConsumer`): positions per owned partition, `poll` to fetch (and,
/// when subscribed, to take part in the group's rebalances), and offset commits to the group
/// coordinator when `group.id` is set. Driven by one task at a time (`poll` takes `&mut
/// self`), like Kafka's single-threaded consumer. Dropping it stops its background tasks.
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
    /// Sends this consumer's commits, one at a time, in order.
    committer: Committer,
    /// Group membership, while subscribed.
    group: Option<Group>,
    /// Kafka's consumer metrics (`crate::metrics`), shared with the coordinator client.
    sensors: Arc<ConsumerSensors>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .field("subscription", &self.subscription)
            .field("positions", &self.positions)
            .field("group", &self.group)
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
        let client_id = match (&config.group_id, config.client_id.is_empty()) {
            (_, false) => config.client_id.clone(),
            (Some(g), true) => default_client_id(g),
            (None, true) => default_client_id("").replacen("--", "-", 1),
        };
        let sensors = Arc::new(ConsumerSensors::new(client_id, config.metrics_config()));
        let coordinator = config.group_id.clone().map(|g| {
            Arc::new(Coordinator::new(
                g,
                metadata.clone(),
                config.request_timeout,
                config.backoff(),
                sensors.clone(),
            ))
        });
        let fetch_retry = Retrier::new(config.backoff());
        let committer = Committer::new(coordinator.clone());
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
            committer,
            group: None,
            sensors,
        })
    }

    /// A snapshot of the consumer's metrics (Kafka's consumer-fetch-manager-metrics and
    /// consumer-coordinator-metrics, and the end-to-end latency; see [`ConsumerMetrics`]).
    pub fn metrics(&self) -> ConsumerMetrics {
        self.sensors.snapshot()
    }

    /// Registers the consumer's metrics into `registry`: each scrape encodes a fresh snapshot
    /// as `kafka_consumer_consumer_fetch_manager_metrics_*` /
    /// `kafka_consumer_consumer_coordinator_metrics_*` (the JMX exporter's names, label
    /// `client_id`; `records_lag` also `topic`, `partition`) and
    /// `brook_consumer_end_to_end_latency_*`.
    #[cfg(feature = "prometheus")]
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let sensors = self.sensors.clone();
        let source = move || sensors.snapshot().to_kafka_names();
        crate::metrics::prometheus::register(registry, Box::new(source));
    }

    /// The configuration the consumer runs with.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Replaces the assignment. Positions of partitions that stay assigned are kept. A
    /// subscribed consumer leaves its group first (as `unsubscribe`).
    pub fn assign(&mut self, partitions: Vec<TopicPartition>) {
        if self.group.is_some() {
            self.unsubscribe();
        }
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

    /// Subscribes to `topics` as a member of `group.id` (Kafka's `subscribe`): the next `poll`
    /// joins the group, and the group's rebalances decide which of the topics' partitions this
    /// consumer owns; `listener` hears of each change. Subscribing again replaces the topics
    /// and the listener and rejoins. Errors: `INVALID_GROUP_ID` without a `group.id`;
    /// `ILLEGAL_STATE` while partitions are assigned by hand (unsubscribe first). An empty topic
    /// list unsubscribes, as in Kafka.
    pub fn subscribe(
        &mut self,
        topics: Vec<String>,
        listener: impl ConsumerRebalanceListener + 'static,
    ) -> Result<()> {
        let Some(coordinator) = self.coordinator.clone() else {
            return Err(ClientError::kafka(
                ErrorCode::InvalidGroupId,
                "subscribe needs a group.id",
            ));
        };
        if matches!(self.subscription, Subscription::Assigned(_)) {
            return Err(ClientError::IllegalState(
                "subscribe and assign are mutually exclusive: unsubscribe first".into(),
            ));
        }
        let mut unique: Vec<String> = Vec::new();
        for t in topics {
            if !t.is_empty() && !unique.contains(&t) {
                unique.push(t);
            }
        }
        if unique.is_empty() {
            self.unsubscribe();
            return Ok(());
        }
        self.subscription = Subscription::Topics(unique.clone());
        if let Some(group) = &mut self.group {
            if group.topics != unique {
                group.topics = unique;
                group
                    .shared
                    .lock()
                    .request_rejoin("the subscription changed");
            }
            group.listener = std::sync::Mutex::new(Box::new(listener));
            return Ok(());
        }
        let c = &self.config;
        let strategies = c.partition_assignment_strategy.clone();
        let member = MemberConfig {
            session_timeout: c.session_timeout,
            heartbeat_interval: c.heartbeat_interval,
            max_poll_interval: c.max_poll_interval,
            group_instance_id: c.group_instance_id.clone(),
            protocol: assignor::rebalance_protocol(&strategies),
            backoff: c.backoff(),
        };
        let client_id = self.sensors.client_id().to_string();
        let ctx = GroupCtx {
            coordinator,
            client_id,
            request_timeout: c.request_timeout,
            session_timeout: c.session_timeout,
            rebalance_timeout: c.max_poll_interval,
            strategies,
        };
        self.group = Some(Group::new(ctx, member, unique, Box::new(listener)));
        Ok(())
    }

    /// Drops every partition (Kafka's `unsubscribe`). A group member revokes its partitions
    /// (listener; auto-commit and the listener's commits are sent asynchronously, in order) and
    /// leaves the group in the background once those commits are done.
    pub fn unsubscribe(&mut self) {
        self.unsubscribe_group();
        self.positions.clear();
        self.last_epochs.clear();
        self.buffered.clear();
        self.subscription = Subscription::None;
    }

    /// The owned partitions (assigned by hand, or by the group), sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.positions.keys().cloned().collect()
    }

    /// The member's group, generation and member id while it is a member of a group (`None`
    /// in assign mode, before the first join completes, and after its generation ended).
    pub fn group_metadata(&self) -> Option<GroupMetadata> {
        let group = self.group.as_ref()?;
        let id = group.shared.lock().identity();
        (id.generation > NO_GENERATION).then(|| GroupMetadata {
            group_id: group.ctx.coordinator.group_id().to_string(),
            generation_id: id.generation,
            member_id: id.member_id,
            group_instance_id: id.group_instance_id,
        })
    }

    /// How the consumer got its partitions.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
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
        let found = match list_offsets(&self.metadata, self.config.request_timeout, &specs).await {
            Ok(found) => found,
            // A leader that moved or died (its metadata refresh is under way): the partitions
            // wait for their reset, paced by the fetch backoff, and `poll` goes on with the
            // others instead of failing, as Kafka's does.
            Err(e) if e.is_retriable() => {
                let step = self.fetch_retry.failed(Instant::now());
                if step.log {
                    info!(error = %e, "resetting positions failed; retrying in {} ms (attempt {})",
                        step.delay_ms(), step.attempt);
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for (tp, offset) in found {
            debug!(%tp, offset, "position reset by auto.offset.reset");
            if self.positions.contains_key(&tp) {
                self.positions.insert(tp, Position::At(offset));
            }
        }
        Ok(())
    }

    /// Returns up to `max.poll.records` records, waiting up to `timeout` for some to arrive.
    /// Positions advance past the records returned; auto-commit (if on) runs here (in assign
    /// mode a sync commit, in a group an async one, as Kafka). When
    /// subscribed, the group membership runs here too: joining, rebalancing and the listener
    /// callbacks happen inside `poll`, and membership errors (`FENCED_INSTANCE_ID`,
    /// `INCONSISTENT_GROUP_PROTOCOL`, a listener's failed commit, …) are returned from it.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        self.sensors.retain(&self.positions);
        if self.group.is_none() {
            self.maybe_auto_commit().await;
        }
        let wake = self.group.as_ref().map(|g| g.shared.clone());
        loop {
            if self.group.is_some() {
                if !self.drive_group(deadline).await? {
                    return Ok(Vec::new());
                }
                self.maybe_auto_commit().await;
            }
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
                match &wake {
                    // A member without partitions waits for the next rebalance.
                    Some(shared) => {
                        let woken = shared.wake_poll.notified();
                        if tokio::time::timeout_at(deadline, woken).await.is_ok() {
                            continue;
                        }
                    }
                    None => tokio::time::sleep(remaining).await,
                }
                return Ok(Vec::new());
            }
            let max_wait = remaining.min(self.config.fetch_max_wait);
            let sensors = &self.sensors;
            let round =
                fetcher::fetch_round(&self.metadata, &self.config, &wanted, max_wait, sensors);
            let results = match &wake {
                // A rebalance or a fencing interrupts the fetch: back to the membership.
                Some(shared) => tokio::select! {
                    r = round => r?,
                    () = shared.wake_poll.notified() => continue,
                },
                None => round.await?,
            };
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
        self.sensors.returned(&out, &self.positions);
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

    /// Who a commit is made as: the member (its generation, or Kafka's CommitFailed when it has
    /// none), or generation -1 with no member id in assign mode.
    fn commit_identity(&self) -> (Result<Identity>, Option<Arc<group::Shared>>) {
        match &self.group {
            Some(g) => (g.shared.lock().commit_identity(), Some(g.shared.clone())),
            None => (Ok(Identity::outside_group()), None),
        }
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

    /// Commits the current positions, retrying retriable errors (C5) until
    /// `request.timeout.ms`. After any earlier `commit_async` (one queue, in order). In a group
    /// the commit carries the member's generation and id and is not retried across
    /// generations: `REBALANCE_IN_PROGRESS`, `ILLEGAL_GENERATION`, `UNKNOWN_MEMBER_ID`,
    /// `FENCED_INSTANCE_ID` come back at once (Kafka's CommitFailed), as does a commit made
    /// while the consumer is not a member.
    pub async fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.current_offsets();
        self.commit_sync_offsets(offsets).await
    }

    /// Commits the given offsets (each the next offset to read: last processed + 1), as
    /// `commit_sync` does.
    pub async fn commit_sync_offsets(
        &mut self,
        offsets: BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        self.coordinator()?;
        let (identity, group) = self.commit_identity();
        self.committer.commit_sync(offsets, identity?, group).await
    }

    /// Commits the current positions in the background, as Kafka's `commitAsync`: never
    /// retried (the callback gets the error), sent after every earlier commit of this consumer,
    /// and `callback` is called from a background task with the offsets and the outcome, in
    /// commit order.
    pub fn commit_async(&mut self, callback: Option<OffsetCommitCallback>) {
        let offsets = self.current_offsets();
        self.commit_async_offsets(offsets, callback);
    }

    /// Commits the given offsets in the background, as `commit_async` does.
    pub fn commit_async_offsets(
        &mut self,
        offsets: BTreeMap<TopicPartition, i64>,
        callback: Option<OffsetCommitCallback>,
    ) {
        let (identity, group) = self.commit_identity();
        self.committer
            .commit_async(offsets, identity, group, callback);
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
        if self.positions.is_empty() {
            return;
        }
        if self.group.is_some() {
            // A member commits periodically in the background, as Kafka does
            // (maybeAutoCommitOffsetsAsync): poll does not wait on the coordinator, and the
            // revocation and close commits are synchronous anyway.
            let offsets = self.current_offsets();
            self.commit_async_offsets(
                offsets,
                Some(Box::new(|_, result| {
                    if let Err(e) = result {
                        warn!(error = %e, "auto commit failed");
                    }
                })),
            );
            return;
        }
        if let Err(e) = self.commit_sync().await {
            warn!(error = %e, "auto commit failed");
        }
    }

    /// Closes the consumer. In a group: auto-commit (if on) and `on_partitions_revoked` for
    /// every owned partition (or `on_partitions_lost` if the generation already ended), then
    /// LeaveGroup (dynamic members only: a static member keeps its place until the session
    /// timeout, as in Kafka), then the background tasks stop. In assign mode: auto-commit (if
    /// on). Waits for earlier async commits and their callbacks. Returns the first commit
    /// error, after doing all of that.
    pub async fn close(mut self) -> Result<()> {
        let result = if self.group.is_some() {
            self.close_group().await
        } else if self.config.auto_commit_enabled() {
            self.commit_sync().await
        } else {
            Ok(())
        };
        self.committer.flush().await;
        result
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
