//! The engine: one per partition. Dedupe → contact lifecycle → facts into slices; at a
//! tick it yields a [`Partial`]. Pure and single-threaded: no IO, no locks.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_128;

use crate::agent::{name_key, names_key, AgentRecord};
use crate::agg::{AgentAgg, Aggregate, Fact, LeafKey, NameId, QueueAgg, QueueSlice};
use crate::config::EngineConfig;
use crate::contact::{
    answer_fact, derive_into, survey_fact, Attribution, Contact, ContactEvent, ContactEventKind, Derived, DrillLeg,
    DrillOutcome, FirstOffer, PolicyLookup, SurveyMemo,
};
use crate::contact_kind::{kind_of, NameKeys};
use crate::dedupe::{Dedupe, Seen};
use crate::event::{Body, Channel, Event};
use crate::fcr::CustomerIndex;
use crate::intern::Interner;
use crate::interval::{quarter_of, QuarterChange, Quarters, QUARTER};
use crate::partial::{AgentLive, AgentWindow, EngineStats, GroupKey, Listed, LiveLeaf, Partial, MAX_LISTED};
use crate::policy::{self, Policy};
use crate::schedule::Schedule;
use crate::shard::Routed;
use crate::time::{Millis, DAY, HOUR, MINUTE};
use crate::window::{DayClock, Days, Ring, SlicePool};

/// How often idle groups and agents are swept (event time). A sweep visits every group
/// and agent, about five cache misses each (`callgrind`); the rings bound what an idle
/// one holds in between.
const SWEEP_EVERY: Millis = HOUR;

/// The name of the calendar-day window.
pub const TODAY: &str = "today";

/// What became of an applied event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Counted.
    Applied,
    /// Its id was seen before; dropped.
    Duplicate,
    /// Older than the dedupe horizon; dropped and counted.
    TooOld,
    /// A lifecycle event for a contact already finished and forgotten; counted, ignored.
    AfterClose,
    /// Its contact already holds [`MAX_CONTACT_EVENTS`] events, or its agent
    /// [`MAX_AGENT_STATES`] state changes; dropped and counted.
    OverCap,
}

/// The most events one contact holds: every event of a contact re-derives it from all
/// of its events, so this bounds the cost of one event (a real contact has a dozen).
pub const MAX_CONTACT_EVENTS: usize = 256;

/// The most state changes one agent holds (they are kept since local midnight, and
/// every snapshot reads them): a real agent changes state a few hundred times a day.
pub const MAX_AGENT_STATES: usize = 4096;

#[derive(Debug, Clone)]
struct Leaf {
    ring: Ring<QueueSlice>,
    days: Days<QueueAgg>,
    /// Sums per quarter hour of the local day, for interval reports.
    quarters: Quarters,
}

/// SLA policy selection, cached per (channel, queue, segment).
#[derive(Debug)]
struct Policies<'a> {
    list: &'a [Policy],
    names: &'a Interner,
    cache: &'a mut FxHashMap<u128, Option<u16>>,
}

impl<'a> Policies<'a> {
    /// The policies of `cfg`, with the engine's names and selections so far.
    fn of(cfg: &'a EngineConfig, names: &'a Interner, cache: &'a mut FxHashMap<u128, Option<u16>>) -> Self {
        Policies {
            list: &cfg.policies,
            names,
            cache,
        }
    }
}

impl PolicyLookup for Policies<'_> {
    fn select(&mut self, channel: Channel, queue: NameId, segment: Option<NameId>) -> Option<u16> {
        // Looked up before it is entered: `entry` costs more, and nearly every lookup hits.
        let key = policy_key(channel, queue, segment);
        if let Some(&idx) = self.cache.get(&key) {
            return idx;
        }
        let (list, names) = (self.list, self.names);
        let seg = segment.map(|s| names.name(s).as_ref());
        let idx = policy::select(list, channel, names.name(queue), seg).map(|i| i as u16);
        self.cache.insert(key, idx);
        idx
    }
    fn policy(&self, idx: u16) -> &Policy {
        &self.list[idx as usize]
    }
}

/// The key of a policy selection as one number, distinct for distinct arguments: it is
/// looked up for every leg of every derivation, and hashing the tuple cost twice as much.
fn policy_key(channel: Channel, queue: NameId, segment: Option<NameId>) -> u128 {
    let segment = segment.map_or(0, |s| (1 << 32) | u128::from(s));
    (channel as u128) << 96 | u128::from(queue) << 64 | segment
}

/// Where facts land: slice rings and day sums of leaves and agents, with the floors
/// below which nothing is added or retracted (so an add and its retraction always
/// meet the same slice).
#[derive(Debug)]
struct Store {
    slice: Millis,
    ring_cap: usize,
    leaves: FxHashMap<LeafKey, Leaf>,
    agents: FxHashMap<NameId, AgentRecord>,
    leaf_slices: SlicePool<QueueSlice>,
    days: DayClock,
    /// The local days of the floors, kept apart from `days`: the floors are two other
    /// days than the facts' (a day and `interval_days` before the watermark), and
    /// looking all three up in one two-day cache missed at nearly every event, each miss
    /// a time zone conversion (about 4 % of a replay).
    day_floor_days: DayClock,
    /// As `day_floor_days`, for `quarter_floor`.
    quarter_floor_days: DayClock,
    slice_floor: i64,
    /// The lowest `slice_floor` may be: above `i64::MIN` once the engine was told how far
    /// its watermark will get ([`Engine::expect_watermark`]).
    slice_floor_at_least: i64,
    day_floor: Millis,
    /// Start of the oldest local day whose quarters are kept (`Millis::MAX` without
    /// interval sums).
    quarter_floor: Millis,
    /// Whether it keeps the sums per quarter hour ([`Engine::skip_interval_sums`]).
    interval_sums: bool,
    /// Quarters changed (or evicted) since [`Engine::take_quarter_changes`] last ran.
    dirty_quarters: BTreeSet<Millis>,
    /// The quarter last marked dirty (facts come mostly in time order).
    last_dirty: Millis,
}

