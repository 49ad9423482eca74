//! `brook quorum describe`, Kafka's `kafka-metadata-quorum.sh describe`: the controller quorum as
//! the active controller sees it. `--status` (the default) prints Kafka's summary fields,
//! `--replication` one row per voter (log end, lag, last contact), `--json` the whole answer as
//! one JSON object. This module owns the arguments and the rendering; the figures come from the
//! broker's DescribeQuorum.

use brook_client::AdminConfig;
use brook_client::admin::Admin;
use brook_proto::v1::DescribeQuorumResponse;

#[derive(clap::Args)]
pub struct QuorumArgs {
    #[command(subcommand)]
    command: QuorumCommand,
}

#[derive(clap::Subcommand)]
enum QuorumCommand {
    /// Describe the controller quorum (--status, --replication, --json).
    Describe(DescribeArgs),
}

#[derive(clap::Args)]
struct DescribeArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// Kafka's summary: LeaderId, LeaderEpoch, HighWatermark, MaxFollowerLag, CurrentVoters, …
    #[arg(long)]
    status: bool,
    /// One row per voter: NodeId, LogEndOffset, Lag, LastFetchTimestamp, Status.
    #[arg(long)]
    replication: bool,
    /// The whole answer as one JSON object (both views).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: QuorumArgs) -> anyhow::Result<()> {
    let QuorumCommand::Describe(args) = args.command;
    let admin = Admin::new(AdminConfig::new(&args.bootstrap_server))?;
    let q = admin.describe_quorum().await?;
    if args.json {
        println!("{}", json(&q));
    } else if args.replication {
        print!("{}", replication(&q));
    } else {
        print!("{}", status(&q));
    }
    Ok(())
}

fn ids(q: &DescribeQuorumResponse) -> String {
    let ids: Vec<String> = q.voters.iter().map(|v| v.node_id.to_string()).collect();
    format!("[{}]", ids.join(","))
}

/// Kafka's `--status` layout.
pub fn status(q: &DescribeQuorumResponse) -> String {
    let observers: Vec<String> = q.observers.iter().map(|v| v.node_id.to_string()).collect();
    let rows = [
        ("ClusterId", "brook".to_string()),
        ("LeaderId", q.leader_id.to_string()),
        ("LeaderEpoch", q.leader_epoch.to_string()),
        ("HighWatermark", q.high_watermark.to_string()),
        ("MaxFollowerLag", q.max_follower_lag.to_string()),
        (
            "MaxFollowerLagTimeMs",
            q.max_follower_lag_time_ms.to_string(),
        ),
        ("CurrentVoters", ids(q)),
        ("CurrentObservers", format!("[{}]", observers.join(","))),
        ("AnsweredBy", q.answered_by.to_string()),
    ];
    rows.iter()
        .map(|(k, v)| format!("{:<22}{v}\n", format!("{k}:")))
        .collect()
}

/// Kafka's `--replication` table. Lag is the leader's log end minus the voter's.
pub fn replication(q: &DescribeQuorumResponse) -> String {
    let leader_end = q
        .voters
        .iter()
        .find(|v| v.node_id == q.leader_id)
        .map_or(-1, |v| v.log_end_offset);
    let mut out = format!(
        "{:<8}{:<14}{:<6}{:<20}{:<24}{}\n",
        "NodeId", "LogEndOffset", "Lag", "LastFetchTimestamp", "LastCaughtUpTimestamp", "Status"
    );
    for v in q.voters.iter().chain(&q.observers) {
        let lag = if v.log_end_offset >= 0 && leader_end >= 0 {
            (leader_end - v.log_end_offset).to_string()
        } else {
            "-".into()
        };
        out.push_str(&format!(
            "{:<8}{:<14}{:<6}{:<20}{:<24}{}\n",
            v.node_id,
            v.log_end_offset,
            lag,
            v.last_fetch_timestamp,
            v.last_caught_up_timestamp,
            v.status
        ));
    }
    out
}

/// Everything as one JSON object.
pub fn json(q: &DescribeQuorumResponse) -> serde_json::Value {
    let replica = |v: &brook_proto::v1::QuorumReplica| {
        serde_json::json!({
            "nodeId": v.node_id,
            "logEndOffset": v.log_end_offset,
            "lastFetchTimestamp": v.last_fetch_timestamp,
            "lastCaughtUpTimestamp": v.last_caught_up_timestamp,
            "status": v.status,
        })
    };
    serde_json::json!({
        "leaderId": q.leader_id,
        "leaderEpoch": q.leader_epoch,
        "highWatermark": q.high_watermark,
        "maxFollowerLag": q.max_follower_lag,
        "maxFollowerLagTimeMs": q.max_follower_lag_time_ms,
        "currentVoters": q.voters.iter().map(replica).collect::<Vec<_>>(),
        "currentObservers": q.observers.iter().map(replica).collect::<Vec<_>>(),
        "answeredBy": q.answered_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_proto::v1::QuorumReplica;

    fn sample() -> DescribeQuorumResponse {
        let voter = |id, end, status: &str| QuorumReplica {
            node_id: id,
            log_end_offset: end,
            last_fetch_timestamp: 1000,
            last_caught_up_timestamp: if end == 42 { 1000 } else { -1 },
            status: status.into(),
        };
        DescribeQuorumResponse {
            leader_id: 2,
            leader_epoch: 5,
            high_watermark: 42,
            max_follower_lag: 2,
            max_follower_lag_time_ms: 30,
            voters: vec![
                voter(1, 40, "Follower"),
                voter(2, 42, "Leader"),
                voter(3, 42, "Follower"),
            ],
            answered_by: 2,
            ..Default::default()
        }
    }

    #[test]
    fn status_prints_kafkas_fields() {
        let text = status(&sample());
        assert!(text.contains("LeaderId:             2\n"), "{text}");
        assert!(text.contains("LeaderEpoch:          5\n"), "{text}");
        assert!(text.contains("HighWatermark:        42\n"), "{text}");
        assert!(text.contains("MaxFollowerLag:       2\n"), "{text}");
        assert!(text.contains("CurrentVoters:        [1,2,3]\n"), "{text}");
    }

    #[test]
    fn replication_rows_show_each_voters_lag() {
        let text = replication(&sample());
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 4, "{text}");
        let lag_of = |id: &str| {
            rows.iter()
                .find(|r| r.split_whitespace().next() == Some(id))
                .and_then(|r| r.split_whitespace().nth(2))
                .map(str::to_string)
        };
        assert_eq!(lag_of("1").as_deref(), Some("2"));
        assert_eq!(lag_of("2").as_deref(), Some("0"));
        assert!(rows[2].ends_with("Leader"), "{text}");
    }

    #[test]
    fn json_carries_every_voter() {
        let v = json(&sample());
        assert_eq!(v["leaderId"], 2);
        assert_eq!(v["currentVoters"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["currentVoters"][0]["logEndOffset"], 40);
    }
}
