//! Commit after processing (seed §7.5.2, "처리 후 커밋": safe, at the cost of a commit per poll).
//! A group member processes every record a `poll` returned, then `commit_sync`s the positions,
//! so the group's committed offset never runs ahead of what was processed.
//!
//! - Loss window: none. Only processed records are ever committed.
//! - Duplicate window: the records of the poll in progress (at most `max.poll.records`) that
//!   were processed before a crash and not yet committed. A crash between polls (after the
//!   commit) replays nothing.
//!
//! The example crashes the member (drops it without `close`: no LeaveGroup, no commit) twice:
//! once right after a commit, once halfway through a batch. Each time a replacement member of the
//! same group starts exactly at the committed offsets, and the example counts the records both
//! members processed. `cargo run --example commit_after_processing` prints the figures;
//! `tests/commit_strategies.rs` asserts them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use brook::client::OffsetSpec;
use brook::client::consumer::NoopRebalanceListener;
use brook::{Cluster, Consumer, ProducerRecord, TopicPartition};
use tokio::time::Instant;

/// Errors of the example (the cluster's, the client's).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Records produced per run.
pub const RECORDS: usize = 30;
/// Records one `poll` returns at most.
pub const MAX_POLL_RECORDS: usize = 4;
/// Polls the first member processes and commits before it crashes.
const COMMITTED_POLLS: usize = 3;
const PARTITIONS: i32 = 3;

/// Where the first member crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashAt {
    /// Right after a `commit_sync`: nothing processed is uncommitted.
    BetweenPolls,
    /// After processing this many records of the next poll, before its commit.
    MidBatch(usize),
}

/// What one run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Where the first member crashed.
    pub crash: CrashAt,
    /// Records in the topic.
    pub produced: usize,
    /// Records the first member processed before its crash.
    pub processed_before_crash: usize,
    /// Of those, the ones processed after its last commit.
    pub processed_after_last_commit: usize,
    /// The group's committed offsets when the first member crashed.
    pub committed_at_crash: BTreeMap<TopicPartition, i64>,
    /// The first offset the replacement read, per partition it read anything from.
    pub replacement_started_at: BTreeMap<TopicPartition, i64>,
    /// Records the replacement processed.
    pub processed_by_replacement: usize,
    /// Records both members processed.
    pub duplicates: usize,
    /// Records neither member processed.
    pub missing: usize,
}

/// A member of `group` that commits by hand, with short group timeouts.
async fn member(cluster: &Cluster, group: &str) -> Result<Consumer, Error> {
    let mut consumer = cluster
        .consumer()
        .group_id(group)
        .from_beginning()
        .config("enable.auto.commit", "false")
        .config("max.poll.records", MAX_POLL_RECORDS.to_string())
        .config("session.timeout.ms", "1000")
        .config("heartbeat.interval.ms", "100")
        .config("max.poll.interval.ms", "3000")
        .build()
        .await?;
    consumer.subscribe(vec![topic_of(group)], NoopRebalanceListener)?;
    Ok(consumer)
}

fn topic_of(group: &str) -> String {
    format!("{group}-payments")
}

