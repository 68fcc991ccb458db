//! Duplicate detection by event id over a bounded horizon.
//!
//! Ids are kept as 128-bit xxh3 hashes (a collision among 10^9 ids has probability
//! ~10^-21) in two generations that rotate every `horizon` of watermark progress. An
//! event whose `ts` is within `horizon` of the watermark was, if seen before, inserted
//! at most `horizon` ago, so it is in one of the two generations: memory holds at most
//! two horizons of ids, whatever the traffic.

use rustc_hash::FxHashSet;
use xxhash_rust::xxh3::xxh3_128;

use crate::time::Millis;

/// What the dedupe filter says of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: apply it.
    New,
    /// Its id was seen before: drop it.
    Duplicate,
    /// Older than the horizon: it cannot be checked.
    TooOld,
}

/// The dedupe filter.
#[derive(Debug, Clone)]
pub struct Dedupe {
    horizon: Millis,
    current: FxHashSet<u128>,
    previous: FxHashSet<u128>,
    /// Ids known to occur once in the whole stream ([`Dedupe::check_unique`]), counted
    /// in the current and the previous generation instead of held.
    unique: (usize, usize),
    rotated_at: Option<Millis>,
}

impl Dedupe {
    /// A filter that recognises duplicates of events up to `horizon` behind the watermark.
    pub fn new(horizon: Millis) -> Self {
        Dedupe {
            horizon,
            current: FxHashSet::default(),
            previous: FxHashSet::default(),
            unique: (0, 0),
            rotated_at: None,
        }
    }

    /// The key of an event id: its 128-bit xxh3 hash.
    pub fn key(id: &str) -> u128 {
        Self::key_of_bytes(id.as_bytes())
    }

    /// [`Dedupe::key`] of an id given as its bytes.
    pub fn key_of_bytes(id: &[u8]) -> u128 {
        xxh3_128(id)
    }

    /// Checks and records the id (by its [`Dedupe::key`]) of an event at `ts`, the
    /// watermark being `watermark` (the newest event time, this event included).
    pub fn check(&mut self, key: u128, ts: Millis, watermark: Millis) -> Seen {
        if self.rotate_and_too_old(ts, watermark) {
            return Seen::TooOld;
        }
        if self.previous.contains(&key) || !self.current.insert(key) {
            return Seen::Duplicate;
        }
        Seen::New
    }

    /// [`Dedupe::check`] of an id that no other event of the stream has, known from a
    /// reading of the whole stream: it cannot be a duplicate, and nothing will look it
    /// up, so it is counted in its generation (for [`Dedupe::len`]) but not held.
    pub fn check_unique(&mut self, ts: Millis, watermark: Millis) -> Seen {
        if self.rotate_and_too_old(ts, watermark) {
            return Seen::TooOld;
        }
        self.unique.0 += 1;
        Seen::New
    }

    /// Starts a new generation when the watermark has moved a horizon since the last
    /// one began; whether an event at `ts` is older than the horizon.
    fn rotate_and_too_old(&mut self, ts: Millis, watermark: Millis) -> bool {
        let rotated_at = *self.rotated_at.get_or_insert(watermark);
        if watermark - rotated_at >= self.horizon {
            // The old generation's table is cleared and reused, not freed and regrown.
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.clear();
            // The next generation will hold about as many ids as the last one: room for
            // them at once, not in steps that each move every id.
            self.current.reserve(self.previous.len());
            self.unique = (0, self.unique.0);
            self.rotated_at = Some(watermark);
        }
        ts < watermark - self.horizon
    }

    /// Number of ids held (those only counted by [`Dedupe::check_unique`] included).
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len() + self.unique.0 + self.unique.1
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_the_horizon_and_forgets_after_two() {
        let mut d = Dedupe::new(100);
        assert_eq!(d.check(Dedupe::key("a"), 0, 0), Seen::New);
        assert_eq!(d.check(Dedupe::key("a"), 0, 50), Seen::Duplicate);
        assert_eq!(d.check(Dedupe::key("b"), 60, 60), Seen::New);
        assert_eq!(
            d.check(Dedupe::key("a"), 0, 100),
            Seen::Duplicate,
            "rotated, still in previous"
        );
        assert_eq!(d.check(Dedupe::key("c"), 10, 120), Seen::TooOld);
        assert_eq!(d.check(Dedupe::key("b"), 60, 150), Seen::Duplicate);
        assert_eq!(d.check(Dedupe::key("z"), 200, 200), Seen::New);
        assert!(d.len() <= 3, "the first generation is gone: {}", d.len());
    }

    #[test]
    fn unique_ids_are_counted_in_their_generation_as_held_ones_are() {
        let (mut held, mut counted) = (Dedupe::new(100), Dedupe::new(100));
        // (id, ts, watermark): ids that occur once, across three generations.
        let stream = [
            ("a", 0, 0),
            ("b", 40, 40),
            ("c", 10, 120),
            ("d", 130, 130),
            ("e", 150, 150),
            ("f", 240, 240),
        ];
        for (id, ts, wm) in stream {
            let seen = held.check(Dedupe::key(id), ts, wm);
            assert_eq!(counted.check_unique(ts, wm), seen, "{id}");
            assert_eq!(counted.len(), held.len(), "after {id}");
        }
        assert_eq!(counted.check_unique(100, 240), Seen::TooOld);
        assert_eq!(counted.len(), 3, "d, e and f: the generation of a and b is gone");
        // Ids that occur more than once still go through the tables, beside them.
        assert_eq!(counted.check(Dedupe::key("g"), 240, 240), Seen::New);
        assert_eq!(counted.check(Dedupe::key("g"), 240, 240), Seen::Duplicate);
        assert_eq!(counted.len(), 4);
    }
}
