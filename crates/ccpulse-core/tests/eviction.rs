//! What the engine forgets, and when: finished contacts after the longest window, open
//! ones after their channel's timeout (counted), and what arrives for them afterwards.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ccpulse_core::engine::Applied;
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::{parse_event, Engine, EngineConfig};
use serde_json::{json, Value};

const WALL: &str = "2026-11-23T12:00:00Z";

struct Run {
    engine: Engine,
    n: usize,
}

impl Run {
    fn new() -> Self {
        Run {
            engine: Engine::new(Arc::new(EngineConfig::default())),
            n: 0,
        }
    }

    /// Applies one event of `kind` at `ts` (a time on 2026-11-22) with `extra` fields.
    fn at(&mut self, ts: &str, kind: &str, extra: Value) -> Applied {
        self.n += 1;
        let mut v = json!({"id": format!("e{}", self.n), "type": kind, "ts": format!("2026-11-22T{ts}Z")});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        let text = v.to_string();
        let ev = parse_event(text.as_bytes(), parse_rfc3339(WALL).unwrap()).unwrap();
        self.engine.apply(&ev)
    }

    /// Moves event time on with an event of no contact.
    fn tick(&mut self, ts: &str) {
        assert_eq!(
            self.at(ts, "agent.state", json!({"agent_id": "a9", "state": "available"})),
            Applied::Applied
        );
    }

    /// (open contacts, remembered finished ones, open ones evicted so far)
    fn held(&self) -> (u64, u64, u64) {
        let s = self.engine.stats();
        (s.open_contacts, s.closed_contacts, s.evicted_open)
    }
}

fn offer(id: &str) -> Value {
    json!({"contact_id": id, "channel": "voice", "queue": "billing"})
}

/// c1 is offered at 09:00 and never answered; c2 is offered at 09:00, answered, ended
/// and wrapped up by 09:06.
fn c1_waits_and_c2_is_done_by_0906(r: &mut Run) {
    r.at("09:00:00", "contact.offered", offer("c1"));
    r.at("09:00:00", "contact.offered", offer("c2"));
    r.at(
        "09:00:10",
        "contact.answered",
        json!({"contact_id": "c2", "agent_id": "a1"}),
    );
    r.at("09:05:00", "contact.ended", json!({"contact_id": "c2"}));
    r.at("09:06:00", "contact.wrapped_up", json!({"contact_id": "c2"}));
}

#[test]
fn contacts_are_forgotten_when_due_and_open_ones_are_counted() {
    let mut r = Run::new();
    c1_waits_and_c2_is_done_by_0906(&mut r);
    // c3 is offered at 09:30, answered at 12:00, and never ends.
    r.at("09:30:00", "contact.offered", offer("c3"));

    // Voice contacts stay open for 4 h after their last event; a finished one keeps its
    // events for the longest window (1 h) after its last.
    r.tick("10:05:30");
    assert_eq!(r.held(), (3, 0, 0), "c2 is due at 10:06");
    r.tick("10:07:30");
    assert_eq!(r.held(), (2, 1, 0), "c2 is remembered only for its surveys now");

    // For a forgotten contact, a late lifecycle event is ignored and counted; a survey
    // still counts.
    assert_eq!(
        r.at("09:03:00", "contact.hold_started", json!({"contact_id": "c2"})),
        Applied::AfterClose
    );
    assert_eq!(
        r.at(
            "10:07:40",
            "survey.csat",
            json!({"contact_id": "c2", "score": 5, "scale": "five"})
        ),
        Applied::Applied
    );
    assert_eq!(r.engine.stats().after_close, 1);

    // c3's answer at 12:00 moves its timeout to 16:00.
    r.at(
        "12:00:00",
        "contact.answered",
        json!({"contact_id": "c3", "agent_id": "a2"}),
    );
    r.tick("12:59:30");
    assert_eq!(r.held(), (2, 1, 0), "c1 is due at 13:00");
    r.tick("13:01:30");
    assert_eq!(
        r.held(),
        (1, 1, 1),
        "c1 evicted and counted; c3 was offered at 09:30 but answered at 12:00"
    );
    r.tick("15:59:30");
    assert_eq!(r.held(), (1, 1, 1));
    r.tick("16:01:30");
    assert_eq!(r.held(), (0, 1, 2), "c3 evicted and counted");
}

/// On the event clock, a partition with no event yet is asked for its figures at the
/// wall clock (nothing else is known). That must not postpone its maintenance: the
/// events it gets afterwards (a backfill of another day) are forgotten when their own
/// time says so.
#[test]
fn figures_asked_before_any_event_do_not_postpone_forgetting() {
    let mut r = Run::new();
    let wall = parse_rfc3339(WALL).unwrap();
    r.engine.maintain(wall);
    r.engine.partial(wall);
    c1_waits_and_c2_is_done_by_0906(&mut r);
    r.tick("10:07:30");
    assert_eq!(r.held(), (1, 1, 0), "c2 is forgotten at 10:06");
    r.tick("13:01:30");
    assert_eq!(r.held(), (0, 1, 1), "c1 evicted and counted at 13:00");
}
