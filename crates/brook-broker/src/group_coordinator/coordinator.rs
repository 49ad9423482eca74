//! The group coordinator's shell: the state machine ([`Groups`]) behind a mutex, the requests
//! waiting on it (oneshot senders keyed by ticket), its timer task and its persister task.
//! Rules live in `groups/`; this file only moves data in and out:
//!
//! - a request takes a ticket, calls the state machine with the time, and carries out the
//!   [`Effect`]s: answers go to the waiting senders, group records to the persister;
//! - the persister appends records to `__consumer_offsets` one at a time, in the order the state
//!   machine asked (through the produce path, `acks=all`, like commits), and reports back;
//! - the timer ticks the state machine at its next deadline, woken early on every change;
//! - `load` / `unload` follow the leadership of the offsets partitions (called from the
//!   broker's reconcile); while a partition replays, its groups answer
//!   COORDINATOR_LOAD_IN_PROGRESS, and a lost partition's waiting requests get NOT_COORDINATOR.
//!
//! Both tasks run in the broker's background set (`lifecycle.rs`) and end with it; when the
//! timer task ends, every request still waiting is dropped (answered NOT_COORDINATOR), so no
//! request outlives the broker.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brook_log::Clock;
use brook_log::record::BatchBuilder;
use brook_proto::ErrorCode;
use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::groups::{
    Effect, GroupConfig, GroupDescription, GroupListing, GroupState, Groups, JoinRequest,
    JoinResult, LeavingMember, LoadStatus, PersistId, PersistRequest, SyncRequest, SyncResult,
    Ticket,
};
use super::lag::LagConfig;
use super::lag::monitor::{self as lag_monitor, LagMonitor};
use super::offsets::{self, Committed, OFFSETS_TOPIC, OffsetCache};
use super::record;
use crate::broker::Broker;
use crate::error::Result;
use crate::partition::Partition;

/// The longest the timer sleeps without looking (the clock may be a test's, moved by hand).
const MAX_TIMER_SLEEP_MS: i64 = 500;

/// Records for one append to a `__consumer_offsets` partition.
#[derive(Debug)]
struct PersistJob {
    partition: i32,
    /// The leader epoch the records were decided in: not written under another.
    epoch: i32,
    records: Vec<(Bytes, Option<Bytes>)>,
    done: PersistDone,
}

#[derive(Debug)]
enum PersistDone {
    /// Report to the state machine.
    Machine(PersistId),
    /// Report to a waiting request (DeleteGroups).
    Reply(oneshot::Sender<std::result::Result<(), ErrorCode>>),
}

#[derive(Debug)]
struct Core {
    groups: Groups,
    joins: HashMap<Ticket, oneshot::Sender<JoinResult>>,
    syncs: HashMap<Ticket, oneshot::Sender<SyncResult>>,
    next_ticket: Ticket,
    closed: bool,
}

impl Core {
    fn ticket(&mut self) -> Ticket {
        self.next_ticket += 1;
        self.next_ticket
    }
}

/// The group coordinator of one broker: groups and committed offsets of the
/// `__consumer_offsets` partitions it leads.
#[derive(Debug)]
pub struct GroupCoordinator {
    clock: Arc<dyn Clock>,
    offsets_partitions: i32,
    offsets: Mutex<OffsetCache>,
    core: Mutex<Core>,
    wake: Notify,
    persist_tx: mpsc::UnboundedSender<PersistJob>,
    persist_rx: Mutex<Option<mpsc::UnboundedReceiver<PersistJob>>>,
    /// The consumer-lag windows of the coordinated groups (`lag/`).
    pub(super) lag: LagMonitor,
}

