//! Offsets outside the data path: the group coordinator (found with `FindCoordinator`) that
//! stores committed offsets (`OffsetCommit` / `OffsetFetch`, rule C1/C2), and `ListOffsets`
//! against partition leaders for `auto.offset.reset` and `seek_to_beginning/end`.
//!
//! A commit carries the identity it is made as: generation -1 and no member id in assign mode
//! (SPEC §7), the member's generation, member id and `group.instance.id` in a group. How a
//! failed commit is retried is the caller's choice ([`CommitRetry`]): commitSync retries
//! retriable errors, commitAsync never retries (Kafka), and a group member never retries
//! across generations.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::{
    FindCoordinatorRequest, ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic, OffsetFetchRequest,
    OffsetFetchTopic,
};
use tokio::time::Instant;
use tracing::{debug, info};

use super::membership::Identity;
use crate::backoff::{ExponentialBackoff, Retrier};
use crate::error::{ClientError, Result, check};
use crate::metadata::Metadata;
use crate::metrics::ConsumerSensors;
use crate::rpc;
use crate::topic_partition::TopicPartition;

/// ListOffsets timestamp meaning "log start offset".
pub const EARLIEST: i64 = -2;
/// ListOffsets timestamp meaning "high watermark".
pub const LATEST: i64 = -1;

/// Client for one group's coordinator, shared by the consumer and its async commits.
#[derive(Debug)]
pub(crate) struct Coordinator {
    group_id: String,
    metadata: Arc<Metadata>,
    request_timeout: Duration,
    backoff: ExponentialBackoff,
    addr: Mutex<Option<String>>,
    /// The consumer's metrics: commit latencies, rebalances (the join task reaches them here).
    sensors: Arc<ConsumerSensors>,
}

/// How a commit treats retriable errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitRetry {
    /// One attempt (after finding the coordinator): `commit_async`.
    Never,
    /// Retry retriable errors until `request.timeout.ms` (commitSync in assign mode).
    Retriable,
    /// As `Retriable`, but `REBALANCE_IN_PROGRESS` is returned at once: a group member's
    /// commitSync, which must not carry over into another generation.
    WithinGeneration,
}

/// Errors after which the coordinator must be looked up again (C2).
fn rediscover(e: &ClientError) -> bool {
    matches!(
        e.code(),
        Some(
            ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NetworkException
                | ErrorCode::RequestTimedOut
        )
    )
}

impl Coordinator {
    pub fn new(
        group_id: String,
        metadata: Arc<Metadata>,
        request_timeout: Duration,
        backoff: ExponentialBackoff,
        sensors: Arc<ConsumerSensors>,
    ) -> Coordinator {
        Coordinator {
            group_id,
            metadata,
            request_timeout,
            backoff,
            addr: Mutex::new(None),
            sensors,
        }
    }

    /// The consumer's metrics.
    pub fn sensors(&self) -> &ConsumerSensors {
        &self.sensors
    }

    /// The group this coordinator client serves.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The metadata cache (its channels carry every group RPC).
    pub fn metadata(&self) -> &Arc<Metadata> {
        &self.metadata
    }

    /// Forgets the coordinator: the next call looks it up again (after NOT_COORDINATOR,
    /// COORDINATOR_NOT_AVAILABLE, transport errors).
    pub fn forget(&self) {
        *self.addr.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The coordinator's address: the cached one, else FindCoordinator asked of each known
    /// broker in turn.
    pub async fn find(&self) -> Result<String> {
        if let Some(a) = self.addr.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(a);
        }
        let mut last = None;
        for addr in self.metadata.candidate_addrs() {
            let mut client = rpc::brook(self.metadata.channels(), &addr)?;
            let req = FindCoordinatorRequest {
                key: self.group_id.clone(),
            };
            match rpc::call(self.request_timeout, client.find_coordinator(req)).await {
                Ok(r) => match check(r.error_code, &r.error_message, "FindCoordinator") {
                    Ok(()) => {
                        let found = format!("{}:{}", r.host, r.port);
                        debug!(group = %self.group_id, coordinator = %found, "coordinator found");
                        *self.addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
                        return Ok(found);
                    }
                    Err(e) => last = Some(e),
                },
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Transport("no broker to ask".into())))
    }

