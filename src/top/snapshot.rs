//! What `brook top` shows, gathered once a second: the [`Snapshot`] (plain data, which
//! `render.rs` draws) and the [`Poller`] that builds it from the cluster.
//!
//! Each round asks EVERY broker it knows of (the last DescribeCluster's broker list plus the
//! bootstrap addresses), in parallel and with a short timeout, for `DescribeCluster` and its own
//! `DescribeTopics` (`local_only`: its own metadata and replicas). The answers are combined by
//! `brook_cluster::ClusterView`, the same logic the embedded cluster's tests use: leadership and
//! ISR from the freshest metadata, HW and each replica's LEO from the leader's answer. A broker
//! that does not answer is shown DEAD and its partitions come from the others' answers. Groups:
//! ListGroups at every answering broker, then each group's description and committed offsets
//! (lag = HW − committed). Rates are the change of summed offsets between two snapshots. When no
//! broker answers, the previous snapshot is kept and marked stale: the view never gives up.

use std::collections::BTreeMap;
use std::time::Duration;

use brook_cluster::ClusterView;
use brook_cluster::client::{Admin, AdminConfig};
use brook_cluster::log::clock::unix_now_ms;
use brook_cluster::proto::net::Channels;
use brook_cluster::proto::v1::admin_client::AdminClient;
use brook_cluster::proto::v1::brook_client::BrookClient;
use brook_cluster::proto::v1::{
    DescribeClusterRequest, DescribeClusterResponse, DescribeTopicsRequest, ListGroupsRequest,
    TopicDescription,
};

/// How long one broker gets to answer one request: a dead broker must not freeze the refresh.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

/// One broker as `brook top` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRow {
    /// Its node id (-1 for a bootstrap address that never answered).
    pub id: i32,
    /// `host:port`.
    pub addr: String,
    /// It answered this round.
    pub alive: bool,
    /// The controller lists it as fenced.
    pub fenced: bool,
    /// It is the active controller.
    pub controller: bool,
}

/// One replica of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRow {
    /// Its broker id.
    pub id: i32,
    /// Its log end offset (its own figure when it leads, else what the leader last saw).
    pub leo: Option<i64>,
    /// Leader LEO − its LEO.
    pub lag: Option<i64>,
    /// In the ISR.
    pub in_isr: bool,
    /// Its broker answered this round.
    pub alive: bool,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRow {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The leader, if any.
    pub leader: Option<i32>,
    /// The leader epoch.
    pub leader_epoch: i32,
    /// The assigned replicas.
    pub replicas: Vec<i32>,
    /// The in-sync replicas.
    pub isr: Vec<i32>,
    /// The high watermark, from the leader.
    pub high_watermark: Option<i64>,
    /// Each assigned replica, in assignment order.
    pub replica_rows: Vec<ReplicaRow>,
    /// The topic's `min.insync.replicas` (broker default 1 when the topic sets none).
    pub min_insync: usize,
}

impl PartitionRow {
    /// ISR smaller than the replica set (Kafka's UnderReplicatedPartitions).
    pub fn under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }

    /// ISR smaller than `min.insync.replicas`: acks=all produce is refused.
    pub fn under_min_isr(&self) -> bool {
        self.isr.len() < self.min_insync
    }

    /// The leader's log end offset.
    pub fn leader_leo(&self) -> Option<i64> {
        let leader = self.leader?;
        self.replica_rows
            .iter()
            .find(|r| r.id == leader)
            .and_then(|r| r.leo)
    }
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    /// Group id.
    pub group: String,
    /// Its state (Stable, PreparingRebalance, Empty, …).
    pub state: String,
    /// How many members.
    pub members: usize,
    /// Σ (HW − committed) over the partitions it committed.
    pub total_lag: Option<i64>,
    /// Σ committed offsets (for the consumption rate).
    pub committed_sum: Option<i64>,
    /// Records committed per second since the previous snapshot.
    pub rate: Option<f64>,
    /// Burrow's status (OK, WARN, ERR, …) when known; rendered `-` when `None`.
    pub status: Option<String>,
}

