//! `brook bench`: the flags, the progress bar (stderr, only on a terminal), the markdown report
//! on stdout and the `--out` files. The measuring is `brook::bench`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use brook::bench::{self, BenchOptions, matrix, plot, report};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::signal::shutdown_signal;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Pick cells: `key=value[/value…]` terms separated by commas or spaces, keys acks (0, 1,
    /// all), flush (never, ms10, msg1), rf (1, 3), size (100, 1k); a key left out keeps all its
    /// values; repeat the flag for a union. Default: all 36 cells.
    /// Example: --matrix 'acks=1/all flush=never rf=1/3 size=100'
    #[arg(long, value_name = "SPEC")]
    matrix: Vec<String>,
    /// Measured time per cell and per baseline run (e.g. 2s, 500ms, 1.5).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    duration: Duration,
    /// Untimed warm-up before each measured window.
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    warmup: Duration,
    /// Concurrent producers per cell, each its own client and connection.
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Partitions of each cell's topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Fixed total send rate per cell (msg/s) instead of as fast as possible; latency is then
    /// measured from each record's scheduled send time (no coordinated omission).
    #[arg(long, value_name = "MSG_PER_SEC")]
    rate: Option<f64>,
    /// The producers' linger.ms (how long a batch waits for more records; the client's default
    /// is 5 ms). At a low --rate it dominates produce latency; 0 sends at once.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    linger_ms: u64,
    /// Run against this external cluster (HOST:PORT[,HOST:PORT…]) instead of in-process ones;
    /// each cell gets its own topic, deleted afterwards; cells needing more brokers are skipped.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Also write results.csv, results.json, results.md and SVG plots into DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run a peer system's comparable workload in the same run (needs `redis-server` on PATH;
    /// skipped with a note when absent).
    #[arg(long, value_enum)]
    peer: Option<Peer>,
    /// Where in-process clusters and the disk baselines write (default: the system temp dir; it
    /// must not be tmpfs for fsync figures to mean anything).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Producers of the group-commit run (flush.messages=1, one record outstanding each).
    #[arg(long, default_value_t = 64)]
    group_producers: usize,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Peer {
    /// A local redis-server: XADD to a stream, appendfsync as the flush policy, a replica with
    /// WAIT 1 as acks=all.
    Redis,
}

/// `2s`, `200ms`, `1.5` (seconds), `1m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 2s, 500ms)"))?;
    let secs = match unit.trim() {
        "ms" => v / 1000.0,
        "s" | "" => v,
        "m" | "min" => v * 60.0,
        other => return Err(format!("unknown unit `{other}` in `{s}` (ms, s, m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 3600.0 {
        return Err(format!("`{s}` must be between 0 and 1 hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let cells = matrix::select(&args.matrix)?;
    if args.producers == 0 || args.partitions <= 0 || args.group_producers == 0 {
        anyhow::bail!("--producers, --partitions and --group-producers must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        anyhow::bail!("--rate must be a positive number of messages per second");
    }
    let mut opts = BenchOptions::new(cells);
    opts.duration = args.duration;
    opts.warmup = args.warmup;
    opts.producers = args.producers;
    opts.partitions = args.partitions;
    opts.rate = args.rate;
    opts.linger = Duration::from_millis(args.linger_ms);
    opts.bootstrap = args.bootstrap_server;
    opts.redis = matches!(args.peer, Some(Peer::Redis));
    opts.group_producers = args.group_producers;
    if let Some(dir) = args.data_dir {
        opts.data_dir = dir;
    }
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    }

    let progress = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar =
            ProgressBar::with_draw_target(Some(bench::steps(&opts)), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {wide_msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    };
    // On Ctrl-C or SIGTERM the run is dropped, which stops its clusters and deletes their
    // directories.
    let result = tokio::select! {
        result = bench::run(opts, &progress) => result?,
        _ = shutdown_signal() => {
            progress.finish_and_clear();
            anyhow::bail!("interrupted");
        }
    };
    let table = report::markdown(&result);
    println!("{table}");
    if let Some(out) = &args.out {
        let write = |name: &str, text: &str| {
            let path = out.join(name);
            std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
        };
        write("results.md", &table)?;
        write("results.csv", &report::csv(&result))?;
        write(
            "results.json",
            &serde_json::to_string_pretty(&report::json(&result))?,
        )?;
        plot::write_all(&result, out)?;
        eprintln!(
            "wrote results.md, results.csv, results.json, throughput-vs-durability.svg and latency.svg to {}",
            out.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3h").is_err());
    }
}
