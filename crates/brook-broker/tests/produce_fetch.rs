//! Produce / fetch / list-offsets / metadata semantics over the wire on a single broker: acks
//! modes and the durability each acknowledgement reports (SPEC §4), min.insync.replicas (P3),
//! long-poll fetches (H4), fetch size limits, offsets by time, and what Metadata and
//! DescribeTopics show.

mod common;

use std::time::{Duration, Instant};

use brook_proto::ErrorCode;
use brook_proto::v1::*;
use common::*;

#[tokio::test]
async fn acks_0_1_all_succeed_with_the_durability_that_held_under_the_default_flush_policy() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let cases = [
        (0, Durability::None),
        (1, Durability::LeaderWritten),
        (-1, Durability::IsrReplicated),
    ];
    for (i, (acks, durability)) in cases.into_iter().enumerate() {
        let p = b.produce("t", 0, acks, batch(&[b"v"])).await;
        assert_eq!(code(p.error_code), ErrorCode::None, "acks={acks}: {p:?}");
        assert_eq!(p.durability, durability as i32, "acks={acks}: {p:?}");
        assert_eq!(p.log_start_offset, 0, "{p:?}");
        if acks != 0 {
            assert_eq!(p.base_offset, i as i64, "{p:?}");
        }
        assert_eq!(b.leo("t", 0).await, i as i64 + 1, "acks={acks} appended");
    }
    assert_eq!(values_of(&b.read_all("t", 0, 0).await), ["v", "v", "v"]);
}

#[tokio::test]
async fn with_flush_messages_1_acks_1_is_leader_flushed_and_acks_all_is_isr_flushed() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[("flush.messages", "1")]).await;
    let p = b.produce("t", 0, 1, batch(&[b"a", b"b"])).await;
    assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
    assert_eq!(p.durability, Durability::LeaderFlushed as i32, "{p:?}");
    let p = b.produce("t", 0, -1, batch(&[b"c"])).await;
    assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
    assert_eq!(p.base_offset, 2);
    assert_eq!(p.durability, Durability::IsrFlushed as i32, "{p:?}");
    // The leader's flushed offset covers everything acknowledged.
    let d = b.describe_partition("t", 0).await;
    assert_eq!(d.replica_states.len(), 1, "{d:?}");
    assert_eq!(d.replica_states[0].flushed_offset, 3, "{d:?}");
}

#[tokio::test]
async fn acks_all_below_min_insync_is_not_enough_replicas_and_appends_nothing() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[("min.insync.replicas", "2")])
        .await;
    let p = b.produce("t", 0, -1, batch(&[b"refused"])).await;
    assert_eq!(code(p.error_code), ErrorCode::NotEnoughReplicas, "{p:?}");
    assert_eq!(p.base_offset, -1);
    assert_eq!(b.leo("t", 0).await, 0, "refused before the append");
    // acks=1 and acks=0 are never refused because of min.insync.replicas (P3).
    let p = b.produce("t", 0, 1, batch(&[b"one"])).await;
    assert_eq!((code(p.error_code), p.base_offset), (ErrorCode::None, 0));
    assert_eq!(p.durability, Durability::LeaderWritten as i32, "{p:?}");
    let p = b.produce("t", 0, 0, batch(&[b"zero"])).await;
    assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
    assert_eq!(b.leo("t", 0).await, 2);
    // Still refused for acks=all afterwards, and still nothing appended.
    let p = b.produce("t", 0, -1, batch(&[b"refused"])).await;
    assert_eq!(code(p.error_code), ErrorCode::NotEnoughReplicas, "{p:?}");
    assert_eq!(b.leo("t", 0).await, 2);
}

