//! A replay over several engines on as many threads, with the figures of one engine
//! (why they are the same: [`crate::shard`]).
//!
//! Each event's engine is named by its customer: from a first reading of the offers
//! ([`Split::note_offers`], [`Partitioner`]), or in one pass, each contact pinned to an
//! engine as the stream goes ([`Pins`]), which stops if an offer then names a customer
//! of another engine than its contact's (the caller reads the offers first and starts
//! again). Each segment goes through three kinds of task, taken by whichever thread is
//! free, in blocks of [`BLOCK_CHUNKS`] chunks of about [`CHUNK`](super::CHUNK) bytes:
//!
//! - **read** a chunk: its lines parsed, each event's id hashed and its engine named
//!   (in one pass: its contact's key, and its customer's engine if it is an offer);
//! - **route** a block (one at a time, in order): the [`Router`]'s part of each event,
//!   in one pass its contact's pin (an event before its contact's offer looks for that
//!   offer in the rest of the block and the [`AHEAD`] blocks after it), and each
//!   engine's list of work;
//! - **apply** a block's work to one engine (each engine's blocks in order).
//!
//! Up to [`SLOTS`] blocks are in flight, so that a thread the machine holds up for a
//! while delays the others only once they have run out of blocks to read.

use std::collections::hash_map::Entry;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};

use memchr::memmem::Finder;
use rustc_hash::FxHashMap;

use super::repeated::Repeated;
use super::{common_id, for_each_line, read_line, snapshot_of, Chunks, LineError, ReplayOutcome};
use crate::config::EngineConfig;
use crate::contact::key64;
use crate::contact_kind::NameKeys;
use crate::dedupe::Dedupe;
use crate::engine::Engine;
use crate::event::Event;
use crate::partial::Partial;
use crate::shard::{contact_key, pin_dest, Dest, Partitioner, PartitionerBuilder, Pins, Routed, Router};
use crate::threads::on_threads;
use crate::time::Millis;

/// Chunks of a block: the unit of routing and applying.
const BLOCK_CHUNKS: usize = 16;
/// Blocks read before a block is routed: in one pass, an event of a contact not pinned
/// yet looks for the contact's offer in its own block and these (events arrive minutes
/// out of order; 3 blocks are 3 MiB of lines, 15 000 or so events).
const AHEAD: usize = 3;
/// Blocks in flight: read (a block and the [`AHEAD`] after it before it is routed),
/// being routed, routed and waiting for their engines.
const SLOTS: usize = 12;

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

/// The `type` of an event written in the common shape, `{"id":"…","type":"…"` first
/// with no backslash in either value (bare, or after a key and a tab); `None` for a
/// line of any other shape. A line of that shape is a valid `contact.offered` only if
/// this says so: a valid event names its type once, and without an escape the bytes
/// are the value.
fn common_type(line: &[u8]) -> Option<&[u8]> {
    let (_, rest) = common_id(line)?;
    let rest = rest.strip_prefix(b",\"type\":\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then_some(&rest[..end])
}

/// The lines of `text` (each with its `\n`, the last one without it when `text` does
/// not end with one) that contain `offered` (the needle of `offered`) or a backslash,
/// in order. Only those lines can be a valid `contact.offered`: its type is spelled out
/// or escaped. The others are skipped by searching for the next of the two, not read
/// line by line: most lines of a day are not offers.
fn lines_with_offered_or_escape<'t>(
    text: &'t [u8],
    offered: &'t Finder<'static>,
) -> impl Iterator<Item = &'t [u8]> + 't {
    // The next occurrence of each at or after `at` (`text.len()`: none), found again
    // only once `at` has passed it, so that each is searched for once over the text.
    let word_from = move |at: usize| offered.find(&text[at..]).map_or(text.len(), |i| at + i);
    let escape_from = move |at: usize| memchr::memchr(b'\\', &text[at..]).map_or(text.len(), |i| at + i);
    let mut at = 0;
    let mut next_word = word_from(0);
    let mut next_escape = escape_from(0);
    std::iter::from_fn(move || {
        if at >= text.len() {
            return None;
        }
        if next_word < at {
            next_word = word_from(at);
        }
        if next_escape < at {
            next_escape = escape_from(at);
        }
        let hit = next_word.min(next_escape);
        if hit >= text.len() {
            at = text.len();
            return None;
        }
        let start = memchr::memrchr(b'\n', &text[at..hit]).map_or(at, |i| at + i + 1);
        let end = memchr::memchr(b'\n', &text[hit..]).map_or(text.len(), |i| hit + i + 1);
        at = end;
        Some(&text[start..end])
    })
}

