//! The JSON shape of one event on the wire (`spec/events.md`), as the simulator writes it.

use std::sync::Arc;

use serde::Serialize;

/// `ts` as written: an RFC 3339 string (most events) or integer epoch milliseconds.
#[derive(Serialize, Debug, Clone)]
#[serde(untagged)]
pub(crate) enum Ts {
    /// RFC 3339 UTC with milliseconds.
    Text(String),
    /// Epoch milliseconds.
    Millis(i64),
}

/// One event. Absent optional fields are left out.
#[derive(Serialize, Debug, Clone)]
pub(crate) struct Wire<'a> {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub ts: Ts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_queue: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<&'a [Arc<str>]>,
}

impl<'a> Wire<'a> {
    /// An event of type `kind` with only its common fields; `id` and `ts` are filled in
    /// when it is emitted.
    pub fn new(kind: &'a str) -> Self {
        Wire {
            id: String::new(),
            kind,
            ts: Ts::Millis(0),
            contact_id: None,
            channel: None,
            queue: None,
            customer_id: None,
            topic: None,
            segment: None,
            repeat: None,
            agent_id: None,
            to_queue: None,
            resolved: None,
            score: None,
            scale: None,
            state: None,
            team: None,
            queues: None,
        }
    }

    /// The event of one contact: `kind` with `contact_id`.
    pub fn contact(kind: &'a str, contact_id: &'a str) -> Self {
        Wire {
            contact_id: Some(contact_id),
            ..Wire::new(kind)
        }
    }
}

/// Formats epoch milliseconds as RFC 3339 UTC with exactly three fractional digits
/// (`2026-11-22T09:15:03.120Z`); out-of-range values fall back to epoch millis.
pub(crate) fn ts_text(ms: i64) -> Ts {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => Ts::Text(format!("{t:.3}")),
        Err(_) => Ts::Millis(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds() {
        match ts_text(1_795_338_903_120) {
            Ts::Text(s) => assert_eq!(s, "2026-11-22T09:15:03.120Z"),
            Ts::Millis(_) => panic!("expected text"),
        }
        match ts_text(1_795_338_903_000) {
            Ts::Text(s) => assert_eq!(s, "2026-11-22T09:15:03.000Z"),
            Ts::Millis(_) => panic!("expected text"),
        }
    }

    #[test]
    fn absent_fields_are_left_out() {
        let mut w = Wire::contact("contact.ended", "c1");
        w.id = "e1".into();
        w.resolved = Some(true);
        let json = serde_json::to_string(&w).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"id":"e1","type":"contact.ended","ts":0,"contact_id":"c1","resolved":true}"#
        );
    }
}
