//! The file I/O seam. Every byte brook-log writes to or reads from a `.log` file, every fsync, every
//! rename and delete goes through [`FileSystem`] and [`LogFile`], so that tests can inject disk
//! faults (failing or stalled fsync, a full disk, losing everything not yet fsynced) and a simulated
//! disk can be slotted in later. Index files are memory-mapped real files and sit outside the seam:
//! they are never trusted after a crash and are rebuilt from the log (see `recovery.rs`).

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// An append-only data file. Writes go at the end; reads are positional and may run concurrently.
pub trait LogFile: Send + Sync + Debug {
    /// Appends `buf` at the current end and returns the position it was written at.
    fn append(&self, buf: &[u8]) -> io::Result<u64>;
    /// Fills `buf` from `pos`; fails with `UnexpectedEof` if the file is shorter.
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()>;
    /// Makes everything written so far durable (fdatasync).
    fn sync(&self) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn truncate(&self, len: u64) -> io::Result<()>;
    /// Current size in bytes, as seen by this process.
    fn len(&self) -> u64;
    /// True when the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Directory-level operations and the factory for [`LogFile`]s.
pub trait FileSystem: Send + Sync + Debug {
    /// Opens (creating if absent) a data file for appending and positional reads.
    fn open(&self, path: &Path) -> io::Result<Arc<dyn LogFile>>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes a file; a missing file is not an error.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory so that file creations, renames and deletes in it survive a power loss.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Writes a whole small file (checkpoints, markers) and fsyncs it.
    fn write_file_synced(&self, path: &Path, data: &[u8]) -> io::Result<()>;
}

/// The real disk.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFileSystem;

/// A [`LogFile`] backed by a `std::fs::File`. The size is tracked in memory so that appends are a
/// single `pwrite` with no `lseek`.
#[derive(Debug)]
pub struct OsFile {
    file: File,
    len: AtomicU64,
}

impl LogFile for OsFile {
    fn append(&self, buf: &[u8]) -> io::Result<u64> {
        // Single writer by contract (the Log is behind `&mut`), so load-then-store is race free.
        let pos = self.len.load(Ordering::Acquire);
        if let Err(e) = self.file.write_all_at(buf, pos) {
            // A short write (e.g. a full disk) must not leave half a batch behind.
            let _ = self.file.set_len(pos);
            return Err(e);
        }
        self.len.store(pos + buf.len() as u64, Ordering::Release);
        Ok(pos)
    }

    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, pos)
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }
}

