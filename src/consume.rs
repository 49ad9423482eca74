//! `brook consume`: prints record values, one per line (Kafka's console consumer).
//!
//! With `--group G` and no `--partition` it subscribes to the topic as a member of group `G`:
//! partitions are shared with the group's other members and move on rebalances; what was printed
//! is committed after every poll (asynchronously, in order), on every revocation (so a clean
//! rebalance hands over exactly at the last printed record) and at exit, and Ctrl-C / SIGTERM
//! leaves the group cleanly. A member killed with SIGKILL leaves after `session.timeout.ms`, and
//! its partitions continue from its last commit. Without `--group` (or with `--partition`) it
//! reads in assign mode: every partition of the topic, or the one asked for. `--timeout-ms`
//! keeps Kafka's console-consumer meaning: exit after that long with no new record.
//!
//! `--stats` prints the client's metrics to stderr every 5 s while running and once at the end:
//! records consumed and their rate, the end-to-end latency (CreateTime → poll) p50/p99/p99.9/max
//! and `records-lag-max` (the largest lag in the last sample windows), and the lag now (the sum
//! of every partition's `records-lag`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use brook_client::admin::Admin;
use brook_client::consumer::{Consumer, ConsumerRebalanceListener, RebalanceContext};
use brook_client::{AdminConfig, ConsumerConfig, ConsumerMetrics, TopicPartition};
use tokio::io::AsyncWriteExt;

use crate::signal::shutdown_signal;

#[derive(clap::Args)]
pub struct ConsumeArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long)]
    topic: String,
    /// Start at the earliest offset when there is no committed one (default: only new records).
    #[arg(long)]
    from_beginning: bool,
    /// Exit after this many records.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Exit after this long without a new record.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Read only this partition (with --offset to start somewhere specific); assign mode, even
    /// with --group (whose offsets it then uses).
    #[arg(long)]
    partition: Option<i32>,
    /// Start --partition at this offset.
    #[arg(long, requires = "partition")]
    offset: Option<i64>,
    /// Join consumer group G (subscribe mode) and commit what is printed to it.
    #[arg(long)]
    group: Option<String>,
    /// A consumer config key (`--consumer-property partition.assignment.strategy=roundrobin`);
    /// repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    consumer_property: Vec<String>,
    /// Also print the key (`key<TAB>value`).
    #[arg(long)]
    print_key: bool,
    /// Print consumer statistics to stderr every 5 s and at the end: records consumed, rate,
    /// end-to-end latency p50/p99/p99.9/max, records-lag-max.
    #[arg(long)]
    stats: bool,
}

/// How often `--stats` prints while consuming.
const STATS_EVERY: Duration = Duration::from_secs(5);

/// A whole number, or `-` for NaN (an empty window).
fn or_dash(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "-".into()
    }
}

/// One `--stats` line: what was printed, over how long, and the client's metrics.
fn stats_line(what: &str, seen: u64, elapsed: Duration, m: &ConsumerMetrics) -> String {
    let e = &m.end_to_end_latency;
    let secs = elapsed.as_secs_f64();
    let avg = if secs > 0.0 { seen as f64 / secs } else { 0.0 };
    format!(
        "{what}: {seen} records in {secs:.1} s ({avg:.1} records/s, records-consumed-rate \
         {rate:.1}/s); end-to-end latency ms p50 {p50} p99 {p99} p99.9 {p999} max {max} \
         ({count} records); records-lag-max {lag}, records-lag now {now}",
        now = m.records_lag.values().sum::<i64>(),
        rate = m.records_consumed_rate,
        p50 = e.p50_ms,
        p99 = e.p99_ms,
        p999 = e.p999_ms,
        max = e.max_ms,
        count = e.count,
        lag = or_dash(m.records_lag_max),
    )
}

/// Next offset to commit per partition: one past the last record printed. Shared with the
/// listener, which runs inside `poll` and `close`.
type Printed = Arc<Mutex<BTreeMap<TopicPartition, i64>>>;

/// Commits what was printed of partitions about to be taken away (not the consumer's
/// positions: `--max-messages` may stop in the middle of a poll's records).
struct CommitOnRevoke(Printed);

impl ConsumerRebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let printed = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let offsets: BTreeMap<TopicPartition, i64> = partitions
            .iter()
            .filter_map(|tp| printed.get(tp).map(|o| (tp.clone(), *o)))
            .collect();
        if !offsets.is_empty() {
            ctx.commit(offsets);
        }
        eprintln!("Revoked: {}", list(partitions));
    }

    fn on_partitions_assigned(
        &mut self,
        _: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        eprintln!("Assigned: {}", list(partitions));
    }

    fn on_partitions_lost(&mut self, _: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        // Someone else owns them already: nothing may be committed for them.
        eprintln!("Lost: {}", list(partitions));
    }
}

