//! `brook bench` as a library: runs the matrix of cells (acks × flush policy × replication
//! factor × record size, see `matrix`) against in-process clusters or an external one, next to
//! the machine's own ceilings measured in the same run (`baseline`: raw disk write, fsync rate;
//! `null_broker`: bare tonic with the same client), plus the dedicated runs the SPEC §12 targets
//! need and, on request, a Redis peer. Everything is measured here; `report` and `plot` only
//! format, and `src/bench_cmd.rs` only parses flags and prints.

pub mod baseline;
pub mod matrix;
pub mod null_broker;
pub mod plot;
pub mod redis;
pub mod report;
pub mod target;
pub mod targets;
pub mod workload;

use std::path::PathBuf;
use std::time::Duration;

use brook_client::Acks;
use brook_proto::Durability;
use bytes::Bytes;
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use tokio::sync::oneshot;

use baseline::FsyncRate;
use matrix::{AckMode, Cell, FlushPolicy};
use target::Target;
use workload::{Measured, Workload};

/// Everything that can stop a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bad --matrix token `{token}`: {reason}")]
    Matrix { token: String, reason: String },
    #[error("cannot reach the bootstrap server {servers}: {reason}")]
    Unreachable { servers: String, reason: String },
    #[error(transparent)]
    Client(#[from] brook_client::ClientError),
    #[error(transparent)]
    Cluster(#[from] crate::ClusterError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// What `brook bench` runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub cells: Vec<Cell>,
    /// Measured window of each cell and baseline run.
    pub duration: Duration,
    /// Untimed lead-in of each run.
    pub warmup: Duration,
    pub producers: usize,
    pub partitions: i32,
    /// Fixed total rate (records/s) per cell instead of as fast as possible.
    pub rate: Option<f64>,
    /// An external cluster instead of in-process ones.
    pub bootstrap: Option<String>,
    /// Where in-process clusters and the disk baselines write.
    pub data_dir: PathBuf,
    /// Run the Redis peer.
    pub redis: bool,
    /// Producers of the group-commit run (target: flush.messages=1 with 64 producers).
    pub group_producers: usize,
}

impl BenchOptions {
    /// The defaults of `brook bench` for `cells`.
    pub fn new(cells: Vec<Cell>) -> BenchOptions {
        BenchOptions {
            cells,
            duration: Duration::from_secs(2),
            warmup: Duration::from_millis(300),
            producers: 4,
            partitions: 4,
            rate: None,
            bootstrap: None,
            data_dir: std::env::temp_dir(),
            redis: false,
            group_producers: 64,
        }
    }

    fn workload(&self, bootstrap: &str, topic: &str, acks: Acks, size: usize) -> Workload {
        let mut w = Workload::new(bootstrap, topic, acks, size);
        w.duration = self.duration;
        w.warmup = self.warmup;
        w.producers = self.producers.max(1);
        w.partitions = self.partitions.max(1);
        w.rate = self.rate;
        w
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

/// What one run measured, reduced to what the reports print.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    /// `None` with acks=0 (no acknowledgement to time).
    pub produce: Option<Percentiles>,
    pub e2e: Option<Percentiles>,
    /// The weakest durability acknowledged; `None` with acks=0.
    pub durability: Option<Durability>,
    pub acked: u64,
    pub consumed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Figures {
    pub fn from_measured(m: &Measured, acks: AckMode) -> Figures {
        let acked = acks != AckMode::Zero;
        Figures {
            msgs_per_sec: m.msgs_per_sec(),
            mb_per_sec: m.mb_per_sec(),
            produce: acked.then(|| Percentiles::of(&m.produce)).flatten(),
            e2e: Percentiles::of(&m.e2e),
            durability: if acked { m.durability } else { None },
            acked: m.acked,
            consumed: m.consumed,
            errors: m.errors,
            first_error: m.first_error.clone(),
        }
    }
}

/// A cell's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ran(Figures),
    Skipped(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CellResult {
    pub cell: Cell,
    pub outcome: Outcome,
}

impl CellResult {
    pub fn figures(&self) -> Option<&Figures> {
        match &self.outcome {
            Outcome::Ran(f) => Some(f),
            _ => None,
        }
    }
}

/// The machine's ceilings, measured in this run.
#[derive(Debug, Clone, PartialEq)]
pub struct Baselines {
    pub dir: PathBuf,
    pub fs_type: String,
    /// Raw sequential buffered write, MB/s.
    pub seq_write_mb: f64,
    /// Raw 4 KiB write+fdatasync, back to back.
    pub fsync: FsyncRate,
    /// Bare tonic (null broker, same client, producers only): (record size, msgs/s, MB/s).
    pub tonic: Vec<(usize, f64, f64)>,
}

impl Baselines {
    /// The null broker's msgs/s at `size`, if measured.
    pub fn tonic_rate(&self, size: usize) -> Option<f64> {
        self.tonic.iter().find(|t| t.0 == size).map(|t| t.1)
    }
}

/// The dedicated runs behind two of the targets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetRuns {
    /// `flush.messages=1`, RF 1, one partition, `group_producers` closed-loop producers of 100 B.
    pub group_commit: Option<Figures>,
    /// Producers only, acks=1, RF 1, flush never, 100 B (the same load as the tonic baseline).
    pub single_broker: Option<Figures>,
}

/// Everything one `brook bench` run measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub options: BenchOptions,
    pub target: String,
    pub baselines: Baselines,
    pub runs: TargetRuns,
    pub cells: Vec<CellResult>,
    pub peer: Option<redis::PeerReport>,
    pub elapsed: Duration,
}

/// How many progress steps `run` makes for `opts` (for the progress bar's length).
pub fn steps(opts: &BenchOptions) -> u64 {
    // disk baselines, group commit, 2 tonic sizes, single broker, then one per cell (+ peer).
    5 + opts.cells.len() as u64 + u64::from(opts.redis)
}

/// Runs everything `opts` asks for; `progress` advances one step per run.
pub async fn run(opts: BenchOptions, progress: &ProgressBar) -> Result<BenchReport, BenchError> {
    let started = std::time::Instant::now();
    let target = match &opts.bootstrap {
        Some(b) => Target::external(b).await?,
        None => Target::in_process(&opts.data_dir)?,
    };
    let target_name = match &target {
        Target::InProcess { .. } => "in-process clusters (1 broker for RF 1, 3 for RF 3)".into(),
        Target::External {
            bootstrap, brokers, ..
        } => format!("external cluster {bootstrap} ({brokers} brokers)"),
    };

    progress.set_message("disk baselines");
    let baselines_disk = disk_baselines(&opts).await?;
    progress.inc(1);

    progress.set_message("group commit (flush.messages=1)");
    let group_commit = group_commit_run(&opts, &target).await?;
    progress.inc(1);

    let mut sizes: Vec<usize> = opts.cells.iter().map(|c| c.size).collect();
    sizes.push(100);
    sizes.sort_unstable();
    sizes.dedup();
    let mut tonic = Vec::new();
    let mut single_broker = None;
    for (i, &size) in sizes.iter().enumerate() {
        progress.set_message(format!("bare tonic baseline {}", matrix::size_label(size)));
        let m = tonic_run(&opts, size).await?;
        tonic.push((size, m.msgs_per_sec(), m.mb_per_sec()));
        if i < 2 {
            progress.inc(1);
        }
        if size == 100 {
            // Right after its baseline, so that both see the same machine.
            progress.set_message("single broker, producers only");
            single_broker = Some(single_broker_run(&opts, &target).await?);
            progress.inc(1);
        }
    }
    let (dir, fs_type, seq_write_mb, fsync) = baselines_disk;
    let baselines = Baselines {
        dir,
        fs_type,
        seq_write_mb,
        fsync,
        tonic,
    };

    let mut cells = Vec::with_capacity(opts.cells.len());
    for cell in &opts.cells {
        progress.set_message(cell.to_string());
        let outcome = match target.skip_reason(cell) {
            Some(reason) => Outcome::Skipped(reason),
            None => match run_cell(&opts, &target, cell).await {
                Ok(f) => Outcome::Ran(f),
                Err(e) => Outcome::Failed(e.to_string()),
            },
        };
        cells.push(CellResult {
            cell: *cell,
            outcome,
        });
        progress.inc(1);
    }

    let peer = if opts.redis {
        progress.set_message("redis peer");
        let peer = redis::run_peer(&opts, &cells).await;
        progress.inc(1);
        Some(peer)
    } else {
        None
    };
    progress.finish_and_clear();
    Ok(BenchReport {
        options: opts,
        target: target_name,
        baselines,
        runs: TargetRuns {
            group_commit: Some(group_commit),
            single_broker,
        },
        cells,
        peer,
        elapsed: started.elapsed(),
    })
}

/// Raw sequential write (primed, 256 MiB in 1 MiB writes) and the 4 KiB write+fdatasync rate.
async fn disk_baselines(
    opts: &BenchOptions,
) -> Result<(PathBuf, String, f64, FsyncRate), BenchError> {
    let root = opts.data_dir.clone();
    let fsync_run = opts.duration.min(Duration::from_secs(1));
    let io = |what: &str| {
        let what = what.to_string();
        move |source| BenchError::Io { what, source }
    };
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&root).map_err(io("create the data directory"))?;
        let dir = tempfile::Builder::new()
            .prefix("baseline-")
            .tempdir_in(&root)
            .map_err(io("create the baseline directory"))?;
        let fs_type =
            baseline::filesystem_type(dir.path()).unwrap_or_else(|| "unknown fs".to_string());
        const BYTES: u64 = 256 << 20;
        baseline::prime(dir.path(), BYTES).map_err(io("prime the page cache"))?;
        let seq = baseline::raw_sequential_write(&dir.path().join("seq.bin"), BYTES, 1 << 20)
            .map_err(io("raw sequential write"))?;
        let fsync = baseline::raw_fsync_rate(&dir.path().join("fsync.bin"), fsync_run)
            .map_err(io("raw write+fdatasync"))?;
        Ok((root, fs_type, seq, fsync))
    })
    .await
    .map_err(|e| BenchError::Other(format!("disk baseline task: {e}")))?
}

