//! The checker on hand-made producer/consumer logs: a clean run, each anomaly in isolation,
//! unknown outcomes (J4), value prefixes and malformed lines.

use brook_verify::checker::{
    Checker, Promises, ReorderKind, Report, check, check_with_final_read, outcome_unknown,
    parse_events, parse_value,
};
use brook_verify::events::{Event, TopicPartitionRef};

fn ack(partition: i32, offset: i64, value: &str) -> Event {
    Event::ProducerSendSuccess {
        timestamp: 0,
        topic: "t".into(),
        partition,
        offset,
        key: None,
        value: value.into(),
        durability: None,
        leader: None,
        leader_epoch: None,
    }
}

fn err(value: &str, exception: &str) -> Event {
    Event::ProducerSendError {
        timestamp: 0,
        topic: "t".into(),
        key: None,
        value: value.into(),
        exception: exception.into(),
        message: "boom".into(),
    }
}

fn rec(partition: i32, offset: i64, value: &str) -> Event {
    Event::RecordData {
        timestamp: 0,
        topic: "t".into(),
        partition,
        offset,
        key: None,
        value: value.into(),
    }
}

fn startup() -> Event {
    Event::StartupComplete { timestamp: 0 }
}

fn shutdown() -> Event {
    Event::ShutdownComplete {
        timestamp: 0,
        end_to_end_latency_ms: None,
    }
}

/// Values 0..n acked round-robin over two partitions, offsets consecutive per partition.
fn clean_acks(n: u64) -> Vec<Event> {
    (0..n)
        .map(|v| ack((v % 2) as i32, (v / 2) as i64, &v.to_string()))
        .collect()
}

/// The consumer's view of `clean_acks(n)`: partition 0 first, then partition 1.
fn clean_records(n: u64) -> Vec<Event> {
    let mut out: Vec<Event> = (0..n)
        .filter(|v| v % 2 == 0)
        .map(|v| rec(0, (v / 2) as i64, &v.to_string()))
        .collect();
    out.extend(
        (0..n)
            .filter(|v| v % 2 == 1)
            .map(|v| rec(1, (v / 2) as i64, &v.to_string())),
    );
    out
}

const ALL: Promises = Promises {
    no_loss: true,
    no_duplicates: true,
    no_redelivery: true,
};
const NONE: Promises = Promises {
    no_loss: false,
    no_duplicates: false,
    no_redelivery: false,
};

/// Asserts that exactly the named anomaly counts are non-zero.
fn only(report: &Report, anomaly: &str) {
    let counts = [
        ("lost", report.lost.count),
        ("duplicated", report.duplicated.count),
        ("reordered", report.reordered.count),
        ("inconsistent", report.inconsistent.count),
        ("phantom", report.phantom.count),
        ("aborted read", report.aborted_read.count),
        ("split brain", report.split_brain.count),
    ];
    for (name, count) in counts {
        if name == anomaly {
            assert!(count > 0, "{name} not detected: {report:#?}");
        } else {
            assert_eq!(count, 0, "unexpected {name}: {report:#?}");
        }
    }
    let violations = report.violations(&ALL);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].starts_with(anomaly), "{violations:?}");
}

