//! The `brook` binary end to end: `serve` is ready when it prints its address; `topics`,
//! `produce` and `consume` move records through it; errors exit non-zero naming the Kafka error.

#[path = "common/serve.rs"]
mod serve;
use serve::serve;

fn brook(args: &[&str], stdin: &str) -> (bool, String, String) {
    serve::run_brook(args, stdin)
}

#[test]
fn create_produce_consume_describe() {
    let s = serve();
    let b = s.addr.as_str();
    let (ok, out, err) = brook(
        &[
            "topics",
            "create",
            "--bootstrap-server",
            b,
            "--topic",
            "orders",
            "--partitions",
            "2",
            "--replication-factor",
            "1",
            "--config",
            "flush.messages=1",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("Created topic orders"));
    let lines: Vec<String> = (0..5000).map(|i| format!("k{}:v{i}", i % 7)).collect();
    let (ok, _, err) = brook(
        &[
            "produce",
            "--bootstrap-server",
            b,
            "--topic",
            "orders",
            "--key-separator",
            ":",
        ],
        &(lines.join("\n") + "\n"),
    );
    assert!(ok, "{err}");
    let (ok, out, err) = brook(
        &[
            "consume",
            "--bootstrap-server",
            b,
            "--topic",
            "orders",
            "--from-beginning",
            "--max-messages",
            "5000",
            "--timeout-ms",
            "10000",
            "--stats",
        ],
        "",
    );
    assert!(ok, "{err}");
    // --stats: a final line on stderr with every record's end-to-end latency measured.
    let stats = err
        .lines()
        .find(|l| l.starts_with("Final stats: 5000 records in "))
        .unwrap_or_else(|| panic!("no final stats in {err}"));
    assert!(stats.contains("end-to-end latency ms p50 "), "{stats}");
    assert!(
        stats.contains("(5000 records); records-lag-max "),
        "{stats}"
    );
    let mut got: Vec<&str> = out.lines().collect();
    got.sort();
    let mut want: Vec<String> = lines
        .iter()
        .map(|l| l.split_once(':').unwrap().1.to_string())
        .collect();
    want.sort();
    assert_eq!(got, want, "every value exactly once");
    // Same key, same partition: per key, values come back in send order.
    let (ok, out, _) = brook(
        &[
            "topics",
            "describe",
            "--bootstrap-server",
            b,
            "--topic",
            "orders",
            "--json",
        ],
        "",
    );
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["topic"], "orders");
    let parts = v["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    let hw: i64 = parts
        .iter()
        .map(|p| p["high_watermark"].as_i64().unwrap())
        .sum();
    assert_eq!(hw, 5000);
    for p in parts {
        assert_eq!(p["leader"], 1);
        assert_eq!(p["isr"], serde_json::json!([1]));
        assert_eq!(p["replica_states"][0]["lag"], 0);
    }
    let (ok, out, _) = brook(&["topics", "list", "--bootstrap-server", b], "");
    assert!(ok && out.lines().any(|l| l == "orders"));
    let (ok, _, _) = brook(
        &[
            "topics",
            "delete",
            "--bootstrap-server",
            b,
            "--topic",
            "orders",
        ],
        "",
    );
    assert!(ok);
}

#[test]
fn errors_name_the_kafka_error_and_exit_non_zero() {
    let s = serve();
    let b = s.addr.as_str();
    let (ok, _, err) = brook(
        &[
            "produce",
            "--bootstrap-server",
            b,
            "--topic",
            "missing",
            "--producer-property",
            "max.block.ms=500",
        ],
        "a\n",
    );
    assert!(!ok);
    assert!(err.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{err}");
    let (ok, _, err) = brook(
        &[
            "topics",
            "create",
            "--bootstrap-server",
            b,
            "--topic",
            "t",
            "--config",
            "flush.messages=zero",
        ],
        "",
    );
    assert!(!ok);
    assert!(
        err.contains("INVALID_CONFIG") && err.contains("flush.messages"),
        "{err}"
    );
    let (ok, _, err) = brook(
        &[
            "topics",
            "create",
            "--bootstrap-server",
            b,
            "--topic",
            "t",
            "--replication-factor",
            "3",
        ],
        "",
    );
    assert!(!ok);
    assert!(err.contains("INVALID_REPLICATION_FACTOR"), "{err}");
    let (ok, _, err) = brook(&["serve", "--set", "log.dir=x"], "");
    assert!(!ok);
    assert!(
        err.contains("INVALID_CONFIG") && err.contains("log.dir"),
        "{err}"
    );
}
