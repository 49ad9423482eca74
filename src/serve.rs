//! `brook serve`: one broker process, configured like Kafka (`server.properties` + `--set`).
//! It prints the bound address once it accepts requests, and shuts down cleanly on Ctrl-C or
//! SIGTERM (flush, checkpoints, clean-shutdown marker).

use std::path::PathBuf;

use anyhow::Context;
use brook_broker::{BrokerConfig, BrokerHandle};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A Kafka-style `key=value` properties file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides, applied after the file: `--set node.id=2 --set listeners=127.0.0.1:9093`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
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
    let handle = BrokerHandle::start(config).await?;
    // Scripts and tests wait for this line: once it is printed, the broker accepts requests.
    println!("brook broker {node_id} listening on {}", handle.addr());
    shutdown_signal().await;
    eprintln!("shutting down cleanly");
    handle.shutdown().await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