#[test]
fn clean_run_has_no_violations() {
    let mut producer = vec![startup()];
    producer.extend(clean_acks(10));
    producer.push(shutdown());
    let mut consumer = vec![startup()];
    consumer.extend(clean_records(10));
    let r = check(producer, consumer);
    assert_eq!((r.sent, r.acked, r.failed, r.unknown), (10, 10, 0, 0));
    assert_eq!(
        (r.consumed, r.consumed_distinct, r.redelivered),
        (10, 10, 0)
    );
    assert!(r.violations(&ALL).is_empty(), "{r:#?}");
    assert!(r.allowed(&NONE).is_empty());
    assert_eq!(r.partitions.len(), 2);
    let p0 = &r.partitions[0];
    assert_eq!((p0.partition, p0.acked, p0.consumed), (0, 5, 5));
    assert_eq!(
        (
            p0.min_consumed_offset,
            p0.max_consumed_offset,
            p0.max_acked_offset
        ),
        (Some(0), Some(4), Some(4))
    );
    let table = r.summary_table();
    for row in [
        "sent",
        "acked",
        "failed",
        "unknown",
        "consumed",
        "lost",
        "duplicated",
        "reordered",
        "inconsistent",
        "phantom",
        "aborted reads",
        "split brain",
    ] {
        assert!(table.contains(row), "{table}");
    }
    assert!(table.contains("t-1"), "{table}");
    // The JSON report names every finding.
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "sent",
        "acked",
        "failed",
        "unknown",
        "consumed",
        "lost",
        "duplicated",
        "reordered",
        "inconsistent",
        "phantom",
        "aborted_read",
        "split_brain",
        "partitions",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
}

#[test]
fn loss_is_detected_and_can_be_allowed() {
    let mut consumer = clean_records(10);
    consumer
        .retain(|e| !matches!(e, Event::RecordData { value, .. } if value == "4" || value == "7"));
    let r = check(clean_acks(10), consumer);
    only(&r, "lost");
    assert_eq!(r.lost.count, 2);
    assert_eq!(r.lost.examples, vec!["4", "7"]);
    assert!(r.violations(&ALL)[0].contains("4, 7"));
    let p1 = r.partitions.iter().find(|p| p.partition == 1).unwrap();
    assert_eq!(p1.lost, 1);
    // acks=1 / unclean election: reported as expected, not a violation.
    assert!(r.violations(&NONE).is_empty());
    assert_eq!(r.allowed(&NONE).len(), 1);
    assert!(r.allowed(&NONE)[0].starts_with("lost"));
}

#[test]
fn a_value_consumed_during_the_run_but_gone_from_the_final_read_is_lost() {
    // The consumer saw all ten, but a later truncation took 6 and 9 out of the log.
    let mut final_read = vec![startup()];
    final_read.extend(
        clean_records(10).into_iter().filter(
            |e| !matches!(e, Event::RecordData { value, .. } if value == "6" || value == "9"),
        ),
    );
    let r = check_with_final_read(clean_acks(10), clean_records(10), Some(final_read));
    only(&r, "lost");
    assert_eq!(r.lost.examples, vec!["6", "9"]);
    // The same run with a complete final read, or without one, loses nothing.
    let full = check_with_final_read(clean_acks(10), clean_records(10), Some(clean_records(10)));
    assert!(
        full.violations(&ALL).is_empty(),
        "{:?}",
        full.violations(&ALL)
    );
    assert_eq!(check(clean_acks(10), clean_records(10)).lost.count, 0);
    // An empty final read (the log is gone) loses every acknowledged value.
    let empty = check_with_final_read(clean_acks(10), clean_records(10), Some(vec![startup()]));
    assert_eq!(empty.lost.count, 10);
}

#[test]
fn duplicate_is_detected_and_redelivery_is_not() {
    // Value 2 written twice: at t-0@1 and again at t-0@5.
    let mut consumer = clean_records(10);
    consumer.insert(5, rec(0, 5, "2"));
    let r = check(clean_acks(10), consumer);
    only(&r, "duplicated");
    assert_eq!(r.duplicated.count, 1);
    assert_eq!(r.duplicated.examples[0].value, "2");
    assert_eq!(r.duplicated.examples[0].positions.len(), 2);
    assert!(r.violations(&NONE).is_empty());
    assert!(r.allowed(&NONE)[0].starts_with("duplicated"));

    // A restarted consumer re-reading from its committed offset sees the same positions again.
    let mut consumer = vec![startup()];
    consumer.extend(clean_records(10));
    consumer.push(startup());
    consumer.push(rec(0, 3, "6"));
    consumer.push(rec(0, 4, "8"));
    let r = check(clean_acks(10), consumer);
    assert_eq!(r.redelivered, 2);
    assert_eq!(r.consumed, 12);
    assert!(r.violations(&ALL).is_empty(), "{r:#?}");
}

