//! Consumer group membership against the mock broker's small group coordinator
//! (`consumer_group_mock`): joins, rebalances and the listener through real RPCs, eager and
//! cooperative revocation, close leaving the group, max.poll.interval.ms, ordered async commits,
//! commits fenced by generation. Each consumer runs on its own task, polling in a loop, as an
//! application would.

mod common;
mod consumer_group_mock;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_client::{
    AssignmentStrategy, ClientError, Consumer, ConsumerConfig, ConsumerRebalanceListener,
    ErrorCode, NoopRebalanceListener, OffsetReset, Producer, ProducerConfig, ProducerRecord,
    RebalanceContext, TopicPartition,
};
use consumer_group_mock::GroupBroker;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One listener callback as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Revoked(Vec<TopicPartition>),
    Assigned(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

#[derive(Debug, Clone, Default)]
struct Log(Arc<Mutex<Vec<Ev>>>);

impl Log {
    fn events(&self) -> Vec<Ev> {
        self.0.lock().unwrap().clone()
    }
    fn revoked(&self) -> Vec<Vec<TopicPartition>> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Ev::Revoked(p) => Some(p),
                _ => None,
            })
            .collect()
    }
}

/// Records every callback; optionally commits the positions of revoked partitions.
struct Recorder {
    log: Log,
    commit_on_revoke: bool,
}

impl ConsumerRebalanceListener for Recorder {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        if self.commit_on_revoke {
            ctx.commit_positions(partitions);
        }
        self.log
            .0
            .lock()
            .unwrap()
            .push(Ev::Revoked(partitions.to_vec()));
    }
    fn on_partitions_assigned(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.log
            .0
            .lock()
            .unwrap()
            .push(Ev::Assigned(partitions.to_vec()));
    }
    fn on_partitions_lost(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        self.log
            .0
            .lock()
            .unwrap()
            .push(Ev::Lost(partitions.to_vec()));
    }
}

/// A consumer polling on its own task until stopped.
struct Member {
    log: Log,
    records: Arc<Mutex<Vec<(TopicPartition, i64)>>>,
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    errors: Arc<Mutex<Vec<ClientError>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Consumer>,
}

impl Member {
    fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.lock().unwrap().clone()
    }
    /// Stops polling and hands the consumer back (its heartbeat task keeps running).
    async fn stop(self) -> Consumer {
        self.stop.send_replace(true);
        self.task.await.unwrap()
    }
}

fn config(broker: &GroupBroker, group: &str) -> ConsumerConfig {
    ConsumerConfig::new(&broker.addr)
        .group_id(group)
        .enable_auto_commit(false)
        .auto_offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(10))
        .session_timeout(Duration::from_millis(10_000))
        .heartbeat_interval(Duration::from_millis(50))
        .max_poll_interval(Duration::from_millis(3_000))
}

fn spawn_member(mut c: Consumer, topic: &str, commit_on_revoke: bool) -> Member {
    let log = Log::default();
    c.subscribe(
        vec![topic.to_string()],
        Recorder {
            log: log.clone(),
            commit_on_revoke,
        },
    )
    .unwrap();
    let (stop, mut stopped) = watch::channel(false);
    let records = Arc::new(Mutex::new(Vec::new()));
    let assignment = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let (r, a, e) = (records.clone(), assignment.clone(), errors.clone());
    let task = tokio::spawn(async move {
        while !*stopped.borrow_and_update() {
            match c.poll(Duration::from_millis(30)).await {
                Ok(recs) => r.lock().unwrap().extend(
                    recs.into_iter()
                        .map(|x| (TopicPartition::new(x.topic, x.partition), x.offset)),
                ),
                Err(err) => e.lock().unwrap().push(err),
            }
            *a.lock().unwrap() = c.assignment();
        }
        c
    });
    Member {
        log,
        records,
        assignment,
        errors,
        stop,
        task,
    }
}

async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn all_six() -> BTreeSet<TopicPartition> {
    (0..6).map(|p| TopicPartition::new("six", p)).collect()
}

/// Whether the members' assignments are disjoint, cover `all`, and have these sizes (sorted).
fn split(members: &[&Member], all: &BTreeSet<TopicPartition>, sizes: &[usize]) -> bool {
    let mut seen = BTreeSet::new();
    let mut got: Vec<usize> = Vec::new();
    for m in members {
        let a = m.assignment();
        got.push(a.len());
        for tp in a {
            if !seen.insert(tp) {
                return false;
            }
        }
    }
    got.sort_unstable();
    &seen == all && got == sizes
}

