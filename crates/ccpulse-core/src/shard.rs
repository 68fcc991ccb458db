//! One ordered stream over several engines, with exactly the figures of one engine.
//!
//! Kafka splits the stream by key (a customer's contacts together, an agent's states
//! together) and partials of the partitions merge by addition. A replay can split a
//! file the same way and apply the parts on several cores; for its figures to be those
//! of one engine fed the whole file, line by line, three things must hold:
//!
//! 1. **What an engine holds per key sees all of that key's events.** A contact's
//!    events, the contacts of its customer (repeat detection compares them) and
//!    surveys about the contact go to one engine, named from the contact's customer:
//!    by [`Partitioner`], from a first pass over the file's offers (customers named
//!    together by one contact's offers are one group, so no contact's offers can span
//!    two engines), or in one pass by [`Pins`], which checks at every offer that its
//!    customer is on its contact's engine and gives up if not. An agent's state
//!    changes go to one engine; what an agent handled lands wherever its contacts
//!    are, and adds up (partials merge agents by
//!    addition, and only the engine with its state changes reports its live state).
//!    Queue groups add up.
//! 2. **Everything else an engine decides with, it gets from the whole stream.** The
//!    [`Router`] sees every valid event in order and does what one engine does before
//!    an event touches any contact: the dedupe check (one set for the whole stream),
//!    the watermark (which sets the windows' floors and what counts as late), the
//!    sequence number that orders equal times, and when maintenance runs (its clock
//!    is the watermark at the event after which one engine would run it). Each engine
//!    is told ([`crate::engine::Engine::apply_routed`],
//!    [`crate::engine::Engine::maintain_at`]); what an event or a maintenance does to a
//!    key then depends on nothing the other engines hold.
//! 3. **No global cap is reached.** `contacts.max_open` and `contacts.max_remembered`
//!    bound one engine's totals; engines that split them would reach them at other
//!    times. A parallel replay checks that the engines' counts could not have added up
//!    to a cap, and replays with one engine when they could have.

use std::collections::hash_map::Entry;

use rustc_hash::{FxHashMap, FxHashSet};
use xxhash_rust::xxh3::xxh3_128;

use crate::agent::name_key;
use crate::config::EngineConfig;
use crate::contact::key64;
use crate::dedupe::{Dedupe, Seen};
use crate::event::{Body, Event};
use crate::time::{Millis, MINUTE};

/// Where an event stands in the whole stream, as the [`Router`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    /// Its sequence number: equal times keep stream order.
    pub seq: u64,
    /// The stream's watermark with this event.
    pub watermark: Millis,
    /// The dedupe verdict (never [`Seen::Duplicate`]: duplicates are dropped).
    pub seen: Seen,
}

/// The part of one engine's work that needs the whole stream: dedupe, watermark,
/// sequence and maintenance clock. Fed every valid event before `--as-of`, in order.
#[derive(Debug)]
pub struct Router {
    dedupe: Dedupe,
    watermark: Option<Millis>,
    maintained_at: Millis,
    seq: u64,
    duplicates: u64,
}

impl Router {
    /// A router for engines of `cfg`.
    pub fn new(cfg: &EngineConfig) -> Self {
        Router {
            dedupe: Dedupe::new(cfg.dedupe_horizon),
            watermark: None,
            maintained_at: Millis::MIN,
            seq: 0,
            duplicates: 0,
        }
    }

    /// Checks the next event (the [`Dedupe::key`] of its id, its `ts`). `None` for a
    /// duplicate; else where it stands, and the clock of a maintenance every engine
    /// runs right after it, when one is due (as [`crate::engine::Engine::apply`] would).
    pub fn route(&mut self, id_key: u128, ts: Millis) -> Option<(Routed, Option<Millis>)> {
        self.route_checked(Some(id_key), ts)
    }

    /// [`Router::route`] of an event whose id no other event of the stream has, known
    /// from a reading of the whole stream: its id is counted, not looked up
    /// ([`Dedupe::check_unique`]).
    pub fn route_unique(&mut self, ts: Millis) -> Option<(Routed, Option<Millis>)> {
        self.route_checked(None, ts)
    }

