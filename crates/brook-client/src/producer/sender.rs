//! The sender task: drains ready batches, sends one `ProduceRequest` per leader broker with at
//! most one batch per partition, keeps up to `max.in.flight.requests.per.connection` requests in
//! flight per broker, and completes, retries or fails batches from the answers.
//!
//! Ordering and idempotence (SPEC §6, rules I1–I5):
//! * A partition's drained-but-unresolved batches sit in `PartitionState::pending` in sequence
//!   order. Sequence numbers are assigned when a batch is first drained and are never changed
//!   by a plain retry, so the broker recognises a retry of an appended batch as a duplicate.
//! * At most 5 batches per partition are in flight (the broker remembers the last 5).
//! * After a retriable failure, nothing of that partition overtakes the failed batch: the
//!   earliest unresolved batch is resent alone once nothing of the partition is in flight, and
//!   pipelining resumes when no failed batch is left. (gRPC runs concurrent requests on separate
//!   HTTP/2 streams, so even without failures a later batch can reach the broker first; it gets
//!   OUT_OF_ORDER_SEQUENCE_NUMBER and is retried, which restores order.)
//! * OUT_OF_ORDER_SEQUENCE_NUMBER for a batch sent while an earlier batch of the partition was
//!   unresolved is retried plainly (the predecessor may just not have arrived). For a batch sent
//!   as the earliest unresolved one — the broker lost or never had our predecessor, e.g. it was
//!   failed by the delivery timeout — and for UNKNOWN_PRODUCER_ID, the producer bumps its epoch:
//!   it stops sending, waits for every in-flight request to finish, calls InitProducerId with its
//!   current id and epoch, and renumbers every unresolved batch of every partition from 0 under
//!   the new epoch (re-encoding the batch header) before resending them in order.
//! * DUPLICATE_SEQUENCE_NUMBER is success without an offset (-1).
//!
//! Without idempotence the same per-partition rules apply minus sequence numbers; with
//! `max.in.flight.requests.per.connection=1` order is then strict, as in Kafka.

mod epoch;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use brook_log::batch::increment_sequence;
use brook_proto::v1::{
    PartitionProduceData, PartitionProduceResponse, ProduceRequest, ProduceResponse,
    TopicProduceData,
};
use brook_proto::{Durability, ErrorCode};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::Shared;
use super::accumulator::{BatchState, ProducerBatch};
use crate::backoff::Retrier;
use crate::config::Acks;
use crate::error::{ClientError, Result};
use crate::rpc;
use crate::topic_partition::TopicPartition;

/// The broker keeps the last 5 batches per producer (I2), so more in flight could not be
/// deduplicated on retry.
const MAX_IN_FLIGHT_PER_PARTITION_IDEMPOTENT: usize = 5;

#[derive(Debug, Default)]
struct PartitionState {
    pending: VecDeque<ProducerBatch>,
    in_flight: usize,
    next_seq: i32,
}

struct Completion {
    node: i32,
    sent: Vec<(TopicPartition, u64)>,
    result: Result<ProduceResponse>,
    latency: Duration,
}

/// One batch picked for a request.
struct Picked {
    tp: TopicPartition,
    id: u64,
    bytes: Bytes,
    deadline: Instant,
}

struct Sender {
    shared: Arc<Shared>,
    parts: BTreeMap<TopicPartition, PartitionState>,
    node_in_flight: HashMap<i32, usize>,
    total_in_flight: usize,
    tx: mpsc::UnboundedSender<Completion>,
    rx: mpsc::UnboundedReceiver<Completion>,
    /// Idempotent identity (producer id, epoch), once obtained.
    producer: Option<(i64, i16)>,
    bump_needed: bool,
    /// Paces InitProducerId retries: `retry.backoff.ms` growing to `retry.backoff.max.ms`.
    pid_retry: Retrier,
    leaderless: bool,
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pid_retry = Retrier::new(shared.config.backoff());
    let mut s = Sender {
        shared,
        parts: BTreeMap::new(),
        node_in_flight: HashMap::new(),
        total_in_flight: 0,
        tx,
        rx,
        producer: None,
        bump_needed: false,
        pid_retry,
        leaderless: false,
    };
    s.run().await;
    debug!("producer sender stopped");
}