    /// Runs `op` against the coordinator, re-discovering it and retrying retriable errors with
    /// backoff until `request.timeout.ms` has passed (commitSync semantics, C5); a retry whose
    /// wait would end past the deadline is not made, the last error is returned instead.
    async fn with_retries<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.with_retries_if(what, ClientError::is_retriable, op)
            .await
    }

    /// `with_retries`, retrying only the errors `retry_if` accepts.
    async fn with_retries_if<T, F, Fut>(
        &self,
        what: &str,
        retry_if: impl Fn(&ClientError) -> bool,
        op: F,
    ) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.request_timeout;
        let mut retry = Retrier::new(self.backoff);
        loop {
            let result = match self.find().await {
                Ok(addr) => op(addr).await,
                Err(e) => Err(e),
            };
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) if retry_if(&e) => e,
                Err(e) => {
                    if rediscover(&e) {
                        self.forget();
                    }
                    return Err(e);
                }
            };
            let now = Instant::now();
            let step = retry.failed(now);
            if rediscover(&e) {
                self.forget();
            }
            if now + step.delay >= deadline {
                return Err(e);
            }
            if step.log {
                info!(group = %self.group_id, error = %e,
                    "{what} failed; retrying in {} ms (attempt {})", step.delay_ms(), step.attempt);
            }
            tokio::time::sleep(step.delay).await;
        }
    }

    /// Commits `offsets` (each the next offset to read) as `identity`, retrying as `retry` says.
    pub async fn commit(
        &self,
        offsets: &BTreeMap<TopicPartition, i64>,
        identity: &Identity,
        retry: CommitRetry,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let req = offset_commit_request(&self.group_id, identity, offsets);
        let retry_if = |e: &ClientError| match retry {
            CommitRetry::Never => false,
            CommitRetry::Retriable => e.is_retriable(),
            CommitRetry::WithinGeneration => {
                e.is_retriable() && e.code() != Some(ErrorCode::RebalanceInProgress)
            }
        };
        self.with_retries_if("OffsetCommit", retry_if, |addr| {
            let req = req.clone();
            async move {
                let mut client = rpc::brook(self.metadata.channels(), &addr)?;
                let start = Instant::now();
                let resp = rpc::call(self.request_timeout, client.offset_commit(req)).await?;
                self.sensors.commit_response(start.elapsed());
                check_offset_commit(resp, "")
            }
        })
        .await
    }

    /// Committed offsets of `tps` (`None`: nothing committed).
    pub async fn fetch(
        &self,
        tps: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in tps {
            topics.entry(&tp.topic).or_default().push(tp.partition);
        }
        let req = OffsetFetchRequest {
            group_id: self.group_id.clone(),
            topics: topics
                .into_iter()
                .map(|(name, partitions)| OffsetFetchTopic {
                    name: name.to_string(),
                    partitions,
                })
                .collect(),
        };
        self.with_retries("OffsetFetch", |addr| {
            let req = req.clone();
            async move {
                let mut client = rpc::brook(self.metadata.channels(), &addr)?;
                let resp = rpc::call(self.request_timeout, client.offset_fetch(req)).await?;
                check(resp.error_code, "", "OffsetFetch")?;
                let mut out = BTreeMap::new();
                for t in resp.topics {
                    for p in t.partitions {
                        let ctx = format!("OffsetFetch {}-{}", t.name, p.partition);
                        check(p.error_code, &p.metadata, &ctx)?;
                        let offset = Some(p.committed_offset).filter(|o| *o >= 0);
                        out.insert(TopicPartition::new(t.name.clone(), p.partition), offset);
                    }
                }
                Ok(out)
            }
        })
        .await
    }
}

/// The offset each spec names (`EARLIEST`, `LATEST` or a timestamp), from the partitions'
/// leaders, one ListOffsets per leader. The first failure fails the whole call (and asks for a
/// metadata refresh); the admin client's `list_partition_offsets` keeps one result per partition.
pub(crate) async fn list_offsets(
    metadata: &Arc<Metadata>,
    request_timeout: Duration,
    specs: &[(TopicPartition, i64)],
) -> Result<BTreeMap<TopicPartition, i64>> {
    let mut by_leader: BTreeMap<String, Vec<(TopicPartition, i64)>> = BTreeMap::new();
    for (tp, ts) in specs {
        if metadata.leader_for(&tp.topic, tp.partition).is_none() {
            metadata.refresh().await?;
        }
        let (_, addr) = metadata
            .leader_for(&tp.topic, tp.partition)
            .ok_or_else(|| {
                ClientError::kafka(
                    ErrorCode::LeaderNotAvailable,
                    format!("no leader known for {tp}"),
                )
            })?;
        by_leader.entry(addr).or_default().push((tp.clone(), *ts));
    }
    let mut out = BTreeMap::new();
    for (addr, specs) in by_leader {
        for (tp, r) in list_offsets_at(metadata, request_timeout, &addr, &specs).await {
            match r {
                Ok(offset) => {
                    out.insert(tp, offset);
                }
                Err(e) => {
                    metadata.request_update();
                    return Err(e);
                }
            }
        }
    }
    Ok(out)
}