/// Everything one screen shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// When it was gathered (ms since the epoch).
    pub taken_at_ms: i64,
    /// Every broker known, answering or not, by id.
    pub brokers: Vec<BrokerRow>,
    /// Every partition of every non-internal topic, by topic then index.
    pub partitions: Vec<PartitionRow>,
    /// Records appended per second per topic since the previous snapshot (Σ leader LEO).
    pub topic_rates: BTreeMap<String, f64>,
    /// Σ leader LEO per topic (for the rates).
    pub topic_ends: BTreeMap<String, i64>,
    /// Consumer groups by id.
    pub groups: Vec<GroupRow>,
    /// Set when no broker answered: the screen shows this snapshot as last seen then.
    pub stale_since_ms: Option<i64>,
}

/// Gathers snapshots; remembers brokers and the previous snapshot between rounds.
pub struct Poller {
    bootstrap: Vec<String>,
    known: BTreeMap<i32, String>,
    channels: Channels,
    admin: Option<Admin>,
    last: Option<Snapshot>,
}

impl Poller {
    /// A poller starting from `bootstrap` (`host:port` addresses).
    pub fn new(bootstrap: Vec<String>) -> Poller {
        let mut config = AdminConfig::new(&bootstrap.join(","));
        config.request_timeout = REQUEST_TIMEOUT;
        config.retry_backoff = Duration::from_millis(50);
        Poller {
            admin: Admin::new(config).ok(),
            bootstrap,
            known: BTreeMap::new(),
            channels: Channels::default(),
            last: None,
        }
    }

    /// One round: a fresh snapshot, or the last one marked stale when no broker answered.
    pub async fn poll(&mut self) -> Snapshot {
        let now = unix_now_ms();
        let mut addrs: Vec<(Option<i32>, String)> = self
            .known
            .iter()
            .map(|(id, a)| (Some(*id), a.clone()))
            .collect();
        for b in &self.bootstrap {
            if !self.known.values().any(|a| a == b) {
                addrs.push((None, b.clone()));
            }
        }
        let mut view = ClusterView::default();
        let mut answered: Vec<String> = Vec::new();
        self.ask_all(&addrs, &mut view, &mut answered).await;
        // Brokers the answers named that were not asked yet (the first round, a new broker):
        // asked in this same round, so no broker is shown DEAD just for being unknown.
        let new: Vec<(Option<i32>, String)> = view
            .brokers()
            .iter()
            .filter(|b| !view.clusters.contains_key(&b.node_id))
            .map(|b| (Some(b.node_id), format!("{}:{}", b.host, b.port)))
            .filter(|(_, a)| !addrs.iter().any(|(_, x)| x == a))
            .collect();
        self.ask_all(&new, &mut view, &mut answered).await;
        addrs.extend(new);
        if view.clusters.is_empty() {
            let mut last = self.last.clone().unwrap_or_default();
            last.stale_since_ms.get_or_insert(if last.taken_at_ms > 0 {
                last.taken_at_ms
            } else {
                now
            });
            for b in &mut last.brokers {
                b.alive = false;
            }
            if last.brokers.is_empty() {
                last.brokers = addrs.iter().map(|(_, a)| unknown_broker(a)).collect();
            }
            return last;
        }
        for b in view.brokers() {
            self.known
                .insert(b.node_id, format!("{}:{}", b.host, b.port));
        }
        let mut snap = build(&view, &self.known, &addrs, now);
        snap.groups = self.groups(&answered, &snap).await;
        if let Some(prev) = self.last.as_ref().filter(|p| p.stale_since_ms.is_none()) {
            rates(prev, &mut snap);
        }
        self.last = Some(snap.clone());
        snap
    }

