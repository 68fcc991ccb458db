//! End-to-end plumbing for the tests that run the real `ccpulse` binary against a real
//! [Tansu](https://github.com/tansu-io/tansu) broker: a broker process per test (in-memory
//! storage, its own port), `ccpulse serve` processes, a tiny HTTP client and a parser of the
//! Prometheus text format. Standard library only: the Kafka client side (producing,
//! reading the dead-letter topic) lives in the test files, which have `rdkafka`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{ccpulse_bin, free_port};

/// The topics of the contract (`spec/events.md`), in the order `ccpulse` reads them.
pub const EVENT_TOPICS: [&str; 5] = ["cc.voice", "cc.chat", "cc.email", "cc.surveys", "cc.agents"];

/// The dead-letter topic `ccpulse serve` writes to by default.
pub const DLQ_TOPIC: &str = "cc.dlq";

/// The topic `ccpulse serve` instances share their figures through by default.
pub const PARTIALS_TOPIC: &str = "cc.partials";

/// The `tansu` executable: `$TANSU` when set, else `~/.cargo/bin/tansu` when it exists
/// (where `tests/run` installs it), else `tansu` from `PATH`.
pub fn tansu_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TANSU") {
        return PathBuf::from(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = Path::new(&home).join(".cargo/bin/tansu");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("tansu")
}

/// A fresh directory for one test's logs and files, under the system temp directory;
/// removed when dropped, unless the test is failing (its logs are kept to look at).
pub fn scratch_dir(test: &str) -> Scratch {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ccpulse-e2e-{}-{n}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory under the temp dir");
    Scratch(dir)
}

