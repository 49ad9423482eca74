//! (c) Controller failover: kill (power loss) the active controller, which also leads a
//! partition, and time (1) until another voter is the active controller and (2) until an
//! acks=all write to that partition is acknowledged. With the Cluster's small timeouts and with
//! Kafka's defaults.

use std::time::{Duration, Instant};

use brook::ProducerRecord;
use brook::bench::baseline::median;

use crate::failover::{active_controller, find_partition, warm_producer};
use crate::{BenchResult, Dirs, Plan, builder, min_max, ms};

/// Partitions of the topic: enough that the active controller leads some.
const PARTITIONS: i32 = 6;

/// One timeout setting and its rounds.
struct Setting {
    label: &'static str,
    election_ms: u64,
    session_ms: u64,
    heartbeat_ms: u64,
    request_ms: u64,
    rounds: usize,
    /// The producer's delivery timeout and the harness's waits.
    patience: Duration,
}

impl Setting {
    /// Broker config over `builder()`'s (which sets the plan's session timeout, heartbeat 50 ms
    /// and leaves the Cluster's election 300 ms / request 1000 ms).
    fn builder(&self, plan: &Plan, dir: &std::path::Path) -> brook::ClusterBuilder {
        builder(plan, dir)
            .broker_config(
                "controller.quorum.election.timeout.ms",
                self.election_ms.to_string(),
            )
            .broker_config(
                "controller.quorum.request.timeout.ms",
                self.request_ms.to_string(),
            )
            .broker_config("broker.session.timeout.ms", self.session_ms.to_string())
            .broker_config(
                "broker.heartbeat.interval.ms",
                self.heartbeat_ms.to_string(),
            )
    }
}

/// Medians (ms) of one setting, for the targets table.
pub struct Summary {
    pub label: &'static str,
    pub elected: f64,
    pub write: f64,
    pub election_ms: u64,
    pub session_ms: u64,
}

struct Round {
    kill_returned: f64,
    controller: f64,
    leader: f64,
    write: f64,
}

pub async fn bench(plan: &Plan, dirs: &Dirs) -> BenchResult<Vec<Summary>> {
    let settings = [
        Setting {
            label: "small timeouts",
            election_ms: 300,
            session_ms: plan.session_timeout_ms,
            heartbeat_ms: 50,
            request_ms: 1000,
            rounds: plan.controller_rounds_small,
            patience: Duration::from_secs(10),
        },
        Setting {
            label: "Kafka defaults",
            election_ms: 1000,
            session_ms: 9000,
            heartbeat_ms: 2000,
            request_ms: 2000,
            rounds: plan.controller_rounds_kafka,
            patience: Duration::from_secs(30),
        },
    ];
    println!();
    println!(
        "(c) Controller failover after kill() (power loss) of the active controller, 3 voters, \
         a {PARTITIONS}-partition RF 3 min.insync.replicas 2 topic, the write to a partition the \
         killed broker led (sent right after kill() returned; producer retry.backoff.ms=5, \
         request timeout 1 s)"
    );
    println!(
        "  With t = controller.quorum.election.timeout.ms, Kafka's rule is an election after t..2t \
         without the leader; openraft 0.9 campaigns only after its leader lease plus its election \
         timeout, which Brook sets to t and t/2..t, checked every 0.3t: expect a new controller \
         at ≈ 1.5t..2.3t."
    );
    println!(
        "  A partition the killed broker led moves only once the killed broker's session expires \
         on the new controller, which starts every session afresh when it takes over (checked \
         every broker.heartbeat.interval.ms / 2): expect the write at ≈ new controller + \
         broker.session.timeout.ms (+ up to heartbeat / 2)."
    );
    let mut out = Vec::new();
    for s in &settings {
        if s.rounds == 0 {
            println!();
            println!("  {}: skipped in this mode", s.label);
            continue;
        }
        let mut rounds = Vec::new();
        for _ in 0..s.rounds {
            rounds.push(round(plan, dirs, s).await?);
        }
        out.push(report(s, &rounds));
    }
    Ok(out)
}

async fn round(plan: &Plan, dirs: &Dirs, s: &Setting) -> BenchResult<Round> {
    let dir = dirs.fresh();
    let cluster = s.builder(plan, &dir).start().await?;
    let killed = active_controller(&cluster).await?;
    let (topic, p, _) = find_partition(&cluster, "controller", PARTITIONS, |l| l == killed).await?;
    let producer = warm_producer(&cluster, &topic, p, s.patience).await?;

    let t0 = Instant::now();
    cluster.kill(killed).await?;
    let kill_returned = ms(t0.elapsed());
    let write = async {
        producer
            .send_and_wait(ProducerRecord::new(&topic, "after").partition(p))
            .await
            .map(|_| ms(t0.elapsed()))
    };
    let controller = async {
        cluster
            .wait_until(
                |v| v.active_controller().is_some_and(|c| c != killed),
                s.patience,
            )
            .await
            .map(|_| ms(t0.elapsed()))
    };
    let leader = async {
        cluster
            .wait_until(
                |v| v.serving_leader(&topic, p) && v.leader(&topic, p).is_some_and(|l| l != killed),
                s.patience,
            )
            .await
            .map(|_| ms(t0.elapsed()))
    };
    let (write, controller, leader) = tokio::join!(write, controller, leader);
    let round = Round {
        kill_returned,
        controller: controller?,
        leader: leader?,
        write: write?,
    };
    producer.close().await;
    Dirs::done(cluster, &dir);
    Ok(round)
}

fn report(s: &Setting, rounds: &[Round]) -> Summary {
    println!();
    println!(
        "  {}: controller.quorum.election.timeout.ms={}, broker.session.timeout.ms={}, \
         broker.heartbeat.interval.ms={}, controller.quorum.request.timeout.ms={}; {} rounds",
        s.label, s.election_ms, s.session_ms, s.heartbeat_ms, s.request_ms, s.rounds
    );
    println!(
        "  {:<8} {:>16} {:>18} {:>20} {:>24}",
        "round",
        "kill() returned",
        "new controller",
        "new leader serving",
        "acks=all write accepted"
    );
    let row = |name: &str, r: [f64; 4]| {
        println!(
            "  {name:<8} {:>13.1} ms {:>15.1} ms {:>17.1} ms {:>21.1} ms",
            r[0], r[1], r[2], r[3]
        );
    };
    for (i, r) in rounds.iter().enumerate() {
        row(
            &(i + 1).to_string(),
            [r.kill_returned, r.controller, r.leader, r.write],
        );
    }
    let column = |f: fn(&Round) -> f64| rounds.iter().map(f).collect::<Vec<f64>>();
    let columns = [
        column(|r| r.kill_returned),
        column(|r| r.controller),
        column(|r| r.leader),
        column(|r| r.write),
    ];
    let pick = |f: &dyn Fn(&[f64]) -> f64| {
        [
            f(&columns[0]),
            f(&columns[1]),
            f(&columns[2]),
            f(&columns[3]),
        ]
    };
    if rounds.len() > 1 {
        row("median", pick(&|c| median(c.to_vec())));
        row("min", pick(&|c| min_max(c).0));
        row("max", pick(&|c| min_max(c).1));
    }
    Summary {
        label: s.label,
        elected: median(columns[1].clone()),
        write: median(columns[3].clone()),
        election_ms: s.election_ms,
        session_ms: s.session_ms,
    }
}
