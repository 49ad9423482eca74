//! The group member's state machine (Kafka's `AbstractCoordinator` / `ConsumerCoordinator`
//! decisions), as plain code with time passed in: no sockets, no clock reads, no tasks. The
//! async shell (`group.rs`) performs the RPCs it asks for and feeds the answers back; the
//! consumer's `poll` asks [`Membership::next_step`] what to do next; the heartbeat task asks
//! [`Membership::heartbeat_action`]. Both reach it through one mutex, never held across an await.
//!
//! What it owns: the member id and generation, the member state (`Unjoined` → `Joining` (join
//! and sync in flight) → `Stable`), whether a rejoin is needed and why, partitions to be treated
//! as lost, a fatal error, the assignment from the last SyncGroup not yet handed to `poll`, the
//! heartbeat schedule, the `max.poll.interval.ms` timer, and the backoff of failed joins and
//! heartbeats. How each broker answer is classified (Kafka's rules):
//!
//! | answer | effect |
//! |---|---|
//! | `MEMBER_ID_REQUIRED` (JoinGroup) | take the id the coordinator handed out, join again at once |
//! | `REBALANCE_IN_PROGRESS` | rejoin (owned partitions kept until the rejoin decides) |
//! | `ILLEGAL_GENERATION` | generation reset; owned partitions are lost; rejoin |
//! | `UNKNOWN_MEMBER_ID` | member id and generation reset; partitions lost; rejoin |
//! | `FENCED_INSTANCE_ID` | fatal: another instance with our `group.instance.id` took over |
//! | `NOT_COORDINATOR`, `COORDINATOR_NOT_AVAILABLE`, `COORDINATOR_LOAD_IN_PROGRESS`, transport | find the coordinator again, after backoff |
//! | anything else | returned once from `poll`, then the join is retried after backoff |
//!
//! `max.poll.interval.ms`: when the application has not polled within it, the heartbeat task is
//! told to leave (LeaveGroup for a dynamic member, nothing for a static one, as Kafka does), the
//! generation and member id are reset, and the next `poll` reports the partitions lost and
//! rejoins.

use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::{JoinGroupMember, JoinGroupResponse, SyncGroupResponse};
use tokio::time::Instant;

use super::assignor::RebalanceProtocol;
use crate::backoff::{ExponentialBackoff, Retrier, Step};
use crate::error::{ClientError, Result};

/// "No generation": not a member (Kafka's `Generation.NO_GENERATION`).
pub const NO_GENERATION: i32 = -1;

/// The membership settings, from the consumer config.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (also the rebalance timeout).
    pub max_poll_interval: Duration,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Eager or cooperative, from the configured assignors.
    pub protocol: RebalanceProtocol,
    /// Pacing of join retries and failed heartbeats.
    pub backoff: ExponentialBackoff,
}

/// Where the member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Not in the group (before the first join, after a reset or a leave).
    Unjoined,
    /// A JoinGroup / SyncGroup round is in flight.
    Joining,
    /// Joined and synced: heartbeating.
    Stable,
}

/// Who the member is in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The generation (-1: none).
    pub generation: i32,
    /// The member id ("": none yet).
    pub member_id: String,
    /// `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
}

impl Identity {
    /// Not a member: generation -1, no member id (assign mode, admin tools; the coordinator
    /// takes such commits only while the group is Empty).
    pub fn outside_group() -> Identity {
        Identity {
            generation: NO_GENERATION,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// What `poll` should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum PollStep {
    /// Return this error (a fatal one comes back on every poll).
    Fail(ClientError),
    /// Drop every owned partition as lost (listener `on_partitions_lost`, no commit); the
    /// string says why.
    Lost(String),
    /// A SyncGroup delivered this assignment: apply it (listener callbacks).
    Assigned(Vec<super::TopicPartition>),
    /// Revoke as the protocol requires, then start a join ([`Membership::join_started`]).
    Join,
    /// A join failed: do not retry before this instant.
    Backoff(Instant),
    /// A join round is in flight.
    InFlight,
    /// A member with a settled assignment: fetch.
    Stable,
}

/// What the join task does after a JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub enum JoinVerdict {
    /// Join again at once with this identity (after `MEMBER_ID_REQUIRED`).
    Rejoin(Identity),
    /// Send SyncGroup for this generation; `members` is `Some` for the leader (it must compute
    /// the assignment with `protocol`).
    Sync {
        /// The generation joined.
        identity: Identity,
        /// The assignor the group chose.
        protocol: String,
        /// Every member's metadata, for the leader only.
        members: Option<Vec<JoinGroupMember>>,
    },
    /// The round is over: failed (`Some`), or no longer wanted (`None`: the member was reset
    /// or closed meanwhile). The state says what comes next.
    Done(Option<RoundFailure>),
}

/// How a join round failed, for the shell to act on and log.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundFailure {
    /// The error.
    pub error: ClientError,
    /// Forget the coordinator and find it again.
    pub rediscover: bool,
    /// The backoff before the next join, if one applies (log it when `log` says so).
    pub retry: Option<Step>,
}

