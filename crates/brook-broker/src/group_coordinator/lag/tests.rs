//! The lag rules against Burrow's own tests (linkedin/Burrow at
//! `ced55ba90f6b833a45a124d411fd5eef63a70933`):
//!
//! - `core/internal/evaluator/caching_test.go`, the `tests` table and
//!   `TestCachingEvaluator_CheckRules`: each row is a window (offset, timestamp in ms, lag), the
//!   recent end offsets, the current lag, `timeNow` **in seconds** (as in Burrow; multiplied by
//!   1000 here), the allowed lag, and the expected answer of every rule and of
//!   `calculatePartitionStatus`. Rows are copied as they are, with Burrow's comments.
//! - `TestCachingEvaluator_SingleRequest_*` on the storage fixture
//!   (`core/internal/storage/fixtures.go` `CoordinatorWithOffsets`), and
//!   `core/internal/storage/inmemory_test.go` (`addConsumerOffset`, `_MinDistance`,
//!   `_BadBrokerOffset`) for the window's storage rules.

use super::rules::*;
use super::*;

fn c(offset: i64, timestamp_ms: i64, lag: Option<u64>) -> StoredCommit {
    StoredCommit {
        offset,
        timestamp_ms,
        lag,
    }
}

/// Burrow's `testset`.
struct Row {
    offsets: Vec<StoredCommit>,
    end_offsets: Vec<i64>,
    current_lag: u64,
    time_now_s: i64,
    allowed_lag: u64,
    is_lag_always_not_zero: bool,
    check_if_offsets_rewind: Option<usize>,
    check_if_offsets_stopped: bool,
    check_if_offsets_stalled: bool,
    check_if_lag_not_decreasing: bool,
    check_if_recent_lag_zero: bool,
    status: LagStatus,
}

