//! JoinGroup (Kafka's `handleJoinGroup` and friends): validation, MEMBER_ID_REQUIRED for new
//! dynamic members (KIP-394), static members replacing their old member id (KIP-345), known
//! members rejoining, and the join phase: `prepare_rebalance` starts it (with Kafka's
//! InitialDelayedJoin for an empty group), it ends when every member rejoined or at the
//! rebalance timeout (members that did not rejoin are removed), and a new generation answers
//! every waiting JoinGroup.

use std::collections::BTreeMap;

use brook_proto::ErrorCode;
use bytes::Bytes;

use super::group::{Group, GroupState, Member};
use super::{
    GroupConfig, Groups, Io, JoinRequest, JoinResult, NEW_MEMBER_JOIN_TIMEOUT_MS, PendingPersist,
    StaticRejoin, SyncResult, Ticket,
};

/// A failed join: the member id to answer with, the code, a message.
type Refusal = (String, ErrorCode, String);

fn refuse(member_id: &str, code: ErrorCode, message: impl Into<String>) -> Refusal {
    (member_id.to_string(), code, message.into())
}

impl Groups {
    /// A JoinGroup under `ticket`. Its answer comes as an [`super::Effect::Join`] for the
    /// ticket, now (errors, MEMBER_ID_REQUIRED, a known member in a settled group) or when the
    /// join phase ends.
    pub fn join(
        &mut self,
        ticket: Ticket,
        mut req: JoinRequest,
        now_ms: i64,
    ) -> Vec<super::Effect> {
        if req.rebalance_timeout_ms <= 0 {
            req.rebalance_timeout_ms = req.session_timeout_ms;
        }
        let group_id = req.group_id.clone();
        self.settle(&group_id, now_ms);
        if let Err((member_id, code, message)) = self.try_join(ticket, req, now_ms) {
            self.io
                .join(ticket, JoinResult::error(&member_id, code, message));
        }
        self.settle(&group_id, now_ms);
        self.take()
    }

    fn try_join(&mut self, ticket: Ticket, req: JoinRequest, now_ms: i64) -> Result<(), Refusal> {
        let member = req.member_id.as_str();
        self.status(&req.group_id)
            .map_err(|c| refuse(member, c, ""))?;
        validate(&self.config, &req).map_err(|(c, m)| refuse(member, c, m))?;
        let created = !self.groups.contains_key(&req.group_id);
        if created {
            if !member.is_empty() {
                return Err(refuse(member, ErrorCode::UnknownMemberId, "no such group"));
            }
            let partition = self.partition_of(&req.group_id);
            self.groups.insert(
                req.group_id.clone(),
                Group::new(&req.group_id, partition, now_ms),
            );
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return Err(refuse(
                member,
                ErrorCode::UnknownServerError,
                "group vanished",
            ));
        };
        let r = join_group(g, &mut self.io, &self.config, ticket, req, now_ms);
        // A join refused for bad input leaves no trace of a group it would have created.
        if r.is_err() && created && g.members.is_empty() && g.pending_members.is_empty() {
            let id = g.id.clone();
            self.groups.remove(&id);
        }
        r
    }
}

/// Request checks that need no group: session timeout bounds, sizes.
fn validate(c: &GroupConfig, req: &JoinRequest) -> Result<(), (ErrorCode, String)> {
    let s = req.session_timeout_ms;
    if s < c.min_session_timeout_ms || s > c.max_session_timeout_ms {
        return Err((
            ErrorCode::InvalidSessionTimeout,
            format!(
                "session.timeout.ms {s} is outside [group.min.session.timeout.ms {}, \
                 group.max.session.timeout.ms {}]",
                c.min_session_timeout_ms, c.max_session_timeout_ms
            ),
        ));
    }
    let bytes: usize = req
        .protocols
        .iter()
        .map(|p| p.name.len() + p.metadata.len())
        .sum();
    if bytes > c.max_metadata_bytes {
        return Err((
            ErrorCode::InvalidRequest,
            format!(
                "member metadata of {bytes} bytes exceeds {} (message.max.bytes)",
                c.max_metadata_bytes
            ),
        ));
    }
    let strings = [
        Some(&req.group_id),
        Some(&req.client_id),
        Some(&req.client_host),
        Some(&req.protocol_type),
        req.group_instance_id.as_ref(),
    ];
    let long = strings
        .into_iter()
        .flatten()
        .chain(req.protocols.iter().map(|p| &p.name))
        .any(|s| s.len() > i16::MAX as usize);
    if long {
        return Err((
            ErrorCode::InvalidRequest,
            "a string of the request is longer than 32767 bytes".into(),
        ));
    }
    Ok(())
}

