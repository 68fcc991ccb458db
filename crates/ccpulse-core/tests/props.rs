//! Property tests: the engine against a naive model that keeps every contact and
//! recomputes, and arrival order (within the lateness bound, with duplicates) not
//! changing any figure, survey figures included.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ccpulse_core::interval::Size;
use ccpulse_core::replay::{replay_text, Replay};
use ccpulse_core::snapshot::{GroupRow, Snapshot};
use ccpulse_core::time::{format_rfc3339, parse_rfc3339, MINUTE, SECOND};
use ccpulse_core::EngineConfig;
use proptest::prelude::*;
use serde_json::json;

const QUEUES: [&str; 2] = ["q1", "q2"];
const CHANNELS: [&str; 3] = ["voice", "chat", "email"];

fn base() -> i64 {
    parse_rfc3339("2026-11-22T08:00:00Z").unwrap()
}

/// One leg of a scripted contact, as ground truth.
#[derive(Clone, Debug)]
struct Leg {
    queue: usize,
    offered: i64,
    end: LegEnd,
}

#[derive(Clone, Debug)]
enum LegEnd {
    Waiting,
    Abandoned(i64),
    FlowedOut(i64),
    /// Transferred before an answer, at this time.
    TransferredUnanswered(i64),
    Answered {
        at: i64,
        agent: usize,
        hold: Option<(i64, i64)>,
        then: AfterAnswer,
    },
}

#[derive(Clone, Debug)]
enum AfterAnswer {
    Talking,
    Transferred(i64),
    Ended { at: i64, wrapped: Option<i64> },
}

#[derive(Clone, Debug)]
struct Script {
    id: usize,
    channel: usize,
    legs: Vec<Leg>,
    /// Draws for its survey events (see [`surveys`]).
    survey_draws: Vec<u32>,
}

/// Builds a contact from random draws; times strictly increase within a contact.
fn script(id: usize, channel: usize, start: i64, draws: &[u32]) -> Script {
    let mut d = draws.iter().copied().cycle();
    let mut next = move |m: u32| d.next().unwrap() % m;
    let mut legs = Vec::new();
    let mut queue = next(2) as usize;
    let mut t = start;
    for leg_no in 0..2 {
        let offered = t;
        let wait = 1 + i64::from(next(90_000));
        let kind = next(10);
        let end = match kind {
            0 => LegEnd::Waiting,
            1 => LegEnd::Abandoned(offered + wait),
            2 => LegEnd::FlowedOut(offered + wait),
            3 if leg_no == 0 => LegEnd::TransferredUnanswered(offered + wait),
            _ => {
                let at = offered + wait;
                let hold = (next(3) == 0).then(|| {
                    let s = at + 1 + i64::from(next(60_000));
                    (s, s + 1 + i64::from(next(60_000)))
                });
                let after = hold.map_or(at, |(_, e)| e) + 1 + i64::from(next(300_000));
                let then = match next(6) {
                    0 => AfterAnswer::Talking,
                    1 if leg_no == 0 => AfterAnswer::Transferred(after),
                    2 => AfterAnswer::Ended {
                        at: after,
                        wrapped: None,
                    },
                    _ => AfterAnswer::Ended {
                        at: after,
                        wrapped: Some(after + 1 + i64::from(next(90_000))),
                    },
                };
                LegEnd::Answered {
                    at,
                    agent: next(4) as usize,
                    hold,
                    then,
                }
            }
        };
        let transfer_at = match &end {
            LegEnd::TransferredUnanswered(x) => Some(*x),
            LegEnd::Answered {
                then: AfterAnswer::Transferred(x),
                ..
            } => Some(*x),
            _ => None,
        };
        legs.push(Leg { queue, offered, end });
        match transfer_at {
            Some(x) => {
                t = x;
                queue = 1 - queue;
            }
            None => break,
        }
    }
    Script {
        id,
        channel,
        legs,
        survey_draws: Vec::new(),
    }
}

