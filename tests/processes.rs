//! Three real `brook serve` processes (SPEC §10, issue 4 item 7, issue 10): each is broker and
//! controller voter, on ports picked up front. A topic with RF 3 and min.insync.replicas 2 gets
//! acks=all records; a process is SIGKILLed with more records in flight and never restarted —
//! the leader of the topic (not the active controller), or the active controller (which also
//! leads the topic); once another replica leads (and, for the controller, another voter is the
//! active controller), more records go in; every acknowledged record must then be readable
//! exactly once from the beginning (the idempotent producer's retries of the in-flight batches
//! must not duplicate).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use brook::client::{
    Acks, Admin, AdminConfig, ConsumerConfig, DeliveryFuture, OffsetReset, ProducerConfig,
};
use brook::{Consumer, Producer, ProducerRecord, TopicPartition};

const BROOK: &str = env!("CARGO_BIN_EXE_brook");
/// Records before, during and after the kill.
const N: usize = 1000;
/// Bound on every wait in this test; the whole test takes a few seconds.
const WAIT: Duration = Duration::from_secs(10);

/// Small timeouts so that the dead leader is fenced in about a second.
const BROKER_KEYS: &[(&str, &str)] = &[
    ("broker.session.timeout.ms", "1000"),
    ("broker.heartbeat.interval.ms", "100"),
    ("replica.lag.time.max.ms", "500"),
    ("replica.fetch.wait.max.ms", "100"),
];

/// One `brook serve` child. Dropping it SIGKILLs and reaps the process; if the test is failing,
/// the tail of its log is printed.
struct Node {
    id: i32,
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Node {
    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let mut text = String::new();
            if let Ok(mut f) = std::fs::File::open(&self.log) {
                let _ = f.read_to_string(&mut text);
            }
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("---- node {} log (last {} lines) ----", self.id, tail.len());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// Ports nobody listens on right now (bound together, so they differ, then released; the
/// voters bind them next).
fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// Starts `brook serve` and returns once it printed its `listening on` line.
fn serve(id: i32, roles: &str, listener: &str, voters: &str, root: &std::path::Path) -> Node {
    let dir = root.join(format!("b{id}"));
    let log = root.join(format!("b{id}.log"));
    let mut cmd = Command::new(BROOK);
    cmd.arg("serve");
    let mut sets = vec![
        format!("node.id={id}"),
        format!("process.roles={roles}"),
        format!("listeners={listener}"),
        format!("controller.quorum.voters={voters}"),
        format!("log.dirs={}", dir.display()),
    ];
    sets.extend(BROKER_KEYS.iter().map(|(k, v)| format!("{k}={v}")));
    for s in &sets {
        cmd.args(["--set", s]);
    }
    let mut child = cmd
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        // Keep draining so that the child never blocks on a full pipe.
        for _ in lines {}
    });
    let mut node = Node {
        id,
        child,
        addr: String::new(),
        log,
    };
    let line = match rx.recv_timeout(WAIT) {
        Ok(Some(Ok(line))) => line,
        other => panic!("node {id} did not report readiness: {other:?}"),
    };
    let prefix = format!("brook broker {id} listening on ");
    node.addr = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("node {id}: unexpected first line {line:?}"))
        .trim()
        .to_string();
    node
}

/// Retries `f` until it returns `Some`, for up to `WAIT`.
async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// (leader, isr) of partition 0 as the cluster describes it.
async fn leader_and_isr(admin: &Admin, topic: &str) -> Option<(i32, Vec<i32>)> {
    let topics = admin.describe_topics(&[topic]).await.ok()?;
    let p = topics
        .first()?
        .partitions
        .iter()
        .find(|p| p.partition == 0)?;
    Some((p.leader, p.isr.clone()))
}

/// Sends `values` with acks=all and returns the ones acknowledged.
async fn produce(producer: &Producer, topic: &str, values: std::ops::Range<usize>) -> Vec<String> {
    let mut pending: Vec<(String, DeliveryFuture)> = Vec::new();
    for i in values {
        let v = format!("v{i}");
        let f = producer
            .send(ProducerRecord::new(topic, v.clone()).partition(0))
            .await
            .unwrap();
        pending.push((v, f));
    }
    producer.flush().await;
    let mut acked = Vec::new();
    for (v, f) in pending {
        match f.await {
            Ok(_) => acked.push(v),
            Err(e) => eprintln!("{v} not acknowledged: {e}"),
        }
    }
    acked
}

