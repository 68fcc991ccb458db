//! One test per verb (or family of verbs) of the mapping in `docs/import-asterisk.md`.
#![allow(clippy::unwrap_used)]

use super::*;

const T0: i64 = 1_795_338_000; // 2026-11-22T09:00:00Z

/// Translates `lines` (with `{t+N}` standing for T0 + N seconds) and finishes.
fn run(lines: &[&str]) -> (Vec<Event>, Report) {
    let mut q = QueueLog::new(jiff::tz::TimeZone::UTC);
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        out.extend(q.line(i as u64 + 1, expand(l).as_bytes()));
    }
    out.extend(q.finish());
    (out, q.report().clone())
}

fn expand(l: &str) -> String {
    match l.split_once('|') {
        Some((secs, rest)) if secs.starts_with('+') => {
            let secs: i64 = secs[1..].parse().unwrap();
            format!("{}|{rest}", T0 + secs)
        }
        _ => l.to_owned(),
    }
}

fn ms(secs: i64) -> Millis {
    (T0 + secs) * 1000
}

/// `type contact_id [extra]` of each event, in order, for compact assertions.
fn shape(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let mut s = format!(
                "{} {}",
                e.kind_name(),
                e.contact_id.as_deref().or(e.agent_id.as_deref()).unwrap_or("-")
            );
            if let Some(st) = e.state {
                s += &format!(" {}", st.as_str());
            }
            if let Some(r) = &e.reason {
                s += &format!(" {r}");
            }
            if let Some(q) = &e.to_queue {
                s += &format!(" ->{q}");
            }
            s
        })
        .collect()
}

#[test]
fn enterqueue_offers_with_the_caller_as_customer_and_key() {
    let (ev, rep) = run(&["+0|1700.1|sales|NONE|ENTERQUEUE||+31201234567|1"]);
    assert_eq!(shape(&ev), ["contact.offered 1700.1"]);
    let e = &ev[0];
    assert_eq!(e.ts, ms(0));
    assert_eq!(e.queue.as_deref(), Some("sales"));
    assert_eq!(e.channel, Some(Channel::Voice));
    assert_eq!(e.customer_id.as_deref(), Some("+31201234567"));
    assert_eq!(e.key, "+31201234567");
    assert_eq!(rep.events, 1);
    // No caller id, or one that names nobody: keyed by the call.
    for cid in ["", "anonymous", "Unknown", "##########"] {
        let line = format!("+0|1700.2|sales|NONE|ENTERQUEUE||{cid}|1");
        let (ev, _) = run(&[&line]);
        assert_eq!(ev[0].customer_id, None, "{cid:?}");
        assert_eq!(ev[0].key, "1700.2");
    }
}

#[test]
fn connect_answers_at_the_line_time_and_the_agent_is_busy() {
    let (ev, _) = run(&[
        "+0|1700.1|sales|NONE|ENTERQUEUE||555|1",
        "+12|1700.1|sales|PJSIP/1001|CONNECT|12|1700.2|3",
    ]);
    assert_eq!(
        shape(&ev),
        [
            "contact.offered 1700.1",
            "contact.answered 1700.1",
            "agent.state PJSIP/1001 busy"
        ]
    );
    assert_eq!(
        ev[1].ts,
        ms(12),
        "the answer is the line's time; holdtime is the queue wait"
    );
    assert_eq!(ev[1].agent_id.as_deref(), Some("PJSIP/1001"));
    assert_eq!(ev[1].key, "555");
    assert_eq!(ev[2].key, "PJSIP/1001");
}

#[test]
fn complete_ends_and_the_work_ends_with_the_call_without_wrapupstart() {
    for verb in ["COMPLETECALLER", "COMPLETEAGENT"] {
        let complete = format!("+100|1700.1|sales|Agent/7|{verb}|12|88|1");
        let (ev, rep) = run(&[
            "+0|1700.1|sales|NONE|ENTERQUEUE||555|1",
            "+12|1700.1|sales|Agent/7|CONNECT|12|1700.2|3",
            &complete,
        ]);
        assert_eq!(
            shape(&ev)[3..],
            [
                "contact.ended 1700.1",
                "contact.wrapped_up 1700.1",
                "agent.state Agent/7 available"
            ]
        );
        assert!(ev[3..].iter().all(|e| e.ts == ms(100)));
        assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    }
}

