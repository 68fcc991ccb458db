//! Plumbing for the tests that run a real Prometheus against the real `ccpulse` binary:
//! finding the Prometheus tools, processes killed on drop, a generated Prometheus
//! configuration, Grafana template variables, and the metric selectors of a PromQL
//! expression. Standard library only: the HTTP side lives in the test files (`ureq`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A Prometheus configuration: one scrape job, rule files, scrapes and rule evaluations
/// every second.
pub fn config(job: &str, target: &str, rule_files: &[PathBuf]) -> String {
    let mut yaml =
        String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n");
    for f in rule_files {
        yaml.push_str(&format!("  - {:?}\n", f.display().to_string()));
    }
    yaml.push_str(&format!(
        "scrape_configs:\n  - job_name: {job:?}\n    static_configs:\n      - targets: [{target:?}]\n"
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