/// caching_test.go's `tests`, row for row.
fn burrow_rows() -> Vec<Row> {
    vec![
        // 0 - returns OK because there is zero lag somewhere
        Row {
            offsets: vec![
                c(1000, 100000, Some(0)),
                c(2000, 200000, Some(50)),
                c(3000, 300000, Some(100)),
                c(4000, 400000, Some(150)),
                c(5000, 500000, Some(200)),
            ],
            end_offsets: vec![5200],
            current_lag: 200,
            time_now_s: 600,
            allowed_lag: 0,
            is_lag_always_not_zero: false,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Ok,
        },
        // 1 - same status. does not return true for stop because time since last commit (400s) is equal to the difference (500-100), not greater than
        Row {
            offsets: vec![
                c(1000, 100000, Some(0)),
                c(2000, 200000, Some(50)),
                c(3000, 300000, Some(100)),
                c(4000, 400000, Some(150)),
                c(5000, 500000, Some(200)),
            ],
            end_offsets: vec![5200],
            current_lag: 200,
            time_now_s: 900,
            allowed_lag: 0,
            is_lag_always_not_zero: false,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Ok,
        },
        // 2 - status is now STOP because the time since last commit is great enough (500s), even though lag is zero at the start (fixed due to #290)
        Row {
            offsets: vec![
                c(1000, 100000, Some(0)),
                c(2000, 200000, Some(50)),
                c(3000, 300000, Some(100)),
                c(4000, 400000, Some(150)),
                c(5000, 500000, Some(200)),
            ],
            end_offsets: vec![5200],
            current_lag: 200,
            time_now_s: 1000,
            allowed_lag: 0,
            is_lag_always_not_zero: false,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: true,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Stop,
        },
        // 3 - status is STOP when lag is always non-zero as well
        Row {
            offsets: vec![
                c(1000, 100000, Some(50)),
                c(2000, 200000, Some(100)),
                c(3000, 300000, Some(150)),
                c(4000, 400000, Some(200)),
                c(5000, 500000, Some(250)),
            ],
            end_offsets: vec![5250],
            current_lag: 250,
            time_now_s: 1000,
            allowed_lag: 0,
            is_lag_always_not_zero: true,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: true,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Stop,
        },
        // 4 - status is OK because of zero lag, but stall is true because the offset is always the same and there is lag (another commit with turn this to stall)
        Row {
            offsets: vec![
                c(1000, 100000, Some(0)),
                c(1000, 200000, Some(50)),
                c(1000, 300000, Some(100)),
                c(1000, 400000, Some(150)),
                c(1000, 500000, Some(200)),
            ],
            end_offsets: vec![1200],
            current_lag: 200,
            time_now_s: 600,
            allowed_lag: 0,
            is_lag_always_not_zero: false,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: true,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Ok,
        },
        // 5 - status is now STALL because the lag is always non-zero
        Row {
            offsets: vec![
                c(1000, 100000, Some(100)),
                c(1000, 200000, Some(150)),
                c(1000, 300000, Some(200)),
                c(1000, 400000, Some(250)),
                c(1000, 500000, Some(300)),
            ],
            end_offsets: vec![1300],
            current_lag: 300,
            time_now_s: 600,
            allowed_lag: 0,
            is_lag_always_not_zero: true,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: true,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Stall,
        },
        // 6 - status is still STALL even when the lag stays the same
        Row {
            offsets: vec![
                c(1000, 100000, Some(100)),
                c(1000, 200000, Some(100)),
                c(1000, 300000, Some(100)),
                c(1000, 400000, Some(100)),
                c(1000, 500000, Some(100)),
            ],
            end_offsets: vec![1100],
            current_lag: 100,
            time_now_s: 600,
            allowed_lag: 0,
            is_lag_always_not_zero: true,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: true,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Stall,
        },
        // 7 - status is OK because the offsets go backwards, but though the lag does decrease within the window (caught up the rewind)
        Row {
            offsets: vec![
                c(1000, 100000, Some(100)),
                c(2000, 200000, Some(150)),
                c(3000, 300000, Some(200)),
                c(2000, 400000, Some(1250)),
                c(4000, 500000, Some(300)),
            ],
            end_offsets: vec![4300],
            current_lag: 300,
            time_now_s: 600,
            allowed_lag: 0,
            is_lag_always_not_zero: true,
            check_if_offsets_rewind: Some(3),
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: false,
            check_if_recent_lag_zero: false,
            status: LagStatus::Ok,
        },
        // 8 - status is OK because the current lag is 0 (even though the offsets show lag), even though it would be considered stopped due to timestamps
        Row {
            offsets: vec![
                c(1000, 100000, Some(50)),
                c(2000, 200000, Some(100)),
                c(3000, 300000, Some(150)),
                c(4000, 400000, Some(200)),
                c(5000, 500000, Some(250)),
            ],
            end_offsets: vec![5250],
            current_lag: 0,
            time_now_s: 1000,
            allowed_lag: 0,
            is_lag_always_not_zero: true,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: true,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Ok,
        },
        // 9 - status is STOP due to timestamps because the current lag is non-zero, even though lag is always zero in offsets, only because there is new data (#290)
        Row {
            offsets: vec![
                c(792748079, 1512224618356, Some(0)),
                c(792748080, 1512224619362, Some(0)),
                c(792748081, 1512224620366, Some(0)),
                c(792748082, 1512224621367, Some(0)),
                c(792748083, 1512224622370, Some(0)),
                c(792748084, 1512224623373, Some(0)),
                c(792748085, 1512224624378, Some(0)),
                c(792748086, 1512224625379, Some(0)),
                c(792748087, 1512224626383, Some(0)),
                c(792748088, 1512224627383, Some(0)),
                c(792748089, 1512224628383, Some(0)),
                c(792748090, 1512224629388, Some(0)),
                c(792748091, 1512224630391, Some(0)),
                c(792748092, 1512224631394, Some(0)),
                c(792748093, 1512224632397, Some(0)),
            ],
            end_offsets: vec![792749024, 792749000, 792748800, 792748600, 792748500],
            current_lag: 931,
            time_now_s: 1512224650,
            allowed_lag: 0,
            is_lag_always_not_zero: false,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: true,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Stop,
        },
        // 10 - status is OK, even though it would be stop due to timestamps, as within the recent broker offset window the lag was zero (#303)
        Row {
            offsets: vec![
                c(792748079, 1512224618356, Some(0)),
                c(792748080, 1512224619362, Some(0)),
                c(792748081, 1512224620366, Some(0)),
                c(792748082, 1512224621367, Some(0)),
                c(792748083, 1512224622370, Some(0)),
                c(792748084, 1512224623373, Some(0)),
                c(792748085, 1512224624378, Some(0)),
                c(792748086, 1512224625379, Some(0)),
                c(792748087, 1512224626383, Some(0)),
                c(792748088, 1512224627383, Some(0)),
                c(792748089, 1512224628383, Some(0)),
                c(792748090, 1512224629388, Some(0)),
                c(792748091, 1512224630391, Some(0)),
                c(792748092, 1512224631394, Some(0)),
                c(792748093, 1512224632397, Some(0)),
            ],
            end_offsets: vec![792748094, 792748093, 792748093, 792748093],
            current_lag: 1,
            time_now_s: 1512224650,
            allowed_lag: 0,
            is_lag_always_not_zero: false,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: true,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: true,
            status: LagStatus::Ok,
        },
        // 11 - same case as test 0 with additional `nil` lag entries which should not affect results
        Row {
            offsets: vec![
                c(1000, 100000, Some(0)),
                c(1500, 150000, None),
                c(2000, 200000, Some(50)),
                c(2500, 250000, None),
                c(3000, 300000, Some(100)),
                c(3500, 350000, None),
                c(4000, 400000, Some(150)),
                c(4500, 450000, None),
                c(5000, 500000, Some(200)),
                c(5500, 550000, None),
            ],
            end_offsets: vec![5700],
            current_lag: 200,
            time_now_s: 600,
            allowed_lag: 0,
            is_lag_always_not_zero: false,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Ok,
        },
        // 12 - status is OK despite the fact that the current lag is greater zero and the time since last commit is great enough because of the configured allowed lag
        Row {
            offsets: vec![
                c(1000, 100000, Some(2)),
                c(2000, 200000, Some(1)),
                c(2000, 300000, Some(1)),
            ],
            end_offsets: vec![2001],
            current_lag: 1,
            time_now_s: 550,
            allowed_lag: 1,
            is_lag_always_not_zero: false,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: true,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: false,
            check_if_recent_lag_zero: false,
            status: LagStatus::Ok,
        },
        // 13 - same as 5 but with an allowed lag
        Row {
            offsets: vec![
                c(1000, 100000, Some(100)),
                c(1000, 200000, Some(150)),
                c(1000, 300000, Some(200)),
                c(1000, 400000, Some(250)),
                c(1000, 500000, Some(300)),
            ],
            end_offsets: vec![1300],
            current_lag: 300,
            time_now_s: 600,
            allowed_lag: 99,
            is_lag_always_not_zero: true,
            check_if_offsets_rewind: None,
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: true,
            check_if_lag_not_decreasing: true,
            check_if_recent_lag_zero: false,
            status: LagStatus::Stall,
        },
        // 14 - same as 7 but with an allowed lag
        Row {
            offsets: vec![
                c(1000, 100000, Some(100)),
                c(2000, 200000, Some(150)),
                c(3000, 300000, Some(200)),
                c(2000, 400000, Some(1250)),
                c(4000, 500000, Some(300)),
            ],
            end_offsets: vec![4300],
            current_lag: 300,
            time_now_s: 600,
            allowed_lag: 99,
            is_lag_always_not_zero: true,
            check_if_offsets_rewind: Some(3),
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: false,
            check_if_recent_lag_zero: false,
            status: LagStatus::Ok,
        },
        // 15 - Rewind, but we did not catch up to the previous point
        Row {
            offsets: vec![
                c(1000, 100000, Some(100)),
                c(2000, 200000, Some(150)),
                c(3000, 300000, Some(200)),
                c(2000, 400000, Some(1250)),
                c(2500, 500000, Some(300)),
            ],
            end_offsets: vec![4300],
            current_lag: 300,
            time_now_s: 600,
            allowed_lag: 0,
            is_lag_always_not_zero: true,
            check_if_offsets_rewind: Some(3),
            check_if_offsets_stopped: false,
            check_if_offsets_stalled: false,
            check_if_lag_not_decreasing: false,
            check_if_recent_lag_zero: false,
            status: LagStatus::Rewind,
        },
    ]
}

