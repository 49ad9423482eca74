//! Per-partition idempotent-producer state (SPEC §6; kafka-semantics §5, rules I1–I8): for every
//! producer id that wrote to this partition, its current epoch and the metadata of its last
//! [`NUM_BATCHES_TO_RETAIN`] batches, the verdict on a new client batch (append, duplicate, or an
//! error), and the on-disk snapshots that let the state survive a restart.
//!
//! Plain code over plain structs: the only I/O is reading and writing snapshot files. The broker
//! calls it from three places — the leader's produce path ([`ProducerStateManager::check`] then
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
//! - **I7** snapshots `<20-digit offset>.snapshot` hold only the *last* batch per producer, as
//!   Kafka's do; on restart the newest valid one is loaded and later batches are replayed from the
//!   log. So after a restart a retry of a producer's last batch is still a duplicate, but a retry
//!   of an older one (not replayed) is `OUT_OF_ORDER_SEQUENCE_NUMBER` (T14).
//! - **I8** producers idle for `producer.id.expiration.ms` are dropped ([`ProducerStateManager::expire`]).
//!
//! Snapshot file format (version 1, big-endian; the CRC is crc32fast over every byte after it):
//! ```text
//! version i16 = 1 | crc u32 | offset i64 | count i32 |
//! count × (producer_id i64, epoch i16, first_seq i32, last_seq i32,
//!          first_offset i64, last_offset i64, timestamp i64, last_timestamp i64)
//! ```
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
const SNAPSHOT_VERSION: i16 = 1;
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
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
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
    pub producer_id: i64,
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
    fn find_duplicate(&self, first_seq: i32, last_seq: i32) -> Option<BatchMetadata> {
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            .copied()
    }
}

/// The sequence after `seq`, wrapping from `i32::MAX` to 0 (Kafka's `incrementSequence`), not to
/// `i32::MIN` as `wrapping_add` would.
pub fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
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
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    /// A batch from an epoch older than the partition's: that producer instance is fenced.
    #[error("INVALID_PRODUCER_EPOCH: producer {producer_id} is at epoch {current}, got {got}")]
    InvalidProducerEpoch {
        producer_id: i64,
        current: i16,
        got: i16,
    },
    /// Reading, writing or deleting a snapshot failed, or the log could not be replayed.
    #[error("KAFKA_STORAGE_ERROR: producer state: {0}")]
    Snapshot(String),
}

