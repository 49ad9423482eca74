//! Topic names and what creating a topic asks for: shared by the controller core (which
//! validates and assigns), the broker (which names partition directories after them) and the
//! admin services. Plain data and plain functions, so the controller does not import the broker.

use std::collections::BTreeMap;

use brook_proto::ErrorCode;

use crate::error::{BrokerError, Result};

/// What CreateTopics asks for.
#[derive(Debug, Clone)]
pub struct NewTopic {
    /// The topic's name ([`validate_topic_name`]).
    pub name: String,
    /// Number of partitions; -1: the broker default (`num.partitions`).
    pub partitions: i32,
    /// Replication factor; -1: the broker default (`default.replication.factor`).
    pub replication_factor: i32,
    /// Topic config overrides.
    pub configs: BTreeMap<String, String>,
    /// Manual replica assignment, one replica list per partition (empty: automatic).
    pub assignments: Vec<Vec<i32>>,
}

/// `<topic>-<partition>`, the partition's directory name.
pub fn log_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

pub(crate) fn split_name(name: &str) -> Option<(String, i32)> {
    let (t, p) = name.rsplit_once('-')?;
    Some((t.to_string(), p.parse().ok()?))
}

/// Kafka's topic name rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`; names
/// starting with `__` are reserved for internal topics.
pub fn validate_topic_name(name: &str, internal: bool) -> Result<()> {
    let bad = |why: &str| {
        Err(BrokerError::new(
            ErrorCode::InvalidTopicException,
            format!("topic name '{name}': {why}"),
        ))
    };
    if name.is_empty() || name.len() > 249 {
        return bad("must be 1 to 249 characters");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("only a-z, A-Z, 0-9, '.', '_' and '-' are allowed");
    }
    if name.starts_with("__") && !internal {
        return bad("names starting with '__' are reserved for internal topics");
    }
    Ok(())
}
