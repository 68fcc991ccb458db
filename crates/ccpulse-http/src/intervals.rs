//! `GET /api/v1/intervals`: the interval report (`spec/api.md`, "Interval report") as
//! JSON or CSV. The figures come from whoever holds the engines (in the service, the
//! partition workers), through an [`IntervalSource`]; this module parses the request,
//! filters by channel and writes the answer.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ccpulse_core::interval::{DayError, IntervalReport, Size};
use ccpulse_core::time::Millis;

use crate::routes::ApiError;

/// What an interval report is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalAsk {
    /// Interval length.
    pub size: Size,
    /// The local day `YYYY-MM-DD`; today when `None`.
    pub date: Option<String>,
    /// "Now": the published snapshot's, so that the report and the other answers
    /// agree on the time.
    pub now: Millis,
}

/// The report's figures, or why there are none.
pub type IntervalAnswer = Pin<Box<dyn Future<Output = Result<IntervalReport, DayError>> + Send>>;

/// Whoever can compute interval reports.
pub type IntervalSource = Arc<dyn Fn(IntervalAsk) -> IntervalAnswer + Send + Sync>;

/// The answer's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

/// `format=csv` or `Accept: text/csv` (the parameter wins).
fn format(params: &HashMap<String, String>, headers: &HeaderMap) -> Result<Format, ApiError> {
    match params.get("format").map(String::as_str) {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("format must be json or csv, got {other:?}"),
        )),
        None => {
            let csv = headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.split(',').any(|m| m.trim().starts_with("text/csv")));
            Ok(if csv { Format::Csv } else { Format::Json })
        }
    }
}

/// Answers an interval request with `source`, at `now`.
pub async fn answer(
    source: &IntervalSource,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    channel: Option<&str>,
    now: Millis,
) -> Result<Response, ApiError> {
    let size = params
        .get("size")
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "size is required: 15m, 30m or 1h"))?
        .parse::<Size>()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let format = format(params, headers)?;
    let ask = IntervalAsk {
        size,
        date: params.get("date").cloned(),
        now,
    };
    let mut report = source(ask).await.map_err(|e| match e {
        DayError::Malformed(m) => ApiError::new(StatusCode::BAD_REQUEST, m),
        DayError::NotKept(m) => ApiError::new(StatusCode::NOT_FOUND, m),
    })?;
    if let Some(c) = channel {
        // The channel's queue groups and its total.
        for i in &mut report.intervals {
            i.groups.retain(|g| g.0.channel == c);
        }
    }
    Ok(match format {
        Format::Json => (
            [(header::CONTENT_TYPE, "application/json")],
            crate::routes::to_json(&report),
        )
            .into_response(),
        Format::Csv => {
            let name = format!(
                "attachment; filename=\"ccpulse-intervals-{}-{}.csv\"",
                report.date, report.size
            );
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, name),
                ],
                report.to_csv(),
            )
                .into_response()
        }
    })
}
