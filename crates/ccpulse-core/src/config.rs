//! The engine's configuration: the TOML sections it reads, their defaults (those of
//! `spec/kpis.md`), and the validated [`EngineConfig`] the engine runs on.
//!
//! Every section rejects unknown keys. Values are checked while they are deserialized
//! where possible, so that the TOML error carries the line; cross-field checks use
//! [`toml::Spanned`] to point at the line too.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::calendar::{parse_hours, Calendar};
use crate::erlang::Planning;
use crate::error::ConfigError;
use crate::event::Channel;
use crate::policy::{Formula, Measure, Policy};
use crate::time::{Millis, Span, DAY, HOUR, MINUTE, SECOND};

/// `[windows]`: which sliding windows to compute and how time is read.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct WindowsSection {
    /// Sliding window lengths. Default `["5m", "15m", "1h"]`.
    pub sliding: Option<Spanned<Vec<Span>>>,
    /// Slice width. Default: the smallest window / 60. Every window must be a multiple.
    pub slice: Option<Spanned<Span>>,
    /// IANA time zone for `today`. Default `UTC`.
    pub time_zone: Option<Spanned<String>>,
    /// Allowed lateness of out-of-order events. Default `5m`.
    pub lateness: Option<Span>,
    /// Earlier local days whose 15-minute sums are kept for interval reports, besides
    /// today. Default 6 (a week with today).
    pub interval_days: Option<Spanned<i64>>,
}

/// `[contacts]`: contact lifecycle and memory bounds.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct ContactsSection {
    /// How long event ids are remembered for duplicate detection. Default `2h`.
    pub dedupe_horizon: Option<Span>,
    /// A contact with no event for this long is evicted and counted. Per channel;
    /// defaults voice `4h`, chat `8h`, email `7d`.
    pub open_timeout: Option<OpenTimeouts>,
    /// How long a finished contact is remembered so that late surveys can be attributed
    /// to its queue, channel and agent. Default `7d`.
    pub survey_horizon: Option<Span>,
    /// The most contacts one partition holds in full; past it the ones due soonest are
    /// evicted and counted. Default 100 000.
    pub max_open: Option<Spanned<usize>>,
    /// The most finished contacts one partition remembers for late surveys; past it the
    /// oldest are forgotten. Default 1 000 000.
    pub max_remembered: Option<Spanned<usize>>,
}

/// Per-channel eviction time of contacts that never finish.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct OpenTimeouts {
    /// Voice contacts.
    pub voice: Option<Span>,
    /// Chat contacts.
    pub chat: Option<Span>,
    /// Email contacts.
    pub email: Option<Span>,
}

/// `[fcr]`: repeat-contact detection.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct FcrSection {
    /// A contact is a repeat when the same customer asked about the same topic less than
    /// this long before. Default `7d`.
    pub horizon: Option<Span>,
}

/// `[agents]`: the AHT outlier rule.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct AgentsSection {
    /// An agent is an outlier when AHT / team AHT is at least this. Default `1.5`.
    pub outlier_ratio: Option<Spanned<f64>>,
    /// … and the agent handled at least this many contacts in the window. Default `5`.
    pub outlier_min_handled: Option<u64>,
    /// An agent is a service-level outlier when the agent's service level is at least
    /// this many ratio points below the pooled service level of the rest of the team
    /// (0.2 = 20 points). Default `0.2`.
    pub sl_outlier_points: Option<Spanned<f64>>,
    /// … and at least this many of the agent's contacts were judged in the window.
    /// Default `10`.
    pub sl_outlier_min_judged: Option<u64>,
}

/// `[surveys]`: how survey answers are split by when they came.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct SurveysSection {
    /// An answer at most this long after its contact's `ended.ts` is immediate, a later
    /// one later. Default `1h`.
    pub immediate_within: Option<Span>,
}

/// `[staffing]`: what a workforce plan adds to the agents Erlang C asks for.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct StaffingSection {
    /// The share of paid time agents are not available for contacts, 0 ≤ s < 1: the
    /// agents required are divided by (1 − s). Default `0`.
    pub shrinkage: Option<Spanned<f64>>,
    /// The highest occupancy (offered load / agents) agents should run at, 0 < o ≤ 1:
    /// the agents required are raised until load / agents ≤ o. Default: no limit.
    pub max_occupancy: Option<Spanned<f64>>,
}

