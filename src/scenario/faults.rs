//! The fault of each scenario, one round at a time. A round injects the fault, waits for the
//! condition that shows the cluster reacted (a new leader, a shrunk ISR), undoes the fault and
//! waits until the cluster is healthy again (every partition led, ISR back to 3, every broker
//! unfenced), so that the next round starts from the same state.
//!
//! Every broker is a controller voter (except in `unclean-election`, see `variants`), and every
//! fault may hit the active controller: victims are chosen by their data-path role (a partition's
//! leader, a follower) among all brokers, whichever of them the quorum elected. The faults aimed
//! at the controller itself are in `controller_faults`. Targets and pauses come from the run's
//! seeded generator.

use std::time::Duration;

use super::run::{Result, err};
use super::{Run, Scenario, Variant, WAIT, controller_faults, voters_among};

/// Injects one round of `variant`'s fault and waits for recovery.
pub(crate) async fn inject(run: &mut Run, variant: &Variant, round: u32) -> Result<()> {
    // Jitter before the fault so that it lands at a different point of the workload each round.
    let pause = run.rng.jitter(50, 400);
    tokio::time::sleep(pause).await;
    match variant.scenario {
        Scenario::LeaderHardKill => leader_fault(run, round, LeaderFault::Kill).await,
        Scenario::LeaderCleanBounce => leader_fault(run, round, LeaderFault::Bounce).await,
        Scenario::LeaderIsolation => leader_fault(run, round, LeaderFault::Isolate).await,
        Scenario::ControllerRestart => controller_faults::restart(run, round).await,
        Scenario::ControllerHardKill => controller_faults::hard_kill(run, round).await,
        Scenario::ControllerIsolation => controller_faults::isolation(run, round).await,
        Scenario::RollingRestart => rolling_restart(run, round).await,
        Scenario::UncleanElection => unclean_election(run, variant, round).await,
        Scenario::SlowFollower => slow_follower(run, round).await,
        Scenario::PowerLoss => power_loss(run, round).await,
        // Their rounds hit the group's members and coordinator (`group`), never come here.
        Scenario::ConsumerBounce | Scenario::ConsumerRebalance => Err(format!(
            "{} has no partition fault",
            variant.scenario.name()
        )),
    }?;
    run.wait_healthy().await.map_err(err)
}

#[derive(Debug, Clone, Copy)]
enum LeaderFault {
    /// In process: power loss of the leader (no flush, unsynced data dropped); in process
    /// mode: SIGKILL, the page cache keeping what was written. It lands while the followers lag
    /// `FOLLOWER_LAG` behind (still in the ISR): what only the leader held is gone, which acks=1
    /// may have acknowledged and acks=all never did. Restarted after a pause.
    Kill,
    /// Clean shutdown and restart.
    Bounce,
    /// Every link of the leader cut (clients too), healed after a pause.
    Isolate,
}

/// A partition and its leader, chosen by the seed among all partitions (the leader may be the
/// active controller).
async fn pick_partition(run: &mut Run) -> Result<(i32, i32)> {
    let view = run.cluster.view().await;
    let candidates: Vec<(i32, i32)> = (0..run.partitions)
        .filter_map(|p| view.leader(&run.topic, p).map(|l| (p, l)))
        .collect();
    if candidates.is_empty() {
        return Err(format!(
            "no partition has a leader; last seen: {}",
            view.summary()
        ));
    }
    Ok(run.rng.pick(&candidates))
}

/// " (the active controller)" when `id` is it in `view`, for the notes.
pub(crate) fn role(view: &brook_cluster::ClusterView, id: i32) -> &'static str {
    if view.active_controller() == Some(id) {
        " (the active controller)"
    } else {
        ""
    }
}

async fn wait_new_leader(run: &Run, p: i32, old: i32) -> Result<i32> {
    let topic = run.topic.as_str();
    let view = run
        .cluster
        .wait_until(
            |v| v.leader(topic, p).is_some_and(|l| l != old) && v.serving_leader(topic, p),
            WAIT,
        )
        .await
        .map_err(|e| format!("no new leader for partition {p}: {e}"))?;
    Ok(view.leader(topic, p).unwrap_or(-1))
}

/// How far behind the followers are when a leader is hard-killed: well under
/// `replica.lag.time.max.ms` (500 ms), so that they stay in the ISR and one of them is elected.
const FOLLOWER_LAG: Duration = Duration::from_millis(200);

