//! Replay of an event file: the lines `kcat -K'\t'` writes (`key<TAB>json`) or bare
//! JSON lines, fed through one engine, or split over several engines on as many threads
//! with the same figures ([`replay_bytes`]; how is in [`crate::shard`]). Pure: the
//! caller reads the file.

use std::ops::Range;
use std::sync::Arc;

use crate::breach::BreachTracker;
use crate::config::EngineConfig;
use crate::coverage::Coverage;
use crate::engine::{Applied, Engine};
use crate::event::{parse_event_str, Event};
use crate::interval::{interval_bounds, resolve_day, DayError, IntervalReport, Size};
use crate::partial::Partial;
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

/// The JSON part of a line as [`json_of`] finds it, for a line that starts with `{`,
/// or with a printable ASCII character and has a tab (a key before it); `None` for a
/// line of any other shape.
fn common_json(line: &[u8]) -> Option<&[u8]> {
    match line.first()? {
        b'{' => Some(line),
        &b if b.is_ascii_graphic() => Some(&line[memchr::memchr(b'\t', line)? + 1..]),
        _ => None,
    }
}

/// The id of a line that starts in the common shape, `{"id":"…"` (bare, or after a key
/// and a tab) with no backslash before the id's closing quote, and the bytes after that
/// quote; `None` for a line of any other shape. If the line is an event, these bytes
/// are its id: a string without an escape ends at its first quote, and an event names
/// its id once.
fn common_id(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = common_json(line)?.strip_prefix(b"{\"id\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| (&rest[..end], &rest[end + 1..]))
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
        match parse_event_str(json_of(line), self.now_wall) {
            Err(e) => self.invalid.push(LineError {
                line: n,
                reason: e.to_string(),
            }),
            Ok(ev) => self.event(&ev),
        }
    }

    /// Feeds a valid event.
    fn event(&mut self, ev: &Event<'_>) {
        if self.as_of.is_some_and(|t| ev.ts >= t) {
            self.after_as_of += 1;
        } else if self.engine.apply(ev) == Applied::Duplicate {
            self.duplicates += 1;
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
        interval_report(
            self.engine.config(),
            std::slice::from_ref(&self.engine),
            self.now(),
            size,
            date,
        )
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
        snapshot_of(&self.engine.partial(now), &cfg, 1)
    }
}

/// The snapshot of a replay's partial, its windows made on up to `threads` threads:
/// breaches evaluated once, and the coverage of one whole, complete source.
fn snapshot_of(partial: &Partial, cfg: &EngineConfig, threads: usize) -> Snapshot {
    let mut snap = Snapshot::build_on(partial, cfg, threads);
    BreachTracker::default().evaluate(&mut snap, &cfg.policies);
    snap.coverage = whole_file();
    snap
}

/// The interval report of `date` (today at `now` when `None`) by intervals of `size`:
/// the sum of the engines' shares, as the service sums its partitions'.
fn interval_report(
    cfg: &EngineConfig,
    engines: &[Engine],
    now: Millis,
    size: Size,
    date: Option<&str>,
) -> Result<IntervalReport, DayError> {
    let day = resolve_day(cfg, date, now, Millis::MIN)?;
    let to = now.div_euclid(cfg.slice) * cfg.slice;
    let bounds = interval_bounds(day.start, day.end, size, to);
    let mut merged = Partial::empty(now, &bounds);
    for e in engines {
        merged.merge(&e.intervals(&bounds, now));
    }
    Ok(IntervalReport::build(&merged, cfg, size, day.date, whole_file()))
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

/// What a replay of a file found.
#[derive(Debug)]
pub struct ReplayOutcome {
    /// The snapshot at `--as-of`, or at the newest event time.
    pub snapshot: Snapshot,
    /// The invalid lines, in line order.
    pub invalid: Vec<LineError>,
    /// Lines read (blank lines included).
    pub lines: usize,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Valid events not applied because `ts ≥ as_of`.
    pub after_as_of: u64,
    /// Engines that replayed it: the threads asked for, or 1 when the engines' counts
    /// could have reached `contacts.max_open` or `contacts.max_remembered` (then it was
    /// replayed again with one engine; see [`crate::shard`]).
    pub engines: usize,
    /// Whether a split replay read the file's offers first: it does when a replay in
    /// one pass could not keep one engine's figures ([`FileReplay::one_pass`]).
    pub first_reading: bool,
    /// The engines, kept for [`ReplayOutcome::intervals`].
    held: Vec<Engine>,
    /// The newest event time applied.
    watermark: Option<Millis>,
    /// The time the figures are computed at.
    now: Millis,
    /// The engines' configuration.
    cfg: Arc<EngineConfig>,
}

impl ReplayOutcome {
    /// The interval report of `date` (today at the replay's now when `None`) by
    /// intervals of `size`, as the service would answer it for this file: with one
    /// engine or several, the same.
    /// An error when it was replayed with [`Sums::WindowsOnly`], or its engines were let
    /// go ([`ReplayOutcome::leak_engines`]): never a report of zeros for sums not held.
    pub fn intervals(&self, size: Size, date: Option<&str>) -> Result<IntervalReport, DayError> {
        if self.held.is_empty() {
            return Err(DayError::NotKept("this replay's engines were let go".into()));
        }
        if !self.held.iter().all(Engine::keeps_interval_sums) {
            return Err(DayError::NotKept("this replay kept no interval sums".into()));
        }
        interval_report(&self.cfg, &self.held, self.now, size, date)
    }

    /// Lets the engines go without freeing their memory, for a process about to exit:
    /// freeing a day's contacts, customers and slices one allocation at a time took
    /// about 3 % of `ccpulse replay` (50 ms of the realistic day), and the exit frees
    /// them at once. Answers only the snapshot afterwards ([`ReplayOutcome::intervals`]
    /// then answers an error).
    pub fn leak_engines(&mut self) {
        std::mem::forget(std::mem::take(&mut self.held));
    }
}

/// The lines of a file as `ccpulse replay` reads them: split at `\n`, the last one
/// without it when the file does not end with one. Each range includes its `\n`.
fn line_ranges(bytes: &[u8], range: Range<usize>) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = range.start;
    std::iter::from_fn(move || {
        if at >= range.end {
            return None;
        }
        let end = memchr::memchr(b'\n', &bytes[at..range.end]).map_or(range.end, |i| at + i + 1);
        let line = at..end;
        at = end;
        Some(line)
    })
}

mod newest;
mod parallel;
mod repeated;

use repeated::Repeated;

/// Reads one line (with its `\n`), as [`Replay::line`] does.
fn read_line<'a>(line: Result<&'a str, std::str::Utf8Error>, now_wall: Millis) -> Result<Option<Event<'a>>, String> {
    let line = line.map_err(|e| format!("invalid UTF-8: {e}"))?;
    let line = line.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    parse_event_str(json_of(line), now_wall)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The lines of `range`: one UTF-8 check for all of them, and one per line only when
