//! A replay split over several engines equals a one-engine replay, on a realistic day
//! (bare JSON lines and `key<TAB>json` lines; with sent surveys), on the simulator's
//! stream with invalid messages, and through the real binary (`ccpulse replay
//! --threads`, windows and interval reports, with business hours too). Everything is
//! compared: the snapshot (staffing, agents' service level, surveys sent and response
//! rates included), its drill-down lists, and the interval reports of today and of the
//! day before.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;

use ccpulse_core::interval::Size;
use ccpulse_core::replay::{replay_bytes, ReplayOutcome};
use ccpulse_core::time::{format_rfc3339, parse_rfc3339, DAY, HOUR, MINUTE};
use ccpulse_core::EngineConfig;
use ccpulse_sim::day::{generate, write, DayConfig, Line};
use ccpulse_tests::{ccpulse_bin, repo_root};
use serde_json::{json, Value};

/// Everything a replay says, but for the engines' memory gauges (how many groups,
/// agents and slices each holds), which depend on how the stream was split.
fn said(o: &ReplayOutcome) -> Value {
    let s = &o.snapshot.stats;
    let day_before = jiff::Timestamp::from_millisecond(o.snapshot.now - DAY)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let intervals: Vec<Value> = [Size::Quarter, Size::Half, Size::Hour]
        .into_iter()
        .flat_map(|size| [None, Some(day_before.as_str())].map(move |date| (size, date)))
        .map(|(size, date)| match o.intervals(size, date) {
            Ok(r) => serde_json::to_value(&r).unwrap(),
            Err(e) => json!({ "error": e.to_string() }),
        })
        .collect();
    json!({
        "intervals": intervals,
        "snapshot": serde_json::to_value(&o.snapshot).unwrap(),
        // The drill-down lists (not serialized in the snapshot).
        "listed": format!("{:?}", o.snapshot.listed),
        "invalid": o.invalid.iter().map(|e| json!([e.line, e.reason])).collect::<Vec<_>>(),
        "counts": [o.lines as u64, o.duplicates, o.after_as_of],
        "stats": [s.applied, s.duplicates, s.too_old, s.late, s.after_close, s.evicted_open, s.evicted_cap,
                  s.over_cap, s.open_contacts, s.closed_contacts, s.customer_offers, s.dedupe_ids],
        "watermark": s.watermark,
    })
}

fn check(text: &[u8], as_of: Option<i64>, wall: i64) -> ReplayOutcome {
    let cfg = Arc::new(EngineConfig::default());
    let one = replay_bytes(text, cfg.clone(), as_of, wall, 1);
    for threads in [2, 4] {
        let split = replay_bytes(text, cfg.clone(), as_of, wall, threads);
        assert_eq!(split.engines, threads);
        assert!(said(&split) == said(&one), "{threads} engines differ from one");
    }
    one
}

#[test]
fn a_realistic_day_splits_over_engines() {
    let cfg = DayConfig {
        contacts: 20_000,
        customers: 10_000,
        ..DayConfig::default()
    };
    let (lines, stats) = generate(&cfg);
    let wall = cfg.start_ms + 30 * HOUR;
    for keys in [false, true] {
        let mut text = Vec::new();
        write(&lines, keys, &mut text).unwrap();
        for as_of in [
            None,
            Some(cfg.start_ms + 11 * HOUR),
            Some(cfg.start_ms + 16 * HOUR + 7_777),
        ] {
            let one = check(&text, as_of, wall);
            assert_eq!(one.lines, stats.lines);
            if as_of.is_none() {
                assert_eq!(one.duplicates as usize, stats.duplicates);
            }
            assert!(one.invalid.is_empty());
            let w = one.snapshot.window("15m").unwrap();
            assert!(w.queues.len() > 5, "busy queues");
        }
        // Some contacts' first event in the file is not their offer (the day delivers
        // events slightly out of order now and then), and the split still reads the
        // file once.
        let mut seen = std::collections::HashSet::new();
        let before_offer = lines
            .iter()
            .filter_map(|l| {
                let v: Value = serde_json::from_str(&l.json).unwrap();
                let contact = v["contact_id"].as_str()?.to_owned();
                (seen.insert(contact) && v["type"] != "contact.offered").then_some(())
            })
            .count();
        assert!(before_offer > 0, "contacts whose offer is not their first line");
        let split = replay_bytes(&text, Arc::new(EngineConfig::default()), None, wall, 2);
        assert!(!split.first_reading, "one pass over a realistic day");
    }
}

/// `lines` with a `survey.sent` (CSAT, or NPS for every third) a minute after every
/// other answer: the day has no sent surveys of its own.
fn with_sent_surveys(lines: &[Line]) -> Vec<Line> {
    let mut out = Vec::with_capacity(lines.len() * 11 / 10);
    for (i, l) in lines.iter().enumerate() {
        out.push(l.clone());
        if i % 2 == 0 && l.json.contains(r#""type":"contact.answered""#) {
            let ev: Value = serde_json::from_str(&l.json).unwrap();
            let kind = if i % 3 == 0 { "nps" } else { "csat" };
            let ts = l.ts + MINUTE;
            out.push(Line {
                at: l.at + MINUTE,
                ts,
                key: l.key.clone(),
                json: json!({
                    "id": format!("sent-{i}"),
                    "type": "survey.sent",
                    "ts": format_rfc3339(ts),
                    "contact_id": ev["contact_id"],
                    "kind": kind,
                })
                .to_string(),
                agent: false,
            });
        }
    }
    out
}

