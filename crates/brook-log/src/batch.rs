//! The Kafka v2 `RecordBatch` envelope (rule S1, SPEC §3.1): the 61-byte big-endian header, its
//! CRC-32C, full validation of a batch received from a client or a leader, in-place stamping of
//! the leader-assigned fields, iteration over concatenated batches (read results, segment
//! files), and Kafka's sequence-number wrap (`increment_sequence`), the one implementation the
//! producer and the broker's dedupe window share.
//!
//! The layout is byte-identical to Kafka's `DefaultRecordBatch` so that batches can pass between
//! Kafka clients, Brook's segments and Kafka tools unchanged. Record bodies are parsed by the
//! record walk (`record_walk.rs`, below this module), which `validate` runs without allocating;
//! turning them into `Record`s is `record.rs`'s job, above this module.

use crate::error::{LogError, Result};
use crate::record_walk;

/// The only batch format version Brook reads or writes.
pub const MAGIC: i8 = 2;
/// Size of the full v2 header, base offset and length included; records start here.
pub const HEADER_LEN: usize = 61;
/// `base_offset` (8) + `batch_length` (4): the bytes not counted by `batch_length`.
pub const LOG_OVERHEAD: usize = 12;
/// `producer_id` of a batch from a non-idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producer_epoch` of a batch from a non-idempotent producer.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `base_sequence` of a batch from a non-idempotent producer.
pub const NO_SEQUENCE: i32 = -1;
/// `partition_leader_epoch` as sent by clients, before a leader stamps it.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Timestamp of a batch without records (Kafka's `RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;

/// Attribute bits 0–2: compression codec (0 = none).
pub const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: timestamps are LogAppendTime (set) or CreateTime (clear).
pub const TIMESTAMP_TYPE_FLAG: i16 = 0x08;
/// Attribute bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
/// Attribute bit 5: the batch holds control records (transaction markers).
pub const CONTROL_FLAG: i16 = 0x20;

// Field positions (S1). Everything from ATTRIBUTES_AT on is covered by the CRC; base offset and
// leader epoch are deliberately outside it so a leader can stamp them without recomputing.
const BASE_OFFSET_AT: usize = 0;
const BATCH_LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// Smallest legal `batch_length`: a header with no records.
const MIN_BATCH_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;

/// The decoded fixed-size header of one v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// `baseOffset`: offset of the first record. 0 in a batch a client sends; the leader stamps
    /// the real one (`stamp`).
    pub base_offset: i64,
    /// `batchLength`: bytes after this field; the whole batch is `LOG_OVERHEAD + batch_length`
    /// bytes.
    pub batch_length: i32,
    /// `partitionLeaderEpoch`: the leader epoch in which the leader appended the batch
    /// (`NO_PARTITION_LEADER_EPOCH` until a leader stamps it).
    pub partition_leader_epoch: i32,
    /// `magic`: the batch format version; always `MAGIC` (2) in a parsed header.
    pub magic: i8,
    /// CRC-32C of bytes 21..end, as stored.
    pub crc: u32,
    /// `attributes`: compression codec (bits 0–2), timestamp type (bit 3), transactional
    /// (bit 4), control (bit 5); see the `*_FLAG` and `COMPRESSION_MASK` constants.
    pub attributes: i16,
    /// `lastOffsetDelta`: the last record's offset minus `base_offset`, i.e. `record_count - 1`
    /// in every batch Brook accepts.
    pub last_offset_delta: i32,
    /// `baseTimestamp`: the first record's timestamp, in milliseconds since the Unix epoch
    /// (record timestamps are stored as deltas from it).
    pub base_timestamp: i64,
    /// `maxTimestamp`: the largest record timestamp in the batch (ms); under LogAppendTime it
    /// is every record's timestamp. Retention and the time index go by it.
    pub max_timestamp: i64,
    /// `producerId`: the idempotent producer that sent the batch, or `NO_PRODUCER_ID`.
    pub producer_id: i64,
    /// `producerEpoch`: that producer's epoch, or `NO_PRODUCER_EPOCH`.
    pub producer_epoch: i16,
    /// `baseSequence`: the producer's sequence number of the first record, or `NO_SEQUENCE`.
    pub base_sequence: i32,
    /// `recordsCount`: how many records the batch holds (at least 1 in a parsed header).
    pub record_count: i32,
}

// Callers check the length once up front, so these fixed-width reads stay in bounds.
fn be<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&buf[at..at + N]);
    a
}

