//! The controller's I/O shell on a voter: the [`Controller`] state machine replicated by the
//! metadata quorum (`quorum/`), and the admin operations brokers forward (the gRPC `Controller`
//! service brokers talk to is in `service.rs`).
//!
//! Only the *active* controller (the Raft leader, while a majority acknowledges it) decides.
//! Every decision follows the protocol in `controller/mod.rs`, with Raft in the middle:
//! decide → propose one entry → a majority has fsynced it → every voter applies it (records get
//! their offsets) → answer. Decisions are ordered by one async lock and made on the applied
//! image plus this leader's own proposals still in flight, so they pipeline (see `decide`).
//!
//! On becoming active, a controller first waits until it has applied everything committed
//! before its term, then gives every registered broker one full session timeout of grace
//! (`Controller::start`): it cannot know when the previous controller last heard from them.
//! Any other voter answers NOT_CONTROLLER naming the active one, so brokers redirect at once
//! (`service.rs` is the gRPC face).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brook_log::io::FileSystem;
use brook_log::{Clock, SharedLog};
use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use brook_proto::v1::metadata_record::Record;
use brook_proto::v1::*;
use openraft::{ServerState, SnapshotPolicy};
use prost::Message;
use tokio::sync::watch;

use super::{AdminError, Controller, ControllerConfig};
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::group_coordinator::offsets::OFFSETS_TOPIC;
use crate::quorum::check_quorum::{Action, CheckQuorum, majority_heard_at};
use crate::quorum::log_store::LogStore;
use crate::quorum::network::{Contacts, Network};
use crate::quorum::state_machine::{MetaState, StateMachine};
use crate::quorum::{MetadataCommand, NodeId, Raft, Voters};
use crate::topic::NewTopic;

/// `active_controller_id` when none is known.
const NO_CONTROLLER: i32 = -1;

/// This voter's controller: its Raft node in the metadata quorum, the applied
/// [`Controller`] state machine, and (while active) the speculative controller decisions are
/// made on. Every admin and broker-lifecycle request that changes metadata goes through it.
///
/// The admin methods below fail with `NOT_CONTROLLER` (naming the active voter when known) on
/// a voter that is not active or lost leadership before the decision committed,
/// `REQUEST_TIMED_OUT` when no majority committed it within
/// `controller.quorum.request.timeout.ms`, `KAFKA_STORAGE_ERROR` when the Raft node refused the
/// write, and otherwise with the controller's own validation errors.
pub struct ControllerHost {
    me: NodeId,
    raft: Raft,
    voters: Voters,
    /// The applied metadata (image + sessions), shared with the state machine.
    state: Arc<Mutex<MetaState>>,
    /// The applied metadata log end, for long-polling FetchMetadata.
    end: watch::Receiver<i64>,
    /// While this voter is the active controller: the state it decides on (see `decide`). The
    /// lock orders decisions and their proposals.
    leader: tokio::sync::Mutex<Option<Speculation>>,
    contacts: Contacts,
    /// The broker's clock.
    clock: Arc<dyn Clock>,
    /// Snapshots installed from a leader (see `snapshots_installed`).
    snapshots_installed: Arc<std::sync::atomic::AtomicU64>,
    /// Unclean leader elections this voter decided and committed as the active controller.
    unclean_elections: std::sync::atomic::AtomicU64,
    config: BrokerConfig,
    request_timeout: Duration,
    /// A leader that has not heard from a majority for this long stops acting as controller.
    lease: Duration,
}

