//! Replication's moving parts (SPEC §4): one follower fetcher task per followed partition, the
//! leader's ISR shrink checks, and the AlterPartition requests that carry ISR changes to the
//! controller. All decisions are made by `Partition` (and the plain code under it); these tasks
//! only move requests and bytes.
//!
//! A fetcher first settles where its log diverges from the leader's with OffsetForLeaderEpoch
//! (KIP-101/279: never truncate to the high watermark), then long-polls Fetch from its LEO,
//! reporting its LEO and flushed offset each time.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::*;
use tokio::task::JoinHandle;

use crate::broker::Broker;
use crate::events::{Event, TruncationCause};
use crate::partition::{IsrProposal, Partition};
use crate::replica_state::{TruncationDecision, truncation_offset};

/// Running fetcher tasks, one per followed partition.
#[derive(Debug, Default)]
pub struct Fetchers {
    tasks: Mutex<HashMap<(String, i32), JoinHandle<()>>>,
}

impl Fetchers {
    /// (Re)starts the fetcher of `part` towards `leader` in `epoch`.
    pub fn start(&self, broker: &Arc<Broker>, part: Arc<Partition>, leader: i32, epoch: i32) {
        let key = (part.topic.clone(), part.index);
        let task = tokio::spawn(run_fetcher(broker.clone(), part, leader, epoch));
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = tasks.insert(key, task) {
            old.abort();
        }
    }

    /// Aborts every fetcher (shutdown, kill; also on drop).
    pub fn stop_all(&self) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for (_, t) in tasks.drain() {
            t.abort();
        }
    }
}

impl Drop for Fetchers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

const BACKOFF: Duration = Duration::from_millis(50);

/// A client to `leader`'s Brook service, through the broker's dialer.
pub(crate) fn leader_client(
    broker: &Broker,
    leader: i32,
) -> Option<BrookClient<tonic::transport::Channel>> {
    let image = broker.image();
    let b = image.brokers.get(&leader)?;
    let channel = broker
        .env
        .channels
        .get(&format!("{}:{}", b.host, b.port))
        .ok()?;
    Some(BrookClient::new(channel).max_decoding_message_size(usize::MAX))
}

