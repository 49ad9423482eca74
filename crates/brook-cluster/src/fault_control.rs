//! Faults for process brokers: the line protocol between a harness and a
//! `brook serve --fault-injection` child, and the child's side of it.
//!
//! In process every broker dials through one shared [`Network`] and writes through its own
//! [`FaultyFileSystem`]. A child process cannot share the harness's memory, so it keeps its own
//! copy of the fault model: the harness sends every fault to every running child on its stdin,
//! one command per line, and applies it to its own `Network` (which its clients dial through).
//! Because faults act on the dialing side only, N copies of one model behave like the shared
//! one: a cut link fails whichever side dials it.
//!
//! Commands (each answered on stdout by `fault-ok <command>` or `fault-err <reason>`):
//! - `peer ID ADDR`: broker ID listens on ADDR (so that dials to ADDR know their destination);
//! - `isolate E`, `partition E E`, `reconnect E E`, `slow E MS`, `heal`: as in [`Network`], where
//!   E is `broker:N` or `client:N`;
//! - `power-loss`: every file is cut back to its last fsync, no write lands after that, and the
//!   process exits with status 137 (as if SIGKILLed) right after answering.

use std::fmt;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use brook_log::io::FaultyFileSystem;
use brook_proto::faults::{Endpoint, Network};

/// The exit status of a child after `power-loss` (what a shell reports for SIGKILL).
pub const POWER_LOSS_EXIT: i32 = 137;

/// One fault command (one line of the protocol; `Display` and `FromStr` are its two sides).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultCommand {
    /// `peer ID ADDR`: broker `id` listens on `addr`.
    Peer {
        /// The broker.
        id: i32,
        /// Its listener.
        addr: SocketAddr,
    },
    /// `isolate E`: cut every link of the endpoint.
    Isolate(Endpoint),
    /// `partition A B`: cut the link between two endpoints.
    Partition(Endpoint, Endpoint),
    /// `reconnect A B`: restore the link between two endpoints.
    Reconnect(Endpoint, Endpoint),
    /// `slow E MS`: delay every read on the endpoint's links (0 removes it).
    Slow(Endpoint, Duration),
    /// `heal`: remove every network fault.
    Heal,
    /// `power-loss`: cut every file back to its last fsync and exit.
    PowerLoss,
}

fn endpoint_str(e: &Endpoint) -> String {
    match e {
        Endpoint::Broker(id) => format!("broker:{id}"),
        Endpoint::Client(id) => format!("client:{id}"),
    }
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let bad = || format!("bad endpoint {s:?}: expected broker:N or client:N");
    let (kind, id) = s.split_once(':').ok_or_else(bad)?;
    match kind {
        "broker" => id.parse().map(Endpoint::Broker).map_err(|_| bad()),
        "client" => id.parse().map(Endpoint::Client).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

impl fmt::Display for FaultCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultCommand::Peer { id, addr } => write!(f, "peer {id} {addr}"),
            FaultCommand::Isolate(e) => write!(f, "isolate {}", endpoint_str(e)),
            FaultCommand::Partition(a, b) => {
                write!(f, "partition {} {}", endpoint_str(a), endpoint_str(b))
            }
            FaultCommand::Reconnect(a, b) => {
                write!(f, "reconnect {} {}", endpoint_str(a), endpoint_str(b))
            }
            FaultCommand::Slow(e, d) => write!(f, "slow {} {}", endpoint_str(e), d.as_millis()),
            FaultCommand::Heal => f.write_str("heal"),
            FaultCommand::PowerLoss => f.write_str("power-loss"),
        }
    }
}

impl FromStr for FaultCommand {
    type Err = String;

    fn from_str(line: &str) -> Result<FaultCommand, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let cmd = match words.as_slice() {
            ["peer", id, addr] => FaultCommand::Peer {
                id: id.parse().map_err(|_| format!("bad broker id {id:?}"))?,
                addr: addr.parse().map_err(|_| format!("bad address {addr:?}"))?,
            },
            ["isolate", e] => FaultCommand::Isolate(parse_endpoint(e)?),
            ["partition", a, b] => FaultCommand::Partition(parse_endpoint(a)?, parse_endpoint(b)?),
            ["reconnect", a, b] => FaultCommand::Reconnect(parse_endpoint(a)?, parse_endpoint(b)?),
            ["slow", e, ms] => FaultCommand::Slow(
                parse_endpoint(e)?,
                Duration::from_millis(ms.parse().map_err(|_| format!("bad delay {ms:?}"))?),
            ),
            ["heal"] => FaultCommand::Heal,
            ["power-loss"] => FaultCommand::PowerLoss,
            _ => return Err(format!("unknown fault command {line:?}")),
        };
        Ok(cmd)
    }
}

