//! Errors of the core crate: invalid events and invalid configuration.

use thiserror::Error;

/// Why an event was rejected. The message names the field and the problem; it is what
/// goes into the dead-letter topic and the `replay` error report.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EventError {
    /// The bytes are not JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The JSON value is not an object.
    #[error("event is not a JSON object: {0}")]
    NotAnObject(String),
    /// A required field is absent (or `null`).
    #[error("missing field {0:?}")]
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    #[error("wrong type for field {field:?}: {problem}")]
    WrongType {
        /// The field's path.
        field: String,
        /// serde's description of the mismatch.
        problem: String,
    },
    /// `id` is empty or longer than 128 characters.
    #[error("id must be 1..128 characters, got {0}")]
    BadId(usize),
    /// A name or id field (`contact_id`, `queue`, `agent_id`, …) is longer than
    /// [`MAX_NAME_CHARS`](crate::event::MAX_NAME_CHARS) characters.
    #[error("field {field:?} must be at most {max} characters, got {chars}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// An `agent.state` lists more queues than
    /// [`MAX_AGENT_QUEUES`](crate::event::MAX_AGENT_QUEUES).
    #[error("an agent.state may list at most {max} queues, got {count}")]
    TooManyQueues {
        /// How many it lists.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `type` is not one of the contract's types.
    #[error("unknown type {0:?}")]
    UnknownType(String),
    /// `channel` is not `voice`, `chat` or `email`.
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    /// `scale` is not `thumbs` or `five`.
    #[error("unknown scale {0:?} (expected \"thumbs\" or \"five\")")]
    UnknownScale(String),
    /// `kind` of a `survey.sent` is not `csat` or `nps`.
    #[error("unknown survey kind {0:?} (expected \"csat\" or \"nps\")")]
    UnknownSurveyKind(String),
    /// `state` is not an agent state of the contract.
    #[error("unknown agent state {0:?}")]
    UnknownState(String),
    /// `ts` is neither RFC 3339 with an offset nor epoch milliseconds in range.
    #[error("unparsable ts {0:?}")]
    BadTs(String),
    /// `ts` is more than 5 minutes ahead of the wall clock.
    #[error("ts {ts} is {ahead} in the future")]
    Future {
        /// The event's time.
        ts: String,
        /// How far ahead of the wall clock it is.
        ahead: String,
    },
    /// A survey score outside its scale.
    #[error("score {score} out of range {range} for {kind}")]
    ScoreOutOfRange {
        /// The score given.
        score: i64,
        /// The allowed range.
        range: String,
        /// The survey type (and scale).
        kind: String,
    },
}

impl EventError {
    /// A short, stable label for metrics and DLQ headers (`missing_field`, `future_ts`, …).
    pub fn reason(&self) -> &'static str {
        match self {
            EventError::Json(_) => "invalid_json",
            EventError::NotAnObject(_) => "not_an_object",
            EventError::MissingField(_) => "missing_field",
            EventError::WrongType { .. } => "wrong_type",
            EventError::BadId(_) => "bad_id",
            EventError::TooLong { .. } => "too_long",
            EventError::TooManyQueues { .. } => "too_many_queues",
            EventError::UnknownType(_) => "unknown_type",
            EventError::UnknownChannel(_) => "unknown_channel",
            EventError::UnknownScale(_) => "unknown_scale",
            EventError::UnknownSurveyKind(_) => "unknown_kind",
            EventError::UnknownState(_) => "unknown_state",
            EventError::BadTs(_) => "bad_ts",
            EventError::Future { .. } => "future_ts",
            EventError::ScoreOutOfRange { .. } => "score_out_of_range",
        }
    }

    /// Every reason label, for pre-registering metrics.
    pub const REASONS: [&'static str; 15] = [
        "invalid_json",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "bad_id",
        "too_long",
        "too_many_queues",
        "unknown_type",
        "unknown_channel",
        "unknown_scale",
        "unknown_kind",
        "unknown_state",
        "bad_ts",
        "future_ts",
        "score_out_of_range",
    ];
}

/// A configuration file that cannot be used. The message names the line and the field.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// TOML syntax, an unknown key, or a value of the wrong type.
    #[error("{0}")]
    Toml(String),
    /// A value that parses but makes no sense (with the field's path).
    #[error("invalid value for {field}: {problem}")]
    Invalid {
        /// The dotted path of the field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// A partial record from another instance that cannot be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    /// It does not start with the partials' magic bytes.
    #[error("not a ccpulse partial record")]
    NotAPartial,
    /// It was written by a version of the encoding this build does not read.
    #[error("partial record of encoding version {0}; this build reads version {1}")]
    Version(u8, u8),
    /// Its body does not decode.
    #[error("undecodable partial record: {0}")]
    Body(String),
}
