//! The embedded `brook::Cluster` (SPEC §9): start-up, clients through the fault model, kill and
//! restart on the same port with and without losing unflushed data, network isolation and heal.
//! The fault tests run twice: with in-process brokers and with `brook serve` child processes,
//! whose faults arrive as commands on their stdin (power loss, isolation) or as signals.

use std::time::Duration;

use brook::client::{ClientError, Consumer};
use brook::{Acks, Cluster, ClusterError, ClusterView, ProducerRecord, TopicPartition};

async fn produce(cluster: &Cluster, topic: &str, acks: Acks, n: usize) {
    let producer = cluster.producer().acks(acks).build().await.unwrap();
    for i in 0..n {
        producer
            .send_and_wait(ProducerRecord::new(topic, format!("{i}")))
            .await
            .unwrap();
    }
    producer.close().await;
}

/// Reads partition 0 of `topic` from the beginning until `expect` values or 10 s.
async fn consume(cluster: &Cluster, topic: &str, expect: usize) -> Vec<String> {
    let mut consumer: Consumer = cluster.consumer().from_beginning().build().await.unwrap();
    consumer.assign(vec![TopicPartition::new(topic, 0)]);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < expect && tokio::time::Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    out
}

fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// Broker 1's log end offset of partition 0 as `describe` reports it.
async fn leo(cluster: &Cluster, topic: &str) -> i64 {
    let described = cluster.describe(topic).await.unwrap();
    let p = described.partitions.first().unwrap();
    assert_eq!(p.leader, 1, "{described:?}");
    p.log_end_offset
}

fn epoch(view: &ClusterView, topic: &str) -> i32 {
    view.leader_epoch(topic, 0).unwrap_or(-1)
}