async fn run_fetcher(broker: Arc<Broker>, part: Arc<Partition>, leader: i32, epoch: i32) {
    let me = broker.config.node_id;
    let lag = &broker.metrics.replication;
    lag.clear_follower_lag(&part.topic, part.index);
    // Phase 1: find where our log diverges from the leader's and cut it there (E6).
    loop {
        if !part.follows(leader, epoch) {
            return;
        }
        let Some(mut client) = leader_client(&broker, leader) else {
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        match truncate_to_leader(&mut client, &part, (me, leader), epoch).await {
            Ok(()) => break,
            Err(e) => {
                tracing::debug!(topic = %part.topic, partition = part.index, "truncation query failed: {e}");
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
    // Phase 2: fetch from our LEO, long-polling the leader.
    let wait = broker.config.replica_fetch_wait_max_ms.min(i32::MAX as u64) as i32;
    let max_bytes = broker.config.replica_fetch_max_bytes.min(i32::MAX as usize) as i32;
    loop {
        if !part.follows(leader, epoch) {
            return;
        }
        let Some(mut client) = leader_client(&broker, leader) else {
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        let req = FetchRequest {
            replica_id: me,
            max_wait_ms: wait,
            min_bytes: 1,
            max_bytes,
            replica_epoch: broker.broker_epoch.load(Ordering::Acquire),
            topics: vec![FetchTopic {
                name: part.topic.clone(),
                partitions: vec![FetchPartition {
                    partition: part.index,
                    current_leader_epoch: epoch,
                    fetch_offset: part.log_end_offset(),
                    log_start_offset: part.offsets().log_start,
                    partition_max_bytes: max_bytes,
                    flushed_offset: part.flushed_offset(),
                    last_fetched_epoch: -1,
                }],
            }],
        };
        let resp = match client.fetch(req).await {
            Ok(r) => r.into_inner(),
            Err(e) => {
                tracing::debug!(topic = %part.topic, partition = part.index, "fetch from leader {leader} failed: {}", e.message());
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        let Some(p) = resp.topics.first().and_then(|t| t.partitions.first()) else {
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        match ErrorCode::from_wire(p.error_code) {
            ErrorCode::None => match part.append_as_follower(&p.records, p.high_watermark, epoch) {
                Ok(Some(last)) => {
                    lag.set_follower_lag(&part.topic, part.index, p.high_watermark, last + 1);
                    if let Err(e) = part.flush(last).await {
                        tracing::error!(topic = %part.topic, partition = part.index, "follower flush failed: {e}");
                    }
                }
                Ok(None) => {
                    let next = part.log_end_offset();
                    lag.set_follower_lag(&part.topic, part.index, p.high_watermark, next);
                }
                Err(e) => {
                    tracing::warn!(topic = %part.topic, partition = part.index, "follower append failed: {e}");
                    tokio::time::sleep(BACKOFF).await;
                }
            },
            ErrorCode::OffsetOutOfRange
                if p.log_end_offset >= 0 && p.log_end_offset < part.log_end_offset() =>
            {
                // E7: the leader is behind us (an unclean election): cut back to its end.
                let why = TruncationCause::LeaderLogEnd { leader };
                if let Err(e) = part.truncate_to(p.log_end_offset, why) {
                    tracing::error!(topic = %part.topic, partition = part.index, "truncation failed: {e}");
                }
            }
            code => {
                tracing::debug!(topic = %part.topic, partition = part.index, "fetch error {code}");
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

/// The OffsetForLeaderEpoch dialogue (E6), possibly over several rounds (KIP-279).
async fn truncate_to_leader(
    client: &mut BrookClient<tonic::transport::Channel>,
    part: &Partition,
    (me, leader): (i32, i32),
    epoch: i32,
) -> Result<(), String> {
    let mut ask = match part.epoch_cache().latest_epoch() {
        Some(e) => e,
        None => return Ok(()), // empty log, or no epochs: fetch from the LEO
    };
    for _ in 0..64 {
        let req = OffsetForLeaderEpochRequest {
            replica_id: me,
            topics: vec![OffsetForLeaderEpochTopic {
                name: part.topic.clone(),
                partitions: vec![OffsetForLeaderEpochPartition {
                    partition: part.index,
                    current_leader_epoch: epoch,
                    leader_epoch: ask,
                }],
            }],
        };
        let resp = client
            .offset_for_leader_epoch(req)
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner();
        let answer = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or("empty OffsetForLeaderEpoch response")?;
        let code = ErrorCode::from_wire(answer.error_code);
        if code != ErrorCode::None {
            return Err(code.to_string());
        }
        let leo = part.log_end_offset();
        let why = TruncationCause::DivergentEpoch {
            epoch: answer.leader_epoch,
            end_offset: answer.end_offset,
            leader,
        };
        match truncation_offset(
            (answer.leader_epoch, answer.end_offset),
            &part.epoch_cache(),
            leo,
        ) {
            TruncationDecision::TruncateTo(o) => {
                if o < leo {
                    part.truncate_to(o, why).map_err(|e| e.to_string())?;
                }
                return Ok(());
            }
            TruncationDecision::AskAgain {
                epoch: e,
                truncate_to,
            } => {
                if truncate_to < leo {
                    part.truncate_to(truncate_to, why)
                        .map_err(|e| e.to_string())?;
                }
                ask = e;
            }
        }
    }
    Err("OffsetForLeaderEpoch did not converge".into())
}

/// Sends an ISR change to the controller and applies the answer (rule F4).
pub async fn alter_isr(broker: Arc<Broker>, part: Arc<Partition>, proposal: IsrProposal) {
    // The size of the ISR the proposal changes, for the shrink/expand counters (the metadata may
    // bring the accepted change before the answer does). One change is in flight at a time (F4).
    let before = proposal.old_isr.len();
    let req = AlterPartitionRequest {
        node_id: broker.config.node_id,
        broker_epoch: broker.broker_epoch.load(Ordering::Acquire),
        topics: vec![AlterPartitionTopic {
            name: part.topic.clone(),
            partitions: vec![AlterPartitionData {
                partition: part.index,
                leader_epoch: proposal.leader_epoch,
                partition_epoch: proposal.partition_epoch,
                new_isr: proposal.new_isr.clone(),
            }],
        }],
    };
    let link = &broker.controller_link;
    let resp = match link
        .call("AlterPartition", link.request_timeout(), |mut c| {
            let req = req.clone();
            async move { c.alter_partition(req).await }
        })
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(topic = %part.topic, partition = part.index, "ISR change not sent: {e}");
            part.isr_change_failed();
            return;
        }
    };
    match resp.topics.first().and_then(|t| t.partitions.first()) {
        Some(r) if r.error_code == 0 => {
            let (me, name) = (
                broker.config.node_id,
                format!("{}-{}", part.topic, part.index),
            );
            let IsrProposal { old_isr, cause, .. } = proposal;
            Event::isr_change(name, me, r.leader_epoch, old_isr, r.isr.clone(), cause).log();
            // Counted here, on the leader once the controller accepted it, as Kafka does.
            broker.metrics.replication.isr_changed(before, r.isr.len());
            part.isr_changed(r.isr.clone(), r.partition_epoch);
        }
        other => {
            tracing::debug!(topic = %part.topic, partition = part.index, answer = ?other, "ISR change refused");
            part.isr_change_failed();
        }
    }
}

/// Every `replica.lag.time.max.ms / 2`, leaders propose dropping followers that fell behind (F3).
pub async fn run_isr_checks(broker: Arc<Broker>) {
    let every = Duration::from_millis((broker.config.replica_lag_time_max_ms / 2).max(10));
    loop {
        tokio::time::sleep(every).await;
        for part in broker.replicas.all() {
            if let Some(p) = part.propose_shrink() {
                tokio::spawn(alter_isr(broker.clone(), part.clone(), p));
            }
        }
    }
}
