//! The figures of `spec/kpis.md` version 1.1 ("Agents' service level, surveys' timing,
//! staffing and drill-down") against expectations computed by hand.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

mod common;

use ccpulse_core::snapshot::{AgentRow, Snapshot};
use ccpulse_core::time::format_rfc3339;
use ccpulse_core::EngineConfig;
use common::{channel, ev, queue, replay_lines, t};
use serde_json::{json, Value};

const WALL: &str = "2026-12-05T12:00:00Z";

/// `base` plus `secs` seconds, as RFC 3339.
fn at(base: &str, secs: i64) -> String {
    format_rfc3339(t(base) + secs * 1000)
}

fn run_cfg(lines: &[String], as_of: &str, cfg: EngineConfig) -> Snapshot {
    replay_lines(lines, as_of, cfg, WALL)
}

fn agent<'a>(s: &'a Snapshot, window: &str, name: &str) -> &'a AgentRow {
    s.window(window)
        .unwrap()
        .agents
        .iter()
        .find(|a| &*a.agent == name)
        .unwrap_or_else(|| panic!("no agent {name} in {window}"))
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("expected {b}, got null"));
    assert!((a - b).abs() < 1e-9, "expected {b}, got {a}");
}

/// The same lines in another order: reversed, which puts every contact's events out
/// of order (all within the allowed lateness in these tests).
fn reversed(lines: &[String]) -> Vec<String> {
    lines.iter().rev().cloned().collect()
}

fn state(id: &str, agent: &str, ts: &str, team: Option<&str>, queues: &[&str]) -> String {
    let mut extra = json!({"agent_id": agent, "state": "available"});
    if let Some(team) = team {
        extra["team"] = json!(team);
    }
    if !queues.is_empty() {
        extra["queues"] = json!(queues);
    }
    ev(id, "agent.state", ts, extra)
}

/// A contact offered at `offered` to `queue`, answered `wait` seconds later by `agent`.
fn answered(id: &str, channel: &str, queue: &str, offered: &str, wait: i64, agent: &str) -> Vec<String> {
    vec![
        ev(
            &format!("{id}-o"),
            "contact.offered",
            offered,
            json!({"contact_id": id, "channel": channel, "queue": queue}),
        ),
        ev(
            &format!("{id}-a"),
            "contact.answered",
            &at(offered, wait),
            json!({"contact_id": id, "agent_id": agent}),
        ),
    ]
}

fn ended(id: &str, ts: &str, resolved: Option<bool>) -> String {
    let mut extra = json!({"contact_id": id});
    if let Some(r) = resolved {
        extra["resolved"] = json!(r);
    }
    ev(&format!("{id}-e"), "contact.ended", ts, extra)
}

// ------------------------------------------------------------- agents' service level

/// Team red (a1, a2, a3), agents without a team compared by their first queue (a4, a5:
/// `billing`), an agent without any peer (a6), and team blue (a7, a8) under a `resolve`
/// policy for email in queue `finance`, plus a voice contact of a8's.
fn agent_sl_events() -> Vec<String> {
    let mut l = vec![
        state("s1", "a1", "2026-11-30T08:00:00Z", Some("red"), &["billing"]),
        state("s2", "a2", "2026-11-30T08:00:00Z", Some("red"), &["billing"]),
        state("s3", "a3", "2026-11-30T08:00:00Z", Some("red"), &["billing"]),
        state("s4", "a4", "2026-11-30T08:00:00Z", None, &["billing"]),
        state("s5", "a5", "2026-11-30T08:00:00Z", None, &["billing", "tech"]),
        state("s6", "a6", "2026-11-30T08:00:00Z", None, &[]),
        state("s7", "a7", "2026-11-30T08:00:00Z", Some("blue"), &["finance"]),
        state(
            "s8",
            "a8",
            "2026-11-30T08:00:00Z",
            Some("blue"),
            &["finance", "billing"],
        ),
    ];
    // Voice, 20 s threshold: a1 meets two of three, a2 one of two; a3 answers nothing.
    l.extend(answered("c1", "voice", "billing", "2026-11-30T09:01:00Z", 10, "a1"));
    l.extend(answered("c2", "voice", "billing", "2026-11-30T09:02:00Z", 30, "a1"));
    l.extend(answered("c3", "voice", "billing", "2026-11-30T09:03:00Z", 5, "a1"));
    l.extend(answered("c4", "voice", "billing", "2026-11-30T09:04:00Z", 25, "a2"));
    l.extend(answered("c5", "voice", "billing", "2026-11-30T09:05:00Z", 20, "a2"));
    // A transfer: a4 answers the first leg in 10 s (met); the second leg waits 40 s from
    // the transfer for a5 (missed).
    l.extend(answered("c6", "voice", "billing", "2026-11-30T09:06:00Z", 10, "a4"));
    l.push(ev(
        "c6-t",
        "contact.transferred",
        "2026-11-30T09:07:00Z",
        json!({"contact_id": "c6", "to_queue": "tech"}),
    ));
    l.push(ev(
        "c6-a2",
        "contact.answered",
        "2026-11-30T09:07:40Z",
        json!({"contact_id": "c6", "agent_id": "a5"}),
    ));
    l.extend(answered("c7", "voice", "billing", "2026-11-30T09:08:00Z", 1, "a6"));
    // Email under `finance-email` (resolve within 1 h), judged at `ended.ts`:
    // e1 resolved in 50 min (08:50, outside 15m, inside 1h), e2 in 62 min (09:12, missed),
    // e3 answered but not ended (not judged yet), e4 ended `resolved: false` (missed).
    l.extend(answered("e1", "email", "finance", "2026-11-30T08:00:00Z", 1800, "a7"));
    l.push(ended("e1", "2026-11-30T08:50:00Z", Some(true)));
    l.extend(answered("e2", "email", "finance", "2026-11-30T08:10:00Z", 3000, "a7"));
    l.push(ended("e2", "2026-11-30T09:12:00Z", None));
    l.extend(answered("e3", "email", "finance", "2026-11-30T09:00:00Z", 300, "a7"));
    l.extend(answered("e4", "email", "finance", "2026-11-30T09:00:00Z", 60, "a8"));
    l.push(ended("e4", "2026-11-30T09:10:00Z", Some(false)));
    // a8 also answers a voice contact within 20 s: judged by the voice policy.
    l.extend(answered("c8", "voice", "billing", "2026-11-30T09:06:30Z", 3, "a8"));
    l
}

