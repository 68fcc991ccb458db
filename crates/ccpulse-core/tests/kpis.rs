//! Every KPI of `spec/kpis.md` against expectations computed by hand.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

mod common;

use ccpulse_core::replay::replay_text;
use ccpulse_core::snapshot::Snapshot;
use ccpulse_core::EngineConfig;
use common::{channel, ev, queue, replay_lines, t};
use serde_json::{json, Value};

const WALL: &str = "2026-11-22T12:00:00Z";

fn run_cfg(lines: &[String], as_of: &str, cfg: EngineConfig) -> Snapshot {
    replay_lines(lines, as_of, cfg, WALL)
}

fn run(lines: &[String], as_of: &str) -> Snapshot {
    run_cfg(lines, as_of, EngineConfig::default())
}

/// A percentile: hdrhistogram reports its bucket's highest equivalent value, within
/// 0.1 % (3 significant digits).
fn pct(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("expected {b}, got null"));
    assert!(a >= b && (a - b) <= b * 1e-3, "expected {b} (+0.1 %), got {a}");
}

fn close(a: Option<f64>, b: f64) {
    let a = a.unwrap_or_else(|| panic!("expected {b}, got null"));
    assert!((a - b).abs() < 1e-9, "expected {b}, got {a}");
}

/// The example of `spec/events.md`.
fn example() -> Vec<String> {
    vec![
        ev(
            "e1",
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":"c1","channel":"voice","queue":"billing","customer_id":"k42","topic":"invoice","segment":"gold"}),
        ),
        ev(
            "e2",
            "contact.answered",
            "2026-11-22T09:00:14Z",
            json!({"contact_id":"c1","agent_id":"a7"}),
        ),
        ev(
            "e3",
            "contact.hold_started",
            "2026-11-22T09:02:00Z",
            json!({"contact_id":"c1"}),
        ),
        ev(
            "e4",
            "contact.hold_ended",
            "2026-11-22T09:02:30Z",
            json!({"contact_id":"c1"}),
        ),
        ev(
            "e5",
            "contact.ended",
            "2026-11-22T09:05:14Z",
            json!({"contact_id":"c1","resolved":true}),
        ),
        ev(
            "e6",
            "contact.wrapped_up",
            "2026-11-22T09:06:00Z",
            json!({"contact_id":"c1"}),
        ),
        ev(
            "e7",
            "survey.csat",
            "2026-11-22T09:07:00Z",
            json!({"contact_id":"c1","score":5,"scale":"five"}),
        ),
    ]
}

#[test]
fn the_spec_example() {
    let s = run(&example(), "2026-11-22T09:10:00Z");
    let g = queue(&s, "15m", "billing", "voice");
    let w = s.window("15m").unwrap();
    assert_eq!((w.from, w.to), (t("2026-11-22T08:55:00Z"), t("2026-11-22T09:10:00Z")));
    assert_eq!((g.offered, g.answered, g.abandoned, g.handled), (1, 1, 0, 1));
    assert_eq!(g.answered_within, 1);
    close(g.service_level, 1.0);
    assert_eq!(g.sla_policy.as_deref(), Some("voice-default"));
    close(g.asa_seconds, 14.0);
    pct(g.wait_p50_seconds, 14.0);
    close(g.talk_seconds, 270.0);
    close(g.hold_seconds, 30.0);
    close(g.acw_seconds, 46.0);
    close(g.aht_seconds, 346.0);
    pct(g.handle_p90_seconds, 346.0);
    assert_eq!((g.fcr_contacts, g.repeat_contacts), (1, 0));
    close(g.fcr, 1.0);
    assert_eq!(g.csat_responses, 1);
    close(g.csat, 1.0);
    assert_eq!(g.nps, None, "no NPS answers: null, not 0");
    assert_eq!((g.waiting, g.oldest_wait_seconds), (0, 0.0));
    // The 5m window [09:05, 09:10) holds the wrap-up and the survey only.
    let g5 = queue(&s, "5m", "billing", "voice");
    assert_eq!((g5.offered, g5.answered, g5.handled, g5.csat_responses), (0, 0, 1, 1));
    assert_eq!(g5.service_level, None);
    let agent = s
        .window("15m")
        .unwrap()
        .agents
        .iter()
        .find(|a| &*a.agent == "a7")
        .unwrap();
    assert_eq!(agent.handled, 1);
    close(agent.aht_seconds, 346.0);
    close(agent.csat, 1.0);
}

#[test]
fn out_of_order_and_duplicates_give_the_in_order_figures() {
    let in_order = run(&example(), "2026-11-22T09:10:00Z");
    let mut shuffled = example();
    shuffled.reverse();
    shuffled.extend(example());
    shuffled.swap(0, 4);
    let (snap, invalid) = replay_text(
        &shuffled.join("\n"),
        Arc::new(EngineConfig::default()),
        Some(t("2026-11-22T09:10:00Z")),
        t(WALL),
    );
    assert!(invalid.is_empty());
    assert_eq!(snap.windows, in_order.windows);
}

