//! The individual runs `brook bench` is made of: one matrix cell (with its consumer, or without
//! it as Brook's half of a Redis pair), the disk baselines, the bare tonic baseline, and the
//! dedicated runs behind the targets (group commit, single broker, replication cost). Each
//! returns figures; `run` in the parent module decides the order.

use std::path::PathBuf;
use std::time::Duration;

use brook_client::Acks;
use bytes::Bytes;
use tokio::sync::oneshot;

use super::baseline::{self, FsyncRate};
use super::matrix::{AckMode, Cell, FlushPolicy};
use super::null_broker::NullBroker;
use super::target::Target;
use super::workload::{self, Measured, Workload};
use super::{BenchError, BenchOptions, Figures};

/// Raw sequential write (primed, 256 MiB in 1 MiB writes; 32 MiB when `--duration` is under
/// 1 s) and the 4 KiB write+fdatasync rate (for `--duration`, at most 1 s), in a fresh
/// directory under `--data-dir`. Returns (the data dir, its filesystem type, MB/s, fsync rate).
pub(super) async fn disk_baselines(
    opts: &BenchOptions,
) -> Result<(PathBuf, String, f64, FsyncRate), BenchError> {
    let root = opts.data_dir.clone();
    let fsync_run = opts.duration.min(Duration::from_secs(1));
    let io = |what: &str| {
        let what = what.to_string();
        move |source| BenchError::Io { what, source }
    };
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&root).map_err(io("create the data directory"))?;
        let dir = tempfile::Builder::new()
            .prefix("baseline-")
            .tempdir_in(&root)
            .map_err(io("create the baseline directory"))?;
        let fs_type =
            baseline::filesystem_type(dir.path()).unwrap_or_else(|| "unknown fs".to_string());
        // 256 MiB for real runs; less for sub-second smoke runs (CI).
        let bytes: u64 = if fsync_run >= Duration::from_secs(1) {
            256 << 20
        } else {
            32 << 20
        };
        baseline::prime(dir.path(), bytes).map_err(io("prime the page cache"))?;
        let seq = baseline::raw_sequential_write(&dir.path().join("seq.bin"), bytes, 1 << 20)
            .map_err(io("raw sequential write"))?;
        let fsync = baseline::raw_fsync_rate(&dir.path().join("fsync.bin"), fsync_run)
            .map_err(io("raw write+fdatasync"))?;
        Ok((root, fs_type, seq, fsync))
    })
    .await
    .map_err(|e| BenchError::Other(format!("disk baseline task: {e}")))?
}

/// Prepares a topic for `cell` on `target`, runs the cell's workload shaped by `shape` on it,
/// and tears the topic (or cluster) down again, whatever the run's outcome.
async fn on_brook(
    opts: &BenchOptions,
    target: &Target,
    cell: &Cell,
    partitions: i32,
    shape: impl FnOnce(&mut Workload),
) -> Result<Measured, BenchError> {
    let prepared = target.prepare(cell, partitions.max(1), &[]).await?;
    let mut w = opts.workload(
        &prepared.bootstrap,
        &prepared.topic,
        cell.acks.client(),
        cell.size,
    );
    shape(&mut w);
    let measured = workload::run(&w).await;
    prepared.finish(target).await;
    measured
}

/// The cell: a ready topic, the workload, the figures.
pub(super) async fn run_cell(
    opts: &BenchOptions,
    target: &Target,
    cell: &Cell,
) -> Result<Figures, BenchError> {
    let measured = on_brook(opts, target, cell, opts.partitions, |_| {}).await?;
    Ok(Figures::from_measured(&measured, cell.acks))
}

/// The cell without its consumer: Brook's half of a Redis pair, whose Redis half has no
/// reader either (the same offered load: `--rate` still applies).
pub(super) async fn run_cell_without_consumer(
    opts: &BenchOptions,
    target: &Target,
    cell: &Cell,
) -> Result<Figures, BenchError> {
    let measured = on_brook(opts, target, cell, opts.partitions, |w| w.consume = false).await?;
    Ok(Figures::from_measured(&measured, cell.acks))
}

/// Producers only, as fast as they go.
fn producers_only(w: &mut Workload) {
    w.rate = None;
    w.consume = false;
}

