//! The controller's logic as a deterministic state machine, with no I/O (SPEC §5).
//!
//! State = the [`MetadataImage`] (the replay of the metadata log) + volatile broker sessions
//! (last heartbeat, controlled shutdown) + static [`ControllerConfig`]. Time comes in as a
//! `now_ms` argument; there is no clock, no randomness and no hash-map iteration order in here.
//!
//! Protocol with the caller (the I/O shell, `host.rs`):
//! 1. call a method; it validates the request against the image and returns the records to
//!    append plus the response. Methods never change the image.
//! 2. append the records to the metadata log (they get offsets `image().next_offset ..`, see
//!    [`Controller::stamp`]), then [`Controller::replay`] each one, then send the response.
//!    Steps 1–2 must be serialized (one lock): every method assumes it sees the replay of the
//!    whole log, e.g. a broker epoch *is* the offset of its registration record.
//! 3. If the append fails, drop the response: the image is unchanged, so nothing happened.
//!    (Volatile session updates made in step 1 are harmless on their own.)
//! 4. After a (re)start: replay the whole log, call [`Controller::start`], then `tick` regularly.
//!
//! Because the image is only ever changed by `replay`, a controller rebuilt from the log is
//! identical to the one that wrote it, and the same records go through the Raft quorum
//! (`quorum/`) unchanged.
//!
//! Liveness: a broker is *live* (may lead, may be in an ISR) when the image says it is unfenced
//! and it is not in controlled shutdown. Brokers learn they are fenced from the records.

pub mod assignment;
pub mod election;
pub mod host;
pub mod service;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use brook_proto::ErrorCode;
use brook_proto::v1::metadata_record::Record;
use brook_proto::v1::{
    AlterPartitionRequest, AlterPartitionResponse, AlterPartitionResult,
    AlterPartitionTopicResponse, BrokerHeartbeatRequest, BrokerHeartbeatResponse, ConfigRecord,
    ConfigResourceType, ElectLeadersPartitionResult, ElectLeadersResponse, ElectLeadersTopicResult,
    ElectionType, FenceBrokerRecord, MetadataRecord, PartitionChangeRecord, PartitionRecord,
    ProducerIdsRecord, RegisterBrokerRecord, RegisterBrokerRequest, RemoveTopicRecord,
    TopicPartitions, TopicRecord, UnfenceBrokerRecord,
};

use crate::config::BrokerConfig;
use crate::metadata::{MetadataImage, NO_LEADER, PartitionMeta, TopicMeta};
use crate::topic::{NewTopic, validate_topic_name};

use self::election::Target;

/// Topic / broker config key that allows electing an out-of-sync replica (E2).
pub const UNCLEAN_KEY: &str = "unclean.leader.election.enable";

/// A topic may not have more partitions than this: each one is a record and a log directory on
/// its replicas, and an unchecked `i32` from a request would let one CreateTopics allocate
/// billions of records.
pub const MAX_PARTITIONS: i32 = 100_000;

/// An admin request's failure: the code for the wire and a message for the human.
pub type AdminError = (ErrorCode, String);

/// The static settings the controller decides with (broker keys of the voter it runs on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms`: a broker unheard of for longer than this is fenced.
    pub session_timeout_ms: i64,
    /// `unclean.leader.election.enable` default, below dynamic broker and topic overrides.
    pub unclean_leader_election: bool,
    /// `default.replication.factor`, used for CreateTopics with -1.
    pub default_replication_factor: i32,
    /// `num.partitions`, used for CreateTopics with -1.
    pub num_partitions: i32,
    /// Producer ids handed to a broker per AllocateProducerIds.
    pub producer_id_block_size: i32,
}

impl Default for ControllerConfig {
    /// Kafka's defaults (reference §11).
    fn default() -> Self {
        ControllerConfig {
            session_timeout_ms: 9000,
            unclean_leader_election: false,
            default_replication_factor: 1,
            num_partitions: 1,
            producer_id_block_size: 1000,
        }
    }
}

