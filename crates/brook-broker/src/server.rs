//! The broker on the network: the `Brook` and `Admin` gRPC services over a [`Broker`], the
//! listener, background housekeeping, and clean (`shutdown`) or abrupt (`kill`) stops.
//!
//! Requests larger than `message.max.bytes` plus framing overhead are refused by the gRPC
//! decoder from the frame header, before the body is buffered.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::admin_server::{Admin, AdminServer};
use brook_proto::v1::brook_server::{Brook, BrookServer};
use brook_proto::v1::*;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::broker::{Broker, NewTopic};
use crate::config::BrokerConfig;
use crate::error::{BrokerError, Result};
use crate::group_coordinator::Committed;

/// Framing overhead allowed on top of `message.max.bytes` for one request.
const REQUEST_OVERHEAD: usize = 64 * 1024;

/// A started broker.
#[derive(Debug)]
pub struct BrokerHandle {
    pub broker: Arc<Broker>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    /// Set by `kill` (or dropping the handle): cuts every open connection at once.
    killed: watch::Sender<bool>,
    server: JoinHandle<std::result::Result<(), tonic::transport::Error>>,
    housekeeping: JoinHandle<()>,
}

impl BrokerHandle {
    /// Binds the listener, opens storage, and serves. Returns once the broker accepts requests.
    pub async fn start(config: BrokerConfig) -> Result<BrokerHandle> {
        let listener = TcpListener::bind(config.listener).await.map_err(|e| {
            BrokerError::new(
                ErrorCode::BrokerNotAvailable,
                format!("bind {}: {e}", config.listener),
            )
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| BrokerError::new(ErrorCode::BrokerNotAvailable, e.to_string()))?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let advertised = format!("{host}:{}", addr.port());
        let broker = tokio::task::spawn_blocking(move || Broker::open(config, advertised))
            .await
            .map_err(|e| BrokerError::Storage(format!("startup task failed: {e}")))??;
        let max = broker.config.message_max_bytes + REQUEST_OVERHEAD;
        let service = Service(broker.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let (killed, kill_rx) = watch::channel(false);
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener)
            .map(move |accepted| accepted.map(|s| KillableIo::new(s, kill_rx.clone())));
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(
                    BrookServer::new(service.clone())
                        .max_decoding_message_size(max)
                        .max_encoding_message_size(usize::MAX),
                )
                .add_service(AdminServer::new(service).max_decoding_message_size(max))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                }),
        );
        let hk = broker.clone();
        let housekeeping = tokio::spawn(async move {
            let tick = Duration::from_millis(
                hk.config
                    .hw_checkpoint_interval_ms
                    .min(hk.config.retention_check_interval_ms),
            );
            let retention_every =
                (hk.config.retention_check_interval_ms / tick.as_millis().max(1) as u64).max(1);
            let mut n: u64 = 0;
            loop {
                tokio::time::sleep(tick).await;
                n += 1;
                let b = hk.clone();
                let retention = n % retention_every == 0;
                let _ = tokio::task::spawn_blocking(move || b.housekeeping(retention)).await;
            }
        });
        tracing::info!(node_id = broker.config.node_id, %addr, "broker listening");
        Ok(BrokerHandle {
            broker,
            addr,
            stop: Some(stop),
            killed,
            server,
            housekeeping,
        })
    }

    /// The bound address (with the real port when the config said port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Clean stop: stop serving, then flush, checkpoint and mark the shutdown clean.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.housekeeping.abort();
        let _ = (&mut self.server).await;
        let broker = self.broker.clone();
        tokio::task::spawn_blocking(move || broker.close())
            .await
            .map_err(|e| BrokerError::Storage(format!("shutdown task failed: {e}")))?
    }

    /// Abrupt stop, as `kill -9`: no flush, no checkpoint, no clean-shutdown marker, and every
    /// open connection is cut (not just the listener closed), so no request is answered after it.
    pub fn kill(self) {
        self.abort();
    }

    fn abort(&self) {
        self.killed.send_replace(true);
        self.server.abort();
        self.housekeeping.abort();
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

/// An accepted connection that `kill` cuts as a dying process would: once killed, every read and
/// write fails, and a connection idly waiting for bytes is woken to fail. (Aborting the server
/// task alone stops only the accept loop: tonic runs each connection in its own task, which
/// would go on serving requests on connections that were already open.)
struct KillableIo {
    inner: tokio::net::TcpStream,
    killed: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    dead: bool,
}

impl KillableIo {
    fn new(inner: tokio::net::TcpStream, mut kill: watch::Receiver<bool>) -> KillableIo {
        // Set here: tonic applies `tcp_nodelay` only to listeners it binds itself.
        if let Err(e) = inner.set_nodelay(true) {
            tracing::debug!("set_nodelay on an accepted connection: {e}");
        }
        KillableIo {
            inner,
            // Also completes if the sender is gone (the handle was dropped).
            killed: Box::pin(async move {
                let _ = kill.wait_for(|k| *k).await;
            }),
            dead: false,
        }
    }

    fn is_dead(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        if !self.dead && self.killed.as_mut().poll(cx).is_ready() {
            self.dead = true;
        }
        self.dead
    }
}

fn killed_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the broker was killed",
    )
}

