//! `ccpulse replay`: an event file through the engine, the queues answer (or an interval
//! report) on stdout.

use std::io::{Read, Seek, SeekFrom, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ccpulse_core::config::EngineConfig;
use ccpulse_core::interval::Size;
use ccpulse_core::replay::{replay_segments, FileReplay, OneEngineNeeded, ReplayOutcome, Sums};
use ccpulse_core::time::parse_rfc3339;

use crate::config_file;

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Event file: one JSON event per line, or `key<TAB>json` lines as `kcat -K'\t'` writes.
    /// A regular file is mapped into memory: it must not be rewritten or truncated while
    /// the replay runs (appending is fine).
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
    let threads = args
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    let now_wall = jiff::Timestamp::now().as_millisecond();
    // The sums per quarter hour only for an interval report: the window printed
    // otherwise does not read them.
    let sums = if size.is_some() {
        Sums::WithIntervals
    } else {
        Sums::WindowsOnly
    };
    let mut done = replay_file(&args.input, cfg, as_of, now_wall, threads, sums).map_err(input_err)?;
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
    if let Some(size) = size {
        let report = done
            .intervals(size, args.date.as_deref())
            .map_err(|e| ReplayError::Intervals(format!("--date: {e}")))?;
        done.leak_engines();
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
    // The process ends after printing the window: the engines are not needed any more.
    done.leak_engines();
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

/// Replays a file, keeping `sums`: a regular file is mapped ([`crate::mapped`]), or
/// where it cannot be, read in segments, twice when the replay is split over several
/// engines; anything else (a pipe) is read whole first. A file read in segments is
/// replayed without a sample of its newest time ([`FileReplay::expect_watermark`]).
fn replay_file(
    path: &Path,
    cfg: Arc<EngineConfig>,
    as_of: Option<i64>,
    now_wall: i64,
    threads: usize,
    sums: Sums,
) -> std::io::Result<ReplayOutcome> {
    let mut file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        return Ok(replay_segments(&[&bytes], cfg, as_of, now_wall, threads, sums));
    }
    if let Some(map) = crate::mapped::map(&file) {
        return Ok(replay_segments(&[&map], cfg, as_of, now_wall, threads, sums));
    }
    let mut bufs = [Vec::new(), Vec::new()];
    let bytes = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    let made = |threads| {
        let mut replay = FileReplay::new(cfg.clone(), as_of, now_wall, threads);
        replay.expect_bytes(bytes);
        if sums == Sums::WindowsOnly {
            replay.skip_interval_sums();
        }
        replay
    };
    let mut replay = made(threads);
    if replay.reads_twice() {
        for_each_segment(&mut file, &mut bufs, SEGMENT, |segment| {
            replay.note_offers(segment);
            true
        })?;
        file.seek(SeekFrom::Start(0))?;
    }
    for_each_segment(&mut file, &mut bufs, SEGMENT, |segment| {
        replay.feed(segment);
        !replay.gave_up()
    })?;
    match replay.finish() {
        Ok(done) => Ok(done),
        Err(OneEngineNeeded) => {
            // The engines' counts could have reached a cap: one engine, from the start.
            file.seek(SeekFrom::Start(0))?;
            let mut one = made(1);
            for_each_segment(&mut file, &mut bufs, SEGMENT, |segment| {
                one.feed(segment);
                true
            })?;
            one.finish()
                .map_err(|_| std::io::Error::other("a replay with one engine always finishes"))
        }
    }
}

/// About how many bytes of lines a segment holds.
const SEGMENT: usize = 32 << 20;

/// Reads `file` to its end in segments of whole lines (the last may lack its `\n`),
/// into two buffers in turn: the next segment is read while `f` takes the current one.
/// Stops early when `f` returns `false`. Memory: two segments, whatever the file's size.
fn for_each_segment(
    file: &mut std::fs::File,
    bufs: &mut [Vec<u8>; 2],
    segment: usize,
    mut f: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<()> {
    // Appends to `buf` until it holds a segment; says whether the file ended.
    let fill = |file: &mut std::fs::File, buf: &mut Vec<u8>| -> std::io::Result<bool> {
        let want = segment.saturating_sub(buf.len()).max(segment / 4 + 1);
        let read = file.take(want as u64).read_to_end(buf)?;
        Ok(read < want)
    };
    let [a, b] = bufs;
    let (mut cur, mut next) = (a, b);
    cur.clear();
    let mut ended = fill(file, cur)?;
    loop {
        let cut = if ended {
            cur.len()
        } else {
            cur.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
        };
        let (lines, tail) = cur.split_at(cut);
        let (more, next_ended) = std::thread::scope(|s| {
            let reader = (!ended).then(|| {
                let next = &mut *next;
                let file = &mut *file;
                s.spawn(move || {
                    next.clear();
                    next.extend_from_slice(tail);
                    fill(file, next)
                })
            });
            let more = f(lines);
            let read = match reader {
                None => Ok(true),
                Some(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("reader thread failed"))),
            };
            (more, read)
        });
        if ended || !more {
            return Ok(());
        }
        ended = next_ended?;
        std::mem::swap(&mut cur, &mut next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_whole_lines_and_the_whole_file() {
        let dir = std::env::temp_dir().join(format!("ccpulse-segments-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join("lines");
        let mut text = Vec::new();
        for i in 0..300 {
            text.extend(std::iter::repeat_n(b'x', i % 17));
            if i == 150 {
                text.extend(std::iter::repeat_n(b'y', 200));
            }
            text.push(b'\n');
        }
        text.extend_from_slice(b"no newline at the end");
        std::fs::write(&path, &text).expect("a temporary file");
        for segment in [1, 2, 5, 16, 64, 1000, 1 << 20] {
            for stop_after in [usize::MAX, 3] {
                let mut file = std::fs::File::open(&path).expect("the file");
                let mut bufs = [Vec::new(), Vec::new()];
                let mut got: Vec<u8> = Vec::new();
                let mut calls = 0;
                for_each_segment(&mut file, &mut bufs, segment, |s| {
                    calls += 1;
                    got.extend_from_slice(s);
                    assert!(
                        s.is_empty() || s.ends_with(b"\n") || got.len() == text.len(),
                        "{segment}"
                    );
                    calls < stop_after
                })
                .expect("read");
                if stop_after == usize::MAX {
                    assert_eq!(got, text, "segments of {segment}");
                } else {
                    assert!(calls <= 3 && text.starts_with(&got), "stops when asked");
                }
            }
        }
        std::fs::remove_dir_all(&dir).expect("cleaned up");
    }
}
