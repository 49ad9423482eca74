//! Elections and fencing on the embedded 3-broker cluster (SPEC §4, §5; reference §4 E1–E3,
//! scenarios T10 and T11). Broker 1 hosts the only controller and is kept out of the faults.

#[path = "common/isr.rs"]
mod isr;
use isr::*;

// ---- T10: unclean election off vs on ---------------------------------------------------------

/// The T10 set-up on an RF2, min.insync 1 partition {A, B} (neither is broker 1): `base` records
/// on both, then B stops, `lost` records go to A alone (ISR {A}), then A stops and B restarts.
/// Returns (partition, A, B, leader epoch while A led).
async fn t10_setup(cluster: &Cluster, topic: &str, unclean: bool) -> (i32, i32, i32, i32) {
    let unclean = if unclean { "true" } else { "false" };
    create_topic(
        cluster,
        topic,
        6,
        2,
        &[
            ("min.insync.replicas", "1"),
            ("unclean.leader.election.enable", unclean),
        ],
    )
    .await;
    let (p, a, replicas) =
        pick_partition(cluster, topic, 6, "replicas without broker 1", |_, r| {
            !r.contains(&1)
        })
        .await;
    let b = *replicas.iter().find(|r| **r != a).unwrap();
    produce(cluster, topic, p, Acks::All, &values("base", 5)).await;
    cluster
        .wait_until(
            |v| at_leader(v, topic, p).is_some_and(|d| follower_leo(d, b) == 5),
            WAIT,
        )
        .await
        .unwrap();

    // B crashes (the process only: what it has stays). It is fenced and leaves the ISR.
    cluster.kill_keep_page_cache(b).await.unwrap();
    cluster
        .wait_until(|v| v.isr(topic, p) == [a], WAIT)
        .await
        .unwrap();
    produce(cluster, topic, p, Acks::All, &values("lost", 20)).await;
    let v = cluster
        .wait_until(|v| v.high_watermark(topic, p) == Some(25), WAIT)
        .await
        .unwrap();
    let epoch_a = v.leader_epoch(topic, p).unwrap();

    // A crashes too: no live ISR member is left, the partition goes offline.
    cluster.kill_keep_page_cache(a).await.unwrap();
    cluster
        .wait_until(|v| v.leader(topic, p).is_none(), WAIT)
        .await
        .unwrap();
    cluster.restart(b).await.unwrap();
    cluster
        .wait_until(|v| v.lists_unfenced(1, &[b]), WAIT)
        .await
        .unwrap();
    (p, a, b, epoch_a)
}

fn leader_unavailable_class(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::LeaderNotAvailable
            | ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
    )
}

/// T10 with unclean election off (E1): only the out-of-sync replica is alive, so the partition
/// stays leaderless and writes fail with a leader-unavailable error; nothing is lost once the ISR
/// member returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_unclean_off_partition_stays_offline_and_loses_nothing() {
    let cluster = start_cluster(500).await;
    let (p, a, b, epoch_a) = t10_setup(&cluster, "t10off", false).await;

    // Leaderless for well over a session timeout and a few controller ticks, B alive meanwhile.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        let v = cluster.view().await;
        assert_eq!(
            v.leader("t10off", p),
            None,
            "out-of-sync replica {b} must not lead with unclean election off: {}",
            v.summary()
        );
        assert_eq!(v.isr("t10off", p), [a], "{}", v.summary());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A write straight to B is refused as not-leader / leader-not-available.
    let r = raw_produce(&cluster, b, "t10off", p, -1, 1000, "offline")
        .await
        .unwrap();
    assert!(
        leader_unavailable_class(code(r.error_code)),
        "produce to the out-of-sync replica: {r:?}"
    );
    eprintln!("t10off: produce to B: {}", code(r.error_code));
    let f = raw_fetch(&cluster, b, "t10off", p, -1).await;
    assert!(
        leader_unavailable_class(code(f.error_code)),
        "fetch from the out-of-sync replica: {f:?}"
    );
    // And through the client: it cannot find a leader until its delivery timeout.
    let producer = cluster
        .producer()
        .acks(Acks::All)
        .linger(Duration::ZERO)
        .request_timeout(Duration::from_millis(300))
        .delivery_timeout(Duration::from_millis(1500))
        .build()
        .await
        .unwrap();
    let failed = producer
        .send_and_wait(ProducerRecord::new("t10off", "offline").partition(p))
        .await;
    eprintln!("t10off: client produce: {failed:?}");
    match &failed {
        Err(ClientError::Kafka { code, .. }) => {
            assert!(leader_unavailable_class(*code), "{failed:?}")
        }
        Err(ClientError::Timeout { last_error, .. }) => {
            if let Some(e) = last_error {
                assert!(
                    e.code().is_some_and(leader_unavailable_class)
                        || matches!(**e, ClientError::Transport(_)),
                    "{failed:?}"
                );
            }
        }
        other => panic!("produce to a leaderless partition: {other:?}"),
    }
    producer.close().await;

    // The ISR member returns: it leads again (clean election, new epoch) with all 25 records.
    cluster.restart(a).await.unwrap();
    let v = cluster
        .wait_until(
            |v| {
                v.serving_leader("t10off", p)
                    && v.leader("t10off", p) == Some(a)
                    && v.leader_epoch("t10off", p).is_some_and(|e| e > epoch_a)
                    && v.high_watermark("t10off", p) == Some(25)
            },
            WAIT,
        )
        .await
        .unwrap();
    eprintln!("t10off: back to {}", v.summary());
    let mut expected = values("base", 5);
    expected.extend(values("lost", 20));
    assert_eq!(consume(&cluster, "t10off", p, 25).await, expected);
    // B catches up and rejoins; both logs end up identical.
    cluster
        .wait_until(
            |v| {
                v.isr("t10off", p).len() == 2
                    && at_leader(v, "t10off", p).is_some_and(|d| follower_leo(d, b) == 25)
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        local_log(&cluster, b, "t10off", p).await,
        local_log(&cluster, a, "t10off", p).await
    );
}