/// that fails (so that an invalid line is reported as [`Replay`] reports it).
fn for_each_line<'a>(bytes: &'a [u8], range: Range<usize>, mut f: impl FnMut(Result<&'a str, std::str::Utf8Error>)) {
    match std::str::from_utf8(&bytes[range.clone()]) {
        Ok(text) => {
            let base = range.start;
            for r in line_ranges(bytes, range) {
                f(Ok(&text[r.start - base..r.end - base]));
            }
        }
        Err(_) => {
            for r in line_ranges(bytes, range) {
                f(std::str::from_utf8(&bytes[r]));
            }
        }
    }
}

/// A replay of a file fed in segments of whole lines, as `ccpulse replay` reads a file
/// it cannot map, with one engine or split over several (the figures are the same).
///
/// Made with [`FileReplay::new`] and several engines, it reads the file twice: every
/// segment to [`FileReplay::note_offers`] first (which customer each contact's offers
/// name, to split the file by customer), then every segment to [`FileReplay::feed`].
/// Made with [`FileReplay::one_pass`], it reads it once, and may find that it needs the
/// first reading after all. A segment ends with a `\n`, but the last one of the file
/// may not.
#[derive(Debug)]
pub struct FileReplay {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    One(Box<OneEngine>),
    Split(Box<parallel::Split>),
}

