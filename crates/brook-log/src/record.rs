//! Records inside a Kafka v2 batch (Kafka's `DefaultRecord`, rule S1): the `Record` and `Header`
//! types, `BatchBuilder` to encode a batch, `decode_records` to decode one, and the allocation-free
//! record walk that `batch::validate` runs over every incoming batch.
//!
//! Encoding and the two decoding modes share one parser (`walk_records`), so a batch `validate`
//! accepts is exactly a batch `decode_records` can decode. The parser trusts no length: every
//! declared length is checked against the bytes that remain, and nothing is allocated from a
//! count before that count is known to fit in the input.

use std::ops::Range;

use bytes::Bytes;

use crate::batch::{
    self, BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};
use crate::error::{LogError, Result};
use crate::varint;

/// A record header: a non-null UTF-8 key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

/// One decoded record, with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

/// Smallest possible encoded record: length, attributes, timestamp delta, offset delta, key
/// length, value length and header count, one byte each.
const MIN_RECORD_LEN: usize = 7;

/// Encodes one uncompressed v2 batch, byte-for-byte as Kafka's `MemoryRecordsBuilder` would.
///
/// The batch starts at base offset 0 with partition leader epoch -1 (what Kafka clients send;
/// the leader stamps both with `batch::stamp`), no producer id, CreateTime timestamps. The first
/// record's timestamp becomes `base_timestamp`; `max_timestamp` is the largest appended.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
    /// Encoded records, appended as they come so `size_in_bytes` is exact and `build` is a copy.
    records: Vec<u8>,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Lengths are `i32` on the wire; anything longer cannot be represented in a Kafka batch.
fn wire_len(len: usize, what: &str) -> i32 {
    match i32::try_from(len) {
        Ok(v) => v,
        Err(_) => panic!("{what} of {len} bytes exceeds the Kafka batch format's i32 limit"),
    }
}

fn nullable_len(bytes: Option<&[u8]>, what: &str) -> i32 {
    bytes.map_or(-1, |b| wire_len(b.len(), what))
}

fn sized_field_len(len: i32) -> usize {
    varint::varint_len(len) + usize::try_from(len).unwrap_or(0)
}

fn put_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>, len: i32) {
    varint::put_varint(out, len);
    if let Some(b) = bytes {
        out.extend_from_slice(b);
    }
}

impl BatchBuilder {
    /// An empty builder: base offset 0, epoch -1, no producer, CreateTime.
    pub fn new() -> Self {
        BatchBuilder {
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
            count: 0,
            records: Vec::new(),
        }
    }

    /// Marks the batch as sent by an idempotent producer.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Appends a record at the next offset.
    ///
    /// # Panics
    /// If a key, value, header or the record count exceeds `i32::MAX`, which the format cannot
    /// express (Kafka's producer fails the same way, far below that limit).
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) {
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        } else {
            self.max_timestamp = self.max_timestamp.max(timestamp);
        }
        // Wrapping keeps any pair of timestamps representable; the decoder wraps back.
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        let offset_delta = self.count;
        let key_len = nullable_len(key, "record key");
        let value_len = nullable_len(value, "record value");
        let header_count = wire_len(headers.len(), "header count");
        let header_lens: Vec<(i32, i32)> = headers
            .iter()
            .map(|h| {
                (
                    wire_len(h.key.len(), "header key"),
                    nullable_len(h.value.as_deref(), "header value"),
                )
            })
            .collect();

        // Kafka's DefaultRecord.sizeOfBodyInBytes: everything after the length prefix.
        let body_len = 1
            + varint::varlong_len(timestamp_delta)
            + varint::varint_len(offset_delta)
            + sized_field_len(key_len)
            + sized_field_len(value_len)
            + varint::varint_len(header_count)
            + header_lens
                .iter()
                .map(|&(k, v)| sized_field_len(k) + sized_field_len(v))
                .sum::<usize>();
        let body_len_wire = wire_len(body_len, "record");

        self.records
            .reserve(varint::varint_len(body_len_wire) + body_len);
        varint::put_varint(&mut self.records, body_len_wire);
        self.records.push(0); // record attributes: unused by Kafka, always 0
        varint::put_varlong(&mut self.records, timestamp_delta);
        varint::put_varint(&mut self.records, offset_delta);
        put_nullable(&mut self.records, key, key_len);
        put_nullable(&mut self.records, value, value_len);
        varint::put_varint(&mut self.records, header_count);
        for (h, &(k_len, v_len)) in headers.iter().zip(&header_lens) {
            put_nullable(&mut self.records, Some(h.key.as_bytes()), k_len);
            put_nullable(&mut self.records, h.value.as_deref(), v_len);
        }
        self.count = match self.count.checked_add(1) {
            Some(c) => c,
            None => panic!("a batch cannot hold more than i32::MAX records"),
        };
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        usize::try_from(self.count).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch `build` would return now, header included, so a producer can stop
    /// appending at `batch.size`.
    pub fn size_in_bytes(&self) -> usize {
        HEADER_LEN + self.records.len()
    }

    /// Encodes the batch, CRC included.
    ///
    /// An empty builder yields a header-only batch with `record_count` 0 (and
    /// `last_offset_delta` -1, timestamps -1): well-formed bytes, but `validate` rejects it as
    /// `InvalidRecord` because Brook never stores a batch without records.
    ///
    /// # Panics
    /// If the batch exceeds `i32::MAX` bytes, which the format cannot express.
    pub fn build(&self) -> Bytes {
        let total = self.size_in_bytes();
        let header = BatchHeader {
            base_offset: 0,
            batch_length: wire_len(total - LOG_OVERHEAD, "batch"),
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            magic: MAGIC,
            crc: 0,
            attributes: 0,
            last_offset_delta: self.count - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: self.count,
        };
        let mut out = Vec::with_capacity(total);
        header.encode_into(&mut out);
        out.extend_from_slice(&self.records);
        batch::seal_crc(&mut out);
        Bytes::from(out)
    }
}

