//! `brook dev [--brokers 3] [--data-dir DIR]`: a local replicated cluster for trying Brook
//! (SPEC §10). It runs the embedded `brook::Cluster` in this process, prints the bootstrap
//! servers and each broker's address and metrics URL (`GET /metrics`, Prometheus), and stops cleanly on Ctrl-C or SIGTERM. Every broker is
//! also a controller voter (the metadata quorum). While it runs it reads fault commands on stdin
//! (`kill 2`, `restart 2`, `isolate 3`, `heal`, `controller`, … — `help` lists them), which work
//! on any broker, the active controller included, so a learner can watch leaders move, ISRs
//! shrink and the controller fail over with `brook topics describe` and `controller`. With
//! `--events` each replication event prints as it happens (`main.rs` sets up the output,
//! `event_lines.rs` the format).

use std::path::PathBuf;

use brook::Cluster;

use crate::signal::shutdown_signal;

#[derive(clap::Args)]
pub struct DevArgs {
    /// Number of brokers (every one also a controller voter).
    #[arg(long, default_value_t = 3)]
    brokers: usize,
    /// Keep the data in DIR/b<id> (kept after exit) instead of a temp dir removed on exit.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print replication events on stdout as they happen, one line each: ISR shrink / expand,
    /// leader election, leader-epoch change, follower truncation, broker fencing
    /// (`RUST_LOG=brook::events=info brook serve` logs the same lines).
    #[arg(long)]
    pub events: bool,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let mut builder = Cluster::builder().brokers(args.brokers).metrics(true);
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    let cluster = builder.start().await?;
    // Scripts wait for the bootstrap line: once it is printed, every broker is registered.
    println!("bootstrap servers: {}", cluster.bootstrap_servers());
    for id in cluster.broker_ids() {
        let role = "broker, controller voter";
        let metrics = cluster
            .metrics_url(id)
            .map_or_else(String::new, |url| format!(" metrics {url}"));
        println!(
            "  broker {id}: {} ({role}) data in {}{metrics}",
            cluster.addr(id)?,
            cluster.data_dir(id)?.display()
        );
    }
    println!(
        "{} brokers ready in {} ms; Ctrl-C stops them",
        args.brokers,
        cluster.startup_time().as_millis()
    );
    println!("{}", controller_line(&cluster).await);
    println!(
        "type `help` for fault commands (kill, crash, stop, restart, isolate, partition, slow, \
         heal) and `controller`"
    );
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
    let mut stdin_open = true;
    loop {
        tokio::select! {
            r = shutdown_signal() => { r?; break; }
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    if let Err(e) = command(&cluster, line.trim()).await {
                        println!("error: {e:#}");
                    }
                }
                _ => stdin_open = false,
            },
        }
    }
    eprintln!("shutting down cleanly");
    cluster.shutdown().await?;
    Ok(())
}

const HELP: &str = "commands:
  kill N          crash broker N and lose what it had not fsynced (power loss)
  crash N         crash broker N, keeping its page cache (process crash)
  stop N          stop broker N cleanly
  restart N       start broker N again (same id, data and port)
  isolate N       cut every link to and from broker N
  partition A B   cut the link between brokers A and B
  slow N MS       delay every read on links to and from broker N
  heal            undo every network fault
  controller      which broker is the active controller now
Every command works on any broker, the active controller included: the other voters elect a
new one (while a majority of them is up and connected).";

async fn command(cluster: &Cluster, line: &str) -> anyhow::Result<()> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let id = |i: usize| -> anyhow::Result<i32> {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("expected a broker id; `help` lists the commands"))
    };
    match words.first().copied() {
        None => {}
        Some("help") => println!("{HELP}"),
        Some("kill") => cluster.kill(id(1)?).await?,
        Some("crash") => cluster.kill_keep_page_cache(id(1)?).await?,
        Some("stop") => cluster.shutdown_broker(id(1)?).await?,
        Some("restart") => cluster.restart(id(1)?).await?,
        Some("isolate") => cluster.isolate(id(1)?).await?,
        Some("partition") => cluster.partition(id(1)?, id(2)?).await?,
        Some("slow") => {
            let ms: u64 = words.get(2).and_then(|w| w.parse().ok()).unwrap_or(0);
            cluster
                .slow(id(1)?, std::time::Duration::from_millis(ms))
                .await?
        }
        Some("heal") => cluster.heal().await?,
        Some("controller") => {
            println!("{}", controller_line(cluster).await);
            return Ok(());
        }
        Some(other) => anyhow::bail!("unknown command `{other}`; `help` lists them"),
    }
    if !words.is_empty() && words[0] != "help" {
        println!("ok: {line}");
    }
    Ok(())
}

/// `active controller: broker N`, or why there is none.
async fn controller_line(cluster: &Cluster) -> String {
    match cluster.active_controller().await {
        Some(id) => format!("active controller: broker {id}"),
        None => "no active controller right now (an election is under way, or a majority of \
                 the voters is down or cut off)"
            .to_string(),
    }
}