/// A split replay could not keep one engine's figures: the engines' counts could have
/// added up to `contacts.max_open` or `contacts.max_remembered` (see [`crate::shard`]).
/// Replay the file again with one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneEngineNeeded;

impl FileReplay {
    /// A replay with `threads` engines on as many threads (1: one engine, line by line).
    pub fn new(cfg: Arc<EngineConfig>, as_of: Option<Millis>, now_wall: Millis, threads: usize) -> Self {
        Self::with(cfg, as_of, now_wall, threads, false)
    }

    /// A replay with `threads` engines (more than one) that reads the file once,
    /// without [`FileReplay::note_offers`]: each contact stays on the engine its first
    /// event went to ([`crate::shard::Pins`]). When an offer then names a customer of
    /// another engine, it stops: [`FileReplay::needs_first_reading`] says so, and the
    /// file must be replayed again with [`FileReplay::new`]. With one thread, as `new`.
    pub fn one_pass(cfg: Arc<EngineConfig>, as_of: Option<Millis>, now_wall: Millis, threads: usize) -> Self {
        Self::with(cfg, as_of, now_wall, threads, true)
    }

    /// [`FileReplay::new`], or [`FileReplay::one_pass`] when `one_pass`.
    fn with(cfg: Arc<EngineConfig>, as_of: Option<Millis>, now_wall: Millis, threads: usize, one_pass: bool) -> Self {
        FileReplay {
            inner: if threads > 1 {
                Inner::Split(Box::new(parallel::Split::new(cfg, as_of, now_wall, threads, one_pass)))
            } else {
                Inner::One(Box::new(OneEngine::new(cfg, as_of, now_wall)))
            },
        }
    }

    /// Whether a replay made with [`FileReplay::one_pass`] stopped because an offer
    /// named a customer of another engine than its contact's earlier events: replay
    /// the file again with [`FileReplay::new`].
    pub fn needs_first_reading(&self) -> bool {
        matches!(&self.inner, Inner::Split(split) if split.needs_first_reading())
    }

    /// Makes room in its engines for what a file of `bytes` bytes holds, so that their
    /// tables do not grow step by step (see [`Engine::reserve_contacts`]).
    pub fn expect_bytes(&mut self, bytes: usize) {
        match &mut self.inner {
            Inner::One(one) => one.expect_bytes(bytes),
            Inner::Split(split) => split.reserve_contacts(bytes / BYTES_PER_CONTACT),
        }
    }

    /// Tells its engines that the replay's watermark will reach `at`: what no window at
    /// the end can read is kept out of their slice rings ([`Engine::expect_watermark`]).
    /// The outcome is then right only when the watermark did reach it: see
    /// [`replay_segments`].
    pub fn expect_watermark(&mut self, at: Millis) {
        match &mut self.inner {
            Inner::One(one) => one.expect_watermark(at),
            Inner::Split(split) => split.expect_watermark(at),
        }
    }

    /// Tells its engines to keep no sums per quarter hour: for a replay that will not be
    /// asked for intervals ([`Sums::WindowsOnly`]).
    pub fn skip_interval_sums(&mut self) {
        match &mut self.inner {
            Inner::One(one) => one.skip_interval_sums(),
            Inner::Split(split) => split.skip_interval_sums(),
        }
    }

    /// Tells a split replay which ids occur on more than one line of the whole file it
    /// will be fed (see [`repeated`]); one engine looks every id up.
    fn know_repeated(&mut self, repeated: &Arc<Repeated>) {
        if let Inner::Split(split) = &mut self.inner {
            split.know_repeated(repeated.clone());
        }
    }

