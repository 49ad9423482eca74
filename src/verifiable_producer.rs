//! `brook verifiable-producer`: Kafka's VerifiableProducer (rules V1/V2) — sends the values 0, 1,
//! 2, … and prints one JSON line per outcome on stdout, for `brook verify check` or kafkatest's
//! parsers. Ctrl-C (or SIGTERM, as kafkatest sends) stops sending; outstanding sends are still
//! reported, then `tool_data` and `shutdown_complete`. A second signal exits at once.

use std::io::Write;
use std::path::PathBuf;

use brook_client::Acks;
use brook_verify::producer::{self, ProducerOptions};
use brook_verify::tool::load_properties;

use crate::signal::stop_on_signals;

#[derive(clap::Args)]
pub struct VerifiableProducerArgs {
    #[arg(long, alias = "broker-list", default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long)]
    topic: String,
    /// Values to send; -1 = until stopped.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    max_messages: i64,
    /// Messages per second; -1 = unthrottled.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    throughput: i64,
    /// 0, 1, all or -1 (wins over `acks` in --producer.config, as in Kafka).
    #[arg(long, default_value = "-1", allow_negative_numbers = true)]
    acks: String,
    /// Values become PREFIX.N.
    #[arg(long)]
    value_prefix: Option<String>,
    /// Keys cycle through 0..K-1 (default: null keys).
    #[arg(long)]
    repeating_keys: Option<u32>,
    /// Properties file of Kafka producer keys (retries, delivery.timeout.ms, …). Without a
    /// `retries` key the tool runs with retries=0, as Kafka's does.
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// Sets enable.idempotence=true (and so keeps the client's retries).
    #[arg(long)]
    enable_idempotence: bool,
}

pub async fn run(args: VerifiableProducerArgs) -> anyhow::Result<()> {
    let mut options = ProducerOptions::new(&args.topic, &args.bootstrap_server);
    options.max_messages = args.max_messages;
    options.throughput = args.throughput;
    options.acks = args.acks.parse::<Acks>()?;
    options.value_prefix = args.value_prefix;
    options.repeating_keys = args.repeating_keys;
    if let Some(path) = &args.producer_config {
        options.producer_config = load_properties(path)?;
    }
    if args.enable_idempotence {
        options
            .producer_config
            .push(("enable.idempotence".into(), "true".into()));
    }
    stop_on_signals(options.stop.clone());
    // Buffered, and flushed by the tool after each burst of events, so a consumer of stdout sees
    // every outcome promptly without one write per line.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    producer::run(&options, &mut out).await?;
    out.flush()?;
    Ok(())
}
