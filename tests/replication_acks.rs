//! The produce path's replication guarantees on a real embedded cluster: reference scenarios
//! T1–T4 (`kafka-semantics.md` §12; rules P3, P6–P8, H1, H2, H4, E1), adapted to real time.
//!
//! Layout shared by every test: four brokers, and a topic with RF 3 whose replicas are brokers
//! 2, 3 and 4 (the topic names are chosen so; each test asserts it). Broker 1 hosts the only
//! controller and is no replica, so killing the leader or cutting leader↔follower links never
//! touches a broker's link to the controller: "pausing a follower's fetcher" is
//! `partition(leader, follower)`, and ISR changes and elections keep working throughout.
//!
//! Names as in the reference: A is the leader, B and C the followers (B first in assignment
//! order). Instead of an injected clock the tests use a small `replica.lag.time.max.ms` where
//! the scenario wants the ISR to shrink, a large one where it must not, and wait for
//! conditions rather than sleeping. Exact per-request control (acks, request timeout, error
//! codes, durability) uses the raw `brook.v1` wire API, outside the network fault model.

use std::time::Duration;

use brook::client::TopicPartition;
use brook::log::batch;
use brook::log::record::{BatchBuilder, decode_records};
use brook::proto::net::Channels;
use brook::proto::v1::brook_client::BrookClient;
use brook::proto::v1::{
    ElectionType, FetchPartition, FetchPartitionResponse, FetchRequest, FetchTopic,
    PartitionProduceData, PartitionProduceResponse, ProduceRequest, TopicProduceData,
};
use brook::proto::{Durability, ErrorCode};
use brook::{Acks, Cluster, ClusterView, ProducerRecord};
use bytes::Bytes;
use tokio::time::Instant;

/// Bound on every wait for a cluster condition.
const WAIT: Duration = Duration::from_secs(5);
/// Lag bound for the scenarios in which the ISR must shrink: detected after 300–450 ms.
const FAST_LAG_MS: u64 = 300;
/// Lag bound for the scenarios in which a paused follower must stay in the ISR for the whole
/// test (the reference's injected clock simply does not advance there).
const NO_SHRINK_LAG_MS: u64 = 30_000;

// ---- cluster and topic -------------------------------------------------------------------------

async fn start_cluster(lag_ms: u64) -> Cluster {
    // Two of the partition's brokers fail in these scenarios: a single controller voter on
    // broker 1, which holds no replica, keeps the controller out of the faults.
    Cluster::builder()
        .brokers(4)
        .controller_voters(1)
        .broker_config("replica.lag.time.max.ms", lag_ms.to_string())
        .start()
        .await
        .unwrap()
}

/// An RF-3 partition: the leader A and the followers B, C in assignment order.
#[derive(Debug, Clone, Copy)]
struct Rf3 {
    a: i32,
    b: i32,
    c: i32,
}

/// Creates `topic` (1 partition, RF 3, `configs`) and waits for the full ISR. Asserts that the
/// replicas are brokers 2–4, so that no fault below hits the controller's broker.
async fn create_rf3(cluster: &Cluster, topic: &str, configs: &[(&str, &str)]) -> Rf3 {
    let mut create = cluster.create_topic(topic, 1, 3);
    for (k, v) in configs {
        create = create.config(*k, *v);
    }
    create.await.unwrap();
    let view = cluster
        .wait_until(|v| v.isr(topic, 0).len() == 3, WAIT)
        .await
        .unwrap();
    let replicas = view.replicas(topic, 0);
    let mut sorted = replicas.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [2, 3, 4],
        "assignment changed: pick a name for {topic} whose replicas avoid broker 1 (controller); {}",
        view.summary()
    );
    let a = cluster.leader_of(topic, 0).await.unwrap();
    assert_ne!(a, 1, "the leader of {topic} must not host the controller");
    assert_eq!(a, replicas[0], "a new topic is led by its first replica");
    Rf3 {
        a,
        b: replicas[1],
        c: replicas[2],
    }
}

/// Re-check interval of the white-box waits below.
const POLL: Duration = Duration::from_millis(5);

