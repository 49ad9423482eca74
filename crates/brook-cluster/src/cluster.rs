//! [`Cluster`]: the running brokers (in this process or as `brook serve` children), stopping
//! and restarting them, the network faults, and how the harness observes the cluster
//! (`view`, `leader_of`, `describe`, `wait_until`). Building one is
//! [`ClusterBuilder`](crate::ClusterBuilder)'s (`builder.rs`), the clients it hands out are
//! `clients.rs`'s.
//!
//! The harness observes the cluster over plain TCP, outside the fault model: a test must be able
//! to look at an isolated broker. Clients made by `producer()`, `consumer()` and `admin()` go
//! through the fault model, each as its own [`Endpoint::Client`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use brook_broker::{Broker, BrokerHandle};
use brook_log::io::FaultyFileSystem;
use brook_proto::faults::{Endpoint, Network};
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::{DescribeClusterRequest, DescribeTopicsRequest, TopicDescription};
use tokio::time::Instant;

use crate::error::{ClusterError, Result, io_error};
use crate::fault_control::FaultCommand;
use crate::in_process::start_broker;
use crate::poll::{POLL_MIN, next_pause};
use crate::process::BrokerProcess;
use crate::view::ClusterView;

/// Deadline of one observer RPC (the harness must not hang on a wedged broker).
const OBSERVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `kill` waits for the killed broker's last tasks to let go of it before cutting its
/// files back (so that no late write lands after the cut).
const KILL_SETTLE: Duration = Duration::from_secs(2);
/// How long `restart` retries binding the old port while the OS still holds it.
const REBIND_TIMEOUT: Duration = Duration::from_secs(5);

/// A running broker: in this process, or a `brook serve` child.
#[derive(Debug)]
pub(crate) enum Incarnation {
    InProcess(BrokerHandle),
    Process(BrokerProcess),
}

/// One broker slot: fixed identity (id, port, dir, disk) and the running incarnation, if any.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: i32,
    pub(crate) addr: SocketAddr,
    pub(crate) dir: PathBuf,
    pub(crate) pairs: Vec<(String, String)>,
    /// Shared by every incarnation, so that fault knobs survive restarts.
    pub(crate) fs: FaultyFileSystem,
    /// An async lock: kill/restart of one broker are serialised, and may await while holding it.
    handle: tokio::sync::Mutex<Option<Incarnation>>,
    running: AtomicBool,
    /// Where the broker serves `/metrics` (learned from its first start; restarts rebind it).
    metrics_addr: std::sync::Mutex<Option<SocketAddr>>,
}

impl Node {
    pub(crate) fn new(
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
            metrics_addr: std::sync::Mutex::new(None),
        }
    }

    pub(crate) async fn set(&self, handle: Incarnation) {
        self.remember_metrics(&handle);
        *self.handle.lock().await = Some(handle);
        self.running.store(true, Ordering::Release);
    }

    /// Keeps the metrics address an incarnation bound (port 0 became a real port).
    fn remember_metrics(&self, handle: &Incarnation) {
        let addr = match handle {
            Incarnation::InProcess(h) => h.metrics_addr(),
            Incarnation::Process(p) => p.metrics_addr,
        };
        if addr.is_some() {
            *lock(&self.metrics_addr) = addr;
        }
    }

    /// The config pairs for the next start: the metrics port of the first start is kept, as
    /// the broker port is.
    fn restart_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = self.pairs.clone();
        if let Some(addr) = *lock(&self.metrics_addr) {
            pairs.push(("metrics.listener".to_string(), addr.to_string()));
        }
        pairs
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Clean,
    Crash,
    PowerLoss,
}

/// N brokers in this process (SPEC §9), or as `brook serve` children
/// ([`ClusterBuilder::processes`](crate::ClusterBuilder::processes)). Dropping it stops them
/// abruptly and removes the temp dir; [`Cluster::shutdown`] stops them cleanly.
#[derive(Debug)]
pub struct Cluster {
    pub(crate) nodes: BTreeMap<i32, Node>,
    pub(crate) network: Arc<Network>,
    /// Plain TCP, outside the fault model: how the harness looks at the cluster.
    pub(crate) observer: Channels,
    pub(crate) startup_time: Duration,
    /// Bound on waiting for readiness and for topics (the builder's `startup_timeout`).
    pub(crate) timeout: Duration,
    pub(crate) root: PathBuf,
    /// `Some(binary)`: the brokers are `binary serve` child processes.
    pub(crate) binary: Option<PathBuf>,
    /// With process brokers: the network faults in force (since the last heal), replayed to
    /// a restarted child.
    pub(crate) active_faults: std::sync::Mutex<Vec<FaultCommand>>,
    // Last, so that it is removed after the brokers were dropped (fields drop in order).
    pub(crate) _temp: Option<tempfile::TempDir>,
}

impl Cluster {
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

    /// `http://HOST:PORT/metrics` of broker `id` (the same across restarts), when the cluster
    /// was built with [`ClusterBuilder::metrics`](crate::ClusterBuilder::metrics) (or a
    /// `metrics.listener` of its own); `None` otherwise or for an unknown id. The endpoint
    /// answers only while the broker runs.
    pub fn metrics_url(&self, id: i32) -> Option<String> {
        let node = self.nodes.get(&id)?;
        let addr = (*lock(&node.metrics_addr))?;
        Some(format!("http://{addr}/metrics"))
    }

    /// Where broker `id` keeps its data.
    pub fn data_dir(&self, id: i32) -> Result<&Path> {
        Ok(&self.node(id)?.dir)
    }

    /// The parent of every broker's data dir.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    /// Whether broker `id` runs (it was started and not stopped since).
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
                &node.restart_pairs(),
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
            let incarnation = Incarnation::Process(process);
            node.remember_metrics(&incarnation);
            *slot = Some(incarnation);
            node.running.store(true, Ordering::Release);
            return Ok(());
        }
        let handle = start_broker(
            id,
            &node.restart_pairs(),
            node.addr,
            &node.fs,
            &self.network,
            REBIND_TIMEOUT,
        )
        .await?;
        let incarnation = Incarnation::InProcess(handle);
        node.remember_metrics(&incarnation);
        *slot = Some(incarnation);
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

    // ---- topics and observation ------------------------------------------------------------

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

    /// Polls the cluster until `condition` holds; a timeout error names `what`.
    pub(crate) async fn wait_for<F>(
        &self,
        what: &str,
        timeout: Duration,
        condition: F,
    ) -> Result<ClusterView>
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
            pause = next_pause(pause);
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

/// The fault list stays consistent even if a holder panicked (each update is one push or
/// clear), so a poisoned lock is still usable.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
