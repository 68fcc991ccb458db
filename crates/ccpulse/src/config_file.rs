//! The configuration file: the engine's sections plus the service's own. Every
//! section rejects unknown keys; errors name the line and the field.

use std::collections::BTreeMap;
use std::path::Path;

use ccpulse_core::config::{
    AgentsSection, CalendarSection, ContactsSection, EngineSections, FcrSection, SlaSection, StaffingSection,
    SurveysSection, WindowsSection,
};
use ccpulse_core::time::{Millis, Span, DAY};
use ccpulse_core::{ConfigError, EngineConfig};
use ccpulse_http::wallboard::{ChannelThresholds, WallboardSettings};
use serde::Deserialize;

/// `[kafka]`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    /// `bootstrap.servers`. Default `localhost:9092`.
    pub brokers: Option<String>,
    /// Consumer group. Default `ccpulse`.
    pub group_id: Option<String>,
    /// Topics. Default the contract's five.
    pub topics: Option<Vec<String>>,
    /// Dead-letter topic. Default `cc.dlq`.
    pub dlq_topic: Option<String>,
    /// The compacted topic instances share their figures through. Default `cc.partials`.
    pub partials_topic: Option<String>,
    /// How far back a partition is replayed on assignment.
    pub recovery_horizon: Option<Span>,
    /// Static group membership (`group.instance.id`). Default none.
    pub instance_id: Option<String>,
    /// How long a revoked partition's engine is kept to resume. Default `10m`.
    pub park_grace: Option<Span>,
    /// Keep a standby replica of every partition not held. Default `true`.
    pub standby: Option<bool>,
    /// librdkafka properties passed through.
    pub properties: Option<BTreeMap<String, String>>,
}

/// `[http]`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Listen address. Default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// `tokens` (the default: tokens are required once any is configured) or `none`
    /// (anyone who reaches the port reads everything; logged as a warning at start).
    pub auth: Option<AuthMode>,
    /// `[[http.tokens]]`: bearer tokens by hash, each with a role.
    pub tokens: Option<Vec<TokenSection>>,
    /// A TOML file of `[[tokens]]` entries, read with the configuration (tokens kept
    /// apart from it, e.g. in a secret mounted into a container).
    pub tokens_file: Option<String>,
    /// PEM certificate chain: serve HTTPS (with `tls_key`).
    pub tls_cert: Option<String>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<String>,
    /// A client must send its request headers within this long. Default `10s`.
    pub header_timeout: Option<Span>,
    /// Connections served at once. Default 1024.
    pub max_connections: Option<usize>,
    /// How long a shutdown waits for open connections. Default `10s`.
    pub shutdown_timeout: Option<Span>,
}

/// `http.auth`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Bearer tokens by role.
    Tokens,
    /// No authentication, whatever the listen address.
    None,
}

/// One `[[http.tokens]]` entry.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    /// Who or what holds it.
    pub name: String,
    /// `wallboard`, `supervisor` or `metrics`.
    pub role: ccpulse_http::auth::Role,
    /// `sha256:` and the hex digest of the token (from `ccpulse token`).
    pub hash: String,
}

/// A tokens file: `[[tokens]]` entries.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct TokensFile {
    /// The tokens.
    #[serde(default)]
    pub tokens: Vec<TokenSection>,
}

/// How "now" is read.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// The wall clock (live).
    Wall,
    /// The newest event time seen (backfills, tests).
    Event,
}

/// `[publisher]`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct PublisherSection {
    /// Snapshot interval. Default `1s`.
    pub tick: Option<Span>,
    /// `wall` (default) or `event`.
    pub clock: Option<Clock>,
    /// Queues exported to `/metrics` by name; the rest fold into `_other`. Default 200.
    pub max_queues: Option<usize>,
    /// Agents exported to `/metrics` by name; the rest fold into `_other`. Default 1000.
    pub max_agents: Option<usize>,
    /// A partition not known up to date with its broker for longer than this is
    /// stale. Default `10s`.
    pub stale_after: Option<Span>,
}

/// `[wallboard]`: the thresholds of the wallboard page at `/`.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct WallboardSection {
    /// Ratio points below target that are amber. Default 0.05.
    pub amber_margin: Option<f64>,
    /// Seconds a page of tiles is shown. Default 10.
    pub page_seconds: Option<u32>,
    /// `[wallboard.voice]`.
    pub voice: Option<WallboardChannelSection>,
    /// `[wallboard.chat]`.
    pub chat: Option<WallboardChannelSection>,
    /// `[wallboard.email]`.
    pub email: Option<WallboardChannelSection>,
}

