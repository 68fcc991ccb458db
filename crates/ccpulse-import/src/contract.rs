//! Contract events as importers write them: typed, serialised to the JSON of
//! `spec/events.md`, with the message key and topic of its "Transport" section.

use ccpulse_core::event::{AgentState, Channel, MAX_NAME_CHARS};
use ccpulse_core::time::Millis;
use serde::{Serialize, Serializer};
use xxhash_rust::xxh3::xxh3_128;

/// The contract's event types an importer writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// `contact.offered`.
    #[serde(rename = "contact.offered")]
    Offered,
    /// `contact.answered`.
    #[serde(rename = "contact.answered")]
    Answered,
    /// `contact.abandoned`.
    #[serde(rename = "contact.abandoned")]
    Abandoned,
    /// `contact.flowed_out`.
    #[serde(rename = "contact.flowed_out")]
    FlowedOut,
    /// `contact.hold_started`.
    #[serde(rename = "contact.hold_started")]
    HoldStarted,
    /// `contact.hold_ended`.
    #[serde(rename = "contact.hold_ended")]
    HoldEnded,
    /// `contact.transferred`.
    #[serde(rename = "contact.transferred")]
    Transferred,
    /// `contact.ended`.
    #[serde(rename = "contact.ended")]
    Ended,
    /// `contact.wrapped_up`.
    #[serde(rename = "contact.wrapped_up")]
    WrappedUp,
    /// `agent.state`.
    #[serde(rename = "agent.state")]
    AgentState,
}

/// One contract event. Absent optional fields are left out of the JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Stable id, made from the source record (see [`event_id`]).
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Event time, epoch milliseconds; written as RFC 3339 UTC with milliseconds.
    #[serde(serialize_with = "rfc3339")]
    pub ts: Millis,
    /// The contact (contact events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// The channel, on the types whose contract has it (offered, answered, abandoned,
    /// flowed_out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The queue, on the types whose contract has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The customer (offers), when the source knows one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// The agent (answers, agent states).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The new queue (transfers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_queue: Option<String>,
    /// Why a contact flowed out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An agent's new state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<AgentState>,
    /// An agent's team.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The queues an agent serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
    /// The message key: the customer when known, else the contact; the agent for agent
    /// states.
    #[serde(skip)]
    pub key: String,
    /// The channel that decides the topic of a contact event (also when the type has no
    /// `channel` field).
    #[serde(skip)]
    pub route: Option<Channel>,
}

fn rfc3339<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    match jiff::Timestamp::from_millisecond(*ms) {
        Ok(t) => s.serialize_str(&format!("{t:.3}")),
        Err(_) => s.serialize_i64(*ms),
    }
}

/// A stable event id: `<source>-<128-bit hash of the record, hex>-<suffix>`. The same
/// record always gives the same ids, and `suffix` tells apart the events of one record.
pub fn event_id(source: &str, record: &[u8], suffix: &str) -> String {
    format!("{source}-{:032x}-{suffix}", xxh3_128(record))
}

impl Event {
    /// A contact event of `kind` for `contact_id`, keyed by `key`, routed by `channel`.
    pub fn contact(kind: Kind, id: String, ts: Millis, contact_id: &str, key: &str, channel: Channel) -> Self {
        let with_channel = matches!(kind, Kind::Offered | Kind::Answered | Kind::Abandoned | Kind::FlowedOut);
        Event {
            id,
            kind,
            ts,
            contact_id: Some(contact_id.to_owned()),
            channel: with_channel.then_some(channel),
            queue: None,
            customer_id: None,
            agent_id: None,
            to_queue: None,
            reason: None,
            state: None,
            team: None,
            queues: None,
            key: key.to_owned(),
            route: Some(channel),
        }
    }

    /// An `agent.state`, keyed by the agent.
    pub fn agent(id: String, ts: Millis, agent_id: &str, state: AgentState) -> Self {
        Event {
            id,
            kind: Kind::AgentState,
            ts,
            contact_id: None,
            channel: None,
            queue: None,
            customer_id: None,
            agent_id: Some(agent_id.to_owned()),
            to_queue: None,
            reason: None,
            state: Some(state),
            team: None,
            queues: None,
            key: agent_id.to_owned(),
            route: None,
        }
    }