/// The events of a script, with ids unique per contact.
fn events(s: &Script) -> Vec<(i64, String)> {
    let cid = format!("c{}", s.id);
    let mut out = Vec::new();
    let mut push = |ts: i64, kind: &str, extra: serde_json::Value| out.push(line(&cid, out.len() + 1, ts, kind, extra));
    for (i, leg) in s.legs.iter().enumerate() {
        if i == 0 {
            push(
                leg.offered,
                "contact.offered",
                json!({"channel": CHANNELS[s.channel], "queue": QUEUES[leg.queue]}),
            );
        }
        let to_queue = QUEUES[1 - leg.queue];
        match &leg.end {
            LegEnd::Waiting => {}
            LegEnd::Abandoned(at) => push(*at, "contact.abandoned", json!({})),
            LegEnd::FlowedOut(at) => push(*at, "contact.flowed_out", json!({"reason": "timeout"})),
            LegEnd::TransferredUnanswered(at) => push(*at, "contact.transferred", json!({"to_queue": to_queue})),
            LegEnd::Answered { at, agent, hold, then } => {
                push(*at, "contact.answered", json!({"agent_id": format!("a{agent}")}));
                if let Some((hs, he)) = hold {
                    push(*hs, "contact.hold_started", json!({}));
                    push(*he, "contact.hold_ended", json!({}));
                }
                match then {
                    AfterAnswer::Talking => {}
                    AfterAnswer::Transferred(x) => push(*x, "contact.transferred", json!({"to_queue": to_queue})),
                    AfterAnswer::Ended { at: e, wrapped } => {
                        push(*e, "contact.ended", json!({}));
                        if let Some(w) = wrapped {
                            push(*w, "contact.wrapped_up", json!({}));
                        }
                    }
                }
            }
        }
    }
    let last = out.iter().map(|(ts, _)| *ts).max().unwrap_or(s.legs[0].offered);
    for (ts, kind, extra) in surveys(last, &s.survey_draws) {
        out.push(line(&cid, out.len() + 1, ts, kind, extra));
    }
    out
}

/// Event `n` of contact `cid`: its time and JSON line.
fn line(cid: &str, n: usize, ts: i64, kind: &str, extra: serde_json::Value) -> (i64, String) {
    let mut v = json!({"id": format!("{cid}-{n}"), "type": kind, "ts": format_rfc3339(ts), "contact_id": cid});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    (ts, v.to_string())
}

/// Up to three survey events about a contact whose last other event is at `last`: sent
/// or answered, CSAT or NPS, some naming their agent or queue, from 2 minutes before
/// `last` (before its end, so not its last event even in order) to 10 minutes after.
/// The naive model leaves them out: the arrival-order test compares their figures.
fn surveys(last: i64, draws: &[u32]) -> Vec<(i64, &'static str, serde_json::Value)> {
    let Some((&count, draws)) = draws.split_first() else {
        return Vec::new();
    };
    draws
        .iter()
        .take(count as usize % 4)
        .map(|&d| {
            let ts = last - 120 * SECOND + i64::from(d % 720_000);
            let (kind, mut extra) = match (d >> 20) % 4 {
                0 => ("survey.sent", json!({"kind": "csat"})),
                1 => ("survey.sent", json!({"kind": "nps"})),
                2 => ("survey.csat", json!({"score": 1 + (d >> 22) % 5, "scale": "five"})),
                _ => ("survey.nps", json!({"score": (d >> 22) % 11})),
            };
            if (d >> 26) % 5 == 0 {
                extra["agent_id"] = json!(format!("a{}", (d >> 28) % 4));
            }
            if (d >> 29) % 4 == 0 {
                extra["queue"] = json!(QUEUES[(d >> 31) as usize]);
            }
            (ts, kind, extra)
        })
        .collect()
}

