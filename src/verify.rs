//! `brook verify`: Brook proving its own promises (SPEC §11). `check` compares a verifiable
//! producer's JSON-lines log with a verifiable consumer's; the fault scenarios
//! (`brook verify leader-hard-kill`, …, `all`) sit next to it as further subcommands and are
//! run by `brook::scenario`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use brook::Acks;
use brook::scenario::{self, Mode, Scenario, ScenarioOptions};
use brook_log::clock::unix_now_ms;
use brook_verify::checker::{self, EventLog, Promises, Report};

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(subcommand)]
    command: VerifyCommand,
}

#[derive(clap::Subcommand)]
enum VerifyCommand {
    /// Compare a verifiable producer's events with a verifiable consumer's (`--verbose`
    /// `record_data`): lost, duplicated, reordered, inconsistent, phantom and aborted reads, and
    /// split brain (two brokers acknowledging one partition in one leader epoch).
    Check {
        /// The producer's JSON lines (`brook verifiable-producer … > PRODUCER.jsonl`).
        producer: PathBuf,
        /// The consumer's JSON lines (`brook verifiable-consumer --verbose … > CONSUMER.jsonl`);
        /// with `--group`, one file per member, or one file holding their sessions one after
        /// another.
        #[arg(required = true, num_args = 1..)]
        consumer: Vec<PathBuf>,
        /// Consumer-group semantics: the consumer logs are a group's members, committing after
        /// processing; a record consumed twice is a violation unless it lay after the last
        /// commit of a member that died or whose commit failed (the at-least-once window).
        #[arg(long)]
        group: bool,
        /// A final read of the whole log after the run (a fresh `--verbose` verifiable consumer
        /// from the beginning): acknowledged values missing from it count as lost even if the
        /// consumer saw them during the run.
        #[arg(long = "final-read", value_name = "FINAL.jsonl")]
        final_read: Option<PathBuf>,
        /// Print the report as JSON (with a `violations` list) instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        expect: ExpectArgs,
    },
    /// Kill (power loss) the leader of a partition, restart it (V8 hard bounce).
    LeaderHardKill(ScenarioArgs),
    /// Shut the leader of a partition down cleanly and restart it (V8 clean bounce).
    LeaderCleanBounce(ScenarioArgs),
    /// Crash the active controller and restart it after a pause (a voter may take over).
    ControllerRestart(ScenarioArgs),
    /// Power-loss the active controller and leave it down for the round: another voter takes
    /// over, its partitions get new leaders, the producer carries on.
    ControllerHardKill(ScenarioArgs),
    /// Cut the active controller off: its side changes no metadata, the majority elects,
    /// after the heal it follows; never two leaders acknowledging in one leader epoch.
    ControllerIsolation(ScenarioArgs),
    /// Restart every broker cleanly, the active controller included, one at a time (V10).
    RollingRestart(ScenarioArgs),
    /// Force an out-of-sync replica back first, with unclean election on and off (V11).
    UncleanElection(ScenarioArgs),
    /// Cut every link of a partition's leader, then heal (network partition).
    LeaderIsolation(ScenarioArgs),
    /// Slow a follower past replica.lag.time.max.ms: ISR shrinks, then re-expands (V9).
    SlowFollower(ScenarioArgs),
    /// Every broker loses power at once (unflushed data dropped), per flush policy.
    PowerLoss(ScenarioArgs),
    /// Three consumer-group members: one hard-killed, one bounced cleanly, the group's
    /// coordinator crashed, in turn; checked with group semantics.
    ConsumerBounce(ScenarioArgs),
    /// The consumer group scales 1 → 3 → 1 members, with range and cooperative-sticky; nothing
    /// may be consumed twice.
    ConsumerRebalance(ScenarioArgs),
    /// Every scenario above in turn (`--rounds 20` is the long soak).
    All(ScenarioArgs),
}

