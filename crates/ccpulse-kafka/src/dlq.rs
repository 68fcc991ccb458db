//! The dead-letter producer: invalid events go to the DLQ topic with their original
//! bytes and key, and headers naming the reason and where they came from.
//!
//! Nothing is lost silently: a send that fails at once and a delivery that fails later
//! are both counted (`ccpulse_dlq_failures_total`) and logged (at most one line every
//! ten seconds, with how many were not logged). A payload larger than
//! [`MAX_PAYLOAD`] is cut to it, and a header value longer than [`MAX_HEADER`] is cut
//! too, with the header [`HEADER_TRUNCATED`] saying so; the topic's own size limit
//! would otherwise refuse the record. Each dead letter gets a [`Delivery`] handle, so
//! that its worker commits its offset only once the dead letter is written.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccpulse_core::EventError;
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};
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
/// Header, present only when something was cut: `payload=<original bytes>` and/or
/// `error=<original bytes>`, comma-separated.
pub const HEADER_TRUNCATED: &str = "ccpulse-truncated";

/// The largest payload written to the DLQ, in bytes (Kafka's default record limit is
/// about 1 MB; a quarter of it leaves room for headers and batching).
pub const MAX_PAYLOAD: usize = 256 * 1024;
/// The longest header value written, in bytes (the error message can repeat a bad
/// value of any length).
pub const MAX_HEADER: usize = 1024;

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

/// The state of one dead letter: pending, written, or failed (counted and logged).
#[derive(Debug, Default)]
pub struct Delivery(AtomicU8);

impl Delivery {
    const PENDING: u8 = 0;
    const WRITTEN: u8 = 1;
    const FAILED: u8 = 2;

    /// Whether the producer is done with it, written or failed.
    pub fn done(&self) -> bool {
        self.0.load(Ordering::Acquire) != Self::PENDING
    }

    /// Whether it was written.
    pub fn written(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::WRITTEN
    }
}

/// Logs at most one line per period, and counts the lines it held back.
#[derive(Debug, Default)]
pub struct Throttle {
    last: AtomicI64,
    held: AtomicU64,
}

impl Throttle {
    /// The period.
    const EVERY_MS: i64 = 10_000;

    /// Whether to log now; if so, also how many were held back since the last line.
    pub fn admit(&self, now_ms: i64) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        if now_ms - last >= Self::EVERY_MS
            && self
                .last
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// The producer's context: counts and logs failed deliveries, and marks each dead
/// letter's [`Delivery`].
pub struct DlqContext {
    metrics: IngestMetrics,
    throttle: Arc<Throttle>,
    topic: Arc<str>,
}

impl ClientContext for DlqContext {}

impl ProducerContext for DlqContext {
    type DeliveryOpaque = Arc<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Self::DeliveryOpaque) {
        match result {
            Ok(_) => delivery.0.store(Delivery::WRITTEN, Ordering::Release),
            Err((e, _)) => {
                delivery.0.store(Delivery::FAILED, Ordering::Release);
                self.metrics.dlq_failures.inc();
                if let Some(held) = self.throttle.admit(jiff::Timestamp::now().as_millisecond()) {
                    warn!(error = %e, topic = %self.topic, not_logged = held,
                        "a dead letter could not be written; the invalid event is lost");
                }
            }
        }
    }
}

/// The DLQ producer, shared by the partition workers.
#[derive(Clone)]
pub struct DeadLetters {
    producer: Arc<ThreadedProducer<DlqContext>>,
    topic: Arc<str>,
    metrics: IngestMetrics,
    throttle: Arc<Throttle>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// `value` cut to at most `max` bytes at a character boundary.
fn cut(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

impl DeadLetters {
    /// A producer for `topic` with the client settings `config`.
    pub fn new(config: &ClientConfig, topic: &str, metrics: IngestMetrics) -> rdkafka::error::KafkaResult<Self> {
        let throttle = Arc::new(Throttle::default());
        let topic: Arc<str> = Arc::from(topic);
        let producer: ThreadedProducer<DlqContext> = config.create_with_context(DlqContext {
            metrics: metrics.clone(),
            throttle: throttle.clone(),
            topic: topic.clone(),
        })?;
        Ok(DeadLetters {
            producer: Arc::new(producer),
            topic,
            metrics,
            throttle,
        })
    }

    /// Sends one invalid message, counts it by reason, and returns its delivery (failed
    /// already when it could not even be queued).
    pub fn send(&self, payload: &[u8], source: Source<'_>, error: &EventError) -> Arc<Delivery> {
        self.metrics.rejected.with_label_values(&[error.reason()]).inc();
        let message = error.to_string();
        let shown = cut(&message, MAX_HEADER);
        let body = &payload[..payload.len().min(MAX_PAYLOAD)];
        let mut truncated = Vec::new();
        if body.len() < payload.len() {
            truncated.push(format!("payload={}", payload.len()));
        }
        if shown.len() < message.len() {
            truncated.push(format!("error={}", message.len()));
        }
        let truncated = truncated.join(",");
        let partition = source.partition.to_string();
        let offset = source.offset.to_string();
        let topic = cut(source.topic, MAX_HEADER);
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: HEADER_REASON,
                value: Some(error.reason()),
            })
            .insert(Header {
                key: HEADER_ERROR,
                value: Some(shown),
            })
            .insert(Header {
                key: HEADER_TOPIC,
                value: Some(topic),
            })
            .insert(Header {
                key: HEADER_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: HEADER_OFFSET,
                value: Some(offset.as_str()),
            });
        if !truncated.is_empty() {
            headers = headers.insert(Header {
                key: HEADER_TRUNCATED,
                value: Some(truncated.as_str()),
            });
        }
        let delivery = Arc::new(Delivery::default());
        let mut record: BaseRecord<'_, [u8], [u8], Arc<Delivery>> =
            BaseRecord::with_opaque_to(&self.topic, delivery.clone())
                .payload(body)
                .headers(headers);
        if let Some(key) = source.key {
            record = record.key(&key[..key.len().min(MAX_PAYLOAD)]);
        }
        if let Err((e, _)) = self.producer.send(record) {
            delivery.0.store(Delivery::FAILED, Ordering::Release);
            self.metrics.dlq_failures.inc();
            if let Some(held) = self.throttle.admit(jiff::Timestamp::now().as_millisecond()) {
                warn!(error = %e, topic = source.topic, partition = source.partition, offset = source.offset,
                    reason = error.reason(), not_logged = held,
                    "could not write an invalid event to the dead-letter topic; it is lost");
            }
        }
        delivery
    }

    /// Waits for queued dead letters to be delivered.
    pub fn flush(&self) {
        if let Err(e) = self.producer.flush(Duration::from_secs(10)) {
            warn!(error = %e, "flushing the dead-letter producer");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_character_boundaries() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("aé", 2), "a", "é is two bytes");
    }

    #[test]
    fn the_throttle_admits_one_line_per_period_and_counts_the_rest() {
        let t = Throttle::default();
        assert_eq!(t.admit(100_000), Some(0));
        assert_eq!(t.admit(100_001), None);
        assert_eq!(t.admit(105_000), None);
        assert_eq!(t.admit(110_000), Some(2));
    }
}
