//! Embedded-cluster benchmark (SPEC §12, issue 4 item 8, issue 10 item 10): start-up, leader
//! and controller failover, and the cost of replication and of the controller quorum, each
//! measured against a baseline or a target in the same run.
//!
//! Run with `cargo bench --bench cluster` (about two minutes) or `cargo bench --bench cluster
//! -- --quick` (about a minute). Without `--bench` (under `cargo test --benches`) it does a short
//! smoke pass that only checks the code paths work. `-- --only
//! startup|failover|controller|throughput` runs one part.
//!
//! What is measured (everything on one 2-worker multi-thread tokio runtime, as an embedding
//! application would run it: brokers, controllers and clients share the machine's cores). Every
//! broker is a controller voter unless a line says "1 voter" (`.controller_voters(1)`, the single
//! controller of earlier Brook):
//!
//! * (a) Start-up — `Cluster::builder().brokers(3).start()` with 3 voters and with 1 voter,
//!   alternated: `startup_time()` (until every broker lists all three registered and unfenced)
//!   and the wall time of the call; median of several fresh clusters of each after one untimed
//!   start of each. Target (3 voters) ≤ 50 ms. (`startup.rs`)
//! * (b) Leader failover — a fresh 3-broker cluster per round, a topic with RF 3 and
//!   min.insync.replicas 2 whose leader is not the active controller (so that only the partition
//!   leader fails), an acks=all producer that already wrote one record. The clock starts right
//!   before `kill(leader)` (power loss); then the producer writes one more record and the harness
//!   watches for a serving new leader. Target: write accepted within `broker.session.timeout.ms`
//!   + 200 ms (median of the rounds). (`failover.rs`)
//! * (c) Controller failover — the same, but the broker killed is the active controller, and the
//!   record goes to a partition it led; also timed: until `ClusterView::active_controller()`
//!   names another voter. With the Cluster's small timeouts and with Kafka's defaults.
//!   (`controller.rs`)
//! * (d) Throughput — acks=1 RF 1 vs acks=all RF 3 (replication), and acks=all RF 3 with 3 voters
//!   vs 1 voter (the quorum must not slow the data path), runs alternated, ratios of totals.
//!   (`throughput.rs`)
//!
//! Cluster data lives under `$BROOK_BENCH_DIR`, else `<workspace>/target/bench-tmp`, and is
//! deleted after each cluster.

use std::path::{Path, PathBuf};
use std::time::Duration;

use brook::Cluster;

mod controller;
mod failover;
mod startup;
mod throughput;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const TARGET_STARTUP_MS: f64 = 50.0;
const TARGET_FAILOVER_SLACK_MS: f64 = 200.0;
const TARGET_RATIO: f64 = 0.6;
/// Not a SPEC figure: the quorum "must not slow the data path"; a guide for the verdict only.
const GUIDE_QUORUM_RATIO: f64 = 0.95;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Quick,
    Smoke,
}

#[derive(Debug, Clone)]
struct Plan {
    /// Timed starts of each voter count.
    starts: usize,
    failover_rounds: usize,
    /// Controller failover rounds with the small timeouts and with Kafka's defaults.
    controller_rounds_small: usize,
    controller_rounds_kafka: usize,
    session_timeout_ms: u64,
    run: Duration,
    warmup: Duration,
    /// Order of throughput runs (indexes into `throughput::CONFIGS`).
    order: Vec<usize>,
}

