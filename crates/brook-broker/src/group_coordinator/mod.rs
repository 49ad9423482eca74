//! The group coordinator as this broker runs it (seed §7.5, Kafka's classic group protocol):
//! which broker coordinates a group (the leader of its `__consumer_offsets` partition,
//! FindCoordinator), creating that topic on first use, group membership (join / sync /
//! heartbeat / leave, generations, rebalances) and committed offsets, both stored as records in
//! that partition through the ordinary produce path (`acks=all`), so they are replicated like
//! any other data and a new coordinator carries the groups on.
//!
//! ```text
//! mod.rs          finding the coordinator; committing through the log (async glue on Broker)
//! groups/         the rules: a sans-IO state machine of every group (see its header)
//! coordinator.rs  the shell: state machine behind a mutex, waiting requests, timer, persister
//! offsets.rs      the committed-offset cache and the replay of a partition (offsets + groups)
//! record.rs       the record layouts (Kafka's offset key v1 / value v3, group key v2 / value v3)
//! rpc.rs          the group RPCs in wire terms (what server/service.rs forwards to)
//! lag/            consumer lag evaluated with Burrow's rules (windows of commits, end offsets)
//! ```

pub mod coordinator;
pub mod groups;
pub mod lag;
pub mod offsets;
pub mod record;
mod rpc;

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_proto::ErrorCode;
use bytes::Bytes;

use crate::broker::Broker;
use crate::error::{BrokerError, Result};
use crate::partition::Partition;
use crate::topic::NewTopic;

pub use coordinator::GroupCoordinator;
pub use offsets::{Committed, OFFSETS_TOPIC, partition_for};

impl Broker {
    /// The broker coordinating `group_id` (the leader of its `__consumer_offsets` partition),
    /// creating that topic on first use.
    pub async fn coordinator_node(&self, group_id: &str) -> Result<crate::metadata::BrokerMeta> {
        if group_id.is_empty() {
            return Err(BrokerError::new(
                ErrorCode::InvalidGroupId,
                "group.id must not be empty",
            ));
        }
        self.ensure_offsets_topic().await?;
        let image = self.image();
        let index = partition_for(group_id, self.config.offsets_topic_partitions);
        image
            .partition(OFFSETS_TOPIC, index)
            .and_then(|p| image.brokers.get(&p.leader))
            .cloned()
            .ok_or_else(|| {
                BrokerError::new(
                    ErrorCode::CoordinatorNotAvailable,
                    format!("no leader for the coordinator of '{group_id}'"),
                )
            })
    }

    async fn ensure_offsets_topic(&self) -> Result<()> {
        let n = self.config.offsets_topic_partitions;
        if !self.image().topics.contains_key(OFFSETS_TOPIC) {
            let t = NewTopic {
                name: OFFSETS_TOPIC.to_string(),
                partitions: n,
                // Kafka's default is 3; on a smaller cluster use every broker there is, rather
                // than refusing to store offsets at all (a one-broker dev setup still works).
                replication_factor: self.config.offsets_topic_replication_factor.min(
                    self.image()
                        .brokers
                        .values()
                        .filter(|b| !b.fenced)
                        .count()
                        .max(1) as i32,
                ),
                configs: BTreeMap::new(),
                assignments: Vec::new(),
            };
            match self.create_topic_via_controller(t).await {
                Ok(()) => {}
                Err(e) if e.code() == ErrorCode::TopicAlreadyExists => {}
                Err(e) => {
                    return Err(BrokerError::new(
                        ErrorCode::CoordinatorNotAvailable,
                        e.to_string(),
                    ));
                }
            }
        }
        // Wait until every offsets partition has a leader in our image (bounded).
        let mut rx = self.subscribe_metadata();
        let ready = |_: &i64| {
            self.image().topics.get(OFFSETS_TOPIC).is_some_and(|t| {
                !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader >= 0)
            })
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rx.wait_for(ready)).await;
        Ok(())
    }

    /// The coordinator partition of a group on this broker, creating `__consumer_offsets` on
    /// first use; NOT_COORDINATOR when another broker leads it.
    pub async fn coordinator_partition(&self, group_id: &str) -> Result<Arc<Partition>> {
        if group_id.is_empty() {
            return Err(BrokerError::new(
                ErrorCode::InvalidGroupId,
                "group.id must not be empty",
            ));
        }
        self.ensure_offsets_topic().await?;
        let n = self.config.offsets_topic_partitions;
        let index = partition_for(group_id, n);
        let leader = self
            .image()
            .partition(OFFSETS_TOPIC, index)
            .map(|p| p.leader);
        self.replicas
            .get(OFFSETS_TOPIC, index)
            .filter(|p| p.state().is_leader())
            .ok_or_else(|| {
                BrokerError::new(
                    if leader.is_some_and(|l| l >= 0) {
                        ErrorCode::NotCoordinator
                    } else {
                        ErrorCode::CoordinatorNotAvailable
                    },
                    format!("not the coordinator of '{group_id}'"),
                )
            })
    }

    /// Stores committed offsets durably (acks=all on the coordinator partition). Unknown
    /// partitions are the caller's to filter out.
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        offsets: Vec<(String, i32, Committed)>,
    ) -> Result<()> {
        for (t, p, c) in &offsets {
            if c.offset < 0 {
                return Err(BrokerError::new(
                    ErrorCode::InvalidRequest,
                    format!("negative offset {} for {t}-{p}", c.offset),
                ));
            }
        }
        let part = self.coordinator_partition(group_id).await?;
        if offsets.is_empty() {
            return Ok(());
        }
        let now = self.env.now_ms();
        let batch = offsets::commit_batch(group_id, &offsets, now)?;
        let code = self.append_to_offsets_topic(part.index, batch).await;
        if code != ErrorCode::None {
            return Err(BrokerError::new(code, "offset commit was not stored"));
        }
        self.record_lag_commits(group_id, &offsets, now);
        self.coordinator.committed(group_id, offsets);
        Ok(())
    }
}

