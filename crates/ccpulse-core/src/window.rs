//! Sliding windows as rings of slices (panes), and `today` as per-local-day sums.
//!
//! A fact lands in the slice of its event time, O(1). A window `[to − W, to)` is the
//! fold of its W/slice slices at snapshot time. The ring keeps a bounded number of
//! slices behind the newest one, so memory per group is O(window / slice) whatever the
//! traffic; a slice takes no memory until a fact lands in it.

use std::collections::VecDeque;

use jiff::tz::TimeZone;

use crate::agg::Aggregate;
use crate::time::Millis;

/// What a ring holds per slice: something facts are applied to, that a window adds into
/// its sum, and that can be cleared for reuse.
pub trait Slice: Default {
    /// The sum a window folds slices into.
    type Sum: Aggregate;
    /// Adds what the slice counts into `sum`.
    fn add_to(&self, sum: &mut Self::Sum);
    /// Counts nothing again.
    fn clear(&mut self);
}

/// Slices a ring let go of, kept for reuse: a ring slides by one slice every few
/// seconds per group, and a new slice would otherwise allocate again what the dropped
/// one held. Bounded by [`SlicePool::MAX`].
#[derive(Clone, Debug)]
pub struct SlicePool<A> {
    free: Vec<Box<A>>,
}

impl<A> Default for SlicePool<A> {
    fn default() -> Self {
        SlicePool { free: Vec::new() }
    }
}

impl<A: Slice> SlicePool<A> {
    /// The most slices kept for reuse; beyond that they are dropped.
    pub const MAX: usize = 4096;

    /// A cleared slice: cleared here, not when given back, so that its memory is
    /// touched once, by the new slice.
    fn take(&mut self) -> Box<A> {
        match self.free.pop() {
            Some(mut slice) => {
                slice.clear();
                slice
            }
            None => Box::default(),
        }
    }

    fn give(&mut self, slice: Box<A>) {
        if self.free.len() < Self::MAX {
            self.free.push(slice);
        }
    }

    /// Slices waiting for reuse.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// Whether no slice waits for reuse.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }
}

/// A ring of slices of width `slice`, indexed by `ts.div_euclid(slice)`: the slices a
/// fact landed in, in index order, spanning at most `cap` indexes back from the newest.
/// Only slices that hold something take memory, so a group or an agent with a fact
/// every few minutes holds a few slices, not `cap`. Slices are boxed: the ring itself
/// stays small, and a new slice touches only the memory of the (reused) slice, not a
/// slot of the ring last written an hour earlier (measured: 2–5 % of parse + apply).
#[derive(Clone, Debug)]
pub struct Ring<A> {
    slices: VecDeque<(i64, Box<A>)>,
    cap: i64,
}

impl<A: Slice> Ring<A> {
    /// A ring spanning at most `cap` slice indexes.
    pub fn new(cap: usize) -> Self {
        Ring {
            slices: VecDeque::new(),
            cap: cap.max(1) as i64,
        }
    }

    /// The slice for index `idx`, created if needed (from `pool` when it has one);
    /// `None` when it is older than the ring spans. Slices the ring slides past go back
    /// to `pool`.
    pub fn slot_mut(&mut self, idx: i64, pool: &mut SlicePool<A>) -> Option<&mut A> {
        let newest = match self.slices.back() {
            None => {
                self.slices.push_back((idx, pool.take()));
                return self.slices.back_mut().map(|(_, a)| &mut **a);
            }
            Some(&(newest, _)) => newest,
        };
        if idx > newest {
            // Newer than any slice: slide forward, dropping what falls out of the span.
            while self.slices.front().is_some_and(|&(i, _)| i <= idx - self.cap) {
                if let Some((_, a)) = self.slices.pop_front() {
                    pool.give(a);
                }
            }
            self.slices.push_back((idx, pool.take()));
            return self.slices.back_mut().map(|(_, a)| &mut **a);
        }
        if idx <= newest - self.cap {
            return None;
        }
        // Facts mostly land in one of the newest slices: look there before searching.
        let recent = self.slices.iter().rev().take(4).position(|&(i, _)| i <= idx);
        let found = match recent {
            Some(back) => {
                let pos = self.slices.len() - 1 - back;
                if self.slices.get(pos).is_some_and(|&(i, _)| i == idx) {
                    Ok(pos)
                } else {
                    Err(pos + 1)
                }
            }
            None => self.slices.binary_search_by_key(&idx, |&(i, _)| i),
        };
        let pos = match found {
            Ok(pos) => pos,
            Err(pos) => {
                self.slices.insert(pos, (idx, pool.take()));
                pos
            }
        };
        self.slices.get_mut(pos).map(|(_, a)| &mut **a)
    }

