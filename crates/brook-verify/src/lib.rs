#![warn(missing_docs)]

//! brook-verify: Brook proving its own promises (seed §7.6.1, SPEC §11).
//!
//! `events` is the JSON-lines vocabulary of Kafka's VerifiableProducer / VerifiableConsumer;
//! `checker` compares what a producer was told with what a consumer saw.

pub mod checker;
pub mod consumer;
pub mod events;
pub mod producer;
pub mod tool;
