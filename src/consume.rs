//! `brook consume`: prints record values, one per line. Without `--partition` it reads every
//! partition of the topic. `--timeout-ms` keeps Kafka's console-consumer meaning: exit after that
//! long with no new record.

use std::time::{Duration, Instant};

use anyhow::bail;
use brook_client::admin::Admin;
use brook_client::consumer::Consumer;
use brook_client::{AdminConfig, ConsumerConfig, TopicPartition};
use tokio::io::AsyncWriteExt;

#[derive(clap::Args)]
pub struct ConsumeArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long)]
    topic: String,
    /// Start at the earliest offset when there is no committed one (default: only new records).
    #[arg(long)]
    from_beginning: bool,
    /// Exit after this many records.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Exit after this long without a new record.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Read only this partition (with --offset to start somewhere specific).
    #[arg(long)]
    partition: Option<i32>,
    /// Start --partition at this offset.
    #[arg(long, requires = "partition")]
    offset: Option<i64>,
    /// Consumer group whose committed offsets to use and advance.
    #[arg(long)]
    group: Option<String>,
    /// Also print the key (`key<TAB>value`).
    #[arg(long)]
    print_key: bool,
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let mut pairs = vec![
        ("bootstrap.servers", args.bootstrap_server.as_str()),
        (
            "auto.offset.reset",
            if args.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        ),
    ];
    if let Some(g) = &args.group {
        pairs.push(("group.id", g.as_str()));
    }
    let mut consumer = Consumer::new(ConsumerConfig::from_pairs(pairs)?)?;
    let partitions: Vec<TopicPartition> = match args.partition {
        Some(p) => vec![TopicPartition::new(&args.topic, p)],
        None => {
            let admin = Admin::new(AdminConfig::new(&args.bootstrap_server))?;
            let topics = admin.describe_topics(&[args.topic.as_str()]).await?;
            let Some(t) = topics.first() else {
                bail!(
                    "UNKNOWN_TOPIC_OR_PARTITION: topic {} does not exist",
                    args.topic
                );
            };
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(&args.topic, p.partition))
                .collect()
        }
    };
    consumer.assign(partitions.clone());
    if let (Some(o), Some(tp)) = (args.offset, partitions.first()) {
        consumer.seek(tp, o)?;
    }
    let mut out = tokio::io::BufWriter::new(tokio::io::stdout());
    let mut seen = 0u64;
    let mut last_record = Instant::now();
    loop {
        if args.max_messages.is_some_and(|m| seen >= m) {
            break;
        }
        if args
            .timeout_ms
            .is_some_and(|t| last_record.elapsed() >= Duration::from_millis(t))
        {
            break;
        }
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if !records.is_empty() {
            last_record = Instant::now();
        }
        for r in records {
            if args.max_messages.is_some_and(|m| seen >= m) {
                break;
            }
            if args.print_key {
                out.write_all(r.key.as_deref().unwrap_or(b"null")).await?;
                out.write_all(b"\t").await?;
            }
            out.write_all(r.value.as_deref().unwrap_or(b"null")).await?;
            out.write_all(b"\n").await?;
            seen += 1;
        }
        out.flush().await?;
    }
    out.flush().await?;
    if args.group.is_some() {
        consumer.commit_sync().await?;
    }
    consumer.close().await?;
    eprintln!("Processed a total of {seen} messages");
    Ok(())
}
