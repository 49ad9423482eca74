//! The consumer's side of a rebalance, run inside `poll` and `close` (Kafka's
//! `ConsumerCoordinator.onJoinPrepare` / `onJoinComplete` / `onLeavePrepare`): asking the member
//! state machine what comes next, revoking before a join (eager: everything; cooperative: only
//! partitions of topics no longer subscribed), applying a SyncGroup's assignment (cooperative:
//! revoke what was taken away, then rejoin for the follow-up rebalance), dropping partitions as
//! lost, and calling the listener at each of those points with auto-commit just before a
//! revocation. The listener's commits run right after it returns.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::Consumer;
use super::Position;
use super::assignor::RebalanceProtocol;
use super::group::leave_group;
use super::listener::RebalanceContext;
use super::membership::PollStep;
use super::protocol::Subscription as MemberSubscription;
use crate::error::Result;
use crate::topic_partition::TopicPartition;

/// Which listener callback to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Callback {
    Revoked,
    Assigned,
    Lost,
}

impl Consumer {
    fn cooperative(&self) -> bool {
        self.group
            .as_ref()
            .is_some_and(|g| g.shared.lock().protocol() == RebalanceProtocol::Cooperative)
    }

    /// Brings the group membership forward until the consumer may fetch (true) or `deadline`
    /// passes first (false). Joins and syncs run on the join task; this waits for them.
    pub(super) async fn drive_group(&mut self, deadline: Instant) -> Result<bool> {
        loop {
            let Some(group) = self.group.as_mut() else {
                return Ok(true);
            };
            group.ensure_heartbeat();
            let shared = group.shared.clone();
            let now = Instant::now();
            let step = {
                let mut m = shared.lock();
                m.on_poll(now);
                m.next_step(now)
            };
            match step {
                PollStep::Fail(e) => return Err(e),
                PollStep::Lost(why) => self.lose_partitions(&why),
                PollStep::Assigned(partitions) => self.apply_assignment(partitions).await?,
                PollStep::Join => {
                    let prepared = self.prepare_join().await;
                    self.start_join();
                    prepared?;
                }
                PollStep::Backoff(at) => {
                    tokio::time::sleep_until(at.min(deadline)).await;
                    if at > deadline {
                        return Ok(false);
                    }
                }
                PollStep::InFlight => {
                    // Cooperative members keep consuming what they own during a rebalance.
                    if self.cooperative() && !self.positions.is_empty() {
                        return Ok(true);
                    }
                    let woken = shared.wake_poll.notified();
                    if tokio::time::timeout_at(deadline, woken).await.is_err() {
                        return Ok(false);
                    }
                }
                PollStep::Stable => {
                    if !self.metadata_changed() {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// The leader rejoins when the partition count of a group topic changed since its last
    /// assignment (Kafka's metadata snapshot check); true if a rejoin was requested. Topics
    /// unknown at assignment time are looked up again every `retry.backoff.max.ms`.
    fn metadata_changed(&mut self) -> bool {
        let Some(group) = self.group.as_mut() else {
            return false;
        };
        let counts = group
            .shared
            .assigned_counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(counts) = counts else {
            return false;
        };
        let changed = counts.iter().find(|(topic, n)| {
            self.metadata
                .partition_count(topic)
                .is_some_and(|now| now != **n)
        });
        if let Some((topic, n)) = changed {
            info!(
                topic,
                was = n,
                "partition count of a group topic changed; rejoining"
            );
            group
                .shared
                .lock()
                .request_rejoin(format!("partition count of {topic} changed"));
            return true;
        }
        if counts.values().any(|n| *n == 0) {
            let now = Instant::now();
            let due = group
                .last_metadata_request
                .is_none_or(|at| now >= at + self.config.retry_backoff_max);
            if due {
                group.last_metadata_request = Some(now);
                self.metadata.request_update();
            }
        }
        false
    }

    /// Runs one listener callback with a context over the consumer's positions; returns the
    /// commits it asked for.
    fn call_listener(
        &mut self,
        which: Callback,
        partitions: &[TopicPartition],
    ) -> BTreeMap<TopicPartition, i64> {
        let Some(group) = self.group.as_ref() else {
            return BTreeMap::new();
        };
        let id = group.shared.lock().identity();
        let mut listener = group.listener.lock().unwrap_or_else(|p| p.into_inner());
        let mut ctx = RebalanceContext::new(
            &mut self.positions,
            &mut self.buffered,
            &mut self.last_epochs,
            id.generation,
            &id.member_id,
        );
        match which {
            Callback::Revoked => listener.on_partitions_revoked(&mut ctx, partitions),
            Callback::Assigned => listener.on_partitions_assigned(&mut ctx, partitions),
            Callback::Lost => listener.on_partitions_lost(&mut ctx, partitions),
        }
        ctx.into_commits()
    }

    fn forget_partitions(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.positions.remove(tp);
            self.buffered.remove(tp);
            self.last_epochs.remove(tp);
        }
    }

    /// Revokes `partitions`: auto-commit of their positions (if on), the listener, its commits,
    /// then they are dropped. The listener's commit error is returned after all of that.
    async fn revoke(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        if self.config.auto_commit_enabled() && !partitions.is_empty() {
            let offsets: BTreeMap<TopicPartition, i64> = partitions
                .iter()
                .filter_map(|tp| match self.positions.get(tp) {
                    Some(Position::At(o)) => Some((tp.clone(), *o)),
                    _ => None,
                })
                .collect();
            if let Err(e) = self.commit_sync_offsets(offsets).await {
                warn!(error = %e, "auto-commit before revoking partitions failed");
            }
        }
        info!(?partitions, "revoking partitions");
        let commits = self.call_listener(Callback::Revoked, partitions);
        let result = if commits.is_empty() {
            Ok(())
        } else {
            self.commit_sync_offsets(commits).await
        };
        self.forget_partitions(partitions);
        result
    }

    /// Kafka's onJoinPrepare: eager revokes everything (the listener runs even with nothing
    /// owned, once the member had an assignment); cooperative only partitions of topics that
    /// are no longer subscribed.
    async fn prepare_join(&mut self) -> Result<()> {
        let cooperative = self.cooperative();
        let Some(group) = self.group.as_ref() else {
            return Ok(());
        };
        let owned = self.assignment();
        let (revoke, call) = if cooperative {
            let gone: Vec<TopicPartition> = owned
                .into_iter()
                .filter(|tp| !group.topics.contains(&tp.topic))
                .collect();
            let call = !gone.is_empty();
            (gone, call)
        } else {
            let call = group.has_assignment || !owned.is_empty();
            (owned, call)
        };
        if !call {
            return Ok(());
        }
        if let Some(g) = self.group.as_mut() {
            g.has_assignment = g.has_assignment && cooperative;
        }
        self.revoke(&revoke).await
    }

    /// Starts a join round with the member metadata for the current subscription.
    fn start_join(&mut self) {
        let cooperative = self.cooperative();
        let owned = self.assignment();
        let Some(group) = self.group.as_mut() else {
            return;
        };
        let identity = group.shared.lock().join_started();
        // Owned partitions and their generation matter to cooperative-sticky only; eager
        // members own nothing at this point, and a constant -1 keeps a static member's
        // metadata identical across restarts (so it rejoins without a rebalance).
        let subscription = MemberSubscription {
            topics: group.topics.clone(),
            user_data: None,
            owned_partitions: if cooperative { owned } else { Vec::new() },
            generation_id: if cooperative { identity.generation } else { -1 },
            rack_id: None,
        };
        debug!(group = group.ctx.coordinator.group_id(), member = %identity.member_id,
            generation = identity.generation, "joining the group");
        group.start_join(identity, subscription);
    }

    /// Kafka's onJoinComplete: the new assignment replaces the old. Cooperative: partitions
    /// taken away are revoked first and a follow-up rebalance is requested; the listener hears
    /// of the added ones. Eager: the listener hears of the whole assignment.
    async fn apply_assignment(&mut self, assigned: Vec<TopicPartition>) -> Result<()> {
        let cooperative = self.cooperative();
        let new: BTreeSet<TopicPartition> = assigned.into_iter().collect();
        let owned: BTreeSet<TopicPartition> = self.positions.keys().cloned().collect();
        let revoked: Vec<TopicPartition> = owned.difference(&new).cloned().collect();
        let added: Vec<TopicPartition> = new.difference(&owned).cloned().collect();
        let mut first_error = None;
        if !revoked.is_empty() {
            if let Err(e) = self.revoke(&revoked).await {
                first_error = Some(e);
            }
            if cooperative {
                if let Some(g) = &self.group {
                    g.shared
                        .lock()
                        .request_rejoin("partitions revoked: the follow-up rebalance assigns them");
                }
            }
        }
        for tp in &added {
            self.positions.insert(tp.clone(), Position::Unknown);
        }
        let generation = match self.group.as_mut() {
            Some(g) => {
                g.has_assignment = true;
                g.shared.lock().identity().generation
            }
            None => -1,
        };
        info!(generation, ?added, ?revoked, assignment = ?new, "partitions assigned");
        let reported: Vec<TopicPartition> = if cooperative {
            added
        } else {
            new.into_iter().collect()
        };
        let commits = self.call_listener(Callback::Assigned, &reported);
        if !commits.is_empty() {
            if let Err(e) = self.commit_sync_offsets(commits).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The member's generation ended uncleanly: every owned partition is dropped, the listener
    /// hears `on_partitions_lost`, nothing is committed.
    fn lose_partitions(&mut self, why: &str) {
        if let Some(g) = self.group.as_mut() {
            g.has_assignment = false;
        }
        let owned = self.assignment();
        if owned.is_empty() {
            return;
        }
        warn!(?owned, why, "partitions lost");
        let commits = self.call_listener(Callback::Lost, &owned);
        if !commits.is_empty() {
            warn!(
                ?commits,
                "commits asked for in on_partitions_lost are not sent: the partitions may belong to other members now"
            );
        }
        self.forget_partitions(&owned);
    }

    /// Kafka's onLeavePrepare + LeaveGroup, for `close`: revoke (auto-commit, listener) or,
    /// if the generation already ended, lose; then leave (dynamic members) and stop the tasks.
    pub(super) async fn close_group(&mut self) -> Result<()> {
        let Some(group) = self.group.as_mut() else {
            return Ok(());
        };
        group.stop_join();
        let lost = group.shared.lock().take_lost();
        let mut result = Ok(());
        match lost {
            Some(why) => self.lose_partitions(&why),
            None => {
                let owned = self.assignment();
                if !owned.is_empty() {
                    result = self.revoke(&owned).await;
                }
            }
        }
        if let Some(group) = self.group.as_mut() {
            let leaving = group.shared.lock().leave();
            group.shared.wake_heartbeat.notify_one();
            if let Some(identity) = leaving {
                leave_group(&group.ctx, &identity, "the consumer is being closed").await;
            }
            group.stop();
        }
        result
    }

    /// `unsubscribe` in a group: revoke (commits sent asynchronously, in order), then leave in
    /// the background once those commits are done.
    pub(super) fn unsubscribe_group(&mut self) {
        let Some(group) = self.group.as_ref() else {
            return;
        };
        let lost = group.shared.lock().take_lost();
        match lost {
            Some(why) => self.lose_partitions(&why),
            None => {
                let owned = self.assignment();
                if !owned.is_empty() {
                    if self.config.auto_commit_enabled() {
                        let offsets = self.current_offsets();
                        self.commit_async_offsets(offsets, None);
                    }
                    let commits = self.call_listener(Callback::Revoked, &owned);
                    if !commits.is_empty() {
                        self.commit_async_offsets(commits, None);
                    }
                }
            }
        }
        let Some(mut group) = self.group.take() else {
            return;
        };
        let leaving = group.shared.lock().leave();
        group.stop();
        if let (Some(identity), Ok(rt)) = (leaving, tokio::runtime::Handle::try_current()) {
            let after = self.committer.barrier();
            let ctx = group.ctx.clone();
            rt.spawn(async move {
                if let Some(done) = after {
                    let _ = done.await;
                }
                leave_group(&ctx, &identity, "the consumer unsubscribed").await;
            });
        }
    }
}
