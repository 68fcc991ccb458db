//! Golden files: small event streams in `tests/golden/` and their expected snapshots.
//!
//! Each `NAME.jsonl` is replayed at the `as_of` of `NAME.expected.json`, and the queues
//! and channels answers of its window, with the invalid lines, must equal the file.
//! The expected files were checked by hand (see the notes in each file); regenerate
//! with `UPDATE_GOLDEN=1 cargo test -p ccpulse-core --test golden` only after checking.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use ccpulse_core::replay::replay_text;
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::EngineConfig;
use serde_json::{json, Value};

fn golden(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let events = std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).unwrap();
    let expected_path = dir.join(format!("{name}.expected.json"));
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
    let as_of = parse_rfc3339(expected["as_of"].as_str().unwrap()).unwrap();
    let window = expected["window"].as_str().unwrap();
    let wall = parse_rfc3339("2026-11-22T12:00:00Z").unwrap();
    let (snap, invalid) = replay_text(&events, Arc::new(EngineConfig::default()), Some(as_of), wall);
    let w = snap.window(window).unwrap();
    let got = json!({
        "as_of": expected["as_of"],
        "window": window,
        "notes": expected["notes"],
        "invalid": invalid.iter().map(|e| json!([e.line, e.reason])).collect::<Vec<_>>(),
        "queues": serde_json::to_value(w.queues_response(&snap.coverage, None)).unwrap(),
        "channels": serde_json::to_value(w.channels_response(&snap.coverage)).unwrap(),
    });
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    assert_eq!(
        got,
        expected,
        "{name}: snapshot differs from {}",
        expected_path.display()
    );
}

#[test]
fn spec_example() {
    golden("spec_example");
}

#[test]
fn messy_stream_with_duplicates_reordering_and_invalid_lines() {
    golden("messy");
}