/// Panics with `what` once `deadline` has passed.
fn check_deadline(deadline: Instant, what: &str) {
    assert!(
        Instant::now() < deadline,
        "timed out after {WAIT:?} waiting for {what}"
    );
}

async fn wait_view(cluster: &Cluster, what: &str, f: impl Fn(&ClusterView) -> bool) -> ClusterView {
    match cluster.wait_until(f, WAIT).await {
        Ok(v) => v,
        Err(e) => panic!("waiting for {what}: {e}"),
    }
}

fn hw(v: &ClusterView, topic: &str) -> i64 {
    v.high_watermark(topic, 0).unwrap_or(-1)
}

fn leo(v: &ClusterView, topic: &str, broker: i32) -> i64 {
    v.log_end_offset(topic, 0, broker).unwrap_or(-1)
}

/// Broker `id`'s own replica of partition 0 (white box): (LEO, HW).
async fn local_offsets(cluster: &Cluster, id: i32, topic: &str) -> (i64, i64) {
    let broker = cluster.broker(id).await.unwrap();
    let part = broker.replicas.get(topic, 0).expect("replica is open");
    (part.log_end_offset(), part.high_watermark())
}

/// Every record value in broker `id`'s own log of partition 0, committed or not (white box).
async fn local_values(cluster: &Cluster, id: i32, topic: &str) -> Vec<String> {
    let broker = cluster.broker(id).await.unwrap();
    let part = broker.replicas.get(topic, 0).expect("replica is open");
    let bytes = {
        let log = brook::log::lock(part.log());
        let start = log.log_start_offset();
        log.read_upto(start, usize::MAX >> 1, i64::MAX).unwrap()
    };
    values_of(&bytes)
}

// ---- raw wire access -----------------------------------------------------------------------

/// `brook.v1` clients straight to a broker (outside the network fault model).
struct Wire {
    channels: Channels,
}

impl Wire {
    fn new() -> Wire {
        Wire {
            channels: Channels::default(),
        }
    }

    fn client(&self, cluster: &Cluster, id: i32) -> BrookClient<tonic::transport::Channel> {
        let addr = cluster.addr(id).unwrap().to_string();
        BrookClient::new(self.channels.get(&addr).unwrap())
    }

    /// One produce of a single-record batch to partition 0, as its own task (so a test can
    /// watch the cluster while an `acks=all` request is parked).
    fn spawn_produce(
        &self,
        cluster: &Cluster,
        id: i32,
        topic: &str,
        acks: i32,
        timeout_ms: i32,
        value: &str,
    ) -> tokio::task::JoinHandle<PartitionProduceResponse> {
        let mut client = self.client(cluster, id);
        let mut b = BatchBuilder::new();
        b.append(now_ms(), None, Some(value.as_bytes()), &[]);
        let req = ProduceRequest {
            acks,
            timeout_ms,
            topics: vec![TopicProduceData {
                name: topic.to_string(),
                partitions: vec![PartitionProduceData {
                    partition: 0,
                    records: b.build(),
                }],
            }],
        };
        let bound = Duration::from_millis(timeout_ms.max(0) as u64) + WAIT;
        tokio::spawn(async move {
            let resp = tokio::time::timeout(bound, client.produce(req))
                .await
                .expect("the broker answers within the request timeout")
                .expect("produce RPC")
                .into_inner();
            assert_eq!(resp.topics.len(), 1, "{resp:?}");
            assert_eq!(resp.topics[0].partitions.len(), 1, "{resp:?}");
            resp.topics[0].partitions[0].clone()
        })
    }

    async fn produce(
        &self,
        cluster: &Cluster,
        id: i32,
        topic: &str,
        acks: i32,
        timeout_ms: i32,
        value: &str,
    ) -> PartitionProduceResponse {
        self.spawn_produce(cluster, id, topic, acks, timeout_ms, value)
            .await
            .unwrap()
    }

