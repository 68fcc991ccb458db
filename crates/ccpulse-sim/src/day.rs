//! A realistic day of contact-centre traffic, written independently of the
//! [`Simulator`](crate::Simulator) (which models every agent's state change, so that
//! two events in five are `agent.state`): 24 hours of event time, a daily curve, a
//! large customer base, surveys hours after their contacts and few agent events, as
//! a day's export of a large centre looks. For benchmarks (`ccpulse-day`) and tests.
//! Deterministic by seed.
//!
//! What a day holds (the defaults):
//!
//! - 200 000 contacts between 00:00 and 24:00 UTC, arriving along
//!   [`crate::traffic_profile`] (quiet at night, peaks at 10–11 and 14–15 UTC):
//!   58 % voice, 28 % chat, 14 % email, over 13 (queue, channel) groups.
//! - 100 000 customers: every customer has at least one contact; 22 % of contacts are a
//!   customer coming back about the same topic (minutes to hours later, sometimes on
//!   another channel); 8 % of calls and 20 % of chats are anonymous (keyed by contact).
//! - Each contact's story: waits (seconds on voice and chat, tens of minutes to hours on
//!   email), abandons (short ones too), transfers before and after an answer, holds,
//!   `contact.ended` with or without `resolved`, after-contact work, `wrapped_up`.
//! - Surveys: 20 % of handled contacts answer a CSAT survey and 10 % an NPS survey, 10
//!   minutes to 20 hours after the contact (median 2 hours); the survey tool delivers
//!   them in batches every [`DayConfig::survey_batch_ms`] (15 minutes), so they come up
//!   to that much later than their `ts` in the file. A trickle of relationship NPS
//!   answers (no contact).
//! - Agents on shifts that follow the curve: logging in, breaks, lunch and logging out
//!   are their only `agent.state` events (about 2 % of the lines: 18 009 of 915 648).
//! - Producers' jitter: a line is written up to 1.5 s after its `ts`, so events close in
//!   time come in either order; 1 in 1 000 contact events is delivered twice.
//! - Ids are UUIDs (events and contacts), `cust-0000042` (customers), `agent-0042`.
//!   Times are RFC 3339 UTC with milliseconds.
//!
//! Events with `ts` after the end of the day are not written (contacts still open at
//! midnight end there, as in a day's export).

use std::cmp::Ordering;
use std::io::{self, Write};

use ccpulse_core::time::{format_rfc3339, DAY, HOUR, MINUTE, SECOND};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// What day to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct DayConfig {
    /// Seed: the same configuration writes the same bytes.
    pub seed: u64,
    /// Start of the day (epoch milliseconds).
    pub start_ms: i64,
    /// Contacts in the day.
    pub contacts: usize,
    /// Distinct customers (each has at least one contact when there are enough).
    pub customers: usize,
    /// Surveys are delivered at the next multiple of this (0: at their `ts`).
    pub survey_batch_ms: i64,
    /// Contact events delivered twice, per thousand.
    pub duplicates_per_thousand: u32,
}

/// `2026-11-16T00:00:00Z`, a Monday.
pub const DEFAULT_DAY_START: i64 = 1_794_787_200_000;

impl Default for DayConfig {
    fn default() -> Self {
        DayConfig {
            seed: 1,
            start_ms: DEFAULT_DAY_START,
            contacts: 200_000,
            customers: 100_000,
            survey_batch_ms: 15 * MINUTE,
            duplicates_per_thousand: 1,
        }
    }
}

/// One line of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When it is delivered (the file's order).
    pub at: i64,
    /// Event time.
    pub ts: i64,
    /// The Kafka key: customer id, else contact id; agent id for agent events.
    pub key: String,
    /// The JSON event.
    pub json: String,
    /// An `agent.state` event.
    pub agent: bool,
}

/// What a day holds, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayStats {
    /// Lines (events, duplicates included).
    pub lines: usize,
    /// Contacts.
    pub contacts: usize,
    /// Distinct customers named.
    pub customers: usize,
    /// `agent.state` lines.
    pub agent_events: usize,
    /// Survey lines.
    pub surveys: usize,
    /// Duplicate lines.
    pub duplicates: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Voice,
    Chat,
    Email,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
        }
    }
}

