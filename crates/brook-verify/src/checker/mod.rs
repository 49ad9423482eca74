//! The checker: compares what a verifiable producer was told (`producer_send_success` /
//! `producer_send_error`) with what a verifiable consumer saw (`record_data`), Kafka's
//! `validate_delivery` (V7) extended with Jepsen's anomalies (J4).
//!
//! What it reports (see [`Report`]):
//! * **lost** — an acknowledged value that no consumer ever saw (acked ⊆ consumed, V7), or,
//!   when a *final read* of the whole log is given ([`Checker::final_read_event`]), one that the
//!   log no longer holds at the end (a consumer read it, then a truncation took it away);
//! * **duplicated** — a value the consumer saw at two or more *different* positions
//!   (topic, partition, offset), i.e. written twice into the log. Reading the same position again
//!   (a consumer restart re-reading from its committed offset) is a *redelivery*, counted apart and
//!   never an anomaly;
//! * **reordered** — inside one consumer session, a partition's offsets going backwards, or values
//!   the producer had acknowledged in one partition consumed in a different order than their
//!   acknowledged offsets (values consumed at several positions are left to `duplicated`);
//! * **inconsistent** — two different values at one (topic, partition, offset), from the producer's
//!   acknowledgements and the consumer's records together (Jepsen's inconsistent offsets);
//! * **phantom** — a consumed value that was never sent;
//! * **aborted read** — a consumed value whose send *definitely* failed (Jepsen's G1a);
//! * **split brain** — two different brokers acknowledged writes to one partition in one leader
//!   epoch (from Brook's `leader` and `leader_epoch` on `producer_send_success`; acks without
//!   them, as Kafka's tool writes them, are not part of this check).
//!
//! A send error whose outcome is unknown (timeouts, `NETWORK_EXCEPTION`,
//! `NOT_ENOUGH_REPLICAS_AFTER_APPEND`, `CLIENT_CLOSED`; see [`outcome_unknown`]) counts as
//! **unknown**: never failed, never lost, and consuming it is fine (J4's `:info`).
//!
//! A session is a `startup_complete` in a log; when the producer log ends inside a session (the
//! producer was killed), sends it never reported on may still be in the log, so a consumed value
//! of one of its prefixes with no producer event is *unreported*, not phantom.
//!
//! Values are the producer's integers, `N` or `PREFIX.N` (`--value-prefix`, V1); both are accepted
//! and any other string is compared as an opaque value.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

use serde::Serialize;

use crate::events::Event;

/// How many examples each finding lists.
pub const EXAMPLES: usize = 10;

/// The event names [`Event`] knows; a well-formed line with another name is skipped, not malformed.
const KNOWN_EVENTS: &[&str] = &[
    "startup_complete",
    "shutdown_complete",
    "producer_send_success",
    "producer_send_error",
    "tool_data",
    "partitions_assigned",
    "partitions_revoked",
    "records_consumed",
    "record_data",
    "offsets_committed",
];

// ------------------------------------------------------------------------------------------------
// Reading JSON-lines files

/// A line that could not be read as an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    /// 1-based line number.
    pub line: usize,
    /// Why it is not an event (the JSON parser's message).
    pub error: String,
}

/// The events of one JSON-lines log, with what was skipped.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    /// The events, in file order.
    pub events: Vec<Event>,
    /// Lines that are not JSON or not a valid event (a killed tool may leave half a last line).
    pub malformed: Vec<Malformed>,
    /// Well-formed lines naming an event this version does not know (skipped).
    pub unknown_events: usize,
}

/// Parses JSON lines: blank lines are skipped, malformed lines are reported with their line
/// number and skipped. Only an I/O error fails.
pub fn parse_events(reader: impl BufRead) -> std::io::Result<EventLog> {
    let mut log = EventLog::default();
    for (i, line) in reader.lines().enumerate() {
        let line = line?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match Event::from_line(text) {
            Ok(event) => log.events.push(event),
            Err(e) => {
                let unknown_name = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("name")?.as_str().map(str::to_string))
                    .is_some_and(|name| !KNOWN_EVENTS.contains(&name.as_str()));
                if unknown_name {
                    log.unknown_events += 1;
                } else {
                    log.malformed.push(Malformed {
                        line: i + 1,
                        error: e.to_string(),
                    });
                }
            }
        }
    }
    Ok(log)
}

