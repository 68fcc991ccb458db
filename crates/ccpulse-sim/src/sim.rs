//! The discrete-event simulation: a time-ordered agenda of actions (arrivals, answers,
//! holds, ends, wrap-ups, breaks, surveys, callbacks); processing an action emits the
//! events that happen at its time and schedules the actions that follow.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use ccpulse_core::event::{AgentState, Channel};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Exp1, StandardNormal};

use crate::model::{model, team_name, topics, traffic_profile, ChannelModel};
use crate::wire::{ts_text, Ts, Wire};
use crate::{contact_topic, Message, SimConfig, TOPIC_AGENTS, TOPIC_SURVEYS};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// Share of the configured rate that is fresh contacts; callbacks make up the rest.
const FRESH_SHARE: f64 = 0.78;
/// Relationship NPS answers per contact (at the same time of day).
const RELATIONSHIP_NPS_PER_CONTACT: f64 = 0.02;
/// Share of events whose `ts` is written as epoch milliseconds.
const MILLIS_TS: f64 = 0.03;
/// `0001-01-01T00:00:00Z`: the earliest start.
const EARLIEST_START: i64 = -62_135_596_800_000;
/// `9000-01-01T00:00:00Z`: the latest start.
const LATEST_START: i64 = 221_845_392_000_000;
/// Share of customers in the gold segment.
const GOLD_PERCENT: u64 = 15;

/// Seconds (f64) to milliseconds, at least 1.
fn ms(seconds: f64) -> i64 {
    let v = (seconds * 1000.0).round();
    if v.is_finite() && v >= 1.0 {
        v.min(1e15) as i64
    } else {
        1
    }
}

/// Is customer `n` a gold customer? Fixed per customer.
fn is_gold(n: u32) -> bool {
    (u64::from(n).wrapping_mul(2_654_435_761) >> 7) % 100 < GOLD_PERCENT
}

#[derive(Debug)]
struct Queue {
    name: Arc<str>,
    channel: Channel,
    model: ChannelModel,
    /// Arrivals per millisecond at the peak (fresh contacts only).
    peak_rate: f64,
    topics: Vec<Arc<str>>,
    /// Other queues of the same channel, for transfers.
    siblings: Vec<usize>,
    /// Agents serving it.
    servers: Vec<usize>,
    /// Contacts waiting, as (contact, wait token); stale entries are skipped lazily.
    waiting: VecDeque<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    Offline,
    Available,
    /// A contact is ringing on the agent's phone (shown as available).
    Reserved,
    Handling,
    Acw,
    Away,
}

#[derive(Debug)]
struct Agent {
    id: Arc<str>,
    team: Arc<str>,
    queue_names: Arc<[Arc<str>]>,
    serves: Vec<usize>,
    state: Activity,
    shown: AgentState,
    idle_since: i64,
    next_break: i64,
    /// Logged in for the current shift (may still be finishing a contact when not).
    on_shift: bool,
    /// When it last went on or off shift.
    shift_change: i64,
    /// Token of the pending wake-up; older wake-ups are ignored.
    wake: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Ringing(usize),
    Talking(usize),
    Wrapping(usize),
}

#[derive(Debug)]
struct Contact {
    no: u64,
    id: String,
    key: String,
    customer: Option<u32>,
    topic: Arc<str>,
    channel: Channel,
    queue: usize,
    gold: bool,
    phase: Phase,
    /// Start of the current wait.
    since: i64,
    /// Email: not worked before this.
    ready_at: i64,
    wait_token: u64,
    patience_token: u64,
    transfer_pending: bool,
    transfers: u32,
    longest_wait: i64,
    resolved: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
enum SurveyKind {
    CsatFive,
    CsatThumbs,
    Nps,
}

#[derive(Debug)]
struct SurveyPlan {
    kind: SurveyKind,
    contact_id: String,
    key: String,
    channel: Channel,
    queue: Arc<str>,
    agent: Arc<str>,
    explicit: bool,
    /// Chance that the customer is satisfied.
    happy: f64,
}

#[derive(Debug)]
struct CallbackPlan {
    customer: u32,
    topic: Arc<str>,
    queue: usize,
}

#[derive(Debug)]
enum Act {
    /// Every 15 minutes: log agents in or out to follow the traffic curve.
    Staffing,
    Arrival(usize),
    Callback(Box<CallbackPlan>),
    Abandon {
        contact: u64,
        token: u64,
    },
    RouteTransfer {
        contact: u64,
        token: u64,
    },
    EmailReady {
        contact: u64,
        token: u64,
    },
    Answer {
        contact: u64,
        token: u64,
    },
    HoldStart(u64),
    HoldEnd(u64),
    End(u64),
    WrapUp(u64),
    AgentFree {
        agent: usize,
        token: u64,
    },
    Survey(Box<SurveyPlan>),
    RelationshipNps,
}

#[derive(Debug)]
struct Scheduled {
    ts: i64,
    seq: u64,
    act: Act,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.ts, self.seq) == (other.ts, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed, so that the max-heap pops the earliest action first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.ts, other.seq).cmp(&(self.ts, self.seq))
    }
}

