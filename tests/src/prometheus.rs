//! Plumbing for the tests that run a real Prometheus against the real `ccpulse` binary:
//! finding the Prometheus tools, processes killed on drop, a generated Prometheus
//! configuration, a Prometheus server started and waited for, its query API, the
//! dashboards' queries and the alert rules' expressions of `deploy/`, Grafana template
//! variables, and the metric selectors of a PromQL expression.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;

/// A tool of the Debian package `prometheus` (`prometheus`, `promtool`): from `PATH`, else
/// `/usr/bin`. `None` when it is not installed (`apt-get install -y prometheus`; `tests/run`
/// does it).
pub fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A fresh directory under the system temp directory, removed by [`TempDir`]'s drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `ccpulse-<what>-<pid>-<n>` under the temp directory.
    pub fn new(what: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ccpulse-{what}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a directory under the temp dir");
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process with its output in a log file, killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Spawns `cmd` with stdout and stderr appended to `log` (a file, so that a chatty
    /// process never blocks on a full pipe).
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Process {
        let file = std::fs::File::create(log).expect("creating a log file");
        let err = file.try_clone().expect("cloning a log file handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Process {
            name: name.to_owned(),
            child,
            log: log.to_path_buf(),
        }
    }

    /// `Some(description)` once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited ({status})", self.name)),
            Ok(None) => None,
            Err(e) => Some(format!("{}: {e}", self.name)),
        }
    }

    /// The last `max` bytes of the log, for failure messages.
    pub fn log_tail(&self, max: usize) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(max);
        format!(
            "--- last lines of {} ({}):\n{}",
            self.name,
            self.log.display(),
            String::from_utf8_lossy(&text[start..])
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Prometheus configuration: one scrape job of `targets`, rule files, scrapes and rule
/// evaluations every second.
pub fn config(job: &str, targets: &[&str], rule_files: &[PathBuf]) -> String {
    let mut yaml =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n");
    for f in rule_files {
        yaml.push_str(&format!("  - {:?}\n", f.display().to_string()));
    }
    yaml.push_str(&format!(
        "scrape_configs:\n  - job_name: {job:?}\n    static_configs:\n      - targets: {targets:?}\n"
    ));
    yaml
}

/// Starts `prometheus` (from [`tool`]) with `config` written into `dir`, its TSDB in `dir`,
/// listening on `127.0.0.1:port`. Does not wait for it to be ready.
pub fn start(prometheus: &Path, dir: &Path, config: &str, port: u16) -> Process {
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).expect("writing prometheus.yml");
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!("--config.file={}", file.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(dir);
    Process::spawn("prometheus", cmd, &dir.join(format!("prometheus-{port}.log")))
}

/// Replaces the Grafana template variables of `expr` (`$name`, `${name}`, `[[name]]`) by
/// their values in `vars` (names without the `$`). Errors on a variable not in `vars`.
pub fn substitute(expr: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let value = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("unknown template variable `{name}` in `{expr}`"))
    };
    let ident_end = |s: &str| {
        s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len())
    };
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(pos) = rest.find(['$', '[']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(braced) = tail.strip_prefix("${") {
            let close = braced.find('}').ok_or_else(|| format!("unclosed `${{` in `{expr}`"))?;
            // `${name:format}`: the format is Grafana's business; the value is the same here.
            let name = braced[..close].split(':').next().unwrap_or_default();
            out.push_str(value(name)?);
            rest = &braced[close + 1..];
        } else if let Some(bracketed) = tail.strip_prefix("[[") {
            let close = bracketed
                .find("]]")
                .ok_or_else(|| format!("unclosed `[[` in `{expr}`"))?;
            out.push_str(value(&bracketed[..close])?);
            rest = &bracketed[close + 2..];
        } else if let Some(named) = tail.strip_prefix('$') {
            let end = ident_end(named);
            if end == 0 {
                return Err(format!("stray `$` in `{expr}`"));
            }
            out.push_str(value(&named[..end])?);
            rest = &named[end..];
        } else {
            // A range `[5m]`: copied as it is.
            out.push('[');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A metric selector found in a PromQL expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name.
    pub name: String,
    /// The instant selector: the name and its label matchers, as written.
    pub instant: String,
    /// The range of a range selector (`5m` of `x[5m]`).
    pub range: Option<String>,
    /// The function applied directly to a range selector (`rate` of `rate(x[5m])`).
    pub func: Option<String>,
}

impl Selector {
    /// The selector as an expression that should return series: the instant selector, or
    /// the function over the range selector (`rate(x[5m])`: at least two samples in range).
    pub fn query(&self) -> String {
        match (&self.func, &self.range) {
            (Some(f), Some(r)) => format!("{f}({}[{r}])", self.instant),
            _ => self.instant.clone(),
        }
    }
}

/// Words of PromQL that are not metric names: operators, modifiers, aggregation
/// operators (which may be followed by `by (...)` before their parenthesis).
const KEYWORDS: [&str; 28] = [
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
    "atan2",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Words followed by a label list in parentheses (not an expression).
const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The index just past the string literal that starts at `b[j]` (a quote).
fn skip_string(b: &[u8], j: usize) -> usize {
    let quote = b[j];
    let mut k = j + 1;
    while k < b.len() && b[k] != quote {
        k += if b[k] == b'\\' && quote != b'`' { 2 } else { 1 };
    }
    (k + 1).min(b.len())
}

/// The index just past the `close` that ends the group opened at `b[j]`, strings skipped.
fn skip_group(b: &[u8], j: usize, close: u8) -> usize {
    let mut k = j + 1;
    while k < b.len() && b[k] != close {
        if matches!(b[k], b'"' | b'\'' | b'`') {
            k = skip_string(b, k);
        } else {
            k += 1;
        }
    }
    (k + 1).min(b.len())
}

/// The metric selectors of a PromQL expression, in order: every metric name outside
/// strings, label matchers and label lists, with its matchers and range. Good enough for
/// the expressions of dashboards and rules (no `@` modifiers, no bare `{...}` selectors).
pub fn selectors(expr: &str) -> Vec<Selector> {
    let b = expr.as_bytes();
    let skip_ws = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        j
    };
    let mut out = Vec::new();
    let mut i = 0;
    // The function whose `(` is the last token read, for `func(x[5m])`.
    let mut open_func: Option<String> = None;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_string(b, i);
        } else if c.is_ascii_digit() || c == b'.' {
            // A number or a duration (`0.5`, `1e3`, `5m`).
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &expr[start..i];
            let next = skip_ws(i);
            let paren = b.get(next) == Some(&b'(');
            if LABEL_LISTS.contains(&word) && paren {
                i = skip_group(b, next, b')');
            } else if paren {
                open_func = Some(word.to_owned());
                i = next + 1;
                continue;
            } else if !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                let end = if b.get(next) == Some(&b'{') {
                    skip_group(b, next, b'}')
                } else {
                    i
                };
                let instant = expr[start..end].to_owned();
                i = end;
                let mut range = None;
                let after = skip_ws(end);
                if b.get(after) == Some(&b'[') {
                    let close = skip_group(b, after, b']');
                    range = Some(expr[after + 1..close - 1].trim().to_owned());
                    i = close;
                }
                let closes_call = b.get(skip_ws(i)) == Some(&b')');
                let func = open_func.take().filter(|_| range.is_some() && closes_call);
                out.push(Selector {
                    name: word.to_owned(),
                    instant,
                    range,
                    func,
                });
            }
        } else {
            i += 1;
        }
        open_func = None;
    }
    out
}

