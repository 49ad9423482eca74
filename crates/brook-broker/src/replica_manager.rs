//! The partitions hosted by this broker and the produce / fetch / list-offsets paths over them:
//! `acks` handling, group-commit waits, `acks=all` waits for the high watermark, and long-poll
//! fetches woken by appends (never by a timer).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use brook_proto::v1::{
    FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopicResponse, LeaderHint,
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopicResponse, PartitionProduceResponse, ProduceRequest, ProduceResponse,
    TopicProduceResponse,
};
use brook_proto::{Durability, ErrorCode};
use bytes::Bytes;
use futures_util::future::{join_all, select_all};

use crate::error::{BrokerError, Result};
use crate::partition::{IsrProposal, Partition};
use crate::replica_state::FollowerFetch;

pub type TopicPartition = (String, i32);

#[derive(Debug, Default)]
pub struct ReplicaManager {
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
}

impl ReplicaManager {
    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.read_map()
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_map(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<TopicPartition, Arc<Partition>>> {
        self.partitions.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, partition: Arc<Partition>) {
        self.write_map()
            .insert((partition.topic.clone(), partition.index), partition);
    }

    pub fn remove_topic(&self, topic: &str) -> Vec<Arc<Partition>> {
        let mut map = self.write_map();
        let keys: Vec<TopicPartition> = map.keys().filter(|(t, _)| t == topic).cloned().collect();
        keys.iter().filter_map(|k| map.remove(k)).collect()
    }

    pub fn remove_partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.write_map().remove(&(topic.to_string(), partition))
    }

    pub fn clear(&self) {
        self.write_map().clear();
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.read_map().values().cloned().collect()
    }

