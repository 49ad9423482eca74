//! Checkpoint files: small text files of `key value` lines (recovery points, high watermarks,
//! leader epochs), written atomically and checksummed.
//!
//! Format, close to Kafka's so it reads the same, plus a trailing CRC line (crc32fast over every
//! byte before it) so a half-written or bit-rotted file is detected rather than trusted:
//! ```text
//! 0              version
//! 2              entry count
//! orders-0 1200
//! orders-1 900
//! crc 1a2b3c4d
//! ```
//! Writes go to `<name>.tmp`, are fsynced, renamed over the old file, and the directory is fsynced,
//! so a crash leaves either the old or the new checkpoint, never a mix.

use std::path::Path;

use crate::error::{LogError, Result};
use crate::io::FileSystem;

const VERSION: &str = "0";

/// Writes `entries` to `path` atomically.
pub fn write<K: std::fmt::Display>(
    fs: &dyn FileSystem,
    path: &Path,
    entries: &[(K, i64)],
) -> Result<()> {
    let mut body = format!("{VERSION}\n{}\n", entries.len());
    for (k, v) in entries {
        let k = k.to_string();
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(LogError::KafkaStorageError(format!(
                "checkpoint key {k:?} must be non-empty and contain no whitespace"
            )));
        }
        body.push_str(&format!("{k} {v}\n"));
    }
    body.push_str(&format!("crc {:08x}\n", crc32fast::hash(body.as_bytes())));
    let tmp = path.with_extension("tmp");
    let ctx = |e| LogError::storage(format!("write checkpoint {}", path.display()), e);
    fs.write_file_synced(&tmp, body.as_bytes()).map_err(ctx)?;
    fs.rename(&tmp, path).map_err(ctx)?;
    if let Some(dir) = path.parent() {
        fs.sync_dir(dir).map_err(ctx)?;
    }
    Ok(())
}

/// Reads a checkpoint. A missing file is `Ok(None)`; a damaged one is `KAFKA_STORAGE_ERROR`
/// (the caller decides whether to fall back to a full recovery).
pub fn read(path: &Path) -> Result<Option<Vec<(String, i64)>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::storage(format!("read {}", path.display()), e)),
    };
    parse(&text)
        .map(Some)
        .map_err(|why| LogError::KafkaStorageError(format!("checkpoint {}: {why}", path.display())))
}

fn parse(text: &str) -> std::result::Result<Vec<(String, i64)>, String> {
    let crc_at = text.rfind("crc ").ok_or("no crc line")?;
    let (body, crc_line) = text.split_at(crc_at);
    let stored = u32::from_str_radix(crc_line.trim_start_matches("crc ").trim(), 16)
        .map_err(|_| "bad crc line")?;
    if crc32fast::hash(body.as_bytes()) != stored {
        return Err("crc mismatch".into());
    }
    let mut lines = body.lines();
    if lines.next() != Some(VERSION) {
        return Err("unknown version".into());
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or("bad entry count")?;
    let entries = lines
        .map(|l| {
            let (k, v) = l.split_once(' ').ok_or("bad line")?;
            let v = v.parse::<i64>().map_err(|_| "bad value")?;
            Ok((k.to_string(), v))
        })
        .collect::<std::result::Result<Vec<_>, &str>>()?;
    if entries.len() != count {
        return Err(format!("{} entries, header says {count}", entries.len()));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::OsFileSystem;

    #[test]
    fn round_trip_and_damage_detection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recovery-point-offset-checkpoint");
        assert_eq!(read(&path).unwrap(), None);
        write(
            &OsFileSystem,
            &path,
            &[("orders-0", 1200), ("orders-1", 900)],
        )
        .unwrap();
        assert_eq!(
            read(&path).unwrap().unwrap(),
            vec![
                ("orders-0".to_string(), 1200),
                ("orders-1".to_string(), 900)
            ]
        );
        assert!(!path.with_extension("tmp").exists());
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("1200", "1300");
        std::fs::write(&path, text).unwrap();
        let err = read(&path).unwrap_err();
        assert_eq!(err.kafka_name(), "KAFKA_STORAGE_ERROR");
        assert!(write(&OsFileSystem, &path, &[("a b", 1)]).is_err());
    }
}
