//! The record layouts of `__consumer_offsets`, as Kafka writes them, so Kafka users recognise
//! the topic's content and one replay rebuilds both committed offsets and groups:
//!
//! ```text
//! offset commit  key   v1: version:i16=1, group:str16, topic:str16, partition:i32
//!                value v3: version:i16=3, offset:i64, leader_epoch:i32, metadata:str16,
//!                          commit_timestamp:i64
//! group metadata key   v2: version:i16=2, group:str16
//!                value v3: version:i16=3, protocol_type:str16, generation:i32, protocol:str16?,
//!                          leader:str16?, current_state_timestamp:i64,
//!                          members:[member_id:str16, group_instance_id:str16?, client_id:str16,
//!                                   client_host:str16, rebalance_timeout:i32,
//!                                   session_timeout:i32, subscription:bytes32,
//!                                   assignment:bytes32]
//! ```
//!
//! `str16` is an i16 length and UTF-8 bytes (`str16?`: length -1 is null), `bytes32` an i32
//! length and bytes, arrays an i32 count. A null value is a tombstone: the key's offset or group
//! is gone. Group values v0–v2 (Kafka's older layouts: no instance id, no rebalance timeout,
//! no state timestamp) are read too; Brook writes v3. Decoders return `None` on anything
//! malformed (the loader skips such records with a warning) and never panic.

use brook_proto::ErrorCode;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{BrokerError, Result};

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

/// A group's metadata as stored (Kafka's GroupMetadataValue v3): the generation and the members
/// with their subscription (metadata of the chosen protocol) and assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupRecord {
    /// The protocol type the members share ("consumer"); empty if the group never had one.
    pub protocol_type: String,
    /// The generation this record describes.
    pub generation: i32,
    /// The protocol chosen for the generation; `None` for an empty group.
    pub protocol: Option<String>,
    /// The leader's member id; `None` for an empty group.
    pub leader: Option<String>,
    /// When the group entered its current state (ms since the Unix epoch); -1 if unknown.
    pub current_state_timestamp: i64,
    /// The members of the generation.
    pub members: Vec<MemberRecord>,
}

/// One member in a [`GroupRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberRecord {
    /// The member id the coordinator handed out.
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// Where the member connected from, as Kafka prints it (`/127.0.0.1`).
    pub client_host: String,
    /// The member's rebalance timeout (ms).
    pub rebalance_timeout_ms: i32,
    /// The member's session timeout (ms).
    pub session_timeout_ms: i32,
    /// The member's metadata for the chosen protocol (opaque bytes).
    pub subscription: Bytes,
    /// The assignment the leader gave it (opaque bytes).
    pub assignment: Bytes,
}

/// The key of a `__consumer_offsets` record, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// An offset commit (key v0/v1): group, topic, partition.
    Offset {
        /// The group id.
        group: String,
        /// The topic committed for.
        topic: String,
        /// The partition committed for.
        partition: i32,
    },
    /// Group metadata (key v2).
    Group {
        /// The group id.
        group: String,
    },
}

impl RecordKey {
    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            RecordKey::Offset { group, .. } | RecordKey::Group { group } => group,
        }
    }
}

fn too_long(what: &str) -> BrokerError {
    BrokerError::new(
        ErrorCode::InvalidRequest,
        format!("{what} longer than 32767 bytes"),
    )
}

fn put_str(buf: &mut BytesMut, s: &str) -> Result<()> {
    let len = i16::try_from(s.len()).map_err(|_| too_long("string"))?;
    buf.put_i16(len);
    buf.put_slice(s.as_bytes());
    Ok(())
}