impl ControllerHost {
    /// Opens this voter's share of the quorum (log, snapshot) and starts its Raft node. A pristine
    /// quorum is bootstrapped with the configured voters: the lowest id at once (so a cluster
    /// whose voters start together has a controller within milliseconds), the others only if
    /// nobody reached them within a few election timeouts. A voter whose metadata log records a
    /// different voter set than its config refuses to start.
    /// `clock` is the broker's (`BrokerEnv::clock`): sessions, leases and decisions read it.
    pub async fn start(
        config: &BrokerConfig,
        voters: Voters,
        log: SharedLog,
        fs: Arc<dyn FileSystem>,
        channels: Channels,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<ControllerHost>, BrokerError> {
        let me = u64::try_from(config.node_id).unwrap_or_default();
        let dir = config.log_dir.clone();
        let store = LogStore::open(log, fs.clone(), &dir).map_err(storage)?;
        let sm = StateMachine::open(ControllerConfig::from_broker_config(config), fs, &dir)
            .map_err(storage)?;
        let state = sm.shared();
        let end = sm.end();
        let snapshots_installed = sm.installed();
        let contacts = Contacts::default();
        let network = Network::new(me, &voters, channels, contacts.clone(), clock.clone());
        let election = config.quorum_election_timeout_ms;
        let raft_config = openraft::Config {
            cluster_name: "brook".into(),
            // openraft waits its leader lease (= election_timeout_max) *plus* a random
            // election timeout after the last heartbeat before it campaigns. [t/2, t] makes that
            // [1.5t, 2t] — Kafka's [t, 2t] shifted by half a timeout, and always after this
            // voter's own lease (t, `is_active`) has run out on a cut-off leader.
            election_timeout_min: (election / 2).max(2),
            election_timeout_max: election,
            // openraft also uses this as the deadline of a heartbeat RPC: a third of the
            // election timeout leaves room for a loaded machine (and stays below the minimum
            // election timeout, t/2).
            heartbeat_interval: (election / 3).max(1),
            install_snapshot_timeout: config.quorum_request_timeout_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.metadata_snapshot_entries),
            max_in_snapshot_log_to_keep: config.metadata_snapshot_entries.min(100),
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| BrokerError::new(ErrorCode::InvalidConfig, e.to_string()))?;
        let raft = Raft::new(me, Arc::new(raft_config), network, store, sm)
            .await
            .map_err(|e| BrokerError::Storage(format!("start the metadata quorum: {e}")))?;
        let host = Arc::new(ControllerHost {
            me,
            raft,
            voters,
            state,
            end,
            leader: tokio::sync::Mutex::new(None),
            contacts,
            clock,
            snapshots_installed,
            unclean_elections: std::sync::atomic::AtomicU64::new(0),
            config: config.clone(),
            request_timeout: Duration::from_millis(config.quorum_request_timeout_ms),
            lease: Duration::from_millis(election),
        });
        if let Err(e) = host.check_voter_set().await {
            host.shutdown().await;
            return Err(e);
        }
        host.bootstrap().await;
        tracing::info!(node_id = me, voters = %host.voters.fingerprint(), "controller quorum member started");
        Ok(host)
    }

    /// Refuses a voter set whose ids differ from the one in the metadata log. (Addresses may
    /// change across restarts — a lone voter on port 0 does — and are always taken from the
    /// config, never from the log.)
    async fn check_voter_set(&self) -> Result<(), BrokerError> {
        let recorded: std::collections::BTreeSet<NodeId> = self
            .raft
            .with_raft_state(|st| st.membership_state.effective().voter_ids().collect())
            .await
            .map_err(|e| BrokerError::Storage(format!("metadata quorum: {e}")))?;
        if recorded.is_empty() || recorded == self.voters.ids() {
            return Ok(());
        }
        let ids = |s: &std::collections::BTreeSet<NodeId>| {
            s.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        };
        Err(BrokerError::new(
            ErrorCode::InvalidConfig,
            format!(
                "controller.quorum.voters names voters {} but this node's metadata log records \
                 voters {}; start it with the voter set its peers use",
                ids(&self.voters.ids()),
                ids(&recorded)
            ),
        ))
    }

