//! `ClusterBuilder`: brokers, racks and config, then `start()` — in-process nodes or `brook serve`
//! children, ready when every broker lists all of them unfenced.

use std::collections::BTreeMap;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use brook_broker::{BrokerConfig, BrokerEnv, BrokerHandle, ConfigError};
use brook_log::io::FaultyFileSystem;
use brook_proto::ErrorCode;
use brook_proto::faults::{Endpoint, Network};
use brook_proto::net::Channels;
use tokio::time::Instant;

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

use super::*;

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
        }
    }
}

impl ClusterBuilder {
    /// Number of brokers (node ids 1..=n; broker 1 is also the controller). Default 1.
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
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

    /// Run each broker as a `binary serve` child process (the `brook` executable) instead of in
    /// this process. See the module docs for what differs.
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
        let roles = if id == 1 {
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
        let voters = format!("1@{}", addrs[0]);
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

    /// Starts the in-process brokers, the controller first.
    async fn start_in_process(
        &self,
        root: &Path,
        network: &Arc<Network>,
        n: i32,
    ) -> Result<BTreeMap<i32, Node>> {
        let root = root.to_path_buf();
        // Every broker's `controller.quorum.voters` names broker 1's port, so that port must be
        // known before anything starts: reserve a free one, then bind it for real (retrying with
        // another port in the unlikely case someone took it in between).
        let mut first = None;
        let mut last_error = None;
        for _ in 0..5 {
            let addr = free_port().map_err(io_error("reserve a port for the controller"))?;
            let voters = format!("1@{addr}");
            let pairs = self.pairs_for(1, &root, &voters)?;
            let fs = FaultyFileSystem::new();
            network.register(1, addr);
            match start_broker(1, &pairs, addr, &fs, network, Duration::ZERO).await {
                Ok(handle) => {
                    first = Some((Node::new(1, addr, &root, pairs, fs), handle, voters));
                    break;
                }
                Err(e) if is_bind_error(&e) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        let Some((node1, handle1, voters)) = first else {
            return Err(last_error.unwrap_or(ClusterError::NotRunning(1)));
        };
        node1.set(Incarnation::InProcess(handle1)).await;

        // The others concurrently: they only need the controller's address.
        let mut starting = tokio::task::JoinSet::new();
        for id in 2..=n {
            let pairs = self.pairs_for(id, &root, &voters)?;
            let network = network.clone();
            starting.spawn(async move {
                let fs = FaultyFileSystem::new();
                let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
                let handle = start_broker(id, &pairs, any, &fs, &network, Duration::ZERO).await?;
                network.register(id, handle.addr());
                Ok::<_, ClusterError>((id, pairs, fs, handle))
            });
        }
        let mut nodes = BTreeMap::from([(1, node1)]);
        while let Some(joined) = starting.join_next().await {
            let (id, pairs, fs, handle) = joined.map_err(|e| ClusterError::Io {
                what: "broker startup task".into(),
                source: std::io::Error::other(e.to_string()),
            })??;
            let node = Node::new(id, handle.addr(), &root, pairs, fs);
            node.set(Incarnation::InProcess(handle)).await;
            nodes.insert(id, node);
        }
        Ok(nodes)
    }
}

pub(super) fn free_port() -> std::io::Result<SocketAddr> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    l.local_addr()
}

/// `BrokerHandle::start_with` reports a failed bind as BROKER_NOT_AVAILABLE "bind …".
pub(super) fn is_bind_error(e: &ClusterError) -> bool {
    matches!(e, ClusterError::Broker(b)
        if b.code() == ErrorCode::BrokerNotAvailable && b.message().starts_with("bind"))
}

/// Starts broker `id` on `listener`, retrying a failed bind for up to `rebind` (a restarted
/// broker's old listener may not be closed yet).
pub(super) async fn start_broker(
    id: i32,
    pairs: &[(String, String)],
    listener: SocketAddr,
    fs: &FaultyFileSystem,
    network: &Arc<Network>,
    rebind: Duration,
) -> Result<BrokerHandle> {
    let mut pairs = pairs.to_vec();
    pairs.push(("listeners".into(), listener.to_string()));
    let config = BrokerConfig::from_pairs(pairs)?;
    let deadline = Instant::now() + rebind;
    let mut pause = POLL_MIN;
    loop {
        let env = BrokerEnv {
            fs: Arc::new(fs.clone()),
            channels: Channels::new(network.dialer(Endpoint::Broker(id))),
        };
        match BrokerHandle::start_with(config.clone(), env).await {
            Ok(handle) => return Ok(handle),
            Err(e) => {
                let e = ClusterError::Broker(e);
                if !is_bind_error(&e) || Instant::now() + pause > deadline {
                    return Err(e);
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}
