//! `ccpulse serve`: Kafka in, the HTTP API and Prometheus out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use ccpulse_core::time::Span;
use ccpulse_http::server::Limits;
use ccpulse_http::AppState;
use ccpulse_kafka::partials::PartialsLink;
use ccpulse_kafka::{Ingest, KafkaSettings, Recovery};
use tracing::{error, info, warn};

use crate::config_file::{self, Clock};
use crate::publisher::{Publisher, PublisherSettings};

/// Arguments of `serve`; flags override the configuration file.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers (overrides `kafka.brokers`).
    #[arg(long)]
    pub brokers: Option<String>,
    /// HTTP listen address (overrides `http.listen`).
    #[arg(long)]
    pub listen: Option<String>,
    /// Consumer group id (overrides `kafka.group_id`).
    #[arg(long = "group-id")]
    pub group_id: Option<String>,
    /// `wall` (live) or `event` (now = newest event time; replays every partition from
    /// the beginning, for backfills and tests). Overrides `publisher.clock`.
    #[arg(long, value_enum)]
    pub clock: Option<Clock>,
}

/// A service that cannot start (exit code 2) or failed (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config_file::LoadError),
    /// The listen address is not usable.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The Kafka side could not start.
    #[error(transparent)]
    Ingest(#[from] ccpulse_kafka::IngestError),
    /// Access cannot be set up (no token on an open address, a bad tokens file).
    #[error(transparent)]
    Access(#[from] crate::access::AccessError),
    /// The TLS certificate or key cannot be used.
    #[error("http TLS: {0}")]
    Tls(#[from] ccpulse_http::tls::TlsError),
    /// A metric could not be registered.
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Http(std::io::Error),
}

impl ServeError {
    /// 2 for what the user must fix, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Config(_)
            | ServeError::Listen { .. }
            | ServeError::Ingest(_)
            | ServeError::Access(_)
            | ServeError::Tls(_) => 2,
            _ => 1,
        }
    }
}

/// Everything `serve` runs with, after the file and the flags.
#[derive(Debug)]
pub struct Resolved {
    /// Kafka.
    pub kafka: KafkaSettings,
    /// Listen address.
    pub listen: String,
    /// HTTP server limits.
    pub http: Limits,
    /// Who may read what.
    pub access: ccpulse_http::auth::Access,
    /// Open to anyone by `auth = "none"`: warned about at start.
    pub open_by_choice: bool,
    /// HTTPS: certificate chain and key files.
    pub tls: Option<(String, String)>,
    /// Publisher.
    pub publisher: PublisherSettings,
    /// Engine.
    pub engine: ccpulse_core::EngineConfig,
    /// The wallboard page's thresholds.
    pub wallboard: ccpulse_http::wallboard::WallboardSettings,
}

/// Merges the configuration file and the flags.
pub fn resolve(args: &ServeArgs) -> Result<Resolved, ServeError> {
    let loaded = config_file::load(args.config.as_deref())?;
    let file = loaded.file.clone();
    let k = file.kafka.unwrap_or_default();
    let p = file.publisher.unwrap_or_default();
    let clock = args.clock.or(p.clock).unwrap_or(Clock::Wall);
    let recovery = match clock {
        Clock::Event => Recovery::Beginning,
        Clock::Wall => Recovery::Horizon(
            k.recovery_horizon
                .map_or(loaded.default_recovery_horizon(), Span::millis),
        ),
    };
    let mut kafka = KafkaSettings::new(
        args.brokers
            .clone()
            .or(k.brokers)
            .unwrap_or_else(|| "localhost:9092".into()),
        recovery,
    );
    if let Some(g) = args.group_id.clone().or(k.group_id) {
        kafka.group_id = g;
    }
    if let Some(t) = k.topics {
        kafka.topics = t;
    }
    if let Some(d) = k.dlq_topic {
        kafka.dlq_topic = d;
    }
    if let Some(t) = k.partials_topic {
        kafka.partials_topic = t;
    }
    kafka.properties = k.properties.unwrap_or_default();
    kafka.instance_id = k.instance_id;
    if let Some(g) = k.park_grace {
        kafka.park_grace = g.millis();
    }
    if let Some(s) = k.standby {
        kafka.standby = s;
    }
    let h = file.http.unwrap_or_default();
    let defaults = Limits::default();
    let ms = |s: Span| Duration::from_millis(s.millis() as u64);
    let listen = args
        .listen
        .clone()
        .or(h.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let (access, open_by_choice) = crate::access::resolve(&h, &listen)?;
    let tls = match (&h.tls_cert, &h.tls_key) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        (None, None) => None,
        _ => return Err(ccpulse_http::tls::TlsError::Half.into()),
    };
    Ok(Resolved {
        kafka,
        listen,
        access,
        open_by_choice,
        tls,
        http: Limits {
            header_timeout: h.header_timeout.map_or(defaults.header_timeout, ms),
            max_connections: h.max_connections.unwrap_or(defaults.max_connections).max(1),
            shutdown_timeout: h.shutdown_timeout.map_or(defaults.shutdown_timeout, ms),
        },
        publisher: PublisherSettings {
            tick: Duration::from_millis(p.tick.map_or(1000, Span::millis) as u64),
            clock,
            max_queues: p.max_queues.unwrap_or(200),
            max_agents: p.max_agents.unwrap_or(1000),
            stale_after: p.stale_after.map_or(10_000, Span::millis),
        },
        engine: loaded.engine,
        wallboard: loaded.wallboard,
    })
}

