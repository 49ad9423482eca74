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

/// The metric names a query mentions: every `kafka_…` / `brook_…` identifier in it.
fn metric_names(query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes: Vec<char> = query.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == '_');
        if starts_word && (query[i..].starts_with("kafka_") || query[i..].starts_with("brook_")) {
            let end = (i..bytes.len())
                .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == '_'))
                .unwrap_or(bytes.len());
            names.push(bytes[i..end].iter().collect());
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// Every metric that `alerts.yml` and the Grafana dashboard query is one Brook exports: scraped
/// from a live 3-broker cluster (with traffic, a flushing topic and a group's commits, so that
/// every family has samples) and from a producer's and a consumer's registries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_rules_and_the_dashboard_query_is_exported() {
    use brook::{Cluster, ProducerRecord, TopicPartition};
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    let cluster = Cluster::builder()
        .brokers(3)
        .metrics(true)
        .start()
        .await
        .unwrap();
    cluster
        .create_topic("watched", 1, 3)
        .config("flush.messages", "1")
        .await
        .unwrap();
    cluster
        .wait_until(|v| v.isr("watched", 0).len() == 3, Duration::from_secs(20))
        .await
        .unwrap();
    let producer = cluster.producer().build().await.unwrap();
    producer
        .send_and_wait(ProducerRecord::new("watched", "v").partition(0))
        .await
        .unwrap();
    let mut consumer = cluster.consumer().from_beginning().build().await.unwrap();
    consumer.assign(vec![TopicPartition::new("watched", 0)]);
    let mut read = 0;
    while read == 0 {
        read = consumer
            .poll(Duration::from_millis(200))
            .await
            .unwrap()
            .len();
    }
    let mut registry = prometheus_client::registry::Registry::default();
    producer.register_metrics(&mut registry);
    consumer.register_metrics(&mut registry);
    let mut client_text = String::new();
    prometheus_client::encoding::text::encode(&mut client_text, &registry).unwrap();

    // A group with a stored commit, so that the coordinator exports its gauges.
    let admin = cluster.admin().unwrap();
    let offsets: BTreeMap<TopicPartition, i64> = [(TopicPartition::new("watched", 0), 1)].into();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        admin
            .alter_consumer_group_offsets("watchers", offsets.clone())
            .await
            .unwrap();
        if !admin
            .group_lag("watchers")
            .await
            .unwrap()
            .partitions
            .is_empty()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the group's window never filled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut exported = BTreeSet::new();
    let mut texts = vec![client_text];
    for id in cluster.broker_ids() {
        let url = cluster.metrics_url(id).unwrap();
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches("/metrics");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).await.unwrap();
        texts.push(body);
    }
    for text in &texts {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                exported.insert(name);
            }
        }
    }
    let rules = std::fs::read_to_string(monitoring_dir().join("alerts.yml")).unwrap();
    let dash = std::fs::read_to_string(monitoring_dir().join("grafana-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&dash).unwrap();
    let mut queries: Vec<String> = rules
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(str::to_string)
        .collect();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            queries.push(t["expr"].as_str().unwrap_or("").to_string());
        }
    }
    queries.push(
        dash["templating"]["list"][1]["query"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    );
    let mut checked = BTreeSet::new();
    for q in &queries {
        for name in metric_names(q) {
            assert!(
                exported.contains(&name),
                "{name} (in `{q}`) is not exported; exported: {exported:?}"
            );
            checked.insert(name);
        }
    }
    assert!(checked.len() > 25, "only {checked:?}");
    consumer.close().await.unwrap();
    producer.close().await;
    cluster.shutdown().await.unwrap();
}