impl tokio::io::AsyncRead for KillableIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.is_dead(cx) {
            return std::task::Poll::Ready(Err(killed_error()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for KillableIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.is_dead(cx) {
            return std::task::Poll::Ready(Err(killed_error()));
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.is_dead(cx) {
            return std::task::Poll::Ready(Err(killed_error()));
        }
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.is_dead(cx) {
            return std::task::Poll::Ready(Err(killed_error()));
        }
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for KillableIo {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[derive(Debug, Clone)]
struct Service(Arc<Broker>);

fn err_fields(e: &BrokerError) -> (i32, String) {
    (e.code() as i32, e.message())
}

#[tonic::async_trait]
impl Brook for Service {
    async fn produce(
        &self,
        req: Request<ProduceRequest>,
    ) -> std::result::Result<Response<ProduceResponse>, Status> {
        let mut req = req.into_inner();
        // Partitions whose storage failed answer KAFKA_STORAGE_ERROR, not "unknown".
        let mut offline = Vec::new();
        for t in &mut req.topics {
            let name = t.name.clone();
            t.partitions
                .retain(|p| match self.0.offline_reason(&name, p.partition) {
                    Some(why) => {
                        offline.push((name.clone(), p.partition, why));
                        false
                    }
                    None => true,
                });
        }
        let mut resp = self.0.replicas.produce(req).await;
        for (t, p, why) in offline {
            let r = PartitionProduceResponse {
                partition: p,
                error_code: ErrorCode::KafkaStorageError as i32,
                error_message: why,
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: -1,
                ..Default::default()
            };
            match resp.topics.iter_mut().find(|x| x.name == t) {
                Some(x) => x.partitions.push(r),
                None => resp.topics.push(TopicProduceResponse {
                    name: t,
                    partitions: vec![r],
                }),
            }
        }
        Ok(Response::new(resp))
    }

    async fn fetch(
        &self,
        req: Request<FetchRequest>,
    ) -> std::result::Result<Response<FetchResponse>, Status> {
        Ok(Response::new(self.0.replicas.fetch(req.get_ref()).await))
    }

    async fn list_offsets(
        &self,
        req: Request<ListOffsetsRequest>,
    ) -> std::result::Result<Response<ListOffsetsResponse>, Status> {
        Ok(Response::new(self.0.replicas.list_offsets(req.get_ref())))
    }

    async fn metadata(
        &self,
        req: Request<MetadataRequest>,
    ) -> std::result::Result<Response<MetadataResponse>, Status> {
        let req = req.into_inner();
        let b = &self.0;
        let mut image = b.image();
        if req.allow_auto_topic_creation && b.config.auto_create_topics {
            for name in &req.topics {
                if !image.topics.contains_key(name) {
                    let t = NewTopic {
                        name: name.clone(),
                        partitions: -1,
                        replication_factor: -1,
                        configs: BTreeMap::new(),
                    };
                    if let Err(e) = b.create_topic(t, false, false) {
                        tracing::warn!(topic = %name, "auto-create failed: {e}");
                    }
                }
            }
            image = b.image();
        }
        let brokers = image
            .brokers
            .values()
            .filter(|x| !x.fenced)
            .map(broker_info)
            .collect();
        let names: Vec<String> = if req.topics.is_empty() {
            image.topics.keys().cloned().collect()
        } else {
            req.topics.clone()
        };
        let topics = names
            .into_iter()
            .map(|name| match image.topics.get(&name) {
                None => TopicMetadata {
                    error_code: ErrorCode::UnknownTopicOrPartition as i32,
                    name,
                    ..Default::default()
                },
                Some(t) => TopicMetadata {
                    error_code: 0,
                    name,
                    is_internal: t.is_internal,
                    partitions: t
                        .partitions
                        .iter()
                        .enumerate()
                        .map(|(i, p)| PartitionMetadata {
                            error_code: if p.leader < 0 {
                                ErrorCode::LeaderNotAvailable as i32
                            } else {
                                0
                            },
                            partition: i as i32,
                            leader_id: p.leader,
                            leader_epoch: p.leader_epoch,
                            replicas: p.replicas.clone(),
                            isr: p.isr.clone(),
                            offline_replicas: Vec::new(),
                        })
                        .collect(),
                },
            })
            .collect();
        Ok(Response::new(MetadataResponse {
            cluster_id: "brook".into(),
            controller_id: b.config.node_id,
            brokers,
            topics,
        }))
    }

    async fn init_producer_id(
        &self,
        req: Request<InitProducerIdRequest>,
    ) -> std::result::Result<Response<InitProducerIdResponse>, Status> {
        let req = req.into_inner();
        let b = self.0.clone();
        let r = tokio::task::spawn_blocking(move || {
            b.init_producer_id(req.producer_id, req.producer_epoch)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(match r {
            Ok((producer_id, epoch)) => InitProducerIdResponse {
                error_code: 0,
                producer_id,
                producer_epoch: epoch as i32,
            },
            Err(e) => InitProducerIdResponse {
                error_code: e.code() as i32,
                producer_id: -1,
                producer_epoch: -1,
            },
        }))
    }

    async fn find_coordinator(
        &self,
        req: Request<FindCoordinatorRequest>,
    ) -> std::result::Result<Response<FindCoordinatorResponse>, Status> {
        let key = req.into_inner().key;
        let b = self.0.clone();
        let r = tokio::task::spawn_blocking(move || b.coordinator_partition(&key).map(|_| ()))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let (host, port) = self
            .0
            .advertised
            .rsplit_once(':')
            .unwrap_or(("127.0.0.1", "0"));
        Ok(Response::new(match r {
            Ok(()) => FindCoordinatorResponse {
                error_code: 0,
                error_message: String::new(),
                node_id: self.0.config.node_id,
                host: host.to_string(),
                port: port.parse().unwrap_or(0),
            },
            Err(e) => {
                let (error_code, error_message) = err_fields(&e);
                FindCoordinatorResponse {
                    error_code,
                    error_message,
                    node_id: -1,
                    host: String::new(),
                    port: -1,
                }
            }
        }))
    }

    async fn offset_commit(
        &self,
        req: Request<OffsetCommitRequest>,
    ) -> std::result::Result<Response<OffsetCommitResponse>, Status> {
        let req = req.into_inner();
        // As Kafka, a partition that does not exist fails alone (UNKNOWN_TOPIC_OR_PARTITION);
        // the others are still committed.
        let image = self.0.image();
        let known = |t: &str, p: i32| image.partition(t, p).is_some();
        let offsets: Vec<(String, i32, Committed)> = req
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.clone(),
                        p.partition,
                        Committed {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.metadata.clone(),
                        },
                    )
                })
            })
            .filter(|(t, p, _)| known(t, *p))
            .collect();
        let result = if offsets.is_empty() {
            // Nothing to store: only the group id and the coordinator are checked.
            let b = self.0.clone();
            let group = req.group_id.clone();
            tokio::task::spawn_blocking(move || b.coordinator_partition(&group).map(|_| ()))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
        } else {
            self.0.commit_offsets(&req.group_id, offsets).await
        };
        let code = result.as_ref().err().map_or(0, |e| e.code() as i32);
        let topics = req
            .topics
            .iter()
            .map(|t| OffsetCommitTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetCommitPartitionResponse {
                        partition: p.partition,
                        error_code: if known(&t.name, p.partition) {
                            code
                        } else {
                            ErrorCode::UnknownTopicOrPartition as i32
                        },
                    })
                    .collect(),
            })
            .collect();
        let group_level = match &result {
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::NotCoordinator
                        | ErrorCode::CoordinatorNotAvailable
                        | ErrorCode::InvalidGroupId
                ) =>
            {
                code
            }
            _ => 0,
        };
        Ok(Response::new(OffsetCommitResponse {
            error_code: group_level,
            topics,
        }))
    }

    async fn offset_fetch(
        &self,
        req: Request<OffsetFetchRequest>,
    ) -> std::result::Result<Response<OffsetFetchResponse>, Status> {
        let req = req.into_inner();
        let b = self.0.clone();
        let group = req.group_id.clone();
        let coord =
            tokio::task::spawn_blocking(move || b.coordinator_partition(&group).map(|_| ()))
                .await
                .map_err(|e| Status::internal(e.to_string()))?;
        if let Err(e) = coord {
            return Ok(Response::new(OffsetFetchResponse {
                error_code: e.code() as i32,
                topics: vec![],
            }));
        }
        let committed = self.0.coordinator.fetch(&req.group_id);
        let lookup = |t: &str, p: i32| {
            committed
                .iter()
                .find(|(ct, cp, _)| ct == t && *cp == p)
                .map(|(_, _, c)| c.clone())
        };
        let topics: Vec<OffsetFetchTopicResponse> = if req.topics.is_empty() {
            let mut by_topic: BTreeMap<String, Vec<OffsetFetchPartitionResponse>> = BTreeMap::new();
            for (t, p, c) in &committed {
                by_topic
                    .entry(t.clone())
                    .or_default()
                    .push(fetched(*p, Some(c.clone())));
            }
            by_topic
                .into_iter()
                .map(|(name, partitions)| OffsetFetchTopicResponse { name, partitions })
                .collect()
        } else {
            req.topics
                .iter()
                .map(|t| OffsetFetchTopicResponse {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| fetched(*p, lookup(&t.name, *p)))
                        .collect(),
                })
                .collect()
        };
        Ok(Response::new(OffsetFetchResponse {
            error_code: 0,
            topics,
        }))
    }

    async fn offset_for_leader_epoch(
        &self,
        _req: Request<OffsetForLeaderEpochRequest>,
    ) -> std::result::Result<Response<OffsetForLeaderEpochResponse>, Status> {
        Err(Status::unimplemented(
            "OffsetForLeaderEpoch arrives with replication",
        ))
    }
}

