//! `ConsumerConfig` and `AdminConfig`: Kafka consumer and admin keys and defaults, including the
//! consumer-group keys (`group.instance.id`, `session.timeout.ms`, `heartbeat.interval.ms`,
//! `max.poll.interval.ms`, `partition.assignment.strategy`) and their cross-key rules.

use std::time::Duration;

use super::{
    OffsetReset, metric_config, parse_bool, parse_ms, parse_num, parse_servers, positive,
    require_servers, validate_metrics,
};
use crate::backoff::ExponentialBackoff;
use crate::consumer::assignor::AssignmentStrategy;
use crate::error::{ClientError, Result};
use crate::metrics::MetricConfig;

/// Consumer configuration (Kafka `ConsumerConfig` names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    /// `bootstrap.servers`: `host:port` addresses the first metadata request goes to. Required.
    pub bootstrap_servers: Vec<String>,
    /// `group.id`: the consumer group whose committed offsets the consumer reads and writes,
    /// and which `Consumer::subscribe` joins; `None` (or empty) = no group, no commits, no
    /// subscribe.
    pub group_id: Option<String>,
    /// `group.instance.id` (default none): makes the member static (KIP-345). A static member
    /// that restarts within `session.timeout.ms` with the same id gets its partitions back
    /// without a rebalance, and `close` does not send LeaveGroup for it. Must not be empty.
    pub group_instance_id: Option<String>,
    /// `auto.offset.reset` (default `latest`): where to start in a partition with no committed
    /// offset, or whose position fell out of the log.
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit`. `None` = default: on when `group.id` is set. A group member also
    /// commits the positions of partitions right before they are revoked, and on `close`.
    pub enable_auto_commit: Option<bool>,
    /// `auto.commit.interval.ms` (default 5 000): with auto-commit on, `poll` commits the
    /// positions when this much time has passed since the last auto-commit.
    pub auto_commit_interval: Duration,
    /// `fetch.min.bytes` (default 1): a fetch waits (up to `fetch.max.wait.ms`) until the broker
    /// has at least this many bytes for it.
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms` (default 500): the longest a broker holds a fetch that has less than
    /// `fetch.min.bytes` (capped by the time left in `poll`).
    pub fetch_max_wait: Duration,
    /// `fetch.max.bytes` (default 50 MiB): bytes one fetch response may carry over all its
    /// partitions (at least one batch is always returned).
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes` (default 1 MiB): bytes one fetch response may carry per
    /// partition (at least one batch is always returned).
    pub max_partition_fetch_bytes: i32,
    /// `max.poll.records` (default 500): the most records one `poll` returns.
    pub max_poll_records: usize,
    /// `session.timeout.ms` (default 45 000): how long the coordinator waits for a heartbeat
    /// before it removes the member and rebalances. Must lie within the broker's
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms` (else JoinGroup fails
    /// with `INVALID_SESSION_TIMEOUT`).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3 000): how often the background heartbeat task tells
    /// the coordinator the member is alive (and learns of rebalances). Must be below
    /// `session.timeout.ms` (Kafka advises at most a third of it).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (default 300 000): the longest the application may go between
    /// `poll` calls. Past it the heartbeat task leaves the group (LeaveGroup, as Kafka does) and
    /// the next `poll` finds its partitions lost and rejoins. Also the rebalance timeout sent in
    /// JoinGroup: how long the coordinator waits for members to rejoin.
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy` (default `range,cooperative-sticky`, as Kafka 3.x): the
    /// assignors this member supports, in order of preference; the group uses the one most
    /// members prefer among those all support. Names: `range`, `roundrobin`,
    /// `cooperative-sticky` or Kafka's class names. The member rebalances cooperatively only
    /// when every listed assignor is cooperative.
    pub partition_assignment_strategy: Vec<AssignmentStrategy>,
    /// `client.id` (default empty). Accepted for Kafka compatibility; Brook's requests do not
    /// carry it.
    pub client_id: String,
    /// `request.timeout.ms` (default 30 000): how long one request (fetch, commit, metadata,
    /// ListOffsets) may go unanswered before it counts as failed.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`: the first retry delay of every retry loop (see `crate::backoff`).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (1000): retry delays double from `retry.backoff.ms` up to this,
    /// with ±20 % jitter (KIP-580). A value below `retry.backoff.ms` means `retry.backoff.ms`.
    pub retry_backoff_max: Duration,
    /// `metrics.sample.window.ms` (default 30 000): the length of one sample of the client's
    /// windowed metrics (rates, averages, maxima; see `crate::metrics`).
    pub metrics_sample_window: Duration,
    /// `metrics.num.samples` (default 2): how many samples the windowed metrics keep; a rate is
    /// over up to this many windows.
    pub metrics_num_samples: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            bootstrap_servers: Vec::new(),
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: None,
            auto_commit_interval: Duration::from_millis(5_000),
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            max_poll_records: 500,
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            partition_assignment_strategy: vec![
                AssignmentStrategy::Range,
                AssignmentStrategy::CooperativeSticky,
            ],
            client_id: String::new(),
            request_timeout: Duration::from_millis(30_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            metrics_sample_window: Duration::from_millis(30_000),
            metrics_num_samples: 2,
        }
    }
}

