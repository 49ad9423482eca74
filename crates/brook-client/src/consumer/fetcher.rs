//! One fetch round: a `Fetch` RPC per leader broker covering all of its assigned partitions
//! (long-polling with `fetch.min.bytes` / `fetch.max.wait.ms`), run concurrently, and the
//! decoding of the returned record batches into `ConsumerRecord`s at or above each position.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use brook_log::batch::batches;
use brook_log::record::decode_records;
use brook_proto::ErrorCode;
use brook_proto::v1::{FetchPartition, FetchPartitionResponse, FetchRequest, FetchTopic};
use bytes::Bytes;
use tokio::task::JoinSet;
use tracing::debug;

use super::ConsumerRecord;
use crate::config::ConsumerConfig;
use crate::error::{ClientError, Result};
use crate::metadata::Metadata;
use crate::metrics::ConsumerSensors;
use crate::rpc;
use crate::topic_partition::TopicPartition;

/// What a record's timestamp is (Kafka's `TimestampType`): set by the producer, or by the broker
/// when it appended the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// `CreateTime`: the producer's (the record's creation).
    CreateTime,
    /// `LogAppendTime`: the broker's, when it appended the batch.
    LogAppendTime,
}

/// What a fetch said about one partition.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Records at or above the fetch position (possibly none).
    Records(Vec<ConsumerRecord>),
    /// The position is outside the log: apply `auto.offset.reset`.
    OutOfRange,
    /// Leadership moved or the broker was unreachable (the error says which); metadata refresh
    /// was requested.
    Retry(ClientError),
}

fn corrupt(tp: &TopicPartition, e: impl std::fmt::Display) -> ClientError {
    ClientError::kafka(
        ErrorCode::CorruptMessage,
        format!("fetched data of {tp}: {e}"),
    )
}