/// T10 with `unclean.leader.election.enable=true` on the topic (E2): the out-of-sync replica
/// leads with ISR = {itself} in a new epoch; the 20 records it lacked are gone; when the old
/// leader returns it truncates to the new leader's epoch boundary and the logs converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_unclean_on_out_of_sync_replica_leads_and_old_leader_truncates() {
    let cluster = start_cluster(500).await;
    let (p, a, b, epoch_a) = t10_setup(&cluster, "t10on", true).await;

    let v = cluster
        .wait_until(
            |v| v.serving_leader("t10on", p) && v.leader("t10on", p) == Some(b),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(v.isr("t10on", p), [b], "{}", v.summary());
    assert!(
        v.leader_epoch("t10on", p).unwrap() > epoch_a,
        "{}",
        v.summary()
    );
    assert_eq!(
        v.log_end_offset("t10on", p, b),
        Some(5),
        "B never had the 20"
    );
    produce(&cluster, "t10on", p, Acks::All, &values("after", 5)).await;

    let mut expected = values("base", 5);
    expected.extend(values("after", 5));
    assert_eq!(
        consume(&cluster, "t10on", p, 10).await,
        expected,
        "the 20 are gone"
    );

    // A returns: it must drop its 20 records (above B's epoch boundary, offset 5) and re-fetch.
    cluster.restart(a).await.unwrap();
    let v = cluster
        .wait_until(
            |v| {
                v.leader("t10on", p) == Some(b)
                    && v.isr("t10on", p).len() == 2
                    && at_leader(v, "t10on", p)
                        .is_some_and(|d| d.log_end_offset == 10 && follower_leo(d, a) == 10)
            },
            WAIT,
        )
        .await
        .unwrap();
    eprintln!("t10on: converged {}", v.summary());
    assert_eq!(local_leo(&cluster, a, "t10on", p).await, 10);
    assert_eq!(local_leo(&cluster, b, "t10on", p).await, 10);
    let log_a = local_log(&cluster, a, "t10on", p).await;
    let log_b = local_log(&cluster, b, "t10on", p).await;
    assert_eq!(log_a, log_b, "the logs converge");
    let read: Vec<String> = log_a.into_iter().map(|(_, v)| v).collect();
    assert_eq!(read, expected);
    assert_eq!(consume(&cluster, "t10on", p, 10).await, expected);
}

// ---- T11: zombie leader ----------------------------------------------------------------------