#[test]
fn transfer_before_answer() {
    let c = json!({"contact_id":"c1"});
    let lines = vec![
        ev(
            "1",
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":"c1","channel":"voice","queue":"q1"}),
        ),
        ev(
            "2",
            "contact.transferred",
            "2026-11-22T09:00:30Z",
            json!({"contact_id":"c1","to_queue":"q2"}),
        ),
        ev(
            "3",
            "contact.answered",
            "2026-11-22T09:00:40Z",
            json!({"contact_id":"c1","agent_id":"a1"}),
        ),
        ev("4", "contact.ended", "2026-11-22T09:01:40Z", c.clone()),
        ev("5", "contact.wrapped_up", "2026-11-22T09:01:50Z", c),
    ];
    let s = run(&lines, "2026-11-22T09:05:00Z");
    let q1 = queue(&s, "5m", "q1", "voice");
    assert_eq!(
        (q1.offered, q1.answered, q1.abandoned, q1.transferred_out, q1.handled),
        (1, 0, 0, 1, 0)
    );
    assert_eq!(q1.service_level, None, "a transfer is neither answered nor abandoned");
    let q2 = queue(&s, "5m", "q2", "voice");
    assert_eq!((q2.offered, q2.answered, q2.transferred_out, q2.handled), (1, 1, 0, 1));
    close(q2.asa_seconds, 10.0);
    close(q2.aht_seconds, 70.0);
    close(q2.acw_seconds, 10.0);
    let voice = channel(&s, "5m", "voice");
    assert_eq!(
        (voice.offered, voice.answered, voice.transferred_out),
        (2, 1, 1),
        "each leg counts as offered"
    );
}

#[test]
fn transfer_after_answer_counts_handle_time_so_far_for_the_old_queue() {
    let c = json!({"contact_id":"c1"});
    let lines = vec![
        ev(
            "1",
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":"c1","channel":"chat","queue":"q1"}),
        ),
        ev(
            "2",
            "contact.answered",
            "2026-11-22T09:00:05Z",
            json!({"contact_id":"c1","agent_id":"a1"}),
        ),
        ev("3", "contact.hold_started", "2026-11-22T09:00:10Z", c.clone()),
        ev("4", "contact.hold_ended", "2026-11-22T09:00:20Z", c.clone()),
        ev(
            "5",
            "contact.transferred",
            "2026-11-22T09:01:05Z",
            json!({"contact_id":"c1","to_queue":"q2"}),
        ),
        ev(
            "6",
            "contact.answered",
            "2026-11-22T09:01:20Z",
            json!({"contact_id":"c1","agent_id":"a2"}),
        ),
        ev("7", "contact.ended", "2026-11-22T09:03:20Z", c.clone()),
        ev("8", "contact.wrapped_up", "2026-11-22T09:03:50Z", c.clone()),
        ev(
            "9",
            "survey.nps",
            "2026-11-22T09:04:00Z",
            json!({"contact_id":"c1","score":9}),
        ),
    ];
    let s = run(&lines, "2026-11-22T09:05:00Z");
    let q1 = queue(&s, "5m", "q1", "chat");
    assert_eq!((q1.offered, q1.answered, q1.transferred_out, q1.handled), (1, 1, 1, 1));
    close(q1.talk_seconds, 50.0);
    close(q1.hold_seconds, 10.0);
    close(q1.acw_seconds, 0.0);
    close(q1.aht_seconds, 60.0);
    assert_eq!(q1.nps_responses, 0);
    let q2 = queue(&s, "5m", "q2", "chat");
    assert_eq!((q2.offered, q2.answered, q2.handled), (1, 1, 1));
    close(q2.asa_seconds, 15.0);
    close(q2.aht_seconds, 150.0);
    assert_eq!(q2.nps_responses, 1, "the survey goes to the last answered leg");
    close(q2.nps, 100.0);
    let agents = &s.window("5m").unwrap().agents;
    let a1 = agents.iter().find(|a| &*a.agent == "a1").unwrap();
    let a2 = agents.iter().find(|a| &*a.agent == "a2").unwrap();
    close(a1.aht_seconds, 60.0);
    close(a2.aht_seconds, 150.0);
    assert_eq!(a2.nps_responses, 1);
}

/// 4 answered (waits 5, 15, 25, 40 s) and 3 abandoned (waits 2, 10, 30 s), T = 20 s.
fn mixed_traffic(queue: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let base = t("2026-11-22T09:00:00Z");
    let at = |ms: i64| jiff::Timestamp::from_millisecond(base + ms).unwrap().to_string();
    for (i, (wait, answered)) in [
        (5, true),
        (15, true),
        (25, true),
        (40, true),
        (2, false),
        (10, false),
        (30, false),
    ]
    .into_iter()
    .enumerate()
    {
        let cid = format!("{prefix}{i}");
        let start = i as i64 * 60_000;
        out.push(ev(
            &format!("{cid}o"),
            "contact.offered",
            &at(start),
            json!({"contact_id": cid, "channel": "voice", "queue": queue}),
        ));
        let kind = if answered {
            "contact.answered"
        } else {
            "contact.abandoned"
        };
        out.push(ev(
            &format!("{cid}x"),
            kind,
            &at(start + wait * 1000),
            json!({"contact_id": cid, "agent_id": "a"}),
        ));
    }
    out
}

