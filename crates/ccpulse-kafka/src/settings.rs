//! How ccpulse talks to Kafka: brokers, group, topics, dead-letter topic, recovery.

use std::collections::BTreeMap;

use ccpulse_core::time::{Millis, MINUTE};

/// The contract's default topics (`spec/events.md`).
pub const DEFAULT_TOPICS: [&str; 5] = ["cc.voice", "cc.chat", "cc.email", "cc.surveys", "cc.agents"];

/// Where a partition's replay starts when it is assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// From the offset of (wall clock − horizon), events older than that skipped.
    Horizon(Millis),
    /// From the beginning of every partition, every event applied (event-clock mode,
    /// for backfills whose events may be older than any horizon).
    Beginning,
}

/// Kafka settings of the service.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group id.
    pub group_id: String,
    /// Topics to read; all must have the same partition count.
    pub topics: Vec<String>,
    /// Dead-letter topic for invalid events.
    pub dlq_topic: String,
    /// Compacted topic the instances share their partitions' figures through.
    pub partials_topic: String,
    /// Where replays start.
    pub recovery: Recovery,
    /// Static group membership (KIP-345): `group.instance.id`. A restarted instance
    /// with the same id gets its partitions back without a rebalance, if it returns
    /// within the session timeout and the broker supports it.
    pub instance_id: Option<String>,
    /// How long the engine of a revoked partition is kept (parked) in case the
    /// partition comes back, so that it resumes where it stopped instead of replaying.
    pub park_grace: Millis,
    /// librdkafka properties passed through (SASL, TLS, timeouts, …); they override
    /// ccpulse's own settings.
    pub properties: BTreeMap<String, String>,
}

impl KafkaSettings {
    /// Settings with the contract's defaults for `brokers`.
    pub fn new(brokers: impl Into<String>, recovery: Recovery) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            group_id: "ccpulse".into(),
            topics: DEFAULT_TOPICS.iter().map(|t| (*t).to_owned()).collect(),
            dlq_topic: "cc.dlq".into(),
            partials_topic: "cc.partials".into(),
            recovery,
            instance_id: None,
            park_grace: 10 * MINUTE,
            properties: BTreeMap::new(),
        }
    }
}
