//! The admin client's `ListOffsets` over many partitions at once (Kafka's
//! `Admin.listOffsets(Map<TopicPartition, OffsetSpec>)`): one request per partition leader, one
//! result per partition, so that a partition without a leader shows as that error and does not
//! hide the others' offsets (`brook groups describe` prints `-` for it).
//!
//! Partitions answered with a retriable error (`NOT_LEADER_OR_FOLLOWER`,
//! `LEADER_NOT_AVAILABLE`, a transport error, …) are asked again after a metadata refresh and a
//! backoff step, until `request.timeout.ms`; then they keep their last error.

use std::collections::BTreeMap;

use brook_proto::ErrorCode;
use tokio::time::Instant;
use tracing::info;

use super::{Admin, OffsetSpec};
use crate::backoff::Retrier;
use crate::consumer::list_offsets_at;
use crate::error::{ClientError, Result};
use crate::topic_partition::TopicPartition;

impl Admin {
    /// The offset each `spec` names, per partition, from the partitions' leaders: the log start
    /// offset, the high watermark, or for a timestamp the first offset whose record has at
    /// least that timestamp (-1 when none has). The outer error is a failed metadata refresh;
    /// each partition's own failure is its entry's error.
    pub async fn list_partition_offsets(
        &self,
        specs: &BTreeMap<TopicPartition, OffsetSpec>,
    ) -> Result<BTreeMap<TopicPartition, Result<i64>>> {
        let deadline = Instant::now() + self.config.request_timeout;
        let mut retry = Retrier::new(self.config.backoff());
        let mut out: BTreeMap<TopicPartition, Result<i64>> = BTreeMap::new();
        let mut pending: Vec<(TopicPartition, OffsetSpec)> =
            specs.iter().map(|(tp, s)| (tp.clone(), *s)).collect();
        loop {
            let mut failed = Vec::new();
            let mut by_leader: BTreeMap<String, Vec<(TopicPartition, OffsetSpec)>> =
                BTreeMap::new();
            if pending
                .iter()
                .any(|(tp, _)| self.metadata.leader_for(&tp.topic, tp.partition).is_none())
            {
                self.metadata.refresh().await?;
            }
            for (tp, spec) in pending {
                match self.metadata.leader_for(&tp.topic, tp.partition) {
                    Some((_, addr)) => by_leader.entry(addr).or_default().push((tp, spec)),
                    None => {
                        let known = self
                            .metadata
                            .snapshot()
                            .partition(&tp.topic, tp.partition)
                            .is_some();
                        if known {
                            let e = ClientError::kafka(
                                ErrorCode::LeaderNotAvailable,
                                format!("ListOffsets {tp}: no leader known"),
                            );
                            failed.push((tp, spec, e));
                        } else {
                            // Metadata was just refreshed: the partition does not exist.
                            let e = ClientError::kafka(
                                ErrorCode::UnknownTopicOrPartition,
                                format!("ListOffsets {tp}: no such partition"),
                            );
                            out.insert(tp, Err(e));
                        }
                    }
                }
            }
            for (addr, group) in by_leader {
                let wire: Vec<(TopicPartition, i64)> =
                    group.iter().map(|(tp, s)| (tp.clone(), s.wire())).collect();
                let answers =
                    list_offsets_at(&self.metadata, self.config.request_timeout, &addr, &wire)
                        .await;
                for ((tp, r), (_, spec)) in answers.into_iter().zip(group) {
                    match r {
                        Err(e) if e.is_retriable() => failed.push((tp, spec, e)),
                        r => {
                            out.insert(tp, r);
                        }
                    }
                }
            }
            if failed.is_empty() {
                return Ok(out);
            }
            let now = Instant::now();
            let step = retry.failed(now);
            if now + step.delay >= deadline {
                for (tp, _, e) in failed {
                    out.insert(tp, Err(e));
                }
                return Ok(out);
            }
            if step.log {
                info!(partitions = failed.len(), error = %failed[0].2,
                    "ListOffsets failed; retrying in {} ms (attempt {})", step.delay_ms(), step.attempt);
            }
            self.metadata.request_update();
            tokio::time::sleep(step.delay).await;
            pending = failed.into_iter().map(|(tp, spec, _)| (tp, spec)).collect();
        }
    }
}
