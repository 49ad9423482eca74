//! Leader epochs, truncation and failover on the embedded `brook::Cluster` (SPEC §4, §6;
//! kafka-semantics E3–E12, I6, I7; scenarios T7, T8, T9, T14, T20).
//!
//! Broker 1 hosts the only controller, so every scenario keeps it up: the partitions under test
//! live on other brokers (a topic name is picked until the replica assignment fits), and broker 1
//! is at most a follower that is never killed or cut off.
//!
//! Observation: leadership, ISR and HW come from `Cluster::view`; a follower's own LEO / HW are
//! read white-box from the running broker (`Cluster::broker`), and whole logs are compared
//! batch by batch (offsets, leader epoch, CRC and bytes) straight from the segment files.

#[path = "common/truncation.rs"]
mod truncation;
use truncation::*;

// ------------------------------------------------------------------------------------------
// T7

/// T7 / E8 (KIP-101 scenario 1). RF2 {A, B}, min ISR 1, acks=all: m0 and m1 are committed, B
/// holds both but restarts with a high watermark below its LEO (B's HW checkpoint is older
/// than m1). A dies before B fetches again. B must not truncate to its HW on restart; when it
/// takes over it still has m1, a consumer reads m0 and m1, and A, back, ends identical.
///
/// Adaptation: a restarted broker re-registers, and Brook (like KRaft, KIP-903/966) then
/// removes it from the ISR at once, so after its restart B cannot win a *clean* election — the
/// topic enables unclean election, the only way left for B to lead. What is asserted is E8's
/// point: the restarted follower kept m1 (no truncation to its HW) and leads with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t7_restarted_follower_does_not_truncate_to_its_hw_and_leads_with_m1() {
    // No periodic HW checkpoint during the test: B restarts with an HW below its LEO.
    let cluster = cluster(
        3,
        &[
            ("replica.high.watermark.checkpoint.interval.ms", "3600000"),
            ("log.retention.check.interval.ms", "3600000"),
        ],
    )
    .await;
    let (topic, replicas) = topic_where(
        &cluster,
        "t7",
        2,
        &[
            ("min.insync.replicas", "1"),
            ("unclean.leader.election.enable", "true"),
        ],
        |r| !r.contains(&1),
    )
    .await;
    let (a, b) = (replicas[0], replicas[1]);
    wait_leader_and_isr(&cluster, &topic, a, &[a, b]).await;

    assert_eq!(
        produce_committed(&cluster, a, &topic, record("m0")).await,
        0
    );
    assert_eq!(
        produce_committed(&cluster, a, &topic, record("m1")).await,
        1
    );
    // acks=all: B has both.
    wait_leos(&cluster, &topic, &[b], 2).await;

    // B restarts while it cannot reach A (so it cannot fetch m1's HW, nor anything else).
    cluster.partition(a, b).await.unwrap();
    cluster.kill_keep_page_cache(b).await.unwrap();
    cluster.restart(b).await.unwrap();
    let (leo, hw) = eventually("B's replica loaded after restart", WAIT, || async {
        replica(&cluster, b, &topic)
            .await
            .ok_or_else(|| "not loaded".to_string())
    })
    .await;
    assert!(
        hw < 2,
        "precondition: B restarted with HW {hw} below m1's end"
    );
    assert_eq!(
        leo, 2,
        "B truncated on restart (HW {hw}): m1 must stay (E8)"
    );

    // A dies before B fetched again; B takes over.
    let epoch_before = leader_epoch(&cluster.view().await, &topic);
    cluster.kill_keep_page_cache(a).await.unwrap();
    let view = wait_view(&cluster, "B leads", |v| {
        v.serving_leader(&topic, P) && v.leader(&topic, P) == Some(b)
    })
    .await;
    assert!(
        leader_epoch(&view, &topic) > epoch_before,
        "{}",
        view.summary()
    );
    assert_eq!(
        replica(&cluster, b, &topic).await.map(|r| r.0),
        Some(2),
        "m1 is still on B"
    );
    let read = eventually("a consumer reads m0, m1 from B", WAIT, || async {
        let v = values(&cluster, b, &topic).await;
        if v.len() >= 2 {
            Ok(v)
        } else {
            Err(format!("{v:?}"))
        }
    })
    .await;
    assert_eq!(read, ["m0", "m1"]);

    // A returns as a follower and keeps identical content.
    cluster.heal().await.unwrap();
    cluster.restart(a).await.unwrap();
    wait_leader_and_isr(&cluster, &topic, b, &[a, b]).await;
    assert_eq!(
        produce_committed(&cluster, b, &topic, record("m2")).await,
        2
    );
    wait_leos(&cluster, &topic, &[a, b], 3).await;
    let log = assert_same_logs(&cluster, &topic, &[a, b]);
    assert_eq!(log.len(), 3);
    assert_eq!(values(&cluster, b, &topic).await, ["m0", "m1", "m2"]);
}