/// "Processing": remember which record was handled.
fn process(seen: &mut Vec<(i32, i64)>, records: &[brook::client::ConsumerRecord]) {
    seen.extend(records.iter().map(|r| (r.partition, r.offset)));
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

/// Polls until a poll returns records, or fails at `deadline`.
async fn poll_some(
    consumer: &mut Consumer,
    deadline: Instant,
) -> Result<Vec<brook::client::ConsumerRecord>, Error> {
    loop {
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if !records.is_empty() {
            return Ok(records);
        }
        if Instant::now() >= deadline {
            return Err("no records arrived within the deadline".into());
        }
    }
}

/// Produces [`RECORDS`] records, runs a member that commits after each poll until it crashes at
/// `crash`, then a replacement that reads the rest; counts what both processed.
pub async fn run(cluster: &Cluster, crash: CrashAt) -> Result<Outcome, Error> {
    let group = match crash {
        CrashAt::BetweenPolls => "after-processing-between-polls",
        CrashAt::MidBatch(_) => "after-processing-mid-batch",
    };
    let topic = topic_of(group);
    let rf = cluster.broker_ids().len().min(3) as i32;
    cluster.create_topic(&topic, PARTITIONS, rf).await?;
    let producer = cluster.producer().build().await?;
    let mut acks = Vec::new();
    for i in 0..RECORDS {
        let record =
            ProducerRecord::with_key(topic.as_str(), format!("order-{i}"), format!("paid {i}"));
        acks.push(producer.send(record).await?);
    }
    for ack in acks {
        ack.await?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();

    // The first member: process a poll's records, then commit them.
    let mut first = member(cluster, group).await?;
    let mut seen_first = Vec::new();
    for _ in 0..COMMITTED_POLLS {
        let records = poll_some(&mut first, deadline).await?;
        process(&mut seen_first, &records);
        first.commit_sync().await?;
    }
    let committed_through = seen_first.len();
    if let CrashAt::MidBatch(n) = crash {
        let records = poll_some(&mut first, deadline).await?;
        process(&mut seen_first, &records[..n.min(records.len())]);
        // ... and the crash comes before `commit_sync`.
    }
    let committed_at_crash: BTreeMap<TopicPartition, i64> = first
        .committed(&partitions)
        .await?
        .into_iter()
        .filter_map(|(tp, o)| o.map(|o| (tp, o)))
        .collect();
    drop(first); // the crash: no close, no LeaveGroup, no commit

    // The replacement: joins once the group has dropped the dead member (its session expires),
    // and starts from the group's committed offsets.
    // It reads until it is at the end of every partition.
    let ends = end_offsets(cluster, &partitions).await?;
    let mut next: BTreeMap<TopicPartition, i64> = partitions
        .iter()
        .map(|tp| (tp.clone(), committed_at_crash.get(tp).copied().unwrap_or(0)))
        .collect();
    let mut replacement = member(cluster, group).await?;
    let mut seen_replacement = Vec::new();
    let mut started_at = BTreeMap::new();
    let mut union: BTreeSet<(i32, i64)> = seen_first.iter().copied().collect();
    while next.iter().any(|(tp, n)| *n < ends[tp]) {
        let records = poll_some(&mut replacement, deadline).await?;
        for r in &records {
            let tp = TopicPartition::new(r.topic.as_str(), r.partition);
            started_at.entry(tp.clone()).or_insert(r.offset);
            next.insert(tp, r.offset + 1);
            union.insert((r.partition, r.offset));
        }
        process(&mut seen_replacement, &records);
        replacement.commit_sync().await?;
    }
    replacement.close().await?;
    producer.close().await;

    let first_set: BTreeSet<(i32, i64)> = seen_first.iter().copied().collect();
    let duplicates = seen_replacement
        .iter()
        .filter(|r| first_set.contains(r))
        .count();
    Ok(Outcome {
        crash,
        produced: RECORDS,
        processed_before_crash: seen_first.len(),
        processed_after_last_commit: seen_first.len() - committed_through,
        committed_at_crash,
        replacement_started_at: started_at,
        processed_by_replacement: seen_replacement.len(),
        duplicates,
        missing: RECORDS - union.len(),
    })
}

fn offsets(map: &BTreeMap<TopicPartition, i64>) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(tp, o)| format!("{}:{o}", tp.partition))
        .collect();
    format!("{{{}}}", parts.join(" "))
}

fn report(o: &Outcome) {
    let at = match o.crash {
        CrashAt::BetweenPolls => "between polls (right after a commit)".to_string(),
        CrashAt::MidBatch(n) => {
            format!("mid-batch ({n} records of a poll processed, not committed)")
        }
    };
    println!("crash {at}:");
    println!(
        "  member 1 processed {} records, committed {}, then crashed",
        o.processed_before_crash,
        offsets(&o.committed_at_crash)
    );
    println!(
        "  member 2 started at {} and processed {} records",
        offsets(&o.replacement_started_at),
        o.processed_by_replacement
    );
    println!(
        "  {} records were processed twice (processed after the last commit: {}), {} lost",
        o.duplicates, o.processed_after_last_commit, o.missing
    );
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cluster = Cluster::builder().brokers(1).start().await?;
    println!(
        "commit after processing: {RECORDS} records, {PARTITIONS} partitions, \
         max.poll.records={MAX_POLL_RECORDS}, commit_sync after every poll"
    );
    for crash in [CrashAt::BetweenPolls, CrashAt::MidBatch(2)] {
        report(&run(&cluster, crash).await?);
    }
    cluster.shutdown().await?;
    Ok(())
}
