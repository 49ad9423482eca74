//! Per-partition idempotent-producer state (SPEC §6; kafka-semantics §5, rules I1–I8): for every
//! producer id that wrote to this partition, its current epoch and the metadata of its last
//! [`NUM_BATCHES_TO_RETAIN`] batches, the verdict on a new client batch (append, duplicate, or an
//! error), and the on-disk snapshots that let the state survive a restart.
//!
//! Plain code over plain structs: the only I/O is reading and writing snapshot files. The broker
//! calls it from three places — the leader's produce path ([`ProducerStateManager::verdict`] then
//! [`ProducerStateManager::update`]), a follower's replicated appends (`update` only: the leader
//! already validated, I6) and log recovery/truncation ([`ProducerStateManager::rebuild`]).
//!
//! The rules, as Kafka applies them:
//! - **I1** sequences are per (producer, partition), start at 0 and wrap from `i32::MAX` to 0.
//! - **I2** per producer: the epoch and at most 5 recent batches, oldest evicted first.
//! - **I3** a client batch is checked in this order: (1) same epoch and exactly the sequence range
//!   of a cached batch → *duplicate*: nothing is appended, the client gets `NONE` with the original
//!   offsets; (2) older epoch → `INVALID_PRODUCER_EPOCH`; (3) newer epoch → sequence must be 0,
//!   same epoch → sequence must be last + 1, else `OUT_OF_ORDER_SEQUENCE_NUMBER`. A producer id
//!   with no state (new or expired) is accepted at any sequence (Kafka ≥ 2.5). A retry older than
//!   the 5-batch window fails (3) and is `OUT_OF_ORDER_SEQUENCE_NUMBER` — never appended twice.
//! - **I6** the state is derived purely from the log, so followers build it from what they
//!   replicate, leniently (no validation), and a new leader keeps deduplicating.
//! - **I7** snapshots `<20-digit offset>.snapshot` hold every retained batch (up to 5) per
//!   producer — Kafka's hold only the last one, which makes a retry of an older in-flight batch
//!   after a broker restart `OUT_OF_ORDER_SEQUENCE_NUMBER`; a client that then bumps its epoch
//!   writes that batch twice (Brook's verifier caught exactly this). On restart the newest valid
//!   snapshot is loaded and later batches are replayed from the log, so every batch a client can
//!   retry is still recognised (T14).
//! - **I8** producers idle for `producer.id.expiration.ms` are dropped ([`ProducerStateManager::expire`]).
//!
//! Snapshot file format (version 2, big-endian; the CRC is crc32fast over every byte after it):
//! ```text
//! version i16 = 2 | crc u32 | offset i64 | count i32 |
//! count × (producer_id i64, epoch i16, first_seq i32, last_seq i32,
//!          first_offset i64, last_offset i64, timestamp i64, last_timestamp i64)
//! ```
//! One entry per retained batch, a producer's batches consecutive and oldest first. Version 1
//! files (one entry per producer) still load.
//! `offset` repeats the file name so a renamed or misplaced file is detected. A snapshot that
//! fails any check is deleted and an older one (or the log) is used instead.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use brook_log::batch::{self, BatchHeader, NO_PRODUCER_EPOCH};
use brook_log::io::{FileSystem, OsFileSystem};

/// Batches remembered per producer (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`). It equals
/// the client's maximum in-flight batches (I4), so any batch a client can retry is still known.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// Extension of snapshot files.
const SNAPSHOT_EXT: &str = "snapshot";
const SNAPSHOT_VERSION: i16 = 2;
/// version (2) + crc (4).
const SNAPSHOT_PREFIX_LEN: usize = 6;
/// offset (8) + count (4).
const SNAPSHOT_BODY_HEADER_LEN: usize = 12;
/// One producer entry in a snapshot.
const SNAPSHOT_ENTRY_LEN: usize = 8 + 2 + 4 + 4 + 8 + 8 + 8 + 8;
/// How much of the log `rebuild` reads at a time.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// What the partition remembers about one appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// The batch's base sequence.
    pub first_seq: i32,
    /// The sequence of its last record (base sequence + last offset delta, wrapping as I1).
    pub last_seq: i32,
    /// The offset of its first record.
    pub first_offset: i64,
    /// The offset of its last record (inclusive).
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