    async fn groups(&self, answered: &[String], snap: &Snapshot) -> Vec<GroupRow> {
        let listed = futures_util::future::join_all(answered.iter().map(|addr| async move {
            let channel = self.channels.get(addr).ok()?;
            let mut c = BrookClient::new(channel);
            let req = ListGroupsRequest {
                states_filter: Vec::new(),
            };
            let r = tokio::time::timeout(REQUEST_TIMEOUT, c.list_groups(req)).await;
            Some(r.ok()?.ok()?.into_inner().groups)
        }))
        .await;
        let mut groups: BTreeMap<String, String> = BTreeMap::new();
        for g in listed.into_iter().flatten().flatten() {
            if g.protocol_type == "consumer" || g.protocol_type.is_empty() {
                groups.entry(g.group_id).or_insert(g.group_state);
            }
        }
        let hw: BTreeMap<(&str, i32), i64> = snap
            .partitions
            .iter()
            .filter_map(|p| Some(((p.topic.as_str(), p.partition), p.high_watermark?)))
            .collect();
        let mut out = Vec::new();
        for (group, listed_state) in groups {
            let mut row = GroupRow {
                group: group.clone(),
                state: listed_state,
                members: 0,
                total_lag: None,
                committed_sum: None,
                rate: None,
                status: None,
            };
            if let Some(admin) = &self.admin {
                let described = tokio::time::timeout(
                    REQUEST_TIMEOUT * 2,
                    admin.describe_consumer_groups(std::slice::from_ref(&group)),
                )
                .await;
                if let Ok(Ok(d)) = described
                    && let Some(d) = d.first()
                {
                    row.state = d.state.clone();
                    row.members = d.members.len();
                }
                let offsets = tokio::time::timeout(
                    REQUEST_TIMEOUT * 2,
                    admin.list_consumer_group_offsets(&group),
                )
                .await;
                if let Ok(Ok(offsets)) = offsets {
                    row.committed_sum = Some(offsets.values().sum());
                    row.total_lag = Some(
                        offsets
                            .iter()
                            .filter_map(|(tp, c)| {
                                hw.get(&(tp.topic.as_str(), tp.partition))
                                    .map(|h| (h - c).max(0))
                            })
                            .sum(),
                    );
                }
                // Burrow's evaluation by the group's coordinator; `-` while it cannot answer.
                let lag = tokio::time::timeout(REQUEST_TIMEOUT * 2, admin.group_lag(&group)).await;
                if let Ok(Ok(lag)) = lag {
                    row.status = Some(lag.status.to_string());
                }
            }
            out.push(row);
        }
        out
    }
}

impl Poller {
    /// Asks every address in parallel and adds the answers to `view` (and to `answered`).
    async fn ask_all(
        &self,
        addrs: &[(Option<i32>, String)],
        view: &mut ClusterView,
        answered: &mut Vec<String>,
    ) {
        let answers =
            futures_util::future::join_all(addrs.iter().map(|(_, a)| ask(&self.channels, a))).await;
        for ((known_id, addr), answer) in addrs.iter().zip(answers) {
            let Some((cluster, topics)) = answer else {
                continue;
            };
            let Some(id) = known_id.or_else(|| node_of(&cluster, addr)) else {
                continue;
            };
            answered.push(addr.clone());
            view.running.push(id);
            view.clusters.insert(id, cluster);
            if let Some(t) = topics {
                view.topics.insert(id, t);
            }
        }
    }
}

/// DescribeCluster and local DescribeTopics of one address, each within [`REQUEST_TIMEOUT`].
async fn ask(
    channels: &Channels,
    addr: &str,
) -> Option<(DescribeClusterResponse, Option<Vec<TopicDescription>>)> {
    let channel = channels.get(addr).ok()?;
    let mut c = AdminClient::new(channel).max_decoding_message_size(usize::MAX);
    let cluster = tokio::time::timeout(
        REQUEST_TIMEOUT,
        c.describe_cluster(DescribeClusterRequest {}),
    )
    .await
    .ok()?
    .ok()?
    .into_inner();
    let req = DescribeTopicsRequest {
        topics: Vec::new(),
        local_only: true,
    };
    let topics = tokio::time::timeout(REQUEST_TIMEOUT, c.describe_topics(req))
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|r| r.into_inner().topics);
    Some((cluster, topics))
}