    /// [`Router::route`], the id looked up when its key is given.
    fn route_checked(&mut self, id_key: Option<u128>, ts: Millis) -> Option<(Routed, Option<Millis>)> {
        let wm = self.watermark.map_or(ts, |w| w.max(ts));
        self.seq += 1;
        let seen = match id_key {
            Some(key) => self.dedupe.check(key, ts, wm),
            None => self.dedupe.check_unique(ts, wm),
        };
        let at = Routed {
            seq: self.seq,
            watermark: wm,
            seen,
        };
        match seen {
            Seen::Duplicate => {
                self.duplicates += 1;
                None
            }
            Seen::TooOld => Some((at, None)),
            Seen::New => {
                self.watermark = Some(wm);
                // `Engine::maintain`'s own rule: at most once a minute of clock.
                let due = wm.saturating_sub(self.maintained_at) >= MINUTE;
                if due {
                    self.maintained_at = wm;
                }
                Some((at, due.then_some(wm)))
            }
        }
    }

    /// The newest event time routed (duplicates and too-old events aside).
    pub fn watermark(&self) -> Option<Millis> {
        self.watermark
    }

    /// Duplicates dropped.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Event ids held for dedupe.
    pub fn dedupe_ids(&self) -> usize {
        self.dedupe.len()
    }
}

/// Collects which customers each contact's offers name, then says which engine each
/// event goes to.
#[derive(Debug, Default)]
pub struct PartitionerBuilder {
    /// (contact key, customer key) of every offer naming a customer.
    offers: Vec<(u128, u64)>,
}

impl PartitionerBuilder {
    /// Notes what an event tells about routing: an offer's customer. Every valid
    /// `contact.offered` of the stream must be noted (others may be: they change nothing).
    pub fn note(&mut self, ev: &Event<'_>) {
        if let Body::Offered {
            contact_id,
            customer_id: Some(customer),
            ..
        } = &ev.body
        {
            self.note_pair(contact_key(contact_id), key64(customer).get());
        }
    }

    /// Notes that the offer of a contact (its engine key, [`contact_key`]) names a
    /// customer (its [`key64`]). Noting pairs that are no offer's only joins customer
    /// groups: it moves them to one engine, and changes no figure.
    pub fn note_pair(&mut self, contact: u128, customer: u64) {
        self.offers.push((contact, customer));
    }

    /// Adds what another builder collected.
    pub fn extend(&mut self, other: PartitionerBuilder) {
        self.offers.extend(other.offers);
    }

    /// The partitioner over `engines` engines (at least one).
    pub fn build(self, engines: usize) -> Partitioner {
        let mut contacts: FxHashMap<u128, u64> =
            FxHashMap::with_capacity_and_hasher(self.offers.len(), Default::default());
        // Customers named by one contact's offers (rare) are one group.
        let mut links: Vec<(u64, u64)> = Vec::new();
        for &(contact, customer) in &self.offers {
            match contacts.entry(contact) {
                Entry::Vacant(v) => {
                    v.insert(customer);
                }
                Entry::Occupied(o) if *o.get() != customer => links.push((*o.get(), customer)),
                Entry::Occupied(_) => {}
            }
        }
        if !links.is_empty() {
            // Union-find over the linked customers; a group is named by its least key.
            let mut parent: FxHashMap<u64, u64> = FxHashMap::default();
            fn find(parent: &mut FxHashMap<u64, u64>, mut k: u64) -> u64 {
                while let Some(&up) = parent.get(&k).filter(|&&up| up != k) {
                    let top = parent.get(&up).copied().unwrap_or(up);
                    parent.insert(k, top);
                    k = up;
                }
                k
            }
            for (a, b) in links {
                parent.entry(a).or_insert(a);
                parent.entry(b).or_insert(b);
                let (a, b) = (find(&mut parent, a), find(&mut parent, b));
                if a != b {
                    parent.insert(a.max(b), a.min(b));
                }
            }
            for customer in contacts.values_mut() {
                if parent.contains_key(customer) {
                    *customer = find(&mut parent, *customer);
                }
            }
        }
        Partitioner {
            engines: engines.max(1),
            contacts,
        }
    }
}

/// Which engine an event goes to: see the [module](self) documentation.
#[derive(Debug)]
pub struct Partitioner {
    engines: usize,
    /// Contacts whose offers name a customer: the key of their customer group.
    contacts: FxHashMap<u128, u64>,
}