    /// Whether it reads the file twice: all of it to [`FileReplay::note_offers`] first.
    pub fn reads_twice(&self) -> bool {
        matches!(self.inner, Inner::Split(_))
    }

    /// The first reading: notes the offers of a segment.
    pub fn note_offers(&mut self, segment: &[u8]) {
        if let Inner::Split(split) = &mut self.inner {
            split.note_offers(segment);
        }
    }

    /// Replays a segment.
    pub fn feed(&mut self, segment: &[u8]) {
        match &mut self.inner {
            Inner::One(one) => one.feed(segment),
            Inner::Split(split) => split.feed(segment),
        }
    }

    /// Whether a split replay has already found that it cannot keep one engine's
    /// figures: feeding it more is useless, [`FileReplay::finish`] will say so.
    pub fn gave_up(&self) -> bool {
        matches!(&self.inner, Inner::Split(split) if split.gave_up())
    }

    /// The outcome: the snapshot at `as_of`, or at the newest event time.
    pub fn finish(self) -> Result<ReplayOutcome, OneEngineNeeded> {
        match self.inner {
            Inner::One(one) => Ok(one.finish()),
            Inner::Split(split) => split.finish().ok_or(OneEngineNeeded),
        }
    }
}

/// A file through one engine, line by line.
#[derive(Debug)]
struct OneEngine {
    replay: Replay,
    lines: usize,
}

impl OneEngine {
    fn new(cfg: Arc<EngineConfig>, as_of: Option<Millis>, now_wall: Millis) -> Self {
        OneEngine {
            replay: Replay::new(cfg, as_of, now_wall),
            lines: 0,
        }
    }

    /// [`FileReplay::expect_watermark`] for its engine.
    fn expect_watermark(&mut self, at: Millis) {
        self.replay.engine.expect_watermark(at);
    }

    /// [`FileReplay::skip_interval_sums`] for its engine.
    fn skip_interval_sums(&mut self) {
        self.replay.engine.skip_interval_sums();
    }

    /// [`FileReplay::expect_bytes`] for its engine.
    fn expect_bytes(&mut self, bytes: usize) {
        self.replay.engine.reserve_contacts(bytes / BYTES_PER_CONTACT);
    }

    fn feed(&mut self, segment: &[u8]) {
        let (replay, lines) = (&mut self.replay, &mut self.lines);
        for chunk in Chunks::new(segment).iter() {
            for_each_line(segment, chunk, |line| {
                *lines += 1;
                match read_line(line, replay.now_wall) {
                    Ok(None) => {}
                    Ok(Some(ev)) => replay.event(&ev),
                    Err(reason) => replay.invalid.push(LineError { line: *lines, reason }),
                }
            });
        }
    }

    fn finish(mut self) -> ReplayOutcome {
        let invalid = std::mem::take(&mut self.replay.invalid);
        let (duplicates, after_as_of) = (self.replay.duplicates, self.replay.after_as_of);
        let now = self.replay.now();
        ReplayOutcome {
            snapshot: self.replay.snapshot(),
            invalid,
            lines: self.lines,
            duplicates,
            after_as_of,
            engines: 1,
            first_reading: false,
            cfg: self.replay.engine.config().clone(),
            watermark: self.replay.engine.watermark(),
            held: vec![self.replay.engine],
            now,
        }
    }
}

/// Bytes of lines read at once: a chunk's lines are checked for UTF-8 together, and a
/// split replay's threads take a chunk at a time (about 300 lines of a realistic day).
const CHUNK: usize = 64 << 10;

/// `bytes` cut into chunks of whole lines, about [`CHUNK`] bytes each: chunk `i` holds
/// the lines that start in `[i·CHUNK, (i+1)·CHUNK)` (none, when a longer line covers
/// that span). A chunk's bounds are found when it is asked for, so that whoever reads a
/// chunk finds them and nothing reads through the whole input first: cutting a mapped
/// file of a realistic day up front took one thread about 70 ms, most of it first
/// touches of the file's pages, while the other waited. Finding a chunk's bounds reads
/// at most [`CHUNK`] bytes and the rest of its last line, so the whole input is read
/// about once whatever its lines' lengths.
#[derive(Debug, Clone, Copy)]
struct Chunks<'a> {
    bytes: &'a [u8],
}

