//! Business hours (`spec/kpis.md`, "Business hours"): weekly opening hours in an IANA
//! time zone, closed dates and special dates, and the open time between two instants.
//!
//! A policy that names a calendar measures its threshold in open time: the wait (or the
//! time to resolve) of a contact is the part of `[offered, decision)` inside opening
//! hours, so a contact offered while closed starts its clock at the next opening.
//! Opening hours are local times; on a day whose clocks change, a local time that does
//! not exist (the hour skipped in spring) is taken as the instant after the gap, and a
//! repeated one (autumn) as its first occurrence, so an opening day is 23 or 25 hours
//! of wall time when the change falls inside it.

use std::collections::BTreeMap;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use crate::time::{Millis, DAY};

/// The most days one open-time computation walks: waits longer than this count only
/// their last this-many days (a contact is evicted after its open timeout, 7 days for
/// email by default, long before).
pub const MAX_DAYS: i64 = 400;

/// Opening hours of one day: `[start, end)` in minutes after local midnight, sorted,
/// not overlapping; `end` may be 1440 (midnight of the next day).
pub type DayHours = Vec<(u16, u16)>;

/// A calendar of opening hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    /// Its name (policies name it).
    pub name: String,
    /// The time zone its hours are in.
    pub time_zone: TimeZone,
    /// Opening hours per weekday, Monday first.
    pub weekly: [DayHours; 7],
    /// Dates closed all day (holidays).
    pub closed: Vec<Date>,
    /// Dates with their own opening hours (they win over `closed` and `weekly`).
    pub special: BTreeMap<Date, DayHours>,
}

/// A day's hours written wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HoursError(pub String);

/// Parses `"09:00-17:00"` ranges into sorted, non-overlapping minutes; `"24:00"` ends a
/// day.
pub fn parse_hours(ranges: &[String]) -> Result<DayHours, HoursError> {
    let minute = |s: &str| -> Option<u16> {
        let (h, m) = s.trim().split_once(':')?;
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let mut out: DayHours = Vec::new();
    for r in ranges {
        let parsed = r
            .split_once('-')
            .and_then(|(a, b)| Some((minute(a)?, minute(b)?)))
            .filter(|(a, b)| a < b);
        let Some(range) = parsed else {
            return Err(HoursError(format!(
                "{r:?} is not a range \"HH:MM-HH:MM\" with its start before its end (\"24:00\" ends the day)"
            )));
        };
        out.push(range);
    }
    out.sort_unstable();
    if out.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(HoursError(format!("{ranges:?}: ranges overlap")));
    }
    Ok(out)
}

impl Calendar {
    /// The opening hours of `date`.
    pub fn hours(&self, date: Date) -> &[(u16, u16)] {
        if let Some(h) = self.special.get(&date) {
            return h;
        }
        if self.closed.contains(&date) {
            return &[];
        }
        &self.weekly[date.weekday().to_monday_zero_offset() as usize]
    }