async fn leader_fault(run: &mut Run, round: u32, fault: LeaderFault) -> Result<()> {
    let (p, leader) = pick_partition(run).await?;
    let was = role(&run.cluster.view().await, leader);
    if let LeaderFault::Kill = fault {
        let followers: Vec<i32> = run
            .cluster
            .view()
            .await
            .replicas(&run.topic, p)
            .into_iter()
            .filter(|r| *r != leader)
            .collect();
        for f in &followers {
            run.cluster.slow(*f, FOLLOWER_LAG).await.map_err(err)?;
        }
        // Let the leader take writes its followers have not fetched yet.
        tokio::time::sleep(FOLLOWER_LAG / 2).await;
        run.mark_fault();
        let killed = run.crash(leader).await;
        for f in &followers {
            run.cluster.slow(*f, Duration::ZERO).await.map_err(err)?;
        }
        killed?;
    } else {
        run.mark_fault();
    }
    match fault {
        LeaderFault::Kill => {}
        LeaderFault::Bounce => run.cluster.shutdown_broker(leader).await.map_err(err)?,
        LeaderFault::Isolate => run.cluster.isolate(leader).await.map_err(err)?,
    }
    let new = wait_new_leader(run, p, leader).await?;
    run.note(format!(
        "round {}: {fault:?} leader {leader}{was} of partition {p}; broker {new} leads",
        round + 1
    ));
    let hold = run.rng.jitter(100, 600);
    tokio::time::sleep(hold).await;
    match fault {
        LeaderFault::Kill | LeaderFault::Bounce => run.cluster.restart(leader).await.map_err(err),
        LeaderFault::Isolate => run.cluster.heal().await.map_err(err),
    }
}

/// Every broker, the active controller included, is shut down cleanly and restarted in turn,
/// waiting for the cluster to be healthy (with an active controller) before the next (Kafka's
/// rolling bounce, V10). The seed decides whether the ids go up or down, and so where in the
/// order the active controller falls.
async fn rolling_restart(run: &mut Run, round: u32) -> Result<()> {
    let mut order: Vec<i32> = run.cluster.broker_ids();
    if run.rng.next_u64() % 2 == 1 {
        order.reverse();
    }
    let controller = run.active_controller().await?;
    for id in &order {
        run.mark_fault();
        run.cluster.shutdown_broker(*id).await.map_err(err)?;
        run.cluster.restart(*id).await.map_err(err)?;
        run.wait_healthy().await.map_err(err)?;
    }
    run.note(format!(
        "round {}: restarted brokers {order:?} (broker {controller} was the active controller)",
        round + 1
    ));
    Ok(())
}