/// The group-commit load: `group_producers` producers of 100 B records on one partition, each
/// with one record outstanding at a time (linger 0), no consumer.
pub(super) fn group_commit_shape(opts: &BenchOptions, w: &mut Workload) {
    producers_only(w);
    w.partitions = 1;
    w.producers = opts.group_producers.max(1);
    w.window = 1;
    w.linger = Duration::ZERO;
}

/// The group-commit load on an RF 1 topic with `flush` — `flush.messages=1`: every
/// acknowledgement waits for an fsync, and concurrent ones should share it (group commit);
/// `never`: the same requests without the fsync, which separates the cost of the flush path
/// from the cost of one RPC per record.
pub(super) async fn group_commit_run(
    opts: &BenchOptions,
    target: &Target,
    flush: FlushPolicy,
) -> Result<Figures, BenchError> {
    let cell = Cell {
        acks: AckMode::One,
        flush,
        rf: 1,
        size: 100,
    };
    let measured = on_brook(opts, target, &cell, 1, |w| group_commit_shape(opts, w)).await?;
    Ok(Figures::from_measured(&measured, cell.acks))
}

/// Producers only, acks=1, RF 1, never flushed, 100 B: the load of the tonic baseline.
pub(super) async fn single_broker_run(
    opts: &BenchOptions,
    target: &Target,
) -> Result<Figures, BenchError> {
    let cell = Cell {
        acks: AckMode::One,
        flush: FlushPolicy::Never,
        rf: 1,
        size: 100,
    };
    let measured = on_brook(opts, target, &cell, opts.partitions, producers_only).await?;
    Ok(Figures::from_measured(&measured, cell.acks))
}

/// The same producers (acks=1, as fast as they go, no consumer) against the null broker.
pub(super) async fn tonic_run(
    opts: &BenchOptions,
    size: usize,
    shape: impl FnOnce(&mut Workload),
) -> Result<Measured, BenchError> {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let null = NullBroker::new(&Bytes::from_static(&[0u8; 61]))
        .partitions(opts.partitions.max(1))
        .topic("bench");
    let (addr, server) = null
        .bind(async {
            let _ = stop_rx.await;
        })
        .map_err(|source| BenchError::Io {
            what: "bind the null broker".into(),
            source,
        })?;
    let server = tokio::spawn(server);
    let mut w = opts.workload(&addr.to_string(), "bench", Acks::Leader, size);
    producers_only(&mut w);
    shape(&mut w);
    let measured = workload::run(&w).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    let measured = measured?;
    if measured.acked == 0 {
        return Err(BenchError::Other(format!(
            "the bare tonic baseline acknowledged nothing ({} errors, first: {})",
            measured.errors,
            measured.first_error.as_deref().unwrap_or("none")
        )));
    }
    Ok(measured)
}

/// The cost of replication, measured back to back: producers only, 100 B, flush never,
/// acks=1 on RF 1 (A) and acks=all on RF 3 with min.insync.replicas 2 (B), in the order
/// A B B A so that a drift of the machine during the four runs cancels out. Returns the
/// totals' rates (msgs/s) of A and of B.
pub(super) async fn replication_runs(
    opts: &BenchOptions,
    target: &Target,
) -> Result<(f64, f64), BenchError> {
    let a = Cell {
        acks: AckMode::One,
        flush: FlushPolicy::Never,
        rf: 1,
        size: 100,
    };
    let b = Cell {
        acks: AckMode::All,
        rf: 3,
        ..a
    };
    if target.skip_reason(&b).is_some() {
        return Err(BenchError::Other(format!(
            "cannot run RF 3 here: {}",
            target.skip_reason(&b).unwrap_or_default()
        )));
    }
    let (mut acked, mut secs) = ([0u64; 2], [0f64; 2]);
    for (i, cell) in [(0, a), (1, b), (1, b), (0, a)] {
        let prepared = target.prepare(&cell, opts.partitions.max(1), &[]).await?;
        let mut w = opts.workload(
            &prepared.bootstrap,
            &prepared.topic,
            cell.acks.client(),
            100,
        );
        w.rate = None;
        w.consume = false;
        let measured = workload::run(&w).await;
        prepared.finish(target).await;
        let m = measured?;
        acked[i] += m.acked;
        secs[i] += m.secs;
    }
    Ok((
        acked[0] as f64 / secs[0].max(1e-9),
        acked[1] as f64 / secs[1].max(1e-9),
    ))
}