fn join_group(
    g: &mut Group,
    io: &mut Io,
    c: &GroupConfig,
    ticket: Ticket,
    req: JoinRequest,
    now_ms: i64,
) -> Result<(), Refusal> {
    if !g.accepts(&req.member_id, c.max_size) {
        // Kafka drops a known member that no longer fits.
        remove_member_and_update(g, io, c, &req.member_id, now_ms);
        return Err(refuse(
            &req.member_id,
            ErrorCode::GroupMaxSizeReached,
            format!("the group has reached group.max.size {}", c.max_size),
        ));
    }
    if g.state == GroupState::Dead {
        return Err(refuse(
            &req.member_id,
            ErrorCode::CoordinatorNotAvailable,
            "",
        ));
    }
    if !g.supports(&req.protocol_type, &req.protocols) {
        return Err(refuse(
            &req.member_id,
            ErrorCode::InconsistentGroupProtocol,
            "protocol type empty or different from the group's, or no protocol shared by every member",
        ));
    }
    if req.member_id.is_empty() {
        join_new_member(g, io, c, ticket, req, now_ms);
        Ok(())
    } else {
        join_known_member(g, io, c, ticket, req, now_ms)
    }
}

fn join_new_member(
    g: &mut Group,
    io: &mut Io,
    c: &GroupConfig,
    ticket: Ticket,
    req: JoinRequest,
    now_ms: i64,
) {
    let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
    let new_id = format!("{prefix}-{}", io.uuid());
    match req.group_instance_id.clone() {
        None => {
            let expiry = now_ms + i64::from(req.session_timeout_ms);
            g.pending_members.insert(new_id.clone(), expiry);
            let r = JoinResult::error(&new_id, ErrorCode::MemberIdRequired, "");
            io.join(ticket, r);
        }
        Some(instance) => match g.static_members.get(&instance).cloned() {
            Some(old_id) => {
                replace_static_member(g, io, c, ticket, &instance, &old_id, new_id, req, now_ms)
            }
            None => add_member_and_rebalance(g, io, c, ticket, new_id, req, now_ms),
        },
    }
}

fn join_known_member(
    g: &mut Group,
    io: &mut Io,
    c: &GroupConfig,
    ticket: Ticket,
    req: JoinRequest,
    now_ms: i64,
) -> Result<(), Refusal> {
    let id = req.member_id.clone();
    if g.pending_members.contains_key(&id) {
        if req.group_instance_id.is_some() {
            // Pending ids are handed to dynamic members only.
            return Err(refuse(
                &id,
                ErrorCode::UnknownMemberId,
                "pending member id with an instance id",
            ));
        }
        add_member_and_rebalance(g, io, c, ticket, id, req, now_ms);
        return Ok(());
    }
    let instance = req.group_instance_id.as_deref();
    if g.is_static_fenced(instance, &id) {
        return Err(refuse(
            &id,
            ErrorCode::FencedInstanceId,
            "another member has this group.instance.id",
        ));
    }
    let instance_unknown = instance.is_some_and(|i| !g.static_members.contains_key(i));
    let Some(member) = g.members.get(&id).filter(|_| !instance_unknown) else {
        return Err(refuse(&id, ErrorCode::UnknownMemberId, ""));
    };
    let matches = member.matches(&req.protocols);
    match g.state {
        GroupState::PreparingRebalance => {
            update_member(g, io, ticket, &req);
            maybe_prepare_rebalance(g, io, c, now_ms);
        }
        GroupState::CompletingRebalance if matches => {
            // The member missed its JoinGroup answer: the same again.
            let r = current_generation(g, &id, g.is_leader(&id));
            io.join(ticket, r);
        }
        GroupState::Stable if matches && !g.is_leader(&id) => {
            let r = current_generation(g, &id, false);
            io.join(ticket, r);
        }
        // A leader rejoining a Stable group forces a rebalance (it may have seen a metadata
        // change); so does anyone whose metadata changed.
        GroupState::CompletingRebalance | GroupState::Stable => {
            update_member(g, io, ticket, &req);
            maybe_prepare_rebalance(g, io, c, now_ms);
        }
        GroupState::Empty | GroupState::Dead => {
            return Err(refuse(&id, ErrorCode::UnknownMemberId, ""));
        }
    }
    Ok(())
}