fn fetched(partition: i32, c: Option<Committed>) -> OffsetFetchPartitionResponse {
    match c {
        Some(c) => OffsetFetchPartitionResponse {
            partition,
            committed_offset: c.offset,
            committed_leader_epoch: c.leader_epoch,
            metadata: c.metadata,
            error_code: 0,
        },
        None => OffsetFetchPartitionResponse {
            partition,
            committed_offset: -1,
            committed_leader_epoch: -1,
            metadata: String::new(),
            error_code: 0,
        },
    }
}

fn broker_info(b: &crate::metadata::BrokerMeta) -> BrokerInfo {
    BrokerInfo {
        node_id: b.node_id,
        host: b.host.clone(),
        port: b.port,
        rack: b.rack.clone().unwrap_or_default(),
        fenced: b.fenced,
    }
}

fn topic_result(name: String, r: Result<()>) -> TopicResult {
    let (error_code, error_message) = r.err().map_or((0, String::new()), |e| err_fields(&e));
    TopicResult {
        name,
        error_code,
        error_message,
    }
}

#[tonic::async_trait]
impl Admin for Service {
    async fn create_topics(
        &self,
        req: Request<CreateTopicsRequest>,
    ) -> std::result::Result<Response<CreateTopicsResponse>, Status> {
        let req = req.into_inner();
        let b = self.0.clone();
        let topics = tokio::task::spawn_blocking(move || {
            req.topics
                .into_iter()
                .map(|t| {
                    let name = t.name.clone();
                    let r = if !t.assignments.is_empty() {
                        Err(BrokerError::new(
                            ErrorCode::InvalidReplicaAssignment,
                            "manual assignment is not supported yet",
                        ))
                    } else {
                        b.create_topic(
                            NewTopic {
                                name: t.name,
                                partitions: t.num_partitions,
                                replication_factor: t.replication_factor,
                                configs: t.configs.into_iter().collect(),
                            },
                            false,
                            req.validate_only,
                        )
                    };
                    topic_result(name, r)
                })
                .collect()
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(CreateTopicsResponse { topics }))
    }

    async fn delete_topics(
        &self,
        req: Request<DeleteTopicsRequest>,
    ) -> std::result::Result<Response<DeleteTopicsResponse>, Status> {
        let req = req.into_inner();
        let b = self.0.clone();
        let topics = tokio::task::spawn_blocking(move || {
            req.names
                .into_iter()
                .map(|n| topic_result(n.clone(), b.delete_topic(&n)))
                .collect()
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(DeleteTopicsResponse { topics }))
    }

    async fn describe_topics(
        &self,
        req: Request<DescribeTopicsRequest>,
    ) -> std::result::Result<Response<DescribeTopicsResponse>, Status> {
        let req = req.into_inner();
        let image = self.0.image();
        let names: Vec<String> = if req.topics.is_empty() {
            image.topics.keys().cloned().collect()
        } else {
            req.topics
        };
        let topics = names
            .into_iter()
            .map(|name| match image.topics.get(&name) {
                None => TopicDescription {
                    name,
                    error_code: ErrorCode::UnknownTopicOrPartition as i32,
                    ..Default::default()
                },
                Some(t) => TopicDescription {
                    name: name.clone(),
                    error_code: 0,
                    is_internal: t.is_internal,
                    configs: t.configs.clone().into_iter().collect(),
                    partitions: t
                        .partitions
                        .iter()
                        .enumerate()
                        .map(|(i, p)| self.describe_partition(&name, i as i32, p))
                        .collect(),
                },
            })
            .collect();
        Ok(Response::new(DescribeTopicsResponse { topics }))
    }

    async fn describe_cluster(
        &self,
        _req: Request<DescribeClusterRequest>,
    ) -> std::result::Result<Response<DescribeClusterResponse>, Status> {
        let image = self.0.image();
        Ok(Response::new(DescribeClusterResponse {
            cluster_id: "brook".into(),
            controller_id: self.0.config.node_id,
            brokers: image.brokers.values().map(broker_info).collect(),
        }))
    }

    async fn alter_configs(
        &self,
        req: Request<AlterConfigsRequest>,
    ) -> std::result::Result<Response<AlterConfigsResponse>, Status> {
        let req = req.into_inner();
        let b = self.0.clone();
        let results = tokio::task::spawn_blocking(move || {
            req.resources
                .into_iter()
                .map(|r| {
                    let result = match ConfigResourceType::try_from(r.resource_type) {
                        Ok(ConfigResourceType::ConfigResourceTopic) => {
                            let set: BTreeMap<String, String> = r.set.clone().into_iter().collect();
                            b.alter_topic_config(
                                &r.resource_name,
                                &set,
                                &r.delete,
                                req.validate_only,
                            )
                        }
                        _ => Err(BrokerError::new(
                            ErrorCode::InvalidRequest,
                            "only topic configs can be altered at run time",
                        )),
                    };
                    let (error_code, error_message) =
                        result.err().map_or((0, String::new()), |e| err_fields(&e));
                    AlterConfigsResult {
                        resource_type: r.resource_type,
                        resource_name: r.resource_name,
                        error_code,
                        error_message,
                    }
                })
                .collect()
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(AlterConfigsResponse { results }))
    }

    async fn elect_leaders(
        &self,
        req: Request<ElectLeadersRequest>,
    ) -> std::result::Result<Response<ElectLeadersResponse>, Status> {
        let req = req.into_inner();
        let image = self.0.image();
        let wanted: Vec<(String, Vec<i32>)> = if req.topics.is_empty() {
            image
                .topics
                .values()
                .map(|t| (t.name.clone(), (0..t.partitions.len() as i32).collect()))
                .collect()
        } else {
            req.topics
                .iter()
                .map(|t| (t.name.clone(), t.partitions.clone()))
                .collect()
        };
        let topics = wanted
            .into_iter()
            .map(|(name, parts)| ElectLeadersTopicResult {
                partitions: parts
                    .into_iter()
                    .map(|p| {
                        // One broker: the only replica already leads every partition it has.
                        let (code, msg) = match image.partition(&name, p) {
                            None => (ErrorCode::UnknownTopicOrPartition, "no such partition"),
                            Some(_) => (
                                ErrorCode::ElectionNotNeeded,
                                "the preferred replica already leads",
                            ),
                        };
                        ElectLeadersPartitionResult {
                            partition: p,
                            error_code: code as i32,
                            error_message: msg.into(),
                        }
                    })
                    .collect(),
                name,
            })
            .collect();
        Ok(Response::new(ElectLeadersResponse {
            error_code: 0,
            topics,
        }))
    }
}

impl Service {
    fn describe_partition(
        &self,
        topic: &str,
        index: i32,
        p: &crate::metadata::PartitionMeta,
    ) -> PartitionDescription {
        let mut d = PartitionDescription {
            partition: index,
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            high_watermark: -1,
            log_start_offset: -1,
            log_end_offset: -1,
            ..Default::default()
        };
        if let Some(why) = self.0.offline_reason(topic, index) {
            d.error_code = ErrorCode::KafkaStorageError as i32;
            tracing::debug!(topic, index, "describe of offline partition: {why}");
            return d;
        }
        if let Some(part) = self.0.replicas.get(topic, index) {
            let o = part.offsets();
            d.high_watermark = o.high_watermark;
            d.log_start_offset = o.log_start;
            d.log_end_offset = o.log_end;
            d.replica_states = vec![ReplicaState {
                id: self.0.config.node_id,
                log_end_offset: o.log_end,
                lag: 0,
                flushed_offset: part.flushed_offset(),
                last_caught_up_ms: crate::metadata_log::now_ms(),
            }];
        }
        d
    }
}
