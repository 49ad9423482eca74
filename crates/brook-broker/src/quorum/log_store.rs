//! The Raft log of the metadata quorum, on disk (openraft's [`RaftLogStorage`]).
//!
//! Entries are kept by brook-log in the `__cluster_metadata-0` log of the broker's log directory:
//! one entry per record batch, so that truncating to any entry is exact (brook-log truncates whole
//! batches). The batch's base offset *is* the Raft index and its partition leader epoch the Raft
//! term, as in KRaft; the record's value is the entry in openraft's serde JSON form. Every append
//! is fsynced before openraft is told it is durable: an entry counts towards a majority only once
//! it is on disk.
//!
//! Beside it, a checkpoint file `quorum-state` (brook-log's atomic, checksummed format) holds the
//! vote, the purge point and the last committed log id (as of the last vote or purge write; it
//! only speeds up re-applying after a restart):
//! ```text
//! vote.term 3 / vote.node 1 / vote.committed 1 / committed.term 3 / committed.node 1 /
//! committed.index 41 / purged.term 2 / purged.node 2 / purged.index 20      (-1 = none)
//! ```
//! Purging (after a snapshot) is logical first (entries at or below the purge point are never
//! returned again) and physical as whole segments fall below it.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use brook_log::io::FileSystem;
use brook_log::record::{BatchBuilder, decode_records};
use brook_log::{SharedLog, batch, checkpoint, lock};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{
    CommittedLeaderId, Entry, ErrorSubject, ErrorVerb, LogId, OptionalSend, StorageError, Vote,
};

use super::{NodeId, TypeConfig, storage_error};

/// The checkpoint file beside the metadata log.
pub const STATE_FILE: &str = "quorum-state";

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

/// What `quorum-state` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct HardState {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    purged: Option<LogId<NodeId>>,
}

/// The metadata quorum's Raft log. Cloning shares it (openraft's log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    log: SharedLog,
    fs: Arc<dyn FileSystem>,
    state_path: PathBuf,
    state: Mutex<HardState>,
    /// The id of the last entry in the log (not counting the purge point).
    last: Mutex<Option<LogId<NodeId>>>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("state", &*self.state())
            .finish()
    }
}

impl LogStore {
    /// Opens the store over `log` (already recovered by brook-log), with its checkpoint in `dir`.
    pub fn open(log: SharedLog, fs: Arc<dyn FileSystem>, dir: &Path) -> Result<LogStore> {
        let state_path = dir.join(STATE_FILE);
        let state = read_state(&state_path)?;
        let store = LogStore {
            inner: Arc::new(Inner {
                log,
                fs,
                state_path,
                state: Mutex::new(state),
                last: Mutex::new(None),
            }),
        };
        let leo = lock(&store.inner.log).log_end_offset();
        let last = store.entry_before(u64::try_from(leo).unwrap_or(0))?;
        *store.last() = last;
        Ok(store)
    }