fn finance_cfg(extra: &str) -> EngineConfig {
    EngineConfig::from_toml(&format!(
        "{extra}\n[[sla.policies]]\nname = \"finance-email\"\nchannel = \"email\"\nqueue = \"finance\"\nthreshold = \"1h\"\ntarget = 0.9\nmeasure = \"resolve\"\n"
    ))
    .unwrap()
}

#[test]
fn agent_service_level_and_sl_vs_team_by_hand() {
    let cfg = || finance_cfg("[agents]\nsl_outlier_points = 0.15\nsl_outlier_min_judged = 2\n");
    let s = run_cfg(&agent_sl_events(), "2026-11-30T09:15:00Z", cfg());
    let row = |name: &str| agent(&s, "15m", name);
    let sl = |name: &str| (row(name).sl_met, row(name).sl_judged);

    // Team red: a1 2/3, a2 1/2, a3 none. Pooled others of a1: a2 + a3 = 1/2.
    assert_eq!(sl("a1"), (2, 3));
    close(row("a1").service_level, 2.0 / 3.0);
    close(row("a1").sl_vs_team, 2.0 / 3.0 - 0.5);
    assert_eq!(sl("a2"), (1, 2));
    close(row("a2").sl_vs_team, 0.5 - 2.0 / 3.0);
    assert!(row("a2").sl_outlier, "16.7 points below, 2 judged");
    assert!(!row("a1").sl_outlier && !row("a1").outlier);
    assert_eq!(sl("a3"), (0, 0));
    assert_eq!((row("a3").service_level, row("a3").sl_vs_team), (None, None));

    // The transfer: each leg judged for its own agent, the second from the transfer.
    assert_eq!(sl("a4"), (1, 1));
    assert_eq!(sl("a5"), (0, 1));
    close(row("a4").sl_vs_team, 1.0);
    close(row("a5").sl_vs_team, -1.0);
    assert!(!row("a5").sl_outlier, "one judged contact is below the minimum of 2");

    // No team, no queue: no peers.
    assert_eq!(sl("a6"), (1, 1));
    close(row("a6").service_level, 1.0);
    assert_eq!(row("a6").sl_vs_team, None);

    // Team blue in 15m: a7's e2 ended 09:12 (missed; e1 ended before the window, e3 is
    // not ended); a8's e4 (resolved: false) and c8 (voice, met).
    assert_eq!(sl("a7"), (0, 1));
    assert_eq!(sl("a8"), (1, 2));
    close(row("a7").sl_vs_team, -0.5);
    close(row("a8").sl_vs_team, 0.5);
    // In 1h a7 also has e1 (resolved in 50 min).
    let a7 = agent(&s, "1h", "a7");
    assert_eq!((a7.sl_met, a7.sl_judged), (1, 2));
    close(agent(&s, "1h", "a7").sl_vs_team, 0.0);

    // The agents' judged contacts are the group's answered legs: voice billing has 8
    // (c1–c8; c2 and c4 missed), tech one (c6's second leg).
    let g = queue(&s, "15m", "billing", "voice");
    assert_eq!((g.answered, g.answered_within), (8, 6));
    let met: i64 = ["a1", "a2", "a4", "a6"].iter().map(|a| row(a).sl_met).sum::<i64>() + 1;
    assert_eq!(met, g.answered_within);
    assert_eq!(queue(&s, "15m", "tech", "voice").answered, row("a5").sl_judged);
    let voice_agents: i64 = ["a1", "a2", "a4", "a6"].iter().map(|a| row(a).sl_judged).sum::<i64>() + 1;
    assert_eq!(voice_agents, g.answered, "a1, a2, a4, a6 and a8's voice contact");

    // Arrival order does not matter.
    let r = run_cfg(&reversed(&agent_sl_events()), "2026-11-30T09:15:00Z", cfg());
    assert_eq!(s.windows, r.windows);
}

