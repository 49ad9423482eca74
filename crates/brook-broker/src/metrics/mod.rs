//! The broker's metrics, for Prometheus: one [`prometheus_client`] registry per broker (several
//! brokers share a process in tests, so nothing here is process-global), named as Kafka's JMX
//! names come out of the Prometheus JMX exporter (`kafka.server:type=ReplicaManager,
//! name=UnderReplicatedPartitions` → `kafka_server_replicamanager_underreplicatedpartitions`), so
//! that Kafka dashboards and alerts apply.
//!
//! Two kinds of figures:
//!
//! - **counters and histograms** bumped where the event happens, through the cheap handles
//!   below: [`TrafficMetrics`] (produce and fetch paths: messages and bytes per topic, acks by
//!   durability), [`ReplicationMetrics`] (ISR changes accepted on the leader, follower fetch
//!   lag), [`RequestMetrics`] (time per request type, in the gRPC adapter) and [`LogMetrics`]
//!   (fsyncs and corruption, told by brook-log through its [`brook_log::metrics::LogObserver`]);
//! - **gauges computed at scrape time** from the broker's state (`collector.rs`): partition,
//!   leader, under-replicated and min-ISR counts, the controller's figures, log sizes and end
//!   offsets — nothing to keep in sync, and a dead partition simply disappears.
//!
//! `http.rs` serves the registry at `GET /metrics` on `metrics.listener`.
//!
//! ```text
//! mod.rs         BrokerMetrics (the registry) and the handles the broker's paths bump
//! collector.rs   the scrape-time gauges (and the spot for the group-lag gauges)
//! http.rs        the `/metrics` endpoint (hyper, HTTP/1)
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use brook_log::metrics::LogObserver;
use brook_proto::Durability;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::broker::Broker;

pub mod collector;
pub mod http;

/// The content type of a scrape answer (the OpenMetrics text format).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A metric family labelled by topic.
pub type TopicLabel = [(&'static str, String); 1];
/// A metric family with one label whose values are fixed (request type, durability).
pub type StaticLabel = [(&'static str, &'static str); 1];

/// One broker's metrics: the registry a scrape encodes, and the handles the broker's code paths
/// bump. Built by `Broker::open`, shared as `Broker::metrics`.
#[derive(Debug)]
pub struct BrokerMetrics {
    registry: Registry,
    /// Produce and fetch traffic (also held by the `ReplicaManager`).
    pub traffic: TrafficMetrics,
    /// ISR changes and follower lag.
    pub replication: ReplicationMetrics,
    /// Time per request type.
    pub requests: RequestMetrics,
    /// fsyncs and corruption (also the log directory's observer).
    pub log: Arc<LogMetrics>,
}

impl BrokerMetrics {
    /// The registry of `broker` (read at scrape time through the weak reference, so that the
    /// metrics never keep a stopped broker alive), over handles created earlier because the
    /// log directory and the replica manager need them before the broker exists.
    pub(crate) fn new(
        broker: Weak<Broker>,
        traffic: TrafficMetrics,
        log: Arc<LogMetrics>,
    ) -> BrokerMetrics {
        let mut registry = Registry::default();
        let replication = ReplicationMetrics::default();
        let requests = RequestMetrics::default();
        traffic.register(&mut registry);
        replication.register(&mut registry);
        requests.register(&mut registry);
        log.register(&mut registry);
        registry.register_collector(Box::new(collector::StateCollector::new(broker)));
        BrokerMetrics {
            registry,
            traffic,
            replication,
            requests,
            log,
        }
    }

    /// Every metric in the OpenMetrics text format (what `GET /metrics` answers).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

// ---- traffic ---------------------------------------------------------------------------------

/// Produce and fetch traffic per topic (Kafka's `BrokerTopicMetrics`) and produce
/// acknowledgements by durability. Cheap to clone (the counters are shared).
#[derive(Debug, Clone, Default)]
pub struct TrafficMetrics {
    messages_in: Family<TopicLabel, Counter>,
    bytes_in: Family<TopicLabel, Counter>,
    bytes_out: Family<TopicLabel, Counter>,
    acks: Family<StaticLabel, Counter>,
}

impl TrafficMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "kafka_server_brokertopicmetrics_messagesin",
            "Records appended by this broker as partition leader, per topic (Kafka's \
             BrokerTopicMetrics MessagesInPerSec; duplicates of an idempotent retry are not \
             counted)",
            self.messages_in.clone(),
        );
        r.register(
            "kafka_server_brokertopicmetrics_bytesin",
            "Bytes of record batches appended by this broker as partition leader, per topic \
             (BrokerTopicMetrics BytesInPerSec)",
            self.bytes_in.clone(),
        );
        r.register(
            "kafka_server_brokertopicmetrics_bytesout",
            "Bytes of records sent in fetch responses, to consumers and to follower replicas, \
             per topic (BrokerTopicMetrics BytesOutPerSec)",
            self.bytes_out.clone(),
        );
        r.register(
            "brook_produce_acks",
            "Partition batches acknowledged to producers, by the durability the \
             acknowledgement reported (none, leader_written, leader_flushed, isr_replicated, \
             isr_flushed)",
            self.acks.clone(),
        );
    }

    /// A leader appended `records` records in `bytes` bytes to a partition of `topic`.
    pub fn produced(&self, topic: &str, records: u64, bytes: u64) {
        let label = [("topic", topic.to_string())];
        self.messages_in.get_or_create(&label).inc_by(records);
        self.bytes_in.get_or_create(&label).inc_by(bytes);
    }

    /// A fetch response carried `bytes` bytes of records of `topic`.
    pub fn fetched(&self, topic: &str, bytes: u64) {
        if bytes > 0 {
            self.bytes_out
                .get_or_create(&[("topic", topic.to_string())])
                .inc_by(bytes);
        }
    }

    /// A produce was acknowledged with `durability`.
    pub fn acked(&self, durability: Durability) {
        self.acks
            .get_or_create(&[("durability", durability_label(durability))])
            .inc();
    }
}

