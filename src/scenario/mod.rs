//! `brook verify SCENARIO` (SPEC §11, reference V6–V11): Kafka's produce–consume–validate
//! methodology in one call. Each run starts an embedded cluster, creates a topic (RF 3,
//! `min.insync.replicas=2`), runs the verifiable consumer and a throttled verifiable producer
//! concurrently with their events captured in memory, injects the scenario's fault `rounds` times
//! (waiting for the cluster to recover between rounds), stops the producer, lets the consumer
//! drain, reads the whole log once more with a fresh consumer (the final read: an acknowledged
//! value that a truncation removed after the consumer saw it is still lost), and hands the three
//! event streams to the checker.
//!
//! Every run states what its configuration promises: no loss iff acks=all with min ISR ≥ 2 and
//! no unclean election (and, for a whole-cluster power loss, only with `flush.messages=1`: with
//! any other policy every replica may lose its unflushed tail at once); no duplicates iff
//! idempotence. Loss the configuration allows is reported as expected; a run fails only when a
//! promise is broken or the cluster does not recover.
//!
//! `Mode::Process` runs the brokers as `brook serve` child processes (`Cluster::processes`):
//! crashes are SIGKILL (the page cache survives), clean stops SIGTERM, and the faults a signal
//! cannot make reach the children as commands on their stdin: network faults applied by each
//! child's dialer, and power loss (files cut back to their last fsync, then exit).

mod capture;
mod controller_faults;
mod faults;
mod group;
mod report;
mod run;
mod workload;

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use brook_client::Acks;
use brook_verify::checker::{self, Promises};
use tokio::time::Instant;

pub use capture::{Capture, CaptureWriter};
pub use report::{RunConfig, ScenarioReport, table};
pub(crate) use run::{Rng, Run};
use workload::{availability, final_read, spawn_consumer, spawn_producer};

use brook_cluster::{Cluster, ClusterError};

/// The fault scenarios. `ALL` lists them in the order `brook verify all` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// `leader-hard-kill`: a partition's leader (picked by the seed; it may be the active
    /// controller) loses power while its followers lag 200 ms behind (still in the ISR); in
    /// process mode it is SIGKILLed instead. Restarted after a pause.
    LeaderHardKill,
    /// `leader-clean-bounce`: a partition's leader shuts down cleanly and restarts after a
    /// pause.
    LeaderCleanBounce,
    /// `controller-restart`: the active controller crashes and comes back after 300–1500 ms.
    ControllerRestart,
    /// `controller-hard-kill`: the active controller loses power and stays down until another
    /// voter is active, its partitions have new leaders and the producer is acknowledged again.
    ControllerHardKill,
    /// `controller-isolation`: the active controller is cut off from every broker and client;
    /// its metadata must not change while cut off, and it follows the new controller after the
    /// heal.
    ControllerIsolation,
    /// `rolling-restart` (V10): every broker in turn is shut down cleanly and restarted, the
    /// cluster healthy again before the next.
    RollingRestart,
    /// `unclean-election` (V11): the three replicas of a partition stop one by one and the one
    /// that missed the latest writes comes back first; run twice, with
    /// `unclean.leader.election.enable` on (its acks are lost: expected) and off (the partition
    /// stays offline until an in-sync replica returns). 5 brokers, 3 controller voters.
    UncleanElection,
    /// `leader-isolation`: every link of a partition's leader is cut (clients too), healed
    /// after a pause.
    LeaderIsolation,
    /// `slow-follower` (V9): a follower's links are slowed by 1000 ms, past
    /// `replica.lag.time.max.ms` (500 ms here); the ISR must shrink without it and re-expand.
    SlowFollower,
    /// `power-loss`: every broker loses power at once (unsynced data dropped everywhere), then
    /// all restart; run with `flush.messages=1` and with never unless `--flush-messages` is
    /// given.
    PowerLoss,
    /// `consumer-bounce`: three members of a consumer group (commit after processing) share a
    /// 6-partition topic; in turn a member is hard-killed (no commit, no LeaveGroup) and
    /// replaced, a member is bounced cleanly, and the broker coordinating the group crashes and
    /// restarts. Checked with group semantics (see `group`).
    ConsumerBounce,
    /// `consumer-rebalance`: the group scales 1 → 3 → 1 members (clean joins and leaves), with
    /// the eager `range` assignor and with `cooperative-sticky`; no record may be consumed
    /// twice.
    ConsumerRebalance,
}

