//! Leader epochs, truncation and failover on the embedded `brook::Cluster` (SPEC §4, §6;
//! kafka-semantics E3–E12, I6, I7; scenarios T7, T8, T9, T14, T20).
//!
//! Broker 1 hosts the only controller, so every scenario keeps it up: the partitions under test
//! live on other brokers (a topic name is picked until the replica assignment fits), and broker 1
//! is at most a follower that is never killed or cut off.
//!
//! Observation: leadership, ISR and HW come from `Cluster::view`; a follower's own LEO / HW are
//! read white-box from the running broker (`Cluster::broker`), and whole logs are compared
//! batch by batch (offsets, leader epoch, CRC and bytes) straight from the segment files.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, Once};
use std::time::Duration;

use brook::log::batch;
use brook::log::record::{BatchBuilder, decode_records};
use brook::proto::net::Channels;
use brook::proto::v1::brook_client::BrookClient;
use brook::proto::v1::*;
use brook::proto::{Durability, ErrorCode};
use brook::{Cluster, ClusterView};
use bytes::Bytes;
use tokio::time::Instant;

const P: i32 = 0;
/// Bound on every wait for the cluster to reach a state.
const WAIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------------------------
// Cluster set-up

/// A cluster with fast failure detection: session 800 ms, lag 400 ms.
async fn cluster(brokers: usize, extra: &[(&str, &str)]) -> Cluster {
    let mut b = Cluster::builder()
        .brokers(brokers)
        .broker_config("broker.session.timeout.ms", "800")
        .broker_config("replica.lag.time.max.ms", "400")
        .broker_config("replica.fetch.wait.max.ms", "100");
    for (k, v) in extra {
        b = b.broker_config(*k, *v);
    }
    b.start().await.unwrap()
}

/// Creates a one-partition topic `<prefix>-<i>` for the first `i` whose replica assignment
/// satisfies `fits` (assignment is a pure function of the name); rejected candidates are
/// deleted. Returns the name and the replicas, preferred leader first.
async fn topic_where(
    cluster: &Cluster,
    prefix: &str,
    rf: i32,
    configs: &[(&str, &str)],
    fits: impl Fn(&[i32]) -> bool,
) -> (String, Vec<i32>) {
    let admin = cluster.admin().unwrap();
    for i in 0..64 {
        let name = format!("{prefix}-{i}");
        let mut create = cluster.create_topic(&name, 1, rf);
        for (k, v) in configs {
            create = create.config(*k, *v);
        }
        create.await.unwrap();
        let replicas = cluster.view().await.replicas(&name, P);
        if fits(&replicas) {
            return (name, replicas);
        }
        let _ = admin.delete_topic(&name).await;
    }
    panic!("no topic name {prefix}-<0..64> gets a fitting assignment");
}

// ------------------------------------------------------------------------------------------
// Waiting

/// Polls `probe` until it returns `Ok`, panicking with its last complaint after `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

/// Waits for a view satisfying `cond`; panics with the last view on timeout.
async fn wait_view(
    cluster: &Cluster,
    what: &str,
    cond: impl Fn(&ClusterView) -> bool,
) -> ClusterView {
    match cluster.wait_until(cond, WAIT).await {
        Ok(v) => v,
        Err(e) => panic!("waiting for {what}: {e}"),
    }
}

fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v
}

/// Waits until `leader` serves the partition with exactly `isr` (any order) as its ISR.
async fn wait_leader_and_isr(
    cluster: &Cluster,
    topic: &str,
    leader: i32,
    isr: &[i32],
) -> ClusterView {
    let want = sorted(isr.to_vec());
    wait_view(
        cluster,
        &format!("{topic}: leader {leader}, ISR {want:?}"),
        |v| {
            v.serving_leader(topic, P)
                && v.leader(topic, P) == Some(leader)
                && sorted(v.isr(topic, P)) == want
        },
    )
    .await
}

/// Waits until some broker serves the partition with an ISR of `n` members.
async fn wait_isr_len(cluster: &Cluster, topic: &str, n: usize) -> ClusterView {
    wait_view(
        cluster,
        &format!("{topic}: a serving leader and {n} ISR members"),
        |v| v.serving_leader(topic, P) && v.isr(topic, P).len() == n,
    )
    .await
}

