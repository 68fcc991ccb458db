//! Replay of an event file: the lines `kcat -K'\t'` writes (`key<TAB>json`) or bare
//! JSON lines, fed through one engine. Pure: the caller reads the file.

use std::sync::Arc;

use crate::breach::BreachTracker;
use crate::config::EngineConfig;
use crate::coverage::Coverage;
use crate::engine::{Applied, Engine};
use crate::event::parse_event;
use crate::interval::{interval_bounds, resolve_day, DayError, IntervalReport, Size};
use crate::snapshot::Snapshot;
use crate::time::Millis;

/// An invalid line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// Why it was rejected.
    pub reason: String,
}

/// The JSON part of a line: all of it, or what follows the first tab when the line
/// does not start with `{`.
pub fn json_of(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('{') {
        return t;
    }
    match line.split_once('\t') {
        Some((_, json)) => json,
        None => line,
    }
}

/// A replay in progress.
#[derive(Debug)]
pub struct Replay {
    engine: Engine,
    as_of: Option<Millis>,
    now_wall: Millis,
    /// Invalid lines so far.
    pub invalid: Vec<LineError>,
    /// Valid events not applied because `ts ≥ as_of`.
    pub after_as_of: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
}

impl Replay {
    /// A replay with `cfg`; only events with `ts < as_of` are applied when given.
    /// `now_wall` is the wall clock, for the future-`ts` check.
    pub fn new(cfg: Arc<EngineConfig>, as_of: Option<Millis>, now_wall: Millis) -> Self {
        Replay {
            engine: Engine::new(cfg),
            as_of,
            now_wall,
            invalid: Vec::new(),
            after_as_of: 0,
            duplicates: 0,
        }
    }

    /// Feeds line number `n` (1-based). Blank lines are skipped.
    pub fn line(&mut self, n: usize, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        match parse_event(json_of(line).as_bytes(), self.now_wall) {
            Err(e) => self.invalid.push(LineError {
                line: n,
                reason: e.to_string(),
            }),
            Ok(ev) => {
                if self.as_of.is_some_and(|t| ev.ts >= t) {
                    self.after_as_of += 1;
                } else if self.engine.apply(&ev) == Applied::Duplicate {
                    self.duplicates += 1;
                }
            }
        }
    }

    /// The time the figures are computed at: `as_of`, or the newest event time (the
    /// wall clock when no event was applied).
    pub fn now(&self) -> Millis {
        self.as_of.or(self.engine.watermark()).unwrap_or(self.now_wall)
    }

    /// The interval report of `date` (today at [`Replay::now`] when `None`) by
    /// intervals of `size`, as the service would answer it for this file.
    pub fn intervals(&self, size: Size, date: Option<&str>) -> Result<IntervalReport, DayError> {
        let now = self.now();
        let cfg = self.engine.config();
        let day = resolve_day(cfg, date, now, Millis::MIN)?;
        let to = now.div_euclid(cfg.slice) * cfg.slice;
        let bounds = interval_bounds(day.start, day.end, size, to);
        let partial = self.engine.intervals(&bounds, now);
        Ok(IntervalReport::build(&partial, cfg, size, day.date, whole_file()))
    }

    /// The snapshot at `as_of`, or at the newest event time (the wall clock when no
    /// event was applied), with breaches evaluated once.
    pub fn finish(mut self) -> Snapshot {
        self.snapshot()
    }

    /// The snapshot [`Replay::finish`] gives, leaving the replay to go on or to answer
    /// [`Replay::intervals`].
    pub fn snapshot(&mut self) -> Snapshot {
        let now = self.now();
        let cfg = self.engine.config().clone();
        let mut snap = Snapshot::build(&self.engine.partial(now), &cfg);
        BreachTracker::default().evaluate(&mut snap, &cfg.policies);
        snap.coverage = whole_file();
        snap
    }
}

/// A file is one whole, complete source.
fn whole_file() -> Coverage {
    Coverage {
        partitions: 1,
        covered: 1,
        stale: Vec::new(),
        data_age_seconds: Some(0.0),
        waiting_for: Vec::new(),
    }
}

/// Replays `text` whole: the snapshot and the invalid lines.
pub fn replay_text(
    text: &str,
    cfg: Arc<EngineConfig>,
    as_of: Option<Millis>,
    now_wall: Millis,
) -> (Snapshot, Vec<LineError>) {
    let mut r = Replay::new(cfg, as_of, now_wall);
    for (i, line) in text.lines().enumerate() {
        r.line(i + 1, line);
    }
    let invalid = std::mem::take(&mut r.invalid);
    (r.finish(), invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tab_json_and_bare_json() {
        assert_eq!(json_of("k42\t{\"a\":1}"), "{\"a\":1}");
        assert_eq!(json_of("{\"a\":\"x\ty\"}"), "{\"a\":\"x\ty\"}");
        assert_eq!(json_of("garbage"), "garbage");
    }
}