/// The label matchers of an instant selector (`name{a="b", c!~"d"}`) as
/// (label, operator, value), the value unquoted.
pub fn matchers(instant: &str) -> Vec<(String, String, String)> {
    let Some((_, inner)) = instant.split_once('{') else {
        return Vec::new();
    };
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let label = &inner[start..i];
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let op_start = i;
            while i < b.len() && matches!(b[i], b'=' | b'!' | b'~') {
                i += 1;
            }
            let op = &inner[op_start..i];
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && matches!(b[i], b'"' | b'\'' | b'`') {
                let end = skip_string(b, i);
                let raw = &inner[i + 1..end.saturating_sub(1).max(i + 1)];
                out.push((label.to_owned(), op.to_owned(), raw.replace("\\\"", "\"")));
                i = end;
            }
        } else {
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------- query API

/// The alert rules shipped in `deploy/`, from the repository root.
pub const RULES: &str = "deploy/prometheus/rules/ccpulse.rules.yml";

/// The Grafana dashboards shipped in `deploy/`, from the repository root.
pub const DASHBOARDS: &str = "deploy/grafana/dashboards";

/// A small HTTP client that returns the body of error answers too.
pub struct Http(pub ureq::Agent);

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    /// A client with a 10 s timeout per request.
    pub fn new() -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build();
        Http(config.into())
    }

    /// (status, body), or `None` when nothing answers.
    pub fn get(&self, url: &str) -> Option<(u16, String)> {
        let mut resp = self.0.get(url).call().ok()?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(64 << 20).read_to_string().ok()?;
        Some((status, body))
    }
}

/// One answer of the Prometheus query API.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The HTTP status (0 when the request failed).
    pub http: u16,
    /// The body as received.
    pub body: String,
    /// The body parsed (`Null` when it is not JSON).
    pub json: Json,
}

