//! Asterisk `queue_log` (Asterisk, FreePBX, Wazo) into contract events.
//!
//! A `queue_log` line says what happened to a call in a queue, one verb at a time, and
//! only the first line of a call (`ENTERQUEUE`) carries the caller id. The translator
//! therefore remembers, per call, its contact id, key and where it stands, and per agent
//! the queues and pause state it was told about; [`State`] is that memory, serialisable
//! so that a tailing import resumes after a restart exactly where it stopped.
//!
//! Two things are decided a little later than the line that starts them, because the
//! next lines tell: the end of after-contact work (Wazo writes `WRAPUPSTART` right after
//! a `COMPLETE*`; without it the work ends with the call), and where a transfer went (an
//! `ENTERQUEUE` of the same call right after a `BLINDTRANSFER`/`ATTENDEDTRANSFER` is a
//! transfer to that queue; otherwise the transfer ends the call's part in the queue).
//! Such an item is settled by the first line more than [`GRACE`] later, or at
//! [`QueueLog::finish`]. The mapping of every verb is in `docs/import-asterisk.md`.

pub mod line;

use std::collections::{BTreeMap, BTreeSet};

use ccpulse_core::event::{AgentState, Channel, MAX_AGENT_QUEUES};
use ccpulse_core::time::{Millis, HOUR, SECOND};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::contract::{fits, Event, Kind};
use crate::report::Report;
use line::{clip, Line, MAX_LINE_BYTES};

/// How long after a `COMPLETE*` a `WRAPUPSTART` of its agent, or after a transfer an
/// `ENTERQUEUE` of its call, is still taken as its continuation.
pub const GRACE: Millis = 5 * SECOND;

/// Calls and agents not heard of for this long (event time) are forgotten.
pub const FORGET_AFTER: Millis = 24 * HOUR;

/// The most calls remembered; past it the least recently seen is forgotten.
pub const MAX_CALLS: usize = 200_000;

/// The most agents remembered.
pub const MAX_AGENTS: usize = 50_000;

/// Where a call stands in its current queue visit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    Waiting,
    Answered {
        agent: String,
    },
    /// Transferred by its agent; where to is settled by the next lines.
    Transferring,
    Done,
}

/// One call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Call {
    /// The contact id of its current queue visit: the call id for the first, then
    /// `<callid>#2`, `#3`, … (a call that leaves a queue and enters one again is a new
    /// contact, unless it was transferred there).
    contact: String,
    visits: u32,
    /// The message key of all its events: the caller id when known, else the call id.
    key: String,
    customer: Option<String>,
    queue: String,
    phase: Phase,
    last: Millis,
}

/// One agent (queue member) as the log told about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Agent {
    queues: BTreeSet<String>,
    paused: bool,
    on_call: bool,
    /// End of the after-contact work a `WRAPUPSTART` announced.
    wrap_until: Millis,
    last: Millis,
}

/// Something settled by later lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    ts: Millis,
    /// The hash of the line that started it: its events' ids are made from it.
    base: String,
    agent: String,
    contact: String,
    key: String,
    /// `Some(callid)`: a transfer; `None`: after-contact work.
    transfer_of: Option<String>,
}

/// What the translator remembers between lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    calls: BTreeMap<String, Call>,
    agents: BTreeMap<String, Agent>,
    pending: Vec<Pending>,
    newest: Millis,
    swept_at: u64,
    /// The counts so far.
    pub report: Report,
}

/// The translator.
#[derive(Debug)]
pub struct QueueLog {
    tz: jiff::tz::TimeZone,
    st: State,
}

/// Caller ids that name nobody.
fn customer_of(callerid: &str) -> Option<String> {
    let c = callerid.trim();
    let anonymous = ["anonymous", "unknown", "restricted", "private", "unavailable"]
        .iter()
        .any(|a| c.eq_ignore_ascii_case(a));
    (!anonymous && c.chars().any(char::is_alphanumeric) && fits(c)).then(|| c.to_owned())
}

/// An agent field that names an agent.
fn real_agent(agent: &str) -> bool {
    !agent.is_empty() && agent != "NONE"
}

fn id(base: &str, suffix: &str) -> String {
    format!("ast-{base}-{suffix}")
}

impl QueueLog {
    /// A translator; `tz` is the zone of timestamps written as local date and time
    /// (realtime back ends); epoch-second timestamps, what the file logger writes, need none.
    pub fn new(tz: jiff::tz::TimeZone) -> Self {
        QueueLog {
            tz,
            st: State::default(),
        }
    }