/// The (queue, channel) groups and their share of the contacts.
const QUEUES: [(&str, Channel, f64); 13] = [
    ("billing", Channel::Voice, 14.0),
    ("tech", Channel::Voice, 13.0),
    ("sales", Channel::Voice, 9.0),
    ("retention", Channel::Voice, 6.0),
    ("orders", Channel::Voice, 9.0),
    ("claims", Channel::Voice, 7.0),
    ("billing", Channel::Chat, 8.0),
    ("tech", Channel::Chat, 9.0),
    ("sales", Channel::Chat, 6.0),
    ("orders", Channel::Chat, 5.0),
    ("support", Channel::Email, 7.0),
    ("billing", Channel::Email, 4.0),
    ("claims", Channel::Email, 3.0),
];

/// Topics by queue name.
fn topics(queue: &str) -> &'static [&'static str] {
    match queue {
        "billing" => &["invoice", "payment", "refund", "direct_debit"],
        "tech" => &["outage", "setup", "router", "password"],
        "sales" => &["upgrade", "new_contract", "pricing"],
        "retention" => &["cancellation", "offer"],
        "orders" => &["delivery", "return", "status"],
        "claims" => &["damage", "warranty"],
        _ => &["account", "complaint", "general"],
    }
}

/// Teams and the queue names they serve (on every channel).
const TEAMS: [(&str, &[&str]); 8] = [
    ("aurora", &["billing"]),
    ("boreal", &["billing", "retention"]),
    ("cedar", &["tech"]),
    ("delta", &["tech", "orders"]),
    ("ember", &["sales", "retention"]),
    ("fjord", &["orders", "claims"]),
    ("granite", &["support", "claims"]),
    ("harbor", &["sales", "billing", "support"]),
];

/// How contacts of a channel behave; durations in seconds, (median, sigma) log-normal.
struct Model {
    wait: (f64, f64),
    patience: (f64, f64),
    short_patience: f64,
    talk: (f64, f64),
    acw: (f64, f64),
    hold: f64,
    anonymous: f64,
    transfer_before: f64,
    transfer_after: f64,
}

fn model(channel: Channel) -> Model {
    match channel {
        Channel::Voice => Model {
            wait: (14.0, 1.1),
            patience: (130.0, 0.9),
            short_patience: 0.03,
            talk: (260.0, 0.6),
            acw: (40.0, 0.5),
            hold: 0.18,
            anonymous: 0.08,
            transfer_before: 0.015,
            transfer_after: 0.035,
        },
        Channel::Chat => Model {
            wait: (35.0, 1.0),
            patience: (280.0, 0.8),
            short_patience: 0.02,
            talk: (480.0, 0.5),
            acw: (30.0, 0.5),
            hold: 0.05,
            anonymous: 0.2,
            transfer_before: 0.015,
            transfer_after: 0.03,
        },
        Channel::Email => Model {
            wait: (2_700.0, 1.0),
            patience: (f64::INFINITY, 0.0),
            short_patience: 0.0,
            talk: (420.0, 0.7),
            acw: (60.0, 0.5),
            hold: 0.0,
            anonymous: 0.0,
            transfer_before: 0.02,
            transfer_after: 0.02,
        },
    }
}

/// Agents needed at the peak: contacts an hour at the peak times about six minutes of
/// work each, at 85 % occupancy.
fn agents_needed(contacts: usize) -> usize {
    let per_hour_at_peak = contacts as f64 / profile_sum();
    ((per_hour_at_peak * 0.1 / 0.85).ceil() as usize).max(TEAMS.len())
}

/// The integral of the traffic profile over a day, in hours at the peak rate.
fn profile_sum() -> f64 {
    (0..24 * 60).map(|m| crate::traffic_profile(m * MINUTE) / 60.0).sum()
}

