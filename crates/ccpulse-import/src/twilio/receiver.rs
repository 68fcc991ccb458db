//! The HTTP receiver of TaskRouter event callbacks: checks the signature, translates,
//! hands the events to a [`Sink`] (Kafka, in `ccpulse import twilio-receiver`) and
//! answers `204 No Content` once they are delivered, well within Twilio's 15 seconds.
//!
//! - A request without `X-Twilio-Signature` is a 401, one with a wrong signature a 403;
//!   nothing of it is translated.
//! - Idempotent under retries: an event (by its `Sid`) already delivered is answered 204
//!   again without being delivered twice, and its events carry the same ids in any case.
//! - A sink that fails or takes longer than [`ReceiverConfig::deliver_timeout`] makes the
//!   answer a 503, so that Twilio may retry; the translation is kept for the retry.
//! - A callback that cannot be translated is answered 204 (a retry would not help),
//!   logged and counted.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::{verify, TaskRouter, Translated};
use crate::contract::Event;

/// The largest callback body read; TaskRouter's are a few kilobytes.
pub const MAX_BODY: usize = 64 * 1024;

/// The most event ids remembered as delivered (or translated, awaiting a retry).
pub const MAX_REMEMBERED: usize = 100_000;

/// Where the receiver's events go.
pub trait Sink: Send + Sync + 'static {
    /// Delivers events durably (e.g. produced and acknowledged by Kafka), or says why not.
    /// Called from a blocking thread.
    fn deliver(&self, events: &[Event]) -> Result<(), String>;
}

/// The receiver's settings.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The Event Callback URL as configured in TaskRouter (what Twilio signs); a query
    /// string of the request is appended when this has none.
    pub url: String,
    /// The account's auth token.
    pub auth_token: String,
    /// How long a delivery may take before the answer is a 503.
    pub deliver_timeout: Duration,
    /// The channel of tasks on the `default` task channel.
    pub default_channel: ccpulse_core::event::Channel,
}

/// The receiver's counters (also logged).
#[derive(Debug, Default)]
pub struct Counters {
    /// Callbacks accepted and delivered.
    pub delivered: AtomicU64,
    /// Retries of callbacks already delivered.
    pub duplicates: AtomicU64,
    /// Callbacks refused for their signature (absent or wrong).
    pub refused: AtomicU64,
    /// Callbacks that could not be translated.
    pub invalid: AtomicU64,
    /// Callbacks of event types not translated by design.
    pub skipped: AtomicU64,
    /// Deliveries that failed or timed out (answered 503).
    pub failed: AtomicU64,
}

#[derive(Debug)]
enum Seen {
    Translated(Vec<Event>),
    Delivered,
}

#[derive(Debug, Default)]
struct Memory {
    seen: HashMap<String, Seen>,
    order: VecDeque<String>,
}

impl Memory {
    fn put(&mut self, sid: &str, s: Seen) {
        if !self.seen.contains_key(sid) {
            if self.seen.len() >= MAX_REMEMBERED {
                if let Some(old) = self.order.pop_front() {
                    self.seen.remove(&old);
                }
            }
            self.order.push_back(sid.to_owned());
        }
        self.seen.insert(sid.to_owned(), s);
    }
}

struct Inner {
    cfg: ReceiverConfig,
    sink: Arc<dyn Sink>,
    translator: Mutex<TaskRouter>,
    memory: Mutex<Memory>,
    counters: Arc<Counters>,
}

/// The receiver's router: `POST` on any path takes a callback, `GET /healthz` answers 200.
pub fn router(cfg: ReceiverConfig, sink: Arc<dyn Sink>, counters: Arc<Counters>) -> Router {
    let inner = Arc::new(Inner {
        translator: Mutex::new(TaskRouter::new(cfg.default_channel)),
        cfg,
        sink,
        memory: Mutex::new(Memory::default()),
        counters,
    });
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback(callback)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(inner)
}

fn answer(status: StatusCode, error: Option<&str>) -> Response {
    match error {
        None => (status, [(header::CONTENT_TYPE, "application/json")]).into_response(),
        Some(e) => (status, axum::Json(json!({ "error": e }))).into_response(),
    }
}

async fn callback(
    State(inner): State<Arc<Inner>>,
    method: axum::http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != axum::http::Method::POST {
        return answer(StatusCode::METHOD_NOT_ALLOWED, Some("TaskRouter callbacks are POSTed"));
    }
    let c = &inner.counters;
    let Some(sig) = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()) else {
        c.refused.fetch_add(1, Ordering::Relaxed);
        return answer(StatusCode::UNAUTHORIZED, Some("no X-Twilio-Signature header"));
    };
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        c.refused.fetch_add(1, Ordering::Relaxed);
        return answer(StatusCode::BAD_REQUEST, Some("the body is not form-encoded"));
    };
    let url = match uri.query() {
        Some(q) if !inner.cfg.url.contains('?') => format!("{}?{q}", inner.cfg.url),
        _ => inner.cfg.url.clone(),
    };
    if !verify(&inner.cfg.auth_token, &url, &params, sig) {
        c.refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("TaskRouter callback with a wrong signature refused");
        return answer(StatusCode::FORBIDDEN, Some("X-Twilio-Signature does not match"));
    }
    let sid = super::param(&params, "Sid")
        .or(super::param(&params, "EventSid"))
        .map_or_else(|| crate::contract::event_id("twl", &body, "request"), str::to_owned);
    let remembered = {
        let mem = inner.memory.lock().unwrap_or_else(PoisonError::into_inner);
        match mem.seen.get(&sid) {
            Some(Seen::Delivered) => None,
            Some(Seen::Translated(ev)) => Some(Some(ev.clone())),
            None => Some(None),
        }
    };
    let events = match remembered {
        None => {
            c.duplicates.fetch_add(1, Ordering::Relaxed);
            return answer(StatusCode::NO_CONTENT, None);
        }
        Some(Some(events)) => events,
        Some(None) => {
            let translated = inner
                .translator
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .translate(&params);
            match translated {
                Ok(Translated::Events(events)) => {
                    let (ok, bad): (Vec<Event>, Vec<Event>) = events.into_iter().partition(|e| e.check().is_ok());
                    for e in &bad {
                        if let Err(err) = e.check() {
                            tracing::warn!(event = %sid, error = %err, "TaskRouter event not translatable");
                        }
                    }
                    ok
                }
                Ok(Translated::Skipped(kind)) => {
                    c.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(kind, "TaskRouter event not translated by design");
                    Vec::new()
                }
                Err(e) => {
                    c.invalid.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event = %sid, error = %e, "TaskRouter callback not translatable");
                    Vec::new()
                }
            }
        }
    };
    if !events.is_empty() {
        inner
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(&sid, Seen::Translated(events.clone()));
        let sink = inner.sink.clone();
        let batch = events.clone();
        let delivery = tokio::task::spawn_blocking(move || sink.deliver(&batch));
        let failure = match tokio::time::timeout(inner.cfg.deliver_timeout, delivery).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e),
            Ok(Err(e)) => Some(format!("delivery task failed: {e}")),
            Err(_) => Some(format!("delivery took longer than {:?}", inner.cfg.deliver_timeout)),
        };
        if let Some(e) = failure {
            c.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(event = %sid, error = %e, "TaskRouter events not delivered; answering 503");
            return answer(StatusCode::SERVICE_UNAVAILABLE, Some(&format!("not delivered: {e}")));
        }
    }
    inner
        .memory
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .put(&sid, Seen::Delivered);
    c.delivered.fetch_add(1, Ordering::Relaxed);
    answer(StatusCode::NO_CONTENT, None)
}