impl Sender {
    async fn run(&mut self) {
        loop {
            let now = Instant::now();
            self.expire(now);
            if self.shared.idempotent
                && (self.producer.is_none() || self.bump_needed)
                && self.has_work()
                && self.total_in_flight == 0
                && self.pid_retry.is_due(now)
            {
                self.init_producer_id().await;
            }
            let now = Instant::now();
            if !self.shared.idempotent || (self.producer.is_some() && !self.bump_needed) {
                self.send_ready(now);
            }
            if self.total_in_flight == 0 && !self.has_work() && self.shared.lock_acc().closing {
                return;
            }
            let next = self.next_wakeup(now);
            let metadata = self.shared.metadata.clone();
            tokio::select! {
                Some(c) = self.rx.recv() => self.handle(c),
                _ = self.shared.wakeup.notified() => {}
                _ = metadata.updated().notified(), if self.leaderless => {}
                _ = tokio::time::sleep_until(next) => {}
            }
            while let Ok(c) = self.rx.try_recv() {
                self.handle(c);
            }
        }
    }

    fn has_work(&self) -> bool {
        self.parts.values().any(|p| !p.pending.is_empty()) || !self.shared.lock_acc().is_empty()
    }

    fn next_wakeup(&self, now: Instant) -> Instant {
        let cfg = &self.shared.config;
        let mut next = now + Duration::from_secs(3600);
        let mut consider = |t: Instant| {
            if t > now && t < next {
                next = t;
            }
        };
        if let Some(t) = self.shared.lock_acc().next_timer(now, cfg.delivery_timeout) {
            consider(t);
        }
        for p in self.parts.values() {
            for b in &p.pending {
                if let BatchState::Ready { not_before } = b.state {
                    consider(not_before);
                    consider(b.deadline(cfg.delivery_timeout));
                }
            }
        }
        if let Some(t) = self.pid_retry.retry_at() {
            consider(t);
        }
        if self.leaderless {
            consider(now + cfg.retry_backoff.max(Duration::from_millis(1)));
        }
        next
    }

    /// Fails batches whose delivery timeout passed while they waited (queued or backing off).
    /// In-flight batches are bounded by their request deadline and resolved on completion.
    fn expire(&mut self, now: Instant) {
        let timeout = self.shared.config.delivery_timeout;
        let expired = self.shared.lock_acc().expire(now, timeout);
        for b in expired {
            self.fail(b, None);
        }
        let mut failed = Vec::new();
        for p in self.parts.values_mut() {
            let mut i = 0;
            while i < p.pending.len() {
                let b = &p.pending[i];
                if matches!(b.state, BatchState::Ready { .. }) && now >= b.deadline(timeout) {
                    if let Some(b) = p.pending.remove(i) {
                        failed.push(b);
                    }
                } else {
                    i += 1;
                }
            }
        }
        for b in failed {
            let last = b.last_error.clone();
            self.fail(b, last);
        }
    }

    /// Fails a batch for good; `last` is the error behind a delivery timeout.
    fn fail(&self, batch: ProducerBatch, last: Option<ClientError>) {
        let cfg = &self.shared.config;
        let now = Instant::now();
        let error = if now >= batch.deadline(cfg.delivery_timeout) {
            ClientError::Timeout {
                what: "delivery.timeout.ms".into(),
                timeout_ms: u64::try_from(cfg.delivery_timeout.as_millis()).unwrap_or(u64::MAX),
                last_error: last.map(Box::new),
            }
        } else {
            last.unwrap_or(ClientError::Closed)
        };
        warn!(tp = %batch.tp, records = batch.records.len(), error = %error, "batch failed");
        let n = batch.records.len();
        // Count before resolving the futures, so a caller that sees the failure sees the metric.
        self.shared.records_done(n, true);
        batch.fail(error);
    }

