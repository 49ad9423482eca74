//! `TopicPartition`, the name of one partition (`topic`, `partition`) that every client API and
//! every per-partition map in this crate is keyed by. It lives in a module of its own, below
//! everything else, so that the crate root only declares modules and re-exports
//! (`brook_client::TopicPartition` is the public path).

/// A topic name and partition number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
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