/// A replica's own (LEO, HW), read from the running broker (white-box), or `None`.
async fn replica(cluster: &Cluster, id: i32, topic: &str) -> Option<(i64, i64)> {
    let broker = cluster.broker(id).await.ok()?;
    let part = broker.replicas.get(topic, P)?;
    Some((part.log_end_offset(), part.high_watermark()))
}

/// Waits until every listed replica reports LEO `leo` itself.
async fn wait_leos(cluster: &Cluster, topic: &str, ids: &[i32], leo: i64) {
    eventually(
        &format!("{topic}: LEO {leo} on brokers {ids:?}"),
        WAIT,
        || async {
            let mut seen = Vec::new();
            for id in ids {
                seen.push((*id, replica(cluster, *id, topic).await.map(|r| r.0)));
            }
            if seen.iter().all(|(_, l)| *l == Some(leo)) {
                Ok(())
            } else {
                Err(format!("(broker, LEO) = {seen:?}"))
            }
        },
    )
    .await
}

// ------------------------------------------------------------------------------------------
// Raw wire access (plain TCP: outside the fault model, like a client that can reach the broker)

fn client(cluster: &Cluster, id: i32) -> BrookClient<tonic::transport::Channel> {
    let addr = cluster.addr(id).unwrap().to_string();
    BrookClient::new(Channels::default().get(&addr).unwrap())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A plain (non-idempotent) batch of one record.
fn record(value: &str) -> Bytes {
    let mut b = BatchBuilder::new();
    b.append(now_ms(), None, Some(value.as_bytes()), &[]);
    b.build()
}

/// An idempotent batch of `count` records `"<tag>/<seq>"`, sequences `seq..seq+count`.
fn idem_batch(pid: i64, epoch: i16, seq: i32, count: i32, tag: &str) -> Bytes {
    let mut b = BatchBuilder::new().producer(pid, epoch, seq);
    let ts = now_ms();
    for i in 0..count {
        b.append(ts, None, Some(format!("{tag}/{}", seq + i).as_bytes()), &[]);
    }
    b.build()
}

/// One Produce of one batch to broker `id`, bounded by `timeout_ms` on the broker and a little
/// more on the client.
async fn produce(
    cluster: &Cluster,
    id: i32,
    topic: &str,
    acks: i32,
    timeout_ms: i32,
    records: Bytes,
) -> PartitionProduceResponse {
    let req = ProduceRequest {
        acks,
        timeout_ms,
        topics: vec![TopicProduceData {
            name: topic.into(),
            partitions: vec![PartitionProduceData {
                partition: P,
                records,
            }],
        }],
    };
    let bound = Duration::from_millis(timeout_ms as u64) + Duration::from_secs(5);
    let resp = tokio::time::timeout(bound, client(cluster, id).produce(req))
        .await
        .expect("the produce call hung")
        .expect("produce RPC failed")
        .into_inner();
    resp.topics[0].partitions[0].clone()
}

fn code(p: &PartitionProduceResponse) -> ErrorCode {
    ErrorCode::from_wire(p.error_code)
}

/// Produces with acks=all and asserts success with ISR durability; returns the base offset.
async fn produce_committed(cluster: &Cluster, leader: i32, topic: &str, records: Bytes) -> i64 {
    let p = produce(cluster, leader, topic, -1, 5000, records).await;
    assert_eq!(code(&p), ErrorCode::None, "{p:?}");
    assert!(p.durability >= Durability::IsrReplicated as i32, "{p:?}");
    p.base_offset
}

/// Every (offset, value) a consumer can read from broker `id` (up to its HW).
async fn read_all(cluster: &Cluster, id: i32, topic: &str) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            replica_epoch: -1,
            topics: vec![FetchTopic {
                name: topic.into(),
                partitions: vec![FetchPartition {
                    partition: P,
                    current_leader_epoch: -1,
                    fetch_offset: offset,
                    log_start_offset: -1,
                    partition_max_bytes: 1 << 20,
                    flushed_offset: -1,
                    last_fetched_epoch: -1,
                }],
            }],
        };
        let resp = client(cluster, id).fetch(req).await.unwrap().into_inner();
        let p = &resp.topics[0].partitions[0];
        assert_eq!(ErrorCode::from_wire(p.error_code), ErrorCode::None, "{p:?}");
        if p.records.is_empty() {
            return out;
        }
        for item in batch::batches(&p.records) {
            let (pos, h) = item.unwrap();
            for r in decode_records(&p.records.slice(pos..pos + h.size())).unwrap() {
                let v = String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap();
                out.push((r.offset, v));
                offset = r.offset + 1;
            }
        }
    }
}

