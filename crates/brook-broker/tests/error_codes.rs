//! The SPEC §8 error codes a single broker can produce that the other suites do not reach:
//! UNKNOWN_LEADER_EPOCH / FENCED_LEADER_EPOCH checks, RECORD_LIST_TOO_LARGE, and
//! KAFKA_STORAGE_ERROR for a partition whose fsynced data is damaged (the others keep serving).

mod common;

use brook_proto::ErrorCode;
use common::*;

#[tokio::test]
async fn a_newer_leader_epoch_than_the_leaders_is_unknown_leader_epoch() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"a"])).await;
    let mut req = fetch_req("t", 0, 0, 0, 0, 1 << 20, 1 << 20);
    req.topics[0].partitions[0].current_leader_epoch = 5;
    let p = b.fetch_one(req.clone()).await;
    assert_eq!(code(p.error_code), ErrorCode::UnknownLeaderEpoch);
    assert!(p.records.is_empty());
    // The current epoch (0) passes.
    req.topics[0].partitions[0].current_leader_epoch = 0;
    assert_eq!(code(b.fetch_one(req).await.error_code), ErrorCode::None);
}

#[tokio::test]
async fn a_batch_larger_than_a_segment_is_record_list_too_large() {
    let b = TestBroker::start().await;
    b.create_topic(
        "t",
        1,
        &[("segment.bytes", "1024"), ("max.message.bytes", "100000")],
    )
    .await;
    let before = b.leo("t", 0).await;
    let p = b.produce("t", 0, 1, batch_of_size(2000)).await;
    assert_eq!(code(p.error_code), ErrorCode::RecordListTooLarge, "{p:?}");
    assert_eq!(b.leo("t", 0).await, before);
}

#[tokio::test]
async fn damaged_fsynced_data_takes_only_that_partition_offline() {
    let mut b = TestBroker::start().await;
    b.create_topic("bad", 1, &[("flush.messages", "1")]).await;
    b.create_topic("good", 1, &[("flush.messages", "1")]).await;
    for _ in 0..3 {
        b.produce_ok("bad", 0, batch(&[b"payload-payload"])).await;
        b.produce_ok("good", 0, batch(&[b"payload-payload"])).await;
    }
    // Housekeeping records the recovery points (everything is fsynced: flush.messages=1).
    let broker = b.handle().broker.clone();
    tokio::task::spawn_blocking(move || broker.housekeeping(false))
        .await
        .unwrap();
    b.kill().await;
    // Flip a byte inside the first batch of "bad": below its recovery point, so not a torn
    // write but a broken disk.
    let seg = b.dir.path().join("bad-0").join("00000000000000000000.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    let len_before = bytes.len() as u64;
    bytes[70] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    b.restart_after_kill().await;
    let p = b.produce("bad", 0, 1, batch(&[b"x"])).await;
    assert_eq!(code(p.error_code), ErrorCode::KafkaStorageError, "{p:?}");
    let d = b.describe_partition("bad", 0).await;
    assert_eq!(code(d.error_code), ErrorCode::KafkaStorageError);
    // The file was not "repaired" by cutting it.
    let len_after = std::fs::metadata(&seg).unwrap().len();
    assert_eq!(len_after, len_before);
    // The other partition serves reads and writes.
    assert_eq!(b.read_all("good", 0, 0).await.len(), 3);
    b.produce_ok("good", 0, batch(&[b"more"])).await;
}
