//! The event contract of `spec/events.md`: typed events, parsing and validation.
//!
//! Parsing borrows from the input where it can (`Cow`), so the hot path allocates only
//! for strings with JSON escapes. The common shape of a message is read by a fast path
//! (the `scan` module); anything else by serde_json, which is the authority on what is
//! valid. A failed parse is parsed a second time with `serde_path_to_error`, only to
//! name the offending field in the error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::error::EventError;
use crate::time::{human_delta, parse_rfc3339, Millis, MINUTE};

/// How far in the future (against the wall clock) an event's `ts` may be.
pub const MAX_FUTURE: Millis = 5 * MINUTE;

/// The longest id or name an event may carry (`contact_id`, `queue`, `to_queue`,
/// `agent_id`, `team`, `customer_id`, `topic`, `segment`, `reason`, each of `queues`), in
/// characters: the limit the contract sets for `id`. Names become labels, map keys and
/// parts of every answer, so one long name must not cost more than a short one does.
pub const MAX_NAME_CHARS: usize = 128;

/// The most queues one `agent.state` may list: each becomes a series of agents by
/// queue and state, so an unbounded list would be an unbounded cost of one event.
pub const MAX_AGENT_QUEUES: usize = 64;

/// The channel of a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A phone call.
    Voice,
    /// A chat conversation.
    Chat,
    /// An email or ticket.
    Email,
}

impl Channel {
    /// All channels, in their display order.
    pub const ALL: [Channel; 3] = [Channel::Voice, Channel::Chat, Channel::Email];

    /// The wire name: `voice`, `chat`, `email`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "voice" => Some(Channel::Voice),
            "chat" => Some(Channel::Chat),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agent's state, from `agent.state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Ready to take a contact.
    Available,
    /// Handling a contact.
    Busy,
    /// In after-contact work.
    Acw,
    /// Logged in but not taking contacts.
    Away,
    /// Logged out.
    Offline,
}

impl AgentState {
    /// All states, in display order.
    pub const ALL: [AgentState; 5] = [
        AgentState::Available,
        AgentState::Busy,
        AgentState::Acw,
        AgentState::Away,
        AgentState::Offline,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Available => "available",
            AgentState::Busy => "busy",
            AgentState::Acw => "acw",
            AgentState::Away => "away",
            AgentState::Offline => "offline",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        AgentState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The scale of a CSAT answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsatScale {
    /// 0 = thumbs down, 1 = thumbs up.
    Thumbs,
    /// 1..5 stars; 4 and 5 are satisfied.
    Five,
}

/// What a survey asks: customer satisfaction or the net promoter score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurveyKind {
    /// `survey.csat`.
    Csat,
    /// `survey.nps`.
    Nps,
}

impl SurveyKind {
    /// Both kinds, in display order.
    pub const ALL: [SurveyKind; 2] = [SurveyKind::Csat, SurveyKind::Nps];

