//! An agent's facts by slice: the window ring of a group whose facts are sparse, kept
//! as one entry per fact rather than one aggregate per slice.
//!
//! An agent has a fact every few minutes (an answer, a wrap-up, a survey), nearly each
//! in a five-second slice of its own. As a [`Ring`](crate::window::Ring) of
//! [`AgentAgg`] slices, each fact took a slice last used an hour earlier and cleared
//! its 120 bytes: two cold cache lines written per fact, 1.0 M of the 7.6 M cache
//! write misses of a day's replay (`cachegrind`). Here a fact is an entry of 48 bytes
//! appended after the agent's previous one.
//!
//! The ring keeps and refuses exactly what a ring of slices would: an entry per
//! (slice, fact), kept while its count is zero, so that the slices held, the newest one
//! and the span behind it are the same, and a window folds the same sums. An identity
//! with a fact every second or so (an automated one, a flood) would hold more entries
//! than slices: past two entries per slice of the span it turns into a ring of slices.

use std::collections::VecDeque;

use crate::agg::{AgentAgg, FactKind};
use crate::window::{Ring, SlicePool};

/// An agent's facts by slice index, within a span of slices behind the newest.
///
/// Memory is one entry per distinct fact in the span (a longest window and the
/// allowed lateness). An identity with more facts than [`FactRing::MAX_ENTRIES_PER_SLICE`]
/// times the span's slices (an automated one, or a flood) turns into a ring of slices,
/// whose memory is bounded by the span alone, and stays one: what it costs per fact
/// and in all is bounded whatever the traffic.
#[derive(Clone, Debug)]
pub struct FactRing {
    inner: Inner,
    cap: i64,
}

#[derive(Clone, Debug)]
enum Inner {
    /// (slice index, fact, count), sorted by slice index.
    Facts(VecDeque<(i64, FactKind, i64)>),
    /// A ring of slices, with the slices it let go of for reuse.
    Slices(Ring<AgentAgg>, SlicePool<AgentAgg>),
}

impl FactRing {
    /// Entries per slice of the span past which the ring turns into a ring of slices.
    pub const MAX_ENTRIES_PER_SLICE: usize = 2;

    /// A ring spanning at most `cap` slice indexes.
    pub fn new(cap: usize) -> Self {
        FactRing {
            inner: Inner::Facts(VecDeque::new()),
            cap: i64::try_from(cap.max(1)).unwrap_or(i64::MAX),
        }
    }

    /// Adds `kind` `sign` times at slice `idx`. Says `false`, and adds nothing, when
    /// `idx` is older than the ring spans behind its newest slice; a newer slice slides
    /// the span forward, dropping what falls out of it.
    pub fn add(&mut self, idx: i64, kind: &FactKind, sign: i64) -> bool {
        let entries = match &mut self.inner {
            Inner::Facts(entries) => entries,
            Inner::Slices(ring, pool) => {
                return ring.slot_mut(idx, pool).map(|s| s.apply(kind, sign)).is_some();
            }
        };
        let added = add_entry(entries, self.cap, idx, kind, sign);
        let limit = usize::try_from(self.cap).unwrap_or(usize::MAX);
        if entries.len() > limit.saturating_mul(Self::MAX_ENTRIES_PER_SLICE) {
            self.turn_into_slices();
        }
        added
    }

    /// Turns the entries into a ring of slices holding the same sums: the same slices
    /// (one per slice index with an entry), so the same newest slice and span.
    fn turn_into_slices(&mut self) {
        let Inner::Facts(entries) = &mut self.inner else {
            return;
        };
        let mut ring: Ring<AgentAgg> = Ring::new(usize::try_from(self.cap).unwrap_or(usize::MAX));
        let mut pool = SlicePool::default();
        for (idx, kind, count) in entries.drain(..) {
            if let Some(s) = ring.slot_mut(idx, &mut pool) {
                s.apply(&kind, count);
            }
        }
        self.inner = Inner::Slices(ring, pool);
    }

    /// Adds the facts with slice index in `[from, to)` into `out`.
    pub fn fold_into(&self, from: i64, to: i64, out: &mut AgentAgg) {
        let entries = match &self.inner {
            Inner::Facts(entries) => entries,
            Inner::Slices(ring, _) => return ring.fold_into(from, to, out),
        };
        let lo = entries.partition_point(|&(i, ..)| i < from);
        for (i, kind, count) in entries.range(lo..) {
            if *i >= to {
                break;
            }
            out.apply(kind, *count);
        }
    }

    /// Drops the facts of slices with index below `idx`.
    pub fn evict_before(&mut self, idx: i64) {
        match &mut self.inner {
            Inner::Facts(entries) => {
                while entries.front().is_some_and(|&(i, ..)| i < idx) {
                    entries.pop_front();
                }
            }
            Inner::Slices(ring, pool) => ring.evict_before(idx, pool),
        }
    }

    /// Whether the ring holds no fact.
    pub fn is_empty(&self) -> bool {
        match &self.inner {
            Inner::Facts(entries) => entries.is_empty(),
            Inner::Slices(ring, _) => ring.is_empty(),
        }
    }

    /// How many entries, or slices, it holds (for the memory gauges).
    pub fn allocated(&self) -> usize {
        match &self.inner {
            Inner::Facts(entries) => entries.len(),
            Inner::Slices(ring, _) => ring.allocated(),
        }
    }
}

