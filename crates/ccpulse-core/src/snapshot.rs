//! Snapshots: merged partials turned into the figures of `spec/kpis.md`, in the JSON
//! shapes of `spec/api.md`. A ratio whose denominator is zero is `None` (`null`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;

use crate::agg::{Counters, QueueAgg, SurveyCounters};
use crate::config::EngineConfig;
use crate::contact::DrillOutcome;
use crate::coverage::Coverage;
use crate::erlang::{self, Planning};
use crate::event::{AgentState, Channel};
use crate::partial::{trim_listed, EngineStats, GroupKey, Listed, LiveLeaf, Partial, WindowPartial};
use crate::policy::{Policy, SlCounts};
use crate::threads::on_threads;
use crate::time::{serialize_rfc3339, Millis};

/// The label of the all-channels group.
pub const ALL: &str = "all";

/// A service level of one policy within one group.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PolicyRow {
    /// Policy name.
    pub policy: String,
    /// Its threshold.
    pub threshold_seconds: f64,
    /// Its target.
    pub target: f64,
    /// Numerator of its formula.
    pub met: u64,
    /// Denominator of its formula.
    pub denominator: u64,
    /// met / denominator.
    pub service_level: Option<f64>,
    /// Breached now (set by the breach tracker).
    pub breached: bool,
    #[serde(skip)]
    /// Index of the policy in the configuration.
    pub index: u16,
}

/// One group's figures: a (queue, channel), a channel, or all.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupRow {
    /// Queue, `null` for channel groups.
    pub queue: Option<Arc<str>>,
    /// Channel, or `all`.
    pub channel: String,
    /// Legs offered.
    pub offered: i64,
    /// Legs answered.
    pub answered: i64,
    /// Legs abandoned.
    pub abandoned: i64,
    /// Legs that flowed out: left the queue without an agent, not abandoned.
    pub flowed_out: i64,
    /// Abandoned with wait under the short-abandon threshold.
    pub short_abandoned: i64,
    /// Legs transferred out.
    pub transferred_out: i64,
    /// Legs that met their policy (answered within T, or resolved within T).
    pub answered_within: i64,
    /// Service level, each contact judged by the policy that applies to it.
    pub service_level: Option<f64>,
    /// The policy that covers the group as a whole.
    pub sla_policy: Option<String>,
    /// Its threshold.
    pub sla_threshold_seconds: Option<f64>,
    /// Its target.
    pub sla_target: Option<f64>,
    /// Some policy is breached for this group and window.
    pub breached: bool,
    /// Open now by the business hours of the group's policy (always, without a
    /// calendar): a closed queue is expected to wait and pages nobody.
    pub open: bool,
    /// answered / (answered + abandoned).
    pub answer_rate: Option<f64>,
    /// abandoned / (answered + abandoned).
    pub abandon_rate: Option<f64>,
    /// Mean wait of answered legs.
    pub asa_seconds: Option<f64>,
    /// Wait percentiles of answered legs.
    pub wait_p50_seconds: Option<f64>,
    /// 90th percentile.
    pub wait_p90_seconds: Option<f64>,
    /// 99th percentile.
    pub wait_p99_seconds: Option<f64>,
    /// Live: contacts waiting now.
    pub waiting: i64,
    /// Live: longest current wait, 0 when none waits.
    pub oldest_wait_seconds: f64,
    /// Live: waiting longer than their SLA threshold.
    pub at_risk: i64,
    /// Legs handled (wrapped up, or transferred after answer).
    pub handled: i64,
    /// Mean handle time.
    pub aht_seconds: Option<f64>,
    /// Mean talk.
    pub talk_seconds: Option<f64>,
    /// Mean hold.
    pub hold_seconds: Option<f64>,
    /// Mean ACW.
    pub acw_seconds: Option<f64>,
    /// Handle-time median.
    pub handle_p50_seconds: Option<f64>,
    /// Handle-time 90th percentile.
    pub handle_p90_seconds: Option<f64>,
    /// Contacts judged for FCR.
    pub fcr_contacts: i64,
    /// Of those, repeats.
    pub repeat_contacts: i64,
    /// 1 − repeats / judged.
    pub fcr: Option<f64>,
    /// CSAT answers.
    pub csat_responses: i64,
    /// Satisfied / answers.
    pub csat: Option<f64>,
    /// NPS answers.
    pub nps_responses: i64,
    /// NPS, −100..100.
    pub nps: Option<f64>,
    /// NPS answers without a contact (relationship).
    pub nps_relationship_responses: i64,
    /// Relationship NPS.
    pub nps_relationship: Option<f64>,
    /// Response rates and the immediate / later split.
    #[serde(flatten)]
    pub surveys: SurveyFigures,
    /// Median delay of survey answers from their contact's `ended.ts`.
    pub survey_delay_p50_seconds: Option<f64>,
    /// 90th percentile of that delay.
    pub survey_delay_p90_seconds: Option<f64>,
    /// The agents Erlang C asks for (queue groups of voice and chat with offers and an
    /// AHT in the window, under an `answer` policy), with shrinkage and occupancy.
    pub agents_required: Option<u32>,
    /// Live: agents serving the queue (`agent.state` `queues`) available, busy or in
    /// ACW; queue groups only.
    pub agents_staffed: Option<i64>,
    /// agents_staffed − agents_required.
    pub staffing_gap: Option<i64>,
    /// Service level per policy present in the group.
    pub sla: Vec<PolicyRow>,
    /// Sum of known waits of answered legs, ms (for additive metrics).
    #[serde(skip)]
    pub wait_sum_ms: i64,
    /// Number of answered legs with a known wait.
    #[serde(skip)]
    pub wait_count: i64,
    /// Sum of handle times, ms.
    #[serde(skip)]
    pub handle_sum_ms: i64,
    /// Sum of survey delays, ms.
    #[serde(skip)]
    pub survey_delay_sum_ms: i64,
    /// Survey answers with a known delay.
    #[serde(skip)]
    pub survey_delay_count: i64,
}

