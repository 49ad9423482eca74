//! Burrow's evaluation rules, ported function by function from
//! `core/internal/evaluator/caching.go` (linkedin/Burrow at
//! `ced55ba90f6b833a45a124d411fd5eef63a70933`): `calculatePartitionStatus` and the rule helpers
//! it calls, `evaluatePartitionStatus` (the "complete" window) and, in [`evaluate_group`],
//! `evaluateConsumerStatus` (worst partition, total lag, max-lag partition). Pure functions of
//! the window, the recent end offsets and `now_ms`; the module header (`lag/mod.rs`) explains
//! them in words.
//!
//! One unit differs from the Go code: Burrow passes `timeNow` in seconds and multiplies by 1000
//! inside `checkIfOffsetsStopped`; here every time is in milliseconds. Burrow's tests give
//! `timeNow` in seconds, and the ported table (`lag/tests.rs`) multiplies it by 1000.

use super::{LagStatus, PartitionLagEvaluation, StoredCommit};

/// Rule 1 (`isLagAlwaysNotZero`): true unless some commit in the window had a lag of at most
/// `allowed_lag` (commits without a lag are skipped). A window in which the consumer caught up
/// once is not judged by rules 4 and 5.
pub fn is_lag_always_not_zero(offsets: &[StoredCommit], allowed_lag: u64) -> bool {
    !offsets
        .iter()
        .any(|o| o.lag.is_some_and(|lag| lag <= allowed_lag))
}

/// Rule 2 (`checkIfOffsetsRewind`): the index of the first commit whose offset is below the one
/// before it; `None` (Burrow's -1) when offsets never go backwards.
pub fn check_if_offsets_rewind(offsets: &[StoredCommit]) -> Option<usize> {
    (1..offsets.len()).find(|&i| offsets[i].offset < offsets[i - 1].offset)
}

/// Rule 2, part 2 (`checkIfRewindRecovered`): whether, at or after `reset_index`, the consumer
/// got back to the offset it had committed just before the rewind.
pub fn check_if_rewind_recovered(offsets: &[StoredCommit], reset_index: usize) -> bool {
    let Some(previous) = reset_index.checked_sub(1).and_then(|i| offsets.get(i)) else {
        return false;
    };
    offsets[reset_index..]
        .iter()
        .any(|o| o.offset >= previous.offset)
}

/// Rule 3 (`checkIfOffsetsStopped`): the time since the last commit is greater than the time
/// the window spans (last − first commit timestamp). A window of one commit has span 0, so
/// any time at all after it counts.
pub fn check_if_offsets_stopped(offsets: &[StoredCommit], now_ms: i64) -> bool {
    let (Some(first), Some(last)) = (offsets.first(), offsets.last()) else {
        return false;
    };
    now_ms.saturating_sub(last.timestamp_ms) > last.timestamp_ms.saturating_sub(first.timestamp_ms)
}

/// Rule 4 (`checkIfOffsetsStalled`): every commit in the window has the same offset (the
/// consumer commits but does not move). Only asked once rule 1 said there is lag throughout.
pub fn check_if_offsets_stalled(offsets: &[StoredCommit]) -> bool {
    offsets.windows(2).all(|w| w[0].offset == w[1].offset)
}

/// Rule 5 (`checkIfLagNotDecreasing`): the lag never went down from one commit to the next
/// (commits without a lag are skipped): the consumer moves but falls further behind.
pub fn check_if_lag_not_decreasing(offsets: &[StoredCommit]) -> bool {
    let mut last: Option<u64> = None;
    for lag in offsets.iter().filter_map(|o| o.lag) {
        if last.is_some_and(|l| lag < l) {
            return false;
        }
        last = Some(lag);
    }
    true
}

/// `checkIfRecentLagZero`: some recent end offset of the partition (Burrow keeps `intervals`
/// of them, one per refresh) was at or below the last committed offset — the consumer was
/// caught up a few refreshes ago, so STOP is not raised yet.
pub fn check_if_recent_lag_zero(offsets: &[StoredCommit], end_offsets: &[i64]) -> bool {
    let Some(last) = offsets.last() else {
        return false;
    };
    end_offsets.iter().any(|&e| e <= last.offset)
}

