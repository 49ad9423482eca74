//! The bare-tonic baseline: the same `Brook` gRPC service with no broker behind it. Produce
//! answers success for every partition without storing anything; Fetch answers a prebuilt run
//! of whole batches as large as the request allows; Metadata says this one server leads every
//! partition of whatever topic is asked for, so the real `brook_client::Producer` runs against it
//! unchanged; every other RPC answers `UNIMPLEMENTED`. The client, the requests and the bytes
//! on the wire are the same as against Brook, so the gap between the two is Brook's own work.
//! Used by `brook bench` and `benches/broker`.

use std::future::Future;
use std::net::SocketAddr;

use brook_proto::Durability;
use brook_proto::v1::brook_server::{Brook, BrookServer};
use brook_proto::v1::*;
use bytes::Bytes;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The largest fetch response a consumer asks for by default (1 MiB); the prebuilt fetch data
/// is twice that.
const FETCH_MAX: usize = 1 << 20;
/// The largest request the service decodes, in bytes: the broker's limit, from the default
/// `message.max.bytes` (1048588) plus 64 KiB of request framing.
pub const MAX_DECODE: usize = 1_048_588 + 64 * 1024;
/// The node id the null broker answers metadata with.
const NODE_ID: i32 = 1;

/// The `Brook` service with no broker behind it.
#[derive(Debug, Clone)]
pub struct NullBroker {
    /// Whole batches back to back, longer than any fetch response; fetches answer a prefix.
    fetch_data: Bytes,
    batch_len: usize,
    /// Partitions reported per topic by Metadata.
    partitions: i32,
    /// Topics Metadata reports when asked for all topics (clients ask for all).
    topics: Vec<String>,
    /// Where this server listens (set by `bind`), for Metadata answers.
    addr: Option<SocketAddr>,
}

impl NullBroker {
    /// A null broker whose fetches answer copies of `batch` (one encoded record batch).
    pub fn new(batch: &Bytes) -> NullBroker {
        let batch_len = batch.len().max(1);
        let count = (2 * FETCH_MAX).div_ceil(batch_len);
        let mut data = Vec::with_capacity(count * batch_len);
        for _ in 0..count {
            data.extend_from_slice(batch);
        }
        NullBroker {
            fetch_data: Bytes::from(data),
            batch_len,
            partitions: 1,
            topics: Vec::new(),
            addr: None,
        }
    }

    /// How many partitions Metadata reports for every topic (default 1).
    pub fn partitions(mut self, n: i32) -> NullBroker {
        self.partitions = n.max(1);
        self
    }

    /// A topic Metadata reports when asked for every topic (any named topic is reported too).
    pub fn topic(mut self, name: impl Into<String>) -> NullBroker {
        self.topics.push(name.into());
        self
    }

    /// The tonic service, with the broker's message size limits ([`MAX_DECODE`] in, unbounded
    /// out).
    pub fn into_service(self) -> BrookServer<NullBroker> {
        BrookServer::new(self)
            .max_decoding_message_size(MAX_DECODE)
            .max_encoding_message_size(usize::MAX)
    }

    /// Binds a fresh loopback port (TCP_NODELAY, as brook-broker's listener) and returns its
    /// address and the server future, which runs until `shutdown` resolves. Must be called
    /// inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error of binding 127.0.0.1:0 or reading the bound address; the returned future
    /// fails with tonic's transport error if serving fails.
    pub fn bind<F>(
        mut self,
        shutdown: F,
    ) -> std::io::Result<(
        SocketAddr,
        impl Future<Output = Result<(), tonic::transport::Error>>,
    )>
    where
        F: Future<Output = ()> + Send,
    {
        let incoming = TcpIncoming::bind(([127, 0, 0, 1], 0).into())
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .with_nodelay(Some(true));
        let addr = incoming.local_addr()?;
        self.addr = Some(addr);
        let server = tonic::transport::Server::builder()
            .add_service(self.into_service())
            .serve_with_incoming_shutdown(incoming, shutdown);
        Ok((addr, server))
    }
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("null broker"))
}

