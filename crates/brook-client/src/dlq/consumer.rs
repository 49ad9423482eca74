//! Consumer-side retry, then dead letter (seed §7.5.2, "재시도 / 데드레터"): a record whose
//! processing fails is tried again with backoff, and after the last failed attempt it is written
//! to a dead-letter topic, so one poisoned record neither blocks its partition nor is skipped
//! silently. Only once it is processed or its dead letter is acknowledged does it count as
//! handled, and only handled records move the offsets [`RetryingHandler::commit`] commits.
//!
//! The pieces that decide are plain code: [`RetryPolicy`] maps a failure count to a delay or to
//! "dead-letter it" (Kafka's exponential backoff without jitter: one record's retries need no
//! herd avoidance), [`dead_letter_record`] builds the copy with its headers, and the handler's
//! offset bookkeeping is a map. [`RetryingHandler::handle`] only runs the application's handler,
//! sleeps the policy's delays and hands the copy to a [`DeadLetterSink`] (a [`Producer`], or a
//! fake in tests).
//!
//! What the strategy promises: nothing is lost (a record is committed past only after it was
//! processed or its dead letter was acknowledged); the handler may run up to
//! `max_attempts` times for one record (side effects must be idempotent); a crash between the
//! dead letter and the commit writes the dead letter again when the record is re-read.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tracing::{debug, warn};

use super::{
    ATTEMPTS_HEADER, ERROR_HEADER, ERROR_MESSAGE_HEADER, ORIGINAL_OFFSET_HEADER,
    ORIGINAL_PARTITION_HEADER, ORIGINAL_TOPIC_HEADER, header,
};
use crate::backoff::ExponentialBackoff;
use crate::consumer::{Consumer, ConsumerRecord};
use crate::error::{ClientError, Result};
use crate::producer::{Producer, ProducerRecord, RecordMetadata};
use crate::topic_partition::TopicPartition;

/// The default dead-letter topic of a source topic is `<topic>` followed by this.
pub const DEFAULT_DLQ_SUFFIX: &str = ".dlq";

/// How often a record's processing is tried and how long to wait between tries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: ExponentialBackoff,
}

impl RetryPolicy {
    /// At most `max_attempts` tries per record (0 counts as 1), waiting 100 ms after the first
    /// failure and doubling up to 1 s.
    pub fn new(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            backoff: ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        }
    }

    /// Waits `initial` after the first failure, doubling up to `max`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> RetryPolicy {
        self.backoff = ExponentialBackoff::new(initial, max);
        self
    }

    /// How many tries a record gets before it is dead-lettered.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// After `failed` tries have failed (1 for the first): how long to wait before the next, or
    /// `None` when that was the last try and the record goes to the dead-letter topic.
    pub fn next_delay(&self, failed: u32) -> Option<Duration> {
        if failed >= self.max_attempts {
            return None;
        }
        // unit 0.5: no jitter.
        Some(self.backoff.delay_with(failed.saturating_sub(1), 0.5))
    }
}

/// Why the application's handler failed on a record: a short name (for the `dlq.error` header)
/// and the full text (`dlq.error.message`). Any `std::error::Error` converts into one with `?`,
/// named after its type (`ParseIntError`); [`HandlerError::new`] names it explicitly (a
/// [`ClientError`] by its Kafka name: `HandlerError::new(e.name(), e.to_string())`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    name: String,
    message: String,
}

impl HandlerError {
    /// An error with this name and message.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> HandlerError {
        HandlerError {
            name: name.into(),
            message: message.into(),
        }
    }

    /// The error's name (the `dlq.error` header).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error's text (the `dlq.error.message` header).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

// Not `std::error::Error` itself, so that this blanket conversion does not overlap the
// reflexive `From<T> for T` (anyhow's trick).
impl<E: std::error::Error> From<E> for HandlerError {
    fn from(e: E) -> HandlerError {
        HandlerError::new(short_type_name::<E>(), e.to_string())
    }
}

