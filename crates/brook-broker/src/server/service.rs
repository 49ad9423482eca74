//! The `Brook` gRPC service (data plane): produce, fetch, offsets, metadata, producer ids,
//! committed offsets (fenced by the group's generation) and the consumer-group RPCs, each a thin
//! adapter over [`Broker`] (the group RPCs in `group_coordinator/rpc.rs`). Each handler is timed
//! for `kafka_network_requestmetrics_totaltimems` (`metrics/`) from its start to its answer.

use brook_proto::v1::brook_server::Brook;
use std::collections::BTreeMap;
use std::sync::Arc;

use brook_proto::ErrorCode;
use brook_proto::v1::*;
use tonic::{Request, Response, Status};

use crate::broker::Broker;
use crate::error::{BrokerError, Result};
use crate::group_coordinator::offsets::Committed;
use crate::metrics::RequestKind;
use crate::topic::NewTopic;

#[derive(Debug, Clone)]
pub(super) struct Service(pub(super) Arc<Broker>);

pub(super) fn err_fields(e: &BrokerError) -> (i32, String) {
    (e.code() as i32, e.message())
}

#[tonic::async_trait]
impl Brook for Service {
    async fn produce(
        &self,
        req: Request<ProduceRequest>,
    ) -> std::result::Result<Response<ProduceResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::Produce);
        let resp = self
            .0
            .replicas
            .produce(req.into_inner(), self.0.config.node_id);
        Ok(Response::new(resp.await))
    }

    async fn fetch(
        &self,
        req: Request<FetchRequest>,
    ) -> std::result::Result<Response<FetchResponse>, Status> {
        let kind = if req.get_ref().replica_id >= 0 {
            RequestKind::FetchFollower
        } else {
            RequestKind::Fetch
        };
        let _timer = self.0.metrics.requests.timer(kind);
        let (resp, proposals) = self.0.replicas.fetch(req.get_ref()).await;
        for (part, proposal) in proposals {
            tokio::spawn(crate::replication::alter_isr(
                self.0.clone(),
                part,
                proposal,
            ));
        }
        Ok(Response::new(resp))
    }

    async fn list_offsets(
        &self,
        req: Request<ListOffsetsRequest>,
    ) -> std::result::Result<Response<ListOffsetsResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::ListOffsets);
        Ok(Response::new(self.0.replicas.list_offsets(req.get_ref())))
    }

    async fn metadata(
        &self,
        req: Request<MetadataRequest>,
    ) -> std::result::Result<Response<MetadataResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::Metadata);
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
                        assignments: Vec::new(),
                    };
                    if let Err(e) = b.create_topic_via_controller(t).await {
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
            controller_id: b.active_controller_id(),
            brokers,
            topics,
        }))
    }

    async fn init_producer_id(
        &self,
        req: Request<InitProducerIdRequest>,
    ) -> std::result::Result<Response<InitProducerIdResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::InitProducerId);
        let req = req.into_inner();
        let r = self
            .0
            .init_producer_id(req.producer_id, req.producer_epoch)
            .await;
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
        let _timer = self.0.metrics.requests.timer(RequestKind::FindCoordinator);
        let key = req.into_inner().key;
        let r = self.0.coordinator_node(&key).await;
        Ok(Response::new(match r {
            Ok(b) => FindCoordinatorResponse {
                error_code: 0,
                error_message: String::new(),
                node_id: b.node_id,
                host: b.host,
                port: b.port,
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
        let _timer = self.0.metrics.requests.timer(RequestKind::OffsetCommit);
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
        // The group's fence first (coordinator, load, generation and member); with nothing to
        // store that is all there is.
        let instance =
            (!req.group_instance_id.is_empty()).then_some(req.group_instance_id.as_str());
        let fence = self
            .0
            .check_commit(&req.group_id, req.generation_id, &req.member_id, instance)
            .await;
        let result = match fence {
            Err(e) => Err(e),
            Ok(()) if offsets.is_empty() => Ok(()),
            Ok(()) => self.0.commit_offsets(&req.group_id, offsets).await,
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
                        | ErrorCode::CoordinatorLoadInProgress
                        | ErrorCode::InvalidGroupId
                        | ErrorCode::IllegalGeneration
                        | ErrorCode::UnknownMemberId
                        | ErrorCode::FencedInstanceId
                        | ErrorCode::RebalanceInProgress
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
        let _timer = self.0.metrics.requests.timer(RequestKind::OffsetFetch);
        let req = req.into_inner();
        if let Err(e) = self.0.offsets_ready(&req.group_id).await {
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

    async fn join_group(
        &self,
        req: Request<JoinGroupRequest>,
    ) -> std::result::Result<Response<JoinGroupResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::JoinGroup);
        let host = client_host(&req);
        Ok(Response::new(
            self.0.join_group(req.into_inner(), host).await,
        ))
    }

    async fn sync_group(
        &self,
        req: Request<SyncGroupRequest>,
    ) -> std::result::Result<Response<SyncGroupResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::SyncGroup);
        Ok(Response::new(self.0.sync_group(req.into_inner()).await))
    }

    async fn heartbeat(
        &self,
        req: Request<HeartbeatRequest>,
    ) -> std::result::Result<Response<HeartbeatResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::Heartbeat);
        Ok(Response::new(self.0.heartbeat_group(req.get_ref())))
    }

    async fn leave_group(
        &self,
        req: Request<LeaveGroupRequest>,
    ) -> std::result::Result<Response<LeaveGroupResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::LeaveGroup);
        Ok(Response::new(self.0.leave_group(req.into_inner())))
    }

    async fn describe_groups(
        &self,
        req: Request<DescribeGroupsRequest>,
    ) -> std::result::Result<Response<DescribeGroupsResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::DescribeGroups);
        Ok(Response::new(self.0.describe_groups(req.get_ref())))
    }

    async fn list_groups(
        &self,
        req: Request<ListGroupsRequest>,
    ) -> std::result::Result<Response<ListGroupsResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::ListGroups);
        Ok(Response::new(self.0.list_groups(req.get_ref())))
    }

    async fn delete_groups(
        &self,
        req: Request<DeleteGroupsRequest>,
    ) -> std::result::Result<Response<DeleteGroupsResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::DeleteGroups);
        Ok(Response::new(self.0.delete_groups(req.into_inner()).await))
    }

    async fn group_lag(
        &self,
        req: Request<GroupLagRequest>,
    ) -> std::result::Result<Response<GroupLagResponse>, Status> {
        let _timer = self.0.metrics.requests.timer(RequestKind::GroupLag);
        Ok(Response::new(self.0.group_lag(req.get_ref())))
    }

    async fn offset_for_leader_epoch(
        &self,
        req: Request<OffsetForLeaderEpochRequest>,
    ) -> std::result::Result<Response<OffsetForLeaderEpochResponse>, Status> {
        let _timer = self
            .0
            .metrics
            .requests
            .timer(RequestKind::OffsetForLeaderEpoch);
        let req = req.into_inner();
        let topics = req
            .topics
            .iter()
            .map(|t| OffsetForLeaderEpochTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let r = self
                            .0
                            .replicas
                            .get(&t.name, p.partition)
                            .ok_or_else(|| {
                                BrokerError::new(
                                    ErrorCode::UnknownTopicOrPartition,
                                    "no such partition here",
                                )
                            })
                            .and_then(|part| {
                                part.end_offset_for_epoch(p.current_leader_epoch, p.leader_epoch)
                            });
                        match r {
                            Ok((leader_epoch, end_offset)) => EpochEndOffset {
                                partition: p.partition,
                                error_code: 0,
                                leader_epoch,
                                end_offset,
                            },
                            Err(e) => EpochEndOffset {
                                partition: p.partition,
                                error_code: e.code() as i32,
                                leader_epoch: -1,
                                end_offset: -1,
                            },
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(OffsetForLeaderEpochResponse { topics }))
    }
}

/// Where a request came from, as Kafka prints a member's host (`/127.0.0.1`).
fn client_host<T>(req: &Request<T>) -> String {
    req.remote_addr()
        .map_or_else(|| "/unknown".to_string(), |a| format!("/{}", a.ip()))
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

pub(super) fn broker_info(b: &crate::metadata::BrokerMeta) -> BrokerInfo {
    BrokerInfo {
        node_id: b.node_id,
        host: b.host.clone(),
        port: b.port,
        rack: b.rack.clone().unwrap_or_default(),
        fenced: b.fenced,
    }
}

pub(super) fn topic_result(name: String, r: Result<()>) -> TopicResult {
    let (error_code, error_message) = r.err().map_or((0, String::new()), |e| err_fields(&e));
    TopicResult {
        name,
        error_code,
        error_message,
    }
}