/// [`parse_events`] on a file.
pub fn read_events(path: impl AsRef<Path>) -> std::io::Result<EventLog> {
    let file = std::fs::File::open(path)?;
    parse_events(std::io::BufReader::new(file))
}

// ------------------------------------------------------------------------------------------------
// Values and error classification

/// Splits a producer value into its `--value-prefix` and integer: `"7"` → `(None, 7)`,
/// `"run3.7"` → `(Some("run3"), 7)`; anything else → `None`.
pub fn parse_value(value: &str) -> Option<(Option<&str>, u64)> {
    if let Ok(n) = value.parse::<u64>() {
        return Some((None, n));
    }
    let (prefix, n) = value.rsplit_once('.')?;
    if prefix.is_empty() {
        return None;
    }
    n.parse::<u64>().ok().map(|n| (Some(prefix), n))
}

fn prefix_of(value: &str) -> Option<Option<String>> {
    parse_value(value).map(|(p, _)| p.map(str::to_string))
}

/// Orders values numerically within a prefix (`2` before `10`), unparsable values last.
fn value_sort_key(value: &str) -> (bool, &str, u64, &str) {
    match parse_value(value) {
        Some((p, n)) => (false, p.unwrap_or(""), n, value),
        None => (true, "", 0, value),
    }
}

fn sort_values(values: &mut [String]) {
    values.sort_by(|a, b| value_sort_key(a).cmp(&value_sort_key(b)));
}

/// Whether a `producer_send_error`'s `exception` leaves the write's outcome unknown (it may be in
/// the log): `REQUEST_TIMED_OUT`, `NETWORK_EXCEPTION`, `NOT_ENOUGH_REPLICAS_AFTER_APPEND`,
/// `CLIENT_CLOSED`, `UNKNOWN_SERVER_ERROR` and anything naming a timeout. Kafka's Java class names
/// (`org.apache.kafka.common.errors.TimeoutException`, `NetworkException`, …) are recognised too.
/// Every other error is a definite failure.
pub fn outcome_unknown(exception: &str) -> bool {
    let last = exception.rsplit('.').next().unwrap_or(exception);
    let mut norm: String = last
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    for suffix in ["EXCEPTION", "ERROR"] {
        if norm.len() > suffix.len() && norm.ends_with(suffix) {
            norm.truncate(norm.len() - suffix.len());
        }
    }
    norm.contains("TIMEOUT")
        || norm.contains("TIMEDOUT")
        || matches!(
            norm.as_str(),
            "NETWORK" | "NOTENOUGHREPLICASAFTERAPPEND" | "CLIENTCLOSED" | "UNKNOWNSERVER"
        )
}

mod group;
mod report;
pub use group::GroupDelivery;
pub use report::*;

// ------------------------------------------------------------------------------------------------
// The checker

type Tp = (String, i32);

/// One consumer session's records of one partition, in delivery order.
struct Sequence {
    tp: Tp,
    records: Vec<(i64, String)>,
}

/// Feeds events in, any interleaving of producer and consumer events; only the order within the
/// consumer's events matters. [`check`] is the one-call form.
#[derive(Default)]
pub struct Checker {
    sent: u64,
    acked: u64,
    failed: u64,
    unknown: u64,
    consumed: u64,
    redelivered: u64,
    /// Value → where it was first acknowledged (offset -1 with acks=0).
    acked_at: HashMap<String, (Tp, i64)>,
    acked_per_tp: BTreeMap<Tp, (u64, Option<i64>)>,
    failed_values: HashSet<String>,
    unknown_values: HashSet<String>,
    /// Prefixes (`None` = bare integers) the producer used.
    prefixes: HashSet<Option<String>>,
    producer_open: bool,
    /// Value → every position the consumer saw it at.
    consumed_at: HashMap<String, BTreeSet<Position>>,
    /// Position → every value seen there (acks and records).
    slots: BTreeMap<(Tp, i64), BTreeSet<String>>,
    consumed_per_tp: BTreeMap<Tp, (u64, i64, i64)>,
    sequences: Vec<Sequence>,
    /// Partition → index of its current session's sequence.
    session: HashMap<Tp, usize>,
    /// Values a read of the whole log from the beginning found after the run, if one was made.
    final_log: Option<HashSet<String>>,
    /// (partition, leader epoch) → every broker that acknowledged a write in it.
    acked_by: BTreeMap<(Tp, i32), BTreeSet<i32>>,
    acked_with_leader: u64,
    /// Sessions, ownership periods and commits, when group semantics are on.
    group: Option<group::GroupTracker>,
}

