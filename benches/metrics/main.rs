//! What the broker's metrics cost produce throughput (issue 13, item 9; goal: ≥ 0.97×).
//!
//! Run with `cargo bench --bench metrics` (about a minute on 2 cores) or
//! `cargo bench --bench metrics -- --quick` (about 20 s). Without `--bench` (under
//! `cargo test --benches`) it does a sub-second smoke pass that only checks the code paths work.
//!
//! Two single-node brokers run in this process, each with its own log directory and a 4-partition
//! RF 1 topic: **on** has `metrics.listener` set and a scraper fetching `/metrics` every
//! [`SCRAPE_EVERY`] while it is loaded (Prometheus usually scrapes every 15–60 s: this is the
//! pessimistic case); **off** has no listener and nobody scrapes it. A third cell, **on,
//! idle**, loads the first broker with nobody scraping: `on / idle` is the scrapes' cost on the
//! same broker and log, and `idle / off` shows how much two brokers differ for reasons that are
//! not metrics (placement on the cores, their logs). Each round runs the three cells in a rotated
//! order (so that drift — page cache, log growth, a neighbour — hits all alike), each a fixed
//! time of acks=1 produces: K requests in flight on one HTTP/2 connection, each one ~16 KiB
//! batch of 100 B records for one partition, partitions in turn. The figures are ratios of the
//! sums of bytes over time.
//!
//! The counters and histograms themselves are bumped whether the endpoint is on or not (the
//! registry always exists; only serving it is optional), so the ratio above is the cost of
//! serving and scraping. The cost of the bumps is measured separately below it: the metric
//! calls one produce request makes, timed in a loop, against the mean time of a produce request.
//!
//! Log directories live under `$BROOK_BENCH_DIR`, else `<workspace>/target/bench-tmp`; retention
//! keeps each partition near 64 MiB, and they are deleted at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brook_broker::metrics::RequestKind;
use brook_broker::{BrokerConfig, BrokerHandle};
use brook_log::record::BatchBuilder;
use brook_proto::Durability;
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::*;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tonic::transport::Channel;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PARTITIONS: i32 = 4;
const TOPIC: &str = "bench";
const BATCH_TARGET: usize = 16 * 1024;
const VALUE_LEN: usize = 100;
const INFLIGHT: usize = 8;
const SCRAPE_EVERY: Duration = Duration::from_millis(250);
const GOAL: f64 = 0.97;

struct Plan {
    rounds: usize,
    run: Duration,
    warmup: Duration,
    bump_iterations: u32,
}

fn main() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (plan, mode) = if args.iter().any(|a| a == "--quick") {
        (
            Plan {
                rounds: 4,
                run: Duration::from_secs(2),
                warmup: Duration::from_millis(500),
                bump_iterations: 200_000,
            },
            "quick",
        )
    } else if args.iter().any(|a| a == "--bench") {
        (
            Plan {
                rounds: 8,
                run: Duration::from_secs(3),
                warmup: Duration::from_secs(1),
                bump_iterations: 1_000_000,
            },
            "full",
        )
    } else {
        (
            Plan {
                rounds: 2,
                run: Duration::from_millis(50),
                warmup: Duration::from_millis(10),
                bump_iterations: 1_000,
            },
            "smoke",
        )
    };
    let base = match std::env::var_os("BROOK_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tmp"),
    };
    std::fs::create_dir_all(&base)?;
    let tmp = tempfile::Builder::new()
        .prefix("metrics-")
        .tempdir_in(&base)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(&plan, mode, tmp.path()))
}