async fn values(cluster: &Cluster, id: i32, topic: &str) -> Vec<String> {
    let recs = read_all(cluster, id, topic).await;
    for (i, (o, _)) in recs.iter().enumerate() {
        assert_eq!(*o, i as i64, "offsets are dense from 0: {recs:?}");
    }
    recs.into_iter().map(|(_, v)| v).collect()
}

// ------------------------------------------------------------------------------------------
// Logs on disk

/// One batch as stored in a segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    base_offset: i64,
    last_offset: i64,
    epoch: i32,
    crc: u32,
    bytes: Vec<u8>,
}

impl Stored {
    fn key(&self) -> (i64, i64, i32, u32) {
        (self.base_offset, self.last_offset, self.epoch, self.crc)
    }
}

/// Every batch of partition 0 of `topic` in broker `id`'s data dir, segment by segment.
/// Asserts each batch's CRC and that offsets are contiguous and strictly increasing.
fn stored_log(cluster: &Cluster, id: i32, topic: &str) -> Vec<Stored> {
    let dir = cluster.data_dir(id).unwrap().join(format!("{topic}-{P}"));
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let mut out: Vec<Stored> = Vec::new();
    for seg in segments {
        let buf = std::fs::read(&seg).unwrap();
        for item in batch::batches(&buf) {
            let (pos, h) = item.unwrap_or_else(|e| panic!("{}: {e}", seg.display()));
            let bytes = buf[pos..pos + h.size()].to_vec();
            batch::check_crc(&bytes).unwrap_or_else(|e| panic!("{} at {pos}: {e}", seg.display()));
            if let Some(prev) = out.last() {
                assert_eq!(
                    h.base_offset,
                    prev.last_offset + 1,
                    "broker {id}: offsets must be contiguous and strictly increasing"
                );
            }
            out.push(Stored {
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
                epoch: h.partition_leader_epoch,
                crc: h.crc,
                bytes,
            });
        }
    }
    out
}

/// Asserts that the replicas' logs are identical batch by batch; returns the common log.
fn assert_same_logs(cluster: &Cluster, topic: &str, ids: &[i32]) -> Vec<Stored> {
    let first = stored_log(cluster, ids[0], topic);
    for id in &ids[1..] {
        let other = stored_log(cluster, *id, topic);
        let keys = |l: &[Stored]| l.iter().map(Stored::key).collect::<Vec<_>>();
        assert_eq!(
            keys(&first),
            keys(&other),
            "(base, last, epoch, crc) per batch: broker {} vs broker {id}",
            ids[0]
        );
        assert!(
            first == other,
            "batch bytes differ: broker {} vs broker {id}",
            ids[0]
        );
    }
    first
}

// ------------------------------------------------------------------------------------------
// Follower truncations, as the fetcher reports them

/// One "truncated to the leader's epoch boundary" event of `replication.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Truncation {
    topic: String,
    from: i64,
    to: i64,
}

static TRUNCATIONS: Mutex<Vec<Truncation>> = Mutex::new(Vec::new());

/// Records the follower fetcher's truncation events (process-wide; filter by topic).
struct CaptureTruncations;

#[derive(Default)]
struct Fields {
    message: String,
    topic: String,
    from: Option<i64>,
    to: Option<i64>,
}

