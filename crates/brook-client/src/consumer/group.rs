//! The async shell around the member state machine ([`Membership`]): the group RPCs
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, sent to the coordinator that
//! `offsets::Coordinator` finds), the join task and the heartbeat task. Neither task decides
//! anything: each asks the state machine what to do, makes the RPC, and hands the answer back.
//!
//! - The join task runs one round: JoinGroup (again at once after `MEMBER_ID_REQUIRED`); for
//!   the leader, the assignor over every member's subscription and the partition counts from
//!   metadata; SyncGroup. `poll` starts it (after revoking what the protocol says) and picks
//!   its result up from the state machine; it wakes `poll` when done.
//! - The heartbeat task heartbeats a Stable member every `heartbeat.interval.ms`, wakes `poll`
//!   when a rebalance is needed or the member was fenced, finds the coordinator again after
//!   coordinator errors, and sends LeaveGroup when the application has not polled within
//!   `max.poll.interval.ms`.
//!
//! [`Group`] owns both tasks and aborts them when dropped, so a consumer dropped without
//! `close` leaves nothing running.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brook_proto::ErrorCode;
use brook_proto::v1::{
    HeartbeatRequest, JoinGroupMember, JoinGroupProtocol, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, MemberIdentity, SyncGroupAssignment, SyncGroupRequest, SyncGroupResponse,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::assignor::AssignmentStrategy;
use super::listener::ConsumerRebalanceListener;
use super::membership::{
    HeartbeatAction, Identity, JoinVerdict, MemberConfig, Membership, RoundFailure,
};
use super::offsets::Coordinator;
use super::protocol::{Assignment, CONSUMER_PROTOCOL_TYPE, Subscription};
use crate::error::{ClientError, Result, check};
use crate::rpc;
use crate::topic_partition::TopicPartition;

/// Kafka's `JOIN_GROUP_TIMEOUT_LAPSE`: a JoinGroup may be held for the rebalance timeout, so
/// the client waits this much longer before giving up on the answer.
const JOIN_TIMEOUT_LAPSE: Duration = Duration::from_secs(5);

/// What the consumer, the join task, the heartbeat task and the committer share.
#[derive(Debug)]
pub(crate) struct Shared {
    membership: Mutex<Membership>,
    /// Wakes `poll` (a join round ended, a rebalance is needed, the member was fenced).
    pub wake_poll: Notify,
    /// Wakes the heartbeat task (the member became Stable, or is closing).
    pub wake_heartbeat: Notify,
    /// The partition counts the leader's last assignment was computed from (`None` when this
    /// member is not the leader), to rejoin when they change.
    pub assigned_counts: Mutex<Option<BTreeMap<String, i32>>>,
}

impl Shared {
    /// The member state machine (never held across an await).
    pub fn lock(&self) -> MutexGuard<'_, Membership> {
        self.membership.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the group's tasks need that never changes.
#[derive(Debug)]
pub(crate) struct GroupCtx {
    pub coordinator: Arc<Coordinator>,
    pub client_id: String,
    pub request_timeout: Duration,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub strategies: Vec<AssignmentStrategy>,
}

/// Kafka's default `client.id` for consumers: `consumer-{group}-{n}`.
pub(crate) fn default_client_id(group: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("consumer-{group}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A subscribed consumer's group state: topics, listener, and the two tasks.
pub(crate) struct Group {
    pub shared: Arc<Shared>,
    pub ctx: Arc<GroupCtx>,
    pub topics: Vec<String>,
    /// Behind a mutex so that `Consumer` stays `Sync`; only the consumer's own calls lock it.
    pub listener: Mutex<Box<dyn ConsumerRebalanceListener>>,
    /// Whether an assignment was applied since the last revocation (eager revokes then, even
    /// an empty one, as Kafka calls the listener at every rebalance).
    pub has_assignment: bool,
    /// When `poll` last asked for metadata because a subscribed topic was missing.
    pub last_metadata_request: Option<Instant>,
    heartbeat: Option<JoinHandle<()>>,
    join: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("topics", &self.topics)
            .field("membership", &*self.shared.lock())
            .finish_non_exhaustive()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Group {
    pub fn new(
        ctx: GroupCtx,
        member: MemberConfig,
        topics: Vec<String>,
        listener: Box<dyn ConsumerRebalanceListener>,
    ) -> Group {
        let shared = Arc::new(Shared {
            membership: Mutex::new(Membership::new(member, Instant::now())),
            wake_poll: Notify::new(),
            wake_heartbeat: Notify::new(),
            assigned_counts: Mutex::new(None),
        });
        Group {
            shared,
            ctx: Arc::new(ctx),
            topics,
            listener: Mutex::new(listener),
            has_assignment: false,
            last_metadata_request: None,
            heartbeat: None,
            join: None,
        }
    }

    /// Starts the heartbeat task unless it runs (called from `poll`, inside a runtime).
    pub fn ensure_heartbeat(&mut self) {
        if self.heartbeat.as_ref().is_none_or(JoinHandle::is_finished) {
            let (shared, ctx) = (self.shared.clone(), self.ctx.clone());
            self.heartbeat = Some(tokio::spawn(heartbeat_task(shared, ctx)));
        }
    }

    /// Starts a join round as `identity` with `subscription` as the member metadata.
    pub fn start_join(&mut self, identity: Identity, subscription: Subscription) {
        if let Some(old) = self.join.take() {
            old.abort();
        }
        let (shared, ctx) = (self.shared.clone(), self.ctx.clone());
        self.join = Some(tokio::spawn(join_task(shared, ctx, identity, subscription)));
    }

    /// Aborts a join round in flight (on `close`).
    pub fn stop_join(&mut self) {
        if let Some(task) = self.join.take() {
            task.abort();
        }
    }

    /// Aborts both tasks.
    pub fn stop(&mut self) {
        for task in [self.join.take(), self.heartbeat.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// The coordinator's gRPC client.
async fn client(
    ctx: &GroupCtx,
) -> Result<brook_proto::v1::brook_client::BrookClient<tonic::transport::Channel>> {
    let addr = ctx.coordinator.find().await?;
    rpc::brook(ctx.coordinator.metadata().channels(), &addr)
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

async fn join_rpc(
    ctx: &GroupCtx,
    identity: &Identity,
    metadata: &bytes::Bytes,
) -> Result<JoinGroupResponse> {
    let req = JoinGroupRequest {
        group_id: ctx.coordinator.group_id().to_string(),
        session_timeout_ms: ms(ctx.session_timeout),
        rebalance_timeout_ms: ms(ctx.rebalance_timeout),
        member_id: identity.member_id.clone(),
        group_instance_id: identity.group_instance_id.clone().unwrap_or_default(),
        protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
        protocols: ctx
            .strategies
            .iter()
            .map(|s| JoinGroupProtocol {
                name: s.name().to_string(),
                metadata: metadata.clone(),
            })
            .collect(),
        reason: String::new(),
        client_id: ctx.client_id.clone(),
    };
    let timeout = ctx
        .request_timeout
        .max(ctx.rebalance_timeout + JOIN_TIMEOUT_LAPSE);
    let mut c = client(ctx).await?;
    rpc::call(timeout, c.join_group(req)).await
}

/// The leader's part: every member's subscription through the chosen assignor. Returns the
/// SyncGroup assignments and the partition counts used.
async fn leader_assign(
    ctx: &GroupCtx,
    protocol: &str,
    members: &[JoinGroupMember],
) -> Result<(Vec<SyncGroupAssignment>, BTreeMap<String, i32>)> {
    let strategy = AssignmentStrategy::parse(protocol)
        .filter(|s| ctx.strategies.contains(s))
        .ok_or_else(|| {
            ClientError::kafka(
                ErrorCode::InconsistentGroupProtocol,
                format!("the group chose assignor `{protocol}`, which this member does not have"),
            )
        })?;
    let mut subs = BTreeMap::new();
    for m in members {
        subs.insert(m.member_id.clone(), Subscription::decode(&m.metadata)?);
    }
    let topics: BTreeSet<&str> = subs
        .values()
        .flat_map(|s| s.topics.iter().map(String::as_str))
        .collect();
    let metadata = ctx.coordinator.metadata();
    // Fresh partition counts (the refresh is rate-limited by the metadata cache); a failed
    // refresh leaves the cached view, and unknown topics get no assignment, as in Kafka.
    if let Err(e) = metadata.refresh().await {
        debug!(error = %e, "metadata refresh before assignment failed; using the cached view");
    }
    // Topics the metadata does not know count as 0 partitions: the leader rejoins when they
    // appear (`Consumer::metadata_changed`).
    let counts: BTreeMap<String, i32> = topics
        .iter()
        .map(|t| (t.to_string(), metadata.partition_count(t).unwrap_or(0)))
        .collect();
    let result = strategy.assign(&counts, &subs);
    info!(
        group = ctx.coordinator.group_id(),
        assignor = strategy.name(),
        members = subs.len(),
        "computed the group's assignment as leader: {result:?}"
    );
    let assignments = result
        .into_iter()
        .map(|(member_id, partitions)| SyncGroupAssignment {
            member_id,
            assignment: Assignment {
                partitions,
                user_data: None,
            }
            .encode(),
        })
        .collect();
    Ok((assignments, counts))
}

async fn sync_rpc(
    ctx: &GroupCtx,
    identity: &Identity,
    protocol: &str,
    assignments: Vec<SyncGroupAssignment>,
) -> Result<(SyncGroupResponse, Vec<TopicPartition>)> {
    let req = SyncGroupRequest {
        group_id: ctx.coordinator.group_id().to_string(),
        generation_id: identity.generation,
        member_id: identity.member_id.clone(),
        group_instance_id: identity.group_instance_id.clone().unwrap_or_default(),
        protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
        protocol_name: protocol.to_string(),
        assignments,
    };
    // Followers wait for the leader's SyncGroup, which may take up to the rebalance timeout.
    let timeout = ctx
        .request_timeout
        .max(ctx.rebalance_timeout + JOIN_TIMEOUT_LAPSE);
    let mut c = client(ctx).await?;
    let resp = rpc::call(timeout, c.sync_group(req)).await?;
    let partitions = if resp.error_code == 0 {
        Assignment::decode(&resp.assignment)?.partitions
    } else {
        Vec::new()
    };
    Ok((resp, partitions))
}

fn log_failure(ctx: &GroupCtx, what: &str, f: &RoundFailure) {
    if f.rediscover {
        ctx.coordinator.forget();
    }
    match f.retry {
        Some(step) if step.log => warn!(group = ctx.coordinator.group_id(), error = %f.error,
            "{what} failed; rejoining in {} ms (attempt {})", step.delay_ms(), step.attempt),
        Some(_) => {}
        None => info!(group = ctx.coordinator.group_id(), error = %f.error,
            "{what} failed; rejoining"),
    }
}

/// One join round (see the module header); the outcome lands in the state machine.
async fn join_task(
    shared: Arc<Shared>,
    ctx: Arc<GroupCtx>,
    mut identity: Identity,
    subscription: Subscription,
) {
    let metadata = subscription.encode();
    let sensors = ctx.coordinator.sensors();
    sensors.rebalance_started();
    loop {
        let resp = join_rpc(&ctx, &identity, &metadata).await;
        let verdict = shared.lock().on_join_response(Instant::now(), resp);
        match verdict {
            JoinVerdict::Rejoin(id) => {
                debug!(group = ctx.coordinator.group_id(), member = %id.member_id,
                    "MEMBER_ID_REQUIRED: joining again with the member id handed out");
                identity = id;
            }
            JoinVerdict::Done(failure) => {
                if let Some(f) = failure {
                    sensors.rebalance_failed();
                    log_failure(&ctx, "JoinGroup", &f);
                }
                break;
            }
            JoinVerdict::Sync {
                identity,
                protocol,
                members,
            } => {
                let leader = members.is_some();
                let assignments = match &members {
                    Some(m) => leader_assign(&ctx, &protocol, m).await,
                    None => Ok((Vec::new(), BTreeMap::new())),
                };
                let resp = match assignments {
                    Ok((assignments, counts)) => {
                        *shared
                            .assigned_counts
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = leader.then_some(counts);
                        sync_rpc(&ctx, &identity, &protocol, assignments).await
                    }
                    Err(e) => Err(e),
                };
                let failure = shared.lock().on_sync_response(Instant::now(), resp);
                match failure {
                    Some(f) => {
                        sensors.rebalance_failed();
                        log_failure(&ctx, "SyncGroup", &f)
                    }
                    None => {
                        sensors.rebalance_succeeded();
                        info!(group = ctx.coordinator.group_id(), generation = identity.generation,
                        member = %identity.member_id, leader, protocol, "joined the group")
                    }
                }
                break;
            }
        }
    }
    shared.wake_poll.notify_one();
    shared.wake_heartbeat.notify_one();
}

async fn heartbeat_rpc(ctx: &GroupCtx, identity: &Identity) -> Result<()> {
    let req = HeartbeatRequest {
        group_id: ctx.coordinator.group_id().to_string(),
        generation_id: identity.generation,
        member_id: identity.member_id.clone(),
        group_instance_id: identity.group_instance_id.clone().unwrap_or_default(),
    };
    // An answer later than the session timeout is moot: the coordinator has moved on.
    let timeout = ctx.request_timeout.min(ctx.session_timeout);
    let mut c = client(ctx).await?;
    let resp = rpc::call(timeout, c.heartbeat(req)).await?;
    check(resp.error_code, &resp.error_message, "Heartbeat")
}

/// LeaveGroup for one member; errors are only logged (the session timeout removes the member
/// anyway), as in Kafka.
pub(crate) async fn leave_group(ctx: &GroupCtx, identity: &Identity, reason: &str) {
    let req = LeaveGroupRequest {
        group_id: ctx.coordinator.group_id().to_string(),
        members: vec![MemberIdentity {
            member_id: identity.member_id.clone(),
            group_instance_id: identity.group_instance_id.clone().unwrap_or_default(),
            reason: reason.to_string(),
        }],
    };
    let result = async {
        let mut c = client(ctx).await?;
        let resp = rpc::call(ctx.request_timeout, c.leave_group(req)).await?;
        check(resp.error_code, &resp.error_message, "LeaveGroup")?;
        for m in resp.members {
            check(m.error_code, "", &format!("LeaveGroup {}", m.member_id))?;
        }
        Ok::<(), ClientError>(())
    }
    .await;
    match result {
        Ok(()) => info!(group = ctx.coordinator.group_id(), member = %identity.member_id, reason,
            "left the group"),
        Err(e) => warn!(group = ctx.coordinator.group_id(), member = %identity.member_id,
            error = %e, "LeaveGroup failed; the session timeout will remove the member"),
    }
}

/// The heartbeat task (see the module header).
async fn heartbeat_task(shared: Arc<Shared>, ctx: Arc<GroupCtx>) {
    loop {
        let now = Instant::now();
        let action = {
            let mut m = shared.lock();
            if m.session_expired(now) {
                // Kafka: no answer for a session timeout means the coordinator is gone or
                // unreachable; look it up again.
                ctx.coordinator.forget();
            }
            m.heartbeat_action(now)
        };
        match action {
            HeartbeatAction::Stop => return,
            HeartbeatAction::Idle(until) => {
                let woken = shared.wake_heartbeat.notified();
                match until {
                    Some(at) => {
                        let _ = tokio::time::timeout_at(at, woken).await;
                    }
                    None => woken.await,
                }
            }
            HeartbeatAction::Send(identity) => {
                let resp = heartbeat_rpc(&ctx, &identity).await;
                if let Err(e) = &resp {
                    debug!(group = ctx.coordinator.group_id(), error = %e, "heartbeat failed");
                }
                let out = shared
                    .lock()
                    .on_heartbeat_response(Instant::now(), &identity, resp);
                if out.rediscover {
                    ctx.coordinator.forget();
                }
                if let Some(step) = out.retry.filter(|s| s.log) {
                    warn!(
                        group = ctx.coordinator.group_id(),
                        "heartbeats failing; next in {} ms (attempt {})",
                        step.delay_ms(),
                        step.attempt
                    );
                }
                if out.wake {
                    shared.wake_poll.notify_one();
                }
            }
            HeartbeatAction::Leave(identity) => {
                warn!(
                    group = ctx.coordinator.group_id(),
                    "the application did not poll within max.poll.interval.ms ({} ms); leaving the group",
                    ctx.rebalance_timeout.as_millis()
                );
                if let Some(identity) = identity {
                    leave_group(&ctx, &identity, "consumer poll timeout has expired").await;
                }
                shared.wake_poll.notify_one();
            }
        }
    }
}
