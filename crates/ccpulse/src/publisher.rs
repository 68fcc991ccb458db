//! The publisher: every tick it merges the partitions' partials into one snapshot with
//! the coverage that says what it stands for (a partition whose data is stale keeps its
//! last figures; see `ccpulse_core::coverage`), evaluates SLA breaches on whole views
//! only, folds labels past the cardinality cap for `/metrics`, and swaps the result in
//! for the HTTP side. Readers never wait for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use ccpulse_core::breach::BreachTracker;
use ccpulse_core::coverage::{Book, Report};
use ccpulse_core::engine::window_bounds;
use ccpulse_core::partial::Partial;
use ccpulse_core::time::Millis;
use ccpulse_core::{EngineConfig, Snapshot};
use ccpulse_http::Published;
use ccpulse_kafka::partials::PartialsLink;
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
    /// A partition not known up to date with its broker for longer than this is stale.
    pub stale_after: Millis,
}

/// How many times one tick asks the workers for their figures at most (event clock).
const MAX_ASKS: u32 = 4;

/// The event clock's "now": the newest event time of any partition, this instance's
/// (`own`, its workers' newest) or another instance's (the newest event its engine had
/// applied, from its record); never going back from `last` (a partition revoked takes
/// its events away, not the time). Another instance's "now" is not taken: an instance
/// whose partitions hold no event has none, takes the wall clock, and would hand it to
/// every other (their windows would end at the wall clock, past every event).
fn event_now(own: Option<Millis>, peers: &[Arc<Report>], last: Option<Millis>) -> Option<Millis> {
    let theirs = peers
        .iter()
        .filter_map(|p| p.partial.as_ref().and_then(|p| p.stats.watermark));
    own.into_iter().chain(theirs).chain(last).max()
}

/// The publisher task's state.
pub struct Publisher {
    ingest: Arc<Ingest>,
    link: Arc<PartialsLink>,
    cfg: Arc<EngineConfig>,
    published: Arc<ArcSwapOption<Published>>,
    settings: PublisherSettings,
    breaches: BreachTracker,
    /// Breach state of the folded `/metrics` snapshot (its groups differ from the API's).
    folded_breaches: BreachTracker,
    /// The newest figures of every partition.
    book: Book,
    /// With the event clock: the last "now" used.
    event_now: Option<Millis>,
    tick_duration: Histogram,
    freshness: Histogram,
}

