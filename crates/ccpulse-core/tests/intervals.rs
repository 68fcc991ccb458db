//! Interval reports: hand-computed intervals, a DST day, CSV, and every interval `[a, b)`
//! equal, field for field, to the window of length `b − a` ending at `b`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use ccpulse_core::interval::{IntervalReport, Size, LIVE_FIELDS};
use ccpulse_core::replay::Replay;
use ccpulse_core::snapshot::{GroupRow, Snapshot};
use ccpulse_core::time::{format_rfc3339, parse_rfc3339, MINUTE, SECOND};
use ccpulse_core::EngineConfig;
use serde_json::{json, Value};

fn t(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

fn ev(id: &str, kind: &str, ts: i64, extra: Value) -> String {
    let mut v = json!({"id": id, "type": kind, "ts": format_rfc3339(ts)});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

fn replay(cfg: &Arc<EngineConfig>, lines: &[String], as_of: i64) -> Replay {
    // The wall clock after every event of the tests: events after `as_of` are skipped,
    // not refused as future ones.
    let mut r = Replay::new(cfg.clone(), Some(as_of), t("2026-12-31T00:00:00Z"));
    for (i, l) in lines.iter().enumerate() {
        r.line(i + 1, l);
    }
    assert!(r.invalid.is_empty(), "{:?}", r.invalid);
    r
}

fn group<'a>(r: &'a IntervalReport, from: &str, queue: Option<&str>, channel: &str) -> &'a GroupRow {
    let i = r
        .intervals
        .iter()
        .find(|i| i.from == from)
        .unwrap_or_else(|| panic!("no interval {from}"));
    &i.groups
        .iter()
        .find(|g| g.0.queue.as_deref() == queue && g.0.channel == channel)
        .unwrap_or_else(|| panic!("no group {queue:?}/{channel} at {from}"))
        .0
}

/// A voice contact of `queue` offered at `at`, answered after `wait` s (or abandoned),
/// ended 60 s later and wrapped up 10 s after that.
fn contact(lines: &mut Vec<String>, id: &str, queue: &str, at: i64, wait: i64, answered: bool) {
    lines.push(ev(
        &format!("{id}o"),
        "contact.offered",
        at,
        json!({"contact_id": id, "channel": "voice", "queue": queue}),
    ));
    let decided = at + wait * SECOND;
    if answered {
        lines.push(ev(
            &format!("{id}a"),
            "contact.answered",
            decided,
            json!({"contact_id": id, "agent_id": "a1"}),
        ));
        lines.push(ev(
            &format!("{id}e"),
            "contact.ended",
            decided + MINUTE,
            json!({"contact_id": id}),
        ));
        lines.push(ev(
            &format!("{id}w"),
            "contact.wrapped_up",
            decided + MINUTE + 10 * SECOND,
            json!({"contact_id": id}),
        ));
    } else {
        lines.push(ev(
            &format!("{id}x"),
            "contact.abandoned",
            decided,
            json!({"contact_id": id}),
        ));
    }
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort_by_key(|l| {
        let v: Value = serde_json::from_str(l).unwrap();
        t(v["ts"].as_str().unwrap())
    });
    lines
}