#[test]
fn burrows_rule_table_gives_burrows_answers() {
    let rows = burrow_rows();
    assert_eq!(rows.len(), 16, "caching_test.go has 16 rows");
    for (i, r) in rows.iter().enumerate() {
        let now_ms = r.time_now_s * 1000;
        assert_eq!(
            is_lag_always_not_zero(&r.offsets, r.allowed_lag),
            r.is_lag_always_not_zero,
            "TEST {i}: isLagAlwaysNotZero"
        );
        assert_eq!(
            check_if_offsets_rewind(&r.offsets),
            r.check_if_offsets_rewind,
            "TEST {i}: checkIfOffsetsRewind"
        );
        assert_eq!(
            check_if_offsets_stopped(&r.offsets, now_ms),
            r.check_if_offsets_stopped,
            "TEST {i}: checkIfOffsetsStopped"
        );
        assert_eq!(
            check_if_offsets_stalled(&r.offsets),
            r.check_if_offsets_stalled,
            "TEST {i}: checkIfOffsetsStalled"
        );
        assert_eq!(
            check_if_lag_not_decreasing(&r.offsets),
            r.check_if_lag_not_decreasing,
            "TEST {i}: checkIfLagNotDecreasing"
        );
        assert_eq!(
            check_if_recent_lag_zero(&r.offsets, &r.end_offsets),
            r.check_if_recent_lag_zero,
            "TEST {i}: checkIfRecentLagZero"
        );
        assert_eq!(
            calculate_partition_status(
                &r.offsets,
                &r.end_offsets,
                r.current_lag,
                now_ms,
                r.allowed_lag
            ),
            r.status,
            "TEST {i}: calculatePartitionStatus"
        );
    }
}