impl tracing::field::Visit for Fields {
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        match field.name() {
            "from" => self.from = Some(value),
            "to" => self.to = Some(value),
            _ => {}
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.record_debug(field, &value)
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "topic" => self.topic = format!("{value:?}").trim_matches('"').to_string(),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CaptureTruncations {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() != "brook_broker::replication" {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        if let (true, Some(from), Some(to)) = (
            f.message
                .contains("truncated to the leader's epoch boundary"),
            f.from,
            f.to,
        ) {
            TRUNCATIONS.lock().unwrap().push(Truncation {
                topic: f.topic,
                from,
                to,
            });
        }
    }
}

fn capture_truncations() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(CaptureTruncations);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

fn truncations_of(topic: &str) -> Vec<(i64, i64)> {
    TRUNCATIONS
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.topic == topic)
        .map(|t| (t.from, t.to))
        .collect()
}

fn leader_epoch(v: &ClusterView, topic: &str) -> i32 {
    v.leader_epoch(topic, P).unwrap_or(-1)
}

// ------------------------------------------------------------------------------------------
// T7

/// T7 / E8 (KIP-101 scenario 1). RF2 {A, B}, min ISR 1, acks=all: m0 and m1 are committed, B
/// holds both but restarts with a high watermark below its LEO (B's HW checkpoint is older
/// than m1). A dies before B fetches again. B must not truncate to its HW on restart; when it
/// takes over it still has m1, a consumer reads m0 and m1, and A, back, ends identical.
///
/// Adaptation: a restarted broker re-registers, and Brook (like KRaft, KIP-903/966) then
/// removes it from the ISR at once, so after its restart B cannot win a *clean* election — the
/// topic enables unclean election, the only way left for B to lead. What is asserted is E8's
/// point: the restarted follower kept m1 (no truncation to its HW) and leads with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t7_restarted_follower_does_not_truncate_to_its_hw_and_leads_with_m1() {
    // No periodic HW checkpoint during the test: B restarts with an HW below its LEO.
    let cluster = cluster(
        3,
        &[
            ("replica.high.watermark.checkpoint.interval.ms", "3600000"),
            ("log.retention.check.interval.ms", "3600000"),
        ],
    )
    .await;
    let (topic, replicas) = topic_where(
        &cluster,
        "t7",
        2,
        &[
            ("min.insync.replicas", "1"),
            ("unclean.leader.election.enable", "true"),
        ],
        |r| !r.contains(&1),
    )
    .await;
    let (a, b) = (replicas[0], replicas[1]);
    wait_leader_and_isr(&cluster, &topic, a, &[a, b]).await;

    assert_eq!(
        produce_committed(&cluster, a, &topic, record("m0")).await,
        0
    );
    assert_eq!(
        produce_committed(&cluster, a, &topic, record("m1")).await,
        1
    );
    // acks=all: B has both.
    wait_leos(&cluster, &topic, &[b], 2).await;

    // B restarts while it cannot reach A (so it cannot fetch m1's HW, nor anything else).
    cluster.partition(a, b).await.unwrap();
    cluster.kill_keep_page_cache(b).await.unwrap();
    cluster.restart(b).await.unwrap();
    let (leo, hw) = eventually("B's replica loaded after restart", WAIT, || async {
        replica(&cluster, b, &topic)
            .await
            .ok_or_else(|| "not loaded".to_string())
    })
    .await;
    assert!(
        hw < 2,
        "precondition: B restarted with HW {hw} below m1's end"
    );
    assert_eq!(
        leo, 2,
        "B truncated on restart (HW {hw}): m1 must stay (E8)"
    );

    // A dies before B fetched again; B takes over.
    let epoch_before = leader_epoch(&cluster.view().await, &topic);
    cluster.kill_keep_page_cache(a).await.unwrap();
    let view = wait_view(&cluster, "B leads", |v| {
        v.serving_leader(&topic, P) && v.leader(&topic, P) == Some(b)
    })
    .await;
    assert!(
        leader_epoch(&view, &topic) > epoch_before,
        "{}",
        view.summary()
    );
    assert_eq!(
        replica(&cluster, b, &topic).await.map(|r| r.0),
        Some(2),
        "m1 is still on B"
    );
    let read = eventually("a consumer reads m0, m1 from B", WAIT, || async {
        let v = values(&cluster, b, &topic).await;
        if v.len() >= 2 {
            Ok(v)
        } else {
            Err(format!("{v:?}"))
        }
    })
    .await;
    assert_eq!(read, ["m0", "m1"]);

    // A returns as a follower and keeps identical content.
    cluster.heal().await.unwrap();
    cluster.restart(a).await.unwrap();
    wait_leader_and_isr(&cluster, &topic, b, &[a, b]).await;
    assert_eq!(
        produce_committed(&cluster, b, &topic, record("m2")).await,
        2
    );
    wait_leos(&cluster, &topic, &[a, b], 3).await;
    let log = assert_same_logs(&cluster, &topic, &[a, b]);
    assert_eq!(log.len(), 3);
    assert_eq!(values(&cluster, b, &topic).await, ["m0", "m1", "m2"]);
}