    /// A consumer fetch (replica_id -1, no long poll) of partition 0 at `offset`.
    async fn fetch(
        &self,
        cluster: &Cluster,
        id: i32,
        topic: &str,
        offset: i64,
    ) -> FetchPartitionResponse {
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 1,
            max_bytes: 1 << 20,
            replica_epoch: -1,
            topics: vec![FetchTopic {
                name: topic.to_string(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    current_leader_epoch: -1,
                    fetch_offset: offset,
                    log_start_offset: -1,
                    partition_max_bytes: 1 << 20,
                    flushed_offset: -1,
                    last_fetched_epoch: -1,
                }],
            }],
        };
        let resp = tokio::time::timeout(WAIT, self.client(cluster, id).fetch(req))
            .await
            .expect("fetch answers")
            .expect("fetch RPC")
            .into_inner();
        assert_eq!(code(resp.error_code), ErrorCode::None, "{resp:?}");
        resp.topics[0].partitions[0].clone()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn code(wire: i32) -> ErrorCode {
    ErrorCode::from_wire(wire)
}

fn durability(r: &PartitionProduceResponse) -> Durability {
    Durability::try_from(r.durability).unwrap()
}

fn values_of(buf: &Bytes) -> Vec<String> {
    let mut out = Vec::new();
    for item in batch::batches(buf) {
        let (pos, h) = item.unwrap();
        for r in decode_records(&buf.slice(pos..pos + h.size())).unwrap() {
            out.push(String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap());
        }
    }
    out
}

/// What a consumer reads from partition 0 from the beginning: polls until `expect` records
/// arrived (bounded), then once more to show nothing else is there. (offset, value) pairs.
async fn consume_all(cluster: &Cluster, topic: &str, expect: usize) -> Vec<(i64, String)> {
    let mut consumer = cluster.consumer().from_beginning().build().await.unwrap();
    consumer.assign(vec![TopicPartition::new(topic, 0)]);
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    while out.len() < expect && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            let v = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
            out.push((r.offset, v));
        }
    }
    for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
        let v = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
        out.push((r.offset, v));
    }
    out
}

fn numbered(values: &[&str]) -> Vec<(i64, String)> {
    (0..).zip(values.iter().map(|v| v.to_string())).collect()
}

/// Writes `values` with acks=all and waits until every replica has them (HW = LEO = n).
async fn prefill(cluster: &Cluster, topic: &str, p: Rf3, values: &[&str]) {
    let producer = cluster.producer().acks(Acks::All).build().await.unwrap();
    for v in values {
        producer
            .send_and_wait(ProducerRecord::new(topic, v.to_string()).partition(0))
            .await
            .unwrap();
    }
    producer.close().await;
    let n = values.len() as i64;
    wait_view(cluster, "prefill replicated everywhere", |v| {
        hw(v, topic) == n && [p.a, p.b, p.c].iter().all(|id| leo(v, topic, *id) == n)
    })
    .await;
}

// ---- T1 ------------------------------------------------------------------------------------

