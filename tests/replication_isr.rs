//! ISR maintenance, elections and fencing on the embedded 3-broker cluster (SPEC §4, §5;
//! reference §3 F1–F9, §4 E1–E3, scenarios T5, T6, T10, T11).
//!
//! These clusters have one controller voter, broker 1 (`start_cluster`), so every scenario keeps
//! broker 1 out of the faults: the
//! partitions under test are picked (and asserted) so that the broker cut off, slowed, killed or
//! isolated is never broker 1, and so that cutting a leader from a follower does not also cut
//! either from the controller.
//!
//! Offsets are observed two ways: through `Cluster::view` (what each broker reports about itself,
//! and what the leader last saw of its followers), and white-box through `Cluster::broker(id)`
//! for a follower's own log (a follower does not describe its replica over the wire).

#[path = "common/isr.rs"]
mod isr;
use isr::*;

// ---- T5: ISR shrink timing --------------------------------------------------------------------

/// F6: a follower whose broker the controller fenced (its session expired) stops holding the HW
/// back at once — it is no longer an eligible caught-up replica — so an acks=all write completes
/// after about one broker session timeout, long before `replica.lag.time.max.ms` (60 s here)
/// would let the leader drop it on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_follower_stops_holding_back_the_hw() {
    let cluster = start_cluster(60_000).await;
    create_topic(&cluster, "fenced", 1, 3, &[("min.insync.replicas", "2")]).await;
    let leader = cluster.leader_of("fenced", 0).await.unwrap();
    let victim = [2, 3].into_iter().find(|b| *b != leader).unwrap();
    let producer = cluster
        .producer()
        .acks(Acks::All)
        .request_timeout(Duration::from_secs(10))
        .delivery_timeout(Duration::from_secs(12))
        .build()
        .await
        .unwrap();
    producer
        .send_and_wait(ProducerRecord::new("fenced", "before").partition(0))
        .await
        .unwrap();
    cluster.kill(victim).await.unwrap();
    // The ISR still names the victim when this is sent; only its fencing can release the HW.
    producer
        .send_and_wait(ProducerRecord::new("fenced", "after").partition(0))
        .await
        .unwrap_or_else(|e| panic!("acks=all with follower {victim} fenced: {e}"));
    let v = cluster.view().await;
    assert!(!v.isr("fenced", 0).contains(&victim), "{}", v.summary());
    assert_eq!(v.high_watermark("fenced", 0), Some(2), "{}", v.summary());
    producer.close().await;
}

