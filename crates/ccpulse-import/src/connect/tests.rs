//! One test per Connect event type of the mapping in `docs/import-amazon-connect.md`.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

const INSTANCE: &str = "arn:aws:connect:eu-west-1:111122223333:instance/aaaa-bbbb";

fn queue_arn(q: &str) -> String {
    format!("{INSTANCE}/queue/{q}")
}

fn agent_arn(a: &str) -> String {
    format!("{INSTANCE}/agent/{a}")
}

/// An EventBridge contact event.
fn contact(id: &str, kind: &str, time: &str, detail: Value) -> String {
    let mut d = json!({"eventType": kind, "contactId": "c1", "channel": "VOICE", "instanceArn": INSTANCE,
        "initiationMethod": "INBOUND", "initiationTimestamp": "2026-11-22T09:00:00.000Z"});
    for (k, x) in detail.as_object().unwrap() {
        d[k] = x.clone();
    }
    json!({"version": "0", "id": id, "detail-type": "Amazon Connect Contact Event", "source": "aws.connect",
        "account": "111122223333", "time": time, "region": "eu-west-1", "resources": [INSTANCE], "detail": d})
    .to_string()
}

fn run(lines: &[String]) -> (Vec<Event>, Report) {
    let mut c = Connect::new(BTreeMap::from([(queue_arn("q-1"), "billing".to_owned())]));
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        out.extend(c.line(i as u64 + 1, l.as_bytes()));
    }
    (out, c.report().clone())
}

fn t(s: &str) -> Millis {
    parse_rfc3339(s).unwrap()
}

#[test]
fn queued_offers_at_the_enqueue_time_with_the_queue_name() {
    let (ev, rep) = run(&[contact(
        "e1",
        "QUEUED",
        "2026-11-22T09:00:31Z",
        json!({"queueInfo": {"queueArn": queue_arn("q-1"), "enqueueTimestamp": "2026-11-22T09:00:30.250Z", "queueType": "STANDARD"}}),
    )]);
    assert_eq!(ev.len(), 1, "{rep:?}");
    assert_eq!(ev[0].kind, Kind::Offered);
    assert_eq!(ev[0].ts, t("2026-11-22T09:00:30.250Z"));
    assert_eq!(ev[0].queue.as_deref(), Some("billing"));
    assert_eq!(ev[0].channel, Some(Channel::Voice));
    assert_eq!(ev[0].key, "c1");
}

#[test]
fn connected_to_agent_answers_by_the_agent_id() {
    let (ev, _) = run(&[contact(
        "e2",
        "CONNECTED_TO_AGENT",
        "2026-11-22T09:00:45Z",
        json!({"queueInfo": {"queueArn": queue_arn("q-2")}, "agentInfo": {"agentArn": agent_arn("ag-7"), "connectedToAgentTimestamp": "2026-11-22T09:00:44Z"}}),
    )]);
    assert_eq!(ev[0].kind, Kind::Answered);
    assert_eq!(ev[0].ts, t("2026-11-22T09:00:44Z"));
    assert_eq!(ev[0].agent_id.as_deref(), Some("ag-7"));
    assert_eq!(
        ev[0].queue.as_deref(),
        Some("q-2"),
        "no name known: the id at the ARN's end"
    );
}

#[test]
fn disconnected_ends_abandons_or_flows_out() {
    let queued = json!({"queueInfo": {"queueArn": queue_arn("q-1")}, "disconnectTimestamp": "2026-11-22T09:01:00Z"});
    let mut answered = queued.clone();
    answered["agentInfo"] = json!({"agentArn": agent_arn("ag-7")});
    let mut flow = queued.clone();
    flow["disconnectReason"] = json!("CONTACT_FLOW_DISCONNECT");
    let mut customer = queued.clone();
    customer["disconnectReason"] = json!("CUSTOMER_DISCONNECT");
    let (ev, rep) = run(&[
        contact("a", "DISCONNECTED", "2026-11-22T09:01:01Z", answered),
        contact("b", "DISCONNECTED", "2026-11-22T09:01:01Z", queued),
        contact("c", "DISCONNECTED", "2026-11-22T09:01:01Z", customer),
        contact("d", "DISCONNECTED", "2026-11-22T09:01:01Z", flow),
        contact("e", "DISCONNECTED", "2026-11-22T09:01:01Z", json!({})),
    ]);
    let kinds: Vec<Kind> = ev.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Ended, Kind::Abandoned, Kind::Abandoned, Kind::FlowedOut]);
    assert_eq!(ev[3].reason.as_deref(), Some("contact_flow_disconnect"));
    assert!(ev.iter().all(|e| e.ts == t("2026-11-22T09:01:00Z")));
    assert_eq!(rep.skipped["DISCONNECTED (never queued)"], 1);
}

#[test]
fn completed_wraps_up_and_initiated_is_skipped() {
    let (ev, rep) = run(&[
        contact("i", "INITIATED", "2026-11-22T09:00:00Z", json!({})),
        contact(
            "c",
            "COMPLETED",
            "2026-11-22T09:02:30Z",
            json!({"agentInfo": {"agentArn": agent_arn("ag-7"), "afterContactWorkEndTimestamp": "2026-11-22T09:02:29Z"}}),
        ),
    ]);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, Kind::WrappedUp);
    assert_eq!(ev[0].ts, t("2026-11-22T09:02:29Z"));
    assert_eq!(rep.skipped["INITIATED"], 1);
}

