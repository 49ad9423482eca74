//! Consumer-side retry, then dead letter (seed §7.5.2, "재시도 / 데드레터": a record whose
//! processing fails goes to a separate topic). brook-client's [`RetryingHandler`] runs the
//! application's handler on each record; a record that fails [`ATTEMPTS`] times (with
//! exponential backoff between tries) is written to `<topic>.dlq` with headers naming the
//! error, the source topic, partition and offset and the attempts, and only then does the
//! committed offset move past it. The good records around it are processed as usual.
//!
//! - Loss window: none. A record is committed past only once it was processed or its dead
//!   letter was acknowledged; if the dead letter cannot be written, nothing after it in its
//!   partition is committed.
//! - Duplicate window: the base strategy's (here commit after processing: the poll in progress),
//!   plus up to [`ATTEMPTS`] runs of the handler on one record (keep its side effects
//!   idempotent), plus a second dead letter if a crash lands between the dead letter and the
//!   commit.
//!
//! `cargo run --example retry_then_dlq` prints the figures; `tests/commit_strategies.rs` asserts
//! them.

use std::collections::BTreeMap;
use std::time::Duration;

use brook::client::consumer::NoopRebalanceListener;
use brook::client::dlq::consumer::header_str;
use brook::client::{
    ConsumerRecord, Handled, HandlerError, OffsetSpec, RetryPolicy, RetryingHandler,
};
use brook::{Cluster, ProducerRecord, TopicPartition};
use tokio::time::Instant;

/// Errors of the example (the cluster's, the client's).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Tries per record before it is dead-lettered.
pub const ATTEMPTS: u32 = 3;
/// Records produced; one of them is poisoned.
pub const RECORDS: usize = 10;
/// The poisoned record's index among them.
pub const POISONED: usize = 6;
/// The source topic; its dead letters go to `orders-dlq-demo.dlq`.
pub const TOPIC: &str = "orders-dlq-demo";
const GROUP: &str = "retry-then-dlq";
const PARTITIONS: i32 = 2;

/// The dead letter as a reader of the DLQ topic sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The topic it was read from.
    pub topic: String,
    /// Its value (the original record's).
    pub value: String,
    /// Its `dlq.*` headers.
    pub headers: BTreeMap<String, String>,
}

/// What the run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Records in the source topic.
    pub produced: usize,
    /// Good records the handler processed (each once).
    pub processed: usize,
    /// Where the poisoned record was (partition, offset).
    pub poisoned_at: (i32, i64),
    /// How often the handler ran on the poisoned record.
    pub attempts_on_poisoned: u32,
    /// Records the handler dead-lettered.
    pub dead_lettered: usize,
    /// The dead letter, read back from the DLQ topic.
    pub dead_letter: DeadLetter,
    /// The group's committed offsets at the end.
    pub committed: BTreeMap<TopicPartition, i64>,
    /// The source partitions' end offsets.
    pub end_offsets: BTreeMap<TopicPartition, i64>,
}

/// The application's processing: an order value is `order <number>`.
fn parse_order(r: &ConsumerRecord) -> Result<u32, HandlerError> {
    let value = std::str::from_utf8(r.value.as_deref().unwrap_or_default())?;
    let number = value
        .strip_prefix("order ")
        .ok_or_else(|| HandlerError::new("InvalidOrder", format!("not an order: {value:?}")))?;
    Ok(number.parse::<u32>()?)
}

