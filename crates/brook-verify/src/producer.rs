//! The verifiable producer (Kafka's `VerifiableProducer`, rules V1/V2): sends the values
//! `0, 1, 2, …` (or `PREFIX.0, PREFIX.1, …`) to a topic, optionally throttled, and reports the
//! outcome of every single send as a JSON line, so that a checker can compare what the producer
//! was told with what a consumer later reads.
//!
//! Sends are pipelined through the batching producer (`Producer::send` returns a delivery
//! future at once) and each outcome is reported as it resolves; otherwise the tool would measure
//! one round trip per record instead of the broker.
//!
//! As in Kafka the tool sets `retries=0` unless the configuration says otherwise (or asks for
//! idempotence): the point is to see failures, not to hide them behind retries.

use std::io::Write;
use std::pin::Pin;
use std::time::Duration;

use brook_client::{Acks, ClientError, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
use brook_proto::net::Channels;
use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use crate::events::{Event, metric_values, now_ms};
use crate::tool::{EventWriter, ToolError};
pub use crate::tool::{StopSignal, load_properties};

/// Deliveries outstanding at most before the send loop waits for the oldest; bounds the memory
/// of the futures (the producer's `buffer.memory` bounds the bytes).
const MAX_OUTSTANDING: usize = 100_000;

/// Unthrottled, the send loop yields this often so that the producer's sender task (and the
/// broker, in process) get to run even on a current-thread runtime.
const YIELD_EVERY: u64 = 256;

/// What to send and how. `new` gives Kafka's defaults.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// The topic to write to.
    pub topic: String,
    /// `host:port[,host:port…]`.
    pub bootstrap_servers: String,
    /// Values to send; -1 = until stopped.
    pub max_messages: i64,
    /// Target messages per second; -1 = unthrottled.
    pub throughput: i64,
    /// Wins over an `acks` in `producer_config`, as Kafka's `--acks` does.
    pub acks: Acks,
    /// Values become `PREFIX.N`.
    pub value_prefix: Option<String>,
    /// Keys cycle through `"0"…"K-1"`; `None` = null keys.
    pub repeating_keys: Option<u32>,
    /// Kafka producer keys (`enable.idempotence`, `retries`, `delivery.timeout.ms`, …), e.g.
    /// the contents of `--producer.config FILE`. Applied after the tool's own defaults.
    pub producer_config: Vec<(String, String)>,
    /// Raise to finish: outstanding sends are still reported, then `tool_data` and
    /// `shutdown_complete`.
    pub stop: StopSignal,
}

impl ProducerOptions {
    /// Options to write to `topic` via `bootstrap_servers`: unthrottled, until stopped,
    /// `acks=all`, values `0, 1, 2, …` with null keys, no extra producer keys.
    pub fn new(topic: impl Into<String>, bootstrap_servers: impl Into<String>) -> Self {
        ProducerOptions {
            topic: topic.into(),
            bootstrap_servers: bootstrap_servers.into(),
            max_messages: -1,
            throughput: -1,
            acks: Acks::All,
            value_prefix: None,
            repeating_keys: None,
            producer_config: Vec::new(),
            stop: StopSignal::new(),
        }
    }

    /// The producer configuration the tool runs with: bootstrap servers, `retries=0` unless
    /// the caller sets `retries` or turns idempotence on (which needs retries), the caller's
    /// keys, and finally `acks`.
    pub fn client_config(&self) -> Result<ProducerConfig, ClientError> {
        let has = |key: &str| self.producer_config.iter().any(|(k, _)| k == key);
        let idempotent = self
            .producer_config
            .iter()
            .any(|(k, v)| k == "enable.idempotence" && v.trim() == "true");
        let mut config = ProducerConfig::new(&self.bootstrap_servers);
        if !has("retries") && !idempotent {
            config.set("retries", "0")?;
        }
        for (k, v) in &self.producer_config {
            config.set(k, v)?;
        }
        config.acks = self.acks;
        config.validate()?;
        Ok(config)
    }