/// T1 (P3, P8): with the ISR below min.insync.replicas an acks=all produce is refused with
/// NOT_ENOUGH_REPLICAS before anything is appended (LEO unchanged, never consumable), while
/// acks=1 is accepted but stays invisible (HW frozen) until the ISR is back at 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t1_acks_all_refused_before_append_when_isr_below_min() {
    let cluster = start_cluster(FAST_LAG_MS).await;
    let topic = "t1-refuse";
    let p = create_rf3(&cluster, topic, &[("min.insync.replicas", "2")]).await;
    prefill(&cluster, topic, p, &["c0", "c1"]).await;
    let wire = Wire::new();

    cluster.kill(p.b).await.unwrap();
    cluster.kill(p.c).await.unwrap();
    // Idle followers at A's LEO count as caught up (F2); the controller drops B and C from the
    // ISR when their sessions expire (broker.session.timeout.ms, 1 s in the embedded cluster).
    let view = wait_view(&cluster, "ISR = {A}", |v| v.isr(topic, 0) == [p.a]).await;
    assert_eq!((leo(&view, topic, p.a), hw(&view, topic)), (2, 2));

    // acks=all: refused before the append.
    let r = wire
        .produce(&cluster, p.a, topic, -1, 1000, "refused")
        .await;
    assert_eq!(code(r.error_code), ErrorCode::NotEnoughReplicas, "{r:?}");
    assert_eq!(r.base_offset, -1, "{r:?}");
    assert_eq!(durability(&r), Durability::None, "{r:?}");
    assert_eq!(
        local_offsets(&cluster, p.a, topic).await,
        (2, 2),
        "A's LEO (and HW) unchanged"
    );
    assert_eq!(local_values(&cluster, p.a, topic).await, ["c0", "c1"]);

    // acks=1: never refused for min.insync, but with P8 the HW stays frozen: not visible.
    let r = wire.produce(&cluster, p.a, topic, 1, 1000, "acks1").await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!(r.base_offset, 2, "{r:?}");
    assert_eq!(durability(&r), Durability::LeaderWritten, "{r:?}");
    assert_eq!(
        local_offsets(&cluster, p.a, topic).await,
        (3, 2),
        "appended (LEO 3) but the HW is frozen at 2 while |ISR| < min.insync"
    );
    let f = wire.fetch(&cluster, p.a, topic, 2).await;
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    assert_eq!(f.high_watermark, 2, "{f:?}");
    assert!(f.records.is_empty(), "acks=1 record visible below min ISR");

    // B comes back and rejoins: the HW passes the acks=1 record; the refused one never was.
    cluster.restart(p.b).await.unwrap();
    let view = wait_view(&cluster, "B back in the ISR and HW = 3", |v| {
        v.isr(topic, 0).contains(&p.b) && hw(v, topic) == 3
    })
    .await;
    assert_eq!(leo(&view, topic, p.a), 3, "{}", view.summary());
    assert_eq!(
        consume_all(&cluster, topic, 3).await,
        numbered(&["c0", "c1", "acks1"])
    );
}

// ---- T2 ------------------------------------------------------------------------------------

/// T2 (P7, P8, F3): an acks=all batch is appended and parked; both followers stop fetching and
/// leave the ISR. With the HW frozen the request ends in REQUEST_TIMED_OUT, the record stays
/// in A's log above the unchanged HW, and once B rejoins it commits and becomes consumable
/// (the "unknown" write appears).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t2_isr_shrinks_while_parked_times_out_then_commits_after_rejoin() {
    let cluster = start_cluster(FAST_LAG_MS).await;
    let topic = "t2-timeout";
    let p = create_rf3(&cluster, topic, &[("min.insync.replicas", "2")]).await;
    prefill(&cluster, topic, p, &["c0"]).await;
    let wire = Wire::new();

    cluster.partition(p.a, p.b).await.unwrap();
    cluster.partition(p.a, p.c).await.unwrap();
    let sent = Instant::now();
    let parked = wire.spawn_produce(&cluster, p.a, topic, -1, 1500, "m1");
    wait_view(&cluster, "m1 appended on A", |v| leo(v, topic, p.a) == 2).await;
    wait_view(&cluster, "ISR shrunk to {A}", |v| v.isr(topic, 0) == [p.a]).await;
    assert!(
        !parked.is_finished(),
        "the acks=all request must still be parked when the shrink lands"
    );

    let r = parked.await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::RequestTimedOut, "{r:?}");
    assert!(
        sent.elapsed() >= Duration::from_millis(1500),
        "answered before the request timeout: {:?}",
        sent.elapsed()
    );
    assert_eq!(r.base_offset, -1, "{r:?}");
    assert_eq!(
        local_offsets(&cluster, p.a, topic).await,
        (2, 1),
        "m1 stays in A's log (LEO 2); HW unchanged at 1"
    );
    assert_eq!(local_values(&cluster, p.a, topic).await, ["c0", "m1"]);
    let f = wire.fetch(&cluster, p.a, topic, 1).await;
    assert_eq!((f.high_watermark, f.records.len()), (1, 0), "{f:?}");

    // B resumes and rejoins: the HW passes m1, which becomes consumable.
    cluster.network().reconnect(p.a, p.b);
    let view = wait_view(&cluster, "B rejoined and HW = 2", |v| {
        v.isr(topic, 0).contains(&p.b) && hw(v, topic) == 2
    })
    .await;
    assert!(!view.isr(topic, 0).contains(&p.c), "{}", view.summary());
    assert_eq!(
        consume_all(&cluster, topic, 2).await,
        numbered(&["c0", "m1"])
    );
}

