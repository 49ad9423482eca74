//! One segment of a log: a `.log` file of whole record batches starting at `base_offset`, plus its
//! sparse `.index` and `.timeindex` (rules S2–S4). A segment knows how to append, find the batch
//! holding an offset or timestamp, truncate, and re-validate itself after a crash (`recover`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::index::{OffsetIndex, TimeIndex};
use crate::io::{FileSystem, LogFile};

/// The largest window `Segment::scan` reads headers in, whatever `index.interval.bytes` says.
const MAX_SCAN_WINDOW: usize = 64 * 1024;

/// File name stem for a segment: the base offset as 20 zero-padded digits.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// Where a batch sits in a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPosition {
    /// Byte position of the batch's first byte in the `.log` file.
    pub position: u64,
    /// The batch's parsed header.
    pub header: BatchHeader,
}

/// What is about to be appended, for [`Segment::should_roll`].
#[derive(Debug, Clone, Copy)]
pub struct RollCheck {
    /// Size of the incoming append, in bytes.
    pub bytes: usize,
    /// Offset of the incoming append's last record.
    pub last_offset: i64,
    /// Largest `max_timestamp` of the incoming batches (ms).
    pub max_timestamp: i64,
    /// Wall-clock time of the append (ms), for the age of a segment with no timestamped batch.
    pub now_ms: i64,
}

/// What a crash-recovery scan of one segment found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegmentRecovery {
    /// Bytes of whole, CRC-valid batches from the start of the file: the length it is cut to.
    pub valid_bytes: u64,
    /// Bytes cut off after `valid_bytes`.
    pub truncated_bytes: u64,
    /// Valid batches found (and indexed).
    pub batches: u64,
    /// Why the scan stopped early (a torn or corrupt batch), if it did.
    pub stopped_at: Option<(u64, String)>,
}

/// One segment: the `.log` data file (through the `io` seam) and its two memory-mapped indexes.
/// Segments are named and keyed by their base offset; only the log's last segment is written.
#[derive(Debug)]
pub struct Segment {
    base_offset: i64,
    log: Arc<dyn LogFile>,
    log_path: PathBuf,
    index: OffsetIndex,
    time_index: TimeIndex,
    /// Offset the next batch appended here will get (= base_offset while empty).
    next_offset: i64,
    /// Largest batch max-timestamp seen (retention and time lookup use it), -1 while empty.
    max_timestamp: i64,
    /// Timestamp of the first batch (segment.ms age), or the creation time while empty.
    first_timestamp: Option<i64>,
    created_ms: i64,
    bytes_since_index_entry: u64,
    index_interval: u64,
}

impl Segment {
    /// Creates a new empty segment (files created; caller fsyncs the directory).
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Segment> {
        let mut seg = Segment::open_files(fs, dir, base_offset, config, now_ms)?;
        if !seg.log.is_empty() {
            // A stale file from before a truncation or crash: it holds nothing we want.
            seg.log
                .truncate(0)
                .map_err(|e| LogError::storage("truncate stale segment", e))?;
        }
        seg.index.clear();
        seg.time_index.clear();
        seg.make_writable(config)?;
        Ok(seg)
    }