#[test]
fn intervals_by_hand() {
    let cfg = Arc::new(EngineConfig::from_toml("[windows]\ntime_zone = \"Europe/Amsterdam\"\n").unwrap());
    let mut lines = Vec::new();
    // 09:00 local = 08:00Z. Interval 09:00–09:15: two answered (10 s, 30 s), one
    // abandoned after 50 s at 09:10:50.
    contact(&mut lines, "c1", "billing", t("2026-11-23T08:00:00Z"), 10, true);
    contact(&mut lines, "c2", "billing", t("2026-11-23T08:05:00Z"), 30, true);
    contact(&mut lines, "c3", "billing", t("2026-11-23T08:10:00Z"), 50, false);
    // Offered at 09:14:50, answered at 09:15:05: offered in the first quarter, answered
    // (and judged) in the second.
    contact(&mut lines, "c4", "billing", t("2026-11-23T08:14:50Z"), 15, true);
    // Offered at 09:31:00, answered 09:31:12 — and now is 09:31:14: the slice of now
    // (09:31:10–09:31:15) is not in the current interval, as it is in no window.
    contact(&mut lines, "c5", "billing", t("2026-11-23T08:31:00Z"), 12, true);
    let lines = sorted(lines);
    let r = replay(&cfg, &lines, t("2026-11-23T08:31:14Z"));

    let q = r.intervals(Size::Quarter, None).unwrap();
    assert_eq!(
        (q.size, q.date.as_str(), q.time_zone.as_str()),
        (Size::Quarter, "2026-11-23", "Europe/Amsterdam")
    );
    assert_eq!(q.intervals.len(), 9 * 4 + 3, "00:00 to 09:30, and the current one");
    assert_eq!(q.intervals[0].from, "2026-11-23T00:00:00+01:00");
    let last = q.intervals.last().unwrap();
    assert_eq!(
        (last.from.as_str(), last.to.as_str()),
        ("2026-11-23T09:30:00+01:00", "2026-11-23T09:31:10+01:00")
    );

    let g = group(&q, "2026-11-23T09:00:00+01:00", Some("billing"), "voice");
    // c1 and c2 wrapped up at 09:01:20 and 09:06:40: handled here.
    assert_eq!(
        (g.offered, g.answered, g.abandoned, g.answered_within, g.handled),
        (4, 2, 1, 1, 2)
    );
    assert_eq!(
        g.service_level,
        Some(1.0 / 3.0),
        "voice-default: 20 s; the 30-s answer misses it"
    );
    assert_eq!(g.asa_seconds, Some(20.0));
    assert!(!g.breached, "below target, but fewer than min_contacts (10)");
    let g = group(&q, "2026-11-23T09:15:00+01:00", Some("billing"), "voice");
    // c4 answered at 09:15:05 (15 s: met) and wrapped up at 09:16:15.
    assert_eq!((g.offered, g.answered, g.answered_within, g.handled), (0, 1, 1, 1));
    let g = group(&q, "2026-11-23T09:30:00+01:00", Some("billing"), "voice");
    assert_eq!(
        (g.offered, g.answered),
        (1, 0),
        "the answer at 09:31:12 is after the rounded now"
    );
    let all = group(&q, "2026-11-23T09:30:00+01:00", None, "all");
    assert_eq!(all.offered, 1);

    let h = r.intervals(Size::Hour, None).unwrap();
    assert_eq!(h.intervals.len(), 10);
    let g = group(&h, "2026-11-23T09:00:00+01:00", Some("billing"), "voice");
    assert_eq!((g.offered, g.answered, g.abandoned, g.handled), (5, 3, 1, 3));
    // An interval holds no live figure: c5's waiting is not in the report.
    let json = serde_json::to_value(&h).unwrap();
    for f in LIVE_FIELDS {
        assert!(json["intervals"][9]["groups"][0].get(f).is_none(), "{f} in {json}");
    }
}

#[test]
fn a_dst_day_has_100_quarters_and_shows_the_repeated_hour_twice() {
    let cfg = Arc::new(EngineConfig::from_toml("[windows]\ntime_zone = \"Europe/Amsterdam\"\n").unwrap());
    let mut lines = Vec::new();
    // 02:10 CEST (00:10Z) and 02:10 CET (01:10Z): the same local time, an hour apart.
    contact(&mut lines, "first", "q", t("2026-10-25T00:10:00Z"), 5, true);
    contact(&mut lines, "second", "q", t("2026-10-25T01:10:00Z"), 5, true);
    contact(&mut lines, "second2", "q", t("2026-10-25T01:12:00Z"), 5, true);
    let lines = sorted(lines);
    let r = replay(&cfg, &lines, t("2026-10-25T23:30:00Z"));
    let q = r.intervals(Size::Quarter, Some("2026-10-25")).unwrap();
    assert_eq!(q.intervals.len(), 100, "25 hours");
    assert_eq!(q.intervals[99].to, "2026-10-26T00:00:00+01:00");
    assert_eq!(group(&q, "2026-10-25T02:00:00+02:00", Some("q"), "voice").offered, 1);
    assert_eq!(group(&q, "2026-10-25T02:00:00+01:00", Some("q"), "voice").offered, 2);
    let h = r.intervals(Size::Hour, Some("2026-10-25")).unwrap();
    assert_eq!(h.intervals.len(), 25);
    // A date in the future, or older than the days kept, is refused.
    assert!(r
        .intervals(Size::Hour, Some("2026-10-27"))
        .unwrap_err()
        .to_string()
        .contains("after today"));
    assert!(r
        .intervals(Size::Hour, Some("2026-10-01"))
        .unwrap_err()
        .to_string()
        .contains("older than the days kept"));
    assert!(r
        .intervals(Size::Hour, Some("25/10/2026"))
        .unwrap_err()
        .to_string()
        .contains("YYYY-MM-DD"));
}