#[tokio::test]
async fn one_request_produces_to_several_partitions_independently() {
    let b = TestBroker::start().await;
    b.create_topic("t", 2, &[]).await;
    b.produce_ok("t", 1, batch(&[b"pre"])).await;
    let r = b
        .produce_request(ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topics: vec![TopicProduceData {
                name: "t".into(),
                partitions: vec![
                    PartitionProduceData {
                        partition: 0,
                        records: batch(&[b"p0"]),
                    },
                    PartitionProduceData {
                        partition: 1,
                        records: batch(&[b"p1"]),
                    },
                ],
            }],
        })
        .await;
    let mut got: Vec<(i32, i32, i64)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition, p.error_code, p.base_offset))
        .collect();
    got.sort();
    assert_eq!(got, [(0, 0, 0), (1, 0, 1)]);
    assert_eq!(values_of(&b.read_all("t", 0, 0).await), ["p0"]);
    assert_eq!(values_of(&b.read_all("t", 1, 0).await), ["pre", "p1"]);
}

#[tokio::test]
async fn fetch_returns_the_bytes_that_were_produced_stamped_with_offset_and_epoch() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"first"])).await;
    let sent = batch(&[b"x", b"y"]);
    assert_eq!(b.produce_ok("t", 0, sent.clone()).await, 1);
    let f = b.fetch("t", 0, 1).await;
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    let got = f.records;
    assert_eq!(got.len(), sent.len());
    assert_eq!(i64::from_be_bytes(got[0..8].try_into().unwrap()), 1);
    assert_eq!(i32::from_be_bytes(got[12..16].try_into().unwrap()), 0);
    // Length, magic, CRC and everything the CRC covers are untouched.
    assert_eq!(got[8..12], sent[8..12]);
    assert_eq!(got[16..], sent[16..]);
    assert!(brook_log::batch::validate(&got).is_ok());
}

#[tokio::test]
async fn fetch_inside_a_batch_returns_the_whole_batch_holding_the_offset() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"a", b"b", b"c"])).await;
    let f = b.fetch("t", 0, 1).await;
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    let h = headers_of(&f.records);
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].base_offset, h[0].record_count), (0, 3));
}

#[tokio::test]
async fn long_poll_fetch_at_the_log_end_returns_as_soon_as_another_task_produces() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"old"])).await;
    let mut client = b.client();
    let start = Instant::now();
    let waiter = tokio::spawn(async move {
        let r = client
            .fetch(fetch_req("t", 0, 1, 5000, 1, 1 << 20, 1 << 20))
            .await
            .unwrap()
            .into_inner();
        (single_fetch(r, "t", 0), start.elapsed())
    });
    // There is no wire-visible "the fetch is parked" condition to wait for; give it a moment so
    // the produce lands while it waits (if it lands earlier the fetch returns at once anyway).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "the fetch must wait for data");
    assert_eq!(b.produce_ok("t", 0, batch(&[b"new"])).await, 1);
    let (f, elapsed) = waiter.await.unwrap();
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    assert_eq!(values_of(&records_of(&f.records)), ["new"]);
    assert_eq!(f.high_watermark, 2);
    assert!(
        elapsed < Duration::from_secs(4),
        "woken by the append, not by the 5 s max wait: {elapsed:?}"
    );
}

#[tokio::test]
async fn fetch_on_an_empty_partition_returns_empty_after_the_max_wait() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let start = Instant::now();
    let f = b
        .fetch_one(fetch_req("t", 0, 0, 100, 1, 1 << 20, 1 << 20))
        .await;
    let elapsed = start.elapsed();
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    assert!(f.records.is_empty());
    assert_eq!((f.high_watermark, f.log_end_offset), (0, 0));
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn fetch_with_min_bytes_above_what_is_there_returns_what_is_there_after_the_wait() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"small"])).await;
    let start = Instant::now();
    let f = b
        .fetch_one(fetch_req("t", 0, 0, 100, 1 << 20, 1 << 20, 1 << 20))
        .await;
    let elapsed = start.elapsed();
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    assert_eq!(values_of(&records_of(&f.records)), ["small"]);
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn fetch_returns_at_least_one_batch_even_when_max_bytes_is_smaller() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let big = batch_of_size(1000);
    b.produce_ok("t", 0, big.clone()).await;
    b.produce_ok("t", 0, batch_of_size(1000)).await;
    for (max_bytes, partition_max_bytes) in [(10, 10), (10, 1 << 20), (1 << 20, 10), (0, 0)] {
        let f = b
            .fetch_one(fetch_req("t", 0, 0, 0, 1, max_bytes, partition_max_bytes))
            .await;
        assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
        let h = headers_of(&f.records);
        assert_eq!(
            h.len(),
            1,
            "exactly the first batch for max_bytes={max_bytes}, partition_max_bytes={partition_max_bytes}"
        );
        assert_eq!(f.records.len(), big.len());
    }
}

