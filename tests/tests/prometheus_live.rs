#![allow(clippy::unwrap_used)]
//! The dashboards and alert rules of `deploy/` against live data: the real `ccpulse demo`
//! (in-process Kafka, simulated traffic) scraped by a real Prometheus every second, with
//! the alert rules loaded. Every PromQL query of every Grafana panel must parse and return
//! data, every metric selector of every alert rule must return series, the rules must
//! evaluate without error, and `promtool check metrics` must accept `/metrics`. A metric
//! renamed in the service, or misspelt in a dashboard or rule, fails here. Some figures are
//! checked for sense too: the service level's colour queries return each group once,
//! agents by state adds up to every agent, the answer rate is the complement of the
//! abandon rate, the per-channel field overrides name the series shown, and a panel
//! sampled at a step of its own (today by 15 minutes) runs as a range query at that step.
//!
//! Needs `prometheus` and `promtool` (Debian package `prometheus`; `tests/run` installs it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ccpulse_tests::prometheus::{
    self as prom, alert_rules, dashboard_queries, unix_now, variables, wait_until, Answer, Http, Process, Prometheus,
    Query, TempDir, DASHBOARDS, RULES,
};
use ccpulse_tests::{ccpulse_bin, free_port, repo_root};
use serde_json::Value as Json;

/// The values of the dashboards' `window` variable. 15m and 1h must give data (the demo
/// backfills 15 minutes at start, and 1h holds them); `today` too once it holds the last
/// 15 minutes (after 00:15 UTC, the default time zone); 5m may legitimately be empty for
/// a ratio in quiet hours, so there only parsing is required and empty answers are notes.
const WINDOWS: [&str; 4] = ["15m", "1h", "today", "5m"];

/// Expressions that may legitimately return nothing in a healthy demo. Each one applies
/// to the expressions of `place` (`<dashboard file>: <panel title>`, or `alert <name>` for
/// the metric selectors of an alert rule) that contain `contains`, and only while
/// `required_when` (with `$window` replaced) returns nothing: then the expression may be
/// empty, and so may the selectors of the metrics in `may_be_absent`; every other
/// selector of it must still return series. When `required_when` returns data, the
/// expression is checked like any other. (For alerts, `$matchers` in `required_when` is
/// replaced by the label matchers of the selector.)
struct Exception {
    place: &'static str,
    contains: &'static str,
    required_when: &'static str,
    may_be_absent: &'static [&'static str],
    reason: &'static str,
}

const EXCEPTIONS: [Exception; 5] = [
    // AHT vs team needs another agent of the team with handled contacts in the window.
    // In quiet hours the demo staffs two agents per team and routing gives the first one
    // every contact, so no agent has a peer to compare with.
    Exception {
        place: "supervisor.json: Agents: AHT and outliers",
        contains: "ccpulse_agent_aht_vs_team_ratio",
        required_when: r#"count by (team) (ccpulse_agent_handled{window="$window"} > 0) > 1"#,
        may_be_absent: &["ccpulse_agent_aht_vs_team_ratio"],
        reason: "no team has two agents with handled contacts in the window",
    },
    Exception {
        place: "supervisor.json: AHT vs team (1 = team mean)",
        contains: "ccpulse_agent_aht_vs_team_ratio",
        required_when: r#"count by (team) (ccpulse_agent_handled{window="$window"} > 0) > 1"#,
        may_be_absent: &["ccpulse_agent_aht_vs_team_ratio"],
        reason: "no team has two agents with handled contacts in the window",
    },
    // A ratio has no sample while its denominator is 0: at night the 15-minute backfill
    // may hold no survey answer.
    Exception {
        place: "wallboard.json: CSAT",
        contains: "ccpulse_channel_csat_ratio",
        required_when: r#"sum by (channel) (ccpulse_channel_csat_responses{window="$window"}) > 0"#,
        may_be_absent: &["ccpulse_channel_csat_ratio"],
        reason: "no CSAT answer in the window",
    },
    Exception {
        place: "wallboard.json: NPS",
        contains: "ccpulse_channel_nps_score",
        required_when: r#"sum by (channel) (ccpulse_channel_nps_responses{window="$window"}) > 0"#,
        may_be_absent: &["ccpulse_channel_nps_score"],
        reason: "no NPS answer in the window",
    },
    // Live figures (no window) exist for the groups of the `today` window: traffic today or
    // contacts waiting now. At night, and above all just after midnight UTC, a channel may
    // have had no contact yet today. `$matchers`: the selector's own label matchers.
    Exception {
        place: "alert CcpulseOldestWaitHigh",
        contains: "ccpulse_oldest_wait_seconds",
        required_when: r#"ccpulse_contacts_offered{window="today", $matchers}"#,
        may_be_absent: &["ccpulse_oldest_wait_seconds"],
        reason: "no contact of this group today yet",
    },
];