/// `core::num::error::ParseIntError` → `ParseIntError` (generic arguments dropped).
fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// Where dead letters are written: a [`Producer`] (each write waits for its acknowledgement),
/// or anything else that acknowledges a record (tests use an in-memory one).
pub trait DeadLetterSink {
    /// Writes `record` and resolves once it is acknowledged, or with why it was not.
    fn write(&self, record: ProducerRecord) -> impl Future<Output = Result<RecordMetadata>> + Send;
}

impl DeadLetterSink for Producer {
    fn write(&self, record: ProducerRecord) -> impl Future<Output = Result<RecordMetadata>> + Send {
        self.send_and_wait(record)
    }
}

/// What [`RetryingHandler::handle`] did with a record. Either way the record is handled: the
/// offsets to commit are past it.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// The handler succeeded on try `attempts` (1: at once).
    Processed {
        /// Tries it took, the successful one included.
        attempts: u32,
    },
    /// Every try failed; the record's copy is in the dead-letter topic.
    DeadLettered {
        /// Tries made (the policy's `max_attempts`).
        attempts: u32,
        /// The last try's error (what the headers name).
        error: HandlerError,
        /// Where the dead letter landed.
        dead_letter: RecordMetadata,
    },
}

/// The dead-letter copy of `record` for `dlq_topic`: key, value, headers and timestamp kept,
/// plus `dlq.error`, `dlq.error.message`, `dlq.original.topic`, `dlq.original.partition`,
/// `dlq.original.offset` and `dlq.attempts`. The partition is left to the partitioner (by key).
pub fn dead_letter_record(
    record: &ConsumerRecord,
    dlq_topic: &str,
    error: &HandlerError,
    attempts: u32,
) -> ProducerRecord {
    let mut headers = record.headers.clone();
    headers.push(header(ERROR_HEADER, error.name()));
    headers.push(header(ERROR_MESSAGE_HEADER, error.message()));
    headers.push(header(ORIGINAL_TOPIC_HEADER, record.topic.as_str()));
    headers.push(header(
        ORIGINAL_PARTITION_HEADER,
        record.partition.to_string(),
    ));
    headers.push(header(ORIGINAL_OFFSET_HEADER, record.offset.to_string()));
    headers.push(header(ATTEMPTS_HEADER, attempts.to_string()));
    ProducerRecord {
        topic: dlq_topic.to_string(),
        partition: None,
        key: record.key.clone(),
        value: record.value.clone(),
        headers,
        timestamp: Some(record.timestamp),
    }
}

/// The value of header `key` of a record as text (the last one of that name), if present and
/// valid UTF-8: how a reader of the dead-letter topic gets at `dlq.original.offset` and the rest.
pub fn header_str<'a>(headers: &'a [(String, Option<Bytes>)], key: &str) -> Option<&'a str> {
    headers
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_deref())
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// Runs an application's handler on consumed records with retries ([`RetryPolicy`]), writes a
/// record whose every try failed to its dead-letter topic (`<topic>.dlq` unless configured), and
/// keeps the offsets past every handled record for [`commit`](RetryingHandler::commit).
///
/// Records of one partition must be handled in offset order (as `poll` returns them). If a dead
/// letter cannot be written, `handle` returns the error and the record stays unhandled: later
/// records of its partition are refused (`ILLEGAL_STATE`) until the same record is handled again,
/// so the offsets never skip it. Seek the consumer back to it (`consumer.seek(&tp, offset)`), or
/// stop without committing and let the next owner re-read it.
#[derive(Debug)]
pub struct RetryingHandler<S = Producer> {
    sink: S,
    policy: RetryPolicy,
    dlq_topic: Option<String>,
    dlq_suffix: String,
    /// Per partition, the offset after the last handled record, not yet committed.
    pending: BTreeMap<TopicPartition, i64>,
    /// Per partition, a record whose dead letter failed: nothing after it may be handled first.
    blocked: BTreeMap<TopicPartition, i64>,
}