/// The proto `Durability` name, lower-cased (the `durability` label's values).
pub fn durability_label(d: Durability) -> &'static str {
    match d {
        Durability::None => "none",
        Durability::LeaderWritten => "leader_written",
        Durability::LeaderFlushed => "leader_flushed",
        Durability::IsrReplicated => "isr_replicated",
        Durability::IsrFlushed => "isr_flushed",
    }
}

// ---- replication -----------------------------------------------------------------------------

/// ISR changes counted on the leader once the controller accepted them (as Kafka's
/// `ReplicaManager` IsrShrinksPerSec / IsrExpandsPerSec), and each follower fetcher's lag.
#[derive(Debug, Default)]
pub struct ReplicationMetrics {
    isr_shrinks: Counter,
    isr_expands: Counter,
    /// (topic, partition) → the lag the follower's last fetch found (see [`Self::follower_lag`]).
    follower_lag: Mutex<HashMap<(String, i32), i64>>,
}

impl ReplicationMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "kafka_server_replicamanager_isrshrinks",
            "ISR shrinks of partitions this broker leads, counted when the controller accepted \
             the AlterPartition (ReplicaManager IsrShrinksPerSec)",
            self.isr_shrinks.clone(),
        );
        r.register(
            "kafka_server_replicamanager_isrexpands",
            "ISR expansions of partitions this broker leads, counted when the controller \
             accepted the AlterPartition (ReplicaManager IsrExpandsPerSec)",
            self.isr_expands.clone(),
        );
    }

    /// The controller accepted an ISR change of a partition this broker leads, from
    /// `before` members to `after`.
    pub fn isr_changed(&self, before: usize, after: usize) {
        if after < before {
            self.isr_shrinks.inc();
        } else if after > before {
            self.isr_expands.inc();
        }
    }

    /// ISR shrinks counted so far.
    pub fn isr_shrinks(&self) -> u64 {
        self.isr_shrinks.get()
    }

    /// ISR expansions counted so far.
    pub fn isr_expands(&self) -> u64 {
        self.isr_expands.get()
    }

    fn lags(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), i64>> {
        // Each update is one insert or remove: a poisoned map is still consistent.
        self.follower_lag.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A follower fetch of `topic`-`partition` answered: the lag is Kafka's
    /// (`AbstractFetcherThread`): the leader's high watermark in the answer minus the offset
    /// the follower fetches next, never negative.
    pub fn set_follower_lag(&self, topic: &str, partition: i32, leader_hw: i64, next: i64) {
        let lag = (leader_hw - next).max(0);
        let mut lags = self.lags();
        match lags.get_mut(&(topic.to_string(), partition)) {
            Some(v) => *v = lag,
            None => {
                lags.insert((topic.to_string(), partition), lag);
            }
        }
    }

    /// A fetcher (re)starts: forget the lag of an earlier leadership.
    pub fn clear_follower_lag(&self, topic: &str, partition: i32) {
        self.lags().remove(&(topic.to_string(), partition));
    }

    /// The last lag the follower fetcher of `topic`-`partition` measured, if it fetched since
    /// it started.
    pub fn follower_lag(&self, topic: &str, partition: i32) -> Option<i64> {
        self.lags().get(&(topic.to_string(), partition)).copied()
    }
}