/// Panels whose queries split the groups of one figure between them, a query per colour
/// (green, amber, red): any of them may be empty, but together, at every window that
/// must give data, they return each group of `whole` exactly once, with its value.
struct Split {
    place: &'static str,
    whole: &'static str,
}

const SPLITS: [Split; 1] = [Split {
    place: "wallboard.json: Service level against target",
    whole: r#"sum by (channel, policy) (ccpulse_channel_sla_policy_met{channel!="all", window="$window"}) / (sum by (channel, policy) (ccpulse_channel_sla_policy_denominator{channel!="all", window="$window"}) > 0)"#,
}];

// ---------------------------------------------------------------------------- processes

/// Starts `ccpulse demo` and waits until `/readyz` answers 200 and `/metrics` has the
/// KPIs. A new port is tried when the process exits (a port taken in between).
fn start_demo(dir: &Path, http: &Http) -> (Process, String) {
    let bin = ccpulse_bin();
    let mut last = String::new();
    for _ in 0..3 {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(&bin);
        cmd.args(["demo", "--listen", &addr]).current_dir(dir);
        let log = dir.join(format!("demo-{}.log", addr.replace(':', "-")));
        let mut demo = Process::spawn("ccpulse demo", cmd, &log);
        let ready = wait_until(
            "ccpulse demo: GET /readyz 200",
            Duration::from_secs(60),
            &mut [&mut demo],
            || {
                http.get(&format!("http://{addr}/readyz"))
                    .filter(|(status, _)| *status == 200)
            },
        );
        match ready {
            Ok(_) => {
                wait_until(
                    "ccpulse_contacts_offered in /metrics",
                    Duration::from_secs(30),
                    &mut [&mut demo],
                    || {
                        http.get(&format!("http://{addr}/metrics"))
                            .filter(|(status, body)| *status == 200 && body.contains("\nccpulse_contacts_offered{"))
                    },
                )
                .unwrap_or_else(|e| panic!("{e}"));
                return (demo, addr);
            }
            Err(e) => last = e,
        }
    }
    panic!("ccpulse demo did not start:\n{last}")
}

/// `promtool check metrics` on a `/metrics` body: `Err` with its output when it objects.
fn promtool_check_metrics(body: &str) -> Result<(), String> {
    let promtool = prom::tool("promtool").ok_or("no promtool: apt-get install -y prometheus")?;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run promtool: {e}"))?;
    let mut stdin = child.stdin.take().unwrap();
    let body = body.to_owned();
    // Written from another thread: promtool may answer before it has read everything.
    let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

// ---------------------------------------------------------------------------- deploy files

/// The values of the `channel` label in the labels table of `docs/metrics.md`.
fn documented_channels() -> &'static BTreeSet<String> {
    static CHANNELS: OnceLock<BTreeSet<String>> = OnceLock::new();
    CHANNELS.get_or_init(|| {
        let doc = std::fs::read_to_string(repo_root().join("docs/metrics.md")).unwrap();
        let row = doc
            .lines()
            .find(|l| l.starts_with("| `channel` |"))
            .expect("docs/metrics.md: no `channel` row in the labels table");
        let values = row.split('|').nth(2).unwrap();
        values.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    })
}

