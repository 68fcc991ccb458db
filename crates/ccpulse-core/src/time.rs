//! Event time: epoch milliseconds, RFC 3339 parsing and human durations (`5m`, `1h`, `7d`).

use std::cell::Cell;
use std::fmt;

use serde::{Deserialize, Deserializer, Serializer};

/// Milliseconds since the Unix epoch, UTC. All event time in the engine is this type.
pub type Millis = i64;

/// One second in milliseconds.
pub const SECOND: Millis = 1_000;
/// One minute in milliseconds.
pub const MINUTE: Millis = 60 * SECOND;
/// One hour in milliseconds.
pub const HOUR: Millis = 60 * MINUTE;
/// One day (24 h) in milliseconds.
pub const DAY: Millis = 24 * HOUR;

/// Parses an RFC 3339 timestamp with an offset (`2026-11-22T09:15:03.120Z`,
/// `2026-11-22T10:15:03+01:00`) into epoch milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    if let Some(ms) = parse_common_fast(s.as_bytes()) {
        return Some(ms);
    }
    // jiff's Timestamp parser accepts RFC 3339 (and a little more of ISO 8601); it
    // requires an offset, which is what the contract asks for.
    let ts: jiff::Timestamp = s.parse().ok()?;
    Some(ts.as_millisecond())
}

/// The forms nearly every producer writes, `YYYY-MM-DDTHH:MM:SS[.fraction]Z` or with a
/// numeric offset `±HH:MM` instead of `Z` (Python's `isoformat()` writes `+00:00`), `t`
/// or a space for `T` and `z` for `Z` as RFC 3339 allows, with a year from 1970 and an
/// instant from the epoch on, read directly: jiff's general parser cost about 40 ns per
/// event (a twentieth of the whole, measured with `perf`), and `+00:00` took it for 12 %
/// more instructions on a replay (`cachegrind`). Anything else (offsets past 23:59 or
/// without a colon, `-00:00`, leap seconds, invalid dates) gives `None`, and jiff
/// decides. A property test checks that both agree.
fn parse_common_fast(b: &[u8]) -> Option<Millis> {
    let (date_time, rest) = b.split_at_checked(19)?;
    let (date, time) = date_time.split_at(10);
    // RFC 3339 allows a lowercase `t`, and a space for readability (Python's `str()`).
    let [b'T' | b't' | b' ', h0, h1, b':', n0, n1, b':', s0, s1] = *time else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
    let two = |a: u8, b: u8| Some(digit(a)? * 10 + digit(b)?);
    let days = match LAST_DATE.get() {
        (last, days) if last == date => days,
        _ => {
            let days = days_of_date(date)?;
            if let Ok(date) = date.try_into() {
                LAST_DATE.set((date, days));
            }
            days
        }
    };
    let (hour, minute, second) = (two(h0, h1)?, two(n0, n1)?, two(s0, s1)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let (fraction, offset) = match *rest {
        [ref fraction @ .., b'Z' | b'z'] => (fraction, 0),
        [ref fraction @ .., sign @ (b'+' | b'-'), h0, h1, b':', m0, m1] => {
            let (hours, minutes) = (two(h0, h1)?, two(m0, m1)?);
            // `-00:00` means "offset unknown" in RFC 3339: jiff decides.
            if hours > 23 || minutes > 59 || (sign == b'-' && hours == 0 && minutes == 0) {
                return None;
            }
            let offset = (hours * 60 + minutes) * 60;
            (fraction, if sign == b'+' { offset } else { -offset })
        }
        _ => return None,
    };
    // Milliseconds from the fraction, truncated (as jiff's `as_millisecond` does for
    // times after the epoch); at most nine digits, as jiff allows.
    let mut millis = 0;
    match fraction {
        [] => {}
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            for (i, &c) in digits.iter().enumerate() {
                let d = digit(c)?;
                if i < 3 {
                    millis += d * [100, 10, 1][i];
                }
            }
        }
        _ => return None,
    }
    let seconds = (((days * 24 + hour) * 60 + minute) * 60 + second) - offset;
    // Before the epoch, truncation and flooring differ: jiff decides.
    (seconds >= 0).then_some(seconds * SECOND + millis)
}

thread_local! {
    /// The date part (`YYYY-MM-DD`) of the last timestamp read on this thread, with its
    /// days since the epoch: the events of a stream nearly all share their date, and
    /// reading and checking it again was a third of a timestamp's instructions. A cache
    /// only: the result is the same with it or without it.
    static LAST_DATE: Cell<([u8; 10], i64)> = const { Cell::new((*b"1970-01-01", 0)) };
}

