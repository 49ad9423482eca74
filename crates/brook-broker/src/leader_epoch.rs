//! The per-partition leader epoch cache (reference rules E3–E6): an ordered list of
//! `(epoch, start offset)` pairs saying at which offset each leader epoch began in this replica's
//! log. It answers `OffsetsForLeaderEpoch` on a leader ([`LeaderEpochCache::end_offset_for`]) and
//! drives follower truncation (see `replica_state::truncation_offset`), which is what lets Brook
//! truncate by epochs instead of by the high watermark (the KIP-101 / KIP-279 fixes).
//!
//! The semantics follow Kafka's `LeaderEpochFileCache` (assign, endOffsetFor, truncateFromEnd,
//! truncateFromStart) so that the edge cases behave the same. The cache is plain data: callers
//! persist it with [`LeaderEpochCache::persist`] after a change (each mutator returns whether it
//! changed anything) as `leader-epoch-checkpoint` in the partition directory, and rebuild it
//! from the batch headers of the log if that file is missing or damaged.

use std::path::{Path, PathBuf};

use brook_log::batch;
use brook_log::io::FileSystem;
use brook_log::{Log, LogError};

/// Kafka's `UNDEFINED_EPOCH`: no epoch is known.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's `UNDEFINED_EPOCH_OFFSET`: no end offset is known.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;
/// File name of the checkpoint inside the partition directory (SPEC §3.4).
pub const CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

/// How much `rebuild_from_log` reads per step. Reads return at least one whole batch, so a
/// batch larger than this is still seen; the value only bounds memory per step.
const REBUILD_READ_BYTES: usize = 1 << 20;

/// One leader epoch and the first offset written in it (on this replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The offset of the first record of that epoch in this replica's log.
    pub start_offset: i64,
}

