//! The group coordinator's rules as a plain state machine with time passed in (sans-IO, like
//! `replica_state/`): Kafka's classic group protocol (GroupCoordinator.scala,
//! GroupMetadata.scala) for every group of the `__consumer_offsets` partitions this broker
//! leads. No tokio, no I/O, no clock reads.
//!
//! Inputs are calls carrying `now_ms`; outputs are [`Effect`]s for the shell to carry out:
//! answer a waiting JoinGroup or SyncGroup (requests are opaque [`Ticket`]s the shell picked),
//! or persist a group record and report back with [`Groups::persisted`]. Time moves with
//! [`Groups::tick`] at [`Groups::next_deadline`]. The shell (`coordinator.rs`) holds this behind
//! a mutex and owns the sockets, the log and the timer.
//!
//! ```text
//! mod.rs      the table: types, ownership (load / unload), views, delete, tick, persist results
//! group.rs    one group as data: members, protocol vote, leader choice, record, views
//! join.rs     JoinGroup: new / known / static members, rebalances, the join phase's end
//! members.rs  SyncGroup, Heartbeat, LeaveGroup, the OffsetCommit verdict, expiries
//! tests/      unit tests with an injected clock
//! ```
//!
//! Choices where Kafka leaves room (documented on the items): protocol ties go to the name that
//! sorts first; member metadata larger than `message.max.bytes` is INVALID_REQUEST; a static
//! member rejoining a Stable group avoids a rebalance only if its metadata for the current
//! protocol is unchanged (and the vote would not change).

mod group;
mod join;
mod members;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use brook_proto::ErrorCode;
use bytes::Bytes;

pub use group::{Group, GroupState, Member};

use super::offsets::partition_for;
use super::record::GroupRecord;

/// An opaque id the shell gives each waiting JoinGroup / SyncGroup; effects name it.
pub type Ticket = u64;
/// An opaque id of a persist the state machine asked for; [`Groups::persisted`] names it.
pub type PersistId = u64;

/// How long a new member's JoinGroup may wait before it is dropped (Kafka's
/// `NewMemberJoinTimeoutMs`, 5 minutes): it has no member id to heartbeat with yet.
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 300_000;

/// The broker settings the rules use (Kafka's `group.*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: shorter session timeouts are INVALID_SESSION_TIMEOUT.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: longer session timeouts are INVALID_SESSION_TIMEOUT.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members (extended per new member, up to the rebalance timeout).
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size`: more members are GROUP_MAX_SIZE_REACHED.
    pub max_size: usize,
    /// The most bytes of protocol names and metadata one JoinGroup may carry (Brook uses
    /// `message.max.bytes`: the group record must fit in a batch); more is INVALID_REQUEST.
    pub max_metadata_bytes: usize,
    /// `offsets.topic.num.partitions`, to map a group to its partition.
    pub offsets_partitions: i32,
}

impl Default for GroupConfig {
    /// Kafka's defaults (and 50 offsets partitions, 1 MiB of metadata).
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3000,
            max_size: i32::MAX as usize,
            max_metadata_bytes: 1_048_588,
            offsets_partitions: 50,
        }
    }
}

/// A protocol a member supports, with its metadata (opaque bytes; Kafka's consumer
/// subscription for protocol type "consumer").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// The protocol's name ("range", "cooperative-sticky", …).
    pub name: String,
    /// The member's metadata for it.
    pub metadata: Bytes,
}

/// A JoinGroup as the rules see it (empty strings of the wire as `None` where Kafka has null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The group.
    pub group_id: String,
    /// "" on a first join.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// Where the request came from (`/127.0.0.1`).
    pub client_host: String,
    /// Within `group.min/max.session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// How long the coordinator waits for members to rejoin (≤ 0: the session timeout, as
    /// JoinGroup v0).
    pub rebalance_timeout_ms: i32,
    /// "consumer" for consumers; must be non-empty.
    pub protocol_type: String,
    /// In order of preference; must be non-empty.
    pub protocols: Vec<Protocol>,
}