impl ProducerStateError {
    /// Kafka's name for this error.
    pub fn kafka_name(&self) -> &'static str {
        match self {
            ProducerStateError::OutOfOrderSequence { .. } => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            ProducerStateError::InvalidProducerEpoch { .. } => "INVALID_PRODUCER_EPOCH",
            ProducerStateError::Snapshot(_) => "KAFKA_STORAGE_ERROR",
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
    pub fn new() -> Self {
        Self::default()
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

    // ---------------------------------------------------------------------------------------
    // Snapshots (I7)

    /// The path of the snapshot for `offset` in `dir`: `<20-digit offset>.snapshot`.
    pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
        dir.join(format!("{offset:020}.{SNAPSHOT_EXT}"))
    }

    /// Writes a snapshot named by [`Self::map_end_offset`] into `dir` and returns its path.
    /// Only the last batch of each producer is kept, as in Kafka.
    pub fn write_snapshot(&self, dir: &Path) -> Result<PathBuf, ProducerStateError> {
        self.write_snapshot_with(&OsFileSystem, dir)
    }

    /// [`Self::write_snapshot`] through a given file system (tests inject faults). Written to
    /// `<name>.tmp`, fsynced, renamed over the final name, and the directory fsynced, so a crash
    /// leaves the old snapshot set or the new one, never a torn file under the final name (and a
    /// torn `.tmp` is removed by `Log::open`).
    pub fn write_snapshot_with(
        &self,
        fs: &dyn FileSystem,
        dir: &Path,
    ) -> Result<PathBuf, ProducerStateError> {
        let offset = self.map_end_offset;
        let body = self.encode_snapshot()?;
        let path = Self::snapshot_path(dir, offset);
        let tmp = path.with_extension(format!("{SNAPSHOT_EXT}.tmp"));
        let ctx = |e| ProducerStateError::io(format!("write snapshot {}", path.display()), e);
        if let Err(e) = fs.write_file_synced(&tmp, &body) {
            // Best effort: a leftover .tmp is harmless (ignored on load, removed by Log::open).
            let _ = fs.remove(&tmp);
            return Err(ctx(e));
        }
        if let Err(e) = fs.rename(&tmp, &path) {
            let _ = fs.remove(&tmp);
            return Err(ctx(e));
        }
        fs.sync_dir(dir).map_err(ctx)?;
        tracing::debug!(path = %path.display(), producers = self.producers.len(),
            "wrote producer state snapshot");
        Ok(path)
    }

    fn encode_snapshot(&self) -> Result<Vec<u8>, ProducerStateError> {
        let offset = self.map_end_offset;
        if offset < 0 {
            return Err(ProducerStateError::Snapshot(format!(
                "cannot snapshot at negative offset {offset}"
            )));
        }
        let lasts: Vec<(&ProducerEntry, &BatchMetadata)> = self
            .producers
            .values()
            .filter_map(|e| e.last_batch().map(|b| (e, b)))
            .collect();
        if let Some((e, b)) = lasts.iter().find(|(_, b)| b.last_offset >= offset) {
            // Loading would reject such a file; refuse to write it rather than lose it later.
            return Err(ProducerStateError::Snapshot(format!(
                "producer {} has a batch ending at {}, not below the snapshot offset {offset}",
                e.producer_id, b.last_offset
            )));
        }
        let count = i32::try_from(lasts.len()).map_err(|_| {
            ProducerStateError::Snapshot(format!("too many producers ({})", lasts.len()))
        })?;
        let mut out = Vec::with_capacity(
            SNAPSHOT_PREFIX_LEN + SNAPSHOT_BODY_HEADER_LEN + lasts.len() * SNAPSHOT_ENTRY_LEN,
        );
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]); // crc, filled in below
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        for (e, b) in lasts {
            out.extend_from_slice(&e.producer_id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&b.first_seq.to_be_bytes());
            out.extend_from_slice(&b.last_seq.to_be_bytes());
            out.extend_from_slice(&b.first_offset.to_be_bytes());
            out.extend_from_slice(&b.last_offset.to_be_bytes());
            out.extend_from_slice(&b.timestamp.to_be_bytes());
            out.extend_from_slice(&e.last_timestamp.to_be_bytes());
        }
        let crc = crc32fast::hash(&out[SNAPSHOT_PREFIX_LEN..]);
        out[2..SNAPSHOT_PREFIX_LEN].copy_from_slice(&crc.to_be_bytes());
        Ok(out)
    }

    /// Decodes a snapshot file's bytes, expected to be for `offset`. Any damage is an `Err`
    /// describing it; never panics, allocates only after the length is checked.
    fn decode_snapshot(buf: &[u8], offset: i64) -> Result<ProducerStateManager, String> {
        let mut r = Reader { buf, pos: 0 };
        let version = r.i16()?;
        if version != SNAPSHOT_VERSION {
            return Err(format!("unknown snapshot version {version}"));
        }
        let stored_crc = r.u32()?;
        let computed = crc32fast::hash(r.rest());
        if computed != stored_crc {
            return Err(format!(
                "crc mismatch: stored {stored_crc:#010x}, computed {computed:#010x}"
            ));
        }
        let body_offset = r.i64()?;
        if body_offset != offset {
            return Err(format!(
                "snapshot says offset {body_offset}, file name says {offset}"
            ));
        }
        let count = usize::try_from(r.i32()?).map_err(|_| "negative entry count".to_string())?;
        let expected_len = count
            .checked_mul(SNAPSHOT_ENTRY_LEN)
            .ok_or_else(|| format!("impossible entry count {count}"))?;
        if r.rest().len() != expected_len {
            return Err(format!(
                "{count} entries need {expected_len} bytes, {} present",
                r.rest().len()
            ));
        }
        let mut state = ProducerStateManager {
            producers: BTreeMap::new(),
            map_end_offset: offset,
        };
        for _ in 0..count {
            let producer_id = r.i64()?;
            let epoch = r.i16()?;
            let meta = BatchMetadata {
                first_seq: r.i32()?,
                last_seq: r.i32()?,
                first_offset: r.i64()?,
                last_offset: r.i64()?,
                timestamp: r.i64()?,
            };
            let last_timestamp = r.i64()?;
            if producer_id < 0 {
                return Err(format!("invalid producer id {producer_id}"));
            }
            if meta.first_offset < 0
                || meta.first_offset > meta.last_offset
                || meta.last_offset >= offset
            {
                return Err(format!(
                    "producer {producer_id}: batch offsets {}..={} invalid below snapshot offset {offset}",
                    meta.first_offset, meta.last_offset
                ));
            }
            let entry = ProducerEntry {
                producer_id,
                epoch,
                batches: VecDeque::from([meta]),
                last_timestamp,
            };
            if state.producers.insert(producer_id, entry).is_some() {
                return Err(format!("producer {producer_id} appears twice"));
            }
        }
        Ok(state)
    }

    /// Loads the newest valid snapshot at or below `max_offset` from `dir` and returns it with the
    /// offset it reflects the log up to (its `map_end_offset`); `(empty, 0)` if there is none.
    ///
    /// Snapshots above `max_offset` describe log that no longer exists (truncated, or lost in a
    /// crash) and are deleted. Corrupt ones are deleted with a warning and the next older one is
    /// tried, as Kafka does. An I/O error other than "not found" is `KAFKA_STORAGE_ERROR`.
    pub fn load_latest_snapshot(
        dir: &Path,
        max_offset: i64,
    ) -> Result<(ProducerStateManager, i64), ProducerStateError> {
        let fs = OsFileSystem;
        let mut offsets = list_snapshots(dir)?;
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        for offset in offsets {
            let path = Self::snapshot_path(dir, offset);
            if offset > max_offset {
                tracing::info!(path = %path.display(), max_offset,
                    "deleting producer state snapshot beyond the log end");
                remove(&fs, &path)?;
                continue;
            }
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ProducerStateError::io(
                        format!("read snapshot {}", path.display()),
                        e,
                    ));
                }
            };
            match Self::decode_snapshot(&bytes, offset) {
                Ok(state) => {
                    tracing::debug!(path = %path.display(), producers = state.len(),
                        "loaded producer state snapshot");
                    return Ok((state, offset));
                }
                Err(why) => {
                    tracing::warn!(path = %path.display(),
                        "deleting corrupt producer state snapshot: {why}");
                    remove(&fs, &path)?;
                }
            }
        }
        Ok((ProducerStateManager::new(), 0))
    }

    /// Deletes all but the newest `keep` snapshots in `dir`.
    pub fn clean_snapshots(dir: &Path, keep: usize) -> Result<(), ProducerStateError> {
        let fs = OsFileSystem;
        let mut offsets = list_snapshots(dir)?;
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        for &offset in offsets.iter().skip(keep) {
            remove(&fs, &Self::snapshot_path(dir, offset))?;
        }
        Ok(())
    }

    /// The state matching `log` exactly: the newest valid snapshot at or below the log end offset
    /// (newer ones are deleted), then the headers of every later batch replayed, from the
    /// snapshot offset (or the log start, if retention went past it) to the log end offset.
    ///
    /// Used on restart and after a truncation. After a truncation it must run before anything
    /// new is appended: only then are the snapshots of the truncated history (above the new log
    /// end) recognised and deleted.
    pub fn rebuild(
        dir: &Path,
        log: &brook_log::Log,
    ) -> Result<ProducerStateManager, ProducerStateError> {
        let leo = log.log_end_offset();
        let (mut state, snapshot_offset) = Self::load_latest_snapshot(dir, leo)?;
        let start = snapshot_offset.max(log.log_start_offset());
        let mut pos = start;
        while pos < leo {
            let bytes = log
                .read(pos, REPLAY_READ_BYTES)
                .map_err(|e| ProducerStateError::Snapshot(format!("replay log at {pos}: {e}")))?;
            let mut next = pos;
            for item in batch::batches(&bytes) {
                let (_, h) = item.map_err(|e| {
                    ProducerStateError::Snapshot(format!("replay log at {next}: {e}"))
                })?;
                // A read returns the whole batch holding `pos`; one that ends below the start
                // is already in the snapshot and must not be counted twice.
                if h.last_offset() >= start {
                    state.update_from_header(&h);
                }
                next = h.next_offset();
            }
            if next <= pos {
                // An empty read or a batch that does not advance: stop rather than spin.
                return Err(ProducerStateError::Snapshot(format!(
                    "replay of {} stalled at offset {pos} below the log end {leo}",
                    log.dir().display()
                )));
            }
            pos = next;
        }
        state.map_end_offset = leo;
        tracing::debug!(dir = %dir.display(), snapshot_offset, replayed_from = start, leo,
            producers = state.len(), "rebuilt producer state");
        Ok(state)
    }
}