impl ControllerConfig {
    /// The controller settings of a broker config; the producer-id block size is Kafka's (1000).
    pub fn from_broker_config(c: &BrokerConfig) -> ControllerConfig {
        ControllerConfig {
            session_timeout_ms: i64::try_from(c.broker_session_timeout_ms).unwrap_or(i64::MAX),
            unclean_leader_election: c.get(UNCLEAN_KEY) == Some("true"),
            default_replication_factor: c.default_replication_factor,
            num_partitions: c.num_partitions,
            ..ControllerConfig::default()
        }
    }
}

/// Volatile per-broker bookkeeping. Not in the log: after a restart every broker gets a fresh
/// session (`start`), which is exactly the grace SPEC §5 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// When (ms, the controller's clock) the broker last heartbeated, or when the session was
    /// created; fencing compares it with `broker.session.timeout.ms`.
    pub last_heartbeat_ms: i64,
    /// The broker asked to shut down: it may not lead or join an ISR, and is not unfenced again
    /// until it re-registers.
    pub shutting_down: bool,
    /// Offset of the last record written for its controlled shutdown; the broker may exit once
    /// it has applied that far.
    pub shutdown_offset: Option<i64>,
}

impl Session {
    fn new(now_ms: i64) -> Session {
        Session {
            last_heartbeat_ms: now_ms,
            shutting_down: false,
            shutdown_offset: None,
        }
    }
}

/// The controller state machine: the metadata image, the volatile broker sessions and the
/// static config. Its methods return the records to append (see the module docs for the
/// protocol); only [`Controller::replay`] changes the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    config: ControllerConfig,
    image: MetadataImage,
    sessions: BTreeMap<i32, Session>,
}

impl Controller {
    /// A controller over an empty image (an empty metadata log).
    pub fn new(config: ControllerConfig) -> Controller {
        Controller {
            config,
            image: MetadataImage::default(),
            sessions: BTreeMap::new(),
        }
    }

