//! Kafka's variable-length integers, as used inside v2 records (`ByteUtils.writeVarint`,
//! `readVarint`, `writeVarlong`, `readVarlong`): the value is zigzag-encoded and written as
//! little-endian base-128 groups, the high bit of each byte meaning "more follows".
//!
//! This module owns encoding, encoded-size computation and bounds-checked decoding. Every read of
//! a record body goes through here, so a truncated or overlong varint is always a
//! `CorruptMessage`, never a panic or a read past the end of the buffer.

use crate::error::{LogError, Result};

/// A 32-bit varint never takes more than 5 bytes (Kafka rejects a 6th).
const MAX_VARINT_LEN: usize = 5;
/// A 64-bit varlong never takes more than 10 bytes (Kafka rejects an 11th).
const MAX_VARLONG_LEN: usize = 10;

fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_unsigned(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push((u as u8 & 0x7f) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

fn unsigned_len(u: u64) -> usize {
    // `| 1` so that zero still needs one byte.
    let bits = 64 - (u | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v` as a zigzag varint (1–5 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, u64::from(zigzag32(v)));
}

/// Appends `v` as a zigzag varlong (1–10 bytes).
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, zigzag64(v));
}

/// Bytes `put_varint(v)` writes (Kafka's `ByteUtils.sizeOfVarint`).
pub(crate) fn varint_len(v: i32) -> usize {
    unsigned_len(u64::from(zigzag32(v)))
}

/// Bytes `put_varlong(v)` writes (Kafka's `ByteUtils.sizeOfVarlong`).
pub(crate) fn varlong_len(v: i64) -> usize {
    unsigned_len(zigzag64(v))
}

/// Reads up to `max_len` base-128 groups starting at `*pos`, advancing `*pos` only on success.
///
/// Like Kafka, bits of the last allowed byte that do not fit the target width are shifted out
/// rather than rejected; only a continuation bit on that last byte is an error.
///
/// Inlined with a fast path for one- and two-byte encodings (unsigned values below 2^14): in a
/// batch of small records nearly every length, delta and count is one of those, and validation
/// decodes about seven varints per record. Everything else takes the general loop, out of line.
#[inline]
fn read_unsigned(buf: &[u8], pos: &mut usize, max_len: usize, what: &str) -> Result<u64> {
    let p = *pos;
    if let Some(&b0) = buf.get(p) {
        if b0 & 0x80 == 0 {
            *pos = p + 1;
            return Ok(u64::from(b0));
        }
        // `p < buf.len()`, so `p + 1` cannot overflow; `max_len` is at least 5.
        if let Some(&b1) = buf.get(p + 1) {
            if b1 & 0x80 == 0 {
                *pos = p + 2;
                return Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7);
            }
        }
    }
    let (value, next) = read_unsigned_slow(buf, p, max_len, what)?;
    *pos = next;
    Ok(value)
}

/// The general case of [`read_unsigned`]: three or more bytes, truncated or overlong input.
/// Returns the value and the position after it. Takes the position by value so that the
/// caller's stays in a register: it is the dependency chain the whole record walk runs along.
#[inline(never)]
fn read_unsigned_slow(buf: &[u8], pos: usize, max_len: usize, what: &str) -> Result<(u64, usize)> {
    let rest = buf.get(pos..).unwrap_or(&[]);
    let mut value: u64 = 0;
    for (i, &b) in rest.iter().take(max_len).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, pos + i + 1));
        }
    }
    if rest.len() < max_len {
        Err(LogError::corrupt(format!(
            "truncated {what} at position {pos}"
        )))
    } else {
        Err(LogError::corrupt(format!(
            "{what} at position {pos} is longer than {max_len} bytes"
        )))
    }
}

/// Decodes a zigzag varint at `*pos` and advances past it.
#[inline]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32> {
    // Truncation to 32 bits mirrors Kafka, whose `int` arithmetic drops the 5th byte's high bits.
    let raw = read_unsigned(buf, pos, MAX_VARINT_LEN, "varint")? as u32;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Decodes a zigzag varlong at `*pos` and advances past it.
#[inline]
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64> {
    let raw = read_unsigned(buf, pos, MAX_VARLONG_LEN, "varlong")?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc32(v: i32) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        out
    }

    fn enc64(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        put_varlong(&mut out, v);
        out
    }

    /// The vectors of Kafka's `ByteUtilsTest.testVarintSerde` / `testVarlongSerde`.
    #[test]
    fn kafka_known_encodings() {
        let cases32: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (-65, &[0x81, 0x01]),
            (8191, &[0xfe, 0x7f]),
            (-8192, &[0xff, 0x7f]),
            (8192, &[0x80, 0x80, 0x01]),
            (-8193, &[0x81, 0x80, 0x01]),
            (1_048_575, &[0xfe, 0xff, 0x7f]),
            (-1_048_576, &[0xff, 0xff, 0x7f]),
            (1_048_576, &[0x80, 0x80, 0x80, 0x01]),
            (-1_048_577, &[0x81, 0x80, 0x80, 0x01]),
            (134_217_727, &[0xfe, 0xff, 0xff, 0x7f]),
            (-134_217_728, &[0xff, 0xff, 0xff, 0x7f]),
            (134_217_728, &[0x80, 0x80, 0x80, 0x80, 0x01]),
            (-134_217_729, &[0x81, 0x80, 0x80, 0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, bytes) in cases32 {
            assert_eq!(enc32(v), bytes, "encode {v}");
            assert_eq!(varint_len(v), bytes.len(), "size of {v}");
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos).unwrap(), v, "decode {v}");
            assert_eq!(pos, bytes.len());
            // The same values as varlongs have the same encoding.
            assert_eq!(enc64(i64::from(v)), bytes);
        }
        assert_eq!(
            enc64(i64::MAX),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        assert_eq!(
            enc64(i64::MIN),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn overlong_and_truncated_are_corrupt() {
        let mut pos = 0;
        let six = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(
            read_varint(&six, &mut pos),
            Err(LogError::CorruptMessage(_))
        ));
        assert_eq!(pos, 0, "position must not move on error");
        let eleven = [0xff; 11];
        assert!(matches!(
            read_varlong(&eleven, &mut pos),
            Err(LogError::CorruptMessage(_))
        ));
        for cut in [&[][..], &[0x80], &[0xff, 0xff, 0xff, 0xff]] {
            assert!(matches!(
                read_varint(cut, &mut 0),
                Err(LogError::CorruptMessage(_))
            ));
            assert!(matches!(
                read_varlong(cut, &mut 0),
                Err(LogError::CorruptMessage(_))
            ));
        }
        // A position beyond the end is an error, not a panic.
        assert!(read_varint(&[0x00], &mut 7).is_err());
    }

    #[test]
    fn fifth_byte_high_bits_ignored_like_kafka() {
        // Kafka's `readVarint` computes `b << 28` in 32-bit arithmetic, dropping bits 4..6.
        let mut pos = 0;
        let v = read_varint(&[0xfe, 0xff, 0xff, 0xff, 0x7f], &mut pos).unwrap();
        assert_eq!(v, i32::MAX);
    }

    proptest! {
        #[test]
        fn varint_round_trip(v in any::<i32>()) {
            let bytes = enc32(v);
            prop_assert_eq!(bytes.len(), varint_len(v));
            let mut pos = 0;
            prop_assert_eq!(read_varint(&bytes, &mut pos).unwrap(), v);
            prop_assert_eq!(pos, bytes.len());
        }

        #[test]
        fn varlong_round_trip(v in any::<i64>()) {
            let bytes = enc64(v);
            prop_assert_eq!(bytes.len(), varlong_len(v));
            let mut pos = 0;
            prop_assert_eq!(read_varlong(&bytes, &mut pos).unwrap(), v);
            prop_assert_eq!(pos, bytes.len());
        }

        /// The inlined one- and two-byte fast path must agree with the plain loop (kept here as
        /// the reference) on value, new position and error, wherever the varint starts.
        #[test]
        fn fast_path_matches_reference(bytes in proptest::collection::vec(any::<u8>(), 0..12), start in 0usize..14) {
            for max_len in [MAX_VARINT_LEN, MAX_VARLONG_LEN] {
                let mut fast_pos = start;
                let fast = read_unsigned(&bytes, &mut fast_pos, max_len, "varint");
                let reference = read_unsigned_slow(&bytes, start, max_len, "varint");
                match (fast, reference) {
                    (Ok(v), Ok((want, next))) => {
                        prop_assert_eq!(v, want);
                        prop_assert_eq!(fast_pos, next);
                    }
                    (Err(a), Err(b)) => {
                        prop_assert_eq!(a.to_string(), b.to_string());
                        prop_assert_eq!(fast_pos, start);
                    }
                    (a, b) => prop_assert!(false, "fast {:?} vs reference {:?}", a, b),
                }
            }
        }

        #[test]
        fn decode_arbitrary_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16), start in 0usize..20) {
            let mut pos = start;
            let _ = read_varint(&bytes, &mut pos);
            let mut pos = start;
            let _ = read_varlong(&bytes, &mut pos);
        }
    }
}
