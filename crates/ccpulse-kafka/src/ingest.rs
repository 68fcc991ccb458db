//! The ingest service: a consumer group over the topics, one worker per assigned
//! partition number, parked engines for revoked partitions, and the handle the
//! publisher uses: per partition, its figures and how fresh they are.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ccpulse_core::coverage::{Note, Report};
use ccpulse_core::interval::QuarterChange;
use ccpulse_core::time::Millis;
use ccpulse_core::{Engine, EngineConfig};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;
use tracing::{error, info, info_span, warn};

use crate::context::{IngestContext, Plan};
use crate::dlq::DeadLetters;
use crate::error::IngestError;
use crate::freshness::Fetches;
use crate::metrics::IngestMetrics;
use crate::park::Lot;
use crate::settings::KafkaSettings;
use crate::standby::Standby;
use crate::worker::{Command, Start, Worker, WorkerShared};

pub(crate) struct WorkerHandle {
    pub(crate) commands: Sender<Command>,
    pub(crate) thread: std::thread::Thread,
    pub(crate) join: JoinHandle<Option<crate::park::Parked>>,
    shared: WorkerShared,
}

/// The workers and parked engines of this instance.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) workers: BTreeMap<i32, WorkerHandle>,
    pub(crate) lot: Lot,
}

/// What the consumer thread, the rebalance callbacks and the publisher share.
pub(crate) struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    /// The group has given this member its partitions (perhaps none) at least once.
    pub(crate) assigned: AtomicBool,
    pub(crate) metrics: IngestMetrics,
    pub(crate) fetches: Fetches,
}

impl Shared {
    /// Nothing held yet, counting in `metrics`.
    pub(crate) fn new(metrics: IngestMetrics) -> Self {
        Shared {
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            assigned: AtomicBool::new(false),
            metrics,
            fetches: Fetches::default(),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// What the held partitions answered to one request for their figures.
#[derive(Debug, Default)]
pub struct Collected {
    /// Per partition held: its figures (once replayed) and freshness.
    pub reports: Vec<Report>,
    /// The quarter hours that changed, per partition.
    pub quarters: Vec<(u32, QuarterChange)>,
    /// The newest event time any engine that gave figures had applied when it answered.
    pub newest: Option<Millis>,
}

/// The running ingest side.
pub struct Ingest {
    shared: Arc<Shared>,
    partitions: u32,
    consumer_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").finish_non_exhaustive()
    }
}

/// The client configuration ccpulse uses, with the user's properties on top.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group_id)
        .set("enable.partition.eof", "true")
        // Sticky: at a rebalance a member keeps what it holds (see `context`).
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "5000")
        // Offsets are stored by the workers: never behind what the group committed,
        // never past a dead letter not yet written (see `worker`).
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Every second: the consumer lag, and whether each partition's broker is up
        // and answering (the freshness of the view).
        .set("statistics.interval.ms", "1000")
        // A broker holds a fetch up to this long when it has nothing new; the default
        // (500 ms) would eat half of the one-second freshness budget.
        .set("fetch.wait.max.ms", "100")
        // A crashed instance's partitions move to the others after this long (the
        // librdkafka default, 45 s, is a long time for a wallboard to be frozen).
        .set("session.timeout.ms", "10000")
        // A member learns that the group is rebalancing from a heartbeat's answer. Every
        // second rather than every 3 s: survivors rejoin sooner after a member leaves,
        // and brokers that close a join round early (Tansu 0.6.0 does, after 3 s) do not
        // exclude a member that heard late, which would start the round again.
        .set("heartbeat.interval.ms", "1000");
    if let Some(id) = &settings.instance_id {
        c.set("group.instance.id", id);
    }
    for (k, v) in &settings.properties {
        c.set(k, v);
    }
    c
}

/// The brokers and the user's properties (TLS, SASL, …), for producers and the
/// partials reader.
pub fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers);
    for (k, v) in &settings.properties {
        c.set(k, v);
    }
    c
}

/// Producer settings: the consumer-only keys left out.
fn producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut c = base_config(settings);
    c.set("linger.ms", "5");
    for (k, v) in &settings.properties {
        c.set(k, v);
    }
    c
}