/// Which process the test SIGKILLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    /// The topic's leader, which is not the active controller.
    Leader,
    /// The active controller, which also leads the topic.
    Controller,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_the_leader_process_loses_no_acknowledged_record() {
    sigkill_loses_nothing(Victim::Leader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_the_active_controller_for_good_loses_no_acknowledged_record() {
    sigkill_loses_nothing(Victim::Controller).await;
}

/// The active controller as DescribeQuorum reports it (-1: none).
async fn active_controller(admin: &Admin) -> i32 {
    admin.describe_quorum().await.map_or(-1, |q| q.leader_id)
}

async fn sigkill_loses_nothing(victim: Victim) {
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let addrs: Vec<String> = free_ports(3)
        .into_iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let voters = (1..=3)
        .zip(&addrs)
        .map(|(id, a)| format!("{id}@{a}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes: BTreeMap<i32, Node> = BTreeMap::new();
    for (id, addr) in (1..=3).zip(&addrs) {
        let node = serve(id, "broker,controller", addr, &voters, root.path());
        assert_eq!(&node.addr, addr);
        nodes.insert(id, node);
    }
    let bootstrap = addrs.join(",");

    let admin =
        Admin::new(AdminConfig::new(&bootstrap).request_timeout(Duration::from_secs(2))).unwrap();
    wait_for("three unfenced brokers", || async {
        let c = admin.describe_cluster().await.ok()?;
        let live = c.brokers.iter().filter(|b| !b.fenced).count();
        (live == 3).then_some(())
    })
    .await;
    let controller = wait_for("an active controller", || async {
        Some(active_controller(&admin).await).filter(|c| *c > 0)
    })
    .await;

    // Replica assignment is a pure function of the topic name: try names until the leader is
    // (Victim::Controller) or is not (Victim::Leader) the active controller.
    let mut chosen = None;
    for i in 0..20 {
        let topic = format!("kill-{i}");
        let configs = [("min.insync.replicas".to_string(), "2".to_string())];
        admin.create_topic(&topic, 1, 3, &configs).await.unwrap();
        let (leader, isr) = wait_for("a leader with a full ISR", || async {
            leader_and_isr(&admin, &topic)
                .await
                .filter(|(l, isr)| *l > 0 && isr.len() == 3)
        })
        .await;
        if (leader == controller) == (victim == Victim::Controller) {
            chosen = Some((topic, leader, isr));
            break;
        }
    }
    let (topic, leader, isr) = chosen.expect("some topic has the wanted leader");
    assert_eq!(isr.len(), 3, "{isr:?}");

    let producer = Producer::new(
        ProducerConfig::new(&bootstrap)
            .acks(Acks::All)
            .enable_idempotence(true)
            .linger(Duration::from_millis(2))
            .retry_backoff(Duration::from_millis(20))
            .request_timeout(Duration::from_millis(2000))
            .delivery_timeout(Duration::from_secs(10)),
    )
    .unwrap();
    let mut acked = produce(&producer, &topic, 0..N).await;
    assert_eq!(acked.len(), N, "every record acknowledged before the kill");

    // Records in flight while the leader dies: the idempotent producer retries them on the new
    // leader, and a batch the old leader had already replicated must not be written twice.
    let mut in_flight = Vec::new();
    for i in N..2 * N {
        let v = format!("v{i}");
        let f = producer
            .send(ProducerRecord::new(&topic, v.clone()).partition(0))
            .await
            .unwrap();
        in_flight.push((v, f));
    }
    let killed_at = Instant::now();
    nodes.get_mut(&leader).unwrap().kill();
    let (new_leader, new_isr) = wait_for("a new leader", || async {
        leader_and_isr(&admin, &topic)
            .await
            .filter(|(l, _)| *l > 0 && *l != leader)
    })
    .await;
    eprintln!(
        "leader {leader} killed; {new_leader} leads after {:?} with ISR {new_isr:?}",
        killed_at.elapsed()
    );
    assert!(!new_isr.contains(&leader), "{new_isr:?}");
    assert!(
        isr.contains(&new_leader),
        "a clean election picks from the ISR"
    );
    if victim == Victim::Controller {
        let next = wait_for("a new active controller", || async {
            Some(active_controller(&admin).await).filter(|c| *c > 0 && *c != controller)
        })
        .await;
        eprintln!(
            "controller {controller} killed; {next} is active after {:?}",
            killed_at.elapsed()
        );
    }

    for (v, f) in in_flight {
        match f.await {
            Ok(_) => acked.push(v),
            Err(e) => eprintln!("{v} (in flight during the kill) not acknowledged: {e}"),
        }
    }
    // The producer retries for 10 s (delivery.timeout.ms): the failover is well within it.
    assert_eq!(
        acked.len(),
        2 * N,
        "records in flight during the kill acknowledged"
    );

    let after = produce(&producer, &topic, 2 * N..3 * N).await;
    assert_eq!(
        after.len(),
        N,
        "every record acknowledged after the failover"
    );
    acked.extend(after);
    producer.close().await;
    eprintln!("produce after the kill done at {:?}", killed_at.elapsed());

    let mut consumer = Consumer::new(
        ConsumerConfig::new(&bootstrap)
            .auto_offset_reset(OffsetReset::Earliest)
            .request_timeout(Duration::from_secs(2)),
    )
    .unwrap();
    consumer.assign(vec![TopicPartition::new(&topic, 0)]);
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut consumed = 0usize;
    let deadline = Instant::now() + WAIT;
    while consumed < acked.len() && Instant::now() < deadline {
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            seen.entry(v).or_default().push(r.offset);
            consumed += 1;
        }
    }
    // A little longer: duplicates past the expected count must show up too.
    for r in consumer.poll(Duration::from_millis(300)).await.unwrap() {
        let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
        seen.entry(v).or_default().push(r.offset);
    }
    let _ = consumer.close().await;

    let missing: Vec<&String> = acked.iter().filter(|v| !seen.contains_key(*v)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let duplicated: Vec<(&String, &Vec<i64>)> = seen
        .iter()
        .filter(|(_, offsets)| offsets.len() > 1)
        .collect();
    assert!(
        duplicated.is_empty(),
        "records read more than once: {:?}",
        &duplicated[..duplicated.len().min(5)]
    );
    let sent: std::collections::BTreeSet<String> = (0..3 * N).map(|i| format!("v{i}")).collect();
    assert!(
        seen.keys().all(|v| sent.contains(v)),
        "read a record never sent"
    );
    eprintln!("test done in {:?}", started.elapsed());
}
