//! The machine's own ceilings, measured with no Brook code in the way: raw sequential buffered
//! write (page cache), raw 4 KiB write+fdatasync back to back (one fsync per append), and the
//! type of filesystem they ran on. `brook bench` prints every cell as a ratio to these, and
//! `benches/storage.rs` uses the same functions, so both speak of the same baselines; the small
//! statistics helpers (`micros`, `percentile`, `median`) also serve `benches/broker` and
//! `benches/cluster`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// MB/s (10^6 bytes) of `chunk_len`-byte `write_all`s of `total` bytes into a fresh file,
/// page cache only (no fsync). The file is removed afterwards.
///
/// # Errors
///
/// Any I/O error creating, writing or removing `path`.
pub fn raw_sequential_write(path: &Path, total: u64, chunk_len: usize) -> std::io::Result<f64> {
    let chunk = vec![0xA5u8; chunk_len.max(1)];
    let count = total / chunk.len() as u64;
    let mut file = File::create(path)?;
    let start = Instant::now();
    for _ in 0..count {
        file.write_all(&chunk)?;
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    drop(file);
    fs::remove_file(path)?;
    Ok((count * chunk.len() as u64) as f64 / secs / 1e6)
}

/// Writes and unlinks `total` bytes in `dir` (untimed), so that the next run's page-cache pages
/// are backed by the host: on VMs with free-page reporting, memory left free for a few seconds is
/// handed back and the next write that touches it runs ~10x slower while it faults back in.
///
/// # Errors
///
/// Any I/O error creating, writing or removing `dir/prime.bin`.
pub fn prime(dir: &Path, total: u64) -> std::io::Result<()> {
    let path = dir.join("prime.bin");
    let chunk = vec![0x3Cu8; MIB as usize];
    let mut file = File::create(&path)?;
    for _ in 0..total.div_ceil(MIB) {
        file.write_all(&chunk)?;
    }
    drop(file);
    fs::remove_file(&path)
}

/// The rate of one fsync per append.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsyncRate {
    /// 4 KiB write+fdatasync pairs completed per second.
    pub ops_per_sec: f64,
    /// Median latency of one write+fdatasync, µs.
    pub p50_us: f64,
    /// 99th-percentile latency of one write+fdatasync, µs.
    pub p99_us: f64,
}

/// 4 KiB appends each followed by `fdatasync`, for `run`. The file grows, as a log does, so every
/// fdatasync also commits the new size. The file is removed afterwards. At least one append is
/// timed, however short `run` is.
///
/// # Errors
///
/// Any I/O error opening, writing, syncing or removing `path`.
pub fn raw_fsync_rate(path: &Path, run: Duration) -> std::io::Result<FsyncRate> {
    let block = [0x5Au8; 4096];
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    let mut latencies = Vec::new();
    let start = Instant::now();
    while start.elapsed() < run || latencies.is_empty() {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        latencies.push(micros(t.elapsed()));
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    drop(file);
    fs::remove_file(path)?;
    let ops = latencies.len();
    latencies.sort_unstable();
    Ok(FsyncRate {
        ops_per_sec: ops as f64 / secs,
        p50_us: percentile(&latencies, 0.50),
        p99_us: percentile(&latencies, 0.99),
    })
}

/// A duration in whole microseconds, saturating.
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The `p` quantile (0..=1) of `sorted`, which must be sorted; 0 when empty.
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)])
}

/// The median of `values` (the upper one of an even count); 0 when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The type of the filesystem holding `path` (longest matching mount point in /proc/self/mounts).
pub fn filesystem_type(path: &Path) -> Option<String> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _device = fields.next()?;
            let mount_point = fields.next()?.replace("\\040", " ");
            let fs_type = fields.next()?;
            path.starts_with(&mount_point)
                .then(|| (mount_point.len(), fs_type.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs_type)| fs_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_measure_something_and_clean_up() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mb = raw_sequential_write(&dir.path().join("seq"), 4 * MIB, MIB as usize)?;
        assert!(mb > 0.0);
        let rate = raw_fsync_rate(&dir.path().join("fsync"), Duration::from_millis(20))?;
        assert!(rate.ops_per_sec > 0.0 && rate.p50_us <= rate.p99_us);
        prime(dir.path(), MIB)?;
        assert_eq!(fs::read_dir(dir.path())?.count(), 0, "every file removed");
        Ok(())
    }

    #[test]
    fn percentile_picks_the_nearest_rank() {
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 0.5), 6.0);
        assert_eq!(percentile(&v, 1.0), 10.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
