//! Prometheus right with one or with many instances (docs/metrics.md, "One rule for one
//! or many instances"): one Tansu broker, the contract topics with six partitions and a
//! fixed stream of traffic in them, read by the real `ccpulse serve` twice over: by one
//! instance alone (consumer group A) and by three instances that split the partitions
//! (consumer group B, with a partials topic of its own). A real Prometheus scrapes the
//! single instance, another the three. Every query of every Grafana dashboard, at every
//! value of the dashboards' `window` variable, and every alert rule's expression must
//! give the same figures on both: the same series (the `instance` and `job` labels
//! aside) with the same values. The queries that legitimately differ, the ones about
//! each process rather than the contact centre, are listed in [`DIFFERS`] with why.
//!
//! The event clock keeps the figures still: every instance's "now" is the newest event
//! time of the whole view, so that the windows do not move while the test runs.
//!
//! Needs `tansu` and `prometheus` (`tests/run` installs both).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccpulse_tests::kafka::produce;
use ccpulse_tests::prometheus::{
    self as prom, alert_rules, custom_variable_values, dashboard_queries, unix_now, variables, wait_until, Answer,
    Process, Prometheus,
};
use ccpulse_tests::tansu::{scratch_dir, sum_of, value_of, Broker, Service, PARTIALS_TOPIC};
use serde_json::Value as Json;

const PARTITIONS: u32 = 6;
/// About 32 minutes of simulated traffic at this time of day (22 500 messages an hour),
/// so that the 5m, 15m and 1h windows and today all hold different figures.
const MESSAGES: usize = 12_000;
/// The partials topic of the three instances. Records there are keyed by partition
/// number: two consumer groups sharing one would take each other's records for their own.
const PARTIALS_THREE: &str = "cc.partials.three";

/// Queries that legitimately give different answers with one and with three instances:
/// the ones about each process (one series per scraped instance, its own timings), not
/// about the contact centre. Each applies to the expressions of `place` (`<dashboard
/// file>: <panel title>`, or `alert <name>`) that contain `contains`; such an
/// expression must still evaluate on both, but its answers are not compared.
struct Differs {
    place: &'static str,
    contains: &'static str,
    reason: &'static str,
}

const DIFFERS: [Differs; 9] = [
    Differs {
        place: "health.json: Up",
        contains: "up{",
        reason: "one series per scraped instance",
    },
    Differs {
        place: "health.json: Ready",
        contains: "ccpulse_ready",
        reason: "one series per scraped instance",
    },
    Differs {
        place: "health.json: Partitions",
        contains: "sum(ccpulse_ready",
        reason: "counts the ready instances: 1 against 3",
    },
    Differs {
        place: "health.json: Partitions",
        contains: "ccpulse_standby_partitions",
        reason: "standby replicas: each instance keeps those it does not hold (none alone, 4 each of three), warming up at its own pace",
    },
    Differs {
        place: "alert CcpulseStandbyNotWarm",
        contains: "ccpulse_standby_partitions_replaying",
        reason: "judged per instance: replicas exist only beside other instances, and warm up at each one's pace",
    },
    Differs {
        place: "health.json: Snapshot age",
        contains: "ccpulse_snapshot_age_seconds",
        reason: "the wall-clock age of each process's snapshot when scraped",
    },
    Differs {
        place: "health.json: Snapshot age and event lag",
        contains: "max by (instance)",
        reason: "one series per scraped instance, and wall-clock ages",
    },
    Differs {
        place: "health.json: Publisher tick duration",
        contains: "ccpulse_tick_duration_seconds",
        reason: "each process's own tick timings",
    },
    // A fixed stream: once it is read, every instance that holds partitions reads
    // nothing more, and the alert (rightly) fires for each one of them.
    Differs {
        place: "alert CcpulseIngestStalled",
        contains: "ccpulse_events_ingested_total",
        reason: "judged per instance (`by (job, instance)`): one series per idle instance",
    },
];

/// One expression to evaluate on both Prometheus servers.
struct Expr {
    /// Where it is, with the window: for messages.
    tag: String,
    /// `<dashboard file>: <panel title>` or `alert <name>`.
    place: String,
    /// As written in the dashboard or the rule file.
    raw: String,
    /// With the template variables replaced.
    expr: String,
}

