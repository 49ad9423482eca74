//! One group as plain data (Kafka's GroupMetadata / MemberMetadata): its state, generation,
//! members, static-member map, pending members and the deadlines of its join and sync phases,
//! with the rules that need nothing but the group itself: which joins it accepts, protocol
//! choice by vote, leader choice, member removal, and the record and views made from it.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{GroupDescription, JoinedMember, MemberDescription, Protocol, Ticket};
use crate::group_coordinator::record::{GroupRecord, MemberRecord};

/// A group's state (Kafka's names, as DescribeGroups and ListGroups print them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupState {
    /// No members (offsets may still be committed, from outside the group).
    Empty,
    /// A rebalance started: the coordinator waits for members to (re)join.
    PreparingRebalance,
    /// Everyone joined; the coordinator waits for the leader's assignment (SyncGroup).
    CompletingRebalance,
    /// Members have their assignment and heartbeat.
    Stable,
    /// The group is gone (deleted, or never existed here).
    Dead,
}

impl GroupState {
    /// The name on the wire: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`,
    /// `Dead`.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Parses a state name, ignoring case (ListGroups' `states_filter`, as Kafka).
    pub fn parse(name: &str) -> Option<GroupState> {
        [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .into_iter()
        .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member id the coordinator handed out.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// Where it connected from (`/127.0.0.1`).
    pub client_host: String,
    /// How long the coordinator waits for it to rejoin in a rebalance (ms).
    pub rebalance_timeout_ms: i32,
    /// How long it may go without a heartbeat (ms).
    pub session_timeout_ms: i32,
    /// Its protocol type ("consumer").
    pub protocol_type: String,
    /// Its protocols in order of preference, each with its metadata.
    pub protocols: Vec<Protocol>,
    /// What the leader assigned it in the current generation (empty bytes if nothing).
    pub assignment: Bytes,
    /// When its session expires; `None` while it waits in a rebalance (Kafka's members
    /// awaiting join or sync satisfy heartbeats) until the next deadline is set.
    pub session_deadline_ms: Option<i64>,
    /// Its JoinGroup waiting for the join phase to end.
    pub awaiting_join: Option<Ticket>,
    /// Its SyncGroup waiting for the leader's assignment.
    pub awaiting_sync: Option<Ticket>,
    /// Joined in the current rebalance and not yet answered (Kafka's `isNew`): its JoinGroup
    /// expires after [`super::NEW_MEMBER_JOIN_TIMEOUT_MS`] rather than a session timeout.
    pub is_new: bool,
}

impl Member {
    /// Its metadata for `protocol`, if it supports it.
    pub fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| &p.metadata)
    }

    /// Same protocols, metadata and order (Kafka's `matches`).
    pub fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// Its vote: the first of its protocols among `candidates`.
    fn vote<'a>(&'a self, candidates: &BTreeSet<&str>) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|p| candidates.contains(p))
    }
}

/// One group (Kafka's GroupMetadata).
#[derive(Debug, Clone)]
pub struct Group {
    /// The group id.
    pub id: String,
    /// Its `__consumer_offsets` partition.
    pub partition: i32,
    /// Its state.
    pub state: GroupState,
    /// The current generation (0 before the first rebalance).
    pub generation: i32,
    /// The members' protocol type, set by the first member.
    pub protocol_type: Option<String>,
    /// The protocol chosen for the current generation.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// When the group entered its current state (ms).
    pub state_timestamp_ms: i64,
    /// The members by member id.
    pub members: BTreeMap<String, Member>,
    /// group.instance.id → member id of the static members.
    pub static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined, with their expiry (KIP-394).
    pub pending_members: BTreeMap<String, i64>,
    /// Members of a completed join phase that have not sent SyncGroup yet.
    pub pending_sync: BTreeSet<String>,
    /// When the join phase ends at the latest (PreparingRebalance).
    pub join_deadline_ms: Option<i64>,
    /// During Kafka's InitialDelayedJoin: how much of the rebalance timeout is left to extend
    /// the delay by.
    pub initial_delay_remaining_ms: Option<i64>,
    /// A member joined during the initial delay (the delay is extended once more).
    pub new_member_added: bool,
    /// When members that did not send SyncGroup are removed (CompletingRebalance / Stable).
    pub sync_deadline_ms: Option<i64>,
    /// The persist of the leader's assignment under way, if any.
    pub assignment_persist: Option<super::PersistId>,
}

