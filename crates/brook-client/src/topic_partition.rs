//! `TopicPartition`, the name of one partition (`topic`, `partition`) that every client API and
//! every per-partition map in this crate is keyed by. It lives in a module of its own, below
//! everything else, so that the crate root only declares modules and re-exports
//! (`brook_client::TopicPartition` is the public path).

/// A topic name and partition number (Kafka's `TopicPartition`). Ordered by topic, then
/// partition; displayed as `topic-partition` (`orders-0`), the name of the partition's log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition number, from 0.
    pub partition: i32,
}

impl TopicPartition {
    /// Partition `partition` of `topic`.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
