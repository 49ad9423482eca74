//! Kafka's consumer embedded protocol: the bytes a consumer puts in JoinGroup as its member
//! metadata (`ConsumerProtocolSubscription`) and the bytes the group leader hands each member in
//! SyncGroup (`ConsumerProtocolAssignment`). The coordinator never looks inside them (they are
//! opaque to it, as in Kafka); the client's assignors and the admin tools (`brook groups
//! describe`) do. Same layout as Kafka's, so a Kafka client in the same group reads them too:
//!
//! ```text
//! Subscription  version:i16, topics:[str16], user_data:bytes32?,
//!               owned_partitions:[topic:str16, partitions:[i32]]   (v1+)
//!               generation_id:i32                                  (v2+)
//!               rack_id:str16?                                     (v3+)
//! Assignment    version:i16, assigned:[topic:str16, partitions:[i32]], user_data:bytes32?
//! ```
//!
//! Arrays are an i32 count then the items; `?` marks a nullable field (-1 length = null).
//! Versions above the highest known are read as that version, ignoring trailing fields (Kafka's
//! forward compatibility rule for this protocol).

use std::collections::BTreeMap;

use brook_proto::ErrorCode;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{ClientError, Result};
use crate::topic_partition::TopicPartition;

/// The group protocol type consumers use (JoinGroup `protocol_type`).
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The version this client writes for subscriptions (owned partitions and generation, which
/// cooperative-sticky needs).
const SUBSCRIPTION_VERSION: i16 = 2;

/// What a member tells the group leader when it joins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// Assignor-specific data (`None` = null).
    pub user_data: Option<Bytes>,
    /// The partitions the member owns now (cooperative rebalancing keeps them if it can).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which the member got `owned_partitions`; -1 if none.
    pub generation_id: i32,
    /// The member's `client.rack`, if set.
    pub rack_id: Option<String>,
}

/// What the group leader gives one member in SyncGroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// The partitions the member is to consume.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data (`None` = null).
    pub user_data: Option<Bytes>,
}

impl Subscription {
    /// The subscription in Kafka's layout (version 2).
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(SUBSCRIPTION_VERSION);
        b.put_i32(self.topics.len() as i32);
        for t in &self.topics {
            put_str(&mut b, t);
        }
        put_bytes(&mut b, self.user_data.as_ref());
        put_partitions(&mut b, &self.owned_partitions);
        b.put_i32(self.generation_id);
        b.freeze()
    }

    /// Reads a subscription of any version; `INCONSISTENT_GROUP_PROTOCOL` for bytes that are
    /// not one.
    pub fn decode(bytes: &[u8]) -> Result<Subscription> {
        let mut b = bytes;
        let version = get_i16(&mut b)?;
        if version < 0 {
            return Err(bad(format!("subscription version {version}")));
        }
        let n = get_len(&mut b)?;
        let mut topics = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            topics.push(get_str(&mut b)?);
        }
        let user_data = get_bytes(&mut b)?;
        let owned_partitions = if version >= 1 {
            get_partitions(&mut b)?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 { get_i32(&mut b)? } else { -1 };
        let rack_id = if version >= 3 {
            get_nullable_str(&mut b)?
        } else {
            None
        };
        Ok(Subscription {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }
}

impl Assignment {
    /// The assignment in Kafka's layout (version 1: the layout is the same as version 0).
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(1);
        put_partitions(&mut b, &self.partitions);
        put_bytes(&mut b, self.user_data.as_ref());
        b.freeze()
    }

    /// Reads an assignment of any version. An empty byte string is an empty assignment (what
    /// the coordinator hands a member the leader gave nothing).
    pub fn decode(bytes: &[u8]) -> Result<Assignment> {
        if bytes.is_empty() {
            return Ok(Assignment::default());
        }
        let mut b = bytes;
        let version = get_i16(&mut b)?;
        if version < 0 {
            return Err(bad(format!("assignment version {version}")));
        }
        let partitions = get_partitions(&mut b)?;
        let user_data = get_bytes(&mut b)?;
        Ok(Assignment {
            partitions,
            user_data,
        })
    }
}

/// Bytes that are not the consumer protocol: the member speaks something else under the
/// "consumer" protocol type (Kafka's client throws a SchemaException here).
fn bad(what: String) -> ClientError {
    ClientError::kafka(
        ErrorCode::InconsistentGroupProtocol,
        format!("malformed consumer protocol data: {what}"),
    )
}

fn put_str(b: &mut BytesMut, s: &str) {
    // Topic names are at most 249 bytes (validated by the broker), so the i16 length holds.
    let len = s.len().min(i16::MAX as usize);
    b.put_i16(len as i16);
    b.put_slice(&s.as_bytes()[..len]);
}

