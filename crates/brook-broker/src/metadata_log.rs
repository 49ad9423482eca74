//! Names and helpers shared by the metadata quorum's storage and the rest of the broker.
//!
//! The metadata log itself is the quorum's Raft log (`quorum/log_store.rs`), kept by brook-log
//! in `__cluster_metadata-0`; the controller's state is the replay of its committed records.

pub const METADATA_LOG: &str = "__cluster_metadata-0";

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
