//! ISR maintenance, elections and fencing on the embedded 3-broker cluster (SPEC §4, §5;
//! reference §3 F1–F9, §4 E1–E3, scenarios T5, T6, T10, T11).
//!
//! Broker 1 hosts the only controller, so every scenario keeps broker 1 out of the faults: the
//! partitions under test are picked (and asserted) so that the broker cut off, slowed, killed or
//! isolated is never broker 1, and so that cutting a leader from a follower does not also cut
//! either from the controller.
//!
//! Offsets are observed two ways: through `Cluster::view` (what each broker reports about itself,
//! and what the leader last saw of its followers), and white-box through `Cluster::broker(id)`
//! for a follower's own log (a follower does not describe its replica over the wire).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use brook::client::{ClientError, Consumer, ErrorCode};
use brook::log::batch;
use brook::log::record::{BatchBuilder, decode_records};
use brook::proto::net::Channels;
use brook::proto::v1::brook_client::BrookClient;
use brook::proto::v1::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchTopic, PartitionDescription,
    PartitionProduceData, PartitionProduceResponse, ProduceRequest, TopicProduceData,
};
use brook::{Acks, Cluster, ClusterView, Producer, ProducerRecord, TopicPartition};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;

/// Bound on every "eventually" in this file: generous, for a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(20);

// ---- cluster and topic helpers --------------------------------------------------------------

async fn start_cluster(lag_ms: u64) -> Cluster {
    start_cluster_with(lag_ms, &[]).await
}

async fn start_cluster_with(lag_ms: u64, per_broker: &[(i32, &str, &str)]) -> Cluster {
    let mut b = Cluster::builder()
        .brokers(3)
        .broker_config("replica.lag.time.max.ms", lag_ms.to_string())
        .startup_timeout(WAIT);
    for (id, k, v) in per_broker {
        b = b.broker_config_for(*id, *k, *v);
    }
    b.start().await.unwrap()
}

/// Creates `topic` and waits until every partition has a full ISR.
async fn create_topic(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    rf: i32,
    cfg: &[(&str, &str)],
) {
    let mut create = cluster.create_topic(topic, partitions, rf);
    for (k, v) in cfg {
        create = create.config(*k, *v);
    }
    create.await.unwrap();
    cluster
        .wait_until(
            |v| (0..partitions).all(|p| v.isr(topic, p).len() == rf as usize),
            WAIT,
        )
        .await
        .unwrap();
}

/// The first partition of `topic` whose (leader, replicas) satisfy `pred`, with its leader and
/// replicas. Panics (with the cluster's state) when there is none: the scenario must not be
/// silently skipped.
async fn pick_partition(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    what: &str,
    pred: impl Fn(i32, &[i32]) -> bool,
) -> (i32, i32, Vec<i32>) {
    let view = cluster.view().await;
    for p in 0..partitions {
        let Some(leader) = view.leader(topic, p) else {
            continue;
        };
        let replicas = view.replicas(topic, p);
        if pred(leader, &replicas) {
            return (p, leader, replicas);
        }
    }
    panic!(
        "no partition of {topic} has {what}; the scenario needs one: {}",
        view.summary()
    );
}

/// The partition as its current leader describes it (ISR, HW, LEO and follower states from one
/// answer, so they are consistent with each other).
fn at_leader<'a>(view: &'a ClusterView, topic: &str, p: i32) -> Option<&'a PartitionDescription> {
    let leader = view.leader(topic, p)?;
    view.partition_at(leader, topic, p)
        .filter(|d| d.leader == leader && d.log_end_offset >= 0)
}

/// What the leader last saw of `follower`'s LEO (-1 unknown).
fn follower_leo(d: &PartitionDescription, follower: i32) -> i64 {
    d.replica_states
        .iter()
        .find(|r| r.id == follower)
        .map_or(-1, |r| r.log_end_offset)
}

fn partition_epoch(view: &ClusterView, topic: &str, p: i32) -> i32 {
    view.topic(topic)
        .and_then(|t| t.partitions.into_iter().find(|d| d.partition == p))
        .map_or(-1, |d| d.partition_epoch)
}

/// The third broker of a 3-broker cluster.
fn other(a: i32, b: i32) -> i32 {
    6 - a - b
}

// ---- data helpers ---------------------------------------------------------------------------

async fn producer(cluster: &Cluster, acks: Acks) -> Producer {
    cluster
        .producer()
        .acks(acks)
        .linger(Duration::ZERO)
        .build()
        .await
        .unwrap()
}

