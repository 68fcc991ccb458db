//! The configuration file: the engine's sections plus the service's own. Every
//! section rejects unknown keys; errors name the line and the field.

use std::collections::BTreeMap;
use std::path::Path;

use ccpulse_core::config::{
    AgentsSection, ContactsSection, EngineSections, FcrSection, SlaSection, StaffingSection, SurveysSection,
    WindowsSection,
};
use ccpulse_core::time::{Millis, Span, DAY};
use ccpulse_core::{ConfigError, EngineConfig};
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
}

impl Loaded {
    /// The default recovery horizon: long enough to rebuild every figure — the FCR and
    /// survey horizons, `today` (up to 25 h), the longest window — plus the lateness.
    pub fn default_recovery_horizon(&self) -> Millis {
        let e = &self.engine;
        e.fcr_horizon
            .max(e.survey_horizon)
            .max(DAY + DAY / 24)
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
        surveys: file.surveys.clone(),
        staffing: file.staffing.clone(),
    };
    let engine = EngineConfig::from_sections(&sections, text)?;
    Ok(Loaded { engine, file })
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
        assert_eq!(l.file.publisher.unwrap().max_queues, Some(200));
        assert_eq!(l.engine.immediate_within, 3_600_000);
        assert_eq!(l.engine.staffing.shrinkage, 0.3);
        assert_eq!(l.engine.staffing.max_occupancy, Some(0.85));
        assert_eq!((l.engine.sl_outlier_points, l.engine.sl_outlier_min_judged), (0.2, 10));
    }

    #[test]
    fn default_recovery_covers_fcr_and_today() {
        let l = load(None).unwrap();
        assert_eq!(l.default_recovery_horizon(), 7 * DAY + 5 * 60_000);
    }
}