#[test]
fn statuses_carry_burrows_numbers_and_names() {
    let all = [
        (LagStatus::Notfound, 0, "NOTFOUND"),
        (LagStatus::Ok, 1, "OK"),
        (LagStatus::Warn, 2, "WARN"),
        (LagStatus::Err, 3, "ERR"),
        (LagStatus::Stop, 4, "STOP"),
        (LagStatus::Stall, 5, "STALL"),
        (LagStatus::Rewind, 6, "REWIND"),
    ];
    for (s, n, name) in all {
        assert_eq!((s.value(), s.name()), (n, name));
    }
}

// ---- the storage fixture (fixtures.go) and the evaluator's requests on it ----

/// `CoordinatorWithOffsets`: intervals 10, min-distance 0, end offset 4321; `testgroup` has a
/// full ring (offsets 1000, 1100, … 1900 every 10 s), `testgroup2` half a ring (1000 … 1400).
/// Returns the store and "now" (100 s after the first commit).
fn burrow_fixture() -> (LagWindows, i64) {
    let mut w = LagWindows::new(LagConfig {
        intervals: 10,
        min_distance_ms: 0,
        ..LagConfig::default()
    });
    w.update_end_offset("testtopic", 0, 4321);
    let start = 1_700_000_000_000;
    for i in 0..10 {
        let o = w.record_commit(
            "testgroup",
            "testtopic",
            0,
            1000 + i * 100,
            start + i * 10_000,
        );
        assert_eq!(o, CommitOutcome::Appended);
    }
    for i in 0..5 {
        w.record_commit(
            "testgroup2",
            "testtopic",
            0,
            1000 + i * 100,
            start + i * 10_000,
        );
    }
    (w, start + 100_000)
}

#[test]
fn burrows_full_ring_group_is_ok_with_its_total_lag() {
    // TestCachingEvaluator_SingleRequest_ShowAll
    let (w, now) = burrow_fixture();
    let e = w.evaluate("testgroup", now);
    assert_eq!(e.status, LagStatus::Ok);
    assert_eq!(e.complete, 1.0);
    assert_eq!(e.partitions.len(), 1);
    assert_eq!(e.total_lag, 2421);
}

