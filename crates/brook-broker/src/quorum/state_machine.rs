//! The metadata quorum's state machine (openraft's [`RaftStateMachine`]): committed entries are
//! applied to the [`Controller`], whose image is the replay of the metadata records, and the
//! committed metadata log is kept for brokers that pull it (`FetchMetadata`).
//!
//! Applying a [`MetadataCommand`] gives its records the next metadata offsets, but only if the
//! command was decided on exactly this image (`first_offset == image.next_offset`); otherwise it
//! is skipped, identically on every voter, and the leader's write reports it as not applied.
//!
//! A snapshot is the whole committed metadata log up to a Raft position, in the file
//! `quorum-snapshot`: a 4-byte big-endian length, openraft's `SnapshotMeta` as JSON, then the
//! records as a protobuf `MetadataSnapshot`. It is written atomically (temp file, fsync, rename)
//! and loaded on restart, after which openraft replays the entries above it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use brook_log::io::FileSystem;
use brook_proto::v1::{MetadataRecord, MetadataSnapshot};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, StorageError,
    StoredMembership,
};
use prost::Message;
use tokio::sync::watch;

use super::{CommandOutcome, MetadataCommand, NodeId, TypeConfig, storage_error};
use crate::controller::{Controller, ControllerConfig};

/// The snapshot file in the log directory.
pub const SNAPSHOT_FILE: &str = "quorum-snapshot";

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

/// A snapshot's metadata and its bytes (as in the file).
type StoredSnapshot = (SnapshotMeta<NodeId, BasicNode>, Vec<u8>);

/// What the applied metadata log amounts to. Shared with the controller host, which decides on
/// `controller` under the same lock.
#[derive(Debug)]
pub struct MetaState {
    /// The image (replay of `records`) and, on the active controller, the broker sessions.
    pub controller: Controller,
    /// The committed metadata log: `records[i].offset == i`.
    pub records: Vec<MetadataRecord>,
    /// The Raft log id of the last applied entry; `None` before the first.
    pub last_applied: Option<LogId<NodeId>>,
    /// The last membership (voter set) entry applied, as openraft stores it.
    pub membership: StoredMembership<NodeId, BasicNode>,
}

impl MetaState {
    fn empty(config: ControllerConfig) -> MetaState {
        MetaState {
            controller: Controller::new(config),
            records: Vec::new(),
            last_applied: None,
            membership: StoredMembership::default(),
        }
    }

    /// Applies one command; see the module doc for when it is skipped.
    fn apply_command(&mut self, cmd: &MetadataCommand) -> CommandOutcome {
        let next = self.controller.image().next_offset;
        if cmd.first_offset != next {
            tracing::warn!(
                decided_at = cmd.first_offset,
                log_end = next,
                "skipping a metadata entry decided on an older image"
            );
            return CommandOutcome {
                applied: false,
                next_offset: next,
            };
        }
        let mut decoded = Vec::with_capacity(cmd.records.len());
        for (bytes, offset) in cmd.records.iter().zip(next..) {
            match MetadataRecord::decode(bytes.as_slice()) {
                Ok(mut r) => {
                    r.offset = offset;
                    decoded.push(r);
                }
                Err(e) => {
                    // Only a bug writes such an entry; skipping it whole keeps voters identical.
                    tracing::error!(offset, "skipping an undecodable metadata entry: {e}");
                    return CommandOutcome {
                        applied: false,
                        next_offset: next,
                    };
                }
            }
        }
        for r in decoded {
            self.controller.replay(&r);
            self.records.push(r);
        }
        CommandOutcome {
            applied: true,
            next_offset: self.controller.image().next_offset,
        }
    }
}