/// Runs the service until SIGTERM or Ctrl-C. `on_listening` is told the bound address.
pub async fn serve(resolved: Resolved, on_listening: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let tls = match &resolved.tls {
        Some((cert, key)) => Some(ccpulse_http::tls::acceptor(cert, key)?),
        None => None,
    };
    if resolved.open_by_choice {
        warn!(listen = %resolved.listen, "http.auth = \"none\": anyone who reaches this address reads every figure, agents' included");
    }
    let listener = tokio::net::TcpListener::bind(&resolved.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: resolved.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: resolved.listen.clone(),
        source,
    })?;
    let registry = prometheus::Registry::new();
    ccpulse_http::metrics::register_process_metrics(&registry)?;
    let engine = Arc::new(resolved.engine);
    let kafka = resolved.kafka;
    let kafka_recovery = kafka.recovery;
    let kafka_settings = kafka.clone();
    let kafka_instance = kafka.instance_id.clone().unwrap_or_else(generated_instance_name);
    let ingest = {
        let engine = engine.clone();
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || Ingest::start(&kafka, engine, &registry))
            .await
            .map_err(|e| ServeError::Http(std::io::Error::other(e)))??
    };
    let ingest = Arc::new(ingest);
    let link = {
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || {
            PartialsLink::start(
                &ccpulse_kafka::ingest::base_config(&kafka_settings),
                &kafka_settings.partials_topic,
                &kafka_instance,
                &registry,
            )
        })
        .await
        .map_err(|e| ServeError::Http(std::io::Error::other(e)))??
    };
    let link = Arc::new(link);
    let published = Arc::new(ArcSwapOption::empty());
    let tick_ms = resolved.publisher.tick.as_millis() as i64;
    let publisher = Publisher::new(
        ingest.clone(),
        link.clone(),
        engine.clone(),
        published.clone(),
        resolved.publisher,
        &registry,
    )?;
    let mut windows: Vec<String> = engine.windows.iter().map(|w| w.name.clone()).collect();
    windows.push(ccpulse_core::engine::TODAY.to_owned());
    // A snapshot is replaced every tick; one five ticks old (at least 5 s) means the
    // publisher is stuck.
    let reports = crate::intervals::Reports {
        ingest: ingest.clone(),
        link: link.clone(),
        cfg: engine.clone(),
        horizon: kafka_recovery.horizon(),
        stale_after: resolved.publisher.stale_after,
    };
    let state = AppState {
        published,
        registry,
        windows: Arc::new(windows),
        max_snapshot_age: (5 * tick_ms).max(5_000),
        access: resolved.access,
        wallboard: Arc::new(resolved.wallboard),
        intervals: Some(reports.into_source()),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let publishing = tokio::spawn(publisher.run(stop_rx.clone()));
    info!(%addr, "listening");
    on_listening(addr);
    let server = tokio::spawn(ccpulse_http::server::serve(
        listener,
        ccpulse_http::app(state),
        resolved.http,
        tls,
        stop_rx,
    ));
    shutdown_signal().await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    if let Err(e) = server.await {
        error!(error = %e, "http server task");
    }
    let _ = publishing.await;
    if let Ok(link) = Arc::try_unwrap(link) {
        let _ = tokio::task::spawn_blocking(move || link.shutdown()).await;
    }
    let ingest = Arc::try_unwrap(ingest);
    match ingest {
        Ok(ingest) => {
            let _ = tokio::task::spawn_blocking(move || ingest.shutdown()).await;
        }
        Err(_) => error!("ingest still shared at shutdown; offsets not committed"),
    }
    info!("stopped");
    Ok(())
}

/// A name for this instance on the partials topic when `kafka.instance_id` is not set:
/// the host name, the process id and the start time, so that a restart is a new name.
fn generated_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ccpulse".to_owned());
    let started = jiff::Timestamp::now().as_millisecond() % 1_000_000;
    format!("{host}-{}-{started}", std::process::id())
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "listening for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!(error = %e, "listening for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