/// The answer for the current generation, without a rebalance.
fn current_generation(g: &Group, member_id: &str, with_members: bool) -> JoinResult {
    JoinResult {
        error: ErrorCode::None,
        message: String::new(),
        generation_id: g.generation,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol.clone(),
        leader: g.leader.clone().unwrap_or_default(),
        member_id: member_id.to_string(),
        members: if with_members {
            g.joined_members()
        } else {
            Vec::new()
        },
    }
}

/// New protocols, timeouts and waiting JoinGroup of a known member. A JoinGroup it still had
/// waiting is superseded (answered REBALANCE_IN_PROGRESS, so it joins again if it still cares).
fn update_member(g: &mut Group, io: &mut Io, ticket: Ticket, req: &JoinRequest) {
    let Some(m) = g.members.get_mut(&req.member_id) else {
        return;
    };
    m.protocols = req.protocols.clone();
    m.rebalance_timeout_ms = req.rebalance_timeout_ms;
    m.session_timeout_ms = req.session_timeout_ms;
    if let Some(old) = m.awaiting_join.replace(ticket) {
        let r = JoinResult::error(
            &m.member_id,
            ErrorCode::RebalanceInProgress,
            "superseded by a newer JoinGroup",
        );
        io.join(old, r);
    }
}

fn add_member_and_rebalance(
    g: &mut Group,
    io: &mut Io,
    c: &GroupConfig,
    ticket: Ticket,
    member_id: String,
    req: JoinRequest,
    now_ms: i64,
) {
    if g.state == GroupState::PreparingRebalance && g.initial_delay_remaining_ms.is_some() {
        g.new_member_added = true;
    }
    g.add(Member {
        member_id,
        group_instance_id: req.group_instance_id,
        client_id: req.client_id,
        client_host: req.client_host,
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        session_timeout_ms: req.session_timeout_ms,
        protocol_type: req.protocol_type,
        protocols: req.protocols,
        assignment: Bytes::new(),
        session_deadline_ms: Some(now_ms + NEW_MEMBER_JOIN_TIMEOUT_MS),
        awaiting_join: Some(ticket),
        awaiting_sync: None,
        is_new: true,
    });
    maybe_prepare_rebalance(g, io, c, now_ms);
}

/// A static member joined with a new member id while its instance id names `old_id` (KIP-345):
/// the old id is fenced at once; in a Stable group whose protocol vote would not change and
/// with the member's metadata for the current protocol unchanged, the group stays Stable (the
/// record is stored, then the member gets the current generation — with the previous leader id,
/// so it never computes an assignment a Stable group would not hand out); else a rebalance.
#[allow(clippy::too_many_arguments)]
fn replace_static_member(
    g: &mut Group,
    io: &mut Io,
    c: &GroupConfig,
    ticket: Ticket,
    instance: &str,
    old_id: &str,
    new_id: String,
    req: JoinRequest,
    now_ms: i64,
) {
    let leader = g.leader.clone().unwrap_or_default();
    let Some(old) = swap_member_id(g, io, instance, old_id, &new_id) else {
        return;
    };
    let unchanged = g.protocol.as_deref().is_some_and(|p| {
        old.metadata(p).is_some_and(|before| {
            req.protocols
                .iter()
                .any(|x| x.name == p && x.metadata == *before)
        })
    });
    if let Some(m) = g.members.get_mut(&new_id) {
        m.protocols = req.protocols.clone();
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        m.awaiting_join = Some(ticket);
        m.session_deadline_ms = Some(now_ms + i64::from(req.session_timeout_ms));
    }
    match g.state {
        GroupState::Stable if unchanged && g.select_protocol() == g.protocol => {
            let record = g.record(&BTreeMap::new());
            let undo = StaticRejoin {
                ticket,
                instance: instance.to_string(),
                old_id: old_id.to_string(),
                new_id,
                old,
                leader,
            };
            io.persist(g, record, PendingPersist::StaticRejoin(Box::new(undo)));
        }
        GroupState::PreparingRebalance => {}
        _ => maybe_prepare_rebalance(g, io, c, now_ms),
    }
}

