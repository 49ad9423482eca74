//! Replication events (`brook::events`, issue 13 item 7) on the embedded 3-broker cluster: the
//! lines `brook dev --events` prints, captured from the real brokers.
//!
//! A dedicated test binary: brokers run on tokio worker threads, so the capture is the process's
//! global subscriber (`brook::event_lines::layer` writing into a buffer), set once.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use brook::Cluster;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const WAIT: Duration = Duration::from_secs(20);

/// A `MakeWriter` appending to a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

fn captured() -> &'static Buffer {
    static BUF: OnceLock<Buffer> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Buffer::default();
        tracing_subscriber::registry()
            .with(brook::event_lines::layer(buf.clone()))
            .init();
        buf
    })
}

fn lines() -> Vec<String> {
    let bytes = captured().0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits (bounded) for a captured line satisfying `pred` and returns it.
async fn wait_for_line(what: &str, pred: impl Fn(&str) -> bool) -> String {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(l) = lines().into_iter().find(|l| pred(l)) {
            return l;
        }
        if tokio::time::Instant::now() >= until {
            panic!(
                "no {what} line within {WAIT:?}; captured:\n{}",
                lines().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Killing a follower logs an ISR shrink naming the partition; killing its leader then logs a
/// clean leader election naming it, and the new leader applies the new epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_kill_logs_isr_shrink_and_leader_kill_logs_clean_election() {
    captured();
    // One controller voter (broker 1), kept out of the faults, so metadata keeps moving with
    // two brokers down.
    let cluster = Cluster::builder()
        .brokers(3)
        .controller_voters(1)
        .broker_config("replica.lag.time.max.ms", "1000")
        .startup_timeout(WAIT)
        .start()
        .await
        .unwrap();
    cluster.create_topic("ev", 3, 3).await.unwrap();
    let view = cluster
        .wait_until(|v| (0..3).all(|p| v.isr("ev", p).len() == 3), WAIT)
        .await
        .unwrap();
    let p = (0..3)
        .find(|&p| view.leader("ev", p).is_some_and(|l| l != 1))
        .unwrap_or_else(|| panic!("no partition led outside broker 1: {}", view.summary()));
    let leader = view.leader("ev", p).unwrap();
    let follower = [2, 3].into_iter().find(|&b| b != leader).unwrap();
    let name = format!("ev-{p}");
    wait_for_line("leader-epoch", |l| {
        l.contains(&format!(
            "leader-epoch {name} on broker {leader}: epoch -1 → 0, leader"
        ))
    })
    .await;

    cluster.kill(follower).await.unwrap();
    let shrink = wait_for_line("isr-shrink", |l| {
        l.contains(&format!("isr-shrink {name} "))
            && (l.contains(&format!("broker {follower} fenced"))
                || l.contains(&format!("replica {follower} not caught up")))
    })
    .await;
    assert!(shrink.contains(" [events] "), "{shrink}");
    let fenced = wait_for_line("broker-fenced", |l| {
        l.contains(&format!("broker-fenced broker {follower} "))
    })
    .await;
    assert!(fenced.contains("session expired"), "{fenced}");

    cluster.kill(leader).await.unwrap();
    let election = wait_for_line("leader-election", |l| {
        l.contains(&format!(
            "leader-election {name}: clean, leader {leader} → 1, epoch 1"
        ))
    })
    .await;
    assert!(election.contains("by controller 1"), "{election}");
    wait_for_line("leader-epoch on the new leader", |l| {
        l.contains(&format!(
            "leader-epoch {name} on broker 1: epoch 0 → 1, leader"
        ))
    })
    .await;
    cluster.shutdown().await.unwrap();
}
