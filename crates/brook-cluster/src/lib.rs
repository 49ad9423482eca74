//! The embedded [`Cluster`] (SPEC §9), moved out of the `brook` package.

pub mod cluster;

pub use brook_broker as broker;
pub use brook_client as client;
pub use brook_client::{Acks, Consumer, Producer, ProducerRecord, TopicPartition};
pub use brook_log as log;
pub use brook_proto as proto;
pub use brook_proto::faults::Endpoint;
pub use cluster::{Cluster, ClusterBuilder, ClusterError, ClusterView};