    fn lookup(&self, topic: &str, partition: i32) -> Result<Arc<Partition>> {
        self.get(topic, partition).ok_or_else(|| {
            BrokerError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("{topic}-{partition} does not exist on this broker"),
            )
        })
    }

    /// Produce (rules P1–P7). Appends happen in request order; waits (fsync, HW) run concurrently.
    /// `me` is this broker's node id, named with the leader epoch in every acknowledgement.
    pub async fn produce(&self, req: ProduceRequest, me: i32) -> ProduceResponse {
        let acks = req.acks;
        let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
        let mut pending = Vec::new();
        for t in req.topics {
            for p in t.partitions {
                let topic = t.name.clone();
                if !matches!(acks, -1..=1) {
                    let err = BrokerError::new(
                        ErrorCode::InvalidRequiredAcks,
                        format!("acks={acks} (must be -1, 0 or 1)"),
                    );
                    pending.push(futures_util::future::Either::Left(std::future::ready((
                        topic,
                        p.partition,
                        Err(err),
                    ))));
                    continue;
                }
                let part = self.lookup(&topic, p.partition);
                let index = p.partition;
                let records = p.records;
                // The append runs in the future's first poll; `join_all` polls in request order.
                pending.push(futures_util::future::Either::Right(async move {
                    let result = match part {
                        Ok(part) => match append_in_order(&part, &records, acks, timeout).await {
                            Ok(a) => complete(part, a, acks, timeout).await,
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    };
                    (topic, index, result)
                }));
            }
        }
        let results = join_all(pending).await;
        let mut topics: Vec<TopicProduceResponse> = Vec::new();
        for (topic, partition, result) in results {
            let resp = match result {
                Ok(a) => PartitionProduceResponse {
                    partition,
                    base_offset: a.base_offset,
                    log_start_offset: a.log_start,
                    log_append_time_ms: -1,
                    durability: a.durability as i32,
                    // Brook: on success too, who acknowledged and in which leader epoch.
                    current_leader: Some(LeaderHint {
                        leader_id: me,
                        leader_epoch: a.leader_epoch,
                    }),
                    ..Default::default()
                },
                Err(e) => PartitionProduceResponse {
                    partition,
                    error_code: e.code() as i32,
                    error_message: e.message(),
                    base_offset: -1,
                    log_append_time_ms: -1,
                    log_start_offset: -1,
                    ..Default::default()
                },
            };
            match topics.iter_mut().find(|t| t.name == topic) {
                Some(t) => t.partitions.push(resp),
                None => topics.push(TopicProduceResponse {
                    name: topic,
                    partitions: vec![resp],
                }),
            }
        }
        ProduceResponse { topics }
    }

    /// Fetch for consumers (`replica_id < 0`, bounded by the HW) and replicas (bounded by the
    /// LEO). Long-polls until `min_bytes` are available or `max_wait_ms` passes. Replica
    /// fetches also return the ISR expansions the leader should now propose (rule F6).
    pub async fn fetch(
        &self,
        req: &FetchRequest,
    ) -> (FetchResponse, Vec<(Arc<Partition>, IsrProposal)>) {
        let deadline = Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
        let min_bytes = req.min_bytes.max(0) as usize;
        let mut proposals = Vec::new();
        loop {
            // Subscribe before reading so that an append landing after the read still wakes us.
            let mut watchers = Vec::new();
            let (resp, bytes, errors) = self.read_once(req, &mut watchers, &mut proposals);
            if bytes >= min_bytes || errors || Instant::now() >= deadline || watchers.is_empty() {
                return (resp, proposals);
            }
            let changed = select_all(watchers.iter_mut().map(|rx| Box::pin(rx.changed())));
            if tokio::time::timeout_at(deadline.into(), changed)
                .await
                .is_err()
            {
                let mut none = Vec::new();
                let resp = self.read_once(req, &mut none, &mut proposals).0;
                return (resp, proposals);
            }
        }
    }

    fn read_once(
        &self,
        req: &FetchRequest,
        watchers: &mut Vec<tokio::sync::watch::Receiver<crate::partition::Offsets>>,
        proposals: &mut Vec<(Arc<Partition>, IsrProposal)>,
    ) -> (FetchResponse, usize, bool) {
        let for_replica = req.replica_id >= 0;
        let mut budget = if req.max_bytes <= 0 {
            0
        } else {
            req.max_bytes as usize
        };
        let mut total = 0usize;
        let mut errors = false;
        let mut topics = Vec::new();
        for t in &req.topics {
            let mut parts = Vec::new();
            for p in &t.partitions {
                let mut out = FetchPartitionResponse {
                    partition: p.partition,
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    log_end_offset: -1,
                    ..Default::default()
                };
                // Each partition gets min(partition_max_bytes, what is left of max_bytes). Only
                // the first partition with data may go past that, by its first batch, so that a
                // consumer can always make progress (Kafka's `minOneMessage`).
                let limit = (p.partition_max_bytes.max(0) as usize).min(budget);
                let min_one = total == 0;
                let result = self.lookup(&t.name, p.partition).and_then(|part| {
                    if p.partition_max_bytes < 0 || req.max_bytes < 0 {
                        return Err(BrokerError::new(
                            ErrorCode::InvalidRequest,
                            "negative max bytes",
                        ));
                    }
                    watchers.push(part.subscribe());
                    if for_replica {
                        let fetch = FollowerFetch {
                            replica_id: req.replica_id,
                            fetch_offset: p.fetch_offset,
                            log_start_offset: p.log_start_offset,
                            flushed_offset: p.flushed_offset,
                            broker_epoch: req.replica_epoch,
                            leader_leo_at_fetch: -1,
                        };
                        let (records, offsets, proposal) =
                            part.read_for_replica(&fetch, p.current_leader_epoch, limit.max(1))?;
                        if let Some(proposal) = proposal {
                            proposals.push((part.clone(), proposal));
                        }
                        Ok((records, offsets))
                    } else {
                        part.read(p.fetch_offset, limit.max(1), p.current_leader_epoch, false)
                    }
                });
                match result {
                    Ok((mut records, offsets)) => {
                        if !min_one && records.len() > limit {
                            // A single batch larger than the remaining budget: leave it for
                            // the next fetch.
                            records = Bytes::new();
                        }
                        out.high_watermark = offsets.high_watermark;
                        out.last_stable_offset = offsets.high_watermark;
                        out.log_start_offset = offsets.log_start;
                        out.log_end_offset = offsets.log_end;
                        total += records.len();
                        budget = budget.saturating_sub(records.len());
                        out.records = records;
                    }
                    Err(e) => {
                        errors = true;
                        out.error_code = e.code() as i32;
                        out.records = Bytes::new();
                    }
                }
                parts.push(out);
            }
            topics.push(FetchTopicResponse {
                name: t.name.clone(),
                partitions: parts,
            });
        }
        (
            FetchResponse {
                error_code: 0,
                topics,
            },
            total,
            errors,
        )
    }

    pub fn list_offsets(&self, req: &ListOffsetsRequest) -> ListOffsetsResponse {
        let topics = req
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let r = self
                            .lookup(&t.name, p.partition)
                            .and_then(|part| part.offset_for(p.timestamp, p.current_leader_epoch));
                        match r {
                            Ok((offset, timestamp, epoch)) => ListOffsetsPartitionResponse {
                                partition: p.partition,
                                error_code: 0,
                                timestamp,
                                offset,
                                leader_epoch: epoch as i32,
                            },
                            Err(e) => ListOffsetsPartitionResponse {
                                partition: p.partition,
                                error_code: e.code() as i32,
                                timestamp: -1,
                                offset: -1,
                                leader_epoch: -1,
                            },
                        }
                    })
                    .collect(),
            })
            .collect();
        ListOffsetsResponse { topics }
    }
}

