//! Records inside a Kafka v2 batch (Kafka's `DefaultRecord`, rule S1): the `Record` and `Header`
//! types, `BatchBuilder` to encode a batch, and `decode_records` to decode one.
//!
//! Decoding runs the same parser as `batch::validate` (the record walk in `record_walk.rs`), so a
//! batch `validate` accepts is exactly a batch `decode_records` can decode. This module sits on
//! top of `batch` (it builds and checks envelopes through it); `batch` never calls back up here.

use std::ops::Range;

use bytes::Bytes;

use crate::batch::{
    self, BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC, NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP,
};
use crate::error::Result;
use crate::record_walk::{self, MIN_RECORD_LEN, RawRecord, RecordSink};
use crate::varint;

/// A record header: a non-null UTF-8 key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's key (Kafka requires one; it may repeat within a record).
    pub key: String,
    /// The header's value; `None` is a null value (length -1 on the wire).
    pub value: Option<Bytes>,
}

/// One decoded record, with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's offset in its partition: the batch's base offset plus its offset delta.
    pub offset: i64,
    /// Milliseconds since the Unix epoch: the batch's base timestamp plus the record's delta
    /// (CreateTime), or the batch's `max_timestamp` under LogAppendTime.
    pub timestamp: i64,
    /// The record's key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The record's value; `None` is a null value (a tombstone in Kafka terms).
    pub value: Option<Bytes>,
    /// The record's headers, in wire order.
    pub headers: Vec<Header>,
}

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

    /// True until the first `append`.
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
    record_walk::walk_records(batch, HEADER_LEN, header.record_count, &mut sink)?;
    Ok(sink.records)
}

/// Collects what the walk finds into `Record`s, slicing keys, values and header values out of
/// the batch without copying.
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
