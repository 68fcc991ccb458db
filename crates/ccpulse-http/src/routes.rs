//! The endpoints of `spec/api.md`, plus the OpenAPI document, agents by state, the
//! wallboard page and its settings, `/metrics` and health. Every error is in the JSON
//! error shape, those axum or a timeout make included (see [`json_errors`]), and every
//! response carries the security headers of [`crate::security`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ccpulse_core::api::{AgentsResponse, BreachesResponse, ContactsResponse, Page};
use ccpulse_core::contact::DrillOutcome;
use ccpulse_core::event::Channel;
use ccpulse_core::partial::MAX_LISTED;
use ccpulse_core::snapshot::WindowView;
use serde::Serialize;
use tracing::warn;

use crate::metrics::render_metrics;
use crate::state::{AppState, Cached, Published};

/// How long a request may take before it is answered 503 (a request that takes longer
/// is a bug or an overload; the connection is not held).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The default and the largest `limit` of a list answer.
pub const PAGE_DEFAULT: usize = 1000;
/// The largest `limit` of a list answer.
pub const PAGE_MAX: usize = 10_000;

/// The router, with no socket: tests call it with `oneshot`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(wallboard))
        .route("/wallboard.js", get(wallboard_script))
        .route("/wallboard.css", get(wallboard_style))
        .route("/api/v1/wallboard/settings", get(wallboard_settings))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/queues/{queue}", get(queue))
        .route("/api/v1/queues/{queue}/contacts", get(queue_contacts))
        .route("/api/v1/channels", get(channels))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/agents/states", get(agent_states))
        .route("/api/v1/breaches", get(breaches))
        .route("/api/v1/intervals", get(intervals))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            crate::auth::require,
        ))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn(crate::security::security_headers))
        .with_state(state)
}

/// Answers a request that takes longer than [`REQUEST_TIMEOUT`] with a 503, and turns
/// every error answer that is not JSON (axum's own: 405, a query it cannot parse, a
/// body too large) into the error shape, keeping its text.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            return ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("the request took longer than {} s", REQUEST_TIMEOUT.as_secs()),
            }
            .into_response()
        }
    };
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let text = match axum::body::to_bytes(resp.into_body(), 64 * 1024).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    ApiError { status, message: text }.into_response()
}

/// An error answer: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// Its status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

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

/// `v` as JSON; a failure is logged and answered in the error shape.
pub fn to_json(v: &impl Serialize) -> Vec<u8> {
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

/// `offset` and `limit` of a list answer: `limit` 1..=[`PAGE_MAX`], default
/// [`PAGE_DEFAULT`].
fn page_params(params: &HashMap<String, String>) -> Result<(usize, usize), ApiError> {
    let number = |name: &str, default: usize, range: std::ops::RangeInclusive<usize>| match params.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} must be a whole number in {}..={}, got {v:?}",
                range.start(),
                range.end()
            ))
        }),
    };
    Ok((
        number("offset", 0, 0..=usize::MAX)?,
        number("limit", PAGE_DEFAULT, 1..=PAGE_MAX)?,
    ))
}

/// Whether a list answer with these paging parameters is the default first page (the
/// one answer cached per snapshot).
fn first_page(params: &HashMap<String, String>) -> bool {
    !params.contains_key("offset") && !params.contains_key("limit")
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
    only(&params, &["window", "channel", "offset", "limit"])?;
    let p = current(&state)?;
    let w = window(&state, &p, &params)?;
    let channel = channel_param(&params)?;
    let (offset, limit) = page_params(&params)?;
    let coverage = &p.snapshot.coverage;
    let answer = || to_json(&w.queues_response(coverage, channel.as_deref()).paged(offset, limit));
    if !first_page(&params) {
        return Ok(json_body(Arc::from(answer())));
    }
    let cached = p.cached(("queues", w.window.clone(), channel.clone()));
    Ok(cached_body(&headers, &cached, answer))
}

async fn queue(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    only(&params, &["window"])?;
    let p = current(&state)?;
    let w = window(&state, &p, &params)?;
    known_queue(&p, &name)?;
    let mut answer = w.queues_response(&p.snapshot.coverage, None);
    answer.groups.retain(|g| g.queue.as_deref() == Some(&name));
    let answer = answer.paged(0, usize::MAX);
    Ok(json_body(Arc::from(to_json(&answer))))
}

/// A 404 for a queue with no traffic in any window (and no contact waiting).
fn known_queue(p: &Published, name: &str) -> Result<(), ApiError> {
    let known = p
        .snapshot
        .windows
        .iter()
        .any(|w| w.queues.iter().any(|g| g.queue.as_deref() == Some(name)));
    if known {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "unknown queue {name:?}: no traffic in any window"
        )))
    }
}

