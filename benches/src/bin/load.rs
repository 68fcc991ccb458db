//! `ccpulse-load`: the load harness. Starts a Tansu broker on loopback, drives the real
//! `ccpulse` binary (release build), and prints what it measured:
//!
//! - `ingest`: N simulated messages produced first, then `ccpulse serve --clock event`
//!   started; events/s from the first to the last message counted as ingested.
//! - `freshness`: live synthetic traffic at R events/s with `ts` = now into
//!   `ccpulse serve` (wall clock); the service's `ccpulse_snapshot_freshness_seconds`
//!   histogram (publication time − newest event time, per snapshot).
//! - `api`: Q queues of traffic, then `GET /api/v1/queues?window=15m` at a fixed rate;
//!   latency percentiles measured by the client.
//!
//! - `takeover`: D days of simulated history (about M messages a day) in 6 partitions,
//!   three `ccpulse serve` instances in one group (wall clock, the default recovery
//!   horizon); one stops with SIGTERM, and the time until the other two cover every
//!   partition again (`/readyz` 200 on both, all partitions held) is printed, with the
//!   events they read again. Parked engines are kept 20 s, and the leaver stops after
//!   that, so that its partitions are replayed, not resumed from the time the survivors
//!   held them while the group formed. Not part of `all`: it produces millions of
//!   messages.
//!
//! `CCPULSE_LOAD_LOG` sets the instances' `RUST_LOG` (default `warn`; their logs go to
//! stderr, or to `serve-PORT.log` in `CCPULSE_LOAD_LOG_DIR` when that is set), and
//! `CCPULSE_LOAD_KAFKA_PROPS` (`key=value;key=value`) adds librdkafka properties. For
//! `takeover`, `CCPULSE_LOAD_SESSION_MS` sets the session timeout (default 6000),
//! `CCPULSE_LOAD_KAFKA_DEBUG` librdkafka's `debug` (e.g. `cgrp`, to see the group's
//! rebalances), and `CCPULSE_LOAD_NO_STANDBY` (any value) turns `kafka.standby` off
//! (on by default, as in the service: the leave is then measured once every replica is
//! caught up).
//!
//! `cargo build --release -p ccpulse -p ccpulse-benches && target/release/ccpulse-load all`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccpulse_core::time::format_rfc3339;
use ccpulse_tests::free_port;
use ccpulse_tests::tansu::{scratch_dir, Broker, Scratch};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

type Result<T> = std::result::Result<T, String>;

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A Tansu broker (memory storage) with the contract's topics, `partitions` each,
/// through the end-to-end tests' helper; returns it with its bootstrap address and the
/// scratch directory of its log. Panics, with the broker's log, when it cannot start.
fn tansu(partitions: u32) -> (Broker, String, Scratch) {
    let dir = scratch_dir("load");
    let broker = Broker::start(&dir);
    broker.create_contract_topics(partitions);
    let brokers = broker.bootstrap();
    (broker, brokers, dir)
}

fn producer(brokers: &str) -> Result<ThreadedProducer<DefaultProducerContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097152")
        .create()
        .map_err(|e| format!("producer: {e}"))
}

