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

impl Recovery {
    /// How far back a replay reaches; `None` from the beginning.
    pub fn horizon(self) -> Option<Millis> {
        match self {
            Recovery::Horizon(h) => Some(h),
            Recovery::Beginning => None,
        }
    }

    /// The oldest event time a replay starting at wall-clock `now` applies; `None` from
    /// the beginning.
    pub fn replay_from(self, now: Millis) -> Option<Millis> {
        self.horizon().map(|h| now - h)
    }
}

/// Kafka settings of the service. Its `Debug` leaves out the value of every property
/// that holds a secret (`sasl.*`, `*password*`, `ssl.key*`, …).
#[derive(Clone)]
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
    /// Keep a standby replica of every partition not held, once the partitions held are
    /// caught up, so that a partition that moves here resumes instead of replaying (see
    /// `standby`). On by default.
    pub standby: bool,
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
            standby: true,
            properties: BTreeMap::new(),
        }
    }
}

/// Whether a librdkafka property holds a secret.
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("sasl.") || k.contains("password") || k.starts_with("ssl.key") || k.contains("secret")
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_property(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("group_id", &self.group_id)
            .field("topics", &self.topics)
            .field("dlq_topic", &self.dlq_topic)
            .field("partials_topic", &self.partials_topic)
            .field("recovery", &self.recovery)
            .field("instance_id", &self.instance_id)
            .field("park_grace", &self.park_grace)
            .field("standby", &self.standby)
            .field("properties", &properties)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_secrets_out() {
        let mut s = KafkaSettings::new("k:9092", Recovery::Beginning);
        s.properties.insert("sasl.password".into(), "hunter2".into());
        s.properties.insert("ssl.key.password".into(), "hunter3".into());
        s.properties.insert("security.protocol".into(), "SASL_SSL".into());
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("hunter3"), "{shown}");
        assert!(shown.contains("SASL_SSL"));
    }
}
