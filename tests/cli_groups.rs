//! `brook groups` end to end: the built binary against an embedded cluster. A group member is
//! made with raw JoinGroup / SyncGroup calls (Kafka's classic protocol, the consumer protocol's
//! bytes from `brook::client::consumer::protocol`), so these tests depend on the coordinator
//! only, not on the client's subscribe. Each test names what it checks: list, describe and its
//! --members / --state / --json views, reset-offsets dry run vs --execute and its refusal while
//! the group has a member, delete.

use std::collections::BTreeMap;
use std::time::Duration;

use brook::Cluster;
use brook::client::consumer::protocol::{Assignment, CONSUMER_PROTOCOL_TYPE, Subscription};
use brook::client::{ErrorCode, ProducerRecord, TopicPartition};
use brook::proto::net::Channels;
use brook::proto::v1::brook_client::BrookClient;
use brook::proto::v1::*;
use tonic::transport::Channel;

#[path = "common/serve.rs"]
mod serve;

/// `brook ARGS` on a blocking thread (the cluster runs on this test's runtime):
/// (exit status 0, stdout, stderr).
async fn brook(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serve::run_brook(&args, "")
    })
    .await
    .unwrap()
}

/// `brook groups SUBCOMMAND --bootstrap-server B ARGS`.
async fn groups(cluster: &Cluster, sub: &str, args: &[&str]) -> (bool, String, String) {
    let mut all = vec![
        "groups".to_string(),
        sub.to_string(),
        "--bootstrap-server".to_string(),
        cluster.bootstrap_servers(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    brook(all).await
}

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

/// 2026-01-01T00:00:00Z in ms: record `i` of a partition gets this plus `i` minutes.
const T0: i64 = 1_767_225_600_000;

/// A cluster of one broker with topic `orders` of 3 partitions holding 10, 4 and 0 records;
/// partition 0's record `i` is stamped `T0 + i` minutes.
async fn cluster_with_orders() -> Cluster {
    let cluster = Cluster::builder().brokers(1).start().await.unwrap();
    cluster.create_topic("orders", 3, 1).await.unwrap();
    let producer = cluster.producer().build().await.unwrap();
    for (p, n) in [(0, 10), (1, 4)] {
        for i in 0..n {
            let r = ProducerRecord::new("orders", format!("{p}-{i}"))
                .partition(p)
                .timestamp(T0 + i * 60_000);
            producer.send_and_wait(r).await.unwrap();
        }
    }
    producer.close().await;
    cluster
}

/// A group member speaking the classic protocol by hand: it joins, leads, assigns itself
/// `assignment` and heartbeats in the background until dropped.
struct Member {
    client: BrookClient<Channel>,
    group: String,
    member_id: String,
    generation: i32,
    heartbeats: tokio::task::JoinHandle<()>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.heartbeats.abort();
    }
}

async fn coordinator(cluster: &Cluster, group: &str) -> BrookClient<Channel> {
    let addr = cluster.bootstrap_servers();
    let addr = addr.split(',').next().unwrap().to_string();
    let mut any = BrookClient::new(Channels::default().get(&addr).unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = any
            .find_coordinator(FindCoordinatorRequest { key: group.into() })
            .await
            .unwrap()
            .into_inner();
        if r.error_code == 0 {
            let at = format!("{}:{}", r.host, r.port);
            return BrookClient::new(Channels::default().get(&at).unwrap());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no coordinator: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Member {
    async fn join(
        cluster: &Cluster,
        group: &str,
        topics: &[&str],
        assignment: Vec<TopicPartition>,
    ) -> Member {
        Member::join_with(
            cluster,
            group,
            topics,
            Assignment {
                partitions: assignment,
                user_data: None,
            }
            .encode(),
        )
        .await
    }

    /// Joins and hands itself `assignment_bytes` as the leader (any bytes: a test of what
    /// describe does with bytes that are not the consumer protocol's).
    async fn join_with(
        cluster: &Cluster,
        group: &str,
        topics: &[&str],
        assignment_bytes: bytes::Bytes,
    ) -> Member {
        let mut client = coordinator(cluster, group).await;
        let metadata = Subscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..Subscription::default()
        }
        .encode();
        let mut req = JoinGroupRequest {
            group_id: group.into(),
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: 5_000,
            member_id: String::new(),
            group_instance_id: String::new(),
            protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
            protocols: vec![JoinGroupProtocol {
                name: "range".into(),
                metadata,
            }],
            reason: String::new(),
            client_id: "cli-test".into(),
        };
        let first = client.join_group(req.clone()).await.unwrap().into_inner();
        assert_eq!(
            first.error_code,
            ErrorCode::MemberIdRequired as i32,
            "{first:?}"
        );
        req.member_id = first.member_id;
        let joined = client.join_group(req).await.unwrap().into_inner();
        assert_eq!(joined.error_code, 0, "{joined:?}");
        assert_eq!(joined.leader, joined.member_id, "the only member leads");
        let sync = client
            .sync_group(SyncGroupRequest {
                group_id: group.into(),
                generation_id: joined.generation_id,
                member_id: joined.member_id.clone(),
                group_instance_id: String::new(),
                protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
                protocol_name: "range".into(),
                assignments: vec![SyncGroupAssignment {
                    member_id: joined.member_id.clone(),
                    assignment: assignment_bytes,
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sync.error_code, 0, "{sync:?}");
        let mut hb = client.clone();
        let (g, m, generation) = (
            group.to_string(),
            joined.member_id.clone(),
            joined.generation_id,
        );
        let heartbeats = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = hb
                    .heartbeat(HeartbeatRequest {
                        group_id: g.clone(),
                        generation_id: generation,
                        member_id: m.clone(),
                        group_instance_id: String::new(),
                    })
                    .await;
            }
        });
        Member {
            client,
            group: group.into(),
            member_id: joined.member_id,
            generation: joined.generation_id,
            heartbeats,
        }
    }

    /// Commits `offset` for `tp` as this member (its generation and member id).
    async fn commit(&mut self, tp: &TopicPartition, offset: i64) {
        let resp = self
            .client
            .offset_commit(OffsetCommitRequest {
                group_id: self.group.clone(),
                generation_id: self.generation,
                member_id: self.member_id.clone(),
                group_instance_id: String::new(),
                topics: vec![OffsetCommitTopic {
                    name: tp.topic.clone(),
                    partitions: vec![OffsetCommitPartition {
                        partition: tp.partition,
                        committed_offset: offset,
                        committed_leader_epoch: -1,
                        metadata: String::new(),
                    }],
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.error_code, 0, "{resp:?}");
        assert_eq!(resp.topics[0].partitions[0].error_code, 0, "{resp:?}");
    }

    /// Leaves the group (LeaveGroup); the group is Empty afterwards.
    async fn leave(mut self) {
        let resp = self
            .client
            .leave_group(LeaveGroupRequest {
                group_id: self.group.clone(),
                members: vec![MemberIdentity {
                    member_id: self.member_id.clone(),
                    group_instance_id: String::new(),
                    reason: "test done".into(),
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.error_code, 0, "{resp:?}");
    }
}

/// The whitespace-separated cells of each line after the header.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

fn cells(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_describe_a_group_with_a_member_in_every_view() {
    let cluster = cluster_with_orders().await;
    let mut member = Member::join(
        &cluster,
        "billing",
        &["orders"],
        vec![tp("orders", 0), tp("orders", 1)],
    )
    .await;
    member.commit(&tp("orders", 0), 3).await;
    let id = member.member_id.clone();

    let (ok, out, err) = groups(&cluster, "list", &[]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "billing\n");
    let (ok, out, _) = groups(&cluster, "list", &["--state"]).await;
    assert!(ok);
    assert_eq!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["GROUP", "STATE"]
    );
    assert_eq!(rows(&out), vec![cells(&["billing", "Stable"])]);
    let (ok, out, _) = groups(&cluster, "list", &["--state", "Empty"]).await;
    assert!(ok);
    assert!(
        rows(&out).is_empty(),
        "the filter keeps only Empty groups: {out}"
    );

    // Offsets: orders-0 committed at 3 of 10; orders-1 assigned, nothing committed; orders-2
    // neither (not shown).
    let (ok, out, err) = groups(&cluster, "describe", &["--group", "billing"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
            "STATUS"
        ]
    );
    let r = rows(&out);
    assert_eq!(r.len(), 2, "{out}");
    assert_eq!(
        r[0][..6],
        cells(&["billing", "orders", "0", "3", "10", "7"])
    );
    assert_eq!(r[0][6], id);
    assert_eq!(r[0][8], "cli-test");
    assert_eq!(r[1][..6], cells(&["billing", "orders", "1", "-", "4", "-"]));
    assert_eq!(r[1][6], id);
    // STATUS: orders-0's commit is in the coordinator's lag window (its status depends on
    // time; the rules are tested on their own); orders-1 has none.
    let burrow = ["OK", "WARN", "STOP", "STALL", "REWIND"];
    assert!(burrow.contains(&r[0][9].as_str()), "{out}");
    assert_eq!(r[1][9], "-", "{out}");

    let (ok, out, _) = groups(&cluster, "describe", &["--group", "billing", "--json"]).await;
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["state"], "Stable");
    assert_eq!(v["partitions"][0]["current_offset"], 3);
    assert_eq!(v["partitions"][0]["log_end_offset"], 10);
    assert_eq!(v["partitions"][0]["lag"], 7);
    assert_eq!(v["partitions"][0]["consumer_id"], id.as_str());
    assert_eq!(
        v["partitions"][1]["current_offset"],
        serde_json::Value::Null
    );
    assert_eq!(v["partitions"][1]["lag"], serde_json::Value::Null);

    let (ok, out, _) = groups(&cluster, "describe", &["--group", "billing", "--members"]).await;
    assert!(ok);
    assert_eq!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]
    );
    let r = rows(&out);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0][1].as_str(), r[0][3].as_str(), r[0][4].as_str()),
        (id.as_str(), "cli-test", "2")
    );
    let (ok, out, _) = groups(
        &cluster,
        "describe",
        &["--group", "billing", "--members", "--verbose"],
    )
    .await;
    assert!(ok);
    assert!(out.lines().next().unwrap().ends_with("ASSIGNMENT"), "{out}");
    assert!(
        out.lines().nth(1).unwrap().ends_with("orders(0,1)"),
        "{out}"
    );
    let (ok, out, _) = groups(
        &cluster,
        "describe",
        &["--group", "billing", "--members", "--json"],
    )
    .await;
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["members"][0]["client_id"], "cli-test");
    assert_eq!(
        v["members"][0]["assignment"],
        serde_json::json!([{"topic": "orders", "partition": 0}, {"topic": "orders", "partition": 1}])
    );

    let (ok, out, _) = groups(&cluster, "describe", &["--group", "billing", "--state"]).await;
    assert!(ok);
    let addr = cluster.addr(1).unwrap();
    let coordinator = format!("{}:{}  (1)", addr.ip(), addr.port());
    let line = out.lines().nth(1).unwrap();
    assert!(line.starts_with("billing"), "{out}");
    assert!(line.contains(&coordinator), "{out}");
    let after: Vec<&str> = line[line.find("(1)").unwrap() + 3..]
        .split_whitespace()
        .collect();
    assert_eq!(after, ["range", "Stable", "1"], "{out}");
    let (ok, out, _) = groups(
        &cluster,
        "describe",
        &["--group", "billing", "--state", "--json"],
    )
    .await;
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["coordinator"]["id"], 1);
    assert_eq!(v["coordinator"]["port"], addr.port());
    assert_eq!(v["assignment_strategy"], "range");
    assert_eq!(v["members"], 1);
    assert_eq!(v["leader"], id.as_str());
    drop(member);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_offsets_and_delete_are_refused_while_the_group_has_a_member() {
    let cluster = cluster_with_orders().await;
    let mut member = Member::join(&cluster, "busy", &["orders"], vec![tp("orders", 0)]).await;
    member.commit(&tp("orders", 0), 2).await;
    for execute in [false, true] {
        let mut args = vec!["--group", "busy", "--topic", "orders", "--to-earliest"];
        if execute {
            args.push("--execute");
        }
        let (ok, out, err) = groups(&cluster, "reset-offsets", &args).await;
        assert!(!ok, "{out}");
        assert!(
            err.contains(
                "Error: Assignments can only be reset if the group 'busy' is inactive, but the current state is Stable."
            ),
            "{err}"
        );
    }
    let admin = cluster.admin().unwrap();
    let committed = admin.list_consumer_group_offsets("busy").await.unwrap();
    assert_eq!(
        committed,
        BTreeMap::from([(tp("orders", 0), 2)]),
        "nothing moved"
    );

    let (ok, _, err) = groups(&cluster, "delete", &["--group", "busy"]).await;
    assert!(!ok);
    assert!(
        err.starts_with("Error: Deletion of some consumer groups failed:\n"),
        "{err}"
    );
    assert!(
        err.contains("* Group 'busy' could not be deleted due to: NON_EMPTY_GROUP"),
        "{err}"
    );

    // Once the member has left the group is Empty: the same delete succeeds.
    member.leave().await;
    let (ok, out, err) = groups(&cluster, "delete", &["--group", "busy"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "Deletion of requested consumer groups ('busy') was successful.\n"
    );
    let (ok, out, _) = groups(&cluster, "list", &[]).await;
    assert!(ok);
    assert!(!out.lines().any(|l| l == "busy"), "{out}");
    assert!(
        admin
            .list_consumer_group_offsets("busy")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_offsets_prints_the_plan_and_commits_only_with_execute() {
    let cluster = cluster_with_orders().await;
    let admin = cluster.admin().unwrap();
    admin
        .alter_consumer_group_offsets(
            "audit",
            BTreeMap::from([(tp("orders", 0), 6), (tp("orders", 1), 1)]),
        )
        .await
        .unwrap();
    let committed = || async { admin.list_consumer_group_offsets("audit").await.unwrap() };

    // Describe of an Empty group: Kafka's note on stderr, rows without a consumer.
    let (ok, out, err) = groups(&cluster, "describe", &["--group", "audit"]).await;
    assert!(ok, "{err}");
    assert!(
        err.contains("Consumer group 'audit' has no active members."),
        "{err}"
    );
    // (The last cell, STATUS, moves with time: not compared.)
    let kafka_columns: Vec<Vec<String>> = rows(&out).into_iter().map(|r| r[..9].to_vec()).collect();
    assert_eq!(
        kafka_columns,
        vec![
            cells(&["audit", "orders", "0", "6", "10", "4", "-", "-", "-"]),
            cells(&["audit", "orders", "1", "1", "4", "3", "-", "-", "-"]),
        ]
    );

    // Dry run (the default, and --dry-run): the plan, nothing committed.
    for dry in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["--group", "audit", "--topic", "orders", "--to-earliest"];
        args.extend_from_slice(dry);
        let (ok, out, err) = groups(&cluster, "reset-offsets", &args).await;
        assert!(ok, "{err}");
        assert_eq!(
            out.lines()
                .next()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
        );
        assert_eq!(
            rows(&out),
            vec![
                cells(&["audit", "orders", "0", "0"]),
                cells(&["audit", "orders", "1", "0"]),
                cells(&["audit", "orders", "2", "0"]),
            ]
        );
        assert!(err.contains("(dry run)"), "{err}");
        assert_eq!(
            committed().await[&tp("orders", 0)],
            6,
            "a dry run commits nothing"
        );
    }

    // --execute commits the plan.
    let (ok, out, err) = groups(
        &cluster,
        "reset-offsets",
        &[
            "--group",
            "audit",
            "--topic",
            "orders:0",
            "--to-latest",
            "--execute",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(rows(&out), vec![cells(&["audit", "orders", "0", "10"])]);
    assert!(!err.contains("(dry run)"), "{err}");
    assert_eq!(
        committed().await,
        BTreeMap::from([(tp("orders", 0), 10), (tp("orders", 1), 1)])
    );

    // --to-offset is clamped to the log end, with Kafka's warning.
    let (ok, out, err) = groups(
        &cluster,
        "reset-offsets",
        &[
            "--group",
            "audit",
            "--topic",
            "orders:1",
            "--to-offset",
            "99",
            "--execute",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(rows(&out), vec![cells(&["audit", "orders", "1", "4"])]);
    assert!(
        err.contains("New offset (99) is higher than latest offset for topic partition orders-1. Value will be set to 4."),
        "{err}"
    );
    assert_eq!(committed().await[&tp("orders", 1)], 4);

    // --shift-by moves the committed offsets of --all-topics (the committed partitions).
    let (ok, out, err) = groups(
        &cluster,
        "reset-offsets",
        &[
            "--group",
            "audit",
            "--all-topics",
            "--shift-by",
            "-3",
            "--execute",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["executed"], true);
    assert_eq!(
        v["partitions"],
        serde_json::json!([
            {"topic": "orders", "partition": 0, "new_offset": 7},
            {"topic": "orders", "partition": 1, "new_offset": 1},
        ])
    );

    // --to-datetime: record i of partition 0 is stamped T0 + i minutes; record 5 is the first
    // at or after T0 + 4.5 min. Partition 1's records are all earlier than T0 + 4.5 min: Kafka
    // falls back to the log end.
    let (ok, out, err) = groups(
        &cluster,
        "reset-offsets",
        &[
            "--group",
            "audit",
            "--topic",
            "orders:0,1",
            "--to-datetime",
            "2026-01-01T01:04:30.000+01:00",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        rows(&out),
        vec![
            cells(&["audit", "orders", "0", "5"]),
            cells(&["audit", "orders", "1", "4"])
        ]
    );
    assert!(
        err.contains(
            "Partition 1 from topic orders is empty. Falling back to latest known offset."
        ),
        "{err}"
    );
    let (ok, out, _) = groups(
        &cluster,
        "reset-offsets",
        &[
            "--group",
            "audit",
            "--topic",
            "orders:0",
            "--to-datetime",
            "2000-01-01T00:00:00.000",
        ],
    )
    .await;
    assert!(ok);
    assert_eq!(rows(&out), vec![cells(&["audit", "orders", "0", "0"])]);

    // A partition that does not exist is refused before anything is planned.
    let (ok, _, err) = groups(
        &cluster,
        "reset-offsets",
        &[
            "--group",
            "audit",
            "--topic",
            "orders:7",
            "--to-earliest",
            "--execute",
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("UNKNOWN_TOPIC_OR_PARTITION") && err.contains("orders-7"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_groups_do_not_exist_in_kafkas_words() {
    let cluster = cluster_with_orders().await;
    for view in [
        &[][..],
        &["--members"][..],
        &["--state"][..],
        &["--json"][..],
    ] {
        let mut args = vec!["--group", "nope"];
        args.extend_from_slice(view);
        let (ok, out, err) = groups(&cluster, "describe", &args).await;
        assert!(!ok, "{out}");
        assert_eq!(err, "Error: Consumer group 'nope' does not exist.\n");
        assert!(out.is_empty(), "{out}");
    }
    let admin = cluster.admin().unwrap();
    admin
        .alter_consumer_group_offsets("old", BTreeMap::from([(tp("orders", 0), 1)]))
        .await
        .unwrap();
    let (ok, out, err) = groups(&cluster, "delete", &["--group", "old", "--group", "nope"]).await;
    assert!(!ok);
    assert!(
        err.contains("* Group 'nope' could not be deleted due to: GROUP_ID_NOT_FOUND"),
        "{err}"
    );
    assert_eq!(
        out,
        "These consumer groups were deleted successfully: 'old'\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_assignment_is_not_the_consumer_protocol_shows_no_partitions() {
    let cluster = cluster_with_orders().await;
    let member = Member::join_with(
        &cluster,
        "odd",
        &["orders"],
        bytes::Bytes::from_static(&[0xff]),
    )
    .await;
    let (ok, out, err) = groups(&cluster, "describe", &["--group", "odd", "--members"]).await;
    assert!(ok, "{err}");
    let r = rows(&out);
    assert_eq!(r.len(), 1, "{out}");
    assert_eq!(r[0][1], member.member_id);
    assert_eq!(r[0][4], "0");
    let admin = cluster.admin().unwrap();
    let d = admin
        .describe_consumer_groups(&["odd".to_string()])
        .await
        .unwrap();
    assert_eq!(d[0].state, "Stable");
    assert!(d[0].members[0].assignment.is_empty());
}