/// A busy, messy day: three queues, three channels, transfers, abandons, surveys,
/// some events late within the allowed lateness.
fn busy_day(day: i64, hours: i64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let queues = ["billing", "sales", "support"];
    let channels = ["voice", "chat", "email"];
    for i in 0..(hours * 60) {
        let at = day + 8 * 3_600_000 + i * MINUTE + next(60_000) as i64;
        let id = format!("k{i}");
        let channel = channels[next(3) as usize];
        let queue = queues[next(3) as usize];
        let mut push = |kind: &str, ts: i64, extra: Value| {
            let mut v = json!({"contact_id": id});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            lines.push((ts, ev(&format!("{id}-{kind}-{ts}"), kind, ts, v)));
        };
        push(
            "contact.offered",
            at,
            json!({"channel": channel, "queue": queue, "customer_id": format!("cust{}", next(40)), "topic": "t"}),
        );
        let wait = next(120) as i64 * SECOND;
        match next(10) {
            0 | 1 => push("contact.abandoned", at + wait, json!({})),
            2 => push("contact.flowed_out", at + wait, json!({})),
            3 => push(
                "contact.transferred",
                at + wait,
                json!({"to_queue": queues[next(3) as usize]}),
            ),
            _ => {
                let answered = at + wait;
                push(
                    "contact.answered",
                    answered,
                    json!({"agent_id": format!("a{}", next(5))}),
                );
                let ended = answered + (30 + next(600) as i64) * SECOND;
                push("contact.ended", ended, json!({"resolved": next(4) != 0}));
                let wrapped = ended + next(90) as i64 * SECOND;
                push("contact.wrapped_up", wrapped, json!({}));
                if next(3) == 0 {
                    push(
                        "survey.csat",
                        wrapped + MINUTE,
                        json!({"score": 1 + next(5), "scale": "five"}),
                    );
                }
            }
        }
    }
    // Arrival order: event time plus up to 2 minutes of delay.
    let mut arrivals: Vec<(i64, String)> = lines
        .into_iter()
        .enumerate()
        .map(|(i, (ts, l))| (ts + (i as i64 * 7_919) % (2 * MINUTE), l))
        .collect();
    arrivals.sort_by_key(|(a, _)| *a);
    arrivals.into_iter().map(|(_, l)| l).collect()
}

/// A group's fields as JSON, without the live ones, by (queue, channel).
fn fields(rows: &[GroupRow]) -> BTreeMap<(Option<String>, String), Value> {
    rows.iter()
        .map(|g| {
            let mut v = serde_json::to_value(g).unwrap();
            for f in LIVE_FIELDS {
                v.as_object_mut().unwrap().remove(f);
            }
            ((g.queue.as_deref().map(str::to_owned), g.channel.clone()), v)
        })
        .collect()
}

fn window_fields(snap: &Snapshot, name: &str) -> BTreeMap<(Option<String>, String), Value> {
    let w = snap.window(name).unwrap();
    let rows: Vec<GroupRow> = w.queues.iter().chain(&w.channels).cloned().collect();
    let mut f = fields(&rows);
    // A group with contacts waiting but no traffic in the window has a row in the
    // window (for its live figures) and none in the interval.
    f.retain(|_, v| {
        v["queue"].is_null()
            || v["offered"] != 0
            || v["answered"] != 0
            || !v["sla"].as_array().unwrap().is_empty()
            || v["handled"] != 0
            || v["csat_responses"] != 0
    });
    f
}

