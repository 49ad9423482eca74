//! Idempotent dedupe across failover and restart (T14) and the last-replica-standing case with
//! the HW frozen below min ISR (T20) on the embedded cluster. Broker 1 hosts the only controller
//! and is kept out of the faults.

#[path = "common/truncation.rs"]
mod truncation;
use truncation::*;

// ------------------------------------------------------------------------------------------
// T14

/// T14 / I6, I7. RF3, min ISR 2: an idempotent producer's batches b1..b5 are committed. The
/// leader is killed (-9); another is elected, and b3 resent by hand is deduplicated — NONE with
/// b3's original offset, nothing appended. After a clean restart of every broker, b5 and b4 are
/// deduplicated again with their original offsets: Brook's producer-state snapshots keep the whole
/// 5-batch window (Kafka's keep only the last batch, and answer b4 OUT_OF_ORDER_SEQUENCE_NUMBER,
/// which a client bumping its epoch turns into a duplicate) — never written twice either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t14_dedupe_survives_leader_kill_and_full_clean_restart() {
    let cluster = cluster(3, &[]).await;
    let (topic, replicas) = topic_where(&cluster, "t14", 3, &[("min.insync.replicas", "2")], |r| {
        r[0] != 1
    })
    .await;
    let a = replicas[0];
    wait_leader_and_isr(&cluster, &topic, a, &replicas).await;

    let init = client(&cluster, a)
        .init_producer_id(InitProducerIdRequest {
            transaction_timeout_ms: 0,
            producer_id: -1,
            producer_epoch: -1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ErrorCode::from_wire(init.error_code),
        ErrorCode::None,
        "{init:?}"
    );
    let (pid, epoch) = (init.producer_id, init.producer_epoch as i16);
    let batches: Vec<Bytes> = (0..5)
        .map(|i| idem_batch(pid, epoch, i * 2, 2, "b"))
        .collect();
    let mut offsets = Vec::new();
    for bb in &batches {
        offsets.push(produce_committed(&cluster, a, &topic, bb.clone()).await);
    }
    assert_eq!(offsets, [0, 2, 4, 6, 8]);
    wait_leos(&cluster, &topic, &replicas, 10).await;

    // kill -9 the leader; another ISR member takes over.
    let epoch_before = leader_epoch(&cluster.view().await, &topic);
    cluster.kill_keep_page_cache(a).await.unwrap();
    let view = wait_view(&cluster, "a new leader", |v| {
        v.serving_leader(&topic, P)
            && v.leader(&topic, P).is_some_and(|l| l != a)
            && leader_epoch(v, &topic) > epoch_before
    })
    .await;
    let b = view.leader(&topic, P).unwrap();
    let p = produce(&cluster, b, &topic, -1, 5000, batches[2].clone()).await;
    assert_eq!(
        (code(&p), p.base_offset),
        (ErrorCode::None, offsets[2]),
        "b3 resent: {p:?}"
    );
    assert_eq!(
        replica(&cluster, b, &topic).await.map(|r| r.0),
        Some(10),
        "nothing appended"
    );

    // Everything restarts cleanly (controller last down, first up).
    cluster.restart(a).await.unwrap();
    wait_isr_len(&cluster, &topic, 3).await;
    wait_leos(&cluster, &topic, &replicas, 10).await;
    let mut order = replicas.clone();
    order.sort_unstable_by(|x, y| y.cmp(x));
    for id in &order {
        cluster.shutdown_broker(*id).await.unwrap();
    }
    for id in order.iter().rev() {
        cluster.restart(*id).await.unwrap();
    }
    let view = wait_isr_len(&cluster, &topic, 3).await;
    let leader = view.leader(&topic, P).unwrap();
    wait_leos(&cluster, &topic, &replicas, 10).await;

    let p = produce(&cluster, leader, &topic, -1, 5000, batches[4].clone()).await;
    assert_eq!(
        (code(&p), p.base_offset),
        (ErrorCode::None, offsets[4]),
        "b5 resent: {p:?}"
    );
    let p = produce(&cluster, leader, &topic, -1, 5000, batches[3].clone()).await;
    assert_eq!(
        (code(&p), p.base_offset),
        (ErrorCode::None, offsets[3]),
        "b4 resent: {p:?}"
    );
    assert_eq!(
        replica(&cluster, leader, &topic).await.map(|r| r.0),
        Some(10),
        "nothing appended"
    );

    let expected: Vec<String> = (0..10).map(|s| format!("b/{s}")).collect();
    let read = eventually("all 10 records readable", WAIT, || async {
        let v = values(&cluster, leader, &topic).await;
        if v.len() >= 10 {
            Ok(v)
        } else {
            Err(format!("{v:?}"))
        }
    })
    .await;
    assert_eq!(read, expected, "exactly one copy of every record");
    wait_leos(&cluster, &topic, &replicas, 10).await;
}

