//! The cluster metadata image: brokers, topics, partitions (replicas, leader, epochs, ISR),
//! configs and producer-id blocks, built by replaying `MetadataRecord`s in order.
//!
//! [`MetadataImage::apply`] is deterministic and does no I/O: the same records always give the
//! same image. The controller quorum replicates the record log (`quorum/`); every voter replays
//! it into its [`Controller`](crate::controller::Controller), and every broker replays the records
//! it pulls from the active controller (`lifecycle.rs`) to learn who leads what.

use std::collections::BTreeMap;

use brook_proto::v1::{MetadataRecord, metadata_record::Record};

/// [`PartitionMeta::leader`] of a partition with no leader (Kafka's -1).
pub const NO_LEADER: i32 = -1;

/// A registered broker, as its `RegisterBrokerRecord` and the fence / unfence records after it
/// describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMeta {
    /// The broker's `node.id`.
    pub node_id: i32,
    /// The broker epoch: the metadata offset of its latest registration record.
    pub broker_epoch: i64,
    /// The host clients and other brokers connect to (its advertised listener).
    pub host: String,
    /// The port of that listener.
    pub port: i32,
    /// `broker.rack`, if it set one.
    pub rack: Option<String>,
    /// Fenced: may not lead or be in an ISR. A broker is fenced from registration until the
    /// controller unfences it, and again when its session expires or it shuts down.
    pub fenced: bool,
}

/// One partition's replica assignment, leader and ISR, as the controller last decided them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    /// Assigned replicas (broker ids); the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// The in-sync replicas, as committed by the controller.
    pub isr: Vec<i32>,
    /// The leader's broker id, or [`NO_LEADER`].
    pub leader: i32,
    /// The leader epoch, bumped on every leader change (E3).
    pub leader_epoch: i32,
    /// The partition epoch, bumped on every change of leader or ISR; AlterPartition requests
    /// carry it, and the controller refuses one based on a stale state with
    /// `INVALID_UPDATE_VERSION` (F4).
    pub partition_epoch: i32,
}

/// A topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicMeta {
    /// The topic's name.
    pub name: String,
    /// The topic's id: 32 hex digits, unique across a delete and re-create of the same name.
    pub topic_id: String,
    /// Internal topics (`__consumer_offsets`) may have a name starting with `__` and cannot
    /// be deleted.
    pub is_internal: bool,
    /// Topic-level config overrides (only what was set explicitly).
    pub configs: BTreeMap<String, String>,
    /// The partitions, indexed by partition number.
    pub partitions: Vec<PartitionMeta>,
}

/// The replay of the metadata log up to [`MetadataImage::next_offset`]: what the cluster
/// looks like at that point of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Offset of the next record to apply (= records applied so far).
    pub next_offset: i64,
    /// Registered brokers by node id.
    pub brokers: BTreeMap<i32, BrokerMeta>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicMeta>,
    /// Broker-level dynamic config overrides.
    pub broker_configs: BTreeMap<String, String>,
    /// First producer id not yet handed out to any broker.
    pub next_producer_id: i64,
}