/// The naive model's figures of one (queue, channel) over `[from, to)`, straight from
/// the scripts.
#[derive(Debug, Default, PartialEq)]
struct Naive {
    offered: i64,
    answered: i64,
    abandoned: i64,
    flowed_out: i64,
    short_abandoned: i64,
    transferred_out: i64,
    met: i64,
    wait_sum: i64,
    waits: Vec<i64>,
    handled: i64,
    handle_sum: i64,
    talk_sum: i64,
    hold_sum: i64,
    acw_sum: i64,
    waiting: i64,
    at_risk: i64,
}

fn threshold(channel: usize) -> i64 {
    [20 * SECOND, 60 * SECOND, 3_600 * SECOND][channel]
}

fn naive(scripts: &[Script], queue: usize, channel: usize, from: i64, to: i64, now: i64) -> Naive {
    let mut n = Naive::default();
    let inside = |t: i64| from <= t && t < to;
    for s in scripts.iter().filter(|s| s.channel == channel) {
        for leg in s.legs.iter().filter(|l| l.queue == queue && l.offered < now) {
            n.offered += i64::from(inside(leg.offered));
            let mut handled = |at: i64, talk: i64, hold: i64, acw: i64| {
                if inside(at) {
                    n.handled += 1;
                    n.talk_sum += talk;
                    n.hold_sum += hold;
                    n.acw_sum += acw;
                    n.handle_sum += talk + hold + acw;
                }
            };
            match &leg.end {
                LegEnd::Waiting => {
                    n.waiting += 1;
                    n.at_risk += i64::from(now - leg.offered > threshold(channel));
                }
                LegEnd::Abandoned(at) | LegEnd::FlowedOut(at) | LegEnd::TransferredUnanswered(at) if *at >= now => {
                    n.waiting += 1;
                    n.at_risk += i64::from(now - leg.offered > threshold(channel));
                }
                LegEnd::Abandoned(at) => {
                    if inside(*at) {
                        n.abandoned += 1;
                        n.short_abandoned += i64::from(at - leg.offered < 5 * SECOND);
                    }
                }
                LegEnd::FlowedOut(at) => n.flowed_out += i64::from(inside(*at)),
                LegEnd::TransferredUnanswered(at) => n.transferred_out += i64::from(inside(*at)),
                LegEnd::Answered { at, .. } if *at >= now => {
                    n.waiting += 1;
                    n.at_risk += i64::from(now - leg.offered > threshold(channel));
                }
                LegEnd::Answered { at, hold, then, .. } => {
                    let wait = at - leg.offered;
                    if inside(*at) {
                        n.answered += 1;
                        n.wait_sum += wait;
                        n.waits.push(wait);
                        n.met += i64::from(wait <= threshold(channel));
                    }
                    // Hold counts once both of its ends have happened before the
                    // event that closes the leg.
                    let hold_len = |until: i64| hold.map_or(0, |(s, e)| if e < until { e - s } else { 0 });
                    match then {
                        AfterAnswer::Talking => {}
                        AfterAnswer::Transferred(x) if *x < now => {
                            n.transferred_out += i64::from(inside(*x));
                            let h = hold_len(*x);
                            handled(*x, x - at - h, h, 0);
                        }
                        AfterAnswer::Transferred(_) => {}
                        AfterAnswer::Ended {
                            at: e,
                            wrapped: Some(w),
                        } if *w < now => {
                            let h = hold_len(*e);
                            handled(*w, e - at - h, h, w - e);
                        }
                        AfterAnswer::Ended { .. } => {}
                    }
                }
            }
        }
    }
    n
}

