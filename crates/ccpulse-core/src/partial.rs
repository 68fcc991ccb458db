//! What one engine yields at a tick: its share of every window, its live contacts and
//! agents, and its counters. Partials of different partitions merge by addition.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::agent::StateTimes;
use crate::agg::{AgentAgg, Aggregate, QueueAgg};
use crate::event::{AgentState, Channel};
use crate::time::Millis;

/// A leaf group by name, comparable across engines.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// Queue.
    pub queue: Option<Arc<str>>,
    /// Channel.
    pub channel: Option<Channel>,
    /// SLA policy index.
    pub policy: Option<u16>,
}

/// An agent's share of a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentWindow {
    /// Handled contacts and surveys.
    pub agg: AgentAgg,
    /// Time in each state within the window.
    pub time_in: StateTimes,
}

/// One window's share.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowPartial {
    /// `5m`, `15m`, `1h`, `today`.
    pub name: String,
    /// Start (inclusive).
    pub from: Millis,
    /// End (exclusive).
    pub to: Millis,
    /// Per leaf group.
    pub leaves: BTreeMap<GroupKey, QueueAgg>,
    /// Per agent.
    pub agents: BTreeMap<Arc<str>, AgentWindow>,
}

/// Contacts waiting now in one leaf group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveLeaf {
    /// How many wait.
    pub waiting: i64,
    /// Offer time of the longest-waiting one.
    pub oldest_since: Option<Millis>,
    /// How many already waited longer than their SLA threshold.
    pub at_risk: i64,
}

/// An agent's live state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentLive {
    /// Current state.
    pub state: AgentState,
    /// Since when.
    pub since: Millis,
    /// Team.
    pub team: Option<Arc<str>>,
    /// Queues served.
    pub queues: Vec<Arc<str>>,
}

/// Engine counters, summed over partitions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events applied.
    pub applied: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Events older than the dedupe horizon, dropped.
    pub too_old: u64,
    /// Events later than the allowed lateness (still applied).
    pub late: u64,
    /// Contact events for a contact already finished and forgotten, ignored.
    pub after_close: u64,
    /// Unfinished contacts evicted after their timeout.
    pub evicted_open: u64,
    /// Contacts held in full now.
    pub open_contacts: u64,
    /// Finished contacts remembered for survey attribution.
    pub closed_contacts: u64,
    /// FCR offers held.
    pub customer_offers: u64,
    /// Event ids held for dedupe.
    pub dedupe_ids: u64,
    /// Leaf groups held.
    pub leaves: u64,
    /// Agents held.
    pub agents: u64,
    /// Slices allocated.
    pub slices: u64,
    /// Newest event time seen.
    pub watermark: Option<Millis>,
}

impl EngineStats {
    /// Adds another engine's counters.
    pub fn merge(&mut self, o: &EngineStats) {
        self.applied += o.applied;
        self.duplicates += o.duplicates;
        self.too_old += o.too_old;
        self.late += o.late;
        self.after_close += o.after_close;
        self.evicted_open += o.evicted_open;
        self.open_contacts += o.open_contacts;
        self.closed_contacts += o.closed_contacts;
        self.customer_offers += o.customer_offers;
        self.dedupe_ids += o.dedupe_ids;
        self.leaves += o.leaves;
        self.agents += o.agents;
        self.slices += o.slices;
        self.watermark = self.watermark.max(o.watermark);
    }
}

/// One engine's contribution to a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    /// The "now" it was computed for.
    pub now: Millis,
    /// The windows, in configuration order, `today` last.
    pub windows: Vec<WindowPartial>,
    /// Waiting contacts per leaf group.
    pub live: BTreeMap<GroupKey, LiveLeaf>,
    /// Agents' live states.
    pub agents: BTreeMap<Arc<str>, AgentLive>,
    /// Counters.
    pub stats: EngineStats,
}

impl Partial {
    /// An empty partial for `now` with the given windows (name, from, to).
    pub fn empty(now: Millis, windows: &[(String, Millis, Millis)]) -> Self {
        Partial {
            now,
            windows: windows
                .iter()
                .map(|(name, from, to)| WindowPartial {
                    name: name.clone(),
                    from: *from,
                    to: *to,
                    leaves: BTreeMap::new(),
                    agents: BTreeMap::new(),
                })
                .collect(),
            live: BTreeMap::new(),
            agents: BTreeMap::new(),
            stats: EngineStats::default(),
        }
    }

    /// Adds another engine's partial, computed for the same `now`.
    pub fn merge(&mut self, other: Partial) {
        for (mine, theirs) in self.windows.iter_mut().zip(other.windows) {
            for (k, v) in theirs.leaves {
                mine.leaves.entry(k).or_default().merge(&v, 1);
            }
            for (k, v) in theirs.agents {
                let a = mine.agents.entry(k).or_default();
                a.agg.merge(&v.agg, 1);
                for (t, o) in a.time_in.iter_mut().zip(v.time_in) {
                    *t += o;
                }
            }
        }
        for (k, v) in other.live {
            let l = self.live.entry(k).or_default();
            l.waiting += v.waiting;
            l.at_risk += v.at_risk;
            l.oldest_since = match (l.oldest_since, v.oldest_since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        for (k, v) in other.agents {
            match self.agents.get(&k) {
                Some(mine) if mine.since >= v.since => {}
                _ => {
                    self.agents.insert(k, v);
                }
            }
        }
        self.stats.merge(&other.stats);
    }
}
