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
use crate::event::{Channel, CsatScale, SurveyAnswer, SurveyKind};
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
    /// `survey.sent`: a survey was sent about this contact.
    SurveySent {
        /// CSAT or NPS.
        kind: SurveyKind,
        /// Explicit channel.
        channel: Option<Channel>,
        /// Explicit queue.
        queue: Option<NameId>,
        /// Explicit agent.
        agent: Option<NameId>,
    },
    /// A survey answer about this contact.
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
            ContactEventKind::SurveySent { .. } => 9,
            ContactEventKind::Survey { .. } => 10,
        }
    }
}

impl ContactEvent {
    fn sort_key(&self) -> (Millis, u8, u64) {
        (self.ts, self.kind.rank(), self.tiebreak)
    }
}

/// Where a finished contact's surveys are attributed: its last answered leg. Also the
/// explicit fields of a survey event, which win over the contact's ([`Attribution::or`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    /// Queue of the last answered leg.
    pub queue: Option<NameId>,
    /// Channel of the contact.
    pub channel: Option<Channel>,
    /// Agent of the last answered leg.
    pub agent: Option<NameId>,
}

impl Attribution {
    /// These fields, each completed from `base` where absent.
    pub fn or(self, base: Attribution) -> Attribution {
        Attribution {
            queue: self.queue.or(base.queue),
            channel: self.channel.or(base.channel),
            agent: self.agent.or(base.agent),
        }
    }

    /// The survey group these fields name (queue and channel; no policy).
    pub fn leaf(self) -> LeafKey {
        LeafKey {
            queue: self.queue,
            channel: self.channel,
            policy: None,
        }
    }
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

/// What a leg is listed as in the drill-down (`GET /api/v1/queues/{queue}/contacts`):
/// the contacts behind a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillOutcome {
    /// Waiting for an agent now (`waiting`).
    Waiting,
    /// Abandoned (`abandoned`), at `abandoned.ts`.
    Abandoned,
    /// Judged and missed its policy: answered with a wait over the threshold (or with no
    /// known wait) under an `answer` policy, at `answered.ts`; ended not resolved within
    /// the threshold under a `resolve` policy, at `ended.ts`.
    Late,
    /// Flowed out (`flowed_out`), at `flowed_out.ts`.
    FlowedOut,
    /// A repeat contact (`repeat_contacts`), at `offered.ts`.
    Repeat,
}

impl DrillOutcome {
    /// Every outcome, in display order.
    pub const ALL: [DrillOutcome; 5] = [
        DrillOutcome::Waiting,
        DrillOutcome::Abandoned,
        DrillOutcome::Late,
        DrillOutcome::FlowedOut,
        DrillOutcome::Repeat,
    ];

    /// The name in the API: `waiting`, `abandoned`, `late`, `flowed_out`, `repeat`.
    pub fn as_str(self) -> &'static str {
        match self {
            DrillOutcome::Waiting => "waiting",
            DrillOutcome::Abandoned => "abandoned",
            DrillOutcome::Late => "late",
            DrillOutcome::FlowedOut => "flowed_out",
            DrillOutcome::Repeat => "repeat",
        }
    }

    /// Parses an API name.
    pub fn parse(s: &str) -> Option<Self> {
        DrillOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// A leg that the drill-down lists under a decided outcome (every outcome but
/// `waiting`, which is [`Waiting`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrillLeg {
    /// Its queue group.
    pub leaf: LeafKey,
    /// What it is listed as.
    pub outcome: DrillOutcome,
    /// The time of the event that decides the figure it is behind.
    pub decided: Millis,
    /// When the leg was offered to its queue, when seen.
    pub offered: Option<Millis>,
    /// How long the leg waited: until its answer, abandon, flow-out or transfer; `None`
    /// when its offer was not seen or it still waits.
    pub wait: Option<Millis>,
    /// The agent who answered the leg.
    pub agent: Option<NameId>,
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
    /// The contact's `ended.ts`: the `contact.ended` that ended its last leg (answered
    /// or not); `None` while it has not ended, or when it ended otherwise (abandoned,
    /// flowed out). Survey delays are measured from it.
    pub ended: Option<Millis>,
    /// Its legs with a drill-down outcome (abandoned, late, flowed out, repeat).
    pub drill: Vec<DrillLeg>,
    /// It has survey events (sent or answered).
    pub surveyed: bool,
}

