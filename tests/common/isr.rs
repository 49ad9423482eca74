//! Helpers shared by the ISR and election scenario tests (`tests/replication_isr.rs`,
//! `tests/replication_elections.rs`): cluster setup, partition picking, data streams, and raw
//! wire access outside the fault model.
#![allow(dead_code, unused_imports)]

pub use std::sync::Arc;
pub use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
pub use std::time::Duration;

pub use brook::client::{ClientError, Consumer, ErrorCode};
pub use brook::log::batch;
pub use brook::log::record::{BatchBuilder, decode_records};
pub use brook::proto::net::Channels;
pub use brook::proto::v1::brook_client::BrookClient;
pub use brook::proto::v1::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchTopic, PartitionDescription,
    PartitionProduceData, PartitionProduceResponse, ProduceRequest, TopicProduceData,
};
pub use brook::{Acks, Cluster, ClusterView, Producer, ProducerRecord, TopicPartition};
pub use tokio::task::JoinHandle;
pub use tokio::time::Instant;
pub use tonic::transport::Channel;

/// Bound on every "eventually" in this file: generous, for a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(20);

// ---- cluster and topic helpers --------------------------------------------------------------

pub async fn start_cluster(lag_ms: u64) -> Cluster {
    start_cluster_with(lag_ms, &[]).await
}

pub async fn start_cluster_with(lag_ms: u64, per_broker: &[(i32, &str, &str)]) -> Cluster {
    // These scenarios crash two of the three brokers; one controller voter (broker 1, kept out
    // of the partitions they break) keeps metadata moving, which a 3-voter quorum could not.
    let mut b = Cluster::builder()
        .brokers(3)
        .controller_voters(1)
        .broker_config("replica.lag.time.max.ms", lag_ms.to_string())
        .startup_timeout(WAIT);
    for (id, k, v) in per_broker {
        b = b.broker_config_for(*id, *k, *v);
    }
    b.start().await.unwrap()
}

/// Creates `topic` and waits until every partition has a full ISR.
pub async fn create_topic(
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
pub async fn pick_partition(
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
pub fn at_leader<'a>(
    view: &'a ClusterView,
    topic: &str,
    p: i32,
) -> Option<&'a PartitionDescription> {
    let leader = view.leader(topic, p)?;
    view.partition_at(leader, topic, p)
        .filter(|d| d.leader == leader && d.log_end_offset >= 0)
}

/// What the leader last saw of `follower`'s LEO (-1 unknown).
pub fn follower_leo(d: &PartitionDescription, follower: i32) -> i64 {
    d.replica_states
        .iter()
        .find(|r| r.id == follower)
        .map_or(-1, |r| r.log_end_offset)
}

pub fn partition_epoch(view: &ClusterView, topic: &str, p: i32) -> i32 {
    view.topic(topic)
        .and_then(|t| t.partitions.into_iter().find(|d| d.partition == p))
        .map_or(-1, |d| d.partition_epoch)
}

/// The third broker of a 3-broker cluster.
pub fn other(a: i32, b: i32) -> i32 {
    6 - a - b
}

// ---- data helpers ---------------------------------------------------------------------------

pub async fn producer(cluster: &Cluster, acks: Acks) -> Producer {
    cluster
        .producer()
        .acks(acks)
        .linger(Duration::ZERO)
        .build()
        .await
        .unwrap()
}

/// Sends `values` one by one to partition `p`, each acknowledged before the next.
pub async fn produce(cluster: &Cluster, topic: &str, p: i32, acks: Acks, values: &[String]) {
    let producer = producer(cluster, acks).await;
    for v in values {
        producer
            .send_and_wait(ProducerRecord::new(topic, v.clone()).partition(p))
            .await
            .unwrap_or_else(|e| panic!("produce {v} to {topic}-{p}: {e}"));
    }
    producer.close().await;
}

pub fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// A background acks=1 stream, one record every `every`, until stopped. Every send must succeed.
pub struct Stream {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Stream {
    pub async fn start(cluster: &Cluster, topic: &str, p: i32, every: Duration) -> Stream {
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

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.task.await.unwrap();
        self.sent.load(Ordering::Acquire)
    }
}

/// Every record of broker `id`'s local replica of `topic`-`p`, as (offset, value), white-box:
/// the whole log, not only what is below the HW.
pub async fn local_log(cluster: &Cluster, id: i32, topic: &str, p: i32) -> Vec<(i64, String)> {
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

pub async fn local_leo(cluster: &Cluster, id: i32, topic: &str, p: i32) -> i64 {
    let broker = cluster.broker(id).await.unwrap();
    broker.replicas.get(topic, p).unwrap().log_end_offset()
}

/// Reads `topic`-`p` from the beginning through a fresh consumer until `expect` records came or
/// the bound passed, then polls once more so that anything beyond them would show up too.
pub async fn consume(cluster: &Cluster, topic: &str, p: i32, expect: usize) -> Vec<String> {
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

pub fn raw_client(cluster: &Cluster, id: i32) -> BrookClient<Channel> {
    let channel = Channels::default()
        .get(&cluster.addr(id).unwrap().to_string())
        .unwrap();
    BrookClient::new(channel)
}

pub fn one_record_batch(value: &str) -> bytes::Bytes {
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
pub async fn raw_produce(
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
pub async fn raw_fetch(
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

pub fn code(wire: i32) -> ErrorCode {
    ErrorCode::from_wire(wire)
}