/// A `channel="…"` or `window="…"` matcher with a value the service never uses: such a
/// selector is empty for the wrong reason, which an exception must not excuse.
fn bad_label_value(instant: &str) -> Option<String> {
    let channels = documented_channels();
    prom::matchers(instant).into_iter().find_map(|(label, op, value)| {
        let known = match (label.as_str(), op.as_str()) {
            ("channel", "=") => channels.contains(&value),
            ("window", "=") => WINDOWS.contains(&value.as_str()),
            _ => true,
        };
        (!known).then(|| format!("{label}=\"{value}\" is not a value of docs/metrics.md"))
    })
}

fn exception_for(place: &str, text: &str) -> Option<&'static Exception> {
    EXCEPTIONS
        .iter()
        .find(|e| e.place == place && text.contains(e.contains))
}

// ---------------------------------------------------------------------------- checks

/// Findings: failures fail the test, notes are printed.
#[derive(Default)]
struct Report {
    failures: Vec<String>,
    notes: Vec<String>,
    checked: usize,
}

impl Report {
    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }
}

/// Checks that every metric selector of `expr` returns series, except `absent_ok` ones.
fn check_selectors(p: &mut Prometheus, report: &mut Report, place: &str, expr: &str, absent_ok: &[&str]) {
    for s in prom::selectors(expr) {
        if absent_ok.contains(&s.name.as_str()) {
            continue;
        }
        let q = s.query();
        if let Some(problem) = bad_label_value(&s.instant) {
            report.fail(format!("{place}: selector `{q}`: {problem}"));
        }
        let a = p.query(&q);
        report.checked += 1;
        if !a.has_data() {
            report.fail(format!(
                "{place}: selector `{q}` (of `{expr}`) returns no series → {}",
                a.describe()
            ));
        }
    }
}

/// One dashboard expression at one window.
fn check_dashboard_expr(
    p: &mut Prometheus,
    report: &mut Report,
    q: &Query,
    window: &str,
    instance: &str,
    strict: bool,
) {
    let tag = if q.expr.contains("$window") {
        format!("{} [window {window}]", q.place)
    } else {
        q.place.clone()
    };
    let expr = match prom::substitute(&q.expr, &variables(window, instance)) {
        Ok(e) => e,
        Err(e) => return report.fail(format!("{tag}: {e}")),
    };
    let a = p.query(&expr);
    report.checked += 1;
    if !a.success() {
        return report.fail(format!("{tag}: `{expr}` does not evaluate → {}", a.describe()));
    }
    if !strict {
        if a.series() == 0 {
            report
                .notes
                .push(format!("{tag}: `{expr}` is empty (not required in this window)"));
        }
        return;
    }
    if SPLITS.iter().any(|s| s.place == q.place) {
        // One colour's share: checked with the others by `check_split`.
        if a.series() == 0 {
            report.notes.push(format!("{tag}: no group of this colour: `{expr}`"));
        }
        return check_selectors(p, report, &tag, &expr, &[]);
    }
    // An exception applies while its condition returns nothing.
    let active = exception_for(&q.place, &q.expr).and_then(|ex| {
        let cond = prom::substitute(ex.required_when, &variables(window, instance)).unwrap();
        let c = p.query(&cond);
        if !c.success() {
            report.fail(format!("{tag}: exception condition `{cond}` fails → {}", c.describe()));
            return None;
        }
        (c.series() == 0).then_some(ex)
    });
    match (a.series(), active) {
        (0, Some(ex)) => report
            .notes
            .push(format!("{tag}: empty as allowed ({}): `{expr}`", ex.reason)),
        (0, None) => report.fail(format!("{tag}: `{expr}` returns no series → {}", a.describe())),
        _ => {}
    }
    check_selectors(p, report, &tag, &expr, active.map_or(&[], |ex| ex.may_be_absent));
}

/// Whether the queries of a window must return data (see [`WINDOWS`]).
fn must_give_data(window: &str, today_covers_15m: bool) -> bool {
    match window {
        "5m" => false,
        "today" => today_covers_15m,
        _ => true,
    }
}

/// The groups of an answer by their labels, with their values.
fn samples(a: &Answer) -> BTreeMap<String, f64> {
    a.json["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let value = s["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
            (s["metric"].to_string(), value)
        })
        .collect()
}