/// The simulation of one contact centre. Create it with [`Simulator::new`], then pull
/// messages with [`Simulator::advance_to`] as simulated (or wall-clock) time goes on.
#[derive(Debug)]
pub struct Simulator {
    cfg: SimConfig,
    rng: StdRng,
    agenda: BinaryHeap<Scheduled>,
    seq: u64,
    events: u64,
    contacts_made: u64,
    tokens: u64,
    queues: Vec<Queue>,
    agents: Vec<Agent>,
    /// Agents by team.
    teams: Vec<Vec<usize>>,
    contacts: HashMap<u64, Contact>,
    channels: Vec<Channel>,
    pool: u32,
    relationship_rate: f64,
    out: Vec<Message>,
    clock: i64,
}

impl Simulator {
    /// A simulation of `cfg`: agents log in at `cfg.start_ms`, contacts start arriving
    /// after it. Invalid values are tamed: negative or non-finite rates and weights count
    /// as zero, zero teams as one.
    pub fn new(cfg: SimConfig) -> Self {
        let rate = if cfg.contacts_per_hour.is_finite() {
            cfg.contacts_per_hour.max(0.0)
        } else {
            0.0
        };
        let weight = |w: f64| if w.is_finite() { w.max(0.0) } else { 0.0 };
        let total: f64 = cfg.queues.iter().map(|q| weight(q.weight)).sum();
        let mut queues: Vec<Queue> = cfg
            .queues
            .iter()
            .map(|q| Queue {
                name: Arc::from(q.name.as_str()),
                channel: q.channel,
                model: model(q.channel),
                peak_rate: if total > 0.0 {
                    rate * FRESH_SHARE * weight(q.weight) / total / HOUR as f64
                } else {
                    0.0
                },
                topics: topics(&q.name),
                siblings: Vec::new(),
                servers: Vec::new(),
                waiting: VecDeque::new(),
            })
            .collect();
        for i in 0..queues.len() {
            let siblings = (0..queues.len())
                .filter(|&j| j != i && queues[j].channel == queues[i].channel && queues[j].name != queues[i].name)
                .collect();
            queues[i].siblings = siblings;
        }
        let mut channels: Vec<Channel> = Vec::new();
        for q in &queues {
            if !channels.contains(&q.channel) {
                channels.push(q.channel);
            }
        }

        // Teams serve queue names (on every channel): team i the names i and i+1, and
        // every name j with j % teams == i, so that every name has a team.
        let mut names: Vec<Arc<str>> = Vec::new();
        for q in &queues {
            if !names.contains(&q.name) {
                names.push(q.name.clone());
            }
        }
        let n_teams = cfg.teams.max(1);
        let team_serves: Vec<Vec<Arc<str>>> = (0..n_teams)
            .map(|t| {
                let mut serves: Vec<Arc<str>> = Vec::new();
                if !names.is_empty() {
                    for k in [t % names.len(), (t + 1) % names.len()] {
                        if !serves.contains(&names[k]) {
                            serves.push(names[k].clone());
                        }
                    }
                }
                for (j, n) in names.iter().enumerate() {
                    if j % n_teams == t && !serves.contains(n) {
                        serves.push(n.clone());
                    }
                }
                serves
            })
            .collect();
        let width = cfg.agents.to_string().len().max(3);
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let start = cfg.start_ms.clamp(EARLIEST_START, LATEST_START);
        let agents: Vec<Agent> = (0..cfg.agents)
            .map(|i| {
                let t = i % n_teams;
                let serves: Vec<usize> = (0..queues.len())
                    .filter(|&q| team_serves[t].contains(&queues[q].name))
                    .collect();
                Agent {
                    id: Arc::from(format!("a{:0width$}", i + 1).as_str()),
                    team: Arc::from(team_name(t).as_str()),
                    queue_names: team_serves[t].iter().cloned().collect(),
                    serves,
                    state: Activity::Offline,
                    shown: AgentState::Offline,
                    idle_since: start,
                    next_break: start + rng.random_range(20 * MINUTE..120 * MINUTE),
                    on_shift: false,
                    shift_change: start,
                    wake: 0,
                }
            })
            .collect();
        let mut teams = vec![Vec::new(); n_teams];
        for (a, agent) in agents.iter().enumerate() {
            for &q in &agent.serves {
                queues[q].servers.push(a);
            }
            teams[a % n_teams].push(a);
        }

        let mut sim = Simulator {
            pool: ((rate * 72.0) as u32).max(5_000),
            relationship_rate: rate * RELATIONSHIP_NPS_PER_CONTACT / HOUR as f64,
            cfg,
            rng,
            agenda: BinaryHeap::new(),
            seq: 0,
            events: 0,
            contacts_made: 0,
            tokens: 0,
            queues,
            agents,
            teams,
            contacts: HashMap::new(),
            channels,
            out: Vec::new(),
            clock: start,
        };
        sim.schedule(start, Act::Staffing);
        for q in 0..sim.queues.len() {
            sim.next_arrival(q, start);
        }
        if let Some(gap) = sim.exp_gap(sim.relationship_rate) {
            sim.schedule(start + gap, Act::RelationshipNps);
        }
        sim
    }