async fn produce(broker: &GroupBroker, topic: &str, partitions: i32, per_partition: usize) {
    let p =
        Producer::new(ProducerConfig::new(&broker.addr).linger(Duration::from_millis(1))).unwrap();
    for part in 0..partitions {
        for i in 0..per_partition {
            p.send(ProducerRecord::new(topic, i.to_string()).partition(part))
                .await
                .unwrap();
        }
    }
    p.flush().await;
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn two_members_share_the_partitions_and_a_third_triggers_an_eager_rebalance() {
    let broker = GroupBroker::start().await;
    let a = spawn_member(Consumer::new(config(&broker, "g")).unwrap(), "six", false);
    let b = spawn_member(Consumer::new(config(&broker, "g")).unwrap(), "six", false);
    wait_until("two members split six partitions", WAIT, || {
        split(&[&a, &b], &all_six(), &[3, 3])
    })
    .await;
    let (first_a, first_b) = (a.assignment(), b.assignment());
    let c = spawn_member(Consumer::new(config(&broker, "g")).unwrap(), "six", false);
    wait_until("three members split six partitions", WAIT, || {
        split(&[&a, &b, &c], &all_six(), &[2, 2, 2])
    })
    .await;
    // Eager: a and b revoked everything they had before the third member got anything.
    for (m, first) in [(&a, first_a), (&b, first_b)] {
        let events = m.log.events();
        let at = events
            .iter()
            .position(|e| *e == Ev::Revoked(first.clone()))
            .unwrap_or_else(|| panic!("no revocation of {first:?}: {events:?}"));
        assert_eq!(
            events.last(),
            Some(&Ev::Assigned(m.assignment())),
            "{events:?}"
        );
        assert!(at < events.len() - 1);
        assert!(m.errors.lock().unwrap().is_empty());
    }
    assert_eq!(c.log.events().last(), Some(&Ev::Assigned(c.assignment())));
    let generation = broker.group("g", |g| g.generation);
    let consumer = a.stop().await;
    assert_eq!(
        consumer.group_metadata().map(|m| m.generation_id),
        Some(generation)
    );
    for c in [consumer, b.stop().await, c.stop().await] {
        c.close().await.unwrap();
    }
    assert!(
        broker.group("g", |g| g.members()).is_empty(),
        "everyone left"
    );
}

#[tokio::test]
async fn cooperative_sticky_revokes_only_the_partitions_that_move() {
    let broker = GroupBroker::start().await;
    let coop = || {
        config(&broker, "coop")
            .partition_assignment_strategy(vec![AssignmentStrategy::CooperativeSticky])
    };
    let a = spawn_member(Consumer::new(coop()).unwrap(), "six", false);
    let b = spawn_member(Consumer::new(coop()).unwrap(), "six", false);
    wait_until("two members split six partitions", WAIT, || {
        split(&[&a, &b], &all_six(), &[3, 3])
    })
    .await;
    let (first_a, first_b) = (a.assignment(), b.assignment());
    let (revoked_before_a, revoked_before_b) = (a.log.revoked().len(), b.log.revoked().len());
    let c = spawn_member(Consumer::new(coop()).unwrap(), "six", false);
    wait_until("three members split six partitions", WAIT, || {
        split(&[&a, &b, &c], &all_six(), &[2, 2, 2])
    })
    .await;
    let mut moved = BTreeSet::new();
    for (m, first, before) in [
        (&a, &first_a, revoked_before_a),
        (&b, &first_b, revoked_before_b),
    ] {
        let revoked: Vec<TopicPartition> = m.log.revoked()[before..].concat();
        assert_eq!(
            revoked.len(),
            1,
            "exactly one partition moves away: {:?}",
            m.log.events()
        );
        // It kept the rest.
        let kept: BTreeSet<_> = first
            .iter()
            .filter(|tp| !revoked.contains(tp))
            .cloned()
            .collect();
        assert_eq!(kept, m.assignment().into_iter().collect());
        moved.extend(revoked);
    }
    let added: BTreeSet<TopicPartition> = c
        .log
        .events()
        .into_iter()
        .flat_map(|e| match e {
            Ev::Assigned(p) => p,
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(
        added, moved,
        "the newcomer got exactly the revoked partitions"
    );
    assert!(c.log.revoked().is_empty());
    for m in [a, b, c] {
        m.stop().await.close().await.unwrap();
    }
}

#[tokio::test]
async fn close_leaves_the_group_and_the_others_take_over_before_the_session_timeout() {
    let broker = GroupBroker::start().await;
    let a = spawn_member(
        Consumer::new(config(&broker, "close")).unwrap(),
        "six",
        false,
    );
    let b = spawn_member(
        Consumer::new(config(&broker, "close")).unwrap(),
        "six",
        false,
    );
    wait_until("two members split six partitions", WAIT, || {
        split(&[&a, &b], &all_six(), &[3, 3])
    })
    .await;
    let b_had = b.assignment();
    let started = Instant::now();
    let b_log = b.log.clone();
    b.stop().await.close().await.unwrap();
    assert_eq!(
        b_log.events().last(),
        Some(&Ev::Revoked(b_had)),
        "close revokes"
    );
    wait_until("the remaining member owns everything", WAIT, || {
        split(&[&a], &all_six(), &[6])
    })
    .await;
    // The session timeout is 10 s: only the LeaveGroup explains a takeover this quick.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(broker.group("close", |g| g.members().len()), 1);
    a.stop().await.close().await.unwrap();
}

#[tokio::test]
async fn async_commits_run_in_order_with_the_generation_and_callbacks_see_each_outcome() {
    let broker = GroupBroker::start().await;
    produce(&broker, "t", 2, 30).await;
    let mut c = Consumer::new(config(&broker, "async")).unwrap();
    c.subscribe(vec!["t".into()], NoopRebalanceListener)
        .unwrap();
    let mut seen = 0;
    let deadline = Instant::now() + WAIT;
    while seen < 60 {
        assert!(Instant::now() < deadline, "consumed {seen} of 60");
        seen += c.poll(Duration::from_millis(50)).await.unwrap().len();
    }
    let meta = c.group_metadata().expect("a member");
    assert_eq!(meta.generation_id, broker.group("async", |g| g.generation));
    let order = Arc::new(Mutex::new(Vec::new()));
    let tp0 = TopicPartition::new("t", 0);
    for offset in 1..=30 {
        let order = order.clone();
        c.commit_async_offsets(
            BTreeMap::from([(tp0.clone(), offset)]),
            Some(Box::new(move |offsets, result| {
                assert!(result.is_ok(), "{result:?}");
                order
                    .lock()
                    .unwrap()
                    .push(offsets.values().copied().collect::<Vec<_>>()[0]);
            })),
        );
    }
    // A sync commit queues behind them, so it cannot be overtaken or overtake.
    c.commit_sync_offsets(BTreeMap::from([(TopicPartition::new("t", 1), 30)]))
        .await
        .unwrap();
    assert_eq!(*order.lock().unwrap(), (1..=30).collect::<Vec<i64>>());
    assert_eq!(broker.committed("async", "t", 0), Some(30));
    assert_eq!(broker.committed("async", "t", 1), Some(30));
    // A commit in a generation that is over is refused by the coordinator and reported.
    broker.group("async", |g| g.generation += 1);
    let (tx, rx) = tokio::sync::oneshot::channel();
    c.commit_async_offsets(
        BTreeMap::from([(tp0.clone(), 1)]),
        Some(Box::new(move |_, result| {
            let _ = tx.send(result.clone());
        })),
    );
    let err = rx.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::IllegalGeneration), "{err}");
    assert_eq!(
        broker.committed("async", "t", 0),
        Some(30),
        "never moved backwards"
    );
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_member_that_stops_polling_leaves_and_its_commits_fail_until_it_rejoins() {
    let broker = GroupBroker::start().await;
    let cfg = || config(&broker, "slow").max_poll_interval(Duration::from_millis(400));
    let a = spawn_member(Consumer::new(cfg()).unwrap(), "six", false);
    let b = spawn_member(Consumer::new(cfg()).unwrap(), "six", false);
    wait_until("two members split six partitions", WAIT, || {
        split(&[&a, &b], &all_six(), &[3, 3])
    })
    .await;
    let b_log = b.log.clone();
    let b_had = b.assignment();
    // b's application stops polling; its heartbeat task notices max.poll.interval.ms.
    let mut zombie = b.stop().await;
    wait_until("the polling member owns everything", WAIT, || {
        split(&[&a], &all_six(), &[6])
    })
    .await;
    assert_eq!(
        broker.group("slow", |g| g.members().len()),
        1,
        "b left the group"
    );
    let err = zombie.commit_sync().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownMemberId), "{err}");
    assert_eq!(zombie.group_metadata(), None);
    // Its next poll reports the partitions lost and rejoins.
    let b = spawn_member_again(zombie, b_log.clone());
    wait_until("the two members split again", WAIT, || {
        split(&[&a, &b], &all_six(), &[3, 3])
    })
    .await;
    assert!(
        b_log.events().contains(&Ev::Lost(b_had)),
        "{:?}",
        b_log.events()
    );
    for m in [a, b] {
        m.stop().await.close().await.unwrap();
    }
}

