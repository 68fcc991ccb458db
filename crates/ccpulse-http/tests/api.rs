//! The router over a real snapshot, called with `oneshot` (no socket).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ccpulse_core::replay::replay_text;
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::EngineConfig;
use ccpulse_http::{app, AppState, Health, Published, Readiness};
use serde_json::Value;
use tower::ServiceExt;

const EVENTS: &str = include_str!("../../ccpulse-core/tests/golden/messy.jsonl");

struct FakeHealth(Mutex<Readiness>);

impl Health for FakeHealth {
    fn readiness(&self) -> Readiness {
        self.0.lock().unwrap().clone()
    }
}

fn state(events: &str, as_of: &str) -> (AppState, Arc<FakeHealth>) {
    let cfg = Arc::new(EngineConfig::default());
    let wall = parse_rfc3339("2026-11-22T12:00:00Z").unwrap();
    let (snap, _) = replay_text(events, cfg, Some(parse_rfc3339(as_of).unwrap()), wall);
    let health = Arc::new(FakeHealth(Mutex::new(Readiness {
        ready: true,
        waiting_for: vec![],
    })));
    let state = AppState {
        published: Arc::new(ArcSwapOption::from_pointee(Published::new(
            snap,
            None,
            (0, 0),
            wall,
            true,
        ))),
        registry: prometheus::Registry::new(),
        health: health.clone(),
        windows: Arc::new(["5m", "15m", "1h", "today"].map(String::from).to_vec()),
    };
    (state, health)
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, Vec<u8>) {
    let resp = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, body.to_vec())
}

async fn get_json(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let (s, b) = get(state, uri).await;
    (
        s,
        serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{uri}: {e}: {}", String::from_utf8_lossy(&b))),
    )
}

