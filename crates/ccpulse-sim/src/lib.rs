//! ccpulse-sim: realistic contact-centre traffic as Kafka-ready messages, for
//! `ccpulse demo`, `ccpulse simulate`, end-to-end tests and benchmarks.
//!
//! A pure, deterministic discrete-event simulation (no IO, no async, no clock): the same
//! [`SimConfig`] gives the same messages, byte for byte. Every message is one event of the
//! contract of `spec/events.md`, on the topic and with the key the contract's "Transport"
//! section asks for.
//!
//! ```
//! use ccpulse_sim::{SimConfig, Simulator};
//!
//! let cfg = SimConfig::default();
//! let start = cfg.start_ms;
//! let mut sim = Simulator::new(cfg);
//! let minute = sim.advance_to(start + 60_000);
//! assert!(minute.iter().any(|m| m.topic == "cc.agents"));
//! ```
//!
//! What is modelled:
//!
//! - **Arrivals**: a Poisson process per queue, with a rate that follows the UTC time of
//!   day ([`traffic_profile`]: quiet at night, peaks mid-morning and early afternoon).
//! - **Agents** in teams; each team serves a few queue names on all their channels.
//!   `agent.state` follows them: `available`, `busy` while handling, `acw` during wrap-up,
//!   `away` on breaks every hour or two, and rarely `offline` for a while.
//! - **Routing**: a free agent serving the queue (the longest idle) takes a contact after
//!   a short ring/accept delay; a freed agent takes voice before chat before email, oldest
//!   first, gold customers a little ahead. Emails wait for a backlog delay of minutes to
//!   hours before they are worked; voice waits seconds, chat tens of seconds.
//! - **Abandons** after a random patience, including short abandons under 5 s.
//! - **Holds** (1-2 on some calls), **transfers** (about 5 %, to another queue of the same
//!   channel, by routing before an answer or by the agent after it), `contact.ended` with
//!   `resolved` true/false on most contacts, then after-contact work and
//!   `contact.wrapped_up`.
//! - **Surveys**: about 20 % of handled contacts answer a CSAT survey (`five` or
//!   `thumbs`) and 10 % an NPS survey, minutes after the contact (a few hours or days
//!   later); scores depend on resolution and wait. A trickle of relationship NPS answers
//!   carries no `contact_id`.
//! - **Repeat customers**: customers who abandoned, were not resolved (or sometimes even
//!   were) come back minutes to days later about the same `topic`, sometimes on another
//!   channel: about a quarter of contacts. A few offers carry an explicit `repeat`.
//!   Offers carry `customer_id` (except anonymous callers and chatters), `topic`, and
//!   mostly a `segment` (`gold` or `standard`).
//! - **Timestamps** are RFC 3339 UTC with milliseconds; about 3 % are epoch millis.
//! - **Invalid messages** on request ([`SimConfig::invalid_per_thousand`]): bad JSON,
//!   unknown type, score out of range, missing field; flagged by [`Message::invalid`].

pub mod day;
mod model;
mod sim;
mod wire;

use ccpulse_core::event::Channel;

pub use model::traffic_profile;
pub use sim::Simulator;

/// Topic of voice contact events.
pub const TOPIC_VOICE: &str = "cc.voice";
/// Topic of chat contact events.
pub const TOPIC_CHAT: &str = "cc.chat";
/// Topic of email contact events.
pub const TOPIC_EMAIL: &str = "cc.email";
/// Topic of survey answers.
pub const TOPIC_SURVEYS: &str = "cc.surveys";
/// Topic of agent state changes.
pub const TOPIC_AGENTS: &str = "cc.agents";
/// Every topic the simulator writes to.
pub const TOPICS: [&str; 5] = [TOPIC_VOICE, TOPIC_CHAT, TOPIC_EMAIL, TOPIC_SURVEYS, TOPIC_AGENTS];

/// The topic of the contact events of a channel.
pub fn contact_topic(channel: Channel) -> &'static str {
    match channel {
        Channel::Voice => TOPIC_VOICE,
        Channel::Chat => TOPIC_CHAT,
        Channel::Email => TOPIC_EMAIL,
    }
}

/// Rough number of messages per contact (its contact events, the agent states they
/// cause, surveys; measured on [`bulk`]): to turn a message rate into
/// [`SimConfig::contacts_per_hour`].
pub const MESSAGES_PER_CONTACT: f64 = 7.5;

/// `2026-11-23T08:00:00Z`: where [`SimConfig::default`] and [`bulk`] start.
pub const DEFAULT_START_MS: i64 = 1_795_420_800_000;

/// One queue contacts arrive in.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// The queue's name (`queue` on the wire). One name may exist on several channels.
    pub name: String,
    /// The channel of its contacts.
    pub channel: Channel,
    /// Its share of the arrivals, relative to the other queues' weights.
    pub weight: f64,
}

