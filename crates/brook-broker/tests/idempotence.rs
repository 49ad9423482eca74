//! The idempotent producer over the wire (SPEC §6; kafka-semantics I1–I7, scenarios T12, T13 and
//! the restart part of T14): retries are deduplicated with their original offsets, sequence and
//! epoch errors are refused without appending, and deduplication survives clean and abrupt
//! restarts as far as the snapshot rules promise.

mod common;

use brook_proto::ErrorCode;
use common::*;

/// Produces with acks=all and asserts success; returns the base offset.
async fn send(b: &TestBroker, topic: &str, batch: bytes::Bytes) -> i64 {
    let p = b.produce(topic, 0, -1, batch).await;
    assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
    p.base_offset
}

/// Produces and asserts the error, that no offset came back and that the LEO did not move.
async fn refused(b: &TestBroker, topic: &str, batch: bytes::Bytes, expected: ErrorCode) {
    let before = b.leo(topic, 0).await;
    let p = b.produce(topic, 0, -1, batch).await;
    assert_eq!(code(p.error_code), expected, "{p:?}");
    assert_eq!(p.base_offset, -1, "{p:?}");
    assert_eq!(b.leo(topic, 0).await, before, "nothing may be appended");
}

/// Every value in the partition, asserting none appears twice.
async fn assert_no_duplicates(b: &TestBroker, topic: &str) -> Vec<String> {
    let values = values_of(&b.read_all(topic, 0, 0).await);
    let mut sorted = values.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), values.len(), "duplicates in {values:?}");
    values
}

#[tokio::test]
async fn init_producer_id_hands_out_distinct_ids_and_bumps_epochs() {
    let b = TestBroker::start().await;
    let (p1, e1) = b.new_producer().await;
    let (p2, e2) = b.new_producer().await;
    assert!(p1 >= 0 && p2 >= 0);
    assert_ne!(p1, p2);
    assert_eq!((e1, e2), (0, 0));
    let r = b.init_producer_id(p1, 0).await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!((r.producer_id, r.producer_epoch), (p1, 1));
}

#[tokio::test]
async fn producer_ids_are_not_reused_after_a_restart() {
    let mut b = TestBroker::start().await;
    let (p1, _) = b.new_producer().await;
    b.restart_clean().await;
    let (p2, _) = b.new_producer().await;
    b.kill_and_restart().await;
    let (p3, _) = b.new_producer().await;
    assert!(p1 != p2 && p2 != p3 && p1 != p3, "{p1} {p2} {p3}");
}

