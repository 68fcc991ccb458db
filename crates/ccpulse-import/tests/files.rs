//! Realistic multi-call files of each source (`tests/data/`, written from the vendors'
//! documentation), imported and replayed through the engine, against figures computed
//! by hand; and an import stopped in the middle of a file and resumed.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccpulse_core::event::Channel;
use ccpulse_core::replay::replay_text;
use ccpulse_core::snapshot::{GroupRow, Snapshot};
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::EngineConfig;
use ccpulse_import::asterisk::QueueLog;
use ccpulse_import::connect::{load_names, Connect};
use ccpulse_import::resume::QueueLogImport;
use ccpulse_import::twilio::{TaskRouter, Translated};
use ccpulse_import::{Event, Kind};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// Voice judged by Asterisk's own service level (met / answered) at 20 s; chat at 60 s.
const POLICIES: &str = r#"
[[sla.policies]]
name = "voice-20s"
channel = "voice"
threshold = "20s"
target = 0.8
formula = "answered"

[[sla.policies]]
name = "chat-60s"
channel = "chat"
threshold = "60s"
target = 0.8
formula = "answered"
"#;

fn replay(events: &[Event], as_of: &str) -> Snapshot {
    let text: Vec<String> = events.iter().map(Event::line).collect();
    let cfg = Arc::new(EngineConfig::from_toml(POLICIES).unwrap());
    let wall = parse_rfc3339("2026-11-30T00:00:00Z").unwrap();
    let (snap, invalid) = replay_text(&text.join("\n"), cfg, parse_rfc3339(as_of), wall);
    assert!(invalid.is_empty(), "{invalid:?}");
    snap
}

fn group<'a>(s: &'a Snapshot, queue: &str, channel: &str) -> &'a GroupRow {
    s.window("1h")
        .unwrap()
        .queues
        .iter()
        .find(|g| g.queue.as_deref() == Some(queue) && g.channel == channel)
        .unwrap_or_else(|| panic!("no group {queue}/{channel}"))
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("expected {b}, got null"));
    assert!((a - b).abs() < 1e-9, "expected {b}, got {a}");
}

fn counts(g: &GroupRow) -> (i64, i64, i64, i64, i64, i64) {
    (
        g.offered,
        g.answered,
        g.abandoned,
        g.flowed_out,
        g.transferred_out,
        g.answered_within,
    )
}

fn import_queue_log(path: &Path) -> (Vec<Event>, ccpulse_import::Report) {
    let text = std::fs::read(path).unwrap();
    let mut q = QueueLog::new(jiff::tz::TimeZone::UTC);
    let mut out = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        out.extend(q.line(i as u64 + 1, line));
    }
    out.extend(q.finish());
    (out, q.report().clone())
}

/// `morning.queue_log`: seven calls in `sales` and `support` between 09:00 and 09:20.
/// - sales: 1 answered after 8 s (talk 120 s); 2 abandoned after 25 s; 3 timed out
///   after 60 s (then entered support, answered after 12 s, talk 107 s); 4 answered
///   after 30 s and blind-transferred to support after 60 s of talk (there answered
///   after 15 s, talk 295 s); 6 left with a key after 15 s; 7 answered after 18 s (talk
///   122 s). 5 entered support and left it empty after 2 s.
/// - Agent/1002 paused at 09:04:00 (on a call), unpaused at 09:15:00, logged off at 09:20.
#[test]
fn asterisk_morning_replays_to_the_hand_computed_figures() {
    let (events, report) = import_queue_log(&data("asterisk/morning.queue_log"));
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.skipped["RINGNOANSWER"], 1);
    let s = replay(&events, "2026-11-24T09:30:00Z");
    let sales = group(&s, "sales", "voice");
    // offered 1, 2, 3, 4, 6, 7; answered 1, 4, 7; abandoned 2; flowed out 3 (timeout)
    // and 6 (exit key); transferred out 4; within 20 s: 1 (8 s), 7 (18 s).
    assert_eq!(counts(sales), (6, 3, 1, 2, 1, 2));
    close(sales.service_level, 2.0 / 3.0);
    close(sales.asa_seconds, (8.0 + 30.0 + 18.0) / 3.0);
    close(sales.answer_rate, 3.0 / 4.0);
    // Handle: 120, 60 (until the transfer), 122; no after-contact work in Asterisk.
    assert_eq!(sales.handled, 3);
    close(sales.aht_seconds, (120.0 + 60.0 + 122.0) / 3.0);
    close(sales.acw_seconds, 0.0);
    let support = group(&s, "support", "voice");
    // offered 3 (its second visit), 4 (the transfer), 5; answered 3 after 12 s, 4 after
    // 15 s; 5 flowed out (queue empty).
    assert_eq!(counts(support), (3, 2, 0, 1, 0, 2));
    close(support.service_level, 1.0);
    close(support.asa_seconds, 13.5);
    close(support.aht_seconds, (107.0 + 295.0) / 2.0);
    let voice = s
        .window("1h")
        .unwrap()
        .channels
        .iter()
        .find(|g| g.channel == "voice")
        .unwrap();
    close(voice.service_level, 4.0 / 5.0);
    // Agents: Agent/1002 paused during its call, away after the transfer, back at 09:15,
    // logged off at 09:20.
    let agents = &s.agent_states;
    let sales_agents = agents.queues.iter().find(|q| &*q.name == "sales").unwrap();
    assert_eq!(
        (sales_agents.available, sales_agents.away, sales_agents.busy),
        (1, 0, 0),
        "Agent/1001 available; Agent/1002 logged off"
    );
    let a1002 = s
        .window("1h")
        .unwrap()
        .agents
        .iter()
        .find(|a| &*a.agent == "Agent/1002")
        .unwrap();
    assert_eq!(a1002.state, Some(ccpulse_core::event::AgentState::Offline));
    assert_eq!(a1002.handled, 1);
}

