//! `brook serve`: one broker process, configured like Kafka (`server.properties` + `--set`).
//! It prints the bound address once it accepts requests (and, before it, the metrics URL when
//! `metrics.listener` is set), and shuts down cleanly on Ctrl-C or
//! SIGTERM (flush, checkpoints, clean-shutdown marker).
//!
//! `--fault-injection` (hidden; for `brook::Cluster` with process brokers and `brook verify
//! --mode process`) runs the broker over the fault-injecting disk and dialer and takes fault
//! commands on stdin (`brook_cluster::fault_control`).

use std::path::PathBuf;

use anyhow::Context;
use std::sync::Arc;

use brook::log::io::FaultyFileSystem;
use brook::proto::faults::{Endpoint, Network};
use brook::proto::net::Channels;
use brook_broker::{BrokerConfig, BrokerEnv, BrokerHandle};

use crate::signal::shutdown_signal;
use brook_cluster::fault_control;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A Kafka-style `key=value` properties file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides, applied after the file: `--set node.id=2 --set listeners=127.0.0.1:9093`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Test harness only: fault commands on stdin (network faults, power loss).
    #[arg(long, hide = true)]
    fault_injection: bool,
    /// With --fault-injection: where broker ID listens (`ID=HOST:PORT`, repeated), known before
    /// the first dial so that every connection knows which broker it reaches.
    #[arg(long = "fault-peer", hide = true, value_name = "ID=ADDR")]
    fault_peers: Vec<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut pairs = Vec::new();
    if let Some(path) = &args.config {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        pairs.extend(BrokerConfig::parse_properties(&text)?);
    }
    for s in &args.sets {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--set {s}: expected KEY=VALUE"))?;
        pairs.push((k.trim().to_string(), v.trim().to_string()));
    }
    let config = BrokerConfig::from_pairs(pairs)?;
    let node_id = config.node_id;
    let handle = if args.fault_injection {
        let network = Network::new();
        for peer in &args.fault_peers {
            let (id, addr) = peer
                .split_once('=')
                .with_context(|| format!("--fault-peer {peer}: expected ID=HOST:PORT"))?;
            let id = id
                .parse()
                .with_context(|| format!("--fault-peer {peer}: bad id"))?;
            let addr = addr
                .parse()
                .with_context(|| format!("--fault-peer {peer}: bad address"))?;
            network.register(id, addr);
        }
        let fs = FaultyFileSystem::new();
        let env = BrokerEnv {
            fs: Arc::new(fs.clone()),
            channels: Channels::new(network.dialer(Endpoint::Broker(node_id))),
            ..BrokerEnv::default()
        };
        let handle = BrokerHandle::start_with(config, env).await?;
        std::thread::spawn(move || fault_control::serve_stdin(network, fs));
        handle
    } else {
        BrokerHandle::start(config).await?
    };
    // Before the `listening on` line, which scripts and tests wait for (`brook::Cluster` with
    // process brokers reads this one on the way).
    if let Some(addr) = handle.metrics_addr() {
        println!(
            "brook broker {node_id} metrics on {}",
            brook_broker::metrics::http::url(addr)
        );
    }
    // Scripts and tests wait for this line: once it is printed, the broker accepts requests.
    println!("brook broker {node_id} listening on {}", handle.addr());
    if let Err(e) = shutdown_signal().await {
        tracing::warn!("cannot listen for Ctrl-C or SIGTERM ({e}); shutting down");
    }
    eprintln!("shutting down cleanly");
    handle.shutdown().await?;
    Ok(())
}