/// Surveys sent and answered, and answers by when they came (version 1.1), of a group.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SurveyFigures {
    /// CSAT surveys sent (`survey.sent`, counted once per contact at its first send).
    pub csat_sent: i64,
    /// CSAT answers to a sent survey (its first answer), counted at the answer.
    pub csat_sent_answered: i64,
    /// csat_sent_answered / csat_sent.
    pub csat_response_rate: Option<f64>,
    /// NPS surveys sent.
    pub nps_sent: i64,
    /// NPS answers to a sent survey.
    pub nps_sent_answered: i64,
    /// nps_sent_answered / nps_sent.
    pub nps_response_rate: Option<f64>,
    /// CSAT answers within `surveys.immediate_within` of the contact's end.
    pub csat_immediate_responses: i64,
    /// Their CSAT.
    pub csat_immediate: Option<f64>,
    /// CSAT answers later than that.
    pub csat_later_responses: i64,
    /// Their CSAT.
    pub csat_later: Option<f64>,
    /// Immediate NPS answers.
    pub nps_immediate_responses: i64,
    /// Their NPS.
    pub nps_immediate: Option<f64>,
    /// Later NPS answers.
    pub nps_later_responses: i64,
    /// Their NPS.
    pub nps_later: Option<f64>,
}

impl SurveyFigures {
    /// The figures of the counters.
    pub fn of(s: &SurveyCounters) -> Self {
        SurveyFigures {
            csat_sent: s.csat_sent,
            csat_sent_answered: s.csat_sent_answered,
            csat_response_rate: ratio(s.csat_sent_answered, s.csat_sent),
            nps_sent: s.nps_sent,
            nps_sent_answered: s.nps_sent_answered,
            nps_response_rate: ratio(s.nps_sent_answered, s.nps_sent),
            csat_immediate_responses: s.csat_immediate_responses,
            csat_immediate: ratio(s.csat_immediate_satisfied, s.csat_immediate_responses),
            csat_later_responses: s.csat_later_responses,
            csat_later: ratio(s.csat_later_satisfied, s.csat_later_responses),
            nps_immediate_responses: s.nps_immediate_responses,
            nps_immediate: nps(
                s.nps_immediate_promoters,
                s.nps_immediate_detractors,
                s.nps_immediate_responses,
            ),
            nps_later_responses: s.nps_later_responses,
            nps_later: nps(s.nps_later_promoters, s.nps_later_detractors, s.nps_later_responses),
        }
    }
}

