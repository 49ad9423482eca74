//! `ClusterView`: one look at every running broker's answers, and the helpers tests use.

use std::collections::BTreeMap;

use brook_proto::v1::{
    BrokerInfo, DescribeClusterResponse, PartitionDescription, TopicDescription,
};

/// One look at the cluster: the `DescribeCluster` and `DescribeTopics` answers of every running
/// broker that answered. Each broker describes partitions from its own metadata and its own
/// replica, so the helpers combine them: leadership and ISR come from the freshest metadata
/// (highest partition epoch, then leader epoch, across brokers), offsets from the broker that
/// holds the replica in question.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Brokers running when the view was taken (answering or not).
    pub running: Vec<i32>,
    /// Each answering broker's `DescribeCluster`: the brokers it lists and the controller it
    /// names.
    pub clusters: BTreeMap<i32, DescribeClusterResponse>,
    /// Each answering broker's `DescribeTopics`, from its own metadata and replicas only.
    pub topics: BTreeMap<i32, Vec<TopicDescription>>,
}

impl ClusterView {
    /// The active controller: the voter that names itself as controller in its own
    /// DescribeCluster (it does so only while it is Raft leader and a majority acknowledges it).
    /// `None` while there is none, or during the instant two voters claim it.
    pub fn active_controller(&self) -> Option<i32> {
        let mut claims = self
            .clusters
            .iter()
            .filter(|(id, c)| c.controller_id == **id)
            .map(|(id, _)| *id);
        let first = claims.next()?;
        claims.next().is_none().then_some(first)
    }

    /// The partition as broker `broker` describes it.
    pub fn partition_at(
        &self,
        broker: i32,
        topic: &str,
        partition: i32,
    ) -> Option<&PartitionDescription> {
        self.topics
            .get(&broker)?
            .iter()
            .find(|t| t.name == topic && t.error_code == 0)?
            .partitions
            .iter()
            .find(|p| p.partition == partition)
    }

    /// The freshest metadata of a partition across brokers.
    fn freshest(&self, topic: &str, partition: i32) -> Option<&PartitionDescription> {
        self.topics
            .keys()
            .filter_map(|b| self.partition_at(*b, topic, partition))
            .max_by_key(|p| (p.partition_epoch, p.leader_epoch, p.leader >= 0))
    }

    /// The leader, if the partition has one.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.freshest(topic, partition)
            .map(|p| p.leader)
            .filter(|l| *l >= 0)
    }

    /// The leader epoch, from the freshest metadata.
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> Option<i32> {
        self.freshest(topic, partition).map(|p| p.leader_epoch)
    }

    /// The in-sync replicas, from the freshest metadata (empty for an unknown partition).
    pub fn isr(&self, topic: &str, partition: i32) -> Vec<i32> {
        self.freshest(topic, partition)
            .map(|p| p.isr.clone())
            .unwrap_or_default()
    }

    /// The assigned replicas, from the freshest metadata (empty for an unknown partition).
    pub fn replicas(&self, topic: &str, partition: i32) -> Vec<i32> {
        self.freshest(topic, partition)
            .map(|p| p.replicas.clone())
            .unwrap_or_default()
    }

    /// The high watermark as the leader reports it.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        let leader = self.leader(topic, partition)?;
        self.partition_at(leader, topic, partition)
            .map(|p| p.high_watermark)
            .filter(|hw| *hw >= 0)
    }

    /// The log end offset of `broker`'s replica: its own figure when it leads the partition,
    /// else the one the leader last saw from it.
    pub fn log_end_offset(&self, topic: &str, partition: i32, broker: i32) -> Option<i64> {
        let own = self
            .partition_at(broker, topic, partition)
            .map(|p| p.log_end_offset)
            .filter(|leo| *leo >= 0);
        own.or_else(|| {
            let leader = self.leader(topic, partition)?;
            self.partition_at(leader, topic, partition)?
                .replica_states
                .iter()
                .find(|r| r.id == broker)
                .map(|r| r.log_end_offset)
                .filter(|leo| *leo >= 0)
        })
    }

    /// True when the leader itself knows it leads the partition and has the replica open.
    pub fn serving_leader(&self, topic: &str, partition: i32) -> bool {
        self.leader(topic, partition).is_some_and(|l| {
            self.partition_at(l, topic, partition)
                .is_some_and(|p| p.leader == l && p.log_end_offset >= 0)
        })
    }

    /// The topic with leadership and ISR from the freshest metadata and offsets from each
    /// partition's leader (see the type docs).
    pub fn topic(&self, name: &str) -> Option<TopicDescription> {
        let mut base = self
            .topics
            .values()
            .filter_map(|ts| ts.iter().find(|t| t.name == name && t.error_code == 0))
            .max_by_key(|t| t.partitions.len())?
            .clone();
        for p in &mut base.partitions {
            let Some(fresh) = self.freshest(name, p.partition) else {
                continue;
            };
            let mut merged = fresh.clone();
            match self
                .leader(name, p.partition)
                .and_then(|l| self.partition_at(l, name, p.partition))
            {
                Some(at_leader) => {
                    merged.high_watermark = at_leader.high_watermark;
                    merged.log_start_offset = at_leader.log_start_offset;
                    merged.log_end_offset = at_leader.log_end_offset;
                    merged.replica_states = at_leader.replica_states.clone();
                }
                None => {
                    merged.high_watermark = -1;
                    merged.log_start_offset = -1;
                    merged.log_end_offset = -1;
                    merged.replica_states.clear();
                }
            }
            *p = merged;
        }
        Some(base)
    }

    /// The brokers as the controller (or, failing that, any broker) lists them.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        let from_controller = self
            .clusters
            .iter()
            .find(|(id, c)| c.controller_id == **id)
            .or_else(|| self.clusters.iter().next());
        from_controller
            .map(|(_, c)| c.brokers.clone())
            .unwrap_or_default()
    }

    /// Whether broker `at` answered and lists every one of `ids` as registered and unfenced.
    pub fn lists_unfenced(&self, at: i32, ids: &[i32]) -> bool {
        self.clusters.get(&at).is_some_and(|c| {
            ids.iter()
                .all(|id| c.brokers.iter().any(|b| b.node_id == *id && !b.fenced))
        })
    }

    /// A one-line description for timeout errors.
    pub fn summary(&self) -> String {
        let mut out = format!("running {:?}", self.running);
        for (id, c) in &self.clusters {
            let listed: Vec<String> = c
                .brokers
                .iter()
                .map(|b| format!("{}{}", b.node_id, if b.fenced { "(fenced)" } else { "" }))
                .collect();
            out.push_str(&format!("; broker {id} lists [{}]", listed.join(",")));
        }
        for (id, topics) in &self.topics {
            for t in topics.iter().filter(|t| !t.is_internal) {
                let parts: Vec<String> = t
                    .partitions
                    .iter()
                    .map(|p| {
                        format!(
                            "{}:L{}e{} isr{:?} hw{} leo{}",
                            p.partition,
                            p.leader,
                            p.leader_epoch,
                            p.isr,
                            p.high_watermark,
                            p.log_end_offset
                        )
                    })
                    .collect();
                out.push_str(&format!(
                    "; broker {id} sees {} [{}]",
                    t.name,
                    parts.join(" ")
                ));
            }
        }
        out
    }
}
