//! `brook bench` as a library: runs the matrix of cells (acks × flush policy × replication
//! factor × record size, see `matrix`) against in-process clusters or an external one, next to
//! the machine's own ceilings measured in the same run (`baseline`: raw disk write, fsync rate;
//! `null_broker`: bare tonic with the same client), plus the dedicated runs the SPEC §12 targets
//! need and, on request, a Redis peer. Everything is measured here; `report` and `plot` only
//! format, `targets` only judges, and `src/bench_cmd.rs` only parses flags and prints.
//!
//! This module owns the options ([`BenchOptions`]), the error type ([`BenchError`]), the
//! figures every report reads ([`Figures`], [`Percentiles`], [`Baselines`], [`TargetRuns`],
//! [`CellResult`], [`BenchReport`]) and the order of the runs ([`run`]); the runs themselves are
//! in the private `runs` module.

pub mod baseline;
pub mod matrix;
pub mod null_broker;
pub mod numbers;
pub mod plot;
pub mod redis;
pub mod report;
mod runs;
pub mod target;
pub mod targets;
pub mod workload;

use std::path::PathBuf;
use std::time::Duration;

use brook_client::Acks;
use brook_proto::Durability;
use hdrhistogram::Histogram;
use indicatif::ProgressBar;

use baseline::FsyncRate;
use matrix::{AckMode, Cell, FlushPolicy};
use target::Target;
use workload::{Measured, Workload};

/// Everything that can stop a benchmark run.
///
/// A failing matrix cell does not stop the run: its error becomes [`Outcome::Failed`]. Per-record
/// produce errors do not either: they are counted in [`Figures::errors`].
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A `--matrix` spec term that does not parse (see [`matrix::select`]).
    #[error("bad --matrix token `{token}`: {reason}")]
    Matrix {
        /// The offending term or value, as given.
        token: String,
        /// What was expected instead (the valid keys or values).
        reason: String,
    },
    /// The `--bootstrap-server` cluster did not answer a DescribeCluster (3 s request timeout).
    #[error("cannot reach the bootstrap server {servers}: {reason}")]
    Unreachable {
        /// The bootstrap list as given (`HOST:PORT[,HOST:PORT…]`).
        servers: String,
        /// The client's error.
        reason: String,
    },
    /// The Brook client failed outside a single record: building a producer, consumer or admin
    /// from its config, a consumer poll, creating or describing a topic.
    #[error(transparent)]
    Client(#[from] brook_client::ClientError),
    /// An in-process cluster failed to start or to create a cell's topic.
    #[error(transparent)]
    Cluster(#[from] brook_cluster::ClusterError),
    /// A file, directory, socket or child-process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// The operation, for the message (`create the baseline directory`, `start
        /// redis-server`, …).
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else, as a message: a benchmark task that panicked, a baseline that
    /// acknowledged nothing, a Redis server that did not start or broke the protocol, a plot
    /// that could not be drawn.
    #[error("{0}")]
    Other(String),
}

/// What `brook bench` runs: one field per flag of `brook bench` (defaults in
/// [`BenchOptions::new`]).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The matrix cells to run, in report order (`--matrix`, see [`matrix::select`]).
    pub cells: Vec<Cell>,
    /// Measured window of each cell and baseline run (`--duration`, default 2 s). Also bounds
    /// the fsync baseline (at most 1 s).
    pub duration: Duration,
    /// Untimed lead-in of each run (`--warmup`, default 300 ms): connections, metadata, caches.
    pub warmup: Duration,
    /// Concurrent producers per cell (`--producers`, default 4), each its own client and
    /// connection.
    pub producers: usize,
    /// Partitions of each cell's topic (`--partitions`, default 4).
    pub partitions: i32,
    /// Fixed total rate in msg/s over all producers of a cell (`--rate`) instead of as fast as
    /// possible; latency is then measured from each record's scheduled send time.
    pub rate: Option<f64>,
    /// The producers' `linger.ms` in the matrix cells (`--linger-ms`; default 5 ms, the
    /// client's default).
    pub linger: Duration,
    /// An external cluster (`--bootstrap-server HOST:PORT[,…]`) instead of in-process ones;
    /// each cell then gets its own topic there, deleted afterwards.
    pub bootstrap: Option<String>,
    /// Where in-process clusters and the disk baselines write (`--data-dir`, default the
    /// system temp dir; on tmpfs the fsync figures mean nothing).
    pub data_dir: PathBuf,
    /// Run the Redis peer after the matrix (`--peer redis`).
    pub redis: bool,
    /// Closed-loop producers of the group-commit run (`--group-producers`, default 64; the
    /// SPEC §12 target is `flush.messages=1` with 64 producers).
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
            linger: Duration::from_millis(5),
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
        w.linger = self.linger;
        w
    }
}

