//! `process.roles=controller`: a node that is only a controller voter runs the metadata quorum
//! and serves controller RPCs, but never registers as a broker, so it hosts no partitions.

use std::time::{Duration, Instant};

use brook_broker::{BrokerConfig, BrokerHandle};
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(id: i32, roles: &str, port: u16, voters: &str, dir: &tempfile::TempDir) -> BrokerConfig {
    BrokerConfig::from_pairs([
        ("node.id", id.to_string()),
        ("process.roles", roles.to_string()),
        ("listeners", format!("127.0.0.1:{port}")),
        ("controller.quorum.voters", voters.to_string()),
        ("log.dirs", dir.path().display().to_string()),
        ("broker.session.timeout.ms", "1000".to_string()),
        ("broker.heartbeat.interval.ms", "50".to_string()),
        ("controller.quorum.election.timeout.ms", "300".to_string()),
    ])
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_only_voter_is_not_a_broker() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = free_port();
    let voters = format!("1@127.0.0.1:{port}");
    let controller = BrokerHandle::start(config(1, "controller", port, &voters, &d1))
        .await
        .unwrap();
    let broker = BrokerHandle::start(config(2, "broker", 0, &voters, &d2))
        .await
        .unwrap();
    let channel = Channels::default().get(&broker.addr().to_string()).unwrap();
    let mut admin = AdminClient::new(channel);
    let deadline = Instant::now() + Duration::from_secs(10);
    let brokers = loop {
        let c = admin
            .describe_cluster(DescribeClusterRequest {})
            .await
            .unwrap()
            .into_inner();
        if c.brokers.iter().any(|b| b.node_id == 2 && !b.fenced) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "broker 2 never registered: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(brokers.controller_id, 1, "{brokers:?}");
    assert!(
        brokers.brokers.iter().all(|b| b.node_id != 1),
        "the controller-only node registered as a broker: {brokers:?}"
    );
    // A topic lands on the one broker, never on the controller.
    let r = admin
        .create_topics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 2,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5000,
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.topics[0].error_code, 0, "{r:?}");
    let q = admin
        .describe_quorum(DescribeQuorumRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(q.leader_id, 1);
    assert_eq!(
        q.observers.iter().map(|o| o.node_id).collect::<Vec<_>>(),
        [2]
    );
    drop(broker);
    drop(controller);
}