// ------------------------------------------------------------------------------------------
// T20

/// T20 / E12, P8. RF3 {A, B, C}, min ISR 2, flush.messages=1. Both followers are cut off from
/// the leader: the ISR shrinks to {A}, and an acks=all write appended just before the shrink
/// times out (HW frozen below min ISR, P8) instead of being acknowledged; later acks=all
/// writes are refused. Then A loses power, the network heals and A returns: it is the last
/// ISR member, so it is re-elected cleanly and B, C truncate to it. Every acknowledged write
/// (acks=all before the fault, acks=1 during it — flushed before the ack) is still readable,
/// exactly once.
///
/// Four brokers, so that the partition's replicas exclude broker 1 (the controller), which must
/// stay reachable from A for the ISR shrink.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_hw_freezes_below_min_isr_and_flushed_acks_survive_the_last_replicas_power_loss() {
    let cluster = cluster(4, &[]).await;
    let (topic, replicas) = topic_where(
        &cluster,
        "t20",
        3,
        &[("min.insync.replicas", "2"), ("flush.messages", "1")],
        |r| !r.contains(&1),
    )
    .await;
    let a = replicas[0];
    let (b, c) = (replicas[1], replicas[2]);
    wait_leader_and_isr(&cluster, &topic, a, &replicas).await;

    let mut acked: Vec<String> = Vec::new();
    for i in 0..5 {
        let v = format!("all-{i}");
        produce_committed(&cluster, a, &topic, record(&v)).await;
        acked.push(v);
    }
    let hw = wait_view(&cluster, "HW 5", |v| v.high_watermark(&topic, P) == Some(5)).await;
    assert_eq!(hw.high_watermark(&topic, P), Some(5));

    // Cut both followers off the leader (A still reaches the controller).
    cluster.partition(a, b).await.unwrap();
    cluster.partition(a, c).await.unwrap();
    let p = produce(&cluster, a, &topic, -1, 1500, record("parked")).await;
    assert_eq!(
        code(&p),
        ErrorCode::RequestTimedOut,
        "an acks=all write that cannot commit must time out, never be acked: {p:?}"
    );
    let view = wait_leader_and_isr(&cluster, &topic, a, &[a]).await;
    assert_eq!(
        view.high_watermark(&topic, P),
        Some(5),
        "HW frozen below min ISR (P8)"
    );
    let p = produce(&cluster, a, &topic, -1, 1500, record("refused")).await;
    assert_eq!(code(&p), ErrorCode::NotEnoughReplicas, "{p:?}");
    for i in 0..3 {
        let v = format!("one-{i}");
        let p = produce(&cluster, a, &topic, 1, 1500, record(&v)).await;
        assert_eq!(code(&p), ErrorCode::None, "{p:?}");
        assert!(
            p.durability >= Durability::LeaderFlushed as i32,
            "flush.messages=1: {p:?}"
        );
        acked.push(v);
    }
    let view = cluster.view().await;
    assert_eq!(
        view.high_watermark(&topic, P),
        Some(5),
        "still frozen: {}",
        view.summary()
    );
    let leo_a = replica(&cluster, a, &topic).await.unwrap().0;
    assert_eq!(leo_a, 9, "5 committed + parked + 3 acks=1");
    let committed = values(&cluster, a, &topic).await;
    assert_eq!(
        committed,
        &acked[..5],
        "consumers see nothing above the frozen HW"
    );

    // The last replica standing loses power; the network heals; it comes back.
    cluster.kill(a).await.unwrap();
    cluster.heal().await.unwrap();
    cluster.restart(a).await.unwrap();
    wait_leader_and_isr(&cluster, &topic, a, &replicas).await;
    let leo = replica(&cluster, a, &topic).await.unwrap().0;
    wait_leos(&cluster, &topic, &replicas, leo).await;
    let readable = eventually("HW reaches A's LEO", WAIT, || async {
        let v = values(&cluster, a, &topic).await;
        if v.len() as i64 == leo {
            Ok(v)
        } else {
            Err(format!("{} of {leo}: {v:?}", v.len()))
        }
    })
    .await;
    for v in &acked {
        assert_eq!(
            readable.iter().filter(|r| *r == v).count(),
            1,
            "acknowledged {v} must be readable exactly once: {readable:?}"
        );
    }
    assert!(!readable.iter().any(|r| r == "refused"), "{readable:?}");
    assert_same_logs(&cluster, &topic, &replicas);
}