struct Gen {
    rng: StdRng,
    cfg: DayConfig,
    lines: Vec<Line>,
    end: i64,
}

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    fn lognormal(&mut self, (median, sigma): (f64, f64)) -> f64 {
        let z: f64 = self.rng.sample(StandardNormal);
        median * (sigma * z).exp()
    }

    fn ms(&mut self, dist: (f64, f64)) -> i64 {
        let s = self.lognormal(dist);
        if s.is_finite() {
            (s * 1000.0).clamp(1.0, 30.0 * DAY as f64) as i64
        } else {
            i64::MAX / 4
        }
    }

    fn uuid(&mut self) -> String {
        let v: u128 = self.rng.random();
        let h = format!("{v:032x}");
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// Writes an event at `ts` with the fields after `type` and `ts` (`extra`, JSON
    /// members with a leading comma), delivered at `at`; not after the end of the day.
    fn emit(&mut self, ts: i64, at: i64, key: &str, kind: &str, extra: &str, agent: bool) -> bool {
        if ts >= self.end {
            return false;
        }
        let id = self.uuid();
        let json = format!(
            r#"{{"id":"{id}","type":"{kind}","ts":"{}"{extra}}}"#,
            format_rfc3339(ts)
        );
        self.lines.push(Line {
            at,
            ts,
            key: key.to_owned(),
            json,
            agent,
        });
        true
    }

    /// A contact or agent event, delivered with producer jitter (and sometimes twice).
    fn event(&mut self, ts: i64, key: &str, kind: &str, extra: &str, agent: bool) {
        let at = ts + self.rng.random_range(0..1_500);
        let written = self.emit(ts, at, key, kind, extra, agent);
        if written && !agent && self.rng.random_range(0..1000) < self.cfg.duplicates_per_thousand {
            if let Some(mut dup) = self.lines.last().cloned() {
                dup.at += self.rng.random_range(1_000..30_000);
                self.lines.push(dup);
            }
        }
    }
}

/// One contact to play out.
struct Plan {
    at: i64,
    queue: usize,
    customer: Option<u32>,
    topic: &'static str,
}

