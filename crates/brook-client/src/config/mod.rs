//! Client configuration by Kafka key names: `ProducerConfig`, `ConsumerConfig`, `AdminConfig`.
//!
//! Each is built either from `key=value` pairs (`from_pairs`, as the CLI and properties files
//! supply them) or with builder-style setters. Unknown keys and bad values are errors naming the
//! key, never silently ignored (SPEC §10's rule, applied to clients too). Cross-key rules (Kafka's
//! ProducerConfig post-processing) run in `validate`, which the clients call again at creation so
//! that setter-built configs are checked as well.

use std::time::Duration;

use crate::error::{ClientError, Result};

mod consumer;
mod producer;

pub use consumer::{AdminConfig, ConsumerConfig};
pub use producer::ProducerConfig;

/// Producer `acks`: how many replicas must have a batch before the broker answers (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`. gRPC has no fire-and-forget, so the client still waits for the response
    /// internally, but reports offset -1 / durability NONE and never retries, like Kafka.
    None,
    /// `acks=1`: the leader appended it.
    Leader,
    /// `acks=all` / `-1`: every ISR member has it.
    All,
}

impl Acks {
    /// The wire value of `ProduceRequest.acks`.
    pub fn wire(self) -> i32 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

impl std::str::FromStr for Acks {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Acks> {
        match s.trim() {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            other => Err(ClientError::config(
                "acks",
                format!("`{other}` is not one of 0, 1, all, -1"),
            )),
        }
    }
}

/// How records are mapped to partitions when the record names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionerKind {
    /// Kafka's default: `toPositive(murmur2(key)) % partitions`; null keys are sticky (one
    /// partition until a batch for it is sent, then another).
    Murmur2,
    /// Every record (keyed or not) goes to the next partition in turn.
    RoundRobin,
}

/// Consumer `auto.offset.reset`: where a partition's position starts when there is no
/// committed offset, or when the position is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// `earliest`: the log start offset.
    Earliest,
    /// `latest` (Kafka's default): the high watermark, i.e. only records written from now on.
    Latest,
    /// `none`: no reset; the consumer fails with `NO_OFFSET_FOR_PARTITION` (or
    /// `OFFSET_OUT_OF_RANGE`) instead.
    None,
}

pub(super) fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| ClientError::config(key, format!("`{value}` is not a valid number")))
}

pub(super) fn parse_ms(key: &str, value: &str) -> Result<Duration> {
    parse_num::<u64>(key, value).map(Duration::from_millis)
}

pub(super) fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ClientError::config(
            key,
            format!("`{other}` is not true or false"),
        )),
    }
}

pub(super) fn parse_servers(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

pub(super) fn positive(key: &str, v: usize) -> Result<usize> {
    if v == 0 {
        return Err(ClientError::config(key, "must be at least 1"));
    }
    Ok(v)
}

pub(super) fn require_servers(servers: &[String]) -> Result<()> {
    if servers.is_empty() {
        return Err(ClientError::config(
            "bootstrap.servers",
            "at least one host:port is required",
        ));
    }
    if let Some(bad) = servers.iter().find(|s| !s.contains(':')) {
        return Err(ClientError::config(
            "bootstrap.servers",
            format!("`{bad}` is not host:port"),
        ));
    }
    Ok(())
}

/// `metrics.sample.window.ms` and `metrics.num.samples` as the metrics module takes them.
pub(super) fn metric_config(window: Duration, samples: usize) -> crate::metrics::MetricConfig {
    crate::metrics::MetricConfig {
        sample_window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        num_samples: samples,
    }
}

/// Kafka requires at least one sample; a window of 0 would make every rate 0, so Brook asks
/// for a positive one.
pub(super) fn validate_metrics(window: Duration, samples: usize) -> Result<()> {
    if window.is_zero() {
        return Err(ClientError::config(
            "metrics.sample.window.ms",
            "must be positive",
        ));
    }
    positive("metrics.num.samples", samples).map(|_| ())
}

#[cfg(test)]
pub(super) fn key_of(e: ClientError) -> String {
    match e {
        ClientError::InvalidConfig { key, .. } => key,
        other => panic!("expected InvalidConfig, got {other}"),
    }
}