impl Checker {
    /// A checker that has seen no event.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// A checker that also applies consumer-group semantics ([`GroupDelivery`]): the consumer
    /// events are the logs of a group's members, fed one member after another, and a record
    /// consumed twice is a finding unless it lay after the last commit of a member session that
    /// died or failed to commit.
    pub fn with_group_semantics() -> Checker {
        Checker {
            group: Some(group::GroupTracker::default()),
            ..Checker::default()
        }
    }

    /// One event of the verifiable producer's log.
    pub fn producer_event(&mut self, event: &Event) {
        match event {
            Event::StartupComplete { .. } => self.producer_open = true,
            Event::ShutdownComplete { .. } => self.producer_open = false,
            Event::ProducerSendSuccess {
                topic,
                partition,
                offset,
                value,
                leader,
                leader_epoch,
                ..
            } => {
                self.sent += 1;
                self.acked += 1;
                self.note_prefix(value);
                let tp = (topic.clone(), *partition);
                if let (Some(leader), Some(epoch)) = (leader, leader_epoch) {
                    self.acked_with_leader += 1;
                    self.acked_by
                        .entry((tp.clone(), *epoch))
                        .or_default()
                        .insert(*leader);
                }
                let entry = self.acked_per_tp.entry(tp.clone()).or_default();
                entry.0 += 1;
                if *offset >= 0 {
                    entry.1 = entry.1.max(Some(*offset));
                    self.slots
                        .entry((tp.clone(), *offset))
                        .or_default()
                        .insert(value.clone());
                }
                self.acked_at.entry(value.clone()).or_insert((tp, *offset));
            }
            Event::ProducerSendError {
                value, exception, ..
            } => {
                self.sent += 1;
                self.note_prefix(value);
                if outcome_unknown(exception) {
                    self.unknown += 1;
                    self.unknown_values.insert(value.clone());
                } else {
                    self.failed += 1;
                    self.failed_values.insert(value.clone());
                }
            }
            _ => {}
        }
    }

    /// One event of the verifiable consumer's log (`record_data` needs `--verbose`).
    pub fn consumer_event(&mut self, event: &Event) {
        if let Some(g) = &mut self.group {
            g.event(event);
        }
        match event {
            // A new consumer process, or a (re)assignment: positions may legitimately restart.
            Event::StartupComplete { .. } | Event::ShutdownComplete { .. } => {
                self.session.clear();
            }
            Event::PartitionsAssigned { partitions, .. } => {
                for p in partitions {
                    self.session.remove(&(p.topic.clone(), p.partition));
                }
            }
            Event::RecordData {
                topic,
                partition,
                offset,
                value,
                ..
            } => {
                self.consumed += 1;
                let tp = (topic.clone(), *partition);
                let pos = Position {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *offset,
                };
                if !self
                    .consumed_at
                    .entry(value.clone())
                    .or_default()
                    .insert(pos)
                {
                    self.redelivered += 1;
                }
                self.slots
                    .entry((tp.clone(), *offset))
                    .or_default()
                    .insert(value.clone());
                let stats =
                    self.consumed_per_tp
                        .entry(tp.clone())
                        .or_insert((0, i64::MAX, i64::MIN));
                stats.0 += 1;
                stats.1 = stats.1.min(*offset);
                stats.2 = stats.2.max(*offset);
                let index = match self.session.get(&tp) {
                    Some(&i) => i,
                    None => {
                        self.sequences.push(Sequence {
                            tp: tp.clone(),
                            records: Vec::new(),
                        });
                        let i = self.sequences.len() - 1;
                        self.session.insert(tp, i);
                        i
                    }
                };
                self.sequences[index].records.push((*offset, value.clone()));
            }
            _ => {}
        }
    }

    /// One event of a final read: a fresh consumer reading every partition from the beginning
    /// after the run. Acknowledged values it does not find are lost even if a consumer saw them
    /// during the run.
    pub fn final_read_event(&mut self, event: &Event) {
        let log = self.final_log.get_or_insert_with(HashSet::new);
        if let Event::RecordData { value, .. } = event {
            log.insert(value.clone());
        }
    }

    fn note_prefix(&mut self, value: &str) {
        if let Some(p) = prefix_of(value) {
            self.prefixes.insert(p);
        }
    }