/// Epoch → start offset, both strictly increasing from one entry to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    /// The entries, oldest epoch first (E4). Change them only through the mutators, which
    /// keep both columns strictly increasing.
    pub entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// An empty cache (a new, empty log).
    pub fn new() -> Self {
        Self::default()
    }

    /// Path of the checkpoint file for the partition directory `dir`.
    pub fn checkpoint_path(dir: &Path) -> PathBuf {
        dir.join(CHECKPOINT_FILE)
    }

    /// Records that `epoch` starts at `start_offset` (LeaderEpochFileCache.assign). Called for
    /// every appended batch (leader or follower) and by a new leader with its LEO at election
    /// (E3). Returns true if the cache changed (the caller then persists it).
    ///
    /// - The latest epoch seen again with a start offset at or above its recorded one is a
    ///   no-op: that is every batch after the first of an epoch.
    /// - Otherwise every entry that would break monotonicity with the new one (epoch ≥ new
    ///   epoch, or start offset ≥ new start offset) is removed from the end before it is added.
    ///   A new leader whose LEO is at or below the start of epochs it never saw thus drops them.
    /// - Negative epochs or offsets (`-1` = unstamped batch) are ignored: Kafka throws there, but
    ///   the values can come from disk or the wire, and ignoring them keeps the cache valid.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            return false;
        }
        if self
            .entries
            .last()
            .is_some_and(|last| last.epoch == epoch && start_offset >= last.start_offset)
        {
            return false;
        }
        // Entries are monotonic, so the conflicting ones are exactly a suffix.
        while let Some(last) = self.entries.last() {
            if last.epoch >= epoch || last.start_offset >= start_offset {
                self.entries.pop();
            } else {
                break;
            }
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// The newest epoch in the cache; `None` when it is empty.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// The newest entry; `None` when the cache is empty.
    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// The oldest entry; `None` when the cache is empty.
    pub fn earliest_entry(&self) -> Option<EpochEntry> {
        self.entries.first().copied()
    }

    /// Whether the cache has no entry (an empty log, or one with only unstamped batches).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The epoch the record at `offset` was written in: the last entry starting at or before it.
    /// `None` if `offset` lies before every entry.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        self.entries
            .iter()
            .take_while(|e| e.start_offset <= offset)
            .last()
            .map(|e| e.epoch)
    }

    /// The start offset recorded for exactly `epoch`.
    pub fn start_offset_of(&self, epoch: i32) -> Option<i64> {
        self.entries
            .iter()
            .find(|e| e.epoch == epoch)
            .map(|e| e.start_offset)
    }

    /// Rule E5 (LeaderEpochFileCache.endOffsetFor): the end offset of `requested_epoch` in this
    /// log, paired with the epoch the answer is really about.
    ///
    /// - undefined (negative) request → `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`;
    /// - the latest epoch → `(requested, log_end_offset)`: it is still being written;
    /// - otherwise the start of the smallest epoch above the request is the end offset, paired
    ///   with the largest epoch ≤ the request, or with the request itself when every known epoch
    ///   is larger (the data before the first entry is gone; replicate from its start);
    /// - larger than every known epoch (or an empty cache) → undefined.
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> (i32, i64) {
        const UNDEFINED: (i32, i64) = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested_epoch < 0 {
            return UNDEFINED;
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return (requested_epoch, log_end_offset);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested_epoch) else {
            return UNDEFINED;
        };
        let floor = self
            .entries
            .iter()
            .take_while(|e| e.epoch <= requested_epoch)
            .last();
        match floor {
            Some(f) => (f.epoch, higher.start_offset),
            None => (requested_epoch, higher.start_offset),
        }
    }

    /// The log was truncated so that `end_offset` is its new LEO: entries starting at or after
    /// it describe records that no longer exist (LeaderEpochFileCache.truncateFromEnd).
    /// Returns true if anything was removed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        if end_offset < 0 {
            return false;
        }
        let before = self.entries.len();
        while self
            .entries
            .last()
            .is_some_and(|e| e.start_offset >= end_offset)
        {
            self.entries.pop();
        }
        self.entries.len() != before
    }

    /// The log start moved up to `start_offset` (retention, truncate-fully): entries starting at
    /// or below it are dropped, and the last of them comes back starting at `start_offset`, since
    /// the first remaining record still belongs to that epoch
    /// (LeaderEpochFileCache.truncateFromStart). Returns true if the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let covered = self
            .entries
            .iter()
            .take_while(|e| e.start_offset <= start_offset)
            .count();
        let Some(last_covered) = covered
            .checked_sub(1)
            .and_then(|i| self.entries.get(i).copied())
        else {
            return false;
        };
        if covered == 1 && last_covered.start_offset == start_offset {
            return false;
        }
        self.entries.drain(..covered);
        self.entries.insert(
            0,
            EpochEntry {
                epoch: last_covered.epoch,
                start_offset,
            },
        );
        true
    }

    /// Drops every entry (the log was deleted and restarted).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Reads `leader-epoch-checkpoint` from the partition directory. `Ok(None)` if there is none;
    /// `Err` if it is damaged (bad CRC, bad key, entries not strictly increasing): the caller
    /// then rebuilds the cache from the log rather than trusting it.
    pub fn load(dir: &Path) -> brook_log::Result<Option<LeaderEpochCache>> {
        let path = Self::checkpoint_path(dir);
        let Some(raw) = brook_log::checkpoint::read(&path)? else {
            return Ok(None);
        };
        let damaged = |why: String| {
            LogError::KafkaStorageError(format!("checkpoint {}: {why}", path.display()))
        };
        let mut cache = LeaderEpochCache::new();
        for (key, start_offset) in raw {
            let epoch: i32 = key
                .parse()
                .map_err(|_| damaged(format!("epoch {key:?} is not a number")))?;
            // A well-formed file is strictly increasing; anything else was not written by
            // `persist`, so it is not trusted (assign would silently "repair" it).
            let ok = epoch >= 0
                && start_offset >= 0
                && cache
                    .latest_entry()
                    .is_none_or(|l| epoch > l.epoch && start_offset > l.start_offset);
            if !ok {
                return Err(damaged(format!(
                    "entry {epoch} {start_offset} breaks monotonicity"
                )));
            }
            cache.entries.push(EpochEntry {
                epoch,
                start_offset,
            });
        }
        Ok(Some(cache))
    }

    /// Writes the cache atomically as `leader-epoch-checkpoint` in the partition directory.
    pub fn persist(&self, fs: &dyn FileSystem, dir: &Path) -> brook_log::Result<()> {
        let entries: Vec<(i32, i64)> = self
            .entries
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect();
        brook_log::checkpoint::write(fs, &Self::checkpoint_path(dir), &entries)
    }

    /// Rebuilds the cache from the batch headers of `log` (each batch carries the epoch it was
    /// written in): one entry per epoch change, then trimmed to the log start. Used when the
    /// checkpoint is missing or damaged. Fails only if the log cannot be read.
    pub fn rebuild_from_log(log: &Log) -> brook_log::Result<LeaderEpochCache> {
        let mut cache = LeaderEpochCache::new();
        let log_start = log.log_start_offset();
        let leo = log.log_end_offset();
        let mut offset = log_start;
        while offset < leo {
            let bytes = log.read(offset, REBUILD_READ_BYTES)?;
            let mut next = offset;
            for item in batch::batches(&bytes) {
                let (_, h) = item?;
                cache.assign(h.partition_leader_epoch, h.base_offset);
                next = next.max(h.next_offset());
            }
            if next <= offset {
                // No progress (empty read below the LEO): stop rather than spin; what was seen
                // so far is still a valid, if incomplete, cache.
                tracing::warn!(
                    dir = %log.dir().display(),
                    offset,
                    leo,
                    "leader epoch rebuild stopped early: empty read below the log end"
                );
                break;
            }
            offset = next;
        }
        // The first batch read may start before the log start (reads return whole batches).
        cache.truncate_from_start(log_start);
        Ok(cache)
    }

    /// Startup helper: the checkpoint if it is present and readable, else a rebuild from the
    /// log; in both cases clamped to the log's current range, because recovery may have
    /// truncated the log after the checkpoint was written. Returns the cache and whether it
    /// differs from what is on disk (the caller should persist it then).
    pub fn load_or_rebuild(log: &Log) -> brook_log::Result<(LeaderEpochCache, bool)> {
        let (mut cache, mut dirty) = match Self::load(log.dir()) {
            Ok(Some(cache)) => (cache, false),
            Ok(None) => (Self::rebuild_from_log(log)?, true),
            Err(e) => {
                tracing::warn!(dir = %log.dir().display(), error = %e,
                    "leader epoch checkpoint damaged; rebuilding from the log");
                (Self::rebuild_from_log(log)?, true)
            }
        };
        dirty |= cache.truncate_from_end(log.log_end_offset());
        dirty |= cache.truncate_from_start(log.log_start_offset());
        Ok((cache, dirty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_log::io::OsFileSystem;
    use brook_log::record::BatchBuilder;
    use brook_log::{LogOptions, Shutdown};

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache {
            entries: entries
                .iter()
                .map(|&(epoch, start_offset)| EpochEntry {
                    epoch,
                    start_offset,
                })
                .collect(),
        }
    }

    fn pairs(c: &LeaderEpochCache) -> Vec<(i32, i64)> {
        c.entries
            .iter()
            .map(|e| (e.epoch, e.start_offset))
            .collect()
    }

    #[test]
    fn assign_appends_new_epochs_and_ignores_repeats() {
        let mut c = LeaderEpochCache::new();
        assert!(c.assign(0, 0));
        assert!(
            !c.assign(0, 5),
            "later batches of the same epoch change nothing"
        );
        assert!(c.assign(2, 10));
        assert!(!c.assign(2, 10));
        assert!(!c.assign(-1, 20), "unstamped batches are ignored");
        assert!(!c.assign(3, -1));
        assert_eq!(pairs(&c), vec![(0, 0), (2, 10)]);
        assert_eq!(c.latest_epoch(), Some(2));
    }

    #[test]
    fn assign_removes_conflicting_entries_like_kafka() {
        // A new epoch starting at or below a later entry's start removes that entry.
        let mut c = cache(&[(1, 0), (2, 10), (3, 20)]);
        assert!(c.assign(4, 15));
        assert_eq!(pairs(&c), vec![(1, 0), (2, 10), (4, 15)]);
        // Same start offset as the latest entry: it is replaced by the newer epoch.
        assert!(c.assign(5, 15));
        assert_eq!(pairs(&c), vec![(1, 0), (2, 10), (5, 15)]);
        // The latest epoch again with a smaller start: moved down, entries above dropped.
        assert!(c.assign(5, 8));
        assert_eq!(pairs(&c), vec![(1, 0), (5, 8)]);
        // An older epoch: everything with epoch ≥ it goes (Kafka does the same).
        assert!(c.assign(3, 9));
        assert_eq!(pairs(&c), vec![(1, 0), (3, 9)]);
        // An older epoch whose start is at or below an earlier entry's start removes that too.
        assert!(c.assign(2, 0));
        assert_eq!(pairs(&c), vec![(2, 0)]);
    }

    #[test]
    fn epoch_for_offset_finds_the_floor_entry() {
        let c = cache(&[(1, 5), (3, 10), (4, 20)]);
        assert_eq!(c.epoch_for_offset(0), None);
        assert_eq!(c.epoch_for_offset(5), Some(1));
        assert_eq!(c.epoch_for_offset(9), Some(1));
        assert_eq!(c.epoch_for_offset(10), Some(3));
        assert_eq!(c.epoch_for_offset(19), Some(3));
        assert_eq!(c.epoch_for_offset(1000), Some(4));
        assert_eq!(LeaderEpochCache::new().epoch_for_offset(0), None);
    }

    #[test]
    fn end_offset_for_follows_e5() {
        let c = cache(&[(1, 0), (3, 10), (4, 20)]);
        let leo = 25;
        // The latest epoch: still being written, answer the LEO.
        assert_eq!(c.end_offset_for(4, leo), (4, 25));
        // A known earlier epoch: the start of the next one.
        assert_eq!(c.end_offset_for(1, leo), (1, 10));
        assert_eq!(c.end_offset_for(3, leo), (3, 20));
        // An epoch this replica never had: paired with the largest epoch below it.
        assert_eq!(c.end_offset_for(2, leo), (1, 10));
        // Smaller than every known epoch: the request itself, ending at the first entry.
        assert_eq!(c.end_offset_for(0, leo), (0, 0));
        // Larger than every known epoch, or undefined.
        assert_eq!(c.end_offset_for(5, leo), (-1, -1));
        assert_eq!(c.end_offset_for(UNDEFINED_EPOCH, leo), (-1, -1));
        assert_eq!(LeaderEpochCache::new().end_offset_for(0, 0), (-1, -1));
        // A new leader caches its epoch at its LEO before writing in it (E3): asking for the
        // previous epoch then ends exactly at that LEO.
        let mut l = cache(&[(0, 0)]);
        l.assign(1, 7);
        assert_eq!(l.end_offset_for(0, 7), (0, 7));
        assert_eq!(l.end_offset_for(1, 7), (1, 7));
    }

    #[test]
    fn truncate_from_end_drops_entries_at_or_above() {
        let mut c = cache(&[(1, 0), (3, 10), (4, 20)]);
        assert!(!c.truncate_from_end(21));
        assert!(c.truncate_from_end(20));
        assert_eq!(pairs(&c), vec![(1, 0), (3, 10)]);
        assert!(c.truncate_from_end(5));
        assert_eq!(pairs(&c), vec![(1, 0)]);
        assert!(!c.truncate_from_end(-1), "undefined offsets are ignored");
        assert!(c.truncate_from_end(0));
        assert!(c.is_empty());
    }

    #[test]
    fn truncate_from_start_keeps_the_epoch_of_the_first_record() {
        let mut c = cache(&[(1, 0), (3, 10), (4, 20)]);
        assert!(!c.truncate_from_start(0), "nothing below the first entry");
        assert!(c.truncate_from_start(12));
        assert_eq!(pairs(&c), vec![(3, 12), (4, 20)]);
        assert!(c.truncate_from_start(20));
        assert_eq!(pairs(&c), vec![(4, 20)]);
        assert!(!c.truncate_from_start(20));
        assert!(c.truncate_from_start(30));
        assert_eq!(pairs(&c), vec![(4, 30)]);
        let mut c = cache(&[(2, 5)]);
        assert!(!c.truncate_from_start(3), "start below the first entry");
        assert_eq!(pairs(&c), vec![(2, 5)]);
    }

    #[test]
    fn persist_and_load_round_trip_and_detect_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap(), None);
        let c = cache(&[(0, 0), (2, 10), (7, 35)]);
        c.persist(&OsFileSystem, dir.path()).unwrap();
        assert_eq!(LeaderEpochCache::load(dir.path()).unwrap(), Some(c.clone()));
        LeaderEpochCache::new()
            .persist(&OsFileSystem, dir.path())
            .unwrap();
        assert_eq!(
            LeaderEpochCache::load(dir.path()).unwrap(),
            Some(LeaderEpochCache::new())
        );

        // Bit rot: the CRC catches it.
        c.persist(&OsFileSystem, dir.path()).unwrap();
        let path = LeaderEpochCache::checkpoint_path(dir.path());
        let text = std::fs::read_to_string(&path).unwrap().replace("35", "36");
        std::fs::write(&path, text).unwrap();
        assert!(LeaderEpochCache::load(dir.path()).is_err());

        // A well-checksummed file with non-monotonic or non-numeric entries is not trusted.
        brook_log::checkpoint::write(&OsFileSystem, &path, &[("3", 10), ("2", 20)]).unwrap();
        assert!(LeaderEpochCache::load(dir.path()).is_err());
        brook_log::checkpoint::write(&OsFileSystem, &path, &[("x", 10)]).unwrap();
        assert!(LeaderEpochCache::load(dir.path()).is_err());
    }

    fn append(log: &mut Log, records: usize, epoch: i32) {
        let mut b = BatchBuilder::new();
        for i in 0..records {
            b.append(1_000 + i as i64, None, Some(b"v"), &[]);
        }
        log.append(&b.build(), epoch).unwrap();
    }

    #[test]
    fn rebuild_from_log_and_load_or_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let pdir = dir.path().join("t-0");
        let (mut log, _) = Log::open(&pdir, LogOptions::default(), Shutdown::Clean).unwrap();
        assert!(LeaderEpochCache::rebuild_from_log(&log).unwrap().is_empty());
        append(&mut log, 3, 0); // 0..3
        append(&mut log, 2, 0); // 3..5
        append(&mut log, 1, 2); // 5
        append(&mut log, 4, 2); // 6..10
        append(&mut log, 2, 5); // 10..12
        let expected = vec![(0, 0), (2, 5), (5, 10)];
        assert_eq!(
            pairs(&LeaderEpochCache::rebuild_from_log(&log).unwrap()),
            expected
        );

        // No checkpoint → rebuilt, and reported dirty so the caller persists it.
        let (c, dirty) = LeaderEpochCache::load_or_rebuild(&log).unwrap();
        assert_eq!(pairs(&c), expected);
        assert!(dirty);
        c.persist(&OsFileSystem, &pdir).unwrap();
        let (c2, dirty) = LeaderEpochCache::load_or_rebuild(&log).unwrap();
        assert_eq!(c2, c);
        assert!(!dirty);

        // A checkpoint that runs ahead of a log truncated by recovery is clamped.
        cache(&[(0, 0), (2, 5), (5, 10), (6, 40)])
            .persist(&OsFileSystem, &pdir)
            .unwrap();
        let (c3, dirty) = LeaderEpochCache::load_or_rebuild(&log).unwrap();
        assert_eq!(pairs(&c3), expected);
        assert!(dirty);

        // A damaged checkpoint → rebuilt from the log.
        let path = LeaderEpochCache::checkpoint_path(&pdir);
        std::fs::write(&path, "garbage").unwrap();
        let (c4, dirty) = LeaderEpochCache::load_or_rebuild(&log).unwrap();
        assert_eq!(pairs(&c4), expected);
        assert!(dirty);

        // After truncation the rebuild sees only what is left.
        log.truncate_to(6).unwrap();
        assert_eq!(
            pairs(&LeaderEpochCache::rebuild_from_log(&log).unwrap()),
            vec![(0, 0), (2, 5)]
        );
    }
}