/// `GET /api/v1/queues/{queue}/contacts`: the contacts behind a figure (`supervisor`
/// role: customer ids are personal data; see `auth::need_of`).
async fn queue_contacts(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    only(&params, &["window", "channel", "outcome", "limit"])?;
    let p = current(&state)?;
    let w = window(&state, &p, &params)?;
    let channel = channel_param(&params)?.as_deref().and_then(Channel::parse);
    let names = || {
        DrillOutcome::ALL
            .iter()
            .map(|o| o.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let outcome = match params.get("outcome") {
        None => {
            return Err(ApiError::bad_request(format!(
                "outcome is required: one of {}",
                names()
            )))
        }
        Some(o) => DrillOutcome::parse(o)
            .ok_or_else(|| ApiError::bad_request(format!("unknown outcome {o:?}; outcomes: {}", names())))?,
    };
    let limit = match params.get("limit") {
        None => MAX_LISTED,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LISTED).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit must be a whole number in 1..={MAX_LISTED}, got {v:?}"))
            })?,
    };
    known_queue(&p, &name)?;
    let answer = ContactsResponse::new(&p.snapshot, w, &name, channel, outcome, limit);
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
    Ok(cached_body(&headers, &cached, || {
        to_json(&w.channels_response(&p.snapshot.coverage))
    }))
}

async fn agents(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    only(
        &params,
        &["window", "team", "outliers", "sl_outliers", "offset", "limit"],
    )?;
    let p = current(&state)?;
    let w = window(&state, &p, &params)?;
    let (offset, limit) = page_params(&params)?;
    let flag = |name: &str| match params.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name} must be true or false, got {other:?}"
        ))),
    };
    let outliers = flag("outliers")?;
    let sl_outliers = flag("sl_outliers")?;
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
    let mut agents: Vec<_> = w
        .agents
        .iter()
        .filter(|a| team.is_none_or(|t| a.team.as_deref() == Some(t.as_str())))
        .filter(|a| !outliers || a.outlier)
        .filter(|a| !sl_outliers || a.sl_outlier)
        .collect();
    let page = Page::cut(&mut agents, offset, limit);
    let answer = AgentsResponse {
        window: &w.window,
        from: w.from,
        to: w.to,
        coverage: &p.snapshot.coverage,
        page,
        agents,
    };
    Ok(json_body(Arc::from(to_json(&answer))))
}

async fn agent_states(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    only(&params, &[])?;
    let p = current(&state)?;
    Ok(json_body(Arc::from(to_json(&p.snapshot.agent_states))))
}

async fn breaches(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    only(&params, &["offset", "limit"])?;
    let p = current(&state)?;
    let (offset, limit) = page_params(&params)?;
    let mut breaches: Vec<_> = p.snapshot.breaches.iter().collect();
    let page = Page::cut(&mut breaches, offset, limit);
    let answer = BreachesResponse {
        evaluated_at: p.snapshot.now,
        coverage: &p.snapshot.coverage,
        page,
        breaches,
    };
    Ok(json_body(Arc::from(to_json(&answer))))
}

async fn intervals(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    only(&params, &["size", "date", "channel", "format"])?;
    let p = current(&state)?;
    let channel = channel_param(&params)?;
    let Some(source) = &state.intervals else {
        return Err(ApiError::not_found("interval reports are not available here"));
    };
    crate::intervals::answer(source, &params, &headers, channel.as_deref(), p.snapshot.now).await
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let published = state.published.load_full();
    match render_metrics(&state.registry, published.as_deref(), state.max_snapshot_age) {
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
    let now = jiff::Timestamp::now().as_millisecond();
    // Ready means: the published view covers every partition, none stale, none
    // replaying, and the publisher keeps it current.
    let waiting_for = match state.published.load().as_deref() {
        None => vec!["the first snapshot".to_owned()],
        Some(p) => p.waiting_for(now, state.max_snapshot_age),
    };
    let ready = waiting_for.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(Body {
            ready,
            waiting_for: &waiting_for,
        }),
    )
        .into_response()
}

async fn wallboard() -> Response {
    ([(header::CACHE_CONTROL, "no-cache")], Html(crate::wallboard::PAGE)).into_response()
}

/// A file of the page: revalidated on every load (`no-cache`), so that a kiosk picks up
/// a new version of the service at its next reload.
fn page_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn wallboard_script() -> Response {
    page_asset("text/javascript; charset=utf-8", crate::wallboard::SCRIPT)
}

async fn wallboard_style() -> Response {
    page_asset("text/css; charset=utf-8", crate::wallboard::STYLE)
}

async fn wallboard_settings(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    only(&params, &[])?;
    let answer = crate::wallboard::SettingsResponse {
        settings: &state.wallboard,
        tiles_per_page: crate::wallboard::TILES_PER_PAGE,
        windows: &state.windows,
    };
    Ok(json_body(Arc::from(to_json(&answer))))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/v1/openapi.json")
}