/// Offsets of the `<20 digits>.snapshot` files in `dir` (unsorted). A missing directory has none.
fn list_snapshots(dir: &Path) -> Result<Vec<i64>, ProducerStateError> {
    let ctx = |e| ProducerStateError::io(format!("list {}", dir.display()), e);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ctx(e)),
    };
    let mut offsets = Vec::new();
    for entry in entries {
        let path = entry.map_err(ctx)?.path();
        if path.extension().and_then(|s| s.to_str()) != Some(SNAPSHOT_EXT) {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|c| c.is_ascii_digit()) {
            if let Ok(offset) = stem.parse::<i64>() {
                offsets.push(offset);
            }
        }
    }
    Ok(offsets)
}

fn remove(fs: &dyn FileSystem, path: &Path) -> Result<(), ProducerStateError> {
    fs.remove(path)
        .map_err(|e| ProducerStateError::io(format!("delete {}", path.display()), e))
}

/// Bounds-checked big-endian reads over a snapshot.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let end = self.pos.checked_add(N).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(format!("truncated snapshot: {} bytes", self.buf.len()));
        };
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end;
        Ok(a)
    }
    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
    fn i16(&mut self) -> Result<i16, String> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.take().map(i32::from_be_bytes)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.take().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.take().map(i64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PID: i64 = 1000;

    fn meta(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchMetadata {
        let records = i64::from(last_seq.wrapping_sub(first_seq)) + 1;
        BatchMetadata {
            first_seq,
            last_seq,
            first_offset,
            last_offset: first_offset + records - 1,
            timestamp: 1_000 + first_offset,
        }
    }

    /// Leader path: check, and on Append record it at `offset`. Returns the verdict.
    fn produce(
        s: &mut ProducerStateManager,
        pid: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
        offset: i64,
    ) -> Result<Verdict, ProducerStateError> {
        let v = s.check(pid, epoch, first_seq, last_seq)?;
        if v == Verdict::Append {
            s.update(pid, epoch, meta(first_seq, last_seq, offset));
        }
        Ok(v)
    }

    fn ooo(expected: i32, got: i32) -> ProducerStateError {
        ProducerStateError::OutOfOrderSequence {
            producer_id: PID,
            expected,
            got,
        }
    }

    #[test]
    fn t12_retry_returns_original_offsets() {
        let mut s = ProducerStateManager::new();
        s.set_map_end_offset(100);
        // seq 0-9 appended at 100-109; the response is lost and the client resends.
        assert_eq!(produce(&mut s, PID, 0, 0, 9, 100), Ok(Verdict::Append));
        assert_eq!(s.map_end_offset(), 110);
        let v = s.check(PID, 0, 0, 9).unwrap();
        assert_eq!(v, Verdict::Duplicate(meta(0, 9, 100)));
        let Verdict::Duplicate(d) = v else {
            unreachable!()
        };
        assert_eq!((d.first_offset, d.last_offset), (100, 109));

        // 5 consecutive in-flight batches, all acks dropped: every retry is deduplicated,
        // in any order, and the state is unchanged by the checks.
        for i in 1..=5 {
            let off = 100 + 10 * i64::from(i);
            assert_eq!(
                produce(&mut s, PID, 0, 10 * i, 10 * i + 9, off),
                Ok(Verdict::Append)
            );
        }
        let before = s.entry(PID).cloned();
        for i in [3, 1, 5, 2, 4] {
            let off = 100 + 10 * i64::from(i);
            assert_eq!(
                s.check(PID, 0, 10 * i, 10 * i + 9),
                Ok(Verdict::Duplicate(meta(10 * i, 10 * i + 9, off)))
            );
        }
        assert_eq!(s.entry(PID).cloned(), before);
        assert_eq!(s.entry(PID).map(|e| e.batches.len()), Some(5));
        // The next new batch is still in sequence.
        assert_eq!(s.check(PID, 0, 60, 69), Ok(Verdict::Append));
    }

    #[test]
    fn t13_sequence_and_epoch_errors() {
        let mut s = ProducerStateManager::new();
        for i in 0..2 {
            produce(&mut s, PID, 0, 10 * i, 10 * i + 9, 10 * i64::from(i)).unwrap();
        }
        // Gap.
        assert_eq!(s.check(PID, 0, 30, 39), Err(ooo(20, 30)));
        assert_eq!(
            s.check(PID, 0, 30, 39).unwrap_err().kafka_name(),
            "OUT_OF_ORDER_SEQUENCE_NUMBER"
        );
        // Behind but not an exact cached range (overlapping retry) is out of order too.
        assert_eq!(s.check(PID, 0, 5, 14), Err(ooo(20, 5)));
        // Epoch bump must start at 0.
        assert_eq!(s.check(PID, 1, 5, 9), Err(ooo(0, 5)));
        assert_eq!(produce(&mut s, PID, 1, 0, 4, 20), Ok(Verdict::Append));
        let e = s.entry(PID).unwrap();
        assert_eq!(
            (e.epoch, e.batches.len()),
            (1, 1),
            "a new epoch clears the window"
        );
        // The old epoch is fenced, even for what used to be the next sequence or a duplicate.
        let fenced = ProducerStateError::InvalidProducerEpoch {
            producer_id: PID,
            current: 1,
            got: 0,
        };
        assert_eq!(s.check(PID, 0, 20, 29), Err(fenced.clone()));
        assert_eq!(s.check(PID, 0, 10, 19), Err(fenced.clone()));
        assert_eq!(fenced.kafka_name(), "INVALID_PRODUCER_EPOCH");
        // Epoch 1 continues at 5.
        assert_eq!(s.check(PID, 1, 5, 9), Ok(Verdict::Append));

        // A duplicate 6 batches back is outside the window.
        let mut s = ProducerStateManager::new();
        for i in 0..6 {
            produce(&mut s, PID, 0, i, i, i64::from(i)).unwrap();
        }
        assert_eq!(s.check(PID, 0, 0, 0), Err(ooo(6, 0)));
        assert_eq!(s.check(PID, 0, 1, 1), Ok(Verdict::Duplicate(meta(1, 1, 1))));

        // No state for this producer: any sequence, any epoch.
        assert_eq!(s.check(PID + 1, 0, 37, 40), Ok(Verdict::Append));
        assert_eq!(s.check(PID + 1, 7, 37, 40), Ok(Verdict::Append));
        // Non-idempotent batches are never checked.
        assert_eq!(s.check(-1, -1, -1, -1), Ok(Verdict::Append));
        // A negative sequence from an idempotent producer never fits.
        assert_eq!(s.check(PID, 0, -1, -1), Err(ooo(6, -1)));
        assert!(s.check(PID + 1, 0, -1, -1).is_err());
    }

    #[test]
    fn duplicate_check_comes_before_fencing_and_sequence() {
        let mut s = ProducerStateManager::new();
        produce(&mut s, PID, 3, 0, 0, 0).unwrap();
        produce(&mut s, PID, 3, 1, 1, 1).unwrap();
        // Same epoch, exact range: duplicate although the sequence is behind.
        assert_eq!(s.check(PID, 3, 0, 0), Ok(Verdict::Duplicate(meta(0, 0, 0))));
        // Same first sequence, different last: not a duplicate.
        assert_eq!(s.check(PID, 3, 0, 1), Err(ooo(2, 0)));
        // A newer epoch with a cached range is a new batch, not a duplicate.
        assert_eq!(s.check(PID, 4, 0, 0), Ok(Verdict::Append));
    }

    #[test]
    fn window_keeps_the_last_five_batches() {
        let mut s = ProducerStateManager::new();
        for i in 0..8 {
            s.update(PID, 0, meta(i, i, i64::from(i)));
        }
        let e = s.entry(PID).unwrap();
        assert_eq!(e.batches.len(), NUM_BATCHES_TO_RETAIN);
        let seqs: Vec<i32> = e.batches.iter().map(|b| b.first_seq).collect();
        assert_eq!(seqs, vec![3, 4, 5, 6, 7]);
        assert_eq!(e.next_expected_seq(), 8);
        assert_eq!(s.map_end_offset(), 8);
        assert_eq!(s.len(), 1);
        assert!(!s.is_empty());
    }

    #[test]
    fn replication_updates_are_lenient() {
        let mut s = ProducerStateManager::new();
        // Gaps and odd epochs are recorded as the log has them.
        s.update(PID, 2, meta(0, 0, 0));
        s.update(PID, 2, meta(50, 50, 1));
        assert_eq!(s.entry(PID).map(|e| e.batches.len()), Some(2));
        s.update(PID, 1, meta(7, 7, 2));
        let e = s.entry(PID).unwrap();
        assert_eq!((e.epoch, e.batches.len()), (1, 1));
        // Non-idempotent batches record no producer but advance the map end.
        s.update(-1, -1, meta(-1, -1, 3));
        assert_eq!(s.len(), 1);
        assert_eq!(s.map_end_offset(), 4);
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        let mut s = ProducerStateManager::new();
        let max = i32::MAX;
        s.update(PID, 0, meta(max - 9, max, 0));
        assert_eq!(next_seq(max), 0);
        assert_eq!(s.entry(PID).unwrap().next_expected_seq(), 0);
        assert_eq!(s.check(PID, 0, 0, 4), Ok(Verdict::Append));
        assert_eq!(
            s.check(PID, 0, i32::MIN, i32::MIN + 4),
            Err(ooo(0, i32::MIN))
        );
        // A batch that itself wraps (max-1, max, 0, 1, 2).
        let mut s = ProducerStateManager::new();
        s.update(PID, 0, meta(max - 11, max - 2, 0));
        let wrapping = BatchMetadata {
            first_seq: max - 1,
            last_seq: 2,
            first_offset: 10,
            last_offset: 14,
            timestamp: 0,
        };
        assert_eq!(s.check(PID, 0, max - 1, 2), Ok(Verdict::Append));
        s.update(PID, 0, wrapping);
        assert_eq!(
            s.check(PID, 0, max - 1, 2),
            Ok(Verdict::Duplicate(wrapping))
        );
        assert_eq!(s.check(PID, 0, 3, 3), Ok(Verdict::Append));
    }

    #[test]
    fn expire_drops_idle_producers() {
        let mut s = ProducerStateManager::new();
        let mut m = meta(0, 0, 0);
        m.timestamp = 1_000;
        s.update(1, 0, m);
        m.timestamp = 5_000;
        m.first_offset = 1;
        m.last_offset = 1;
        s.update(2, 0, m);
        s.expire(5_999, 5_000);
        assert_eq!(s.len(), 2);
        s.expire(6_000, 5_000); // idle exactly 5000 ms: expired, as Kafka
        assert!(s.entry(1).is_none());
        assert!(s.entry(2).is_some());
        // The expired producer is accepted at any sequence afterwards.
        assert_eq!(s.check(1, 0, 37, 37), Ok(Verdict::Append));
        // A clock going backwards keeps the newest timestamp.
        m.timestamp = 10;
        m.first_offset = 2;
        m.last_offset = 2;
        s.update(2, 0, m);
        assert_eq!(s.entry(2).map(|e| e.last_timestamp), Some(5_000));
        // Absurd timestamps do not overflow.
        s.expire(i64::MIN, i64::MAX);
        s.expire(i64::MAX, 1);
        assert!(s.is_empty());
    }

    #[test]
    fn truncate_to_forgets_batches_at_and_above() {
        let mut s = ProducerStateManager::new();
        for i in 0..4 {
            s.update(1, 0, meta(10 * i, 10 * i + 9, 10 * i64::from(i)));
        }
        s.update(2, 0, meta(0, 9, 40));
        s.truncate_to(25); // cuts into the batch 20..=29: it goes whole
        let e = s.entry(1).unwrap();
        assert_eq!(e.batches.len(), 2);
        assert_eq!(e.next_expected_seq(), 20);
        assert!(s.entry(2).is_none());
        assert_eq!(s.map_end_offset(), 25);
        s.truncate_to(100);
        assert_eq!(s.map_end_offset(), 25);
        s.truncate_to(0);
        assert!(s.is_empty());
        assert_eq!(s.map_end_offset(), 0);
    }

    #[test]
    fn error_names_and_messages() {
        let e = ProducerStateError::Snapshot("disk".into());
        assert_eq!(e.kafka_name(), "KAFKA_STORAGE_ERROR");
        assert!(e.to_string().starts_with("KAFKA_STORAGE_ERROR"));
        assert!(
            ooo(1, 2)
                .to_string()
                .starts_with("OUT_OF_ORDER_SEQUENCE_NUMBER")
        );
        let f = ProducerStateError::InvalidProducerEpoch {
            producer_id: 1,
            current: 2,
            got: 1,
        };
        assert!(f.to_string().starts_with("INVALID_PRODUCER_EPOCH"));
    }

    fn sample_state() -> ProducerStateManager {
        let mut s = ProducerStateManager::new();
        for i in 0..5 {
            s.update(PID, 2, meta(10 * i, 10 * i + 9, 10 * i64::from(i)));
        }
        s.update(7, 0, meta(0, 0, 50));
        s.update(-1, -1, meta(-1, -1, 51));
        s
    }

    #[test]
    fn snapshot_round_trip_keeps_the_last_batch_per_producer() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample_state();
        let path = s.write_snapshot(dir.path()).unwrap();
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some("00000000000000000052.snapshot")
        );
        assert!(!path.with_extension("snapshot.tmp").exists());
        let (loaded, offset) = ProducerStateManager::load_latest_snapshot(dir.path(), 52).unwrap();
        assert_eq!(offset, 52);
        assert_eq!(loaded.map_end_offset(), 52);
        assert_eq!(loaded.len(), 2);
        let e = loaded.entry(PID).unwrap();
        assert_eq!(e.epoch, 2);
        assert_eq!(e.batches, VecDeque::from([meta(40, 49, 40)]));
        assert_eq!(e.last_timestamp, s.entry(PID).unwrap().last_timestamp);
        assert_eq!(loaded.entry(7), s.entry(7));
    }

    #[test]
    fn t14_restart_dedupes_the_last_batch_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::new();
        // b1..b5
        for i in 0..5 {
            produce(&mut s, PID, 0, 10 * i, 10 * i + 9, 10 * i64::from(i)).unwrap();
        }
        // Before the restart, b4 is a duplicate.
        assert_eq!(
            s.check(PID, 0, 30, 39),
            Ok(Verdict::Duplicate(meta(30, 39, 30)))
        );
        s.write_snapshot(dir.path()).unwrap();
        let (s, _) = ProducerStateManager::load_latest_snapshot(dir.path(), 50).unwrap();
        // b5 is still deduplicated with its original offsets.
        assert_eq!(
            s.check(PID, 0, 40, 49),
            Ok(Verdict::Duplicate(meta(40, 49, 40)))
        );
        // b4 is refused, never silently appended.
        assert_eq!(s.check(PID, 0, 30, 39), Err(ooo(50, 30)));
        // The next batch continues normally; the old epoch stays fenced.
        assert_eq!(s.check(PID, 0, 50, 59), Ok(Verdict::Append));
        assert!(matches!(
            s.check(PID, -1, 50, 59),
            Err(ProducerStateError::InvalidProducerEpoch { .. })
        ));
    }

    #[test]
    fn load_prefers_newest_valid_and_deletes_corrupt_and_future() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut s = ProducerStateManager::new();
        s.update(1, 0, meta(0, 0, 0));
        s.write_snapshot(d).unwrap(); // 1
        s.update(1, 0, meta(1, 1, 1));
        let p2 = s.write_snapshot(d).unwrap(); // 2
        s.update(1, 0, meta(2, 2, 2));
        let p3 = s.write_snapshot(d).unwrap(); // 3
        s.update(1, 0, meta(3, 3, 3));
        let p4 = s.write_snapshot(d).unwrap(); // 4
        std::fs::write(d.join("junk.snapshot"), b"x").unwrap();
        std::fs::write(d.join("00000000000000000009.snapshot.tmp"), b"x").unwrap();

        // Flip a byte in 3.
        let mut bytes = std::fs::read(&p3).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&p3, bytes).unwrap();

        // Max offset 3: 4 is beyond it and deleted, 3 is corrupt and deleted, 2 loads.
        let (loaded, offset) = ProducerStateManager::load_latest_snapshot(d, 3).unwrap();
        assert_eq!(offset, 2);
        assert_eq!(
            loaded.entry(1).and_then(|e| e.last_batch().copied()),
            Some(meta(1, 1, 1))
        );
        assert!(!p3.exists() && !p4.exists() && p2.exists());
        assert!(d.join("junk.snapshot").exists(), "not ours: left alone");

        // Nothing at all: empty state at 0.
        let (empty, offset) = ProducerStateManager::load_latest_snapshot(d, 0).unwrap();
        assert!(empty.is_empty());
        assert_eq!((offset, empty.map_end_offset()), (0, 0));
        let (_, offset) =
            ProducerStateManager::load_latest_snapshot(&d.join("missing"), 100).unwrap();
        assert_eq!(offset, 0);
    }

    #[test]
    fn clean_snapshots_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut s = ProducerStateManager::new();
        let mut paths = Vec::new();
        for i in 0..4 {
            s.update(1, 0, meta(i, i, i64::from(i)));
            paths.push(s.write_snapshot(d).unwrap());
        }
        ProducerStateManager::clean_snapshots(d, 2).unwrap();
        let exists: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(exists, vec![false, false, true, true]);
        ProducerStateManager::clean_snapshots(d, 0).unwrap();
        assert!(paths.iter().all(|p| !p.exists()));
        ProducerStateManager::clean_snapshots(&d.join("missing"), 1).unwrap();
    }

    #[test]
    fn write_snapshot_refuses_inconsistent_state_and_reports_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sample_state();
        s.set_map_end_offset(10); // below the batches it holds
        let err = s.write_snapshot(dir.path()).unwrap_err();
        assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
        s.set_map_end_offset(-1);
        assert!(s.write_snapshot(dir.path()).is_err());

        let s = sample_state();
        let fs = brook_log::io::FaultyFileSystem::new();
        fs.faults()
            .fail_sync
            .store(true, std::sync::atomic::Ordering::Release);
        let err = s.write_snapshot_with(&fs, dir.path()).unwrap_err();
        assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "no file left behind"
        );
        assert!(s.write_snapshot(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn decode_rejects_every_kind_of_damage() {
        let s = sample_state();
        let good = s.encode_snapshot().unwrap();
        assert!(ProducerStateManager::decode_snapshot(&good, 52).is_ok());
        // Wrong name.
        assert!(ProducerStateManager::decode_snapshot(&good, 53).is_err());
        // Every truncation.
        for len in 0..good.len() {
            assert!(ProducerStateManager::decode_snapshot(&good[..len], 52).is_err());
        }
        // Every single-bit flip.
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                assert!(
                    ProducerStateManager::decode_snapshot(&b, 52).is_err(),
                    "flip of bit {bit} at {i} went unnoticed"
                );
            }
        }
        // Valid crc over invalid content: a batch at the snapshot offset, a duplicate producer,
        // a huge count.
        let reseal = |mut b: Vec<u8>| {
            let crc = crc32fast::hash(&b[SNAPSHOT_PREFIX_LEN..]);
            b[2..6].copy_from_slice(&crc.to_be_bytes());
            b
        };
        let mut b = good.clone();
        // Producer 7 has a batch at offset 50: not below a snapshot at 50.
        b[6..14].copy_from_slice(&50i64.to_be_bytes());
        assert!(ProducerStateManager::decode_snapshot(&reseal(b), 50).is_err());
        let mut b = good.clone();
        let second = SNAPSHOT_PREFIX_LEN + SNAPSHOT_BODY_HEADER_LEN + SNAPSHOT_ENTRY_LEN;
        b[second..second + 8].copy_from_slice(&7i64.to_be_bytes());
        b.truncate(second + SNAPSHOT_ENTRY_LEN);
        let first = SNAPSHOT_PREFIX_LEN + SNAPSHOT_BODY_HEADER_LEN;
        b[first..first + 8].copy_from_slice(&7i64.to_be_bytes());
        assert!(ProducerStateManager::decode_snapshot(&reseal(b), 52).is_err());
        let mut b = good.clone();
        b[14..18].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(ProducerStateManager::decode_snapshot(&reseal(b), 52).is_err());
        let mut b = good;
        b[14..18].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(ProducerStateManager::decode_snapshot(&reseal(b), 52).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), offset in any::<i64>()) {
            let _ = ProducerStateManager::decode_snapshot(&bytes, offset);
        }

        /// A well-behaved producer's batches are always appended in order, and each retry of any
        /// of its last 5 batches is recognised as a duplicate with the original offsets.
        #[test]
        fn in_order_batches_append_and_retries_dedupe(
            start in any::<i32>().prop_map(|s| s & i32::MAX),
            sizes in proptest::collection::vec(1i32..50, 1..20),
        ) {
            let mut s = ProducerStateManager::new();
            let mut seq = start;
            let mut offset = 0i64;
            let mut sent = Vec::new();
            for n in sizes {
                let mut last = seq;
                for _ in 1..n {
                    last = next_seq(last);
                }
                prop_assert_eq!(s.check(PID, 0, seq, last), Ok(Verdict::Append));
                let m = BatchMetadata {
                    first_seq: seq,
                    last_seq: last,
                    first_offset: offset,
                    last_offset: offset + i64::from(n) - 1,
                    timestamp: 0,
                };
                s.update(PID, 0, m);
                sent.push(m);
                offset += i64::from(n);
                seq = next_seq(last);
                for (back, old) in sent.iter().rev().enumerate() {
                    let v = s.check(PID, 0, old.first_seq, old.last_seq);
                    if back < NUM_BATCHES_TO_RETAIN {
                        prop_assert_eq!(v, Ok(Verdict::Duplicate(*old)));
                    } else {
                        prop_assert!(v.is_err());
                    }
                }
            }
        }
    }
}