impl<'a> Chunks<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Chunks { bytes }
    }

    /// How many chunks there are.
    fn len(&self) -> usize {
        self.bytes.len().div_ceil(CHUNK)
    }

    /// Chunk `i`'s bytes, from its first line's start to its last line's end (with its
    /// `\n`); empty when no line starts in its span or `i` is past the end.
    fn get(&self, i: usize) -> Range<usize> {
        let len = self.bytes.len();
        let lo = i.saturating_mul(CHUNK).min(len);
        let hi = lo.saturating_add(CHUNK).min(len);
        // Position p starts a line when p == 0 or a `\n` is at p - 1.
        let start = match lo {
            0 => 0,
            _ => match memchr::memchr(b'\n', &self.bytes[lo - 1..hi - 1]) {
                Some(at) => lo + at,
                None => return hi..hi,
            },
        };
        // It ends where the first line at or after `hi` starts.
        let end = match hi {
            _ if hi >= len => len,
            _ => memchr::memchr(b'\n', &self.bytes[hi - 1..]).map_or(len, |at| hi + at),
        };
        start..end
    }

    /// Every chunk, in order.
    fn iter(self) -> impl Iterator<Item = Range<usize>> + 'a {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// What a replay keeps besides its windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sums {
    /// The sums per quarter hour too, for [`ReplayOutcome::intervals`].
    WithIntervals,
    /// Only what its windows need: [`ReplayOutcome::intervals`] then answers an error.
    /// For a replay that prints no interval report ([`Engine::skip_interval_sums`]).
    WindowsOnly,
}

/// Replays a whole file in memory, as `ccpulse replay` reads it, with `threads` engines
/// on as many threads (1: one engine). The figures are the same for any number.
pub fn replay_bytes(
    bytes: &[u8],
    cfg: Arc<EngineConfig>,
    as_of: Option<Millis>,
    now_wall: Millis,
    threads: usize,
) -> ReplayOutcome {
    replay_segments(&[bytes], cfg, as_of, now_wall, threads, Sums::WithIntervals)
}

/// [`replay_bytes`] of a file given as segments of whole lines (see [`FileReplay`]),
/// keeping `sums`.
///
/// The engines are first told how far the watermark will get, from a sample of the
/// lines ([`newest::newest_sampled`], [`FileReplay::expect_watermark`]). In the rare case
/// that it got less far (a sampled line was the duplicate of an older event), the file
/// is replayed again without it.
pub fn replay_segments(
    segments: &[&[u8]],
    cfg: Arc<EngineConfig>,
    as_of: Option<Millis>,
    now_wall: Millis,
    threads: usize,
    sums: Sums,
) -> ReplayOutcome {
    // Split over engines, the router looks up only the ids that occur more than once.
    let repeated = (threads > 1)
        .then(|| Repeated::find(segments, now_wall, threads))
        .flatten()
        .map(Arc::new);
    let setup = Setup {
        cfg,
        as_of,
        now_wall,
        threads,
        sums,
        repeated,
    };
    let replay = |expect| replay_expecting(segments, &setup, expect);
    if let Some(at) = newest::newest_sampled(segments, as_of, now_wall) {
        let done = replay(Some(at));
        if done.watermark >= Some(at) {
            return done;
        }
    }
    replay(None)
}

/// What [`replay_segments`] was asked, but for its input.
struct Setup {
    cfg: Arc<EngineConfig>,
    as_of: Option<Millis>,
    now_wall: Millis,
    threads: usize,
    sums: Sums,
    /// The ids on more than one line of the segments, when known.
    repeated: Option<Arc<Repeated>>,
}

