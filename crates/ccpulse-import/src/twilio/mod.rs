//! Twilio TaskRouter event callbacks into contract events, and the callbacks' signature.
//!
//! TaskRouter POSTs one event per request, form-encoded, to the workspace's Event
//! Callback URL, signed with the account's auth token ([`signature`]). A task is a
//! contact; it is offered when it enters a task queue, answered when a worker accepts
//! its reservation (TaskRouter makes one reservation per worker it tries; only the
//! accepted one matters), and ends with `task.wrapup` and `task.completed`. The mapping
//! is in `docs/import-twilio.md`; [`receiver`] is the HTTP side.

pub mod receiver;

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use ccpulse_core::event::{AgentState, Channel};
use ccpulse_core::time::Millis;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::contract::{event_id, fits, Event, Kind};

/// The most tasks whose current queue is remembered (to tell a move to another queue
/// from a first entry); past it the oldest are forgotten.
pub const MAX_TASKS: usize = 100_000;

/// The signature TaskRouter sends in `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed by
/// the auth token, of the full URL it requested followed by every POST parameter's name
/// and value, sorted by name.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest(auth_token, url, params).finalize().into_bytes())
}

fn digest(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    // HMAC accepts a key of any length.
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) {
        Ok(m) => m,
        Err(e) => unreachable!("HMAC takes keys of any length: {e}"),
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// Whether `header` is the signature of the request, compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else {
        return false;
    };
    digest(auth_token, url, params).verify_slice(&given).is_ok()
}

/// The translator: the current queue of each task it saw enter one, so that a task
/// moved to another queue is a transfer.
#[derive(Debug)]
pub struct TaskRouter {
    default_channel: Channel,
    tasks: HashMap<String, Task>,
    order: VecDeque<String>,
}

#[derive(Debug, Clone)]
struct Task {
    queue: String,
    key: String,
}

/// What a callback became.
#[derive(Debug, Clone, PartialEq)]
pub enum Translated {
    /// Contract events (possibly none for an event that changes no figure).
    Events(Vec<Event>),
    /// An event type not translated by design.
    Skipped(String),
}

fn param<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A JSON attribute of the task (`TaskAttributes`) or worker (`WorkerAttributes`).
fn attribute(p: &[(String, String)], field: &str, names: &[&str]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(param(p, field)?).ok()?;
    names
        .iter()
        .find_map(|n| v.get(n).and_then(|x| x.as_str()).map(str::to_owned))
        .filter(|s| fits(s))
}

/// The state of a worker activity, by its name (TaskRouter's activities are named by
/// each workspace; the usual ones are recognised, any other is `away`).
pub fn activity_state(name: &str) -> AgentState {
    let n = name.to_ascii_lowercase().replace([' ', '-', '_'], "");
    match n.as_str() {
        "available" | "idle" | "ready" => AgentState::Available,
        "offline" | "loggedout" => AgentState::Offline,
        "busy" | "reserved" | "oncall" | "talking" => AgentState::Busy,
        "wrapup" | "wrapping" | "acw" | "aftercallwork" => AgentState::Acw,
        _ => AgentState::Away,
    }
}

