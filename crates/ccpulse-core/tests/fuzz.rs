//! A fuzz harness (proptest) over parse + apply: arbitrary bytes, and events with
//! extreme values (timestamps from year 1 to the future, names at and past the limits,
//! long lists, scores out of range, every type and field mixed), fed to one engine with
//! snapshots in between. Nothing panics, and the memory an event costs stays bounded.
//!
//! It runs briefly in the test command (a few hundred cases); run it longer with
//! `PROPTEST_CASES=100000 cargo test -p ccpulse-core --test fuzz --release`.
#![allow(clippy::unwrap_used)]

use std::alloc::System;
use std::sync::Arc;

use ccpulse_core::engine::window_bounds;
use ccpulse_core::{parse_event, Engine, EngineConfig, Snapshot};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The wall clock of the harness: 2026-11-23T12:00:00Z.
const WALL: i64 = 1_795_435_200_000;

/// Bytes an event may cost at most, whatever it holds (an engine's per-event structures,
/// its share of a snapshot's answer; the largest a valid event can carry is 64 names of
/// 128 characters). Generous: the point is that it does not grow with timestamps, names
/// or list lengths.
const PER_EVENT: usize = 256 * 1024;

fn ts() -> impl Strategy<Value = Value> {
    prop_oneof![
        // Around the wall clock, in and out of order.
        (-3 * 86_400_000i64..600_000).prop_map(|d| json!(WALL + d)),
        // Ancient, far apart, the epoch, negative, the future, the limits.
        Just(json!("0001-01-01T00:00:00Z")),
        Just(json!("1970-01-01T00:00:00Z")),
        Just(json!("1990-06-01T12:00:00+05:00")),
        Just(json!(-62_135_596_800_000i64)),
        Just(json!(253_402_300_799_999i64)),
        Just(json!(i64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!("2026-11-23T12:04:59Z")),
        Just(json!("2026-11-23T12:05:01Z")),
        Just(json!("2026-02-30T00:00:00Z")),
        Just(json!("")),
        Just(json!(1.5)),
        Just(json!(null)),
    ]
}

fn name() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[a-c]{1,3}".prop_map(Value::from),
        1 => Just(json!("")),
        1 => Just(json!("é".repeat(128))),
        1 => Just(json!("q".repeat(129))),
        1 => Just(json!("x".repeat(100 * 1024))),
        1 => Just(json!("<img src=x onerror=\"alert(1)\">")),
        1 => Just(json!(12)),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(vec![
        "contact.offered",
        "contact.answered",
        "contact.abandoned",
        "contact.hold_started",
        "contact.hold_ended",
        "contact.transferred",
        "contact.ended",
        "contact.wrapped_up",
        "survey.csat",
        "survey.nps",
        "agent.state",
        "contact.teleported",
    ]);
    (
        "[0-9]{1,4}",
        kind,
        ts(),
        name(),
        name(),
        name(),
        prop::sample::select(vec!["voice", "chat", "email", "fax"]),
        prop::sample::select(vec!["available", "busy", "acw", "away", "offline", "lunch"]),
        (-2i64..12, prop::sample::select(vec!["thumbs", "five", "ten"])),
        prop_oneof![Just(0usize), 1usize..4, Just(64usize), Just(65usize), Just(20_000usize)],
        any::<bool>(),
    )
        .prop_map(
            |(id, kind, ts, contact, queue, agent, channel, state, (score, scale), queues, repeat)| {
                let mut m = Map::new();
                m.insert("id".into(), json!(id));
                m.insert("type".into(), json!(kind));
                m.insert("ts".into(), ts);
                m.insert("contact_id".into(), contact);
                m.insert("channel".into(), json!(channel));
                m.insert("queue".into(), queue.clone());
                m.insert("to_queue".into(), queue);
                m.insert("agent_id".into(), agent.clone());
                m.insert("customer_id".into(), agent);
                m.insert("state".into(), json!(state));
                m.insert("score".into(), json!(score));
                m.insert("scale".into(), json!(scale));
                m.insert("repeat".into(), json!(repeat));
                if queues > 0 {
                    let list: Vec<String> = (0..queues).map(|i| format!("q{i}")).collect();
                    m.insert("queues".into(), json!(list));
                }
                Value::Object(m)
            },
        )
}

/// Raw bytes, or an event's JSON with some of its bytes changed.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => event().prop_map(|e| e.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => (event(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)).prop_map(|(e, edits)| {
            let mut b = e.to_string().into_bytes();
            for (at, byte) in edits {
                let i = at.index(b.len());
                b[i] = byte;
            }
            b
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn parse_and_apply_never_panic_and_memory_stays_bounded(
        messages in prop::collection::vec(message(), 1..40),
    ) {
        let cfg = Arc::new(EngineConfig::default());
        let region = Region::new(GLOBAL);
        let mut engine = Engine::new(cfg.clone());
        for (i, bytes) in messages.iter().enumerate() {
            if let Ok(ev) = parse_event(bytes, WALL) {
                engine.apply(&ev);
            }
            if i % 8 == 7 {
                let now = engine.watermark().unwrap_or(WALL);
                engine.maintain(now);
                let snap = Snapshot::build(&engine.partial(now), &cfg);
                prop_assert_eq!(snap.windows.len(), window_bounds(&cfg, now).len());
            }
        }
        let now = engine.watermark().unwrap_or(WALL);
        let snap = Snapshot::build(&engine.partial(now), &cfg);
        let held = region.change();
        let in_use = held.bytes_allocated.saturating_sub(held.bytes_deallocated);
        let input: usize = messages.iter().map(Vec::len).sum();
        prop_assert!(
            in_use <= input + messages.len() * PER_EVENT,
            "{} bytes held for {} messages ({} bytes of input)", in_use, messages.len(), input
        );
        drop(snap);
    }
}
