//! A replay split over several engines equals a one-engine replay, on a realistic day
//! (bare JSON lines and `key<TAB>json` lines), on the simulator's stream with invalid
//! messages, and through the real binary (`ccpulse replay --threads`).
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;

use ccpulse_core::replay::{replay_bytes, ReplayOutcome};
use ccpulse_core::time::{parse_rfc3339, HOUR};
use ccpulse_core::EngineConfig;
use ccpulse_sim::day::{generate, write, DayConfig};
use ccpulse_tests::{ccpulse_bin, repo_root};
use serde_json::{json, Value};

/// Everything a replay says, but for the engines' memory gauges (how many groups,
/// agents and slices each holds), which depend on how the stream was split.
fn said(o: &ReplayOutcome) -> Value {
    let s = &o.snapshot.stats;
    json!({
        "snapshot": serde_json::to_value(&o.snapshot).unwrap(),
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
    }
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
    for file in [messy.to_str().unwrap(), day.to_str().unwrap()] {
        for window in ["15m", "today"] {
            let one = replay(&["--input", file, "--window", window, "--threads", "1"]);
            for threads in ["2", "3"] {
                assert_eq!(
                    replay(&["--input", file, "--window", window, "--threads", threads]),
                    one,
                    "{file} {window}"
                );
            }
            assert_eq!(replay(&["--input", file, "--window", window]), one, "default threads");
        }
    }
    let v: Value = serde_json::from_str(&replay(&["--input", day.to_str().unwrap()]).0).unwrap();
    assert!(v["groups"].as_array().unwrap().len() > 5);
    std::fs::remove_dir_all(&dir).unwrap();
}