impl Store {
    /// The slice floor at watermark `wm`: the oldest slice the ring keeps.
    fn slice_floor_at(&self, wm: Millis) -> i64 {
        wm.div_euclid(self.slice) - self.ring_cap as i64 + 1
    }

    fn apply(&mut self, f: &Fact, sign: i64) {
        let idx = f.ts.div_euclid(self.slice);
        let in_ring = idx >= self.slice_floor;
        let day = self.days.bounds(f.ts).0;
        let in_days = day >= self.day_floor;
        let cap = self.ring_cap;
        if let Some(key) = f.leaf {
            let leaf = self.leaves.entry(key).or_insert_with(|| Leaf {
                ring: Ring::new(cap),
                days: Days::default(),
                quarters: Quarters::default(),
            });
            if in_ring {
                if let Some(s) = leaf.ring.slot_mut(idx, &mut self.leaf_slices) {
                    s.apply(&f.kind, sign);
                }
            }
            if in_days {
                leaf.days.day_mut(day).apply(&f.kind, sign);
            }
            if day >= self.quarter_floor {
                let q = quarter_of(day, f.ts);
                leaf.quarters.quarter_mut(q).apply(&f.kind, sign);
                if q != self.last_dirty {
                    self.dirty_quarters.insert(q);
                    self.last_dirty = q;
                }
            }
        }
        if let Some(agent) = f.agent {
            let a = self.agents.entry(agent).or_insert_with(|| AgentRecord::new(cap));
            if in_ring {
                a.ring.add(idx, &f.kind, sign);
            }
            if in_days {
                a.days.day_mut(day).apply(&f.kind, sign);
            }
        }
    }
}

/// What is remembered of a finished contact after its events are let go, for its late
/// surveys: where they are attributed, when it ended (survey delays) and its sent and
/// answered surveys (response rates). About 48 bytes, and 96 more for a contact with a
/// survey.
#[derive(Debug, Clone)]
struct Closed {
    attribution: Attribution,
    ended: Option<Millis>,
    surveys: Option<Box<SurveyMemo>>,
}

/// The event and id buffers of forgotten contacts, kept for new ones: a contact lives
/// about an hour, so every new one would otherwise allocate what an old one frees.
#[derive(Debug, Default)]
struct SpareContacts {
    events: Vec<Vec<ContactEvent>>,
    ids: Vec<String>,
}

impl SpareContacts {
    /// The most buffers of each kind kept.
    const MAX: usize = 1024;

    fn give(&mut self, mut c: Contact) {
        if self.events.len() < Self::MAX {
            c.events.clear();
            c.ids.clear();
            self.events.push(c.events);
            self.ids.push(c.ids);
        }
    }

    fn contact(&mut self) -> Contact {
        Contact {
            events: self.events.pop().unwrap_or_default(),
            ids: self.ids.pop().unwrap_or_default(),
            ..Contact::default()
        }
    }
}

/// The per-partition KPI engine.
#[derive(Debug)]
pub struct Engine {
    cfg: Arc<EngineConfig>,
    names: Interner,
    /// Policy selections by [`policy_key`].
    policy_cache: FxHashMap<u128, Option<u16>>,
    dedupe: Dedupe,
    contacts: FxHashMap<u128, Contact>,
    /// Contacts by the minute they are due for eviction; see [`contact_due`].
    schedule: Schedule,
    /// Scratch space for deriving a contact, reused across events.
    derived: Derived,
    /// Scratch space for deriving the facts counted for a contact before its change.
    derived_before: Derived,
    /// Scratch space for the events a contact had before its change.
    events_before: Vec<ContactEvent>,
    /// Buffers of forgotten contacts, for new ones.
    spare: SpareContacts,
    closed: FxHashMap<u128, Closed>,
    /// Finished contacts by their last event time (a min-heap), for eviction in
    /// O(evicted · log n).
    closed_order: BinaryHeap<Reverse<(Millis, u128)>>,
    customers: CustomerIndex,
    store: Store,
    watermark: Option<Millis>,
    maintained_at: Millis,
    /// Slice floor at the last eviction of slices.
    evicted_slices_at: i64,
    /// Events applied so far: the tie-break among events of equal time, so that they
    /// take their arrival (partition) order.
    seq: u64,
    stats: EngineStats,
}