// ------------------------------------------------------------------------------------------
// T8

/// T8 / E9 (KIP-101 scenario 2). RF2 {A, B}: 9 single-record batches in epoch 0 on both, A
/// having fsynced only the first 5 (flush.messages=5). B stops (process crash: it keeps all 9),
/// then A loses power (keeps 5). A restarts alone, leads a new epoch, and writes 10 more at
/// offsets 5..14, so offsets 5..8 now differ between A and B. B starts: it must truncate to
/// the end of epoch 0 on A (offset 5), not to its HW, and re-fetch — both logs end identical
/// per batch (offsets, epoch, CRC, bytes) with strictly increasing offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t8_divergent_follower_truncates_to_the_epoch_boundary_and_logs_end_identical() {
    capture_truncations();
    let cluster = cluster(3, &[]).await;
    let (topic, replicas) = topic_where(
        &cluster,
        "t8",
        2,
        &[("min.insync.replicas", "1"), ("flush.messages", "5")],
        |r| !r.contains(&1),
    )
    .await;
    let (a, b) = (replicas[0], replicas[1]);
    wait_leader_and_isr(&cluster, &topic, a, &[a, b]).await;
    for i in 0..9 {
        assert_eq!(
            produce_committed(&cluster, a, &topic, record(&format!("old-{i}"))).await,
            i
        );
    }
    wait_leos(&cluster, &topic, &[b], 9).await;

    // Stop B, wait until A alone is the ISR, then A loses power.
    cluster.kill_keep_page_cache(b).await.unwrap();
    wait_leader_and_isr(&cluster, &topic, a, &[a]).await;
    cluster.kill(a).await.unwrap();
    let b_before = stored_log(&cluster, b, &topic);
    assert_eq!(b_before.len(), 9, "B kept its page cache");
    let a_after_loss = stored_log(&cluster, a, &topic);
    assert_eq!(
        a_after_loss.len(),
        5,
        "A kept what it fsynced (flush.messages=5)"
    );
    assert_eq!(
        a_after_loss.iter().map(Stored::key).collect::<Vec<_>>(),
        b_before[..5].iter().map(Stored::key).collect::<Vec<_>>()
    );

    // A alone: re-elected (it is the only ISR member) in a new epoch starting at 5.
    cluster.restart(a).await.unwrap();
    let view = wait_view(&cluster, "A leads again", |v| {
        v.serving_leader(&topic, P) && v.leader(&topic, P) == Some(a) && leader_epoch(v, &topic) > 0
    })
    .await;
    let new_epoch = leader_epoch(&view, &topic);
    assert_eq!(replica(&cluster, a, &topic).await.map(|r| r.0), Some(5));
    for i in 0..10 {
        assert_eq!(
            produce_committed(&cluster, a, &topic, record(&format!("new-{i}"))).await,
            5 + i
        );
    }

    // B comes back and must converge on A's log.
    cluster.restart(b).await.unwrap();
    wait_leader_and_isr(&cluster, &topic, a, &[a, b]).await;
    wait_leos(&cluster, &topic, &[a, b], 15).await;
    assert_eq!(
        truncations_of(&topic),
        [(9, 5)],
        "B cut its log from 9 to the end of epoch 0 on A, and only there"
    );
    let log = assert_same_logs(&cluster, &topic, &[a, b]);
    assert_eq!(log.len(), 15);
    assert_eq!(
        log[..5].iter().map(Stored::key).collect::<Vec<_>>(),
        b_before[..5].iter().map(Stored::key).collect::<Vec<_>>(),
        "the common prefix is untouched"
    );
    assert!(
        log[..5].iter().all(|s| s.epoch == 0),
        "{:?}",
        log.iter().map(Stored::key).collect::<Vec<_>>()
    );
    assert!(
        log[5..].iter().all(|s| s.epoch == new_epoch),
        "{:?}",
        log.iter().map(Stored::key).collect::<Vec<_>>()
    );
    let mut expected: Vec<String> = (0..5).map(|i| format!("old-{i}")).collect();
    expected.extend((0..10).map(|i| format!("new-{i}")));
    assert_eq!(values(&cluster, a, &topic).await, expected);
}

// ------------------------------------------------------------------------------------------
// T9

