//! The built-in wallboard page at `/`: a table per window, refreshed every second from
//! the API. For a TV-grade wallboard use the Grafana dashboards in `deploy/grafana`.

/// The page.
pub const PAGE: &str = include_str!("wallboard.html");