/// One member in the leader's JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Its member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    /// NONE, or why not (MEMBER_ID_REQUIRED carries the member id to join with).
    pub error: ErrorCode,
    /// A human explanation of a validation error ("" otherwise).
    pub message: String,
    /// The generation joined (-1 on error).
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id ("" on error).
    pub leader: String,
    /// The member's id (the new one with MEMBER_ID_REQUIRED; "" when unknown).
    pub member_id: String,
    /// Every member with its metadata, for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinResult {
    /// An error answer.
    pub fn error(member_id: &str, error: ErrorCode, message: impl Into<String>) -> JoinResult {
        JoinResult {
            error,
            message: message.into(),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// The group.
    pub group_id: String,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The member.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// If given, must be the group's.
    pub protocol_type: Option<String>,
    /// If given, must be the group's chosen protocol.
    pub protocol_name: Option<String>,
    /// The leader's assignment (member id → bytes); ignored from followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    /// NONE, or why not.
    pub error: ErrorCode,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment (empty bytes if the leader gave it nothing).
    pub assignment: Bytes,
}

impl SyncResult {
    /// An error answer.
    pub fn error(error: ErrorCode) -> SyncResult {
        SyncResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A member named in a LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// "" with a `group_instance_id`: the static member, whoever it is now.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
}

/// DescribeGroups' view of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// Its state (Dead for a group unknown here, as Kafka).
    pub state: GroupState,
    /// Its protocol type.
    pub protocol_type: String,
    /// The chosen protocol, while Stable.
    pub protocol: String,
    /// The current generation.
    pub generation: i32,
    /// The leader's member id.
    pub leader: String,
    /// Its members.
    pub members: Vec<MemberDescription>,
}

/// One member in a [`GroupDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Its member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its `client.id`.
    pub client_id: String,
    /// Where it connected from.
    pub client_host: String,
    /// Its metadata for the chosen protocol (while Stable).
    pub metadata: Bytes,
    /// Its assignment (while Stable).
    pub assignment: Bytes,
}

/// ListGroups' view of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// Its protocol type ("" for a group that only has offsets).
    pub protocol_type: String,
    /// Its state.
    pub state: GroupState,
}

/// A group record to append to `__consumer_offsets` (key: the group id) before the state
/// machine goes on; the shell reports the outcome with [`Groups::persisted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistRequest {
    /// Names this persist in [`Groups::persisted`].
    pub id: PersistId,
    /// The group.
    pub group_id: String,
    /// Its `__consumer_offsets` partition.
    pub partition: i32,
    /// The value to store.
    pub record: GroupRecord,
}

/// What the shell must do after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer the JoinGroup waiting under this ticket.
    Join(Ticket, JoinResult),
    /// Answer the SyncGroup waiting under this ticket.
    Sync(Ticket, SyncResult),
    /// Append this record, then call [`Groups::persisted`].
    Persist(PersistRequest),
}

/// Whether this broker coordinates a partition's groups yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadStatus {
    /// Replaying the partition (in this leader epoch): COORDINATOR_LOAD_IN_PROGRESS.
    Loading(i32),
    /// Loaded in this leader epoch.
    Loaded(i32),
}

/// What to do when a persist completes.
#[derive(Debug, Clone)]
enum PendingPersist {
    /// The leader's assignment for `generation`.
    Assignment {
        generation: i32,
        assignment: BTreeMap<String, Bytes>,
    },
    /// The group went empty; nothing waits on it.
    Empty,
    /// A static member replaced `old_id` by `new_id` in a Stable group (no rebalance).
    StaticRejoin(Box<StaticRejoin>),
}

/// The undo information of a static rejoin, and who to answer.
#[derive(Debug, Clone)]
struct StaticRejoin {
    ticket: Ticket,
    instance: String,
    old_id: String,
    new_id: String,
    old: Member,
    leader: String,
}

/// The pending-output side of the table: effects, persists in flight, id generation.
#[derive(Debug)]
struct Io {
    effects: Vec<Effect>,
    persists: BTreeMap<PersistId, (String, PendingPersist)>,
    next_persist: PersistId,
    rng: u64,
}

impl Io {
    fn join(&mut self, ticket: Ticket, r: JoinResult) {
        self.effects.push(Effect::Join(ticket, r));
    }

    fn sync(&mut self, ticket: Ticket, r: SyncResult) {
        self.effects.push(Effect::Sync(ticket, r));
    }

    fn persist(&mut self, g: &Group, record: GroupRecord, then: PendingPersist) -> PersistId {
        self.next_persist += 1;
        let id = self.next_persist;
        self.persists.insert(id, (g.id.clone(), then));
        self.effects.push(Effect::Persist(PersistRequest {
            id,
            group_id: g.id.clone(),
            partition: g.partition,
            record,
        }));
        id
    }