/// The state machine handle given to openraft (cloning shares it).
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<Mutex<MetaState>>,
    config: ControllerConfig,
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    /// The metadata log end, for long polls.
    end: watch::Sender<i64>,
    /// Bytes of the current snapshot (as in the file).
    current: Mutex<Option<StoredSnapshot>>,
    /// Snapshots received from a leader and installed (for learners and tests).
    installed: Arc<AtomicU64>,
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachine")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl StateMachine {
    /// Loads the snapshot in `dir`, if any; openraft replays committed entries above it.
    pub fn open(
        config: ControllerConfig,
        fs: Arc<dyn FileSystem>,
        dir: &Path,
    ) -> Result<StateMachine> {
        let path = dir.join(SNAPSHOT_FILE);
        let mut state = MetaState::empty(config.clone());
        let mut current = None;
        if let Some(bytes) = read_file(fs.as_ref(), &path)? {
            let (meta, records) = decode_snapshot(&bytes)?;
            state = restored(&config, &meta, records);
            current = Some((meta, bytes));
        }
        let end = watch::Sender::new(state.controller.image().next_offset);
        Ok(StateMachine {
            inner: Arc::new(Inner {
                state: Arc::new(Mutex::new(state)),
                config,
                fs,
                path,
                end,
                current: Mutex::new(current),
                installed: Arc::default(),
            }),
        })
    }

    /// The state the controller host decides on.
    pub fn shared(&self) -> Arc<Mutex<MetaState>> {
        self.inner.state.clone()
    }

    /// How many snapshots this voter installed from a leader (shared counter).
    pub fn installed(&self) -> Arc<AtomicU64> {
        self.inner.installed.clone()
    }

    /// The applied metadata log end, watchable.
    pub fn end(&self) -> watch::Receiver<i64> {
        self.inner.end.subscribe()
    }

    fn state(&self) -> MutexGuard<'_, MetaState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> MutexGuard<'_, Option<StoredSnapshot>> {
        self.inner.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish_end(&self) {
        let end = self.state().controller.image().next_offset;
        self.inner.end.send_replace(end);
    }

    fn save(&self, meta: &SnapshotMeta<NodeId, BasicNode>, bytes: &[u8]) -> Result<()> {
        let sig = Some(meta.signature());
        let err = |e: std::io::Error| {
            StorageError::from(openraft::StorageIOError::write_snapshot(sig.clone(), &e))
        };
        let tmp = self.inner.path.with_extension("tmp");
        let fs = self.inner.fs.as_ref();
        fs.write_file_synced(&tmp, bytes).map_err(err)?;
        fs.rename(&tmp, &self.inner.path).map_err(err)?;
        if let Some(dir) = self.inner.path.parent() {
            fs.sync_dir(dir).map_err(err)?;
        }
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        let (meta, bytes) = {
            let st = self.state();
            let id = st.last_applied.map_or("none".to_string(), |l| {
                format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index)
            });
            let meta = SnapshotMeta {
                last_log_id: st.last_applied,
                last_membership: st.membership.clone(),
                snapshot_id: format!("{id}-{}", brook_log::clock::unix_now_ms()),
            };
            let bytes = encode_snapshot(&meta, &st.records)?;
            (meta, bytes)
        };
        let me = self.clone();
        let (m, b) = (meta.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || me.save(&m, &b))
            .await
            .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))??;
        *self.current() = Some((meta.clone(), bytes.clone()));
        tracing::debug!(snapshot = %meta.snapshot_id, "metadata snapshot written");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let st = self.state();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandOutcome>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        {
            let mut st = self.state();
            for entry in entries {
                st.last_applied = Some(entry.log_id);
                let outcome = match &entry.payload {
                    EntryPayload::Blank => CommandOutcome {
                        applied: false,
                        next_offset: st.controller.image().next_offset,
                    },
                    EntryPayload::Normal(cmd) => st.apply_command(cmd),
                    EntryPayload::Membership(m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                        CommandOutcome {
                            applied: false,
                            next_offset: st.controller.image().next_offset,
                        }
                    }
                };
                out.push(outcome);
            }
        }
        self.publish_end();
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let bytes = snapshot.into_inner();
        let (_, records) = decode_snapshot(&bytes)?;
        let me = self.clone();
        let (m, b) = (meta.clone(), bytes.clone());
        tokio::task::spawn_blocking(move || me.save(&m, &b))
            .await
            .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))??;
        *self.state() = restored(&self.inner.config, meta, records);
        *self.current() = Some((meta.clone(), bytes));
        self.publish_end();
        self.inner.installed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(snapshot = %meta.snapshot_id, "installed a metadata snapshot from the leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        Ok(self.current().clone().map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

/// The state a snapshot describes.
fn restored(
    config: &ControllerConfig,
    meta: &SnapshotMeta<NodeId, BasicNode>,
    records: Vec<MetadataRecord>,
) -> MetaState {
    MetaState {
        controller: Controller::from_records(config.clone(), records.iter()),
        records,
        last_applied: meta.last_log_id,
        membership: meta.last_membership.clone(),
    }
}

fn encode_snapshot(
    meta: &SnapshotMeta<NodeId, BasicNode>,
    records: &[MetadataRecord],
) -> Result<Vec<u8>> {
    let header = serde_json::to_vec(meta)
        .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
    let len = u32::try_from(header.len())
        .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Write, e))?;
    let body = MetadataSnapshot {
        records: records.to_vec(),
    }
    .encode_to_vec();
    let mut out = Vec::with_capacity(4 + header.len() + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&body);
    Ok(out)
}

