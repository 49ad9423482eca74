//! [`ClusterBuilder`]: brokers, racks and config, then `start()` — in-process nodes or
//! `brook serve` children, ready when every broker lists all of them unfenced.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use brook_broker::ConfigError;
use brook_log::io::FaultyFileSystem;
use brook_proto::faults::Network;
use brook_proto::net::Channels;
use tokio::time::Instant;

use crate::cluster::{Cluster, Incarnation, Node};
use crate::error::{ClusterError, Result, io_error};
use crate::in_process::start_broker_on;
use crate::process::BrokerProcess;

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
    // Consumer groups form at once (Kafka's own tests do this), and tests may use short
    // session timeouts.
    ("group.initial.rebalance.delay.ms", "0"),
    ("group.min.session.timeout.ms", "100"),
    // Lag evaluation sees end offsets within a fraction of a second and stores every commit,
    // so a test watches a status change without waiting Burrow's 10 s refreshes.
    ("group.lag.offset.refresh.ms", "200"),
    ("group.lag.window.min.distance.ms", "0"),
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

impl Cluster {
    /// A builder for a cluster: one broker by default, every broker a controller voter.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }
}

/// Configures a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    brokers: usize,
    racks: Vec<String>,
    config: Vec<(String, String)>,
    per_broker: Vec<(i32, String, String)>,
    data_dir: Option<PathBuf>,
    startup_timeout: Duration,
    /// `Some(binary)`: brokers are `binary serve` child processes.
    processes: Option<PathBuf>,
    /// How many brokers (1..=n, lowest ids first) are controller voters; `None`: all.
    voters: Option<usize>,
    /// Every broker serves `/metrics` on a port of its own.
    metrics: bool,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            brokers: 1,
            racks: Vec::new(),
            config: Vec::new(),
            per_broker: Vec::new(),
            data_dir: None,
            startup_timeout: Duration::from_secs(10),
            processes: None,
            voters: None,
            metrics: false,
        }
    }
}