    fn state(&self) -> MutexGuard<'_, HardState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn last(&self) -> MutexGuard<'_, Option<LogId<NodeId>>> {
        self.inner.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The log id of the entry just below `index`, if the log still holds one.
    fn entry_before(&self, index: u64) -> Result<Option<LogId<NodeId>>> {
        let Some(prev) = index.checked_sub(1) else {
            return Ok(None);
        };
        Ok(self
            .read_range(prev, index)?
            .pop()
            .map(|e: Entry<TypeConfig>| e.log_id))
    }

    fn persist(&self, state: &HardState) -> Result<()> {
        let entries = state_entries(state);
        checkpoint::write(self.inner.fs.as_ref(), &self.inner.state_path, &entries)
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    /// Entries with `start <= index < end` that are above the purge point.
    fn read_range(&self, start: u64, end: u64) -> Result<Vec<Entry<TypeConfig>>> {
        let purged = self.state().purged.map(|p| p.index);
        let start = match purged {
            Some(p) => start.max(p + 1),
            None => start,
        };
        let mut out = Vec::new();
        let mut offset = i64::try_from(start).unwrap_or(i64::MAX);
        let end = i64::try_from(end).unwrap_or(i64::MAX);
        let read_err =
            |e: &dyn std::fmt::Display| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e);
        while offset < end {
            let chunk = {
                let l = lock(&self.inner.log);
                if offset >= l.log_end_offset() {
                    break;
                }
                offset = offset.max(l.log_start_offset());
                l.read(offset, 1 << 20).map_err(|e| read_err(&e))?
            };
            if chunk.is_empty() {
                break;
            }
            for item in batch::batches(&chunk) {
                let (pos, h) = item.map_err(|e| read_err(&e))?;
                let records =
                    decode_records(&chunk.slice(pos..pos + h.size())).map_err(|e| read_err(&e))?;
                for r in records {
                    if r.offset < offset || r.offset >= end {
                        continue;
                    }
                    let value = r.value.unwrap_or_default();
                    let entry: Entry<TypeConfig> = serde_json::from_slice(&value).map_err(|e| {
                        read_err(&format!(
                            "metadata log entry at offset {} is not a quorum entry ({e}); a data \
                             directory from before the controller quorum must be recreated",
                            r.offset
                        ))
                    })?;
                    out.push(entry);
                }
                offset = h.next_offset();
            }
        }
        Ok(out)
    }

    /// Appends entries (each its own batch) and fsyncs them. Blocking.
    fn append_blocking(&self, entries: Vec<Entry<TypeConfig>>) -> Result<()> {
        let write_err =
            |e: &dyn std::fmt::Display| storage_error(ErrorSubject::Logs, ErrorVerb::Write, e);
        let Some(last) = entries.last().map(|e| e.log_id) else {
            return Ok(());
        };
        let mut log = lock(&self.inner.log);
        for entry in &entries {
            let index = i64::try_from(entry.log_id.index).map_err(|e| write_err(&e))?;
            let leo = log.log_end_offset();
            if index > leo {
                // Appending after a purge point beyond our end (a snapshot was installed).
                log.truncate_fully_and_start_at(index)
                    .map_err(|e| write_err(&e))?;
            } else if index < leo {
                log.truncate_to(index).map_err(|e| write_err(&e))?;
            }
            let term = i32::try_from(entry.log_id.leader_id.term).map_err(|e| write_err(&e))?;
            let value = serde_json::to_vec(entry).map_err(|e| write_err(&e))?;
            let mut b = BatchBuilder::new();
            b.append(brook_log::clock::unix_now_ms(), None, Some(&value), &[]);
            log.append(&b.build(), term).map_err(|e| write_err(&e))?;
        }
        log.flush().map_err(|e| write_err(&e))?;
        drop(log);
        *self.last() = Some(last);
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e.saturating_add(1),
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        };
        self.read_range(start, end)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>> {
        let purged = self.state().purged;
        let last = (*self.last()).max(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        let mut next = self.state().clone();
        next.vote = Some(*vote);
        let me = self.clone();
        let saved = next.clone();
        tokio::task::spawn_blocking(move || me.persist(&saved))
            .await
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e))??;
        *self.state() = next;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>> {
        Ok(self.state().vote)
    }

    /// Kept in memory and written with the next vote or purge (both fsync the whole state):
    /// openraft treats the committed id read back after a restart as a hint it may find stale,
    /// and re-learns the rest from the leader. Three fsyncs per commit would be the price
    /// otherwise.
    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<()> {
        self.state().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>> {
        Ok(self.state().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let me = self.clone();
        let r = tokio::task::spawn_blocking(move || me.append_blocking(entries))
            .await
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        match r {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let index = i64::try_from(log_id.index).unwrap_or(i64::MAX);
            lock(&me.inner.log)
                .truncate_to(index)
                .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
            let last = me.entry_before(log_id.index)?;
            *me.last() = last;
            Ok(())
        })
        .await
        .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let mut next = self.state().clone();
        if next.purged >= Some(log_id) {
            return Ok(());
        }
        next.purged = Some(log_id);
        let me = self.clone();
        let saved = next.clone();
        tokio::task::spawn_blocking(move || {
            me.persist(&saved)?;
            // Whole segments entirely at or below the purge point go (the metadata log's config
            // has retention.bytes 0, so everything below the bound may be deleted).
            let bound = i64::try_from(log_id.index.saturating_add(1)).unwrap_or(i64::MAX);
            lock(&me.inner.log)
                .delete_old_segments(bound)
                .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
            Ok::<_, StorageError<NodeId>>(())
        })
        .await
        .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))??;
        *self.state() = next;
        if self.last().is_some_and(|l| l.index <= log_id.index) {
            *self.last() = None;
        }
        Ok(())
    }
}

/// The brook-log settings of the metadata log: small segments, so purged entries really go.
pub fn metadata_log_config() -> brook_log::LogConfig {
    brook_log::LogConfig {
        segment_bytes: 8 << 20,
        segment_index_bytes: 1 << 20,
        retention_ms: None,
        retention_bytes: Some(0),
        ..brook_log::LogConfig::default()
    }
}

fn log_id_entries(prefix: &str, id: Option<LogId<NodeId>>) -> [(String, i64); 3] {
    let (term, node, index) = id.map_or((-1, -1, -1), |l| {
        (
            to_i64(l.leader_id.term),
            to_i64(l.leader_id.node_id),
            to_i64(l.index),
        )
    });
    [
        (format!("{prefix}.term"), term),
        (format!("{prefix}.node"), node),
        (format!("{prefix}.index"), index),
    ]
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn state_entries(s: &HardState) -> Vec<(String, i64)> {
    let (term, node, committed) = s.vote.map_or((-1, -1, 0), |v| {
        (
            to_i64(v.leader_id.term),
            to_i64(v.leader_id.node_id),
            i64::from(v.committed),
        )
    });
    let mut out = vec![
        ("vote.term".to_string(), term),
        ("vote.node".to_string(), node),
        ("vote.committed".to_string(), committed),
    ];
    out.extend(log_id_entries("committed", s.committed));
    out.extend(log_id_entries("purged", s.purged));
    out
}

fn read_state(path: &Path) -> Result<HardState> {
    let entries = checkpoint::read(path)
        .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Read, e))?
        .unwrap_or_default();
    let get = |k: &str| {
        entries
            .iter()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| u64::try_from(*v).ok())
    };
    let log_id = |prefix: &str| {
        Some(LogId::new(
            CommittedLeaderId::new(
                get(&format!("{prefix}.term"))?,
                get(&format!("{prefix}.node"))?,
            ),
            get(&format!("{prefix}.index"))?,
        ))
    };
    let vote = match (get("vote.term"), get("vote.node")) {
        (Some(term), Some(node)) => {
            let mut v = Vote::new(term, node);
            if get("vote.committed") == Some(1) {
                v.commit();
            }
            Some(v)
        }
        _ => None,
    };
    Ok(HardState {
        vote,
        committed: log_id("committed"),
        purged: log_id("purged"),
    })
}
