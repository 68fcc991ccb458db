//! The OpenAPI 3 document served at `/api/v1/openapi.json`.

/// The document, as JSON text.
pub const DOCUMENT: &str = include_str!("openapi.json");
