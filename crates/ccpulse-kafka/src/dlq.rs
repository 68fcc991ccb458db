//! The dead-letter producer: invalid events go to the DLQ topic with their original
//! bytes and key, and headers naming the reason and where they came from.

use std::sync::Arc;

use ccpulse_core::EventError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;
use tracing::warn;

use crate::metrics::IngestMetrics;

/// Header: the reason label (`missing_field`, `future_ts`, …).
pub const HEADER_REASON: &str = "ccpulse-reason";
/// Header: the full error message.
pub const HEADER_ERROR: &str = "ccpulse-error";
/// Header: the source topic.
pub const HEADER_TOPIC: &str = "ccpulse-source-topic";
/// Header: the source partition.
pub const HEADER_PARTITION: &str = "ccpulse-source-partition";
/// Header: the source offset.
pub const HEADER_OFFSET: &str = "ccpulse-source-offset";

/// Where an invalid message came from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Original key.
    pub key: Option<&'a [u8]>,
}

/// The DLQ producer, shared by the partition workers.
#[derive(Clone)]
pub struct DeadLetters {
    producer: Arc<ThreadedProducer<DefaultProducerContext>>,
    topic: Arc<str>,
    metrics: IngestMetrics,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// A producer for `topic` with the client settings `config`.
    pub fn new(config: &ClientConfig, topic: &str, metrics: IngestMetrics) -> rdkafka::error::KafkaResult<Self> {
        let producer: ThreadedProducer<DefaultProducerContext> = config.create()?;
        Ok(DeadLetters {
            producer: Arc::new(producer),
            topic: Arc::from(topic),
            metrics,
        })
    }

    /// Sends one invalid message and counts it by reason.
    pub fn send(&self, payload: &[u8], source: Source<'_>, error: &EventError) {
        self.metrics.rejected.with_label_values(&[error.reason()]).inc();
        let message = error.to_string();
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: HEADER_REASON,
                value: Some(error.reason()),
            })
            .insert(Header {
                key: HEADER_ERROR,
                value: Some(message.as_str()),
            })
            .insert(Header {
                key: HEADER_TOPIC,
                value: Some(source.topic),
            })
            .insert(Header {
                key: HEADER_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: HEADER_OFFSET,
                value: Some(offset.as_str()),
            });
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic).payload(payload).headers(headers);
        if let Some(key) = source.key {
            record = record.key(key);
        }
        if let Err((e, _)) = self.producer.send(record) {
            self.metrics.dlq_failures.inc();
            warn!(error = %e, topic = source.topic, partition = source.partition, offset = source.offset, reason = %message,
                "could not write an invalid event to the dead-letter topic");
        }
    }

    /// Waits for queued dead letters to be delivered.
    pub fn flush(&self) {
        if let Err(e) = self.producer.flush(std::time::Duration::from_secs(10)) {
            warn!(error = %e, "flushing the dead-letter producer");
        }
    }
}
