//! The contact event an event is to its contact ([`ContactEventKind`]), and the keys
//! of its names, which can be computed where the event was read.
//!
//! A split replay reads events on one thread and applies them on another. Looking a
//! name up meant hashing its bytes where the event is applied, bytes another core had
//! just read: in a split replay of the realistic day, interning and making the kind
//! took 5.3 % of the time, against 1.5 % with one engine (`perf`). Their keys are now
//! computed with the reading ([`NameKeys::of`]), and the engine that applies the event
//! reads a name's bytes only when the name is new to it.

use std::num::NonZeroU64;

use crate::agg::NameId;
use crate::contact::{key64, ContactEventKind};
use crate::event::Body;
use crate::intern::Interner;

/// How [`contact_event_kind`] turns an event's names into ids, and its customer and
/// topic into keys.
pub(crate) trait Namer {
    /// The id of a queue, agent or segment name.
    fn id(&mut self, name: &str) -> NameId;
    /// The key of a customer or topic ([`key64`]).
    fn key(&mut self, value: &str) -> NonZeroU64;
}

impl Namer for Interner {
    fn id(&mut self, name: &str) -> NameId {
        self.intern(name)
    }

    fn key(&mut self, value: &str) -> NonZeroU64 {
        key64(value)
    }
}

/// The keys of a contact event's names, in the order [`contact_event_kind`] reads them:
/// at most two names and two keys (an offer's queue and segment, customer and topic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NameKeys {
    names: [u128; 2],
    /// How many names were read: those past the two kept are read again where the
    /// event is applied.
    n_names: u8,
    /// The customer's and topic's keys, as read (`None`: not read, or past these two).
    keys: [Option<NonZeroU64>; 2],
}

impl NameKeys {
    /// The keys of `body`'s names ([`Interner::key`]) and of its customer and topic.
    pub fn of(body: &Body<'_>) -> NameKeys {
        let mut keys = NameKeys::default();
        // Only the keys are wanted: the kind is made again where the event is applied.
        let _ = contact_event_kind(&mut Recording(&mut keys), body);
        keys
    }
}

/// Records the keys of the names it is asked for ([`NameKeys::of`]).
struct Recording<'a>(&'a mut NameKeys);

impl Namer for Recording<'_> {
    fn id(&mut self, name: &str) -> NameId {
        let k = &mut *self.0;
        if let Some(slot) = k.names.get_mut(usize::from(k.n_names)) {
            *slot = Interner::key(name);
        }
        k.n_names = k.n_names.saturating_add(1);
        // Not used: the recording's kind is dropped.
        0
    }

    fn key(&mut self, value: &str) -> NonZeroU64 {
        let key = key64(value);
        // Kept in the first free slot: they are read in order.
        if let Some(slot) = self.0.keys.iter_mut().find(|k| k.is_none()) {
            *slot = Some(key);
        }
        key
    }
}

/// Interns with keys recorded from the same event ([`NameKeys::of`]): a name is read
/// only if it is new to `names` (or was past the recorded ones).
pub(crate) struct Recorded<'a> {
    names: &'a mut Interner,
    keys: &'a NameKeys,
    next_name: usize,
    next_key: usize,
}

impl<'a> Recorded<'a> {
    pub(crate) fn new(names: &'a mut Interner, keys: &'a NameKeys) -> Self {
        Recorded {
            names,
            keys,
            next_name: 0,
            next_key: 0,
        }
    }
}

impl Namer for Recorded<'_> {
    fn id(&mut self, name: &str) -> NameId {
        let i = self.next_name;
        self.next_name += 1;
        match self.keys.names.get(i).filter(|_| i < usize::from(self.keys.n_names)) {
            Some(&key) => {
                debug_assert_eq!(key, Interner::key(name), "keys recorded from another event");
                self.names.intern_keyed(key, name)
            }
            None => self.names.intern(name),
        }
    }

    fn key(&mut self, value: &str) -> NonZeroU64 {
        let i = self.next_key;
        self.next_key += 1;
        match self.keys.keys.get(i).copied().flatten() {
            Some(key) => {
                debug_assert_eq!(key, key64(value), "keys recorded from another event");
                key
            }
            None => key64(value),
        }
    }
}

/// [`contact_event_kind`] interning in `names`, with the keys recorded where the event
/// was read when given ([`NameKeys::of`] of the same event).
pub(crate) fn kind_of(names: &mut Interner, body: &Body<'_>, keys: Option<&NameKeys>) -> Option<ContactEventKind> {
    match keys {
        Some(keys) => contact_event_kind(&mut Recorded::new(names, keys), body),
        None => contact_event_kind(names, body),
    }
}