impl Ingest {
    /// Checks the topics (and the dead-letter topic), joins the consumer group and
    /// starts consuming.
    pub fn start(
        settings: &KafkaSettings,
        engine_cfg: Arc<EngineConfig>,
        registry: &prometheus::Registry,
    ) -> Result<Ingest, IngestError> {
        let metrics = IngestMetrics::register(registry).map_err(IngestError::Metrics)?;
        let shared = Arc::new(Shared::new(metrics));
        let dlq = DeadLetters::new(&producer_config(settings), &settings.dlq_topic, shared.metrics.clone())
            .map_err(IngestError::Client)?;
        let standby = if settings.standby {
            let s = Standby::new(
                &client_config(settings),
                settings.topics.clone(),
                settings.recovery,
                engine_cfg.clone(),
                dlq.clone(),
            )
            .map_err(IngestError::Metrics)?;
            Some(Arc::new(s))
        } else {
            None
        };
        let context = IngestContext::new(
            settings.topics.clone(),
            settings.recovery,
            settings.park_grace,
            shared.clone(),
        )
        .with_standby(standby.clone());
        let consumer: BaseConsumer<IngestContext> = client_config(settings)
            .create_with_context(context)
            .map_err(IngestError::Client)?;
        let partitions = check_copartitioned(&consumer, &settings.topics)?;
        check_dlq_topic(&consumer, &settings.dlq_topic)?;
        // The group assigns the lead topic's partitions; each member reads the same
        // partitions of the other topics (`context`).
        let lead: Vec<&str> = settings.topics.iter().take(1).map(String::as_str).collect();
        consumer.subscribe(&lead).map_err(IngestError::Client)?;
        let consumer = Arc::new(consumer);
        let horizon = settings.recovery.horizon();
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("ccpulse-consumer".into())
                .spawn(move || consume(consumer, shared, engine_cfg, dlq, horizon, partitions))
                .map_err(IngestError::Thread)?
        };
        info!(brokers = %settings.brokers, group = %settings.group_id, topics = ?settings.topics,
            partitions, instance = ?settings.instance_id, "consuming");
        Ok(Ingest {
            shared,
            partitions,
            consumer_thread: Some(thread),
        })
    }

    /// The partition count of the event topics.
    pub fn partition_count(&self) -> u32 {
        self.partitions
    }

    /// The newest event time applied by any partition held.
    pub fn watermark(&self) -> Option<Millis> {
        let a = self.shared.lock();
        a.workers
            .values()
            .map(|w| w.shared.watermark.load(Ordering::Relaxed))
            .filter(|&w| w != i64::MIN)
            .max()
    }

    /// Whether every partition held has been replayed, and which are still replaying.
    pub fn replaying(&self) -> Vec<i32> {
        let a = self.shared.lock();
        a.workers
            .iter()
            .filter(|(_, w)| w.shared.replaying.load(Ordering::Acquire))
            .map(|(&p, _)| p)
            .collect()
    }

    /// Per partition held: its figures at `now` (once replayed), when it was last known
    /// up to date with its broker, and why it may not be.
    pub async fn reports(&self, now: Millis) -> Vec<Report> {
        self.collect(now).await.reports
    }

    /// [`Ingest::reports`], the quarter hours of each partition that changed since the
    /// last call (`ccpulse_core::Engine::take_quarter_changes`), to share with the other
    /// instances, and the newest event time any engine that gave figures had applied.
    pub async fn collect(&self, now: Millis) -> Collected {
        let answers = self.ask(|reply| Command::Partial { now, reply }).await;
        let mut c = Collected::default();
        for (r, q, watermark) in answers {
            c.quarters.extend(q.into_iter().map(|q| (r.partition, q)));
            c.newest = c.newest.max(watermark);
            c.reports.push(r);
        }
        c
    }

    /// Every held partition's share of the intervals `bounds` at `now` (see
    /// `ccpulse_core::Engine::intervals`), as reports whose partials hold the intervals
    /// as windows; a partition still replaying has none.
    pub async fn intervals(&self, bounds: Arc<Vec<(String, Millis, Millis)>>, now: Millis) -> Vec<Report> {
        self.ask(|reply| Command::Intervals {
            bounds: bounds.clone(),
            now,
            reply,
        })
        .await
        .into_iter()
        .map(|(r, _, _)| r)
        .collect()
    }

    /// Sends every worker the command `make` builds and gathers their answers.
    async fn ask(
        &self,
        make: impl Fn(tokio::sync::oneshot::Sender<crate::worker::Answer>) -> Command,
    ) -> Vec<(Report, Vec<QuarterChange>, Option<Millis>)> {
        let mut asked = Vec::new();
        {
            let a = self.shared.lock();
            for (&p, w) in &a.workers {
                let (reply, rx) = tokio::sync::oneshot::channel();
                if w.commands.send(make(reply)).is_ok() {
                    w.thread.unpark();
                    asked.push((p, w.shared.clone(), rx));
                }
            }
        }
        let mut reports = Vec::new();
        for (p, shared, rx) in asked {
            let answer = match tokio::time::timeout(Duration::from_secs(5), rx).await {
                Ok(Ok(a)) => Some(a),
                Ok(Err(_)) => continue, // revoked meanwhile
                Err(_) => {
                    warn!(partition = p, "a partition worker did not answer within 5 s");
                    None
                }
            };
            let (fresh_at, broker_down) = self.freshness(p, &shared);
            let replaying = shared.replaying.load(Ordering::Acquire);
            let (partial, quarters, watermark) =
                answer.map_or((None, Vec::new(), None), |a| (a.partial, a.quarters, a.watermark));
            let report = Report {
                partition: p as u32,
                partial: partial.map(Arc::new),
                fresh_at,
                note: if replaying {
                    Some(Note::Replaying)
                } else if broker_down {
                    Some(Note::BrokerUnreachable)
                } else {
                    None
                },
            };
            reports.push((report, quarters, watermark));
        }
        reports
    }

    /// When partition `p` was last known up to date (the least recent of its topics),
    /// and whether a broker leading one of them is down.
    fn freshness(&self, p: i32, w: &WorkerShared) -> (Option<Millis>, bool) {
        // `None` before the first topic; `Some(None)` once a topic was never seen.
        let mut fresh: Option<Option<Millis>> = None;
        let mut down = false;
        for (topic, seen) in &w.seen {
            let seen = Some(seen.load(Ordering::Relaxed)).filter(|&s| s != i64::MIN);
            let fetch = self.shared.fetches.get(topic, p);
            down |= fetch.is_some_and(|f| f.broker_down);
            let at = seen.max(fetch.and_then(|f| f.fetched_at));
            fresh = Some(match fresh {
                None => at,
                Some(f) => f.zip(at).map(|(f, a)| f.min(a)),
            });
        }
        (fresh.flatten(), down)
    }

    /// Stops consuming: parks the workers, writes the pending dead letters, commits
    /// the offsets and leaves the group.
    pub fn shutdown(mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.consumer_thread.take() {
            if t.join().is_err() {
                error!("the consumer thread panicked");
            }
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

/// The partition count of `topic`, 0 when it does not exist.
fn partitions_of(consumer: &BaseConsumer<IngestContext>, topic: &str) -> Result<usize, IngestError> {
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(15))
        .map_err(IngestError::Client)?;
    Ok(md
        .topics()
        .iter()
        .find(|m| m.name() == topic)
        .map_or(0, |m| m.partitions().len()))
}

/// Refuses topics that are missing or differ in partition count (co-partitioning);
/// returns the partition count.
fn check_copartitioned(consumer: &BaseConsumer<IngestContext>, topics: &[String]) -> Result<u32, IngestError> {
    let mut counts = Vec::new();
    for t in topics {
        let n = partitions_of(consumer, t)?;
        if n == 0 {
            return Err(IngestError::MissingTopic(t.clone()));
        }
        counts.push((t.clone(), n));
    }
    if counts.windows(2).any(|w| w[0].1 != w[1].1) {
        let listed = counts
            .iter()
            .map(|(t, n)| format!("{t}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(IngestError::NotCopartitioned(listed));
    }
    Ok(counts.first().map_or(0, |(_, n)| *n as u32))
}

/// Refuses a dead-letter topic that does not exist: every invalid event would be lost.
fn check_dlq_topic(consumer: &BaseConsumer<IngestContext>, topic: &str) -> Result<(), IngestError> {
    if partitions_of(consumer, topic)? == 0 {
        return Err(IngestError::MissingDlqTopic(topic.to_owned()));
    }
    Ok(())
}

/// The consumer thread: serves the group protocol and turns assignments into workers.
fn consume(
    consumer: Arc<BaseConsumer<IngestContext>>,
    shared: Arc<Shared>,
    engine_cfg: Arc<EngineConfig>,
    dlq: DeadLetters,
    horizon: Option<Millis>,
    partitions: u32,
) {
    let span = info_span!("consumer");
    let _guard = span.enter();
    let grace = consumer.context().park_grace();
    let mut warmed = false;
    while !shared.stop.load(Ordering::Acquire) {
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            match r {
                Ok(m) => warn!(
                    topic = rdkafka::Message::topic(&m),
                    partition = rdkafka::Message::partition(&m),
                    "message on the main queue ignored"
                ),
                Err(e) => warn!(error = %e, "consumer error"),
            }
        }
        let plans = consumer.context().take_plans();
        if !plans.is_empty() {
            start_workers(&consumer, &shared, &engine_cfg, &dlq, plans, horizon);
        }
        if let Some(standby) = consumer.context().standby() {
            warmed = warmed || warm_standby(standby, &shared, partitions);
            let (kept, replaying) = standby.status();
            shared.metrics.standby.set(kept as i64);
            shared.metrics.standby_replaying.set(replaying as i64);
        }
        let mut state = shared.lock();
        let expired = state.lot.expire(jiff::Timestamp::now().as_millisecond() - grace);
        if !expired.is_empty() {
            info!(partitions = ?expired, "parked state dropped: the grace period is over");
            shared.metrics.parked.set(state.lot.partitions().count() as i64);
        }
    }
    info!("shutting down: parking the partitions, writing dead letters, committing offsets");
    consumer.context().park_all();
    dlq.flush();
    let parked = shared.lock().lot.drain();
    let mut tpl = TopicPartitionList::new();
    for (p, parked) in &parked {
        for (topic, pos) in &parked.positions {
            if let Some(next) = pos.next.filter(|&n| n >= pos.dlq_floor) {
                if let Err(e) = tpl.add_partition_offset(topic, *p, Offset::Offset(next)) {
                    warn!(error = %e, "listing an offset to commit");
                }
            }
        }
    }
    if tpl.count() > 0 {
        if let Err(e) = consumer.store_offsets(&tpl) {
            warn!(error = %e, "storing the final offsets");
        }
    }
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {}
        // Everything stored was committed already (auto-commit): nothing to do.
        Err(e) if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::NoOffset) => {
            info!("offsets committed already at shutdown")
        }
        Err(e) => warn!(error = %e, "committing offsets on shutdown"),
    }
    consumer.unsubscribe();
    if let Some(standby) = consumer.context().standby() {
        standby.stop();
    }
}

