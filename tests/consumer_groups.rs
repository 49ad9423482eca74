//! Consumer groups end to end on the embedded cluster (issue 12, item 2): the client's
//! membership, assignors, rebalance listener and commits against the real group coordinator.
//! Each consumer polls on its own task, as an application would; tests wait for conditions,
//! never for fixed times. Consumers use `session.timeout.ms` 1000 (the static-member test
//! longer) and `heartbeat.interval.ms` 100.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook::client::{ClientError, ConsumerRebalanceListener, ErrorCode, RebalanceContext};
use brook::{Cluster, Consumer, ProducerRecord, TopicPartition};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(20);

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
    fn revoked(&self) -> Vec<TopicPartition> {
        self.events()
            .into_iter()
            .flat_map(|e| match e {
                Ev::Revoked(p) => p,
                _ => Vec::new(),
            })
            .collect()
    }
    fn assigned(&self) -> Vec<TopicPartition> {
        self.events()
            .into_iter()
            .flat_map(|e| match e {
                Ev::Assigned(p) => p,
                _ => Vec::new(),
            })
            .collect()
    }
}

/// Records every callback; optionally commits the positions of revoked partitions (the
/// seed's "commit on rebalance").
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

/// A subscribed consumer polling on its own task until stopped.
struct Member {
    log: Log,
    records: Arc<Mutex<Vec<(TopicPartition, i64)>>>,
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    errors: Arc<Mutex<Vec<ClientError>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Consumer>,
}

impl Member {
    fn start(mut consumer: Consumer, topic: &str, commit_on_revoke: bool) -> Member {
        let log = Log::default();
        consumer
            .subscribe(
                vec![topic.to_string()],
                Recorder {
                    log: log.clone(),
                    commit_on_revoke,
                },
            )
            .unwrap();
        Member::resume(consumer, log)
    }