/// T11 (E3, F1, F4): an isolated leader is replaced (leader epoch +1); an acks=all write it
/// accepts can never be acknowledged; a fetch with its old epoch is fenced by the new leader;
/// after heal it follows, truncates its uncommitted record and converges on the new leader's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_isolated_zombie_leader_is_fenced_and_truncated() {
    let cluster = start_cluster(500).await;
    create_topic(&cluster, "t11", 3, 3, &[("min.insync.replicas", "2")]).await;
    let (p, zombie, _) = pick_partition(
        &cluster,
        "t11",
        3,
        "a leader other than broker 1",
        |l, _| l != 1,
    )
    .await;
    produce(&cluster, "t11", p, Acks::All, &values("before", 5)).await;
    let v = cluster
        .wait_until(
            |v| {
                at_leader(v, "t11", p).is_some_and(|d| {
                    d.high_watermark == 5 && d.replica_states.iter().all(|r| r.log_end_offset == 5)
                })
            },
            WAIT,
        )
        .await
        .unwrap();
    let old_epoch = v.leader_epoch("t11", p).unwrap();

    cluster.isolate(zombie).await.unwrap();
    // The controller fences the silent broker and elects another ISR member, one epoch later.
    let v = cluster
        .wait_until(
            |v| {
                v.leader("t11", p).is_some_and(|l| l != zombie)
                    && v.serving_leader("t11", p)
                    && !v.isr("t11", p).contains(&zombie)
            },
            WAIT,
        )
        .await
        .unwrap();
    let new_leader = v.leader("t11", p).unwrap();
    let new_epoch = v.leader_epoch("t11", p).unwrap();
    assert_eq!(new_epoch, old_epoch + 1, "{}", v.summary());
    eprintln!("t11: {zombie} isolated, {new_leader} leads in epoch {new_epoch}");

    // The zombie still believes it leads; a write sent straight to it is never acknowledged.
    let zombie_leo = local_leo(&cluster, zombie, "t11", p).await;
    assert_eq!(zombie_leo, 5);
    let r = raw_produce(&cluster, zombie, "t11", p, -1, 1500, "zombie").await;
    eprintln!("t11: acks=all produce to the zombie: {r:?}");
    if let Ok(resp) = &r {
        let c = code(resp.error_code);
        assert_ne!(
            c,
            ErrorCode::None,
            "the zombie acknowledged a write: {resp:?}"
        );
        assert!(
            matches!(
                c,
                ErrorCode::RequestTimedOut
                    | ErrorCode::NotEnoughReplicas
                    | ErrorCode::NotEnoughReplicasAfterAppend
                    | ErrorCode::NotLeaderOrFollower
                    | ErrorCode::FencedLeaderEpoch
            ),
            "{resp:?}"
        );
    }
    // It did take the write into its log (an uncommitted suffix that heal must truncate).
    assert_eq!(
        local_leo(&cluster, zombie, "t11", p).await,
        zombie_leo + 1,
        "the zombie should have appended the write it could not commit"
    );
    assert!(
        local_log(&cluster, zombie, "t11", p)
            .await
            .iter()
            .any(|(o, v)| *o == zombie_leo && v == "zombie")
    );

    // A fetch carrying the old epoch is fenced by the new leader; the current epoch is served.
    let f = raw_fetch(&cluster, new_leader, "t11", p, old_epoch).await;
    assert_eq!(code(f.error_code), ErrorCode::FencedLeaderEpoch, "{f:?}");
    let f = raw_fetch(&cluster, new_leader, "t11", p, new_epoch).await;
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");

    // The new leader takes writes (at the offsets the zombie used).
    produce(&cluster, "t11", p, Acks::All, &values("after", 3)).await;

    cluster.heal().await.unwrap();
    let v = cluster
        .wait_until(
            |v| {
                v.leader("t11", p) == Some(new_leader)
                    && v.partition_at(zombie, "t11", p)
                        .is_some_and(|d| d.leader == new_leader && d.log_end_offset < 0)
                    && at_leader(v, "t11", p).is_some_and(|d| {
                        d.isr.len() == 3 && d.log_end_offset == 8 && follower_leo(d, zombie) == 8
                    })
            },
            WAIT,
        )
        .await
        .unwrap();
    eprintln!("t11: healed {}", v.summary());
    assert_eq!(local_leo(&cluster, zombie, "t11", p).await, 8);
    let zombie_log = local_log(&cluster, zombie, "t11", p).await;
    assert_eq!(zombie_log, local_log(&cluster, new_leader, "t11", p).await);
    assert!(
        zombie_log.iter().all(|(_, v)| v != "zombie"),
        "the zombie kept its uncommitted record: {zombie_log:?}"
    );
    let mut expected = values("before", 5);
    expected.extend(values("after", 3));
    assert_eq!(consume(&cluster, "t11", p, 8).await, expected);
}
