//! Security end to end: the real `ccpulse serve` refuses to listen openly without tokens;
//! serves HTTPS with a certificate from a CA made here, tokens by role over it; and reads
//! Kafka over TLS (Debian's stunnel4 in front of Tansu, as a TLS terminator) with SASL
//! (Tansu's `--authentication`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccpulse_tests::kafka::produce_with;
use ccpulse_tests::tansu::{scratch_dir, Broker, Service};
use ccpulse_tests::{ccpulse_bin, free_port};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use rdkafka::ClientConfig;

const MINUTE: i64 = 60_000;
const READY: Duration = Duration::from_secs(60);

/// A CA and a server certificate for 127.0.0.1 and localhost, written as PEM files.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    ca_der: Vec<u8>,
}

fn pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "ccpulse test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        cert: write("server.pem", cert.pem()),
        key: write("server.key", key.serialize_pem()),
        ca_der: ca.der().to_vec(),
    }
}

fn traffic(seed: u64, n: usize) -> Vec<ccpulse_sim::Message> {
    let now = jiff::Timestamp::now().as_millisecond();
    ccpulse_sim::bulk_ending_before(seed, n, now - MINUTE, 0).unwrap()
}

/// `ccpulse serve --listen 0.0.0.0:PORT` without tokens exits at once, non-zero, saying
/// how to add a token or open it on purpose.
#[test]
fn an_open_address_without_tokens_is_refused_at_start() {
    let out = Command::new(ccpulse_bin())
        .args(["serve", "--brokers", "127.0.0.1:1", "--listen"])
        .arg(format!("0.0.0.0:{}", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ccpulse token --role") && err.contains("http.auth = \"none\""),
        "{err}"
    );
}