/// `calculatePartitionStatus`: the rules in Burrow's order. Nothing is wrong while the current
/// lag is at most `allowed_lag`; otherwise STOP (rule 3, unless recently caught up), REWIND
/// (rule 2, unless recovered), and, only if the lag was never within `allowed_lag` in the
/// window (rule 1), STALL (rule 4) or WARN (rule 5).
pub fn calculate_partition_status(
    offsets: &[StoredCommit],
    end_offsets: &[i64],
    current_lag: u64,
    now_ms: i64,
    allowed_lag: u64,
) -> LagStatus {
    if current_lag > allowed_lag {
        if check_if_offsets_stopped(offsets, now_ms)
            && !check_if_recent_lag_zero(offsets, end_offsets)
        {
            return LagStatus::Stop;
        }
        let rewound = check_if_offsets_rewind(offsets);
        if rewound.is_some_and(|i| !check_if_rewind_recovered(offsets, i)) {
            return LagStatus::Rewind;
        }
        if is_lag_always_not_zero(offsets, allowed_lag) {
            if check_if_offsets_stalled(offsets) {
                return LagStatus::Stall;
            }
            if check_if_lag_not_decreasing(offsets) {
                return LagStatus::Warn;
            }
        }
    }
    LagStatus::Ok
}

/// `evaluatePartitionStatus`: `stored` is the window as kept (at most `intervals` commits,
/// oldest first). `complete` is the filled share of the window (Burrow's ring has empty slots
/// until `intervals` commits were stored); a window below `minimum_complete` is OK as it is.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_partition(
    topic: &str,
    partition: i32,
    stored: &[StoredCommit],
    intervals: usize,
    end_offsets: &[i64],
    current_lag: u64,
    now_ms: i64,
    minimum_complete: f32,
    allowed_lag: u64,
) -> PartitionLagEvaluation {
    let mut status = PartitionLagEvaluation {
        topic: topic.to_string(),
        partition,
        status: LagStatus::Ok,
        current_lag,
        start: None,
        end: None,
        complete: 0.0,
        end_offset: end_offsets.last().copied(),
    };
    if stored.is_empty() {
        return status;
    }
    status.complete = if stored.len() < intervals {
        stored.len() as f32 / intervals as f32
    } else {
        1.0
    };
    status.start = stored.first().copied();
    status.end = stored.last().copied();
    if status.complete >= minimum_complete {
        status.status =
            calculate_partition_status(stored, end_offsets, current_lag, now_ms, allowed_lag);
    }
    status
}

/// `evaluateConsumerStatus` over evaluated partitions: the group is OK unless a partition is
/// worse; a partition in STOP, STALL or REWIND makes the group ERR (a WARN partition makes it
/// WARN). The total lag is the sum of current lags, the max-lag partition the first with the
/// highest current lag, `complete` the share of partitions whose window is full (0 without
/// partitions).
pub fn evaluate_group(
    partitions: &[PartitionLagEvaluation],
) -> (LagStatus, f32, u64, Option<usize>) {
    let mut status = LagStatus::Ok;
    let mut total = 0u64;
    let mut max: Option<usize> = None;
    let mut complete = 0usize;
    for (i, p) in partitions.iter().enumerate() {
        total = total.saturating_add(p.current_lag);
        if p.status > status {
            status = if p.status > LagStatus::Err {
                LagStatus::Err
            } else {
                p.status
            };
        }
        if max.is_none_or(|m| p.current_lag > partitions[m].current_lag) {
            max = Some(i);
        }
        if p.complete == 1.0 {
            complete += 1;
        }
    }
    let complete = if partitions.is_empty() {
        0.0
    } else {
        complete as f32 / partitions.len() as f32
    };
    (status, complete, total, max)
}