#[test]
fn the_three_formulas_and_short_abandons() {
    let cfg = EngineConfig::from_toml(
        r#"
[[sla.policies]]
name = "answered"
queue = "qa"
threshold = "20s"
target = 0.8
formula = "answered"

[[sla.policies]]
name = "negative"
queue = "qb"
threshold = "20s"
target = 0.8

[[sla.policies]]
name = "positive"
queue = "qc"
threshold = "20s"
target = 0.8
formula = "positive_abandon"

[[sla.policies]]
name = "negative-excl"
queue = "qd"
threshold = "20s"
target = 0.8
exclude_short_abandons = true

[[sla.policies]]
name = "positive-excl"
queue = "qe"
threshold = "20s"
target = 0.8
formula = "positive_abandon"
exclude_short_abandons = true
"#,
    )
    .unwrap();
    let mut lines = Vec::new();
    for q in ["qa", "qb", "qc", "qd", "qe"] {
        lines.extend(mixed_traffic(q, q));
    }
    let s = run_cfg(&lines, "2026-11-22T09:15:00Z", cfg);
    let sl = |q: &str| queue(&s, "15m", q, "voice").service_level;
    close(sl("qa"), 2.0 / 4.0);
    close(sl("qb"), 2.0 / 7.0);
    close(sl("qc"), 4.0 / 7.0);
    close(sl("qd"), 2.0 / 6.0);
    close(sl("qe"), 3.0 / 6.0);
    let g = queue(&s, "15m", "qa", "voice");
    assert_eq!(g.sla_policy.as_deref(), Some("answered"));
    assert_eq!(
        (g.answered, g.abandoned, g.short_abandoned, g.answered_within),
        (4, 3, 1, 2)
    );
    close(g.answer_rate, 4.0 / 7.0);
    close(g.abandon_rate, 3.0 / 7.0);
    close(g.asa_seconds, 21.25);
    pct(g.wait_p50_seconds, 15.0);
    pct(g.wait_p90_seconds, 40.0);
    pct(g.wait_p99_seconds, 40.0);
    // The voice channel mixes five policies: each contact judged by its own.
    let voice = channel(&s, "15m", "voice");
    close(
        voice.service_level,
        (2.0 + 2.0 + 4.0 + 2.0 + 3.0) / (4.0 + 7.0 + 7.0 + 6.0 + 6.0),
    );
    assert_eq!(voice.sla.len(), 5);
}

/// Five voice contacts per queue: answered after 10 s and 30 s, abandoned after 8 s,
/// flowed out after 60 s (timeout) and after 3 s (queue empty, no channel or queue on
/// the event: attributed by its offer).
fn flow_out_traffic(queue: &str) -> Vec<String> {
    let base = t("2026-11-22T09:00:00Z");
    let at = |s: i64| jiff::Timestamp::from_millisecond(base + s * 1000).unwrap().to_string();
    let mut out = Vec::new();
    for (i, (wait, kind, extra)) in [
        (10, "contact.answered", json!({"agent_id": "a1"})),
        (30, "contact.answered", json!({"agent_id": "a2"})),
        (8, "contact.abandoned", json!({})),
        (
            60,
            "contact.flowed_out",
            json!({"reason": "timeout", "channel": "voice", "queue": queue}),
        ),
        (3, "contact.flowed_out", json!({"reason": "queue_empty"})),
    ]
    .into_iter()
    .enumerate()
    {
        let cid = format!("{queue}-{i}");
        let start = i as i64 * 100;
        out.push(ev(
            &format!("{cid}o"),
            "contact.offered",
            &at(start),
            json!({"contact_id": cid, "channel": "voice", "queue": queue}),
        ));
        let mut extra = extra;
        extra["contact_id"] = json!(cid);
        out.push(ev(&format!("{cid}x"), kind, &at(start + wait), extra));
    }
    out
}

#[test]
fn flow_outs_are_neither_answered_nor_abandoned_and_join_the_denominator_when_asked() {
    let cfg = EngineConfig::from_toml(
        r#"
[[sla.policies]]
name = "answered"
queue = "qa"
threshold = "20s"
target = 0.8
formula = "answered"

[[sla.policies]]
name = "answered-flow"
queue = "qb"
threshold = "20s"
target = 0.8
formula = "answered"
include_flowouts = true

[[sla.policies]]
name = "negative-flow"
queue = "qc"
threshold = "20s"
target = 0.8
include_flowouts = true

[[sla.policies]]
name = "positive-flow"
queue = "qd"
threshold = "20s"
target = 0.8
formula = "positive_abandon"
include_flowouts = true
"#,
    )
    .unwrap();
    let mut lines = Vec::new();
    for q in ["qa", "qb", "qc", "qd"] {
        lines.extend(flow_out_traffic(q));
    }
    let s = run_cfg(&lines, "2026-11-22T09:15:00Z", cfg);
    for q in ["qa", "qb", "qc", "qd"] {
        let g = queue(&s, "15m", q, "voice");
        assert_eq!(
            (g.offered, g.answered, g.abandoned, g.flowed_out, g.answered_within),
            (5, 2, 1, 2, 1),
            "{q}"
        );
        // Flow-outs are in neither rate: 2 answered, 1 abandoned.
        close(g.answer_rate, 2.0 / 3.0);
        close(g.abandon_rate, 1.0 / 3.0);
        close(g.asa_seconds, 20.0);
        assert_eq!((g.waiting, g.short_abandoned), (0, 0), "{q}");
    }
    let sl = |q: &str| queue(&s, "15m", q, "voice").service_level;
    // met / answered; + flow-outs; met / (answered + abandoned + flow-outs);
    // (met + abandoned within T) / (answered + abandoned + flow-outs).
    close(sl("qa"), 1.0 / 2.0);
    close(sl("qb"), 1.0 / 4.0);
    close(sl("qc"), 1.0 / 5.0);
    close(sl("qd"), 2.0 / 5.0);
    let voice = channel(&s, "15m", "voice");
    assert_eq!(voice.flowed_out, 8);
    assert_eq!(voice.sla.iter().map(|p| p.denominator).sum::<u64>(), 2 + 4 + 5 + 5);
    // A flow-out counts where it happened: the 5m window [09:10, 09:15) holds nothing.
    assert!(s.window("5m").unwrap().queues.is_empty());
    // [09:01:30, 09:06:30): offers at 09:01:40, 09:03:20, 09:05:00; the answer at
    // 09:02:10, the abandon at 09:03:28, the timeout at 09:06:00 (the last contact is
    // offered at 09:06:40, after the as-of time).
    let s = run(&flow_out_traffic("qx"), "2026-11-22T09:06:30Z");
    let g = queue(&s, "5m", "qx", "voice");
    assert_eq!((g.offered, g.answered, g.abandoned, g.flowed_out), (3, 1, 1, 1));
}

