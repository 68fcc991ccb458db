//! A replay split over several engines gives exactly what one engine gives: every
//! window, every KPI, the live figures, the invalid lines and the counters. On the
//! golden files, and on random streams made to stress what the split relies on
//! (customers shared by contacts, contacts naming two customers, duplicates of one id
//! under different contacts, events older than the dedupe horizon, late surveys,
//! agents' handled contacts in one engine and their states in another, escapes,
//! invalid and blank lines, keys, reused ids written in other shapes), and on hostile
//! lines (100 KiB ids and names, markup, an event of 1970). And a replay whose engines
//! were told how far the watermark gets gives what an engine that was not told gives.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use ccpulse_core::interval::Size;
use ccpulse_core::replay::{replay_bytes, replay_segments, FileReplay, ReplayOutcome, Sums};
use ccpulse_core::time::{format_rfc3339, parse_rfc3339, MINUTE, SECOND};
use ccpulse_core::EngineConfig;
use proptest::prelude::*;
use serde_json::{json, Value};

fn wall() -> i64 {
    parse_rfc3339("2026-11-23T12:00:00Z").unwrap()
}

/// Everything a replay says, but for the engines' memory gauges (how many groups,
/// agents and slices each holds), which depend on how the stream was split.
fn said(o: &ReplayOutcome) -> Value {
    let s = &o.snapshot.stats;
    json!({
        "snapshot": serde_json::to_value(&o.snapshot).unwrap(),
        "invalid": o.invalid.iter().map(|e| json!([e.line, e.reason])).collect::<Vec<_>>(),
        "lines": o.lines,
        "duplicates": o.duplicates,
        "after_as_of": o.after_as_of,
        "stats": [s.applied, s.duplicates, s.too_old, s.late, s.after_close, s.evicted_open, s.evicted_cap,
                  s.over_cap, s.open_contacts, s.closed_contacts, s.customer_offers, s.dedupe_ids],
        "watermark": s.watermark,
    })
}

/// Replays `text` with 1, 2, 3 and 5 engines and checks that they agree; returns the
/// outcome of two engines.
fn same_with_any_split(text: &[u8], cfg: EngineConfig, as_of: Option<i64>) -> ReplayOutcome {
    let cfg = Arc::new(cfg);
    let one = replay_bytes(text, cfg.clone(), as_of, wall(), 1);
    let expected = said(&one);
    let mut two = None;
    for threads in [2, 3, 5] {
        let split = replay_bytes(text, cfg.clone(), as_of, wall(), threads);
        assert_eq!(said(&split), expected, "{threads} engines differ from one");
        if threads == 2 {
            two = Some(split);
        }
    }
    // Fed in segments of a few lines, as the binary reads a large file.
    for lines in [1, 4] {
        let segments = segments(text, lines);
        for threads in [1, 2] {
            let fed = replay_segments(&segments, cfg.clone(), as_of, wall(), threads, Sums::WithIntervals);
            assert_eq!(said(&fed), expected, "{threads} engines fed {lines} lines at a time");
        }
    }
    // Without interval sums (a replay that prints no interval report): the same, and
    // no interval report.
    for threads in [1, 2] {
        let windows = replay_segments(&[text], cfg.clone(), as_of, wall(), threads, Sums::WindowsOnly);
        assert_eq!(said(&windows), expected, "{threads} engines without interval sums");
        assert!(windows.intervals(Size::Quarter, None).is_err());
    }
    // One engine that was not told how far the watermark gets (as the service feeds
    // its engines): what the replays keep out of their slice rings changes nothing.
    let mut untold = FileReplay::new(cfg.clone(), as_of, wall(), 1);
    untold.feed(text);
    let untold = untold.finish().unwrap();
    assert_eq!(said(&untold), expected, "one engine not told the watermark ahead");
    two.unwrap()
}

/// `text` cut after every `lines` lines.
fn segments(text: &[u8], lines: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut seen) = (0, 0);
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            seen += 1;
            if seen % lines == 0 {
                out.push(&text[start..=i]);
                start = i + 1;
            }
        }
    }
    out.push(&text[start..]);
    out
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)).unwrap()
}

