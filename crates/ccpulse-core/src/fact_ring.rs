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
//! and the span behind it are the same, and a window folds the same sums.

use std::collections::VecDeque;

use crate::agg::{AgentAgg, FactKind};

/// An agent's facts by slice index, within a span of slices behind the newest.
///
/// Memory is one entry per distinct fact in the span (a longest window and the
/// allowed lateness), as a ring of slices holds one slice per slice with a fact.
#[derive(Clone, Debug)]
pub struct FactRing {
    /// (slice index, fact, count), sorted by slice index.
    entries: VecDeque<(i64, FactKind, i64)>,
    cap: i64,
}

impl FactRing {
    /// A ring spanning at most `cap` slice indexes.
    pub fn new(cap: usize) -> Self {
        FactRing {
            entries: VecDeque::new(),
            cap: i64::try_from(cap.max(1)).unwrap_or(i64::MAX),
        }
    }

    /// Adds `kind` `sign` times at slice `idx`. Says `false`, and adds nothing, when
    /// `idx` is older than the ring spans behind its newest slice; a newer slice slides
    /// the span forward, dropping what falls out of it.
    pub fn add(&mut self, idx: i64, kind: &FactKind, sign: i64) -> bool {
        if let Some(&(newest, ..)) = self.entries.back() {
            if idx > newest {
                while self.entries.front().is_some_and(|&(i, ..)| i <= idx - self.cap) {
                    self.entries.pop_front();
                }
                self.entries.push_back((idx, *kind, sign));
                return true;
            }
            if idx <= newest - self.cap {
                return false;
            }
        }
        // The same slice as a held entry or an earlier one: facts mostly come in time
        // order, so the entries of the slice are looked for from the back.
        let mut at = self.entries.len();
        for (pos, (i, k, count)) in self.entries.iter_mut().enumerate().rev() {
            if *i < idx {
                break;
            }
            if *i == idx && k == kind {
                *count += sign;
                return true;
            }
            if *i > idx {
                at = pos;
            }
        }
        self.entries.insert(at, (idx, *kind, sign));
        true
    }

    /// Adds the facts with slice index in `[from, to)` into `out`.
    pub fn fold_into(&self, from: i64, to: i64, out: &mut AgentAgg) {
        let lo = self.entries.partition_point(|&(i, ..)| i < from);
        for (i, kind, count) in self.entries.range(lo..) {
            if *i >= to {
                break;
            }
            out.apply(kind, *count);
        }
    }

    /// Drops the facts of slices with index below `idx`.
    pub fn evict_before(&mut self, idx: i64) {
        while self.entries.front().is_some_and(|&(i, ..)| i < idx) {
            self.entries.pop_front();
        }
    }

    /// Whether the ring holds no fact.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries it holds (for the memory gauges).
    pub fn allocated(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::window::{Ring, SlicePool};

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