    async fn bootstrap(self: &Arc<Self>) {
        if self.raft.is_initialized().await.unwrap_or(true) {
            return;
        }
        let first = self.voters.0.keys().next().copied();
        let delay = if first == Some(self.me) {
            Duration::ZERO
        } else {
            Duration::from_millis(self.config.quorum_election_timeout_ms * 4)
        };
        let weak = Arc::downgrade(self);
        let nodes = self.voters.nodes();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(host) = weak.upgrade() else { return };
            if host.raft.is_initialized().await.unwrap_or(true) {
                return;
            }
            match host.raft.initialize(nodes).await {
                Ok(()) => tracing::info!(node_id = host.me, "bootstrapped the controller quorum"),
                Err(e) => tracing::debug!("quorum bootstrap not needed: {e}"),
            }
        });
    }

    /// How many unclean leader elections (a leader from outside the ISR) this voter decided as
    /// the active controller and the quorum committed — automatic ones and the operator's
    /// ElectLeaders UNCLEAN alike (Kafka's UncleanLeaderElectionsPerSec).
    pub fn unclean_elections(&self) -> u64 {
        self.unclean_elections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many metadata snapshots this voter installed from a leader because the entries it
    /// lacked were already purged there.
    pub fn snapshots_installed(&self) -> u64 {
        self.snapshots_installed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The Raft node (for the `Quorum` gRPC service).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The voter set's canonical text.
    pub fn voters(&self) -> &Voters {
        &self.voters
    }

    fn lock(&self) -> MutexGuard<'_, MetaState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this voter may act as controller now: Raft leader, and (with several voters) a
    /// majority acknowledged it within the lease, so a leader cut off from the others stops
    /// answering as controller before the majority elects another one.
    pub fn is_active(&self) -> bool {
        let leader = self.raft.metrics().borrow().state == ServerState::Leader;
        leader && self.quorum_heard_within_lease(self.clock.now_ms())
    }

    /// Whether this voter plus the peers it heard from within the lease make a majority. (The
    /// network records every answered Raft RPC; a leader sends heartbeats several times per
    /// lease, so a connected leader always passes.)
    fn quorum_heard_within_lease(&self, now: i64) -> bool {
        let lease = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let contacts = self.contacts.lock().unwrap_or_else(|p| p.into_inner());
        let heard = self
            .voters
            .0
            .keys()
            .filter(|id| **id != self.me)
            .filter(|id| contacts.get(id).is_some_and(|t| now - t <= lease))
            .count();
        heard + 1 >= self.voters.majority()
    }

    /// The active controller as far as this voter knows (`-1` unknown).
    pub fn active_controller_id(&self) -> i32 {
        if self.is_active() {
            return i32::try_from(self.me).unwrap_or(NO_CONTROLLER);
        }
        let m = self.raft.metrics().borrow().clone();
        match m.current_leader {
            Some(l) if l != self.me => i32::try_from(l).unwrap_or(NO_CONTROLLER),
            _ => NO_CONTROLLER,
        }
    }

    fn not_controller(&self) -> BrokerError {
        let id = self.active_controller_id();
        let msg = if id >= 0 {
            format!("this voter is not the active controller; node {id} is")
        } else {
            "this voter is not the active controller, and none is known".to_string()
        };
        BrokerError::new(ErrorCode::NotController, msg)
    }

    /// Runs one decision on the active controller and commits its records through the quorum.
    ///
    /// Decisions are pipelined: each is made on the leader's *speculative* controller (the
    /// applied image plus every entry this leader proposed and has not seen applied yet, and
    /// the broker sessions), proposed in decision order under the lock, and awaited outside it.
    /// So a burst of registrations costs about one commit round, not one each. If an entry does
    /// not apply (leadership moved, a timeout), the speculation is dropped and the next decision
    /// starts again from the applied image — the apply-side `first_offset` check guarantees
    /// that nothing decided on a wrong image is ever applied.
    pub(super) async fn decide<T>(
        &self,
        f: impl FnOnce(&mut Controller, i64) -> Result<(Vec<Record>, T), BrokerError>,
    ) -> Result<T, BrokerError> {
        let mut leader = self.leader.lock().await;
        if !self.is_active() {
            return Err(self.not_controller());
        }
        let term = self.raft.metrics().borrow().current_term;
        let fresh = leader.as_ref().is_none_or(|l| l.term != term);
        if fresh || leader.as_ref().is_some_and(|l| l.stale) {
            // Everything committed before must be applied before deciding anything.
            tokio::time::timeout(self.request_timeout, self.raft.ensure_linearizable())
                .await
                .map_err(|_| timed_out("catching up with the metadata log"))?
                .map_err(|_| self.not_controller())?;
            let applied = self.lock().controller.clone();
            match leader.as_mut().filter(|_| !fresh) {
                Some(spec) => {
                    spec.controller.rebase_on(&applied);
                    spec.stale = false;
                }
                None => {
                    let mut controller = applied;
                    controller.start(self.clock.now_ms());
                    tracing::info!(node_id = self.me, term, "became the active controller");
                    *leader = Some(Speculation {
                        term,
                        controller,
                        stale: false,
                    });
                }
            }
        }
        let Some(spec) = leader.as_mut() else {
            return Err(self.not_controller());
        };
        let first_offset = spec.controller.image().next_offset;
        let now = self.clock.now_ms();
        let (records, out) = f(&mut spec.controller, now)?;
        if records.is_empty() {
            return Ok(out);
        }
        let me = i32::try_from(self.me).unwrap_or(NO_CONTROLLER);
        let events = crate::events::controller_decision(&spec.controller, &records, me, now);
        let stamped = spec.controller.stamp(records);
        for r in &stamped {
            spec.controller.replay(r);
        }
        let unclean = stamped
            .iter()
            .filter(|r| matches!(&r.record, Some(Record::PartitionChange(c)) if c.unclean))
            .count() as u64;
        let cmd = MetadataCommand {
            first_offset,
            records: stamped
                .into_iter()
                .map(|mut r| {
                    r.offset = 0;
                    r.encode_to_vec()
                })
                .collect(),
        };
        let pending = match self.raft.client_write_ff(cmd).await {
            Ok(rx) => rx,
            Err(e) => {
                spec.stale = true;
                return Err(BrokerError::Storage(format!("metadata quorum: {e}")));
            }
        };
        drop(leader);
        let written = tokio::time::timeout(self.request_timeout, pending).await;
        let result = match written {
            Err(_) => Err(timed_out("a majority of the controller quorum to commit")),
            Ok(Err(_)) => Err(self.not_controller()),
            Ok(Ok(Ok(r))) if r.data.applied => {
                events.iter().for_each(crate::events::Event::log);
                self.unclean_elections
                    .fetch_add(unclean, std::sync::atomic::Ordering::Relaxed);
                return Ok(out);
            }
            Ok(Ok(Ok(_))) => Err(BrokerError::new(
                ErrorCode::NotController,
                "the decision raced a controller change; retry",
            )),
            Ok(Ok(Err(_))) => Err(self.not_controller()),
        };
        // The speculation no longer matches what the quorum applies: start over from it.
        if let Some(spec) = self.leader.lock().await.as_mut().filter(|l| l.term == term) {
            spec.stale = true;
        }
        result
    }

    /// Periodic, on the active controller: fence brokers whose session expired.
    pub async fn tick(&self) {
        if !self.is_active() {
            return;
        }
        if let Err(e) = self.decide(|c, now| Ok((c.tick(now), ()))).await {
            tracing::debug!("controller tick did not commit: {e}");
        }
    }

    /// The applied metadata image.
    pub fn image(&self) -> crate::metadata::MetadataImage {
        self.lock().controller.image().clone()
    }

    async fn admin<T>(
        &self,
        f: impl FnOnce(&Controller) -> Result<(Vec<Record>, T), AdminError>,
    ) -> Result<T, BrokerError> {
        self.decide(move |c, _| f(c).map_err(|(code, msg)| BrokerError::new(code, msg)))
            .await
    }

    /// CreateTopics on the controller; configs are validated against the broker defaults.
    pub async fn create_topic(&self, t: NewTopic, validate_only: bool) -> Result<(), BrokerError> {
        self.config.topic_config(&t.configs)?;
        let internal = t.name == OFFSETS_TOPIC;
        self.admin(|c| {
            let records = c.create_topic(&t, internal)?;
            Ok((if validate_only { Vec::new() } else { records }, ()))
        })
        .await
    }

    /// DeleteTopics for one topic ([`Controller::delete_topic`]): `UNKNOWN_TOPIC_OR_PARTITION`
    /// if it does not exist, `INVALID_REQUEST` for an internal topic.
    pub async fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        self.admin(|c| Ok((c.delete_topic(name)?, ()))).await
    }

    /// IncrementalAlterConfigs on one topic: `delete` these overrides, `set` those, and check
    /// that the merged overrides still make a valid topic config (`INVALID_CONFIG` naming the
    /// key otherwise; `UNKNOWN_TOPIC_OR_PARTITION` for an unknown topic). With
    /// `validate_only` nothing is written.
    pub async fn alter_topic_config(
        &self,
        name: &str,
        set: &BTreeMap<String, String>,
        delete: &[String],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        let config = self.config.clone();
        self.decide(|c, _| {
            let topic = c.image().topics.get(name).cloned().ok_or_else(|| {
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
            config.topic_config(&merged)?;
            let records = c
                .alter_configs(ConfigResourceType::ConfigResourceTopic, name, set, delete)
                .map_err(|(code, msg)| BrokerError::new(code, msg))?;
            Ok((if validate_only { Vec::new() } else { records }, ()))
        })
        .await
    }

    /// AlterConfigs on the cluster-wide dynamic broker defaults (Kafka's `--entity-type brokers
    /// --entity-default`). Only keys the controller reads at run time may be set:
    /// `unclean.leader.election.enable` (below each topic's own override).
    pub async fn alter_broker_defaults(
        &self,
        set: &BTreeMap<String, String>,
        delete: &[String],
        validate_only: bool,
    ) -> Result<(), BrokerError> {
        for k in set.keys().chain(delete) {
            if k != super::UNCLEAN_KEY {
                return Err(BrokerError::new(
                    ErrorCode::InvalidConfig,
                    format!(
                        "'{k}' is not a dynamic cluster-wide broker config (only {} is)",
                        super::UNCLEAN_KEY
                    ),
                ));
            }
        }
        if let Some(v) = set
            .get(super::UNCLEAN_KEY)
            .filter(|v| *v != "true" && *v != "false")
        {
            return Err(BrokerError::new(
                ErrorCode::InvalidConfig,
                format!("{}: '{v}' is not true or false", super::UNCLEAN_KEY),
            ));
        }
        self.admin(|c| {
            let records =
                c.alter_configs(ConfigResourceType::ConfigResourceBroker, "", set, delete)?;
            Ok((if validate_only { Vec::new() } else { records }, ()))
        })
        .await
    }

    /// ElectLeaders ([`Controller::elect_leaders`]): preferred (the default for an unknown
    /// election type) or unclean elections; per-partition outcomes are in the response.
    pub async fn elect_leaders(
        &self,
        req: &ElectLeadersRequest,
    ) -> Result<ElectLeadersResponse, BrokerError> {
        let t =
            ElectionType::try_from(req.election_type).unwrap_or(ElectionType::ElectionPreferred);
        self.admin(|c| Ok(c.elect_leaders(t, &req.topics))).await
    }

    /// Committed records from `from` (at most `max`), waiting up to `wait` for the first one.
    pub async fn fetch_metadata(
        &self,
        from: i64,
        max: usize,
        wait: Duration,
    ) -> (Vec<MetadataRecord>, i64) {
        let mut rx = self.end.clone();
        if *rx.borrow() <= from {
            let _ = tokio::time::timeout(wait, rx.wait_for(|end| *end > from)).await;
        }
        let st = self.lock();
        let start = usize::try_from(from.max(0)).unwrap_or(usize::MAX);
        let records = st.records.iter().skip(start).take(max).cloned().collect();
        (records, st.controller.image().next_offset)
    }

    /// Runs check-quorum (`quorum/check_quorum.rs`) every quarter lease until the host is
    /// dropped: a leader that hears from no majority for a lease stops its heartbeats, so the
    /// others elect.
    pub fn spawn_check_quorum(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        let every = (self.lease / 4).max(Duration::from_millis(1));
        let lease = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        tokio::spawn(async move {
            let mut check = CheckQuorum::new(lease);
            loop {
                tokio::time::sleep(every).await;
                let Some(host) = weak.upgrade() else { return };
                let m = host.raft.metrics().borrow().clone();
                let leading = (m.state == ServerState::Leader).then_some(m.current_term);
                let now = host.clock.now_ms();
                let peers: Vec<Option<i64>> = {
                    let contacts = host.contacts.lock().unwrap_or_else(|p| p.into_inner());
                    let voters = host.voters.0.keys().filter(|id| **id != host.me);
                    voters.map(|id| contacts.get(id).copied()).collect()
                };
                let heard = majority_heard_at(now, &peers, host.voters.majority());
                match check.step(now, leading, heard) {
                    Action::Nothing => {}
                    Action::StopHeartbeats => {
                        tracing::warn!(
                            node_id = host.me,
                            term = m.current_term,
                            "no majority of the controller voters heard within the lease: \
                             resigning (heartbeats stopped, so the others elect)"
                        );
                        host.raft.runtime_config().heartbeat(false);
                    }
                    Action::ResumeHeartbeats => host.raft.runtime_config().heartbeat(true),
                }
            }
        })
    }

    /// Runs the periodic tick until the host is dropped.
    pub fn spawn_ticker(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(host) = weak.upgrade() else { return };
                host.tick().await;
            }
        })
    }

    /// Stops the Raft node (a clean shutdown; a killed broker just drops it).
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::debug!("quorum shutdown: {e}");
        }
    }

    /// The quorum as this voter sees it (Kafka's DescribeQuorum). Per-voter log ends and last
    /// contact are known on the leader only.
    pub async fn describe(&self) -> DescribeQuorumResponse {
        // Observers: registered brokers that are not voters, with their last heartbeat as the
        // active controller saw it (brokers pull metadata records, not Raft entries, so they have
        // no Raft log end).
        let observers = {
            let leader = self.leader.lock().await;
            let image = self.image();
            image
                .brokers
                .keys()
                .filter(|id| u64::try_from(**id).is_ok_and(|id| !self.voters.0.contains_key(&id)))
                .map(|&node_id| {
                    let last = leader
                        .as_ref()
                        .filter(|_| self.is_active())
                        .and_then(|l| l.controller.session(node_id))
                        .map_or(-1, |s| s.last_heartbeat_ms);
                    QuorumReplica {
                        node_id,
                        log_end_offset: -1,
                        last_fetch_timestamp: last,
                        last_caught_up_timestamp: -1,
                        status: "Observer".to_string(),
                    }
                })
                .collect()
        };
        self.describe_voters(observers)
    }

    fn describe_voters(&self, observers: Vec<QuorumReplica>) -> DescribeQuorumResponse {
        let m = self.raft.metrics().borrow().clone();
        let leader_end = m.last_log_index.map_or(0, |i| to_i64(i) + 1);
        let contacts = self
            .contacts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let now = self.clock.now_ms();
        let is_leader = m.state == ServerState::Leader;
        let mut max_lag = 0;
        let mut max_lag_time = 0;
        let voters = self
            .voters
            .0
            .keys()
            .map(|&id| {
                let (end, last_fetch, status) = if id == self.me {
                    let status = match m.state {
                        ServerState::Leader if self.is_active() => "Leader",
                        // Raft leader still, but no majority acknowledged it within the lease.
                        ServerState::Leader => "Leader (no quorum)",
                        ServerState::Candidate => "Candidate",
                        _ => "Follower",
                    };
                    (leader_end, now, status)
                } else if is_leader {
                    let matched = m
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(&id).cloned().flatten())
                        .map_or(0, |l| to_i64(l.index) + 1);
                    let last = contacts.get(&id).copied().unwrap_or(-1);
                    let fresh = last >= 0
                        && now - last
                            <= to_i64(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX));
                    (
                        matched,
                        last,
                        if fresh { "Follower" } else { "Unreachable" },
                    )
                } else {
                    let status = if m.current_leader == Some(id) {
                        "Leader"
                    } else {
                        "Follower"
                    };
                    (-1, -1, status)
                };
                if is_leader && end >= 0 {
                    max_lag = max_lag.max(leader_end - end);
                    if end < leader_end && last_fetch >= 0 {
                        max_lag_time = max_lag_time.max(now - last_fetch);
                    }
                }
                QuorumReplica {
                    node_id: i32::try_from(id).unwrap_or(-1),
                    log_end_offset: end,
                    last_fetch_timestamp: last_fetch,
                    last_caught_up_timestamp: if end == leader_end { last_fetch } else { -1 },
                    status: status.to_string(),
                }
            })
            .collect();
        DescribeQuorumResponse {
            error_code: 0,
            error_message: String::new(),
            leader_id: self.active_controller_id(),
            leader_epoch: to_i64(m.current_term),
            high_watermark: m.last_applied.map_or(-1, |l| to_i64(l.index) + 1),
            max_follower_lag: if is_leader { max_lag } else { -1 },
            max_follower_lag_time_ms: if is_leader { max_lag_time } else { -1 },
            voters,
            observers,
            answered_by: i32::try_from(self.me).unwrap_or(-1),
        }
    }
}

/// The active controller's decision state: the applied image plus its own proposals in flight,
/// and the broker sessions (volatile, so they live only here).
struct Speculation {
    term: u64,
    controller: Controller,
    /// An entry it proposed did not apply: rebase on the applied image before deciding again.
    stale: bool,
}

impl std::fmt::Debug for ControllerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerHost")
            .field("me", &self.me)
            .field("voters", &self.voters)
            .finish_non_exhaustive()
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn storage(e: openraft::StorageError<NodeId>) -> BrokerError {
    BrokerError::Storage(format!("metadata quorum storage: {e}"))
}

fn timed_out(what: &str) -> BrokerError {
    BrokerError::new(
        ErrorCode::RequestTimedOut,
        format!("timed out waiting for {what} (is a majority of controller.quorum.voters up?)"),
    )
}
