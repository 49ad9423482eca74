//! The producer: `send` partitions a record and appends it to a per-partition batch
//! (`accumulator`), returning a `DeliveryFuture` at once; a background sender task
//! (`sender`) drains ready batches into one `ProduceRequest` per leader broker, pipelines up to
//! `max.in.flight.requests.per.connection` of them, retries retriable failures within
//! `retries` and `delivery.timeout.ms`, and — with idempotence (default) — numbers batches per
//! partition so that retries are deduplicated by the broker and order is kept (SPEC §6, §7).

mod accumulator;
mod sender;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use brook_log::record::Header;
use brook_proto::net::Channels;
use brook_proto::{Durability, ErrorCode};
use bytes::Bytes;
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::ProducerConfig;
use crate::error::{ClientError, Result};
use crate::metadata::Metadata;
pub use crate::metrics::ProducerMetrics;
use crate::metrics::ProducerSensors;
use crate::partitioner::Partitioner;
use crate::topic_partition::TopicPartition;
use accumulator::Accumulator;

/// A record to send. `partition: None` lets the partitioner choose (murmur2 of the key; sticky
/// for null keys); `timestamp: None` means "now" (CreateTime).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerRecord {
    /// The topic to write to.
    pub topic: String,
    /// The partition to write to; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The record's key (`None` = null); with the default partitioner it picks the partition.
    pub key: Option<Bytes>,
    /// The record's value (`None` = null).
    pub value: Option<Bytes>,
    /// The record's headers: key, and value (`None` = null), in order.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// CreateTime in milliseconds since the Unix epoch; `None` = the time of `send`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with a value and no key.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            value: Some(value.into()),
            ..Default::default()
        }
    }

    /// A record with a key and a value.
    pub fn with_key(
        topic: impl Into<String>,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
    ) -> Self {
        ProducerRecord {
            topic: topic.into(),
            key: Some(key.into()),
            value: Some(value.into()),
            ..Default::default()
        }
    }

    /// Sends the record to `partition` instead of letting the partitioner choose.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the record's CreateTime, in milliseconds since the Unix epoch.
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Appends a header (`value: None` = a null value).
    pub fn header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Self {
        self.headers.push((key.into(), value));
        self
    }
}

/// Where an acknowledged record landed. `offset` is -1 when unknown (acks=0, or a legacy
/// DUPLICATE_SEQUENCE_NUMBER answer); `durability` is what the broker says held for its batch;
/// `leader_id` and `leader_epoch` name the broker that acknowledged it and the leader epoch it
/// accepted the batch in (-1 when unknown: acks=0, or a broker that does not say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic the record was written to.
    pub topic: String,
    /// The partition the record was written to.
    pub partition: i32,
    /// The record's offset, -1 when unknown.
    pub offset: i64,
    /// The record's timestamp in ms since the Unix epoch: its CreateTime as sent, or the
    /// broker's LogAppendTime when the answer carried one.
    pub timestamp: i64,
    /// What the broker says held for the record's batch when it answered (`ISR_FLUSHED`, …).
    pub durability: Durability,
    /// Node id of the broker that acknowledged the record, -1 when unknown.
    pub leader_id: i32,
    /// The leader epoch it accepted the record in, -1 when unknown.
    pub leader_epoch: i32,
}

/// Resolves once the record is acknowledged or has failed for good.
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClientError::Closed)))
    }
}

/// State shared by the application-facing handle and the sender task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: ProducerConfig,
    pub idempotent: bool,
    pub metadata: Arc<Metadata>,
    pub channels: Channels,
    pub partitioner: Partitioner,
    pub accumulator: Mutex<Accumulator>,
    pub memory: Arc<Semaphore>,
    /// Wakes the sender: a new batch, a full batch, a flush, close.
    pub wakeup: Notify,
    /// Records sent but not yet completed; `idle` fires when it reaches zero (for `flush`).
    pub incomplete: AtomicUsize,
    pub idle: Notify,
    /// Kafka's producer-metrics (`crate::metrics`).
    pub sensors: ProducerSensors,
}