/// One agent's figures in a window.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AgentRow {
    /// Agent id.
    pub agent: Arc<str>,
    /// Team.
    pub team: Option<Arc<str>>,
    /// Live state.
    pub state: Option<AgentState>,
    /// Time in the live state.
    pub state_seconds: Option<f64>,
    /// Contacts handled in the window.
    pub handled: i64,
    /// Mean handle time.
    pub aht_seconds: Option<f64>,
    /// Mean talk.
    pub talk_seconds: Option<f64>,
    /// Mean hold.
    pub hold_seconds: Option<f64>,
    /// Mean ACW.
    pub acw_seconds: Option<f64>,
    /// AHT / AHT of the rest of the team (pooled).
    pub aht_vs_team: Option<f64>,
    /// aht_vs_team ≥ ratio and handled ≥ minimum.
    pub outlier: bool,
    /// Answered contacts judged for the agent's service level (each by its own policy,
    /// where the policy's deciding event falls).
    pub sl_judged: i64,
    /// Of those, contacts that met their policy.
    pub sl_met: i64,
    /// sl_met / sl_judged.
    pub service_level: Option<f64>,
    /// The agent's service level minus the pooled service level of the rest of the
    /// team (or first queue), in ratio points; `null` without peers.
    pub sl_vs_team: Option<f64>,
    /// sl_vs_team ≤ −points and sl_judged ≥ minimum.
    pub sl_outlier: bool,
    /// (busy + acw) / (available + busy + acw) time.
    pub occupancy: Option<f64>,
    /// CSAT answers attributed to the agent.
    pub csat_responses: i64,
    /// Satisfied / answers.
    pub csat: Option<f64>,
    /// NPS answers attributed.
    pub nps_responses: i64,
    /// NPS.
    pub nps: Option<f64>,
    /// CSAT surveys sent about the agent's contacts (as for a group).
    pub csat_sent: i64,
    /// Answers to them.
    pub csat_sent_answered: i64,
    /// csat_sent_answered / csat_sent.
    pub csat_response_rate: Option<f64>,
    /// NPS surveys sent about the agent's contacts.
    pub nps_sent: i64,
    /// Answers to them.
    pub nps_sent_answered: i64,
    /// nps_sent_answered / nps_sent.
    pub nps_response_rate: Option<f64>,
    #[serde(skip)]
    /// Queues the agent serves (for filtering).
    pub queues: Vec<Arc<str>>,
}

/// One window, all groups.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WindowView {
    /// Name.
    pub window: String,
    /// Start (inclusive).
    #[serde(serialize_with = "serialize_rfc3339")]
    pub from: Millis,
    /// End (exclusive).
    #[serde(serialize_with = "serialize_rfc3339")]
    pub to: Millis,
    /// (queue, channel) groups with traffic or waiting contacts.
    pub queues: Vec<GroupRow>,
    /// Channel groups, then `all`.
    pub channels: Vec<GroupRow>,
    /// Agents with activity.
    pub agents: Vec<AgentRow>,
}

/// Live agent counts by state for one team or queue.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct StateCounts {
    /// Team or queue name.
    pub name: Arc<str>,
    /// Available agents.
    pub available: i64,
    /// Busy agents.
    pub busy: i64,
    /// In ACW.
    pub acw: i64,
    /// Away.
    pub away: i64,
}

/// Agents by state, live.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct AgentStates {
    /// Per team.
    pub teams: Vec<StateCounts>,
    /// Per queue.
    pub queues: Vec<StateCounts>,
}

/// A breached policy.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Breach {
    /// Policy name.
    pub policy: String,
    /// Queue of the group, `null` for channel groups.
    pub queue: Option<Arc<str>>,
    /// Channel of the group, or `all`.
    pub channel: String,
    /// Window.
    pub window: String,
    /// Service level now.
    pub service_level: f64,
    /// Target.
    pub target: f64,
    /// Denominator now.
    pub denominator: u64,
    /// Breached since.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub since: Millis,
}

/// Everything published at one tick.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Snapshot {
    /// The "now" it is for.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub now: Millis,
    /// Windows in configuration order, `today` last.
    pub windows: Vec<WindowView>,
    /// Agents by state.
    pub agent_states: AgentStates,
    /// Breaches now.
    pub breaches: Vec<Breach>,
    /// What the figures stand for.
    pub coverage: Coverage,
    /// The contacts behind the figures per (queue, channel): the newest
    /// [`MAX_LISTED`](crate::partial::MAX_LISTED) of each outcome, for the drill-down.
    #[serde(skip)]
    pub listed: BTreeMap<(Arc<str>, Channel), Vec<Listed>>,
    /// Engine counters.
    #[serde(skip)]
    pub stats: EngineStats,
}

/// A leaf group of a window with its aggregate.
type LeafRef<'a> = (&'a GroupKey, &'a QueueAgg);