fn list(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return "(none)".into();
    }
    partitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let subscribe = args.group.is_some() && args.partition.is_none();
    let mut config = ConsumerConfig::default();
    config.set("bootstrap.servers", &args.bootstrap_server)?;
    config.set(
        "auto.offset.reset",
        if args.from_beginning {
            "earliest"
        } else {
            "latest"
        },
    )?;
    if let Some(g) = &args.group {
        config.set("group.id", g)?;
        // Commits are this tool's: after each poll, on revocation and at exit.
        config.set("enable.auto.commit", "false")?;
    }
    for kv in &args.consumer_property {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--consumer-property {kv:?} is not KEY=VALUE"))?;
        config.set(k.trim(), v.trim())?;
    }
    config.validate()?;
    let mut consumer = Consumer::new(config)?;
    let printed: Printed = Arc::default();
    if subscribe {
        consumer.subscribe(vec![args.topic.clone()], CommitOnRevoke(printed.clone()))?;
    } else {
        let partitions: Vec<TopicPartition> = match args.partition {
            Some(p) => vec![TopicPartition::new(&args.topic, p)],
            None => {
                let admin = Admin::new(AdminConfig::new(&args.bootstrap_server))?;
                let topics = admin.describe_topics(&[args.topic.as_str()]).await?;
                let Some(t) = topics.first() else {
                    bail!(
                        "UNKNOWN_TOPIC_OR_PARTITION: topic {} does not exist",
                        args.topic
                    );
                };
                t.partitions
                    .iter()
                    .map(|p| TopicPartition::new(&args.topic, p.partition))
                    .collect()
            }
        };
        consumer.assign(partitions.clone());
        if let (Some(o), Some(tp)) = (args.offset, partitions.first()) {
            consumer.seek(tp, o)?;
        }
    }
    let stop = tokio::sync::watch::channel(false);
    let stop_rx = stop.1.clone();
    tokio::spawn(async move {
        let _ = shutdown_signal().await;
        let _ = stop.0.send(true);
    });
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    let mut seen = 0u64;
    let mut last_record = Instant::now();
    let started = Instant::now();
    let mut last_stats = Instant::now();
    loop {
        if args.stats && last_stats.elapsed() >= STATS_EVERY {
            last_stats = Instant::now();
            eprintln!(
                "{}",
                stats_line("Stats", seen, started.elapsed(), &consumer.metrics())
            );
        }
        if args.max_messages.is_some_and(|m| seen >= m) || *stop_rx.borrow() {
            break;
        }
        if args
            .timeout_ms
            .is_some_and(|t| last_record.elapsed() >= Duration::from_millis(t))
        {
            break;
        }
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if !records.is_empty() {
            last_record = Instant::now();
        }
        let mut this_poll = BTreeMap::new();
        for r in records {
            if args.max_messages.is_some_and(|m| seen >= m) {
                break;
            }
            if args.print_key {
                out.write_all(r.key.as_deref().unwrap_or(b"null")).await?;
                out.write_all(b"\t").await?;
            }
            out.write_all(r.value.as_deref().unwrap_or(b"null")).await?;
            out.write_all(b"\n").await?;
            seen += 1;
            this_poll.insert(TopicPartition::new(&r.topic, r.partition), r.offset + 1);
        }
        out.flush().await?;
        if args.group.is_some() && !this_poll.is_empty() {
            // Commit after processing; an async commit is never retried and a later one covers
            // it, so a failure is only worth a line.
            consumer.commit_async_offsets(
                this_poll.clone(),
                Some(Box::new(|_, r: &brook_client::Result<()>| {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "commit failed; the next one covers it");
                    }
                })),
            );
            printed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(this_poll);
        }
    }
    out.flush().await?;
    let last = std::mem::take(&mut *printed.lock().unwrap_or_else(|p| p.into_inner()));
    if args.group.is_some() && !last.is_empty() {
        // Only what was printed: `--max-messages` may stop inside a poll.
        consumer.commit_sync_offsets(last.clone()).await?;
        // The revocation in `close` commits the same offsets again, harmlessly.
        printed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(last);
    }
    let metrics = consumer.metrics();
    consumer.close().await?;
    eprintln!("Processed a total of {seen} messages");
    if args.stats {
        eprintln!(
            "{}",
            stats_line("Final stats", seen, started.elapsed(), &metrics)
        );
    }
    Ok(())
}