impl BatchHeader {
    /// Parses the 61-byte header at the start of `buf` (which may be longer).
    ///
    /// Checks the shape only, not the CRC: a short buffer, a magic other than 2 or a
    /// `batch_length` below 49 is `CorruptMessage`; a batch without records or whose
    /// `last_offset_delta` is not `record_count - 1` is `InvalidRecord` (as Kafka's
    /// `LogValidator`: Brook has no compaction, so it never keeps empty batches).
    pub fn parse(buf: &[u8]) -> Result<BatchHeader> {
        if buf.len() < HEADER_LEN {
            return Err(LogError::corrupt(format!(
                "batch header needs {HEADER_LEN} bytes, only {} present",
                buf.len()
            )));
        }
        let h = BatchHeader {
            base_offset: i64::from_be_bytes(be(buf, BASE_OFFSET_AT)),
            batch_length: i32::from_be_bytes(be(buf, BATCH_LENGTH_AT)),
            partition_leader_epoch: i32::from_be_bytes(be(buf, LEADER_EPOCH_AT)),
            magic: i8::from_be_bytes(be(buf, MAGIC_AT)),
            crc: u32::from_be_bytes(be(buf, CRC_AT)),
            attributes: i16::from_be_bytes(be(buf, ATTRIBUTES_AT)),
            last_offset_delta: i32::from_be_bytes(be(buf, LAST_OFFSET_DELTA_AT)),
            base_timestamp: i64::from_be_bytes(be(buf, BASE_TIMESTAMP_AT)),
            max_timestamp: i64::from_be_bytes(be(buf, MAX_TIMESTAMP_AT)),
            producer_id: i64::from_be_bytes(be(buf, PRODUCER_ID_AT)),
            producer_epoch: i16::from_be_bytes(be(buf, PRODUCER_EPOCH_AT)),
            base_sequence: i32::from_be_bytes(be(buf, BASE_SEQUENCE_AT)),
            record_count: i32::from_be_bytes(be(buf, RECORD_COUNT_AT)),
        };
        if h.magic != MAGIC {
            return Err(LogError::corrupt(format!(
                "unsupported batch magic {} (only {MAGIC} is supported)",
                h.magic
            )));
        }
        if h.batch_length < MIN_BATCH_LENGTH {
            return Err(LogError::corrupt(format!(
                "impossible batch length {} (minimum {MIN_BATCH_LENGTH})",
                h.batch_length
            )));
        }
        if h.record_count < 1 {
            return Err(LogError::InvalidRecord(format!(
                "invalid record count {} (a batch needs at least one record)",
                h.record_count
            )));
        }
        if h.last_offset_delta != h.record_count - 1 {
            return Err(LogError::InvalidRecord(format!(
                "last offset delta {} does not match record count {}",
                h.last_offset_delta, h.record_count
            )));
        }
        Ok(h)
    }

    /// Total bytes of the batch: `LOG_OVERHEAD + batch_length`.
    pub fn size(&self) -> usize {
        // A parsed header has batch_length >= 49; a hand-built negative one counts as empty.
        LOG_OVERHEAD + usize::try_from(self.batch_length).unwrap_or(0)
    }

    /// Offset of the batch's last record. Wraps like Kafka's `long` arithmetic if a client put
    /// an absurd base offset in a batch not yet stamped by the leader.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset after the batch's last record.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> u8 {
        (self.attributes & COMPRESSION_MASK) as u8
    }

    /// Whether the batch belongs to a transaction (attribute bit 4). Brook rejects such
    /// batches on append (`InvalidRecord`); it has no transactions yet.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// Whether the batch holds control records, i.e. transaction markers (attribute bit 5).
    /// Rejected on append like transactional batches; consumers skip them.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// Whether record timestamps are LogAppendTime (then every record's timestamp is
    /// `max_timestamp`) rather than CreateTime.
    pub fn timestamp_type_log_append(&self) -> bool {
        self.attributes & TIMESTAMP_TYPE_FLAG != 0
    }

    /// Sequence number of the batch's last record, or `NO_SEQUENCE` for a non-idempotent batch.
    /// Sequences wrap from `i32::MAX` to 0, exactly as Kafka's
    /// `DefaultRecordBatch.incrementSequence`.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        // In range for any parsed header (delta >= 0).
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }

    /// Appends the 61 header bytes, `crc` as stored in `self`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&self.batch_length.to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.extend_from_slice(&self.magic.to_be_bytes());
        out.extend_from_slice(&self.crc.to_be_bytes());
        out.extend_from_slice(&self.attributes.to_be_bytes());
        out.extend_from_slice(&self.last_offset_delta.to_be_bytes());
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.record_count.to_be_bytes());
    }
}

/// CRC-32C over the CRC-covered part of a batch (attributes to the end).
fn compute_crc(buf: &[u8]) -> u32 {
    crc32c::crc32c(buf.get(ATTRIBUTES_AT..).unwrap_or(&[]))
}

