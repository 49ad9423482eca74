//! `brook produce`: one record per stdin line, through the batching, pipelined producer (a file of
//! a million lines goes through at the client's full speed, not one round trip per line). Exits
//! non-zero, naming the Kafka error, if any record failed for good.

use std::collections::VecDeque;

use anyhow::bail;
use brook_client::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord};
use tokio::io::AsyncBufReadExt;

/// How many deliveries may be outstanding before we wait for the oldest (bounds memory; the
/// producer's own `buffer.memory` bounds the bytes).
const MAX_OUTSTANDING: usize = 100_000;

#[derive(clap::Args)]
pub struct ProduceArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long)]
    topic: String,
    /// 0, 1 or all.
    #[arg(long, default_value = "all")]
    acks: String,
    /// Split each line into key and value at the first occurrence of this separator.
    #[arg(long)]
    key_separator: Option<String>,
    /// Print `partition offset durability` for every acknowledged record.
    #[arg(long)]
    print_offsets: bool,
    /// Producer config, Kafka keys: `--producer-property linger.ms=10`.
    #[arg(long = "producer-property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
}

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let mut pairs: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), args.bootstrap_server.clone()),
        ("acks".into(), args.acks.clone()),
    ];
    for p in &args.properties {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--producer-property {p}: expected KEY=VALUE"))?;
        pairs.push((k.to_string(), v.to_string()));
    }
    let config = ProducerConfig::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let producer = Producer::new(config)?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut outstanding: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut report = Report::default();
    while let Some(line) = lines.next_line().await? {
        let record = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => ProducerRecord::with_key(&args.topic, k.to_string(), v.to_string()),
                None => ProducerRecord::new(&args.topic, line),
            },
            None => ProducerRecord::new(&args.topic, line),
        };
        match producer.send(record).await {
            Ok(delivery) => outstanding.push_back(delivery),
            Err(e) => report.failed(e),
        }
        while outstanding.len() >= MAX_OUTSTANDING {
            if let Some(d) = outstanding.pop_front() {
                report.delivered(d.await, args.print_offsets);
            }
        }
    }
    producer.flush().await;
    for d in outstanding {
        report.delivered(d.await, args.print_offsets);
    }
    producer.close().await;
    if let Some(first) = report.first_error {
        bail!(
            "{} of {} records failed; first error: {first}",
            report.failures,
            report.failures + report.ok
        );
    }
    Ok(())
}

#[derive(Default)]
struct Report {
    ok: u64,
    failures: u64,
    first_error: Option<brook_client::ClientError>,
}

impl Report {
    fn delivered(
        &mut self,
        r: Result<brook_client::RecordMetadata, brook_client::ClientError>,
        print: bool,
    ) {
        match r {
            Ok(m) => {
                self.ok += 1;
                if print {
                    println!("{} {} {}", m.partition, m.offset, m.durability.name());
                }
            }
            Err(e) => self.failed(e),
        }
    }

    fn failed(&mut self, e: brook_client::ClientError) {
        self.failures += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}
