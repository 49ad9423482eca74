//! A log directory (`log.dirs` entry): the partition logs inside it, the per-directory
//! checkpoint files, the clean-shutdown marker and the background flusher.
//!
//! ```text
//! <log dir>/
//!   .brook_cleanshutdown               present only between a clean close and the next open
//!   recovery-point-offset-checkpoint   per log: everything below is fsynced
//!   replication-offset-checkpoint      per log: high watermark (written by the broker)
//!   orders-0/00000000000000000000.log  …one directory per partition
//! ```
//! A log that fails to open (damage below its recovery point) is kept aside as offline with its
//! error; the others open and serve normally.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::checkpoint;
use crate::config::LogConfig;
use crate::error::{LogError, Result};
use crate::log::{Log, LogOptions};
use crate::recovery::{RecoveryReport, Shutdown};

pub const CLEAN_SHUTDOWN_FILE: &str = ".brook_cleanshutdown";
pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const HIGH_WATERMARK_FILE: &str = "replication-offset-checkpoint";

/// A log shared between appenders, readers and the flusher.
pub type SharedLog = Arc<Mutex<Log>>;

/// Locks a shared log; a panic in another holder does not make the log unusable.
pub fn lock(log: &SharedLog) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

/// One log directory (a `log.dirs` entry) and the partition logs in it, opened together: it
/// recovers each log as needed, keeps the ones that fail to open aside as offline, writes the
/// directory's checkpoints and runs the background flusher. `close` is the clean shutdown.
#[derive(Debug)]
pub struct LogDir {
    path: PathBuf,
    options: LogOptions,
    /// Shared with the flusher thread, so logs created later are flushed too.
    logs: Arc<Mutex<BTreeMap<String, SharedLog>>>,
    offline: BTreeMap<String, LogError>,
    reports: BTreeMap<String, RecoveryReport>,
    flusher: Option<Flusher>,
}