impl Scenario {
    /// Every scenario, in the order `brook verify all` runs them.
    pub const ALL: [Scenario; 12] = [
        Scenario::LeaderHardKill,
        Scenario::LeaderCleanBounce,
        Scenario::ControllerRestart,
        Scenario::ControllerHardKill,
        Scenario::ControllerIsolation,
        Scenario::RollingRestart,
        Scenario::UncleanElection,
        Scenario::LeaderIsolation,
        Scenario::SlowFollower,
        Scenario::PowerLoss,
        Scenario::ConsumerBounce,
        Scenario::ConsumerRebalance,
    ];

    /// The scenario's name on the command line (`brook verify NAME`) and in the reports;
    /// [`FromStr`] parses it back.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::LeaderHardKill => "leader-hard-kill",
            Scenario::LeaderCleanBounce => "leader-clean-bounce",
            Scenario::ControllerRestart => "controller-restart",
            Scenario::ControllerHardKill => "controller-hard-kill",
            Scenario::ControllerIsolation => "controller-isolation",
            Scenario::RollingRestart => "rolling-restart",
            Scenario::UncleanElection => "unclean-election",
            Scenario::LeaderIsolation => "leader-isolation",
            Scenario::SlowFollower => "slow-follower",
            Scenario::PowerLoss => "power-loss",
            Scenario::ConsumerBounce => "consumer-bounce",
            Scenario::ConsumerRebalance => "consumer-rebalance",
        }
    }

    /// Whether the scenario's faults hit a consumer group (its members and coordinator) rather
    /// than the partitions: run by `group::run_group_variant`, checked with group semantics.
    pub fn is_group(self) -> bool {
        matches!(self, Scenario::ConsumerBounce | Scenario::ConsumerRebalance)
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scenario::ALL
            .into_iter()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| format!("unknown scenario {s:?}"))
    }
}

/// Where the brokers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `brook::Cluster` in this process (faults at its disk and connection layer).
    #[default]
    InProcess,
    /// Real `brook serve` children: crashes are SIGKILL (a killed process's page cache
    /// survives), clean stops SIGTERM; network faults and power loss (files cut back to their
    /// last fsync) reach them as commands on their stdin.
    Process,
}

/// How to run a scenario. `Default` is what `brook verify SCENARIO` runs without flags (except the
/// seed, which the CLI draws from the clock and prints).
#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    /// Where the brokers run (`--mode`, default in process).
    pub mode: Mode,
    /// The producer's `acks` (`--acks`, default all). With acks=1 no loss is promised.
    pub acks: Acks,
    /// The producer's `enable.idempotence` (`--idempotence`; default true, which requires
    /// acks=all). Without it duplicates are allowed.
    pub idempotence: bool,
    /// The topic's `flush.messages`; `None` = never. For `power-loss`, `None` runs both
    /// `flush.messages=1` and never.
    pub flush_messages: Option<u64>,
    /// Times the scenario's fault is injected, with a recovery between rounds (`--rounds`,
    /// default 3).
    pub rounds: u32,
    /// At least this many values are sent (`--messages`, default 5000; more if the faults
    /// take longer).
    pub messages: u64,
    /// Producer throttle in msg/s (`--throughput`, default 2000; the recovery figure relies on
    /// a throttle).
    pub throughput: u64,
    /// Seeds the fault schedule (`--seed`): which partition's leader, which follower, timing
    /// jitter; also the topic name and the producer's value prefix.
    pub seed: u64,
    /// Write each run's producer, consumer and final-read event logs here (`--dump-dir`;
    /// `NAME.producer.jsonl`, `NAME.consumer.jsonl`, `NAME.final.jsonl`), for `brook verify
    /// check`.
    pub dump_dir: Option<std::path::PathBuf>,
    /// The `brook` executable `Mode::Process` spawns (`None`: this executable, which is right
    /// for the CLI; tests pass `env!("CARGO_BIN_EXE_brook")`).
    pub brook_binary: Option<std::path::PathBuf>,
}

impl Default for ScenarioOptions {
    fn default() -> Self {
        ScenarioOptions {
            mode: Mode::InProcess,
            acks: Acks::All,
            idempotence: true,
            flush_messages: None,
            rounds: 3,
            messages: 5000,
            throughput: 2000,
            seed: 1,
            dump_dir: None,
            brook_binary: None,
        }
    }
}