/// Decodes the records of `data` with offset >= `position`.
pub(crate) fn decode(
    tp: &TopicPartition,
    data: &Bytes,
    position: i64,
) -> Result<Vec<ConsumerRecord>> {
    let mut out = Vec::new();
    for item in batches(data) {
        let (at, header) = match item {
            Ok(v) => v,
            // A torn tail after complete batches is not an error (Kafka ignores partial
            // batches at the end of a fetch); torn data with nothing before it is.
            Err(e) if out.is_empty() => return Err(corrupt(tp, e)),
            Err(_) => break,
        };
        if header.last_offset() < position || header.is_control() {
            continue;
        }
        let batch = data.slice(at..at + header.size());
        let leader_epoch = Some(header.partition_leader_epoch).filter(|e| *e >= 0);
        let timestamp_type = if header.timestamp_type_log_append() {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        for r in decode_records(&batch).map_err(|e| corrupt(tp, e))? {
            if r.offset < position {
                continue;
            }
            out.push(ConsumerRecord {
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type,
                key: r.key,
                value: r.value,
                headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                leader_epoch,
            });
        }
    }
    Ok(out)
}

fn outcome(
    tp: &TopicPartition,
    resp: FetchPartitionResponse,
    position: i64,
    metadata: &Arc<Metadata>,
) -> Result<Outcome> {
    match ErrorCode::from_wire(resp.error_code) {
        ErrorCode::None => Ok(Outcome::Records(decode(tp, &resp.records, position)?)),
        ErrorCode::OffsetOutOfRange => Ok(Outcome::OutOfRange),
        code if code.is_retriable() => {
            debug!(%tp, error = %code, "fetch error; refreshing metadata");
            if let Some(h) = resp.current_leader {
                metadata.apply_leader_hint(&tp.topic, tp.partition, h.leader_id, h.leader_epoch);
            }
            metadata.request_update();
            Ok(Outcome::Retry(ClientError::kafka(
                code,
                format!("fetch of {tp}"),
            )))
        }
        code => Err(ClientError::kafka(code, format!("fetch of {tp}"))),
    }
}

/// Fetches every partition in `positions` from its leader, waiting at most `max_wait` for
/// `fetch.min.bytes`. Partitions without a known leader come back as `Retry`. Each answer's
/// round trip and each partition's high watermark go to `sensors`.
pub(crate) async fn fetch_round(
    metadata: &Arc<Metadata>,
    config: &ConsumerConfig,
    positions: &[(TopicPartition, i64)],
    max_wait: Duration,
    sensors: &ConsumerSensors,
) -> Result<Vec<(TopicPartition, Outcome)>> {
    let mut results = Vec::new();
    let mut by_leader: BTreeMap<String, Vec<(TopicPartition, i64)>> = BTreeMap::new();
    for (tp, pos) in positions {
        match metadata.leader_for(&tp.topic, tp.partition) {
            Some((_, addr)) => by_leader.entry(addr).or_default().push((tp.clone(), *pos)),
            None => {
                metadata.request_update();
                let e = ClientError::kafka(
                    ErrorCode::LeaderNotAvailable,
                    format!("no leader known for {tp}"),
                );
                results.push((tp.clone(), Outcome::Retry(e)));
            }
        }
    }
    let max_wait_ms = i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX);
    let mut tasks = JoinSet::new();
    for (addr, parts) in by_leader {
        let mut topics: BTreeMap<String, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, pos) in &parts {
            topics
                .entry(tp.topic.clone())
                .or_default()
                .push(FetchPartition {
                    partition: tp.partition,
                    current_leader_epoch: -1,
                    fetch_offset: *pos,
                    log_start_offset: -1,
                    partition_max_bytes: config.max_partition_fetch_bytes,
                    flushed_offset: -1,
                    last_fetched_epoch: -1,
                });
        }
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms,
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            replica_epoch: -1,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| FetchTopic { name, partitions })
                .collect(),
        };
        let client = rpc::brook(metadata.channels(), &addr);
        // The long poll itself may take max_wait; the request timeout comes on top.
        let timeout = max_wait + config.request_timeout;
        tasks.spawn(async move {
            let start = tokio::time::Instant::now();
            let result = match client {
                Ok(mut c) => rpc::call(timeout, c.fetch(req)).await,
                Err(e) => Err(e),
            };
            (addr, parts, result, start.elapsed())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (addr, parts, result, latency) =
            joined.map_err(|e| ClientError::Transport(format!("fetch task failed: {e}")))?;
        let resp = match result {
            Ok(r) => {
                sensors.fetch_response(latency);
                r
            }
            Err(e) if e.is_retriable() => {
                debug!(addr, error = %e, "fetch failed; will retry");
                metadata.request_update();
                results.extend(
                    parts
                        .into_iter()
                        .map(|(tp, _)| (tp, Outcome::Retry(e.clone()))),
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = crate::error::check(resp.error_code, "", "fetch") {
            if e.is_retriable() {
                metadata.request_update();
                results.extend(
                    parts
                        .into_iter()
                        .map(|(tp, _)| (tp, Outcome::Retry(e.clone()))),
                );
                continue;
            }
            return Err(e);
        }
        let mut answers: BTreeMap<(String, i32), FetchPartitionResponse> = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                answers.insert((t.name.clone(), p.partition), p);
            }
        }
        for (tp, pos) in parts {
            match answers.remove(&(tp.topic.clone(), tp.partition)) {
                Some(p) => {
                    let hw = p.high_watermark;
                    let o = outcome(&tp, p, pos, metadata)?;
                    if let Outcome::Records(recs) = &o {
                        sensors.fetched(&tp, hw, pos, recs.len());
                    }
                    results.push((tp, o));
                }
                None => {
                    let e = ClientError::kafka(
                        ErrorCode::UnknownServerError,
                        format!("the fetch response has no result for {tp}"),
                    );
                    results.push((tp, Outcome::Retry(e)));
                }
            }
        }
    }
    Ok(results)
}
