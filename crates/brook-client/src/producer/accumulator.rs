//! The record accumulator: per-partition queues of open batches that `send` appends to and the
//! sender drains (Kafka's `RecordAccumulator`), plus `ProducerBatch`, the unit that travels,
//! is retried and completes the records' futures.
//!
//! A batch is *ready* to drain when it is closed (a newer batch exists behind it), has reached
//! `batch.size`, has waited `linger.ms` since it was opened, or a flush/close is in progress.
//! All timing takes `now` as an argument so readiness is unit-testable without a clock.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use brook_log::record::{BatchBuilder, Header};
use brook_proto::Durability;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use tokio::time::Instant;

use crate::error::ClientError;
use crate::producer::RecordMetadata;
use crate::topic_partition::TopicPartition;

pub(crate) type Reply = oneshot::Sender<Result<RecordMetadata, ClientError>>;

/// One record waiting for its outcome.
#[derive(Debug)]
pub(crate) struct PendingRecord {
    pub timestamp: i64,
    pub reply: Reply,
}

/// Where a drained batch stands in the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchState {
    /// Waiting to be (re)sent, not before the given instant (retry backoff).
    Ready {
        not_before: Instant,
    },
    InFlight,
}

#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub id: u64,
    pub tp: TopicPartition,
    pub builder: BatchBuilder,
    pub records: Vec<PendingRecord>,
    /// When the batch was opened: linger and `delivery.timeout.ms` count from here (as in
    /// Kafka, a batch expires as a unit, measured from its first record's `send`).
    pub created: Instant,
    /// `buffer.memory` held by the records; released when the batch is dropped.
    pub memory: Option<OwnedSemaphorePermit>,
    /// Set when a newer batch was opened behind this one: it will never grow again.
    pub closed: bool,
    // Sender-side fields.
    pub bytes: Bytes,
    pub base_sequence: i32,
    pub attempts: u32,
    pub last_error: Option<ClientError>,
    pub state: BatchState,
    /// Whether no earlier batch of the partition was unresolved when this attempt was sent: an
    /// OUT_OF_ORDER_SEQUENCE_NUMBER then cannot be explained by a missing predecessor (I5).
    pub sent_as_head: bool,
    /// Some attempt's outcome is unknown (timed out, connection lost, or
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND): the batch may be in the log. Such a batch must never be
    /// resent under a new producer epoch, where the broker could not recognise it as a retry.
    pub maybe_written: bool,
}

impl ProducerBatch {
    pub fn record_count(&self) -> i32 {
        i32::try_from(self.records.len()).unwrap_or(i32::MAX)
    }

    pub fn deadline(&self, delivery_timeout: Duration) -> Instant {
        self.created + delivery_timeout
    }

    /// (Re)encodes the batch bytes with the producer identity (or none).
    pub fn encode(&mut self, producer: Option<(i64, i16, i32)>) {
        self.bytes = match producer {
            Some((pid, epoch, seq)) => {
                self.base_sequence = seq;
                self.builder.clone().producer(pid, epoch, seq).build()
            }
            None => self.builder.build(),
        };
    }

    /// Completes every record successfully. `base_offset` -1 means unknown (acks=0, or a
    /// legacy DUPLICATE_SEQUENCE_NUMBER answer); `leader` is the acknowledging broker and its
    /// leader epoch, when the answer named them.
    pub fn succeed(
        self,
        base_offset: i64,
        log_append_time: i64,
        durability: Durability,
        leader: Option<(i32, i32)>,
    ) {
        let (leader_id, leader_epoch) = leader.unwrap_or((-1, -1));
        for (i, r) in self.records.into_iter().enumerate() {
            let offset = if base_offset >= 0 {
                base_offset + i as i64
            } else {
                -1
            };
            let timestamp = if log_append_time >= 0 {
                log_append_time
            } else {
                r.timestamp
            };
            // The application may have dropped its future; that is not an error.
            let _ = r.reply.send(Ok(RecordMetadata {
                topic: self.tp.topic.clone(),
                partition: self.tp.partition,
                offset,
                timestamp,
                durability,
                leader_id,
                leader_epoch,
            }));
        }
    }