    /// The wire name: `csat`, `nps`.
    pub fn as_str(self) -> &'static str {
        match self {
            SurveyKind::Csat => "csat",
            SurveyKind::Nps => "nps",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        SurveyKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// 0 for CSAT, 1 for NPS: an index into per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A validated event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// The producer's unique id of this event.
    pub id: Cow<'a, str>,
    /// Event time, epoch milliseconds.
    pub ts: Millis,
    /// What happened.
    pub body: Body<'a>,
}

/// The queues of an `agent.state`: inline up to four, so that the common event
/// allocates nothing (a heap `Vec` here cost an allocation and a free for two events
/// in five).
pub type QueueNames<'a> = SmallVec<[Cow<'a, str>; 4]>;

/// The type-specific part of an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Body<'a> {
    /// `contact.offered`.
    Offered {
        /// The contact.
        contact_id: Cow<'a, str>,
        /// Its channel.
        channel: Channel,
        /// The queue it entered.
        queue: Cow<'a, str>,
        /// The customer, when known.
        customer_id: Option<Cow<'a, str>>,
        /// The subject of the request.
        topic: Option<Cow<'a, str>>,
        /// The customer's service tier.
        segment: Option<Cow<'a, str>>,
        /// The producer's answer to "is this a repeat contact?".
        repeat: Option<bool>,
    },
    /// `contact.answered`.
    Answered {
        /// The contact.
        contact_id: Cow<'a, str>,
        /// The agent who took it.
        agent_id: Cow<'a, str>,
        /// Channel, for attribution when the offer was never seen.
        channel: Option<Channel>,
        /// Queue, for attribution when the offer was never seen.
        queue: Option<Cow<'a, str>>,
    },
    /// `contact.abandoned`.
    Abandoned {
        /// The contact.
        contact_id: Cow<'a, str>,
        /// Channel, for attribution when the offer was never seen.
        channel: Option<Channel>,
        /// Queue, for attribution when the offer was never seen.
        queue: Option<Cow<'a, str>>,
    },
    /// `contact.flowed_out` (contract 1.1): the contact left the queue without an agent,
    /// and not because the customer gave up.
    FlowedOut {
        /// The contact.
        contact_id: Cow<'a, str>,
        /// Why, when the producer says (`timeout`, `exit_key`, `queue_empty`,
        /// `overflow`, or another word).
        reason: Option<Cow<'a, str>>,
        /// Channel, for attribution when the offer was never seen.
        channel: Option<Channel>,
        /// Queue, for attribution when the offer was never seen.
        queue: Option<Cow<'a, str>>,
    },
    /// `contact.hold_started`.
    HoldStarted {
        /// The contact.
        contact_id: Cow<'a, str>,
    },
    /// `contact.hold_ended`.
    HoldEnded {
        /// The contact.
        contact_id: Cow<'a, str>,
    },
    /// `contact.transferred`.
    Transferred {
        /// The contact.
        contact_id: Cow<'a, str>,
        /// The queue it is offered to now.
        to_queue: Cow<'a, str>,
    },
    /// `contact.ended`.
    Ended {
        /// The contact.
        contact_id: Cow<'a, str>,
        /// Whether the request was resolved, when the producer knows.
        resolved: Option<bool>,
    },
    /// `contact.wrapped_up`.
    WrappedUp {
        /// The contact.
        contact_id: Cow<'a, str>,
    },
    /// `survey.csat` or `survey.nps`.
    Survey {
        /// What was asked and answered.
        answer: SurveyAnswer,
        /// The contact it is about (transactional), or none (relationship).
        contact_id: Option<Cow<'a, str>>,
        /// Explicit channel attribution.
        channel: Option<Channel>,
        /// Explicit queue attribution.
        queue: Option<Cow<'a, str>>,
        /// Explicit agent attribution.
        agent_id: Option<Cow<'a, str>>,
    },
    /// `survey.sent` (contract 1.1): a survey was sent to the customer about a contact.
    SurveySent {
        /// The contact it is about.
        contact_id: Cow<'a, str>,
        /// CSAT or NPS.
        kind: SurveyKind,
        /// Explicit channel attribution.
        channel: Option<Channel>,
        /// Explicit queue attribution.
        queue: Option<Cow<'a, str>>,
        /// Explicit agent attribution.
        agent_id: Option<Cow<'a, str>>,
    },
    /// `agent.state`.
    AgentState {
        /// The agent.
        agent_id: Cow<'a, str>,
        /// The new state.
        state: AgentState,
        /// The agent's team, when given.
        team: Option<Cow<'a, str>>,
        /// The queues the agent serves, when given.
        queues: Option<QueueNames<'a>>,
    },
}

/// A survey answer, validated against its scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SurveyAnswer {
    /// A CSAT answer.
    Csat {
        /// The score on its scale.
        score: u8,
        /// The scale.
        scale: CsatScale,
    },
    /// An NPS answer, 0..10.
    Nps {
        /// The score.
        score: u8,
    },
}

impl SurveyAnswer {
    /// Which kind of survey it answers.
    pub fn kind(self) -> SurveyKind {
        match self {
            SurveyAnswer::Csat { .. } => SurveyKind::Csat,
            SurveyAnswer::Nps { .. } => SurveyKind::Nps,
        }
    }
}

