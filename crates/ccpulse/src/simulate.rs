//! `ccpulse simulate`: realistic contact-centre traffic from `ccpulse-sim` into a broker.

use std::time::Duration;

use ccpulse_sim::{bulk_ending_before, SimConfig, Simulator, MESSAGES_PER_CONTACT};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use tracing::{info, warn};

/// Arguments of `simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Kafka bootstrap servers.
    #[arg(long)]
    pub brokers: String,
    /// Mean messages per second at the daily peak (quieter at night, as a contact
    /// centre is).
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Produce this much history first, as fast as the broker takes it (e.g. `15m`).
    #[arg(long, value_parser = parse_span)]
    pub backfill: Option<ccpulse_core::time::Span>,
    /// Instead of live traffic: produce this many messages of time-compressed traffic
    /// as fast as possible, then exit (load tests).
    #[arg(long)]
    pub count: Option<usize>,
    /// Random seed (default: the clock, so that event ids never repeat across runs).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Invalid messages per thousand (they must land in the dead-letter topic).
    #[arg(long, default_value_t = 0)]
    pub invalid_per_thousand: u32,
}

fn parse_span(s: &str) -> Result<ccpulse_core::time::Span, String> {
    ccpulse_core::time::Span::parse(s)
}

/// A producer that cannot start or deliver.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The Kafka client failed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// `--count` messages of simulated traffic could not be placed before now.
    #[error("cannot place {0} simulated messages before now")]
    Place(usize),
}

/// A producer for simulated traffic.
pub fn producer(brokers: &str) -> Result<ThreadedProducer<DefaultProducerContext>, SimulateError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", "lz4")
        .create()?)
}

/// Sends messages, waiting when the local queue is full.
pub fn send_all(producer: &ThreadedProducer<DefaultProducerContext>, messages: &[ccpulse_sim::Message]) {
    for m in messages {
        let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(m.topic)
            .key(m.key.as_str())
            .payload(m.payload.as_slice());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    r,
                )) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => {
                    warn!(error = %e, topic = m.topic, "message not produced");
                    break;
                }
            }
        }
    }
}

/// A simulator configured for a peak rate in messages per second, starting at `start_ms`.
pub fn simulator(rate: f64, seed: u64, start_ms: i64, invalid_per_thousand: u32) -> Simulator {
    let mut cfg = SimConfig::for_rate(seed, rate * 3600.0 / MESSAGES_PER_CONTACT);
    cfg.start_ms = start_ms;
    cfg.invalid_per_thousand = invalid_per_thousand;
    Simulator::new(cfg)
}

/// Runs `simulate` until Ctrl-C (or until `--count` messages are sent).
pub fn run(args: &SimulateArgs) -> Result<(), SimulateError> {
    let producer = producer(&args.brokers)?;
    let now = jiff::Timestamp::now().as_millisecond();
    let seed = args.seed.unwrap_or(now as u64);
    if let Some(n) = args.count {
        // Time-compressed traffic that ends before now (events ahead of the wall clock
        // are invalid).
        let messages = bulk_ending_before(seed, n, now, args.invalid_per_thousand).ok_or(SimulateError::Place(n))?;
        send_all(&producer, &messages);
        producer.flush(Duration::from_secs(60))?;
        info!(messages = n, "produced");
        return Ok(());
    }
    let start = now - args.backfill.map_or(0, |s| s.millis());
    let mut sim = simulator(args.rate, seed, start, args.invalid_per_thousand);
    info!(brokers = %args.brokers, rate = args.rate, "producing simulated traffic");
    let mut sent = 0usize;
    loop {
        let now = jiff::Timestamp::now().as_millisecond();
        let batch = sim.advance_to(now);
        sent += batch.len();
        send_all(&producer, &batch);
        if sent > 0 && sent % 1000 < batch.len() {
            info!(sent, "produced");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
