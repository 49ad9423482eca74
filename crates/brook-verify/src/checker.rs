//! The checker: compares what a verifiable producer was told (`producer_send_success` /
//! `producer_send_error`) with what a verifiable consumer saw (`record_data`), Kafka's
//! `validate_delivery` (V7) extended with Jepsen's anomalies (J4).
//!
//! What it reports (see [`Report`]):
//! * **lost** — an acknowledged value that no consumer ever saw (acked ⊆ consumed, V7);
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
//! * **aborted read** — a consumed value whose send *definitely* failed (Jepsen's G1a).
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
use std::fmt::Write as _;
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
    pub error: String,
}

/// The events of one JSON-lines log, with what was skipped.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
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

// ------------------------------------------------------------------------------------------------
// Report

/// A count and the first few examples, in value order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding<T> {
    pub count: u64,
    pub examples: Vec<T>,
}

impl<T> Default for Finding<T> {
    fn default() -> Self {
        Finding {
            count: 0,
            examples: Vec::new(),
        }
    }
}

impl<T> Finding<T> {
    fn from_all(all: Vec<T>) -> Finding<T> {
        let count = all.len() as u64;
        Finding {
            count,
            examples: all.into_iter().take(EXAMPLES).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// One place in the log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// A value found at more than one position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    pub value: String,
    pub positions: Vec<Position>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReorderKind {
    /// The consumer's offset in a partition went backwards (or repeated) within one session:
    /// `offset` came after `previous`.
    OffsetWentBack,
    /// A value acknowledged at offset `offset` was consumed after one acknowledged at the larger
    /// offset `previous`.
    AckOrder,
}

/// One ordering anomaly in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reorder {
    pub topic: String,
    pub partition: i32,
    pub kind: ReorderKind,
    pub value: String,
    pub offset: i64,
    pub previous: i64,
}

/// Different values at one position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inconsistency {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub values: Vec<String>,
}

/// Per-partition counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionSummary {
    pub topic: String,
    pub partition: i32,
    pub acked: u64,
    pub consumed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub inconsistent: u64,
    pub min_consumed_offset: Option<i64>,
    pub max_consumed_offset: Option<i64>,
    pub max_acked_offset: Option<i64>,
}

/// What the configuration under test promises; order, consistency, phantom and aborted reads are
/// always promised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Promises {
    /// Every acknowledged write is consumed (acks=all, min ISR ≥ 2, clean election).
    pub no_loss: bool,
    /// No value is written twice (idempotence).
    pub no_duplicates: bool,
}

impl Default for Promises {
    fn default() -> Self {
        Promises {
            no_loss: true,
            no_duplicates: true,
        }
    }
}

/// The checker's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `producer_send_success` + `producer_send_error` events.
    pub sent: u64,
    /// `producer_send_success` events.
    pub acked: u64,
    /// Send errors that definitely failed.
    pub failed: u64,
    /// Send errors whose outcome is unknown (timeouts …): never failed, never lost.
    pub unknown: u64,
    /// `record_data` events.
    pub consumed: u64,
    /// Distinct values consumed.
    pub consumed_distinct: u64,
    /// Records read again at a position already consumed with the same value (consumer re-reads
    /// after a restart; not an anomaly).
    pub redelivered: u64,
    /// Unknown-outcome writes that were consumed (they did happen).
    pub unknown_consumed: u64,
    /// Consumed values of a producer that stopped without `shutdown_complete` and never reported
    /// on them (in flight when it died; not phantom).
    pub unreported: u64,
    pub lost: Finding<String>,
    pub duplicated: Finding<Duplicate>,
    pub reordered: Finding<Reorder>,
    pub inconsistent: Finding<Inconsistency>,
    pub phantom: Finding<String>,
    pub aborted_read: Finding<String>,
    pub partitions: Vec<PartitionSummary>,
}

fn examples(values: &[String]) -> String {
    let mut s = values.join(", ");
    if s.is_empty() {
        return s;
    }
    s.insert_str(0, " (e.g. ");
    s.push(')');
    s
}

impl Report {
    /// Each broken promise as one line starting with its name (`lost: …`). Order, inconsistent
    /// offsets, phantom and aborted reads are always violations; loss and duplicates only when
    /// `promises` says so.
    pub fn violations(&self, promises: &Promises) -> Vec<String> {
        let mut out = Vec::new();
        if promises.no_loss && !self.lost.is_empty() {
            out.push(self.lost_line());
        }
        if promises.no_duplicates && !self.duplicated.is_empty() {
            out.push(self.duplicated_line());
        }
        if !self.reordered.is_empty() {
            let ex: Vec<String> = self
                .reordered
                .examples
                .iter()
                .map(|r| match r.kind {
                    ReorderKind::OffsetWentBack => format!(
                        "{}-{} offset {} after {}",
                        r.topic, r.partition, r.offset, r.previous
                    ),
                    ReorderKind::AckOrder => format!(
                        "{}-{} value {} acked at {} consumed after one acked at {}",
                        r.topic, r.partition, r.value, r.offset, r.previous
                    ),
                })
                .collect();
            out.push(format!(
                "reordered: {} ordering anomalies within a partition{}",
                self.reordered.count,
                examples(&ex)
            ));
        }
        if !self.inconsistent.is_empty() {
            let ex: Vec<String> = self
                .inconsistent
                .examples
                .iter()
                .map(|i| {
                    format!(
                        "{}-{}@{}: {}",
                        i.topic,
                        i.partition,
                        i.offset,
                        i.values.join(" vs ")
                    )
                })
                .collect();
            out.push(format!(
                "inconsistent: {} offsets hold two different values{}",
                self.inconsistent.count,
                examples(&ex)
            ));
        }
        if !self.phantom.is_empty() {
            out.push(format!(
                "phantom: {} consumed values were never sent{}",
                self.phantom.count,
                examples(&self.phantom.examples)
            ));
        }
        if !self.aborted_read.is_empty() {
            out.push(format!(
                "aborted read: {} consumed values whose send definitely failed{}",
                self.aborted_read.count,
                examples(&self.aborted_read.examples)
            ));
        }
        out
    }