/// Which listed broker is at `addr` (exact `host:port`, else the only one on that port).
fn node_of(cluster: &DescribeClusterResponse, addr: &str) -> Option<i32> {
    let exact = cluster
        .brokers
        .iter()
        .find(|b| format!("{}:{}", b.host, b.port) == addr);
    if let Some(b) = exact {
        return Some(b.node_id);
    }
    let port = addr.rsplit_once(':')?.1.parse::<i32>().ok()?;
    let mut on_port = cluster.brokers.iter().filter(|b| b.port == port);
    let first = on_port.next()?;
    on_port.next().is_none().then_some(first.node_id)
}

fn unknown_broker(addr: &str) -> BrokerRow {
    BrokerRow {
        id: -1,
        addr: addr.to_string(),
        alive: false,
        fenced: false,
        controller: false,
    }
}

/// The snapshot of one combined view (groups and rates are filled in by the caller).
pub fn build(
    view: &ClusterView,
    known: &BTreeMap<i32, String>,
    asked: &[(Option<i32>, String)],
    now_ms: i64,
) -> Snapshot {
    let listed = view.brokers();
    let controller = view.active_controller();
    let mut brokers: Vec<BrokerRow> = known
        .iter()
        .map(|(&id, addr)| BrokerRow {
            id,
            addr: addr.clone(),
            alive: view.clusters.contains_key(&id),
            fenced: listed.iter().any(|b| b.node_id == id && b.fenced),
            controller: controller == Some(id),
        })
        .collect();
    for (id, addr) in asked {
        if id.is_none()
            && !known.values().any(|a| a == addr)
            && !brokers.iter().any(|b| &b.addr == addr)
        {
            brokers.push(unknown_broker(addr));
        }
    }
    let mut names: Vec<String> = view
        .topics
        .values()
        .flatten()
        .filter(|t| !t.is_internal && t.error_code == 0)
        .map(|t| t.name.clone())
        .collect();
    names.sort();
    names.dedup();
    let mut partitions = Vec::new();
    let mut topic_ends = BTreeMap::new();
    for name in names {
        let Some(t) = view.topic(&name) else { continue };
        let min_insync = t
            .configs
            .get("min.insync.replicas")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1);
        let mut end_sum = 0;
        for p in &t.partitions {
            let leader = (p.leader >= 0).then_some(p.leader);
            let leader_leo = leader.and_then(|l| view.log_end_offset(&name, p.partition, l));
            let replica_rows = p
                .replicas
                .iter()
                .map(|&id| {
                    let leo = view.log_end_offset(&name, p.partition, id);
                    ReplicaRow {
                        id,
                        leo,
                        lag: leo.zip(leader_leo).map(|(r, l)| (l - r).max(0)),
                        in_isr: p.isr.contains(&id),
                        alive: view.clusters.contains_key(&id),
                    }
                })
                .collect();
            end_sum += leader_leo.unwrap_or(0);
            partitions.push(PartitionRow {
                topic: name.clone(),
                partition: p.partition,
                leader,
                leader_epoch: p.leader_epoch,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                high_watermark: (p.high_watermark >= 0).then_some(p.high_watermark),
                replica_rows,
                min_insync,
            });
        }
        topic_ends.insert(name, end_sum);
    }
    Snapshot {
        taken_at_ms: now_ms,
        brokers,
        partitions,
        topic_rates: BTreeMap::new(),
        topic_ends,
        groups: Vec::new(),
        stale_since_ms: None,
    }
}

/// Fills `snap`'s rates from the change since `prev`.
pub fn rates(prev: &Snapshot, snap: &mut Snapshot) {
    let secs = (snap.taken_at_ms - prev.taken_at_ms) as f64 / 1000.0;
    if secs <= 0.0 {
        return;
    }
    for (topic, end) in &snap.topic_ends {
        if let Some(before) = prev.topic_ends.get(topic) {
            let rate = (end - before).max(0) as f64 / secs;
            snap.topic_rates.insert(topic.clone(), rate);
        }
    }
    for g in &mut snap.groups {
        let before = prev
            .groups
            .iter()
            .find(|p| p.group == g.group)
            .and_then(|p| p.committed_sum);
        if let (Some(now), Some(before)) = (g.committed_sum, before) {
            g.rate = Some((now - before).max(0) as f64 / secs);
        }
    }
}