/// `[wallboard.voice]`, `[wallboard.chat]`, `[wallboard.email]`: a figure at or above
/// its `_amber` value is amber, at or above its `_red` value red.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct WallboardChannelSection {
    /// Contacts waiting.
    pub waiting_amber: Option<u32>,
    /// Contacts waiting.
    pub waiting_red: Option<u32>,
    /// The longest current wait.
    pub oldest_wait_amber: Option<Span>,
    /// The longest current wait.
    pub oldest_wait_red: Option<Span>,
    /// Abandon rate, 0..1.
    pub abandon_rate_amber: Option<f64>,
    /// Abandon rate, 0..1.
    pub abandon_rate_red: Option<f64>,
}

fn invalid(field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

impl WallboardChannelSection {
    fn resolve(&self, channel: &str, defaults: ChannelThresholds) -> Result<ChannelThresholds, ConfigError> {
        let seconds = |s: Span| s.millis() as f64 / 1000.0;
        let t = ChannelThresholds {
            waiting_amber: self.waiting_amber.unwrap_or(defaults.waiting_amber),
            waiting_red: self.waiting_red.unwrap_or(defaults.waiting_red),
            oldest_wait_amber_seconds: self
                .oldest_wait_amber
                .map_or(defaults.oldest_wait_amber_seconds, seconds),
            oldest_wait_red_seconds: self.oldest_wait_red.map_or(defaults.oldest_wait_red_seconds, seconds),
            abandon_rate_amber: self.abandon_rate_amber.unwrap_or(defaults.abandon_rate_amber),
            abandon_rate_red: self.abandon_rate_red.unwrap_or(defaults.abandon_rate_red),
        };
        let field = |key: &str| format!("wallboard.{channel}.{key}");
        if t.waiting_amber == 0 {
            return Err(invalid(&field("waiting_amber"), "must be at least 1"));
        }
        if t.waiting_red < t.waiting_amber {
            return Err(invalid(
                &field("waiting_red"),
                format!("{} is below waiting_amber ({})", t.waiting_red, t.waiting_amber),
            ));
        }
        if t.oldest_wait_red_seconds < t.oldest_wait_amber_seconds {
            return Err(invalid(
                &field("oldest_wait_red"),
                format!(
                    "{} s is below oldest_wait_amber ({} s)",
                    t.oldest_wait_red_seconds, t.oldest_wait_amber_seconds
                ),
            ));
        }
        for (key, v) in [
            ("abandon_rate_amber", t.abandon_rate_amber),
            ("abandon_rate_red", t.abandon_rate_red),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(invalid(&field(key), format!("{v} is not a ratio in (0, 1]")));
            }
        }
        if t.abandon_rate_red < t.abandon_rate_amber {
            return Err(invalid(
                &field("abandon_rate_red"),
                format!(
                    "{} is below abandon_rate_amber ({})",
                    t.abandon_rate_red, t.abandon_rate_amber
                ),
            ));
        }
        Ok(t)
    }
}

impl WallboardSection {
    /// The settings, with the defaults for what is not given; a value out of range or
    /// a red threshold below its amber one is an error naming the field.
    pub fn resolve(&self) -> Result<WallboardSettings, ConfigError> {
        let defaults = WallboardSettings::default();
        let amber_margin = self.amber_margin.unwrap_or(defaults.amber_margin);
        if !(0.0..=1.0).contains(&amber_margin) {
            return Err(invalid(
                "wallboard.amber_margin",
                format!("{amber_margin} is not a ratio in [0, 1]"),
            ));
        }
        let page_seconds = self.page_seconds.unwrap_or(defaults.page_seconds);
        if !(1..=3600).contains(&page_seconds) {
            return Err(invalid(
                "wallboard.page_seconds",
                format!("{page_seconds} is not in 1..=3600"),
            ));
        }
        let channel = |section: &Option<WallboardChannelSection>, name: &str, d: ChannelThresholds| {
            section.clone().unwrap_or_default().resolve(name, d)
        };
        let d = defaults.channels;
        Ok(WallboardSettings {
            amber_margin,
            page_seconds,
            channels: ccpulse_http::wallboard::ChannelsThresholds {
                voice: channel(&self.voice, "voice", d.voice)?,
                chat: channel(&self.chat, "chat", d.chat)?,
                email: channel(&self.email, "email", d.email)?,
            },
        })
    }
}