impl MetadataImage {
    /// Applies one record. Records that refer to things that do not exist are ignored (a
    /// partition record for an unknown topic or out of order is also logged): the controller
    /// never writes them, so seeing one means a bug, not bad input.
    pub fn apply(&mut self, rec: &MetadataRecord) {
        self.next_offset = self.next_offset.max(rec.offset + 1);
        let Some(record) = &rec.record else {
            return;
        };
        match record {
            Record::RegisterBroker(r) => {
                self.brokers.insert(
                    r.node_id,
                    BrokerMeta {
                        node_id: r.node_id,
                        broker_epoch: r.broker_epoch,
                        host: r.host.clone(),
                        port: r.port,
                        rack: Some(r.rack.clone()).filter(|s| !s.is_empty()),
                        fenced: true,
                    },
                );
            }
            Record::FenceBroker(r) => {
                if let Some(b) = self.brokers.get_mut(&r.node_id) {
                    b.fenced = true;
                }
            }
            Record::UnfenceBroker(r) => {
                if let Some(b) = self.brokers.get_mut(&r.node_id) {
                    b.fenced = false;
                }
            }
            Record::Topic(r) => {
                self.topics.insert(
                    r.name.clone(),
                    TopicMeta {
                        name: r.name.clone(),
                        topic_id: r.topic_id.clone(),
                        is_internal: r.is_internal,
                        configs: r.configs.clone().into_iter().collect(),
                        partitions: Vec::new(),
                    },
                );
            }
            Record::Partition(r) => {
                let Some(t) = self.topics.get_mut(&r.topic) else {
                    tracing::error!(topic = %r.topic, "partition record for unknown topic");
                    return;
                };
                let p = PartitionMeta {
                    replicas: r.replicas.clone(),
                    isr: r.isr.clone(),
                    leader: r.leader,
                    leader_epoch: r.leader_epoch,
                    partition_epoch: r.partition_epoch,
                };
                let idx = r.partition as usize;
                if idx == t.partitions.len() {
                    t.partitions.push(p);
                } else if idx < t.partitions.len() {
                    t.partitions[idx] = p;
                } else {
                    tracing::error!(topic = %r.topic, partition = r.partition, "partition record out of order");
                }
            }
            Record::PartitionChange(r) => {
                if let Some(p) = self
                    .topics
                    .get_mut(&r.topic)
                    .and_then(|t| t.partitions.get_mut(r.partition as usize))
                {
                    p.isr = r.isr.clone();
                    p.leader = r.leader;
                    p.leader_epoch = r.leader_epoch;
                    p.partition_epoch = r.partition_epoch;
                }
            }
            Record::Config(r) => {
                use brook_proto::v1::ConfigResourceType as T;
                let map = match T::try_from(r.resource_type) {
                    Ok(T::ConfigResourceTopic) => match self.topics.get_mut(&r.resource_name) {
                        Some(t) => &mut t.configs,
                        None => return,
                    },
                    _ => &mut self.broker_configs,
                };
                if r.deleted {
                    map.remove(&r.name);
                } else {
                    map.insert(r.name.clone(), r.value.clone());
                }
            }
            Record::RemoveTopic(r) => {
                self.topics.remove(&r.name);
            }
            Record::ProducerIds(r) => {
                self.next_producer_id = self.next_producer_id.max(r.next_producer_id);
            }
        }
    }

    /// A partition of a topic, if both exist.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMeta> {
        self.topics
            .get(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_proto::v1::{PartitionChangeRecord, PartitionRecord, RemoveTopicRecord, TopicRecord};

    fn rec(offset: i64, r: Record) -> MetadataRecord {
        MetadataRecord {
            offset,
            record: Some(r),
        }
    }

    #[test]
    fn replay_builds_topics_and_partition_changes() {
        let records = vec![
            rec(
                0,
                Record::Topic(TopicRecord {
                    name: "t".into(),
                    ..Default::default()
                }),
            ),
            rec(
                1,
                Record::Partition(PartitionRecord {
                    topic: "t".into(),
                    partition: 0,
                    replicas: vec![1, 2],
                    isr: vec![1, 2],
                    leader: 1,
                    leader_epoch: 0,
                    partition_epoch: 0,
                }),
            ),
            rec(
                2,
                Record::PartitionChange(PartitionChangeRecord {
                    topic: "t".into(),
                    partition: 0,
                    isr: vec![1],
                    leader: 1,
                    leader_epoch: 0,
                    partition_epoch: 1,
                    unclean: false,
                }),
            ),
        ];
        let mut a = MetadataImage::default();
        let mut b = MetadataImage::default();
        for r in &records {
            a.apply(r);
            b.apply(r);
        }
        assert_eq!(a, b, "replay is deterministic");
        assert_eq!(a.next_offset, 3);
        let p = a.partition("t", 0).unwrap();
        assert_eq!((p.isr.clone(), p.partition_epoch), (vec![1], 1));
        a.apply(&rec(
            3,
            Record::RemoveTopic(RemoveTopicRecord { name: "t".into() }),
        ));
        assert!(a.partition("t", 0).is_none());
    }
}
