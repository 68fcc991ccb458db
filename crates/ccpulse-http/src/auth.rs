//! Access by role (`spec/api.md`, "Access"): bearer tokens, each with a role.
//!
//! - `wallboard`: the figures a wallboard shows (queues, channels, intervals, breaches,
//!   agents by state: counts, no agent by name);
//! - `supervisor`: all of `wallboard`, plus the figures of each agent and the contacts
//!   behind a figure (personal data of employees and customers);
//! - `metrics`: `/metrics` only.
//!
//! `/healthz`, `/readyz`, the OpenAPI document and the page's static files (which hold
//! no data; the page fetches its data with a token) are open. A missing or unknown token
//! is a 401, a token whose role does not cover the endpoint a 403, both in the error
//! shape. Tokens are configured as SHA-256 hashes, never in clear: a token is 32 random
//! bytes, so a fast hash is as safe as a slow one, and checking one costs a hash and a
//! map lookup per request.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::routes::ApiError;

/// What a token may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The wallboard's figures.
    Wallboard,
    /// The wallboard's figures and every agent's.
    Supervisor,
    /// `/metrics`.
    Metrics,
}

impl Role {
    /// The role's name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Wallboard => "wallboard",
            Role::Supervisor => "supervisor",
            Role::Metrics => "metrics",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Wallboard, Role::Supervisor, Role::Metrics]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// Whether this role covers what `need` asks for.
    fn covers(self, need: Need) -> bool {
        matches!(
            (self, need),
            (Role::Wallboard | Role::Supervisor, Need::Wallboard)
                | (Role::Supervisor, Need::Supervisor)
                | (Role::Metrics, Need::Metrics)
        )
    }
}

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, readiness, the OpenAPI document, the page's static files.
    Open,
    /// A `wallboard` or `supervisor` token.
    Wallboard,
    /// A `supervisor` token.
    Supervisor,
    /// A `metrics` token.
    Metrics,
}

/// What the endpoint at `path` needs.
pub fn need_of(path: &str) -> Need {
    match path {
        "/healthz" | "/readyz" | "/api/v1/openapi.json" | "/" | "/wallboard.js" | "/wallboard.css" => Need::Open,
        "/metrics" => Need::Metrics,
        "/api/v1/agents" => Need::Supervisor,
        p if p.starts_with("/api/v1/queues/") && p.ends_with("/contacts") => Need::Supervisor,
        _ => Need::Wallboard,
    }
}

/// The SHA-256 of a token, as configured: `sha256:` and 64 hex digits.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The digest in a configured hash, if it is one.
fn parse_hash(hash: &str) -> Option<[u8; 32]> {
    let hex = hash.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A configured token: its name (for the operators), its role and its hash.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    /// Who or what holds it (`kiosk-lobby`, `prometheus`, `alice`).
    pub name: String,
    /// What it may read.
    pub role: Role,
    /// `sha256:` and the hex digest of the token.
    pub hash: String,
}

/// A hash that is not `sha256:` and 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("token {name:?}: hash must be \"sha256:\" followed by 64 hex digits (from `ccpulse token`)")]
pub struct BadHash {
    /// The token's name.
    pub name: String,
}

/// Token digests, with the role and the name of each.
type Digests = HashMap<[u8; 32], (Role, String)>;

/// Who may read what.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Token digests and what they may read; `None` when access is open to anyone who
    /// reaches the port (`auth = "none"`, or no token on a loopback address).
    tokens: Option<Arc<Digests>>,
}

impl Access {
    /// Anyone who reaches the port reads everything.
    pub fn open() -> Self {
        Access { tokens: None }
    }

    /// Only the holders of these tokens, each as its role allows.
    pub fn tokens(entries: &[TokenEntry]) -> Result<Self, BadHash> {
        let mut map = HashMap::new();
        for e in entries {
            let digest = parse_hash(&e.hash).ok_or_else(|| BadHash { name: e.name.clone() })?;
            map.insert(digest, (e.role, e.name.clone()));
        }
        Ok(Access {
            tokens: Some(Arc::new(map)),
        })
    }