    /// Anomalies found but allowed by `promises` (loss with acks=1, duplicates without
    /// idempotence), one line each, to report as expected.
    pub fn allowed(&self, promises: &Promises) -> Vec<String> {
        let mut out = Vec::new();
        if !promises.no_loss && !self.lost.is_empty() {
            out.push(format!(
                "{} (allowed by the configuration)",
                self.lost_line()
            ));
        }
        if !promises.no_duplicates && !self.duplicated.is_empty() {
            out.push(format!(
                "{} (allowed by the configuration)",
                self.duplicated_line()
            ));
        }
        out
    }

    fn lost_line(&self) -> String {
        format!(
            "lost: {} acknowledged values were never consumed{}",
            self.lost.count,
            examples(&self.lost.examples)
        )
    }

    fn duplicated_line(&self) -> String {
        let ex: Vec<String> = self
            .duplicated
            .examples
            .iter()
            .map(|d| {
                let at: Vec<String> = d
                    .positions
                    .iter()
                    .map(|p| format!("{}-{}@{}", p.topic, p.partition, p.offset))
                    .collect();
                format!("{} at {}", d.value, at.join(" and "))
            })
            .collect();
        format!(
            "duplicated: {} values were written more than once{}",
            self.duplicated.count,
            examples(&ex)
        )
    }

    /// A readable table: the summary rows, then one line per partition.
    pub fn summary_table(&self) -> String {
        let rows: [(&str, u64, String); 11] = [
            ("sent", self.sent, String::new()),
            ("acked", self.acked, String::new()),
            ("failed", self.failed, String::new()),
            (
                "unknown",
                self.unknown,
                if self.unknown_consumed > 0 {
                    format!("{} of them consumed", self.unknown_consumed)
                } else {
                    String::new()
                },
            ),
            ("consumed", self.consumed, {
                let mut note = format!("{} distinct", self.consumed_distinct);
                if self.redelivered > 0 {
                    let _ = write!(note, ", {} redelivered", self.redelivered);
                }
                if self.unreported > 0 {
                    let _ = write!(note, ", {} unreported by the producer", self.unreported);
                }
                note
            }),
            ("lost", self.lost.count, self.lost.examples.join(", ")),
            (
                "duplicated",
                self.duplicated.count,
                self.duplicated
                    .examples
                    .iter()
                    .map(|d| d.value.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "reordered",
                self.reordered.count,
                self.reordered
                    .examples
                    .iter()
                    .map(|r| format!("{}-{}@{}", r.topic, r.partition, r.offset))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "inconsistent",
                self.inconsistent.count,
                self.inconsistent
                    .examples
                    .iter()
                    .map(|i| format!("{}-{}@{}", i.topic, i.partition, i.offset))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            (
                "phantom",
                self.phantom.count,
                self.phantom.examples.join(", "),
            ),
            (
                "aborted reads",
                self.aborted_read.count,
                self.aborted_read.examples.join(", "),
            ),
        ];
        let mut out = String::new();
        for (name, count, note) in rows {
            let _ = writeln!(out, "{name:<14} {count:>10}  {note}");
            while out.ends_with(" \n") {
                let n = out.len();
                out.replace_range(n - 2..n, "\n");
            }
        }
        if !self.partitions.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<24} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}  consumed offsets",
                "partition", "acked", "consumed", "lost", "dup", "reord", "incons"
            );
            for p in &self.partitions {
                let range = match (p.min_consumed_offset, p.max_consumed_offset) {
                    (Some(lo), Some(hi)) => format!("{lo}..={hi}"),
                    _ => "-".to_string(),
                };
                let _ = writeln!(
                    out,
                    "{:<24} {:>8} {:>9} {:>6} {:>6} {:>6} {:>6}  {range}",
                    format!("{}-{}", p.topic, p.partition),
                    p.acked,
                    p.consumed,
                    p.lost,
                    p.duplicated,
                    p.reordered,
                    p.inconsistent
                );
            }
        }
        out
    }
}

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
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
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
                ..
            } => {
                self.sent += 1;
                self.acked += 1;
                self.note_prefix(value);
                let tp = (topic.clone(), *partition);
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
        match event {
            // A new consumer process, or a (re)assignment: positions may legitimately restart.
            Event::StartupComplete { .. } => self.session.clear(),
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

    fn note_prefix(&mut self, value: &str) {
        if let Some(p) = prefix_of(value) {
            self.prefixes.insert(p);
        }
    }

    /// The verdict over everything fed so far.
    pub fn report(&self) -> Report {
        // Lost: acknowledged, never consumed.
        let mut lost: Vec<String> = self
            .acked_at
            .keys()
            .filter(|v| !self.consumed_at.contains_key(*v))
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
            partitions,
        }
    }
}

/// Checks a producer's events against a consumer's.
pub fn check<P, C>(producer: P, consumer: C) -> Report
where
    P: IntoIterator<Item = Event>,
    C: IntoIterator<Item = Event>,
{
    let mut checker = Checker::new();
    for e in producer {
        checker.producer_event(&e);
    }
    for e in consumer {
        checker.consumer_event(&e);
    }
    checker.report()
}
