//! The consumer-group scenarios (`consumer-bounce`, `consumer-rebalance`): the faults hit the
//! group, not (only) the brokers. Several verifiable consumers subscribe to the run's topic as
//! members of one group, committing after every poll; the rounds kill, bounce, add and remove
//! members and crash the broker that coordinates the group, while the producer writes. Each
//! member incarnation has its own event log, and the checker applies group semantics
//! (`checker::check_group`): nothing acknowledged may go unconsumed by the group, and a record
//! consumed twice is a failure unless it lay after the last commit of a member that died (the
//! at-least-once window), both counted in the report.
//!
//! Members run in this process in both modes (in process mode the brokers are `brook serve`
//! children): a hard-killed member is an aborted task (no commit, no LeaveGroup: the coordinator
//! notices after `session.timeout.ms`), a clean bounce is a stop (revoke, commit, LeaveGroup) and
//! a fresh member.

use std::collections::BTreeSet;
use std::time::Duration;

use brook_verify::consumer::{self, StopSignal};
use tokio::time::Instant;

use super::run::{Result, err};
use super::workload::ConsumerTask;
use super::{
    Capture, PROGRESS_ACKS, Run, Scenario, ScenarioError, ScenarioOptions, ScenarioReport, Variant,
    WAIT, conclude, create_topic, drain, finish_producer, no_progress, spawn_producer,
    start_cluster, tool_outcome,
};

/// The members' `session.timeout.ms`: a killed member is noticed within about a second.
const SESSION_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a clean stop of a member may take (finish the poll, revoke, commit, leave).
const STOP_WAIT: Duration = Duration::from_secs(15);

/// One running member incarnation.
struct Member {
    capture: Capture,
    stop: StopSignal,
    task: ConsumerTask,
}

/// The group's members: the live ones, and every incarnation's log for the checker.
pub(crate) struct Members {
    group: String,
    strategy: Option<String>,
    live: Vec<Member>,
    /// Every incarnation's capture, in start order (dead ones included).
    logs: Vec<Capture>,
    /// Tool errors of members that stopped (a killed member is not an error).
    violations: Vec<String>,
}

impl Members {
    fn new(group: String, strategy: Option<String>) -> Members {
        Members {
            group,
            strategy,
            live: Vec::new(),
            logs: Vec::new(),
            violations: Vec::new(),
        }
    }

    /// Starts one more member (a new incarnation with its own log).
    fn start(&mut self, run: &Run) {
        let bootstrap = run.cluster.bootstrap_servers();
        let mut opts = consumer::ConsumerOptions::new(&run.topic, &bootstrap, &self.group);
        opts.verbose = true;
        opts.idle_timeout = None;
        opts.poll_timeout = Duration::from_millis(100);
        opts.session_timeout = Some(SESSION_TIMEOUT);
        opts.assignment_strategy = self.strategy.clone();
        opts.consumer_config = vec![
            ("request.timeout.ms".into(), "2000".into()),
            ("retry.backoff.ms".into(), "50".into()),
        ];
        let capture = Capture::new();
        let stop = opts.stop.clone();
        let task = tokio::spawn({
            let (channels, mut w) = (run.cluster.client_channels(), capture.writer());
            async move { consumer::run_with_channels(&opts, channels, &mut w).await }
        });
        self.logs.push(capture.clone());
        self.live.push(Member {
            capture,
            stop,
            task,
        });
    }

    /// Stops member `i` cleanly: its partitions are revoked, its offsets committed, it leaves.
    async fn stop_clean(&mut self, i: usize) -> Result<()> {
        let m = self.live.remove(i);
        m.stop.stop();
        match tokio::time::timeout(STOP_WAIT, m.task).await {
            Ok(r) => {
                tool_outcome("member", r.map(|r| r.map(|_| ())), &mut self.violations);
                Ok(())
            }
            Err(_) => Err(format!("a member did not stop within {STOP_WAIT:?}")),
        }
    }

    /// Kills member `i`: no revoke, no commit, no LeaveGroup.
    fn kill(&mut self, i: usize) {
        let m = self.live.remove(i);
        m.task.abort();
    }

    /// Records consumed by every incarnation so far.
    fn consumed(&self) -> u64 {
        self.logs.iter().map(|c| c.state().consumed).sum()
    }