/// T9 / E10 (KIP-279 `shouldSurviveFastLeaderChange`). RF2 {A, B}: five rounds of {produce 1
/// record acks=all, bounce the follower, wait for ISR = 2, bounce the leader, wait for ISR = 2}.
/// After every round both replicas' LEO equals the number of records written and their logs
/// are identical. ("Bounce" = clean stop and start; the restart re-registers the broker, which
/// moves it out of the ISR and leadership at once, so every leader bounce is a leader change.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t9_five_rounds_of_fast_leader_changes_keep_both_logs_complete_and_identical() {
    five_rounds_of_bounces("t9", false).await;
}

/// T9 with hard bounces: every bounce is a power loss (no flush policy, so the bounced broker
/// comes back without what it had not fsynced). acks=all records were on the other replica, so
/// after every round both LEOs still equal the records written and the logs are identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t9_five_rounds_of_power_loss_bounces_keep_both_logs_complete_and_identical() {
    five_rounds_of_bounces("t9hard", true).await;
}

fn partition_epoch(v: &ClusterView, topic: &str) -> i32 {
    v.topic(topic)
        .and_then(|t| t.partitions.into_iter().find(|p| p.partition == P))
        .map_or(-1, |p| p.partition_epoch)
}

async fn bounce(cluster: &Cluster, id: i32, hard: bool) {
    if hard {
        cluster.kill(id).await.unwrap();
    } else {
        cluster.shutdown_broker(id).await.unwrap();
    }
    cluster.restart(id).await.unwrap();
}

async fn five_rounds_of_bounces(prefix: &str, hard: bool) {
    let cluster = cluster(3, &[]).await;
    let (topic, replicas) =
        topic_where(&cluster, prefix, 2, &[("min.insync.replicas", "1")], |r| {
            !r.contains(&1)
        })
        .await;
    wait_isr_len(&cluster, &topic, 2).await;
    let mut written: i64 = 0;
    for round in 0..5 {
        let view = wait_isr_len(&cluster, &topic, 2).await;
        let leader = view.leader(&topic, P).unwrap();
        let follower = *replicas.iter().find(|r| **r != leader).unwrap();
        let offset =
            produce_committed(&cluster, leader, &topic, record(&format!("r{round}"))).await;
        assert_eq!(offset, written, "round {round}");
        written += 1;

        // Follower bounce: it leaves the ISR on re-registering and rejoins once caught up
        // (two ISR changes, so the partition epoch moves by at least 2).
        let pe = partition_epoch(&cluster.view().await, &topic);
        bounce(&cluster, follower, hard).await;
        let view = wait_view(
            &cluster,
            &format!("round {round}: follower back in the ISR"),
            |v| {
                v.serving_leader(&topic, P)
                    && v.isr(&topic, P).len() == 2
                    && partition_epoch(v, &topic) >= pe + 2
            },
        )
        .await;

        // Leader bounce: leadership moves to the other replica (new epoch), and the old leader
        // rejoins as its follower.
        let leader = view.leader(&topic, P).unwrap();
        let epoch = leader_epoch(&view, &topic);
        bounce(&cluster, leader, hard).await;
        wait_view(&cluster, &format!("round {round}: new epoch, ISR 2"), |v| {
            v.serving_leader(&topic, P)
                && leader_epoch(v, &topic) > epoch
                && v.isr(&topic, P).len() == 2
        })
        .await;

        wait_leos(&cluster, &topic, &replicas, written).await;
        let log = assert_same_logs(&cluster, &topic, &replicas);
        assert_eq!(log.len() as i64, written, "round {round}");
    }
    let leader = wait_isr_len(&cluster, &topic, 2)
        .await
        .leader(&topic, P)
        .unwrap();
    let expected: Vec<String> = (0..5).map(|r| format!("r{r}")).collect();
    let read = eventually("all records readable", WAIT, || async {
        let v = values(&cluster, leader, &topic).await;
        if v.len() >= 5 {
            Ok(v)
        } else {
            Err(format!("{v:?}"))
        }
    })
    .await;
    assert_eq!(read, expected);
}

// ------------------------------------------------------------------------------------------
// T14

