//! The metadata log: `MetadataRecord`s stored with brook-log in `__cluster_metadata-0`, one
//! record per Kafka record (protobuf-encoded value), fsynced on every append. The image is the
//! replay of this log, so a restarted process resumes exactly where it stopped.

use brook_log::record::{BatchBuilder, decode_records};
use brook_log::{SharedLog, batch, lock};
use brook_proto::v1::{MetadataRecord, metadata_record::Record};
use prost::Message;

use crate::error::BrokerError;
use crate::metadata::MetadataImage;

pub const METADATA_LOG: &str = "__cluster_metadata-0";

#[derive(Debug)]
pub struct MetadataLog {
    log: SharedLog,
    image: MetadataImage,
}

impl MetadataLog {
    /// Replays every record in `log` into a fresh image.
    pub fn open(log: SharedLog) -> Result<MetadataLog, BrokerError> {
        let mut image = MetadataImage::default();
        for rec in read_records(&log, 0, usize::MAX)? {
            image.apply(&rec);
        }
        Ok(MetadataLog { log, image })
    }

    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    pub fn end_offset(&self) -> i64 {
        self.image.next_offset
    }

    /// Appends `records` atomically (one batch), fsyncs, and applies them. Returns them with
    /// their offsets.
    pub fn append(&mut self, records: Vec<Record>) -> Result<Vec<MetadataRecord>, BrokerError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut log = lock(&self.log);
        let base = log.log_end_offset();
        let stamped: Vec<MetadataRecord> = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| MetadataRecord {
                offset: base + i as i64,
                record: Some(r),
            })
            .collect();
        let mut builder = BatchBuilder::new();
        let now = now_ms();
        for r in &stamped {
            builder.append(now, None, Some(&r.encode_to_vec()), &[]);
        }
        log.append(&builder.build(), 0)?;
        log.flush()?;
        drop(log);
        for r in &stamped {
            self.image.apply(r);
        }
        Ok(stamped)
    }
}

/// Reads up to `max` records from `offset` (used for replay and by brokers pulling metadata).
pub fn read_records(
    log: &SharedLog,
    mut offset: i64,
    max: usize,
) -> Result<Vec<MetadataRecord>, BrokerError> {
    let mut out = Vec::new();
    loop {
        let chunk = lock(log).read(offset, 1 << 20)?;
        if chunk.is_empty() || out.len() >= max {
            return Ok(out);
        }
        for item in batch::batches(&chunk) {
            let (pos, h) = item?;
            for r in decode_records(&chunk.slice(pos..pos + h.size()))? {
                if r.offset < offset || out.len() >= max {
                    continue;
                }
                let value = r.value.unwrap_or_default();
                let mut rec = MetadataRecord::decode(value).map_err(|e| {
                    BrokerError::Storage(format!("metadata record {}: {e}", r.offset))
                })?;
                rec.offset = r.offset;
                out.push(rec);
            }
            offset = h.next_offset();
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
