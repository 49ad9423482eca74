//! Sparse, memory-mapped indexes of one segment (Kafka rule S3).
//!
//! * [`OffsetIndex`]: 8-byte entries `(offset − base: u32, file position: u32)`.
//! * [`TimeIndex`]: 12-byte entries `(max timestamp so far: i64, offset − base: u32)`.
//!
//! Both are preallocated to `segment.index.bytes` while their segment is active and trimmed to their
//! entries when it rolls. They are never checksummed: after an unclean shutdown they are rebuilt
//! from the log, and on every open they are sanity-checked and rebuilt if they look wrong.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

/// A file of fixed-size big-endian entries, mapped into memory.
#[derive(Debug)]
struct MmapFile {
    path: PathBuf,
    file: File,
    /// `None` while the file is zero bytes long (an empty mapping is not allowed).
    mmap: Option<MmapMut>,
    entry_size: usize,
    entries: usize,
}

impl MmapFile {
    /// Opens or creates the file. Existing content is taken to be `len / entry_size` entries (the
    /// file is trimmed whenever it is closed cleanly); the caller sanity-checks them.
    fn open(path: &Path, entry_size: usize) -> io::Result<MmapFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len() as usize;
        let mut f = MmapFile {
            path: path.to_path_buf(),
            file,
            mmap: None,
            entry_size,
            entries: len / entry_size,
        };
        f.remap(len as u64)?;
        Ok(f)
    }

    fn remap(&mut self, len: u64) -> io::Result<()> {
        self.mmap = None;
        self.file.set_len(len)?;
        if len > 0 {
            // SAFETY: the file belongs to this log directory, which one process owns; nothing else
            // truncates or writes it while the mapping lives (the same contract Kafka relies on).
            // All accesses are bounds-checked against `entries`, which never exceeds `len`.
            self.mmap = Some(unsafe { MmapMut::map_mut(&self.file)? });
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mmap.as_ref().map_or(0, |m| m.len() / self.entry_size)
    }

    fn entry(&self, i: usize) -> &[u8] {
        match &self.mmap {
            Some(m) if i < self.entries => &m[i * self.entry_size..(i + 1) * self.entry_size],
            _ => &[],
        }
    }

    /// Appends an entry; false if the preallocated space is full.
    fn push(&mut self, bytes: &[u8]) -> bool {
        let at = self.entries * self.entry_size;
        match &mut self.mmap {
            Some(m) if at + self.entry_size <= m.len() => {
                m[at..at + self.entry_size].copy_from_slice(bytes);
                self.entries += 1;
                true
            }
            _ => false,
        }
    }

    /// Grows the file to `max_bytes` (rounded down to whole entries) so the segment can append.
    fn make_writable(&mut self, max_bytes: u64) -> io::Result<()> {
        let len = (max_bytes / self.entry_size as u64) * self.entry_size as u64;
        let len = len.max((self.entries * self.entry_size) as u64);
        if self.mmap.as_ref().map(|m| m.len() as u64) != Some(len) {
            self.remap(len)?;
        }
        Ok(())
    }

    /// Cuts the file to exactly its entries (on roll and close) and flushes it.
    fn trim(&mut self) -> io::Result<()> {
        self.flush()?;
        self.remap((self.entries * self.entry_size) as u64)
    }

    fn flush(&self) -> io::Result<()> {
        match &self.mmap {
            Some(m) => m.flush(),
            None => Ok(()),
        }
    }
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// Maps offsets to byte positions in the segment's `.log` file.
#[derive(Debug)]
pub struct OffsetIndex {
    file: MmapFile,
    base_offset: i64,
}

impl OffsetIndex {
    /// Bytes per entry on disk: relative offset (`u32`) and file position (`u32`), big-endian.
    pub const ENTRY_SIZE: usize = 8;

    /// Opens (creating if absent) the offset index at `path` of the segment starting at `base_offset`. Existing entries are taken as they are; callers check them with [`OffsetIndex::is_sane`].
    ///
    /// Errors: the file cannot be opened, resized or mapped.
    pub fn open(path: &Path, base_offset: i64) -> io::Result<OffsetIndex> {
        Ok(OffsetIndex {
            file: MmapFile::open(path, Self::ENTRY_SIZE)?,
            base_offset,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.file.entries
    }

    /// True when the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.file.entries == 0
    }

    /// True when the preallocated space (`segment.index.bytes`) holds no more entries: the
    /// segment must roll before it can index another batch.
    pub fn is_full(&self) -> bool {
        self.file.entries >= self.file.capacity()
    }

    /// The index file's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The i-th entry as `(absolute offset, position)`.
    pub fn entry(&self, i: usize) -> Option<(i64, u32)> {
        let e = self.file.entry(i);
        if e.len() < Self::ENTRY_SIZE {
            return None;
        }
        Some((self.base_offset + be_u32(e) as i64, be_u32(&e[4..])))
    }

    /// Adds `(offset, position)`; ignored if not beyond the last entry (entries stay sorted).
    /// Returns false when the index is full and the segment must roll.
    pub fn append(&mut self, offset: i64, position: u32) -> bool {
        if let Some((last, _)) = self.last() {
            if offset <= last {
                return true;
            }
        }
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.file.push(&e)
    }

    /// The last entry as `(absolute offset, position)`, if any.
    pub fn last(&self) -> Option<(i64, u32)> {
        self.len().checked_sub(1).and_then(|i| self.entry(i))
    }

    /// The greatest entry whose offset is ≤ `target`, or `(base_offset, 0)`.
    pub fn lookup(&self, target: i64) -> (i64, u32) {
        // partition_point: number of entries with offset <= target.
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.entry(mid) {
                Some((o, _)) if o <= target => lo = mid + 1,
                _ => hi = mid,
            }
        }
        if lo == 0 {
            (self.base_offset, 0)
        } else {
            self.entry(lo - 1).unwrap_or((self.base_offset, 0))
        }
    }

    /// Drops every entry whose offset is ≥ `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        while let Some((o, _)) = self.last() {
            if o < offset {
                break;
            }
            self.file.entries -= 1;
        }
    }

    /// Forgets every entry; the file keeps its size and later appends overwrite it.
    pub fn clear(&mut self) {
        self.file.entries = 0;
    }

    /// True when entries are strictly increasing and point inside a log of `log_len` bytes.
    pub fn is_sane(&self, log_len: u64) -> bool {
        let mut prev: Option<(i64, u32)> = None;
        for i in 0..self.len() {
            let Some((o, p)) = self.entry(i) else {
                return false;
            };
            if p as u64 >= log_len.max(1) || prev.is_some_and(|(po, pp)| o <= po || p <= pp) {
                return false;
            }
            prev = Some((o, p));
        }
        true
    }

    /// Grows the file to `max_bytes` (`segment.index.bytes`, rounded down to whole entries) so
    /// that entries can be appended. Errors: the file cannot be resized or remapped.
    pub fn make_writable(&mut self, max_bytes: u64) -> io::Result<()> {
        self.file.make_writable(max_bytes)
    }

    /// Flushes the mapping and shrinks the file to exactly its entries (when the segment rolls
    /// or closes). Errors: the flush or the resize fails.
    pub fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }

    /// Writes the mapped entries back to the file (msync). Errors: the flush fails.
    pub fn flush(&self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Maps timestamps to offsets: each entry says "records up to here have timestamps ≤ ts".
#[derive(Debug)]
pub struct TimeIndex {
    file: MmapFile,
    base_offset: i64,
}

impl TimeIndex {
    /// Bytes per entry on disk: timestamp (`i64`, ms) and relative offset (`u32`), big-endian.
    pub const ENTRY_SIZE: usize = 12;

    /// Opens (creating if absent) the time index at `path` of the segment starting at `base_offset`. Existing entries are taken as they are; callers check them with [`TimeIndex::is_sane`].
    ///
    /// Errors: the file cannot be opened, resized or mapped.
    pub fn open(path: &Path, base_offset: i64) -> io::Result<TimeIndex> {
        Ok(TimeIndex {
            file: MmapFile::open(path, Self::ENTRY_SIZE)?,
            base_offset,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.file.entries
    }

    /// True when the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.file.entries == 0
    }

    /// True when the preallocated space (`segment.index.bytes`) holds no more entries: the
    /// segment must roll before it can index another batch.
    pub fn is_full(&self) -> bool {
        self.file.entries >= self.file.capacity()
    }

    /// The index file's path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// The i-th entry as `(timestamp, absolute offset)`.
    pub fn entry(&self, i: usize) -> Option<(i64, i64)> {
        let e = self.file.entry(i);
        if e.len() < Self::ENTRY_SIZE {
            return None;
        }
        Some((be_i64(e), self.base_offset + be_u32(&e[8..]) as i64))
    }

    /// The last entry as `(timestamp, absolute offset)`, if any.
    pub fn last(&self) -> Option<(i64, i64)> {
        self.len().checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Adds `(timestamp, offset)` only if the timestamp is larger than the last entry's, keeping
    /// timestamps monotonic as Kafka does. Returns false when full.
    pub fn append(&mut self, timestamp: i64, offset: i64) -> bool {
        if let Some((ts, o)) = self.last() {
            if timestamp <= ts || offset <= o {
                return true;
            }
        }
        let mut e = [0u8; 12];
        e[..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        self.file.push(&e)
    }

    /// The greatest entry with timestamp < `target`: a safe place to start scanning for the first
    /// record with timestamp ≥ `target`. `None` means scan from the segment start.
    pub fn lookup(&self, target: i64) -> Option<(i64, i64)> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.entry(mid) {
                Some((ts, _)) if ts < target => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo.checked_sub(1).and_then(|i| self.entry(i))
    }

    /// Drops entries pointing at offsets ≥ `offset`.
    pub fn truncate_to(&mut self, offset: i64) {
        while let Some((_, o)) = self.last() {
            if o < offset {
                break;
            }
            self.file.entries -= 1;
        }
    }

    /// Forgets every entry; the file keeps its size and later appends overwrite it.
    pub fn clear(&mut self) {
        self.file.entries = 0;
    }

    /// True when timestamps and offsets are increasing and offsets are below `next_offset`.
    pub fn is_sane(&self, next_offset: i64) -> bool {
        let mut prev: Option<(i64, i64)> = None;
        for i in 0..self.len() {
            let Some((t, o)) = self.entry(i) else {
                return false;
            };
            if o >= next_offset.max(self.base_offset + 1)
                || prev.is_some_and(|(pt, po)| t <= pt || o <= po)
            {
                return false;
            }
            prev = Some((t, o));
        }
        true
    }

    /// Grows the file to `max_bytes` (`segment.index.bytes`, rounded down to whole entries) so
    /// that entries can be appended. Errors: the file cannot be resized or remapped.
    pub fn make_writable(&mut self, max_bytes: u64) -> io::Result<()> {
        self.file.make_writable(max_bytes)
    }

    /// Flushes the mapping and shrinks the file to exactly its entries (when the segment rolls
    /// or closes). Errors: the flush or the resize fails.
    pub fn trim(&mut self) -> io::Result<()> {
        self.file.trim()
    }

    /// Writes the mapped entries back to the file (msync). Errors: the flush fails.
    pub fn flush(&self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_lookup_finds_greatest_entry_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = OffsetIndex::open(&dir.path().join("0.index"), 100).unwrap();
        idx.make_writable(80).unwrap();
        for (o, p) in [(104, 4096), (110, 8200), (130, 12300)] {
            assert!(idx.append(o, p));
        }
        assert_eq!(idx.lookup(99), (100, 0));
        assert_eq!(idx.lookup(103), (100, 0));
        assert_eq!(idx.lookup(104), (104, 4096));
        assert_eq!(idx.lookup(129), (110, 8200));
        assert_eq!(idx.lookup(1000), (130, 12300));
        idx.truncate_to(110);
        assert_eq!(idx.len(), 1);
        assert!(idx.is_sane(5000));
        assert!(
            !idx.is_sane(4096),
            "position at log end is not a batch start"
        );
    }

    #[test]
    fn index_is_full_at_preallocated_size_and_survives_trim_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut idx = OffsetIndex::open(&path, 0).unwrap();
        idx.make_writable(16).unwrap();
        assert!(idx.append(1, 10));
        assert!(idx.append(2, 20));
        assert!(idx.is_full());
        assert!(!idx.append(3, 30));
        idx.trim().unwrap();
        drop(idx);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 16);
        let idx = OffsetIndex::open(&path, 0).unwrap();
        assert_eq!(idx.entry(1), Some((2, 20)));
    }

    #[test]
    fn time_index_keeps_timestamps_monotonic() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::open(&dir.path().join("0.timeindex"), 0).unwrap();
        idx.make_writable(1200).unwrap();
        assert!(idx.append(1000, 5));
        assert!(idx.append(900, 9)); // older timestamp: no entry
        assert!(idx.append(2000, 12));
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup(1000), None);
        assert_eq!(idx.lookup(1001), Some((1000, 5)));
        assert_eq!(idx.lookup(5000), Some((2000, 12)));
        idx.truncate_to(12);
        assert_eq!(idx.len(), 1);
    }
}
