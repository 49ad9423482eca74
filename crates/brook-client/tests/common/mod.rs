//! An in-process mock Brook broker for client tests: a tonic server on 127.0.0.1:0 implementing
//! the `Brook` and `Admin` services over in-memory logs, with idempotent-producer deduplication
//! like a real broker (rule I3) and scripted faults per partition.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::admin_server::{Admin, AdminServer};
use brook_proto::v1::brook_server::{Brook, BrookServer};
use brook_proto::v1::*;
use bytes::Bytes;
use tonic::{Request, Response, Status};

pub type Tp = (String, i32);

/// What to do with the next produce of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this error without appending.
    Reject(ErrorCode),
    /// Append (deduplicating), then answer with this error: the client cannot know it landed.
    AppendThen(ErrorCode),
    /// Answer with a gRPC UNAVAILABLE status without appending.
    Unavailable,
    /// Behave normally (to space faults out).
    Pass,
}

#[derive(Debug, Default, Clone)]
struct ProducerEntry {
    epoch: i32,
    last_seq: i32,
    /// (first seq, last seq, base offset) of the last 5 batches.
    recent: VecDeque<(i32, i32, i64)>,
}

#[derive(Debug, Default)]
pub struct State {
    pub topics: BTreeMap<String, i32>,
    pub configs: BTreeMap<String, HashMap<String, String>>,
    /// Stamped batches per partition.
    pub batches: HashMap<Tp, Vec<Bytes>>,
    pub next_offset: HashMap<Tp, i64>,
    pub log_start: HashMap<Tp, i64>,
    producers: HashMap<(Tp, i64), ProducerEntry>,
    pub faults: HashMap<Tp, VecDeque<Fault>>,
    /// Every produce of every partition fails with this (until cleared).
    pub always: Option<ErrorCode>,
    pub produce_requests: usize,
    pub produce_partitions_total: usize,
    pub next_pid: i64,
    pub init_pid_calls: usize,
    /// Answers for the next InitProducerId calls (then success), and when each call came.
    pub init_pid_faults: VecDeque<ErrorCode>,
    pub init_pid_times: Vec<std::time::Instant>,
    pub committed: HashMap<(String, String, i32), i64>,
    pub coordinator_faults: VecDeque<ErrorCode>,
    pub fetch_requests: usize,
    pub produce_delay: Option<Duration>,
    pub last_election: Option<i32>,
}

impl State {
    /// Every record value of a partition, in log order.
    pub fn values(&self, topic: &str, partition: i32) -> Vec<Bytes> {
        let mut out = Vec::new();
        for b in self
            .batches
            .get(&(topic.to_string(), partition))
            .into_iter()
            .flatten()
        {
            for r in brook_log::record::decode_records(b).expect("stored batch decodes") {
                out.push(r.value.unwrap_or_default());
            }
        }
        out
    }

    pub fn push_faults(&mut self, topic: &str, partition: i32, faults: &[Fault]) {
        self.faults
            .entry((topic.to_string(), partition))
            .or_default()
            .extend(faults.iter().copied());
    }

    fn append(&mut self, tp: &Tp, data: &Bytes) -> Result<i64, ErrorCode> {
        let header = brook_log::batch::validate(data).map_err(|_| ErrorCode::CorruptMessage)?;
        let pid = header.producer_id;
        let first = header.base_sequence;
        let last = header.last_sequence();
        let epoch = i32::from(header.producer_epoch);
        if pid >= 0 {
            if let Some(e) = self.producers.get(&(tp.clone(), pid)) {
                if epoch == e.epoch
                    && let Some(&(_, _, off)) =
                        e.recent.iter().find(|(f, l, _)| *f == first && *l == last)
                {
                    return Ok(off);
                }
                if epoch < e.epoch {
                    return Err(ErrorCode::InvalidProducerEpoch);
                }
                if epoch > e.epoch && first != 0 {
                    return Err(ErrorCode::OutOfOrderSequenceNumber);
                }
                if epoch == e.epoch && first != e.last_seq.wrapping_add(1) {
                    return Err(ErrorCode::OutOfOrderSequenceNumber);
                }
            }
        }
        let base = *self.next_offset.get(tp).unwrap_or(&0);
        let mut bytes = data.to_vec();
        brook_log::batch::stamp(&mut bytes, base, 0).expect("stamp");
        self.batches
            .entry(tp.clone())
            .or_default()
            .push(Bytes::from(bytes));
        self.next_offset
            .insert(tp.clone(), base + i64::from(header.record_count));
        if pid >= 0 {
            let e = self.producers.entry((tp.clone(), pid)).or_default();
            if epoch != e.epoch {
                e.recent.clear();
            }
            e.epoch = epoch;
            e.last_seq = last;
            e.recent.push_back((first, last, base));
            if e.recent.len() > 5 {
                e.recent.pop_front();
            }
        }
        Ok(base)
    }
}

