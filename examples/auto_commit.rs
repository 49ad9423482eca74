//! Periodic auto-commit (seed §7.5.1 / §7.5.2, "주기적 커밋": cheaper, more duplicates after a
//! restart). With `enable.auto.commit=true` and `auto.commit.interval.ms=1000`, `poll` commits
//! the positions of the records earlier polls returned, at most once a second; the application
//! never commits.
//!
//! - Loss window: none while every record a poll returns is processed before the next poll (the
//!   auto-commit covers only records already handed out). Records handed to another task and
//!   not yet processed when the consumer crashes are lost: a later auto-commit covered them.
//! - Duplicate window: everything processed since the last auto-commit, up to
//!   `auto.commit.interval.ms` worth of records. A replacement member re-reads all of it.
//!
//! The example processes orders as they arrive (a batch every 100 ms), waits until the group has
//! an auto-committed offset, processes one more batch and crashes (drops the consumer without
//! `close`, which would have committed) well before the next auto-commit is due. A replacement
//! member then starts at the last auto-commit, and the example counts what it processed again.
//! `cargo run --example auto_commit` prints the figures; `tests/commit_strategies.rs` asserts them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use brook::client::consumer::NoopRebalanceListener;
use brook::client::{ConsumerRecord, OffsetSpec};
use brook::{Cluster, Consumer, Producer, ProducerRecord, TopicPartition};
use tokio::time::Instant;

/// Errors of the example (the cluster's, the client's).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// `auto.commit.interval.ms`.
pub const AUTO_COMMIT_INTERVAL: Duration = Duration::from_millis(1000);
/// Records per batch; one batch arrives every [`BATCH_EVERY`].
pub const BATCH: usize = 5;
/// How often a batch of orders arrives.
const BATCH_EVERY: Duration = Duration::from_millis(100);
const TOPIC: &str = "auto-commit-orders";
const GROUP: &str = "auto-commit";
const PARTITIONS: i32 = 3;

/// What the run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Records in the topic.
    pub produced: usize,
    /// Records the first member processed before its crash.
    pub processed_before_crash: usize,
    /// The group's committed offsets at the crash (the last auto-commit).
    pub committed_at_crash: BTreeMap<TopicPartition, i64>,
    /// Records the first member processed at or after those offsets: since the last auto-commit.
    pub processed_since_last_auto_commit: usize,
    /// How long before the crash the last auto-commit was first seen.
    pub last_auto_commit_age: Duration,
    /// Records the replacement processed.
    pub processed_by_replacement: usize,
    /// Records both members processed: the duplicates.
    pub processed_twice: usize,
    /// Records neither member processed.
    pub missing: usize,
}

/// A member of the group with auto-commit on and short group timeouts.
async fn member(cluster: &Cluster) -> Result<Consumer, Error> {
    let mut consumer = cluster
        .consumer()
        .group_id(GROUP)
        .from_beginning()
        .config("enable.auto.commit", "true")
        .config(
            "auto.commit.interval.ms",
            AUTO_COMMIT_INTERVAL.as_millis().to_string(),
        )
        .config("session.timeout.ms", "1000")
        .config("heartbeat.interval.ms", "100")
        .config("max.poll.interval.ms", "3000")
        .build()
        .await?;
    consumer.subscribe(vec![TOPIC.to_string()], NoopRebalanceListener)?;
    Ok(consumer)
}

/// Sends the next batch of orders and waits for their acknowledgements.
async fn produce_batch(producer: &Producer, next: &mut usize) -> Result<(), Error> {
    let mut acks = Vec::new();
    for _ in 0..BATCH {
        let i = *next;
        *next += 1;
        let r = ProducerRecord::with_key(TOPIC, format!("order-{i}"), format!("order {i}"));
        acks.push(producer.send(r).await?);
    }
    for ack in acks {
        ack.await?;
    }
    Ok(())
}

/// Polls and processes until `seen` holds `want` records; fails at `deadline`.
async fn process_until(
    consumer: &mut Consumer,
    seen: &mut Vec<(i32, i64)>,
    want: usize,
    deadline: Instant,
) -> Result<(), Error> {
    while seen.len() < want {
        if Instant::now() >= deadline {
            return Err(format!("only {} of {want} records arrived in time", seen.len()).into());
        }
        let records: Vec<ConsumerRecord> = consumer.poll(Duration::from_millis(100)).await?;
        seen.extend(records.iter().map(|r| (r.partition, r.offset)));
    }
    Ok(())
}