#[test]
fn reorder_is_detected() {
    // Offsets going backwards within one consumer session.
    let mut consumer = clean_records(10);
    consumer.swap(1, 2); // t-0: offsets 0, 2, 1, 3, 4
    let r = check(clean_acks(10), consumer);
    only(&r, "reordered");
    assert_eq!(r.reordered.count, 1);
    let ex = &r.reordered.examples[0];
    assert_eq!(ex.kind, ReorderKind::OffsetWentBack);
    assert_eq!((ex.partition, ex.offset, ex.previous), (0, 1, 2));

    // Acked values consumed out of their acknowledged order (the consumer reports no offsets that
    // conflict, e.g. it only ever saw these two positions).
    let producer = vec![ack(0, 0, "0"), ack(0, 1, "1")];
    let consumer = vec![rec(0, 0, "1"), rec(0, 1, "0")];
    let r = check(producer, consumer);
    assert!(
        r.reordered
            .examples
            .iter()
            .any(|x| x.kind == ReorderKind::AckOrder && x.value == "0"),
        "{r:#?}"
    );
    assert!(
        r.violations(&NONE)
            .iter()
            .any(|v| v.starts_with("reordered"))
    );

    // A new consumer session (restart or reassignment) may start over: not a reorder.
    let mut consumer = clean_records(4);
    consumer.push(Event::PartitionsAssigned {
        timestamp: 0,
        partitions: vec![TopicPartitionRef {
            topic: "t".into(),
            partition: 0,
        }],
    });
    consumer.push(rec(0, 0, "0"));
    let r = check(clean_acks(4), consumer);
    assert_eq!(r.reordered.count, 0, "{r:#?}");
}

#[test]
fn inconsistent_offset_is_detected() {
    // Two acknowledgements for the same offset.
    let r = check(
        vec![ack(0, 0, "0"), ack(0, 0, "1")],
        vec![rec(0, 0, "0"), rec(0, 1, "1")],
    );
    assert_eq!(r.inconsistent.count, 1, "{r:#?}");
    assert_eq!(r.inconsistent.examples[0].values, vec!["0", "1"]);
    assert!(
        r.violations(&NONE)
            .iter()
            .any(|v| v.starts_with("inconsistent"))
    );

    // An acknowledgement and a record disagreeing: one consumer finds the timed-out value x at
    // t-0@1, where the producer was told value 1 went; a later consumer session finds 1 there.
    let mut checker = Checker::new();
    for e in [
        ack(0, 0, "0"),
        ack(0, 1, "1"),
        ack(1, 0, "2"),
        err("x", "REQUEST_TIMED_OUT"),
    ] {
        checker.producer_event(&e);
    }
    for e in [
        startup(),
        rec(0, 0, "0"),
        rec(0, 1, "x"),
        rec(1, 0, "2"),
        startup(),
        rec(0, 1, "1"),
    ] {
        checker.consumer_event(&e);
    }
    let r = checker.report();
    only(&r, "inconsistent");
    assert_eq!(r.inconsistent.count, 1);
    let ex = &r.inconsistent.examples[0];
    assert_eq!((ex.partition, ex.offset), (0, 1));
    assert_eq!(ex.values, vec!["1", "x"]);
    assert_eq!(r.unknown_consumed, 1);
}

#[test]
fn phantom_is_detected() {
    let mut producer = vec![startup()];
    producer.extend(clean_acks(4));
    producer.push(shutdown());
    let mut consumer = clean_records(4);
    consumer.push(rec(0, 2, "1000"));
    let r = check(producer, consumer);
    only(&r, "phantom");
    assert_eq!(r.phantom.examples, vec!["1000"]);
}

