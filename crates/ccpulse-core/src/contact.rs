//! The lifecycle of one contact: its legs, holds, transfers and after-contact work, and
//! the facts it contributes.
//!
//! A contact keeps its events sorted by event time and derives its facts from all of
//! them at once, so the result does not depend on arrival order: when a late event
//! changes the story (an answer that was really after a transfer, an offer that arrives
//! after its answer), the engine retracts the facts that no longer hold and adds the new
//! ones. Events with equal `ts` are ordered by lifecycle rank, then by a hash of their
//! id, which makes the order total and independent of arrival.

use std::num::NonZeroU64;

use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64;

use crate::agg::{Fact, FactKind, LeafKey, NameId};
use crate::event::{Channel, CsatScale, SurveyAnswer};
use crate::policy::{Measure, Policy};
use crate::sorted::insert_sorted;
use crate::time::Millis;

/// The key of a customer id or a topic: its 64-bit xxh3 hash (a hash of 0 is taken as
/// 1). Two customers share a key with probability 2^-64 a pair, and would then also
/// need the same topic within the FCR horizon to be mistaken for each other. Keys of
/// 64 bits keep a contact event at 48 bytes (with a 128-bit customer key it was 80, and
/// the events of a contact are read at every event of it).
pub fn key64(s: &str) -> NonZeroU64 {
    NonZeroU64::new(xxh3_64(s.as_bytes())).unwrap_or(NonZeroU64::MIN)
}

/// A contact event, reduced to what the lifecycle needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContactEvent {
    /// Event time.
    pub ts: Millis,
    /// Tie-break among equal `ts` and rank: the arrival order.
    pub tiebreak: u64,
    /// What happened.
    pub kind: ContactEventKind,
}

/// The contact event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactEventKind {
    /// `contact.offered`.
    Offered {
        /// Channel.
        channel: Channel,
        /// Queue.
        queue: NameId,
        /// Segment.
        segment: Option<NameId>,
        /// Customer key (see [`key64`]).
        customer: Option<NonZeroU64>,
        /// Topic key (see [`key64`]).
        topic: Option<NonZeroU64>,
        /// Producer's repeat verdict.
        repeat: Option<bool>,
    },
    /// `contact.answered`.
    Answered {
        /// Agent.
        agent: NameId,
        /// Fallback channel.
        channel: Option<Channel>,
        /// Fallback queue.
        queue: Option<NameId>,
    },
    /// `contact.abandoned`.
    Abandoned {
        /// Fallback channel.
        channel: Option<Channel>,
        /// Fallback queue.
        queue: Option<NameId>,
    },
    /// `contact.flowed_out`.
    FlowedOut {
        /// Fallback channel.
        channel: Option<Channel>,
        /// Fallback queue.
        queue: Option<NameId>,
    },
    /// `contact.hold_started`.
    HoldStarted,
    /// `contact.hold_ended`.
    HoldEnded,
    /// `contact.transferred`.
    Transferred {
        /// New queue.
        to_queue: NameId,
    },
    /// `contact.ended`.
    Ended {
        /// Resolution verdict.
        resolved: Option<bool>,
    },
    /// `contact.wrapped_up`.
    WrappedUp,
    /// A survey about this contact.
    Survey {
        /// The answer.
        answer: SurveyAnswer,
        /// Explicit channel.
        channel: Option<Channel>,
        /// Explicit queue.
        queue: Option<NameId>,
        /// Explicit agent.
        agent: Option<NameId>,
    },
}

impl ContactEventKind {
    fn rank(&self) -> u8 {
        match self {
            ContactEventKind::Offered { .. } => 0,
            ContactEventKind::Answered { .. } => 1,
            ContactEventKind::Abandoned { .. } => 2,
            ContactEventKind::FlowedOut { .. } => 3,
            ContactEventKind::HoldStarted => 4,
            ContactEventKind::HoldEnded => 5,
            ContactEventKind::Transferred { .. } => 6,
            ContactEventKind::Ended { .. } => 7,
            ContactEventKind::WrappedUp => 8,
            ContactEventKind::Survey { .. } => 9,
        }
    }
}

