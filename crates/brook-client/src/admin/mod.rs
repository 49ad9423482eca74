//! The admin client: topics (create, delete, list, describe), topic configs, cluster
//! description, leader elections, `ListOffsets` and consumer groups, each answer's per-topic,
//! per-partition or per-group error code turned into a typed `ClientError`.
//!
//! Admin requests go to any broker (the broker forwards controller work); on a transport error
//! the next known broker is tried, and `NOT_CONTROLLER` / other retriable codes are retried
//! with `retry.backoff.ms` growing to `retry.backoff.max.ms` (`crate::backoff`) until
//! `request.timeout.ms`. Group calls go to the group's coordinator instead (`groups.rs`).
//!
//! ```text
//! admin/
//!   mod.rs      Admin, NewTopic, OffsetSpec: topics, configs, cluster, quorum, elections
//!   groups.rs   consumer groups: list, describe, delete, committed offsets (list, alter)
//!   lag.rs      GroupLag: the coordinator's Burrow-style lag evaluation of a group
//!   offsets.rs  ListOffsets over many partitions, one result per partition
//! ```

mod groups;
mod lag;
mod offsets;

pub use groups::{GroupDescription, GroupListing, MemberDescription};
pub use lag::{GroupLag, LagStatus, LagWindowEntry, PartitionLag};

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::{
    AlterConfigsRequest, AlterConfigsResource, ConfigResourceType, CreatableTopic,
    CreateTopicsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeClusterResponse,
    DescribeQuorumRequest, DescribeQuorumResponse, DescribeTopicsRequest, ElectLeadersRequest,
    ElectionType, ReplicaAssignment, TopicDescription, TopicPartitions,
};
use tokio::time::Instant;
use tonic::transport::Channel;
use tracing::{debug, info};

use crate::backoff::Retrier;
use crate::config::AdminConfig;
use crate::error::{ClientError, Result, check};
use crate::metadata::Metadata;
use crate::rpc;
use crate::topic_partition::TopicPartition;

/// Which offset `list_offsets` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The high watermark (end of what consumers can read).
    Latest,
    /// The first offset whose timestamp is at or after this (ms); -1 if none.
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => crate::consumer::EARLIEST,
            OffsetSpec::Latest => crate::consumer::LATEST,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// A topic to create (Kafka's `NewTopic`); -1 partitions / replication factor mean the
