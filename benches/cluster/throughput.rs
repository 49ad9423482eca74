//! (d) Produce throughput: a fresh 3-broker cluster for each run (its data deleted after the
//! run, so that a growing log does not slow later runs) with one topic of 4 partitions: `rf1`
//! (RF 1) or `rf3` (RF 3, min.insync.replicas 2). A pipelined `brook_client::Producer` sends
//! 100 B values without keys (sticky partitioning, so whole 16 KiB batches go to one partition at
//! a time) for a fixed time; the same client settings for every run (linger 5 ms, batch.size
//! 16 KiB, 5 requests in flight, idempotence off — it requires acks=all — so the only difference
//! is acks and RF, or the voter count). Two comparisons share the runs, each alternated A B B A:
//! acks=1 RF 1 vs acks=all RF 3 (target ≥ 0.6×), and acks=all RF 3 with 3 controller voters vs
//! `.controller_voters(1)` (the quorum must not slow the data path; a ≥ 0.95× guide). Ratios are
//! of the totals. An acks=all idempotent run on RF 3 is shown for reference. MB is 10^6 bytes of
//! record values.
//!
//! Columns: cores = process CPU seconds per wall second (brokers + client; 2 is all of this
//! machine); CPU µs/r = process CPU per record; req ms = mean ProduceRequest round trip; batch B
//! = mean batch size the producer sent.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use brook::client::{Acks, ProducerConfig};
use brook::{Producer, ProducerRecord};
use bytes::Bytes;

use crate::{BenchResult, Dirs, Plan, builder};

const VALUE_LEN: usize = 100;
const PARTITIONS: i32 = 4;
/// Acknowledgements awaited in order once this many records are outstanding.
const WINDOW: usize = 50_000;

/// A throughput configuration: label, topic, acks, idempotence, controller voters.
pub struct Config {
    label: &'static str,
    topic: &'static str,
    acks: Acks,
    idempotent: bool,
    voters: usize,
}

pub const CONFIGS: [Config; 4] = [
    Config {
        label: "acks=1   RF1",
        topic: "rf1",
        acks: Acks::Leader,
        idempotent: false,
        voters: 3,
    },
    Config {
        label: "acks=all RF3 min.isr=2",
        topic: "rf3",
        acks: Acks::All,
        idempotent: false,
        voters: 3,
    },
    Config {
        label: "acks=all RF3 idempotent (ref)",
        topic: "rf3",
        acks: Acks::All,
        idempotent: true,
        voters: 3,
    },
    Config {
        label: "acks=all RF3 min.isr=2 1 voter",
        topic: "rf3",
        acks: Acks::All,
        idempotent: false,
        voters: 1,
    },
];

/// Throughput and CPU-cost ratios of the two comparisons.
pub struct Summary {
    /// acks=all RF3 / acks=1 RF1, and CPU per record acks=1 RF1 / acks=all RF3.
    pub replication: f64,
    pub replication_cpu: f64,
    /// acks=all RF3 3 voters / 1 voter, and CPU per record 1 voter / 3 voters.
    pub quorum: f64,
    pub quorum_cpu: f64,
}
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

/// Ratios of totals over the runs of each config, and the same ratios of CPU time per record
/// (what the throughput ratio is when both runs are CPU-bound on the same cores).
pub async fn bench(plan: &Plan, dirs: &Dirs) -> BenchResult<Summary> {
    let value = Bytes::from(vec![b'x'; VALUE_LEN]);
    let mut runs = Vec::new();
    for &c in &plan.order {
        let cfg = &CONFIGS[c];
        // A fresh cluster per run, its data deleted afterwards: the runs write gigabytes, and
        // a log that keeps growing (page cache, writeback) makes later runs slower than
        // earlier ones whatever their configuration.
        let dir = dirs.fresh();
        let cluster = builder(plan, &dir)
            .controller_voters(cfg.voters)
            .start()
            .await?;
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
        // The sum and the count are cumulative: the run's mean latency from the two snapshots.
        let responses = m1.response_total.saturating_sub(m0.response_total).max(1) as f64;
        let latency_ms = (m1.request_latency_sum_ms - m0.request_latency_sum_ms) / responses;
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
        "(d) Produce throughput, 100 B values, {PARTITIONS} partitions, pipelined Producer \
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
    let compare = |a: usize, b: usize, name_a: &str, name_b: &str| {
        let ((na, sa, ca), (nb, sb, cb)) = (total(a), total(b));
        let ratio = (nb / sb) / (na / sa);
        println!(
            "  ratio {name_b} / {name_a} = {:.0} / {:.0} records/s = {ratio:.2}",
            nb / sb,
            na / sa
        );
        let cpu_ratio = (ca / na) / (cb / nb);
        println!(
            "  CPU per record {name_a} / {name_b} = {:.2} / {:.2} µs = {cpu_ratio:.2} \
             (the throughput ratio when both are CPU-bound)",
            ca * 1e6 / na,
            cb * 1e6 / nb
        );
        (ratio, cpu_ratio)
    };
    let (replication, replication_cpu) = compare(0, 1, "acks=1 RF1", "acks=all RF3");
    let (quorum, quorum_cpu) = compare(3, 1, "acks=all RF3 1 voter", "acks=all RF3 3 voters");
    Ok(Summary {
        replication,
        replication_cpu,
        quorum,
        quorum_cpu,
    })
}