fn put_bytes(b: &mut BytesMut, data: Option<&Bytes>) {
    match data {
        None => b.put_i32(-1),
        Some(d) => {
            b.put_i32(d.len() as i32);
            b.put_slice(d);
        }
    }
}

/// Partitions grouped by topic (sorted), as Kafka writes them.
fn put_partitions(b: &mut BytesMut, tps: &[TopicPartition]) {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    b.put_i32(by_topic.len() as i32);
    for (topic, mut parts) in by_topic {
        parts.sort_unstable();
        put_str(b, topic);
        b.put_i32(parts.len() as i32);
        for p in parts {
            b.put_i32(p);
        }
    }
}

fn get_i16(b: &mut &[u8]) -> Result<i16> {
    if b.remaining() < 2 {
        return Err(bad("truncated".into()));
    }
    Ok(b.get_i16())
}

fn get_i32(b: &mut &[u8]) -> Result<i32> {
    if b.remaining() < 4 {
        return Err(bad("truncated".into()));
    }
    Ok(b.get_i32())
}

/// An array count: never negative, and never more items than bytes left (every item takes at
/// least one byte), so garbage cannot ask for a huge vector.
fn get_len(b: &mut &[u8]) -> Result<usize> {
    let n = get_i32(b)?;
    let n = usize::try_from(n).map_err(|_| bad(format!("array length {n}")))?;
    if n > b.remaining() {
        return Err(bad(format!("array length {n} beyond the data")));
    }
    Ok(n)
}

fn get_str(b: &mut &[u8]) -> Result<String> {
    get_nullable_str(b)?.ok_or_else(|| bad("null string".into()))
}

fn get_nullable_str(b: &mut &[u8]) -> Result<Option<String>> {
    let len = get_i16(b)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if b.remaining() < len {
        return Err(bad("truncated string".into()));
    }
    let s = std::str::from_utf8(&b[..len])
        .map_err(|_| bad("string is not UTF-8".into()))?
        .to_string();
    b.advance(len);
    Ok(Some(s))
}

fn get_bytes(b: &mut &[u8]) -> Result<Option<Bytes>> {
    let len = get_i32(b)?;
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if b.remaining() < len {
        return Err(bad("truncated bytes".into()));
    }
    let out = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Ok(Some(out))
}

fn get_partitions(b: &mut &[u8]) -> Result<Vec<TopicPartition>> {
    let topics = get_len(b)?;
    let mut out = Vec::new();
    for _ in 0..topics {
        let topic = get_str(b)?;
        let n = get_len(b)?;
        for _ in 0..n {
            out.push(TopicPartition::new(topic.clone(), get_i32(b)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn subscription_round_trips() {
        let s = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"u")),
            owned_partitions: vec![tp("a", 1), tp("a", 0), tp("b", 2)],
            generation_id: 7,
            rack_id: None,
        };
        let d = Subscription::decode(&s.encode()).unwrap();
        assert_eq!(d.topics, s.topics);
        assert_eq!(d.user_data, s.user_data);
        // Written grouped by topic, partitions sorted.
        assert_eq!(d.owned_partitions, vec![tp("a", 0), tp("a", 1), tp("b", 2)]);
        assert_eq!(d.generation_id, 7);
    }

    #[test]
    fn version_0_subscription_from_an_old_client_reads() {
        // version 0, topics ["t"], user_data null
        let bytes = [0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff];
        let d = Subscription::decode(&bytes).unwrap();
        assert_eq!(d.topics, vec!["t".to_string()]);
        assert_eq!(d.user_data, None);
        assert!(d.owned_partitions.is_empty());
        assert_eq!(d.generation_id, -1);
    }

    #[test]
    fn assignment_round_trips_and_empty_bytes_are_empty() {
        let a = Assignment {
            partitions: vec![tp("x", 3), tp("x", 1)],
            user_data: None,
        };
        let d = Assignment::decode(&a.encode()).unwrap();
        assert_eq!(d.partitions, vec![tp("x", 1), tp("x", 3)]);
        assert_eq!(Assignment::decode(&[]).unwrap(), Assignment::default());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic_or_a_huge_allocation() {
        for bytes in [
            &[0u8][..],
            &[0, 1, 0x7f, 0xff, 0xff, 0xff][..],
            &[0, 1, 0xff, 0xff, 0xff, 0xfe][..],
            &[0, 0, 0, 0, 0, 1, 0, 9, b'x'][..],
            &[0xff, 0xff][..],
        ] {
            assert!(Subscription::decode(bytes).is_err(), "{bytes:?}");
            assert!(Assignment::decode(bytes).is_err(), "{bytes:?}");
        }
    }
}