fn ratio(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn seconds(ms: i64, n: i64) -> Option<f64> {
    (n > 0).then(|| ms as f64 / n as f64 / 1000.0)
}

fn secs(ms: Option<Millis>) -> Option<f64> {
    ms.map(|v| v as f64 / 1000.0)
}

fn nps(promoters: i64, detractors: i64, n: i64) -> Option<f64> {
    (n > 0).then(|| 100.0 * (promoters - detractors) as f64 / n as f64)
}

fn sl_counts(c: &Counters) -> SlCounts {
    let u = |v: i64| v.max(0) as u64;
    SlCounts {
        met: u(c.met),
        answered: u(c.answered),
        abandoned: u(c.abandoned),
        abandoned_within: u(c.abandoned_within),
        short_abandoned: u(c.short_abandoned),
        short_abandoned_within: u(c.short_abandoned_within),
        flowed_out: u(c.flowed_out),
    }
}

/// The policy that covers a group as a whole: the most specific segment-free policy
/// whose channel and queue fit the group.
pub fn group_policy(policies: &[Policy], queue: Option<&str>, channel: Option<Channel>) -> Option<usize> {
    let mut best: Option<(usize, u8)> = None;
    for (i, p) in policies.iter().enumerate() {
        if p.segment.is_some() {
            continue;
        }
        let ch_ok = match p.channel {
            None => true,
            Some(c) => channel == Some(c),
        };
        let q_ok = match &p.queue {
            None => true,
            Some(q) => queue == Some(q.as_str()),
        };
        if ch_ok && q_ok {
            let s = u8::from(p.channel.is_some()) + u8::from(p.queue.is_some());
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((i, s));
            }
        }
    }
    best.map(|(i, _)| i)
}

/// Contacts waiting now in a group, their oldest wait counted as their policies count
/// it (open time under business hours).
#[derive(Clone, Copy, Debug, Default)]
struct Live {
    waiting: i64,
    at_risk: i64,
    oldest_wait: Millis,
}

impl Live {
    fn of(l: &LiveLeaf, policy: Option<&Policy>, now: Millis) -> Live {
        let oldest_wait = l
            .oldest_since
            .map_or(0, |s| policy.map_or((now - s).max(0), |p| p.elapsed(s, now)));
        Live {
            waiting: l.waiting,
            at_risk: l.at_risk,
            oldest_wait,
        }
    }

    fn merge(&mut self, other: &Live) {
        self.waiting += other.waiting;
        self.at_risk += other.at_risk;
        self.oldest_wait = self.oldest_wait.max(other.oldest_wait);
    }
}

impl GroupRow {
    /// A group without traffic (every count 0, every ratio absent).
    pub fn empty(queue: Option<Arc<str>>, channel: String) -> GroupRow {
        row(queue, channel, &[], Live::default(), 0, &[], None)
    }
}

fn row(
    queue: Option<Arc<str>>,
    channel: String,
    leaves: &[(&GroupKey, &QueueAgg)],
    live: Live,
    now: Millis,
    policies: &[Policy],
    gp: Option<usize>,
) -> GroupRow {
    let mut agg = QueueAgg::default();
    let mut per_policy: BTreeMap<u16, Counters> = BTreeMap::new();
    for (k, a) in leaves {
        crate::agg::Aggregate::merge(&mut agg, a, 1);
        if let Some(p) = k.policy {
            per_policy.entry(p).or_default().merge(&a.c, 1);
        }
    }
    let c = &agg.c;
    let mut sla = Vec::new();
    let (mut num, mut den) = (0u64, 0u64);
    for (&idx, counts) in &per_policy {
        let Some(p) = policies.get(idx as usize) else { continue };
        let (n, d) = p.ratio(&sl_counts(counts));
        num += n;
        den += d;
        sla.push(PolicyRow {
            policy: p.name.clone(),
            threshold_seconds: p.threshold as f64 / 1000.0,
            target: p.target,
            met: n,
            denominator: d,
            service_level: (d > 0).then(|| n as f64 / d as f64),
            breached: false,
            index: idx,
        });
    }
    let resolved = c.answered + c.abandoned;
    let gp = gp.and_then(|i| policies.get(i));
    GroupRow {
        queue,
        channel,
        offered: c.offered,
        answered: c.answered,
        abandoned: c.abandoned,
        flowed_out: c.flowed_out,
        short_abandoned: c.short_abandoned,
        transferred_out: c.transferred_out,
        answered_within: c.met,
        service_level: (den > 0).then(|| num as f64 / den as f64),
        sla_policy: gp.map(|p| p.name.clone()),
        sla_threshold_seconds: gp.map(|p| p.threshold as f64 / 1000.0),
        sla_target: gp.map(|p| p.target),
        breached: false,
        open: gp.is_none_or(|p| p.is_open(now)),
        answer_rate: ratio(c.answered, resolved),
        abandon_rate: ratio(c.abandoned, resolved),
        asa_seconds: seconds(c.wait_sum, c.wait_count),
        wait_p50_seconds: secs(agg.wait.quantile(0.5)),
        wait_p90_seconds: secs(agg.wait.quantile(0.9)),
        wait_p99_seconds: secs(agg.wait.quantile(0.99)),
        waiting: live.waiting,
        oldest_wait_seconds: live.oldest_wait as f64 / 1000.0,
        at_risk: live.at_risk,
        handled: c.handled,
        aht_seconds: seconds(c.talk_sum + c.hold_sum + c.acw_sum, c.handled),
        talk_seconds: seconds(c.talk_sum, c.handled),
        hold_seconds: seconds(c.hold_sum, c.handled),
        acw_seconds: seconds(c.acw_sum, c.handled),
        handle_p50_seconds: secs(agg.handle.quantile(0.5)),
        handle_p90_seconds: secs(agg.handle.quantile(0.9)),
        fcr_contacts: c.fcr_contacts,
        repeat_contacts: c.repeat_contacts,
        fcr: ratio(c.fcr_contacts - c.repeat_contacts, c.fcr_contacts),
        csat_responses: c.csat_responses,
        csat: ratio(c.csat_satisfied, c.csat_responses),
        nps_responses: c.nps_responses,
        nps: nps(c.nps_promoters, c.nps_detractors, c.nps_responses),
        nps_relationship_responses: c.nps_rel_responses,
        nps_relationship: nps(c.nps_rel_promoters, c.nps_rel_detractors, c.nps_rel_responses),
        surveys: SurveyFigures::of(&agg.surveys),
        survey_delay_p50_seconds: secs(agg.survey_delay.quantile(0.5)),
        survey_delay_p90_seconds: secs(agg.survey_delay.quantile(0.9)),
        agents_required: None,
        agents_staffed: None,
        staffing_gap: None,
        sla,
        wait_sum_ms: c.wait_sum,
        wait_count: c.wait_count,
        handle_sum_ms: c.talk_sum + c.hold_sum + c.acw_sum,
        survey_delay_sum_ms: agg.surveys.delay_sum,
        survey_delay_count: agg.surveys.delay_count,
    }
}