fn send(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, key: &str, payload: &[u8]) {
    let mut record = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match p.send(record) {
            Ok(()) => return,
            Err((_, r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// Produces every message of `messages` into the broker and waits up to `flush` for them
/// all to be delivered; the time it took.
fn produce_all(brokers: &str, messages: &[ccpulse_sim::Message], flush: Duration) -> Result<Duration> {
    let p = producer(brokers)?;
    let t = Instant::now();
    for m in messages {
        send(&p, m.topic, &m.key, &m.payload);
    }
    p.flush(flush).map_err(|e| e.to_string())?;
    Ok(t.elapsed())
}

fn ccpulse_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .map(|d| d.join("ccpulse"))
        .unwrap_or_else(|| PathBuf::from("ccpulse"))
}

fn serve(brokers: &str, clock: &str, extra: &[&str]) -> Result<(Proc, u16)> {
    let props = kafka_properties();
    if props.is_empty() || !extra.is_empty() {
        return serve_in(brokers, clock, &format!("load-{}", now_ms()), extra);
    }
    let cfg = std::env::temp_dir().join(format!("ccpulse-load-{}.toml", now_ms()));
    std::fs::write(&cfg, format!("[kafka.properties]\n{props}")).map_err(|e| e.to_string())?;
    let extra = ["--config", cfg.to_str().unwrap_or_default()];
    serve_in(brokers, clock, &format!("load-{}", now_ms()), &extra)
}

/// `CCPULSE_LOAD_KAFKA_PROPS` (`key=value;key=value`) as lines of a TOML table, for the
/// instances' `[kafka.properties]`.
fn kafka_properties() -> String {
    std::env::var("CCPULSE_LOAD_KAFKA_PROPS")
        .unwrap_or_default()
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| format!("{:?} = {:?}\n", k.trim(), v.trim()))
        .collect()
}

/// [`serve`] in the consumer group `group`.
fn serve_in(brokers: &str, clock: &str, group: &str, extra: &[&str]) -> Result<(Proc, u16)> {
    let port = free_port();
    let child = Command::new(ccpulse_bin())
        .args([
            "serve",
            "--brokers",
            brokers,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--clock",
            clock,
        ])
        .args(["--group-id", group])
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("CCPULSE_LOAD_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(instance_log(port)?)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", ccpulse_bin().display()))?;
    Ok((Proc(child), port))
}

/// Where an instance's log goes: `CCPULSE_LOAD_LOG_DIR/serve-PORT.log` when that is
/// set, else this process's stderr.
fn instance_log(port: u16) -> Result<Stdio> {
    match std::env::var_os("CCPULSE_LOAD_LOG_DIR") {
        Some(dir) => {
            let path = PathBuf::from(dir).join(format!("serve-{port}.log"));
            let file = std::fs::File::create(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
            Ok(Stdio::from(file))
        }
        None => Ok(Stdio::inherit()),
    }
}

/// One HTTP/1.1 GET on a kept-alive connection; returns the status and body.
fn get(conn: &mut BufReader<TcpStream>, path: &str) -> Result<(u16, Vec<u8>)> {
    get_with(conn, path, "")
}

/// [`get`] with extra request header lines (each ending in `\r\n`).
fn get_with(conn: &mut BufReader<TcpStream>, path: &str, extra: &str) -> Result<(u16, Vec<u8>)> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n{extra}\r\n");
    conn.get_mut().write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut status_line = String::new();
    conn.read_line(&mut status_line).map_err(|e| e.to_string())?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).map_err(|e| e.to_string())?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((status, body))
}