#[test]
fn wrapupstart_ends_the_work_later_wazo() {
    let (ev, _) = run(&[
        "+0|c1|q11|NONE|ENTERQUEUE||1003|1",
        "+18|c1|q11|Agent/11|CONNECT|18|x|2",
        "+20|c1|q11|Agent/11|COMPLETEAGENT|18|2|1",
        "+20|NONE|NONE|Agent/11|WRAPUPSTART|15",
    ]);
    assert_eq!(
        shape(&ev)[3..],
        [
            "contact.ended c1",
            "contact.wrapped_up c1",
            "agent.state Agent/11 acw",
            "agent.state Agent/11 available"
        ]
    );
    assert_eq!(ev[4].ts, ms(35), "wrapped up when the announced 15 s of wrap-up end");
    assert_eq!(ev[5].ts, ms(20));
    assert_eq!(ev[6].ts, ms(35));
}

#[test]
fn abandon_and_the_three_exits_and_withdraw() {
    for (verb, data, want) in [
        ("ABANDON", "1|1|30", "contact.abandoned c1"),
        ("EXITWITHTIMEOUT", "1|1|30", "contact.flowed_out c1 timeout"),
        ("EXITEMPTY", "1|1|30", "contact.flowed_out c1 queue_empty"),
        ("EXITWITHKEY", "5|1|1|30", "contact.flowed_out c1 exit_key"),
        ("WITHDRAW", "1|1|30|info", "contact.flowed_out c1 withdraw"),
    ] {
        let line = format!("+30|c1|sales|NONE|{verb}|{data}");
        let (ev, rep) = run(&["+0|c1|sales|NONE|ENTERQUEUE||555|1", &line]);
        assert_eq!(shape(&ev)[1..], [want], "{verb}");
        assert_eq!(ev[1].ts, ms(30));
        assert_eq!(ev[1].queue.as_deref(), Some("sales"), "{verb}");
        assert!(rep.problems.is_empty(), "{verb}: {:?}", rep.problems);
    }
}

#[test]
fn leaveempty_after_exitempty_is_skipped() {
    let (ev, rep) = run(&[
        "+0|c1|q|NONE|ENTERQUEUE||555|1",
        "+0|c1|q|NONE|EXITEMPTY|1|1|0",
        "+0|c1|q|NONE|LEAVEEMPTY",
    ]);
    assert_eq!(shape(&ev), ["contact.offered c1", "contact.flowed_out c1 queue_empty"]);
    assert_eq!(rep.skipped["LEAVEEMPTY"], 1);
}

#[test]
fn a_blind_transfer_followed_by_enterqueue_is_a_transfer_to_that_queue() {
    let (ev, rep) = run(&[
        "+0|c1|sales|NONE|ENTERQUEUE||555|1",
        "+10|c1|sales|Agent/1|CONNECT|10|x|1",
        "+70|c1|sales|Agent/1|BLINDTRANSFER|600|from-queue|10|60|1",
        "+70|c1|support|NONE|ENTERQUEUE||555|1",
        "+75|c1|support|Agent/2|CONNECT|5|y|1",
        "+200|c1|support|Agent/2|COMPLETECALLER|5|125|1",
    ]);
    assert_eq!(
        shape(&ev),
        [
            "contact.offered c1",
            "contact.answered c1",
            "agent.state Agent/1 busy",
            "contact.transferred c1 ->support",
            "agent.state Agent/1 available",
            "contact.answered c1",
            "agent.state Agent/2 busy",
            "contact.ended c1",
            "contact.wrapped_up c1",
            "agent.state Agent/2 available",
        ]
    );
    assert_eq!(ev[3].ts, ms(70));
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
}

#[test]
fn an_attended_transfer_elsewhere_ends_the_call_here() {
    let (ev, rep) = run(&[
        "+0|c1|sales|NONE|ENTERQUEUE||555|1",
        "+10|c1|sales|Agent/1|CONNECT|10|x|1",
        "+70|c1|sales|Agent/1|ATTENDEDTRANSFER|BRIDGE|abc-123|10|60|1",
        "+90|c2|sales|NONE|ENTERQUEUE||556|1",
    ]);
    assert_eq!(
        shape(&ev)[3..],
        [
            "contact.ended c1",
            "contact.wrapped_up c1",
            "agent.state Agent/1 available",
            "contact.offered c2"
        ]
    );
    assert!(ev[3..6].iter().all(|e| e.ts == ms(70)));
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
}

