//! Facts (what a contact contributes to the figures, at an event time) and the
//! mergeable aggregates they are summed into.
//!
//! Every aggregate here is a commutative sum, so that slices fold into windows,
//! partitions merge into one snapshot, and a retracted fact is an addition with sign −1.

use crate::event::{Channel, SurveyKind};
use crate::hist::SparseHist;
use crate::time::Millis;
use crate::window::Slice;

/// Interned name id (queue, agent, team, segment), local to one engine.
pub type NameId = u32;

/// The finest group a queue figure is kept for: queue, channel and the SLA policy
/// the contact was judged under. Surveys have no policy; a survey or an orphan event
/// may lack a queue or a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeafKey {
    /// The queue, when known.
    pub queue: Option<NameId>,
    /// The channel, when known.
    pub channel: Option<Channel>,
    /// Index of the SLA policy in the configuration, for contact figures.
    pub policy: Option<u16>,
}

/// What one fact contributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactKind {
    /// A leg was offered to the queue; for a contact's first leg, opened by a
    /// `contact.offered` that names a customer or says `repeat`, also its FCR verdict
    /// (`Some(repeat)`). One fact, not two: they land in the same slice, and a fact costs
    /// a lookup of its group and its slice.
    Offered {
        /// The contact's FCR verdict, when its first leg is judged: it is a repeat.
        fcr: Option<bool>,
    },
    /// A leg was answered; `wait` is unknown when the offer was never seen; `met` when
    /// its policy's measure is `answer` and wait ≤ T.
    Answered {
        /// Wait in ms.
        wait: Option<Millis>,
        /// Met the policy.
        met: bool,
    },
    /// A leg was abandoned.
    Abandoned {
        /// Wait in ms, when known.
        wait: Option<Millis>,
        /// Wait ≤ T of its policy.
        within: bool,
        /// Wait < the short-abandon threshold.
        short: bool,
    },
    /// A leg left the queue without an agent and not by the customer's hang-up
    /// (`contact.flowed_out`).
    FlowedOut,
    /// A leg left the queue by a transfer.
    TransferredOut,
    /// A leg's handling finished (wrap-up, or transfer after answer).
    Handled {
        /// Talk time in ms.
        talk: Millis,
        /// Hold time in ms.
        hold: Millis,
        /// After-contact work in ms.
        acw: Millis,
    },
    /// A leg met a `resolve` policy (counted at `ended.ts`).
    ResolvedMet,
    /// An answered leg judged for its agent's service level, by its own policy: at
    /// `answered.ts` for an `answer` policy, at `ended.ts` for a `resolve` policy.
    /// Attributed to the agent only (no leaf).
    AgentSl {
        /// It met the policy.
        met: bool,
    },
    /// A CSAT answer.
    Csat {
        /// Thumbs up, or 4–5 of five.
        satisfied: bool,
        /// Time from the contact's `ended.ts` to the answer (0 when answered before it),
        /// when the contact's end is known.
        delay: Option<Millis>,
        /// `delay` ≤ `surveys.immediate_within`.
        immediate: bool,
    },
    /// An NPS answer.
    Nps {
        /// 0..10.
        score: u8,
        /// It has a `contact_id`.
        transactional: bool,
        /// As for CSAT.
        delay: Option<Millis>,
        /// As for CSAT.
        immediate: bool,
    },
    /// A survey was sent about a contact (its first `survey.sent` of the kind), counted
    /// at the send for the group of the sent survey.
    SurveySent {
        /// CSAT or NPS.
        kind: SurveyKind,
    },
    /// A sent survey was answered: the first answer of its kind, counted at the
    /// answer's time for the group of the sent survey.
    SurveyAnswered {
        /// CSAT or NPS.
        kind: SurveyKind,
    },
}

/// One contribution at an event time, to a leaf group and possibly an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact {
    /// The event time that decides where it counts.
    pub ts: Millis,
    /// The queue group, when the contact can be attributed.
    pub leaf: Option<LeafKey>,
    /// The agent (for handled facts).
    pub agent: Option<NameId>,
    /// What it contributes.
    pub kind: FactKind,
}