/// Produces the records (one poisoned), consumes them through a `RetryingHandler`, committing
/// after each poll, and reads the dead letter back.
pub async fn run(cluster: &Cluster) -> Result<Outcome, Error> {
    let rf = cluster.broker_ids().len().min(3) as i32;
    cluster.create_topic(TOPIC, PARTITIONS, rf).await?;
    let dlq_topic = format!("{TOPIC}.dlq");
    cluster.create_topic(&dlq_topic, 1, rf).await?;
    let producer = cluster.producer().build().await?;
    let mut poisoned_at = (0, 0);
    for i in 0..RECORDS {
        let value = if i == POISONED {
            "order seven".to_string() // not a number: parsing fails on every try
        } else {
            format!("order {i}")
        };
        let md = producer
            .send_and_wait(ProducerRecord::with_key(TOPIC, format!("order-{i}"), value))
            .await?;
        if i == POISONED {
            poisoned_at = (md.partition, md.offset);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);

    let mut consumer = cluster
        .consumer()
        .group_id(GROUP)
        .from_beginning()
        .config("enable.auto.commit", "false")
        .config("session.timeout.ms", "1000")
        .config("heartbeat.interval.ms", "100")
        .build()
        .await?;
    consumer.subscribe(vec![TOPIC.to_string()], NoopRebalanceListener)?;
    let policy =
        RetryPolicy::new(ATTEMPTS).backoff(Duration::from_millis(20), Duration::from_millis(200));
    let mut handler = RetryingHandler::new(producer.clone(), policy);

    let mut processed = Vec::new();
    let mut attempts_on_poisoned = 0;
    let mut handled = 0;
    let mut dead_lettered = 0;
    while handled < RECORDS {
        if Instant::now() >= deadline {
            return Err(format!("only {handled} of {RECORDS} records were handled in time").into());
        }
        let records = consumer.poll(Duration::from_millis(100)).await?;
        let mut work = async |r: &ConsumerRecord| -> Result<(), HandlerError> {
            if (r.partition, r.offset) == poisoned_at {
                attempts_on_poisoned += 1;
            }
            processed.push(parse_order(r)?);
            Ok(())
        };
        for outcome in handler.handle_all(&records, &mut work).await? {
            if matches!(outcome, Handled::DeadLettered { .. }) {
                dead_lettered += 1;
            }
        }
        handled += records.len();
        // Commit after processing: past every handled record, the dead-lettered one included.
        handler.commit(&mut consumer).await?;
    }
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();
    let committed = consumer
        .committed(&partitions)
        .await?
        .into_iter()
        .filter_map(|(tp, o)| o.map(|o| (tp, o)))
        .collect();
    consumer.close().await?;

    // Read the dead letter back, as an operator's tool would (assign mode, no group).
    let mut reader = cluster.consumer().from_beginning().build().await?;
    reader.assign(vec![TopicPartition::new(dlq_topic.as_str(), 0)]);
    let dead = loop {
        if Instant::now() >= deadline {
            return Err("the dead letter was not found in the DLQ topic".into());
        }
        if let Some(r) = reader
            .poll(Duration::from_millis(100))
            .await?
            .into_iter()
            .next()
        {
            break r;
        }
    };
    let headers = dead
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("dlq."))
        .map(|(k, _)| {
            (
                k.clone(),
                header_str(&dead.headers, k).unwrap_or("").to_string(),
            )
        })
        .collect();
    let dead_letter = DeadLetter {
        topic: dead.topic.clone(),
        value: String::from_utf8_lossy(dead.value.as_deref().unwrap_or_default()).into_owned(),
        headers,
    };
    let admin = cluster.admin()?;
    let mut end_offsets = BTreeMap::new();
    for tp in partitions {
        let end = admin.list_offsets(&tp, OffsetSpec::Latest).await?;
        end_offsets.insert(tp, end);
    }
    producer.close().await;
    Ok(Outcome {
        produced: RECORDS,
        processed: processed.len(),
        poisoned_at,
        attempts_on_poisoned,
        dead_lettered,
        dead_letter,
        committed,
        end_offsets,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cluster = Cluster::builder().brokers(1).start().await?;
    let o = run(&cluster).await?;
    println!(
        "retry then dead letter: {} records, one poisoned at {TOPIC}-{} @{}",
        o.produced, o.poisoned_at.0, o.poisoned_at.1
    );
    println!(
        "{} good records processed; the poisoned one was tried {} times and is in {} (value {:?})",
        o.processed, o.attempts_on_poisoned, o.dead_letter.topic, o.dead_letter.value
    );
    for (k, v) in &o.dead_letter.headers {
        println!("  {k}: {v}");
    }
    for (tp, c) in &o.committed {
        println!(
            "committed {tp} = {c} (end offset {})",
            o.end_offsets.get(tp).copied().unwrap_or(-1)
        );
    }
    cluster.shutdown().await?;
    Ok(())
}