    /// The verdict over everything fed so far.
    pub fn report(&self) -> Report {
        // Lost: acknowledged, and never consumed or gone from the log by the final read.
        let mut lost: Vec<String> = self
            .acked_at
            .keys()
            .filter(|v| {
                !self.consumed_at.contains_key(*v)
                    || self.final_log.as_ref().is_some_and(|f| !f.contains(*v))
            })
            .cloned()
            .collect();
        sort_values(&mut lost);
        let mut lost_per_tp: HashMap<Tp, u64> = HashMap::new();
        for v in &lost {
            *lost_per_tp.entry(self.acked_at[v].0.clone()).or_default() += 1;
        }

        // Duplicated: one value at several positions.
        let mut dup_values: Vec<String> = self
            .consumed_at
            .iter()
            .filter(|(_, at)| at.len() > 1)
            .map(|(v, _)| v.clone())
            .collect();
        sort_values(&mut dup_values);
        let mut dup_per_tp: HashMap<Tp, u64> = HashMap::new();
        for v in &dup_values {
            let tps: BTreeSet<Tp> = self.consumed_at[v]
                .iter()
                .map(|p| (p.topic.clone(), p.partition))
                .collect();
            for tp in tps {
                *dup_per_tp.entry(tp).or_default() += 1;
            }
        }
        let duplicated: Vec<Duplicate> = dup_values
            .iter()
            .map(|v| Duplicate {
                value: v.clone(),
                positions: self.consumed_at[v].iter().cloned().collect(),
            })
            .collect();

        // Reordered, per partition and consumer session.
        let mut reordered = Vec::new();
        for seq in &self.sequences {
            let (topic, partition) = seq.tp.clone();
            let mut prev_offset: Option<i64> = None;
            let mut prev_ack: Option<i64> = None;
            let mut seen: HashSet<&str> = HashSet::new();
            for (offset, value) in &seq.records {
                let mut flagged = false;
                if let Some(prev) = prev_offset {
                    if *offset <= prev {
                        flagged = true;
                        reordered.push(Reorder {
                            topic: topic.clone(),
                            partition,
                            kind: ReorderKind::OffsetWentBack,
                            value: value.clone(),
                            offset: *offset,
                            previous: prev,
                        });
                    }
                }
                prev_offset = Some(*offset);
                let first_in_session = seen.insert(value.as_str());
                let single_position = self.consumed_at.get(value).is_some_and(|a| a.len() == 1);
                let ack = self
                    .acked_at
                    .get(value)
                    .filter(|(tp, o)| *tp == seq.tp && *o >= 0)
                    .map(|(_, o)| *o);
                if let (Some(ack), true, true) = (ack, first_in_session, single_position) {
                    if let Some(prev) = prev_ack {
                        if ack <= prev && !flagged {
                            reordered.push(Reorder {
                                topic: topic.clone(),
                                partition,
                                kind: ReorderKind::AckOrder,
                                value: value.clone(),
                                offset: ack,
                                previous: prev,
                            });
                        }
                    }
                    prev_ack = Some(ack);
                }
            }
        }
        let mut reorder_per_tp: HashMap<Tp, u64> = HashMap::new();
        for r in &reordered {
            *reorder_per_tp
                .entry((r.topic.clone(), r.partition))
                .or_default() += 1;
        }

        // Inconsistent: one position, several values.
        let mut incons_per_tp: HashMap<Tp, u64> = HashMap::new();
        let inconsistent: Vec<Inconsistency> = self
            .slots
            .iter()
            .filter(|(_, values)| values.len() > 1)
            .map(|((tp, offset), values)| {
                *incons_per_tp.entry(tp.clone()).or_default() += 1;
                let mut values: Vec<String> = values.iter().cloned().collect();
                sort_values(&mut values);
                Inconsistency {
                    topic: tp.0.clone(),
                    partition: tp.1,
                    offset: *offset,
                    values,
                }
            })
            .collect();

        // Phantom and aborted reads; unknown writes that happened; unreported in-flight sends.
        let mut phantom = Vec::new();
        let mut aborted = Vec::new();
        let mut unknown_consumed = 0;
        let mut unreported = 0;
        for v in self.consumed_at.keys() {
            if self.acked_at.contains_key(v) {
                continue;
            }
            if self.unknown_values.contains(v) {
                unknown_consumed += 1;
            } else if self.failed_values.contains(v) {
                aborted.push(v.clone());
            } else if self.producer_open && prefix_of(v).is_some_and(|p| self.prefixes.contains(&p))
            {
                unreported += 1;
            } else {
                phantom.push(v.clone());
            }
        }
        sort_values(&mut phantom);
        sort_values(&mut aborted);

        // Split brain: one partition, one leader epoch, acknowledgements from several brokers.
        let split_brain: Vec<SplitBrain> = self
            .acked_by
            .iter()
            .filter(|(_, leaders)| leaders.len() > 1)
            .map(|((tp, epoch), leaders)| SplitBrain {
                topic: tp.0.clone(),
                partition: tp.1,
                leader_epoch: *epoch,
                leaders: leaders.iter().copied().collect(),
            })
            .collect();

        // Per partition.
        let tps: BTreeSet<&Tp> = self
            .acked_per_tp
            .keys()
            .chain(self.consumed_per_tp.keys())
            .collect();
        let partitions = tps
            .into_iter()
            .map(|tp| {
                let (acked, max_acked) = self.acked_per_tp.get(tp).copied().unwrap_or_default();
                let consumed = self.consumed_per_tp.get(tp).copied();
                PartitionSummary {
                    topic: tp.0.clone(),
                    partition: tp.1,
                    acked,
                    consumed: consumed.map_or(0, |c| c.0),
                    lost: lost_per_tp.get(tp).copied().unwrap_or(0),
                    duplicated: dup_per_tp.get(tp).copied().unwrap_or(0),
                    reordered: reorder_per_tp.get(tp).copied().unwrap_or(0),
                    inconsistent: incons_per_tp.get(tp).copied().unwrap_or(0),
                    min_consumed_offset: consumed.map(|c| c.1),
                    max_consumed_offset: consumed.map(|c| c.2),
                    max_acked_offset: max_acked,
                }
            })
            .collect();

        Report {
            sent: self.sent,
            acked: self.acked,
            failed: self.failed,
            unknown: self.unknown,
            consumed: self.consumed,
            consumed_distinct: self.consumed_at.len() as u64,
            redelivered: self.redelivered,
            unknown_consumed,
            unreported,
            lost: Finding::from_all(lost),
            duplicated: Finding::from_all(duplicated),
            reordered: Finding::from_all(reordered),
            inconsistent: Finding::from_all(inconsistent),
            phantom: Finding::from_all(phantom),
            aborted_read: Finding::from_all(aborted),
            split_brain: Finding::from_all(split_brain),
            acked_with_leader: self.acked_with_leader,
            leader_epochs: self.acked_by.len() as u64,
            partitions,
            group: self.group.as_ref().map(group::GroupTracker::report),
        }
    }
}