    /// Opens an existing segment written by a clean shutdown (or below the recovery point): the
    /// indexes are trusted if they pass a sanity check, otherwise rebuilt by scanning.
    pub fn open(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Segment> {
        let mut seg = Segment::open_files(fs, dir, base_offset, config, now_ms)?;
        if !seg.index.is_sane(seg.log.len()) {
            tracing::warn!(segment = %seg.log_path.display(), "offset index corrupt; rebuilding");
            seg.recover(i64::MAX)?;
            return Ok(seg);
        }
        // Find the end: scan forward from the last index entry, the way Kafka does.
        let (_, start_pos) = seg.index.lookup(i64::MAX);
        let mut pos = start_pos as u64;
        let tail_ok = loop {
            match seg.header_at(pos) {
                Ok(Some(bp)) => {
                    seg.next_offset = bp.header.next_offset();
                    seg.note_timestamp(bp.header.max_timestamp);
                    seg.bytes_since_index_entry += bp.header.size() as u64;
                    pos += bp.header.size() as u64;
                }
                Ok(None) => break true,
                Err(e @ LogError::KafkaStorageError(_)) => return Err(e),
                Err(_) => break false,
            }
        };
        if !tail_ok || !seg.time_index.is_sane(seg.next_offset) {
            tracing::warn!(segment = %seg.log_path.display(), "segment tail inconsistent; rebuilding");
            seg.recover(i64::MAX)?;
            return Ok(seg);
        }
        if let Some((ts, _)) = seg.time_index.last() {
            seg.note_timestamp(ts);
        }
        if !seg.log.is_empty() {
            seg.first_timestamp = seg.header_at(0)?.map(|bp| bp.header.base_timestamp);
        }
        Ok(seg)
    }

    /// Opens the files without trusting their content; the caller runs [`Segment::recover`].
    pub(crate) fn open_for_recovery(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Segment> {
        Segment::open_files(fs, dir, base_offset, config, now_ms)
    }

    fn open_files(
        fs: &dyn FileSystem,
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<Segment> {
        let stem = file_stem(base_offset);
        let log_path = dir.join(format!("{stem}.log"));
        let ctx = |what: &str| format!("{what} {}", log_path.display());
        let log = fs
            .open(&log_path)
            .map_err(|e| LogError::storage(ctx("open"), e))?;
        let index = OffsetIndex::open(&dir.join(format!("{stem}.index")), base_offset)
            .map_err(|e| LogError::storage(ctx("open index of"), e))?;
        let time_index = TimeIndex::open(&dir.join(format!("{stem}.timeindex")), base_offset)
            .map_err(|e| LogError::storage(ctx("open time index of"), e))?;
        Ok(Segment {
            base_offset,
            log,
            log_path,
            index,
            time_index,
            next_offset: base_offset,
            max_timestamp: -1,
            first_timestamp: None,
            created_ms: now_ms,
            bytes_since_index_entry: 0,
            index_interval: config.index_interval_bytes,
        })
    }

    /// Offset of the segment's first record.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Offset the next batch appended here would get (`base_offset` while empty).
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Size of the `.log` file in bytes.
    pub fn size(&self) -> u64 {
        self.log.len()
    }

    /// True when the `.log` file holds no batch.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// Largest batch `max_timestamp` seen in the segment (ms), -1 while empty.
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Path of the `.log` file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The segment's offset index.
    pub fn index(&self) -> &OffsetIndex {
        &self.index
    }

    /// The segment's time index.
    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    pub(crate) fn file(&self) -> Arc<dyn LogFile> {
        self.log.clone()
    }

    fn note_timestamp(&mut self, ts: i64) {
        self.max_timestamp = self.max_timestamp.max(ts);
    }

    /// Rule S4: roll before appending `incoming` bytes if the segment would overflow, is too old,
    /// its indexes are full, or the offsets would not fit the 32-bit relative index fields.
    /// Age is measured as Kafka does: the incoming batch's timestamp minus the first batch's
    /// (so replaying old data does not roll every batch), or wall time since creation.
    pub fn should_roll(&self, incoming: &RollCheck, config: &LogConfig) -> bool {
        if self.is_empty() {
            return false;
        }
        let age = match self.first_timestamp {
            Some(first) => incoming.max_timestamp - first,
            None => incoming.now_ms - self.created_ms,
        };
        self.size() > config.segment_bytes.saturating_sub(incoming.bytes as u64)
            || age > config.segment_ms
            || self.index.is_full()
            || self.time_index.is_full()
            || incoming.last_offset - self.base_offset > u32::MAX as i64
    }

    /// Appends one or more whole batches (already validated, offsets assigned) whose last batch
    /// ends at `next_offset - 1`, adding index entries per `index.interval.bytes`.
    pub fn append(&mut self, bytes: &[u8], headers: &[BatchHeader]) -> Result<()> {
        let position = self
            .log
            .append(bytes)
            .map_err(|e| LogError::storage(format!("append to {}", self.log_path.display()), e))?;
        let mut pos = position;
        for h in headers {
            self.index_batch(h, pos);
            pos += h.size() as u64;
        }
        Ok(())
    }

    fn index_batch(&mut self, h: &BatchHeader, position: u64) {
        if self.first_timestamp.is_none() {
            self.first_timestamp = Some(h.base_timestamp);
        }
        if self.bytes_since_index_entry > self.index_interval {
            // Entries pair the batch's last offset with the batch's start position (Kafka S3).
            self.index.append(h.last_offset(), position as u32);
            self.time_index
                .append(h.max_timestamp.max(self.max_timestamp), h.last_offset());
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += h.size() as u64;
        self.note_timestamp(h.max_timestamp);
        self.next_offset = h.next_offset();
    }

    /// Reads the header of the batch starting at `pos`, or `None` at the end of the file.
    /// A header that does not parse or a batch that runs past the end is `CorruptMessage`.
    pub fn header_at(&self, pos: u64) -> Result<Option<BatchPosition>> {
        let len = self.log.len();
        if pos >= len {
            return Ok(None);
        }
        if len - pos < HEADER_LEN as u64 {
            return Err(LogError::corrupt(format!(
                "torn batch header at position {pos}"
            )));
        }
        let mut buf = [0u8; HEADER_LEN];
        self.log
            .read_exact_at(&mut buf, pos)
            .map_err(|e| LogError::storage(format!("read {}", self.log_path.display()), e))?;
        let header = BatchHeader::parse(&buf)?;
        if pos + header.size() as u64 > len {
            return Err(LogError::corrupt(format!(
                "torn batch at position {pos}: {} bytes declared, {} on disk",
                header.size(),
                len - pos
            )));
        }
        Ok(Some(BatchPosition {
            position: pos,
            header,
        }))
    }

    /// The first batch whose last offset is ≥ `offset`, found through the index plus a forward
    /// scan, or `None` if the segment ends before `offset`.
    pub fn find_batch(&self, offset: i64) -> Result<Option<BatchPosition>> {
        let (_, pos) = self.index.lookup(offset);
        self.scan(pos as u64, |h| h.last_offset() >= offset)
    }

    /// The first batch with a max timestamp ≥ `ts`.
    pub fn find_batch_by_timestamp(&self, ts: i64) -> Result<Option<BatchPosition>> {
        let start = match self.time_index.lookup(ts) {
            Some((_, offset)) => self.index.lookup(offset).1 as u64,
            None => 0,
        };
        self.scan(start, |h| h.max_timestamp >= ts)
    }

    /// Walks batch headers forward from `pos` (a batch boundary) to the first one `wanted`
    /// accepts. The index leaves at most about `index.interval.bytes` between an entry and the
    /// batch looked for, so the headers are read a window of that size at a time: one read
    /// covers the headers of many small batches instead of one 61-byte read each. The checks are
    /// `header_at`'s: a torn header or a batch running past the end of the file is corrupt.
    fn scan(
        &self,
        mut pos: u64,
        wanted: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<BatchPosition>> {
        let len = self.log.len();
        let window = (self.index_interval as usize).clamp(HEADER_LEN, MAX_SCAN_WINDOW) + HEADER_LEN;
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_start = pos;
        loop {
            if pos >= len {
                return Ok(None);
            }
            if len - pos < HEADER_LEN as u64 {
                return Err(LogError::corrupt(format!(
                    "torn batch header at position {pos}"
                )));
            }
            if pos + HEADER_LEN as u64 > buf_start + buf.len() as u64 {
                let n = (len - pos).min(window as u64) as usize;
                buf.resize(n, 0);
                self.log.read_exact_at(&mut buf, pos).map_err(|e| {
                    LogError::storage(format!("read {}", self.log_path.display()), e)
                })?;
                buf_start = pos;
            }
            let at = (pos - buf_start) as usize;
            let header = BatchHeader::parse(&buf[at..at + HEADER_LEN])?;
            if pos + header.size() as u64 > len {
                return Err(LogError::corrupt(format!(
                    "torn batch at position {pos}: {} bytes declared, {} on disk",
                    header.size(),
                    len - pos
                )));
            }
            if wanted(&header) {
                return Ok(Some(BatchPosition {
                    position: pos,
                    header,
                }));
            }
            pos += header.size() as u64;
        }
    }

    /// Reads whole batches starting with the one that holds `offset`, stopping before `max_bytes`
    /// would be exceeded (but always returning at least one batch) and before any batch whose
    /// last offset is ≥ `upper` (an exclusive bound such as the high watermark).
    pub fn read(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<Option<Bytes>> {
        let Some(first) = self.find_batch(offset)? else {
            return Ok(None);
        };
        if first.header.last_offset() >= upper {
            return Ok(Some(Bytes::new()));
        }
        // One read of up to `max_bytes` (at least the first batch), then walk the headers in
        // memory and keep the whole batches below `upper`: a fetch of 1 MiB is one pread, not one
        // per batch.
        let available = self.log.len().saturating_sub(first.position) as usize;
        let want = (max_bytes.min(available)).max(first.header.size());
        let mut buf = vec![0u8; want];
        self.log
            .read_exact_at(&mut buf, first.position)
            .map_err(|e| LogError::storage(format!("read {}", self.log_path.display()), e))?;
        let mut end = 0usize;
        for item in batch::batches(&buf) {
            // A batch cut by the end of the buffer ends the read; it comes next time.
            let Ok((pos, h)) = item else { break };
            if h.last_offset() >= upper {
                break;
            }
            end = pos + h.size();
        }
        buf.truncate(end);
        Ok(Some(Bytes::from(buf)))
    }

    /// Removes every batch with offsets ≥ `offset`: the whole batch holding `offset` goes, so the
    /// segment ends at a batch boundary ≤ `offset`. Returns the bytes removed.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64> {
        let Some(bp) = self.find_batch(offset)? else {
            return Ok(0);
        };
        // If `offset` falls inside this batch the whole batch goes: batches are never split.
        let removed = self.log.len() - bp.position;
        self.truncate_bytes(bp.position)?;
        self.next_offset = bp.header.base_offset;
        self.index.truncate_to(self.next_offset);
        self.time_index.truncate_to(self.next_offset);
        self.recompute_after_truncation()?;
        Ok(removed)
    }

    fn truncate_bytes(&mut self, len: u64) -> Result<()> {
        self.log
            .truncate(len)
            .map_err(|e| LogError::storage(format!("truncate {}", self.log_path.display()), e))
    }

    fn recompute_after_truncation(&mut self) -> Result<()> {
        // Cheap enough: truncation is rare, and the time index gives a lower bound to scan from.
        self.max_timestamp = self.time_index.last().map_or(-1, |(ts, _)| ts);
        let (_, pos) = self.index.lookup(i64::MAX);
        let mut pos = pos as u64;
        self.bytes_since_index_entry = 0;
        while let Some(bp) = self.header_at(pos)? {
            self.note_timestamp(bp.header.max_timestamp);
            self.bytes_since_index_entry += bp.header.size() as u64;
            pos += bp.header.size() as u64;
        }
        if self.is_empty() {
            self.first_timestamp = None;
        }
        Ok(())
    }

    /// Crash recovery (rule S6): rebuilds both indexes by scanning every batch, checking size and
    /// CRC, and cuts the file at the first torn or corrupt batch. Offsets below `flushed` were on
    /// disk before the crash: damage there is not a torn write but a broken disk, so it is a
    /// `KAFKA_STORAGE_ERROR` and nothing is cut.
    pub fn recover(&mut self, flushed: i64) -> Result<SegmentRecovery> {
        self.index.clear();
        self.time_index.clear();
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.first_timestamp = None;
        self.bytes_since_index_entry = 0;
        let mut report = SegmentRecovery::default();
        let mut pos = 0u64;
        let mut buf = Vec::new();
        loop {
            let bp = match self.header_at(pos) {
                Ok(Some(bp)) => bp,
                Ok(None) => break,
                Err(LogError::KafkaStorageError(e)) => return Err(LogError::KafkaStorageError(e)),
                Err(e) => {
                    report.stopped_at = Some((pos, e.to_string()));
                    break;
                }
            };
            // `header_at` checked that the whole batch lies within the file, so this allocation
            // is bounded by the file's real size.
            buf.resize(bp.header.size(), 0);
            self.log
                .read_exact_at(&mut buf, pos)
                .map_err(|e| LogError::storage(format!("read {}", self.log_path.display()), e))?;
            let problem = match batch::check_crc(&buf) {
                Err(e) => Some(e.to_string()),
                Ok(_) if bp.header.base_offset < self.next_offset => Some(format!(
                    "offset {} goes backwards (expected ≥ {})",
                    bp.header.base_offset, self.next_offset
                )),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                report.stopped_at = Some((pos, problem));
                break;
            }
            self.index_batch(&bp.header, pos);
            report.batches += 1;
            pos += bp.header.size() as u64;
        }
        report.valid_bytes = pos;
        if let Some((at, why)) = &report.stopped_at {
            if self.next_offset < flushed {
                return Err(LogError::KafkaStorageError(format!(
                    "{} is corrupt at position {at}, below the recovery point {flushed}: {why}",
                    self.log_path.display()
                )));
            }
        }
        report.truncated_bytes = self.log.len() - pos;
        if report.truncated_bytes > 0 {
            self.truncate_bytes(pos)?;
        }
        Ok(report)
    }

    /// Prepares the indexes for appends (preallocated to `segment.index.bytes`).
    pub fn make_writable(&mut self, config: &LogConfig) -> Result<()> {
        let ctx = |e| LogError::storage(format!("grow index of {}", self.log_path.display()), e);
        self.index
            .make_writable(config.segment_index_bytes)
            .map_err(ctx)?;
        self.time_index
            .make_writable(config.segment_index_bytes)
            .map_err(|e| LogError::storage("grow time index", e))?;
        Ok(())
    }

    /// Called when this segment stops being the active one, and on close: index files shrink to
    /// their entries and are flushed.
    pub fn seal(&mut self) -> Result<()> {
        self.index.trim().map_err(|e| {
            LogError::storage(format!("trim index of {}", self.log_path.display()), e)
        })?;
        self.time_index
            .trim()
            .map_err(|e| LogError::storage("trim time index", e))
    }

    /// fsyncs the data file and flushes the index mappings.
    pub fn flush(&self) -> Result<()> {
        self.log
            .sync()
            .map_err(|e| LogError::storage(format!("fsync {}", self.log_path.display()), e))?;
        self.index
            .flush()
            .map_err(|e| LogError::storage("flush index", e))?;
        self.time_index
            .flush()
            .map_err(|e| LogError::storage("flush time index", e))
    }

    /// Deletes the segment's files.
    pub fn delete(self, fs: &dyn FileSystem) -> Result<()> {
        let paths = [
            self.log_path.clone(),
            self.index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
        ];
        drop(self);
        for p in paths {
            fs.remove(&p)
                .map_err(|e| LogError::storage(format!("delete {}", p.display()), e))?;
        }
        Ok(())
    }
}
