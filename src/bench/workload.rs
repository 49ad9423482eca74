//! One benchmark run against a topic: P producers (each its own `brook_client::Producer` and
//! connection) and, optionally, one consumer reading every partition back, for a fixed time.
//!
//! Latency is recorded per record in HdrHistograms (µs). Produce latency runs from the record's
//! *intended* send time to its acknowledgement: in throughput mode that is the moment `send` is
//! called; in fixed-rate mode (`rate`) it is the slot the schedule gave the record, so a stall
//! that delays later sends is charged to them too (no coordinated omission). End-to-end latency
//! runs from the same intended time, carried in the first 8 bytes of the value, to the
//! consumer's receipt. The weakest `durability` any acknowledgement reported is kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use brook_client::consumer::Consumer;
use brook_client::{
    Acks, ConsumerConfig, OffsetReset, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};
use brook_proto::Durability;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::BenchError;

/// Bytes of record values one producer keeps unacknowledged in throughput mode: enough to keep
/// every partition's requests pipelined (5 in flight of 16 KiB batches), small enough that
/// produce latency measures the pipeline rather than a client-side queue (by Little's law a
/// deeper window only adds window / throughput to every record's latency).
pub const WINDOW_BYTES: usize = 512 * 1024;
/// Histogram range: 1 µs to 10 minutes, 3 significant digits.
const HIST_MAX_US: u64 = 600_000_000;

/// What to run: the load, the window, and whether a consumer reads it back.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The client's `bootstrap.servers` (`HOST:PORT[,HOST:PORT…]`).
    pub bootstrap: String,
    /// The topic to produce to; it must exist with at least `partitions` partitions.
    pub topic: String,
    /// Partitions the consumer is assigned (0..partitions); the producers' partitioner spreads
    /// records over the topic's partitions itself.
    pub partitions: i32,
    /// Concurrent producers, each its own [`Producer`] and connection (`client.id`
    /// `brook-bench-N`, idempotence off).
    pub producers: usize,
    /// The producers' `acks`.
    pub acks: Acks,
    /// Value size in bytes (at least 8: the first 8 carry the send time).
    pub size: usize,
    /// Untimed lead-in before the measured window (connections, metadata, caches).
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// Fixed total rate in records/s over all producers; `None` = as fast as they go.
    pub rate: Option<f64>,
    /// Records each producer may have unacknowledged (1 = closed loop: send, wait, repeat);
    /// [`Workload::new`] sets [`WINDOW_BYTES`] / `size`, at least 16.
    pub window: usize,
    /// The producers' `linger.ms`: how long a batch waits for more records (0 sends at once).
    pub linger: Duration,
    /// Run a consumer over every partition (from the earliest offset, no group commits) and
    /// measure end-to-end latency.
    pub consume: bool,
    /// How long the consumer may take to catch up once the producers stop.
    pub drain: Duration,
}