#[test]
fn a_flow_out_after_an_answer_or_an_abandon_changes_nothing() {
    let lines = vec![
        ev(
            "o1",
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":"c1","channel":"voice","queue":"q"}),
        ),
        ev(
            "a1",
            "contact.answered",
            "2026-11-22T09:00:05Z",
            json!({"contact_id":"c1","agent_id":"a"}),
        ),
        ev(
            "f1",
            "contact.flowed_out",
            "2026-11-22T09:00:09Z",
            json!({"contact_id":"c1","reason":"timeout"}),
        ),
        ev(
            "o2",
            "contact.offered",
            "2026-11-22T09:01:00Z",
            json!({"contact_id":"c2","channel":"voice","queue":"q"}),
        ),
        ev(
            "f2",
            "contact.flowed_out",
            "2026-11-22T09:01:30Z",
            json!({"contact_id":"c2"}),
        ),
        // Arrives late: the abandon before the flow-out decides the leg.
        ev(
            "x2",
            "contact.abandoned",
            "2026-11-22T09:01:20Z",
            json!({"contact_id":"c2"}),
        ),
        // A flow-out whose offer was never seen is attributed by its own fields.
        ev(
            "f3",
            "contact.flowed_out",
            "2026-11-22T09:02:00Z",
            json!({"contact_id":"c3","channel":"voice","queue":"q","reason":"overflow"}),
        ),
    ];
    let s = run(&lines, "2026-11-22T09:10:00Z");
    let g = queue(&s, "15m", "q", "voice");
    assert_eq!((g.offered, g.answered, g.abandoned, g.flowed_out), (2, 1, 1, 1));
    assert_eq!(g.waiting, 0);
}

#[test]
fn resolve_measure() {
    let cfg = EngineConfig::from_toml(
        "[[sla.policies]]\nname = \"finance\"\nqueue = \"finance\"\nthreshold = \"1h\"\ntarget = 0.9\nmeasure = \"resolve\"\n",
    )
    .unwrap();
    let mut lines = Vec::new();
    for (c, answered, ended, resolved) in [
        ("c1", "09:10", "09:50", json!(true)),
        ("c2", "09:05", "10:30", json!(true)),
        ("c3", "09:01", "09:20", json!(false)),
        ("c4", "09:02", "09:40", Value::Null),
    ] {
        let cid = json!({"contact_id": c});
        lines.push(ev(
            &format!("{c}o"),
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":c,"channel":"email","queue":"finance"}),
        ));
        lines.push(ev(
            &format!("{c}a"),
            "contact.answered",
            &format!("2026-11-22T{answered}:00Z"),
            json!({"contact_id":c,"agent_id":"a"}),
        ));
        let mut end = json!({"contact_id": c});
        if !resolved.is_null() {
            end["resolved"] = resolved;
        }
        lines.push(ev(
            &format!("{c}e"),
            "contact.ended",
            &format!("2026-11-22T{ended}:00Z"),
            end,
        ));
        let _ = cid;
    }
    let s = run_cfg(&lines, "2026-11-22T10:45:00Z", cfg);
    let g = queue(&s, "1h", "finance", "email");
    // Window [09:45, 10:45): answers are all before it; c1 resolved at 09:50 within 1 h.
    assert_eq!((g.answered, g.answered_within), (0, 1));
    let g = queue(&s, "today", "finance", "email");
    assert_eq!(
        (g.answered, g.answered_within),
        (4, 2),
        "c1 and c4 met; c2 too slow; c3 unresolved"
    );
    close(g.service_level, 2.0 / 4.0);
}

#[test]
fn fcr_repeats_and_overrides() {
    let offered = |id: &str, ts: &str, extra: Value| {
        let mut e = json!({"contact_id": id, "channel": "chat", "queue": "help"});
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        ev(id, "contact.offered", ts, e)
    };
    let lines = vec![
        offered(
            "c2",
            "2026-11-22T09:30:00Z",
            json!({"customer_id":"k1","topic":"billing"}),
        ),
        offered(
            "c1",
            "2026-11-22T09:00:00Z",
            json!({"customer_id":"k1","topic":"billing"}),
        ),
        offered(
            "c3",
            "2026-11-22T09:40:00Z",
            json!({"customer_id":"k1","topic":"delivery"}),
        ),
        offered("c4", "2026-11-22T09:41:00Z", json!({"repeat":true})),
        offered("c5", "2026-11-22T09:42:00Z", json!({})),
        offered(
            "c6",
            "2026-11-22T09:45:00Z",
            json!({"customer_id":"k1","topic":"billing","repeat":false}),
        ),
        offered("c7", "2026-11-22T09:46:00Z", json!({"customer_id":"k2"})),
        offered("c8", "2026-11-22T09:47:00Z", json!({"customer_id":"k2"})),
    ];
    let s = run(&lines, "2026-11-22T09:50:00Z");
    let g = queue(&s, "1h", "help", "chat");
    // Judged: c1 c2 c3 c4 c6 c7 c8 (c5 has neither customer nor repeat).
    // Repeats: c2 (c1 earlier, arriving late), c4 (override), c8 (c7, both without topic).
    assert_eq!((g.fcr_contacts, g.repeat_contacts), (7, 3));
    close(g.fcr, 4.0 / 7.0);
    close(channel(&s, "1h", "chat").fcr, 4.0 / 7.0);
}

