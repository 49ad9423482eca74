//! The partitions hosted by this broker — and those it should host but cannot (offline: their
//! storage failed) — with the fetch and list-offsets paths over them: long-poll fetches woken by
//! appends (never by a timer). The produce path over the same lookup is `produce.rs`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use brook_proto::ErrorCode;
use brook_proto::v1::{
    FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopicResponse,
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopicResponse,
};
use bytes::Bytes;
use futures_util::future::select_all;

use crate::error::{BrokerError, Result};
use crate::metrics::TrafficMetrics;
use crate::partition::{IsrProposal, Partition};
use crate::replica_state::FollowerFetch;

/// A partition's key: (topic name, partition index).
pub type TopicPartition = (String, i32);

/// The hosted partitions, by (topic, index).
#[derive(Debug, Default)]
pub struct ReplicaManager {
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Partitions whose log could not be opened (KAFKA_STORAGE_ERROR), with the reason.
    offline: RwLock<HashMap<TopicPartition, String>>,
    /// Messages and bytes in and out, per topic (the broker's metrics share them).
    pub(crate) traffic: TrafficMetrics,
}

impl ReplicaManager {
    /// No partitions yet; produce and fetch traffic is counted in `traffic`.
    pub fn new(traffic: TrafficMetrics) -> ReplicaManager {
        ReplicaManager {
            traffic,
            ..ReplicaManager::default()
        }
    }

    /// The hosted partition, if this broker has it loaded (offline partitions are not; see
    /// [`Self::offline_reason`]).
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

    /// Hosts a loaded partition (replacing one with the same topic and index).
    pub fn insert(&self, partition: Arc<Partition>) {
        self.write_map()
            .insert((partition.topic.clone(), partition.index), partition);
    }

    /// Stops hosting every partition of `topic`; returns them (their logs are not deleted).
    pub fn remove_topic(&self, topic: &str) -> Vec<Arc<Partition>> {
        let mut map = self.write_map();
        let keys: Vec<TopicPartition> = map.keys().filter(|(t, _)| t == topic).cloned().collect();
        keys.iter().filter_map(|k| map.remove(k)).collect()
    }

    /// Stops hosting one partition; returns it if it was hosted (its log is not deleted).
    pub fn remove_partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.write_map().remove(&(topic.to_string(), partition))
    }

    /// Stops hosting every partition (clean shutdown, after their final snapshots).
    pub fn clear(&self) {
        self.write_map().clear();
    }

    /// Every hosted partition, in no particular order.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.read_map().values().cloned().collect()
    }

    /// Marks a partition offline (its storage failed) with the reason clients are told.
    pub fn set_offline(&self, topic: &str, partition: i32, why: String) {
        self.offline
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((topic.to_string(), partition), why);
    }

    /// Why a partition is offline on this broker, if it is.
    pub fn offline_reason(&self, topic: &str, partition: i32) -> Option<String> {
        self.offline
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// The partition a request names: KAFKA_STORAGE_ERROR if it is offline here,
    /// UNKNOWN_TOPIC_OR_PARTITION if this broker does not host it. An offline partition is never
    /// loaded (`Broker::reconcile` skips it), so the offline set is only read on a miss and the
    /// hot path takes one lock per partition, as before.
    pub(crate) fn lookup(&self, topic: &str, partition: i32) -> Result<Arc<Partition>> {
        if let Some(part) = self.get(topic, partition) {
            return Ok(part);
        }
        Err(match self.offline_reason(topic, partition) {
            Some(why) => BrokerError::new(ErrorCode::KafkaStorageError, why),
            None => BrokerError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("{topic}-{partition} does not exist on this broker"),
            ),
        })
    }

    /// Fetch for consumers (`replica_id < 0`, bounded by the HW) and replicas (bounded by the
    /// LEO). Long-polls until `min_bytes` are available or `max_wait_ms` passes. Replica
    /// fetches also return the ISR expansions the leader should now propose (rule F6).
    /// Every answer's record bytes count towards `bytesout` of their topic, for consumers and
    /// replicas alike (as Kafka's BytesOutPerSec).
    pub async fn fetch(
        &self,
        req: &FetchRequest,
    ) -> (FetchResponse, Vec<(Arc<Partition>, IsrProposal)>) {
        let (resp, proposals) = self.long_poll(req).await;
        for t in &resp.topics {
            let bytes: usize = t.partitions.iter().map(|p| p.records.len()).sum();
            self.traffic.fetched(&t.name, bytes as u64);
        }
        (resp, proposals)
    }

    async fn long_poll(
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
                        part.read(p.fetch_offset, limit.max(1), p.current_leader_epoch)
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

    /// ListOffsets on the leader, per partition ([`Partition::offset_for`]): timestamp -2 is
    /// the log start offset, -1 the high watermark (what consumers may read), anything else
    /// the first offset below the HW whose record has at least that timestamp. A partition that
    /// cannot be answered gets its error code with offset, timestamp and leader epoch -1:
    /// `KAFKA_STORAGE_ERROR` (offline here), `UNKNOWN_TOPIC_OR_PARTITION` (not hosted here), or
    /// from the leader guard `NOT_LEADER_OR_FOLLOWER`, `FENCED_LEADER_EPOCH` or
    /// `UNKNOWN_LEADER_EPOCH`.
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