    /// A controller whose image is the replay of `records` (call `start` before ticking).
    pub fn from_records<'a>(
        config: ControllerConfig,
        records: impl IntoIterator<Item = &'a MetadataRecord>,
    ) -> Controller {
        let mut c = Controller::new(config);
        for r in records {
            c.replay(r);
        }
        c
    }

    /// The static config it decides with.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The replay of every record applied so far.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The volatile session of a broker, if it has one (registered or heartbeated since this
    /// controller started, or given one by `start` / `tick`).
    pub fn session(&self, node_id: i32) -> Option<&Session> {
        self.sessions.get(&node_id)
    }

    /// Applies one record of the metadata log. The only way the image changes.
    pub fn replay(&mut self, rec: &MetadataRecord) {
        self.image.apply(rec);
    }

    /// Replaces the image with `applied`'s and keeps this controller's sessions: a leader whose
    /// speculative decisions did not all apply starts again from what did, without granting
    /// every broker a fresh session (that grace is for a new controller only).
    pub fn rebase_on(&mut self, applied: &Controller) {
        self.image = applied.image.clone();
    }

    /// Gives `records` the offsets they will get when appended now.
    pub fn stamp(&self, records: Vec<Record>) -> Vec<MetadataRecord> {
        records
            .into_iter()
            .zip(self.image.next_offset..)
            .map(|(record, offset)| MetadataRecord {
                offset,
                record: Some(record),
            })
            .collect()
    }

    /// Call once after replaying the log on (re)start: every registered broker gets a full
    /// session timeout from `now_ms` to heartbeat before it can be fenced, since the controller
    /// cannot know when it last heard from anyone (SPEC §5).
    pub fn start(&mut self, now_ms: i64) {
        self.sessions = self
            .image
            .brokers
            .keys()
            .map(|&id| (id, Session::new(now_ms)))
            .collect();
    }

    /// Brokers that may lead and be in an ISR: unfenced and not shutting down.
    pub fn live_brokers(&self) -> BTreeSet<i32> {
        self.image
            .brokers
            .values()
            .filter(|b| !b.fenced && !self.shutting_down(b.node_id))
            .map(|b| b.node_id)
            .collect()
    }

    fn shutting_down(&self, node_id: i32) -> bool {
        self.sessions.get(&node_id).is_some_and(|s| s.shutting_down)
    }

    /// Whether `topic` may elect an out-of-sync leader: the topic's override, else the dynamic
    /// cluster-wide override, else the static default. A value that is not `true`/`false` (the
    /// caller validates configs, so only a bug writes one) is skipped, never read as "enabled".
    pub fn unclean_enabled(&self, topic: &TopicMeta) -> bool {
        let parse = |v: Option<&String>| match v.map(|s| s.trim().to_ascii_lowercase()) {
            Some(s) if s == "true" => Some(true),
            Some(s) if s == "false" => Some(false),
            _ => None,
        };
        parse(topic.configs.get(UNCLEAN_KEY))
            .or_else(|| parse(self.image.broker_configs.get(UNCLEAN_KEY)))
            .unwrap_or(self.config.unclean_leader_election)
    }

    /// Partition changes that bring every partition selected by `which` in line with `live`
    /// (see `election::reconcile`). Topics in name order, partitions in index order.
    fn reconcile(
        &self,
        live: &BTreeSet<i32>,
        which: impl Fn(&PartitionMeta) -> bool,
    ) -> Vec<Record> {
        let mut out = Vec::new();
        for topic in self.image.topics.values() {
            let unclean = self.unclean_enabled(topic);
            for (index, p) in indexed(&topic.partitions) {
                if !which(p) {
                    continue;
                }
                if let Some(target) = election::reconcile(p, |b| live.contains(&b), unclean) {
                    out.push(Record::PartitionChange(change(
                        &topic.name,
                        index,
                        p,
                        &target,
                    )));
                }
            }
        }
        out
    }

    /// RegisterBroker. The new broker epoch is the offset of the returned RegisterBrokerRecord
    /// (the first record), so epochs are unique and increase with every registration. The broker
    /// starts fenced until a heartbeat shows it has caught up with the metadata log.
    ///
    /// A re-registration means a new process: its log may have lost an unflushed tail, so (as
    /// KRaft does since KIP-903/966) it is moved out of leaderships and ISRs right away, like a
    /// fenced broker, instead of waiting for its old session to expire.
    pub fn register_broker(
        &mut self,
        req: &RegisterBrokerRequest,
        now_ms: i64,
    ) -> Result<(Vec<Record>, i64), ErrorCode> {
        if req.node_id < 0 || !(1..=65535).contains(&req.port) || req.host.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let epoch = self.image.next_offset;
        let mut records = vec![Record::RegisterBroker(RegisterBrokerRecord {
            node_id: req.node_id,
            broker_epoch: epoch,
            incarnation_id: req.incarnation_id.clone(),
            host: req.host.clone(),
            port: req.port,
            rack: req.rack.clone(),
        })];
        if self.image.brokers.contains_key(&req.node_id) {
            let mut live = self.live_brokers();
            live.remove(&req.node_id);
            records.extend(self.reconcile(&live, |p| involves(p, req.node_id)));
        }
        self.sessions.insert(req.node_id, Session::new(now_ms));
        Ok((records, epoch))
    }

    /// BrokerHeartbeat. `req.metadata_offset` is the offset of the last metadata record the
    /// broker has applied (KRaft's `currentMetadataOffset`, -1 for none).
    ///
    /// * unknown broker or old epoch → STALE_BROKER_EPOCH (register again); nothing recorded;
    /// * `want_shutdown` → controlled shutdown: leaderships move to other live ISR members, it
    ///   leaves every ISR it is not the last member of, then it is fenced; `should_shutdown`
    ///   once nothing is left to move and the broker has applied those records;
    /// * `want_fence` on an unfenced broker → fenced the same way as on session expiry;
    /// * a fenced broker that has applied its own registration record is unfenced, and
    ///   leaderless partitions it can lead get a leader (clean, or unclean where enabled).
    pub fn heartbeat(
        &mut self,
        req: &BrokerHeartbeatRequest,
        now_ms: i64,
    ) -> (Vec<Record>, BrokerHeartbeatResponse) {
        let node = req.node_id;
        let end = self.image.next_offset;
        let Some(broker) = self
            .image
            .brokers
            .get(&node)
            .filter(|b| b.broker_epoch == req.broker_epoch)
        else {
            let resp = BrokerHeartbeatResponse {
                error_code: ErrorCode::StaleBrokerEpoch as i32,
                is_fenced: true,
                should_shutdown: false,
                metadata_end_offset: end,
                active_controller_id: -1,
            };
            return (Vec::new(), resp);
        };
        let (fenced, registered_at) = (broker.fenced, broker.broker_epoch);
        let session = self
            .sessions
            .entry(node)
            .or_insert_with(|| Session::new(now_ms));
        // max: a caller's clock going backwards must not shorten anyone's session.
        session.last_heartbeat_ms = session.last_heartbeat_ms.max(now_ms);
        if req.want_shutdown {
            session.shutting_down = true;
        }
        let shutting_down = session.shutting_down;

        let mut records = Vec::new();
        let mut should_shutdown = false;
        let is_fenced;
        if shutting_down {
            // live_brokers() already excludes it now that the flag is set.
            records = self.reconcile(&self.live_brokers(), |p| involves(p, node));
            if !fenced {
                records.push(fence(node, registered_at));
            }
            let last_written = end + records.len() as i64 - 1;
            let session = self
                .sessions
                .entry(node)
                .or_insert_with(|| Session::new(now_ms));
            if !records.is_empty() || session.shutdown_offset.is_none() {
                session.shutdown_offset = Some(last_written);
            }
            should_shutdown = records.is_empty()
                && session
                    .shutdown_offset
                    .is_some_and(|o| req.metadata_offset >= o);
            is_fenced = true;
        } else if req.want_fence {
            if !fenced {
                let mut live = self.live_brokers();
                live.remove(&node);
                records = self.reconcile(&live, |p| involves(p, node));
                records.push(fence(node, registered_at));
            }
            is_fenced = true;
        } else if fenced && req.metadata_offset >= registered_at {
            records.push(Record::UnfenceBroker(UnfenceBrokerRecord {
                node_id: node,
                broker_epoch: registered_at,
            }));
            let mut live = self.live_brokers();
            live.insert(node);
            records.extend(self.reconcile(&live, |p| p.replicas.contains(&node)));
            is_fenced = false;
        } else {
            is_fenced = fenced;
        }
        let resp = BrokerHeartbeatResponse {
            error_code: ErrorCode::None as i32,
            is_fenced,
            should_shutdown,
            metadata_end_offset: end + records.len() as i64,
            active_controller_id: -1,
        };
        (records, resp)
    }

    /// Periodic work: fences unfenced brokers not heard from for more than the session timeout
    /// (strictly more: at exactly the timeout the broker is still in time), and reconciles every
    /// partition with the live set — dropping fenced brokers from ISRs (never emptying one),
    /// electing leaders for leaderless partitions, and running unclean elections where they have
    /// been enabled since (Kafka checks those periodically too).
    pub fn tick(&mut self, now_ms: i64) -> Vec<Record> {
        let timeout = self.config.session_timeout_ms;
        let mut expired = Vec::new();
        for b in self.image.brokers.values().filter(|b| !b.fenced) {
            // A broker without a session (not started, or registered by a record this controller
            // only replayed) gets one now: fencing needs evidence of silence.
            let s = self
                .sessions
                .entry(b.node_id)
                .or_insert_with(|| Session::new(now_ms));
            if now_ms.saturating_sub(s.last_heartbeat_ms) > timeout {
                expired.push((b.node_id, b.broker_epoch));
            }
        }
        let mut live = self.live_brokers();
        for (id, _) in &expired {
            live.remove(id); // the event is logged once the fence commits (events.rs)
        }
        // Like KRaft: move leaderships and ISRs first, then fence.
        let mut records = self.reconcile(&live, |_| true);
        records.extend(expired.iter().map(|&(id, epoch)| fence(id, epoch)));
        records
    }

    /// CreateTopics for one topic (config values are validated by the caller). Replicas are
    /// assigned rack-aware over the live brokers, seeded by the topic name; leader = first
    /// replica, ISR = all replicas, epochs 0.
    pub fn create_topic(&self, t: &NewTopic, internal: bool) -> Result<Vec<Record>, AdminError> {
        validate_topic_name(&t.name, internal).map_err(|e| (e.code(), e.message()))?;
        if self.image.topics.contains_key(&t.name) {
            return Err((
                ErrorCode::TopicAlreadyExists,
                format!("topic '{}' already exists", t.name),
            ));
        }
        let assigned = if t.assignments.is_empty() {
            self.automatic_assignment(t)?
        } else {
            self.manual_assignment(t)?
        };
        let seed = assignment::stable_hash(t.name.as_bytes());
        let mut records = vec![Record::Topic(TopicRecord {
            name: t.name.clone(),
            // Unique across delete + re-create (the offset differs) and reproducible.
            topic_id: format!("{seed:016x}{:016x}", self.image.next_offset),
            configs: t.configs.clone().into_iter().collect(),
            is_internal: internal,
        })];
        for (index, replicas) in (0..).zip(assigned) {
            records.push(Record::Partition(PartitionRecord {
                topic: t.name.clone(),
                partition: index,
                isr: replicas.clone(),
                leader: replicas.first().copied().unwrap_or(NO_LEADER),
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
            }));
        }
        Ok(records)
    }

    /// DeleteTopics for one topic: its `RemoveTopicRecord`. `UNKNOWN_TOPIC_OR_PARTITION` if it
    /// does not exist, `INVALID_REQUEST` for an internal topic.
    pub fn delete_topic(&self, name: &str) -> Result<Vec<Record>, AdminError> {
        let topic = self.topic(name)?;
        if topic.is_internal {
            return Err((
                ErrorCode::InvalidRequest,
                format!("'{name}' is an internal topic"),
            ));
        }
        Ok(vec![Record::RemoveTopic(RemoveTopicRecord {
            name: name.to_string(),
        })])
    }

    /// AlterConfigs for one resource: `set` keys (in key order), then `delete` keys. Values are
    /// the caller's to validate. Broker resources are cluster-wide dynamic defaults.
    pub fn alter_configs(
        &self,
        resource_type: ConfigResourceType,
        resource_name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<Vec<Record>, AdminError> {
        match resource_type {
            ConfigResourceType::ConfigResourceTopic => {
                self.topic(resource_name)?;
            }
            ConfigResourceType::ConfigResourceBroker => {}
            ConfigResourceType::ConfigResourceUnknown => {
                return Err((ErrorCode::InvalidRequest, "unknown resource type".into()));
            }
        }
        if let Some(k) = delete.iter().find(|k| set.contains_key(*k)) {
            return Err((
                ErrorCode::InvalidRequest,
                format!("'{k}' is both set and deleted"),
            ));
        }
        let record = |name: &str, value: &str, deleted: bool| {
            Record::Config(ConfigRecord {
                resource_type: resource_type as i32,
                resource_name: resource_name.to_string(),
                name: name.to_string(),
                value: value.to_string(),
                deleted,
            })
        };
        let mut records: Vec<Record> = set.iter().map(|(k, v)| record(k, v, false)).collect();
        let deletes: BTreeSet<&String> = delete.iter().collect();
        records.extend(deletes.into_iter().map(|k| record(k, "", true)));
        Ok(records)
    }

    /// AlterPartition (F4): an ISR change proposed by a partition's leader. Checked in Kafka's
    /// order, so a deposed leader learns it is fenced before anything else:
    /// leader epoch (FENCED_LEADER_EPOCH) → leadership (NOT_LEADER_OR_FOLLOWER) → partition epoch
    /// (INVALID_UPDATE_VERSION) → new ISR contains the leader and only assigned, live replicas
    /// (INELIGIBLE_REPLICA). A proposal equal to the current ISR writes nothing. A partition
    /// named twice in one request is INVALID_REQUEST the second time (both would be computed
    /// from the same partition epoch).
    pub fn alter_partition(
        &self,
        req: &AlterPartitionRequest,
    ) -> (Vec<Record>, AlterPartitionResponse) {
        let mut resp = AlterPartitionResponse::default();
        if !self.broker_epoch_current(req.node_id, req.broker_epoch) {
            resp.error_code = ErrorCode::StaleBrokerEpoch as i32;
            return (Vec::new(), resp);
        }
        let live = self.live_brokers();
        let mut records = Vec::new();
        let mut seen = BTreeSet::new();
        for t in &req.topics {
            let mut topic_resp = AlterPartitionTopicResponse {
                name: t.name.clone(),
                partitions: Vec::new(),
            };
            for d in &t.partitions {
                let p = self.image.partition(&t.name, d.partition);
                let state = |code: ErrorCode, p: Option<&PartitionMeta>| AlterPartitionResult {
                    partition: d.partition,
                    error_code: code as i32,
                    leader_id: p.map_or(NO_LEADER, |p| p.leader),
                    leader_epoch: p.map_or(-1, |p| p.leader_epoch),
                    isr: p.map(|p| p.isr.clone()).unwrap_or_default(),
                    partition_epoch: p.map_or(-1, |p| p.partition_epoch),
                };
                let Some(p) = p else {
                    topic_resp
                        .partitions
                        .push(state(ErrorCode::UnknownTopicOrPartition, None));
                    continue;
                };
                let code = if !seen.insert((t.name.as_str(), d.partition)) {
                    ErrorCode::InvalidRequest
                } else if d.leader_epoch != p.leader_epoch {
                    ErrorCode::FencedLeaderEpoch
                } else if p.leader != req.node_id {
                    ErrorCode::NotLeaderOrFollower
                } else if d.partition_epoch != p.partition_epoch {
                    ErrorCode::InvalidUpdateVersion
                } else if has_duplicates(&d.new_isr) {
                    ErrorCode::InvalidRequest
                } else if !d.new_isr.contains(&p.leader)
                    || d.new_isr
                        .iter()
                        .any(|r| !p.replicas.contains(r) || !live.contains(r))
                {
                    ErrorCode::IneligibleReplica
                } else {
                    ErrorCode::None
                };
                if code != ErrorCode::None {
                    topic_resp.partitions.push(state(code, Some(p)));
                    continue;
                }
                if d.new_isr == p.isr {
                    topic_resp.partitions.push(state(ErrorCode::None, Some(p)));
                    continue;
                }
                let target = Target {
                    isr: d.new_isr.clone(),
                    leader: p.leader,
                    unclean: false,
                };
                let rec = change(&t.name, d.partition, p, &target);
                topic_resp.partitions.push(AlterPartitionResult {
                    partition: d.partition,
                    error_code: ErrorCode::None as i32,
                    leader_id: rec.leader,
                    leader_epoch: rec.leader_epoch,
                    isr: rec.isr.clone(),
                    partition_epoch: rec.partition_epoch,
                });
                records.push(Record::PartitionChange(rec));
            }
            resp.topics.push(topic_resp);
        }
        (records, resp)
    }

    /// ElectLeaders. `topics` empty = every partition; a topic with no partitions listed = all
    /// of its partitions. PREFERRED moves leadership to `replicas[0]` when it is live and in the
    /// ISR; UNCLEAN gives a leaderless partition a leader, from outside the ISR if need be.
    pub fn elect_leaders(
        &self,
        election_type: ElectionType,
        topics: &[TopicPartitions],
    ) -> (Vec<Record>, ElectLeadersResponse) {
        let live = self.live_brokers();
        let is_live = |b: i32| live.contains(&b);
        // (topic, partitions) in answer order, duplicates removed.
        let mut wanted: Vec<(String, BTreeSet<i32>)> = Vec::new();
        if topics.is_empty() {
            for t in self.image.topics.values() {
                wanted.push((
                    t.name.clone(),
                    indexed(&t.partitions).map(|x| x.0).collect(),
                ));
            }
        } else {
            for t in topics {
                let parts: BTreeSet<i32> = if t.partitions.is_empty() {
                    self.image
                        .topics
                        .get(&t.name)
                        .map(|tm| indexed(&tm.partitions).map(|x| x.0).collect())
                        .unwrap_or_default()
                } else {
                    t.partitions.iter().copied().collect()
                };
                match wanted.iter_mut().find(|w| w.0 == t.name) {
                    Some(w) => w.1.extend(parts),
                    None => wanted.push((t.name.clone(), parts)),
                }
            }
        }
        let mut records = Vec::new();
        let mut resp = ElectLeadersResponse::default();
        for (name, parts) in wanted {
            let mut topic_resp = ElectLeadersTopicResult {
                name: name.clone(),
                partitions: Vec::new(),
            };
            if parts.is_empty() && !self.image.topics.contains_key(&name) {
                topic_resp.partitions.push(ElectLeadersPartitionResult {
                    partition: -1,
                    error_code: ErrorCode::UnknownTopicOrPartition as i32,
                    error_message: format!("topic '{name}' does not exist"),
                });
            }
            for index in parts {
                let result = match self.image.partition(&name, index) {
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                    Some(p) => match election_type {
                        ElectionType::ElectionPreferred => election::preferred(p, is_live),
                        ElectionType::ElectionUnclean => election::unclean(p, is_live),
                    }
                    .map(|target| change(&name, index, p, &target)),
                };
                let (code, message) = match result {
                    Ok(rec) => {
                        records.push(Record::PartitionChange(rec));
                        (ErrorCode::None, String::new())
                    }
                    Err(code) => (code, format!("{name}-{index}: {code}")),
                };
                topic_resp.partitions.push(ElectLeadersPartitionResult {
                    partition: index,
                    error_code: code as i32,
                    error_message: message,
                });
            }
            resp.topics.push(topic_resp);
        }
        (records, resp)
    }

    /// AllocateProducerIds: the next block of `producer_id_block_size` ids. Blocks come from
    /// `image.next_producer_id`, which only the returned record advances, so blocks never
    /// overlap, across restarts too.
    pub fn allocate_producer_ids(
        &self,
        node_id: i32,
        broker_epoch: i64,
    ) -> Result<(Vec<Record>, i64, i32), ErrorCode> {
        if !self.broker_epoch_current(node_id, broker_epoch) {
            return Err(ErrorCode::StaleBrokerEpoch);
        }
        let len = self.config.producer_id_block_size.max(1);
        let start = self.image.next_producer_id.max(0);
        let Some(next) = start.checked_add(i64::from(len)) else {
            return Err(ErrorCode::UnknownServerError); // the id space is exhausted
        };
        let rec = Record::ProducerIds(ProducerIdsRecord {
            node_id,
            next_producer_id: next,
        });
        Ok((vec![rec], start, len))
    }

    fn broker_epoch_current(&self, node_id: i32, broker_epoch: i64) -> bool {
        self.image
            .brokers
            .get(&node_id)
            .is_some_and(|b| b.broker_epoch == broker_epoch)
    }

    fn topic(&self, name: &str) -> Result<&TopicMeta, AdminError> {
        self.image.topics.get(name).ok_or_else(|| {
            (
                ErrorCode::UnknownTopicOrPartition,
                format!("topic '{name}' does not exist"),
            )
        })
    }
}

