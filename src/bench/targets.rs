//! The SPEC §12 / issue 6 targets, judged from one report: each a ratio measured in this run
//! against its goal. Not timed assertions — `brook bench` prints them, PASS or MISS.

use super::BenchReport;
use super::numbers::count;

/// One target and what this run measured for it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetResult {
    /// What is measured, as printed in the Targets table.
    pub name: &'static str,
    /// The ratio to reach.
    pub goal: f64,
    /// The measured ratio; `None` when the run did not measure it.
    pub measured: Option<f64>,
    /// The figures behind the ratio, or why it was not measured.
    pub detail: String,
}

impl TargetResult {
    /// `PASS` when the measured ratio reaches the goal, `MISS` when it does not, `-` when the
    /// run did not measure it.
    pub fn verdict(&self) -> &'static str {
        match self.measured {
            Some(r) if r >= self.goal => "PASS",
            Some(_) => "MISS",
            None => "-",
        }
    }
}

/// All four targets, in the order.
pub fn evaluate(report: &BenchReport) -> Vec<TargetResult> {
    vec![
        replication(report),
        group_commit(report),
        single_broker(report),
        redis(report),
    ]
}

fn replication(report: &BenchReport) -> TargetResult {
    let mut t = TargetResult {
        name: "acks=all RF3 / acks=1 RF1 throughput (100B, flush never)",
        goal: 0.6,
        measured: None,
        detail: String::new(),
    };
    match &report.runs.replication {
        Ok((one, all)) => {
            t.measured = Some(all / one.max(1e-9));
            t.detail = format!(
                "{} / {} msg/s, producers only, runs A B B A",
                count(*all),
                count(*one)
            );
        }
        Err(why) => t.detail = format!("not measured: {why}"),
    }
    t
}

fn group_commit(report: &BenchReport) -> TargetResult {
    let fsync = report.baselines.fsync.ops_per_sec;
    let producers = report.options.group_producers;
    let mut t = TargetResult {
        name: "flush.messages=1, N producers / one fsync per append",
        goal: 10.0,
        measured: None,
        detail: "group-commit run missing".into(),
    };
    if let Some(g) = &report.runs.group_commit {
        t.measured = Some(g.msgs_per_sec / fsync.max(1e-9));
        t.detail = format!(
            "{} acks/s with {producers} producers vs {} fdatasync/s",
            count(g.msgs_per_sec),
            count(fsync)
        );
        if let Some(unflushed) = report.runs.group_commit_unflushed {
            t.detail.push_str(&format!(
                "; with flush never: {} acks/s = {:.1}x",
                count(unflushed),
                unflushed / fsync.max(1e-9)
            ));
        }
        if let Some(ceiling) = report.runs.group_commit_tonic {
            t.detail.push_str(&format!(
                "; the same load on bare tonic: {} req/s = {:.1}x",
                count(ceiling),
                ceiling / fsync.max(1e-9)
            ));
        }
    }
    t
}

fn single_broker(report: &BenchReport) -> TargetResult {
    let mut t = TargetResult {
        name: "single-broker produce acks=1 / bare tonic (100B)",
        goal: 0.5,
        measured: None,
        detail: "single-broker run or tonic baseline missing".into(),
    };
    if let (Some(b), Some(tonic)) = (&report.runs.single_broker, report.baselines.tonic_rate(100)) {
        t.measured = Some(b.msgs_per_sec / tonic.max(1e-9));
        t.detail = format!(
            "{} / {} msg/s, same client and producers",
            count(b.msgs_per_sec),
            count(tonic)
        );
    }
    t
}

fn redis(report: &BenchReport) -> TargetResult {
    let mut t = TargetResult {
        name: "Brook / Redis at equal durability (worst pair)",
        goal: 1.0,
        measured: None,
        detail: "not run (add --peer redis)".into(),
    };
    let Some(peer) = &report.peer else {
        return t;
    };
    match &peer.status {
        super::redis::PeerStatus::Skipped(why) => t.detail = format!("skipped: {why}"),
        super::redis::PeerStatus::Ran(rows) => {
            let worst = rows
                .iter()
                .filter_map(|r| {
                    let brook = r.brook.as_ref()?;
                    let redis = r.figures.as_ref()?;
                    Some((brook.msgs_per_sec / redis.msgs_per_sec.max(1e-9), r))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((ratio, row)) = worst {
                t.measured = Some(ratio);
                t.detail = format!(
                    "worst pair: {} vs Redis {}",
                    row.brook_cell, row.redis_config
                );
            } else {
                t.detail = "no pair with both sides measured".into();
            }
        }
    }
    t
}
