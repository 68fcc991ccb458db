//! The wallboard page at `/` in a real headless Chromium, against the real `ccpulse
//! serve` on a real Tansu broker, with events produced through Kafka:
//!
//! - names that are markup (`<img onerror>`, `<script>`, quotes that end an attribute)
//!   are shown as text and run nothing;
//! - at 1280×720, 1920×1080 and 3840×2160 twelve tiles fit without scrolling, show the
//!   API's figures and the colours of the configured thresholds; more groups are shown a
//!   page at a time;
//! - the overlay says when the view is stale (the broker went away), incomplete (another
//!   member of the group holds a partition) and when the service cannot be reached.
//!
//! Screenshots go to `target/wallboard-screenshots/` (printed by each test).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccpulse_tests::browser::{screenshot_dir, Browser};
use ccpulse_tests::tansu::{http_get, scratch_dir, Broker, Service};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

const PARTITIONS: u32 = 2;
const READY: Duration = Duration::from_secs(30);
const SECOND: i64 = 1000;
/// How long the page may take to show what the service answers (it refreshes every
/// second).
const RENDERED: Duration = Duration::from_secs(15);
const SIZES: [(u32, u32); 3] = [(1280, 720), (1920, 1080), (3840, 2160)];

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------
// Events, produced through Kafka

/// One message: topic, key, JSON payload.
struct Event {
    topic: &'static str,
    key: String,
    payload: Value,
}

/// Produces every event (in order, per partition) and waits until all are delivered.
fn produce(brokers: &str, events: &[Event]) {
    let messages: Vec<ccpulse_sim::Message> = events
        .iter()
        .map(|e| ccpulse_sim::Message {
            topic: e.topic,
            key: e.key.clone(),
            payload: e.payload.to_string().into_bytes(),
            ts: e.payload["ts"]
                .as_str()
                .map_or(0, |t| t.parse::<jiff::Timestamp>().map_or(0, |t| t.as_millisecond())),
            invalid: false,
        })
        .collect();
    ccpulse_tests::kafka::produce(brokers, &messages);
}

/// How one contact goes.
#[derive(Clone, Copy)]
enum Outcome {
    /// Answered after this wait (seconds) by this agent, then talk and after-contact work.
    Answered { wait: i64, agent: &'static str },
    /// Abandoned after this wait.
    Abandoned { wait: i64 },
    /// Still waiting at the end.
    Waiting,
}

/// Builds the contract's events of a small contact centre, in time order per contact.
struct Traffic {
    events: Vec<Event>,
    next: usize,
    /// "Now" for the service (`--clock event`: the newest event time).
    end: i64,
}

impl Traffic {
    fn new(end: i64) -> Self {
        Traffic {
            events: Vec::new(),
            next: 0,
            end,
        }
    }

    fn push(&mut self, topic: &'static str, key: &str, mut payload: Value) {
        self.next += 1;
        payload["id"] = json!(format!("wb-{}", self.next));
        self.events.push(Event {
            topic,
            key: key.to_owned(),
            payload,
        });
    }

    /// One contact of `queue` on `channel`, offered at `at` (or, when still waiting,
    /// `wait` seconds before the end).
    fn contact(&mut self, queue: &str, channel: &'static str, at: i64, outcome: Outcome) -> String {
        let id = format!("c{}", self.next + 1);
        let topic = match channel {
            "voice" => "cc.voice",
            "chat" => "cc.chat",
            _ => "cc.email",
        };
        self.push(
            topic,
            &id,
            json!({"type": "contact.offered", "ts": at, "contact_id": id, "channel": channel, "queue": queue}),
        );
        match outcome {
            Outcome::Answered { wait, agent } => {
                let answered = at + wait * SECOND;
                self.push(
                    topic,
                    &id,
                    json!({"type": "contact.answered", "ts": answered, "contact_id": id, "agent_id": agent}),
                );
                let ended = answered + 150 * SECOND;
                self.push(
                    topic,
                    &id,
                    json!({"type": "contact.ended", "ts": ended, "contact_id": id}),
                );
                self.push(
                    topic,
                    &id,
                    json!({"type": "contact.wrapped_up", "ts": ended + 40 * SECOND, "contact_id": id}),
                );
                assert!(ended + 40 * SECOND <= self.end, "contact {id} ends after the end");
            }
            Outcome::Abandoned { wait } => {
                self.push(
                    topic,
                    &id,
                    json!({"type": "contact.abandoned", "ts": at + wait * SECOND, "contact_id": id}),
                );
            }
            Outcome::Waiting => {}
        }
        id
    }

    /// `n` contacts of `queue`, one every 20 s from `from`.
    fn contacts(&mut self, queue: &str, channel: &'static str, from: i64, n: usize, outcome: Outcome) -> Vec<String> {
        (0..n)
            .map(|i| self.contact(queue, channel, from + i as i64 * 20 * SECOND, outcome))
            .collect()
    }

    /// A contact still waiting since `age` seconds before the end.
    fn waiting(&mut self, queue: &str, channel: &'static str, age: i64) {
        let at = self.end - age * SECOND;
        self.contact(queue, channel, at, Outcome::Waiting);
    }

    fn agent(&mut self, agent: &str, team: &str, state: &str, queues: &[&str], at: i64) {
        self.push(
            "cc.agents",
            agent,
            json!({"type": "agent.state", "ts": at, "agent_id": agent, "state": state, "team": team, "queues": queues}),
        );
    }

