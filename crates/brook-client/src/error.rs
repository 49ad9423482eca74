//! `ClientError`: every failure the client reports, named with Kafka's error vocabulary
//! (SPEC §8) so that tools and the verifier can print and classify it without guessing.
//!
//! Errors are `Clone` because one broker answer fails every record of a batch, and each record's
//! future gets its own copy.

use brook_proto::ErrorCode;

use crate::topic_partition::TopicPartition;

/// Result alias used throughout brook-client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Every failure a Brook client reports. `Display` starts with the Kafka error name
/// (`NOT_ENOUGH_REPLICAS: …`); [`ClientError::code`], [`ClientError::is_retriable`] and
/// [`ClientError::is_indeterminate`] classify it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// An error with a Kafka error code: one a broker returned (per partition, per topic or per
    /// request), or one the client raised in Kafka's terms (`MESSAGE_TOO_LARGE` at `send`,
    /// `REQUEST_TIMED_OUT` for a request left unanswered).
    #[error("{code}: {message}")]
    Kafka {
        /// The Kafka error code.
        code: ErrorCode,
        /// The broker's message prefixed with what the client was doing, or the client's own
        /// explanation when it raised the code itself.
        message: String,
    },

    /// The connection failed or the broker could not be reached (Kafka's NetworkException).
    #[error("NETWORK_EXCEPTION: {0}")]
    Transport(String),

    /// `delivery.timeout.ms` (or another client-side deadline) expired before the operation
    /// succeeded; `last_error` is the last failure seen, if any. The write may or may not have
    /// happened (Kafka's TimeoutException).
    #[error("REQUEST_TIMED_OUT: {what} expired after {timeout_ms} ms{}", last_error_suffix(.last_error))]
    Timeout {
        /// Which deadline expired (`delivery.timeout.ms`, …).
        what: String,
        /// The deadline's length, in milliseconds.
        timeout_ms: u64,
        /// The last failure seen before the deadline, if any.
        last_error: Option<Box<ClientError>>,
    },

    /// A configuration key has a bad value, is unknown, or conflicts with another key.
    #[error("INVALID_CONFIG: {key}: {reason}")]
    InvalidConfig {
        /// The Kafka config key (`acks`, `linger.ms`, …).
        key: String,
        /// What is wrong with its value.
        reason: String,
    },

    /// A consumer has no position for a partition and `auto.offset.reset=none`.
    #[error("NO_OFFSET_FOR_PARTITION: no committed offset for {0} and auto.offset.reset=none")]
    NoOffsetForPartition(TopicPartition),

    /// The application asked about a partition the consumer is not assigned
    /// (Kafka's IllegalStateException).
    #[error("ILLEGAL_STATE: {0}")]
    IllegalState(String),

    /// The client was closed (or its background task stopped) before the operation finished.
    #[error("CLIENT_CLOSED: the client is closed")]
    Closed,
}

fn last_error_suffix(last: &Option<Box<ClientError>>) -> String {
    match last {
        Some(e) => format!("; last error: {e}"),
        None => String::new(),
    }
}

impl ClientError {
    /// A [`ClientError::Kafka`] error with `code` and `message`.
    pub fn kafka(code: ErrorCode, message: impl Into<String>) -> ClientError {
        ClientError::Kafka {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn config(key: &str, reason: impl Into<String>) -> ClientError {
        ClientError::InvalidConfig {
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    /// The Kafka error code this error corresponds to, if any.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            ClientError::Transport(_) => Some(ErrorCode::NetworkException),
            ClientError::Timeout { .. } => Some(ErrorCode::RequestTimedOut),
            ClientError::InvalidConfig { .. } => Some(ErrorCode::InvalidConfig),
            ClientError::NoOffsetForPartition(_)
            | ClientError::IllegalState(_)
            | ClientError::Closed => None,
        }
    }

    /// Kafka-style name of the error (`NOT_ENOUGH_REPLICAS`, `REQUEST_TIMED_OUT`, …), also for
    /// the client-only errors, for headers and one-line reports.
    pub fn name(&self) -> &'static str {
        match self {
            ClientError::NoOffsetForPartition(_) => "NO_OFFSET_FOR_PARTITION",
            ClientError::IllegalState(_) => "ILLEGAL_STATE",
            ClientError::Closed => "CLIENT_CLOSED",
            other => other.code().map_or("UNKNOWN_SERVER_ERROR", ErrorCode::name),
        }
    }

    /// Whether trying the operation again may succeed (Kafka's RetriableException family).
    /// The producer already retries these internally until `delivery.timeout.ms`; a `Timeout`
    /// returned to the application is retriable in the same sense as Kafka's TimeoutException.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => code.is_retriable(),
            ClientError::Transport(_) | ClientError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// True when a failed write may nevertheless be in the log (Jepsen's `:info`): request
    /// timeouts, `NOT_ENOUGH_REPLICAS_AFTER_APPEND`, lost connections, expired delivery.
    pub fn is_indeterminate(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => code.is_indeterminate(),
            ClientError::Transport(_) | ClientError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Maps a gRPC status. Per SPEC §8 statuses mean transport failures or malformed requests;
    /// a deadline is Kafka's client-side request timeout.
    pub(crate) fn from_status(status: &tonic::Status) -> ClientError {
        use tonic::Code;
        match status.code() {
            Code::DeadlineExceeded => ClientError::kafka(
                ErrorCode::RequestTimedOut,
                format!("request deadline exceeded: {}", status.message()),
            ),
            Code::InvalidArgument | Code::Unimplemented | Code::FailedPrecondition => {
                ClientError::kafka(ErrorCode::InvalidRequest, status.message().to_string())
            }
            Code::ResourceExhausted => {
                ClientError::kafka(ErrorCode::MessageTooLarge, status.message().to_string())
            }
            code => ClientError::Transport(format!("{code:?}: {}", status.message())),
        }
    }
}

/// `Ok(())` for `NONE`, else a `Kafka` error with the broker's message (or the context).
pub(crate) fn check(code: i32, message: &str, context: &str) -> Result<()> {
    let code = ErrorCode::from_wire(code);
    if code == ErrorCode::None {
        return Ok(());
    }
    let message = if message.is_empty() {
        context.to_string()
    } else {
        format!("{context}: {message}")
    };
    Err(ClientError::kafka(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_starts_with_kafka_name() {
        let e = ClientError::kafka(ErrorCode::NotEnoughReplicas, "isr 1 < 2");
        assert!(e.to_string().starts_with("NOT_ENOUGH_REPLICAS"));
        assert!(e.is_retriable());
        let t = ClientError::Timeout {
            what: "delivery.timeout.ms".into(),
            timeout_ms: 10,
            last_error: Some(Box::new(e)),
        };
        assert!(t.to_string().starts_with("REQUEST_TIMED_OUT"));
        assert!(t.to_string().contains("NOT_ENOUGH_REPLICAS"));
        assert_eq!(t.name(), "REQUEST_TIMED_OUT");
        assert!(t.is_indeterminate());
        let c = ClientError::config("acks", "bad");
        assert!(c.to_string().starts_with("INVALID_CONFIG: acks"));
        assert!(!c.is_retriable());
    }

    #[test]
    fn check_maps_codes() {
        assert!(check(0, "", "x").is_ok());
        let e = check(3, "", "topic t").unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::UnknownTopicOrPartition));
    }
}
