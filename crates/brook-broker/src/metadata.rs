//! The cluster metadata image: brokers, topics, partitions (replicas, leader, epochs, ISR),
//! configs and producer-id blocks, built by replaying `MetadataRecord`s in order.
//!
//! `apply` is deterministic and does no I/O: the same records always give the same image. The
//! controller (issue 4) will replicate the record log; every broker replays it to learn who leads
//! what. Until then a single broker writes and replays its own log (`metadata_log.rs`).

use std::collections::BTreeMap;

use brook_proto::v1::{MetadataRecord, metadata_record::Record};

pub const NO_LEADER: i32 = -1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMeta {
    pub node_id: i32,
    pub broker_epoch: i64,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicMeta {
    pub name: String,
    pub topic_id: String,
    pub is_internal: bool,
    /// Topic-level config overrides (only what was set explicitly).
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionMeta>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Offset of the next record to apply (= records applied so far).
    pub next_offset: i64,
    pub brokers: BTreeMap<i32, BrokerMeta>,
    pub topics: BTreeMap<String, TopicMeta>,
    /// Broker-level dynamic config overrides.
    pub broker_configs: BTreeMap<String, String>,
    /// First producer id not yet handed out to any broker.
    pub next_producer_id: i64,
}

impl MetadataImage {
    /// Applies one record. Records that refer to things that do not exist are ignored (and
    /// logged): the controller never writes them, so seeing one means a bug, not bad input.
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
