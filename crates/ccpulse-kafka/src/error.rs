//! Why the ingest side cannot start.

use thiserror::Error;

/// A start-up failure of the ingest side. None is worth retrying without a change of
/// configuration or of the cluster, except a broker that is not reachable yet.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The Kafka client refused its configuration, or the broker did not answer.
    #[error("kafka: {0}")]
    Client(#[source] rdkafka::error::KafkaError),
    /// A configured topic does not exist.
    #[error("topic {0:?} does not exist (create it with the same partition count as the other topics)")]
    MissingTopic(String),
    /// The dead-letter topic does not exist: invalid events would be lost.
    #[error("dead-letter topic {0:?} does not exist; create it (any partition count, e.g. `kafka-topics.sh --create --topic {0} --partitions 1`) or name another with kafka.dlq_topic: without it every invalid event would be lost")]
    MissingDlqTopic(String),
    /// The partials topic does not exist: instances could not answer for each other.
    #[error("partials topic {0:?} does not exist; create it compacted (e.g. `kafka-topics.sh --create --topic {0} --partitions 1 --config cleanup.policy=compact`) or name another with kafka.partials_topic")]
    MissingPartialsTopic(String),
    /// The topics differ in partition count.
    #[error("topics are not co-partitioned: every contact and survey topic needs the same number of partitions ({0})")]
    NotCopartitioned(String),
    /// A metric could not be registered.
    #[error("registering metrics: {0}")]
    Metrics(#[source] prometheus::Error),
    /// A thread could not be started.
    #[error("starting a thread: {0}")]
    Thread(#[source] std::io::Error),
}