/// Something that can be summed and subtracted.
pub trait Aggregate: Default + Clone {
    /// Adds `other` times `sign` (1 or −1).
    fn merge(&mut self, other: &Self, sign: i64);
    /// Whether nothing is counted.
    fn is_zero(&self) -> bool;
    /// Counts nothing again, keeping allocated capacity for reuse.
    fn clear(&mut self);
}

macro_rules! counters {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct $name { $($(#[$fm])* pub $field: i64,)* }
        impl $name {
            /// Adds `other` times `sign`.
            pub fn merge(&mut self, other: &Self, sign: i64) { $(self.$field += sign * other.$field;)* }
            /// Whether every counter is zero.
            pub fn is_zero(&self) -> bool { true $(&& self.$field == 0)* }
        }
    };
}

counters! {
    /// The counters of a queue group; sums, never ratios.
    pub struct Counters {
        /// Legs offered.
        offered,
        /// Legs answered.
        answered,
        /// Legs abandoned.
        abandoned,
        /// Legs that flowed out (left without an agent, not abandoned).
        flowed_out,
        /// Abandoned with wait below the short-abandon threshold.
        short_abandoned,
        /// Short abandons with wait ≤ T.
        short_abandoned_within,
        /// Abandoned with wait ≤ T.
        abandoned_within,
        /// Legs that left by transfer.
        transferred_out,
        /// Legs that met their policy's measure.
        met,
        /// Answered legs with a known wait.
        wait_count,
        /// Sum of their waits (ms).
        wait_sum,
        /// Handled legs.
        handled,
        /// Sum of talk (ms).
        talk_sum,
        /// Sum of hold (ms).
        hold_sum,
        /// Sum of ACW (ms).
        acw_sum,
        /// Contacts judged for FCR.
        fcr_contacts,
        /// Of those, repeats.
        repeat_contacts,
        /// CSAT answers.
        csat_responses,
        /// Satisfied CSAT answers.
        csat_satisfied,
        /// NPS answers.
        nps_responses,
        /// NPS 9–10.
        nps_promoters,
        /// NPS 0–6.
        nps_detractors,
        /// NPS answers without a contact (relationship).
        nps_rel_responses,
        /// Relationship promoters.
        nps_rel_promoters,
        /// Relationship detractors.
        nps_rel_detractors,
    }
}

counters! {
    /// The counters of one agent.
    pub struct AgentCounters {
        /// Contacts wrapped up (or transferred after answer).
        handled,
        /// Sum of talk (ms).
        talk_sum,
        /// Sum of hold (ms).
        hold_sum,
        /// Sum of ACW (ms).
        acw_sum,
        /// CSAT answers attributed to the agent.
        csat_responses,
        /// Satisfied ones.
        csat_satisfied,
        /// NPS answers attributed to the agent.
        nps_responses,
        /// NPS 9–10.
        nps_promoters,
        /// NPS 0–6.
        nps_detractors,
        /// Answered legs judged for the agent's service level.
        sl_judged,
        /// Of those, legs that met their policy.
        sl_met,
        /// CSAT surveys sent about the agent's contacts.
        csat_sent,
        /// Of those, answered.
        csat_sent_answered,
        /// NPS surveys sent.
        nps_sent,
        /// Of those, answered.
        nps_sent_answered,
    }
}

counters! {
    /// Surveys sent and answered, and answers split by their delay from the contact's
    /// end (version 1.1), of a queue group or an agent.
    pub struct SurveyCounters {
        /// CSAT surveys sent.
        csat_sent,
        /// Of those, answered (the first answer of a sent survey).
        csat_sent_answered,
        /// NPS surveys sent.
        nps_sent,
        /// Of those, answered.
        nps_sent_answered,
        /// CSAT answers within `surveys.immediate_within` of the contact's end.
        csat_immediate_responses,
        /// Of those, satisfied.
        csat_immediate_satisfied,
        /// CSAT answers later than that.
        csat_later_responses,
        /// Of those, satisfied.
        csat_later_satisfied,
        /// Immediate NPS answers.
        nps_immediate_responses,
        /// Of those, 9–10.
        nps_immediate_promoters,
        /// Of those, 0–6.
        nps_immediate_detractors,
        /// Later NPS answers.
        nps_later_responses,
        /// Of those, 9–10.
        nps_later_promoters,
        /// Of those, 0–6.
        nps_later_detractors,
        /// Answers with a known delay.
        delay_count,
        /// Sum of their delays (ms).
        delay_sum,
    }
}

impl SurveyCounters {
    /// Applies a survey fact with `sign`; other facts change nothing.
    pub fn apply(&mut self, kind: &FactKind, sign: i64) {
        match *kind {
            FactKind::Csat {
                satisfied,
                delay: Some(delay),
                immediate,
            } => {
                self.delay(delay, sign);
                let satisfied = sign * i64::from(satisfied);
                if immediate {
                    self.csat_immediate_responses += sign;
                    self.csat_immediate_satisfied += satisfied;
                } else {
                    self.csat_later_responses += sign;
                    self.csat_later_satisfied += satisfied;
                }
            }
            FactKind::Nps {
                score,
                delay: Some(delay),
                immediate,
                ..
            } => {
                self.delay(delay, sign);
                let promoter = sign * i64::from(score >= 9);
                let detractor = sign * i64::from(score <= 6);
                if immediate {
                    self.nps_immediate_responses += sign;
                    self.nps_immediate_promoters += promoter;
                    self.nps_immediate_detractors += detractor;
                } else {
                    self.nps_later_responses += sign;
                    self.nps_later_promoters += promoter;
                    self.nps_later_detractors += detractor;
                }
            }
            FactKind::SurveySent { kind: SurveyKind::Csat } => self.csat_sent += sign,
            FactKind::SurveySent { kind: SurveyKind::Nps } => self.nps_sent += sign,
            FactKind::SurveyAnswered { kind: SurveyKind::Csat } => self.csat_sent_answered += sign,
            FactKind::SurveyAnswered { kind: SurveyKind::Nps } => self.nps_sent_answered += sign,
            _ => {}
        }
    }

    fn delay(&mut self, delay: Millis, sign: i64) {
        self.delay_count += sign;
        self.delay_sum += sign * delay;
    }
}

/// A queue group's aggregate: counters plus the wait and handle-time histograms.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueAgg {
    /// The counters.
    pub c: Counters,
    /// Waits of answered legs.
    pub wait: SparseHist,
    /// Handle times.
    pub handle: SparseHist,
    /// Surveys sent, answered, and answers by delay.
    pub surveys: SurveyCounters,
    /// Delays of survey answers from their contact's end (both kinds).
    pub survey_delay: SparseHist,
}

impl QueueAgg {
    /// Applies one fact with `sign` (1 to add, −1 to retract).
    pub fn apply(&mut self, kind: &FactKind, sign: i64) {
        let c = &mut self.c;
        match *kind {
            FactKind::Offered { fcr } => {
                c.offered += sign;
                if let Some(repeat) = fcr {
                    c.fcr_contacts += sign;
                    c.repeat_contacts += sign * i64::from(repeat);
                }
            }
            FactKind::Answered { wait, met } => {
                c.answered += sign;
                c.met += sign * i64::from(met);
                if let Some(w) = wait {
                    c.wait_count += sign;
                    c.wait_sum += sign * w;
                    self.wait.record(w, sign);
                }
            }
            FactKind::Abandoned { within, short, .. } => {
                c.abandoned += sign;
                c.abandoned_within += sign * i64::from(within);
                c.short_abandoned += sign * i64::from(short);
                c.short_abandoned_within += sign * i64::from(short && within);
            }
            FactKind::FlowedOut => c.flowed_out += sign,
            FactKind::TransferredOut => c.transferred_out += sign,
            FactKind::Handled { talk, hold, acw } => {
                c.handled += sign;
                c.talk_sum += sign * talk;
                c.hold_sum += sign * hold;
                c.acw_sum += sign * acw;
                self.handle.record(talk + hold + acw, sign);
            }
            FactKind::ResolvedMet => c.met += sign,
            FactKind::AgentSl { .. } => {}
            FactKind::SurveySent { .. } | FactKind::SurveyAnswered { .. } => self.surveys.apply(kind, sign),
            FactKind::Csat { satisfied, delay, .. } => {
                c.csat_responses += sign;
                c.csat_satisfied += sign * i64::from(satisfied);
                if let Some(d) = delay {
                    self.survey_delay.record(d, sign);
                    self.surveys.apply(kind, sign);
                }
            }
            FactKind::Nps {
                score,
                transactional,
                delay,
                ..
            } => {
                if let Some(d) = delay {
                    self.survey_delay.record(d, sign);
                    self.surveys.apply(kind, sign);
                }
                let promoter = i64::from(score >= 9);
                let detractor = i64::from(score <= 6);
                c.nps_responses += sign;
                c.nps_promoters += sign * promoter;
                c.nps_detractors += sign * detractor;
                if !transactional {
                    c.nps_rel_responses += sign;
                    c.nps_rel_promoters += sign * promoter;
                    c.nps_rel_detractors += sign * detractor;
                }
            }
        }
    }
}

impl Aggregate for QueueAgg {
    fn merge(&mut self, other: &Self, sign: i64) {
        self.c.merge(&other.c, sign);
        self.wait.merge(&other.wait, sign);
        self.handle.merge(&other.handle, sign);
        self.surveys.merge(&other.surveys, sign);
        self.survey_delay.merge(&other.survey_delay, sign);
    }
    fn is_zero(&self) -> bool {
        self.c.is_zero()
            && self.wait.is_empty()
            && self.handle.is_empty()
            && self.surveys.is_zero()
            && self.survey_delay.is_empty()
    }
    fn clear(&mut self) {
        self.c = Counters::default();
        self.wait.clear();
        self.handle.clear();
        self.surveys = SurveyCounters::default();
        self.survey_delay.clear();
    }
}

/// Distinct facts a [`QueueSlice`] holds before it sums them. On the benchmark stream,
/// 3, 4, 5 and 8 gave 2.19, 2.17, 2.16 and 2.19 M last-level misses per 200 000 events
/// (`callgrind`); 4 keeps a slice at 168 bytes.
const FEW: usize = 4;

/// One slice of a queue group's ring: five seconds of one group.
///
/// A group sees a fact every few seconds or many per second. A quiet group's slice holds
/// a few facts, so the slice keeps them as they are, as (fact, count) pairs: three
/// cache lines, written once. Summing them into a [`QueueAgg`] (24 counters and two
/// histograms: five cache lines and two more allocations, all cold when a slice is
/// reused an hour later) is left to the window that folds the slice, and done in the
/// slice itself only past [`FEW`] distinct facts.
#[derive(Clone, Debug)]
pub enum QueueSlice {
    /// Up to [`FEW`] distinct facts with their counts (never zero).
    Few {
        /// The facts; the first `len` are held.
        kinds: [FactKind; FEW],
        /// How many times each was added, less how many times it was retracted.
        counts: [i64; FEW],
        /// How many are held.
        len: u8,
    },
    /// Their sum, past [`FEW`] distinct facts.
    Sum(Box<QueueAgg>),
}

impl Default for QueueSlice {
    fn default() -> Self {
        QueueSlice::Few {
            kinds: [FactKind::Offered { fcr: None }; FEW],
            counts: [0; FEW],
            len: 0,
        }
    }
}

impl QueueSlice {
    /// Applies one fact with `sign` (1 to add, −1 to retract).
    pub fn apply(&mut self, kind: &FactKind, sign: i64) {
        let (kinds, counts, len) = match self {
            QueueSlice::Sum(sum) => return sum.apply(kind, sign),
            QueueSlice::Few { .. } if sign == 0 => return,
            QueueSlice::Few { kinds, counts, len } => (kinds, counts, len),
        };
        let n = usize::from(*len);
        match kinds[..n].iter().position(|k| k == kind) {
            Some(i) => {
                counts[i] += sign;
                if counts[i] == 0 {
                    // Removed: the last one takes its place.
                    kinds[i] = kinds[n - 1];
                    counts[i] = counts[n - 1];
                    *len -= 1;
                }
            }
            None if n < FEW => {
                kinds[n] = *kind;
                counts[n] = sign;
                *len += 1;
            }
            None => {
                let mut sum = Box::<QueueAgg>::default();
                for (k, &c) in kinds.iter().zip(counts.iter()) {
                    sum.apply(k, c);
                }
                sum.apply(kind, sign);
                *self = QueueSlice::Sum(sum);
            }
        }
    }
}

impl Slice for QueueSlice {
    type Sum = QueueAgg;

    fn add_to(&self, sum: &mut QueueAgg) {
        match self {
            QueueSlice::Few { kinds, counts, len } => {
                for (k, &c) in kinds.iter().zip(counts.iter()).take(usize::from(*len)) {
                    sum.apply(k, c);
                }
            }
            QueueSlice::Sum(s) => sum.merge(s, 1),
        }
    }

    fn clear(&mut self) {
        match self {
            QueueSlice::Few { len, .. } => *len = 0,
            QueueSlice::Sum(_) => *self = QueueSlice::default(),
        }
    }
}

/// An agent's aggregate. (Agents have survey response rates but not the immediate /
/// later split of the groups: it would triple the size of every agent slice for a
/// handful of answers per agent.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentAgg {
    /// The counters.
    pub c: AgentCounters,
}

