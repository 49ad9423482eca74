//! (b) Partition leader failover: kill (power loss) the leader of an RF 3 partition that is not
//! the active controller, and time the acks=all write that follows.

use std::time::{Duration, Instant};

use brook::bench::baseline::median;
use brook::client::Acks;
use brook::{Cluster, Producer, ProducerRecord};

use crate::{BenchResult, Dirs, Plan, builder, ms};

/// Creates RF 3, min.insync.replicas 2 topics `{prefix}-{i}` of `partitions` partitions until
/// one has a partition whose leader satisfies `wanted` (assignment is a pure function of the
/// name, so this is deterministic); returns (topic, partition, leader).
pub async fn find_partition(
    cluster: &Cluster,
    prefix: &str,
    partitions: i32,
    wanted: impl Fn(i32) -> bool,
) -> BenchResult<(String, i32, i32)> {
    for i in 0..10 {
        let topic = format!("{prefix}-{i}");
        cluster
            .create_topic(&topic, partitions, 3)
            .config("min.insync.replicas", "2")
            .await?;
        let view = cluster
            .wait_until(
                |v| (0..partitions).all(|p| v.isr(&topic, p).len() == 3),
                Duration::from_secs(5),
            )
            .await?;
        for p in 0..partitions {
            if let Some(leader) = view.leader(&topic, p)
                && wanted(leader)
            {
                return Ok((topic, p, leader));
            }
        }
    }
    Err(format!("no {prefix}-* topic has a partition with the wanted leader").into())
}

/// The active controller once one is active.
pub async fn active_controller(cluster: &Cluster) -> BenchResult<i32> {
    let view = cluster
        .wait_until(|v| v.active_controller().is_some(), Duration::from_secs(10))
        .await?;
    view.active_controller()
        .ok_or_else(|| "no active controller".into())
}

/// An acks=all producer that retries quickly, and has written one record to `topic`-`partition`
/// (so that its connections and metadata are warm).
pub async fn warm_producer(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    delivery_timeout: Duration,
) -> BenchResult<Producer> {
    let producer = cluster
        .producer()
        .acks(Acks::All)
        .linger(Duration::ZERO)
        .request_timeout(Duration::from_millis(1000))
        .delivery_timeout(delivery_timeout)
        .config("retry.backoff.ms", "5")
        .build()
        .await?;
    producer
        .send_and_wait(ProducerRecord::new(topic, "before").partition(partition))
        .await?;
    Ok(producer)
}

struct Round {
    kill_returned: f64,
    elected: f64,
    write: f64,
}

/// Median failover time (kill → acks=all write acknowledged) in ms.
pub async fn bench(plan: &Plan, dirs: &Dirs) -> BenchResult<f64> {
    let mut rounds = Vec::new();
    for _ in 0..plan.failover_rounds {
        let dir = dirs.fresh();
        let cluster = builder(plan, &dir).start().await?;
        // Not the active controller: this part measures a partition leader's failure alone.
        let controller = active_controller(&cluster).await?;
        let (topic, p, leader) =
            find_partition(&cluster, "failover", 1, |l| l != controller).await?;
        let producer = warm_producer(&cluster, &topic, p, Duration::from_secs(10)).await?;

        let t0 = Instant::now();
        cluster.kill(leader).await?;
        let kill_returned = ms(t0.elapsed());
        let write = async {
            producer
                .send_and_wait(ProducerRecord::new(&topic, "after").partition(p))
                .await
                .map(|_| ms(t0.elapsed()))
        };
        let watch = async {
            cluster
                .wait_until(
                    |v| {
                        v.serving_leader(&topic, p)
                            && v.leader(&topic, p).is_some_and(|l| l != leader)
                    },
                    Duration::from_secs(10),
                )
                .await
                .map(|_| ms(t0.elapsed()))
        };
        let (write, elected) = tokio::join!(write, watch);
        rounds.push(Round {
            kill_returned,
            elected: elected?,
            write: write?,
        });
        producer.close().await;
        Dirs::done(cluster, &dir);
    }
    println!();
    println!(
        "(b) Leader failover after kill() (power loss) of a partition leader that is not the active \
         controller, {} rounds, broker.session.timeout.ms={}, heartbeat 50 ms, producer \
         retry.backoff.ms=5",
        rounds.len(),
        plan.session_timeout_ms
    );
    println!(
        "  {:<8} {:>16} {:>20} {:>24}",
        "round", "kill() returned", "new leader serving", "acks=all write accepted"
    );
    for (i, r) in rounds.iter().enumerate() {
        println!(
            "  {:<8} {:>13.1} ms {:>17.1} ms {:>21.1} ms",
            i + 1,
            r.kill_returned,
            r.elected,
            r.write
        );
    }
    let med = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    println!(
        "  {:<8} {:>13.1} ms {:>17.1} ms {:>21.1} ms",
        "median",
        med(|r| r.kill_returned),
        med(|r| r.elected),
        med(|r| r.write)
    );
    Ok(med(|r| r.write))
}