/// A split panel at one window: its queries together return every group of the whole
/// once, with its value, and nothing else.
fn check_split(p: &mut Prometheus, report: &mut Report, split: &Split, queries: &[Query], window: &str) {
    let tag = format!("{} [window {window}]", split.place);
    let vars = variables(window, ".*");
    let whole = p.query(&prom::substitute(split.whole, &vars).unwrap());
    report.checked += 1;
    if !whole.has_data() {
        return report.fail(format!(
            "{tag}: `{}` returns no group → {}",
            split.whole,
            whole.describe()
        ));
    }
    let whole = samples(&whole);
    let mut seen: BTreeMap<String, f64> = BTreeMap::new();
    let parts: Vec<&Query> = queries.iter().filter(|q| q.place == split.place).collect();
    if parts.len() < 2 {
        return report.fail(format!("{tag}: {} queries, not a split", parts.len()));
    }
    for q in parts {
        let a = p.query(&prom::substitute(&q.expr, &vars).unwrap());
        for (group, value) in samples(&a) {
            if seen.insert(group.clone(), value).is_some() {
                report.fail(format!("{tag}: {group} is returned by two of its queries"));
            }
        }
    }
    if seen.len() != whole.len() || seen.iter().any(|(g, v)| whole.get(g) != Some(v)) {
        report.fail(format!(
            "{tag}: its queries return {seen:?}, not every group once: {whole:?}"
        ));
    }
}

/// A series' name as Grafana shows it: the legend with `{{label}}` replaced.
fn legend_name(legend: &str, metric: &Json) -> String {
    let mut out = String::new();
    let mut rest = legend;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        out.push_str(metric[after[..close].trim()].as_str().unwrap_or(""));
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// The `byName` overrides of a panel with a series per channel (the per-channel
/// thresholds) must name the series it shows: at the windows that give data, every series
/// it shows is overridden but the `all` roll-up (left to the defaults on purpose), and
/// some override matches. An override may match nothing while its channel has no data
/// (email's abandon rate early in the demo): a note.
fn check_override_names(p: &mut Prometheus, report: &mut Report, queries: &[Query], today_covers_15m: bool) {
    let mut places: Vec<&str> = queries
        .iter()
        .filter(|q| !q.named_overrides.is_empty() && q.legend.as_deref() == Some("{{channel}}"))
        .map(|q| q.place.as_str())
        .collect();
    places.dedup();
    for place in places {
        let mut shown = BTreeSet::new();
        let mut wanted = BTreeSet::new();
        for q in queries.iter().filter(|q| q.place == place) {
            wanted.extend(q.named_overrides.iter().cloned());
            let Some(legend) = &q.legend else { continue };
            for w in WINDOWS.into_iter().filter(|w| must_give_data(w, today_covers_15m)) {
                let a = p.query(&prom::substitute(&q.expr, &variables(w, ".*")).unwrap());
                for s in a.json["data"]["result"].as_array().into_iter().flatten() {
                    shown.insert(legend_name(legend, &s["metric"]));
                }
            }
        }
        report.checked += 1;
        let unmatched: Vec<&String> = wanted.difference(&shown).collect();
        let defaulted: Vec<&String> = shown.difference(&wanted).filter(|n| *n != "all").collect();
        if !defaulted.is_empty() || unmatched.len() == wanted.len() {
            report.fail(format!(
                "{place}: the series {defaulted:?} have no field override; the overrides {wanted:?} match {:?}",
                wanted.intersection(&shown).collect::<Vec<_>>()
            ));
        } else if !unmatched.is_empty() {
            report.notes.push(format!(
                "{place}: no series for the overrides {unmatched:?} now (shown: {shown:?})"
            ));
        }
    }
}

/// Values of one query as (series name, value), `$window` set.
fn values_of(p: &mut Prometheus, q: &Query, window: &str) -> Vec<(String, f64)> {
    let a = p.query(&prom::substitute(&q.expr, &variables(window, ".*")).unwrap());
    let legend = q.legend.as_deref().unwrap_or("");
    a.json["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let v = s["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
            (legend_name(legend, &s["metric"]), v)
        })
        .collect()
}