/// What the heartbeat task does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Send a heartbeat as this member.
    Send(Identity),
    /// `max.poll.interval.ms` passed: the member was reset; send LeaveGroup as this identity if
    /// `Some` (dynamic members only), then wake `poll`.
    Leave(Option<Identity>),
    /// Nothing to do until this instant, or until woken (`None`: until woken).
    Idle(Option<Instant>),
    /// The consumer is closing: stop.
    Stop,
}

/// What a heartbeat answer means for the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeartbeatOutcome {
    /// `poll` must be woken (rejoin needed, partitions lost, fatal error).
    pub wake: bool,
    /// Forget the coordinator and find it again.
    pub rediscover: bool,
    /// A failed heartbeat's backoff step (the shell logs it when `log` says so).
    pub retry: Option<Step>,
}

/// The member state machine; see the module header.
#[derive(Debug)]
pub struct Membership {
    cfg: MemberConfig,
    state: MemberState,
    member_id: String,
    generation: i32,
    /// Some(reason) when the member must (re)join.
    rejoin: Option<String>,
    /// Some(reason) when owned partitions must be dropped as lost by the next `poll`.
    lost: Option<String>,
    /// Returned by every `poll` (FENCED_INSTANCE_ID).
    fatal: Option<ClientError>,
    /// Returned by the next `poll` only.
    error: Option<ClientError>,
    /// The last fencing answer, to name a local commit refusal after a reset.
    last_fence: Option<ErrorCode>,
    delivered: Option<Vec<super::TopicPartition>>,
    join_retry: Retrier,
    heartbeat_in_flight: bool,
    next_heartbeat: Instant,
    last_heartbeat_ok: Instant,
    heartbeat_retry: Retrier,
    last_poll: Instant,
    closed: bool,
}

/// Errors after which the coordinator must be found again.
pub fn is_coordinator_error(e: &ClientError) -> bool {
    matches!(
        e.code(),
        Some(
            ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::CoordinatorLoadInProgress
                | ErrorCode::NetworkException
                | ErrorCode::RequestTimedOut
        )
    )
}

fn code_of(code: i32, message: &str, what: &str) -> Result<()> {
    crate::error::check(code, message, what)
}

impl Membership {
    /// A member that has not joined yet; `now` starts the poll timer.
    pub fn new(cfg: MemberConfig, now: Instant) -> Membership {
        let backoff = cfg.backoff;
        Membership {
            cfg,
            state: MemberState::Unjoined,
            member_id: String::new(),
            generation: NO_GENERATION,
            rejoin: Some("initial join".into()),
            lost: None,
            fatal: None,
            error: None,
            last_fence: None,
            delivered: None,
            join_retry: Retrier::new(backoff),
            heartbeat_in_flight: false,
            next_heartbeat: now,
            last_heartbeat_ok: now,
            heartbeat_retry: Retrier::new(backoff),
            last_poll: now,
            closed: false,
        }
    }

    /// The member state.
    #[cfg(test)]
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The rebalance protocol the member follows.
    pub fn protocol(&self) -> RebalanceProtocol {
        self.cfg.protocol
    }

    /// The current identity (generation -1 / member "" when not a member).
    pub fn identity(&self) -> Identity {
        Identity {
            generation: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.cfg.group_instance_id.clone(),
        }
    }

    /// The identity a commit must carry: the current generation, or, when the member has none,
    /// Kafka's CommitFailed condition (named by the fencing answer that reset it, else
    /// `REBALANCE_IN_PROGRESS` while joining, else `UNKNOWN_MEMBER_ID`).
    pub fn commit_identity(&self) -> Result<Identity> {
        if self.generation >= 0 {
            return Ok(self.identity());
        }
        let code = match (self.last_fence, self.state) {
            (Some(code), _) => code,
            (None, MemberState::Joining) => ErrorCode::RebalanceInProgress,
            (None, _) => ErrorCode::UnknownMemberId,
        };
        Err(ClientError::kafka(
            code,
            "CommitFailed: the consumer is not an active member of the group (it has not \
             joined, or its partitions were given to others); rejoin with poll",
        ))
    }

    /// The application called `poll` at `now` (restarts the `max.poll.interval.ms` timer).
    pub fn on_poll(&mut self, now: Instant) {
        self.last_poll = now;
    }

    /// Asks for a rejoin (subscription or metadata changed, cooperative follow-up).
    pub fn request_rejoin(&mut self, reason: impl Into<String>) {
        if self.rejoin.is_none() {
            self.rejoin = Some(reason.into());
        }
    }