impl ContactEvent {
    fn sort_key(&self) -> (Millis, u8, u64) {
        (self.ts, self.kind.rank(), self.tiebreak)
    }
}

/// Where a finished contact's surveys are attributed: its last answered leg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    /// Queue of the last answered leg.
    pub queue: Option<NameId>,
    /// Channel of the contact.
    pub channel: Option<Channel>,
    /// Agent of the last answered leg.
    pub agent: Option<NameId>,
}

/// A leg waiting for an agent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// Its queue group.
    pub leaf: LeafKey,
    /// When it was offered to the queue.
    pub since: Millis,
    /// The SLA threshold that applies to it.
    pub threshold: Millis,
}

/// The first `contact.offered` of a contact, as the FCR customer index needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstOffer {
    /// Offer time.
    pub ts: Millis,
    /// Customer key.
    pub customer: Option<NonZeroU64>,
    /// Topic key.
    pub topic: Option<NonZeroU64>,
}

/// Resolves the SLA policy of a leg; implemented by the engine with a cache.
pub trait PolicyLookup {
    /// The policy index for a leg, or `None` when no policy covers it.
    fn select(&mut self, channel: Channel, queue: NameId, segment: Option<NameId>) -> Option<u16>;
    /// The policy at `idx`.
    fn policy(&self, idx: u16) -> &Policy;
}

/// Everything one contact contributes, derived from all of its events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Derived {
    /// The facts, in no particular order.
    pub facts: Vec<Fact>,
    /// The leg waiting now, if any.
    pub waiting: Option<Waiting>,
    /// Nothing more is expected for this contact (surveys aside).
    pub terminal: bool,
    /// Where its surveys go.
    pub attribution: Attribution,
    /// Its first offer, for FCR.
    pub first_offer: Option<FirstOffer>,
}

/// One contact's events.
#[derive(Clone, Debug, Default)]
pub struct Contact {
    /// Events sorted by `(ts, rank, tiebreak)`.
    pub events: Vec<ContactEvent>,
    /// The facts currently counted for it.
    pub facts: Vec<Fact>,
    /// Newest event time.
    pub last_ts: Millis,
    /// Repeat verdict from the customer index (used when the offer has no `repeat`).
    pub fcr_repeat: bool,
    /// Cached derivation outputs the engine reads at snapshot time.
    pub waiting: Option<Waiting>,
    /// See [`Derived::terminal`].
    pub terminal: bool,
    /// See [`Derived::attribution`].
    pub attribution: Attribution,
    /// It has been entered in the FCR customer index.
    pub fcr_indexed: bool,
    /// The bucket of its current entry in the engine's eviction schedule.
    pub scheduled: Option<i64>,
}

impl Contact {
    /// Inserts an event in order; says whether it went last.
    pub fn insert(&mut self, ev: ContactEvent) -> bool {
        // A contact has a handful of events: one allocation for them, not three.
        if self.events.is_empty() {
            self.events.reserve_exact(8);
        }
        let at = insert_sorted(&mut self.events, ev, ContactEvent::sort_key);
        if self.events.len() == 1 || ev.ts > self.last_ts {
            self.last_ts = ev.ts;
        }
        at + 1 == self.events.len()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Open,
    Abandoned(Millis),
    FlowedOut(Millis),
    Transferred(Millis),
    Ended(Millis, Option<bool>),
    EndedUnanswered,
}

#[derive(Clone, Copy, Debug)]
struct Leg {
    queue: Option<NameId>,
    channel: Option<Channel>,
    offered: Option<Millis>,
    from_offer_event: bool,
    answered: Option<(Millis, NameId)>,
    hold: Millis,
    hold_open: Option<Millis>,
    outcome: Outcome,
    wrapped: Option<Millis>,
}

impl Leg {
    fn new(queue: Option<NameId>, channel: Option<Channel>, offered: Option<Millis>) -> Self {
        Leg {
            queue,
            channel,
            offered,
            from_offer_event: false,
            answered: None,
            hold: 0,
            hold_open: None,
            outcome: Outcome::Open,
            wrapped: None,
        }
    }