impl<S: DeadLetterSink> RetryingHandler<S> {
    /// Dead letters go through `sink` (a [`Producer`]: the dead-letter topics must exist like
    /// any other); each record gets the tries `policy` allows.
    pub fn new(sink: S, policy: RetryPolicy) -> RetryingHandler<S> {
        RetryingHandler {
            sink,
            policy,
            dlq_topic: None,
            dlq_suffix: DEFAULT_DLQ_SUFFIX.to_string(),
            pending: BTreeMap::new(),
            blocked: BTreeMap::new(),
        }
    }

    /// Every dead letter goes to `topic`, whatever topic the record came from.
    pub fn dlq_topic(mut self, topic: impl Into<String>) -> RetryingHandler<S> {
        self.dlq_topic = Some(topic.into());
        self
    }

    /// Dead letters of topic `t` go to `t` + `suffix` (default `.dlq`), unless
    /// [`dlq_topic`](RetryingHandler::dlq_topic) names one topic for all.
    pub fn dlq_suffix(mut self, suffix: impl Into<String>) -> RetryingHandler<S> {
        self.dlq_suffix = suffix.into();
        self
    }

    /// The dead-letter topic for records of `source`.
    pub fn dlq_topic_for(&self, source: &str) -> String {
        match &self.dlq_topic {
            Some(t) => t.clone(),
            None => format!("{source}{}", self.dlq_suffix),
        }
    }

    /// The retry policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The sink dead letters are written to.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Runs `handler` on `record` until it succeeds or the policy's tries are used up, waiting
    /// the policy's delay between tries; then writes the dead letter and waits for its
    /// acknowledgement. Either way the record is handled and the offsets to commit move past
    /// it. Errors: the dead letter could not be written (the record stays unhandled, see the
    /// type's docs), or `ILLEGAL_STATE` for a record after one whose dead letter failed.
    pub async fn handle<F>(&mut self, record: &ConsumerRecord, mut handler: F) -> Result<Handled>
    where
        F: AsyncFnMut(&ConsumerRecord) -> std::result::Result<(), HandlerError>,
    {
        let tp = TopicPartition::new(record.topic.as_str(), record.partition);
        if let Some(&stuck) = self.blocked.get(&tp) {
            if stuck != record.offset {
                return Err(ClientError::IllegalState(format!(
                    "{tp}: the dead letter of offset {stuck} was not written; seek back to it \
                     before handling offset {}",
                    record.offset
                )));
            }
        }
        let mut failed = 0;
        let error = loop {
            match handler(record).await {
                Ok(()) => {
                    self.handled(tp, record.offset);
                    return Ok(Handled::Processed {
                        attempts: failed + 1,
                    });
                }
                Err(e) => {
                    failed += 1;
                    match self.policy.next_delay(failed) {
                        Some(delay) => {
                            debug!(%tp, offset = record.offset, attempt = failed, error = %e,
                                "processing failed; retrying in {} ms", delay.as_millis());
                            tokio::time::sleep(delay).await;
                        }
                        None => break e,
                    }
                }
            }
        };
        let topic = self.dlq_topic_for(&record.topic);
        warn!(%tp, offset = record.offset, attempts = failed, error = %error, dlq = %topic,
            "processing failed on every try; dead-lettering the record");
        let dead = dead_letter_record(record, &topic, &error, failed);
        match self.sink.write(dead).await {
            Ok(dead_letter) => {
                self.handled(tp, record.offset);
                Ok(Handled::DeadLettered {
                    attempts: failed,
                    error,
                    dead_letter,
                })
            }
            Err(e) => {
                warn!(%tp, offset = record.offset, error = %e, dlq = %topic,
                    "writing the dead letter failed; the record stays unhandled");
                self.blocked.insert(tp, record.offset);
                Err(e)
            }
        }
    }

