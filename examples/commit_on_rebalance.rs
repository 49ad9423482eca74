//! Commit on rebalance (seed §7.5.2, "리밸런스 시 커밋": needed for a clean hand-over). A
//! [`ConsumerRebalanceListener`] commits the offsets of the records processed so far in
//! `on_partitions_revoked`, which `poll` calls before a rebalance takes partitions away and
//! `close` calls before the member leaves; the commit runs before the rebalance goes on, so the
//! next owner starts exactly after the last processed record. The members commit nowhere else.
//!
//! - Loss window: none. Only processed offsets are committed.
//! - Duplicate window across a clean rebalance (a member joins, a member closes): zero. A crash
//!   runs no callback: then the window is everything since the last commit, which here is the
//!   last rebalance, so real applications combine this listener with commit after processing
//!   (`commit_async` per poll, the listener's commit_sync as the last word).
//! - `on_partitions_lost` (the member was fenced or its session expired) must not commit: the
//!   partitions may already belong to someone else. This listener only forgets them.
//!
//! The example runs member 1 alone, lets member 2 join (a rebalance splits the partitions), then
//! closes member 1 (member 2 takes everything over), producing records all along, and counts the
//! records consumed twice. `cargo run --example commit_on_rebalance` prints the figures;
//! `tests/commit_strategies.rs` asserts them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook::client::consumer::{ConsumerRebalanceListener, RebalanceContext};
use brook::{Cluster, Producer, ProducerRecord, TopicPartition};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Errors of the example (the cluster's, the client's).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Records produced in each of the three phases.
pub const PER_PHASE: usize = 40;
const TOPIC: &str = "rebalance-orders";
const GROUP: &str = "commit-on-rebalance";
const PARTITIONS: i32 = 4;

/// Per partition, the offset after the last processed record, not yet committed: what the
/// processing loop and the listener share.
type Processed = Arc<Mutex<BTreeMap<TopicPartition, i64>>>;

/// Commits the processed offsets of revoked partitions; forgets lost ones.
struct CommitOnRevoke {
    member: usize,
    processed: Processed,
    events: Arc<Mutex<Vec<String>>>,
}

impl ConsumerRebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let mut processed = self.processed.lock().unwrap_or_else(|e| e.into_inner());
        let offsets: BTreeMap<TopicPartition, i64> = partitions
            .iter()
            .filter_map(|tp| processed.remove(tp).map(|o| (tp.clone(), o)))
            .collect();
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!(
                "member {} revoked {} and committed {}",
                self.member,
                names(partitions),
                offsets_text(&offsets)
            ));
        ctx.commit(offsets);
    }

    fn on_partitions_assigned(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!(
                "member {} was assigned {}",
                self.member,
                names(partitions)
            ));
    }

    fn on_partitions_lost(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let mut processed = self.processed.lock().unwrap_or_else(|e| e.into_inner());
        for tp in partitions {
            processed.remove(tp);
        }
    }
}

fn names(partitions: &[TopicPartition]) -> String {
    let p: Vec<String> = partitions
        .iter()
        .map(|tp| tp.partition.to_string())
        .collect();
    format!("[{}]", p.join(","))
}

fn offsets_text(offsets: &BTreeMap<TopicPartition, i64>) -> String {
    let p: Vec<String> = offsets
        .iter()
        .map(|(tp, o)| format!("{}:{o}", tp.partition))
        .collect();
    format!("{{{}}}", p.join(" "))
}

/// What a running member shows the example.
#[derive(Debug, Default)]
struct View {
    consumed: Vec<(i32, i64)>,
    assignment: Vec<TopicPartition>,
}

/// A member polling in its own task until told to close.
struct Member {
    view: Arc<Mutex<View>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Result<(), Error>>,
}

impl Member {
    async fn start(
        cluster: &Cluster,
        n: usize,
        events: &Arc<Mutex<Vec<String>>>,
    ) -> Result<Member, Error> {
        let mut consumer = cluster
            .consumer()
            .group_id(GROUP)
            .from_beginning()
            .config("enable.auto.commit", "false")
            .config("max.poll.records", "10")
            .config("session.timeout.ms", "1000")
            .config("heartbeat.interval.ms", "100")
            .config("max.poll.interval.ms", "3000")
            .build()
            .await?;
        let processed: Processed = Arc::default();
        let listener = CommitOnRevoke {
            member: n,
            processed: processed.clone(),
            events: events.clone(),
        };
        consumer.subscribe(vec![TOPIC.to_string()], listener)?;
        let view = Arc::new(Mutex::new(View::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (v, s) = (view.clone(), stop.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                let records = consumer.poll(Duration::from_millis(100)).await?;
                // Process, then note the processed offsets for the listener.
                let mut view = v.lock().unwrap_or_else(|e| e.into_inner());
                let mut done = processed.lock().unwrap_or_else(|e| e.into_inner());
                for r in &records {
                    view.consumed.push((r.partition, r.offset));
                    done.insert(
                        TopicPartition::new(r.topic.as_str(), r.partition),
                        r.offset + 1,
                    );
                }
                view.assignment = consumer.assignment();
            }
            // `close` revokes every partition (the listener commits), then leaves the group.
            consumer.close().await?;
            Ok(())
        });
        Ok(Member { view, stop, task })
    }