#[test]
fn unreported_sends_of_a_killed_producer_are_not_phantom() {
    // The producer died (no shutdown_complete) with value 4 in flight; it reached the log.
    let mut producer = vec![startup()];
    producer.extend(clean_acks(4));
    let mut consumer = clean_records(4);
    consumer.push(rec(0, 2, "4"));
    consumer.push(rec(0, 3, "other.1"));
    let r = check(producer, consumer);
    assert_eq!(r.unreported, 1);
    // A value of a prefix this producer never used is still phantom.
    assert_eq!(r.phantom.examples, vec!["other.1"]);
}

#[test]
fn aborted_read_is_detected() {
    let mut producer = clean_acks(4);
    producer.push(err("4", "NOT_ENOUGH_REPLICAS"));
    let mut consumer = clean_records(4);
    consumer.push(rec(0, 2, "4"));
    let r = check(producer, consumer);
    assert_eq!((r.sent, r.acked, r.failed, r.unknown), (5, 4, 1, 0));
    only(&r, "aborted read");
    assert_eq!(r.aborted_read.examples, vec!["4"]);
    // Always a violation, whatever the configuration promises.
    assert_eq!(r.violations(&NONE).len(), 1);
}

/// An acknowledgement that names its broker and leader epoch.
fn ack_by(partition: i32, offset: i64, value: &str, leader: i32, epoch: i32) -> Event {
    match ack(partition, offset, value) {
        Event::ProducerSendSuccess {
            timestamp,
            topic,
            partition,
            offset,
            key,
            value,
            durability,
            ..
        } => Event::ProducerSendSuccess {
            timestamp,
            topic,
            partition,
            offset,
            key,
            value,
            durability,
            leader: Some(leader),
            leader_epoch: Some(epoch),
        },
        other => other,
    }
}

#[test]
fn two_brokers_acknowledging_one_partition_in_one_epoch_is_split_brain() {
    // Partition 0: broker 1 in epoch 3, then broker 2 in epoch 4 (a failover: fine). Partition
    // 1: brokers 2 and 3 both in epoch 5 (two leaders of one epoch: split brain).
    let producer = vec![
        ack_by(0, 0, "0", 1, 3),
        ack_by(0, 1, "2", 2, 4),
        ack_by(1, 0, "1", 2, 5),
        ack_by(1, 1, "3", 3, 5),
    ];
    let consumer = vec![
        rec(0, 0, "0"),
        rec(0, 1, "2"),
        rec(1, 0, "1"),
        rec(1, 1, "3"),
    ];
    let r = check(producer, consumer);
    assert_eq!((r.acked_with_leader, r.leader_epochs), (4, 3));
    only(&r, "split brain");
    let s = &r.split_brain.examples[0];
    assert_eq!(
        (s.partition, s.leader_epoch, s.leaders.clone()),
        (1, 5, vec![2, 3])
    );
    // Always a violation, whatever the configuration promises.
    assert_eq!(r.violations(&NONE).len(), 1);
    // The same broker in one epoch, and a failover to a new epoch, are not.
    let producer = vec![
        ack_by(0, 0, "0", 1, 3),
        ack_by(0, 1, "2", 1, 3),
        ack_by(0, 2, "4", 2, 4),
    ];
    let consumer = vec![rec(0, 0, "0"), rec(0, 1, "2"), rec(0, 2, "4")];
    let r = check(producer, consumer);
    assert!(
        r.split_brain.is_empty() && r.violations(&ALL).is_empty(),
        "{r:#?}"
    );
}

