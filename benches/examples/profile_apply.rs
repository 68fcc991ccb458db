//! Parse + apply of the benchmark stream in a loop, and nothing else, for a profiler:
//! `cargo build --profile bench -p ccpulse-benches --example profile_apply` then
//! `perf record --call-graph dwarf target/release/examples/profile_apply 20`
//! (add `apply-only` after the rounds for the engine alone, events parsed beforehand;
//! `parse-only` for parsing alone; `warm` for an engine that has seen the stream's first half).
//! With `STREAM=day`, the stream is the realistic day (`ccpulse_benches::day`, 915 648
//! lines) instead of the simulator's 200 000 messages (not with `warm`).

use std::sync::Arc;
use std::time::Instant;

use ccpulse_benches::{day, lines, stream};

use ccpulse_core::{parse_event, Engine, EngineConfig};

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mode = std::env::args().nth(2).unwrap_or_default();
    let apply_only = mode == "apply-only";
    let cfg = Arc::new(EngineConfig::default());
    if mode == "warm" {
        // Steady state: the engine has seen the 200 000 messages before the timed ones.
        let (all, wall) = stream(400_000);
        let (before, timed) = all.split_at(200_000);
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let mut engine = Engine::new(cfg.clone());
            for m in before {
                if let Ok(ev) = parse_event(&m.payload, wall) {
                    engine.apply(&ev);
                }
            }
            let started = Instant::now();
            for m in timed {
                if let Ok(ev) = parse_event(&m.payload, wall) {
                    engine.apply(&ev);
                }
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        let n = timed.len() as f64;
        println!(
            "warm: best round {:.0} events/s ({:.0} ns/event)",
            n / best,
            best * 1e9 / n
        );
        return;
    }
    let (day_text, (sim, wall)) = if std::env::var("STREAM").is_ok_and(|s| s == "day") {
        let (text, wall) = day();
        (text, (Vec::new(), wall))
    } else {
        (Vec::new(), stream(200_000))
    };
    let day_lines = lines(&day_text);
    let messages: Vec<&[u8]> = if sim.is_empty() {
        day_lines
    } else {
        sim.iter().map(|m| m.payload.as_slice()).collect()
    };
    if mode == "parse-only" {
        let started = Instant::now();
        let mut ok = 0;
        for _ in 0..rounds {
            ok += messages.iter().filter(|m| parse_event(m, wall).is_ok()).count();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "parse only: {ok} valid, {:.0} ns/message",
            secs * 1e9 / (rounds * messages.len()) as f64
        );
        return;
    }
    if apply_only {
        // The engine alone: events parsed beforehand.
        // SKIP=agent (or contact, survey) leaves those events out, to see what they cost.
        let skip = std::env::var("SKIP").unwrap_or_default();
        let events: Vec<_> = messages
            .iter()
            .filter_map(|m| parse_event(m, wall).ok())
            .filter(|e| skip.is_empty() || !e.type_name().starts_with(skip.as_str()))
            .collect();
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let mut engine = Engine::new(cfg.clone());
            let started = Instant::now();
            for ev in &events {
                engine.apply(ev);
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        let n = events.len() as f64;
        println!(
            "apply only ({} events): best round {:.0} events/s ({:.0} ns/event)",
            events.len(),
            n / best,
            best * 1e9 / n
        );
        return;
    }
    let mut best = f64::MAX;
    let mut applied = 0;
    for _ in 0..rounds {
        let mut engine = Engine::new(cfg.clone());
        let started = Instant::now();
        for m in &messages {
            if let Ok(ev) = parse_event(m, wall) {
                engine.apply(&ev);
            }
        }
        best = best.min(started.elapsed().as_secs_f64());
        applied = engine.stats().applied;
    }
    let n = messages.len() as f64;
    println!(
        "{applied} applied per round; best round {:.0} events/s ({:.0} ns/event)",
        n / best,
        best * 1e9 / n
    );
}