#[test]
fn the_golden_streams_split_over_engines() {
    for name in ["messy.jsonl", "spec_example.jsonl"] {
        let text = golden(name);
        for as_of in [None, Some("2026-11-22T09:15:00Z"), Some("2026-11-22T09:05:00Z")] {
            let as_of = as_of.map(|t| parse_rfc3339(t).unwrap());
            let o = same_with_any_split(&text, EngineConfig::default(), as_of);
            assert_eq!(o.engines, 2, "{name}");
        }
    }
    // The messy stream's own figures, through the split: its duplicate and invalid lines.
    let o = same_with_any_split(
        &golden("messy.jsonl"),
        EngineConfig::default(),
        parse_rfc3339("2026-11-22T09:15:00Z"),
    );
    assert_eq!((o.lines, o.duplicates, o.invalid.len()), (20, 1, 3));
    assert_eq!(o.invalid[0].line, 11);
}

/// Offers of eight contacts of three customers, each answered ten seconds later; with
/// the answers first when `answers_first`, and then `gap` bytes of blank lines before
/// the offers.
fn offers_and_answers(answers_first: bool, gap: usize) -> Vec<u8> {
    let at = |s: i64| format_rfc3339(parse_rfc3339("2026-11-23T09:00:00Z").unwrap() + s * SECOND);
    let (mut offers, mut answers) = (Vec::new(), Vec::new());
    for i in 0..8i64 {
        offers.push(format!(
            r#"{{"id":"o{i}","type":"contact.offered","ts":"{}","contact_id":"c{i}","channel":"voice","queue":"q","customer_id":"k{}"}}"#,
            at(i),
            i % 3
        ));
        answers.push(format!(
            r#"{{"id":"a{i}","type":"contact.answered","ts":"{}","contact_id":"c{i}","agent_id":"a1"}}"#,
            at(i + 10)
        ));
    }
    let lines: Vec<String> = if answers_first {
        let blank = " ".repeat(64 << 10);
        let gap = std::iter::repeat_n(blank, gap.div_ceil(64 << 10));
        answers.into_iter().chain(gap).chain(offers).collect()
    } else {
        offers.into_iter().zip(answers).flat_map(|(o, a)| [o, a]).collect()
    };
    lines.join("\n").into_bytes()
}

#[test]
fn in_one_pass_unless_an_event_comes_long_before_its_contacts_offer() {
    for (answers_first, gap) in [(false, 0), (true, 0), (true, 3 << 20)] {
        let o = same_with_any_split(&offers_and_answers(answers_first, gap), EngineConfig::default(), None);
        assert!(
            !o.first_reading,
            "offers first, or up to three blocks later: one pass ({gap} bytes)"
        );
        assert_eq!(o.engines, 2);
    }
    // Answers megabytes before their offers: a contact goes where its answer went, and
    // an offer naming a customer of the other engine makes the replay read the offers
    // first.
    let o = same_with_any_split(&offers_and_answers(true, 6 << 20), EngineConfig::default(), None);
    assert!(o.first_reading, "answers long before their offers: read twice");
    assert_eq!(o.engines, 2);
}

#[test]
fn near_a_cap_the_replay_uses_one_engine() {
    let cfg = EngineConfig::from_toml("[contacts]\nmax_open = 3\n").unwrap();
    let o = same_with_any_split(&golden("messy.jsonl"), cfg, None);
    assert_eq!(o.engines, 1, "the engines' counts could add up to the cap");
}

