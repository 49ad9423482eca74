//! The dead-letter helpers (seed §7.4.3 and §7.5.2): records that cannot be delivered, or cannot
//! be processed, go to a dead-letter topic with the failure in headers instead of being lost or
//! blocking the rest.
//!
//! This file is the producer side: [`DeadLetterProducer`], a producer wrapper that, when a
//! record's delivery fails for good — a non-retriable error, or retries exhausted /
//! `delivery.timeout.ms` expired — writes the record to a dead-letter topic and reports both
//! outcomes to the caller. [`consumer`] is the consumer side: [`RetryingHandler`] retries an
//! application's processing of a consumed record with backoff, dead-letters the record after the
//! last failed attempt, and tracks the offsets to commit past it.
//!
//! Headers added to a dead-lettered copy (the original key, value, headers and timestamp are
//! kept), named by the constants below: `dlq.error` (an error name: Kafka's for delivery
//! failures, the handler's for processing failures), `dlq.error.message` (the full error text),
//! `dlq.original.topic`, `dlq.original.partition` (decimal; -1 if the producer chose none);
//! consumer side also `dlq.original.offset` and `dlq.attempts` (decimal).

pub mod consumer;

use bytes::Bytes;

use crate::error::ClientError;
use crate::producer::{Producer, ProducerRecord, RecordMetadata};
pub use consumer::{DeadLetterSink, Handled, HandlerError, RetryPolicy, RetryingHandler};

/// Header naming the error: Kafka's error name (`MESSAGE_TOO_LARGE`) for a delivery failure,
/// the handler's error name for a processing failure.
pub const ERROR_HEADER: &str = "dlq.error";
/// Header holding the full error text.
pub const ERROR_MESSAGE_HEADER: &str = "dlq.error.message";
/// Header naming the topic the record was meant for / read from.
pub const ORIGINAL_TOPIC_HEADER: &str = "dlq.original.topic";
/// Header holding the record's partition in decimal (-1: the producer had not chosen one).
pub const ORIGINAL_PARTITION_HEADER: &str = "dlq.original.partition";
/// Header holding the consumed record's offset in decimal (consumer side only).
pub const ORIGINAL_OFFSET_HEADER: &str = "dlq.original.offset";
/// Header holding how many processing attempts failed, in decimal (consumer side only).
pub const ATTEMPTS_HEADER: &str = "dlq.attempts";

/// A header with a string value.
fn header(key: &str, value: impl Into<String>) -> (String, Option<Bytes>) {
    (key.to_string(), Some(Bytes::from(value.into())))
}

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
        headers.push(header(ERROR_HEADER, error.name()));
        headers.push(header(ERROR_MESSAGE_HEADER, error.to_string()));
        headers.push(header(ORIGINAL_TOPIC_HEADER, original.topic));
        headers.push(header(ORIGINAL_PARTITION_HEADER, partition.to_string()));
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