impl Broker {
    /// Whether this broker serves `group_id`'s group RPCs now: INVALID_GROUP_ID,
    /// NOT_COORDINATOR, or COORDINATOR_LOAD_IN_PROGRESS while it leads the partition but has not
    /// loaded it yet.
    pub fn group_status(&self, group_id: &str) -> std::result::Result<(), ErrorCode> {
        match self.coordinator.status(group_id) {
            Err(ErrorCode::NotCoordinator) => {
                let index = partition_for(group_id, self.config.offsets_topic_partitions);
                let leading = self
                    .replicas
                    .get(OFFSETS_TOPIC, index)
                    .is_some_and(|p| p.state().is_leader());
                Err(if leading {
                    ErrorCode::CoordinatorLoadInProgress
                } else {
                    ErrorCode::NotCoordinator
                })
            }
            other => other,
        }
    }

    /// The checks before an OffsetCommit or OffsetFetch: the coordinator partition (created on
    /// first use; NOT_COORDINATOR elsewhere) and its load (COORDINATOR_LOAD_IN_PROGRESS).
    pub async fn offsets_ready(&self, group_id: &str) -> Result<()> {
        self.coordinator_partition(group_id).await?;
        self.group_status(group_id)
            .map_err(|code| BrokerError::new(code, format!("group '{group_id}'")))
    }

    /// The OffsetCommit fence: [`Broker::offsets_ready`], then the group's verdict on this
    /// generation and member (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
    /// REBALANCE_IN_PROGRESS).
    pub async fn check_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
    ) -> Result<()> {
        self.offsets_ready(group_id).await?;
        self.coordinator
            .check_commit(group_id, generation, member_id, instance)
            .map_err(|code| {
                BrokerError::new(
                    code,
                    format!("commit of generation {generation} by member '{member_id}' refused"),
                )
            })
    }
}

impl Broker {
    /// Appends one record batch to partition `partition` of `__consumer_offsets` through the
    /// ordinary produce path with `acks=all` (commits and group records are replicated like any
    /// data); the partition's error code, `NONE` once stored.
    pub(crate) async fn append_to_offsets_topic(
        &self,
        partition: i32,
        records: Bytes,
    ) -> ErrorCode {
        let req = brook_proto::v1::ProduceRequest {
            acks: -1,
            timeout_ms: OFFSETS_APPEND_TIMEOUT_MS,
            topics: vec![brook_proto::v1::TopicProduceData {
                name: OFFSETS_TOPIC.to_string(),
                partitions: vec![brook_proto::v1::PartitionProduceData { partition, records }],
            }],
        };
        let resp = self.replicas.produce(req, self.config.node_id).await;
        resp.topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(ErrorCode::UnknownServerError, |p| {
                ErrorCode::from_wire(p.error_code)
            })
    }
}

/// How long an append to `__consumer_offsets` may wait for the ISR (`acks=all`).
const OFFSETS_APPEND_TIMEOUT_MS: i32 = 5000;
