//! Embedded-cluster benchmark (SPEC §12, issue 4 item 8): start-up, failover and the cost of
//! replication, each measured against its target in the same run.
//!
//! Run with `cargo bench --bench cluster` (about a minute) or `cargo bench --bench cluster --
//! --quick` (about 20 s). Without `--bench` (under `cargo test --benches`) it does a short smoke
//! pass that only checks the code paths work.
//!
//! What is measured (everything on one 2-worker multi-thread tokio runtime, as an embedding
//! application would run it: brokers, controller and clients share the machine's cores):
//!
//! * Start-up — `Cluster::builder().brokers(3).start()`: `startup_time()` (until every broker
//!   lists all three registered and unfenced) and the wall time of the call; median of several
//!   fresh clusters after one untimed start. Target ≤ 50 ms.
//! * Failover — a fresh 3-broker cluster per round, a topic with RF 3 and min.insync.replicas 2
//!   whose leader is not broker 1 (the controller, which has no standby yet), an acks=all
//!   producer that already wrote one record. The clock starts right before `kill(leader)` (power
//!   loss); then the producer writes one more record and the harness watches for a serving new
//!   leader. Reported: when `kill` returned, when the harness first saw the new leader serving,
//!   when the acks=all write was acknowledged. Target: write accepted within
//!   `broker.session.timeout.ms` + 200 ms (median of the rounds).
//! * Throughput — a fresh 3-broker cluster for each run (its data deleted after the run, so
//!   that a growing log does not slow later runs) with one topic of 4 partitions: `rf1` (RF 1)
//!   or `rf3` (RF 3, min.insync.replicas 2). A pipelined `brook_client::Producer` sends 100 B values
//!   without keys (sticky partitioning, so whole 16 KiB batches go to one partition at a time)
//!   for a fixed time; the same client settings for every run (linger 5 ms, batch.size 16 KiB,
//!   5 requests in flight, idempotence off — it requires acks=all — so the only difference is
//!   acks and RF). Runs alternate acks=1/RF1 and acks=all/RF3 (A B B A A B B A in full mode) and the
//!   ratio is of the totals. An acks=all idempotent run on RF 3 is shown for reference. MB is
//!   10^6 bytes of record values. Target: acks=all RF3 ≥ 0.6 × acks=1 RF1.
//!
//! Cluster data lives under `$BROOK_BENCH_DIR`, else `<workspace>/target/bench-tmp`, and is
//! deleted after each cluster.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brook::bench::baseline::median;
use brook::client::{Acks, ProducerConfig};
use brook::{Cluster, Producer, ProducerRecord};
use bytes::Bytes;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const VALUE_LEN: usize = 100;
const PARTITIONS: i32 = 4;
/// Acknowledgements awaited in order once this many records are outstanding.
const WINDOW: usize = 50_000;
const TARGET_STARTUP_MS: f64 = 50.0;
const TARGET_FAILOVER_SLACK_MS: f64 = 200.0;
const TARGET_RATIO: f64 = 0.6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Quick,
    Smoke,
}

#[derive(Debug, Clone)]
struct Plan {
    starts: usize,
    failover_rounds: usize,
    session_timeout_ms: u64,
    run: Duration,
    warmup: Duration,
    /// Order of throughput runs (indexes into `CONFIGS`).
    order: Vec<usize>,
}

impl Plan {
    fn for_mode(mode: Mode) -> Plan {
        match mode {
            Mode::Full => Plan {
                starts: 9,
                failover_rounds: 7,
                session_timeout_ms: 1000,
                run: Duration::from_secs(3),
                warmup: Duration::from_millis(300),
                order: vec![0, 1, 1, 0, 0, 1, 1, 0, 2],
            },
            Mode::Quick => Plan {
                starts: 5,
                failover_rounds: 3,
                session_timeout_ms: 1000,
                run: Duration::from_secs(2),
                warmup: Duration::from_millis(300),
                order: vec![0, 1, 2],
            },
            Mode::Smoke => Plan {
                starts: 1,
                failover_rounds: 1,
                session_timeout_ms: 300,
                run: Duration::from_millis(50),
                warmup: Duration::from_millis(10),
                order: vec![0, 1, 2],
            },
        }
    }
}

// Columns of (c): cores = process CPU seconds per wall second (brokers + client; 2 is all of
// this machine); CPU µs/r = process CPU per record; req ms = mean ProduceRequest round trip;
// batch B = mean batch size the producer sent.

