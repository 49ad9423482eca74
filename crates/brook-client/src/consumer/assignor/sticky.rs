//! Kafka's `CooperativeStickyAssignor`: a balanced assignment that keeps as many owned
//! partitions in place as balance allows, plus the cooperative adjustment of KIP-429.
//!
//! Sticky part ([`assign_sticky`]):
//! 1. Ownership claims come from each member's `Subscription::owned_partitions`. A claim
//!    counts only for a partition that exists and whose topic the member subscribes to; when
//!    two members claim one partition, the one whose claim has the higher `generation_id` keeps
//!    it (the other claim is stale: that member missed a rebalance), on a tie the lower member
//!    id.
//! 2. Every member keeps its valid claims; each unclaimed partition, in order, goes to the
//!    eligible (subscribed) member with the fewest partitions (ties: lower member id).
//! 3. Balance: while some member holds a partition another eligible member could take with at
//!    least two partitions fewer, one such partition moves (from the most loaded member, a
//!    partition it did not own before if it has one). Each move lowers the sum of squared counts,
//!    so this ends; with identical subscriptions it ends with counts differing by at most one,
//!    having moved only as many partitions as balance requires.
//!
//! Cooperative part ([`assign_cooperative`]): a partition whose new owner differs from its
//! current (valid) owner is removed from the new owner's assignment. The current owner sees it
//! missing after SyncGroup, revokes it, and rejoins; in that follow-up rebalance nobody owns it
//! and it is assigned. So no partition is ever assigned to one member while another still owns
//! it in the same generation, and only moved partitions are revoked.

use std::collections::{BTreeMap, BTreeSet};

use super::{MemberAssignments, empty_assignments, topic_partitions};
use crate::consumer::protocol::Subscription;
use crate::topic_partition::TopicPartition;

/// Partition → the member whose ownership claim stands (rule 1 above).
pub fn valid_owners(
    partitions: &BTreeMap<String, i32>,
    members: &BTreeMap<String, Subscription>,
) -> BTreeMap<TopicPartition, String> {
    let mut claims: BTreeMap<TopicPartition, (i32, &str)> = BTreeMap::new();
    for (member, sub) in members {
        for tp in &sub.owned_partitions {
            let exists =
                (0..partitions.get(&tp.topic).copied().unwrap_or(0)).contains(&tp.partition);
            if !exists || !sub.topics.contains(&tp.topic) {
                continue;
            }
            let stands = match claims.get(tp) {
                None => true,
                // Members iterate in id order, so on equal generations the first claim stays.
                Some((generation, _)) => sub.generation_id > *generation,
            };
            if stands {
                claims.insert(tp.clone(), (sub.generation_id, member.as_str()));
            }
        }
    }
    claims
        .into_iter()
        .map(|(tp, (_, m))| (tp, m.to_string()))
        .collect()
}

/// The sticky, balanced assignment (without the cooperative adjustment).
pub fn assign_sticky(
    partitions: &BTreeMap<String, i32>,
    members: &BTreeMap<String, Subscription>,
) -> MemberAssignments {
    let owners = valid_owners(partitions, members);
    sticky_with_owners(partitions, members, &owners)
}

/// The cooperative-sticky assignment: sticky, then partitions that change owner are withheld
/// from their new owner until the current owner has revoked them.
pub fn assign_cooperative(
    partitions: &BTreeMap<String, i32>,
    members: &BTreeMap<String, Subscription>,
) -> MemberAssignments {
    let owners = valid_owners(partitions, members);
    let mut out = sticky_with_owners(partitions, members, &owners);
    for (member, list) in out.iter_mut() {
        list.retain(|tp| owners.get(tp).is_none_or(|o| o == member));
    }
    out
}

fn sticky_with_owners(
    partitions: &BTreeMap<String, i32>,
    members: &BTreeMap<String, Subscription>,
    owners: &BTreeMap<TopicPartition, String>,
) -> MemberAssignments {
    let topics: BTreeSet<&str> = members
        .values()
        .flat_map(|s| s.topics.iter().map(String::as_str))
        .collect();
    // Every partition some member subscribes to, with the members that may own it.
    let mut eligible: BTreeMap<TopicPartition, Vec<&str>> = BTreeMap::new();
    for topic in topics {
        let subscribers: Vec<&str> = members
            .iter()
            .filter(|(_, s)| s.topics.iter().any(|t| t == topic))
            .map(|(m, _)| m.as_str())
            .collect();
        for tp in topic_partitions(partitions, topic) {
            eligible.insert(tp, subscribers.clone());
        }
    }
    let mut held: BTreeMap<&str, BTreeSet<TopicPartition>> = members
        .keys()
        .map(|m| (m.as_str(), BTreeSet::new()))
        .collect();
    for (tp, owner) in owners {
        if let Some(set) = held.get_mut(owner.as_str()) {
            set.insert(tp.clone());
        }
    }
    for (tp, candidates) in &eligible {
        if owners.contains_key(tp) {
            continue;
        }
        if let Some(m) = least_loaded(&held, candidates, None) {
            if let Some(set) = held.get_mut(m) {
                set.insert(tp.clone());
            }
        }
    }
    while let Some((from, tp, to)) = next_move(&held, &eligible, owners) {
        if let Some(set) = held.get_mut(from) {
            set.remove(&tp);
        }
        if let Some(set) = held.get_mut(to) {
            set.insert(tp);
        }
    }
    let mut out = empty_assignments(members);
    for (m, set) in held {
        if let Some(list) = out.get_mut(m) {
            *list = set.into_iter().collect();
        }
    }
    out
}

