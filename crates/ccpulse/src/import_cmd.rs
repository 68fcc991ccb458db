//! `ccpulse import …`: vendor formats into contract events, as `key<TAB>json` lines on
//! stdout (what `ccpulse replay` and `kcat -K'\t'` read) or produced into Kafka.
//! The translations are `ccpulse-import`'s; this is the IO around them.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccpulse_core::event::Channel;
use ccpulse_core::time::Span;
use ccpulse_import::connect::{load_names, Connect};
use ccpulse_import::resume::{QueueLogImport, Tail};
use ccpulse_import::twilio::receiver::{self, Counters, ReceiverConfig, Sink};
use ccpulse_import::{Event, ImportError, Report};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};
use tracing::{error, info, warn};

/// Arguments of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The source format.
    #[command(subcommand)]
    pub source: Source,
}

/// The sources `import` reads.
#[derive(Debug, clap::Subcommand)]
pub enum Source {
    /// An Asterisk queue_log (Asterisk, FreePBX, Wazo).
    AsteriskQueueLog(AsteriskArgs),
    /// Amazon Connect contact events (EventBridge) and agent event stream records, as JSON lines.
    AmazonConnect(ConnectArgs),
    /// An HTTP receiver of Twilio TaskRouter event callbacks, producing into Kafka.
    TwilioReceiver(TwilioArgs),
}

/// Arguments of `import asterisk-queue-log`.
#[derive(Debug, clap::Args)]
pub struct AsteriskArgs {
    /// The queue_log file.
    #[arg(long)]
    pub input: PathBuf,
    /// IANA zone of timestamps written as local date and time (realtime back ends);
    /// the file logger's epoch seconds need none.
    #[arg(long = "time-zone", default_value = "UTC")]
    pub time_zone: String,
    /// Resume file: where the last run stopped (offset, and the calls in progress).
    /// With it, a run reads only what was written since, and writes it after delivery.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Keep reading as the file grows (and after it is rotated), until SIGTERM or Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Produce into Kafka at these bootstrap servers instead of writing to stdout.
    #[arg(long)]
    pub brokers: Option<String>,
    /// How often a followed file is checked for new lines.
    #[arg(long, default_value = "500ms", value_parser = Span::parse)]
    pub poll: Span,
}

/// Arguments of `import amazon-connect`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The JSON-lines file.
    #[arg(long)]
    pub input: PathBuf,
    /// JSON object from queue and agent ARNs (or the ids at their end) to names.
    #[arg(long)]
    pub names: Option<PathBuf>,
    /// Produce into Kafka at these bootstrap servers instead of writing to stdout.
    #[arg(long)]
    pub brokers: Option<String>,
}

/// Arguments of `import twilio-receiver`.
#[derive(Debug, clap::Args)]
pub struct TwilioArgs {
    /// Address to listen on (put a TLS proxy in front: Twilio calls https URLs).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// The Event Callback URL exactly as configured in the TaskRouter workspace (the
    /// URL Twilio signs).
    #[arg(long)]
    pub url: String,
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub brokers: String,
    /// The channel of tasks on TaskRouter's `default` task channel.
    #[arg(long = "default-channel", default_value = "voice", value_parser = parse_channel)]
    pub default_channel: Channel,
    /// How long a callback waits for Kafka before it is answered 503 (Twilio waits 15 s).
    #[arg(long = "deliver-timeout", default_value = "10s", value_parser = Span::parse)]
    pub deliver_timeout: Span,
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    Channel::parse(s).ok_or_else(|| format!("{s:?} is not voice, chat or email"))
}

/// An import that cannot run or go on.
#[derive(Debug, thiserror::Error)]
pub enum ImportCmdError {
    /// Bad input, resume or names file (exit 2).
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The Kafka client failed (exit 1).
    #[error("kafka: {0}")]
    Kafka(String),
    /// stdout failed.
    #[error("cannot write the events: {0}")]
    Output(std::io::Error),
    /// The receiver cannot listen or serve.
    #[error("receiver: {0}")]
    Serve(std::io::Error),
    /// `TWILIO_AUTH_TOKEN` is not set.
    #[error("set TWILIO_AUTH_TOKEN to the account's auth token (it signs the callbacks)")]
    NoToken,
}