#[test]
fn csat_and_nps() {
    let mut lines = Vec::new();
    for (i, score) in [10, 9, 8, 6, 0, 10].into_iter().enumerate() {
        lines.push(ev(
            &format!("n{i}"),
            "survey.nps",
            "2026-11-22T09:01:00Z",
            json!({"score": score, "channel":"email","queue":"q"}),
        ));
    }
    for (i, (score, scale)) in [(1, "thumbs"), (0, "thumbs"), (5, "five"), (4, "five"), (3, "five")]
        .into_iter()
        .enumerate()
    {
        lines.push(ev(
            &format!("c{i}"),
            "survey.csat",
            "2026-11-22T09:02:00Z",
            json!({"score": score, "scale": scale, "channel":"email","queue":"q"}),
        ));
    }
    lines.push(ev("r1", "survey.nps", "2026-11-22T09:03:00Z", json!({"score": 3})));
    let s = run(&lines, "2026-11-22T09:05:00Z");
    let g = queue(&s, "5m", "q", "email");
    assert_eq!(g.nps_responses, 6);
    close(g.nps, 100.0 * (3.0 - 2.0) / 6.0);
    assert_eq!(g.csat_responses, 5);
    close(g.csat, 3.0 / 5.0);
    assert_eq!(
        g.nps_relationship_responses, 6,
        "explicit-field surveys without contact are relationship answers"
    );
    let all = channel(&s, "5m", "all");
    assert_eq!(all.nps_responses, 7, "a survey with no channel counts in all only");
    close(all.nps, 100.0 * (3.0 - 3.0) / 7.0);
    assert_eq!(channel(&s, "5m", "email").nps_responses, 6);
}

#[test]
fn live_waiting_oldest_and_at_risk() {
    let lines = vec![
        ev(
            "1",
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":"c1","channel":"voice","queue":"q"}),
        ),
        ev(
            "2",
            "contact.offered",
            "2026-11-22T09:00:30Z",
            json!({"contact_id":"c2","channel":"voice","queue":"q"}),
        ),
        ev(
            "3",
            "contact.offered",
            "2026-11-22T09:00:31Z",
            json!({"contact_id":"c3","channel":"voice","queue":"q"}),
        ),
        ev(
            "4",
            "contact.answered",
            "2026-11-22T09:00:40Z",
            json!({"contact_id":"c3","agent_id":"a"}),
        ),
    ];
    let s = run(&lines, "2026-11-22T09:00:50Z");
    for w in ["5m", "15m", "1h", "today"] {
        let g = queue(&s, w, "q", "voice");
        assert_eq!(g.waiting, 2);
        close(Some(g.oldest_wait_seconds), 50.0);
        assert_eq!(g.at_risk, 1, "50 s > 20 s; 20 s is not more than 20 s");
    }
}

#[test]
fn today_follows_the_local_day_across_dst() {
    let cfg = EngineConfig::from_toml("[windows]\ntime_zone = \"Europe/Berlin\"\n").unwrap();
    let lines = [
        // 23:59 local on 28 March (UTC+1): yesterday.
        ev(
            "1",
            "contact.offered",
            "2026-03-28T22:59:00Z",
            json!({"contact_id":"c1","channel":"voice","queue":"q"}),
        ),
        // 00:30 local on 29 March: today.
        ev(
            "2",
            "contact.offered",
            "2026-03-28T23:30:00Z",
            json!({"contact_id":"c2","channel":"voice","queue":"q"}),
        ),
        // 03:30 local, after the spring-forward gap (UTC+2).
        ev(
            "3",
            "contact.offered",
            "2026-03-29T01:30:00Z",
            json!({"contact_id":"c3","channel":"voice","queue":"q"}),
        ),
    ];
    let (s, _) = replay_text(
        &lines.join("\n"),
        Arc::new(cfg),
        Some(t("2026-03-29T12:00:00+02:00")),
        t(WALL),
    );
    let w = s.window("today").unwrap();
    assert_eq!(w.from, t("2026-03-28T23:00:00Z"));
    assert_eq!(w.to, t("2026-03-29T10:00:00Z"));
    assert_eq!(channel(&s, "today", "voice").offered, 2);
}