impl BatchMetadata {
    /// The metadata of a stored (offset-assigned) batch.
    pub fn from_header(h: &BatchHeader) -> BatchMetadata {
        BatchMetadata {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
            timestamp: h.max_timestamp,
        }
    }
}

/// One producer's state in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The producer id (from InitProducerId).
    pub producer_id: i64,
    /// The producer epoch of its newest batch in this partition; older epochs are fenced.
    pub epoch: i16,
    /// Oldest first; at most [`NUM_BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMetadata>,
    /// The newest batch timestamp seen, for expiry (I8).
    pub last_timestamp: i64,
}

impl ProducerEntry {
    /// The most recently appended batch.
    pub fn last_batch(&self) -> Option<&BatchMetadata> {
        self.batches.back()
    }

    /// The sequence the next batch of the current epoch must start with.
    pub fn next_expected_seq(&self) -> i32 {
        // An entry without batches (not produced by this module, but possible in principle) has
        // no last sequence: like Kafka's NO_SEQUENCE (-1), the next one is 0.
        self.last_batch().map_or(0, |b| next_seq(b.last_seq))
    }

    /// The cached batch with exactly this sequence range, if any.
    pub(crate) fn find_duplicate(&self, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            .copied()
    }
}

/// The sequence after `seq`, wrapping from `i32::MAX` to 0 (Kafka's `incrementSequence`), not to
/// `i32::MIN` as `wrapping_add` would.
pub fn next_seq(seq: i32) -> i32 {
    brook_log::batch::increment_sequence(seq, 1)
}

/// The verdict on a client batch, before it is appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Append it, then call [`ProducerStateManager::update`] with where it landed.
    Append,
    /// A retry of this already-appended batch: append nothing and answer `NONE` with its original
    /// `first_offset` (and timestamp).
    Duplicate(BatchMetadata),
}

/// Why a batch is refused, or a snapshot could not be handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerStateError {
    /// A sequence gap, a non-zero first sequence after an epoch bump, or a retry older than the
    /// retained window. Retriable for the client (it re-sends or bumps its epoch, I5).
    #[error(
        "OUT_OF_ORDER_SEQUENCE_NUMBER: producer {producer_id} expected sequence {expected}, got {got}"
    )]
    OutOfOrderSequence {
        /// The producer whose batch was refused.
        producer_id: i64,
        /// The sequence the batch had to start with.
        expected: i32,
        /// The batch's base sequence.
        got: i32,
    },
    /// A batch from an epoch older than the partition's: that producer instance is fenced.
    #[error("INVALID_PRODUCER_EPOCH: producer {producer_id} is at epoch {current}, got {got}")]
    InvalidProducerEpoch {
        /// The producer whose batch was refused.
        producer_id: i64,
        /// The epoch the partition knows for it.
        current: i16,
        /// The batch's (older) epoch.
        got: i16,
    },
    /// Reading, writing or deleting a snapshot failed, or the log could not be replayed.
    #[error("KAFKA_STORAGE_ERROR: producer state: {0}")]
    Snapshot(String),
    /// The batch is *ahead* of its producer's next sequence (or is the first batch seen from a
    /// producer, at a sequence above 0): probably a pipelined request that overtook its
    /// predecessor. Only [`ProducerStateManager::verdict`] with `may_wait` says this; the
    /// produce path waits briefly for the gap to fill, then asks again without waiting.
    #[error(
        "OUT_OF_ORDER_SEQUENCE_NUMBER: producer {producer_id} sequence {got} is ahead of the next expected one"
    )]
    SequenceAhead {
        /// The producer whose batch is ahead.
        producer_id: i64,
        /// The batch's base sequence.
        got: i32,
    },
}

