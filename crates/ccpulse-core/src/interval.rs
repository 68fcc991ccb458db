//! Interval reports (`spec/api.md`, "Interval report"): fixed intervals of the local day
//! (15 min, 30 min or 1 h), for today and the retained earlier days.
//!
//! The engine keeps, per queue leaf, the sum of its facts per quarter hour of the local
//! day ([`Quarters`]), next to its slice ring and day sums, fed by the same facts. An
//! interval is the sum of its quarters; the current one ends at the rounded "now" like
//! every window, so the quarter holding "now" less the ring's slices at or after it.
//! Each interval is then a window of an ordinary [`Partial`], and its rows are built and
//! judged by the code that builds every window's: an interval `[a, b)` equals, field for
//! field, the window of length `b − a` ending at `b`.
//!
//! Intervals start at local midnight and are all of the same length, so a day with a
//! DST change has 92 or 100 quarters (23 or 25 hours); their `from` and `to` carry the
//! offset in force, so the repeated autumn hour shows twice, with different offsets.

use std::fmt;

use serde::Serialize;

use crate::agg::{Aggregate, QueueAgg};
use crate::breach::BreachTracker;
use crate::config::EngineConfig;
use crate::coverage::Coverage;
use crate::partial::Partial;
use crate::snapshot::{GroupRow, Snapshot};
use crate::time::{Millis, MINUTE};

/// The width of the buckets intervals are summed from.
pub const QUARTER: Millis = 15 * MINUTE;

/// An interval length a report can be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Size {
    /// 15 minutes.
    #[serde(rename = "15m")]
    Quarter,
    /// 30 minutes.
    #[serde(rename = "30m")]
    Half,
    /// One hour.
    #[serde(rename = "1h")]
    Hour,
}

impl Size {
    /// Every size, shortest first.
    pub const ALL: [Size; 3] = [Size::Quarter, Size::Half, Size::Hour];

    /// Its length.
    pub fn millis(self) -> Millis {
        match self {
            Size::Quarter => QUARTER,
            Size::Half => 2 * QUARTER,
            Size::Hour => 4 * QUARTER,
        }
    }

    /// As written in a request: `15m`, `30m` or `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Size::Quarter => "15m",
            Size::Half => "30m",
            Size::Hour => "1h",
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Size::ALL
            .into_iter()
            .find(|z| z.as_str() == s)
            .ok_or_else(|| format!("size {s:?} is not one of 15m, 30m, 1h"))
    }
}

/// A leaf's sums per quarter hour of the local day, by quarter start.
///
/// A vector sorted by start, not a map: facts land nearly always in the newest quarter
/// (or the one before it), which is looked at first, and a search of a map of a few
/// hundred quarters cost a few percent of applying the realistic day.
#[derive(Clone, Debug, Default)]
pub struct Quarters {
    sums: Vec<(Millis, QueueAgg)>,
}

impl Quarters {
    /// The sum of the quarter starting at `start`, created if needed.
    pub fn quarter_mut(&mut self, start: Millis) -> &mut QueueAgg {
        let n = self.sums.len();
        let recent = self.sums.iter().rev().take(2).position(|&(s, _)| s <= start);
        let at = match recent {
            Some(back) if self.sums[n - 1 - back].0 == start => Ok(n - 1 - back),
            Some(back) => Err(n - back),
            None => self.sums.binary_search_by_key(&start, |&(s, _)| s),
        };
        let i = match at {
            Ok(i) => i,
            Err(i) => {
                self.sums.insert(i, (start, QueueAgg::default()));
                i
            }
        };
        &mut self.sums[i].1
    }

    /// The sums of the quarters starting in `[from, to)`, by start.
    pub fn range(&self, from: Millis, to: Millis) -> impl Iterator<Item = (Millis, &QueueAgg)> {
        let lo = self.sums.partition_point(|&(s, _)| s < from);
        let hi = self.sums.partition_point(|&(s, _)| s < to.max(from));
        self.sums[lo..hi.max(lo)].iter().map(|(s, a)| (*s, a))
    }

