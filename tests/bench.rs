//! `brook bench` end to end, on tiny matrices (a few seconds): the markdown table names every
//! cell, `--out` writes CSV and JSON that parse with the expected rows and positive figures, and
//! valid SVG plots; bad input gives a clear error; the Redis peer runs when `redis-server` is
//! installed and is skipped cleanly when it is not.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

#[path = "common/serve.rs"]
mod serve;
use serve::{BROOK, serve};

/// Flags that keep a run to a few seconds.
const TINY: &[&str] = &[
    "--duration",
    "200ms",
    "--warmup",
    "50ms",
    "--producers",
    "2",
    "--partitions",
    "2",
    "--group-producers",
    "8",
    "--quiet",
];

fn bench(args: &[&str], data_dir: &Path) -> Output {
    Command::new(BROOK)
        .arg("bench")
        .args(TINY)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_tiny_matrix_prints_the_table_and_writes_csv_json_and_svg() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = bench(
        &[
            "--matrix",
            "acks=0/1/all flush=never rf=1 size=100",
            "--out",
            out.path().to_str().unwrap(),
        ],
        data.path(),
    );
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    // The table: one row per cell, acks=0 without produce latency or durability.
    for cell in [
        "acks=0 never RF1 100B",
        "acks=1 never RF1 100B",
        "acks=all never RF1 100B",
    ] {
        assert!(
            stdout.contains(&format!("| {cell} | ")),
            "{cell} missing:\n{stdout}"
        );
    }
    let acks0 = stdout
        .lines()
        .find(|l| l.starts_with("| acks=0 never RF1 100B |"))
        .unwrap();
    let fields: Vec<&str> = acks0.split('|').map(str::trim).collect();
    assert_eq!(fields[4], "-", "acks=0 has no produce p50: {acks0}");
    assert_eq!(fields[10], "-", "acks=0 has no durability: {acks0}");
    assert!(stdout.contains("LEADER_WRITTEN"), "{stdout}");
    assert!(stdout.contains("ISR_REPLICATED"), "{stdout}");
    assert!(stdout.contains("### Targets"), "{stdout}");
    assert!(stdout.contains("raw sequential write"), "{stdout}");

    // CSV: a header and one row per cell with positive figures.
    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{csv}");
        assert_eq!(row[col("status")], "ran", "{csv}");
        for name in [
            "msgs_per_sec",
            "mb_per_sec",
            "e2e_p50_ms",
            "ratio_tonic",
            "ratio_disk",
        ] {
            let v: f64 = row[col(name)]
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {csv}"));
            assert!(v > 0.0, "{name} = {v}: {csv}");
        }
    }
    let by_acks = |acks: &str| rows.iter().find(|r| r[col("acks")] == acks).unwrap();
    assert_eq!(by_acks("0")[col("durability")], "");
    assert_eq!(by_acks("0")[col("produce_p99_ms")], "");
    assert_eq!(by_acks("1")[col("durability")], "LEADER_WRITTEN");
    assert_eq!(by_acks("all")[col("durability")], "ISR_REPLICATED");
    let p50: f64 = by_acks("1")[col("produce_p50_ms")].parse().unwrap();
    let p99: f64 = by_acks("1")[col("produce_p99_ms")].parse().unwrap();
    let max: f64 = by_acks("1")[col("produce_max_ms")].parse().unwrap();
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{csv}");

    // JSON: the same cells, the baselines and the four targets.
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    for c in cells {
        assert_eq!(c["status"], "ran");
        assert!(num(&c["figures"]["msgs_per_sec"]) > 0.0, "{c}");
        assert!(c["figures"]["consumed"].as_u64().unwrap() > 0, "{c}");
    }
    let b = &json["baselines"];
    assert!(num(&b["seq_write_mb_per_sec"]) > 0.0);
    assert!(num(&b["fdatasync_per_sec"]) > 0.0);
    assert!(num(&b["tonic"][0]["msgs_per_sec"]) > 0.0);
    assert!(num(&json["group_commit"]["msgs_per_sec"]) > 0.0);
    assert!(num(&json["replication"]["acks1_rf1_msgs_per_sec"]) > 0.0);
    assert!(num(&json["replication"]["acks_all_rf3_msgs_per_sec"]) > 0.0);
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 4);
    // Replication, group commit and single broker are measured; Redis was not asked for.
    let measured = targets.iter().filter(|t| t["measured"].is_number()).count();
    assert_eq!(measured, 3, "{targets:?}");
    assert_eq!(targets[3]["verdict"], "-");

    // SVG plots.
    for name in ["throughput-vs-durability.svg", "latency.svg"] {
        let svg = std::fs::read_to_string(out.path().join(name)).unwrap();
        assert!(
            svg.trim_start().starts_with("<svg"),
            "{name}: {}",
            &svg[..80.min(svg.len())]
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{name}");
        assert!(svg.contains("<circle"), "{name} has data points");
    }
    assert!(
        std::fs::read_dir(data.path()).unwrap().next().is_none(),
        "data dir left clean"
    );
}

