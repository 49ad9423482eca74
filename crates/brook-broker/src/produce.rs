//! The produce path (SPEC §4, rules P1–P7), top to bottom:
//!
//! 1. [`ReplicaManager::produce`] parses `acks` once ([`Acks`]: INVALID_REQUIRED_ACKS otherwise)
//!    and looks each partition up (offline → KAFKA_STORAGE_ERROR, absent →
//!    UNKNOWN_TOPIC_OR_PARTITION);
//! 2. `append_in_order` appends as leader — the verdict is the partition's
//!    ([`crate::partition::Partition::append_as_leader`]: leadership and min.insync, the batch,
//!    the producer state) — and re-establishes a producer's request order when a pipelined
//!    batch overtook its predecessor (the one wait *before* an append);
//! 3. `complete` waits for what the acknowledgement promises: the fsync the flush policy asks
//!    for (group commit), then for `acks=all` the high watermark, bounded by the request's
//!    timeout (REQUEST_TIMED_OUT), with the P7 verdict when it commits;
//! 4. the answer names the durability that held and who acknowledged in which epoch.
//!
//! Appends happen in request order; the waits of a request's partitions run concurrently.

use std::sync::Arc;
use std::time::Duration;

use brook_proto::v1::{
    LeaderHint, PartitionProduceResponse, ProduceRequest, ProduceResponse, TopicProduceResponse,
};
use brook_proto::{Durability, ErrorCode};
use bytes::Bytes;
use futures_util::future::join_all;

use crate::acks::Acks;
use crate::error::{BrokerError, Result};
use crate::metrics::TrafficMetrics;
use crate::partition::{Appended, Partition};
use crate::replica_manager::ReplicaManager;

/// How long an idempotent batch that arrived ahead of its predecessors waits for them. Pipelined
/// requests travel on separate HTTP/2 streams whose handlers may start out of order; Kafka's
/// per-connection request ordering has no gRPC equivalent, so the broker re-establishes it here.
const REORDER_WINDOW: Duration = Duration::from_millis(200);

/// What a produce answers for one acknowledged batch.
struct Acked {
    base_offset: i64,
    log_start: i64,
    durability: Durability,
    /// The leader epoch the batch was accepted in (answered with this broker's id as
    /// `current_leader`, so that a verifier can tell who acknowledged what in which epoch).
    leader_epoch: i32,
}

impl ReplicaManager {
    /// Produce (rules P1–P7); see the module docs for the steps. `me` is this broker's node id,
    /// named with the leader epoch in every acknowledgement.
    pub async fn produce(&self, req: ProduceRequest, me: i32) -> ProduceResponse {
        let acks = Acks::try_from(req.acks);
        let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
        let mut pending = Vec::new();
        for t in req.topics {
            for p in t.partitions {
                let (topic, index, records) = (t.name.clone(), p.partition, p.records);
                let part = acks
                    .clone()
                    .and_then(|acks| Ok((acks, self.lookup(&topic, index)?)));
                let traffic = &self.traffic;
                // The append runs in the future's first poll; `join_all` polls in request order.
                pending.push(async move {
                    let result = match part {
                        Ok((acks, part)) => {
                            produce_one(part, &records, acks, timeout, traffic).await
                        }
                        Err(e) => Err(e),
                    };
                    (topic, index, result)
                });
            }
        }
        let mut topics: Vec<TopicProduceResponse> = Vec::new();
        for (topic, partition, result) in join_all(pending).await {
            if let Ok(a) = &result {
                self.traffic.acked(a.durability);
            }
            let resp = answer(partition, result, me);
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
}

/// One partition's produce: the append, then the waits its acknowledgement needs. An append
/// counts towards `messagesin` and `bytesin` at once (as Kafka counts it, before the waits);
/// a duplicate wrote nothing and does not count.
async fn produce_one(
    part: Arc<Partition>,
    records: &Bytes,
    acks: Acks,
    timeout: Duration,
    traffic: &TrafficMetrics,
) -> Result<Acked> {
    let appended = append_in_order(&part, records, acks, timeout).await?;
    if !appended.duplicate {
        let count = (appended.last_offset - appended.base_offset + 1).max(0) as u64;
        traffic.produced(&part.topic, count, records.len() as u64);
    }
    complete(part, appended, acks, timeout).await
}

/// A partition's answer.
fn answer(partition: i32, result: Result<Acked>, me: i32) -> PartitionProduceResponse {
    match result {
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
    }
}

/// Appends as leader; a batch whose sequence is ahead waits (woken by every append to the
/// partition) for the gap to fill, at most [`REORDER_WINDOW`] (or the request timeout), then
/// gets its normal verdict.
async fn append_in_order(
    part: &Partition,
    records: &Bytes,
    acks: Acks,
    timeout: Duration,
) -> Result<Appended> {
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

/// Everything after the append: the fsync the flush policy demands (group commit: waiting takes
/// no thread, only the request whose turn it is to fsync runs it on a blocking thread), then for
/// `acks=all` the wait for the high watermark (rule P7).
async fn complete(
    part: Arc<Partition>,
    a: Appended,
    acks: Acks,
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
    match acks {
        Acks::None => return Ok(ack(log_start, Durability::None)),
        Acks::Leader => return Ok(ack(log_start, part.durability_of(a.last_offset, false))),
        Acks::All => {}
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