    /// What `poll` should do now.
    pub fn next_step(&mut self, now: Instant) -> PollStep {
        if let Some(e) = &self.fatal {
            return PollStep::Fail(e.clone());
        }
        if let Some(e) = self.error.take() {
            return PollStep::Fail(e);
        }
        if let Some(why) = self.lost.take() {
            return PollStep::Lost(why);
        }
        if let Some(a) = self.delivered.take() {
            return PollStep::Assigned(a);
        }
        let wants_join = self.state == MemberState::Unjoined || self.rejoin.is_some();
        match self.state {
            MemberState::Joining => PollStep::InFlight,
            _ if wants_join => match self.join_retry.retry_at() {
                Some(at) if at > now => PollStep::Backoff(at),
                _ => PollStep::Join,
            },
            _ => PollStep::Stable,
        }
    }

    /// A join round starts now; the identity to send. The subscription carries `generation`
    /// (cooperative: the generation the owned partitions belong to).
    pub fn join_started(&mut self) -> Identity {
        self.state = MemberState::Joining;
        self.rejoin = None;
        self.heartbeat_in_flight = false;
        self.identity()
    }

    fn reset(&mut self, code: ErrorCode, why: String) {
        self.generation = NO_GENERATION;
        if code == ErrorCode::UnknownMemberId {
            self.member_id.clear();
        }
        self.last_fence = Some(code);
        self.lost = Some(why);
        self.state = MemberState::Unjoined;
        self.rejoin.get_or_insert_with(|| format!("{code}"));
        self.delivered = None;
    }

    /// Applies a failed JoinGroup/SyncGroup answer or transport error.
    fn round_failed(&mut self, now: Instant, e: ClientError) -> RoundFailure {
        self.state = MemberState::Unjoined;
        self.rejoin.get_or_insert_with(|| e.name().to_string());
        let mut failure = RoundFailure {
            error: e.clone(),
            rediscover: false,
            retry: None,
        };
        match e.code() {
            Some(code @ (ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration)) => {
                self.reset(code, format!("{e}"));
            }
            Some(ErrorCode::FencedInstanceId) => self.fatal = Some(e),
            Some(ErrorCode::RebalanceInProgress) => {
                failure.retry = Some(self.join_retry.failed(now));
            }
            _ if is_coordinator_error(&e) => {
                failure.retry = Some(self.join_retry.failed(now));
                failure.rediscover = true;
            }
            _ => {
                failure.retry = Some(self.join_retry.failed(now));
                self.error = Some(e);
            }
        }
        failure
    }

