//! Engine memory, counted by an instrumented allocator: per open contact, per group
//! (a queue with traffic in every slice of the longest window), after a realistic
//! stream, and after a realistic day (`ccpulse_sim::day`).
//!
//! `cargo bench -p ccpulse-benches --bench memory`

use std::alloc::System;
use std::sync::Arc;

use ccpulse_benches::{day, lines, stream};
use ccpulse_core::time::{format_rfc3339, parse_rfc3339, HOUR, SECOND};
use ccpulse_core::{parse_event, Engine, EngineConfig};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn live_bytes(region: &Region<'_, System>) -> i64 {
    let s = region.change();
    (s.bytes_allocated as i64 - s.bytes_deallocated as i64) + (s.bytes_reallocated as i64)
}

fn apply(engine: &mut Engine, json: &str, wall: i64) {
    if let Ok(ev) = parse_event(json.as_bytes(), wall) {
        engine.apply(&ev);
    }
}

fn main() {
    let cfg = Arc::new(EngineConfig::default());
    let t0 = parse_rfc3339("2026-11-22T08:00:00Z").unwrap_or_default();
    let wall = t0 + 48 * HOUR;

    // Open contacts: offered, waiting.
    let n = 100_000;
    let mut engine = Engine::new(cfg.clone());
    let region = Region::new(GLOBAL);
    for i in 0..n {
        let ts = format_rfc3339(t0 + i as i64 * 10);
        let json = format!(
            r#"{{"id":"o{i}","type":"contact.offered","ts":"{ts}","contact_id":"c{i}","channel":"voice","queue":"q{}"}}"#,
            i % 10
        );
        apply(&mut engine, &json, wall);
    }
    let bytes = live_bytes(&region);
    println!(
        "memory/open_contact: {:.0} bytes per open contact ({n} contacts waiting, dedupe ids included)",
        bytes as f64 / n as f64
    );
    drop(engine);

    // Finished contacts, remembered for late surveys (one queue).
    let mut engine = Engine::new(cfg.clone());
    let region = Region::new(GLOBAL);
    for i in 0..n {
        let (a, b) = (
            format_rfc3339(t0 + i as i64 * 10),
            format_rfc3339(t0 + i as i64 * 10 + 3 * SECOND),
        );
        apply(
            &mut engine,
            &format!(
                r#"{{"id":"f{i}o","type":"contact.offered","ts":"{a}","contact_id":"f{i}","channel":"voice","queue":"q"}}"#
            ),
            wall,
        );
        apply(
            &mut engine,
            &format!(r#"{{"id":"f{i}a","type":"contact.abandoned","ts":"{b}","contact_id":"f{i}"}}"#),
            wall,
        );
    }
    engine.maintain(t0 + 3 * HOUR);
    let per_finished = live_bytes(&region) as f64 / n as f64;
    println!(
        "memory/finished_contact: {per_finished:.0} bytes per finished contact remembered for survey attribution ({} remembered)",
        engine.stats().closed_contacts
    );
    drop(engine);

    // Groups: 200 queues, each with an answered contact in every 5 s slice of an hour,
    // so every slice of the ring is allocated (the worst case per group).
    let queues = 200;
    let mut engine = Engine::new(cfg.clone());
    let slices = (HOUR / (5 * SECOND)) as usize;
    let mut k = 0u64;
    for s in 0..slices {
        for q in 0..queues {
            k += 1;
            let ts = t0 + s as i64 * 5 * SECOND;
            let (a, b) = (format_rfc3339(ts), format_rfc3339(ts + 3 * SECOND));
            apply(
                &mut engine,
                &format!(
                    r#"{{"id":"g{k}o","type":"contact.offered","ts":"{a}","contact_id":"g{k}","channel":"voice","queue":"q{q}"}}"#
                ),
                wall,
            );
            apply(
                &mut engine,
                &format!(r#"{{"id":"g{k}a","type":"contact.abandoned","ts":"{b}","contact_id":"g{k}"}}"#),
                wall,
            );
        }
    }
    // Finished contacts are compressed after the lateness; measure the windows alone.
    engine.maintain(t0 + 3 * HOUR);
    let before = Region::new(GLOBAL);
    let stats = engine.stats();
    drop(engine);
    let freed = -live_bytes(&before);
    let groups_only = freed as f64 - per_finished * stats.closed_contacts as f64;
    println!(
        "memory/group: {:.0} bytes per (queue, channel, policy) group with all {slices} slices of the 1h window allocated \
         ({} groups, {} slices; the {} remembered finished contacts subtracted)",
        groups_only / queues as f64,
        stats.leaves,
        stats.slices,
        stats.closed_contacts
    );

    // A realistic stream.
    let (messages, wall) = stream(200_000);
    let region = Region::new(GLOBAL);
    let mut engine = Engine::new(cfg);
    for m in &messages {
        if let Ok(ev) = parse_event(&m.payload, wall) {
            engine.apply(&ev);
        }
    }
    let stats = engine.stats();
    println!(
        "memory/stream: {:.1} MiB after {} realistic messages ({} open contacts, {} remembered, {} groups, {} agents, {} dedupe ids)",
        live_bytes(&region) as f64 / (1 << 20) as f64,
        messages.len(),
        stats.open_contacts,
        stats.closed_contacts,
        stats.leaves,
        stats.agents,
        stats.dedupe_ids
    );

    // A realistic day: what one engine holds after it (everything a day's replay keeps).
    let (text, wall) = day();
    let day_lines = lines(&text);
    let cfg = Arc::new(EngineConfig::default());
    let region = Region::new(GLOBAL);
    let mut engine = Engine::new(cfg);
    for l in &day_lines {
        if let Ok(ev) = parse_event(l, wall) {
            engine.apply(&ev);
        }
    }
    let stats = engine.stats();
    println!(
        "memory/day: {:.1} MiB after a realistic day of {} lines ({} open contacts, {} remembered, {} customer offers, {} groups, {} agents, {} dedupe ids)",
        live_bytes(&region) as f64 / (1 << 20) as f64,
        day_lines.len(),
        stats.open_contacts,
        stats.closed_contacts,
        stats.customer_offers,
        stats.leaves,
        stats.agents,
        stats.dedupe_ids
    );
}