    fn survey(&mut self, contact: &str, kind: &str, score: i64, at: i64) {
        let mut payload = json!({"type": kind, "ts": at, "contact_id": contact, "score": score});
        if kind == "survey.csat" {
            payload["scale"] = json!("five");
        }
        self.push("cc.surveys", contact, payload);
    }
}

// ---------------------------------------------------------------------------------------
// The service and the page

/// A broker with the contract's topics, the events produced, and `ccpulse serve` on it,
/// ready.
fn serve(dir: &Path, group: &str, clock: &str, config: &str, events: &[Event]) -> (Broker, Service) {
    let broker = Broker::start(dir);
    broker.create_contract_topics(PARTITIONS);
    produce(&broker.bootstrap(), events);
    let file = dir.join(format!("{group}.toml"));
    std::fs::write(&file, config).unwrap();
    let mut service = Service::start(
        dir,
        &broker.bootstrap(),
        group,
        clock,
        &["--config", file.to_str().unwrap()],
    );
    service.wait_ready(READY);
    (broker, service)
}

fn api(service: &Service, path: &str) -> Value {
    serde_json::from_str(&service.get(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The base URL of the service, `http://127.0.0.1:PORT`.
fn base_url(service: &Service) -> String {
    format!("http://{}", service.http_addr())
}

/// What the page shows of one tile.
#[derive(Debug, Clone)]
struct Tile {
    queue: String,
    channel: String,
    level: u8,
    name: String,
    fields: BTreeMap<String, String>,
    border: String,
    /// The colour level of the "Staffed" figure alone.
    staffing_level: u8,
}

const READ_TILES: &str = r#"[...document.querySelectorAll('#tiles .tile')].map(t => ({
    queue: t.dataset.queue, channel: t.dataset.channel, level: Number(t.dataset.level),
    name: t.querySelector('.name').textContent,
    fields: Object.fromEntries([...t.querySelectorAll('[data-field]')].map(e => [e.dataset.field, e.textContent])),
    border: getComputedStyle(t).borderLeftColor,
    staffing_level: Number(t.querySelector('[data-field=staffing]').closest('.fig').className.match(/lvl(\d)/)[1]) }))"#;

fn tiles(page: &mut Browser) -> Vec<Tile> {
    let v = page.eval(READ_TILES);
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| Tile {
            queue: t["queue"].as_str().unwrap().to_owned(),
            channel: t["channel"].as_str().unwrap().to_owned(),
            level: t["level"].as_u64().unwrap() as u8,
            name: t["name"].as_str().unwrap().to_owned(),
            fields: serde_json::from_value(t["fields"].clone()).unwrap(),
            border: t["border"].as_str().unwrap().to_owned(),
            staffing_level: t["staffing_level"].as_u64().unwrap() as u8,
        })
        .collect()
}

/// Waits until the page shows the answer whose `to` is `to`, with `n` tiles.
fn wait_rendered(page: &mut Browser, to: &str, n: usize) {
    let check = format!(
        "document.body.dataset.to === {} && document.querySelectorAll('#tiles .tile').length === {n}",
        json!(to)
    );
    page.wait_for(&format!("{n} tiles of the answer at {to}"), &check, RENDERED);
}

fn shot(page: &mut Browser, name: &str) {
    let path = screenshot_dir().join(name);
    page.screenshot(&path);
    println!("screenshot: {}", path.display());
}

// ---------------------------------------------------------------------------------------
// The page's formats and colours, as docs/api.md states them

/// JavaScript's Math.round: half up.
fn js_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map_or("–".to_owned(), |x| format!("{:.1}%", js_round(x * 1000.0) / 10.0))
}

fn mss(v: &Value) -> String {
    v.as_f64().map_or("–".to_owned(), |s| {
        let t = js_round(s) as i64;
        let (h, m, s) = (t / 3600, t % 3600 / 60, t % 60);
        if h > 0 {
            format!("{h}:{m:02}:{s:02}")
        } else {
            format!("{m}:{s:02}")
        }
    })
}

fn count(v: &Value) -> String {
    v.as_i64().map_or("–".to_owned(), |n| n.to_string())
}

fn nps(v: &Value) -> String {
    v.as_f64().map_or("–".to_owned(), |x| {
        let r = js_round(x) as i64;
        match r {
            r if r > 0 => format!("+{r}"),
            r if r < 0 => format!("\u{2212}{}", -r),
            _ => "0".to_owned(),
        }
    })
}

/// 0 green, 1 amber, 2 red: the level of a figure against its thresholds.
fn at_least(v: Option<f64>, amber: f64, red: f64) -> u8 {
    match v {
        Some(v) if v >= red - 1e-9 => 2,
        Some(v) if v >= amber - 1e-9 => 1,
        _ => 0,
    }
}

/// The level of a queue group by the rules of docs/api.md and the settings the service
/// serves.
fn expected_level(g: &Value, settings: &Value) -> u8 {
    level_of(g, settings, true)
}

/// The level of a group: its service level, waiting and abandon rate, and for a queue
/// tile also its oldest wait and contacts at risk (a channel card shows neither).
fn level_of(g: &Value, settings: &Value, tile: bool) -> u8 {
    let margin = settings["amber_margin"].as_f64().unwrap();
    let sl = if g["breached"] == true {
        2
    } else {
        match (g["service_level"].as_f64(), g["sla_target"].as_f64()) {
            (Some(sl), Some(target)) if target - sl > margin + 1e-9 => 2,
            (Some(sl), Some(target)) if target - sl > 1e-9 => 1,
            _ => 0,
        }
    };
    // A queue closed by its business hours raises no colour for its live figures.
    let live = g["open"] != false;
    let mut level = sl.max(u8::from(live && tile && g["at_risk"].as_i64().unwrap() > 0));
    let th = &settings["channels"][g["channel"].as_str().unwrap()];
    if th.is_object() {
        let f = |k: &str| th[k].as_f64().unwrap();
        level = level
            .max(at_least(
                g["waiting"].as_f64().filter(|_| live),
                f("waiting_amber"),
                f("waiting_red"),
            ))
            .max(at_least(
                g["oldest_wait_seconds"].as_f64().filter(|_| tile && live),
                f("oldest_wait_amber_seconds"),
                f("oldest_wait_red_seconds"),
            ))
            .max(at_least(
                g["abandon_rate"].as_f64(),
                f("abandon_rate_amber"),
                f("abandon_rate_red"),
            ));
    }
    level
}

fn status_word(level: u8, g: &Value) -> &'static str {
    match level {
        2 if g["breached"] == true => "✖ BREACH",
        2 => "✖ ALERT",
        1 => "▲ WARNING",
        _ if g["open"] == false => "CLOSED",
        _ => "✓ OK",
    }
}

