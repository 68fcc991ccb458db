//! When contacts are due for eviction, in buckets of one minute.
//!
//! Maintenance runs once a minute of event time, so minute buckets lose nothing: it
//! takes every bucket that ended, instead of scanning all contacts (most of which are
//! not due) or keeping a heap ordered to the millisecond.

use std::collections::{BTreeMap, VecDeque};

use crate::time::{Millis, MINUTE};

/// Contact keys by the minute their eviction is due. A key can be in several buckets;
/// the owner knows which entry is current.
///
/// The buckets are a ring of consecutive minutes, not a sorted map: scheduling is an
/// index, not a tree search (a `BTreeMap` cost 80 instructions per event, `callgrind`),
/// and the key vectors of taken buckets are kept for new ones. The ring spans at most
/// [`Schedule::SPAN`] minutes, which the open timeouts (days) stay well inside; a due
/// minute outside it (event times years apart, as a replay of a file with an ancient
/// timestamp gives) goes to a sorted map instead, so that no due time can make the
/// ring, and its memory, span the years in between.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// `buckets[i]` is minute `first + i`.
    buckets: VecDeque<Vec<u128>>,
    first: i64,
    /// Buckets outside the ring's span.
    far: BTreeMap<i64, Vec<u128>>,
    /// Every minute before this one was taken.
    taken: i64,
    /// Emptied key vectors, for new buckets.
    spare: Vec<Vec<u128>>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            buckets: VecDeque::new(),
            first: 0,
            far: BTreeMap::new(),
            taken: i64::MIN,
            spare: Vec::new(),
        }
    }
}

impl Schedule {
    /// The most emptied key vectors kept.
    const SPARE: usize = 64;
    /// The most minutes the ring spans (about 45 days; 1.5 MB of empty buckets at most).
    pub const SPAN: i64 = 1 << 16;

    /// The bucket `due` is scheduled in: its minute, or the first minute not yet taken
    /// when that is later (a due time already past is evicted at the next maintenance).
    pub fn bucket(&self, due: Millis) -> i64 {
        due.div_euclid(MINUTE).max(self.taken)
    }

    /// Schedules `key` in [`Schedule::bucket`] of `due`, and returns that bucket.
    pub fn push(&mut self, due: Millis, key: u128) -> i64 {
        let bucket = self.bucket(due);
        if self.buckets.is_empty() {
            self.first = bucket;
        }
        let last = self.first + self.buckets.len() as i64 - 1;
        if bucket.saturating_sub(self.first) >= Self::SPAN || last.saturating_sub(bucket) >= Self::SPAN {
            self.far.entry(bucket).or_default().push(key);
            return bucket;
        }
        while bucket < self.first {
            self.buckets.push_front(Vec::new());
            self.first -= 1;
        }
        let i = usize::try_from(bucket - self.first).unwrap_or(0);
        while self.buckets.len() <= i {
            let keys = self.spare.pop().unwrap_or_default();
            self.buckets.push_back(keys);
        }
        if let Some(keys) = self.buckets.get_mut(i) {
            if keys.capacity() == 0 {
                // A minute's bucket gathers tens to thousands of keys: start at 32, not 4.
                keys.reserve_exact(32);
            }
            keys.push(key);
        }
        bucket
    }

    /// Removes the first bucket that ended at or before `clock`, with its keys: every
    /// due time in it is before `clock`. Give the keys back with [`Schedule::recycle`].
    pub fn pop_ended(&mut self, clock: Millis) -> Option<(i64, Vec<u128>)> {
        let ended = clock.div_euclid(MINUTE);
        let ring = (!self.buckets.is_empty()).then_some(self.first);
        let far = self.far.keys().next().copied();
        let (bucket, keys) = match (ring, far) {
            (Some(r), f) if f.is_none_or(|f| r <= f) => {
                if r >= ended {
                    return None;
                }
                let keys = self.buckets.pop_front()?;
                self.first += 1;
                (r, keys)
            }
            (_, Some(f)) if f < ended => (f, self.far.remove(&f)?),
            _ => return None,
        };
        self.taken = self.taken.max(bucket + 1);
        Some((bucket, keys))
    }

    /// Keeps the vector of a taken bucket for a new one.
    pub fn recycle(&mut self, mut keys: Vec<u128>) {
        if self.spare.len() < Self::SPARE {
            keys.clear();
            self.spare.push(keys);
        }
    }

    /// Entries held, current or not.
    pub fn len(&self) -> usize {
        self.buckets.iter().chain(self.far.values()).map(Vec::len).sum()
    }

    /// Buckets held in the ring (for the memory bound's test).
    pub fn ring_len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_taken_only_once_it_has_ended() {
        let mut s = Schedule::default();
        assert_eq!(s.push(MINUTE + 5, 1), 1);
        assert_eq!(s.push(MINUTE + 59_999, 2), 1);
        assert_eq!(s.push(3 * MINUTE, 3), 3);
        assert_eq!(s.pop_ended(2 * MINUTE - 1), None, "minute 1 has not ended");
        assert_eq!(s.pop_ended(2 * MINUTE), Some((1, vec![1, 2])));
        assert_eq!(s.pop_ended(2 * MINUTE), None);
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.push(5, 4),
            2,
            "a due time already past goes to the oldest bucket left"
        );
        let (bucket, keys) = s.pop_ended(10 * MINUTE).expect("minute 2 ended");
        assert_eq!((bucket, keys.as_slice()), (2, &[4][..]));
        s.recycle(keys);
        assert_eq!(s.pop_ended(10 * MINUTE), Some((3, vec![3])));
        assert!(s.is_empty());
        assert_eq!(s.pop_ended(10 * MINUTE), None);
        assert_eq!(s.push(-MINUTE, 5), 4, "nothing is scheduled before a minute taken");
        assert_eq!(s.push(9 * MINUTE, 6), 9);
        assert_eq!(s.push(6 * MINUTE, 7), 6, "a minute before the first bucket");
        assert_eq!(s.pop_ended(10 * MINUTE), Some((4, vec![5])));
        assert_eq!(s.pop_ended(10 * MINUTE), Some((5, vec![])));
        assert_eq!(s.pop_ended(10 * MINUTE), Some((6, vec![7])));
    }

    #[test]
    fn due_times_years_apart_do_not_fill_the_ring() {
        let year = 365 * 24 * 60 * MINUTE;
        let mut s = Schedule::default();
        let ancient = -2025 * year;
        assert_eq!(s.push(ancient, 1), ancient / MINUTE);
        assert_eq!(s.push(0, 2), 0, "far ahead of the ring: kept aside");
        assert_eq!(s.push(MINUTE, 3), 1);
        assert_eq!(s.push(ancient + MINUTE, 4), ancient / MINUTE + 1);
        assert!(s.ring_len() <= 2, "{} buckets", s.ring_len());
        assert_eq!(s.len(), 4);
        assert_eq!(s.pop_ended(ancient), None);
        assert_eq!(s.pop_ended(10 * MINUTE), Some((ancient / MINUTE, vec![1])));
        assert_eq!(s.pop_ended(10 * MINUTE), Some((ancient / MINUTE + 1, vec![4])));
        assert_eq!(s.pop_ended(10 * MINUTE), Some((0, vec![2])));
        assert_eq!(s.pop_ended(10 * MINUTE), Some((1, vec![3])));
        assert_eq!(s.pop_ended(10 * MINUTE), None);
        assert!(s.is_empty());
        assert_eq!(s.push(-year, 5), 2, "nothing is scheduled before a minute taken");
        assert!(s.ring_len() <= 1);
    }
}