    /// Polls an already subscribed consumer (whose listener logs to `log`).
    fn resume(mut consumer: Consumer, log: Log) -> Member {
        let (stop, mut stopped) = watch::channel(false);
        let records = Arc::new(Mutex::new(Vec::new()));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (r, a, e) = (records.clone(), assignment.clone(), errors.clone());
        let task = tokio::spawn(async move {
            while !*stopped.borrow_and_update() {
                match consumer.poll(Duration::from_millis(50)).await {
                    Ok(recs) => r.lock().unwrap().extend(
                        recs.into_iter()
                            .map(|x| (TopicPartition::new(x.topic, x.partition), x.offset)),
                    ),
                    Err(err) => e.lock().unwrap().push(err),
                }
                *a.lock().unwrap() = consumer.assignment();
            }
            consumer
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

    fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.lock().unwrap().clone()
    }

    fn records(&self) -> Vec<(TopicPartition, i64)> {
        self.records.lock().unwrap().clone()
    }

    /// Stops polling and hands the consumer back (its heartbeats go on).
    async fn stop(self) -> Consumer {
        self.stop.send_replace(true);
        self.task.await.unwrap()
    }

    async fn close(self) {
        let errors = self.errors.lock().unwrap().clone();
        assert!(errors.is_empty(), "poll errors: {errors:?}");
        self.stop().await.close().await.unwrap();
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn partitions(topic: &str, n: i32) -> BTreeSet<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// The members' assignments are disjoint, cover `all`, and have these sizes (sorted).
fn split(members: &[&Member], all: &BTreeSet<TopicPartition>, sizes: &[usize]) -> bool {
    let mut seen = BTreeSet::new();
    let mut got = Vec::new();
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

async fn cluster_with(topic: &str, partitions: i32) -> Cluster {
    let cluster = Cluster::builder().brokers(1).start().await.unwrap();
    cluster.create_topic(topic, partitions, 1).await.unwrap();
    cluster
}

fn member_config(cluster: &Cluster, group: &str) -> brook::ConsumerBuilder {
    cluster
        .consumer()
        .group_id(group)
        .from_beginning()
        .config("enable.auto.commit", "false")
        .config("session.timeout.ms", "1000")
        .config("heartbeat.interval.ms", "100")
        .config("max.poll.interval.ms", "10000")
        .config("fetch.max.wait.ms", "50")
        .config("retry.backoff.ms", "20")
}

async fn produce(cluster: &Cluster, topic: &str, partitions: i32, per_partition: usize) {
    let producer = cluster.producer().build().await.unwrap();
    for p in 0..partitions {
        for i in 0..per_partition {
            producer
                .send_and_wait(ProducerRecord::new(topic, i.to_string()).partition(p))
                .await
                .unwrap();
        }
    }
    producer.close().await;
}

/// The group's committed offsets, read by an assign-mode consumer of the same group.
async fn committed(
    cluster: &Cluster,
    group: &str,
    tps: &[TopicPartition],
) -> BTreeMap<TopicPartition, Option<i64>> {
    let c = cluster.consumer().group_id(group).build().await.unwrap();
    c.committed(tps).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_share_partitions_and_a_joining_member_triggers_a_rebalance() {
    let cluster = cluster_with("orders", 6).await;
    let all = partitions("orders", 6);
    let a = Member::start(
        member_config(&cluster, "g").build().await.unwrap(),
        "orders",
        false,
    );
    let b = Member::start(
        member_config(&cluster, "g").build().await.unwrap(),
        "orders",
        false,
    );
    wait_until("two members share six partitions", || {
        split(&[&a, &b], &all, &[3, 3])
    })
    .await;
    let (first_a, first_b) = (a.assignment(), b.assignment());
    let c = Member::start(
        member_config(&cluster, "g").build().await.unwrap(),
        "orders",
        false,
    );
    wait_until("three members share six partitions", || {
        split(&[&a, &b, &c], &all, &[2, 2, 2])
    })
    .await;
    // Eager (range): the first two revoked all they had, then got their new share.
    for (m, first) in [(&a, first_a), (&b, first_b)] {
        let events = m.log.events();
        assert!(events.contains(&Ev::Revoked(first.clone())), "{events:?}");
        assert_eq!(
            events.last(),
            Some(&Ev::Assigned(m.assignment())),
            "{events:?}"
        );
    }
    assert_eq!(c.log.events().last(), Some(&Ev::Assigned(c.assignment())));
    for m in [a, b, c] {
        m.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_revokes_only_the_partitions_that_move() {
    let cluster = cluster_with("coop", 6).await;
    let all = partitions("coop", 6);
    let coop = || {
        member_config(&cluster, "cg").config("partition.assignment.strategy", "cooperative-sticky")
    };
    let a = Member::start(coop().build().await.unwrap(), "coop", false);
    let b = Member::start(coop().build().await.unwrap(), "coop", false);
    wait_until("two members share six partitions", || {
        split(&[&a, &b], &all, &[3, 3])
    })
    .await;
    let (first_a, first_b) = (a.assignment(), b.assignment());
    let (before_a, before_b) = (a.log.revoked().len(), b.log.revoked().len());
    let c = Member::start(coop().build().await.unwrap(), "coop", false);
    wait_until("three members share six partitions", || {
        split(&[&a, &b, &c], &all, &[2, 2, 2])
    })
    .await;
    let mut moved = BTreeSet::new();
    for (m, first, before) in [(&a, &first_a, before_a), (&b, &first_b, before_b)] {
        let revoked: Vec<TopicPartition> = m.log.revoked()[before..].to_vec();
        assert_eq!(
            revoked.len(),
            1,
            "only the partition that moves: {:?}",
            m.log.events()
        );
        let kept: BTreeSet<_> = first
            .iter()
            .filter(|tp| !revoked.contains(tp))
            .cloned()
            .collect();
        assert_eq!(kept, m.assignment().into_iter().collect(), "the rest stays");
        moved.extend(revoked);
    }
    let added: BTreeSet<_> = c.log.assigned().into_iter().collect();
    assert_eq!(
        added, moved,
        "the newcomer gets exactly the revoked partitions"
    );
    for m in [a, b, c] {
        m.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_loses_its_partitions_to_the_others() {
    let cluster = cluster_with("slow", 4).await;
    let all = partitions("slow", 4);
    let cfg = || member_config(&cluster, "sg").config("max.poll.interval.ms", "500");
    let a = Member::start(cfg().build().await.unwrap(), "slow", false);
    let b = Member::start(cfg().build().await.unwrap(), "slow", false);
    wait_until("two members share four partitions", || {
        split(&[&a, &b], &all, &[2, 2])
    })
    .await;
    let (b_log, b_had) = (b.log.clone(), b.assignment());
    let stalled = b.stop().await;
    wait_until("the polling member owns everything", || {
        split(&[&a], &all, &[4])
    })
    .await;
    assert_eq!(stalled.group_metadata(), None, "it left the group");
    // Polling again: the partitions are reported lost, then the member rejoins.
    let b = Member::resume(stalled, b_log.clone());
    wait_until("the two members share again", || {
        split(&[&a, &b], &all, &[2, 2])
    })
    .await;
    assert!(
        b_log.events().contains(&Ev::Lost(b_had)),
        "{:?}",
        b_log.events()
    );
    for m in [a, b] {
        m.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_leaves_and_the_others_take_over_well_before_the_session_timeout() {
    let cluster = cluster_with("leave", 4).await;
    let all = partitions("leave", 4);
    // A long session timeout: only the LeaveGroup explains a quick takeover.
    let cfg = || member_config(&cluster, "lg").config("session.timeout.ms", "10000");
    let a = Member::start(cfg().build().await.unwrap(), "leave", false);
    let b = Member::start(cfg().build().await.unwrap(), "leave", false);
    wait_until("two members share four partitions", || {
        split(&[&a, &b], &all, &[2, 2])
    })
    .await;
    let (b_log, b_had) = (b.log.clone(), b.assignment());
    let started = Instant::now();
    b.close().await;
    assert_eq!(
        b_log.events().last(),
        Some(&Ev::Revoked(b_had)),
        "close revokes first"
    );
    wait_until("the remaining member owns everything", || {
        split(&[&a], &all, &[4])
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committing_on_revoke_gives_no_duplicates_across_a_clean_rebalance() {
    let cluster = cluster_with("exact", 4).await;
    let all = partitions("exact", 4);
    produce(&cluster, "exact", 4, 100).await;
    let cfg = || member_config(&cluster, "eg").config("max.poll.records", "7");
    let a = Member::start(cfg().build().await.unwrap(), "exact", true);
    wait_until("the first member consumed some", || a.records().len() > 50).await;
    let b = Member::start(cfg().build().await.unwrap(), "exact", true);
    wait_until("all 400 records consumed", || {
        a.records().len() + b.records().len() >= 400
    })
    .await;
    wait_until("both own partitions", || split(&[&a, &b], &all, &[2, 2])).await;
    let mut every = a.records();
    every.extend(b.records());
    let unique: BTreeSet<_> = every.iter().cloned().collect();
    assert_eq!(unique.len(), 400, "every record consumed");
    assert_eq!(every.len(), 400, "none consumed twice");
    assert!(!a.log.revoked().is_empty(), "a rebalance happened");
    for m in [a, b] {
        m.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_commit_callbacks_arrive_in_order_and_the_committed_offset_never_moves_back() {
    let cluster = cluster_with("acks", 1).await;
    produce(&cluster, "acks", 1, 200).await;
    let tp = TopicPartition::new("acks", 0);
    let mut c = member_config(&cluster, "ag").build().await.unwrap();
    c.subscribe(vec!["acks".into()], brook::client::NoopRebalanceListener)
        .unwrap();
    // A watcher samples the committed offset while the commits go out.
    let (done_tx, done_rx) = watch::channel(false);
    let watcher = {
        let observer = cluster.consumer().group_id("ag").build().await.unwrap();
        let tp = tp.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !*done_rx.borrow() {
                if let Ok(m) = observer.committed(std::slice::from_ref(&tp)).await {
                    seen.extend(m[&tp]);
                }
                // Sampling pace, not a wait for a condition.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        })
    };
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut consumed = 0;
    let deadline = Instant::now() + WAIT;
    while consumed < 200 {
        assert!(Instant::now() < deadline, "consumed {consumed} of 200");
        let recs = c.poll(Duration::from_millis(50)).await.unwrap();
        for r in recs {
            consumed += 1;
            let order = order.clone();
            c.commit_async_offsets(
                BTreeMap::from([(tp.clone(), r.offset + 1)]),
                Some(Box::new(move |offsets, result| {
                    let o = offsets.values().next().copied().unwrap_or(-1);
                    order.lock().unwrap().push((o, result.is_ok()));
                })),
            );
        }
    }
    c.commit_sync().await.unwrap();
    done_tx.send_replace(true);
    let seen = watcher.await.unwrap();
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 200);
    let offsets: Vec<i64> = order.iter().map(|(o, _)| *o).collect();
    assert_eq!(
        offsets,
        (1..=200).collect::<Vec<_>>(),
        "callbacks in commit order"
    );
    assert!(order.iter().all(|(_, ok)| *ok), "{order:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "committed offset moved back: {seen:?}"
    );
    assert_eq!(
        committed(&cluster, "ag", std::slice::from_ref(&tp)).await[&tp],
        Some(200)
    );
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_zombie_cannot_commit() {
    let cluster = cluster_with("zombie", 2).await;
    let all = partitions("zombie", 2);
    let zombie_end = cluster.network().new_client();
    let a = Member::start(
        member_config(&cluster, "zg").build().await.unwrap(),
        "zombie",
        false,
    );
    let z = Member::start(
        member_config(&cluster, "zg")
            .endpoint(zombie_end)
            .build()
            .await
            .unwrap(),
        "zombie",
        false,
    );
    wait_until("two members share two partitions", || {
        split(&[&a, &z], &all, &[1, 1])
    })
    .await;
    let z_had = z.assignment();
    let mut zombie = z.stop().await;
    let generation = zombie.group_metadata().unwrap().generation_id;
    // Cut the zombie off: its session expires and the coordinator gives its partition away,
    // while the zombie still believes it is a member of its generation.
    cluster.partition(zombie_end, 1).await.unwrap();
    wait_until("the other member owns everything", || {
        split(&[&a], &all, &[2])
    })
    .await;
    cluster.heal().await.unwrap();
    let before = committed(&cluster, "zg", &z_had).await;
    let offsets: BTreeMap<TopicPartition, i64> = z_had.iter().map(|tp| (tp.clone(), 99)).collect();
    let err = zombie.commit_sync_offsets(offsets).await.unwrap_err();
    assert!(
        matches!(
            err.code(),
            Some(ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId)
        ),
        "{err} (generation {generation})"
    );
    assert_eq!(
        committed(&cluster, "zg", &z_had).await,
        before,
        "nothing committed"
    );
    zombie.close().await.unwrap();
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_gets_its_partitions_back_without_a_rebalance() {
    let cluster = cluster_with("static", 4).await;
    let all = partitions("static", 4);
    let cfg = |instance: &str| {
        member_config(&cluster, "stg")
            .config("group.instance.id", instance)
            .config("session.timeout.ms", "10000")
    };
    let a = Member::start(cfg("a").build().await.unwrap(), "static", false);
    let b = Member::start(cfg("b").build().await.unwrap(), "static", false);
    wait_until("two members share four partitions", || {
        split(&[&a, &b], &all, &[2, 2])
    })
    .await;
    let a_had = a.assignment();
    let b_events = b.log.events();
    // A static member's close sends no LeaveGroup: its place waits for it.
    a.close().await;
    let a2 = Member::start(cfg("a").build().await.unwrap(), "static", false);
    wait_until("the restarted member owns its partitions again", || {
        a2.assignment() == a_had
    })
    .await;
    assert_eq!(a2.log.events(), vec![Ev::Assigned(a_had.clone())]);
    // Had the rejoin started a rebalance, b (eager) would have revoked before rejoining, and
    // the join phase cannot end without b: so by now b's revocation would be logged.
    assert_eq!(b.log.events(), b_events, "the other member was not revoked");
    let (a2, b) = (a2.stop().await, b.stop().await);
    let generation = |c: &Consumer| c.group_metadata().map(|m| m.generation_id);
    assert_eq!(
        generation(&a2),
        generation(&b),
        "one generation, no rebalance"
    );
    a2.close().await.unwrap();
    b.close().await.unwrap();
}