/// Why a scenario could not be run at all (a run that breaks a promise is a report, not this).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The options ask for a combination that cannot run (idempotence without acks=all, which
    /// Kafka's producer refuses too); nothing was started.
    #[error("UNSUPPORTED: {0}")]
    Unsupported(String),
    /// The embedded cluster did not start, the topic could not be created, or the cluster was
    /// not healthy (every partition led, full ISR) within 30 s before the first fault.
    #[error("{0}")]
    Cluster(#[from] ClusterError),
    /// An error of the verifiable producer or consumer tools (`brook_verify::tool`). The
    /// scenario runner itself reports a tool that ends with an error as a violation in the
    /// run's report instead, so this is only for callers converting with `?`.
    #[error("{0}")]
    Tool(#[from] brook_verify::tool::ToolError),
}

/// One concrete run of a scenario: the topic settings that differ between variants.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    /// The report's name: the scenario's, with the variant in parentheses when there are
    /// several (`unclean-election (unclean=on)`, `power-loss (flush=1)`).
    pub name: String,
    /// The scenario whose fault the rounds inject.
    pub scenario: Scenario,
    /// The topic's `unclean.leader.election.enable`.
    pub unclean: bool,
    /// The topic's `flush.messages`; `None` = never.
    pub flush_messages: Option<u64>,
    /// Brokers in the cluster (3; 5 for `unclean-election`).
    pub brokers: usize,
    /// Controller voters (brokers 1..=n); `None`: every broker votes.
    pub voters: Option<usize>,
    /// Partitions of the topic (one per broker; 6 for the group scenarios, two per member).
    pub partitions: i32,
    /// The group members' `partition.assignment.strategy`; `None`: the client's default.
    pub strategy: Option<String>,
}

fn variants(scenario: Scenario, options: &ScenarioOptions) -> Vec<Variant> {
    let base = Variant {
        name: scenario.name().to_string(),
        scenario,
        unclean: false,
        flush_messages: options.flush_messages,
        // Every broker is a controller voter, and every fault may hit the active controller,
        // except where a scenario must keep a majority of voters up. Unclean election stops
        // all three replicas of a partition at once: with every broker voting that is a
        // majority of 3, 4 or 5 voters, and nothing could be elected, so it runs on 5 brokers
        // of which 1–3 vote, on a partition that has 4 and 5 among its replicas (at most one
        // voter: two of three voters stay up, and the one that goes down may be the active
        // controller).
        brokers: 3,
        voters: None,
        partitions: 3,
        strategy: None,
    };
    let base = match scenario {
        Scenario::UncleanElection => Variant {
            brokers: 5,
            voters: Some(UNCLEAN_VOTERS),
            partitions: 5,
            ..base
        },
        Scenario::ConsumerBounce | Scenario::ConsumerRebalance => Variant {
            partitions: 6,
            ..base
        },
        _ => base,
    };
    let with = |name: String, unclean: bool, flush: Option<u64>| Variant {
        name,
        unclean,
        flush_messages: flush,
        ..base.clone()
    };
    match scenario {
        Scenario::UncleanElection => vec![
            with(
                format!("{} (unclean=on)", scenario.name()),
                true,
                base.flush_messages,
            ),
            with(
                format!("{} (unclean=off)", scenario.name()),
                false,
                base.flush_messages,
            ),
        ],
        Scenario::PowerLoss if options.flush_messages.is_none() => vec![
            with(format!("{} (flush=1)", scenario.name()), false, Some(1)),
            with(format!("{} (flush=never)", scenario.name()), false, None),
        ],
        Scenario::PowerLoss => {
            let f = options.flush_messages;
            let label = f.map_or("never".to_string(), |n| n.to_string());
            vec![with(
                format!("{} (flush={label})", scenario.name()),
                false,
                f,
            )]
        }
        Scenario::ConsumerRebalance => ["range", "cooperative-sticky"]
            .into_iter()
            .map(|strategy| Variant {
                name: format!("{} ({strategy})", scenario.name()),
                strategy: Some(strategy.to_string()),
                ..base.clone()
            })
            .collect(),
        _ => vec![base],
    }
}