impl Answer {
    /// HTTP 200 with `"status": "success"`.
    pub fn success(&self) -> bool {
        self.http == 200 && self.json["status"] == "success"
    }

    /// How many series (a scalar counts as one).
    pub fn series(&self) -> usize {
        match &self.json["data"]["result"] {
            Json::Array(items) if self.json["data"]["resultType"] == "scalar" => usize::from(!items.is_empty()),
            Json::Array(items) => items.len(),
            _ => 0,
        }
    }

    /// A success with at least one series.
    pub fn has_data(&self) -> bool {
        self.success() && self.series() > 0
    }

    /// The answer, shortened for a failure message.
    pub fn describe(&self) -> String {
        let mut body = self.body.trim().to_owned();
        if body.len() > 300 {
            let mut cut = 300;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            body.push('…');
        }
        format!("HTTP {}: {body}", self.http)
    }
}

/// The query API of one Prometheus; with `time` set, every query at that evaluation
/// time (so that all the answers see the same scrape), answers cached.
pub struct Prometheus {
    /// The client.
    pub http: Http,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The evaluation time (Unix seconds); `None`: now, uncached.
    pub time: Option<f64>,
    /// Answers by expression, while `time` is set.
    pub cache: HashMap<String, Answer>,
}

impl Prometheus {
    /// The query API at `base`, evaluating at now.
    pub fn new(base: &str) -> Prometheus {
        Prometheus {
            http: Http::new(),
            base: base.to_owned(),
            time: None,
            cache: HashMap::new(),
        }
    }

    /// Evaluates from now on at `time` (Unix seconds), the cache emptied.
    pub fn at(&mut self, time: f64) {
        self.cache.clear();
        self.time = Some(time);
    }

    fn send(req: ureq::RequestBuilder<ureq::typestate::WithoutBody>) -> Answer {
        match req.call() {
            Ok(mut resp) => {
                let http = resp.status().as_u16();
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(64 << 20)
                    .read_to_string()
                    .unwrap_or_default();
                let json = serde_json::from_str(&body).unwrap_or(Json::Null);
                Answer { http, body, json }
            }
            Err(e) => Answer {
                http: 0,
                body: format!("request failed: {e}"),
                json: Json::Null,
            },
        }
    }

    /// A range query over the `seconds` before the evaluation time, every `step` seconds,
    /// as Grafana runs a time series panel (not cached).
    pub fn query_range(&self, expr: &str, seconds: f64, step: f64) -> Answer {
        let end = self.time.unwrap_or_else(unix_now);
        let req = self
            .http
            .0
            .get(format!("{}/api/v1/query_range", self.base))
            .query("query", expr)
            .query("start", format!("{:.3}", end - seconds))
            .query("end", format!("{end:.3}"))
            .query("step", format!("{step}"));
        Self::send(req)
    }

