//! No single event can cost unbounded memory or time: ancient and far-apart timestamps,
//! contacts that never finish, contacts and agents with endless events, and the rules
//! that say where an event of equal time or a very late one goes.
#![allow(clippy::unwrap_used)]

use std::alloc::System;
use std::sync::Arc;

use ccpulse_core::engine::{Applied, MAX_AGENT_STATES, MAX_CONTACT_EVENTS};
use ccpulse_core::event::AgentState;
use ccpulse_core::replay::replay_text;
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::{parse_event, Engine, EngineConfig};
use serde_json::{json, Value};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const WALL: &str = "2026-11-23T12:00:00Z";

fn wall() -> i64 {
    parse_rfc3339(WALL).unwrap()
}

fn apply(engine: &mut Engine, v: &Value) -> Applied {
    let text = v.to_string();
    let ev = parse_event(text.as_bytes(), wall()).unwrap();
    engine.apply(&ev)
}

fn offered(id: &str, contact: &str, ts: &str) -> Value {
    json!({"id": id, "type": "contact.offered", "ts": ts, "contact_id": contact, "channel": "voice", "queue": "farq"})
}

/// The two valid events that aborted `ccpulse replay` (6 GiB for the eviction schedule
/// between year 1 and 2026), and a 1990 one (460 MB): now a few kilobytes each.
#[test]
fn ancient_timestamps_cost_no_more_than_recent_ones() {
    for ancient in ["0001-01-01T00:00:00Z", "1990-01-01T00:00:00Z", "1969-07-20T20:17:00Z"] {
        let region = Region::new(GLOBAL);
        let mut engine = Engine::new(Arc::new(EngineConfig::default()));
        apply(&mut engine, &offered("far-1", "far1", ancient));
        apply(&mut engine, &offered("far-2", "far2", "2026-11-22T10:00:00Z"));
        apply(&mut engine, &offered("far-3", "far3", ancient));
        let p = engine.partial(parse_rfc3339("2026-11-22T10:00:05Z").unwrap());
        let used = region.change().bytes_allocated;
        assert!(used < 4 << 20, "{ancient}: {used} bytes allocated");
        let today = p.windows.last().unwrap();
        assert_eq!(
            today.leaves.values().map(|a| a.c.offered).sum::<i64>(),
            1,
            "{ancient}: only the 2026 offer is in today"
        );
    }
}