/// One ListOffsets request to the leader at `addr`: a result for every spec, in order (a
/// transport failure is every partition's; a partition the answer leaves out is
/// `UNKNOWN_SERVER_ERROR`).
pub(crate) async fn list_offsets_at(
    metadata: &Metadata,
    request_timeout: Duration,
    addr: &str,
    specs: &[(TopicPartition, i64)],
) -> Vec<(TopicPartition, Result<i64>)> {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (tp, ts) in specs {
        topics
            .entry(&tp.topic)
            .or_default()
            .push(ListOffsetsPartition {
                partition: tp.partition,
                current_leader_epoch: -1,
                timestamp: *ts,
            });
    }
    let req = ListOffsetsRequest {
        replica_id: -1,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| ListOffsetsTopic {
                name: name.to_string(),
                partitions,
            })
            .collect(),
    };
    let resp = match rpc::brook(metadata.channels(), addr) {
        Ok(mut c) => rpc::call(request_timeout, c.list_offsets(req)).await,
        Err(e) => Err(e),
    };
    let mut answers: BTreeMap<TopicPartition, Result<i64>> = BTreeMap::new();
    match resp {
        Ok(resp) => {
            for t in resp.topics {
                for p in t.partitions {
                    let tp = TopicPartition::new(t.name.clone(), p.partition);
                    let r =
                        check(p.error_code, "", &format!("ListOffsets {tp}")).map(|()| p.offset);
                    answers.insert(tp, r);
                }
            }
        }
        Err(e) => {
            return specs
                .iter()
                .map(|(tp, _)| (tp.clone(), Err(e.clone())))
                .collect();
        }
    }
    specs
        .iter()
        .map(|(tp, _)| {
            let r = answers.remove(tp).unwrap_or_else(|| {
                Err(ClientError::kafka(
                    ErrorCode::UnknownServerError,
                    format!("ListOffsets: the response has no result for {tp}"),
                ))
            });
            (tp.clone(), r)
        })
        .collect()
}

/// The leader's end offset for `epoch` of `tp` (OffsetForLeaderEpoch), used to detect a log that
/// was truncated under a consumer's position (KIP-320).
pub(crate) async fn end_offset_for_epoch(
    metadata: &Arc<Metadata>,
    request_timeout: Duration,
    tp: &TopicPartition,
    epoch: i32,
) -> Result<i64> {
    let (_, addr) = metadata
        .leader_for(&tp.topic, tp.partition)
        .ok_or_else(|| {
            ClientError::kafka(
                ErrorCode::LeaderNotAvailable,
                format!("no leader known for {tp}"),
            )
        })?;
    let req = brook_proto::v1::OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics: vec![brook_proto::v1::OffsetForLeaderEpochTopic {
            name: tp.topic.clone(),
            partitions: vec![brook_proto::v1::OffsetForLeaderEpochPartition {
                partition: tp.partition,
                current_leader_epoch: -1,
                leader_epoch: epoch,
            }],
        }],
    };
    let mut client = rpc::brook(metadata.channels(), &addr)?;
    let resp = rpc::call(request_timeout, client.offset_for_leader_epoch(req)).await?;
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| {
            ClientError::kafka(
                ErrorCode::UnknownServerError,
                "empty OffsetForLeaderEpoch answer",
            )
        })?;
    check(p.error_code, "", &format!("OffsetForLeaderEpoch {tp}"))?;
    Ok(p.end_offset)
}

/// The OffsetCommit request storing `offsets` (each the next offset to read) for `group` as
/// `identity` (a member, or [`Identity::outside_group`]).
pub(crate) fn offset_commit_request(
    group: &str,
    identity: &Identity,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitPartition>> = BTreeMap::new();
    for (tp, &offset) in offsets {
        topics
            .entry(&tp.topic)
            .or_default()
            .push(OffsetCommitPartition {
                partition: tp.partition,
                committed_offset: offset,
                committed_leader_epoch: -1,
                metadata: String::new(),
            });
    }
    OffsetCommitRequest {
        group_id: group.to_string(),
        generation_id: identity.generation,
        member_id: identity.member_id.clone(),
        group_instance_id: identity.group_instance_id.clone().unwrap_or_default(),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetCommitTopic {
                name: name.to_string(),
                partitions,
            })
            .collect(),
    }
}
/// An OffsetCommit answer as one result: the group-level error, else the first partition's
/// (`for_group` is appended to the messages, e.g. " for group g").
pub(crate) fn check_offset_commit(
    resp: brook_proto::v1::OffsetCommitResponse,
    for_group: &str,
) -> Result<()> {
    check(resp.error_code, "", &format!("OffsetCommit{for_group}"))?;
    for t in resp.topics {
        for p in t.partitions {
            check(
                p.error_code,
                "",
                &format!("OffsetCommit {}-{}{for_group}", t.name, p.partition),
            )?;
        }
    }
    Ok(())
}
