//! The cluster metadata cache: brokers and, per topic, partitions with their leader id and
//! leader epoch, from the `Brook.Metadata` RPC.
//!
//! Any broker can answer, so a refresh tries the known brokers and then each bootstrap server in
//! turn. Refreshes happen on demand (after `NOT_LEADER_OR_FOLLOWER`,
//! `UNKNOWN_TOPIC_OR_PARTITION`, `LEADER_NOT_AVAILABLE`, transport errors, or for a topic not yet
//! known) and are rate-limited by a minimum interval, so that a burst of failing requests costs
//! one metadata round trip, not one per request. Concurrent refreshers share one RPC. After
//! failed refreshes the interval grows instead, from `retry.backoff.ms` to
//! `retry.backoff.max.ms` (`crate::backoff`), and each backoff step logs at most one line.
//! The cache asks for all topics (an empty topic list): Brook clusters hold few topics, and it
//! spares tracking which topics each client uses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use brook_proto::v1::{MetadataRequest, MetadataResponse};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::backoff::{ExponentialBackoff, Retrier};
use crate::error::{ClientError, Result};
use crate::rpc;

/// One broker as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// The broker's `node.id`.
    pub node_id: i32,
    /// The host it advertises for clients.
    pub host: String,
    /// The port it advertises for clients.
    pub port: i32,
    /// Its `broker.rack`, if it has one.
    pub rack: Option<String>,
}

impl Broker {
    /// `host:port`, the form `Channels::get` takes.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition as metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition number.
    pub partition: i32,
    /// The partition's error in the metadata answer (`NONE`, `LEADER_NOT_AVAILABLE`, …).
    pub error: ErrorCode,
    /// Node id of the leader; -1 when the partition has no leader.
    pub leader_id: i32,
    /// The leader epoch the leader holds leadership in (bumped by every leader change).
    pub leader_epoch: i32,
    /// Node ids of every replica, the preferred leader first.
    pub replicas: Vec<i32>,
    /// Node ids of the in-sync replicas.
    pub isr: Vec<i32>,
}

/// One topic as metadata describes it; `partitions` sorted by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic's name.
    pub name: String,
    /// The topic's error in the metadata answer (`NONE`, `UNKNOWN_TOPIC_OR_PARTITION`, …).
    pub error: ErrorCode,
    /// Whether it is an internal topic (`__consumer_offsets`), hidden from `list_topics`.
    pub is_internal: bool,
    /// The topic's partitions, sorted by number.
    pub partitions: Vec<PartitionInfo>,
}

/// An immutable view of the cluster, swapped whole on each refresh.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The cluster's id; empty before the first successful refresh.
    pub cluster_id: String,
    /// Node id of the active controller as the answering broker saw it (-1 when unknown; 0 in
    /// the empty snapshot before the first refresh).
    pub controller_id: i32,
    /// The registered brokers, by node id.
    pub brokers: HashMap<i32, Broker>,
    /// Every topic, by name.
    pub topics: HashMap<String, TopicInfo>,
}

impl Snapshot {
    fn from_response(resp: MetadataResponse) -> Snapshot {
        let brokers = resp
            .brokers
            .into_iter()
            .map(|b| {
                let broker = Broker {
                    node_id: b.node_id,
                    host: b.host,
                    port: b.port,
                    rack: Some(b.rack).filter(|r| !r.is_empty()),
                };
                (b.node_id, broker)
            })
            .collect();
        let topics = resp
            .topics
            .into_iter()
            .map(|t| {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .into_iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition,
                        error: ErrorCode::from_wire(p.error_code),
                        leader_id: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replicas,
                        isr: p.isr,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                let info = TopicInfo {
                    name: t.name.clone(),
                    error: ErrorCode::from_wire(t.error_code),
                    is_internal: t.is_internal,
                    partitions,
                };
                (t.name, info)
            })
            .collect();
        Snapshot {
            cluster_id: resp.cluster_id,
            controller_id: resp.controller_id,
            brokers,
            topics,
        }
    }

