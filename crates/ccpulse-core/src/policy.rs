//! SLA policies: which contacts a policy covers, what "met" means, and the three
//! industry formulas of `spec/kpis.md`.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::calendar::Calendar;
use crate::event::Channel;
use crate::time::{Millis, HOUR, SECOND};

/// What a contact must achieve within the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Answered with wait ≤ T.
    Answer,
    /// Ended within T of being offered, and not ended with `resolved: false`.
    Resolve,
}

/// How the service level ratio is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Formula {
    /// met / answered.
    Answered,
    /// met / (answered + abandoned).
    AnsweredAbandoned,
    /// (met + abandoned within T) / (answered + abandoned).
    PositiveAbandon,
}

/// One SLA policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// Channel covered, any when `None`.
    pub channel: Option<Channel>,
    /// Queue covered, any when `None`.
    pub queue: Option<String>,
    /// Segment covered, any when `None`.
    pub segment: Option<String>,
    /// Threshold T in milliseconds.
    pub threshold: Millis,
    /// Target ratio.
    pub target: f64,
    /// What must be achieved within T.
    pub measure: Measure,
    /// Which formula.
    pub formula: Formula,
    /// Short-abandon threshold.
    pub short_abandon: Millis,
    /// Remove short abandons from numerator and denominator.
    pub exclude_short_abandons: bool,
    /// Count flow-outs in the denominator (they never meet the threshold).
    pub include_flowouts: bool,
    /// Smallest denominator that can breach.
    pub min_contacts: u64,
    /// Breach clears at target + hysteresis.
    pub hysteresis: f64,
    /// Business hours: when set, waits and times to resolve count open time only.
    pub calendar: Option<Arc<Calendar>>,
}

impl Policy {
    /// The time in `[from, to)` that counts against this policy's threshold: open time
    /// with a calendar, all of it without.
    pub fn elapsed(&self, from: Millis, to: Millis) -> Millis {
        match &self.calendar {
            Some(c) => c.open_between(from, to),
            None => (to - from).max(0),
        }
    }

    /// Whether the policy's queue is open at `ts` (always, without a calendar).
    pub fn is_open(&self, ts: Millis) -> bool {
        self.calendar.as_ref().is_none_or(|c| c.is_open(ts))
    }
}

impl Policy {
    /// The built-in defaults: voice 80 % in 20 s, chat 80 % in 60 s, email 90 % in 1 h.
    pub fn defaults() -> Vec<Policy> {
        let base = |name: &str, channel, threshold, target| Policy {
            name: name.to_owned(),
            channel: Some(channel),
            queue: None,
            segment: None,
            threshold,
            target,
            measure: Measure::Answer,
            formula: Formula::AnsweredAbandoned,
            short_abandon: 5 * SECOND,
            exclude_short_abandons: false,
            include_flowouts: false,
            min_contacts: 10,
            hysteresis: 0.02,
            calendar: None,
        };
        vec![
            base("voice-default", Channel::Voice, 20 * SECOND, 0.8),
            base("chat-default", Channel::Chat, 60 * SECOND, 0.8),
            base("email-default", Channel::Email, HOUR, 0.9),
        ]
    }

    fn covers(&self, channel: Channel, queue: &str, segment: Option<&str>) -> bool {
        self.channel.is_none_or(|c| c == channel)
            && self.queue.as_deref().is_none_or(|q| q == queue)
            && self.segment.as_deref().is_none_or(|s| Some(s) == segment)
    }

    fn specificity(&self) -> u8 {
        u8::from(self.channel.is_some()) + u8::from(self.queue.is_some()) + u8::from(self.segment.is_some())
    }

    /// Numerator and denominator of the service level, from the counters of the
    /// contacts judged under this policy. With `include_flowouts`, flow-outs are added
    /// to the denominator of every formula and never to the numerator.
    pub fn ratio(&self, c: &SlCounts) -> (u64, u64) {
        let (short, short_within) = if self.exclude_short_abandons {
            (c.short_abandoned, c.short_abandoned_within)
        } else {
            (0, 0)
        };
        let flowed_out = if self.include_flowouts { c.flowed_out } else { 0 };
        let (met, den) = match self.formula {
            Formula::Answered => (c.met, c.answered),
            Formula::AnsweredAbandoned => (c.met, c.answered + c.abandoned - short),
            Formula::PositiveAbandon => (
                c.met + c.abandoned_within - short_within,
                c.answered + c.abandoned - short,
            ),
        };
        (met, den + flowed_out)
    }
}