/// What a variant's configuration promises.
fn promises(variant: &Variant, options: &ScenarioOptions) -> Promises {
    let no_loss = options.acks == Acks::All
        && MIN_INSYNC >= 2
        && !variant.unclean
        && (variant.scenario != Scenario::PowerLoss || variant.flush_messages == Some(1));
    Promises {
        no_loss,
        no_duplicates: options.idempotence,
        no_redelivery: true,
    }
}

const MIN_INSYNC: u32 = 2;
/// Controller voters of the unclean-election cluster (see [`variants`]).
const UNCLEAN_VOTERS: usize = 3;
const REPLICATION_FACTOR: i32 = 3;
/// Bound on every wait for the cluster (leader elected, ISR back to full, a controller failover).
pub(crate) const WAIT: Duration = Duration::from_secs(30);
/// The consumer is done when it saw every acked value, or saw nothing new for this long.
const DRAIN_IDLE: Duration = Duration::from_secs(3);
const DRAIN_MAX: Duration = Duration::from_secs(60);
/// The final read stops after this long without a new record (what is gone never arrives).
const FINAL_READ_IDLE: Duration = Duration::from_secs(2);
/// After the faults, the producer must be acknowledged again (V6: "still making progress").
const PROGRESS_ACKS: usize = 5;

/// Runs every variant of `scenario` (two for `unclean-election`, two for `power-loss` without
/// `flush_messages`, else one), each on a fresh cluster, and returns one report per variant.
///
/// # Errors
///
/// [`ScenarioError`] when a run cannot happen at all; a run that breaks a promise or does not
/// recover is a report with [`ScenarioReport::violations`], not an error.
pub async fn run(
    scenario: Scenario,
    options: &ScenarioOptions,
) -> Result<Vec<ScenarioReport>, ScenarioError> {
    if options.idempotence && options.acks != Acks::All {
        // Kafka's rule too: the producer refuses the combination, so say so before any cluster.
        return Err(ScenarioError::Unsupported(
            "idempotence requires acks=all; use --idempotence false with --acks 1".into(),
        ));
    }
    let mut out = Vec::new();
    for variant in variants(scenario, options) {
        out.push(run_variant(&variant, options).await?);
    }
    Ok(out)
}

/// Runs every scenario in turn (`brook verify all`), in [`Scenario::ALL`] order.
///
/// # Errors
///
/// The first [`ScenarioError`] of any scenario; the reports of the scenarios before it are
/// dropped.
pub async fn run_all(options: &ScenarioOptions) -> Result<Vec<ScenarioReport>, ScenarioError> {
    let mut out: Vec<ScenarioReport> = Vec::new();
    for s in Scenario::ALL {
        out.extend(run(s, options).await?);
    }
    Ok(out)
}

async fn start_cluster(
    variant: &Variant,
    options: &ScenarioOptions,
) -> Result<Cluster, ClusterError> {
    let mut builder = Cluster::builder()
        .brokers(variant.brokers)
        .controller_voters(variant.voters.unwrap_or(variant.brokers))
        .broker_config("broker.session.timeout.ms", "1000")
        .broker_config("replica.lag.time.max.ms", "500")
        .broker_config("replica.fetch.wait.max.ms", "100")
        .startup_timeout(WAIT);
    if options.mode == Mode::Process {
        let binary = match &options.brook_binary {
            Some(b) => b.clone(),
            None => std::env::current_exe().map_err(|source| ClusterError::Io {
                what: "find the `brook` executable for --mode process".into(),
                source,
            })?,
        };
        builder = builder.processes(binary);
    }
    builder.start().await
}

/// Creates the topic; for unclean election, tries names until some partition has at most one
/// controller voter among its replicas (replica assignment is a function of the name, so this
/// is deterministic).
async fn create_topic(
    cluster: &Cluster,
    variant: &Variant,
    seed: u64,
) -> Result<(String, i32), ClusterError> {
    let partitions = variant.partitions;
    for attempt in 0..20 {
        let topic = format!("verify-{seed}-{attempt}");
        let mut create = cluster
            .create_topic(&topic, partitions, REPLICATION_FACTOR)
            .config("min.insync.replicas", MIN_INSYNC.to_string())
            .config(
                "unclean.leader.election.enable",
                variant.unclean.to_string(),
            );
        if let Some(f) = variant.flush_messages {
            create = create.config("flush.messages", f.to_string());
        }
        create.await?;
        if variant.scenario != Scenario::UncleanElection {
            return Ok((topic, partitions));
        }
        let view = cluster.view().await;
        if (0..partitions).any(|p| voters_among(variant, &view.replicas(&topic, p)) <= 1) {
            return Ok((topic, partitions));
        }
    }
    Err(ClusterError::UnknownTopic(
        "no topic name gave a partition with at most one controller voter".into(),
    ))
}