impl Event<'_> {
    /// The contact this event belongs to, if any.
    pub fn contact_id(&self) -> Option<&str> {
        match &self.body {
            Body::Offered { contact_id, .. }
            | Body::Answered { contact_id, .. }
            | Body::Abandoned { contact_id, .. }
            | Body::FlowedOut { contact_id, .. }
            | Body::HoldStarted { contact_id }
            | Body::HoldEnded { contact_id }
            | Body::Transferred { contact_id, .. }
            | Body::Ended { contact_id, .. }
            | Body::WrappedUp { contact_id }
            | Body::SurveySent { contact_id, .. } => Some(contact_id),
            Body::Survey { contact_id, .. } => contact_id.as_deref(),
            Body::AgentState { .. } => None,
        }
    }

    /// The wire name of this event's type.
    pub fn type_name(&self) -> &'static str {
        match &self.body {
            Body::Offered { .. } => "contact.offered",
            Body::Answered { .. } => "contact.answered",
            Body::Abandoned { .. } => "contact.abandoned",
            Body::FlowedOut { .. } => "contact.flowed_out",
            Body::HoldStarted { .. } => "contact.hold_started",
            Body::HoldEnded { .. } => "contact.hold_ended",
            Body::Transferred { .. } => "contact.transferred",
            Body::Ended { .. } => "contact.ended",
            Body::WrappedUp { .. } => "contact.wrapped_up",
            Body::Survey {
                answer: SurveyAnswer::Csat { .. },
                ..
            } => "survey.csat",
            Body::Survey {
                answer: SurveyAnswer::Nps { .. },
                ..
            } => "survey.nps",
            Body::SurveySent { .. } => "survey.sent",
            Body::AgentState { .. } => "agent.state",
        }
    }
}

mod scan;

/// `ts` as written: epoch milliseconds or an RFC 3339 string.
#[derive(Debug, PartialEq)]
enum RawTs<'a> {
    Millis(i64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawTs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 string or integer epoch milliseconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawTs::Millis(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(RawTs::Millis)
                    .map_err(|_| E::custom("epoch milliseconds out of range"))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawTs::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawTs::Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(V)
    }
}

/// The JSON object as it arrives; every field optional so that validation, not serde,
/// says what is missing.
#[derive(Deserialize, Debug, Default, PartialEq)]
struct RawEvent<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<RawTs<'a>>,
    #[serde(borrow)]
    contact_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow)]
    queue: Option<Cow<'a, str>>,
    #[serde(borrow)]
    customer_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    topic: Option<Cow<'a, str>>,
    #[serde(borrow)]
    segment: Option<Cow<'a, str>>,
    repeat: Option<bool>,
    #[serde(borrow)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    to_queue: Option<Cow<'a, str>>,
    resolved: Option<bool>,
    score: Option<i64>,
    #[serde(borrow)]
    scale: Option<Cow<'a, str>>,
    #[serde(borrow)]
    state: Option<Cow<'a, str>>,
    #[serde(borrow)]
    team: Option<Cow<'a, str>>,
    #[serde(borrow)]
    queues: Option<QueueNames<'a>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    /// `kind` of a `survey.sent` (`type` is `kind` above).
    #[serde(rename = "kind", borrow)]
    survey_kind: Option<Cow<'a, str>>,
}

/// The value of a required field, or the error that names it.
// Lazily: an eager `ok_or(EventError::…)` dropped an unused error for every field
// read (about 100 instructions per message under callgrind).
#[allow(clippy::unnecessary_lazy_evaluations)]
fn required<T>(v: Option<T>, field: &'static str) -> Result<T, EventError> {
    v.ok_or_else(|| EventError::MissingField(field))
}

fn channel_of(v: Option<Cow<'_, str>>) -> Result<Option<Channel>, EventError> {
    match v {
        None => Ok(None),
        Some(s) => Channel::parse(&s)
            .map(Some)
            .ok_or_else(|| EventError::UnknownChannel(s.into_owned())),
    }
}

/// The event time of an event without validating the rest (for ordering a replay);
/// `None` when `ts` is absent or unparsable.
pub fn peek_ts(bytes: &[u8]) -> Option<Millis> {
    #[derive(Deserialize)]
    struct TsOnly<'a> {
        #[serde(borrow)]
        ts: Option<RawTs<'a>>,
    }
    match serde_json::from_slice::<TsOnly<'_>>(bytes).ok()?.ts? {
        RawTs::Millis(ms) => Some(ms),
        RawTs::Text(s) => parse_rfc3339(&s),
    }
}

