//! Client-side partition assignment: the group leader's job in Kafka's classic protocol. The
//! coordinator only relays bytes; the member the coordinator names leader decodes every member's
//! [`Subscription`], runs the assignor the group voted for, and sends one [`Assignment`] per
//! member back in SyncGroup. Everything here is plain code over plain data (sans-IO): the
//! membership shell calls [`AssignmentStrategy::assign`] with the partition counts it read from
//! metadata and the members' decoded subscriptions.
//!
//! Three strategies, Kafka's names and algorithms:
//! - [`range`]: per topic, consecutive partition ranges over the subscribed members sorted by
//!   member id (`RangeAssignor`); eager.
//! - [`roundrobin`]: all partitions of all subscribed topics, sorted, dealt round the members
//!   sorted by member id, skipping members not subscribed to the topic (`RoundRobinAssignor`);
//!   eager.
//! - [`sticky`]: balanced and keeping owned partitions where it can, with the cooperative
//!   adjustment (`CooperativeStickyAssignor`): a partition that moves is left out of the new
//!   owner's assignment while its previous owner still has it, so the owner revokes it and a
//!   follow-up rebalance hands it over.
//!
//! [`Subscription`]: crate::consumer::protocol::Subscription
//! [`Assignment`]: crate::consumer::protocol::Assignment

pub mod range;
pub mod roundrobin;
pub mod sticky;

use std::collections::BTreeMap;

use crate::consumer::protocol::Subscription;
use crate::topic_partition::TopicPartition;

/// Member id → the partitions the assignor gives it (every member of the input has an entry,
/// possibly empty; each list sorted).
pub type MemberAssignments = BTreeMap<String, Vec<TopicPartition>>;

/// How a member gives up partitions in a rebalance (Kafka's `RebalanceProtocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceProtocol {
    /// Every owned partition is revoked before rejoining, and the whole new assignment is
    /// handed out after SyncGroup.
    Eager,
    /// Members keep their partitions through the rebalance; only partitions that move are
    /// revoked (then a follow-up rebalance assigns them to their new owner), KIP-429.
    Cooperative,
}

/// One `partition.assignment.strategy` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentStrategy {
    /// `range` / `org.apache.kafka.clients.consumer.RangeAssignor`.
    Range,
    /// `roundrobin` / `org.apache.kafka.clients.consumer.RoundRobinAssignor`.
    RoundRobin,
    /// `cooperative-sticky` / `org.apache.kafka.clients.consumer.CooperativeStickyAssignor`.
    CooperativeSticky,
}

impl AssignmentStrategy {
    /// The protocol name sent in JoinGroup (Kafka's assignor `name()`).
    pub fn name(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Parses a short name or Kafka's class name; `None` for anything else.
    pub fn parse(s: &str) -> Option<AssignmentStrategy> {
        const PKG: &str = "org.apache.kafka.clients.consumer.";
        let s = s.trim();
        let short = s.strip_prefix(PKG).unwrap_or(s);
        match short {
            "range" | "RangeAssignor" => Some(AssignmentStrategy::Range),
            "roundrobin" | "RoundRobinAssignor" => Some(AssignmentStrategy::RoundRobin),
            "cooperative-sticky" | "CooperativeStickyAssignor" => {
                Some(AssignmentStrategy::CooperativeSticky)
            }
            _ => None,
        }
    }

    /// The protocols this assignor supports, the one it prefers first.
    pub fn supports_cooperative(self) -> bool {
        self == AssignmentStrategy::CooperativeSticky
    }

    /// Runs the assignor. `partitions` holds the partition count of every topic the metadata
    /// knows (topics missing from it get no assignment, as in Kafka); `members` maps member id
    /// to its subscription.
    pub fn assign(
        self,
        partitions: &BTreeMap<String, i32>,
        members: &BTreeMap<String, Subscription>,
    ) -> MemberAssignments {
        match self {
            AssignmentStrategy::Range => range::assign(partitions, members),
            AssignmentStrategy::RoundRobin => roundrobin::assign(partitions, members),
            AssignmentStrategy::CooperativeSticky => {
                sticky::assign_cooperative(partitions, members)
            }
        }
    }
}

/// The protocol a consumer configured with `strategies` rebalances with: cooperative only when
/// every configured assignor supports it (Kafka picks the highest protocol all of them share).
pub fn rebalance_protocol(strategies: &[AssignmentStrategy]) -> RebalanceProtocol {
    if !strategies.is_empty() && strategies.iter().all(|s| s.supports_cooperative()) {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// Every partition of `topic`, if the metadata knows it.
pub(crate) fn topic_partitions(
    partitions: &BTreeMap<String, i32>,
    topic: &str,
) -> Vec<TopicPartition> {
    let n = partitions.get(topic).copied().unwrap_or(0).max(0);
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// An entry (empty) for every member, so the result names everyone.
pub(crate) fn empty_assignments(members: &BTreeMap<String, Subscription>) -> MemberAssignments {
    members.keys().map(|m| (m.clone(), Vec::new())).collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    pub fn sub(topics: &[&str]) -> Subscription {
        Subscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            generation_id: -1,
            ..Subscription::default()
        }
    }

    pub fn owning(topics: &[&str], owned: &[TopicPartition], generation: i32) -> Subscription {
        Subscription {
            owned_partitions: owned.to_vec(),
            generation_id: generation,
            ..sub(topics)
        }
    }

    pub fn counts(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    /// Asserts that every partition of `partitions` is assigned to exactly one member.
    pub fn assert_disjoint_and_complete(
        partitions: &BTreeMap<String, i32>,
        result: &MemberAssignments,
    ) {
        let mut seen = std::collections::BTreeSet::new();
        for tps in result.values() {
            for tp in tps {
                assert!(seen.insert(tp.clone()), "{tp} assigned twice: {result:?}");
            }
        }
        let all: std::collections::BTreeSet<TopicPartition> = partitions
            .keys()
            .flat_map(|t| topic_partitions(partitions, t))
            .collect();
        assert_eq!(seen, all, "every partition assigned once");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_class_names_parse() {
        for (s, want) in [
            ("range", AssignmentStrategy::Range),
            (
                "org.apache.kafka.clients.consumer.RangeAssignor",
                AssignmentStrategy::Range,
            ),
            ("roundrobin", AssignmentStrategy::RoundRobin),
            (
                "org.apache.kafka.clients.consumer.RoundRobinAssignor",
                AssignmentStrategy::RoundRobin,
            ),
            (
                " cooperative-sticky ",
                AssignmentStrategy::CooperativeSticky,
            ),
            (
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
                AssignmentStrategy::CooperativeSticky,
            ),
        ] {
            assert_eq!(AssignmentStrategy::parse(s), Some(want), "{s}");
        }
        assert_eq!(AssignmentStrategy::parse("sticky"), None);
        assert_eq!(
            AssignmentStrategy::parse("org.apache.kafka.clients.consumer.StickyAssignor"),
            None
        );
    }

    #[test]
    fn cooperative_only_when_every_assignor_supports_it() {
        use AssignmentStrategy::*;
        assert_eq!(
            rebalance_protocol(&[Range, CooperativeSticky]),
            RebalanceProtocol::Eager
        );
        assert_eq!(
            rebalance_protocol(&[CooperativeSticky]),
            RebalanceProtocol::Cooperative
        );
        assert_eq!(rebalance_protocol(&[RoundRobin]), RebalanceProtocol::Eager);
    }
}
