//! The endpoints of `spec/api.md`, plus the OpenAPI document, agents by state, the
//! wallboard page, `/metrics` and health.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ccpulse_core::api::{AgentsResponse, BreachesResponse};
use ccpulse_core::snapshot::WindowView;
use serde::Serialize;
use tracing::warn;

use crate::metrics::render_metrics;
use crate::state::{AppState, Cached, Published};

/// The router, with no socket: tests call it with `oneshot`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(wallboard))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/queues/{queue}", get(queue))
        .route("/api/v1/channels", get(channels))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/agents/states", get(agent_states))
        .route("/api/v1/breaches", get(breaches))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state)
}

/// An error answer: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        (self.status, axum::Json(Body { error: &self.message })).into_response()
    }
}

fn json_body(body: Arc<[u8]>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Bytes::from_owner(body),
    )
        .into_response()
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

/// A cached answer, gzipped when the client accepts it.
fn cached_body(headers: &HeaderMap, cached: &Cached, make: impl FnOnce() -> Vec<u8>) -> Response {
    if accepts_gzip(headers) {
        let body = cached.gzip(make);
        let headers = [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_ENCODING, "gzip"),
            (header::VARY, "accept-encoding"),
        ];
        (headers, axum::body::Bytes::from_owner(body)).into_response()
    } else {
        json_body(cached.json(make))
    }
}

fn to_json(v: &impl Serialize) -> Vec<u8> {
    match serde_json::to_vec(v) {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "serialising an answer failed");
            format!("{{\"error\":\"serialising the answer failed: {e}\"}}").into_bytes()
        }
    }
}

type Params = Query<HashMap<String, String>>;

/// Rejects parameters the endpoint does not take.
fn only(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    unknown.sort_unstable();
    match unknown.first() {
        None => Ok(()),
        Some(k) => Err(ApiError::bad_request(format!(
            "unknown query parameter {k:?}; this endpoint takes: {}",
            if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            }
        ))),
    }
}

fn current(state: &AppState) -> Result<Arc<Published>, ApiError> {
    state.published.load_full().ok_or(ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "no snapshot published yet; the service is starting".into(),
    })
}

fn window<'a>(
    state: &AppState,
    p: &'a Published,
    params: &HashMap<String, String>,
) -> Result<&'a WindowView, ApiError> {
    let name = params.get("window").map_or("15m", String::as_str);
    p.snapshot.window(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown window {name:?}; known windows: {}",
            state.windows.join(", ")
        ))
    })
}

fn channel_param(params: &HashMap<String, String>) -> Result<Option<String>, ApiError> {
    match params.get("channel") {
        None => Ok(None),
        Some(c) if ["voice", "chat", "email"].contains(&c.as_str()) => Ok(Some(c.clone())),
        Some(c) => Err(ApiError::bad_request(format!(
            "unknown channel {c:?}; channels: voice, chat, email"
        ))),
    }
}

async fn queues(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    only(&params, &["window", "channel"])?;
    let p = current(&state)?;
    let w = window(&state, &p, &params)?;
    let channel = channel_param(&params)?;
    let cached = p.cached(("queues", w.window.clone(), channel.clone()));
    Ok(cached_body(&headers, &cached, || {
        to_json(&w.queues_response(channel.as_deref()))
    }))
}

async fn queue(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    only(&params, &["window"])?;
    let p = current(&state)?;
    let w = window(&state, &p, &params)?;
    let known = p
        .snapshot
        .windows
        .iter()
        .any(|w| w.queues.iter().any(|g| g.queue.as_deref() == Some(&name)));
    if !known {
        return Err(ApiError::not_found(format!(
            "unknown queue {name:?}: no traffic in any window"
        )));
    }
    let mut answer = w.queues_response(None);
    answer.groups.retain(|g| g.queue.as_deref() == Some(&name));
    Ok(json_body(Arc::from(to_json(&answer))))
}

async fn channels(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    only(&params, &["window"])?;
    let p = current(&state)?;
    let w = window(&state, &p, &params)?;
    let cached = p.cached(("channels", w.window.clone(), None));
    Ok(cached_body(&headers, &cached, || to_json(&w.channels_response())))
}

async fn agents(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    only(&params, &["window", "team", "outliers"])?;
    let p = current(&state)?;
    let w = window(&state, &p, &params)?;
    let outliers = match params.get("outliers").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "outliers must be true or false, got {other:?}"
            )))
        }
    };
    let team = params.get("team");
    if let Some(t) = team {
        let known = p
            .snapshot
            .windows
            .iter()
            .flat_map(|w| &w.agents)
            .any(|a| a.team.as_deref() == Some(t.as_str()));
        if !known {
            return Err(ApiError::not_found(format!("unknown team {t:?}")));
        }
    }
    let answer = AgentsResponse {
        window: &w.window,
        from: w.from,
        to: w.to,
        agents: w
            .agents
            .iter()
            .filter(|a| team.is_none_or(|t| a.team.as_deref() == Some(t.as_str())))
            .filter(|a| !outliers || a.outlier)
            .collect(),
    };
    Ok(json_body(Arc::from(to_json(&answer))))
}

async fn agent_states(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    only(&params, &[])?;
    let p = current(&state)?;
    Ok(json_body(Arc::from(to_json(&p.snapshot.agent_states))))
}

async fn breaches(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    only(&params, &[])?;
    let p = current(&state)?;
    let answer = BreachesResponse {
        evaluated_at: p.snapshot.now,
        breaches: &p.snapshot.breaches,
    };
    Ok(json_body(Arc::from(to_json(&answer))))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let published = state.published.load_full();
    match render_metrics(&state.registry, published.as_deref()) {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(e) => ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("encoding metrics: {e}"),
        }
        .into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    #[derive(Serialize)]
    struct Body<'a> {
        ready: bool,
        waiting_for: &'a [String],
    }
    let mut r = state.health.readiness();
    if r.ready {
        // Ready means the published figures are those of a fully replayed state.
        match state.published.load().as_deref() {
            None => r.waiting_for.push("the first snapshot".into()),
            Some(p) if !p.ready => r.waiting_for.push("a snapshot taken after the replay".into()),
            Some(_) => {}
        }
        r.ready = r.waiting_for.is_empty();
    }
    let status = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(Body {
            ready: r.ready,
            waiting_for: &r.waiting_for,
        }),
    )
        .into_response()
}

async fn wallboard() -> Html<&'static str> {
    Html(crate::wallboard::PAGE)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/v1/openapi.json")
}
