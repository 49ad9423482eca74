//! The seed's commit strategies (§7.5.2), each an example under `examples/` run here as a test on
//! an embedded cluster: the example's `run` does the scenario and returns its figures, the test
//! asserts the strategy's loss and duplicate windows on them. The examples' `main`s (and what
//! only they use) are dead code here.

use brook::{Cluster, TopicPartition};

#[path = "../examples/commit_after_processing.rs"]
#[allow(dead_code)]
mod commit_after_processing;

#[path = "../examples/auto_commit.rs"]
#[allow(dead_code)]
mod auto_commit;

#[path = "../examples/commit_on_rebalance.rs"]
#[allow(dead_code)]
mod commit_on_rebalance;

#[path = "../examples/retry_then_dlq.rs"]
#[allow(dead_code)]
mod retry_then_dlq;

async fn cluster() -> Cluster {
    Cluster::builder().brokers(1).start().await.unwrap()
}

/// Every partition the replacement read from, it started at the group's committed offset
/// (offset 0 where nothing was committed).
fn started_at_the_commit(o: &commit_after_processing::Outcome) {
    assert!(!o.replacement_started_at.is_empty(), "{o:?}");
    for (tp, start) in &o.replacement_started_at {
        let committed = o.committed_at_crash.get(tp).copied().unwrap_or(0);
        assert_eq!(
            *start, committed,
            "{tp}: the replacement did not start at the commit: {o:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_after_processing_replays_nothing_after_a_crash_between_polls() {
    use commit_after_processing::{CrashAt, RECORDS, run};
    let cluster = cluster().await;
    let o = run(&cluster, CrashAt::BetweenPolls).await.unwrap();
    started_at_the_commit(&o);
    assert_eq!(o.processed_after_last_commit, 0, "{o:?}");
    assert_eq!(o.duplicates, 0, "{o:?}");
    assert_eq!(o.missing, 0, "{o:?}");
    assert!(
        o.processed_before_crash > 0 && o.processed_by_replacement > 0,
        "{o:?}"
    );
    assert_eq!(
        o.processed_before_crash + o.processed_by_replacement,
        RECORDS
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_after_processing_replays_only_the_uncommitted_part_of_a_batch() {
    use commit_after_processing::{CrashAt, MAX_POLL_RECORDS, run};
    let cluster = cluster().await;
    let o = run(&cluster, CrashAt::MidBatch(2)).await.unwrap();
    started_at_the_commit(&o);
    assert!(o.processed_after_last_commit > 0, "{o:?}");
    assert!(o.processed_after_last_commit <= MAX_POLL_RECORDS, "{o:?}");
    assert_eq!(o.duplicates, o.processed_after_last_commit, "{o:?}");
    assert_eq!(o.missing, 0, "{o:?}");
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commit_replays_what_was_processed_since_the_last_auto_commit() {
    let cluster = cluster().await;
    let o = auto_commit::run(&cluster).await.unwrap();
    assert!(
        o.last_auto_commit_age < auto_commit::AUTO_COMMIT_INTERVAL,
        "the crash came too late to be sure no second auto-commit ran: {o:?}"
    );
    assert!(!o.committed_at_crash.is_empty(), "{o:?}");
    assert!(o.processed_twice > 0, "{o:?}");
    assert!(
        o.processed_twice <= o.processed_since_last_auto_commit,
        "{o:?}"
    );
    // Only what the last auto-commit did not cover is read again, all of it.
    assert_eq!(
        o.processed_twice, o.processed_since_last_auto_commit,
        "{o:?}"
    );
    assert_eq!(o.missing, 0, "{o:?}");
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_on_rebalance_consumes_nothing_twice_across_a_join_and_a_close() {
    let cluster = cluster().await;
    let o = commit_on_rebalance::run(&cluster).await.unwrap();
    assert_eq!(o.consumed_twice, 0, "{o:?}");
    assert_eq!(o.missing, 0, "{o:?}");
    assert!(o.consumed_by_first > 0 && o.consumed_by_second > 0, "{o:?}");
    let revokes_of_first = o
        .events
        .iter()
        .filter(|e| e.starts_with("member 1 revoked"))
        .count();
    assert!(
        revokes_of_first >= 2,
        "member 1 revokes at member 2's join and at its own close: {o:?}"
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_then_dlq_dead_letters_the_poisoned_record_and_commits_past_it() {
    use retry_then_dlq::{ATTEMPTS, RECORDS, TOPIC, run};
    let cluster = cluster().await;
    let o = run(&cluster).await.unwrap();
    assert_eq!(o.processed, RECORDS - 1, "every good record once: {o:?}");
    assert_eq!(o.dead_lettered, 1, "{o:?}");
    assert_eq!(o.attempts_on_poisoned, ATTEMPTS, "{o:?}");
    let d = &o.dead_letter;
    assert_eq!(d.topic, format!("{TOPIC}.dlq"));
    assert_eq!(d.value, "order seven");
    let h = |k: &str| d.headers.get(k).map(String::as_str);
    assert_eq!(h("dlq.error"), Some("ParseIntError"), "{d:?}");
    assert_eq!(
        h("dlq.error.message"),
        Some("invalid digit found in string"),
        "{d:?}"
    );
    assert_eq!(h("dlq.original.topic"), Some(TOPIC));
    let (partition, offset) = o.poisoned_at;
    assert_eq!(
        h("dlq.original.partition"),
        Some(partition.to_string().as_str())
    );
    assert_eq!(h("dlq.original.offset"), Some(offset.to_string().as_str()));
    assert_eq!(h("dlq.attempts"), Some(ATTEMPTS.to_string().as_str()));
    // The committed offset is past the poisoned record: the whole topic is consumed.
    let poisoned_tp = TopicPartition::new(TOPIC, partition);
    assert!(
        o.committed.get(&poisoned_tp).copied().unwrap_or(0) > offset,
        "{o:?}"
    );
    assert_eq!(o.committed, o.end_offsets, "{o:?}");
    cluster.shutdown().await.unwrap();
}