/// `#rrggbb` as the `rgb(r, g, b)` that getComputedStyle gives.
fn rgb(hex: &str) -> String {
    let h = hex.trim().trim_start_matches('#');
    let c = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap();
    format!("rgb({}, {}, {})", c(0), c(2), c(4))
}

/// What a queue tile must show for group `g`.
/// The "Staffed" figure's level: amber when short of agents, red when short by 2 or
/// more or by a fifth of the requirement (the CcpulseUnderstaffed rule); none when closed.
fn staffing_level(g: &Value) -> u8 {
    match (g["staffing_gap"].as_i64(), g["agents_required"].as_f64()) {
        (Some(gap), Some(required)) if gap < 0 && g["open"] != false => {
            let short = -gap;
            if short >= 2 || short as f64 >= 0.2 * required {
                2
            } else {
                1
            }
        }
        _ => 0,
    }
}

fn expected_fields(g: &Value, states: &Value) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    for k in ["service_level", "sla_target", "answer_rate", "abandon_rate"] {
        f.insert(k.to_owned(), pct(&g[k]));
    }
    for k in [
        "sla_threshold_seconds",
        "oldest_wait_seconds",
        "asa_seconds",
        "aht_seconds",
    ] {
        f.insert(k.to_owned(), mss(&g[k]));
    }
    for k in ["waiting", "at_risk", "offered"] {
        f.insert(k.to_owned(), count(&g[k]));
    }
    let staffing = if g["agents_required"].is_null() {
        "–".to_owned()
    } else {
        format!("{}/{}", count(&g["agents_staffed"]), count(&g["agents_required"]))
    };
    f.insert("staffing".to_owned(), staffing);
    let agents = states["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == g["queue"]);
    for k in ["available", "busy", "acw", "away"] {
        let v = agents.map_or("–".to_owned(), |a| count(&a[k]));
        f.insert(format!("agents_{k}"), v);
    }
    f
}

/// Layout problems at the current size: the document scrolls, a tile or figure is off
/// the screen or outside its box, a label is cut, figures overflow their cell; and the
/// smallest font sizes, as fractions of the screen height.
const LAYOUT: &str = r#"(() => {
  const W = innerWidth, H = innerHeight, bad = [];
  const de = document.documentElement;
  if (de.scrollWidth > W || de.scrollHeight > H) bad.push(`the document scrolls: ${de.scrollWidth}x${de.scrollHeight} in ${W}x${H}`);
  const banner = document.getElementById('banner');
  if (banner.scrollWidth > banner.clientWidth + 1) bad.push(`the banner overflows: ${banner.textContent}`);
  const inside = (q, r) => q.left >= r.left - 0.5 && q.right <= r.right + 0.5 && q.top >= r.top - 0.5 && q.bottom <= r.bottom + 0.5;
  const screen = {left: 0, top: 0, right: W, bottom: H};
  const font = (e) => parseFloat(getComputedStyle(e).fontSize) / H;
  const natural = (e) => {
    const s = document.createElement('span'), cs = getComputedStyle(e);
    s.textContent = e.textContent;
    for (const k of ['fontFamily', 'fontSize', 'fontWeight', 'fontStyle', 'fontStretch', 'fontVariantNumeric', 'letterSpacing'])
      s.style[k] = cs[k];
    s.style.whiteSpace = 'pre'; s.style.position = 'absolute'; s.style.visibility = 'hidden';
    document.body.append(s);
    const w = s.getBoundingClientRect().width;
    s.remove();
    return w;
  };
  let figure = 1, label = 1, sl = 1, tileName = 1;
  for (const box of document.querySelectorAll('#tiles .tile, .chan-card, .agents, .top, .banner:not([hidden])')) {
    const r = box.getBoundingClientRect();
    const who = box.className + ' ' + (box.dataset.queue || '') + ' ' + (box.dataset.channel || '');
    if (!inside(r, screen)) bad.push(`off the screen: ${who}`);
    for (const e of box.querySelectorAll('[data-field], .fig-label, .name, .chan-name')) {
      if (!inside(e.getBoundingClientRect(), r)) bad.push(`${e.dataset.field || e.className} outside its box in ${who}`);
    }
    // Text cut by its box (an ellipsis hides it from scrollWidth: its width is measured).
    for (const e of box.querySelectorAll('.fig-label, .name, .chan-name, .team-name, .fig-value')) {
      const w = natural(e);
      if (w > e.clientWidth + 1) bad.push(`cut: ${e.className} "${e.textContent}" (${w} px in ${e.clientWidth}) in ${who}`);
    }
    for (const e of box.querySelectorAll('.fig, .figs, .chan-figs, .sl, .tile-agents, .teams')) {
      if (e.scrollHeight > e.clientHeight + 1)
        bad.push(`overflows: ${e.className} (${e.scrollHeight} px in ${e.clientHeight}) in ${who}`);
    }
  }
  for (const e of document.querySelectorAll('#tiles .fig-value')) figure = Math.min(figure, font(e));
  for (const e of document.querySelectorAll('.fig-label, [data-field], .team')) label = Math.min(label, font(e));
  for (const e of document.querySelectorAll('#tiles .sl-value')) sl = Math.min(sl, font(e));
  for (const e of document.querySelectorAll('#tiles .tile-head')) tileName = Math.min(tileName, font(e));
  return {bad, figure, label, sl, tileName, W, H};
})()"#;

// ---------------------------------------------------------------------------------------
// Tests

