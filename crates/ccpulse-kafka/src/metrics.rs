//! The ingest side's own metrics (names in `docs/metrics.md`).

use ccpulse_core::EventError;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Handles to the ingest metrics; cheap to clone, atomic to update.
#[derive(Clone, Debug)]
pub struct IngestMetrics {
    /// Messages read, by topic.
    pub ingested: IntCounterVec,
    /// Invalid events, by reason.
    pub rejected: IntCounterVec,
    /// Duplicates dropped.
    pub duplicate: IntCounter,
    /// Events later than the allowed lateness.
    pub late: IntCounter,
    /// Events older than the dedupe horizon, dropped.
    pub too_old: IntCounter,
    /// Lifecycle events for a contact already finished and forgotten, ignored.
    pub after_close: IntCounter,
    /// Invalid events that could not be written to the DLQ.
    pub dlq_failures: IntCounter,
    /// Consumer lag per topic-partition.
    pub lag: IntGaugeVec,
    /// Partitions held.
    pub assigned: IntGauge,
    /// Partitions still replaying.
    pub replaying: IntGauge,
    /// 1 once every assigned partition is replayed.
    pub ready: IntGauge,
}

impl IngestMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = IngestMetrics {
            ingested: IntCounterVec::new(
                Opts::new("ccpulse_events_ingested_total", "Messages read from Kafka."),
                &["topic"],
            )?,
            rejected: IntCounterVec::new(
                Opts::new(
                    "ccpulse_events_rejected_total",
                    "Invalid events sent to the dead-letter topic.",
                ),
                &["reason"],
            )?,
            duplicate: IntCounter::new("ccpulse_events_duplicate_total", "Duplicate events dropped.")?,
            late: IntCounter::new(
                "ccpulse_events_late_total",
                "Events later than the allowed lateness (still applied).",
            )?,
            too_old: IntCounter::new(
                "ccpulse_events_too_old_total",
                "Events older than the dedupe horizon (dropped).",
            )?,
            after_close: IntCounter::new(
                "ccpulse_events_after_close_total",
                "Lifecycle events for a contact already finished and forgotten (ignored).",
            )?,
            dlq_failures: IntCounter::new(
                "ccpulse_dlq_failures_total",
                "Invalid events that could not be written to the dead-letter topic.",
            )?,
            lag: IntGaugeVec::new(
                Opts::new("ccpulse_consumer_lag_messages", "Messages behind the partition's end."),
                &["topic", "partition"],
            )?,
            assigned: IntGauge::new("ccpulse_partitions_assigned", "Partitions held by this instance.")?,
            replaying: IntGauge::new("ccpulse_partitions_replaying", "Assigned partitions not yet caught up.")?,
            ready: IntGauge::new("ccpulse_ready", "1 once every assigned partition is replayed.")?,
        };
        registry.register(Box::new(m.ingested.clone()))?;
        registry.register(Box::new(m.rejected.clone()))?;
        registry.register(Box::new(m.duplicate.clone()))?;
        registry.register(Box::new(m.late.clone()))?;
        registry.register(Box::new(m.too_old.clone()))?;
        registry.register(Box::new(m.after_close.clone()))?;
        registry.register(Box::new(m.dlq_failures.clone()))?;
        registry.register(Box::new(m.lag.clone()))?;
        registry.register(Box::new(m.assigned.clone()))?;
        registry.register(Box::new(m.replaying.clone()))?;
        registry.register(Box::new(m.ready.clone()))?;
        for reason in EventError::REASONS {
            m.rejected.with_label_values(&[reason]);
        }
        Ok(m)
    }
}