/// T14 / I6, I7. RF3, min ISR 2: an idempotent producer's batches b1..b5 are committed. The
/// leader is killed (-9); another is elected, and b3 resent by hand is deduplicated — NONE with
/// b3's original offset, nothing appended. After a clean restart of every broker, b5 and b4 are
/// deduplicated again with their original offsets: Brook's producer-state snapshots keep the whole
/// 5-batch window (Kafka's keep only the last batch, and answer b4 OUT_OF_ORDER_SEQUENCE_NUMBER,
/// which a client bumping its epoch turns into a duplicate) — never written twice either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t14_dedupe_survives_leader_kill_and_full_clean_restart() {
    let cluster = cluster(3, &[]).await;
    let (topic, replicas) = topic_where(&cluster, "t14", 3, &[("min.insync.replicas", "2")], |r| {
        r[0] != 1
    })
    .await;
    let a = replicas[0];
    wait_leader_and_isr(&cluster, &topic, a, &replicas).await;

    let init = client(&cluster, a)
        .init_producer_id(InitProducerIdRequest {
            transaction_timeout_ms: 0,
            producer_id: -1,
            producer_epoch: -1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ErrorCode::from_wire(init.error_code),
        ErrorCode::None,
        "{init:?}"
    );
    let (pid, epoch) = (init.producer_id, init.producer_epoch as i16);
    let batches: Vec<Bytes> = (0..5)
        .map(|i| idem_batch(pid, epoch, i * 2, 2, "b"))
        .collect();
    let mut offsets = Vec::new();
    for bb in &batches {
        offsets.push(produce_committed(&cluster, a, &topic, bb.clone()).await);
    }
    assert_eq!(offsets, [0, 2, 4, 6, 8]);
    wait_leos(&cluster, &topic, &replicas, 10).await;

    // kill -9 the leader; another ISR member takes over.
    let epoch_before = leader_epoch(&cluster.view().await, &topic);
    cluster.kill_keep_page_cache(a).await.unwrap();
    let view = wait_view(&cluster, "a new leader", |v| {
        v.serving_leader(&topic, P)
            && v.leader(&topic, P).is_some_and(|l| l != a)
            && leader_epoch(v, &topic) > epoch_before
    })
    .await;
    let b = view.leader(&topic, P).unwrap();
    let p = produce(&cluster, b, &topic, -1, 5000, batches[2].clone()).await;
    assert_eq!(
        (code(&p), p.base_offset),
        (ErrorCode::None, offsets[2]),
        "b3 resent: {p:?}"
    );
    assert_eq!(
        replica(&cluster, b, &topic).await.map(|r| r.0),
        Some(10),
        "nothing appended"
    );

    // Everything restarts cleanly (controller last down, first up).
    cluster.restart(a).await.unwrap();
    wait_isr_len(&cluster, &topic, 3).await;
    wait_leos(&cluster, &topic, &replicas, 10).await;
    let mut order = replicas.clone();
    order.sort_unstable_by(|x, y| y.cmp(x));
    for id in &order {
        cluster.shutdown_broker(*id).await.unwrap();
    }
    for id in order.iter().rev() {
        cluster.restart(*id).await.unwrap();
    }
    let view = wait_isr_len(&cluster, &topic, 3).await;
    let leader = view.leader(&topic, P).unwrap();
    wait_leos(&cluster, &topic, &replicas, 10).await;

    let p = produce(&cluster, leader, &topic, -1, 5000, batches[4].clone()).await;
    assert_eq!(
        (code(&p), p.base_offset),
        (ErrorCode::None, offsets[4]),
        "b5 resent: {p:?}"
    );
    let p = produce(&cluster, leader, &topic, -1, 5000, batches[3].clone()).await;
    assert_eq!(
        (code(&p), p.base_offset),
        (ErrorCode::None, offsets[3]),
        "b4 resent: {p:?}"
    );
    assert_eq!(
        replica(&cluster, leader, &topic).await.map(|r| r.0),
        Some(10),
        "nothing appended"
    );

    let expected: Vec<String> = (0..10).map(|s| format!("b/{s}")).collect();
    let read = eventually("all 10 records readable", WAIT, || async {
        let v = values(&cluster, leader, &topic).await;
        if v.len() >= 10 {
            Ok(v)
        } else {
            Err(format!("{v:?}"))
        }
    })
    .await;
    assert_eq!(read, expected, "exactly one copy of every record");
    wait_leos(&cluster, &topic, &replicas, 10).await;
}

// ------------------------------------------------------------------------------------------
// T20