#[test]
fn agents_aht_vs_team_outliers_and_occupancy() {
    let mut lines = Vec::new();
    let base = t("2026-11-22T09:00:00Z");
    let at = |ms: i64| jiff::Timestamp::from_millisecond(base + ms).unwrap().to_string();
    for (agent, handle_s) in [("a1", 300), ("a2", 100), ("a3", 100)] {
        lines.push(ev(
            &format!("{agent}s"),
            "agent.state",
            &at(0),
            json!({"agent_id": agent, "state":"available","team":"t1"}),
        ));
        for i in 0..5 {
            let cid = format!("{agent}c{i}");
            let start = i * 600_000;
            let c = json!({"contact_id": cid});
            lines.push(ev(
                &format!("{cid}o"),
                "contact.offered",
                &at(start),
                json!({"contact_id": cid, "channel":"voice","queue":"q"}),
            ));
            lines.push(ev(
                &format!("{cid}a"),
                "contact.answered",
                &at(start),
                json!({"contact_id": cid, "agent_id": agent}),
            ));
            lines.push(ev(
                &format!("{cid}e"),
                "contact.ended",
                &at(start + handle_s * 1000),
                c.clone(),
            ));
            lines.push(ev(
                &format!("{cid}w"),
                "contact.wrapped_up",
                &at(start + handle_s * 1000),
                c,
            ));
        }
    }
    // a1: available 0..10 min, busy 10..40, acw 40..50, away 50..60.
    lines.push(ev(
        "s1",
        "agent.state",
        &at(600_000),
        json!({"agent_id":"a1","state":"busy"}),
    ));
    lines.push(ev(
        "s2",
        "agent.state",
        &at(2_400_000),
        json!({"agent_id":"a1","state":"acw"}),
    ));
    lines.push(ev(
        "s3",
        "agent.state",
        &at(3_000_000),
        json!({"agent_id":"a1","state":"away"}),
    ));
    let s = run(&lines, "2026-11-22T10:00:00Z");
    let agents = &s.window("1h").unwrap().agents;
    let a = |n: &str| agents.iter().find(|a| &*a.agent == n).unwrap();
    assert_eq!(a("a1").handled, 5);
    close(a("a1").aht_vs_team, 300.0 / 100.0);
    assert!(a("a1").outlier);
    close(a("a2").aht_vs_team, 100.0 / 200.0);
    assert!(!a("a2").outlier);
    close(a("a1").occupancy, (30.0 + 10.0) / (10.0 + 30.0 + 10.0));
    close(a("a2").occupancy, 0.0);
    assert_eq!(a("a1").state, Some(ccpulse_core::event::AgentState::Away));
    close(a("a1").state_seconds, 600.0);
    let teams = &s.agent_states.teams;
    assert_eq!(teams.len(), 1);
    assert_eq!((teams[0].available, teams[0].away), (2, 1));
}

#[test]
fn breach_needs_min_contacts() {
    let mut lines = Vec::new();
    for i in 0..10 {
        let cid = format!("c{i}");
        lines.push(ev(
            &format!("{cid}o"),
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":cid,"channel":"voice","queue":"q"}),
        ));
        lines.push(ev(
            &format!("{cid}a"),
            "contact.answered",
            "2026-11-22T09:01:00Z",
            json!({"contact_id":cid,"agent_id":"a"}),
        ));
    }
    let nine = run(&lines[..18], "2026-11-22T09:05:00Z");
    assert!(!queue(&nine, "5m", "q", "voice").breached);
    assert!(nine.breaches.is_empty());
    let ten = run(&lines, "2026-11-22T09:05:00Z");
    assert!(queue(&ten, "5m", "q", "voice").breached);
    assert!(ten
        .breaches
        .iter()
        .any(|b| b.policy == "voice-default" && b.queue.as_deref() == Some("q") && b.window == "5m"));
}

#[test]
fn follow_ups_without_an_offer_are_attributed_by_their_fields() {
    let lines = vec![
        ev(
            "1",
            "contact.answered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":"c1","agent_id":"a","channel":"chat","queue":"q"}),
        ),
        ev(
            "2",
            "contact.abandoned",
            "2026-11-22T09:00:10Z",
            json!({"contact_id":"c2","channel":"chat","queue":"q"}),
        ),
        ev(
            "3",
            "contact.hold_started",
            "2026-11-22T09:00:10Z",
            json!({"contact_id":"c3"}),
        ),
    ];
    let s = run(&lines, "2026-11-22T09:05:00Z");
    let g = queue(&s, "5m", "q", "chat");
    assert_eq!((g.offered, g.answered, g.abandoned), (0, 1, 1));
    assert_eq!(g.asa_seconds, None, "the wait is unknown");
    assert_eq!(g.answered_within, 0);
}

#[test]
fn serialises_to_the_api_shape() {
    let s = run(&example(), "2026-11-22T09:10:00Z");
    let v = serde_json::to_value(s.window("15m").unwrap().queues_response(&s.coverage, None)).unwrap();
    assert_eq!(v["window"], "15m");
    assert_eq!(
        v["coverage"],
        serde_json::json!({"partitions": 1, "covered": 1, "stale": [], "data_age_seconds": 0.0}),
        "a replayed file covers itself whole"
    );
    assert_eq!(v["from"], "2026-11-22T08:55:00Z");
    assert_eq!(v["to"], "2026-11-22T09:10:00Z");
    let g = &v["groups"][0];
    for field in [
        "queue",
        "channel",
        "offered",
        "answered",
        "abandoned",
        "flowed_out",
        "short_abandoned",
        "transferred_out",
        "answered_within",
        "service_level",
        "sla_policy",
        "sla_threshold_seconds",
        "sla_target",
        "breached",
        "answer_rate",
        "abandon_rate",
        "asa_seconds",
        "wait_p50_seconds",
        "wait_p90_seconds",
        "wait_p99_seconds",
        "waiting",
        "oldest_wait_seconds",
        "at_risk",
        "handled",
        "aht_seconds",
        "talk_seconds",
        "hold_seconds",
        "acw_seconds",
        "handle_p50_seconds",
        "handle_p90_seconds",
        "fcr_contacts",
        "repeat_contacts",
        "fcr",
        "csat_responses",
        "csat",
        "nps_responses",
        "nps",
    ] {
        assert!(g.get(field).is_some(), "missing {field}");
    }
    assert_eq!(g["nps"], Value::Null);
    assert_eq!(g["sla_threshold_seconds"], 20.0);
}

