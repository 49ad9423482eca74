#![warn(missing_docs)]

//! brook-client: producer, consumer and admin clients for Brook.
//!
//! Owns everything between an application and the gRPC wire (SPEC §2): configuration by Kafka
//! key names (`config`), typed errors carrying Kafka's error names (`error`), retry pacing
//! (`backoff`), the cluster metadata cache (`metadata`), key partitioning (`partitioner`), the batching, retrying,
//! idempotent [`Producer`], the assign-mode [`Consumer`], the [`Admin`] client and the
//! dead-letter helper ([`DeadLetterProducer`]).
//!
//! Every connection is opened through `brook_proto::net::Channels`, so the embedded cluster can
//! inject network faults into client traffic too (`Producer::with_channels`, …).

pub mod admin;
pub mod backoff;
pub mod config;
pub mod consumer;
pub mod dlq;
pub mod error;
pub mod metadata;
pub mod partitioner;
pub mod producer;
mod rpc;
mod topic_partition;

pub use admin::{Admin, NewTopic, OffsetSpec};
pub use brook_proto::{Durability, ErrorCode};
pub use config::{Acks, AdminConfig, ConsumerConfig, OffsetReset, PartitionerKind, ProducerConfig};
pub use consumer::{Consumer, ConsumerRebalanceListener, ConsumerRecord, Subscription};
pub use dlq::{DeadLetterProducer, DlqOutcome};
pub use error::{ClientError, Result};
pub use producer::{DeliveryFuture, Producer, ProducerMetrics, ProducerRecord, RecordMetadata};
pub use topic_partition::TopicPartition;
