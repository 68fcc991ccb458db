//! `ccpulse demo`: the embedded default. librdkafka's mock cluster in-process, simulated
//! live traffic produced into it, and the service reading it through the same Kafka
//! path as in production. Nothing to install.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccpulse_core::time::MINUTE;
use ccpulse_kafka::{KafkaSettings, Recovery, DEFAULT_TOPICS};
use ccpulse_sim::{SimConfig, Simulator};
use rdkafka::mocking::MockCluster;
use tracing::{info, warn};

use crate::config_file::Clock;
use crate::serve::{self, ServeArgs, ServeError};
use crate::simulate;

/// Arguments of `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// New contacts per hour at the daily peak, handled by 50 agents in 5 teams (above
    /// ~400 they cannot keep up and the service levels breach). Traffic follows the
    /// time of day (UTC) but never falls below 60 % of the peak, so that the demo is
    /// busy at any hour.
    #[arg(long, default_value_t = 360.0)]
    pub contacts_per_hour: f64,
    /// Partitions per topic in the mock cluster.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Configuration file (TOML) for the engine's settings.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
}

/// A demo that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The mock cluster failed.
    #[error("mock kafka cluster: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The service failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The traffic producer failed.
    #[error(transparent)]
    Simulate(#[from] simulate::SimulateError),
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    let mock = MockCluster::new(1)?;
    let brokers = mock.bootstrap_servers();
    for topic in DEFAULT_TOPICS.iter().chain(&["cc.dlq", "cc.partials"]) {
        mock.create_topic(topic, args.partitions, 1)?;
    }
    info!(%brokers, "mock kafka cluster up");

    // Fifteen minutes of history first, so the windows are not empty, then live traffic.
    let producer = simulate::producer(&brokers)?;
    let now = jiff::Timestamp::now().as_millisecond();
    let mut sim = Simulator::new(SimConfig {
        seed: now as u64,
        start_ms: now - 15 * MINUTE,
        contacts_per_hour: args.contacts_per_hour,
        agents: 50,
        teams: 5,
        invalid_per_thousand: 2,
        // Busy enough to watch at any hour: never below 60 % of the peak.
        min_load: 0.6,
        ..SimConfig::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("ccpulse-demo-traffic".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let batch = sim.advance_to(jiff::Timestamp::now().as_millisecond());
                    simulate::send_all(&producer, &batch);
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
            .map_err(|e| ServeError::Http(std::io::Error::other(e)))?
    };

    let args_serve = ServeArgs {
        config: args.config.clone(),
        brokers: Some(brokers),
        listen: Some(args.listen.clone()),
        group_id: Some("ccpulse-demo".into()),
        clock: Some(Clock::Wall),
    };
    let mut resolved = serve::resolve(&args_serve)?;
    resolved.kafka = KafkaSettings {
        recovery: Recovery::Beginning,
        ..resolved.kafka
    };
    let result = serve::serve(resolved, |addr| {
        println!();
        println!(
            "ccpulse demo: a simulated contact centre (~50 agents, voice, chat and email) on an in-process Kafka."
        );
        println!("  wallboard   http://{addr}/");
        println!("  queues      http://{addr}/api/v1/queues?window=15m");
        println!("  channels    http://{addr}/api/v1/channels?window=15m");
        println!("  agents      http://{addr}/api/v1/agents?window=1h");
        println!("  breaches    http://{addr}/api/v1/breaches");
        println!("  metrics     http://{addr}/metrics");
        println!("  ready       http://{addr}/readyz");
        println!("Ctrl-C to stop.");
        println!();
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    if traffic.join().is_err() {
        warn!("the traffic thread panicked");
    }
    drop(mock);
    Ok(result?)
}