/// The wallboard's figures make sense on the demo: agents by state gives the four states,
/// which add up to every agent; the answer rate is a ratio, and the complement of the
/// abandon rate, channel by channel.
fn check_wallboard_figures(p: &mut Prometheus, report: &mut Report, queries: &[Query], today_covers_15m: bool) {
    let of = |title: &str| -> Vec<&Query> {
        queries
            .iter()
            .filter(|q| q.place == format!("wallboard.json: {title}"))
            .collect()
    };
    let agents = of("Agents by state");
    let mut states = Vec::new();
    let mut total = 0.0;
    for q in &agents {
        let v = values_of(p, q, "15m");
        report.checked += 1;
        match v.as_slice() {
            [(name, n)] if *n >= 0.0 => {
                states.push(name.clone());
                total += n;
            }
            other => report.fail(format!("Agents by state: `{}` gives {other:?}, not one count", q.expr)),
        }
    }
    if states != ["Available", "Busy", "ACW", "Away"] {
        report.fail(format!("Agents by state shows {states:?}"));
    }
    let all = p.query("sum(ccpulse_agents)");
    let every_agent: f64 = all.json["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    if total != every_agent || total < 1.0 {
        report.fail(format!(
            "Agents by state adds up to {total}, sum(ccpulse_agents) is {every_agent}"
        ));
    }

    let (answer, abandon) = (of("Answer rate"), of("Abandon rate"));
    assert!(answer.len() == 1 && abandon.len() == 1, "one query each");
    for w in WINDOWS.into_iter().filter(|w| must_give_data(w, today_covers_15m)) {
        let answered = values_of(p, answer[0], w);
        let abandoned: BTreeMap<String, f64> = values_of(p, abandon[0], w).into_iter().collect();
        report.checked += 1;
        if answered.is_empty() {
            report.fail(format!("Answer rate [window {w}]: no channel"));
        }
        for (channel, rate) in answered {
            let complement = abandoned.get(&channel).map(|a| 1.0 - a);
            let agrees = complement.is_some_and(|c| (c - rate).abs() < 1e-9);
            if !(0.0..=1.0).contains(&rate) || !agrees {
                report.fail(format!(
                    "Answer rate [window {w}]: {channel} {rate}, abandon rate {:?}",
                    abandoned.get(&channel)
                ));
            }
        }
    }
}