/// Polls an already subscribed consumer on a task again (its listener keeps logging to `log`).
fn spawn_member_again(mut c: Consumer, log: Log) -> Member {
    let (stop, mut stopped) = watch::channel(false);
    let assignment = Arc::new(Mutex::new(Vec::new()));
    let a = assignment.clone();
    let task = tokio::spawn(async move {
        while !*stopped.borrow_and_update() {
            let _ = c.poll(Duration::from_millis(30)).await;
            *a.lock().unwrap() = c.assignment();
        }
        c
    });
    Member {
        log,
        records: Arc::default(),
        assignment,
        errors: Arc::default(),
        stop,
        task,
    }
}

#[tokio::test]
async fn committing_on_revoke_gives_no_duplicates_across_a_clean_rebalance() {
    let broker = GroupBroker::start().await;
    produce(&broker, "six", 6, 40).await;
    let cfg = || config(&broker, "exact").max_poll_records(7);
    let a = spawn_member(Consumer::new(cfg()).unwrap(), "six", true);
    wait_until("the first member consumed something", WAIT, || {
        a.records.lock().unwrap().len() > 30
    })
    .await;
    let b = spawn_member(Consumer::new(cfg()).unwrap(), "six", true);
    wait_until("all 240 records consumed", WAIT, || {
        a.records.lock().unwrap().len() + b.records.lock().unwrap().len() >= 240
    })
    .await;
    wait_until("both members own partitions", WAIT, || {
        split(&[&a, &b], &all_six(), &[3, 3])
    })
    .await;
    let mut all: Vec<(TopicPartition, i64)> = a.records.lock().unwrap().clone();
    all.extend(b.records.lock().unwrap().iter().cloned());
    let unique: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(unique.len(), 240, "every record consumed");
    assert_eq!(all.len(), 240, "no record consumed twice");
    assert!(!a.log.revoked().is_empty(), "a rebalance happened");
    for m in [a, b] {
        m.stop().await.close().await.unwrap();
    }
}

