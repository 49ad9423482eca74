//! `brook verify check PRODUCER.jsonl CONSUMER.jsonl`: exit 0 on a clean pair, non-zero naming
//! the violation on a loss; `--expect-no-loss=false` reports the loss as expected; `--json`.

use std::process::Command;

const BROOK: &str = env!("CARGO_BIN_EXE_brook");

fn ack(partition: i32, offset: i64, value: u64) -> String {
    format!(
        r#"{{"timestamp":1,"name":"producer_send_success","topic":"t","partition":{partition},"offset":{offset},"key":null,"value":"{value}"}}"#
    )
}

fn rec(partition: i32, offset: i64, value: u64) -> String {
    format!(
        r#"{{"timestamp":2,"name":"record_data","topic":"t","partition":{partition},"offset":{offset},"key":null,"value":"{value}"}}"#
    )
}

/// Writes the pair (values 0..6 over two partitions; the consumer skips `skip`) and runs
/// `brook verify check` on it with `extra` flags: (success, stdout, stderr).
fn run(skip: Option<u64>, extra: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let producer: Vec<String> = (0..6)
        .map(|v| ack((v % 2) as i32, (v / 2) as i64, v))
        .collect();
    let consumer: Vec<String> = (0..6)
        .filter(|v| Some(*v) != skip)
        .map(|v| rec((v % 2) as i32, (v / 2) as i64, v))
        .collect();
    let p = dir.path().join("producer.jsonl");
    let c = dir.path().join("consumer.jsonl");
    std::fs::write(&p, producer.join("\n") + "\n\n").unwrap();
    std::fs::write(&c, consumer.join("\n") + "\n").unwrap();
    let out = Command::new(BROOK)
        .args(["verify", "check"])
        .arg(&p)
        .arg(&c)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_check_passes_a_clean_pair_and_fails_on_loss() {
    let (ok, stdout, stderr) = run(None, &[]);
    assert!(ok, "clean pair failed:\n{stdout}\n{stderr}");
    for row in ["sent", "acked", "lost", "duplicated", "aborted reads"] {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }

    let (ok, stdout, stderr) = run(Some(3), &[]);
    assert!(!ok, "a loss passed:\n{stdout}\n{stderr}");
    let violation = stdout
        .lines()
        .find(|l| l.contains("VIOLATION") && l.contains("lost"))
        .unwrap_or_else(|| panic!("no lost violation line:\n{stdout}\n{stderr}"));
    assert!(violation.contains('3'), "{violation}");

    // Loss the configuration allows: reported, exit 0.
    let (ok, stdout, stderr) = run(Some(3), &["--expect-no-loss=false"]);
    assert!(ok, "allowed loss failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("expected"), "{stdout}");

    let (ok, stdout, stderr) = run(Some(3), &["--json"]);
    assert!(!ok);
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(json["lost"]["count"], 1, "{json}");
    assert_eq!(json["acked"], 6);
    assert!(json["violations"][0].as_str().unwrap().starts_with("lost"));
    assert!(stderr.contains("lost"), "{stderr}");
}

/// `--group`: one log per member. Member A commits offset 1 of partition 0, reads offset 1 too
/// and dies (no `shutdown_complete`); member B reads from `b_from`. Re-reading A's uncommitted
/// offset 1 is Kafka's at-least-once window; re-reading the committed offset 0 is not.
fn run_group(b_from: i64) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let producer: Vec<String> = (0..3).map(|v| ack(0, v as i64, v)).collect();
    let start = r#"{"timestamp":1,"name":"startup_complete"}"#.to_string();
    let assigned = r#"{"timestamp":1,"name":"partitions_assigned","partitions":[{"topic":"t","partition":0}]}"#.to_string();
    let commit = r#"{"timestamp":2,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":1}],"success":true}"#.to_string();
    let a = [
        start.clone(),
        assigned.clone(),
        rec(0, 0, 0),
        commit,
        rec(0, 1, 1),
    ];
    let mut b = vec![start, assigned];
    b.extend((b_from..3).map(|o| rec(0, o, o as u64)));
    b.push(r#"{"timestamp":3,"name":"shutdown_complete"}"#.to_string());
    let (p, ca, cb) = (
        dir.path().join("p.jsonl"),
        dir.path().join("a.jsonl"),
        dir.path().join("b.jsonl"),
    );
    std::fs::write(&p, producer.join("\n") + "\n").unwrap();
    std::fs::write(&ca, a.join("\n") + "\n").unwrap();
    std::fs::write(&cb, b.join("\n") + "\n").unwrap();
    let out = Command::new(BROOK)
        .args(["verify", "check", "--group"])
        .arg(&p)
        .arg(&ca)
        .arg(&cb)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn verify_check_group_allows_the_at_least_once_window_and_nothing_else() {
    let (ok, stdout) = run_group(1);
    assert!(
        ok,
        "the dead member's uncommitted record re-read failed:\n{stdout}"
    );
    assert!(stdout.contains("in window"), "{stdout}");
    let (ok, stdout) = run_group(0);
    assert!(!ok, "a committed record re-read passed:\n{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("VIOLATION") && l.contains("consumed twice")),
        "{stdout}"
    );
}