/// A throughput configuration: label, topic, acks, idempotence.
struct Config {
    label: &'static str,
    topic: &'static str,
    acks: Acks,
    idempotent: bool,
}

const CONFIGS: [Config; 3] = [
    Config {
        label: "acks=1   RF1",
        topic: "rf1",
        acks: Acks::Leader,
        idempotent: false,
    },
    Config {
        label: "acks=all RF3 min.isr=2",
        topic: "rf3",
        acks: Acks::All,
        idempotent: false,
    },
    Config {
        label: "acks=all RF3 idempotent (ref)",
        topic: "rf3",
        acks: Acks::All,
        idempotent: true,
    },
];

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
    // `--only startup|failover|throughput` runs one part (for profiling).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let wanted = |part: &str| only.is_none_or(|o| o == part);
    rt.block_on(async {
        let mut results = Results::default();
        if wanted("startup") {
            results.startup = Some(bench_startup(&plan, &dirs).await?);
        }
        if wanted("failover") {
            results.failover = Some(bench_failover(&plan, &dirs).await?);
        }
        if wanted("throughput") {
            results.ratio = Some(bench_throughput(&plan, &dirs).await?);
        }
        print_targets(&plan, &results);
        Ok(())
    })
}

/// Median start-up ms, median failover ms, (throughput ratio, CPU-cost ratio).
#[derive(Default)]
struct Results {
    startup: Option<f64>,
    failover: Option<f64>,
    ratio: Option<(f64, f64)>,
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

// ---- (a) start-up ----------------------------------------------------------------------------

/// Median `startup_time()` in ms.
async fn bench_startup(plan: &Plan, dirs: &Dirs) -> BenchResult<f64> {
    // One untimed start: the first one pays for page faults, thread spawns and lazy statics.
    let dir = dirs.fresh();
    Dirs::done(builder(plan, &dir).start().await?, &dir);
    let (mut ready, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..plan.starts {
        let dir = dirs.fresh();
        let t = Instant::now();
        let cluster = builder(plan, &dir).start().await?;
        wall.push(ms(t.elapsed()));
        ready.push(ms(cluster.startup_time()));
        Dirs::done(cluster, &dir);
    }
    println!();
    println!(
        "(a) Cluster::start() with 3 brokers, {} fresh starts",
        plan.starts
    );
    println!("  {:<34} {:>9} {:>9} {:>9}", "", "median", "min", "max");
    for (name, v) in [
        ("startup_time() (ready)", &ready),
        ("wall time of start()", &wall),
    ] {
        let (lo, hi) = min_max(v);
        println!(
            "  {name:<34} {:>6.1} ms {:>6.1} ms {:>6.1} ms",
            median(v.clone()),
            lo,
            hi
        );
    }
    Ok(median(ready))
}

// ---- (b) failover ----------------------------------------------------------------------------

/// Creates RF-3 topics until one is led by a broker other than the controller (assignment is a
/// pure function of the name, so this is deterministic); returns (topic, leader).
async fn topic_not_led_by_controller(
    cluster: &Cluster,
    prefix: &str,
) -> BenchResult<(String, i32)> {
    for i in 0..10 {
        let topic = format!("{prefix}-{i}");
        cluster
            .create_topic(&topic, 1, 3)
            .config("min.insync.replicas", "2")
            .await?;
        cluster
            .wait_until(|v| v.isr(&topic, 0).len() == 3, Duration::from_secs(5))
            .await?;
        let leader = cluster.leader_of(&topic, 0).await?;
        if leader != 1 {
            return Ok((topic, leader));
        }
    }
    Err("no topic led by a broker other than 1".into())
}

struct Round {
    kill_returned: f64,
    elected: f64,
    write: f64,
}

/// Median failover time (kill → acks=all write acknowledged) in ms.
async fn bench_failover(plan: &Plan, dirs: &Dirs) -> BenchResult<f64> {
    let mut rounds = Vec::new();
    for _ in 0..plan.failover_rounds {
        let dir = dirs.fresh();
        let cluster = builder(plan, &dir).start().await?;
        let (topic, leader) = topic_not_led_by_controller(&cluster, "failover").await?;
        let producer = cluster
            .producer()
            .acks(Acks::All)
            .linger(Duration::ZERO)
            .request_timeout(Duration::from_millis(1000))
            .delivery_timeout(Duration::from_secs(10))
            .config("retry.backoff.ms", "5")
            .build()
            .await?;
        producer
            .send_and_wait(ProducerRecord::new(&topic, "before").partition(0))
            .await?;

        let t0 = Instant::now();
        cluster.kill(leader).await?;
        let kill_returned = ms(t0.elapsed());
        let write = async {
            producer
                .send_and_wait(ProducerRecord::new(&topic, "after").partition(0))
                .await
                .map(|_| ms(t0.elapsed()))
        };
        let watch = async {
            cluster
                .wait_until(
                    |v| {
                        v.serving_leader(&topic, 0)
                            && v.leader(&topic, 0).is_some_and(|l| l != leader)
                    },
                    Duration::from_secs(10),
                )
                .await
                .map(|_| ms(t0.elapsed()))
        };
        let (write, elected) = tokio::join!(write, watch);
        rounds.push(Round {
            kill_returned,
            elected: elected?,
            write: write?,
        });
        producer.close().await;
        Dirs::done(cluster, &dir);
    }
    println!();
    println!(
        "(b) Leader failover after kill() (power loss), {} rounds, broker.session.timeout.ms={}, \
         heartbeat 50 ms, producer retry.backoff.ms=5",
        rounds.len(),
        plan.session_timeout_ms
    );
    println!(
        "  {:<8} {:>16} {:>20} {:>24}",
        "round", "kill() returned", "new leader serving", "acks=all write accepted"
    );
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "  {:<8} {:>13.1} ms {:>17.1} ms {:>21.1} ms",
            i + 1,
            r.kill_returned,
            r.elected,
            r.write
        );
    }
    let med = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    println!(
        "  {:<8} {:>13.1} ms {:>17.1} ms {:>21.1} ms",
        "median",
        med(|r| r.kill_returned),
        med(|r| r.elected),
        med(|r| r.write)
    );
    Ok(med(|r| r.write))
}