/// The key the engine holds a contact by.
pub fn contact_key(contact_id: &str) -> u128 {
    xxh3_128(contact_id.as_bytes())
}

/// One of `engines` engines for a 64-bit key, spread evenly.
fn spread(k: u64, engines: usize) -> usize {
    ((u128::from(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)) * engines as u128) >> 64) as usize
}

/// A 128-bit key folded to 64 bits.
fn fold(k: u128) -> u64 {
    (k >> 64) as u64 ^ k as u64
}

/// Where a line's event goes, as far as reading it can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// To this engine; `contact` is the [`contact_key`] of the contact it names, if any.
    Engine {
        /// The engine.
        engine: u32,
        /// The contact's key.
        contact: Option<u128>,
    },
    /// To the engine its contact is pinned to ([`Pins`]); `offer` is the engine of the
    /// customer it names when it is an offer naming one.
    Pin {
        /// The contact's key.
        contact: u128,
        /// The engine of the offer's customer.
        offer: Option<u32>,
    },
}

impl Dest {
    /// The [`contact_key`] of the contact the event names, if any.
    pub fn contact(&self) -> Option<u128> {
        match *self {
            Dest::Engine { contact, .. } => contact,
            Dest::Pin { contact, .. } => Some(contact),
        }
    }
}

/// Where an event whose id has [`Dedupe::key`] `id_key` goes over `engines` engines
/// when it is no contact's: an agent's state by the agent, a relationship survey (no
/// contact, no agent's state) anywhere, by its id. Else the contact id it names.
fn without_contact<'e>(ev: &'e Event<'_>, id_key: u128, engines: usize) -> Result<Dest, &'e str> {
    let to = |engine: usize| Dest::Engine {
        engine: engine as u32,
        contact: None,
    };
    match (&ev.body, ev.contact_id()) {
        (Body::AgentState { agent_id, .. }, _) => Ok(to(spread(name_key(agent_id), engines))),
        (_, Some(contact_id)) => Err(contact_id),
        (_, None) => Ok(to(spread(fold(id_key), engines))),
    }
}

/// Where an event whose id has [`Dedupe::key`] `id_key` goes in a replay routed by
/// [`Pins`] over `engines` engines: agent states by the agent and surveys of no contact
/// by their id (as [`Partitioner::dest`]); contacts' events to their pin, which is
/// decided in stream order ([`Pins::engine`]).
pub fn pin_dest(ev: &Event<'_>, id_key: u128, engines: usize) -> Dest {
    let engines = engines.max(1);
    without_contact(ev, id_key, engines).unwrap_or_else(|contact_id| Dest::Pin {
        contact: contact_key(contact_id),
        offer: match &ev.body {
            Body::Offered {
                customer_id: Some(customer),
                ..
            } => Some(spread(key64(customer).get(), engines) as u32),
            _ => None,
        },
    })
}

/// Routing in one pass, without a first reading of the offers: a contact is pinned to
/// an engine by the first of its events routed, and its later events follow it. The
/// engine is its customer's if that event is an offer naming one, or if an offer of
/// the contact a little further in the stream names one (a contact's events come
/// slightly out of order now and then), else the contact's own. Any pin keeps the
/// [module](self)'s first condition as long as every offer routed names a customer of
/// its contact's engine: then all of a contact's events, and all contacts of a
/// customer, are on one engine. When an offer does not (its contact's events came
/// well before it, or two customers of other engines share a contact), [`Pins::engine`]
/// says so, and the replay must be split with a first reading instead.
#[derive(Debug)]
pub struct Pins {
    engines: usize,
    /// By the contact's key folded to 64 bits (half the table of the full key, which
    /// the lookups' cache misses are about): two contacts that fold alike share a pin,
    /// which is a choice like any other, checked like any other.
    pins: FxHashMap<u64, u32>,
}

/// An offer names a customer of another engine than its contact's events went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinConflict;

impl Pins {
    /// No contact pinned yet, over `engines` engines (at least one).
    pub fn new(engines: usize) -> Self {
        Pins {
            engines: engines.max(1),
            pins: FxHashMap::default(),
        }
    }