impl LogDir {
    /// Opens every partition directory under `path` with `options` (per-log configs can be set
    /// afterwards with `Log::set_config`). Logs are recovered unless the last close was clean.
    pub fn open(path: &Path, options: LogOptions) -> Result<LogDir> {
        let fs = options.fs.clone();
        std::fs::create_dir_all(path)
            .map_err(|e| LogError::storage(format!("create {}", path.display()), e))?;
        let marker = path.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        let recovery_points: BTreeMap<String, i64> = match checkpoint::read(
            &path.join(RECOVERY_POINT_FILE),
        ) {
            Ok(entries) => entries.unwrap_or_default().into_iter().collect(),
            Err(e) => {
                // Without trustworthy recovery points, rescan everything rather than trust data.
                tracing::warn!(dir = %path.display(), "ignoring damaged recovery checkpoint: {e}");
                BTreeMap::new()
            }
        };
        let mut dir = LogDir {
            path: path.to_path_buf(),
            options,
            logs: Arc::default(),
            offline: BTreeMap::new(),
            reports: BTreeMap::new(),
            flusher: None,
        };
        let entries = std::fs::read_dir(path)
            .map_err(|e| LogError::storage(format!("list {}", path.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| LogError::storage(format!("list {}", path.display()), e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !entry.path().is_dir() || name.starts_with('.') {
                continue;
            }
            let shutdown = if clean {
                Shutdown::Clean
            } else {
                Shutdown::Unclean {
                    recovery_point: recovery_points.get(&name).copied().unwrap_or(0),
                }
            };
            match Log::open(&entry.path(), dir.options.clone(), shutdown) {
                Ok((log, report)) => {
                    dir.reports.insert(name.clone(), report);
                    dir.registry().insert(name, Arc::new(Mutex::new(log)));
                }
                Err(e) => {
                    tracing::error!(log = %name, "log is offline: {e}");
                    dir.offline.insert(name, e);
                }
            }
        }
        // From here on a crash is unclean again.
        if clean {
            fs.remove(&marker)
                .and_then(|()| fs.sync_dir(path))
                .map_err(|e| LogError::storage("remove clean-shutdown marker", e))?;
        }
        Ok(dir)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn registry(&self) -> MutexGuard<'_, BTreeMap<String, SharedLog>> {
        registry(&self.logs)
    }

    /// Creates a new empty log named `name` (e.g. `orders-0`) with `config`.
    pub fn create_log(&mut self, name: &str, config: LogConfig) -> Result<SharedLog> {
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
            return Err(LogError::InvalidConfig {
                key: "name".into(),
                reason: format!("{name:?} is not a valid log name"),
            });
        }
        if let Some(log) = self.registry().get(name) {
            return Ok(log.clone());
        }
        let options = LogOptions {
            config,
            ..self.options.clone()
        };
        let (log, _) = Log::open(&self.path.join(name), options, Shutdown::Clean)?;
        self.options
            .fs
            .sync_dir(&self.path)
            .map_err(|e| LogError::storage(format!("fsync {}", self.path.display()), e))?;
        let log = Arc::new(Mutex::new(log));
        self.registry().insert(name.to_string(), log.clone());
        Ok(log)
    }

    /// The open log named `name` (`<topic>-<partition>`), if there is one. Offline logs are
    /// not returned; see [`LogDir::offline`].
    pub fn log(&self, name: &str) -> Option<SharedLog> {
        self.registry().get(name).cloned()
    }

    /// Names of the open logs, sorted.
    pub fn names(&self) -> Vec<String> {
        self.registry().keys().cloned().collect()
    }

    /// Logs that could not be opened, with the reason (`KAFKA_STORAGE_ERROR`).
    pub fn offline(&self) -> &BTreeMap<String, LogError> {
        &self.offline
    }

    /// What recovery found per log when the directory was opened.
    pub fn recovery_reports(&self) -> &BTreeMap<String, RecoveryReport> {
        &self.reports
    }

    /// Deletes a log and its files.
    pub fn delete_log(&mut self, name: &str) -> Result<()> {
        let removed = self.registry().remove(name);
        if let Some(log) = removed {
            let dir = lock(&log).dir().to_path_buf();
            std::fs::remove_dir_all(&dir)
                .map_err(|e| LogError::storage(format!("delete {}", dir.display()), e))?;
        }
        Ok(())
    }

    /// Writes `recovery-point-offset-checkpoint` from the logs' current flushed offsets.
    pub fn checkpoint_recovery_points(&self) -> Result<()> {
        write_recovery_points(self.options.fs.as_ref(), &self.path, &self.logs)
    }

    /// Writes `replication-offset-checkpoint` (the broker's high watermarks).
    pub fn checkpoint_high_watermarks(&self, hws: &[(String, i64)]) -> Result<()> {
        checkpoint::write(
            self.options.fs.as_ref(),
            &self.path.join(HIGH_WATERMARK_FILE),
            hws,
        )
    }

    /// Reads `replication-offset-checkpoint`; empty if absent.
    pub fn read_high_watermarks(&self) -> Result<BTreeMap<String, i64>> {
        Ok(checkpoint::read(&self.path.join(HIGH_WATERMARK_FILE))?
            .unwrap_or_default()
            .into_iter()
            .collect())
    }

    /// Starts the background flusher: every `interval` it fsyncs logs whose `flush.ms` has
    /// elapsed or that rolled a segment, and rewrites the recovery-point checkpoint.
    pub fn start_flusher(&mut self, interval: Duration) {
        if self.flusher.is_some() {
            return;
        }
        let logs = self.logs.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let fs = self.options.fs.clone();
        let path = self.path.clone();
        let handle = std::thread::Builder::new()
            .name("brook-flusher".into())
            .spawn(move || {
                while !stop2.load(Ordering::Acquire) {
                    std::thread::park_timeout(interval);
                    let current: Vec<SharedLog> = registry(&logs).values().cloned().collect();
                    let mut flushed_any = false;
                    for log in &current {
                        let job = {
                            let mut l = lock(log);
                            l.flush_due().then(|| l.sync_job())
                        };
                        if let Some(job) = job {
                            match job.run() {
                                Ok(()) => flushed_any = true,
                                Err(e) => tracing::error!("background flush failed: {e}"),
                            }
                        }
                    }
                    if flushed_any {
                        if let Err(e) = write_recovery_points(fs.as_ref(), &path, &logs) {
                            tracing::error!("recovery checkpoint failed: {e}");
                        }
                    }
                }
            });
        match handle {
            Ok(handle) => self.flusher = Some(Flusher { stop, handle }),
            Err(e) => tracing::error!("could not start the flusher thread: {e}"),
        }
    }

    /// Clean shutdown: stops the flusher, flushes and seals every log, writes the recovery
    /// checkpoint, then the clean-shutdown marker (so the next open skips recovery).
    pub fn close(mut self) -> Result<()> {
        if let Some(f) = self.flusher.take() {
            f.stop();
        }
        self.checkpoint_recovery_points()?;
        let logs = std::mem::take(&mut *self.registry());
        for (_, log) in logs {
            let log = match Arc::try_unwrap(log) {
                Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
                Err(shared) => {
                    // Someone still holds it: flush what we can, it stays open for them.
                    lock(&shared).flush()?;
                    continue;
                }
            };
            log.close()?;
        }
        let fs = self.options.fs.as_ref();
        fs.write_file_synced(&self.path.join(CLEAN_SHUTDOWN_FILE), b"")
            .and_then(|()| fs.sync_dir(&self.path))
            .map_err(|e| LogError::storage("write clean-shutdown marker", e))
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        if let Some(f) = self.flusher.take() {
            f.stop();
        }
    }
}

fn registry(
    logs: &Mutex<BTreeMap<String, SharedLog>>,
) -> MutexGuard<'_, BTreeMap<String, SharedLog>> {
    logs.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_recovery_points(
    fs: &dyn crate::io::FileSystem,
    dir: &Path,
    logs: &Mutex<BTreeMap<String, SharedLog>>,
) -> Result<()> {
    let entries: Vec<(String, i64)> = registry(logs)
        .iter()
        .map(|(n, l)| (n.clone(), lock(l).flushed_offset()))
        .collect();
    checkpoint::write(fs, &dir.join(RECOVERY_POINT_FILE), &entries)
}

/// The background flusher thread; stopped on close or drop.
#[derive(Debug)]
struct Flusher {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl Flusher {
    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.handle.thread().unpark();
        let _ = self.handle.join();
    }
}