    fn close_hold(&mut self, at: Millis) {
        if let Some(s) = self.hold_open.take() {
            self.hold += (at - s).max(0);
        }
    }

    fn fill(&mut self, queue: Option<NameId>, channel: Option<Channel>) {
        if self.queue.is_none() {
            self.queue = queue;
        }
        if self.channel.is_none() {
            self.channel = channel;
        }
    }
}

/// What a leg needs of its SLA policy.
#[derive(Clone, Copy, Debug)]
struct LegPolicy {
    threshold: Millis,
    measure: Measure,
    short_abandon: Millis,
}

/// Derives a contact's facts from its sorted events.
pub fn derive(events: &[ContactEvent], fcr_repeat: bool, policies: &mut dyn PolicyLookup) -> Derived {
    let mut out = Derived::default();
    derive_into(events, fcr_repeat, policies, &mut out);
    out
}

/// [`derive()`] into `out`, reusing its allocation (the engine derives on every event).
pub fn derive_into(events: &[ContactEvent], fcr_repeat: bool, policies: &mut dyn PolicyLookup, out: &mut Derived) {
    out.facts.clear();
    out.waiting = None;
    // Most contacts have one or two legs: keep them off the heap.
    let mut legs: SmallVec<[Leg; 2]> = SmallVec::new();
    let mut segment = None;
    let mut first_offer = None;
    let mut repeat_field = None;
    let mut surveys = false;

    for ev in events {
        let ts = ev.ts;
        match ev.kind {
            ContactEventKind::Offered {
                channel,
                queue,
                segment: seg,
                customer,
                topic,
                repeat,
            } => {
                // The first offer opens the contact; an offer after an orphan follow-up
                // completes that leg; any further offer is a re-send and is ignored.
                let fill_orphan = legs.len() == 1 && !legs[0].from_offer_event && legs[0].offered.is_none();
                if legs.is_empty() || fill_orphan {
                    if legs.is_empty() {
                        legs.push(Leg::new(None, None, None));
                    }
                    let leg = &mut legs[0];
                    leg.queue = Some(queue);
                    leg.channel = Some(channel);
                    leg.offered = Some(ts);
                    leg.from_offer_event = true;
                    segment = seg;
                    repeat_field = repeat;
                    first_offer = Some(FirstOffer { ts, customer, topic });
                }
            }
            ContactEventKind::Answered { agent, channel, queue } => {
                if legs.is_empty() {
                    legs.push(Leg::new(queue, channel, None));
                }
                let Some(leg) = legs.last_mut() else { continue };
                if leg.answered.is_none() && leg.outcome == Outcome::Open {
                    leg.fill(queue, channel);
                    leg.answered = Some((ts, agent));
                }
            }
            ContactEventKind::Abandoned { channel, queue } => {
                if legs.is_empty() {
                    legs.push(Leg::new(queue, channel, None));
                }
                let Some(leg) = legs.last_mut() else { continue };
                if leg.answered.is_none() && leg.outcome == Outcome::Open {
                    leg.fill(queue, channel);
                    leg.outcome = Outcome::Abandoned(ts);
                }
            }
            ContactEventKind::FlowedOut { channel, queue } => {
                if legs.is_empty() {
                    legs.push(Leg::new(queue, channel, None));
                }
                let Some(leg) = legs.last_mut() else { continue };
                if leg.answered.is_none() && leg.outcome == Outcome::Open {
                    leg.fill(queue, channel);
                    leg.outcome = Outcome::FlowedOut(ts);
                }
            }
            ContactEventKind::HoldStarted => {
                if let Some(leg) = legs.last_mut() {
                    if leg.answered.is_some() && leg.outcome == Outcome::Open && leg.hold_open.is_none() {
                        leg.hold_open = Some(ts);
                    }
                }
            }
            ContactEventKind::HoldEnded => {
                if let Some(leg) = legs.last_mut() {
                    if leg.outcome == Outcome::Open {
                        leg.close_hold(ts);
                    }
                }
            }
            ContactEventKind::Transferred { to_queue } => {
                if legs.is_empty() {
                    legs.push(Leg::new(None, None, None));
                }
                let Some(leg) = legs.last_mut() else { continue };
                if leg.outcome == Outcome::Open {
                    leg.close_hold(ts);
                    leg.outcome = Outcome::Transferred(ts);
                    let channel = leg.channel;
                    legs.push(Leg::new(Some(to_queue), channel, Some(ts)));
                }
            }
            ContactEventKind::Ended { resolved } => {
                if let Some(leg) = legs.last_mut() {
                    if leg.outcome == Outcome::Open {
                        if leg.answered.is_some() {
                            leg.close_hold(ts);
                            leg.outcome = Outcome::Ended(ts, resolved);
                        } else {
                            leg.outcome = Outcome::EndedUnanswered;
                        }
                    }
                }
            }
            ContactEventKind::WrappedUp => {
                if let Some(leg) = legs.last_mut() {
                    if matches!(leg.outcome, Outcome::Ended(..)) && leg.wrapped.is_none() {
                        leg.wrapped = Some(ts);
                    }
                }
            }
            // Read again once the attribution is known, below.
            ContactEventKind::Survey { .. } => surveys = true,
        }
    }

    out.first_offer = first_offer;
    // A contact whose channel is known only from its first leg keeps it after transfers.
    let contact_channel = legs.iter().find_map(|l| l.channel);
    for leg in &mut legs {
        leg.channel = leg.channel.or(contact_channel);
    }

    for (i, leg) in legs.iter().enumerate() {
        let (leaf, policy) = match (leg.queue, leg.channel) {
            (Some(q), Some(ch)) => {
                let p = policies.select(ch, q, segment);
                let params = p.map(|p| {
                    let p = policies.policy(p);
                    LegPolicy {
                        threshold: p.threshold,
                        measure: p.measure,
                        short_abandon: p.short_abandon,
                    }
                });
                (
                    Some(LeafKey {
                        queue: Some(q),
                        channel: Some(ch),
                        policy: p,
                    }),
                    params,
                )
            }
            _ => (None, None),
        };
        let threshold = policy.map(|p| p.threshold);
        let wait_until = |t: Millis| leg.offered.map(|o| (t - o).max(0));
        let mut push = |ts: Millis, leaf: Option<LeafKey>, agent: Option<NameId>, kind: FactKind| {
            if leaf.is_some() || agent.is_some() {
                out.facts.push(Fact { ts, leaf, agent, kind });
            }
        };
        if let (Some(o), Some(_)) = (leg.offered, leaf) {
            let judged = i == 0
                && leg.from_offer_event
                && (repeat_field.is_some() || first_offer.is_some_and(|f| f.customer.is_some()));
            let fcr = judged.then(|| repeat_field.unwrap_or(fcr_repeat));
            push(o, leaf, None, FactKind::Offered { fcr });
        }
        if let Some((at, agent)) = leg.answered {
            if leaf.is_some() {
                let wait = wait_until(at);
                let met =
                    matches!(policy, Some(p) if p.measure == Measure::Answer && wait.is_some_and(|w| w <= p.threshold));
                push(at, leaf, None, FactKind::Answered { wait, met });
                // The agent's service level: an `answer` policy judges the leg here.
                if policy.is_some_and(|p| p.measure == Measure::Answer) {
                    push(at, None, Some(agent), FactKind::AgentSl { met });
                }
            }
        }
        match leg.outcome {
            Outcome::Open => {
                if leg.answered.is_none() {
                    if let (Some(leaf), Some(since)) = (leaf, leg.offered) {
                        out.waiting = Some(Waiting {
                            leaf,
                            since,
                            threshold: threshold.unwrap_or(Millis::MAX),
                        });
                    }
                }
            }
            Outcome::Abandoned(at) => {
                if leaf.is_some() {
                    let wait = wait_until(at);
                    let within = matches!((wait, threshold), (Some(w), Some(t)) if w <= t);
                    let short = matches!((wait, policy), (Some(w), Some(p)) if w < p.short_abandon);
                    push(at, leaf, None, FactKind::Abandoned { wait, within, short });
                }
            }
            Outcome::FlowedOut(at) => {
                if leaf.is_some() {
                    push(at, leaf, None, FactKind::FlowedOut);
                }
            }
            Outcome::Transferred(at) => {
                if leaf.is_some() {
                    push(at, leaf, None, FactKind::TransferredOut);
                }
                if let Some((ans, agent)) = leg.answered {
                    let talk = (at - ans - leg.hold).max(0);
                    push(
                        at,
                        leaf,
                        Some(agent),
                        FactKind::Handled {
                            talk,
                            hold: leg.hold,
                            acw: 0,
                        },
                    );
                }
            }
            Outcome::Ended(at, resolved) => {
                if let Some(p) = policy.filter(|p| p.measure == Measure::Resolve) {
                    let met = resolved != Some(false) && leg.offered.is_some_and(|o| at - o <= p.threshold);
                    if met {
                        push(at, leaf, None, FactKind::ResolvedMet);
                    }
                    // The agent's service level: a `resolve` policy judges the leg at its end.
                    if let Some((_, agent)) = leg.answered {
                        push(at, None, Some(agent), FactKind::AgentSl { met });
                    }
                }
                if let (Some(w), Some((ans, agent))) = (leg.wrapped, leg.answered) {
                    let talk = (at - ans - leg.hold).max(0);
                    let acw = (w - at).max(0);
                    push(
                        w,
                        leaf,
                        Some(agent),
                        FactKind::Handled {
                            talk,
                            hold: leg.hold,
                            acw,
                        },
                    );
                }
            }
            Outcome::EndedUnanswered => {}
        }
    }

    out.terminal = match legs.last() {
        None => true,
        Some(leg) => match leg.outcome {
            Outcome::Open | Outcome::Transferred(_) => false,
            Outcome::Ended(..) => leg.wrapped.is_some(),
            Outcome::Abandoned(_) | Outcome::FlowedOut(_) | Outcome::EndedUnanswered => true,
        },
    };
    out.attribution = match legs.iter().rev().find(|l| l.answered.is_some()) {
        Some(l) => Attribution {
            queue: l.queue,
            channel: l.channel,
            agent: l.answered.map(|(_, a)| a),
        },
        None => Attribution {
            queue: None,
            channel: contact_channel,
            agent: None,
        },
    };
    if surveys {
        for ev in events {
            if let ContactEventKind::Survey {
                answer,
                channel,
                queue,
                agent,
            } = ev.kind
            {
                let f = survey_fact(ev.ts, answer, true, channel, queue, agent, out.attribution);
                out.facts.push(f);
            }
        }
    }
}

/// The fact of a survey, attributed to `base` with explicit fields winning.
pub fn survey_fact(
    ts: Millis,
    answer: SurveyAnswer,
    transactional: bool,
    channel: Option<Channel>,
    queue: Option<NameId>,
    agent: Option<NameId>,
    base: Attribution,
) -> Fact {
    let queue = queue.or(base.queue);
    let channel = channel.or(base.channel);
    let agent = agent.or(base.agent);
    let kind = match answer {
        SurveyAnswer::Csat { score, scale } => FactKind::Csat {
            satisfied: match scale {
                CsatScale::Thumbs => score == 1,
                CsatScale::Five => score >= 4,
            },
        },
        SurveyAnswer::Nps { score } => FactKind::Nps { score, transactional },
    };
    Fact {
        ts,
        leaf: Some(LeafKey {
            queue,
            channel,
            policy: None,
        }),
        agent,
        kind,
    }
}