#[tokio::test]
async fn queues_channels_and_filters() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (s, v) = get_json(&st, "/api/v1/queues").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["window"], "15m", "15m is the default window");
    assert_eq!(v["groups"].as_array().unwrap().len(), 4);
    let (_, v) = get_json(&st, "/api/v1/queues?window=15m&channel=chat").await;
    assert_eq!(v["groups"].as_array().unwrap().len(), 2);
    assert!(v["groups"].as_array().unwrap().iter().all(|g| g["channel"] == "chat"));
    let (_, v) = get_json(&st, "/api/v1/queues/billing?window=15m").await;
    assert_eq!(v["groups"].as_array().unwrap().len(), 2);
    let (_, v) = get_json(&st, "/api/v1/channels?window=5m").await;
    let names: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["channel"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["voice", "chat", "email", "all"]);
    assert!(v["groups"].as_array().unwrap().iter().all(|g| g["queue"].is_null()));
    let (_, v) = get_json(&st, "/api/v1/agents?window=today").await;
    assert!(v["agents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["agent"] == "a1" && a["team"] == "red"));
    let (_, v) = get_json(&st, "/api/v1/agents?team=red&outliers=true").await;
    assert_eq!(v["agents"].as_array().unwrap().len(), 0);
    let (_, v) = get_json(&st, "/api/v1/agents/states").await;
    assert_eq!(v["teams"][0]["name"], "red");
    let (s, v) = get_json(&st, "/api/v1/breaches").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["breaches"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bad_requests_say_what_is_wrong() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let cases = [
        (
            "/api/v1/queues?window=2h",
            StatusCode::BAD_REQUEST,
            "unknown window \"2h\"",
        ),
        (
            "/api/v1/queues?channel=fax",
            StatusCode::BAD_REQUEST,
            "unknown channel \"fax\"",
        ),
        (
            "/api/v1/queues?windw=5m",
            StatusCode::BAD_REQUEST,
            "unknown query parameter \"windw\"",
        ),
        (
            "/api/v1/queues/nosuch",
            StatusCode::NOT_FOUND,
            "unknown queue \"nosuch\"",
        ),
        (
            "/api/v1/agents?team=blue",
            StatusCode::NOT_FOUND,
            "unknown team \"blue\"",
        ),
        (
            "/api/v1/agents?outliers=maybe",
            StatusCode::BAD_REQUEST,
            "outliers must be true or false",
        ),
        ("/api/v1/nothing", StatusCode::NOT_FOUND, "no such endpoint"),
    ];
    for (uri, status, msg) in cases {
        let (s, v) = get_json(&st, uri).await;
        assert_eq!(s, status, "{uri}");
        assert!(v["error"].as_str().unwrap().contains(msg), "{uri}: {v}");
    }
}

#[tokio::test]
async fn no_snapshot_yet_is_503_and_not_ready() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    st.published.store(None);
    let (s, v) = get_json(&st, "/api/v1/queues").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(v["error"].as_str().unwrap().contains("no snapshot"));
    let (s, v) = get_json(&st, "/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["waiting_for"][0], "the first snapshot");
}

#[tokio::test]
async fn readiness_follows_the_ingest_side() {
    let (st, health) = state(EVENTS, "2026-11-22T09:15:00Z");
    assert_eq!(get(&st, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get_json(&st, "/readyz").await.0, StatusCode::OK);
    *health.0.lock().unwrap() = Readiness {
        ready: false,
        waiting_for: vec!["partition 3 replaying".into()],
    };
    let (s, v) = get_json(&st, "/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["waiting_for"][0], "partition 3 replaying");
}

#[tokio::test]
async fn metrics_follow_the_snapshot_and_pass_promtool() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (s, body) = get(&st, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains(r#"ccpulse_service_level_ratio{channel="voice",queue="billing",window="15m"} 0.5"#),
        "{text}"
    );
    assert!(text.contains(r#"ccpulse_contacts_waiting{channel="email",queue="support"} 1"#));
    assert!(text.contains(r#"ccpulse_oldest_wait_seconds{channel="email",queue="support"} 600"#));
    assert!(text.contains(r#"ccpulse_contacts_offered{channel="all",window="15m"} 5"#));
    assert!(
        text.contains(r#"ccpulse_wait_seconds{channel="voice",queue="billing",window="15m",quantile="0.5"} 20.015"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ccpulse_sla_breached{channel="voice",policy="voice-default",queue="billing",window="15m"} 0"#)
    );
    assert!(
        !text.contains("ccpulse_nps_score{channel=\"chat\""),
        "a null figure has no sample"
    );

    // A later snapshot in which tech/chat has no traffic: its series are gone.
    let later = state(EVENTS, "2026-11-23T10:00:00Z").0;
    st.published.store(later.published.load_full());
    let text = String::from_utf8(get(&st, "/metrics").await.1).unwrap();
    assert!(
        !text.contains(r#"queue="tech""#),
        "series of a group that went away must be removed"
    );

    // promtool's linter on the exposition of the first snapshot.
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let text = get(&st, "/metrics").await.1;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by tests/run (apt-get install -y prometheus)");
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn openapi_and_wallboard() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (s, v) = get_json(&st, "/api/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/api/v1/queues",
        "/api/v1/queues/{queue}",
        "/api/v1/channels",
        "/api/v1/agents",
        "/api/v1/breaches",
        "/readyz",
    ] {
        assert!(v["paths"].get(path).is_some(), "{path}");
    }
    let (s, page) = get(&st, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(String::from_utf8(page).unwrap().contains("/api/v1/queues?window="));
}

#[tokio::test]
async fn gzip_when_the_client_accepts_it() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (_, plain) = get(&st, "/api/v1/queues?window=15m").await;
    let req = Request::get("/api/v1/queues?window=15m")
        .header("accept-encoding", "br, gzip")
        .body(Body::empty())
        .unwrap();
    let resp = app(st.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let zipped = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut unzipped).unwrap();
    assert_eq!(unzipped, plain);
}