// ---- (c) throughput --------------------------------------------------------------------------

struct Run {
    config: usize,
    records: u64,
    secs: f64,
    /// CPU seconds (user + system) of this whole process — brokers and client — in the run.
    cpu: f64,
    /// Mean ProduceRequest latency in the run (ms) and mean batch size (bytes) as the producer
    /// counts them.
    latency_ms: f64,
    batch_bytes: f64,
}

/// User + system CPU seconds of this process so far (Linux `/proc/self/stat`; 0 elsewhere).
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // `rest` starts at field 3 (state), so field n is at index n - 3. CLK_TCK is 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

impl Run {
    fn rate(&self) -> f64 {
        self.records as f64 / self.secs
    }
}

/// Sends 100 B records for `length`, keeping at most `WINDOW` acknowledgements outstanding;
/// returns (acknowledged records, seconds including the final drain).
async fn produce_for(
    producer: &Producer,
    topic: &str,
    value: &Bytes,
    length: Duration,
) -> BenchResult<(u64, f64)> {
    let started = Instant::now();
    let deadline = started + length;
    let mut pending = VecDeque::with_capacity(WINDOW);
    let mut acked = 0u64;
    let mut sent = 0u64;
    loop {
        if sent % 256 == 0 && Instant::now() >= deadline {
            break;
        }
        pending.push_back(
            producer
                .send(ProducerRecord::new(topic, value.clone()))
                .await?,
        );
        sent += 1;
        if pending.len() >= WINDOW
            && let Some(f) = pending.pop_front()
        {
            f.await?;
            acked += 1;
        }
    }
    producer.flush().await;
    for f in pending {
        f.await?;
        acked += 1;
    }
    Ok((acked, started.elapsed().as_secs_f64()))
}