impl Engine {
    /// A new, empty engine.
    pub fn new(cfg: Arc<EngineConfig>) -> Self {
        // The ring reaches back over the longest window and the allowed lateness, and
        // forward over the 5 minutes events may be ahead of the wall clock.
        let reach = cfg.longest_window() + cfg.lateness + 5 * MINUTE;
        let ring_cap = (reach / cfg.slice + 2) as usize;
        Engine {
            store: Store {
                slice: cfg.slice,
                ring_cap,
                leaves: FxHashMap::default(),
                agents: FxHashMap::default(),
                leaf_slices: SlicePool::default(),
                days: DayClock::new(cfg.time_zone.clone()),
                day_floor_days: DayClock::new(cfg.time_zone.clone()),
                quarter_floor_days: DayClock::new(cfg.time_zone.clone()),
                slice_floor: i64::MIN,
                slice_floor_at_least: i64::MIN,
                day_floor: Millis::MIN,
                quarter_floor: Millis::MIN,
                interval_sums: true,
                dirty_quarters: BTreeSet::new(),
                last_dirty: Millis::MIN,
            },
            dedupe: Dedupe::new(cfg.dedupe_horizon),
            cfg,
            names: Interner::default(),
            policy_cache: FxHashMap::default(),
            contacts: FxHashMap::default(),
            schedule: Schedule::default(),
            derived: Derived::default(),
            derived_before: Derived::default(),
            events_before: Vec::new(),
            spare: SpareContacts::default(),
            closed: FxHashMap::default(),
            closed_order: BinaryHeap::new(),
            customers: CustomerIndex::default(),
            watermark: None,
            maintained_at: Millis::MIN,
            evicted_slices_at: i64::MIN,
            seq: 0,
            stats: EngineStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<EngineConfig> {
        &self.cfg
    }

    /// The newest event time applied.
    pub fn watermark(&self) -> Option<Millis> {
        self.watermark
    }

    /// Tells the engine that its watermark will reach `at` before anything reads its
    /// windows: a replay that knows the newest time of its input. Facts in slices that
    /// the windows will have left behind by then are then not added to the slice rings
    /// at all (nor retracted from them), while the day sums, the interval sums and the
    /// contacts take them as before. Nothing an engine answers at `at` or later changes;
    /// in a replay of a day, most of the writes to the rings are saved.
    ///
    /// Windows read before the watermark reaches `at` miss those facts: the caller
    /// checks [`Engine::watermark`] before trusting them, as [`crate::replay`] does.
    pub fn expect_watermark(&mut self, at: Millis) {
        let s = &mut self.store;
        s.slice_floor_at_least = s.slice_floor_at_least.max(s.slice_floor_at(at));
        s.slice_floor = s.slice_floor.max(s.slice_floor_at_least);
    }

    /// Tells the engine that nobody will ask it for intervals ([`Engine::intervals`],
    /// [`Engine::take_quarter_changes`]): it keeps no sums per quarter hour from now on,
    /// and answers intervals with nothing. For a replay that prints no interval report:
    /// on a realistic day those sums took about a tenth of its time once the slice rings
    /// took only the last hours ([`Engine::expect_watermark`]).
    pub fn skip_interval_sums(&mut self) {
        self.store.interval_sums = false;
        self.store.quarter_floor = Millis::MAX;
    }

    /// Whether it keeps the sums per quarter hour: until [`Engine::skip_interval_sums`].
    pub fn keeps_interval_sums(&self) -> bool {
        self.store.interval_sums
    }

    /// Applies one valid event.
    ///
    /// Events of equal `ts` take their arrival order (for a contact, after its
    /// lifecycle rank): the order of their partition, or of the lines of a replay.
    pub fn apply(&mut self, ev: &Event<'_>) -> Applied {
        let ts = ev.ts;
        let wm = self.watermark.map_or(ts, |w| w.max(ts));
        self.seq += 1;
        let seen = self.dedupe.check(Dedupe::key(&ev.id), ts, wm);
        let outcome = self.apply_checked(ev, self.seq, wm, seen, None, None);
        if seen == Seen::New {
            self.maintain(wm);
        }
        outcome
    }

    /// Applies one valid event that a [`Router`](crate::shard::Router) checked and routed here: its dedupe
    /// verdict, its place in the whole stream (`seq`, the tie-break of equal times) and
    /// the stream's watermark with it are the router's, and maintenance runs only when
    /// the router says ([`Engine::maintain_at`]). An engine fed this way holds exactly
    /// what one engine fed the whole stream would hold for the keys routed to it (see
    /// [`crate::replay`]).
    ///
    /// `contact` is the event's [`contact_key`](crate::shard::contact_key), when the
    /// caller has computed it already (routing needs it): the engine then does not hash
    /// the contact id again. It must be that key. `keys`, when given, are
    /// [`NameKeys::of`] the event's body, computed where it was read: the engine then
    /// reads its names' bytes only for names new to it.
    pub fn apply_routed(
        &mut self,
        ev: &Event<'_>,
        at: Routed,
        contact: Option<u128>,
        keys: Option<&NameKeys>,
    ) -> Applied {
        debug_assert!(contact.is_none() || contact == ev.contact_id().map(|c| xxh3_128(c.as_bytes())));
        // One engine's floors are the stream's watermark's, whatever the event (a
        // too-old event that closes a contact adds its facts above them).
        if self.watermark != Some(at.watermark) {
            self.advance_watermark(at.watermark);
        }
        self.apply_checked(ev, at.seq, at.watermark, at.seen, contact, keys)
    }

    /// The maintenance the router ran at `clock` for the whole stream (the watermark
    /// then): the watermark moves to it, and what is due before it is evicted.
    pub fn maintain_at(&mut self, clock: Millis) {
        if self.watermark.is_none_or(|w| w < clock) {
            self.advance_watermark(clock);
        }
        self.maintain(clock);
    }

    /// Open contacts held now (a cheap [`Engine::stats`] field).
    pub fn open_contacts(&self) -> usize {
        self.contacts.len()
    }

    /// Makes room for about `contacts` finished contacts to remember (at most
    /// `contacts.max_remembered`), so that a replay that knows its size does not grow
    /// its table of them step by step: each step moves every entry, and the steps of a
    /// day's replay were 0.4 M of its 7.6 M write misses of a simulated 4 MiB cache
    /// (`callgrind`).
    pub fn reserve_contacts(&mut self, contacts: usize) {
        let closed = contacts.min(self.cfg.max_remembered_contacts);
        self.closed.reserve(closed.saturating_sub(self.closed.len()));
        self.closed_order
            .reserve(closed.saturating_sub(self.closed_order.len()));
    }

    /// Finished contacts remembered now (a cheap [`Engine::stats`] field).
    pub fn remembered_contacts(&self) -> usize {
        self.closed.len()
    }

    /// [`Engine::apply`] after the dedupe check: `wm` is the watermark with this event,
    /// `contact` the key of its contact id if known ([`Engine::apply_routed`]).
    fn apply_checked(
        &mut self,
        ev: &Event<'_>,
        tiebreak: u64,
        wm: Millis,
        seen: Seen,
        contact: Option<u128>,
        keys: Option<&NameKeys>,
    ) -> Applied {
        let ts = ev.ts;
        match seen {
            Seen::Duplicate => {
                self.stats.duplicates += 1;
                return Applied::Duplicate;
            }
            Seen::TooOld => {
                if self.close_late(ev, tiebreak, contact, keys) {
                    self.stats.applied += 1;
                    self.stats.late += 1;
                    return Applied::Applied;
                }
                self.stats.too_old += 1;
                return Applied::TooOld;
            }
            Seen::New => {}
        }
        if self.watermark != Some(wm) {
            self.advance_watermark(wm);
        }
        if ts < wm - self.cfg.lateness {
            self.stats.late += 1;
        }
        let outcome = self.apply_body(ev, tiebreak, contact, keys);
        match outcome {
            Applied::Applied => self.stats.applied += 1,
            Applied::OverCap => self.stats.over_cap += 1,
            _ => self.stats.after_close += 1,
        }
        if self.contacts.len() > self.cfg.max_open_contacts {
            self.evict_over_cap();
        }
        outcome
    }

    /// An event older than the dedupe horizon (so its id cannot be checked) that ends a
    /// wait or a leg of a contact still held is applied all the same, unless the
    /// contact already has an event of its type at its time: a very late abandon must
    /// not leave its contact waiting for hours. Says whether it was applied.
    fn close_late(&mut self, ev: &Event<'_>, tiebreak: u64, contact: Option<u128>, keys: Option<&NameKeys>) -> bool {
        let closes = matches!(
            ev.body,
            Body::Answered { .. }
                | Body::Abandoned { .. }
                | Body::FlowedOut { .. }
                | Body::Transferred { .. }
                | Body::Ended { .. }
                | Body::WrappedUp { .. }
        );
        let Some(contact_id) = ev.contact_id().filter(|_| closes) else {
            return false;
        };
        let key = contact.unwrap_or_else(|| xxh3_128(contact_id.as_bytes()));
        let Some(contact) = self.contacts.get(&key) else {
            return false;
        };
        if contact.events.len() >= MAX_CONTACT_EVENTS {
            return false;
        }
        let Some(kind) = kind_of(&mut self.names, &ev.body, keys) else {
            return false;
        };
        let event = ContactEvent {
            ts: ev.ts,
            tiebreak,
            kind,
        };
        let same =
            |e: &ContactEvent| e.ts == event.ts && std::mem::discriminant(&e.kind) == std::mem::discriminant(&kind);
        let Some(contact) = self.contacts.get_mut(&key) else {
            return false;
        };
        if contact.events.iter().any(same) {
            return false;
        }
        let at = contact.insert(event);
        self.rederive(key, Some(at));
        true
    }

    fn advance_watermark(&mut self, wm: Millis) {
        self.watermark = Some(wm);
        let s = &mut self.store;
        s.slice_floor = s.slice_floor_at(wm).max(s.slice_floor_at_least);
        s.day_floor = s.day_floor_days.bounds(wm - DAY - 2 * HOUR).0;
        if s.interval_sums {
            s.quarter_floor = s.quarter_floor_days.bounds(wm - self.cfg.interval_days * DAY).0;
        }
    }

    fn apply_body(&mut self, ev: &Event<'_>, tiebreak: u64, contact: Option<u128>, keys: Option<&NameKeys>) -> Applied {
        let names = &mut self.names;
        match &ev.body {
            Body::AgentState {
                agent_id,
                state,
                team,
                queues,
            } => {
                let agent = names.intern(agent_id);
                let cap = self.store.ring_cap;
                let record = self.store.agents.entry(agent).or_insert_with(|| AgentRecord::new(cap));
                if record.state_changes() >= MAX_AGENT_STATES {
                    return Applied::OverCap;
                }
                record.state_change(ev.ts, tiebreak, *state);
                if let Some(team) = team.as_deref() {
                    record.team_named(ev.ts, name_key(team), || names.intern(team));
                }
                if let Some(qs) = queues {
                    let key = names_key(qs.iter().map(|q| q.as_ref()));
                    record.queues_listed(ev.ts, key, || qs.iter().map(|q| names.intern(q)));
                }
                return Applied::Applied;
            }
            Body::Survey {
                answer,
                contact_id: None,
                channel,
                queue,
                agent_id,
            } => {
                let queue = queue.as_deref().map(|q| names.intern(q));
                let agent = agent_id.as_deref().map(|a| names.intern(a));
                let explicit = Attribution {
                    queue,
                    channel: *channel,
                    agent,
                };
                let within = self.cfg.immediate_within;
                let f = survey_fact(ev.ts, *answer, false, explicit, Attribution::default(), None, within);
                self.store.apply(&f, 1);
                return Applied::Applied;
            }
            _ => {}
        }
        let (Some(contact_id), Some(kind)) = (ev.contact_id(), kind_of(names, &ev.body, keys)) else {
            return Applied::Applied;
        };
        let key = contact.unwrap_or_else(|| xxh3_128(contact_id.as_bytes()));
        let event = ContactEvent {
            ts: ev.ts,
            tiebreak,
            kind,
        };
        let customer_id = match &ev.body {
            Body::Offered { customer_id, .. } => customer_id.as_deref(),
            _ => None,
        };
        // A contact is either open (or recently finished) or forgotten, never both, so
        // the forgotten ones are looked up only for contacts not held.
        let at = match self.contacts.entry(key) {
            Entry::Occupied(held) => {
                let held = held.into_mut();
                if held.events.len() >= MAX_CONTACT_EVENTS {
                    return Applied::OverCap;
                }
                let at = held.insert(event);
                let last = at + 1 == held.events.len();
                if let Some(customer_id) = customer_id {
                    held.offered_by(ev.ts, tiebreak, customer_id);
                }
                if last && matches!(kind, ContactEventKind::HoldStarted | ContactEventKind::HoldEnded) {
                    // A hold after every other event of the contact changes none of its
                    // figures yet (its time counts when the leg is transferred or ends,
                    // events later than this one): nothing to derive.
                    return Applied::Applied;
                }
                if last && is_survey(kind) {
                    // A survey after every other event of the contact moves only its
                    // survey facts, as for a remembered contact: no leg to derive again
                    // (a survey is mostly sent when its contact ends, then answered). The
                    // events are read for earlier surveys only when there are some.
                    let earlier = held.surveyed.then(|| SurveyMemo::of(&held.events[..at])).flatten();
                    let mut memo = earlier.unwrap_or_default();
                    let within = self.cfg.immediate_within;
                    survey_delta(
                        &mut memo,
                        held.attribution,
                        held.ended,
                        ev.ts,
                        kind,
                        within,
                        &mut self.store,
                    );
                    held.surveyed = true;
                    return Applied::Applied;
                }
                at
            }
            Entry::Vacant(vacant) => {
                if let Some(closed) = self.closed.get_mut(&key) {
                    // Finished and forgotten: a survey is still attributed; anything else is late.
                    let within = self.cfg.immediate_within;
                    return if closed_survey(closed, ev.ts, kind, within, &mut self.store) {
                        Applied::Applied
                    } else {
                        Applied::AfterClose
                    };
                }
                let contact = vacant.insert(self.spare.contact());
                let at = contact.insert(event);
                contact.set_contact_id(contact_id);
                if let Some(customer_id) = customer_id {
                    contact.offered_by(ev.ts, tiebreak, customer_id);
                }
                at
            }
        };
        self.rederive(key, Some(at));
        Applied::Applied
    }

    /// Re-derives a contact's facts and applies the difference from those counted for
    /// it, after the event at `inserted` in its events was inserted (or, for `None`, its
    /// FCR verdict changed).
    ///
    /// The facts counted are not kept with the contact: they are derived again from the
    /// events before the change, with the verdict they were derived with. Derivation is
    /// a function of those two (and of the configuration), and a contact's events, in
    /// the cache by now, take less time to derive from than its kept facts took to read
    /// and write: the engine waits on memory, and they were one more cold buffer per
    /// event (1.8 M of the 20.8 M misses of a simulated 4 MiB cache over a day's replay,
    /// `cachegrind`). The events before may include holds inserted last without a
    /// derivation (see `apply_body`): such a hold changes no fact.
    fn rederive(&mut self, key: u128, inserted: Option<usize>) {
        let mut pending = vec![];
        let mut key = key;
        let mut inserted = inserted;
        loop {
            if let Some(contact) = self.contacts.get_mut(&key) {
                let mut lookup = Policies::of(&self.cfg, &self.names, &mut self.policy_cache);
                let within = self.cfg.immediate_within;
                let counted = &mut self.derived_before;
                let before = contact.events_before(inserted, &mut self.events_before);
                if before.is_empty() {
                    counted.facts.clear();
                } else {
                    derive_into(before, contact.applied_repeat, &mut lookup, within, counted);
                }
                let d = &mut self.derived;
                derive_into(&contact.events, contact.fcr_repeat, &mut lookup, within, d);
                // A contact is entered in the customer index once, with its first offer.
                if let Some(FirstOffer {
                    ts,
                    customer: Some(customer),
                    topic,
                }) = d.first_offer.filter(|_| !contact.fcr_indexed)
                {
                    contact.fcr_indexed = true;
                    let (repeat, others) = self
                        .customers
                        .offer(customer.get(), key, ts, topic, self.cfg.fcr_horizon);
                    if repeat != contact.fcr_repeat {
                        contact.fcr_repeat = repeat;
                        derive_into(&contact.events, repeat, &mut lookup, within, d);
                    }
                    pending.extend(others);
                }
                // Apply the difference between the facts counted and the facts that hold.
                let old = &counted.facts;
                if old.len() > 128 {
                    // Too many to match with the bitmask: retract all, add all.
                    old.iter().for_each(|o| self.store.apply(o, -1));
                    d.facts.iter().for_each(|f| self.store.apply(f, 1));
                } else {
                    // A derivation lists facts in a stable order and a new event mostly
                    // adds facts at the end, so the common prefix is matched first.
                    let same = old.iter().zip(&d.facts).take_while(|(o, f)| o == f).count();
                    let mut matched: u128 = if same == 128 { u128::MAX } else { (1u128 << same) - 1 };
                    for f in &d.facts[same..] {
                        match (same..old.len()).find(|&i| matched & (1 << i) == 0 && old[i] == *f) {
                            Some(i) => matched |= 1 << i,
                            None => self.store.apply(f, 1),
                        }
                    }
                    for (i, o) in old.iter().enumerate() {
                        if matched & (1 << i) == 0 {
                            self.store.apply(o, -1);
                        }
                    }
                }
                contact.applied_repeat = contact.fcr_repeat;
                contact.waiting = d.waiting;
                contact.terminal = d.terminal;
                contact.attribution = d.attribution;
                contact.ended = d.ended;
                contact.surveyed = d.surveyed;
                let due = contact_due(&self.cfg, contact);
                if contact.scheduled.is_none_or(|s| self.schedule.bucket(due) < s) {
                    contact.scheduled = Some(self.schedule.push(due, key));
                }
            }
            let Some(next) = pending.pop() else { break };
            match self.contacts.get_mut(&next) {
                Some(c) => c.fcr_repeat = true,
                None => continue,
            }
            key = next;
            inserted = None;
        }
    }

    /// Evicts what no window needs any more. Runs by itself as event time advances;
    /// call it at every tick with the clock's now.
    ///
    /// An engine that has applied no event holds nothing to evict, and does nothing:
    /// on the event clock a partition without events is asked for its figures at the
    /// wall clock, and maintenance marked done at that time would not run again until
    /// the events it gets later (a backfill of an earlier day) reach it.
    pub fn maintain(&mut self, now: Millis) {
        let Some(watermark) = self.watermark else {
            return;
        };
        let clock = watermark.max(now);
        if clock.saturating_sub(self.maintained_at) < MINUTE {
            // At most once a minute of clock: nothing it evicts is needed sooner.
            return;
        }
        self.maintained_at = clock;
        // Only contacts scheduled in a minute that ended are visited (when a contact is
        // due: see `contact_due`). An entry is current when it matches the contact's
        // `scheduled`; a contact whose events moved its due time is scheduled again.
        while let Some((bucket, keys)) = self.schedule.pop_ended(clock) {
            self.stats.evicted_open += self.evict(bucket, &keys, Some(clock));
            self.schedule.recycle(keys);
        }
        let cfg = &self.cfg;
        while let Some(&Reverse((ts, key))) = self.closed_order.peek() {
            if ts >= clock - cfg.survey_horizon {
                break;
            }
            self.closed_order.pop();
            self.closed.remove(&key);
        }
        self.customers.evict_before(clock - cfg.fcr_horizon - cfg.lateness);
        // A ring drops old slices itself as it slides, so sweeping every group and agent
        // (cold memory, whose cost grows with time, not traffic) is needed only to free
        // the idle ones: every hour is enough.
        let slice_floor = self.store.slice_floor;
        if slice_floor.saturating_sub(self.evicted_slices_at) < SWEEP_EVERY / self.store.slice {
            return;
        }
        self.evicted_slices_at = slice_floor;
        let day_floor = self.store.day_floor;
        let quarter_floor = self.store.quarter_floor;
        let store = &mut self.store;
        let leaf_slices = &mut store.leaf_slices;
        let dirty = &mut store.dirty_quarters;
        store.leaves.retain(|_, l| {
            l.ring.evict_before(slice_floor, leaf_slices);
            l.days.evict_before(day_floor);
            dirty.extend(l.quarters.evict_before(quarter_floor));
            !(l.ring.is_empty() && l.days.is_empty() && l.quarters.is_empty())
        });
        let today = store.days.bounds(clock).0;
        let keep_states = today.min(clock - cfg.longest_window()) - cfg.lateness;
        store.agents.retain(|_, a| {
            a.ring.evict_before(slice_floor);
            a.days.evict_before(day_floor);
            a.evict_before(keep_states);
            !a.is_idle()
        });
    }

    /// Evicts the current entries of a schedule bucket: with `clock`, only contacts due
    /// before it (the others are scheduled again); without, all of them. A finished
    /// contact is remembered for late surveys; an open one is forgotten. Returns how
    /// many open ones were evicted.
    fn evict(&mut self, bucket: i64, keys: &[u128], clock: Option<Millis>) -> u64 {
        let mut evicted = 0;
        for &key in keys {
            let Entry::Occupied(mut held) = self.contacts.entry(key) else {
                continue;
            };
            let c = held.get_mut();
            if c.scheduled != Some(bucket) {
                continue;
            }
            if let Some(clock) = clock {
                let due = contact_due(&self.cfg, c);
                if due >= clock {
                    c.scheduled = Some(self.schedule.push(due, key));
                    continue;
                }
            }
            if c.terminal {
                let closed = Closed {
                    attribution: c.attribution,
                    ended: c.ended,
                    // Only a contact with surveys has its (by now cold) events read again.
                    surveys: c.surveyed.then(|| SurveyMemo::of(&c.events)).flatten().map(Box::new),
                };
                self.closed.insert(key, closed);
                self.closed_order.push(Reverse((c.last_ts, key)));
            } else {
                evicted += 1;
            }
            self.spare.give(held.remove());
        }
        // Past the cap, the oldest remembered contacts are forgotten first.
        while self.closed.len() > self.cfg.max_remembered_contacts {
            let Some(Reverse((_, key))) = self.closed_order.pop() else {
                break;
            };
            self.closed.remove(&key);
        }
        evicted
    }

    /// Past `contacts.max_open`, evicts the contacts due soonest, a schedule bucket at
    /// a time, and counts them.
    fn evict_over_cap(&mut self) {
        while self.contacts.len() > self.cfg.max_open_contacts {
            let before = self.contacts.len();
            let Some((bucket, keys)) = self.schedule.pop_ended(Millis::MAX) else {
                break;
            };
            self.evict(bucket, &keys, None);
            self.schedule.recycle(keys);
            self.stats.evicted_cap += (before - self.contacts.len()) as u64;
        }
    }

    /// The engine's share of every window ending at `now` (rounded down to the slice),
    /// plus live figures at `now`.
    pub fn partial(&mut self, now: Millis) -> Partial {
        let cfg = self.cfg.clone();
        let slice = cfg.slice;
        let to = now.div_euclid(slice) * slice;
        let (day_start, day_end) = self.store.days.bounds(to);
        let mut p = Partial::empty(now, &window_bounds(&cfg, now));
        let names = &self.names;
        let group = |k: &LeafKey| GroupKey {
            queue: k.queue.map(|q| names.name(q).clone()),
            channel: k.channel,
            policy: k.policy,
        };
        let to_idx = to.div_euclid(slice);
        let end_idx = day_end.div_euclid(slice);
        let n_sliding = cfg.windows.len();
        for (key, leaf) in &self.store.leaves {
            for (i, w) in p.windows.iter_mut().enumerate() {
                let mut agg = if i < n_sliding {
                    let mut agg = QueueAgg::default();
                    leaf.ring.fold_into(w.from.div_euclid(slice), to_idx, &mut agg);
                    agg
                } else {
                    today_of(&leaf.days, day_start, |ahead| {
                        leaf.ring.fold_into(to_idx, end_idx, ahead)
                    })
                };
                if !agg.is_zero() {
                    std::mem::swap(w.leaves.entry(group(key)).or_default(), &mut agg);
                }
            }
        }
        for (&id, a) in &self.store.agents {
            let name = names.name(id);
            for (i, w) in p.windows.iter_mut().enumerate() {
                let agg = if i < n_sliding {
                    let mut agg = AgentAgg::default();
                    a.ring.fold_into(w.from.div_euclid(slice), to_idx, &mut agg);
                    agg
                } else {
                    today_of(&a.days, day_start, |ahead| a.ring.fold_into(to_idx, end_idx, ahead))
                };
                let time_in = a.time_in_states(w.from, w.to);
                if !agg.is_zero() || time_in.iter().any(|&t| t > 0) {
                    w.agents.insert(name.clone(), AgentWindow { agg, time_in });
                }
            }
            if let Some((state, since)) = a.state_at(now) {
                p.agents.insert(
                    name.clone(),
                    AgentLive {
                        state,
                        since,
                        team: a.team().map(|t| names.name(t).clone()),
                        queues: a.queues().iter().map(|&q| names.name(q).clone()).collect(),
                    },
                );
            }
        }
        for c in self.contacts.values() {
            if let Some(w) = c.waiting {
                let live: &mut LiveLeaf = p.live.entry(group(&w.leaf)).or_default();
                live.waiting += 1;
                live.oldest_since = Some(live.oldest_since.map_or(w.since, |o| o.min(w.since)));
                // Under business hours only open time counts towards the threshold.
                let policy = w.leaf.policy.and_then(|i| cfg.policies.get(usize::from(i)));
                let waited = policy.map_or(now - w.since, |p| p.elapsed(w.since, now));
                if waited > w.threshold {
                    live.at_risk += 1;
                }
            }
        }
        p.listed = self.listed(to);
        p.stats = self.stats();
        p
    }

    /// The engine's share of the intervals `bounds` (`(name, from, to)`, from
    /// [`crate::interval::interval_bounds`]), as the windows of a partial without live
    /// figures or agents: each interval is the sum of its quarters, and the quarter
    /// holding an interval's `to` (the current one's, at the rounded "now") counts less
    /// the ring's slices at or after `to`, as `today` does.
    pub fn intervals(&self, bounds: &[(String, Millis, Millis)], now: Millis) -> Partial {
        let mut p = Partial::empty(now, bounds);
        for (key, leaf) in &self.store.leaves {
            for (w, (_, from, to)) in p.windows.iter_mut().zip(bounds) {
                let mut agg = QueueAgg::default();
                for (q, sum) in leaf.quarters.range(*from, *to) {
                    agg.merge(sum, 1);
                    self.less_ahead(leaf, q, *to, &mut agg);
                }
                if !agg.is_zero() {
                    w.leaves.insert(self.group_key(key), agg);
                }
            }
        }
        p
    }

    /// Takes away from `agg` (the sum of quarter `q` or more) the ring's slices of `q`
    /// at or after `to`; whether there were any.
    fn less_ahead(&self, leaf: &Leaf, q: Millis, to: Millis, agg: &mut QueueAgg) -> bool {
        if q + QUARTER <= to {
            return false;
        }
        let slice = self.cfg.slice;
        let mut ahead = QueueAgg::default();
        leaf.ring
            .fold_into(to.div_euclid(slice), (q + QUARTER).div_euclid(slice), &mut ahead);
        if ahead.is_zero() {
            return false;
        }
        agg.merge(&ahead, -1);
        true
    }

    /// A leaf's key with its names.
    fn group_key(&self, k: &LeafKey) -> GroupKey {
        GroupKey {
            queue: k.queue.map(|q| self.names.name(q).clone()),
            channel: k.channel,
            policy: k.policy,
        }
    }

    /// The quarters that changed (or were evicted) since the last call, each with its
    /// sums per group as of `now` (rounded down to the slice, as for
    /// [`Engine::intervals`]); no group for a quarter that holds nothing any more. A
    /// quarter with facts at or after the rounded now stays changed until they are
    /// behind it. For sharing the interval sums with the other instances.
    pub fn take_quarter_changes(&mut self, now: Millis) -> Vec<QuarterChange> {
        let to = now.div_euclid(self.cfg.slice) * self.cfg.slice;
        let dirty = std::mem::take(&mut self.store.dirty_quarters);
        self.store.last_dirty = Millis::MIN;
        let mut out = Vec::with_capacity(dirty.len());
        for q in dirty {
            let mut groups = Vec::new();
            let mut ahead = false;
            for (key, leaf) in &self.store.leaves {
                let Some((_, sum)) = leaf.quarters.range(q, q + 1).next() else {
                    continue;
                };
                let mut agg = sum.clone();
                ahead |= self.less_ahead(leaf, q, to, &mut agg);
                if !agg.is_zero() {
                    groups.push((self.group_key(key), agg));
                }
            }
            groups.sort_by(|a, b| a.0.cmp(&b.0));
            if ahead {
                self.store.dirty_quarters.insert(q);
            }
            out.push(QuarterChange { start: q, groups });
        }
        out
    }

    /// The contacts behind the figures, per leaf group: the newest [`MAX_LISTED`] of
    /// each drill-down outcome among the contacts held, decided within the longest
    /// sliding window before `to` (the end of every window), or waiting now. Every
    /// contact decided in that span is held (a finished contact is kept for the longest
    /// window after its last event), so the lists do not depend on when contacts are
    /// let go, nor on arrival order; older ones are not listed, even for `today`. Costs a
    /// pass over the contacts held, like the waiting figures, a derivation of each one
    /// with an event in that span, and a selection of the newest per group and outcome.
    ///
    /// A contact's drill-down legs are derived here again, not kept with it: they are
    /// what [`Engine::rederive`] derives from the same events with the same repeat
    /// verdict, and copying them into the contact at every event cost a write to a
    /// buffer of its own (0.34 M write misses of a simulated 4 MiB cache in a day's
    /// replay, `callgrind`), for lists read once a tick.
    fn listed(&mut self, to: Millis) -> BTreeMap<GroupKey, Vec<Listed>> {
        let from = to - self.cfg.longest_window();
        /// A candidate: when it is listed by, its contact id, the contact, and its drill
        /// leg (`None`: it waits).
        type Candidate<'a> = (Millis, &'a str, &'a Contact, Option<DrillLeg>);
        let mut candidates: FxHashMap<(LeafKey, DrillOutcome), Vec<Candidate<'_>>> = FxHashMap::default();
        let mut lookup = Policies::of(&self.cfg, &self.names, &mut self.policy_cache);
        let within = self.cfg.immediate_within;
        let derived = &mut self.derived;
        for c in self.contacts.values() {
            let id = c.contact_id();
            if let Some(w) = c.waiting {
                let list = candidates.entry((w.leaf, DrillOutcome::Waiting)).or_default();
                list.push((w.since, id, c, None));
            }
            // A leg is decided at one of its contact's events: none in the span when
            // the newest is before it.
            if c.last_ts < from {
                continue;
            }
            derive_into(&c.events, c.fcr_repeat, &mut lookup, within, derived);
            for d in derived.drill.iter().filter(|d| from <= d.decided && d.decided < to) {
                candidates
                    .entry((d.leaf, d.outcome))
                    .or_default()
                    .push((d.decided, id, c, Some(*d)));
            }
        }
        let names = &self.names;
        let mut out: BTreeMap<GroupKey, Vec<Listed>> = BTreeMap::new();
        let newest_first = |a: &Candidate<'_>, b: &Candidate<'_>| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1));
        // By leaf group, then outcome: each group's list comes out in the order of
        // `trim_listed`, with no sort of the whole list.
        let mut candidates: Vec<_> = candidates.into_iter().collect();
        candidates.sort_unstable_by_key(|(k, _)| *k);
        for ((leaf, outcome), mut list) in candidates {
            if list.len() > MAX_LISTED {
                list.select_nth_unstable_by(MAX_LISTED - 1, newest_first);
                list.truncate(MAX_LISTED);
            }
            list.sort_unstable_by(newest_first);
            let key = GroupKey {
                queue: leaf.queue.map(|q| names.name(q).clone()),
                channel: leaf.channel,
                policy: leaf.policy,
            };
            let entries = out.entry(key).or_default();
            for (_, _, c, leg) in list {
                let customer_id = c.customer_id().map(Arc::from);
                let contact_id: Arc<str> = Arc::from(c.contact_id());
                entries.push(match leg {
                    Some(d) => Listed {
                        outcome,
                        contact_id,
                        customer_id,
                        offered_at: d.offered,
                        decided_at: Some(d.decided),
                        wait: d.wait,
                        agent: d.agent.map(|a| names.name(a).clone()),
                    },
                    None => Listed {
                        outcome,
                        contact_id,
                        customer_id,
                        offered_at: c.waiting.map(|w| w.since),
                        decided_at: None,
                        wait: None,
                        agent: None,
                    },
                });
            }
        }
        out
    }