/// The cell: a ready topic, the workload, the figures.
async fn run_cell(opts: &BenchOptions, target: &Target, cell: &Cell) -> Result<Figures, BenchError> {
    let prepared = target.prepare(cell, opts.partitions.max(1), &[]).await?;
    let w = opts.workload(&prepared.bootstrap, &prepared.topic, cell.acks.client(), cell.size);
    let measured = workload::run(&w).await;
    prepared.finish().await;
    Ok(Figures::from_measured(&measured?, cell.acks))
}

/// `flush.messages=1` on one partition of an RF 1 topic, `group_producers` producers each with
/// one 100 B record outstanding at a time (linger 0): every acknowledgement waits for an fsync,
/// and concurrent ones should share it (group commit).
async fn group_commit_run(opts: &BenchOptions, target: &Target) -> Result<Figures, BenchError> {
    let cell = Cell {
        acks: AckMode::One,
        flush: FlushPolicy::EveryMessage,
        rf: 1,
        size: 100,
    };
    let prepared = target.prepare(&cell, 1, &[]).await?;
    let mut w = opts.workload(&prepared.bootstrap, &prepared.topic, Acks::Leader, 100);
    w.partitions = 1;
    w.producers = opts.group_producers.max(1);
    w.window = 1;
    w.linger = Duration::ZERO;
    w.rate = None;
    w.consume = false;
    let measured = workload::run(&w).await;
    prepared.finish().await;
    Ok(Figures::from_measured(&measured?, cell.acks))
}

