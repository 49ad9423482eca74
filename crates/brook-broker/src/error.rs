//! The broker's error type: every failure maps to one Kafka error code for the wire.

use brook_proto::ErrorCode;

/// Why a broker operation failed. [`BrokerError::code`] is the Kafka error code the wire
/// carries; [`BrokerError::message`] the text that goes with it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    /// A Kafka-coded error with a human message; goes to the client as is.
    #[error("{code}: {message}")]
    Kafka {
        /// The Kafka error code (e.g. `NOT_LEADER_OR_FOLLOWER`).
        code: ErrorCode,
        /// What went wrong, for a human; never parsed.
        message: String,
    },
    /// A bad broker or topic configuration (unknown key, bad value); `INVALID_CONFIG` on the
    /// wire, and the message names the key.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// Local storage failed (a log or snapshot write, a task that died during startup or
    /// shutdown): `KAFKA_STORAGE_ERROR`, which clients treat as retriable.
    #[error("KAFKA_STORAGE_ERROR: {0}")]
    Storage(String),
    /// An idempotent batch whose sequence is ahead of the next expected one: probably a
    /// pipelined request that overtook its predecessor on another HTTP/2 stream. The produce path
    /// waits briefly for the gap to fill before answering OUT_OF_ORDER_SEQUENCE_NUMBER.
    #[error("OUT_OF_ORDER_SEQUENCE_NUMBER: {0}")]
    SequenceAhead(String),
}

impl BrokerError {
    /// A [`BrokerError::Kafka`] with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> BrokerError {
        BrokerError::Kafka {
            code,
            message: message.into(),
        }
    }

    /// The Kafka error code this error is answered with: its own for
    /// [`BrokerError::Kafka`], `INVALID_CONFIG` for [`BrokerError::Config`],
    /// `KAFKA_STORAGE_ERROR` for [`BrokerError::Storage`] and `OUT_OF_ORDER_SEQUENCE_NUMBER` for
    /// [`BrokerError::SequenceAhead`].
    pub fn code(&self) -> ErrorCode {
        match self {
            BrokerError::Kafka { code, .. } => *code,
            BrokerError::Config(_) => ErrorCode::InvalidConfig,
            BrokerError::Storage(_) => ErrorCode::KafkaStorageError,
            BrokerError::SequenceAhead(_) => ErrorCode::OutOfOrderSequenceNumber,
        }
    }

    /// The message without the code prefix.
    pub fn message(&self) -> String {
        match self {
            BrokerError::Kafka { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}

impl From<brook_log::LogError> for BrokerError {
    fn from(e: brook_log::LogError) -> BrokerError {
        use brook_log::LogError as L;
        let code = match &e {
            L::CorruptMessage(_) => ErrorCode::CorruptMessage,
            L::InvalidRecord(_) => ErrorCode::InvalidRecord,
            L::UnsupportedCompressionType(_) => ErrorCode::UnsupportedCompressionType,
            L::RecordListTooLarge { .. } => ErrorCode::RecordListTooLarge,
            L::MessageTooLarge { .. } => ErrorCode::MessageTooLarge,
            L::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            L::InvalidConfig { .. } => ErrorCode::InvalidConfig,
            L::KafkaStorageError(_) => ErrorCode::KafkaStorageError,
        };
        BrokerError::Kafka {
            code,
            message: e.to_string(),
        }
    }
}

impl From<crate::producer_state::ProducerStateError> for BrokerError {
    fn from(e: crate::producer_state::ProducerStateError) -> BrokerError {
        use crate::producer_state::ProducerStateError as P;
        let code = match &e {
            P::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
            P::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            P::Snapshot(why) => return BrokerError::Storage(format!("producer state: {why}")),
            P::SequenceAhead { .. } => return BrokerError::SequenceAhead(e.to_string()),
        };
        BrokerError::Kafka {
            code,
            message: e.to_string(),
        }
    }
}

/// The broker's result type.
pub type Result<T> = std::result::Result<T, BrokerError>;