    /// The instant of local time `minute` (after midnight) of `date`.
    fn instant(&self, date: Date, minute: u16) -> Option<Millis> {
        let (date, minute) = if minute >= 24 * 60 {
            (date.tomorrow().ok()?, minute - 24 * 60)
        } else {
            (date, minute)
        };
        let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
        let zoned = date.to_datetime(time).to_zoned(self.time_zone.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }

    /// The local date of `ts`.
    fn date_of(&self, ts: Millis) -> Option<Date> {
        let t = jiff::Timestamp::from_millisecond(ts).ok()?;
        Some(t.to_zoned(self.time_zone.clone()).date())
    }

    /// Open time in `[from, to)`, in milliseconds (0 when `to <= from`).
    pub fn open_between(&self, from: Millis, to: Millis) -> Millis {
        if to <= from {
            return 0;
        }
        let from = from.max(to.saturating_sub(MAX_DAYS * DAY));
        let (Some(mut date), Some(last)) = (self.date_of(from), self.date_of(to - 1)) else {
            return 0;
        };
        let mut open = 0;
        loop {
            for &(start, end) in self.hours(date) {
                if let (Some(s), Some(e)) = (self.instant(date, start), self.instant(date, end)) {
                    open += (e.min(to) - s.max(from)).max(0);
                }
            }
            if date >= last {
                break;
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        open
    }

    /// Whether the calendar is open at `ts`.
    pub fn is_open(&self, ts: Millis) -> bool {
        self.open_between(ts, ts + 1) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{parse_rfc3339, HOUR, MINUTE};

    fn t(s: &str) -> Millis {
        parse_rfc3339(s).unwrap_or_default()
    }

    /// Amsterdam, open 09:00–17:00 Monday to Friday, 10:00–14:00 on Saturday, closed on
    /// 2026-12-25, and 09:00–12:00 on 2026-12-24.
    fn office() -> Calendar {
        let h = |r: &[&str]| parse_hours(&r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap_or_default();
        let week = h(&["09:00-17:00"]);
        Calendar {
            name: "office".into(),
            time_zone: TimeZone::get("Europe/Amsterdam").unwrap_or(TimeZone::UTC),
            weekly: [
                week.clone(),
                week.clone(),
                week.clone(),
                week.clone(),
                week,
                h(&["10:00-14:00"]),
                Vec::new(),
            ],
            closed: vec![jiff::civil::date(2026, 12, 25)],
            special: [(jiff::civil::date(2026, 12, 24), h(&["09:00-12:00"]))].into(),
        }
    }

    #[test]
    fn an_email_at_23_answered_at_09_10_waited_ten_minutes() {
        let c = office();
        // Monday 2026-11-23 23:00 to Tuesday 09:10, Amsterdam (UTC+1).
        assert_eq!(
            c.open_between(t("2026-11-23T23:00:00+01:00"), t("2026-11-24T09:10:00+01:00")),
            10 * MINUTE
        );
        // Offered while open: plain elapsed time.
        assert_eq!(
            c.open_between(t("2026-11-24T10:00:00+01:00"), t("2026-11-24T10:00:20+01:00")),
            20_000
        );
        // Friday 16:50 to Monday 09:05: 10 min on Friday, Saturday 10-14 (4 h), 5 min.
        assert_eq!(
            c.open_between(t("2026-11-27T16:50:00+01:00"), t("2026-11-30T09:05:00+01:00")),
            15 * MINUTE + 4 * HOUR
        );
        assert!(c.is_open(t("2026-11-24T12:00:00+01:00")));
        assert!(!c.is_open(t("2026-11-24T17:00:00+01:00")), "17:00 is closing time");
        assert!(!c.is_open(t("2026-11-29T12:00:00+01:00")), "Sunday");
    }

    #[test]
    fn holidays_and_special_dates() {
        let c = office();
        // Thursday 2026-12-24 opens 09:00-12:00 only; Friday 25th closed; Saturday 26th
        // its usual 10-14.
        assert_eq!(
            c.open_between(t("2026-12-24T08:00:00+01:00"), t("2026-12-26T11:00:00+01:00")),
            3 * HOUR + HOUR
        );
        assert!(!c.is_open(t("2026-12-25T10:00:00+01:00")));
        assert!(!c.is_open(t("2026-12-24T13:00:00+01:00")));
    }

    #[test]
    fn across_a_change_of_clocks() {
        // Open all day every day: open time is wall time, 23 h on the spring day and
        // 25 h on the autumn day.
        let all = parse_hours(&["00:00-24:00".to_owned()]).unwrap_or_default();
        let c = Calendar {
            name: "always".into(),
            time_zone: TimeZone::get("Europe/Amsterdam").unwrap_or(TimeZone::UTC),
            weekly: std::array::from_fn(|_| all.clone()),
            closed: Vec::new(),
            special: BTreeMap::new(),
        };
        assert_eq!(
            c.open_between(t("2026-03-29T00:00:00+01:00"), t("2026-03-30T00:00:00+02:00")),
            23 * HOUR
        );
        assert_eq!(
            c.open_between(t("2026-10-25T00:00:00+02:00"), t("2026-10-26T00:00:00+01:00")),
            25 * HOUR
        );
        // Open 01:00-04:00 local on the spring day: 02:00-03:00 does not exist, so the
        // opening is two hours of wall time.
        let night = parse_hours(&["01:00-04:00".to_owned()]).unwrap_or_default();
        let c = Calendar {
            weekly: std::array::from_fn(|_| night.clone()),
            ..c
        };
        assert_eq!(
            c.open_between(t("2026-03-29T00:00:00+01:00"), t("2026-03-29T12:00:00+02:00")),
            2 * HOUR
        );
        assert_eq!(
            c.open_between(t("2026-10-25T00:00:00+02:00"), t("2026-10-25T12:00:00+01:00")),
            4 * HOUR,
            "the repeated hour counts twice"
        );
    }

    #[test]
    fn hours_are_checked() {
        assert!(parse_hours(&["17:00-09:00".to_owned()]).is_err());
        assert!(parse_hours(&["9-17".to_owned()]).is_err());
        assert!(parse_hours(&["09:00-12:00".to_owned(), "11:00-14:00".to_owned()]).is_err());
        assert!(parse_hours(&["24:30-24:40".to_owned()]).is_err());
        assert_eq!(
            parse_hours(&["13:00-17:00".to_owned(), "08:30-12:00".to_owned()]).unwrap_or_default(),
            vec![(510, 720), (780, 1020)]
        );
    }

    #[test]
    fn a_very_long_span_costs_a_bounded_walk() {
        let c = office();
        let open = c.open_between(t("1990-01-01T00:00:00Z"), t("2026-11-24T00:00:00Z"));
        assert!(open > 0 && open < MAX_DAYS * DAY);
    }
}