    /// The engine's counters and memory gauges.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            open_contacts: self.contacts.len() as u64,
            closed_contacts: self.closed.len() as u64,
            customer_offers: self.customers.len() as u64,
            dedupe_ids: self.dedupe.len() as u64,
            leaves: self.store.leaves.len() as u64,
            agents: self.store.agents.len() as u64,
            slices: self
                .store
                .leaves
                .values()
                .map(|l| l.ring.allocated())
                .chain(self.store.agents.values().map(|a| a.ring.allocated()))
                .sum::<usize>() as u64,
            watermark: self.watermark,
            ..self.stats.clone()
        }
    }
}

/// A survey event for a finished contact that is only remembered: see [`survey_delta`].
/// Says whether `kind` was a survey event; anything else is late and ignored.
fn closed_survey(closed: &mut Closed, ts: Millis, kind: ContactEventKind, within: Millis, store: &mut Store) -> bool {
    if !is_survey(kind) {
        return false;
    }
    let memo = closed.surveys.get_or_insert_with(Box::default);
    survey_delta(memo, closed.attribution, closed.ended, ts, kind, within, store);
    true
}

/// `kind` is a survey event: sent or answered.
fn is_survey(kind: ContactEventKind) -> bool {
    matches!(
        kind,
        ContactEventKind::Survey { .. } | ContactEventKind::SurveySent { .. }
    )
}

