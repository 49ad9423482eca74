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
    Ok(())
}
