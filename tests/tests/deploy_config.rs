#![allow(clippy::unwrap_used)]
//! Checks of the deploy assets that need no Docker: `docker-compose.yml`, the Dockerfile,
//! `deploy/` (Prometheus, Alertmanager, Grafana, Kafka topic script) against each other
//! and against the metrics contract in `docs/metrics.md`, plus `deploy/check.sh`
//! (promtool and amtool).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const SERVICES: [&str; 8] = [
    "kafka",
    "kafka-init",
    "ccpulse",
    "simulator",
    "prometheus",
    "alertmanager",
    "grafana",
    "alert-receiver",
];
const EVENT_TOPICS: [&str; 5] = ["cc.voice", "cc.chat", "cc.email", "cc.surveys", "cc.agents"];
const ALERTS: [&str; 13] = [
    "CcpulseSlaBreached",
    "CcpulseSlaAtRisk",
    "CcpulseOldestWaitHigh",
    "CcpulseAbandonRateHigh",
    "CcpulseUnderstaffed",
    "CcpulseNoData",
    "CcpulseViewIncomplete",
    "CcpulseViewStale",
    "CcpulseStandbyNotWarm",
    "CcpulseIngestStalled",
    "CcpulseConsumerLagGrowing",
    "CcpulseSnapshotStale",
    "CcpulseDown",
];
const DASHBOARDS: [(&str, &str); 3] = [
    ("wallboard.json", "ccpulse-wallboard"),
    ("supervisor.json", "ccpulse-supervisor"),
    ("health.json", "ccpulse-health"),
];
const WINDOWS: [&str; 4] = ["5m", "15m", "1h", "today"];

// ---------------------------------------------------------------------------- helpers

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(rel: &str) -> Yaml {
    serde_yaml::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

fn compose() -> Yaml {
    yaml("docker-compose.yml")
}

fn service<'a>(compose: &'a Yaml, name: &str) -> &'a Yaml {
    let s = &compose["services"][name];
    assert!(s.is_mapping(), "docker-compose.yml has no service `{name}`");
    s
}

fn scalar(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => panic!("expected a scalar, got {other:?}"),
    }
}

/// A command, entrypoint or healthcheck test, as words (list form or shell string).
fn words(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::Sequence(items) => items.iter().map(scalar).collect(),
        Yaml::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Yaml::Null => Vec::new(),
        other => panic!("expected a command, got {other:?}"),
    }
}

/// The value that follows `flag` in a command (`--brokers kafka:9092` or `--brokers=kafka:9092`).
fn flag_value(cmd: &[String], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    cmd.iter().enumerate().find_map(|(i, w)| {
        if w == flag {
            cmd.get(i + 1).cloned()
        } else {
            w.strip_prefix(&prefix).map(str::to_owned)
        }
    })
}

fn env_of(svc: &Yaml) -> BTreeMap<String, String> {
    match &svc["environment"] {
        Yaml::Mapping(m) => m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Yaml::Sequence(items) => items
            .iter()
            .map(|i| {
                let s = scalar(i);
                let (k, v) = s.split_once('=').unwrap_or((&s, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        Yaml::Null => BTreeMap::new(),
        other => panic!("unexpected environment {other:?}"),
    }
}

/// Ports a service listens on inside the compose network: the container side of `ports`,
/// `expose`, and a `PORT` environment variable.
fn container_ports(svc: &Yaml) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for key in ["ports", "expose"] {
        if let Some(items) = svc[key].as_sequence() {
            for p in items {
                let p = scalar(p);
                let container = p.rsplit(':').next().unwrap().trim_end_matches("/tcp");
                ports.insert(container.parse().unwrap_or_else(|_| panic!("bad port `{p}`")));
            }
        }
    }
    if let Some(p) = env_of(svc).get("PORT") {
        ports.insert(p.parse().unwrap());
    }
    ports
}

/// Published ports as (host, container).
fn published_ports(svc: &Yaml) -> BTreeSet<(u16, u16)> {
    svc["ports"]
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|p| {
                    let p = scalar(p);
                    let parts: Vec<&str> = p.split(':').collect();
                    assert!(parts.len() >= 2, "port `{p}` should be HOST:CONTAINER");
                    let host = parts[parts.len() - 2].parse().unwrap();
                    let container = parts[parts.len() - 1].trim_end_matches("/tcp").parse().unwrap();
                    (host, container)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Bind mounts of a service: (host path relative to the repository, container path).
fn bind_mounts(svc: &Yaml) -> Vec<(String, String)> {
    let mut mounts = Vec::new();
    for v in svc["volumes"].as_sequence().into_iter().flatten() {
        let (source, target) = match v {
            Yaml::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                assert!(parts.len() >= 2, "volume `{s}` should be SOURCE:TARGET[:MODE]");
                (parts[0].to_owned(), parts[1].to_owned())
            }
            Yaml::Mapping(_) => (scalar(&v["source"]), scalar(&v["target"])),
            other => panic!("unexpected volume {other:?}"),
        };
        if source.starts_with('.') || source.starts_with('/') {
            mounts.push((source, target));
        }
    }
    mounts
}

/// The host path behind a path inside a service's container, through its bind mounts.
fn host_path(compose: &Yaml, service_name: &str, container_path: &str) -> PathBuf {
    let svc = service(compose, service_name);
    for (source, target) in bind_mounts(svc) {
        let target = target.trim_end_matches('/');
        if let Some(rest) = container_path.strip_prefix(target) {
            if rest.is_empty() || rest.starts_with('/') {
                return root().join(source).join(rest.trim_start_matches('/'));
            }
        }
    }
    panic!("`{container_path}` of service {service_name} is not under any of its bind mounts")
}

/// (host, port) of a `http://host:port/...` URL or a `host:port` address.
fn host_port(addr: &str) -> (String, u16) {
    let rest = addr.split_once("://").map_or(addr, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap();
    let (host, port) = hostport
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("`{addr}` has no port"));
    (
        host.to_owned(),
        port.parse().unwrap_or_else(|_| panic!("bad port in `{addr}`")),
    )
}

fn run_check_script() -> &'static Output {
    static OUT: OnceLock<Output> = OnceLock::new();
    OUT.get_or_init(|| {
        Command::new("bash")
            .arg(root().join("deploy/check.sh"))
            .current_dir(root())
            .output()
            .expect("cannot run deploy/check.sh")
    })
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ccpulse-deploy-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `promtool test rules` on generated `promql_expr_test` cases: `series` as
/// (series, values) of `input_series`, each case an expression (Grafana's `$window` as
/// `15m`) and the samples it must return at time 0, as (labels, value): exactly those.
fn promtool_expr_tests(name: &str, series: &[(String, String)], cases: &[(String, Vec<(String, f64)>)]) {
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut yaml =
        String::from("rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n");
    for (s, values) in series {
        yaml.push_str(&format!("      - series: {}\n        values: {}\n", q(s), q(values)));
    }
    yaml.push_str("    promql_expr_test:\n");
    for (expr, samples) in cases {
        let expr = expr.replace("$window", "15m");
        assert!(!expr.contains('$'), "unknown variable in `{expr}`");
        yaml.push_str(&format!(
            "      - expr: {}\n        eval_time: 0m\n        exp_samples:{}\n",
            q(&expr),
            if samples.is_empty() { " []" } else { "" }
        ));
        for (labels, value) in samples {
            yaml.push_str(&format!(
                "          - labels: {}\n            value: {value:?}\n",
                q(labels)
            ));
        }
    }
    let dir = temp_dir(name);
    let file = dir.join(format!("{name}.test.yml"));
    fs::write(&file, &yaml).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (deploy/check.sh installs it)");
    assert!(
        out.status.success(),
        "{name}: the dashboard queries do not give the expected samples:\n{}{}\n{yaml}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
}

/// The expression of the target `ref_id` of a panel.
fn expr_of(panel: &Json, ref_id: &str) -> String {
    panel["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["refId"] == ref_id)
        .and_then(|t| t["expr"].as_str())
        .unwrap_or_else(|| panic!("{:?}: no target {ref_id}", panel["title"]))
        .to_owned()
}

/// `ccpulse_[a-z_]+` tokens with their byte offset (the end of the name).
fn metric_tokens(text: &str) -> Vec<(String, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("ccpulse_") {
        let start = from + pos;
        let mut end = start + "ccpulse_".len();
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let standalone = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        if standalone && end > start + "ccpulse_".len() {
            out.push((text[start..end].to_owned(), end));
        }
        from = end;
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Histogram,
    Summary,
}

#[derive(Debug, Clone, Copy)]
struct MetricDoc {
    windowed: bool,
    kind: Kind,
}

/// The metrics of `docs/metrics.md`: every name in the first cell of a table row, whether
/// it has a `window` label (from the section heading or the row), and whether it is a
/// histogram or a summary.
fn documented_metrics() -> BTreeMap<String, MetricDoc> {
    let doc = read("docs/metrics.md");
    let mut heading = String::new();
    let mut metrics = BTreeMap::new();
    for line in doc.lines() {
        if line.starts_with('#') {
            heading = line.to_owned();
            continue;
        }
        if !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.split('|').collect();
        if cells.len() < 3 {
            continue;
        }
        let rest = cells[2..].join("|");
        for (name, _) in metric_tokens(cells[1]) {
            let doc = MetricDoc {
                windowed: heading.contains("`window`") || rest.contains("`window`"),
                kind: if rest.contains("histogram") {
                    Kind::Histogram
                } else if rest.contains("summary") {
                    Kind::Summary
                } else {
                    Kind::Plain
                },
            };
            metrics.insert(name, doc);
        }
    }
    assert!(
        metrics.len() >= 40,
        "docs/metrics.md: only {} metrics parsed",
        metrics.len()
    );
    metrics
}

/// The documentation of a series name: the metric itself, or the `_bucket` series of a
/// histogram, or the `_sum` and `_count` series of a histogram or summary.
fn metric_doc(name: &str, docs: &BTreeMap<String, MetricDoc>) -> Option<MetricDoc> {
    if let Some(d) = docs.get(name) {
        return Some(*d);
    }
    // The channel roll-ups: `ccpulse_channel_X` for every group metric `ccpulse_X`.
    if let Some(rest) = name.strip_prefix("ccpulse_channel_") {
        return metric_doc(&format!("ccpulse_{rest}"), docs);
    }
    [
        ("_bucket", &[Kind::Histogram][..]),
        ("_sum", &[Kind::Histogram, Kind::Summary][..]),
        ("_count", &[Kind::Histogram, Kind::Summary][..]),
    ]
    .iter()
    .find_map(|(suffix, kinds)| {
        let d = docs.get(name.strip_suffix(suffix)?)?;
        kinds.contains(&d.kind).then_some(*d)
    })
}

fn is_documented(name: &str, docs: &BTreeMap<String, MetricDoc>) -> bool {
    metric_doc(name, docs).is_some()
}

/// The label selector right after a metric name ending at `end`, if any.
fn selector_after(expr: &str, end: usize) -> Option<&str> {
    let rest = &expr[end..];
    let rest = rest.strip_prefix('{')?;
    let close = rest.find('}')?;
    Some(&rest[..close])
}

/// GitHub's anchor for a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn readme_anchors() -> BTreeSet<String> {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in read("deploy/README.md").lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code && line.starts_with('#') {
            anchors.insert(slug(line.trim_start_matches('#')));
        }
    }
    anchors
}

struct Dashboard {
    file: String,
    json: Json,
}

fn dashboards() -> Vec<Dashboard> {
    let dir = root().join("deploy/grafana/dashboards");
    let mut out: Vec<Dashboard> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            let json = serde_json::from_str(&fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{file} is not valid JSON: {e}"));
            Dashboard { file, json }
        })
        .collect();
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// Every panel, rows' nested panels included.
fn panels(d: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// Every PromQL query of a dashboard: panel targets, and the selectors of template
/// variable queries (`label_values(SELECTOR, label)`). (where, expr)
fn dashboard_queries(d: &Dashboard) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(&d.json) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((format!("{} panel {:?}", d.file, p["title"]), e.to_owned()));
            }
        }
    }
    for v in d.json["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] == "query" {
            let q = v["query"]["query"].as_str().or(v["query"].as_str()).unwrap();
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map(|(sel, _)| sel.to_owned())
                .unwrap_or_else(|| q.to_owned());
            out.push((format!("{} variable {}", d.file, v["name"]), inner));
        }
    }
    out
}