// ------------------------------------------------------------------------- surveys

/// A percentile: hdrhistogram reports its bucket's highest equivalent value, within
/// 0.1 % (3 significant digits).
fn pct(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("expected {b}, got null"));
    assert!(a >= b && (a - b) <= b * 1e-3, "expected {b} (+0.1 %), got {a}");
}

/// A whole contact: offered, answered after 10 s by `agent`, ended at `end`, wrapped
/// up a minute later.
fn finished(id: &str, channel: &str, queue: &str, offered: &str, end: &str, agent: &str) -> Vec<String> {
    let mut l = answered(id, channel, queue, offered, 10, agent);
    l.push(ended(id, end, Some(true)));
    l.push(ev(
        &format!("{id}-w"),
        "contact.wrapped_up",
        &at(end, 60),
        json!({"contact_id": id}),
    ));
    l
}

fn sent(id: &str, contact: &str, kind: &str, ts: &str) -> String {
    ev(id, "survey.sent", ts, json!({"contact_id": contact, "kind": kind}))
}

fn csat(id: &str, contact: &str, score: i64, scale: &str, ts: &str) -> String {
    ev(
        id,
        "survey.csat",
        ts,
        json!({"contact_id": contact, "score": score, "scale": scale}),
    )
}

fn nps(id: &str, contact: &str, score: i64, ts: &str) -> String {
    ev(id, "survey.nps", ts, json!({"contact_id": contact, "score": score}))
}

/// One morning of voice in queue `billing`, agent a1: a survey sent twice and answered
/// twice (k1), a survey sent and never answered (k2), an answer without a sent survey
/// (k3), an answer three hours after its contact (k6, by then only remembered), and an
/// answer about a contact the engine never saw (k9).
fn survey_morning() -> Vec<Vec<String>> {
    let mut k1 = finished(
        "k1",
        "voice",
        "billing",
        "2026-11-30T08:00:00Z",
        "2026-11-30T08:05:00Z",
        "a1",
    );
    k1.push(sent("k1-s1", "k1", "csat", "2026-11-30T08:05:30Z"));
    k1.push(sent("k1-s2", "k1", "csat", "2026-11-30T08:30:00Z"));
    k1.push(csat("k1-c1", "k1", 5, "five", "2026-11-30T08:40:00Z"));
    k1.push(csat("k1-c2", "k1", 1, "five", "2026-11-30T08:50:00Z"));
    let mut k2 = finished(
        "k2",
        "voice",
        "billing",
        "2026-11-30T08:10:00Z",
        "2026-11-30T08:20:00Z",
        "a1",
    );
    k2.push(sent("k2-s1", "k2", "nps", "2026-11-30T08:21:00Z"));
    let mut k3 = finished(
        "k3",
        "voice",
        "billing",
        "2026-11-30T08:15:00Z",
        "2026-11-30T08:25:00Z",
        "a1",
    );
    k3.push(csat("k3-c1", "k3", 1, "thumbs", "2026-11-30T08:26:00Z"));
    let k6 = finished(
        "k6",
        "voice",
        "billing",
        "2026-11-30T05:50:00Z",
        "2026-11-30T06:00:00Z",
        "a1",
    );
    let late = vec![csat("k6-c1", "k6", 2, "five", "2026-11-30T08:55:00Z")];
    let k9 = vec![ev(
        "k9-c1",
        "survey.csat",
        "2026-11-30T08:45:00Z",
        json!({"contact_id": "k9", "score": 4, "scale": "five", "channel": "voice", "queue": "billing"}),
    )];
    vec![k6, k1, k2, k3, k9, late]
}

fn in_time_order(blocks: &[Vec<String>]) -> Vec<String> {
    let mut all: Vec<String> = blocks.concat();
    all.sort_by_key(|l| t(serde_json::from_str::<Value>(l).unwrap()["ts"].as_str().unwrap()));
    all
}