/// How long an idempotent batch that arrived ahead of its predecessors waits for them. Pipelined
/// requests travel on separate HTTP/2 streams whose handlers may start out of order; Kafka's
/// per-connection request ordering has no gRPC equivalent, so the broker re-establishes it here.
const REORDER_WINDOW: Duration = Duration::from_millis(200);

/// Appends as leader; a batch whose sequence is ahead waits (woken by every append to the
/// partition) for the gap to fill, then gets its normal verdict.
async fn append_in_order(
    part: &Partition,
    records: &Bytes,
    acks: i32,
    timeout: Duration,
) -> Result<crate::partition::Appended> {
    let deadline = tokio::time::Instant::now() + REORDER_WINDOW.min(timeout);
    loop {
        let mut rx = part.subscribe();
        match part.append_as_leader(records, acks, false) {
            Err(BrokerError::SequenceAhead(_)) => {
                if tokio::time::timeout_at(deadline, rx.changed())
                    .await
                    .is_err()
                {
                    return part.append_as_leader(records, acks, true);
                }
            }
            other => return other,
        }
    }
}

/// What a produce answers for one acknowledged batch.
struct Acked {
    base_offset: i64,
    log_start: i64,
    durability: Durability,
    /// The leader epoch the batch was accepted in (answered with this broker's id as
    /// `current_leader`, so that a verifier can tell who acknowledged what in which epoch).
    leader_epoch: i32,
}

/// Everything after the append: the fsync the flush policy demands (group commit: waiting takes
/// no thread, only the request whose turn it is to fsync runs it on a blocking thread), then for
/// `acks=all` the wait for the high watermark (rule P7).
async fn complete(
    part: Arc<Partition>,
    a: crate::partition::Appended,
    acks: i32,
    timeout: Duration,
) -> Result<Acked> {
    let ack = |log_start: i64, durability: Durability| Acked {
        base_offset: a.base_offset,
        log_start,
        durability,
        leader_epoch: a.leader_epoch,
    };
    if a.flush_required {
        part.flush(a.last_offset).await?;
    }
    let log_start = part.offsets().log_start;
    if acks == 0 {
        return Ok(ack(log_start, Durability::None));
    }
    if acks == 1 {
        return Ok(ack(log_start, part.durability_of(a.last_offset, false)));
    }
    let required = a.last_offset + 1;
    let mut rx = part.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(verdict) = part.commit_status(required) {
            verdict?;
            return Ok(ack(log_start, part.durability_of(a.last_offset, true)));
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => {
                return Err(BrokerError::new(
                    ErrorCode::NotLeaderOrFollower,
                    "partition was removed",
                ));
            }
            Err(_) => {
                return Err(BrokerError::new(
                    ErrorCode::RequestTimedOut,
                    format!(
                        "not replicated to the ISR within {} ms; it may still commit later",
                        timeout.as_millis()
                    ),
                ));
            }
        }
    }
}