/// Sends `values` one by one to partition `p`, each acknowledged before the next.
async fn produce(cluster: &Cluster, topic: &str, p: i32, acks: Acks, values: &[String]) {
    let producer = producer(cluster, acks).await;
    for v in values {
        producer
            .send_and_wait(ProducerRecord::new(topic, v.clone()).partition(p))
            .await
            .unwrap_or_else(|e| panic!("produce {v} to {topic}-{p}: {e}"));
    }
    producer.close().await;
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A background acks=1 stream, one record every `every`, until stopped. Every send must succeed.
struct Stream {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Stream {
    async fn start(cluster: &Cluster, topic: &str, p: i32, every: Duration) -> Stream {
        let producer = producer(cluster, Acks::Leader).await;
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (topic, s, n) = (topic.to_string(), stop.clone(), sent.clone());
        let task = tokio::spawn(async move {
            let mut i = 0u64;
            while !s.load(Ordering::Acquire) {
                producer
                    .send_and_wait(ProducerRecord::new(&topic, format!("stream-{i}")).partition(p))
                    .await
                    .unwrap_or_else(|e| panic!("stream record {i} to {topic}-{p}: {e}"));
                i += 1;
                n.store(i, Ordering::Release);
                tokio::time::sleep(every).await;
            }
            producer.close().await;
        });
        Stream { stop, sent, task }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.task.await.unwrap();
        self.sent.load(Ordering::Acquire)
    }
}

/// Every record of broker `id`'s local replica of `topic`-`p`, as (offset, value), white-box:
/// the whole log, not only what is below the HW.
async fn local_log(cluster: &Cluster, id: i32, topic: &str, p: i32) -> Vec<(i64, String)> {
    let broker = cluster.broker(id).await.unwrap();
    let part = broker
        .replicas
        .get(topic, p)
        .unwrap_or_else(|| panic!("broker {id} has no replica of {topic}-{p}"));
    let log = brook::log::lock(part.log());
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20).unwrap();
        assert!(!bytes.is_empty(), "broker {id} read nothing at {offset}");
        for item in batch::batches(&bytes) {
            let (pos, h) = item.unwrap();
            for r in decode_records(&bytes.slice(pos..pos + h.size())).unwrap() {
                let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                out.push((r.offset, v));
            }
            offset = h.next_offset();
        }
    }
    out
}

async fn local_leo(cluster: &Cluster, id: i32, topic: &str, p: i32) -> i64 {
    let broker = cluster.broker(id).await.unwrap();
    broker.replicas.get(topic, p).unwrap().log_end_offset()
}

/// Reads `topic`-`p` from the beginning through a fresh consumer until `expect` records came or
/// the bound passed, then polls once more so that anything beyond them would show up too.
async fn consume(cluster: &Cluster, topic: &str, p: i32, expect: usize) -> Vec<String> {
    let mut consumer: Consumer = cluster.consumer().from_beginning().build().await.unwrap();
    consumer.assign(vec![TopicPartition::new(topic, p)]);
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < expect && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    for r in consumer.poll(Duration::from_millis(300)).await.unwrap() {
        out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
    }
    out
}

// ---- raw wire access (outside the fault model) ----------------------------------------------

fn raw_client(cluster: &Cluster, id: i32) -> BrookClient<Channel> {
    let channel = Channels::default()
        .get(&cluster.addr(id).unwrap().to_string())
        .unwrap();
    BrookClient::new(channel)
}

fn one_record_batch(value: &str) -> bytes::Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut b = BatchBuilder::new();
    b.append(now, None, Some(value.as_bytes()), &[]);
    b.build()
}

/// One Produce of one record straight to broker `id`. `Err` is a transport failure (or no
/// answer within `timeout_ms` + 5 s).
async fn raw_produce(
    cluster: &Cluster,
    id: i32,
    topic: &str,
    p: i32,
    acks: i32,
    timeout_ms: i32,
    value: &str,
) -> Result<PartitionProduceResponse, String> {
    let req = ProduceRequest {
        acks,
        timeout_ms,
        topics: vec![TopicProduceData {
            name: topic.into(),
            partitions: vec![PartitionProduceData {
                partition: p,
                records: one_record_batch(value),
            }],
        }],
    };
    let mut client = raw_client(cluster, id);
    let bound = Duration::from_millis(timeout_ms as u64) + Duration::from_secs(5);
    match tokio::time::timeout(bound, client.produce(req)).await {
        Err(_) => Err(format!("no answer within {bound:?}")),
        Ok(Err(status)) => Err(format!("{status:?}")),
        Ok(Ok(r)) => {
            let r = r.into_inner();
            Ok(r.topics[0].partitions[0].clone())
        }
    }
}