impl AgentAgg {
    /// Applies a fact attributed to the agent with `sign`.
    pub fn apply(&mut self, kind: &FactKind, sign: i64) {
        let c = &mut self.c;
        match *kind {
            FactKind::Handled { talk, hold, acw } => {
                c.handled += sign;
                c.talk_sum += sign * talk;
                c.hold_sum += sign * hold;
                c.acw_sum += sign * acw;
            }
            FactKind::Csat { satisfied, .. } => {
                c.csat_responses += sign;
                c.csat_satisfied += sign * i64::from(satisfied);
            }
            FactKind::Nps { score, .. } => {
                c.nps_responses += sign;
                c.nps_promoters += sign * i64::from(score >= 9);
                c.nps_detractors += sign * i64::from(score <= 6);
            }
            FactKind::SurveySent { kind: SurveyKind::Csat } => c.csat_sent += sign,
            FactKind::SurveySent { kind: SurveyKind::Nps } => c.nps_sent += sign,
            FactKind::SurveyAnswered { kind: SurveyKind::Csat } => c.csat_sent_answered += sign,
            FactKind::SurveyAnswered { kind: SurveyKind::Nps } => c.nps_sent_answered += sign,
            FactKind::AgentSl { met } => {
                c.sl_judged += sign;
                c.sl_met += sign * i64::from(met);
            }
            _ => {}
        }
    }
}