/// Queue, agent and team names that are markup or break out of an attribute: the page
/// shows them as text, no element comes from them, and none of their scripts runs.
#[test]
fn names_that_are_markup_are_shown_as_text_and_run_nothing() {
    let dir = scratch_dir("wallboard-hostile");
    let img = r#"<img src=x onerror="window.__pwned='img';document.title='pwned'">"#;
    let script = "<script>window.__pwned='script';document.body.style.background='red'</script>";
    let quotes = r#""'><svg onload="window.__pwned='svg'">"#;
    let team_img = "<img src=x onerror=window.__pwned='team'>";
    let team_script = "</div><script>window.__pwned='team2'</script>";
    let agent = r#""><img src=x onerror=window.__pwned='agent'>"#;
    let queues = [img, script, quotes];

    let end = now_ms() - 30 * SECOND;
    let mut t = Traffic::new(end);
    let start = end - 8 * 60 * SECOND;
    // The first queue breaches (its name is in the banner too), the others do not.
    t.contacts(img, "voice", start, 6, Outcome::Answered { wait: 40, agent });
    t.contacts(
        img,
        "voice",
        start + 10 * SECOND,
        6,
        Outcome::Answered { wait: 3, agent },
    );
    t.contacts(script, "voice", start, 4, Outcome::Answered { wait: 2, agent });
    t.contacts(quotes, "chat", start, 4, Outcome::Answered { wait: 2, agent });
    t.agent(agent, team_img, "busy", &queues, end - 10 * SECOND);
    t.agent("a2", team_script, "available", &queues, end);
    let (_broker, service) = serve(&dir, "wb-hostile", "event", "", &t.events);

    // The names reached the API as they were produced.
    let answer = api(&service, "/api/v1/queues?window=15m");
    let names: BTreeSet<&str> = answer["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["queue"].as_str().unwrap())
        .collect();
    assert_eq!(names, queues.into_iter().collect(), "{answer}");
    let breaches = api(&service, "/api/v1/breaches");
    assert!(
        breaches["breaches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["queue"] == img),
        "{breaches}"
    );

    let mut page = Browser::start(&dir);
    page.set_size(1920, 1080);
    page.navigate(&format!("{}/", base_url(&service)));
    wait_rendered(&mut page, answer["to"].as_str().unwrap(), 3);
    page.wait_for(
        "the breach banner",
        "!document.getElementById('banner').hidden",
        RENDERED,
    );

    // Nothing ran.
    let ran = page.eval(
        "({pwned: typeof window.__pwned === 'undefined' ? null : String(window.__pwned),
           title: document.title,
           background: getComputedStyle(document.body).backgroundColor,
           bodyStyle: document.body.getAttribute('style'),
           violations: window.__cspViolations, errors: window.__errors})",
    );
    assert_eq!(ran["pwned"], Value::Null, "a payload ran: {ran}");
    assert_eq!(ran["title"], "ccpulse wallboard", "{ran}");
    assert_eq!(ran["background"], rgb("#06080b"), "{ran}");
    assert_eq!(ran["bodyStyle"], Value::Null, "{ran}");
    // No inline script or handler was even attempted (the policy would have reported it),
    // and the page's own code raised nothing.
    assert_eq!(ran["violations"], json!([]), "{ran}");
    assert_eq!(ran["errors"], json!([]), "{ran}");

    // No element came from the data: one script (the page's), no image, svg or frame.
    let elements = page.eval(
        "({scripts: [...document.scripts].map(s => s.getAttribute('src')),
           other: document.querySelectorAll('img, svg, iframe, object, embed, video, audio, link[rel=import]').length,
           handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length})",
    );
    assert_eq!(elements["scripts"], json!(["/wallboard.js"]), "{elements}");
    assert_eq!(elements["other"], 0, "{elements}");
    assert_eq!(elements["handlers"], 0, "{elements}");

    // The names are there as text: in the tiles, the breach banner and the teams.
    let shown = tiles(&mut page);
    for q in queues {
        let tile = shown
            .iter()
            .find(|t| t.queue == q)
            .unwrap_or_else(|| panic!("no tile for {q}: {shown:?}"));
        assert_eq!(tile.name, q);
    }
    let text = page.eval(
        "({banner: document.getElementById('banner').textContent,
           teams: [...document.querySelectorAll('.team[data-team]')].map(e => e.querySelector('.team-name').textContent)})",
    );
    assert!(text["banner"].as_str().unwrap().contains(img), "{text}");
    // The long name gives way in the banner; the breaches that do not fit are counted.
    let banner = page.eval(
        "(() => { const b = document.getElementById('banner');
           return {fits: b.scrollWidth <= b.clientWidth + 1, more: b.querySelector('.more')?.textContent ?? null}; })()",
    );
    assert_eq!(banner, json!({"fits": true, "more": "+2 more"}), "{text}");
    let teams: BTreeSet<&str> = text["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(teams, [team_img, team_script].into_iter().collect(), "{text}");
    shot(&mut page, "hostile-names-1920x1080.png");
}