/// `[sla]`: service-level policies.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct SlaSection {
    /// Keep the built-in per-channel default policies for contacts no configured policy
    /// covers. Default `true`.
    pub defaults: Option<bool>,
    /// The policies.
    #[serde(default)]
    pub policies: Vec<Spanned<PolicySection>>,
}

/// One `[[sla.policies]]` entry.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Name, shown in the API and on alerts.
    pub name: String,
    /// Channel it covers (any when absent).
    pub channel: Option<Channel>,
    /// Queue it covers (any when absent).
    pub queue: Option<String>,
    /// Customer segment it covers (any when absent).
    pub segment: Option<String>,
    /// The threshold T.
    pub threshold: Span,
    /// Target service level, 0..1.
    pub target: Spanned<f64>,
    /// `answer` (default) or `resolve`.
    pub measure: Option<Measure>,
    /// `answered`, `answered_abandoned` (default) or `positive_abandon`.
    pub formula: Option<Formula>,
    /// Abandons with a wait below this are short abandons. Default `5s`.
    pub short_abandon: Option<Span>,
    /// Remove short abandons from numerator and denominator. Default `false`.
    pub exclude_short_abandons: Option<bool>,
    /// Add flow-outs to the denominator (they never meet T). Default `false`.
    pub include_flowouts: Option<bool>,
    /// Smallest denominator that can breach. Default `10`.
    pub min_contacts: Option<u64>,
    /// A breach clears at target + hysteresis. Default `0.02`.
    pub hysteresis: Option<Spanned<f64>>,
    /// Business hours (a `[[calendars]]` name): the threshold counts open time only.
    pub calendar: Option<Spanned<String>>,
}

/// One `[[calendars]]` entry: business hours a policy can name.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct CalendarSection {
    /// Its name.
    pub name: String,
    /// IANA time zone of its hours.
    pub time_zone: Spanned<String>,
    /// Opening hours per weekday: `["09:00-17:00"]`; absent means closed.
    pub monday: Option<Spanned<Vec<String>>>,
    /// Tuesday.
    pub tuesday: Option<Spanned<Vec<String>>>,
    /// Wednesday.
    pub wednesday: Option<Spanned<Vec<String>>>,
    /// Thursday.
    pub thursday: Option<Spanned<Vec<String>>>,
    /// Friday.
    pub friday: Option<Spanned<Vec<String>>>,
    /// Saturday.
    pub saturday: Option<Spanned<Vec<String>>>,
    /// Sunday.
    pub sunday: Option<Spanned<Vec<String>>>,
    /// Dates closed all day: `["2026-12-25"]`.
    pub closed: Option<Spanned<Vec<String>>>,
    /// Dates with their own hours.
    #[serde(default)]
    pub special: Vec<Spanned<SpecialDay>>,
}

/// A `[[calendars.special]]` date.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SpecialDay {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Its opening hours (empty: closed).
    pub hours: Vec<String>,
}

/// The engine's sections of the configuration file, as written.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct EngineSections {
    /// `[windows]`.
    pub windows: Option<WindowsSection>,
    /// `[contacts]`.
    pub contacts: Option<ContactsSection>,
    /// `[fcr]`.
    pub fcr: Option<FcrSection>,
    /// `[agents]`.
    pub agents: Option<AgentsSection>,
    /// `[sla]`.
    pub sla: Option<SlaSection>,
    /// `[[calendars]]`.
    pub calendars: Option<Vec<Spanned<CalendarSection>>>,
    /// `[surveys]`.
    pub surveys: Option<SurveysSection>,
    /// `[staffing]`.
    pub staffing: Option<StaffingSection>,
}

/// A named window the engine computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDef {
    /// Its name in the API (`5m`, `15m`, `1h`).
    pub name: String,
    /// Its length.
    pub span: Millis,
}