    /// The arrival rate at `now` relative to the peak: the time-of-day curve, never
    /// below the configured `min_load`.
    fn load(&self, now: i64) -> f64 {
        traffic_profile(now).max(self.cfg.min_load)
    }

    /// The configuration it runs.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Event time of the next message that will be produced, when anything is pending
    /// (a lower bound: actions that emit nothing, such as arrivals thinned away by the
    /// time-of-day curve, also count).
    pub fn next_ts(&self) -> Option<i64> {
        self.agenda.peek().map(|s| s.ts)
    }

    /// All messages with event time <= `now_ms` not yet returned, in event-time order
    /// (non-decreasing `ts`). Calling it with an earlier time than before returns nothing.
    /// The work (and the result) grows with the simulated time covered: advance in steps.
    pub fn advance_to(&mut self, now_ms: i64) -> Vec<Message> {
        while self.agenda.peek().is_some_and(|s| s.ts <= now_ms) {
            let Some(Scheduled { ts, act, .. }) = self.agenda.pop() else {
                break;
            };
            self.clock = ts;
            self.run(ts, act);
        }
        std::mem::take(&mut self.out)
    }

    // ----- agenda and randomness -----

    fn schedule(&mut self, ts: i64, act: Act) {
        let ts = ts.max(self.clock);
        self.seq += 1;
        self.agenda.push(Scheduled { ts, seq: self.seq, act });
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    fn uniform(&mut self, (lo, hi): (f64, f64)) -> f64 {
        lo + (hi - lo) * self.rng.random::<f64>()
    }

    fn lognormal(&mut self, (median, sigma): (f64, f64)) -> f64 {
        let z: f64 = self.rng.sample(StandardNormal);
        median * (sigma * z).exp()
    }

    /// An exponential gap for a Poisson process of `rate` per millisecond.
    fn exp_gap(&mut self, rate: f64) -> Option<i64> {
        if !(rate > 0.0 && rate.is_finite()) {
            return None;
        }
        let e: f64 = self.rng.sample(Exp1);
        let gap = (e / rate).round();
        Some(if gap >= 1.0 { gap.min(1e15) as i64 } else { 1 })
    }

    fn token(&mut self) -> u64 {
        self.tokens += 1;
        self.tokens
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.rng.random_range(0..items.len())])
        }
    }

    // ----- emitting -----

    fn emit(&mut self, topic: &'static str, key: &str, ts: i64, mut w: Wire<'_>) {
        self.events += 1;
        w.id = format!("sim-{}-{}", self.cfg.seed, self.events);
        w.ts = if self.chance(MILLIS_TS) {
            Ts::Millis(ts)
        } else {
            ts_text(ts)
        };
        let payload = serde_json::to_vec(&w).unwrap_or_default();
        let is_contact = w.contact_id.is_some() && topic != TOPIC_SURVEYS;
        self.out.push(Message {
            topic,
            key: key.to_owned(),
            payload,
            ts,
            invalid: false,
        });
        let per_thousand = self.cfg.invalid_per_thousand;
        if is_contact && per_thousand > 0 && self.rng.random_range(0..1000) < per_thousand {
            self.emit_invalid(topic, key, ts, w.contact_id.unwrap_or_default());
        }
    }

    fn emit_invalid(&mut self, topic: &'static str, key: &str, ts: i64, contact_id: &str) {
        self.events += 1;
        let id = format!("sim-{}-{}", self.cfg.seed, self.events);
        let mut w = Wire::contact("contact.answered", contact_id);
        w.id = id;
        w.ts = ts_text(ts);
        let payload = match self.rng.random_range(0..4) {
            0 => {
                // Cut short in the middle: not JSON.
                w.agent_id = Some("a001");
                let mut bytes = serde_json::to_vec(&w).unwrap_or_default();
                bytes.truncate(bytes.len() / 2);
                bytes
            }
            1 => {
                w.kind = "contact.teleported";
                serde_json::to_vec(&w).unwrap_or_default()
            }
            2 => {
                w.kind = "survey.nps";
                w.score = Some(11);
                serde_json::to_vec(&w).unwrap_or_default()
            }
            // `contact.answered` without its `agent_id`.
            _ => serde_json::to_vec(&w).unwrap_or_default(),
        };
        self.out.push(Message {
            topic,
            key: key.to_owned(),
            payload,
            ts,
            invalid: true,
        });
    }

    fn show_agent(&mut self, a: usize, state: AgentState, ts: i64) {
        let agent = &mut self.agents[a];
        if agent.shown == state {
            return;
        }
        agent.shown = state;
        let (id, team, queues) = (agent.id.clone(), agent.team.clone(), agent.queue_names.clone());
        let mut w = Wire::new("agent.state");
        w.agent_id = Some(&id);
        w.state = Some(state.as_str());
        w.team = Some(&team);
        w.queues = Some(&queues);
        self.emit(TOPIC_AGENTS, &id, ts, w);
    }

    /// A follow-up event of a contact; `with_queue` adds the optional channel and queue.
    fn emit_contact(&mut self, c: &Contact, ts: i64, w: Wire<'_>, with_queue: bool) {
        let queue = self.queues[c.queue].name.clone();
        let mut w = w;
        if with_queue && self.chance(0.6) {
            w.channel = Some(c.channel.as_str());
            w.queue = Some(&queue);
        }
        self.emit(contact_topic(c.channel), &c.key, ts, w);
    }

    // ----- the actions -----

    fn run(&mut self, now: i64, act: Act) {
        match act {
            Act::Staffing => self.staffing(now),
            Act::Arrival(q) => {
                self.next_arrival(q, now);
                if self.chance(self.load(now)) {
                    self.offer(q, None, now);
                }
            }
            Act::Callback(plan) => {
                let queue = plan.queue;
                self.offer(queue, Some(*plan), now);
            }
            Act::Abandon { contact, token } => self.abandon(contact, token, now),
            Act::RouteTransfer { contact, token } => self.route_transfer(contact, token, now),
            Act::EmailReady { contact, token } => {
                if self.contacts.get(&contact).is_some_and(|c| c.wait_token == token) {
                    self.dispatch_contact(contact, now);
                }
            }
            Act::Answer { contact, token } => self.answer(contact, token, now),
            Act::HoldStart(contact) => self.hold(contact, "contact.hold_started", now),
            Act::HoldEnd(contact) => self.hold(contact, "contact.hold_ended", now),
            Act::End(contact) => self.end(contact, now),
            Act::WrapUp(contact) => self.wrap_up(contact, now),
            Act::AgentFree { agent, token } => {
                if self.agents[agent].wake == token {
                    self.agent_ready(agent, now);
                }
            }
            Act::Survey(plan) => self.survey(*plan, now),
            Act::RelationshipNps => self.relationship_nps(now),
        }
    }

    fn next_arrival(&mut self, q: usize, now: i64) {
        if let Some(gap) = self.exp_gap(self.queues[q].peak_rate) {
            self.schedule(now + gap, Act::Arrival(q));
        }
    }

    /// A contact enters queue `q`: a new one, or a customer coming back.
    fn offer(&mut self, q: usize, callback: Option<CallbackPlan>, now: i64) {
        let channel = self.queues[q].channel;
        let m = self.queues[q].model;
        let (customer, topic, repeat) = match callback {
            Some(plan) => {
                let repeat = self.chance(0.15).then_some(true);
                (Some(plan.customer), plan.topic, repeat)
            }
            None => {
                let customer = if self.chance(m.anonymous) {
                    None
                } else {
                    Some(self.rng.random_range(0..self.pool))
                };
                let topics = &self.queues[q].topics;
                let topic = match topics.len() {
                    0 => Arc::from("general"),
                    n => topics[self.rng.random_range(0..n)].clone(),
                };
                // The IVR asked "same question as last time?" (about a contact before
                // the simulation started, or not).
                let r: f64 = self.rng.random();
                let repeat = if r < 0.05 {
                    Some(true)
                } else if r < 0.08 {
                    Some(false)
                } else {
                    None
                };
                (customer, topic, repeat)
            }
        };
        self.contacts_made += 1;
        let id = format!("ct-{}-{}", self.cfg.seed, self.contacts_made);
        let customer_id = customer.map(|c| format!("k{c}"));
        let key = customer_id.clone().unwrap_or_else(|| id.clone());
        let gold = customer.is_some_and(is_gold);
        let segment = (customer.is_some() && self.chance(0.8)).then_some(if gold { "gold" } else { "standard" });
        let no = self.contacts_made;
        let wait_token = self.token();
        let patience_token = self.token();
        let mut c = Contact {
            no,
            id,
            key,
            customer,
            topic,
            channel,
            queue: q,
            gold,
            phase: Phase::Waiting,
            since: now,
            ready_at: now,
            wait_token,
            patience_token,
            transfer_pending: false,
            transfers: 0,
            longest_wait: 0,
            resolved: None,
        };

        let queue_name = self.queues[q].name.clone();
        let mut w = Wire::contact("contact.offered", &c.id);
        w.channel = Some(channel.as_str());
        w.queue = Some(&queue_name);
        w.customer_id = customer_id.as_deref();
        w.topic = Some(&c.topic);
        w.segment = segment;
        w.repeat = repeat;
        self.emit(contact_topic(channel), &c.key, now, w);

        let patience = if self.chance(m.short_patience) {
            self.uniform((1.0, 5.0))
        } else {
            self.lognormal(m.patience)
        };
        self.schedule(
            now + ms(patience),
            Act::Abandon {
                contact: no,
                token: patience_token,
            },
        );
        if !self.queues[q].siblings.is_empty() && self.chance(m.transfer_before) {
            let delay = self.uniform(m.transfer_before_delay);
            self.schedule(
                now + ms(delay),
                Act::RouteTransfer {
                    contact: no,
                    token: wait_token,
                },
            );
        }
        self.start_wait(&mut c, now, 1.0);
        self.contacts.insert(no, c);
        self.queues[q].waiting.push_back((no, wait_token));
        self.dispatch_contact(no, now);
    }

    /// Sets the email backlog delay of a contact that starts waiting (scaled by `backlog`).
    fn start_wait(&mut self, c: &mut Contact, now: i64, backlog: f64) {
        c.phase = Phase::Waiting;
        c.since = now;
        c.ready_at = now;
        if let Some(b) = self.queues[c.queue].model.backlog {
            let delay = self.lognormal(b) * backlog;
            c.ready_at = now + ms(delay);
            self.schedule(
                c.ready_at,
                Act::EmailReady {
                    contact: c.no,
                    token: c.wait_token,
                },
            );
        }
    }

    /// Offers a waiting contact to the longest-idle free agent of its queue.
    fn dispatch_contact(&mut self, no: u64, now: i64) {
        let Some(c) = self.contacts.get(&no) else { return };
        if c.phase != Phase::Waiting || c.ready_at > now {
            return;
        }
        let q = c.queue;
        let mut best: Option<usize> = None;
        for &a in &self.queues[q].servers {
            let agent = &self.agents[a];
            if agent.state == Activity::Available && best.is_none_or(|b| agent.idle_since < self.agents[b].idle_since) {
                best = Some(a);
            }
        }
        if let Some(a) = best {
            self.reserve(a, no, now);
        }
    }

    /// Agent `a` takes contact `no`: it rings, and is answered after a short delay.
    fn reserve(&mut self, a: usize, no: u64, now: i64) {
        let Some(c) = self.contacts.get_mut(&no) else { return };
        c.phase = Phase::Ringing(a);
        let token = c.wait_token;
        let ring = self.queues[c.queue].model.ring;
        self.agents[a].state = Activity::Reserved;
        let delay = self.uniform(ring);
        self.schedule(now + ms(delay), Act::Answer { contact: no, token });
    }

    /// Agent `a` is free: a break if one is due, else available and takes the next
    /// waiting contact of its queues.
    fn agent_ready(&mut self, a: usize, now: i64) {
        self.agents[a].wake = 0;
        if !self.agents[a].on_shift {
            self.agents[a].state = Activity::Offline;
            self.show_agent(a, AgentState::Offline, now);
            return;
        }
        if self.agents[a].next_break <= now && self.agents[a].state != Activity::Offline {
            let (state, shown, minutes) = if self.chance(0.06) {
                (
                    Activity::Offline,
                    AgentState::Offline,
                    self.lognormal((40.0, 0.4)).clamp(15.0, 120.0),
                )
            } else {
                (
                    Activity::Away,
                    AgentState::Away,
                    self.lognormal((9.0, 0.4)).clamp(3.0, 30.0),
                )
            };
            let until = now + ms(minutes * 60.0);
            let gap = self.rng.random_range(50 * MINUTE..130 * MINUTE);
            let agent = &mut self.agents[a];
            agent.state = state;
            agent.next_break = until + gap;
            self.show_agent(a, shown, now);
            self.wake_at(a, until);
            return;
        }
        let agent = &mut self.agents[a];
        agent.state = Activity::Available;
        agent.idle_since = now;
        self.show_agent(a, AgentState::Available, now);
        if let Some(no) = self.next_for(a, now) {
            self.reserve(a, no, now);
        }
    }

    /// Wakes agent `a` up at `ts` (and forgets any earlier wake-up).
    fn wake_at(&mut self, a: usize, ts: i64) {
        let token = self.token();
        self.agents[a].wake = token;
        self.schedule(ts, Act::AgentFree { agent: a, token });
    }

    /// Shifts: each team has about the share of its agents logged in that the traffic of
    /// now and the next half hour asks for (at least 15 %); those off shift longest come in first,
    /// those on shift longest leave first (once their contact is done).
    fn staffing(&mut self, now: i64) {
        self.schedule(now + 15 * MINUTE, Act::Staffing);
        let demand = self.load(now).max(self.load(now + 30 * MINUTE));
        let share = (1.15 * demand).clamp(0.15, 1.0);
        let first = self
            .agents
            .iter()
            .all(|a| !a.on_shift && a.shown == AgentState::Offline);
        for t in 0..self.teams.len() {
            let mut members = self.teams[t].clone();
            let target = (members.len() as f64 * share).ceil() as usize;
            members.sort_by_key(|&a| (self.agents[a].shift_change, a));
            let on = members.iter().filter(|&&a| self.agents[a].on_shift).count();
            if on < target {
                let coming: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&a| !self.agents[a].on_shift)
                    .take(target - on)
                    .collect();
                for a in coming {
                    let agent = &mut self.agents[a];
                    agent.on_shift = true;
                    agent.shift_change = now;
                    if agent.state == Activity::Offline {
                        self.agent_ready(a, now);
                    }
                }
            } else if on > target {
                let leaving: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&a| self.agents[a].on_shift)
                    .take(on - target)
                    .collect();
                for a in leaving {
                    let agent = &mut self.agents[a];
                    agent.on_shift = false;
                    agent.shift_change = now;
                    if agent.state == Activity::Available {
                        self.agent_ready(a, now);
                    }
                }
            }
        }
        if first {
            // The roster: agents not on the first shift are announced offline.
            for a in 0..self.agents.len() {
                if !self.agents[a].on_shift {
                    self.agents[a].shown = AgentState::Available;
                    self.show_agent(a, AgentState::Offline, now);
                }
            }
        }
    }

    /// The waiting contact agent `a` should take next: voice before chat before email,
    /// then the longest waiting (gold customers count 30 s more), emails once ready.
    fn next_for(&mut self, a: usize, now: i64) -> Option<u64> {
        let mut best: Option<((u8, i64), usize, usize, u64)> = None;
        let serves = std::mem::take(&mut self.agents[a].serves);
        for &q in &serves {
            let queue = &mut self.queues[q];
            let contacts = &self.contacts;
            let live = |&(no, token): &(u64, u64)| {
                contacts
                    .get(&no)
                    .filter(|c| c.phase == Phase::Waiting && c.wait_token == token)
            };
            while queue.waiting.front().is_some_and(|e| live(e).is_none()) {
                queue.waiting.pop_front();
            }
            let found = queue.waiting.iter().enumerate().find_map(|(i, e)| {
                let c = live(e)?;
                (c.ready_at <= now).then(|| {
                    let since = if c.gold { c.since - 30 * SECOND } else { c.since };
                    ((queue.model.priority, since), i, e.0)
                })
            });
            if let Some((rank, i, no)) = found {
                if best.is_none_or(|b| rank < b.0) {
                    best = Some((rank, q, i, no));
                }
            }
        }
        self.agents[a].serves = serves;
        let (_, q, i, no) = best?;
        self.queues[q].waiting.remove(i);
        Some(no)
    }

    fn abandon(&mut self, no: u64, token: u64, now: i64) {
        let Some(c) = self.contacts.get(&no) else { return };
        if c.patience_token != token {
            return;
        }
        let ringing = match c.phase {
            Phase::Waiting => None,
            Phase::Ringing(a) => Some(a),
            Phase::Talking(_) | Phase::Wrapping(_) => return,
        };
        let Some(c) = self.contacts.remove(&no) else { return };
        let w = Wire::contact("contact.abandoned", &c.id);
        self.emit_contact(&c, now, w, true);
        if let Some(a) = ringing {
            self.agent_ready(a, now);
        }
        self.maybe_callback(&c, Outcome::Abandoned, now);
    }

    fn route_transfer(&mut self, no: u64, token: u64, now: i64) {
        let Some(mut c) = self.contacts.remove(&no) else { return };
        if c.phase == Phase::Waiting && c.wait_token == token {
            c.longest_wait = c.longest_wait.max(now - c.since);
            self.transfer(&mut c, no, now);
        }
        self.contacts.insert(no, c);
        self.dispatch_contact(no, now);
    }

    /// Moves a contact to another queue of its channel; it waits there from `now`.
    fn transfer(&mut self, c: &mut Contact, no: u64, now: i64) {
        let siblings = self.queues[c.queue].siblings.clone();
        let Some(to) = self.pick(&siblings) else { return };
        let to_name = self.queues[to].name.clone();
        let mut w = Wire::contact("contact.transferred", &c.id);
        w.to_queue = Some(&to_name);
        self.emit_contact(c, now, w, false);
        c.transfers += 1;
        c.queue = to;
        c.wait_token = self.token();
        self.start_wait(c, now, 0.25);
        self.queues[to].waiting.push_back((no, c.wait_token));
    }

    fn answer(&mut self, no: u64, token: u64, now: i64) {
        let Some(mut c) = self.contacts.remove(&no) else { return };
        let Phase::Ringing(a) = c.phase else {
            self.contacts.insert(no, c);
            return;
        };
        if c.wait_token != token {
            self.contacts.insert(no, c);
            return;
        }
        c.phase = Phase::Talking(a);
        c.longest_wait = c.longest_wait.max(now - c.since);
        let agent_id = self.agents[a].id.clone();
        let mut w = Wire::contact("contact.answered", &c.id);
        w.agent_id = Some(&agent_id);
        self.emit_contact(&c, now, w, true);
        self.agents[a].state = Activity::Handling;
        self.show_agent(a, AgentState::Busy, now);

        // The conversation: talk, with 1-2 holds on some, then the end (or a transfer).
        let m = self.queues[c.queue].model;
        let talk = ms(self.lognormal(m.talk).max(5.0));
        let mut holds: Vec<(i64, i64)> = Vec::new();
        if self.chance(m.hold) {
            let n = if self.chance(0.3) { 2 } else { 1 };
            let mut offsets: Vec<i64> = (0..n)
                .map(|_| (talk as f64 * self.uniform((0.1, 0.9))) as i64)
                .collect();
            offsets.sort_unstable();
            let mut last = 0;
            for off in offsets {
                let off = off.max(last + SECOND);
                if off + SECOND >= talk {
                    break;
                }
                let length = ms(self.lognormal((45.0, 0.6)).clamp(5.0, 600.0));
                holds.push((off, length));
                last = off;
            }
        }
        let mut held = 0;
        for (off, length) in holds {
            self.schedule(now + off + held, Act::HoldStart(no));
            self.schedule(now + off + held + length, Act::HoldEnd(no));
            held += length;
        }
        c.transfer_pending =
            c.transfers == 0 && !self.queues[c.queue].siblings.is_empty() && self.chance(m.transfer_after);
        self.schedule(now + talk + held, Act::End(no));
        self.contacts.insert(no, c);
    }

    fn hold(&mut self, no: u64, kind: &'static str, now: i64) {
        let Some(c) = self.contacts.remove(&no) else { return };
        if matches!(c.phase, Phase::Talking(_)) {
            let w = Wire::contact(kind, &c.id);
            self.emit_contact(&c, now, w, false);
        }
        self.contacts.insert(no, c);
    }

    fn end(&mut self, no: u64, now: i64) {
        let Some(mut c) = self.contacts.remove(&no) else { return };
        let Phase::Talking(a) = c.phase else {
            self.contacts.insert(no, c);
            return;
        };
        let m = self.queues[c.queue].model;
        if c.transfer_pending {
            // The agent hands the customer over, notes it briefly, and is free again.
            c.transfer_pending = false;
            self.transfer(&mut c, no, now);
            c.patience_token = self.token();
            let patience = self.lognormal(m.patience);
            self.schedule(
                now + ms(patience),
                Act::Abandon {
                    contact: no,
                    token: c.patience_token,
                },
            );
            self.contacts.insert(no, c);
            self.agents[a].state = Activity::Acw;
            self.show_agent(a, AgentState::Acw, now);
            let notes = self.uniform((10.0, 30.0));
            self.wake_at(a, now + ms(notes));
            self.dispatch_contact(no, now);
            return;
        }
        let resolved = if self.chance(0.75) {
            let p = if c.transfers > 0 { m.resolved - 0.1 } else { m.resolved };
            Some(self.chance(p))
        } else {
            None
        };
        let mut w = Wire::contact("contact.ended", &c.id);
        w.resolved = resolved;
        self.emit_contact(&c, now, w, false);
        self.agents[a].state = Activity::Acw;
        self.show_agent(a, AgentState::Acw, now);
        c.phase = Phase::Wrapping(a);
        let acw = self.lognormal(m.acw).clamp(3.0, 900.0);
        self.schedule(now + ms(acw), Act::WrapUp(no));
        c.resolved = resolved;
        self.contacts.insert(no, c);
    }

    fn wrap_up(&mut self, no: u64, now: i64) {
        let Some(c) = self.contacts.remove(&no) else { return };
        let Phase::Wrapping(a) = c.phase else {
            self.contacts.insert(no, c);
            return;
        };
        let w = Wire::contact("contact.wrapped_up", &c.id);
        self.emit_contact(&c, now, w, false);
        self.plan_surveys(&c, a, now);
        self.maybe_callback(&c, Outcome::Handled(c.resolved), now);
        self.agent_ready(a, now);
    }

    /// About 20 % CSAT and 10 % NPS answers, minutes after the contact (some much later).
    fn plan_surveys(&mut self, c: &Contact, a: usize, now: i64) {
        let m = self.queues[c.queue].model;
        let mut happy = match c.resolved {
            Some(true) => 0.88,
            Some(false) => 0.35,
            None => 0.7,
        };
        if c.longest_wait > ms(m.long_wait) {
            happy -= 0.2;
        }
        let mut kinds = Vec::new();
        if self.chance(0.2) {
            kinds.push(if self.chance(m.csat_five) {
                SurveyKind::CsatFive
            } else {
                SurveyKind::CsatThumbs
            });
        }
        if self.chance(0.1) {
            kinds.push(SurveyKind::Nps);
        }
        for kind in kinds {
            let delay = if self.chance(0.05) {
                self.uniform((3_600.0, 48.0 * 3_600.0))
            } else {
                self.lognormal(m.survey_delay).max(20.0)
            };
            let plan = SurveyPlan {
                kind,
                contact_id: c.id.clone(),
                key: c.key.clone(),
                channel: c.channel,
                queue: self.queues[c.queue].name.clone(),
                agent: self.agents[a].id.clone(),
                explicit: self.chance(0.3),
                happy,
            };
            self.schedule(now + ms(delay), Act::Survey(Box::new(plan)));
        }
    }

    fn survey(&mut self, plan: SurveyPlan, now: i64) {
        let happy = self.chance(plan.happy);
        let (kind, score, scale) = match plan.kind {
            SurveyKind::CsatFive => {
                let score = if happy {
                    if self.chance(0.6) {
                        5
                    } else {
                        4
                    }
                } else {
                    self.rng.random_range(1..=3)
                };
                ("survey.csat", score, Some("five"))
            }
            SurveyKind::CsatThumbs => ("survey.csat", i64::from(happy), Some("thumbs")),
            SurveyKind::Nps => ("survey.nps", self.nps_score(happy), None),
        };
        let mut w = Wire::contact(kind, &plan.contact_id);
        w.score = Some(score);
        w.scale = scale;
        if plan.explicit {
            w.channel = Some(plan.channel.as_str());
            w.queue = Some(&plan.queue);
            w.agent_id = Some(&plan.agent);
        }
        self.emit(TOPIC_SURVEYS, &plan.key, now, w);
    }

    /// An NPS score: happy customers mostly promote, unhappy ones mostly detract.
    fn nps_score(&mut self, happy: bool) -> i64 {
        match (happy, self.chance(0.7)) {
            (true, true) => self.rng.random_range(9..=10),
            (false, true) => self.rng.random_range(0..=6),
            _ => self.rng.random_range(7..=8),
        }
    }

    /// A relationship NPS answer (no contact), following the time-of-day curve.
    fn relationship_nps(&mut self, now: i64) {
        if let Some(gap) = self.exp_gap(self.relationship_rate) {
            self.schedule(now + gap, Act::RelationshipNps);
        }
        if !self.chance(self.load(now)) {
            return;
        }
        let customer = format!("k{}", self.rng.random_range(0..self.pool));
        let happy = self.chance(0.6);
        let mut w = Wire::new("survey.nps");
        w.score = Some(self.nps_score(happy));
        self.emit(TOPIC_SURVEYS, &customer, now, w);
    }

    /// A known customer whose request was not settled comes back about the same topic:
    /// after an abandon within minutes, when unresolved within hours, and sometimes even
    /// when resolved, within days. Mostly on the same channel.
    fn maybe_callback(&mut self, c: &Contact, outcome: Outcome, now: i64) {
        let Some(customer) = c.customer else { return };
        let (p, delay) = match outcome {
            Outcome::Abandoned => (0.45, (600.0, 1.0)),
            Outcome::Handled(Some(false)) => (0.6, (3_600.0, 1.2)),
            Outcome::Handled(None) => (0.15, (6.0 * 3_600.0, 1.0)),
            Outcome::Handled(Some(true)) => (0.06, (20.0 * 3_600.0, 1.0)),
        };
        if !self.chance(p) {
            return;
        }
        let delay = ms(self.lognormal(delay).clamp(120.0, 6.0 * 86_400.0));
        let channel = if self.chance(0.7) {
            c.channel
        } else {
            let channels = self.channels.clone();
            self.pick(&channels).unwrap_or(c.channel)
        };
        let name = self.queues[c.queue].name.clone();
        let same_name =
            (0..self.queues.len()).find(|&q| self.queues[q].channel == channel && self.queues[q].name == name);
        let queue = match same_name {
            Some(q) => q,
            None => self.weighted_queue(channel).unwrap_or(c.queue),
        };
        let plan = CallbackPlan {
            customer,
            topic: c.topic.clone(),
            queue,
        };
        self.schedule(now + delay, Act::Callback(Box::new(plan)));
    }

    /// A queue of `channel`, by weight.
    fn weighted_queue(&mut self, channel: Channel) -> Option<usize> {
        let candidates: Vec<(usize, f64)> = (0..self.queues.len())
            .filter(|&q| self.queues[q].channel == channel)
            .map(|q| (q, self.queues[q].peak_rate))
            .collect();
        let total: f64 = candidates.iter().map(|c| c.1).sum();
        if total <= 0.0 {
            return candidates.first().map(|c| c.0);
        }
        let mut x = self.rng.random::<f64>() * total;
        for &(q, w) in &candidates {
            if x < w {
                return Some(q);
            }
            x -= w;
        }
        candidates.last().map(|c| c.0)
    }
}

/// How a contact finished, for the chance that the customer comes back.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Abandoned,
    Handled(Option<bool>),
}
