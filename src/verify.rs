//! `brook verify`: Brook proving its own promises (SPEC §11). `check` compares a verifiable
//! producer's JSON-lines log with a verifiable consumer's; the fault scenarios
//! (`brook verify leader-hard-kill`, …) sit next to it as further subcommands.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use brook_verify::checker::{self, EventLog, Promises, Report};

#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(subcommand)]
    command: VerifyCommand,
}

#[derive(clap::Subcommand)]
enum VerifyCommand {
    /// Compare a verifiable producer's events with a verifiable consumer's (`--verbose`
    /// `record_data`): lost, duplicated, reordered, inconsistent, phantom and aborted reads.
    Check {
        /// The producer's JSON lines (`brook verifiable-producer … > PRODUCER.jsonl`).
        producer: PathBuf,
        /// The consumer's JSON lines (`brook verifiable-consumer --verbose … > CONSUMER.jsonl`).
        consumer: PathBuf,
        /// Print the report as JSON (with a `violations` list) instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        expect: ExpectArgs,
    },
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
        }
    }
}

pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    match args.command {
        VerifyCommand::Check {
            producer,
            consumer,
            json,
            expect,
        } => check(&producer, &consumer, json, expect.promises()),
    }
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

fn check(producer: &Path, consumer: &Path, json: bool, promises: Promises) -> anyhow::Result<()> {
    let producer_log = read(producer)?;
    let consumer_log = read(consumer)?;
    let report = checker::check(producer_log.events, consumer_log.events);
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