/// Fourteen groups with known outcomes: six queues on voice and chat, two on email. With
/// the thresholds of `config`, they are green, amber and red for different reasons.
fn known_traffic() -> (Traffic, &'static str) {
    let end = now_ms() - 30 * SECOND;
    let mut t = Traffic::new(end);
    let s = end - 9 * 60 * SECOND;
    let (a1, a2, a3) = ("agent-1", "agent-2", "agent-3");
    let on = |wait, agent| Outcome::Answered { wait, agent };
    // Billing: voice all within 20 s (green); chat 3 of 4 within 60 s (0.75: amber,
    // within the 0.1 margin, 4 contacts are too few to breach).
    let billing = t.contacts("Billing", "voice", s, 10, on(5, a1));
    t.contacts("Billing", "chat", s, 3, on(10, a2));
    t.contacts("Billing", "chat", s + 5 * SECOND, 1, on(90, a2));
    // Sales: voice 5 of 10 within (breached: red, in the banner); chat green but 3
    // waiting (amber at 3).
    t.contacts("Sales", "voice", s, 5, on(4, a1));
    t.contacts("Sales", "voice", s + 3 * SECOND, 5, on(45, a1));
    t.contacts("Sales", "chat", s, 4, on(8, a2));
    for age in [10, 20, 30] {
        t.waiting("Sales", "chat", age);
    }
    // Support: voice with one contact waiting 6:40 (red at 5 min, and at risk); chat 9
    // answered, 1 abandoned (abandon rate 0.1: amber).
    t.contacts("Support", "voice", s, 6, on(6, a3));
    t.waiting("Support", "voice", 400);
    t.contacts("Support", "chat", s, 9, on(12, a2));
    t.contacts("Support", "chat", s + 7 * SECOND, 1, Outcome::Abandoned { wait: 30 });
    // Tech: green on both, with surveys for the channel totals.
    let tech = t.contacts("Tech", "voice", s, 8, on(3, a3));
    t.contacts("Tech", "chat", s, 1, on(20, a2));
    // Retention: voice 7 of 9 within (0.78: amber); chat 2 answered, 3 abandoned (red).
    t.contacts("Retention", "voice", s, 7, on(5, a1));
    t.contacts("Retention", "voice", s + 9 * SECOND, 2, on(50, a1));
    t.contacts("Retention", "chat", s, 2, on(5, a2));
    t.contacts("Retention", "chat", s + 4 * SECOND, 3, Outcome::Abandoned { wait: 70 });
    // Claims: voice only waiting (no service level yet: "–"), chat green.
    t.waiting("Claims", "voice", 5);
    t.waiting("Claims", "voice", 15);
    t.contacts("Claims", "chat", s, 5, on(9, a2));
    // Two email queues (for paging: 14 groups); Complaints is closed by its business
    // hours (a calendar with none), so its waiting email has waited no open time.
    t.contacts("Escalations", "email", s, 3, on(240, a3));
    t.waiting("Complaints", "email", 500);
    for (i, c) in billing.iter().take(4).enumerate() {
        t.survey(c, "survey.csat", 2 + i as i64, end - 20 * SECOND);
    }
    for (i, c) in tech.iter().take(5).enumerate() {
        t.survey(c, "survey.nps", 3 + 2 * i as i64, end - 20 * SECOND);
    }
    let all = ["Billing", "Sales", "Support", "Tech", "Retention", "Claims"];
    t.agent(a1, "North", "busy", &all[..3], end - 60 * SECOND);
    t.agent(a2, "North", "acw", &all, end - 30 * SECOND);
    t.agent(a3, "South", "available", &all[3..], end - 20 * SECOND);
    t.agent("agent-4", "South", "away", &["Tech"], end - 10 * SECOND);
    t.agent("agent-5", "South", "available", &["Claims", "Escalations"], end);
    // A shrinkage of 0.5 doubles the agents required: some tiles are short of agents.
    const CONFIG: &str = "[wallboard]\namber_margin = 0.1\npage_seconds = 2\n\
        [wallboard.voice]\nwaiting_amber = 3\nwaiting_red = 6\noldest_wait_amber = \"2m\"\noldest_wait_red = \"5m\"\n\
        abandon_rate_amber = 0.1\nabandon_rate_red = 0.3\n\
        [wallboard.chat]\nwaiting_amber = 3\nwaiting_red = 6\noldest_wait_amber = \"3m\"\noldest_wait_red = \"6m\"\n\
        abandon_rate_amber = 0.1\nabandon_rate_red = 0.3\n\
        [[calendars]]\nname = \"never\"\ntime_zone = \"UTC\"\n\
        [[sla.policies]]\nname = \"complaints-email\"\nqueue = \"Complaints\"\nchannel = \"email\"\n\
        threshold = \"1h\"\ntarget = 0.9\ncalendar = \"never\"\n\
        [staffing]\nshrinkage = 0.5\n";
    (t, CONFIG)
}

const SIX_QUEUES: &str = "Billing,Sales,Support,Tech,Retention,Claims";