#[test]
fn survey_matching_response_rates_and_timing_by_hand() {
    let s = run_cfg(
        &in_time_order(&survey_morning()),
        "2026-11-30T09:00:00Z",
        EngineConfig::default(),
    );
    for g in [
        queue(&s, "1h", "billing", "voice"),
        channel(&s, "1h", "voice"),
        channel(&s, "1h", "all"),
    ] {
        // Five answers: k1 twice, k3, k6, k9.
        assert_eq!(g.csat_responses, 5);
        // k1 sent twice is one survey, sent at 08:05:30; its first answer is its response,
        // the second is an answer, not a second response. k3's answer had no survey sent.
        let v = &g.surveys;
        assert_eq!((v.csat_sent, v.csat_sent_answered), (1, 1));
        close(v.csat_response_rate, 1.0);
        // k2's NPS survey was sent and never answered.
        assert_eq!((v.nps_sent, v.nps_sent_answered), (1, 0));
        close(v.nps_response_rate, 0.0);
        // Delays from `ended.ts`: k1 35 and 45 min, k3 1 min (immediate, within 1 h);
        // k6 2 h 55 min (later). k9's contact is unknown: no delay, in neither.
        assert_eq!((v.csat_immediate_responses, v.csat_later_responses), (3, 1));
        close(v.csat_immediate, 2.0 / 3.0);
        close(v.csat_later, 0.0);
        assert_eq!((v.nps_immediate_responses, v.nps_later_responses), (0, 0));
        assert_eq!((v.nps_immediate, v.nps_later), (None, None));
        // 1, 35, 45, 175 minutes: nearest rank p50 = 35 min, p90 = 175 min.
        pct(g.survey_delay_p50_seconds, 35.0 * 60.0);
        pct(g.survey_delay_p90_seconds, 175.0 * 60.0);
    }
    // In 15m (08:45–09:00): k1's second answer (08:50, not a response), k6's (08:55),
    // k9's; no survey sent in the window: no rate.
    let g = queue(&s, "15m", "billing", "voice");
    assert_eq!(g.csat_responses, 3);
    assert_eq!((g.surveys.csat_sent, g.surveys.csat_sent_answered), (0, 0));
    assert_eq!(g.surveys.csat_response_rate, None);
    assert_eq!(
        (g.surveys.csat_immediate_responses, g.surveys.csat_later_responses),
        (1, 1)
    );
    // The agent: the same surveys, attributed through the contacts.
    let a1 = agent(&s, "1h", "a1");
    assert_eq!((a1.csat_responses, a1.csat_sent, a1.csat_sent_answered), (4, 1, 1));
    close(a1.csat_response_rate, 1.0);
    assert_eq!((a1.nps_sent, a1.nps_sent_answered), (1, 0));
    close(a1.nps_response_rate, 0.0);
    // Arrival order: each contact's events newest first (its surveys before its offer).
    let shuffled: Vec<String> = survey_morning().iter().flat_map(|b| reversed(b)).collect();
    let r = run_cfg(&shuffled, "2026-11-30T09:00:00Z", EngineConfig::default());
    assert_eq!(s.windows, r.windows);
}

/// Answers days later: the contacts are only remembered by then. k4's survey was sent
/// right after the contact and answered two days later; k5's was sent two days later,
/// and its answer arrives before the send (out of order), both about a remembered contact.
fn days_later(answer_first: bool) -> Vec<String> {
    let mut l = finished(
        "k4",
        "chat",
        "sales",
        "2026-11-30T08:30:00Z",
        "2026-11-30T08:40:00Z",
        "a2",
    );
    l.push(sent("k4-s1", "k4", "nps", "2026-11-30T08:41:00Z"));
    l.extend(finished(
        "k5",
        "chat",
        "sales",
        "2026-11-30T08:35:00Z",
        "2026-11-30T08:45:00Z",
        "a2",
    ));
    l.push(state("s-late", "a2", "2026-12-02T09:00:00Z", Some("green"), &["sales"]));
    let (k5_sent, k5_answer) = (
        sent("k5-s1", "k5", "nps", "2026-12-02T09:50:00Z"),
        nps("k5-n1", "k5", 3, "2026-12-02T09:51:00Z"),
    );
    if answer_first {
        l.extend([k5_answer, k5_sent]);
    } else {
        l.extend([k5_sent, k5_answer]);
    }
    l.push(nps("k4-n1", "k4", 9, "2026-12-02T10:00:00Z"));
    l
}

#[test]
fn answers_days_later_are_matched_to_the_sent_survey_of_a_remembered_contact() {
    let s = run_cfg(&days_later(false), "2026-12-02T10:30:00Z", EngineConfig::default());
    assert!(s.stats.closed_contacts >= 2, "k4 and k5 are only remembered");
    assert_eq!(s.stats.open_contacts, 0);
    let g = queue(&s, "1h", "sales", "chat");
    assert_eq!(g.nps_responses, 2);
    // Both answers are responses to a sent survey, counted at the answer: k4's survey
    // was sent two days before the window, k5's inside it. A window's rate counts the
    // answers that came in it over the surveys sent in it, so it can pass 1.
    assert_eq!((g.surveys.nps_sent, g.surveys.nps_sent_answered), (1, 2));
    close(g.surveys.nps_response_rate, 2.0);
    // Both about two days after their contact's end: later; 9 promotes, 3 detracts.
    assert_eq!(
        (g.surveys.nps_immediate_responses, g.surveys.nps_later_responses),
        (0, 2)
    );
    close(g.surveys.nps_later, 0.0);
    let k5_delay = (t("2026-12-02T09:51:00Z") - t("2026-11-30T08:45:00Z")) as f64 / 1000.0;
    let k4_delay = (t("2026-12-02T10:00:00Z") - t("2026-11-30T08:40:00Z")) as f64 / 1000.0;
    pct(g.survey_delay_p50_seconds, k5_delay.min(k4_delay));
    pct(g.survey_delay_p90_seconds, k5_delay.max(k4_delay));
    let a2 = agent(&s, "1h", "a2");
    assert_eq!((a2.nps_responses, a2.nps_sent, a2.nps_sent_answered), (2, 1, 2));
    // The answer before its send, about a remembered contact: the same figures.
    let r = run_cfg(&days_later(true), "2026-12-02T10:30:00Z", EngineConfig::default());
    assert_eq!(s.windows, r.windows);
}