/// Parses and validates one event. `now_wall` is the wall clock, used only to reject
/// events more than [`MAX_FUTURE`] ahead of it.
pub fn parse_event(bytes: &[u8], now_wall: Millis) -> Result<Event<'_>, EventError> {
    // serde would read a JSON array into the struct by position; the contract wants an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => EventError::NotAnObject("expected {...}".into()),
            Err(e) => EventError::Json(e.to_string()),
        });
    }
    // One UTF-8 check of the whole message is cheaper than serde_json's per string.
    let text = std::str::from_utf8(bytes).map_err(|e| EventError::Json(format!("invalid UTF-8: {e}")))?;
    parse_checked(text, now_wall)
}

/// [`parse_event`] of a message already known to be UTF-8: the same result, without
/// checking the bytes again (a replay checks a whole file at once).
pub fn parse_event_str(text: &str, now_wall: Millis) -> Result<Event<'_>, EventError> {
    if text.bytes().find(|b| !b.is_ascii_whitespace()) != Some(b'{') {
        return parse_event(text.as_bytes(), now_wall);
    }
    parse_checked(text, now_wall)
}

/// Parses a message that starts with `{` and is UTF-8.
fn parse_checked(text: &str, now_wall: Millis) -> Result<Event<'_>, EventError> {
    // The fast path reads the common shape of a message; serde_json reads the rest.
    // Read in place: the raw event is large, and moving it cost three copies.
    let mut raw = RawEvent::default();
    if scan::scan(text, &mut raw).is_none() {
        raw = match serde_json::from_str(text) {
            Ok(raw) => raw,
            Err(e) => return Err(describe_json_error(text.as_bytes(), e)),
        };
    }
    validate(&mut raw, now_wall)
}

/// Turns serde's error into one that names the field, by parsing again with a path
/// tracker. Only runs for invalid input.
fn describe_json_error(bytes: &[u8], first: serde_json::Error) -> EventError {
    if first.is_syntax() || first.is_eof() {
        return EventError::Json(first.to_string());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, RawEvent<'_>>(&mut de) {
        Ok(_) => EventError::Json(first.to_string()),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                EventError::NotAnObject(strip_position(&inner.to_string()))
            } else {
                EventError::WrongType {
                    field: path,
                    problem: strip_position(&inner.to_string()),
                }
            }
        }
    }
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn validate<'a>(raw: &mut RawEvent<'a>, now_wall: Millis) -> Result<Event<'a>, EventError> {
    let id = required(raw.id.take(), "id")?;
    // Characters are counted only when the bytes could be too many.
    if id.is_empty() || (id.len() > MAX_NAME_CHARS && id.chars().count() > MAX_NAME_CHARS) {
        return Err(EventError::BadId(id.chars().count()));
    }
    let kind = required(raw.kind.take(), "type")?;
    let ts = match required(raw.ts.take(), "ts")? {
        RawTs::Millis(ms) => {
            if jiff::Timestamp::from_millisecond(ms).is_err() {
                return Err(EventError::BadTs(ms.to_string()));
            }
            ms
        }
        RawTs::Text(s) => parse_rfc3339(&s).ok_or_else(|| EventError::BadTs(s.into_owned()))?,
    };
    if ts > now_wall + MAX_FUTURE {
        return Err(EventError::Future {
            ts: crate::time::format_rfc3339(ts),
            ahead: human_delta(ts - now_wall),
        });
    }
    let body = match kind.as_ref() {
        "contact.offered" => Body::Offered {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
            channel: required(channel_of(raw.channel.take())?, "channel")?,
            queue: required(raw.queue.take(), "queue")?,
            customer_id: raw.customer_id.take(),
            topic: raw.topic.take(),
            segment: raw.segment.take(),
            repeat: raw.repeat.take(),
        },
        "contact.answered" => Body::Answered {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
            agent_id: required(raw.agent_id.take(), "agent_id")?,
            channel: channel_of(raw.channel.take())?,
            queue: raw.queue.take(),
        },
        "contact.abandoned" => Body::Abandoned {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
            channel: channel_of(raw.channel.take())?,
            queue: raw.queue.take(),
        },
        "contact.flowed_out" => Body::FlowedOut {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
            reason: raw.reason.take(),
            channel: channel_of(raw.channel.take())?,
            queue: raw.queue.take(),
        },
        "contact.hold_started" => Body::HoldStarted {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
        },
        "contact.hold_ended" => Body::HoldEnded {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
        },
        "contact.transferred" => Body::Transferred {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
            to_queue: required(raw.to_queue.take(), "to_queue")?,
        },
        "contact.ended" => Body::Ended {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
            resolved: raw.resolved.take(),
        },
        "contact.wrapped_up" => Body::WrappedUp {
            contact_id: required(raw.contact_id.take(), "contact_id")?,
        },
        "survey.csat" => {
            let score = required(raw.score.take(), "score")?;
            let scale = match required(raw.scale.take(), "scale")?.as_ref() {
                "thumbs" => CsatScale::Thumbs,
                "five" => CsatScale::Five,
                other => return Err(EventError::UnknownScale(other.to_owned())),
            };
            let (lo, hi, name) = match scale {
                CsatScale::Thumbs => (0, 1, "thumbs"),
                CsatScale::Five => (1, 5, "five"),
            };
            if !(lo..=hi).contains(&score) {
                return Err(EventError::ScoreOutOfRange {
                    score,
                    range: format!("{lo}..{hi}"),
                    kind: format!("survey.csat (scale {name})"),
                });
            }
            Body::Survey {
                answer: SurveyAnswer::Csat {
                    score: score as u8,
                    scale,
                },
                contact_id: raw.contact_id.take(),
                channel: channel_of(raw.channel.take())?,
                queue: raw.queue.take(),
                agent_id: raw.agent_id.take(),
            }
        }
        "survey.nps" => {
            let score = required(raw.score.take(), "score")?;
            if !(0..=10).contains(&score) {
                return Err(EventError::ScoreOutOfRange {
                    score,
                    range: "0..10".into(),
                    kind: "survey.nps".into(),
                });
            }
            Body::Survey {
                answer: SurveyAnswer::Nps { score: score as u8 },
                contact_id: raw.contact_id.take(),
                channel: channel_of(raw.channel.take())?,
                queue: raw.queue.take(),
                agent_id: raw.agent_id.take(),
            }
        }
        "survey.sent" => {
            let contact_id = required(raw.contact_id.take(), "contact_id")?;
            let kind = required(raw.survey_kind.take(), "kind")?;
            Body::SurveySent {
                contact_id,
                kind: SurveyKind::parse(&kind).ok_or_else(|| EventError::UnknownSurveyKind(kind.into_owned()))?,
                channel: channel_of(raw.channel.take())?,
                queue: raw.queue.take(),
                agent_id: raw.agent_id.take(),
            }
        }
        "agent.state" => {
            let state = required(raw.state.take(), "state")?;
            Body::AgentState {
                agent_id: required(raw.agent_id.take(), "agent_id")?,
                state: AgentState::parse(&state).ok_or_else(|| EventError::UnknownState(state.into_owned()))?,
                team: raw.team.take(),
                queues: raw.queues.take(),
            }
        }
        other => return Err(EventError::UnknownType(other.to_owned())),
    };
    check_names(&body)?;
    Ok(Event { id, ts, body })
}

