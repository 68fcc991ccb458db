//! Duration histograms: hdrhistogram's bucketing, held sparsely.
//!
//! A slice of a sliding window sees a few dozen waits; a dense hdrhistogram per slice
//! would cost tens of kilobytes each. So a [`SparseHist`] keeps `(bucket, count)` pairs,
//! the bucket being hdrhistogram's lowest equivalent value at 3 significant digits
//! (relative error ≤ 0.1 %, and exact below 2048 ms): in a sorted vector while they are
//! few, in pages of counts by bucket position once they are many (a queue's day).
//! Its size is bounded by the number of buckets, not by traffic, and it supports
//! removal, which retraction of out-of-order facts needs and hdrhistogram does not offer.

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

/// The bucket key of a duration: hdrhistogram's lowest equivalent value, computed from
/// its position (a property test checks it against hdrhistogram's own).
pub fn bucket_of(ms: Millis) -> u64 {
    key_of(position_of(ms))
}

/// The position of a duration's bucket, clamped to what is tracked.
fn position_of(ms: Millis) -> usize {
    index_of(ms.clamp(0, MAX_TRACKED) as u64)
}

/// hdrhistogram's position of a bucket key, or of any value in the bucket (at 3
/// significant digits from 1: 2048 sub-buckets, then each bucket the upper 1024 of
/// twice the width), from 0 to about 22 700 for [`MAX_TRACKED`]. A property test checks
/// it against hdrhistogram.
fn index_of(key: u64) -> usize {
    let bucket = 53 - (key | 2047).leading_zeros();
    ((bucket as usize) << 10) + (key >> bucket) as usize
}

/// The bucket key at an [`index_of`] position.
fn key_of(index: usize) -> u64 {
    if index < 2048 {
        return index as u64;
    }
    let bucket = (index >> 10) - 1;
    (((index & 1023) + 1024) as u64) << bucket
}

/// Past this many buckets a histogram moves from a sorted vector to pages of counts. A
/// slice holds a few dozen buckets, where a vector is the smallest and fastest; but a
/// queue's day gathers thousands, and inserting into the middle of a vector that size
/// moved about a kilobyte per event on average (measured on the benchmark stream: 12 M
/// bucket pairs shifted per 200 000 events).
///
/// In between sits an agent's day of handle times: a hundred or so contacts, nearly each
/// in a bucket of its own and a page of its own, spread over the minutes. In pages that
/// is about 40 KB; as pairs, under 2 KB. At 64, histogram pages were 71 MB of the
/// realistic day's 220 MB heap peak (`massif`); at 256 the replay's peak resident memory
/// fell by 56 MB and its page faults by a fifth, for the same instructions
/// (BENCHMARKS.md). A vector of 256 pairs moves at most 4 KB per insertion.
const VEC_MAX: usize = 256;

/// Counts per page of [`Paged`].
const PAGE: usize = 64;

/// Counts by bucket position, in pages of 64 allocated on first use: adding to a bucket
/// costs an index computation and one page, whatever the number of buckets. About 360
/// pages cover every position; a queue's day of waits or handle times touches a few dozen.
#[derive(Clone, Debug, Default)]
struct Paged {
    pages: Vec<Option<Box<[i64; PAGE]>>>,
    /// Buckets with a nonzero count.
    len: usize,
}

impl Paged {
    fn add(&mut self, key: u64, n: i64) {
        self.add_at(index_of(key), n);
    }

    fn add_at(&mut self, index: usize, n: i64) {
        let p = index / PAGE;
        if self.pages.len() <= p {
            self.pages.resize_with(p + 1, || None);
        }
        let Some(slot) = self.pages.get_mut(p) else {
            return;
        };
        let count = &mut slot.get_or_insert_with(|| Box::new([0; PAGE]))[index % PAGE];
        let before = *count;
        *count += n;
        if before == 0 && *count != 0 {
            self.len += 1;
        } else if before != 0 && *count == 0 {
            self.len -= 1;
        }
    }
}

#[derive(Clone, Debug)]
enum Buckets {
    /// Sorted by bucket key.
    Few(Vec<(u64, i64)>),
    /// Past [`VEC_MAX`] buckets.
    Many(Paged),
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets::Few(Vec::new())
    }
}

