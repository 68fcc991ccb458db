//! Duration histograms: hdrhistogram's bucketing, held sparsely.
//!
//! A slice of a sliding window sees a few dozen waits; a dense hdrhistogram per slice
//! would cost tens of kilobytes each. So a [`SparseHist`] keeps `(bucket, count)` pairs,
//! the bucket being hdrhistogram's lowest equivalent value at 3 significant digits
//! (relative error ≤ 0.1 %, and exact below 2048 ms). Its size is bounded by the number
//! of buckets, not by traffic, and it supports removal, which retraction of
//! out-of-order facts needs and hdrhistogram does not offer.

use std::sync::OnceLock;

use hdrhistogram::Histogram;

use crate::time::{Millis, DAY};

/// Largest duration tracked; longer ones are clamped to it.
pub const MAX_TRACKED: Millis = 30 * DAY;

fn reference() -> &'static Histogram<u64> {
    static REF: OnceLock<Histogram<u64>> = OnceLock::new();
    REF.get_or_init(|| match Histogram::new_with_bounds(1, MAX_TRACKED as u64, 3) {
        Ok(h) => h,
        Err(e) => unreachable!("constant histogram bounds rejected: {e:?}"),
    })
}

/// The bucket key of a duration: hdrhistogram's lowest equivalent value.
pub fn bucket_of(ms: Millis) -> u64 {
    reference().lowest_equivalent(ms.clamp(0, MAX_TRACKED) as u64)
}

/// A histogram of durations as sorted `(bucket, count)` pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseHist {
    buckets: Vec<(u64, i64)>,
}

impl SparseHist {
    /// Adds `n` (may be negative) observations of duration `ms`.
    pub fn record(&mut self, ms: Millis, n: i64) {
        self.add_bucket(bucket_of(ms), n);
    }

    fn add_bucket(&mut self, key: u64, n: i64) {
        match self.buckets.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(i) => {
                self.buckets[i].1 += n;
                if self.buckets[i].1 == 0 {
                    self.buckets.remove(i);
                }
            }
            Err(i) => {
                if n != 0 {
                    self.buckets.insert(i, (key, n));
                }
            }
        }
    }

    /// Adds every observation of `other`, times `sign`.
    pub fn merge(&mut self, other: &SparseHist, sign: i64) {
        if other.buckets.is_empty() {
            return;
        }
        if self.buckets.is_empty() && sign == 1 {
            self.buckets.clone_from(&other.buckets);
            return;
        }
        let mut out = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.buckets, &other.buckets);
        while i < a.len() || j < b.len() {
            let next = match (a.get(i), b.get(j)) {
                (Some(&(ka, ca)), Some(&(kb, cb))) if ka == kb => {
                    i += 1;
                    j += 1;
                    (ka, ca + sign * cb)
                }
                (Some(&(ka, ca)), Some(&(kb, _))) if ka < kb => {
                    i += 1;
                    (ka, ca)
                }
                (Some(&x), None) => {
                    i += 1;
                    x
                }
                (_, Some(&(kb, cb))) => {
                    j += 1;
                    (kb, sign * cb)
                }
                (None, None) => break,
            };
            if next.1 != 0 {
                out.push(next);
            }
        }
        self.buckets = out;
    }

    /// Number of observations.
    pub fn count(&self) -> i64 {
        self.buckets.iter().map(|&(_, c)| c).sum()
    }

    /// Empties the histogram, keeping its capacity.
    pub fn clear(&mut self) {
        self.buckets.clear();
    }

    /// Whether it holds no observation.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Number of distinct buckets held (for memory accounting).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// The value at quantile `q` (0..1), by nearest rank as hdrhistogram's
    /// `value_at_quantile` does it: the smallest bucket whose cumulative count reaches
    /// ⌈q·n⌉, reported as that bucket's highest equivalent value. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Millis> {
        let n = self.count();
        if n <= 0 {
            return None;
        }
        let rank = ((q * n as f64) - 1e-9).ceil().max(1.0) as i64;
        let mut seen = 0;
        for &(key, c) in &self.buckets {
            seen += c;
            if seen >= rank {
                return Some(reference().highest_equivalent(key) as Millis);
            }
        }
        self.buckets
            .last()
            .map(|&(k, _)| reference().highest_equivalent(k) as Millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_2048ms_and_within_a_thousandth_above() {
        for v in [0, 1, 14, 999, 2047] {
            let mut h = SparseHist::default();
            h.record(v, 1);
            assert_eq!(h.quantile(0.5), Some(v));
        }
        for v in [2048, 14_000, 97_500, 3_600_000, 86_400_000] {
            let mut h = SparseHist::default();
            h.record(v, 1);
            let got = h.quantile(0.99).unwrap() as f64;
            assert!((got - v as f64).abs() / v as f64 <= 0.001, "{v} -> {got}");
        }
    }

    #[test]
    fn nearest_rank() {
        let mut h = SparseHist::default();
        for v in 1..=100 {
            h.record(v * 10, 1);
        }
        assert_eq!(h.quantile(0.5), Some(500));
        assert_eq!(h.quantile(0.9), Some(900));
        assert_eq!(h.quantile(0.99), Some(990));
        assert_eq!(h.quantile(1.0), Some(1000));
        let mut two = SparseHist::default();
        two.record(10, 1);
        two.record(100, 1);
        assert_eq!(two.quantile(0.5), Some(10));
        assert_eq!(two.quantile(0.51), Some(100));
    }

    #[test]
    fn removal_and_merge() {
        let mut a = SparseHist::default();
        a.record(5, 2);
        a.record(7, 1);
        let mut b = SparseHist::default();
        b.record(7, 1);
        b.record(9, 3);
        a.merge(&b, 1);
        assert_eq!(a.count(), 7);
        a.merge(&b, -1);
        assert_eq!(a.count(), 3);
        a.record(5, -2);
        a.record(7, -1);
        assert!(a.is_empty());
        assert_eq!(a.quantile(0.5), None);
    }
}