/// The whole file, as written. The engine's sections are listed again here rather
/// than `#[serde(flatten)]`-ed from [`EngineSections`], because serde cannot combine
/// `flatten` with `deny_unknown_fields`, and unknown keys must be refused.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
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
    pub calendars: Option<Vec<toml::Spanned<CalendarSection>>>,
    /// `[surveys]`.
    pub surveys: Option<SurveysSection>,
    /// `[staffing]`.
    pub staffing: Option<StaffingSection>,
    /// `[kafka]`.
    pub kafka: Option<KafkaSection>,
    /// `[http]`.
    pub http: Option<HttpSection>,
    /// `[publisher]`.
    pub publisher: Option<PublisherSection>,
    /// `[wallboard]`.
    pub wallboard: Option<WallboardSection>,
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not a valid configuration.
    #[error("invalid config file {path}: {source}")]
    Invalid {
        /// The path given.
        path: String,
        /// What is wrong, with line and field.
        source: ConfigError,
    },
}

/// A loaded configuration.
#[derive(Debug)]
pub struct Loaded {
    /// The engine's configuration.
    pub engine: EngineConfig,
    /// The file as written (for the service's own sections).
    pub file: ConfigFile,
    /// The wallboard page's settings.
    pub wallboard: WallboardSettings,
}

impl Loaded {
    /// The default recovery horizon: long enough to rebuild every figure — the FCR and
    /// survey horizons, `today` (up to 25 h), the longest window — plus the lateness.
    pub fn default_recovery_horizon(&self) -> Millis {
        let e = &self.engine;
        // The interval reports' earliest day must be whole after a restart: up to
        // interval_days + 1 days back, and an hour more for a DST change between.
        e.fcr_horizon
            .max(e.survey_horizon)
            .max(DAY + DAY / 24)
            .max((e.interval_days + 1) * DAY + DAY / 24)
            .max(e.longest_window())
            + e.lateness
    }
}

/// Loads `path`, or the built-in defaults when `None`.
pub fn load(path: Option<&Path>) -> Result<Loaded, LoadError> {
    let Some(path) = path else {
        return Ok(Loaded {
            engine: EngineConfig::default(),
            file: ConfigFile::default(),
            wallboard: WallboardSettings::default(),
        });
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text).map_err(|source| LoadError::Invalid { path: shown, source })
}

/// Whether a configuration key holds a secret (a password, a token, a key, any `sasl.*`
/// property): its value is never printed.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.trim().trim_matches('"').to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "sasl",
        "ssl.key",
        "private",
        "credential",
        "jaas",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// A TOML error, told by line, column and field without the source line; when the
/// line sets a secret, what the message quotes is left out too. (toml's own message
/// prints the offending line, a password included.)
pub fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let mut message = e.message().trim().to_owned();
    let Some(span) = e.span() else {
        return ConfigError::Toml(message);
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or_default();
    let key = line.split('=').next().unwrap_or_default();
    if is_secret_key(key) || is_secret_key(line) {
        message = redact_quoted(&message);
    }
    ConfigError::Toml(format!("TOML error at line {line_no}, column {column}: {message}"))
}

/// `text` with every quoted part (`"…"`, `` `…` ``, `'…'`) replaced by `<redacted>`.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut open: Option<char> = None;
    for c in text.chars() {
        match open {
            Some(q) if c == q => {
                out.push_str("<redacted>");
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None => {
                out.push(c);
                if matches!(c, '"' | '`' | '\'') {
                    open = Some(c);
                }
            }
        }
    }
    out
}