impl TaskRouter {
    /// A translator; `default_channel` is the channel of tasks on TaskRouter's `default`
    /// task channel (or one it does not recognise).
    pub fn new(default_channel: Channel) -> Self {
        TaskRouter {
            default_channel,
            tasks: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn channel(&self, p: &[(String, String)]) -> Channel {
        match param(p, "TaskChannelUniqueName").unwrap_or("default") {
            "voice" => Channel::Voice,
            "chat" | "sms" | "messaging" | "whatsapp" | "web" => Channel::Chat,
            "email" => Channel::Email,
            _ => self.default_channel,
        }
    }

    fn remember(&mut self, task: &str, t: Task) {
        if !self.tasks.contains_key(task) {
            if self.tasks.len() >= MAX_TASKS {
                if let Some(old) = self.order.pop_front() {
                    self.tasks.remove(&old);
                }
            }
            self.order.push_back(task.to_owned());
        }
        self.tasks.insert(task.to_owned(), t);
    }

    /// Translates the parameters of one callback. An error says what is wrong with it.
    pub fn translate(&mut self, p: &[(String, String)]) -> Result<Translated, String> {
        let kind = param(p, "EventType").ok_or("no EventType")?;
        let ts: Millis = match (param(p, "TimestampMs"), param(p, "Timestamp")) {
            (Some(ms), _) => ms.parse().map_err(|_| format!("unreadable TimestampMs {ms:?}"))?,
            (None, Some(s)) => s
                .parse::<i64>()
                .map(|s| s * 1000)
                .map_err(|_| format!("unreadable Timestamp {s:?}"))?,
            (None, None) => return Err("no Timestamp".into()),
        };
        // Twilio sends the same event (same Sid) again when it retries: same ids.
        let record = match param(p, "Sid").or(param(p, "EventSid")) {
            Some(sid) => sid.as_bytes().to_vec(),
            None => {
                let mut sorted: Vec<&(String, String)> = p.iter().collect();
                sorted.sort();
                serde_json::to_vec(&sorted).unwrap_or_default()
            }
        };
        let eid = |suffix: &str| event_id("twl", &record, suffix);
        if kind == "worker.activity.update" {
            let worker = param(p, "WorkerName")
                .or(param(p, "WorkerSid"))
                .ok_or("no WorkerName or WorkerSid")?;
            let activity = param(p, "WorkerActivityName").ok_or("no WorkerActivityName")?;
            let mut e = Event::agent(eid("0"), ts, worker, activity_state(activity));
            e.team = attribute(p, "WorkerAttributes", &["team_name", "team"]);
            return Ok(Translated::Events(vec![e]));
        }
        let mapped = matches!(
            kind,
            "task-queue.entered" | "reservation.accepted" | "task.canceled" | "task.wrapup" | "task.completed"
        );
        if !mapped {
            return Ok(Translated::Skipped(kind.to_owned()));
        }
        let task = param(p, "TaskSid").ok_or("no TaskSid")?;
        let channel = self.channel(p);
        let customer = attribute(p, "TaskAttributes", &["customer_id", "from"]);
        let known = self.tasks.get(task).cloned();
        let key = known
            .as_ref()
            .map(|t| t.key.clone())
            .or_else(|| customer.clone())
            .unwrap_or_else(|| task.to_owned());
        let queue = param(p, "TaskQueueName").or(param(p, "TaskQueueSid"));
        let contact = |k: Kind, suffix: &str| {
            let e = Event::contact(k, eid(suffix), ts, task, &key, channel);
            match queue {
                Some(q) => e.queue(q),
                None => e,
            }
        };
        let events = match kind {
            "task-queue.entered" => {
                let queue = queue.ok_or("no TaskQueueName or TaskQueueSid")?;
                let e = match &known {
                    // Moved by its workflow (a timeout, a filter) to another queue.
                    Some(t) if t.queue != queue => {
                        let mut e = Event::contact(Kind::Transferred, eid("0"), ts, task, &key, channel);
                        e.to_queue = Some(queue.to_owned());
                        vec![e]
                    }
                    Some(_) => Vec::new(),
                    None => {
                        let mut e = contact(Kind::Offered, "0");
                        e.customer_id = customer;
                        vec![e]
                    }
                };
                self.remember(
                    task,
                    Task {
                        queue: queue.to_owned(),
                        key: key.clone(),
                    },
                );
                e
            }
            "reservation.accepted" => {
                let worker = param(p, "WorkerName")
                    .or(param(p, "WorkerSid"))
                    .ok_or("no WorkerName or WorkerSid")?;
                let mut e = contact(Kind::Answered, "0");
                e.agent_id = Some(worker.to_owned());
                vec![e]
            }
            "task.canceled" => {
                self.tasks.remove(task);
                let reason = param(p, "TaskCanceledReason").unwrap_or("").to_ascii_lowercase();
                if ["timeout", "ttl", "expired"].iter().any(|w| reason.contains(w)) {
                    vec![contact(Kind::FlowedOut, "0").reason("timeout")]
                } else {
                    vec![contact(Kind::Abandoned, "0")]
                }
            }
            "task.wrapup" => vec![contact(Kind::Ended, "0")],
            // A task completed without a wrap-up state ends here too; after one, this
            // `ended` changes nothing (the first end counts).
            _ => {
                self.tasks.remove(task);
                vec![contact(Kind::Ended, "0"), contact(Kind::WrappedUp, "1")]
            }
        };
        Ok(Translated::Events(events))
    }
}

#[cfg(test)]
mod tests;
