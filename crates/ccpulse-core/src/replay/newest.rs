//! How far a replay's watermark will get, found before the replay from a sample of its
//! lines: the newest time among valid events that it will apply. Its engines then keep
//! out of their slice rings what no window at the end can read
//! ([`Engine::expect_watermark`](crate::engine::Engine::expect_watermark)), which is
//! most of what a replay of a day writes to them.
//!
//! A sample is enough: any valid event before `--as-of` is one the watermark reaches
//! (a too-old one is below it already). The one exception is a duplicate whose earlier
//! copy had an older time, so [`super::replay_segments`] checks the watermark it got
//! and replays again without the hint when it fell short.

use crate::event::parse_event_str;
use crate::time::Millis;

use super::{json_of, line_ranges};

/// Lines read across the whole input, evenly spaced.
const SPREAD: usize = 256;

/// The longest line sampled, and how far past a spread point its start is looked for:
/// so that an input without line breaks costs [`SPREAD`] times this, not times its size.
const LINE_MAX: usize = 64 << 10;

/// Bytes read whole at the end of the input: files are mostly in time order, so the
/// newest events are usually among their last lines (about 300 lines of a realistic day).
const TAIL: usize = 64 << 10;

/// The newest `ts` of the valid events before `as_of` among [`SPREAD`] lines spread over
/// `segments` and every line of their last [`TAIL`] bytes; `None` when none of them is
/// one. Reads at most `TAIL` bytes and `SPREAD` lines of at most [`LINE_MAX`] bytes,
/// whatever the input's size.
pub(super) fn newest_sampled(segments: &[&[u8]], as_of: Option<Millis>, now_wall: Millis) -> Option<Millis> {
    let mut newest = None;
    let mut note = |line: &[u8]| {
        if let Some(ts) = applied_ts(line, as_of, now_wall) {
            newest = newest.max(Some(ts));
        }
    };
    let total: usize = segments.iter().map(|s| s.len()).sum();
    for k in 0..SPREAD {
        let mut at = total / SPREAD * k;
        for s in segments {
            if at < s.len() {
                if let Some(line) = line_from(s, at) {
                    note(line);
                }
                break;
            }
            at -= s.len();
        }
    }
    if let Some(last) = segments.iter().rev().find(|s| !s.is_empty()) {
        let from = last.len().saturating_sub(TAIL);
        let start = if from == 0 {
            0
        } else {
            match memchr::memchr(b'\n', &last[from - 1..]) {
                Some(i) => from + i,
                None => last.len(),
            }
        };
        for r in line_ranges(last, start..last.len()) {
            note(&last[r]);
        }
    }
    newest
}

/// The first whole line starting at or after `at` in `segment`, without its `\n`;
/// `None` when none starts within [`LINE_MAX`] bytes of `at`, or it is longer.
fn line_from(segment: &[u8], at: usize) -> Option<&[u8]> {
    let within = |from: usize| &segment[from..segment.len().min(from.saturating_add(LINE_MAX))];
    let start = match at {
        0 => 0,
        _ => at + memchr::memchr(b'\n', within(at - 1))?,
    };
    let line = within(start);
    match memchr::memchr(b'\n', line) {
        Some(end) => Some(&line[..end]),
        None if start + line.len() == segment.len() => Some(line),
        None => None,
    }
}