impl ConsumerConfig {
    /// The defaults with `bootstrap.servers` set from a comma-separated `host:port` list.
    pub fn new(bootstrap_servers: &str) -> Self {
        ConsumerConfig::default().bootstrap_servers(bootstrap_servers)
    }

    /// Builds a config from Kafka keys and validates it; unknown keys and bad values are
    /// `InvalidConfig` naming the key.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut c = ConsumerConfig::default();
        for (key, value) in pairs {
            c.set(key, value)?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Sets one key (without cross-key validation; see `validate`). Errors: `InvalidConfig`
    /// for an unknown key or a value that does not parse.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "bootstrap.servers" => self.bootstrap_servers = parse_servers(value),
            "group.id" => {
                self.group_id = Some(value.to_string()).filter(|g| !g.is_empty());
            }
            "auto.offset.reset" => {
                self.auto_offset_reset = match value.trim() {
                    "earliest" => OffsetReset::Earliest,
                    "latest" => OffsetReset::Latest,
                    "none" => OffsetReset::None,
                    other => {
                        return Err(ClientError::config(
                            key,
                            format!("`{other}` is not earliest, latest or none"),
                        ));
                    }
                }
            }
            "enable.auto.commit" => self.enable_auto_commit = Some(parse_bool(key, value)?),
            "auto.commit.interval.ms" => self.auto_commit_interval = parse_ms(key, value)?,
            "fetch.min.bytes" => self.fetch_min_bytes = parse_num(key, value)?,
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_ms(key, value)?,
            "fetch.max.bytes" => self.fetch_max_bytes = parse_num(key, value)?,
            "max.partition.fetch.bytes" => self.max_partition_fetch_bytes = parse_num(key, value)?,
            "max.poll.records" => self.max_poll_records = positive(key, parse_num(key, value)?)?,
            "session.timeout.ms" => self.session_timeout = parse_ms(key, value)?,
            "heartbeat.interval.ms" => self.heartbeat_interval = parse_ms(key, value)?,
            "max.poll.interval.ms" => self.max_poll_interval = parse_ms(key, value)?,
            "group.instance.id" => {
                if value.trim().is_empty() {
                    return Err(ClientError::config(key, "must not be empty when given"));
                }
                self.group_instance_id = Some(value.to_string());
            }
            "partition.assignment.strategy" => {
                self.partition_assignment_strategy = parse_strategies(key, value)?;
            }
            "client.id" => self.client_id = value.to_string(),
            "request.timeout.ms" => self.request_timeout = parse_ms(key, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms(key, value)?,
            "metrics.sample.window.ms" => self.metrics_sample_window = parse_ms(key, value)?,
            "metrics.num.samples" => {
                self.metrics_num_samples = positive(key, parse_num(key, value)?)?;
            }
            other => return Err(ClientError::config(other, "unknown consumer config key")),
        }
        Ok(())
    }

