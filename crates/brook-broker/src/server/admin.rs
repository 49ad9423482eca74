//! The `Admin` gRPC service: topics, configs, cluster and quorum description, and leader
//! elections.
//!
//! Changes are the controller's business: a broker that is not the active controller forwards
//! them to it (`forward.rs`); the active controller's process answers them itself. Descriptions
//! combine the metadata image with each partition leader's live view (HW, per-replica LEO),
//! gathered from the leaders with `local_only` requests.

use std::collections::{BTreeMap, HashMap};

use brook_proto::ErrorCode;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::admin_server::Admin;
use brook_proto::v1::*;
use tonic::{Request, Response, Status};

use super::forward::{Route, on_active, route};
use crate::broker::Broker;
use crate::controller::host::ControllerHost;
use crate::controller_link::forwarded;
use crate::error::BrokerError;
use crate::metadata::PartitionMeta;
use crate::topic::NewTopic;

use super::service::{Service, broker_info, err_fields, topic_result};

/// After a change the local (active) controller accepted, wait (briefly) until this broker has
/// applied it, so a client that creates a topic and then asks this broker about it sees it.
async fn catch_up(b: &Broker, host: &ControllerHost) {
    if !b.config.roles.broker {
        return; // a controller-only node applies no metadata as a broker
    }
    let end = host.image().next_offset;
    b.wait_for_metadata(end, std::time::Duration::from_secs(5))
        .await;
}

#[tonic::async_trait]
impl Admin for Service {
    async fn create_topics(
        &self,
        req: Request<CreateTopicsRequest>,
    ) -> Result<Response<CreateTopicsResponse>, Status> {
        let timeout_ms = req.get_ref().timeout_ms;
        let call = |mut c: AdminClient<tonic::transport::Channel>, r| async move {
            c.create_topics(r).await
        };
        let (host, req) = match on_active(&self.0, req, timeout_ms, call).await? {
            Ok(local) => local,
            Err(answer) => return Ok(answer),
        };
        let mut topics = Vec::new();
        for t in req.topics {
            let name = t.name.clone();
            let mut assignments = t.assignments.clone();
            assignments.sort_by_key(|a| a.partition);
            let r = if assignments
                .iter()
                .enumerate()
                .any(|(i, a)| a.partition != i as i32)
            {
                Err(BrokerError::new(
                    ErrorCode::InvalidReplicaAssignment,
                    "assignments must name partitions 0..n exactly once",
                ))
            } else {
                let new = NewTopic {
                    name: t.name,
                    partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                    configs: t.configs.into_iter().collect(),
                    assignments: assignments.into_iter().map(|a| a.broker_ids).collect(),
                };
                host.create_topic(new, req.validate_only).await
            };
            topics.push(topic_result(name, r));
        }
        catch_up(&self.0, &host).await;
        Ok(Response::new(CreateTopicsResponse { topics }))
    }

    async fn delete_topics(
        &self,
        req: Request<DeleteTopicsRequest>,
    ) -> Result<Response<DeleteTopicsResponse>, Status> {
        let timeout_ms = req.get_ref().timeout_ms;
        let call = |mut c: AdminClient<tonic::transport::Channel>, r| async move {
            c.delete_topics(r).await
        };
        let (host, req) = match on_active(&self.0, req, timeout_ms, call).await? {
            Ok(local) => local,
            Err(answer) => return Ok(answer),
        };
        let mut topics = Vec::new();
        for n in req.names {
            let r = host.delete_topic(&n).await;
            topics.push(topic_result(n, r));
        }
        catch_up(&self.0, &host).await;
        Ok(Response::new(DeleteTopicsResponse { topics }))
    }

    async fn describe_topics(
        &self,
        req: Request<DescribeTopicsRequest>,
    ) -> Result<Response<DescribeTopicsResponse>, Status> {
        let req = req.into_inner();
        let image = self.0.image();
        let names: Vec<String> = if req.topics.is_empty() {
            image.topics.keys().cloned().collect()
        } else {
            req.topics.clone()
        };
        let mut topics: Vec<TopicDescription> = names
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
        if req.local_only {
            return Ok(Response::new(DescribeTopicsResponse { topics }));
        }
        // Partitions led elsewhere: ask their leaders for the live figures.
        let me = self.0.config.node_id;
        let mut remote: HashMap<i32, Vec<String>> = HashMap::new();
        for t in &topics {
            for p in &t.partitions {
                if p.leader >= 0
                    && p.leader != me
                    && !remote.get(&p.leader).is_some_and(|v| v.contains(&t.name))
                {
                    remote.entry(p.leader).or_default().push(t.name.clone());
                }
            }
        }
        for (leader, names) in remote {
            let Some(b) = image.brokers.get(&leader) else {
                continue;
            };
            let Ok(channel) = self.0.env.channels.get(&format!("{}:{}", b.host, b.port)) else {
                continue;
            };
            let ask = DescribeTopicsRequest {
                topics: names,
                local_only: true,
            };
            let mut client = AdminClient::new(channel);
            let call = client.describe_topics(ask);
            let Ok(Ok(resp)) = tokio::time::timeout(std::time::Duration::from_secs(2), call).await
            else {
                continue;
            };
            for rt in resp.into_inner().topics {
                let Some(t) = topics.iter_mut().find(|t| t.name == rt.name) else {
                    continue;
                };
                for rp in rt.partitions {
                    if let Some(p) = t
                        .partitions
                        .iter_mut()
                        .find(|p| p.partition == rp.partition && p.leader == leader)
                    {
                        if rp.high_watermark >= 0 {
                            *p = rp;
                        }
                    }
                }
            }
        }
        Ok(Response::new(DescribeTopicsResponse { topics }))
    }

