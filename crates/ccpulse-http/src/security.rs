//! Security headers on every response: the wallboard page may show names that producers
//! chose (queues, teams), so the browser is told to run nothing but the service's own
//! script and style, to guess no content type, to send no referrer and to show the
//! service in no frame.

use axum::extract::Request;
use axum::http::header::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of every response: scripts, styles and requests only to
/// the service itself (`/wallboard.js`, `/wallboard.css`, the API), no inline script or
/// style, images only from the service or `data:` URLs, no frames, forms or `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The headers [`security_headers`] sets, by name (lower case, as `HeaderName` wants).
pub const HEADERS: [(&str, &str); 4] = [
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// Sets the [`HEADERS`] on the response, replacing any the handler set.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    for (name, value) in HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    resp
}
