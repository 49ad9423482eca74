//! The benchmark matrix: the four dimensions of a cell (acks × flush policy × replication factor
//! × record size), the default 36-cell product, and `--matrix` specs that pick a subset. Kept
//! apart from the runner so that the naming of cells (used by every report) lives in one place.

use std::fmt;

use brook_client::Acks;

use super::BenchError;

/// A producer `acks` setting (Kafka's producer config `acks`), one dimension of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AckMode {
    /// `acks=0`: the producer does not wait for the leader's write.
    Zero,
    /// `acks=1`: acknowledged once the leader has appended the batch.
    One,
    /// `acks=all` (`-1`): acknowledged once every in-sync replica has it, and only while the
    /// ISR has at least `min.insync.replicas` members.
    All,
}

impl AckMode {
    /// Every setting, in the order of the matrix and the reports: 0, 1, all.
    pub const ALL: [AckMode; 3] = [AckMode::Zero, AckMode::One, AckMode::All];

    /// The client's [`Acks`] for this setting.
    pub fn client(self) -> Acks {
        match self {
            AckMode::Zero => Acks::None,
            AckMode::One => Acks::Leader,
            AckMode::All => Acks::All,
        }
    }

    /// The value as Kafka's `acks` config spells it and the reports print it: `0`, `1`, `all`.
    pub fn name(self) -> &'static str {
        match self {
            AckMode::Zero => "0",
            AckMode::One => "1",
            AckMode::All => "all",
        }
    }
}

/// A topic flush policy (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlushPolicy {
    /// No fsync on the produce path (page cache and replication only; Kafka's default).
    Never,
    /// `flush.ms=10`: the background flusher fsyncs what is older than 10 ms.
    Ms10,
    /// `flush.messages=1`: every acknowledged batch is fsynced first (group commit).
    EveryMessage,
}

impl FlushPolicy {
    /// Every policy, in the order of the matrix and the reports: never, `flush.ms=10`,
    /// `flush.messages=1`.
    pub const ALL: [FlushPolicy; 3] = [
        FlushPolicy::Never,
        FlushPolicy::Ms10,
        FlushPolicy::EveryMessage,
    ];

    /// The policy as the reports print it: `never`, or the topic config that sets it
    /// (`flush.ms=10`, `flush.messages=1`).
    pub fn name(self) -> &'static str {
        match self {
            FlushPolicy::Never => "never",
            FlushPolicy::Ms10 => "flush.ms=10",
            FlushPolicy::EveryMessage => "flush.messages=1",
        }
    }

    /// The topic configs that set this policy, as (key, value) pairs for topic creation: none
    /// for `Never` (the broker default), else `flush.ms` or `flush.messages`.
    pub fn topic_configs(self) -> Vec<(String, String)> {
        match self {
            FlushPolicy::Never => Vec::new(),
            FlushPolicy::Ms10 => vec![("flush.ms".into(), "10".into())],
            FlushPolicy::EveryMessage => vec![("flush.messages".into(), "1".into())],
        }
    }
}

/// One benchmark cell: one point of acks × flush policy × replication factor × record size,
/// run on a topic of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// The producers' `acks`.
    pub acks: AckMode,
    /// The topic's flush policy (`flush.ms` / `flush.messages`).
    pub flush: FlushPolicy,
    /// The topic's replication factor: 1 or 3 in the default matrix, any ≥ 1 from `--matrix`
    /// (`min.insync.replicas` is then 2 from RF 3 up, else 1: see [`Cell::min_insync`]).
    pub rf: i32,
    /// Record value size in bytes.
    pub size: usize,
}

impl Cell {
    /// The replication factors of the default matrix.
    pub const REPLICATION: [i32; 2] = [1, 3];
    /// The record value sizes of the default matrix, in bytes (100 B and 1 KiB).
    pub const SIZES: [usize; 2] = [100, 1024];

    /// `min.insync.replicas` for this cell's topic: 2 from RF 3 up, else 1.
    pub fn min_insync(&self) -> i32 {
        if self.rf >= 3 { 2 } else { 1 }
    }

    /// The record size as the reports print it: `100B`, `1KiB`.
    pub fn size_label(&self) -> String {
        size_label(self.size)
    }

