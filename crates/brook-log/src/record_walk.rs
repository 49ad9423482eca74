//! The record walk: the one parser of the records section of a Kafka v2 batch (Kafka's
//! `DefaultRecord.readFrom`), run over every incoming batch by `batch::validate` (checking only,
//! allocating nothing) and by `record::decode_records` (keeping what it finds). One parser for
//! both means a batch `validate` accepts is exactly a batch `decode_records` can decode.
//!
//! The walk trusts no length: every declared length is checked against the bytes that remain,
//! and nothing is allocated from a count before that count is known to fit in the input.
//!
//! It sits below both `batch` and `record` and knows neither: callers pass where the records
//! start and how many the header declares, so the layering runs one way
//! (`record` → `batch` → `record_walk` → `varint`).

use std::ops::Range;

use crate::error::{LogError, Result};
use crate::varint;

/// Smallest possible encoded record: length, attributes, timestamp delta, offset delta, key
/// length, value length and header count, one byte each.
pub(crate) const MIN_RECORD_LEN: usize = 7;

/// Walks the `count` records starting at `start` in `batch`, allocating nothing: the check
/// `batch::validate` runs after the envelope checks.
pub(crate) fn check_records(batch: &[u8], start: usize, count: i32) -> Result<()> {
    walk_records(batch, start, count, &mut CheckOnly)
}

/// Where a record's fields lie in the batch buffer (absolute positions, so the decoder can slice
/// the `Bytes` without copying).
pub(crate) struct RawRecord {
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) key: Option<Range<usize>>,
    pub(crate) value: Option<Range<usize>>,
}

/// Receives what the walk finds: each header of a record as it is parsed, then the record.
pub(crate) trait RecordSink {
    fn header(&mut self, key: &str, value: Option<Range<usize>>);
    fn record(&mut self, record: RawRecord);
}

/// Validation only: everything is checked, nothing kept.
struct CheckOnly;

impl RecordSink for CheckOnly {
    fn header(&mut self, _key: &str, _value: Option<Range<usize>>) {}
    fn record(&mut self, _record: RawRecord) {}
}

/// Parses the records section (`batch[start..]`, `start` being the header length) and requires
/// exactly `count` records (the header's `record_count`) with offset deltas 0, 1, 2, …
///
/// Malformed bytes inside a record are `CorruptMessage`; a records section that is well-formed
/// but disagrees with the header (too few records, trailing bytes, out-of-order offset deltas) is
/// `InvalidRecord`.
pub(crate) fn walk_records<S: RecordSink>(
    batch: &[u8],
    start: usize,
    count: i32,
    sink: &mut S,
) -> Result<()> {
    let mut pos = start;
    for expected in 0..count {
        if pos >= batch.len() {
            return Err(LogError::InvalidRecord(format!(
                "batch declares {count} records but holds only {expected}"
            )));
        }
        let record = read_record(batch, &mut pos, sink)?;
        if record.offset_delta != expected {
            return Err(LogError::InvalidRecord(format!(
                "record {expected} of the batch has offset delta {}",
                record.offset_delta
            )));
        }
        sink.record(record);
    }
    if pos != batch.len() {
        return Err(LogError::InvalidRecord(format!(
            "{} bytes left after the batch's {count} records",
            batch.len() - pos
        )));
    }
    Ok(())
}

// The walk below runs for every record of every produced batch, so its helpers are inlined
// (a `Result` returned through memory from an out-of-line call costs more than the parsing) and
// the error messages are built out of line, off the hot path.

/// Takes `len` bytes at `*pos` from `buf`, returning their range.
#[inline]
fn take(buf: &[u8], pos: &mut usize, len: usize, what: &str) -> Result<Range<usize>> {
    let available = buf.len().saturating_sub(*pos);
    if len > available {
        return Err(overrun(what, len, *pos, available));
    }
    let range = *pos..*pos + len;
    *pos += len;
    Ok(range)
}

#[cold]
#[inline(never)]
fn overrun(what: &str, len: usize, pos: usize, available: usize) -> LogError {
    LogError::corrupt(format!(
        "{what} of {len} bytes at position {pos} overruns its record ({available} bytes left)"
    ))
}

#[cold]
#[inline(never)]
fn bad_length(what: &str, len: i32) -> LogError {
    LogError::corrupt(format!("invalid {what} length {len}"))
}

/// A varint length followed by that many bytes; -1 means null.
// `always`: left out of line, its `Result<Option<Range>>` goes through the stack and the
// caller's reload of it stalls (store forwarding), which showed as the walk's hottest spot.
#[inline(always)]
fn read_nullable(buf: &[u8], pos: &mut usize, what: &str) -> Result<Option<Range<usize>>> {
    let len = varint::read_varint(buf, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let Ok(len) = usize::try_from(len) else {
        return Err(bad_length(what, len));
    };
    take(buf, pos, len, what).map(Some)
}

/// Parses one record at `*pos`, reporting its headers to `sink`.
#[inline]
fn read_record<S: RecordSink>(batch: &[u8], pos: &mut usize, sink: &mut S) -> Result<RawRecord> {
    let body_len = varint::read_varint(batch, pos)?;
    let start = *pos;
    let body_len = usize::try_from(body_len)
        .map_err(|_| LogError::corrupt(format!("negative record length {body_len}")))?;
    let end = take(batch, pos, body_len, "record")?.end;
    *pos = start;
    // Parsing within `body` means no field can reach past the declared record length; positions
    // stay absolute because `body` starts where `batch` does.
    let body = &batch[..end];

    take(body, pos, 1, "record attributes")?;
    let timestamp_delta = varint::read_varlong(body, pos)?;
    let offset_delta = varint::read_varint(body, pos)?;
    let key = read_nullable(body, pos, "record key")?;
    let value = read_nullable(body, pos, "record value")?;

    let header_count = varint::read_varint(body, pos)?;
    let header_count = usize::try_from(header_count)
        .map_err(|_| LogError::corrupt(format!("negative header count {header_count}")))?;
    if header_count > end - *pos {
        return Err(LogError::corrupt(format!(
            "header count {header_count} exceeds the {} bytes left in its record",
            end - *pos
        )));
    }
    for _ in 0..header_count {
        let key_len = varint::read_varint(body, pos)?;
        let key_len = usize::try_from(key_len)
            .map_err(|_| LogError::corrupt(format!("invalid header key length {key_len}")))?;
        let key_range = take(body, pos, key_len, "header key")?;
        let key = std::str::from_utf8(&body[key_range])
            .map_err(|e| LogError::corrupt(format!("header key is not UTF-8: {e}")))?;
        let value = read_nullable(body, pos, "header value")?;
        sink.header(key, value);
    }

    if *pos != end {
        return Err(LogError::corrupt(format!(
            "record length {body_len} but its fields take {} bytes",
            *pos - start
        )));
    }
    Ok(RawRecord {
        timestamp_delta,
        offset_delta,
        key,
        value,
    })
}