    /// Whether tokens are required.
    pub fn enforced(&self) -> bool {
        self.tokens.is_some()
    }

    /// The role of a presented token.
    fn role_of(&self, token: &str) -> Option<Role> {
        let tokens = self.tokens.as_ref()?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        tokens.get(&digest).map(|(role, _)| *role)
    }

    /// Decides a request for `path` with the `Authorization` header `authorization`.
    pub fn check(&self, path: &str, authorization: Option<&HeaderValue>) -> Result<(), ApiError> {
        let need = need_of(path);
        if need == Need::Open || !self.enforced() {
            return Ok(());
        }
        let token = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "a bearer token is needed: Authorization: Bearer <token> (see `ccpulse token`)",
            ));
        };
        let Some(role) = self.role_of(token) else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unknown token"));
        };
        if role.covers(need) {
            Ok(())
        } else {
            let needed = match need {
                Need::Wallboard => "a wallboard or supervisor token",
                Need::Supervisor => "a supervisor token",
                Need::Metrics => "a metrics token",
                Need::Open => "no token",
            };
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("a {} token cannot read {path}: it needs {needed}", role.as_str()),
            ))
        }
    }
}

/// The middleware: checks the token before the request reaches its endpoint.
pub async fn require(State(access): State<Access>, req: Request, next: Next) -> Response {
    match access.check(req.uri().path(), req.headers().get(header::AUTHORIZATION)) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let unauthorized = e.status() == StatusCode::UNAUTHORIZED;
            let mut resp = e.into_response();
            if unauthorized {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"ccpulse\""),
                );
            }
            resp
        }
    }
}

/// A new token: `ccp_` and 43 characters (32 random bytes, base64url).
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::from("ccp_");
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(ALPHABET[((acc >> bits) & 63) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (6 - bits)) & 63) as usize]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_and_bad_ones_are_refused() {
        let h = hash_token("ccp_x");
        assert!(h.starts_with("sha256:") && h.len() == 71);
        assert!(parse_hash(&h).is_some());
        assert!(parse_hash("sha256:zz").is_none());
        assert!(parse_hash("md5:00").is_none());
        let bad = TokenEntry {
            name: "k".into(),
            role: Role::Wallboard,
            hash: "plain-text-token".into(),
        };
        assert!(Access::tokens(&[bad]).is_err());
    }

    #[test]
    fn new_tokens_are_long_random_and_distinct() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert!(a[4..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn roles_cover_what_the_spec_says() {
        let entries: Vec<TokenEntry> = [("w", Role::Wallboard), ("s", Role::Supervisor), ("m", Role::Metrics)]
            .iter()
            .map(|(t, r)| TokenEntry {
                name: (*t).into(),
                role: *r,
                hash: hash_token(t),
            })
            .collect();
        let access = Access::tokens(&entries).unwrap();
        let bearer = |t: &str| HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
        let code = |path: &str, t: Option<&str>| match access.check(path, t.map(bearer).as_ref()) {
            Ok(()) => 200,
            Err(e) => e.status().as_u16(),
        };
        for path in ["/healthz", "/readyz", "/api/v1/openapi.json", "/"] {
            assert_eq!(code(path, None), 200, "{path}");
        }
        assert_eq!(code("/api/v1/queues", None), 401);
        assert_eq!(code("/api/v1/queues", Some("nope")), 401);
        assert_eq!(code("/api/v1/queues", Some("w")), 200);
        assert_eq!(code("/api/v1/queues", Some("s")), 200);
        assert_eq!(code("/api/v1/queues", Some("m")), 403);
        assert_eq!(code("/api/v1/agents", Some("w")), 403);
        assert_eq!(code("/api/v1/agents", Some("s")), 200);
        assert_eq!(code("/api/v1/queues/billing/contacts", Some("w")), 403);
        assert_eq!(code("/metrics", Some("s")), 403);
        assert_eq!(code("/metrics", Some("m")), 200);
        assert_eq!(code("/metrics", None), 401);
        assert_eq!(code("/api/v1/agents", None), 401);
        let open = Access::open();
        assert!(open.check("/api/v1/agents", None).is_ok());
    }
}
