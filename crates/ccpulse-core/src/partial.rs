//! What one engine yields at a tick: its share of every window, its live contacts and
//! agents, and its counters. Partials of different partitions merge by addition.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::agent::StateTimes;
use crate::agg::{AgentAgg, Aggregate, QueueAgg};
use crate::contact::DrillOutcome;
use crate::event::{AgentState, Channel};
use crate::time::Millis;

/// A leaf group by name, comparable across engines.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey {
    /// Queue.
    pub queue: Option<Arc<str>>,
    /// Channel.
    pub channel: Option<Channel>,
    /// SLA policy index.
    pub policy: Option<u16>,
}

/// An agent's share of a window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentWindow {
    /// Handled contacts and surveys.
    pub agg: AgentAgg,
    /// Time in each state within the window.
    pub time_in: StateTimes,
}

impl AgentWindow {
    /// Adds another share of the same agent.
    pub fn merge(&mut self, other: &AgentWindow) {
        self.agg.merge(&other.agg, 1);
        for (t, o) in self.time_in.iter_mut().zip(other.time_in) {
            *t += o;
        }
    }
}

/// One window's share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveLeaf {
    /// How many wait.
    pub waiting: i64,
    /// Offer time of the longest-waiting one.
    pub oldest_since: Option<Millis>,
    /// How many already waited longer than their SLA threshold.
    pub at_risk: i64,
}