#[tonic::async_trait]
impl Brook for NullBroker {
    async fn produce(
        &self,
        req: Request<ProduceRequest>,
    ) -> Result<Response<ProduceResponse>, Status> {
        let req = req.into_inner();
        let durability = match req.acks {
            0 => Durability::None,
            -1 => Durability::IsrReplicated,
            _ => Durability::LeaderWritten,
        };
        let topics = req
            .topics
            .into_iter()
            .map(|t| TopicProduceResponse {
                name: t.name,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionProduceResponse {
                        partition: p.partition,
                        base_offset: 0,
                        log_start_offset: 0,
                        log_append_time_ms: -1,
                        durability: durability as i32,
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(ProduceResponse { topics }))
    }

    async fn fetch(&self, req: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        let req = req.get_ref();
        let topics = req
            .topics
            .iter()
            .map(|t| FetchTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let limit = p.partition_max_bytes.min(req.max_bytes).max(0) as usize;
                        let n = (limit / self.batch_len).max(1);
                        FetchPartitionResponse {
                            partition: p.partition,
                            high_watermark: 1 << 40,
                            last_stable_offset: 1 << 40,
                            log_start_offset: 0,
                            log_end_offset: 1 << 40,
                            records: self
                                .fetch_data
                                .slice(..(n * self.batch_len).min(self.fetch_data.len())),
                            ..Default::default()
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(FetchResponse {
            error_code: 0,
            topics,
        }))
    }

    async fn metadata(
        &self,
        req: Request<MetadataRequest>,
    ) -> Result<Response<MetadataResponse>, Status> {
        let addr = self
            .addr
            .ok_or_else(|| Status::unavailable("null broker not bound"))?;
        let asked = req.into_inner().topics;
        let names = if asked.is_empty() {
            self.topics.clone()
        } else {
            asked
        };
        let topics = names
            .into_iter()
            .map(|name| TopicMetadata {
                name,
                partitions: (0..self.partitions)
                    .map(|partition| PartitionMetadata {
                        partition,
                        leader_id: NODE_ID,
                        replicas: vec![NODE_ID],
                        isr: vec![NODE_ID],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(MetadataResponse {
            cluster_id: "null".into(),
            controller_id: NODE_ID,
            brokers: vec![BrokerInfo {
                node_id: NODE_ID,
                host: addr.ip().to_string(),
                port: i32::from(addr.port()),
                ..Default::default()
            }],
            topics,
        }))
    }

    async fn list_offsets(
        &self,
        _: Request<ListOffsetsRequest>,
    ) -> Result<Response<ListOffsetsResponse>, Status> {
        unimplemented()
    }

    async fn init_producer_id(
        &self,
        _: Request<InitProducerIdRequest>,
    ) -> Result<Response<InitProducerIdResponse>, Status> {
        unimplemented()
    }

    async fn find_coordinator(
        &self,
        _: Request<FindCoordinatorRequest>,
    ) -> Result<Response<FindCoordinatorResponse>, Status> {
        unimplemented()
    }

    async fn offset_commit(
        &self,
        _: Request<OffsetCommitRequest>,
    ) -> Result<Response<OffsetCommitResponse>, Status> {
        unimplemented()
    }

    async fn offset_fetch(
        &self,
        _: Request<OffsetFetchRequest>,
    ) -> Result<Response<OffsetFetchResponse>, Status> {
        unimplemented()
    }

    async fn join_group(
        &self,
        _: Request<JoinGroupRequest>,
    ) -> Result<Response<JoinGroupResponse>, Status> {
        unimplemented()
    }

    async fn sync_group(
        &self,
        _: Request<SyncGroupRequest>,
    ) -> Result<Response<SyncGroupResponse>, Status> {
        unimplemented()
    }

    async fn heartbeat(
        &self,
        _: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        unimplemented()
    }

    async fn leave_group(
        &self,
        _: Request<LeaveGroupRequest>,
    ) -> Result<Response<LeaveGroupResponse>, Status> {
        unimplemented()
    }

    async fn describe_groups(
        &self,
        _: Request<DescribeGroupsRequest>,
    ) -> Result<Response<DescribeGroupsResponse>, Status> {
        unimplemented()
    }

    async fn list_groups(
        &self,
        _: Request<ListGroupsRequest>,
    ) -> Result<Response<ListGroupsResponse>, Status> {
        unimplemented()
    }

    async fn delete_groups(
        &self,
        _: Request<DeleteGroupsRequest>,
    ) -> Result<Response<DeleteGroupsResponse>, Status> {
        unimplemented()
    }

    async fn group_lag(
        &self,
        _: Request<GroupLagRequest>,
    ) -> Result<Response<GroupLagResponse>, Status> {
        unimplemented()
    }

    async fn offset_for_leader_epoch(
        &self,
        _: Request<OffsetForLeaderEpochRequest>,
    ) -> Result<Response<OffsetForLeaderEpochResponse>, Status> {
        unimplemented()
    }
}