    fn send_ready(&mut self, now: Instant) {
        let mut candidates: Vec<TopicPartition> = self.shared.lock_acc().partitions();
        for (tp, p) in &self.parts {
            if p.pending
                .iter()
                .any(|b| matches!(b.state, BatchState::Ready { .. }))
                && !candidates.contains(tp)
            {
                candidates.push(tp.clone());
            }
        }
        let mut by_node: BTreeMap<i32, (String, Vec<TopicPartition>)> = BTreeMap::new();
        self.leaderless = false;
        for tp in candidates {
            match self.shared.metadata.leader_for(&tp.topic, tp.partition) {
                Some((node, addr)) => by_node.entry(node).or_insert((addr, Vec::new())).1.push(tp),
                None => {
                    self.leaderless = true;
                    // Remember why the batch is waiting, so that a delivery timeout names it.
                    if let Some(p) = self.parts.get_mut(&tp) {
                        for b in p.pending.iter_mut().filter(|b| b.last_error.is_none()) {
                            b.last_error = Some(ClientError::kafka(
                                ErrorCode::LeaderNotAvailable,
                                format!("{tp} has no leader in the cluster metadata"),
                            ));
                        }
                    }
                }
            }
        }
        if self.leaderless {
            self.shared.metadata.request_update();
        }
        let max_in_flight = self.shared.config.max_in_flight;
        for (node, (addr, tps)) in by_node {
            while self.node_in_flight.get(&node).copied().unwrap_or(0) < max_in_flight {
                let mut picked = Vec::new();
                let mut budget = self.shared.config.max_request_size;
                for tp in &tps {
                    if let Some(p) = self.pick(tp, now, &mut budget, picked.is_empty()) {
                        picked.push(p);
                    }
                }
                if picked.is_empty() {
                    break;
                }
                self.dispatch(node, &addr, picked, now);
            }
        }
    }

    /// Picks the partition's next batch to send, if any may go now.
    fn pick(
        &mut self,
        tp: &TopicPartition,
        now: Instant,
        budget: &mut usize,
        first: bool,
    ) -> Option<Picked> {
        let idempotent = self.shared.idempotent;
        let delivery_timeout = self.shared.config.delivery_timeout;
        let fits = |size: usize, budget: &usize| first || size <= *budget;
        let p = self.parts.entry(tp.clone()).or_default();
        if let Some(idx) = p
            .pending
            .iter()
            .position(|b| matches!(b.state, BatchState::Ready { .. }))
        {
            let b = &p.pending[idx];
            let BatchState::Ready { not_before } = b.state else {
                return None;
            };
            // A failed batch is resent alone, from the head, once its partition is quiet, so
            // that nothing overtakes it; a backing-off batch blocks everything after it.
            if not_before > now || (b.attempts > 0 && (idx != 0 || p.in_flight > 0)) {
                return None;
            }
            if !fits(b.bytes.len(), budget) {
                return None;
            }
            let b = &mut p.pending[idx];
            b.state = BatchState::InFlight;
            b.sent_as_head = idx == 0;
            let (n, size) = (b.records.len(), b.bytes.len());
            let sensors = &self.shared.sensors;
            sensors.batch_drained(now, b.created, n, size, b.attempts > 0);
            b.attempts += 1;
            p.in_flight += 1;
            *budget = budget.saturating_sub(b.bytes.len());
            return Some(Picked {
                tp: tp.clone(),
                id: b.id,
                bytes: b.bytes.clone(),
                deadline: b.deadline(delivery_timeout),
            });
        }
        if idempotent && p.in_flight >= MAX_IN_FLIGHT_PER_PARTITION_IDEMPOTENT {
            return None;
        }
        let mut batch = {
            let mut acc = self.shared.lock_acc();
            if !fits(acc.front_size(tp)?, budget) {
                return None;
            }
            acc.pop_ready(tp, now)?
        };
        match self.producer.filter(|_| idempotent) {
            Some((pid, epoch)) => {
                let seq = p.next_seq;
                p.next_seq = increment_sequence(seq, batch.record_count());
                batch.encode(Some((pid, epoch, seq)));
            }
            None => batch.encode(None),
        }
        let (n, size) = (batch.records.len(), batch.bytes.len());
        self.shared
            .sensors
            .batch_drained(now, batch.created, n, size, false);
        if let Some(n) = self.shared.metadata.partition_count(&tp.topic) {
            self.shared
                .partitioner
                .on_batch_sent(&tp.topic, tp.partition, n);
        }
        batch.state = BatchState::InFlight;
        batch.sent_as_head = p.pending.is_empty();
        batch.attempts = 1;
        *budget = budget.saturating_sub(batch.bytes.len());
        let picked = Picked {
            tp: tp.clone(),
            id: batch.id,
            bytes: batch.bytes.clone(),
            deadline: batch.deadline(delivery_timeout),
        };
        p.in_flight += 1;
        p.pending.push_back(batch);
        Some(picked)
    }