fn connect(port: u16) -> Result<BufReader<TcpStream>> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(BufReader::new(s))
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn scrape(port: u16) -> String {
    connect(port)
        .and_then(|mut c| get(&mut c, "/metrics"))
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn wait_ready(port: u16, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok((200, _)) = connect(port).and_then(|mut c| get(&mut c, "/readyz")) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not ready within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ingest(n: usize) -> Result<()> {
    let (_broker, brokers, _dir) = tansu(4);
    let t = Instant::now();
    let messages = ccpulse_sim::bulk_ending_before(1, n, now_ms(), 0).ok_or("cannot place the stream before now")?;
    let gen = t.elapsed();
    let produced = produce_all(&brokers, &messages, Duration::from_secs(120))?;
    println!(
        "ingest: generated {n} messages in {:.2} s, produced into tansu in {:.2} s ({:.0} msg/s)",
        gen.as_secs_f64(),
        produced.as_secs_f64(),
        n as f64 / produced.as_secs_f64()
    );
    let (_svc, port) = serve(&brokers, "event", &[])?;
    let mut first: Option<(Instant, f64)> = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = metric(&scrape(port), "ccpulse_events_ingested_total");
        if first.is_none() && done > 0.0 {
            first = Some((Instant::now(), done));
        }
        if done >= n as f64 {
            let (t0, d0) = first.unwrap_or((Instant::now(), 0.0));
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "ingest: {n} messages consumed, parsed and applied; {:.0} events/s (from the first scrape with \
                 events ({d0:.0} done) to the last, {secs:.2} s)",
                (n as f64 - d0) / secs
            );
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {done} of {n} ingested after 300 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_ready(port, Duration::from_secs(60))?;
    Ok(())
}

/// A synthetic contact: offered, answered after a few seconds, ended, wrapped up;
/// `ts` near now. Returns (topic, key, payload) lines in time order.
fn contact_events(i: u64, queue: u32, t: i64) -> [(String, Vec<u8>); 4] {
    let c = format!("k{i}");
    let ev = |n: u32, kind: &str, ts: i64, extra: &str| {
        format!(
            r#"{{"id":"e{i}-{n}","type":"{kind}","ts":"{}","contact_id":"{c}"{extra}}}"#,
            format_rfc3339(ts)
        )
        .into_bytes()
    };
    [
        (
            c.clone(),
            ev(
                0,
                "contact.offered",
                t,
                &format!(r#","channel":"voice","queue":"q{queue}""#),
            ),
        ),
        (c.clone(), ev(1, "contact.answered", t + 1, r#","agent_id":"a1""#)),
        (c.clone(), ev(2, "contact.ended", t + 2, "")),
        (c.clone(), ev(3, "contact.wrapped_up", t + 3, "")),
    ]
}

fn freshness(rate: u64, secs: u64) -> Result<()> {
    let (_broker, brokers, _dir) = tansu(4);
    let (_svc, port) = serve(&brokers, "wall", &[])?;
    wait_ready(port, Duration::from_secs(60))?;
    let p = producer(&brokers)?;
    let started = Instant::now();
    let mut sent = 0u64;
    let mut i = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            for (key, payload) in contact_events(i, (i % 50) as u32, now_ms() - 3) {
                send(&p, "cc.voice", &key, &payload);
                sent += 1;
            }
            i += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let text = scrape(port);
    let count = metric(&text, "ccpulse_snapshot_freshness_seconds_count");
    let sum = metric(&text, "ccpulse_snapshot_freshness_seconds_sum");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with("ccpulse_snapshot_freshness_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bound = |q: f64| {
        buckets
            .iter()
            .find(|(_, c)| *c >= q * count)
            .map_or(f64::NAN, |(le, _)| *le)
    };
    println!(
        "freshness: {sent} events in {secs} s ({:.0} events/s) into ccpulse serve (wall clock, 1 s tick); {count:.0} \
         snapshots: mean {:.3} s, p50 <= {} s, p99 <= {} s (histogram bucket bounds)",
        sent as f64 / started.elapsed().as_secs_f64(),
        sum / count.max(1.0),
        bound(0.5),
        bound(0.99)
    );
    Ok(())
}

fn api(queues: u32, rate: u64, secs: u64, gzip: bool) -> Result<()> {
    let encoding: &'static str = if gzip { "Accept-Encoding: gzip\r\n" } else { "" };
    let (_broker, brokers, _dir) = tansu(4);
    let p = producer(&brokers)?;
    let t0 = now_ms() - 10 * 60_000;
    for i in 0..(u64::from(queues) * 10) {
        for (key, payload) in contact_events(i, (i % u64::from(queues)) as u32, t0 + i as i64 * 20) {
            send(&p, "cc.voice", &key, &payload);
        }
    }
    p.flush(Duration::from_secs(60)).map_err(|e| e.to_string())?;
    let (_svc, port) = serve(&brokers, "wall", &[])?;
    wait_ready(port, Duration::from_secs(120))?;
    let (_, body) = get(&mut connect(port)?, "/api/v1/queues?window=15m")?;
    let (_, sent) = get_with(&mut connect(port)?, "/api/v1/queues?window=15m", encoding)?;
    let groups = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["groups"].as_array().map(Vec::len))
        .unwrap_or(0);
    // Four client threads share the rate; each paces its own requests.
    let threads = 4;
    let per_thread = rate / threads;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let mut conn = connect(port)?;
                let interval = Duration::from_secs_f64(1.0 / per_thread as f64);
                let start = Instant::now();
                let mut lat = Vec::new();
                for k in 0..(per_thread * secs) {
                    let due = start + interval * k as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    // Latency from the scheduled time: a slow answer delays the next
                    // request, and that delay counts (no coordinated omission).
                    let (status, _) = get_with(&mut conn, "/api/v1/queues?window=15m", encoding)?;
                    if status != 200 {
                        return Err(format!("status {status}"));
                    }
                    lat.push(due.elapsed().as_secs_f64() * 1000.0);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().map_err(|_| "client thread panicked".to_string())??);
    }
    all.sort_by(f64::total_cmp);
    let q = |p: f64| all[((p * all.len() as f64).ceil() as usize).clamp(1, all.len()) - 1];
    println!(
        "api: GET /api/v1/queues?window=15m with {groups} queue groups ({} KiB of JSON, {} KiB sent{}), {} requests \
         at {rate}/s over {secs} s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        body.len() / 1024,
        sent.len() / 1024,
        if gzip { " gzipped" } else { "" },
        all.len(),
        q(0.5),
        q(0.99),
        all.last().copied().unwrap_or(0.0)
    );
    Ok(())
}

/// `/readyz` is 200 and the instance holds partitions; the number it holds.
fn held_when_ready(port: u16) -> Option<f64> {
    let mut c = connect(port).ok()?;
    let (status, _) = get(&mut c, "/readyz").ok()?;
    let (_, m) = get(&mut c, "/metrics").ok()?;
    (status == 200).then(|| metric(&String::from_utf8_lossy(&m), "ccpulse_partitions_assigned"))
}

/// Waits until every instance of `ports` is ready and together they hold `partitions`
/// partitions, each some, and stay so for 3 s (a group settles in several rebalances);
/// the time from the start to the beginning of that steady state.
fn wait_covered(ports: &[u16], partitions: f64, limit: Duration) -> Result<Duration> {
    let t = Instant::now();
    let mut since: Option<Duration> = None;
    loop {
        let held: Vec<Option<f64>> = ports.iter().map(|&p| held_when_ready(p)).collect();
        let covered =
            held.iter().all(|h| h.is_some_and(|h| h > 0.0)) && held.iter().flatten().sum::<f64>() == partitions;
        since = if covered { since.or(Some(t.elapsed())) } else { None };
        if let Some(s) = since.filter(|&s| t.elapsed() - s >= Duration::from_secs(3)) {
            return Ok(s);
        }
        if t.elapsed() > limit {
            let why: Vec<String> = ports
                .iter()
                .map(|&p| {
                    connect(p)
                        .and_then(|mut c| get(&mut c, "/readyz"))
                        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_else(|e| e)
                })
                .collect();
            return Err(format!("not covered within {limit:?}: held {held:?}; /readyz {why:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn takeover(days: i64, per_day: f64) -> Result<()> {
    const PARTITIONS: u32 = 6;
    let (_broker, brokers, dir) = tansu(PARTITIONS);
    let t = Instant::now();
    let now = now_ms();
    // Peak contacts per hour so that a day holds about `per_day` messages: the
    // simulator's day averages about 0.4 of its peak (measured: 7 days at 0.55 gave 1.03 M a day for 1.4 M asked).
    let mut cfg = ccpulse_sim::SimConfig::for_rate(7, per_day / 24.0 / ccpulse_sim::MESSAGES_PER_CONTACT / 0.405);
    cfg.start_ms = now - days * 86_400_000;
    let mut sim = ccpulse_sim::Simulator::new(cfg);
    let messages = sim.advance_to(now - 60_000);
    let gen = t.elapsed();
    let produced = produce_all(&brokers, &messages, Duration::from_secs(300))?;
    println!(
        "takeover: generated {} messages over {days} days ({:.0} a day) in {:.1} s, produced in {:.1} s",
        messages.len(),
        messages.len() as f64 / days as f64,
        gen.as_secs_f64(),
        produced.as_secs_f64()
    );
    drop(messages);
    // A short session timeout, as in the end-to-end test: a member that leaves cleanly
    // is gone at once anyway; one that dies is noticed after it.
    let cfg = dir.join("takeover.toml");
    // Parked engines are kept for 20 s (default 10 min): long enough for the survivors'
    // own partitions to come back from the rebalance and resume, while the copies of the
    // leaver's partitions that they parked as the group formed are gone by the time it
    // leaves. That is a takeover after a while in service: the leaver's partitions are
    // replayed.
    const GRACE: Duration = Duration::from_secs(20);
    std::fs::write(
        &cfg,
        format!(
            "[kafka]\npark_grace = \"{}s\"\nstandby = {}\n[kafka.properties]\n\"session.timeout.ms\" = \"{}\"\n{}{}",
            GRACE.as_secs(),
            std::env::var_os("CCPULSE_LOAD_NO_STANDBY").is_none(),
            std::env::var("CCPULSE_LOAD_SESSION_MS").unwrap_or_else(|_| "6000".into()),
            std::env::var("CCPULSE_LOAD_KAFKA_DEBUG")
                .map(|d| format!("debug = \"{d}\"\n"))
                .unwrap_or_default(),
            kafka_properties()
        ),
    )
    .map_err(|e| e.to_string())?;
    let group = format!("takeover-{}", now_ms());
    let extra = ["--config", cfg.to_str().unwrap_or_default()];
    let t = Instant::now();
    let mut members: Vec<(Proc, u16)> = (0..3)
        .map(|_| serve_in(&brokers, "wall", &group, &extra))
        .collect::<Result<_>>()?;
    let ports: Vec<u16> = members.iter().map(|m| m.1).collect();
    wait_covered(&ports, f64::from(PARTITIONS), Duration::from_secs(900))?;
    let replayed = t.elapsed();
    let held: Vec<f64> = ports.iter().filter_map(|&p| held_when_ready(p)).collect();
    let rss = |port: u16| metric(&scrape(port), "process_resident_memory_bytes") / 1e6;
    println!(
        "takeover: three instances replayed the history and cover every partition after {:.1} s (partitions held {held:?}; RSS {:.0}, {:.0}, {:.0} MB)",
        replayed.as_secs_f64(),
        rss(ports[0]),
        rss(ports[1]),
        rss(ports[2])
    );
    std::thread::sleep(GRACE + Duration::from_secs(5));
    // With standby replicas: until each instance keeps a caught-up replica of every
    // partition it does not hold.
    if std::env::var_os("CCPULSE_LOAD_NO_STANDBY").is_none() {
        let warm = |port: u16| {
            let m = scrape(port);
            metric(&m, "ccpulse_standby_partitions") + metric(&m, "ccpulse_partitions_assigned")
                == f64::from(PARTITIONS)
                && metric(&m, "ccpulse_standby_partitions_replaying") == 0.0
        };
        while !ports.iter().all(|&p| warm(p)) {
            if t.elapsed() > Duration::from_secs(1800) {
                return Err("standby replicas not caught up after 30 min".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        println!(
            "takeover: every instance keeps a caught-up replica of the partitions it does not hold after {:.1} s (RSS {:.0}, {:.0}, {:.0} MB)",
            t.elapsed().as_secs_f64(),
            rss(ports[0]),
            rss(ports[1]),
            rss(ports[2])
        );
    }
    let resumed = |ports: &[u16]| -> f64 {
        ports
            .iter()
            .map(|&p| metric(&scrape(p), "ccpulse_partitions_resumed_total"))
            .sum()
    };
    let resumed_before = resumed(&ports[..2]);
    let (leaving, port) = members.pop().ok_or("no member")?;
    let ingested = |ports: &[u16]| -> f64 {
        ports
            .iter()
            .map(|&p| metric(&scrape(p), "ccpulse_events_ingested_total"))
            .sum()
    };
    let before = ingested(&ports[..2]);
    let held_by_leaver = held_when_ready(port).unwrap_or(0.0);
    Command::new("kill")
        .args(["-TERM", &leaving.0.id().to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    let covered = wait_covered(&ports[..2], f64::from(PARTITIONS), Duration::from_secs(600))?;
    println!(
        "takeover: one instance (holding {held_by_leaver} partitions) stopped with SIGTERM; the other two cover every partition again after {:.1} s, reading {:.0} events again and resuming {:.0} parked partitions",
        covered.as_secs_f64(),
        ingested(&ports[..2]) - before,
        resumed(&ports[..2]) - resumed_before
    );
    drop(leaving);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map_or("all", String::as_str);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("ccpulse-load {what}; loadavg before: {}", load.trim());
    let result = match what {
        "ingest" => ingest(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(2_000_000)),
        "freshness" => freshness(20_000, 30),
        "takeover" => takeover(
            args.get(2).and_then(|n| n.parse().ok()).unwrap_or(7),
            args.get(3).and_then(|n| n.parse().ok()).unwrap_or(1_400_000.0),
        ),
        "api" => api(1000, 1000, 20, true).and_then(|()| api(1000, 1000, 20, false)),
        "all" => ingest(2_000_000)
            .and_then(|()| freshness(20_000, 30))
            .and_then(|()| api(1000, 1000, 20, true))
            .and_then(|()| api(1000, 1000, 20, false)),
        other => Err(format!(
            "unknown scenario {other:?}: ingest [N], freshness, api, all, takeover [DAYS] [MESSAGES_PER_DAY]"
        )),
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("loadavg after: {}", load.trim());
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
