//! `ConsumerConfig` and `AdminConfig`: Kafka consumer and admin keys and defaults.

use std::time::Duration;

use super::{
    OffsetReset, parse_bool, parse_ms, parse_num, parse_servers, positive, require_servers,
};
use crate::backoff::ExponentialBackoff;
use crate::error::{ClientError, Result};

/// Consumer configuration (Kafka `ConsumerConfig` names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerConfig {
    /// `bootstrap.servers`: `host:port` addresses the first metadata request goes to. Required.
    pub bootstrap_servers: Vec<String>,
    /// `group.id`: the consumer group whose committed offsets the consumer reads and writes;
    /// `None` (or empty) = no group, no commits.
    pub group_id: Option<String>,
    /// `auto.offset.reset` (default `latest`): where to start in a partition with no committed
    /// offset, or whose position fell out of the log.
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit`. `None` = default: on when `group.id` is set.
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
    /// `session.timeout.ms` (default 45 000). Accepted now, used by group membership (a later
    /// issue).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3 000). Accepted now, used by group membership (a later
    /// issue).
    pub heartbeat_interval: Duration,
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
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            bootstrap_servers: Vec::new(),
            group_id: None,
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
            client_id: String::new(),
            request_timeout: Duration::from_millis(30_000),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
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
            "client.id" => self.client_id = value.to_string(),
            "request.timeout.ms" => self.request_timeout = parse_ms(key, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, value)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms(key, value)?,
            other => return Err(ClientError::config(other, "unknown consumer config key")),
        }
        Ok(())
    }

    /// Cross-key rules, also run by `Consumer::new`: bootstrap servers given as `host:port`,
    /// auto-commit only with a `group.id`, no negative fetch sizes, a positive request timeout.
    /// Errors: `InvalidConfig` naming the offending key.
    pub fn validate(&self) -> Result<()> {
        require_servers(&self.bootstrap_servers)?;
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