/// Refuses names longer than [`MAX_NAME_CHARS`] and agent queue lists longer than
/// [`MAX_AGENT_QUEUES`].
fn check_names(body: &Body<'_>) -> Result<(), EventError> {
    fn name(field: &'static str, v: &str) -> Result<(), EventError> {
        // Characters are counted only when the bytes could be too many.
        if v.len() > MAX_NAME_CHARS {
            let chars = v.chars().count();
            if chars > MAX_NAME_CHARS {
                return Err(EventError::TooLong {
                    field,
                    chars,
                    max: MAX_NAME_CHARS,
                });
            }
        }
        Ok(())
    }
    fn opt(field: &'static str, v: &Option<Cow<'_, str>>) -> Result<(), EventError> {
        v.as_deref().map_or(Ok(()), |v| name(field, v))
    }
    match body {
        Body::Offered {
            contact_id,
            queue,
            customer_id,
            topic,
            segment,
            ..
        } => {
            name("contact_id", contact_id)?;
            name("queue", queue)?;
            opt("customer_id", customer_id)?;
            opt("topic", topic)?;
            opt("segment", segment)
        }
        Body::Answered {
            contact_id,
            agent_id,
            queue,
            ..
        } => {
            name("contact_id", contact_id)?;
            name("agent_id", agent_id)?;
            opt("queue", queue)
        }
        Body::Abandoned { contact_id, queue, .. } => {
            name("contact_id", contact_id)?;
            opt("queue", queue)
        }
        Body::FlowedOut {
            contact_id,
            reason,
            queue,
            ..
        } => {
            name("contact_id", contact_id)?;
            opt("reason", reason)?;
            opt("queue", queue)
        }
        Body::HoldStarted { contact_id }
        | Body::HoldEnded { contact_id }
        | Body::Ended { contact_id, .. }
        | Body::WrappedUp { contact_id } => name("contact_id", contact_id),
        Body::Transferred { contact_id, to_queue } => {
            name("contact_id", contact_id)?;
            name("to_queue", to_queue)
        }
        Body::Survey {
            contact_id,
            queue,
            agent_id,
            ..
        } => {
            opt("contact_id", contact_id)?;
            opt("queue", queue)?;
            opt("agent_id", agent_id)
        }
        Body::SurveySent {
            contact_id,
            queue,
            agent_id,
            ..
        } => {
            name("contact_id", contact_id)?;
            opt("queue", queue)?;
            opt("agent_id", agent_id)
        }
        Body::AgentState {
            agent_id, team, queues, ..
        } => {
            name("agent_id", agent_id)?;
            opt("team", team)?;
            if let Some(qs) = queues {
                if qs.len() > MAX_AGENT_QUEUES {
                    return Err(EventError::TooManyQueues {
                        count: qs.len(),
                        max: MAX_AGENT_QUEUES,
                    });
                }
                for q in qs {
                    name("queues", q)?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn now() -> Millis {
        parse_rfc3339("2026-11-22T09:00:00Z").unwrap()
    }

    fn err(json: &str) -> String {
        parse_event(json.as_bytes(), now()).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_example_offer() {
        let ev = parse_event(
            br#"{"id":"e1","type":"contact.offered","ts":"2026-11-22T09:00:00Z","contact_id":"c1","channel":"voice","queue":"billing","customer_id":"k42","topic":"invoice","segment":"gold","extra":{"x":1}}"#,
            now(),
        )
        .unwrap();
        assert_eq!(ev.id, "e1");
        assert_eq!(ev.ts, now());
        match ev.body {
            Body::Offered {
                channel,
                queue,
                segment,
                repeat,
                ..
            } => {
                assert_eq!(channel, Channel::Voice);
                assert_eq!(queue, "billing");
                assert_eq!(segment.as_deref(), Some("gold"));
                assert_eq!(repeat, None);
            }
            other => panic!("wrong body {other:?}"),
        }
    }

    #[test]
    fn epoch_millis_and_offsets_agree() {
        let a = parse_event(
            br#"{"id":"a","type":"contact.wrapped_up","ts":1795330800000,"contact_id":"c"}"#,
            now(),
        )
        .unwrap();
        let b = parse_event(
            br#"{"id":"b","type":"contact.wrapped_up","ts":"2026-11-22T08:00:00+01:00","contact_id":"c"}"#,
            now(),
        )
        .unwrap();
        assert_eq!(a.ts, b.ts);
    }

    #[test]
    fn escaped_strings_are_owned() {
        let ev = parse_event(
            br#"{"id":"e\u00e9","type":"contact.hold_started","ts":0,"contact_id":"c\"1"}"#,
            now(),
        )
        .unwrap();
        assert_eq!(ev.id, "eé");
        assert_eq!(ev.contact_id(), Some("c\"1"));
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        assert_eq!(
            err(r#"{"id":"e","type":"contact.answered","ts":0,"agent_id":"a"}"#),
            r#"missing field "contact_id""#
        );
        assert_eq!(
            err(r#"{"id":"e","type":"survey.nps","ts":0,"score":11}"#),
            "score 11 out of range 0..10 for survey.nps"
        );
        assert_eq!(
            err(r#"{"id":"e","type":"survey.csat","ts":0,"score":0,"scale":"five"}"#),
            "score 0 out of range 1..5 for survey.csat (scale five)"
        );
        assert_eq!(
            err(r#"{"id":"e","type":"contact.wrapped_up","ts":"2026-11-22T12:00:00Z","contact_id":"c"}"#),
            "ts 2026-11-22T12:00:00Z is 3h in the future"
        );
        assert_eq!(
            err(r#"{"id":"e","type":"contact.lost","ts":0}"#),
            r#"unknown type "contact.lost""#
        );
        assert_eq!(
            err(r#"{"id":"e","type":"contact.offered","ts":0,"contact_id":"c","channel":"fax","queue":"q"}"#),
            r#"unknown channel "fax""#
        );
        assert_eq!(
            err(r#"{"id":"e","type":"contact.ended","ts":"noon","contact_id":"c"}"#),
            r#"unparsable ts "noon""#
        );
        assert!(err(r#"{"id":"e","type":"contact.ended","ts":0,"contact_id":5}"#)
            .starts_with(r#"wrong type for field "contact_id": invalid type: integer `5`"#));
        assert!(
            err(r#"{"id":"e","type":"survey.nps","ts":0,"score":"9"}"#).starts_with(r#"wrong type for field "score""#)
        );
        assert!(
            err(r#"{"id":"e","type":"survey.nps","ts":0,"score":9.5}"#).starts_with(r#"wrong type for field "score""#)
        );
        assert!(err(r#"{"id":"e","type":"contact.ended","ts":true,"contact_id":"c"}"#)
            .starts_with(r#"wrong type for field "ts""#));
        assert_eq!(
            err(r#"{"type":"contact.ended","ts":0,"contact_id":"c"}"#),
            r#"missing field "id""#
        );
        assert_eq!(
            err(r#"{"id":"","type":"contact.ended","ts":0,"contact_id":"c"}"#),
            "id must be 1..128 characters, got 0"
        );
        let with_id = |id: &str| format!(r#"{{"id":"{id}","type":"contact.ended","ts":0,"contact_id":"c"}}"#);
        assert_eq!(err(&with_id(&"é".repeat(129))), "id must be 1..128 characters, got 129");
        assert!(
            parse_event(with_id(&"é".repeat(128)).as_bytes(), now()).is_ok(),
            "128 characters (256 bytes) are allowed"
        );
        let long = "q".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            err(&format!(
                r#"{{"id":"e","type":"contact.offered","ts":0,"contact_id":"c","channel":"voice","queue":"{long}"}}"#
            )),
            "field \"queue\" must be at most 128 characters, got 129"
        );
        assert_eq!(
            err(&format!(
                r#"{{"id":"e","type":"agent.state","ts":0,"agent_id":"a","state":"busy","queues":["x","{long}"]}}"#
            )),
            "field \"queues\" must be at most 128 characters, got 129"
        );
        let many: Vec<String> = (0..=MAX_AGENT_QUEUES).map(|i| format!("\"q{i}\"")).collect();
        assert_eq!(
            err(&format!(
                r#"{{"id":"e","type":"agent.state","ts":0,"agent_id":"a","state":"busy","queues":[{}]}}"#,
                many.join(",")
            )),
            "an agent.state may list at most 64 queues, got 65"
        );
        assert!(
            parse_event(
                format!(
                    r#"{{"id":"e","type":"contact.offered","ts":0,"contact_id":"c","channel":"voice","queue":"{}"}}"#,
                    "é".repeat(MAX_NAME_CHARS)
                )
                .as_bytes(),
                now()
            )
            .is_ok(),
            "128 characters of two bytes each are allowed"
        );
        assert!(err(r#"[1,2]"#).starts_with("event is not a JSON object"));
        assert!(err(r#"{"id":"e""#).starts_with("invalid JSON"));
        assert_eq!(
            err(r#"{"id":"e","type":"agent.state","ts":0,"agent_id":"a","state":"lunch"}"#),
            r#"unknown agent state "lunch""#
        );
    }

    #[test]
    fn five_minutes_ahead_is_still_valid() {
        let at = now() + MAX_FUTURE;
        let json = format!(r#"{{"id":"e","type":"contact.wrapped_up","ts":{at},"contact_id":"c"}}"#);
        assert!(parse_event(json.as_bytes(), now()).is_ok());
        let json = format!(
            r#"{{"id":"e","type":"contact.wrapped_up","ts":{},"contact_id":"c"}}"#,
            at + 1
        );
        assert!(parse_event(json.as_bytes(), now()).is_err());
    }

    #[test]
    fn flow_outs_parse_with_and_without_their_optional_fields() {
        let ev = parse_event(
            br#"{"id":"f1","type":"contact.flowed_out","ts":0,"contact_id":"c1","reason":"timeout","channel":"voice","queue":"billing"}"#,
            now(),
        )
        .unwrap();
        assert_eq!(ev.type_name(), "contact.flowed_out");
        assert_eq!(ev.contact_id(), Some("c1"));
        match ev.body {
            Body::FlowedOut {
                reason, channel, queue, ..
            } => {
                assert_eq!(reason.as_deref(), Some("timeout"));
                assert_eq!(channel, Some(Channel::Voice));
                assert_eq!(queue.as_deref(), Some("billing"));
            }
            other => panic!("wrong body {other:?}"),
        }
        // The same through serde (an escape sends it off the fast path).
        let ev = parse_event(
            br#"{"id":"f\u0032","type":"contact.flowed_out","ts":0,"contact_id":"c1","reason":"exit_key"}"#,
            now(),
        )
        .unwrap();
        assert!(
            matches!(ev.body, Body::FlowedOut { reason: Some(ref r), channel: None, queue: None, .. } if r == "exit_key")
        );
        assert_eq!(
            err(r#"{"id":"f","type":"contact.flowed_out","ts":0,"reason":"timeout"}"#),
            r#"missing field "contact_id""#
        );
        assert_eq!(
            err(&format!(
                r#"{{"id":"f","type":"contact.flowed_out","ts":0,"contact_id":"c","reason":"{}"}}"#,
                "r".repeat(MAX_NAME_CHARS + 1)
            )),
            "field \"reason\" must be at most 128 characters, got 129"
        );
        assert_eq!(
            err(r#"{"id":"f","type":"contact.flowed_out","ts":0,"contact_id":"c","channel":"fax"}"#),
            r#"unknown channel "fax""#
        );
    }

    #[test]
    fn survey_sent_parses_and_is_validated() {
        let ev = parse_event(
            br#"{"id":"s1","type":"survey.sent","ts":0,"contact_id":"c1","kind":"nps","channel":"chat","queue":"q","agent_id":"a"}"#,
            now(),
        )
        .unwrap();
        assert_eq!((ev.type_name(), ev.contact_id()), ("survey.sent", Some("c1")));
        assert!(matches!(
            ev.body,
            Body::SurveySent { kind: SurveyKind::Nps, channel: Some(Channel::Chat), queue: Some(ref q), agent_id: Some(ref a), .. }
                if q == "q" && a == "a"
        ));
        // Off the fast path (an escape), the same.
        let ev = parse_event(
            br#"{"id":"s2","type":"survey.sent","ts":0,"contact_id":"c1","kind":"csat"}"#,
            now(),
        )
        .unwrap();
        assert!(matches!(
            ev.body,
            Body::SurveySent {
                kind: SurveyKind::Csat,
                channel: None,
                ..
            }
        ));
        assert_eq!(
            err(r#"{"id":"s","type":"survey.sent","ts":0,"kind":"csat"}"#),
            r#"missing field "contact_id""#
        );
        assert_eq!(
            err(r#"{"id":"s","type":"survey.sent","ts":0,"contact_id":"c"}"#),
            r#"missing field "kind""#
        );
        assert_eq!(
            err(r#"{"id":"s","type":"survey.sent","ts":0,"contact_id":"c","kind":"ces"}"#),
            r#"unknown survey kind "ces" (expected "csat" or "nps")"#
        );
        assert_eq!(
            err(r#"{"id":"s","type":"survey.sent","ts":0,"contact_id":"c","kind":"nps","channel":"fax"}"#),
            r#"unknown channel "fax""#
        );
        assert!(
            err(r#"{"id":"s","type":"survey.sent","ts":0,"contact_id":"c","kind":5}"#)
                .starts_with(r#"wrong type for field "kind""#)
        );
        assert_eq!(
            err(&format!(
                r#"{{"id":"s","type":"survey.sent","ts":0,"contact_id":"c","kind":"nps","agent_id":"{}"}}"#,
                "a".repeat(MAX_NAME_CHARS + 1)
            )),
            "field \"agent_id\" must be at most 128 characters, got 129"
        );
    }

    #[test]
    fn agent_state_with_queues() {
        let ev = parse_event(br#"{"id":"e","type":"agent.state","ts":0,"agent_id":"a1","state":"acw","team":"t1","queues":["billing","tech"]}"#, now()).unwrap();
        match ev.body {
            Body::AgentState {
                state, team, queues, ..
            } => {
                assert_eq!(state, AgentState::Acw);
                assert_eq!(team.as_deref(), Some("t1"));
                assert_eq!(queues.unwrap().len(), 2);
            }
            other => panic!("wrong body {other:?}"),
        }
    }
}