#[test]
fn the_immediate_limit_is_configurable() {
    let cfg = EngineConfig::from_toml("[surveys]\nimmediate_within = \"30m\"\n").unwrap();
    let s = run_cfg(&in_time_order(&survey_morning()), "2026-11-30T09:00:00Z", cfg);
    let g = queue(&s, "1h", "billing", "voice");
    // k3 (1 min) stays immediate; k1's 35 and 45 min answers become later.
    assert_eq!(
        (g.surveys.csat_immediate_responses, g.surveys.csat_later_responses),
        (1, 3)
    );
    close(g.surveys.csat_immediate, 1.0);
    close(g.surveys.csat_later, 1.0 / 3.0);
}

// ------------------------------------------------------------------------ staffing

/// 50 voice contacts in `billing` over 09:00–09:15, each handled in 180 s (170 s talk,
/// 10 s ACW): 50 / 900 s × 180 s = 10 Erlangs, the reference load of `spec/kpis.md`.
/// 12 agents serve `billing` and can take a contact (available, busy, in ACW), one is
/// away and one offline; `tech` (chat) has 3, `support` (email) 2. Chat: 20 chats of
/// 300 s over 15 minutes (6.67 Erlangs); email: 5 emails.
fn staffing_events() -> Vec<String> {
    let mut l = Vec::new();
    let states = ["available", "busy", "acw"];
    for i in 0..12 {
        l.push(ev(
            &format!("st{i}"),
            "agent.state",
            "2026-11-30T08:00:00Z",
            json!({"agent_id": format!("b{i}"), "state": states[i % 3], "queues": ["billing"]}),
        ));
    }
    for (i, (st, queues)) in [
        ("away", json!(["billing"])),
        ("offline", json!(["billing"])),
        ("available", json!(["tech", "support"])),
        ("busy", json!(["tech"])),
        ("available", json!(["tech", "support"])),
    ]
    .into_iter()
    .enumerate()
    {
        l.push(ev(
            &format!("sx{i}"),
            "agent.state",
            "2026-11-30T08:00:00Z",
            json!({"agent_id": format!("x{i}"), "state": st, "queues": queues}),
        ));
    }
    let mut contact = |id: String, channel: &str, queue: &str, offered: String, talk: i64, acw: i64| {
        l.extend(answered(&id, channel, queue, &offered, 5, "b0"));
        let end = at(&offered, 5 + talk);
        l.push(ended(&id, &end, None));
        l.push(ev(
            &format!("{id}-w"),
            "contact.wrapped_up",
            &at(&end, acw),
            json!({"contact_id": id}),
        ));
    };
    for i in 0..50 {
        contact(
            format!("v{i}"),
            "voice",
            "billing",
            at("2026-11-30T08:59:00Z", 60 + i * 15),
            170,
            10,
        );
    }
    for i in 0..20 {
        contact(
            format!("h{i}"),
            "chat",
            "tech",
            at("2026-11-30T08:59:00Z", 60 + i * 30),
            290,
            10,
        );
    }
    for i in 0..5 {
        contact(
            format!("m{i}"),
            "email",
            "support",
            at("2026-11-30T08:59:00Z", 60 + i * 60),
            100,
            20,
        );
    }
    // A queue whose contacts are offered but none handled yet: no AHT.
    l.push(ev(
        "n1",
        "contact.offered",
        "2026-11-30T09:10:00Z",
        json!({"contact_id": "n1", "channel": "voice", "queue": "new"}),
    ));
    l
}

#[test]
fn agents_required_staffed_and_gap_by_hand() {
    let s = run_cfg(&staffing_events(), "2026-11-30T09:15:00Z", EngineConfig::default());
    let g = queue(&s, "15m", "billing", "voice");
    assert_eq!(g.offered, 50);
    close(g.aht_seconds, 180.0);
    // A = 10, AHT 180 s, 80 % in 20 s: 13 agents give 79.56 %, 14 give 88.84 %.
    assert_eq!(g.agents_required, Some(14));
    assert_eq!(
        g.agents_staffed,
        Some(12),
        "the away and the offline agent do not count"
    );
    assert_eq!(g.staffing_gap, Some(-2));
    // Chat: 20 chats × 300 s / 900 s = 6.67 Erlangs, 80 % in 60 s.
    let h = queue(&s, "15m", "tech", "chat");
    close(h.aht_seconds, 300.0);
    let load = 20.0 / 900.0 * 300.0;
    let want = ccpulse_core::erlang::erlang_agents(load, 300.0, 60.0, 0.8).unwrap();
    assert!(ccpulse_core::erlang::service_level(want - 1, load, 300.0, 60.0) < 0.8);
    assert_eq!(h.agents_required, Some(want));
    assert_eq!((h.agents_staffed, h.staffing_gap), (Some(3), Some(3 - i64::from(want))));
    // Email: Erlang C does not apply; the agents serving it are still counted.
    let m = queue(&s, "15m", "support", "email");
    assert_eq!(
        (m.agents_required, m.agents_staffed, m.staffing_gap),
        (None, Some(2), None)
    );
    // Offers without a handled contact: no AHT, no requirement.
    let n = queue(&s, "15m", "new", "voice");
    assert_eq!((n.offered, n.aht_seconds), (1, None));
    assert_eq!(
        (n.agents_required, n.agents_staffed, n.staffing_gap),
        (None, Some(0), None)
    );
    // Channel groups have no staffing figures: agents serve queues, not channels.
    let v = channel(&s, "15m", "voice");
    assert_eq!(
        (v.agents_required, v.agents_staffed, v.staffing_gap),
        (None, None, None)
    );
    // In 1h the same 50 contacts make a quarter of the load: 2.5 Erlangs.
    let h1 = queue(&s, "1h", "billing", "voice");
    let want = ccpulse_core::erlang::erlang_agents(2.5, 180.0, 20.0, 0.8).unwrap();
    assert_eq!(h1.agents_required, Some(want));
    assert_eq!(h1.agents_staffed, Some(12), "live: the same in every window");

    // Shrinkage 30 %: 14 / 0.7 = 20. Occupancy at most 60 %: 10 / 0.6 → 17.
    let cfg = EngineConfig::from_toml("[staffing]\nshrinkage = 0.3\n").unwrap();
    let s = run_cfg(&staffing_events(), "2026-11-30T09:15:00Z", cfg);
    let g = queue(&s, "15m", "billing", "voice");
    assert_eq!((g.agents_required, g.staffing_gap), (Some(20), Some(-8)));
    let cfg = EngineConfig::from_toml("[staffing]\nmax_occupancy = 0.6\n").unwrap();
    let s = run_cfg(&staffing_events(), "2026-11-30T09:15:00Z", cfg);
    assert_eq!(queue(&s, "15m", "billing", "voice").agents_required, Some(17));
}

