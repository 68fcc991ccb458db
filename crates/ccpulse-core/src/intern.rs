//! Interning of names (queues, agents, teams, segments) to small ids.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::agg::NameId;

/// A table of names, each given a dense id on first sight.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    ids: FxHashMap<Arc<str>, NameId>,
    names: Vec<Arc<str>>,
}

impl Interner {
    /// The id of `name`, added if new.
    pub fn intern(&mut self, name: &str) -> NameId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as NameId;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
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