#[test]
fn a_call_entering_a_queue_again_is_a_new_contact() {
    let (ev, _) = run(&[
        "+0|c1|q1|NONE|ENTERQUEUE||555|1",
        "+1|c1|q1|NONE|EXITEMPTY|1|1|1",
        "+2|c1|q2|NONE|ENTERQUEUE||555|1",
        "+9|c1|q2|NONE|EXITWITHTIMEOUT|1|1|7",
        "+9|c1|q1|NONE|ENTERQUEUE||555|1",
    ]);
    assert_eq!(
        shape(&ev),
        [
            "contact.offered c1",
            "contact.flowed_out c1 queue_empty",
            "contact.offered c1#2",
            "contact.flowed_out c1#2 timeout",
            "contact.offered c1#3",
        ]
    );
    assert!(
        ev.iter().all(|e| e.key == "555"),
        "one key for all of a call's contacts"
    );
}

#[test]
fn ringnoanswer_and_other_non_events_are_counted_not_translated() {
    let (ev, rep) = run(&[
        "+0|NONE|NONE|NONE|QUEUESTART|",
        "+0|NONE|NONE|NONE|CONFIGRELOAD|",
        "+1|c1|q|NONE|ENTERQUEUE||555|1",
        "+5|c1|q|Agent/1|RINGNOANSWER|4000",
        "+6|c9|q|NONE|CLOSED",
    ]);
    assert_eq!(shape(&ev), ["contact.offered c1"]);
    assert_eq!(rep.skipped["RINGNOANSWER"], 1);
    assert_eq!(rep.skipped["QUEUESTART"], 1);
    assert_eq!(rep.skipped["CONFIGRELOAD"], 1);
    assert_eq!(rep.skipped["CLOSED"], 1);
    assert!(rep.problems.is_empty());
}

#[test]
fn agent_login_pause_and_membership() {
    let (ev, _) = run(&[
        "+0|1699.5|NONE|Agent/7|AGENTLOGIN|PJSIP/7-0001",
        "+1|MANAGER|sales|Agent/7|ADDMEMBER|",
        "+2|CLI|support|Agent/7|ADDMEMBER|PAUSED",
        "+3|NONE|sales|Agent/7|UNPAUSE|",
        "+4|NONE|sales|Agent/7|PAUSE|lunch",
        "+5|MANAGER|sales|Agent/7|REMOVEMEMBER|",
        "+6|MANAGER|support|Agent/7|REMOVEMEMBER|",
        "+7|1699.5|NONE|Agent/7|AGENTLOGOFF|PJSIP/7-0001|7",
    ]);
    assert_eq!(
        shape(&ev),
        [
            "agent.state Agent/7 available",
            "agent.state Agent/7 available",
            "agent.state Agent/7 away",
            "agent.state Agent/7 available",
            "agent.state Agent/7 away",
            "agent.state Agent/7 away",
            "agent.state Agent/7 offline",
            "agent.state Agent/7 offline",
        ]
    );
    assert_eq!(ev[0].queues, None, "no queue known yet");
    assert_eq!(
        ev[2].queues.as_deref(),
        Some(&["sales".to_owned(), "support".to_owned()][..])
    );
    assert_eq!(ev[5].queues.as_deref(), Some(&["support".to_owned()][..]));
}

#[test]
fn a_pause_during_a_call_takes_effect_when_it_ends() {
    let (ev, _) = run(&[
        "+0|c1|q|NONE|ENTERQUEUE||555|1",
        "+3|c1|q|Agent/1|CONNECT|3|x|1",
        "+10|NONE|q|Agent/1|PAUSE|break",
        "+60|c1|q|Agent/1|COMPLETEAGENT|3|57|1",
    ]);
    assert_eq!(shape(&ev).last().unwrap(), "agent.state Agent/1 away");
}

#[test]
fn follow_up_lines_without_their_enterqueue_make_up_the_offer_from_the_waits() {
    let (ev, _) = run(&[
        "+100|c1|q|Agent/1|CONNECT|25|x|1",
        "+200|c2|q|NONE|ABANDON|1|1|40",
        "+300|c3|q|Agent/2|COMPLETECALLER|15|120|1",
    ]);
    assert_eq!(
        shape(&ev),
        [
            "contact.offered c1",
            "contact.answered c1",
            "agent.state Agent/1 busy",
            "contact.offered c2",
            "contact.abandoned c2",
            "contact.offered c3",
            "contact.answered c3",
            "agent.state Agent/2 busy",
            "contact.ended c3",
            "contact.wrapped_up c3",
            "agent.state Agent/2 available",
        ]
    );
    assert_eq!(ev[0].ts, ms(75));
    assert_eq!(ev[3].ts, ms(160));
    assert_eq!((ev[5].ts, ev[6].ts), (ms(165), ms(180)));
}