    /// An instant query at the evaluation time.
    pub fn query(&mut self, expr: &str) -> Answer {
        if let Some(a) = self.cache.get(expr) {
            return a.clone();
        }
        let mut req = self
            .http
            .0
            .get(format!("{}/api/v1/query", self.base))
            .query("query", expr);
        if let Some(t) = self.time {
            req = req.query("time", format!("{t:.3}"));
        }
        let answer = Self::send(req);
        if self.time.is_some() {
            self.cache.insert(expr.to_owned(), answer.clone());
        }
        answer
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Polls `check` every 100 ms until it gives a value. `Err` when one of `procs` exits
/// first (its log tail in the message); panics after `timeout`.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    procs: &mut [&mut Process],
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        for p in procs.iter_mut() {
            if let Some(exit) = p.exited() {
                return Err(format!("{exit} while waiting for {what}\n{}", p.log_tail(4000)));
            }
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = procs.iter().map(|p| p.log_tail(4000)).collect();
            panic!("timed out after {timeout:?} waiting for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a Prometheus server (from [`tool`]) with `config`, its files in `dir`, and
/// waits until it is ready; returns it with its base URL. A new port is tried when it
/// exits (a port taken in between). Panics when `prometheus` is not installed.
pub fn start_server(dir: &Path, config: &str) -> (Process, String) {
    let bin = tool("prometheus").unwrap_or_else(|| {
        panic!("no prometheus binary: install the Debian package (apt-get install -y prometheus; tests/run does)")
    });
    let http = Http::new();
    let mut last = String::new();
    for _ in 0..3 {
        let port = crate::free_port();
        let mut p = start(&bin, dir, config, port);
        let base = format!("http://127.0.0.1:{port}");
        let ready = wait_until(
            "Prometheus: GET /-/ready 200",
            Duration::from_secs(30),
            &mut [&mut p],
            || {
                http.get(&format!("{base}/-/ready"))
                    .filter(|(status, _)| *status == 200)
            },
        );
        match ready {
            Ok(_) => return (p, base),
            Err(e) => last = e,
        }
    }
    panic!("Prometheus did not start:\n{last}")
}

// ---------------------------------------------------------------------------- deploy files

/// A PromQL expression of a dashboard: where it is and the expression as written.
pub struct Query {
    /// `<dashboard file>: <panel title>`.
    pub place: String,
    /// The expression, with its template variables.
    pub expr: String,
    /// Grafana's name for each series: `{{label}}` replaced by the series' label values.
    pub legend: Option<String>,
    /// The series names that the panel's `byName` field overrides apply to (table panels,
    /// whose overrides name columns, have none here).
    pub named_overrides: Vec<String>,
    /// The panel's `interval` (Grafana's minimum step) when it is a range query with one.
    pub step: Option<String>,
}

/// The dashboards' JSON files, sorted.
fn dashboard_files() -> Vec<PathBuf> {
    let dir = crate::repo_root().join(DASHBOARDS);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Every panel target of every dashboard (rows' nested panels included), and the
/// `label_values` variable queries as (file, variable name, selector).
pub fn dashboard_queries() -> (Vec<Query>, Vec<(String, String, String)>) {
    let files = dashboard_files();
    let mut queries = Vec::new();
    let mut variables = Vec::new();
    for path in files {
        let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {file}: {e}"));
        let json: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid JSON: {e}"));
        let mut panels = Vec::new();
        for p in json["panels"].as_array().into_iter().flatten() {
            panels.push(p);
            panels.extend(p["panels"].as_array().into_iter().flatten());
        }
        for p in panels {
            let title = p["title"].as_str().unwrap_or("(untitled)");
            let named_overrides: Vec<String> = if p["type"] == "table" {
                Vec::new()
            } else {
                p["fieldConfig"]["overrides"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|o| o["matcher"]["id"] == "byName")
                    .filter_map(|o| o["matcher"]["options"].as_str().map(str::to_owned))
                    .collect()
            };
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    queries.push(Query {
                        place: format!("{file}: {title}"),
                        expr: expr.to_owned(),
                        legend: t["legendFormat"].as_str().map(str::to_owned),
                        named_overrides: named_overrides.clone(),
                        step: p["interval"].as_str().filter(|_| t["range"] == true).map(str::to_owned),
                    });
                }
            }
        }
        for v in json["templating"]["list"].as_array().into_iter().flatten() {
            if v["type"] == "query" {
                let q = v["query"]["query"]
                    .as_str()
                    .or(v["query"].as_str())
                    .unwrap_or_else(|| panic!("{file}: variable without a query: {v}"));
                let selector = q
                    .strip_prefix("label_values(")
                    .and_then(|r| r.rsplit_once(','))
                    .map_or(q, |(sel, _)| sel);
                variables.push((
                    file.clone(),
                    v["name"].as_str().unwrap_or_default().to_owned(),
                    selector.to_owned(),
                ));
            }
        }
    }
    (queries, variables)
}

/// The values a dashboard's `custom` variable `name` offers (`window`: `5m`, `15m`, …),
/// in the order of its first dashboard that has it; empty when none has it.
pub fn custom_variable_values(name: &str) -> Vec<String> {
    let files = dashboard_files();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let json: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
        for v in json["templating"]["list"].as_array().into_iter().flatten() {
            if v["type"] == "custom" && v["name"] == name {
                if let Some(q) = v["query"].as_str() {
                    return q.split(',').map(|s| s.trim().to_owned()).collect();
                }
            }
        }
    }
    Vec::new()
}

/// (alert name, expression) of every alerting rule of the rule file.
pub fn alert_rules() -> Vec<(String, String)> {
    let path = crate::repo_root().join(RULES);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{RULES}: {e}"));
    let mut out = Vec::new();
    for group in yaml["groups"].as_sequence().into_iter().flatten() {
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            if let (Some(name), Some(expr)) = (rule["alert"].as_str(), rule["expr"].as_str()) {
                out.push((name.to_owned(), expr.trim().to_owned()));
            }
        }
    }
    out
}

/// The Grafana variables with their test values; `$window` is set per evaluation.
pub fn variables<'a>(window: &'a str, instance: &'a str) -> [(&'static str, &'a str); 9] {
    [
        ("window", window),
        // Multi-value variables with "All" selected: Grafana's `allValue`.
        ("team", ".*"),
        ("instance", instance),
        ("__rate_interval", "1m"),
        ("__interval", "15s"),
        ("__interval_ms", "15000"),
        ("__range", "5m"),
        ("__range_s", "300"),
        ("__range_ms", "300000"),
    ]
}
