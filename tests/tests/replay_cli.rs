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

    let out = Command::new(ccpulse_bin())
        .args(["replay", "--input", &messy(), "--window", "2h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown window \"2h\""));
}