#[test]
fn cardinality_cap_folds_the_least_busy_queues_into_other_with_exact_counts() {
    let mut lines = Vec::new();
    for (q, n) in [("big", 5), ("mid", 3), ("small", 1), ("tiny", 1)] {
        for i in 0..n {
            let cid = format!("{q}{i}");
            lines.push(ev(
                &format!("{cid}o"),
                "contact.offered",
                "2026-11-22T09:00:00Z",
                json!({"contact_id":cid,"channel":"voice","queue":q}),
            ));
        }
    }
    let cfg = Arc::new(EngineConfig::default());
    let wall = t(WALL);
    let mut engine = ccpulse_core::Engine::new(cfg.clone());
    for l in &lines {
        engine.apply(&ccpulse_core::parse_event(l.as_bytes(), wall).unwrap());
    }
    let p = engine.partial(t("2026-11-22T09:05:00Z"));
    assert!(p.fold_labels(4, 10).is_none(), "four queues fit a cap of four");
    let (folded, queues, agents) = p.fold_labels(3, 10).unwrap();
    assert_eq!(
        (queues, agents),
        (2, 0),
        "small and tiny folded; big and mid keep their names"
    );
    let snap = Snapshot::build(&folded, &cfg);
    let w = snap.window("15m").unwrap();
    let names: Vec<&str> = w.queues.iter().map(|g| g.queue.as_deref().unwrap()).collect();
    assert_eq!(names, ["_other", "big", "mid"]);
    assert_eq!(w.queues[0].offered, 2);
    assert_eq!(w.queues[0].waiting, 2);
    assert_eq!(channel(&snap, "15m", "all").offered, 10, "totals unchanged");
}

/// Queues that only agents list are labels too (agents by queue and state): an agent
/// listing many queues cannot get past the cap.
#[test]
fn cardinality_cap_folds_queues_that_only_agents_list() {
    let queues: Vec<String> = (0..60).map(|i| format!("aq{i:02}")).collect();
    let lines = [
        ev(
            "s1",
            "agent.state",
            "2026-11-22T09:00:00Z",
            json!({"agent_id":"a1","state":"available","queues":queues}),
        ),
        ev(
            "o1",
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":"c1","channel":"voice","queue":"aq00"}),
        ),
    ];
    let cfg = Arc::new(EngineConfig::default());
    let mut engine = ccpulse_core::Engine::new(cfg.clone());
    for l in &lines {
        engine.apply(&ccpulse_core::parse_event(l.as_bytes(), t(WALL)).unwrap());
    }
    let p = engine.partial(t("2026-11-22T09:05:00Z"));
    let (folded, queues_folded, _) = p.fold_labels(10, 10).unwrap();
    assert_eq!(queues_folded, 51, "9 keep their names, 51 fold into _other");
    let snap = Snapshot::build(&folded, &cfg);
    let listed = &snap.agent_states.queues;
    assert_eq!(listed.len(), 10, "{listed:?}");
    assert!(listed.iter().any(|c| &*c.name == "aq00"), "the busiest keeps its name");
    let other = listed.iter().find(|c| &*c.name == "_other").unwrap();
    assert_eq!(other.available, 1, "the agent counts once in _other");
}

#[test]
fn an_answer_later_than_the_lateness_still_counts_in_the_windows_that_hold_it() {
    let c = json!({"contact_id":"c1"});
    let mut lines = vec![
        ev(
            "1",
            "contact.offered",
            "2026-11-22T09:00:00Z",
            json!({"contact_id":"c1","channel":"voice","queue":"q"}),
        ),
        ev("3", "contact.ended", "2026-11-22T09:03:00Z", c.clone()),
        ev("4", "contact.wrapped_up", "2026-11-22T09:03:30Z", c),
    ];
    // Other traffic moves event time 10 minutes on before the answer arrives.
    lines.push(ev(
        "x",
        "contact.offered",
        "2026-11-22T09:13:00Z",
        json!({"contact_id":"c2","channel":"voice","queue":"q"}),
    ));
    lines.push(ev(
        "2",
        "contact.answered",
        "2026-11-22T09:00:10Z",
        json!({"contact_id":"c1","agent_id":"a"}),
    ));
    let s = run(&lines, "2026-11-22T09:14:00Z");
    let g = queue(&s, "15m", "q", "voice");
    assert_eq!((g.answered, g.handled), (1, 1), "the late answer changes c1's figures");
    close(g.asa_seconds, 10.0);
    close(g.aht_seconds, 200.0);
}

/// Replays `lines` with `CALENDARS` as of `as_of`, the wall clock there too.
fn at(lines: &[String], as_of: &str, cfg: EngineConfig) -> Snapshot {
    let (snap, invalid) = replay_text(&lines.join("\n"), Arc::new(cfg), Some(t(as_of)), t(as_of));
    assert!(invalid.is_empty(), "{invalid:?}");
    snap
}

/// Business hours in `Europe/Amsterdam`: `office` Monday to Friday 09:00–17:00, closed on
/// Christmas Day, 09:00–12:00 on Christmas Eve; `night` Sundays 01:00–05:00 local.
const CALENDARS: &str = r#"
[windows]
sliding = ["1h", "8d"]
slice = "1m"
time_zone = "Europe/Amsterdam"

[[calendars]]
name = "office"
time_zone = "Europe/Amsterdam"
monday = ["09:00-17:00"]
tuesday = ["09:00-17:00"]
wednesday = ["09:00-17:00"]
thursday = ["09:00-17:00"]
friday = ["09:00-17:00"]
closed = ["2026-12-25"]
[[calendars.special]]
date = "2026-12-24"
hours = ["09:00-12:00"]

[[calendars]]
name = "night"
time_zone = "Europe/Amsterdam"
sunday = ["01:00-05:00"]

[[sla.policies]]
name = "support-email"
queue = "support"
channel = "email"
threshold = "1h"
target = 0.8
calendar = "office"

[[sla.policies]]
name = "night-email"
queue = "night"
channel = "email"
threshold = "4h30m"
target = 0.8
calendar = "night"
"#;

