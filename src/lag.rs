//! `brook lag --group G [--watch] [--interval-ms N]`: the group's consumer lag as its
//! coordinator evaluates it with Burrow's rules (`Admin::group_lag`; the rules are explained
//! in `crates/brook-broker/src/group_coordinator/lag/mod.rs` and `docs/monitoring/lag.md`).
//! One summary line for the group, then a row per partition with its window: the oldest and
//! newest commit kept and how long ago each was made. `--watch` prints it again every
//! interval until Ctrl-C or SIGTERM. What is printed is [`render`], pure, unit-tested below.

use std::time::Duration;

use anyhow::bail;
use brook_client::admin::{Admin, GroupLag, LagWindowEntry, PartitionLag};
use brook_client::{AdminConfig, ErrorCode};

use crate::signal::shutdown_signal;

#[derive(clap::Args)]
pub struct LagArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// The consumer group.
    #[arg(long)]
    group: String,
    /// Print the evaluation again every --interval-ms until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// With --watch: how often (ms).
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    interval_ms: u64,
}

pub async fn run(args: LagArgs) -> anyhow::Result<()> {
    let admin = Admin::new(AdminConfig::new(&args.bootstrap_server))?;
    if !args.watch {
        let lag = evaluate(&admin, &args.group).await?;
        print!("{}", render(&lag, brook_log::clock::unix_now_ms()));
        return Ok(());
    }
    let stop = shutdown_signal();
    tokio::pin!(stop);
    let mut first = true;
    loop {
        if !first {
            println!();
        }
        first = false;
        match evaluate(&admin, &args.group).await {
            Ok(lag) => print!("{}", render(&lag, brook_log::clock::unix_now_ms())),
            // Keep watching through a coordinator moving or a broker restarting.
            Err(e) => eprintln!("error: {e:#}"),
        }
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(args.interval_ms)) => {}
        }
    }
}

/// The evaluation, with Kafka's words for a group that does not exist.
async fn evaluate(admin: &Admin, group: &str) -> anyhow::Result<GroupLag> {
    match admin.group_lag(group).await {
        Ok(l) => Ok(l),
        Err(e) if e.code() == Some(ErrorCode::GroupIdNotFound) => {
            bail!("Consumer group '{group}' does not exist.")
        }
        Err(e) => Err(e.into()),
    }
}

/// `12ms`, `3.4s`, `5m07s`, `2h05m`.
fn age(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// WINDOW: `start→end offsets (start age→end age ago, N% full)`.
fn window(p: &PartitionLag, now_ms: i64) -> String {
    match (p.start, p.end) {
        (
            Some(LagWindowEntry {
                offset: s,
                timestamp_ms: st,
                ..
            }),
            Some(e),
        ) => format!(
            "{s}→{} ({}→{} ago, {:.0}% full)",
            e.offset,
            age(now_ms - st),
            age(now_ms - e.timestamp_ms),
            p.complete * 100.0
        ),
        _ => "-".to_string(),
    }
}

/// Columns as wide as their widest cell, two spaces apart, the last one unpadded.
fn layout(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What `brook lag` prints for one evaluation at `now_ms`.
pub fn render(lag: &GroupLag, now_ms: i64) -> String {
    let max = lag.max_lag.as_ref().map_or_else(
        || "-".to_string(),
        |m| format!("{}-{} ({})", m.topic, m.partition, m.current_lag),
    );
    let mut out = layout(&[
        [
            "GROUP",
            "STATUS",
            "TOTAL-LAG",
            "PARTITIONS",
            "COMPLETE",
            "MAX-LAG",
        ]
        .map(String::from)
        .to_vec(),
        vec![
            lag.group_id.clone(),
            lag.status.to_string(),
            lag.total_lag.to_string(),
            lag.partitions.len().to_string(),
            format!("{:.0}%", lag.complete * 100.0),
            max,
        ],
    ]);
    if lag.partitions.is_empty() {
        out.push_str("\n(no commits stored by the coordinator yet)\n");
        return out;
    }
    let mut rows = vec![
        [
            "TOPIC",
            "PARTITION",
            "STATUS",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "WINDOW",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for p in &lag.partitions {
        rows.push(vec![
            p.topic.clone(),
            p.partition.to_string(),
            p.status.to_string(),
            opt(p.committed_offset),
            opt(p.end_offset),
            p.current_lag.to_string(),
            window(p, now_ms),
        ]);
    }
    out.push('\n');
    out.push_str(&layout(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_client::admin::LagStatus;

    fn entry(offset: i64, timestamp_ms: i64) -> Option<LagWindowEntry> {
        Some(LagWindowEntry {
            offset,
            timestamp_ms,
            lag: Some(0),
        })
    }

    fn sample() -> GroupLag {
        let stopped = PartitionLag {
            topic: "orders".into(),
            partition: 1,
            status: LagStatus::Stop,
            current_lag: 120,
            start: entry(10, 0),
            end: entry(30, 8_000),
            committed_offset: Some(30),
            end_offset: Some(150),
            complete: 0.5,
        };
        GroupLag {
            group_id: "billing".into(),
            status: LagStatus::Err,
            complete: 0.5,
            total_lag: 120,
            max_lag: Some(stopped.clone()),
            partitions: vec![
                PartitionLag {
                    topic: "orders".into(),
                    partition: 0,
                    status: LagStatus::Ok,
                    current_lag: 0,
                    start: entry(0, 1_000),
                    end: entry(90, 19_500),
                    committed_offset: Some(90),
                    end_offset: Some(90),
                    complete: 1.0,
                },
                stopped,
            ],
        }
    }

    #[test]
    fn render_prints_the_group_line_and_a_row_per_partition_with_its_window() {
        let want = "\
GROUP    STATUS  TOTAL-LAG  PARTITIONS  COMPLETE  MAX-LAG
billing  ERR     120        2           50%       orders-1 (120)

TOPIC   PARTITION  STATUS  CURRENT-OFFSET  LOG-END-OFFSET  LAG  WINDOW
orders  0          OK      90              90              0    0→90 (19.0s→500ms ago, 100% full)
orders  1          STOP    30              150             120  10→30 (20.0s→12.0s ago, 50% full)
";
        assert_eq!(render(&sample(), 20_000), want);
    }

    #[test]
    fn a_group_without_stored_commits_says_so() {
        let lag = GroupLag {
            group_id: "new".into(),
            status: LagStatus::Notfound,
            complete: 1.0,
            total_lag: 0,
            max_lag: None,
            partitions: Vec::new(),
        };
        let text = render(&lag, 0);
        assert!(
            text.starts_with(
                "GROUP  STATUS    TOTAL-LAG  PARTITIONS  COMPLETE  MAX-LAG\nnew    NOTFOUND  0"
            ),
            "{text}"
        );
        assert!(text.contains("no commits stored"), "{text}");
    }

    #[test]
    fn ages_read_at_a_glance() {
        let got: Vec<String> = [5, 3_400, 307_000, 7_500_000].map(age).to_vec();
        assert_eq!(got, ["5ms", "3.4s", "5m07s", "2h05m"]);
    }
}