#[tokio::test]
async fn heartbeats_keep_an_idle_member_alive_and_stop_when_it_is_dropped() {
    let broker = GroupBroker::start().await;
    let mut c = Consumer::new(
        config(&broker, "hb")
            .session_timeout(Duration::from_millis(300))
            .heartbeat_interval(Duration::from_millis(30)),
    )
    .unwrap();
    c.subscribe(vec!["t".into()], NoopRebalanceListener)
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while c.assignment().len() < 2 {
        assert!(Instant::now() < deadline, "never joined");
        c.poll(Duration::from_millis(20)).await.unwrap();
    }
    // Not polling now: only the heartbeat task keeps the member in past its session timeout.
    let since = Instant::now();
    wait_until("20 heartbeats", WAIT, || {
        broker.group("hb", |g| g.heartbeats) >= 20
    })
    .await;
    assert!(since.elapsed() > Duration::from_millis(300));
    assert_eq!(broker.group("hb", |g| g.members().len()), 1);
    drop(c);
    // No LeaveGroup on drop, and no more heartbeats: the session expires.
    wait_until("the session expired", WAIT, || {
        broker.group("hb", |g| g.members().is_empty())
    })
    .await;
}

#[tokio::test]
async fn auto_commit_in_a_group_commits_periodically_and_on_close() {
    let broker = GroupBroker::start().await;
    produce(&broker, "t", 2, 10).await;
    let mut c = Consumer::new(
        config(&broker, "auto")
            .enable_auto_commit(true)
            .auto_commit_interval(Duration::from_millis(20)),
    )
    .unwrap();
    c.subscribe(vec!["t".into()], NoopRebalanceListener)
        .unwrap();
    let committed = |p| broker.committed("auto", "t", p);
    let deadline = Instant::now() + WAIT;
    let mut consumed = 0;
    // Periodic: polling goes on, and the commits follow the positions.
    while consumed < 20 || committed(0) != Some(10) || committed(1) != Some(10) {
        assert!(
            Instant::now() < deadline,
            "consumed {consumed}, committed {:?}",
            (committed(0), committed(1))
        );
        consumed += c.poll(Duration::from_millis(20)).await.unwrap().len();
    }
    produce(&broker, "t", 2, 5).await;
    while consumed < 30 {
        assert!(Instant::now() < deadline, "consumed {consumed} of 30");
        consumed += c.poll(Duration::from_millis(20)).await.unwrap().len();
    }
    // On close (the revocation commits synchronously).
    c.close().await.unwrap();
    assert_eq!((committed(0), committed(1)), (Some(15), Some(15)));
}

#[tokio::test]
async fn subscribe_needs_a_group_and_excludes_assign() {
    let broker = GroupBroker::start().await;
    let mut anon = Consumer::new(ConsumerConfig::new(&broker.addr)).unwrap();
    let err = anon
        .subscribe(vec!["t".into()], NoopRebalanceListener)
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidGroupId));
    let mut c = Consumer::new(config(&broker, "g")).unwrap();
    c.assign(vec![TopicPartition::new("t", 0)]);
    let err = c
        .subscribe(vec!["t".into()], NoopRebalanceListener)
        .unwrap_err();
    assert!(matches!(err, ClientError::IllegalState(_)), "{err}");
    assert_eq!(c.group_metadata(), None);
}