/// How many of `replicas` are controller voters in `variant`'s cluster.
pub(crate) fn voters_among(variant: &Variant, replicas: &[i32]) -> usize {
    let voters = variant.voters.unwrap_or(variant.brokers) as i32;
    replicas.iter().filter(|r| **r <= voters).count()
}

async fn run_variant(
    variant: &Variant,
    options: &ScenarioOptions,
) -> Result<ScenarioReport, ScenarioError> {
    if variant.scenario.is_group() {
        return group::run_group_variant(variant, options).await;
    }
    let cluster = start_cluster(variant, options).await?;
    let (topic, partitions) = create_topic(&cluster, variant, options.seed).await?;
    let mut run = Run {
        cluster,
        topic: topic.clone(),
        partitions,
        rng: Rng::new(options.seed, &variant.name),
        produced: Capture::new(),
        faults: Vec::new(),
        notes: Vec::new(),
    };
    run.wait_healthy().await?;
    let consumed = Capture::new();
    let mut violations = Vec::new();

    // V6: the consumer starts first, then the producer.
    let (consumer_stop, consumer_task) = spawn_consumer(&run, "group", &consumed);
    let (producer_stop, producer_task) = spawn_producer(&run, options);

    // V6: faults begin once the producer is acknowledged and the consumer has received.
    let started = Instant::now();
    while run.produced.state().acks.len() < PROGRESS_ACKS || consumed.state().consumed == 0 {
        if started.elapsed() > WAIT || producer_task.is_finished() || consumer_task.is_finished() {
            violations.push("no acknowledgement or no consumption before the first fault".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    if violations.is_empty() {
        for round in 0..options.rounds {
            if let Err(e) = faults::inject(&mut run, variant, round).await {
                violations.push(format!("round {}: {e}", round + 1));
                break;
            }
            // V6: the producer must make progress after each fault.
            if !run.wait_acks(PROGRESS_ACKS, WAIT).await {
                violations.push(no_progress(round));
                break;
            }
        }
    }

    let (producer_result, acked) =
        finish_producer(&run, options, producer_stop, producer_task).await;
    drain(std::slice::from_ref(&consumed), &acked).await;
    consumer_stop.stop();
    let consumer_result = consumer_task.await;
    for (who, r) in [
        ("producer", producer_result),
        ("consumer", consumer_result.map(|r| r.map(|_| ()))),
    ] {
        tool_outcome(who, r, &mut violations);
    }
    let report = conclude(
        &mut run,
        variant,
        options,
        vec![consumed],
        false,
        &acked,
        violations,
    )
    .await;
    // Dropping the cluster kills its brokers; a clean shutdown is not what is being tested.
    drop(run);
    Ok(report)
}

/// The violation of a round after which the producer made no progress.
pub(crate) fn no_progress(round: u32) -> String {
    format!(
        "round {}: no progress: fewer than {PROGRESS_ACKS} acknowledgements within {WAIT:?} after \
         recovery",
        round + 1
    )
}

/// A tool task's outcome as a violation, if it ended badly.
pub(crate) fn tool_outcome(
    who: &str,
    r: Result<Result<(), brook_verify::tool::ToolError>, tokio::task::JoinError>,
    violations: &mut Vec<String>,
) {
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => violations.push(format!("{who} ended with {e}")),
        Err(e) if e.is_cancelled() => {}
        Err(e) => violations.push(format!("{who} task failed: {e}")),
    }
}

/// Sends at least `messages` values, then stops the producer (it reports everything in
/// flight); its outcome and the acknowledged values.
pub(crate) async fn finish_producer(
    run: &Run,
    options: &ScenarioOptions,
    stop: brook_verify::tool::StopSignal,
    task: workload::ProducerTask,
) -> (
    Result<Result<(), brook_verify::tool::ToolError>, tokio::task::JoinError>,
    HashSet<String>,
) {
    let min_time = Duration::from_secs_f64(options.messages as f64 / options.throughput as f64);
    let deadline = Instant::now() + min_time + WAIT;
    while run.produced.state().outcomes() < options.messages && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.stop();
    let result = task.await.map(|r| r.map(|_| ()));
    let acked = run.produced.state().acked_values.clone();
    (result, acked)
}

/// Waits until the consumers together saw every acked value, or went idle.
pub(crate) async fn drain(consumers: &[Capture], acked: &HashSet<String>) {
    let drain_start = Instant::now();
    loop {
        let done = {
            let states: Vec<_> = consumers.iter().map(Capture::state).collect();
            let last = states.iter().filter_map(|s| s.last_consumed).max();
            let all_seen = acked
                .iter()
                .all(|v| states.iter().any(|s| s.consumed_values.contains(v)));
            let idle = last
                .is_none_or(|t| t.elapsed() >= DRAIN_IDLE && drain_start.elapsed() >= DRAIN_IDLE);
            all_seen || idle || drain_start.elapsed() >= DRAIN_MAX
        };
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The end of every run: the final read, the dumps, the checker (with group semantics when
/// `group`: `consumers` are then the members' logs, one per member incarnation) and the report.
pub(crate) async fn conclude(
    run: &mut Run,
    variant: &Variant,
    options: &ScenarioOptions,
    consumers: Vec<Capture>,
    group: bool,
    acked: &HashSet<String>,
    violations: Vec<String>,
) -> ScenarioReport {
    let mut violations = violations;
    // The final read: a fresh consumer reads the whole log from the beginning, so that an
    // acknowledged value the run's consumer saw but a later truncation removed counts as lost.
    let final_read = match final_read(run, acked).await {
        Ok(capture) => Some(capture),
        Err(e) => {
            violations.push(format!("final read of the whole log failed: {e}"));
            None
        }
    };

    if let Some(dir) = &options.dump_dir {
        // The raw event logs, for `brook verify check` or a closer look at a failure.
        let base = dir.join(variant.name.replace([' ', '(', ')', '='], "_"));
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(base.with_extension("producer.jsonl"), run.produced.bytes());
        let all: Vec<u8> = consumers.iter().flat_map(Capture::bytes).collect();
        let _ = std::fs::write(base.with_extension("consumer.jsonl"), all);
        if let Some(f) = &final_read {
            let _ = std::fs::write(base.with_extension("final.jsonl"), f.bytes());
        }
    }
    let logs: Vec<Vec<brook_verify::events::Event>> =
        consumers.iter().map(|c| c.events().events).collect();
    let final_events = final_read.map(|f| f.events().events);
    let check = if group {
        checker::check_group(run.produced.events().events, logs, final_events)
    } else {
        checker::check_with_final_read(
            run.produced.events().events,
            logs.into_iter().flatten(),
            final_events,
        )
    };
    let promises = promises(variant, options);
    let mut expected = check.allowed(&promises);
    let mut all_violations = Vec::new();
    for v in check.violations(&promises) {
        // When the configuration allows acknowledged data to be truncated (unclean election,
        // unflushed power loss, acks=1), the offsets it held are written again with new values
        // and a consumer that had read them continues at the divergence point: two values at
        // one offset and an offset going back are that same allowed loss, seen from the log.
        let truncation = v.starts_with("inconsistent:") || v.starts_with("reordered:");
        if !promises.no_loss && truncation {
            expected.push(format!("{v} (consequence of the allowed truncation)"));
        } else {
            all_violations.push(v);
        }
    }
    all_violations.extend(violations);
    let (unavailability, recovery) = availability(run, options.throughput);
    ScenarioReport {
        name: variant.name.clone(),
        config: RunConfig {
            acks: match options.acks {
                Acks::All => "all".into(),
                Acks::Leader => "1".into(),
                Acks::None => "0".into(),
            },
            idempotence: options.idempotence,
            min_insync: MIN_INSYNC,
            unclean: variant.unclean,
            flush_messages: variant.flush_messages,
            rounds: options.rounds,
            seed: options.seed,
            brokers: variant.brokers,
            voters: variant.voters.unwrap_or(variant.brokers),
        },
        promises,
        expected,
        check,
        unavailability,
        recovery,
        violations: all_violations,
        notes: std::mem::take(&mut run.notes),
    }
}