/// The agents required for a queue group over a window of `window_ms`: Erlang C for
/// the offered load A = (offered / window) × AHT against the threshold and target of
/// `policy`, with the workforce `plan`. `None` for email, without offers or an AHT,
/// without a policy, or under a `resolve` policy (Erlang C models the wait to answer).
pub fn agents_required(
    g: &GroupRow,
    channel: Channel,
    window_ms: Millis,
    policy: Option<&Policy>,
    plan: Planning,
) -> Option<u32> {
    if channel == Channel::Email || g.offered <= 0 || window_ms <= 0 {
        return None;
    }
    let policy = policy.filter(|p| p.measure == crate::policy::Measure::Answer)?;
    let aht = g.aht_seconds.filter(|&a| a > 0.0)?;
    let load = erlang::offered_load(g.offered as f64, window_ms as f64 / 1000.0, aht);
    erlang::agents_required(load, aht, policy.threshold as f64 / 1000.0, policy.target, plan)
}

/// Live agents by queue that can take a contact: available, busy or in ACW.
fn staffed_by_queue(p: &Partial) -> BTreeMap<&Arc<str>, i64> {
    let mut out: BTreeMap<&Arc<str>, i64> = BTreeMap::new();
    for a in p.agents.values() {
        if matches!(a.state, AgentState::Available | AgentState::Busy | AgentState::Acw) {
            for q in &a.queues {
                *out.entry(q).or_default() += 1;
            }
        }
    }
    out
}

