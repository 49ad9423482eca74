//! `brook topics create | list | describe | delete` (SPEC §10). `describe` shows, per partition,
//! leader, leader epoch, replicas, ISR, high watermark and each replica's LEO and lag; `--json`
//! prints one JSON object per topic in the format SPEC §10 fixes.

use anyhow::Context;
use brook_client::AdminConfig;
use brook_client::admin::Admin;
use brook_proto::v1::TopicDescription;
use serde_json::json;

#[derive(clap::Args)]
pub struct TopicsArgs {
    #[arg(long, default_value = "127.0.0.1:9092", global = true)]
    bootstrap_server: String,
    #[command(subcommand)]
    command: TopicsCommand,
}

#[derive(clap::Subcommand)]
enum TopicsCommand {
    /// Create a topic.
    Create {
        #[arg(long)]
        topic: String,
        /// Number of partitions; the default, -1, takes the broker's `num.partitions`.
        #[arg(long, default_value_t = -1)]
        partitions: i32,
        /// Replicas per partition; the default, -1, takes the broker's
        /// `default.replication.factor`.
        #[arg(long, default_value_t = -1)]
        replication_factor: i32,
        /// Topic config override, e.g. `--config min.insync.replicas=2`.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
    },
    /// List topic names.
    List,
    /// Describe topics (all when --topic is omitted).
    Describe {
        #[arg(long)]
        topic: Option<String>,
        /// One JSON object per topic (SPEC §10's format) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a topic.
    Delete {
        #[arg(long)]
        topic: String,
    },
}

pub async fn run(args: TopicsArgs) -> anyhow::Result<()> {
    let admin = Admin::new(AdminConfig::new(&args.bootstrap_server))?;
    match args.command {
        TopicsCommand::Create {
            topic,
            partitions,
            replication_factor,
            configs,
        } => {
            let configs = configs
                .iter()
                .map(|c| {
                    c.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .with_context(|| format!("--config {c}: expected KEY=VALUE"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            admin
                .create_topic(&topic, partitions, replication_factor, &configs)
                .await?;
            println!("Created topic {topic}.");
        }
        TopicsCommand::List => {
            for name in admin.list_topics().await? {
                println!("{name}");
            }
        }
        TopicsCommand::Describe { topic, json } => {
            let names: Vec<&str> = topic.iter().map(String::as_str).collect();
            for t in admin.describe_topics(&names).await? {
                if json {
                    println!("{}", describe_json(&t));
                } else {
                    print!("{}", describe_text(&t));
                }
            }
        }
        TopicsCommand::Delete { topic } => {
            admin.delete_topic(&topic).await?;
            println!("Deleted topic {topic}.");
        }
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Kafka's `kafka-topics --describe` layout, plus HW and per-replica LEO/lag.
pub fn describe_text(t: &TopicDescription) -> String {
    let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
    let mut configs: Vec<String> = t.configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    configs.sort();
    let mut out = format!(
        "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}\n",
        t.name,
        t.partitions.len(),
        rf,
        configs.join(",")
    );
    for p in &t.partitions {
        let replicas: Vec<String> = p
            .replica_states
            .iter()
            .map(|r| format!("{}:{}(lag {})", r.id, r.log_end_offset, r.lag))
            .collect();
        out.push_str(&format!(
            "\tTopic: {}\tPartition: {}\tLeader: {}\tLeaderEpoch: {}\tReplicas: {}\tIsr: {}\tHighWatermark: {}\tLogStartOffset: {}\tReplicaLEOs: {}\n",
            t.name,
            p.partition,
            if p.leader < 0 { "none".to_string() } else { p.leader.to_string() },
            p.leader_epoch,
            join(&p.replicas),
            join(&p.isr),
            p.high_watermark,
            p.log_start_offset,
            replicas.join(" ")
        ));
    }
    out
}

/// SPEC §10's JSON shape.
pub fn describe_json(t: &TopicDescription) -> serde_json::Value {
    json!({
        "topic": t.name,
        "partitions": t.partitions.iter().map(|p| json!({
            "partition": p.partition,
            "leader": p.leader,
            "leader_epoch": p.leader_epoch,
            "replicas": p.replicas,
            "isr": p.isr,
            "high_watermark": p.high_watermark,
            "log_start_offset": p.log_start_offset,
            "replica_states": p.replica_states.iter().map(|r| json!({
                "id": r.id,
                "log_end_offset": r.log_end_offset,
                "lag": r.lag,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