    /// Drops the quarters that started before `start`; their starts.
    pub fn evict_before(&mut self, start: Millis) -> Vec<Millis> {
        let old = self.sums.partition_point(|&(s, _)| s < start);
        self.sums.drain(..old).map(|(s, _)| s).collect()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.sums.iter().all(|(_, a)| a.is_zero())
    }

    /// How many quarters are held.
    pub fn len(&self) -> usize {
        self.sums.len()
    }
}

/// One partition's sums of one quarter hour, per group, as shared with the other
/// instances; no group when the quarter holds nothing (any more).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct QuarterChange {
    /// The quarter's start.
    pub start: Millis,
    /// Its sums per group, in group order.
    pub groups: Vec<(crate::partial::GroupKey, QueueAgg)>,
}

/// The quarter of the local day starting at `day_start` that holds `ts`.
pub fn quarter_of(day_start: Millis, ts: Millis) -> Millis {
    day_start + (ts - day_start).div_euclid(QUARTER) * QUARTER
}

/// The intervals of `size` of the local day `[day_start, day_end)` that start before
/// `to` (the rounded "now"), each `(name, from, to)`; the current one ends at `to`.
/// The name is the start in RFC 3339 (unique even when the clock repeats an hour).
pub fn interval_bounds(day_start: Millis, day_end: Millis, size: Size, to: Millis) -> Vec<(String, Millis, Millis)> {
    let mut out = Vec::new();
    let mut from = day_start;
    while from < day_end && from < to {
        let end = (from + size.millis()).min(day_end).min(to);
        out.push((crate::time::format_rfc3339(from), from, end));
        from += size.millis();
    }
    out
}

/// The local day a report is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Its first instant.
    pub start: Millis,
    /// Its end (the next day's start).
    pub end: Millis,
}

/// A day a report cannot be given for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DayError {
    /// Not a date.
    #[error("{0}")]
    Malformed(String),
    /// After today, or older than the days kept.
    #[error("{0}")]
    NotKept(String),
}

/// The local day `date` (`YYYY-MM-DD`; today at `now` when `None`) in the time zone of
/// `cfg`, if it is today or an earlier day whose intervals are still kept: one that
/// starts at or after `earliest` and within `windows.interval_days` of today.
pub fn resolve_day(cfg: &EngineConfig, date: Option<&str>, now: Millis, earliest: Millis) -> Result<Day, DayError> {
    let tz = &cfg.time_zone;
    let (today, _) = crate::window::day_bounds(tz, now);
    let start = match date {
        None => today,
        Some(d) => {
            let civil: jiff::civil::Date = d
                .parse()
                .map_err(|e| DayError::Malformed(format!("date {d:?} is not a date YYYY-MM-DD: {e}")))?;
            let zoned = civil
                .to_zoned(tz.clone())
                .and_then(|z| z.start_of_day())
                .map_err(|e| DayError::Malformed(format!("date {d:?}: {e}")))?;
            zoned.timestamp().as_millisecond()
        }
    };
    if start > today {
        return Err(DayError::NotKept(format!(
            "date {} is after today",
            date.unwrap_or_default()
        )));
    }
    let kept_from = crate::window::day_bounds(tz, now - cfg.interval_days * crate::time::DAY)
        .0
        .max(earliest);
    if start < kept_from {
        return Err(DayError::NotKept(format!(
            "date {} is older than the days kept: intervals are kept for today and the {} days before (windows.interval_days), within the recovery horizon",
            date.unwrap_or_default(),
            cfg.interval_days
        )));
    }
    let (start, end) = crate::window::day_bounds(tz, start);
    let date = jiff::Timestamp::from_millisecond(start)
        .map(|t| t.to_zoned(tz.clone()).date().to_string())
        .map_err(|e| DayError::Malformed(e.to_string()))?;
    Ok(Day { date, start, end })
}