fn put_nullable_str(buf: &mut BytesMut, s: Option<&str>) -> Result<()> {
    match s {
        Some(s) => put_str(buf, s),
        None => {
            buf.put_i16(-1);
            Ok(())
        }
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) -> Result<()> {
    let len = i32::try_from(b.len()).map_err(|_| {
        BrokerError::new(ErrorCode::InvalidRequest, "bytes field longer than 2 GiB")
    })?;
    buf.put_i32(len);
    buf.put_slice(b);
    Ok(())
}

fn get_i16(buf: &mut Bytes) -> Option<i16> {
    (buf.remaining() >= 2).then(|| buf.get_i16())
}

fn get_i32(buf: &mut Bytes) -> Option<i32> {
    (buf.remaining() >= 4).then(|| buf.get_i32())
}

fn get_i64(buf: &mut Bytes) -> Option<i64> {
    (buf.remaining() >= 8).then(|| buf.get_i64())
}

fn get_nullable_str(buf: &mut Bytes) -> Option<Option<String>> {
    let len = get_i16(buf)?;
    if len == -1 {
        return Some(None);
    }
    let len = usize::try_from(len).ok()?;
    if buf.remaining() < len {
        return None;
    }
    String::from_utf8(buf.split_to(len).to_vec()).ok().map(Some)
}

fn get_str(buf: &mut Bytes) -> Option<String> {
    get_nullable_str(buf)?
}

fn get_bytes(buf: &mut Bytes) -> Option<Bytes> {
    let len = usize::try_from(get_i32(buf)?).ok()?;
    (buf.remaining() >= len).then(|| buf.split_to(len))
}

/// The key of an offset commit (v1).
pub fn offset_key(group: &str, topic: &str, partition: i32) -> Result<Bytes> {
    let mut b = BytesMut::new();
    b.put_i16(1);
    put_str(&mut b, group)?;
    put_str(&mut b, topic)?;
    b.put_i32(partition);
    Ok(b.freeze())
}

/// The value of an offset commit (v3), stamped `now_ms`.
pub fn offset_value(c: &Committed, now_ms: i64) -> Result<Bytes> {
    let mut b = BytesMut::new();
    b.put_i16(3);
    b.put_i64(c.offset);
    b.put_i32(c.leader_epoch);
    put_str(&mut b, &c.metadata)?;
    b.put_i64(now_ms);
    Ok(b.freeze())
}

/// The key of a group's metadata (v2).
pub fn group_key(group: &str) -> Result<Bytes> {
    let mut b = BytesMut::new();
    b.put_i16(2);
    put_str(&mut b, group)?;
    Ok(b.freeze())
}

/// The value of a group's metadata (v3).
pub fn group_value(g: &GroupRecord) -> Result<Bytes> {
    let mut b = BytesMut::new();
    b.put_i16(3);
    put_str(&mut b, &g.protocol_type)?;
    b.put_i32(g.generation);
    put_nullable_str(&mut b, g.protocol.as_deref())?;
    put_nullable_str(&mut b, g.leader.as_deref())?;
    b.put_i64(g.current_state_timestamp);
    let count = i32::try_from(g.members.len()).map_err(|_| too_long("member list"))?;
    b.put_i32(count);
    for m in &g.members {
        put_str(&mut b, &m.member_id)?;
        put_nullable_str(&mut b, m.group_instance_id.as_deref())?;
        put_str(&mut b, &m.client_id)?;
        put_str(&mut b, &m.client_host)?;
        b.put_i32(m.rebalance_timeout_ms);
        b.put_i32(m.session_timeout_ms);
        put_bytes(&mut b, &m.subscription)?;
        put_bytes(&mut b, &m.assignment)?;
    }
    Ok(b.freeze())
}

/// Decodes a record key: offset keys v0/v1, group keys v2; `None` for anything else.
pub fn decode_key(mut b: Bytes) -> Option<RecordKey> {
    match get_i16(&mut b)? {
        0 | 1 => {
            let group = get_str(&mut b)?;
            let topic = get_str(&mut b)?;
            let partition = get_i32(&mut b)?;
            b.is_empty().then_some(RecordKey::Offset {
                group,
                topic,
                partition,
            })
        }
        2 => {
            let group = get_str(&mut b)?;
            b.is_empty().then_some(RecordKey::Group { group })
        }
        _ => None,
    }
}

/// Decodes an offset-commit value (v3); `None` if malformed.
pub fn decode_offset_value(mut b: Bytes) -> Option<Committed> {
    if get_i16(&mut b)? != 3 {
        return None;
    }
    let offset = get_i64(&mut b)?;
    let leader_epoch = get_i32(&mut b)?;
    let metadata = get_str(&mut b)?;
    get_i64(&mut b)?;
    b.is_empty().then_some(Committed {
        offset,
        leader_epoch,
        metadata,
    })
}

/// Decodes a group-metadata value (v0–v3); `None` if malformed.
pub fn decode_group_value(mut b: Bytes) -> Option<GroupRecord> {
    let version = get_i16(&mut b)?;
    if !(0..=3).contains(&version) {
        return None;
    }
    let protocol_type = get_str(&mut b)?;
    let generation = get_i32(&mut b)?;
    let protocol = get_nullable_str(&mut b)?;
    let leader = get_nullable_str(&mut b)?;
    let current_state_timestamp = if version >= 2 { get_i64(&mut b)? } else { -1 };
    let count = usize::try_from(get_i32(&mut b)?).ok()?;
    // Each member takes at least 24 bytes: a count larger than that is garbage, and must not
    // make us allocate for it.
    if count > b.remaining() / 24 + 1 {
        return None;
    }
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = get_str(&mut b)?;
        let group_instance_id = if version >= 3 {
            get_nullable_str(&mut b)?
        } else {
            None
        };
        let client_id = get_str(&mut b)?;
        let client_host = get_str(&mut b)?;
        let rebalance_timeout_ms = if version >= 1 { get_i32(&mut b)? } else { -1 };
        let session_timeout_ms = get_i32(&mut b)?;
        let rebalance_timeout_ms = if version >= 1 {
            rebalance_timeout_ms
        } else {
            session_timeout_ms
        };
        let subscription = get_bytes(&mut b)?;
        let assignment = get_bytes(&mut b)?;
        members.push(MemberRecord {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    b.is_empty().then_some(GroupRecord {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GroupRecord {
        GroupRecord {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("c-1".into()),
            current_state_timestamp: 1234,
            members: vec![
                MemberRecord {
                    member_id: "c-1".into(),
                    group_instance_id: None,
                    client_id: "c".into(),
                    client_host: "/127.0.0.1".into(),
                    rebalance_timeout_ms: 300_000,
                    session_timeout_ms: 45_000,
                    subscription: Bytes::from_static(b"sub"),
                    assignment: Bytes::from_static(b"asg"),
                },
                MemberRecord {
                    member_id: "i-2".into(),
                    group_instance_id: Some("i".into()),
                    client_id: "c2".into(),
                    client_host: "/10.0.0.2".into(),
                    rebalance_timeout_ms: 1000,
                    session_timeout_ms: 500,
                    subscription: Bytes::new(),
                    assignment: Bytes::new(),
                },
            ],
        }
    }

    #[test]
    fn offset_keys_and_values_round_trip_and_garbage_is_rejected() {
        let k = offset_key("g", "orders", 3).unwrap();
        assert_eq!(
            decode_key(k),
            Some(RecordKey::Offset {
                group: "g".into(),
                topic: "orders".into(),
                partition: 3
            })
        );
        let c = Committed {
            offset: 42,
            leader_epoch: 1,
            metadata: "m".into(),
        };
        assert_eq!(decode_offset_value(offset_value(&c, 7).unwrap()), Some(c));
        assert_eq!(decode_key(Bytes::from_static(b"\x00\x01\x7f\xff")), None);
        assert_eq!(decode_offset_value(Bytes::from_static(b"junk")), None);
    }

    #[test]
    fn group_keys_and_values_round_trip() {
        let k = group_key("payments").unwrap();
        assert_eq!(&k[..2], &[0, 2], "key version 2");
        assert_eq!(
            decode_key(k),
            Some(RecordKey::Group {
                group: "payments".into()
            })
        );
        let g = sample();
        let v = group_value(&g).unwrap();
        assert_eq!(&v[..2], &[0, 3], "value version 3");
        assert_eq!(decode_group_value(v), Some(g));
        let empty = GroupRecord {
            protocol_type: "consumer".into(),
            generation: 3,
            current_state_timestamp: -1,
            ..GroupRecord::default()
        };
        assert_eq!(
            decode_group_value(group_value(&empty).unwrap()),
            Some(empty)
        );
    }

    #[test]
    fn older_group_value_versions_are_read() {
        // v0: no rebalance timeout (it is the session timeout), no timestamp, no instance id.
        let mut b = BytesMut::new();
        b.put_i16(0);
        put_str(&mut b, "consumer").unwrap();
        b.put_i32(2);
        put_nullable_str(&mut b, Some("range")).unwrap();
        put_nullable_str(&mut b, Some("m")).unwrap();
        b.put_i32(1);
        put_str(&mut b, "m").unwrap();
        put_str(&mut b, "c").unwrap();
        put_str(&mut b, "/h").unwrap();
        b.put_i32(10_000);
        put_bytes(&mut b, b"s").unwrap();
        put_bytes(&mut b, b"a").unwrap();
        let g = decode_group_value(b.freeze()).unwrap();
        assert_eq!(g.generation, 2);
        assert_eq!(g.current_state_timestamp, -1);
        assert_eq!(g.members[0].rebalance_timeout_ms, 10_000);
        assert_eq!(g.members[0].group_instance_id, None);
        assert_eq!(g.members[0].assignment, Bytes::from_static(b"a"));
    }

    #[test]
    fn garbage_group_records_are_rejected_without_panicking() {
        let v = group_value(&sample()).unwrap();
        // Every truncation, and trailing bytes, are refused.
        for cut in 0..v.len() {
            assert_eq!(decode_group_value(v.slice(..cut)), None, "cut at {cut}");
        }
        let mut long = BytesMut::from(&v[..]);
        long.put_u8(0);
        assert_eq!(decode_group_value(long.freeze()), None);
        // Unknown versions, absurd member counts, negative lengths.
        assert_eq!(decode_group_value(Bytes::from_static(b"\x00\x09")), None);
        let mut huge = BytesMut::new();
        huge.put_i16(3);
        put_str(&mut huge, "consumer").unwrap();
        huge.put_i32(1);
        huge.put_i16(-1);
        huge.put_i16(-1);
        huge.put_i64(0);
        huge.put_i32(i32::MAX);
        assert_eq!(decode_group_value(huge.freeze()), None);
        assert_eq!(decode_key(Bytes::from_static(b"\x00\x02\xff\xfe")), None);
        assert_eq!(decode_key(Bytes::from_static(b"\x00\x02\x00\x01gX")), None);
        assert_eq!(decode_key(Bytes::from_static(b"\x00\x07")), None);
        assert_eq!(decode_key(Bytes::new()), None);
    }

    #[test]
    fn overlong_strings_are_invalid_request() {
        let long = "x".repeat(40_000);
        assert_eq!(
            group_key(&long).unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
        let mut g = sample();
        g.members[0].client_id = long;
        assert_eq!(
            group_value(&g).unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
    }
}
