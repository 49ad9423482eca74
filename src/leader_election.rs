//! `brook leader-election`, Kafka's `kafka-leader-election.sh`: a preferred or unclean election
//! for one partition (`--topic T --partition P`) or all of them (`--all-topic-partitions`). This
//! module owns the arguments and the tool's report: partitions that got a leader, those that
//! already had a valid one (ELECTION_NOT_NEEDED, not a failure), and the failures, which make
//! the command exit non-zero.

use anyhow::bail;
use brook_client::admin::Admin;
use brook_client::{AdminConfig, ClientError, ErrorCode, TopicPartition};
use brook_proto::v1::ElectionType;

#[derive(clap::Args)]
#[command(group(
    clap::ArgGroup::new("partitions")
        .required(true)
        .args(["topic", "all_topic_partitions"])
))]
pub struct LeaderElectionArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// PREFERRED or UNCLEAN (any case).
    #[arg(long, value_parser = parse_election_type)]
    election_type: ElectionType,
    /// The topic of the partition to elect a leader for (with --partition).
    #[arg(long, requires = "partition")]
    topic: Option<String>,
    /// The partition to elect a leader for (with --topic).
    #[arg(long, requires = "topic", conflicts_with = "all_topic_partitions")]
    partition: Option<i32>,
    /// Every partition of every topic.
    #[arg(long)]
    all_topic_partitions: bool,
}

fn parse_election_type(s: &str) -> Result<ElectionType, String> {
    match s.to_ascii_lowercase().as_str() {
        "preferred" => Ok(ElectionType::ElectionPreferred),
        "unclean" => Ok(ElectionType::ElectionUnclean),
        _ => Err(format!("expected PREFERRED or UNCLEAN, not '{s}'")),
    }
}

/// The name Kafka's tool prints in its report.
fn type_name(t: ElectionType) -> &'static str {
    match t {
        ElectionType::ElectionPreferred => "PREFERRED",
        ElectionType::ElectionUnclean => "UNCLEAN",
    }
}

pub async fn run(args: LeaderElectionArgs) -> anyhow::Result<()> {
    let partitions = match (&args.topic, args.partition) {
        (Some(topic), Some(p)) => vec![TopicPartition::new(topic.clone(), p)],
        _ => Vec::new(),
    };
    let admin = Admin::new(AdminConfig::new(&args.bootstrap_server))?;
    let results = admin.elect_leaders(args.election_type, &partitions).await?;
    let report = Report::new(results);
    print!("{}", report.text(type_name(args.election_type)));
    if !report.failed.is_empty() {
        bail!("{} replica(s) could not be elected", report.failed.len());
    }
    Ok(())
}

/// Election results sorted into Kafka's three groups.
#[derive(Debug, Default)]
struct Report {
    succeeded: Vec<TopicPartition>,
    not_needed: Vec<TopicPartition>,
    failed: Vec<(TopicPartition, &'static str)>,
}

impl Report {
    fn new(results: impl IntoIterator<Item = (TopicPartition, Result<(), ClientError>)>) -> Self {
        let mut r = Report::default();
        for (tp, result) in results {
            match result {
                Ok(()) => r.succeeded.push(tp),
                Err(e) if e.code() == Some(ErrorCode::ElectionNotNeeded) => r.not_needed.push(tp),
                Err(e) => r.failed.push((tp, e.name())),
            }
        }
        r
    }

    fn text(&self, election_type: &str) -> String {
        let list = |tps: &[TopicPartition]| {
            tps.iter()
                .map(TopicPartition::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = String::new();
        if !self.succeeded.is_empty() {
            out.push_str(&format!(
                "Successfully completed leader election ({election_type}) for partitions {}\n",
                list(&self.succeeded)
            ));
        }
        if !self.not_needed.is_empty() {
            out.push_str(&format!(
                "Valid replica already elected for partitions {}\n",
                list(&self.not_needed)
            ));
        }
        for (tp, code) in &self.failed {
            out.push_str(&format!(
                "Error completing leader election ({election_type}) for partition: {tp}: {code}\n"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_type_is_case_insensitive() {
        assert_eq!(
            parse_election_type("UNCLEAN"),
            Ok(ElectionType::ElectionUnclean)
        );
        assert_eq!(
            parse_election_type("preferred"),
            Ok(ElectionType::ElectionPreferred)
        );
        assert!(parse_election_type("clean").is_err());
    }

    #[test]
    fn report_groups_results_like_kafkas_tool() {
        let tp = |p| TopicPartition::new("t", p);
        let err = |code| Err(ClientError::kafka(code, "elect leader"));
        let report = Report::new([
            (tp(0), Ok(())),
            (tp(1), err(ErrorCode::ElectionNotNeeded)),
            (tp(2), Ok(())),
            (tp(3), err(ErrorCode::EligibleLeadersNotAvailable)),
        ]);
        assert_eq!(
            report.text("UNCLEAN"),
            "Successfully completed leader election (UNCLEAN) for partitions t-0, t-2\n\
             Valid replica already elected for partitions t-1\n\
             Error completing leader election (UNCLEAN) for partition: t-3: \
             ELIGIBLE_LEADERS_NOT_AVAILABLE\n"
        );
        assert_eq!(report.failed.len(), 1);
    }
}
