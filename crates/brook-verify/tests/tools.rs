//! The verifiable producer and consumer against one in-process broker: every value is acked
//! once and consumed once, the events obey Kafka's shapes and the V5 position rules, commits
//! follow every poll, a restarted consumer resumes from its group's commits, and the stop
//! signal ends a run with `tool_data` / `shutdown_complete`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use brook_broker::{BrokerConfig, BrokerHandle};
use brook_client::admin::Admin;
use brook_client::{Acks, AdminConfig};
use brook_verify::consumer::{self, ConsumerOptions, StopReason};
use brook_verify::events::Event;
use brook_verify::producer::{self, ProducerOptions};

async fn broker(dir: &tempfile::TempDir) -> BrokerHandle {
    let config = BrokerConfig::from_pairs([
        ("listeners", "127.0.0.1:0"),
        ("log.dirs", dir.path().to_str().unwrap()),
        ("offsets.topic.num.partitions", "2"),
    ])
    .unwrap();
    BrokerHandle::start(config).await.unwrap()
}

fn parse(out: &[u8]) -> Vec<Event> {
    std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| Event::from_line(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn name(e: &Event) -> &'static str {
    match e {
        Event::StartupComplete { .. } => "startup_complete",
        Event::ShutdownComplete { .. } => "shutdown_complete",
        Event::ProducerSendSuccess { .. } => "producer_send_success",
        Event::ProducerSendError { .. } => "producer_send_error",
        Event::ToolData { .. } => "tool_data",
        Event::PartitionsAssigned { .. } => "partitions_assigned",
        Event::PartitionsRevoked { .. } => "partitions_revoked",
        Event::RecordsConsumed { .. } => "records_consumed",
        Event::RecordData { .. } => "record_data",
        Event::OffsetsCommitted { .. } => "offsets_committed",
    }
}

async fn produce(addr: &str, n: i64, prefix: Option<&str>) -> Vec<Event> {
    let mut o = ProducerOptions::new("t", addr);
    o.max_messages = n;
    o.value_prefix = prefix.map(String::from);
    o.repeating_keys = Some(7);
    let mut out = Vec::new();
    let s = producer::run(&o, &mut out).await.unwrap();
    assert_eq!((s.sent, s.acked, s.errors), (n as u64, n as u64, 0));
    parse(&out)
}

/// Checks one consumer run's events: shape, V5 positions (each batch starts where the last one
/// ended), counts, and a successful commit of max + 1 after every poll. Returns the consumed
/// values and the last committed offset per partition.
fn check_consumer_run(
    events: &[Event],
    start: &BTreeMap<i32, i64>,
) -> (Vec<String>, BTreeMap<i32, i64>) {
    assert_eq!(name(&events[0]), "startup_complete");
    assert_eq!(name(events.last().unwrap()), "shutdown_complete");
    let Event::PartitionsAssigned { partitions, .. } = &events[1] else {
        panic!("second event is {:?}", events[1]);
    };
    assert_eq!(
        partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    let mut position = start.clone();
    let mut committed = BTreeMap::new();
    let mut values = Vec::new();
    let mut batch: Vec<(i32, i64)> = Vec::new();
    let mut expect_commit: Option<BTreeMap<i32, i64>> = None;
    for e in &events[2..events.len() - 1] {
        assert!(
            expect_commit.is_none() || matches!(e, Event::OffsetsCommitted { .. }),
            "a commit follows every records_consumed, got {e:?}"
        );
        match e {
            Event::RecordData {
                partition,
                offset,
                value,
                ..
            } => {
                batch.push((*partition, *offset));
                values.push(value.clone());
            }
            Event::RecordsConsumed {
                count, partitions, ..
            } => {
                assert!(*count > 0);
                assert_eq!(*count as usize, batch.len());
                assert_eq!(partitions.iter().map(|p| p.count).sum::<u64>(), *count);
                let mut commit = BTreeMap::new();
                for p in partitions {
                    let offsets: Vec<i64> = batch
                        .iter()
                        .filter(|(q, _)| *q == p.partition)
                        .map(|(_, o)| *o)
                        .collect();
                    assert_eq!(offsets.len() as u64, p.count);
                    assert_eq!(offsets.first(), Some(&p.min_offset));
                    assert_eq!(offsets.last(), Some(&p.max_offset));
                    let at = position.get(&p.partition).copied().unwrap_or(0);
                    assert_eq!(
                        p.min_offset, at,
                        "partition {} consumed from an unexpected offset",
                        p.partition
                    );
                    position.insert(p.partition, p.max_offset + 1);
                    commit.insert(p.partition, p.max_offset + 1);
                }
                batch.clear();
                expect_commit = Some(commit);
            }
            Event::OffsetsCommitted {
                offsets, success, ..
            } => {
                assert!(*success, "{e:?}");
                let got: BTreeMap<i32, i64> =
                    offsets.iter().map(|o| (o.partition, o.offset)).collect();
                assert_eq!(Some(got.clone()), expect_commit.take());
                committed.extend(got);
            }
            other => panic!("unexpected consumer event {other:?}"),
        }
    }
    assert!(batch.is_empty(), "record_data without records_consumed");
    (values, committed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_consume_every_value_exactly_once_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(&dir).await;
    let addr = b.addr().to_string();
    let admin = Admin::new(AdminConfig::new(&addr)).unwrap();
    admin.create_topic("t", 3, 1, &[]).await.unwrap();

    let events = produce(&addr, 1000, None).await;
    assert_eq!(name(&events[0]), "startup_complete");
    let n = events.len();
    assert_eq!(name(&events[n - 1]), "shutdown_complete");
    let Event::ToolData {
        sent,
        acked,
        target_throughput,
        avg_throughput,
        ..
    } = &events[n - 2]
    else {
        panic!("tool_data before shutdown_complete: {:?}", events[n - 2]);
    };
    assert_eq!((*sent, *acked, *target_throughput), (1000, 1000, -1));
    assert!(*avg_throughput > 0.0);
    // Brook: the producer's metrics by Kafka name in the final tool_data.
    let Event::ToolData {
        metrics: Some(metrics),
        ..
    } = &events[n - 2]
    else {
        panic!("tool_data without metrics: {:?}", events[n - 2]);
    };
    assert_eq!(metrics.get("record-send-total"), Some(&Some(1000.0)));
    assert_eq!(metrics.get("record-error-total"), Some(&Some(0.0)));
    let mut acked_values = BTreeSet::new();
    let mut offsets = BTreeSet::new();
    for e in &events[1..n - 2] {
        let Event::ProducerSendSuccess {
            topic,
            partition,
            offset,
            key,
            value,
            durability,
            leader,
            leader_epoch,
            ..
        } = e
        else {
            panic!("unexpected producer event {e:?}");
        };
        assert_eq!(topic, "t");
        let v: u64 = value.parse().unwrap();
        assert_eq!(key.as_deref(), Some((v % 7).to_string().as_str()));
        assert!(acked_values.insert(v), "value {v} acked twice");
        assert!(
            offsets.insert((*partition, *offset)),
            "two values at one offset"
        );
        assert!(durability.is_some());
        // The acknowledging broker names itself and its leader epoch (the split-brain check).
        assert_eq!(*leader, Some(b.broker.config.node_id), "{e:?}");
        assert!(leader_epoch.is_some_and(|e| e >= 0), "{e:?}");
    }
    assert_eq!(acked_values, (0..1000).collect());

    // First consumer: everything, verbose.
    let mut o = ConsumerOptions::new("t", &addr, "g");
    o.assign = true;
    o.verbose = true;
    o.max_messages = 1000;
    o.idle_timeout = Some(Duration::from_secs(20));
    let mut out = Vec::new();
    let s = consumer::run(&o, &mut out).await.unwrap();
    assert_eq!(s.consumed, 1000);
    assert_eq!(s.stop_reason, StopReason::MaxMessages);
    assert_eq!(s.commit_failures, 0);
    assert_eq!(s.commits, s.polls);
    let (values, committed) = check_consumer_run(&parse(&out), &BTreeMap::new());
    // Brook: every consumed record's end-to-end latency, in the shutdown line.
    let Some(Event::ShutdownComplete {
        end_to_end_latency_ms: Some(e2e),
        ..
    }) = parse(&out).pop()
    else {
        panic!("shutdown_complete without end_to_end_latency_ms");
    };
    assert_eq!(e2e.count, 1000);
    assert!(
        e2e.p50 <= e2e.p99 && e2e.p99 <= e2e.p999 && e2e.p999 <= e2e.max,
        "{e2e:?}"
    );
    let consumed: BTreeSet<u64> = values.iter().map(|v| v.parse().unwrap()).collect();
    assert_eq!(values.len(), 1000, "nothing consumed twice");
    assert_eq!(consumed, acked_values);
    assert_eq!(committed.values().sum::<i64>(), 1000);

    // More data, then a restart with the same group: only the new values, starting exactly at
    // the committed offsets.
    produce(&addr, 50, Some("second")).await;
    let mut o = ConsumerOptions::new("t", &addr, "g");
    o.assign = true;
    o.verbose = true;
    o.idle_timeout = Some(Duration::from_millis(1500));
    let mut out = Vec::new();
    let s = consumer::run(&o, &mut out).await.unwrap();
    assert_eq!(s.stop_reason, StopReason::Idle);
    let (values, _) = check_consumer_run(&parse(&out), &committed);
    assert_eq!(values.len(), 50, "{values:?}");
    assert!(
        values.iter().all(|v| v.starts_with("second.")),
        "{values:?}"
    );
    assert_eq!(s.consumed, 50);

    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_signal_ends_runs_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(&dir).await;
    let addr = b.addr().to_string();
    let admin = Admin::new(AdminConfig::new(&addr)).unwrap();
    admin.create_topic("t", 1, 1, &[]).await.unwrap();

    // Throttled, endless, idempotent producer until stopped.
    let mut po = ProducerOptions::new("t", &addr);
    po.throughput = 500;
    po.acks = Acks::All;
    po.producer_config = vec![("enable.idempotence".into(), "true".into())];
    let mut co = ConsumerOptions::new("t", &addr, "g2");
    co.assign = true;
    co.idle_timeout = None;
    let (mut pout, mut cout) = (Vec::new(), Vec::new());
    let (pstop, cstop) = (po.stop.clone(), co.stop.clone());
    let (ps, cs, ()) = tokio::join!(
        producer::run(&po, &mut pout),
        consumer::run(&co, &mut cout),
        async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            pstop.stop();
            // Long enough for the consumer to drain what was acked, even on a loaded machine.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            cstop.stop();
        }
    );
    let ps = ps.unwrap();
    let cs = cs.unwrap();
    assert!(
        ps.sent > 50 && ps.sent < 1000,
        "throttled to ~500/s: {ps:?}"
    );
    assert_eq!(
        ps.acked, ps.sent,
        "outstanding sends are reported after the stop"
    );
    assert_eq!(cs.stop_reason, StopReason::Stopped);
    assert_eq!(cs.consumed, ps.acked);
    let pe = parse(&pout);
    let n = pe.len();
    assert_eq!(name(&pe[n - 2]), "tool_data");
    assert_eq!(name(&pe[n - 1]), "shutdown_complete");
    assert_eq!(name(&parse(&cout).pop().unwrap()), "shutdown_complete");

    b.shutdown().await.unwrap();
}

/// The orchestrator may spawn the producer as a task: its future must be `Send`. (The
/// consumer's is not yet: `brook_client::Consumer::poll` holds a `&Consumer` across an await
/// and `Consumer` is not `Sync`, so run it in the orchestrator's own task, e.g. `tokio::join!`.)
#[allow(dead_code)]
fn producer_future_is_send(p: &ProducerOptions, out: &mut Vec<u8>) {
    fn send<T: Send>(_: T) {}
    send(producer::run(p, out));
}
