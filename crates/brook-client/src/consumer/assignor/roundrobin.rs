//! Kafka's `RoundRobinAssignor`: every partition of every subscribed topic, sorted by topic and
//! partition, is dealt in turn to the members sorted by member id; a member not subscribed to a
//! partition's topic is skipped for it. With identical subscriptions the counts differ by at
//! most one.

use std::collections::{BTreeMap, BTreeSet};

use super::{MemberAssignments, empty_assignments, topic_partitions};
use crate::consumer::protocol::Subscription;

/// The round-robin assignment of `partitions` (topic → partition count) over `members`.
pub fn assign(
    partitions: &BTreeMap<String, i32>,
    members: &BTreeMap<String, Subscription>,
) -> MemberAssignments {
    let mut out = empty_assignments(members);
    let order: Vec<&String> = members.keys().collect();
    if order.is_empty() {
        return out;
    }
    let topics: BTreeSet<&str> = members
        .values()
        .flat_map(|s| s.topics.iter().map(String::as_str))
        .collect();
    let mut cursor = 0usize;
    for topic in topics {
        for tp in topic_partitions(partitions, topic) {
            // The next member (circularly) subscribed to this topic; one exists, since the
            // topic came from some member's subscription.
            for step in 0..order.len() {
                let member = order[(cursor + step) % order.len()];
                if members[member].topics.iter().any(|t| t == topic) {
                    if let Some(list) = out.get_mut(member) {
                        list.push(tp.clone());
                    }
                    cursor = (cursor + step + 1) % order.len();
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn two_members_two_topics_three_partitions_kafka_classic() {
        let parts = counts(&[("t0", 3), ("t1", 3)]);
        let members = BTreeMap::from([
            ("C0".to_string(), sub(&["t0", "t1"])),
            ("C1".to_string(), sub(&["t0", "t1"])),
        ]);
        let a = assign(&parts, &members);
        assert_eq!(a["C0"], vec![tp("t0", 0), tp("t0", 2), tp("t1", 1)]);
        assert_eq!(a["C1"], vec![tp("t0", 1), tp("t1", 0), tp("t1", 2)]);
        assert_disjoint_and_complete(&parts, &a);
    }

    #[test]
    fn kafka_javadoc_case_with_different_subscriptions() {
        // RoundRobinAssignor's javadoc: C0 [t0], C1 [t0, t1], C2 [t0, t1, t2]; t0 has 1
        // partition, t1 2, t2 3.
        let parts = counts(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let members = BTreeMap::from([
            ("C0".to_string(), sub(&["t0"])),
            ("C1".to_string(), sub(&["t0", "t1"])),
            ("C2".to_string(), sub(&["t0", "t1", "t2"])),
        ]);
        let a = assign(&parts, &members);
        assert_eq!(a["C0"], vec![tp("t0", 0)]);
        assert_eq!(a["C1"], vec![tp("t1", 0)]);
        assert_eq!(
            a["C2"],
            vec![tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]
        );
        assert_disjoint_and_complete(&parts, &a);
    }
}
