//! Consumer-group benchmark (issue 12 item 8): how long a rebalance takes, and what group
//! membership costs the consume path, each against a baseline measured in the same run.
//!
//! Run with `cargo bench --bench groups` (about a minute) or `-- --quick`. Without `--bench`
//! (under `cargo test --benches`) it does a short smoke pass that only checks the code paths.
//!
//! * (a) Rebalance time — a 3-broker embedded cluster (`group.initial.rebalance.delay.ms=0`), a
//!   topic with 2 partitions per member, N members (3 and 10) that poll in their own tasks
//!   (`session.timeout.ms` 10 s, `heartbeat.interval.ms` 100 ms, so nobody is expired by
//!   accident). Once the group is settled, one member joins; the clock runs from its
//!   `subscribe` until the group is *settled* again: every member in the same generation and the
//!   members' assignments covering every partition exactly once. Then one member closes (a
//!   clean LeaveGroup) and the same is timed. Eager (`range`: every member revokes everything
//!   and rejoins) against `cooperative-sticky` (only moved partitions are revoked, in a second
//!   rebalance). Median of the rounds.
//! * (b) Consume throughput — one topic of 6 partitions pre-filled with 100 B records; a fresh
//!   consumer reads all of them, in assign mode (`assign` every partition) and as the only
//!   member of a group (`subscribe`, which includes the join), alternated A B B A; the ratio of
//!   the total rates (group / assign).
//!
//! Nothing here asserts a time: the figures are printed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook::client::consumer::{ConsumerRebalanceListener, RebalanceContext};
use brook::{Cluster, ProducerRecord, TopicPartition};
use tokio::sync::watch;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Quick,
    Smoke,
}

struct Plan {
    sizes: Vec<usize>,
    rounds: usize,
    records: usize,
    throughput_runs: usize,
}