/// Partitions with their wire index. A topic never has more than `MAX_PARTITIONS`, so the
/// conversion cannot fail for records this controller wrote; anything else is skipped.
fn indexed(partitions: &[PartitionMeta]) -> impl Iterator<Item = (i32, &PartitionMeta)> {
    partitions
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i32::try_from(i).ok()?, p)))
}

/// Whether `node` leads `p` or is in its ISR (what fencing it can change).
fn involves(p: &PartitionMeta, node: i32) -> bool {
    p.leader == node || p.isr.contains(&node)
}

fn fence(node_id: i32, broker_epoch: i64) -> Record {
    Record::FenceBroker(FenceBrokerRecord {
        node_id,
        broker_epoch,
    })
}

fn change(topic: &str, index: i32, p: &PartitionMeta, target: &Target) -> PartitionChangeRecord {
    let rec = election::change_record(topic, index, p, target);
    if rec.unclean {
        tracing::warn!(
            topic,
            partition = index,
            leader = rec.leader,
            "unclean leader election: committed records the new leader lacks are lost"
        );
    } else if rec.leader == NO_LEADER && p.leader != NO_LEADER {
        tracing::warn!(topic, partition = index, isr = ?rec.isr,
            "partition offline: no live in-sync replica");
    }
    rec
}

fn has_duplicates(ids: &[i32]) -> bool {
    ids.iter().collect::<BTreeSet<_>>().len() != ids.len()
}