/// The `ts` of `line` when it is a valid event before `as_of`, read as the replay reads
/// it.
fn applied_ts(line: &[u8], as_of: Option<Millis>, now_wall: Millis) -> Option<Millis> {
    let text = std::str::from_utf8(line).ok()?.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return None;
    }
    let ts = parse_event_str(json_of(text), now_wall).ok()?.ts;
    (as_of.is_none_or(|t| ts < t)).then_some(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u32, ts: &str) -> String {
        format!(
            r#"{{"id":"e{id}","type":"contact.offered","ts":"{ts}","contact_id":"c{id}","channel":"voice","queue":"q"}}"#
        )
    }

    fn ms(ts: &str) -> Millis {
        crate::time::parse_rfc3339(ts).expect("a valid time")
    }

    const WALL: &str = "2026-11-17T12:00:00Z";

    #[test]
    fn the_newest_of_a_file_in_time_order_is_its_last_line() {
        let text: String = (0..5000)
            .map(|i| event(i, &format!("2026-11-16T{:02}:{:02}:00Z", i / 300, (i / 5) % 60)) + "\n")
            .collect();
        let last = "2026-11-16T16:39:00Z";
        assert!(text.ends_with(&format!("{}\n", event(4999, last))));
        assert_eq!(newest_sampled(&[text.as_bytes()], None, ms(WALL)), Some(ms(last)));
    }

    #[test]
    fn a_newest_line_far_from_the_end_is_found_by_the_spread() {
        // The newest line first (the spread's first sample), then more old lines than
        // the tail reads.
        let old = event(1, "2026-11-16T08:00:00Z") + "\n";
        let mut text = event(2, "2026-11-16T20:00:00Z") + "\n";
        text += &old.repeat(4 * TAIL / old.len());
        let got = newest_sampled(&[text.as_bytes()], None, ms(WALL));
        assert_eq!(got, Some(ms("2026-11-16T20:00:00Z")));
    }

    #[test]
    fn lines_longer_than_the_limit_are_not_sampled() {
        // A newest line longer than LINE_MAX first, then old lines: only the old ones
        // are read; a line of the limit's length is.
        let padded = |ts: &str, len: usize| {
            let e = event(9, ts);
            format!(
                "{},\"pad\":\"{}\"}}\n",
                &e[..e.len() - 1],
                "x".repeat(len - e.len() - 10)
            )
        };
        let old = event(1, "2026-11-16T08:00:00Z") + "\n";
        let long = padded("2026-11-16T20:00:00Z", LINE_MAX + 1);
        // A valid event, left out for its length alone.
        assert_eq!(
            applied_ts(long.as_bytes(), None, ms(WALL)),
            Some(ms("2026-11-16T20:00:00Z"))
        );
        let text = long + &old.repeat(4 * TAIL / old.len());
        let got = newest_sampled(&[text.as_bytes()], None, ms(WALL));
        assert_eq!(got, Some(ms("2026-11-16T08:00:00Z")));
        let fits = padded("2026-11-16T20:00:00Z", LINE_MAX - 1);
        let text = fits + &old.repeat(4 * TAIL / old.len());
        let got = newest_sampled(&[text.as_bytes()], None, ms(WALL));
        assert_eq!(got, Some(ms("2026-11-16T20:00:00Z")));
    }

    #[test]
    fn invalid_lines_and_lines_at_or_after_as_of_are_not_counted() {
        let text = [
            event(1, "2026-11-16T08:00:00Z"),
            event(2, "2026-11-16T09:00:00Z"),
            "{not json".to_owned(),
            event(3, "2030-01-01T00:00:00Z"),
            String::new(),
        ]
        .join("\n");
        let bytes = text.as_bytes();
        // A time years after the wall clock is invalid.
        assert_eq!(
            newest_sampled(&[bytes], None, ms(WALL)),
            Some(ms("2026-11-16T09:00:00Z"))
        );
        let as_of = Some(ms("2026-11-16T09:00:00Z"));
        assert_eq!(
            newest_sampled(&[bytes], as_of, ms(WALL)),
            Some(ms("2026-11-16T08:00:00Z"))
        );
        assert_eq!(newest_sampled(&[b"{not json\n"], None, ms(WALL)), None);
        assert_eq!(newest_sampled(&[], None, ms(WALL)), None);
    }

    #[test]
    fn segments_are_read_as_one_input() {
        let a = event(1, "2026-11-16T08:00:00Z") + "\n";
        let b = event(2, "2026-11-16T21:00:00Z") + "\n";
        let got = newest_sampled(&[a.as_bytes(), b.as_bytes(), b""], None, ms(WALL));
        assert_eq!(got, Some(ms("2026-11-16T21:00:00Z")));
    }
}
