#![warn(missing_docs)]

//! brook-client: producer, consumer and admin clients for Brook.
//!
//! Owns everything between an application and the gRPC wire (SPEC §2): configuration by Kafka
//! key names ([`config`]), typed errors carrying Kafka's error names ([`error`]), retry pacing
//! ([`backoff`]), the cluster metadata cache ([`metadata`]), key partitioning ([`partitioner`]),
//! the batching, retrying, idempotent [`Producer`], the [`Consumer`] (assign mode, or a consumer
//! group member with client-side assignors, a rebalance listener and ordered commits), the
//! [`Admin`] client and the dead-letter helpers ([`DeadLetterProducer`], [`RetryingHandler`]).
//!
//! Every connection is opened through `brook_proto::net::Channels`, so the embedded cluster can
//! inject network faults into client traffic too ([`Producer::with_channels`], …).
//!
//! ```text
//! src/
//!   lib.rs               this map; re-exports of the types an application uses
//!   topic_partition.rs   TopicPartition (private; re-exported at the root)
//!   error.rs             ClientError (Kafka error names), Result
//!   backoff.rs           Kafka's exponential retry backoff (KIP-580) and Retrier, one retry
//!                        loop's pacing and log throttling
//!   config/
//!     mod.rs             Acks, PartitionerKind, OffsetReset and the key-parsing helpers
//!     producer.rs        ProducerConfig: producer keys, defaults, idempotence rules (I4)
//!     consumer.rs        ConsumerConfig (group keys too) and AdminConfig
//!   rpc.rs               one RPC: a client for an address from Channels, the client-side
//!                        deadline (private)
//!   metadata.rs          the cluster metadata cache: brokers, leaders, epochs; paced refreshes
//!   partitioner.rs       murmur2 key partitioning, sticky null keys (KIP-480), round-robin
//!   metrics/             client metrics with Kafka's names and sampled-rate semantics:
//!     mod.rs             KafkaMetric (group/name/tags), the JMX-exporter name rule
//!     stats.rs           Rate, Avg, Max, Meter over metrics.num.samples windows (sans-IO)
//!     producer.rs        ProducerMetrics snapshot; the sender's sensors
//!     consumer.rs        ConsumerMetrics, EndToEndLatency; poll's, fetch's, commit's and the
//!                        join task's sensors; the CreateTime → poll histogram
//!     prometheus.rs      (feature `prometheus`) a scrape-time Collector for a Registry
//!   producer/
//!     mod.rs             Producer, ProducerRecord, RecordMetadata, DeliveryFuture, metrics()
//!     accumulator.rs     per-partition open batches and their readiness (RecordAccumulator)
//!     sender.rs          the sender task: produce requests, pipelining, retries, ordering and
//!                        idempotent sequence numbers
//!     sender/epoch.rs    InitProducerId, epoch bumps and renumbering of unresolved batches
//!   consumer/
//!     mod.rs             Consumer (assign and subscribe), positions, poll, commits, close
//!     listener.rs        ConsumerRebalanceListener, RebalanceContext, NoopRebalanceListener
//!     rebalance.rs       poll's side of a rebalance: revoke, assign, lose, leave
//!     membership.rs      the group member state machine (sans-IO): join, sync, heartbeats,
//!                        max.poll.interval.ms, error classification
//!     membership_tests.rs  its unit tests
//!     group.rs           the async shell: join task, heartbeat task, group RPCs
//!     assignor/          client-side assignors (sans-IO): mod.rs (strategy names, protocol),
//!                        range.rs, roundrobin.rs, sticky.rs (cooperative-sticky)
//!     commit.rs          the committer task: commits sent in order, async never retried
//!     fetcher.rs         one fetch round: a Fetch per leader, decoding into ConsumerRecords
//!     offsets.rs         the group coordinator (FindCoordinator, OffsetCommit / OffsetFetch)
//!                        and ListOffsets
//!     protocol.rs        Kafka's consumer protocol codec (subscription / assignment bytes)
//!   admin/
//!     mod.rs             Admin: topics, configs, cluster and quorum, elections, ListOffsets
//!     groups.rs          consumer groups: list, describe, delete, committed offsets
//!     offsets.rs         ListOffsets over many partitions, one result per partition
//!   dlq/
//!     mod.rs             DeadLetterProducer: undeliverable records to a dead-letter topic; the
//!                        dlq.* header names
//!     consumer.rs        RetryingHandler: consumer-side retry with backoff, then dead letter,
//!                        and the offsets to commit past it
//! ```

pub mod admin;
pub mod backoff;
pub mod config;
pub mod consumer;
pub mod dlq;
pub mod error;
pub mod metadata;
pub mod metrics;
pub mod partitioner;
pub mod producer;
mod rpc;
mod topic_partition;

pub use admin::{Admin, GroupDescription, GroupListing, MemberDescription, NewTopic, OffsetSpec};
pub use brook_proto::{Durability, ErrorCode};
pub use config::{Acks, AdminConfig, ConsumerConfig, OffsetReset, PartitionerKind, ProducerConfig};
pub use consumer::assignor::AssignmentStrategy;
pub use consumer::{
    Consumer, ConsumerRebalanceListener, ConsumerRecord, GroupMetadata, NoopRebalanceListener,
    OffsetCommitCallback, RebalanceContext, Subscription, TimestampType,
};
pub use dlq::{
    DeadLetterProducer, DeadLetterSink, DlqOutcome, Handled, HandlerError, RetryPolicy,
    RetryingHandler,
};
pub use error::{ClientError, Result};
pub use metrics::{ConsumerMetrics, EndToEndLatency, KafkaMetric, MetricConfig};
pub use producer::{DeliveryFuture, Producer, ProducerMetrics, ProducerRecord, RecordMetadata};
pub use topic_partition::TopicPartition;
