//! The storage engine's error type. Variants are named after Kafka's error codes so that the broker
//! can hand them to clients unchanged (`LogError::kafka_name`).

use std::io;

/// Everything brook-log can fail with. Input errors (a bad batch, a bad offset, a bad config) leave
/// the log untouched; I/O errors surface as `KafkaStorageError`.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Bytes that do not form a valid batch: bad CRC, torn or impossible length, bad magic.
    #[error("CORRUPT_MESSAGE: {0}")]
    CorruptMessage(String),
    /// A well-formed batch whose content breaks a rule (record count mismatch, bad offsets, …).
    #[error("INVALID_RECORD: {0}")]
    InvalidRecord(String),
    /// Compression codecs other than none are not supported yet.
    #[error("UNSUPPORTED_COMPRESSION_TYPE: codec {0}")]
    UnsupportedCompressionType(u8),
    /// A single append larger than a segment can hold.
    #[error("RECORD_LIST_TOO_LARGE: {size} bytes exceeds segment.bytes {max}")]
    RecordListTooLarge {
        /// Size of the rejected append, in bytes.
        size: usize,
        /// The log's `segment.bytes`.
        max: u64,
    },
    /// A batch larger than `max.message.bytes`.
    #[error("MESSAGE_TOO_LARGE: {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge {
        /// Size of the rejected batch, in bytes.
        size: usize,
        /// The log's `max.message.bytes`.
        max: usize,
    },
    /// A read or truncation outside `[log_start_offset, log_end_offset]`.
    #[error("OFFSET_OUT_OF_RANGE: offset {offset} outside [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The log start offset at the time (first offset still stored).
        log_start: i64,
        /// The log end offset at the time (the offset the next record will get).
        log_end: i64,
    },
    /// A configuration key that is unknown or has a bad value.
    #[error("INVALID_CONFIG: {key}: {reason}")]
    InvalidConfig {
        /// The Kafka config key (`segment.bytes`, …), or `name` for a bad log name.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The disk failed us, or data below the recovery point is damaged. The partition is unusable
    /// until an operator intervenes; other partitions keep serving.
    #[error("KAFKA_STORAGE_ERROR: {0}")]
    KafkaStorageError(String),
}

impl LogError {
    /// Kafka's name for this error (`CORRUPT_MESSAGE`, `OFFSET_OUT_OF_RANGE`, …).
    pub fn kafka_name(&self) -> &'static str {
        match self {
            LogError::CorruptMessage(_) => "CORRUPT_MESSAGE",
            LogError::InvalidRecord(_) => "INVALID_RECORD",
            LogError::UnsupportedCompressionType(_) => "UNSUPPORTED_COMPRESSION_TYPE",
            LogError::RecordListTooLarge { .. } => "RECORD_LIST_TOO_LARGE",
            LogError::MessageTooLarge { .. } => "MESSAGE_TOO_LARGE",
            LogError::OffsetOutOfRange { .. } => "OFFSET_OUT_OF_RANGE",
            LogError::InvalidConfig { .. } => "INVALID_CONFIG",
            LogError::KafkaStorageError(_) => "KAFKA_STORAGE_ERROR",
        }
    }

    /// Wraps an I/O error with what we were doing when it happened.
    pub fn storage(context: impl std::fmt::Display, err: io::Error) -> LogError {
        LogError::KafkaStorageError(format!("{context}: {err}"))
    }

    pub(crate) fn corrupt(msg: impl Into<String>) -> LogError {
        LogError::CorruptMessage(msg.into())
    }
}

/// Result alias used throughout brook-log.
pub type Result<T> = std::result::Result<T, LogError>;
