#![warn(missing_docs)]

//! Brook's wire contract, generated from `proto/brook.proto` at build time, and the connection
//! layer every Brook connection goes through.
//!
//! [`v1`] holds the messages and the `Brook`, `Admin`, `Controller` and `Quorum` service clients
//! and servers (`v1::brook_client`, `v1::admin_server`, …). Record batches are `bytes::Bytes`.
//! This file adds the little vocabulary both sides share: Kafka names for error codes
//! ([`ErrorCode::name`]), which of them a client may retry or must treat as indeterminate, and
//! the short names of durability levels (whose order, `NONE` < `LEADER_WRITTEN` < … <
//! `ISR_FLUSHED`, is the generated enum's own).
//!
//! ```text
//! build.rs     generates `v1` (into OUT_DIR) from proto/brook.proto with protox: no system protoc
//! src/
//!   lib.rs     this map; `v1` (generated); ErrorCode / Durability / LagStatus helpers
//!   net.rs     the connection layer: Dialer, TcpDialer, Channels (one lazy channel per address)
//!   faults.rs  the network fault model of the embedded cluster: Network, FaultyDialer,
//!              FaultyStream (cut links, isolated endpoints, slow links)
//! ```

/// The generated messages and enums of package `brook.v1` and the `Brook`, `Admin`,
/// `Controller` and `Quorum` service clients and servers (generated code: its items carry the
/// `.proto` comments only).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("brook.v1");
}

pub mod faults;
pub mod net;

pub use v1::{Durability, ErrorCode, LagStatus};

impl ErrorCode {
    /// Kafka's name for the code (`NOT_ENOUGH_REPLICAS`, …).
    pub fn name(self) -> &'static str {
        self.as_str_name()
    }

    /// Maps a wire value to a code; unknown values become `UNKNOWN_SERVER_ERROR`.
    pub fn from_wire(value: i32) -> ErrorCode {
        ErrorCode::try_from(value).unwrap_or(ErrorCode::UnknownServerError)
    }

    /// Whether a client may retry the request that got this error (Kafka's RetriableException
    /// hierarchy). Retrying `NOT_ENOUGH_REPLICAS_AFTER_APPEND` or `REQUEST_TIMED_OUT` without
    /// idempotence may write a record twice; with idempotence the broker deduplicates it.
    pub fn is_retriable(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            CorruptMessage
                | UnknownTopicOrPartition
                | LeaderNotAvailable
                | NotLeaderOrFollower
                | RequestTimedOut
                | BrokerNotAvailable
                | ReplicaNotAvailable
                | NetworkException
                | CoordinatorNotAvailable
                | CoordinatorLoadInProgress
                | NotCoordinator
                | NotEnoughReplicas
                | NotEnoughReplicasAfterAppend
                | KafkaStorageError
                | FencedLeaderEpoch
                | UnknownLeaderEpoch
                | OffsetNotAvailable
                | NotController
                | RebalanceInProgress
        )
    }

    /// True when the write's outcome is unknown: it may or may not be in the log (the Jepsen
    /// `:info` case). A checker must count such writes as neither acknowledged nor failed.
    pub fn is_indeterminate(self) -> bool {
        matches!(
            self,
            ErrorCode::RequestTimedOut | ErrorCode::NotEnoughReplicasAfterAppend
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str_name())
    }
}

impl Durability {
    /// Short name as printed by tools (`ISR_FLUSHED`, …).
    pub fn name(self) -> &'static str {
        self.as_str_name().trim_start_matches("DURABILITY_")
    }
}

/// Burrow's status of a consumer group or of one of its partitions (Burrow's
/// `protocol.StatusConstant`, with its numbers: the `brook_consumergroup_status` gauge's
/// values). Ordered from best to worst, as Burrow compares them. Shared by the broker's lag
/// evaluation (`group_coordinator/lag/`) and the client's `Admin::group_lag`.
impl LagStatus {
    /// The status of a wire value (unknown values are NOTFOUND).
    pub fn from_wire(v: i32) -> LagStatus {
        LagStatus::try_from(v).unwrap_or(LagStatus::Notfound)
    }

    /// Burrow's name: `NOTFOUND`, `OK`, `WARN`, `ERR`, `STOP`, `STALL`, `REWIND`.
    pub fn name(self) -> &'static str {
        self.as_str_name().trim_start_matches("LAG_STATUS_")
    }

    /// Burrow's number (0 … 6).
    pub fn value(self) -> i64 {
        i64::from(self as i32)
    }
}

impl std::fmt::Display for LagStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_kafka_numbers_and_names() {
        assert_eq!(ErrorCode::NotEnoughReplicas as i32, 19);
        assert_eq!(ErrorCode::OutOfOrderSequenceNumber as i32, 45);
        assert_eq!(ErrorCode::from_wire(19).name(), "NOT_ENOUGH_REPLICAS");
        assert_eq!(ErrorCode::from_wire(12345), ErrorCode::UnknownServerError);
        assert!(ErrorCode::NotLeaderOrFollower.is_retriable());
        assert!(!ErrorCode::MessageTooLarge.is_retriable());
        assert!(!ErrorCode::OutOfOrderSequenceNumber.is_retriable());
        assert_eq!(Durability::IsrFlushed.name(), "ISR_FLUSHED");
        assert!(Durability::IsrFlushed > Durability::LeaderFlushed);
        assert_eq!(LagStatus::from_wire(4).name(), "STOP");
        assert_eq!(LagStatus::from_wire(99), LagStatus::Notfound);
        assert_eq!(LagStatus::Rewind.value(), 6);
        assert!(LagStatus::Err > LagStatus::Warn && LagStatus::Warn > LagStatus::Ok);
        assert_eq!(format!("{:<6}|", LagStatus::Ok), "OK    |");
    }
}
