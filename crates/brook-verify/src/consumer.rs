//! The verifiable consumer (Kafka's `VerifiableConsumer`, rules V3/V4): reads a topic and
//! reports every poll as a JSON line (`records_consumed` with per-partition offset ranges, and
//! with `verbose` every record as `record_data`), committing synchronously after each poll so
//! that a checker can follow positions and commits (V5) and a restarted consumer resumes where
//! the last one committed.
//!
//! By default it subscribes to the topic as a member of the group, as Kafka's tool does:
//! partitions come and go with rebalances, and the rebalance listener prints
//! `partitions_revoked` / `partitions_assigned` as they happen (lost partitions are printed as
//! revoked, as Kafka's listener default does). With `assign` it reads every partition of the
//! topic in assign mode instead, the group id only naming whose committed offsets it resumes
//! from and advances.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_client::TopicPartition;
use brook_client::admin::Admin;
use brook_client::consumer::{
    Consumer, ConsumerRebalanceListener, ConsumerRecord, RebalanceContext,
};
use brook_client::{AdminConfig, ClientError, ConsumerConfig, ErrorCode, OffsetReset};
use brook_proto::net::Channels;
use tokio::time::Instant;

use crate::events::{CommittedOffset, ConsumedPartition, Event, TopicPartitionRef, now_ms};
use crate::tool::{EventWriter, ToolError};
pub use crate::tool::{StopSignal, load_properties};

/// What to read and how. `new` gives Kafka's defaults plus a 30 s idle timeout.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The topic to read (every partition of it).
    pub topic: String,
    /// `host:port[,host:port…]`.
    pub bootstrap_servers: String,
    /// Whose committed offsets to resume from and commit to.
    pub group_id: String,
    /// Where to start without a committed offset (Kafka's default for the tool: earliest).
    pub reset_policy: OffsetReset,
    /// Leave committing to the client's auto-commit instead of committing after every poll
    /// (then no `offsets_committed` events are printed, as in Kafka).
    pub enable_autocommit: bool,
    /// Records to consume; -1 = until stopped (or idle).
    pub max_messages: i64,
    /// Print `record_data` for every record.
    pub verbose: bool,
    /// Stop after this long without a record; `None` = never.
    pub idle_timeout: Option<Duration>,
    /// How long one poll waits for records.
    pub poll_timeout: Duration,
    /// Read every partition in assign mode (`--assign`) instead of subscribing as a group
    /// member.
    pub assign: bool,
    /// `partition.assignment.strategy` (`--assignment-strategy`: range, roundrobin,
    /// cooperative-sticky); `None`: the client's default.
    pub assignment_strategy: Option<String>,
    /// `session.timeout.ms` (`--session-timeout`); `None`: the client's default.
    pub session_timeout: Option<Duration>,
    /// `group.instance.id` (`--group-instance-id`): a static member.
    pub group_instance_id: Option<String>,
    /// Kafka consumer keys (e.g. the contents of `--consumer.config FILE`); the options above
    /// win over the same keys here, as Kafka's flags win over its config file.
    pub consumer_config: Vec<(String, String)>,
    /// Raise to finish after the current poll (and its commit).
    pub stop: StopSignal,
}

impl ConsumerOptions {
    /// Options to read `topic` from `bootstrap_servers` as group `group_id`: from the earliest
    /// offset without a committed one, committing after every poll, until stopped or idle for
    /// 30 s, polls of 200 ms, no extra consumer keys.
    pub fn new(
        topic: impl Into<String>,
        bootstrap_servers: impl Into<String>,
        group_id: impl Into<String>,
    ) -> Self {
        ConsumerOptions {
            topic: topic.into(),
            bootstrap_servers: bootstrap_servers.into(),
            group_id: group_id.into(),
            reset_policy: OffsetReset::Earliest,
            enable_autocommit: false,
            max_messages: -1,
            verbose: false,
            idle_timeout: Some(Duration::from_secs(30)),
            poll_timeout: Duration::from_millis(200),
            assign: false,
            assignment_strategy: None,
            session_timeout: None,
            group_instance_id: None,
            consumer_config: Vec::new(),
            stop: StopSignal::new(),
        }
    }