/// Waits until broker 1 leads partition 0 of `topic` in a leader epoch after `before`: right
/// after a restart the broker may still show its pre-crash leadership for a moment, until the
/// controller fences and re-elects it.
async fn wait_reelected(cluster: &Cluster, topic: &str, before: i32) {
    cluster
        .wait_until(
            |v| v.serving_leader(topic, 0) && epoch(v, topic) > before,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_broker_cluster_starts_in_milliseconds() {
    let cluster = Cluster::builder().start().await.unwrap();
    let took = cluster.startup_time();
    eprintln!("1-broker cluster ready in {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let view = cluster.view().await;
    assert!(view.lists_unfenced(1, &[1]), "{}", view.summary());
    assert_eq!(cluster.broker_ids(), vec![1]);
    assert_eq!(
        cluster.bootstrap_servers(),
        cluster.addr(1).unwrap().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_broker_create_topic_produce_and_consume() {
    let cluster = Cluster::builder().start().await.unwrap();
    cluster
        .create_topic("orders", 2, 1)
        .config("min.insync.replicas", "1")
        .await
        .unwrap();
    // create_topic returns only once every partition is served by its leader.
    let view = cluster.view().await;
    for p in 0..2 {
        assert!(view.serving_leader("orders", p), "{}", view.summary());
        assert_eq!(cluster.leader_of("orders", p).await.unwrap(), 1);
        assert_eq!(view.isr("orders", p), vec![1]);
    }
    let producer = cluster.producer().acks(Acks::All).build().await.unwrap();
    for i in 0..10 {
        producer
            .send_and_wait(ProducerRecord::new("orders", format!("{i}")).partition(0))
            .await
            .unwrap();
    }
    producer.close().await;
    assert_eq!(consume(&cluster, "orders", 10).await, numbers(10));
    let view = cluster
        .wait_until(
            |v| v.high_watermark("orders", 0) == Some(10),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(view.log_end_offset("orders", 0, 1), Some(10));

    // Errors name what is wrong.
    assert!(matches!(
        cluster.leader_of("nope", 0).await,
        Err(ClusterError::UnknownTopic(_))
    ));
    assert!(matches!(
        cluster.kill(7).await,
        Err(ClusterError::NoSuchBroker(7))
    ));
    assert!(matches!(
        cluster.restart(1).await,
        Err(ClusterError::AlreadyRunning(1))
    ));
    assert!(matches!(
        Cluster::builder()
            .broker_config("node.id", "5")
            .start()
            .await,
        Err(ClusterError::Config(e)) if e.key == "node.id"
    ));
    assert!(matches!(
        Cluster::builder()
            .broker_config("no.such.key", "1")
            .start()
            .await,
        Err(ClusterError::Config(e)) if e.key == "no.such.key"
    ));
}

/// One broker, in this process or as a `brook serve` child.
async fn one_broker(processes: bool) -> Cluster {
    let builder = Cluster::builder();
    let builder = if processes {
        builder.processes(env!("CARGO_BIN_EXE_brook"))
    } else {
        builder
    };
    builder.start().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_restart_on_the_same_port_keeps_flushed_data() {
    let cluster = Cluster::builder().start().await.unwrap();
    cluster
        .create_topic("durable", 1, 1)
        .config("flush.messages", "1")
        .await
        .unwrap();
    produce(&cluster, "durable", Acks::Leader, 20).await;
    let addr = cluster.addr(1).unwrap();
    let before = epoch(&cluster.view().await, "durable");

    cluster.kill(1).await.unwrap();
    assert!(!cluster.is_running(1));
    assert!(matches!(
        cluster.kill(1).await,
        Err(ClusterError::NotRunning(1))
    ));
    cluster.restart(1).await.unwrap();
    assert_eq!(cluster.addr(1).unwrap(), addr, "same port");
    wait_reelected(&cluster, "durable", before).await;

    assert_eq!(
        leo(&cluster, "durable").await,
        20,
        "fsynced records survive"
    );
    assert_eq!(consume(&cluster, "durable", 20).await, numbers(20));
    // New clients reach the restarted broker on its old port.
    produce(&cluster, "durable", Acks::All, 1).await;
    assert_eq!(leo(&cluster, "durable").await, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_drops_unflushed_data_like_a_power_loss() {
    kill_drops_unflushed_data(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_drops_unflushed_data_of_a_process_broker() {
    kill_drops_unflushed_data(true).await;
}

async fn kill_drops_unflushed_data(processes: bool) {
    let cluster = one_broker(processes).await;
    // No flush policy: acks=1 records live only in the page cache.
    cluster.create_topic("volatile", 1, 1).await.unwrap();
    produce(&cluster, "volatile", Acks::Leader, 20).await;
    assert_eq!(leo(&cluster, "volatile").await, 20);
    let before = epoch(&cluster.view().await, "volatile");

    cluster.kill(1).await.unwrap();
    cluster.restart(1).await.unwrap();
    wait_reelected(&cluster, "volatile", before).await;
    let after = leo(&cluster, "volatile").await;
    assert!(after < 20, "unflushed records must be lost, LEO {after}");
    assert_eq!(
        consume(&cluster, "volatile", after as usize).await.len() as i64,
        after
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_crash_keeps_the_page_cache() {
    crash_keeps_the_page_cache(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_process_broker_keeps_the_page_cache() {
    crash_keeps_the_page_cache(true).await;
}

async fn crash_keeps_the_page_cache(processes: bool) {
    let cluster = one_broker(processes).await;
    cluster.create_topic("volatile", 1, 1).await.unwrap();
    produce(&cluster, "volatile", Acks::Leader, 20).await;
    let before = epoch(&cluster.view().await, "volatile");

    cluster.kill_keep_page_cache(1).await.unwrap();
    cluster.restart(1).await.unwrap();
    wait_reelected(&cluster, "volatile", before).await;
    assert_eq!(leo(&cluster, "volatile").await, 20, "the OS still had them");

    // A clean stop keeps everything too.
    let before = epoch(&cluster.view().await, "volatile");
    cluster.shutdown_broker(1).await.unwrap();
    cluster.restart(1).await.unwrap();
    wait_reelected(&cluster, "volatile", before).await;
    assert_eq!(consume(&cluster, "volatile", 20).await, numbers(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_the_broker_fails_client_produce_until_heal() {
    isolation_fails_client_produce_until_heal(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_a_process_broker_fails_client_produce_until_heal() {
    isolation_fails_client_produce_until_heal(true).await;
}

async fn isolation_fails_client_produce_until_heal(processes: bool) {
    let cluster = one_broker(processes).await;
    cluster.create_topic("t", 1, 1).await.unwrap();
    let producer = cluster
        .producer()
        .acks(Acks::All)
        .linger(Duration::ZERO)
        .request_timeout(Duration::from_millis(300))
        .delivery_timeout(Duration::from_millis(800))
        .build()
        .await
        .unwrap();
    producer
        .send_and_wait(ProducerRecord::new("t", "before"))
        .await
        .unwrap();

    cluster.isolate(1).await.unwrap();
    let started = tokio::time::Instant::now();
    let failed = producer
        .send_and_wait(ProducerRecord::new("t", "during"))
        .await;
    assert!(
        matches!(
            failed,
            Err(ClientError::Timeout { .. } | ClientError::Transport(_))
        ),
        "{failed:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The harness still sees the isolated broker (it observes outside the fault model).
    assert_eq!(leo(&cluster, "t").await, 1);

    cluster.heal().await.unwrap();
    producer
        .send_and_wait(ProducerRecord::new("t", "after"))
        .await
        .unwrap();
    producer.close().await;
    assert_eq!(consume(&cluster, "t", 2).await, ["before", "after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_cluster_removes_its_temp_dir() {
    let cluster = Cluster::builder().start().await.unwrap();
    cluster.create_topic("t", 1, 1).await.unwrap();
    let root = cluster.root_dir().to_path_buf();
    assert!(cluster.data_dir(1).unwrap().starts_with(&root));
    assert!(root.exists());
    drop(cluster);
    assert!(!root.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_register_and_start() {
    let cluster = Cluster::builder()
        .brokers(3)
        .racks(["a", "b", "c"])
        .broker_config("replica.lag.time.max.ms", "300")
        .start()
        .await
        .unwrap();
    eprintln!("3-broker cluster ready in {:?}", cluster.startup_time());
    let view = cluster.view().await;
    for id in 1..=3 {
        assert!(view.lists_unfenced(id, &[1, 2, 3]), "{}", view.summary());
    }
    let racks: Vec<(i32, String)> = view
        .brokers()
        .iter()
        .map(|b| (b.node_id, b.rack.clone()))
        .collect();
    assert_eq!(racks, [(1, "a".into()), (2, "b".into()), (3, "c".into())]);
    assert_eq!(cluster.bootstrap_servers().split(',').count(), 3);

    cluster
        .create_topic("orders", 3, 3)
        .config("min.insync.replicas", "2")
        .await
        .unwrap();
    for p in 0..3 {
        let mut replicas = view_replicas(&cluster, "orders", p).await;
        replicas.sort();
        assert_eq!(replicas, [1, 2, 3]);
    }
    cluster
        .wait_until(|m| m.isr("orders", 0).len() == 3, Duration::from_secs(5))
        .await
        .unwrap();
    let producer = cluster.producer().acks(Acks::All).build().await.unwrap();
    producer
        .send_and_wait(ProducerRecord::new("orders", "v").partition(0))
        .await
        .unwrap();
    cluster
        .wait_until(
            |m| m.high_watermark("orders", 0) == Some(1),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
}

async fn view_replicas(cluster: &Cluster, topic: &str, p: i32) -> Vec<i32> {
    cluster.view().await.replicas(topic, p)
}

/// `flush.messages=1` on a disk whose fsync fails: the produce is refused with a storage error
/// (never acknowledged, never hung), and once the disk works again the next produce runs the
/// group-commit fsync itself — a failed fsync does not strand the waiters behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_fsync_refuses_flushed_produces_until_the_disk_recovers() {
    use std::sync::atomic::Ordering;
    let cluster = Cluster::builder().start().await.unwrap();
    cluster
        .create_topic("synced", 1, 1)
        .config("flush.messages", "1")
        .await
        .unwrap();
    let producer = cluster
        .producer()
        .acks(Acks::Leader)
        .retries(0)
        .linger(Duration::ZERO)
        .build()
        .await
        .unwrap();
    producer
        .send_and_wait(ProducerRecord::new("synced", "before"))
        .await
        .unwrap();
    let faults = cluster.disk(1).unwrap().faults();
    faults.fail_sync.store(true, Ordering::Release);
    let mut sends = Vec::new();
    for i in 0..8 {
        let record = ProducerRecord::new("synced", format!("during-{i}"));
        sends.push(producer.send(record).await.unwrap());
    }
    for send in sends {
        let failed = send.await;
        assert!(
            matches!(&failed, Err(e) if e.to_string().contains("KAFKA_STORAGE_ERROR")),
            "{failed:?}"
        );
    }
    faults.fail_sync.store(false, Ordering::Release);
    let after = tokio::time::timeout(
        Duration::from_secs(10),
        producer.send_and_wait(ProducerRecord::new("synced", "after")),
    )
    .await
    .expect("a produce after the disk recovered must not hang");
    let meta = after.unwrap();
    assert_eq!(meta.durability, brook::client::Durability::LeaderFlushed);
    producer.close().await;
}
