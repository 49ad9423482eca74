//! `brook::Cluster` (SPEC §9): N brokers in this process, each with its own data dir and a
//! 127.0.0.1 port, every one of them also a controller voter (the metadata quorum; see
//! [`ClusterBuilder::controller_voters`] for fewer), plus the faults a reliability test needs:
//! abrupt kills that may lose what was not fsynced, restarts on the same port, and network
//! faults (isolate, partition, slow) applied by the dialer every Brook connection goes through.
//!
//! ```no_run
//! # async fn demo() -> Result<(), brook::ClusterError> {
//! use std::time::Duration;
//! use brook::{Acks, Cluster, ProducerRecord};
//! let cluster = Cluster::builder().brokers(3).racks(["a", "b", "c"]).start().await?;
//! cluster.create_topic("orders", 6, 3).config("min.insync.replicas", "2").await?;
//! let producer = cluster.producer().acks(Acks::All).build().await?;
//! producer.send_and_wait(ProducerRecord::new("orders", "value")).await?;
//! let leader = cluster.leader_of("orders", 0).await?;
//! cluster.kill(leader).await?;
//! cluster.restart(leader).await?;
//! cluster.wait_until(|m| m.isr("orders", 0).len() == 3, Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! The harness observes the cluster (`describe`, `leader_of`, `wait_until`, readiness) over
//! plain TCP, outside the fault model: a test must be able to look at an isolated broker.
//! Clients made by `producer()`, `consumer()` and `admin()` go through the fault model, each as
//! its own [`Endpoint::Client`].
//!
//! With [`ClusterBuilder::processes`] the brokers are `brook serve --fault-injection` child
//! processes instead (same config keys, fixed ports, stderr in `serve.log` in each data dir):
//! `kill_keep_page_cache` is SIGKILL, `shutdown_broker` SIGTERM, `restart` a respawn with the
//! same arguments, and `kill` (power loss) tells the child to cut its files back to their last
//! fsync and exit. Network faults reach the children as commands on their stdin
//! ([`fault_control`]): each child keeps a copy of the fault model for its own dials. Disk
//! faults and the in-process [`Cluster::broker`] are not available (they return
//! [`ClusterError::NotWithProcesses`]).