/// T2 variant (P7 third case): the batch is already below the HW when the ISR shrinks below
/// min.insync, but the leader has not answered yet. The answer is then
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND, and the record IS committed and consumable.
///
/// The race is made deterministic with the leader's disk: with `flush.messages=1` the leader
/// fsyncs before it looks at the HW, and A's fsync is stalled for 2 s, long enough for B and C
/// to replicate the record (HW passes it) and then be cut off and dropped from the ISR. (A
/// follower at the leader's LEO counts as caught up however long it is silent (F2), so the
/// shrink needs one more record, m2 with acks=1, to leave the cut-off followers behind.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t2_variant_isr_shrinks_after_hw_passed_not_enough_replicas_after_append() {
    let cluster = start_cluster(FAST_LAG_MS).await;
    let topic = "t2-after-append-1";
    let p = create_rf3(
        &cluster,
        topic,
        &[("min.insync.replicas", "2"), ("flush.messages", "1")],
    )
    .await;
    prefill(&cluster, topic, p, &["c0"]).await;
    let wire = Wire::new();

    let stall = &cluster.disk(p.a).unwrap().faults().sync_delay_ms;
    stall.store(2000, std::sync::atomic::Ordering::Release);
    let parked = wire.spawn_produce(&cluster, p.a, topic, -1, 5000, "m1");
    wait_view(&cluster, "B and C replicated m1: HW = 2", |v| {
        hw(v, topic) == 2 && v.isr(topic, 0).len() == 3
    })
    .await;
    cluster.partition(p.a, p.b).await.unwrap();
    cluster.partition(p.a, p.c).await.unwrap();
    let m2 = wire.spawn_produce(&cluster, p.a, topic, 1, 5000, "m2");
    wait_view(&cluster, "m2 appended on A", |v| leo(v, topic, p.a) == 3).await;
    wait_view(&cluster, "ISR shrunk to {A}", |v| v.isr(topic, 0) == [p.a]).await;
    stall.store(0, std::sync::atomic::Ordering::Release);
    assert!(
        !parked.is_finished(),
        "the leader answered before the shrink landed (its fsync stall was too short)"
    );

    let r = parked.await.unwrap();
    assert_eq!(
        code(r.error_code),
        ErrorCode::NotEnoughReplicasAfterAppend,
        "{r:?}"
    );
    let r = m2.await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!(durability(&r), Durability::LeaderFlushed, "{r:?}");
    assert_eq!(
        local_offsets(&cluster, p.a, topic).await,
        (3, 2),
        "HW passed m1 before the shrink and is frozen since"
    );
    let f = wire.fetch(&cluster, p.a, topic, 1).await;
    assert_eq!(f.high_watermark, 2, "{f:?}");
    assert_eq!(values_of(&f.records), ["m1"], "m1 is committed, m2 is not");
    assert_eq!(
        consume_all(&cluster, topic, 2).await,
        numbered(&["c0", "m1"])
    );
}

// ---- T3 ------------------------------------------------------------------------------------

