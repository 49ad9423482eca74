//! The `Admin` gRPC service: topics, configs, cluster description and leader elections.

use brook_proto::v1::admin_server::Admin;
use std::collections::BTreeMap;

use brook_proto::ErrorCode;
use brook_proto::v1::*;
use tonic::{Request, Response, Status};

use crate::broker::NewTopic;
use crate::error::BrokerError;

use super::service::{Service, broker_info, err_fields, topic_result};

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