/// The panels sampled at a step of their own (today by 15 minutes) as Grafana runs them: a
/// range query at that step over the last 2 hours returns series of whole counts and
/// ratios, at most one point per step (9 over 2 hours; the demo's Prometheus holds only
/// its last minute or so).
fn check_sampled_panels(p: &mut Prometheus, report: &mut Report, queries: &[Query]) {
    for q in queries {
        let Some(step) = &q.step else { continue };
        let tag = format!("{} [range, step {step}]", q.place);
        let seconds = match step.strip_suffix('m').and_then(|m| m.parse::<f64>().ok()) {
            Some(minutes) => minutes * 60.0,
            None => return report.fail(format!("{tag}: a step in minutes")),
        };
        let expr = prom::substitute(&q.expr, &variables("15m", ".*")).unwrap();
        let a = p.query_range(&expr, 7200.0, seconds);
        report.checked += 1;
        let series = a.json["data"]["result"].as_array().cloned().unwrap_or_default();
        if !a.success() || a.json["data"]["resultType"] != "matrix" || series.is_empty() {
            report.fail(format!("{tag}: `{expr}` → {}", a.describe()));
            continue;
        }
        for s in series {
            let values: Vec<f64> = s["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v[1].as_str().and_then(|x| x.parse().ok()))
                .collect();
            // Counts are whole numbers; the service level is a ratio.
            let sane = |v: &f64| {
                if q.expr.contains(" / ") {
                    (0.0..=1.0).contains(v)
                } else {
                    *v >= 0.0 && v.fract() == 0.0
                }
            };
            let sane = values.iter().all(sane);
            if values.is_empty() || values.len() > 9 || !sane {
                report.fail(format!("{tag}: `{expr}` gives {values:?}"));
            }
        }
    }
}

/// The dashboards: variable queries, then every target at every window.
fn check_dashboards(p: &mut Prometheus, report: &mut Report, instance_addr: &str, today_covers_15m: bool) -> usize {
    let (queries, vars) = dashboard_queries();
    assert!(queries.len() >= 50, "only {} dashboard queries", queries.len());
    // The variables' `label_values(SELECTOR, label)` queries must find the values to offer.
    let mut instance = String::from(".*");
    for (file, name, selector) in &vars {
        let sel = prom::substitute(selector, &variables("15m", ".*")).unwrap_or_else(|e| panic!("{file}: {e}"));
        let a = p.query(&sel);
        report.checked += 1;
        if !a.has_data() {
            report.fail(format!(
                "{file}: variable ${name}: `{sel}` returns no series → {}",
                a.describe()
            ));
            continue;
        }
        if name == "instance" {
            let found: BTreeSet<&str> = a.json["data"]["result"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["metric"]["instance"].as_str())
                .collect();
            if found.contains(instance_addr) {
                instance = instance_addr.to_owned();
            } else {
                report.fail(format!(
                    "{file}: variable $instance offers {found:?}, not {instance_addr}"
                ));
            }
        }
    }
    for q in &queries {
        let windows: &[&str] = if q.expr.contains("$window") { &WINDOWS } else { &["15m"] };
        for &w in windows {
            check_dashboard_expr(p, report, q, w, &instance, must_give_data(w, today_covers_15m));
        }
    }
    for split in &SPLITS {
        for w in WINDOWS.into_iter().filter(|w| must_give_data(w, today_covers_15m)) {
            check_split(p, report, split, &queries, w);
        }
    }
    check_override_names(p, report, &queries, today_covers_15m);
    check_sampled_panels(p, report, &queries);
    check_wallboard_figures(p, report, &queries, today_covers_15m);
    queries.len()
}

/// The alert rules: each expression evaluates, and each of its metric selectors returns
/// series (an alert that does not fire is an empty answer, so the expression as a whole
/// may be empty).
fn check_alerts(p: &mut Prometheus, report: &mut Report) -> usize {
    let rules = alert_rules();
    assert!(rules.len() >= 8, "only {} alert rules", rules.len());
    for (name, expr) in &rules {
        let place = format!("alert {name}");
        let a = p.query(expr);
        report.checked += 1;
        if !a.success() {
            report.fail(format!("{place}: `{expr}` does not evaluate → {}", a.describe()));
        }
        let sels = prom::selectors(expr);
        if sels.is_empty() {
            report.fail(format!("{place}: no metric selector found in `{expr}`"));
        }
        for s in sels {
            let q = s.query();
            if let Some(problem) = bad_label_value(&s.instant) {
                report.fail(format!("{place}: selector `{q}`: {problem}"));
            }
            let a = p.query(&q);
            report.checked += 1;
            if a.has_data() {
                continue;
            }
            let allowed = exception_for(&place, &s.instant)
                .filter(|ex| ex.may_be_absent.contains(&s.name.as_str()))
                .filter(|ex| {
                    // The condition with the selector's own matchers (`$matchers`).
                    let matchers = s.instant.split_once('{').map_or("", |(_, m)| m.trim_end_matches('}'));
                    let cond = if matchers.trim().is_empty() {
                        ex.required_when.replace(", $matchers", "")
                    } else {
                        ex.required_when.replace("$matchers", matchers)
                    };
                    !p.query(&cond).has_data()
                });
            match allowed {
                Some(ex) => report
                    .notes
                    .push(format!("{place}: `{q}` is empty as allowed ({})", ex.reason)),
                None => report.fail(format!("{place}: selector `{q}` returns no series → {}", a.describe())),
            }
        }
    }
    rules.len()
}

/// Every rule of the file is loaded and evaluates without error.
fn check_rule_health(http: &Http, base: &str, report: &mut Report) {
    let expected: BTreeSet<String> = alert_rules().into_iter().map(|(n, _)| n).collect();
    let Some((200, body)) = http.get(&format!("{base}/api/v1/rules")) else {
        return report.fail("GET /api/v1/rules failed".into());
    };
    let json: Json = serde_json::from_str(&body).unwrap();
    let mut loaded = BTreeSet::new();
    for g in json["data"]["groups"].as_array().into_iter().flatten() {
        for r in g["rules"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or_default().to_owned();
            if r["health"] != "ok" {
                report.fail(format!(
                    "alert {name}: rule health {} after evaluations with data: {}",
                    r["health"], r["lastError"]
                ));
            }
            loaded.insert(name);
        }
    }
    if loaded != expected {
        report.fail(format!(
            "Prometheus loaded the rules {loaded:?}, the file has {expected:?}"
        ));
    }
}

// ---------------------------------------------------------------------------- tests

#[test]
fn dashboards_and_alert_rules_work_on_live_demo_data() {
    let started = Instant::now();
    let http = Http::new();
    let dir = TempDir::new("prometheus-live");

    let (mut demo, addr) = start_demo(dir.path(), &http);
    let mut failures = Vec::new();

    // The exposition as Prometheus's own linter sees it.
    let (_, metrics) = http.get(&format!("http://{addr}/metrics")).unwrap();
    if let Err(e) = promtool_check_metrics(&metrics) {
        failures.push(e);
    }

    let config = prom::config("ccpulse", &[&addr], &[repo_root().join(RULES)]);
    let (mut prometheus, base) = prom::start_server(dir.path(), &config);
    let mut p = Prometheus::new(&base);
    // Samples in, and every query from now on at one instant: 2 s back, so that no scrape
    // still in flight adds samples before it, with the target up at that instant (a failed
    // scrape marks every series stale), the KPIs stored, and enough scrapes for rate() and
    // deriv() (two samples in range; three for margin).
    let now = wait_until(
        "Prometheus: the target up with three scrapes of KPIs",
        Duration::from_secs(30),
        &mut [&mut demo, &mut prometheus],
        || {
            p.at(unix_now() - 2.0);
            let ready = [
                r#"up{job="ccpulse"} == 1"#,
                "ccpulse_contacts_offered",
                r#"count_over_time(ccpulse_ready{job="ccpulse"}[1m]) >= 3"#,
            ]
            .iter()
            .all(|e| p.query(e).has_data());
            ready.then_some(p.time).flatten()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let today_covers_15m = now.rem_euclid(86_400.0) >= 16.0 * 60.0;
    let mut report = Report::default();
    let n_dash = check_dashboards(&mut p, &mut report, &addr, today_covers_15m);
    let n_alerts = check_alerts(&mut p, &mut report);
    check_rule_health(&http, &base, &mut report);
    failures.extend(report.failures);

    if let Some(exit) = demo.exited() {
        failures.push(format!("{exit} during the test\n{}", demo.log_tail(4000)));
    }
    eprintln!(
        "checked {n_dash} dashboard queries and {n_alerts} alert rules ({} Prometheus answers) in {:.1?}",
        report.checked,
        started.elapsed()
    );
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    assert!(
        failures.is_empty(),
        "{} failure(s) against live demo data:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every exception and split names queries that exist: an exception whose `contains` or
/// `may_be_absent` matches nothing (a metric renamed in the dashboards) would never apply,
/// and the live test would fail whenever the demo legitimately has no data there.
#[test]
fn exceptions_and_splits_name_existing_queries() {
    let (queries, _) = dashboard_queries();
    let rules = alert_rules();
    for ex in &EXCEPTIONS {
        let exprs: Vec<&str> = match ex.place.strip_prefix("alert ") {
            Some(name) => rules
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, e)| e.as_str())
                .collect(),
            None => queries
                .iter()
                .filter(|q| q.place == ex.place)
                .map(|q| q.expr.as_str())
                .collect(),
        };
        let matching: Vec<&str> = exprs.into_iter().filter(|e| e.contains(ex.contains)).collect();
        assert!(
            !matching.is_empty(),
            "exception for {}: no query contains `{}`",
            ex.place,
            ex.contains
        );
        for name in ex.may_be_absent {
            assert!(
                matching
                    .iter()
                    .any(|e| prom::selectors(e).iter().any(|s| s.name == *name)),
                "exception for {}: no selector of {name}",
                ex.place
            );
        }
    }
    for split in &SPLITS {
        let n = queries.iter().filter(|q| q.place == split.place).count();
        assert!(n >= 2, "split {}: {n} queries", split.place);
    }
}

#[test]
fn metric_selectors_of_promql_expressions() {
    let names = |e: &str| -> Vec<String> { prom::selectors(e).into_iter().map(|s| s.query()).collect() };
    assert_eq!(
        names(
            r#"sum by (channel) (ccpulse_channel_sla_numerator{window="15m"}) / (sum by (channel) (ccpulse_channel_sla_denominator{window="15m"}) > 0)"#
        ),
        [
            r#"ccpulse_channel_sla_numerator{window="15m"}"#,
            r#"ccpulse_channel_sla_denominator{window="15m"}"#
        ]
    );
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (le) (rate(ccpulse_tick_duration_seconds_bucket{instance=~".*"}[5m])))"#
        ),
        [r#"rate(ccpulse_tick_duration_seconds_bucket{instance=~".*"}[5m])"#]
    );
    assert_eq!(
        names("(sum by (job, instance) (rate(ccpulse_events_ingested_total[5m])) or 0 * ccpulse_ready) == 0 and on (job, instance) (ccpulse_ready == 1)"),
        ["rate(ccpulse_events_ingested_total[5m])", "ccpulse_ready", "ccpulse_ready"]
    );
    assert_eq!(
        names(r#"count(max by (agent, team) (ccpulse_agent_outlier{window="5m", team=~"a|b"}) == 1) or vector(0)"#),
        [r#"ccpulse_agent_outlier{window="5m", team=~"a|b"}"#]
    );
    assert_eq!(names(r#"up{job="ccpulse"} == 0"#), [r#"up{job="ccpulse"}"#]);
    assert_eq!(
        names(r#"x{a="}) or y"} offset 5m unless on (a) group_left (b) max_over_time(z[1h:1m])"#),
        [r#"x{a="}) or y"}"#, "max_over_time(z[1h:1m])"]
    );
    assert_eq!(
        prom::substitute(
            r#"rate(m{i=~"$instance", w="${window}"}[$__rate_interval])"#,
            &variables("1h", ".*")
        ),
        Ok(r#"rate(m{i=~".*", w="1h"}[1m])"#.to_owned())
    );
    assert!(prom::substitute("m{team=~\"$unknown\"}", &variables("1h", ".*")).is_err());
    assert_eq!(
        prom::matchers(r#"m{queue!="", channel = "chat",team=~"a|b"}"#),
        [("queue", "!=", ""), ("channel", "=", "chat"), ("team", "=~", "a|b")].map(|(l, o, v)| (
            l.into(),
            o.into(),
            v.into()
        ))
    );
    assert_eq!(bad_label_value(r#"m{channel="voice", window="15m"}"#), None);
    assert!(bad_label_value(r#"m{channel="Chat", queue!=""}"#).is_some());
    assert!(bad_label_value(r#"m{window="15min"}"#).is_some());
    assert!(documented_channels().contains("all"));
}

/// Every exception names a panel or alert that exists and an expression text it holds,
/// so that renaming a metric cannot leave an exception that excuses nothing (and a
/// healthy night-time demo failing for no reason).
#[test]
fn every_exception_applies_to_an_expression() {
    fn panels(v: &Json, file: &str, out: &mut Vec<(String, String)>) {
        if let (Some(title), Some(targets)) = (v["title"].as_str(), v["targets"].as_array()) {
            for t in targets {
                if let Some(e) = t["expr"].as_str() {
                    out.push((format!("{file}: {title}"), e.to_owned()));
                }
            }
        }
        for child in ["panels", "rows"] {
            for p in v[child].as_array().into_iter().flatten() {
                panels(p, file, out);
            }
        }
    }
    let mut exprs: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(repo_root().join(DASHBOARDS)).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let v: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        panels(&v, &file, &mut exprs);
    }
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join(RULES)).unwrap()).unwrap();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            if let (Some(name), Some(expr)) = (rule["alert"].as_str(), rule["expr"].as_str()) {
                exprs.push((format!("alert {name}"), expr.to_owned()));
            }
        }
    }
    for e in &EXCEPTIONS {
        assert!(
            exprs
                .iter()
                .any(|(place, expr)| place == e.place && expr.contains(e.contains)),
            "the exception for {:?} ({:?}) applies to no expression",
            e.place,
            e.contains
        );
    }
}