/// At three screen sizes, twelve tiles fit without scrolling, their figures are the
/// API's at the same moment, their colours and words follow the configured thresholds,
/// and the channel totals, agents and breach banner are the API's.
#[test]
fn twelve_tiles_fit_each_screen_with_the_figures_and_colours_of_the_api() {
    let dir = scratch_dir("wallboard-sizes");
    let (t, config) = known_traffic();
    // --clock event: "now" is the newest event time, so the figures hold still while
    // the page and the API are compared.
    let (_broker, service) = serve(&dir, "wb-sizes", "event", config, &t.events);

    let settings = api(&service, "/api/v1/wallboard/settings");
    assert_eq!(settings["amber_margin"], 0.1, "{settings}");
    assert_eq!(settings["channels"]["voice"]["oldest_wait_red_seconds"], 300.0);
    assert_eq!(
        settings["channels"]["email"]["waiting_red"], 100,
        "email keeps its defaults"
    );
    let queues = api(&service, "/api/v1/queues?window=15m");
    let channels = api(&service, "/api/v1/channels?window=15m");
    let states = api(&service, "/api/v1/agents/states");
    let breaches = api(&service, "/api/v1/breaches");
    let groups: Vec<&Value> = queues["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["channel"] != "email")
        .collect();
    assert_eq!(groups.len(), 12, "{queues}");
    let short: Vec<u8> = groups.iter().map(|g| staffing_level(g)).collect();
    assert!(
        short.contains(&0) && short.iter().any(|&l| l > 0),
        "the traffic has tiles with enough agents and tiles short of agents: {short:?}"
    );
    let levels: Vec<u8> = groups.iter().map(|g| expected_level(g, &settings)).collect();
    for level in 0..=2 {
        assert!(
            levels.iter().filter(|&&l| l == level).count() >= 2,
            "the traffic gives at least two tiles of level {level}: {levels:?}"
        );
    }

    let mut page = Browser::start(&dir);
    let colours = |page: &mut Browser| -> Vec<String> {
        let v = page.eval(
            "['--ok', '--warn', '--bad'].map(v => getComputedStyle(document.documentElement).getPropertyValue(v))",
        );
        v.as_array().unwrap().iter().map(|c| rgb(c.as_str().unwrap())).collect()
    };
    for (w, h) in SIZES {
        page.set_size(w, h);
        page.navigate(&format!("{}/?queues={SIX_QUEUES}", base_url(&service)));
        wait_rendered(&mut page, queues["to"].as_str().unwrap(), 12);
        let palette = colours(&mut page);

        // The same moment: the API answers what the page shows.
        let now = api(&service, "/api/v1/queues?window=15m");
        assert_eq!(now["to"], queues["to"], "the figures moved during the test");
        let shown = tiles(&mut page);
        for g in &groups {
            let (q, c) = (g["queue"].as_str().unwrap(), g["channel"].as_str().unwrap());
            let tile = shown
                .iter()
                .find(|t| t.queue == q && t.channel == c)
                .unwrap_or_else(|| panic!("{w}x{h}: no tile for {q}/{c}"));
            let level = expected_level(g, &settings);
            let mut expected = expected_fields(g, &states);
            expected.insert("status".to_owned(), status_word(level, g).to_owned());
            assert_eq!(tile.fields, expected, "{w}x{h}: {q}/{c} shows (left) the API's (right)");
            assert_eq!(tile.level, level, "{w}x{h}: level of {q}/{c}: {g}");
            assert_eq!(tile.border, palette[usize::from(level)], "{w}x{h}: colour of {q}/{c}");
            assert_eq!(
                tile.staffing_level,
                staffing_level(g),
                "{w}x{h}: staffing of {q}/{c}: {g}"
            );
        }

        // Channel totals, agents and breaches.
        let cards = page.eval(
            "[...document.querySelectorAll('.chan-card')].map(c => ({channel: c.dataset.channel, level: Number(c.dataset.level),
               fields: Object.fromEntries([...c.querySelectorAll('[data-field]')].map(e => [e.dataset.field, e.textContent]))}))",
        );
        let expected_cards: Vec<Value> = channels["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                json!({"channel": g["channel"], "level": level_of(g, &settings, false), "fields": {
                    "service_level": pct(&g["service_level"]), "offered": count(&g["offered"]),
                    "waiting": count(&g["waiting"]), "abandon_rate": pct(&g["abandon_rate"]),
                    "fcr": pct(&g["fcr"]), "csat": pct(&g["csat"]), "nps": nps(&g["nps"])}})
            })
            .collect();
        assert_eq!(cards, json!(expected_cards), "{w}x{h}: channel totals");
        let totals = page.eval(
            "Object.fromEntries([...document.querySelectorAll('.agent-total [data-field]')].map(e => [e.dataset.field, e.textContent]))",
        );
        let sum = |k: &str| -> i64 {
            states["teams"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t[k].as_i64().unwrap())
                .sum()
        };
        assert_eq!(
            totals,
            json!({"agents_available": sum("available").to_string(), "agents_busy": sum("busy").to_string(),
                   "agents_acw": sum("acw").to_string(), "agents_away": sum("away").to_string()}),
            "{w}x{h}: agents"
        );
        let banner = page.eval(
            "[...document.querySelectorAll('#banner .breach')].map(b => b.dataset.queue + '/' + b.dataset.channel)",
        );
        let expected_banner: Vec<String> = breaches["breaches"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["window"] == "15m")
            .filter(|b| b["queue"].is_string() && b["channel"] != "email")
            .map(|b| format!("{}/{}", b["queue"].as_str().unwrap(), b["channel"].as_str().unwrap()))
            .collect();
        assert!(expected_banner.contains(&"Sales/voice".to_owned()), "{breaches}");
        assert_eq!(banner, json!(expected_banner), "{w}x{h}: the banner");

        // It fits, readably.
        shot(&mut page, &format!("twelve-tiles-{w}x{h}.png"));
        let layout = page.eval(LAYOUT);
        assert_eq!(layout["W"], w);
        assert_eq!(layout["H"], h);
        assert_eq!(layout["bad"], json!([]), "{w}x{h}: {layout}");
        let at_least = |k: &str, min: f64| {
            let v = layout[k].as_f64().unwrap();
            assert!(
                v >= min,
                "{w}x{h}: smallest {k} font is {:.1} px: {layout}",
                v * f64::from(h)
            );
        };
        at_least("sl", 0.032);
        at_least("figure", 0.018);
        at_least("label", 0.0125);
        at_least("tileName", 0.018);
    }

    // The light theme, and a narrower view: one window, one channel.
    page.set_size(1920, 1080);
    page.navigate(&format!("{}/?theme=light&window=1h&channels=voice", base_url(&service)));
    let hour = api(&service, "/api/v1/queues?window=1h&channel=voice");
    let n = hour["groups"].as_array().unwrap().len();
    wait_rendered(&mut page, hour["to"].as_str().unwrap(), n);
    let light = page.eval(
        "({background: getComputedStyle(document.body).backgroundColor, scope: document.getElementById('scope').textContent,
           channels: [...document.querySelectorAll('.chan-card')].map(c => c.dataset.channel)})",
    );
    assert_eq!(light["background"], rgb("#e6ebf0"), "{light}");
    assert!(
        light["scope"].as_str().unwrap().starts_with("1 hour · channels: voice"),
        "{light}"
    );
    assert_eq!(light["channels"], json!(["voice"]), "{light}");
    let shown = tiles(&mut page);
    assert!(shown.iter().all(|t| t.channel == "voice"));
    for g in hour["groups"].as_array().unwrap() {
        let tile = shown.iter().find(|t| t.queue == g["queue"]).unwrap();
        assert_eq!(tile.fields["offered"], count(&g["offered"]), "1h: {g}");
    }
    shot(&mut page, "light-1h-voice-1920x1080.png");

    // A view that cannot be shown says why: a window the service does not publish, a
    // channel that does not exist.
    for (query, why) in [
        ("window=2h", "unknown window \"2h\""),
        ("channels=voice,fax", "channel \"fax\""),
    ] {
        page.navigate(&format!("{}/?{query}", base_url(&service)));
        let overlay = page.wait_for(
            &format!("the error overlay for {query}"),
            "document.getElementById('overlay').dataset.kind === 'error' && document.getElementById('overlay').textContent",
            RENDERED,
        );
        let text = overlay.as_str().unwrap();
        assert!(
            text.contains("CANNOT SHOW THIS VIEW") && text.contains(why),
            "{query}: {text}"
        );
    }
}

