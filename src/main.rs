//! The `brook` command line (SPEC §10): `serve` runs a broker and `dev` a local cluster in this
//! process; `topics`, `produce` and `consume` talk to one; `groups`, `configs`, `leader-election`
//! and `quorum describe` are Kafka's admin tools (kafka-consumer-groups, kafka-configs,
//! kafka-leader-election, kafka-metadata-quorum); `lag` evaluates a group's lag after Burrow; `verifiable-producer` and `verifiable-consumer`
//! are Kafka's verifiable tools, `verify` runs fault scenarios and checks their logs, `bench`
//! measures; `top` is a live view of the cluster; `demo` tours the storage engine. Errors print one line naming the Kafka-style error
//! and exit non-zero (`groups` prints Kafka's own wording for the failures Kafka words).

mod bench_cmd;
mod configs;
mod consume;
mod demo;
mod dev;
mod groups;
mod lag;
mod leader_election;
mod produce;
mod quorum;
mod serve;
mod signal;
mod topics;
mod verifiable_consumer;
mod verifiable_producer;
mod verify;

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
    /// Run one broker process (Kafka-style server.properties and --set overrides).
    Serve(serve::ServeArgs),
    /// Create, list, describe and delete topics.
    Topics(topics::TopicsArgs),
    /// Send stdin lines as records (one per line).
    Produce(produce::ProduceArgs),
    /// Print record values, one per line.
    Consume(consume::ConsumeArgs),
    /// Kafka's kafka-consumer-groups: list, describe (offsets and lag, --members, --state),
    /// reset-offsets and delete consumer groups.
    Groups(groups::GroupsArgs),
    /// A consumer group's lag evaluated by its coordinator with Burrow's rules: OK, WARN,
    /// STOP, STALL, REWIND per partition, the worst for the group (--watch to follow it).
    Lag(lag::LagArgs),
    /// Kafka's kafka-configs: --alter (--add-config / --delete-config) or --describe the
    /// dynamic configs of a topic.
    Configs(configs::ConfigsArgs),
    /// Kafka's kafka-leader-election: a PREFERRED or UNCLEAN election for one partition or all.
    LeaderElection(leader_election::LeaderElectionArgs),
    /// Kafka's kafka-metadata-quorum: describe the controller quorum (--status, --replication,
    /// --json).
    Quorum(quorum::QuorumArgs),
    /// Write, read, crash and recover a log on disk, explaining each step.
    Demo(demo::DemoArgs),
    /// Run a local replicated cluster in this process, with fault commands on stdin; Ctrl-C or
    /// SIGTERM stops it.
    Dev(dev::DevArgs),
    /// Kafka's VerifiableProducer: send 0, 1, 2, … and print every outcome as a JSON line.
    VerifiableProducer(verifiable_producer::VerifiableProducerArgs),
    /// Kafka's VerifiableConsumer: read a topic, commit after every poll, print JSON lines.
    VerifiableConsumer(verifiable_consumer::VerifiableConsumerArgs),
    /// Prove Brook's promises (SPEC §11): run a fault scenario against a cluster (in this
    /// process or as `brook serve` processes) and check it, or `check` a verifiable producer's
    /// log against a consumer's.
    Verify(verify::VerifyArgs),
    /// A live terminal view of the cluster: partitions (leader, epoch, ISR, HW, replica lag),
    /// brokers, consumer groups and rates, refreshed every second (`--once`: one text frame).
    Top(brook::top::TopArgs),
    /// Benchmark the acks × flush × replication × size matrix against this machine's own
    /// ceilings (disk, fsync, bare tonic), measured in the same run (SPEC §12).
    Bench(bench_cmd::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    init_tracing(matches!(&cli.command, Command::Dev(a) if a.events));
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => block_on(serve::run(args)),
        Command::Topics(args) => block_on(topics::run(args)),
        Command::Produce(args) => block_on(produce::run(args)),
        Command::Consume(args) => block_on(consume::run(args)),
        Command::Quorum(args) => block_on(quorum::run(args)),
        Command::Groups(args) => block_on(groups::run(args)).or_else(groups::exit_if_reported),
        Command::Lag(args) => block_on(lag::run(args)),
        Command::Configs(args) => block_on(configs::run(args)),
        Command::LeaderElection(args) => block_on(leader_election::run(args)),
        Command::Dev(args) => block_on(dev::run(args)),
        Command::VerifiableProducer(args) => block_on(verifiable_producer::run(args)),
        Command::VerifiableConsumer(args) => block_on(verifiable_consumer::run(args)),
        Command::Verify(args) => verify::run(args),
        Command::Top(args) => block_on(brook::top::run(args)),
        Command::Bench(args) => block_on(bench_cmd::run(args)),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Logs to stderr, filtered by `RUST_LOG`. openraft logs every failed RPC to an unreachable
/// voter; Brook's quorum code logs each voter going away and coming back once instead, so the
/// default is `warn,openraft=off` (`RUST_LOG=openraft=info` shows openraft's). With `events`
/// (`brook dev --events`) the replication events also go to stdout, one line each, whatever
/// `RUST_LOG` says (`RUST_LOG=brook::events=info` logs them to stderr in the usual format).
fn init_tracing(events: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,openraft=off"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    tracing_subscriber::registry()
        .with(tracing_subscriber::Layer::with_filter(stderr, filter))
        .with(events.then(|| brook::event_lines::layer(std::io::stdout)))
        .init();
}

/// Runs a command on a fresh multi-threaded runtime. Once the command has finished (it has
/// already stopped what it started), the runtime is dropped without waiting for blocking
/// threads: a read of stdin (`brook dev`'s fault commands, `brook produce`) blocks its thread
/// until a line arrives, and waiting for it would keep the process alive after Ctrl-C.
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(fut);
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}
