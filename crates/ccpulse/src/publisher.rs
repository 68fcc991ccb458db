//! The publisher: every tick it merges the partitions' partials into one snapshot,
//! evaluates SLA breaches, folds labels past the cardinality cap for `/metrics`, and
//! swaps the result in for the HTTP side. Readers never wait for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use ccpulse_core::breach::BreachTracker;
use ccpulse_core::{EngineConfig, Snapshot};
use ccpulse_http::Published;
use ccpulse_kafka::Ingest;
use prometheus::{Histogram, HistogramOpts, Registry};
use tracing::{debug, info_span, Instrument};

use crate::config_file::Clock;

/// Publisher settings.
#[derive(Debug, Clone, Copy)]
pub struct PublisherSettings {
    /// Interval between snapshots.
    pub tick: Duration,
    /// How "now" is read.
    pub clock: Clock,
    /// Queues exported by name to `/metrics`.
    pub max_queues: usize,
    /// Agents exported by name to `/metrics`.
    pub max_agents: usize,
}

/// The publisher task's state.
pub struct Publisher {
    ingest: Arc<Ingest>,
    cfg: Arc<EngineConfig>,
    published: Arc<ArcSwapOption<Published>>,
    settings: PublisherSettings,
    breaches: BreachTracker,
    /// Breach state of the folded `/metrics` snapshot (its groups differ from the API's).
    folded_breaches: BreachTracker,
    tick_duration: Histogram,
    freshness: Histogram,
}

impl Publisher {
    /// A publisher over `ingest`, registering its metrics in `registry`.
    pub fn new(
        ingest: Arc<Ingest>,
        cfg: Arc<EngineConfig>,
        published: Arc<ArcSwapOption<Published>>,
        settings: PublisherSettings,
        registry: &Registry,
    ) -> prometheus::Result<Self> {
        let tick_duration = Histogram::with_opts(
            HistogramOpts::new("ccpulse_tick_duration_seconds", "Publisher tick duration.")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]),
        )?;
        registry.register(Box::new(tick_duration.clone()))?;
        let freshness = Histogram::with_opts(
            HistogramOpts::new(
                "ccpulse_snapshot_freshness_seconds",
                "Per published snapshot: publication time minus the newest event time in it (wall clock only).",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0]),
        )?;
        registry.register(Box::new(freshness.clone()))?;
        Ok(Publisher {
            ingest,
            cfg,
            published,
            settings,
            breaches: BreachTracker::default(),
            folded_breaches: BreachTracker::default(),
            tick_duration,
            freshness,
        })
    }

    /// Publishes one snapshot.
    pub async fn tick(&mut self) {
        let started = Instant::now();
        let wall = jiff::Timestamp::now().as_millisecond();
        let now = match self.settings.clock {
            Clock::Wall => wall,
            Clock::Event => self.ingest.watermark().unwrap_or(wall),
        };
        // Readiness before collecting: a snapshot is "ready" only if every partition had
        // finished its replay before its figures were read.
        let (ready, _) = self.ingest.readiness();
        let partial = self.ingest.partial(now).instrument(info_span!("collect")).await;
        let mut snapshot = Snapshot::build(&partial, &self.cfg);
        if !ready {
            // Breach state carried over from a partial replay would be wrong.
            self.breaches = BreachTracker::default();
            self.folded_breaches = BreachTracker::default();
        }
        self.breaches.evaluate(&mut snapshot, &self.cfg.policies);
        let (metrics, folded) = match partial.fold_labels(self.settings.max_queues, self.settings.max_agents) {
            None => (None, (0, 0)),
            Some((p, q, a)) => {
                let mut m = Snapshot::build(&p, &self.cfg);
                self.folded_breaches.evaluate(&mut m, &self.cfg.policies);
                (Some(m), (q, a))
            }
        };
        let newest = snapshot.stats.watermark;
        self.published
            .store(Some(Arc::new(Published::new(snapshot, metrics, folded, wall, ready))));
        if let (Clock::Wall, true, Some(newest)) = (self.settings.clock, ready, newest) {
            let published_at = jiff::Timestamp::now().as_millisecond();
            self.freshness.observe((published_at - newest).max(0) as f64 / 1000.0);
        }
        let took = started.elapsed();
        self.tick_duration.observe(took.as_secs_f64());
        debug!(took_ms = took.as_millis() as u64, "published");
    }

    /// Publishes every tick until `stop` fires.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(self.settings.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = interval.tick() => self.tick().await,
                _ = stop.changed() => return,
            }
        }
    }
}
