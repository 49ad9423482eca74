//! `brook dev [--brokers 3] [--data-dir DIR]`: a local replicated cluster for trying Brook
//! (SPEC §10). It runs the embedded `brook::Cluster` in this process, prints the bootstrap
//! servers and each broker's address, and stops cleanly on Ctrl-C.

use std::path::PathBuf;

use brook::Cluster;

#[derive(clap::Args)]
pub struct DevArgs {
    /// Number of brokers (broker 1 is also the controller).
    #[arg(long, default_value_t = 3)]
    brokers: usize,
    /// Keep the data in DIR/b<id> (kept after exit) instead of a temp dir removed on exit.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let mut builder = Cluster::builder().brokers(args.brokers);
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    let cluster = builder.start().await?;
    // Scripts wait for the bootstrap line: once it is printed, every broker is registered.
    println!("bootstrap servers: {}", cluster.bootstrap_servers());
    for id in cluster.broker_ids() {
        let role = if id == 1 {
            "broker, controller"
        } else {
            "broker"
        };
        println!(
            "  broker {id}: {} ({role}) data in {}",
            cluster.addr(id)?,
            cluster.data_dir(id)?.display()
        );
    }
    println!(
        "{} brokers ready in {} ms; Ctrl-C stops them",
        args.brokers,
        cluster.startup_time().as_millis()
    );
    tokio::signal::ctrl_c().await?;
    eprintln!("shutting down cleanly");
    cluster.shutdown().await?;
    Ok(())
}
