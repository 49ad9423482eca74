//! The metadata log on disk: `MetadataRecord`s stored with brook-log in `__cluster_metadata-0`
//! of the controller's log directory, one record per Kafka record (protobuf-encoded value),
//! fsynced on every append. The controller's state is the replay of this log.

use brook_log::record::{BatchBuilder, decode_records};
use brook_log::{SharedLog, batch, lock};
use brook_proto::v1::MetadataRecord;
use prost::Message;

use crate::error::BrokerError;

pub const METADATA_LOG: &str = "__cluster_metadata-0";

/// Appends already-stamped records as one batch and fsyncs it. The records' offsets must start
/// at the log end (the controller stamps them from its image, which is the replay of this log).
pub fn append(log: &SharedLog, records: &[MetadataRecord]) -> Result<(), BrokerError> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let mut log = lock(log);
    if first.offset != log.log_end_offset() {
        return Err(BrokerError::Storage(format!(
            "metadata record offset {} does not follow the log end {}",
            first.offset,
            log.log_end_offset()
        )));
    }
    let mut builder = BatchBuilder::new();
    let now = now_ms();
    for r in records {
        builder.append(now, None, Some(&r.encode_to_vec()), &[]);
    }
    log.append(&builder.build(), 0)?;
    log.flush()?;
    Ok(())
}

/// Reads up to `max` records from `offset` (replay, and brokers pulling metadata).
pub fn read_records(
    log: &SharedLog,
    mut offset: i64,
    max: usize,
) -> Result<Vec<MetadataRecord>, BrokerError> {
    let mut out = Vec::new();
    loop {
        let chunk = {
            let l = lock(log);
            if offset >= l.log_end_offset() {
                return Ok(out);
            }
            l.read(offset, 1 << 20)?
        };
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
