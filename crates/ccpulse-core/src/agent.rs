//! One agent: state history (for occupancy and the live state), team and queues, and
//! the handled-contact aggregates.

use smallvec::SmallVec;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::agg::{AgentAgg, NameId};
use crate::event::AgentState;
use crate::fact_ring::FactRing;
use crate::sorted::insert_sorted;
use crate::time::Millis;
use crate::window::Days;

/// The key of a name as an event wrote it: its 64-bit xxh3 hash. A team recognised by
/// its key is taken to be the one held; two names share a key with probability 2^-64.
pub fn name_key(name: &str) -> u64 {
    xxh3_64(name.as_bytes())
}

/// The key of a list of names, order and boundaries included: each name's hash seeded
/// with the previous one, from the number of names.
pub fn names_key<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> u64 {
    let n = names.len() as u64;
    names.fold(n, |seed, name| xxh3_64_with_seed(name.as_bytes(), seed))
}

/// Milliseconds spent in each state, indexed by `AgentState as usize`.
pub type StateTimes = [Millis; 5];

/// Everything the engine holds about one agent.
#[derive(Debug, Clone)]
pub struct AgentRecord {
    /// State changes sorted by `(ts, tiebreak)`; the tie-break is the arrival order.
    transitions: Vec<(Millis, u64, AgentState)>,
    /// Team from the newest `agent.state` that named one, with its time and the key of
    /// its name (see [`AgentRecord::team_named`]).
    team: Option<(Millis, NameId, u64)>,
    /// Queues from the newest `agent.state` that listed them, with its time and the key
    /// of the list. Held in the record up to six, where comparing them with the next
    /// event's costs no read of another allocation.
    queues: Option<(Millis, SmallVec<[NameId; 6]>, u64)>,
    /// Handled contacts by slice.
    pub ring: FactRing,
    /// Handled contacts by local day.
    pub days: Days<AgentAgg>,
}

impl AgentRecord {
    /// A new record whose ring holds `cap` slices.
    pub fn new(cap: usize) -> Self {
        AgentRecord {
            transitions: Vec::new(),
            team: None,
            queues: None,
            ring: FactRing::new(cap),
            days: Days::default(),
        }
    }

    /// How many state changes are held.
    pub fn state_changes(&self) -> usize {
        self.transitions.len()
    }

    /// Records the state change of an `agent.state` event; `tiebreak` orders changes
    /// of equal time (the engine gives their arrival order).
    pub fn state_change(&mut self, ts: Millis, tiebreak: u64, state: AgentState) {
        if self.transitions.capacity() == 0 {
            // An agent changes state a few times an hour, kept since midnight: start at
            // 32, not 4, for fewer reallocations of a vector that grows all day.
            self.transitions.reserve_exact(32);
        }
        insert_sorted(&mut self.transitions, (ts, tiebreak, state), |&(t, b, _)| (t, b));
    }

    /// Records the team an `agent.state` event at `ts` named. `key` is the key of the
    /// name as written ([`name_key`]); the name is interned (`intern`) only when it is
    /// not the team held, which it nearly always is: an agent's events repeat their
    /// team and queues, and interning them again cost a hash lookup per name.
    pub fn team_named(&mut self, ts: Millis, key: u64, intern: impl FnOnce() -> NameId) {
        match self.team {
            Some((t, _, _)) if ts < t => {}
            Some((_, id, k)) if k == key => self.team = Some((ts, id, k)),
            _ => self.team = Some((ts, intern(), key)),
        }
    }

    /// Records the queues an `agent.state` event at `ts` listed, as
    /// [`AgentRecord::team_named`] does the team; `key` is [`names_key`] of the list.
    pub fn queues_listed<I: IntoIterator<Item = NameId>>(&mut self, ts: Millis, key: u64, intern: impl FnOnce() -> I) {
        match &mut self.queues {
            Some((t, _, _)) if ts < *t => {}
            Some((t, _, k)) if *k == key => *t = ts,
            _ => self.queues = Some((ts, intern().into_iter().collect(), key)),
        }
    }

    /// The team, if any `agent.state` named one.
    pub fn team(&self) -> Option<NameId> {
        self.team.map(|(_, t, _)| t)
    }