impl Publisher {
    /// A publisher over `ingest`, registering its metrics in `registry`.
    pub fn new(
        ingest: Arc<Ingest>,
        link: Arc<PartialsLink>,
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
            link,
            cfg,
            published,
            settings,
            breaches: BreachTracker::default(),
            folded_breaches: BreachTracker::default(),
            book: match settings.clock {
                Clock::Wall => Book::default(),
                Clock::Event => Book::of_one_moment(),
            },
            event_now: None,
            tick_duration,
            freshness,
        })
    }

    /// Publishes one snapshot.
    pub async fn tick(&mut self) {
        let started = Instant::now();
        let wall = jiff::Timestamp::now().as_millisecond();
        let peers = self.link.peers();
        let now = match self.settings.clock {
            Clock::Wall => wall,
            Clock::Event => {
                let newest = event_now(self.ingest.watermark(), &peers, self.event_now);
                self.event_now = newest;
                newest.unwrap_or(wall)
            }
        };
        // On the event clock a worker may have applied newer events between the reading
        // of the watermarks and its answer (its last ones, as it finished replaying): its
        // figures are then those of an earlier time than its engine's, and the view would
        // lag the events it holds (the first whole view after a replay, minutes behind).
        // Ask again at the newer time, keeping the quarter changes of every answer, a few
        // times at most: with events streaming in, the next tick catches up.
        let mut now = now;
        let mut quarters = Vec::new();
        let mut asked = 0;
        let own = loop {
            let c = self.ingest.collect(now).instrument(info_span!("collect")).await;
            asked += 1;
            quarters.extend(c.quarters);
            match (self.settings.clock, c.newest) {
                (Clock::Event, Some(newer)) if newer > now && asked < MAX_ASKS => {
                    now = newer;
                    self.event_now = Some(newer);
                }
                _ => break c.reports,
            }
        };
        let held: Vec<u32> = own.iter().map(|r| r.partition).collect();
        // The quarters first: a reader that sees a partition's record counting them has
        // them, or will in a moment.
        self.link.publish_quarters(quarters, &held, wall);
        self.link.publish(&own, wall);
        let base = Partial::empty(now, &window_bounds(&self.cfg, now));
        let view = self.book.view(
            base,
            own.iter().chain(peers.iter().map(|p| p.as_ref())),
            &held,
            self.ingest.partition_count(),
            wall,
            self.settings.stale_after,
        );
        let whole = view.coverage.is_whole();
        let mut snapshot = Snapshot::build(&view.partial, &self.cfg);
        snapshot.coverage = view.coverage;
        // Breach state is evaluated on whole views only: service levels of part of the
        // contact centre, or of a partition still replaying, would raise false
        // breaches and clear true ones. Meanwhile the last whole view's state stands.
        if whole {
            self.breaches.evaluate(&mut snapshot, &self.cfg.policies);
        } else {
            self.breaches.carry(&mut snapshot);
        }
        // `/metrics` exports the partitions this instance holds, so that sums over
        // instances add up (docs/metrics.md); the API answers for the whole cluster.
        // Breach flags there are the whole view's: a breach is a judgement of a group; so
        // are the staffing figures (agents live on other partitions than their contacts).
        let exported = view.held.as_ref().unwrap_or(&view.partial);
        let folded_labels = exported.fold_labels(self.settings.max_queues, self.settings.max_agents);
        let (metrics, folded) = match (view.held.is_some(), folded_labels) {
            (false, None) => (None, (0, 0)),
            (false, Some((p, q, a))) => {
                let mut m = Snapshot::build(&p, &self.cfg);
                m.coverage = snapshot.coverage.clone();
                m.staffing_from(&snapshot);
                if whole {
                    self.folded_breaches.evaluate(&mut m, &self.cfg.policies);
                } else {
                    self.folded_breaches.carry(&mut m);
                }
                (Some(m), (q, a))
            }
            (true, labels) => {
                let (p, counts) = match labels {
                    Some((p, q, a)) => (p, (q, a)),
                    None => (exported.clone(), (0, 0)),
                };
                let mut m = Snapshot::build(&p, &self.cfg);
                m.coverage = snapshot.coverage.clone();
                m.take_judgements(&snapshot);
                (Some(m), counts)
            }
        };
        let newest = snapshot.stats.watermark;
        self.published
            .store(Some(Arc::new(Published::new(snapshot, metrics, folded, wall))));
        if let (Clock::Wall, true, Some(newest)) = (self.settings.clock, whole, newest) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(now: Millis, newest_event: Option<Millis>) -> Arc<Report> {
        let mut partial = Partial::empty(now, &[]);
        partial.stats.watermark = newest_event;
        Arc::new(Report {
            partition: 1,
            partial: Some(Arc::new(partial)),
            fresh_at: Some(now),
            note: None,
        })
    }

    #[test]
    fn the_event_clock_is_the_newest_event_of_any_partition() {
        let wall = 1_800_000_000_000;
        // Another instance holds partitions without events: its figures are at the wall
        // clock, and the clock stays at the newest event.
        assert_eq!(event_now(Some(5_000), &[record(wall, None)], None), Some(5_000));
        assert_eq!(event_now(None, &[record(wall, None)], None), None);
        // Another instance's newest event, older or newer than this one's.
        assert_eq!(event_now(Some(5_000), &[record(wall, Some(3_000))], None), Some(5_000));
        assert_eq!(event_now(Some(5_000), &[record(wall, Some(8_000))], None), Some(8_000));
        // Never back.
        assert_eq!(event_now(Some(5_000), &[], Some(9_000)), Some(9_000));
    }
}
