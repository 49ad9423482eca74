//! A partition's log: an ordered set of segments with one active (writable) segment at the end.
//! `Log` owns offset assignment, rolling, reads across segments, truncation, retention and the
//! flush bookkeeping; crash recovery on open lives in `recovery.rs`.
//!
//! Single writer: mutating methods take `&mut self`; the broker puts a `Log` behind a mutex and
//! keeps fsyncs outside it (see `flush.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{self, BatchHeader};
use crate::clock::{Clock, SystemClock};
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::flush::{FlushState, SyncJob};
use crate::io::{self, FileSystem};
use crate::metrics::{self, LogObserver};
use crate::record;
use crate::segment::{RollCheck, Segment};

/// What the log is opened with: its config, and the disk and clock it uses (tests swap both).
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// The log's storage settings (Kafka's topic-level keys).
    pub config: LogConfig,
    /// The disk every data file, rename and fsync goes through (`io::os()` by default; tests
    /// pass a `FaultyFileSystem`).
    pub fs: Arc<dyn FileSystem>,
    /// The time source for segment age, retention and `flush.ms` (`SystemClock` by default).
    pub clock: Arc<dyn Clock>,
    /// Told of every fsync round and every corruption found (a broker's metrics; by default
    /// [`crate::metrics::NoObserver`]).
    pub observer: Arc<dyn LogObserver>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            config: LogConfig::default(),
            fs: io::os(),
            clock: Arc::new(SystemClock),
            observer: metrics::no_observer(),
        }
    }
}

impl LogOptions {
    /// The default disk and clock with `config`.
    pub fn with_config(config: LogConfig) -> Self {
        LogOptions {
            config,
            ..LogOptions::default()
        }
    }
}

/// A batch that passed [`batch::validate`]; only constructible through [`ValidBatch::new`].
#[derive(Debug, Clone, Copy)]
pub struct ValidBatch<'a> {
    bytes: &'a [u8],
    header: BatchHeader,
}

impl<'a> ValidBatch<'a> {
    /// Fully validates one producer batch (header, CRC, every record).
    pub fn new(bytes: &'a [u8]) -> Result<ValidBatch<'a>> {
        let header = batch::validate(bytes)?;
        Ok(ValidBatch { bytes, header })
    }

    /// The batch's parsed header (as the producer sent it, not yet stamped).
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The whole batch, header included, as it was validated.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The result of one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAppendInfo {
    /// Offset the log assigned to the first appended record.
    pub base_offset: i64,
    /// Offset of the last appended record.
    pub last_offset: i64,
    /// The largest `max_timestamp` of the appended batches (ms since the Unix epoch).
    pub max_timestamp: i64,
    /// Records appended: `last_offset - base_offset + 1`.
    pub record_count: i64,
    /// The flush policy (`flush.messages`) requires these records to be on disk before they are
    /// acknowledged: call [`FlushState::wait_flushed`] with `last_offset + 1`. Whether they are
    /// on disk *yet* is `log.flushed_offset() > last_offset`.
    pub flush_required: bool,
}

/// A read-only summary of one segment (for tools, tests and describe output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Offset of the segment's first record (also its file name).
    pub base_offset: i64,
    /// Offset the next record appended to the segment would get; `base_offset` while empty.
    pub next_offset: i64,
    /// Size of the `.log` file in bytes.
    pub size_bytes: u64,
    /// Entries in the segment's offset index.
    pub index_entries: usize,
    /// Largest batch `max_timestamp` in the segment (ms), -1 while empty.
    pub max_timestamp: i64,
    /// Path of the segment's `.log` file.
    pub path: PathBuf,
}

/// One partition's log (Kafka's `UnifiedLog`): segments keyed by base offset, the last one
/// active, with offsets assigned from the log end offset (LEO). Opened with [`Log::open`], which
/// recovers it after an unclean shutdown; usually held as a [`crate::SharedLog`].
#[derive(Debug)]
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) options: LogOptions,
    /// Keyed by base offset; the last one is the active segment. Never empty.
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) flush: Arc<FlushState>,
    /// When the oldest not-yet-flushed append happened (for `flush.ms`); conservative: it is only
    /// cleared once the log is seen fully flushed.
    pub(crate) first_unflushed_ms: Option<i64>,
    /// Appends since the last [`Log::sync_job`] (what the next fsync round makes durable).
    appends_since_sync: u64,
    /// Reused buffer for stamping offsets into client batches without reallocating.
    scratch: Vec<u8>,
}