    /// Adds the slices with index in `[from, to)` into `out`.
    pub fn fold_into(&self, from: i64, to: i64, out: &mut A::Sum) {
        let lo = self.slices.partition_point(|&(i, _)| i < from);
        for (i, a) in self.slices.range(lo..) {
            if *i >= to {
                break;
            }
            a.add_to(out);
        }
    }

    /// Drops slices with index below `idx`, giving them back to `pool`.
    pub fn evict_before(&mut self, idx: i64, pool: &mut SlicePool<A>) {
        while self.slices.front().is_some_and(|&(i, _)| i < idx) {
            if let Some((_, a)) = self.slices.pop_front() {
                pool.give(a);
            }
        }
    }

    /// Whether the ring holds no slice.
    pub fn is_empty(&self) -> bool {
        self.slices.is_empty()
    }

    /// How many slices are allocated (for the memory gauges).
    pub fn allocated(&self) -> usize {
        self.slices.len()
    }
}

/// Per-local-day sums, for `today`. Keeps a couple of days so that late events around
/// midnight still land in the right day.
#[derive(Clone, Debug, Default)]
pub struct Days<A> {
    days: Vec<(Millis, A)>,
}

impl<A: Aggregate> Days<A> {
    /// The aggregate of the day starting at `start`, created if needed.
    pub fn day_mut(&mut self, start: Millis) -> &mut A {
        let i = match self.days.iter().position(|(s, _)| *s == start) {
            Some(i) => i,
            None => {
                self.days.push((start, A::default()));
                self.days.len() - 1
            }
        };
        &mut self.days[i].1
    }

    /// The aggregate of the day starting at `start`.
    pub fn day(&self, start: Millis) -> Option<&A> {
        self.days.iter().find(|(s, _)| *s == start).map(|(_, a)| a)
    }

    /// Drops days that started before `start`.
    pub fn evict_before(&mut self, start: Millis) {
        self.days.retain(|(s, _)| *s >= start);
    }

    /// Whether no day is held.
    pub fn is_empty(&self) -> bool {
        self.days.iter().all(|(_, a)| a.is_zero())
    }
}

/// Local-day boundaries in a time zone, with the last two days looked up cached
/// (around midnight, facts of both days arrive interleaved).
#[derive(Clone, Debug)]
pub struct DayClock {
    tz: TimeZone,
    cached: [(Millis, Millis); 2],
}

impl DayClock {
    /// A clock for `tz`.
    pub fn new(tz: TimeZone) -> Self {
        DayClock {
            tz,
            cached: [(0, 0); 2],
        }
    }

    /// `[start, end)` of the local day containing `ts` (23 or 25 hours long on DST days).
    pub fn bounds(&mut self, ts: Millis) -> (Millis, Millis) {
        if let Some(&hit) = self.cached.iter().find(|(s, e)| ts >= *s && ts < *e) {
            return hit;
        }
        let b = day_bounds(&self.tz, ts);
        self.cached = [b, self.cached[0]];
        b
    }
}