#[test]
fn burrows_half_ring_group_is_err_with_a_stopped_incomplete_partition() {
    // TestCachingEvaluator_SingleRequest_Incomplete
    let (w, now) = burrow_fixture();
    let e = w.evaluate("testgroup2", now);
    assert_eq!(e.status, LagStatus::Err);
    assert_eq!(e.complete, 0.0);
    assert_eq!(e.total_lag, 2921);
    assert_eq!(e.partitions[0].complete, 0.5);
    assert_eq!(e.partitions[0].status, LagStatus::Stop);
    let max = e.max_lag.expect("a max-lag partition");
    assert_eq!(max.start.map(|s| s.offset), Some(1000));
    assert_eq!(max.end.map(|s| s.offset), Some(1400));
}

#[test]
fn an_unknown_group_is_notfound() {
    // TestCachingEvaluator_Start
    let (w, now) = burrow_fixture();
    let e = w.evaluate("nosuchgroup", now);
    assert_eq!(e.status, LagStatus::Notfound);
    assert!(e.partitions.is_empty() && e.max_lag.is_none());
}

// ---- storage rules (inmemory_test.go) ----

/// `startWithTestConsumerOffsets`: min-distance 1 s, end offset 4321, ten commits 10 s apart.
fn storage_fixture(start: i64) -> LagWindows {
    let mut w = LagWindows::new(LagConfig {
        intervals: 10,
        min_distance_ms: 1000,
        ..LagConfig::default()
    });
    w.update_end_offset("testtopic", 0, 4321);
    for i in 0..10 {
        w.record_commit(
            "testgroup",
            "testtopic",
            0,
            1000 + i * 100,
            start + i * 10_000,
        );
    }
    w
}

#[test]
fn a_full_ring_drops_its_oldest_commit_and_lag_is_taken_at_commit_time() {
    // TestInMemoryStorage_addConsumerOffset
    let start = 1_700_000_000_000;
    let mut w = storage_fixture(start);
    let o = w.record_commit("testgroup", "testtopic", 0, 2000, start + 100_000);
    assert_eq!(o, CommitOutcome::Appended);
    let ring = w.window("testgroup", "testtopic", 0);
    assert_eq!(ring.len(), 10);
    for (i, e) in ring.iter().enumerate() {
        let offset = 1100 + i as i64 * 100;
        assert_eq!(
            *e,
            c(
                offset,
                start + 10_000 + i as i64 * 10_000,
                Some((4321 - offset) as u64)
            ),
            "position {i}"
        );
    }
}

#[test]
fn a_commit_within_min_distance_replaces_the_newest_and_keeps_its_timestamp() {
    // TestInMemoryStorage_addConsumerOffset_MinDistance
    let start = 1_700_000_000_000;
    let mut w = storage_fixture(start);
    let o = w.record_commit("testgroup", "testtopic", 0, 2000, start + 90_001);
    assert_eq!(o, CommitOutcome::Merged);
    let ring = w.window("testgroup", "testtopic", 0);
    assert_eq!(ring.len(), 10);
    for (i, e) in ring.iter().enumerate() {
        let offset = if i == 9 { 2000 } else { 1000 + i as i64 * 100 };
        assert_eq!(
            *e,
            c(
                offset,
                start + i as i64 * 10_000,
                Some((4321 - offset) as u64)
            ),
            "position {i}"
        );
    }
}

#[test]
fn a_commit_before_any_end_offset_is_dropped() {
    // TestInMemoryStorage_addConsumerOffset_BadBrokerOffset
    let mut w = storage_fixture(0);
    let o = w.record_commit("testgroup", "notopic", 0, 3434, 5677);
    assert_eq!(o, CommitOutcome::NoEndOffset);
    assert!(w.window("testgroup", "notopic", 0).is_empty());
    assert!(!w.has_group("other"));
}

#[test]
fn a_commit_ahead_of_a_stale_end_offset_has_lag_zero_and_so_does_the_current_lag() {
    let mut w = storage_fixture(0);
    w.record_commit("testgroup", "testtopic", 0, 5000, 200_000);
    assert_eq!(
        w.window("testgroup", "testtopic", 0).last().copied(),
        Some(c(5000, 200_000, Some(0)))
    );
    assert_eq!(w.evaluate("testgroup", 200_000).total_lag, 0);
}