impl ImportCmdError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            ImportCmdError::Import(_) | ImportCmdError::NoToken => 2,
            _ => 1,
        }
    }
}

/// Runs `import`.
pub fn run(args: ImportArgs) -> Result<(), ImportCmdError> {
    match args.source {
        Source::AsteriskQueueLog(a) => asterisk(&a),
        Source::AmazonConnect(a) => connect(&a),
        Source::TwilioReceiver(a) => twilio(a),
    }
}

/// Where events go: stdout lines, or Kafka.
enum Out {
    Stdout,
    Kafka(KafkaSink),
}

impl Out {
    fn new(brokers: Option<&str>) -> Result<Out, ImportCmdError> {
        Ok(match brokers {
            None => Out::Stdout,
            Some(b) => Out::Kafka(KafkaSink::new(b, Duration::from_secs(30))?),
        })
    }

    fn deliver(&self, events: &[Event]) -> Result<(), ImportCmdError> {
        if events.is_empty() {
            return Ok(());
        }
        match self {
            Out::Stdout => {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                for e in events {
                    writeln!(out, "{}", e.line()).map_err(ImportCmdError::Output)?;
                }
                out.flush().map_err(ImportCmdError::Output)
            }
            Out::Kafka(k) => k.deliver(events).map_err(ImportCmdError::Kafka),
        }
    }
}

fn report(input: &Path, r: &Report) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for p in &r.problems {
        let _ = writeln!(err, "{}: line {}: {}", input.display(), p.line, p.reason);
    }
    if r.problems_total > r.problems.len() as u64 {
        let _ = writeln!(
            err,
            "… and {} more problems",
            r.problems_total - r.problems.len() as u64
        );
    }
    let _ = writeln!(err, "{}: {r}", input.display());
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A flag set by SIGTERM or Ctrl-C.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(crate::serve::shutdown_signal());
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

fn asterisk(a: &AsteriskArgs) -> Result<(), ImportCmdError> {
    let tz = jiff::tz::TimeZone::get(&a.time_zone).map_err(|_| ImportError::TimeZone(a.time_zone.clone()))?;
    let out = Out::new(a.brokers.as_deref())?;
    let mut imp = QueueLogImport::open(&a.input, a.state.as_deref(), tz)?;
    let stop = if a.follow { Some(stop_flag()) } else { None };
    let poll = Duration::from_millis(a.poll.millis().max(10) as u64);
    let mut reported = 0;
    loop {
        let events = imp.step(4 * 1024 * 1024)?;
        if !events.is_empty() {
            deliver_until_done(&out, &events, stop.as_deref())?;
            imp.commit()?;
            continue;
        }
        // At the end of what is written: settle what no later line will settle.
        let settled = imp.idle(now_ms());
        deliver_until_done(&out, &settled, stop.as_deref())?;
        imp.commit()?;
        let Some(stop) = &stop else { break };
        if imp.report().problems_total > reported {
            for p in imp.report().problems.iter().skip(reported as usize) {
                warn!(input = %a.input.display(), line = p.line, problem = %p.reason, "line not translated");
            }
            reported = imp.report().problems_total;
        }
        if stop.load(Ordering::SeqCst) {
            info!("stopping: the resume file holds where to go on");
            break;
        }
        if !imp.reopen_if_replaced()? {
            std::thread::sleep(poll);
        }
    }
    report(&a.input, imp.report());
    Ok(())
}

