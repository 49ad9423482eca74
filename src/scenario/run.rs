//! The state of one scenario run that the fault schedules work with ([`Run`]), its seeded
//! generator ([`Rng`]), and what every schedule shares: the waits (the cluster healthy again,
//! the producer acknowledged again, an active controller), the crash of one broker, and the
//! schedules' [`Result`] (a failed round is its message).

use std::time::Duration;

use tokio::time::Instant;

use super::{Capture, REPLICATION_FACTOR, WAIT};
use brook_cluster::{Cluster, ClusterError};

/// A fault step's outcome; the error is the message the report lists as the round's violation.
pub(crate) type Result<T, E = String> = std::result::Result<T, E>;

/// A cluster error as a fault step's message.
pub(crate) fn err(e: ClusterError) -> String {
    e.to_string()
}

/// A deterministic generator for the fault schedule (splitmix64): the same seed picks the same
/// partitions, followers and pauses, so a failing run can be replayed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`, mixed with `salt` (the variant's name) so that the variants of
    /// one seed draw different schedules.
    pub fn new(seed: u64, salt: &str) -> Rng {
        let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in salt.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h)
    }

    /// The next 64 bits of the splitmix64 sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// One of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }

    /// A pause in `[lo, hi)` ms.
    pub fn jitter(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next_u64() % (hi - lo).max(1))
    }
}

/// The state of one run the fault schedules work with.
pub(crate) struct Run {
    /// The embedded cluster under test (dropping it kills its brokers).
    pub cluster: Cluster,
    /// The run's topic (RF 3, `min.insync.replicas=2`).
    pub topic: String,
    /// Its partition count (one per broker).
    pub partitions: i32,
    /// The seeded fault-schedule generator.
    pub rng: Rng,
    /// The verifiable producer's events, with the live acks the schedule waits on.
    pub produced: Capture,
    /// When each fault was injected (recovery is measured from these).
    pub faults: Vec<Instant>,
    /// What each round did, for the report's notes.
    pub notes: Vec<String>,
}

impl Run {
    /// Waits until there is an active controller that lists every broker registered and
    /// unfenced, and every partition of the topic has a serving leader and a full ISR.
    ///
    /// # Errors
    ///
    /// The cluster's timeout error when that does not hold within `WAIT` (30 s).
    pub async fn wait_healthy(&self) -> Result<(), ClusterError> {
        let (topic, n) = (self.topic.as_str(), self.partitions);
        let ids = self.cluster.broker_ids();
        self.cluster
            .wait_until(
                |v| {
                    v.active_controller()
                        .is_some_and(|c| v.lists_unfenced(c, &ids))
                        && (0..n).all(|p| {
                            v.serving_leader(topic, p)
                                && v.isr(topic, p).len() == REPLICATION_FACTOR as usize
                        })
                },
                WAIT,
            )
            .await?;
        Ok(())
    }

    /// The active controller's broker id, waiting up to `WAIT` (30 s) for one; the error says
    /// there was none.
    pub async fn active_controller(&self) -> Result<i32, String> {
        let view = self
            .cluster
            .wait_until(|v| v.active_controller().is_some(), WAIT)
            .await
            .map_err(|e| format!("no active controller: {e}"))?;
        view.active_controller()
            .ok_or_else(|| "no active controller".to_string())
    }

    /// Waits up to `timeout` for `n` more acknowledgements than there are now (the producer
    /// makes progress); false when they did not come.
    pub async fn wait_acks(&self, n: usize, timeout: Duration) -> bool {
        let target = self.produced.state().acks.len() + n;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.produced.state().acks.len() >= target {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// An abrupt stop of one broker: a power loss in process, a real SIGKILL in process mode
    /// (whose page cache survives; `power-loss` covers the lost page cache there).
    pub async fn crash(&self, id: i32) -> Result<()> {
        if self.cluster.is_processes() {
            self.cluster.kill_keep_page_cache(id).await.map_err(err)
        } else {
            self.cluster.kill(id).await.map_err(err)
        }
    }

    /// Records now as the moment a fault was injected (for the recovery figures).
    pub fn mark_fault(&mut self) {
        self.faults.push(Instant::now());
    }

    /// Adds a line to the report's notes.
    pub fn note(&mut self, s: String) {
        self.notes.push(s);
    }
}