/// Counts a survey event of a contact whose other survey events `memo` sums up, and
/// whose survey attribution and `ended.ts` are `attribution` and `ended`: an answer is
/// counted with its delay from the contact's end, and the contact's sent surveys and
/// responses are updated (a send or an answer earlier than the one in `memo` moves the
/// facts it decides: the old ones are retracted, the new ones added).
///
/// This is the difference the event makes to the contact's derivation ([`derive_into`])
/// when it comes after all of the contact's other events: survey events change no leg,
/// so they move only the survey facts, which depend on the legs only through
/// `attribution` and `ended`. It holds for a remembered contact (whose legs are
/// finished) and for a held one when the event is its last.
fn survey_delta(
    memo: &mut SurveyMemo,
    attribution: Attribution,
    ended: Option<Millis>,
    ts: Millis,
    kind: ContactEventKind,
    within: Millis,
    store: &mut Store,
) {
    let mut before: smallvec::SmallVec<[Fact; 4]> = smallvec::SmallVec::new();
    memo.facts(attribution, &mut before);
    if let Some(answer) = answer_fact(ts, kind, attribution, ended, within) {
        store.apply(&answer, 1);
    }
    if !memo.record(ts, kind) {
        return;
    }
    let mut after: smallvec::SmallVec<[Fact; 4]> = smallvec::SmallVec::new();
    memo.facts(attribution, &mut after);
    for f in before.iter().filter(|f| !after.contains(f)) {
        store.apply(f, -1);
    }
    for f in after.iter().filter(|f| !before.contains(f)) {
        store.apply(f, 1);
    }
}