    /// The partition's metadata, if the topic and partition are known.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionInfo> {
        let t = self.topics.get(topic)?;
        t.partitions.iter().find(|p| p.partition == partition)
    }
}

/// The shared, refreshable metadata cache.
#[derive(Debug)]
pub struct Metadata {
    bootstrap: Vec<String>,
    channels: Channels,
    request_timeout: Duration,
    min_interval: Duration,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serialises refreshes; holds the time of the last completed attempt and the failures.
    refresh_lock: tokio::sync::Mutex<RefreshPacing>,
    /// Bumped on every successful refresh, so a waiter can tell whether someone else refreshed.
    generation: AtomicU64,
    background: AtomicBool,
    updated: Notify,
}

/// When the next refresh may go: `min_interval` after a success, the backoff after failures.
#[derive(Debug)]
struct RefreshPacing {
    last: Option<Instant>,
    retry: Retrier,
}

impl RefreshPacing {
    fn next_allowed(&self, min_interval: Duration) -> Option<Instant> {
        self.retry
            .retry_at()
            .or_else(|| self.last.map(|at| at + min_interval))
    }
}

impl Metadata {
    /// A cache refreshing at most once per `min_interval`, and after failed refreshes no sooner
    /// than `backoff` says.
    pub fn new(
        bootstrap: Vec<String>,
        channels: Channels,
        request_timeout: Duration,
        min_interval: Duration,
        backoff: ExponentialBackoff,
    ) -> Arc<Metadata> {
        Arc::new(Metadata {
            bootstrap,
            channels,
            request_timeout,
            min_interval,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            refresh_lock: tokio::sync::Mutex::new(RefreshPacing {
                last: None,
                retry: Retrier::new(backoff),
            }),
            generation: AtomicU64::new(0),
            background: AtomicBool::new(false),
            updated: Notify::new(),
        })
    }

    /// The channel cache every request of this client goes through.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// The current view (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many refreshes have succeeded so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Resolves once a refresh after this call completes (for tasks that wait for a leader).
    pub fn updated(&self) -> &Notify {
        &self.updated
    }

    /// `(node_id, "host:port")` of the partition's leader, if known.
    pub fn leader_for(&self, topic: &str, partition: i32) -> Option<(i32, String)> {
        let snap = self.snapshot();
        let p = snap.partition(topic, partition)?;
        if p.leader_id < 0 {
            return None;
        }
        let b = snap.brokers.get(&p.leader_id)?;
        Some((p.leader_id, b.addr()))
    }

    /// The partition's leader epoch as last seen (-1 unknown).
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> i32 {
        self.snapshot()
            .partition(topic, partition)
            .map_or(-1, |p| p.leader_epoch)
    }

