//! Committed consumer offsets (seed §7.5), stored as records in the internal `__consumer_offsets`
//! topic so that commits are replicated like any other data (rule C1).
//!
//! A group's offsets live in partition `abs(javaHashCode(group.id)) % partitions` (Kafka's rule),
//! whose leader is the group's coordinator. Record layout follows Kafka's offset-commit key (v1)
//! and value (v3) so Kafka users recognise it:
//!   key   = version:i16=1, group:str16, topic:str16, partition:i32
//!   value = version:i16=3, offset:i64, leader_epoch:i32, metadata:str16, commit_timestamp:i64
//! The latest value per key wins; the cache is rebuilt by replaying the partition when it loads.
//! Group membership (join/sync/heartbeat) comes with the consumer-group issue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use brook_log::record::{BatchBuilder, decode_records};
use brook_log::{batch, lock};
use brook_proto::ErrorCode;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{BrokerError, Result};
use crate::partition::Partition;

/// The internal topic committed offsets are stored in (Kafka's name).
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

/// One committed offset of a group for one partition (the value of an OffsetCommit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The committed offset: the next offset the group will consume (Kafka's convention).
    pub offset: i64,
    /// The leader epoch of the last consumed record, for truncation detection (KIP-320); -1 if
    /// the client did not say.
    pub leader_epoch: i32,
    /// Free-form client metadata stored with the offset.
    pub metadata: String,
}

type GroupOffsets = HashMap<(String, i32), Committed>;

/// The committed-offset cache of the `__consumer_offsets` partitions this broker has loaded:
/// the latest value per (group, topic, partition). The log is the truth; the cache is rebuilt
/// from it by [`GroupCoordinator::load`].
#[derive(Debug, Default)]
pub struct GroupCoordinator {
    /// group → (topic, partition) → committed offset.
    cache: Mutex<HashMap<String, GroupOffsets>>,
}

impl GroupCoordinator {
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, GroupOffsets>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replays one `__consumer_offsets` partition into the cache (on load / becoming leader).
    pub fn load(&self, partition: &Partition) -> Result<usize> {
        let log = partition.log().clone();
        let mut offset = lock(&log).log_start_offset();
        let mut loaded = 0;
        loop {
            let chunk = lock(&log).read(offset, 1 << 20)?;
            if chunk.is_empty() {
                return Ok(loaded);
            }
            for item in batch::batches(&chunk) {
                let (pos, h) = item?;
                for r in decode_records(&chunk.slice(pos..pos + h.size()))? {
                    let (Some(key), Some(value)) = (r.key, r.value) else {
                        continue;
                    };
                    match (decode_key(key), decode_value(value)) {
                        (Some((g, t, p)), Some(c)) => {
                            self.cache().entry(g).or_default().insert((t, p), c);
                            loaded += 1;
                        }
                        _ => tracing::warn!(
                            offset = r.offset,
                            "skipping unreadable offset-commit record"
                        ),
                    }
                }
                offset = h.next_offset();
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
            let key = encode_key(group, topic, *partition)?;
            let value = encode_value(c, now_ms)?;
            b.append(now_ms, Some(&key), Some(&value), &[]);
        }
        Ok(b.build())
    }

    /// Records offsets that were durably appended.
    pub fn committed(&self, group: &str, offsets: Vec<(String, i32, Committed)>) {
        let mut cache = self.cache();
        let g = cache.entry(group.to_string()).or_default();
        for (t, p, c) in offsets {
            g.insert((t, p), c);
        }
    }

    /// The committed offsets of `group`, every partition it committed for, sorted by (topic,
    /// partition); empty for a group with no commits.
    pub fn fetch(&self, group: &str) -> Vec<(String, i32, Committed)> {
        let cache = self.cache();
        let mut out: Vec<_> = cache
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

    /// Forgets offsets of a deleted topic.
    pub fn remove_topic(&self, topic: &str) {
        for g in self.cache().values_mut() {
            g.retain(|(t, _), _| t != topic);
        }
    }
}

fn put_str(buf: &mut BytesMut, s: &str) -> Result<()> {
    let len = i16::try_from(s.len()).map_err(|_| {
        BrokerError::new(ErrorCode::InvalidRequest, "string longer than 32767 bytes")
    })?;
    buf.put_i16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

fn get_str(buf: &mut Bytes) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = usize::try_from(buf.get_i16()).ok()?;
    if buf.remaining() < len {
        return None;
    }
    String::from_utf8(buf.split_to(len).to_vec()).ok()
}

fn encode_key(group: &str, topic: &str, partition: i32) -> Result<Bytes> {
    let mut b = BytesMut::new();
    b.put_i16(1);
    put_str(&mut b, group)?;
    put_str(&mut b, topic)?;
    b.put_i32(partition);
    Ok(b.freeze())
}

fn decode_key(mut b: Bytes) -> Option<(String, String, i32)> {
    if b.remaining() < 2 || b.get_i16() != 1 {
        return None;
    }
    let g = get_str(&mut b)?;
    let t = get_str(&mut b)?;
    (b.remaining() == 4).then(|| (g, t, b.get_i32()))
}

fn encode_value(c: &Committed, now_ms: i64) -> Result<Bytes> {
    let mut b = BytesMut::new();
    b.put_i16(3);
    b.put_i64(c.offset);
    b.put_i32(c.leader_epoch);
    put_str(&mut b, &c.metadata)?;
    b.put_i64(now_ms);
    Ok(b.freeze())
}

fn decode_value(mut b: Bytes) -> Option<Committed> {
    if b.remaining() < 14 || b.get_i16() != 3 {
        return None;
    }
    let offset = b.get_i64();
    let leader_epoch = b.get_i32();
    let metadata = get_str(&mut b)?;
    (b.remaining() == 8).then_some(Committed {
        offset,
        leader_epoch,
        metadata,
    })
}

/// A shared handle.
pub type SharedCoordinator = Arc<GroupCoordinator>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_for_matches_java_string_hash_code() {
        // "group".hashCode() = 98629247 in Java.
        assert_eq!(partition_for("group", 50), 98629247 % 50);
        assert_eq!(partition_for("", 50), 0);
        for g in ["a", "verifier", "consumer-group-ü"] {
            assert!((0..50).contains(&partition_for(g, 50)));
        }
    }

    #[test]
    fn keys_and_values_round_trip_and_garbage_is_rejected() {
        let k = encode_key("g", "orders", 3).unwrap();
        assert_eq!(decode_key(k), Some(("g".into(), "orders".into(), 3)));
        let c = Committed {
            offset: 42,
            leader_epoch: 1,
            metadata: "m".into(),
        };
        assert_eq!(decode_value(encode_value(&c, 7).unwrap()), Some(c));
        assert_eq!(decode_key(Bytes::from_static(b"\x00\x01\x7f\xff")), None);
        assert_eq!(decode_value(Bytes::from_static(b"junk")), None);
    }
}