impl Shared {
    fn metrics(&self) -> ProducerMetrics {
        let total = self.config.buffer_memory.min(Semaphore::MAX_PERMITS);
        self.sensors
            .snapshot(self.memory.available_permits() as u64, total as u64)
    }

    pub fn lock_acc(&self) -> std::sync::MutexGuard<'_, Accumulator> {
        self.accumulator.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bookkeeping when `n` records complete (either way).
    pub fn records_done(&self, n: usize, failed: bool) {
        if failed {
            self.sensors.record_errors(n);
        }
        if self.incomplete.fetch_sub(n, Ordering::AcqRel) == n {
            self.idle.notify_waiters();
        }
    }
}

/// Stops the sender (after it delivered what is queued) when the last `Producer` clone drops.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock_acc().closing = true;
        self.shared.wakeup.notify_one();
    }
}

/// The producer. Cheap to clone; all clones share one sender task and one set of batches.
#[derive(Debug, Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

/// Upper bound of a record's encoded size inside a batch, plus the batch header when alone
/// (Kafka's `estimateSizeInBytesUpperBound`): varints counted at their maximum width.
fn size_upper_bound(rec: &ProducerRecord) -> usize {
    let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
    let headers: usize = rec.headers.iter().map(|(k, v)| 10 + k.len() + len(v)).sum();
    brook_log::batch::HEADER_LEN
        + 5
        + 1
        + 10
        + 5
        + 5
        + len(&rec.key)
        + 5
        + len(&rec.value)
        + 5
        + headers
}

use brook_log::clock::unix_now_ms as now_ms;

/// `client.id`, or Kafka's default `producer-N`.
fn client_id(config: &ProducerConfig) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    if config.client_id.is_empty() {
        format!("producer-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    } else {
        config.client_id.clone()
    }
}

impl Producer {
    /// A producer over plain TCP connections.
    pub fn new(config: ProducerConfig) -> Result<Producer> {
        Producer::with_channels(config, Channels::default())
    }

