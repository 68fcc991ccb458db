//! A realistic day (`ccpulse_sim::day`: 24 h, 200 000 contacts over 100 000 customers,
//! surveys hours late, few agent events; 915 648 JSON lines): parsing alone, parse +
//! apply with one engine, and the whole replay in memory with the threads available
//! (first reading, engines, snapshot), as `ccpulse replay` does it after reading the file.
//!
//! `cargo bench -p ccpulse-benches --bench day`
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use ccpulse_benches::{day, lines};
use ccpulse_core::replay::replay_bytes;
use ccpulse_core::{parse_event, Engine, EngineConfig};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn day_benches(c: &mut Criterion) {
    let (text, wall) = day();
    let lines = lines(&text);
    let cfg = Arc::new(EngineConfig::default());
    let mut g = c.benchmark_group("day");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("parse", |b| {
        b.iter(|| lines.iter().filter(|l| parse_event(black_box(l), wall).is_ok()).count())
    });
    g.bench_function("parse_apply", |b| {
        b.iter_batched(
            || Engine::new(cfg.clone()),
            |mut engine| {
                for l in &lines {
                    if let Ok(ev) = parse_event(l, wall) {
                        engine.apply(&ev);
                    }
                }
                engine
            },
            BatchSize::LargeInput,
        )
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    g.bench_function(format!("replay_{threads}_threads"), |b| {
        b.iter(|| replay_bytes(black_box(&text), cfg.clone(), None, wall, threads))
    });
    g.finish();
}

criterion_group!(benches, day_benches);
criterion_main!(benches);