use std::collections::BTreeMap;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use brook_broker::{Broker, BrokerError, BrokerHandle, ConfigError};
use brook_client::{Admin, AdminConfig, ClientError, ConsumerConfig, ProducerConfig};
use brook_log::io::FaultyFileSystem;
use brook_proto::faults::{Endpoint, Network};
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::{DescribeClusterRequest, DescribeTopicsRequest, TopicDescription};
use tokio::time::Instant;

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("no broker {0} in this cluster")]
    NoSuchBroker(i32),
    #[error("broker {0} is not running")]
    NotRunning(i32),
    #[error("broker {0} is already running")]
    AlreadyRunning(i32),
    /// A fault or an accessor that only exists for in-process brokers.
    #[error("UNSUPPORTED: {0} is not available with process brokers")]
    NotWithProcesses(&'static str),
    #[error("UNKNOWN_TOPIC_OR_PARTITION: {0}")]
    UnknownTopic(String),
    #[error("LEADER_NOT_AVAILABLE: {topic}-{partition} has no leader")]
    NoLeader { topic: String, partition: i32 },
    /// A condition was not reached in time; `last` describes the last state seen.
    #[error("REQUEST_TIMED_OUT: {what} not reached within {timeout:?}; last seen: {last}")]
    Timeout {
        what: String,
        timeout: Duration,
        last: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// Defaults suited to tests: failures are detected in about a second, not Kafka's tens of
/// seconds; the internal offsets topic is small. Any of them can be overridden.
const TEST_DEFAULTS: &[(&str, &str)] = &[
    ("broker.session.timeout.ms", "1000"),
    // Short, because a broker counts as started once a heartbeat unfenced it (SPEC §12 wants
    // a 3-broker cluster ready in ≤ 50 ms).
    ("broker.heartbeat.interval.ms", "50"),
    ("replica.lag.time.max.ms", "1000"),
    ("replica.fetch.wait.max.ms", "100"),
    ("offsets.topic.num.partitions", "4"),
    // A dead active controller is replaced within a few hundred milliseconds.
    ("controller.quorum.election.timeout.ms", "300"),
    ("controller.quorum.request.timeout.ms", "1000"),
];

/// Keys the cluster sets itself for each broker.
const OWNED_KEYS: &[&str] = &[
    "node.id",
    "process.roles",
    "listeners",
    "controller.quorum.voters",
    "log.dirs",
];

/// How often conditions are re-checked: short, so that waiting costs little beyond the event.
const POLL_MIN: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(20);
/// Deadline of one observer RPC (the harness must not hang on a wedged broker).
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `kill` waits for the killed broker's last tasks to let go of it before cutting its
/// files back (so that no late write lands after the cut).
const KILL_SETTLE: Duration = Duration::from_secs(2);
/// How long `restart` retries binding the old port while the OS still holds it.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

/// A running broker: in this process, or a `brook serve` child.
#[derive(Debug)]
enum Incarnation {
    InProcess(BrokerHandle),
    Process(BrokerProcess),
}

/// One broker slot: fixed identity (id, port, dir, disk) and the running incarnation, if any.
#[derive(Debug)]
struct Node {
    id: i32,
    addr: SocketAddr,
    dir: PathBuf,
    pairs: Vec<(String, String)>,
    /// Shared by every incarnation, so that fault knobs survive restarts.
    fs: FaultyFileSystem,
    /// An async lock: kill/restart of one broker are serialised, and may await while holding it.
    handle: tokio::sync::Mutex<Option<Incarnation>>,
    running: AtomicBool,
}

impl Node {
    fn new(
        id: i32,
        addr: SocketAddr,
        root: &Path,
        pairs: Vec<(String, String)>,
        fs: FaultyFileSystem,
    ) -> Node {
        Node {
            id,
            addr,
            dir: root.join(format!("b{id}")),
            pairs,
            fs,
            handle: tokio::sync::Mutex::new(None),
            running: AtomicBool::new(false),
        }
    }

    async fn set(&self, handle: Incarnation) {
        *self.handle.lock().await = Some(handle);
        self.running.store(true, Ordering::Release);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Clean,
    Crash,
    PowerLoss,
}

/// N brokers in this process (SPEC §9), or as `brook serve` children
/// ([`ClusterBuilder::processes`]). Dropping it stops them abruptly and removes the temp
/// dir; [`Cluster::shutdown`] stops them cleanly.
#[derive(Debug)]
pub struct Cluster {
    nodes: BTreeMap<i32, Node>,
    network: Arc<Network>,
    /// Plain TCP, outside the fault model: how the harness looks at the cluster.
    observer: Channels,
    startup_time: Duration,
    timeout: Duration,
    root: PathBuf,
    /// `Some(binary)`: the brokers are `binary serve` child processes.
    binary: Option<PathBuf>,
    /// With process brokers: the network faults in force (since the last heal), replayed to
    /// a restarted child.
    active_faults: std::sync::Mutex<Vec<FaultCommand>>,
    // Last, so that it is removed after the brokers were dropped (fields drop in order).
    _temp: Option<tempfile::TempDir>,
}

impl Cluster {
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// How long `start()` took until the cluster was ready.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// Node ids, ascending.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.nodes.keys().copied().collect()
    }

    /// Every broker's `host:port`, comma-separated (stopped ones too: ports never change).
    pub fn bootstrap_servers(&self) -> String {
        let addrs: Vec<String> = self.nodes.values().map(|n| n.addr.to_string()).collect();
        addrs.join(",")
    }

    /// The address broker `id` listens on (the same across restarts).
    pub fn addr(&self, id: i32) -> Result<SocketAddr> {
        Ok(self.node(id)?.addr)
    }

    /// Where broker `id` keeps its data.
    pub fn data_dir(&self, id: i32) -> Result<&Path> {
        Ok(&self.node(id)?.dir)
    }

    /// The parent of every broker's data dir.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    pub fn is_running(&self, id: i32) -> bool {
        self.nodes
            .get(&id)
            .is_some_and(|n| n.running.load(Ordering::Acquire))
    }

    /// Broker `id`'s disk: `faults()` has its knobs (failing or slow fsyncs, a full disk).
    /// Not available with process brokers.
    pub fn disk(&self, id: i32) -> Result<&FaultyFileSystem> {
        let node = self.node(id)?;
        self.in_process_only("disk faults")?;
        Ok(&node.fs)
    }

    /// Whether the brokers are `brook serve` child processes.
    pub fn is_processes(&self) -> bool {
        self.binary.is_some()
    }

    fn in_process_only(&self, what: &'static str) -> Result<()> {
        match self.binary {
            Some(_) => Err(ClusterError::NotWithProcesses(what)),
            None => Ok(()),
        }
    }

    /// The network fault model, for faults on client endpoints or single links.
    pub fn network(&self) -> &Arc<Network> {
        &self.network
    }

    /// The running broker `id` itself (white-box tests), if it runs. Not available with
    /// process brokers.
    pub async fn broker(&self, id: i32) -> Result<Arc<Broker>> {
        let node = self.node(id)?;
        self.in_process_only("the in-process `Broker`")?;
        let slot = node.handle.lock().await;
        match slot.as_ref() {
            Some(Incarnation::InProcess(h)) => Ok(h.broker.clone()),
            Some(Incarnation::Process(_)) => {
                Err(ClusterError::NotWithProcesses("the in-process `Broker`"))
            }
            None => Err(ClusterError::NotRunning(id)),
        }
    }

    fn node(&self, id: i32) -> Result<&Node> {
        self.nodes.get(&id).ok_or(ClusterError::NoSuchBroker(id))
    }

    // ---- brokers -------------------------------------------------------------------------

    /// Abrupt stop as a power loss: no flush, no goodbye, and every file of the broker is cut
    /// back to its last fsync (the page cache of a crashed machine is gone).
    ///
    /// With process brokers the child cuts its files back to their last fsync and exits.
    pub async fn kill(&self, id: i32) -> Result<()> {
        self.stop(id, Stop::PowerLoss).await
    }

    /// Abrupt stop of the process only: unflushed writes survive in the OS page cache (SIGKILL
    /// with process brokers).
    pub async fn kill_keep_page_cache(&self, id: i32) -> Result<()> {
        self.stop(id, Stop::Crash).await
    }

    /// Clean stop: flush, checkpoints, clean-shutdown marker (SIGTERM, then waiting for the
    /// exit, with process brokers).
    pub async fn shutdown_broker(&self, id: i32) -> Result<()> {
        self.stop(id, Stop::Clean).await
    }

    async fn stop(&self, id: i32, how: Stop) -> Result<()> {
        let node = self.node(id)?;
        let mut slot = node.handle.lock().await;
        let handle = slot.take().ok_or(ClusterError::NotRunning(id))?;
        node.running.store(false, Ordering::Release);
        let handle = match handle {
            Incarnation::InProcess(h) => h,
            Incarnation::Process(p) => {
                return match how {
                    Stop::Clean => p.terminate(id).await,
                    Stop::PowerLoss => p.power_loss(id).await,
                    Stop::Crash => {
                        p.kill();
                        Ok(())
                    }
                };
            }
        };
        if how == Stop::Clean {
            return Ok(handle.shutdown().await?);
        }
        let broker = Arc::downgrade(&handle.broker);
        handle.kill();
        settle(&broker, id).await;
        if how == Stop::PowerLoss {
            node.fs
                .drop_unsynced()
                .map_err(io_error(format!("drop unsynced data of broker {id}")))?;
        }
        Ok(())
    }

    /// Starts a stopped broker again: same id, data dir, disk and port. Returns once it serves
    /// requests; use [`Cluster::wait_until`] for registration, leadership or ISR membership.
    pub async fn restart(&self, id: i32) -> Result<()> {
        let node = self.node(id)?;
        let mut slot = node.handle.lock().await;
        if slot.is_some() {
            return Err(ClusterError::AlreadyRunning(id));
        }
        if let Some(binary) = &self.binary {
            let peers: Vec<(i32, SocketAddr)> =
                self.nodes.values().map(|n| (n.id, n.addr)).collect();
            let mut process = BrokerProcess::spawn(
                binary,
                id,
                &node.pairs,
                node.addr,
                &peers,
                &node.dir,
                self.timeout,
                REBIND_TIMEOUT,
            )
            .await?;
            let faults = lock(&self.active_faults).clone();
            for cmd in &faults {
                process.command(id, cmd).await?;
            }
            *slot = Some(Incarnation::Process(process));
            node.running.store(true, Ordering::Release);
            return Ok(());
        }
        let handle = start_broker(
            id,
            &node.pairs,
            node.addr,
            &node.fs,
            &self.network,
            REBIND_TIMEOUT,
        )
        .await?;
        *slot = Some(Incarnation::InProcess(handle));
        node.running.store(true, Ordering::Release);
        Ok(())
    }

    /// Stops every running broker cleanly (the controller last, so that the others can still
    /// reach it while stopping), then removes the temp dir.
    pub async fn shutdown(self) -> Result<()> {
        let mut first_error = None;
        for id in self.nodes.keys().rev() {
            if self.is_running(*id)
                && let Err(e) = self.shutdown_broker(*id).await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    // ---- network faults ----------------------------------------------------------------

    /// Cuts every link of broker `id`: other brokers, the controller and clients.
    pub async fn isolate(&self, id: i32) -> Result<()> {
        self.node(id)?;
        self.inject(FaultCommand::Isolate(Endpoint::Broker(id)))
            .await
    }

    /// Cuts the link between two endpoints (broker ids, or clients via [`Endpoint`]).
    pub async fn partition(&self, a: impl Into<Endpoint>, b: impl Into<Endpoint>) -> Result<()> {
        let (a, b) = (a.into(), b.into());
        for e in [a, b] {
            if let Endpoint::Broker(id) = e {
                self.node(id)?;
            }
        }
        self.inject(FaultCommand::Partition(a, b)).await
    }

    /// Removes every network fault (connections cut earlier stay cut; their owners reconnect).
    pub async fn heal(&self) -> Result<()> {
        self.inject(FaultCommand::Heal).await
    }

    /// Delays every read on broker `id`'s links by `delay` (zero removes it).
    pub async fn slow(&self, id: i32, delay: Duration) -> Result<()> {
        self.node(id)?;
        self.inject(FaultCommand::Slow(Endpoint::Broker(id), delay))
            .await
    }

    /// Applies a network fault to the harness's model (the clients' dials) and, with process
    /// brokers, to every running child's copy of it (their own dials), remembering it for
    /// children that start later.
    async fn inject(&self, cmd: FaultCommand) -> Result<()> {
        cmd.apply(&self.network);
        if self.binary.is_none() {
            return Ok(());
        }
        {
            let mut active = lock(&self.active_faults);
            if cmd == FaultCommand::Heal {
                active.clear();
            } else {
                active.push(cmd.clone());
            }
        }
        for node in self.nodes.values() {
            let mut slot = node.handle.lock().await;
            if let Some(Incarnation::Process(p)) = slot.as_mut() {
                p.command(node.id, &cmd).await?;
            }
        }
        Ok(())
    }

    // ---- clients -------------------------------------------------------------------------

    /// A producer builder; the producer's connections are subject to network faults.
    pub fn producer(&self) -> ProducerBuilder {
        ProducerBuilder {
            config: ProducerConfig::new(&self.bootstrap_servers()),
            pairs: Vec::new(),
            network: self.network.clone(),
            endpoint: None,
        }
    }

    /// A consumer builder; the consumer's connections are subject to network faults.
    pub fn consumer(&self) -> ConsumerBuilder {
        ConsumerBuilder {
            config: ConsumerConfig::new(&self.bootstrap_servers()),
            pairs: Vec::new(),
            network: self.network.clone(),
            endpoint: None,
        }
    }

    /// An admin client whose connections are subject to network faults (its own endpoint).
    pub fn admin(&self) -> Result<Admin> {
        Ok(Admin::with_channels(
            AdminConfig::new(&self.bootstrap_servers()),
            self.client_channels(),
        )?)
    }

    /// Connections for a new client: through the fault model as a fresh client endpoint.
    pub fn client_channels(&self) -> Channels {
        clients::client_channels(&self.network, None)
    }

    /// The harness's own admin client, outside the fault model.
    fn observer_admin(&self) -> Result<Admin> {
        let config = AdminConfig::new(&self.bootstrap_servers()).request_timeout(self.timeout);
        Ok(Admin::with_channels(config, self.observer.clone())?)
    }

    // ---- topics and observation ------------------------------------------------------------

    /// Creates a topic; awaiting the returned builder completes when every partition's leader
    /// serves it.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
    ) -> CreateTopic<'_> {
        CreateTopic {
            cluster: self,
            name: name.to_string(),
            partitions,
            replication_factor,
            configs: Vec::new(),
            timeout: self.timeout,
        }
    }

    /// What every running broker says now (see [`ClusterView`]).
    pub async fn view(&self) -> ClusterView {
        let mut view = ClusterView::default();
        for node in self.nodes.values() {
            if !node.running.load(Ordering::Acquire) {
                continue;
            }
            view.running.push(node.id);
            let Ok(channel) = self.observer.get(&node.addr.to_string()) else {
                continue;
            };
            let mut client = AdminClient::new(channel);
            let cluster = tokio::time::timeout(
                OBSERVE_TIMEOUT,
                client.describe_cluster(DescribeClusterRequest {}),
            )
            .await;
            if let Ok(Ok(r)) = cluster {
                view.clusters.insert(node.id, r.into_inner());
            }
            let topics = tokio::time::timeout(
                OBSERVE_TIMEOUT,
                // Local answers only: a broker's own metadata and replicas. (Without `local_only`
                // a broker gathers the leaders' figures over its own, fault-injected, links.)
                client.describe_topics(DescribeTopicsRequest {
                    topics: Vec::new(),
                    local_only: true,
                }),
            )
            .await;
            if let Ok(Ok(r)) = topics {
                view.topics.insert(node.id, r.into_inner().topics);
            }
        }
        view
    }

    /// The active controller (the metadata quorum's leader), if one is active now. See
    /// [`ClusterView::active_controller`]; wait for one with
    /// `wait_until(|v| v.active_controller().is_some(), …)`.
    pub async fn active_controller(&self) -> Option<i32> {
        self.view().await.active_controller()
    }

    /// The current leader of a partition (the freshest metadata any broker has).
    pub async fn leader_of(&self, topic: &str, partition: i32) -> Result<i32> {
        let view = self.view().await;
        if view.topic(topic).is_none() {
            return Err(ClusterError::UnknownTopic(topic.to_string()));
        }
        view.leader(topic, partition)
            .ok_or_else(|| ClusterError::NoLeader {
                topic: topic.to_string(),
                partition,
            })
    }

    /// A topic as the cluster sees it: leadership and ISR from the freshest metadata, offsets
    /// and per-replica states from each partition's leader.
    pub async fn describe(&self, topic: &str) -> Result<TopicDescription> {
        self.view()
            .await
            .topic(topic)
            .ok_or_else(|| ClusterError::UnknownTopic(topic.to_string()))
    }

    /// Polls the cluster until `condition` holds, returning the view that satisfied it.
    pub async fn wait_until<F>(&self, condition: F, timeout: Duration) -> Result<ClusterView>
    where
        F: Fn(&ClusterView) -> bool,
    {
        self.wait_for("condition", timeout, condition).await
    }

    async fn wait_for<F>(&self, what: &str, timeout: Duration, condition: F) -> Result<ClusterView>
    where
        F: Fn(&ClusterView) -> bool,
    {
        let deadline = Instant::now() + timeout;
        let mut pause = POLL_MIN;
        loop {
            let view = self.view().await;
            if condition(&view) {
                return Ok(view);
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout {
                    what: what.to_string(),
                    timeout,
                    last: view.summary(),
                });
            }
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}

/// Waits (bounded) until nothing holds the killed broker any more: its in-flight blocking work
/// (an append, a flush) must finish before its files are cut back, or it could write past the
/// cut; and a restart must not run next to a lingering old incarnation.
async fn settle(broker: &Weak<Broker>, id: i32) {
    let deadline = Instant::now() + KILL_SETTLE;
    while broker.strong_count() > 0 {
        if Instant::now() >= deadline {
            tracing::warn!(
                node_id = id,
                "the killed broker is still referenced after {KILL_SETTLE:?}; cutting its files anyway"
            );
            return;
        }
        tokio::time::sleep(POLL_MIN).await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Dropping a handle kills its broker; do it before the temp dir goes (field order does
        // this too, but a handle locked by an abandoned operation would otherwise be skipped).
        for node in self.nodes.values_mut() {
            match node.handle.get_mut().take() {
                Some(Incarnation::InProcess(h)) => h.kill(),
                // SIGKILL and reap.
                Some(Incarnation::Process(p)) => p.kill(),
                None => {}
            }
        }
    }
}

mod builder;
mod clients;
pub mod fault_control;
mod process;
mod view;

use fault_control::FaultCommand;

use process::BrokerProcess;

pub use builder::ClusterBuilder;
use builder::start_broker;
pub use clients::{ConsumerBuilder, CreateTopic, ProducerBuilder};
pub use view::ClusterView;

/// The fault list stays consistent even if a holder panicked (each update is one push or
/// clear), so a poisoned lock is still usable.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