/// The view of one window of the merged partial `p`; `staffed` is
/// [`staffed_by_queue`] of `p`.
fn window_view(p: &Partial, w: &WindowPartial, cfg: &EngineConfig, staffed: &BTreeMap<&Arc<str>, i64>) -> WindowView {
    let now = p.now;
    let policies = &cfg.policies;
    // (queue, channel) groups.
    let mut by_queue: BTreeMap<(Arc<str>, Channel), Vec<LeafRef>> = BTreeMap::new();
    let mut by_channel: BTreeMap<Channel, Vec<LeafRef>> = BTreeMap::new();
    let mut all = Vec::new();
    for (k, a) in &w.leaves {
        if let (Some(q), Some(ch)) = (&k.queue, k.channel) {
            by_queue.entry((q.clone(), ch)).or_default().push((k, a));
        }
        if let Some(ch) = k.channel {
            by_channel.entry(ch).or_default().push((k, a));
        }
        all.push((k, a));
    }
    let mut live_q: BTreeMap<(Arc<str>, Channel), Live> = BTreeMap::new();
    let mut live_c: BTreeMap<Channel, Live> = BTreeMap::new();
    let mut live_all = Live::default();
    for (k, l) in &p.live {
        let l = &Live::of(l, k.policy.and_then(|i| policies.get(usize::from(i))), now);
        if let (Some(q), Some(ch)) = (&k.queue, k.channel) {
            live_q.entry((q.clone(), ch)).or_default().merge(l);
            by_queue.entry((q.clone(), ch)).or_default();
        }
        if let Some(ch) = k.channel {
            live_c.entry(ch).or_default().merge(l);
        }
        live_all.merge(l);
    }
    let queues = by_queue
        .iter()
        .map(|((q, ch), leaves)| {
            let live = live_q.get(&(q.clone(), *ch)).copied().unwrap_or_default();
            let gp = group_policy(policies, Some(q), Some(*ch));
            let mut g = row(Some(q.clone()), ch.as_str().to_owned(), leaves, live, now, policies, gp);
            let policy = gp.and_then(|i| policies.get(i));
            g.agents_required = agents_required(&g, *ch, w.to - w.from, policy, cfg.staffing);
            g.agents_staffed = Some(staffed.get(q).copied().unwrap_or(0));
            g.staffing_gap = match (g.agents_staffed, g.agents_required) {
                (Some(s), Some(r)) => Some(s - i64::from(r)),
                _ => None,
            };
            g
        })
        .collect();
    let mut channels: Vec<GroupRow> = Channel::ALL
        .iter()
        .map(|ch| {
            let leaves = by_channel.get(ch).map_or(&[][..], Vec::as_slice);
            let live = live_c.get(ch).copied().unwrap_or_default();
            let gp = group_policy(policies, None, Some(*ch));
            row(None, ch.as_str().to_owned(), leaves, live, now, policies, gp)
        })
        .collect();
    channels.push(row(
        None,
        ALL.to_owned(),
        &all,
        live_all,
        now,
        policies,
        group_policy(policies, None, None),
    ));
    WindowView {
        window: w.name.clone(),
        from: w.from,
        to: w.to,
        queues,
        channels,
        agents: agent_rows(p, w, cfg),
    }
}

