//! One agent: state history (for occupancy and the live state), team and queues, and
//! the handled-contact aggregates.

use smallvec::SmallVec;

use crate::agg::{AgentAgg, NameId};
use crate::event::AgentState;
use crate::sorted::insert_sorted;
use crate::time::Millis;
use crate::window::{Days, Ring};

/// Milliseconds spent in each state, indexed by `AgentState as usize`.
pub type StateTimes = [Millis; 5];

/// Everything the engine holds about one agent.
#[derive(Debug, Clone)]
pub struct AgentRecord {
    /// State changes sorted by `(ts, tiebreak)`.
    transitions: Vec<(Millis, u64, AgentState)>,
    /// Team from the newest `agent.state` that named one, with its time.
    team: Option<(Millis, NameId)>,
    /// Queues from the newest `agent.state` that listed them, with its time. Held in
    /// the record up to six, where comparing them with the next event's costs no read
    /// of another allocation.
    queues: Option<(Millis, SmallVec<[NameId; 6]>)>,
    /// Handled contacts by slice.
    pub ring: Ring<AgentAgg>,
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
            ring: Ring::new(cap),
            days: Days::default(),
        }
    }

    /// Records an `agent.state` event.
    pub fn state_change(
        &mut self,
        ts: Millis,
        tiebreak: u64,
        state: AgentState,
        team: Option<NameId>,
        queues: Option<&[NameId]>,
    ) {
        insert_sorted(&mut self.transitions, (ts, tiebreak, state), |&(t, b, _)| (t, b));
        if let Some(team) = team {
            if self.team.is_none_or(|(t, _)| ts >= t) {
                self.team = Some((ts, team));
            }
        }
        if let Some(queues) = queues {
            match &mut self.queues {
                // Usually the same queues again: no allocation.
                Some((t, held)) if ts >= *t => {
                    *t = ts;
                    if held.as_slice() != queues {
                        held.clear();
                        held.extend_from_slice(queues);
                    }
                }
                Some(_) => {}
                None => self.queues = Some((ts, SmallVec::from_slice(queues))),
            }
        }
    }

    /// The team, if any `agent.state` named one.
    pub fn team(&self) -> Option<NameId> {
        self.team.map(|(_, t)| t)
    }

    /// The queues from the newest `agent.state` that listed them.
    pub fn queues(&self) -> &[NameId] {
        self.queues.as_ref().map_or(&[], |(_, q)| q.as_slice())
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

    fn t_all(a: &AgentRecord) -> StateTimes {
        a.time_in_states(Millis::MIN / 2, 400)
    }

    #[test]
    fn time_in_states_and_occupancy() {
        let mut a = AgentRecord::new(10);
        // available 0..100, busy 100..250, acw 250..300, available 300..
        a.state_change(100, 0, AgentState::Busy, Some(1), None);
        a.state_change(0, 0, AgentState::Available, None, None);
        a.state_change(300, 0, AgentState::Available, None, None);
        a.state_change(250, 0, AgentState::Acw, Some(2), Some(&[5]));
        let t = a.time_in_states(50, 400);
        assert_eq!(t[AgentState::Available as usize], 50 + 100);
        assert_eq!(t[AgentState::Busy as usize], 150);
        assert_eq!(t[AgentState::Acw as usize], 50);
        assert_eq!(a.state_at(260), Some((AgentState::Acw, 250)));
        assert_eq!(a.state_at(-1), None);
        assert_eq!(a.team(), Some(2), "newest team wins");
        assert_eq!(a.queues(), &[5]);
        a.evict_before(100);
        assert_eq!(a.time_in_states(0, 400), t_all(&a), "nothing before 100 but the state at 100");
        a.evict_before(260);
        assert_eq!(a.state_at(260), Some((AgentState::Acw, 250)));
        assert_eq!(a.time_in_states(0, 400)[AgentState::Busy as usize], 0);
    }
}