/// T3, acks=1 (P6, E1, E6): B and C stop fetching; m1 is acknowledged by A alone; A crashes
/// (kill -9: its page cache survives, so m1 is still in its log on restart). A follower is
/// elected without m1: m1 is absent from the new leader, from every consumer, and is truncated
/// from A when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t3_acks_1_record_is_lost_when_the_leader_crashes() {
    // B and C must still be in the ISR when A dies, or no clean election is possible (E1).
    let cluster = start_cluster(NO_SHRINK_LAG_MS).await;
    let topic = "t3-acks1-4";
    let p = create_rf3(&cluster, topic, &[("min.insync.replicas", "2")]).await;
    prefill(&cluster, topic, p, &["c0", "c1"]).await;
    let wire = Wire::new();
    let epoch = cluster.view().await.leader_epoch(topic, 0).unwrap();

    cluster.partition(p.a, p.b).await.unwrap();
    cluster.partition(p.a, p.c).await.unwrap();
    let r = wire.produce(&cluster, p.a, topic, 1, 1000, "m1").await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!(r.base_offset, 2, "{r:?}");
    assert_eq!(durability(&r), Durability::LeaderWritten, "{r:?}");
    assert_eq!(local_values(&cluster, p.a, topic).await, ["c0", "c1", "m1"]);
    for f in [p.b, p.c] {
        assert_eq!(local_offsets(&cluster, f, topic).await.0, 2, "broker {f}");
    }

    cluster.kill_keep_page_cache(p.a).await.unwrap();
    cluster.heal().await.unwrap();
    let view = wait_view(&cluster, "a follower elected in a new epoch", |v| {
        v.leader(topic, 0).is_some_and(|l| l == p.b || l == p.c)
            && v.leader_epoch(topic, 0).is_some_and(|e| e > epoch)
            && v.serving_leader(topic, 0)
    })
    .await;
    let new_leader = view.leader(topic, 0).unwrap();
    assert_eq!(leo(&view, topic, new_leader), 2, "{}", view.summary());

    // The partition moves on without m1; A returns and truncates m1 away (E6, not to its HW).
    let producer = cluster.producer().acks(Acks::All).build().await.unwrap();
    let md = producer
        .send_and_wait(ProducerRecord::new(topic, "after").partition(0))
        .await
        .unwrap();
    assert_eq!(md.offset, 2, "m1's offset is reused: m1 is gone");
    producer.close().await;
    cluster.restart(p.a).await.unwrap();
    wait_view(&cluster, "A back in the ISR at LEO 3", |v| {
        v.isr(topic, 0).len() == 3 && [p.a, p.b, p.c].iter().all(|id| leo(v, topic, *id) == 3)
    })
    .await;
    for id in [p.a, p.b, p.c] {
        let deadline = Instant::now() + WAIT;
        let values = loop {
            let values = local_values(&cluster, id, topic).await;
            if values.len() == 3 {
                break values;
            }
            check_deadline(deadline, &format!("broker {id}'s log at 3 records"));
            tokio::time::sleep(POLL).await;
        };
        assert_eq!(values, ["c0", "c1", "after"], "broker {id}: m1 absent");
    }
    assert_eq!(
        consume_all(&cluster, topic, 3).await,
        numbered(&["c0", "c1", "after"])
    );

    // Also as leader A serves exactly that (preferred election moves leadership back).
    let admin = cluster.admin().unwrap();
    let results = admin
        .elect_leaders(
            ElectionType::ElectionPreferred,
            &[TopicPartition::new(topic, 0)],
        )
        .await
        .unwrap();
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    wait_view(&cluster, "A leads again", |v| {
        v.leader(topic, 0) == Some(p.a) && v.serving_leader(topic, 0)
    })
    .await;
    let f = wire.fetch(&cluster, p.a, topic, 0).await;
    assert_eq!(values_of(&f.records), ["c0", "c1", "after"], "{f:?}");
}

/// T3, acks=all (P7, E1): with B and C not fetching, the acks=all produce is not acknowledged;
/// once they fetch it is, and after A crashes (power loss) m1 is on the new leader and
/// consumable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t3_acks_all_record_survives_the_leader_crash() {
    let cluster = start_cluster(NO_SHRINK_LAG_MS).await;
    let topic = "t3-acksall-1";
    let p = create_rf3(&cluster, topic, &[("min.insync.replicas", "2")]).await;
    prefill(&cluster, topic, p, &["c0", "c1"]).await;
    let wire = Wire::new();
    let epoch = cluster.view().await.leader_epoch(topic, 0).unwrap();

    cluster.partition(p.a, p.b).await.unwrap();
    cluster.partition(p.a, p.c).await.unwrap();
    let mut parked = wire.spawn_produce(&cluster, p.a, topic, -1, 10_000, "m1");
    wait_view(&cluster, "m1 appended on A", |v| leo(v, topic, p.a) == 3).await;
    // Nothing the followers lack may be acknowledged: give the leader a chance to do it wrong.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut parked)
            .await
            .is_err(),
        "acks=all acknowledged before any follower fetched the record"
    );
    assert_eq!(local_offsets(&cluster, p.a, topic).await, (3, 2));

    cluster.heal().await.unwrap();
    let r = parked.await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!(r.base_offset, 2, "{r:?}");
    assert!(durability(&r) >= Durability::IsrReplicated, "{r:?}");

    cluster.kill(p.a).await.unwrap();
    let view = wait_view(&cluster, "a follower elected in a new epoch", |v| {
        v.leader(topic, 0).is_some_and(|l| l == p.b || l == p.c)
            && v.leader_epoch(topic, 0).is_some_and(|e| e > epoch)
            && v.serving_leader(topic, 0)
    })
    .await;
    let new_leader = view.leader(topic, 0).unwrap();
    assert_eq!(
        local_values(&cluster, new_leader, topic).await,
        ["c0", "c1", "m1"]
    );
    let view = wait_view(&cluster, "the new leader's HW covers m1", |v| {
        hw(v, topic) == 3
    })
    .await;
    assert_eq!(leo(&view, topic, new_leader), 3);
    assert_eq!(
        consume_all(&cluster, topic, 3).await,
        numbered(&["c0", "c1", "m1"])
    );
}