#[test]
fn a_resolve_policy_has_no_erlang_requirement() {
    let cfg = EngineConfig::from_toml(
        "[[sla.policies]]\nname = \"billing-resolve\"\nqueue = \"billing\"\nthreshold = \"10m\"\ntarget = 0.8\nmeasure = \"resolve\"\n",
    )
    .unwrap();
    let s = run_cfg(&staffing_events(), "2026-11-30T09:15:00Z", cfg);
    let g = queue(&s, "15m", "billing", "voice");
    assert_eq!((g.agents_required, g.agents_staffed), (None, Some(12)));
}

#[test]
fn metrics_take_staffing_from_the_whole_view() {
    let s = run_cfg(&staffing_events(), "2026-11-30T09:15:00Z", EngineConfig::default());
    // A snapshot of part of the view (here: another engine's, with none of the agents)
    // takes the whole view's staffing figures; groups the whole view lacks get none.
    let mut part = run_cfg(
        &staffing_events()[17..],
        "2026-11-30T09:15:00Z",
        EngineConfig::default(),
    );
    assert_eq!(queue(&part, "15m", "billing", "voice").agents_staffed, Some(0));
    for w in &mut part.windows {
        for g in w.queues.iter_mut().filter(|g| g.queue.as_deref() == Some("tech")) {
            g.queue = Some("_other".into());
        }
    }
    part.staffing_from(&s);
    let g = queue(&part, "15m", "billing", "voice");
    assert_eq!(
        (g.agents_required, g.agents_staffed, g.staffing_gap),
        (Some(14), Some(12), Some(-2))
    );
    let other = queue(&part, "15m", "_other", "chat");
    assert_eq!(
        (other.agents_required, other.agents_staffed, other.staffing_gap),
        (None, None, None)
    );
}

// ---------------------------------------------------------------------- drill-down

use ccpulse_core::api::ContactsResponse;
use ccpulse_core::contact::DrillOutcome;
use ccpulse_core::event::Channel;
use ccpulse_core::partial::MAX_LISTED;
use ccpulse_core::{parse_event, Engine};

fn offered(id: &str, channel: &str, queue: &str, ts: &str, customer: Option<&str>) -> String {
    let mut extra = json!({"contact_id": id, "channel": channel, "queue": queue});
    if let Some(c) = customer {
        extra["customer_id"] = json!(c);
    }
    ev(&format!("{id}-o"), "contact.offered", ts, extra)
}

fn simple(id: &str, kind: &str, ts: &str, extra: Value) -> String {
    let mut extra = extra;
    extra["contact_id"] = json!(id);
    ev(&format!("{id}-{kind}"), kind, ts, extra)
}