    /// The engine of an event going to `dest`, routed now (after every event before it
    /// in the stream): its contact is pinned if it was not, by the offer `ahead` finds
    /// for the contact (the engine of its customer) when the event is not one. Any
    /// answer of `ahead` keeps the figures exact; one that agrees with the offer routed
    /// later avoids a conflict. [`PinConflict`] when the event is an offer naming a
    /// customer of another engine than its contact's pin.
    pub fn engine(&mut self, dest: Dest, ahead: impl FnOnce(u128) -> Option<u32>) -> Result<u32, PinConflict> {
        match dest {
            Dest::Engine { engine, .. } => Ok(engine),
            Dest::Pin { contact, offer } => match self.pins.entry(fold(contact)) {
                Entry::Vacant(v) => {
                    let engines = self.engines as u32;
                    let pin = offer
                        .or_else(|| ahead(contact).filter(|&e| e < engines))
                        .unwrap_or(spread(fold(contact), self.engines) as u32);
                    Ok(*v.insert(pin))
                }
                Entry::Occupied(o) => match offer {
                    Some(e) if e != *o.get() => Err(PinConflict),
                    _ => Ok(*o.get()),
                },
            },
        }
    }
}

impl Partitioner {
    /// The number of engines.
    pub fn engines(&self) -> usize {
        self.engines
    }

    /// The engine of an event whose id has [`Dedupe::key`] `id_key`, with the
    /// [`contact_key`] of the contact it names (which the engine can be given, see
    /// [`Engine::apply_routed`](crate::engine::Engine::apply_routed)): a contact's
    /// event by its customer group, or by the contact when no offer named a customer.
    pub fn dest(&self, ev: &Event<'_>, id_key: u128) -> Dest {
        without_contact(ev, id_key, self.engines).unwrap_or_else(|contact_id| {
            let key = contact_key(contact_id);
            let by = self.contacts.get(&key).copied().unwrap_or(fold(key));
            Dest::Engine {
                engine: spread(by, self.engines) as u32,
                contact: Some(key),
            }
        })
    }

