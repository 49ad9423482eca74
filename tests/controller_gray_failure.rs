//! A known quorum liveness bug, kept as a reproduction (`cargo test --test
//! controller_gray_failure -- --ignored`): give every link of the active controller a latency
//! above half its lease (`controller.quorum.election.timeout.ms`, 300 ms in tests) and the
//! cluster has no active controller for as long as the latency lasts. The slowed voter stays
//! Raft leader, because its delayed heartbeats still arrive at the full rate and keep resetting
//! the other voters' election timers, but it is not active, because no majority acknowledges it
//! within the lease. So no ISR shrinks, nobody is fenced and nothing is elected, although two
//! healthy voters of three could carry on. (KRaft's answer is check-quorum: a leader that hears
//! from no majority within the fetch timeout resigns.) `brook verify slow-follower` never slows
//! the active controller because of it.

use std::time::Duration;

use brook::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "quorum bug: a slow active controller is never replaced (see the module docs)"]
async fn a_slow_active_controller_is_replaced() {
    let cluster = Cluster::builder().brokers(3).start().await.unwrap();
    let slow = cluster
        .wait_until(|v| v.active_controller().is_some(), Duration::from_secs(10))
        .await
        .unwrap()
        .active_controller()
        .unwrap();
    cluster
        .slow(slow, Duration::from_millis(200))
        .await
        .unwrap();
    let replaced = cluster
        .wait_until(
            |v| v.active_controller().is_some_and(|c| c != slow),
            Duration::from_secs(10),
        )
        .await;
    cluster.slow(slow, Duration::ZERO).await.unwrap();
    assert!(
        replaced.is_ok(),
        "no other voter became active while {slow} was slow: {replaced:?}"
    );
}
