//! [`ClusterError`]: everything a [`Cluster`](crate::Cluster) operation can fail with, and the
//! crate's [`Result`].

use std::time::Duration;

use brook_broker::{BrokerError, ConfigError};
use brook_client::ClientError;

/// The result of a cluster operation.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// Why a cluster operation failed. The messages start with Kafka's error name where one fits
/// (`UNKNOWN_TOPIC_OR_PARTITION`, `REQUEST_TIMED_OUT`, …).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A broker refused to start or stop.
    #[error("{0}")]
    Broker(#[from] BrokerError),
    /// A bad broker config key or value (or one the cluster sets itself).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A client (producer, consumer, admin) failed or was misconfigured.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// A file, port or child-process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the cluster was doing.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The cluster has no broker with this id.
    #[error("no broker {0} in this cluster")]
    NoSuchBroker(i32),
    /// The broker is stopped.
    #[error("broker {0} is not running")]
    NotRunning(i32),
    /// `restart` of a broker that runs.
    #[error("broker {0} is already running")]
    AlreadyRunning(i32),
    /// A fault or an accessor that only exists for in-process brokers.
    #[error("UNSUPPORTED: {0} is not available with process brokers")]
    NotWithProcesses(&'static str),
    /// No broker knows the topic.
    #[error("UNKNOWN_TOPIC_OR_PARTITION: {0}")]
    UnknownTopic(String),
    /// The partition has no leader now.
    #[error("LEADER_NOT_AVAILABLE: {topic}-{partition} has no leader")]
    NoLeader {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A condition was not reached in time; `last` describes the last state seen.
    #[error("REQUEST_TIMED_OUT: {what} not reached within {timeout:?}; last seen: {last}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        timeout: Duration,
        /// The last state seen (a [`ClusterView::summary`](crate::ClusterView::summary)).
        last: String,
    },
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}
