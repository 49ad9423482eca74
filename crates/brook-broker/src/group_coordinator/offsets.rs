//! Committed consumer offsets (seed §7.5) and the replay of `__consumer_offsets`, which holds
//! both commits and group metadata (layouts in `record.rs`), so commits are replicated like
//! any other data (rule C1) and a new coordinator rebuilds groups from the same log.
//!
//! A group's records live in partition `abs(javaHashCode(group.id)) % partitions` (Kafka's
//! rule), whose leader is the group's coordinator. The latest value per key wins and a null
//! value (tombstone) removes the key; [`replay`] reads a partition that way when this broker
//! becomes its leader, and [`OffsetCache`] keeps the offsets of the partitions it leads.

use std::collections::{BTreeMap, HashMap};

use brook_log::record::{BatchBuilder, decode_records};
use brook_log::{batch, lock};
use brook_proto::ErrorCode;
use bytes::Bytes;

use super::record::{self, GroupRecord, RecordKey};
use crate::error::{BrokerError, Result};
use crate::partition::Partition;

pub use super::record::Committed;

/// The internal topic committed offsets and group metadata are stored in (Kafka's name).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's `Utils.abs(groupId.hashCode()) % partitions`.
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// (topic, partition) → committed offset, for one group.
pub type GroupOffsets = HashMap<(String, i32), Committed>;

/// The committed-offset cache of the `__consumer_offsets` partitions this broker leads: the
/// latest value per (group, topic, partition). The log is the truth; the cache is rebuilt from
/// it by [`replay`] when a partition is loaded.
#[derive(Debug, Default)]
pub struct OffsetCache {
    groups: HashMap<String, GroupOffsets>,
}

impl OffsetCache {
    /// Replaces the offsets of every group in `partition` (of `partitions`) with `loaded`.
    pub fn load_partition(
        &mut self,
        partition: i32,
        partitions: i32,
        loaded: HashMap<String, GroupOffsets>,
    ) {
        self.unload_partition(partition, partitions);
        self.groups.extend(loaded);
    }

    /// Forgets the offsets of every group in `partition` (leadership moved away).
    pub fn unload_partition(&mut self, partition: i32, partitions: i32) {
        self.groups
            .retain(|g, _| partition_for(g, partitions) != partition);
    }

    /// Records offsets that were durably appended.
    pub fn committed(&mut self, group: &str, offsets: Vec<(String, i32, Committed)>) {
        let g = self.groups.entry(group.to_string()).or_default();
        for (t, p, c) in offsets {
            g.insert((t, p), c);
        }
    }