/// Delivers, retrying a failing Kafka every few seconds while following (a one-shot
/// import fails instead).
fn deliver_until_done(out: &Out, events: &[Event], stop: Option<&AtomicBool>) -> Result<(), ImportCmdError> {
    loop {
        match out.deliver(events) {
            Ok(()) => return Ok(()),
            Err(ImportCmdError::Kafka(e)) if stop.is_some_and(|s| !s.load(Ordering::SeqCst)) => {
                error!(error = %e, "events not delivered; retrying in 5 s");
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

fn connect(a: &ConnectArgs) -> Result<(), ImportCmdError> {
    let names = match &a.names {
        Some(p) => load_names(p)?,
        None => Default::default(),
    };
    let out = Out::new(a.brokers.as_deref())?;
    let mut c = Connect::new(names);
    let mut tail = Tail::open(&a.input, 0)?;
    let mut n = 0;
    loop {
        let lines = tail.read_lines(4 * 1024 * 1024)?;
        if lines.is_empty() {
            break;
        }
        let mut events = Vec::new();
        for l in lines {
            n += 1;
            events.extend(c.line(n, &l));
        }
        out.deliver(&events)?;
    }
    report(&a.input, c.report());
    Ok(())
}

fn twilio(a: TwilioArgs) -> Result<(), ImportCmdError> {
    let token = std::env::var("TWILIO_AUTH_TOKEN").map_err(|_| ImportCmdError::NoToken)?;
    if token.is_empty() {
        return Err(ImportCmdError::NoToken);
    }
    let timeout = Duration::from_millis(a.deliver_timeout.millis().max(1) as u64);
    let sink: Arc<dyn Sink> = Arc::new(KafkaSink::new(&a.brokers, timeout)?);
    let counters = Arc::new(Counters::default());
    let cfg = ReceiverConfig {
        url: a.url.clone(),
        auth_token: token,
        deliver_timeout: timeout,
        default_channel: a.default_channel,
    };
    let app = receiver::router(cfg, sink, counters.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ImportCmdError::Serve)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(ImportCmdError::Serve)?;
        info!(listen = %a.listen, url = %a.url, "receiving TaskRouter event callbacks");
        axum::serve(listener, app)
            .with_graceful_shutdown(crate::serve::shutdown_signal())
            .await
            .map_err(ImportCmdError::Serve)
    })?;
    info!(
        delivered = counters.delivered.load(Ordering::Relaxed),
        duplicates = counters.duplicates.load(Ordering::Relaxed),
        refused = counters.refused.load(Ordering::Relaxed),
        invalid = counters.invalid.load(Ordering::Relaxed),
        failed = counters.failed.load(Ordering::Relaxed),
        "stopped"
    );
    Ok(())
}

/// Counts failed deliveries.
struct Deliveries(AtomicU64);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            warn!(error = %e, "message not delivered");
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Produces events to the contract's topics, keyed as the contract says, and waits for
/// the broker's acknowledgement of all of them.
pub struct KafkaSink {
    producer: ThreadedProducer<Deliveries>,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink").finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// A producer at `brokers` (idempotent, acknowledged by all in-sync replicas).
    pub fn new(brokers: &str, timeout: Duration) -> Result<KafkaSink, ImportCmdError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", timeout.as_millis().max(1000).to_string())
            .create_with_context(Deliveries(AtomicU64::new(0)))
            .map_err(|e| ImportCmdError::Kafka(e.to_string()))?;
        Ok(KafkaSink { producer, timeout })
    }
}

impl Sink for KafkaSink {
    fn deliver(&self, events: &[Event]) -> Result<(), String> {
        let failed_before = self.producer.context().0.load(Ordering::SeqCst);
        for e in events {
            let json = e.json();
            let mut record: BaseRecord<'_, str, str> = BaseRecord::to(e.topic()).key(e.key.as_str()).payload(&json);
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        r,
                    )) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(e.to_string()),
                }
            }
        }
        self.producer.flush(self.timeout).map_err(|e| e.to_string())?;
        let failed = self.producer.context().0.load(Ordering::SeqCst) - failed_before;
        if failed > 0 {
            return Err(format!("{failed} of {} messages not delivered", events.len()));
        }
        Ok(())
    }
}