impl ProducerStateError {
    /// Kafka's name for this error.
    pub fn kafka_name(&self) -> &'static str {
        match self {
            ProducerStateError::OutOfOrderSequence { .. } => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            ProducerStateError::InvalidProducerEpoch { .. } => "INVALID_PRODUCER_EPOCH",
            ProducerStateError::Snapshot(_) => "KAFKA_STORAGE_ERROR",
            ProducerStateError::SequenceAhead { .. } => "OUT_OF_ORDER_SEQUENCE_NUMBER",
        }
    }

    fn io(context: impl std::fmt::Display, err: io::Error) -> ProducerStateError {
        ProducerStateError::Snapshot(format!("{context}: {err}"))
    }
}

/// The producer state of one partition. See the module docs for the rules.
#[derive(Debug, Default, Clone)]
pub struct ProducerStateManager {
    /// Ordered so that snapshots are deterministic.
    producers: BTreeMap<i64, ProducerEntry>,
    /// The state reflects every batch below this offset (exclusive).
    map_end_offset: i64,
}

impl ProducerStateManager {
    /// An empty state: no producers, reflecting the log up to offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The produce path's verdict on a client batch with header `h`: while `may_wait`, a batch
    /// that is ahead of its producer's next sequence — same epoch, not a duplicate, a gap before
    /// it — or the first batch seen from a producer at a sequence above 0 is
    /// [`ProducerStateError::SequenceAhead`], so that the caller can wait for the batches it
    /// overtook; otherwise (and on the last attempt) exactly [`Self::check`].
    pub fn verdict(&self, h: &BatchHeader, may_wait: bool) -> Result<Verdict, ProducerStateError> {
        let (producer_id, first_seq, last_seq) =
            (h.producer_id, h.base_sequence, h.last_sequence());
        if producer_id >= 0 && may_wait {
            let ahead = match self.producers.get(&producer_id) {
                None => first_seq > 0,
                Some(e) => {
                    // Cheapest test first: an in-order batch (the common case) stops here.
                    e.epoch == h.producer_epoch
                        && first_seq > e.next_expected_seq()
                        && e.find_duplicate(first_seq, last_seq).is_none()
                }
            };
            if ahead {
                return Err(ProducerStateError::SequenceAhead {
                    producer_id,
                    got: first_seq,
                });
            }
        }
        self.check(producer_id, h.producer_epoch, first_seq, last_seq)
    }

    /// Leader path: the verdict on a client batch `(producer_id, epoch, first_seq..=last_seq)`,
    /// in Kafka's order (I3): duplicate check, then epoch fencing, then the sequence check. A
    /// non-idempotent batch (`producer_id < 0`) and a producer with no state are always appended.
    ///
    /// A negative `first_seq` on an idempotent batch is never in sequence: it is refused as
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (Kafka rejects it earlier, as `INVALID_RECORD`).
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Result<Verdict, ProducerStateError> {
        if producer_id < 0 {
            return Ok(Verdict::Append);
        }
        let out_of_order = |expected| ProducerStateError::OutOfOrderSequence {
            producer_id,
            expected,
            got: first_seq,
        };
        let Some(entry) = self.producers.get(&producer_id) else {
            // New, or expired (I8): any sequence is accepted (KIP-360, Kafka >= 2.5), so a
            // producer idle past expiry is not wedged on UNKNOWN_PRODUCER_ID.
            return if first_seq < 0 {
                Err(out_of_order(0))
            } else {
                Ok(Verdict::Append)
            };
        };
        // 1. Duplicates first: a retry must get its original offsets even when, seen as a new
        //    batch, it would be out of order (it is behind the last sequence by construction).
        if epoch == entry.epoch {
            if let Some(dup) = entry.find_duplicate(first_seq, last_seq) {
                return Ok(Verdict::Duplicate(dup));
            }
        }
        // 2. Fencing: an older epoch belongs to a producer instance that has been replaced.
        if epoch < entry.epoch {
            return Err(ProducerStateError::InvalidProducerEpoch {
                producer_id,
                current: entry.epoch,
                got: epoch,
            });
        }
        // 3. Sequence. With no known epoch (a batch stored with epoch -1) there is nothing to be
        //    in sequence with, as in Kafka.
        if entry.epoch == NO_PRODUCER_EPOCH && first_seq >= 0 {
            return Ok(Verdict::Append);
        }
        let expected = if epoch > entry.epoch {
            // Epoch bump: the producer renumbers from 0 (I5).
            0
        } else {
            entry.next_expected_seq()
        };
        if first_seq != expected {
            return Err(out_of_order(expected));
        }
        Ok(Verdict::Append)
    }

