//! Three brokers in one process for the failover tests: broker 1 is the only controller voter,
//! brokers 2 and 3 follow it; any of 2 and 3 can be killed without losing the controller.

use std::time::Duration;

use brook_broker::{BrokerConfig, BrokerHandle};
use brook_proto::net::Channels;
use brook_proto::v1::admin_client::AdminClient;
use brook_proto::v1::*;
use tonic::transport::Channel;

use super::groups::{GROUP_TEST_CONFIG, wait_for};

pub struct Cluster3 {
    _dirs: Vec<tempfile::TempDir>,
    handles: Vec<Option<BrokerHandle>>,
    pub addrs: Vec<String>,
}

fn config(id: i32, dir: &tempfile::TempDir, controller: &str) -> BrokerConfig {
    let roles = if id == 1 { "broker,controller" } else { "broker" };
    let mut pairs: Vec<(String, String)> = vec![
        ("node.id".into(), id.to_string()),
        ("process.roles".into(), roles.into()),
        ("listeners".into(), "127.0.0.1:0".into()),
        ("log.dirs".into(), dir.path().display().to_string()),
        ("broker.session.timeout.ms".into(), "600".into()),
        ("broker.heartbeat.interval.ms".into(), "50".into()),
        ("replica.lag.time.max.ms".into(), "400".into()),
        ("replica.fetch.wait.max.ms".into(), "100".into()),
    ];
    pairs.extend(GROUP_TEST_CONFIG.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    if !controller.is_empty() {
        pairs.push(("controller.quorum.voters".into(), format!("1@{controller}")));
    }
    BrokerConfig::from_pairs(pairs).unwrap()
}

impl Cluster3 {
    /// Starts the three brokers and waits until all are unfenced.
    pub async fn start() -> Cluster3 {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let first = BrokerHandle::start(config(1, &dirs[0], "")).await.unwrap();
        let controller = first.addr().to_string();
        let mut addrs = vec![controller.clone()];
        let mut handles = vec![Some(first)];
        for id in 2..=3 {
            let h = BrokerHandle::start(config(id, &dirs[id as usize - 1], &controller))
                .await
                .unwrap();
            addrs.push(h.addr().to_string());
            handles.push(Some(h));
        }
        let c = Cluster3 {
            _dirs: dirs,
            handles,
            addrs,
        };
        let admin = c.admin(1);
        wait_for("three unfenced brokers", Duration::from_secs(10), || {
            let mut admin = admin.clone();
            async move {
                let r = admin.describe_cluster(DescribeClusterRequest {}).await.ok()?;
                (r.into_inner().brokers.iter().filter(|b| !b.fenced).count() == 3).then_some(())
            }
        })
        .await;
        c
    }

    /// A channel to broker `node_id` (1, 2 or 3).
    pub fn channel(&self, node_id: i32) -> Channel {
        Channels::default()
            .get(&self.addrs[node_id as usize - 1])
            .unwrap()
    }

    pub fn admin(&self, node_id: i32) -> AdminClient<Channel> {
        AdminClient::new(self.channel(node_id))
    }

    /// Abrupt stop of broker `node_id` (2 or 3: broker 1 hosts the controller).
    pub fn kill(&mut self, node_id: i32) {
        assert_ne!(node_id, 1, "broker 1 is the only controller voter");
        self.handles[node_id as usize - 1]
            .take()
            .expect("running")
            .kill();
    }
}
