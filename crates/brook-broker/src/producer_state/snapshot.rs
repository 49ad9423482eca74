//! Producer-state snapshots (rule I7): writing, loading, cleaning, and rebuilding the state from
//! the newest snapshot plus a replay of the log after it. Format in the parent module's docs.

use super::*;

impl ProducerStateManager {
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

    pub(super) fn encode_snapshot(&self) -> Result<Vec<u8>, ProducerStateError> {
        let offset = self.map_end_offset;
        if offset < 0 {
            return Err(ProducerStateError::Snapshot(format!(
                "cannot snapshot at negative offset {offset}"
            )));
        }
        // Every retained batch of every producer (oldest first), not only the last one as Kafka
        // does: after a restart, a retry of any of the up to 5 batches a client can have in
        // flight must still be recognised, or the client's epoch bump writes it twice.
        let lasts: Vec<(&ProducerEntry, &BatchMetadata)> = self
            .producers
            .values()
            .flat_map(|e| e.batches.iter().map(move |b| (e, b)))
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
    pub(super) fn decode_snapshot(buf: &[u8], offset: i64) -> Result<ProducerStateManager, String> {
        let mut r = Reader { buf, pos: 0 };
        let version = r.i16()?;
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
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
            match state.producers.get_mut(&producer_id) {
                // Version 2 lists each retained batch, oldest first, consecutively.
                Some(e) => {
                    let follows = e
                        .batches
                        .back()
                        .is_some_and(|b| b.last_offset < meta.first_offset);
                    if version < 2
                        || e.epoch != epoch
                        || !follows
                        || e.batches.len() >= NUM_BATCHES_TO_RETAIN
                    {
                        return Err(format!(
                            "producer {producer_id}: inconsistent repeated entry"
                        ));
                    }
                    e.batches.push_back(meta);
                    e.last_timestamp = e.last_timestamp.max(last_timestamp);
                }
                None => {
                    let entry = ProducerEntry {
                        producer_id,
                        epoch,
                        batches: VecDeque::from([meta]),
                        last_timestamp,
                    };
                    state.producers.insert(producer_id, entry);
                }
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