/// Checks a producer's events against the logs of a consumer group's members (each member's
/// events in turn), with group semantics ([`Checker::with_group_semantics`]) and an optional
/// final read.
pub fn check_group<P, F>(producer: P, members: Vec<Vec<Event>>, final_read: Option<F>) -> Report
where
    P: IntoIterator<Item = Event>,
    F: IntoIterator<Item = Event>,
{
    let mut checker = Checker::with_group_semantics();
    for e in producer {
        checker.producer_event(&e);
    }
    for e in members.iter().flatten() {
        checker.consumer_event(e);
    }
    for e in final_read.into_iter().flatten() {
        checker.final_read_event(&e);
    }
    checker.report()
}

/// Checks a producer's events against a consumer's.
pub fn check<P, C>(producer: P, consumer: C) -> Report
where
    P: IntoIterator<Item = Event>,
    C: IntoIterator<Item = Event>,
{
    check_with_final_read(producer, consumer, None::<Vec<Event>>)
}

/// [`check`], plus an optional final read of the whole log (a fresh consumer from the
/// beginning after the run): acknowledged values missing from it count as lost.
pub fn check_with_final_read<P, C, F>(producer: P, consumer: C, final_read: Option<F>) -> Report
where
    P: IntoIterator<Item = Event>,
    C: IntoIterator<Item = Event>,
    F: IntoIterator<Item = Event>,
{
    let mut checker = Checker::new();
    for e in producer {
        checker.producer_event(&e);
    }
    for e in consumer {
        checker.consumer_event(&e);
    }
    for e in final_read.into_iter().flatten() {
        checker.final_read_event(&e);
    }
    checker.report()
}
