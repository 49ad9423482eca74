//! In-memory event capture for a scenario run: the verifiable producer and consumer write their
//! JSON lines into a [`Capture`], which keeps the raw bytes for the checker and, as each line
//! completes, the few live facts the orchestrator steers by (acks and their times, values
//! consumed, when the consumer last made progress).
//!
//! Live facts are needed because the fault schedule waits on the workload ("≥ 5 acks before the
//! first fault", "the producer makes progress again"), and the drain waits until the consumer has
//! seen every acknowledged value; re-parsing the whole log for each check would be quadratic.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use brook_verify::checker::{self, EventLog};
use brook_verify::events::Event;
use tokio::time::Instant;

/// One tool's events and what was learned from them so far. Cheap to clone (shared state).
#[derive(Debug, Clone, Default)]
pub struct Capture {
    inner: Arc<Mutex<State>>,
}

/// The live facts; read them through [`Capture::state`].
#[derive(Debug, Default)]
pub struct State {
    bytes: Vec<u8>,
    /// Bytes already split into lines.
    scanned: usize,
    /// When `startup_complete` was seen (the producer's throttle starts then).
    pub started: Option<Instant>,
    /// (time, partition, value number) of every `producer_send_success`, in arrival order.
    pub acks: Vec<(Instant, i32, u64)>,
    /// `producer_send_error` events.
    pub errors: u64,
    /// Values of every `producer_send_success`.
    pub acked_values: HashSet<String>,
    /// Distinct values of every `record_data` event.
    pub consumed_values: HashSet<String>,
    /// `record_data` events, duplicates included.
    pub consumed: u64,
    /// When the last `record_data` event arrived (the drain stops after a quiet spell).
    pub last_consumed: Option<Instant>,
    /// The partitions a consumer owns now: assigned and not revoked since (group members).
    pub assigned: std::collections::BTreeSet<i32>,
}

impl Capture {
    /// An empty capture with no events and no live facts.
    pub fn new() -> Capture {
        Capture::default()
    }

    /// A writer for one tool; all writers of a capture append to the same log.
    pub fn writer(&self) -> CaptureWriter {
        CaptureWriter {
            capture: self.clone(),
        }
    }

    /// The live facts (hold the guard briefly: the tool's writes wait on it).
    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the byte log half-updated in a way that
        // matters to the checker (it skips a malformed line), so a poisoned lock is still used.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the raw JSON lines.
    pub fn bytes(&self) -> Vec<u8> {
        self.state().bytes.clone()
    }

    /// Every complete line parsed as events (for the checker).
    pub fn events(&self) -> EventLog {
        let state = self.state();
        checker::parse_events(&state.bytes[..]).unwrap_or_default()
    }
}

impl State {
    /// Outcomes reported so far (acks + errors).
    pub fn outcomes(&self) -> u64 {
        self.acks.len() as u64 + self.errors
    }

    /// Acknowledged values the consumer has not seen yet.
    pub fn unseen(&self, acked: &HashSet<String>) -> usize {
        acked
            .iter()
            .filter(|v| !self.consumed_values.contains(*v))
            .count()
    }

    fn on_line(&mut self, line: &[u8]) {
        let Ok(text) = std::str::from_utf8(line) else {
            return;
        };
        let Ok(event) = Event::from_line(text) else {
            return;
        };
        let now = Instant::now();
        match event {
            Event::StartupComplete { .. } => {
                self.started.get_or_insert(now);
            }
            Event::ProducerSendSuccess {
                partition, value, ..
            } => {
                let n = checker::parse_value(&value).map_or(u64::MAX, |(_, n)| n);
                self.acks.push((now, partition, n));
                self.acked_values.insert(value);
            }
            Event::ProducerSendError { .. } => self.errors += 1,
            Event::PartitionsAssigned { partitions, .. } => {
                self.assigned.extend(partitions.iter().map(|p| p.partition));
            }
            Event::PartitionsRevoked { partitions, .. } => {
                for p in &partitions {
                    self.assigned.remove(&p.partition);
                }
            }
            Event::RecordData { value, .. } => {
                self.consumed += 1;
                self.last_consumed = Some(now);
                self.consumed_values.insert(value);
            }
            _ => {}
        }
    }
}

/// `io::Write` into a [`Capture`].
#[derive(Debug)]
pub struct CaptureWriter {
    capture: Capture,
}

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = self.capture.state();
        state.bytes.extend_from_slice(buf);
        // Split off complete lines; a line may arrive in several writes.
        while let Some(nl) = state.bytes[state.scanned..]
            .iter()
            .position(|b| *b == b'\n')
        {
            let (start, end) = (state.scanned, state.scanned + nl);
            let line = state.bytes[start..end].to_vec();
            state.scanned = end + 1;
            state.on_line(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
