//! A running broker: opens its log directory, replays its metadata log, hosts its partitions and
//! answers the admin / coordinator / producer-id requests. `server.rs` puts it on the network.
//!
//! Until the controller issue lands, a single broker is also its own controller: admin changes are
//! appended to its own metadata log (`metadata_log.rs`) and applied from there, exactly as they
//! will be when they come from a remote controller.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use brook_log::{LogDir, LogOptions, lock};
use brook_proto::ErrorCode;
use brook_proto::v1::metadata_record::Record;
use brook_proto::v1::{
    ConfigRecord, ConfigResourceType, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord,
    RemoveTopicRecord, TopicRecord, UnfenceBrokerRecord,
};

use crate::config::{BrokerConfig, TopicConfig};
use crate::error::{BrokerError, Result};
use crate::group_coordinator::{Committed, GroupCoordinator, OFFSETS_TOPIC, partition_for};
use crate::metadata::{MetadataImage, PartitionMeta};
use crate::metadata_log::{METADATA_LOG, MetadataLog, now_ms};
use crate::partition::{Partition, PartitionState};
use crate::producer_state::ProducerStateManager;
use crate::replica_manager::ReplicaManager;

const PRODUCER_ID_BLOCK: i64 = 1000;

/// What a broker is given from outside its config: the disk and the network it uses. The
/// embedded cluster passes a fault-injecting file system (to drop unflushed data on `kill`) and
/// a fault-injecting dialer (to cut, slow or partition links); `brook serve` uses the real ones.
#[derive(Debug, Clone)]
pub struct BrokerEnv {
    pub fs: Arc<dyn brook_log::io::FileSystem>,
    pub channels: brook_proto::net::Channels,
}

impl Default for BrokerEnv {
    fn default() -> Self {
        BrokerEnv {
            fs: brook_log::io::os(),
            channels: brook_proto::net::Channels::default(),
        }
    }
}

/// What CreateTopics asks for, validated.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub env: BrokerEnv,
    /// `host:port` clients should use (the bound address).
    pub advertised: String,
    log_dir: Mutex<Option<LogDir>>,
    metadata: Mutex<MetadataLog>,
    pub replicas: ReplicaManager,
    pub coordinator: GroupCoordinator,
    producer_ids: Mutex<(i64, i64)>,
    /// Partitions whose log could not be opened (KAFKA_STORAGE_ERROR), with the reason.
    offline: Mutex<HashMap<(String, i32), String>>,
}