    fn consumed(&self) -> Vec<(i32, i64)> {
        self.view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .consumed
            .clone()
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.view
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .assignment
            .clone()
    }

    async fn close(self) -> Result<Vec<(i32, i64)>, Error> {
        self.stop.store(true, Ordering::Relaxed);
        let consumed = self.view.clone();
        self.task.await??;
        let view = consumed.lock().unwrap_or_else(|e| e.into_inner());
        Ok(view.consumed.clone())
    }
}

/// Waits until `condition` holds, checking every 20 ms; fails with `what` at `deadline`.
async fn wait_for(
    what: &str,
    deadline: Instant,
    mut condition: impl FnMut() -> bool,
) -> Result<(), Error> {
    while !condition() {
        if Instant::now() >= deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn produce(producer: &Producer, from: usize, n: usize) -> Result<(), Error> {
    let mut acks = Vec::new();
    // Every partition gets records in every phase, so a member that read a phase's records of
    // a partition has also read whatever it re-read there first: no duplicate can hide.
    for i in from..from + n {
        let r = ProducerRecord::with_key(TOPIC, format!("order-{i}"), format!("order {i}"))
            .partition(i as i32 % PARTITIONS);
        acks.push(producer.send(r).await?);
    }
    for ack in acks {
        ack.await?;
    }
    Ok(())
}

/// What the run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Records in the topic.
    pub produced: usize,
    /// Records member 1 consumed.
    pub consumed_by_first: usize,
    /// Records member 2 consumed.
    pub consumed_by_second: usize,
    /// Records consumed by more than one member (or twice by one).
    pub consumed_twice: usize,
    /// Records nobody consumed.
    pub missing: usize,
    /// The listeners' callbacks, in order.
    pub events: Vec<String>,
}

/// Member 1 alone, member 2 joins, member 1 closes; records produced in each phase.
pub async fn run(cluster: &Cluster) -> Result<Outcome, Error> {
    let rf = cluster.broker_ids().len().min(3) as i32;
    cluster.create_topic(TOPIC, PARTITIONS, rf).await?;
    let producer = cluster.producer().build().await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = Arc::new(Mutex::new(Vec::new()));
    let distinct = |members: &[&Member]| {
        members
            .iter()
            .flat_map(|m| m.consumed())
            .collect::<BTreeSet<_>>()
            .len()
    };

    produce(&producer, 0, PER_PHASE).await?;
    let first = Member::start(cluster, 1, &events).await?;
    wait_for("member 1 to consume phase 1", deadline, || {
        distinct(&[&first]) == PER_PHASE
    })
    .await?;

    // Member 2 joins: member 1 revokes (and commits), the partitions are split.
    let second = Member::start(cluster, 2, &events).await?;
    wait_for(
        "the partitions to be split between both members",
        deadline,
        || {
            let (a, b) = (first.assignment(), second.assignment());
            !a.is_empty() && !b.is_empty() && a.len() + b.len() == PARTITIONS as usize
        },
    )
    .await?;
    produce(&producer, PER_PHASE, PER_PHASE).await?;
    wait_for("both members to consume phase 2", deadline, || {
        distinct(&[&first, &second]) == 2 * PER_PHASE
    })
    .await?;

    // Member 1 closes: its revoke commits, member 2 takes every partition over.
    let consumed_by_first = first.close().await?;
    wait_for("member 2 to own every partition", deadline, || {
        second.assignment().len() == PARTITIONS as usize
    })
    .await?;
    produce(&producer, 2 * PER_PHASE, PER_PHASE).await?;
    wait_for("member 2 to consume phase 3", deadline, || {
        consumed_by_first
            .iter()
            .copied()
            .chain(second.consumed())
            .collect::<BTreeSet<_>>()
            .len()
            == 3 * PER_PHASE
    })
    .await?;
    let consumed_by_second = second.close().await?;
    producer.close().await;

    let all: Vec<(i32, i64)> = consumed_by_first
        .iter()
        .chain(&consumed_by_second)
        .copied()
        .collect();
    let distinct = all.iter().collect::<BTreeSet<_>>().len();
    let events = events.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Outcome {
        produced: 3 * PER_PHASE,
        consumed_by_first: consumed_by_first.len(),
        consumed_by_second: consumed_by_second.len(),
        consumed_twice: all.len() - distinct,
        missing: 3 * PER_PHASE - distinct,
        events,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cluster = Cluster::builder().brokers(1).start().await?;
    let o = run(&cluster).await?;
    println!(
        "commit on rebalance: {} records, {PARTITIONS} partitions; commits only in on_partitions_revoked",
        o.produced
    );
    for e in &o.events {
        println!("  {e}");
    }
    println!(
        "member 1 consumed {}, member 2 consumed {}: {} records were consumed twice, {} lost",
        o.consumed_by_first, o.consumed_by_second, o.consumed_twice, o.missing
    );
    cluster.shutdown().await?;
    Ok(())
}
