#![warn(missing_docs)]

//! brook-log: Brook's storage engine.
//!
//! A synchronous, single-writer library that knows nothing of networking or replication. It stores
//! Kafka v2 record batches ([`batch`], [`record`]) in segmented, indexed files ([`segment`],
//! [`index`]) and offers append, read, truncate, retention, flush with group commit ([`flush`]) and
//! crash recovery (`recovery`). [`LogDir`] groups the logs of one directory with their checkpoints.
//! All file I/O goes through the [`io`] seam so tests can inject disk faults.
//! See `docs/storage.md` in the repository for the picture in words.
//!
//! The modules, bottom layer first (each uses only modules above it in this list; private ones
//! are marked):
//!
//! ```text
//! src/
//!   error.rs        LogError (variants named after Kafka's error codes) and Result
//!   varint.rs       Kafka's zigzag varints: encode, encoded size, bounds-checked decode (private)
//!   record_walk.rs  the one parser of a batch's records section, shared by batch::validate and
//!                   record::decode_records; allocates nothing (private)
//!   batch.rs        the v2 RecordBatch envelope: 61-byte header, CRC-32C, validate, stamp,
//!                   iteration over concatenated batches, Kafka's sequence wrap
//!   record.rs       Record and Header, BatchBuilder (encode a batch), decode_records
//!   config.rs       LogConfig: Kafka's topic-level storage keys, defaults and validation
//!   clock.rs        Clock, SystemClock, ManualClock, unix_now_ms
//!   io.rs           the file I/O seam: FileSystem, LogFile, OsFileSystem, FaultyFileSystem
//!   index.rs        OffsetIndex and TimeIndex: a segment's sparse, memory-mapped indexes
//!   segment.rs      one segment (.log, .index, .timeindex): append, find, read, truncate, recover
//!   flush.rs        FlushState: the flushed offset (recovery point) and group commit
//!   checkpoint.rs   checksummed `key value` checkpoint files, written atomically
//!   metrics.rs      process-wide counters of corruption found and bytes cut by recovery
//!   log.rs          Log: a partition's segments, offset assignment, roll, read, truncate,
//!                   retention, flush bookkeeping (private; re-exported at the root)
//!   recovery.rs     Log::open: opening a log and recovering it after an unclean shutdown
//!                   (private; Shutdown and RecoveryReport are re-exported)
//!   log_dir.rs      LogDir: a log.dirs entry, its logs, checkpoints, background flusher and
//!                   clean-shutdown marker (private; re-exported at the root)
//! ```

pub mod batch;
pub mod checkpoint;
pub mod clock;
pub mod config;
pub mod error;
pub mod flush;
pub mod index;
pub mod io;
mod log;
mod log_dir;
pub mod metrics;
pub mod record;
mod record_walk;
mod recovery;
pub mod segment;
mod varint;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::LogConfig;
pub use error::{LogError, Result};
pub use flush::{FlushState, FlushTurn, SyncJob, SyncTurn};
pub use log::{Log, LogAppendInfo, LogOptions, SegmentInfo, ValidBatch};
pub use log_dir::{LogDir, SharedLog, lock};
pub use recovery::{RecoveryReport, Shutdown};