impl ClusterBuilder {
    /// Number of brokers (node ids 1..=n, every one also a controller voter unless
    /// [`ClusterBuilder::controller_voters`] says otherwise). Default 1.
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
    }

    /// Only brokers 1..=`n` are controller voters (`process.roles=broker,controller`), the rest
    /// are brokers only. `controller_voters(1)` gives the single-voter cluster of earlier Brook
    /// (broker 1 is then a single point of failure for metadata). Default: every broker votes.
    pub fn controller_voters(mut self, n: usize) -> Self {
        self.voters = Some(n);
        self
    }

    /// How many voters this configuration has.
    fn voter_count(&self) -> usize {
        self.voters
            .unwrap_or(self.brokers)
            .clamp(1, self.brokers.max(1))
    }

    /// `controller.quorum.voters` for the given broker addresses.
    fn voters_for(&self, addrs: &[SocketAddr]) -> String {
        addrs
            .iter()
            .take(self.voter_count())
            .zip(1..)
            .map(|(a, id)| format!("{id}@{a}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `broker.rack` of each broker, assigned in turn (broker i gets `racks[(i-1) % len]`).
    pub fn racks<I, S>(mut self, racks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.racks = racks.into_iter().map(Into::into).collect();
        self
    }

    /// A broker config key (SPEC §10) for every broker, over the test defaults.
    pub fn broker_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// A broker config key for one broker only (applied after `broker_config`).
    pub fn broker_config_for(
        mut self,
        node: i32,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.per_broker.push((node, key.into(), value.into()));
        self
    }

    /// Keep the data in `dir/b<id>` instead of a temp dir removed on drop.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Bound on `start()` (and on `create_topic` waiting for leaders). Default 10 s.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Whether every broker serves its Prometheus metrics (`metrics.listener=127.0.0.1:0`: a
    /// free port each, kept across restarts; [`Cluster::metrics_url`] says where). Default off.
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Run each broker as a `binary serve` child process (the `brook` executable) instead of in
    /// this process. See the crate docs for what differs.
    pub fn processes(mut self, binary: impl Into<PathBuf>) -> Self {
        self.processes = Some(binary.into());
        self
    }

    /// The config pairs of broker `id` without `listeners` (which changes with the port).
    fn pairs_for(&self, id: i32, root: &Path, voters: &str) -> Result<Vec<(String, String)>> {
        let mut pairs: Vec<(String, String)> = TEST_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if self.metrics {
            // Before the caller's keys, so that a `metrics.listener` of theirs wins.
            pairs.push(("metrics.listener".to_string(), "127.0.0.1:0".to_string()));
        }
        let own = self
            .per_broker
            .iter()
            .filter(|(n, _, _)| *n == id)
            .map(|(_, k, v)| (k, v));
        for (k, v) in self.config.iter().map(|(k, v)| (k, v)).chain(own) {
            if OWNED_KEYS.contains(&k.trim()) {
                return Err(ClusterError::Config(ConfigError {
                    key: k.clone(),
                    reason: "set by the embedded cluster for each broker".into(),
                }));
            }
            pairs.push((k.clone(), v.clone()));
        }
        let roles = if (id as usize) <= self.voter_count() {
            "broker,controller"
        } else {
            "broker"
        };
        let dir = root.join(format!("b{id}"));
        let dir = dir.to_str().ok_or_else(|| ClusterError::Io {
            what: format!("data dir {}", dir.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not UTF-8"),
        })?;
        pairs.extend([
            ("node.id".to_string(), id.to_string()),
            ("process.roles".to_string(), roles.to_string()),
            ("controller.quorum.voters".to_string(), voters.to_string()),
            ("log.dirs".to_string(), dir.to_string()),
        ]);
        if !self.racks.is_empty() {
            let rack = &self.racks[(id as usize - 1) % self.racks.len()];
            pairs.push(("broker.rack".to_string(), rack.clone()));
        }
        Ok(pairs)
    }

    /// Starts the brokers and returns once every broker lists all of them unfenced.
    pub async fn start(self) -> Result<Cluster> {
        let started = Instant::now();
        if self.brokers == 0 || self.brokers > i32::MAX as usize {
            return Err(ClusterError::Config(ConfigError {
                key: "brokers".into(),
                reason: format!("{} is not a usable number of brokers", self.brokers),
            }));
        }
        let n = self.brokers as i32;
        let (temp, root) = match &self.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(io_error(format!("create {}", dir.display())))?;
                (None, dir.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("brook-cluster-")
                    .tempdir()
                    .map_err(io_error("create the cluster's temp dir"))?;
                let root = t.path().to_path_buf();
                (Some(t), root)
            }
        };
        let network = Network::new();
        let nodes = match &self.processes {
            Some(binary) => self.spawn_processes(binary, &root, &network, n).await?,
            None => self.start_in_process(&root, &network, n).await?,
        };
        let mut cluster = Cluster {
            nodes,
            network,
            observer: Channels::default(),
            startup_time: Duration::ZERO,
            timeout: self.startup_timeout,
            root,
            binary: self.processes.clone(),
            active_faults: std::sync::Mutex::default(),
            _temp: temp,
        };
        let ids: Vec<i32> = (1..=n).collect();
        cluster
            .wait_for(
                "every broker registered and unfenced",
                self.startup_timeout,
                |v| ids.iter().all(|id| v.lists_unfenced(*id, &ids)),
            )
            .await?;
        cluster.startup_time = started.elapsed();
        Ok(cluster)
    }

    /// Spawns `binary serve` for every broker on ports reserved up front (restarts reuse them),
    /// the controller first.
    async fn spawn_processes(
        &self,
        binary: &Path,
        root: &Path,
        network: &Arc<Network>,
        n: i32,
    ) -> Result<BTreeMap<i32, Node>> {
        // Hold every reservation at once so that the ports differ, then release them.
        let reserved = (1..=n)
            .map(|_| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io_error("reserve ports for the brokers"))?;
        let addrs = reserved
            .iter()
            .map(std::net::TcpListener::local_addr)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io_error("reserve ports for the brokers"))?;
        drop(reserved);
        let voters = self.voters_for(&addrs);
        // Every child knows every broker's address from the start (`--fault-peer`), and so
        // does the harness's network, which the clients dial through.
        let peers: Vec<(i32, SocketAddr)> = (1..=n).zip(addrs.iter().copied()).collect();
        for (id, addr) in &peers {
            network.register(*id, *addr);
        }
        let mut nodes = BTreeMap::new();
        for (id, addr) in (1..=n).zip(addrs) {
            let pairs = self.pairs_for(id, root, &voters)?;
            let node = Node::new(id, addr, root, pairs, FaultyFileSystem::new());
            let process = BrokerProcess::spawn(
                binary,
                id,
                &node.pairs,
                addr,
                &peers,
                &node.dir,
                self.startup_timeout,
                Duration::ZERO,
            )
            .await?;
            node.set(Incarnation::Process(process)).await;
            nodes.insert(id, node);
        }
        Ok(nodes)
    }

    /// Starts the in-process brokers, all at once: every listener is bound first (the voters
    /// must know each other's ports before any of them starts), then every broker starts on its
    /// own listener concurrently, so the quorum forms as soon as a majority is up.
    async fn start_in_process(
        &self,
        root: &Path,
        network: &Arc<Network>,
        n: i32,
    ) -> Result<BTreeMap<i32, Node>> {
        let root = root.to_path_buf();
        let mut listeners = Vec::new();
        for _ in 1..=n {
            let l = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(io_error("bind a broker listener"))?;
            listeners.push(l);
        }
        let addrs = listeners
            .iter()
            .map(tokio::net::TcpListener::local_addr)
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(io_error("read a broker listener's address"))?;
        let voters = self.voters_for(&addrs);
        for (id, addr) in (1..=n).zip(&addrs) {
            network.register(id, *addr);
        }
        let mut starting = tokio::task::JoinSet::new();
        for ((id, listener), addr) in (1..=n).zip(listeners).zip(addrs) {
            let pairs = self.pairs_for(id, &root, &voters)?;
            let network = network.clone();
            starting.spawn(async move {
                let fs = FaultyFileSystem::new();
                let handle = start_broker_on(id, &pairs, listener, addr, &fs, &network).await?;
                Ok::<_, ClusterError>((id, addr, pairs, fs, handle))
            });
        }
        let mut nodes = BTreeMap::new();
        while let Some(joined) = starting.join_next().await {
            let (id, addr, pairs, fs, handle) = joined.map_err(|e| ClusterError::Io {
                what: "broker startup task".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
            let node = Node::new(id, addr, &root, pairs, fs);
            node.set(Incarnation::InProcess(handle)).await;
            nodes.insert(id, node);
        }
        Ok(nodes)
    }
}