    /// The queues from the newest `agent.state` that listed them.
    pub fn queues(&self) -> &[NameId] {
        self.queues.as_ref().map_or(&[], |(_, q, _)| q.as_slice())
    }

    /// The state at `now` and since when, from the last change at or before `now`.
    pub fn state_at(&self, now: Millis) -> Option<(AgentState, Millis)> {
        let i = self.transitions.partition_point(|&(t, _, _)| t <= now);
        let (since, _, state) = *self.transitions.get(i.checked_sub(1)?)?;
        Some((state, since))
    }

    /// Time spent in each state within `[from, to)`. Time before the first known state
    /// change is not counted.
    pub fn time_in_states(&self, from: Millis, to: Millis) -> StateTimes {
        let mut out = [0; 5];
        for (i, &(start, _, state)) in self.transitions.iter().enumerate() {
            let end = self.transitions.get(i + 1).map_or(to, |&(t, _, _)| t);
            let (s, e) = (start.max(from), end.min(to));
            if e > s {
                out[state as usize] += e - s;
            }
        }
        out
    }

    /// Forgets state changes before `before`, keeping the last one before it (it tells
    /// the state at `before`).
    pub fn evict_before(&mut self, before: Millis) {
        // Usually nothing is due (states are kept since local midnight, and this runs
        // every hour): one read says so, where a binary search read a line per step.
        if self.transitions.get(1).is_none_or(|&(t, _, _)| t >= before) {
            return;
        }
        let i = self.transitions.partition_point(|&(t, _, _)| t < before);
        if i > 1 {
            self.transitions.drain(..i - 1);
        }
    }

    /// Whether nothing is held but the agent's identity.
    pub fn is_idle(&self) -> bool {
        self.transitions.is_empty() && self.ring.is_empty() && self.days.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_in_states_and_occupancy() {
        let mut a = AgentRecord::new(10);
        // available 0..100, busy 100..250, acw 250..300, available 300..
        a.state_change(100, 0, AgentState::Busy);
        a.team_named(100, name_key("t1"), || 1);
        a.state_change(0, 0, AgentState::Available);
        a.state_change(300, 0, AgentState::Available);
        a.state_change(250, 0, AgentState::Acw);
        a.team_named(250, name_key("t2"), || 2);
        a.queues_listed(250, names_key(["q5"].into_iter()), || [5]);
        let t = a.time_in_states(50, 400);
        assert_eq!(t[AgentState::Available as usize], 50 + 100);
        assert_eq!(t[AgentState::Busy as usize], 150);
        assert_eq!(t[AgentState::Acw as usize], 50);
        assert_eq!(a.state_at(260), Some((AgentState::Acw, 250)));
        assert_eq!(a.state_at(-1), None);
        assert_eq!(a.team(), Some(2), "newest team wins");
        assert_eq!(a.queues(), &[5]);
        let unused = || -> [NameId; 1] { panic!("a name held is not interned again") };
        a.team_named(200, name_key("t3"), || panic!("an older team is ignored"));
        a.team_named(260, name_key("t2"), || panic!("the team held is not interned again"));
        a.queues_listed(260, names_key(["q5"].into_iter()), unused);
        a.queues_listed(270, names_key(["q5", "q6"].into_iter()), || [5, 6]);
        a.team_named(270, name_key("t1"), || 1);
        assert_eq!((a.team(), a.queues()), (Some(1), &[5, 6][..]), "the newest names win");
        assert_ne!(names_key(["ab", "c"].into_iter()), names_key(["a", "bc"].into_iter()));
        assert_ne!(names_key(["a"].into_iter()), names_key(["a", ""].into_iter()));
        let since_100 = a.time_in_states(100, 400);
        a.evict_before(100);
        assert_eq!(a.time_in_states(100, 400), since_100, "the state at 100 is kept");
        assert_eq!(a.state_at(50), Some((AgentState::Available, 0)), "nothing was due");
        a.evict_before(260);
        assert_eq!(a.state_at(260), Some((AgentState::Acw, 250)));
        assert_eq!(a.time_in_states(0, 400)[AgentState::Busy as usize], 0);
    }
}