/// The validated configuration the engine runs on.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Sliding windows, shortest first.
    pub windows: Vec<WindowDef>,
    /// Slice width; every window is a whole number of slices.
    pub slice: Millis,
    /// Time zone of `today`.
    pub time_zone: jiff::tz::TimeZone,
    /// Allowed lateness.
    pub lateness: Millis,
    /// Earlier local days whose quarters are kept for interval reports, besides today.
    pub interval_days: i64,
    /// How long event ids are remembered.
    pub dedupe_horizon: Millis,
    /// Inactivity after which an unfinished contact is evicted, by channel.
    pub open_timeout: [Millis; 3],
    /// How long a finished contact is remembered for survey attribution.
    pub survey_horizon: Millis,
    /// The most contacts an engine holds in full.
    pub max_open_contacts: usize,
    /// The most finished contacts an engine remembers for survey attribution.
    pub max_remembered_contacts: usize,
    /// FCR repeat horizon.
    pub fcr_horizon: Millis,
    /// SLA policies in priority order (configured first, then defaults).
    pub policies: Vec<Policy>,
    /// Outlier rule: ratio.
    pub outlier_ratio: f64,
    /// Outlier rule: minimum handled.
    pub outlier_min_handled: u64,
    /// Service-level outlier rule: points below the rest of the team (0..1).
    pub sl_outlier_points: f64,
    /// Service-level outlier rule: minimum judged contacts.
    pub sl_outlier_min_judged: u64,
    /// A survey answer at most this long after its contact's end is immediate.
    pub immediate_within: Millis,
    /// Shrinkage and maximum occupancy for the agents required.
    pub staffing: Planning,
}

impl Default for EngineConfig {
    fn default() -> Self {
        // The built-in defaults are valid by construction.
        match EngineConfig::from_sections(&EngineSections::default(), "") {
            Ok(cfg) => cfg,
            Err(e) => unreachable!("built-in defaults are invalid: {e}"),
        }
    }
}

/// The calendars of `[[calendars]]`, checked.
fn calendars(sections: &[Spanned<CalendarSection>], text: &str) -> Result<Vec<std::sync::Arc<Calendar>>, ConfigError> {
    let mut out: Vec<std::sync::Arc<Calendar>> = Vec::new();
    for (i, c) in sections.iter().enumerate() {
        let at = c.span();
        let c = c.get_ref();
        let field = |name: &str| format!("calendars[{i}].{name}");
        if out.iter().any(|o| o.name == c.name) {
            return Err(invalid(
                text,
                Some(at),
                &field("name"),
                format!("duplicate calendar name {:?}", c.name),
            ));
        }
        let time_zone = jiff::tz::TimeZone::get(c.time_zone.get_ref()).map_err(|e| {
            invalid(
                text,
                Some(c.time_zone.span()),
                &field("time_zone"),
                format!("{:?}: {e}", c.time_zone.get_ref()),
            )
        })?;
        let days = [
            ("monday", &c.monday),
            ("tuesday", &c.tuesday),
            ("wednesday", &c.wednesday),
            ("thursday", &c.thursday),
            ("friday", &c.friday),
            ("saturday", &c.saturday),
            ("sunday", &c.sunday),
        ];
        let mut weekly: [crate::calendar::DayHours; 7] = Default::default();
        for (slot, (name, hours)) in weekly.iter_mut().zip(days) {
            if let Some(h) = hours {
                *slot = parse_hours(h.get_ref()).map_err(|e| invalid(text, Some(h.span()), &field(name), e.0))?;
            }
        }
        let date = |s: &str, span: Range<usize>, name: &str| {
            s.parse::<jiff::civil::Date>().map_err(|e| {
                invalid(
                    text,
                    Some(span),
                    &field(name),
                    format!("{s:?} is not a date YYYY-MM-DD: {e}"),
                )
            })
        };
        let mut closed = Vec::new();
        if let Some(list) = &c.closed {
            for d in list.get_ref() {
                closed.push(date(d, list.span(), "closed")?);
            }
        }
        let mut special = std::collections::BTreeMap::new();
        for sp in &c.special {
            let (span, sp) = (sp.span(), sp.get_ref());
            let hours =
                parse_hours(&sp.hours).map_err(|e| invalid(text, Some(span.clone()), &field("special"), e.0))?;
            special.insert(date(&sp.date, span, "special")?, hours);
        }
        out.push(std::sync::Arc::new(Calendar {
            name: c.name.clone(),
            time_zone,
            weekly,
            closed,
            special,
        }));
    }
    Ok(out)
}

/// The line (1-based) of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

fn invalid(text: &str, span: Option<Range<usize>>, field: &str, problem: String) -> ConfigError {
    let field = match span {
        Some(s) if !text.is_empty() => format!("{field} (line {})", line_of(text, s.start)),
        _ => field.to_owned(),
    };
    ConfigError::Invalid { field, problem }
}