/// A `queue_log` import stopped after any line, or in the middle of one being written,
/// and resumed from its resume file, writes the events of the import in one go.
#[test]
fn asterisk_import_resumed_anywhere_in_the_file_writes_the_same_events() {
    let whole = std::fs::read(data("asterisk/morning.queue_log")).unwrap();
    let once = {
        let dir = scratch("once");
        let log = dir.join("queue_log");
        std::fs::write(&log, &whole).unwrap();
        let mut imp = QueueLogImport::open(&log, None, jiff::tz::TimeZone::UTC).unwrap();
        let mut ev = imp.step(usize::MAX).unwrap();
        ev.extend(imp.idle(i64::MAX / 2));
        std::fs::remove_dir_all(&dir).unwrap();
        ev
    };
    let newlines: Vec<usize> = whole
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i)
        .collect();
    // After line 5, in the middle of line 17 (an ENTERQUEUE being written), after line 21
    // (a blind transfer, whose ENTERQUEUE on the next line makes it a transfer to
    // support), and one byte before the end (the last line not yet complete).
    for cut in [newlines[4] + 1, newlines[16] - 7, newlines[20] + 1, whole.len() - 1] {
        let dir = scratch(&format!("cut{cut}"));
        let log = dir.join("queue_log");
        let state = dir.join("queue_log.ccpulse");
        std::fs::write(&log, &whole[..cut]).unwrap();
        let mut got = {
            let mut imp = QueueLogImport::open(&log, Some(&state), jiff::tz::TimeZone::UTC).unwrap();
            let ev = imp.step(usize::MAX).unwrap();
            // Nothing is due yet by the wall clock of the log's own time.
            assert!(imp.idle(0).is_empty());
            imp.commit().unwrap();
            ev
        };
        // The importer is stopped; Asterisk goes on writing.
        std::fs::write(&log, &whole).unwrap();
        let mut imp = QueueLogImport::open(&log, Some(&state), jiff::tz::TimeZone::UTC).unwrap();
        got.extend(imp.step(usize::MAX).unwrap());
        got.extend(imp.idle(i64::MAX / 2));
        assert_eq!(got, once, "cut at byte {cut}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ccpulse-import-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `morning.jsonl`: Amazon Connect contact events and agent records.
/// - billing voice: A answered after 12 s (held 30 s, talk 150 s, ACW 43 s); B abandoned
///   after 40 s; C disconnected by the queue flow after 120 s (flow-out); D answered
///   after 25 s (talk 120 s, ACW 15 s) and transferred: E, its transfer, queued in
///   support 1 s later and answered after 8 s (talk 146 s, ACW 30 s).
/// - billing chat: F answered after 50 s (talk 310 s, ACW 10 s).
/// - ana on a break 09:13–09:20; ben logged out at 09:25.
#[test]
fn connect_morning_replays_to_the_hand_computed_figures() {
    let names = load_names(&data("connect/names.json")).unwrap();
    let mut c = Connect::new(names);
    let text = std::fs::read(data("connect/morning.jsonl")).unwrap();
    let mut events = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        events.extend(c.line(i as u64 + 1, line));
    }
    assert!(c.report().problems.is_empty(), "{:?}", c.report().problems);
    assert_eq!(c.report().skipped["HEART_BEAT"], 1);
    assert_eq!(c.report().skipped["INITIATED"], 2);
    // A transfer chain shares its key.
    let chain: Vec<&str> = events
        .iter()
        .filter(|e| matches!(e.contact_id.as_deref(), Some("c-d" | "c-e")))
        .map(|e| e.key.as_str())
        .collect();
    assert!(chain.iter().all(|k| *k == "c-d"), "{chain:?}");
    let s = replay(&events, "2026-11-24T09:30:00Z");
    let billing = group(&s, "billing", "voice");
    assert_eq!(counts(billing), (4, 2, 1, 1, 0, 1));
    close(billing.service_level, 1.0 / 2.0);
    close(billing.asa_seconds, (12.0 + 25.0) / 2.0);
    close(billing.hold_seconds, 30.0 / 2.0);
    close(billing.talk_seconds, (150.0 + 120.0) / 2.0);
    close(billing.acw_seconds, (43.0 + 15.0) / 2.0);
    let support = group(&s, "support", "voice");
    assert_eq!(counts(support), (1, 1, 0, 0, 0, 1));
    close(support.asa_seconds, 8.0);
    close(support.aht_seconds, 176.0);
    let chat = group(&s, "billing", "chat");
    assert_eq!(counts(chat), (1, 1, 0, 0, 0, 1));
    close(chat.aht_seconds, 320.0);
    let w = s.window("1h").unwrap();
    let ana = w.agents.iter().find(|a| &*a.agent == "ana").unwrap();
    assert_eq!(ana.team.as_deref(), Some("team-1"));
    assert_eq!(ana.state, Some(ccpulse_core::event::AgentState::Available));
    assert_eq!(ana.handled, 2);
    let ben = w.agents.iter().find(|a| &*a.agent == "ben").unwrap();
    assert_eq!(ben.state, Some(ccpulse_core::event::AgentState::Offline));
}

/// `morning.form`: TaskRouter callbacks, one form body per line, one of them retried.
/// - Support: WT01 answered by alice after 10 s (bob's reservation rejected first;
///   talk 240 s, wrap-up 30 s); WT02 canceled by the caller's hang-up after 45 s; WT03
///   moved by its workflow to Escalations after 60 s; WT04 canceled by its TTL after 120 s.
/// - Escalations: WT03 answered by bob after 20 s (talk 160 s, wrap-up 30 s).
#[test]
fn twilio_morning_replays_to_the_hand_computed_figures() {
    let mut t = TaskRouter::new(Channel::Voice);
    let text = std::fs::read_to_string(data("twilio/morning.form")).unwrap();
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    for line in text.lines() {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(line).unwrap();
        match t.translate(&params).unwrap() {
            Translated::Events(e) => events.extend(e),
            Translated::Skipped(k) => skipped.push(k),
        }
    }
    assert_eq!(
        skipped,
        [
            "task.created",
            "reservation.created",
            "reservation.rejected",
            "reservation.created",
            "task-queue.timeout"
        ]
    );
    let accepted: Vec<&Event> = events.iter().filter(|e| e.kind == Kind::Answered).collect();
    assert_eq!(accepted[0].id, accepted[1].id, "the retried callback has the same id");
    let s = replay(&events, "2026-11-24T10:30:00Z");
    let support = group(&s, "Support", "voice");
    assert_eq!(counts(support), (4, 1, 1, 1, 1, 1));
    close(support.service_level, 1.0);
    close(support.asa_seconds, 10.0);
    close(support.aht_seconds, 270.0);
    let esc = group(&s, "Escalations", "voice");
    assert_eq!(counts(esc), (1, 1, 0, 0, 0, 1));
    close(esc.asa_seconds, 20.0);
    close(esc.aht_seconds, 190.0);
    let w = s.window("1h").unwrap();
    let alice = w.agents.iter().find(|a| &*a.agent == "alice").unwrap();
    assert_eq!(alice.state, Some(ccpulse_core::event::AgentState::Away));
    assert_eq!(alice.team.as_deref(), Some("tier1"));
}
