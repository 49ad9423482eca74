//! Three brokers in one process: replication, acks=all, ISR, failover. (The embedded `Cluster`
//! in the root package builds on the same pieces; these tests use bare `BrokerHandle`s.)

mod common;

use std::time::{Duration, Instant};

use brook_broker::{BrokerConfig, BrokerHandle};
use brook_proto::ErrorCode;
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::brook_client::BrookClient;
use brook_proto::v1::*;
use common::{batch, code};

struct Trio {
    dirs: Vec<tempfile::TempDir>,
    handles: Vec<Option<BrokerHandle>>,
    addrs: Vec<String>,
}

fn config(id: i32, dir: &tempfile::TempDir, controller: &str, port: u16) -> BrokerConfig {
    let roles = if id == 1 {
        "broker,controller"
    } else {
        "broker"
    };
    let mut pairs = vec![
        ("node.id", id.to_string()),
        ("process.roles", roles.to_string()),
        ("listeners", format!("127.0.0.1:{port}")),
        ("log.dirs", dir.path().display().to_string()),
        ("broker.session.timeout.ms", "600".to_string()),
        ("broker.heartbeat.interval.ms", "50".to_string()),
        ("replica.lag.time.max.ms", "400".to_string()),
        ("replica.fetch.wait.max.ms", "100".to_string()),
    ];
    // Broker 1 is the only voter: with the key absent it votes alone, at its own listener.
    if !controller.is_empty() {
        pairs.push(("controller.quorum.voters", format!("1@{controller}")));
    }
    BrokerConfig::from_pairs(pairs).unwrap()
}

impl Trio {
    async fn start() -> Trio {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let first = BrokerHandle::start(config(1, &dirs[0], "", 0))
            .await
            .unwrap();
        let controller = first.addr().to_string();
        let mut handles = vec![Some(first)];
        let mut addrs = vec![controller.clone()];
        for id in 2..=3 {
            let h = BrokerHandle::start(config(id, &dirs[id as usize - 1], &controller, 0))
                .await
                .unwrap();
            addrs.push(h.addr().to_string());
            handles.push(Some(h));
        }
        let t = Trio {
            dirs,
            handles,
            addrs,
        };
        t.wait("all three brokers unfenced", |t| async move {
            let c = t
                .admin(0)
                .describe_cluster(DescribeClusterRequest {})
                .await
                .ok()?
                .into_inner();
            (c.brokers.iter().filter(|b| !b.fenced).count() == 3).then_some(())
        })
        .await;
        t
    }

    fn admin(&self, i: usize) -> AdminClient<tonic::transport::Channel> {
        AdminClient::new(Channels::default().get(&self.addrs[i]).unwrap())
    }

    fn client(&self, i: usize) -> BrookClient<tonic::transport::Channel> {
        BrookClient::new(Channels::default().get(&self.addrs[i]).unwrap())
    }

    async fn wait<'a, F, Fut, T>(&'a self, what: &str, f: F) -> T
    where
        F: Fn(&'a Trio) -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = f(self).await {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn describe(&self, via: usize, topic: &str) -> Option<PartitionDescription> {
        let r = self
            .admin(via)
            .describe_topics(DescribeTopicsRequest {
                topics: vec![topic.into()],
                local_only: false,
            })
            .await
            .ok()?
            .into_inner();
        r.topics.first()?.partitions.first().cloned()
    }

    async fn produce(
        &self,
        via: usize,
        topic: &str,
        acks: i32,
        value: &[u8],
    ) -> PartitionProduceResponse {
        let req = ProduceRequest {
            acks,
            timeout_ms: 2000,
            topics: vec![TopicProduceData {
                name: topic.into(),
                partitions: vec![PartitionProduceData {
                    partition: 0,
                    records: batch(&[value]),
                }],
            }],
        };
        self.client(via)
            .produce(req)
            .await
            .unwrap()
            .into_inner()
            .topics[0]
            .partitions[0]
            .clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_replicates_to_the_isr_and_survives_leader_failover() {
    let mut t = Trio::start().await;
    let r = t
        .admin(1)
        .create_topics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 1,
                replication_factor: 3,
                configs: [("min.insync.replicas".to_string(), "2".to_string())].into(),
                assignments: vec![],
            }],
            timeout_ms: 5000,
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0]);
    // Metadata reaches the brokers one at a time: wait until the leader itself knows it leads
    // and has the replica open, not only broker 1.
    let p = t
        .wait("a leader that serves the partition", |t| async move {
            let p = t.describe(0, "t").await.filter(|p| p.leader > 0)?;
            t.describe(p.leader as usize - 1, "t")
                .await
                .filter(|at| at.leader == p.leader && at.log_end_offset >= 0)
        })
        .await;
    let leader = p.leader as usize - 1;
    assert_eq!(p.isr.len(), 3);

    // acks=all: acknowledged once every ISR member has it.
    for i in 0..5 {
        let r = t.produce(leader, "t", -1, format!("v{i}").as_bytes()).await;
        assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
        assert_eq!(r.base_offset, i);
        assert!(r.durability >= Durability::IsrReplicated as i32);
    }
    let p = t.describe(0, "t").await.unwrap();
    assert_eq!(p.high_watermark, 5);
    // Every replica caught up (the leader's view of their LEOs).
    t.wait("followers at LEO 5", |t| async move {
        let p = t.describe(0, "t").await?;
        (p.replica_states.len() == 3 && p.replica_states.iter().all(|r| r.log_end_offset == 5))
            .then_some(())
    })
    .await;

    // Kill the leader. With one controller voter, broker 1 hosts the controller, and killing it
    // would stop elections; assignment is deterministic, and this topic's leader is not broker 1.
    let victim = leader;
    assert_ne!(
        victim, 0,
        "assignment changed: pick a topic name whose leader is not broker 1"
    );
    t.handles[victim].take().unwrap().kill();
    let started = Instant::now();
    let p = t
        .wait("a new leader", |t| async move {
            t.describe(0, "t")
                .await
                .filter(|p| p.leader > 0 && p.leader as usize - 1 != victim)
        })
        .await;
    let new_leader = p.leader as usize - 1;
    // The new leader accepts writes and still has every acknowledged record.
    let r = t
        .wait("the new leader to accept writes", |t| async move {
            let r = t.produce(new_leader, "t", -1, b"after").await;
            (r.error_code == 0).then_some(r)
        })
        .await;
    eprintln!("failover took {:?}", started.elapsed());
    assert_eq!(r.base_offset, 5, "nothing acknowledged was lost");
    let _ = &t.dirs;
}