impl Plan {
    fn for_mode(mode: Mode) -> Plan {
        match mode {
            Mode::Full => Plan {
                starts: 9,
                failover_rounds: 7,
                controller_rounds_small: 7,
                controller_rounds_kafka: 3,
                session_timeout_ms: 1000,
                run: Duration::from_secs(3),
                warmup: Duration::from_millis(300),
                // acks=1 RF1 vs acks=all RF3 is A B B A A B B A, and so is 3 voters vs 1 voter
                // (both acks=all RF3): 0 1 3 3 1 0 0 1 3 3 1 0.
                order: vec![0, 1, 3, 3, 1, 0, 0, 1, 3, 3, 1, 0, 2],
            },
            Mode::Quick => Plan {
                starts: 5,
                failover_rounds: 3,
                controller_rounds_small: 3,
                controller_rounds_kafka: 1,
                session_timeout_ms: 1000,
                run: Duration::from_secs(2),
                warmup: Duration::from_millis(300),
                order: vec![0, 1, 3, 3, 1, 0, 2],
            },
            Mode::Smoke => Plan {
                starts: 1,
                failover_rounds: 1,
                controller_rounds_small: 1,
                controller_rounds_kafka: 0,
                session_timeout_ms: 300,
                run: Duration::from_millis(50),
                warmup: Duration::from_millis(10),
                order: vec![0, 1, 3, 2],
            },
        }
    }
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = if args.iter().any(|a| a == "--quick") {
        Mode::Quick
    } else if args.iter().any(|a| a == "--bench") {
        Mode::Full
    } else {
        Mode::Smoke
    };
    let plan = Plan::for_mode(mode);
    let base = match std::env::var_os("BROOK_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tmp"),
    };
    std::fs::create_dir_all(&base)?;
    let tmp = tempfile::Builder::new()
        .prefix("cluster-")
        .tempdir_in(&base)?;
    let dirs = Dirs {
        root: tmp.path().to_path_buf(),
        next: std::cell::Cell::new(0),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "== brook cluster benchmark (3 in-process brokers, 2-worker tokio runtime, dir {}, mode {mode:?}) ==",
        dirs.root.display()
    );
    if mode == Mode::Smoke {
        println!("(smoke mode: run `cargo bench --bench cluster` for real figures)");
    }
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let wanted = |part: &str| only.is_none_or(|o| o == part);
    rt.block_on(async {
        let mut results = Results::default();
        if wanted("startup") {
            results.startup = Some(startup::bench(&plan, &dirs).await?);
        }
        if wanted("failover") {
            results.failover = Some(failover::bench(&plan, &dirs).await?);
        }
        if wanted("controller") {
            results.controller = controller::bench(&plan, &dirs).await?;
        }
        if wanted("throughput") {
            results.throughput = Some(throughput::bench(&plan, &dirs).await?);
        }
        print_targets(&plan, &results);
        Ok(())
    })
}

#[derive(Default)]
struct Results {
    startup: Option<startup::Summary>,
    /// Median leader failover (kill → acks=all write), ms.
    failover: Option<f64>,
    controller: Vec<controller::Summary>,
    throughput: Option<throughput::Summary>,
}

/// Fresh data dirs for each cluster, removed by `Dirs::done`.
struct Dirs {
    root: PathBuf,
    next: std::cell::Cell<usize>,
}

impl Dirs {
    fn fresh(&self) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        self.root.join(format!("c{n}"))
    }

    fn done(cluster: Cluster, dir: &Path) {
        drop(cluster);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Three brokers, every one a controller voter (the default), the plan's session timeout.
fn builder(plan: &Plan, dir: &Path) -> brook::ClusterBuilder {
    Cluster::builder()
        .brokers(3)
        .data_dir(dir)
        .broker_config(
            "broker.session.timeout.ms",
            plan.session_timeout_ms.to_string(),
        )
        .broker_config("broker.heartbeat.interval.ms", "50")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn min_max(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

fn print_targets(plan: &Plan, r: &Results) {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let failover_target = plan.session_timeout_ms as f64 + TARGET_FAILOVER_SLACK_MS;
    println!();
    println!("Targets (SPEC §12; the quorum line is a guide, not a SPEC target)");
    if let Some(s) = &r.startup {
        println!(
            "  3-broker cluster ready, 3 voters  ≤ {TARGET_STARTUP_MS:>6.0} ms   median {:>7.1} ms   {}   (1 voter {:.1} ms)",
            s.three_voters,
            verdict(s.three_voters <= TARGET_STARTUP_MS),
            s.one_voter
        );
    }
    if let Some(failover) = r.failover {
        println!(
            "  failover (kill → acks=all write)  ≤ {failover_target:>6.0} ms   median {failover:>7.1} ms   {}   (session timeout {} ms + 200 ms)",
            verdict(failover <= failover_target),
            plan.session_timeout_ms
        );
    }
    for c in &r.controller {
        println!(
            "  controller kill, {:<16}  (no target)  new controller {:>7.1} ms, acks=all write {:>7.1} ms   (expect ≈ {}–{} ms, write + session {} ms)",
            c.label,
            c.elected,
            c.write,
            c.election_ms * 3 / 2,
            c.election_ms * 23 / 10,
            c.session_ms
        );
    }
    if let Some(t) = &r.throughput {
        println!(
            "  acks=all RF3 / acks=1 RF1         ≥ {TARGET_RATIO:>6.2}      ratio  {:>7.2}      {}   (CPU-cost ratio {:.2})",
            t.replication,
            verdict(t.replication >= TARGET_RATIO),
            t.replication_cpu
        );
        println!(
            "  acks=all RF3 3 voters / 1 voter   ≥ {GUIDE_QUORUM_RATIO:>6.2}      ratio  {:>7.2}      {}   (guide; CPU-cost ratio {:.2})",
            t.quorum,
            if t.quorum >= GUIDE_QUORUM_RATIO {
                "PASS"
            } else {
                "MISS"
            },
            t.quorum_cpu
        );
    }
}
