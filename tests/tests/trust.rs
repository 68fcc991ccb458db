//! Trust under real conditions, end to end: the real `ccpulse serve` against Tansu, with
//! a TCP proxy in front of the broker to take it away. A broker outage keeps the last
//! figures, marked stale, and resumes without replaying; a restart in the same group is
//! never ready with an empty view; hostile events cannot hurt the service and reach the
//! dead-letter topic once; slow and idle clients cannot hold the HTTP side.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccpulse_sim::Message;
use ccpulse_tests::free_port;
use ccpulse_tests::kafka::{committed, header, produce, read_topic};
use ccpulse_tests::proxy::Proxy;
use ccpulse_tests::tansu::{http_get, scratch_dir, sum_of, value_of, Broker, Service, DLQ_TOPIC, EVENT_TOPICS};
use serde_json::Value;

const PARTITIONS: u32 = 4;
const READY: Duration = Duration::from_secs(60);
const MINUTE: i64 = 60_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `n` simulated valid messages ending a minute ago.
fn traffic(seed: u64, n: usize) -> Vec<Message> {
    ccpulse_sim::bulk_ending_before(seed, n, now_ms() - MINUTE, 0).unwrap()
}

fn config(dir: &Path, text: &str) -> String {
    let path = dir.join(format!("config-{}.toml", free_port()));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn json(service: &Service, path: &str) -> Value {
    serde_json::from_str(&service.get(path)).unwrap()
}

/// An answer, its coverage taken out.
fn without_coverage(mut v: Value) -> (Value, Value) {
    let c = v.as_object_mut().unwrap().remove("coverage").unwrap();
    (v, c)
}

fn whole(coverage: &Value) -> bool {
    coverage["covered"] == coverage["partitions"] && coverage["stale"] == serde_json::json!([])
}

/// The broker goes away for 30 s. No answer ever shows a whole view that is not the
/// view before; the figures stay (their partitions marked stale); /readyz is 503 and
/// says why. When the broker is back the partitions resume where they stopped: the
/// figures equal those before, and nothing was read twice.
#[test]
fn a_broker_outage_keeps_the_last_figures_marked_stale_and_resumes_without_replay() {
    let dir = scratch_dir("outage");
    let port = free_port();
    let broker = Broker::start_behind(&dir, port);
    let proxy = Proxy::start_on(port, &broker.bootstrap());
    broker.create_contract_topics(PARTITIONS);
    let messages = traffic(41, 4_000);
    produce(&broker.bootstrap(), &messages);
    let cfg = config(
        &dir,
        "[publisher]\nstale_after = \"3s\"\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n",
    );
    let mut service = Service::start(&dir, &proxy.addr(), "outage", "event", &["--config", &cfg]);
    service.wait_ready(READY);
    let (before, coverage) = without_coverage(json(&service, "/api/v1/queues?window=1h"));
    assert!(whole(&coverage) && !before["groups"].as_array().unwrap().is_empty());
    let ingested = sum_of(&service.metrics(), "ccpulse_events_ingested_total");
    assert_eq!(ingested as usize, messages.len());

    proxy.cut();
    let cut_at = Instant::now();
    let mut reasons = Vec::new();
    let mut stale_seen = false;
    while cut_at.elapsed() < Duration::from_secs(30) {
        let (answer, coverage) = without_coverage(json(&service, "/api/v1/queues?window=1h"));
        assert_eq!(
            answer,
            before,
            "the figures must stay as they were (coverage {coverage}); log:\n{}",
            service.log_tail()
        );
        if !whole(&coverage) {
            stale_seen = true;
        }
        let (code, body) = http_get(&service.http_addr(), "/readyz").unwrap();
        if code == 503 {
            reasons.push(body);
        } else {
            assert!(
                whole(&coverage) && cut_at.elapsed() < Duration::from_secs(6),
                "ready {}s into the outage with coverage {coverage}",
                cut_at.elapsed().as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(stale_seen, "the outage was never shown as stale");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("broker unreachable") || r.contains("held by no instance")),
        "/readyz never said why: {reasons:?}"
    );
    let m = service.metrics();
    assert_eq!(value_of(&m, "ccpulse_ready"), Some(0.0));
    assert!(value_of(&m, "ccpulse_coverage_stale_partitions").unwrap_or(0.0) > 0.0);

    proxy.restore();
    service.wait_ready(READY);
    let (after, coverage) = without_coverage(json(&service, "/api/v1/queues?window=1h"));
    assert!(whole(&coverage), "{coverage}");
    assert_eq!(after, before, "the figures after the outage are those before it");
    let m = service.metrics();
    assert_eq!(
        sum_of(&m, "ccpulse_events_ingested_total"),
        ingested,
        "nothing was read again: the partitions resumed; log:\n{}",
        service.log_tail()
    );
    assert_eq!(
        value_of(&m, "ccpulse_partitions_resumed_total"),
        Some(f64::from(PARTITIONS))
    );
}

/// A service killed and restarted in the same group never answers ready with an empty
/// view: until it holds (or another instance reports) every partition, its answers say
/// what they cover and /readyz is 503.
#[test]
fn a_restart_in_the_same_group_is_never_ready_with_an_empty_view() {
    let dir = scratch_dir("same-group");
    let broker = Broker::start(&dir);
    broker.create_contract_topics(PARTITIONS);
    produce(&broker.bootstrap(), &traffic(43, 3_000));
    let cfg = config(&dir, "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n");
    let mut first = Service::start(&dir, &broker.bootstrap(), "same-group", "wall", &["--config", &cfg]);
    first.wait_ready(READY);
    // Counts only: live figures (oldest wait) move with the wall clock.
    let counts = |answer: &Value| -> Vec<(Value, Value, i64, i64, i64)> {
        answer["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let n = |f: &str| g[f].as_i64().unwrap();
                (
                    g["queue"].clone(),
                    g["channel"].clone(),
                    n("offered"),
                    n("answered"),
                    n("abandoned"),
                )
            })
            .collect()
    };
    let (before, _) = without_coverage(json(&first, "/api/v1/queues?window=today"));
    let before = counts(&before);
    first.kill();

    let mut second = Service::start(&dir, &broker.bootstrap(), "same-group", "wall", &["--config", &cfg]);
    let started = Instant::now();
    let mut ready_since = None;
    while started.elapsed() < READY {
        let Ok((code, body)) = http_get(&second.http_addr(), "/api/v1/queues?window=today") else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        if code == 200 {
            let (answer, coverage) = without_coverage(serde_json::from_str(&body).unwrap());
            let empty = answer["groups"].as_array().unwrap().is_empty();
            assert!(
                !(empty && whole(&coverage)),
                "an empty contact centre shown as whole: {coverage}"
            );
            let ready = second.status("/readyz") == 200;
            if ready {
                assert!(whole(&coverage) && !empty, "ready with {coverage}");
                assert_eq!(counts(&answer), before);
                ready_since.get_or_insert(started.elapsed());
            }
        }
        if ready_since.is_some_and(|t| started.elapsed() > t + Duration::from_secs(3)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        ready_since.is_some(),
        "not ready within {READY:?}; log:\n{}",
        second.log_tail()
    );
    second.wait_ready(READY);
}

/// Events that once hurt the service: ancient timestamps, a 100 KiB queue name, an
/// agent listing 20 000 queues, a 600 KB message, markup in names. The service stays
/// up and serves; every invalid event reaches the dead-letter topic once, cut to size
/// where it was too large, and a restart does not write it again.
#[test]
fn hostile_events_cannot_hurt_the_service_and_reach_the_dlq_once() {
    let dir = scratch_dir("hostile");
    let broker = Broker::start(&dir);
    broker.create_contract_topics(PARTITIONS);
    let now = now_ms();
    let msg = |topic: &'static str, key: &str, payload: String, invalid: bool| Message {
        topic,
        key: key.to_owned(),
        payload: payload.into_bytes(),
        ts: now,
        invalid,
    };
    let recent = |m: i64| jiff::Timestamp::from_millisecond(now - m * MINUTE).unwrap().to_string();
    let many_queues: Vec<String> = (0..20_000).map(|i| format!("\"q{i}\"")).collect();
    let hostile = [
        msg(
            "cc.voice",
            "far1",
            r#"{"id":"far-1","type":"contact.offered","ts":"0001-01-01T00:00:00Z","contact_id":"far1","channel":"voice","queue":"farq"}"#.into(),
            false,
        ),
        msg(
            "cc.voice",
            "far2",
            format!(r#"{{"id":"far-2","type":"contact.offered","ts":"{}","contact_id":"far2","channel":"voice","queue":"farq"}}"#, recent(3)),
            false,
        ),
        msg(
            "cc.voice",
            "long",
            format!(
                r#"{{"id":"long-1","type":"contact.offered","ts":"{}","contact_id":"c-long","channel":"voice","queue":"{}"}}"#,
                recent(3),
                "x".repeat(100 * 1024)
            ),
            true,
        ),
        msg(
            "cc.agents",
            "a-many",
            format!(
                r#"{{"id":"many-1","type":"agent.state","ts":"{}","agent_id":"a-many","state":"available","queues":[{}]}}"#,
                recent(3),
                many_queues.join(",")
            ),
            true,
        ),
        msg(
            "cc.chat",
            "big",
            format!(
                r#"{{"id":"big-1","type":"contact.teleported","ts":"{}","pad":"{}"}}"#,
                recent(3),
                "y".repeat(600 * 1024)
            ),
            true,
        ),
        msg(
            "cc.voice",
            "markup",
            format!(
                r#"{{"id":"xss-1","type":"contact.offered","ts":"{}","contact_id":"c-xss","channel":"voice","queue":"<img src=x onerror=\"alert(1)\">"}}"#,
                recent(2)
            ),
            false,
        ),
    ];
    let invalid = hostile.iter().filter(|m| m.invalid).count();
    let mut messages = traffic(47, 1_000);
    messages.extend(hostile);
    let ends = produce(&broker.bootstrap(), &messages);

    // Static membership: the restarted instance takes the killed one's place at once.
    let cfg = config(&dir, "[kafka]\ninstance_id = \"hostile-1\"\n");
    let mut service = Service::start(&dir, &broker.bootstrap(), "hostile", "wall", &["--config", &cfg]);
    service.wait_ready(READY);
    let m = service.metrics();
    assert_eq!(sum_of(&m, "ccpulse_events_ingested_total") as usize, messages.len());
    assert_eq!(sum_of(&m, "ccpulse_events_rejected_total") as usize, invalid);
    for reason in ["too_long", "too_many_queues", "unknown_type"] {
        assert_eq!(
            m.iter()
                .find(|s| s.name == "ccpulse_events_rejected_total" && s.label("reason") == reason)
                .map(|s| s.value),
            Some(1.0),
            "{reason}"
        );
    }
    let queues = json(&service, "/api/v1/queues?window=today");
    let farq: Vec<&Value> = queues["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["queue"] == "farq")
        .collect();
    assert_eq!(farq.len(), 1);
    assert_eq!(farq[0]["offered"], 1, "the year-1 offer is older than any window");
    assert!(queues["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["queue"] == "<img src=x onerror=\"alert(1)\">"));
    let metrics = service.get("/metrics");
    assert!(metrics.len() < 2 << 20, "/metrics is {} bytes", metrics.len());
    assert!(!metrics.contains("q19999"), "no series per listed queue");

    let letters = read_topic(&broker.bootstrap(), DLQ_TOPIC, PARTITIONS, invalid);
    assert_eq!(letters.len(), invalid);
    let big = letters
        .iter()
        .find(|l| header(l, "ccpulse-reason").as_deref() == Some("unknown_type"))
        .unwrap();
    assert_eq!(
        rdkafka::Message::payload(big).unwrap().len(),
        256 * 1024,
        "cut to the DLQ's limit"
    );
    assert!(header(big, "ccpulse-truncated").unwrap().starts_with("payload="));
    let long = letters
        .iter()
        .find(|l| header(l, "ccpulse-reason").as_deref() == Some("too_long"))
        .unwrap();
    assert!(header(long, "ccpulse-error").unwrap().len() <= 1024);

    // Once every dead letter is committed, a restart replays the partitions but does not
    // write them again.
    let deadline = Instant::now() + Duration::from_secs(30);
    for topic in EVENT_TOPICS {
        let end: Vec<i64> = (0..PARTITIONS as i32)
            .map(|p| ends.get(&(topic.to_owned(), p)).copied().unwrap_or(-1))
            .collect();
        loop {
            let got = committed(&broker.bootstrap(), "hostile", topic, PARTITIONS);
            if got == end {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{topic}: offsets committed {got:?}, produced up to {end:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    service.kill();
    let mut again = Service::start(&dir, &broker.bootstrap(), "hostile", "wall", &["--config", &cfg]);
    again.wait_holding(PARTITIONS, READY);
    let m = again.metrics();
    assert_eq!(sum_of(&m, "ccpulse_events_ingested_total") as usize, messages.len());
    assert_eq!(sum_of(&m, "ccpulse_events_rejected_total"), 0.0);
    assert_eq!(value_of(&m, "ccpulse_dlq_skipped_total"), Some(invalid as f64));
    assert_eq!(
        read_topic(&broker.bootstrap(), DLQ_TOPIC, PARTITIONS, invalid).len(),
        invalid,
        "each invalid event is in the DLQ once"
    );
}

/// A client that connects and sends nothing, one that sends half its headers, and more
/// connections than the cap: none can hold the service, /readyz stays reachable, and
/// SIGTERM does not wait for them.
#[test]
fn slow_and_idle_clients_cannot_hold_the_service() {
    let dir = scratch_dir("http-limits");
    let broker = Broker::start(&dir);
    broker.create_contract_topics(PARTITIONS);
    let cfg = config(
        &dir,
        "[http]\nheader_timeout = \"1s\"\nmax_connections = 4\nshutdown_timeout = \"2s\"\n",
    );
    let mut service = Service::start(&dir, &broker.bootstrap(), "http-limits", "wall", &["--config", &cfg]);
    service.wait_ready(READY);
    let addr = service.http_addr();
    // How long until the service closes `s` (a header timeout of 1 s is configured).
    let closed_after = |mut s: TcpStream, what: &str| -> Duration {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return started.elapsed(),
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    panic!("{what}: still open after 5 s")
                }
                Err(_) => return started.elapsed(),
            }
        }
    };
    let idle = TcpStream::connect(&addr).unwrap();
    let took = closed_after(idle, "a connection that sends nothing");
    assert!(took < Duration::from_secs(3), "idle connection held {took:?}");
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /api/v1/queues HTTP/1.1\r\nHost: x\r\n").unwrap();
    let took = closed_after(half, "half-sent headers");
    assert!(took < Duration::from_secs(3), "half-sent headers held {took:?}");
    let mut kept = TcpStream::connect(&addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    assert!(kept.read(&mut buf).unwrap() > 0, "an answer to the first request");
    let took = closed_after(kept, "an idle keep-alive connection");
    assert!(
        took < Duration::from_secs(3),
        "an idle keep-alive connection held {took:?}"
    );

    // Past the cap: a 503 in the error shape, at once.
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let (code, body) = http_get(&addr, "/readyz").unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("too many connections"), "{body}");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while service.status("/readyz") != 200 {
        assert!(
            Instant::now() < deadline,
            "not reachable again after the slow clients left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGTERM with a client mid-request: out within the shutdown timeout. (The
    // connections just dropped may take a moment to be let go: a new one refused in
    // that moment is tried again.)
    let mut slow = None;
    for _ in 0..50 {
        let mut s = TcpStream::connect(&addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        if s.write_all(b"GET /api/v1/queues HTTP/1.1\r\n").is_ok() {
            s.set_nonblocking(true).unwrap();
            let mut probe = [0u8; 1];
            let refused = s.peek(&mut probe).is_ok();
            if !refused {
                slow = Some(s);
                break;
            }
        }
    }
    let _slow = slow.expect("a connection below the cap");
    let started = Instant::now();
    let status = service
        .terminate(Duration::from_secs(15))
        .expect("no exit after SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "SIGTERM took {:?}",
        started.elapsed()
    );
}