impl Broker {
    /// Opens storage and metadata, registers itself, and loads every hosted partition.
    pub fn open(config: BrokerConfig, advertised: String, env: BrokerEnv) -> Result<Arc<Broker>> {
        let options = LogOptions {
            fs: env.fs.clone(),
            ..LogOptions::default()
        };
        let mut dir = LogDir::open(&config.log_dir, options)?;
        let metadata_log = match dir.log(METADATA_LOG) {
            Some(l) => l,
            None => dir.create_log(METADATA_LOG, brook_log::LogConfig::default())?,
        };
        let mut metadata = MetadataLog::open(metadata_log)?;
        let offline: HashMap<(String, i32), String> = dir
            .offline()
            .iter()
            .filter_map(|(name, e)| split_name(name).map(|tp| (tp, e.to_string())))
            .collect();
        let (host, port) = advertised
            .rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.parse::<i32>().unwrap_or(0)))
            .unwrap_or_default();
        let epoch = metadata.end_offset();
        metadata.append(vec![
            Record::RegisterBroker(RegisterBrokerRecord {
                node_id: config.node_id,
                broker_epoch: epoch,
                incarnation_id: format!("{:x}", now_ms()),
                host,
                port,
                rack: config.rack.clone().unwrap_or_default(),
            }),
            Record::UnfenceBroker(UnfenceBrokerRecord {
                node_id: config.node_id,
                broker_epoch: epoch,
            }),
        ])?;
        dir.start_flusher(std::time::Duration::from_millis(
            config.flush_scheduler_interval_ms,
        ));
        let broker = Arc::new(Broker {
            advertised,
            log_dir: Mutex::new(Some(dir)),
            metadata: Mutex::new(metadata),
            replicas: ReplicaManager::default(),
            coordinator: GroupCoordinator::default(),
            producer_ids: Mutex::new((0, 0)),
            offline: Mutex::new(offline),
            config,
            env,
        });
        let image = broker.image();
        let hws = broker.with_dir(|d| d.read_high_watermarks())?;
        for t in image.topics.values() {
            let topic_config = broker.config.topic_config(&t.configs)?;
            for (i, p) in t.partitions.iter().enumerate() {
                broker.load_partition(
                    &t.name,
                    i as i32,
                    p,
                    &topic_config,
                    hws.get(&log_name(&t.name, i as i32)).copied(),
                )?;
            }
        }
        Ok(broker)
    }

    fn meta(&self) -> MutexGuard<'_, MetadataLog> {
        self.metadata.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the current metadata image.
    pub fn image(&self) -> MetadataImage {
        self.meta().image().clone()
    }

    fn with_dir<T>(&self, f: impl FnOnce(&mut LogDir) -> brook_log::Result<T>) -> Result<T> {
        let mut guard = self.log_dir.lock().unwrap_or_else(|p| p.into_inner());
        let dir = guard.as_mut().ok_or_else(|| {
            BrokerError::new(ErrorCode::BrokerNotAvailable, "broker is shutting down")
        })?;
        Ok(f(dir)?)
    }

    /// Instantiates a partition this broker hosts (creating its log if new).
    fn load_partition(
        &self,
        topic: &str,
        index: i32,
        meta: &PartitionMeta,
        config: &TopicConfig,
        hw: Option<i64>,
    ) -> Result<()> {
        if !meta.replicas.contains(&self.config.node_id) {
            return Ok(());
        }
        let name = log_name(topic, index);
        if self.offline_reason(topic, index).is_some() {
            return Ok(());
        }
        let log = self.with_dir(|d| match d.log(&name) {
            Some(l) => {
                lock(&l).set_config(config.log.clone());
                Ok(l)
            }
            None => d.create_log(&name, config.log.clone()),
        })?;
        let producers = {
            let l = lock(&log);
            ProducerStateManager::rebuild(l.dir(), &l)
                .map_err(|e| BrokerError::Storage(e.to_string()))?
        };
        let leo = lock(&log).log_end_offset();
        let mut state = PartitionState {
            config: config.clone(),
            is_leader: meta.leader == self.config.node_id,
            leader_epoch: meta.leader_epoch,
            replicas: meta.replicas.clone(),
            isr: meta.isr.clone(),
            high_watermark: hw.unwrap_or(0).min(leo),
        };
        if state.is_leader && state.isr == [self.config.node_id] {
            // Alone in the ISR: everything in the local log is committed.
            state.maybe_increment_hw(std::iter::once(leo));
        }
        let partition = Arc::new(Partition::new(topic, index, log, state, producers));
        if topic == OFFSETS_TOPIC {
            self.coordinator.load(&partition)?;
        }
        self.replicas.insert(partition);
        Ok(())
    }

    pub fn offline_reason(&self, topic: &str, partition: i32) -> Option<String> {
        self.offline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// Validates and creates a topic (single broker: every replica is this broker).
    pub fn create_topic(&self, t: NewTopic, internal: bool, validate_only: bool) -> Result<()> {
        validate_topic_name(&t.name, internal)?;
        let partitions = if t.partitions == -1 {
            self.config.num_partitions
        } else {
            t.partitions
        };
        if partitions < 1 {
            return Err(BrokerError::new(
                ErrorCode::InvalidPartitions,
                format!("{partitions} partitions"),
            ));
        }
        let rf = if t.replication_factor == -1 {
            self.config.default_replication_factor
        } else {
            t.replication_factor
        };
        let live: Vec<i32> = self
            .image()
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .map(|b| b.node_id)
            .collect();
        if rf < 1 || rf as usize > live.len() {
            return Err(BrokerError::new(
                ErrorCode::InvalidReplicationFactor,
                format!("replication factor {rf} with {} live broker(s)", live.len()),
            ));
        }
        let topic_config = self.config.topic_config(&t.configs)?;
        let mut meta = self.meta();
        if meta.image().topics.contains_key(&t.name) {
            return Err(BrokerError::new(
                ErrorCode::TopicAlreadyExists,
                format!("topic '{}' already exists", t.name),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let mut records = vec![Record::Topic(TopicRecord {
            name: t.name.clone(),
            topic_id: format!("{:016x}", now_ms() ^ (meta.end_offset() << 20)),
            configs: t.configs.clone().into_iter().collect(),
            is_internal: internal,
        })];
        let mut metas = Vec::new();
        for p in 0..partitions {
            let replicas: Vec<i32> = (0..rf as usize)
                .map(|i| live[(p as usize + i) % live.len()])
                .collect();
            let pm = PartitionMeta {
                leader: replicas[0],
                isr: replicas.clone(),
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
            };
            records.push(Record::Partition(PartitionRecord {
                topic: t.name.clone(),
                partition: p,
                replicas: pm.replicas.clone(),
                isr: pm.isr.clone(),
                leader: pm.leader,
                leader_epoch: 0,
                partition_epoch: 0,
            }));
            metas.push(pm);
        }
        meta.append(records)?;
        drop(meta);
        for (i, pm) in metas.iter().enumerate() {
            self.load_partition(&t.name, i as i32, pm, &topic_config, None)?;
        }
        tracing::info!(topic = %t.name, partitions, replication_factor = rf, "created topic");
        Ok(())
    }

    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let mut meta = self.meta();
        let topic = meta.image().topics.get(name).cloned().ok_or_else(|| {
            BrokerError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            )
        })?;
        if topic.is_internal {
            return Err(BrokerError::new(
                ErrorCode::InvalidRequest,
                format!("'{name}' is an internal topic"),
            ));
        }
        meta.append(vec![Record::RemoveTopic(RemoveTopicRecord {
            name: name.to_string(),
        })])?;
        drop(meta);
        for p in self.replicas.remove_topic(name) {
            let log_name = log_name(&p.topic, p.index);
            drop(p);
            self.with_dir(|d| d.delete_log(&log_name))?;
        }
        self.coordinator.remove_topic(name);
        tracing::info!(topic = %name, "deleted topic");
        Ok(())
    }

    /// Sets (and/or resets) topic-level config overrides after validating the result.
    pub fn alter_topic_config(
        &self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
        validate_only: bool,
    ) -> Result<()> {
        let mut meta = self.meta();
        let topic = meta.image().topics.get(name).cloned().ok_or_else(|| {
            BrokerError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            )
        })?;
        let mut merged = topic.configs.clone();
        for k in delete {
            merged.remove(k);
        }
        merged.extend(set.clone());
        let config = self.config.topic_config(&merged)?;
        if validate_only {
            return Ok(());
        }
        let mut records: Vec<Record> = set
            .iter()
            .map(|(k, v)| {
                Record::Config(ConfigRecord {
                    resource_type: ConfigResourceType::ConfigResourceTopic as i32,
                    resource_name: name.to_string(),
                    name: k.clone(),
                    value: v.clone(),
                    deleted: false,
                })
            })
            .collect();
        records.extend(delete.iter().map(|k| {
            Record::Config(ConfigRecord {
                resource_type: ConfigResourceType::ConfigResourceTopic as i32,
                resource_name: name.to_string(),
                name: k.clone(),
                value: String::new(),
                deleted: true,
            })
        }));
        meta.append(records)?;
        drop(meta);
        for i in 0..topic.partitions.len() as i32 {
            if let Some(p) = self.replicas.get(name, i) {
                p.set_config(config.clone());
            }
        }
        Ok(())
    }

    /// InitProducerId: a new id (from blocks recorded in the metadata log, so ids are never
    /// reused after a restart), or an epoch bump for an existing one.
    pub fn init_producer_id(&self, producer_id: i64, epoch: i32) -> Result<(i64, i16)> {
        if producer_id >= 0 && (0..i16::MAX as i32 - 1).contains(&epoch) {
            return Ok((producer_id, epoch as i16 + 1));
        }
        let mut ids = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.0 >= ids.1 {
            let mut meta = self.meta();
            let start = meta.image().next_producer_id;
            meta.append(vec![Record::ProducerIds(ProducerIdsRecord {
                node_id: self.config.node_id,
                next_producer_id: start + PRODUCER_ID_BLOCK,
            })])?;
            *ids = (start, start + PRODUCER_ID_BLOCK);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok((id, 0))
    }

    /// The coordinator partition of a group, creating `__consumer_offsets` on first use.
    pub fn coordinator_partition(&self, group_id: &str) -> Result<Arc<Partition>> {
        if group_id.is_empty() {
            return Err(BrokerError::new(
                ErrorCode::InvalidGroupId,
                "group.id must not be empty",
            ));
        }
        let n = self.config.offsets_topic_partitions;
        if !self.image().topics.contains_key(OFFSETS_TOPIC) {
            let t = NewTopic {
                name: OFFSETS_TOPIC.to_string(),
                partitions: n,
                replication_factor: self.config.offsets_topic_replication_factor,
                configs: BTreeMap::new(),
            };
            match self.create_topic(t, true, false) {
                Ok(()) => {}
                Err(e) if e.code() == ErrorCode::TopicAlreadyExists => {}
                Err(e) => {
                    return Err(BrokerError::new(
                        ErrorCode::CoordinatorNotAvailable,
                        e.to_string(),
                    ));
                }
            }
        }
        let index = partition_for(group_id, n);
        self.replicas
            .get(OFFSETS_TOPIC, index)
            .filter(|p| p.state().is_leader)
            .ok_or_else(|| {
                BrokerError::new(
                    ErrorCode::NotCoordinator,
                    format!("not the coordinator of '{group_id}'"),
                )
            })
    }

    /// Stores committed offsets durably (acks=all on the coordinator partition).
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        offsets: Vec<(String, i32, Committed)>,
    ) -> Result<()> {
        for (t, p, c) in &offsets {
            if self.image().partition(t, *p).is_none() {
                return Err(BrokerError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!("{t}-{p} does not exist"),
                ));
            }
            if c.offset < 0 {
                return Err(BrokerError::new(
                    ErrorCode::InvalidRequest,
                    format!("negative offset {} for {t}-{p}", c.offset),
                ));
            }
        }
        let part = self.coordinator_partition(group_id)?;
        let batch = GroupCoordinator::commit_batch(group_id, &offsets, now_ms())?;
        let req = brook_proto::v1::ProduceRequest {
            acks: -1,
            timeout_ms: 5000,
            topics: vec![brook_proto::v1::TopicProduceData {
                name: OFFSETS_TOPIC.to_string(),
                partitions: vec![brook_proto::v1::PartitionProduceData {
                    partition: part.index,
                    records: batch,
                }],
            }],
        };
        let resp = self.replicas.produce(req).await;
        let code = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(ErrorCode::UnknownServerError, |p| {
                ErrorCode::from_wire(p.error_code)
            });
        if code != ErrorCode::None {
            return Err(BrokerError::new(code, "offset commit was not stored"));
        }
        self.coordinator.committed(group_id, offsets);
        Ok(())
    }

    /// Periodic housekeeping: retention, HW checkpoint, producer-state snapshots and expiry.
    pub fn housekeeping(&self, retention: bool) {
        let now = now_ms();
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
        let mut hws = Vec::new();
        for p in self.replicas.all() {
            p.snapshot_producers(true)?;
            hws.push((log_name(&p.topic, p.index), p.high_watermark()));
        }
        hws.sort();
        self.with_dir(|d| d.checkpoint_high_watermarks(&hws))?;
        for p in self.replicas.all() {
            self.replicas.remove_topic(&p.topic);
        }
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

/// `<topic>-<partition>`, the partition's directory name.
pub fn log_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

fn split_name(name: &str) -> Option<(String, i32)> {
    let (t, p) = name.rsplit_once('-')?;
    Some((t.to_string(), p.parse().ok()?))
}

/// Kafka's topic name rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`; names
/// starting with `__` are reserved for internal topics.
pub fn validate_topic_name(name: &str, internal: bool) -> Result<()> {
    let bad = |why: &str| {
        Err(BrokerError::new(
            ErrorCode::InvalidTopicException,
            format!("topic name '{name}': {why}"),
        ))
    };
    if name.is_empty() || name.len() > 249 {
        return bad("must be 1 to 249 characters");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("only a-z, A-Z, 0-9, '.', '_' and '-' are allowed");
    }
    if name.starts_with("__") && !internal {
        return bad("names starting with '__' are reserved for internal topics");
    }
    Ok(())
}