#[tokio::test]
async fn t12_an_identical_retry_gets_the_original_offset_and_is_stored_once() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    // 100 records from someone else first, so the batch lands at 100..109 as in T12.
    for _ in 0..10 {
        b.produce_ok("t", 0, batch(&[&b"o"[..]; 10])).await;
    }
    let (pid, epoch) = b.new_producer().await;
    let b0 = idem_batch(pid, epoch, 0, 10);
    assert_eq!(send(&b, "t", b0.clone()).await, 100);
    assert_eq!(b.leo("t", 0).await, 110);
    // The response was "lost": the client resends the identical bytes, with every acks mode.
    for acks in [-1, 1, 0] {
        let p = b.produce("t", 0, acks, b0.clone()).await;
        assert_eq!(code(p.error_code), ErrorCode::None, "acks={acks}: {p:?}");
        if acks != 0 {
            assert_eq!(p.base_offset, 100, "acks={acks}: {p:?}");
        }
        assert_eq!(b.leo("t", 0).await, 110, "acks={acks}: nothing appended");
    }
    let recs = b.read_all("t", 0, 100).await;
    assert_eq!(recs.len(), 10, "one copy");
    assert_eq!(recs[0].offset, 100);
    assert_eq!(
        values_of(&recs),
        (0..10).map(|s| format!("{pid}/0/{s}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn t12_five_in_flight_batches_all_resent_are_all_deduplicated() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let (pid, epoch) = b.new_producer().await;
    let batches: Vec<_> = (0..5).map(|i| idem_batch(pid, epoch, i * 3, 3)).collect();
    let mut offsets = Vec::new();
    for bb in &batches {
        offsets.push(send(&b, "t", bb.clone()).await);
    }
    assert_eq!(offsets, [0, 3, 6, 9, 12]);
    // All five acks were lost; the client resends all five, in order and then out of order.
    for order in [[0, 1, 2, 3, 4], [4, 2, 0, 3, 1]] {
        for i in order {
            let p = b.produce("t", 0, -1, batches[i].clone()).await;
            assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
            assert_eq!(p.base_offset, offsets[i], "batch {i}");
        }
    }
    assert_eq!(b.leo("t", 0).await, 15);
    assert_eq!(assert_no_duplicates(&b, "t").await.len(), 15);
    // The producer carries on where it was.
    assert_eq!(send(&b, "t", idem_batch(pid, epoch, 15, 1)).await, 15);
}

#[tokio::test]
async fn t13_a_sequence_gap_is_out_of_order_sequence_number() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let (pid, epoch) = b.new_producer().await;
    send(&b, "t", idem_batch(pid, epoch, 0, 10)).await;
    refused(
        &b,
        "t",
        idem_batch(pid, epoch, 20, 1),
        ErrorCode::OutOfOrderSequenceNumber,
    )
    .await;
    // One too far, and one overlapping but not identical, are gaps too.
    refused(
        &b,
        "t",
        idem_batch(pid, epoch, 11, 1),
        ErrorCode::OutOfOrderSequenceNumber,
    )
    .await;
    refused(
        &b,
        "t",
        idem_batch(pid, epoch, 5, 10),
        ErrorCode::OutOfOrderSequenceNumber,
    )
    .await;
    // The expected sequence still works.
    assert_eq!(send(&b, "t", idem_batch(pid, epoch, 10, 1)).await, 10);
    assert_eq!(assert_no_duplicates(&b, "t").await.len(), 11);
}

#[tokio::test]
async fn t13_epoch_bumps_must_restart_at_zero_and_fence_the_old_epoch() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let (pid, e0) = b.new_producer().await;
    send(&b, "t", idem_batch(pid, e0, 0, 10)).await;
    let bumped = b.init_producer_id(pid, e0 as i32).await;
    assert_eq!(code(bumped.error_code), ErrorCode::None);
    let e1 = bumped.producer_epoch as i16;
    assert_eq!(e1, e0 + 1);
    // epoch + 1 with seq 5: a new epoch starts at 0.
    refused(
        &b,
        "t",
        idem_batch(pid, e1, 5, 1),
        ErrorCode::OutOfOrderSequenceNumber,
    )
    .await;
    // epoch + 1 with seq 0: accepted.
    assert_eq!(send(&b, "t", idem_batch(pid, e1, 0, 2)).await, 10);
    // The old epoch is fenced, whatever its sequence (even its own last batch).
    refused(
        &b,
        "t",
        idem_batch(pid, e0, 10, 1),
        ErrorCode::InvalidProducerEpoch,
    )
    .await;
    refused(
        &b,
        "t",
        idem_batch(pid, e0, 0, 10),
        ErrorCode::InvalidProducerEpoch,
    )
    .await;
    // The new epoch keeps going.
    assert_eq!(send(&b, "t", idem_batch(pid, e1, 2, 1)).await, 12);
    assert_eq!(b.leo("t", 0).await, 13);
}

#[tokio::test]
async fn t13_a_duplicate_older_than_the_five_batch_window_is_out_of_order() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let (pid, epoch) = b.new_producer().await;
    let batches: Vec<_> = (0..7).map(|s| idem_batch(pid, epoch, s, 1)).collect();
    for (i, bb) in batches.iter().enumerate() {
        assert_eq!(send(&b, "t", bb.clone()).await, i as i64);
    }
    // Counting the last batch as one back: six back (seq 1) and seven back (seq 0) have left
    // the window; five back (seq 2) is still in it.
    for old in [1, 0] {
        refused(
            &b,
            "t",
            batches[old].clone(),
            ErrorCode::OutOfOrderSequenceNumber,
        )
        .await;
    }
    let p = b.produce("t", 0, -1, batches[2].clone()).await;
    assert_eq!((code(p.error_code), p.base_offset), (ErrorCode::None, 2));
    assert_eq!(b.leo("t", 0).await, 7);
    assert_eq!(assert_no_duplicates(&b, "t").await.len(), 7);
}

#[tokio::test]
async fn t13_a_producer_id_without_state_is_accepted_at_any_sequence() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    // An id this broker never handed out (e.g. expired state, or another broker's id).
    let pid = 987_654;
    assert_eq!(send(&b, "t", idem_batch(pid, 3, 37, 2)).await, 0);
    // From then on it is checked like any other producer.
    refused(
        &b,
        "t",
        idem_batch(pid, 3, 37, 1),
        ErrorCode::OutOfOrderSequenceNumber,
    )
    .await;
    let p = b.produce("t", 0, -1, idem_batch(pid, 3, 37, 2)).await;
    assert_eq!((code(p.error_code), p.base_offset), (ErrorCode::None, 0));
    assert_eq!(send(&b, "t", idem_batch(pid, 3, 39, 1)).await, 2);
    // A fresh id from InitProducerId may also start anywhere.
    let (fresh, e) = b.new_producer().await;
    assert_eq!(send(&b, "t", idem_batch(fresh, e, 37, 1)).await, 3);
    assert_eq!(b.leo("t", 0).await, 4);
}