/// An HTTPS agent trusting only the test CA.
fn https_agent(pki: &Pki) -> ureq::Agent {
    let cert = ureq::tls::Certificate::from_der(&pki.ca_der).to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// The status of `GET url` with an optional bearer token.
fn status(agent: &ureq::Agent, url: &str, token: Option<&str>) -> u16 {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    req.call().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// Issues a token with `ccpulse token`; returns it with its configuration lines.
fn issue(role: &str, name: &str, dir: &Path) -> (String, String) {
    let file = dir.join(format!("{name}.token"));
    let out = Command::new(ccpulse_bin())
        .args(["token", "--role", role, "--name", name, "--token-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines = String::from_utf8(out.stdout).unwrap();
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&token),
        "the token is shown once, on stderr"
    );
    assert!(
        !lines.contains(&token),
        "the lines for the configuration hold its hash only"
    );
    (token, lines)
}

/// HTTPS with the test CA, and the role × endpoint matrix over it: 200, 401 without or
/// with a wrong token, 403 with a role that does not cover the endpoint.
#[test]
fn https_with_tokens_by_role() {
    let dir = scratch_dir("https");
    let pki = pki(&dir);
    let broker = Broker::start(&dir);
    broker.create_contract_topics(2);
    let (wallboard, w_lines) = issue("wallboard", "kiosk", &dir);
    let (supervisor, s_lines) = issue("supervisor", "alice", &dir);
    let (metrics, m_lines) = issue("metrics", "prometheus", &dir);
    let cfg = dir.join("https.toml");
    std::fs::write(
        &cfg,
        format!(
            "[http]\ntls_cert = {:?}\ntls_key = {:?}\n\n{w_lines}\n{s_lines}\n{m_lines}",
            pki.cert.to_str().unwrap(),
            pki.key.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut service = Service::start(
        &dir,
        &broker.bootstrap(),
        "https",
        "wall",
        &["--config", cfg.to_str().unwrap()],
    );
    let base = format!("https://{}", service.http_addr());
    let agent = https_agent(&pki);
    let deadline = Instant::now() + READY;
    while status(&agent, &format!("{base}/readyz"), None) != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready over HTTPS; log:\n{}",
            service.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for (path, w, s, m) in [
        ("/api/v1/queues", 200, 200, 403),
        ("/api/v1/channels", 200, 200, 403),
        ("/api/v1/breaches", 200, 200, 403),
        ("/api/v1/agents", 403, 200, 403),
        ("/metrics", 403, 403, 200),
        ("/healthz", 200, 200, 200),
    ] {
        let url = format!("{base}{path}");
        assert_eq!(status(&agent, &url, Some(&wallboard)), w, "{path} as wallboard");
        assert_eq!(status(&agent, &url, Some(&supervisor)), s, "{path} as supervisor");
        assert_eq!(status(&agent, &url, Some(&metrics)), m, "{path} as metrics");
        let open = path == "/healthz";
        assert_eq!(status(&agent, &url, None), if open { 200 } else { 401 }, "{path}");
        assert_eq!(
            status(&agent, &url, Some("ccp_wrong")),
            if open { 200 } else { 401 },
            "{path} with a wrong token"
        );
    }
    // Plain HTTP on the HTTPS port gets no answer.
    assert_ne!(service.status("/healthz"), 200);
    let log = service.log();
    for token in [&wallboard, &supervisor, &metrics] {
        assert!(!log.contains(token.as_str()), "a token in the log");
    }
    service.kill();
}

/// A TLS terminator (stunnel4) on `port` in front of the broker on `target`; killed when
/// dropped.
struct Stunnel(Child);

impl Stunnel {
    fn start(dir: &Path, pki: &Pki, port: u16, target: &str) -> Stunnel {
        let conf = dir.join(format!("stunnel-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{port}\nconnect = {target}\ncert = {}\nkey = {}\n",
                pki.cert.display(),
                pki.key.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join(format!("stunnel-{port}.log"))).unwrap();
        let child = Command::new("stunnel4")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("stunnel4 is installed by tests/run (apt-get install -y stunnel4)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "stunnel4 did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Stunnel(child)
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ccpulse reads Kafka over TLS: stunnel4 terminates TLS in front of Tansu, which
/// advertises the TLS port. The service becomes ready with every event read; speaking
/// plaintext to the same port it cannot start.
#[test]
fn kafka_over_tls() {
    let dir = scratch_dir("kafka-tls");
    let pki = pki(&dir);
    let tls_port = free_port();
    let broker = Broker::start_behind(&dir, tls_port);
    broker.create_contract_topics(2);
    let _stunnel = Stunnel::start(&dir, &pki, tls_port, &broker.bootstrap());
    let brokers = format!("127.0.0.1:{tls_port}");
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &brokers)
        .set("security.protocol", "SSL")
        .set("ssl.ca.location", pki.ca.to_str().unwrap());
    let messages = traffic(51, 800);
    produce_with(&client, &messages);

    let cfg = dir.join("kafka-tls.toml");
    std::fs::write(
        &cfg,
        format!(
            "[kafka.properties]\n\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = {:?}\n",
            pki.ca.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut service = Service::start(&dir, &brokers, "tls", "wall", &["--config", cfg.to_str().unwrap()]);
    service.wait_holding(2, READY);
    let m = service.metrics();
    assert_eq!(
        ccpulse_tests::tansu::sum_of(&m, "ccpulse_events_ingested_total") as usize,
        messages.len()
    );
    service.kill();

    let mut plain = Service::start(&dir, &brokers, "tls-plain", "wall", &[]);
    let exit = plain.wait_exit(Duration::from_secs(60));
    assert!(
        exit.is_some_and(|s| !s.success()),
        "a service speaking plaintext to the TLS port did not fail; log:\n{}",
        plain.log_tail()
    );
}

/// SASL over TLS with SCRAM: the build has what SCRAM and TLS need (a build without
/// OpenSSL refuses the configuration at once, "OpenSSL not available at build time").
/// Tansu 0.6.0 offers SCRAM only, and with `--authentication` refuses every request
/// before authentication, the one that would create the user included; so the broker
/// refuses this client's credentials, and what is checked is that the client got as
/// far as a SCRAM exchange over TLS, and that its password is in no output.
#[test]
fn kafka_sasl_scram_over_tls_gets_to_the_scram_exchange() {
    let dir = scratch_dir("kafka-scram");
    let pki = pki(&dir);
    let tls_port = free_port();
    let broker = Broker::start_authenticating(&dir, Some(tls_port));
    let _stunnel = Stunnel::start(&dir, &pki, tls_port, &broker.bootstrap());
    let brokers = format!("127.0.0.1:{tls_port}");
    let cfg = dir.join("kafka-scram.toml");
    std::fs::write(
        &cfg,
        format!(
            "[kafka.properties]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanism\" = \"SCRAM-SHA-512\"\n\
             \"sasl.username\" = \"ccpulse\"\n\"sasl.password\" = \"s3cret-passw0rd\"\n\"ssl.ca.location\" = {:?}\n",
            pki.ca.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut service = Service::start(&dir, &brokers, "scram", "wall", &["--config", cfg.to_str().unwrap()]);
    let exit = service.wait_exit(Duration::from_secs(60));
    let log = service.log();
    assert!(exit.is_some_and(|s| !s.success()), "{log}");
    assert!(!log.contains("OpenSSL not available"), "{log}");
    assert!(
        log.contains("SASL SCRAM authentication failed: broker responded with unknown-user"),
        "no SCRAM exchange in the log:\n{log}"
    );
    assert!(!log.contains("s3cret-passw0rd"), "the password in the log");
}
