//! A running broker: its log directory, the metadata image it learns from the controller, the
//! partitions it hosts (leader or follower), committed offsets and producer ids. `server/` puts
//! it on the network, `lifecycle.rs` keeps it registered and up to date, `replication.rs` runs
//! its follower fetchers and ISR proposals.
//!
//! Admin changes are made by the controller (possibly in this same process, `process.roles=
//! broker,controller`); the broker only applies the records it pulls, exactly as every other
//! broker does, so one code path serves one broker and many.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use brook_log::{Clock, LogDir, LogOptions, SharedLog, SystemClock, lock};
use brook_proto::ErrorCode;
use brook_proto::v1::MetadataRecord;
use tokio::sync::watch;

use crate::config::{BrokerConfig, TopicConfig};
use crate::controller::host::ControllerHost;
use crate::controller_link::ControllerLink;
use crate::error::{BrokerError, Result};
use crate::group_coordinator::{GroupCoordinator, OFFSETS_TOPIC};
use crate::leader_epoch::LeaderEpochCache;
use crate::metadata::MetadataImage;
use crate::metadata_log::METADATA_LOG;
use crate::metrics::{BrokerMetrics, LogMetrics, TrafficMetrics};
use crate::partition::{Partition, PartitionParts, PartitionState};
use crate::producer_state::ProducerStateManager;
use crate::replica_manager::ReplicaManager;
use crate::topic::{NewTopic, log_name, split_name};

/// What a broker is given from outside its config: the disk and the network it uses. The
/// embedded cluster passes a fault-injecting file system (to drop unflushed data on `kill`) and
/// a fault-injecting dialer (to cut, slow or partition links); `brook serve` uses the real ones.
#[derive(Debug, Clone)]
pub struct BrokerEnv {
    /// The file system every log, checkpoint and snapshot is written through.
    pub fs: Arc<dyn brook_log::io::FileSystem>,
    /// The dialer for every connection to another broker or voter.
    pub channels: brook_proto::net::Channels,
    /// Wall-clock time for the broker's decisions (ISR lag, HW, producer expiry, controller
    /// sessions, commit timestamps): the one place the broker reads the time of day.
    pub clock: Arc<dyn Clock>,
}