/// Options of the fault scenarios (`brook verify SCENARIO`).
#[derive(clap::Args, Clone)]
struct ScenarioArgs {
    /// Where the brokers run: in this process, or as `brook serve` processes.
    #[arg(long, value_enum, default_value = "inprocess")]
    mode: ModeArg,
    /// Producer acks: all or 1 (0 is accepted; it promises nothing about loss).
    #[arg(long, default_value = "all")]
    acks: String,
    /// Idempotent producer (promises no duplicates); default true with acks=all, false
    /// otherwise (idempotence requires acks=all).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    idempotence: Option<bool>,
    /// The topic's flush.messages (default never; power-loss then runs both 1 and never).
    #[arg(long)]
    flush_messages: Option<u64>,
    /// How many times the fault is injected (the cluster recovers in between).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Send at least this many values (more if the faults take longer).
    #[arg(long, default_value_t = 5000)]
    messages: u64,
    /// Producer throttle, messages per second.
    #[arg(long, default_value_t = 2000)]
    throughput: u64,
    /// Seed of the fault schedule (partition, follower, pauses); default drawn from the clock.
    #[arg(long)]
    seed: Option<u64>,
    /// One JSON object per scenario instead of the table.
    #[arg(long)]
    json: bool,
    /// Keep each run's producer and consumer JSON lines in this directory.
    #[arg(long)]
    dump_dir: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum ModeArg {
    /// Brokers in this process; faults at their disk and connection layers.
    Inprocess,
    /// Brokers as `brook serve` child processes: real SIGKILL and SIGTERM.
    Process,
}

impl ScenarioArgs {
    fn options(&self) -> anyhow::Result<ScenarioOptions> {
        let acks = match self.acks.as_str() {
            "all" | "-1" => Acks::All,
            "1" => Acks::Leader,
            "0" => Acks::None,
            other => bail!("INVALID_CONFIG: --acks {other} (expected all, 1 or 0)"),
        };
        if self.throughput == 0 {
            bail!("INVALID_CONFIG: --throughput must be positive");
        }
        let seed = self
            .seed
            .unwrap_or_else(|| unix_now_ms().unsigned_abs() % 1_000_000);
        Ok(ScenarioOptions {
            mode: match self.mode {
                ModeArg::Inprocess => Mode::InProcess,
                ModeArg::Process => Mode::Process,
            },
            acks,
            idempotence: self.idempotence.unwrap_or(acks == Acks::All),
            flush_messages: self.flush_messages,
            rounds: self.rounds,
            messages: self.messages,
            throughput: self.throughput,
            seed,
            dump_dir: self.dump_dir.clone(),
            // This executable is `brook`: process mode spawns `brook serve` from it.
            brook_binary: None,
        })
    }
}

/// What the configuration under test promises (loss and duplicates); ordering, consistency,
/// phantom and aborted reads are always checked.
#[derive(clap::Args, Clone, Copy)]
struct ExpectArgs {
    /// Fail when an acknowledged value was never consumed (`--expect-no-loss=false` for acks=1 or
    /// unclean election, where loss is reported as expected).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    expect_no_loss: bool,
    /// Fail when a value was written twice (`--expect-no-duplicates=false` without idempotence).
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    expect_no_duplicates: bool,
}

impl ExpectArgs {
    fn promises(self) -> Promises {
        Promises {
            no_loss: self.expect_no_loss,
            no_duplicates: self.expect_no_duplicates,
            no_redelivery: true,
        }
    }
}

pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    match args.command {
        VerifyCommand::Check {
            producer,
            consumer,
            group,
            final_read,
            json,
            expect,
        } => check(
            &producer,
            &consumer,
            group,
            final_read.as_deref(),
            json,
            expect.promises(),
        ),
        VerifyCommand::LeaderHardKill(a) => scenarios(Some(Scenario::LeaderHardKill), &a),
        VerifyCommand::LeaderCleanBounce(a) => scenarios(Some(Scenario::LeaderCleanBounce), &a),
        VerifyCommand::ControllerRestart(a) => scenarios(Some(Scenario::ControllerRestart), &a),
        VerifyCommand::ControllerHardKill(a) => scenarios(Some(Scenario::ControllerHardKill), &a),
        VerifyCommand::ControllerIsolation(a) => scenarios(Some(Scenario::ControllerIsolation), &a),
        VerifyCommand::RollingRestart(a) => scenarios(Some(Scenario::RollingRestart), &a),
        VerifyCommand::UncleanElection(a) => scenarios(Some(Scenario::UncleanElection), &a),
        VerifyCommand::LeaderIsolation(a) => scenarios(Some(Scenario::LeaderIsolation), &a),
        VerifyCommand::SlowFollower(a) => scenarios(Some(Scenario::SlowFollower), &a),
        VerifyCommand::PowerLoss(a) => scenarios(Some(Scenario::PowerLoss), &a),
        VerifyCommand::ConsumerBounce(a) => scenarios(Some(Scenario::ConsumerBounce), &a),
        VerifyCommand::ConsumerRebalance(a) => scenarios(Some(Scenario::ConsumerRebalance), &a),
        VerifyCommand::All(a) => scenarios(None, &a),
    }
}