#[test]
fn unknown_verbs_and_malformed_lines_are_reported_with_their_numbers() {
    let long = format!("+5|c1|q|NONE|ENTERQUEUE|{}", "x".repeat(MAX_LINE_BYTES));
    let (ev, rep) = run(&[
        "+0|c1|q|NONE|ENTERQUEUE||555|1",
        "garbage",
        "+2|c1|q|NONE|FROBNICATE|1",
        "noon|c1|q|NONE|ABANDON|1|1|1",
        &long,
        "",
        "+9|c1|q|NONE|ABANDON|1|1|9",
        "+10|c1|q|NONE|ABANDON|1|1|10",
    ]);
    assert_eq!(shape(&ev), ["contact.offered c1", "contact.abandoned c1"]);
    let lines: Vec<u64> = rep.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 8], "{:?}", rep.problems);
    assert_eq!(rep.unknown["FROBNICATE"], 1);
    assert!(rep.problems[4].reason.contains("not waiting"));
    assert_eq!(rep.records, 7, "the blank line is not a record");
}

#[test]
fn an_overlong_name_is_reported_not_written() {
    let line = format!("+0|c1|{}|NONE|ENTERQUEUE||555|1", "q".repeat(129));
    let (ev, rep) = run(&[&line]);
    assert!(ev.is_empty());
    assert!(rep.problems[0].reason.contains("queue"), "{:?}", rep.problems);
}

#[test]
fn ids_are_stable_and_unique() {
    let lines = [
        "+0|c1|q|NONE|ENTERQUEUE||555|1",
        "+3|c1|q|Agent/1|CONNECT|3|x|1",
        "+60|c1|q|Agent/1|COMPLETEAGENT|3|57|1",
    ];
    let (a, _) = run(&lines);
    let (b, _) = run(&lines);
    assert_eq!(a, b);
    let ids: BTreeSet<&str> = a.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), a.len());
}

#[test]
fn a_saved_state_resumes_exactly() {
    let lines = [
        "+0|c1|q|NONE|ENTERQUEUE||555|1",
        "+3|c1|q|Agent/1|CONNECT|3|x|1",
        "+60|c1|q|Agent/1|COMPLETEAGENT|3|57|1",
        "+60|NONE|NONE|Agent/1|WRAPUPSTART|10",
        "+61|c2|q|NONE|ENTERQUEUE||556|1",
    ];
    let (whole, _) = run(&lines);
    for cut in 0..=lines.len() {
        let mut q = QueueLog::new(jiff::tz::TimeZone::UTC);
        let mut got = Vec::new();
        for (i, l) in lines[..cut].iter().enumerate() {
            got.extend(q.line(i as u64 + 1, expand(l).as_bytes()));
        }
        let saved = serde_json::to_string(q.state()).unwrap();
        let mut q = QueueLog::resume(jiff::tz::TimeZone::UTC, serde_json::from_str(&saved).unwrap());
        for (i, l) in lines.iter().enumerate().skip(cut) {
            got.extend(q.line(i as u64 + 1, expand(l).as_bytes()));
        }
        got.extend(q.finish());
        assert_eq!(got, whole, "cut after {cut} lines");
    }
}

#[test]
fn a_line_in_another_queue_than_the_calls_is_a_visit_whose_enterqueue_the_log_lost() {
    let (ev, rep) = run(&[
        "+0|c1|q0|NONE|ENTERQUEUE||555|1",
        "+240|c1|q1|Agent/1|COMPLETEAGENT|12|6|1",
    ]);
    assert_eq!(
        shape(&ev),
        [
            "contact.offered c1",
            "contact.flowed_out c1 unknown",
            "contact.offered c1#2",
            "contact.answered c1#2",
            "agent.state Agent/1 busy",
            "contact.ended c1#2",
            "contact.wrapped_up c1#2",
            "agent.state Agent/1 available",
        ]
    );
    assert_eq!(
        (ev[2].ts, ev[3].ts),
        (ms(222), ms(234)),
        "made up from the hold and call times"
    );
    assert_eq!(ev[2].queue.as_deref(), Some("q1"));
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
}