/// Ratio acks=all RF3 / acks=1 RF1 (totals over their runs), and the same ratio of CPU time
/// per record (what the throughput ratio is when both runs are CPU-bound on the same cores).
async fn bench_throughput(plan: &Plan, dirs: &Dirs) -> BenchResult<(f64, f64)> {
    let value = Bytes::from(vec![b'x'; VALUE_LEN]);
    let mut runs = Vec::new();
    for &c in &plan.order {
        let cfg = &CONFIGS[c];
        // A fresh cluster per run, its data deleted afterwards: the runs write gigabytes, and
        // a log that keeps growing (page cache, writeback) makes later runs slower than
        // earlier ones whatever their configuration.
        let dir = dirs.fresh();
        let cluster = builder(plan, &dir).start().await?;
        let rf = if cfg.acks == Acks::All { 3 } else { 1 };
        cluster
            .create_topic(cfg.topic, PARTITIONS, rf)
            .config("min.insync.replicas", rf.min(2).to_string())
            .await?;
        cluster
            .wait_until(
                |v| (0..PARTITIONS).all(|p| v.isr(cfg.topic, p).len() == rf as usize),
                Duration::from_secs(5),
            )
            .await?;
        let config: ProducerConfig = cluster
            .producer()
            .acks(cfg.acks)
            .idempotence(cfg.idempotent)
            .into_config()?;
        // Through plain TCP like an application's client (no fault model in the path).
        let producer = Producer::new(config)?;
        produce_for(&producer, cfg.topic, &value, plan.warmup).await?;
        let (m0, cpu0) = (producer.metrics(), process_cpu_secs());
        let (records, secs) = produce_for(&producer, cfg.topic, &value, plan.run).await?;
        let (m1, cpu) = (producer.metrics(), process_cpu_secs() - cpu0);
        producer.close().await;
        // The counters are cumulative: the run's mean latency from the two snapshots.
        let requests = m1.request_total.saturating_sub(m0.request_total).max(1) as f64;
        let latency_ms = (m1.request_latency_avg_ms * m1.request_total as f64
            - m0.request_latency_avg_ms * m0.request_total as f64)
            / requests;
        runs.push(Run {
            config: c,
            records,
            secs,
            cpu,
            latency_ms,
            batch_bytes: m1.batch_size_avg,
        });
        Dirs::done(cluster, &dir);
    }

    println!();
    println!(
        "(c) Produce throughput, 100 B values, {PARTITIONS} partitions, pipelined Producer \
         (linger 5 ms, batch.size 16 KiB, 5 in flight), {:.1} s runs",
        plan.run.as_secs_f64()
    );
    println!(
        "  {:<30} {:>10} {:>7} {:>9} {:>6} {:>9} {:>8} {:>7}",
        "config", "records/s", "MB/s", "records", "cores", "CPU µs/r", "req ms", "batch B"
    );
    for r in &runs {
        println!(
            "  {:<30} {:>10.0} {:>7.1} {:>9} {:>6.2} {:>9.2} {:>8.2} {:>7.0}",
            CONFIGS[r.config].label,
            r.rate(),
            r.rate() * VALUE_LEN as f64 / 1e6,
            r.records,
            r.cpu / r.secs,
            r.cpu * 1e6 / r.records.max(1) as f64,
            r.latency_ms,
            r.batch_bytes
        );
    }
    // (records, wall seconds, CPU seconds) over every run of a config.
    let total = |c: usize| {
        runs.iter()
            .filter(|r| r.config == c)
            .fold((0f64, 0f64, 0f64), |(n, s, cpu), r| {
                (n + r.records as f64, s + r.secs, cpu + r.cpu)
            })
    };
    let ((n1, s1, c1), (n3, s3, c3)) = (total(0), total(1));
    let ratio = (n3 / s3) / (n1 / s1);
    println!(
        "  ratio acks=all RF3 / acks=1 RF1 = {:.0} / {:.0} records/s = {ratio:.2}",
        n3 / s3,
        n1 / s1
    );
    let cpu_ratio = (c1 / n1) / (c3 / n3);
    println!(
        "  CPU per record acks=1 RF1 / acks=all RF3 = {:.2} / {:.2} µs = {cpu_ratio:.2} \
         (the throughput ratio when both are CPU-bound)",
        c1 * 1e6 / n1,
        c3 * 1e6 / n3
    );
    Ok((ratio, cpu_ratio))
}

fn print_targets(plan: &Plan, r: &Results) {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let failover_target = plan.session_timeout_ms as f64 + TARGET_FAILOVER_SLACK_MS;
    println!();
    println!("Targets (SPEC §12)");
    if let Some(startup) = r.startup {
        println!(
            "  3-broker cluster ready            ≤ {TARGET_STARTUP_MS:>6.0} ms   median {startup:>7.1} ms   {}",
            verdict(startup <= TARGET_STARTUP_MS)
        );
    }
    if let Some(failover) = r.failover {
        println!(
            "  failover (kill → acks=all write)  ≤ {failover_target:>6.0} ms   median {failover:>7.1} ms   {}   (session timeout {} ms + 200 ms)",
            verdict(failover <= failover_target),
            plan.session_timeout_ms
        );
    }
    if let Some((ratio, cpu_ratio)) = r.ratio {
        println!(
            "  acks=all RF3 / acks=1 RF1         ≥ {TARGET_RATIO:>6.2}      ratio  {ratio:>7.2}      {}   (CPU-cost ratio {cpu_ratio:.2})",
            verdict(ratio >= TARGET_RATIO)
        );
    }
}