/// Computes and stores the CRC of a fully written batch (the encoder's last step).
pub(crate) fn seal_crc(buf: &mut [u8]) {
    if buf.len() >= HEADER_LEN {
        let crc = compute_crc(buf);
        buf[CRC_AT..ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Checks header and CRC of exactly one batch occupying all of `buf`. Cheap: used by recovery
/// scans over data Brook wrote itself, where record bodies were validated on the way in.
pub fn check_crc(buf: &[u8]) -> Result<BatchHeader> {
    let h = BatchHeader::parse(buf)?;
    if buf.len() < h.size() {
        return Err(LogError::corrupt(format!(
            "torn batch: {} bytes declared, {} present",
            h.size(),
            buf.len()
        )));
    }
    if buf.len() > h.size() {
        return Err(LogError::corrupt(format!(
            "{} unexpected bytes after a batch of {} bytes",
            buf.len() - h.size(),
            h.size()
        )));
    }
    let computed = compute_crc(buf);
    if computed != h.crc {
        return Err(LogError::corrupt(format!(
            "batch CRC mismatch: stored {:#010x}, computed {computed:#010x}",
            h.crc
        )));
    }
    Ok(h)
}

/// Every check of `validate` except the record walk: header, size, CRC and the attributes Brook
/// does not support yet. Shared with `record::decode_records`, which walks records itself.
pub(crate) fn check_envelope(buf: &[u8]) -> Result<BatchHeader> {
    let h = check_crc(buf)?;
    let codec = h.compression();
    if codec != 0 {
        return Err(LogError::UnsupportedCompressionType(codec));
    }
    if h.is_transactional() {
        return Err(LogError::InvalidRecord(
            "transactional batches are not supported".into(),
        ));
    }
    if h.is_control() {
        return Err(LogError::InvalidRecord(
            "control batches are not supported".into(),
        ));
    }
    Ok(h)
}

/// Full validation of exactly one batch occupying all of `buf`, as done for every batch a
/// producer or leader sends: header, size, CRC, no compression, no transactional/control bits,
/// and a records section that holds exactly `record_count` well-formed records with offset
/// deltas 0, 1, 2, … in order. Allocates nothing.
pub fn validate(buf: &[u8]) -> Result<BatchHeader> {
    let h = check_envelope(buf)?;
    record_walk::check_records(buf, HEADER_LEN, h.record_count)?;
    Ok(h)
}

/// Overwrites `base_offset` and `partition_leader_epoch` in place. Both lie outside the CRC, so
/// the batch stays valid. Fails only if `buf` is shorter than a header.
pub fn stamp(buf: &mut [u8], base_offset: i64, leader_epoch: i32) -> Result<()> {
    if buf.len() < HEADER_LEN {
        return Err(LogError::corrupt(format!(
            "cannot stamp {} bytes: shorter than a batch header",
            buf.len()
        )));
    }
    buf[BASE_OFFSET_AT..BATCH_LENGTH_AT].copy_from_slice(&base_offset.to_be_bytes());
    buf[LEADER_EPOCH_AT..MAGIC_AT].copy_from_slice(&leader_epoch.to_be_bytes());
    Ok(())
}

/// Iterator over the batches concatenated in a buffer; see [`batches`].
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

/// Iterates over concatenated batches in `buf` (a read result, a segment file).
///
/// Yields `Ok((position, header))` for each complete batch whose header parses and that fits in
/// `buf`, and ends cleanly at the exact end of `buf`. If the remaining bytes are a torn batch or
/// an unparseable header it yields a single `Err(CorruptMessage)` (naming the position) and then
/// ends. CRCs are not checked: callers run `check_crc` on the batches they need to trust.
pub fn batches(buf: &[u8]) -> Batches<'_> {
    Batches {
        buf,
        pos: 0,
        done: false,
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<(usize, BatchHeader)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            self.done = true;
            return None;
        }
        let pos = self.pos;
        let rest = &self.buf[pos..];
        let h = match BatchHeader::parse(rest) {
            Ok(h) => h,
            Err(e) => {
                self.done = true;
                // Whatever the reason, bytes that are not a batch here mean corruption.
                let msg = match e {
                    LogError::CorruptMessage(m) | LogError::InvalidRecord(m) => m,
                    other => other.to_string(),
                };
                return Some(Err(LogError::corrupt(format!("at position {pos}: {msg}"))));
            }
        };
        if h.size() > rest.len() {
            self.done = true;
            return Some(Err(LogError::corrupt(format!(
                "torn batch at position {pos}: {} bytes declared, {} present",
                h.size(),
                rest.len()
            ))));
        }
        self.pos += h.size();
        Some(Ok((pos, h)))
    }
}

impl std::iter::FusedIterator for Batches<'_> {}

/// Kafka's `DefaultRecordBatch.incrementSequence`: the sequence `by` records after `seq`, wrapping
/// from `i32::MAX` to 0 (not to `i32::MIN`, as `wrapping_add` would). The one implementation the
/// broker's dedupe window, the producer and batch headers all use. Computed in `i64`, so a
/// hand-built header with a negative `by` cannot overflow (the result is then truncated).
pub fn increment_sequence(seq: i32, by: i32) -> i32 {
    let (seq, by, max) = (i64::from(seq), i64::from(by), i64::from(i32::MAX));
    let next = if seq > max - by {
        by - (max - seq) - 1
    } else {
        seq + by
    };
    next as i32
}