/// Runs one scenario (`None`: all) and prints the table or JSON lines; fails only when a
/// promise was broken (or the cluster did not recover).
fn scenarios(which: Option<Scenario>, args: &ScenarioArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let reports = rt.block_on(async {
        match which {
            Some(s) => scenario::run(s, &options).await,
            None => scenario::run_all(&options).await,
        }
    })?;
    if args.json {
        for r in &reports {
            println!("{}", r.to_json());
        }
    } else {
        print!("{}", scenario::table(&reports));
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "verification failed: {} broke a promise of its configuration (seed {})",
            failed.join(", "),
            options.seed
        );
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<EventLog> {
    let log = checker::read_events(path).with_context(|| format!("reading {}", path.display()))?;
    for m in &log.malformed {
        eprintln!(
            "warning: {}:{}: malformed line skipped: {}",
            path.display(),
            m.line,
            m.error
        );
    }
    Ok(log)
}

fn check(
    producer: &Path,
    consumers: &[PathBuf],
    group: bool,
    final_read: Option<&Path>,
    json: bool,
    promises: Promises,
) -> anyhow::Result<()> {
    if consumers.len() > 1 && !group {
        bail!("several consumer logs are a group's members: add --group");
    }
    let producer_log = read(producer)?;
    let mut members = Vec::new();
    for c in consumers {
        members.push(read(c)?.events);
    }
    let final_log = final_read.map(read).transpose()?;
    let report = if group {
        checker::check_group(producer_log.events, members, final_log.map(|l| l.events))
    } else {
        checker::check_with_final_read(
            producer_log.events,
            members.into_iter().flatten(),
            final_log.map(|l| l.events),
        )
    };
    let violations = report.violations(&promises);
    print_report(&report, &violations, &promises, json)?;
    if !violations.is_empty() {
        bail!(
            "verification failed: {} violation(s) of what the configuration promises",
            violations.len()
        );
    }
    Ok(())
}

fn print_report(
    report: &Report,
    violations: &[String],
    promises: &Promises,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut value = serde_json::to_value(report)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("violations".into(), serde_json::json!(violations));
            obj.insert(
                "expected".into(),
                serde_json::json!(report.allowed(promises)),
            );
        }
        println!("{value}");
        // stdout stays one JSON document; the verdict lines also go to stderr.
        for v in violations {
            eprintln!("VIOLATION {v}");
        }
    } else {
        print!("{}", report.summary_table());
        println!();
        for note in report.allowed(promises) {
            println!("expected   {note}");
        }
        for v in violations {
            println!("VIOLATION  {v}");
        }
        if violations.is_empty() {
            println!("OK: no violation of what the configuration promises");
        }
    }
    Ok(())
}
