//! The configuration file: the engine's sections plus the service's own. Every
//! section rejects unknown keys; errors name the line and the field.

use std::path::Path;

use ccpulse_core::config::{AgentsSection, ContactsSection, EngineSections, FcrSection, SlaSection, WindowsSection};
use ccpulse_core::{ConfigError, EngineConfig};
use serde::Deserialize;

/// The whole file, as written.
#[derive(Debug, Deserialize, Default)]
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
}

/// Loads `path`, or the built-in defaults when `None`.
pub fn load(path: Option<&Path>) -> Result<Loaded, LoadError> {
    let Some(path) = path else {
        return Ok(Loaded {
            engine: EngineConfig::default(),
        });
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text).map_err(|source| LoadError::Invalid { path: shown, source })
}

/// Parses a configuration text.
pub fn parse(text: &str) -> Result<Loaded, ConfigError> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
    let sections = EngineSections {
        windows: file.windows.clone(),
        contacts: file.contacts.clone(),
        fcr: file.fcr.clone(),
        agents: file.agents.clone(),
        sla: file.sla.clone(),
    };
    let engine = EngineConfig::from_sections(&sections, text)?;
    Ok(Loaded { engine })
}
