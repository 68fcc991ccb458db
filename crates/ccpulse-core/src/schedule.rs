//! When contacts are due for eviction, in buckets of one minute.
//!
//! Maintenance runs once a minute of event time, so minute buckets lose nothing: it
//! takes every bucket that ended, instead of scanning all contacts (most of which are
//! not due) or keeping a heap ordered to the millisecond.

use std::collections::BTreeMap;

use crate::time::{Millis, MINUTE};

/// Contact keys by the minute their eviction is due. A key can be in several buckets;
/// the owner knows which entry is current.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    buckets: BTreeMap<i64, Vec<u128>>,
}

impl Schedule {
    /// The bucket of a due time.
    pub fn bucket(due: Millis) -> i64 {
        due.div_euclid(MINUTE)
    }

    /// Schedules `key` in `bucket`.
    pub fn push(&mut self, bucket: i64, key: u128) {
        self.buckets.entry(bucket).or_default().push(key);
    }

    /// Removes the first bucket that ended at or before `clock`, with its keys: every
    /// due time in it is before `clock`.
    pub fn pop_ended(&mut self, clock: Millis) -> Option<(i64, Vec<u128>)> {
        let (&first, _) = self.buckets.first_key_value()?;
        if first >= Self::bucket(clock) {
            return None;
        }
        self.buckets.pop_first()
    }

    /// Entries held, current or not.
    pub fn len(&self) -> usize {
        self.buckets.values().map(Vec::len).sum()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_taken_only_once_it_has_ended() {
        let mut s = Schedule::default();
        s.push(Schedule::bucket(MINUTE + 5), 1);
        s.push(Schedule::bucket(MINUTE + 59_999), 2);
        s.push(Schedule::bucket(3 * MINUTE), 3);
        assert_eq!(s.pop_ended(2 * MINUTE - 1), None, "minute 1 has not ended");
        assert_eq!(s.pop_ended(2 * MINUTE), Some((1, vec![1, 2])));
        assert_eq!(s.pop_ended(2 * MINUTE), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s.pop_ended(10 * MINUTE), Some((3, vec![3])));
        assert!(s.is_empty());
    }
}
