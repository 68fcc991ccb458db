//! The router over a real snapshot, called with `oneshot` (no socket).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ccpulse_core::replay::{replay_text, Replay};
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::EngineConfig;
use ccpulse_core::Snapshot;
use ccpulse_http::intervals::{IntervalAsk, IntervalSource};
use ccpulse_http::wallboard::WallboardSettings;
use ccpulse_http::{app, AppState, Published};
use serde_json::Value;
use tower::ServiceExt;

const EVENTS: &str = include_str!("../../ccpulse-core/tests/golden/messy.jsonl");

fn snapshot(events: &str, as_of: &str) -> Snapshot {
    let cfg = Arc::new(EngineConfig::default());
    let wall = parse_rfc3339("2026-11-22T12:00:00Z").unwrap();
    replay_text(events, cfg, Some(parse_rfc3339(as_of).unwrap()), wall).0
}

fn publish(st: &AppState, snap: Snapshot, published_at: i64) {
    st.published
        .store(Some(Arc::new(Published::new(snap, None, (0, 0), published_at))));
}

fn now() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn state(events: &str, as_of: &str) -> (AppState, ()) {
    let state = AppState {
        published: Arc::new(ArcSwapOption::empty()),
        registry: prometheus::Registry::new(),
        windows: Arc::new(["5m", "15m", "1h", "today"].map(String::from).to_vec()),
        max_snapshot_age: 5_000,
        access: ccpulse_http::auth::Access::open(),
        wallboard: Arc::new(WallboardSettings::default()),
        intervals: Some(replayed_intervals(Arc::from(events))),
    };
    publish(&state, snapshot(events, as_of), now());
    (state, ())
}