/// When a contact stops being needed: a finished one keeps its events while its figures
/// can still be in a window (a late event, even later than the allowed lateness, still
/// changes them there), and after that only what a late survey needs is remembered; an
/// open one is evicted after its channel's open timeout.
fn contact_due(cfg: &EngineConfig, c: &Contact) -> Millis {
    let keep = if c.terminal {
        cfg.lateness.max(cfg.longest_window())
    } else {
        let channel = c
            .attribution
            .channel
            .or(c.waiting.and_then(|w| w.leaf.channel))
            .unwrap_or(Channel::Voice);
        cfg.open_timeout(channel)
    };
    c.last_ts.saturating_add(keep)
}

/// Every window's `(name, from, to)` for `now`: sliding windows ending at `now` rounded
/// down to the slice, then `today` from local midnight.
pub fn window_bounds(cfg: &EngineConfig, now: Millis) -> Vec<(String, Millis, Millis)> {
    let to = now.div_euclid(cfg.slice) * cfg.slice;
    let mut defs: Vec<(String, Millis, Millis)> =
        cfg.windows.iter().map(|w| (w.name.clone(), to - w.span, to)).collect();
    defs.push((TODAY.to_owned(), crate::window::day_bounds(&cfg.time_zone, to).0, to));
    defs
}

/// `today` = the day's sum minus what `ahead` adds: the slices at or after `to`
/// (events ahead of the rounded now).
fn today_of<A: Aggregate>(days: &Days<A>, day_start: Millis, ahead: impl FnOnce(&mut A)) -> A {
    // Merged into an empty sum rather than cloned: a day's large histograms are pages,
    // and a merge into a vector reads them without allocating a copy of each page.
    let mut agg = A::default();
    if let Some(day) = days.day(day_start) {
        agg.merge(day, 1);
    }
    let mut later = A::default();
    ahead(&mut later);
    if !later.is_zero() {
        agg.merge(&later, -1);
    }
    agg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_keys_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for channel in [Channel::Voice, Channel::Chat, Channel::Email] {
            for queue in [0, 1, u32::MAX] {
                for segment in [None, Some(0), Some(1), Some(u32::MAX)] {
                    assert!(
                        seen.insert(policy_key(channel, queue, segment)),
                        "{channel:?} {queue} {segment:?}"
                    );
                }
            }
        }
    }
}
