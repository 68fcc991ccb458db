//! A replay over several engines on as many threads, with the figures of one engine
//! (why they are the same: [`crate::shard`]).
//!
//! First pass: which customer each contact's offers name ([`partitioner`]). Then the
//! file goes through three kinds of task, taken by whichever thread is free, in
//! blocks of [`BLOCK_CHUNKS`] chunks of about [`CHUNK`] bytes:
//!
//! - **read** a chunk: its lines parsed, each event's id hashed and its engine named;
//! - **route** a block (one at a time, in order): the [`Router`]'s part of each event,
//!   and each engine's list of work;
//! - **apply** a block's work to one engine (each engine's blocks in order).
//!
//! Up to [`SLOTS`] blocks are in flight, so that a thread the machine holds up for a
//! while delays the others only once they have run out of blocks to read.

use std::ops::Range;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use memchr::memmem::Finder;

use super::{for_each_line, read_line, snapshot_of, LineError, ReplayOutcome};
use crate::config::EngineConfig;
use crate::contact::key64;
use crate::dedupe::Dedupe;
use crate::engine::{window_bounds, Engine};
use crate::event::Event;
use crate::partial::Partial;
use crate::shard::{contact_key, Partitioner, PartitionerBuilder, Routed, Router};
use crate::time::Millis;

/// Bytes of lines one read task takes (about 300 lines of a realistic day).
const CHUNK: usize = 64 << 10;
/// Chunks of a block: the unit of routing and applying.
const BLOCK_CHUNKS: usize = 16;
/// Blocks in flight: read, being routed, routed and waiting for their engines.
const SLOTS: usize = 8;

/// `bytes` cut into chunks of about [`CHUNK`] bytes, at line ends.
fn chunks(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(bytes.len() / CHUNK + 1);
    let mut start = 0;
    while start < bytes.len() {
        let end = match bytes.get(start + CHUNK..) {
            None => bytes.len(),
            Some(rest) => memchr::memchr(b'\n', rest).map_or(bytes.len(), |i| start + CHUNK + i + 1),
        };
        out.push(start..end);
        start = end;
    }
    out
}

/// The string values of every member named `key` (with its quotes) in a line without
/// backslashes: there a quote always ends a string, so a `"key"` followed by a colon
/// is a member's name (at any depth) and its value, if a string, ends at the next quote.
fn string_members<'a>(line: &'a [u8], key: &'a Finder<'static>) -> impl Iterator<Item = &'a [u8]> + 'a {
    key.find_iter(line).filter_map(move |at| {
        let key = key.needle();
        let ws = |i: usize| {
            line.get(i..)
                .and_then(|r| r.iter().position(|b| !b" \t\r\n".contains(b)))
                .map(|n| i + n)
        };
        let colon = ws(at + key.len())?;
        (line[colon] == b':').then_some(())?;
        let quote = ws(colon + 1)?;
        (line[quote] == b'"').then_some(())?;
        let len = memchr::memchr(b'"', &line[quote + 1..])?;
        Some(&line[quote + 1..quote + 1 + len])
    })
}

/// The searchers of the first pass, built once.
struct OfferKeys {
    offered: Finder<'static>,
    contact: Finder<'static>,
    customer: Finder<'static>,
}

impl OfferKeys {
    fn new() -> Self {
        OfferKeys {
            offered: Finder::new(b"offered"),
            contact: Finder::new(b"\"contact_id\""),
            customer: Finder::new(b"\"customer_id\""),
        }
    }
}

/// Notes what one line that may be an offer tells: every pair of its `contact_id` and
/// `customer_id` string values. A valid offer's own pair is among them; pairs of
/// anything else only join customer groups that need not be joined, which changes
/// which engine holds them, never the figures.
fn note_offer(b: &mut PartitionerBuilder, keys: &OfferKeys, line: &[u8], now_wall: Millis) {
    if memchr::memchr(b'\\', line).is_some() {
        // Escapes: read it as the replay will.
        if let Ok(Some(ev)) = read_line(std::str::from_utf8(line), now_wall) {
            b.note(&ev);
        }
        return;
    }
    for contact in string_members(line, &keys.contact) {
        for customer in string_members(line, &keys.customer) {
            if let (Ok(contact), Ok(customer)) = (std::str::from_utf8(contact), std::str::from_utf8(customer)) {
                b.note_pair(contact_key(contact), key64(customer).get());
            }
        }
    }
}

