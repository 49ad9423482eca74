//! Helpers for the codec tests: an encoder written independently of the crate, straight from
//! the S1 layout, so that the tests do not check the code against itself.
#![allow(dead_code, unused_imports)]

pub use brook_log::LogError;
pub use brook_log::batch::{
    self, BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
    NO_SEQUENCE,
};
pub use brook_log::record::{BatchBuilder, Header, Record, decode_records};
pub use bytes::Bytes;
pub use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers: an encoder written independently of the crate, straight from the S1 layout, so that
// tests do not only check the codec against itself.

/// Zigzag varint/varlong (Kafka's ByteUtils); i32 values encode identically either way.
pub fn zz(v: i64) -> Vec<u8> {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::new();
    while u >= 0x80 {
        out.push((u as u8 & 0x7f) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
    out
}

/// A record: varint body length, then the body.
pub fn rec(body: &[u8]) -> Vec<u8> {
    let mut out = zz(body.len() as i64);
    out.extend_from_slice(body);
    out
}

/// The smallest well-formed record body: attributes, timestamp delta 0, `offset_delta`, null key,
/// null value, no headers.
pub fn min_body(offset_delta: i64) -> Vec<u8> {
    let mut b = vec![0, 0];
    b.extend(zz(offset_delta));
    b.extend([1, 1, 0]);
    b
}

/// Frames `records` in a v2 header with a correct CRC, written field by field from S1.
pub fn frame(records: &[u8], count: i32, attributes: i16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0i64.to_be_bytes()); // base offset @0
    b.extend(((49 + records.len()) as i32).to_be_bytes()); // batch length @8
    b.extend((-1i32).to_be_bytes()); // partition leader epoch @12
    b.push(2); // magic @16
    b.extend([0; 4]); // crc @17, filled below
    b.extend(attributes.to_be_bytes()); // @21
    b.extend(count.wrapping_sub(1).to_be_bytes()); // last offset delta @23
    b.extend(1000i64.to_be_bytes()); // base timestamp @27
    b.extend(1000i64.to_be_bytes()); // max timestamp @35
    b.extend((-1i64).to_be_bytes()); // producer id @43
    b.extend((-1i16).to_be_bytes()); // producer epoch @51
    b.extend((-1i32).to_be_bytes()); // base sequence @53
    b.extend(count.to_be_bytes()); // record count @57
    assert_eq!(b.len(), 61);
    b.extend_from_slice(records);
    reseal(&mut b);
    b
}

/// Recomputes the CRC of a (possibly tampered) batch.
pub fn reseal(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

pub fn is_corrupt<T: std::fmt::Debug>(r: Result<T, LogError>) -> bool {
    matches!(r, Err(LogError::CorruptMessage(_)))
}

pub fn is_invalid<T: std::fmt::Debug>(r: Result<T, LogError>) -> bool {
    matches!(r, Err(LogError::InvalidRecord(_)))
}

/// Both full decoders must reject `b`, with the error kind `want` accepts.
#[track_caller]
pub fn assert_rejected(b: &[u8], want: fn(Result<(), LogError>) -> bool) {
    let v = batch::validate(b).map(|_| ());
    let v_dbg = format!("{v:?}");
    assert!(want(v), "validate: {v_dbg}");
    let d = decode_records(&Bytes::copy_from_slice(b)).map(|_| ());
    let d_dbg = format!("{d:?}");
    assert!(want(d), "decode_records: {d_dbg}");
}

pub fn one_record_batch() -> Bytes {
    let mut b = BatchBuilder::new();
    b.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]);
    b.build()
}
