#![warn(missing_docs)]

//! brook-log: Brook's storage engine.
//!
//! A synchronous, single-writer library that knows nothing of networking or replication. It stores
//! Kafka v2 record batches (`batch`, `record`) in segmented, indexed files (`segment`, `index`)
//! and offers append, read, truncate, retention, flush with group commit (`flush`) and crash
//! recovery (`recovery`). `LogDir` groups the logs of one directory with their checkpoints.
//! All file I/O goes through the `io` seam so tests can inject disk faults.
//! See `docs/storage.md` in the repository for the picture in words.

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