/// Decodes every record of one batch occupying all of `batch`, after the same checks as
/// `batch::validate`. Keys, values and header values are zero-copy slices of `batch`.
///
/// Under LogAppendTime every record's timestamp is the batch's `max_timestamp`, as in Kafka.
pub fn decode_records(batch: &Bytes) -> Result<Vec<Record>> {
    let header = batch::check_envelope(batch)?;
    // Bounded by the input, not by the (as yet unverified) declared count.
    let fits = (batch.len() - HEADER_LEN) / MIN_RECORD_LEN;
    let capacity = usize::try_from(header.record_count).unwrap_or(0).min(fits);
    let mut sink = DecodeSink {
        batch,
        header: &header,
        records: Vec::with_capacity(capacity),
        headers: Vec::new(),
    };
    walk_records(batch, &header, &mut sink)?;
    Ok(sink.records)
}

/// Walks the records of a batch whose envelope is already checked, allocating nothing.
pub(crate) fn check_records(batch: &[u8], header: &BatchHeader) -> Result<()> {
    walk_records(batch, header, &mut CheckOnly)
}

/// Where a record's fields lie in the batch buffer (absolute positions, so the decoder can slice
/// the `Bytes` without copying).
struct RawRecord {
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
}

/// Receives what the walk finds: each header of a record as it is parsed, then the record.
trait RecordSink {
    fn header(&mut self, key: &str, value: Option<Range<usize>>);
    fn record(&mut self, record: RawRecord);
}

/// Validation only: everything is checked, nothing kept.
struct CheckOnly;

impl RecordSink for CheckOnly {
    fn header(&mut self, _key: &str, _value: Option<Range<usize>>) {}
    fn record(&mut self, _record: RawRecord) {}
}

struct DecodeSink<'a> {
    batch: &'a Bytes,
    header: &'a BatchHeader,
    records: Vec<Record>,
    /// Headers of the record being parsed, moved into it by `record`.
    headers: Vec<Header>,
}

impl RecordSink for DecodeSink<'_> {
    fn header(&mut self, key: &str, value: Option<Range<usize>>) {
        self.headers.push(Header {
            key: key.to_owned(),
            value: value.map(|r| self.batch.slice(r)),
        });
    }

    fn record(&mut self, raw: RawRecord) {
        let h = self.header;
        let timestamp = if h.timestamp_type_log_append() {
            h.max_timestamp
        } else {
            h.base_timestamp.wrapping_add(raw.timestamp_delta)
        };
        self.records.push(Record {
            offset: h.base_offset.wrapping_add(i64::from(raw.offset_delta)),
            timestamp,
            key: raw.key.map(|r| self.batch.slice(r)),
            value: raw.value.map(|r| self.batch.slice(r)),
            headers: std::mem::take(&mut self.headers),
        });
    }
}

/// Parses the records section (`batch[HEADER_LEN..]`) and requires exactly `record_count`
/// records with offset deltas 0, 1, 2, …
///
/// Malformed bytes inside a record are `CorruptMessage`; a records section that is well-formed
/// but disagrees with the header (too few records, trailing bytes, out-of-order offset deltas) is
/// `InvalidRecord`.
fn walk_records<S: RecordSink>(batch: &[u8], header: &BatchHeader, sink: &mut S) -> Result<()> {
    let count = header.record_count;
    let mut pos = HEADER_LEN;
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