/// A consumer Fetch of `topic`-`p` at offset 0 carrying `current_leader_epoch`, to broker `id`.
async fn raw_fetch(
    cluster: &Cluster,
    id: i32,
    topic: &str,
    p: i32,
    current_leader_epoch: i32,
) -> FetchPartitionResponse {
    let req = FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        replica_epoch: -1,
        topics: vec![FetchTopic {
            name: topic.into(),
            partitions: vec![FetchPartition {
                partition: p,
                current_leader_epoch,
                fetch_offset: 0,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                flushed_offset: -1,
                last_fetched_epoch: -1,
            }],
        }],
    };
    let mut client = raw_client(cluster, id);
    let r = tokio::time::timeout(Duration::from_secs(5), client.fetch(req))
        .await
        .expect("fetch answered")
        .expect("fetch transport")
        .into_inner();
    r.topics[0].partitions[0].clone()
}

fn code(wire: i32) -> ErrorCode {
    ErrorCode::from_wire(wire)
}

// ---- T5: ISR shrink timing --------------------------------------------------------------------

/// T5 (a), F2/F3: a follower cut off from the leader (but not from the controller) leaves the
/// ISR once it has not caught up for `replica.lag.time.max.ms`: still in at lag/2, out by 2×lag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t5a_cut_off_follower_leaves_isr_after_lag_not_before() {
    const LAG: u64 = 1000;
    let cluster = start_cluster(LAG).await;
    create_topic(&cluster, "t5a", 3, 3, &[]).await;
    let (p, leader, _) = pick_partition(
        &cluster,
        "t5a",
        3,
        "a leader other than broker 1",
        |l, _| l != 1,
    )
    .await;
    let follower = other(leader, 1);
    assert_ne!(follower, 1);
    produce(&cluster, "t5a", p, Acks::All, &values("before", 5)).await;
    let before = cluster
        .wait_until(
            |v| at_leader(v, "t5a", p).is_some_and(|d| follower_leo(d, follower) == 5),
            WAIT,
        )
        .await
        .unwrap();
    let epoch_before = partition_epoch(&before, "t5a", p);

    // Cut leader ↔ follower only: both still reach the controller (broker 1), so the follower is
    // not fenced; only the leader's lag rule can remove it. Records keep arriving (a follower
    // that is at the leader's LEO counts as caught up however long it is silent, F2).
    cluster.partition(leader, follower).await.unwrap();
    let t0 = Instant::now();
    let stream = Stream::start(&cluster, "t5a", p, Duration::from_millis(50)).await;

    // Still in the ISR throughout the first lag/2 (not a single sample without it).
    let mut samples = 0;
    while t0.elapsed() < Duration::from_millis(LAG / 2) {
        let v = cluster.view().await;
        let isr = v.isr("t5a", p);
        assert!(
            isr.contains(&follower),
            "follower {follower} left the ISR after only {:?} (lag {LAG} ms): {}",
            t0.elapsed(),
            v.summary()
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(samples > 0);
    assert!(stream.sent() > 0, "the stream must be producing meanwhile");

    // Out by 2×lag (detection takes lag..1.5×lag, plus the AlterPartition round trip).
    let budget = Duration::from_millis(2 * LAG).saturating_sub(t0.elapsed());
    let out = cluster
        .wait_until(|v| !v.isr("t5a", p).contains(&follower), budget)
        .await
        .unwrap_or_else(|e| panic!("follower {follower} still in the ISR at 2×lag: {e}"));
    let took = t0.elapsed();
    eprintln!("t5a: follower {follower} left the ISR {took:?} after the cut (lag {LAG} ms)");
    let mut isr = out.isr("t5a", p);
    isr.sort();
    let mut expected = vec![leader, 1];
    expected.sort();
    assert_eq!(isr, expected, "{}", out.summary());
    assert_eq!(out.leader("t5a", p), Some(leader), "no leader change");
    assert!(
        partition_epoch(&out, "t5a", p) > epoch_before,
        "an ISR change bumps the partition epoch: {}",
        out.summary()
    );
    stream.stop().await;
}

/// T5 (b), F2: a follower that is slow but keeps fetching (its link delayed well below the lag)
/// stays in the ISR under a steady produce stream, although it is almost always behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t5b_slow_but_fetching_follower_stays_in_isr() {
    const LAG: u64 = 1000;
    const DELAY: Duration = Duration::from_millis(150);
    let cluster = start_cluster(LAG).await;
    create_topic(&cluster, "t5b", 3, 3, &[]).await;
    let (p, leader, _) = pick_partition(
        &cluster,
        "t5b",
        3,
        "a leader other than broker 1",
        |l, _| l != 1,
    )
    .await;
    // Not broker 1: slowing it would slow every broker's heartbeats to the controller.
    let follower = other(leader, 1);
    let epoch_before = partition_epoch(&cluster.view().await, "t5b", p);

    cluster.slow(follower, DELAY).await.unwrap();
    let stream = Stream::start(&cluster, "t5b", p, Duration::from_millis(20)).await;
    let t0 = Instant::now();
    let mut behind_samples = 0;
    let mut follower_leos = Vec::new();
    while t0.elapsed() < Duration::from_millis(3 * LAG) {
        let v = cluster.view().await;
        let isr = v.isr("t5b", p);
        assert!(
            isr.contains(&follower),
            "slow follower {follower} left the ISR after {:?}: {}",
            t0.elapsed(),
            v.summary()
        );
        if let Some(d) = at_leader(&v, "t5b", p) {
            let leo = follower_leo(d, follower);
            if leo < d.log_end_offset {
                behind_samples += 1;
            }
            follower_leos.push(leo);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = stream.stop().await;
    eprintln!(
        "t5b: {sent} records streamed; follower seen behind in {behind_samples} of {} samples",
        follower_leos.len()
    );
    assert!(sent >= 20, "the stream must have been steady, sent {sent}");
    assert!(
        behind_samples > 0,
        "the slow follower should have been seen behind the leader at least once"
    );
    // It was really fetching all along: its LEO moved during the stream, and it catches up.
    let (first, last) = (follower_leos[0], *follower_leos.last().unwrap());
    assert!(last > first, "follower LEO did not move: {first} → {last}");
    let leader_leo = sent as i64;
    let v = cluster
        .wait_until(
            |v| {
                at_leader(v, "t5b", p).is_some_and(|d| {
                    d.log_end_offset == leader_leo && follower_leo(d, follower) == leader_leo
                })
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(v.isr("t5b", p).len(), 3, "{}", v.summary());
    assert_eq!(
        partition_epoch(&v, "t5b", p),
        epoch_before,
        "no ISR change at all: {}",
        v.summary()
    );
    cluster.slow(follower, Duration::ZERO).await.unwrap();
}

// ---- T6: ISR expansion -------------------------------------------------------------------------

/// Watches a follower coming back until the ISR is full again. Every sample of the leader's own
/// description that lists `follower` in the ISR must show its LEO at least `hw` (F6: a follower
/// rejoins only once its LEO reached the HW). Returns whether the follower was seen fetching
/// (LEO above `from`) while still outside the ISR, and the final view.
async fn watch_rejoin(
    cluster: &Cluster,
    topic: &str,
    p: i32,
    follower: i32,
    from: i64,
    hw: i64,
) -> (bool, ClusterView) {
    let deadline = Instant::now() + WAIT;
    let mut seen_catching_up = false;
    loop {
        let v = cluster.view().await;
        if let Some(d) = at_leader(&v, topic, p) {
            let leo = follower_leo(d, follower);
            if d.isr.contains(&follower) {
                assert!(
                    leo >= hw,
                    "follower {follower} back in the ISR with LEO {leo} < HW {hw}: {d:?}"
                );
                if d.isr.len() == 3 {
                    return (seen_catching_up, v);
                }
            } else if leo > from && leo < hw {
                seen_catching_up = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(
            Instant::now() < deadline,
            "follower {follower} did not rejoin the ISR of {topic}-{p} within {WAIT:?}: {}",
            v.summary()
        );
    }
}

/// T6, F6/F7: a follower partitioned away leaves the ISR; after heal it fetches what it missed
/// (slowly: small fetches over a delayed link) outside the ISR, and rejoins only once caught
/// up, with its LEO equal to the leader's and a new partition epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_healed_follower_rejoins_isr_only_after_catching_up() {
    const LAG: u64 = 500;
    let cluster = start_cluster_with(
        LAG,
        &[
            (2, "replica.fetch.max.bytes", "2048"),
            (3, "replica.fetch.max.bytes", "2048"),
        ],
    )
    .await;
    create_topic(&cluster, "t6", 3, 3, &[]).await;
    let (p, leader, _) =
        pick_partition(&cluster, "t6", 3, "a leader other than broker 1", |l, _| {
            l != 1
        })
        .await;
    let follower = other(leader, 1);
    produce(&cluster, "t6", p, Acks::All, &values("before", 10)).await;

    cluster.partition(leader, follower).await.unwrap();
    let stream = Stream::start(&cluster, "t6", p, Duration::from_millis(20)).await;
    let out = cluster
        .wait_until(|v| !v.isr("t6", p).contains(&follower), WAIT)
        .await
        .unwrap();
    let streamed = stream.stop().await;
    let epoch_out = partition_epoch(&out, "t6", p);
    // Far behind: many batches, each fetch returns only a few of them.
    let padding = "x".repeat(200);
    let missed: Vec<String> = (0..300).map(|i| format!("missed-{i}-{padding}")).collect();
    produce(&cluster, "t6", p, Acks::All, &missed).await;
    let end = 10 + streamed as i64 + 300;
    let v = cluster
        .wait_until(|v| v.high_watermark("t6", p) == Some(end), WAIT)
        .await
        .unwrap();
    let from = follower_leo(at_leader(&v, "t6", p).unwrap(), follower);
    assert!(
        from < end,
        "the follower cannot have what it missed: {from}"
    );

    // heal() clears every fault; the follower's link is slowed right after it.
    cluster.heal().await.unwrap();
    cluster
        .slow(follower, Duration::from_millis(30))
        .await
        .unwrap();
    let (seen_catching_up, v) = watch_rejoin(&cluster, "t6", p, follower, from, end).await;
    let d = at_leader(&v, "t6", p).unwrap();
    assert_eq!(d.log_end_offset, end);
    assert_eq!(follower_leo(d, follower), end, "{d:?}");
    assert_eq!(local_leo(&cluster, follower, "t6", p).await, end);
    assert!(
        partition_epoch(&v, "t6", p) > epoch_out,
        "the expansion bumps the partition epoch: {}",
        v.summary()
    );
    assert!(
        seen_catching_up,
        "the follower was never seen fetching outside the ISR (from {from} to {end})"
    );
    cluster.slow(follower, Duration::ZERO).await.unwrap();
    assert_eq!(
        local_log(&cluster, follower, "t6", p).await,
        local_log(&cluster, leader, "t6", p).await
    );
}

/// T6 with a restart, F6 + KIP-903: a follower killed (power loss) is fenced and leaves the ISR;
/// restarted, it catches up from whatever it kept and rejoins only once at the HW.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_restarted_follower_rejoins_isr_only_after_catching_up() {
    const LAG: u64 = 500;
    let cluster = start_cluster_with(
        LAG,
        &[
            (2, "replica.fetch.max.bytes", "2048"),
            (3, "replica.fetch.max.bytes", "2048"),
        ],
    )
    .await;
    create_topic(&cluster, "t6r", 3, 3, &[]).await;
    let (p, leader, _) = pick_partition(
        &cluster,
        "t6r",
        3,
        "a leader other than broker 1",
        |l, _| l != 1,
    )
    .await;
    let follower = other(leader, 1);
    produce(&cluster, "t6r", p, Acks::All, &values("before", 10)).await;

    cluster.kill(follower).await.unwrap();
    let out = cluster
        .wait_until(|v| !v.isr("t6r", p).contains(&follower), WAIT)
        .await
        .unwrap();
    let epoch_out = partition_epoch(&out, "t6r", p);
    let padding = "x".repeat(200);
    let missed: Vec<String> = (0..300).map(|i| format!("missed-{i}-{padding}")).collect();
    produce(&cluster, "t6r", p, Acks::All, &missed).await;
    let end = 310;
    let v = cluster
        .wait_until(|v| v.high_watermark("t6r", p) == Some(end), WAIT)
        .await
        .unwrap();
    let from = follower_leo(at_leader(&v, "t6r", p).unwrap(), follower);
    assert!(from <= 10, "{from}");

    cluster
        .slow(follower, Duration::from_millis(30))
        .await
        .unwrap();
    cluster.restart(follower).await.unwrap();
    let (seen_catching_up, v) = watch_rejoin(&cluster, "t6r", p, follower, from, end).await;
    let d = at_leader(&v, "t6r", p).unwrap();
    assert_eq!(d.log_end_offset, end);
    assert_eq!(follower_leo(d, follower), end, "{d:?}");
    assert_eq!(local_leo(&cluster, follower, "t6r", p).await, end);
    assert!(
        partition_epoch(&v, "t6r", p) > epoch_out,
        "the expansion bumps the partition epoch: {}",
        v.summary()
    );
    assert!(
        seen_catching_up,
        "the follower was never seen fetching outside the ISR (from {from} to {end})"
    );
    cluster.slow(follower, Duration::ZERO).await.unwrap();
    assert_eq!(
        local_log(&cluster, follower, "t6r", p).await,
        local_log(&cluster, leader, "t6r", p).await
    );
}

// ---- T10: unclean election off vs on ---------------------------------------------------------

/// The T10 set-up on an RF2, min.insync 1 partition {A, B} (neither is broker 1): `base` records
/// on both, then B stops, `lost` records go to A alone (ISR {A}), then A stops and B restarts.
/// Returns (partition, A, B, leader epoch while A led).
async fn t10_setup(cluster: &Cluster, topic: &str, unclean: bool) -> (i32, i32, i32, i32) {
    let unclean = if unclean { "true" } else { "false" };
    create_topic(
        cluster,
        topic,
        6,
        2,
        &[
            ("min.insync.replicas", "1"),
            ("unclean.leader.election.enable", unclean),
        ],
    )
    .await;
    let (p, a, replicas) =
        pick_partition(cluster, topic, 6, "replicas without broker 1", |_, r| {
            !r.contains(&1)
        })
        .await;
    let b = *replicas.iter().find(|r| **r != a).unwrap();
    produce(cluster, topic, p, Acks::All, &values("base", 5)).await;
    cluster
        .wait_until(
            |v| at_leader(v, topic, p).is_some_and(|d| follower_leo(d, b) == 5),
            WAIT,
        )
        .await
        .unwrap();

    // B crashes (the process only: what it has stays). It is fenced and leaves the ISR.
    cluster.kill_keep_page_cache(b).await.unwrap();
    cluster
        .wait_until(|v| v.isr(topic, p) == [a], WAIT)
        .await
        .unwrap();
    produce(cluster, topic, p, Acks::All, &values("lost", 20)).await;
    let v = cluster
        .wait_until(|v| v.high_watermark(topic, p) == Some(25), WAIT)
        .await
        .unwrap();
    let epoch_a = v.leader_epoch(topic, p).unwrap();

    // A crashes too: no live ISR member is left, the partition goes offline.
    cluster.kill_keep_page_cache(a).await.unwrap();
    cluster
        .wait_until(|v| v.leader(topic, p).is_none(), WAIT)
        .await
        .unwrap();
    cluster.restart(b).await.unwrap();
    cluster
        .wait_until(|v| v.lists_unfenced(1, &[b]), WAIT)
        .await
        .unwrap();
    (p, a, b, epoch_a)
}

fn leader_unavailable_class(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::LeaderNotAvailable
            | ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
    )
}

/// T10 with unclean election off (E1): only the out-of-sync replica is alive, so the partition
/// stays leaderless and writes fail with a leader-unavailable error; nothing is lost once the ISR
/// member returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_unclean_off_partition_stays_offline_and_loses_nothing() {
    let cluster = start_cluster(500).await;
    let (p, a, b, epoch_a) = t10_setup(&cluster, "t10off", false).await;

    // Leaderless for well over a session timeout and a few controller ticks, B alive meanwhile.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        let v = cluster.view().await;
        assert_eq!(
            v.leader("t10off", p),
            None,
            "out-of-sync replica {b} must not lead with unclean election off: {}",
            v.summary()
        );
        assert_eq!(v.isr("t10off", p), [a], "{}", v.summary());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A write straight to B is refused as not-leader / leader-not-available.
    let r = raw_produce(&cluster, b, "t10off", p, -1, 1000, "offline")
        .await
        .unwrap();
    assert!(
        leader_unavailable_class(code(r.error_code)),
        "produce to the out-of-sync replica: {r:?}"
    );
    eprintln!("t10off: produce to B: {}", code(r.error_code));
    let f = raw_fetch(&cluster, b, "t10off", p, -1).await;
    assert!(
        leader_unavailable_class(code(f.error_code)),
        "fetch from the out-of-sync replica: {f:?}"
    );
    // And through the client: it cannot find a leader until its delivery timeout.
    let producer = cluster
        .producer()
        .acks(Acks::All)
        .linger(Duration::ZERO)
        .request_timeout(Duration::from_millis(300))
        .delivery_timeout(Duration::from_millis(1500))
        .build()
        .await
        .unwrap();
    let failed = producer
        .send_and_wait(ProducerRecord::new("t10off", "offline").partition(p))
        .await;
    eprintln!("t10off: client produce: {failed:?}");
    match &failed {
        Err(ClientError::Kafka { code, .. }) => {
            assert!(leader_unavailable_class(*code), "{failed:?}")
        }
        Err(ClientError::Timeout { last_error, .. }) => {
            if let Some(e) = last_error {
                assert!(
                    e.code().is_some_and(leader_unavailable_class)
                        || matches!(**e, ClientError::Transport(_)),
                    "{failed:?}"
                );
            }
        }
        other => panic!("produce to a leaderless partition: {other:?}"),
    }
    producer.close().await;

    // The ISR member returns: it leads again (clean election, new epoch) with all 25 records.
    cluster.restart(a).await.unwrap();
    let v = cluster
        .wait_until(
            |v| {
                v.serving_leader("t10off", p)
                    && v.leader("t10off", p) == Some(a)
                    && v.leader_epoch("t10off", p).is_some_and(|e| e > epoch_a)
                    && v.high_watermark("t10off", p) == Some(25)
            },
            WAIT,
        )
        .await
        .unwrap();
    eprintln!("t10off: back to {}", v.summary());
    let mut expected = values("base", 5);
    expected.extend(values("lost", 20));
    assert_eq!(consume(&cluster, "t10off", p, 25).await, expected);
    // B catches up and rejoins; both logs end up identical.
    cluster
        .wait_until(
            |v| {
                v.isr("t10off", p).len() == 2
                    && at_leader(v, "t10off", p).is_some_and(|d| follower_leo(d, b) == 25)
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        local_log(&cluster, b, "t10off", p).await,
        local_log(&cluster, a, "t10off", p).await
    );
}

/// T10 with `unclean.leader.election.enable=true` on the topic (E2): the out-of-sync replica
/// leads with ISR = {itself} in a new epoch; the 20 records it lacked are gone; when the old
/// leader returns it truncates to the new leader's epoch boundary and the logs converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_unclean_on_out_of_sync_replica_leads_and_old_leader_truncates() {
    let cluster = start_cluster(500).await;
    let (p, a, b, epoch_a) = t10_setup(&cluster, "t10on", true).await;

    let v = cluster
        .wait_until(
            |v| v.serving_leader("t10on", p) && v.leader("t10on", p) == Some(b),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(v.isr("t10on", p), [b], "{}", v.summary());
    assert!(
        v.leader_epoch("t10on", p).unwrap() > epoch_a,
        "{}",
        v.summary()
    );
    assert_eq!(
        v.log_end_offset("t10on", p, b),
        Some(5),
        "B never had the 20"
    );
    produce(&cluster, "t10on", p, Acks::All, &values("after", 5)).await;

    let mut expected = values("base", 5);
    expected.extend(values("after", 5));
    assert_eq!(
        consume(&cluster, "t10on", p, 10).await,
        expected,
        "the 20 are gone"
    );

    // A returns: it must drop its 20 records (above B's epoch boundary, offset 5) and re-fetch.
    cluster.restart(a).await.unwrap();
    let v = cluster
        .wait_until(
            |v| {
                v.leader("t10on", p) == Some(b)
                    && v.isr("t10on", p).len() == 2
                    && at_leader(v, "t10on", p)
                        .is_some_and(|d| d.log_end_offset == 10 && follower_leo(d, a) == 10)
            },
            WAIT,
        )
        .await
        .unwrap();
    eprintln!("t10on: converged {}", v.summary());
    assert_eq!(local_leo(&cluster, a, "t10on", p).await, 10);
    assert_eq!(local_leo(&cluster, b, "t10on", p).await, 10);
    let log_a = local_log(&cluster, a, "t10on", p).await;
    let log_b = local_log(&cluster, b, "t10on", p).await;
    assert_eq!(log_a, log_b, "the logs converge");
    let read: Vec<String> = log_a.into_iter().map(|(_, v)| v).collect();
    assert_eq!(read, expected);
    assert_eq!(consume(&cluster, "t10on", p, 10).await, expected);
}

// ---- T11: zombie leader ----------------------------------------------------------------------

/// T11 (E3, F1, F4): an isolated leader is replaced (leader epoch +1); an acks=all write it
/// accepts can never be acknowledged; a fetch with its old epoch is fenced by the new leader;
/// after heal it follows, truncates its uncommitted record and converges on the new leader's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_isolated_zombie_leader_is_fenced_and_truncated() {
    let cluster = start_cluster(500).await;
    create_topic(&cluster, "t11", 3, 3, &[("min.insync.replicas", "2")]).await;
    let (p, zombie, _) = pick_partition(
        &cluster,
        "t11",
        3,
        "a leader other than broker 1",
        |l, _| l != 1,
    )
    .await;
    produce(&cluster, "t11", p, Acks::All, &values("before", 5)).await;
    let v = cluster
        .wait_until(
            |v| {
                at_leader(v, "t11", p).is_some_and(|d| {
                    d.high_watermark == 5 && d.replica_states.iter().all(|r| r.log_end_offset == 5)
                })
            },
            WAIT,
        )
        .await
        .unwrap();
    let old_epoch = v.leader_epoch("t11", p).unwrap();

    cluster.isolate(zombie).await.unwrap();
    // The controller fences the silent broker and elects another ISR member, one epoch later.
    let v = cluster
        .wait_until(
            |v| {
                v.leader("t11", p).is_some_and(|l| l != zombie)
                    && v.serving_leader("t11", p)
                    && !v.isr("t11", p).contains(&zombie)
            },
            WAIT,
        )
        .await
        .unwrap();
    let new_leader = v.leader("t11", p).unwrap();
    let new_epoch = v.leader_epoch("t11", p).unwrap();
    assert_eq!(new_epoch, old_epoch + 1, "{}", v.summary());
    eprintln!("t11: {zombie} isolated, {new_leader} leads in epoch {new_epoch}");

    // The zombie still believes it leads; a write sent straight to it is never acknowledged.
    let zombie_leo = local_leo(&cluster, zombie, "t11", p).await;
    assert_eq!(zombie_leo, 5);
    let r = raw_produce(&cluster, zombie, "t11", p, -1, 1500, "zombie").await;
    eprintln!("t11: acks=all produce to the zombie: {r:?}");
    if let Ok(resp) = &r {
        let c = code(resp.error_code);
        assert_ne!(
            c,
            ErrorCode::None,
            "the zombie acknowledged a write: {resp:?}"
        );
        assert!(
            matches!(
                c,
                ErrorCode::RequestTimedOut
                    | ErrorCode::NotEnoughReplicas
                    | ErrorCode::NotEnoughReplicasAfterAppend
                    | ErrorCode::NotLeaderOrFollower
                    | ErrorCode::FencedLeaderEpoch
            ),
            "{resp:?}"
        );
    }
    // It did take the write into its log (an uncommitted suffix that heal must truncate).
    assert_eq!(
        local_leo(&cluster, zombie, "t11", p).await,
        zombie_leo + 1,
        "the zombie should have appended the write it could not commit"
    );
    assert!(
        local_log(&cluster, zombie, "t11", p)
            .await
            .iter()
            .any(|(o, v)| *o == zombie_leo && v == "zombie")
    );

    // A fetch carrying the old epoch is fenced by the new leader; the current epoch is served.
    let f = raw_fetch(&cluster, new_leader, "t11", p, old_epoch).await;
    assert_eq!(code(f.error_code), ErrorCode::FencedLeaderEpoch, "{f:?}");
    let f = raw_fetch(&cluster, new_leader, "t11", p, new_epoch).await;
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");

    // The new leader takes writes (at the offsets the zombie used).
    produce(&cluster, "t11", p, Acks::All, &values("after", 3)).await;

    cluster.heal().await.unwrap();
    let v = cluster
        .wait_until(
            |v| {
                v.leader("t11", p) == Some(new_leader)
                    && v.partition_at(zombie, "t11", p)
                        .is_some_and(|d| d.leader == new_leader && d.log_end_offset < 0)
                    && at_leader(v, "t11", p).is_some_and(|d| {
                        d.isr.len() == 3 && d.log_end_offset == 8 && follower_leo(d, zombie) == 8
                    })
            },
            WAIT,
        )
        .await
        .unwrap();
    eprintln!("t11: healed {}", v.summary());
    assert_eq!(local_leo(&cluster, zombie, "t11", p).await, 8);
    let zombie_log = local_log(&cluster, zombie, "t11", p).await;
    assert_eq!(zombie_log, local_log(&cluster, new_leader, "t11", p).await);
    assert!(
        zombie_log.iter().all(|(_, v)| v != "zombie"),
        "the zombie kept its uncommitted record: {zombie_log:?}"
    );
    let mut expected = values("before", 5);
    expected.extend(values("after", 3));
    assert_eq!(consume(&cluster, "t11", p, 8).await, expected);
}