// ---- T4 ------------------------------------------------------------------------------------

/// T4 (H1, H2, H4): with B (still in the ISR) not fetching, 10 acks=1 records leave the leader
/// at LEO 10 and HW 0: a consumer fetch at 0 is empty without error, at 10 (= LEO) too, at 11
/// OFFSET_OUT_OF_RANGE. When B resumes the leader's HW reaches 10, then the followers' HW, and
/// a consumer reads offsets 0..9 exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t4_consumers_never_read_past_the_high_watermark() {
    let cluster = start_cluster(NO_SHRINK_LAG_MS).await;
    let topic = "t4-hw";
    let p = create_rf3(&cluster, topic, &[]).await;
    let wire = Wire::new();

    cluster.partition(p.a, p.b).await.unwrap();
    let producer = cluster.producer().acks(Acks::Leader).build().await.unwrap();
    for i in 0..10 {
        let md = producer
            .send_and_wait(ProducerRecord::new(topic, format!("v{i}")).partition(0))
            .await
            .unwrap();
        assert_eq!(md.offset, i);
    }
    producer.close().await;
    // C has everything; only B holds the HW back.
    let view = wait_view(&cluster, "C at LEO 10", |v| leo(v, topic, p.c) == 10).await;
    assert_eq!(leo(&view, topic, p.a), 10, "{}", view.summary());
    assert_eq!(hw(&view, topic), 0, "{}", view.summary());
    assert_eq!(view.isr(topic, 0).len(), 3, "B is still in the ISR");
    assert_eq!(local_offsets(&cluster, p.b, topic).await, (0, 0));

    for offset in [0, 5, 10] {
        let f = wire.fetch(&cluster, p.a, topic, offset).await;
        assert_eq!(
            code(f.error_code),
            ErrorCode::None,
            "fetch at {offset}: {f:?}"
        );
        assert!(f.records.is_empty(), "fetch at {offset} returned data");
        assert_eq!((f.high_watermark, f.log_end_offset), (0, 10), "{f:?}");
    }
    let f = wire.fetch(&cluster, p.a, topic, 11).await;
    assert_eq!(code(f.error_code), ErrorCode::OffsetOutOfRange, "{f:?}");

    // B resumes: the leader's HW moves once B's fetches report LEO 10; the followers learn it
    // from the following fetch responses and never run ahead of the leader.
    cluster.heal().await.unwrap();
    wait_view(&cluster, "leader HW 10", |v| hw(v, topic) == 10).await;
    let deadline = Instant::now() + WAIT;
    for f in [p.b, p.c] {
        loop {
            let (leo, hw) = local_offsets(&cluster, f, topic).await;
            assert!(hw <= 10 && hw <= leo, "follower {f}: HW {hw}, LEO {leo}");
            if hw == 10 {
                break;
            }
            check_deadline(deadline, &format!("broker {f}'s HW at 10"));
            tokio::time::sleep(POLL).await;
        }
    }
    let expected: Vec<(i64, String)> = (0..10).map(|i| (i, format!("v{i}"))).collect();
    assert_eq!(consume_all(&cluster, topic, 10).await, expected);
}
