//! Brook as a library: the embedded [`Cluster`] (SPEC §9), N brokers in this process with temp
//! dirs, 127.0.0.1 ports and fault injection on disk and network, for tests and `brook dev`.
//!
//! The building blocks are re-exported so that an embedding application needs only this crate:
//! `brook::client` (producer, consumer, admin), `brook::broker`, `brook::log`, `brook::proto`.

pub mod bench;
pub mod scenario;

pub use brook_cluster::*;