/// A random stream: contacts of a few customers, in any order, with everything that
/// could make engines disagree.
fn stream_strategy() -> impl Strategy<Value = Vec<String>> {
    let event = (
        0u8..16,           // kind
        0usize..12,        // contact
        0usize..5,         // customer (4 = none)
        0usize..4,         // agent
        0i64..(5 * 3_600), // seconds since the start
        0u32..6,           // id: fresh, or reused
        any::<bool>(),     // a variant
    );
    prop::collection::vec(event, 1..120).prop_map(|events| {
        let t0 = parse_rfc3339("2026-11-22T06:00:00Z").unwrap();
        events
            .into_iter()
            .enumerate()
            .map(|(i, (kind, c, k, a, secs, id, flag))| {
                let ts = format_rfc3339(t0 + secs * SECOND);
                // Reused ids written two ways now and then: with an escape (as the replay
                // reads it, the same id), or after the other members.
                let id = match (id, flag) {
                    (0, true) if kind % 4 == 1 => format!(r"r\u003{}", i % 7),
                    (0, _) => format!("r{}", i % 7),
                    _ => format!("e{i}"),
                };
                // Contact ids with an escape now and then (the same id written two ways).
                let contact = if flag && c == 3 { r"c\u0033".to_owned() } else { format!("c{c}") };
                let customer = match k {
                    4 => String::new(),
                    _ => format!(r#","customer_id":"k{}""#, if flag && c % 2 == 0 { k + 1 } else { k }),
                };
                let q = ["billing", "tech"][c % 2];
                let agent = format!("a{a}");
                let body = match kind {
                    0 | 1 => format!(
                        r#""type":"contact.offered","contact_id":"{contact}","channel":"{}","queue":"{q}"{customer},"topic":"t{}""#,
                        ["voice", "chat", "email"][c % 3],
                        c % 2
                    ),
                    2 | 3 => format!(r#""type":"contact.answered","contact_id":"{contact}","agent_id":"{agent}""#),
                    4 => format!(r#""type":"contact.abandoned","contact_id":"{contact}""#),
                    5 => format!(r#""type":"contact.transferred","contact_id":"{contact}","to_queue":"sales""#),
                    6 => format!(r#""type":"contact.hold_started","contact_id":"{contact}""#),
                    7 => format!(r#""type":"contact.hold_ended","contact_id":"{contact}""#),
                    8 => format!(r#""type":"contact.ended","contact_id":"{contact}","resolved":{flag}"#),
                    9 => format!(r#""type":"contact.wrapped_up","contact_id":"{contact}""#),
                    10 => format!(r#""type":"survey.csat","contact_id":"{contact}","score":{},"scale":"five""#, 1 + c % 5),
                    11 => format!(r#""type":"survey.nps","score":{}"#, c % 11),
                    12 | 13 => format!(
                        r#""type":"agent.state","agent_id":"{agent}","state":"{}","team":"red","queues":["billing"]"#,
                        ["available", "busy", "acw", "away", "offline"][c % 5]
                    ),
                    14 => return if flag { String::new() } else { "not json".to_owned() },
                    _ => format!(r#""type":"contact.flowed_out","contact_id":"{contact}","reason":"timeout""#),
                };
                let line = if flag && kind % 4 == 2 {
                    format!(r#"{{"ts":"{ts}",{body},"id":"{id}"}}"#)
                } else {
                    format!(r#"{{"id":"{id}","ts":"{ts}",{body}}}"#)
                };
                if flag && kind % 3 == 0 {
                    format!("k{k}\t{line}")
                } else {
                    line
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any stream, any `--as-of`, default and short horizons (so that contacts are
    /// forgotten, surveys come after that, and events are older than the dedupe horizon).
    #[test]
    fn any_stream_splits_over_engines(
        lines in stream_strategy(),
        as_of in prop::option::of(0i64..(6 * 3_600)),
        short in any::<bool>(),
    ) {
        let cfg = if short {
            EngineConfig::from_toml(
                "[windows]\nsliding = [\"5m\", \"15m\"]\nlateness = \"1m\"\n\n[contacts]\ndedupe_horizon = \"20m\"\nsurvey_horizon = \"40m\"\n",
            )
            .unwrap()
        } else {
            EngineConfig::default()
        };
        let t0 = parse_rfc3339("2026-11-22T06:00:00Z").unwrap();
        let as_of = as_of.map(|s| t0 + s * SECOND);
        let o = same_with_any_split(lines.join("\n").as_bytes(), cfg, as_of);
        prop_assert!(o.engines == 2 || o.engines == 1);
    }
}

#[test]
fn minutes_apart_the_maintenance_runs_at_the_same_clocks() {
    // One contact per engine, events a minute and a half apart: each engine sees
    // maintenance it would not have run on its own events.
    let t0 = parse_rfc3339("2026-11-22T06:00:00Z").unwrap();
    let mut lines = Vec::new();
    for i in 0..200 {
        let ts = format_rfc3339(t0 + i * 90 * SECOND);
        let c = i % 13;
        lines.push(match i % 4 {
            0 => format!(
                r#"{{"id":"o{i}","type":"contact.offered","ts":"{ts}","contact_id":"c{i}","channel":"voice","queue":"q","customer_id":"k{c}","topic":"x"}}"#
            ),
            1 => format!(r#"{{"id":"a{i}","type":"contact.answered","ts":"{ts}","contact_id":"c{}","agent_id":"a"}}"#, i - 1),
            2 => format!(r#"{{"id":"e{i}","type":"contact.ended","ts":"{ts}","contact_id":"c{}"}}"#, i - 2),
            _ => format!(r#"{{"id":"s{i}","type":"survey.nps","ts":"{ts}","contact_id":"c{}","score":9}}"#, i - 3 - 40),
        });
    }
    let cfg = EngineConfig::from_toml("[windows]\nsliding = [\"5m\"]\nlateness = \"1m\"\n").unwrap();
    let o = same_with_any_split(lines.join("\n").as_bytes(), cfg, Some(t0 + 301 * MINUTE));
    assert_eq!(o.engines, 2);
}

#[test]
fn hostile_lines_split_over_engines_as_one_engine_reads_them() {
    // A 100 KiB id on two lines (the first reading of a split replay hashes it, the
    // parser refuses it), a 100 KiB queue name, markup in a queue name, and an event
    // from 1970 of a contact never offered.
    let huge = "x".repeat(100 * 1024);
    let markup = "<script>alert(1)</script>";
    let lines = [
        format!(r#"{{"id":"{huge}","type":"contact.abandoned","ts":"2026-11-22T06:00:05Z","contact_id":"c1"}}"#),
        format!(
            r#"{{"id":"o1","type":"contact.offered","ts":"2026-11-22T06:00:00Z","contact_id":"c1","channel":"voice","queue":"{markup}","customer_id":"k1"}}"#
        ),
        format!(
            r#"{{"id":"o2","type":"contact.offered","ts":"2026-11-22T06:00:01Z","contact_id":"c2","channel":"chat","queue":"{huge}"}}"#
        ),
        r#"{"id":"a1","type":"contact.answered","ts":"2026-11-22T06:00:10Z","contact_id":"c1","agent_id":"a"}"#
            .to_owned(),
        format!(r#"{{"id":"{huge}","type":"contact.abandoned","ts":"2026-11-22T06:00:06Z","contact_id":"c1"}}"#),
        r#"{"id":"old","type":"contact.abandoned","ts":"1970-01-01T00:00:00Z","contact_id":"c9"}"#.to_owned(),
        r#"{"id":"e1","type":"contact.ended","ts":"2026-11-22T06:05:00Z","contact_id":"c1"}"#.to_owned(),
    ];
    let t0 = parse_rfc3339("2026-11-22T06:00:00Z").unwrap();
    let o = same_with_any_split(
        lines.join("\n").as_bytes(),
        EngineConfig::default(),
        Some(t0 + 10 * MINUTE),
    );
    let said = said(&o);
    assert_eq!(
        said["invalid"],
        json!([
            [1, "id must be 1..128 characters, got 102400"],
            [3, "field \"queue\" must be at most 128 characters, got 102400"],
            [5, "id must be 1..128 characters, got 102400"],
        ])
    );
    assert_eq!(said["lines"], 7);
    // The event of 1970 is older than the dedupe horizon, of a contact not held: too old.
    assert_eq!(said["stats"][2], 1, "{}", said["stats"]);
    // The 15-minute window (05:55 to 06:10): c1, offered at 06:00 and answered 10 s later,
    // in the queue named with markup, which the figures carry as it was sent.
    let windows = said["snapshot"]["windows"].as_array().unwrap();
    let w15 = windows.iter().find(|w| w["window"] == "15m").unwrap();
    let queues = w15["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 1, "{queues:?}");
    let q = &queues[0];
    assert_eq!(
        (q["queue"].as_str(), q["channel"].as_str()),
        (Some(markup), Some("voice"))
    );
    assert_eq!(
        (q["offered"].as_u64(), q["answered"].as_u64(), q["abandoned"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(q["asa_seconds"].as_f64(), Some(10.0));
}