/// The first pass: which customers contacts' offers name. Only lines that can hold a
/// valid `contact.offered` are looked at: those with `offered` in their bytes, or with
/// a backslash (an escape could spell it).
fn partitioner(bytes: &[u8], chunks: &[Range<usize>], now_wall: Millis, threads: usize) -> Partitioner {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let keys = OfferKeys::new();
        let mut b = PartitionerBuilder::default();
        let mut starts: Vec<usize> = Vec::new();
        while let Some(range) = chunks.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            let text = &bytes[range.clone()];
            starts.clear();
            let hits = keys.offered.find_iter(text).chain(memchr::memchr_iter(b'\\', text));
            starts.extend(hits.map(|hit| memchr::memrchr(b'\n', &text[..hit]).map_or(0, |i| i + 1)));
            starts.sort_unstable();
            starts.dedup();
            for &start in &starts {
                let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i + 1);
                note_offer(&mut b, &keys, &text[start..end], now_wall);
            }
        }
        b
    };
    let all = std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in others {
            if let Ok(b) = h.join() {
                all.extend(b);
            }
        }
        all
    });
    all.build(threads)
}

/// One line, read.
#[derive(Debug)]
enum Parsed<'a> {
    /// Blank: skipped (but counted).
    Blank,
    /// Invalid: why.
    Invalid(String),
    /// An event, the [`Dedupe::key`] of its id, and the engine it goes to.
    Event(Event<'a>, u128, u32),
}

/// What an engine does next, in stream order.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// Apply event `idx` of chunk `chunk` (of the block).
    Apply { chunk: u32, idx: u32, at: Routed },
    /// Run maintenance at this clock.
    Maintain(Millis),
}

/// The router and its totals.
#[derive(Debug)]
struct Routing {
    router: Router,
    invalid: Vec<LineError>,
    lines: usize,
    after_as_of: u64,
}

/// A task.
#[derive(Debug, Clone, Copy)]
enum Task {
    Read { block: usize, chunk: usize },
    Route(usize),
    Apply { engine: usize, block: usize },
}

/// Who does what: the state of the pipeline.
#[derive(Debug)]
struct Sched {
    /// Chunks of each block.
    sizes: Vec<usize>,
    /// The next chunk to read.
    read: (usize, usize),
    /// Chunks read of the block in each slot.
    read_done: [usize; SLOTS],
    /// Blocks routed, and whether one is being routed.
    routed: usize,
    routing: bool,
    /// Per engine: blocks applied, and whether one is being applied.
    applied: Vec<usize>,
    applying: Vec<bool>,
    /// A task failed: everyone stops.
    failed: bool,
}

impl Sched {
    /// The next task for thread `me` (who prefers engine `me`), marked as taken.
    fn take(&mut self, me: usize) -> Option<Task> {
        let n = self.sizes.len();
        let b = self.routed;
        if !self.routing && b < n && (b < self.read.0) && self.read_done[b % SLOTS] == self.sizes[b] {
            self.routing = true;
            return Some(Task::Route(b));
        }
        let engines = self.applied.len();
        for k in (0..engines).map(|i| (me + i) % engines) {
            if !self.applying[k] && self.applied[k] < self.routed {
                self.applying[k] = true;
                return Some(Task::Apply {
                    engine: k,
                    block: self.applied[k],
                });
            }
        }
        let (block, chunk) = self.read;
        let oldest = self.applied.iter().copied().min().unwrap_or(0);
        if block < n && block < oldest + SLOTS {
            if chunk == 0 {
                self.read_done[block % SLOTS] = 0;
            }
            self.read = if chunk + 1 == self.sizes[block] {
                (block + 1, 0)
            } else {
                (block, chunk + 1)
            };
            return Some(Task::Read { block, chunk });
        }
        None
    }

    fn done(&mut self, task: Task) {
        match task {
            Task::Read { block, .. } => self.read_done[block % SLOTS] += 1,
            Task::Route(_) => {
                self.routed += 1;
                self.routing = false;
            }
            Task::Apply { engine, .. } => {
                self.applied[engine] += 1;
                self.applying[engine] = false;
            }
        }
    }

    fn finished(&self) -> bool {
        self.applied.iter().all(|&a| a == self.sizes.len())
    }
}