/// Moves the member `old_id` to `new_id` (Kafka's `replaceStaticMember`), answering whatever
/// the old id had waiting with FENCED_INSTANCE_ID. Returns the member as it was.
fn swap_member_id(
    g: &mut Group,
    io: &mut Io,
    instance: &str,
    old_id: &str,
    new_id: &str,
) -> Option<Member> {
    let mut m = g.members.remove(old_id)?;
    if let Some(t) = m.awaiting_join.take() {
        io.join(
            t,
            JoinResult::error(old_id, ErrorCode::FencedInstanceId, ""),
        );
    }
    if let Some(t) = m.awaiting_sync.take() {
        io.sync(t, SyncResult::error(ErrorCode::FencedInstanceId));
    }
    let before = m.clone();
    m.member_id = new_id.to_string();
    g.members.insert(new_id.to_string(), m);
    if g.is_leader(old_id) {
        g.leader = Some(new_id.to_string());
    }
    if g.pending_sync.remove(old_id) {
        g.pending_sync.insert(new_id.to_string());
    }
    g.static_members
        .insert(instance.to_string(), new_id.to_string());
    Some(before)
}

/// The record of a static rejoin is stored (or not): answer the member, or undo the swap.
pub(super) fn static_rejoin_persisted(
    g: &mut Group,
    io: &mut Io,
    s: StaticRejoin,
    result: Result<(), ErrorCode>,
    now_ms: i64,
) {
    // A rebalance that started meanwhile answers the member itself.
    let waiting = g
        .members
        .get(&s.new_id)
        .is_some_and(|m| m.awaiting_join == Some(s.ticket));
    if !waiting || g.state != GroupState::Stable {
        return;
    }
    match result {
        Ok(()) => {
            if let Some(m) = g.members.get_mut(&s.new_id) {
                m.awaiting_join = None;
                m.session_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
            }
            let mut r = current_generation(g, &s.new_id, false);
            r.leader = s.leader;
            io.join(s.ticket, r);
        }
        Err(code) => {
            if let Some(mut m) = g.members.remove(&s.new_id) {
                m.awaiting_join = None;
                let mut old = s.old;
                old.assignment = m.assignment;
                old.session_deadline_ms = Some(now_ms + i64::from(old.session_timeout_ms));
                g.members.insert(s.old_id.clone(), old);
                if g.is_leader(&s.new_id) {
                    g.leader = Some(s.old_id.clone());
                }
                g.static_members.insert(s.instance, s.old_id);
            }
            io.join(
                s.ticket,
                JoinResult::error("", code, "the group record was not stored"),
            );
        }
    }
}

pub(super) fn maybe_prepare_rebalance(g: &mut Group, io: &mut Io, c: &GroupConfig, now_ms: i64) {
    if matches!(
        g.state,
        GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
    ) {
        prepare_rebalance(g, io, c, now_ms);
    }
}

/// Starts a join phase (Kafka's `prepareRebalance`): SyncGroups waiting in
/// CompletingRebalance get REBALANCE_IN_PROGRESS; an empty group waits the initial delay,
/// others up to the rebalance timeout.
pub(super) fn prepare_rebalance(g: &mut Group, io: &mut Io, c: &GroupConfig, now_ms: i64) {
    if g.state == GroupState::CompletingRebalance {
        super::members::reset_and_propagate_error(g, io, ErrorCode::RebalanceInProgress, now_ms);
    }
    g.sync_deadline_ms = None;
    g.assignment_persist = None;
    g.new_member_added = false;
    let timeout = g.rebalance_timeout_ms();
    if g.state == GroupState::Empty {
        let delay = i64::from(c.initial_rebalance_delay_ms);
        g.initial_delay_remaining_ms = Some((timeout - delay).max(0));
        g.join_deadline_ms = Some(now_ms + delay);
    } else {
        g.initial_delay_remaining_ms = None;
        g.join_deadline_ms = Some(now_ms + timeout);
    }
    g.transition(GroupState::PreparingRebalance, now_ms);
}