/// `f` of each item, in their order, made on up to `threads` scoped threads; each
/// thread takes the next item not taken, last first (the last window, `today`, holds
/// the most). A panic in `f` is raised again here.
fn map_on_threads<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let taken = AtomicUsize::new(0);
    let work = || {
        let mut made = Vec::new();
        loop {
            let k = taken.fetch_add(1, Ordering::Relaxed);
            let Some(i) = items.len().checked_sub(k + 1) else { break };
            made.push((i, f(&items[i])));
        }
        made
    };
    let mut made: Vec<(usize, R)> = Vec::new();
    for outcome in on_threads(threads, work) {
        match outcome {
            Ok(theirs) => made.extend(theirs),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    made.sort_unstable_by_key(|(i, _)| *i);
    made.into_iter().map(|(_, r)| r).collect()
}

impl Snapshot {
    /// Builds the figures from the merged partial of every engine.
    pub fn build(p: &Partial, cfg: &EngineConfig) -> Snapshot {
        Snapshot::build_on(p, cfg, 1)
    }

    /// [`Snapshot::build`], each window's view made on one of up to `threads` threads:
    /// the last step of a replay split over engines, when the other threads are idle
    /// (the live service builds on one thread, next to its partitions' work).
    pub fn build_on(p: &Partial, cfg: &EngineConfig, threads: usize) -> Snapshot {
        let now = p.now;
        let staffed = staffed_by_queue(p);
        let windows = map_on_threads(&p.windows, threads, |w| window_view(p, w, cfg, &staffed));
        let mut listed: BTreeMap<(Arc<str>, Channel), Vec<Listed>> = BTreeMap::new();
        for (k, list) in &p.listed {
            if let (Some(q), Some(ch)) = (&k.queue, k.channel) {
                listed.entry((q.clone(), ch)).or_default().extend(list.iter().cloned());
            }
        }
        for list in listed.values_mut() {
            trim_listed(list);
        }
        Snapshot {
            now,
            windows,
            agent_states: agent_states(p),
            breaches: Vec::new(),
            coverage: Coverage::default(),
            listed,
            stats: p.stats.clone(),
        }
    }

    /// Takes the judgements of `whole` (the view of every partition) for the groups and
    /// agents of this snapshot (a part of the partitions, for `/metrics`): which policies
    /// are breached, the staffing figures, each agent's team, and how each agent compares
    /// with its team (AHT and service level). These judge a whole
    /// group or team, not a part of it; counts stay this snapshot's own, so that sums
    /// over instances add up.
    pub fn take_judgements(&mut self, whole: &Snapshot) {
        let mut breached = std::collections::HashSet::new();
        for w in &whole.windows {
            for row in w.queues.iter().chain(&w.channels) {
                for pr in row.sla.iter().filter(|p| p.breached) {
                    breached.insert((w.window.as_str(), row.queue.clone(), row.channel.as_str(), pr.index));
                }
            }
        }
        for w in &mut self.windows {
            let whole_w = whole.window(&w.window);
            for row in w.queues.iter_mut().chain(w.channels.iter_mut()) {
                row.breached = false;
                for pr in &mut row.sla {
                    pr.breached =
                        breached.contains(&(w.window.as_str(), row.queue.clone(), row.channel.as_str(), pr.index));
                    row.breached |= pr.breached;
                }
            }
            for a in &mut w.agents {
                // Agent rows are sorted by agent.
                let judged = whole_w.and_then(|ww| {
                    let i = ww.agents.binary_search_by(|o| o.agent.cmp(&a.agent)).ok()?;
                    ww.agents.get(i)
                });
                // The team as the whole view knows it: an agent's team comes with its
                // `agent.state` events, on another partition than its contacts, and an
                // instance holding only the contacts would label them team "" (their
                // sums by team would not add up across instances).
                if let Some(o) = judged.filter(|o| o.team.is_some()) {
                    a.team = o.team.clone();
                }
                a.aht_vs_team = judged.and_then(|o| o.aht_vs_team);
                a.outlier = judged.is_some_and(|o| o.outlier);
                a.sl_vs_team = judged.and_then(|o| o.sl_vs_team);
                a.sl_outlier = judged.is_some_and(|o| o.sl_outlier);
            }
        }
        self.breaches = whole.breaches.clone();
        // Staffing compares a queue's load with agents who live on other partitions.
        self.staffing_from(whole);
    }

    /// The contacts behind a figure of `queue` (of one channel, or all of the queue's),
    /// newest first, at most `limit`: those waiting now, or those whose outcome was
    /// decided within the window (`[from, to)`), from what the engines still hold.
    pub fn contacts(
        &self,
        queue: &str,
        channel: Option<Channel>,
        outcome: DrillOutcome,
        window: &WindowView,
        limit: usize,
    ) -> Vec<(Channel, &Listed)> {
        let mut out: Vec<(Channel, &Listed)> = self
            .listed
            .iter()
            .filter(|((q, ch), _)| &**q == queue && channel.is_none_or(|c| c == *ch))
            .flat_map(|((_, ch), list)| list.iter().map(move |l| (*ch, l)))
            .filter(|(_, l)| l.outcome == outcome)
            .filter(|(_, l)| match l.decided_at {
                None => outcome == DrillOutcome::Waiting,
                Some(t) => window.from <= t && t < window.to,
            })
            .collect();
        out.sort_by(|a, b| {
            b.1.recency()
                .cmp(&a.1.recency())
                .then_with(|| a.1.contact_id.cmp(&b.1.contact_id))
                .then_with(|| a.0.cmp(&b.0))
        });
        out.truncate(limit);
        out
    }

    /// The window named `name`.
    pub fn window(&self, name: &str) -> Option<&WindowView> {
        self.windows.iter().find(|w| w.window == name)
    }

    /// Takes the staffing figures of every queue group from `whole`, the snapshot of
    /// the whole view (a group missing there, like a folded `_other`, gets none). For
    /// `/metrics`, which exports the partitions an instance holds: Erlang C is not
    /// additive, and agents' states live on other partitions than their contacts, so the
    /// staffing figures are the whole view's judgement, exported alike by every instance.
    pub fn staffing_from(&mut self, whole: &Snapshot) {
        for w in &mut self.windows {
            let theirs = whole.window(&w.window);
            for g in &mut w.queues {
                let same = theirs.and_then(|t| t.queues.iter().find(|o| o.queue == g.queue && o.channel == g.channel));
                g.agents_required = same.and_then(|o| o.agents_required);
                g.agents_staffed = same.and_then(|o| o.agents_staffed);
                g.staffing_gap = same.and_then(|o| o.staffing_gap);
            }
        }
    }
}

fn agent_rows(p: &Partial, w: &crate::partial::WindowPartial, cfg: &EngineConfig) -> Vec<AgentRow> {
    let mut names: Vec<&Arc<str>> = w.agents.keys().chain(p.agents.keys()).collect();
    names.sort();
    names.dedup();
    // Peer group: the team, else the first queue the agent serves.
    let peer = |name: &Arc<str>| -> Option<String> {
        let live = p.agents.get(name)?;
        match (&live.team, live.queues.first()) {
            (Some(t), _) => Some(format!("team:{t}")),
            (None, Some(q)) => Some(format!("queue:{q}")),
            (None, None) => None,
        }
    };
    // Per peer group: (handled, handle time, judged, met), pooled.
    let mut peers: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    for name in &names {
        if let (Some(key), Some(a)) = (peer(name), w.agents.get(*name)) {
            let e = peers.entry(key).or_default();
            e.0 += a.agg.c.handled;
            e.1 += a.agg.c.talk_sum + a.agg.c.hold_sum + a.agg.c.acw_sum;
            e.2 += a.agg.c.sl_judged;
            e.3 += a.agg.c.sl_met;
        }
    }
    names
        .into_iter()
        .map(|name| {
            let a = w.agents.get(name).cloned().unwrap_or_default();
            let c = a.agg.c;
            let live = p.agents.get(name);
            let handle = c.talk_sum + c.hold_sum + c.acw_sum;
            let aht = seconds(handle, c.handled);
            let pooled = peer(name).map(|key| peers.get(&key).copied().unwrap_or_default());
            let aht_vs_team = pooled.and_then(|(n, sum, _, _)| {
                let others = seconds(sum - handle, n - c.handled)?;
                let mine = aht?;
                (others > 0.0).then(|| mine / others)
            });
            let outlier =
                aht_vs_team.is_some_and(|r| r >= cfg.outlier_ratio) && c.handled as u64 >= cfg.outlier_min_handled;
            let service_level = ratio(c.sl_met, c.sl_judged);
            let sl_vs_team = pooled.and_then(|(_, _, judged, met)| {
                let others = ratio(met - c.sl_met, judged - c.sl_judged)?;
                Some(service_level? - others)
            });
            // Within 1e-9 of the limit counts as at it: 0.6 − 0.8 is −0.20000000000000007.
            let sl_outlier = sl_vs_team.is_some_and(|d| d <= -cfg.sl_outlier_points + 1e-9)
                && c.sl_judged.max(0) as u64 >= cfg.sl_outlier_min_judged;
            let t = a.time_in;
            let working = t[AgentState::Busy as usize] + t[AgentState::Acw as usize];
            AgentRow {
                agent: name.clone(),
                team: live.and_then(|l| l.team.clone()),
                state: live.map(|l| l.state),
                state_seconds: live.map(|l| (p.now - l.since).max(0) as f64 / 1000.0),
                handled: c.handled,
                aht_seconds: aht,
                talk_seconds: seconds(c.talk_sum, c.handled),
                hold_seconds: seconds(c.hold_sum, c.handled),
                acw_seconds: seconds(c.acw_sum, c.handled),
                aht_vs_team,
                outlier,
                sl_judged: c.sl_judged,
                sl_met: c.sl_met,
                service_level,
                sl_vs_team,
                sl_outlier,
                occupancy: ratio(working, working + t[AgentState::Available as usize]),
                csat_responses: c.csat_responses,
                csat: ratio(c.csat_satisfied, c.csat_responses),
                nps_responses: c.nps_responses,
                nps: nps(c.nps_promoters, c.nps_detractors, c.nps_responses),
                csat_sent: c.csat_sent,
                csat_sent_answered: c.csat_sent_answered,
                csat_response_rate: ratio(c.csat_sent_answered, c.csat_sent),
                nps_sent: c.nps_sent,
                nps_sent_answered: c.nps_sent_answered,
                nps_response_rate: ratio(c.nps_sent_answered, c.nps_sent),
                queues: live.map(|l| l.queues.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

fn agent_states(p: &Partial) -> AgentStates {
    let mut teams: BTreeMap<Arc<str>, StateCounts> = BTreeMap::new();
    let mut queues: BTreeMap<Arc<str>, StateCounts> = BTreeMap::new();
    let bump = |m: &mut BTreeMap<Arc<str>, StateCounts>, name: &Arc<str>, state: AgentState| {
        let e = m.entry(name.clone()).or_insert_with(|| StateCounts {
            name: name.clone(),
            ..StateCounts::default()
        });
        match state {
            AgentState::Available => e.available += 1,
            AgentState::Busy => e.busy += 1,
            AgentState::Acw => e.acw += 1,
            AgentState::Away => e.away += 1,
            AgentState::Offline => {}
        }
    };
    for a in p.agents.values() {
        if let Some(t) = &a.team {
            bump(&mut teams, t, a.state);
        }
        for q in &a.queues {
            bump(&mut queues, q, a.state);
        }
    }
    AgentStates {
        teams: teams.into_values().collect(),
        queues: queues.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::map_on_threads;

    #[test]
    fn made_on_threads_in_the_items_order() {
        for n in [0usize, 1, 2, 4, 9] {
            let items: Vec<usize> = (0..n).collect();
            for threads in [0, 1, 2, 3, 16] {
                let made = map_on_threads(&items, threads, |i| i * 10);
                assert_eq!(
                    made,
                    items.iter().map(|i| i * 10).collect::<Vec<_>>(),
                    "{n} on {threads}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "item 3")]
    fn a_panic_on_a_thread_is_raised_again() {
        let items: Vec<usize> = (0..6).collect();
        map_on_threads(&items, 2, |&i| assert!(i != 3, "item 3"));
    }
}
