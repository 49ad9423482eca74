//! Formats a `BenchReport`: the markdown tables `brook bench` prints (cells with their ratios to
//! the ceilings of the same run, the targets, the Redis peer side by side), and the CSV and JSON
//! files of `--out`. Nothing here measures.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::matrix::FlushPolicy;
use super::numbers::count;
use super::redis::PeerStatus;
use super::targets;
use super::{BenchReport, CellResult, Figures, Outcome, Percentiles};

/// A cell's figures as ratios to this run's ceilings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ratios {
    /// msg/s ÷ bare tonic msg/s at the same record size.
    pub tonic: Option<f64>,
    /// MB/s ÷ raw sequential disk write.
    pub disk: Option<f64>,
    /// msg/s ÷ 4 KiB write+fdatasync rate (flush.messages=1 cells only).
    pub fsync: Option<f64>,
}

/// A cell's throughput as ratios to the ceilings measured in the same run (raw sequential
/// write, fsync rate, bare tonic); `None` where the ceiling does not apply or was not measured.
pub fn ratios(report: &BenchReport, c: &CellResult) -> Ratios {
    let Some(f) = c.figures() else {
        return Ratios::default();
    };
    let b = &report.baselines;
    let div = |a: f64, b: f64| (b > 0.0).then(|| a / b);
    Ratios {
        tonic: b
            .tonic_rate(c.cell.size)
            .and_then(|t| div(f.msgs_per_sec, t)),
        disk: div(f.mb_per_sec, b.seq_write_mb),
        fsync: (c.cell.flush == FlushPolicy::EveryMessage)
            .then(|| div(f.msgs_per_sec, b.fsync.ops_per_sec))
            .flatten(),
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "-".to_string(), f)
}

fn ratio(v: Option<f64>) -> String {
    opt(v, |r| {
        if r >= 10.0 {
            format!("{r:.1}x")
        } else {
            format!("{r:.2}x")
        }
    })
}

fn mb(v: f64) -> String {
    format!("{v:.1}")
}

