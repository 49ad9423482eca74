//! The committer: one background task per consumer that sends its offset commits one after the
//! other, in the order they were made. Kafka's rules for the two kinds of commit:
//!
//! - `commit_async` is sent once and never retried; its callback (run on this task) gets the
//!   offsets and the outcome. Since a retry could land after a later commit and move the
//!   committed offset backwards, a failed async commit is the callback's business.
//! - `commit_sync` goes through the same queue, so it cannot overtake an earlier async commit;
//!   it retries retriable errors until `request.timeout.ms`, except that a group member's commit
//!   is never carried into another generation: `REBALANCE_IN_PROGRESS`, `ILLEGAL_GENERATION`,
//!   `UNKNOWN_MEMBER_ID`, `FENCED_INSTANCE_ID` come back at once (Kafka's CommitFailed).
//!
//! A fencing answer also tells the member state machine (the commit saw the member's generation
//! end before its heartbeat did). The task starts with the first commit (it needs a runtime)
//! and ends when the consumer drops its sending half and the queue is empty.

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_proto::ErrorCode;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::group::Shared;
use super::membership::Identity;
use super::offsets::{CommitRetry, Coordinator};
use crate::error::{ClientError, Result};
use crate::topic_partition::TopicPartition;

/// Called once per `commit_async` with the offsets it committed and the outcome, on the
/// consumer's committer task, in commit order.
pub type OffsetCommitCallback =
    Box<dyn FnOnce(&BTreeMap<TopicPartition, i64>, &Result<()>) + Send + 'static>;

/// How the committer answers one commit.
enum Reply {
    Async(Option<OffsetCommitCallback>),
    Sync(oneshot::Sender<Result<()>>),
}

enum Job {
    Commit {
        offsets: BTreeMap<TopicPartition, i64>,
        /// The identity to commit as, or the reason there is none (the callback gets it, in
        /// order).
        identity: Result<Identity>,
        /// The member state machine to tell of fencing answers (group mode).
        group: Option<Arc<Shared>>,
        reply: Reply,
    },
    /// Answers once every earlier job is done.
    Barrier(oneshot::Sender<()>),
}

/// The consumer's side of the committer task.
pub(crate) struct Committer {
    coordinator: Option<Arc<Coordinator>>,
    tx: Option<mpsc::UnboundedSender<Job>>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("started", &self.tx.is_some())
            .finish()
    }
}

fn no_group() -> ClientError {
    ClientError::kafka(
        ErrorCode::InvalidGroupId,
        "committing offsets needs a group.id",
    )
}

/// Kafka's CommitFailedException, in Kafka's error names: the generation the commit was made in
/// is over, so retrying it would be wrong.
fn commit_failed(e: ClientError) -> ClientError {
    match e.code() {
        Some(
            code @ (ErrorCode::RebalanceInProgress
            | ErrorCode::IllegalGeneration
            | ErrorCode::UnknownMemberId
            | ErrorCode::FencedInstanceId),
        ) => ClientError::kafka(
            code,
            format!(
                "CommitFailed: {e}; the group rebalanced since these offsets were read, so \
                 their partitions may belong to another member now (poll to rejoin)"
            ),
        ),
        _ => e,
    }
}

impl Committer {
    /// A committer for `coordinator` (`None`: no `group.id`, every commit fails with
    /// `INVALID_GROUP_ID`).
    pub fn new(coordinator: Option<Arc<Coordinator>>) -> Committer {
        Committer {
            coordinator,
            tx: None,
        }
    }

    fn sender(&mut self) -> Result<&mpsc::UnboundedSender<Job>> {
        let coordinator = self.coordinator.clone().ok_or_else(no_group)?;
        if self
            .tx
            .as_ref()
            .is_none_or(mpsc::UnboundedSender::is_closed)
        {
            let handle = tokio::runtime::Handle::try_current()
                .map_err(|_| ClientError::IllegalState("commits need a Tokio runtime".into()))?;
            let (tx, rx) = mpsc::unbounded_channel();
            handle.spawn(run(coordinator, rx));
            self.tx = Some(tx);
        }
        self.tx.as_ref().ok_or(ClientError::Closed)
    }

    /// Queues an async commit; `callback` (if any) runs with its outcome, after every earlier
    /// commit's.
    pub fn commit_async(
        &mut self,
        offsets: BTreeMap<TopicPartition, i64>,
        identity: Result<Identity>,
        group: Option<Arc<Shared>>,
        callback: Option<OffsetCommitCallback>,
    ) {
        let job = Job::Commit {
            offsets,
            identity,
            group,
            reply: Reply::Async(callback),
        };
        let job = match self.sender() {
            Ok(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(job)) => (job, ClientError::Closed),
            },
            Err(e) => (job, e),
        };
        // No task to run it: the callback still hears of it.
        if let (
            Job::Commit {
                offsets,
                reply: Reply::Async(Some(cb)),
                ..
            },
            e,
        ) = job
        {
            cb(&offsets, &Err(e));
        }
    }

    /// Queues a sync commit and waits for it (after every earlier commit).
    pub async fn commit_sync(
        &mut self,
        offsets: BTreeMap<TopicPartition, i64>,
        identity: Identity,
        group: Option<Arc<Shared>>,
    ) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let job = Job::Commit {
            offsets,
            identity: Ok(identity),
            group,
            reply: Reply::Sync(tx),
        };
        self.sender()?.send(job).map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// A receiver that resolves once every commit queued so far is done (`None` when the
    /// committer never started).
    pub fn barrier(&mut self) -> Option<oneshot::Receiver<()>> {
        let tx = self.tx.as_ref()?;
        let (done, wait) = oneshot::channel();
        tx.send(Job::Barrier(done)).ok()?;
        Some(wait)
    }

    /// Waits until every queued commit is done (and its callback has run).
    pub async fn flush(&mut self) {
        let Some(tx) = &self.tx else {
            return;
        };
        let (done, wait) = oneshot::channel();
        if tx.send(Job::Barrier(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// The committer task: one job at a time, in queue order.
async fn run(coordinator: Arc<Coordinator>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        match job {
            Job::Barrier(done) => {
                let _ = done.send(());
            }
            Job::Commit {
                offsets,
                identity,
                group,
                reply,
            } => {
                let in_group = group.is_some();
                let retry = match (&reply, in_group) {
                    (Reply::Async(_), _) => CommitRetry::Never,
                    (Reply::Sync(_), true) => CommitRetry::WithinGeneration,
                    (Reply::Sync(_), false) => CommitRetry::Retriable,
                };
                let result = match &identity {
                    Ok(id) => coordinator.commit(&offsets, id, retry).await,
                    Err(e) => Err(e.clone()),
                };
                let result = match (result, &identity, &group) {
                    (Err(e), Ok(id), Some(shared)) => {
                        if shared.lock().on_commit_error(id, &e) {
                            shared.wake_poll.notify_one();
                        }
                        Err(commit_failed(e))
                    }
                    (r, _, _) => r,
                };
                if let Err(e) = &result {
                    debug!(group = coordinator.group_id(), error = %e, "offset commit failed");
                }
                match reply {
                    Reply::Async(Some(cb)) => cb(&offsets, &result),
                    Reply::Async(None) => {}
                    Reply::Sync(tx) => {
                        let _ = tx.send(result);
                    }
                }
            }
        }
    }
}
