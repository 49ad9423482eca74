//! README, "Embedded, in a test": the snippet, compiled (`tests/readme.rs` checks that the
//! README still shows exactly these lines). Run it with `cargo run --example embedded`: it starts
//! three brokers in this process, kills, restarts and isolates a leader, and heals the cluster.

#[tokio::main]
#[rustfmt::skip] // the body is the README's text, line for line
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = brook::Cluster::builder()
        .brokers(3)
        .racks(["a", "b", "c"])
        .broker_config("replica.lag.time.max.ms", "300")
        .start().await?;                                   // ready when it returns
    cluster.create_topic("orders", 6, 3).config("min.insync.replicas", "2").await?;
    let producer = cluster.producer().acks(brook::Acks::All).build().await?;
    producer.send_and_wait(brook::ProducerRecord::with_key("orders", "k", "v")).await?;
    let leader = cluster.leader_of("orders", 0).await?;
    cluster.kill(leader).await?;                          // crash + lose unflushed data
    cluster.restart(leader).await?;
    cluster.isolate(leader).await?;                       // faults at the connection layer Brook uses
    cluster.heal().await?;
    cluster.wait_until(|v| v.isr("orders", 0).len() == 3, std::time::Duration::from_secs(5)).await?;
    cluster.shutdown().await?;
    Ok(())
}