    pub fn fail(self, error: ClientError) {
        for r in self.records {
            let _ = r.reply.send(Err(error.clone()));
        }
    }
}

/// Outcome of `Accumulator::append`, telling `send` whether to wake the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub new_batch: bool,
    pub batch_full: bool,
}

#[derive(Debug)]
pub(crate) struct Accumulator {
    batch_size: usize,
    linger: Duration,
    queues: BTreeMap<TopicPartition, VecDeque<ProducerBatch>>,
    next_id: u64,
    /// Number of `flush` calls in progress; while positive every batch is ready.
    pub flushing: usize,
    /// Set by `close` (and when the last handle drops): no new records, linger is skipped.
    pub closing: bool,
}

impl Accumulator {
    pub fn new(batch_size: usize, linger: Duration) -> Accumulator {
        Accumulator {
            batch_size,
            linger,
            queues: BTreeMap::new(),
            next_id: 0,
            flushing: 0,
            closing: false,
        }
    }

    /// Appends a record to the partition's last batch, or opens a new batch when it would not
    /// fit in `batch.size` (a record larger than `batch.size` gets a batch of its own).
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &mut self,
        tp: &TopicPartition,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        size_estimate: usize,
        reply: Reply,
        memory: OwnedSemaphorePermit,
        now: Instant,
    ) -> Appended {
        let queue = self.queues.entry(tp.clone()).or_default();
        let fits = queue.back().is_some_and(|b| {
            !b.closed && b.builder.size_in_bytes() + size_estimate <= self.batch_size
        });
        let new_batch = !fits;
        if new_batch {
            if let Some(last) = queue.back_mut() {
                last.closed = true;
            }
            let id = self.next_id;
            self.next_id += 1;
            queue.push_back(ProducerBatch {
                id,
                tp: tp.clone(),
                builder: BatchBuilder::new(),
                records: Vec::new(),
                created: now,
                memory: None,
                closed: false,
                bytes: Bytes::new(),
                base_sequence: -1,
                attempts: 0,
                last_error: None,
                state: BatchState::Ready { not_before: now },
                sent_as_head: false,
                maybe_written: false,
            });
        }
        let Some(batch) = queue.back_mut() else {
            // Unreachable: a batch was pushed above if the queue had none.
            return Appended {
                new_batch,
                batch_full: false,
            };
        };
        batch.builder.append(timestamp, key, value, headers);
        batch.records.push(PendingRecord { timestamp, reply });
        match batch.memory.as_mut() {
            Some(m) => m.merge(memory),
            None => batch.memory = Some(memory),
        }
        Appended {
            new_batch,
            batch_full: batch.builder.size_in_bytes() >= self.batch_size,
        }
    }

    fn batch_ready(&self, b: &ProducerBatch, now: Instant) -> bool {
        b.closed
            || b.builder.size_in_bytes() >= self.batch_size
            || now >= b.created + self.linger
            || self.flushing > 0
            || self.closing
    }

    /// Whether the partition's oldest batch may be drained now.
    pub fn is_ready(&self, tp: &TopicPartition, now: Instant) -> bool {
        self.queues
            .get(tp)
            .and_then(VecDeque::front)
            .is_some_and(|b| self.batch_ready(b, now))
    }

    /// Encoded size of the partition's oldest batch, if any.
    pub fn front_size(&self, tp: &TopicPartition) -> Option<usize> {
        self.queues
            .get(tp)
            .and_then(VecDeque::front)
            .map(|b| b.builder.size_in_bytes())
    }

    /// Removes the partition's oldest batch if it is ready.
    pub fn pop_ready(&mut self, tp: &TopicPartition, now: Instant) -> Option<ProducerBatch> {
        if !self.is_ready(tp, now) {
            return None;
        }
        let queue = self.queues.get_mut(tp)?;
        let batch = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(tp);
        }
        batch
    }

    /// Partitions holding at least one batch, in a stable order.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.queues.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// The next instant at which something changes without outside help: a not-yet-ready batch
    /// reaching `linger.ms`, or a queued batch reaching its delivery deadline.
    pub fn next_timer(&self, now: Instant, delivery_timeout: Duration) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for queue in self.queues.values() {
            let Some(front) = queue.front() else { continue };
            let mut candidates = vec![front.created + delivery_timeout];
            if !self.batch_ready(front, now) {
                candidates.push(front.created + self.linger);
            }
            for t in candidates {
                if t > now {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
        }
        next
    }

    /// Removes batches that waited in the queue past `delivery.timeout.ms`.
    pub fn expire(&mut self, now: Instant, delivery_timeout: Duration) -> Vec<ProducerBatch> {
        let mut expired = Vec::new();
        self.queues.retain(|_, queue| {
            while queue
                .front()
                .is_some_and(|b| now >= b.deadline(delivery_timeout))
            {
                if let Some(b) = queue.pop_front() {
                    expired.push(b);
                }
            }
            !queue.is_empty()
        });
        expired
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    fn permit(sem: &Arc<Semaphore>) -> OwnedSemaphorePermit {
        sem.clone().try_acquire_many_owned(1).unwrap()
    }

    #[tokio::test]
    async fn batches_fill_then_close_and_linger_makes_ready() {
        let sem = Arc::new(Semaphore::new(1000));
        let mut acc = Accumulator::new(200, Duration::from_millis(5));
        let tp = TopicPartition::new("t", 0);
        let t0 = Instant::now();
        let value = [7u8; 50];
        let (tx, _rx) = oneshot::channel();
        let a = acc.append(&tp, 1, None, Some(&value), &[], 80, tx, permit(&sem), t0);
        assert!(a.new_batch);
        assert!(!acc.is_ready(&tp, t0), "lingering");
        assert!(acc.is_ready(&tp, t0 + Duration::from_millis(5)));
        let (tx, _rx) = oneshot::channel();
        let a = acc.append(&tp, 1, None, Some(&value), &[], 80, tx, permit(&sem), t0);
        assert!(!a.new_batch);
        let (tx, _rx) = oneshot::channel();
        let a = acc.append(&tp, 1, None, Some(&value), &[], 80, tx, permit(&sem), t0);
        assert!(a.new_batch, "third record does not fit in 200 bytes");
        assert!(acc.is_ready(&tp, t0), "first batch is closed");
        let b = acc.pop_ready(&tp, t0).unwrap();
        assert_eq!(b.records.len(), 2);
        assert_eq!(b.memory.as_ref().unwrap().num_permits(), 2);
        assert!(acc.pop_ready(&tp, t0).is_none(), "second still lingering");
        assert_eq!(
            acc.next_timer(t0, Duration::from_secs(1)),
            Some(t0 + Duration::from_millis(5))
        );
        acc.flushing += 1;
        assert!(acc.pop_ready(&tp, t0).is_some());
        assert!(acc.is_empty());
    }

    #[tokio::test]
    async fn oversized_record_goes_alone_and_expiry() {
        let sem = Arc::new(Semaphore::new(1000));
        let mut acc = Accumulator::new(100, Duration::from_millis(5));
        let tp = TopicPartition::new("t", 1);
        let t0 = Instant::now();
        let big = [1u8; 300];
        let (tx, mut rx) = oneshot::channel();
        let a = acc.append(&tp, 1, None, Some(&big), &[], 330, tx, permit(&sem), t0);
        assert!(a.new_batch && a.batch_full);
        assert!(acc.is_ready(&tp, t0));
        let expired = acc.expire(t0 + Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(expired.len(), 1);
        for b in expired {
            b.fail(ClientError::Closed);
        }
        assert_eq!(rx.try_recv().unwrap(), Err(ClientError::Closed));
        assert_eq!(sem.available_permits(), 1000, "memory released");
    }
}