fn nearest_rank(sorted: &[i64], q: f64) -> i64 {
    let rank = ((q * sorted.len() as f64) - 1e-9).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

fn check(snap: &Snapshot, scripts: &[Script], now: i64) -> Result<(), TestCaseError> {
    for w in &snap.windows {
        for (qi, q) in QUEUES.iter().enumerate() {
            for (ci, ch) in CHANNELS.iter().enumerate() {
                let want = naive(scripts, qi, ci, w.from, w.to, now);
                let got = w
                    .queues
                    .iter()
                    .find(|g| g.queue.as_deref() == Some(*q) && g.channel == *ch);
                let Some(g) = got else {
                    let empty = Naive {
                        waits: Vec::new(),
                        ..Naive::default()
                    };
                    prop_assert_eq!(want, empty, "no group {}/{} in {}", q, ch, w.window);
                    continue;
                };
                compare(g, &want, &w.window)?;
            }
        }
    }
    Ok(())
}

fn compare(g: &GroupRow, n: &Naive, window: &str) -> Result<(), TestCaseError> {
    let ctx = format!("{}/{} {}", g.queue.as_deref().unwrap_or("-"), g.channel, window);
    prop_assert_eq!(
        (
            g.offered,
            g.answered,
            g.abandoned,
            g.flowed_out,
            g.short_abandoned,
            g.transferred_out,
            g.answered_within
        ),
        (
            n.offered,
            n.answered,
            n.abandoned,
            n.flowed_out,
            n.short_abandoned,
            n.transferred_out,
            n.met
        ),
        "{}",
        ctx
    );
    prop_assert_eq!(
        (g.handled, g.waiting, g.at_risk),
        (n.handled, n.waiting, n.at_risk),
        "{}",
        ctx
    );
    let mean = |sum: i64, count: i64| (count > 0).then(|| sum as f64 / count as f64 / 1000.0);
    let eq = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    };
    prop_assert!(eq(g.asa_seconds, mean(n.wait_sum, n.answered)), "asa {}", ctx);
    prop_assert!(eq(g.aht_seconds, mean(n.handle_sum, n.handled)), "aht {}", ctx);
    prop_assert!(eq(g.talk_seconds, mean(n.talk_sum, n.handled)), "talk {}", ctx);
    prop_assert!(eq(g.hold_seconds, mean(n.hold_sum, n.handled)), "hold {}", ctx);
    prop_assert!(eq(g.acw_seconds, mean(n.acw_sum, n.handled)), "acw {}", ctx);
    let den = n.answered + n.abandoned;
    prop_assert!(
        eq(g.service_level, (den > 0).then(|| n.met as f64 / den as f64)),
        "sl {}",
        ctx
    );
    let mut waits = n.waits.clone();
    waits.sort_unstable();
    for (q, got) in [
        (0.5, g.wait_p50_seconds),
        (0.9, g.wait_p90_seconds),
        (0.99, g.wait_p99_seconds),
    ] {
        match got {
            None => prop_assert!(waits.is_empty(), "p{} {}", q, ctx),
            Some(v) => {
                let exact = nearest_rank(&waits, q) as f64 / 1000.0;
                prop_assert!(
                    v >= exact && v <= exact * 1.001 + 1e-9,
                    "p{} {} got {} want {}",
                    q,
                    ctx,
                    v,
                    exact
                );
            }
        }
    }
    Ok(())
}

fn scripts_strategy() -> impl Strategy<Value = Vec<Script>> {
    prop::collection::vec(
        (
            0usize..3,
            0i64..(2 * 3_600_000),
            prop::collection::vec(any::<u32>(), 16),
            prop::collection::vec(any::<u32>(), 4),
        ),
        1..40,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (ch, start, draws, survey_draws))| Script {
                survey_draws,
                ..script(i, ch, base() + start, &draws)
            })
            .collect()
    })
}

fn stream(scripts: &[Script]) -> Vec<(i64, String)> {
    let mut all: Vec<(i64, String)> = scripts.iter().flat_map(events).collect();
    all.sort_by_key(|(ts, _)| *ts);
    all
}

fn replay(lines: &[String], now: i64) -> Snapshot {
    let wall = parse_rfc3339("2026-11-23T00:00:00Z").unwrap();
    let (snap, invalid) = replay_text(&lines.join("\n"), Arc::new(EngineConfig::default()), Some(now), wall);
    assert!(invalid.is_empty(), "{invalid:?}");
    snap
}

