//! What members do between rebalances (Kafka's `handleSyncGroup`, `handleHeartbeat`,
//! `handleLeaveGroup`, `validateOffsetCommit`) and what time does to them: sessions expire,
//! pending member ids expire, members that never sent SyncGroup are removed at the end of the
//! sync phase. Also the end of the sync phase itself: the leader's assignment, once stored,
//! is handed to every member and the group is Stable.

use std::collections::BTreeMap;

use brook_proto::ErrorCode;
use bytes::Bytes;

use super::group::{Group, GroupState};
use super::join::{
    answer_removed, maybe_complete_join, maybe_prepare_rebalance, prepare_rebalance,
    remove_member_and_update,
};
use super::{
    Effect, GroupConfig, Groups, Io, LeavingMember, PendingPersist, PersistId, SyncRequest,
    SyncResult, Ticket,
};

/// The checks SyncGroup and Heartbeat share, in Kafka's order.
fn check_member(
    g: &Group,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
) -> Result<(), ErrorCode> {
    if g.state == GroupState::Dead {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    if g.is_static_fenced(instance, member_id) {
        return Err(ErrorCode::FencedInstanceId);
    }
    if !g.members.contains_key(member_id) {
        return Err(ErrorCode::UnknownMemberId);
    }
    if generation != g.generation {
        return Err(ErrorCode::IllegalGeneration);
    }
    Ok(())
}

fn renew_session(g: &mut Group, member_id: &str, now_ms: i64) {
    if let Some(m) = g.members.get_mut(member_id) {
        m.session_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
    }
}

impl Groups {
    /// A SyncGroup under `ticket`. In CompletingRebalance it waits for the leader's assignment
    /// to be stored (the leader's own SyncGroup asks for the [`Effect::Persist`]); in Stable it
    /// is answered with the member's current assignment.
    pub fn sync(&mut self, ticket: Ticket, req: SyncRequest, now_ms: i64) -> Vec<Effect> {
        self.settle(&req.group_id, now_ms);
        if let Err(code) = self.try_sync(ticket, &req, now_ms) {
            self.io.sync(ticket, SyncResult::error(code));
        }
        self.settle(&req.group_id, now_ms);
        self.take()
    }

    fn try_sync(
        &mut self,
        ticket: Ticket,
        req: &SyncRequest,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        self.status(&req.group_id)?;
        let g = self
            .groups
            .get_mut(&req.group_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        let member = req.member_id.as_str();
        check_member(
            g,
            req.generation_id,
            member,
            req.group_instance_id.as_deref(),
        )?;
        let differs = |given: &Option<String>, ours: &Option<String>| {
            given.as_ref().is_some_and(|x| ours.as_ref() != Some(x))
        };
        if differs(&req.protocol_type, &g.protocol_type) || differs(&req.protocol_name, &g.protocol)
        {
            return Err(ErrorCode::InconsistentGroupProtocol);
        }
        match g.state {
            GroupState::Empty => Err(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => Err(ErrorCode::RebalanceInProgress),
            GroupState::Dead => Err(ErrorCode::CoordinatorNotAvailable),
            GroupState::CompletingRebalance => {
                if let Some(m) = g.members.get_mut(member) {
                    if let Some(old) = m.awaiting_sync.replace(ticket) {
                        self.io
                            .sync(old, SyncResult::error(ErrorCode::RebalanceInProgress));
                    }
                }
                g.pending_sync.remove(member);
                if g.is_leader(member) && g.assignment_persist.is_none() {
                    // Assignments for non-members are ignored; members the leader gave
                    // nothing get empty bytes.
                    let given: BTreeMap<&str, &Bytes> = req
                        .assignments
                        .iter()
                        .map(|(id, a)| (id.as_str(), a))
                        .collect();
                    let assignment: BTreeMap<String, Bytes> = g
                        .members
                        .keys()
                        .map(|id| {
                            (
                                id.clone(),
                                given
                                    .get(id.as_str())
                                    .map(|a| (*a).clone())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect();
                    let record = g.record(&assignment);
                    let then = PendingPersist::Assignment {
                        generation: g.generation,
                        assignment,
                    };
                    g.assignment_persist = Some(self.io.persist(g, record, then));
                }
                Ok(())
            }
            GroupState::Stable => {
                g.pending_sync.remove(member);
                renew_session(g, member, now_ms);
                let assignment = g
                    .members
                    .get(member)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                self.io.sync(
                    ticket,
                    SyncResult {
                        error: ErrorCode::None,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol.clone(),
                        assignment,
                    },
                );
                Ok(())
            }
        }
    }

    /// A Heartbeat: renews the member's session. REBALANCE_IN_PROGRESS while
    /// PreparingRebalance (the member must rejoin); UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
    /// FENCED_INSTANCE_ID as Kafka. (Effects: expiries that were due.)
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
        now_ms: i64,
    ) -> (ErrorCode, Vec<Effect>) {
        self.settle(group_id, now_ms);
        let code = match self.try_heartbeat(group_id, generation, member_id, instance, now_ms) {
            Ok(()) => ErrorCode::None,
            Err(c) => c,
        };
        (code, self.take())
    }

    fn try_heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        self.status(group_id)?;
        let g = self
            .groups
            .get_mut(group_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        check_member(g, generation, member_id, instance)?;
        match g.state {
            GroupState::Empty => Err(ErrorCode::UnknownMemberId),
            GroupState::Dead => Err(ErrorCode::CoordinatorNotAvailable),
            GroupState::CompletingRebalance | GroupState::Stable => {
                renew_session(g, member_id, now_ms);
                Ok(())
            }
            GroupState::PreparingRebalance => {
                renew_session(g, member_id, now_ms);
                Err(ErrorCode::RebalanceInProgress)
            }
        }
    }

    /// A LeaveGroup: each member's outcome (NONE, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID), or a
    /// group-level error. Removing members rebalances the rest (or empties the group).
    pub fn leave(
        &mut self,
        group_id: &str,
        members: &[LeavingMember],
        now_ms: i64,
    ) -> (Result<Vec<ErrorCode>, ErrorCode>, Vec<Effect>) {
        self.settle(group_id, now_ms);
        let r = self.try_leave(group_id, members, now_ms);
        self.settle(group_id, now_ms);
        (r, self.take())
    }

    fn try_leave(
        &mut self,
        group_id: &str,
        members: &[LeavingMember],
        now_ms: i64,
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.status(group_id)?;
        let Some(g) = self.groups.get_mut(group_id) else {
            return Ok(vec![ErrorCode::UnknownMemberId; members.len()]);
        };
        if g.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let (io, c) = (&mut self.io, &self.config);
        let mut out = Vec::with_capacity(members.len());
        for l in members {
            let instance = l.group_instance_id.as_deref();
            let code = if l.member_id.is_empty() {
                // An admin removing a static member by its instance id.
                match instance.and_then(|i| g.static_members.get(i)).cloned() {
                    Some(id) => {
                        remove_member_and_update(g, io, c, &id, now_ms);
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if g.pending_members.remove(&l.member_id).is_some() {
                maybe_complete_join(g, io, now_ms);
                ErrorCode::None
            } else if g.is_static_fenced(instance, &l.member_id) {
                ErrorCode::FencedInstanceId
            } else if g.members.contains_key(&l.member_id) {
                remove_member_and_update(g, io, c, &l.member_id, now_ms);
                ErrorCode::None
            } else {
                ErrorCode::UnknownMemberId
            };
            out.push(code);
        }
        Ok(out)
    }

    /// The OffsetCommit verdict (Kafka's `validateOffsetCommit`): generation -1 with member ""
    /// (and no instance id) is a commit from outside the group, accepted only while the group
    /// is Empty or unknown (an unknown group is created, Empty, as Kafka); otherwise the member
    /// must be current (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID) and the generation the group's
    /// (ILLEGAL_GENERATION). Accepted in Stable and PreparingRebalance (renewing the member's
    /// session), REBALANCE_IN_PROGRESS in CompletingRebalance.
    pub fn check_commit(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        self.status(group_id)?;
        self.settle(group_id, now_ms);
        self.try_check_commit(group_id, generation, member_id, instance, now_ms)
    }

    /// Effects left by calls that return none: the expiries [`Groups::check_commit`] ran.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        self.take()
    }

    fn try_check_commit(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
        now_ms: i64,
    ) -> Result<(), ErrorCode> {
        if !self.groups.contains_key(group_id) {
            if generation >= 0 {
                return Err(ErrorCode::IllegalGeneration);
            }
            let partition = self.partition_of(group_id);
            self.groups.insert(
                group_id.to_string(),
                Group::new(group_id, partition, now_ms),
            );
        }
        let g = self
            .groups
            .get_mut(group_id)
            .ok_or(ErrorCode::UnknownServerError)?;
        if g.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        if generation >= 0 || !member_id.is_empty() || instance.is_some() {
            match instance.map(|i| g.static_members.get(i)) {
                Some(Some(current)) if current != member_id => {
                    return Err(ErrorCode::FencedInstanceId);
                }
                Some(None) => return Err(ErrorCode::UnknownMemberId),
                _ => {}
            }
            if !g.members.contains_key(member_id) {
                return Err(ErrorCode::UnknownMemberId);
            }
            if generation != g.generation {
                return Err(ErrorCode::IllegalGeneration);
            }
        } else if g.state != GroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        match g.state {
            GroupState::Empty => Ok(()),
            GroupState::Stable | GroupState::PreparingRebalance => {
                renew_session(g, member_id, now_ms);
                Ok(())
            }
            GroupState::CompletingRebalance => Err(ErrorCode::RebalanceInProgress),
            GroupState::Dead => Err(ErrorCode::CoordinatorNotAvailable),
        }
    }
}

/// Hands every waiting SyncGroup its member's assignment (or `code`), renewing their sessions.
fn propagate(g: &mut Group, io: &mut Io, code: ErrorCode, now_ms: i64) {
    for m in g.members.values_mut() {
        if let Some(t) = m.awaiting_sync.take() {
            io.sync(
                t,
                SyncResult {
                    error: code,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    assignment: m.assignment.clone(),
                },
            );
            m.session_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
        }
    }
}

/// Kafka's `resetAndPropagateAssignmentError`: assignments cleared, waiting SyncGroups get
/// `code`.
pub(super) fn reset_and_propagate_error(g: &mut Group, io: &mut Io, code: ErrorCode, now_ms: i64) {
    for m in g.members.values_mut() {
        m.assignment = Bytes::new();
    }
    propagate(g, io, code, now_ms);
}

/// The leader's assignment for `generation` was stored (or not). Ignored if the group moved
/// on meanwhile (another rebalance).
#[allow(clippy::too_many_arguments)]
pub(super) fn assignment_persisted(
    g: &mut Group,
    io: &mut Io,
    id: PersistId,
    generation: i32,
    assignment: BTreeMap<String, Bytes>,
    result: Result<(), ErrorCode>,
    now_ms: i64,
    config: &GroupConfig,
) {
    if g.assignment_persist == Some(id) {
        g.assignment_persist = None;
    }
    if g.state != GroupState::CompletingRebalance || g.generation != generation {
        return;
    }
    match result {
        Ok(()) => {
            for m in g.members.values_mut() {
                m.assignment = assignment.get(&m.member_id).cloned().unwrap_or_default();
            }
            propagate(g, io, ErrorCode::None, now_ms);
            g.transition(GroupState::Stable, now_ms);
        }
        Err(code) => {
            reset_and_propagate_error(g, io, code, now_ms);
            maybe_prepare_rebalance(g, io, config, now_ms);
        }
    }
}

/// Time's effects on one group: pending member ids and sessions expire (members waiting in
/// a rebalance are spared, except new ones past [`super::NEW_MEMBER_JOIN_TIMEOUT_MS`]), and at
/// the end of the sync phase members that never sent SyncGroup are removed (a rebalance).
pub(super) fn expire(g: &mut Group, io: &mut Io, c: &GroupConfig, now_ms: i64) {
    g.pending_members.retain(|_, expiry| *expiry > now_ms);
    let expired: Vec<String> = g
        .members
        .values()
        .filter(|m| m.session_deadline_ms.is_some_and(|d| d <= now_ms))
        .map(|m| m.member_id.clone())
        .collect();
    for id in expired {
        let Some(m) = g.members.get_mut(&id) else {
            continue;
        };
        if !m.is_new && (m.awaiting_join.is_some() || m.awaiting_sync.is_some()) {
            m.session_deadline_ms = None;
            continue;
        }
        remove_member_and_update(g, io, c, &id, now_ms);
    }
    if g.sync_deadline_ms.is_some_and(|d| d <= now_ms) {
        g.sync_deadline_ms = None;
        let syncing = matches!(
            g.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if syncing && !g.pending_sync.is_empty() {
            let laggards = std::mem::take(&mut g.pending_sync);
            for id in laggards {
                if let Some(m) = g.remove(&id) {
                    answer_removed(io, &m);
                }
            }
            prepare_rebalance(g, io, c, now_ms);
        }
    }
}
