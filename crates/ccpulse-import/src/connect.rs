//! Amazon Connect into contract events: contact events (EventBridge, `detail-type`
//! "Amazon Connect Contact Event") and agent event stream records (Kinesis), one JSON
//! object per line, in any mix.
//!
//! Every record is translated on its own (no memory between records), so the order of
//! the input does not matter. A Connect transfer creates a new contact whose
//! `previousContactId` is the one transferred; both are contacts of their own queue, and
//! every contact of a transfer chain is keyed by the chain's `initialContactId`, so that
//! they land on one partition. The mapping is in `docs/import-amazon-connect.md`.

use std::collections::BTreeMap;
use std::path::Path;

use ccpulse_core::event::{AgentState, Channel, MAX_AGENT_QUEUES};
use ccpulse_core::time::{parse_rfc3339, Millis};
use serde_json::Value;

use crate::contract::{event_id, fits, Event, Kind};
use crate::error::ImportError;
use crate::report::Report;

/// The largest record read, in bytes (an agent record with a large routing profile is
/// tens of kilobytes).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The translator: the display names to use for queue and agent ARNs, and the counts.
#[derive(Debug, Default)]
pub struct Connect {
    names: BTreeMap<String, String>,
    report: Report,
}

/// Reads a names file: a JSON object from an ARN, or the id at its end, to the name to
/// write (`{"arn:aws:connect:…:queue/…": "billing", "8c3b…": "jane.doe"}`).
pub fn load_names(path: &Path) -> Result<BTreeMap<String, String>, ImportError> {
    let err = |problem: String| ImportError::Names {
        path: path.display().to_string(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| err(format!("expected a JSON object of strings: {e}")))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = v;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str().filter(|s| !s.is_empty())
}

/// A time field: RFC 3339, or epoch milliseconds.
fn time_at(v: &Value, path: &[&str]) -> Option<Millis> {
    let mut x = v;
    for p in path {
        x = x.get(p)?;
    }
    match x {
        Value::String(s) => parse_rfc3339(s),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The contract channel of a Connect channel.
fn channel_of(s: &str) -> Option<Channel> {
    match s {
        "VOICE" => Some(Channel::Voice),
        "CHAT" => Some(Channel::Chat),
        "TASK" | "EMAIL" => Some(Channel::Email),
        _ => None,
    }
}

impl Connect {
    /// A translator with display names for ARNs (see [`load_names`]).
    pub fn new(names: BTreeMap<String, String>) -> Self {
        Connect {
            names,
            report: Report::default(),
        }
    }

    /// The counts so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The name of an ARN: from the names file, else the id at its end.
    fn name(&self, arn: &str) -> String {
        let id = arn.rsplit('/').next().unwrap_or(arn);
        self.names
            .get(arn)
            .or_else(|| self.names.get(id))
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }

    /// Translates line number `n` (1-based). Never fails: a record it cannot use is
    /// counted and reported with its number.
    pub fn line(&mut self, n: u64, raw: &[u8]) -> Vec<Event> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Vec::new();
        }
        self.report.records += 1;
        if raw.len() > MAX_RECORD_BYTES {
            self.report.problem(
                n,
                format!("record of {} bytes (at most {MAX_RECORD_BYTES} are read)", raw.len()),
            );
            return Vec::new();
        }
        let v: Value = match serde_json::from_slice(raw) {
            Ok(v) => v,
            Err(e) => {
                self.report.problem(n, format!("not JSON: {e}"));
                return Vec::new();
            }
        };
        let out = if v.get("detail").is_some() {
            self.contact_event(n, raw, &v)
        } else if v.get("AgentARN").is_some() && v.get("EventType").is_some() {
            self.agent_event(n, raw, &v)
        } else {
            self.report.problem(
                n,
                "neither a contact event (detail) nor an agent event record (AgentARN, EventType)",
            );
            Vec::new()
        };
        let mut ok = Vec::with_capacity(out.len());
        for e in out {
            match e.check() {
                Ok(()) => ok.push(e),
                Err(err) => self.report.problem(n, format!("{} not written: {err}", e.kind_name())),
            }
        }
        self.report.events += ok.len() as u64;
        ok
    }

    fn contact_event(&mut self, n: u64, raw: &[u8], v: &Value) -> Vec<Event> {
        let d = &v["detail"];
        let Some(kind) = str_at(d, &["eventType"]) else {
            self.report.problem(n, "contact event without detail.eventType");
            return Vec::new();
        };
        let Some(contact) = str_at(d, &["contactId"]) else {
            self.report.problem(n, "contact event without detail.contactId");
            return Vec::new();
        };
        let record = str_at(v, &["id"]).map_or(raw, str::as_bytes);
        let eid = |suffix: &str| event_id("amc", record, suffix);
        let key = str_at(d, &["initialContactId"]).unwrap_or(contact);
        let channel = str_at(d, &["channel"]).unwrap_or("VOICE");
        let Some(channel) = channel_of(channel) else {
            self.report.problem(n, format!("unknown channel {channel:?}"));
            return Vec::new();
        };
        let queue = str_at(d, &["queueInfo", "queueArn"]).map(|q| self.name(q));
        let agent = str_at(d, &["agentInfo", "agentArn"]).map(|a| self.name(a));
        let at = |path: &[&str]| time_at(d, path).or_else(|| time_at(v, &["time"]));
        let contact_event = |k: Kind, ts: Millis, suffix: &str| {
            let e = Event::contact(k, eid(suffix), ts, contact, key, channel);
            match &queue {
                Some(q) => e.queue(q),
                None => e,
            }
        };
        let Some(ts) = time_at(v, &["time"]) else {
            self.report.problem(n, "contact event without a readable time");
            return Vec::new();
        };
        match kind {
            "QUEUED" => {
                if queue.is_none() {
                    self.report.problem(n, "QUEUED without queueInfo.queueArn");
                    return Vec::new();
                }
                let ts = at(&["queueInfo", "enqueueTimestamp"]).unwrap_or(ts);
                vec![contact_event(Kind::Offered, ts, "0")]
            }
            "CONNECTED_TO_AGENT" => {
                let Some(agent) = agent else {
                    self.report.problem(n, "CONNECTED_TO_AGENT without agentInfo.agentArn");
                    return Vec::new();
                };
                let ts = at(&["agentInfo", "connectedToAgentTimestamp"]).unwrap_or(ts);
                let mut e = contact_event(Kind::Answered, ts, "0");
                e.agent_id = Some(agent);
                vec![e]
            }
            "DISCONNECTED" => {
                let ts = at(&["disconnectTimestamp"]).unwrap_or(ts);
                if agent.is_some() {
                    vec![contact_event(Kind::Ended, ts, "0")]
                } else if queue.is_some() {
                    // Queued and never connected: the customer hung up, or the flow, an
                    // API call or an expiry took the contact out of the queue.
                    match str_at(d, &["disconnectReason"]) {
                        None | Some("CUSTOMER_DISCONNECT") => vec![contact_event(Kind::Abandoned, ts, "0")],
                        Some(other) => {
                            vec![contact_event(Kind::FlowedOut, ts, "0").reason(&other.to_ascii_lowercase())]
                        }
                    }
                } else {
                    self.report.skip("DISCONNECTED (never queued)");
                    Vec::new()
                }
            }
            "COMPLETED" => {
                if agent.is_some() {
                    let ts = at(&["agentInfo", "afterContactWorkEndTimestamp"]).unwrap_or(ts);
                    vec![contact_event(Kind::WrappedUp, ts, "0")]
                } else {
                    self.report.skip("COMPLETED (no agent)");
                    Vec::new()
                }
            }
            other => {
                self.report.skip(other);
                Vec::new()
            }
        }
    }

    fn agent_event(&mut self, n: u64, raw: &[u8], v: &Value) -> Vec<Event> {
        let kind = str_at(v, &["EventType"]).unwrap_or("");
        if kind == "HEART_BEAT" {
            self.report.skip(kind);
            return Vec::new();
        }
        if !matches!(kind, "LOGIN" | "LOGOUT" | "STATE_CHANGE") {
            self.report.unknown(n, kind);
            return Vec::new();
        }
        let Some(arn) = str_at(v, &["AgentARN"]) else {
            self.report.problem(n, "agent record without AgentARN");
            return Vec::new();
        };
        let Some(ts) = time_at(v, &["EventTimestamp"]) else {
            self.report.problem(n, "agent record without a readable EventTimestamp");
            return Vec::new();
        };
        let agent = self.name(arn);
        let record = str_at(v, &["EventId"]).map_or(raw, str::as_bytes);
        let cur = &v["CurrentAgentSnapshot"];
        let prev = &v["PreviousAgentSnapshot"];
        let contacts = |snap: &Value| -> Vec<(String, String, String, Option<Millis>)> {
            snap["Contacts"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| {
                            let id = str_at(c, &["ContactId"])?.to_owned();
                            let key = str_at(c, &["InitialContactId"]).map_or_else(|| id.clone(), str::to_owned);
                            let state = str_at(c, &["State"]).unwrap_or("").to_owned();
                            Some((id, key, state, time_at(c, &["StateStartTimestamp"])))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let now = contacts(cur);
        let before = contacts(prev);
        let state = if kind == "LOGOUT" {
            AgentState::Offline
        } else if now.iter().any(|(_, _, s, _)| {
            matches!(
                s.as_str(),
                "CONNECTING" | "CONNECTED" | "CONNECTED_ONHOLD" | "INCOMING" | "PENDING"
            )
        }) {
            AgentState::Busy
        } else if now.iter().any(|(_, _, s, _)| s == "ENDED") {
            // A contact in ENDED is the agent's after-contact work.
            AgentState::Acw
        } else {
            match str_at(cur, &["AgentStatus", "Type"]) {
                Some("ROUTABLE") => AgentState::Available,
                Some("OFFLINE") => AgentState::Offline,
                _ => AgentState::Away,
            }
        };
        let mut out = Vec::new();
        let mut e = Event::agent(event_id("amc", record, "0"), ts, &agent, state);
        let groups = &cur["Configuration"]["AgentHierarchyGroups"];
        e.team = ["Level5", "Level4", "Level3", "Level2", "Level1"]
            .iter()
            .find_map(|l| str_at(groups, &[l, "Name"]))
            .filter(|t| fits(t))
            .map(str::to_owned);
        if let Some(qs) = cur["Configuration"]["RoutingProfile"]["InboundQueues"].as_array() {
            let names: Vec<String> = qs
                .iter()
                .filter_map(|q| str_at(q, &["Name"]))
                .filter(|q| fits(q))
                .take(MAX_AGENT_QUEUES)
                .map(str::to_owned)
                .collect();
            if !names.is_empty() {
                e.queues = Some(names);
            }
        }
        out.push(e);
        // Holds: a contact that went from CONNECTED to CONNECTED_ONHOLD, or back.
        for (i, (id, key, s, since)) in now.iter().enumerate() {
            let was = before
                .iter()
                .find(|(pid, ..)| pid == id)
                .map(|(_, _, ps, _)| ps.as_str());
            let kind = match (was, s.as_str()) {
                (Some("CONNECTED"), "CONNECTED_ONHOLD") => Kind::HoldStarted,
                (Some("CONNECTED_ONHOLD"), "CONNECTED") => Kind::HoldEnded,
                _ => continue,
            };
            let ch = cur["Contacts"][i]["Channel"]
                .as_str()
                .and_then(channel_of)
                .unwrap_or(Channel::Voice);
            out.push(Event::contact(
                kind,
                event_id("amc", record, &format!("h{i}")),
                since.unwrap_or(ts),
                id,
                key,
                ch,
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests;