    /// The committed offsets of `group`, every partition it committed for, sorted by (topic,
    /// partition); empty for a group with no commits.
    pub fn fetch(&self, group: &str) -> Vec<(String, i32, Committed)> {
        let mut out: Vec<_> = self
            .groups
            .get(group)
            .map(|g| {
                g.iter()
                    .map(|((t, p), c)| (t.clone(), *p, c.clone()))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    }

    /// Removes a deleted group's offsets and returns the (topic, partition) keys it had.
    pub fn remove_group(&mut self, group: &str) -> Vec<(String, i32)> {
        let mut keys: Vec<_> = self
            .groups
            .remove(group)
            .map(|g| g.into_keys().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// Every (topic, partition) some group has a committed offset for.
    pub fn partitions(&self) -> std::collections::BTreeSet<(String, i32)> {
        self.groups
            .values()
            .flat_map(|g| g.keys().cloned())
            .collect()
    }

    /// Forgets offsets of a deleted topic.
    pub fn remove_topic(&mut self, topic: &str) {
        for g in self.groups.values_mut() {
            g.retain(|(t, _), _| t != topic);
        }
    }
}

/// Builds the batch recording `offsets` for `group`, one record per partition (commit
/// timestamp `now_ms`). `INVALID_GROUP_ID` for an empty group id, `INVALID_REQUEST` for a
/// group id, topic or metadata longer than 32767 bytes.
pub fn commit_batch(
    group: &str,
    offsets: &[(String, i32, Committed)],
    now_ms: i64,
) -> Result<Bytes> {
    if group.is_empty() {
        return Err(BrokerError::new(
            ErrorCode::InvalidGroupId,
            "group.id must not be empty",
        ));
    }
    let mut b = BatchBuilder::new();
    for (topic, partition, c) in offsets {
        let key = record::offset_key(group, topic, *partition)?;
        let value = record::offset_value(c, now_ms)?;
        b.append(now_ms, Some(&key), Some(&value), &[]);
    }
    Ok(b.build())
}

/// What a replay of one `__consumer_offsets` partition found: the live offsets and group
/// records (latest value per key, tombstoned keys removed).
#[derive(Debug, Default)]
pub struct Replay {
    /// group → its committed offsets.
    pub offsets: HashMap<String, GroupOffsets>,
    /// group → its latest metadata record.
    pub groups: BTreeMap<String, GroupRecord>,
    /// Records that could not be decoded (skipped, with a warning).
    pub skipped: usize,
}

impl Replay {
    /// Applies one record (`value` `None`: a tombstone). Returns false for an undecodable one.
    pub fn apply(&mut self, key: Bytes, value: Option<Bytes>) -> bool {
        let Some(key) = record::decode_key(key) else {
            self.skipped += 1;
            return false;
        };
        match (key, value) {
            (
                RecordKey::Offset {
                    group,
                    topic,
                    partition,
                },
                None,
            ) => {
                if let Some(g) = self.offsets.get_mut(&group) {
                    g.remove(&(topic, partition));
                    if g.is_empty() {
                        self.offsets.remove(&group);
                    }
                }
            }
            (
                RecordKey::Offset {
                    group,
                    topic,
                    partition,
                },
                Some(v),
            ) => {
                let Some(c) = record::decode_offset_value(v) else {
                    self.skipped += 1;
                    return false;
                };
                self.offsets
                    .entry(group)
                    .or_default()
                    .insert((topic, partition), c);
            }
            (RecordKey::Group { group }, None) => {
                self.groups.remove(&group);
            }
            (RecordKey::Group { group }, Some(v)) => {
                let Some(g) = record::decode_group_value(v) else {
                    self.skipped += 1;
                    return false;
                };
                self.groups.insert(group, g);
            }
        }
        true
    }
}

/// Replays one `__consumer_offsets` partition from its log start to its log end (Kafka loads
/// up to the log end too: the leader's log is the truth from now on).
pub fn replay(partition: &Partition) -> Result<Replay> {
    let log = partition.log().clone();
    let mut offset = lock(&log).log_start_offset();
    let mut out = Replay::default();
    loop {
        let chunk = lock(&log).read(offset, 1 << 20)?;
        if chunk.is_empty() {
            return Ok(out);
        }
        for item in batch::batches(&chunk) {
            let (pos, h) = item?;
            for r in decode_records(&chunk.slice(pos..pos + h.size()))? {
                let Some(key) = r.key else {
                    continue;
                };
                if !out.apply(key, r.value) {
                    tracing::warn!(
                        partition = partition.index,
                        offset = r.offset,
                        "skipping unreadable __consumer_offsets record"
                    );
                }
            }
            offset = h.next_offset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_coordinator::record::{group_key, group_value, offset_key, offset_value};

    #[test]
    fn partition_for_matches_java_string_hash_code() {
        // "group".hashCode() = 98629247 in Java.
        assert_eq!(partition_for("group", 50), 98629247 % 50);
        assert_eq!(partition_for("", 50), 0);
        for g in ["a", "verifier", "consumer-group-ü"] {
            assert!((0..50).contains(&partition_for(g, 50)));
        }
    }

    fn committed(offset: i64) -> Committed {
        Committed {
            offset,
            leader_epoch: 0,
            metadata: String::new(),
        }
    }

    #[test]
    fn replay_keeps_the_latest_value_and_tombstones_remove() {
        let mut r = Replay::default();
        let ok = |k: Result<Bytes>| k.unwrap();
        assert!(r.apply(
            ok(offset_key("g", "t", 0)),
            Some(ok(offset_value(&committed(1), 0)))
        ));
        assert!(r.apply(
            ok(offset_key("g", "t", 0)),
            Some(ok(offset_value(&committed(5), 0)))
        ));
        assert!(r.apply(
            ok(offset_key("g", "t", 1)),
            Some(ok(offset_value(&committed(2), 0)))
        ));
        assert!(r.apply(ok(offset_key("g", "t", 1)), None));
        let rec = GroupRecord {
            protocol_type: "consumer".into(),
            generation: 1,
            ..GroupRecord::default()
        };
        let rec2 = GroupRecord {
            generation: 2,
            ..rec.clone()
        };
        assert!(r.apply(ok(group_key("g")), Some(ok(group_value(&rec)))));
        assert!(r.apply(ok(group_key("g")), Some(ok(group_value(&rec2)))));
        assert!(r.apply(ok(group_key("gone")), Some(ok(group_value(&rec)))));
        assert!(r.apply(ok(group_key("gone")), None));
        assert_eq!(r.offsets["g"].len(), 1);
        assert_eq!(r.offsets["g"][&("t".to_string(), 0)].offset, 5);
        assert_eq!(r.groups.len(), 1);
        assert_eq!(r.groups["g"].generation, 2);
        // Garbage is counted and skipped, and changes nothing.
        assert!(!r.apply(Bytes::from_static(b"\x00\x09junk"), None));
        assert!(!r.apply(ok(group_key("g")), Some(Bytes::from_static(b"\x00\x03"))));
        assert!(!r.apply(ok(offset_key("g", "t", 0)), Some(Bytes::from_static(b"x"))));
        assert_eq!(r.skipped, 3);
        assert_eq!(r.groups["g"].generation, 2);
        assert_eq!(r.offsets["g"][&("t".to_string(), 0)].offset, 5);
    }

    #[test]
    fn the_cache_loads_and_unloads_by_partition() {
        let mut c = OffsetCache::default();
        let n = 4;
        let (a, b) = ("a", "b");
        assert_ne!(partition_for(a, n), partition_for(b, n));
        c.committed(a, vec![("t".into(), 0, committed(1))]);
        c.committed(b, vec![("t".into(), 0, committed(2))]);
        c.unload_partition(partition_for(a, n), n);
        assert!(c.fetch(a).is_empty());
        assert_eq!(c.fetch(b)[0].2.offset, 2);
        let mut loaded = HashMap::new();
        loaded.insert(
            a.to_string(),
            GroupOffsets::from([(("t".to_string(), 3), committed(9))]),
        );
        c.load_partition(partition_for(a, n), n, loaded);
        assert_eq!(c.fetch(a), vec![("t".to_string(), 3, committed(9))]);
        assert_eq!(c.remove_group(a), vec![("t".to_string(), 3)]);
        assert!(c.fetch(a).is_empty());
    }
}