/// Parses a configuration text.
pub fn parse(text: &str) -> Result<Loaded, ConfigError> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    let sections = EngineSections {
        windows: file.windows.clone(),
        contacts: file.contacts.clone(),
        fcr: file.fcr.clone(),
        agents: file.agents.clone(),
        sla: file.sla.clone(),
        calendars: file.calendars.clone(),
        surveys: file.surveys.clone(),
        staffing: file.staffing.clone(),
    };
    let engine = EngineConfig::from_sections(&sections, text)?;
    let wallboard = file.wallboard.clone().unwrap_or_default().resolve()?;
    Ok(Loaded {
        engine,
        file,
        wallboard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_sections_parse_and_reject_unknown_keys() {
        let l = parse(
            "[kafka]\nbrokers = \"k:9092\"\nrecovery_horizon = \"2d\"\n[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n[publisher]\nclock = \"event\"\ntick = \"250ms\"\n",
        )
        .unwrap();
        let k = l.file.kafka.unwrap();
        assert_eq!(k.brokers.as_deref(), Some("k:9092"));
        assert_eq!(k.properties.unwrap()["security.protocol"], "SASL_SSL");
        assert_eq!(l.file.publisher.unwrap().clock, Some(Clock::Event));
        let e = parse("[http]\nlisten = \"0.0.0.0:1\"\nport = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("unknown field `port`"), "{e}");
        let e = parse("[publisher]\nclock = \"sundial\"\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("sundial"), "{e}");
    }

    #[test]
    fn errors_never_print_a_secret() {
        let text = "[kafka.properties]\n\"sasl.password\" = hunter2-unquoted\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        let text = "[kafka.properties]\n\"ssl.key.password\" = [\"hunter2\"]\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let text = "[http]\nlisten = \"127.0.0.1:1\"\n[[http.tokens]]\nname = \"k\"\nrole = \"wallboard\"\nhash = \"sha256:00\"\ntoken = \"ccp_secret\"\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(
            !e.contains("ccp_secret") && e.contains("line 7") && e.contains("unknown field"),
            "{e}"
        );
        let e = parse("[http]\nlisten = 5\n").unwrap_err().to_string();
        assert!(
            e.contains("line 2") && e.contains("invalid type"),
            "a key that is no secret: {e}"
        );
        assert!(is_secret_key("\"sasl.username\"") && is_secret_key("ssl.key.password") && !is_secret_key("brokers"));
    }

    #[test]
    fn the_documented_example_parses() {
        let l = parse(include_str!("../../../docs/ccpulse.example.toml")).unwrap();
        assert_eq!(l.engine.policies[0].name, "gold-voice");
        assert_eq!(l.engine.policies.len(), 5, "two configured, three defaults");
        let office = l.engine.policies[1].calendar.as_ref().unwrap();
        assert_eq!(
            (office.name.as_str(), office.closed.len(), office.special.len()),
            ("office", 2, 1)
        );
        assert_eq!(l.file.publisher.unwrap().max_queues, Some(200));
        assert_eq!(
            l.wallboard,
            WallboardSettings::default(),
            "the example sets every wallboard key to its default"
        );
        assert_eq!(l.engine.immediate_within, 3_600_000);
        assert_eq!(l.engine.interval_days, 6);
        assert_eq!(l.engine.staffing.shrinkage, 0.3);
        assert_eq!(l.engine.staffing.max_occupancy, Some(0.85));
        assert_eq!((l.engine.sl_outlier_points, l.engine.sl_outlier_min_judged), (0.2, 10));
    }

    #[test]
    fn wallboard_thresholds_default_per_channel_and_are_checked() {
        let l = load(None).unwrap();
        assert_eq!(l.wallboard, WallboardSettings::default());
        let l = parse(
            "[wallboard]\namber_margin = 0.1\npage_seconds = 4\n[wallboard.chat]\nwaiting_amber = 2\nwaiting_red = 3\noldest_wait_amber = \"45s\"\noldest_wait_red = \"1m30s\"\nabandon_rate_red = 0.2\n",
        )
        .unwrap();
        let w = l.wallboard;
        assert_eq!((w.amber_margin, w.page_seconds), (0.1, 4));
        assert_eq!(w.channels.voice, ChannelThresholds::VOICE, "voice keeps its defaults");
        let chat = w.channels.chat;
        assert_eq!((chat.waiting_amber, chat.waiting_red), (2, 3));
        assert_eq!(
            (chat.oldest_wait_amber_seconds, chat.oldest_wait_red_seconds),
            (45.0, 90.0)
        );
        assert_eq!((chat.abandon_rate_amber, chat.abandon_rate_red), (0.05, 0.2));
        for (text, field) in [
            ("[wallboard]\namber_margin = 1.5\n", "wallboard.amber_margin"),
            ("[wallboard]\npage_seconds = 0\n", "wallboard.page_seconds"),
            (
                "[wallboard.voice]\nwaiting_amber = 8\nwaiting_red = 4\n",
                "wallboard.voice.waiting_red",
            ),
            (
                "[wallboard.email]\noldest_wait_red = \"1m\"\n",
                "wallboard.email.oldest_wait_red",
            ),
            (
                "[wallboard.chat]\nabandon_rate_amber = 0\n",
                "wallboard.chat.abandon_rate_amber",
            ),
            (
                "[wallboard.chat]\nabandon_rate_amber = 0.3\n",
                "wallboard.chat.abandon_rate_red",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
        let e = parse("[wallboard.fax]\nwaiting_red = 3\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `fax`"), "{e}");
    }

    #[test]
    fn default_recovery_covers_fcr_today_and_the_interval_days() {
        let l = load(None).unwrap();
        // Six earlier days of intervals: seven days back, an hour for DST, the lateness.
        assert_eq!(l.default_recovery_horizon(), 7 * DAY + DAY / 24 + 5 * 60_000);
    }
}