/// Marks the pipeline failed if a task panics, so that the other threads stop waiting.
struct FailOnPanic<'a>(&'a Mutex<Sched>, &'a Condvar);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(mut s) = self.0.lock() {
                s.failed = true;
            }
            self.1.notify_all();
        }
    }
}

/// Replays with `threads` engines; `None` when their counts could have reached a cap
/// (see [`crate::shard`]) or a thread failed: then the caller replays with one engine.
pub(super) fn replay(
    bytes: &[u8],
    cfg: Arc<EngineConfig>,
    as_of: Option<Millis>,
    now_wall: Millis,
    threads: usize,
) -> Option<ReplayOutcome> {
    let chunks = chunks(bytes);
    let part = partitioner(bytes, &chunks, now_wall, threads);
    let blocks: Vec<&[Range<usize>]> = chunks.chunks(BLOCK_CHUNKS).collect();
    let slots: Vec<Vec<RwLock<Vec<Parsed<'_>>>>> = (0..SLOTS)
        .map(|_| (0..BLOCK_CHUNKS).map(|_| RwLock::new(Vec::new())).collect())
        .collect();
    let work: Vec<Vec<Mutex<Vec<Work>>>> = (0..threads)
        .map(|_| (0..SLOTS).map(|_| Mutex::new(Vec::new())).collect())
        .collect();
    let engines: Vec<Mutex<(Engine, (usize, usize))>> = (0..threads)
        .map(|_| Mutex::new((Engine::new(cfg.clone()), (0, 0))))
        .collect();
    let routing = Mutex::new(Routing {
        router: Router::new(&cfg),
        invalid: Vec::new(),
        lines: 0,
        after_as_of: 0,
    });
    let sched = Mutex::new(Sched {
        sizes: blocks.iter().map(|b| b.len()).collect(),
        read: (0, 0),
        read_done: [0; SLOTS],
        routed: 0,
        routing: false,
        applied: vec![0; threads],
        applying: vec![false; threads],
        failed: false,
    });
    let wake = Condvar::new();

    let read = |block: usize, chunk: usize| -> Option<()> {
        let mut out = slots[block % SLOTS][chunk].write().ok()?;
        out.clear();
        for_each_line(bytes, blocks[block][chunk].clone(), |line| {
            out.push(match read_line(line, now_wall) {
                Ok(None) => Parsed::Blank,
                Ok(Some(ev)) => {
                    let key = Dedupe::key(&ev.id);
                    let engine = part.engine_of(&ev, key) as u32;
                    Parsed::Event(ev, key, engine)
                }
                Err(reason) => Parsed::Invalid(reason),
            });
        });
        Some(())
    };
    let route = |block: usize| -> Option<()> {
        let mut guard = routing.lock().ok()?;
        let r = &mut *guard;
        let mut lists: Vec<MutexGuard<'_, Vec<Work>>> = work
            .iter()
            .map(|w| w[block % SLOTS].lock().ok())
            .collect::<Option<_>>()?;
        lists.iter_mut().for_each(|l| l.clear());
        for (c, slot) in slots[block % SLOTS].iter().take(blocks[block].len()).enumerate() {
            let mut lines = slot.write().ok()?;
            for (i, line) in lines.iter_mut().enumerate() {
                r.lines += 1;
                match line {
                    Parsed::Blank => {}
                    Parsed::Invalid(reason) => r.invalid.push(LineError {
                        line: r.lines,
                        reason: std::mem::take(reason),
                    }),
                    Parsed::Event(ev, key, engine) => {
                        if as_of.is_some_and(|t| ev.ts >= t) {
                            r.after_as_of += 1;
                            continue;
                        }
                        let Some((at, maintain)) = r.router.route(*key, ev.ts) else {
                            continue;
                        };
                        let (chunk, idx) = (c as u32, i as u32);
                        lists[*engine as usize].push(Work::Apply { chunk, idx, at });
                        if let Some(clock) = maintain {
                            lists.iter_mut().for_each(|l| l.push(Work::Maintain(clock)));
                        }
                    }
                }
            }
        }
        Some(())
    };
    // Applies a block's work to an engine, and keeps bounds on the engine's open and
    // remembered contacts while it did (for the caps).
    let apply = |k: usize, block: usize| -> Option<()> {
        let mut guard = engines[k].lock().ok()?;
        let (engine, bounds) = &mut *guard;
        let list = work[k][block % SLOTS].lock().ok()?;
        let lines: Vec<_> = slots[block % SLOTS]
            .iter()
            .take(blocks[block].len())
            .map(|l| l.read().ok())
            .collect::<Option<_>>()?;
        let events = list.iter().filter(|w| matches!(w, Work::Apply { .. })).count();
        let (open, remembered) = (engine.open_contacts(), engine.remembered_contacts());
        *bounds = (bounds.0.max(open + events), bounds.1.max(open + remembered + events));
        for w in list.iter() {
            match *w {
                Work::Apply { chunk, idx, at } => {
                    if let Some(Parsed::Event(ev, _, _)) = lines[chunk as usize].get(idx as usize) {
                        engine.apply_routed(ev, at);
                    }
                }
                Work::Maintain(clock) => engine.maintain_at(clock),
            }
        }
        Some(())
    };
    let worker = |me: usize| {
        let _fail = FailOnPanic(&sched, &wake);
        let Ok(mut s) = sched.lock() else { return };
        loop {
            if s.failed || s.finished() {
                return;
            }
            let Some(task) = s.take(me) else {
                s = match wake.wait(s) {
                    Ok(s) => s,
                    Err(_) => return,
                };
                continue;
            };
            drop(s);
            let ok = match task {
                Task::Read { block, chunk } => read(block, chunk),
                Task::Route(block) => route(block),
                Task::Apply { engine, block } => apply(engine, block),
            };
            s = match sched.lock() {
                Ok(s) => s,
                Err(_) => return,
            };
            s.done(task);
            s.failed |= ok.is_none();
            wake.notify_all();
        }
    };
    std::thread::scope(|s| {
        for me in 1..threads {
            let worker = &worker;
            s.spawn(move || worker(me));
        }
        worker(0);
    });
    if sched.lock().ok()?.failed {
        return None;
    }

    let engines: Vec<(Engine, (usize, usize))> = engines.into_iter().filter_map(|e| e.into_inner().ok()).collect();
    let Routing {
        router,
        invalid,
        lines,
        after_as_of,
    } = routing.into_inner().ok()?;
    let (open, remembered) = engines.iter().fold((0usize, 0usize), |(o, r), (_, (bo, br))| {
        (o.saturating_add(*bo), r.saturating_add(*br))
    });
    if engines.len() != threads || open > cfg.max_open_contacts || remembered > cfg.max_remembered_contacts {
        return None;
    }
    let now = as_of.or(router.watermark()).unwrap_or(now_wall);
    let partials: Vec<Partial> = std::thread::scope(|s| {
        let handles: Vec<_> = engines
            .into_iter()
            .map(|(mut e, _)| s.spawn(move || e.partial(now)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut merged = Partial::empty(now, &window_bounds(&cfg, now));
    for p in &partials {
        merged.merge(p);
    }
    merged.stats.duplicates += router.duplicates();
    merged.stats.dedupe_ids = router.dedupe_ids() as u64;
    Some(ReplayOutcome {
        snapshot: snapshot_of(&merged, &cfg),
        invalid,
        lines,
        duplicates: router.duplicates(),
        after_as_of,
        engines: threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_members_finds_every_member_of_that_name() {
        let line =
            br#"{"contact_id" : "c1","x":{"contact_id":"c2"},"contact_id":7,"y":"contact_id","customer_id":"k"}"#;
        let keys = OfferKeys::new();
        let found: Vec<&[u8]> = string_members(line, &keys.contact).collect();
        assert_eq!(found, vec![&b"c1"[..], b"c2"]);
        assert_eq!(string_members(line, &keys.customer).count(), 1);
    }

    #[test]
    fn chunks_end_at_line_ends() {
        let mut text = Vec::new();
        for i in 0..20_000 {
            text.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        text.extend_from_slice(b"last");
        let c = chunks(&text);
        assert!(c.len() > 1);
        assert_eq!(c.first().map(|r| r.start), Some(0));
        assert_eq!(c.last().map(|r| r.end), Some(text.len()));
        for w in c.windows(2) {
            assert_eq!(w[0].end, w[1].start);
            assert_eq!(text[w[0].end - 1], b'\n');
        }
    }
}
