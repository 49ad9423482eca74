//! The JSON-lines events of Kafka's `VerifiableProducer` and `VerifiableConsumer`
//! (`tools/src/main/java/org/apache/kafka/tools/Verifiable*.java`), with Kafka's event names and
//! field names, so that Kafka's own kafkatest parsers can read Brook's output. Brook adds
//! `durability` to `producer_send_success` (what held when the write was acknowledged), and
//! `leader` and `leader_epoch` (who acknowledged it, in which leader epoch).
//!
//! One event per line: `{"timestamp": 1700000000000, "name": "producer_send_success", ...}`.

use serde::{Deserialize, Serialize};

/// A partition reference as the consumer events spell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPartitionRef {
    pub topic: String,
    pub partition: i32,
}

/// Per-partition summary inside `records_consumed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumedPartition {
    pub topic: String,
    pub partition: i32,
    pub count: u64,
    pub min_offset: i64,
    pub max_offset: i64,
}

/// One committed offset inside `offsets_committed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Every event either tool prints. `name` is the tag, as in Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Event {
    StartupComplete {
        timestamp: i64,
    },
    ShutdownComplete {
        timestamp: i64,
    },
    /// A write the broker acknowledged.
    ProducerSendSuccess {
        timestamp: i64,
        topic: String,
        partition: i32,
        offset: i64,
        key: Option<String>,
        value: String,
        /// Brook: the durability level the acknowledgement reported (`ISR_FLUSHED`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        durability: Option<String>,
        /// Brook: the broker that acknowledged the write, as it named itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader: Option<i32>,
        /// Brook: the leader epoch that broker accepted the write in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader_epoch: Option<i32>,
    },
    /// A write that failed. `exception` carries the Kafka error name; a timeout
    /// (`REQUEST_TIMED_OUT`, `NETWORK_EXCEPTION`, …) means the outcome is unknown, not failed.
    ProducerSendError {
        timestamp: i64,
        topic: String,
        key: Option<String>,
        value: String,
        exception: String,
        message: String,
    },
    /// Periodic / final producer statistics.
    ToolData {
        timestamp: i64,
        sent: u64,
        acked: u64,
        target_throughput: i64,
        avg_throughput: f64,
    },
    PartitionsAssigned {
        timestamp: i64,
        partitions: Vec<TopicPartitionRef>,
    },
    PartitionsRevoked {
        timestamp: i64,
        partitions: Vec<TopicPartitionRef>,
    },
    RecordsConsumed {
        timestamp: i64,
        count: u64,
        partitions: Vec<ConsumedPartition>,
    },
    /// One consumed record (`--verbose`).
    RecordData {
        timestamp: i64,
        topic: String,
        partition: i32,
        offset: i64,
        key: Option<String>,
        value: String,
    },
    OffsetsCommitted {
        timestamp: i64,
        offsets: Vec<CommittedOffset>,
        success: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl Event {
    /// The event as one JSON line (no trailing newline).
    pub fn to_line(&self) -> String {
        // Serializing these plain structs cannot fail; fall back to an empty object regardless.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Parses one line; unknown event names are an error the caller may skip.
    pub fn from_line(line: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(line)
    }
}

/// Wall-clock milliseconds since the Unix epoch: the timestamp on every event.
pub use brook_log::clock::unix_now_ms as now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_use_kafkas_names_and_fields() {
        let e = Event::ProducerSendSuccess {
            timestamp: 1,
            topic: "t".into(),
            partition: 0,
            offset: 5,
            key: None,
            value: "7".into(),
            durability: Some("ISR_FLUSHED".into()),
            leader: Some(2),
            leader_epoch: Some(4),
        };
        let line = e.to_line();
        assert!(line.contains(r#""name":"producer_send_success""#), "{line}");
        assert!(line.contains(r#""leader":2,"leader_epoch":4"#), "{line}");
        assert_eq!(Event::from_line(&line).unwrap(), e);
        let c = Event::RecordsConsumed {
            timestamp: 1,
            count: 2,
            partitions: vec![ConsumedPartition {
                topic: "t".into(),
                partition: 0,
                count: 2,
                min_offset: 3,
                max_offset: 4,
            }],
        };
        let line = c.to_line();
        assert!(
            line.contains(r#""minOffset":3"#) && line.contains(r#""maxOffset":4"#),
            "{line}"
        );
        // A Kafka line (without Brook's durability) parses too.
        let kafka = r#"{"timestamp":1,"name":"producer_send_success","topic":"t","partition":1,"offset":2,"key":null,"value":"9"}"#;
        assert!(matches!(
            Event::from_line(kafka).unwrap(),
            Event::ProducerSendSuccess {
                durability: None,
                leader: None,
                leader_epoch: None,
                ..
            }
        ));
    }
}