impl QueueSpec {
    /// A queue.
    pub fn new(name: &str, channel: Channel, weight: f64) -> Self {
        QueueSpec {
            name: name.to_owned(),
            channel,
            weight,
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of the random generator: the same configuration gives the same messages.
    pub seed: u64,
    /// Event time (epoch milliseconds) at which agents log in and traffic starts. Kept
    /// within the years 1..9000.
    pub start_ms: i64,
    /// Mean arrival rate of contacts (new ones and repeats), all queues together, at the
    /// daily peak; the rate follows [`traffic_profile`] through the day.
    pub contacts_per_hour: f64,
    /// The queues, with their channel and share of the traffic.
    pub queues: Vec<QueueSpec>,
    /// Number of agents.
    pub agents: usize,
    /// Number of teams the agents are spread over; each team serves a few queue names.
    pub teams: usize,
    /// Deliberately invalid messages per thousand contact-event messages, added on the
    /// contact topics (0 = none, the default).
    pub invalid_per_thousand: u32,
    /// Relative load the traffic never falls below (0..1; default 0, the plain
    /// time-of-day curve). The demo sets it so that it is busy at any hour.
    pub min_load: f64,
}

impl SimConfig {
    /// The queues of the default configuration: billing, tech and sales on voice and
    /// chat, support on email.
    pub fn default_queues() -> Vec<QueueSpec> {
        vec![
            QueueSpec::new("billing", Channel::Voice, 3.0),
            QueueSpec::new("billing", Channel::Chat, 1.5),
            QueueSpec::new("tech", Channel::Voice, 2.5),
            QueueSpec::new("tech", Channel::Chat, 1.5),
            QueueSpec::new("sales", Channel::Voice, 1.5),
            QueueSpec::new("sales", Channel::Chat, 1.0),
            QueueSpec::new("support", Channel::Email, 1.5),
        ]
    }

    /// The default configuration with a peak rate of `contacts_per_hour` and enough
    /// agents (and teams of about ten) to answer most contacts within seconds.
    pub fn for_rate(seed: u64, contacts_per_hour: f64) -> Self {
        let rate = if contacts_per_hour.is_finite() {
            contacts_per_hour.max(0.0)
        } else {
            0.0
        };
        let agents = ((rate / 6.0).ceil() as usize).max(5);
        SimConfig {
            seed,
            contacts_per_hour: rate,
            agents,
            teams: agents.div_ceil(10).max(4),
            ..SimConfig::default()
        }
    }
}

impl Default for SimConfig {
    /// 50 agents in 5 teams, [`SimConfig::default_queues`], 300 contacts an hour at peak,
    /// starting at [`DEFAULT_START_MS`] (a Monday, 08:00 UTC), seed 1, no invalid messages.
    fn default() -> Self {
        SimConfig {
            seed: 1,
            start_ms: DEFAULT_START_MS,
            contacts_per_hour: 300.0,
            queues: SimConfig::default_queues(),
            agents: 50,
            teams: 5,
            invalid_per_thousand: 0,
            min_load: 0.0,
        }
    }
}

/// One Kafka message: one JSON event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `cc.voice`, `cc.chat`, `cc.email` (contact events by channel), `cc.surveys` or
    /// `cc.agents`.
    pub topic: &'static str,
    /// The message key: the contact's `customer_id` when it has one, otherwise its
    /// `contact_id`; surveys use their contact's key (relationship surveys the customer);
    /// `agent.state` uses the `agent_id`.
    pub key: String,
    /// The value: one JSON event.
    pub payload: Vec<u8>,
    /// Event time, epoch milliseconds (the Kafka message timestamp to use).
    pub ts: i64,
    /// `true` for a deliberately invalid message (only with
    /// [`SimConfig::invalid_per_thousand`] > 0): the service must reject it.
    pub invalid: bool,
}

/// A realistic mixed stream of exactly `n` messages, for benchmarks. Deterministic for a
/// seed. Simulated time is not tied to any clock: the simulation of a large centre (3000
/// contacts an hour at peak, 500 agents, starting [`DEFAULT_START_MS`]) runs for as
/// many simulated hours as it takes to produce `n` messages; no invalid messages.
pub fn bulk(seed: u64, n: usize) -> Vec<Message> {
    bulk_from(seed, n, DEFAULT_START_MS)
}

/// [`bulk`] with simulated time starting at `start_ms`. The stream covers about one
/// simulated hour per 22 500 messages.
pub fn bulk_from(seed: u64, n: usize, start_ms: i64) -> Vec<Message> {
    bulk_stream(seed, n, start_ms, 0)
}

/// [`bulk_from`] with `invalid_per_thousand` deliberately invalid messages.
pub fn bulk_stream(seed: u64, n: usize, start_ms: i64, invalid_per_thousand: u32) -> Vec<Message> {
    let cfg = SimConfig {
        seed,
        start_ms,
        contacts_per_hour: 3000.0,
        agents: 500,
        teams: 20,
        invalid_per_thousand,
        ..SimConfig::default()
    };
    let mut now = cfg.start_ms;
    let mut sim = Simulator::new(cfg);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(next) = sim.next_ts() else { break };
        now = now.max(next) + 10 * 60_000;
        out.extend(sim.advance_to(now));
    }
    out.truncate(n);
    out
}

/// A [`bulk_stream`] of `n` messages whose newest event is before `end_ms`: the start
/// is moved back until the stream fits (traffic follows the time of day, so how much
/// simulated time `n` messages cover depends on when they start). `None` when it
/// cannot be placed.
pub fn bulk_ending_before(seed: u64, n: usize, end_ms: i64, invalid_per_thousand: u32) -> Option<Vec<Message>> {
    let mut start = end_ms - (n as i64 / 22_500 + 1) * 3_600_000;
    for _ in 0..40 {
        let messages = bulk_stream(seed, n, start, invalid_per_thousand);
        let last = messages.iter().map(|m| m.ts).max()?;
        if last < end_ms && messages.len() == n {
            return Some(messages);
        }
        start -= (last - end_ms).max(0) + 60_000;
    }
    None
}