/// Interval reports of `events` replayed up to the asked "now", as the service's
/// workers give them.
fn replayed_intervals(events: Arc<str>) -> IntervalSource {
    Arc::new(move |ask: IntervalAsk| {
        let wall = parse_rfc3339("2026-11-22T12:00:00Z").unwrap();
        let mut r = Replay::new(Arc::new(EngineConfig::default()), Some(ask.now), wall);
        for (i, line) in events.lines().enumerate() {
            r.line(i + 1, line);
        }
        let answer = r.intervals(ask.size, ask.date.as_deref());
        Box::pin(std::future::ready(answer))
    })
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
async fn readiness_follows_the_coverage_of_the_view() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    assert_eq!(get(&st, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get_json(&st, "/readyz").await.0, StatusCode::OK);
    let metrics = String::from_utf8(get(&st, "/metrics").await.1).unwrap();
    assert!(metrics.contains("\nccpulse_ready 1\n"), "{metrics}");
    assert!(metrics.contains("\nccpulse_coverage_covered_partitions 1\n"));

    // A view with a partition replaying and one stale: 503 naming both, the figures
    // still answered with the coverage that says so.
    let mut snap = snapshot(EVENTS, "2026-11-22T09:15:00Z");
    snap.coverage.partitions = 3;
    snap.coverage.stale = vec![2];
    snap.coverage.data_age_seconds = Some(31.0);
    snap.coverage.waiting_for = vec![
        "partition 1 replaying".into(),
        "partition 2: no data for 31 s, broker unreachable".into(),
    ];
    publish(&st, snap, now());
    let (s, v) = get_json(&st, "/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["waiting_for"][0], "partition 1 replaying");
    assert_eq!(v["waiting_for"][1], "partition 2: no data for 31 s, broker unreachable");
    for uri in [
        "/api/v1/queues",
        "/api/v1/queues/billing",
        "/api/v1/channels",
        "/api/v1/agents",
        "/api/v1/breaches",
    ] {
        let (s, v) = get_json(&st, uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert_eq!(
            v["coverage"],
            serde_json::json!({"partitions": 3, "covered": 1, "stale": [2], "data_age_seconds": 31.0}),
            "{uri}"
        );
    }
    let metrics = String::from_utf8(get(&st, "/metrics").await.1).unwrap();
    for line in [
        "ccpulse_ready 0",
        "ccpulse_coverage_partitions 3",
        "ccpulse_coverage_covered_partitions 1",
        "ccpulse_coverage_stale_partitions 1",
        "ccpulse_data_age_seconds 31",
    ] {
        assert!(metrics.contains(&format!("\n{line}\n")), "{line} in {metrics}");
    }

    // A whole view that the publisher stopped replacing is not ready either.
    publish(&st, snapshot(EVENTS, "2026-11-22T09:15:00Z"), now() - 6_000);
    let (s, v) = get_json(&st, "/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["waiting_for"][0], "the last snapshot is 6 s old");
}

#[tokio::test]
async fn long_lists_are_answered_a_page_at_a_time() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (_, all) = get_json(&st, "/api/v1/queues").await;
    assert_eq!((all["total"].as_u64(), all["offset"].as_u64()), (Some(4), Some(0)));
    assert!(all["next_offset"].is_null());
    let (_, first) = get_json(&st, "/api/v1/queues?limit=3").await;
    assert_eq!(first["groups"].as_array().unwrap().len(), 3);
    assert_eq!(first["next_offset"], 3);
    let (_, rest) = get_json(&st, "/api/v1/queues?offset=3&limit=3").await;
    assert_eq!(rest["groups"].as_array().unwrap().len(), 1);
    assert!(rest["next_offset"].is_null());
    assert_eq!(rest["groups"][0], all["groups"][3]);
    let (_, agents) = get_json(&st, "/api/v1/agents?window=today&limit=1").await;
    assert_eq!(agents["agents"].as_array().unwrap().len(), 1);
    assert!(agents["total"].as_u64().unwrap() >= 2);
    for uri in [
        "/api/v1/queues?limit=0",
        "/api/v1/queues?limit=10001",
        "/api/v1/agents?offset=-1",
    ] {
        let (s, v) = get_json(&st, uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            v["error"].as_str().unwrap().contains("must be a whole number"),
            "{uri}: {v}"
        );
    }
}

#[tokio::test]
async fn errors_axum_makes_are_in_the_error_shape_too() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let resp = app(st.clone())
        .oneshot(Request::post("/api/v1/queues").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "method not allowed");
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
    assert!(text.contains(r#"ccpulse_channel_contacts_offered{channel="all",window="15m"} 5"#));
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
    // Version 1.1: staffing (a1 serves billing and is available), survey timing, agents'
    // service level.
    assert!(
        text.contains(r#"ccpulse_agents_staffed{channel="voice",queue="billing"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"ccpulse_agents_required{channel="voice",queue="billing",window="15m"}"#));
    assert!(text.contains(r#"ccpulse_staffing_gap{channel="voice",queue="billing",window="15m"}"#));
    assert!(
        !text.contains(r#"ccpulse_agents_required{channel="email""#),
        "no Erlang C for email"
    );
    assert!(text.contains(
        r#"ccpulse_csat_timing_responses{channel="chat",queue="billing",timing="immediate",window="15m"} 1"#
    ));
    assert!(text.contains(r#"ccpulse_agent_sl_judged{agent="a1",team="red",window="15m"} 1"#));

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
        "/api/v1/queues/{queue}/contacts",
        "/api/v1/channels",
        "/api/v1/agents",
        "/api/v1/breaches",
        "/readyz",
    ] {
        assert!(v["paths"].get(path).is_some(), "{path}");
    }
    assert!(v["paths"].get("/api/v1/wallboard/settings").is_some());
}

/// A response's status, headers and body.
async fn get_full(state: &AppState, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let resp = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, body.to_vec())
}

#[tokio::test]
async fn the_wallboard_is_three_same_origin_files_with_no_inline_script_or_style() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (s, h, page) = get_full(&st, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains(r#"<script src="/wallboard.js" defer></script>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<link rel="stylesheet" href="/wallboard.css">"#),
        "{page}"
    );
    // Nothing inline that the policy would have to allow: no <style>, no script body,
    // no style or event-handler attribute.
    assert!(!page.contains("<style"), "{page}");
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(!page.contains(" style=") && !page.contains(" on"), "{page}");
    for (uri, content_type, needle) in [
        (
            "/wallboard.js",
            "text/javascript; charset=utf-8",
            "/api/v1/queues?window=",
        ),
        ("/wallboard.css", "text/css; charset=utf-8", "container-type"),
    ] {
        let (s, h, body) = get_full(&st, uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert_eq!(h["content-type"], content_type, "{uri}");
        assert_eq!(h["cache-control"], "no-cache", "{uri}");
        assert!(String::from_utf8(body).unwrap().contains(needle), "{uri}");
    }
    // The script builds no markup from data.
    let script = ccpulse_http::wallboard::SCRIPT;
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(sink), "wallboard.js uses {sink}");
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let uris = [
        "/",
        "/wallboard.js",
        "/wallboard.css",
        "/api/v1/queues",
        "/api/v1/wallboard/settings",
        "/api/v1/queues?window=2h",
        "/api/v1/nothing",
        "/metrics",
        "/healthz",
        "/readyz",
    ];
    for uri in uris {
        let (_, h, _) = get_full(&st, uri).await;
        for (name, value) in ccpulse_http::security::HEADERS {
            assert_eq!(h.get(name).map(|v| v.to_str().unwrap()), Some(value), "{name} on {uri}");
        }
    }
    // The page's policy: only the service's own script, style and API; no inline code.
    let (_, h, _) = get_full(&st, "/").await;
    let csp = h["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    // Errors axum makes itself (a 405) have them too.
    let resp = app(st.clone())
        .oneshot(Request::post("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn wallboard_settings_are_the_configured_thresholds() {
    let (mut st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (s, v) = get_json(&st, "/api/v1/wallboard/settings").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["amber_margin"], 0.05);
    assert_eq!(v["page_seconds"], 10);
    assert_eq!(v["tiles_per_page"], 12);
    assert_eq!(v["windows"], serde_json::json!(["5m", "15m", "1h", "today"]));
    assert_eq!(v["channels"]["voice"]["waiting_red"], 10);
    assert_eq!(v["channels"]["email"]["oldest_wait_red_seconds"], 3600.0);

    let mut custom = WallboardSettings {
        amber_margin: 0.1,
        page_seconds: 3,
        ..WallboardSettings::default()
    };
    custom.channels.chat.abandon_rate_red = 0.25;
    st.wallboard = Arc::new(custom);
    let (_, v) = get_json(&st, "/api/v1/wallboard/settings").await;
    assert_eq!(v["amber_margin"], 0.1);
    assert_eq!(v["page_seconds"], 3);
    assert_eq!(v["channels"]["chat"]["abandon_rate_red"], 0.25);
    assert_eq!(v["channels"]["chat"]["abandon_rate_amber"], 0.05);

    // Answered before the first snapshot too (the page needs it to draw anything).
    st.published.store(None);
    assert_eq!(get(&st, "/api/v1/wallboard/settings").await.0, StatusCode::OK);
    let (s, v) = get_json(&st, "/api/v1/wallboard/settings?x=1").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("unknown query parameter"));
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

/// The contacts behind a figure: as many as the figure counts, newest first, with their
/// ids, times and wait; bad parameters are 400s that say which, an unknown queue a 404.
#[tokio::test]
async fn the_contacts_behind_a_figure() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (_, queues) = get_json(&st, "/api/v1/queues?window=15m").await;
    let group = |queue: &str, channel: &str| {
        queues["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["queue"] == queue && g["channel"] == channel)
            .unwrap()
            .clone()
    };
    let (s, v) = get_json(
        &st,
        "/api/v1/queues/billing/contacts?window=15m&channel=voice&outcome=abandoned",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["window"].as_str(), v["outcome"].as_str(), v["limit"].as_u64()),
        (Some("15m"), Some("abandoned"), Some(100))
    );
    assert_eq!(v["coverage"]["covered"], 1);
    assert_eq!(v["from"], queues["from"]);
    let contacts = v["contacts"].as_array().unwrap();
    assert_eq!(
        contacts.len() as i64,
        group("billing", "voice")["abandoned"].as_i64().unwrap()
    );
    assert_eq!(
        contacts[0],
        serde_json::json!({
            "contact_id": "c2", "customer_id": null, "queue": "billing", "channel": "voice",
            "offered_at": "2026-11-22T09:01:00Z", "decided_at": "2026-11-22T09:01:03Z",
            "wait_seconds": 3.0, "agent_id": null, "outcome": "abandoned"
        })
    );
    // The email waiting in support is a repeat of customer k1 (same topic as c1).
    let (_, v) = get_json(&st, "/api/v1/queues/support/contacts?outcome=waiting").await;
    assert_eq!(v["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            v["contacts"][0]["contact_id"].as_str(),
            v["contacts"][0]["wait_seconds"].as_f64()
        ),
        (Some("c4"), Some(600.0))
    );
    assert!(v["contacts"][0]["decided_at"].is_null() && v["channel"].is_null());
    let (_, v) = get_json(&st, "/api/v1/queues/support/contacts?outcome=repeat&limit=1").await;
    assert_eq!(v["contacts"][0]["customer_id"], "k1");
    assert_eq!(group("support", "email")["repeat_contacts"], 1);
    // Nothing flowed out: an empty list, not an error.
    let (s, v) = get_json(&st, "/api/v1/queues/billing/contacts?outcome=flowed_out").await;
    assert_eq!((s, v["contacts"].as_array().unwrap().len()), (StatusCode::OK, 0));
    for (uri, status, msg) in [
        (
            "/api/v1/queues/billing/contacts",
            StatusCode::BAD_REQUEST,
            "outcome is required",
        ),
        (
            "/api/v1/queues/billing/contacts?outcome=lost",
            StatusCode::BAD_REQUEST,
            "unknown outcome \"lost\"",
        ),
        (
            "/api/v1/queues/billing/contacts?outcome=late&limit=0",
            StatusCode::BAD_REQUEST,
            "limit must be",
        ),
        (
            "/api/v1/queues/billing/contacts?outcome=late&limit=101",
            StatusCode::BAD_REQUEST,
            "limit must be",
        ),
        (
            "/api/v1/queues/billing/contacts?outcome=late&channel=fax",
            StatusCode::BAD_REQUEST,
            "unknown channel",
        ),
        (
            "/api/v1/queues/billing/contacts?outcome=late&window=2h",
            StatusCode::BAD_REQUEST,
            "unknown window",
        ),
        (
            "/api/v1/queues/billing/contacts?outcome=late&offset=5",
            StatusCode::BAD_REQUEST,
            "unknown query parameter \"offset\"",
        ),
        (
            "/api/v1/queues/nosuch/contacts?outcome=late",
            StatusCode::NOT_FOUND,
            "unknown queue \"nosuch\"",
        ),
    ] {
        let (s, v) = get_json(&st, uri).await;
        assert_eq!(s, status, "{uri}");
        assert!(v["error"].as_str().unwrap().contains(msg), "{uri}: {v}");
    }
}

/// Every endpoint against every role: 200, 401 without or with an unknown token, 403
/// with a role that does not cover it; errors in the error shape.
#[tokio::test]
async fn the_role_by_endpoint_matrix() {
    use ccpulse_http::auth::{hash_token, Access, Role, TokenEntry};
    let (mut st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let entries: Vec<TokenEntry> = [("tw", Role::Wallboard), ("ts", Role::Supervisor), ("tm", Role::Metrics)]
        .iter()
        .map(|(t, r)| TokenEntry {
            name: (*t).into(),
            role: *r,
            hash: hash_token(t),
        })
        .collect();
    st.access = Access::tokens(&entries).unwrap();
    let call = |uri: &'static str, token: Option<&'static str>| {
        let st = st.clone();
        async move {
            let mut req = Request::get(uri);
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let resp = app(st).oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let status = resp.status().as_u16();
            let www = resp.headers().get("www-authenticate").is_some();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            (status, www, body)
        }
    };
    // (endpoint, wallboard, supervisor, metrics)
    let matrix: [(&str, u16, u16, u16); 13] = [
        ("/api/v1/queues", 200, 200, 403),
        ("/api/v1/intervals?size=1h", 200, 200, 403),
        ("/api/v1/queues/billing", 200, 200, 403),
        // Customer ids: supervisors only.
        ("/api/v1/queues/billing/contacts?outcome=abandoned", 403, 200, 403),
        ("/api/v1/channels", 200, 200, 403),
        ("/api/v1/breaches", 200, 200, 403),
        ("/api/v1/agents/states", 200, 200, 403),
        ("/api/v1/agents", 403, 200, 403),
        ("/metrics", 403, 403, 200),
        ("/healthz", 200, 200, 200),
        ("/readyz", 200, 200, 200),
        ("/api/v1/openapi.json", 200, 200, 200),
        ("/", 200, 200, 200),
    ];
    for (uri, w, s, m) in matrix {
        for (token, expected) in [("tw", w), ("ts", s), ("tm", m)] {
            let (status, _, body) = call(uri, Some(token)).await;
            assert_eq!(status, expected, "{uri} with the {token} token");
            if status == 403 {
                let v: Value = serde_json::from_slice(&body).unwrap();
                assert!(v["error"].as_str().unwrap().contains("cannot read"), "{uri}: {v}");
            }
        }
        let open = matches!(uri, "/healthz" | "/readyz" | "/api/v1/openapi.json" | "/");
        for token in [None, Some("wrong")] {
            let (status, www, body) = call(uri, token).await;
            if open {
                assert_eq!(status, 200, "{uri} is open");
            } else {
                assert_eq!(status, 401, "{uri} with {token:?}");
                assert!(www, "{uri}: a 401 says how to authenticate");
                let v: Value = serde_json::from_slice(&body).unwrap();
                assert!(v["error"].is_string(), "{uri}: {v}");
            }
        }
    }
}

async fn get_with(state: &AppState, uri: &str, accept: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let resp = app(state.clone())
        .oneshot(Request::get(uri).header("accept", accept).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, headers, body.to_vec())
}

#[tokio::test]
async fn interval_reports_as_json_and_csv() {
    let (st, _) = state(EVENTS, "2026-11-22T09:15:00Z");
    let (status, v) = get_json(&st, "/api/v1/intervals?size=15m").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["size"].as_str(), v["date"].as_str(), v["time_zone"].as_str()),
        (Some("15m"), Some("2026-11-22"), Some("UTC"))
    );
    assert_eq!(v["coverage"]["covered"], 1);
    let intervals = v["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 37);
    // The last interval, 09:00–09:15, is the 15m window of the queues answer.
    let (_, window) = get_json(&st, "/api/v1/queues?window=15m").await;
    let billing = |groups: &Value| {
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["queue"] == "billing" && g["channel"] == "voice")
            .cloned()
            .unwrap()
    };
    let mut from_window = billing(&window["groups"]);
    for f in [
        "waiting",
        "oldest_wait_seconds",
        "at_risk",
        "open",
        "agents_staffed",
        "staffing_gap",
    ] {
        from_window.as_object_mut().unwrap().remove(f);
    }
    assert_eq!(billing(&intervals[36]["groups"]), from_window);

    // channel: that channel's queue groups and its total only.
    let (_, v) = get_json(&st, "/api/v1/intervals?size=1h&channel=chat").await;
    let groups = v["intervals"][9]["groups"].as_array().unwrap();
    assert!(!groups.is_empty());
    assert!(groups.iter().all(|g| g["channel"] == "chat"), "{groups:?}");
    assert!(groups.iter().any(|g| g["queue"].is_null()), "the chat total");

    // CSV by parameter or by Accept.
    for (uri, accept) in [
        ("/api/v1/intervals?size=30m&format=csv", "*/*"),
        ("/api/v1/intervals?size=30m", "text/csv"),
    ] {
        let (status, headers, body) = get_with(&st, uri, accept).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert!(headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("ccpulse-intervals-2026-11-22-30m.csv"));
        let text = String::from_utf8(body).unwrap();
        let mut lines = text.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("interval_from,interval_to,queue,channel,offered,"));
        let row = lines
            .find(|l| l.starts_with("2026-11-22T09:00:00+00:00,2026-11-22T09:15:00+00:00,billing,voice,"))
            .unwrap();
        assert!(row.contains(",2,"), "{row}");
    }

    for (uri, status, says) in [
        ("/api/v1/intervals", StatusCode::BAD_REQUEST, "size is required"),
        ("/api/v1/intervals?size=20m", StatusCode::BAD_REQUEST, "15m, 30m, 1h"),
        (
            "/api/v1/intervals?size=1h&format=xml",
            StatusCode::BAD_REQUEST,
            "json or csv",
        ),
        (
            "/api/v1/intervals?size=1h&date=22-11-2026",
            StatusCode::BAD_REQUEST,
            "YYYY-MM-DD",
        ),
        (
            "/api/v1/intervals?size=1h&date=2026-11-23",
            StatusCode::NOT_FOUND,
            "after today",
        ),
        (
            "/api/v1/intervals?size=1h&date=2026-11-01",
            StatusCode::NOT_FOUND,
            "older than the days kept",
        ),
        (
            "/api/v1/intervals?size=1h&channel=fax",
            StatusCode::BAD_REQUEST,
            "unknown channel",
        ),
        (
            "/api/v1/intervals?size=1h&window=15m",
            StatusCode::BAD_REQUEST,
            "unknown query parameter",
        ),
    ] {
        let (got, v) = get_json(&st, uri).await;
        assert_eq!(got, status, "{uri}: {v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{uri}: {v}");
    }
}