    /// Sets `queue` (on the types whose contract has it).
    pub fn queue(mut self, queue: &str) -> Self {
        if matches!(
            self.kind,
            Kind::Offered | Kind::Answered | Kind::Abandoned | Kind::FlowedOut
        ) {
            self.queue = Some(queue.to_owned());
        }
        self
    }

    /// Sets `reason`.
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// The contract's name of its type (`contact.offered`, …).
    pub fn kind_name(&self) -> String {
        serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The JSON value of the message.
    pub fn json(&self) -> String {
        // Serialising a struct of strings, numbers and enums cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// `key<TAB>json`, the line `ccpulse replay` and `kcat -K'\t'` read.
    pub fn line(&self) -> String {
        format!("{}\t{}", self.key, self.json())
    }

    /// The default topic of the contract for this event.
    pub fn topic(&self) -> &'static str {
        match (self.kind, self.route) {
            (Kind::AgentState, _) => "cc.agents",
            (_, Some(Channel::Chat)) => "cc.chat",
            (_, Some(Channel::Email)) => "cc.email",
            (_, _) => "cc.voice",
        }
    }

    /// Checks the event against the contract, as ccpulse will (any time is accepted
    /// here: the future-time check is the service's), so that an importer reports a
    /// record it cannot translate instead of writing an event ccpulse would reject.
    pub fn check(&self) -> Result<(), ccpulse_core::EventError> {
        let json = self.json();
        ccpulse_core::parse_event(json.as_bytes(), Millis::MAX / 2).map(|_| ())?;
        if self.key.is_empty() || self.key.chars().count() > MAX_NAME_CHARS {
            return Err(ccpulse_core::EventError::TooLong {
                field: "key",
                chars: self.key.chars().count(),
                max: MAX_NAME_CHARS,
            });
        }
        Ok(())
    }
}

/// Whether `s` is usable as a name of the contract: not empty, at most
/// [`MAX_NAME_CHARS`] characters.
pub fn fits(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_NAME_CHARS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_the_contract_shape_with_key_and_topic() {
        let e = Event::contact(
            Kind::Offered,
            "x-1".into(),
            1_795_338_903_120,
            "c1",
            "k42",
            Channel::Chat,
        )
        .queue("billing");
        assert_eq!(
            e.line(),
            "k42\t{\"id\":\"x-1\",\"type\":\"contact.offered\",\"ts\":\"2026-11-22T09:15:03.120Z\",\"contact_id\":\"c1\",\"channel\":\"chat\",\"queue\":\"billing\"}"
        );
        assert_eq!(e.topic(), "cc.chat");
        e.check().unwrap();
        let ended = Event::contact(Kind::Ended, "x-2".into(), 0, "c1", "k42", Channel::Email).queue("billing");
        assert_eq!(ended.channel, None, "contact.ended has no channel field");
        assert_eq!(ended.queue, None);
        assert_eq!(ended.topic(), "cc.email", "but it is routed by its contact's channel");
        let a = Event::agent("x-3".into(), 0, "Agent/1001", AgentState::Away);
        assert_eq!(a.topic(), "cc.agents");
        assert_eq!(a.key, "Agent/1001");
        a.check().unwrap();
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(event_id("ast", b"a|b", "0"), event_id("ast", b"a|b", "0"));
        assert_ne!(event_id("ast", b"a|b", "0"), event_id("ast", b"a|b", "1"));
        assert_ne!(event_id("ast", b"a|b", "0"), event_id("ast", b"a|c", "0"));
        assert!(event_id("ast", b"x", "wa").len() <= 128);
    }

    #[test]
    fn check_refuses_what_ccpulse_would() {
        let e = Event::contact(Kind::Offered, "x".into(), 0, &"c".repeat(129), "k", Channel::Voice).queue("q");
        assert!(e.check().unwrap_err().to_string().contains("contact_id"));
    }
}