/// The candidate with the fewest partitions (ties: lowest id), other than `except`.
fn least_loaded<'a>(
    held: &BTreeMap<&'a str, BTreeSet<TopicPartition>>,
    candidates: &[&'a str],
    except: Option<&str>,
) -> Option<&'a str> {
    candidates
        .iter()
        .copied()
        .filter(|c| Some(*c) != except)
        .min_by_key(|c| (held.get(c).map_or(0, BTreeSet::len), *c))
}

/// One balancing move, if any: from the most loaded member that can give a partition to an
/// eligible member holding at least two fewer.
fn next_move<'a>(
    held: &BTreeMap<&'a str, BTreeSet<TopicPartition>>,
    eligible: &BTreeMap<TopicPartition, Vec<&'a str>>,
    owners: &BTreeMap<TopicPartition, String>,
) -> Option<(&'a str, TopicPartition, &'a str)> {
    let mut by_load: Vec<(&'a str, usize)> = held.iter().map(|(m, s)| (*m, s.len())).collect();
    by_load.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (from, load) in by_load {
        let set = &held[from];
        // Partitions it did not own before go first (moving them costs no stickiness), then
        // the rest from the highest down.
        let fresh = set
            .iter()
            .rev()
            .filter(|tp| owners.get(*tp).is_none_or(|o| o != from));
        let kept = set
            .iter()
            .rev()
            .filter(|tp| owners.get(*tp).is_some_and(|o| o == from));
        for tp in fresh.chain(kept) {
            let Some(candidates) = eligible.get(tp) else {
                continue;
            };
            if let Some(to) = least_loaded(held, candidates, Some(from)) {
                if held.get(to).map_or(0, BTreeSet::len) + 1 < load {
                    return Some((from, tp.clone(), to));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn members(list: &[(&str, Subscription)]) -> BTreeMap<String, Subscription> {
        list.iter()
            .map(|(m, s)| (m.to_string(), s.clone()))
            .collect()
    }

    fn six() -> Vec<TopicPartition> {
        (0..6).map(|p| tp("t", p)).collect()
    }

    /// Runs cooperative rebalances until the assignment stops changing (what the members do by
    /// rejoining after revoking), feeding each member's result back as its owned partitions.
    fn settle(
        parts: &BTreeMap<String, i32>,
        mut group: BTreeMap<String, Subscription>,
    ) -> (MemberAssignments, Vec<MemberAssignments>) {
        let mut rounds = Vec::new();
        for generation in 1..10 {
            let a = assign_cooperative(parts, &group);
            // Never assigned to one member while another still owns it in this generation.
            let owners = valid_owners(parts, &group);
            for (m, tps) in &a {
                for tp in tps {
                    if let Some(o) = owners.get(tp) {
                        assert_eq!(o, m, "{tp} given to {m} while {o} owns it");
                    }
                }
            }
            rounds.push(a.clone());
            let changed = group.iter().any(|(m, s)| s.owned_partitions != a[m]);
            for (m, s) in group.iter_mut() {
                s.owned_partitions = a[m].clone();
                s.generation_id = generation;
            }
            if !changed {
                return (a, rounds);
            }
        }
        panic!("cooperative rebalances did not settle: {rounds:?}");
    }

    #[test]
    fn fresh_group_is_balanced() {
        let parts = counts(&[("t0", 3), ("t1", 3)]);
        let g = members(&[
            ("a", sub(&["t0", "t1"])),
            ("b", sub(&["t0", "t1"])),
            ("c", sub(&["t0", "t1"])),
        ]);
        let a = assign_sticky(&parts, &g);
        assert_disjoint_and_complete(&parts, &a);
        assert!(a.values().all(|l| l.len() == 2), "{a:?}");
    }

    #[test]
    fn keeps_ownership_and_stays_balanced_when_a_member_leaves() {
        let parts = counts(&[("t", 6)]);
        let all = six();
        let g = members(&[
            ("a", owning(&["t"], &all[0..2], 3)),
            ("b", owning(&["t"], &all[2..4], 3)),
            // "c" left: its partitions 4 and 5 are unowned now.
        ]);
        let a = assign_cooperative(&parts, &g);
        assert_disjoint_and_complete(&parts, &a);
        assert!(
            a["a"].starts_with(&all[0..2]) && a["b"].starts_with(&all[2..4]),
            "{a:?}"
        );
        assert_eq!((a["a"].len(), a["b"].len()), (3, 3));
    }

    #[test]
    fn a_joining_member_takes_only_what_balance_needs_via_revocation_first() {
        let parts = counts(&[("t", 6)]);
        let all = six();
        let g = members(&[
            ("a", owning(&["t"], &all[0..3], 4)),
            ("b", owning(&["t"], &all[3..6], 4)),
            ("c", sub(&["t"])),
        ]);
        // Sticky alone: two partitions move to c, one from each.
        let sticky = assign_sticky(&parts, &g);
        assert_disjoint_and_complete(&parts, &sticky);
        assert_eq!(sticky["c"].len(), 2);
        assert_eq!(sticky["a"].len() + sticky["b"].len(), 4);
        // Cooperative: first round withholds them (a and b revoke one each, c gets nothing yet).
        let first = assign_cooperative(&parts, &g);
        assert_eq!(first["c"], vec![]);
        let revoked_a: Vec<_> = all[0..3]
            .iter()
            .filter(|t| !first["a"].contains(t))
            .collect();
        let revoked_b: Vec<_> = all[3..6]
            .iter()
            .filter(|t| !first["b"].contains(t))
            .collect();
        assert_eq!((revoked_a.len(), revoked_b.len()), (1, 1));
        // Follow-up: c gets exactly the revoked ones; a and b keep the rest.
        let (settled, rounds) = settle(&parts, g);
        assert_eq!(
            rounds.len(),
            3,
            "one revoking round, one assigning round, one no-op"
        );
        assert_disjoint_and_complete(&parts, &settled);
        let mut got_c = settled["c"].clone();
        got_c.sort();
        let mut want: Vec<TopicPartition> =
            revoked_a.into_iter().chain(revoked_b).cloned().collect();
        want.sort();
        assert_eq!(got_c, want);
        assert!(settled.values().all(|l| l.len() == 2));
    }

    #[test]
    fn stale_claims_lose_to_the_higher_generation() {
        let parts = counts(&[("t", 2)]);
        let g = members(&[
            ("a", owning(&["t"], &[tp("t", 0), tp("t", 1)], 2)),
            ("b", owning(&["t"], &[tp("t", 1)], 5)),
        ]);
        let owners = valid_owners(&parts, &g);
        assert_eq!(owners[&tp("t", 0)], "a");
        assert_eq!(owners[&tp("t", 1)], "b");
        let a = assign_cooperative(&parts, &g);
        assert_eq!(a["a"], vec![tp("t", 0)]);
        assert_eq!(a["b"], vec![tp("t", 1)]);
    }

    #[test]
    fn claims_outside_the_subscription_or_metadata_do_not_count() {
        let parts = counts(&[("t", 2), ("u", 1)]);
        let g = members(&[
            ("a", owning(&["t"], &[tp("u", 0), tp("t", 7)], 1)),
            ("b", owning(&["t", "u"], &[], 1)),
        ]);
        assert!(valid_owners(&parts, &g).is_empty());
        let a = assign_cooperative(&parts, &g);
        assert_eq!(a["b"].iter().filter(|t| t.topic == "u").count(), 1);
        assert_disjoint_and_complete(&parts, &a);
    }

    #[test]
    fn unequal_subscriptions_balance_within_eligibility() {
        let parts = counts(&[("t", 4), ("u", 2)]);
        let g = members(&[
            (
                "a",
                owning(
                    &["t", "u"],
                    &[
                        tp("t", 0),
                        tp("t", 1),
                        tp("t", 2),
                        tp("t", 3),
                        tp("u", 0),
                        tp("u", 1),
                    ],
                    1,
                ),
            ),
            ("b", sub(&["u"])),
            ("c", sub(&["t"])),
        ]);
        let (settled, _) = settle(&parts, g);
        assert_disjoint_and_complete(&parts, &settled);
        assert!(settled["b"].iter().all(|t| t.topic == "u"));
        assert!(settled["c"].iter().all(|t| t.topic == "t"));
        let sizes: Vec<usize> = settled.values().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 2], "{settled:?}");
    }

    #[test]
    fn many_random_rounds_stay_disjoint_complete_and_balanced() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let parts = counts(&[("t", 12), ("u", 5)]);
        let mut group: BTreeMap<String, Subscription> = BTreeMap::new();
        for step in 0..40 {
            // A member joins or leaves.
            if group.len() < 2 || (group.len() < 8 && rng.random_bool(0.5)) {
                group.insert(format!("m{step:02}"), sub(&["t", "u"]));
            } else {
                let victim = group.keys().nth(rng.random_range(0..group.len())).cloned();
                if let Some(v) = victim {
                    group.remove(&v);
                }
            }
            let (settled, _) = settle(&parts, group.clone());
            assert_disjoint_and_complete(&parts, &settled);
            let sizes: Vec<usize> = settled.values().map(Vec::len).collect();
            let (min, max) = (sizes.iter().min().copied(), sizes.iter().max().copied());
            assert!(max.zip(min).is_some_and(|(x, n)| x - n <= 1), "{sizes:?}");
            for (m, s) in group.iter_mut() {
                s.owned_partitions = settled[m].clone();
                s.generation_id = step;
            }
        }
    }
}
