//! Repeat-contact detection for first-contact resolution.
//!
//! Per customer, the offers of the FCR horizon with their topic. A contact is a repeat
//! when an earlier contact (strictly earlier `ts`) of the same customer with the same
//! topic (an absent topic matches an absent topic) was offered less than the horizon
//! before it. Verdicts can only turn from "first" to "repeat", when an earlier contact
//! arrives late; the index reports which contacts changed so the engine re-derives them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU64;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::time::Millis;

/// One offer: 32 bytes (the contact key as two halves, so that it needs no 16-byte
/// alignment, and the topic's 0 standing for "no topic").
#[derive(Debug, Clone, Copy)]
struct Offer {
    ts: Millis,
    topic: u64,
    contact: [u64; 2],
    repeat: bool,
}

/// A contact key as [`Offer`] holds it.
fn halves(key: u128) -> [u64; 2] {
    [(key >> 64) as u64, key as u64]
}

/// A contact key from its [`halves`].
fn whole([high, low]: [u64; 2]) -> u128 {
    u128::from(high) << 64 | u128::from(low)
}

/// A customer's offers: nearly always one within the horizon, held in the map's entry,
/// not in an allocation of its own (which was one allocation per customer).
type Offers = SmallVec<[Offer; 1]>;

/// The most offers kept per customer: one customer's offers are compared at each of its
/// offers, so an unbounded number (a producer that names one customer for every
/// contact) would make each offer cost more than the last. The oldest goes first; a
/// real customer has a handful within the horizon.
pub const MAX_OFFERS_PER_CUSTOMER: usize = 256;

/// The customer index.
#[derive(Debug, Clone, Default)]
pub struct CustomerIndex {
    customers: FxHashMap<u64, Offers>,
    /// Customers by the time of their offers (a min-heap), for eviction in
    /// O(evicted · log n).
    order: BinaryHeap<Reverse<(Millis, u64)>>,
    offers: usize,
}

impl CustomerIndex {
    /// Records the first offer of `contact` and returns its verdict, plus every other
    /// contact whose verdict turned to "repeat" because of it.
    pub fn offer(
        &mut self,
        customer: u64,
        contact: u128,
        ts: Millis,
        topic: Option<NonZeroU64>,
        horizon: Millis,
    ) -> (bool, Vec<u128>) {
        let offers = self.customers.entry(customer).or_default();
        let (contact, topic) = (halves(contact), topic.map_or(0, NonZeroU64::get));
        if let Some(o) = offers.iter().find(|o| o.contact == contact) {
            return (o.repeat, Vec::new());
        }
        let repeats = |o: &Offer, earlier: Millis| earlier < o.ts && o.ts - earlier < horizon;
        let me = Offer {
            ts,
            topic,
            contact,
            repeat: false,
        };
        let repeat = offers.iter().any(|o| o.topic == topic && repeats(&me, o.ts));
        let mut changed = Vec::new();
        for o in offers.iter_mut() {
            if !o.repeat && o.topic == topic && repeats(o, ts) {
                o.repeat = true;
                changed.push(whole(o.contact));
            }
        }
        if offers.len() >= MAX_OFFERS_PER_CUSTOMER {
            offers.remove(0);
            self.offers -= 1;
        }
        let pos = offers.partition_point(|o| o.ts <= ts);
        offers.insert(pos, Offer { repeat, ..me });
        self.offers += 1;
        self.order.push(Reverse((ts, customer)));
        (repeat, changed)
    }

    /// Forgets offers older than `before`, at the cost of what it evicts.
    pub fn evict_before(&mut self, before: Millis) {
        while let Some(&Reverse((ts, customer))) = self.order.peek() {
            if ts >= before {
                break;
            }
            self.order.pop();
            if let Some(offers) = self.customers.get_mut(&customer) {
                let old = offers.partition_point(|o| o.ts < before);
                offers.drain(..old);
                self.offers -= old;
                if offers.is_empty() {
                    self.customers.remove(&customer);
                }
            }
        }
    }

    /// Number of offers held.
    pub fn len(&self) -> usize {
        self.offers
    }

    /// Whether no offer is held.
    pub fn is_empty(&self) -> bool {
        self.offers == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Millis = 1000;

    fn t(topic: u64) -> Option<NonZeroU64> {
        NonZeroU64::new(topic)
    }

    #[test]
    fn same_topic_within_horizon_is_a_repeat() {
        let mut idx = CustomerIndex::default();
        assert_eq!(idx.offer(1, 10, 100, t(7), H), (false, vec![]));
        assert_eq!(idx.offer(1, 11, 500, t(8), H), (false, vec![]), "other topic");
        assert_eq!(idx.offer(1, 12, 600, t(7), H), (true, vec![]));
        assert_eq!(idx.offer(1, 13, 1100, t(7), H), (true, vec![]), "600 is < 1000 before");
        assert_eq!(idx.offer(2, 14, 600, t(7), H), (false, vec![]), "other customer");
        assert_eq!(idx.offer(3, 15, 0, None, H), (false, vec![]));
        assert_eq!(
            idx.offer(3, 16, 1000, None, H),
            (false, vec![]),
            "exactly the horizon is not less"
        );
        assert_eq!(idx.offer(3, 17, 1500, None, H), (true, vec![]), "absent topics match");
    }

    #[test]
    fn a_late_earlier_contact_turns_later_ones_into_repeats() {
        let mut idx = CustomerIndex::default();
        assert_eq!(idx.offer(1, 20, 500, t(1), H), (false, vec![]));
        assert_eq!(idx.offer(1, 21, 100, t(1), H), (false, vec![20]));
        assert_eq!(
            idx.offer(1, 22, 100, t(1), H),
            (false, vec![]),
            "same ts is not earlier"
        );
        idx.evict_before(200);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn a_customer_holds_a_bounded_number_of_offers() {
        let mut idx = CustomerIndex::default();
        let n = MAX_OFFERS_PER_CUSTOMER as u128 * 3;
        for c in 0..n {
            idx.offer(9, c, c as Millis, t(c as u64 % 5 + 1), Millis::MAX);
        }
        assert_eq!(idx.len(), MAX_OFFERS_PER_CUSTOMER);
        assert!(
            idx.offer(9, n, n as Millis, t(1), Millis::MAX).0,
            "a recent offer of the topic is still held"
        );
        idx.evict_before(Millis::MAX);
        assert!(idx.is_empty());
    }
}
