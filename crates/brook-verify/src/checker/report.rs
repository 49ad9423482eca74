//! The checker's findings and its report: counts, examples, promises and violations.

use std::fmt::Write as _;

use serde::Serialize;

use super::*;

// ------------------------------------------------------------------------------------------------
// Report

/// A count and the first few examples, in value order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding<T> {
    /// How many there are in all.
    pub count: u64,
    /// The first [`EXAMPLES`] of them.
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
    pub(super) fn from_all(all: Vec<T>) -> Finding<T> {
        let count = all.len() as u64;
        Finding {
            count,
            examples: all.into_iter().take(EXAMPLES).collect(),
        }
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// One place in the log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Position {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The offset in that partition.
    pub offset: i64,
}

/// A value found at more than one position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    /// The producer's value.
    pub value: String,
    /// Every position a consumer read it at, sorted.
    pub positions: Vec<Position>,
}

/// Which ordering rule a [`Reorder`] broke (serialized in snake case: `offset_went_back`,
/// `ack_order`).
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
    /// The partition's topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// Which rule was broken.
    pub kind: ReorderKind,
    /// The value consumed out of order.
    pub value: String,
    /// `OffsetWentBack`: the offset it was consumed at. `AckOrder`: the offset it was
    /// acknowledged at.
    pub offset: i64,
    /// `OffsetWentBack`: the offset consumed just before it. `AckOrder`: the acknowledged
    /// offset of the value consumed before it.
    pub previous: i64,
}

/// Different values at one position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inconsistency {
    /// The partition's topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The offset holding more than one value.
    pub offset: i64,
    /// Every value acknowledged or consumed at that offset, in value order.
    pub values: Vec<String>,
}

/// Acknowledgements of one partition in one leader epoch that came from different brokers: two
/// brokers both accepted writes as leader of the same epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SplitBrain {
    /// The partition's topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// The leader epoch claimed by more than one broker.
    pub leader_epoch: i32,
    /// Node ids of the brokers that acknowledged writes in it, sorted.
    pub leaders: Vec<i32>,
}

/// Per-partition counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionSummary {
    /// The partition's topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
    /// `producer_send_success` events for the partition.
    pub acked: u64,
    /// `record_data` events for the partition.
    pub consumed: u64,
    /// Lost values that were acknowledged in this partition.
    pub lost: u64,
    /// Duplicated values with a position in this partition.
    pub duplicated: u64,
    /// Ordering anomalies in this partition.
    pub reordered: u64,
    /// Offsets of this partition holding more than one value.
    pub inconsistent: u64,
    /// Smallest offset consumed, if any record was.
    pub min_consumed_offset: Option<i64>,
    /// Largest offset consumed, if any record was.
    pub max_consumed_offset: Option<i64>,
    /// Largest offset acknowledged (`None` if no acknowledgement carried an offset, as with
    /// acks=0).
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
    /// With group semantics: no record is consumed again outside the at-least-once window
    /// (commit after processing; with auto-commit re-reads are expected).
    pub no_redelivery: bool,
}

impl Default for Promises {
    fn default() -> Self {
        Promises {
            no_loss: true,
            no_duplicates: true,
            no_redelivery: true,
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
    /// Acknowledged values no consumer saw, or that the final read no longer found.
    pub lost: Finding<String>,
    /// Values consumed at two or more different positions (written twice).
    pub duplicated: Finding<Duplicate>,
    /// Offsets going backwards within a consumer session, or values consumed out of their
    /// acknowledged order.
    pub reordered: Finding<Reorder>,
    /// Positions holding two or more different values.
    pub inconsistent: Finding<Inconsistency>,
    /// Consumed values that were never sent.
    pub phantom: Finding<String>,
    /// Consumed values whose send definitely failed (Jepsen's G1a).
    pub aborted_read: Finding<String>,
    /// (partition, leader epoch) pairs acknowledged by more than one broker.
    pub split_brain: Finding<SplitBrain>,
    /// Acknowledgements that named their broker and leader epoch (what `split_brain` checks).
    pub acked_with_leader: u64,
    /// Distinct (partition, leader epoch) pairs among them.
    pub leader_epochs: u64,
    /// Per-partition counts, sorted by topic and partition.
    pub partitions: Vec<PartitionSummary>,
    /// Consumer-group findings, when the checker applied group semantics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupDelivery>,
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
        if let Some(line) = self
            .consumed_twice_line()
            .filter(|_| promises.no_redelivery)
        {
            out.push(line);
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
        if !self.split_brain.is_empty() {
            let ex: Vec<String> = self
                .split_brain
                .examples
                .iter()
                .map(|s| {
                    format!(
                        "{}-{} epoch {} by brokers {:?}",
                        s.topic, s.partition, s.leader_epoch, s.leaders
                    )
                })
                .collect();
            out.push(format!(
                "split brain: {} (partition, leader epoch) pairs acknowledged by two or more \
                 brokers{}",
                self.split_brain.count,
                examples(&ex)
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
        if let Some(line) = self
            .consumed_twice_line()
            .filter(|_| !promises.no_redelivery)
        {
            out.push(format!("{line} (allowed: auto-commit)"));
        }
        out
    }

    fn consumed_twice_line(&self) -> Option<String> {
        let g = self
            .group
            .as_ref()
            .filter(|g| !g.consumed_twice.is_empty())?;
        let ex: Vec<String> = g
            .consumed_twice
            .examples
            .iter()
            .map(|p| format!("{}-{}@{}", p.topic, p.partition, p.offset))
            .collect();
        Some(format!(
            "consumed twice: {} records were consumed again outside the at-least-once window \
             (already committed, or handed over cleanly past the last commit){}",
            g.consumed_twice.count,
            examples(&ex)
        ))
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
        let rows: [(&str, u64, String); 12] = [
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
            (
                "split brain",
                self.split_brain.count,
                if self.acked_with_leader > 0 {
                    format!(
                        "{} acks named their leader, in {} (partition, epoch) pairs",
                        self.acked_with_leader, self.leader_epochs
                    )
                } else {
                    "not checked: no ack named its leader".to_string()
                },
            ),
        ];
        let mut out = String::new();
        let mut rows = rows.to_vec();
        if let Some(g) = &self.group {
            rows.push((
                "group",
                g.sessions,
                format!(
                    "member sessions, {} died; {} ownership periods; {} failed commits",
                    g.died, g.ownership_periods, g.failed_commits
                ),
            ));
            rows.push((
                "in window",
                g.redelivered_in_window,
                "consumed again after a dead or failed member's last commit (allowed)".into(),
            ));
            rows.push((
                "consumed twice",
                g.consumed_twice.count,
                g.consumed_twice
                    .examples
                    .iter()
                    .map(|p| format!("{}-{}@{}", p.topic, p.partition, p.offset))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
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