/// `(contact, queue, offered, answered)`: offers and answers at UTC instants, in time
/// order.
fn emails(list: &[(&str, &str, &str, Option<&str>)]) -> Vec<String> {
    let mut lines: Vec<(i64, String)> = Vec::new();
    for (c, q, offered, answered) in list {
        lines.push((
            t(offered),
            ev(
                &format!("{c}o"),
                "contact.offered",
                offered,
                json!({"contact_id":c,"channel":"email","queue":q}),
            ),
        ));
        if let Some(a) = answered {
            let line = ev(
                &format!("{c}a"),
                "contact.answered",
                a,
                json!({"contact_id":c,"agent_id":"a"}),
            );
            lines.push((t(a), line));
        }
    }
    lines.sort();
    lines.into_iter().map(|(_, l)| l).collect()
}

#[test]
fn business_hours_count_open_time_only() {
    let cfg = || EngineConfig::from_toml(CALENDARS).unwrap();
    let lines = emails(&[
        // Mon 23:00 → Tue 09:10 local: closed until 09:00, so 10 min.
        ("e1", "support", "2026-11-23T22:00:00Z", Some("2026-11-24T08:10:00Z")),
        // Tue 16:30 → Wed 09:35 local: 30 + 35 min = 65 min, over the hour.
        ("e2", "support", "2026-11-24T15:30:00Z", Some("2026-11-25T08:35:00Z")),
        // Tue 16:50 local, still waiting.
        ("e3", "support", "2026-11-24T15:50:00Z", None),
    ]);
    // Wed 09:40 local.
    let s = at(&lines, "2026-11-25T08:40:00Z", cfg());
    let g = queue(&s, "8d", "support", "email");
    assert_eq!((g.answered, g.answered_within), (2, 1));
    close(g.service_level, 0.5);
    close(g.asa_seconds, (600.0 + 3900.0) / 2.0);
    assert_eq!(g.waiting, 1);
    close(Some(g.oldest_wait_seconds), 3000.0); // 10 min Tuesday + 40 min Wednesday
    assert_eq!(
        g.at_risk, 0,
        "50 open minutes are within the hour (16 h 50 min of wall time)"
    );
    assert!(g.open);

    // Saturday noon: closed; e3 has waited 10 min + three 8-hour days.
    let s = at(&lines, "2026-11-28T11:00:00Z", cfg());
    let g = queue(&s, "8d", "support", "email");
    assert!(!g.open, "closed on Saturday");
    close(Some(g.oldest_wait_seconds), 600.0 + 3.0 * 8.0 * 3600.0);
    assert_eq!(g.at_risk, 1);
}

#[test]
fn business_hours_skip_a_holiday_and_keep_special_hours() {
    let lines = emails(&[
        // Thu 24 Dec 11:30 → Mon 28 Dec 09:20 local: 30 min on Christmas Eve (open until
        // 12:00), nothing on the 25th (closed) or the weekend, 20 min on Monday.
        ("h1", "support", "2026-12-24T10:30:00Z", Some("2026-12-28T08:20:00Z")),
        // Thu 24 Dec 08:00 → Mon 09:50: 3 h on Christmas Eve + 50 min.
        ("h2", "support", "2026-12-24T07:00:00Z", Some("2026-12-28T08:50:00Z")),
    ]);
    let s = at(
        &lines,
        "2026-12-28T09:00:00Z",
        EngineConfig::from_toml(CALENDARS).unwrap(),
    );
    let g = queue(&s, "8d", "support", "email");
    assert_eq!((g.answered, g.answered_within), (2, 1));
    close(g.asa_seconds, (3000.0 + 13800.0) / 2.0);
}

#[test]
fn business_hours_across_the_autumn_dst_change() {
    // Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET, so 01:00–05:00 local is five
    // hours long.
    let lines = emails(&[
        // 00:30 CEST → 06:00 CET: open 01:00 CEST to 05:00 CET, 5 h > 4 h 30 min.
        ("d1", "night", "2026-10-24T22:30:00Z", Some("2026-10-25T05:00:00Z")),
        // 02:00 CET (the second 02:00) → 05:30 CET: open until 05:00, 3 h.
        ("d2", "night", "2026-10-25T01:00:00Z", Some("2026-10-25T04:30:00Z")),
    ]);
    let s = at(
        &lines,
        "2026-10-25T11:00:00Z",
        EngineConfig::from_toml(CALENDARS).unwrap(),
    );
    let g = queue(&s, "8d", "night", "email");
    assert_eq!((g.answered, g.answered_within), (2, 1));
    close(g.asa_seconds, (5.0 * 3600.0 + 3.0 * 3600.0) / 2.0);
    assert!(!g.open, "closed at noon");
}

#[test]
fn a_calendar_must_exist_and_hours_must_parse() {
    let unknown = "[[sla.policies]]\nname = \"p\"\nthreshold = \"1h\"\ntarget = 0.8\ncalendar = \"nope\"\n";
    let e = EngineConfig::from_toml(unknown).unwrap_err().to_string();
    assert!(
        e.contains("line 5") && e.contains("calendar") && e.contains("nope"),
        "{e}"
    );
    let bad = "[[calendars]]\nname = \"c\"\ntime_zone = \"UTC\"\nmonday = [\"17:00-09:00\"]\n";
    let e = EngineConfig::from_toml(bad).unwrap_err().to_string();
    assert!(e.contains("line 4") && e.contains("monday"), "{e}");
    let zone = "[[calendars]]\nname = \"c\"\ntime_zone = \"Mars/Olympus\"\n";
    let e = EngineConfig::from_toml(zone).unwrap_err().to_string();
    assert!(e.contains("line 3") && e.contains("time_zone"), "{e}");
}