/// The contact event an event is, with its names interned; `None` for agent events and
/// relationship surveys (no contact).
pub(crate) fn contact_event_kind(names: &mut impl Namer, body: &Body<'_>) -> Option<ContactEventKind> {
    Some(match body {
        Body::AgentState { .. } | Body::Survey { contact_id: None, .. } => return None,
        Body::Survey {
            answer,
            channel,
            queue,
            agent_id,
            ..
        } => ContactEventKind::Survey {
            answer: *answer,
            channel: *channel,
            queue: queue.as_deref().map(|q| names.id(q)),
            agent: agent_id.as_deref().map(|a| names.id(a)),
        },
        Body::SurveySent {
            kind,
            channel,
            queue,
            agent_id,
            ..
        } => ContactEventKind::SurveySent {
            kind: *kind,
            channel: *channel,
            queue: queue.as_deref().map(|q| names.id(q)),
            agent: agent_id.as_deref().map(|a| names.id(a)),
        },
        Body::Offered {
            channel,
            queue,
            customer_id,
            topic,
            segment,
            repeat,
            ..
        } => ContactEventKind::Offered {
            channel: *channel,
            queue: names.id(queue),
            segment: segment.as_deref().map(|s| names.id(s)),
            customer: customer_id.as_deref().map(|v| names.key(v)),
            topic: topic.as_deref().map(|v| names.key(v)),
            repeat: *repeat,
        },
        Body::Answered {
            agent_id,
            channel,
            queue,
            ..
        } => ContactEventKind::Answered {
            agent: names.id(agent_id),
            channel: *channel,
            queue: queue.as_deref().map(|q| names.id(q)),
        },
        Body::Abandoned { channel, queue, .. } => ContactEventKind::Abandoned {
            channel: *channel,
            queue: queue.as_deref().map(|q| names.id(q)),
        },
        Body::FlowedOut { channel, queue, .. } => ContactEventKind::FlowedOut {
            channel: *channel,
            queue: queue.as_deref().map(|q| names.id(q)),
        },
        Body::HoldStarted { .. } => ContactEventKind::HoldStarted,
        Body::HoldEnded { .. } => ContactEventKind::HoldEnded,
        Body::Transferred { to_queue, .. } => ContactEventKind::Transferred {
            to_queue: names.id(to_queue),
        },
        Body::Ended { resolved, .. } => ContactEventKind::Ended { resolved: *resolved },
        Body::WrappedUp { .. } => ContactEventKind::WrappedUp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_event;

    /// Every kind of contact event, with each of its names given.
    const LINES: [&str; 7] = [
        r#"{"id":"e1","type":"contact.offered","ts":"2026-11-30T09:00:00Z","contact_id":"c1","channel":"voice","queue":"billing","customer_id":"u1","topic":"t1","segment":"gold"}"#,
        r#"{"id":"e2","type":"contact.answered","ts":"2026-11-30T09:00:05Z","contact_id":"c1","agent_id":"a1","channel":"voice","queue":"billing"}"#,
        r#"{"id":"e3","type":"contact.abandoned","ts":"2026-11-30T09:00:05Z","contact_id":"c2","channel":"chat","queue":"sales"}"#,
        r#"{"id":"e4","type":"contact.transferred","ts":"2026-11-30T09:01:00Z","contact_id":"c1","to_queue":"tech"}"#,
        r#"{"id":"e5","type":"survey.csat","ts":"2026-11-30T10:00:00Z","contact_id":"c1","score":4,"scale":"five","queue":"billing","agent_id":"a1"}"#,
        r#"{"id":"e6","type":"contact.ended","ts":"2026-11-30T09:05:00Z","contact_id":"c1"}"#,
        r#"{"id":"e7","type":"contact.offered","ts":"2026-11-30T09:00:00Z","contact_id":"c3","channel":"email","queue":"billing"}"#,
    ];

    /// With the keys recorded where the event was read, the kind is the one made from
    /// the names, and so are the ids the interner gives, in any order of first sight.
    #[test]
    fn recorded_keys_give_the_kinds_and_ids_of_the_names() {
        let wall = crate::time::parse_rfc3339("2026-11-30T12:00:00Z").expect("a time");
        let events: Vec<_> = LINES
            .iter()
            .map(|l| parse_event(l.as_bytes(), wall).expect("a valid event"))
            .collect();
        let mut plain = Interner::default();
        let mut keyed = Interner::default();
        for ev in events.iter().chain(events.iter().rev()) {
            let keys = NameKeys::of(&ev.body);
            let want = contact_event_kind(&mut plain, &ev.body);
            let got = contact_event_kind(&mut Recorded::new(&mut keyed, &keys), &ev.body);
            assert!(want.is_some());
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{:?}", ev.id);
        }
        assert_eq!(keyed.len(), plain.len());
        for id in 0..plain.len() as NameId {
            assert_eq!(keyed.name(id), plain.name(id));
        }
        let offer = NameKeys::of(&events[0].body);
        assert_eq!(offer.n_names, 2, "queue, segment");
        assert!(offer.keys.iter().all(Option::is_some), "customer, topic");
    }

    /// Keys past those recorded (none are, today) are computed from the names.
    #[test]
    fn names_past_the_recorded_keys_are_read() {
        let wall = crate::time::parse_rfc3339("2026-11-30T12:00:00Z").expect("a time");
        let ev = parse_event(LINES[0].as_bytes(), wall).expect("a valid event");
        let mut plain = Interner::default();
        let want = contact_event_kind(&mut plain, &ev.body);
        let mut keyed = Interner::default();
        let got = contact_event_kind(&mut Recorded::new(&mut keyed, &NameKeys::default()), &ev.body);
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
    }
}
