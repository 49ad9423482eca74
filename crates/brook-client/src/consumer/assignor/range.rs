//! Kafka's `RangeAssignor`: for each topic, the members subscribed to it sorted by member id
//! get consecutive ranges of its partitions; the first `partitions % members` members get one
//! extra. With several topics of equal size the first members end up with more partitions
//! overall (the classic range skew), exactly as in Kafka.

use std::collections::BTreeMap;

use super::{MemberAssignments, empty_assignments, topic_partitions};
use crate::consumer::protocol::Subscription;

/// The range assignment of `partitions` (topic → partition count) over `members`.
pub fn assign(
    partitions: &BTreeMap<String, i32>,
    members: &BTreeMap<String, Subscription>,
) -> MemberAssignments {
    let mut out = empty_assignments(members);
    let mut by_topic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (member, sub) in members {
        for topic in &sub.topics {
            let list = by_topic.entry(topic.as_str()).or_default();
            if !list.contains(&member.as_str()) {
                list.push(member.as_str());
            }
        }
    }
    for (topic, mut subscribers) in by_topic {
        subscribers.sort_unstable();
        let tps = topic_partitions(partitions, topic);
        if tps.is_empty() {
            continue;
        }
        let per = tps.len() / subscribers.len();
        let extra = tps.len() % subscribers.len();
        let mut next = 0;
        for (i, member) in subscribers.iter().enumerate() {
            let n = per + usize::from(i < extra);
            if let Some(list) = out.get_mut(*member) {
                list.extend(tps[next..next + n].iter().cloned());
            }
            next += n;
        }
    }
    for list in out.values_mut() {
        list.sort();
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
        assert_eq!(
            a["C0"],
            vec![tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]
        );
        assert_eq!(a["C1"], vec![tp("t0", 2), tp("t1", 2)]);
        assert_disjoint_and_complete(&parts, &a);
    }

    #[test]
    fn only_subscribers_of_a_topic_share_it() {
        let parts = counts(&[("t0", 3), ("t1", 2)]);
        let members = BTreeMap::from([
            ("a".to_string(), sub(&["t0"])),
            ("b".to_string(), sub(&["t0", "t1"])),
            ("c".to_string(), sub(&["t1"])),
        ]);
        let a = assign(&parts, &members);
        assert_eq!(a["a"], vec![tp("t0", 0), tp("t0", 1)]);
        assert_eq!(a["b"], vec![tp("t0", 2), tp("t1", 0)]);
        assert_eq!(a["c"], vec![tp("t1", 1)]);
        assert_disjoint_and_complete(&parts, &a);
    }

    #[test]
    fn more_members_than_partitions_leaves_the_last_members_empty_and_unknown_topics_unassigned() {
        let parts = counts(&[("t", 2)]);
        let members = BTreeMap::from([
            ("m1".to_string(), sub(&["t", "ghost"])),
            ("m2".to_string(), sub(&["t"])),
            ("m3".to_string(), sub(&["t"])),
        ]);
        let a = assign(&parts, &members);
        assert_eq!(a["m1"], vec![tp("t", 0)]);
        assert_eq!(a["m2"], vec![tp("t", 1)]);
        assert_eq!(a["m3"], vec![]);
    }
}