/// `[start, end)` of the local day containing `ts` in `tz`.
pub fn day_bounds(tz: &TimeZone, ts: Millis) -> (Millis, Millis) {
    let compute = || -> Option<(Millis, Millis)> {
        let zoned = jiff::Timestamp::from_millisecond(ts).ok()?.to_zoned(tz.clone());
        let start = zoned.start_of_day().ok()?;
        let next = start.date().tomorrow().ok()?.to_zoned(tz.clone()).ok()?;
        Some((start.timestamp().as_millisecond(), next.timestamp().as_millisecond()))
    };
    compute().unwrap_or_else(|| {
        let start = ts.div_euclid(crate::time::DAY) * crate::time::DAY;
        (start, start + crate::time::DAY)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::{AgentAgg, FactKind};
    use crate::time::{parse_rfc3339, HOUR};

    fn handled(ring: &mut Ring<AgentAgg>, idx: i64) -> bool {
        match ring.slot_mut(idx, &mut SlicePool::default()) {
            Some(a) => {
                a.apply(
                    &FactKind::Handled {
                        talk: 1,
                        hold: 0,
                        acw: 0,
                    },
                    1,
                );
                true
            }
            None => false,
        }
    }

    fn total(ring: &Ring<AgentAgg>, from: i64, to: i64) -> i64 {
        let mut out = AgentAgg::default();
        ring.fold_into(from, to, &mut out);
        out.c.handled
    }

    #[test]
    fn ring_slides_and_bounds_memory() {
        let mut r = Ring::new(4);
        assert!(handled(&mut r, 10));
        assert!(handled(&mut r, 8), "room at the front while not full");
        assert!(handled(&mut r, 11));
        assert_eq!(total(&r, 0, 20), 3);
        assert!(handled(&mut r, 13), "slides forward, dropping 8");
        assert_eq!(total(&r, 0, 20), 3);
        assert!(!handled(&mut r, 9), "older than the ring holds");
        assert_eq!(total(&r, 11, 13), 1);
        assert!(handled(&mut r, 12), "between two slices");
        assert!(handled(&mut r, 12), "the same slice again");
        assert_eq!(total(&r, 12, 13), 2);
        assert_eq!(total(&r, 10, 14), 5);
        assert_eq!(r.allocated(), 4, "10, 11, 12, 13");
        assert!(handled(&mut r, 100));
        assert_eq!(total(&r, 0, 200), 1);
        let mut pool = SlicePool::default();
        r.evict_before(101, &mut pool);
        assert!(r.is_empty());
        assert_eq!(pool.len(), 1, "the evicted slice is kept for reuse");
        assert!(handled(&mut r, 101));
        let mut again = Ring::new(4);
        let reused = again.slot_mut(7, &mut pool).expect("in range");
        let mut sum = AgentAgg::default();
        reused.add_to(&mut sum);
        assert!(sum.is_zero(), "a reused slice starts empty");
        assert!(pool.is_empty());
    }

    #[test]
    fn dst_days() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        // Spring forward: 2026-03-29 has 23 hours in Berlin.
        let ts = parse_rfc3339("2026-03-29T12:00:00+02:00").unwrap();
        let (s, e) = day_bounds(&tz, ts);
        assert_eq!(s, parse_rfc3339("2026-03-29T00:00:00+01:00").unwrap());
        assert_eq!(e - s, 23 * HOUR);
        // Fall back: 2026-10-25 has 25 hours.
        let ts = parse_rfc3339("2026-10-25T23:30:00+01:00").unwrap();
        let (s, e) = day_bounds(&tz, ts);
        assert_eq!(s, parse_rfc3339("2026-10-25T00:00:00+02:00").unwrap());
        assert_eq!(e - s, 25 * HOUR);
        let mut clock = DayClock::new(tz);
        assert_eq!(clock.bounds(ts), (s, e));
        assert_eq!(clock.bounds(e), (e, e + 24 * HOUR));
        assert_eq!(clock.bounds(ts), (s, e), "the day before is still cached");
        assert_eq!(clock.bounds(e + HOUR), (e, e + 24 * HOUR));
    }
}