/// [`replay_segments`], its engines told that the watermark will reach `expect` when
/// given.
fn replay_expecting(segments: &[&[u8]], setup: &Setup, expect: Option<Millis>) -> ReplayOutcome {
    let Setup {
        ref cfg,
        as_of,
        now_wall,
        threads,
        sums,
        ref repeated,
    } = *setup;
    let made = |threads: usize, one_pass: bool| {
        let mut r = FileReplay::with(cfg.clone(), as_of, now_wall, threads, one_pass);
        if let Some(repeated) = repeated {
            r.know_repeated(repeated);
        }
        r.expect_bytes(segments.iter().map(|s| s.len()).sum());
        if let Some(at) = expect {
            r.expect_watermark(at);
        }
        if sums == Sums::WindowsOnly {
            r.skip_interval_sums();
        }
        r
    };
    let fed = |mut r: FileReplay| {
        for s in segments {
            if r.gave_up() {
                break;
            }
            r.feed(s);
        }
        r
    };
    let one_engine = || {
        let mut one = OneEngine::new(cfg.clone(), as_of, now_wall);
        one.expect_bytes(segments.iter().map(|s| s.len()).sum());
        if let Some(at) = expect {
            one.expect_watermark(at);
        }
        if sums == Sums::WindowsOnly {
            one.skip_interval_sums();
        }
        segments.iter().for_each(|s| one.feed(s));
        one.finish()
    };
    // In one pass first, which nearly every file allows (a contact's offer comes
    // before its other events, or a few lines after them); else read twice.
    let once = fed(made(threads, true));
    if !once.needs_first_reading() {
        return once.finish().unwrap_or_else(|OneEngineNeeded| one_engine());
    }
    drop(once);
    let mut r = made(threads, false);
    if r.reads_twice() {
        segments.iter().for_each(|s| r.note_offers(s));
    }
    fed(r).finish().unwrap_or_else(|OneEngineNeeded| one_engine())
}