    fn dispatch(&mut self, node: i32, addr: &str, picked: Vec<Picked>, now: Instant) {
        let cfg = &self.shared.config;
        // The request may not outlive the earliest delivery deadline among its batches, so
        // `delivery.timeout.ms` bounds the total time from `send` even for in-flight batches.
        let earliest = picked.iter().map(|p| p.deadline).min().unwrap_or(now);
        let timeout = cfg
            .request_timeout
            .min(earliest.saturating_duration_since(now))
            .max(Duration::from_millis(1));
        let mut topics: BTreeMap<String, Vec<PartitionProduceData>> = BTreeMap::new();
        let mut sent = Vec::with_capacity(picked.len());
        for p in picked {
            topics
                .entry(p.tp.topic.clone())
                .or_default()
                .push(PartitionProduceData {
                    partition: p.tp.partition,
                    records: p.bytes,
                });
            sent.push((p.tp, p.id));
        }
        let req = ProduceRequest {
            acks: cfg.acks.wire(),
            timeout_ms: i32::try_from(cfg.request_timeout.as_millis()).unwrap_or(i32::MAX),
            topics: topics
                .into_iter()
                .map(|(name, partitions)| TopicProduceData { name, partitions })
                .collect(),
        };
        *self.node_in_flight.entry(node).or_insert(0) += 1;
        self.total_in_flight += 1;
        self.shared.sensors.request_sent();
        let client = rpc::brook(&self.shared.channels, addr);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let result = match client {
                Ok(mut c) => rpc::call(timeout, c.produce(req)).await,
                Err(e) => Err(e),
            };
            // The sender outlives every request it spawned unless the runtime is shutting down.
            let _ = tx.send(Completion {
                node,
                sent,
                result,
                latency: start.elapsed(),
            });
        });
    }

    fn handle(&mut self, c: Completion) {
        if let Some(n) = self.node_in_flight.get_mut(&c.node) {
            *n = n.saturating_sub(1);
        }
        self.total_in_flight = self.total_in_flight.saturating_sub(1);
        if c.result.is_ok() {
            self.shared.sensors.response(c.latency);
        }
        let mut answers: HashMap<(String, i32), PartitionProduceResponse> = HashMap::new();
        let request_error = match c.result {
            Ok(resp) => {
                for t in resp.topics {
                    for p in t.partitions {
                        answers.insert((t.name.clone(), p.partition), p);
                    }
                }
                None
            }
            Err(e) => {
                debug!(node = c.node, error = %e, "produce request failed");
                Some(e)
            }
        };
        if request_error.is_some() {
            self.shared.metadata.request_update();
        }
        for (tp, id) in c.sent {
            let answer = match &request_error {
                Some(e) => Err(e.clone()),
                None => answers
                    .remove(&(tp.topic.clone(), tp.partition))
                    .ok_or_else(|| {
                        ClientError::kafka(
                            ErrorCode::UnknownServerError,
                            format!("the produce response has no result for {tp}"),
                        )
                    }),
            };
            self.complete(&tp, id, answer);
        }
    }

    fn complete(&mut self, tp: &TopicPartition, id: u64, answer: Result<PartitionProduceResponse>) {
        let cfg = &self.shared.config;
        let Some(p) = self.parts.get_mut(tp) else {
            return;
        };
        let Some(idx) = p.pending.iter().position(|b| b.id == id) else {
            return;
        };
        p.in_flight = p.in_flight.saturating_sub(1);
        let (error, hint) = match answer {
            Ok(r) => {
                let code = ErrorCode::from_wire(r.error_code);
                if code == ErrorCode::None || code == ErrorCode::DuplicateSequenceNumber {
                    let Some(batch) = p.pending.remove(idx) else {
                        return;
                    };
                    let n = batch.records.len();
                    if cfg.acks == Acks::None {
                        batch.succeed(-1, -1, Durability::None, None);
                    } else {
                        let offset = if code == ErrorCode::None {
                            r.base_offset
                        } else {
                            -1
                        };
                        let durability =
                            Durability::try_from(r.durability).unwrap_or(Durability::None);
                        let leader = r
                            .current_leader
                            .filter(|h| h.leader_id >= 0)
                            .map(|h| (h.leader_id, h.leader_epoch));
                        batch.succeed(offset, r.log_append_time_ms, durability, leader);
                    }
                    self.shared.records_done(n, false);
                    return;
                }
                let message = if r.error_message.is_empty() {
                    format!("produce to {tp}")
                } else {
                    format!("produce to {tp}: {}", r.error_message)
                };
                (ClientError::kafka(code, message), r.current_leader)
            }
            Err(e) => (e, None),
        };
        let code = error.code();
        let b = &mut p.pending[idx];
        if error.is_indeterminate() {
            b.maybe_written = true;
        }
        let idempotent = self.shared.idempotent;
        let sequence_trouble = idempotent
            && matches!(
                code,
                Some(ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId)
            );
        let retriable = cfg.acks != Acks::None && (error.is_retriable() || sequence_trouble);
        // `attempts` counts sends; `retries` bounds the sends after the first.
        let retries_left = i64::from(b.attempts) <= i64::from(cfg.retries);
        let now = Instant::now();
        if retriable && retries_left && now < b.deadline(cfg.delivery_timeout) {
            if sequence_trouble && (b.sent_as_head || code == Some(ErrorCode::UnknownProducerId)) {
                warn!(%tp, error = %error, "sequence rejected for the earliest batch; bumping epoch");
                self.bump_needed = true;
            } else {
                debug!(%tp, attempt = b.attempts, error = %error, "retrying batch");
            }
            b.state = BatchState::Ready {
                not_before: now + cfg.retry_backoff,
            };
            b.last_error = Some(error);
            if let Some(h) = hint {
                self.shared.metadata.apply_leader_hint(
                    &tp.topic,
                    tp.partition,
                    h.leader_id,
                    h.leader_epoch,
                );
            }
            if matches!(
                code,
                Some(
                    ErrorCode::NotLeaderOrFollower
                        | ErrorCode::UnknownTopicOrPartition
                        | ErrorCode::LeaderNotAvailable
                        | ErrorCode::FencedLeaderEpoch
                        | ErrorCode::UnknownLeaderEpoch
                        | ErrorCode::NetworkException
                )
            ) {
                self.shared.metadata.request_update();
            }
            return;
        }
        let Some(batch) = p.pending.remove(idx) else {
            return;
        };
        // Past the deadline this becomes a Timeout carrying `error` as the last error.
        if now >= batch.deadline(cfg.delivery_timeout) {
            self.fail(batch, Some(error));
        } else {
            let n = batch.records.len();
            warn!(%tp, error = %error, "batch failed");
            self.shared.records_done(n, true);
            batch.fail(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(increment_sequence(0, 5), 5);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }
}
