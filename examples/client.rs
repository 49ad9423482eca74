//! README, "From Rust": the snippet, compiled (`tests/readme.rs` checks that the README still
//! shows exactly these lines). It needs a broker at 127.0.0.1:9092: `brook serve` in another
//! terminal, then `cargo run --example client`.

#[tokio::main]
#[rustfmt::skip] // the body is the README's text, line for line
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use brook_client::{Producer, ProducerConfig, ProducerRecord, ConsumerConfig, TopicPartition};
    use brook_client::consumer::Consumer;

    let producer = Producer::new(ProducerConfig::new("127.0.0.1:9092"))?;   // acks=all, idempotent
    let md = producer.send_and_wait(ProducerRecord::with_key("orders", "k", "v")).await?;
    println!("{}-{} @{} {}", md.topic, md.partition, md.offset, md.durability.name()); // e.g. ISR_FLUSHED

    let mut consumer = Consumer::new(ConsumerConfig::from_pairs([
        ("bootstrap.servers", "127.0.0.1:9092"), ("group.id", "billing"), ("auto.offset.reset", "earliest"),
    ])?)?;
    consumer.assign(vec![TopicPartition::new("orders", 0)]);
    for r in consumer.poll(std::time::Duration::from_secs(1)).await? { println!("{}", r.offset); }
    consumer.commit_sync().await?;

    // As a member of group "billing": partitions come from the group's rebalances.
    let mut member = Consumer::new(ConsumerConfig::from_pairs([
        ("bootstrap.servers", "127.0.0.1:9092"), ("group.id", "billing"),
        ("partition.assignment.strategy", "cooperative-sticky"), ("enable.auto.commit", "false"),
    ])?)?;
    member.subscribe(vec!["orders".into()], brook_client::NoopRebalanceListener)?;
    let records = member.poll(std::time::Duration::from_secs(5)).await?;   // joins the group first
    println!("{} records from {:?}", records.len(), member.assignment());
    member.commit_sync().await?;   // after processing: at most this poll is repeated after a crash
    member.close().await?;         // revokes, commits nothing more (auto-commit is off), leaves
    Ok(())
}