/// The whole printed report (markdown).
pub fn markdown(report: &BenchReport) -> String {
    let mut out = String::new();
    let o = &report.options;
    let b = &report.baselines;
    let mode = match o.rate {
        Some(r) => format!("fixed rate {} msg/s per cell", count(r)),
        None => "as fast as possible".to_string(),
    };
    let _ = writeln!(
        out,
        "## brook bench: {} cells on {}\n",
        report.cells.len(),
        report.target
    );
    let _ = writeln!(
        out,
        "{} producers (linger.ms {}), {} partitions, {:.1} s per cell after {:.1} s warm-up, {mode}; \
         one consumer reads every cell back (end-to-end latency). Total {:.0} s.\n",
        o.producers,
        o.linger.as_millis(),
        o.partitions,
        o.duration.as_secs_f64(),
        o.warmup.as_secs_f64(),
        report.elapsed.as_secs_f64()
    );
    let tonic: Vec<String> = b
        .tonic
        .iter()
        .map(|(size, msgs, mbs)| {
            format!(
                "{} {} msg/s ({} MB/s)",
                super::matrix::size_label(*size),
                count(*msgs),
                mb(*mbs)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "Ceilings measured in this run ({} [{}]): raw sequential write **{} MB/s**; 4 KiB \
         write+fdatasync **{}/s** (p50 {} ms); bare tonic, same client and producers, acks=1, no \
         consumer: **{}**.\n",
        b.dir.display(),
        b.fs_type,
        mb(b.seq_write_mb),
        count(b.fsync.ops_per_sec),
        ms(b.fsync.p50_us / 1000.0),
        tonic.join(", ")
    );
    if b.fs_type == "tmpfs" {
        let _ = writeln!(
            out,
            "**Warning:** the data directory is on tmpfs; fsync figures mean nothing. Use --data-dir.\n"
        );
    }
    out.push_str(
        "| cell | msg/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | e2e p50 ms | e2e p99 ms | durability | x tonic | x disk | x fsync |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|\n");
    for c in &report.cells {
        match &c.outcome {
            Outcome::Ran(f) => {
                let r = ratios(report, c);
                let p = f.produce;
                let e = f.e2e;
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    c.cell,
                    count(f.msgs_per_sec),
                    mb(f.mb_per_sec),
                    opt(p, |p| ms(p.p50)),
                    opt(p, |p| ms(p.p99)),
                    opt(p, |p| ms(p.p999)),
                    opt(p, |p| ms(p.max)),
                    opt(e, |e| ms(e.p50)),
                    opt(e, |e| ms(e.p99)),
                    opt(f.durability, |d| d.name().to_string()),
                    ratio(r.tonic),
                    ratio(r.disk),
                    ratio(r.fsync),
                );
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(out, "| {} | skipped: {why} |||||||||||| ", c.cell);
            }
            Outcome::Failed(why) => {
                let _ = writeln!(out, "| {} | failed: {why} |||||||||||| ", c.cell);
            }
        }
    }
    let errors: Vec<String> = report
        .cells
        .iter()
        .filter_map(|c| {
            let f = c.figures()?;
            (f.errors > 0).then(|| {
                format!(
                    "{}: {} records failed (first: {})",
                    c.cell,
                    f.errors,
                    f.first_error.as_deref().unwrap_or("?")
                )
            })
        })
        .collect();
    if !errors.is_empty() {
        out.push_str("\nErrors:\n");
        for e in errors {
            let _ = writeln!(out, "- {e}");
        }
    }
    out.push_str(
        "\nLatencies are from each record's intended send time (the schedule's slot with --rate) \
         to its acknowledgement (produce) or to the consumer's receipt (e2e); acks=0 has no \
         acknowledgement to time. `durability` is the weakest level any acknowledgement in the \
         cell reported. x tonic = msg/s / bare tonic msg/s at the same record size; x disk = MB/s \
         / raw sequential write; x fsync = msg/s / 4 KiB write+fdatasync rate.\n",
    );

    out.push_str("\n### Targets\n\n| target | goal | measured | verdict | figures |\n|---|--:|--:|---|---|\n");
    for t in targets::evaluate(report) {
        // Three decimals: a ratio just under its goal must not print as the goal.
        let _ = writeln!(
            out,
            "| {} | >= {} | {} | {} | {} |",
            t.name,
            ratio(Some(t.goal)),
            opt(t.measured, |r| format!("{r:.3}x")),
            t.verdict(),
            t.detail
        );
    }
    if let Some(g) = &report.runs.group_commit {
        let _ = writeln!(
            out,
            "\nGroup-commit run: {} producers, one 100 B record outstanding each, flush.messages=1, \
             RF 1, one partition: {} acks/s, p50 {} ms, p99 {} ms.",
            o.group_producers,
            count(g.msgs_per_sec),
            opt(g.produce, |p| ms(p.p50)),
            opt(g.produce, |p| ms(p.p99)),
        );
    }
    if let Some(peer) = &report.peer {
        out.push_str(&peer_markdown(&peer.status));
    }
    out
}

fn peer_markdown(status: &PeerStatus) -> String {
    let mut out = String::from("\n### Brook vs Redis at equal durability\n\n");
    let rows = match status {
        PeerStatus::Skipped(why) => {
            let _ = writeln!(out, "{why}");
            return out;
        }
        PeerStatus::Ran(rows) => rows,
    };
    out.push_str(
        "| Brook cell | msg/s | p50 ms | p99 ms | Redis | msg/s | p50 ms | p99 ms | Brook / Redis |\n|---|--:|--:|--:|---|--:|--:|--:|--:|\n",
    );
    for row in rows {
        let brook = row.brook.as_ref();
        let side = |f: Option<&Figures>| -> [String; 3] {
            match f {
                Some(f) => [
                    count(f.msgs_per_sec),
                    opt(f.produce, |p| ms(p.p50)),
                    opt(f.produce, |p| ms(p.p99)),
                ],
                None => ["-".into(), "-".into(), "-".into()],
            }
        };
        let [bm, b50, b99] = side(brook);
        let [rm, r50, r99] = side(row.figures.as_ref());
        let rel = match (brook, &row.figures) {
            (Some(b), Some(r)) if r.msgs_per_sec > 0.0 => {
                ratio(Some(b.msgs_per_sec / r.msgs_per_sec))
            }
            _ => "-".into(),
        };
        let redis = match &row.error {
            Some(e) => format!("{} (failed: {e})", row.redis_config),
            None => row.redis_config.clone(),
        };
        let _ = writeln!(
            out,
            "| {} | {bm} | {b50} | {b99} | {redis} | {rm} | {r50} | {r99} | {rel} |",
            row.brook_cell
        );
    }
    out.push_str(
        "\nEach pair is measured back to back: Brook's cell is run again right before its Redis \
         setup, like Redis without a consumer (so its figures differ from the matrix row, which \
         reads everything back). `appendfsync everysec` fsyncs once a second, flush.ms=10 every 10 ms; \
         Redis's replica setup keeps 2 copies, Brook's RF 3 keeps 3 (min.insync.replicas 2).\n",
    );
    out
}

fn pct_json(p: Option<Percentiles>) -> Value {
    match p {
        Some(p) => json!({"p50_ms": p.p50, "p99_ms": p.p99, "p999_ms": p.p999, "max_ms": p.max}),
        None => Value::Null,
    }
}

fn figures_json(f: &Figures) -> Value {
    json!({
        "msgs_per_sec": f.msgs_per_sec,
        "mb_per_sec": f.mb_per_sec,
        "produce_latency": pct_json(f.produce),
        "e2e_latency": pct_json(f.e2e),
        "durability": f.durability.map(|d| d.name()),
        "acked": f.acked,
        "consumed": f.consumed,
        "errors": f.errors,
        "first_error": f.first_error,
    })
}

/// The whole report as one JSON document.
pub fn json(report: &BenchReport) -> Value {
    let o = &report.options;
    let b = &report.baselines;
    let cells: Vec<Value> = report
        .cells
        .iter()
        .map(|c| {
            let r = ratios(report, c);
            let (status, figures, reason) = match &c.outcome {
                Outcome::Ran(f) => ("ran", figures_json(f), None),
                Outcome::Skipped(why) => ("skipped", Value::Null, Some(why.clone())),
                Outcome::Failed(why) => ("failed", Value::Null, Some(why.clone())),
            };
            json!({
                "id": c.cell.id(),
                "cell": c.cell.to_string(),
                "acks": c.cell.acks.name(),
                "flush": c.cell.flush.name(),
                "replication_factor": c.cell.rf,
                "min_insync_replicas": c.cell.min_insync(),
                "record_size": c.cell.size,
                "status": status,
                "reason": reason,
                "figures": figures,
                "ratio_tonic": r.tonic,
                "ratio_disk": r.disk,
                "ratio_fsync": r.fsync,
            })
        })
        .collect();
    let targets: Vec<Value> = targets::evaluate(report)
        .iter()
        .map(|t| {
            json!({"target": t.name, "goal": t.goal, "measured": t.measured,
                   "verdict": t.verdict(), "detail": t.detail})
        })
        .collect();
    let peer = report.peer.as_ref().map(|p| match &p.status {
        PeerStatus::Skipped(why) => json!({"status": "skipped", "reason": why}),
        PeerStatus::Ran(rows) => json!({
            "status": "ran",
            "rows": rows.iter().map(|r| json!({
                "redis": r.redis_config,
                "brook_cell": r.brook_cell.id(),
                "brook": r.brook.as_ref().map(figures_json),
                "figures": r.figures.as_ref().map(figures_json),
                "error": r.error,
            })).collect::<Vec<_>>(),
        }),
    });
    json!({
        "target": report.target,
        "options": {
            "duration_s": o.duration.as_secs_f64(),
            "warmup_s": o.warmup.as_secs_f64(),
            "producers": o.producers,
            "partitions": o.partitions,
            "rate": o.rate,
            "linger_ms": o.linger.as_millis() as u64,
            "group_producers": o.group_producers,
        },
        "baselines": {
            "dir": b.dir.display().to_string(),
            "fs_type": b.fs_type,
            "seq_write_mb_per_sec": b.seq_write_mb,
            "fdatasync_per_sec": b.fsync.ops_per_sec,
            "fdatasync_p50_us": b.fsync.p50_us,
            "fdatasync_p99_us": b.fsync.p99_us,
            "tonic": b.tonic.iter().map(|(s, m, mbs)| json!({
                "record_size": s, "msgs_per_sec": m, "mb_per_sec": mbs})).collect::<Vec<_>>(),
        },
        "group_commit": report.runs.group_commit.as_ref().map(figures_json),
        "group_commit_tonic_msgs_per_sec": report.runs.group_commit_tonic,
        "group_commit_unflushed_msgs_per_sec": report.runs.group_commit_unflushed,
        "single_broker": report.runs.single_broker.as_ref().map(figures_json),
        "replication": match &report.runs.replication {
            Ok((one, all)) => json!({"acks1_rf1_msgs_per_sec": one, "acks_all_rf3_msgs_per_sec": all}),
            Err(why) => json!({"error": why}),
        },
        "cells": cells,
        "targets": targets,
        "peer": peer,
        "elapsed_s": report.elapsed.as_secs_f64(),
    })
}

/// The header line of `results.csv` (`--out DIR`); one column per figure of a cell.
pub const CSV_HEADER: &str = "cell,acks,flush,rf,record_size,status,msgs_per_sec,mb_per_sec,\
produce_p50_ms,produce_p99_ms,produce_p999_ms,produce_max_ms,e2e_p50_ms,e2e_p99_ms,durability,\
ratio_tonic,ratio_disk,ratio_fsync,errors";

/// One line per cell (skipped and failed cells too, with empty figures).
pub fn csv(report: &BenchReport) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
    for c in &report.cells {
        let status = match c.outcome {
            Outcome::Ran(_) => "ran",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) => "failed",
        };
        let f = c.figures();
        let p = f.and_then(|f| f.produce);
        let e = f.and_then(|f| f.e2e);
        let r = ratios(report, c);
        let _ = writeln!(
            out,
            "{},{},{},{},{},{status},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            c.cell.id(),
            c.cell.acks.name(),
            c.cell.flush.name(),
            c.cell.rf,
            c.cell.size,
            num(f.map(|f| f.msgs_per_sec)),
            num(f.map(|f| f.mb_per_sec)),
            num(p.map(|p| p.p50)),
            num(p.map(|p| p.p99)),
            num(p.map(|p| p.p999)),
            num(p.map(|p| p.max)),
            num(e.map(|e| e.p50)),
            num(e.map(|e| e.p99)),
            f.and_then(|f| f.durability).map_or("", |d| d.name()),
            num(r.tonic),
            num(r.disk),
            num(r.fsync),
            f.map_or(0, |f| f.errors),
        );
    }
    out
}
