//! `ProducerConfig`: Kafka producer keys, defaults and the idempotence rules (I4).

use std::time::Duration;

use super::{
    Acks, PartitionerKind, metric_config, parse_bool, parse_ms, parse_num, parse_servers, positive,
    require_servers, validate_metrics,
};
use crate::backoff::ExponentialBackoff;
use crate::error::{ClientError, Result};
use crate::metrics::MetricConfig;

/// Producer configuration (Kafka `ProducerConfig` names and defaults, SPEC §7).
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: `host:port` addresses the first metadata request goes to (any
    /// broker of the cluster will do; the rest are learnt from metadata). Required.
    pub bootstrap_servers: Vec<String>,
    /// `acks` (default `all`): how many replicas must have a batch before it is acknowledged.
    pub acks: Acks,
    /// `enable.idempotence`. `None` = not set explicitly: on unless another key conflicts with
    /// it (rule I4); see [`ProducerConfig::idempotence_enabled`].
    pub enable_idempotence: Option<bool>,
    /// `retries` (default `i32::MAX`): how many times a batch that failed with a retriable
    /// error is sent again. In practice `delivery.timeout.ms` ends the retrying first.
    pub retries: i32,
    /// `retry.backoff.ms`: the first retry delay of every retry loop (see `crate::backoff`).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (1000): retry delays double from `retry.backoff.ms` up to this,
    /// with ±20 % jitter (KIP-580). A value below `retry.backoff.ms` means `retry.backoff.ms`.
    pub retry_backoff_max: Duration,
    /// `delivery.timeout.ms` (default 120 000): the most time a record may take from `send` to
    /// its final outcome, batching, retries and backoff included; then it fails with
    /// `REQUEST_TIMED_OUT`. Must be at least `request.timeout.ms + linger.ms`.
    pub delivery_timeout: Duration,
    /// `request.timeout.ms` (default 30 000): how long the producer waits for one
    /// `ProduceRequest` (or metadata request) to be answered before it counts as failed.
    pub request_timeout: Duration,
    /// Brook defaults `linger.ms` to 5 (Kafka 3.x: 0, Kafka 4.0: 5): over gRPC one RPC per record
    /// costs far more CPU than a few ms of waiting (SPEC §12), and 5 ms lets batches form.
    pub linger: Duration,
    /// `batch.size` (default 16 384): bytes at which a partition's open batch is full and ready
    /// to send; a record that does not fit starts a new batch.
    pub batch_size: usize,
    /// `max.in.flight.requests.per.connection` (default 5): produce requests sent to one
    /// broker and not yet answered. At most 5 with idempotence.
    pub max_in_flight: usize,
    /// `buffer.memory` (default 32 MiB): bytes of records queued but not yet acknowledged;
    /// `send` waits for room when it is used up.
    pub buffer_memory: usize,
    /// `partitioner` / `partitioner.class` (default murmur2): how records that name no
    /// partition are assigned one.
    pub partitioner: PartitionerKind,
    /// `client.id` (default empty). Accepted for Kafka compatibility; Brook's requests do not
    /// carry it.
    pub client_id: String,
    /// `max.request.size` (default 1 MiB): the largest record `send` accepts (its encoded size
    /// bound) and the byte budget of one produce request.
    pub max_request_size: usize,
    /// How long `send` may wait for metadata of an unknown topic (Kafka's `max.block.ms`).
    pub max_block: Duration,
    /// `metrics.sample.window.ms` (default 30 000): the length of one sample of the client's
    /// windowed metrics (rates, averages, maxima; see `crate::metrics`).
    pub metrics_sample_window: Duration,
    /// `metrics.num.samples` (default 2): how many samples the windowed metrics keep; a rate is
    /// over up to this many windows.
    pub metrics_num_samples: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            bootstrap_servers: Vec::new(),
            acks: Acks::All,
            enable_idempotence: None,
            retries: i32::MAX,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            delivery_timeout: Duration::from_millis(120_000),
            request_timeout: Duration::from_millis(30_000),
            linger: Duration::from_millis(5),
            batch_size: 16_384,
            max_in_flight: 5,
            buffer_memory: 32 << 20,
            partitioner: PartitionerKind::Murmur2,
            client_id: String::new(),
            max_request_size: 1 << 20,
            max_block: Duration::from_millis(60_000),
            metrics_sample_window: Duration::from_millis(30_000),
            metrics_num_samples: 2,
        }
    }
}

impl ProducerConfig {
    /// The defaults with `bootstrap.servers` set from a comma-separated `host:port` list.
    pub fn new(bootstrap_servers: &str) -> Self {
        ProducerConfig::default().bootstrap_servers(bootstrap_servers)
    }