    /// The consumer configuration the tool runs with: `consumer_config`, then the options
    /// above on top. Errors: `InvalidConfig` for an unknown key or a bad value.
    pub fn client_config(&self) -> Result<ConsumerConfig, ClientError> {
        let reset = match self.reset_policy {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
            OffsetReset::None => "none",
        };
        let mut config = ConsumerConfig::default();
        for (k, v) in &self.consumer_config {
            config.set(k, v)?;
        }
        config.set("bootstrap.servers", &self.bootstrap_servers)?;
        config.set("group.id", &self.group_id)?;
        config.set("auto.offset.reset", reset)?;
        if let Some(s) = &self.assignment_strategy {
            config.set("partition.assignment.strategy", s)?;
        }
        if let Some(t) = self.session_timeout {
            config.set("session.timeout.ms", &t.as_millis().to_string())?;
            // Kafka's rule of thumb: heartbeat at a third of the session timeout at most.
            let hb = config
                .heartbeat_interval
                .min(t / 3)
                .max(Duration::from_millis(1));
            config.set("heartbeat.interval.ms", &hb.as_millis().to_string())?;
        }
        if let Some(id) = &self.group_instance_id {
            config.set("group.instance.id", id)?;
        }
        config.set(
            "enable.auto.commit",
            if self.enable_autocommit {
                "true"
            } else {
                "false"
            },
        )?;
        config.validate()?;
        Ok(config)
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerSummary {
    /// Records reported (`records_consumed` counts summed).
    pub consumed: u64,
    /// Non-empty polls.
    pub polls: u64,
    /// Successful synchronous commits.
    pub commits: u64,
    /// Synchronous commits that failed (each an `offsets_committed` with `success: false`).
    pub commit_failures: u64,
    /// The last offset committed per partition (next offset to read).
    pub committed: BTreeMap<TopicPartition, i64>,
    /// Why the run ended.
    pub stop_reason: StopReason,
}

/// Why a consumer run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StopReason {
    /// `max_messages` records were consumed.
    #[default]
    MaxMessages,
    /// The stop signal was raised.
    Stopped,
    /// No record arrived for `idle_timeout`.
    Idle,
}

/// Runs the consumer over plain TCP, writing events to `out`.
pub async fn run<W: Write>(
    options: &ConsumerOptions,
    out: &mut W,
) -> Result<ConsumerSummary, ToolError> {
    run_with_channels(options, Channels::default(), out).await
}

/// Runs the consumer with its connections opened through `channels` (the embedded cluster's
/// fault-injecting ones), writing events to `out`.
///
/// Retriable client errors (leader moves, unreachable brokers) are ridden out: they count as
/// idle time, like an empty poll. Other errors (invalid config, unknown topic,
/// `auto.offset.reset=none` without a committed offset) end the run after `shutdown_complete`.
pub async fn run_with_channels<W: Write>(
    options: &ConsumerOptions,
    channels: Channels,
    out: &mut W,
) -> Result<ConsumerSummary, ToolError> {
    let config = options.client_config()?;
    let retry_backoff = config.retry_backoff;
    let mut admin_config = AdminConfig::new(&options.bootstrap_servers);
    admin_config.request_timeout = config.request_timeout;
    let admin = Admin::with_channels(admin_config, channels.clone())?;
    let mut consumer = Consumer::with_channels(config, channels)?;
    let mut events = EventWriter::new(out);
    events.emit(&Event::StartupComplete {
        timestamp: now_ms(),
    })?;
    events.flush()?;

    let listener = ListenerEvents::default();
    let mut summary = ConsumerSummary::default();
    let result = consume(
        options,
        &admin,
        &mut consumer,
        &listener,
        retry_backoff,
        &mut summary,
        &mut events,
    )
    .await;
    let latency = consumer.metrics().end_to_end_latency.into();
    if options.enable_autocommit || !options.assign {
        // Auto-commit's last word (the positions reached: Kafka commits on close too); a group
        // member also revokes its partitions (committing what it owes) and leaves the group.
        let closed = consumer.close().await.map_err(|e| e.to_string());
        if let Err(e) = &closed {
            tracing::warn!(error = %e, "closing the consumer failed");
        }
        listener.emit_pending(closed, &mut summary, &mut events)?;
    }
    let result = result.map(|reason| ConsumerSummary {
        stop_reason: reason,
        ..summary
    });
    // Kafka prints shutdown_complete in a finally block: also after a fatal error.
    events.emit(&Event::ShutdownComplete {
        timestamp: now_ms(),
        end_to_end_latency_ms: Some(latency),
    })?;
    events.flush()?;
    result
}

/// The rebalance listener of group mode. Callbacks run inside `poll`, where the event writer
/// is not at hand, so it queues `partitions_revoked` / `partitions_assigned` events and the tool
/// prints them, in order, before the records of that poll.
///
/// It also closes the gap commit-after-processing leaves open in a group: a commit after a poll
/// can fail while the group rebalances (`REBALANCE_IN_PROGRESS` while it completes, which
/// cooperative members see often since they keep consuming), and if that partition then moves
/// its new owner would read those records again. So the tool keeps what it reported but could
/// not commit, commits it with the next commit, and the listener commits it when the partition
/// is revoked (Kafka's "commit on rebalance"). The revocation's commit is printed as an
/// `offsets_committed` event just before `partitions_revoked`, its outcome being what `poll`
/// (or `close`) returned.
#[derive(Debug, Clone, Default)]
struct ListenerEvents(Arc<Mutex<ListenerState>>);

#[derive(Debug, Default)]
struct ListenerState {
    events: Vec<Event>,
    /// Reported offsets (next to read) whose commit has not succeeded yet.
    uncommitted: BTreeMap<TopicPartition, i64>,
}

impl ListenerEvents {
    fn state(&self) -> std::sync::MutexGuard<'_, ListenerState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Prints what the callbacks queued; `outcome` is what the `poll` or `close` they ran in
    /// returned, which is the outcome of the revocations' commits.
    fn emit_pending<W: Write>(
        &self,
        outcome: Result<(), String>,
        summary: &mut ConsumerSummary,
        events: &mut EventWriter<'_, W>,
    ) -> Result<(), ToolError> {
        let pending = std::mem::take(&mut self.state().events);
        for mut e in pending {
            if let Event::OffsetsCommitted {
                offsets,
                success,
                error,
                ..
            } = &mut e
            {
                match &outcome {
                    Ok(()) => {
                        summary.commits += 1;
                        for o in offsets.iter() {
                            summary
                                .committed
                                .insert(TopicPartition::new(&o.topic, o.partition), o.offset);
                        }
                    }
                    Err(msg) => {
                        summary.commit_failures += 1;
                        *success = false;
                        *error = Some(msg.clone());
                    }
                }
            }
            events.emit(&e)?;
        }
        Ok(())
    }

