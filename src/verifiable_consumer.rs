//! `brook verifiable-consumer`: Kafka's VerifiableConsumer (rules V3/V4) — subscribes to a topic
//! as a member of `--group-id` (or, with `--assign`, reads every partition in assign mode),
//! resuming from and committing to the group's offsets after every poll, and prints one JSON
//! line per poll, per commit and per rebalance (and per record with `--verbose`) on stdout.
//! Ctrl-C or SIGTERM stops it after the current poll (a member then revokes its partitions and
//! leaves the group); a second signal exits at once.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use brook_client::OffsetReset;
use brook_verify::consumer::{self, ConsumerOptions};
use brook_verify::tool::load_properties;

use crate::signal::stop_on_signals;

#[derive(clap::Args)]
pub struct VerifiableConsumerArgs {
    #[arg(long, alias = "broker-list", default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long)]
    topic: String,
    /// The consumer group to join (and whose committed offsets to resume from and commit to).
    #[arg(long)]
    group_id: String,
    /// Brook: read every partition in assign mode instead of subscribing as a group member.
    #[arg(long)]
    assign: bool,
    /// `partition.assignment.strategy`: range, roundrobin or cooperative-sticky (or Kafka's
    /// class names); default: the client's (range, cooperative-sticky).
    #[arg(long, value_name = "STRATEGY")]
    assignment_strategy: Option<String>,
    /// `group.instance.id`: join as a static member.
    #[arg(long, value_name = "ID")]
    group_instance_id: Option<String>,
    /// Where to start without a committed offset: earliest, latest or none.
    #[arg(long, default_value = "earliest", value_parser = ["earliest", "latest", "none"])]
    reset_policy: String,
    /// Let the client auto-commit instead of committing after every poll.
    #[arg(long)]
    enable_autocommit: bool,
    /// Records to consume; -1 = until stopped.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    max_messages: i64,
    /// Print every record (`record_data`).
    #[arg(long)]
    verbose: bool,
    /// `session.timeout.ms` of the group membership (Kafka's tool default: 30000).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    session_timeout: u64,
    /// Properties file of Kafka consumer keys; the flags above win over it.
    #[arg(long = "consumer.config", value_name = "FILE")]
    consumer_config: Option<PathBuf>,
    /// Brook: stop after this long without a record (default: never).
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
}

pub async fn run(args: VerifiableConsumerArgs) -> anyhow::Result<()> {
    let mut options = ConsumerOptions::new(&args.topic, &args.bootstrap_server, &args.group_id);
    options.reset_policy = match args.reset_policy.as_str() {
        "latest" => OffsetReset::Latest,
        "none" => OffsetReset::None,
        _ => OffsetReset::Earliest,
    };
    options.enable_autocommit = args.enable_autocommit;
    options.max_messages = args.max_messages;
    options.verbose = args.verbose;
    options.idle_timeout = args.idle_timeout_ms.map(Duration::from_millis);
    if let Some(path) = &args.consumer_config {
        options.consumer_config = load_properties(path)?;
    }
    options.assign = args.assign;
    options.assignment_strategy = args.assignment_strategy;
    options.group_instance_id = args.group_instance_id;
    options.session_timeout = Some(Duration::from_millis(args.session_timeout));
    stop_on_signals(options.stop.clone());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    consumer::run(&options, &mut out).await?;
    out.flush()?;
    Ok(())
}