async fn run(plan: &Plan, mode: &str, dir: &Path) -> BenchResult<()> {
    let on = start_broker(&dir.join("on"), true).await?;
    let off = start_broker(&dir.join("off"), false).await?;
    let url = on
        .metrics_addr()
        .ok_or("the metrics broker has no metrics address")?;
    let batch = build_batch();
    println!(
        "== brook metrics cost ({mode}: {} rounds of {:.1} s each, acks=1, {PARTITIONS} partitions, K={INFLIGHT}, {} B batches, scrape every {} ms) ==",
        plan.rounds,
        plan.run.as_secs_f64(),
        batch.len(),
        SCRAPE_EVERY.as_millis()
    );
    let clients = [client(on.addr())?, client(off.addr())?];
    for c in &clients {
        produce_for(c, &batch, plan.warmup).await?;
    }
    // Sums of (bytes, seconds, requests) for on (scraped), off, and on but idle.
    let mut sums = [(0u64, 0f64, 0u64); 3];
    const CELLS: [&str; 3] = ["on  ", "off ", "idle"];
    for round in 0..plan.rounds {
        let mut order = [0, 1, 2];
        order.rotate_left(round % 3);
        for which in order {
            let scraping = Arc::new(AtomicBool::new(which == 0));
            let scraper = tokio::spawn(scrape_while(url, scraping.clone()));
            let client = &clients[if which == 1 { 1 } else { 0 }];
            let (bytes, secs, reqs) = produce_for(client, &batch, plan.run).await?;
            scraping.store(false, Ordering::Release);
            let scrapes = scraper.await??;
            let name = CELLS[which];
            println!(
                "round {round} {name}: {:7.1} MB/s  {:6.0} req/s{}",
                bytes as f64 / secs / 1e6,
                reqs as f64 / secs,
                if which == 0 {
                    format!("  ({scrapes} scrapes)")
                } else {
                    String::new()
                }
            );
            sums[which].0 += bytes;
            sums[which].1 += secs;
            sums[which].2 += reqs;
        }
    }
    let rate = |s: (u64, f64, u64)| s.0 as f64 / s.1 / 1e6;
    let ratio = rate(sums[0]) / rate(sums[1]);
    let request_us = sums[1].1 * 1e6 / sums[1].2.max(1) as f64 * INFLIGHT as f64;
    let bump_ns = bump_cost(&on, plan.bump_iterations);
    let (scrape_us, scrape_bytes) = encode_cost(&on, plan.bump_iterations / 1000 + 10)?;
    println!(
        "metrics on (scraped): {:.1} MB/s, off: {:.1} MB/s, on but idle: {:.1} MB/s",
        rate(sums[0]),
        rate(sums[1]),
        rate(sums[2]),
    );
    println!(
        "on/off = {ratio:.3}x (goal >= {GOAL:.2}x: {}); on/idle (same broker) = {:.3}x; idle/off (two brokers, no scrapes) = {:.3}x",
        if ratio >= GOAL { "met" } else { "NOT met" },
        rate(sums[0]) / rate(sums[2]),
        rate(sums[2]) / rate(sums[1]),
    );
    println!(
        "metric updates of one produce request: {bump_ns:.0} ns, {:.3}% of a request's {request_us:.0} µs",
        bump_ns / (request_us * 1000.0) * 100.0
    );
    println!(
        "one scrape's encoding ({scrape_bytes} B of text): {scrape_us:.0} µs, {:.3}% of one core at one scrape per {} ms",
        scrape_us / (SCRAPE_EVERY.as_secs_f64() * 1e6) * 100.0,
        SCRAPE_EVERY.as_millis()
    );
    on.shutdown().await?;
    off.shutdown().await?;
    Ok(())
}

/// Mean time of encoding the registry (what a scrape costs the broker besides HTTP), in µs, and
/// the size of the text.
fn encode_cost(broker: &BrokerHandle, iterations: u32) -> BenchResult<(f64, usize)> {
    let m = &broker.broker.metrics;
    let mut bytes = 0;
    let start = Instant::now();
    for _ in 0..iterations {
        bytes = m.encode()?.len();
    }
    Ok((
        start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations.max(1)),
        bytes,
    ))
}

