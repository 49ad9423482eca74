//! Names and helpers shared by the metadata quorum's storage and the rest of the broker.
//!
//! The metadata log itself is the quorum's Raft log (`quorum/log_store.rs`), kept by brook-log
//! in `__cluster_metadata-0`; the controller's state is the replay of its committed records.

/// The metadata log's name in the log directory (Kafka's).
pub const METADATA_LOG: &str = "__cluster_metadata-0";