/// Fourteen groups do not fit one screen: the page shows them in two equal pages and
/// turns the page every `page_seconds` (2 s here), each group on exactly one page.
#[test]
fn more_groups_than_fit_are_shown_a_page_at_a_time() {
    let dir = scratch_dir("wallboard-pages");
    let (t, config) = known_traffic();
    let (_broker, service) = serve(&dir, "wb-pages", "event", config, &t.events);
    let queues = api(&service, "/api/v1/queues?window=15m");
    let all: BTreeSet<(String, String)> = queues["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["queue"].as_str().unwrap().to_owned(),
                g["channel"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(all.len(), 14);
    let complaints = queues["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["queue"] == "Complaints")
        .unwrap();
    assert_eq!(
        (
            &complaints["open"],
            &complaints["waiting"],
            &complaints["oldest_wait_seconds"]
        ),
        (&json!(false), &json!(1), &json!(0.0)),
        "closed all the time: the email waits, but no open time"
    );

    let mut page = Browser::start(&dir);
    page.set_size(1920, 1080);
    page.navigate(&format!("{}/", base_url(&service)));
    let to = queues["to"].as_str().unwrap();
    let mut seen: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for p in ["1", "2", "1"] {
        let check = format!(
            "document.body.dataset.to === {} && document.body.dataset.page === '{p}' && document.body.dataset.pages === '2'",
            json!(to)
        );
        // A page turns every 2 s: each is seen well within three turns.
        page.wait_for(&format!("page {p} of 2"), &check, Duration::from_secs(8));
        let shown = tiles(&mut page);
        assert_eq!(shown.len(), 7, "page {p}: two equal pages of 7");
        let pager = page.eval("document.getElementById('pager').textContent");
        assert!(pager.as_str().unwrap().starts_with(&format!("page {p} / 2")), "{pager}");
        let layout = page.eval(LAYOUT);
        assert_eq!(layout["bad"], json!([]), "page {p}: {layout}");
        if let Some(c) = shown.iter().find(|t| t.queue == "Complaints") {
            assert_eq!((c.fields["status"].as_str(), c.level), ("CLOSED", 0), "{c:?}");
        }
        let set: BTreeSet<(String, String)> = shown.into_iter().map(|t| (t.queue, t.channel)).collect();
        if let Some(before) = seen.get(p) {
            assert_eq!(&set, before, "page {p} shows the same groups each time");
        } else {
            shot(&mut page, &format!("page-{p}-of-2-1920x1080.png"));
            seen.insert(p.to_owned(), set);
        }
    }
    let (one, two) = (&seen["1"], &seen["2"]);
    assert!(one.is_disjoint(two), "a group on both pages: {one:?} {two:?}");
    let union: BTreeSet<_> = one.union(two).cloned().collect();
    assert_eq!(union, all, "every group is on a page");
}

/// When the broker goes away the service's answers list stale partitions after
/// `stale_after` (2 s here): the page covers the figures with an overlay that names
/// them and the data's age, and `/readyz` is 503. When the service itself goes away,
/// the overlay says it cannot be reached.
#[test]
fn a_stale_or_unreachable_service_is_covered_by_the_overlay() {
    let dir = scratch_dir("wallboard-stale");
    let end = now_ms() - 10 * SECOND;
    let mut t = Traffic::new(end);
    t.contacts(
        "Billing",
        "voice",
        end - 5 * 60 * SECOND,
        4,
        Outcome::Answered { wait: 5, agent: "a1" },
    );
    t.contacts(
        "Sales",
        "chat",
        end - 5 * 60 * SECOND,
        3,
        Outcome::Answered { wait: 5, agent: "a2" },
    );
    t.agent("a1", "North", "available", &["Billing", "Sales"], end);
    let config = "[publisher]\nstale_after = \"2s\"\n";
    let (broker, mut service) = serve(&dir, "wb-stale", "wall", config, &t.events);

    let mut page = Browser::start(&dir);
    page.set_size(1920, 1080);
    page.navigate(&format!("{}/", base_url(&service)));
    page.wait_for(
        "the tiles, without an overlay",
        "document.querySelectorAll('#tiles .tile').length === 2 && document.getElementById('overlay').hidden",
        RENDERED,
    );
    shot(&mut page, "fresh-1920x1080.png");

    drop(broker);
    // The service notices (its answers' coverage) and so does the page.
    let overlay = page.wait_for(
        "the stale overlay",
        "(() => { const o = document.getElementById('overlay');
           return !o.hidden && o.dataset.kind === 'stale' &&
             {title: document.getElementById('overlay-title').textContent, detail: document.getElementById('overlay-detail').textContent}; })()",
        Duration::from_secs(60),
    );
    let coverage = api(&service, "/api/v1/queues")["coverage"].clone();
    let stale: Vec<u64> = coverage["stale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    assert!(!stale.is_empty(), "{coverage}");
    assert_eq!(overlay["title"], "⚠ STALE DATA", "{overlay}");
    let detail = overlay["detail"].as_str().unwrap();
    assert!(detail.contains("not up to date"), "{detail}");
    assert!(detail.contains("Data age: "), "{detail}");
    // The partitions it names are the stale ones the service reports (once every
    // partition is stale, they hold still).
    let names = |ps: &[u64]| ps.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let all: Vec<u64> = (0..u64::from(PARTITIONS)).collect();
    page.wait_for(
        "every partition named stale",
        &format!(
            "document.getElementById('overlay-detail').textContent.includes({})",
            json!(format!("Partitions {} ({} of {})", names(&all), PARTITIONS, PARTITIONS))
        ),
        Duration::from_secs(30),
    );
    let coverage = api(&service, "/api/v1/queues")["coverage"].clone();
    assert_eq!(coverage["stale"], json!(all), "{coverage}");
    assert_eq!(service.status("/readyz"), 503);
    let dimmed = page.eval("getComputedStyle(document.getElementById('tiles')).opacity");
    assert_eq!(dimmed, "0.35", "the figures under the overlay are dimmed");
    shot(&mut page, "stale-1920x1080.png");

    service.kill();
    let overlay = page.wait_for(
        "the no-connection overlay",
        "document.getElementById('overlay').dataset.kind === 'unreachable' && document.getElementById('overlay').textContent",
        Duration::from_secs(20),
    );
    let text = overlay.as_str().unwrap();
    assert!(text.contains("NO CONNECTION"), "{text}");
    assert!(text.contains("cannot be reached since"), "{text}");
    shot(&mut page, "unreachable-1920x1080.png");
    assert!(http_get(&service.http_addr(), "/readyz").is_err());
}

/// A member of the service's consumer group that is not a ccpulse instance (it shares no
/// figures) holds some of the partitions: the figures cover the others only. It polls
/// until dropped, so that it stays in the group.
struct ForeignMember {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ForeignMember {
    fn join(brokers: &str, group: &str) -> Self {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            // As ccpulse joins: cooperative-sticky, on the first topic only.
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "10000")
            .create()
            .unwrap();
        consumer.subscribe(&["cc.voice"]).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let _ = consumer.poll(Duration::from_millis(100));
            }
            consumer.unsubscribe();
        });
        ForeignMember {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for ForeignMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The service shares its consumer group with a member that holds one of the two
/// partitions and publishes nothing: the service never held that partition, so its
/// answers cover 1 of 2 (and `/readyz` is 503). The page says the view is incomplete,
/// and by how much.
#[test]
fn an_incomplete_view_is_covered_by_the_overlay() {
    let dir = scratch_dir("wallboard-incomplete");
    let end = now_ms() - 10 * SECOND;
    let mut t = Traffic::new(end);
    for q in ["Billing", "Sales", "Support", "Tech"] {
        t.contacts(
            q,
            "voice",
            end - 5 * 60 * SECOND,
            3,
            Outcome::Answered { wait: 5, agent: "a1" },
        );
    }
    let broker = Broker::start(&dir);
    broker.create_contract_topics(PARTITIONS);
    produce(&broker.bootstrap(), &t.events);
    // The foreign member first: the service joins a group that already has it.
    let _member = ForeignMember::join(&broker.bootstrap(), "wb-split");
    let service = Service::start(&dir, &broker.bootstrap(), "wb-split", "wall", &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let coverage = loop {
        let c = http_get(&service.http_addr(), "/api/v1/queues")
            .ok()
            .filter(|(code, _)| *code == 200)
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .map(|v| v["coverage"].clone());
        if let Some(c) = c.filter(|c| c["covered"] == 1 && c["partitions"] == PARTITIONS) {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the service never held one partition of two; log:\n{}",
            service.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(service.status("/readyz"), 503, "{coverage}");

    let mut page = Browser::start(&dir);
    page.set_size(1920, 1080);
    page.navigate(&format!("{}/", base_url(&service)));
    let overlay = page.wait_for(
        "the incomplete overlay",
        "document.getElementById('overlay').dataset.kind === 'incomplete' && document.getElementById('overlay').textContent",
        RENDERED,
    );
    let text = overlay.as_str().unwrap();
    assert!(text.contains("INCOMPLETE VIEW"), "{text}");
    assert!(
        text.contains("The figures cover 1 of 2 partitions: contacts of the others are not counted."),
        "{text}"
    );
    let scope = page.eval("document.getElementById('scope').textContent");
    assert!(scope.as_str().unwrap().ends_with("1/2 partitions"), "{scope}");
    shot(&mut page, "incomplete-1920x1080.png");
}

/// A kiosk with a `wallboard` token: the page opened as `/#token=…` shows the figures,
/// takes the token out of the address bar, keeps it across a reload, and the token is in
/// no log of the service. Without a token the page says one is needed.
#[test]
fn a_kiosk_with_a_wallboard_token_shows_the_figures_and_the_token_is_in_no_log() {
    let dir = scratch_dir("wallboard-token");
    let (t, config) = known_traffic();
    let token = "ccp_kiosk-token-for-the-browser-test-0123456789ab";
    let hash = ccpulse_http::auth::hash_token(token);
    let config = format!("{config}\n[[http.tokens]]\nname = \"lobby\"\nrole = \"wallboard\"\nhash = \"{hash}\"\n");
    let (_broker, service) = serve(&dir, "wb-token", "event", &config, &t.events);
    assert_eq!(service.status("/api/v1/queues"), 401, "the API needs the token");

    let mut page = Browser::start(&dir);
    page.set_size(1920, 1080);
    page.navigate(&format!("{}/", base_url(&service)));
    page.wait_for(
        "the overlay saying a token is needed",
        "document.getElementById('overlay-title').textContent.includes('TOKEN IS NEEDED')",
        RENDERED,
    );

    // Not `navigate`, which waits for the address it loaded: the page takes the token
    // out of the address at once, so that wait could miss it.
    page.call(
        "Page.navigate",
        json!({"url": format!("{}/#token={token}", base_url(&service))}),
    );
    page.wait_for(
        "tiles drawn with the token",
        "document.querySelectorAll('#tiles .tile').length > 0 && document.getElementById('overlay').hidden",
        RENDERED,
    );
    let address = page.eval("window.location.href");
    assert!(
        !address.as_str().unwrap().contains(token),
        "the token stays in the address bar: {address}"
    );
    // Page.reload, not an evaluated `location.reload()`: the page may go away before
    // the evaluation's answer is sent, and Chromium then answers it with an error.
    // The mark tells the page before the reload from the page after it.
    page.eval("window.__before_reload = true");
    page.call("Page.reload", json!({}));
    page.wait_for(
        "tiles drawn after a reload, with the stored token",
        "!window.__before_reload && document.querySelectorAll('#tiles .tile').length > 0 && document.getElementById('overlay').hidden",
        RENDERED,
    );
    shot(&mut page, "kiosk-token-1920x1080.png");
    assert!(!service.log().contains(token), "the token in the service's log");
}