impl GroupCoordinator {
    /// A coordinator with nothing loaded; `seed` seeds member ids, `lag` sets the lag
    /// evaluation (`group.lag.*`).
    pub fn new(
        config: GroupConfig,
        lag: LagConfig,
        clock: Arc<dyn Clock>,
        seed: u64,
    ) -> GroupCoordinator {
        let (persist_tx, rx) = mpsc::unbounded_channel();
        GroupCoordinator {
            clock,
            offsets_partitions: config.offsets_partitions,
            offsets: Mutex::new(OffsetCache::default()),
            core: Mutex::new(Core {
                groups: Groups::new(config, seed),
                joins: HashMap::new(),
                syncs: HashMap::new(),
                next_ticket: 0,
                closed: false,
            }),
            wake: Notify::new(),
            persist_tx,
            persist_rx: Mutex::new(Some(rx)),
            lag: LagMonitor::new(lag),
        }
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn offsets(&self) -> MutexGuard<'_, OffsetCache> {
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Carries out effects (under the core lock): answers, and group records to the persister.
    /// (Callers other than the timer wake it afterwards: the deadlines may have changed.)
    fn dispatch(&self, core: &mut Core, effects: Vec<Effect>) {
        let mut queue: VecDeque<Effect> = effects.into();
        while let Some(e) = queue.pop_front() {
            match e {
                Effect::Join(t, r) => {
                    if let Some(tx) = core.joins.remove(&t) {
                        let _ = tx.send(r);
                    }
                }
                Effect::Sync(t, r) => {
                    if let Some(tx) = core.syncs.remove(&t) {
                        let _ = tx.send(r);
                    }
                }
                Effect::Persist(p) => {
                    let failed = match self.persist_job(core, &p) {
                        Ok(job) => self
                            .persist_tx
                            .send(job)
                            .err()
                            .map(|_| ErrorCode::CoordinatorNotAvailable),
                        Err(code) => Some(code),
                    };
                    if let Some(code) = failed {
                        queue.extend(core.groups.persisted(p.id, Err(code), self.now()));
                    }
                }
            }
        }
    }

    fn persist_job(
        &self,
        core: &Core,
        p: &PersistRequest,
    ) -> std::result::Result<PersistJob, ErrorCode> {
        let Some(LoadStatus::Loaded(epoch)) = core.groups.partition_status(p.partition) else {
            return Err(ErrorCode::NotCoordinator);
        };
        let key = record::group_key(&p.group_id).map_err(|e| e.code())?;
        let value = record::group_value(&p.record).map_err(|e| e.code())?;
        Ok(PersistJob {
            partition: p.partition,
            epoch,
            records: vec![(key, Some(value))],
            done: PersistDone::Machine(p.id),
        })
    }

    /// Runs `f` on the state machine at the current time and carries out its effects.
    fn with<T>(&self, f: impl FnOnce(&mut Groups, i64) -> (T, Vec<Effect>)) -> T {
        let mut core = self.core();
        let (out, effects) = f(&mut core.groups, self.now());
        self.dispatch(&mut core, effects);
        drop(core);
        self.wake.notify_one();
        out
    }

    /// Whether this broker serves `group_id` now (INVALID_GROUP_ID, NOT_COORDINATOR,
    /// COORDINATOR_LOAD_IN_PROGRESS).
    pub fn status(&self, group_id: &str) -> std::result::Result<(), ErrorCode> {
        self.core().groups.status(group_id)
    }

    /// JoinGroup: waits until the state machine answers (the join phase may take up to the
    /// rebalance timeout).
    pub async fn join(&self, req: JoinRequest) -> JoinResult {
        let member_id = req.member_id.clone();
        let rx = {
            let mut core = self.core();
            if core.closed {
                return JoinResult::error(&member_id, ErrorCode::NotCoordinator, "shutting down");
            }
            let (tx, rx) = oneshot::channel();
            let ticket = core.ticket();
            core.joins.insert(ticket, tx);
            let effects = core.groups.join(ticket, req, self.now());
            self.dispatch(&mut core, effects);
            rx
        };
        self.wake.notify_one();
        rx.await.unwrap_or_else(|_| {
            JoinResult::error(
                &member_id,
                ErrorCode::NotCoordinator,
                "the coordinator stopped",
            )
        })
    }

    /// SyncGroup: waits for the leader's assignment to be stored (in CompletingRebalance).
    pub async fn sync(&self, req: SyncRequest) -> SyncResult {
        let rx = {
            let mut core = self.core();
            if core.closed {
                return SyncResult::error(ErrorCode::NotCoordinator);
            }
            let (tx, rx) = oneshot::channel();
            let ticket = core.ticket();
            core.syncs.insert(ticket, tx);
            let effects = core.groups.sync(ticket, req, self.now());
            self.dispatch(&mut core, effects);
            rx
        };
        self.wake.notify_one();
        rx.await
            .unwrap_or_else(|_| SyncResult::error(ErrorCode::NotCoordinator))
    }

    /// Heartbeat.
    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
    ) -> ErrorCode {
        self.with(|g, now| g.heartbeat(group_id, generation, member_id, instance, now))
    }