/// broker defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic's name.
    pub name: String,
    /// Number of partitions; -1 = the broker's `num.partitions`.
    pub num_partitions: i32,
    /// Replicas per partition; -1 = the broker's `default.replication.factor`.
    pub replication_factor: i32,
    /// Topic-level config overrides (`retention.ms`, `min.insync.replicas`, …) as key/value.
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `num_partitions` partitions of `replication_factor` replicas each (-1 for
    /// either: the broker default) and no config overrides.
    pub fn new(name: impl Into<String>, num_partitions: i32, replication_factor: i32) -> Self {
        NewTopic {
            name: name.into(),
            num_partitions,
            replication_factor,
            configs: Vec::new(),
        }
    }

    /// Adds a topic-level config override (`key=value`, Kafka's topic config names).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// The admin client (Kafka's `Admin`): topic management, configs, cluster and quorum
/// description, leader elections, offset lookups and consumer groups. Cheap to clone (clones share the metadata
/// cache); every call retries per the module docs until `request.timeout.ms`.
#[derive(Debug, Clone)]
pub struct Admin {
    config: AdminConfig,
    metadata: Arc<Metadata>,
}

fn timeout_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

impl Admin {
    /// An admin client over plain TCP connections. Errors: `InvalidConfig` from
    /// [`AdminConfig::validate`]. Nothing is sent until the first call.
    pub fn new(config: AdminConfig) -> Result<Admin> {
        Admin::with_channels(config, Channels::default())
    }

    /// An admin client whose connections go through `channels` (fault injection).
    pub fn with_channels(config: AdminConfig, channels: Channels) -> Result<Admin> {
        config.validate()?;
        let metadata = Metadata::new(
            config.bootstrap_servers.clone(),
            channels,
            config.request_timeout,
            config.retry_backoff.min(Duration::from_millis(100)),
            config.backoff(),
        );
        Ok(Admin { config, metadata })
    }

    /// Runs one admin RPC, trying brokers in turn on transport errors and retrying retriable
    /// error codes with backoff until `request.timeout.ms`: a retry whose wait would end past
    /// the deadline is not made, the last error is returned instead.
    async fn call<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn(AdminClient<Channel>) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.config.request_timeout;
        let mut retry = Retrier::new(self.config.backoff());
        loop {
            let mut last = None;
            for addr in self.metadata.candidate_addrs() {
                let client = rpc::admin(self.metadata.channels(), &addr)?;
                match op(client).await {
                    Ok(v) => return Ok(v),
                    Err(e @ ClientError::Transport(_)) => {
                        debug!(addr, error = %e, "{what}: broker unreachable; trying the next");
                        last = Some(e);
                    }
                    Err(e) => {
                        last = Some(e);
                        break;
                    }
                }
            }
            let e = last.unwrap_or_else(|| ClientError::Transport("no broker to ask".into()));
            if !e.is_retriable() {
                return Err(e);
            }
            let now = Instant::now();
            let step = retry.failed(now);
            if now + step.delay >= deadline {
                return Err(e);
            }
            if step.log {
                info!(error = %e, "{what} failed; retrying in {} ms (attempt {})",
                    step.delay_ms(), step.attempt);
            }
            tokio::time::sleep(step.delay).await;
        }
    }

    /// Creates one topic; `TOPIC_ALREADY_EXISTS` etc. come back as `Kafka` errors.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &[(String, String)],
    ) -> Result<()> {
        let topic = NewTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor,
            configs: configs.to_vec(),
        };
        let mut results = self.create_topics(vec![topic]).await?;
        results
            .pop()
            .map_or_else(|| Err(missing("CreateTopics", name)), |(_, r)| r)
    }

    /// Creates a topic with a manual replica assignment: `assignment[p]` lists partition `p`'s
    /// replicas, the first being its preferred leader (Kafka's `--replica-assignment`).
    pub async fn create_topic_with_assignment(
        &self,
        name: &str,
        assignment: &[Vec<i32>],
        configs: &[(String, String)],
    ) -> Result<()> {
        let topic = CreatableTopic {
            name: name.to_string(),
            num_partitions: -1,
            replication_factor: -1,
            configs: configs.iter().cloned().collect(),
            assignments: (0..)
                .zip(assignment)
                .map(|(partition, replicas)| ReplicaAssignment {
                    partition,
                    broker_ids: replicas.clone(),
                })
                .collect(),
        };
        let mut results = self.create(vec![topic]).await?;
        results
            .pop()
            .map_or_else(|| Err(missing("CreateTopics", name)), |(_, r)| r)
    }

    /// Creates topics; the outer error is a request failure, the inner ones per topic.
    pub async fn create_topics(&self, topics: Vec<NewTopic>) -> Result<Vec<(String, Result<()>)>> {
        let topics = topics
            .iter()
            .map(|t| CreatableTopic {
                name: t.name.clone(),
                num_partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                configs: t.configs.iter().cloned().collect(),
                assignments: Vec::new(),
            })
            .collect();
        self.create(topics).await
    }

    async fn create(&self, topics: Vec<CreatableTopic>) -> Result<Vec<(String, Result<()>)>> {
        let req = CreateTopicsRequest {
            topics,
            timeout_ms: timeout_ms(self.config.request_timeout),
            validate_only: false,
        };
        let timeout = self.config.request_timeout;
        let resp = self
            .call("CreateTopics", |mut c| {
                let req = req.clone();
                async move { rpc::call(timeout, c.create_topics(req)).await }
            })
            .await?;
        self.metadata.request_update();
        Ok(resp
            .topics
            .into_iter()
            .map(|t| {
                let r = check(
                    t.error_code,
                    &t.error_message,
                    &format!("create topic {}", t.name),
                );
                (t.name, r)
            })
            .collect())
    }

    /// Deletes one topic; `UNKNOWN_TOPIC_OR_PARTITION` etc. come back as `Kafka` errors.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let mut results = self.delete_topics(&[name]).await?;
        results
            .pop()
            .map_or_else(|| Err(missing("DeleteTopics", name)), |(_, r)| r)
    }

    /// Deletes topics; the outer error is a request failure, the inner ones per topic.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<Vec<(String, Result<()>)>> {
        let req = DeleteTopicsRequest {
            names: names.iter().map(|n| n.to_string()).collect(),
            timeout_ms: timeout_ms(self.config.request_timeout),
        };
        let timeout = self.config.request_timeout;
        let resp = self
            .call("DeleteTopics", |mut c| {
                let req = req.clone();
                async move { rpc::call(timeout, c.delete_topics(req)).await }
            })
            .await?;
        self.metadata.request_update();
        Ok(resp
            .topics
            .into_iter()
            .map(|t| {
                let r = check(
                    t.error_code,
                    &t.error_message,
                    &format!("delete topic {}", t.name),
                );
                (t.name, r)
            })
            .collect())
    }

    /// Names of all non-internal topics, sorted.
    pub async fn list_topics(&self) -> Result<Vec<String>> {
        self.metadata.refresh().await?;
        let snap = self.metadata.snapshot();
        let mut names: Vec<String> = snap
            .topics
            .values()
            .filter(|t| !t.is_internal)
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The controller quorum (Kafka's DescribeQuorum): leader, epoch, high watermark and each
    /// voter's progress as the active controller sees it. A broker that is not the active
    /// controller asks it; if none answers, a voter reports what it knows itself.
    pub async fn describe_quorum(&self) -> Result<DescribeQuorumResponse> {
        let timeout = self.config.request_timeout;
        let resp = self
            .call("DescribeQuorum", |mut c| async move {
                rpc::call(timeout, c.describe_quorum(DescribeQuorumRequest {})).await
            })
            .await?;
        check(resp.error_code, &resp.error_message, "describe the quorum")?;
        Ok(resp)
    }

    /// Describes topics (all when `names` is empty). A topic answered with an error code makes
    /// the whole call fail with that code and the topic's name.
    pub async fn describe_topics(&self, names: &[&str]) -> Result<Vec<TopicDescription>> {
        let req = DescribeTopicsRequest {
            topics: names.iter().map(|n| n.to_string()).collect(),
            local_only: false,
        };
        let timeout = self.config.request_timeout;
        let resp = self
            .call("DescribeTopics", |mut c| {
                let req = req.clone();
                async move { rpc::call(timeout, c.describe_topics(req)).await }
            })
            .await?;
        for t in &resp.topics {
            check(t.error_code, "", &format!("describe topic {}", t.name))?;
        }
        Ok(resp.topics)
    }

    /// The cluster as a broker describes it (Kafka's DescribeCluster): cluster id, controller,
    /// and the registered brokers.
    pub async fn describe_cluster(&self) -> Result<DescribeClusterResponse> {
        let timeout = self.config.request_timeout;
        self.call("DescribeCluster", |mut c| async move {
            rpc::call(timeout, c.describe_cluster(DescribeClusterRequest {})).await
        })
        .await
    }

    /// Sets and deletes (resets to default) topic-level config overrides.
    pub async fn alter_topic_config(
        &self,
        topic: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<()> {
        self.alter_config(ConfigResourceType::ConfigResourceTopic, topic, set, delete)
            .await
    }

    /// Sets and deletes config overrides of one resource: a topic by name, or (broker resource,
    /// name "") the cluster-wide dynamic broker defaults where the controller accepts them.
    pub async fn alter_config(
        &self,
        resource_type: ConfigResourceType,
        name: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> Result<()> {
        let req = AlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: resource_type as i32,
                resource_name: name.to_string(),
                set: set.iter().cloned().collect(),
                delete: delete.to_vec(),
            }],
            validate_only: false,
        };
        let timeout = self.config.request_timeout;
        let resp = self
            .call("AlterConfigs", |mut c| {
                let req = req.clone();
                async move { rpc::call(timeout, c.alter_configs(req)).await }
            })
            .await?;
        let what = match resource_type {
            ConfigResourceType::ConfigResourceTopic => format!("topic {name}"),
            ConfigResourceType::ConfigResourceBroker if name.is_empty() => {
                "the cluster-wide broker defaults".to_string()
            }
            ConfigResourceType::ConfigResourceBroker => format!("broker {name}"),
            ConfigResourceType::ConfigResourceUnknown => format!("resource {name}"),
        };
        for r in resp.results {
            check(
                r.error_code,
                &r.error_message,
                &format!("alter config of {what}"),
            )?;
        }
        Ok(())
    }

    /// Triggers preferred or unclean leader election (all partitions when `partitions` is
    /// empty); one result per partition (`ELECTION_NOT_NEEDED` is an error code like others).
    pub async fn elect_leaders(
        &self,
        election_type: ElectionType,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Result<()>)>> {
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            topics.entry(&tp.topic).or_default().push(tp.partition);
        }
        let req = ElectLeadersRequest {
            election_type: election_type as i32,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| TopicPartitions {
                    name: name.to_string(),
                    partitions,
                })
                .collect(),
            timeout_ms: timeout_ms(self.config.request_timeout),
        };
        let timeout = self.config.request_timeout;
        let resp = self
            .call("ElectLeaders", |mut c| {
                let req = req.clone();
                async move {
                    let r = rpc::call(timeout, c.elect_leaders(req)).await?;
                    check(r.error_code, "", "ElectLeaders")?;
                    Ok(r)
                }
            })
            .await?;
        self.metadata.request_update();
        let mut out = Vec::new();
        for t in resp.topics {
            for p in t.partitions {
                let tp = TopicPartition::new(t.name.clone(), p.partition);
                let r = check(
                    p.error_code,
                    &p.error_message,
                    &format!("elect leader of {tp}"),
                );
                out.push((tp, r));
            }
        }
        Ok(out)
    }

    /// The offset `spec` names in `tp` (from the partition leader).
    pub async fn list_offsets(&self, tp: &TopicPartition, spec: OffsetSpec) -> Result<i64> {
        let found = crate::consumer::list_offsets(
            &self.metadata,
            self.config.request_timeout,
            &[(tp.clone(), spec.wire())],
        )
        .await?;
        found
            .get(tp)
            .copied()
            .ok_or_else(|| missing("ListOffsets", &tp.to_string()))
    }
}

fn missing(what: &str, name: &str) -> ClientError {
    ClientError::kafka(
        ErrorCode::UnknownServerError,
        format!("{what}: the response has no result for {name}"),
    )
}
