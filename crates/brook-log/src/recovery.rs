//! Opening one partition's log ([`Log::open`]) and, after an unclean shutdown, recovering it
//! (rule S6).
//!
//! Clean shutdown: segments are opened as they are (indexes sanity-checked). Unclean: every
//! segment holding offsets at or above the recovery point is rescanned batch by batch (length and
//! CRC), its indexes rebuilt, and the log is cut at the first torn or corrupt batch; all later
//! segments are deleted. Nothing below the recovery point is rescanned, and damage found below it
//! is a `KAFKA_STORAGE_ERROR` for this log only — recovery never invents data and never panics.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{LogError, Result};
use crate::log::{Log, LogOptions};
use crate::metrics;
use crate::segment::Segment;

/// How the previous run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// A clean close flushed everything: trust the files.
    Clean,
    /// A crash: everything below `recovery_point` was fsynced; rescan from there.
    Unclean {
        /// The log's flushed offset from `recovery-point-offset-checkpoint` (0 if absent).
        recovery_point: i64,
    },
}

/// What opening the log found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments rescanned batch by batch (those holding offsets at or above the recovery point).
    pub segments_scanned: usize,
    /// Batches whose length and CRC were checked during the rescan.
    pub batches_scanned: u64,
    /// Bytes cut off the end of the log: a torn or corrupt batch and everything after it.
    pub truncated_bytes: u64,
    /// Whole segments deleted because they followed the cut or left a hole in the offsets.
    pub deleted_segments: usize,
    /// The first torn or corrupt batch found, if any (it and everything after it are gone).
    pub corruption: Option<String>,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering it if the last run did not end
    /// cleanly.
    pub fn open(
        dir: &Path,
        options: LogOptions,
        shutdown: Shutdown,
    ) -> Result<(Log, RecoveryReport)> {
        let fs = options.fs.clone();
        std::fs::create_dir_all(dir)
            .map_err(|e| LogError::storage(format!("create {}", dir.display()), e))?;
        let bases = scan_dir(dir, fs.as_ref())?;
        let now = options.clock.now_ms();
        let config = &options.config;
        let mut report = RecoveryReport::default();
        let mut segments = BTreeMap::new();
        let recovery_point = match shutdown {
            Shutdown::Clean => i64::MAX,
            Shutdown::Unclean { recovery_point } => recovery_point,
        };
        let mut cut = false;
        for (i, &base) in bases.iter().enumerate() {
            if cut {
                // Everything after the first corrupt batch goes (it may reference lost data).
                remove_segment_files(dir, base, fs.as_ref())?;
                report.deleted_segments += 1;
                continue;
            }
            if let Some(prev) = segments.values().next_back().map(Segment::next_offset) {
                if prev != base {
                    let msg = format!(
                        "{}: segment {base} does not follow the previous one, which ends at {prev}",
                        dir.display()
                    );
                    // Overlaps, holes after a clean shutdown and holes in flushed data are
                    // damage. After a crash, though, a segment can end early because its
                    // unflushed tail was lost; what follows would leave a hole in the offsets,
                    // so it goes too.
                    if recovery_point == i64::MAX || prev > base || prev < recovery_point {
                        metrics::record_corruption(options.observer.as_ref(), 0);
                        return Err(LogError::KafkaStorageError(msg));
                    }
                    tracing::warn!("{msg}; deleting it and later segments");
                    cut = true;
                    remove_segment_files(dir, base, fs.as_ref())?;
                    report.deleted_segments += 1;
                    continue;
                }
            }
            let next_base = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let needs_scan = recovery_point != i64::MAX && next_base > recovery_point;
            let mut seg = if needs_scan {
                let mut seg = Segment::open_for_recovery(fs.as_ref(), dir, base, config, now)?;
                let r = seg.recover(recovery_point)?;
                report.segments_scanned += 1;
                report.batches_scanned += r.batches;
                report.truncated_bytes += r.truncated_bytes;
                if let Some((pos, why)) = r.stopped_at {
                    let msg = format!("{} at position {pos}: {why}", seg.log_path().display());
                    tracing::warn!(dir = %dir.display(), truncated_bytes = r.truncated_bytes,
                        "recovery truncated a torn or corrupt batch: {msg}");
                    metrics::record_corruption(options.observer.as_ref(), r.truncated_bytes);
                    report.corruption = Some(msg);
                    cut = true;
                }
                seg
            } else {
                Segment::open(fs.as_ref(), dir, base, config, now)?
            };
            if cut || i + 1 == bases.len() {
                seg.make_writable(config)?;
            }
            segments.insert(base, seg);
        }
        if segments.is_empty() {
            let seg = Segment::create(fs.as_ref(), dir, 0, config, now)?;
            fs.sync_dir(dir)
                .map_err(|e| LogError::storage(format!("fsync {}", dir.display()), e))?;
            segments.insert(0, seg);
        }
        let leo = segments
            .values()
            .next_back()
            .map_or(0, Segment::next_offset);
        if leo < recovery_point && recovery_point != i64::MAX {
            metrics::record_corruption(options.observer.as_ref(), 0);
            return Err(LogError::KafkaStorageError(format!(
                "{}: log ends at {leo}, below its recovery point {recovery_point}: flushed data is missing",
                dir.display()
            )));
        }
        if report.segments_scanned > 0 {
            tracing::info!(dir = %dir.display(), segments = report.segments_scanned,
                batches = report.batches_scanned, leo, "recovered log after unclean shutdown");
        }
        let flushed = leo.min(recovery_point);
        Ok((
            Log::from_parts(dir.to_path_buf(), options, segments, flushed),
            report,
        ))
    }
}

/// Finds the segment base offsets in `dir`, cleaning up leftovers of interrupted operations
/// (`*.tmp`, `*.deleted`, indexes without a log).
fn scan_dir(dir: &Path, fs: &dyn crate::io::FileSystem) -> Result<Vec<i64>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| LogError::storage(format!("list {}", dir.display()), e))?;
    let mut logs = Vec::new();
    let mut others = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| LogError::storage(format!("list {}", dir.display()), e))?
            .path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let base = (stem.len() == 20)
            .then(|| stem.parse::<i64>().ok())
            .flatten();
        match (ext, base) {
            ("log", Some(b)) => logs.push(b),
            ("index" | "timeindex", Some(b)) => others.push((b, path.clone())),
            ("tmp" | "deleted", _) => fs
                .remove(&path)
                .map_err(|e| LogError::storage(format!("remove {}", path.display()), e))?,
            _ => {}
        }
    }
    logs.sort_unstable();
    for (b, path) in others {
        if logs.binary_search(&b).is_err() {
            fs.remove(&path)
                .map_err(|e| LogError::storage(format!("remove {}", path.display()), e))?;
        }
    }
    Ok(logs)
}

fn remove_segment_files(dir: &Path, base: i64, fs: &dyn crate::io::FileSystem) -> Result<()> {
    let stem = crate::segment::file_stem(base);
    for ext in ["log", "index", "timeindex"] {
        let p = dir.join(format!("{stem}.{ext}"));
        fs.remove(&p)
            .map_err(|e| LogError::storage(format!("remove {}", p.display()), e))?;
    }
    Ok(())
}