/// Starts a standby replica of every partition not held, once the group has assigned
/// this member its partitions and those are caught up (so that the replicas' replays
/// never delay this instance's own view); says whether it did. Afterwards partitions
/// move between held and replica at each rebalance (`context`). Runs on the consumer
/// thread, between polls: no rebalance runs meanwhile.
fn warm_standby(standby: &Standby, shared: &Shared, partitions: u32) -> bool {
    if !shared.assigned.load(Ordering::Acquire) {
        return false;
    }
    let mut warmed = false;
    standby.keep_chosen(shared, |state| {
        if state
            .workers
            .values()
            .any(|w| w.shared.replaying.load(Ordering::Acquire))
        {
            return Vec::new();
        }
        warmed = true;
        let others: Vec<i32> = (0..partitions as i32)
            .filter(|p| !state.workers.contains_key(p))
            .collect();
        info!(partitions = ?others, "the partitions held are caught up; warming standby replicas of the others");
        others
    });
    warmed
}

fn start_workers(
    consumer: &Arc<BaseConsumer<IngestContext>>,
    shared: &Arc<Shared>,
    engine_cfg: &Arc<EngineConfig>,
    dlq: &DeadLetters,
    plans: Vec<Plan>,
    horizon: Option<Millis>,
) {
    let mut resume = TopicPartitionList::new();
    let mut a = shared.lock();
    for plan in plans {
        let p = plan.partition;
        let mut queues = Vec::new();
        for (t, position) in plan.topics {
            match consumer.split_partition_queue(&t, p) {
                Some(q) => queues.push((t.clone(), q, position)),
                None => error!(topic = %t, partition = p, "could not get the partition's queue"),
            }
            resume.add_partition(&t, p);
        }
        let (tx, rx) = channel();
        let start = Start {
            partition: p,
            engine: plan.resume.unwrap_or_else(|| Engine::new(engine_cfg.clone())),
            queues,
            replay_from: plan.replay_from,
            horizon,
        };
        let (mut worker, worker_shared) = Worker::new(start, rx, consumer.clone(), dlq.clone(), shared.metrics.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("ccpulse-p{p}"))
            .spawn(move || {
                worker.wake_on_messages(std::thread::current());
                worker.run()
            });
        match spawned {
            Ok(join) => {
                let thread = join.thread().clone();
                shared.metrics.replaying.inc();
                a.workers.insert(
                    p,
                    WorkerHandle {
                        commands: tx,
                        thread,
                        join,
                        shared: worker_shared,
                    },
                );
            }
            Err(e) => error!(partition = p, error = %e, "could not start a partition worker"),
        }
    }
    shared.metrics.assigned.set(a.workers.len() as i64);
    shared.metrics.parked.set(a.lot.partitions().count() as i64);
    drop(a);
    if let Err(e) = consumer.resume(&resume) {
        error!(error = %e, "resuming partitions");
    }
}