impl FileSystem for OsFileSystem {
    fn open(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        Ok(Arc::new(OsFile {
            file,
            len: AtomicU64::new(len),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn write_file_synced(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let file = File::create(path)?;
        file.write_all_at(data, 0)?;
        file.sync_all()
    }
}

/// Default file system handle.
pub fn os() -> Arc<dyn FileSystem> {
    Arc::new(OsFileSystem)
}

pub use fault::{FaultConfig, FaultyFileSystem};

mod fault {
    //! A fault-injecting wrapper over the real disk, for tests and the embedded cluster.
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Mutex, RwLock, RwLockReadGuard};
    use std::time::Duration;

    /// Knobs a test flips at run time.
    #[derive(Debug, Default)]
    pub struct FaultConfig {
        /// Every fsync fails with an I/O error.
        pub fail_sync: AtomicBool,
        /// Every fsync first sleeps this many milliseconds (a stalled disk).
        pub sync_delay_ms: AtomicU64,
        /// Appends fail with "no space left" once this many more bytes would be written
        /// (`u64::MAX` = unlimited).
        pub space_left: AtomicU64,
    }

    /// Wraps [`OsFileSystem`], remembering for every data file how much of it has been fsynced,
    /// so that [`FaultyFileSystem::drop_unsynced`] can cut every file back to what a power loss
    /// would have left.
    #[derive(Debug, Clone)]
    pub struct FaultyFileSystem {
        inner: OsFileSystem,
        faults: Arc<FaultConfig>,
        files: Arc<Mutex<HashMap<PathBuf, Arc<FaultyFile>>>>,
        power: Arc<Power>,
    }

    #[derive(Debug)]
    struct FaultyFile {
        inner: OsFile,
        synced: AtomicU64,
        faults: Arc<FaultConfig>,
        power: Arc<Power>,
    }

    /// The power switch of a simulated machine. Every write, fsync, truncate, rename and
    /// delete holds the read side while it runs; [`FaultyFileSystem::power_off`] takes the
    /// write side, so it waits for operations in flight and no operation starts after it.
    #[derive(Debug, Default)]
    struct Power {
        off: RwLock<bool>,
    }

    impl Power {
        /// Admits one operation: the guard keeps the power on until the operation is done.
        fn on(&self) -> io::Result<RwLockReadGuard<'_, bool>> {
            let guard = self.off.read().unwrap_or_else(|p| p.into_inner());
            if *guard {
                return Err(io::Error::other("the disk lost power (injected)"));
            }
            Ok(guard)
        }
    }

    impl Default for FaultyFileSystem {
        fn default() -> Self {
            Self::new()
        }
    }

    impl FaultyFileSystem {
        /// A file system over the real disk with no fault armed: unlimited space, fsyncs that
        /// succeed at once, power on.
        pub fn new() -> Self {
            let faults = FaultConfig {
                space_left: AtomicU64::new(u64::MAX),
                ..FaultConfig::default()
            };
            FaultyFileSystem {
                inner: OsFileSystem,
                faults: Arc::new(faults),
                files: Arc::new(Mutex::new(HashMap::new())),
                power: Arc::default(),
            }
        }

        /// The live fault knobs.
        pub fn faults(&self) -> &FaultConfig {
            &self.faults
        }

        /// Simulates a power loss: every data file opened through this file system is cut back to
        /// the length it had at its last successful fsync. Call it after the log was dropped
        /// without a clean close.
        pub fn drop_unsynced(&self) -> io::Result<()> {
            let _power = self.power.on()?;
            self.cut_to_synced()
        }

        /// A power loss of a live process: from this call on every write, fsync, truncate,
        /// rename and delete through this file system fails, and every data file is cut back to
        /// its last fsync. Operations already running finish first (they hold the power on), so
        /// no write can land after the cut. The switch stays off: the caller is expected to exit
        /// (`brook serve --fault-injection` does, right after).
        pub fn power_off(&self) -> io::Result<()> {
            let mut off = self.power.off.write().unwrap_or_else(|p| p.into_inner());
            *off = true;
            self.cut_to_synced()
        }

        fn cut_to_synced(&self) -> io::Result<()> {
            let files = self
                .files
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            for (path, f) in files.iter() {
                let synced = f.synced.load(Ordering::Acquire);
                if path.exists() && f.inner.len() > synced {
                    f.inner.truncate(synced)?;
                }
            }
            Ok(())
        }
    }

    impl LogFile for FaultyFile {
        fn append(&self, buf: &[u8]) -> io::Result<u64> {
            let _power = self.power.on()?;
            let left = self.faults.space_left.load(Ordering::Acquire);
            if (buf.len() as u64) > left {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "no space left on device (injected)",
                ));
            }
            if left != u64::MAX {
                self.faults
                    .space_left
                    .fetch_sub(buf.len() as u64, Ordering::AcqRel);
            }
            self.inner.append(buf)
        }
        fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
            self.inner.read_exact_at(buf, pos)
        }
        fn sync(&self) -> io::Result<()> {
            let delay = self.faults.sync_delay_ms.load(Ordering::Acquire);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            let _power = self.power.on()?;
            if self.faults.fail_sync.load(Ordering::Acquire) {
                return Err(io::Error::other("fsync failed (injected)"));
            }
            let len = self.inner.len();
            self.inner.sync()?;
            self.synced.fetch_max(len, Ordering::AcqRel);
            Ok(())
        }
        fn truncate(&self, len: u64) -> io::Result<()> {
            let _power = self.power.on()?;
            self.inner.truncate(len)?;
            // A truncation is metadata; treat it as durable only up to what was synced before.
            self.synced.fetch_min(len, Ordering::AcqRel);
            Ok(())
        }
        fn len(&self) -> u64 {
            self.inner.len()
        }
    }

    impl FileSystem for FaultyFileSystem {
        fn open(&self, path: &Path) -> io::Result<Arc<dyn LogFile>> {
            let _power = self.power.on()?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            let len = file.metadata()?.len();
            let f = Arc::new(FaultyFile {
                inner: OsFile {
                    file,
                    len: AtomicU64::new(len),
                },
                // Whatever was on disk when we opened it survived whatever happened before.
                synced: AtomicU64::new(len),
                faults: self.faults.clone(),
                power: self.power.clone(),
            });
            let mut files = self
                .files
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            files.insert(path.to_path_buf(), f.clone());
            Ok(f)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            let _power = self.power.on()?;
            self.inner.rename(from, to)?;
            let mut files = self
                .files
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            if let Some(f) = files.remove(from) {
                files.insert(to.to_path_buf(), f);
            }
            Ok(())
        }
        fn remove(&self, path: &Path) -> io::Result<()> {
            let _power = self.power.on()?;
            self.inner.remove(path)?;
            let mut files = self
                .files
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            files.remove(path);
            Ok(())
        }
        fn sync_dir(&self, path: &Path) -> io::Result<()> {
            let _power = self.power.on()?;
            if self.faults.fail_sync.load(Ordering::Acquire) {
                return Err(io::Error::other("fsync failed (injected)"));
            }
            self.inner.sync_dir(path)
        }
        fn write_file_synced(&self, path: &Path, data: &[u8]) -> io::Result<()> {
            let _power = self.power.on()?;
            if self.faults.fail_sync.load(Ordering::Acquire) {
                return Err(io::Error::other("fsync failed (injected)"));
            }
            self.inner.write_file_synced(path, data)
        }
    }
}