#[tokio::test]
async fn sequences_are_per_partition() {
    let b = TestBroker::start().await;
    b.create_topic("t", 2, &[]).await;
    let (pid, epoch) = b.new_producer().await;
    assert_eq!(send(&b, "t", idem_batch(pid, epoch, 0, 5)).await, 0);
    // Partition 1 has its own sequence space, starting at 0.
    let p = b.produce("t", 1, -1, idem_batch(pid, epoch, 0, 2)).await;
    assert_eq!((code(p.error_code), p.base_offset), (ErrorCode::None, 0));
    let p = b.produce("t", 1, -1, idem_batch(pid, epoch, 5, 1)).await;
    assert_eq!(
        code(p.error_code),
        ErrorCode::OutOfOrderSequenceNumber,
        "{p:?}"
    );
    assert_eq!(send(&b, "t", idem_batch(pid, epoch, 5, 1)).await, 5);
    assert_eq!((b.leo("t", 0).await, b.leo("t", 1).await), (6, 2));
}

#[tokio::test]
async fn t14_after_a_clean_restart_every_batch_in_the_window_is_deduplicated() {
    let mut b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let (pid, epoch) = b.new_producer().await;
    // Six batches: the first has left the 5-batch window before the restart.
    let batches: Vec<_> = (0..6).map(|i| idem_batch(pid, epoch, i * 2, 2)).collect();
    let mut offsets = Vec::new();
    for bb in &batches {
        offsets.push(send(&b, "t", bb.clone()).await);
    }
    assert_eq!(offsets, [0, 2, 4, 6, 8, 10]);
    b.restart_clean().await;
    assert_eq!(b.leo("t", 0).await, 12);
    // Every batch a client can have in flight (the last 5) is deduplicated with its original
    // offset: the snapshot keeps the whole window (Kafka's keeps only the last batch).
    for i in 1..6 {
        let p = b.produce("t", 0, -1, batches[i].clone()).await;
        assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
        assert_eq!(p.base_offset, offsets[i]);
    }
    assert_eq!(b.leo("t", 0).await, 12);
    // Older than the window: out of order, never appended a second time.
    refused(
        &b,
        "t",
        batches[0].clone(),
        ErrorCode::OutOfOrderSequenceNumber,
    )
    .await;
    // The producer continues in sequence.
    assert_eq!(send(&b, "t", idem_batch(pid, epoch, 12, 1)).await, 12);
    assert_eq!(assert_no_duplicates(&b, "t").await.len(), 13);
}

#[tokio::test]
async fn after_a_kill_acks_1_data_survives_and_the_last_batch_is_still_deduplicated() {
    let mut b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let (pid, epoch) = b.new_producer().await;
    let batches: Vec<_> = (0..4).map(|i| idem_batch(pid, epoch, i * 3, 3)).collect();
    for (i, bb) in batches.iter().enumerate() {
        let p = b.produce("t", 0, 1, bb.clone()).await;
        assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
        assert_eq!(p.base_offset, 3 * i as i64);
    }
    let before = values_of(&b.read_all("t", 0, 0).await);
    assert_eq!(before.len(), 12);
    // No flush, no snapshot, no checkpoint: producer state must come back from the log itself.
    b.kill_and_restart().await;
    assert_eq!(b.leo("t", 0).await, 12);
    assert_eq!(values_of(&b.read_all("t", 0, 0).await), before);
    let p = b.produce("t", 0, 1, batches[3].clone()).await;
    assert_eq!(code(p.error_code), ErrorCode::None, "{p:?}");
    assert_eq!(p.base_offset, 9);
    assert_eq!(b.leo("t", 0).await, 12);
    // Rebuilt from the log, the whole window is known: an older retry is deduplicated too, and
    // the next sequence is the one after the last batch.
    let p = b.produce("t", 0, 1, batches[1].clone()).await;
    assert_eq!((code(p.error_code), p.base_offset), (ErrorCode::None, 3));
    refused(
        &b,
        "t",
        idem_batch(pid, epoch, 13, 1),
        ErrorCode::OutOfOrderSequenceNumber,
    )
    .await;
    assert_eq!(send(&b, "t", idem_batch(pid, epoch, 12, 1)).await, 12);
    assert_eq!(assert_no_duplicates(&b, "t").await.len(), 13);
}