/// One interval of a report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Interval {
    /// Start (inclusive), RFC 3339 with the local offset.
    pub from: String,
    /// End (exclusive).
    pub to: String,
    /// Start, ms.
    #[serde(skip)]
    pub from_ms: Millis,
    /// End, ms.
    #[serde(skip)]
    pub to_ms: Millis,
    /// The (queue, channel) groups with traffic, then the channel totals and `all`.
    pub groups: Vec<IntervalGroup>,
}

/// A group's figures in one interval: a queue group's fields without the live ones.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalGroup(pub GroupRow);

/// The live fields of a group, which an interval does not have: contacts waiting now,
/// whether the queue is open now, and the agents staffed now (with the gap that
/// compares them; `agents_required` is the interval's own).
pub const LIVE_FIELDS: [&str; 6] = [
    "waiting",
    "oldest_wait_seconds",
    "at_risk",
    "open",
    "agents_staffed",
    "staffing_gap",
];

impl IntervalGroup {
    /// Its fields in the order of a queue group's, without the live ones.
    pub fn fields(&self) -> Result<Vec<(String, serde_json::Value)>, serde_json::Error> {
        // Through the JSON text, whose keys keep the struct's order (a
        // `serde_json::Value` would sort them).
        let text = serde_json::to_string(&self.0)?;
        let Ordered(mut fields) = serde_json::from_str(&text)?;
        fields.retain(|(k, _)| !LIVE_FIELDS.contains(&k.as_str()));
        Ok(fields)
    }
}

impl Serialize for IntervalGroup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.fields().map_err(serde::ser::Error::custom)?;
        let mut map = s.serialize_map(Some(fields.len()))?;
        for (k, v) in &fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A JSON object's entries in the order written.
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// An interval report (`GET /api/v1/intervals`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IntervalReport {
    /// The interval length.
    pub size: Size,
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// The configured time zone.
    pub time_zone: String,
    /// What the figures stand for.
    pub coverage: Coverage,
    /// The intervals, in order; the current one ends at now.
    pub intervals: Vec<Interval>,
}

impl IntervalReport {
    /// The report of `partial`, whose windows are the intervals (from
    /// [`crate::Engine::intervals`], merged over partitions): each interval's rows are
    /// built like a window's, and its breaches judged afresh (no hysteresis carried from
    /// one interval to the next).
    pub fn build(partial: &Partial, cfg: &EngineConfig, size: Size, date: String, coverage: Coverage) -> Self {
        let mut snap = Snapshot::build(partial, cfg);
        BreachTracker::default().evaluate(&mut snap, &cfg.policies);
        let time_zone = cfg.time_zone.iana_name().unwrap_or("UTC").to_owned();
        let intervals = snap
            .windows
            .into_iter()
            .map(|w| Interval {
                from: crate::time::format_local(w.from, &cfg.time_zone),
                to: crate::time::format_local(w.to, &cfg.time_zone),
                from_ms: w.from,
                to_ms: w.to,
                groups: w.queues.into_iter().chain(w.channels).map(IntervalGroup).collect(),
            })
            .collect();
        IntervalReport {
            size,
            date,
            time_zone,
            coverage,
            intervals,
        }
    }