/// Producers only, acks=1, RF 1, never flushed, 100 B: the load of the tonic baseline.
async fn single_broker_run(opts: &BenchOptions, target: &Target) -> Result<Figures, BenchError> {
    let cell = Cell {
        acks: AckMode::One,
        flush: FlushPolicy::Never,
        rf: 1,
        size: 100,
    };
    let prepared = target.prepare(&cell, opts.partitions.max(1), &[]).await?;
    let mut w = opts.workload(&prepared.bootstrap, &prepared.topic, Acks::Leader, 100);
    w.rate = None;
    w.consume = false;
    let measured = workload::run(&w).await;
    prepared.finish().await;
    Ok(Figures::from_measured(&measured?, cell.acks))
}

/// The same producers (acks=1, as fast as they go, no consumer) against the null broker.
async fn tonic_run(opts: &BenchOptions, size: usize) -> Result<Measured, BenchError> {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let null = null_broker::NullBroker::new(&Bytes::from_static(&[0u8; 61]))
        .partitions(opts.partitions.max(1))
        .topic("bench");
    let (addr, server) = null
        .bind(async {
            let _ = stop_rx.await;
        })
        .map_err(|source| BenchError::Io {
            what: "bind the null broker".into(),
            source,
        })?;
    let server = tokio::spawn(server);
    let mut w = opts.workload(&addr.to_string(), "bench", Acks::Leader, size);
    w.rate = None;
    w.consume = false;
    let measured = workload::run(&w).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    let measured = measured?;
    if measured.acked == 0 {
        return Err(BenchError::Other(format!(
            "the bare tonic baseline acknowledged nothing ({} errors, first: {})",
            measured.errors,
            measured.first_error.as_deref().unwrap_or("none")
        )));
    }
    Ok(measured)
}