/// The window a panel is sampled at, when its `interval` (Grafana's minimum step) is one of
/// the sliding windows: `place` as [`dashboard_queries`] names it.
fn sampled_window(d: &Dashboard, place: &str) -> Option<String> {
    panels(&d.json)
        .into_iter()
        .find(|p| format!("{} panel {:?}", d.file, p["title"]) == place)
        .and_then(|p| p["interval"].as_str())
        .filter(|w| WINDOWS.contains(w) && *w != "today")
        .map(str::to_owned)
}

/// The datasource of every panel, target and query variable: the dashboard's `datasource`
/// variable, so that a dashboard imported into any Grafana queries the Prometheus chosen
/// there (the default one unless another is picked), without editing.
fn prometheus_variable() -> Json {
    serde_json::json!({"type": "prometheus", "uid": "${datasource}"})
}

/// Every `datasource` value of a JSON tree, with its path (`panels[3].targets[0]`).
fn datasource_refs<'a>(node: &'a Json, path: &str, out: &mut Vec<(String, &'a Json)>) {
    match node {
        Json::Object(map) => {
            for (k, v) in map {
                let here = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k == "datasource" {
                    out.push((here.clone(), v));
                }
                datasource_refs(v, &here, out);
            }
        }
        Json::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                datasource_refs(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn dashboard(file: &str) -> Dashboard {
    dashboards()
        .into_iter()
        .find(|d| d.file == file)
        .unwrap_or_else(|| panic!("no dashboard {file}"))
}

fn panel_titled<'a>(d: &'a Dashboard, title: &str) -> &'a Json {
    let found: Vec<&Json> = panels(&d.json).into_iter().filter(|p| p["title"] == title).collect();
    assert_eq!(found.len(), 1, "{}: panels titled {title:?}", d.file);
    found[0]
}

/// Threshold steps as (colour, from); the base step has no `from`.
fn steps(thresholds: &Json) -> Vec<(String, Option<f64>)> {
    assert_eq!(thresholds["mode"], "absolute", "thresholds {thresholds}");
    thresholds["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["color"].as_str().unwrap().to_owned(), s["value"].as_f64()))
        .collect()
}

/// The threshold steps a panel applies to the series named `name`: those of its `byName`
/// override for it, else its defaults.
fn thresholds_for(panel: &Json, name: &str) -> Vec<(String, Option<f64>)> {
    let overridden = panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["matcher"]["id"] == "byName" && o["matcher"]["options"] == name)
        .flat_map(|o| o["properties"].as_array().unwrap())
        .find(|p| p["id"] == "thresholds");
    steps(overridden.map_or(&panel["fieldConfig"]["defaults"]["thresholds"], |p| &p["value"]))
}

fn has_window_variable(d: &Json) -> bool {
    d["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| v["name"] == "window")
}

/// The alerting rules of every rule file.
fn alert_rules() -> Vec<Yaml> {
    let mut out = Vec::new();
    let dir = root().join("deploy/prometheus/rules");
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rules: Yaml = serde_yaml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        for group in rules["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                if rule["alert"].is_string() {
                    out.push(rule.clone());
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------- compose

#[test]
fn compose_defines_the_stack() {
    let c = compose();
    let names: BTreeSet<String> = c["services"]
        .as_mapping()
        .expect("services")
        .keys()
        .map(scalar)
        .collect();
    for s in SERVICES {
        assert!(names.contains(s), "service {s} missing; services: {names:?}");
    }

    let kafka = service(&c, "kafka");
    assert!(
        scalar(&kafka["image"]).starts_with("apache/kafka:"),
        "real Apache Kafka image"
    );
    let kenv = env_of(kafka);
    assert!(kenv["KAFKA_PROCESS_ROLES"].contains("controller"), "KRaft single node");
    assert!(kenv["KAFKA_ADVERTISED_LISTENERS"].contains("PLAINTEXT://kafka:9092"));
    assert_eq!(kenv["KAFKA_AUTO_CREATE_TOPICS_ENABLE"], "false");
    assert!(
        !kafka["healthcheck"]["test"].is_null(),
        "kafka needs a healthcheck for kafka-init"
    );

    let init = service(&c, "kafka-init");
    assert_eq!(scalar(&init["depends_on"]["kafka"]["condition"]), "service_healthy");
    let ienv = env_of(init);
    let topics: Vec<&str> = ienv["EVENT_TOPICS"].split_whitespace().collect();
    assert_eq!(topics, EVENT_TOPICS, "kafka-init creates every event topic");
    assert_eq!(ienv["DLQ_TOPIC"], "cc.dlq");
    let partitions: u32 = ienv["PARTITIONS"].parse().unwrap();
    assert!(partitions >= 1);

    let ccpulse = service(&c, "ccpulse");
    let cmd = words(&ccpulse["command"]);
    assert_eq!(
        cmd.first().map(String::as_str),
        Some("serve"),
        "ccpulse runs `serve`: {cmd:?}"
    );
    assert_eq!(flag_value(&cmd, "--brokers").as_deref(), Some("kafka:9092"));
    assert_eq!(flag_value(&cmd, "--listen").as_deref(), Some("0.0.0.0:8080"));
    assert!(published_ports(ccpulse).contains(&(8080, 8080)));
    assert_eq!(
        scalar(&ccpulse["depends_on"]["kafka-init"]["condition"]),
        "service_completed_successfully"
    );
    let health = words(&ccpulse["healthcheck"]["test"]).join(" ");
    assert!(
        health.contains("/readyz"),
        "ccpulse healthcheck must query /readyz: {health}"
    );
    assert_eq!(scalar(&ccpulse["build"]["context"]), ".");

    let sim = service(&c, "simulator");
    let profiles: Vec<String> = words(&sim["profiles"]);
    assert_eq!(profiles, ["sim"], "simulator runs under profile `sim`");
    let cmd = words(&sim["command"]);
    assert_eq!(cmd.first().map(String::as_str), Some("simulate"));
    assert_eq!(flag_value(&cmd, "--brokers").as_deref(), Some("kafka:9092"));
    assert_eq!(flag_value(&cmd, "--rate").as_deref(), Some("20"));
    assert_eq!(
        scalar(&sim["depends_on"]["kafka-init"]["condition"]),
        "service_completed_successfully"
    );
    assert_eq!(sim["image"], ccpulse["image"], "simulator runs the ccpulse image");

    // `docker compose up` with no flags must start the simulator: .env enables the profile.
    let dotenv = read(".env");
    let profiles_line = dotenv
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("COMPOSE_PROFILES="))
        .expect(".env sets COMPOSE_PROFILES");
    assert_eq!(profiles_line, "COMPOSE_PROFILES=sim");

    for (name, image, port) in [
        ("prometheus", "prom/prometheus", 9090),
        ("alertmanager", "prom/alertmanager", 9093),
        ("grafana", "grafana/grafana", 3000),
    ] {
        let svc = service(&c, name);
        assert!(scalar(&svc["image"]).starts_with(image), "{name} image");
        assert!(published_ports(svc).contains(&(port, port)), "{name} publishes {port}");
    }
    let genv = env_of(service(&c, "grafana"));
    assert_eq!(genv["GF_AUTH_ANONYMOUS_ENABLED"], "${GRAFANA_ANONYMOUS:-false}");
    assert_eq!(genv["GF_AUTH_ANONYMOUS_ORG_ROLE"], "Viewer");
}

/// Hardened by default: every published port on the host's loopback unless `.env`
/// opens it, Grafana's admin password from `.env` or generated (never a default),
/// anonymous Grafana off, no Prometheus lifecycle API, Kafka's plaintext listener inside
/// the compose network, and Prometheus scraping ccpulse with a token.
#[test]
fn compose_is_hardened() {
    let c = compose();
    for (name, svc) in c["services"].as_mapping().unwrap() {
        let name = scalar(name);
        for p in svc["ports"].as_sequence().into_iter().flatten() {
            let p = scalar(p);
            assert!(
                p.starts_with("${") && p.contains(":-127.0.0.1}:"),
                "{name} publishes `{p}`: loopback by default, an .env value to open it"
            );
        }
    }
    let genv = env_of(service(&c, "grafana"));
    assert!(
        !genv.contains_key("GF_SECURITY_ADMIN_PASSWORD"),
        "no admin password in the compose file"
    );
    assert_eq!(
        genv["GF_SECURITY_ADMIN_PASSWORD__FILE"],
        "/run/ccpulse/grafana-admin-password"
    );
    let dotenv = read(".env");
    assert!(
        !dotenv
            .lines()
            .any(|l| l.trim_start().starts_with("GRAFANA_ADMIN_PASSWORD=")),
        ".env sets no Grafana password"
    );
    let init = read("deploy/secrets/init.sh");
    assert!(init.contains("/dev/urandom") && init.contains("--role metrics"));
    let prom_cmd = words(&service(&c, "prometheus")["command"]);
    assert!(!prom_cmd.iter().any(|a| a.contains("lifecycle")), "{prom_cmd:?}");
    let kenv = env_of(service(&c, "kafka"));
    assert!(kenv["KAFKA_ADVERTISED_LISTENERS"].contains("PLAINTEXT://kafka:9092"));
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let job = prom["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "ccpulse")
        .unwrap();
    assert_eq!(job["authorization"]["type"], "Bearer");
    assert_eq!(
        scalar(&job["authorization"]["credentials_file"]),
        "/run/ccpulse/metrics.token"
    );
    let ccpulse = service(&c, "ccpulse");
    let cmd = words(&ccpulse["command"]);
    let config = flag_value(&cmd, "--config").expect("ccpulse --config");
    assert_eq!(
        host_path(&c, "ccpulse", &config),
        root().join("deploy/ccpulse/ccpulse.toml")
    );
    let toml_text = read("deploy/ccpulse/ccpulse.toml");
    assert!(toml_text.contains("tokens_file = \"/run/ccpulse/tokens.toml\""));
}

#[test]
fn compose_mounts_and_builds_from_existing_files() {
    let c = compose();
    let mut mounts = 0;
    for (name, svc) in c["services"].as_mapping().unwrap() {
        let name = scalar(name);
        for (source, _) in bind_mounts(svc) {
            assert!(
                source.starts_with("./"),
                "{name}: mount `{source}` should be relative to the repository"
            );
            let path = root().join(&source);
            assert!(path.exists(), "{name} mounts {source}, which does not exist");
            mounts += 1;
        }
        if !svc["build"].is_null() {
            let context = root().join(scalar(&svc["build"]["context"]));
            assert!(context.is_dir(), "{name}: build context missing");
            let dockerfile = svc["build"]["dockerfile"].as_str().unwrap_or("Dockerfile");
            assert!(context.join(dockerfile).is_file(), "{name}: {dockerfile} missing");
        }
    }
    assert!(
        mounts >= 5,
        "expected the deploy/ directories to be mounted, found {mounts} mounts"
    );

    let dockerfile = read("Dockerfile");
    let froms: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage build: {froms:?}");
    assert!(froms[0].starts_with("FROM rust:1-bookworm AS builder"));
    assert!(froms[1].starts_with("FROM debian:bookworm-slim"));
    for needle in [
        "cargo build --release --locked -p ccpulse",
        "ca-certificates",
        "ENTRYPOINT [\"ccpulse\"]",
        "CMD [\"serve\"]",
        "EXPOSE 8080",
        "COPY --from=builder",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks `{needle}`");
    }
    let user = dockerfile
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("runtime stage sets a USER");
    assert!(
        !user.contains("root") && user.trim() != "USER 0",
        "non-root user: {user}"
    );
    // The compose healthcheck runs curl inside the image.
    let health = words(&service(&c, "ccpulse")["healthcheck"]["test"]).join(" ");
    if health.contains("curl") {
        let runtime = dockerfile.split("FROM debian:bookworm-slim").nth(1).unwrap();
        assert!(
            runtime.contains("curl"),
            "the runtime image must install curl for the healthcheck"
        );
    }
    let ignore: Vec<String> = read(".dockerignore").lines().map(|l| l.trim().to_owned()).collect();
    for entry in ["target", ".git"] {
        assert!(
            ignore.iter().any(|l| l.trim_end_matches('/') == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

#[test]
fn service_names_and_ports_agree() {
    let c = compose();

    // Prometheus scrapes the ccpulse service on the port it listens on.
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let jobs = prom["scrape_configs"].as_sequence().unwrap();
    let job = jobs
        .iter()
        .find(|j| j["job_name"] == "ccpulse")
        .expect("scrape job `ccpulse` (CcpulseDown selects on it)");
    let targets: Vec<String> = job["static_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|sc| sc["targets"].as_sequence().unwrap().iter().map(scalar))
        .collect();
    assert_eq!(targets.len(), 1, "one ccpulse in the compose stack: {targets:?}");
    let (host, port) = host_port(&targets[0]);
    assert_eq!(host, "ccpulse", "scrape target must be the compose service name");
    let ccpulse = service(&c, &host);
    let listen = flag_value(&words(&ccpulse["command"]), "--listen").unwrap();
    assert_eq!(
        host_port(&listen).1,
        port,
        "ccpulse listens on {listen}, scraped on {port}"
    );
    assert!(container_ports(ccpulse).contains(&port));
    assert_eq!(scalar(&job["scrape_interval"]), "5s");
    let health = words(&ccpulse["healthcheck"]["test"]).join(" ");
    assert!(
        health.contains(&format!(":{port}/readyz")),
        "healthcheck port: {health}"
    );

    // Alertmanager target.
    let am_targets: Vec<String> = prom["alerting"]["alertmanagers"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|a| a["static_configs"].as_sequence().unwrap())
        .flat_map(|sc| sc["targets"].as_sequence().unwrap().iter().map(scalar))
        .collect();
    assert_eq!(am_targets.len(), 1);
    let (host, port) = host_port(&am_targets[0]);
    assert_eq!(host, "alertmanager");
    assert!(
        container_ports(service(&c, &host)).contains(&port),
        "alertmanager port {port}"
    );

    // Grafana's datasource points at the prometheus service.
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let ds = ds["datasources"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|d| d["uid"] == "prometheus")
        .expect("a datasource with uid `prometheus`");
    assert_eq!(ds["type"], "prometheus");
    let (host, port) = host_port(ds["url"].as_str().unwrap());
    assert_eq!(host, "prometheus");
    assert!(
        container_ports(service(&c, &host)).contains(&port),
        "prometheus port {port}"
    );

    // Alertmanager's webhook points at the receiver service.
    let am = yaml("deploy/alertmanager/alertmanager.yml");
    let receiver = scalar(&am["route"]["receiver"]);
    let recv = am["receivers"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| scalar(&r["name"]) == receiver)
        .expect("the route's receiver is defined");
    let url = scalar(&recv["webhook_configs"][0]["url"]);
    let (host, port) = host_port(&url);
    assert_eq!(host, "alert-receiver");
    assert!(
        container_ports(service(&c, &host)).contains(&port),
        "alert-receiver port {port}"
    );
    let group_by: BTreeSet<String> = words(&am["route"]["group_by"]).into_iter().collect();
    let expected: BTreeSet<String> = ["alertname", "queue", "channel"].map(String::from).into();
    assert_eq!(group_by, expected);

    // Everybody talks to the broker the compose network advertises.
    let advertised = env_of(service(&c, "kafka"))["KAFKA_ADVERTISED_LISTENERS"].clone();
    let brokers = [
        flag_value(&words(&ccpulse["command"]), "--brokers").unwrap(),
        flag_value(&words(&service(&c, "simulator")["command"]), "--brokers").unwrap(),
        env_of(service(&c, "kafka-init"))["BOOTSTRAP_SERVER"].clone(),
    ];
    for b in brokers {
        assert!(
            advertised.contains(&format!("//{b}")),
            "{b} is not an advertised listener ({advertised})"
        );
    }
}

#[test]
fn container_paths_resolve_to_the_deploy_files() {
    let c = compose();

    let prom_cmd = words(&service(&c, "prometheus")["command"]);
    let config = flag_value(&prom_cmd, "--config.file").expect("prometheus --config.file");
    let config = host_path(&c, "prometheus", &config);
    assert_eq!(config, root().join("deploy/prometheus/prometheus.yml"));
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let config_dir = config.parent().unwrap();
    let mut rule_files = 0;
    for pattern in prom["rule_files"].as_sequence().unwrap() {
        let pattern = scalar(pattern);
        let (dir, file_glob) = pattern.rsplit_once('/').unwrap_or((".", &pattern));
        let suffix = file_glob.strip_prefix('*').unwrap_or(file_glob);
        for entry in fs::read_dir(config_dir.join(dir)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(suffix) && (file_glob.starts_with('*') || name == file_glob) {
                rule_files += 1;
            }
        }
    }
    assert!(rule_files >= 1, "prometheus.yml rule_files match no file");

    let am_cmd = words(&service(&c, "alertmanager")["command"]);
    let am_config = flag_value(&am_cmd, "--config.file").expect("alertmanager --config.file");
    assert_eq!(
        host_path(&c, "alertmanager", &am_config),
        root().join("deploy/alertmanager/alertmanager.yml")
    );

    let provisioning = host_path(&c, "grafana", "/etc/grafana/provisioning");
    assert!(provisioning.join("datasources").is_dir() && provisioning.join("dashboards").is_dir());
    let mut dashboard_dirs = 0;
    for entry in fs::read_dir(provisioning.join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let provider: Yaml = serde_yaml::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        for p in provider["providers"].as_sequence().unwrap() {
            let dir = host_path(&c, "grafana", p["options"]["path"].as_str().unwrap());
            for (file, _) in DASHBOARDS {
                assert!(dir.join(file).is_file(), "the dashboard provider's folder lacks {file}");
            }
            dashboard_dirs += 1;
        }
    }
    assert_eq!(dashboard_dirs, 1, "one dashboard provider");
    let home = env_of(service(&c, "grafana"))["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].clone();
    let home: Json = serde_json::from_str(&fs::read_to_string(host_path(&c, "grafana", &home)).unwrap()).unwrap();
    assert_eq!(home["uid"], "ccpulse-wallboard", "the home dashboard is the wallboard");

    let init = words(&service(&c, "kafka-init")["entrypoint"]);
    let script = init
        .iter()
        .find(|w| w.ends_with(".sh"))
        .expect("kafka-init runs a script");
    assert_eq!(
        host_path(&c, "kafka-init", script),
        root().join("deploy/kafka/create-topics.sh")
    );
    let recv = words(&service(&c, "alert-receiver")["command"]);
    let script = recv
        .iter()
        .find(|w| w.ends_with(".py"))
        .expect("alert-receiver runs a script");
    assert!(host_path(&c, "alert-receiver", script).is_file());
}

#[test]
fn topic_script_creates_co_partitioned_topics_and_refuses_mismatches() {
    let c = compose();
    let env = env_of(service(&c, "kafka-init"));
    let dir = temp_dir("topics");
    let state = dir.join("state");
    fs::create_dir_all(&state).unwrap();
    let log = dir.join("log");
    // A stand-in for kafka-topics.sh: logs its arguments, keeps the topics it creates.
    let stub = dir.join("kafka-topics.sh");
    fs::write(
        &stub,
        r#"#!/usr/bin/env bash
echo "$*" >> "$STUB_LOG"
topic=""; parts=""; mode=""
while [ $# -gt 0 ]; do
  case "$1" in
    --topic) topic="$2"; shift;;
    --partitions) parts="$2"; shift;;
    --create|--describe|--list) mode="$1";;
  esac
  shift
done
case "$mode" in
  --create) [ -f "$STUB_STATE/$topic" ] || echo "$parts" > "$STUB_STATE/$topic";;
  --describe) printf 'Topic: %s\tTopicId: x\tPartitionCount: %s\tReplicationFactor: 1\tConfigs: \n' \
                "$topic" "$(cat "$STUB_STATE/$topic")";;
esac
"#,
    )
    .unwrap();
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    let run = || {
        Command::new("bash")
            .arg(root().join("deploy/kafka/create-topics.sh"))
            .envs(&env)
            .env("KAFKA_TOPICS", &stub)
            .env("STUB_LOG", &log)
            .env("STUB_STATE", &state)
            .env("WAIT_SECONDS", "5")
            .output()
            .unwrap()
    };

    let out = run();
    assert!(
        out.status.success(),
        "create-topics.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = fs::read_to_string(&log).unwrap();
    let partitions = &env["PARTITIONS"];
    for topic in EVENT_TOPICS {
        let line = format!(
            "--bootstrap-server {} --create --if-not-exists --topic {topic} --partitions {partitions} ",
            env["BOOTSTRAP_SERVER"]
        );
        assert!(
            created.contains(&line),
            "{topic} not created with {partitions} partitions:\n{created}"
        );
    }
    assert!(
        created.contains("--topic cc.dlq --partitions"),
        "DLQ not created:\n{created}"
    );
    assert!(
        created.contains("--topic cc.partials --partitions 1 --replication-factor")
            && created.contains("--config cleanup.policy=compact"),
        "the partials topic is not created compacted:\n{created}"
    );
    for topic in EVENT_TOPICS {
        let count = fs::read_to_string(state.join(topic)).unwrap();
        assert_eq!(count.trim(), partitions, "{topic}");
    }

    // An existing topic with another partition count: the script must fail and say so.
    for entry in fs::read_dir(&state).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    fs::write(state.join("cc.chat"), "3\n").unwrap();
    let out = run();
    assert!(
        !out.status.success(),
        "create-topics.sh accepted topics with different partition counts"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cc.chat=3"),
        "the error names the topic and its count: {stderr}"
    );
    let _ = fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------- dashboards

#[test]
fn dashboards_parse_and_every_panel_has_a_query() {
    let ds = dashboards();
    let found: BTreeSet<(String, String)> = ds
        .iter()
        .map(|d| (d.file.clone(), d.json["uid"].as_str().unwrap_or("").to_owned()))
        .collect();
    let expected: BTreeSet<(String, String)> = DASHBOARDS
        .iter()
        .map(|(f, u)| ((*f).to_owned(), (*u).to_owned()))
        .collect();
    assert_eq!(found, expected);

    for d in &ds {
        let schema = d.json["schemaVersion"].as_u64().unwrap();
        assert!((36..=41).contains(&schema), "{}: schemaVersion {schema}", d.file);
        let all = panels(&d.json);
        assert!(all.len() >= 6, "{}: only {} panels", d.file, all.len());
        let mut ids = BTreeSet::new();
        let mut boxes = Vec::new();
        for p in all {
            let title = p["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{}: a panel has no title", d.file);
            assert!(ids.insert(p["id"].as_u64().unwrap()), "{}: duplicate panel id", d.file);
            assert_eq!(
                p["datasource"],
                prometheus_variable(),
                "{}: {title}: datasource",
                d.file
            );
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: {title}: no targets", d.file));
            assert!(
                targets
                    .iter()
                    .any(|t| t["expr"].as_str().is_some_and(|e| !e.trim().is_empty())),
                "{}: {title}: no target with an expr",
                d.file
            );
            for t in targets {
                assert_eq!(
                    t["datasource"],
                    prometheus_variable(),
                    "{}: {title}: target datasource",
                    d.file
                );
                assert!(t["refId"].is_string(), "{}: {title}: target without refId", d.file);
            }
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_u64().unwrap(),
                g["y"].as_u64().unwrap(),
                g["w"].as_u64().unwrap(),
                g["h"].as_u64().unwrap(),
            );
            assert!(w > 0 && h > 0 && x + w <= 24, "{}: {title}: gridPos {g}", d.file);
            for (other, (ox, oy, ow, oh)) in &boxes {
                let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
                assert!(!overlap, "{}: panels {title:?} and {other:?} overlap", d.file);
            }
            boxes.push((title.to_owned(), (x, y, w, h)));
        }
    }

    // The wallboard and supervisor share the `window` variable: 5m, 15m, 1h, today.
    for d in ds.iter().filter(|d| d.file != "health.json") {
        let var = d.json["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "window")
            .unwrap_or_else(|| panic!("{}: no `window` variable", d.file));
        assert_eq!(var["type"], "custom");
        let values: Vec<&str> = var["query"].as_str().unwrap().split(',').map(str::trim).collect();
        assert_eq!(values, WINDOWS, "{}: window values", d.file);
    }

    // The wallboard colours service level by breach and shows every queue KPI.
    let wall = &ds.iter().find(|d| d.file == "wallboard.json").unwrap();
    let exprs: String = dashboard_queries(wall).into_iter().map(|(_, e)| e + "\n").collect();
    for metric in [
        "ccpulse_sla_breached{",
        "ccpulse_sla_numerator{",
        "ccpulse_contacts_waiting{",
        "ccpulse_oldest_wait_seconds{",
        "ccpulse_wait_seconds_sum{",
        "ccpulse_contacts_abandoned{",
        "ccpulse_handle_seconds_sum{",
        "ccpulse_channel_sla_policy_met{",
        "ccpulse_channel_sla_target_ratio{",
        "ccpulse_channel_contacts_waiting",
        "ccpulse_channel_fcr_contacts{",
        "ccpulse_channel_csat_ratio{",
        "ccpulse_channel_nps_score{",
    ] {
        assert!(exprs.contains(metric), "wallboard does not use {metric}");
    }
    assert!(
        !exprs.contains("queue=\"\""),
        "channel totals come from the ccpulse_channel_ roll-ups, not {{queue=\"\"}}"
    );
    let sup = &ds.iter().find(|d| d.file == "supervisor.json").unwrap();
    let exprs: String = dashboard_queries(sup).into_iter().map(|(_, e)| e + "\n").collect();
    for metric in [
        "ccpulse_agent_aht_seconds",
        "ccpulse_agent_aht_vs_team_ratio",
        "ccpulse_agent_outlier",
        "ccpulse_agent_occupancy_ratio",
        "ccpulse_agent_sl_vs_team_ratio",
        "ccpulse_agent_sl_outlier",
        "ccpulse_agents",
        "ccpulse_queue_agents",
        "ccpulse_agents_required",
        "ccpulse_agents_staffed",
        "ccpulse_staffing_gap",
    ] {
        assert!(exprs.contains(metric), "supervisor does not use {metric}");
    }
    let health = &ds.iter().find(|d| d.file == "health.json").unwrap();
    let exprs: String = dashboard_queries(health).into_iter().map(|(_, e)| e + "\n").collect();
    for needle in [
        "rate(ccpulse_events_ingested_total",
        "ccpulse_events_rejected_total",
        "ccpulse_consumer_lag_messages",
        "ccpulse_snapshot_age_seconds",
        "ccpulse_tick_duration_seconds_bucket",
        "ccpulse_partitions_replaying",
        "ccpulse_ready",
    ] {
        assert!(exprs.contains(needle), "health dashboard does not use {needle}");
    }
}

/// Every dashboard picks its Prometheus with a `datasource` variable (type `datasource`,
/// query `prometheus`, the default datasource unless another is chosen), and every
/// datasource reference in it (panels, targets, query variables) is that variable; only
/// Grafana's built-in annotations name another. Importing a dashboard needs no editing.
#[test]
fn dashboards_query_the_prometheus_of_their_datasource_variable() {
    let ds = dashboards();
    assert_eq!(ds.len(), DASHBOARDS.len());
    for d in &ds {
        let vars = d.json["templating"]["list"].as_array().unwrap();
        let var = vars
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{}: no `datasource` variable", d.file));
        assert_eq!(var["type"], "datasource", "{}", d.file);
        assert_eq!(var["query"], "prometheus", "{}: a Prometheus datasource", d.file);
        assert_eq!(
            vars[0]["name"], "datasource",
            "{}: first, before the query variables that use it",
            d.file
        );
        assert!(var["multi"] != true && var["includeAll"] != true, "{}", d.file);
        let current = &var["current"]["value"];
        assert!(
            current.is_null() || current == "default",
            "{}: the variable must not pin a datasource uid: {current}",
            d.file
        );

        let mut refs = Vec::new();
        datasource_refs(&d.json, "", &mut refs);
        let mut to_variable = 0;
        for (path, r) in &refs {
            if **r == prometheus_variable() {
                to_variable += 1;
                continue;
            }
            let builtin = path.starts_with("annotations.") && r["type"] == "grafana" && r["uid"] == "-- Grafana --";
            assert!(builtin, "{}: {path} is {r}, not the `datasource` variable", d.file);
        }
        let all = panels(&d.json);
        let targets: usize = all.iter().map(|p| p["targets"].as_array().map_or(0, Vec::len)).sum();
        let query_vars = vars.iter().filter(|v| v["type"] == "query").count();
        assert_eq!(
            to_variable,
            all.len() + targets + query_vars,
            "{}: every panel, target and query variable names the `datasource` variable",
            d.file
        );
        assert!(
            !d.json.to_string().contains(r#""uid":"prometheus""#),
            "{}: a hard-coded uid `prometheus` is left",
            d.file
        );
    }
    // The variable falls on the provisioned datasource: the one default Prometheus.
    let prov = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let defaults = prov["datasources"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == "prometheus" && d["isDefault"] == true)
        .count();
    assert_eq!(defaults, 1, "one default Prometheus datasource is provisioned");
}

/// The wallboard's waiting, oldest wait and abandon rate tiles judge each channel by its
/// own thresholds, the defaults of `[wallboard]` that the ccpulse wallboard page uses, so
/// that both boards agree; `all` (every channel together) is not judged, as on the page.
#[test]
fn wallboard_judges_each_channel_by_the_thresholds_of_the_wallboard_page() {
    let wall = dashboard("wallboard.json");
    let page = ccpulse_http::wallboard::WallboardSettings::default().channels;
    let step = |c: &str, v: Option<f64>| (c.to_owned(), v);
    for (channel, th) in [("voice", page.voice), ("chat", page.chat), ("email", page.email)] {
        for (title, amber, red) in [
            ("Waiting now", f64::from(th.waiting_amber), f64::from(th.waiting_red)),
            ("Oldest wait", th.oldest_wait_amber_seconds, th.oldest_wait_red_seconds),
            ("Abandon rate", th.abandon_rate_amber, th.abandon_rate_red),
        ] {
            let p = panel_titled(&wall, title);
            assert_eq!(
                thresholds_for(p, channel),
                [step("green", None), step("orange", Some(amber)), step("red", Some(red))],
                "{title}: {channel}"
            );
        }
    }
    for title in ["Waiting now", "Oldest wait", "Abandon rate"] {
        let p = panel_titled(&wall, title);
        // The series are named by channel, which is what the overrides match.
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["legendFormat"], "{{channel}}", "{title}");
            assert!(t["expr"].as_str().unwrap().contains("by (channel)"), "{title}");
        }
        assert_ne!(
            thresholds_for(p, "voice"),
            thresholds_for(p, "email"),
            "{title}: voice and email are judged alike"
        );
        let all = thresholds_for(p, "all");
        assert!(
            all.len() == 1 && !["red", "orange", "green"].contains(&all[0].0.as_str()),
            "{title}: `all` is not judged: {all:?}"
        );
    }
}

/// The wallboard's service level is coloured against each (channel, policy)'s own target,
/// as on the ccpulse wallboard page: green at or above target, amber below it by at most
/// `amber_margin` (the page's default), red further below or while breached. Each of three
/// queries returns the groups of one colour, with the service level recomputed from the
/// parts summed over instances; promtool evaluates them on series of two instances.
#[test]
fn wallboard_colours_service_level_against_each_groups_target() {
    let wall = dashboard("wallboard.json");
    let p = panel_titled(&wall, "Service level against target");
    let mut colour_of = BTreeMap::new();
    for o in p["fieldConfig"]["overrides"].as_array().unwrap() {
        assert_eq!(o["matcher"]["id"], "byFrameRefID", "colours by query");
        let colour = o["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "color" && p["value"]["mode"] == "fixed")
            .map(|p| p["value"]["fixedColor"].as_str().unwrap().to_owned())
            .expect("a fixed colour");
        colour_of.insert(colour, o["matcher"]["options"].as_str().unwrap().to_owned());
    }
    let colours: Vec<&str> = colour_of.keys().map(String::as_str).collect();
    assert_eq!(colours, ["green", "orange", "red"], "three colours, one query each");
    let refs: BTreeSet<String> = p["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["refId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        refs,
        colour_of.values().cloned().collect(),
        "every query has its colour"
    );

    let margin = ccpulse_http::wallboard::WallboardSettings::default().amber_margin;
    // A service level exactly `margin` below a 54 % target, in hundredths: 49. Amber, as on
    // the page, although 0.54 - 0.05 is 0.49000000000000005 in floating point.
    #[allow(clippy::cast_possible_truncation)]
    let edge = ((0.54 - margin) * 100.0).round() as u32;
    // (channel, policy, target, [(met, denominator)] per instance, breached, colour)
    type Group = (
        &'static str,
        &'static str,
        f64,
        Vec<(u32, u32)>,
        u8,
        Option<&'static str>,
    );
    let groups: Vec<Group> = vec![
        ("voice", "at-target", 0.8, vec![(40, 50), (40, 50)], 0, Some("green")),
        ("chat", "margin-below", 0.54, vec![(edge, 100)], 0, Some("orange")),
        ("email", "past-margin", 0.54, vec![(edge - 1, 100)], 0, Some("red")),
        ("voice", "just-below", 0.8, vec![(79, 100)], 0, Some("orange")),
        // Breached, and back above target but not yet above target + hysteresis.
        ("chat", "breached", 0.8, vec![(41, 50), (40, 50)], 1, Some("red")),
        // Sums, not means of the instances' ratios (those would make 86.7 %, green).
        (
            "voice",
            "two-instances",
            0.8,
            vec![(10, 10), (66, 90)],
            0,
            Some("orange"),
        ),
        ("email", "nobody-judged", 0.9, vec![(0, 0)], 0, None),
        // The `all` roll-up repeats the channels' policies: not shown twice.
        ("all", "at-target", 0.8, vec![(80, 100)], 0, None),
    ];
    let mut series = Vec::new();
    let mut expected: BTreeMap<&str, Vec<(String, f64)>> = colours.iter().map(|c| (*c, Vec::new())).collect();
    for (channel, policy, target, parts, breached, colour) in &groups {
        for (i, (met, den)) in parts.iter().enumerate() {
            let labels =
                format!("channel=\"{channel}\", policy=\"{policy}\", window=\"15m\", instance=\"ccpulse-{i}\"");
            for (metric, value) in [
                ("ccpulse_channel_sla_policy_met", f64::from(*met)),
                ("ccpulse_channel_sla_policy_denominator", f64::from(*den)),
                ("ccpulse_channel_sla_target_ratio", *target),
                ("ccpulse_channel_sla_breached", f64::from(*breached)),
            ] {
                series.push((format!("{metric}{{{labels}}}"), value.to_string()));
            }
        }
        if let Some(colour) = colour {
            let met: u32 = parts.iter().map(|p| p.0).sum();
            let den: u32 = parts.iter().map(|p| p.1).sum();
            expected.get_mut(colour).unwrap().push((
                format!("{{channel=\"{channel}\", policy=\"{policy}\"}}"),
                f64::from(met) / f64::from(den),
            ));
        }
    }
    let cases: Vec<(String, Vec<(String, f64)>)> = expected
        .into_iter()
        .map(|(colour, samples)| (expr_of(p, &colour_of[colour]), samples))
        .collect();
    promtool_expr_tests("service-level-colours", &series, &cases);

    // The queues table: service level minus target in points, of the group's policy
    // furthest below its target, coloured with the same margin.
    let table = panel_titled(&wall, "Queues");
    let vs = table["fieldConfig"]["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["matcher"]["options"] == "vs target")
        .expect("a `vs target` column");
    let th = vs["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "thresholds")
        .unwrap();
    let step = |c: &str, v: Option<f64>| (c.to_owned(), v);
    assert_eq!(
        steps(&th["value"]),
        [
            step("red", None),
            step("orange", Some(-margin * 100.0)),
            step("green", Some(0.0))
        ]
    );
    let expr = table["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["expr"].as_str().unwrap().contains("ccpulse_sla_policy_met"))
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .expect("the `vs target` query");
    let mut series = Vec::new();
    // billing voice: policy std +5 points, policy vip −2 points; sales chat over two instances.
    for (queue, channel, policy, target, instance, met, den) in [
        ("billing", "voice", "std", 0.8, 0, 85, 100),
        ("billing", "voice", "vip", 0.9, 0, 44, 50),
        ("billing", "voice", "vip", 0.9, 1, 44, 50),
        ("sales", "chat", "std", 0.8, 0, 10, 10),
        ("sales", "chat", "std", 0.8, 1, 66, 90),
    ] {
        let labels = format!(
            "queue=\"{queue}\", channel=\"{channel}\", policy=\"{policy}\", window=\"15m\", instance=\"ccpulse-{instance}\""
        );
        series.push((format!("ccpulse_sla_policy_met{{{labels}}}"), met.to_string()));
        series.push((format!("ccpulse_sla_policy_denominator{{{labels}}}"), den.to_string()));
        series.push((format!("ccpulse_sla_target_ratio{{{labels}}}"), target.to_string()));
    }
    let points = |met: f64, den: f64, target: f64| (met / den - target + 1e-9) * 100.0;
    promtool_expr_tests(
        "service-level-vs-target",
        &series,
        &[(
            expr,
            vec![
                (
                    r#"{queue="billing", channel="voice"}"#.to_owned(),
                    points(88.0, 100.0, 0.9),
                ),
                (
                    r#"{queue="sales", channel="chat"}"#.to_owned(),
                    points(76.0, 100.0, 0.8),
                ),
            ],
        )],
    );
}

/// The wallboard fits a 1920×1080 screen in Grafana's kiosk mode without scrolling: a grid
/// row is 30 px high plus an 8 px margin, so 27 rows (≈ 1,026 px) at most, 24 columns,
/// and no panel over another.
#[test]
fn wallboard_fits_a_1080p_screen_in_kiosk_mode() {
    const ROWS: u64 = 27;
    let wall = dashboard("wallboard.json");
    let mut boxes: Vec<(String, [u64; 4])> = Vec::new();
    for p in panels(&wall.json) {
        let title = p["title"].as_str().unwrap().to_owned();
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_u64().unwrap());
        assert!(y + h <= ROWS, "{title}: ends at row {}, past {ROWS}", y + h);
        assert!(x + w <= 24, "{title}: ends at column {}", x + w);
        assert!(w >= 3 && h >= 4, "{title}: {w}×{h} is too small to read on a TV");
        for (other, [ox, oy, ow, oh]) in &boxes {
            let overlap = x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h;
            assert!(!overlap, "{title} and {other} overlap");
        }
        boxes.push((title, [x, y, w, h]));
    }
    let bottom = boxes.iter().map(|(_, [_, y, _, h])| y + h).max().unwrap();
    assert_eq!(bottom, ROWS, "the wallboard uses the screen");
    assert!(boxes.len() >= 15, "{} panels", boxes.len());
}

/// The wallboard shows agents by state (each of the four states, summed over teams: an
/// agent once) and the answer rate recomputed from the counts summed over instances;
/// promtool evaluates both on series of two instances.
#[test]
fn wallboard_shows_agents_by_state_and_the_answer_rate() {
    let wall = dashboard("wallboard.json");
    let agents = panel_titled(&wall, "Agents by state");
    let exprs: Vec<String> = agents["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    let mut states = Vec::new();
    for e in &exprs {
        let names: Vec<String> = metric_tokens(e).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["ccpulse_agents"], "{e}");
        assert!(!e.contains("team"), "summed over teams: {e}");
        let state = e
            .split("state=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("one state per query: {e}"));
        states.push(state.to_owned());
    }
    assert_eq!(states, ["available", "busy", "acw", "away"], "in this order");
    // Two instances, two teams: each state's agents of every team and instance.
    let mut series = Vec::new();
    let counts = [
        ("available", [3, 1]),
        ("busy", [4, 2]),
        ("acw", [1, 0]),
        ("away", [0, 2]),
    ];
    for (state, per_instance) in counts {
        for (i, n) in per_instance.iter().enumerate() {
            for team in ["aurora", "boreal"] {
                series.push((
                    format!("ccpulse_agents{{team=\"{team}\", state=\"{state}\", instance=\"ccpulse-{i}\"}}"),
                    n.to_string(),
                ));
            }
        }
    }
    let cases: Vec<(String, Vec<(String, f64)>)> = exprs
        .iter()
        .zip(counts)
        .map(|(e, (_, n))| (e.clone(), vec![("{}".to_owned(), f64::from(2 * (n[0] + n[1])))]))
        .collect();
    promtool_expr_tests("agents-by-state", &series, &cases);

    let answer = panel_titled(&wall, "Answer rate");
    let targets = answer["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1);
    let expr = targets[0]["expr"].as_str().unwrap().to_owned();
    assert!(
        !expr.contains("_ratio"),
        "recomputed from the counts, not a ratio: {expr}"
    );
    assert_eq!(targets[0]["legendFormat"], "{{channel}}");
    assert_eq!(answer["fieldConfig"]["defaults"]["unit"], "percentunit");
    // voice: 9 answered of 9 on one instance, 1 of 10 on the other: 10/19 (the mean of the
    // two ratios would be 55 %). email: nothing answered or abandoned: no sample.
    let mut series = Vec::new();
    for (channel, instance, answered, abandoned) in [
        ("voice", 0, 9, 0),
        ("voice", 1, 1, 9),
        ("chat", 0, 3, 1),
        ("email", 0, 0, 0),
    ] {
        let labels = format!("channel=\"{channel}\", window=\"15m\", instance=\"ccpulse-{instance}\"");
        series.push((
            format!("ccpulse_channel_contacts_answered{{{labels}}}"),
            answered.to_string(),
        ));
        series.push((
            format!("ccpulse_channel_contacts_abandoned{{{labels}}}"),
            abandoned.to_string(),
        ));
    }
    promtool_expr_tests(
        "answer-rate",
        &series,
        &[(
            expr,
            vec![
                (r#"{channel="voice"}"#.to_owned(), 10.0 / 19.0),
                (r#"{channel="chat"}"#.to_owned(), 3.0 / 4.0),
            ],
        )],
    );
}

/// The supervisor dashboard has today by 15-minute intervals: a bar chart over today so far
/// of offered, answered, abandoned and service level, each the `window="15m"` gauge sampled
/// every 15 minutes all day long, and a description that sends to the exact report of the
/// API and says how far off a bar can be. Not on the wallboard, which must fit one screen.
#[test]
fn supervisor_shows_today_by_15_minutes() {
    let sup = dashboard("supervisor.json");
    let p = panel_titled(&sup, "Today by 15 minutes");
    assert_eq!(p["type"], "barchart");
    assert_eq!(p["timeFrom"], "now/d", "today so far, whatever the dashboard's range");
    assert_eq!(p["interval"], "15m", "the minimum step: one bar per 15 minutes");
    // Grafana's step is max(interval, range / max data points): 15 minutes as long as the
    // points allow a whole day of them, 25 hours on the day DST ends.
    let points = p["maxDataPoints"].as_u64().expect("maxDataPoints");
    assert!(points * 15 >= 25 * 60, "{points} data points make a step over 15m");
    let mut legends = Vec::new();
    for t in p["targets"].as_array().unwrap() {
        let expr = t["expr"].as_str().unwrap();
        assert!(t["range"] == true && t["instant"] != true, "a range query: {expr}");
        for (name, end) in metric_tokens(expr) {
            assert!(name.starts_with("ccpulse_channel_"), "the roll-ups: {name}");
            let sel = selector_after(expr, end).unwrap();
            assert!(
                sel.contains("window=\"15m\"") && sel.contains("channel=\"all\""),
                "{name}{{{sel}}}: the 15m window of every channel together"
            );
        }
        legends.push(t["legendFormat"].as_str().unwrap().to_owned());
    }
    assert_eq!(legends, ["offered", "answered", "abandoned", "service level"]);
    let text = p["description"].as_str().unwrap();
    for needle in [
        "GET /api/v1/intervals?size=15m",
        "format=csv",
        "one scrape interval at each boundary",
    ] {
        assert!(text.contains(needle), "the description lacks `{needle}`: {text}");
    }
    let wall = dashboard("wallboard.json");
    assert!(
        panels(&wall.json).iter().all(|p| p["interval"].is_null()),
        "the wallboard stays live"
    );
}

#[test]
fn windowed_metrics_always_select_a_window() {
    let docs = documented_metrics();
    let windowed = |name: &str| metric_doc(name, &docs).is_some_and(|d| d.windowed);
    assert!(windowed("ccpulse_service_level_ratio"));
    assert!(windowed("ccpulse_sla_breached"));
    assert!(windowed("ccpulse_agent_aht_seconds"));
    assert!(windowed("ccpulse_wait_seconds_sum"));
    assert!(!windowed("ccpulse_contacts_waiting"));
    assert!(!windowed("ccpulse_agents"));

    let mut checked = 0;
    for d in dashboards() {
        let with_var = has_window_variable(&d.json);
        for (place, expr) in dashboard_queries(&d) {
            for (name, end) in metric_tokens(&expr) {
                if !windowed(&name) {
                    continue;
                }
                let sel = selector_after(&expr, end)
                    .unwrap_or_else(|| panic!("{place}: {name} without a selector in `{expr}`"));
                // A panel sampled every W (its `interval`) may read the W window itself.
                if let Some(w) = sampled_window(&d, &place) {
                    if sel.contains(&format!("window=\"{w}\"")) {
                        checked += 1;
                        continue;
                    }
                }
                assert!(
                    with_var,
                    "{place}: windowed {name} on a dashboard without `window` variable"
                );
                assert!(
                    sel.contains("window=\"$window\""),
                    "{place}: {name} must select window=\"$window\": `{expr}`"
                );
                checked += 1;
            }
        }
    }
    for rule in alert_rules() {
        let expr = scalar(&rule["expr"]);
        for (name, end) in metric_tokens(&expr) {
            if !windowed(&name) {
                continue;
            }
            let sel =
                selector_after(&expr, end).unwrap_or_else(|| panic!("{:?}: {name} without a selector", rule["alert"]));
            assert!(
                WINDOWS.iter().any(|w| sel.contains(&format!("window=\"{w}\""))),
                "{:?}: {name} must select one window: `{sel}`",
                rule["alert"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} windowed selectors checked");
}

#[test]
fn every_metric_used_is_documented() {
    let docs = documented_metrics();
    let check = |what: &str, text: &str| -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        for (name, _) in metric_tokens(text) {
            assert!(
                is_documented(&name, &docs),
                "{what} uses `{name}`, which docs/metrics.md does not define"
            );
            used.insert(name);
        }
        used
    };
    let mut in_dashboards = BTreeSet::new();
    for d in dashboards() {
        for (place, expr) in dashboard_queries(&d) {
            in_dashboards.extend(check(&place, &expr));
        }
        // Descriptions and anything else in the file too.
        check(&d.file, &d.json.to_string());
    }
    assert!(
        in_dashboards.len() >= 35,
        "only {} metrics found in the dashboards' queries",
        in_dashboards.len()
    );
    let mut in_rules = BTreeSet::new();
    for rule in alert_rules() {
        in_rules.extend(check(&format!("alert {:?}", rule["alert"]), &scalar(&rule["expr"])));
    }
    assert!(
        in_rules.len() >= 10,
        "only {} metrics found in the alert rules",
        in_rules.len()
    );
    for file in [
        "deploy/prometheus/rules/ccpulse.rules.yml",
        "deploy/prometheus/tests/ccpulse.rules.test.yml",
        "deploy/README.md",
    ] {
        check(file, &read(file));
    }
    // The checker itself catches a renamed metric.
    assert!(!is_documented("ccpulse_service_level", &docs));
    assert!(
        !is_documented("ccpulse_wait_seconds_bucket", &docs),
        "a summary has no buckets"
    );
    assert!(
        !is_documented("ccpulse_contacts_offered_sum", &docs),
        "a gauge has no _sum"
    );
    assert!(is_documented("ccpulse_tick_duration_seconds_bucket", &docs));
    assert!(is_documented("ccpulse_wait_seconds_count", &docs));
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let out = run_check_script();
    assert!(out.status.success(), "deploy/check.sh failed (promtool needed here)");
    // Each query becomes a recording rule, Grafana variables replaced by sample values,
    // and promtool parses them all.
    let mut rules = String::from("groups:\n  - name: dashboard-queries\n    rules:\n");
    let mut n = 0;
    for d in dashboards() {
        for (place, expr) in dashboard_queries(&d) {
            let e = expr
                .replace("$window", "15m")
                .replace("$team", ".*")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "1m")
                .replace("$__interval", "1m")
                .replace("$__range", "1h");
            assert!(!e.contains('$'), "{place}: unknown variable in `{expr}`");
            n += 1;
            rules.push_str(&format!(
                "      - record: dashboard:query_{n}\n        expr: {}\n",
                serde_json::to_string(&e).unwrap()
            ));
        }
    }
    assert!(n >= 50, "only {n} dashboard queries");
    let dir = temp_dir("promql");
    let file = dir.join("dashboards.rules.yml");
    fs::write(&file, rules).unwrap();
    let out = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool rejects a dashboard query:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------- alerts

#[test]
fn every_alert_has_annotations_runbook_and_tests() {
    let rules = alert_rules();
    let names: BTreeSet<String> = rules.iter().map(|r| scalar(&r["alert"])).collect();
    let expected: BTreeSet<String> = ALERTS.map(String::from).into();
    assert_eq!(names, expected);
    assert_eq!(names.len(), rules.len(), "an alert is defined twice");

    let anchors = readme_anchors();
    for rule in &rules {
        let name = scalar(&rule["alert"]);
        assert!(rule["for"].is_string(), "{name}: no `for:`");
        let severity = scalar(&rule["labels"]["severity"]);
        assert!(
            ["critical", "warning"].contains(&severity.as_str()),
            "{name}: severity {severity}"
        );
        for key in ["summary", "description"] {
            let text = rule["annotations"][key].as_str().unwrap_or("");
            assert!(text.trim().len() > 10, "{name}: annotation {key} missing or empty");
        }
        let url = scalar(&rule["annotations"]["runbook_url"]);
        let (page, anchor) = url
            .split_once('#')
            .unwrap_or_else(|| panic!("{name}: runbook_url {url}"));
        assert!(
            page.ends_with("deploy/README.md"),
            "{name}: runbook_url points at {page}"
        );
        assert_eq!(anchor, slug(&name), "{name}: one runbook section per alert");
        assert!(
            anchors.contains(anchor),
            "{name}: deploy/README.md has no heading for #{anchor}"
        );
    }
    let by_name = |n: &str| rules.iter().find(|r| r["alert"] == n).unwrap();
    assert!(scalar(&by_name("CcpulseSlaBreached")["expr"]).contains("ccpulse_sla_breached"));
    assert!(scalar(&by_name("CcpulseSlaAtRisk")["expr"]).contains("ccpulse_contacts_at_risk"));
    assert!(scalar(&by_name("CcpulseSnapshotStale")["expr"]).contains("ccpulse_snapshot_age_seconds > 10"));
    assert!(scalar(&by_name("CcpulseDown")["expr"]).contains("up{job=\"ccpulse\"} == 0"));
    assert!(scalar(&by_name("CcpulseUnderstaffed")["expr"]).contains("ccpulse_staffing_gap{window=\"15m\""));

    // Every alert is unit-tested firing (with its labels and annotations) and not firing.
    let tests = yaml("deploy/prometheus/tests/ccpulse.rules.test.yml");
    let mut firing = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for t in tests["tests"].as_sequence().unwrap() {
        for case in t["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = scalar(&case["alertname"]);
            match case["exp_alerts"].as_sequence() {
                Some(alerts) if !alerts.is_empty() => {
                    for a in alerts {
                        let ann = &a["exp_annotations"];
                        assert!(
                            ann["summary"].is_string()
                                && ann["description"].is_string()
                                && ann["runbook_url"].is_string(),
                            "{name}: a firing case must check the annotations"
                        );
                        assert!(a["exp_labels"]["severity"].is_string(), "{name}: check the labels");
                    }
                    firing.insert(name);
                }
                _ => {
                    silent.insert(name);
                }
            }
        }
    }
    assert_eq!(firing, expected, "alerts without a firing test case");
    assert_eq!(silent, expected, "alerts without a not-firing test case");
}

#[test]
fn check_script_passes() {
    let out = run_check_script();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "deploy/check.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "is valid prometheus config file syntax",
        &format!("SUCCESS: {} rules found", ALERTS.len()),
        "Unit Testing:",
        "deploy checks passed",
    ] {
        assert!(
            stdout.contains(needle),
            "deploy/check.sh output lacks `{needle}`:\n{stdout}"
        );
    }
}

/// The compose stack's secrets-init script issues a metrics token whose tokens file the
/// service accepts (it gets past access to Kafka, here unreachable), a Grafana password,
/// and keeps them on a second run.
#[test]
fn secrets_init_issues_a_token_the_service_accepts() {
    let dir = temp_dir("secrets");
    let bin = ccpulse_tests::ccpulse_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || {
        let out = Command::new("sh")
            .arg(root().join("deploy/secrets/init.sh"))
            .env("SECRETS_DIR", &dir)
            .env("PATH", &path)
            .env_remove("GRAFANA_ADMIN_PASSWORD")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = run();
    let token = fs::read_to_string(dir.join("metrics.token")).unwrap();
    let password = fs::read_to_string(dir.join("grafana-admin-password")).unwrap();
    assert!(token.starts_with("ccp_") && password.len() >= 20);
    assert!(
        !said.contains(&token) && !said.contains(&password),
        "no secret on stdout: {said}"
    );
    let tokens = fs::read_to_string(dir.join("tokens.toml")).unwrap();
    assert!(tokens.starts_with("[[tokens]]") && !tokens.contains(&token), "{tokens}");
    run();
    assert_eq!(fs::read_to_string(dir.join("metrics.token")).unwrap(), token, "kept");

    let cfg = dir.join("ccpulse.toml");
    fs::write(
        &cfg,
        format!(
            "[http]\ntokens_file = {:?}\n",
            dir.join("tokens.toml").display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(&bin)
        .args(["serve", "--brokers", "127.0.0.1:1", "--listen", "0.0.0.0:0", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("kafka"), "past access, stopped at Kafka: {err}");
    assert!(!err.contains("token") && !err.contains(&token), "{err}");
    let _ = fs::remove_dir_all(&dir);
}