    /// A producer whose connections go through `channels` (the embedded cluster passes its
    /// fault-injecting ones). Must be called inside a tokio runtime (it spawns the sender).
    pub fn with_channels(config: ProducerConfig, channels: Channels) -> Result<Producer> {
        config.validate()?;
        let idempotent = config.idempotence_enabled();
        let metadata = Metadata::new(
            config.bootstrap_servers.clone(),
            channels.clone(),
            config.request_timeout,
            config.retry_backoff.min(Duration::from_millis(100)),
            config.backoff(),
        );
        let permits = config.buffer_memory.min(Semaphore::MAX_PERMITS);
        let shared = Arc::new(Shared {
            idempotent,
            metadata,
            channels,
            partitioner: Partitioner::new(config.partitioner),
            accumulator: Mutex::new(Accumulator::new(config.batch_size, config.linger)),
            memory: Arc::new(Semaphore::new(permits)),
            wakeup: Notify::new(),
            incomplete: AtomicUsize::new(0),
            idle: Notify::new(),
            sensors: ProducerSensors::new(client_id(&config), config.metrics_config()),
            config,
        });
        let task = tokio::spawn(sender::run(shared.clone()));
        Ok(Producer {
            handle: Arc::new(Handle {
                shared,
                task: Mutex::new(Some(task)),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The configuration the producer runs with.
    pub fn config(&self) -> &ProducerConfig {
        &self.handle.shared.config
    }

    /// Whether the producer runs idempotently (see `ProducerConfig::idempotence_enabled`).
    pub fn is_idempotent(&self) -> bool {
        self.handle.shared.idempotent
    }

    /// Queues a record and returns as soon as it is in a batch; awaits only for metadata of a
    /// topic not yet known (up to `max.block.ms`) and for `buffer.memory` space. The returned
    /// future resolves with the record's offset or its final error.
    ///
    /// Errors returned here (the record was not queued): `CLIENT_CLOSED`, `MESSAGE_TOO_LARGE`
    /// (larger than `max.request.size` or `buffer.memory`), `UNKNOWN_TOPIC_OR_PARTITION`.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let shared = &self.handle.shared;
        let result = self.enqueue(record).await;
        if result.is_err() {
            shared.sensors.record_errors(1);
        }
        result
    }

    async fn enqueue(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let shared = &self.handle.shared;
        if self.handle.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        let size = size_upper_bound(&record);
        let limit = shared
            .config
            .max_request_size
            .min(shared.config.buffer_memory);
        if size > limit {
            return Err(ClientError::kafka(
                ErrorCode::MessageTooLarge,
                format!(
                    "the record is {size} bytes when serialized, more than max.request.size / \
                     buffer.memory ({limit})"
                ),
            ));
        }
        let count = shared
            .metadata
            .wait_for_topic(&record.topic, shared.config.max_block)
            .await?;
        let partition = match record.partition {
            Some(p) if (0..count).contains(&p) => p,
            Some(p) => {
                return Err(ClientError::kafka(
                    ErrorCode::UnknownTopicOrPartition,
                    format!(
                        "partition {p} of topic {} does not exist ({count} partitions)",
                        record.topic
                    ),
                ));
            }
            None => shared
                .partitioner
                .partition(&record.topic, record.key.as_deref(), count),
        };
        let permits = u32::try_from(size).unwrap_or(u32::MAX);
        let memory = shared
            .memory
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| ClientError::Closed)?;
        let headers: Vec<Header> = record
            .headers
            .into_iter()
            .map(|(key, value)| Header { key, value })
            .collect();
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let tp = TopicPartition::new(record.topic, partition);
        let (tx, rx) = oneshot::channel();
        let appended = {
            let mut acc = shared.lock_acc();
            if acc.closing {
                return Err(ClientError::Closed);
            }
            shared.incomplete.fetch_add(1, Ordering::AcqRel);
            acc.append(
                &tp,
                timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &headers,
                size - brook_log::batch::HEADER_LEN,
                tx,
                memory,
                Instant::now(),
            )
        };
        if appended.new_batch || appended.batch_full {
            shared.wakeup.notify_one();
        }
        Ok(DeliveryFuture { rx })
    }

    /// Sends and waits for the outcome.
    pub async fn send_and_wait(&self, record: ProducerRecord) -> Result<RecordMetadata> {
        self.send(record).await?.await
    }

    /// Makes every queued batch ready at once and waits until no record is outstanding
    /// (including records sent concurrently with the flush).
    pub async fn flush(&self) {
        let shared = &self.handle.shared;
        shared.lock_acc().flushing += 1;
        shared.wakeup.notify_one();
        loop {
            let idle = shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if shared.incomplete.load(Ordering::Acquire) == 0 {
                break;
            }
            idle.await;
        }
        let mut acc = shared.lock_acc();
        acc.flushing = acc.flushing.saturating_sub(1);
    }

    /// Stops accepting records, delivers (or fails) everything queued, and stops the sender.
    /// Other clones of this producer are closed too.
    pub async fn close(&self) {
        self.handle.closed.store(true, Ordering::Release);
        self.handle.shared.lock_acc().closing = true;
        self.handle.shared.wakeup.notify_one();
        let task = self
            .handle
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "producer sender task failed");
        }
    }

    /// A snapshot of the producer's metrics (Kafka's producer-metrics; see [`ProducerMetrics`]).
    pub fn metrics(&self) -> ProducerMetrics {
        self.handle.shared.metrics()
    }

    /// Registers the producer's metrics into `registry`: each scrape encodes a fresh snapshot
    /// as `kafka_producer_producer_metrics_*{client_id}` (the JMX exporter's names).
    #[cfg(feature = "prometheus")]
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let shared = self.handle.shared.clone();
        let source = move || shared.metrics().to_kafka_names();
        crate::metrics::prometheus::register(registry, Box::new(source));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_bound_covers_encoding() {
        let rec = ProducerRecord::with_key("t", &b"key"[..], vec![0u8; 1000])
            .header("h", Some(Bytes::from_static(b"v")));
        let mut b = brook_log::record::BatchBuilder::new();
        b.append(
            1,
            Some(b"key"),
            Some(&[0u8; 1000]),
            &[Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"v")),
            }],
        );
        assert!(size_upper_bound(&rec) >= b.size_in_bytes());
        assert!(size_upper_bound(&rec) < b.size_in_bytes() + 64);
    }
}