    /// A random UUID (v4 layout) from a seeded splitmix64: member ids are unique without a
    /// random source inside the rules, and reproducible in tests.
    fn uuid(&mut self) -> String {
        let mut next = || {
            self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let (hi, lo) = (next(), next());
        let hi = (hi & !0xF000) | 0x4000;
        let lo = (lo & !(0xC << 60)) | (0x8 << 60);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }
}

/// Every group of the `__consumer_offsets` partitions this broker leads, and the rules.
#[derive(Debug)]
pub struct Groups {
    config: GroupConfig,
    partitions: BTreeMap<i32, LoadStatus>,
    groups: BTreeMap<String, Group>,
    io: Io,
}

impl Groups {
    /// An empty table; `seed` seeds member-id generation.
    pub fn new(config: GroupConfig, seed: u64) -> Groups {
        Groups {
            config,
            partitions: BTreeMap::new(),
            groups: BTreeMap::new(),
            io: Io {
                effects: Vec::new(),
                persists: BTreeMap::new(),
                next_persist: 0,
                rng: seed,
            },
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// A group, if this broker has it.
    pub fn group(&self, group_id: &str) -> Option<&Group> {
        self.groups.get(group_id)
    }

    /// The partition of `group_id`.
    pub fn partition_of(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.config.offsets_partitions)
    }

    /// Whether this broker may serve `group_id` now: INVALID_GROUP_ID for "", NOT_COORDINATOR
    /// when it does not lead the group's partition, COORDINATOR_LOAD_IN_PROGRESS while loading.
    pub fn status(&self, group_id: &str) -> Result<(), ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        match self.partitions.get(&self.partition_of(group_id)) {
            Some(LoadStatus::Loaded(_)) => Ok(()),
            Some(LoadStatus::Loading(_)) => Err(ErrorCode::CoordinatorLoadInProgress),
            None => Err(ErrorCode::NotCoordinator),
        }
    }

    /// The load status of a partition.
    pub fn partition_status(&self, partition: i32) -> Option<LoadStatus> {
        self.partitions.get(&partition).copied()
    }

    /// This broker became leader of `partition` in `epoch` and starts replaying it. Groups of
    /// an earlier incarnation are unloaded first (their waiting requests: NOT_COORDINATOR).
    pub fn begin_load(&mut self, partition: i32, epoch: i32) -> Vec<Effect> {
        self.unload_groups(partition);
        self.partitions
            .insert(partition, LoadStatus::Loading(epoch));
        self.take()
    }

    /// The replay of `partition` is done: rebuilds its groups from `records` (Stable with
    /// fresh session deadlines from `now_ms`, or Empty) and an Empty group for every group in
    /// `offset_groups` that has offsets but no record. Ignored unless the partition is still
    /// loading in `epoch`. Returns how many groups were loaded.
    pub fn finish_load(
        &mut self,
        partition: i32,
        epoch: i32,
        records: BTreeMap<String, GroupRecord>,
        offset_groups: impl IntoIterator<Item = String>,
        now_ms: i64,
    ) -> usize {
        if self.partitions.get(&partition) != Some(&LoadStatus::Loading(epoch)) {
            return 0;
        }
        let mut n = 0;
        for (id, r) in records {
            self.groups
                .insert(id.clone(), Group::from_record(&id, partition, r, now_ms));
            n += 1;
        }
        for id in offset_groups {
            if !self.groups.contains_key(&id) {
                self.groups
                    .insert(id.clone(), Group::new(&id, partition, now_ms));
                n += 1;
            }
        }
        self.partitions.insert(partition, LoadStatus::Loaded(epoch));
        n
    }

    /// This broker no longer leads `partition`: its groups are dropped and every request
    /// waiting in them is answered NOT_COORDINATOR; persists in flight are forgotten.
    pub fn unload(&mut self, partition: i32) -> Vec<Effect> {
        self.partitions.remove(&partition);
        self.unload_groups(partition);
        self.take()
    }

