//! The librdkafka client context: rebalances (where each partition's replay starts),
//! statistics (consumer lag) and logs.

use std::sync::Mutex;
use std::time::Duration;

use ccpulse_core::time::Millis;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use tracing::{error, info, warn};

use crate::metrics::IngestMetrics;
use crate::settings::Recovery;

/// A change of assignment, handled by the consumer thread after `poll` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// These (topic, partition) were assigned (and paused); replays start at
    /// `replay_from` (event time) when set.
    Assigned {
        /// The partitions.
        partitions: Vec<(String, i32)>,
        /// Events before this are skipped during the replay.
        replay_from: Option<Millis>,
    },
    /// Everything was revoked.
    Revoked,
}

/// The context shared by the consumer and its partition queues.
pub struct IngestContext {
    recovery: Recovery,
    metrics: IngestMetrics,
    pending: Mutex<Vec<Change>>,
}

impl std::fmt::Debug for IngestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestContext")
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

impl IngestContext {
    /// A context for `recovery`.
    pub fn new(recovery: Recovery, metrics: IngestMetrics) -> Self {
        IngestContext {
            recovery,
            metrics,
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The assignment changes since the last call.
    pub fn take_changes(&self) -> Vec<Change> {
        match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn push(&self, change: Change) {
        match self.pending.lock() {
            Ok(mut p) => p.push(change),
            Err(poisoned) => poisoned.into_inner().push(change),
        }
    }

    /// The start offset of each assigned partition: the broker's answer for
    /// (now − horizon) when it lies strictly inside the partition, else the beginning.
    /// Brokers differ: Kafka answers exactly, Tansu answers the earliest offset and
    /// librdkafka's mock cluster the end; starting at the beginning and skipping events
    /// older than the horizon is correct on all of them.
    fn start_offsets(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList, from: Millis) {
        let mut query = TopicPartitionList::new();
        for e in tpl.elements() {
            if let Err(err) = query.add_partition_offset(e.topic(), e.partition(), Offset::Offset(from)) {
                warn!(error = %err, "building the offsets-for-times query");
            }
        }
        let answer = match consumer.offsets_for_times(query, Duration::from_secs(10)) {
            Ok(a) => a,
            Err(err) => {
                warn!(error = %err, "offsets-for-times failed; replaying from the beginning");
                TopicPartitionList::new()
            }
        };
        let parts: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        for (topic, partition) in parts {
            let found = answer.find_partition(&topic, partition).map(|e| e.offset());
            let bounds = consumer
                .fetch_watermarks(&topic, partition, Duration::from_secs(5))
                .ok();
            let start = match (found, bounds) {
                (Some(Offset::Offset(o)), Some((low, high))) if o > low && o < high => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            if let Err(err) = tpl.set_partition_offset(&topic, partition, start) {
                warn!(error = %err, topic, partition, "setting the start offset");
            }
        }
    }
}

impl ClientContext for IngestContext {
    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            for (&partition, p) in &topic.partitions {
                if partition < 0 || !p.desired {
                    continue;
                }
                let lag = if p.consumer_lag_stored >= 0 {
                    p.consumer_lag_stored
                } else {
                    p.consumer_lag
                };
                if lag >= 0 {
                    self.metrics
                        .lag
                        .with_label_values(&[name, &partition.to_string()])
                        .set(lag);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // The end of a partition is reported here too; the workers handle it.
        if matches!(error, KafkaError::PartitionEOF(_)) || reason.contains("reached end of partition") {
            return;
        }
        error!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for IngestContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let replay_from = match self.recovery {
                    Recovery::Horizon(h) => {
                        let from = jiff::Timestamp::now().as_millisecond() - h;
                        self.start_offsets(consumer, tpl, from);
                        Some(from)
                    }
                    Recovery::Beginning => {
                        if let Err(e) = tpl.set_all_offsets(Offset::Beginning) {
                            warn!(error = %e, "setting start offsets");
                        }
                        None
                    }
                };
                let partitions: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                info!(partitions = ?partitions, "assigned");
                // Paused until the consumer thread has given each partition its own
                // queue; resumed there.
                if let Err(e) = consumer.assign(tpl).and_then(|()| consumer.pause(tpl)) {
                    error!(error = %e, "assigning partitions");
                }
                self.push(Change::Assigned {
                    partitions,
                    replay_from,
                });
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!("partitions revoked");
                self.push(Change::Revoked);
                if let Err(e) = consumer.unassign() {
                    error!(error = %e, "unassigning partitions");
                }
            }
            other => error!(error = ?other, "rebalance error"),
        }
    }
}