/// V11 with min ISR 2: on a partition with at most one controller voter among its replicas
/// a, b, c (a leads; so that a majority of voters stays up while all three are down, see
/// `variants`), b stops; acks continue on {a, c}; c stops, then a (clean shutdowns, so nothing
/// is lost to the disk). b, which misses everything acked after it stopped, comes back first:
/// with unclean election on it becomes leader and those acks are lost (expected); with it off
/// the partition stays offline until a returns. Then everyone comes back. The one voter among
/// a, b, c may be the active controller; then the quorum fails over on the way.
async fn unclean_election(run: &mut Run, variant: &Variant, round: u32) -> Result<()> {
    let unclean = variant.unclean;
    let view = run.cluster.view().await;
    let topic = run.topic.clone();
    let candidates: Vec<i32> = (0..run.partitions)
        .filter(|p| {
            voters_among(variant, &view.replicas(&topic, *p)) <= 1
                && view.leader(&topic, *p).is_some()
        })
        .collect();
    if candidates.is_empty() {
        return Err(format!(
            "no partition has at most one controller voter among its replicas: {}",
            view.summary()
        ));
    }
    let p = run.rng.pick(&candidates);
    let controller = view.active_controller();
    let a = view.leader(&topic, p).unwrap_or(-1);
    let followers: Vec<i32> = view
        .replicas(&topic, p)
        .into_iter()
        .filter(|r| *r != a)
        .collect();
    let b = run.rng.pick(&followers);
    let c = followers.iter().copied().find(|r| *r != b).unwrap_or(-1);

    run.mark_fault();
    run.cluster.shutdown_broker(b).await.map_err(err)?;
    run.cluster
        .wait_until(|v| !v.isr(&topic, p).contains(&b), WAIT)
        .await
        .map_err(|e| format!("ISR of {p} kept {b}: {e}"))?;
    // Acks that only a and c hold: exactly what an unclean election of b loses.
    let before = acks_on(run, p);
    let deadline = tokio::time::Instant::now() + WAIT;
    while acks_on(run, p) < before + 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let only_on_a_c = acks_on(run, p) - before;
    run.cluster.shutdown_broker(c).await.map_err(err)?;
    run.cluster.shutdown_broker(a).await.map_err(err)?;
    run.cluster.restart(b).await.map_err(err)?;
    if unclean {
        run.cluster
            .wait_until(|v| v.leader(&topic, p) == Some(b), WAIT)
            .await
            .map_err(|e| format!("unclean election of {b} for {p} did not happen: {e}"))?;
    } else {
        // Clean-only: b must not be elected, whatever the wait.
        tokio::time::sleep(run.rng.jitter(500, 1000)).await;
        let leader = run.cluster.view().await.leader(&topic, p);
        if leader == Some(b) {
            return Err(format!(
                "out-of-sync broker {b} was elected leader of {p} with unclean election off"
            ));
        }
    }
    run.cluster.restart(a).await.map_err(err)?;
    run.cluster.restart(c).await.map_err(err)?;
    let hit = match controller {
        Some(ctl) if [a, b, c].contains(&ctl) => {
            format!("; broker {ctl}, the active controller, was among them")
        }
        _ => String::new(),
    };
    run.note(format!(
        "round {}: partition {p} replicas a={a} b={b} c={c}: stopped b, ≥ {only_on_a_c} acks on \
         {{a, c}} only, stopped c and a, restarted b first (unclean={unclean}){hit}",
        round + 1
    ));
    Ok(())
}

fn acks_on(run: &Run, p: i32) -> usize {
    run.produced
        .state()
        .acks
        .iter()
        .filter(|a| a.1 == p)
        .count()
}

/// V9: a follower's links are slowed past `replica.lag.time.max.ms`; the ISR must shrink
/// without it, and re-expand once it is fast again. The follower may be the active controller:
/// slowed past its lease, it resigns (check-quorum) and the other voters elect another one,
/// which then takes the ISR change.
async fn slow_follower(run: &mut Run, round: u32) -> Result<()> {
    let (p, leader) = pick_partition(run).await?;
    let topic = run.topic.clone();
    let view = run.cluster.view().await;
    let controller = view.active_controller();
    let followers: Vec<i32> = view
        .replicas(&topic, p)
        .into_iter()
        .filter(|r| *r != leader)
        .collect();
    if followers.is_empty() {
        return Err(format!("partition {p} has no follower"));
    }
    let f = run.rng.pick(&followers);
    let was = if controller == Some(f) {
        " (the active controller)".to_string()
    } else {
        String::new()
    };
    run.mark_fault();
    run.cluster
        .slow(f, Duration::from_millis(1000))
        .await
        .map_err(err)?;
    let shrunk = run
        .cluster
        .wait_until(|v| !v.isr(&topic, p).contains(&f), WAIT)
        .await;
    run.cluster.slow(f, Duration::ZERO).await.map_err(err)?;
    shrunk.map_err(|e| format!("ISR of {p} did not shrink without slow follower {f}: {e}"))?;
    run.note(format!(
        "round {}: follower {f}{was} of partition {p} slowed by 1000 ms; ISR shrank, then \
         re-expanded",
        round + 1
    ));
    Ok(())
}

/// Every broker loses power at once (unsynced data dropped everywhere; in process mode each
/// child cuts its files back to their last fsync and exits), then all restart in id order.
async fn power_loss(run: &mut Run, round: u32) -> Result<()> {
    run.mark_fault();
    let mut ids = run.cluster.broker_ids();
    ids.reverse();
    for id in &ids {
        run.cluster.kill(*id).await.map_err(err)?;
    }
    let down = run.rng.jitter(100, 500);
    tokio::time::sleep(down).await;
    ids.reverse();
    for id in &ids {
        run.cluster.restart(*id).await.map_err(err)?;
    }
    run.note(format!(
        "round {}: every broker lost power for {} ms",
        round + 1,
        down.as_millis()
    ));
    Ok(())
}