impl Default for BrokerEnv {
    fn default() -> Self {
        BrokerEnv {
            fs: brook_log::io::os(),
            channels: brook_proto::net::Channels::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl BrokerEnv {
    /// Milliseconds since the Unix epoch, by [`BrokerEnv::clock`].
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// One broker: its storage, the metadata image it has applied, the partitions it hosts and the
/// state that spans them (broker epoch, producer-id block, committed offsets). Shared as an
/// `Arc<Broker>` by the gRPC services, the lifecycle task, the fetchers and housekeeping.
#[derive(Debug)]
pub struct Broker {
    /// The broker's configuration, fixed for the life of the process.
    pub config: BrokerConfig,
    /// The disk, network and clock this broker runs on.
    pub env: BrokerEnv,
    /// `host:port` clients should use (the bound address).
    pub advertised: String,
    /// The controller voters and which of them is active, as this broker follows them.
    pub controller_link: ControllerLink,
    /// This process's controller-quorum member, when it plays that role (set once, at start).
    controller: OnceLock<Arc<ControllerHost>>,
    /// The metadata quorum's Raft log, when this process is a voter.
    metadata_log: Option<SharedLog>,
    log_dir: Mutex<Option<LogDir>>,
    image: RwLock<MetadataImage>,
    /// Offset of the next metadata record to apply; watchers wait on it.
    applied: watch::Sender<i64>,
    /// This broker's epoch: the metadata offset of its current registration record, which the
    /// controller hands back on registration (KIP-380's broker epoch; it fences requests from
    /// an earlier incarnation). -1 until registered.
    pub broker_epoch: AtomicI64,
    /// The partitions hosted here (and those offline because their storage failed), with the
    /// fetch and list-offsets paths over them.
    pub replicas: ReplicaManager,
    /// The group coordinator: groups and committed offsets of the `__consumer_offsets`
    /// partitions this broker leads.
    pub coordinator: GroupCoordinator,
    /// This broker's metrics (its own registry; `metrics.listener` serves it).
    pub metrics: Arc<BrokerMetrics>,
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    /// High watermarks from the last checkpoint, used when a partition is first loaded.
    checkpointed_hws: BTreeMap<String, i64>,
}

impl Broker {
    /// Opens storage (and the controller's metadata log when this process is the controller).
    /// Partitions are loaded as metadata arrives from the controller.
    pub fn open(config: BrokerConfig, advertised: String, env: BrokerEnv) -> Result<Arc<Broker>> {
        let log_metrics = Arc::new(LogMetrics::default());
        let options = LogOptions {
            fs: env.fs.clone(),
            observer: log_metrics.clone(),
            ..LogOptions::default()
        };
        let mut dir = LogDir::open(&config.log_dir, options)?;
        let metadata_log = if config.roles.controller {
            let log_config = crate::quorum::log_store::metadata_log_config();
            Some(match dir.log(METADATA_LOG) {
                Some(l) => {
                    lock(&l).set_config(log_config);
                    l
                }
                None => dir.create_log(METADATA_LOG, log_config)?,
            })
        } else {
            None
        };
        let controller_link = ControllerLink::new(
            config.voters(&advertised),
            env.channels.clone(),
            std::time::Duration::from_millis(config.quorum_request_timeout_ms),
        );
        let traffic = TrafficMetrics::default();
        let replicas = ReplicaManager::new(traffic.clone());
        for (name, e) in dir.offline() {
            if let Some((topic, partition)) = split_name(name) {
                replicas.set_offline(&topic, partition, e.to_string());
            }
        }
        let checkpointed_hws = dir.read_high_watermarks()?;
        dir.start_flusher(std::time::Duration::from_millis(
            config.flush_scheduler_interval_ms,
        ));
        Ok(Arc::new_cyclic(|me| Broker {
            metrics: Arc::new(BrokerMetrics::new(me.clone(), traffic, log_metrics)),
            advertised,
            controller_link,
            controller: OnceLock::new(),
            metadata_log,
            log_dir: Mutex::new(Some(dir)),
            image: RwLock::new(MetadataImage::default()),
            applied: watch::Sender::new(0),
            broker_epoch: AtomicI64::new(-1),
            replicas,
            coordinator: GroupCoordinator::new(
                config.group_config(),
                config.group_lag.clone(),
                env.clock.clone(),
                member_id_seed(config.node_id, env.now_ms()),
            ),
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            checkpointed_hws,
            config,
            env,
        }))
    }

    /// This process's controller-quorum member, if it is a voter.
    pub fn controller(&self) -> Option<&Arc<ControllerHost>> {
        self.controller.get()
    }

    /// Starts this process's controller-quorum member (once; `server/` calls it before serving).
    pub async fn start_controller(&self) -> Result<Option<Arc<ControllerHost>>> {
        let Some(log) = self.metadata_log.clone() else {
            return Ok(None);
        };
        if let Some(host) = self.controller.get() {
            return Ok(Some(host.clone()));
        }
        let voters = crate::quorum::Voters::new(&self.config.voters(&self.advertised));
        let host = ControllerHost::start(
            &self.config,
            voters,
            log,
            self.env.fs.clone(),
            self.env.channels.clone(),
            self.env.clock.clone(),
        )
        .await?;
        Ok(Some(self.controller.get_or_init(|| host).clone()))
    }

    /// The active controller as far as this broker knows (its own quorum member's view, or the
    /// voter its controller link follows).
    pub fn active_controller_id(&self) -> i32 {
        match self.controller() {
            Some(host) => host.active_controller_id(),
            None => self.controller_link.current_id(),
        }
    }

    /// A copy of the current metadata image (as this broker has applied it).
    pub fn image(&self) -> MetadataImage {
        self.image.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Offset of the next metadata record this broker will apply.
    pub fn applied_offset(&self) -> i64 {
        *self.applied.borrow()
    }

    /// A receiver of [`Broker::applied_offset`], woken each time the broker applied more metadata
    /// records.
    pub fn subscribe_metadata(&self) -> watch::Receiver<i64> {
        self.applied.subscribe()
    }

    fn with_dir<T>(&self, f: impl FnOnce(&mut LogDir) -> brook_log::Result<T>) -> Result<T> {
        let mut guard = self.log_dir.lock().unwrap_or_else(|p| p.into_inner());
        let dir = guard.as_mut().ok_or_else(|| {
            BrokerError::new(ErrorCode::BrokerNotAvailable, "broker is shutting down")
        })?;
        Ok(f(dir)?)
    }

    /// Applies metadata records pulled from the controller and brings the hosted partitions in
    /// line with them. Returns the partitions whose follower fetcher must (re)start.
    pub fn apply_metadata(
        &self,
        records: &[MetadataRecord],
    ) -> Result<Vec<(Arc<Partition>, i32, i32)>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        // Only the metadata poller applies records, so building the next image outside the
        // lock is race free. It is published after the partitions were reconciled with it, so
        // whoever sees a topic in `image()` also finds its partitions in their new roles.
        let mut image = self.image();
        for r in records {
            if r.offset >= image.next_offset {
                image.apply(r);
            }
        }
        // A restarted broker may have lost its log's unflushed tail, and the metadata before its
        // registration may still name it leader in its old epoch: acting on that would serve
        // (and have followers truncate to) the shortened log. The controller moves it out of
        // leaderships in the same commit as the registration record, whose offset is the broker
        // epoch, so partitions follow the image only once it holds that record.
        let registered = self.broker_epoch.load(Ordering::Acquire);
        let fetchers = if registered >= 0 && image.next_offset > registered {
            self.reconcile(&image)?
        } else {
            Vec::new()
        };
        let next = image.next_offset;
        *self.image.write().unwrap_or_else(|p| p.into_inner()) = image;
        self.applied.send_replace(next);
        Ok(fetchers)
    }

    /// Makes the local partitions match `image`: load new ones, change roles, drop deleted ones.
    fn reconcile(&self, image: &MetadataImage) -> Result<Vec<(Arc<Partition>, i32, i32)>> {
        let me = self.config.node_id;
        let mut fetchers = Vec::new();
        for t in image.topics.values() {
            let topic_config = self.config.topic_config(&t.configs)?;
            for (i, p) in t.partitions.iter().enumerate() {
                let i = i as i32;
                if !p.replicas.contains(&me) || self.offline_reason(&t.name, i).is_some() {
                    continue;
                }
                let part = match self.replicas.get(&t.name, i) {
                    Some(part) => {
                        if part.state().config() != &topic_config {
                            part.set_config(topic_config.clone());
                        }
                        part
                    }
                    None => self.load_partition(&t.name, i, &topic_config)?,
                };
                if let Some((leader, epoch)) = part.apply_metadata(p, &image.brokers)? {
                    fetchers.push((part.clone(), leader, epoch));
                }
                if t.name == OFFSETS_TOPIC {
                    // Groups follow the partition's leadership: loaded (replayed) when this
                    // broker becomes leader, in each new leader epoch; unloaded otherwise.
                    if part.state().is_leader() {
                        self.coordinator.load(&part)?;
                    } else {
                        self.coordinator.unload(i);
                    }
                }
            }
        }
        for part in self.replicas.all() {
            let gone = image
                .partition(&part.topic, part.index)
                .is_none_or(|p| !p.replicas.contains(&me));
            if gone {
                if part.topic == OFFSETS_TOPIC {
                    self.coordinator.unload(part.index);
                }
                self.replicas.remove_partition(&part.topic, part.index);
                let name = log_name(&part.topic, part.index);
                if !image.topics.contains_key(&part.topic) {
                    self.coordinator.remove_topic(&part.topic);
                }
                drop(part);
                self.with_dir(|d| d.delete_log(&name))?;
                tracing::info!(partition = %name, "removed partition");
            }
        }
        Ok(fetchers)
    }

    /// Opens (or creates) a hosted partition's log and its state; its role comes next.
    fn load_partition(
        &self,
        topic: &str,
        index: i32,
        config: &TopicConfig,
    ) -> Result<Arc<Partition>> {
        let name = log_name(topic, index);
        let log = self.with_dir(|d| match d.log(&name) {
            Some(l) => {
                lock(&l).set_config(config.log.clone());
                Ok(l)
            }
            None => d.create_log(&name, config.log.clone()),
        })?;
        let (producers, epochs, leo) = {
            let l = lock(&log);
            let producers = ProducerStateManager::rebuild(l.dir(), &l)
                .map_err(|e| BrokerError::Storage(e.to_string()))?;
            let (epochs, dirty) = LeaderEpochCache::load_or_rebuild(&l)?;
            if dirty {
                epochs.persist(self.env.fs.as_ref(), l.dir())?;
            }
            (producers, epochs, l.log_end_offset())
        };
        let checkpointed_hw = self.checkpointed_hws.get(&name).copied().unwrap_or(0);
        let state = PartitionState::new(
            config.clone(),
            self.config.node_id,
            self.config.replica_lag_time_max_ms as i64,
            checkpointed_hw,
            leo,
        );
        let parts = PartitionParts {
            log,
            state,
            producers,
            epochs,
            fs: self.env.fs.clone(),
            clock: self.env.clock.clone(),
        };
        let partition = Arc::new(Partition::new(topic, index, parts));
        self.replicas.insert(partition.clone());
        Ok(partition)
    }

    /// Why a partition is offline on this broker (its storage failed), if it is.
    pub fn offline_reason(&self, topic: &str, partition: i32) -> Option<String> {
        self.replicas.offline_reason(topic, partition)
    }

    /// Waits until this broker has applied metadata up to `offset` (bounded).
    pub async fn wait_for_metadata(&self, offset: i64, timeout: std::time::Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|o| *o >= offset))
            .await
            .is_ok()
    }

    /// InitProducerId: a new id from blocks the controller hands out (so ids are never reused,
    /// across brokers or restarts), or an epoch bump for an existing one.
    pub async fn init_producer_id(&self, producer_id: i64, epoch: i32) -> Result<(i64, i16)> {
        if producer_id >= 0 && (0..i16::MAX as i32 - 1).contains(&epoch) {
            return Ok((producer_id, epoch as i16 + 1));
        }
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let req = brook_proto::v1::AllocateProducerIdsRequest {
                node_id: self.config.node_id,
                broker_epoch: self.broker_epoch.load(Ordering::Acquire),
            };
            let link = &self.controller_link;
            let resp = link
                .call(
                    "AllocateProducerIds",
                    link.request_timeout(),
                    |mut c| async move { c.allocate_producer_ids(req).await },
                )
                .await
                .map_err(|e| BrokerError::new(ErrorCode::CoordinatorNotAvailable, e.message()))?;
            let code = ErrorCode::from_wire(resp.error_code);
            if code != ErrorCode::None {
                return Err(BrokerError::new(
                    code,
                    "the controller did not allocate producer ids",
                ));
            }
            *ids = (
                resp.producer_id_start,
                resp.producer_id_start + resp.producer_id_len as i64,
            );
        }
        let id = ids.0;
        ids.0 += 1;
        Ok((id, 0))
    }

    /// Creates a topic through the controller (local or remote) and waits until this broker
    /// has applied it.
    pub async fn create_topic_via_controller(&self, t: NewTopic) -> Result<()> {
        if let Some(host) = self.controller().filter(|h| h.is_active()) {
            return host.create_topic(t, false).await;
        }
        let req = brook_proto::v1::CreateTopicsRequest {
            topics: vec![brook_proto::v1::CreatableTopic {
                name: t.name.clone(),
                num_partitions: t.partitions,
                replication_factor: t.replication_factor,
                configs: t.configs.into_iter().collect(),
                assignments: t
                    .assignments
                    .iter()
                    .zip(0..)
                    .map(|(r, partition)| brook_proto::v1::ReplicaAssignment {
                        partition,
                        broker_ids: r.clone(),
                    })
                    .collect(),
            }],
            timeout_ms: 5000,
            validate_only: false,
        };
        let me = self.config.node_id;
        let link = &self.controller_link;
        let resp = link
            .forward(std::time::Duration::from_secs(5), |mut c| {
                let r = crate::controller_link::forwarded(me, req.clone());
                async move { c.create_topics(r).await }
            })
            .await
            .map_err(|e| BrokerError::new(ErrorCode::CoordinatorNotAvailable, e.message()))?
            .into_inner();
        match resp.topics.first() {
            Some(r) if r.error_code != 0 => Err(BrokerError::new(
                ErrorCode::from_wire(r.error_code),
                r.error_message.clone(),
            )),
            _ => Ok(()),
        }
    }

    /// Periodic housekeeping: retention, HW and recovery-point checkpoints, producer-state
    /// snapshots and expiry.
    pub fn housekeeping(&self, retention: bool) {
        let now = self.env.now_ms();
        let mut hws = Vec::new();
        for p in self.replicas.all() {
            if retention {
                if let Err(e) = p.apply_retention() {
                    tracing::error!(topic = %p.topic, partition = p.index, "retention failed: {e}");
                }
            }
            p.expire_producers(now, self.config.producer_id_expiration_ms);
            if let Err(e) = p.snapshot_producers(false) {
                tracing::error!(topic = %p.topic, partition = p.index, "producer snapshot failed: {e}");
            }
            hws.push((log_name(&p.topic, p.index), p.high_watermark()));
        }
        hws.sort();
        if let Err(e) = self.with_dir(|d| d.checkpoint_high_watermarks(&hws)) {
            tracing::error!("high watermark checkpoint failed: {e}");
        }
        // Also record how far each log is known flushed (Kafka does this every
        // log.flush.offset.checkpoint.interval.ms), so that after a crash recovery rescans only
        // the unflushed tail and can tell a torn write from damage to fsynced data.
        if let Err(e) = self.with_dir(|d| d.checkpoint_recovery_points()) {
            tracing::error!("recovery point checkpoint failed: {e}");
        }
    }

    /// Clean shutdown: snapshots, checkpoints, flush, clean-shutdown marker.
    pub fn close(&self) -> Result<()> {
        self.coordinator.close();
        let mut hws = Vec::new();
        for p in self.replicas.all() {
            p.snapshot_producers(true)?;
            hws.push((log_name(&p.topic, p.index), p.high_watermark()));
        }
        hws.sort();
        self.with_dir(|d| d.checkpoint_high_watermarks(&hws))?;
        self.replicas.clear();
        let dir = self
            .log_dir
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(dir) = dir {
            dir.close()?;
        }
        Ok(())
    }
}

/// A seed for group member ids that differs between brokers and incarnations (ids only need
/// to be unique; they are not secrets).
fn member_id_seed(node_id: i32, now_ms: i64) -> u64 {
    let local = 0u8;
    let addr = std::ptr::addr_of!(local) as u64;
    (now_ms as u64).rotate_left(17)
        ^ (node_id as u64).rotate_left(48)
        ^ addr
        ^ u64::from(std::process::id())
}