/// Each partition's end offset (the next offset to be written).
async fn end_offsets(
    cluster: &Cluster,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, i64>, Error> {
    let admin = cluster.admin()?;
    let mut ends = BTreeMap::new();
    for tp in partitions {
        ends.insert(
            tp.clone(),
            admin.list_offsets(tp, OffsetSpec::Latest).await?,
        );
    }
    Ok(ends)
}

async fn committed(
    consumer: &Consumer,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<TopicPartition, i64>, Error> {
    Ok(consumer
        .committed(partitions)
        .await?
        .into_iter()
        .filter_map(|(tp, o)| o.map(|o| (tp, o)))
        .collect())
}

/// Runs the first member until one auto-commit happened and one more batch was processed,
/// crashes it, and lets a replacement read everything; counts the records processed twice.
pub async fn run(cluster: &Cluster) -> Result<Outcome, Error> {
    let rf = cluster.broker_ids().len().min(3) as i32;
    cluster.create_topic(TOPIC, PARTITIONS, rf).await?;
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();
    let producer = cluster.producer().build().await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut produced = 0;

    let mut first = member(cluster).await?;
    let mut seen_first = Vec::new();
    let mut arrivals = tokio::time::interval(BATCH_EVERY);
    // Orders arrive and are processed until the group has an auto-committed offset ...
    let commit_seen_at = loop {
        arrivals.tick().await;
        produce_batch(&producer, &mut produced).await?;
        process_until(&mut first, &mut seen_first, produced, deadline).await?;
        if !committed(&first, &partitions).await?.is_empty() {
            break Instant::now();
        }
    };
    // ... then one more batch, and the crash, long before the next auto-commit is due.
    arrivals.tick().await;
    produce_batch(&producer, &mut produced).await?;
    process_until(&mut first, &mut seen_first, produced, deadline).await?;
    let committed_at_crash = committed(&first, &partitions).await?;
    let last_auto_commit_age = commit_seen_at.elapsed();
    drop(first); // the crash: no close, so no final commit

    let since_commit = |&(p, o): &(i32, i64)| {
        o >= committed_at_crash
            .get(&TopicPartition::new(TOPIC, p))
            .copied()
            .unwrap_or(0)
    };
    let processed_since_last_auto_commit = seen_first.iter().filter(|r| since_commit(r)).count();

    // The replacement starts at the last auto-commit and reads everything after it.
    // It reads until it is at the end of every partition.
    let ends = end_offsets(cluster, &partitions).await?;
    let mut next: BTreeMap<TopicPartition, i64> = partitions
        .iter()
        .map(|tp| (tp.clone(), committed_at_crash.get(tp).copied().unwrap_or(0)))
        .collect();
    let mut replacement = member(cluster).await?;
    let mut seen_replacement = Vec::new();
    let mut union: BTreeSet<(i32, i64)> = seen_first.iter().copied().collect();
    while next.iter().any(|(tp, n)| *n < ends[tp]) {
        if Instant::now() >= deadline {
            return Err("the replacement did not read to the end in time".into());
        }
        let records = replacement.poll(Duration::from_millis(100)).await?;
        for r in &records {
            next.insert(TopicPartition::new(TOPIC, r.partition), r.offset + 1);
            union.insert((r.partition, r.offset));
            seen_replacement.push((r.partition, r.offset));
        }
    }
    replacement.close().await?;
    producer.close().await;

    let first_set: BTreeSet<(i32, i64)> = seen_first.iter().copied().collect();
    let processed_twice = seen_replacement
        .iter()
        .filter(|r| first_set.contains(r))
        .count();
    Ok(Outcome {
        produced,
        processed_before_crash: seen_first.len(),
        committed_at_crash,
        processed_since_last_auto_commit,
        last_auto_commit_age,
        processed_by_replacement: seen_replacement.len(),
        processed_twice,
        missing: produced - union.len(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cluster = Cluster::builder().brokers(1).start().await?;
    let o = run(&cluster).await?;
    let committed: Vec<String> = o
        .committed_at_crash
        .iter()
        .map(|(tp, off)| format!("{}:{off}", tp.partition))
        .collect();
    println!(
        "periodic auto-commit: auto.commit.interval.ms={}, {BATCH} orders every {} ms",
        AUTO_COMMIT_INTERVAL.as_millis(),
        BATCH_EVERY.as_millis()
    );
    println!(
        "member 1 processed {} records; last auto-commit {{{}}} seen {} ms before its crash",
        o.processed_before_crash,
        committed.join(" "),
        o.last_auto_commit_age.as_millis()
    );
    println!(
        "member 2 processed {} records from the last auto-commit on",
        o.processed_by_replacement
    );
    println!(
        "{} records were processed twice ({} processed since the last auto-commit), {} lost",
        o.processed_twice, o.processed_since_last_auto_commit, o.missing
    );
    cluster.shutdown().await?;
    Ok(())
}