/// The intervals of a replayed day equal the windows of the same spans: for every
/// interval `[a, b)` of every size, the window of length `b − a` of a replay as of `b`,
/// field for field; the intervals of the whole day's replay equal those of the replay
/// as of `b`; and the CSV holds the JSON's values.
#[test]
fn every_interval_equals_the_window_of_its_span() {
    let cfg = Arc::new(
        EngineConfig::from_toml("[windows]\nsliding = [\"15m\", \"30m\", \"1h\"]\ntime_zone = \"Europe/Amsterdam\"\n")
            .unwrap(),
    );
    let day = t("2026-11-22T23:00:00Z"); // 23 November, local midnight
    let lines = busy_day(day, 4);
    let end = day + 13 * 3_600_000;
    let whole = replay(&cfg, &lines, end);
    let mut compared = 0;
    for size in Size::ALL {
        let report = whole.intervals(size, None).unwrap();
        let csv = report.to_csv();
        check_csv(&report, &csv);
        for i in &report.intervals {
            if i.to_ms - i.from_ms != size.millis() || i.to_ms < day + 8 * 3_600_000 {
                continue;
            }
            let mut at_b = replay(&cfg, &lines, i.to_ms);
            let snap = at_b.snapshot();
            let window = window_fields(&snap, size.as_str());
            let interval = fields(&i.groups.iter().map(|g| g.0.clone()).collect::<Vec<_>>());
            assert_eq!(
                interval, window,
                "{size} interval {} of the whole day vs the window at its end",
                i.from
            );
            let own = at_b.intervals(size, None).unwrap();
            let last = own.intervals.iter().find(|j| j.from == i.from).unwrap();
            assert_eq!(last, i, "{size} interval {} as of its end vs of the whole day", i.from);
            compared += 1;
        }
    }
    // From the (empty) intervals ending at 08:00 to those ending at 13:00: 21 quarters,
    // 11 half hours, 6 hours.
    assert_eq!(compared, 21 + 11 + 6, "every complete interval");
}

/// Each CSV row holds the interval's bounds and its group's JSON values.
fn check_csv(report: &IntervalReport, csv: &str) {
    let mut rows = csv.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(&header[..4], ["interval_from", "interval_to", "queue", "channel"]);
    assert!(!header.contains(&"sla") && !header.contains(&"waiting"));
    let mut n = 0;
    for (i, row) in report
        .intervals
        .iter()
        .flat_map(|i| i.groups.iter().map(move |g| (i, g)))
        .zip(rows)
    {
        let ((interval, g), line) = (i, row);
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        assert_eq!((cells[0], cells[1]), (interval.from.as_str(), interval.to.as_str()));
        let v = serde_json::to_value(g).unwrap();
        for (h, c) in header.iter().zip(&cells).skip(2) {
            let want = match &v[*h] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(*c, want, "{h} of {line}");
        }
        n += 1;
    }
    assert_eq!(n, report.intervals.iter().map(|i| i.groups.len()).sum::<usize>());
}

/// The quarter changes an engine hands out over time (each quarter's latest one), as
/// another instance keeps them, add up to the engine's own quarter-hour intervals.
#[test]
fn quarter_changes_taken_along_the_way_equal_the_intervals() {
    use ccpulse_core::event::parse_event;
    use ccpulse_core::interval::interval_bounds;
    use ccpulse_core::Engine;

    let cfg = Arc::new(EngineConfig::from_toml("[windows]\ntime_zone = \"Europe/Amsterdam\"\n").unwrap());
    let day = t("2026-11-22T23:00:00Z");
    let lines = busy_day(day, 3);
    let wall = t("2026-12-31T00:00:00Z");
    let mut engine = Engine::new(cfg.clone());
    let mut kept: BTreeMap<i64, Vec<(ccpulse_core::partial::GroupKey, ccpulse_core::agg::QueueAgg)>> = BTreeMap::new();
    let mut take = |engine: &mut Engine, now: i64| {
        for c in engine.take_quarter_changes(now) {
            if c.groups.is_empty() {
                kept.remove(&c.start);
            } else {
                kept.insert(c.start, c.groups);
            }
        }
    };
    let mut now = 0;
    for (i, l) in lines.iter().enumerate() {
        let ev = parse_event(l.as_bytes(), wall).unwrap();
        now = now.max(ev.ts);
        engine.apply(&ev);
        if i % 97 == 0 {
            take(&mut engine, now);
        }
    }
    take(&mut engine, now);
    let to = now / (5 * SECOND) * (5 * SECOND);
    let bounds = interval_bounds(day, day + 24 * 3_600_000, Size::Quarter, to);
    let own = engine.intervals(&bounds, now);
    let mut from_changes = 0;
    for w in &own.windows {
        let shared: BTreeMap<_, _> = kept
            .get(&w.from)
            .map(|g| g.iter().cloned().collect())
            .unwrap_or_default();
        assert_eq!(shared, w.leaves, "quarter {}", format_rfc3339(w.from));
        from_changes += shared.len();
    }
    assert!(
        from_changes > 30,
        "{from_changes} group-quarters: the comparison says little"
    );
    assert_eq!(kept.len(), own.windows.iter().filter(|w| !w.leaves.is_empty()).count());
}
