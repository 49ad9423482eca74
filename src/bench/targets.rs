//! The SPEC §12 / issue 6 targets, judged from one report: each a ratio measured in this run
//! against its goal. Not timed assertions — `brook bench` prints them, PASS or MISS.

use super::matrix::{AckMode, Cell, FlushPolicy};
use super::{BenchReport, Figures};

/// One target and what this run measured for it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetResult {
    pub name: &'static str,
    /// The ratio to reach.
    pub goal: f64,
    /// The measured ratio; `None` when the run did not measure it.
    pub measured: Option<f64>,
    /// The figures behind the ratio, or why it was not measured.
    pub detail: String,
}

impl TargetResult {
    pub fn verdict(&self) -> &'static str {
        match self.measured {
            Some(r) if r >= self.goal => "PASS",
            Some(_) => "MISS",
            None => "-",
        }
    }
}

fn cell_figures<'a>(report: &'a BenchReport, cell: &Cell) -> Option<&'a Figures> {
    report
        .cells
        .iter()
        .find(|c| c.cell == *cell)
        .and_then(|c| c.figures())
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
        name: "acks=all RF3 / acks=1 RF1 throughput (flush never)",
        goal: 0.6,
        measured: None,
        detail: "needs cells acks=all never RF3 and acks=1 never RF1 of one size".into(),
    };
    for size in Cell::SIZES {
        let all = Cell {
            acks: AckMode::All,
            flush: FlushPolicy::Never,
            rf: 3,
            size,
        };
        let one = Cell {
            acks: AckMode::One,
            rf: 1,
            ..all
        };
        if let (Some(a), Some(o)) = (cell_figures(report, &all), cell_figures(report, &one)) {
            t.measured = Some(a.msgs_per_sec / o.msgs_per_sec.max(1e-9));
            t.detail = format!(
                "{} / {} msg/s at {}",
                count(a.msgs_per_sec),
                count(o.msgs_per_sec),
                all.size_label()
            );
            break;
        }
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
    if let (Some(b), Some(tonic)) = (
        &report.runs.single_broker,
        report.baselines.tonic_rate(100),
    ) {
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
                    let brook = cell_figures(report, &r.brook_cell)?;
                    let redis = r.figures.as_ref()?;
                    Some((brook.msgs_per_sec / redis.msgs_per_sec.max(1e-9), r))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((ratio, row)) = worst {
                t.measured = Some(ratio);
                t.detail = format!("worst pair: {} vs Redis {}", row.brook_cell, row.redis_config);
            } else {
                t.detail = "no pair with both sides measured".into();
            }
        }
    }
    t
}

/// 1234567.8 → "1,234,568".
pub fn count(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