impl Aggregate for AgentAgg {
    fn merge(&mut self, other: &Self, sign: i64) {
        self.c.merge(&other.c, sign);
    }
    fn is_zero(&self) -> bool {
        self.c.is_zero()
    }
    fn clear(&mut self) {
        self.c = AgentCounters::default();
    }
}

impl Slice for AgentAgg {
    type Sum = AgentAgg;

    fn add_to(&self, sum: &mut AgentAgg) {
        sum.merge(self, 1);
    }
    fn clear(&mut self) {
        Aggregate::clear(self);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Facts of every kind, with few distinct values, so that the same fact recurs.
    fn fact_kind() -> impl Strategy<Value = FactKind> {
        let wait = proptest::option::of(0i64..3).prop_map(|w| w.map(|w| w * 20_000));
        prop_oneof![
            proptest::option::of(any::<bool>()).prop_map(|fcr| FactKind::Offered { fcr }),
            (wait.clone(), any::<bool>()).prop_map(|(wait, met)| FactKind::Answered { wait, met }),
            (wait, any::<bool>(), any::<bool>()).prop_map(|(wait, within, short)| FactKind::Abandoned {
                wait,
                within,
                short
            }),
            Just(FactKind::TransferredOut),
            Just(FactKind::FlowedOut),
            (0i64..3, 0i64..2).prop_map(|(talk, acw)| FactKind::Handled {
                talk: talk * 60_000,
                hold: 0,
                acw: acw * 1_000,
            }),
            Just(FactKind::ResolvedMet),
            any::<bool>().prop_map(|met| FactKind::AgentSl { met }),
            (any::<bool>(), proptest::option::of(0i64..3), any::<bool>()).prop_map(|(satisfied, delay, immediate)| {
                FactKind::Csat {
                    satisfied,
                    delay: delay.map(|d| d * 3_600_000),
                    immediate,
                }
            }),
            (0u8..=10, any::<bool>(), proptest::option::of(0i64..3), any::<bool>()).prop_map(
                |(score, transactional, delay, immediate)| FactKind::Nps {
                    score,
                    transactional,
                    delay: delay.map(|d| d * 3_600_000),
                    immediate,
                }
            ),
            prop_oneof![Just(SurveyKind::Csat), Just(SurveyKind::Nps)].prop_map(|kind| FactKind::SurveySent { kind }),
            prop_oneof![Just(SurveyKind::Csat), Just(SurveyKind::Nps)]
                .prop_map(|kind| FactKind::SurveyAnswered { kind }),
        ]
    }

    proptest! {
        /// A slice, whether it holds its facts or their sum, adds into a window exactly
        /// what applying the same facts to a sum gives; facts added and then retracted,
        /// in any order, leave it empty.
        #[test]
        fn a_slice_counts_what_a_sum_counts(
            ops in proptest::collection::vec((fact_kind(), -1i64..=2), 0..12),
            seed in any::<u64>(),
        ) {
            let mut slice = QueueSlice::default();
            let mut expected = QueueAgg::default();
            for (k, sign) in &ops {
                slice.apply(k, *sign);
                expected.apply(k, *sign);
            }
            let mut got = QueueAgg::default();
            slice.add_to(&mut got);
            prop_assert_eq!(&got, &expected);
            // Retract everything in another order.
            let mut undo = ops.clone();
            let n = undo.len().max(1);
            undo.rotate_left(seed as usize % n);
            for (k, sign) in &undo {
                slice.apply(k, -sign);
            }
            let mut none = QueueAgg::default();
            slice.add_to(&mut none);
            prop_assert!(none.is_zero());
        }
    }

    #[test]
    fn a_slice_sums_past_a_few_distinct_facts() {
        let mut slice = QueueSlice::default();
        let handled = |talk| FactKind::Handled { talk, hold: 0, acw: 0 };
        slice.apply(&FactKind::Offered { fcr: None }, 1);
        slice.apply(&FactKind::Offered { fcr: None }, 1);
        assert!(
            matches!(slice, QueueSlice::Few { len: 1, .. }),
            "the same fact twice is one pair"
        );
        slice.apply(&handled(1_000), 1);
        slice.apply(&FactKind::Offered { fcr: None }, -2);
        assert!(
            matches!(slice, QueueSlice::Few { len: 1, .. }),
            "a fact retracted to zero is removed"
        );
        for talk in 2..=FEW as i64 + 1 {
            slice.apply(&handled(talk * 1_000), 1);
        }
        let QueueSlice::Sum(sum) = &slice else {
            panic!("more distinct facts than FEW are summed: {slice:?}");
        };
        assert_eq!(sum.c.handled, FEW as i64 + 1);
        assert_eq!(sum.handle.count(), FEW as i64 + 1);
        slice.clear();
        assert!(matches!(slice, QueueSlice::Few { len: 0, .. }));
    }
}