/// The first reading of a segment: which customers contacts' offers name. Only lines
/// that can be a valid `contact.offered` are read ([`lines_with_offered_or_escape`]): by
/// their type when they are written in the common shape ([`common_type`]), else when
/// they have `offered` in their bytes or a backslash (an escape could spell it).
fn note_offers(bytes: &[u8], now_wall: Millis, threads: usize) -> PartitionerBuilder {
    let chunks = Chunks::new(bytes);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let keys = OfferKeys::new();
        let mut b = PartitionerBuilder::default();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= chunks.len() {
                break;
            }
            for line in lines_with_offered_or_escape(&bytes[chunks.get(i)], &keys.offered) {
                // A line of the common shape names its type; any other line that has
                // `offered` or a backslash may be an offer.
                if common_type(line).is_none_or(|kind| kind == b"contact.offered") {
                    note_offer(&mut b, &keys, line, now_wall);
                }
            }
        }
        b
    };
    let mut each = on_threads(threads, work).into_iter().flatten();
    let mut all = each.next().unwrap_or_default();
    each.for_each(|b| all.extend(b));
    all
}

/// One line, read.
// Nearly every line is an event: boxing it would allocate once per line for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Parsed<'a> {
    /// Blank: skipped (but counted).
    Blank,
    /// Invalid: why.
    Invalid(String),
    /// An event, the [`Dedupe::key`] of its id, where it goes, and the keys of its names
    /// (computed here, where its bytes are in the cache).
    Event(Event<'a>, u128, Dest, NameKeys),
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
    /// The contacts' engines of a replay in one pass (empty in two).
    pins: Pins,
    /// The ids on more than one line of the whole file, when known: the others are
    /// routed without a look-up ([`Router::route_unique`]).
    repeated: Option<Arc<Repeated>>,
    /// An offer named a customer of another engine than its contact's: the replay in
    /// one pass stopped, and must be split with a first reading.
    conflict: bool,
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
        let read = |k: usize| k < self.read.0 && self.read_done[k % SLOTS] == self.sizes[k];
        // A block is routed once it and the [`AHEAD`] after it are read: routing in one
        // pass looks for offers in them.
        if !self.routing && b < n && (b..n).take(AHEAD + 1).all(read) {
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

/// How a split replay finds each event's engine.
#[derive(Debug)]
enum Partition {
    /// From a first reading: its offers so far.
    Offers(PartitionerBuilder),
    /// From the first reading, once it is done.
    Known(Partitioner),
    /// In one pass: contacts pinned as they come ([`Pins`]).
    Pinned,
}

/// A replay split over engines, fed segment by segment.
#[derive(Debug)]
pub(super) struct Split {
    cfg: Arc<EngineConfig>,
    as_of: Option<Millis>,
    now_wall: Millis,
    threads: usize,
    partition: Partition,
    /// Each engine, with bounds on its open and remembered contacts (for the caps).
    engines: Vec<(Engine, (usize, usize))>,
    routing: Routing,
    /// A task failed.
    failed: bool,
}

impl Split {
    /// A split with a first reading of the offers ([`Split::note_offers`]), or in one
    /// pass ([`Pins`]), which may find that it needs one ([`Split::needs_first_reading`]).
    pub(super) fn new(
        cfg: Arc<EngineConfig>,
        as_of: Option<Millis>,
        now_wall: Millis,
        threads: usize,
        one_pass: bool,
    ) -> Self {
        Split {
            engines: (0..threads).map(|_| (Engine::new(cfg.clone()), (0, 0))).collect(),
            routing: Routing {
                router: Router::new(&cfg),
                pins: Pins::new(threads),
                repeated: None,
                conflict: false,
                invalid: Vec::new(),
                lines: 0,
                after_as_of: 0,
            },
            cfg,
            as_of,
            now_wall,
            threads,
            partition: if one_pass {
                Partition::Pinned
            } else {
                Partition::Offers(PartitionerBuilder::default())
            },
            failed: false,
        }
    }

    /// Makes room for about `contacts` finished contacts in all, each engine for its
    /// share ([`Engine::reserve_contacts`]).
    pub(super) fn reserve_contacts(&mut self, contacts: usize) {
        let share = contacts / self.threads.max(1);
        self.engines.iter_mut().for_each(|(e, _)| e.reserve_contacts(share));
    }

    /// [`Engine::expect_watermark`] for every engine.
    pub(super) fn expect_watermark(&mut self, at: Millis) {
        self.engines.iter_mut().for_each(|(e, _)| e.expect_watermark(at));
    }

    /// Tells it which ids occur on more than one line of the whole file it will be fed.
    pub(super) fn know_repeated(&mut self, repeated: Arc<Repeated>) {
        self.routing.repeated = Some(repeated);
    }

    /// [`Engine::skip_interval_sums`] for every engine.
    pub(super) fn skip_interval_sums(&mut self) {
        self.engines.iter_mut().for_each(|(e, _)| e.skip_interval_sums());
    }

    pub(super) fn note_offers(&mut self, segment: &[u8]) {
        if let Partition::Offers(offers) = &mut self.partition {
            offers.extend(note_offers(segment, self.now_wall, self.threads));
        }
    }

    /// Whether a replay in one pass stopped because it cannot keep one engine's figures
    /// that way: it must be split with a first reading.
    pub(super) fn needs_first_reading(&self) -> bool {
        self.routing.conflict
    }

    /// Whether the engines' counts could have added up to a cap, or a task failed.
    pub(super) fn gave_up(&self) -> bool {
        let (open, remembered) = self.engines.iter().fold((0usize, 0usize), |(o, r), (_, (bo, br))| {
            (o.saturating_add(*bo), r.saturating_add(*br))
        });
        self.failed || open > self.cfg.max_open_contacts || remembered > self.cfg.max_remembered_contacts
    }

    pub(super) fn feed(&mut self, segment: &[u8]) {
        let threads = self.threads;
        if let Partition::Offers(offers) = &mut self.partition {
            self.partition = Partition::Known(std::mem::take(offers).build(threads));
        }
        let part = match &self.partition {
            Partition::Known(part) => Some(part),
            _ => None,
        };
        let ok = pipeline(
            segment,
            part,
            &mut self.engines,
            &mut self.routing,
            self.as_of,
            self.now_wall,
        );
        self.failed |= ok.is_none();
    }

    /// The outcome; `None` when the split could not keep one engine's figures.
    pub(super) fn finish(self) -> Option<ReplayOutcome> {
        if self.gave_up() {
            return None;
        }
        let Routing {
            router,
            invalid,
            lines,
            after_as_of,
            ..
        } = self.routing;
        let now = self.as_of.or(router.watermark()).unwrap_or(self.now_wall);
        // Each engine's share on a thread of its own; the engines are kept for
        // interval reports.
        let shares: Vec<(Engine, Partial)> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .engines
                .into_iter()
                .map(|(mut e, _)| {
                    s.spawn(move || {
                        let p = e.partial(now);
                        (e, p)
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        if shares.len() != self.threads {
            return None;
        }
        // The first engine's share is the base the others are added to: added to an
        // empty partial, it would only be copied (half of the merge's time).
        let mut held = Vec::with_capacity(shares.len());
        let mut merged: Option<Partial> = None;
        for (e, p) in shares {
            match &mut merged {
                Some(m) => m.merge(&p),
                None => merged = Some(p),
            }
            held.push(e);
        }
        let mut merged = merged?;
        merged.stats.duplicates += router.duplicates();
        merged.stats.dedupe_ids = router.dedupe_ids() as u64;
        Some(ReplayOutcome {
            snapshot: snapshot_of(&merged, &self.cfg, self.threads),
            invalid,
            lines,
            duplicates: router.duplicates(),
            after_as_of,
            engines: self.threads,
            first_reading: matches!(self.partition, Partition::Known(_)),
            held,
            now,
            watermark: router.watermark(),
            cfg: self.cfg,
        })
    }
}

/// Per slot, per chunk of its block: what was read.
type Slots<T> = Vec<Vec<RwLock<Vec<T>>>>;

/// The offers naming a customer of the blocks from the one being routed to the
/// [`AHEAD`] after it, by contact, for routing in one pass: each block's offers are
/// entered once, when it comes within reach, and taken out once it is routed. (The map
/// was built anew for each block routed, which entered every offer four times, on the
/// one thread that routes: 1.5 % of a replay's instructions, `callgrind`.)
#[derive(Debug, Default)]
struct AheadOffers {
    /// Per contact: the engine of its first offer entered, and how many of its offers
    /// are entered. Two offers of one contact naming customers of two engines make the
    /// pins conflict whichever is looked up, so the first one's engine stands for all.
    by_contact: FxHashMap<u128, (u32, u32)>,
    /// Blocks entered so far: `0..through`.
    through: usize,
}

impl AheadOffers {
    /// Enters the offers of the blocks before `end` not entered yet (each must be read).
    fn add_through(&mut self, end: usize, sizes: &[usize], offers: &Slots<(u128, u32)>) {
        let end = end.min(sizes.len());
        for b in self.through..end {
            for found in offers[b % SLOTS].iter().take(sizes[b]) {
                if let Ok(found) = found.read() {
                    for &(contact, engine) in found.iter() {
                        self.by_contact.entry(contact).or_insert((engine, 0)).1 += 1;
                    }
                }
            }
        }
        self.through = self.through.max(end);
    }

    /// Takes out the offers of `block` (entered, and not yet read over).
    fn remove(&mut self, block: usize, sizes: &[usize], offers: &Slots<(u128, u32)>) {
        for found in offers[block % SLOTS].iter().take(sizes[block]) {
            if let Ok(found) = found.read() {
                for &(contact, _) in found.iter() {
                    if let Entry::Occupied(mut o) = self.by_contact.entry(contact) {
                        o.get_mut().1 -= 1;
                        if o.get().1 == 0 {
                            o.remove();
                        }
                    }
                }
            }
        }
    }

    /// The engine of the contact's offer, if one is entered.
    fn engine(&self, contact: u128) -> Option<u32> {
        self.by_contact.get(&contact).map(|&(engine, _)| engine)
    }
}

/// Replays one segment over the engines, routed by `part`, or in one pass by the
/// routing's [`Pins`] when `None`; `None` when a task failed or the pins conflicted.
fn pipeline(
    bytes: &[u8],
    part: Option<&Partitioner>,
    engines: &mut [(Engine, (usize, usize))],
    routing: &mut Routing,
    as_of: Option<Millis>,
    now_wall: Millis,
) -> Option<()> {
    let threads = engines.len();
    let chunks = Chunks::new(bytes);
    // Chunks of each block.
    let sizes: Vec<usize> = (0..chunks.len().div_ceil(BLOCK_CHUNKS))
        .map(|b| (chunks.len() - b * BLOCK_CHUNKS).min(BLOCK_CHUNKS))
        .collect();
    let slots: Slots<Parsed<'_>> = (0..SLOTS)
        .map(|_| (0..BLOCK_CHUNKS).map(|_| RwLock::new(Vec::new())).collect())
        .collect();
    // Per chunk, the offers naming a customer read in it (contact key, the customer's
    // engine), for routing in one pass.
    let offers: Slots<(u128, u32)> = (0..SLOTS)
        .map(|_| (0..BLOCK_CHUNKS).map(|_| RwLock::new(Vec::new())).collect())
        .collect();
    let work: Vec<Vec<Mutex<Vec<Work>>>> = (0..threads)
        .map(|_| (0..SLOTS).map(|_| Mutex::new(Vec::new())).collect())
        .collect();
    let engines: Vec<Mutex<&mut (Engine, (usize, usize))>> = engines.iter_mut().map(Mutex::new).collect();
    let routing = Mutex::new(routing);
    let ahead = Mutex::new(AheadOffers::default());
    let sched = Mutex::new(Sched {
        sizes: sizes.clone(),
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
        let mut found = offers[block % SLOTS][chunk].write().ok()?;
        found.clear();
        for_each_line(bytes, chunks.get(block * BLOCK_CHUNKS + chunk), |line| {
            out.push(match read_line(line, now_wall) {
                Ok(None) => Parsed::Blank,
                Ok(Some(ev)) => {
                    let key = Dedupe::key(&ev.id);
                    let dest = match part {
                        Some(part) => part.dest(&ev, key),
                        None => pin_dest(&ev, key, threads),
                    };
                    if let Dest::Pin {
                        contact,
                        offer: Some(engine),
                    } = dest
                    {
                        found.push((contact, engine));
                    }
                    let names = NameKeys::of(&ev.body);
                    Parsed::Event(ev, key, dest, names)
                }
                Err(reason) => Parsed::Invalid(reason),
            });
        });
        Some(())
    };
    let route = |block: usize| -> Option<()> {
        let mut guard = routing.lock().ok()?;
        let r = &mut **guard;
        let mut lists: Vec<MutexGuard<'_, Vec<Work>>> = work
            .iter()
            .map(|w| w[block % SLOTS].lock().ok())
            .collect::<Option<_>>()?;
        lists.iter_mut().for_each(|l| l.clear());
        // The offers of this block and the [`AHEAD`] after it by contact: an event of a
        // contact not pinned yet that is not an offer looks for its offer there, which
        // usually comes a few lines, at most a few minutes of traffic, later (those
        // blocks are read before this one is routed, see `Sched::take`).
        let mut ahead = ahead.lock().ok()?;
        let window = &mut *ahead;
        window.add_through(block + AHEAD + 1, &sizes, &offers);
        for (c, slot) in slots[block % SLOTS].iter().take(sizes[block]).enumerate() {
            let mut lines = slot.write().ok()?;
            for (i, line) in lines.iter_mut().enumerate() {
                r.lines += 1;
                match line {
                    Parsed::Blank => {}
                    Parsed::Invalid(reason) => r.invalid.push(LineError {
                        line: r.lines,
                        reason: std::mem::take(reason),
                    }),
                    Parsed::Event(ev, key, dest, _) => {
                        if as_of.is_some_and(|t| ev.ts >= t) {
                            r.after_as_of += 1;
                            continue;
                        }
                        let routed = match &r.repeated {
                            Some(repeated) if !repeated.contains(*key) => r.router.route_unique(ev.ts),
                            _ => r.router.route(*key, ev.ts),
                        };
                        let Some((at, maintain)) = routed else {
                            continue;
                        };
                        let Ok(engine) = r.pins.engine(*dest, |contact| window.engine(contact)) else {
                            r.conflict = true;
                            return None;
                        };
                        let (chunk, idx) = (c as u32, i as u32);
                        lists.get_mut(engine as usize)?.push(Work::Apply { chunk, idx, at });
                        if let Some(clock) = maintain {
                            lists.iter_mut().for_each(|l| l.push(Work::Maintain(clock)));
                        }
                    }
                }
            }
        }
        window.remove(block, &sizes, &offers);
        Some(())
    };
    // Applies a block's work to an engine, and keeps bounds on the engine's open and
    // remembered contacts while it did (for the caps).
    let apply = |k: usize, block: usize| -> Option<()> {
        let mut guard = engines[k].lock().ok()?;
        let (engine, bounds) = &mut **guard;
        let list = work[k][block % SLOTS].lock().ok()?;
        let lines: Vec<_> = slots[block % SLOTS]
            .iter()
            .take(sizes[block])
            .map(|l| l.read().ok())
            .collect::<Option<_>>()?;
        let events = list.iter().filter(|w| matches!(w, Work::Apply { .. })).count();
        let (open, remembered) = (engine.open_contacts(), engine.remembered_contacts());
        *bounds = (bounds.0.max(open + events), bounds.1.max(open + remembered + events));
        for w in list.iter() {
            match *w {
                Work::Apply { chunk, idx, at } => {
                    if let Some(Parsed::Event(ev, _, dest, names)) = lines[chunk as usize].get(idx as usize) {
                        engine.apply_routed(ev, at, dest.contact(), Some(names));
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
    let failed = sched.lock().map_or(true, |s| s.failed);
    (!failed).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_of_a_line_of_the_common_shape() {
        let offer = br#"{"id":"e1","type":"contact.offered","ts":1}"#;
        assert_eq!(common_type(offer), Some(&b"contact.offered"[..]));
        assert_eq!(
            common_type(br#"k1	{"id":"e1","type":"agent.state"}"#),
            Some(&b"agent.state"[..])
        );
        for other in [
            &br#" {"id":"e1","type":"contact.offered"}"#[..],
            br#"{"type":"contact.offered","id":"e1"}"#,
            br#"{"id":"e\"1","type":"contact.offered"}"#,
            br#"{"id":"e1","type":"contact.offere\u0064"}"#,
            br#"{"id":"e1", "type":"contact.offered"}"#,
            br#"{"id":"e1","type":"contact.offered"#,
            br#"k1 {"id":"e1","type":"contact.offered"}"#,
        ] {
            assert_eq!(common_type(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn string_members_finds_every_member_of_that_name() {
        let line =
            br#"{"contact_id" : "c1","x":{"contact_id":"c2"},"contact_id":7,"y":"contact_id","customer_id":"k"}"#;
        let keys = OfferKeys::new();
        let found: Vec<&[u8]> = string_members(line, &keys.contact).collect();
        assert_eq!(found, vec![&b"c1"[..], b"c2"]);
        assert_eq!(string_members(line, &keys.customer).count(), 1);
    }

    /// Blocks of offers (contact, engine) as the pipeline's slots hold them, one chunk
    /// per block.
    fn offer_slots(blocks: &[Vec<(u128, u32)>]) -> (Slots<(u128, u32)>, Vec<usize>) {
        let slots: Slots<(u128, u32)> = (0..SLOTS)
            .map(|_| (0..BLOCK_CHUNKS).map(|_| RwLock::new(Vec::new())).collect())
            .collect();
        for (b, offers) in blocks.iter().enumerate().take(SLOTS) {
            if let Ok(mut chunk) = slots[b % SLOTS][0].write() {
                *chunk = offers.clone();
            }
        }
        (slots, vec![1; blocks.len()])
    }

    proptest::proptest! {
        /// While blocks are routed in order, the offers in reach give each contact the
        /// engine of its first offer among the block being routed and the [`AHEAD`]
        /// after it, as gathering those blocks anew would (a contact's offers naming
        /// one engine, as they do unless the pins conflict anyway).
        #[test]
        fn offers_in_reach_are_those_of_the_blocks_ahead(
            blocks in proptest::collection::vec(proptest::collection::vec(0u128..12, 0..6), 1..SLOTS),
        ) {
            let engine_of = |contact: u128| (contact % 3) as u32;
            let blocks: Vec<Vec<(u128, u32)>> =
                blocks.iter().map(|b| b.iter().map(|&c| (c, engine_of(c))).collect()).collect();
            let (slots, sizes) = offer_slots(&blocks);
            let mut ahead = AheadOffers::default();
            for block in 0..blocks.len() {
                ahead.add_through(block + AHEAD + 1, &sizes, &slots);
                for contact in 0..12 {
                    let naive = blocks[block..]
                        .iter()
                        .take(AHEAD + 1)
                        .flatten()
                        .find(|&&(c, _)| c == contact)
                        .map(|&(_, e)| e);
                    proptest::prop_assert_eq!(ahead.engine(contact), naive, "block {} contact {}", block, contact);
                }
                ahead.remove(block, &sizes, &slots);
            }
            proptest::prop_assert!(ahead.by_contact.is_empty());
        }
    }

    #[test]
    fn a_contact_offered_twice_is_in_reach_until_its_last_offer_is_routed() {
        let (slots, sizes) = offer_slots(&[vec![(7, 1)], vec![], vec![], vec![], vec![(7, 1)], vec![]]);
        let mut ahead = AheadOffers::default();
        for block in 0..=4 {
            ahead.add_through(block + AHEAD + 1, &sizes, &slots);
            assert_eq!(ahead.engine(7), Some(1), "block {block}");
            ahead.remove(block, &sizes, &slots);
        }
        ahead.add_through(5 + AHEAD + 1, &sizes, &slots);
        assert_eq!(ahead.engine(7), None);
    }

    /// The lines of `text` that contain `offered` or a backslash, read line by line.
    fn naive(text: &[u8]) -> Vec<&[u8]> {
        let finder = Finder::new(b"offered");
        text.split_inclusive(|&b| b == b'\n')
            .filter(|l| finder.find(l).is_some() || l.contains(&b'\\'))
            .collect()
    }

    #[test]
    fn lines_with_offered_or_escape_skips_only_lines_without_either() {
        let keys = OfferKeys::new();
        for text in [
            &b""[..],
            b"offered",
            b"\\",
            b"a\nb\n",
            b"a\noffered\nb\\c\n\nd offered \\ x\noff\nered\nlast offered",
            b"\noffered\n\n\\\n",
            b"offeredoffered\nxoffered\n",
        ] {
            let found: Vec<&[u8]> = lines_with_offered_or_escape(text, &keys.offered).collect();
            assert_eq!(found, naive(text), "{:?}", String::from_utf8_lossy(text));
        }
    }

    proptest::proptest! {
        #[test]
        fn lines_with_offered_or_escape_is_the_naive_filter(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![&b"offered"[..], b"\\", b"\n", b"off", b"ered", b"x", b"{\"id\""]),
                0..60,
            )
        ) {
            let text = parts.concat();
            let keys = OfferKeys::new();
            let found: Vec<&[u8]> = lines_with_offered_or_escape(&text, &keys.offered).collect();
            proptest::prop_assert_eq!(found, naive(&text));
        }
    }
}