    /// A short identifier usable in file and topic names, e.g. `acks1-never-rf3-1KiB`
    /// (`never`, `ms10`, `msg1` for the flush policy).
    pub fn id(&self) -> String {
        let flush = match self.flush {
            FlushPolicy::Never => "never",
            FlushPolicy::Ms10 => "ms10",
            FlushPolicy::EveryMessage => "msg1",
        };
        format!(
            "acks{}-{flush}-rf{}-{}",
            self.acks.name(),
            self.rf,
            self.size_label()
        )
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "acks={} {} RF{} {}",
            self.acks.name(),
            self.flush.name(),
            self.rf,
            self.size_label()
        )
    }
}

/// A byte count as the reports print it: whole KiB as `1KiB`, anything else in bytes (`100B`).
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{}KiB", size / 1024)
    } else {
        format!("{size}B")
    }
}

/// The full default matrix (36 cells: acks 0/1/all × 3 flush policies × RF 1/3 × 100 B/1 KiB)
/// in report order: RF, then flush policy, then acks, then size.
pub fn full_matrix() -> Vec<Cell> {
    let mut cells = Vec::new();
    for rf in Cell::REPLICATION {
        for flush in FlushPolicy::ALL {
            for acks in AckMode::ALL {
                for size in Cell::SIZES {
                    cells.push(Cell {
                        acks,
                        flush,
                        rf,
                        size,
                    });
                }
            }
        }
    }
    cells
}

/// Selects cells by `--matrix` specs. Each spec is a list of `key=value[/value…]` terms
/// separated by commas or spaces; keys are `acks` (0, 1, all), `flush` (never, ms10 or
/// flush.ms=10, msg1 or flush.messages=1), `rf` (1, 3) and `size` (100, 1k, 1KiB, 1024, or any
/// byte count). A dimension a spec leaves out keeps all its default values. Several specs are
/// a union, returned in report order without duplicates. No spec: the full matrix.
///
/// # Errors
///
/// [`BenchError::Matrix`] naming the first term or value that does not parse: a term without
/// `=`, an unknown key, an empty value, acks other than 0/1/all, an unknown flush policy, an RF
/// below 1, or a size outside 8 B..=1 MiB (the first 8 bytes carry the send time).
pub fn select(specs: &[String]) -> Result<Vec<Cell>, BenchError> {
    if specs.is_empty() {
        return Ok(full_matrix());
    }
    let mut cells = Vec::new();
    for spec in specs {
        for cell in parse_spec(spec)? {
            if !cells.contains(&cell) {
                cells.push(cell);
            }
        }
    }
    cells.sort_by_key(|c| (c.rf, c.flush, c.acks, c.size));
    Ok(cells)
}

fn bad(token: &str, why: impl Into<String>) -> BenchError {
    BenchError::Matrix {
        token: token.to_string(),
        reason: why.into(),
    }
}

fn parse_spec(spec: &str) -> Result<Vec<Cell>, BenchError> {
    let mut acks: Vec<AckMode> = AckMode::ALL.to_vec();
    let mut flush: Vec<FlushPolicy> = FlushPolicy::ALL.to_vec();
    let mut rf: Vec<i32> = Cell::REPLICATION.to_vec();
    let mut size: Vec<usize> = Cell::SIZES.to_vec();
    let terms = spec
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|t| !t.is_empty());
    let mut any = false;
    for term in terms {
        any = true;
        let (key, values) = term
            .split_once('=')
            .ok_or_else(|| bad(term, "expected key=value (keys: acks, flush, rf, size)"))?;
        let values: Vec<&str> = values.split(['/', '|']).collect();
        if values.iter().any(|v| v.is_empty()) {
            return Err(bad(term, "empty value"));
        }
        match key.trim().to_ascii_lowercase().as_str() {
            "acks" => acks = parse_all(&values, parse_acks)?,
            "flush" => flush = parse_all(&values, parse_flush)?,
            "rf" | "replication" | "replication-factor" => rf = parse_all(&values, parse_rf)?,
            "size" | "record-size" => size = parse_all(&values, parse_size)?,
            _ => return Err(bad(term, "unknown key (keys: acks, flush, rf, size)")),
        }
    }
    if !any {
        return Err(bad(spec, "empty --matrix spec"));
    }
    let mut cells = Vec::new();
    for &rf in &rf {
        for &flush in &flush {
            for &acks in &acks {
                for &size in &size {
                    cells.push(Cell {
                        acks,
                        flush,
                        rf,
                        size,
                    });
                }
            }
        }
    }
    Ok(cells)
}