impl Workload {
    /// A throughput-mode workload with the defaults `brook bench` uses: 4 producers on 4
    /// partitions, 300 ms warm-up, 2 s window, a [`WINDOW_BYTES`] window, `linger.ms` 5, a
    /// consumer with 3 s to drain. `size` (bytes) is raised to 8 if smaller.
    pub fn new(bootstrap: &str, topic: &str, acks: Acks, size: usize) -> Workload {
        Workload {
            bootstrap: bootstrap.to_string(),
            topic: topic.to_string(),
            partitions: 4,
            producers: 4,
            acks,
            size: size.max(8),
            warmup: Duration::from_millis(300),
            duration: Duration::from_secs(2),
            rate: None,
            window: (WINDOW_BYTES / size.max(8)).max(16),
            linger: Duration::from_millis(5),
            consume: true,
            drain: Duration::from_secs(3),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Records sent in the measured window.
    pub sent: u64,
    /// Of those, acknowledged without error.
    pub acked: u64,
    /// Records that failed (whole run).
    pub errors: u64,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// Length of the measured window, seconds.
    pub secs: f64,
    /// Produce latency (µs) of the records acknowledged in the window.
    pub produce: Histogram<u64>,
    /// End-to-end latency (µs) of the records of the window the consumer received.
    pub e2e: Histogram<u64>,
    /// Records the consumer received (whole run).
    pub consumed: u64,
    /// The weakest durability any acknowledgement in the window reported.
    pub durability: Option<Durability>,
    /// Record value size in bytes (for MB/s).
    pub value_size: usize,
}

impl Measured {
    /// Records acknowledged in the measured window per second (msg/s).
    pub fn msgs_per_sec(&self) -> f64 {
        self.acked as f64 / self.secs.max(1e-9)
    }

    /// MB/s (10^6 bytes) of record values.
    pub fn mb_per_sec(&self) -> f64 {
        self.msgs_per_sec() * self.value_size as f64 / 1e6
    }
}

/// An empty latency histogram of microseconds: 1 µs to 10 minutes, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Constant bounds (1 µs to 10 min, 3 significant digits) that hdrhistogram always accepts:
    // no input can make this fail.
    Histogram::new_with_bounds(1, HIST_MAX_US, 3)
        .unwrap_or_else(|e| unreachable!("constant histogram bounds rejected: {e}"))
}

/// Records `d` in `h` in whole microseconds, at least 1 µs; values past the histogram's 10
/// minutes are clamped to its range (saturating, never an error).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(us);
}

/// Per-producer results, merged by `run`.
struct ProducerStats {
    sent: u64,
    acked: u64,
    errors: u64,
    first_error: Option<String>,
    hist: Histogram<u64>,
    durability: Option<Durability>,
    /// Records sent in the whole run (warm-up included) and acknowledged.
    total_acked: u64,
}

/// Runs `w`: creates nothing (the topic must exist), returns what was measured.
///
/// A record that fails is counted in [`Measured::errors`], not returned.
///
/// # Errors
///
/// [`BenchError::Client`] when a producer or the consumer cannot be built from its config or a
/// consumer poll fails; [`BenchError::Other`] when a producer or consumer task panics or the
/// histograms cannot be merged.
pub async fn run(w: &Workload) -> Result<Measured, BenchError> {
    let epoch = Instant::now();
    let start = epoch + Duration::from_millis(50);
    let measure_from = start + w.warmup;
    let stop_at = measure_from + w.duration;
    let producing = Arc::new(AtomicBool::new(true));
    let target = Arc::new(AtomicU64::new(u64::MAX));

    let consumer = if w.consume {
        let mut config = ConsumerConfig::new(&w.bootstrap)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .max_poll_records(100_000)
            .fetch_max_wait(Duration::from_millis(100));
        config.set("client.id", "brook-bench-consumer")?;
        let mut consumer = Consumer::new(config)?;
        consumer.assign(
            (0..w.partitions)
                .map(|p| TopicPartition::new(w.topic.clone(), p))
                .collect(),
        );
        let (producing, target, drain) = (producing.clone(), target.clone(), w.drain);
        // A JoinSet aborts its task when dropped (an interrupted run leaves nothing behind).
        let mut set = JoinSet::new();
        set.spawn(consume(
            consumer,
            epoch,
            measure_from,
            stop_at,
            producing,
            target,
            drain,
        ));
        Some(set)
    } else {
        None
    };

    let mut tasks = JoinSet::new();
    for i in 0..w.producers {
        let config = ProducerConfig::new(&w.bootstrap)
            .acks(w.acks)
            .enable_idempotence(false)
            .linger(w.linger)
            .max_block(Duration::from_secs(10))
            .client_id(&format!("brook-bench-{i}"));
        let producer = Producer::new(config)?;
        let interval = w
            .rate
            .map(|r| Duration::from_secs_f64(w.producers as f64 / r.max(1e-3)));
        let spec = SendSpec {
            topic: w.topic.clone(),
            size: w.size,
            window: w.window.max(1),
            interval,
            // Spread the producers' schedules over one interval.
            offset: interval.map_or(Duration::ZERO, |iv| {
                iv.mul_f64(i as f64 / w.producers as f64)
            }),
            epoch,
            start,
            measure_from,
            stop_at,
        };
        tasks.spawn(produce(producer, spec));
    }

    let mut m = Measured {
        sent: 0,
        acked: 0,
        errors: 0,
        first_error: None,
        secs: w.duration.as_secs_f64(),
        produce: histogram(),
        e2e: histogram(),
        consumed: 0,
        durability: None,
        value_size: w.size,
    };
    let mut total_acked = 0;
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(s)) => {
                m.sent += s.sent;
                m.acked += s.acked;
                m.errors += s.errors;
                total_acked += s.total_acked;
                if m.first_error.is_none() {
                    m.first_error = s.first_error;
                }
                m.produce
                    .add(&s.hist)
                    .map_err(|e| BenchError::Other(e.to_string()))?;
                m.durability = weakest(m.durability, s.durability);
            }
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(BenchError::Other(format!("producer task: {e}")))),
        }
    }
    target.store(total_acked, Ordering::Release);
    producing.store(false, Ordering::Release);
    if let Some(mut consumer) = consumer {
        let joined = consumer
            .join_next()
            .await
            .ok_or_else(|| BenchError::Other("the consumer task vanished".into()))?;
        match joined {
            Ok(Ok((hist, consumed))) => {
                m.e2e = hist;
                m.consumed = consumed;
            }
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(BenchError::Other(format!("consumer task: {e}")))),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(m),
    }
}