/// T20 / E12, P8. RF3 {A, B, C}, min ISR 2, flush.messages=1. Both followers are cut off from
/// the leader: the ISR shrinks to {A}, and an acks=all write appended just before the shrink
/// times out (HW frozen below min ISR, P8) instead of being acknowledged; later acks=all
/// writes are refused. Then A loses power, the network heals and A returns: it is the last
/// ISR member, so it is re-elected cleanly and B, C truncate to it. Every acknowledged write
/// (acks=all before the fault, acks=1 during it — flushed before the ack) is still readable,
/// exactly once.
///
/// Four brokers, so that the partition's replicas exclude broker 1 (the controller), which must
/// stay reachable from A for the ISR shrink.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_hw_freezes_below_min_isr_and_flushed_acks_survive_the_last_replicas_power_loss() {
    let cluster = cluster(4, &[]).await;
    let (topic, replicas) = topic_where(
        &cluster,
        "t20",
        3,
        &[("min.insync.replicas", "2"), ("flush.messages", "1")],
        |r| !r.contains(&1),
    )
    .await;
    let a = replicas[0];
    let (b, c) = (replicas[1], replicas[2]);
    wait_leader_and_isr(&cluster, &topic, a, &replicas).await;

    let mut acked: Vec<String> = Vec::new();
    for i in 0..5 {
        let v = format!("all-{i}");
        produce_committed(&cluster, a, &topic, record(&v)).await;
        acked.push(v);
    }
    let hw = wait_view(&cluster, "HW 5", |v| v.high_watermark(&topic, P) == Some(5)).await;
    assert_eq!(hw.high_watermark(&topic, P), Some(5));

    // Cut both followers off the leader (A still reaches the controller).
    cluster.partition(a, b).await.unwrap();
    cluster.partition(a, c).await.unwrap();
    let p = produce(&cluster, a, &topic, -1, 1500, record("parked")).await;
    assert_eq!(
        code(&p),
        ErrorCode::RequestTimedOut,
        "an acks=all write that cannot commit must time out, never be acked: {p:?}"
    );
    let view = wait_leader_and_isr(&cluster, &topic, a, &[a]).await;
    assert_eq!(
        view.high_watermark(&topic, P),
        Some(5),
        "HW frozen below min ISR (P8)"
    );
    let p = produce(&cluster, a, &topic, -1, 1500, record("refused")).await;
    assert_eq!(code(&p), ErrorCode::NotEnoughReplicas, "{p:?}");
    for i in 0..3 {
        let v = format!("one-{i}");
        let p = produce(&cluster, a, &topic, 1, 1500, record(&v)).await;
        assert_eq!(code(&p), ErrorCode::None, "{p:?}");
        assert!(
            p.durability >= Durability::LeaderFlushed as i32,
            "flush.messages=1: {p:?}"
        );
        acked.push(v);
    }
    let view = cluster.view().await;
    assert_eq!(
        view.high_watermark(&topic, P),
        Some(5),
        "still frozen: {}",
        view.summary()
    );
    let leo_a = replica(&cluster, a, &topic).await.unwrap().0;
    assert_eq!(leo_a, 9, "5 committed + parked + 3 acks=1");
    let committed = values(&cluster, a, &topic).await;
    assert_eq!(
        committed,
        &acked[..5],
        "consumers see nothing above the frozen HW"
    );

    // The last replica standing loses power; the network heals; it comes back.
    cluster.kill(a).await.unwrap();
    cluster.heal().await.unwrap();
    cluster.restart(a).await.unwrap();
    wait_leader_and_isr(&cluster, &topic, a, &replicas).await;
    let leo = replica(&cluster, a, &topic).await.unwrap().0;
    wait_leos(&cluster, &topic, &replicas, leo).await;
    let readable = eventually("HW reaches A's LEO", WAIT, || async {
        let v = values(&cluster, a, &topic).await;
        if v.len() as i64 == leo {
            Ok(v)
        } else {
            Err(format!("{} of {leo}: {v:?}", v.len()))
        }
    })
    .await;
    for v in &acked {
        assert_eq!(
            readable.iter().filter(|r| *r == v).count(),
            1,
            "acknowledged {v} must be readable exactly once: {readable:?}"
        );
    }
    assert!(!readable.iter().any(|r| r == "refused"), "{readable:?}");
    assert_same_logs(&cluster, &topic, &replicas);
}