/// A histogram of durations as `(bucket, count)` pairs in bucket order; no count is zero.
#[derive(Clone, Debug, Default)]
pub struct SparseHist {
    buckets: Buckets,
}

/// Serialised as its `(bucket, count)` pairs in bucket order, however it is stored.
impl serde::Serialize for SparseHist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        // The length first: compact formats need it (`len` counts the nonzero buckets
        // the iterator yields).
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for pair in self.iter() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

/// Read back from `(bucket, count)` pairs; a pair whose bucket is not a bucket key (a
/// corrupt or hostile record) is counted in the bucket of that duration.
impl<'de> serde::Deserialize<'de> for SparseHist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = SparseHist;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence of (bucket, count) pairs")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<SparseHist, A::Error> {
                let mut h = SparseHist::default();
                while let Some((bucket, count)) = seq.next_element::<(u64, i64)>()? {
                    h.record(bucket.min(MAX_TRACKED as u64) as Millis, count);
                }
                Ok(h)
            }
        }
        d.deserialize_seq(Pairs)
    }
}

/// Equal when they hold the same counts, however they are stored.
impl PartialEq for SparseHist {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for SparseHist {}

/// The `(bucket, count)` pairs of a [`SparseHist`], in bucket order.
enum Iter<'a> {
    Few(std::slice::Iter<'a, (u64, i64)>),
    /// The pages, and the next position to look at.
    Many(&'a [Option<Box<[i64; PAGE]>>], usize),
}

impl Iterator for Iter<'_> {
    type Item = (u64, i64);

    fn next(&mut self) -> Option<(u64, i64)> {
        match self {
            Iter::Few(it) => it.next().copied(),
            Iter::Many(pages, at) => {
                while let Some(slot) = pages.get(*at / PAGE) {
                    let Some(page) = slot else {
                        *at = (*at / PAGE + 1) * PAGE;
                        continue;
                    };
                    let index = *at;
                    *at += 1;
                    if let Some(&c) = page.get(index % PAGE).filter(|&&c| c != 0) {
                        return Some((key_of(index), c));
                    }
                }
                None
            }
        }
    }
}

impl SparseHist {
    /// Adds `n` (may be negative) observations of duration `ms`.
    pub fn record(&mut self, ms: Millis, n: i64) {
        // The position serves both storages: pages are indexed by it, and a vector is
        // sorted by the key at it.
        let index = position_of(ms);
        match &mut self.buckets {
            Buckets::Many(m) => m.add_at(index, n),
            Buckets::Few(_) => self.add_bucket(key_of(index), n),
        }
    }

    fn iter(&self) -> Iter<'_> {
        match &self.buckets {
            Buckets::Few(v) => Iter::Few(v.iter()),
            Buckets::Many(m) => Iter::Many(&m.pages, 0),
        }
    }

    fn add_bucket(&mut self, key: u64, n: i64) {
        match &mut self.buckets {
            Buckets::Few(v) => match v.binary_search_by_key(&key, |&(k, _)| k) {
                Ok(i) => {
                    v[i].1 += n;
                    if v[i].1 == 0 {
                        v.remove(i);
                    }
                }
                Err(_) if n == 0 => {}
                Err(i) if v.len() < VEC_MAX => v.insert(i, (key, n)),
                Err(_) => {
                    let mut many = Paged::default();
                    for &(k, c) in v.iter() {
                        many.add(k, c);
                    }
                    many.add(key, n);
                    self.buckets = Buckets::Many(many);
                }
            },
            Buckets::Many(m) => m.add(key, n),
        }
    }

    /// Adds every observation of `other`, times `sign`. Into a vector this is one linear
    /// merge, whatever the size of the result: the folds of a snapshot build their
    /// sums this way, and stay vectors (pages are only for histograms that grow one
    /// observation at a time).
    pub fn merge(&mut self, other: &SparseHist, sign: i64) {
        let a = match &mut self.buckets {
            Buckets::Many(_) => {
                for (key, c) in other.iter() {
                    self.add_bucket(key, sign * c);
                }
                return;
            }
            Buckets::Few(a) => a,
        };
        if other.is_empty() {
            return;
        }
        if a.is_empty() && sign == 1 {
            if let Buckets::Few(b) = &other.buckets {
                a.clone_from(b);
                return;
            }
        }
        let mut out = Vec::with_capacity(a.len() + other.len());
        let mut i = 0;
        let mut b = other.iter().peekable();
        loop {
            let next = match (a.get(i), b.peek()) {
                (Some(&(ka, ca)), Some(&(kb, cb))) if ka == kb => {
                    i += 1;
                    b.next();
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
                    b.next();
                    (kb, sign * cb)
                }
                (None, None) => break,
            };
            if next.1 != 0 {
                out.push(next);
            }
        }
        *a = out;
    }

