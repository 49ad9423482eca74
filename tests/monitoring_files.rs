//! The monitoring files in `docs/monitoring/`: the Prometheus alerting rules pass
//! `promtool check rules` and their own unit tests (`promtool test rules alerts_test.yml`: each
//! alert fires on the scripted series it is meant for, and not on the others), and the Grafana
//! dashboard is well-formed JSON whose panels do not overlap, and the sample `prometheus.yml`
//! passes `promtool check config`.
//!
//! promtool comes from Debian's `prometheus` package (`.ci/install-test-tools` installs it in
//! CI); without it the promtool checks print that they skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/monitoring")
}

/// `promtool` when it is installed; otherwise says the check is skipped and why.
fn promtool(check: &str) -> Option<Command> {
    match Command::new("promtool").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let mut cmd = Command::new("promtool");
            cmd.current_dir(monitoring_dir());
            Some(cmd)
        }
        _ => {
            eprintln!(
                "SKIPPED {check}: promtool is not installed (Debian: apt-get install prometheus; \
                 .ci/install-test-tools does it in CI)"
            );
            None
        }
    }
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_check() {
    let Some(mut cmd) = promtool("promtool check rules") else {
        return;
    };
    cmd.args(["check", "rules", "alerts.yml"]);
    let text = run(cmd);
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn alert_rules_fire_on_their_scripted_series() {
    let Some(mut cmd) = promtool("promtool test rules") else {
        return;
    };
    cmd.args(["test", "rules", "alerts_test.yml"]);
    let text = run(cmd);
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn sample_prometheus_config_is_valid() {
    let Some(mut cmd) = promtool("promtool check config") else {
        return;
    };
    cmd.args(["check", "config", "prometheus.yml"]);
    let text = run(cmd);
    assert!(
        text.contains("is valid prometheus config file syntax"),
        "{text}"
    );
}

/// Every alert the issue asks for is in the rule file and has a unit test case.
#[test]
fn every_required_alert_exists_and_is_unit_tested() {
    let rules = std::fs::read_to_string(monitoring_dir().join("alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(monitoring_dir().join("alerts_test.yml")).unwrap();
    for alert in [
        "UnderReplicatedPartitions",
        "UnderMinIsrPartitions",
        "OfflinePartitions",
        "NoActiveController",
        "UncleanLeaderElection",
        "ConsumerGroupLagError",
        "ConsumerGroupPartitionStopped",
    ] {
        assert!(
            rules.contains(&format!("alert: {alert}")),
            "{alert} missing from alerts.yml"
        );
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "{alert} has no case in alerts_test.yml"
        );
    }
}

/// The dashboard is JSON Grafana can import: unique panel ids, every panel inside the 24-column
/// grid, no two panels on the same cells, every query panel with a non-empty expression.
#[test]
fn grafana_dashboard_is_well_formed() {
    let text = std::fs::read_to_string(monitoring_dir().join("grafana-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() > 10);
    let mut ids = std::collections::BTreeSet::new();
    let mut cells = std::collections::BTreeSet::new();
    for p in panels {
        let id = p["id"].as_i64().expect("panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        );
        assert!(
            x >= 0 && w > 0 && x + w <= 24,
            "panel {id} outside the grid"
        );
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "panel {id} overlaps another at {cx},{cy}"
                );
            }
        }
        if p["type"] != "row" {
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "panel {id} has no query");
            for t in targets {
                assert!(
                    !t["expr"].as_str().unwrap_or("").is_empty(),
                    "panel {id}: empty expr"
                );
            }
        }
    }
}