// ------------------------------------------------------------------------------------------
// T8

/// T8 / E9 (KIP-101 scenario 2). RF2 {A, B}: 9 single-record batches in epoch 0 on both, A
/// having fsynced only the first 5 (flush.messages=5). B stops (process crash: it keeps all 9),
/// then A loses power (keeps 5). A restarts alone, leads a new epoch, and writes 10 more at
/// offsets 5..14, so offsets 5..8 now differ between A and B. B starts: it must truncate to
/// the end of epoch 0 on A (offset 5), not to its HW, and re-fetch — both logs end identical
/// per batch (offsets, epoch, CRC, bytes) with strictly increasing offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t8_divergent_follower_truncates_to_the_epoch_boundary_and_logs_end_identical() {
    capture_truncations();
    let cluster = cluster(3, &[]).await;
    let (topic, replicas) = topic_where(
        &cluster,
        "t8",
        2,
        &[("min.insync.replicas", "1"), ("flush.messages", "5")],
        |r| !r.contains(&1),
    )
    .await;
    let (a, b) = (replicas[0], replicas[1]);
    wait_leader_and_isr(&cluster, &topic, a, &[a, b]).await;
    for i in 0..9 {
        assert_eq!(
            produce_committed(&cluster, a, &topic, record(&format!("old-{i}"))).await,
            i
        );
    }
    wait_leos(&cluster, &topic, &[b], 9).await;

    // Stop B, wait until A alone is the ISR, then A loses power.
    cluster.kill_keep_page_cache(b).await.unwrap();
    wait_leader_and_isr(&cluster, &topic, a, &[a]).await;
    cluster.kill(a).await.unwrap();
    let b_before = stored_log(&cluster, b, &topic);
    assert_eq!(b_before.len(), 9, "B kept its page cache");
    let a_after_loss = stored_log(&cluster, a, &topic);
    assert_eq!(
        a_after_loss.len(),
        5,
        "A kept what it fsynced (flush.messages=5)"
    );
    assert_eq!(
        a_after_loss.iter().map(Stored::key).collect::<Vec<_>>(),
        b_before[..5].iter().map(Stored::key).collect::<Vec<_>>()
    );

    // A alone: re-elected (it is the only ISR member) in a new epoch starting at 5.
    cluster.restart(a).await.unwrap();
    let view = wait_view(&cluster, "A leads again", |v| {
        v.serving_leader(&topic, P) && v.leader(&topic, P) == Some(a) && leader_epoch(v, &topic) > 0
    })
    .await;
    let new_epoch = leader_epoch(&view, &topic);
    assert_eq!(replica(&cluster, a, &topic).await.map(|r| r.0), Some(5));
    for i in 0..10 {
        assert_eq!(
            produce_committed(&cluster, a, &topic, record(&format!("new-{i}"))).await,
            5 + i
        );
    }

    // B comes back and must converge on A's log.
    cluster.restart(b).await.unwrap();
    wait_leader_and_isr(&cluster, &topic, a, &[a, b]).await;
    wait_leos(&cluster, &topic, &[a, b], 15).await;
    assert_eq!(
        truncations_of(&topic),
        [(9, 5)],
        "B cut its log from 9 to the end of epoch 0 on A, and only there"
    );
    let log = assert_same_logs(&cluster, &topic, &[a, b]);
    assert_eq!(log.len(), 15);
    assert_eq!(
        log[..5].iter().map(Stored::key).collect::<Vec<_>>(),
        b_before[..5].iter().map(Stored::key).collect::<Vec<_>>(),
        "the common prefix is untouched"
    );
    assert!(
        log[..5].iter().all(|s| s.epoch == 0),
        "{:?}",
        log.iter().map(Stored::key).collect::<Vec<_>>()
    );
    assert!(
        log[5..].iter().all(|s| s.epoch == new_epoch),
        "{:?}",
        log.iter().map(Stored::key).collect::<Vec<_>>()
    );
    let mut expected: Vec<String> = (0..5).map(|i| format!("old-{i}")).collect();
    expected.extend((0..10).map(|i| format!("new-{i}")));
    assert_eq!(values(&cluster, a, &topic).await, expected);
}