    fn value(&self, n: u64) -> String {
        match &self.value_prefix {
            Some(p) => format!("{p}.{n}"),
            None => n.to_string(),
        }
    }

    fn key(&self, n: u64) -> Option<String> {
        self.repeating_keys
            .filter(|&k| k > 0)
            .map(|k| (n % u64::from(k)).to_string())
    }
}

/// What a run did (the numbers of the final `tool_data`, plus errors).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerSummary {
    /// Values handed to the producer.
    pub sent: u64,
    /// Values acknowledged (`producer_send_success`).
    pub acked: u64,
    /// Values that failed (`producer_send_error`); some may still be in the log when the
    /// error is indeterminate (a timeout).
    pub errors: u64,
    /// Time from the start of sending until every outcome was reported and the producer closed.
    pub elapsed: Duration,
    /// Acknowledged values per second over the run.
    pub avg_throughput: f64,
}

type Outcome = (Option<String>, String, Result<RecordMetadata, ClientError>);
type Pending = FuturesUnordered<Pin<Box<dyn Future<Output = Outcome> + Send>>>;

/// Runs the producer over plain TCP, writing events to `out`.
pub async fn run<W: Write>(
    options: &ProducerOptions,
    out: &mut W,
) -> Result<ProducerSummary, ToolError> {
    run_with_channels(options, Channels::default(), out).await
}

/// Runs the producer with its connections opened through `channels` (the embedded cluster's
/// fault-injecting ones), writing events to `out`. Returns when `max_messages` values have been
/// sent and reported, or after the stop signal once everything outstanding is reported.
///
/// Errors: an invalid configuration (before `startup_complete`) or a failed write to `out`.
/// Failed sends are events, not errors.
pub async fn run_with_channels<W: Write>(
    options: &ProducerOptions,
    channels: Channels,
    out: &mut W,
) -> Result<ProducerSummary, ToolError> {
    let config = options.client_config()?;
    let producer = Producer::with_channels(config, channels)?;
    let mut events = EventWriter::new(out);
    events.emit(&Event::StartupComplete {
        timestamp: now_ms(),
    })?;
    events.flush()?;

    let start = Instant::now();
    let mut summary = ProducerSummary::default();
    let mut pending: Pending = FuturesUnordered::new();
    let interval =
        (options.throughput > 0).then(|| Duration::from_secs_f64(1.0 / options.throughput as f64));
    let limit = u64::try_from(options.max_messages).ok();

    while !options.stop.is_stopped() && limit.is_none_or(|l| summary.sent < l) {
        // Kafka's ThroughputThrottler: message n is due at start + n / rate, so short stalls
        // are caught up and the average holds. Outcomes keep being reported while waiting.
        if let Some(interval) = interval {
            let due = start + interval.mul_f64(summary.sent as f64);
            if !wait_until(due, &mut pending, options, &mut summary, &mut events).await? {
                break;
            }
        }
        while pending.len() >= MAX_OUTSTANDING {
            match pending.next().await {
                Some(o) => report(o, options, &mut summary, &mut events)?,
                None => break,
            }
        }
        let n = summary.sent;
        let (key, value) = (options.key(n), options.value(n));
        let record = match &key {
            Some(k) => ProducerRecord::with_key(&options.topic, k.clone(), value.clone()),
            None => ProducerRecord::new(&options.topic, value.clone()),
        };
        // `send` waits only for metadata or buffer space; a stop must not hang behind that.
        let sent = tokio::select! {
            r = producer.send(record) => r,
            () = options.stop.stopped() => break,
        };
        summary.sent += 1;
        match sent {
            Ok(delivery) => pending.push(Box::pin(delivery.map(move |r| (key, value, r)))),
            Err(e) => report((key, value, Err(e)), options, &mut summary, &mut events)?,
        }
        // Report whatever resolved meanwhile, without waiting.
        while let Some(Some(o)) = pending.next().now_or_never() {
            report(o, options, &mut summary, &mut events)?;
        }
        events.flush()?;
        if interval.is_none() && n % YIELD_EVERY == YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
    }

    // Like Kafka's close(): deliver (or fail, within delivery.timeout.ms) everything queued and
    // report each outcome before the final statistics.
    producer.flush().await;
    while let Some(o) = pending.next().await {
        report(o, options, &mut summary, &mut events)?;
    }
    producer.close().await;

    summary.elapsed = start.elapsed();
    let secs = summary.elapsed.as_secs_f64();
    summary.avg_throughput = if secs > 0.0 {
        summary.acked as f64 / secs
    } else {
        0.0
    };
    events.emit(&Event::ToolData {
        timestamp: now_ms(),
        sent: summary.sent,
        acked: summary.acked,
        target_throughput: options.throughput,
        avg_throughput: summary.avg_throughput,
        metrics: Some(metric_values(&producer.metrics().to_kafka_names())),
    })?;
    events.emit(&Event::ShutdownComplete {
        timestamp: now_ms(),
        end_to_end_latency_ms: None,
    })?;
    events.flush()?;
    Ok(summary)
}

