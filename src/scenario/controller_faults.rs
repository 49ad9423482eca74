//! The faults aimed at the active controller (the metadata quorum's Raft leader; every broker is
//! a voter): restarted after a short crash (`controller-restart`), power-lost and left down for
//! the rest of the round (`controller-hard-kill`), and cut off from everyone
//! (`controller-isolation`). Each waits for what the quorum promises: another voter takes over,
//! the partitions the lost broker led get new leaders, the producer carries on; and, for the
//! isolation, that the cut-off side changes no metadata and follows the majority after the heal.
//! Whether two brokers ever acknowledged writes to one partition in one leader epoch is the
//! checker's (`split brain`), over every acknowledgement of the run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use super::run::{Result, err};
use super::{PROGRESS_ACKS, Run, WAIT};
use brook_cluster::ClusterView;

/// The active controller crashes (power loss in process, SIGKILL in process mode) and comes back
/// after a pause that may exceed the session timeout and the election timeout.
pub(crate) async fn restart(run: &mut Run, round: u32) -> Result<()> {
    let old = run.active_controller().await?;
    run.mark_fault();
    run.crash(old).await?;
    let down = run.rng.jitter(300, 1500);
    tokio::time::sleep(down).await;
    let meanwhile = match run.cluster.active_controller().await {
        Some(c) => format!("broker {c} active meanwhile"),
        None => "no active controller yet".to_string(),
    };
    run.cluster.restart(old).await.map_err(err)?;
    run.note(format!(
        "round {}: active controller {old} down for {} ms ({meanwhile})",
        round + 1,
        down.as_millis()
    ));
    Ok(())
}

/// The active controller loses power (`Cluster::kill`: its unsynced data is gone, in both modes)
/// and stays down for the rest of the round: another voter becomes active, every partition it
/// led gets a new leader, and the producer is acknowledged again, all without it. It restarts at
/// the end of the round, so that rounds are independent.
pub(crate) async fn hard_kill(run: &mut Run, round: u32) -> Result<()> {
    let old = run.active_controller().await?;
    let topic = run.topic.clone();
    let view = run.cluster.view().await;
    let led: Vec<i32> = (0..run.partitions)
        .filter(|p| view.leader(&topic, *p) == Some(old))
        .collect();
    run.mark_fault();
    let killed = Instant::now();
    run.cluster.kill(old).await.map_err(err)?;
    let view = run
        .cluster
        .wait_until(|v| v.active_controller().is_some_and(|c| c != old), WAIT)
        .await
        .map_err(|e| format!("no voter took over from killed controller {old}: {e}"))?;
    let failover = killed.elapsed();
    let new = view.active_controller().unwrap_or(-1);
    let view = run
        .cluster
        .wait_until(
            |v| {
                led.iter().all(|p| {
                    v.leader(&topic, *p).is_some_and(|l| l != old) && v.serving_leader(&topic, *p)
                })
            },
            WAIT,
        )
        .await
        .map_err(|e| format!("partitions {led:?} of killed controller {old} not led: {e}"))?;
    let moved = progress_without(run, &view, &topic, &led, old, "down").await?;
    run.note(format!(
        "round {}: power loss of active controller {old}; broker {new} active after {} ms; \
         partitions it led: [{}]; producer acknowledged without it; restarted",
        round + 1,
        failover.as_millis(),
        moved.join(", ")
    ));
    run.cluster.restart(old).await.map_err(err)
}

/// One partition as a broker's metadata image has it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionMeta {
    leader: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: Vec<i32>,
}

/// The metadata a broker shows: the topic's partitions and the brokers' fenced flags.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Image {
    partitions: Vec<PartitionMeta>,
    fenced: Vec<(i32, bool)>,
}

/// Broker `id`'s image of the topic (`None` if it did not answer both describes).
/// The new leaders of the partitions the old controller led (`p→leader`), once the producer has
/// made progress without it (`PROGRESS_ACKS` acknowledgements), then a random pause.
async fn progress_without(
    run: &mut Run,
    view: &ClusterView,
    topic: &str,
    led: &[i32],
    old: i32,
    state: &str,
) -> Result<Vec<String>> {
    let moved = led
        .iter()
        .map(|p| format!("{p}→{}", view.leader(topic, *p).unwrap_or(-1)))
        .collect();
    if !run.wait_acks(PROGRESS_ACKS, WAIT).await {
        return Err(format!(
            "no progress: fewer than {PROGRESS_ACKS} acknowledgements within {WAIT:?} with \
             controller {old} {state}"
        ));
    }
    tokio::time::sleep(run.rng.jitter(100, 600)).await;
    Ok(moved)
}

