//! Broker configuration (`server.properties` keys, SPEC §10) and the effective per-topic config
//! (broker defaults overridden by topic-level keys). Unknown keys and bad values are errors that
//! name the key: a typo must never silently become a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use brook_log::LogConfig;

use parse::{
    boolean, check_voters, int, optional_addr, parse_bool, parse_roles, parse_voters, share,
};

mod parse;
#[cfg(test)]
mod tests;

/// A configuration error naming the key (`INVALID_CONFIG`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("INVALID_CONFIG: {key}: {reason}")]
pub struct ConfigError {
    /// The offending key as given (e.g. `min.insync.replicas`), or the whole line of a
    /// properties file that is not `key=value`.
    pub key: String,
    /// What is wrong with it, for a human (e.g. "'zero' must be an integer ≥ 1").
    pub reason: String,
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Roles a process plays (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// `broker`: hosts partitions, registers with the controller and serves clients.
    pub broker: bool,
    /// `controller`: a voter of the metadata quorum (`controller.quorum.voters`).
    pub controller: bool,
}

/// Every broker key Brook understands, with its default. Kafka's names.
pub const BROKER_KEYS: &[(&str, &str)] = &[
    ("node.id", "1"),
    ("process.roles", "broker,controller"),
    ("listeners", "127.0.0.1:9092"),
    ("metrics.listener", ""),
    ("kafka.listeners", ""),
    ("socket.request.max.bytes", "104857600"),
    ("controller.quorum.voters", ""),
    ("controller.quorum.election.timeout.ms", "1000"),
    ("controller.quorum.request.timeout.ms", "2000"),
    ("metadata.log.max.entries.between.snapshots", "1000"),
    ("log.dirs", "data"),
    ("broker.rack", ""),
    ("num.partitions", "1"),
    ("default.replication.factor", "1"),
    ("min.insync.replicas", "1"),
    ("unclean.leader.election.enable", "false"),
    ("replica.lag.time.max.ms", "30000"),
    ("replica.fetch.wait.max.ms", "500"),
    ("replica.fetch.max.bytes", "1048576"),
    ("broker.session.timeout.ms", "9000"),
    ("broker.heartbeat.interval.ms", "2000"),
    ("message.max.bytes", "1048588"),
    ("log.segment.bytes", "1073741824"),
    ("log.retention.ms", "604800000"),
    ("log.retention.bytes", "-1"),
    ("log.retention.check.interval.ms", "300000"),
    ("log.flush.interval.messages", "9223372036854775807"),
    ("log.flush.interval.ms", "9223372036854775807"),
    ("log.flush.scheduler.interval.ms", "50"),
    ("auto.create.topics.enable", "false"),
    ("offsets.topic.num.partitions", "50"),
    ("offsets.topic.replication.factor", "3"),
    ("group.min.session.timeout.ms", "6000"),
    ("group.max.session.timeout.ms", "1800000"),
    ("group.initial.rebalance.delay.ms", "3000"),
    ("group.max.size", "2147483647"),
    ("group.lag.window.intervals", "10"),
    ("group.lag.window.min.distance.ms", "1000"),
    ("group.lag.offset.refresh.ms", "10000"),
    ("group.lag.allowed.lag", "0"),
    ("group.lag.minimum.complete", "0"),
    ("producer.id.expiration.ms", "86400000"),
    ("replica.high.watermark.checkpoint.interval.ms", "5000"),
];

/// Topic-level keys (beyond brook-log's storage keys) and the broker key each defaults from.
const TOPIC_BROKER_DEFAULTS: &[(&str, &str)] = &[
    ("segment.bytes", "log.segment.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("retention.bytes", "log.retention.bytes"),
    ("flush.messages", "log.flush.interval.messages"),
    ("flush.ms", "log.flush.interval.ms"),
    ("max.message.bytes", "message.max.bytes"),
    ("min.insync.replicas", "min.insync.replicas"),
    (
        "unclean.leader.election.enable",
        "unclean.leader.election.enable",
    ),
];

/// A broker's configuration, parsed and checked once at startup from [`BROKER_KEYS`] (defaults)
/// overridden by the keys given; every field is one Kafka key, named in its doc. Times are in
/// milliseconds, sizes in bytes.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`: this node's id, as a broker and as a controller voter (0 to `i32::MAX`).
    pub node_id: i32,
    /// `process.roles`: whether this process is a broker, a controller voter, or both.
    pub roles: Roles,
    /// `listeners`: the address to bind (an IP, optionally `PLAINTEXT://`-prefixed); port 0 picks
    /// a free one (logged, and returned by `BrokerHandle::addr`).
    pub listener: SocketAddr,
    /// `metrics.listener` (Brook's; Kafka exports JMX): `HOST:PORT` (an IP address) where
    /// `GET /metrics` serves this broker's metrics in the Prometheus/OpenMetrics text format;
    /// port 0 picks a free one (`BrokerHandle::metrics_addr`). `None` (the key empty, the
    /// default): no metrics endpoint.
    pub metrics_listener: Option<SocketAddr>,
    /// `kafka.listeners`: `PLAINTEXT://HOST:PORT` (an IP address; the scheme may be left out)
    /// where Kafka clients connect over Kafka's own wire protocol (`kafka/`); port 0 picks a
    /// free one (`BrokerHandle::kafka_addr`). `None` (the key empty, the default): no Kafka
    /// listener. Only PLAINTEXT: SASL and SSL are out of scope.
    pub kafka_listener: Option<SocketAddr>,
    /// `socket.request.max.bytes` (Kafka's, default 100 MiB): a Kafka-protocol request whose
    /// length prefix says more is refused before its body is read (the connection closes).
    pub socket_request_max_bytes: usize,
    /// `controller.quorum.voters`: `ID@HOST:PORT` of every controller voter. Empty only when
    /// the key was not given and this process is a controller: then it is the only voter, at its
    /// own listener (`brook serve` with no quorum config).
    pub controller_voters: Vec<(i32, String)>,
    /// `controller.quorum.election.timeout.ms` (t): a voter that hears nothing from the active
    /// controller for a random time in [1.5t, 2t] starts an election (Kafka: [t, 2t]; openraft
    /// adds a leader lease), and a leader that has not heard from a majority for t stops acting
    /// as controller.
    pub quorum_election_timeout_ms: u64,
    /// `controller.quorum.request.timeout.ms`: how long a controller write or a broker's
    /// controller RPC may take before it counts as failed.
    pub quorum_request_timeout_ms: u64,
    /// `metadata.log.max.entries.between.snapshots`: Raft entries between metadata snapshots
    /// (Kafka counts bytes; Brook counts entries).
    pub metadata_snapshot_entries: u64,
    /// `log.dirs`: the log directory (partitions, checkpoints, the metadata log). Only the
    /// first of a comma-separated list is used: Brook has one log directory per broker.
    pub log_dir: PathBuf,
    /// `broker.rack`: this broker's rack, sent on registration for rack-aware replica
    /// assignment; `None` when empty.
    pub rack: Option<String>,
    /// `num.partitions`: the partition count of a topic created without one (CreateTopics with
    /// -1, auto-created topics).
    pub num_partitions: i32,
    /// `default.replication.factor`: the replication factor of a topic created without one.
    pub default_replication_factor: i32,
    /// `replica.lag.time.max.ms`: a follower that has not caught up to the leader's log end for
    /// this long leaves the ISR (rule F3); the leader checks every half of it.
    pub replica_lag_time_max_ms: u64,
    /// `replica.fetch.wait.max.ms`: how long a follower's fetch may wait at the leader for new
    /// data (the long poll's bound).
    pub replica_fetch_wait_max_ms: u64,
    /// `replica.fetch.max.bytes`: the most bytes a follower asks for per fetch (soft: the first
    /// batch is returned even if larger).
    pub replica_fetch_max_bytes: usize,
    /// `broker.session.timeout.ms`: the controller fences a broker whose last heartbeat is
    /// older than this: it loses its leaderships and leaves every ISR it is not the last
    /// member of.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`: how often the broker heartbeats to the active controller;
    /// must be below `broker.session.timeout.ms`.
    pub broker_heartbeat_interval_ms: u64,
    /// `message.max.bytes`: the largest record batch the broker accepts (the default of the
    /// topic key `max.message.bytes`); also bounds the size of a gRPC request (plus framing).
    pub message_max_bytes: usize,
    /// `log.retention.check.interval.ms`: how often segments past retention are deleted (S7).
    pub retention_check_interval_ms: u64,
    /// `log.flush.scheduler.interval.ms`: how often the background flusher checks which logs
    /// are due an fsync under `flush.ms`.
    pub flush_scheduler_interval_ms: u64,
    /// `auto.create.topics.enable`: whether a Metadata request that allows it creates the
    /// unknown topics it names (with the broker defaults).
    pub auto_create_topics: bool,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`; a group's offsets
    /// live in partition `abs(hash(group.id)) % this`, whose leader is its coordinator.
    pub offsets_topic_partitions: i32,
    /// `offsets.topic.replication.factor`: replication factor of `__consumer_offsets`, capped
    /// at the number of unfenced brokers when the topic is created.
    pub offsets_topic_replication_factor: i32,
    /// `group.min.session.timeout.ms`: the shortest `session.timeout.ms` a group member may
    /// ask for; shorter is INVALID_SESSION_TIMEOUT.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: the longest `session.timeout.ms` a group member may ask
    /// for; longer is INVALID_SESSION_TIMEOUT.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members to join, extended by this much per new member up to the rebalance
    /// timeout (0 in tests).
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`: the most members a group may have; a join beyond it is
    /// GROUP_MAX_SIZE_REACHED.
    pub group_max_size: i32,
    /// The consumer-lag evaluation's keys (after Burrow; `group_coordinator/lag/`):
    /// `group.lag.window.intervals` (commits and end offsets kept per partition, Burrow's
    /// storage `intervals`, 10), `group.lag.window.min.distance.ms` (a commit closer than this
    /// to the newest stored one replaces it, Burrow's `min-distance`, 1000),
    /// `group.lag.offset.refresh.ms` (how often end offsets are fetched, Burrow's cluster
    /// `offset-refresh`, 10000), `group.lag.allowed.lag` (a lag this small counts as none,
    /// Burrow's `allowed-lag`, 0) and `group.lag.minimum.complete` (windows filled less than
    /// this share, 0.0–1.0, are OK without evaluation, Burrow's `minimum-complete`, 0).
    pub group_lag: crate::group_coordinator::lag::LagConfig,
    /// `producer.id.expiration.ms`: a producer id with no write for this long is dropped from
    /// a partition's producer state (rule I8).
    pub producer_id_expiration_ms: i64,
    /// `replica.high.watermark.checkpoint.interval.ms`: how often the high watermarks are
    /// written to `replication-offset-checkpoint` (H3); also the tick of the rest of the
    /// periodic housekeeping (producer expiry and snapshots, recovery points).
    pub hw_checkpoint_interval_ms: u64,
    /// All keys as given (after defaults), for topic defaults and describe.
    raw: BTreeMap<String, String>,
}

impl BrokerConfig {
    /// Defaults plus `pairs`; later pairs win (a `--set` after the file).
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<BrokerConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut raw: BTreeMap<String, String> = BROKER_KEYS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut given = std::collections::BTreeSet::new();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref().trim(), v.as_ref().trim());
            if !raw.contains_key(k) {
                return Err(invalid(k, "unknown broker config key"));
            }
            raw.insert(k.to_string(), v.to_string());
            given.insert(k.to_string());
        }
        BrokerConfig::from_raw(raw, given)
    }

    /// Parses a Kafka-style `key=value` properties file (`#` and `!` start comments).
    pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| invalid(line, format!("line {}: expected key=value", n + 1)))?;
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(out)
    }

    fn from_raw(
        raw: BTreeMap<String, String>,
        given: std::collections::BTreeSet<String>,
    ) -> Result<BrokerConfig, ConfigError> {
        let get = |k: &str| raw.get(k).map(String::as_str).unwrap_or("");
        let roles = parse_roles(get("process.roles"))?;
        let listener: SocketAddr = get("listeners")
            .trim_start_matches("PLAINTEXT://")
            .parse()
            .map_err(|_| {
                invalid(
                    "listeners",
                    format!("'{}' is not HOST:PORT (an IP address)", get("listeners")),
                )
            })?;
        let metrics_listener = optional_addr("metrics.listener", get("metrics.listener"), false)?;
        let kafka_listener = optional_addr("kafka.listeners", get("kafka.listeners"), true)?;
        let controller_voters = parse_voters(get("controller.quorum.voters"))?;
        let node_id = int(&raw, "node.id", 0, i32::MAX as i64)? as i32;
        check_voters(
            &controller_voters,
            given.contains("controller.quorum.voters"),
            node_id,
            roles,
        )?;
        let config = BrokerConfig {
            node_id,
            roles,
            listener,
            metrics_listener,
            kafka_listener,
            socket_request_max_bytes: int(&raw, "socket.request.max.bytes", 1024, i32::MAX as i64)?
                as usize,
            controller_voters,
            quorum_election_timeout_ms: int(
                &raw,
                "controller.quorum.election.timeout.ms",
                10,
                3_600_000,
            )? as u64,
            quorum_request_timeout_ms: int(
                &raw,
                "controller.quorum.request.timeout.ms",
                10,
                3_600_000,
            )? as u64,
            metadata_snapshot_entries: int(
                &raw,
                "metadata.log.max.entries.between.snapshots",
                1,
                i64::MAX,
            )? as u64,
            log_dir: PathBuf::from(get("log.dirs").split(',').next().unwrap_or("data")),
            rack: Some(get("broker.rack").to_string()).filter(|r| !r.is_empty()),
            num_partitions: int(&raw, "num.partitions", 1, 100_000)? as i32,
            default_replication_factor: int(&raw, "default.replication.factor", 1, 1000)? as i32,
            replica_lag_time_max_ms: int(&raw, "replica.lag.time.max.ms", 1, i64::MAX)? as u64,
            replica_fetch_wait_max_ms: int(&raw, "replica.fetch.wait.max.ms", 0, i64::MAX)? as u64,
            replica_fetch_max_bytes: int(&raw, "replica.fetch.max.bytes", 1, i32::MAX as i64)?
                as usize,
            broker_session_timeout_ms: int(&raw, "broker.session.timeout.ms", 1, i64::MAX)? as u64,
            broker_heartbeat_interval_ms: int(&raw, "broker.heartbeat.interval.ms", 1, i64::MAX)?
                as u64,
            message_max_bytes: int(&raw, "message.max.bytes", 64, i32::MAX as i64)? as usize,
            retention_check_interval_ms: int(&raw, "log.retention.check.interval.ms", 1, i64::MAX)?
                as u64,
            flush_scheduler_interval_ms: int(&raw, "log.flush.scheduler.interval.ms", 1, i64::MAX)?
                as u64,
            auto_create_topics: boolean(&raw, "auto.create.topics.enable")?,
            offsets_topic_partitions: int(&raw, "offsets.topic.num.partitions", 1, 10_000)? as i32,
            offsets_topic_replication_factor: int(
                &raw,
                "offsets.topic.replication.factor",
                1,
                1000,
            )? as i32,
            group_min_session_timeout_ms: int(
                &raw,
                "group.min.session.timeout.ms",
                1,
                i32::MAX as i64,
            )? as i32,
            group_max_session_timeout_ms: int(
                &raw,
                "group.max.session.timeout.ms",
                1,
                i32::MAX as i64,
            )? as i32,
            group_initial_rebalance_delay_ms: int(
                &raw,
                "group.initial.rebalance.delay.ms",
                0,
                i32::MAX as i64,
            )? as i32,
            group_max_size: int(&raw, "group.max.size", 1, i32::MAX as i64)? as i32,
            group_lag: crate::group_coordinator::lag::LagConfig {
                intervals: int(&raw, "group.lag.window.intervals", 1, 10_000)? as usize,
                min_distance_ms: int(&raw, "group.lag.window.min.distance.ms", 0, i64::MAX)?,
                offset_refresh_ms: int(&raw, "group.lag.offset.refresh.ms", 1, i64::MAX)? as u64,
                allowed_lag: int(&raw, "group.lag.allowed.lag", 0, i64::MAX)? as u64,
                minimum_complete: share(&raw, "group.lag.minimum.complete")?,
            },
            producer_id_expiration_ms: int(&raw, "producer.id.expiration.ms", 1, i64::MAX)?,
            hw_checkpoint_interval_ms: int(
                &raw,
                "replica.high.watermark.checkpoint.interval.ms",
                1,
                i64::MAX,
            )? as u64,
            raw,
        };
        // Topic defaults must themselves be valid.
        config.topic_config(&BTreeMap::new())?;
        if config.group_min_session_timeout_ms > config.group_max_session_timeout_ms {
            return Err(invalid(
                "group.min.session.timeout.ms",
                "must not exceed group.max.session.timeout.ms",
            ));
        }
        if config.broker_heartbeat_interval_ms >= config.broker_session_timeout_ms {
            return Err(invalid(
                "broker.heartbeat.interval.ms",
                "must be below broker.session.timeout.ms",
            ));
        }
        Ok(config)
    }

    /// The controller voters: `controller.quorum.voters`, or (key absent, controller role) this
    /// node alone at `advertised`.
    pub fn voters(&self, advertised: &str) -> Vec<(i32, String)> {
        if self.controller_voters.is_empty() {
            vec![(self.node_id, advertised.to_string())]
        } else {
            self.controller_voters.clone()
        }
    }

    /// The group coordinator's settings: the `group.*` keys, `offsets.topic.num.partitions`,
    /// and `message.max.bytes` as the bound of one member's metadata.
    pub fn group_config(&self) -> crate::group_coordinator::groups::GroupConfig {
        crate::group_coordinator::groups::GroupConfig {
            min_session_timeout_ms: self.group_min_session_timeout_ms,
            max_session_timeout_ms: self.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: self.group_initial_rebalance_delay_ms,
            max_size: usize::try_from(self.group_max_size).unwrap_or(usize::MAX),
            max_metadata_bytes: self.message_max_bytes,
            offsets_partitions: self.offsets_topic_partitions,
        }
    }

    /// The value of a broker key as configured (the default if it was not given); `None` for
    /// a key Brook does not know.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key).map(String::as_str)
    }

    /// The effective config of a topic: broker defaults overridden by `overrides` (topic keys).
    pub fn topic_config(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, ConfigError> {
        let mut pairs: BTreeMap<&str, &str> = BTreeMap::new();
        for (topic_key, broker_key) in TOPIC_BROKER_DEFAULTS {
            if let Some(v) = self.raw.get(*broker_key) {
                pairs.insert(topic_key, v.as_str());
            }
        }
        for (k, v) in overrides {
            let known = TOPIC_BROKER_DEFAULTS.iter().any(|(t, _)| t == k)
                || brook_log::config::KEYS.contains(&k.as_str());
            if !known {
                return Err(invalid(k, "unknown topic config key"));
            }
            pairs.insert(k.as_str(), v.as_str());
        }
        let min_isr = pairs.remove("min.insync.replicas").unwrap_or("1");
        let unclean = pairs
            .remove("unclean.leader.election.enable")
            .unwrap_or("false");
        let log =
            LogConfig::from_pairs(pairs.iter().map(|(k, v)| (*k, *v))).map_err(|e| match e {
                brook_log::LogError::InvalidConfig { key, reason } => ConfigError { key, reason },
                other => invalid("config", other.to_string()),
            })?;
        Ok(TopicConfig {
            log,
            min_insync_replicas: min_isr.parse::<i32>().ok().filter(|v| *v >= 1).ok_or_else(
                || {
                    invalid(
                        "min.insync.replicas",
                        format!("'{min_isr}' must be an integer ≥ 1"),
                    )
                },
            )?,
            unclean_leader_election: parse_bool("unclean.leader.election.enable", unclean)?,
        })
    }
}

/// A topic's effective settings: [`BrokerConfig::topic_config`] of its overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// The storage keys brook-log applies (`segment.bytes`, `retention.ms`,
    /// `retention.bytes`, `flush.messages`, `flush.ms`, `max.message.bytes`, …).
    pub log: LogConfig,
    /// `min.insync.replicas` (≥ 1): an `acks=all` produce is refused with
    /// `NOT_ENOUGH_REPLICAS` while the ISR is smaller (P3), and the high watermark does not
    /// advance while the ISR is below it, capped at the replication factor (P8).
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`: whether the controller may elect a replica outside
    /// the ISR when no ISR member is live (E2), at the price of losing committed records.
    pub unclean_leader_election: bool,
}