    /// How many contacts were found with a customer, and in how many customer groups.
    pub fn counts(&self) -> (usize, usize) {
        let groups: FxHashSet<u64> = self.contacts.values().copied().collect();
        (self.contacts.len(), groups.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_event;

    /// The engine of a destination the partitioner named.
    fn engine(dest: Dest) -> u32 {
        match dest {
            Dest::Engine { engine, .. } => engine,
            Dest::Pin { .. } => panic!("the partitioner names engines"),
        }
    }

    fn ev(json: &str) -> Event<'_> {
        parse_event(json.as_bytes(), i64::MAX / 2).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    #[test]
    fn a_contact_goes_with_its_customer_and_customers_named_together_stay_together() {
        let offers = [
            r#"{"id":"1","type":"contact.offered","ts":1,"contact_id":"c1","channel":"voice","queue":"q","customer_id":"k1"}"#,
            r#"{"id":"2","type":"contact.offered","ts":1,"contact_id":"c2","channel":"voice","queue":"q","customer_id":"k2"}"#,
            r#"{"id":"3","type":"contact.offered","ts":1,"contact_id":"c2","channel":"voice","queue":"q","customer_id":"k3"}"#,
            r#"{"id":"4","type":"contact.offered","ts":1,"contact_id":"c3","channel":"voice","queue":"q","customer_id":"k3"}"#,
        ];
        for engines in 1..=7 {
            let mut b = PartitionerBuilder::default();
            for o in offers {
                b.note(&ev(o));
            }
            let p = b.build(engines);
            assert_eq!(p.counts(), (3, 2));
            let of = |json: &str| engine(p.dest(&ev(json), 0));
            let answered = |c: &str| {
                of(&format!(
                    r#"{{"id":"x","type":"contact.answered","ts":1,"contact_id":"{c}","agent_id":"a"}}"#
                ))
            };
            assert_eq!(answered("c2"), answered("c3"), "k2 and k3 are one group through c2");
            assert_eq!(answered("c1"), of(offers[0]));
            assert!(
                (0..engines as u32).contains(&answered("c9")),
                "no offer: by the contact"
            );
            let survey = r#"{"id":"s","type":"survey.nps","ts":1,"contact_id":"c3","score":9}"#;
            assert_eq!(of(survey), answered("c3"));
        }
    }

    #[test]
    fn a_contact_is_pinned_by_its_first_event_and_an_offer_elsewhere_conflicts() {
        let offer = |c: &str, k: &str| {
            format!(
                r#"{{"id":"o","type":"contact.offered","ts":1,"contact_id":"{c}","channel":"voice","queue":"q","customer_id":"{k}"}}"#
            )
        };
        let answered =
            |c: &str| format!(r#"{{"id":"a","type":"contact.answered","ts":1,"contact_id":"{c}","agent_id":"a"}}"#);
        let engines = 4;
        let dest = |json: &str| pin_dest(&ev(json), 0, engines);
        let customer_engine = |k: &str| match dest(&offer("any", k)) {
            Dest::Pin { offer: Some(e), .. } => e,
            other => panic!("an offer naming a customer: {other:?}"),
        };
        // Two customers of other engines.
        let (k1, k2) = (0..100)
            .map(|i| format!("k{i}"))
            .find_map(|k| (customer_engine(&k) != customer_engine("k0")).then(|| ("k0".to_owned(), k)))
            .unwrap();
        let mut pins = Pins::new(engines);
        // By its offer's customer; its later events follow.
        let e1 = pins.engine(dest(&offer("c1", &k1)), |_| None).unwrap();
        assert_eq!(e1, customer_engine(&k1));
        assert_eq!(pins.engine(dest(&answered("c1")), |_| None), Ok(e1));
        assert_eq!(
            pins.engine(dest(&offer("c1", &k1)), |_| None),
            Ok(e1),
            "the same customer again"
        );
        assert_eq!(
            pins.engine(dest(&offer("c1", &k2)), |_| None),
            Err(PinConflict),
            "a customer of another engine"
        );
        // An answer first pins the contact by itself; its offer must agree.
        let mut pins = Pins::new(engines);
        let by_contact = pins.engine(dest(&answered("c2")), |_| None).unwrap();
        let k = if customer_engine(&k1) == by_contact { &k2 } else { &k1 };
        assert_eq!(pins.engine(dest(&offer("c2", k)), |_| None), Err(PinConflict));
        // Unless the offer found ahead pinned it with its customer.
        let mut pins = Pins::new(engines);
        let ahead = |c: u128| (c == contact_key("c3")).then(|| customer_engine(k));
        assert_eq!(pins.engine(dest(&answered("c3")), ahead), Ok(customer_engine(k)));
        assert_eq!(pins.engine(dest(&offer("c3", k)), |_| None), Ok(customer_engine(k)));
        // Agent states by the agent, as the partitioner routes them.
        let state = r#"{"id":"s","type":"agent.state","ts":1,"agent_id":"a7","state":"available"}"#;
        let part = PartitionerBuilder::default().build(engines);
        assert_eq!(dest(state), part.dest(&ev(state), 0));
    }

    #[test]
    fn the_router_does_what_one_engine_does_before_the_contact() {
        let cfg = EngineConfig::default();
        let mut r = Router::new(&cfg);
        let (a, m) = r.route(1, 10 * MINUTE).unwrap();
        assert_eq!(
            (a.seq, a.watermark, a.seen, m),
            (1, 10 * MINUTE, Seen::New, Some(10 * MINUTE))
        );
        assert!(r.route(1, 10 * MINUTE).is_none(), "duplicate");
        let (a, m) = r.route(2, 5 * MINUTE).unwrap();
        assert_eq!(
            (a.seq, a.watermark, m),
            (3, 10 * MINUTE, None),
            "late: the watermark stays"
        );
        let (_, m) = r.route(3, 11 * MINUTE - 1).unwrap();
        assert_eq!(m, None, "less than a minute since the last maintenance");
        let (_, m) = r.route(4, 11 * MINUTE).unwrap();
        assert_eq!(m, Some(11 * MINUTE));
        let (a, _) = r.route(5, 0).unwrap();
        assert_eq!(a.seen, Seen::New, "within the dedupe horizon");
        let (a, m) = r.route(6, 11 * MINUTE - cfg.dedupe_horizon - 1).unwrap();
        assert_eq!((a.seen, m), (Seen::TooOld, None));
        assert_eq!((r.duplicates(), r.watermark()), (1, Some(11 * MINUTE)));
    }
}
