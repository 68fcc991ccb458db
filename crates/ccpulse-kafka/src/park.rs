//! Parked engines: the state of a revoked partition, kept for a grace period in case
//! the partition comes back (a broker hiccup, a rebalance that gives it back), so that
//! it resumes where it stopped instead of replaying the whole recovery horizon.

use std::collections::BTreeMap;

use ccpulse_core::time::Millis;
use ccpulse_core::Engine;
use rdkafka::Offset;

/// Where one topic of a partition stands: the first message not yet applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The offset of the first message not yet applied; `None` when none was, and the
    /// topic resumes where its replay started.
    pub next: Option<i64>,
    /// Where the topic's replay started.
    pub start: Offset,
    /// Dead letters below this offset were written by an earlier run or before the
    /// partition was parked (the committed offset when it was assigned).
    pub dlq_floor: i64,
}

/// Start offsets of a replay, per (topic, partition).
pub type Starts = BTreeMap<(String, i32), Offset>;

impl Position {
    /// The position of topic `topic`'s partition `p` before its replay: nothing applied,
    /// starting at its offset in `starts` (else the beginning), dead letters from
    /// `dlq_floor` on.
    pub fn replay(topic: &str, p: i32, starts: &Starts, dlq_floor: i64) -> Self {
        Position {
            next: None,
            start: starts.get(&(topic.to_owned(), p)).copied().unwrap_or(Offset::Beginning),
            dlq_floor,
        }
    }

    /// Where reading resumes.
    pub fn resume_at(&self) -> Offset {
        self.next.map_or(self.start, Offset::Offset)
    }
}

/// A revoked partition's engine and positions.
#[derive(Debug)]
pub struct Parked {
    /// The engine, as it stopped.
    pub engine: Engine,
    /// Per topic.
    pub positions: BTreeMap<String, Position>,
    /// Wall-clock time it was parked.
    pub parked_at: Millis,
}

/// The parked partitions of this instance.
#[derive(Debug, Default)]
pub struct Lot {
    parked: BTreeMap<i32, Parked>,
}

impl Lot {
    /// Parks a partition's state.
    pub fn park(&mut self, partition: i32, parked: Parked) {
        self.parked.insert(partition, parked);
    }

    /// Takes a partition's parked state, if any.
    pub fn take(&mut self, partition: i32) -> Option<Parked> {
        self.parked.remove(&partition)
    }

    /// Drops what was parked before `before` (the grace period is over); returns the
    /// partitions dropped.
    pub fn expire(&mut self, before: Millis) -> Vec<i32> {
        let old: Vec<i32> = self
            .parked
            .iter()
            .filter(|(_, p)| p.parked_at < before)
            .map(|(&k, _)| k)
            .collect();
        for k in &old {
            self.parked.remove(k);
        }
        old
    }

    /// The parked partitions.
    pub fn partitions(&self) -> impl Iterator<Item = i32> + '_ {
        self.parked.keys().copied()
    }

    /// Every parked partition, taken out (for a shutdown).
    pub fn drain(&mut self) -> BTreeMap<i32, Parked> {
        std::mem::take(&mut self.parked)
    }
}