/// Every dashboard query at every window the dashboards offer (once when it has no
/// `$window`), and every alert rule's expression.
fn expressions() -> Vec<Expr> {
    let windows = custom_variable_values("window");
    for w in ["15m", "1h"] {
        assert!(
            windows.iter().any(|v| v == w),
            "the dashboards' window variable offers {windows:?}, not {w}"
        );
    }
    let (queries, _) = dashboard_queries();
    assert!(queries.len() >= 50, "only {} dashboard queries", queries.len());
    let mut out = Vec::new();
    for q in queries {
        let ws: Vec<&str> = if q.expr.contains("$window") {
            windows.iter().map(String::as_str).collect()
        } else {
            vec!["15m"]
        };
        for w in ws {
            let expr = prom::substitute(&q.expr, &variables(w, ".*")).unwrap_or_else(|e| panic!("{}: {e}", q.place));
            let tag = if q.expr.contains("$window") {
                format!("{} [window {w}]", q.place)
            } else {
                q.place.clone()
            };
            out.push(Expr {
                tag,
                place: q.place.clone(),
                raw: q.expr.clone(),
                expr,
            });
        }
    }
    let rules = alert_rules();
    assert!(rules.len() >= 8, "only {} alert rules", rules.len());
    for (name, expr) in rules {
        out.push(Expr {
            tag: format!("alert {name}"),
            place: format!("alert {name}"),
            raw: expr.clone(),
            expr,
        });
    }
    out
}

fn differs_for(place: &str, raw: &str) -> Option<&'static Differs> {
    DIFFERS.iter().find(|d| d.place == place && raw.contains(d.contains))
}

/// The series of an answer by their labels without `instance` and `job`, each with its
/// values (several when series differ only by those labels), sorted. A scalar is the
/// series `{}`.
fn groups(a: &Answer) -> BTreeMap<String, Vec<f64>> {
    let parse = |v: &Json| v[1].as_str().and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    if a.json["data"]["resultType"] == "scalar" {
        out.insert("{}".into(), vec![parse(&a.json["data"]["result"])]);
        return out;
    }
    for s in a.json["data"]["result"].as_array().into_iter().flatten() {
        let mut labels = s["metric"].as_object().cloned().unwrap_or_default();
        labels.remove("instance");
        labels.remove("job");
        out.entry(Json::Object(labels).to_string())
            .or_default()
            .push(parse(&s["value"]));
    }
    for v in out.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    out
}

/// Equal within float rounding (sums taken in another order, ratios of parts).
fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9_f64.max(1e-9 * a.abs().max(b.abs()))
}

/// `None` when the answers hold the same series with the same values, else what differs.
fn difference(one: &Answer, three: &Answer) -> Option<String> {
    let (g1, g3) = (groups(one), groups(three));
    let mut out = Vec::new();
    for (labels, v1) in &g1 {
        match g3.get(labels) {
            None => out.push(format!("{labels} = {v1:?} with one instance, absent with three")),
            Some(v3) if v1.len() != v3.len() || v1.iter().zip(v3).any(|(a, b)| !close(*a, *b)) => {
                out.push(format!("{labels} = {v1:?} with one instance, {v3:?} with three"));
            }
            Some(_) => {}
        }
    }
    for (labels, v3) in &g3 {
        if !g1.contains_key(labels) {
            out.push(format!("{labels} = {v3:?} with three instances, absent with one"));
        }
    }
    (!out.is_empty()).then(|| {
        let n = out.len();
        out.truncate(5);
        format!(
            "{}{}",
            out.join("; "),
            if n > 5 {
                format!(" (and {} more)", n - 5)
            } else {
                String::new()
            }
        )
    })
}

/// What one comparison of every expression found.
#[derive(Default)]
struct Outcome {
    compared: usize,
    with_data: usize,
    excepted: usize,
    failures: Vec<String>,
}

/// Every expression on both servers, at their evaluation times.
fn compare(one: &mut Prometheus, three: &mut Prometheus, exprs: &[Expr]) -> Outcome {
    let mut o = Outcome::default();
    for e in exprs {
        let (a1, a3) = (one.query(&e.expr), three.query(&e.expr));
        if !a1.success() || !a3.success() {
            o.failures.push(format!(
                "{}: `{}` does not evaluate: one instance → {}; three → {}",
                e.tag,
                e.expr,
                a1.describe(),
                a3.describe()
            ));
            continue;
        }
        if differs_for(&e.place, &e.raw).is_some() {
            o.excepted += 1;
            continue;
        }
        o.compared += 1;
        if a1.series() > 0 {
            o.with_data += 1;
        }
        if let Some(d) = difference(&a1, &a3) {
            o.failures.push(format!("{}: `{}`: {d}", e.tag, e.expr));
        }
    }
    o
}

// ---------------------------------------------------------------------------- the cluster

fn held(m: &[ccpulse_tests::tansu::Sample]) -> (f64, f64) {
    (
        value_of(m, "ccpulse_partitions_assigned").unwrap_or(0.0),
        value_of(m, "ccpulse_partitions_replaying").unwrap_or(1.0),
    )
}

