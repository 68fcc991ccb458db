//! Headless Chromium driven through the DevTools protocol, for the wallboard page tests:
//! a browser process per test (a fresh profile, no network but loopback in use), one page
//! in it, and the few commands the tests need — set the screen size, load a page,
//! evaluate JavaScript and wait for a condition, take a screenshot.
//!
//! Chromium is started with `--remote-debugging-port=0`; the port it chose is read from
//! its "DevTools listening on ws://…" line on stderr, and the protocol is JSON over that
//! websocket (`tungstenite`). One connection carries the browser's and the page's
//! messages (a session attached with `flatten`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// The `chromium` executable: `$CHROMIUM` when set, else `chromium` from `PATH` (Debian's
/// package, which `tests/run` installs).
pub fn chromium_bin() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("chromium"), PathBuf::from)
}

/// How long one protocol command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Script run in every document before the page's own: it records what the tests assert
/// did not happen (Content-Security-Policy violations, uncaught errors).
const WATCH: &str = "window.__cspViolations = []; window.__errors = [];\
    document.addEventListener('securitypolicyviolation', e => \
      window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));\
    window.addEventListener('error', e => window.__errors.push(String(e.message)));";

/// A headless Chromium with one page, closed when dropped.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    profile: PathBuf,
    log: PathBuf,
    /// Errors the page reported on the protocol (exceptions, console errors), in order.
    pub console: Vec<String>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("pid", &self.child.id())
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts Chromium headless with a fresh profile under `dir` and opens a blank page.
    /// Its stderr goes to `dir/chromium-N.log`.
    pub fn start(dir: &Path) -> Browser {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let profile = dir.join(format!("chromium-profile-{n}"));
        let log = dir.join(format!("chromium-{n}.log"));
        std::fs::create_dir_all(&profile).expect("creating the chromium profile directory");
        let mut child = Command::new(chromium_bin())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--force-color-profile=srgb",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); tests/run installs it (apt-get install chromium)",
                    chromium_bin().display()
                )
            });
        // stderr: copied to the log by a thread, which also hands over the DevTools URL.
        let stderr = child.stderr.take().expect("chromium's stderr is piped");
        let (url_tx, url_rx) = mpsc::channel();
        let log_path = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(&log_path).ok();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = url_tx.send(url.trim().to_owned());
                }
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        let url = match url_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium printed no DevTools URL within 30 s; its log:\n{}",
                    crate::tansu::log_tail(&log, 4000)
                );
            }
        };
        let ws = connect(&url);
        let mut browser = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
            profile,
            log,
            console: Vec::new(),
        };
        let target = browser
            .send(None, "Target.createTarget", json!({"url": "about:blank"}))
            .unwrap_or_else(|e| panic!("chromium: Target.createTarget failed: {e}"));
        let target_id = target["targetId"].as_str().unwrap_or_default().to_owned();
        let attached = browser
            .send(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .unwrap_or_else(|e| panic!("chromium: Target.attachToTarget failed: {e}"));
        browser.session = attached["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {attached}"))
            .to_owned();
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser.call("Log.enable", json!({}));
        browser.call("Page.addScriptToEvaluateOnNewDocument", json!({"source": WATCH}));
        browser
    }

    /// The path of Chromium's log (its stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Sends a command to the page and returns its result; panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|err| panic!("chromium: {method} failed: {err}"))
    }

    /// Sends a command to the page and returns its result, or the protocol error (as
    /// when the page navigated while the command ran).
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .unwrap_or_else(|e| panic!("sending {method} to chromium: {e}"));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "chromium did not answer {method} within {COMMAND_TIMEOUT:?}"
            );
            let frame = self
                .ws
                .read()
                .unwrap_or_else(|e| panic!("reading chromium's answer to {method}: {e}"));
            let Message::Text(text) = frame else { continue };
            let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    return Err(err.clone());
                }
                return Ok(v["result"].clone());
            }
            self.note_event(&v);
        }
    }

    /// Keeps what the page reported that a test may want to show.
    fn note_event(&mut self, v: &Value) {
        let params = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &params["exceptionDetails"];
                self.console.push(format!(
                    "exception: {} {}",
                    d["text"].as_str().unwrap_or_default(),
                    d["exception"]["description"].as_str().unwrap_or_default()
                ));
            }
            Some("Log.entryAdded") => {
                let e = &params["entry"];
                self.console.push(format!(
                    "{} {}: {}",
                    e["source"].as_str().unwrap_or_default(),
                    e["level"].as_str().unwrap_or_default(),
                    e["text"].as_str().unwrap_or_default()
                ));
            }
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => {
                self.console.push(format!("console.error: {}", params["args"]));
            }
            _ => {}
        }
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value as
    /// JSON, or the exception's text, or the protocol error (the page navigated while
    /// the expression ran: `wait_for` then asks again).
    pub fn try_eval(&mut self, expression: &str) -> Result<Value, String> {
        let r = self
            .try_call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .map_err(|e| format!("protocol error: {e}"))?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!(
                "{} {}",
                e["text"].as_str().unwrap_or_default(),
                e["exception"]["description"].as_str().unwrap_or_default()
            ));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `expression` in the page; panics if it throws.
    pub fn eval(&mut self, expression: &str) -> Value {
        self.try_eval(expression)
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
    }

    /// Polls `expression` until it gives something other than `null`, `false` or
    /// `undefined` (an exception counts as not yet), and returns it; panics naming `what`
    /// after `timeout`.
    pub fn wait_for(&mut self, what: &str, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.try_eval(expression) {
                Ok(Value::Null) | Ok(Value::Bool(false)) => "not yet".to_owned(),
                Ok(v) => return v,
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "waited {timeout:?} for {what}; last: {last}; page reported: {:?}",
                self.console
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The screen (viewport) size, as a TV of that resolution at scale 1.
    pub fn set_size(&mut self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
    }

    /// Loads `url` and waits until its document is complete.
    pub fn navigate(&mut self, url: &str) {
        let r = self.call("Page.navigate", json!({"url": url}));
        if let Some(e) = r.get("errorText") {
            panic!("loading {url}: {e}");
        }
        let check = format!("location.href === {} && document.readyState === 'complete'", json!(url));
        self.wait_for(&format!("{url} to load"), &check, Duration::from_secs(30));
    }

    /// Saves a PNG of the viewport to `path` (its directory created).
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let data = r["data"].as_str().unwrap_or_default();
        let png = data_encoding::BASE64
            .decode(data.as_bytes())
            .unwrap_or_else(|e| panic!("screenshot is not base64: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("creating the screenshot directory");
        }
        std::fs::write(path, png).expect("writing the screenshot");
    }
}

/// Connects the websocket of `url` (`ws://127.0.0.1:PORT/devtools/browser/ID`).
fn connect(url: &str) -> WebSocket<TcpStream> {
    let host = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("unexpected DevTools URL {url}"));
    let stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connecting to {host}: {e}"));
    stream
        .set_read_timeout(Some(COMMAND_TIMEOUT))
        .expect("setting a read timeout");
    match tungstenite::client(url, stream) {
        Ok((ws, _)) => ws,
        Err(e) => panic!("websocket handshake with {url}: {e}"),
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Close politely (Chromium ends its helper processes), then make sure.
        self.next_id += 1;
        let close = json!({"id": self.next_id, "method": "Browser.close"});
        let _ = self.ws.send(Message::text(close.to_string()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where the tests save their screenshots: `target/wallboard-screenshots/` of the build
/// that runs them (created).
pub fn screenshot_dir() -> PathBuf {
    // A test binary lives in `target/<profile>/deps/`.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| crate::repo_root().join("target"));
    let dir = target.join("wallboard-screenshots");
    std::fs::create_dir_all(&dir).expect("creating target/wallboard-screenshots");
    dir
}
