//! Replica assignment for new topics: Kafka's `AdminUtils.assignReplicasToBrokers`, rack-aware
//! and rack-unaware, with the random start index and replica shift replaced by values derived
//! from a seed (the controller uses a hash of the topic name), so the result is a pure function
//! of (brokers, partitions, replication factor, seed) and replaying the log reproduces it.
//!
//! Properties kept from Kafka:
//! * the first replica (preferred leader) of consecutive partitions walks the broker list, so
//!   leadership is spread evenly over brokers;
//! * with racks, the broker list alternates racks, and each partition's replicas cover as many
//!   racks as possible (min(RF, racks)) before a rack gets a second replica;
//! * the shift between the first and the other replicas changes every `n` partitions, so
//!   followers are spread too.

use std::collections::{BTreeMap, BTreeSet};

use brook_proto::ErrorCode;

use super::{AdminError, MAX_PARTITIONS};
use crate::topic::NewTopic;

/// One candidate broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The broker's id.
    pub id: i32,
    /// Its `broker.rack`, if it has one.
    pub rack: Option<String>,
}

/// Assigns `partitions` partitions of `replication_factor` replicas each. Rack-aware when every
/// candidate has a rack (Kafka's "safe" mode: a partly racked cluster is treated as unracked
/// rather than guessing where the unracked brokers are). The caller checks
/// `1 <= replication_factor <= candidates.len()`; violating it is an error, not a panic.
pub fn assign(
    candidates: &[Candidate],
    partitions: usize,
    replication_factor: usize,
    seed: u64,
) -> Result<Vec<Vec<i32>>, String> {
    let n = candidates.len();
    if replication_factor == 0 || replication_factor > n {
        return Err(format!(
            "replication factor {replication_factor} with {n} available broker(s)"
        ));
    }
    // Kafka draws both from [0, n); we derive them from the two halves of the seed.
    let start = (seed % n as u64) as usize;
    let shift = ((seed >> 32) % n as u64) as usize;
    if candidates.iter().all(|c| c.rack.is_some()) {
        rack_aware(candidates, partitions, replication_factor, start, shift)
    } else {
        let mut ids: Vec<i32> = candidates.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        Ok(rack_unaware(
            &ids,
            partitions,
            replication_factor,
            start,
            shift,
        ))
    }
}

/// Kafka's `replicaIndex`: the position of the `(j+1)`-th follower, always different from
/// `first` (it steps 1..n-1 away). Guarded for `n <= 1`, where there are no followers.
fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    if n <= 1 {
        return first;
    }
    let step = 1 + (shift + j) % (n - 1);
    (first + step) % n
}

fn rack_unaware(
    ids: &[i32],
    partitions: usize,
    rf: usize,
    start: usize,
    mut shift: usize,
) -> Vec<Vec<i32>> {
    let n = ids.len();
    (0..partitions)
        .map(|p| {
            if p > 0 && p % n == 0 {
                shift += 1;
            }
            let first = (p + start) % n;
            let mut replicas = vec![ids[first]];
            replicas.extend((0..rf - 1).map(|j| ids[replica_index(first, shift, j, n)]));
            replicas
        })
        .collect()
}

/// Kafka's `getRackAlternatedBrokerList`: brokers sorted by id within each rack, racks sorted,
/// then one broker from each rack in turn (r1b1, r2b1, r3b1, r1b2, …).
fn rack_alternated(candidates: &[Candidate]) -> Vec<(i32, &str)> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for c in candidates {
        by_rack
            .entry(c.rack.as_deref().unwrap_or(""))
            .or_default()
            .push(c.id);
    }
    for ids in by_rack.values_mut() {
        ids.sort_unstable();
        ids.reverse(); // so that pop() yields the smallest id first
    }
    let mut out = Vec::with_capacity(candidates.len());
    while out.len() < candidates.len() {
        let before = out.len();
        for (rack, ids) in by_rack.iter_mut() {
            if let Some(id) = ids.pop() {
                out.push((id, *rack));
            }
        }
        if out.len() == before {
            break; // cannot happen (every candidate is in some rack); avoids looping forever
        }
    }
    out
}

fn rack_aware(
    candidates: &[Candidate],
    partitions: usize,
    rf: usize,
    start: usize,
    mut shift: usize,
) -> Result<Vec<Vec<i32>>, String> {
    let brokers = rack_alternated(candidates);
    let n = brokers.len();
    let num_racks = brokers.iter().map(|b| b.1).collect::<BTreeSet<_>>().len();
    let mut out = Vec::with_capacity(partitions);
    for p in 0..partitions {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let (leader, leader_rack) = brokers[first];
        let mut replicas = vec![leader];
        let mut racks_used = BTreeSet::from([leader_rack]);
        let mut brokers_used = BTreeSet::from([leader]);
        let mut k = 0;
        for _ in 1..rf {
            // Kafka loops until a broker fits; one always does within n-1 steps (a broker in an
            // unused rack while some rack is unused, else any broker without a replica), since
            // `replica_index` visits every other broker in n-1 consecutive steps. The bound turns
            // a logic error into an error instead of a hang.
            let mut placed = false;
            for _ in 0..n {
                let (broker, rack) = brokers[replica_index(first, shift * num_racks, k, n)];
                k += 1;
                // Skip a broker whose rack already has a replica while some rack has none, and a
                // broker that already has a replica while some broker has none.
                let rack_ok = !racks_used.contains(rack) || racks_used.len() == num_racks;
                let broker_ok = !brokers_used.contains(&broker) || brokers_used.len() == n;
                if rack_ok && broker_ok {
                    replicas.push(broker);
                    racks_used.insert(rack);
                    brokers_used.insert(broker);
                    placed = true;
                    break;
                }
            }
            if !placed {
                return Err(format!("could not place replica of partition {p}"));
            }
        }
        out.push(replicas);
    }
    Ok(out)
}