#[tokio::test]
async fn fetch_respects_the_request_max_bytes_beyond_the_first_batch() {
    let b = TestBroker::start().await;
    b.create_topic("t", 2, &[]).await;
    for _ in 0..3 {
        b.produce_ok("t", 0, batch_of_size(100)).await;
    }
    b.produce_ok("t", 1, batch_of_size(100)).await;
    let one = batch_of_size(100).len() as i32;
    // Room for one batch and a half: only whole batches that fit are returned after the first.
    let f = b
        .fetch_one(fetch_req("t", 0, 0, 0, 1, one + one / 2, 1 << 20))
        .await;
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    assert_eq!(
        headers_of(&f.records).len(),
        1,
        "max_bytes bounds the whole response, not just the partition"
    );
    // Two partitions: the first gets its batch, the second has no budget left.
    let mut req = fetch_req("t", 0, 0, 0, 1, one, 1 << 20);
    let mut p1 = req.topics[0].partitions[0];
    p1.partition = 1;
    req.topics[0].partitions.push(p1);
    let r = b.fetch_request(req).await;
    let parts = &r.topics[0].partitions;
    assert_eq!(parts.len(), 2);
    let total: usize = parts.iter().map(|p| p.records.len()).sum();
    assert_eq!(headers_of(&parts[0].records).len(), 1, "{r:?}");
    assert!(
        total <= one as usize,
        "response of {total} bytes exceeds max_bytes {one}"
    );
    assert_eq!(code(parts[1].error_code), ErrorCode::None);
    assert_eq!(parts[1].high_watermark, 1);
}

#[tokio::test]
async fn list_offsets_earliest_latest_and_by_timestamp() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    // Empty partition: earliest = latest = 0, any timestamp = -1.
    assert_eq!(b.list_offset("t", 0, -2).await.offset, 0);
    assert_eq!(b.list_offset("t", 0, -1).await.offset, 0);
    assert_eq!(b.list_offset("t", 0, 0).await.offset, -1);
    let base = now_ms();
    let mut first = brook_log::record::BatchBuilder::new();
    first.append(base, None, Some(b"a"), &[]);
    first.append(base + 10, None, Some(b"b"), &[]);
    b.produce_ok("t", 0, first.build()).await; // offsets 0, 1
    b.produce_ok("t", 0, batch_at(base + 1000, &[b"c"])).await; // 2
    b.produce_ok("t", 0, batch_at(base + 2000, &[b"d", b"e"]))
        .await; // 3, 4
    let earliest = b.list_offset("t", 0, -2).await;
    assert_eq!(code(earliest.error_code), ErrorCode::None, "{earliest:?}");
    assert_eq!(earliest.offset, 0);
    let latest = b.list_offset("t", 0, -1).await;
    assert_eq!(code(latest.error_code), ErrorCode::None, "{latest:?}");
    assert_eq!(latest.offset, 5);
    assert_eq!(latest.timestamp, -1, "earliest/latest carry no timestamp");
    assert_eq!(latest.leader_epoch, 0);
    // (asked, offset, the found record's timestamp — Kafka's answer, not the one asked for)
    for (ts, expected, found) in [
        (0, 0, base),
        (base, 0, base),
        (base + 5, 1, base + 10),
        (base + 10, 1, base + 10),
        (base + 11, 2, base + 1000),
        (base + 1000, 2, base + 1000),
        (base + 1500, 3, base + 2000),
        (base + 2000, 3, base + 2000),
        (base + 2001, -1, -1),
    ] {
        let r = b.list_offset("t", 0, ts).await;
        assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
        assert_eq!(r.offset, expected, "timestamp {ts} (base {base})");
        assert_eq!(r.timestamp, found, "timestamp {ts} (base {base})");
    }
}

