//! Shared helpers for the end-to-end tests: a single broker on a temp dir that can be restarted
//! cleanly or killed, typed wrappers around the RPCs the tests use, and record-batch builders.
//!
//! `groups.rs` has the consumer-group RPCs, `cluster.rs` a three-broker cluster.
//!
//! Every helper opens its client from the broker's current channel, so that no test keeps a
//! connection to a broker that was stopped (and restarts always use the new address).

#![allow(dead_code)]

pub mod cluster;
pub mod groups;

use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_broker::{BrokerConfig, BrokerHandle};
use brook_log::batch::{self, BatchHeader};
use brook_log::record::{BatchBuilder, Record, decode_records};
use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::*;
use bytes::Bytes;
use tonic::transport::Channel;

/// One broker on its own temp dir, restartable on the same `log.dirs`.
pub struct TestBroker {
    /// Kept alive for the whole test; removed on drop.
    pub dir: tempfile::TempDir,
    extra: Vec<(String, String)>,
    handle: Option<BrokerHandle>,
    channel: Option<Channel>,
    pub addr: String,
}

impl TestBroker {
    /// Starts a broker on `127.0.0.1:0` with default config.
    pub async fn start() -> TestBroker {
        TestBroker::start_with(&[]).await
    }

    /// Starts a broker with extra broker config pairs (also applied on every restart).
    pub async fn start_with(pairs: &[(&str, &str)]) -> TestBroker {
        let dir = tempfile::tempdir().unwrap();
        let mut b = TestBroker {
            dir,
            extra: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            handle: None,
            channel: None,
            addr: String::new(),
        };
        b.boot().await;
        b
    }

    async fn boot(&mut self) {
        let mut pairs = vec![
            ("listeners".to_string(), "127.0.0.1:0".to_string()),
            (
                "log.dirs".to_string(),
                self.dir.path().to_str().unwrap().to_string(),
            ),
        ];
        pairs.extend(self.extra.iter().cloned());
        let config = BrokerConfig::from_pairs(pairs).unwrap();
        let handle = BrokerHandle::start(config).await.unwrap();
        self.addr = handle.addr().to_string();
        self.channel = Some(Channels::default().get(&self.addr).unwrap());
        self.handle = Some(handle);
    }

    pub fn handle(&self) -> &BrokerHandle {
        self.handle.as_ref().expect("broker is running")
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone().expect("broker is running")
    }

    pub fn client(&self) -> BrookClient<Channel> {
        BrookClient::new(self.channel())
    }

