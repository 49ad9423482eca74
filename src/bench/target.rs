//! Where a cell runs: a fresh in-process `brook::Cluster` per cell (the default: each cell starts
//! on empty logs, and dropping the cluster and its directory frees the page cache the cell
//! filled), or an external cluster reached through `--bootstrap-server`, where each cell gets a
//! topic of its own, deleted afterwards. Either way the workload sees only a bootstrap address and
//! a topic that is ready (every partition led, the ISR full).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use brook_client::{Admin, AdminConfig};
use brook_log::clock::unix_now_ms;
use tokio::time::Instant;

use super::BenchError;
use super::matrix::Cell;
use brook_cluster::Cluster;

/// How long a topic may take to get its leaders and a full ISR.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the cells run.
#[derive(Debug)]
pub enum Target {
    /// In-process clusters with their data under `root`.
    InProcess {
        /// Where each cell's cluster keeps its data (`--data-dir`, else a temp dir).
        root: PathBuf,
        /// The directory of the cluster stopped last. A killed broker's last tasks (and its log
        /// directory's flusher thread) wind down a moment after the kill, so a directory is
        /// deleted only once the next cluster has been stopped (or at `close`), never under them.
        retired: Mutex<Option<tempfile::TempDir>>,
    },
    /// An existing cluster.
    External {
        /// `--bootstrap-server`: the cluster's address.
        bootstrap: String,
        /// Creates and deletes the per-cell topics.
        admin: Admin,
        /// How many brokers the cluster has (cells needing more are skipped).
        brokers: usize,
        /// Names this run's topics apart from earlier runs' (`brook-bench-<run_id>-<n>-<cell>`).
        run_id: String,
        /// Topics created so far (each run gets a fresh name).
        created: AtomicUsize,
    },
}

/// A topic ready for a cell, and what keeps it alive.
pub struct Prepared {
    /// Where the cell's clients connect.
    pub bootstrap: String,
    /// The topic the cell produces to and consumes from.
    pub topic: String,
    // Dropped in this order: the cluster (killing its brokers), then its directory.
    cluster: Option<Cluster>,
    dir: Option<tempfile::TempDir>,
    admin: Option<Admin>,
}

impl Prepared {
    /// Stops an in-process cluster without flushing (the data is thrown away; its directory is
    /// deleted later, see `Target::InProcess`) or deletes the topic from an external one.
    pub async fn finish(mut self, target: &Target) {
        drop(self.cluster.take());
        if let (Some(dir), Target::InProcess { retired, .. }) = (self.dir.take(), target) {
            let previous = retired
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .replace(dir);
            drop(previous);
        }
        if let Some(admin) = self.admin.take()
            && let Err(e) = admin.delete_topic(&self.topic).await
        {
            tracing::warn!(topic = %self.topic, error = %e, "could not delete the bench topic");
        }
    }
}

impl Target {
    /// Connects to `bootstrap` and counts its brokers; a clear error when nothing answers.
    pub async fn external(bootstrap: &str) -> Result<Target, BenchError> {
        let unreachable = |reason: String| BenchError::Unreachable {
            servers: bootstrap.to_string(),
            reason,
        };
        let config = AdminConfig::new(bootstrap).request_timeout(Duration::from_secs(3));
        let admin = Admin::new(config).map_err(|e| unreachable(e.to_string()))?;
        let cluster = admin
            .describe_cluster()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let brokers = cluster.brokers.iter().filter(|b| !b.fenced).count();
        let run_id = format!("{:x}", unix_now_ms());
        Ok(Target::External {
            bootstrap: bootstrap.to_string(),
            admin,
            brokers,
            run_id,
            created: AtomicUsize::new(0),
        })
    }

    /// Data directory root for in-process clusters (created if missing).
    pub fn in_process(root: &Path) -> Result<Target, BenchError> {
        std::fs::create_dir_all(root).map_err(|source| BenchError::Io {
            what: format!("create {}", root.display()),
            source,
        })?;
        Ok(Target::InProcess {
            root: root.to_path_buf(),
            retired: Mutex::new(None),
        })
    }

    /// Deletes what is left once the last cluster's tasks have wound down.
    pub async fn close(self) {
        if let Target::InProcess { retired, .. } = &self {
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(retired.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
    }

    /// Why `cell` cannot run here, if it cannot.
    pub fn skip_reason(&self, cell: &Cell) -> Option<String> {
        match self {
            Target::External { brokers, .. } if cell.rf as usize > *brokers => Some(format!(
                "RF {} needs {} brokers; the cluster has {brokers}",
                cell.rf, cell.rf
            )),
            _ => None,
        }
    }

    /// A ready topic with `partitions` partitions for `cell` (with `extra` topic configs).
    pub async fn prepare(
        &self,
        cell: &Cell,
        partitions: i32,
        extra: &[(String, String)],
    ) -> Result<Prepared, BenchError> {
        let mut configs = cell.flush.topic_configs();
        configs.push(("min.insync.replicas".into(), cell.min_insync().to_string()));
        configs.extend(extra.iter().cloned());
        match self {
            Target::InProcess { root, .. } => {
                let dir = tempfile::Builder::new()
                    .prefix("cell-")
                    .tempdir_in(root)
                    .map_err(|source| BenchError::Io {
                        what: format!("create a cell directory in {}", root.display()),
                        source,
                    })?;
                // RF 1 cells run on a single broker, RF n cells on n brokers.
                let cluster = Cluster::builder()
                    .brokers(cell.rf.max(1) as usize)
                    .data_dir(dir.path())
                    .start()
                    .await?;
                let topic = "bench".to_string();
                let mut create = cluster.create_topic(&topic, partitions, cell.rf);
                for (k, v) in &configs {
                    create = create.config(k, v);
                }
                create.await?;
                let rf = cell.rf as usize;
                cluster
                    .wait_until(
                        |v| (0..partitions).all(|p| v.isr(&topic, p).len() == rf),
                        READY_TIMEOUT,
                    )
                    .await?;
                Ok(Prepared {
                    bootstrap: cluster.bootstrap_servers(),
                    topic,
                    cluster: Some(cluster),
                    dir: Some(dir),
                    admin: None,
                })
            }
            Target::External {
                bootstrap,
                admin,
                run_id,
                created,
                ..
            } => {
                let n = created.fetch_add(1, Ordering::Relaxed);
                let topic = format!("brook-bench-{run_id}-{n}-{}", cell.id());
                admin
                    .create_topic(&topic, partitions, cell.rf, &configs)
                    .await?;
                wait_ready(admin, &topic, cell.rf as usize).await?;
                Ok(Prepared {
                    bootstrap: bootstrap.clone(),
                    topic,
                    cluster: None,
                    dir: None,
                    admin: Some(admin.clone()),
                })
            }
        }
    }
}

/// Polls DescribeTopics until every partition of `topic` has a leader and `rf` in-sync replicas.
async fn wait_ready(admin: &Admin, topic: &str, rf: usize) -> Result<(), BenchError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let ready = match admin.describe_topics(&[topic]).await {
            Ok(topics) => topics.iter().all(|t| {
                !t.partitions.is_empty()
                    && t.partitions
                        .iter()
                        .all(|p| p.leader >= 0 && p.isr.len() >= rf)
            }),
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(_) => false,
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(BenchError::Other(format!(
                "topic {topic} did not get leaders and {rf} in-sync replicas within {READY_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