    /// What to commit after a poll: its offsets plus whatever earlier commits left uncommitted
    /// on partitions still owned.
    fn to_commit(
        &self,
        mut offsets: BTreeMap<TopicPartition, i64>,
        owned: &[TopicPartition],
    ) -> BTreeMap<TopicPartition, i64> {
        let mut st = self.state();
        st.uncommitted.retain(|tp, _| owned.contains(tp));
        for (tp, o) in &st.uncommitted {
            offsets.entry(tp.clone()).or_insert(*o);
        }
        offsets
    }

    /// The outcome of a commit of `offsets`.
    fn committed(&self, offsets: &BTreeMap<TopicPartition, i64>, ok: bool) {
        let mut st = self.state();
        for (tp, o) in offsets {
            if ok {
                if st.uncommitted.get(tp).is_some_and(|u| u <= o) {
                    st.uncommitted.remove(tp);
                }
            } else {
                let e = st.uncommitted.entry(tp.clone()).or_insert(*o);
                *e = (*e).max(*o);
            }
        }
    }
}

fn refs(partitions: &[TopicPartition]) -> Vec<TopicPartitionRef> {
    partitions
        .iter()
        .map(|tp| TopicPartitionRef {
            topic: tp.topic.clone(),
            partition: tp.partition,
        })
        .collect()
}

impl ConsumerRebalanceListener for ListenerEvents {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let mut st = self.state();
        let owed: BTreeMap<TopicPartition, i64> = partitions
            .iter()
            .filter_map(|tp| st.uncommitted.remove(tp).map(|o| (tp.clone(), o)))
            .collect();
        if !owed.is_empty() {
            ctx.commit(owed.clone());
            st.events.push(Event::OffsetsCommitted {
                timestamp: now_ms(),
                offsets: owed
                    .iter()
                    .map(|(tp, &offset)| CommittedOffset {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        offset,
                    })
                    .collect(),
                // Settled by `emit_pending` from the outcome of the poll it ran in.
                success: true,
                error: None,
            });
        }
        st.events.push(Event::PartitionsRevoked {
            timestamp: now_ms(),
            partitions: refs(partitions),
        });
    }