#[test]
fn end_offsets_keep_the_last_intervals_refreshes() {
    let mut w = LagWindows::new(LagConfig {
        intervals: 3,
        ..LagConfig::default()
    });
    for e in [10, 20, 30, 40] {
        w.update_end_offset("t", 0, e);
    }
    assert_eq!(w.end_offset("t", 0), Some(40));
    // The oldest (10) is gone: a commit at 15 was not "recently caught up".
    w.record_commit("g", "t", 0, 15, 0);
    let e = w.evaluate("g", 10);
    assert_eq!(e.partitions[0].current_lag, 25);
    assert_eq!(e.partitions[0].status, LagStatus::Stop);
    w.update_end_offset("t", 0, 15);
    // ... now it is: no STOP while a recent end offset ≤ its commit. (One commit with lag is
    // then STALL: in Burrow a window of one offset counts as not moving.)
    w.update_end_offset("t", 0, 60);
    let e = w.evaluate("g", 10);
    assert_eq!(e.partitions[0].status, LagStatus::Stall);
}

#[test]
fn an_offset_committed_backwards_is_rewind_until_the_consumer_gets_back() {
    let mut w = LagWindows::new(LagConfig {
        intervals: 10,
        min_distance_ms: 0,
        ..LagConfig::default()
    });
    w.update_end_offset("t", 0, 10_000);
    for (i, o) in [1000, 2000, 3000, 1500].into_iter().enumerate() {
        w.record_commit("g", "t", 0, o, i as i64 * 1000);
    }
    let e = w.evaluate("g", 3500);
    assert_eq!(e.partitions[0].status, LagStatus::Rewind);
    assert_eq!(e.status, LagStatus::Err);
    w.record_commit("g", "t", 0, 3100, 4000);
    assert_eq!(w.evaluate("g", 4500).partitions[0].status, LagStatus::Ok);
}

#[test]
fn the_group_is_the_worst_partition_with_stop_stall_rewind_as_err() {
    let mut w = LagWindows::new(LagConfig {
        intervals: 3,
        min_distance_ms: 0,
        ..LagConfig::default()
    });
    for p in 0..3 {
        w.update_end_offset("t", p, 1000);
    }
    // p0 keeps up; p1 moves but lags more each time (WARN); p2 commits the same offset (STALL).
    for (i, (o0, o1, o2)) in [(1000, 100, 50), (1000, 110, 50), (1000, 115, 50)]
        .into_iter()
        .enumerate()
    {
        let ts = i as i64 * 1000;
        w.record_commit("g", "t", 0, o0, ts);
        w.record_commit("g", "t", 1, o1, ts);
        w.update_end_offset("t", 1, 1000 + 100 * (i as i64 + 1));
        w.update_end_offset("t", 2, 1000 + 100 * (i as i64 + 1));
        w.record_commit("g", "t", 2, o2, ts);
    }
    let e = w.evaluate("g", 2500);
    let statuses: Vec<LagStatus> = e.partitions.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [LagStatus::Ok, LagStatus::Warn, LagStatus::Stall]);
    assert_eq!(e.status, LagStatus::Err);
    assert_eq!(e.total_lag, (1300 - 115) + (1300 - 50));
    assert_eq!(e.max_lag.as_ref().map(|p| p.partition), Some(2));
    assert_eq!(e.summary().status, 3);
    w.remove_topic("t");
    assert_eq!(w.evaluate("g", 2500).status, LagStatus::Notfound);
}

#[test]
fn a_window_below_minimum_complete_stays_ok() {
    let mut w = LagWindows::new(LagConfig {
        intervals: 10,
        min_distance_ms: 0,
        minimum_complete: 0.5,
        ..LagConfig::default()
    });
    w.update_end_offset("t", 0, 100);
    w.record_commit("g", "t", 0, 10, 0);
    let e = w.evaluate("g", 1_000_000);
    assert_eq!(e.partitions[0].complete, 0.1);
    assert_eq!(e.partitions[0].status, LagStatus::Ok);
}