fn parse_all<T: PartialEq>(
    values: &[&str],
    parse: fn(&str) -> Result<T, BenchError>,
) -> Result<Vec<T>, BenchError> {
    let mut out = Vec::new();
    for v in values {
        let t = parse(v)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn parse_acks(v: &str) -> Result<AckMode, BenchError> {
    match v.to_ascii_lowercase().as_str() {
        "0" | "none" => Ok(AckMode::Zero),
        "1" | "leader" => Ok(AckMode::One),
        "all" | "-1" => Ok(AckMode::All),
        _ => Err(bad(v, "acks is 0, 1 or all")),
    }
}

fn parse_flush(v: &str) -> Result<FlushPolicy, BenchError> {
    match v.to_ascii_lowercase().as_str() {
        "never" | "none" => Ok(FlushPolicy::Never),
        "ms10" | "flush.ms=10" | "10ms" => Ok(FlushPolicy::Ms10),
        "msg1" | "flush.messages=1" | "every" | "always" => Ok(FlushPolicy::EveryMessage),
        _ => Err(bad(
            v,
            "flush is never, ms10 (flush.ms=10) or msg1 (flush.messages=1)",
        )),
    }
}

fn parse_rf(v: &str) -> Result<i32, BenchError> {
    match v.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad(v, "rf is a replication factor (1 or 3)")),
    }
}

fn parse_size(v: &str) -> Result<usize, BenchError> {
    let lower = v.to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| bad(v, "size is a byte count: 100, 1k, 1KiB, 1024"))?;
    let bytes = match unit {
        "" | "b" => n,
        "k" | "kib" | "kb" => n * 1024,
        _ => return Err(bad(v, "size unit is B or KiB")),
    };
    // The first 8 bytes carry the send time for end-to-end latency.
    if !(8..=1 << 20).contains(&bytes) {
        return Err(bad(v, "size must be 8 B to 1 MiB"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_matrix_has_36_distinct_cells() {
        let cells = full_matrix();
        assert_eq!(cells.len(), 36);
        let mut ids: Vec<String> = cells.iter().map(Cell::id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 36);
        assert_eq!(select(&[]).map(|c| c.len()).ok(), Some(36));
    }

    #[test]
    fn a_spec_fixes_the_dimensions_it_names() -> Result<(), BenchError> {
        let cells = select(&["acks=1/all,flush=never rf=3 size=100".into()])?;
        assert_eq!(cells.len(), 2);
        assert!(cells.iter().all(|c| c.rf == 3 && c.size == 100));
        assert!(cells.iter().all(|c| c.flush == FlushPolicy::Never));
        assert_eq!(cells[0].acks, AckMode::One);
        assert_eq!(cells[1].acks, AckMode::All);
        assert_eq!(cells[0].min_insync(), 2);

        let cells = select(&["flush=flush.messages=1,size=1k".into()])?;
        assert_eq!(cells.len(), 6);
        assert!(cells.iter().all(|c| c.size == 1024));
        assert!(cells.iter().all(|c| c.flush == FlushPolicy::EveryMessage));
        Ok(())
    }

    #[test]
    fn specs_are_a_union_without_duplicates() -> Result<(), BenchError> {
        let a = "acks=1 flush=never rf=1 size=100".to_string();
        let b = "acks=1/all flush=never rf=1 size=100".to_string();
        let cells = select(&[a.clone(), b])?;
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].to_string(), "acks=1 never RF1 100B");
        assert_eq!(select(&[a])?[0].id(), "acks1-never-rf1-100B");
        Ok(())
    }

    #[test]
    fn a_bad_token_is_named_in_the_error() {
        for (spec, token) in [
            ("acks=2", "2"),
            ("flush=sometimes", "sometimes"),
            ("colour=red", "colour=red"),
            ("rf=0", "0"),
            ("size=3", "3"),
            ("acks", "acks"),
        ] {
            match select(&[spec.to_string()]) {
                Err(BenchError::Matrix { token: t, .. }) => assert_eq!(t, token, "{spec}"),
                other => panic!("{spec}: expected a matrix error, got {other:?}"),
            }
        }
    }
}
