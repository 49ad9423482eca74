//! The controller quorum: the metadata log replicated by Raft (openraft) across the voters of
//! `controller.quorum.voters`, so that no single broker is a point of failure (SPEC §5, seed §7.2).
//!
//! ```text
//!   active controller (Raft leader)            other voters (followers)
//!   ┌───────────────────────────┐  AppendEntries  ┌──────────────────────────┐
//!   │ ControllerHost::decide    │ ──────────────▶ │ log_store: fsync entry   │
//!   │ raft.client_write_ff(cmd) │ ◀────────────── │ (ack)                    │
//!   │ majority fsynced = commit │                 │                          │
//!   │ state_machine::apply      │                 │ state_machine::apply     │
//!   │   → records get offsets   │                 │   → the same offsets     │
//!   └───────────────────────────┘                 └──────────────────────────┘
//! ```
//!
//! What lives where:
//! - [`log_store`]: the Raft log on disk, kept by brook-log in `__cluster_metadata-0` (one Raft
//!   entry per record batch; Kafka offset = Raft index, batch leader epoch = Raft term), plus the
//!   vote, the committed position and the purge point in a checksummed checkpoint file.
//! - [`state_machine`]: applies committed entries to the [`Controller`](crate::controller::Controller)
//!   (the replay of the metadata records) and snapshots the committed metadata log.
//! - [`network`]: the Raft RPCs over Brook's gRPC listener and connection layer (`Quorum`
//!   service), so `isolate` and `partition` cut them like any other traffic.
//! - [`check_quorum`]: a leader that hears from no majority within its lease resigns (KRaft's
//!   check-quorum), so a slow or half-cut active controller is replaced.
//! - `controller/host.rs` drives it: only the Raft leader decides, every decision is one entry.
//!
//! One entry carries the records of one controller decision ([`MetadataCommand`]) and the
//! metadata offset its first record must get. An entry decided on an image that is no longer the
//! applied one (a deposed leader's, say) is skipped by every voter alike, so decisions never
//! interleave, whatever Raft commits in the end.

// openraft's storage traits fix the error type (`StorageError`, a large enum); boxing it
// would only add conversions at every trait boundary.
pub mod check_quorum;
#[allow(clippy::result_large_err)]
pub mod log_store;
pub mod network;
#[allow(clippy::result_large_err)]
pub mod state_machine;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// Raft node ids are `u64` in openraft; Brook's node ids are the same numbers (`node.id`).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// openraft's type configuration for Brook's metadata quorum.
    pub TypeConfig:
        D = MetadataCommand,
        R = CommandOutcome,
        NodeId = NodeId,
        Node = openraft::BasicNode,
);

/// The openraft handle of this voter.
pub type Raft = openraft::Raft<TypeConfig>;

/// One controller decision: the records to append, encoded as protobuf `MetadataRecord`s
/// (without offsets), and the metadata offset the first of them must get.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataCommand {
    /// `image.next_offset` when the decision was made.
    pub first_offset: i64,
    /// Each record's protobuf encoding, hex in the serde form.
    #[serde(with = "hex_list")]
    pub records: Vec<Vec<u8>>,
}

impl fmt::Debug for MetadataCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MetadataCommand(first_offset={}, records={})",
            self.first_offset,
            self.records.len()
        )
    }
}

impl fmt::Display for MetadataCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What applying an entry did (returned to the leader's `client_write_ff`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOutcome {
    /// False when the entry was decided on a stale image and skipped (or was not a command).
    pub applied: bool,
    /// The metadata log end after the entry.
    pub next_offset: i64,
}

/// The parsed `controller.quorum.voters`: node id → `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voters(pub BTreeMap<NodeId, String>);

impl Voters {
    /// From the config's `(id, address)` pairs (ids are validated non-negative there).
    pub fn new(pairs: &[(i32, String)]) -> Voters {
        Voters(
            pairs
                .iter()
                .map(|(id, addr)| (u64::try_from(*id).unwrap_or_default(), addr.clone()))
                .collect(),
        )
    }

    /// The canonical text form (`1@h:p,2@h:p`, ascending ids): equal voter sets give equal text.
    pub fn fingerprint(&self) -> String {
        self.0
            .iter()
            .map(|(id, addr)| format!("{id}@{addr}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The voters' node ids.
    pub fn ids(&self) -> BTreeSet<NodeId> {
        self.0.keys().copied().collect()
    }

    /// The voters as openraft nodes, for `Raft::initialize`.
    pub fn nodes(&self) -> BTreeMap<NodeId, openraft::BasicNode> {
        self.0
            .iter()
            .map(|(id, addr)| (*id, openraft::BasicNode::new(addr)))
            .collect()
    }

    /// A majority of the voters.
    pub fn majority(&self) -> usize {
        self.0.len() / 2 + 1
    }
}

/// Serde for a list of byte strings as hex text (compact and readable in JSON).
mod hex_list {
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for bytes in v {
            let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            seq.serialize_element(&text)?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| super::decode_hex(t).ok_or_else(|| D::Error::custom("invalid hex record")))
            .collect()
    }
}

fn decode_hex(t: &str) -> Option<Vec<u8>> {
    if t.len() % 2 != 0 {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A storage failure in openraft's terms, from anything displayable.
pub(crate) fn storage_error(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    e: impl fmt::Display,
) -> openraft::StorageError<NodeId> {
    openraft::StorageError::from(openraft::StorageIOError::new(
        subject,
        verb,
        openraft::AnyError::error(e.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_through_their_serde_form() {
        let cmd = MetadataCommand {
            first_offset: 7,
            records: vec![vec![0, 1, 0xfe], vec![]],
        };
        let json = serde_json::to_string(&cmd).unwrap();
        assert_eq!(json, r#"{"first_offset":7,"records":["0001fe",""]}"#);
        assert_eq!(serde_json::from_str::<MetadataCommand>(&json).unwrap(), cmd);
        assert!(
            serde_json::from_str::<MetadataCommand>(r#"{"first_offset":7,"records":["0g"]}"#)
                .is_err()
        );
    }

    #[test]
    fn voter_fingerprints_ignore_order() {
        let a = Voters::new(&[(2, "h:2".into()), (1, "h:1".into())]);
        let b = Voters::new(&[(1, "h:1".into()), (2, "h:2".into())]);
        assert_eq!(a.fingerprint(), "1@h:1,2@h:2");
        assert_eq!(a, b);
        assert_eq!(
            Voters::new(&[(1, "a".into()), (2, "b".into()), (3, "c".into())]).majority(),
            2
        );
    }
}