    /// [`handle`](RetryingHandler::handle) for each record in order; stops at the first error.
    pub async fn handle_all<F>(
        &mut self,
        records: &[ConsumerRecord],
        mut handler: F,
    ) -> Result<Vec<Handled>>
    where
        F: AsyncFnMut(&ConsumerRecord) -> std::result::Result<(), HandlerError>,
    {
        let mut out = Vec::with_capacity(records.len());
        for r in records {
            out.push(self.handle(r, &mut handler).await?);
        }
        Ok(out)
    }

    fn handled(&mut self, tp: TopicPartition, offset: i64) {
        self.blocked.remove(&tp);
        self.pending.insert(tp, offset + 1);
    }

    /// The offsets past every record handled since the last commit, per partition (each the
    /// next offset to read), as `commit_sync_offsets` takes them.
    pub fn offsets(&self) -> BTreeMap<TopicPartition, i64> {
        self.pending.clone()
    }

    /// Commits [`offsets`](RetryingHandler::offsets) through `consumer` (`commit_sync_offsets`);
    /// on success they are no longer pending. Nothing pending: no request.
    pub async fn commit(&mut self, consumer: &mut Consumer) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        consumer.commit_sync_offsets(self.pending.clone()).await?;
        self.pending.clear();
        Ok(())
    }

    /// Drops pending offsets and blocks of `partitions` (revoked or lost: their next owner
    /// starts from the group's committed offset).
    pub fn forget(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.pending.remove(tp);
            self.blocked.remove(tp);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use brook_proto::Durability;

    use super::*;

    /// Acknowledges every record at the next offset of its topic, or fails them all.
    #[derive(Debug, Default, Clone)]
    struct MemorySink {
        written: Arc<Mutex<Vec<ProducerRecord>>>,
        fail: Option<ClientError>,
    }

    impl DeadLetterSink for MemorySink {
        fn write(
            &self,
            record: ProducerRecord,
        ) -> impl Future<Output = Result<RecordMetadata>> + Send {
            let out = match &self.fail {
                Some(e) => Err(e.clone()),
                None => {
                    let mut written = self.written.lock().unwrap();
                    let offset = written.iter().filter(|r| r.topic == record.topic).count();
                    let md = RecordMetadata {
                        topic: record.topic.clone(),
                        partition: 0,
                        offset: offset as i64,
                        timestamp: record.timestamp.unwrap_or(0),
                        durability: Durability::IsrFlushed,
                        leader_id: 1,
                        leader_epoch: 0,
                    };
                    written.push(record);
                    Ok(md)
                }
            };
            std::future::ready(out)
        }
    }

    fn record(topic: &str, partition: i32, offset: i64, value: &str) -> ConsumerRecord {
        ConsumerRecord {
            topic: topic.into(),
            partition,
            offset,
            timestamp: 1_700_000_000_000 + offset,
            timestamp_type: crate::consumer::TimestampType::CreateTime,
            key: Some(Bytes::from(format!("k{offset}"))),
            value: Some(Bytes::from(value.to_string())),
            headers: vec![("app".into(), Some(Bytes::from_static(b"billing")))],
            leader_epoch: Some(0),
        }
    }

    fn fast(attempts: u32) -> RetryPolicy {
        RetryPolicy::new(attempts).backoff(Duration::from_millis(1), Duration::from_millis(4))
    }

    /// A handler that fails on values starting with "poison" and counts its calls.
    fn poison_handler(
        calls: &Arc<Mutex<u32>>,
    ) -> impl AsyncFnMut(&ConsumerRecord) -> std::result::Result<(), HandlerError> {
        let calls = calls.clone();
        async move |r: &ConsumerRecord| {
            *calls.lock().unwrap() += 1;
            let v = std::str::from_utf8(r.value.as_deref().unwrap_or_default()).unwrap();
            if v.starts_with("poison") {
                Err(HandlerError::new(
                    "InvalidOrder",
                    format!("cannot parse {v:?}"),
                ))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn dlq_policy_allows_max_attempts_with_doubling_capped_delays() {
        let p = RetryPolicy::new(5).backoff(Duration::from_millis(10), Duration::from_millis(30));
        let delays: Vec<Option<Duration>> = (1..=5).map(|f| p.next_delay(f)).collect();
        let ms = Duration::from_millis;
        assert_eq!(
            delays,
            vec![Some(ms(10)), Some(ms(20)), Some(ms(30)), Some(ms(30)), None]
        );
        assert_eq!(RetryPolicy::new(0).max_attempts(), 1);
        assert_eq!(RetryPolicy::new(0).next_delay(1), None);
    }

    #[test]
    fn dlq_record_keeps_the_record_and_names_error_source_and_attempts() {
        let r = record("orders", 2, 41, "poison");
        let e = HandlerError::new("InvalidOrder", "cannot parse \"poison\"");
        let d = dead_letter_record(&r, "orders.dlq", &e, 3);
        assert_eq!(d.topic, "orders.dlq");
        assert_eq!(d.partition, None);
        assert_eq!((d.key, d.value), (r.key.clone(), r.value.clone()));
        assert_eq!(d.timestamp, Some(r.timestamp));
        let h = |k| header_str(&d.headers, k);
        assert_eq!(h("app"), Some("billing"), "original headers are kept");
        assert_eq!(h("dlq.error"), Some("InvalidOrder"));
        assert_eq!(h("dlq.error.message"), Some("cannot parse \"poison\""));
        assert_eq!(h("dlq.original.topic"), Some("orders"));
        assert_eq!(h("dlq.original.partition"), Some("2"));
        assert_eq!(h("dlq.original.offset"), Some("41"));
        assert_eq!(h("dlq.attempts"), Some("3"));
    }

    #[test]
    fn dlq_handler_error_from_a_std_error_is_named_after_its_type() {
        let e: HandlerError = "x".parse::<i32>().unwrap_err().into();
        assert_eq!(e.name(), "ParseIntError");
        assert_eq!(e.message(), "invalid digit found in string");
        assert_eq!(short_type_name::<Vec<std::io::Error>>(), "Vec");
    }

    #[tokio::test]
    async fn dlq_poisoned_record_is_tried_max_attempts_then_dead_lettered_and_passed() {
        let sink = MemorySink::default();
        let mut h = RetryingHandler::new(sink.clone(), fast(3));
        let calls = Arc::new(Mutex::new(0));
        let mut handler = poison_handler(&calls);
        let good = h.handle(&record("orders", 0, 7, "ok"), &mut handler).await;
        assert_eq!(good.unwrap(), Handled::Processed { attempts: 1 });
        let bad = h
            .handle(&record("orders", 0, 8, "poison"), &mut handler)
            .await;
        let Handled::DeadLettered {
            attempts,
            error,
            dead_letter,
        } = bad.unwrap()
        else {
            panic!("the poisoned record was not dead-lettered");
        };
        assert_eq!(attempts, 3);
        assert_eq!(
            *calls.lock().unwrap(),
            1 + 3,
            "one try for the good record, three for the bad"
        );
        assert_eq!(error.name(), "InvalidOrder");
        assert_eq!(
            (dead_letter.topic.as_str(), dead_letter.offset),
            ("orders.dlq", 0)
        );
        let written = sink.written.lock().unwrap().clone();
        assert_eq!(written.len(), 1);
        assert_eq!(
            header_str(&written[0].headers, "dlq.original.offset"),
            Some("8")
        );
        assert_eq!(header_str(&written[0].headers, "dlq.attempts"), Some("3"));
        // The commit goes past the dead-lettered record.
        let tp = TopicPartition::new("orders", 0);
        assert_eq!(h.offsets(), BTreeMap::from([(tp, 9)]));
    }

    #[tokio::test]
    async fn dlq_record_that_recovers_on_a_retry_is_processed_not_dead_lettered() {
        let sink = MemorySink::default();
        let mut h = RetryingHandler::new(sink.clone(), fast(3)).dlq_topic("all-failures");
        let mut failures_left = 2;
        let out = h
            .handle(
                &record("orders", 1, 0, "flaky"),
                async |_r: &ConsumerRecord| {
                    if failures_left > 0 {
                        failures_left -= 1;
                        Err(HandlerError::new("Timeout", "db busy"))
                    } else {
                        Ok(())
                    }
                },
            )
            .await
            .unwrap();
        assert_eq!(out, Handled::Processed { attempts: 3 });
        assert!(sink.written.lock().unwrap().is_empty());
        assert_eq!(h.dlq_topic_for("orders"), "all-failures");
        assert_eq!(
            h.offsets(),
            BTreeMap::from([(TopicPartition::new("orders", 1), 1)])
        );
    }

    #[tokio::test]
    async fn dlq_write_failure_leaves_the_record_unhandled_and_blocks_its_partition() {
        let sink = MemorySink {
            fail: Some(ClientError::kafka(
                brook_proto::ErrorCode::UnknownTopicOrPartition,
                "orders.dlq",
            )),
            ..MemorySink::default()
        };
        let mut h = RetryingHandler::new(sink, fast(2)).dlq_suffix("-dead");
        assert_eq!(h.dlq_topic_for("orders"), "orders-dead");
        let calls = Arc::new(Mutex::new(0));
        let mut handler = poison_handler(&calls);
        h.handle(&record("orders", 0, 4, "ok"), &mut handler)
            .await
            .unwrap();
        let err = h
            .handle(&record("orders", 0, 5, "poison"), &mut handler)
            .await
            .unwrap_err();
        assert_eq!(err.name(), "UNKNOWN_TOPIC_OR_PARTITION");
        let tp = TopicPartition::new("orders", 0);
        assert_eq!(
            h.offsets(),
            BTreeMap::from([(tp.clone(), 5)]),
            "not past offset 5"
        );
        // The next record of that partition is refused; other partitions go on.
        let refused = h.handle(&record("orders", 0, 6, "ok"), &mut handler).await;
        assert_eq!(refused.unwrap_err().name(), "ILLEGAL_STATE");
        h.handle(&record("orders", 1, 0, "ok"), &mut handler)
            .await
            .unwrap();
        // After a seek back the same record is accepted again (here it fails again).
        let again = h
            .handle(&record("orders", 0, 5, "poison"), &mut handler)
            .await;
        assert!(again.is_err());
        h.forget(std::slice::from_ref(&tp));
        assert_eq!(
            h.offsets(),
            BTreeMap::from([(TopicPartition::new("orders", 1), 1)])
        );
        let after_forget = h.handle(&record("orders", 0, 6, "ok"), &mut handler).await;
        assert!(
            after_forget.is_ok(),
            "a forgotten partition is no longer blocked"
        );
    }

    #[tokio::test]
    async fn dlq_handle_all_handles_in_order_and_counts_each_outcome() {
        let sink = MemorySink::default();
        let mut h = RetryingHandler::new(sink.clone(), fast(2));
        let calls = Arc::new(Mutex::new(0));
        let records: Vec<ConsumerRecord> = ["a", "poison-1", "b", "poison-2", "c"]
            .iter()
            .enumerate()
            .map(|(i, v)| record("orders", 0, i as i64, v))
            .collect();
        let out = h
            .handle_all(&records, poison_handler(&calls))
            .await
            .unwrap();
        let dead = out
            .iter()
            .filter(|o| matches!(o, Handled::DeadLettered { .. }))
            .count();
        assert_eq!((out.len(), dead), (5, 2));
        assert_eq!(*calls.lock().unwrap(), 3 + 2 * 2);
        let written = sink.written.lock().unwrap().clone();
        let offsets: Vec<Option<&str>> = written
            .iter()
            .map(|r| header_str(&r.headers, "dlq.original.offset"))
            .collect();
        assert_eq!(offsets, vec![Some("1"), Some("3")]);
        assert_eq!(
            h.offsets(),
            BTreeMap::from([(TopicPartition::new("orders", 0), 5)])
        );
    }
}
