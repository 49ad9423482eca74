//! brook-broker: a Brook broker. Owns partitions (role, high watermark, producer state), the
//! replica manager (produce / fetch paths), topic metadata, committed consumer offsets and the
//! gRPC services.
//!
//! ```text
//! server.rs           gRPC services, listener, start / shutdown / kill
//! broker.rs           one broker: storage, metadata, admin, producer ids, housekeeping
//! replica_manager.rs  produce (acks, group commit, HW waits) and long-poll fetch
//! partition/          one partition: leader side, follower side, housekeeping over its log; state.rs
//!                     its replication state and the min.insync rule as plain data
//! producer_state.rs   idempotent producer dedupe window and snapshots
//! group_coordinator.rs committed offsets in __consumer_offsets
//! metadata.rs         the metadata image (deterministic replay of metadata records)
//! metadata_log.rs     the metadata log's name and shared helpers
//! config.rs           broker and topic configuration
//! controller/         the controller as a deterministic state machine (no I/O); host.rs runs
//!                     it on the quorum, service.rs serves the Controller RPCs
//! quorum/             the metadata quorum: Raft (openraft) log store, state machine, RPCs,
//!                     check-quorum
//! controller_link.rs  which voter a broker talks to; following the active controller
//! lifecycle.rs        register, heartbeat and pull metadata from the active controller
//! ```

#![warn(missing_docs)]

pub mod acks;
pub mod broker;
pub mod config;
pub mod controller;
pub mod controller_link;
pub mod error;
pub mod group_coordinator;
pub mod leader_epoch;
pub mod lifecycle;
pub mod metadata;
pub mod metadata_log;
pub mod partition;
pub mod produce;
pub mod producer_state;
pub mod quorum;
pub mod replica_manager;
pub mod replica_state;
pub mod replication;
pub mod server;
pub mod topic;

pub use broker::{Broker, BrokerEnv};
pub use config::{BrokerConfig, ConfigError, TopicConfig};
pub use error::BrokerError;
pub use server::BrokerHandle;