    /// Cross-key rules, also run by `Consumer::new`: bootstrap servers given as `host:port`,
    /// auto-commit only with a `group.id`, no negative fetch sizes, a positive request timeout;
    /// for groups: a non-empty `group.instance.id` if one is given, positive timeouts,
    /// `heartbeat.interval.ms` below `session.timeout.ms`, at least one assignment strategy;
    /// positive metric windows. Errors: `InvalidConfig` naming the offending key.
    pub fn validate(&self) -> Result<()> {
        require_servers(&self.bootstrap_servers)?;
        validate_metrics(self.metrics_sample_window, self.metrics_num_samples)?;
        if self
            .group_instance_id
            .as_ref()
            .is_some_and(|i| i.trim().is_empty())
        {
            return Err(ClientError::config(
                "group.instance.id",
                "must not be empty when given",
            ));
        }
        for (key, d) in [
            ("session.timeout.ms", self.session_timeout),
            ("heartbeat.interval.ms", self.heartbeat_interval),
            ("max.poll.interval.ms", self.max_poll_interval),
            ("auto.commit.interval.ms", self.auto_commit_interval),
        ] {
            if d.is_zero() {
                return Err(ClientError::config(key, "must be positive"));
            }
        }
        if self.heartbeat_interval >= self.session_timeout {
            return Err(ClientError::config(
                "heartbeat.interval.ms",
                format!(
                    "{} ms must be lower than session.timeout.ms ({} ms)",
                    self.heartbeat_interval.as_millis(),
                    self.session_timeout.as_millis()
                ),
            ));
        }
        if self.partition_assignment_strategy.is_empty() {
            return Err(ClientError::config(
                "partition.assignment.strategy",
                "at least one assignor is required",
            ));
        }
        if self.enable_auto_commit == Some(true) && self.group_id.is_none() {
            return Err(ClientError::config(
                "enable.auto.commit",
                "auto commit needs a group.id",
            ));
        }
        for (key, v) in [
            ("fetch.min.bytes", self.fetch_min_bytes),
            ("fetch.max.bytes", self.fetch_max_bytes),
            ("max.partition.fetch.bytes", self.max_partition_fetch_bytes),
        ] {
            if v < 0 {
                return Err(ClientError::config(key, "must not be negative"));
            }
        }
        if self.request_timeout.is_zero() {
            return Err(ClientError::config(
                "request.timeout.ms",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Effective `enable.auto.commit`: explicit value, else on exactly when `group.id` is set.
    pub fn auto_commit_enabled(&self) -> bool {
        self.enable_auto_commit.unwrap_or(self.group_id.is_some()) && self.group_id.is_some()
    }

    /// Sets `bootstrap.servers` from a comma-separated `host:port` list.
    pub fn bootstrap_servers(mut self, servers: &str) -> Self {
        self.bootstrap_servers = parse_servers(servers);
        self
    }
    /// Sets `group.id`; an empty string means no group.
    pub fn group_id(mut self, group: &str) -> Self {
        self.group_id = Some(group.to_string()).filter(|g| !g.is_empty());
        self
    }
    /// Sets `group.instance.id` (static membership).
    pub fn group_instance_id(mut self, id: &str) -> Self {
        self.group_instance_id = Some(id.to_string());
        self
    }
    /// Sets `session.timeout.ms`.
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }
    /// Sets `heartbeat.interval.ms`.
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }
    /// Sets `max.poll.interval.ms`.
    pub fn max_poll_interval(mut self, d: Duration) -> Self {
        self.max_poll_interval = d;
        self
    }
    /// Sets `partition.assignment.strategy`.
    pub fn partition_assignment_strategy(mut self, strategies: Vec<AssignmentStrategy>) -> Self {
        self.partition_assignment_strategy = strategies;
        self
    }
    /// Sets `auto.offset.reset`.
    pub fn auto_offset_reset(mut self, reset: OffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }
    /// Sets `enable.auto.commit` explicitly.
    pub fn enable_auto_commit(mut self, on: bool) -> Self {
        self.enable_auto_commit = Some(on);
        self
    }
    /// Sets `auto.commit.interval.ms`.
    pub fn auto_commit_interval(mut self, d: Duration) -> Self {
        self.auto_commit_interval = d;
        self
    }
    /// Sets `fetch.min.bytes`.
    pub fn fetch_min_bytes(mut self, n: i32) -> Self {
        self.fetch_min_bytes = n;
        self
    }
    /// Sets `fetch.max.wait.ms`.
    pub fn fetch_max_wait(mut self, d: Duration) -> Self {
        self.fetch_max_wait = d;
        self
    }
    /// Sets `fetch.max.bytes`.
    pub fn fetch_max_bytes(mut self, n: i32) -> Self {
        self.fetch_max_bytes = n;
        self
    }
    /// Sets `max.partition.fetch.bytes`.
    pub fn max_partition_fetch_bytes(mut self, n: i32) -> Self {
        self.max_partition_fetch_bytes = n;
        self
    }
    /// Sets `max.poll.records`.
    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.max_poll_records = n;
        self
    }
    /// Sets `client.id`.
    pub fn client_id(mut self, id: &str) -> Self {
        self.client_id = id.to_string();
        self
    }
    /// Sets `request.timeout.ms`.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
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
    /// The windows of the consumer's metrics.
    pub fn metrics_config(&self) -> MetricConfig {
        metric_config(self.metrics_sample_window, self.metrics_num_samples)
    }
}

/// Parses `partition.assignment.strategy`: a comma-separated list of assignor names.
fn parse_strategies(key: &str, value: &str) -> Result<Vec<AssignmentStrategy>> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let s = AssignmentStrategy::parse(name).ok_or_else(|| {
            ClientError::config(
                key,
                format!("unknown assignor `{name}` (known: range, roundrobin, cooperative-sticky)"),
            )
        })?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(ClientError::config(
            key,
            "at least one assignor is required",
        ));
    }
    Ok(out)
}