/// Sleeps until `due` while reporting outcomes that resolve; `Ok(false)` if stopped first.
async fn wait_until<W: Write>(
    due: Instant,
    pending: &mut Pending,
    options: &ProducerOptions,
    summary: &mut ProducerSummary,
    events: &mut EventWriter<'_, W>,
) -> Result<bool, ToolError> {
    loop {
        if Instant::now() >= due {
            return Ok(true);
        }
        tokio::select! {
            () = tokio::time::sleep_until(due) => return Ok(true),
            () = options.stop.stopped() => return Ok(false),
            Some(o) = pending.next(), if !pending.is_empty() => {
                report(o, options, summary, events)?;
                events.flush()?;
            }
        }
    }
}

fn report<W: Write>(
    (key, value, result): Outcome,
    options: &ProducerOptions,
    summary: &mut ProducerSummary,
    events: &mut EventWriter<'_, W>,
) -> Result<(), ToolError> {
    let event = match result {
        Ok(m) => {
            summary.acked += 1;
            Event::ProducerSendSuccess {
                timestamp: now_ms(),
                topic: m.topic,
                partition: m.partition,
                offset: m.offset,
                key,
                value,
                durability: Some(m.durability.name().to_string()),
                leader: (m.leader_id >= 0).then_some(m.leader_id),
                leader_epoch: (m.leader_id >= 0).then_some(m.leader_epoch),
            }
        }
        Err(e) => {
            summary.errors += 1;
            Event::ProducerSendError {
                timestamp: now_ms(),
                topic: options.topic.clone(),
                key,
                value,
                exception: e.name().to_string(),
                message: e.to_string(),
            }
        }
    };
    events.emit(&event)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> ProducerOptions {
        let mut o = ProducerOptions::new("t", "127.0.0.1:9092");
        o.producer_config = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        o
    }

    #[test]
    fn retries_default_to_zero_like_kafka() {
        let c = opts(&[]).client_config().unwrap();
        assert_eq!(c.retries, 0);
        assert!(!c.idempotence_enabled(), "retries=0 turns idempotence off");
        let c = opts(&[("retries", "7")]).client_config().unwrap();
        assert_eq!(c.retries, 7);
        let c = opts(&[("enable.idempotence", "true")])
            .client_config()
            .unwrap();
        assert!(c.idempotence_enabled() && c.retries > 0);
        let mut o = opts(&[("acks", "1")]);
        o.acks = Acks::Leader;
        assert_eq!(o.client_config().unwrap().acks, Acks::Leader);
        assert!(opts(&[("no.such.key", "1")]).client_config().is_err());
    }

    #[test]
    fn values_and_keys() {
        let mut o = opts(&[]);
        assert_eq!((o.value(7), o.key(7)), ("7".to_string(), None));
        o.value_prefix = Some("p".into());
        o.repeating_keys = Some(3);
        assert_eq!(o.value(7), "p.7");
        assert_eq!(o.key(7).as_deref(), Some("1"));
    }
}
