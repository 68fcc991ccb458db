//! Parse, and parse + apply, on a realistic mixed stream; and building a snapshot.
//!
//! `cargo bench -p ccpulse-benches --bench engine`
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use ccpulse_benches::stream;
use ccpulse_core::{parse_event, Engine, EngineConfig, Snapshot};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const N: usize = 200_000;

fn parse(c: &mut Criterion) {
    let (messages, wall) = stream(N);
    let mut g = c.benchmark_group("events");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("parse", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for m in &messages {
                ok += usize::from(parse_event(black_box(&m.payload), wall).is_ok());
            }
            ok
        })
    });
    let cfg = Arc::new(EngineConfig::default());
    g.bench_function("parse_apply", |b| {
        b.iter_batched(
            || Engine::new(cfg.clone()),
            |mut engine| {
                for m in &messages {
                    if let Ok(ev) = parse_event(&m.payload, wall) {
                        engine.apply(&ev);
                    }
                }
                engine
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let (messages, wall) = stream(N);
    let cfg = Arc::new(EngineConfig::default());
    let mut engine = Engine::new(cfg.clone());
    for m in &messages {
        if let Ok(ev) = parse_event(&m.payload, wall) {
            engine.apply(&ev);
        }
    }
    let now = engine.watermark().unwrap_or(wall);
    let mut g = c.benchmark_group("tick");
    g.sample_size(20);
    g.bench_function("partial_and_snapshot", |b| {
        b.iter(|| Snapshot::build(&engine.partial(black_box(now)), &cfg))
    });
    g.finish();
}

criterion_group!(benches, parse, snapshot);
criterion_main!(benches);