/// T5 (a), F2/F3: a follower cut off from the leader (but not from the controller) leaves the
/// ISR once it has not caught up for `replica.lag.time.max.ms`: still in at lag/2, out by 2×lag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t5a_cut_off_follower_leaves_isr_after_lag_not_before() {
    const LAG: u64 = 1000;
    let cluster = start_cluster(LAG).await;
    create_topic(&cluster, "t5a", 3, 3, &[]).await;
    let (p, leader, _) = pick_partition(
        &cluster,
        "t5a",
        3,
        "a leader other than broker 1",
        |l, _| l != 1,
    )
    .await;
    let follower = other(leader, 1);
    assert_ne!(follower, 1);
    produce(&cluster, "t5a", p, Acks::All, &values("before", 5)).await;
    let before = cluster
        .wait_until(
            |v| at_leader(v, "t5a", p).is_some_and(|d| follower_leo(d, follower) == 5),
            WAIT,
        )
        .await
        .unwrap();
    let epoch_before = partition_epoch(&before, "t5a", p);

    // Cut leader ↔ follower only: both still reach the controller (broker 1), so the follower is
    // not fenced; only the leader's lag rule can remove it. Records keep arriving (a follower
    // that is at the leader's LEO counts as caught up however long it is silent, F2).
    cluster.partition(leader, follower).await.unwrap();
    let t0 = Instant::now();
    let stream = Stream::start(&cluster, "t5a", p, Duration::from_millis(50)).await;

    // Still in the ISR throughout the first lag/2 (not a single sample without it).
    let mut samples = 0;
    while t0.elapsed() < Duration::from_millis(LAG / 2) {
        let v = cluster.view().await;
        let isr = v.isr("t5a", p);
        assert!(
            isr.contains(&follower),
            "follower {follower} left the ISR after only {:?} (lag {LAG} ms): {}",
            t0.elapsed(),
            v.summary()
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(samples > 0);
    assert!(stream.sent() > 0, "the stream must be producing meanwhile");

    // Out by 2×lag (detection takes lag..1.5×lag, plus the AlterPartition round trip).
    let budget = Duration::from_millis(2 * LAG).saturating_sub(t0.elapsed());
    let out = cluster
        .wait_until(|v| !v.isr("t5a", p).contains(&follower), budget)
        .await
        .unwrap_or_else(|e| panic!("follower {follower} still in the ISR at 2×lag: {e}"));
    let took = t0.elapsed();
    eprintln!("t5a: follower {follower} left the ISR {took:?} after the cut (lag {LAG} ms)");
    let mut isr = out.isr("t5a", p);
    isr.sort();
    let mut expected = vec![leader, 1];
    expected.sort();
    assert_eq!(isr, expected, "{}", out.summary());
    assert_eq!(out.leader("t5a", p), Some(leader), "no leader change");
    assert!(
        partition_epoch(&out, "t5a", p) > epoch_before,
        "an ISR change bumps the partition epoch: {}",
        out.summary()
    );
    stream.stop().await;
}

/// T5 (b), F2: a follower that is slow but keeps fetching (its link delayed well below the lag)
/// stays in the ISR under a steady produce stream, although it is almost always behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t5b_slow_but_fetching_follower_stays_in_isr() {
    const LAG: u64 = 1000;
    const DELAY: Duration = Duration::from_millis(150);
    let cluster = start_cluster(LAG).await;
    create_topic(&cluster, "t5b", 3, 3, &[]).await;
    let (p, leader, _) = pick_partition(
        &cluster,
        "t5b",
        3,
        "a leader other than broker 1",
        |l, _| l != 1,
    )
    .await;
    // Not broker 1: slowing it would slow every broker's heartbeats to the controller.
    let follower = other(leader, 1);
    let epoch_before = partition_epoch(&cluster.view().await, "t5b", p);

    cluster.slow(follower, DELAY).await.unwrap();
    let stream = Stream::start(&cluster, "t5b", p, Duration::from_millis(20)).await;
    let t0 = Instant::now();
    let mut behind_samples = 0;
    let mut follower_leos = Vec::new();
    while t0.elapsed() < Duration::from_millis(3 * LAG) {
        let v = cluster.view().await;
        let isr = v.isr("t5b", p);
        assert!(
            isr.contains(&follower),
            "slow follower {follower} left the ISR after {:?}: {}",
            t0.elapsed(),
            v.summary()
        );
        if let Some(d) = at_leader(&v, "t5b", p) {
            let leo = follower_leo(d, follower);
            if leo < d.log_end_offset {
                behind_samples += 1;
            }
            follower_leos.push(leo);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = stream.stop().await;
    eprintln!(
        "t5b: {sent} records streamed; follower seen behind in {behind_samples} of {} samples",
        follower_leos.len()
    );
    assert!(sent >= 20, "the stream must have been steady, sent {sent}");
    assert!(
        behind_samples > 0,
        "the slow follower should have been seen behind the leader at least once"
    );
    // It was really fetching all along: its LEO moved during the stream, and it catches up.
    let (first, last) = (follower_leos[0], *follower_leos.last().unwrap());
    assert!(last > first, "follower LEO did not move: {first} → {last}");
    let leader_leo = sent as i64;
    let v = cluster
        .wait_until(
            |v| {
                at_leader(v, "t5b", p).is_some_and(|d| {
                    d.log_end_offset == leader_leo && follower_leo(d, follower) == leader_leo
                })
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(v.isr("t5b", p).len(), 3, "{}", v.summary());
    assert_eq!(
        partition_epoch(&v, "t5b", p),
        epoch_before,
        "no ISR change at all: {}",
        v.summary()
    );
    cluster.slow(follower, Duration::ZERO).await.unwrap();
}

// ---- T6: ISR expansion -------------------------------------------------------------------------

/// Watches a follower coming back until the ISR is full again. Every sample of the leader's own
/// description that lists `follower` in the ISR must show its LEO at least `hw` (F6: a follower
/// rejoins only once its LEO reached the HW). Returns whether the follower was seen fetching
/// (LEO above `from`) while still outside the ISR, and the final view.
async fn watch_rejoin(
    cluster: &Cluster,
    topic: &str,
    p: i32,
    follower: i32,
    from: i64,
    hw: i64,
) -> (bool, ClusterView) {
    let deadline = Instant::now() + WAIT;
    let mut seen_catching_up = false;
    loop {
        let v = cluster.view().await;
        if let Some(d) = at_leader(&v, topic, p) {
            let leo = follower_leo(d, follower);
            if d.isr.contains(&follower) {
                assert!(
                    leo >= hw,
                    "follower {follower} back in the ISR with LEO {leo} < HW {hw}: {d:?}"
                );
                if d.isr.len() == 3 {
                    return (seen_catching_up, v);
                }
            } else if leo > from && leo < hw {
                seen_catching_up = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(
            Instant::now() < deadline,
            "follower {follower} did not rejoin the ISR of {topic}-{p} within {WAIT:?}: {}",
            v.summary()
        );
    }
}

/// T6, F6/F7: a follower partitioned away leaves the ISR; after heal it fetches what it missed
/// (slowly: small fetches over a delayed link) outside the ISR, and rejoins only once caught
/// up, with its LEO equal to the leader's and a new partition epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_healed_follower_rejoins_isr_only_after_catching_up() {
    const LAG: u64 = 500;
    let cluster = start_cluster_with(
        LAG,
        &[
            (2, "replica.fetch.max.bytes", "2048"),
            (3, "replica.fetch.max.bytes", "2048"),
        ],
    )
    .await;
    create_topic(&cluster, "t6", 3, 3, &[]).await;
    let (p, leader, _) =
        pick_partition(&cluster, "t6", 3, "a leader other than broker 1", |l, _| {
            l != 1
        })
        .await;
    let follower = other(leader, 1);
    produce(&cluster, "t6", p, Acks::All, &values("before", 10)).await;

    cluster.partition(leader, follower).await.unwrap();
    let stream = Stream::start(&cluster, "t6", p, Duration::from_millis(20)).await;
    let out = cluster
        .wait_until(|v| !v.isr("t6", p).contains(&follower), WAIT)
        .await
        .unwrap();
    let streamed = stream.stop().await;
    let epoch_out = partition_epoch(&out, "t6", p);
    // Far behind: many batches, each fetch returns only a few of them.
    let padding = "x".repeat(200);
    let missed: Vec<String> = (0..300).map(|i| format!("missed-{i}-{padding}")).collect();
    produce(&cluster, "t6", p, Acks::All, &missed).await;
    let end = 10 + streamed as i64 + 300;
    let v = cluster
        .wait_until(|v| v.high_watermark("t6", p) == Some(end), WAIT)
        .await
        .unwrap();
    let from = follower_leo(at_leader(&v, "t6", p).unwrap(), follower);
    assert!(
        from < end,
        "the follower cannot have what it missed: {from}"
    );

    // heal() clears every fault; the follower's link is slowed right after it.
    cluster.heal().await.unwrap();
    cluster
        .slow(follower, Duration::from_millis(30))
        .await
        .unwrap();
    let (seen_catching_up, v) = watch_rejoin(&cluster, "t6", p, follower, from, end).await;
    let d = at_leader(&v, "t6", p).unwrap();
    assert_eq!(d.log_end_offset, end);
    assert_eq!(follower_leo(d, follower), end, "{d:?}");
    assert_eq!(local_leo(&cluster, follower, "t6", p).await, end);
    assert!(
        partition_epoch(&v, "t6", p) > epoch_out,
        "the expansion bumps the partition epoch: {}",
        v.summary()
    );
    assert!(
        seen_catching_up,
        "the follower was never seen fetching outside the ISR (from {from} to {end})"
    );
    cluster.slow(follower, Duration::ZERO).await.unwrap();
    assert_eq!(
        local_log(&cluster, follower, "t6", p).await,
        local_log(&cluster, leader, "t6", p).await
    );
}

/// T6 with a restart, F6 + KIP-903: a follower killed (power loss) is fenced and leaves the ISR;
/// restarted, it catches up from whatever it kept and rejoins only once at the HW.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_restarted_follower_rejoins_isr_only_after_catching_up() {
    const LAG: u64 = 500;
    let cluster = start_cluster_with(
        LAG,
        &[
            (2, "replica.fetch.max.bytes", "2048"),
            (3, "replica.fetch.max.bytes", "2048"),
        ],
    )
    .await;
    create_topic(&cluster, "t6r", 3, 3, &[]).await;
    let (p, leader, _) = pick_partition(
        &cluster,
        "t6r",
        3,
        "a leader other than broker 1",
        |l, _| l != 1,
    )
    .await;
    let follower = other(leader, 1);
    produce(&cluster, "t6r", p, Acks::All, &values("before", 10)).await;

    cluster.kill(follower).await.unwrap();
    let out = cluster
        .wait_until(|v| !v.isr("t6r", p).contains(&follower), WAIT)
        .await
        .unwrap();
    let epoch_out = partition_epoch(&out, "t6r", p);
    let padding = "x".repeat(200);
    let missed: Vec<String> = (0..300).map(|i| format!("missed-{i}-{padding}")).collect();
    produce(&cluster, "t6r", p, Acks::All, &missed).await;
    let end = 310;
    let v = cluster
        .wait_until(|v| v.high_watermark("t6r", p) == Some(end), WAIT)
        .await
        .unwrap();
    let from = follower_leo(at_leader(&v, "t6r", p).unwrap(), follower);
    assert!(from <= 10, "{from}");

    cluster
        .slow(follower, Duration::from_millis(30))
        .await
        .unwrap();
    cluster.restart(follower).await.unwrap();
    let (seen_catching_up, v) = watch_rejoin(&cluster, "t6r", p, follower, from, end).await;
    let d = at_leader(&v, "t6r", p).unwrap();
    assert_eq!(d.log_end_offset, end);
    assert_eq!(follower_leo(d, follower), end, "{d:?}");
    assert_eq!(local_leo(&cluster, follower, "t6r", p).await, end);
    assert!(
        partition_epoch(&v, "t6r", p) > epoch_out,
        "the expansion bumps the partition epoch: {}",
        v.summary()
    );
    assert!(
        seen_catching_up,
        "the follower was never seen fetching outside the ISR (from {from} to {end})"
    );
    cluster.slow(follower, Duration::ZERO).await.unwrap();
    assert_eq!(
        local_log(&cluster, follower, "t6r", p).await,
        local_log(&cluster, leader, "t6r", p).await
    );
}