    async fn describe_cluster(
        &self,
        _req: Request<DescribeClusterRequest>,
    ) -> Result<Response<DescribeClusterResponse>, Status> {
        let image = self.0.image();
        let controller_id = self.0.active_controller_id();
        Ok(Response::new(DescribeClusterResponse {
            cluster_id: "brook".into(),
            controller_id,
            brokers: image.brokers.values().map(broker_info).collect(),
        }))
    }

    async fn alter_configs(
        &self,
        req: Request<AlterConfigsRequest>,
    ) -> Result<Response<AlterConfigsResponse>, Status> {
        let timeout_ms = 0;
        let call = |mut c: AdminClient<tonic::transport::Channel>, r| async move {
            c.alter_configs(r).await
        };
        let (host, req) = match on_active(&self.0, req, timeout_ms, call).await? {
            Ok(local) => local,
            Err(answer) => return Ok(answer),
        };
        let mut results = Vec::new();
        for r in req.resources {
            let result = match ConfigResourceType::try_from(r.resource_type) {
                Ok(ConfigResourceType::ConfigResourceTopic) => {
                    let set: BTreeMap<String, String> = r.set.clone().into_iter().collect();
                    host.alter_topic_config(&r.resource_name, &set, &r.delete, req.validate_only)
                        .await
                }
                Ok(ConfigResourceType::ConfigResourceBroker) if r.resource_name.is_empty() => {
                    let set: BTreeMap<String, String> = r.set.clone().into_iter().collect();
                    host.alter_broker_defaults(&set, &r.delete, req.validate_only)
                        .await
                }
                Ok(ConfigResourceType::ConfigResourceBroker) => Err(BrokerError::new(
                    ErrorCode::InvalidRequest,
                    "per-broker dynamic configs are not supported; use the cluster-wide default (empty name)",
                )),
                _ => Err(BrokerError::new(
                    ErrorCode::InvalidRequest,
                    "only topic configs and the cluster-wide broker defaults can be altered at run time",
                )),
            };
            let (error_code, error_message) =
                result.err().map_or((0, String::new()), |e| err_fields(&e));
            results.push(AlterConfigsResult {
                resource_type: r.resource_type,
                resource_name: r.resource_name,
                error_code,
                error_message,
            });
        }
        catch_up(&self.0, &host).await;
        Ok(Response::new(AlterConfigsResponse { results }))
    }

    async fn elect_leaders(
        &self,
        req: Request<ElectLeadersRequest>,
    ) -> Result<Response<ElectLeadersResponse>, Status> {
        let timeout_ms = req.get_ref().timeout_ms;
        let call = |mut c: AdminClient<tonic::transport::Channel>, r| async move {
            c.elect_leaders(r).await
        };
        let (host, req) = match on_active(&self.0, req, timeout_ms, call).await? {
            Ok(local) => local,
            Err(answer) => return Ok(answer),
        };
        let resp = host
            .elect_leaders(&req)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        catch_up(&self.0, &host).await;
        Ok(Response::new(resp))
    }

    async fn describe_quorum(
        &self,
        req: Request<DescribeQuorumRequest>,
    ) -> Result<Response<DescribeQuorumResponse>, Status> {
        // Ask the active controller (it alone knows every voter's progress); if none answers,
        // a voter says what it knows itself.
        if let Route::Local(host) = route(&self.0, &req)? {
            return Ok(Response::new(host.describe().await));
        }
        let wait = self.0.controller_link.request_timeout();
        let asked = self
            .0
            .controller_link
            .forward(wait, |mut c| {
                let r = forwarded(self.0.config.node_id, DescribeQuorumRequest {});
                async move { c.describe_quorum(r).await }
            })
            .await;
        match (asked, self.0.controller()) {
            (Ok(r), _) => Ok(r),
            (Err(_), Some(host)) => Ok(Response::new(host.describe().await)),
            (Err(e), None) => Err(e),
        }
    }
}

impl Service {
    pub(super) fn describe_partition(
        &self,
        topic: &str,
        index: i32,
        p: &PartitionMeta,
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
        if self.0.offline_reason(topic, index).is_some() {
            d.error_code = ErrorCode::KafkaStorageError as i32;
            return d;
        }
        if let Some(part) = self
            .0
            .replicas
            .get(topic, index)
            .filter(|part| part.state().is_leader())
        {
            let o = part.offsets();
            d.high_watermark = o.high_watermark;
            d.log_start_offset = o.log_start;
            d.log_end_offset = o.log_end;
            d.replica_states = part
                .replica_states()
                .into_iter()
                .map(|(id, leo, flushed, caught_up)| ReplicaState {
                    id,
                    log_end_offset: leo,
                    lag: (o.log_end - leo).max(0),
                    flushed_offset: flushed,
                    last_caught_up_ms: caught_up,
                })
                .collect();
        }
        d
    }
}