/// Contacts that never finish are capped per engine: the ones due soonest go first,
/// and every one evicted is counted.
#[test]
fn open_contacts_are_capped_and_the_evicted_counted() {
    let cfg = EngineConfig {
        max_open_contacts: 100,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(Arc::new(cfg));
    let start = parse_rfc3339("2026-11-22T09:00:00Z").unwrap();
    for i in 0..1_000 {
        let ts = start + i * 1_000;
        let v = json!({"id": format!("o{i}"), "type": "contact.offered", "ts": ts, "contact_id": format!("c{i}"), "channel": "voice", "queue": "q"});
        assert_eq!(apply(&mut engine, &v), Applied::Applied);
        assert!(engine.stats().open_contacts <= 100);
    }
    let s = engine.stats();
    assert_eq!(s.evicted_cap + s.open_contacts, 1_000, "{s:?}");
    // The newest are still held and waiting: the oldest went.
    let p = engine.partial(start + 1_000 * 1_000);
    let live = p.live.values().next().unwrap();
    assert_eq!(live.waiting as u64, s.open_contacts);
    assert!(live.oldest_since.unwrap() >= start + 800 * 1_000, "{live:?}");
}

/// A contact with endless events and an agent with endless state changes stop taking
/// more, each further event dropped and counted.
#[test]
fn contacts_and_agents_hold_a_bounded_number_of_events() {
    let mut engine = Engine::new(Arc::new(EngineConfig::default()));
    let start = parse_rfc3339("2026-11-22T09:00:00Z").unwrap();
    apply(&mut engine, &offered("o", "c", "2026-11-22T09:00:00Z"));
    apply(
        &mut engine,
        &json!({"id": "a", "type": "contact.answered", "ts": start + 1, "contact_id": "c", "agent_id": "a1"}),
    );
    let mut over = 0;
    for i in 0..MAX_CONTACT_EVENTS * 2 {
        let kind = if i % 2 == 0 {
            "contact.hold_started"
        } else {
            "contact.hold_ended"
        };
        let v = json!({"id": format!("h{i}"), "type": kind, "ts": start + 2 + i as i64, "contact_id": "c"});
        if apply(&mut engine, &v) == Applied::OverCap {
            over += 1;
        }
    }
    assert_eq!(over, MAX_CONTACT_EVENTS + 2, "the offer and the answer count too");
    let mut over = 0;
    for i in 0..MAX_AGENT_STATES + 10 {
        let v = json!({"id": format!("s{i}"), "type": "agent.state", "ts": start + i as i64, "agent_id": "a9", "state": "busy"});
        if apply(&mut engine, &v) == Applied::OverCap {
            over += 1;
        }
    }
    assert_eq!(over, 10);
    assert_eq!(engine.stats().over_cap, (MAX_CONTACT_EVENTS + 2 + 10) as u64);
}

/// Events of equal time take their arrival order: an agent who sends `available` then
/// `busy` in the same millisecond is busy, and the reverse order leaves them available.
#[test]
fn equal_timestamps_follow_arrival_order() {
    for (first, second) in [("available", "busy"), ("busy", "available")] {
        let lines = [
            json!({"id": "x1", "type": "agent.state", "ts": "2026-11-22T09:00:00Z", "agent_id": "a1", "team": "t", "state": "away"}),
            // Ids whose hashes would order them the other way round for one of the pairs.
            json!({"id": "zz-first", "type": "agent.state", "ts": "2026-11-22T09:10:00Z", "agent_id": "a1", "state": first}),
            json!({"id": "aa-second", "type": "agent.state", "ts": "2026-11-22T09:10:00Z", "agent_id": "a1", "state": second}),
        ];
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        let as_of = parse_rfc3339("2026-11-22T09:15:00Z").unwrap();
        let (snap, bad) = replay_text(&text.join("\n"), Arc::new(EngineConfig::default()), Some(as_of), wall());
        assert!(bad.is_empty());
        let a = &snap.window("5m").unwrap().agents[0];
        let expected = if second == "busy" {
            AgentState::Busy
        } else {
            AgentState::Available
        };
        assert_eq!(a.state, Some(expected), "{first} then {second}");
        assert_eq!(a.occupancy, Some(if second == "busy" { 1.0 } else { 0.0 }));
    }
}

/// A contact's events of equal time keep their lifecycle rank first: an answer written
/// before the offer of the same millisecond still comes after it.
#[test]
fn equal_timestamps_of_a_contact_keep_the_lifecycle_order() {
    let lines = [
        json!({"id": "a", "type": "contact.answered", "ts": "2026-11-22T09:00:00Z", "contact_id": "c", "agent_id": "a1"}),
        json!({"id": "o", "type": "contact.offered", "ts": "2026-11-22T09:00:00Z", "contact_id": "c", "channel": "voice", "queue": "q"}),
    ];
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    let as_of = parse_rfc3339("2026-11-22T09:01:00Z").unwrap();
    let (snap, _) = replay_text(&text.join("\n"), Arc::new(EngineConfig::default()), Some(as_of), wall());
    let g = &snap.window("5m").unwrap().queues[0];
    assert_eq!((g.offered, g.answered, g.answered_within, g.waiting), (1, 1, 1, 0));
    assert_eq!(g.asa_seconds, Some(0.0));
}

/// An abandon more than the dedupe horizon (2 h) late still closes its contact, which
/// stops waiting; a copy of it is not applied twice.
#[test]
fn a_very_late_abandon_still_closes_its_contact() {
    let mut engine = Engine::new(Arc::new(EngineConfig::default()));
    apply(&mut engine, &offered("o1", "c1", "2026-11-22T08:00:00Z"));
    apply(&mut engine, &offered("o2", "c2", "2026-11-22T08:00:00Z"));
    let now = parse_rfc3339("2026-11-22T10:35:00Z").unwrap();
    apply(
        &mut engine,
        &json!({"id": "t", "type": "agent.state", "ts": now, "agent_id": "a", "state": "available"}),
    );
    let waiting = |e: &mut Engine| e.partial(now).live.values().map(|l| l.waiting).sum::<i64>();
    assert_eq!(waiting(&mut engine), 2);
    let abandon = json!({"id": "ab1", "type": "contact.abandoned", "ts": "2026-11-22T08:01:00Z", "contact_id": "c1"});
    assert_eq!(apply(&mut engine, &abandon), Applied::Applied, "2 h 34 min late");
    assert_eq!(waiting(&mut engine), 1, "c1 no longer waits");
    let copy =
        json!({"id": "ab1-again", "type": "contact.abandoned", "ts": "2026-11-22T08:01:00Z", "contact_id": "c1"});
    assert_eq!(apply(&mut engine, &copy), Applied::TooOld, "the same abandon again");
    let stranger = json!({"id": "ab9", "type": "contact.abandoned", "ts": "2026-11-22T08:01:00Z", "contact_id": "c9"});
    assert_eq!(apply(&mut engine, &stranger), Applied::TooOld, "no contact held");
    let hold = json!({"id": "h", "type": "contact.hold_started", "ts": "2026-11-22T08:02:00Z", "contact_id": "c2"});
    assert_eq!(apply(&mut engine, &hold), Applied::TooOld, "does not close anything");
    let p = engine.partial(now);
    let today = p.windows.last().unwrap();
    let abandoned: i64 = today.leaves.values().map(|a| a.c.abandoned).sum();
    assert_eq!(abandoned, 1, "counted once, in today");
    assert_eq!(engine.stats().too_old, 3);
}