/// About how many bytes of a file one contact takes: its four or five events, of about
/// 200 bytes each. A guess for making room ([`FileReplay::expect_bytes`]): a file of
/// other shapes only makes more or less room than it needs.
const BYTES_PER_CONTACT: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    /// A replay's figures as JSON.
    fn figures(done: &ReplayOutcome) -> serde_json::Value {
        serde_json::to_value(&done.snapshot).expect("a snapshot serializes")
    }

    #[test]
    fn a_sampled_duplicate_newer_than_the_watermark_is_replayed_again_untold() {
        // The last line, in the sample, repeats the first event's id twelve hours later:
        // a duplicate, so the watermark stays at 08:00:10.
        let text = [
            r#"{"id":"e1","type":"contact.offered","ts":"2026-11-16T08:00:00Z","contact_id":"c1","channel":"voice","queue":"q"}"#,
            r#"{"id":"e2","type":"contact.answered","ts":"2026-11-16T08:00:10Z","contact_id":"c1","agent_id":"a1"}"#,
            r#"{"id":"e1","type":"contact.offered","ts":"2026-11-16T20:00:00Z","contact_id":"c2","channel":"voice","queue":"q"}"#,
        ]
        .join("\n");
        let wall = crate::time::parse_rfc3339("2026-11-17T00:00:00Z").expect("a time");
        let cfg = Arc::new(EngineConfig::default());
        let sampled = newest::newest_sampled(&[text.as_bytes()], None, wall);
        assert_eq!(sampled, crate::time::parse_rfc3339("2026-11-16T20:00:00Z"));

        let mut untold = FileReplay::new(cfg.clone(), None, wall, 1);
        untold.feed(text.as_bytes());
        let untold = untold.finish().expect("one engine finishes");
        assert_eq!(untold.watermark, crate::time::parse_rfc3339("2026-11-16T08:00:10Z"));
        // Told 20:00, the engine keeps the morning out of its windows...
        let setup = Setup {
            cfg: cfg.clone(),
            as_of: None,
            now_wall: wall,
            threads: 1,
            sums: Sums::WithIntervals,
            repeated: None,
        };
        let told = replay_expecting(&[text.as_bytes()], &setup, sampled);
        assert_ne!(figures(&told), figures(&untold));
        // ...so the replay, finding its watermark short of it, replays untold.
        for threads in [1, 2] {
            let done = replay_bytes(text.as_bytes(), cfg.clone(), None, wall, threads);
            assert_eq!(figures(&done), figures(&untold), "{threads} engines");
            assert_eq!(done.duplicates, 1);
        }
    }

    #[test]
    fn no_interval_report_once_the_engines_are_let_go() {
        let text = r#"{"id":"e1","type":"contact.offered","ts":"2026-11-16T08:00:00Z","contact_id":"c1","channel":"voice","queue":"q"}"#;
        let wall = crate::time::parse_rfc3339("2026-11-17T12:00:00Z").expect("a valid time");
        for threads in [1, 2] {
            let mut done = replay_bytes(text.as_bytes(), Arc::new(EngineConfig::default()), None, wall, threads);
            assert!(done.intervals(Size::Quarter, None).is_ok(), "{threads} engines");
            done.leak_engines();
            assert!(done.intervals(Size::Quarter, None).is_err(), "{threads} engines");
        }
    }

    #[test]
    fn key_tab_json_and_bare_json() {
        assert_eq!(json_of("k42\t{\"a\":1}"), "{\"a\":1}");
        assert_eq!(json_of("{\"a\":\"x\ty\"}"), "{\"a\":\"x\ty\"}");
        assert_eq!(json_of("garbage"), "garbage");
    }

    /// The chunks of `text`, each with a `\n` at its end (but the last), in order and
    /// together the whole text.
    fn assert_cut(text: &[u8]) -> Vec<Range<usize>> {
        let c = Chunks::new(text);
        assert_eq!(c.len(), text.len().div_ceil(CHUNK));
        let all: Vec<Range<usize>> = c.iter().collect();
        let mut at = 0;
        for r in &all {
            if r.is_empty() {
                continue;
            }
            assert_eq!(r.start, at, "chunks follow each other");
            assert!(r.end == text.len() || text[r.end - 1] == b'\n', "{r:?} ends a line");
            at = r.end;
        }
        assert_eq!(at, text.len(), "the whole text");
        assert_eq!(c.get(c.len()), text.len()..text.len(), "past the end: empty");
        all
    }

    #[test]
    fn chunks_end_at_line_ends() {
        let mut text = Vec::new();
        for i in 0..20_000 {
            text.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        text.extend_from_slice(b"last");
        let c = assert_cut(&text);
        assert!(c.len() > 1);
        assert!(c.iter().all(|r| !r.is_empty()));
        assert!(assert_cut(b"").is_empty());
        assert_eq!(assert_cut(b"one line, no end"), vec![0..16]);
    }

    #[test]
    fn a_line_longer_than_chunks_is_in_one_chunk() {
        for (before, long, after) in [(10, 3 * CHUNK + 5, 10), (CHUNK - 1, CHUNK, 1), (CHUNK, 2 * CHUNK, 0)] {
            let mut text = vec![b'a'; before];
            text.push(b'\n');
            text.extend(std::iter::repeat_n(b'x', long));
            text.push(b'\n');
            text.extend(std::iter::repeat_n(b'b', after));
            let c = assert_cut(&text);
            let holding = c.iter().filter(|r| r.contains(&(before + 1))).count();
            assert_eq!(holding, 1, "{before} {long} {after}: one chunk holds the long line");
            if long >= 2 * CHUNK {
                assert!(c.iter().any(|r| r.is_empty()), "a span it covers whole is empty");
            }
        }
        // Every boundary on and around a line end.
        for n in [CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1] {
            let mut text = vec![b'y'; n];
            text.push(b'\n');
            text.extend_from_slice(b"z\n");
            assert_cut(&text);
        }
    }
}
