//! The `brook` command line. For now it offers `brook demo`, a guided tour of the storage engine:
//! it writes a log, reads it back, shows the segments and indexes, then simulates a crash with a
//! torn tail and shows recovery cutting it off. Broker subcommands (`serve`, `topics`, …) arrive
//! with the broker.

mod demo;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "brook",
    version,
    about = "A small, embeddable, replicated log broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write, read, crash and recover a log on disk, explaining each step.
    Demo(demo::DemoArgs),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
