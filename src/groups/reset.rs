//! `brook groups reset-offsets` decided as plain code: which partitions (`--topic T`,
//! `--topic T:0,2`, `--all-topics`), the datetime parser Kafka's `--to-datetime` takes, and the
//! plan (new offset per partition) from the offsets the broker reported, with Kafka's rules:
//! `--to-offset` and `--shift-by` are clamped to [log start, log end] (with Kafka's warning),
//! `--shift-by` needs a committed offset, `--to-datetime` falls back to the log end for a
//! partition with no record that late (Kafka's "is empty" warning).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use brook_client::TopicPartition;

/// Where to move each partition's committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetSpec {
    /// `--to-earliest`: the log start offset.
    Earliest,
    /// `--to-latest`: the log end (high watermark).
    Latest,
    /// `--to-offset N`, clamped to the log's range.
    Offset(i64),
    /// `--to-datetime`: the first offset whose record timestamp is at or after this (ms).
    Datetime(i64),
    /// `--shift-by N`: the committed offset plus N (negative moves back), clamped.
    ShiftBy(i64),
}

/// What the broker said about one partition, as the plan needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The log start offset.
    pub start: i64,
    /// The log end offset (high watermark).
    pub end: i64,
}

/// A `--topic` argument: `T` (every partition of T: `None`) or `T:0,2`.
pub fn parse_topic_arg(arg: &str) -> anyhow::Result<(String, Option<Vec<i32>>)> {
    let Some((topic, parts)) = arg.split_once(':') else {
        return Ok((arg.to_string(), None));
    };
    if topic.is_empty() || parts.is_empty() || parts.contains(':') {
        bail!("Invalid topic arg '{arg}', expected topic name and partitions");
    }
    let parts = parts
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i32>()
                .ok()
                .filter(|p| *p >= 0)
                .with_context(|| format!("Invalid partition '{p}' specified in topic arg '{arg}'"))
        })
        .collect::<anyhow::Result<Vec<i32>>>()?;
    Ok((topic.to_string(), Some(parts)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Kafka's `--to-datetime` format, `yyyy-MM-ddTHH:mm:ss.SSS`, optionally followed by `Z` or an
/// offset (`+08`, `+0800`, `+08:00`, `-05:00`); no offset means UTC, as Kafka's
/// `Utils.getDateTime` does. The milliseconds (and seconds) may be left out. Returns epoch
/// milliseconds.
pub fn parse_datetime(s: &str) -> anyhow::Result<i64> {
    let bad = || {
        format!(
            "--to-datetime {s}: expected yyyy-MM-ddTHH:mm:ss.SSS, optionally with Z or an offset \
             such as +01:00 (e.g. 2026-12-03T12:00:00.000Z)"
        )
    };
    let (date, rest) = s.split_once('T').with_context(bad)?;
    let num = |t: &str, len: usize| -> anyhow::Result<i64> {
        if t.len() != len || !t.bytes().all(|b| b.is_ascii_digit()) {
            bail!(bad());
        }
        Ok(t.parse::<i64>()?)
    };
    let mut d = date.split('-');
    let (Some(y), Some(mo), Some(da), None) = (d.next(), d.next(), d.next(), d.next()) else {
        bail!(bad());
    };
    let (y, mo, da) = (num(y, 4)?, num(mo, 2)?, num(da, 2)?);
    // Split the time from its zone: `Z`, or the last `+`/`-`.
    let (time, zone_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (t, z) = rest.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let z = &z[1..];
        let (zh, zm) = match z.len() {
            2 => (num(z, 2)?, 0),
            4 => (num(&z[..2], 2)?, num(&z[2..], 2)?),
            5 if &z[2..3] == ":" => (num(&z[..2], 2)?, num(&z[3..], 2)?),
            _ => bail!(bad()),
        };
        if zh > 18 || zm > 59 {
            bail!(bad());
        }
        (t, sign * (zh * 3_600_000 + zm * 60_000))
    } else {
        (rest, 0)
    };
    let (hms, frac) = match time.split_once('.') {
        Some((hms, f))
            if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) =>
        {
            // Milliseconds: the first three digits, right-padded.
            let ms = format!("{f:0<3}")[..3].parse::<i64>()?;
            (hms, ms)
        }
        Some(_) => bail!(bad()),
        None => (time, 0),
    };
    let mut t = hms.split(':');
    let (Some(h), Some(mi), sec, None) = (t.next(), t.next(), t.next(), t.next()) else {
        bail!(bad());
    };
    let (h, mi) = (num(h, 2)?, num(mi, 2)?);
    let sec = match sec {
        Some(sec) => num(sec, 2)?,
        None => 0,
    };
    if !(1..=12).contains(&mo)
        || da < 1
        || da > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || sec > 59
    {
        bail!(bad());
    }
    let days = days_from_civil(y, mo, da);
    let local_ms = ((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + frac;
    Ok(local_ms - zone_ms)
}

/// The new offset of each partition, and the warnings to print (Kafka's wording).
/// `bounds` has every partition's log range; `committed` the group's offsets (for
/// `--shift-by`); `by_time` the ListOffsets answer for the `--to-datetime` timestamp (-1: no
/// record at or after it).
pub fn plan(
    spec: ResetSpec,
    partitions: &[TopicPartition],
    bounds: &BTreeMap<TopicPartition, Bounds>,
    committed: &BTreeMap<TopicPartition, i64>,
    by_time: &BTreeMap<TopicPartition, i64>,
) -> anyhow::Result<(BTreeMap<TopicPartition, i64>, Vec<String>)> {
    let mut out = BTreeMap::new();
    let mut warnings = Vec::new();
    for tp in partitions {
        let b = bounds
            .get(tp)
            .with_context(|| format!("Error getting the offsets of topic partition {tp}"))?;
        let clamp = |offset: i64, warnings: &mut Vec<String>| {
            if offset > b.end {
                warnings.push(format!(
                    "New offset ({offset}) is higher than latest offset for topic partition \
                     {tp}. Value will be set to {}.",
                    b.end
                ));
                b.end
            } else if offset < b.start {
                warnings.push(format!(
                    "New offset ({offset}) is lower than earliest offset for topic partition \
                     {tp}. Value will be set to {}.",
                    b.start
                ));
                b.start
            } else {
                offset
            }
        };
        let new = match spec {
            ResetSpec::Earliest => b.start,
            ResetSpec::Latest => b.end,
            ResetSpec::Offset(o) => clamp(o, &mut warnings),
            ResetSpec::ShiftBy(n) => {
                let Some(&current) = committed.get(tp) else {
                    bail!(
                        "Cannot shift offset for partition {tp} since there is no current \
                         committed offset"
                    );
                };
                clamp(current.saturating_add(n), &mut warnings)
            }
            ResetSpec::Datetime(_) => match by_time.get(tp) {
                Some(&o) if o >= 0 => o,
                _ => {
                    warnings.push(format!(
                        "Partition {} from topic {} is empty. Falling back to latest known offset.",
                        tp.partition, tp.topic
                    ));
                    b.end
                }
            },
        };
        out.insert(tp.clone(), new);
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn topic_args() {
        assert_eq!(parse_topic_arg("t").unwrap(), ("t".to_string(), None));
        assert_eq!(
            parse_topic_arg("t:0,2").unwrap(),
            ("t".to_string(), Some(vec![0, 2]))
        );
        assert!(parse_topic_arg("t:").is_err());
        assert!(
            parse_topic_arg("t:x")
                .unwrap_err()
                .to_string()
                .contains("Invalid partition 'x'")
        );
        assert!(parse_topic_arg("t:-1").is_err());
    }

    #[test]
    fn datetimes_in_kafkas_formats() {
        // 2026-12-03T12:00:00Z = 1796299200 s since the epoch.
        let noon = 1_796_299_200_000;
        assert_eq!(parse_datetime("2026-12-03T12:00:00.000").unwrap(), noon);
        assert_eq!(parse_datetime("2026-12-03T12:00:00.000Z").unwrap(), noon);
        assert_eq!(
            parse_datetime("2026-12-03T13:00:00.000+01:00").unwrap(),
            noon
        );
        assert_eq!(
            parse_datetime("2026-12-03T13:00:00.000+0100").unwrap(),
            noon
        );
        assert_eq!(parse_datetime("2026-12-03T14:00:00.000+02").unwrap(), noon);
        assert_eq!(
            parse_datetime("2026-12-03T07:00:00.000-05:00").unwrap(),
            noon
        );
        assert_eq!(
            parse_datetime("2026-12-03T12:00:00.250Z").unwrap(),
            noon + 250
        );
        assert_eq!(parse_datetime("2026-12-03T12:00:00.5").unwrap(), noon + 500);
        assert_eq!(parse_datetime("2026-12-03T12:00").unwrap(), noon);
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000Z").unwrap(), 0);
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00Z").unwrap(),
            1_709_164_800_000
        );
        for bad in [
            "2026-12-03",
            "2026-13-03T12:00:00",
            "2023-02-29T00:00:00",
            "2026-12-03T24:00:00",
            "2026-12-03T12:00:00.000+25:00",
            "2026-12-03T12:00:00.",
            "26-12-03T12:00:00",
            "yesterday",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    fn bounds() -> BTreeMap<TopicPartition, Bounds> {
        BTreeMap::from([
            (tp(0), Bounds { start: 5, end: 100 }),
            (tp(1), Bounds { start: 0, end: 10 }),
        ])
    }

    #[test]
    fn earliest_and_latest_take_the_log_bounds() {
        let none = BTreeMap::new();
        let (p, w) = plan(
            ResetSpec::Earliest,
            &[tp(0), tp(1)],
            &bounds(),
            &none,
            &none,
        )
        .unwrap();
        assert_eq!(p, BTreeMap::from([(tp(0), 5), (tp(1), 0)]));
        assert!(w.is_empty());
        let (p, _) = plan(ResetSpec::Latest, &[tp(0), tp(1)], &bounds(), &none, &none).unwrap();
        assert_eq!(p, BTreeMap::from([(tp(0), 100), (tp(1), 10)]));
    }

    #[test]
    fn to_offset_is_clamped_to_the_log_with_kafkas_warning() {
        let none = BTreeMap::new();
        let (p, w) = plan(
            ResetSpec::Offset(50),
            &[tp(0), tp(1)],
            &bounds(),
            &none,
            &none,
        )
        .unwrap();
        assert_eq!(p, BTreeMap::from([(tp(0), 50), (tp(1), 10)]));
        assert_eq!(
            w,
            vec![
                "New offset (50) is higher than latest offset for topic partition t-1. Value will be set to 10."
                    .to_string()
            ]
        );
        let (p, w) = plan(ResetSpec::Offset(1), &[tp(0)], &bounds(), &none, &none).unwrap();
        assert_eq!(p[&tp(0)], 5);
        assert!(w[0].contains(
            "lower than earliest offset for topic partition t-0. Value will be set to 5."
        ));
    }

    #[test]
    fn shift_by_moves_the_committed_offset_and_needs_one() {
        let committed = BTreeMap::from([(tp(0), 20), (tp(1), 8)]);
        let none = BTreeMap::new();
        let (p, w) = plan(
            ResetSpec::ShiftBy(-3),
            &[tp(0), tp(1)],
            &bounds(),
            &committed,
            &none,
        )
        .unwrap();
        assert_eq!(p, BTreeMap::from([(tp(0), 17), (tp(1), 5)]));
        assert!(w.is_empty());
        let (p, _) = plan(
            ResetSpec::ShiftBy(5),
            &[tp(1)],
            &bounds(),
            &committed,
            &none,
        )
        .unwrap();
        assert_eq!(p[&tp(1)], 10, "clamped to the log end");
        let e = plan(ResetSpec::ShiftBy(1), &[tp(0)], &bounds(), &none, &none).unwrap_err();
        assert!(e.to_string().contains("no current committed offset"), "{e}");
    }

    #[test]
    fn datetime_takes_the_found_offset_or_falls_back_to_the_end() {
        let by_time = BTreeMap::from([(tp(0), 42), (tp(1), -1)]);
        let none = BTreeMap::new();
        let (p, w) = plan(
            ResetSpec::Datetime(0),
            &[tp(0), tp(1)],
            &bounds(),
            &none,
            &by_time,
        )
        .unwrap();
        assert_eq!(p, BTreeMap::from([(tp(0), 42), (tp(1), 10)]));
        assert_eq!(
            w,
            vec![
                "Partition 1 from topic t is empty. Falling back to latest known offset."
                    .to_string()
            ]
        );
    }
}
