//! The importers' Kafka side, the real binary against Tansu: the TaskRouter receiver
//! (signatures, retries, every event once in the contract's topics), and a followed
//! `queue_log` stopped and restarted in the middle of the file, without duplicates.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ccpulse_core::event::Channel;
use ccpulse_core::replay::replay_text;
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::EngineConfig;
use ccpulse_import::asterisk::QueueLog;
use ccpulse_import::twilio::{signature, TaskRouter, Translated};
use ccpulse_import::Event;
use ccpulse_tests::tansu::{http_get, log_tail, scratch_dir, Broker};
use ccpulse_tests::{ccpulse_bin, free_port, repo_root};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const PARTITIONS: u32 = 2;
const TOKEN: &str = "e2e-auth-token";

/// A child process killed when dropped.
struct Proc {
    child: Child,
    log: std::path::PathBuf,
}

impl Proc {
    fn start(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(ccpulse_bin());
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    /// SIGTERM, and the exit status within 20 s.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                log_tail(&self.log, 3000)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A POST with a form body; the status code.
fn post(addr: &str, path: &str, signature: Option<&str>, body: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let sig = signature.map_or_else(String::new, |v| format!("X-Twilio-Signature: {v}\r\n"));
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n{sig}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Waits until `addr` answers `/healthz`.
fn wait_healthy(addr: &str, proc: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_get(addr, "/healthz").is_ok_and(|(s, _)| s == 200) {
        if let Some(s) = proc.child.try_wait().unwrap() {
            panic!("receiver exited ({s}):\n{}", log_tail(&proc.log, 3000));
        }
        assert!(
            Instant::now() < deadline,
            "receiver not answering:\n{}",
            log_tail(&proc.log, 3000)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every message of `topic` (key, payload), read from the start until `expected` are in
/// and every partition is at its end.
fn read_topic(brokers: &str, topic: &str, expected: usize) -> Vec<(String, String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "import-e2e-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut at_end = [false; PARTITIONS as usize];
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < expected || !at_end.iter().all(|&e| e) {
        assert!(
            Instant::now() < deadline,
            "read {} of {expected} messages from {topic} in 30 s",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                at_end[m.partition() as usize] = false;
                let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                out.push((topic.to_owned(), text(m.key()), text(m.payload())));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => at_end[p as usize] = true,
            Some(Err(e)) => panic!("reading {topic}: {e}"),
        }
    }
    out
}

/// Every message of the contract's topics, `want` saying how many each should hold.
fn read_all(brokers: &str, want: &[(String, String, String)]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for topic in ["cc.voice", "cc.chat", "cc.email", "cc.agents"] {
        let n = want.iter().filter(|(t, ..)| t == topic).count();
        out.extend(read_topic(brokers, topic, n));
    }
    out.sort();
    out
}

fn expected(events: &[Event]) -> Vec<(String, String, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| seen.insert(e.id.clone()))
        .map(|e| (e.topic().to_owned(), e.key.clone(), e.json()))
        .collect();
    out.sort();
    out
}

#[test]
fn twilio_receiver_produces_each_callback_once_into_the_contract_topics() {
    let dir = scratch_dir("twilio-receiver");
    let broker = Broker::start(&dir);
    broker.create_contract_topics(PARTITIONS);
    let addr = format!("127.0.0.1:{}", free_port());
    let url = format!("http://{addr}/twilio/taskrouter");
    let mut receiver = Proc::start(
        &dir,
        "receiver",
        &[
            "import",
            "twilio-receiver",
            "--listen",
            &addr,
            "--url",
            &url,
            "--brokers",
            &broker.bootstrap(),
        ],
        &[("TWILIO_AUTH_TOKEN", TOKEN)],
    );
    wait_healthy(&addr, &mut receiver);

    let text =
        std::fs::read_to_string(repo_root().join("crates/ccpulse-import/tests/data/twilio/morning.form")).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(post(&addr, "/twilio/taskrouter", None, first), 401, "unsigned");
    assert_eq!(
        post(&addr, "/twilio/taskrouter", Some("bm90IGl0"), first),
        403,
        "wrongly signed"
    );
    let mut translator = TaskRouter::new(Channel::Voice);
    let mut events = Vec::new();
    for line in text.lines() {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(line).unwrap();
        let sig = signature(TOKEN, &url, &params);
        assert_eq!(post(&addr, "/twilio/taskrouter", Some(&sig), line), 204, "{line}");
        if let Translated::Events(e) = translator.translate(&params).unwrap() {
            events.extend(e);
        }
    }
    // Twilio retries the first callback once more.
    let params: Vec<(String, String)> = serde_urlencoded::from_str(first).unwrap();
    assert_eq!(
        post(
            &addr,
            "/twilio/taskrouter",
            Some(&signature(TOKEN, &url, &params)),
            first
        ),
        204
    );

    let want = expected(&events);
    let got = read_all(&broker.bootstrap(), &want);
    assert_eq!(got, want, "every event once, in its topic, with its key");
    assert!(got.iter().any(|(t, k, _)| t == "cc.agents" && k == "alice"));
    assert!(got.iter().any(|(t, k, _)| t == "cc.voice" && k == "+15550100001"));

    // The figures of what reached Kafka.
    let lines: Vec<String> = got.iter().map(|(_, k, p)| format!("{k}\t{p}")).collect();
    let cfg = Arc::new(EngineConfig::from_toml("[[sla.policies]]\nname = \"v\"\nchannel = \"voice\"\nthreshold = \"20s\"\ntarget = 0.8\nformula = \"answered\"\n").unwrap());
    let (snap, invalid) = replay_text(
        &lines.join("\n"),
        cfg,
        parse_rfc3339("2026-11-24T10:30:00Z"),
        parse_rfc3339("2026-11-30T00:00:00Z").unwrap(),
    );
    assert!(invalid.is_empty(), "{invalid:?}");
    let support = snap
        .window("1h")
        .unwrap()
        .queues
        .iter()
        .find(|g| g.queue.as_deref() == Some("Support"))
        .unwrap();
    assert_eq!(
        (
            support.offered,
            support.answered,
            support.abandoned,
            support.flowed_out,
            support.transferred_out
        ),
        (4, 1, 1, 1, 1)
    );
    assert!(receiver.terminate().success());
}

#[test]
fn a_followed_queue_log_stopped_and_restarted_is_produced_once() {
    let dir = scratch_dir("asterisk-follow");
    let broker = Broker::start(&dir);
    broker.create_contract_topics(PARTITIONS);
    let whole =
        std::fs::read_to_string(repo_root().join("crates/ccpulse-import/tests/data/asterisk/morning.queue_log"))
            .unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    let translate = |n: usize| {
        let mut q = QueueLog::new(jiff::tz::TimeZone::UTC);
        let mut ev = Vec::new();
        for (i, l) in lines[..n].iter().enumerate() {
            ev.extend(q.line(i as u64 + 1, l.as_bytes()));
        }
        ev
    };
    let log = dir.join("queue_log");
    let state = dir.join("queue_log.resume");
    let args = |log: &Path, state: &Path| -> Vec<String> {
        [
            "import",
            "asterisk-queue-log",
            "--follow",
            "--poll",
            "100ms",
            "--input",
            &log.display().to_string(),
            "--state",
            &state.display().to_string(),
            "--brokers",
            &broker.bootstrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let args = args(&log, &state);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // The first 20 lines (nothing of them waits for a later line), then a stop.
    std::fs::write(&log, lines[..20].join("\n") + "\n").unwrap();
    let mut first = Proc::start(&dir, "follow-1", &args, &[]);
    let want = expected(&translate(20));
    assert_eq!(read_all(&broker.bootstrap(), &want), want);
    assert!(first.terminate().success(), "{}", log_tail(&first.log, 3000));

    // Asterisk goes on writing while the importer is down; the importer comes back.
    std::fs::write(&log, whole.clone()).unwrap();
    let mut second = Proc::start(&dir, "follow-2", &args, &[]);
    let mut all = Vec::new();
    let mut q = QueueLog::new(jiff::tz::TimeZone::UTC);
    for (i, l) in lines.iter().enumerate() {
        all.extend(q.line(i as u64 + 1, l.as_bytes()));
    }
    all.extend(q.finish());
    let want = expected(&all);
    let got = read_all(&broker.bootstrap(), &want);
    assert_eq!(got, want, "every event once, none of the first run's twice");
    assert!(second.terminate().success(), "{}", log_tail(&second.log, 3000));
}
