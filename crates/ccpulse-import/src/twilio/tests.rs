//! The signature and one test per TaskRouter event type of `docs/import-twilio.md`.
#![allow(clippy::unwrap_used)]

use super::*;

fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn the_signature_of_twilios_documented_example() {
    // The example of Twilio's webhook security page, computed independently.
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let params = p(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]);
    assert_eq!(signature("12345", url, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    assert!(verify("12345", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    assert!(
        !verify("12346", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        "another token"
    );
    assert!(!verify(
        "12345",
        "https://mycompany.com/myapp.php",
        &params,
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    ));
    let mut changed = params.clone();
    changed[2].1 = "1235".into();
    assert!(
        !verify("12345", url, &changed, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        "a changed value"
    );
    assert!(!verify("12345", url, &params, "not base64!"));
    assert!(!verify("12345", url, &params, ""));
}

fn task_event(kind: &str, sid: &str, ts: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = p(&[
        ("EventType", kind),
        ("Sid", sid),
        ("Timestamp", ts),
        ("TaskSid", "WT1"),
        ("TaskChannelUniqueName", "voice"),
        ("TaskAttributes", r#"{"from":"+15551230000","call_sid":"CA9"}"#),
        ("TaskQueueName", "Support"),
    ]);
    for (k, x) in p(extra) {
        match v.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = x,
            None => v.push((k, x)),
        }
    }
    v
}

fn events(t: &mut TaskRouter, params: &[(String, String)]) -> Vec<Event> {
    match t.translate(params).unwrap() {
        Translated::Events(e) => e,
        Translated::Skipped(k) => panic!("skipped {k}"),
    }
}

#[test]
fn task_queue_entered_offers_with_the_caller_as_customer() {
    let mut t = TaskRouter::new(Channel::Voice);
    let e = events(&mut t, &task_event("task-queue.entered", "EV1", "1795338000", &[]));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].kind, Kind::Offered);
    assert_eq!(e[0].ts, 1_795_338_000_000);
    assert_eq!(e[0].queue.as_deref(), Some("Support"));
    assert_eq!(e[0].customer_id.as_deref(), Some("+15551230000"));
    assert_eq!(e[0].key, "+15551230000");
    // The same event again (a retry) gives the same id; a second entry into the same
    // queue offers nothing new; another queue is a move of the task.
    let again = events(
        &mut TaskRouter::new(Channel::Voice),
        &task_event("task-queue.entered", "EV1", "1795338000", &[]),
    );
    assert_eq!(again[0].id, e[0].id);
    assert!(events(&mut t, &task_event("task-queue.entered", "EV2", "1795338001", &[])).is_empty());
    let moved = events(
        &mut t,
        &task_event(
            "task-queue.entered",
            "EV3",
            "1795338060",
            &[("TaskQueueName", "Escalations")],
        ),
    );
    assert_eq!(moved[0].kind, Kind::Transferred);
    assert_eq!(moved[0].to_queue.as_deref(), Some("Escalations"));
    assert_eq!(moved[0].key, "+15551230000");
}

#[test]
fn reservation_accepted_answers_by_the_worker() {
    let mut t = TaskRouter::new(Channel::Voice);
    let e = events(
        &mut t,
        &task_event(
            "reservation.accepted",
            "EV4",
            "1795338012",
            &[("WorkerName", "alice"), ("WorkerSid", "WK1")],
        ),
    );
    assert_eq!(e[0].kind, Kind::Answered);
    assert_eq!(e[0].agent_id.as_deref(), Some("alice"));
    // The reservations of the workers tried first are not contact events.
    for kind in [
        "reservation.created",
        "reservation.rejected",
        "reservation.timeout",
        "task.created",
    ] {
        assert_eq!(
            t.translate(&task_event(kind, "EV5", "1795338010", &[])).unwrap(),
            Translated::Skipped(kind.into())
        );
    }
}

#[test]
fn task_canceled_is_an_abandon_or_a_timeout_flow_out() {
    let mut t = TaskRouter::new(Channel::Voice);
    let e = events(
        &mut t,
        &task_event(
            "task.canceled",
            "EV6",
            "1795338030",
            &[("TaskCanceledReason", "hangup")],
        ),
    );
    assert_eq!(e[0].kind, Kind::Abandoned);
    let e = events(
        &mut t,
        &task_event(
            "task.canceled",
            "EV7",
            "1795338030",
            &[("TaskCanceledReason", "Task TTL Exceeded")],
        ),
    );
    assert_eq!((e[0].kind, e[0].reason.as_deref()), (Kind::FlowedOut, Some("timeout")));
}

#[test]
fn wrapup_ends_and_completed_wraps_up() {
    let mut t = TaskRouter::new(Channel::Voice);
    let e = events(&mut t, &task_event("task.wrapup", "EV8", "1795338300", &[]));
    assert_eq!(e.iter().map(|e| e.kind).collect::<Vec<_>>(), [Kind::Ended]);
    let e = events(&mut t, &task_event("task.completed", "EV9", "1795338340", &[]));
    assert_eq!(
        e.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [Kind::Ended, Kind::WrappedUp]
    );
    assert_ne!(e[0].id, e[1].id);
}

#[test]
fn worker_activity_update_is_an_agent_state() {
    let mut t = TaskRouter::new(Channel::Voice);
    for (activity, state) in [
        ("Available", AgentState::Available),
        ("Offline", AgentState::Offline),
        ("Break", AgentState::Away),
        ("Wrap Up", AgentState::Acw),
    ] {
        let e = events(
            &mut t,
            &p(&[
                ("EventType", "worker.activity.update"),
                ("Sid", "EVw"),
                ("TimestampMs", "1795338000123"),
                ("WorkerSid", "WK1"),
                ("WorkerName", "alice"),
                ("WorkerActivityName", activity),
                ("WorkerAttributes", r#"{"team_name":"tier1"}"#),
            ]),
        );
        assert_eq!(e[0].state, Some(state), "{activity}");
        assert_eq!(
            (e[0].ts, e[0].key.as_str(), e[0].team.as_deref()),
            (1_795_338_000_123, "alice", Some("tier1"))
        );
    }
}

#[test]
fn channels_and_malformed_callbacks() {
    let mut t = TaskRouter::new(Channel::Chat);
    for (name, ch) in [
        ("sms", Channel::Chat),
        ("email", Channel::Email),
        ("default", Channel::Chat),
        ("voice", Channel::Voice),
    ] {
        let e = events(
            &mut TaskRouter::new(Channel::Chat),
            &task_event(
                "task-queue.entered",
                "EVc",
                "1795338000",
                &[("TaskChannelUniqueName", name)],
            ),
        );
        assert_eq!(e[0].route, Some(ch), "{name}");
    }
    assert_eq!(t.translate(&p(&[("Timestamp", "1")])).unwrap_err(), "no EventType");
    assert!(t
        .translate(&p(&[("EventType", "task.wrapup")]))
        .unwrap_err()
        .contains("Timestamp"));
    assert!(t
        .translate(&p(&[("EventType", "task.wrapup"), ("Timestamp", "soon")]))
        .unwrap_err()
        .contains("unreadable"));
    assert!(t
        .translate(&p(&[("EventType", "task.wrapup"), ("Timestamp", "1")]))
        .unwrap_err()
        .contains("TaskSid"));
}