/// FNV-1a, 64 bit: a stable hash for seeding (std's hashers are not stable across releases).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where CreateTopics puts replicas: automatic (above) or as the request says.
impl super::Controller {
    /// Kafka's automatic, rack-aware assignment for `t`'s partition count and replication factor.
    pub(super) fn automatic_assignment(&self, t: &NewTopic) -> Result<Vec<Vec<i32>>, AdminError> {
        let partitions = match t.partitions {
            -1 => self.config.num_partitions,
            n => n,
        };
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err((
                ErrorCode::InvalidPartitions,
                format!("{partitions} partitions (must be 1 to {MAX_PARTITIONS})"),
            ));
        }
        let rf = match t.replication_factor {
            -1 => self.config.default_replication_factor,
            n => n,
        };
        let live = self.live_brokers();
        let rf_ok = usize::try_from(rf).is_ok_and(|rf| (1..=live.len()).contains(&rf));
        if !rf_ok {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                format!("replication factor {rf} with {} live broker(s)", live.len()),
            ));
        }
        let candidates: Vec<Candidate> = live
            .iter()
            .filter_map(|id| self.image.brokers.get(id))
            .map(|b| Candidate {
                id: b.node_id,
                rack: b.rack.clone(),
            })
            .collect();
        // Both conversions were range-checked above.
        assign(
            &candidates,
            partitions.unsigned_abs() as usize,
            rf.unsigned_abs() as usize,
            stable_hash(t.name.as_bytes()),
        )
        .map_err(|e| (ErrorCode::InvalidReplicationFactor, e))
    }

    /// A manual assignment, validated as Kafka does: partition count and replication factor
    /// must then be -1 (or agree), every list non-empty, of one length, without repeats, and
    /// naming registered brokers.
    pub(super) fn manual_assignment(&self, t: &NewTopic) -> Result<Vec<Vec<i32>>, AdminError> {
        let bad = |why: String| Err((ErrorCode::InvalidReplicaAssignment, why));
        let n = t.assignments.len();
        if n > MAX_PARTITIONS as usize {
            return bad(format!("{n} partitions (at most {MAX_PARTITIONS})"));
        }
        let rf = t.assignments[0].len();
        if t.partitions != -1 && t.partitions as usize != n {
            return Err((
                ErrorCode::InvalidRequest,
                "give either num_partitions or assignments, not both".into(),
            ));
        }
        if t.replication_factor != -1 && t.replication_factor as usize != rf {
            return Err((
                ErrorCode::InvalidRequest,
                "give either replication_factor or assignments, not both".into(),
            ));
        }
        for (p, replicas) in t.assignments.iter().enumerate() {
            if replicas.is_empty() || replicas.len() != rf {
                return bad(format!(
                    "partition {p}: every partition needs {rf} replicas"
                ));
            }
            let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
            if distinct.len() != replicas.len() {
                return bad(format!(
                    "partition {p}: a broker appears twice in {replicas:?}"
                ));
            }
            if let Some(b) = replicas
                .iter()
                .find(|b| !self.image.brokers.contains_key(b))
            {
                return bad(format!("partition {p}: broker {b} is not registered"));
            }
        }
        Ok(t.assignments.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn racked(spec: &[(i32, &str)]) -> Vec<Candidate> {
        spec.iter()
            .map(|(id, rack)| Candidate {
                id: *id,
                rack: Some(rack.to_string()),
            })
            .collect()
    }

    #[test]
    fn rack_alternated_order() {
        let c = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c")]);
        let ids: Vec<i32> = rack_alternated(&c).iter().map(|b| b.0).collect();
        assert_eq!(ids, vec![1, 3, 5, 2, 4]);
    }

    #[test]
    fn unracked_replicas_are_distinct_and_leaders_rotate() {
        let c: Vec<Candidate> = (1..=4).map(|id| Candidate { id, rack: None }).collect();
        for seed in 0..20 {
            let a = assign(&c, 8, 3, seed).unwrap();
            let mut leaders = BTreeMap::new();
            for r in &a {
                assert_eq!(r.iter().collect::<BTreeSet<_>>().len(), 3, "{a:?}");
                *leaders.entry(r[0]).or_insert(0) += 1;
            }
            assert!(leaders.values().all(|&n| n == 2), "{leaders:?}");
        }
    }

    #[test]
    fn uneven_racks_use_every_rack_first() {
        // 2 racks, 3 brokers in one and 1 in the other: RF 2 always spans both racks.
        let c = racked(&[(1, "a"), (2, "a"), (3, "a"), (4, "b")]);
        for seed in 0..20 {
            for r in assign(&c, 10, 2, seed).unwrap() {
                let racks: BTreeSet<_> = r.iter().map(|id| *id == 4).collect();
                assert_eq!(racks.len(), 2, "{r:?}");
            }
        }
    }

    #[test]
    fn bad_replication_factor_is_an_error() {
        let c = racked(&[(1, "a")]);
        assert!(assign(&c, 1, 2, 0).is_err());
        assert!(assign(&c, 1, 0, 0).is_err());
        assert_eq!(
            assign(&c, 3, 1, 7).unwrap(),
            vec![vec![1], vec![1], vec![1]]
        );
        assert!(assign(&[], 1, 1, 0).is_err());
    }
}
