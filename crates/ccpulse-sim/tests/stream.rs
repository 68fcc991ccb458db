//! The simulator's stream against the event contract, the transport rules, and the engine.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ccpulse_core::event::{Body, Channel};
use ccpulse_core::snapshot::{GroupRow, Snapshot};
use ccpulse_core::{parse_event, Engine, EngineConfig};
use ccpulse_sim::{bulk, contact_topic, Message, SimConfig, Simulator, TOPICS};

const HOUR: i64 = 3_600_000;

/// A simulated hour at the morning peak (10:00-11:00 UTC).
fn peak_hour(seed: u64, invalid_per_thousand: u32) -> (Vec<Message>, i64) {
    let cfg = SimConfig {
        seed,
        invalid_per_thousand,
        start_ms: ccpulse_sim::DEFAULT_START_MS + 2 * HOUR,
        ..SimConfig::default()
    };
    let end = cfg.start_ms + HOUR;
    let mut sim = Simulator::new(cfg);
    (sim.advance_to(end), end)
}

/// Checks every valid message against the contract and the transport rules; returns the
/// number of invalid messages.
fn check_stream(msgs: &[Message], now_wall: i64) -> usize {
    // contact -> (channel, key)
    let mut contacts: HashMap<String, (Channel, String)> = HashMap::new();
    let mut ids = HashSet::new();
    let mut invalid = 0;
    for m in msgs {
        assert!(TOPICS.contains(&m.topic));
        let parsed = parse_event(&m.payload, now_wall);
        if m.invalid {
            assert!(parsed.is_err(), "deliberately invalid but accepted: {}", text(m));
            invalid += 1;
            continue;
        }
        let ev = parsed.unwrap_or_else(|e| panic!("{e}: {}", text(m)));
        assert_eq!(ev.ts, m.ts, "{}", text(m));
        assert!(ids.insert(ev.id.to_string()), "duplicate id {}", ev.id);
        match &ev.body {
            Body::Offered {
                contact_id,
                channel,
                customer_id,
                topic,
                ..
            } => {
                let key = customer_id.as_deref().unwrap_or(contact_id).to_owned();
                assert_eq!(m.key, key, "{}", text(m));
                assert_eq!(m.topic, contact_topic(*channel));
                assert!(topic.is_some());
                let first = contacts.insert(contact_id.to_string(), (*channel, key));
                assert!(first.is_none(), "offered twice: {contact_id}");
            }
            Body::AgentState {
                agent_id, team, queues, ..
            } => {
                assert_eq!(m.topic, "cc.agents");
                assert_eq!(m.key, agent_id.as_ref());
                assert!(team.is_some() && queues.is_some());
            }
            Body::Survey { contact_id, .. } => {
                assert_eq!(m.topic, "cc.surveys");
                match contact_id {
                    Some(c) => assert_eq!(m.key, contacts[c.as_ref()].1, "{}", text(m)),
                    None => assert!(m.key.starts_with('k')),
                }
            }
            _ => {
                let c = ev.contact_id().unwrap();
                let (channel, key) = contacts.get(c).unwrap_or_else(|| panic!("no offer before {}", text(m)));
                assert_eq!(m.topic, contact_topic(*channel), "{}", text(m));
                assert_eq!(&m.key, key, "{}", text(m));
            }
        }
    }
    invalid
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

#[test]
fn every_message_follows_the_contract_and_transport_rules() {
    for seed in [1, 2, 3] {
        let (msgs, end) = peak_hour(seed, 0);
        assert!(msgs.len() > 1000, "{}", msgs.len());
        assert_eq!(check_stream(&msgs, end), 0);
        for t in TOPICS {
            assert!(msgs.iter().any(|m| m.topic == t), "nothing on {t}");
        }
        // Both timestamp forms, and milliseconds in the text form.
        assert!(msgs.iter().any(|m| text(m).contains(r#""ts":17"#)));
        assert!(msgs
            .iter()
            .any(|m| text(m).contains(r#"Z","#) && text(m).contains(r#"."#)));
    }
}

#[test]
fn same_seed_same_stream_other_seed_other_stream() {
    let (a, _) = peak_hour(7, 5);
    let (b, _) = peak_hour(7, 5);
    assert_eq!(a, b);
    let (c, _) = peak_hour(8, 5);
    assert_ne!(a, c);
}

#[test]
fn advance_to_is_ordered_and_never_repeats() {
    let cfg = SimConfig::default();
    let start = cfg.start_ms;
    let (whole, _) = {
        let mut sim = Simulator::new(cfg.clone());
        (sim.advance_to(start + 3 * HOUR), ())
    };
    let mut sim = Simulator::new(cfg);
    let mut pieces = Vec::new();
    let mut now = start - 1000;
    let mut step = 1;
    while now < start + 3 * HOUR {
        let got = sim.advance_to(now);
        assert!(got.iter().all(|m| m.ts <= now));
        if let (Some(first), Some(last)) = (got.first(), pieces.last()) {
            let last: &Message = last;
            assert!(first.ts >= last.ts);
        }
        pieces.extend(got);
        // Going back in time returns nothing.
        assert!(sim.advance_to(now - 10_000).is_empty());
        now += step;
        step = (step * 7 + 13) % 120_000;
    }
    pieces.extend(sim.advance_to(start + 3 * HOUR));
    assert!(pieces.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert_eq!(pieces, whole);
}

#[test]
fn invalid_messages_on_request() {
    let (msgs, end) = peak_hour(4, 20);
    let invalid = check_stream(&msgs, end);
    let contact_msgs = msgs
        .iter()
        .filter(|m| !m.invalid && ["cc.voice", "cc.chat", "cc.email"].contains(&m.topic))
        .count();
    let expected = contact_msgs as f64 * 0.02;
    assert!(
        invalid as f64 > expected * 0.5 && (invalid as f64) < expected * 1.5,
        "{invalid} invalid of {contact_msgs}"
    );
    assert!(msgs
        .iter()
        .filter(|m| m.invalid)
        .all(|m| ["cc.voice", "cc.chat", "cc.email"].contains(&m.topic)));
    // All four kinds of error show up.
    let errors: HashSet<String> = msgs
        .iter()
        .filter(|m| m.invalid)
        .map(|m| {
            let e = parse_event(&m.payload, end).unwrap_err().to_string();
            e.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        })
        .collect();
    assert!(errors.len() >= 4, "{errors:?}");
}

fn channel<'a>(s: &'a Snapshot, window: &str, channel: &str) -> &'a GroupRow {
    s.window(window)
        .unwrap()
        .channels
        .iter()
        .find(|g| g.channel == channel)
        .unwrap_or_else(|| panic!("no {channel} row"))
}

#[test]
fn an_hour_through_the_engine_gives_plausible_kpis() {
    let (msgs, end) = peak_hour(1, 0);
    let cfg = Arc::new(EngineConfig::default());
    let mut engine = Engine::new(cfg.clone());
    for m in &msgs {
        let ev = parse_event(&m.payload, end).unwrap();
        engine.apply(&ev);
    }
    let partial = engine.partial(end);
    let snap = Snapshot::build(&partial, &cfg);
    for ch in ["voice", "chat", "email"] {
        let row = channel(&snap, "1h", ch);
        assert!(row.offered > 0, "{ch}: {row:?}");
        assert!(row.answered > 0, "{ch}: {row:?}");
    }
    let all = channel(&snap, "1h", "all");
    eprintln!(
        "offered {} answered {} abandoned {} (short {}) transferred {} sl {:?} asa {:?} aht {:?} fcr {}/{} csat {} {:?} nps {} {:?} rel {}",
        all.offered,
        all.answered,
        all.abandoned,
        all.short_abandoned,
        all.transferred_out,
        all.service_level,
        all.asa_seconds,
        all.aht_seconds,
        all.repeat_contacts,
        all.fcr_contacts,
        all.csat_responses,
        all.csat,
        all.nps_responses,
        all.nps,
        all.nps_relationship_responses
    );
    assert!(all.answered > 0 && all.abandoned > 0);
    assert!(all.short_abandoned > 0);
    let sl = all.service_level.unwrap();
    assert!((0.0..=1.0).contains(&sl));
    assert!(sl > 0.5, "service level {sl}");
    assert!(all.transferred_out > 0);
    assert!(all.repeat_contacts > 0 && all.repeat_contacts < all.fcr_contacts);
    assert!(all.csat_responses > 0 && all.nps_responses > 0);
    assert!(all.nps_relationship_responses > 0);
    assert!(all.aht_seconds.unwrap() > 60.0);
    let w = snap.window("1h").unwrap();
    assert!(w.agents.iter().filter(|a| a.handled > 0).count() > 10);
    let stats = engine.stats();
    assert_eq!(stats.duplicates + stats.too_old + stats.after_close, 0, "{stats:?}");
}

#[test]
fn about_a_quarter_of_contacts_are_repeats_over_a_day() {
    let cfg = SimConfig {
        seed: 5,
        start_ms: ccpulse_sim::DEFAULT_START_MS - 8 * HOUR,
        ..SimConfig::default()
    };
    let end = cfg.start_ms + 3 * 24 * HOUR;
    let msgs = Simulator::new(cfg).advance_to(end);
    // customer -> topics asked, with their time
    let mut seen: HashMap<(String, String), i64> = HashMap::new();
    let (mut offers, mut repeats) = (0, 0);
    for m in &msgs {
        if let Body::Offered {
            customer_id: Some(c),
            topic,
            repeat,
            ..
        } = parse_event(&m.payload, end).unwrap().body
        {
            offers += 1;
            let k = (c.to_string(), topic.unwrap_or_default().to_string());
            if repeat == Some(true) || seen.get(&k).is_some_and(|&t| m.ts - t < 7 * 24 * HOUR) {
                repeats += 1;
            }
            seen.insert(k, m.ts);
        }
    }
    let share = repeats as f64 / offers as f64;
    eprintln!("{repeats} repeats of {offers} offers: {share:.3}");
    assert!((0.15..=0.35).contains(&share), "{share}");
}

#[test]
fn bulk_is_exact_and_deterministic() {
    let a = bulk(1, 20_000);
    assert_eq!(a.len(), 20_000);
    assert_eq!(a, bulk(1, 20_000));
    assert_ne!(a, bulk(2, 20_000));
    assert!(a.windows(2).all(|w| w[0].ts <= w[1].ts));
    let end = a.last().unwrap().ts;
    assert_eq!(check_stream(&a, end), 0);
    assert!(bulk(3, 0).is_empty());
}

#[test]
fn odd_configurations_do_not_panic() {
    let cfgs = [
        SimConfig {
            agents: 0,
            ..SimConfig::default()
        },
        SimConfig {
            queues: Vec::new(),
            ..SimConfig::default()
        },
        SimConfig {
            teams: 0,
            contacts_per_hour: f64::NAN,
            ..SimConfig::default()
        },
        SimConfig {
            teams: 100,
            agents: 3,
            queues: vec![ccpulse_sim::QueueSpec::new("only", Channel::Chat, -1.0)],
            ..SimConfig::default()
        },
        SimConfig::for_rate(9, 20_000.0),
    ];
    for cfg in cfgs {
        let start = cfg.start_ms;
        let msgs = Simulator::new(cfg).advance_to(start + HOUR);
        check_stream(&msgs, start + HOUR);
    }
    // Starts out of the range of timestamps are kept in range.
    let year_one = -62_135_596_800_000;
    let cfg = SimConfig {
        start_ms: i64::MIN,
        ..SimConfig::default()
    };
    let msgs = Simulator::new(cfg).advance_to(year_one + HOUR);
    assert!(!msgs.is_empty() && msgs[0].ts == year_one);
    check_stream(&msgs, year_one + HOUR);
}