/// Queue `billing`, 09:00–09:15: two abandons (d1, d2) and one before the window (d3);
/// two answers after the threshold (d4; d6, whose offer was never seen) and one within
/// it (d5); a flow-out (d7); three contacts waiting (d8, d9, d10), d10 a repeat of d1's
/// customer; d11 transferred to `tech` and abandoned there; a chat abandon (c1).
fn drill_events() -> Vec<String> {
    let mut l = vec![
        offered("d1", "voice", "billing", "2026-11-30T09:01:00Z", Some("k1")),
        simple("d1", "contact.abandoned", "2026-11-30T09:01:30Z", json!({})),
        offered("d2", "voice", "billing", "2026-11-30T09:02:00Z", Some("k2")),
        simple("d2", "contact.abandoned", "2026-11-30T09:02:03Z", json!({})),
        offered("d3", "voice", "billing", "2026-11-30T08:50:00Z", None),
        simple("d3", "contact.abandoned", "2026-11-30T08:51:00Z", json!({})),
        offered("d4", "voice", "billing", "2026-11-30T09:03:00Z", Some("k4")),
        simple(
            "d4",
            "contact.answered",
            "2026-11-30T09:03:40Z",
            json!({"agent_id": "a1"}),
        ),
        offered("d5", "voice", "billing", "2026-11-30T09:04:00Z", None),
        simple(
            "d5",
            "contact.answered",
            "2026-11-30T09:04:05Z",
            json!({"agent_id": "a1"}),
        ),
        simple(
            "d6",
            "contact.answered",
            "2026-11-30T09:05:00Z",
            json!({"agent_id": "a2", "channel": "voice", "queue": "billing"}),
        ),
        offered("d7", "voice", "billing", "2026-11-30T09:06:00Z", None),
        simple(
            "d7",
            "contact.flowed_out",
            "2026-11-30T09:07:00Z",
            json!({"reason": "timeout"}),
        ),
        offered("d8", "voice", "billing", "2026-11-30T09:10:00Z", None),
        offered("d9", "voice", "billing", "2026-11-30T09:11:00Z", None),
        offered("d10", "voice", "billing", "2026-11-30T09:12:00Z", Some("k1")),
        offered("d11", "voice", "billing", "2026-11-30T09:08:00Z", None),
        simple(
            "d11",
            "contact.transferred",
            "2026-11-30T09:08:30Z",
            json!({"to_queue": "tech"}),
        ),
        simple("d11", "contact.abandoned", "2026-11-30T09:09:00Z", json!({})),
        offered("c1", "chat", "billing", "2026-11-30T09:05:00Z", None),
        simple("c1", "contact.abandoned", "2026-11-30T09:06:00Z", json!({})),
    ];
    l.sort_by_key(|x| t(serde_json::from_str::<Value>(x).unwrap()["ts"].as_str().unwrap()));
    l
}

/// The drill-down answer as (contact_id, customer_id, offered_at, decided_at, wait
/// seconds, agent).
type Row = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<String>,
);

fn drill(
    s: &Snapshot,
    window: &str,
    queue: &str,
    channel: Option<Channel>,
    outcome: DrillOutcome,
    limit: usize,
) -> Vec<Row> {
    let w = s.window(window).unwrap();
    let answer = serde_json::to_value(ContactsResponse::new(s, w, queue, channel, outcome, limit)).unwrap();
    assert_eq!(answer["outcome"], outcome.as_str());
    assert_eq!(answer["window"], window);
    assert!(answer["coverage"]["partitions"].is_number());
    let s = |v: &Value| v.as_str().map(String::from);
    answer["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["outcome"], outcome.as_str());
            assert_eq!(c["queue"], queue);
            (
                s(&c["contact_id"]).unwrap(),
                s(&c["customer_id"]),
                s(&c["offered_at"]),
                s(&c["decided_at"]),
                c["wait_seconds"].as_f64(),
                s(&c["agent_id"]),
            )
        })
        .collect()
}

fn ids(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.0.as_str()).collect()
}

/// A leg decided at the very start of the longest window (1 h before 09:15) is listed
/// in it, one decided a millisecond earlier is not: the engine derives a contact's legs
/// only when its newest event is in that span, and both contacts' newest event is the
/// one that decides.
#[test]
fn a_leg_decided_at_the_start_of_the_longest_window_is_listed() {
    let lines = vec![
        offered("e1", "voice", "billing", "2026-11-30T08:14:00Z", None),
        simple("e1", "contact.abandoned", "2026-11-30T08:15:00Z", json!({})),
        offered("e2", "voice", "billing", "2026-11-30T08:14:00Z", None),
        simple("e2", "contact.abandoned", "2026-11-30T08:14:59.999Z", json!({})),
        offered("e3", "voice", "billing", "2026-11-30T09:00:00Z", None),
    ];
    let s = run_cfg(&lines, "2026-11-30T09:15:00Z", EngineConfig::default());
    let abandoned = drill(&s, "1h", "billing", Some(Channel::Voice), DrillOutcome::Abandoned, 100);
    assert_eq!(ids(&abandoned), ["e1"]);
    assert_eq!(abandoned.len() as i64, queue(&s, "1h", "billing", "voice").abandoned);
}