/// Days since the epoch of a `YYYY-MM-DD` date from 1970 on; `None` for anything else.
fn days_of_date(date: &[u8]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *date else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
    let two = |a: u8, b: u8| Some(digit(a)? * 10 + digit(b)?);
    let year = two(y0, y1)? * 100 + two(y2, y3)?;
    let (month, day) = (two(m0, m1)?, two(d0, d1)?);
    if year < 1970 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as RFC 3339 in UTC (`2026-11-22T09:00:00Z`, with
/// fractional seconds only when they are not zero).
pub fn format_rfc3339(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.to_string(),
        Err(_) => format!("{ms}ms"),
    }
}

/// Formats epoch milliseconds as RFC 3339 with the offset of `tz` in force then
/// (`2026-11-22T10:00:00+01:00`).
pub fn format_local(ms: Millis, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.display_with_offset(tz.to_offset(ts)).to_string(),
        Err(_) => format!("{ms}ms"),
    }
}

/// Serializes epoch milliseconds as an RFC 3339 UTC string (serde `serialize_with`).
pub fn serialize_rfc3339<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*ms))
}

/// Serializes optional epoch milliseconds as an RFC 3339 UTC string, or `null`.
pub fn serialize_opt_rfc3339<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_rfc3339(*ms)),
        None => s.serialize_none(),
    }
}

/// A length of time, written in configuration as `500ms`, `20s`, `5m`, `1h`, `7d` or a
/// combination such as `1h30m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Millis);

impl Span {
    /// The span in milliseconds.
    pub fn millis(self) -> Millis {
        self.0
    }