impl LiveLeaf {
    /// Adds another group's waiting contacts.
    pub fn merge(&mut self, other: &LiveLeaf) {
        self.waiting += other.waiting;
        self.at_risk += other.at_risk;
        self.oldest_since = match (self.oldest_since, other.oldest_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// An agent's live state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// The most contacts listed per outcome and leaf group: the largest `limit` of the
/// drill-down. Each engine, and every merge, keeps the newest this many per outcome of
/// each group, so that the newest `limit` of any window ending at "now" are among them.
pub const MAX_LISTED: usize = 100;

/// A contact behind a figure, as the drill-down lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    /// What it is listed as.
    pub outcome: DrillOutcome,
    /// Its `contact_id`.
    pub contact_id: Arc<str>,
    /// Its `customer_id`, when an offer named one.
    pub customer_id: Option<Arc<str>>,
    /// When its leg was offered to the queue, when seen.
    pub offered_at: Option<Millis>,
    /// When the figure it is behind was decided (`None` while it waits).
    pub decided_at: Option<Millis>,
    /// How long the leg waited until its answer, abandon, flow-out or transfer (`None`
    /// when the offer was not seen, and while it waits: that wait grows with "now").
    pub wait: Option<Millis>,
    /// The agent who answered the leg.
    pub agent: Option<Arc<str>>,
}

impl Listed {
    /// The time it is listed by, newest first: its decision, or its offer while it waits.
    pub fn recency(&self) -> Millis {
        self.decided_at.or(self.offered_at).unwrap_or(Millis::MIN)
    }

    /// The order of a list: by outcome, then newest first, then by contact id.
    fn order(&self, other: &Listed) -> std::cmp::Ordering {
        self.outcome
            .cmp(&other.outcome)
            .then_with(|| other.recency().cmp(&self.recency()))
            .then_with(|| self.contact_id.cmp(&other.contact_id))
    }
}

/// Sorts a list by outcome, newest first, and keeps the newest [`MAX_LISTED`] of each
/// outcome.
pub fn trim_listed(list: &mut Vec<Listed>) {
    list.sort_unstable_by(Listed::order);
    let mut run: Option<(DrillOutcome, usize)> = None;
    list.retain(|l| {
        let n = match run {
            Some((o, n)) if o == l.outcome => n + 1,
            _ => 1,
        };
        run = Some((l.outcome, n));
        n <= MAX_LISTED
    });
}

/// Engine counters, summed over partitions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Contacts evicted early because the engine held `contacts.max_open` of them.
    pub evicted_cap: u64,
    /// Events dropped because their contact or agent already held the most events it
    /// may (see `Applied::OverCap`).
    pub over_cap: u64,
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
        self.evicted_cap += o.evicted_cap;
        self.over_cap += o.over_cap;
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// The "now" it was computed for.
    pub now: Millis,
    /// The windows, in configuration order, `today` last.
    pub windows: Vec<WindowPartial>,
    /// Waiting contacts per leaf group.
    pub live: BTreeMap<GroupKey, LiveLeaf>,
    /// Agents' live states.
    pub agents: BTreeMap<Arc<str>, AgentLive>,
    /// The contacts behind the figures, per leaf group: the newest [`MAX_LISTED`] of
    /// each outcome, sorted by [`trim_listed`].
    pub listed: BTreeMap<GroupKey, Vec<Listed>>,
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
            listed: BTreeMap::new(),
            stats: EngineStats::default(),
        }
    }

    /// The end of its windows (they all end at `now` rounded down to the slice); `None`
    /// without windows.
    pub fn windows_end(&self) -> Option<Millis> {
        self.windows.first().map(|w| w.to)
    }

    /// Moves the windows of an empty partial back to end at `to`: the sliding ones keep
    /// their length, `today` its start. `false` (and unchanged) when `to` is not before
    /// their end, or before the start of `today`.
    pub fn end_windows_at(&mut self, to: Millis) -> bool {
        let ok = self
            .windows
            .iter()
            .all(|w| to < w.to && (w.name != crate::engine::TODAY || to >= w.from));
        if ok {
            for w in &mut self.windows {
                if w.name != crate::engine::TODAY {
                    w.from -= w.to - to;
                }
                w.to = to;
            }
        }
        ok
    }

    /// Adds another engine's partial, computed for the same `now` (or, for a partition
    /// whose data is stale, for an earlier one: its last figures are added as they were).
    pub fn merge(&mut self, other: &Partial) {
        for (mine, theirs) in self.windows.iter_mut().zip(&other.windows) {
            for (k, v) in &theirs.leaves {
                match mine.leaves.get_mut(k) {
                    Some(m) => m.merge(v, 1),
                    None => {
                        mine.leaves.insert(k.clone(), v.clone());
                    }
                }
            }
            for (k, v) in &theirs.agents {
                match mine.agents.get_mut(k) {
                    Some(m) => m.merge(v),
                    None => {
                        mine.agents.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        for (k, v) in &other.live {
            self.live.entry(k.clone()).or_default().merge(v);
        }
        for (k, v) in &other.agents {
            match self.agents.get(k) {
                Some(mine) if mine.since >= v.since => {}
                _ => {
                    self.agents.insert(k.clone(), v.clone());
                }
            }
        }
        for (k, v) in &other.listed {
            match self.listed.get_mut(k) {
                Some(mine) => {
                    mine.extend(v.iter().cloned());
                    trim_listed(mine);
                }
                None => {
                    self.listed.insert(k.clone(), v.clone());
                }
            }
        }
        self.stats.merge(&other.stats);
    }
}

/// The label every queue or agent past the cardinality cap is folded into.
pub const OTHER: &str = "_other";

impl Partial {
    /// The partial with queues past `max_queues` and agents past `max_agents` folded
    /// into [`OTHER`] (the busiest today keep their names), and how many of each were
    /// folded; `None` when both fit. Counts stay exact; only the names are lost.
    pub fn fold_labels(&self, max_queues: usize, max_agents: usize) -> Option<(Partial, u64, u64)> {
        let today = self.windows.last()?;
        let mut queue_load: BTreeMap<Arc<str>, i64> = BTreeMap::new();
        for w in &self.windows {
            for k in w.leaves.keys() {
                if let Some(q) = &k.queue {
                    queue_load.entry(q.clone()).or_default();
                }
            }
        }
        for k in self.live.keys() {
            if let Some(q) = &k.queue {
                queue_load.entry(q.clone()).or_default();
            }
        }
        // Queues only agents list are labels too (agents by queue and state).
        for a in self.agents.values() {
            for q in &a.queues {
                queue_load.entry(q.clone()).or_default();
            }
        }
        for (k, a) in &today.leaves {
            if let Some(q) = &k.queue {
                *queue_load.entry(q.clone()).or_default() += a.c.offered;
            }
        }
        let mut agent_load: BTreeMap<Arc<str>, i64> = self.agents.keys().map(|a| (a.clone(), 0)).collect();
        for w in &self.windows {
            for a in w.agents.keys() {
                agent_load.entry(a.clone()).or_default();
            }
        }
        for (a, v) in &today.agents {
            *agent_load.entry(a.clone()).or_default() += v.agg.c.handled;
        }
        if queue_load.len() <= max_queues && agent_load.len() <= max_agents {
            return None;
        }
        let keep = |load: BTreeMap<Arc<str>, i64>, max: usize| -> (std::collections::BTreeSet<Arc<str>>, u64) {
            if load.len() <= max {
                return (load.into_keys().collect(), 0);
            }
            let mut ranked: Vec<(Arc<str>, i64)> = load.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let kept = max.saturating_sub(1);
            let folded = (ranked.len() - kept) as u64;
            (ranked.into_iter().take(kept).map(|(n, _)| n).collect(), folded)
        };
        let (queues, folded_q) = keep(queue_load, max_queues);
        let (agents, folded_a) = keep(agent_load, max_agents);
        let other: Arc<str> = Arc::from(OTHER);
        let rename_q = |k: &GroupKey| GroupKey {
            queue: k
                .queue
                .as_ref()
                .map(|q| if queues.contains(q) { q.clone() } else { other.clone() }),
            ..k.clone()
        };
        let rename_a = |a: &Arc<str>| if agents.contains(a) { a.clone() } else { other.clone() };
        let mut out = Partial::empty(self.now, &[]);
        out.stats = self.stats.clone();
        for w in &self.windows {
            let mut fw = WindowPartial {
                name: w.name.clone(),
                from: w.from,
                to: w.to,
                leaves: BTreeMap::new(),
                agents: BTreeMap::new(),
            };
            for (k, v) in &w.leaves {
                fw.leaves.entry(rename_q(k)).or_default().merge(v, 1);
            }
            for (k, v) in &w.agents {
                fw.agents.entry(rename_a(k)).or_default().merge(v);
            }
            out.windows.push(fw);
        }
        for (k, v) in &self.live {
            out.live.entry(rename_q(k)).or_default().merge(v);
        }
        for (k, v) in &self.agents {
            if agents.contains(k) {
                let mut v = v.clone();
                let mut named: Vec<Arc<str>> = Vec::with_capacity(v.queues.len());
                for q in &v.queues {
                    let q = if queues.contains(q) { q.clone() } else { other.clone() };
                    if !named.contains(&q) {
                        named.push(q);
                    }
                }
                v.queues = named;
                out.agents.insert(k.clone(), v);
            }
        }
        Some((out, folded_q, folded_a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_move_back_keeping_their_length_and_todays_start() {
        let windows = [("5m".to_owned(), 100_000, 400_000), ("today".to_owned(), 0, 400_000)];
        let mut p = Partial::empty(400_000, &windows);
        assert!(p.end_windows_at(395_000));
        let ends: Vec<_> = p.windows.iter().map(|w| (w.from, w.to)).collect();
        assert_eq!(ends, [(95_000, 395_000), (0, 395_000)]);
        assert_eq!(p.windows_end(), Some(395_000));
        assert!(!p.end_windows_at(395_000), "not before their end");
        let mut p = Partial::empty(400_000, &[("today".to_owned(), 390_000, 400_000)]);
        assert!(!p.end_windows_at(385_000), "not before today's start (midnight)");
        assert_eq!(p.windows_end(), Some(400_000), "unchanged");
    }
}