impl Group {
    /// A new, empty group.
    pub fn new(id: &str, partition: i32, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            partition,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            state_timestamp_ms: now_ms,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            join_deadline_ms: None,
            initial_delay_remaining_ms: None,
            new_member_added: false,
            sync_deadline_ms: None,
            assignment_persist: None,
        }
    }

    /// A group rebuilt from its stored record (Kafka's `loadGroup`): Stable if it has members,
    /// else Empty; every member's session restarts at `now_ms`.
    pub fn from_record(id: &str, partition: i32, r: GroupRecord, now_ms: i64) -> Group {
        let mut g = Group::new(id, partition, now_ms);
        g.generation = r.generation;
        g.protocol_type = Some(r.protocol_type).filter(|t| !t.is_empty());
        g.protocol = r.protocol;
        if r.current_state_timestamp >= 0 {
            g.state_timestamp_ms = r.current_state_timestamp;
        }
        for m in r.members {
            if let Some(i) = &m.group_instance_id {
                g.static_members.insert(i.clone(), m.member_id.clone());
            }
            let protocols = g
                .protocol
                .iter()
                .map(|name| Protocol {
                    name: name.clone(),
                    metadata: m.subscription.clone(),
                })
                .collect();
            g.members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocol_type: g.protocol_type.clone().unwrap_or_default(),
                    protocols,
                    assignment: m.assignment,
                    session_deadline_ms: Some(now_ms + i64::from(m.session_timeout_ms)),
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                },
            );
        }
        if g.members.is_empty() {
            g.protocol = None;
        } else {
            g.state = GroupState::Stable;
            g.leader = r
                .leader
                .filter(|l| g.members.contains_key(l))
                .or_else(|| g.members.keys().next().cloned());
        }
        g
    }

    /// Moves to `state`, stamping the time.
    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    /// Whether `member_id` is the leader.
    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// A static member whose instance id now belongs to another member id (Kafka's
    /// `isStaticMemberFenced`).
    pub fn is_static_fenced(&self, instance: Option<&str>, member_id: &str) -> bool {
        instance
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|current| current != member_id)
    }

    /// Members waiting in the join phase.
    pub fn num_awaiting_join(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    /// Every member rejoined and no pending member is outstanding.
    pub fn all_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join.is_some()) && self.pending_members.is_empty()
    }

    /// Kafka's `acceptJoiningMember` under `group.max.size`.
    pub fn accepts(&self, member_id: &str, max_size: usize) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || self.num_awaiting_join() < max_size
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max_size
            }
        }
    }

    /// Whether a member with this protocol type and protocols may be in the group: with no
    /// members any non-empty type and list; else the group's type and at least one protocol
    /// every member supports (Kafka's `supportsProtocols`).
    pub fn supports(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.metadata(&p.name).is_some()))
    }

    /// The protocol for the next generation: among those every member supports, the one with
    /// most votes (each member votes for its first supported one). Kafka breaks ties
    /// arbitrarily; Brook takes the name that sorts first, so the choice is reproducible.
    pub fn select_protocol(&self) -> Option<String> {
        let mut members = self.members.values();
        let first = members.next()?;
        let mut candidates: BTreeSet<&str> =
            first.protocols.iter().map(|p| p.name.as_str()).collect();
        for m in members {
            candidates.retain(|c| m.metadata(c).is_some());
        }
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(v) = m.vote(&candidates) {
                *votes.entry(v).or_default() += 1;
            }
        }
        let most = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, n)| *n == most)
            .map(|(p, _)| p.to_string())
    }

    /// The longest rebalance timeout among the members (0 without members).
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Adds a member (the first one sets the protocol type and becomes leader).
    pub fn add(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.member_id.clone());
        }
        if let Some(i) = &member.group_instance_id {
            self.static_members
                .insert(i.clone(), member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member (Kafka's `remove`): a leaving leader is replaced by the first member
    /// left. Returns it, so its waiting requests can be answered.
    pub fn remove(&mut self, member_id: &str) -> Option<Member> {
        let m = self.members.remove(member_id)?;
        if let Some(i) = &m.group_instance_id {
            if self.static_members.get(i).is_some_and(|id| id == member_id) {
                self.static_members.remove(i);
            }
        }
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        self.pending_sync.remove(member_id);
        Some(m)
    }

    /// Kafka's `maybeElectNewJoinedLeader`: keeps a leader that rejoined, else picks any
    /// member that did; false if none did.
    pub fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = &self.leader else {
            return false;
        };
        if self
            .members
            .get(leader)
            .is_some_and(|m| m.awaiting_join.is_some())
        {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                self.leader = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// The member list the leader gets in its JoinGroup response: each member's metadata for
    /// the chosen protocol.
    pub fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// The record storing this generation, with `assignment` (member id → bytes; members
    /// missing from it keep their current assignment).
    pub fn record(&self, assignment: &BTreeMap<String, Bytes>) -> GroupRecord {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        GroupRecord {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone().filter(|_| !self.members.is_empty()),
            current_state_timestamp: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(protocol).cloned().unwrap_or_default(),
                    assignment: assignment
                        .get(&m.member_id)
                        .cloned()
                        .unwrap_or_else(|| m.assignment.clone()),
                })
                .collect(),
        }
    }

    /// DescribeGroups' view. As Kafka, member metadata and assignments (and the protocol) are
    /// shown only while Stable.
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol.as_deref().unwrap_or_default();
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.to_string()
            } else {
                String::new()
            },
            generation: self.generation,
            leader: self.leader.clone().unwrap_or_default(),
            members: self
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(protocol).cloned().unwrap_or_default()
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// The earliest deadline of this group: member sessions, pending members, join and sync
    /// phases.
    pub fn next_deadline(&self) -> Option<i64> {
        let sessions = self.members.values().filter_map(|m| m.session_deadline_ms);
        let pending = self.pending_members.values().copied();
        sessions
            .chain(pending)
            .chain(self.join_deadline_ms)
            .chain(self.sync_deadline_ms)
            .min()
    }
}