/// The join phase's deadline passed: extend the initial delay once more if a member joined
/// during it (and rebalance timeout is left), else end the phase.
pub(super) fn expire_join(g: &mut Group, io: &mut Io, c: &GroupConfig, now_ms: i64) {
    if g.state != GroupState::PreparingRebalance || g.join_deadline_ms.is_none_or(|d| d > now_ms) {
        return;
    }
    if let Some(remaining) = g.initial_delay_remaining_ms {
        if g.new_member_added && remaining > 0 {
            g.new_member_added = false;
            let delay = i64::from(c.initial_rebalance_delay_ms).min(remaining);
            g.initial_delay_remaining_ms = Some((remaining - delay).max(0));
            g.join_deadline_ms = Some(now_ms + delay);
            return;
        }
    }
    complete_join(g, io, now_ms);
}

/// Ends the join phase early once everyone rejoined (not during the initial delay, which
/// always runs out, as Kafka's InitialDelayedJoin).
pub(super) fn maybe_complete_join(g: &mut Group, io: &mut Io, now_ms: i64) {
    if g.state == GroupState::PreparingRebalance
        && g.initial_delay_remaining_ms.is_none()
        && g.all_joined()
    {
        complete_join(g, io, now_ms);
    }
}

/// Kafka's `onCompleteJoin`: dynamic members that did not rejoin are removed; with nobody
/// rejoined (only static members left) the phase starts over; else the next generation: its
/// protocol by vote, every waiting JoinGroup answered (the member list to the leader only), the
/// sync phase armed. An empty group's new generation is stored.
fn complete_join(g: &mut Group, io: &mut Io, now_ms: i64) {
    g.join_deadline_ms = None;
    g.initial_delay_remaining_ms = None;
    g.new_member_added = false;
    let laggards: Vec<String> = g
        .members
        .values()
        .filter(|m| m.awaiting_join.is_none() && m.group_instance_id.is_none())
        .map(|m| m.member_id.clone())
        .collect();
    for id in laggards {
        if let Some(m) = g.remove(&id) {
            answer_removed(io, &m);
        }
    }
    if !g.elect_joined_leader() && !g.members.is_empty() {
        g.join_deadline_ms = Some(now_ms + g.rebalance_timeout_ms());
        return;
    }
    g.generation += 1;
    g.pending_sync.clear();
    if g.members.is_empty() {
        g.protocol = None;
        g.leader = None;
        g.transition(GroupState::Empty, now_ms);
        let record = g.record(&BTreeMap::new());
        io.persist(g, record, PendingPersist::Empty);
        return;
    }
    g.protocol = g.select_protocol();
    g.transition(GroupState::CompletingRebalance, now_ms);
    let leader = g.leader.clone().unwrap_or_default();
    let all = g.joined_members();
    for m in g.members.values_mut() {
        if let Some(t) = m.awaiting_join.take() {
            io.join(
                t,
                JoinResult {
                    error: ErrorCode::None,
                    message: String::new(),
                    generation_id: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    leader: leader.clone(),
                    member_id: m.member_id.clone(),
                    members: if m.member_id == leader {
                        all.clone()
                    } else {
                        Vec::new()
                    },
                },
            );
        }
        m.session_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
        m.is_new = false;
        g.pending_sync.insert(m.member_id.clone());
    }
    g.sync_deadline_ms = Some(now_ms + g.rebalance_timeout_ms());
}

/// Answers what a removed member had waiting: UNKNOWN_MEMBER_ID (it must join again).
pub(super) fn answer_removed(io: &mut Io, m: &Member) {
    if let Some(t) = m.awaiting_join {
        io.join(
            t,
            JoinResult::error("", ErrorCode::UnknownMemberId, "removed from the group"),
        );
    }
    if let Some(t) = m.awaiting_sync {
        io.sync(t, SyncResult::error(ErrorCode::UnknownMemberId));
    }
}

/// Removes a member and lets the group react (Kafka's `removeMemberAndUpdateGroup`): a
/// rebalance from Stable / CompletingRebalance; in PreparingRebalance the phase may now end.
pub(super) fn remove_member_and_update(
    g: &mut Group,
    io: &mut Io,
    c: &GroupConfig,
    member_id: &str,
    now_ms: i64,
) {
    let Some(m) = g.remove(member_id) else {
        return;
    };
    answer_removed(io, &m);
    match g.state {
        GroupState::Stable | GroupState::CompletingRebalance => {
            maybe_prepare_rebalance(g, io, c, now_ms)
        }
        GroupState::PreparingRebalance => maybe_complete_join(g, io, now_ms),
        GroupState::Empty | GroupState::Dead => {}
    }
}