    pub fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel())
    }

    /// Clean shutdown (flush, checkpoints, snapshots, clean marker), then start again on the same
    /// `log.dirs` and a fresh port 0.
    pub async fn restart_clean(&mut self) {
        self.channel = None;
        let h = self.handle.take().expect("broker is running");
        let weak = Arc::downgrade(&h.broker);
        h.shutdown().await.unwrap();
        wait_dropped(weak).await;
        self.boot().await;
    }

    /// Abrupt stop (`kill`: no flush, no checkpoint, no clean marker), then start again on the
    /// same `log.dirs`. Waits until the killed broker is gone from this process first, so the two
    /// incarnations never share the directory.
    pub async fn kill_and_restart(&mut self) {
        self.kill().await;
        self.boot().await;
    }

    /// Starts the broker again after [`TestBroker::kill`] (e.g. once the test damaged its files).
    pub async fn restart_after_kill(&mut self) {
        self.boot().await;
    }

    /// Abrupt stop; waits until the killed broker object is dropped.
    pub async fn kill(&mut self) {
        self.channel = None;
        let h = self.handle.take().expect("broker is running");
        let weak = Arc::downgrade(&h.broker);
        h.kill();
        wait_dropped(weak).await;
    }

    // ------------------------------------------------------------------------------------------
    // Admin

    pub async fn create_topic_result(
        &self,
        name: &str,
        partitions: i32,
        rf: i32,
        configs: &[(&str, &str)],
    ) -> TopicResult {
        let r = self
            .admin()
            .create_topics(CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: name.into(),
                    num_partitions: partitions,
                    replication_factor: rf,
                    configs: configs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.topics.len(), 1, "{r:?}");
        r.topics.into_iter().next().unwrap()
    }

    /// Creates a topic with RF 1 and asserts success.
    pub async fn create_topic(&self, name: &str, partitions: i32, configs: &[(&str, &str)]) {
        let r = self.create_topic_result(name, partitions, 1, configs).await;
        assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    }

    pub async fn describe(&self, name: &str) -> TopicDescription {
        let r = self
            .admin()
            .describe_topics(DescribeTopicsRequest {
                topics: vec![name.into()],
                local_only: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.topics.len(), 1, "{r:?}");
        r.topics.into_iter().next().unwrap()
    }

    pub async fn topic_exists(&self, name: &str) -> bool {
        code(self.describe(name).await.error_code) == ErrorCode::None
    }

    pub async fn describe_partition(&self, topic: &str, partition: i32) -> PartitionDescription {
        let t = self.describe(topic).await;
        assert_eq!(code(t.error_code), ErrorCode::None, "{t:?}");
        t.partitions
            .into_iter()
            .find(|p| p.partition == partition)
            .expect("partition described")
    }

    /// The log end offset as DescribeTopics reports it.
    pub async fn leo(&self, topic: &str, partition: i32) -> i64 {
        self.describe_partition(topic, partition)
            .await
            .log_end_offset
    }

    pub async fn alter_topic_config(
        &self,
        topic: &str,
        set: &[(&str, &str)],
    ) -> AlterConfigsResult {
        let r = self
            .admin()
            .alter_configs(AlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type: ConfigResourceType::ConfigResourceTopic as i32,
                    resource_name: topic.into(),
                    set: set
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    delete: vec![],
                }],
                validate_only: false,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.results.len(), 1, "{r:?}");
        r.results.into_iter().next().unwrap()
    }

    // ------------------------------------------------------------------------------------------
    // Data plane

    pub async fn produce_request(&self, req: ProduceRequest) -> ProduceResponse {
        self.client().produce(req).await.unwrap().into_inner()
    }

    /// Produces one batch to one partition and returns that partition's result.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        acks: i32,
        records: Bytes,
    ) -> PartitionProduceResponse {
        let r = self
            .produce_request(ProduceRequest {
                acks,
                timeout_ms: 5000,
                topics: vec![TopicProduceData {
                    name: topic.into(),
                    partitions: vec![PartitionProduceData { partition, records }],
                }],
            })
            .await;
        single_produce(r, topic, partition)
    }

    /// Produces and asserts success; returns the base offset.
    pub async fn produce_ok(&self, topic: &str, partition: i32, records: Bytes) -> i64 {
        let p = self.produce(topic, partition, 1, records).await;
        assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
        p.base_offset
    }

    pub async fn fetch_request(&self, req: FetchRequest) -> FetchResponse {
        self.client().fetch(req).await.unwrap().into_inner()
    }

    /// A fetch of the single partition named in `req` (see [`fetch_req`]).
    pub async fn fetch_one(&self, req: FetchRequest) -> FetchPartitionResponse {
        let topic = req.topics[0].name.clone();
        let partition = req.topics[0].partitions[0].partition;
        single_fetch(self.fetch_request(req).await, &topic, partition)
    }

    /// A non-waiting consumer fetch with generous limits.
    pub async fn fetch(&self, topic: &str, partition: i32, offset: i64) -> FetchPartitionResponse {
        self.fetch_one(fetch_req(topic, partition, offset, 0, 0, 1 << 20, 1 << 20))
            .await
    }

    /// Every record readable from `offset` on (up to the HW), following batches.
    pub async fn read_all(&self, topic: &str, partition: i32, from: i64) -> Vec<Record> {
        let mut out = Vec::new();
        let mut offset = from;
        loop {
            let f = self.fetch(topic, partition, offset).await;
            assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
            if f.records.is_empty() {
                return out;
            }
            let recs = records_of(&f.records);
            offset = recs.last().unwrap().offset + 1;
            out.extend(recs);
        }
    }

    pub async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> ListOffsetsPartitionResponse {
        let r = self
            .client()
            .list_offsets(ListOffsetsRequest {
                replica_id: -1,
                topics: vec![ListOffsetsTopic {
                    name: topic.into(),
                    partitions: vec![ListOffsetsPartition {
                        partition,
                        current_leader_epoch: -1,
                        timestamp,
                    }],
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.topics.len(), 1, "{r:?}");
        assert_eq!(r.topics[0].name, topic);
        assert_eq!(r.topics[0].partitions.len(), 1, "{r:?}");
        r.topics[0].partitions[0]
    }

    pub async fn init_producer_id(&self, producer_id: i64, epoch: i32) -> InitProducerIdResponse {
        self.client()
            .init_producer_id(InitProducerIdRequest {
                transaction_timeout_ms: 0,
                producer_id,
                producer_epoch: epoch,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// A fresh producer id (epoch 0).
    pub async fn new_producer(&self) -> (i64, i16) {
        let r = self.init_producer_id(-1, -1).await;
        assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
        (r.producer_id, r.producer_epoch as i16)
    }

    // ------------------------------------------------------------------------------------------
    // Committed offsets

    pub async fn commit(&self, group: &str, offsets: &[(&str, i32, i64)]) -> OffsetCommitResponse {
        let mut topics: Vec<OffsetCommitTopic> = Vec::new();
        for (t, p, o) in offsets {
            let part = OffsetCommitPartition {
                partition: *p,
                committed_offset: *o,
                committed_leader_epoch: 0,
                metadata: format!("m{o}"),
            };
            match topics.iter_mut().find(|x| x.name == *t) {
                Some(x) => x.partitions.push(part),
                None => topics.push(OffsetCommitTopic {
                    name: t.to_string(),
                    partitions: vec![part],
                }),
            }
        }
        self.client()
            .offset_commit(OffsetCommitRequest {
                group_id: group.into(),
                generation_id: -1,
                member_id: String::new(),
                group_instance_id: String::new(),
                topics,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Commits and asserts success for the group and every partition.
    pub async fn commit_ok(&self, group: &str, offsets: &[(&str, i32, i64)]) {
        let r = self.commit(group, offsets).await;
        assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
        for t in &r.topics {
            for p in &t.partitions {
                assert_eq!(code(p.error_code), ErrorCode::None, "{r:?}");
            }
        }
    }

    pub async fn offset_fetch(
        &self,
        group: &str,
        topics: &[(&str, &[i32])],
    ) -> OffsetFetchResponse {
        self.client()
            .offset_fetch(OffsetFetchRequest {
                group_id: group.into(),
                topics: topics
                    .iter()
                    .map(|(t, ps)| OffsetFetchTopic {
                        name: t.to_string(),
                        partitions: ps.to_vec(),
                    })
                    .collect(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// The committed offset of one partition (-1 if none); asserts no error.
    pub async fn committed(&self, group: &str, topic: &str, partition: i32) -> i64 {
        let r = self.offset_fetch(group, &[(topic, &[partition])]).await;
        assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
        let p = &r.topics[0].partitions[0];
        assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
        assert_eq!(p.partition, partition);
        p.committed_offset
    }
}

/// Waits (bounded) until the broker object of a stopped broker is dropped.
async fn wait_dropped(weak: std::sync::Weak<brook_broker::Broker>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while weak.strong_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "the stopped broker is still alive 5 s later ({} references)",
            weak.strong_count()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

// ----------------------------------------------------------------------------------------------
// Free helpers

pub fn code(wire: i32) -> ErrorCode {
    ErrorCode::from_wire(wire)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn single_produce(r: ProduceResponse, topic: &str, partition: i32) -> PartitionProduceResponse {
    assert_eq!(r.topics.len(), 1, "{r:?}");
    assert_eq!(r.topics[0].name, topic, "{r:?}");
    assert_eq!(r.topics[0].partitions.len(), 1, "{r:?}");
    let p = r.topics[0].partitions[0].clone();
    assert_eq!(p.partition, partition, "{p:?}");
    p
}

pub fn single_fetch(r: FetchResponse, topic: &str, partition: i32) -> FetchPartitionResponse {
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!(r.topics.len(), 1, "{r:?}");
    assert_eq!(r.topics[0].name, topic, "{r:?}");
    assert_eq!(r.topics[0].partitions.len(), 1, "{r:?}");
    let p = r.topics[0].partitions[0].clone();
    assert_eq!(p.partition, partition, "{p:?}");
    p
}

pub fn fetch_req(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    partition_max_bytes: i32,
) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes,
        max_bytes,
        replica_epoch: -1,
        topics: vec![FetchTopic {
            name: topic.into(),
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: offset,
                log_start_offset: -1,
                partition_max_bytes,
                flushed_offset: -1,
                last_fetched_epoch: -1,
            }],
        }],
    }
}

/// A non-idempotent batch of the given values, all with timestamp `ts`.
pub fn batch_at(ts: i64, values: &[&[u8]]) -> Bytes {
    let mut b = BatchBuilder::new();
    for v in values {
        b.append(ts, None, Some(v), &[]);
    }
    b.build()
}

/// A non-idempotent batch of the given values, timestamped now.
pub fn batch(values: &[&[u8]]) -> Bytes {
    batch_at(now_ms(), values)
}

/// A non-idempotent batch of one record whose value is `len` bytes.
pub fn batch_of_size(value_len: usize) -> Bytes {
    batch(&[&vec![b'x'; value_len]])
}

/// An idempotent batch of `count` records `"<seq>"` with sequences `seq..seq+count`.
pub fn idem_batch(pid: i64, epoch: i16, seq: i32, count: i32) -> Bytes {
    let mut b = BatchBuilder::new().producer(pid, epoch, seq);
    let ts = now_ms();
    for i in 0..count {
        let v = format!("{pid}/{epoch}/{}", seq + i);
        b.append(ts, None, Some(v.as_bytes()), &[]);
    }
    b.build()
}

/// Decodes every record of the concatenated batches in `buf`.
pub fn records_of(buf: &Bytes) -> Vec<Record> {
    let mut out = Vec::new();
    for item in batch::batches(buf) {
        let (pos, h) = item.unwrap();
        out.extend(decode_records(&buf.slice(pos..pos + h.size())).unwrap());
    }
    out
}

/// The headers of the concatenated batches in `buf`.
pub fn headers_of(buf: &Bytes) -> Vec<BatchHeader> {
    batch::batches(buf).map(|b| b.unwrap().1).collect()
}

pub fn values_of(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.as_deref().unwrap_or_default().to_vec()).unwrap())
        .collect()
}