/// Generates the day, in file order.
pub fn generate(cfg: &DayConfig) -> (Vec<Line>, DayStats) {
    let start = cfg.start_ms;
    let mut g = Gen {
        rng: StdRng::seed_from_u64(cfg.seed),
        cfg: cfg.clone(),
        lines: Vec::with_capacity(cfg.contacts * 8),
        end: start + DAY,
    };

    // Arrivals along the daily curve (rejection sampling), in time order.
    let mut arrivals: Vec<i64> = (0..cfg.contacts)
        .map(|_| loop {
            let t = g.rng.random_range(0..DAY);
            if g.rng.random::<f64>() < crate::traffic_profile(start + t) {
                break start + t;
            }
        })
        .collect();
    arrivals.sort_unstable();

    // Queues, customers and topics: a share of contacts are customers coming back.
    let total_weight: f64 = QUEUES.iter().map(|q| q.2).sum();
    let customers = cfg.customers.max(1) as u32;
    let mut next_new: u32 = 0;
    let mut plans: Vec<Plan> = Vec::with_capacity(arrivals.len());
    for (i, &at) in arrivals.iter().enumerate() {
        let earlier = if i > 0 && g.chance(0.22) {
            // A customer coming back: the contact about `gap` earlier (minutes to hours).
            let gap = g.ms((2_400.0, 1.3)).max(2 * MINUTE);
            let j = arrivals[..i].partition_point(|&t| t < at - gap);
            plans.get(j.min(i - 1)).filter(|p| p.customer.is_some())
        } else {
            None
        };
        let plan = match earlier {
            Some(p) => {
                let (customer, topic, from) = (p.customer, p.topic, p.queue);
                let queue = if g.chance(0.75) {
                    from
                } else {
                    // Another channel, the same subject: a queue of that name if any.
                    let name = QUEUES[from].0;
                    let same: Vec<usize> = (0..QUEUES.len()).filter(|&q| QUEUES[q].0 == name).collect();
                    same[g.rng.random_range(0..same.len())]
                };
                Plan {
                    at,
                    queue,
                    customer,
                    topic,
                }
            }
            None => {
                let mut x = g.rng.random::<f64>() * total_weight;
                let mut queue = QUEUES.len() - 1;
                for (q, spec) in QUEUES.iter().enumerate() {
                    if x < spec.2 {
                        queue = q;
                        break;
                    }
                    x -= spec.2;
                }
                let m = model(QUEUES[queue].1);
                let customer = if g.chance(m.anonymous) {
                    None
                } else if next_new < customers {
                    // Every customer gets a first contact, in a shuffled order.
                    next_new += 1;
                    Some(((u64::from(next_new - 1) * 2_654_435_761) % u64::from(customers)) as u32)
                } else {
                    Some(g.rng.random_range(0..customers))
                };
                let ts = topics(QUEUES[queue].0);
                let topic = ts[g.rng.random_range(0..ts.len())];
                Plan {
                    at,
                    queue,
                    customer,
                    topic,
                }
            }
        };
        plans.push(plan);
    }

    // Agents: per team, enough for its share at the peak; shifts follow the curve.
    let n_agents = agents_needed(cfg.contacts);
    let team_of = |a: usize| a % TEAMS.len();
    let agent_name = |a: usize| format!("agent-{:04}", a + 1);
    let mut shifts: Vec<(i64, i64)> = Vec::with_capacity(n_agents);
    for a in 0..n_agents {
        // Start times drawn along the curve shifted 1.5 h earlier, 8 h shifts.
        let begin = loop {
            let t = g.rng.random_range(-2 * HOUR..DAY - 4 * HOUR);
            if g.rng.random::<f64>() < crate::traffic_profile(start + t + 3 * HOUR) {
                break t;
            }
        };
        let (from, to) = (start + begin, start + begin + 8 * HOUR);
        shifts.push((from, to));
        let (id, team) = (agent_name(a), TEAMS[team_of(a)]);
        let queues: Vec<String> = team.1.iter().map(|q| format!("\"{q}\"")).collect();
        let fields = |state: &str| {
            format!(
                r#","agent_id":"{id}","state":"{state}","team":"{}","queues":[{}]"#,
                team.0,
                queues.join(",")
            )
        };
        let mut states = vec![(from.max(start), "available")];
        for (off, len) in [
            (2 * HOUR, 15 * MINUTE),
            (4 * HOUR, 30 * MINUTE),
            (6 * HOUR, 15 * MINUTE),
        ] {
            let at = from + off + g.rng.random_range(-20 * MINUTE..20 * MINUTE);
            states.push((at, "away"));
            states.push((at + len, "available"));
        }
        states.push((to, "offline"));
        for (ts, state) in states {
            if ts >= start {
                g.event(ts, &id, "agent.state", &fields(state), true);
            }
        }
    }
    let mut by_queue: Vec<Vec<usize>> = vec![Vec::new(); QUEUES.len()];
    for a in 0..n_agents {
        for (q, spec) in QUEUES.iter().enumerate() {
            if TEAMS[team_of(a)].1.contains(&spec.0) {
                by_queue[q].push(a);
            }
        }
    }
    // An agent of the queue, on shift at `ts` when one of a few picks is.
    let pick_agent = |g: &mut Gen, q: usize, ts: i64| -> String {
        let list = &by_queue[q];
        let mut a = list[g.rng.random_range(0..list.len())];
        for _ in 0..8 {
            let (from, to) = shifts[a];
            if from <= ts && ts < to {
                break;
            }
            a = list[g.rng.random_range(0..list.len())];
        }
        agent_name(a)
    };

    let mut stats = DayStats {
        contacts: plans.len(),
        ..DayStats::default()
    };
    let mut seen_customers = vec![false; customers as usize];
    for plan in &plans {
        let (name, channel, _) = QUEUES[plan.queue];
        let m = model(channel);
        let contact = g.uuid();
        let customer = plan.customer.map(|c| format!("cust-{c:07}"));
        if let Some(c) = plan.customer {
            seen_customers[c as usize] = true;
        }
        let key = customer.clone().unwrap_or_else(|| contact.clone());
        let cid = format!(r#","contact_id":"{contact}""#);
        // The offer.
        let mut offer = format!(r#"{cid},"channel":"{}","queue":"{name}""#, channel.name());
        if let Some(c) = &customer {
            offer.push_str(&format!(r#","customer_id":"{c}""#));
            let gold = plan.customer.is_some_and(|c| c % 7 == 0);
            if g.chance(0.85) {
                offer.push_str(if gold {
                    r#","segment":"gold""#
                } else {
                    r#","segment":"standard""#
                });
            }
        }
        offer.push_str(&format!(r#","topic":"{}""#, plan.topic));
        if g.chance(0.03) {
            offer.push_str(r#","repeat":true"#);
        }
        g.event(plan.at, &key, "contact.offered", &offer, false);

        // Legs: waits, transfers, an answer or an abandon.
        let (mut queue, mut since, mut transfers) = (plan.queue, plan.at, 0);
        let with_queue = |g: &mut Gen, q: usize| -> String {
            if g.chance(0.5) {
                format!(r#","channel":"{}","queue":"{}""#, channel.name(), QUEUES[q].0)
            } else {
                String::new()
            }
        };
        let siblings = |q: usize| -> Vec<usize> {
            (0..QUEUES.len())
                .filter(|&o| o != q && QUEUES[o].1 == QUEUES[q].1 && QUEUES[o].0 != QUEUES[q].0)
                .collect()
        };
        let handled_by = loop {
            let wait = g.ms(m.wait);
            let patience = if g.chance(m.short_patience) {
                g.rng.random_range(1_000..5_000)
            } else {
                g.ms(m.patience)
            };
            if transfers == 0 && g.chance(m.transfer_before) {
                let at = since + g.rng.random_range(5 * SECOND..60 * SECOND).min(wait.max(SECOND));
                let sib = siblings(queue);
                let to = sib[g.rng.random_range(0..sib.len())];
                let f = format!(r#"{cid},"to_queue":"{}""#, QUEUES[to].0);
                g.event(at, &key, "contact.transferred", &f, false);
                (queue, since, transfers) = (to, at, transfers + 1);
                continue;
            }
            if patience < wait {
                let extra = format!("{cid}{}", with_queue(&mut g, queue));
                g.event(since + patience, &key, "contact.abandoned", &extra, false);
                break None;
            }
            let answered = since + wait;
            let agent = pick_agent(&mut g, queue, answered);
            let extra = format!(r#"{cid},"agent_id":"{agent}"{}"#, with_queue(&mut g, queue));
            g.event(answered, &key, "contact.answered", &extra, false);
            // Talk, with holds on some.
            let talk = g.ms(m.talk).max(5 * SECOND);
            let mut held = 0;
            if g.chance(m.hold) {
                let holds = if g.chance(0.3) { 2 } else { 1 };
                for h in 1..=holds {
                    let t = answered + talk * h / 3 + held;
                    let length = g.ms((45.0, 0.6)).clamp(5 * SECOND, 10 * MINUTE);
                    g.event(t, &key, "contact.hold_started", &cid, false);
                    g.event(t + length, &key, "contact.hold_ended", &cid, false);
                    held += length;
                }
            }
            let end = answered + talk + held;
            if transfers == 0 && g.chance(m.transfer_after) {
                let sib = siblings(queue);
                let to = sib[g.rng.random_range(0..sib.len())];
                let f = format!(r#"{cid},"to_queue":"{}""#, QUEUES[to].0);
                g.event(end, &key, "contact.transferred", &f, false);
                (queue, since, transfers) = (to, end, transfers + 1);
                continue;
            }
            let resolved = match g.rng.random_range(0..100) {
                0..60 => r#","resolved":true"#,
                60..75 => r#","resolved":false"#,
                _ => "",
            };
            g.event(end, &key, "contact.ended", &format!("{cid}{resolved}"), false);
            let wrapped = end + g.ms(m.acw).clamp(3 * SECOND, 15 * MINUTE);
            g.event(wrapped, &key, "contact.wrapped_up", &cid, false);
            break Some((agent, wrapped, queue));
        };

        // Surveys, hours later, delivered in batches.
        if let Some((agent, wrapped, q)) = handled_by {
            for (p, kind) in [(0.2, "survey.csat"), (0.1, "survey.nps")] {
                if !g.chance(p) {
                    continue;
                }
                let ts = wrapped + g.ms((7_200.0, 1.0)).clamp(10 * MINUTE, 20 * HOUR);
                let mut f = cid.clone();
                if kind == "survey.csat" {
                    if g.chance(0.7) {
                        f.push_str(&format!(r#","score":{},"scale":"five""#, g.rng.random_range(1..=5)));
                    } else {
                        f.push_str(&format!(r#","score":{},"scale":"thumbs""#, g.rng.random_range(0..=1)));
                    }
                } else {
                    f.push_str(&format!(r#","score":{}"#, g.rng.random_range(0..=10)));
                }
                if g.chance(0.3) {
                    f.push_str(&format!(
                        r#","channel":"{}","queue":"{}","agent_id":"{agent}""#,
                        channel.name(),
                        QUEUES[q].0
                    ));
                }
                let batch = cfg.survey_batch_ms;
                let at = if batch > 0 { (ts / batch + 1) * batch } else { ts } + g.rng.random_range(0..1_500);
                g.emit(ts, at, &key, kind, &f, false);
            }
        }
        // A trickle of relationship NPS answers.
        if g.chance(0.02) {
            let ts = plan.at + g.ms((600.0, 1.0));
            let f = format!(r#","score":{}"#, g.rng.random_range(0..=10));
            let customer = format!("cust-{:07}", g.rng.random_range(0..customers));
            g.event(ts, &customer, "survey.nps", &f, false);
        }
    }

    let mut lines = g.lines;
    // File order: delivery time, then event time, then the order written (stable sort).
    lines.sort_by(|a, b| match a.at.cmp(&b.at) {
        Ordering::Equal => a.ts.cmp(&b.ts),
        o => o,
    });
    stats.lines = lines.len();
    stats.customers = seen_customers.iter().filter(|&&s| s).count();
    stats.agent_events = lines.iter().filter(|l| l.agent).count();
    stats.surveys = lines.iter().filter(|l| l.json.contains(r#""type":"survey."#)).count();
    let mut ids = std::collections::HashSet::with_capacity(lines.len());
    stats.duplicates = lines.iter().filter(|l| !ids.insert(&l.json)).count();
    (lines, stats)
}

/// Writes the lines: bare JSON, or `key<TAB>json` as `kcat -K'\t'` writes.
pub fn write(lines: &[Line], keys: bool, out: &mut impl Write) -> io::Result<()> {
    for l in lines {
        if keys {
            out.write_all(l.key.as_bytes())?;
            out.write_all(b"\t")?;
        }
        out.write_all(l.json.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_day_is_deterministic_and_shaped_as_asked() {
        let cfg = DayConfig {
            contacts: 4_000,
            customers: 2_000,
            ..DayConfig::default()
        };
        let (a, stats) = generate(&cfg);
        let (b, _) = generate(&cfg);
        assert_eq!(a, b, "same seed, same day");
        assert_eq!(stats.contacts, 4_000);
        assert_eq!(stats.customers, 2_000);
        assert!(stats.agent_events * 10 < stats.lines, "{stats:?}");
        assert!(stats.surveys > 0 && stats.duplicates > 0, "{stats:?}");
        let first = a.first().map_or(0, |l| l.ts);
        let last = a.iter().map(|l| l.ts).max().unwrap_or(0);
        assert!(first >= cfg.start_ms && last < cfg.start_ms + DAY);
        assert!(last - first > 20 * HOUR, "spans the day");
        // Surveys come after their contact's wrap-up, and later than their ts in the file.
        assert!(a.iter().filter(|l| l.json.contains("survey.csat")).all(|l| l.at > l.ts));
        // Every line is an event the engine accepts.
        let wall = cfg.start_ms + 2 * DAY;
        for l in &a {
            assert!(ccpulse_core::parse_event(l.json.as_bytes(), wall).is_ok(), "{}", l.json);
        }
    }
}