    fn unload_groups(&mut self, partition: i32) {
        let gone: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.partition == partition)
            .map(|g| g.id.clone())
            .collect();
        for id in gone {
            let Some(g) = self.groups.remove(&id) else {
                continue;
            };
            for m in g.members.values() {
                if let Some(t) = m.awaiting_join {
                    let e = JoinResult::error(&m.member_id, ErrorCode::NotCoordinator, "");
                    self.io.join(t, e);
                }
                if let Some(t) = m.awaiting_sync {
                    self.io
                        .sync(t, SyncResult::error(ErrorCode::NotCoordinator));
                }
            }
            self.io.persists.retain(|_, (group, _)| *group != id);
        }
    }

    /// DescribeGroups for one group: Dead with no members if it is unknown here (Kafka).
    pub fn describe(&self, group_id: &str) -> Result<GroupDescription, ErrorCode> {
        self.status(group_id)?;
        Ok(match self.groups.get(group_id) {
            Some(g) => g.describe(),
            None => GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                generation: -1,
                leader: String::new(),
                members: Vec::new(),
            },
        })
    }

    /// ListGroups: every loaded group in one of `states` (all if empty), by id; and whether a
    /// partition is still loading (COORDINATOR_LOAD_IN_PROGRESS, as Kafka).
    pub fn list(&self, states: &[GroupState]) -> (Vec<GroupListing>, bool) {
        let loading = self
            .partitions
            .values()
            .any(|s| matches!(s, LoadStatus::Loading(_)));
        let groups = self
            .groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&g.state))
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect();
        (groups, loading)
    }

    /// DeleteGroups for one group: GROUP_ID_NOT_FOUND if unknown, NON_EMPTY_GROUP while it has
    /// members; else it is removed (Dead) and the shell writes the tombstones of its record and
    /// offsets.
    pub fn delete(&mut self, group_id: &str) -> Result<(), ErrorCode> {
        self.status(group_id)?;
        let g = self
            .groups
            .get(group_id)
            .ok_or(ErrorCode::GroupIdNotFound)?;
        match g.state {
            GroupState::Empty => {
                self.groups.remove(group_id);
                self.io.persists.retain(|_, (group, _)| group != group_id);
                Ok(())
            }
            GroupState::Dead => Err(ErrorCode::GroupIdNotFound),
            _ => Err(ErrorCode::NonEmptyGroup),
        }
    }

    /// The earliest deadline of any group (call [`Groups::tick`] then).
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups.values().filter_map(Group::next_deadline).min()
    }

    /// Moves time to `now_ms`: expires sessions, pending members, join and sync phases.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Effect> {
        let due: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.next_deadline().is_some_and(|d| d <= now_ms))
            .map(|g| g.id.clone())
            .collect();
        for id in due {
            self.settle(&id, now_ms);
        }
        self.take()
    }

    /// A persist asked for by [`Effect::Persist`] finished with `result` (the error already
    /// in group terms: NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, …). Unknown ids (the group
    /// was unloaded or deleted meanwhile) are ignored.
    pub fn persisted(
        &mut self,
        id: PersistId,
        result: Result<(), ErrorCode>,
        now_ms: i64,
    ) -> Vec<Effect> {
        let Some((group_id, then)) = self.io.persists.remove(&id) else {
            return Vec::new();
        };
        if let Some(g) = self.groups.get_mut(&group_id) {
            match then {
                PendingPersist::Assignment {
                    generation,
                    assignment,
                } => members::assignment_persisted(
                    g,
                    &mut self.io,
                    id,
                    generation,
                    assignment,
                    result,
                    now_ms,
                    &self.config,
                ),
                PendingPersist::Empty => {}
                PendingPersist::StaticRejoin(s) => {
                    join::static_rejoin_persisted(g, &mut self.io, *s, result, now_ms)
                }
            }
        }
        self.settle(&group_id, now_ms);
        self.take()
    }

    /// Runs the group's due timers and completes a join phase that can complete. Called after
    /// every change to a group.
    fn settle(&mut self, group_id: &str, now_ms: i64) {
        let Some(g) = self.groups.get_mut(group_id) else {
            return;
        };
        // Each round may start a phase whose deadline is already due (timeouts of 0).
        for _ in 0..4 {
            members::expire(g, &mut self.io, &self.config, now_ms);
            join::expire_join(g, &mut self.io, &self.config, now_ms);
            join::maybe_complete_join(g, &mut self.io, now_ms);
            if g.next_deadline().is_none_or(|d| d > now_ms) {
                break;
            }
        }
    }

    fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.io.effects)
    }
}
