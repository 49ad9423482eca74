//! What a [`Cluster`] hands out: `create_topic` (awaitable), producers, consumers and admin
//! clients whose connections go through the fault model, and the harness's own admin client
//! outside it.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use brook_client::{
    Acks, Admin, AdminConfig, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig,
};
use brook_proto::faults::{Endpoint, Network};
use brook_proto::net::Channels;

use crate::cluster::Cluster;
use crate::error::Result;

impl Cluster {
    /// A producer builder; the producer's connections are subject to network faults.
    pub fn producer(&self) -> ProducerBuilder {
        ProducerBuilder {
            config: ProducerConfig::new(&self.bootstrap_servers()),
            pairs: Vec::new(),
            network: self.network.clone(),
            endpoint: None,
        }
    }

    /// A consumer builder; the consumer's connections are subject to network faults.
    pub fn consumer(&self) -> ConsumerBuilder {
        ConsumerBuilder {
            config: ConsumerConfig::new(&self.bootstrap_servers()),
            pairs: Vec::new(),
            network: self.network.clone(),
            endpoint: None,
        }
    }

    /// An admin client whose connections are subject to network faults (its own endpoint).
    pub fn admin(&self) -> Result<Admin> {
        Ok(Admin::with_channels(
            AdminConfig::new(&self.bootstrap_servers()),
            self.client_channels(),
        )?)
    }

    /// Connections for a new client: through the fault model as a fresh client endpoint.
    pub fn client_channels(&self) -> Channels {
        client_channels(&self.network, None)
    }

    /// The harness's own admin client, outside the fault model.
    fn observer_admin(&self) -> Result<Admin> {
        let config = AdminConfig::new(&self.bootstrap_servers()).request_timeout(self.timeout);
        Ok(Admin::with_channels(config, self.observer.clone())?)
    }

    /// Creates a topic; awaiting the returned builder completes when every partition's leader
    /// serves it.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
    ) -> CreateTopic<'_> {
        CreateTopic {
            cluster: self,
            name: name.to_string(),
            partitions,
            replication_factor,
            configs: Vec::new(),
            timeout: self.timeout,
        }
    }
}

/// `create_topic`'s builder; `.await` it.
#[derive(Debug)]
pub struct CreateTopic<'a> {
    cluster: &'a Cluster,
    name: String,
    partitions: i32,
    replication_factor: i32,
    configs: Vec<(String, String)>,
    timeout: Duration,
}

impl CreateTopic<'_> {
    /// A topic-level config (`min.insync.replicas`, `flush.messages`, …).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }

    /// How long to wait for every partition to get a leader (default: the startup timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn run(self) -> Result<()> {
        let admin = self.cluster.observer_admin()?;
        admin
            .create_topic(
                &self.name,
                self.partitions,
                self.replication_factor,
                &self.configs,
            )
            .await?;
        let (name, n) = (self.name.as_str(), self.partitions);
        self.cluster
            .wait_for(
                &format!("every partition of {name} has a serving leader"),
                self.timeout,
                |v| {
                    v.topic(name).is_some_and(|t| {
                        // -1 partitions means the broker default: accept whatever was created.
                        (n < 0 || t.partitions.len() == n as usize)
                            && !t.partitions.is_empty()
                            && t.partitions
                                .iter()
                                .all(|p| v.serving_leader(name, p.partition))
                    })
                },
            )
            .await?;
        Ok(())
    }
}

impl<'a> IntoFuture for CreateTopic<'a> {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Builds a [`Producer`] connected through the cluster's fault model.
#[derive(Debug)]
pub struct ProducerBuilder {
    config: ProducerConfig,
    pairs: Vec<(String, String)>,
    network: Arc<Network>,
    endpoint: Option<Endpoint>,
}

impl ProducerBuilder {
    /// `acks` (default all).
    pub fn acks(mut self, acks: Acks) -> Self {
        self.config = self.config.acks(acks);
        self
    }

    /// `enable.idempotence` (default true).
    pub fn idempotence(mut self, on: bool) -> Self {
        self.config = self.config.enable_idempotence(on);
        self
    }

    /// `linger.ms`.
    pub fn linger(mut self, d: Duration) -> Self {
        self.config = self.config.linger(d);
        self
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config = self.config.request_timeout(d);
        self
    }

    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.config = self.config.delivery_timeout(d);
        self
    }

    /// `retries`.
    pub fn retries(mut self, n: i32) -> Self {
        self.config = self.config.retries(n);
        self
    }

    /// Any producer key (Kafka's names); a bad one fails `build`.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// The producer's endpoint in the fault model (default: a fresh client id).
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// The producer config this builder describes (validated by `build`).
    pub fn into_config(self) -> Result<ProducerConfig> {
        let mut config = self.config;
        for (k, v) in &self.pairs {
            config.set(k, v)?;
        }
        Ok(config)
    }

    /// The producer, connected through the fault model (fails on a bad config key or value).
    pub async fn build(self) -> Result<Producer> {
        let channels = client_channels(&self.network, self.endpoint);
        let config = self.into_config()?;
        Ok(Producer::with_channels(config, channels)?)
    }
}

/// Builds a [`Consumer`] connected through the cluster's fault model.
#[derive(Debug)]
pub struct ConsumerBuilder {
    config: ConsumerConfig,
    pairs: Vec<(String, String)>,
    network: Arc<Network>,
    endpoint: Option<Endpoint>,
}

impl ConsumerBuilder {
    /// `group.id`: the consumer group whose committed offsets to use, and which `subscribe`
    /// joins (other group keys, e.g. `session.timeout.ms`, through [`ConsumerBuilder::config`]).
    pub fn group_id(mut self, group: &str) -> Self {
        self.config = self.config.group_id(group);
        self
    }

    /// `auto.offset.reset=earliest`.
    pub fn from_beginning(mut self) -> Self {
        self.config = self.config.auto_offset_reset(OffsetReset::Earliest);
        self
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config = self.config.request_timeout(d);
        self
    }

    /// Any consumer key (Kafka's names); a bad one fails `build`.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// The consumer's endpoint in the fault model (default: a fresh client id).
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// The consumer, connected through the fault model (fails on a bad config key or value).
    pub async fn build(self) -> Result<Consumer> {
        let channels = client_channels(&self.network, self.endpoint);
        let mut config = self.config;
        for (k, v) in &self.pairs {
            config.set(k, v)?;
        }
        Ok(Consumer::with_channels(config, channels)?)
    }
}

/// A client's connections through the fault model: its own endpoint, or a fresh one.
fn client_channels(network: &Arc<Network>, endpoint: Option<Endpoint>) -> Channels {
    let endpoint = endpoint.unwrap_or_else(|| network.new_client());
    Channels::new(network.dialer(endpoint))
}
