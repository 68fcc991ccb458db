//! One `queue_log` line: `time|callid|queue|agent|verb|data1|data2|…` (Asterisk's
//! `ast_queue_log` in `apps/app_queue.c`, and `logger.c` for the file format).

use ccpulse_core::time::Millis;

/// The longest line read, in bytes: a real line is under 300; a longer one is
/// reported, not read, so that no line costs more than a short one.
pub const MAX_LINE_BYTES: usize = 4096;

/// A parsed line, borrowing from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// Event time, epoch milliseconds.
    pub ts: Millis,
    /// The call's unique id (`NONE`, `REALTIME`, `MANAGER`, `CLI` for non-call lines).
    pub callid: &'a str,
    /// The queue (`NONE` for non-queue lines).
    pub queue: &'a str,
    /// The agent or member as written (`Agent/1001`, `PJSIP/1001`, a member name), or `NONE`.
    pub agent: &'a str,
    /// The verb (`ENTERQUEUE`, `CONNECT`, …).
    pub verb: &'a str,
    /// The data fields after the verb (absent ones are not there).
    pub data: Vec<&'a str>,
}

impl Line<'_> {
    /// Data field `i`, `""` when absent.
    pub fn field(&self, i: usize) -> &str {
        self.data.get(i).copied().unwrap_or("")
    }

    /// Data field `i` as whole seconds, counted from the end of the fields when `from_end`
    /// (verbs whose leading fields vary, like `ATTENDEDTRANSFER`).
    pub fn seconds(&self, i: usize, from_end: bool) -> Option<Millis> {
        let f = if from_end {
            self.data.len().checked_sub(i + 1).and_then(|j| self.data.get(j))?
        } else {
            self.data.get(i)?
        };
        let v: i64 = f.trim().parse().ok()?;
        (0..=10 * 365 * 86_400).contains(&v).then_some(v * 1000)
    }
}

/// Parses a line; `tz` is the zone of timestamps written as local date and time.
pub fn parse<'a>(text: &'a str, tz: &jiff::tz::TimeZone) -> Result<Line<'a>, String> {
    let mut parts = text.split('|');
    let ts_text = parts.next().unwrap_or("");
    let (Some(callid), Some(queue), Some(agent), Some(verb)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("fewer than 5 fields (time|callid|queue|agent|verb)".into());
    };
    if verb.is_empty() {
        return Err("empty verb".into());
    }
    let ts = parse_time(ts_text.trim(), tz).ok_or_else(|| format!("unreadable time {:?}", clip(ts_text)))?;
    Ok(Line {
        ts,
        callid,
        queue,
        agent,
        verb,
        data: parts.collect(),
    })
}

/// The start of `s`, for messages.
pub fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A `queue_log` time: epoch seconds (with an optional fraction), as the file logger
/// writes it, or a local `YYYY-MM-DD HH:MM:SS[.ffffff]` as realtime (database) back ends
/// store it, read in `tz`.
pub fn parse_time(s: &str, tz: &jiff::tz::TimeZone) -> Option<Millis> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit()) {
        if int.len() > 12 {
            return None;
        }
        let secs: i64 = int.parse().ok()?;
        let mut ms = 0i64;
        for (i, d) in frac.bytes().take(3).enumerate() {
            ms += i64::from(d - b'0') * [100, 10, 1][i];
        }
        let t = secs * 1000 + ms;
        return jiff::Timestamp::from_millisecond(t).ok().map(|_| t);
    }
    let dt: jiff::civil::DateTime = s.replace(' ', "T").parse().ok()?;
    let zoned = dt.to_zoned(tz.clone()).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_fields_and_times() {
        let utc = jiff::tz::TimeZone::UTC;
        let l = parse(
            "1383904392|1383900788.167039|q12|Agent/12|CONNECT|3|1383900789.167040|2",
            &utc,
        )
        .unwrap();
        assert_eq!(l.ts, 1_383_904_392_000);
        assert_eq!(
            (l.callid, l.queue, l.agent, l.verb),
            ("1383900788.167039", "q12", "Agent/12", "CONNECT")
        );
        assert_eq!(l.seconds(0, false), Some(3000));
        assert_eq!(l.seconds(0, true), Some(2000));
        assert_eq!(l.field(7), "");
        let l = parse("1383904392.25|c|q|NONE|ENTERQUEUE", &utc).unwrap();
        assert_eq!(l.ts, 1_383_904_392_250);
        assert!(l.data.is_empty());
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let l = parse("2026-07-01 10:00:00.5|c|q|NONE|ENTERQUEUE||123|1", &berlin).unwrap();
        assert_eq!(
            l.ts,
            ccpulse_core::time::parse_rfc3339("2026-07-01T08:00:00.5Z").unwrap()
        );
        assert!(parse("noon|c|q|NONE|ENTERQUEUE", &utc)
            .unwrap_err()
            .contains("unreadable time"));
        assert!(parse("1383904392|c|q", &utc).unwrap_err().contains("fewer than 5"));
        assert!(parse("99999999999999|c|q|a|V", &utc).is_err());
    }
}
