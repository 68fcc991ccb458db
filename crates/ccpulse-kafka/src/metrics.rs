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
    /// Events dropped because their contact or agent held the most events it may.
    pub over_cap: IntCounter,
    /// Invalid events that could not be written to the DLQ.
    pub dlq_failures: IntCounter,
    /// Invalid events read again in a replay, below the committed offset: an earlier
    /// run dead-lettered them, so they are not written again.
    pub dlq_skipped: IntCounter,
    /// Revoked partitions whose engine is kept for the grace period.
    pub parked: IntGauge,
    /// Partitions resumed from a parked engine instead of replayed.
    pub resumed: IntCounter,
    /// Topic-partitions whose resumed fetch stalled, read again from the replay's start.
    pub resume_stalls: IntCounter,
    /// Resumed topic-partitions whose fetch skipped messages, read again.
    pub resume_gaps: IntCounter,
    /// Consumer lag per topic-partition.
    pub lag: IntGaugeVec,
    /// Partitions held.
    pub assigned: IntGauge,
    /// Partitions still replaying.
    pub replaying: IntGauge,
    /// Standby replicas kept (`kafka.standby`).
    pub standby: IntGauge,
    /// Standby replicas not yet caught up with their partition.
    pub standby_replaying: IntGauge,
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
            over_cap: IntCounter::new(
                "ccpulse_events_over_cap_total",
                "Events dropped because their contact already held 256 events or their agent 4096 state changes.",
            )?,
            dlq_failures: IntCounter::new(
                "ccpulse_dlq_failures_total",
                "Invalid events that could not be written to the dead-letter topic.",
            )?,
            dlq_skipped: IntCounter::new(
                "ccpulse_dlq_skipped_total",
                "Invalid events read again in a replay that an earlier run already dead-lettered (below the committed offset); not written again.",
            )?,
            parked: IntGauge::new(
                "ccpulse_partitions_parked",
                "Revoked partitions whose engine is kept for the grace period.",
            )?,
            resumed: IntCounter::new(
                "ccpulse_partitions_resumed_total",
                "Partitions that came back and resumed from their parked engine instead of replaying.",
            )?,
            resume_stalls: IntCounter::new(
                "ccpulse_resume_stalls_total",
                "Topic-partitions that yielded nothing from their resumed position and were read again from the replay's start, skipping what was applied.",
            )?,
            resume_gaps: IntCounter::new(
                "ccpulse_resume_gaps_total",
                "Fetches that delivered a later offset first than the one they resumed or started at, read again from before it, skipping what was read.",
            )?,
            lag: IntGaugeVec::new(
                Opts::new("ccpulse_consumer_lag_messages", "Messages behind the partition's end."),
                &["topic", "partition"],
            )?,
            assigned: IntGauge::new("ccpulse_partitions_assigned", "Partitions held by this instance.")?,
            replaying: IntGauge::new("ccpulse_partitions_replaying", "Assigned partitions not yet caught up.")?,
            standby: IntGauge::new(
                "ccpulse_standby_partitions",
                "Partitions not held here of which a standby replica is kept (kafka.standby).",
            )?,
            standby_replaying: IntGauge::new(
                "ccpulse_standby_partitions_replaying",
                "Standby replicas not yet caught up with their partition.",
            )?,
        };
        registry.register(Box::new(m.ingested.clone()))?;
        registry.register(Box::new(m.rejected.clone()))?;
        registry.register(Box::new(m.duplicate.clone()))?;
        registry.register(Box::new(m.late.clone()))?;
        registry.register(Box::new(m.too_old.clone()))?;
        registry.register(Box::new(m.after_close.clone()))?;
        registry.register(Box::new(m.over_cap.clone()))?;
        registry.register(Box::new(m.dlq_failures.clone()))?;
        registry.register(Box::new(m.dlq_skipped.clone()))?;
        registry.register(Box::new(m.parked.clone()))?;
        registry.register(Box::new(m.resumed.clone()))?;
        registry.register(Box::new(m.resume_stalls.clone()))?;
        registry.register(Box::new(m.resume_gaps.clone()))?;
        registry.register(Box::new(m.lag.clone()))?;
        registry.register(Box::new(m.assigned.clone()))?;
        registry.register(Box::new(m.replaying.clone()))?;
        registry.register(Box::new(m.standby.clone()))?;
        registry.register(Box::new(m.standby_replaying.clone()))?;
        for reason in EventError::REASONS {
            m.rejected.with_label_values(&[reason]);
        }
        Ok(m)
    }
}
