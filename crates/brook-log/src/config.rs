//! Per-log configuration: Kafka's topic-level storage keys, their defaults, and validation.
//! `LogConfig::from_pairs` accepts exactly the keys below and rejects anything else by name, so a
//! typo in a config never silently becomes a default.

use crate::error::{LogError, Result};

/// Storage settings of one log (one partition). Field docs give the Kafka key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment before one would grow past this. Default 1 GiB.
    pub segment_bytes: u64,
    /// `segment.ms`: roll once the active segment's first batch is older than this. Default 7 days.
    pub segment_ms: i64,
    /// `segment.index.bytes`: size each index file is preallocated to. Default 10 MiB.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: add an index entry after this many log bytes. Default 4096.
    pub index_interval_bytes: u64,
    /// `flush.messages`: fsync once this many records are unflushed. `None` (default) = never.
    pub flush_messages: Option<u64>,
    /// `flush.ms`: fsync once the oldest unflushed record is this old. `None` (default) = never.
    pub flush_ms: Option<i64>,
    /// `retention.ms`: delete segments whose newest record is older. `None` = keep forever.
    /// Default 7 days.
    pub retention_ms: Option<i64>,
    /// `retention.bytes`: delete oldest segments while the log is larger. `None` (default) = no cap.
    pub retention_bytes: Option<u64>,
    /// `max.message.bytes`: largest batch accepted. Default 1 MiB + 12 bytes, as Kafka.
    pub max_message_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 << 20,
            index_interval_bytes: 4096,
            flush_messages: None,
            flush_ms: None,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            max_message_bytes: 1_048_588,
        }
    }
}

/// The keys `LogConfig` understands, in Kafka's topic-level naming.
pub const KEYS: &[&str] = &[
    "segment.bytes",
    "segment.ms",
    "segment.index.bytes",
    "index.interval.bytes",
    "flush.messages",
    "flush.ms",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
];

impl LogConfig {
    /// Applies `key=value` overrides on top of `self`. Unknown keys and bad values are
    /// `INVALID_CONFIG` naming the key; nothing is applied unless everything is valid.
    pub fn with_pairs<'a, I>(&self, pairs: I) -> Result<LogConfig>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut c = self.clone();
        for (key, value) in pairs {
            c.set(key, value)?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Builds a config from defaults plus overrides.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<LogConfig>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        LogConfig::default().with_pairs(pairs)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "segment.bytes" => self.segment_bytes = positive(key, value)?,
            "segment.ms" => self.segment_ms = positive(key, value)? as i64,
            "segment.index.bytes" => self.segment_index_bytes = positive(key, value)?,
            "index.interval.bytes" => self.index_interval_bytes = non_negative(key, value)?,
            "flush.messages" => self.flush_messages = optional(key, value)?,
            "flush.ms" => self.flush_ms = optional(key, value)?.map(|v| v as i64),
            "retention.ms" => self.retention_ms = optional(key, value)?.map(|v| v as i64),
            "retention.bytes" => self.retention_bytes = optional(key, value)?,
            "max.message.bytes" => self.max_message_bytes = positive(key, value)? as usize,
            _ => {
                return Err(LogError::InvalidConfig {
                    key: key.to_string(),
                    reason: format!("unknown key (known: {})", KEYS.join(", ")),
                });
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        if self.segment_bytes < 14 + crate::batch::HEADER_LEN as u64 {
            return Err(invalid(
                "segment.bytes",
                "must hold at least one batch header",
            ));
        }
        if self.segment_bytes > u32::MAX as u64 {
            // Index positions are u32, as in Kafka.
            return Err(invalid("segment.bytes", "must be below 4 GiB"));
        }
        if self.segment_index_bytes < 16 {
            return Err(invalid(
                "segment.index.bytes",
                "must hold at least two entries",
            ));
        }
        if self.flush_messages == Some(0) {
            return Err(invalid("flush.messages", "must be at least 1"));
        }
        Ok(())
    }
}

fn invalid(key: &str, reason: &str) -> LogError {
    LogError::InvalidConfig {
        key: key.to_string(),
        reason: reason.to_string(),
    }
}

fn parse(key: &str, value: &str) -> Result<i64> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| invalid(key, &format!("'{value}' is not an integer")))
}

fn positive(key: &str, value: &str) -> Result<u64> {
    match parse(key, value)? {
        v if v > 0 => Ok(v as u64),
        v => Err(invalid(key, &format!("{v} must be positive"))),
    }
}

fn non_negative(key: &str, value: &str) -> Result<u64> {
    match parse(key, value)? {
        v if v >= 0 => Ok(v as u64),
        v => Err(invalid(key, &format!("{v} must not be negative"))),
    }
}

/// Kafka spells "never/unlimited" as -1 (retention) or Long.MAX_VALUE (flush); both map to `None`.
fn optional(key: &str, value: &str) -> Result<Option<u64>> {
    match parse(key, value)? {
        -1 | i64::MAX => Ok(None),
        v if v > 0 => Ok(Some(v as u64)),
        v => Err(invalid(key, &format!("{v} must be positive or -1"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_unknown_keys_are_named() {
        let c =
            LogConfig::from_pairs([("segment.bytes", "16384"), ("flush.messages", "1")]).unwrap();
        assert_eq!(c.segment_bytes, 16384);
        assert_eq!(c.flush_messages, Some(1));
        let err = LogConfig::from_pairs([("segment.byte", "1")]).unwrap_err();
        assert_eq!(err.kafka_name(), "INVALID_CONFIG");
        assert!(err.to_string().contains("segment.byte"));
    }

    #[test]
    fn bad_values_are_rejected() {
        for (k, v) in [
            ("segment.bytes", "0"),
            ("segment.bytes", "abc"),
            ("flush.ms", "-5"),
            ("flush.messages", "0"),
            ("retention.bytes", "-2"),
            ("segment.bytes", "8589934592"),
        ] {
            let err = LogConfig::from_pairs([(k, v)]).unwrap_err();
            assert!(err.to_string().contains(k), "{k}={v}: {err}");
        }
        assert_eq!(
            LogConfig::from_pairs([("retention.ms", "-1")])
                .unwrap()
                .retention_ms,
            None
        );
    }
}
