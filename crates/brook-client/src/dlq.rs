//! The dead-letter helper (seed §7.4.3): a producer wrapper that, when a record's delivery fails
//! for good — a non-retriable error, or retries exhausted / `delivery.timeout.ms` expired —
//! writes the record to a dead-letter topic with the failure in headers, and reports both
//! outcomes to the caller.
//!
//! Headers added to the dead-lettered copy (the original key, value, headers and timestamp are
//! kept): `dlq.error` (Kafka error name), `dlq.error.message` (the full error text),
//! `dlq.original.topic`, `dlq.original.partition` (decimal; -1 if no partition was chosen).

use bytes::Bytes;

use crate::error::ClientError;
use crate::producer::{Producer, ProducerRecord, RecordMetadata};

/// What happened to a record sent through a `DeadLetterProducer`.
#[derive(Debug, Clone, PartialEq)]
pub enum DlqOutcome {
    /// Delivered to its topic.
    Delivered(RecordMetadata),
    /// Delivery failed with `error`; `dead_letter` is the result of writing it to the DLQ.
    DeadLettered {
        /// The final error of the delivery to the record's own topic.
        error: ClientError,
        /// Where the copy landed in the dead-letter topic, or why writing it failed too.
        dead_letter: Result<RecordMetadata, ClientError>,
    },
}

impl DlqOutcome {
    /// True when the record reached its own topic.
    pub fn is_delivered(&self) -> bool {
        matches!(self, DlqOutcome::Delivered(_))
    }
}

/// A [`Producer`] that writes records whose delivery failed for good to a dead-letter topic
/// (see the module docs for the headers it adds). Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeadLetterProducer {
    producer: Producer,
    dlq_topic: String,
}

impl DeadLetterProducer {
    /// Wraps `producer`; failed records go to `dlq_topic` through the same producer, so that
    /// topic must exist like any other (the producer does not create topics).
    pub fn new(producer: Producer, dlq_topic: impl Into<String>) -> DeadLetterProducer {
        DeadLetterProducer {
            producer,
            dlq_topic: dlq_topic.into(),
        }
    }

    /// The wrapped producer (for `flush`, `close`, metrics).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// The dead-letter topic's name.
    pub fn dlq_topic(&self) -> &str {
        &self.dlq_topic
    }

    /// Sends `record` and waits for its outcome, dead-lettering it if delivery fails. The
    /// producer has already retried retriable errors until its limits, so every error that
    /// reaches here is final (errors at `send` time, such as MESSAGE_TOO_LARGE, included).
    pub async fn send(&self, record: ProducerRecord) -> DlqOutcome {
        let copy = record.clone();
        let result = match self.producer.send(record).await {
            Ok(delivery) => delivery.await,
            Err(e) => Err(e),
        };
        match result {
            Ok(md) => DlqOutcome::Delivered(md),
            // A closed producer cannot write the dead letter either.
            Err(ClientError::Closed) => DlqOutcome::DeadLettered {
                error: ClientError::Closed,
                dead_letter: Err(ClientError::Closed),
            },
            Err(error) => {
                tracing::warn!(
                    topic = %copy.topic,
                    error = %error,
                    dlq = %self.dlq_topic,
                    "delivery failed; dead-lettering the record"
                );
                let dead = self.dead_letter(copy, &error);
                let dead_letter = self.producer.send_and_wait(dead).await;
                DlqOutcome::DeadLettered { error, dead_letter }
            }
        }
    }

    fn dead_letter(&self, original: ProducerRecord, error: &ClientError) -> ProducerRecord {
        let partition = original.partition.unwrap_or(-1);
        let mut headers = original.headers;
        headers.push((
            "dlq.error".into(),
            Some(Bytes::from_static(error.name().as_bytes())),
        ));
        headers.push((
            "dlq.error.message".into(),
            Some(Bytes::from(error.to_string())),
        ));
        headers.push((
            "dlq.original.topic".into(),
            Some(Bytes::from(original.topic)),
        ));
        headers.push((
            "dlq.original.partition".into(),
            Some(Bytes::from(partition.to_string())),
        ));
        ProducerRecord {
            topic: self.dlq_topic.clone(),
            partition: None,
            key: original.key,
            value: original.value,
            headers,
            timestamp: original.timestamp,
        }
    }
}