    /// Number of observations.
    pub fn count(&self) -> i64 {
        self.iter().map(|(_, c)| c).sum()
    }

    /// Empties the histogram, keeping a small one's capacity for reuse.
    pub fn clear(&mut self) {
        match &mut self.buckets {
            Buckets::Few(v) => v.clear(),
            Buckets::Many(_) => self.buckets = Buckets::default(),
        }
    }

    /// Whether it holds no observation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of distinct buckets held (for memory accounting).
    pub fn len(&self) -> usize {
        match &self.buckets {
            Buckets::Few(v) => v.len(),
            Buckets::Many(m) => m.len,
        }
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
        let mut last = None;
        for (key, c) in self.iter() {
            seen += c;
            last = Some(key);
            if seen >= rank {
                break;
            }
        }
        last.map(|k| reference().highest_equivalent(k) as Millis)
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

    proptest::proptest! {
        /// Whatever their storage (a vector up to `VEC_MAX` buckets, pages past it),
        /// histograms hold exactly the counts of a naive map, and equal counts compare
        /// equal however they were built.
        #[test]
        fn small_and_large_agree_with_a_naive_map(
            ops in proptest::collection::vec((0i64..1000, -2i64..=3, proptest::bool::ANY), 0..1200),
        ) {
            use std::collections::BTreeMap;
            let (mut a, mut b) = (SparseHist::default(), SparseHist::default());
            let mut naive: BTreeMap<u64, i64> = BTreeMap::new();
            for &(v, n, to_a) in &ops {
                let ms = v * 37;
                if to_a { a.record(ms, n) } else { b.record(ms, n) }
                *naive.entry(bucket_of(ms)).or_default() += n;
            }
            naive.retain(|_, c| *c != 0);
            let mut merged = a.clone();
            merged.merge(&b, 1);
            proptest::prop_assert!(merged.iter().eq(naive.iter().map(|(&k, &c)| (k, c))));
            proptest::prop_assert_eq!(merged.len(), naive.len());
            // Rebuilt one bucket at a time, so a vector where `merged` may be a tree.
            let mut rebuilt = SparseHist::default();
            for (&k, &c) in naive.iter().rev() {
                rebuilt.add_bucket(k, c);
            }
            proptest::prop_assert_eq!(&rebuilt, &merged);
            merged.merge(&b, -1);
            proptest::prop_assert_eq!(&merged, &a);
            for q in [0.5, 0.9, 0.99] {
                proptest::prop_assert_eq!(merged.quantile(q), a.quantile(q));
            }
        }
    }

    proptest::proptest! {
        /// The page position of a duration's bucket is hdrhistogram's: the key at that
        /// position is the bucket key, and every duration in a bucket has its position.
        #[test]
        fn positions_are_hdrhistograms(ms in 0..MAX_TRACKED) {
            let key = bucket_of(ms);
            proptest::prop_assert_eq!(key, reference().lowest_equivalent(ms as u64));
            proptest::prop_assert_eq!(key_of(index_of(key)), key);
            proptest::prop_assert_eq!(index_of(ms as u64), index_of(key));
            proptest::prop_assert!(index_of(key) < index_of(bucket_of(MAX_TRACKED)) + 1);
        }
    }

    #[test]
    fn positions_are_dense_and_ordered() {
        assert_eq!(bucket_of(-5), 0, "clamped to what is tracked");
        assert_eq!(bucket_of(2 * MAX_TRACKED), bucket_of(MAX_TRACKED));
        let last = index_of(bucket_of(MAX_TRACKED));
        for i in 1..=last {
            assert!(key_of(i) > key_of(i - 1), "{i}");
            assert_eq!(index_of(key_of(i)), i);
            assert_eq!(bucket_of(key_of(i) as Millis), key_of(i));
        }
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