/// Admin client configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    /// `bootstrap.servers`: `host:port` addresses the first metadata request goes to. Required.
    pub bootstrap_servers: Vec<String>,
    /// `client.id` (default empty). Accepted for Kafka compatibility; Brook's requests do not
    /// carry it.
    pub client_id: String,
    /// `request.timeout.ms` (default 30 000): the deadline of one admin call, retries
    /// included, and of each RPC within it.
    pub request_timeout: Duration,
    /// `retry.backoff.ms`: the first retry delay of every retry loop (see `crate::backoff`).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (1000): retry delays double from `retry.backoff.ms` up to this,
    /// with ±20 % jitter (KIP-580). A value below `retry.backoff.ms` means `retry.backoff.ms`.
    pub retry_backoff_max: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            bootstrap_servers: Vec::new(),
            client_id: String::new(),
            request_timeout: Duration::from_millis(30_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
        }
    }
}

impl AdminConfig {
    /// The defaults with `bootstrap.servers` set from a comma-separated `host:port` list.
    pub fn new(bootstrap_servers: &str) -> Self {
        AdminConfig {
            bootstrap_servers: parse_servers(bootstrap_servers),
            ..AdminConfig::default()
        }
    }

    /// Builds a config from Kafka keys (`bootstrap.servers`, `client.id`, `request.timeout.ms`,
    /// `retry.backoff.ms`, `retry.backoff.max.ms`) and validates it; any other key or a bad
    /// value is `InvalidConfig` naming the key.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut c = AdminConfig::default();
        for (key, value) in pairs {
            match key {
                "bootstrap.servers" => c.bootstrap_servers = parse_servers(value),
                "client.id" => c.client_id = value.to_string(),
                "request.timeout.ms" => c.request_timeout = parse_ms(key, value)?,
                "retry.backoff.ms" => c.retry_backoff = parse_ms(key, value)?,
                "retry.backoff.max.ms" => c.retry_backoff_max = parse_ms(key, value)?,
                other => return Err(ClientError::config(other, "unknown admin config key")),
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks what `Admin::new` needs: bootstrap servers given as `host:port` and a positive
    /// request timeout. Errors: `InvalidConfig` naming the key.
    pub fn validate(&self) -> Result<()> {
        require_servers(&self.bootstrap_servers)?;
        if self.request_timeout.is_zero() {
            return Err(ClientError::config(
                "request.timeout.ms",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Sets `request.timeout.ms`.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    /// Sets `client.id`.
    pub fn client_id(mut self, id: &str) -> Self {
        self.client_id = id.to_string();
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
    /// The retry policy of admin calls: `retry.backoff.ms` growing to `retry.backoff.max.ms`.
    pub fn backoff(&self) -> ExponentialBackoff {
        ExponentialBackoff::new(self.retry_backoff, self.retry_backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::key_of;

    #[test]
    fn consumer_config() {
        let c = ConsumerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
            ("heartbeat.interval.ms", "100"),
        ])
        .unwrap();
        assert!(c.auto_commit_enabled());
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        let c = ConsumerConfig::from_pairs([("bootstrap.servers", "a:1")]).unwrap();
        assert!(!c.auto_commit_enabled());
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        let e = ConsumerConfig::from_pairs([("bootstrap.servers", "a:1"), ("nope", "1")]);
        assert_eq!(key_of(e.unwrap_err()), "nope");
        let e = ConsumerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("auto.offset.reset", "smallest"),
        ]);
        assert_eq!(key_of(e.unwrap_err()), "auto.offset.reset");
        let e = ConsumerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("enable.auto.commit", "true"),
        ]);
        assert_eq!(key_of(e.unwrap_err()), "enable.auto.commit");
        let e = AdminConfig::from_pairs([("bootstrap.servers", "a:1"), ("acks", "1")]);
        assert_eq!(key_of(e.unwrap_err()), "acks");
    }

    #[test]
    fn group_keys_have_kafka_defaults_and_are_validated() {
        let ms = Duration::from_millis;
        let c = ConsumerConfig::from_pairs([("bootstrap.servers", "a:1")]).unwrap();
        assert_eq!(
            (c.session_timeout, c.heartbeat_interval, c.max_poll_interval),
            (ms(45_000), ms(3_000), ms(300_000))
        );
        assert_eq!(
            c.partition_assignment_strategy,
            vec![
                AssignmentStrategy::Range,
                AssignmentStrategy::CooperativeSticky
            ]
        );
        assert_eq!(c.group_instance_id, None);
        let c = ConsumerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("group.id", "g"),
            ("group.instance.id", "i-1"),
            ("session.timeout.ms", "1000"),
            ("heartbeat.interval.ms", "100"),
            ("max.poll.interval.ms", "2000"),
            (
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.RoundRobinAssignor, cooperative-sticky",
            ),
        ])
        .unwrap();
        assert_eq!(c.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(c.max_poll_interval, ms(2000));
        assert_eq!(
            c.partition_assignment_strategy,
            vec![
                AssignmentStrategy::RoundRobin,
                AssignmentStrategy::CooperativeSticky
            ]
        );
        for (key, value) in [
            ("partition.assignment.strategy", "range,sticky"),
            ("partition.assignment.strategy", " , "),
            ("group.instance.id", ""),
            ("max.poll.interval.ms", "0"),
            ("heartbeat.interval.ms", "45000"),
        ] {
            let e = ConsumerConfig::from_pairs([("bootstrap.servers", "a:1"), (key, value)]);
            assert_eq!(key_of(e.unwrap_err()), key, "{key}={value}");
        }
        let e = ConsumerConfig::new("a:1")
            .group_instance_id("  ")
            .validate();
        assert_eq!(key_of(e.unwrap_err()), "group.instance.id");
        let e = ConsumerConfig::new("a:1")
            .session_timeout(ms(100))
            .heartbeat_interval(ms(100))
            .validate();
        assert_eq!(key_of(e.unwrap_err()), "heartbeat.interval.ms");
    }

    #[test]
    fn retry_backoff_max_is_parsed_defaulted_and_never_below_the_initial_backoff() {
        let ms = Duration::from_millis;
        let c = ConsumerConfig::from_pairs([("bootstrap.servers", "a:1")]).unwrap();
        assert_eq!((c.retry_backoff, c.retry_backoff_max), (ms(100), ms(1000)));
        assert_eq!(c.backoff().max(), ms(1000));
        let c = ConsumerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("retry.backoff.ms", "50"),
            ("retry.backoff.max.ms", "400"),
        ])
        .unwrap();
        assert_eq!(
            (c.backoff().initial(), c.backoff().max()),
            (ms(50), ms(400))
        );
        let a = AdminConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("retry.backoff.ms", "500"),
            ("retry.backoff.max.ms", "20"),
        ])
        .unwrap();
        assert_eq!(a.retry_backoff_max, ms(20));
        assert_eq!(
            a.backoff().max(),
            ms(500),
            "max below initial means initial"
        );
        let e = ConsumerConfig::from_pairs([
            ("bootstrap.servers", "a:1"),
            ("retry.backoff.max.ms", "soon"),
        ]);
        assert_eq!(key_of(e.unwrap_err()), "retry.backoff.max.ms");
        let e =
            AdminConfig::from_pairs([("bootstrap.servers", "a:1"), ("retry.backoff.max.ms", "-1")]);
        assert_eq!(key_of(e.unwrap_err()), "retry.backoff.max.ms");
    }
}