    /// Records an appended batch: after a leader append, a follower's replicated append, or a
    /// replay during recovery. Nothing is validated — the log is the truth (I6).
    ///
    /// A different epoch (normally higher; lower only if the log says so, e.g. replicated from a
    /// leader that accepted it) replaces the cached batches, as Kafka's
    /// `ProducerStateEntry.maybeUpdateProducerEpoch`; at most [`NUM_BATCHES_TO_RETAIN`] are kept.
    /// For `producer_id < 0` no producer is recorded, but [`Self::map_end_offset`] still advances,
    /// since the state does reflect the log up to that batch.
    pub fn update(&mut self, producer_id: i64, epoch: i16, meta: BatchMetadata) {
        self.map_end_offset = self.map_end_offset.max(meta.last_offset.saturating_add(1));
        if producer_id < 0 {
            return;
        }
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_id,
                epoch,
                batches: VecDeque::with_capacity(NUM_BATCHES_TO_RETAIN),
                last_timestamp: meta.timestamp,
            });
        if entry.epoch != epoch {
            entry.batches.clear();
            entry.epoch = epoch;
        }
        entry.batches.push_back(meta);
        while entry.batches.len() > NUM_BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        // Max, so a client clock going backwards cannot make an active producer look idle.
        entry.last_timestamp = entry.last_timestamp.max(meta.timestamp);
    }

    /// [`Self::update`] from a stored batch header.
    pub fn update_from_header(&mut self, h: &BatchHeader) {
        self.update(
            h.producer_id,
            h.producer_epoch,
            BatchMetadata::from_header(h),
        );
    }

    /// The state of one producer, if it has any in this partition.
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer entry, by producer id.
    pub fn entries(&self) -> impl Iterator<Item = &ProducerEntry> {
        self.producers.values()
    }

    /// Number of producers with state.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer has state here.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Drops producers idle for at least `expiration_ms` (`producer.id.expiration.ms`, I8):
    /// `now_ms - last_timestamp >= expiration_ms`, Kafka's `isProducerExpired`. Their next batch
    /// is then accepted at any sequence.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_timestamp) < expiration_ms);
    }

    /// Forgets every batch at or above `offset` (the log was truncated there) and every producer
    /// left without batches; `map_end_offset` drops to at most `offset`.
    ///
    /// This is only an approximation: a producer whose remaining batches were all truncated may
    /// have older batches (or an older epoch) below `offset` that fell out of the window, and
    /// those are now unknown, so its next batch is accepted at any sequence instead of being
    /// checked against them. Forgetting errs towards accepting, never towards a false duplicate.
    /// The exact state is what [`Self::rebuild`] computes from snapshots and the log; the broker
    /// calls that after a truncation.
    pub fn truncate_to(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
        self.map_end_offset = self.map_end_offset.min(offset);
    }

    /// The offset up to which this state reflects the log (exclusive).
    pub fn map_end_offset(&self) -> i64 {
        self.map_end_offset
    }

    /// Declares that the state reflects the log up to `offset` (e.g. the LEO before a snapshot,
    /// when the last batches were non-idempotent).
    pub fn set_map_end_offset(&mut self, offset: i64) {
        self.map_end_offset = offset;
    }
}

mod snapshot;

#[cfg(test)]
mod tests;
