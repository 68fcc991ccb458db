//! The service's interval reports (`GET /api/v1/intervals`), for the whole cluster: the
//! partitions this instance holds are asked of their workers (exact at "now", as every
//! window), the others are summed from the quarter-hour records their holders write to
//! the partials topic whenever a quarter changes (at most a tick behind); all merged
//! like the partials of a snapshot, with the coverage that says what they stand for.

use std::sync::Arc;

use ccpulse_core::coverage::Book;
use ccpulse_core::interval::{interval_bounds, resolve_day, IntervalReport};
use ccpulse_core::partial::Partial;
use ccpulse_core::time::Millis;
use ccpulse_core::EngineConfig;
use ccpulse_http::intervals::{IntervalAsk, IntervalSource};
use ccpulse_kafka::partials::PartialsLink;
use ccpulse_kafka::Ingest;
use tracing::{info_span, Instrument};

/// What the interval reports are computed from.
pub struct Reports {
    /// The partition workers.
    pub ingest: Arc<Ingest>,
    /// The other instances' records: their partitions' quarter-hour sums.
    pub link: Arc<PartialsLink>,
    /// The engine's configuration.
    pub cfg: Arc<EngineConfig>,
    /// The recovery horizon: a day that starts before now minus this is not whole after
    /// a restart, and is not answered. `None` when every partition is replayed from its
    /// beginning.
    pub horizon: Option<Millis>,
    /// A partition not known up to date for longer than this is stale.
    pub stale_after: Millis,
}

impl Reports {
    /// The source the HTTP side asks.
    pub fn into_source(self) -> IntervalSource {
        let this = Arc::new(self);
        Arc::new(move |ask: IntervalAsk| {
            let this = this.clone();
            Box::pin(async move { this.report(ask).await })
        })
    }

    async fn report(&self, ask: IntervalAsk) -> Result<IntervalReport, ccpulse_core::interval::DayError> {
        let cfg = &self.cfg;
        let earliest = self.horizon.map_or(Millis::MIN, |h| ask.now - h);
        let day = resolve_day(cfg, ask.date.as_deref(), ask.now, earliest)?;
        let to = ask.now.div_euclid(cfg.slice) * cfg.slice;
        let bounds = Arc::new(interval_bounds(day.start, day.end, ask.size, to));
        let own = self
            .ingest
            .intervals(bounds.clone(), ask.now)
            .instrument(info_span!("intervals", size = %ask.size, date = %day.date))
            .await;
        let held: Vec<u32> = own.iter().map(|r| r.partition).collect();
        let elsewhere = self.link.peer_intervals(&held, &bounds, ask.now);
        let wall = jiff::Timestamp::now().as_millisecond();
        let view = Book::default().view(
            Partial::empty(ask.now, &bounds),
            own.iter().chain(&elsewhere),
            &held,
            self.ingest.partition_count(),
            wall,
            self.stale_after,
        );
        Ok(IntervalReport::build(
            &view.partial,
            cfg,
            ask.size,
            day.date,
            view.coverage,
        ))
    }
}