/// One contact's events.
#[derive(Clone, Debug, Default)]
pub struct Contact {
    /// Events sorted by `(ts, rank, tiebreak)`.
    pub events: Vec<ContactEvent>,
    /// Newest event time.
    pub last_ts: Millis,
    /// Repeat verdict from the customer index (used when the offer has no `repeat`).
    pub fcr_repeat: bool,
    /// The verdict its counted facts were derived with. The facts themselves are not
    /// kept: derived again from the events they were derived from, when the contact
    /// changes, they are what is counted for it (see `Engine::rederive`).
    pub applied_repeat: bool,
    /// Cached derivation outputs the engine reads at snapshot time.
    pub waiting: Option<Waiting>,
    /// See [`Derived::terminal`].
    pub terminal: bool,
    /// See [`Derived::attribution`].
    pub attribution: Attribution,
    /// See [`Derived::ended`].
    pub ended: Option<Millis>,
    /// See [`Derived::surveyed`].
    pub surveyed: bool,
    /// Its `contact_id`, then its `customer_id`, for the drill-down lists: one buffer,
    /// which the engine reuses for the next contact (no allocation per contact).
    pub ids: String,
    /// The length of the `contact_id` in `ids`; the rest is the `customer_id`.
    pub id_len: u16,
    /// `ids` holds a `customer_id` (it may be empty).
    pub has_customer: bool,
    /// It has been entered in the FCR customer index.
    pub fcr_indexed: bool,
    /// The bucket of its current entry in the engine's eviction schedule.
    pub scheduled: Option<i64>,
}

impl Contact {
    /// Inserts an event in order; returns where it went in [`Contact::events`].
    pub fn insert(&mut self, ev: ContactEvent) -> usize {
        // A contact has a handful of events: one allocation for them, not three.
        if self.events.is_empty() {
            self.events.reserve_exact(8);
        }
        let at = insert_sorted(&mut self.events, ev, ContactEvent::sort_key);
        if self.events.len() == 1 || ev.ts > self.last_ts {
            self.last_ts = ev.ts;
        }
        at
    }