    /// Number of partitions of `topic`, if the topic is known and has no error.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        let snap = self.snapshot();
        let t = snap.topics.get(topic)?;
        if t.error != ErrorCode::None || t.partitions.is_empty() {
            return None;
        }
        i32::try_from(t.partitions.len()).ok()
    }

    /// `host:port` of broker `node_id`, if the snapshot knows it.
    pub fn broker_addr(&self, node_id: i32) -> Option<String> {
        self.snapshot().brokers.get(&node_id).map(Broker::addr)
    }

    /// Applies a leader hint from an error response (`LeaderHint`), skipping a metadata round
    /// trip when the hint names a known broker and a newer epoch.
    pub fn apply_leader_hint(&self, topic: &str, partition: i32, leader_id: i32, epoch: i32) {
        if leader_id < 0 {
            return;
        }
        let mut guard = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        if !guard.brokers.contains_key(&leader_id) {
            return;
        }
        let mut snap = (**guard).clone();
        let Some(t) = snap.topics.get_mut(topic) else {
            return;
        };
        let Some(p) = t.partitions.iter_mut().find(|p| p.partition == partition) else {
            return;
        };
        if epoch > p.leader_epoch {
            debug!(topic, partition, leader_id, epoch, "leader hint applied");
            p.leader_id = leader_id;
            p.leader_epoch = epoch;
            p.error = ErrorCode::None;
            *guard = Arc::new(snap);
        }
    }

    /// Addresses to ask, known brokers first, then bootstrap servers.
    pub fn candidate_addrs(&self) -> Vec<String> {
        let snap = self.snapshot();
        let mut ids: Vec<&i32> = snap.brokers.keys().collect();
        ids.sort();
        let mut out: Vec<String> = ids
            .into_iter()
            .filter_map(|id| snap.brokers.get(id).map(Broker::addr))
            .collect();
        for b in &self.bootstrap {
            if !out.contains(b) {
                out.push(b.clone());
            }
        }
        out
    }

    /// Refreshes the cache, at most once per `min_interval` (after failures: per backoff step);
    /// a caller that waited while another refresh completed returns at once.
    pub async fn refresh(&self) -> Result<()> {
        let seen = self.generation();
        let mut pacing = self.refresh_lock.lock().await;
        if self.generation() != seen {
            return Ok(());
        }
        if let Some(next) = pacing.next_allowed(self.min_interval) {
            if Instant::now() < next {
                tokio::time::sleep_until(next).await;
            }
        }
        let result = self.fetch().await;
        let now = Instant::now();
        pacing.last = Some(now);
        match result {
            Ok(resp) => {
                pacing.retry.succeeded();
                let snap = Snapshot::from_response(resp);
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snap);
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.updated.notify_waiters();
                Ok(())
            }
            Err(e) => {
                let step = pacing.retry.failed(now);
                if step.log {
                    warn!(error = %e, "metadata refresh failed; next refresh in {} ms (attempt {})",
                        step.delay_ms(), step.attempt);
                }
                self.updated.notify_waiters();
                Err(e)
            }
        }
    }

    /// Starts a refresh in the background unless one is already running.
    pub fn request_update(self: &Arc<Self>) {
        if self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            // `refresh` logs failures itself, once per backoff step.
            if let Err(e) = this.refresh().await {
                debug!(error = %e, "background metadata refresh failed");
            }
            this.background.store(false, Ordering::Release);
        });
    }

    async fn fetch(&self) -> Result<MetadataResponse> {
        let mut last_err = None;
        for addr in self.candidate_addrs() {
            let mut client = match rpc::brook(&self.channels, &addr) {
                Ok(c) => c,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let req = MetadataRequest {
                topics: Vec::new(),
                allow_auto_topic_creation: false,
            };
            match rpc::call(self.request_timeout, client.metadata(req)).await {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    debug!(addr, error = %e, "metadata request failed; trying next broker");
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| ClientError::Transport("no broker to ask".into())))
    }

    /// Waits (refreshing) until `topic` is known with partitions, up to `timeout`.
    pub async fn wait_for_topic(&self, topic: &str, timeout: Duration) -> Result<i32> {
        let deadline = Instant::now() + timeout;
        let mut last_err = None;
        loop {
            if let Some(n) = self.partition_count(topic) {
                return Ok(n);
            }
            if Instant::now() >= deadline {
                let why = match last_err {
                    Some(e) => format!("; last error: {e}"),
                    None => String::new(),
                };
                return Err(ClientError::kafka(
                    ErrorCode::UnknownTopicOrPartition,
                    format!(
                        "topic {topic} not present in metadata after {} ms{why}",
                        timeout.as_millis()
                    ),
                ));
            }
            match tokio::time::timeout_at(deadline, self.refresh()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => last_err = Some(e),
                Err(_) => {}
            }
            if self.partition_count(topic).is_none() {
                // Let the min interval pace the retries; refresh() sleeps for it.
                tokio::task::yield_now().await;
            }
        }
    }
}