fn decode_snapshot(bytes: &[u8]) -> Result<(SnapshotMeta<NodeId, BasicNode>, Vec<MetadataRecord>)> {
    let bad = |why: String| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, why);
    let len = bytes
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| bad("metadata snapshot shorter than its header".into()))?
        as usize;
    let header = bytes
        .get(4..4 + len)
        .ok_or_else(|| bad("metadata snapshot header truncated".into()))?;
    let meta: SnapshotMeta<NodeId, BasicNode> = serde_json::from_slice(header)
        .map_err(|e| bad(format!("metadata snapshot header: {e}")))?;
    let body = bytes.get(4 + len..).unwrap_or_default();
    let records = MetadataSnapshot::decode(body)
        .map_err(|e| bad(format!("metadata snapshot body: {e}")))?
        .records;
    if records.iter().zip(0..).any(|(r, i)| r.offset != i) {
        return Err(bad(
            "metadata snapshot records are not contiguous from offset 0".into(),
        ));
    }
    Ok((meta, records))
}

/// A whole file through the I/O seam; `None` if it does not exist.
fn read_file(fs: &dyn FileSystem, path: &Path) -> Result<Option<Vec<u8>>> {
    if !path.exists() {
        return Ok(None);
    }
    let err = |e: std::io::Error| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e);
    let file = fs.open(path).map_err(err)?;
    let len = usize::try_from(file.len())
        .map_err(|e| storage_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, 0).map_err(err)?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_proto::v1::RegisterBrokerRecord;
    use brook_proto::v1::metadata_record::Record;

    fn register(node_id: i32) -> Vec<u8> {
        MetadataRecord {
            offset: 0,
            record: Some(Record::RegisterBroker(RegisterBrokerRecord {
                node_id,
                broker_epoch: 0,
                incarnation_id: "i".into(),
                host: "h".into(),
                port: 1,
                rack: String::new(),
            })),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_command_decided_on_another_image_is_skipped_and_changes_nothing() {
        let mut st = MetaState::empty(ControllerConfig::default());
        let first = MetadataCommand {
            first_offset: 0,
            records: vec![register(1), register(2)],
        };
        assert_eq!(
            st.apply_command(&first),
            CommandOutcome {
                applied: true,
                next_offset: 2
            }
        );
        // Decided when the log ended at 1 (a deposed leader's leftover): skipped.
        let stale = MetadataCommand {
            first_offset: 1,
            records: vec![register(3)],
        };
        assert!(!st.apply_command(&stale).applied);
        assert_eq!(st.controller.image().next_offset, 2);
        assert!(!st.controller.image().brokers.contains_key(&3));
        // The records got the offsets of the log, not of the command's encoding.
        assert_eq!(
            st.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [0, 1]
        );
        let undecodable = MetadataCommand {
            first_offset: 2,
            records: vec![register(4), vec![0xff, 0xff]],
        };
        assert!(!st.apply_command(&undecodable).applied);
        assert_eq!(st.records.len(), 2, "an undecodable entry is skipped whole");
    }

    #[test]
    fn snapshots_round_trip_and_damaged_ones_are_refused() {
        let mut st = MetaState::empty(ControllerConfig::default());
        st.apply_command(&MetadataCommand {
            first_offset: 0,
            records: vec![register(1)],
        });
        let meta = SnapshotMeta {
            last_log_id: None,
            last_membership: StoredMembership::default(),
            snapshot_id: "s".into(),
        };
        let bytes = encode_snapshot(&meta, &st.records).unwrap();
        let (back, records) = decode_snapshot(&bytes).unwrap();
        assert_eq!(back, meta);
        assert_eq!(records, st.records);
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert!(
                decode_snapshot(&bytes[..cut]).is_err(),
                "a snapshot cut at {cut} was accepted"
            );
        }
        let mut bad = bytes.clone();
        bad[5] ^= 0xff;
        assert!(decode_snapshot(&bad).is_err());
    }
}
