#![warn(missing_docs)]

//! brook-verify: Brook proving its own promises (seed §7.6.1, SPEC §11).
//!
//! [`events`] is the JSON-lines vocabulary of Kafka's VerifiableProducer / VerifiableConsumer;
//! [`producer`] and [`consumer`] are those two tools, writing the events; [`checker`] compares
//! what a producer was told with what a consumer saw.
//!
//! ```text
//! src/
//!   lib.rs          this map
//!   events.rs       Event: the tools' JSON lines, with Kafka's names (plus Brook's durability,
//!                   leader and leader_epoch on acknowledgements)
//!   tool.rs         what both tools share: StopSignal, ToolError, the event writer, Java-style
//!                   properties files
//!   producer.rs     the verifiable producer: values 0, 1, 2, … and one event per send outcome
//!   consumer.rs     the verifiable consumer: assign mode over a whole topic, one event per poll
//!                   and per commit
//!   checker/
//!     mod.rs        reading event logs, classifying send errors, the Checker and check()
//!     report.rs     the verdict: Report, its findings, Promises and violations
//! ```

pub mod checker;
pub mod consumer;
pub mod events;
pub mod producer;
pub mod tool;