fn ratio(v: &Spanned<f64>, text: &str, field: &str, range: Range<f64>) -> Result<f64, ConfigError> {
    let x = *v.get_ref();
    if x.is_finite() && x >= range.start && x <= range.end {
        Ok(x)
    } else {
        Err(invalid(
            text,
            Some(v.span()),
            field,
            format!("{x} is outside {}..{}", range.start, range.end),
        ))
    }
}

impl EngineConfig {
    /// Parses a TOML document holding only the engine's sections.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let sections: EngineSections = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        Self::from_sections(&sections, text)
    }

    /// Validates the sections; `text` is the file they came from, for line numbers.
    pub fn from_sections(s: &EngineSections, text: &str) -> Result<Self, ConfigError> {
        let w = s.windows.clone().unwrap_or(WindowsSection {
            sliding: None,
            slice: None,
            time_zone: None,
            lateness: None,
            interval_days: None,
        });
        let (mut spans, spans_at) = match &w.sliding {
            Some(v) => (
                v.get_ref().iter().map(|s| s.millis()).collect::<Vec<_>>(),
                Some(v.span()),
            ),
            None => (vec![5 * MINUTE, 15 * MINUTE, HOUR], None),
        };
        spans.sort_unstable();
        spans.dedup();
        let Some(&smallest) = spans.first() else {
            return Err(invalid(
                text,
                spans_at,
                "windows.sliding",
                "at least one window is needed".into(),
            ));
        };
        let (slice, slice_at) = match &w.slice {
            Some(v) => (v.get_ref().millis(), Some(v.span())),
            None => (smallest / 60, spans_at.clone()),
        };
        if slice < 1 || smallest % 60 != 0 && w.slice.is_none() {
            return Err(invalid(
                text,
                slice_at,
                "windows.slice",
                format!(
                    "cannot derive a slice from the smallest window {}; set windows.slice",
                    Span(smallest)
                ),
            ));
        }
        if (15 * MINUTE) % slice != 0 {
            return Err(invalid(
                text,
                slice_at,
                "windows.slice",
                format!(
                    "slice {} must divide 15m, so that local midnights fall on slice boundaries",
                    Span(slice)
                ),
            ));
        }
        for &span in &spans {
            if span % slice != 0 {
                return Err(invalid(
                    text,
                    slice_at.clone(),
                    "windows.slice",
                    format!(
                        "window {} is not a whole number of slices of {}",
                        Span(span),
                        Span(slice)
                    ),
                ));
            }
            if span / slice > 100_000 {
                return Err(invalid(
                    text,
                    slice_at.clone(),
                    "windows.slice",
                    format!("window {} has more than 100000 slices of {}", Span(span), Span(slice)),
                ));
            }
        }
        let time_zone = match &w.time_zone {
            None => jiff::tz::TimeZone::UTC,
            Some(name) => jiff::tz::TimeZone::get(name.get_ref()).map_err(|e| {
                invalid(
                    text,
                    Some(name.span()),
                    "windows.time_zone",
                    format!("{:?}: {e}", name.get_ref()),
                )
            })?,
        };
        let lateness = w.lateness.map_or(5 * MINUTE, Span::millis);
        let interval_days = match &w.interval_days {
            None => 6,
            Some(d) if (0..=366).contains(d.get_ref()) => *d.get_ref(),
            Some(d) => {
                return Err(invalid(
                    text,
                    Some(d.span()),
                    "windows.interval_days",
                    format!("{} is not between 0 and 366", d.get_ref()),
                ))
            }
        };

        let c = s.contacts.clone().unwrap_or_default();
        let t = c.open_timeout.clone().unwrap_or_default();
        let open_timeout = [
            t.voice.map_or(4 * HOUR, Span::millis),
            t.chat.map_or(8 * HOUR, Span::millis),
            t.email.map_or(7 * DAY, Span::millis),
        ];

        let at_least_one = |v: &Option<Spanned<usize>>, field: &str, default: usize| match v {
            None => Ok(default),
            Some(n) if *n.get_ref() >= 1 => Ok(*n.get_ref()),
            Some(n) => Err(invalid(text, Some(n.span()), field, "must be at least 1".into())),
        };
        let max_open_contacts = at_least_one(&c.max_open, "contacts.max_open", 100_000)?;
        let max_remembered_contacts = at_least_one(&c.max_remembered, "contacts.max_remembered", 1_000_000)?;

        let a = s.agents.clone().unwrap_or_default();
        let outlier_ratio = match &a.outlier_ratio {
            Some(v) => ratio(v, text, "agents.outlier_ratio", 0.0..f64::MAX)?,
            None => 1.5,
        };
        let sl_outlier_points = match &a.sl_outlier_points {
            Some(v) => ratio(v, text, "agents.sl_outlier_points", 0.0..1.0)?,
            None => 0.2,
        };

        let st = s.staffing.clone().unwrap_or_default();
        let shrinkage = match &st.shrinkage {
            Some(v) if *v.get_ref() >= 1.0 => {
                return Err(invalid(
                    text,
                    Some(v.span()),
                    "staffing.shrinkage",
                    format!("{} leaves no agent on the phones; it must be below 1", v.get_ref()),
                ))
            }
            Some(v) => ratio(v, text, "staffing.shrinkage", 0.0..1.0)?,
            None => 0.0,
        };
        let max_occupancy = match &st.max_occupancy {
            Some(v) if *v.get_ref() <= 0.0 => {
                return Err(invalid(
                    text,
                    Some(v.span()),
                    "staffing.max_occupancy",
                    format!("{} must be above 0", v.get_ref()),
                ))
            }
            Some(v) => Some(ratio(v, text, "staffing.max_occupancy", 0.0..1.0)?),
            None => None,
        };

        let calendars = calendars(s.calendars.as_deref().unwrap_or_default(), text)?;
        let sla = s.sla.clone().unwrap_or_default();
        let mut policies = Vec::new();
        for (i, p) in sla.policies.iter().enumerate() {
            let at = p.span();
            let p = p.get_ref();
            let field = |name: &str| format!("sla.policies[{i}].{name}");
            if policies.iter().any(|q: &Policy| q.name == p.name) {
                return Err(invalid(
                    text,
                    Some(at),
                    &field("name"),
                    format!("duplicate policy name {:?}", p.name),
                ));
            }
            policies.push(Policy {
                name: p.name.clone(),
                channel: p.channel,
                queue: p.queue.clone(),
                segment: p.segment.clone(),
                threshold: p.threshold.millis(),
                target: ratio(&p.target, text, &field("target"), 0.0..1.0)?,
                measure: p.measure.unwrap_or(Measure::Answer),
                formula: p.formula.unwrap_or(Formula::AnsweredAbandoned),
                short_abandon: p.short_abandon.map_or(5 * SECOND, Span::millis),
                exclude_short_abandons: p.exclude_short_abandons.unwrap_or(false),
                include_flowouts: p.include_flowouts.unwrap_or(false),
                min_contacts: p.min_contacts.unwrap_or(10),
                hysteresis: match &p.hysteresis {
                    Some(h) => ratio(h, text, &field("hysteresis"), 0.0..1.0)?,
                    None => 0.02,
                },
                calendar: match &p.calendar {
                    None => None,
                    Some(name) => Some(
                        calendars
                            .iter()
                            .find(|c| c.name == *name.get_ref())
                            .cloned()
                            .ok_or_else(|| {
                                invalid(
                                    text,
                                    Some(name.span()),
                                    &field("calendar"),
                                    format!("no [[calendars]] named {:?}", name.get_ref()),
                                )
                            })?,
                    ),
                },
            });
        }
        if sla.defaults.unwrap_or(true) {
            for d in Policy::defaults() {
                if !policies.iter().any(|p| p.name == d.name) {
                    policies.push(d);
                }
            }
        }

        Ok(EngineConfig {
            windows: spans
                .into_iter()
                .map(|span| WindowDef {
                    name: Span(span).to_string(),
                    span,
                })
                .collect(),
            slice,
            time_zone,
            lateness,
            interval_days,
            dedupe_horizon: c.dedupe_horizon.map_or(2 * HOUR, Span::millis),
            open_timeout,
            survey_horizon: c.survey_horizon.map_or(7 * DAY, Span::millis),
            max_open_contacts,
            max_remembered_contacts,
            fcr_horizon: s.fcr.as_ref().and_then(|f| f.horizon).map_or(7 * DAY, Span::millis),
            policies,
            outlier_ratio,
            outlier_min_handled: a.outlier_min_handled.unwrap_or(5),
            sl_outlier_points,
            sl_outlier_min_judged: a.sl_outlier_min_judged.unwrap_or(10),
            immediate_within: s
                .surveys
                .as_ref()
                .and_then(|v| v.immediate_within)
                .map_or(HOUR, Span::millis),
            staffing: Planning {
                shrinkage,
                max_occupancy,
            },
        })
    }

    /// The longest sliding window.
    pub fn longest_window(&self) -> Millis {
        self.windows.iter().map(|w| w.span).max().unwrap_or(HOUR)
    }

    /// The eviction timeout of an unfinished contact of `channel`.
    pub fn open_timeout(&self, channel: Channel) -> Millis {
        self.open_timeout[channel as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec() {
        let c = EngineConfig::default();
        let names: Vec<_> = c.windows.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["5m", "15m", "1h"]);
        assert_eq!(c.slice, 5 * SECOND);
        assert_eq!(c.lateness, 5 * MINUTE);
        assert_eq!(c.fcr_horizon, 7 * DAY);
        assert_eq!(c.outlier_ratio, 1.5);
        assert_eq!(c.outlier_min_handled, 5);
        assert_eq!((c.sl_outlier_points, c.sl_outlier_min_judged), (0.2, 10));
        assert_eq!(c.immediate_within, HOUR);
        assert_eq!((c.staffing.shrinkage, c.staffing.max_occupancy), (0.0, None));
        let names: Vec<_> = c.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["voice-default", "chat-default", "email-default"]);
    }

    #[test]
    fn full_file_parses() {
        let c = EngineConfig::from_toml(
            r#"
[windows]
sliding = ["1m", "10m"]
time_zone = "Europe/Berlin"
lateness = "2m"

[fcr]
horizon = "3d"

[[sla.policies]]
name = "gold"
segment = "gold"
channel = "voice"
threshold = "10s"
target = 0.9
formula = "positive_abandon"
exclude_short_abandons = true
include_flowouts = true
"#,
        )
        .unwrap();
        assert!(c.policies[0].include_flowouts);
        assert!(!c.policies[1].include_flowouts, "off by default");
        assert_eq!(c.slice, SECOND);
        assert_eq!(c.windows[1].name, "10m");
        assert_eq!(c.policies[0].name, "gold");
        assert_eq!(c.policies[0].formula, Formula::PositiveAbandon);
        assert_eq!(c.policies.len(), 4);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = EngineConfig::from_toml("[windows]\nlatenes = \"5m\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("unknown field `latenes`"), "{e}");
    }

    #[test]
    fn bad_values_name_field_and_line() {
        let e = EngineConfig::from_toml("[windows]\nlateness = \"5min\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("unknown unit"), "{e}");
        let e = EngineConfig::from_toml("\n[windows]\ntime_zone = \"Mars/Olympus\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("windows.time_zone (line 3)"), "{e}");
        let e = EngineConfig::from_toml("[[sla.policies]]\nname = \"x\"\nthreshold = \"20s\"\ntarget = 80\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sla.policies[0].target (line 4)") && e.contains("outside 0..1"),
            "{e}"
        );
        let e = EngineConfig::from_toml("[windows]\nsliding = [\"5m\", \"7m\"]\nslice = \"3m\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("windows.slice (line 3)") && e.contains("not a whole number"),
            "{e}"
        );
        for (toml, field) in [
            ("[staffing]\nshrinkage = 1.0\n", "staffing.shrinkage (line 2)"),
            ("[staffing]\nshrinkage = -0.1\n", "staffing.shrinkage (line 2)"),
            ("[staffing]\nmax_occupancy = 0.0\n", "staffing.max_occupancy (line 2)"),
            ("[staffing]\nmax_occupancy = 1.2\n", "staffing.max_occupancy (line 2)"),
        ] {
            let e = EngineConfig::from_toml(toml).unwrap_err().to_string();
            assert!(e.contains(field), "{toml}: {e}");
        }
        let c = EngineConfig::from_toml("[staffing]\nshrinkage = 0.3\nmax_occupancy = 0.85\n").unwrap();
        assert_eq!((c.staffing.shrinkage, c.staffing.max_occupancy), (0.3, Some(0.85)));
        let e = EngineConfig::from_toml("[windows]\nslice = \"7s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must divide 15m"), "{e}");
        let e = EngineConfig::from_toml(
            "[[sla.policies]]\nname = \"x\"\nthreshold = \"20s\"\ntarget = 0.8\nformula = \"magic\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 5") && e.contains("magic"), "{e}");
    }
}