/// Every interval of every size of the day at `now` against the naive model over its
/// span (without the live figures, which intervals do not have).
fn check_intervals(lines: &[String], scripts: &[Script], now: i64) -> Result<(), TestCaseError> {
    let wall = parse_rfc3339("2026-11-23T00:00:00Z").unwrap();
    let mut r = Replay::new(Arc::new(EngineConfig::default()), Some(now), wall);
    for (i, l) in lines.iter().enumerate() {
        r.line(i + 1, l);
    }
    prop_assert!(r.invalid.is_empty());
    for size in Size::ALL {
        let report = r.intervals(size, None).unwrap();
        let day_start = parse_rfc3339("2026-11-22T00:00:00Z").unwrap();
        let slices = (now - day_start) / (5 * SECOND);
        let expected = (slices * 5 * SECOND + size.millis() - 1) / size.millis();
        prop_assert_eq!(report.intervals.len() as i64, expected, "{} intervals up to now", size);
        for i in &report.intervals {
            for (qi, q) in QUEUES.iter().enumerate() {
                for (ci, ch) in CHANNELS.iter().enumerate() {
                    let mut want = naive(scripts, qi, ci, i.from_ms, i.to_ms, now);
                    (want.waiting, want.at_risk) = (0, 0);
                    let got = i
                        .groups
                        .iter()
                        .find(|g| g.0.queue.as_deref() == Some(*q) && g.0.channel == *ch);
                    match got {
                        Some(g) => compare(&g.0, &want, &format!("{size} interval {}", i.from))?,
                        None => prop_assert_eq!(want, Naive::default(), "no group {}/{} in {}", q, ch, i.from),
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every interval of every size equals the naive model over its span, the current
    /// one ending at the rounded "now".
    #[test]
    fn intervals_equal_the_naive_model(scripts in scripts_strategy(), now_offset in 0i64..(3 * 3_600_000)) {
        let now = base() + now_offset;
        let lines: Vec<String> = stream(&scripts).into_iter().map(|(_, l)| l).collect();
        check_intervals(&lines, &scripts, now)?;
    }

    /// The sliding windows (and `today`) equal the naive model at a random "now".
    #[test]
    fn windows_equal_the_naive_model(scripts in scripts_strategy(), now_offset in 0i64..(3 * 3_600_000)) {
        let now = base() + now_offset;
        let lines: Vec<String> = stream(&scripts).into_iter().map(|(_, l)| l).collect();
        let snap = replay(&lines, now);
        check(&snap, &scripts, now)?;
    }

    /// Shuffled within the allowed lateness and with duplicates, the snapshot is the
    /// one of in-order arrival.
    #[test]
    fn arrival_order_and_duplicates_do_not_matter(
        scripts in scripts_strategy(),
        delays in prop::collection::vec(0i64..(5 * MINUTE), 400),
        dups in prop::collection::vec(any::<bool>(), 400),
        now_offset in 0i64..(3 * 3_600_000),
    ) {
        let now = base() + now_offset;
        let ordered = stream(&scripts);
        let in_order: Vec<String> = ordered.iter().map(|(_, l)| l.clone()).collect();
        // Arrival time = event time + a delay within the lateness: no event arrives
        // more than the allowed lateness after a newer one.
        let mut arrivals: Vec<(i64, String)> = Vec::new();
        for (i, (ts, line)) in ordered.iter().enumerate() {
            arrivals.push((ts + delays[i % delays.len()], line.clone()));
            if dups[i % dups.len()] {
                arrivals.push((ts + delays[(i + 7) % delays.len()], line.clone()));
            }
        }
        arrivals.sort_by_key(|(t, _)| *t);
        let shuffled: Vec<String> = arrivals.into_iter().map(|(_, l)| l).collect();
        let a = replay(&in_order, now);
        let b = replay(&shuffled, now);
        prop_assert_eq!(&a.windows, &b.windows);
        // The contacts behind the figures too.
        prop_assert_eq!(&a.listed, &b.listed);
        check(&b, &scripts, now)?;
    }
}