#[test]
fn a_bad_matrix_token_is_named() {
    let data = tempfile::tempdir().unwrap();
    let o = bench(&["--matrix", "acks=1 flush=sometimes"], data.path());
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("bad --matrix token `sometimes`"), "{err}");
}

#[test]
fn an_unreachable_bootstrap_server_is_a_clear_error() {
    let data = tempfile::tempdir().unwrap();
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let o = bench(&["--bootstrap-server", &addr], data.path());
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("cannot reach the bootstrap server {addr}")),
        "{err}"
    );
}

#[test]
fn an_external_cluster_runs_what_fits_and_skips_the_rest() {
    let s = serve();
    let data = tempfile::tempdir().unwrap();
    let o = bench(
        &[
            "--bootstrap-server",
            &s.addr,
            "--matrix",
            "acks=1 flush=msg1 rf=1/3 size=100",
        ],
        data.path(),
    );
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", text(&o.stderr));
    assert!(stdout.contains("external cluster"), "{stdout}");
    let row = |cell: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {cell} |")))
            .unwrap_or_else(|| panic!("{cell} missing:\n{stdout}"))
            .to_string()
    };
    assert!(
        row("acks=1 flush.messages=1 RF1 100B").contains("LEADER_FLUSHED"),
        "{stdout}"
    );
    assert!(
        row("acks=1 flush.messages=1 RF3 100B")
            .contains("skipped: RF 3 needs 3 brokers; the cluster has 1"),
        "{stdout}"
    );
}

#[test]
fn the_redis_peer_is_skipped_cleanly_without_redis_server() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let o = Command::new(BROOK)
        .arg("bench")
        .args(TINY)
        .arg("--data-dir")
        .arg(data.path())
        .args([
            "--matrix",
            "acks=1 flush=never rf=1 size=100",
            "--peer",
            "redis",
        ])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", text(&o.stderr));
    assert!(
        stdout.contains(
            "redis-server not found: install with `apt-get install redis-server`; skipping the peer"
        ),
        "{stdout}"
    );
}

#[test]
fn the_redis_peer_runs_when_redis_server_is_installed() {
    if brook::bench::redis::find_redis_server().is_none() {
        eprintln!("redis-server not installed; the skip path is covered by the test above");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let o = bench(
        &[
            "--matrix",
            "acks=1 flush=never/msg1 rf=1 size=100",
            "--peer",
            "redis",
        ],
        data.path(),
    );
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", text(&o.stderr));
    assert!(
        stdout.contains("### Brook vs Redis at equal durability"),
        "{stdout}"
    );
    for redis in ["appendfsync no |", "appendfsync always |"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with("| acks=1 ") && l.contains(redis))
            .unwrap_or_else(|| panic!("{redis} missing:\n{stdout}"));
        let fields: Vec<&str> = row.split('|').map(str::trim).collect();
        let msgs: f64 = fields[6]
            .replace(',', "")
            .parse()
            .unwrap_or_else(|_| panic!("{row}"));
        assert!(msgs > 0.0, "{row}");
    }
}