/// The counters a service level is formed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlCounts {
    /// Contacts that met the policy's measure.
    pub met: u64,
    /// Answered contacts.
    pub answered: u64,
    /// Abandoned contacts.
    pub abandoned: u64,
    /// Abandoned with wait ≤ T.
    pub abandoned_within: u64,
    /// Abandoned with wait < short-abandon threshold.
    pub short_abandoned: u64,
    /// Short abandons that also had wait ≤ T.
    pub short_abandoned_within: u64,
    /// Contacts that flowed out.
    pub flowed_out: u64,
}

/// Picks the policy for a contact: the most specific covering policy, the first
/// listed on a tie. `None` when no policy covers it.
pub fn select(policies: &[Policy], channel: Channel, queue: &str, segment: Option<&str>) -> Option<usize> {
    let mut best: Option<(usize, u8)> = None;
    for (i, p) in policies.iter().enumerate() {
        if p.covers(channel, queue, segment) {
            let s = p.specificity();
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, channel: Option<Channel>, queue: Option<&str>, segment: Option<&str>) -> Policy {
        Policy {
            name: name.into(),
            channel,
            queue: queue.map(Into::into),
            segment: segment.map(Into::into),
            ..Policy::defaults().remove(0)
        }
    }

    #[test]
    fn most_specific_wins_first_on_tie() {
        let ps = vec![
            policy("voice", Some(Channel::Voice), None, None),
            policy("billing", None, Some("billing"), None),
            policy(
                "gold-billing-voice",
                Some(Channel::Voice),
                Some("billing"),
                Some("gold"),
            ),
            policy("billing-voice", Some(Channel::Voice), Some("billing"), None),
            policy("gold", None, None, Some("gold")),
        ];
        assert_eq!(select(&ps, Channel::Voice, "billing", Some("gold")), Some(2));
        assert_eq!(select(&ps, Channel::Voice, "billing", None), Some(3));
        assert_eq!(select(&ps, Channel::Voice, "tech", None), Some(0));
        assert_eq!(select(&ps, Channel::Chat, "tech", Some("gold")), Some(4));
        assert_eq!(select(&ps, Channel::Chat, "billing", None), Some(1));
        assert_eq!(select(&ps, Channel::Email, "tech", None), None);
    }

    #[test]
    fn three_formulas_by_hand() {
        // 10 answered, 7 within T; 4 abandoned, 2 of them within T, 1 short (also within T).
        let c = SlCounts {
            met: 7,
            answered: 10,
            abandoned: 4,
            abandoned_within: 2,
            short_abandoned: 1,
            short_abandoned_within: 1,
            flowed_out: 3,
        };
        let mut p = Policy::defaults().remove(0);
        p.formula = Formula::Answered;
        assert_eq!(p.ratio(&c), (7, 10));
        p.formula = Formula::AnsweredAbandoned;
        assert_eq!(p.ratio(&c), (7, 14));
        p.formula = Formula::PositiveAbandon;
        assert_eq!(p.ratio(&c), (9, 14));
        p.exclude_short_abandons = true;
        assert_eq!(p.ratio(&c), (8, 13));
        p.formula = Formula::AnsweredAbandoned;
        assert_eq!(p.ratio(&c), (7, 13));
        p.formula = Formula::Answered;
        assert_eq!(p.ratio(&c), (7, 10));
        // The three flow-outs join every denominator, never a numerator.
        p.include_flowouts = true;
        assert_eq!(p.ratio(&c), (7, 13));
        p.formula = Formula::AnsweredAbandoned;
        assert_eq!(p.ratio(&c), (7, 16));
        p.formula = Formula::PositiveAbandon;
        assert_eq!(p.ratio(&c), (8, 16));
        p.exclude_short_abandons = false;
        assert_eq!(p.ratio(&c), (9, 17));
    }
}
