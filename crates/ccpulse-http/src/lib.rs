//! ccpulse-http: the axum router over the published snapshot — the API of
//! `spec/api.md`, `/metrics`, health and readiness, the OpenAPI document and the TV
//! wallboard page (with the security headers that keep data from scripting it).
//! Readers never block the publisher: the snapshot is swapped in whole (`arc-swap`)
//! and answers are serialised once per snapshot.

pub mod auth;
pub mod intervals;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod security;
pub mod server;
pub mod state;
pub mod tls;
pub mod wallboard;

pub use routes::app;
pub use state::{AppState, Published};