    /// Parses `500ms`, `20s`, `5m`, `1h`, `7d`, `1h30m`. Zero and negative spans are errors.
    pub fn parse(s: &str) -> Result<Self, String> {
        let text = s.trim();
        if text.is_empty() {
            return Err("empty duration".into());
        }
        let mut total: Millis = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(format!("invalid duration {text:?}: expected a number at {rest:?}"));
            }
            let (num, tail) = rest.split_at(digits);
            let value: Millis = num
                .parse()
                .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
            let unit_len = tail.chars().take_while(|c| c.is_ascii_alphabetic()).count();
            let (unit, tail) = tail.split_at(unit_len);
            let factor = match unit {
                "ms" => 1,
                "s" => SECOND,
                "m" => MINUTE,
                "h" => HOUR,
                "d" => DAY,
                "" => return Err(format!("invalid duration {text:?}: missing unit (ms, s, m, h, d)")),
                other => {
                    return Err(format!(
                        "invalid duration {text:?}: unknown unit {other:?} (ms, s, m, h, d)"
                    ))
                }
            };
            total = value
                .checked_mul(factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
            rest = tail;
        }
        if total <= 0 {
            return Err(format!("invalid duration {text:?}: must be greater than zero"));
        }
        Ok(Span(total))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        let units = [(DAY, "d"), (HOUR, "h"), (MINUTE, "m"), (SECOND, "s")];
        for (size, name) in units {
            if ms % size == 0 {
                return write!(f, "{}{}", ms / size, name);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Formats a time difference for error messages: `3h`, `12m`, `45s`.
pub fn human_delta(ms: Millis) -> String {
    if ms >= HOUR {
        format!("{}h", ms / HOUR)
    } else if ms >= MINUTE {
        format!("{}m", ms / MINUTE)
    } else {
        format!("{}s", ms / SECOND)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn jiff_millis(s: &str) -> Option<Millis> {
        s.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        /// The fast path agrees with jiff, and takes every plain time from the epoch with `Z`,
        /// `z` or an offset up to 23:59, and `T`, `t` or a space between date and time.
        #[test]
        fn fast_path_agrees_with_jiff(
            y in 1960i64..2110, m in 0i64..14,
            d in prop_oneof![0i64..33, 27i64..33], // month ends, twice as often
            h in 0i64..25, n in 0i64..61, sec in 0i64..62,
            fraction in prop::sample::select(vec!["", ".", ".1", ".12", ".123", ".1234", ".999999999", ".1234567890", ".x"]),
            zone in prop_oneof![6 => Just("Z"), 3 => prop::sample::select(vec!["+00:00", "+01:30", "-05:00", "+23:59", "-23:59", "+05:45"]),
                1 => prop::sample::select(vec!["z", "", "-00:00", "+24:00", "+00:60", "+0100", "+01", "+1:00", "+01:00:00", "Z+01:00", "+01:0x"])],
            sep in prop_oneof![6 => Just("T"), 1 => prop::sample::select(vec!["t", " "])],
        ) {
            let text = format!("{y:04}-{m:02}-{d:02}{sep}{h:02}:{n:02}:{sec:02}{fraction}{zone}");
            let expected = jiff_millis(&text);
            prop_assert_eq!(parse_rfc3339(&text), expected, "{}", text);
            prop_assert_eq!(parse_rfc3339(&text), expected, "{} (its date cached)", text);
            let numeric = zone.len() == 6 && zone != "-00:00" && zone != "+24:00" && zone != "+00:60";
            let plain = (zone == "Z" || zone == "z" || numeric) && y >= 1970 && sec < 60;
            if plain && expected.is_some_and(|ms| ms >= 0) {
                prop_assert_eq!(parse_common_fast(text.as_bytes()), expected, "{}", text);
            }
        }
    }

    #[test]
    fn numeric_offsets_are_read_as_jiff_reads_them() {
        for text in [
            "2026-11-16T08:00:00.123456+00:00",
            "2026-11-16T09:30:00+01:30",
            "2026-11-16T03:00:00.5-05:00",
            "2026-11-16T23:59:59.999+23:59",
            "2026-11-16T00:00:00-23:59",
            "2026-11-16 08:00:00.5+01:00",
            "2026-11-16t08:00:00z",
            // Before the epoch: jiff truncates toward zero, not down.
            "1970-01-01T00:30:00.1234+01:00",
        ] {
            assert_eq!(parse_rfc3339(text), jiff_millis(text), "{text}");
        }
        assert_eq!(
            parse_rfc3339("2026-11-16T09:30:00+01:30"),
            parse_rfc3339("2026-11-16T08:00:00Z")
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:30:00.1234+01:00"), Some(-1_799_876));
        assert_eq!(
            parse_common_fast(b"2026-11-16 09:00:00.5+01:00"),
            parse_rfc3339("2026-11-16T08:00:00.500Z"),
            "a space, read on the fast path"
        );
    }

    #[test]
    fn the_cached_date_is_the_date_read() {
        for (text, day) in [
            ("2026-11-22T09:00:00Z", 22),
            ("2026-11-22T23:59:59.999Z", 22),
            ("2026-11-23T00:00:00Z", 23),
            ("2026-11-22T09:00:00Z", 22),
            ("2026-12-22T09:00:00Z", 52),
        ] {
            let expected = parse_rfc3339("2026-11-01T00:00:00Z").unwrap() + (day - 1) * DAY;
            let got = parse_rfc3339(text).unwrap();
            assert_eq!(got.div_euclid(DAY) * DAY, expected, "{text}");
        }
        assert_eq!(
            parse_rfc3339("\0\0\0\0\0\0\0\0\0\0T00:00:00Z"),
            None,
            "not the initial date"
        );
        assert_eq!(
            parse_rfc3339("2026-02-29T00:00:00Z"),
            None,
            "after a valid date of the month"
        );
    }

    #[test]
    fn parses_both_offsets() {
        let z = parse_rfc3339("2026-11-22T09:15:03.120Z").unwrap();
        let plus = parse_rfc3339("2026-11-22T10:15:03.120+01:00").unwrap();
        assert_eq!(z, plus);
        assert_eq!(z % 1000, 120);
        assert_eq!(parse_rfc3339("2026-11-22T09:15:03"), None, "an offset is required");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn formats_utc() {
        let ms = parse_rfc3339("2026-11-22T10:00:00+01:00").unwrap();
        assert_eq!(format_rfc3339(ms), "2026-11-22T09:00:00Z");
    }

    #[test]
    fn spans() {
        assert_eq!(Span::parse("5m").unwrap().millis(), 300_000);
        assert_eq!(Span::parse("1h30m").unwrap().millis(), 5_400_000);
        assert_eq!(Span::parse("500ms").unwrap().millis(), 500);
        assert_eq!(Span::parse("7d").unwrap().millis(), 7 * DAY);
        assert!(Span::parse("5").unwrap_err().contains("missing unit"));
        assert!(Span::parse("5y").unwrap_err().contains("unknown unit"));
        assert!(Span::parse("0s").unwrap_err().contains("greater than zero"));
        assert_eq!(Span(HOUR).to_string(), "1h");
        assert_eq!(Span(15 * MINUTE).to_string(), "15m");
    }
}