// ------------------------------------------------------------------------------------------
// T9

/// T9 / E10 (KIP-279 `shouldSurviveFastLeaderChange`). RF2 {A, B}: five rounds of {produce 1
/// record acks=all, bounce the follower, wait for ISR = 2, bounce the leader, wait for ISR = 2}.
/// After every round both replicas' LEO equals the number of records written and their logs
/// are identical. ("Bounce" = clean stop and start; the restart re-registers the broker, which
/// moves it out of the ISR and leadership at once, so every leader bounce is a leader change.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t9_five_rounds_of_fast_leader_changes_keep_both_logs_complete_and_identical() {
    five_rounds_of_bounces("t9", false).await;
}

/// T9 with hard bounces: every bounce is a power loss (no flush policy, so the bounced broker
/// comes back without what it had not fsynced). acks=all records were on the other replica, so
/// after every round both LEOs still equal the records written and the logs are identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t9_five_rounds_of_power_loss_bounces_keep_both_logs_complete_and_identical() {
    five_rounds_of_bounces("t9hard", true).await;
}

fn partition_epoch(v: &ClusterView, topic: &str) -> i32 {
    v.topic(topic)
        .and_then(|t| t.partitions.into_iter().find(|p| p.partition == P))
        .map_or(-1, |p| p.partition_epoch)
}

async fn bounce(cluster: &Cluster, id: i32, hard: bool) {
    if hard {
        cluster.kill(id).await.unwrap();
    } else {
        cluster.shutdown_broker(id).await.unwrap();
    }
    cluster.restart(id).await.unwrap();
}

async fn five_rounds_of_bounces(prefix: &str, hard: bool) {
    let cluster = cluster(3, &[]).await;
    let (topic, replicas) =
        topic_where(&cluster, prefix, 2, &[("min.insync.replicas", "1")], |r| {
            !r.contains(&1)
        })
        .await;
    wait_isr_len(&cluster, &topic, 2).await;
    let mut written: i64 = 0;
    for round in 0..5 {
        let view = wait_isr_len(&cluster, &topic, 2).await;
        let leader = view.leader(&topic, P).unwrap();
        let follower = *replicas.iter().find(|r| **r != leader).unwrap();
        let offset =
            produce_committed(&cluster, leader, &topic, record(&format!("r{round}"))).await;
        assert_eq!(offset, written, "round {round}");
        written += 1;

        // Follower bounce: it leaves the ISR on re-registering and rejoins once caught up
        // (two ISR changes, so the partition epoch moves by at least 2).
        let pe = partition_epoch(&cluster.view().await, &topic);
        bounce(&cluster, follower, hard).await;
        let view = wait_view(
            &cluster,
            &format!("round {round}: follower back in the ISR"),
            |v| {
                v.serving_leader(&topic, P)
                    && v.isr(&topic, P).len() == 2
                    && partition_epoch(v, &topic) >= pe + 2
            },
        )
        .await;

        // Leader bounce: leadership moves to the other replica (new epoch), and the old leader
        // rejoins as its follower.
        let leader = view.leader(&topic, P).unwrap();
        let epoch = leader_epoch(&view, &topic);
        bounce(&cluster, leader, hard).await;
        wait_view(&cluster, &format!("round {round}: new epoch, ISR 2"), |v| {
            v.serving_leader(&topic, P)
                && leader_epoch(v, &topic) > epoch
                && v.isr(&topic, P).len() == 2
        })
        .await;

        wait_leos(&cluster, &topic, &replicas, written).await;
        let log = assert_same_logs(&cluster, &topic, &replicas);
        assert_eq!(log.len() as i64, written, "round {round}");
    }
    let leader = wait_isr_len(&cluster, &topic, 2)
        .await
        .leader(&topic, P)
        .unwrap();
    let expected: Vec<String> = (0..5).map(|r| format!("r{r}")).collect();
    let read = eventually("all records readable", WAIT, || async {
        let v = values(&cluster, leader, &topic).await;
        if v.len() >= 5 {
            Ok(v)
        } else {
            Err(format!("{v:?}"))
        }
    })
    .await;
    assert_eq!(read, expected);
}