/// `None` when `members` split every partition between them, each holding some, all
/// ready and none replaying; else what is not so yet.
fn group_state(members: &[Service]) -> Option<String> {
    let mut problems = Vec::new();
    let mut sum = 0.0;
    for (i, m) in members.iter().enumerate() {
        let (h, r) = held(&m.metrics());
        sum += h;
        if m.status("/readyz") != 200 || h == 0.0 || r != 0.0 {
            problems.push(format!(
                "member {i}: /readyz {}, holds {h}, replaying {r}",
                m.status("/readyz")
            ));
        }
    }
    if sum != f64::from(PARTITIONS) {
        problems.push(format!("the members hold {sum} partitions"));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// [`group_state`] of the single instance and of the three.
fn cluster_state(alone: &Service, members: &[Service]) -> Option<String> {
    let problems: Vec<String> = [
        group_state(std::slice::from_ref(alone)).map(|p| format!("alone: {p}")),
        group_state(members).map(|p| format!("three: {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Waits until [`group_state`] of `members` is good; panics with their logs after
/// `timeout`.
fn wait_group(members: &mut [Service], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for m in members.iter_mut() {
        m.wait_ready(deadline.saturating_duration_since(Instant::now()));
    }
    loop {
        let Some(problem) = group_state(members) else {
            return;
        };
        assert!(
            Instant::now() < deadline,
            "{} instance(s) did not settle in {timeout:?}: {problem}\n{}",
            members.len(),
            members
                .iter()
                .enumerate()
                .map(|(i, m)| format!("--- member {i}:\n{}", m.log_tail()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A Prometheus scraping `targets` every second as job `ccpulse`, with the alert rules,
/// its files in `dir`.
fn start_prometheus(dir: &Path, targets: &[String]) -> (Process, Prometheus) {
    std::fs::create_dir_all(dir).unwrap();
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let config = prom::config("ccpulse", &targets, &[ccpulse_tests::repo_root().join(prom::RULES)]);
    let (process, base) = prom::start_server(dir, &config);
    (process, Prometheus::new(&base))
}

/// Whether `p`, at its evaluation time, has every one of its `n` targets up with at
/// least three scrapes in the last minute (two samples for `rate()`, one for margin).
fn scraped(p: &mut Prometheus, n: usize) -> bool {
    [
        format!(r#"count(up{{job="ccpulse"}} == 1) == {n}"#),
        format!(r#"count(count_over_time(ccpulse_build_info{{job="ccpulse"}}[1m]) >= 3) == {n}"#),
    ]
    .iter()
    .all(|e| p.query(e).has_data())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------- tests

#[test]
fn one_and_three_instances_give_prometheus_the_same_figures() {
    let started = Instant::now();
    let dir = scratch_dir("prom-cluster");
    let exprs = expressions();

    let broker = Broker::start(&dir);
    broker.create_contract_topics(PARTITIONS);
    broker.create_topic(PARTIALS_THREE, 1);
    let messages = ccpulse_sim::bulk_ending_before(12, MESSAGES, now_ms() - 60_000, 0)
        .unwrap_or_else(|| panic!("could not place {MESSAGES} simulated messages before now"));
    produce(&broker.bootstrap(), &messages);
    let produced = started.elapsed();

    let cfg = dir.join("three.toml");
    std::fs::write(
        &cfg,
        format!(
            "[kafka]\npartials_topic = {PARTIALS_THREE:?}\n\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n"
        ),
    )
    .unwrap();
    let three_args = ["--config", cfg.to_str().unwrap()];
    let mut alone = Service::start(&dir, &broker.bootstrap(), "prom-one", "event", &[]);
    // The three start together: partitions revoked while they still replay and given
    // back to the same instance resume from their parked engines, at an offset inside a
    // record batch, from which Tansu 0.6.0 answers fetches with nothing. Before the
    // worker read such a queue again from its replay's start (`Worker::unstall`), one
    // member stayed "partition 0 replaying" for ever in four runs out of four.
    let mut members: Vec<Service> = (0..3)
        .map(|_| Service::start(&dir, &broker.bootstrap(), "prom-three", "event", &three_args))
        .collect();
    wait_group(&mut members, Duration::from_secs(90));
    let resumes: Vec<(f64, f64)> = members
        .iter()
        .map(|m| {
            let s = m.metrics();
            (
                sum_of(&s, "ccpulse_partitions_resumed_total"),
                sum_of(&s, "ccpulse_resume_stalls_total"),
            )
        })
        .collect();
    eprintln!("the three members' (partitions resumed, resumed fetches that stalled): {resumes:?}");
    wait_group(std::slice::from_mut(&mut alone), Duration::from_secs(30));
    let settled = started.elapsed();
    eprintln!(
        "{} messages produced to {PARTITIONS} partitions; one instance alone (partials topic {PARTIALS_TOPIC}) \
         and three (partials topic {PARTIALS_THREE}) ready after {settled:.1?}",
        messages.len()
    );

    let (mut p1_process, mut p1) = start_prometheus(&dir.join("prometheus-one"), &[alone.http_addr()]);
    let member_addrs: Vec<String> = members.iter().map(Service::http_addr).collect();
    let (mut p3_process, mut p3) = start_prometheus(&dir.join("prometheus-three"), &member_addrs);

    // Every query on both servers at one instant: 2 s back, so that no scrape still in
    // flight adds samples before it. Rebalances may come late (a member's session):
    // the comparison is repeated, on later scrapes, until it holds or the deadline.
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut rounds = 0;
    let outcome = loop {
        let t = wait_until(
            "both Prometheus servers: every target up with three scrapes",
            Duration::from_secs(30),
            &mut [&mut p1_process, &mut p3_process],
            || {
                let t = unix_now() - 2.0;
                p1.at(t);
                p3.at(t);
                (scraped(&mut p1, 1) && scraped(&mut p3, 3)).then_some(t)
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        rounds += 1;
        let outcome = compare(&mut p1, &mut p3, &exprs);
        let state = cluster_state(&alone, &members);
        if outcome.failures.is_empty() && state.is_none() {
            break outcome;
        }
        if Instant::now() >= deadline {
            panic!(
                "{} of {} queries differ between one instance and three (at {t:.3}; cluster: {}):\n\n{}",
                outcome.failures.len(),
                outcome.compared,
                state.as_deref().unwrap_or("settled"),
                outcome.failures.join("\n\n")
            );
        }
        eprintln!(
            "round {rounds}: {} difference(s), cluster {}; comparing again on later scrapes",
            outcome.failures.len(),
            state.as_deref().unwrap_or("settled")
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    eprintln!(
        "compared {} queries ({} with data, {} per-process ones not compared) between one instance and three \
         in {rounds} round(s); {:.1?} in all ({produced:.1?} producing, {settled:.1?} until the instances were ready)",
        outcome.compared,
        outcome.with_data,
        outcome.excepted,
        started.elapsed()
    );
    // Not vacuous: most queries have data (a ratio may be empty in a 5-minute window, a
    // breach or an alert absent).
    assert!(
        outcome.with_data * 4 >= outcome.compared * 3,
        "only {} of {} compared queries returned data",
        outcome.with_data,
        outcome.compared
    );
}

/// Every exception applies to at least one expression: one that matches nothing (a panel
/// renamed) would excuse nothing and hide that the list is out of date.
#[test]
fn every_exception_applies_to_an_expression() {
    let exprs = expressions();
    for d in &DIFFERS {
        assert!(
            exprs.iter().any(|e| e.place == d.place && e.raw.contains(d.contains)),
            "the exception for {:?} ({:?}: {}) applies to no expression",
            d.place,
            d.contains,
            d.reason
        );
    }
}

#[test]
fn answers_compare_by_labels_without_instance_and_job() {
    let answer = |result: &str| {
        let body = format!(r#"{{"status":"success","data":{{"resultType":"vector","result":{result}}}}}"#);
        Answer {
            http: 200,
            json: serde_json::from_str(&body).unwrap(),
            body,
        }
    };
    let one = answer(r#"[{"metric":{"channel":"voice","instance":"a:1","job":"ccpulse"},"value":[1,"0.3"]}]"#);
    let three = answer(
        r#"[{"metric":{"channel":"voice","instance":"b:2","job":"ccpulse"},"value":[1,"0.30000000000000004"]}]"#,
    );
    assert_eq!(difference(&one, &three), None);
    let other = answer(r#"[{"metric":{"channel":"voice","instance":"b:2"},"value":[1,"0.31"]}]"#);
    assert!(difference(&one, &other).is_some());
    let twice = answer(
        r#"[{"metric":{"channel":"voice","instance":"b:2"},"value":[1,"0.3"]},{"metric":{"channel":"voice","instance":"c:3"},"value":[1,"0.3"]}]"#,
    );
    assert!(
        difference(&one, &twice).is_some(),
        "one series per instance is not one series"
    );
    assert!(difference(&one, &answer("[]")).is_some());
    let scalar = |v: &str| {
        let body = format!(r#"{{"status":"success","data":{{"resultType":"scalar","result":[1,"{v}"]}}}}"#);
        Answer {
            http: 200,
            json: serde_json::from_str(&body).unwrap(),
            body,
        }
    };
    assert_eq!(difference(&scalar("2"), &scalar("2")), None);
    assert!(difference(&scalar("2"), &scalar("3")).is_some());
}