impl Plan {
    fn for_mode(mode: Mode) -> Plan {
        match mode {
            Mode::Full => Plan {
                sizes: vec![3, 10],
                rounds: 5,
                records: 200_000,
                throughput_runs: 4,
            },
            Mode::Quick => Plan {
                sizes: vec![3, 10],
                rounds: 2,
                records: 100_000,
                throughput_runs: 2,
            },
            Mode::Smoke => Plan {
                sizes: vec![2],
                rounds: 1,
                records: 2_000,
                throughput_runs: 2,
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "== brook consumer-group benchmark (3 in-process brokers, 2-worker runtime, mode {mode:?}) =="
    );
    if mode == Mode::Smoke {
        println!("(smoke mode: run `cargo bench --bench groups` for real figures)");
    }
    rt.block_on(async {
        println!();
        println!("(a) rebalance: subscribe/close → every member in one generation, partitions covered once");
        println!(
            "  {:<8} {:<20} {:>12} {:>12}",
            "members", "strategy", "join ms", "leave ms"
        );
        for &n in &plan.sizes {
            for strategy in ["range", "cooperative-sticky"] {
                let (join, leave) = rebalance(n, strategy, plan.rounds).await?;
                println!("  {n:<8} {strategy:<20} {join:>12.1} {leave:>12.1}");
            }
        }
        println!();
        let (assign, group) = throughput(&plan).await?;
        println!(
            "(b) consume {} records of 100 B: assign {:.0} rec/s, group {:.0} rec/s, group / assign = {:.2}",
            plan.records,
            assign,
            group,
            group / assign
        );
        Ok(())
    })
}

async fn cluster() -> BenchResult<Cluster> {
    Ok(Cluster::builder()
        .brokers(3)
        .broker_config("group.initial.rebalance.delay.ms", "0")
        .start()
        .await?)
}

/// What a member reports to the harness: its generation and its partitions.
#[derive(Debug, Clone, Default)]
struct MemberState {
    generation: i32,
    assigned: Vec<TopicPartition>,
}

type Shared = Arc<Mutex<MemberState>>;

/// Keeps the member's assignment in the shared state as the listener sees it.
struct Track(Shared);

impl ConsumerRebalanceListener for Track {
    fn on_partitions_revoked(&mut self, _: &mut RebalanceContext<'_>, ps: &[TopicPartition]) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.assigned.retain(|tp| !ps.contains(tp));
    }

    fn on_partitions_assigned(&mut self, ctx: &mut RebalanceContext<'_>, ps: &[TopicPartition]) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.assigned.extend(ps.iter().cloned());
        s.generation = ctx.generation();
    }

    fn on_partitions_lost(&mut self, ctx: &mut RebalanceContext<'_>, ps: &[TopicPartition]) {
        self.on_partitions_revoked(ctx, ps);
    }
}

/// A member polling in its own task until told to close.
struct Member {
    state: Shared,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn member(
    cluster: &Cluster,
    group: &str,
    topic: &str,
    strategy: &str,
) -> BenchResult<Member> {
    let mut consumer = cluster
        .consumer()
        .group_id(group)
        .config("partition.assignment.strategy", strategy)
        .config("session.timeout.ms", "10000")
        .config("heartbeat.interval.ms", "100")
        .build()
        .await?;
    let state = Shared::default();
    consumer.subscribe(vec![topic.to_string()], Track(state.clone()))?;
    let (stop, mut stopped) = watch::channel(false);
    let shared = state.clone();
    let task = tokio::spawn(async move {
        while !*stopped.borrow_and_update() {
            let _ = consumer.poll(Duration::from_millis(20)).await;
            if let Some(m) = consumer.group_metadata() {
                shared.lock().unwrap_or_else(|p| p.into_inner()).generation = m.generation_id;
            }
        }
        let _ = consumer.close().await;
    });
    Ok(Member { state, stop, task })
}

/// Whether the members agree on one generation and own every partition exactly once.
fn settled(members: &[Member], partitions: i32) -> bool {
    let states: Vec<MemberState> = members
        .iter()
        .map(|m| m.state.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .collect();
    let generation = states.first().map(|s| s.generation);
    let mut owned: BTreeMap<i32, usize> = BTreeMap::new();
    for s in &states {
        for tp in &s.assigned {
            *owned.entry(tp.partition).or_default() += 1;
        }
    }
    states
        .iter()
        .all(|s| Some(s.generation) == generation && s.generation > 0)
        && owned.len() == partitions as usize
        && owned.values().all(|&c| c == 1)
}

async fn wait_settled(members: &[Member], partitions: i32) -> BenchResult<Duration> {
    let started = Instant::now();
    while !settled(members, partitions) {
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the group did not settle within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(started.elapsed())
}

/// Median join and leave times (ms) for a group of `n` members.
async fn rebalance(n: usize, strategy: &str, rounds: usize) -> BenchResult<(f64, f64)> {
    let cluster = cluster().await?;
    let partitions = 2 * (n as i32 + 1);
    let topic = format!("g{n}-{strategy}");
    cluster.create_topic(&topic, partitions, 1).await?;
    let group = format!("{topic}-group");
    let mut members = Vec::new();
    for _ in 0..n {
        members.push(member(&cluster, &group, &topic, strategy).await?);
    }
    wait_settled(&members, partitions).await?;
    let (mut joins, mut leaves) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        members.push(member(&cluster, &group, &topic, strategy).await?);
        wait_settled(&members, partitions).await?;
        joins.push(started.elapsed().as_secs_f64() * 1e3);
        let Some(leaving) = members.pop() else {
            break;
        };
        let started = Instant::now();
        let _ = leaving.stop.send(true);
        leaving.task.await?;
        wait_settled(&members, partitions).await?;
        leaves.push(started.elapsed().as_secs_f64() * 1e3);
    }
    for m in members {
        let _ = m.stop.send(true);
        let _ = m.task.await;
    }
    Ok((median(&mut joins), median(&mut leaves)))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Records per second read by a fresh consumer, assign mode and group mode.
async fn throughput(plan: &Plan) -> BenchResult<(f64, f64)> {
    let cluster = cluster().await?;
    let topic = "tput";
    cluster.create_topic(topic, 6, 1).await?;
    let producer = cluster.producer().build().await?;
    let value = vec![b'x'; 100];
    let mut pending = Vec::new();
    for i in 0..plan.records {
        pending.push(
            producer
                .send(ProducerRecord::new(topic, value.clone()))
                .await?,
        );
        if i % 10_000 == 9_999 {
            for p in pending.drain(..) {
                p.await?;
            }
        }
    }
    for p in pending {
        p.await?;
    }
    let (mut assign_time, mut group_time) = (Duration::ZERO, Duration::ZERO);
    for run in 0..plan.throughput_runs {
        // A B B A.
        let group_mode = matches!(run % 4, 1 | 2);
        let took = read_all(&cluster, topic, plan.records, group_mode, run).await?;
        if group_mode {
            group_time += took;
        } else {
            assign_time += took;
        }
    }
    let per_mode = (plan.throughput_runs / 2).max(1) as f64 * plan.records as f64;
    Ok((
        per_mode / assign_time.as_secs_f64(),
        per_mode / group_time.as_secs_f64(),
    ))
}

async fn read_all(
    cluster: &Cluster,
    topic: &str,
    records: usize,
    group_mode: bool,
    run: usize,
) -> BenchResult<Duration> {
    let mut consumer = cluster
        .consumer()
        .group_id(&format!("tput-{run}"))
        .from_beginning()
        .config("enable.auto.commit", "false")
        .build()
        .await?;
    let started = Instant::now();
    if group_mode {
        consumer.subscribe(
            vec![topic.to_string()],
            brook::client::consumer::NoopRebalanceListener,
        )?;
    } else {
        consumer.assign((0..6).map(|p| TopicPartition::new(topic, p)).collect());
    }
    let mut seen = 0;
    while seen < records {
        seen += consumer.poll(Duration::from_millis(100)).await?.len();
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!("read only {seen} of {records} records in 120 s").into());
        }
    }
    let took = started.elapsed();
    consumer.close().await?;
    Ok(took)
}