/// Latency percentiles in milliseconds, read from an HdrHistogram of microseconds (3
/// significant digits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median, ms.
    pub p50: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// 99.9th percentile, ms.
    pub p999: f64,
    /// Largest value recorded, ms.
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
    /// Records completed without error in the measured window, per second (msg/s).
    pub msgs_per_sec: f64,
    /// `msgs_per_sec` × record value size, in MB/s (10^6 bytes; keys and framing not counted).
    pub mb_per_sec: f64,
    /// Produce latency, intended send time to acknowledgement; `None` with acks=0 (no
    /// acknowledgement to time) or when nothing was acknowledged.
    pub produce: Option<Percentiles>,
    /// End-to-end latency, intended send time to the consumer's receipt; `None` when the run
    /// had no consumer or it received nothing of the measured window.
    pub e2e: Option<Percentiles>,
    /// The weakest durability acknowledged; `None` with acks=0.
    pub durability: Option<Durability>,
    /// Records of the measured window completed without error.
    pub acked: u64,
    /// Records the consumer received over the whole run (warm-up included); 0 without one.
    pub consumed: u64,
    /// Records that failed over the whole run (a send refused or a delivery error).
    pub errors: u64,
    /// The first of those errors, as its message.
    pub first_error: Option<String>,
}

impl Figures {
    /// Reduces a workload's [`Measured`] to figures; `acks` decides whether produce latency
    /// and durability mean anything (not with acks=0).
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
    /// The cell ran; what it measured.
    Ran(Figures),
    /// The cell was not run, and why (an external cluster with fewer brokers than its RF).
    Skipped(String),
    /// The cell's run returned an error (preparing its topic, or the workload); its message.
    Failed(String),
}

/// One matrix cell and what became of it, in the order the cells ran.
#[derive(Debug, Clone, PartialEq)]
pub struct CellResult {
    /// The cell's acks, flush policy, RF and record size.
    pub cell: Cell,
    /// Its figures, or why there are none.
    pub outcome: Outcome,
}

impl CellResult {
    /// The figures when the cell ran ([`Outcome::Ran`]); `None` when skipped or failed.
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
    /// The data directory the disk baselines wrote under (`--data-dir`).
    pub dir: PathBuf,
    /// Its filesystem type from /proc/self/mounts (`ext4`, `tmpfs`, …; `unknown fs` when not
    /// found).
    pub fs_type: String,
    /// Raw sequential buffered write (1 MiB writes, page cache, no fsync), MB/s (10^6 bytes).
    pub seq_write_mb: f64,
    /// Raw 4 KiB write+fdatasync, back to back.
    pub fsync: FsyncRate,
    /// Bare tonic (null broker, same client, producers only): (record size in bytes, msg/s,
    /// MB/s), one entry per record size of the matrix (100 B always: the mean of two runs).
    pub tonic: Vec<(usize, f64, f64)>,
}

impl Baselines {
    /// The null broker's rate (msg/s) at record size `size` (bytes), if measured.
    pub fn tonic_rate(&self, size: usize) -> Option<f64> {
        self.tonic.iter().find(|t| t.0 == size).map(|t| t.1)
    }
}

/// The dedicated runs behind two of the targets.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRuns {
    /// `flush.messages=1`, RF 1, one partition, `group_producers` closed-loop producers of 100 B.
    pub group_commit: Option<Figures>,
    /// The same load against the bare tonic baseline (msgs/s): the most RPCs of that shape
    /// this machine can carry with no storage behind them.
    pub group_commit_tonic: Option<f64>,
    /// The same load on Brook with flush never (msgs/s): what the fsync wait costs.
    pub group_commit_unflushed: Option<f64>,
    /// Producers only, acks=1, RF 1, flush never, 100 B (the same load as the tonic baseline).
    pub single_broker: Option<Figures>,
    /// Producers only, 100 B, flush never, A B B A: (acks=1 RF 1 msgs/s, acks=all RF 3 msgs/s),
    /// or why they did not run (an external cluster of fewer than 3 brokers, a failure).
    pub replication: Result<(f64, f64), String>,
}