/// The weaker of two acknowledged durability levels (`NONE` < `LEADER_WRITTEN` <
/// `LEADER_FLUSHED` < `ISR_REPLICATED` < `ISR_FLUSHED`); `None` only when both are.
pub fn weakest(a: Option<Durability>, b: Option<Durability>) -> Option<Durability> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (a as i32) <= (b as i32) { a } else { b }),
        (a, b) => a.or(b),
    }
}

struct SendSpec {
    topic: String,
    size: usize,
    window: usize,
    interval: Option<Duration>,
    offset: Duration,
    epoch: Instant,
    start: Instant,
    measure_from: Instant,
    stop_at: Instant,
}

/// A value of `size` bytes whose first 8 carry `intended` as µs since `epoch`.
fn value(template: &mut BytesMut, size: usize, epoch: Instant, intended: Instant) -> Bytes {
    let us = intended.saturating_duration_since(epoch).as_micros() as u64;
    template.reserve(size);
    template.put_u64(us);
    template.put_bytes(b'x', size.saturating_sub(8));
    template.split().freeze()
}

/// The send time a value carries (µs since the run's epoch).
fn sent_at(value: &[u8]) -> Option<Duration> {
    let bytes: [u8; 8] = value.get(..8)?.try_into().ok()?;
    Some(Duration::from_micros(u64::from_be_bytes(bytes)))
}

async fn produce(producer: Producer, s: SendSpec) -> Result<ProducerStats, BenchError> {
    let mut stats = ProducerStats {
        sent: 0,
        acked: 0,
        errors: 0,
        first_error: None,
        hist: histogram(),
        durability: None,
        total_acked: 0,
    };
    let mut inflight = FuturesUnordered::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    tokio::time::sleep_until(s.start).await;
    let mut k: u64 = 0;
    loop {
        let intended = match s.interval {
            Some(iv) => s.start + s.offset + iv.mul_f64(k as f64),
            None => Instant::now(),
        };
        if intended >= s.stop_at {
            break;
        }
        // Wait for the slot (fixed rate) and for room in the window, harvesting acks meanwhile.
        loop {
            let full = inflight.len() >= s.window;
            let early = Instant::now() < intended;
            if !full && !early {
                break;
            }
            tokio::select! {
                biased;
                Some(done) = inflight.next(), if !inflight.is_empty() => account(&mut stats, &s, done),
                _ = tokio::time::sleep_until(intended), if early && !full => {}
            }
        }
        let v = value(&mut buf, s.size, s.epoch, intended);
        let record = ProducerRecord::new(s.topic.clone(), v);
        let measured = intended >= s.measure_from;
        match producer.send(record).await {
            Ok(delivery) => {
                if measured {
                    stats.sent += 1;
                }
                inflight.push(delivery.map(move |r| (intended, measured, r, Instant::now())));
            }
            Err(e) => {
                stats.errors += 1;
                stats.first_error.get_or_insert_with(|| e.to_string());
            }
        }
        k += 1;
        // Harvest whatever is already done without waiting.
        while let Some(Some(done)) = inflight.next().now_or_never() {
            account(&mut stats, &s, done);
        }
    }
    producer.flush().await;
    while let Some(done) = inflight.next().await {
        account(&mut stats, &s, done);
    }
    producer.close().await;
    Ok(stats)
}

