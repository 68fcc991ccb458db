//! `ccpulse replay`: an event file through the engine, the queues answer on stdout.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccpulse_core::replay::replay_bytes;
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
    /// Engines, each on a thread of its own (default: the cores available). The
    /// figures are the same for any number.
    #[arg(long)]
    pub threads: Option<NonZeroUsize>,
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
    let threads = args
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    // The whole file is read at once: a parallel replay reads it twice (the first time
    // for the customers of contacts), and lines are cut and checked in large blocks.
    let bytes = read_whole(&args.input, threads).map_err(input_err)?;
    let now_wall = jiff::Timestamp::now().as_millisecond();
    let done = replay_bytes(&bytes, cfg, as_of, now_wall, threads);
    drop(bytes);
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for e in &done.invalid {
        let _ = writeln!(err, "line {}: {}", e.line, e.reason);
    }
    let _ = writeln!(
        err,
        "{} lines, {} invalid, {} duplicates, {} at or after --as-of",
        done.lines,
        done.invalid.len(),
        done.duplicates,
        done.after_as_of
    );
    let snap = done.snapshot;
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

/// Reads a whole file, a part per thread when it is large: copying a file into fresh
/// memory costs a page fault per page, and the threads take them side by side.
fn read_whole(path: &Path, threads: usize) -> std::io::Result<Vec<u8>> {
    const PARALLEL_FROM: u64 = 16 << 20;
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if threads > 1 && meta.is_file() && meta.len() >= PARALLEL_FROM {
            let len = usize::try_from(meta.len()).map_err(std::io::Error::other)?;
            // Zeroed by the allocator's fresh pages, not written: the reads fault them in.
            let mut buf = vec![0u8; len];
            let part = len.div_ceil(threads);
            let read: std::io::Result<()> = std::thread::scope(|s| {
                let handles: Vec<_> = buf
                    .chunks_mut(part)
                    .enumerate()
                    .map(|(i, piece)| {
                        let file = &file;
                        s.spawn(move || file.read_exact_at(piece, (i * part) as u64))
                    })
                    .collect();
                handles.into_iter().try_for_each(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("reader thread failed")))
                })
            });
            match read {
                Ok(()) => return Ok(buf),
                // The file shrank while it was read: read it again, as it is now.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                Err(e) => return Err(e),
            }
        }
    }
    let _ = threads;
    std::fs::read(path)
}
