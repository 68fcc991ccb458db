//! Helpers of the hand-computed KPI tests (`kpis.rs`, `kpis_v11.rs`).
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use ccpulse_core::replay::replay_text;
use ccpulse_core::snapshot::{GroupRow, Snapshot};
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::EngineConfig;
use serde_json::{json, Value};

/// An RFC 3339 time in epoch milliseconds.
pub fn t(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

/// An event line: `id`, `type`, `ts` plus the fields of `extra`.
pub fn ev(id: &str, kind: &str, ts: &str, extra: Value) -> String {
    let mut v = json!({"id": id, "type": kind, "ts": ts});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

/// The snapshot of `lines` replayed with `cfg` as of `as_of`, the wall clock at `wall`;
/// every line must be valid.
pub fn replay_lines(lines: &[String], as_of: &str, cfg: EngineConfig, wall: &str) -> Snapshot {
    let (snap, invalid) = replay_text(&lines.join("\n"), Arc::new(cfg), Some(t(as_of)), t(wall));
    assert!(invalid.is_empty(), "{invalid:?}");
    snap
}

/// The group of (`queue`, `channel`) in `window`.
pub fn queue<'a>(s: &'a Snapshot, window: &str, queue: &str, channel: &str) -> &'a GroupRow {
    let w = s.window(window).unwrap();
    w.queues
        .iter()
        .find(|g| g.queue.as_deref() == Some(queue) && g.channel == channel)
        .unwrap_or_else(|| panic!("no group {queue}/{channel} in {window}"))
}

/// The roll-up of `channel` in `window`.
pub fn channel<'a>(s: &'a Snapshot, window: &str, channel: &str) -> &'a GroupRow {
    s.window(window)
        .unwrap()
        .channels
        .iter()
        .find(|g| g.channel == channel)
        .unwrap()
}