    /// The JoinGroup answer (or the transport error) of the round started by `join_started`.
    pub fn on_join_response(
        &mut self,
        now: Instant,
        resp: Result<JoinGroupResponse>,
    ) -> JoinVerdict {
        if self.state != MemberState::Joining || self.closed {
            return JoinVerdict::Done(None);
        }
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return JoinVerdict::Done(Some(self.round_failed(now, e))),
        };
        if let Err(e) = code_of(resp.error_code, &resp.error_message, "JoinGroup") {
            if e.code() == Some(ErrorCode::MemberIdRequired) && !resp.member_id.is_empty() {
                self.member_id = resp.member_id;
                return JoinVerdict::Rejoin(self.identity());
            }
            return JoinVerdict::Done(Some(self.round_failed(now, e)));
        }
        self.generation = resp.generation_id;
        self.member_id = resp.member_id;
        self.last_fence = None;
        let leader = resp.leader == self.member_id && !resp.skip_assignment;
        JoinVerdict::Sync {
            identity: self.identity(),
            protocol: resp.protocol_name,
            members: leader.then_some(resp.members),
        }
    }

    /// The SyncGroup answer, with the assignment decoded by the shell (decoding errors and the
    /// leader's own assignment errors come as `Err`); `Some` when the round failed.
    pub fn on_sync_response(
        &mut self,
        now: Instant,
        resp: Result<(SyncGroupResponse, Vec<super::TopicPartition>)>,
    ) -> Option<RoundFailure> {
        if self.state != MemberState::Joining || self.closed {
            return None;
        }
        let (resp, partitions) = match resp {
            Ok(r) => r,
            Err(e) => return Some(self.round_failed(now, e)),
        };
        if let Err(e) = code_of(resp.error_code, &resp.error_message, "SyncGroup") {
            return Some(self.round_failed(now, e));
        }
        self.state = MemberState::Stable;
        self.join_retry.succeeded();
        self.heartbeat_retry.succeeded();
        self.delivered = Some(partitions);
        self.next_heartbeat = now + self.cfg.heartbeat_interval;
        self.last_heartbeat_ok = now;
        None
    }

    /// What the heartbeat task should do at `now`.
    pub fn heartbeat_action(&mut self, now: Instant) -> HeartbeatAction {
        if self.closed {
            return HeartbeatAction::Stop;
        }
        if self.state != MemberState::Stable || self.fatal.is_some() {
            return HeartbeatAction::Idle(None);
        }
        let poll_deadline = self.last_poll + self.cfg.max_poll_interval;
        if now >= poll_deadline {
            let leaving = self.identity();
            self.generation = NO_GENERATION;
            self.member_id.clear();
            self.last_fence = Some(ErrorCode::UnknownMemberId);
            self.state = MemberState::Unjoined;
            self.lost = Some(format!(
                "the application did not poll within max.poll.interval.ms ({} ms)",
                self.cfg.max_poll_interval.as_millis()
            ));
            self.rejoin = Some("max.poll.interval.ms expired".into());
            self.delivered = None;
            let dynamic = self.cfg.group_instance_id.is_none() && !leaving.member_id.is_empty();
            return HeartbeatAction::Leave(dynamic.then_some(leaving));
        }
        if self.heartbeat_in_flight {
            return HeartbeatAction::Idle(Some(poll_deadline));
        }
        if now >= self.next_heartbeat {
            self.heartbeat_in_flight = true;
            return HeartbeatAction::Send(self.identity());
        }
        HeartbeatAction::Idle(Some(self.next_heartbeat.min(poll_deadline)))
    }

    /// The answer to the heartbeat sent as `sent` (stale answers, from before a rejoin, are
    /// ignored).
    pub fn on_heartbeat_response(
        &mut self,
        now: Instant,
        sent: &Identity,
        resp: Result<()>,
    ) -> HeartbeatOutcome {
        self.heartbeat_in_flight = false;
        let mut out = HeartbeatOutcome::default();
        if self.state != MemberState::Stable
            || sent.generation != self.generation
            || sent.member_id != self.member_id
        {
            return out;
        }
        let e = match resp {
            Ok(()) => {
                self.heartbeat_retry.succeeded();
                self.last_heartbeat_ok = now;
                self.next_heartbeat = now + self.cfg.heartbeat_interval;
                return out;
            }
            Err(e) => e,
        };
        self.next_heartbeat = now + self.cfg.heartbeat_interval;
        match e.code() {
            Some(ErrorCode::RebalanceInProgress) => {
                self.request_rejoin("the group is rebalancing");
                out.wake = true;
            }
            Some(code @ (ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId)) => {
                self.reset(code, format!("heartbeat: {e}"));
                out.wake = true;
            }
            Some(ErrorCode::FencedInstanceId) => {
                self.fatal = Some(e);
                out.wake = true;
            }
            _ if is_coordinator_error(&e) => {
                let step = self.heartbeat_retry.failed(now);
                self.next_heartbeat = now + step.delay;
                out.rediscover = true;
                out.retry = Some(step);
            }
            _ => {
                out.retry = Some(self.heartbeat_retry.failed(now));
            }
        }
        out
    }

    /// Whether no heartbeat has succeeded for a session timeout (the coordinator has most likely
    /// removed the member; Kafka then looks the coordinator up again).
    pub fn session_expired(&self, now: Instant) -> bool {
        self.state == MemberState::Stable
            && now.saturating_duration_since(self.last_heartbeat_ok) > self.cfg.session_timeout
    }

    /// An OffsetCommit sent as `sent` failed with `e`: fencing answers reset the member like a
    /// heartbeat's would, `REBALANCE_IN_PROGRESS` asks for a rejoin. True if `poll` must wake.
    pub fn on_commit_error(&mut self, sent: &Identity, e: &ClientError) -> bool {
        if self.state != MemberState::Stable || sent.generation != self.generation {
            return false;
        }
        match e.code() {
            Some(ErrorCode::RebalanceInProgress) => {
                self.request_rejoin("commit: the group is rebalancing");
                true
            }
            Some(code @ (ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId)) => {
                self.reset(code, format!("commit: {e}"));
                true
            }
            Some(ErrorCode::FencedInstanceId) => {
                self.fatal = Some(e.clone());
                true
            }
            _ => false,
        }
    }

    /// The consumer closes (or unsubscribes): the identity to send LeaveGroup as (dynamic
    /// members that joined only), and the member is reset and stopped.
    pub fn leave(&mut self) -> Option<Identity> {
        let identity = self.identity();
        self.generation = NO_GENERATION;
        self.member_id.clear();
        self.state = MemberState::Unjoined;
        self.closed = true;
        let dynamic = self.cfg.group_instance_id.is_none() && !identity.member_id.is_empty();
        dynamic.then_some(identity)
    }

    /// Takes the pending "partitions lost" reason, if any (`close` handles it itself).
    pub fn take_lost(&mut self) -> Option<String> {
        self.lost.take()
    }
}

#[cfg(test)]
#[path = "membership_tests.rs"]
mod tests;