    /// LeaveGroup: per-member outcomes, or a group-level error.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[LeavingMember],
    ) -> std::result::Result<Vec<ErrorCode>, ErrorCode> {
        self.with(|g, now| g.leave(group_id, members, now))
    }

    /// The OffsetCommit verdict for this generation and member.
    pub fn check_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance: Option<&str>,
    ) -> std::result::Result<(), ErrorCode> {
        self.with(|g, now| {
            let r = g.check_commit(group_id, generation, member_id, instance, now);
            (r, g.take_effects())
        })
    }

    /// DescribeGroups for one group.
    pub fn describe(&self, group_id: &str) -> std::result::Result<GroupDescription, ErrorCode> {
        self.core().groups.describe(group_id)
    }

    /// ListGroups: the loaded groups in `states` (all if empty), and whether a partition is
    /// still loading.
    pub fn list(&self, states: &[GroupState]) -> (Vec<GroupListing>, bool) {
        self.core().groups.list(states)
    }

    /// DeleteGroups for one group: the state machine's verdict, then tombstones for the group
    /// record and every offset it committed, stored before the answer.
    pub async fn delete(&self, group_id: &str) -> std::result::Result<(), ErrorCode> {
        let rx = {
            let mut core = self.core();
            let partition = core.groups.partition_of(group_id);
            let Some(LoadStatus::Loaded(epoch)) = core.groups.partition_status(partition) else {
                return Err(core
                    .groups
                    .status(group_id)
                    .err()
                    .unwrap_or(ErrorCode::NotCoordinator));
            };
            core.groups.delete(group_id)?;
            self.lag.windows().remove_group(group_id);
            let mut records = vec![(record::group_key(group_id).map_err(|e| e.code())?, None)];
            for (topic, p) in self.offsets().remove_group(group_id) {
                let key = record::offset_key(group_id, &topic, p).map_err(|e| e.code())?;
                records.push((key, None));
            }
            let (tx, rx) = oneshot::channel();
            let job = PersistJob {
                partition,
                epoch,
                records,
                done: PersistDone::Reply(tx),
            };
            self.persist_tx
                .send(job)
                .map_err(|_| ErrorCode::CoordinatorNotAvailable)?;
            rx
        };
        rx.await.unwrap_or(Err(ErrorCode::CoordinatorNotAvailable))
    }

    /// The committed offsets of `group`, sorted by (topic, partition).
    pub fn fetch(&self, group: &str) -> Vec<(String, i32, Committed)> {
        self.offsets().fetch(group)
    }

    /// Records offsets that were durably appended.
    pub fn committed(&self, group: &str, offsets: Vec<(String, i32, Committed)>) {
        self.offsets().committed(group, offsets);
    }

    /// Every (topic, partition) some coordinated group has a committed offset for.
    pub(super) fn committed_partitions(&self) -> BTreeSet<(String, i32)> {
        self.offsets().partitions()
    }

    /// Forgets offsets (and lag windows) of a deleted topic.
    pub fn remove_topic(&self, topic: &str) {
        self.offsets().remove_topic(topic);
        self.lag.windows().remove_topic(topic);
    }

    /// This broker leads `partition` of `__consumer_offsets`: unless it is loaded in this
    /// leader epoch already, replays it (offsets and groups; COORDINATOR_LOAD_IN_PROGRESS
    /// meanwhile). Called from the broker's reconcile.
    pub fn load(&self, partition: &Partition) -> Result<()> {
        let (index, epoch) = (partition.index, partition.state().leader_epoch());
        {
            let mut core = self.core();
            if core.groups.partition_status(index) == Some(LoadStatus::Loaded(epoch)) {
                return Ok(());
            }
            let effects = core.groups.begin_load(index, epoch);
            self.dispatch(&mut core, effects);
        }
        self.offsets()
            .unload_partition(index, self.offsets_partitions);
        let replay = match offsets::replay(partition) {
            Ok(r) => r,
            Err(e) => {
                self.unload(index);
                return Err(e);
            }
        };
        let offset_groups: Vec<String> = replay.offsets.keys().cloned().collect();
        self.offsets()
            .load_partition(index, self.offsets_partitions, replay.offsets);
        let loaded = {
            let mut core = self.core();
            let now = self.now();
            core.groups
                .finish_load(index, epoch, replay.groups, offset_groups, now)
        };
        tracing::info!(
            partition = index,
            epoch,
            groups = loaded,
            skipped = replay.skipped,
            "loaded __consumer_offsets partition"
        );
        self.wake.notify_one();
        Ok(())
    }

    /// This broker no longer leads `partition`: its groups, offsets and lag windows are
    /// dropped, waiting requests answered NOT_COORDINATOR.
    pub fn unload(&self, partition: i32) {
        {
            let mut core = self.core();
            if core.groups.partition_status(partition).is_none() {
                return;
            }
            let effects = core.groups.unload(partition);
            self.dispatch(&mut core, effects);
        }
        self.offsets()
            .unload_partition(partition, self.offsets_partitions);
        self.lag
            .unload_partition(partition, self.offsets_partitions);
        tracing::info!(partition, "unloaded __consumer_offsets partition");
    }

    fn persisted(&self, id: PersistId, result: std::result::Result<(), ErrorCode>) {
        self.with(|g, now| ((), g.persisted(id, result, now)));
    }

    /// Ticks the state machine; returns how long the timer may sleep (ms).
    fn tick(&self) -> u64 {
        let mut core = self.core();
        let now = self.now();
        let effects = core.groups.tick(now);
        self.dispatch(&mut core, effects);
        let wait = core
            .groups
            .next_deadline()
            .map_or(MAX_TIMER_SLEEP_MS, |d| d.saturating_sub(now));
        wait.clamp(1, MAX_TIMER_SLEEP_MS) as u64
    }

    /// Stops serving: every waiting request is dropped (its caller answers NOT_COORDINATOR)
    /// and new JoinGroup / SyncGroup calls are refused.
    pub fn close(&self) {
        let mut core = self.core();
        core.closed = true;
        core.joins.clear();
        core.syncs.clear();
    }
}