#[test]
fn timed_out_writes_are_unknown_never_failed_or_lost() {
    let mut producer = clean_acks(4);
    for (v, e) in [
        ("4", "REQUEST_TIMED_OUT"),
        ("5", "NETWORK_EXCEPTION"),
        ("6", "NOT_ENOUGH_REPLICAS_AFTER_APPEND"),
        ("7", "CLIENT_CLOSED"),
        ("8", "org.apache.kafka.common.errors.TimeoutException"),
        ("9", "DeliveryTimeout"),
    ] {
        producer.push(err(v, e));
    }
    // Some of them happened, some did not: both fine.
    let mut consumer = clean_records(4);
    consumer.push(rec(0, 2, "4"));
    consumer.push(rec(1, 2, "8"));
    let r = check(producer, consumer);
    assert_eq!((r.sent, r.acked, r.failed, r.unknown), (10, 4, 0, 6));
    assert_eq!(r.unknown_consumed, 2);
    assert_eq!(r.lost.count, 0);
    assert_eq!(r.aborted_read.count, 0);
    assert_eq!(r.phantom.count, 0);
    assert!(r.violations(&ALL).is_empty(), "{r:#?}");
}

#[test]
fn error_classification() {
    for unknown in [
        "REQUEST_TIMED_OUT",
        "NETWORK_EXCEPTION",
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        "CLIENT_CLOSED",
        "UNKNOWN_SERVER_ERROR",
        "TimeoutException",
        "org.apache.kafka.common.errors.NetworkException",
        "NotEnoughReplicasAfterAppendException",
        "RequestTimedOutException",
    ] {
        assert!(outcome_unknown(unknown), "{unknown}");
    }
    for failed in [
        "NOT_ENOUGH_REPLICAS",
        "NOT_LEADER_OR_FOLLOWER",
        "MESSAGE_TOO_LARGE",
        "UNKNOWN_TOPIC_OR_PARTITION",
        "org.apache.kafka.common.errors.RecordTooLargeException",
        "INVALID_RECORD",
    ] {
        assert!(!outcome_unknown(failed), "{failed}");
    }
}

#[test]
fn value_prefixes_are_parsed_and_checked() {
    assert_eq!(parse_value("42"), Some((None, 42)));
    assert_eq!(parse_value("run.7.42"), Some((Some("run.7"), 42)));
    assert_eq!(parse_value("p.0"), Some((Some("p"), 0)));
    assert_eq!(parse_value(".3"), None);
    assert_eq!(parse_value("p.x"), None);
    assert_eq!(parse_value("-1"), None);
    assert_eq!(parse_value("hello"), None);

    // Two producers with different prefixes into one partition; examples sort numerically.
    let producer = vec![
        ack(0, 0, "a.2"),
        ack(0, 1, "b.2"),
        ack(0, 2, "a.10"),
        ack(0, 3, "a.9"),
    ];
    let consumer = vec![rec(0, 0, "a.2"), rec(0, 1, "b.2")];
    let r = check(producer, consumer);
    assert_eq!(r.lost.examples, vec!["a.9", "a.10"]);
    let r = check(
        vec![ack(0, 0, "a.1")],
        vec![rec(0, 0, "a.1"), rec(0, 1, "a.2")],
    );
    assert_eq!(r.phantom.examples, vec!["a.2"]);
}

#[test]
fn malformed_lines_are_reported_with_their_line_number() {
    let text = format!(
        "{}\n\n{}\nnot json\n{{\"name\":\"some_future_event\",\"timestamp\":1}}\n{{\"name\":\"record_data\",\"timestamp\":1}}\n{}\n{{\"timestamp\":1,\"name\":\"producer_send_su",
        startup().to_line(),
        ack(0, 0, "0").to_line(),
        shutdown().to_line()
    );
    let log = parse_events(text.as_bytes()).unwrap();
    assert_eq!(log.events.len(), 3);
    assert_eq!(log.unknown_events, 1);
    let lines: Vec<usize> = log.malformed.iter().map(|m| m.line).collect();
    assert_eq!(lines, vec![4, 6, 8]);
    assert!(!log.malformed[0].error.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.jsonl");
    std::fs::write(&path, text).unwrap();
    let from_file = brook_verify::checker::read_events(&path).unwrap();
    assert_eq!(from_file.malformed, log.malformed);
    assert!(brook_verify::checker::read_events(dir.path().join("missing")).is_err());
}