    /// Builds a config from Kafka keys; unknown keys and bad values are `InvalidConfig`.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut c = ProducerConfig::default();
        for (key, value) in pairs {
            c.set(key, value)?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Sets one key (without cross-key validation; see `validate`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "bootstrap.servers" => self.bootstrap_servers = parse_servers(value),
            "acks" => self.acks = value.parse()?,
            "enable.idempotence" => self.enable_idempotence = Some(parse_bool(key, value)?),
            "retries" => {
                self.retries = parse_num(key, value)?;
                if self.retries < 0 {
                    return Err(ClientError::config(key, "must not be negative"));
                }
            }
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms(key, value)?,
            "delivery.timeout.ms" => self.delivery_timeout = parse_ms(key, value)?,
            "request.timeout.ms" => self.request_timeout = parse_ms(key, value)?,
            "linger.ms" => self.linger = parse_ms(key, value)?,
            "batch.size" => self.batch_size = parse_num(key, value)?,
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight = positive(key, parse_num(key, value)?)?;
            }
            "buffer.memory" => self.buffer_memory = positive(key, parse_num(key, value)?)?,
            "partitioner" | "partitioner.class" => {
                self.partitioner = match value.trim() {
                    "murmur2" | "default" | "sticky" => PartitionerKind::Murmur2,
                    "round_robin" | "roundrobin" | "round-robin" => PartitionerKind::RoundRobin,
                    other => {
                        return Err(ClientError::config(
                            key,
                            format!("`{other}` is not murmur2 or round_robin"),
                        ));
                    }
                }
            }
            "client.id" => self.client_id = value.to_string(),
            "max.request.size" => self.max_request_size = positive(key, parse_num(key, value)?)?,
            "max.block.ms" => self.max_block = parse_ms(key, value)?,
            "metrics.sample.window.ms" => self.metrics_sample_window = parse_ms(key, value)?,
            "metrics.num.samples" => {
                self.metrics_num_samples = positive(key, parse_num(key, value)?)?;
            }
            other => return Err(ClientError::config(other, "unknown producer config key")),
        }
        Ok(())
    }

    /// Cross-key rules: I4 for idempotence, Kafka's delivery timeout bound, positive metric
    /// windows.
    pub fn validate(&self) -> Result<()> {
        require_servers(&self.bootstrap_servers)?;
        validate_metrics(self.metrics_sample_window, self.metrics_num_samples)?;
        if self.enable_idempotence == Some(true) {
            if self.acks != Acks::All {
                return Err(ClientError::config(
                    "enable.idempotence",
                    "idempotence requires acks=all",
                ));
            }
            if self.max_in_flight > 5 {
                return Err(ClientError::config(
                    "enable.idempotence",
                    "idempotence requires max.in.flight.requests.per.connection <= 5",
                ));
            }
            if self.retries == 0 {
                return Err(ClientError::config(
                    "enable.idempotence",
                    "idempotence requires retries > 0",
                ));
            }
        }
        if self.delivery_timeout < self.request_timeout + self.linger {
            return Err(ClientError::config(
                "delivery.timeout.ms",
                format!(
                    "must be at least request.timeout.ms + linger.ms = {} ms",
                    (self.request_timeout + self.linger).as_millis()
                ),
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(ClientError::config(
                "request.timeout.ms",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Whether the producer runs idempotently: explicitly enabled, or left at the default and
    /// no conflicting key set (then it is silently off, as in Kafka).
    pub fn idempotence_enabled(&self) -> bool {
        match self.enable_idempotence {
            Some(v) => v,
            None => self.acks == Acks::All && self.max_in_flight <= 5 && self.retries > 0,
        }
    }

    /// Sets `bootstrap.servers` from a comma-separated `host:port` list.
    pub fn bootstrap_servers(mut self, servers: &str) -> Self {
        self.bootstrap_servers = parse_servers(servers);
        self
    }
    /// Sets `acks`.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        self
    }
    /// Sets `enable.idempotence` explicitly (conflicting keys then fail `validate`).
    pub fn enable_idempotence(mut self, on: bool) -> Self {
        self.enable_idempotence = Some(on);
        self
    }
    /// Sets `retries`.
    pub fn retries(mut self, retries: i32) -> Self {
        self.retries = retries;
        self
    }
    /// Sets `retry.backoff.ms`.
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.retry_backoff = d;
        self
    }
    /// Sets `retry.backoff.max.ms`.
    pub fn retry_backoff_max(mut self, d: Duration) -> Self {
        self.retry_backoff_max = d;
        self
    }
    /// The retry policy of this client's retry loops: `retry.backoff.ms` growing to
    /// `retry.backoff.max.ms`.
    pub fn backoff(&self) -> ExponentialBackoff {
        ExponentialBackoff::new(self.retry_backoff, self.retry_backoff_max)
    }
    /// Sets `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.delivery_timeout = d;
        self
    }
    /// Sets `request.timeout.ms`.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    /// Sets `linger.ms`.
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }
    /// Sets `batch.size`, in bytes.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = bytes;
        self
    }
    /// Sets `max.in.flight.requests.per.connection`.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }
    /// Sets `buffer.memory`, in bytes.
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.buffer_memory = bytes;
        self
    }
    /// Sets `partitioner`.
    pub fn partitioner(mut self, p: PartitionerKind) -> Self {
        self.partitioner = p;
        self
    }
    /// Sets `client.id`.
    pub fn client_id(mut self, id: &str) -> Self {
        self.client_id = id.to_string();
        self
    }
    /// Sets `max.request.size`, in bytes.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }
    /// Sets `max.block.ms`.
    pub fn max_block(mut self, d: Duration) -> Self {
        self.max_block = d;
        self
    }
    /// Sets `metrics.sample.window.ms`.
    pub fn metrics_sample_window(mut self, d: Duration) -> Self {
        self.metrics_sample_window = d;
        self
    }
    /// Sets `metrics.num.samples`.
    pub fn metrics_num_samples(mut self, n: usize) -> Self {
        self.metrics_num_samples = n;
        self
    }
    /// The windows of the producer's metrics.
    pub fn metrics_config(&self) -> MetricConfig {
        metric_config(self.metrics_sample_window, self.metrics_num_samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::key_of;

    #[test]
    fn producer_defaults_and_parsing() {
        let c = ProducerConfig::from_pairs([
            ("bootstrap.servers", "a:1, b:2"),
            ("acks", "1"),
            ("linger.ms", "0"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!(c.acks, Acks::Leader);
        assert!(
            !c.idempotence_enabled(),
            "implicit idempotence is dropped for acks=1"
        );
        assert_eq!(c.retries, i32::MAX);
        let d = ProducerConfig::from_pairs([("bootstrap.servers", "a:1")]).unwrap();
        assert!(d.idempotence_enabled());
        assert_eq!(d.acks, Acks::All);
        assert_eq!(d.linger, Duration::from_millis(5));
        assert_eq!(d.metrics_config(), MetricConfig::default());
        let m = ProducerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("metrics.sample.window.ms", "1000"),
            ("metrics.num.samples", "3"),
        ])
        .unwrap();
        assert_eq!(
            (
                m.metrics_config().sample_window_ms,
                m.metrics_config().num_samples
            ),
            (1000, 3)
        );
        for (k, v) in [
            ("metrics.num.samples", "0"),
            ("metrics.sample.window.ms", "0"),
        ] {
            let e = ProducerConfig::from_pairs([("bootstrap.servers", "a:1"), (k, v)]);
            assert_eq!(key_of(e.unwrap_err()), k);
        }
        assert_eq!("-1".parse::<Acks>().unwrap(), Acks::All);
    }

    #[test]
    fn producer_rejects_unknown_and_conflicting_keys() {
        let e = ProducerConfig::from_pairs([("bootstrap.servers", "a:1"), ("lingr.ms", "1")]);
        assert_eq!(key_of(e.unwrap_err()), "lingr.ms");
        let e = ProducerConfig::from_pairs([("bootstrap.servers", "a:1"), ("acks", "2")]);
        assert_eq!(key_of(e.unwrap_err()), "acks");
        let e = ProducerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("enable.idempotence", "true"),
            ("acks", "1"),
        ]);
        assert_eq!(key_of(e.unwrap_err()), "enable.idempotence");
        let e = ProducerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "6"),
        ]);
        assert_eq!(key_of(e.unwrap_err()), "enable.idempotence");
        // Implicit idempotence is silently disabled by max.in.flight > 5.
        let c = ProducerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("max.in.flight.requests.per.connection", "6"),
        ])
        .unwrap();
        assert!(!c.idempotence_enabled());
        let e = ProducerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("delivery.timeout.ms", "1000"),
            ("request.timeout.ms", "1000"),
        ]);
        assert_eq!(key_of(e.unwrap_err()), "delivery.timeout.ms");
        let e = ProducerConfig::from_pairs([("retries", "x"), ("bootstrap.servers", "a:1")]);
        assert_eq!(key_of(e.unwrap_err()), "retries");
        let e = ProducerConfig::from_pairs([("acks", "all")]);
        assert_eq!(key_of(e.unwrap_err()), "bootstrap.servers");
    }

    #[test]
    fn producer_retry_backoff_max() {
        let ms = Duration::from_millis;
        let d = ProducerConfig::from_pairs([("bootstrap.servers", "a:1")]).unwrap();
        assert_eq!(
            (d.backoff().initial(), d.backoff().max()),
            (ms(100), ms(1000))
        );
        let c = ProducerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("retry.backoff.max.ms", "250"),
        ])
        .unwrap();
        assert_eq!(c.retry_backoff_max, ms(250));
        let c = ProducerConfig::new("a:1")
            .retry_backoff(ms(300))
            .retry_backoff_max(ms(200));
        assert_eq!(
            c.backoff().max(),
            ms(300),
            "max below initial means initial"
        );
        let e = ProducerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("retry.backoff.max.ms", "1.5"),
        ]);
        assert_eq!(key_of(e.unwrap_err()), "retry.backoff.max.ms");
    }
}