/// A test's scratch directory (see [`scratch_dir`]); derefs to its path.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("logs kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The last `max` bytes of a log file, for panic messages.
pub fn log_tail(path: &Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// A Tansu broker process with in-memory storage, killed when dropped.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Broker {
    /// Starts a broker on a free port of 127.0.0.1 and waits until it answers
    /// `tansu topic list`. Logs go to `dir/broker-<port>.log`.
    pub fn start(dir: &Path) -> Broker {
        Self::start_advertising(dir, None, false)
    }

    /// Starts a broker behind a [`Proxy`]: it advertises the proxy's address, so that
    /// clients that bootstrap through the proxy keep talking through it, and cutting
    /// the proxy takes the broker away from them.
    pub fn start_behind(dir: &Path, proxy_port: u16) -> Broker {
        Self::start_advertising(dir, Some(proxy_port), false)
    }

    /// Starts a broker that requires SASL authentication (Tansu's `--authentication`:
    /// PLAIN, and SCRAM with stored credentials), advertising `advertised` when given
    /// (a TLS terminator in front of it). Its topics must be created with an
    /// authenticated client ([`crate::kafka::create_topics`]): `tansu topic` cannot
    /// authenticate.
    pub fn start_authenticating(dir: &Path, advertised: Option<u16>) -> Broker {
        Self::start_advertising(dir, advertised, true)
    }

    fn start_advertising(dir: &Path, advertised: Option<u16>, authentication: bool) -> Broker {
        // A port picked free can be taken by someone else before the broker binds it:
        // then the broker dies at once, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let log = dir.join(format!("broker-{port}.log"));
            let out = std::fs::File::create(&log).expect("creating the broker log");
            let err = out.try_clone().expect("cloning the broker log handle");
            let url = format!("tcp://127.0.0.1:{port}");
            let advertised_url = advertised.map_or(url.clone(), |p| format!("tcp://127.0.0.1:{p}"));
            let child = Command::new(tansu_bin())
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &advertised_url,
                ])
                .args(["--storage-engine", "memory://tansu/"])
                .args(authentication.then_some("--authentication"))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {} ({e}); install it with tests/run or \
                         `cargo install tansu --locked --version 0.6.0 --features dynostore`",
                        tansu_bin().display()
                    )
                });
            let mut broker = Broker { child, port, log };
            let up = if authentication {
                broker.wait_listening(Duration::from_secs(20))
            } else {
                broker.wait_answering(Duration::from_secs(20))
            };
            if up {
                return broker;
            }
        }
        panic!(
            "no Tansu broker could be started on a free port (see the broker-*.log files in {})",
            dir.display()
        );
    }

    /// Whether the broker accepts connections before `timeout`; `false` when the
    /// process exited (e.g. its port was taken).
    fn wait_listening(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the Tansu broker on port {} did not listen within {timeout:?}; its log:\n{}",
            self.port,
            log_tail(&self.log, 4000)
        );
    }

    /// Whether the broker answers a topic listing before `timeout`; `false` when the
    /// process exited (e.g. its port was taken).
    fn wait_answering(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let listed = Command::new(tansu_bin())
                .args(["topic", "list", "--broker", &self.url()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if listed.is_ok_and(|s| s.success()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the Tansu broker on port {} did not answer within {timeout:?}; its log:\n{}",
            self.port,
            log_tail(&self.log, 4000)
        );
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers` and `ccpulse --brokers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `tcp://127.0.0.1:PORT`, for the `tansu` command line.
    pub fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(tansu_bin())
            .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
            .args(["--broker", &self.url()])
            .stdin(Stdio::null())
            .output()
            .expect("running tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {topic} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates the five event topics with `partitions` partitions each, the
    /// dead-letter topic and the partials topic.
    pub fn create_contract_topics(&self, partitions: u32) {
        for t in EVENT_TOPICS {
            self.create_topic(t, partitions);
        }
        self.create_topic(DLQ_TOPIC, partitions);
        self.create_topic(PARTIALS_TOPIC, 1);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `ccpulse serve` process, killed when dropped. Its stdout and stderr go to a log file.
#[derive(Debug)]
pub struct Service {
    child: Child,
    http: String,
    log: PathBuf,
    exit: Option<ExitStatus>,
}

impl Service {
    /// Starts `ccpulse serve --brokers BROKERS --group-id GROUP --clock CLOCK` listening
    /// on a free port of 127.0.0.1, with `extra` arguments; the log goes to `dir`.
    /// Does not wait for readiness (see [`Service::wait_ready`]).
    pub fn start(dir: &Path, brokers: &str, group: &str, clock: &str, extra: &[&str]) -> Service {
        let port = free_port();
        let http = format!("127.0.0.1:{port}");
        let log = dir.join(format!("serve-{port}.log"));
        let out = std::fs::File::create(&log).expect("creating the service log");
        let err = out.try_clone().expect("cloning the service log handle");
        let child = Command::new(ccpulse_bin())
            .args(["serve", "--brokers", brokers, "--listen", &http, "--group-id", group])
            .args(["--clock", clock])
            .args(extra)
            // CCPULSE_TEST_RUST_LOG: another filter when investigating, e.g.
            // "info,librdkafka=debug" with `debug` in the service's Kafka properties.
            .env(
                "RUST_LOG",
                std::env::var("CCPULSE_TEST_RUST_LOG").unwrap_or_else(|_| "info,rdkafka=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starting ccpulse serve");
        Service {
            child,
            http,
            log,
            exit: None,
        }
    }

    /// `127.0.0.1:PORT` of its HTTP side.
    pub fn http_addr(&self) -> String {
        self.http.clone()
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The tail of the service's log, for panic messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 6000)
    }

    /// Waits until `GET /readyz` answers 200; panics with the last answer and the log
    /// tail after `timeout`, or at once if the process exits.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                panic!(
                    "ccpulse serve exited ({status}) before it was ready; log:\n{}",
                    self.log_tail()
                );
            }
            let last = match http_get(&self.http, "/readyz") {
                Ok((200, _)) => return,
                Ok((code, body)) => format!("{code} {body}"),
                Err(e) => e.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "ccpulse serve at {} not ready after {timeout:?}; last /readyz: {last}; log:\n{}",
                self.http,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the service holds `partitions` partitions itself, all replayed, and is
    /// ready (another instance's figures can make it ready before it holds any).
    pub fn wait_holding(&mut self, partitions: u32, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            self.wait_ready(deadline.saturating_duration_since(Instant::now()));
            let m = self.metrics();
            let held = value_of(&m, "ccpulse_partitions_assigned") == Some(f64::from(partitions));
            if held && value_of(&m, "ccpulse_partitions_replaying") == Some(0.0) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ccpulse serve at {} does not hold {partitions} replayed partitions after {timeout:?}; log:\n{}",
                self.http,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET path`, which must answer 200; returns the body.
    pub fn get(&self, path: &str) -> String {
        match http_get(&self.http, path) {
            Ok((200, body)) => body,
            Ok((code, body)) => panic!("GET {path} answered {code}: {body}"),
            Err(e) => panic!("GET {path} on {} failed: {e}; log:\n{}", self.http, self.log_tail()),
        }
    }

    /// The status code of `GET path` (0 when the service does not answer).
    pub fn status(&self, path: &str) -> u16 {
        http_get(&self.http, path).map_or(0, |(code, _)| code)
    }

    /// `GET /metrics`, parsed.
    pub fn metrics(&self) -> Vec<Sample> {
        parse_prometheus(&self.get("/metrics"))
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        if let Ok(s) = self.child.wait() {
            self.exit = Some(s);
        }
    }

    /// Sends SIGTERM (with `kill -TERM`) and waits up to `timeout` for the process to
    /// exit; returns its exit status, or `None` if it is still running.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("running kill -TERM");
        assert!(sent.success(), "kill -TERM {} failed", self.pid());
        self.wait_exit(timeout)
    }

    /// Waits up to `timeout` for the process to exit by itself; returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A minimal HTTP/1.1 `GET` on 127.0.0.1: the status code and the body (the service
/// answers with `Content-Length` or chunked encoding; both are handled).
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split + 4..];
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("bad chunked body"))?
    } else {
        body.to_vec()
    };
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// One sample of the Prometheus text format: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, `""` when absent (as Prometheus reads it).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// Parses the Prometheus text format simply: comment lines skipped, label values with
/// `\"`, `\\` and `\n` escapes; timestamps (absent here) ignored.
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(parse_sample)
        .collect()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut end = None;
        loop {
            // label name
            while chars.peek().is_some_and(|&(_, c)| c == ',' || c == ' ') {
                chars.next();
            }
            match chars.peek() {
                Some(&(i, '}')) => {
                    end = Some(i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(other) => value.push(other),
                        None => return None,
                    },
                    other => value.push(other),
                }
            }
            labels.insert(key.trim().to_owned(), value);
        }
        rest = &inner[end? + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

/// The sum of every sample of metric `name`.
pub fn sum_of(samples: &[Sample], name: &str) -> f64 {
    samples.iter().filter(|s| s.name == name).map(|s| s.value).sum()
}

/// The value of the single-valued metric `name` (no labels), if present.
pub fn value_of(samples: &[Sample], name: &str) -> Option<f64> {
    samples.iter().find(|s| s.name == name).map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_labels_escapes_and_values() {
        let text = "# HELP x y\n# TYPE x gauge\n\
                    ccpulse_ready 1\n\
                    ccpulse_contacts_offered{channel=\"voice\",queue=\"bil\\\"ling\",window=\"1h\"} 12\n\
                    h_bucket{le=\"+Inf\"} 3\nq{a=\"1\"} NaN\n";
        let s = parse_prometheus(text);
        assert_eq!(s.len(), 4);
        assert_eq!(value_of(&s, "ccpulse_ready"), Some(1.0));
        assert_eq!(s[1].label("queue"), "bil\"ling");
        assert_eq!(s[1].label("window"), "1h");
        assert_eq!(s[1].label("agent"), "");
        assert_eq!(s[1].value, 12.0);
        assert_eq!(s[2].label("le"), "+Inf");
        assert!(s[3].value.is_nan());
    }

    #[test]
    fn dechunks() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde".to_vec());
    }
}