impl FaultCommand {
    /// Applies a network command to `network`. `peer` registers the address; `power-loss` is
    /// not a network fault and does nothing here.
    pub fn apply(&self, network: &Network) {
        match self {
            FaultCommand::Peer { id, addr } => network.register(*id, *addr),
            FaultCommand::Isolate(e) => network.isolate(*e),
            FaultCommand::Partition(a, b) => network.partition(*a, *b),
            FaultCommand::Reconnect(a, b) => network.reconnect(*a, *b),
            FaultCommand::Slow(e, d) => network.slow(*e, *d),
            FaultCommand::Heal => network.heal(),
            FaultCommand::PowerLoss => {}
        }
    }
}

/// The child's side: reads commands from stdin until it closes, applying them to the broker's
/// `network` and `fs` and answering each on stdout. Runs on its own thread (stdin is blocking).
/// A closed stdin (the harness went away) ends the loop; the broker keeps running until it is
/// signalled, as without fault injection.
pub fn serve_stdin(network: Arc<Network>, fs: FaultyFileSystem) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let reply = match line.parse::<FaultCommand>() {
            Ok(FaultCommand::PowerLoss) => match fs.power_off() {
                Ok(()) => {
                    tracing::warn!("power loss injected: unsynced data dropped; exiting");
                    answer(&format!("fault-ok {line}"));
                    std::process::exit(POWER_LOSS_EXIT);
                }
                Err(e) => format!("fault-err power-loss: {e}"),
            },
            Ok(cmd) => {
                cmd.apply(&network);
                tracing::info!(command = %cmd, "fault injected");
                format!("fault-ok {cmd}")
            }
            Err(e) => format!("fault-err {e}"),
        };
        answer(&reply);
    }
}

fn answer(line: &str) {
    let mut out = std::io::stdout().lock();
    // The harness waits for this line; if stdout is gone there is nobody to tell.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_through_its_line() {
        let cmds = [
            FaultCommand::Peer {
                id: 2,
                addr: "127.0.0.1:9093".parse().unwrap(),
            },
            FaultCommand::Isolate(Endpoint::Broker(3)),
            FaultCommand::Partition(Endpoint::Broker(1), Endpoint::Client(4)),
            FaultCommand::Reconnect(Endpoint::Broker(1), Endpoint::Broker(2)),
            FaultCommand::Slow(Endpoint::Broker(2), Duration::from_millis(1000)),
            FaultCommand::Heal,
            FaultCommand::PowerLoss,
        ];
        for cmd in cmds {
            let line = cmd.to_string();
            assert_eq!(line.parse::<FaultCommand>(), Ok(cmd), "{line}");
        }
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        for (line, needle) in [
            ("isolate 3", "bad endpoint"),
            ("isolate node:3", "bad endpoint"),
            ("slow broker:2 fast", "bad delay"),
            ("peer x 127.0.0.1:1", "bad broker id"),
            ("peer 1 nowhere", "bad address"),
            ("explode", "unknown fault command"),
        ] {
            let err = line.parse::<FaultCommand>().unwrap_err();
            assert!(err.contains(needle), "{line}: {err}");
        }
    }

    #[test]
    fn a_network_command_changes_the_model() {
        let net = Network::new();
        let (a, b) = (Endpoint::Broker(1), Endpoint::Broker(2));
        "partition broker:1 broker:2"
            .parse::<FaultCommand>()
            .unwrap()
            .apply(&net);
        assert!(net.link(a, b).cut);
        "heal".parse::<FaultCommand>().unwrap().apply(&net);
        assert!(!net.link(a, b).cut);
        "slow broker:2 250"
            .parse::<FaultCommand>()
            .unwrap()
            .apply(&net);
        assert_eq!(net.link(a, b).delay, Duration::from_millis(250));
    }
}
