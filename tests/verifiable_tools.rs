//! `brook verifiable-producer` and `brook verifiable-consumer` end to end against `brook serve`:
//! 100 values acknowledged, the same 100 read back, as Kafka-shaped JSON lines on stdout.

use std::process::{Command, Stdio};

#[path = "common/serve.rs"]
mod serve;
use serve::{BROOK, serve};

fn brook(args: &[&str]) -> String {
    let out = Command::new(BROOK)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "brook {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The event names of JSON lines, checking that every line is one.
fn names(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"));
            v["name"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn verifiable_producer_then_consumer() {
    let s = serve();
    let b = s.addr.as_str();
    brook(&[
        "topics",
        "create",
        "--bootstrap-server",
        b,
        "--topic",
        "v",
        "--partitions",
        "2",
        "--replication-factor",
        "1",
    ]);
    let out = brook(&[
        "verifiable-producer",
        "--bootstrap-server",
        b,
        "--topic",
        "v",
        "--max-messages",
        "100",
        "--acks",
        "all",
    ]);
    let n = names(&out);
    assert_eq!(n.first().map(String::as_str), Some("startup_complete"));
    assert_eq!(
        n.iter().filter(|x| *x == "producer_send_success").count(),
        100,
        "{out}"
    );
    assert_eq!(
        &n[n.len() - 2..],
        ["tool_data".to_string(), "shutdown_complete".to_string()]
    );

    let out = brook(&[
        "verifiable-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        "v",
        "--group-id",
        "smoke",
        "--max-messages",
        "100",
        "--verbose",
        "--session-timeout",
        "10000",
    ]);
    let n = names(&out);
    assert_eq!(
        n.iter().filter(|x| *x == "record_data").count(),
        100,
        "{out}"
    );
    assert!(n.iter().any(|x| x == "offsets_committed"), "{out}");
    let mut values: Vec<u64> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["name"] == "record_data")
        .map(|v| v["value"].as_str().unwrap().parse().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values, (0..100).collect::<Vec<_>>());
    assert_eq!(n.last().map(String::as_str), Some("shutdown_complete"));
}