async fn start_broker(dir: &Path, metrics: bool) -> BenchResult<BrokerHandle> {
    let dir = dir.to_str().ok_or("bench dir is not UTF-8")?;
    let mut pairs = vec![
        ("listeners", "127.0.0.1:0".to_string()),
        ("log.dirs", dir.to_string()),
        ("log.segment.bytes", (16 << 20).to_string()),
        ("log.retention.bytes", (64 << 20).to_string()),
        ("log.retention.check.interval.ms", "1000".to_string()),
    ];
    if metrics {
        pairs.push(("metrics.listener", "127.0.0.1:0".to_string()));
    }
    let handle = BrokerHandle::start(BrokerConfig::from_pairs(pairs)?).await?;
    let resp = AdminClient::new(Channels::default().get(&handle.addr().to_string())?)
        .create_topics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: TOPIC.into(),
                num_partitions: PARTITIONS,
                replication_factor: 1,
                ..Default::default()
            }],
            ..Default::default()
        })
        .await?
        .into_inner();
    match resp.topics.first() {
        Some(t) if t.error_code == 0 => Ok(handle),
        other => Err(format!("create topic failed: {other:?}").into()),
    }
}

fn client(addr: SocketAddr) -> BenchResult<BrookClient<Channel>> {
    Ok(BrookClient::new(
        Channels::default().get(&addr.to_string())?,
    ))
}

fn build_batch() -> Bytes {
    let mut b = BatchBuilder::new();
    let value = vec![b'x'; VALUE_LEN];
    let mut size = 61;
    while size + VALUE_LEN + 8 < BATCH_TARGET {
        b.append(0, None, Some(&value), &[]);
        size += VALUE_LEN + 8;
    }
    b.build()
}

/// `INFLIGHT` tasks sending one produce at a time until `run` passed: (bytes, seconds, requests).
async fn produce_for(
    client: &BrookClient<Channel>,
    batch: &Bytes,
    run: Duration,
) -> BenchResult<(u64, f64, u64)> {
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = JoinSet::new();
    for i in 0..INFLIGHT {
        let mut client = client.clone();
        let records = batch.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            let mut partition = i as i32 % PARTITIONS;
            while Instant::now() < deadline {
                let req = ProduceRequest {
                    acks: 1,
                    timeout_ms: 30_000,
                    topics: vec![TopicProduceData {
                        name: TOPIC.into(),
                        partitions: vec![PartitionProduceData {
                            partition,
                            records: records.clone(),
                        }],
                    }],
                };
                let resp = client.produce(req).await?.into_inner();
                let code = resp
                    .topics
                    .first()
                    .and_then(|t| t.partitions.first())
                    .map(|p| p.error_code);
                if code != Some(0) {
                    return Err(format!("produce failed: {resp:?}").into());
                }
                n += 1;
                partition = (partition + 1) % PARTITIONS;
            }
            Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(n)
        });
    }
    let mut requests = 0;
    while let Some(r) = tasks.join_next().await {
        requests += r??;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((requests * batch.len() as u64, secs, requests))
}

/// Scrapes `/metrics` every [`SCRAPE_EVERY`] while `on`; returns how many scrapes succeeded.
async fn scrape_while(addr: SocketAddr, on: Arc<AtomicBool>) -> BenchResult<u64> {
    let mut n = 0;
    while on.load(Ordering::Acquire) {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .await?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await?;
        if !body.starts_with(b"HTTP/1.1 200") {
            return Err("a scrape failed".into());
        }
        n += 1;
        tokio::time::sleep(SCRAPE_EVERY).await;
    }
    Ok(n)
}

/// The metric calls one acks=1 produce request of one batch makes, in ns (mean over a loop).
fn bump_cost(broker: &BrokerHandle, iterations: u32) -> f64 {
    let m = &broker.broker.metrics;
    let start = Instant::now();
    for _ in 0..iterations {
        let timer = m.requests.timer(RequestKind::Produce);
        m.traffic.produced(TOPIC, 148, 16_000);
        m.traffic.acked(Durability::LeaderWritten);
        drop(timer);
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations.max(1))
}