#[test]
fn the_contacts_behind_the_figures_by_hand() {
    let s = run_cfg(&drill_events(), "2026-11-30T09:15:00Z", EngineConfig::default());
    let g = queue(&s, "15m", "billing", "voice");
    let voice = Some(Channel::Voice);
    use DrillOutcome::*;

    let abandoned = drill(&s, "15m", "billing", voice, Abandoned, 100);
    assert_eq!(ids(&abandoned), ["d2", "d1"], "newest first");
    assert_eq!(abandoned.len() as i64, g.abandoned);
    let d1 = &abandoned[1];
    assert_eq!(d1.1.as_deref(), Some("k1"));
    assert_eq!(d1.2.as_deref(), Some("2026-11-30T09:01:00Z"));
    assert_eq!(d1.3.as_deref(), Some("2026-11-30T09:01:30Z"));
    assert_eq!((d1.4, d1.5.as_deref()), (Some(30.0), None));
    // 1h also holds d3.
    let abandoned_1h = drill(&s, "1h", "billing", voice, Abandoned, 100);
    assert_eq!(ids(&abandoned_1h), ["d2", "d1", "d3"]);
    assert_eq!(abandoned_1h.len() as i64, queue(&s, "1h", "billing", "voice").abandoned);
    // Both channels of the queue, or one.
    assert_eq!(
        ids(&drill(&s, "15m", "billing", None, Abandoned, 100)),
        ["c1", "d2", "d1"]
    );
    assert_eq!(
        ids(&drill(&s, "15m", "billing", Some(Channel::Chat), Abandoned, 100)),
        ["c1"]
    );
    // d11 left billing by transfer and was abandoned in tech.
    assert_eq!(ids(&drill(&s, "15m", "tech", voice, Abandoned, 100)), ["d11"]);
    assert_eq!(g.transferred_out, 1);
    // The limit keeps the newest.
    assert_eq!(ids(&drill(&s, "15m", "billing", voice, Abandoned, 1)), ["d2"]);

    // Late: answered over the 20 s threshold (d4, 40 s), or with no known wait (d6).
    let late = drill(&s, "15m", "billing", voice, Late, 100);
    assert_eq!(ids(&late), ["d6", "d4"]);
    assert_eq!(late.len() as i64, g.answered - g.answered_within);
    assert_eq!(
        (late[0].2.as_deref(), late[0].4, late[0].5.as_deref()),
        (None, None, Some("a2"))
    );
    assert_eq!((late[1].4, late[1].5.as_deref()), (Some(40.0), Some("a1")));
    assert_eq!(late[1].3.as_deref(), Some("2026-11-30T09:03:40Z"));

    let flowed = drill(&s, "15m", "billing", voice, FlowedOut, 100);
    assert_eq!(ids(&flowed), ["d7"]);
    assert_eq!(flowed.len() as i64, g.flowed_out);
    assert_eq!(flowed[0].4, Some(60.0));

    // Waiting now, whatever the window: waits up to now (09:15).
    let waiting = drill(&s, "5m", "billing", voice, Waiting, 100);
    assert_eq!(ids(&waiting), ["d10", "d9", "d8"]);
    assert_eq!(waiting.len() as i64, g.waiting);
    assert_eq!(
        waiting.iter().map(|r| (r.3.clone(), r.4)).collect::<Vec<_>>(),
        [(None, Some(180.0)), (None, Some(240.0)), (None, Some(300.0))]
    );

    // d10: the customer of d1 again (no topic either), judged a repeat at its offer.
    let repeat = drill(&s, "15m", "billing", voice, Repeat, 100);
    assert_eq!(ids(&repeat), ["d10"]);
    assert_eq!(repeat.len() as i64, g.repeat_contacts);
    assert_eq!(
        (repeat[0].1.as_deref(), repeat[0].3.as_deref()),
        (Some("k1"), Some("2026-11-30T09:12:00Z"))
    );

    // Arrival order does not matter.
    let r = run_cfg(
        &reversed(&drill_events()),
        "2026-11-30T09:15:00Z",
        EngineConfig::default(),
    );
    assert_eq!(r.listed, s.listed);
}

fn engine_partial(lines: &[String], now: &str) -> ccpulse_core::partial::Partial {
    let mut e = Engine::new(Arc::new(EngineConfig::default()));
    for l in lines {
        e.apply(&parse_event(l.as_bytes(), t(WALL)).unwrap());
    }
    e.partial(t(now))
}

/// Many abandons, on two partitions: each engine keeps its newest 100, the merge the
/// newest 100 of both, which are those of one engine holding everything; the figure
/// counts them all.
#[test]
fn lists_are_bounded_and_merge_across_partitions() {
    let lines: Vec<Vec<String>> = (0..150)
        .map(|i| {
            let id = format!("m{i:03}");
            let at = at("2026-11-30T09:00:00Z", i * 5);
            vec![
                offered(&id, "voice", "billing", &at, None),
                simple(&id, "contact.abandoned", &at, json!({})),
            ]
        })
        .collect();
    let now = "2026-11-30T09:15:00Z";
    let whole = Snapshot::build(&engine_partial(&lines.concat(), now), &EngineConfig::default());
    let even: Vec<String> = lines.iter().step_by(2).flatten().cloned().collect();
    let odd: Vec<String> = lines.iter().skip(1).step_by(2).flatten().cloned().collect();
    let mut merged = engine_partial(&even, now);
    let other = engine_partial(&odd, now);
    assert_eq!(other.listed.values().map(Vec::len).sum::<usize>(), 75);
    merged.merge(&other);
    let merged = Snapshot::build(&merged, &EngineConfig::default());
    assert_eq!(merged.listed, whole.listed);
    assert_eq!(queue(&merged, "15m", "billing", "voice").abandoned, 150);
    let rows = drill(
        &merged,
        "15m",
        "billing",
        Some(Channel::Voice),
        DrillOutcome::Abandoned,
        MAX_LISTED,
    );
    assert_eq!(rows.len(), MAX_LISTED);
    assert_eq!((rows[0].0.as_str(), rows[99].0.as_str()), ("m149", "m050"));
}
