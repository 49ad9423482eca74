//! The JSON-lines events of Kafka's `VerifiableProducer` and `VerifiableConsumer`
//! (`tools/src/main/java/org/apache/kafka/tools/Verifiable*.java`), with Kafka's event names and
//! field names, so that Kafka's own kafkatest parsers can read Brook's output. Brook adds
//! `durability` to `producer_send_success` (what held when the write was acknowledged), and
//! `leader` and `leader_epoch` (who acknowledged it, in which leader epoch); the consumer's
//! `shutdown_complete` carries `end_to_end_latency_ms` (the client's CreateTime → poll
//! histogram) and the producer's final `tool_data` `metrics` (the client's producer-metrics under
//! Kafka's names). Kafka's parsers ignore the extra fields.
//!
//! One event per line: `{"timestamp": 1700000000000, "name": "producer_send_success", ...}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Brook: the consumer's end-to-end latency at shutdown, from each record's CreateTime to the
/// poll that returned it, in ms (`brook_client::EndToEndLatency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Records measured.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl From<brook_client::EndToEndLatency> for LatencySummary {
    fn from(e: brook_client::EndToEndLatency) -> Self {
        LatencySummary {
            count: e.count,
            p50: e.p50_ms,
            p99: e.p99_ms,
            p999: e.p999_ms,
            max: e.max_ms,
        }
    }
}

/// Brook: client metrics by Kafka name (`record-retry-total`, …); `null` where the value is NaN
/// (a windowed average with nothing in its window).
pub type MetricValues = BTreeMap<String, Option<f64>>;

/// A snapshot's metrics of one group as [`MetricValues`].
pub fn metric_values(metrics: &[brook_client::KafkaMetric]) -> MetricValues {
    metrics
        .iter()
        .map(|m| (m.name.to_string(), Some(m.value).filter(|v| v.is_finite())))
        .collect()
}

/// A partition reference as the consumer events spell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPartitionRef {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
}

/// Per-partition summary inside `records_consumed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumedPartition {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// Records of this partition in the poll.
    pub count: u64,
    /// Smallest offset among them (`minOffset` in the JSON).
    pub min_offset: i64,
    /// Largest offset among them (`maxOffset` in the JSON).
    pub max_offset: i64,
}

/// One committed offset inside `offsets_committed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The committed offset: the next offset to read (last consumed + 1).
    pub offset: i64,
}

/// Every event either tool prints. `name` is the tag, as in Kafka. Every event's `timestamp`
/// is when the tool printed it, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Event {
    /// The tool is connected and about to start producing or consuming; it begins a session.
    StartupComplete {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
    },
    /// The tool finished cleanly; always its last line (also after a fatal error).
    ShutdownComplete {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// Brook, consumer only: the end-to-end latency of every record it consumed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_to_end_latency_ms: Option<LatencySummary>,
    },
    /// A write the broker acknowledged.
    ProducerSendSuccess {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// The topic written to.
        topic: String,
        /// The partition the write landed in.
        partition: i32,
        /// The offset it got (-1 when unknown, as with acks=0).
        offset: i64,
        /// The record's key (`null` for null keys).
        key: Option<String>,
        /// The record's value: `N` or `PREFIX.N`.
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
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// The topic written to.
        topic: String,
        /// The record's key (`null` for null keys).
        key: Option<String>,
        /// The record's value.
        value: String,
        /// The Kafka error name (`NOT_ENOUGH_REPLICAS`, …); Kafka's tool prints its Java class
        /// name here.
        exception: String,
        /// The error's full text.
        message: String,
    },
    /// Periodic / final producer statistics.
    ToolData {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// Values handed to the producer so far.
        sent: u64,
        /// Values acknowledged so far.
        acked: u64,
        /// The `--throughput` asked for, in messages per second (-1 = unthrottled).
        target_throughput: i64,
        /// Acknowledged values per second since the start.
        avg_throughput: f64,
        /// Brook, in the final `tool_data`: the producer's metrics by Kafka name
        /// (`record-retry-total`, `record-error-total`, `request-latency-avg`, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<MetricValues>,
    },
    /// The consumer was given these partitions (in assign mode: every partition of the topic,
    /// once, at the start).
    PartitionsAssigned {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// The partitions assigned.
        partitions: Vec<TopicPartitionRef>,
    },
    /// The consumer lost these partitions (group rebalances; Brook's assign-mode tool never
    /// prints it, but parses it).
    PartitionsRevoked {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// The partitions revoked.
        partitions: Vec<TopicPartitionRef>,
    },
    /// One non-empty poll: how many records, and their offset range per partition.
    RecordsConsumed {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// Records in the poll.
        count: u64,
        /// Per-partition counts and offset ranges.
        partitions: Vec<ConsumedPartition>,
    },
    /// One consumed record (`--verbose`).
    RecordData {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// The topic read from.
        topic: String,
        /// The partition read from.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// The record's key, as (lossy) UTF-8; `null` for null keys.
        key: Option<String>,
        /// The record's value, as (lossy) UTF-8; empty for a null value.
        value: String,
    },
    /// The outcome of one offset commit.
    OffsetsCommitted {
        /// When it was printed (ms since the Unix epoch).
        timestamp: i64,
        /// The offsets the commit carried.
        offsets: Vec<CommittedOffset>,
        /// Whether the coordinator accepted them.
        success: bool,
        /// The error's text when it did not.
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