impl Log {
    pub(crate) fn from_parts(
        dir: PathBuf,
        options: LogOptions,
        segments: BTreeMap<i64, Segment>,
        flushed: i64,
    ) -> Log {
        let log_start_offset = segments.keys().next().copied().unwrap_or(0);
        Log {
            dir,
            options,
            segments,
            log_start_offset,
            flush: FlushState::new(flushed),
            first_unflushed_ms: None,
            appends_since_sync: 0,
            scratch: Vec::new(),
        }
    }

    /// The log's directory (`<log dir>/<topic>-<partition>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's current storage settings.
    pub fn config(&self) -> &LogConfig {
        &self.options.config
    }

    /// Replaces the config (e.g. after AlterConfigs); takes effect from the next append.
    pub fn set_config(&mut self, config: LogConfig) {
        self.options.config = config;
    }

    fn active(&self) -> Result<&Segment> {
        self.segments.values().next_back().ok_or_else(|| {
            LogError::KafkaStorageError(format!("{} has no segments", self.dir.display()))
        })
    }

    fn active_mut(&mut self) -> Result<&mut Segment> {
        let dir = &self.dir;
        self.segments.values_mut().next_back().ok_or_else(|| {
            LogError::KafkaStorageError(format!("{} has no segments", dir.display()))
        })
    }

    /// First offset still stored.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next record will get (LEO).
    pub fn log_end_offset(&self) -> i64 {
        self.segments
            .values()
            .next_back()
            .map_or(self.log_start_offset, Segment::next_offset)
    }

    /// Everything below this offset is on disk (Kafka's recovery point).
    pub fn flushed_offset(&self) -> i64 {
        self.flush.flushed_offset()
    }

    /// The handle appenders wait on for durability (group commit).
    pub fn durability(&self) -> Arc<FlushState> {
        self.flush.clone()
    }

    /// Total bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }

    /// A summary of every segment, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments
            .values()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset(),
                next_offset: s.next_offset(),
                size_bytes: s.size(),
                index_entries: s.index().len(),
                max_timestamp: s.max_timestamp(),
                path: s.log_path().to_path_buf(),
            })
            .collect()
    }

    /// Appends one batch from a producer: validates it completely (size, CRC, records), assigns
    /// offsets from the LEO, stamps `leader_epoch`, and writes it. On any error nothing is written.
    pub fn append(&mut self, batch_bytes: &[u8], leader_epoch: i32) -> Result<LogAppendInfo> {
        self.check_size(batch_bytes.len())?;
        self.append_valid(ValidBatch::new(batch_bytes)?, leader_epoch)
    }

    /// Like [`Log::append`] for a batch the caller already validated (the broker validates
    /// before consulting producer state, and must not pay for validation twice).
    pub fn append_valid(
        &mut self,
        batch: ValidBatch<'_>,
        leader_epoch: i32,
    ) -> Result<LogAppendInfo> {
        self.check_size(batch.bytes.len())?;
        let base_offset = self.log_end_offset();
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(batch.bytes);
        let result = batch::stamp(&mut scratch, base_offset, leader_epoch).and_then(|()| {
            let stamped = BatchHeader {
                base_offset,
                partition_leader_epoch: leader_epoch,
                ..batch.header
            };
            self.write_batches(&scratch, &[stamped])
        });
        self.scratch = scratch;
        result
    }

    /// Appends batches that already carry their offsets and epochs (a follower copying its
    /// leader). They must start exactly at the LEO and be contiguous; CRCs are checked.
    pub fn append_replicated(&mut self, batches: &[u8]) -> Result<LogAppendInfo> {
        let mut headers = Vec::new();
        let mut expected = self.log_end_offset();
        for item in batch::batches(batches) {
            let (pos, h) = item?;
            self.check_size(h.size())?;
            batch::check_crc(&batches[pos..pos + h.size()])?;
            if h.base_offset != expected {
                return Err(LogError::InvalidRecord(format!(
                    "replicated batch starts at offset {}, expected {expected}",
                    h.base_offset
                )));
            }
            expected = h.next_offset();
            headers.push(h);
        }
        if headers.is_empty() {
            return Err(LogError::InvalidRecord("no batches to append".into()));
        }
        // One write per run of batches that fits in the active segment (a fetch brings dozens
        // of batches; a write each would cost a syscall each); a roll can still fall between
        // any two of them.
        let mut info: Option<LogAppendInfo> = None;
        let (mut pos, mut i) = (0usize, 0usize);
        while i < headers.len() {
            let room = self
                .options
                .config
                .segment_bytes
                .saturating_sub(self.active()?.size()) as usize;
            let mut end = i + 1;
            let mut len = headers[i].size();
            while end < headers.len() && len + headers[end].size() <= room {
                len += headers[end].size();
                end += 1;
            }
            let appended = self.write_batches(&batches[pos..pos + len], &headers[i..end])?;
            pos += len;
            i = end;
            info = Some(match info {
                None => appended,
                Some(prev) => LogAppendInfo {
                    last_offset: appended.last_offset,
                    max_timestamp: prev.max_timestamp.max(appended.max_timestamp),
                    record_count: prev.record_count + appended.record_count,
                    flush_required: appended.flush_required,
                    ..prev
                },
            });
        }
        info.ok_or_else(|| LogError::InvalidRecord("no batches to append".into()))
    }

    fn check_size(&self, size: usize) -> Result<()> {
        let c = &self.options.config;
        if size > c.max_message_bytes {
            return Err(LogError::MessageTooLarge {
                size,
                max: c.max_message_bytes,
            });
        }
        if size as u64 > c.segment_bytes {
            return Err(LogError::RecordListTooLarge {
                size,
                max: c.segment_bytes,
            });
        }
        Ok(())
    }

    /// Writes contiguous, offset-assigned batches to the active segment, rolling first if needed.
    fn write_batches(&mut self, bytes: &[u8], headers: &[BatchHeader]) -> Result<LogAppendInfo> {
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Err(LogError::InvalidRecord("no batches to append".into()));
        };
        let now = self.options.clock.now_ms();
        let incoming = RollCheck {
            bytes: bytes.len(),
            last_offset: last.last_offset(),
            max_timestamp: headers.iter().map(|h| h.max_timestamp).max().unwrap_or(-1),
            now_ms: now,
        };
        if self.active()?.should_roll(&incoming, &self.options.config) {
            self.roll(first.base_offset, now)?;
        }
        self.active_mut()?.append(bytes, headers)?;
        self.appends_since_sync += 1;
        let leo = last.next_offset();
        if self.first_unflushed_ms.is_none() {
            self.first_unflushed_ms = Some(now);
        }
        let unflushed = (leo - self.flushed_offset()).max(0) as u64;
        Ok(LogAppendInfo {
            base_offset: first.base_offset,
            last_offset: last.last_offset(),
            max_timestamp: incoming.max_timestamp,
            record_count: leo - first.base_offset,
            flush_required: self
                .options
                .config
                .flush_messages
                .is_some_and(|n| unflushed >= n),
        })
    }

    /// Seals the active segment and starts a new one at `base_offset`. The new file and the
    /// directory entry are fsynced, so a later flush of the new segment survives power loss.
    fn roll(&mut self, base_offset: i64, now: i64) -> Result<()> {
        self.active_mut()?.seal()?;
        let fs = self.options.fs.clone();
        let seg = Segment::create(
            fs.as_ref(),
            &self.dir,
            base_offset,
            &self.options.config,
            now,
        )?;
        seg.flush()?;
        fs.sync_dir(&self.dir)
            .map_err(|e| LogError::storage(format!("fsync {}", self.dir.display()), e))?;
        tracing::debug!(dir = %self.dir.display(), base_offset, "rolled new segment");
        self.segments.insert(base_offset, seg);
        Ok(())
    }

    /// Reads whole batches from `offset` up to the LEO (see [`Log::read_upto`]).
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Bytes> {
        self.read_upto(offset, max_bytes, i64::MAX)
    }

    /// Reads whole batches starting with the one holding `offset`, at most `max_bytes` (but at
    /// least one batch), excluding any batch whose last offset is ≥ `upper` (pass the high
    /// watermark for consumers). An empty result means nothing is readable yet. Offsets outside
    /// `[log_start_offset, log_end_offset]` are `OFFSET_OUT_OF_RANGE`.
    pub fn read_upto(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<Bytes> {
        let leo = self.log_end_offset();
        if offset < self.log_start_offset || offset > leo {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: leo,
            });
        }
        if offset >= upper.min(leo) {
            return Ok(Bytes::new());
        }
        let floor = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(self.log_start_offset, |(b, _)| *b);
        for (_, seg) in self.segments.range(floor..) {
            if let Some(bytes) = seg.read(offset, max_bytes, upper)? {
                return Ok(bytes);
            }
        }
        Ok(Bytes::new())
    }

    /// The offset and timestamp of the first record whose timestamp is ≥ `timestamp`
    /// (ListOffsets by time, which answers with both), or `None` if every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        for seg in self.segments.values() {
            if seg.max_timestamp() < timestamp {
                continue;
            }
            let Some(bp) = seg.find_batch_by_timestamp(timestamp)? else {
                continue;
            };
            let bytes = self.read(
                bp.header.base_offset.max(self.log_start_offset),
                bp.header.size(),
            )?;
            let records =
                record::decode_records(&bytes.slice(..bp.header.size().min(bytes.len())))?;
            return Ok(records
                .iter()
                .find(|r| r.timestamp >= timestamp)
                .map(|r| (r.offset, r.timestamp))
                .or(Some((bp.header.base_offset, bp.header.max_timestamp))));
        }
        Ok(None)
    }

    /// Removes everything at and above `offset` (followers truncating to their leader). The
    /// batch holding `offset` is removed whole, so the new LEO may be below `offset`; it is
    /// returned. Truncating to or below the log start empties the log and restarts it at `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64> {
        if offset >= self.log_end_offset() {
            return Ok(self.log_end_offset());
        }
        if offset <= self.log_start_offset {
            self.truncate_fully_and_start_at(offset)?;
            return Ok(offset);
        }
        let doomed: Vec<i64> = self.segments.range(offset..).map(|(b, _)| *b).collect();
        let fs = self.options.fs.clone();
        for base in doomed {
            if let Some(seg) = self.segments.remove(&base) {
                seg.delete(fs.as_ref())?;
            }
        }
        let config = self.options.config.clone();
        let active = self.active_mut()?;
        active.truncate_to(offset)?;
        active.make_writable(&config)?;
        let leo = self.log_end_offset();
        self.flush.truncated_to(leo);
        tracing::info!(dir = %self.dir.display(), offset, leo, "truncated log");
        Ok(leo)
    }

    /// Deletes every segment and starts an empty log at `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        let fs = self.options.fs.clone();
        for (_, seg) in std::mem::take(&mut self.segments) {
            seg.delete(fs.as_ref())?;
        }
        let now = self.options.clock.now_ms();
        let seg = Segment::create(fs.as_ref(), &self.dir, offset, &self.options.config, now)?;
        fs.sync_dir(&self.dir)
            .map_err(|e| LogError::storage(format!("fsync {}", self.dir.display()), e))?;
        self.segments.insert(offset, seg);
        self.log_start_offset = offset;
        self.flush.truncated_to(offset);
        Ok(())
    }

    /// Retention (rule S7): deletes whole segments, oldest first, while `retention.ms` or
    /// `retention.bytes` says so — but only segments that end at or below `may_delete_below`
    /// (the broker passes the high watermark, so uncommitted data is never deleted) and never
    /// the active segment. Advances the log start offset. Returns how many segments went.
    pub fn delete_old_segments(&mut self, may_delete_below: i64) -> Result<usize> {
        let c = &self.options.config;
        let now = self.options.clock.now_ms();
        let mut remaining = self.size_bytes();
        let bases: Vec<i64> = self.segments.keys().copied().collect();
        let mut doomed = Vec::new();
        for pair in bases.windows(2) {
            let (base, upper) = (pair[0], pair[1]);
            let Some(seg) = self.segments.get(&base) else {
                break;
            };
            if upper > may_delete_below {
                break;
            }
            let by_time = c
                .retention_ms
                .is_some_and(|r| seg.max_timestamp() >= 0 && now - seg.max_timestamp() > r);
            let by_size = c
                .retention_bytes
                .is_some_and(|r| remaining.saturating_sub(seg.size()) >= r);
            if !(by_time || by_size) {
                break;
            }
            remaining -= seg.size();
            doomed.push(base);
        }
        let fs = self.options.fs.clone();
        for base in &doomed {
            if let Some(seg) = self.segments.remove(base) {
                seg.delete(fs.as_ref())?;
            }
        }
        if let Some(first) = self.segments.keys().next() {
            self.log_start_offset = *first;
        }
        if !doomed.is_empty() {
            tracing::info!(dir = %self.dir.display(), deleted = doomed.len(),
                log_start_offset = self.log_start_offset, "retention deleted segments");
        }
        Ok(doomed.len())
    }

    /// A detached fsync of every segment holding data at or above the flushed offset. Run it
    /// without holding the log (see `FlushState::wait_flushed`). Appends after this call start a
    /// new `flush.ms` age, because the job covers everything before them.
    pub fn sync_job(&mut self) -> SyncJob {
        self.first_unflushed_ms = None;
        let flushed = self.flushed_offset();
        let from = self
            .segments
            .range(..=flushed)
            .next_back()
            .map_or(self.log_start_offset, |(b, _)| *b);
        SyncJob {
            files: self.segments.range(from..).map(|(_, s)| s.file()).collect(),
            upto: self.log_end_offset(),
            generation: self.flush.generation(),
            state: self.flush.clone(),
            appends: std::mem::take(&mut self.appends_since_sync),
            observer: self.options.observer.clone(),
        }
    }

    /// fsyncs everything appended so far, in the caller's thread.
    pub fn flush(&mut self) -> Result<()> {
        self.sync_job().run()
    }

    /// True when the background flusher should flush this log now: `flush.ms` has passed since
    /// the oldest unflushed append, or a segment rolled and its data is not yet on disk (Kafka
    /// flushes rolled segments in the background too, to bound recovery time).
    pub fn flush_due(&mut self) -> bool {
        if self.flushed_offset() >= self.log_end_offset() {
            self.first_unflushed_ms = None;
            return false;
        }
        let rolled_unflushed = self
            .segments
            .keys()
            .next_back()
            .is_some_and(|active| self.flushed_offset() < *active);
        let aged = match (self.options.config.flush_ms, self.first_unflushed_ms) {
            (Some(ms), Some(since)) => self.options.clock.now_ms() - since >= ms,
            _ => false,
        };
        rolled_unflushed || aged
    }

    /// Clean close: flushes everything and trims the active segment's indexes.
    pub fn close(mut self) -> Result<()> {
        self.flush()?;
        for seg in self.segments.values_mut() {
            seg.flush()?;
        }
        self.active_mut()?.seal()
    }
}