/// [`FactRing::add`] on the entries, sorted by slice index, of a ring spanning `cap`.
fn add_entry(entries: &mut VecDeque<(i64, FactKind, i64)>, cap: i64, idx: i64, kind: &FactKind, sign: i64) -> bool {
    if let Some(&(newest, ..)) = entries.back() {
        if idx > newest {
            while entries.front().is_some_and(|&(i, ..)| i <= idx - cap) {
                entries.pop_front();
            }
            entries.push_back((idx, *kind, sign));
            return true;
        }
        if idx <= newest - cap {
            return false;
        }
    }
    // The same slice as a held entry or an earlier one: the slice's entries, found by
    // binary search, get the fact's count, or the fact goes after them.
    let at = entries.partition_point(|&(i, ..)| i <= idx);
    let same = entries.range(..at).rev().take_while(|&&(i, ..)| i == idx).count();
    match entries.range_mut(at - same..at).find(|(_, k, _)| k == kind) {
        Some((_, _, count)) => *count += sign,
        None => entries.insert(at, (idx, *kind, sign)),
    }
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn kind(n: u8) -> FactKind {
        match n % 4 {
            0 => FactKind::Handled {
                talk: i64::from(n) * 1000,
                hold: 0,
                acw: 5000,
            },
            1 => FactKind::AgentSl { met: n % 8 == 1 },
            2 => FactKind::Csat {
                satisfied: true,
                delay: None,
                immediate: false,
            },
            _ => FactKind::Nps {
                score: n % 11,
                transactional: true,
                delay: None,
                immediate: false,
            },
        }
    }

    /// Index, fact, sign (a retraction of a fact added before, or an add), and
    /// sometimes an eviction.
    fn ops() -> impl Strategy<Value = Vec<(i64, u8, bool, Option<i64>)>> {
        prop::collection::vec(
            (
                0i64..120,
                0u8..16,
                any::<bool>(),
                prop::option::weighted(0.05, 0i64..120),
            ),
            1..300,
        )
    }

    proptest! {
        /// It refuses, keeps and folds what a ring of slices does, step by step.
        #[test]
        fn it_holds_what_a_ring_of_slices_holds(ops in ops(), cap in 1usize..40) {
            let mut facts = FactRing::new(cap);
            let mut slices: Ring<AgentAgg> = Ring::new(cap);
            let mut pool = SlicePool::default();
            let mut added: Vec<(i64, u8)> = Vec::new();
            for (idx, n, retract, evict) in ops {
                let (idx, n, sign) = match added.pop().filter(|_| retract) {
                    Some((i, n)) => (i, n, -1),
                    None => (idx, n, 1),
                };
                let took = facts.add(idx, &kind(n), sign);
                let slot = slices.slot_mut(idx, &mut pool);
                prop_assert_eq!(took, slot.is_some());
                if let Some(s) = slot {
                    s.apply(&kind(n), sign);
                    if sign == 1 {
                        added.push((idx, n));
                    }
                }
                if let Some(e) = evict {
                    facts.evict_before(e);
                    slices.evict_before(e, &mut pool);
                }
                prop_assert_eq!(facts.is_empty(), slices.is_empty());
                for (from, to) in [(0, 120), (10, 40), (60, 61), (100, 200)] {
                    let (mut a, mut b) = (AgentAgg::default(), AgentAgg::default());
                    facts.fold_into(from, to, &mut a);
                    slices.fold_into(from, to, &mut b);
                    prop_assert_eq!(a, b, "[{}, {})", from, to);
                }
            }
        }
    }

    #[test]
    fn a_flood_of_facts_turns_it_into_a_ring_of_slices_with_the_same_sums() {
        let cap = 10;
        let mut r = FactRing::new(cap);
        for n in 0..(cap * FactRing::MAX_ENTRIES_PER_SLICE) as u8 {
            assert!(r.add(5, &kind(n * 4), 1), "distinct handle times");
        }
        assert!(matches!(r.inner, Inner::Facts(_)));
        assert_eq!(r.allocated(), 20);
        assert!(r.add(6, &kind(200), 1));
        assert!(matches!(r.inner, Inner::Slices(..)), "past two entries a slice");
        assert_eq!(r.allocated(), 2, "two slices");
        let mut sum = AgentAgg::default();
        r.fold_into(0, 10, &mut sum);
        assert_eq!(sum.c.handled, 21);
        assert!(!r.add(-4, &kind(0), 1), "-4 <= 6 - 10: older than the span");
        r.evict_before(6);
        let mut sum = AgentAgg::default();
        r.fold_into(0, 10, &mut sum);
        assert_eq!(sum.c.handled, 1);
    }

    #[test]
    fn a_fact_older_than_the_span_is_refused_and_a_newer_one_slides_it() {
        let mut r = FactRing::new(10);
        let handled = kind(0);
        assert!(r.add(100, &handled, 1));
        assert!(!r.add(90, &handled, 1), "90 <= 100 - 10");
        assert!(r.add(91, &handled, 1));
        assert!(r.add(101, &handled, 1), "slides: 91 falls out (91 <= 101 - 10)");
        assert!(r.add(105, &handled, 1));
        let mut sum = AgentAgg::default();
        r.fold_into(0, 200, &mut sum);
        assert_eq!(sum.c.handled, 3, "100, 101 and 105: {r:?}");
        r.evict_before(105);
        let mut sum = AgentAgg::default();
        r.fold_into(0, 200, &mut sum);
        assert_eq!(sum.c.handled, 1);
    }
}
