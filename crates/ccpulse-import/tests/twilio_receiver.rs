//! The TaskRouter receiver through its router (no socket): signatures accepted and
//! refused, retries delivered once, a failing sink answered 503 and the retry delivered.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ccpulse_core::event::Channel;
use ccpulse_import::twilio::receiver::{router, Counters, ReceiverConfig, Sink};
use ccpulse_import::twilio::signature;
use ccpulse_import::{Event, Kind};
use tower::ServiceExt;

const URL: &str = "https://cc.example.com/twilio/taskrouter";
const TOKEN: &str = "test-auth-token";

#[derive(Default)]
struct Memory {
    events: Mutex<Vec<Event>>,
    fail: AtomicBool,
}

impl Sink for Memory {
    fn deliver(&self, events: &[Event]) -> Result<(), String> {
        if self.fail.load(Ordering::SeqCst) {
            return Err("broker down".into());
        }
        self.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

fn app(sink: Arc<Memory>) -> (axum::Router, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let cfg = ReceiverConfig {
        url: URL.into(),
        auth_token: TOKEN.into(),
        deliver_timeout: Duration::from_secs(5),
        default_channel: Channel::Voice,
    };
    (router(cfg, sink, counters.clone()), counters)
}

fn params(kind: &str, sid: &str) -> Vec<(String, String)> {
    [
        ("EventType", kind),
        ("Sid", sid),
        ("Timestamp", "1795338000"),
        ("TaskSid", "WT1"),
        ("TaskQueueName", "Support"),
        ("TaskChannelUniqueName", "voice"),
        ("WorkerName", "alice"),
        ("AccountSid", "AC1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn request(params: &[(String, String)], sig: Option<&str>) -> Request<Body> {
    let body = serde_urlencoded::to_string(params).unwrap();
    let mut r = Request::post("/twilio/taskrouter").header("content-type", "application/x-www-form-urlencoded");
    if let Some(s) = sig {
        r = r.header("x-twilio-signature", s);
    }
    r.body(Body::from(body)).unwrap()
}

async fn post(app: &axum::Router, params: &[(String, String)], sig: Option<&str>) -> StatusCode {
    app.clone().oneshot(request(params, sig)).await.unwrap().status()
}

#[tokio::test]
async fn a_signed_callback_is_delivered_and_answered_204() {
    let sink = Arc::new(Memory::default());
    let (app, counters) = app(sink.clone());
    let p = params("task-queue.entered", "EV1");
    let resp = app
        .clone()
        .oneshot(request(&p, Some(&signature(TOKEN, URL, &p))))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let got = sink.events.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind, Kind::Offered);
    assert_eq!(counters.delivered.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn unsigned_and_wrongly_signed_callbacks_are_refused_and_not_delivered() {
    let sink = Arc::new(Memory::default());
    let (app, counters) = app(sink.clone());
    let p = params("task-queue.entered", "EV1");
    assert_eq!(post(&app, &p, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(&app, &p, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&app, &p, Some(&signature("another-token", URL, &p))).await,
        StatusCode::FORBIDDEN
    );
    let elsewhere = signature(TOKEN, "https://cc.example.com/other", &p);
    assert_eq!(post(&app, &p, Some(&elsewhere)).await, StatusCode::FORBIDDEN);
    // Signed, then changed on the way.
    let sig = signature(TOKEN, URL, &p);
    let mut tampered = p.clone();
    tampered[3].1 = "WT2".into();
    assert_eq!(post(&app, &tampered, Some(&sig)).await, StatusCode::FORBIDDEN);
    assert!(sink.events.lock().unwrap().is_empty());
    assert_eq!(counters.refused.load(Ordering::Relaxed), 5);
}

#[tokio::test]
async fn retries_are_delivered_once() {
    let sink = Arc::new(Memory::default());
    let (app, counters) = app(sink.clone());
    let p = params("reservation.accepted", "EV2");
    let sig = signature(TOKEN, URL, &p);
    for _ in 0..3 {
        assert_eq!(post(&app, &p, Some(&sig)).await, StatusCode::NO_CONTENT);
    }
    assert_eq!(sink.events.lock().unwrap().len(), 1);
    assert_eq!(counters.duplicates.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_failed_delivery_is_a_503_and_the_retry_delivers_the_same_events() {
    let sink = Arc::new(Memory::default());
    let (app, counters) = app(sink.clone());
    let p = params("task-queue.entered", "EV3");
    let sig = signature(TOKEN, URL, &p);
    sink.fail.store(true, Ordering::SeqCst);
    assert_eq!(post(&app, &p, Some(&sig)).await, StatusCode::SERVICE_UNAVAILABLE);
    sink.fail.store(false, Ordering::SeqCst);
    assert_eq!(post(&app, &p, Some(&sig)).await, StatusCode::NO_CONTENT);
    let got = sink.events.lock().unwrap().clone();
    // The task's first entry is still its offer on the retry (not "already in that queue").
    assert_eq!(got.iter().map(|e| e.kind).collect::<Vec<_>>(), [Kind::Offered]);
    assert_eq!(counters.failed.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn skipped_and_untranslatable_callbacks_are_answered_204_without_events() {
    let sink = Arc::new(Memory::default());
    let (app, counters) = app(sink.clone());
    let p = params("reservation.created", "EV4");
    assert_eq!(
        post(&app, &p, Some(&signature(TOKEN, URL, &p))).await,
        StatusCode::NO_CONTENT
    );
    let bad: Vec<(String, String)> = vec![("EventType".into(), "task.wrapup".into()), ("Sid".into(), "EV5".into())];
    assert_eq!(
        post(&app, &bad, Some(&signature(TOKEN, URL, &bad))).await,
        StatusCode::NO_CONTENT
    );
    assert!(sink.events.lock().unwrap().is_empty());
    assert_eq!(counters.skipped.load(Ordering::Relaxed), 1);
    assert_eq!(counters.invalid.load(Ordering::Relaxed), 1);
    let health = app
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
