//! The metadata log's name in the log directory, shared by the broker (which opens the log for
//! the quorum when this process is a voter) and the storage tests.
//!
//! The metadata log itself is the quorum's Raft log (`quorum/log_store.rs`), kept by brook-log
//! in `__cluster_metadata-0`; the controller's state is the replay of its committed records.

/// The metadata log's name in the log directory (Kafka's).
pub const METADATA_LOG: &str = "__cluster_metadata-0";