/// Kafka's mapping of an append error to what group requests answer (GroupMetadataManager's
/// `storeGroup`).
pub fn store_error(code: ErrorCode) -> ErrorCode {
    use ErrorCode as E;
    match code {
        E::UnknownTopicOrPartition | E::NotEnoughReplicas | E::NotEnoughReplicasAfterAppend => {
            E::CoordinatorNotAvailable
        }
        E::NotLeaderOrFollower | E::KafkaStorageError | E::FencedLeaderEpoch => E::NotCoordinator,
        E::RequestTimedOut => E::RebalanceInProgress,
        E::MessageTooLarge | E::RecordListTooLarge => E::UnknownServerError,
        other => other,
    }
}

/// Starts the coordinator's timer, persister and lag end-offset refresher tasks (part of the
/// broker's background set, aborted with it).
pub fn spawn(broker: Arc<Broker>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(run_timer(broker.clone())),
        tokio::spawn(run_persister(broker.clone())),
        tokio::spawn(lag_monitor::run_refresher(broker)),
    ]
}

/// Closes the coordinator when the timer task ends (aborted with the broker).
struct CloseOnDrop(Arc<Broker>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.coordinator.close();
    }
}

async fn run_timer(broker: Arc<Broker>) {
    let guard = CloseOnDrop(broker);
    let c = &guard.0.coordinator;
    loop {
        let wait = c.tick();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = c.wake.notified() => {}
        }
    }
}

async fn run_persister(broker: Arc<Broker>) {
    let rx = broker
        .coordinator
        .persist_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(mut rx) = rx else {
        return;
    };
    while let Some(job) = rx.recv().await {
        let result = write(&broker, &job).await;
        if let Err(code) = result {
            tracing::warn!(
                partition = job.partition,
                "storing group metadata failed: {code}"
            );
        }
        match job.done {
            PersistDone::Machine(id) => broker.coordinator.persisted(id, result),
            PersistDone::Reply(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// Appends one job's records with `acks=all`, if this broker still leads the partition in the
/// job's epoch.
async fn write(broker: &Broker, job: &PersistJob) -> std::result::Result<(), ErrorCode> {
    let leading = broker
        .replicas
        .get(OFFSETS_TOPIC, job.partition)
        .is_some_and(|p| {
            let s = p.state();
            s.is_leader() && s.leader_epoch() == job.epoch
        });
    if !leading {
        return Err(ErrorCode::NotCoordinator);
    }
    let now = broker.env.now_ms();
    let mut b = BatchBuilder::new();
    for (key, value) in &job.records {
        b.append(now, Some(&key[..]), value.as_deref(), &[]);
    }
    let code = broker
        .append_to_offsets_topic(job.partition, b.build())
        .await;
    match code {
        ErrorCode::None => Ok(()),
        other => Err(store_error(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_errors_map_to_group_errors_as_kafka() {
        assert_eq!(
            store_error(ErrorCode::NotLeaderOrFollower),
            ErrorCode::NotCoordinator
        );
        assert_eq!(
            store_error(ErrorCode::NotEnoughReplicas),
            ErrorCode::CoordinatorNotAvailable
        );
        assert_eq!(
            store_error(ErrorCode::RequestTimedOut),
            ErrorCode::RebalanceInProgress
        );
        assert_eq!(
            store_error(ErrorCode::MessageTooLarge),
            ErrorCode::UnknownServerError
        );
        assert_eq!(
            store_error(ErrorCode::InvalidRequest),
            ErrorCode::InvalidRequest
        );
    }
}