#[tokio::test]
async fn metadata_lists_topics_and_the_broker() {
    let b = TestBroker::start().await;
    b.create_topic("a", 2, &[]).await;
    b.create_topic("b", 1, &[]).await;
    let m = b
        .client()
        .metadata(MetadataRequest {
            topics: vec![],
            allow_auto_topic_creation: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.brokers.len(), 1, "{m:?}");
    let broker = &m.brokers[0];
    assert_eq!(broker.node_id, 1);
    assert_eq!(format!("{}:{}", broker.host, broker.port), b.addr);
    assert_eq!(m.controller_id, 1);
    let mut names: Vec<&str> = m.topics.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    let a = m.topics.iter().find(|t| t.name == "a").unwrap();
    assert_eq!(code(a.error_code), ErrorCode::None);
    assert!(!a.is_internal);
    assert_eq!(a.partitions.len(), 2);
    for (i, p) in a.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        assert_eq!(code(p.error_code), ErrorCode::None);
        assert_eq!((p.leader_id, p.leader_epoch), (1, 0));
        assert_eq!(
            (p.replicas.as_slice(), p.isr.as_slice()),
            (&[1][..], &[1][..])
        );
    }
    // Asking for a topic that does not exist names it with an error (and does not create it).
    let m = b
        .client()
        .metadata(MetadataRequest {
            topics: vec!["b".into(), "nope".into()],
            allow_auto_topic_creation: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(m.topics.len(), 2);
    assert_eq!(code(m.topics[0].error_code), ErrorCode::None);
    assert_eq!(m.topics[1].name, "nope");
    assert_eq!(
        code(m.topics[1].error_code),
        ErrorCode::UnknownTopicOrPartition
    );
    assert!(
        !b.topic_exists("nope").await,
        "auto-create is off by default"
    );
}

#[tokio::test]
async fn describe_topics_shows_high_watermark_log_end_log_start_and_replica_state() {
    let b = TestBroker::start().await;
    b.create_topic("t", 2, &[("flush.ms", "60000")]).await;
    b.produce_ok("t", 1, batch(&[b"a", b"b"])).await;
    b.produce_ok("t", 1, batch(&[b"c"])).await;
    let d = b.describe("t").await;
    assert_eq!(code(d.error_code), ErrorCode::None, "{d:?}");
    assert!(!d.is_internal);
    assert_eq!(d.configs.get("flush.ms").map(String::as_str), Some("60000"));
    assert_eq!(d.partitions.len(), 2);
    let p0 = &d.partitions[0];
    assert_eq!(
        (p0.high_watermark, p0.log_end_offset, p0.log_start_offset),
        (0, 0, 0)
    );
    let p = &d.partitions[1];
    assert_eq!(p.partition, 1);
    assert_eq!(code(p.error_code), ErrorCode::None);
    assert_eq!((p.leader, p.leader_epoch), (1, 0));
    assert_eq!(
        (p.replicas.as_slice(), p.isr.as_slice()),
        (&[1][..], &[1][..])
    );
    assert_eq!(
        (p.high_watermark, p.log_end_offset, p.log_start_offset),
        (3, 3, 0)
    );
    assert_eq!(p.replica_states.len(), 1, "{p:?}");
    let r = &p.replica_states[0];
    assert_eq!((r.id, r.log_end_offset, r.lag), (1, 3, 0));
    assert!((0..=3).contains(&r.flushed_offset), "{r:?}");
    // ListOffsets(latest) agrees with the described high watermark.
    assert_eq!(b.list_offset("t", 1, -1).await.offset, 3);
    // An unknown topic is described with an error.
    let d = b.describe("nope").await;
    assert_eq!(code(d.error_code), ErrorCode::UnknownTopicOrPartition);
}