    /// Waits until the live members own every partition exactly once and the group consumes
    /// again (`min_more` more records than now).
    async fn wait_stable(&self, partitions: i32, min_more: u64) -> Result<Duration> {
        let started = Instant::now();
        let target = self.consumed() + min_more;
        loop {
            let mut owned = Vec::new();
            for m in &self.live {
                owned.extend(m.capture.state().assigned.iter().copied());
            }
            let distinct: BTreeSet<i32> = owned.iter().copied().collect();
            let covered = owned.len() == partitions as usize && distinct.len() == owned.len();
            if covered && self.consumed() >= target {
                return Ok(started.elapsed());
            }
            if started.elapsed() > WAIT {
                return Err(format!(
                    "the group did not settle within {WAIT:?}: live members own {owned:?} of \
                     {partitions} partitions"
                ));
            }
            if self.live.iter().any(|m| m.task.is_finished()) {
                return Err("a member ended on its own".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every live member cleanly.
    async fn stop_all(&mut self) -> Result<()> {
        while !self.live.is_empty() {
            self.stop_clean(self.live.len() - 1).await?;
        }
        Ok(())
    }
}

/// The broker coordinating `group`: the leader of its `__consumer_offsets` partition.
async fn coordinator(run: &Run, group: &str) -> Result<i32> {
    let view = run.cluster.view().await;
    let n = (0..)
        .take_while(|p| {
            view.leader(brook_broker::group_coordinator::OFFSETS_TOPIC, *p)
                .is_some()
        })
        .count() as i32;
    if n == 0 {
        return Err("__consumer_offsets has no led partition".into());
    }
    let p = brook_broker::group_coordinator::partition_for(group, n);
    view.leader(brook_broker::group_coordinator::OFFSETS_TOPIC, p)
        .ok_or_else(|| format!("__consumer_offsets-{p} has no leader"))
}

/// One round of `consumer-bounce`: in turn a member hard-killed (and replaced after a pause), a
/// member bounced cleanly, and the group's coordinator crashed and restarted.
async fn bounce_round(run: &mut Run, members: &mut Members, round: u32) -> Result<()> {
    let pause = run.rng.jitter(100, 600);
    match round % 3 {
        0 => {
            let i = (run.rng.next_u64() % members.live.len() as u64) as usize;
            members.kill(i);
            run.mark_fault();
            run.note(format!("round {}: member {i} hard-killed", round + 1));
            tokio::time::sleep(pause).await;
            members.start(run);
        }
        1 => {
            let i = (run.rng.next_u64() % members.live.len() as u64) as usize;
            run.mark_fault();
            members.stop_clean(i).await?;
            run.note(format!("round {}: member {i} bounced cleanly", round + 1));
            tokio::time::sleep(pause).await;
            members.start(run);
        }
        _ => {
            let c = coordinator(run, &members.group).await?;
            run.mark_fault();
            run.crash(c).await?;
            run.note(format!(
                "round {}: coordinator broker {c} crashed",
                round + 1
            ));
            tokio::time::sleep(pause).await;
            run.cluster.restart(c).await.map_err(err)?;
            run.wait_healthy().await.map_err(err)?;
        }
    }
    Ok(())
}

/// One round of `consumer-rebalance`: the group grows from one member to three, or shrinks
/// back (clean stops), alternately.
async fn rebalance_round(run: &mut Run, members: &mut Members, round: u32) -> Result<()> {
    run.mark_fault();
    if members.live.len() == 1 {
        members.start(run);
        members.start(run);
        run.note(format!("round {}: 1 → 3 members", round + 1));
    } else {
        while members.live.len() > 1 {
            let i = (run.rng.next_u64() % members.live.len() as u64) as usize;
            members.stop_clean(i).await?;
        }
        run.note(format!("round {}: 3 → 1 member", round + 1));
    }
    Ok(())
}

/// Runs one group variant; see the module doc.
pub(crate) async fn run_group_variant(
    variant: &Variant,
    options: &ScenarioOptions,
) -> std::result::Result<ScenarioReport, ScenarioError> {
    let cluster = start_cluster(variant, options).await?;
    let (topic, partitions) = create_topic(&cluster, variant, options.seed).await?;
    let mut run = Run {
        cluster,
        topic: topic.clone(),
        partitions,
        rng: super::Rng::new(options.seed, &variant.name),
        produced: Capture::new(),
        faults: Vec::new(),
        notes: Vec::new(),
    };
    run.wait_healthy().await?;
    let mut violations = Vec::new();
    let mut members = Members::new(format!("{topic}-members"), variant.strategy.clone());
    let initial = if variant.scenario == Scenario::ConsumerBounce {
        3
    } else {
        1
    };
    for _ in 0..initial {
        members.start(&run);
    }
    let (producer_stop, producer_task) = spawn_producer(&run, options);

    // Faults begin once the producer is acknowledged and the group consumes.
    if let Err(e) = members.wait_stable(partitions, 1).await {
        violations.push(format!("before the first round: {e}"));
    }
    while violations.is_empty() && run.produced.state().acks.len() < PROGRESS_ACKS {
        if producer_task.is_finished() {
            violations.push("the producer ended before the first round".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut settle = Vec::new();
    if violations.is_empty() {
        for round in 0..options.rounds {
            tokio::time::sleep(run.rng.jitter(50, 400)).await;
            let r = match variant.scenario {
                Scenario::ConsumerBounce => bounce_round(&mut run, &mut members, round).await,
                _ => rebalance_round(&mut run, &mut members, round).await,
            };
            let r = match r {
                Ok(()) => members.wait_stable(partitions, 1).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(d) => settle.push(d),
                Err(e) => {
                    violations.push(format!("round {}: {e}", round + 1));
                    break;
                }
            }
            if !run.wait_acks(PROGRESS_ACKS, WAIT).await {
                violations.push(no_progress(round));
                break;
            }
        }
    }
    if let Some(max) = settle.iter().max() {
        run.note(format!(
            "the group owned every partition and consumed again within {max:?} of each round \
             (slowest of {})",
            settle.len()
        ));
    }

    let (producer_result, acked) =
        finish_producer(&run, options, producer_stop, producer_task).await;
    tool_outcome("producer", producer_result, &mut violations);
    drain(&members.logs, &acked).await;
    if let Err(e) = members.stop_all().await {
        violations.push(e);
    }
    violations.append(&mut members.violations);
    let logs = std::mem::take(&mut members.logs);
    let report = conclude(&mut run, variant, options, logs, true, &acked, violations).await;
    drop(run);
    Ok(report)
}
