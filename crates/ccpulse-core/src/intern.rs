//! Interning of names (queues, agents, teams, segments) to small ids.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_128;

use crate::agg::NameId;

/// A table of names, each given a dense id on first sight.
///
/// Names are looked up by their 128-bit xxh3 hash, as contact and event ids are: a
/// collision among a million names has probability ~10^-27. Comparing the name itself
/// meant reading it from its own allocation, a cache miss for most of an agent event's
/// four names (measured with `callgrind`: `memcmp` had the most last-level misses of
/// the engine).
#[derive(Debug, Clone, Default)]
pub struct Interner {
    ids: FxHashMap<u128, NameId>,
    names: Vec<Arc<str>>,
}

impl Interner {
    /// The id of `name`, added if new.
    pub fn intern(&mut self, name: &str) -> NameId {
        self.intern_keyed(Interner::key(name), name)
    }

    /// The key names are looked up by: their 128-bit xxh3 hash.
    pub fn key(name: &str) -> u128 {
        xxh3_128(name.as_bytes())
    }

    /// The id of `name`, whose [`Interner::key`] is `key`, added if new: `name` is read
    /// only then (the key may have been computed where its bytes were in the cache).
    pub fn intern_keyed(&mut self, key: u128, name: &str) -> NameId {
        let names = &mut self.names;
        *self.ids.entry(key).or_insert_with(|| {
            names.push(Arc::from(name));
            (names.len() - 1) as NameId
        })
    }

    /// The name of `id`.
    pub fn name(&self, id: NameId) -> &Arc<str> {
        &self.names[id as usize]
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_id_and_back() {
        let mut names = Interner::default();
        let billing = names.intern("billing");
        let tech = names.intern("tech");
        assert_ne!(billing, tech);
        assert_eq!(names.intern("billing"), billing);
        assert_eq!(names.intern(""), 2);
        assert_eq!(names.name(tech).as_ref(), "tech");
        assert_eq!(names.len(), 3);
    }
}