// ---- requests --------------------------------------------------------------------------------

/// The request types timed in `kafka_network_requestmetrics_totaltimems` (Kafka's API names;
/// a follower's fetch is `FetchFollower`, as Kafka's RequestMetrics names it). A fixed set, so
/// that the label's cardinality is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each variant is the Kafka API of the same name
pub enum RequestKind {
    Produce,
    Fetch,
    FetchFollower,
    ListOffsets,
    Metadata,
    InitProducerId,
    FindCoordinator,
    OffsetCommit,
    OffsetFetch,
    JoinGroup,
    SyncGroup,
    Heartbeat,
    LeaveGroup,
    DescribeGroups,
    ListGroups,
    DeleteGroups,
    OffsetForLeaderEpoch,
    /// Brook's own: the group's lag evaluation (Burrow's rules) at its coordinator.
    GroupLag,
}

impl RequestKind {
    /// Every kind, in label order.
    pub const ALL: [RequestKind; 18] = [
        RequestKind::Produce,
        RequestKind::Fetch,
        RequestKind::FetchFollower,
        RequestKind::ListOffsets,
        RequestKind::Metadata,
        RequestKind::InitProducerId,
        RequestKind::FindCoordinator,
        RequestKind::OffsetCommit,
        RequestKind::OffsetFetch,
        RequestKind::JoinGroup,
        RequestKind::SyncGroup,
        RequestKind::Heartbeat,
        RequestKind::LeaveGroup,
        RequestKind::DescribeGroups,
        RequestKind::ListGroups,
        RequestKind::DeleteGroups,
        RequestKind::OffsetForLeaderEpoch,
        RequestKind::GroupLag,
    ];

    /// The `request` label's value.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Produce => "Produce",
            RequestKind::Fetch => "Fetch",
            RequestKind::FetchFollower => "FetchFollower",
            RequestKind::ListOffsets => "ListOffsets",
            RequestKind::Metadata => "Metadata",
            RequestKind::InitProducerId => "InitProducerId",
            RequestKind::FindCoordinator => "FindCoordinator",
            RequestKind::OffsetCommit => "OffsetCommit",
            RequestKind::OffsetFetch => "OffsetFetch",
            RequestKind::JoinGroup => "JoinGroup",
            RequestKind::SyncGroup => "SyncGroup",
            RequestKind::Heartbeat => "Heartbeat",
            RequestKind::LeaveGroup => "LeaveGroup",
            RequestKind::DescribeGroups => "DescribeGroups",
            RequestKind::ListGroups => "ListGroups",
            RequestKind::DeleteGroups => "DeleteGroups",
            RequestKind::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
            RequestKind::GroupLag => "GroupLag",
        }
    }
}

fn request_histogram() -> Histogram {
    // 0.5 ms … about 16 s (a long-polling fetch waits up to its max_wait_ms).
    Histogram::new(exponential_buckets(0.5, 2.0, 16))
}

/// Time from the start of a request's handler to its answer, per request type, in
/// milliseconds (Kafka's `RequestMetrics` TotalTimeMs, as a histogram).
#[derive(Debug)]
pub struct RequestMetrics {
    family: Family<StaticLabel, Histogram, fn() -> Histogram>,
    /// One handle per [`RequestKind`] (indexed by its position in `ALL`): no map lookup on the
    /// request path.
    by_kind: Vec<Histogram>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        let family: Family<StaticLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(request_histogram);
        let by_kind = RequestKind::ALL
            .iter()
            .map(|k| family.get_or_create_owned(&[("request", k.name())]))
            .collect();
        RequestMetrics { family, by_kind }
    }
}

impl RequestMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "kafka_network_requestmetrics_totaltimems",
            "Time to answer a request, from its handler's start to its answer, in milliseconds, \
             by request type (RequestMetrics TotalTimeMs; FetchFollower is a replica's fetch, \
             which long-polls up to replica.fetch.wait.max.ms)",
            self.family.clone(),
        );
    }

    /// Records `elapsed` for one request of `kind`.
    pub fn observe(&self, kind: RequestKind, elapsed: Duration) {
        // `ALL` lists the variants in declaration order.
        if let Some(h) = self.by_kind.get(kind as usize) {
            h.observe(elapsed.as_secs_f64() * 1000.0);
        }
    }

    /// A guard that records the time until it is dropped (so every return path is timed).
    pub fn timer(&self, kind: RequestKind) -> RequestTimer<'_> {
        RequestTimer {
            metrics: self,
            kind,
            started: Instant::now(),
        }
    }
}

