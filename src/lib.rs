//! The `brook` package's library: what its command line, its benches (`benches/`) and its tests
//! (`tests/`) share. [`bench`](mod@bench) is `brook bench` and the `cargo bench` programs' measuring code;
//! [`scenario`] is `brook verify SCENARIO` and the scenario tests; [`top`] is `brook top` (its
//! snapshot poller and renderer, tested from `tests/`); [`event_lines`] formats `brook dev --events`. The embedded cluster is the
//! `brook-cluster` crate, re-exported here whole, so that `brook::Cluster`, `brook::client`,
//! `brook::Acks`, … read the same in this package as in a test that depends on `brook-cluster`
//! under the name `brook` (the README's way). An application or a test that only embeds Brook
//! depends on `brook-cluster`, not on this package, and compiles no CLI, bench or plotting code.

#![warn(missing_docs)]

pub mod bench;
pub mod event_lines;
pub mod scenario;
pub mod top;

pub use brook_cluster::*;