    fn on_partitions_assigned(
        &mut self,
        _: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.state().events.push(Event::PartitionsAssigned {
            timestamp: now_ms(),
            partitions: refs(partitions),
        });
    }

    fn on_partitions_lost(&mut self, _: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        // Someone else may own them already: nothing is committed. Kafka's VerifiableConsumer
        // has no `lost` event (its listener's default prints them as revoked).
        let mut st = self.state();
        for tp in partitions {
            st.uncommitted.remove(tp);
        }
        st.events.push(Event::PartitionsRevoked {
            timestamp: now_ms(),
            partitions: refs(partitions),
        });
    }
}

/// Whether a poll error only says this member's generation ended (its commit was refused):
/// the member rejoins on the next poll, so the tool carries on.
fn generation_ended(e: &ClientError) -> bool {
    matches!(
        e.code(),
        Some(
            ErrorCode::RebalanceInProgress
                | ErrorCode::IllegalGeneration
                | ErrorCode::UnknownMemberId
        )
    )
}

/// Consumes until a stop condition, filling `summary`; returns why it stopped.
async fn consume<W: Write>(
    options: &ConsumerOptions,
    admin: &Admin,
    consumer: &mut Consumer,
    listener: &ListenerEvents,
    retry_backoff: Duration,
    summary: &mut ConsumerSummary,
    events: &mut EventWriter<'_, W>,
) -> Result<StopReason, ToolError> {
    if options.assign {
        let partitions = topic_partitions(admin, &options.topic).await?;
        consumer.assign(partitions.clone());
        events.emit(&Event::PartitionsAssigned {
            timestamp: now_ms(),
            partitions: refs(&partitions),
        })?;
    } else {
        consumer.subscribe(vec![options.topic.clone()], listener.clone())?;
    }
    events.flush()?;

    let limit = u64::try_from(options.max_messages).ok();
    let mut last_record = Instant::now();
    let stop = loop {
        if limit.is_some_and(|l| summary.consumed >= l) {
            break StopReason::MaxMessages;
        }
        if options.stop.is_stopped() {
            break StopReason::Stopped;
        }
        if options
            .idle_timeout
            .is_some_and(|t| last_record.elapsed() >= t)
        {
            break StopReason::Idle;
        }
        let polled = if options.assign {
            // Dropping a pending poll loses nothing in assign mode: records are buffered inside
            // the consumer and positions advance only when `poll` returns them.
            tokio::select! {
                biased;
                r = consumer.poll(options.poll_timeout) => r,
                () = options.stop.stopped() => continue,
            }
        } else {
            // A member's poll may be in the middle of a rebalance (listener calls, JoinGroup,
            // SyncGroup): let it finish; the stop is seen after it, within one poll timeout or
            // one rebalance.
            consumer.poll(options.poll_timeout).await
        };
        let outcome = polled.as_ref().map(|_| ()).map_err(ToString::to_string);
        listener.emit_pending(outcome, summary, events)?;
        let records = match polled {
            Ok(r) => r,
            Err(e) if !options.assign && generation_ended(&e) => {
                tracing::info!(error = %e, "the member's generation ended; rejoining");
                continue;
            }
            Err(e) if e.is_retriable() => {
                tracing::warn!(error = %e, "poll failed; retrying");
                tokio::time::sleep(retry_backoff).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if records.is_empty() {
            continue;
        }
        last_record = Instant::now();
        let remaining = limit.map(|l| l.saturating_sub(summary.consumed));
        let offsets = on_records(records, remaining, options, summary, events)?;
        if !options.enable_autocommit && !offsets.is_empty() {
            let offsets = listener.to_commit(offsets, &consumer.assignment());
            let ok = commit(consumer, offsets.clone(), summary, events).await?;
            listener.committed(&offsets, ok);
        }
        events.flush()?;
    };
    Ok(stop)
}

/// The topic's partitions, in order.
async fn topic_partitions(admin: &Admin, topic: &str) -> Result<Vec<TopicPartition>, ToolError> {
    let topics = admin.describe_topics(&[topic]).await?;
    let Some(t) = topics.iter().find(|t| t.name == topic) else {
        return Err(ClientError::kafka(
            ErrorCode::UnknownTopicOrPartition,
            format!("topic {topic} does not exist"),
        )
        .into());
    };
    let mut partitions: Vec<TopicPartition> = t
        .partitions
        .iter()
        .map(|p| TopicPartition::new(topic, p.partition))
        .collect();
    partitions.sort();
    Ok(partitions)
}

/// Reports one poll (at most `remaining` records of it, as Kafka's tool truncates at
/// `--max-messages`) and returns the offsets to commit: max offset + 1 per partition.
fn on_records<W: Write>(
    records: Vec<ConsumerRecord>,
    remaining: Option<u64>,
    options: &ConsumerOptions,
    summary: &mut ConsumerSummary,
    events: &mut EventWriter<'_, W>,
) -> Result<BTreeMap<TopicPartition, i64>, ToolError> {
    let take = remaining.map_or(records.len(), |r| {
        usize::try_from(r).unwrap_or(usize::MAX).min(records.len())
    });
    let mut ranges: BTreeMap<TopicPartition, ConsumedPartition> = BTreeMap::new();
    for r in records.into_iter().take(take) {
        let tp = TopicPartition::new(&r.topic, r.partition);
        let range = ranges.entry(tp).or_insert_with(|| ConsumedPartition {
            topic: r.topic.clone(),
            partition: r.partition,
            count: 0,
            min_offset: r.offset,
            max_offset: r.offset,
        });
        range.count += 1;
        range.min_offset = range.min_offset.min(r.offset);
        range.max_offset = range.max_offset.max(r.offset);
        if options.verbose {
            events.emit(&Event::RecordData {
                timestamp: now_ms(),
                key: r.key.as_deref().map(lossy),
                value: r.value.as_deref().map(lossy).unwrap_or_default(),
                topic: r.topic,
                partition: r.partition,
                offset: r.offset,
            })?;
        }
    }
    let count = ranges.values().map(|p| p.count).sum::<u64>();
    summary.consumed += count;
    summary.polls += 1;
    let offsets = ranges
        .iter()
        .map(|(tp, p)| (tp.clone(), p.max_offset + 1))
        .collect();
    events.emit(&Event::RecordsConsumed {
        timestamp: now_ms(),
        count,
        partitions: ranges.into_values().collect(),
    })?;
    Ok(offsets)
}

/// Commits exactly what was reported (not the consumer's position, which may be past records
/// held back by `max_messages`) and reports the outcome. A failed commit is an event, not an
/// error: the next poll's commit covers it. Returns whether it succeeded.
async fn commit<W: Write>(
    consumer: &mut Consumer,
    offsets: BTreeMap<TopicPartition, i64>,
    summary: &mut ConsumerSummary,
    events: &mut EventWriter<'_, W>,
) -> Result<bool, ToolError> {
    let result = consumer.commit_sync_offsets(offsets.clone()).await;
    let listed = offsets
        .iter()
        .map(|(tp, &offset)| CommittedOffset {
            topic: tp.topic.clone(),
            partition: tp.partition,
            offset,
        })
        .collect();
    let error = match result {
        Ok(()) => {
            summary.commits += 1;
            summary.committed.extend(offsets);
            None
        }
        Err(e) => {
            summary.commit_failures += 1;
            Some(e.to_string())
        }
    };
    let ok = error.is_none();
    events.emit(&Event::OffsetsCommitted {
        timestamp: now_ms(),
        offsets: listed,
        success: ok,
        error,
    })?;
    Ok(ok)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_config_file() {
        let mut o = ConsumerOptions::new("t", "127.0.0.1:1", "g");
        o.consumer_config = vec![
            ("auto.offset.reset".into(), "latest".into()),
            ("max.poll.records".into(), "7".into()),
        ];
        o.session_timeout = Some(Duration::from_millis(900));
        o.group_instance_id = Some("m1".into());
        let c = o.client_config().unwrap();
        assert_eq!(c.session_timeout, Duration::from_millis(900));
        assert!(c.heartbeat_interval <= Duration::from_millis(300));
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        assert_eq!(c.max_poll_records, 7);
        assert_eq!(c.group_id.as_deref(), Some("g"));
        assert!(!c.auto_commit_enabled());
        o.consumer_config = vec![("bogus".into(), "1".into())];
        assert!(o.client_config().is_err());
    }
}
