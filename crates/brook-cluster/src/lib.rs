//! Brook embedded (SPEC §9): a replicated Brook cluster inside your test's process — N brokers,
//! each with its own data dir and a 127.0.0.1 port, every one also a controller voter (the
//! metadata quorum) — plus the faults a reliability test needs: power-loss kills that lose what
//! was not fsynced, process crashes, clean stops, restarts on the same port, slow or failing
//! disks, and network faults (isolate, partition, slow) applied by the dialer every Brook
//! connection goes through.
//!
//! This crate is what a test author compiles: the brokers, the client and the cluster harness,
//! not the `brook` command line or its benchmark. Add it under the name `brook`, so that the
//! code reads `brook::Cluster`:
//!
//! ```toml
//! [dev-dependencies]
//! brook = { package = "brook-cluster", path = "../brook/crates/brook-cluster" }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! ```no_run
//! # use brook_cluster as brook; // what the rename above does
//! # async fn demo() -> Result<(), brook::ClusterError> {
//! use std::time::Duration;
//! use brook::{Acks, Cluster, ProducerRecord};
//!
//! let cluster = Cluster::builder().brokers(3).racks(["a", "b", "c"]).start().await?; // ready
//! cluster.create_topic("orders", 6, 3).config("min.insync.replicas", "2").await?;
//! let producer = cluster.producer().acks(Acks::All).build().await?;
//! producer.send_and_wait(ProducerRecord::with_key("orders", "k", "v")).await?;
//! let leader = cluster.leader_of("orders", 0).await?;
//! cluster.kill(leader).await?; // power loss: unflushed data is gone
//! cluster.restart(leader).await?;
//! cluster.wait_until(|v| v.isr("orders", 0).len() == 3, Duration::from_secs(5)).await?;
//! cluster.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! The harness observes the cluster (`view`, `describe`, `leader_of`, `wait_until`, readiness)
//! over plain TCP, outside the fault model: a test must be able to look at an isolated broker.
//! Clients made by `producer()`, `consumer()` and `admin()` go through the fault model, each as
//! its own [`Endpoint::Client`]. The building blocks are re-exported, so that a test needs no
//! other Brook crate: [`client`] (producer, consumer, admin), [`broker`], [`log`], [`proto`].
//!
//! # Process brokers
//!
//! With [`ClusterBuilder::processes`] the brokers are `brook serve --fault-injection` child
//! processes instead (same config keys, fixed ports, stderr in `serve.log` in each data dir):
//! `kill_keep_page_cache` is SIGKILL, `shutdown_broker` SIGTERM, `restart` a respawn with the
//! same arguments, and `kill` (power loss) tells the child to cut its files back to their last
//! fsync and exit. Network faults reach the children as commands on their stdin
//! ([`fault_control`]): each child keeps a copy of the fault model for its own dials. Disk
//! faults and the in-process [`Cluster::broker`] are not available (they return
//! [`ClusterError::NotWithProcesses`]).
//!
//! Process mode lives here, not with the CLI, because it is the same `Cluster` API a test
//! author uses (Brook's own process tests and `brook verify --mode process` drive it), and it
//! needs nothing of the CLI crate: the caller passes the `brook` executable's path (in the
//! `brook` package's own tests, `env!("CARGO_BIN_EXE_brook")`). [`fault_control`] holds both
//! sides of the stdin protocol, the harness's and the child's (`brook serve` calls
//! [`fault_control::serve_stdin`]), so that they cannot drift apart.
//!
//! # Crate map
//!
//! Each module depends only on those listed below it (no two import each other):
//!
//! | module | owns |
//! |---|---|
//! | `clients.rs` | what a cluster hands out: `create_topic` ([`CreateTopic`]), [`ProducerBuilder`], [`ConsumerBuilder`], `admin()` |
//! | `builder.rs` | [`ClusterBuilder`]: brokers, racks, config, test defaults, `start()` and readiness |
//! | `cluster.rs` | [`Cluster`]: the brokers, kill / restart / shutdown, network faults, observation |
//! | `in_process.rs` | starting one in-process broker on the cluster's faulty disk and dialer |
//! | `process.rs` | one `brook serve` child: spawn, fault commands, SIGTERM, power loss |
//! | [`fault_control`] | the fault line protocol between a harness and a child, both sides |
//! | `view.rs` | [`ClusterView`]: one look at every broker's answers, and the helpers tests use |
//! | `poll.rs` | the pauses of every wait |
//! | `error.rs` | [`ClusterError`] and [`Result`] |

#![warn(missing_docs)]

mod builder;
mod clients;
mod cluster;
mod error;
pub mod fault_control;
mod in_process;
mod poll;
mod process;
mod view;

pub use brook_broker as broker;
pub use brook_client as client;
pub use brook_client::{Acks, Consumer, Producer, ProducerRecord, TopicPartition};
pub use brook_log as log;
pub use brook_proto as proto;
pub use brook_proto::faults::Endpoint;

pub use builder::ClusterBuilder;
pub use clients::{ConsumerBuilder, CreateTopic, ProducerBuilder};
pub use cluster::Cluster;
pub use error::{ClusterError, Result};
pub use view::ClusterView;