/// Everything one `brook bench` run measured; what `report` and `plot` format.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The options the run used.
    pub options: BenchOptions,
    /// Where the cells ran, for the reader (`in-process clusters (…)` or `external cluster
    /// HOST:PORT (N brokers)`).
    pub target: String,
    /// The machine's ceilings measured in this run.
    pub baselines: Baselines,
    /// The dedicated runs behind the SPEC §12 targets.
    pub runs: TargetRuns,
    /// Every requested cell, in the order of [`BenchOptions::cells`].
    pub cells: Vec<CellResult>,
    /// The Redis peer's rows; `None` unless `--peer redis` was given.
    pub peer: Option<redis::PeerReport>,
    /// Wall-clock time of the whole run.
    pub elapsed: Duration,
}

/// How many progress steps `run` makes for `opts` (for the progress bar's length).
pub fn steps(opts: &BenchOptions) -> u64 {
    // disk, group commit on Brook and on tonic, tonic + single broker, replication, other
    // tonic sizes, then one per cell (+ peer).
    6 + opts.cells.len() as u64 + u64::from(opts.redis)
}

/// Runs everything `opts` asks for; `progress` advances one step per run.
///
/// Order: the disk baselines; the group-commit load on Brook and on bare tonic; the bare tonic
/// baseline at 100 B with the single-broker run between two of its runs; the replication runs
/// (A B B A); bare tonic at the other record sizes; the matrix; the peer.
///
/// # Errors
///
/// [`BenchError::Unreachable`] when `--bootstrap-server` does not answer; [`BenchError::Io`]
/// when the data directory or a baseline file cannot be written; any error of the baseline and
/// target runs (a failing matrix cell is not an error: it is reported as [`Outcome::Failed`],
/// and the replication runs' failure is kept in [`TargetRuns::replication`]).
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
    let step = |msg: &str| progress.set_message(msg.to_string());

    step("disk baselines");
    let (dir, fs_type, seq_write_mb, fsync) = runs::disk_baselines(&opts).await?;
    progress.inc(1);

    step("group commit: 64 producers, flush.messages=1");
    let group_commit = runs::group_commit_run(&opts, &target, FlushPolicy::EveryMessage).await?;
    step("group-commit load without flush");
    let group_commit_unflushed = runs::group_commit_run(&opts, &target, FlushPolicy::Never)
        .await?
        .msgs_per_sec;
    progress.inc(1);
    step("group-commit load against bare tonic");
    let group_commit_tonic = runs::tonic_run(&opts, 100, |w| runs::group_commit_shape(&opts, w))
        .await?
        .msgs_per_sec();
    progress.inc(1);

    step("bare tonic 100B, single broker, bare tonic 100B");
    let before = runs::tonic_run(&opts, 100, |_| {}).await?;
    let single_broker = runs::single_broker_run(&opts, &target).await?;
    let after = runs::tonic_run(&opts, 100, |_| {}).await?;
    let mut tonic = vec![(
        100,
        (before.msgs_per_sec() + after.msgs_per_sec()) / 2.0,
        (before.mb_per_sec() + after.mb_per_sec()) / 2.0,
    )];
    progress.inc(1);

    step("replication cost: acks=1 RF1 / acks=all RF3, A B B A");
    let replication = runs::replication_runs(&opts, &target)
        .await
        .map_err(|e| e.to_string());
    progress.inc(1);

    let mut sizes: Vec<usize> = opts
        .cells
        .iter()
        .map(|c| c.size)
        .filter(|s| *s != 100)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    for size in sizes {
        step(&format!("bare tonic {}", matrix::size_label(size)));
        let m = runs::tonic_run(&opts, size, |_| {}).await?;
        tonic.push((size, m.msgs_per_sec(), m.mb_per_sec()));
    }
    progress.inc(1);
    let baselines = Baselines {
        dir,
        fs_type,
        seq_write_mb,
        fsync,
        tonic,
    };

    let mut cells = Vec::with_capacity(opts.cells.len());
    for cell in &opts.cells {
        step(&cell.to_string());
        let outcome = match target.skip_reason(cell) {
            Some(reason) => Outcome::Skipped(reason),
            None => match runs::run_cell(&opts, &target, cell).await {
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
        step("redis peer");
        let peer = redis::run_peer(&opts, &target, &cells).await;
        progress.inc(1);
        Some(peer)
    } else {
        None
    };
    target.close().await;
    progress.finish_and_clear();
    Ok(BenchReport {
        options: opts,
        target: target_name,
        baselines,
        runs: TargetRuns {
            group_commit: Some(group_commit),
            group_commit_tonic: Some(group_commit_tonic),
            group_commit_unflushed: Some(group_commit_unflushed),
            single_broker: Some(single_broker),
            replication,
        },
        cells,
        peer,
        elapsed: started.elapsed(),
    })
}