    /// The report as CSV: a header row naming the fields, then one row per interval and
    /// group, `interval_from` and `interval_to` first. The per-policy `sla` list is left
    /// out (a row's `service_level`, `sla_policy`, `answered_within` and `breached` are
    /// in it); an absent figure is an empty cell.
    pub fn to_csv(&self) -> String {
        let mut header: Vec<String> = vec!["interval_from".into(), "interval_to".into()];
        let mut rows: Vec<Vec<String>> = Vec::new();
        for i in &self.intervals {
            for g in &i.groups {
                let Ok(fields) = g.fields() else {
                    continue;
                };
                if header.len() == 2 {
                    header.extend(fields.iter().map(|(k, _)| k).filter(|k| *k != "sla").cloned());
                }
                let mut row = vec![i.from.clone(), i.to.clone()];
                for k in &header[2..] {
                    row.push(match fields.iter().find(|(f, _)| f == k).map(|(_, v)| v) {
                        None | Some(serde_json::Value::Null) => String::new(),
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(v) => v.to_string(),
                    });
                }
                rows.push(row);
            }
        }
        if header.len() == 2 {
            header.extend(csv_fields());
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(rows.iter()) {
            let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

/// The CSV columns of a group, in order (for an empty report's header).
fn csv_fields() -> Vec<String> {
    let row = IntervalGroup(GroupRow::empty(None, String::new()));
    row.fields()
        .map(|f| f.into_iter().map(|(k, _)| k).filter(|k| k != "sla").collect())
        .unwrap_or_default()
}

/// A CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break, and
/// prefixed with `'` when a spreadsheet would read it as a formula.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::FactKind;
    use crate::time::HOUR;

    #[test]
    fn quarters_stay_in_order_whatever_the_order_they_come_in() {
        let mut q = Quarters::default();
        let mut expected = std::collections::BTreeMap::new();
        for start in [5, 6, 6, 9, 2, 7, 9, 8, 1, 10, 3, 3, 11, 0] {
            let start = start * QUARTER;
            q.quarter_mut(start).apply(&FactKind::FlowedOut, 1);
            *expected.entry(start).or_insert(0) += 1;
        }
        let got: Vec<(Millis, i64)> = q
            .range(Millis::MIN, Millis::MAX)
            .map(|(s, a)| (s, a.c.flowed_out))
            .collect();
        assert_eq!(got, expected.clone().into_iter().collect::<Vec<_>>());
        let some: Vec<Millis> = q.range(3 * QUARTER, 7 * QUARTER).map(|(s, _)| s).collect();
        assert_eq!(some, [3, 5, 6].map(|s| s * QUARTER));
        assert_eq!(q.range(7 * QUARTER, 3 * QUARTER).count(), 0);
        assert_eq!(q.evict_before(3 * QUARTER), [0, 1, 2].map(|s| s * QUARTER));
        assert_eq!(q.len(), expected.len() - 3);
        assert!(!q.is_empty());
    }

    #[test]
    fn bounds_cover_the_day_up_to_now() {
        let day = 1_000 * HOUR;
        let b = interval_bounds(day, day + 24 * HOUR, Size::Hour, day + 2 * HOUR + 10 * MINUTE);
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].1, b[0].2), (day, day + HOUR));
        assert_eq!((b[2].1, b[2].2), (day + 2 * HOUR, day + 2 * HOUR + 10 * MINUTE));
        // A 25-hour day has 100 quarters; a finished day ends at its end.
        let b = interval_bounds(day, day + 25 * HOUR, Size::Quarter, day + 30 * HOUR);
        assert_eq!(b.len(), 100);
        assert_eq!(b[99].2, day + 25 * HOUR);
        assert!(interval_bounds(day, day + 24 * HOUR, Size::Half, day).is_empty());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!("30m".parse::<Size>(), Ok(Size::Half));
        assert!("20m".parse::<Size>().unwrap_err().contains("15m, 30m, 1h"));
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-0.5"), "-0.5");
        assert_eq!(csv_cell("billing"), "billing");
    }

    #[test]
    fn quarters_keep_what_is_not_evicted() {
        let mut q = Quarters::default();
        q.quarter_mut(0).c.offered += 1;
        q.quarter_mut(QUARTER).c.offered += 2;
        assert_eq!(q.evict_before(QUARTER), vec![0]);
        assert_eq!(
            q.range(0, 2 * QUARTER).map(|(_, a)| a.c.offered).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(quarter_of(10, 10 + QUARTER + 5), 10 + QUARTER);
    }
}
