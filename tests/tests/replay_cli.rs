//! `ccpulse replay`, the real binary: output, invalid lines, exit codes.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use ccpulse_tests::{ccpulse_bin, repo_root};
use serde_json::Value;

fn messy() -> String {
    repo_root()
        .join("crates/ccpulse-core/tests/golden/messy.jsonl")
        .display()
        .to_string()
}

#[test]
fn prints_the_queues_answer_and_reports_invalid_lines() {
    let out = Command::new(ccpulse_bin())
        .args(["replay", "--input", &messy(), "--as-of", "2026-11-22T09:15:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["window"], "15m");
    assert_eq!(v["from"], "2026-11-22T09:00:00Z");
    assert_eq!(v["to"], "2026-11-22T09:15:00Z");
    let billing = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["queue"] == "billing" && g["channel"] == "voice")
        .unwrap();
    assert_eq!(billing["offered"], 2);
    assert_eq!(billing["service_level"], 0.5);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 11: invalid JSON"), "{err}");
    assert!(
        err.contains("line 16: score 11 out of range 0..10 for survey.nps"),
        "{err}"
    );
    assert!(err.contains("line 18: unknown type \"contact.teleported\""), "{err}");
    assert!(err.contains("3 invalid, 1 duplicates"), "{err}");
}

#[test]
fn without_as_of_now_is_the_newest_event_time() {
    let out = Command::new(ccpulse_bin())
        .args(["replay", "--input", &messy(), "--window", "5m"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Newest valid event: 09:11:00 (the CSAT); now rounds down to the 5 s slice.
    assert_eq!(v["to"], "2026-11-22T09:11:00Z");
    assert_eq!(v["from"], "2026-11-22T09:06:00Z");
}

#[test]
fn a_file_that_says_it_is_empty_is_still_read() {
    // /proc files have a length of 0 and lines all the same: they are read, not mapped.
    let out = Command::new(ccpulse_bin())
        .args(["replay", "--input", "/proc/self/status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1: "), "{err}");
    assert!(!err.contains(" 0 lines"), "{err}");
}

#[test]
fn missing_file_bad_config_and_unknown_window_exit_2() {
    let out = Command::new(ccpulse_bin())
        .args(["replay", "--input", "/nonexistent/events.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/events.jsonl"));

    let dir = std::env::temp_dir().join(format!("ccpulse-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, "[windows]\nsliding = [\"5m\"]\n\n[sla]\ndefualts = true\n").unwrap();
    let out = Command::new(ccpulse_bin())
        .args(["replay", "--input", &messy(), "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 5") && err.contains("unknown field `defualts`"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let out = Command::new(ccpulse_bin())
        .args(["replay", "--input", &messy(), "--window", "2h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown window \"2h\""));
}

/// `--intervals` prints the interval report the API would give for the file, in JSON
/// or CSV, and the 15-minute interval ending at `--as-of` equals the 15m window there.
#[test]
fn intervals_as_json_and_csv_equal_the_window_of_their_span() {
    let run = |extra: &[&str]| {
        let input = messy();
        let mut args = vec!["replay", "--input", &input, "--as-of", "2026-11-22T09:15:00Z"];
        args.extend_from_slice(extra);
        let out = Command::new(ccpulse_bin()).args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let window: Value = serde_json::from_str(&run(&[])).unwrap();
    let report: Value = serde_json::from_str(&run(&["--intervals", "15m"])).unwrap();
    assert_eq!(
        (report["size"].as_str(), report["date"].as_str()),
        (Some("15m"), Some("2026-11-22"))
    );
    let intervals = report["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 37, "00:00 to 09:15 UTC");
    let last = &intervals[36];
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("2026-11-22T09:00:00+00:00"), Some("2026-11-22T09:15:00+00:00"))
    );
    // The queue groups (the answer of `replay` without --intervals has no channel totals).
    let mut groups: Vec<Value> = last["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| !g["queue"].is_null())
        .cloned()
        .collect();
    let mut expected: Vec<Value> = window["groups"].as_array().unwrap().clone();
    for g in &mut expected {
        for f in [
            "waiting",
            "oldest_wait_seconds",
            "at_risk",
            "open",
            "agents_staffed",
            "staffing_gap",
        ] {
            g.as_object_mut().unwrap().remove(f);
        }
    }
    groups.sort_by_key(|g| (g["queue"].to_string(), g["channel"].to_string()));
    expected.sort_by_key(|g| (g["queue"].to_string(), g["channel"].to_string()));
    assert_eq!(groups, expected);

    let csv = run(&["--intervals", "15m", "--format", "csv"]);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..4], ["interval_from", "interval_to", "queue", "channel"]);
    let billing = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|c| c[0] == "2026-11-22T09:00:00+00:00" && c[2] == "billing" && c[3] == "voice")
        .unwrap();
    let col = |name: &str| billing[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!((col("offered"), col("service_level")), ("2", "0.5"));

    let bad = Command::new(ccpulse_bin())
        .args(["replay", "--input", &messy(), "--intervals", "20m"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("15m, 30m, 1h"));
    let old = Command::new(ccpulse_bin())
        .args([
            "replay",
            "--input",
            &messy(),
            "--intervals",
            "1h",
            "--date",
            "2026-11-01",
        ])
        .output()
        .unwrap();
    assert_eq!(old.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&old.stderr).contains("older than the days kept"));
}
