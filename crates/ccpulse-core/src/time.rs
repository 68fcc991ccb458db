//! Event time: epoch milliseconds, RFC 3339 parsing and human durations (`5m`, `1h`, `7d`).

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
    // jiff's Timestamp parser accepts RFC 3339 (and a little more of ISO 8601); it
    // requires an offset, which is what the contract asks for.
    let ts: jiff::Timestamp = s.parse().ok()?;
    Some(ts.as_millisecond())
}

/// Formats epoch milliseconds as RFC 3339 in UTC (`2026-11-22T09:00:00Z`, with
/// fractional seconds only when they are not zero).
pub fn format_rfc3339(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.to_string(),
        Err(_) => format!("{ms}ms"),
    }
}

/// Serializes epoch milliseconds as an RFC 3339 UTC string (serde `serialize_with`).
pub fn serialize_rfc3339<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*ms))
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
    use super::*;

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