type Done = (
    Instant,
    bool,
    brook_client::Result<brook_client::RecordMetadata>,
    Instant,
);

fn account(stats: &mut ProducerStats, _s: &SendSpec, (intended, measured, result, at): Done) {
    match result {
        Ok(md) => {
            stats.total_acked += 1;
            if measured {
                stats.acked += 1;
                record(&mut stats.hist, at.saturating_duration_since(intended));
                stats.durability = weakest(stats.durability, Some(md.durability));
            }
        }
        Err(e) => {
            stats.errors += 1;
            stats.first_error.get_or_insert_with(|| e.to_string());
        }
    }
}

async fn consume(
    mut consumer: Consumer,
    epoch: Instant,
    measure_from: Instant,
    stop_at: Instant,
    producing: Arc<AtomicBool>,
    target: Arc<AtomicU64>,
    drain: Duration,
) -> Result<(Histogram<u64>, u64), BenchError> {
    let mut hist = histogram();
    let mut consumed = 0u64;
    let from = measure_from.saturating_duration_since(epoch);
    let until = stop_at.saturating_duration_since(epoch);
    let mut drain_deadline: Option<Instant> = None;
    loop {
        if !producing.load(Ordering::Acquire) {
            let deadline = *drain_deadline.get_or_insert_with(|| Instant::now() + drain);
            if consumed >= target.load(Ordering::Acquire) || Instant::now() >= deadline {
                break;
            }
        }
        let records = consumer.poll(Duration::from_millis(50)).await?;
        let now = Instant::now().saturating_duration_since(epoch);
        for r in &records {
            consumed += 1;
            if let Some(sent) = r.value.as_deref().and_then(sent_at)
                && sent >= from
                && sent < until
            {
                record(&mut hist, now.saturating_sub(sent));
            }
        }
    }
    let _ = consumer.close().await;
    Ok((hist, consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_carries_its_send_time_and_has_the_asked_size() {
        let epoch = Instant::now();
        let mut buf = BytesMut::new();
        let v = value(&mut buf, 100, epoch, epoch + Duration::from_micros(1234));
        assert_eq!(v.len(), 100);
        assert_eq!(sent_at(&v), Some(Duration::from_micros(1234)));
        let v = value(&mut buf, 1024, epoch, epoch + Duration::from_secs(2));
        assert_eq!(v.len(), 1024);
        assert_eq!(sent_at(&v), Some(Duration::from_secs(2)));
        assert_eq!(sent_at(b"short"), None);
    }

    #[test]
    fn weakest_durability_wins() {
        use Durability as D;
        assert_eq!(weakest(None, Some(D::IsrFlushed)), Some(D::IsrFlushed));
        assert_eq!(
            weakest(Some(D::IsrFlushed), Some(D::LeaderWritten)),
            Some(D::LeaderWritten)
        );
        assert_eq!(
            weakest(Some(D::IsrReplicated), Some(D::IsrFlushed)),
            Some(D::IsrReplicated)
        );
        assert_eq!(weakest(None, None), None);
    }

    #[test]
    fn histograms_record_microseconds() {
        let mut h = histogram();
        record(&mut h, Duration::from_micros(250));
        record(&mut h, Duration::ZERO);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= 249 && h.max() <= 251);
    }
}