#[test]
fn a_transferred_contact_is_keyed_by_its_chain() {
    let (ev, _) = run(&[contact(
        "q2",
        "QUEUED",
        "2026-11-22T09:05:00Z",
        json!({"contactId": "c2", "initialContactId": "c1", "previousContactId": "c1", "initiationMethod": "TRANSFER",
            "queueInfo": {"queueArn": queue_arn("q-1")}}),
    )]);
    assert_eq!(ev[0].contact_id.as_deref(), Some("c2"));
    assert_eq!(ev[0].key, "c1");
}

fn agent_record(kind: &str, status: &str, contacts: Value, previous: Value) -> String {
    json!({"AWSAccountId": "111122223333", "AgentARN": agent_arn("ag-7"), "EventId": format!("ev-{kind}-{status}-{}", contacts),
        "EventTimestamp": "2026-11-22T09:03:00.000Z", "EventType": kind, "InstanceARN": INSTANCE, "Version": "2017-10-01",
        "CurrentAgentSnapshot": {"AgentStatus": {"Name": status, "Type": if status == "Available" { "ROUTABLE" } else if status == "Offline" { "OFFLINE" } else { "CUSTOM" }},
            "Configuration": {"Username": "jane", "AgentHierarchyGroups": {"Level1": {"Name": "EMEA"}, "Level2": {"Name": "team-a"}},
                "RoutingProfile": {"Name": "Basic", "InboundQueues": [{"ARN": queue_arn("q-1"), "Name": "billing"}, {"ARN": queue_arn("q-x")}]}},
            "Contacts": contacts},
        "PreviousAgentSnapshot": {"AgentStatus": {"Name": "Available", "Type": "ROUTABLE"}, "Contacts": previous}})
    .to_string()
}

#[test]
fn agent_records_give_states_team_and_queues() {
    let talking = json!([{"ContactId": "c1", "Channel": "VOICE", "State": "CONNECTED", "StateStartTimestamp": "2026-11-22T09:02:00Z"}]);
    let ended = json!([{"ContactId": "c1", "Channel": "VOICE", "State": "ENDED"}]);
    let (ev, rep) = run(&[
        agent_record("LOGIN", "Available", json!([]), json!([])),
        agent_record("STATE_CHANGE", "Available", talking, json!([])),
        agent_record("STATE_CHANGE", "Available", ended, json!([])),
        agent_record("STATE_CHANGE", "Lunch", json!([]), json!([])),
        agent_record("HEART_BEAT", "Lunch", json!([]), json!([])),
        agent_record("LOGOUT", "Offline", json!([]), json!([])),
    ]);
    let states: Vec<&str> = ev.iter().map(|e| e.state.unwrap().as_str()).collect();
    assert_eq!(states, ["available", "busy", "acw", "away", "offline"]);
    assert_eq!(ev[0].agent_id.as_deref(), Some("ag-7"));
    assert_eq!(ev[0].team.as_deref(), Some("team-a"), "the deepest hierarchy level");
    assert_eq!(ev[0].queues.as_deref(), Some(&["billing".to_owned()][..]));
    assert_eq!(rep.skipped["HEART_BEAT"], 1);
}

#[test]
fn holds_come_from_the_contact_state_in_the_two_snapshots() {
    let on = json!([{"ContactId": "c1", "InitialContactId": "c0", "Channel": "VOICE", "State": "CONNECTED_ONHOLD", "StateStartTimestamp": "2026-11-22T09:02:10Z"}]);
    let off = json!([{"ContactId": "c1", "InitialContactId": "c0", "Channel": "VOICE", "State": "CONNECTED", "StateStartTimestamp": "2026-11-22T09:02:40Z"}]);
    let (ev, _) = run(&[
        agent_record("STATE_CHANGE", "Available", on.clone(), off.clone()),
        agent_record("STATE_CHANGE", "Available", off, on),
    ]);
    let holds: Vec<(Kind, Millis, &str)> = ev
        .iter()
        .filter(|e| e.kind != Kind::AgentState)
        .map(|e| (e.kind, e.ts, e.key.as_str()))
        .collect();
    assert_eq!(
        holds,
        [
            (Kind::HoldStarted, t("2026-11-22T09:02:10Z"), "c0"),
            (Kind::HoldEnded, t("2026-11-22T09:02:40Z"), "c0")
        ]
    );
}

#[test]
fn bad_records_are_reported_with_their_line() {
    let (ev, rep) = run(&[
        "{not json".to_owned(),
        json!({"hello": 1}).to_string(),
        contact(
            "x",
            "QUEUED",
            "2026-11-22T09:00:00Z",
            json!({"channel": "FAX", "queueInfo": {"queueArn": queue_arn("q")}}),
        ),
        contact("y", "QUEUED", "2026-11-22T09:00:00Z", json!({})),
        agent_record("SOMETHING_NEW", "Available", json!([]), json!([])),
    ]);
    assert!(ev.is_empty());
    let lines: Vec<u64> = rep.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5], "{:?}", rep.problems);
    assert_eq!(rep.unknown["SOMETHING_NEW"], 1);
}

#[test]
fn ids_are_stable() {
    let line = contact(
        "e1",
        "QUEUED",
        "2026-11-22T09:00:00Z",
        json!({"queueInfo": {"queueArn": queue_arn("q-1")}}),
    );
    let (a, _) = run(std::slice::from_ref(&line));
    let (b, _) = run(&[line]);
    assert_eq!(a[0].id, b[0].id);
}