/// Times one request; see [`RequestMetrics::timer`].
#[derive(Debug)]
pub struct RequestTimer<'a> {
    metrics: &'a RequestMetrics,
    kind: RequestKind,
    started: Instant,
}

impl Drop for RequestTimer<'_> {
    fn drop(&mut self) {
        self.metrics.observe(self.kind, self.started.elapsed());
    }
}

// ---- storage ---------------------------------------------------------------------------------

/// What the broker's logs told it ([`LogObserver`]): fsync rounds, how long they took, how many
/// appends each made durable, and corruption found when opening logs.
#[derive(Debug)]
pub struct LogMetrics {
    fsyncs: Counter,
    fsync_seconds: Histogram,
    appends_per_fsync: Histogram,
    corruptions: Counter,
}

impl Default for LogMetrics {
    fn default() -> Self {
        LogMetrics {
            fsyncs: Counter::default(),
            // 50 µs … about 1.6 s.
            fsync_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            // 1 … 2048 appends.
            appends_per_fsync: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            corruptions: Counter::default(),
        }
    }
}

impl LogMetrics {
    fn register(&self, r: &mut Registry) {
        r.register(
            "brook_log_fsyncs",
            "fsync rounds of log data (each may cover many appends: group commit); the \
             metadata log's included",
            self.fsyncs.clone(),
        );
        r.register(
            "brook_log_fsync_seconds",
            "Time one fsync round of a log's files took, in seconds",
            self.fsync_seconds.clone(),
        );
        r.register(
            "brook_log_appends_per_fsync",
            "Appends made durable by one fsync round (above 1: group commit shared the fsync)",
            self.appends_per_fsync.clone(),
        );
        r.register(
            "brook_log_corruptions_detected",
            "Corruption found when opening logs: torn or corrupt batches cut off by crash \
             recovery, and damage to flushed data (the log then goes offline)",
            self.corruptions.clone(),
        );
    }

    /// fsync rounds so far.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.get()
    }

    /// Corruptions found so far.
    pub fn corruptions(&self) -> u64 {
        self.corruptions.get()
    }
}

impl LogObserver for LogMetrics {
    fn fsync(&self, elapsed: Duration, appends: u64) {
        self.fsyncs.inc();
        self.fsync_seconds.observe(elapsed.as_secs_f64());
        if appends > 0 {
            self.appends_per_fsync.observe(appends as f64);
        }
    }

    fn corruption(&self) {
        self.corruptions.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isr_changes_count_by_direction() {
        let m = ReplicationMetrics::default();
        m.isr_changed(3, 2);
        m.isr_changed(2, 3);
        m.isr_changed(2, 3);
        m.isr_changed(3, 3);
        assert_eq!((m.isr_shrinks(), m.isr_expands()), (1, 2));
    }

    #[test]
    fn follower_lag_is_hw_minus_next_offset_never_negative() {
        let m = ReplicationMetrics::default();
        assert_eq!(m.follower_lag("t", 0), None);
        m.set_follower_lag("t", 0, 10, 4);
        assert_eq!(m.follower_lag("t", 0), Some(6));
        m.set_follower_lag("t", 0, 10, 12);
        assert_eq!(m.follower_lag("t", 0), Some(0));
        m.clear_follower_lag("t", 0);
        assert_eq!(m.follower_lag("t", 0), None);
    }

    #[test]
    fn every_request_kind_has_its_histogram() {
        let m = RequestMetrics::default();
        for k in RequestKind::ALL {
            m.observe(k, Duration::from_millis(3));
        }
        let mut r = Registry::default();
        m.register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        for k in RequestKind::ALL {
            let line = format!(
                "kafka_network_requestmetrics_totaltimems_count{{request=\"{}\"}} 1",
                k.name()
            );
            assert!(out.contains(&line), "{line} missing from\n{out}");
        }
    }

    #[test]
    fn log_observer_feeds_fsync_and_corruption_metrics() {
        let m = LogMetrics::default();
        m.fsync(Duration::from_micros(300), 4);
        m.fsync(Duration::from_micros(300), 0);
        m.corruption();
        assert_eq!((m.fsyncs(), m.corruptions()), (2, 1));
        let mut r = Registry::default();
        m.register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        assert!(out.contains("brook_log_fsyncs_total 2"), "{out}");
        assert!(out.contains("brook_log_appends_per_fsync_count 1"), "{out}");
        assert!(out.contains("brook_log_appends_per_fsync_sum 4.0"), "{out}");
        assert!(
            out.contains("brook_log_corruptions_detected_total 1"),
            "{out}"
        );
    }
}