fn image_of(view: &ClusterView, id: i32, topic: &str, partitions: i32) -> Option<Image> {
    let parts = (0..partitions)
        .map(|p| {
            view.partition_at(id, topic, p).map(|d| {
                let mut isr = d.isr.clone();
                isr.sort_unstable();
                PartitionMeta {
                    leader: d.leader,
                    leader_epoch: d.leader_epoch,
                    partition_epoch: d.partition_epoch,
                    isr,
                }
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let mut fenced: Vec<(i32, bool)> = view
        .clusters
        .get(&id)?
        .brokers
        .iter()
        .map(|b| (b.node_id, b.fenced))
        .collect();
    fenced.sort_unstable();
    Some(Image {
        partitions: parts,
        fenced,
    })
}

/// The active controller is cut off from every broker and client (`Cluster::isolate`). While
/// it is cut off its own metadata must not change (the minority side cannot commit: not an ISR
/// shrink, not a fencing, not an election), watched through the harness's observer connection,
/// which is outside the fault model; the majority elects another controller, which gives the
/// partitions the isolated broker led new leaders, and the producer carries on. After the heal
/// the old controller follows the new one and its metadata catches up with the majority's.
pub(crate) async fn isolation(run: &mut Run, round: u32) -> Result<()> {
    let old = run.active_controller().await?;
    let (topic, n) = (run.topic.clone(), run.partitions);
    // A quiet cluster: every running broker shows the same image, `old` still active.
    let view = run
        .cluster
        .wait_until(
            |v| {
                let mine = image_of(v, old, &topic, n);
                v.active_controller() == Some(old)
                    && mine.is_some()
                    && v.running
                        .iter()
                        .all(|id| image_of(v, *id, &topic, n) == mine)
            },
            WAIT,
        )
        .await
        .map_err(|e| format!("brokers disagree on the metadata before the isolation: {e}"))?;
    let before = image_of(&view, old, &topic, n).ok_or("the controller's image vanished")?;
    let led: Vec<i32> = (0..n)
        .filter(|p| before.partitions[*p as usize].leader == old)
        .collect();

    run.mark_fault();
    let cut = Instant::now();
    run.cluster.isolate(old).await.map_err(err)?;
    let minority = Minority::new(old, before, &topic, n);
    let view = minority
        .wait(run, "another voter active", |v| {
            v.active_controller().is_some_and(|c| c != old)
        })
        .await?;
    let failover = cut.elapsed();
    let new = view.active_controller().unwrap_or(-1);
    let view = minority
        .wait(
            run,
            "new leaders for the isolated broker's partitions",
            |v| {
                led.iter().all(|p| {
                    v.leader(&topic, *p).is_some_and(|l| l != old) && v.serving_leader(&topic, *p)
                })
            },
        )
        .await?;
    let moved = progress_without(run, &view, &topic, &led, old, "isolated").await?;
    // The last look before the heal: still nothing changed on the minority side.
    minority.wait(run, "a last look", |_| true).await?;
    let looks = minority.looks.load(Ordering::Relaxed);
    run.cluster.heal().await.map_err(err)?;

    let healed = Instant::now();
    run.cluster
        .wait_until(
            |v| {
                let active = v.active_controller();
                active.is_some_and(|c| {
                    c != old
                        && v.clusters.get(&old).is_some_and(|m| m.controller_id == c)
                        && image_of(v, old, &topic, n)
                            .is_some_and(|i| Some(i) == image_of(v, c, &topic, n))
                })
            },
            WAIT,
        )
        .await
        .map_err(|e| format!("isolated controller {old} did not follow after the heal: {e}"))?;
    run.note(format!(
        "round {}: isolated active controller {old}; broker {new} active after {} ms; \
         partitions it led: [{}]; its metadata unchanged over {looks} looks while cut off; \
         following {new} with the majority's metadata {} ms after the heal",
        round + 1,
        failover.as_millis(),
        moved.join(", "),
        healed.elapsed().as_millis()
    ));
    Ok(())
}

/// Watches the isolated broker's image while waiting for the majority: any change is a
/// metadata change on the minority side.
struct Minority {
    id: i32,
    before: Image,
    topic: String,
    partitions: i32,
    /// Views in which the isolated broker answered.
    looks: AtomicU64,
}

impl Minority {
    fn new(id: i32, before: Image, topic: &str, partitions: i32) -> Minority {
        Minority {
            id,
            before,
            topic: topic.to_string(),
            partitions,
            looks: AtomicU64::new(0),
        }
    }

    /// Waits until `condition` holds, failing as soon as the isolated broker's image differs
    /// from the one it had when it was cut off.
    async fn wait<F>(&self, run: &Run, what: &str, condition: F) -> Result<ClusterView>
    where
        F: Fn(&ClusterView) -> bool,
    {
        // Interior mutability because `wait_until` takes an `Fn`; a `Mutex` keeps the future
        // `Send`. Nothing else holds it, so a poisoned lock cannot happen; it is used anyway.
        let changed: Mutex<Option<Image>> = Mutex::new(None);
        let view = run
            .cluster
            .wait_until(
                |v| match image_of(v, self.id, &self.topic, self.partitions) {
                    Some(now) if now != self.before => {
                        *changed.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
                        true
                    }
                    seen => {
                        if seen.is_some() {
                            self.looks.fetch_add(1, Ordering::Relaxed);
                        }
                        condition(v)
                    }
                },
                WAIT,
            )
            .await
            .map_err(|e| format!("{what} (controller {} isolated): {e}", self.id))?;
        if let Some(now) = changed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(format!(
                "the isolated former controller {} changed metadata on the minority side: {:?} \
                 became {:?}",
                self.id, self.before, now
            ));
        }
        Ok(view)
    }
}
