//! What one scenario run reports: the checker's verdict against what the configuration promises,
//! plus the availability figures the checker cannot see (longest gap between acknowledgements,
//! time from each fault to the first acknowledgement of a record sent after it), as a table row
//! or one JSON object.

use std::fmt::Write as _;
use std::time::Duration;

use brook_verify::checker::{Promises, Report};

/// The configuration a run used, as the report states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    /// The producer's `acks`: `0`, `1` or `all`.
    pub acks: String,
    /// The producer's `enable.idempotence`.
    pub idempotence: bool,
    /// The topic's `min.insync.replicas` (2).
    pub min_insync: u32,
    /// The topic's `unclean.leader.election.enable`.
    pub unclean: bool,
    /// `flush.messages` of the topic; `None` = never (the OS decides).
    pub flush_messages: Option<u64>,
    /// Fault rounds injected.
    pub rounds: u32,
    /// The seed of the fault schedule (replays the same run).
    pub seed: u64,
    /// Brokers in the cluster.
    pub brokers: usize,
    /// Controller voters (brokers 1..=voters).
    pub voters: usize,
}

/// The outcome of one scenario (one variant: unclean on/off and the power-loss flush policies
/// are separate reports).
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// `leader-hard-kill`, `unclean-election (unclean=on)`, …
    pub name: String,
    /// The configuration the run used.
    pub config: RunConfig,
    /// What the configuration promises (loss and duplicates); order, consistency, phantom and
    /// aborted reads are always promised.
    pub promises: Promises,
    /// The checker's full report over the producer, consumer and final-read events: counts
    /// sent, acked, consumed, and each anomaly class (lost, duplicated, reordered, split brain…).
    pub check: Report,
    /// Longest time without any acknowledgement, first to last ack.
    pub unavailability: Duration,
    /// Per fault: until the first acknowledgement of a record sent after it (`None`: none came).
    pub recovery: Vec<Option<Duration>>,
    /// Broken promises (from the checker) and orchestration failures (the cluster did not
    /// recover, the workload made no progress): any entry fails the run.
    pub violations: Vec<String>,
    /// Anomalies the configuration allows (acks=1, unclean election, unflushed power loss).
    pub expected: Vec<String>,
    /// What happened, for the reader (chosen partition and broker per round, …).
    pub notes: Vec<String>,
}

impl ScenarioReport {
    /// True when no promise was broken.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// `FAIL` when a promise was broken, `PASS (expected loss)` when only allowed anomalies
    /// were seen, else `PASS`.
    pub fn verdict(&self) -> &'static str {
        if !self.passed() {
            "FAIL"
        } else if self.expected.is_empty() {
            "PASS"
        } else {
            "PASS (expected loss)"
        }
    }

    /// The slowest recovery (a fault with no recovery counts as unbounded: `None`).
    pub fn max_recovery(&self) -> Option<Duration> {
        let mut max = Duration::ZERO;
        for r in &self.recovery {
            max = max.max((*r)?);
        }
        Some(max)
    }

    /// One JSON object (the `--json` output, one line per scenario).
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.config;
        let ms = |d: Duration| d.as_millis() as u64;
        serde_json::json!({
            "scenario": self.name,
            "config": {
                "acks": c.acks, "enable.idempotence": c.idempotence,
                "min.insync.replicas": c.min_insync, "unclean.leader.election.enable": c.unclean,
                "flush.messages": c.flush_messages, "rounds": c.rounds, "seed": c.seed,
                "brokers": c.brokers, "controller_voters": c.voters,
            },
            "promises": { "no_loss": self.promises.no_loss,
                          "no_duplicates": self.promises.no_duplicates },
            "sent": self.check.sent,
            "acked": self.check.acked,
            "consumed": self.check.consumed,
            "lost": self.check.lost.count,
            "duplicated": self.check.duplicated.count,
            "reordered": self.check.reordered.count,
            "unknown": self.check.unknown,
            "split_brain": self.check.split_brain.count,
            "unavailability_ms": ms(self.unavailability),
            "recovery_ms": self.recovery.iter().map(|r| r.map(ms)).collect::<Vec<_>>(),
            "max_recovery_ms": self.max_recovery().map(ms),
            "verdict": self.verdict(),
            "violations": self.violations,
            "expected": self.expected,
            "notes": self.notes,
            "check": serde_json::to_value(&self.check).unwrap_or_default(),
        })
    }
}

fn fmt_ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "none".to_string(), |d| format!("{} ms", d.as_millis()))
}

/// The report table: one row per scenario, then the violations, expected anomalies and notes.
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    let width = reports
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let _ = writeln!(
        out,
        "{:<width$} {:>7} {:>7} {:>8} {:>5} {:>5} {:>5} {:>7} {:>9} {:>9}  verdict",
        "scenario",
        "sent",
        "acked",
        "consumed",
        "lost",
        "dup",
        "reord",
        "unknown",
        "unavail",
        "recover"
    );
    for r in reports {
        let c = &r.check;
        let _ = writeln!(
            out,
            "{:<width$} {:>7} {:>7} {:>8} {:>5} {:>5} {:>5} {:>7} {:>9} {:>9}  {}",
            r.name,
            c.sent,
            c.acked,
            c.consumed,
            c.lost.count,
            c.duplicated.count,
            c.reordered.count,
            c.unknown,
            fmt_ms(Some(r.unavailability)),
            fmt_ms(r.max_recovery()),
            r.verdict()
        );
    }
    for r in reports {
        let c = &r.config;
        let flush = c
            .flush_messages
            .map_or_else(|| "never".to_string(), |n| n.to_string());
        let _ = writeln!(
            out,
            "\n{}: acks={} idempotence={} min.insync.replicas={} unclean={} flush.messages={} \
             brokers={} voters={} rounds={} seed={}",
            r.name,
            c.acks,
            c.idempotence,
            c.min_insync,
            c.unclean,
            flush,
            c.brokers,
            c.voters,
            c.rounds,
            c.seed
        );
        let promised = match (r.promises.no_loss, r.promises.no_duplicates) {
            (true, true) => "no loss, no duplicates",
            (true, false) => "no loss (duplicates allowed: no idempotence)",
            (false, true) => "no duplicates (loss allowed by this configuration)",
            (false, false) => "neither no-loss nor no-duplicates (both allowed)",
        };
        let _ = writeln!(
            out,
            "  promises: {promised}; always: order, consistent offsets, no phantom/aborted \
             reads, one acknowledging broker per (partition, leader epoch)"
        );
        let _ = writeln!(
            out,
            "  checked    {} acks named their broker and leader epoch: {} (partition, epoch) \
             pairs, {} acknowledged by two brokers",
            r.check.acked_with_leader, r.check.leader_epochs, r.check.split_brain.count
        );
        if let Some(g) = &r.check.group {
            let _ = writeln!(
                out,
                "  group      {} member sessions ({} died), {} ownership periods, {} failed \
                 commits; {} records consumed again in the at-least-once window (after a dead \
                 or failed member's last commit), {} consumed twice outside it",
                g.sessions,
                g.died,
                g.ownership_periods,
                g.failed_commits,
                g.redelivered_in_window,
                g.consumed_twice.count
            );
        }
        for n in &r.notes {
            let _ = writeln!(out, "  note       {n}");
        }
        for e in &r.expected {
            let _ = writeln!(out, "  expected   {e}");
        }
        for v in &r.violations {
            let _ = writeln!(out, "  VIOLATION  {v}");
        }
    }
    out
}