    /// Its events but the one at `inserted` (all of them for `None`): those its
    /// counted facts were derived from, when `inserted` is the event inserted since.
    /// `scratch` holds them when the event went anywhere but last.
    pub fn events_before<'a>(
        &'a self,
        inserted: Option<usize>,
        scratch: &'a mut Vec<ContactEvent>,
    ) -> &'a [ContactEvent] {
        match inserted {
            None => &self.events,
            Some(i) if i + 1 >= self.events.len() => self.events.get(..i).unwrap_or_default(),
            Some(i) => {
                scratch.clear();
                scratch.extend(self.events.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, e)| *e));
                scratch
            }
        }
    }

    /// Sets the `contact_id` (of a new contact).
    pub fn set_contact_id(&mut self, contact_id: &str) {
        self.ids.clear();
        self.ids.push_str(contact_id);
        // Ids are at most 128 characters (512 bytes): validated when parsed.
        self.id_len = u16::try_from(contact_id.len()).unwrap_or(u16::MAX);
        self.has_customer = false;
    }

    /// The `contact_id`.
    pub fn contact_id(&self) -> &str {
        self.ids.get(..usize::from(self.id_len)).unwrap_or_default()
    }

    /// The `customer_id` of its earliest offer that names one.
    pub fn customer_id(&self) -> Option<&str> {
        self.has_customer
            .then(|| self.ids.get(usize::from(self.id_len)..))
            .flatten()
    }

    /// Records the `customer_id` of the `contact.offered` just inserted at `ts` with
    /// `tiebreak`, when it is the contact's earliest offer naming a customer: the one
    /// shown, whatever the arrival order.
    pub fn offered_by(&mut self, ts: Millis, tiebreak: u64, customer_id: &str) {
        let first = self
            .events
            .iter()
            .find(|e| matches!(e.kind, ContactEventKind::Offered { customer: Some(_), .. }));
        if first.is_some_and(|e| e.ts == ts && e.tiebreak == tiebreak) {
            self.ids.truncate(usize::from(self.id_len));
            self.ids.push_str(customer_id);
            self.has_customer = true;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Open,
    Abandoned(Millis),
    FlowedOut(Millis),
    Transferred(Millis),
    Ended(Millis, Option<bool>),
    EndedUnanswered(Millis),
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

/// The leg an answer, an abandon or a flow-out decides: the contact's last leg, made
/// from the event's own `queue` and `channel` when the contact has none yet (its offer
/// not seen), and given them where it lacks them. `None` when that leg was already
/// answered or has an outcome: the event then decides nothing.
fn undecided_leg(legs: &mut SmallVec<[Leg; 2]>, queue: Option<NameId>, channel: Option<Channel>) -> Option<&mut Leg> {
    if legs.is_empty() {
        legs.push(Leg::new(queue, channel, None));
    }
    let leg = legs.last_mut()?;
    if leg.answered.is_some() || leg.outcome != Outcome::Open {
        return None;
    }
    leg.fill(queue, channel);
    Some(leg)
}

/// What a leg needs of its SLA policy.
#[derive(Clone, Copy, Debug)]
struct LegPolicy {
    threshold: Millis,
    measure: Measure,
    short_abandon: Millis,
}

/// Derives a contact's facts from its sorted events.
///
/// A survey answer with a delay (from the contact's `ended.ts`) of at most
/// `immediate_within` is immediate, a later one later.
pub fn derive(
    events: &[ContactEvent],
    fcr_repeat: bool,
    policies: &mut dyn PolicyLookup,
    immediate_within: Millis,
) -> Derived {
    let mut out = Derived::default();
    derive_into(events, fcr_repeat, policies, immediate_within, &mut out);
    out
}

/// [`derive()`] into `out`, reusing its allocation (the engine derives on every event).
pub fn derive_into(
    events: &[ContactEvent],
    fcr_repeat: bool,
    policies: &mut dyn PolicyLookup,
    immediate_within: Millis,
    out: &mut Derived,
) {
    out.facts.clear();
    out.drill.clear();
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
                if let Some(leg) = undecided_leg(&mut legs, queue, channel) {
                    leg.answered = Some((ts, agent));
                }
            }
            ContactEventKind::Abandoned { channel, queue } => {
                if let Some(leg) = undecided_leg(&mut legs, queue, channel) {
                    leg.outcome = Outcome::Abandoned(ts);
                }
            }
            ContactEventKind::FlowedOut { channel, queue } => {
                if let Some(leg) = undecided_leg(&mut legs, queue, channel) {
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
                            leg.outcome = Outcome::EndedUnanswered(ts);
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
            ContactEventKind::Survey { .. } | ContactEventKind::SurveySent { .. } => surveys = true,
        }
    }

    out.first_offer = first_offer;
    // A contact whose channel is known only from its first leg keeps it after transfers.
    let contact_channel = legs.iter().find_map(|l| l.channel);
    for leg in &mut legs {
        leg.channel = leg.channel.or(contact_channel);
    }

    for (i, leg) in legs.iter().enumerate() {
        let (leaf, policy, chosen) = match (leg.queue, leg.channel) {
            (Some(q), Some(ch)) => {
                let p = policies.select(ch, q, segment);
                let chosen = p.map(|p| policies.policy(p));
                let params = chosen.map(|p| LegPolicy {
                    threshold: p.threshold,
                    measure: p.measure,
                    short_abandon: p.short_abandon,
                });
                (
                    Some(LeafKey {
                        queue: Some(q),
                        channel: Some(ch),
                        policy: p,
                    }),
                    params,
                    chosen,
                )
            }
            _ => (None, None, None),
        };
        let threshold = policy.map(|p| p.threshold);
        // The time that counts against the threshold: under business hours the open
        // time of [offered, decision), else all of it.
        let counted = |o: Millis, t: Millis| chosen.map_or((t - o).max(0), |p| p.elapsed(o, t));
        let wait_until = |t: Millis| leg.offered.map(|o| counted(o, t));
        // The leg's drill-down outcomes: what each is, and when it is decided.
        let until = leg.answered.map(|(at, _)| at).or(match leg.outcome {
            Outcome::Abandoned(at) | Outcome::FlowedOut(at) | Outcome::Transferred(at) => Some(at),
            _ => None,
        });
        let mut list = |outcome: DrillOutcome, decided: Millis| {
            if let Some(leaf) = leaf {
                out.drill.push(DrillLeg {
                    leaf,
                    outcome,
                    decided,
                    offered: leg.offered,
                    // The wait until the leg's answer, abandon, flow-out or transfer.
                    wait: until.and_then(wait_until),
                    agent: leg.answered.map(|(_, a)| a),
                });
            }
        };
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
            if fcr == Some(true) {
                list(DrillOutcome::Repeat, o);
            }
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
                    if !met {
                        list(DrillOutcome::Late, at);
                    }
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
                    list(DrillOutcome::Abandoned, at);
                }
            }
            Outcome::FlowedOut(at) => {
                if leaf.is_some() {
                    push(at, leaf, None, FactKind::FlowedOut);
                    list(DrillOutcome::FlowedOut, at);
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
                    let met = resolved != Some(false) && leg.offered.is_some_and(|o| counted(o, at) <= p.threshold);
                    if met {
                        push(at, leaf, None, FactKind::ResolvedMet);
                    }
                    // The agent's service level: a `resolve` policy judges the leg at its end.
                    if let Some((_, agent)) = leg.answered {
                        push(at, None, Some(agent), FactKind::AgentSl { met });
                    }
                    if !met {
                        list(DrillOutcome::Late, at);
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
            Outcome::EndedUnanswered(_) => {}
        }
    }

    out.terminal = match legs.last() {
        None => true,
        Some(leg) => match leg.outcome {
            Outcome::Open | Outcome::Transferred(_) => false,
            Outcome::Ended(..) => leg.wrapped.is_some(),
            Outcome::Abandoned(_) | Outcome::FlowedOut(_) | Outcome::EndedUnanswered(_) => true,
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
    out.ended = legs.iter().find_map(|l| match l.outcome {
        Outcome::Ended(at, _) | Outcome::EndedUnanswered(at) => Some(at),
        _ => None,
    });
    out.surveyed = surveys;
    if surveys {
        survey_facts(events, out, immediate_within);
    }
}

/// The facts of a contact's surveys: each answer (with its delay from the contact's
/// end), and the sent surveys with their responses ([`SurveyMemo::facts`]).
fn survey_facts(events: &[ContactEvent], out: &mut Derived, immediate_within: Millis) {
    let mut memo = SurveyMemo::default();
    for ev in events {
        let answer = answer_fact(ev.ts, ev.kind, out.attribution, out.ended, immediate_within);
        out.facts.extend(answer);
        memo.record(ev.ts, ev.kind);
    }
    memo.facts(out.attribution, &mut out.facts);
}

/// What response rates need of a contact's surveys, per kind: the first `survey.sent`
/// (its time and explicit fields) and the time of the first answer. A survey sent twice
/// is one survey, sent at its first send; a second answer is an answer (it counts in
/// CSAT or NPS) but not a second response. The engine keeps one for a finished contact
/// it remembers, so that surveys sent or answered days later are still matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SurveyMemo {
    sent: [Option<(Millis, Attribution)>; 2],
    answered: [Option<Millis>; 2],
}

impl SurveyMemo {
    /// The memo of a contact's events; `None` when it has no survey event.
    pub fn of(events: &[ContactEvent]) -> Option<SurveyMemo> {
        let mut memo = SurveyMemo::default();
        let mut surveyed = false;
        for ev in events {
            surveyed |= memo.record(ev.ts, ev.kind);
        }
        surveyed.then_some(memo)
    }

    /// Records a survey event at `ts`, a send ([`SurveyMemo::sent`]) or an answer
    /// ([`SurveyMemo::answered`]); says whether `kind` was one. Any other event is not
    /// recorded.
    pub fn record(&mut self, ts: Millis, kind: ContactEventKind) -> bool {
        match kind {
            ContactEventKind::SurveySent {
                kind,
                channel,
                queue,
                agent,
            } => self.sent(ts, kind, Attribution { queue, channel, agent }),
            ContactEventKind::Survey { answer, .. } => self.answered(ts, answer.kind()),
            _ => return false,
        }
        true
    }

    /// Records a `survey.sent` at `ts` with its `explicit` fields; the earliest send
    /// stays (of equal times, the one recorded first).
    pub fn sent(&mut self, ts: Millis, kind: SurveyKind, explicit: Attribution) {
        let first = &mut self.sent[kind.index()];
        if first.is_none_or(|(t, _)| ts < t) {
            *first = Some((ts, explicit));
        }
    }

    /// Records an answer of `kind` at `ts`; the earliest stays.
    pub fn answered(&mut self, ts: Millis, kind: SurveyKind) {
        let first = &mut self.answered[kind.index()];
        if first.is_none_or(|t| ts < t) {
            *first = Some(ts);
        }
    }

    /// Appends the facts of the sent surveys to `out`: per kind sent, the send at its
    /// time and, when answered, the response at the first answer's time, both for the
    /// group of the sent survey (its explicit fields, else `base`, the contact's).
    pub fn facts(&self, base: Attribution, out: &mut impl Extend<Fact>) {
        for kind in SurveyKind::ALL {
            let Some((ts, explicit)) = self.sent[kind.index()] else {
                continue;
            };
            let to = explicit.or(base);
            out.extend([sent_fact(ts, kind, to)]);
            if let Some(answered_at) = self.answered[kind.index()] {
                out.extend([Fact {
                    kind: FactKind::SurveyAnswered { kind },
                    ..sent_fact(answered_at, kind, to)
                }]);
            }
        }
    }
}

/// The fact of a sent survey, for the group `to`.
pub fn sent_fact(ts: Millis, kind: SurveyKind, to: Attribution) -> Fact {
    Fact {
        ts,
        leaf: Some(to.leaf()),
        agent: to.agent,
        kind: FactKind::SurveySent { kind },
    }
}

/// The fact of a survey answer event at `ts` of a contact whose survey attribution and
/// `ended.ts` are `base` and `ended` ([`survey_fact`], with its delay from the contact's
/// end); `None` for any other event.
pub fn answer_fact(
    ts: Millis,
    kind: ContactEventKind,
    base: Attribution,
    ended: Option<Millis>,
    immediate_within: Millis,
) -> Option<Fact> {
    let ContactEventKind::Survey {
        answer,
        channel,
        queue,
        agent,
    } = kind
    else {
        return None;
    };
    let explicit = Attribution { queue, channel, agent };
    let delay = ended.map(|end| (ts - end).max(0));
    Some(survey_fact(ts, answer, true, explicit, base, delay, immediate_within))
}

/// The fact of a survey answer, attributed to `base` with the `explicit` fields of the
/// survey winning. `delay` is the time from the contact's end to the answer (0 when
/// answered before the end), when the contact's end is known; an answer with a delay of
/// at most `immediate_within` is immediate, later ones are later.
pub fn survey_fact(
    ts: Millis,
    answer: SurveyAnswer,
    transactional: bool,
    explicit: Attribution,
    base: Attribution,
    delay: Option<Millis>,
    immediate_within: Millis,
) -> Fact {
    let to = explicit.or(base);
    let immediate = delay.is_some_and(|d| d <= immediate_within);
    let kind = match answer {
        SurveyAnswer::Csat { score, scale } => FactKind::Csat {
            satisfied: match scale {
                CsatScale::Thumbs => score == 1,
                CsatScale::Five => score >= 4,
            },
            delay,
            immediate,
        },
        SurveyAnswer::Nps { score } => FactKind::Nps {
            score,
            transactional,
            delay,
            immediate,
        },
    };
    Fact {
        ts,
        leaf: Some(to.leaf()),
        agent: to.agent,
        kind,
    }
}