#[derive(Clone)]
pub struct Mock {
    pub state: Arc<Mutex<State>>,
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

pub struct MockBroker {
    pub addr: String,
    pub state: Arc<Mutex<State>>,
}

impl MockBroker {
    /// Starts a broker holding topic `t` with 2 partitions.
    pub async fn start() -> MockBroker {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let mut st = State::default();
        st.topics.insert("t".into(), 2);
        st.next_pid = 1000;
        let state = Arc::new(Mutex::new(st));
        let mock = Mock {
            state: state.clone(),
            node_id: 1,
            host: local.ip().to_string(),
            port: i32::from(local.port()),
        };
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(BrookServer::new(mock.clone()))
                .add_service(AdminServer::new(mock))
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        MockBroker {
            addr: local.to_string(),
            state,
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

fn pr(partition: i32, code: ErrorCode, base_offset: i64) -> PartitionProduceResponse {
    PartitionProduceResponse {
        partition,
        error_code: code as i32,
        error_message: String::new(),
        base_offset,
        log_append_time_ms: -1,
        log_start_offset: 0,
        durability: if code == ErrorCode::None {
            Durability::IsrReplicated as i32
        } else {
            Durability::None as i32
        },
        current_leader: None,
    }
}

#[tonic::async_trait]
impl Brook for Mock {
    async fn produce(
        &self,
        request: Request<ProduceRequest>,
    ) -> Result<Response<ProduceResponse>, Status> {
        let delay = self.state.lock().unwrap().produce_delay;
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let req = request.into_inner();
        let mut st = self.state.lock().unwrap();
        st.produce_requests += 1;
        let mut topics = Vec::new();
        for t in req.topics {
            let mut parts = Vec::new();
            for p in t.partitions {
                st.produce_partitions_total += 1;
                let tp = (t.name.clone(), p.partition);
                if st.topics.get(&t.name).is_none_or(|n| p.partition >= *n) {
                    parts.push(pr(p.partition, ErrorCode::UnknownTopicOrPartition, -1));
                    continue;
                }
                let fault = st.faults.get_mut(&tp).and_then(VecDeque::pop_front);
                if let Some(code) = st.always {
                    parts.push(pr(p.partition, code, -1));
                    continue;
                }
                match fault {
                    Some(Fault::Unavailable) => {
                        return Err(Status::unavailable("injected: connection lost"));
                    }
                    Some(Fault::Reject(code)) => parts.push(pr(p.partition, code, -1)),
                    Some(Fault::Pass) | None => match st.append(&tp, &p.records) {
                        Ok(base) => parts.push(pr(p.partition, ErrorCode::None, base)),
                        Err(code) => parts.push(pr(p.partition, code, -1)),
                    },
                    Some(Fault::AppendThen(code)) => {
                        let _ = st.append(&tp, &p.records);
                        parts.push(pr(p.partition, code, -1));
                    }
                }
            }
            topics.push(TopicProduceResponse {
                name: t.name,
                partitions: parts,
            });
        }
        Ok(Response::new(ProduceResponse { topics }))
    }

    async fn fetch(
        &self,
        request: Request<FetchRequest>,
    ) -> Result<Response<FetchResponse>, Status> {
        let req = request.into_inner();
        let mut waited = false;
        loop {
            let mut any = false;
            let mut topics = Vec::new();
            {
                let mut st = self.state.lock().unwrap();
                st.fetch_requests += 1;
                for t in &req.topics {
                    let mut parts = Vec::new();
                    for p in &t.partitions {
                        let tp = (t.name.clone(), p.partition);
                        let hw = *st.next_offset.get(&tp).unwrap_or(&0);
                        let start = *st.log_start.get(&tp).unwrap_or(&0);
                        let mut resp = FetchPartitionResponse {
                            partition: p.partition,
                            high_watermark: hw,
                            last_stable_offset: hw,
                            log_start_offset: start,
                            log_end_offset: hw,
                            ..Default::default()
                        };
                        if !st.topics.contains_key(&t.name) {
                            resp.error_code = ErrorCode::UnknownTopicOrPartition as i32;
                        } else if p.fetch_offset < start || p.fetch_offset > hw {
                            resp.error_code = ErrorCode::OffsetOutOfRange as i32;
                        } else {
                            let mut out = Vec::new();
                            for b in st.batches.get(&tp).into_iter().flatten() {
                                let h = brook_log::batch::BatchHeader::parse(b).unwrap();
                                if h.last_offset() < p.fetch_offset {
                                    continue;
                                }
                                if !out.is_empty()
                                    && out.len() + b.len() > p.partition_max_bytes as usize
                                {
                                    break;
                                }
                                out.extend_from_slice(b);
                            }
                            any |= !out.is_empty();
                            resp.records = Bytes::from(out);
                        }
                        parts.push(resp);
                    }
                    topics.push(FetchTopicResponse {
                        name: t.name.clone(),
                        partitions: parts,
                    });
                }
            }
            if any || waited {
                return Ok(Response::new(FetchResponse {
                    error_code: 0,
                    topics,
                }));
            }
            waited = true;
            tokio::time::sleep(Duration::from_millis(req.max_wait_ms.clamp(0, 50) as u64)).await;
        }
    }

    async fn list_offsets(
        &self,
        request: Request<ListOffsetsRequest>,
    ) -> Result<Response<ListOffsetsResponse>, Status> {
        let st = self.state.lock().unwrap();
        let topics = request
            .into_inner()
            .topics
            .into_iter()
            .map(|t| ListOffsetsTopicResponse {
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let tp = (t.name.clone(), p.partition);
                        let offset = match p.timestamp {
                            -2 => *st.log_start.get(&tp).unwrap_or(&0),
                            _ => *st.next_offset.get(&tp).unwrap_or(&0),
                        };
                        ListOffsetsPartitionResponse {
                            partition: p.partition,
                            error_code: 0,
                            timestamp: -1,
                            offset,
                            leader_epoch: 0,
                        }
                    })
                    .collect(),
                name: t.name,
            })
            .collect();
        Ok(Response::new(ListOffsetsResponse { topics }))
    }

    async fn metadata(
        &self,
        _request: Request<MetadataRequest>,
    ) -> Result<Response<MetadataResponse>, Status> {
        let st = self.state.lock().unwrap();
        let topics = st
            .topics
            .iter()
            .map(|(name, n)| TopicMetadata {
                error_code: 0,
                name: name.clone(),
                is_internal: false,
                partitions: (0..*n)
                    .map(|p| PartitionMetadata {
                        error_code: 0,
                        partition: p,
                        leader_id: self.node_id,
                        leader_epoch: 0,
                        replicas: vec![self.node_id],
                        isr: vec![self.node_id],
                        offline_replicas: vec![],
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(MetadataResponse {
            cluster_id: "mock".into(),
            controller_id: self.node_id,
            brokers: vec![BrokerInfo {
                node_id: self.node_id,
                host: self.host.clone(),
                port: self.port,
                rack: String::new(),
                fenced: false,
            }],
            topics,
        }))
    }

    async fn init_producer_id(
        &self,
        request: Request<InitProducerIdRequest>,
    ) -> Result<Response<InitProducerIdResponse>, Status> {
        let req = request.into_inner();
        let mut st = self.state.lock().unwrap();
        st.init_pid_calls += 1;
        st.init_pid_times.push(std::time::Instant::now());
        if let Some(code) = st.init_pid_faults.pop_front() {
            return Ok(Response::new(InitProducerIdResponse {
                error_code: code as i32,
                producer_id: -1,
                producer_epoch: -1,
            }));
        }
        let (pid, epoch) = if req.producer_id < 0 {
            st.next_pid += 1;
            (st.next_pid, 0)
        } else {
            (req.producer_id, req.producer_epoch + 1)
        };
        Ok(Response::new(InitProducerIdResponse {
            error_code: 0,
            producer_id: pid,
            producer_epoch: epoch,
        }))
    }

    async fn find_coordinator(
        &self,
        _request: Request<FindCoordinatorRequest>,
    ) -> Result<Response<FindCoordinatorResponse>, Status> {
        Ok(Response::new(FindCoordinatorResponse {
            error_code: 0,
            error_message: String::new(),
            node_id: self.node_id,
            host: self.host.clone(),
            port: self.port,
        }))
    }

    async fn offset_commit(
        &self,
        request: Request<OffsetCommitRequest>,
    ) -> Result<Response<OffsetCommitResponse>, Status> {
        let req = request.into_inner();
        let mut st = self.state.lock().unwrap();
        if let Some(code) = st.coordinator_faults.pop_front() {
            return Ok(Response::new(OffsetCommitResponse {
                error_code: code as i32,
                topics: vec![],
            }));
        }
        let mut topics = Vec::new();
        for t in req.topics {
            let mut parts = Vec::new();
            for p in t.partitions {
                st.committed.insert(
                    (req.group_id.clone(), t.name.clone(), p.partition),
                    p.committed_offset,
                );
                parts.push(OffsetCommitPartitionResponse {
                    partition: p.partition,
                    error_code: 0,
                });
            }
            topics.push(OffsetCommitTopicResponse {
                name: t.name,
                partitions: parts,
            });
        }
        Ok(Response::new(OffsetCommitResponse {
            error_code: 0,
            topics,
        }))
    }

    async fn offset_fetch(
        &self,
        request: Request<OffsetFetchRequest>,
    ) -> Result<Response<OffsetFetchResponse>, Status> {
        let req = request.into_inner();
        let mut st = self.state.lock().unwrap();
        if let Some(code) = st.coordinator_faults.pop_front() {
            return Ok(Response::new(OffsetFetchResponse {
                error_code: code as i32,
                topics: vec![],
            }));
        }
        let topics = req
            .topics
            .into_iter()
            .map(|t| OffsetFetchTopicResponse {
                partitions: t
                    .partitions
                    .iter()
                    .map(|&p| OffsetFetchPartitionResponse {
                        partition: p,
                        committed_offset: *st
                            .committed
                            .get(&(req.group_id.clone(), t.name.clone(), p))
                            .unwrap_or(&-1),
                        committed_leader_epoch: -1,
                        metadata: String::new(),
                        error_code: 0,
                    })
                    .collect(),
                name: t.name,
            })
            .collect();
        Ok(Response::new(OffsetFetchResponse {
            error_code: 0,
            topics,
        }))
    }

    async fn join_group(
        &self,
        _: Request<JoinGroupRequest>,
    ) -> Result<Response<JoinGroupResponse>, Status> {
        Err(Status::unimplemented("the mock has no group coordinator"))
    }

    async fn sync_group(
        &self,
        _: Request<SyncGroupRequest>,
    ) -> Result<Response<SyncGroupResponse>, Status> {
        Err(Status::unimplemented("the mock has no group coordinator"))
    }

    async fn heartbeat(
        &self,
        _: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        Err(Status::unimplemented("the mock has no group coordinator"))
    }

    async fn leave_group(
        &self,
        _: Request<LeaveGroupRequest>,
    ) -> Result<Response<LeaveGroupResponse>, Status> {
        Err(Status::unimplemented("the mock has no group coordinator"))
    }

    async fn describe_groups(
        &self,
        _: Request<DescribeGroupsRequest>,
    ) -> Result<Response<DescribeGroupsResponse>, Status> {
        Err(Status::unimplemented("the mock has no group coordinator"))
    }

    async fn list_groups(
        &self,
        _: Request<ListGroupsRequest>,
    ) -> Result<Response<ListGroupsResponse>, Status> {
        Err(Status::unimplemented("the mock has no group coordinator"))
    }

    async fn delete_groups(
        &self,
        _: Request<DeleteGroupsRequest>,
    ) -> Result<Response<DeleteGroupsResponse>, Status> {
        Err(Status::unimplemented("the mock has no group coordinator"))
    }

    async fn group_lag(
        &self,
        _: Request<GroupLagRequest>,
    ) -> Result<Response<GroupLagResponse>, Status> {
        Err(Status::unimplemented("the mock has no group coordinator"))
    }

    async fn offset_for_leader_epoch(
        &self,
        _request: Request<OffsetForLeaderEpochRequest>,
    ) -> Result<Response<OffsetForLeaderEpochResponse>, Status> {
        Err(Status::unimplemented("not in the mock"))
    }
}

#[tonic::async_trait]
impl Admin for Mock {
    async fn create_topics(
        &self,
        request: Request<CreateTopicsRequest>,
    ) -> Result<Response<CreateTopicsResponse>, Status> {
        let mut st = self.state.lock().unwrap();
        let topics = request
            .into_inner()
            .topics
            .into_iter()
            .map(|t| {
                let code = if st.topics.contains_key(&t.name) {
                    ErrorCode::TopicAlreadyExists
                } else if t.replication_factor > 1 {
                    ErrorCode::InvalidReplicationFactor
                } else {
                    st.topics.insert(t.name.clone(), t.num_partitions.max(1));
                    st.configs
                        .insert(t.name.clone(), t.configs.into_iter().collect());
                    ErrorCode::None
                };
                TopicResult {
                    name: t.name,
                    error_code: code as i32,
                    error_message: String::new(),
                }
            })
            .collect();
        Ok(Response::new(CreateTopicsResponse { topics }))
    }

    async fn delete_topics(
        &self,
        request: Request<DeleteTopicsRequest>,
    ) -> Result<Response<DeleteTopicsResponse>, Status> {
        let mut st = self.state.lock().unwrap();
        let topics = request
            .into_inner()
            .names
            .into_iter()
            .map(|name| {
                let code = if st.topics.remove(&name).is_some() {
                    ErrorCode::None
                } else {
                    ErrorCode::UnknownTopicOrPartition
                };
                TopicResult {
                    name,
                    error_code: code as i32,
                    error_message: String::new(),
                }
            })
            .collect();
        Ok(Response::new(DeleteTopicsResponse { topics }))
    }

    async fn describe_topics(
        &self,
        request: Request<DescribeTopicsRequest>,
    ) -> Result<Response<DescribeTopicsResponse>, Status> {
        let st = self.state.lock().unwrap();
        let req = request.into_inner();
        let names: Vec<String> = if req.topics.is_empty() {
            st.topics.keys().cloned().collect()
        } else {
            req.topics
        };
        let topics = names
            .into_iter()
            .map(|name| match st.topics.get(&name) {
                None => TopicDescription {
                    name,
                    error_code: ErrorCode::UnknownTopicOrPartition as i32,
                    ..Default::default()
                },
                Some(n) => TopicDescription {
                    configs: st.configs.get(&name).cloned().unwrap_or_default(),
                    partitions: (0..*n)
                        .map(|p| {
                            let hw = *st.next_offset.get(&(name.clone(), p)).unwrap_or(&0);
                            PartitionDescription {
                                partition: p,
                                leader: self.node_id,
                                replicas: vec![self.node_id],
                                isr: vec![self.node_id],
                                high_watermark: hw,
                                log_end_offset: hw,
                                ..Default::default()
                            }
                        })
                        .collect(),
                    name,
                    ..Default::default()
                },
            })
            .collect();
        Ok(Response::new(DescribeTopicsResponse { topics }))
    }

    async fn describe_cluster(
        &self,
        _request: Request<DescribeClusterRequest>,
    ) -> Result<Response<DescribeClusterResponse>, Status> {
        Ok(Response::new(DescribeClusterResponse {
            cluster_id: "mock".into(),
            controller_id: self.node_id,
            brokers: vec![BrokerInfo {
                node_id: self.node_id,
                host: self.host.clone(),
                port: self.port,
                rack: String::new(),
                fenced: false,
            }],
        }))
    }

    async fn alter_configs(
        &self,
        request: Request<AlterConfigsRequest>,
    ) -> Result<Response<AlterConfigsResponse>, Status> {
        let mut guard = self.state.lock().unwrap();
        let st = &mut *guard;
        let results = request
            .into_inner()
            .resources
            .into_iter()
            .map(|r| {
                let code = match st.configs.get_mut(&r.resource_name) {
                    Some(c) if st.topics.contains_key(&r.resource_name) => {
                        c.extend(r.set);
                        for d in r.delete {
                            c.remove(&d);
                        }
                        ErrorCode::None
                    }
                    _ => ErrorCode::UnknownTopicOrPartition,
                };
                AlterConfigsResult {
                    resource_type: r.resource_type,
                    resource_name: r.resource_name,
                    error_code: code as i32,
                    error_message: String::new(),
                }
            })
            .collect();
        Ok(Response::new(AlterConfigsResponse { results }))
    }

    async fn describe_quorum(
        &self,
        _request: Request<DescribeQuorumRequest>,
    ) -> Result<Response<DescribeQuorumResponse>, Status> {
        Err(Status::unimplemented(
            "the mock broker has no controller quorum",
        ))
    }

    async fn elect_leaders(
        &self,
        request: Request<ElectLeadersRequest>,
    ) -> Result<Response<ElectLeadersResponse>, Status> {
        let req = request.into_inner();
        self.state.lock().unwrap().last_election = Some(req.election_type);
        let topics = req
            .topics
            .into_iter()
            .map(|t| ElectLeadersTopicResult {
                partitions: t
                    .partitions
                    .iter()
                    .map(|&p| ElectLeadersPartitionResult {
                        partition: p,
                        error_code: ErrorCode::ElectionNotNeeded as i32,
                        error_message: "already the preferred leader".into(),
                    })
                    .collect(),
                name: t.name,
            })
            .collect();
        Ok(Response::new(ElectLeadersResponse {
            error_code: 0,
            topics,
        }))
    }
}
