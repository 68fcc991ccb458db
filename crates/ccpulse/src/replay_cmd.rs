//! `ccpulse replay`: an event file through the engine, the queues answer (or an interval
//! report) on stdout.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Arc;

use ccpulse_core::interval::Size;
use ccpulse_core::replay::Replay;
use ccpulse_core::time::parse_rfc3339;

use crate::config_file;

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Event file: one JSON event per line, or `key<TAB>json` lines as `kcat -K'\t'` writes.
    #[arg(long)]
    pub input: PathBuf,
    /// Apply only events with ts before this RFC 3339 time, and compute the windows at it.
    #[arg(long = "as-of")]
    pub as_of: Option<String>,
    /// Window to print: a configured sliding window (default 5m, 15m, 1h) or `today`.
    #[arg(long, default_value = "15m")]
    pub window: String,
    /// Configuration file (TOML).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the interval report of this size (`15m`, `30m`, `1h`) instead of a window:
    /// fixed intervals of the local day, as `GET /api/v1/intervals` answers them.
    #[arg(long, value_name = "SIZE")]
    pub intervals: Option<String>,
    /// With `--intervals`: the local day `YYYY-MM-DD` (default: the day of the as-of time).
    #[arg(long, requires = "intervals")]
    pub date: Option<String>,
    /// Output format: `json`, or `csv` with `--intervals`.
    #[arg(long, default_value = "json")]
    pub format: String,
}

/// A replay that cannot run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config_file::LoadError),
    /// `--as-of` is not RFC 3339.
    #[error("--as-of {0:?} is not an RFC 3339 time with an offset (e.g. 2026-11-22T09:00:00Z)")]
    AsOf(String),
    /// `--window` names no window.
    #[error("unknown window {given:?}; configured windows: {known}")]
    Window {
        /// The name given.
        given: String,
        /// The names configured.
        known: String,
    },
    /// The input cannot be read.
    #[error("cannot read {path}: {source}")]
    Input {
        /// The path.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// `--intervals`, `--date` or `--format` cannot be answered.
    #[error("{0}")]
    Intervals(String),
    /// stdout failed.
    #[error("cannot write the result: {0}")]
    Output(String),
}

/// Runs the replay; invalid lines go to stderr and never stop it.
pub fn run(args: &ReplayArgs) -> Result<(), ReplayError> {
    let loaded = config_file::load(args.config.as_deref())?;
    let cfg = Arc::new(loaded.engine);
    let as_of = match &args.as_of {
        None => None,
        Some(s) => Some(parse_rfc3339(s).ok_or_else(|| ReplayError::AsOf(s.clone()))?),
    };
    let size = match &args.intervals {
        None => None,
        Some(s) => Some(
            s.parse::<Size>()
                .map_err(|e| ReplayError::Intervals(format!("--intervals: {e}")))?,
        ),
    };
    let csv = match args.format.as_str() {
        "json" => false,
        "csv" if size.is_some() => true,
        "csv" => return Err(ReplayError::Intervals("--format csv needs --intervals".into())),
        other => return Err(ReplayError::Intervals(format!("--format {other:?} is not json or csv"))),
    };
    let mut known: Vec<String> = cfg.windows.iter().map(|w| w.name.clone()).collect();
    known.push(ccpulse_core::engine::TODAY.to_owned());
    if !known.contains(&args.window) {
        return Err(ReplayError::Window {
            given: args.window.clone(),
            known: known.join(", "),
        });
    }
    let input_err = |source| ReplayError::Input {
        path: args.input.display().to_string(),
        source,
    };
    let file = std::fs::File::open(&args.input).map_err(input_err)?;
    let now_wall = jiff::Timestamp::now().as_millisecond();
    let mut replay = Replay::new(cfg, as_of, now_wall);
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(input_err)?;
        if read == 0 {
            break;
        }
        n += 1;
        match std::str::from_utf8(&buf) {
            Ok(line) => replay.line(n, line.trim_end_matches(['\n', '\r'])),
            Err(e) => replay.invalid.push(ccpulse_core::replay::LineError {
                line: n,
                reason: format!("invalid UTF-8: {e}"),
            }),
        }
    }
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for e in &replay.invalid {
        let _ = writeln!(err, "line {}: {}", e.line, e.reason);
    }
    let _ = writeln!(
        err,
        "{} lines, {} invalid, {} duplicates, {} at or after --as-of",
        n,
        replay.invalid.len(),
        replay.duplicates,
        replay.after_as_of
    );
    if let Some(size) = size {
        let report = replay
            .intervals(size, args.date.as_deref())
            .map_err(|e| ReplayError::Intervals(format!("--date: {e}")))?;
        let text = if csv {
            report.to_csv()
        } else {
            serde_json::to_string_pretty(&report).map_err(|e| ReplayError::Output(e.to_string()))? + "\n"
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        return out
            .write_all(text.as_bytes())
            .map_err(|e| ReplayError::Output(e.to_string()));
    }
    let snap = replay.finish();
    let window = snap.window(&args.window).ok_or_else(|| ReplayError::Window {
        given: args.window.clone(),
        known: known.join(", "),
    })?;
    let json = serde_json::to_string_pretty(&window.queues_response(&snap.coverage, None))
        .map_err(|e| ReplayError::Output(e.to_string()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{json}").map_err(|e| ReplayError::Output(e.to_string()))?;
    Ok(())
}