#[test]
fn a_day_with_sent_surveys_splits_over_engines() {
    let cfg = DayConfig {
        contacts: 8_000,
        customers: 4_000,
        ..DayConfig::default()
    };
    let lines = with_sent_surveys(&generate(&cfg).0);
    let mut text = Vec::new();
    write(&lines, false, &mut text).unwrap();
    let one = check(&text, None, cfg.start_ms + 30 * HOUR);
    let w = one.snapshot.window("1h").unwrap();
    let sent: i64 = w.queues.iter().map(|q| q.surveys.csat_sent + q.surveys.nps_sent).sum();
    assert!(sent > 0, "surveys sent in the last hour");
}

#[test]
fn the_simulated_stream_with_invalid_messages_splits_over_engines() {
    let messages = ccpulse_sim::bulk_stream(7, 60_000, ccpulse_sim::DEFAULT_START_MS, 20);
    let mut text = Vec::new();
    for m in &messages {
        text.extend_from_slice(m.key.as_bytes());
        text.push(b'\t');
        text.extend_from_slice(&m.payload);
        text.push(b'\n');
    }
    let wall = messages.iter().map(|m| m.ts).max().unwrap() + HOUR;
    let one = check(&text, None, wall);
    assert!(!one.invalid.is_empty());
    check(&text, Some(ccpulse_sim::DEFAULT_START_MS + 2 * HOUR), wall);
}

/// stdout and stderr of `ccpulse replay` with these arguments.
fn replay(args: &[&str]) -> (String, String) {
    let out = Command::new(ccpulse_bin()).arg("replay").args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// stdout and stderr of `ccpulse replay --input /dev/stdin` with these arguments and
/// `text` through a pipe, which is read, where a regular file is mapped.
fn replay_piped(text: &[u8], args: &[&str]) -> (String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(ccpulse_bin())
        .args(["replay", "--input", "/dev/stdin"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::scope(|s| {
        let w = s.spawn(move || stdin.write_all(text));
        let out = child.wait_with_output().unwrap();
        (w.join().unwrap(), out)
    });
    let (written, out) = writer;
    written.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_binary_prints_the_same_with_any_number_of_threads() {
    let messy = repo_root().join("crates/ccpulse-core/tests/golden/messy.jsonl");
    let dir = std::env::temp_dir().join(format!("ccpulse-replay-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let day = dir.join("day.jsonl");
    let cfg = DayConfig {
        contacts: 5_000,
        customers: 2_500,
        start_ms: parse_rfc3339("2026-11-16T00:00:00Z").unwrap(),
        ..DayConfig::default()
    };
    let mut text = Vec::new();
    write(&generate(&cfg).0, false, &mut text).unwrap();
    std::fs::write(&day, &text).unwrap();
    // Business hours: voice billing's waits and email support's times to resolve count
    // open time only.
    let hours = dir.join("hours.toml");
    std::fs::write(&hours, BUSINESS_HOURS).unwrap();
    let hours = ["--config", hours.to_str().unwrap()];
    let asked: [&[&str]; 7] = [
        &["--window", "15m"],
        &["--window", "today"],
        &["--window", "1h", "--as-of", "2026-11-16T14:07:00Z"],
        &["--intervals", "15m"],
        &["--intervals", "1h", "--format", "csv"],
        &[
            "--intervals",
            "30m",
            "--as-of",
            "2026-11-17T03:00:00Z",
            "--date",
            "2026-11-16",
        ],
        &[
            "--intervals",
            "15m",
            "--as-of",
            "2026-11-16T10:20:00Z",
            "--format",
            "csv",
        ],
    ];
    for file in [messy.to_str().unwrap(), day.to_str().unwrap()] {
        for config in [&[][..], &hours[..]] {
            for args in asked {
                let base: Vec<&str> = ["--input", file].iter().chain(config).chain(args).copied().collect();
                let with = |threads: &'static str| [&base[..], &["--threads", threads]].concat();
                let one = replay(&with("1"));
                for threads in ["2", "3"] {
                    assert_eq!(replay(&with(threads)), one, "{threads} threads: {base:?}");
                }
                assert_eq!(replay(&base), one, "default threads: {base:?}");
            }
        }
    }
    // A regular file is mapped, a pipe read: the same answer.
    for args in [&["--threads", "2"][..], &["--threads", "1", "--intervals", "30m"][..]] {
        let mapped = replay(&[&["--input", day.to_str().unwrap()][..], args].concat());
        assert_eq!(replay_piped(&text, args), mapped, "{args:?}");
    }
    let report = replay(&["--input", day.to_str().unwrap(), "--intervals", "1h", "--threads", "2"]).0;
    let report: Value = serde_json::from_str(&report).unwrap();
    assert!(report["intervals"].as_array().unwrap().len() > 20, "a day of hours");
    let v: Value = serde_json::from_str(&replay(&["--input", day.to_str().unwrap()]).0).unwrap();
    assert!(v["groups"].as_array().unwrap().len() > 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A configuration with business hours on two policies the realistic day's queues meet.
const BUSINESS_HOURS: &str = r#"
[windows]
time_zone = "Europe/Berlin"

[[sla.policies]]
name = "billing-voice"
channel = "voice"
queue = "billing"
threshold = "20s"
target = 0.8
calendar = "office"

[[sla.policies]]
name = "support-email"
channel = "email"
queue = "support"
threshold = "4h"
target = 0.9
measure = "resolve"
calendar = "office"

[[calendars]]
name = "office"
time_zone = "Europe/Berlin"
monday = ["08:00-18:00"]
tuesday = ["08:00-18:00"]
wednesday = ["08:00-18:00"]
thursday = ["08:00-18:00"]
friday = ["08:00-12:30", "13:30-17:00"]
"#;
