//! Helpers shared by the truncation and failover scenario tests: topic placement, raw
//! produce/fetch outside the fault model, per-replica logs read from the segment files.
#![allow(dead_code, unused_imports)]

pub use std::future::Future;
pub use std::path::PathBuf;
pub use std::sync::{Mutex, Once};
pub use std::time::Duration;

pub use brook::log::batch;
pub use brook::log::record::{BatchBuilder, decode_records};
pub use brook::proto::net::Channels;
pub use brook::proto::v1::brook_client::BrookClient;
pub use brook::proto::v1::*;
pub use brook::proto::{Durability, ErrorCode};
pub use brook::{Cluster, ClusterView};
pub use bytes::Bytes;
pub use tokio::time::Instant;

pub const P: i32 = 0;
/// Bound on every wait for the cluster to reach a state.
pub const WAIT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------------------------------
// Cluster set-up

/// A cluster with fast failure detection: session 800 ms, lag 400 ms.
pub async fn cluster(brokers: usize, extra: &[(&str, &str)]) -> Cluster {
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
pub async fn topic_where(
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
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
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
pub async fn wait_view(
    cluster: &Cluster,
    what: &str,
    cond: impl Fn(&ClusterView) -> bool,
) -> ClusterView {
    match cluster.wait_until(cond, WAIT).await {
        Ok(v) => v,
        Err(e) => panic!("waiting for {what}: {e}"),
    }
}

pub fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v
}

/// Waits until `leader` serves the partition with exactly `isr` (any order) as its ISR.
pub async fn wait_leader_and_isr(
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
pub async fn wait_isr_len(cluster: &Cluster, topic: &str, n: usize) -> ClusterView {
    wait_view(
        cluster,
        &format!("{topic}: a serving leader and {n} ISR members"),
        |v| v.serving_leader(topic, P) && v.isr(topic, P).len() == n,
    )
    .await
}

/// A replica's own (LEO, HW), read from the running broker (white-box), or `None`.
pub async fn replica(cluster: &Cluster, id: i32, topic: &str) -> Option<(i64, i64)> {
    let broker = cluster.broker(id).await.ok()?;
    let part = broker.replicas.get(topic, P)?;
    Some((part.log_end_offset(), part.high_watermark()))
}

/// Waits until every listed replica reports LEO `leo` itself.
pub async fn wait_leos(cluster: &Cluster, topic: &str, ids: &[i32], leo: i64) {
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

pub fn client(cluster: &Cluster, id: i32) -> BrookClient<tonic::transport::Channel> {
    let addr = cluster.addr(id).unwrap().to_string();
    BrookClient::new(Channels::default().get(&addr).unwrap())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A plain (non-idempotent) batch of one record.
pub fn record(value: &str) -> Bytes {
    let mut b = BatchBuilder::new();
    b.append(now_ms(), None, Some(value.as_bytes()), &[]);
    b.build()
}

/// An idempotent batch of `count` records `"<tag>/<seq>"`, sequences `seq..seq+count`.
pub fn idem_batch(pid: i64, epoch: i16, seq: i32, count: i32, tag: &str) -> Bytes {
    let mut b = BatchBuilder::new().producer(pid, epoch, seq);
    let ts = now_ms();
    for i in 0..count {
        b.append(ts, None, Some(format!("{tag}/{}", seq + i).as_bytes()), &[]);
    }
    b.build()
}

/// One Produce of one batch to broker `id`, bounded by `timeout_ms` on the broker and a little
/// more on the client.
pub async fn produce(
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

pub fn code(p: &PartitionProduceResponse) -> ErrorCode {
    ErrorCode::from_wire(p.error_code)
}

/// Produces with acks=all and asserts success with ISR durability; returns the base offset.
pub async fn produce_committed(cluster: &Cluster, leader: i32, topic: &str, records: Bytes) -> i64 {
    let p = produce(cluster, leader, topic, -1, 5000, records).await;
    assert_eq!(code(&p), ErrorCode::None, "{p:?}");
    assert!(p.durability >= Durability::IsrReplicated as i32, "{p:?}");
    p.base_offset
}

/// Every (offset, value) a consumer can read from broker `id` (up to its HW).
pub async fn read_all(cluster: &Cluster, id: i32, topic: &str) -> Vec<(i64, String)> {
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

pub async fn values(cluster: &Cluster, id: i32, topic: &str) -> Vec<String> {
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
pub struct Stored {
    pub base_offset: i64,
    pub last_offset: i64,
    pub epoch: i32,
    pub crc: u32,
    pub bytes: Vec<u8>,
}

impl Stored {
    pub fn key(&self) -> (i64, i64, i32, u32) {
        (self.base_offset, self.last_offset, self.epoch, self.crc)
    }
}

/// Every batch of partition 0 of `topic` in broker `id`'s data dir, segment by segment.
/// Asserts each batch's CRC and that offsets are contiguous and strictly increasing.
pub fn stored_log(cluster: &Cluster, id: i32, topic: &str) -> Vec<Stored> {
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
pub fn assert_same_logs(cluster: &Cluster, topic: &str, ids: &[i32]) -> Vec<Stored> {
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
pub struct Truncation {
    topic: String,
    from: i64,
    to: i64,
}

pub static TRUNCATIONS: Mutex<Vec<Truncation>> = Mutex::new(Vec::new());

/// Records the followers' truncation events (process-wide; filter by topic): the
/// `brook::events` lines `truncation <topic>-<p> on broker <b>: <from> → <to> (…)`.
pub struct CaptureTruncations;

#[derive(Default)]
pub struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// `(topic, from, to)` of a truncation event's line.
fn parse_truncation(line: &str) -> Option<(String, i64, i64)> {
    let rest = line.strip_prefix("truncation ")?;
    let (partition, rest) = rest.split_once(" on broker ")?;
    let (topic, _) = partition.rsplit_once('-')?;
    let (_, offsets) = rest.split_once(": ")?;
    let (from, rest) = offsets.split_once(" → ")?;
    let to = rest.split_whitespace().next()?;
    Some((topic.to_string(), from.parse().ok()?, to.parse().ok()?))
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CaptureTruncations {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() != brook::broker::events::TARGET {
            return;
        }
        let mut m = Message::default();
        event.record(&mut m);
        if let Some((topic, from, to)) = parse_truncation(&m.0) {
            TRUNCATIONS
                .lock()
                .unwrap()
                .push(Truncation { topic, from, to });
        }
    }
}

pub fn capture_truncations() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(CaptureTruncations);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

pub fn truncations_of(topic: &str) -> Vec<(i64, i64)> {
    TRUNCATIONS
        .lock()
        .unwrap()
        .iter()
        .filter(|t| t.topic == topic)
        .map(|t| (t.from, t.to))
        .collect()
}

pub fn leader_epoch(v: &ClusterView, topic: &str) -> i32 {
    v.leader_epoch(topic, P).unwrap_or(-1)
}