    /// A translator that goes on from a saved [`State`].
    pub fn resume(tz: jiff::tz::TimeZone, state: State) -> Self {
        QueueLog { tz, st: state }
    }

    /// What it remembers, for a resume file.
    pub fn state(&self) -> &State {
        &self.st
    }

    /// The counts so far.
    pub fn report(&self) -> &Report {
        &self.st.report
    }

    /// Translates line number `n` (1-based) of the log. Never fails: a line it cannot
    /// use is counted and reported with its number.
    pub fn line(&mut self, n: u64, raw: &[u8]) -> Vec<Event> {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Vec::new();
        }
        self.st.report.records += 1;
        if raw.len() > MAX_LINE_BYTES {
            self.st.report.problem(
                n,
                format!("line of {} bytes (at most {MAX_LINE_BYTES} are read)", raw.len()),
            );
            return Vec::new();
        }
        let text = String::from_utf8_lossy(raw);
        let base = format!("{:032x}", xxh3_128(raw));
        let line = match line::parse(&text, &self.tz) {
            Ok(l) => l,
            Err(e) => {
                self.st.report.problem(n, e);
                return Vec::new();
            }
        };
        let mut out = self.settle(|p| p.ts + GRACE < line.ts);
        self.verb(n, &line, &base, &mut out);
        self.st.newest = self.st.newest.max(line.ts);
        if self.st.report.records - self.st.swept_at >= 4096 {
            self.sweep();
        }
        self.checked(n, out)
    }

    /// Settles what waits for later lines and is older than `now - GRACE` (a tailing
    /// import calls this when no line came for a while).
    pub fn idle(&mut self, now: Millis) -> Vec<Event> {
        let out = self.settle(|p| p.ts + GRACE < now);
        self.checked(0, out)
    }

    /// Settles everything that waits for later lines: the end of the input.
    pub fn finish(&mut self) -> Vec<Event> {
        let out = self.settle(|_| true);
        self.checked(0, out)
    }

    fn checked(&mut self, n: u64, out: Vec<Event>) -> Vec<Event> {
        let mut ok = Vec::with_capacity(out.len());
        for e in out {
            match e.check() {
                Ok(()) => ok.push(e),
                Err(err) => self
                    .st
                    .report
                    .problem(n, format!("{} not written: {err}", e.kind_name())),
            }
        }
        self.st.report.events += ok.len() as u64;
        ok
    }

    fn verb(&mut self, n: u64, l: &Line<'_>, base: &str, out: &mut Vec<Event>) {
        match l.verb {
            "ENTERQUEUE" => self.enter(l, base, out),
            "CONNECT" => self.connect(n, l, base, out),
            "COMPLETECALLER" | "COMPLETEAGENT" => self.complete(n, l, base, out),
            "ABANDON" => {
                let wait = l.seconds(0, true);
                self.leave(n, l, base, wait, None, out)
            }
            "EXITWITHTIMEOUT" => self.leave(n, l, base, l.seconds(0, true), Some("timeout"), out),
            "EXITEMPTY" => self.leave(n, l, base, l.seconds(0, true), Some("queue_empty"), out),
            "EXITWITHKEY" => self.leave(n, l, base, l.seconds(0, true), Some("exit_key"), out),
            "WITHDRAW" => self.leave(n, l, base, l.seconds(2, false), Some("withdraw"), out),
            "SYSCOMPAT" => self.leave(n, l, base, None, Some("syscompat"), out),
            // Wazo writes LEAVEEMPTY after EXITEMPTY: it settles nothing new unless the
            // EXITEMPTY is missing.
            "LEAVEEMPTY" => {
                let waiting = self.st.calls.get(l.callid).is_some_and(|c| c.phase == Phase::Waiting);
                if waiting {
                    self.leave(n, l, base, None, Some("queue_empty"), out)
                } else {
                    self.st.report.skip("LEAVEEMPTY");
                }
            }
            "BLINDTRANSFER" | "ATTENDEDTRANSFER" | "TRANSFER" => self.transfer(n, l, base, out),
            "AGENTLOGIN" | "AGENTCALLBACKLOGIN" => self.agent_login(l, base, true, out),
            "AGENTLOGOFF" | "AGENTCALLBACKLOGOFF" => self.agent_login(l, base, false, out),
            "ADDMEMBER" => self.member(l, base, true, out),
            "REMOVEMEMBER" => self.member(l, base, false, out),
            "PAUSE" | "PAUSEALL" => self.pause(l, base, true, out),
            "UNPAUSE" | "UNPAUSEALL" => self.pause(l, base, false, out),
            "WRAPUPSTART" => self.wrapup(n, l, base, out),
            // Not contact or agent-state events: an agent not answering or busy, a penalty
            // change, the queue module starting, a call refused before it entered a queue
            // (Wazo's CLOSED, FULL, JOINEMPTY, DIVERT_*), an outbound call.
            "RINGNOANSWER" | "RINGCANCELED" | "RINGINUSE" | "AGENTDUMP" | "PENALTY" | "QUEUESTART" | "CONFIGRELOAD"
            | "OUTCALL" | "DID" | "INFO" | "CLOSED" | "FULL" | "JOINEMPTY" | "JOINUNAVAIL" | "LEAVEUNAVAIL"
            | "DIVERT_CA_RATIO" | "DIVERT_HOLDTIME" | "NONE" => self.st.report.skip(l.verb),
            other => self.st.report.unknown(n, other),
        }
    }

    /// A new visit of a call to a queue (or the end of a transfer into it).
    fn enter(&mut self, l: &Line<'_>, base: &str, out: &mut Vec<Event>) {
        let customer = customer_of(l.field(1));
        if let Some(call) = self.st.calls.get(l.callid) {
            if call.phase == Phase::Transferring {
                // A transfer into this queue.
                let at = self
                    .st
                    .pending
                    .iter()
                    .position(|p| p.transfer_of.as_deref() == Some(l.callid));
                if let Some(p) = at.map(|i| self.st.pending.remove(i)) {
                    let mut e = Event::contact(
                        Kind::Transferred,
                        id(&p.base, "t"),
                        p.ts,
                        &p.contact,
                        &p.key,
                        Channel::Voice,
                    );
                    e.to_queue = Some(l.queue.to_owned());
                    out.push(e);
                    self.agent_free(&p.agent, p.ts, &id(&p.base, "a"), out);
                    if let Some(call) = self.st.calls.get_mut(l.callid) {
                        call.queue = l.queue.to_owned();
                        call.phase = Phase::Waiting;
                        call.last = l.ts;
                    }
                    return;
                }
            }
        }
        self.new_visit(l, base, "0", Some(l.ts), customer, out);
    }

    /// Starts a new visit of the call of `l` to the line's queue, closing its previous
    /// visit if that never said how it ended, with an offer at `offered_at` (id suffix
    /// `suffix`) when known.
    fn new_visit(
        &mut self,
        l: &Line<'_>,
        base: &str,
        suffix: &str,
        offered_at: Option<Millis>,
        customer: Option<String>,
        out: &mut Vec<Event>,
    ) {
        if let Some(call) = self.st.calls.get_mut(l.callid) {
            // The previous visit never said how it ended: it left the queue without an
            // agent (waiting) or its conversation ended (answered) by now.
            let (contact, key) = (call.contact.clone(), call.key.clone());
            match std::mem::replace(&mut call.phase, Phase::Done) {
                Phase::Waiting => out.push(
                    Event::contact(Kind::FlowedOut, id(base, "x"), l.ts, &contact, &key, Channel::Voice)
                        .queue(&call.queue)
                        .reason("unknown"),
                ),
                Phase::Answered { .. } => out.push(Event::contact(
                    Kind::Ended,
                    id(base, "x"),
                    l.ts,
                    &contact,
                    &key,
                    Channel::Voice,
                )),
                Phase::Transferring | Phase::Done => {}
            }
            call.visits += 1;
            call.contact = format!("{}#{}", l.callid, call.visits);
            call.queue = l.queue.to_owned();
            call.phase = Phase::Waiting;
            call.last = l.ts;
            if call.customer.is_none() {
                call.customer = customer;
            }
        } else {
            self.make_room();
            let key = customer.clone().unwrap_or_else(|| l.callid.to_owned());
            let call = Call {
                contact: l.callid.to_owned(),
                visits: 1,
                key,
                customer,
                queue: l.queue.to_owned(),
                phase: Phase::Waiting,
                last: l.ts,
            };
            self.st.calls.insert(l.callid.to_owned(), call);
        }
        let (Some(call), Some(at)) = (self.st.calls.get(l.callid), offered_at) else {
            return;
        };
        let mut e = Event::contact(
            Kind::Offered,
            id(base, suffix),
            at,
            &call.contact,
            &call.key,
            Channel::Voice,
        )
        .queue(l.queue);
        e.customer_id = call.customer.clone();
        out.push(e);
    }

    /// The call of a line that is not its first: when the log never showed its
    /// `ENTERQUEUE` in this queue (it started before the file, or the log lost it), a
    /// visit is made up, with an offer at `offered_at` when the line says how long it
    /// waited.
    fn known_call(&mut self, l: &Line<'_>, base: &str, offered_at: Option<Millis>, out: &mut Vec<Event>) {
        let here = self
            .st
            .calls
            .get(l.callid)
            .is_some_and(|c| c.queue == l.queue || l.queue == "NONE");
        if !here {
            self.new_visit(l, base, "o", offered_at, None, out);
        }
    }

    fn connect(&mut self, n: u64, l: &Line<'_>, base: &str, out: &mut Vec<Event>) {
        let offered_at = l.seconds(0, false).map(|h| l.ts - h);
        self.known_call(l, base, offered_at, out);
        if !self.answer(l, l.ts, &id(base, "0"), out) {
            self.st
                .report
                .problem(n, format!("CONNECT of call {:?}, which is not waiting", clip(l.callid)));
        }
    }

    /// Answers the waiting call of `l` by its agent at `at`; false when it is not waiting.
    fn answer(&mut self, l: &Line<'_>, at: Millis, event_id: &str, out: &mut Vec<Event>) -> bool {
        let Some(call) = self.st.calls.get_mut(l.callid) else {
            return false;
        };
        if call.phase != Phase::Waiting {
            return false;
        }
        let mut e = Event::contact(
            Kind::Answered,
            event_id.to_owned(),
            at,
            &call.contact,
            &call.key,
            Channel::Voice,
        )
        .queue(&call.queue);
        e.agent_id = Some(l.agent.to_owned());
        out.push(e);
        call.phase = Phase::Answered {
            agent: l.agent.to_owned(),
        };
        call.last = l.ts;
        if real_agent(l.agent) {
            let a = self.agent_mut(l.agent, l.ts);
            a.on_call = true;
            let e = self.agent_event(l.agent, at, &format!("{event_id}b"), AgentState::Busy);
            out.extend(e);
        }
        true
    }

    /// The call of a `COMPLETE*` or transfer line, answered: made up from the line's
    /// hold and call times when the log never showed it.
    fn answered_call(
        &mut self,
        l: &Line<'_>,
        base: &str,
        hold: Option<Millis>,
        talk: Option<Millis>,
        out: &mut Vec<Event>,
    ) {
        let answered_at = talk.map(|t| l.ts - t);
        let offered_at = answered_at.zip(hold).map(|(a, h)| a - h);
        self.known_call(l, base, offered_at, out);
        let waiting = self.st.calls.get(l.callid).is_some_and(|c| c.phase == Phase::Waiting);
        if waiting && real_agent(l.agent) {
            self.answer(l, answered_at.unwrap_or(l.ts), &id(base, "n"), out);
        }
    }

    fn complete(&mut self, n: u64, l: &Line<'_>, base: &str, out: &mut Vec<Event>) {
        self.answered_call(l, base, l.seconds(0, false), l.seconds(1, false), out);
        let Some(call) = self.st.calls.get_mut(l.callid) else {
            return;
        };
        let Phase::Answered { agent } = std::mem::replace(&mut call.phase, Phase::Done) else {
            self.st.report.problem(
                n,
                format!("{} of call {:?}, which is not answered", l.verb, clip(l.callid)),
            );
            return;
        };
        call.last = l.ts;
        out.push(Event::contact(
            Kind::Ended,
            id(base, "0"),
            l.ts,
            &call.contact,
            &call.key,
            Channel::Voice,
        ));
        let p = Pending {
            ts: l.ts,
            base: base.to_owned(),
            agent,
            contact: call.contact.clone(),
            key: call.key.clone(),
            transfer_of: None,
        };
        self.st.pending.push(p);
    }

    /// An abandon (`reason` none) or a flow-out: the call left the queue without an agent.
    fn leave(
        &mut self,
        n: u64,
        l: &Line<'_>,
        base: &str,
        wait: Option<Millis>,
        reason: Option<&str>,
        out: &mut Vec<Event>,
    ) {
        self.known_call(l, base, wait.map(|w| l.ts - w), out);
        let Some(call) = self.st.calls.get_mut(l.callid) else {
            return;
        };
        if call.phase != Phase::Waiting {
            self.st.report.problem(
                n,
                format!("{} of call {:?}, which is not waiting", l.verb, clip(l.callid)),
            );
            return;
        }
        call.phase = Phase::Done;
        call.last = l.ts;
        let kind = if reason.is_some() {
            Kind::FlowedOut
        } else {
            Kind::Abandoned
        };
        let mut e =
            Event::contact(kind, id(base, "0"), l.ts, &call.contact, &call.key, Channel::Voice).queue(&call.queue);
        e.reason = reason.map(str::to_owned);
        out.push(e);
    }

    fn transfer(&mut self, n: u64, l: &Line<'_>, base: &str, out: &mut Vec<Event>) {
        // …|holdtime|calltime|origposition: the leading fields differ by verb and method.
        self.answered_call(l, base, l.seconds(2, true), l.seconds(1, true), out);
        let Some(call) = self.st.calls.get_mut(l.callid) else {
            return;
        };
        let Phase::Answered { agent } = std::mem::replace(&mut call.phase, Phase::Transferring) else {
            call.phase = Phase::Done;
            self.st.report.problem(
                n,
                format!("{} of call {:?}, which is not answered", l.verb, clip(l.callid)),
            );
            return;
        };
        call.last = l.ts;
        let p = Pending {
            ts: l.ts,
            base: base.to_owned(),
            agent,
            contact: call.contact.clone(),
            key: call.key.clone(),
            transfer_of: Some(l.callid.to_owned()),
        };
        self.st.pending.push(p);
    }

    fn wrapup(&mut self, n: u64, l: &Line<'_>, base: &str, out: &mut Vec<Event>) {
        if !real_agent(l.agent) {
            self.st.report.problem(n, "WRAPUPSTART without an agent");
            return;
        }
        let Some(secs) = l.seconds(0, false) else {
            self.st.report.problem(
                n,
                format!("WRAPUPSTART with an unreadable duration {:?}", clip(l.field(0))),
            );
            return;
        };
        let until = l.ts + secs;
        let at = self
            .st
            .pending
            .iter()
            .position(|p| p.transfer_of.is_none() && p.agent == l.agent);
        if let Some(p) = at.map(|i| self.st.pending.remove(i)) {
            out.push(Event::contact(
                Kind::WrappedUp,
                id(&p.base, "w"),
                until,
                &p.contact,
                &p.key,
                Channel::Voice,
            ));
        }
        let a = self.agent_mut(l.agent, l.ts);
        a.wrap_until = until;
        a.on_call = false;
        out.extend(self.agent_event(l.agent, l.ts, &id(base, "0"), AgentState::Acw));
        let state = self.idle_state(l.agent);
        out.extend(self.agent_event(l.agent, until, &id(base, "1"), state));
    }

    /// Settles the pending items `due` says are due, oldest first.
    fn settle(&mut self, due: impl Fn(&Pending) -> bool) -> Vec<Event> {
        let mut out = Vec::new();
        if self.st.pending.is_empty() {
            return out;
        }
        let (mut now, keep): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.st.pending).into_iter().partition(due);
        self.st.pending = keep;
        now.sort_by_key(|p| p.ts);
        for p in now {
            if let Some(callid) = &p.transfer_of {
                // Transferred somewhere that is not a queue: the call's part here ends.
                if let Some(call) = self.st.calls.get_mut(callid) {
                    if call.phase == Phase::Transferring {
                        call.phase = Phase::Done;
                    }
                }
                out.push(Event::contact(
                    Kind::Ended,
                    id(&p.base, "e"),
                    p.ts,
                    &p.contact,
                    &p.key,
                    Channel::Voice,
                ));
            }
            // No WRAPUPSTART came: Asterisk has no after-contact work, it ends with the call.
            out.push(Event::contact(
                Kind::WrappedUp,
                id(&p.base, "w"),
                p.ts,
                &p.contact,
                &p.key,
                Channel::Voice,
            ));
            let wrapping = self.st.agents.get(&p.agent).is_some_and(|a| a.wrap_until > p.ts);
            if !wrapping {
                self.agent_free(&p.agent, p.ts, &id(&p.base, "a"), &mut out);
            }
        }
        out
    }

    fn agent_free(&mut self, agent: &str, at: Millis, event_id: &str, out: &mut Vec<Event>) {
        if !real_agent(agent) {
            return;
        }
        self.agent_mut(agent, at).on_call = false;
        let state = self.idle_state(agent);
        out.extend(self.agent_event(agent, at, event_id, state));
    }

    /// Available, or away when paused.
    fn idle_state(&self, agent: &str) -> AgentState {
        if self.st.agents.get(agent).is_some_and(|a| a.paused) {
            AgentState::Away
        } else {
            AgentState::Available
        }
    }

    fn current_state(&self, agent: &str) -> AgentState {
        match self.st.agents.get(agent) {
            Some(a) if a.on_call => AgentState::Busy,
            _ => self.idle_state(agent),
        }
    }

    fn agent_mut(&mut self, agent: &str, ts: Millis) -> &mut Agent {
        if !self.st.agents.contains_key(agent) && self.st.agents.len() >= MAX_AGENTS {
            let oldest = self
                .st
                .agents
                .iter()
                .min_by_key(|(_, a)| a.last)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.st.agents.remove(&k);
            }
        }
        let a = self.st.agents.entry(agent.to_owned()).or_default();
        a.last = a.last.max(ts);
        a
    }

    /// An `agent.state` with the queues the agent is known to serve.
    fn agent_event(&self, agent: &str, at: Millis, event_id: &str, state: AgentState) -> Option<Event> {
        if !real_agent(agent) {
            return None;
        }
        let mut e = Event::agent(event_id.to_owned(), at, agent, state);
        if let Some(a) = self.st.agents.get(agent) {
            if !a.queues.is_empty() {
                e.queues = Some(a.queues.iter().cloned().collect());
            }
        }
        Some(e)
    }

    fn agent_login(&mut self, l: &Line<'_>, base: &str, login: bool, out: &mut Vec<Event>) {
        if !real_agent(l.agent) {
            self.st.report.skip(l.verb);
            return;
        }
        let a = self.agent_mut(l.agent, l.ts);
        a.paused = false;
        let state = if login {
            self.current_state(l.agent)
        } else {
            self.agent_mut(l.agent, l.ts).on_call = false;
            AgentState::Offline
        };
        out.extend(self.agent_event(l.agent, l.ts, &id(base, "0"), state));
    }

    fn member(&mut self, l: &Line<'_>, base: &str, add: bool, out: &mut Vec<Event>) {
        if !real_agent(l.agent) || l.queue == "NONE" {
            self.st.report.skip(l.verb);
            return;
        }
        let a = self.agent_mut(l.agent, l.ts);
        if add {
            if a.queues.len() < MAX_AGENT_QUEUES {
                a.queues.insert(l.queue.to_owned());
            }
            if l.field(0) == "PAUSED" {
                a.paused = true;
            }
        } else {
            a.queues.remove(l.queue);
        }
        let state = if !add && a.queues.is_empty() {
            AgentState::Offline
        } else {
            self.current_state(l.agent)
        };
        out.extend(self.agent_event(l.agent, l.ts, &id(base, "0"), state));
    }

    fn pause(&mut self, l: &Line<'_>, base: &str, paused: bool, out: &mut Vec<Event>) {
        if !real_agent(l.agent) {
            self.st.report.skip(l.verb);
            return;
        }
        let a = self.agent_mut(l.agent, l.ts);
        a.paused = paused;
        if !a.on_call {
            let state = self.idle_state(l.agent);
            out.extend(self.agent_event(l.agent, l.ts, &id(base, "0"), state));
        }
    }

    fn make_room(&mut self) {
        if self.st.calls.len() >= MAX_CALLS {
            let oldest = self.st.calls.iter().min_by_key(|(_, c)| c.last).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.st.calls.remove(&k);
            }
        }
    }

    /// Forgets calls and agents not heard of for [`FORGET_AFTER`].
    fn sweep(&mut self) {
        self.st.swept_at = self.st.report.records;
        let floor = self.st.newest - FORGET_AFTER;
        self.st.calls.retain(|_, c| c.last >= floor);
        self.st.agents.retain(|_, a| a.last >= floor);
    }
}

#[cfg(test)]
mod tests;
