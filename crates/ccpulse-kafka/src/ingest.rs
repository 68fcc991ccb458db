//! The ingest service: a consumer group over the topics, one worker per assigned
//! partition number, and the handle the publisher and the HTTP side use.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ccpulse_core::engine::window_bounds;
use ccpulse_core::partial::Partial;
use ccpulse_core::time::Millis;
use ccpulse_core::{Engine, EngineConfig};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::ClientConfig;
use tracing::{error, info, info_span, warn};

use crate::context::{Change, IngestContext};
use crate::dlq::DeadLetters;
use crate::error::IngestError;
use crate::metrics::IngestMetrics;
use crate::settings::KafkaSettings;
use crate::worker::{Command, Worker, WorkerShared};

struct WorkerHandle {
    commands: Sender<Command>,
    thread: std::thread::Thread,
    join: JoinHandle<()>,
    shared: WorkerShared,
}

#[derive(Default)]
struct Assignment {
    received: bool,
    workers: BTreeMap<i32, WorkerHandle>,
}

struct Shared {
    assignment: Mutex<Assignment>,
    stop: AtomicBool,
    metrics: IngestMetrics,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Assignment> {
        match self.assignment.lock() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The running ingest side.
pub struct Ingest {
    shared: Arc<Shared>,
    engine_cfg: Arc<EngineConfig>,
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
        .set("partition.assignment.strategy", "range")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "5000")
        .set("enable.auto.offset.store", "true")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "5000")
        // A broker holds a fetch up to this long when it has nothing new; the default
        // (500 ms) would eat half of the one-second freshness budget.
        .set("fetch.wait.max.ms", "100")
        // A crashed instance's partitions move to the others after this long (the
        // librdkafka default, 45 s, is a long time for a wallboard to be frozen).
        .set("session.timeout.ms", "10000");
    for (k, v) in &settings.properties {
        c.set(k, v);
    }
    c
}

/// Producer settings: the consumer-only keys left out.
fn producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers).set("linger.ms", "5");
    for (k, v) in &settings.properties {
        c.set(k, v);
    }
    c
}

impl Ingest {
    /// Checks the topics, joins the consumer group and starts consuming.
    pub fn start(
        settings: &KafkaSettings,
        engine_cfg: Arc<EngineConfig>,
        registry: &prometheus::Registry,
    ) -> Result<Ingest, IngestError> {
        let metrics = IngestMetrics::register(registry).map_err(IngestError::Metrics)?;
        let context = IngestContext::new(settings.recovery, metrics.clone());
        let consumer: BaseConsumer<IngestContext> = client_config(settings)
            .create_with_context(context)
            .map_err(IngestError::Client)?;
        check_copartitioned(&consumer, &settings.topics)?;
        let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(IngestError::Client)?;
        let dlq = DeadLetters::new(&producer_config(settings), &settings.dlq_topic, metrics.clone())
            .map_err(IngestError::Client)?;
        let shared = Arc::new(Shared {
            assignment: Mutex::new(Assignment::default()),
            stop: AtomicBool::new(false),
            metrics,
        });
        let consumer = Arc::new(consumer);
        let thread = {
            let shared = shared.clone();
            let engine_cfg = engine_cfg.clone();
            std::thread::Builder::new()
                .name("ccpulse-consumer".into())
                .spawn(move || consume(consumer, shared, engine_cfg, dlq))
                .map_err(IngestError::Thread)?
        };
        info!(brokers = %settings.brokers, group = %settings.group_id, topics = ?settings.topics, "consuming");
        Ok(Ingest {
            shared,
            engine_cfg,
            consumer_thread: Some(thread),
        })
    }

    /// The newest event time applied by any partition.
    pub fn watermark(&self) -> Option<Millis> {
        let a = self.shared.lock();
        a.workers
            .values()
            .map(|w| w.shared.watermark.load(Ordering::Relaxed))
            .filter(|&w| w != i64::MIN)
            .max()
    }

    /// Whether every assigned partition has been replayed, and what is still awaited.
    pub fn readiness(&self) -> (bool, Vec<String>) {
        let a = self.shared.lock();
        if !a.received {
            return (false, vec!["partition assignment from the consumer group".into()]);
        }
        let waiting: Vec<String> = a
            .workers
            .iter()
            .filter(|(_, w)| !w.shared.ready.load(Ordering::Acquire))
            .map(|(p, _)| format!("partition {p} replaying"))
            .collect();
        let ready = waiting.is_empty();
        self.shared.metrics.ready.set(i64::from(ready));
        (ready, waiting)
    }

    /// Every partition's share of the windows at `now`, merged.
    pub async fn partial(&self, now: Millis) -> Partial {
        let mut replies = Vec::new();
        {
            let a = self.shared.lock();
            for w in a.workers.values() {
                let (reply, rx) = tokio::sync::oneshot::channel();
                if w.commands.send(Command::Partial { now, reply }).is_ok() {
                    w.thread.unpark();
                    replies.push(rx);
                }
            }
        }
        let mut merged = Partial::empty(now, &window_bounds(&self.engine_cfg, now));
        for rx in replies {
            match tokio::time::timeout(Duration::from_secs(5), rx).await {
                Ok(Ok(p)) => merged.merge(p),
                Ok(Err(_)) => {} // the partition was revoked meanwhile
                Err(_) => warn!("a partition worker did not answer within 5 s"),
            }
        }
        merged
    }

    /// Stops consuming: commits offsets, stops the workers and leaves the group.
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

/// Refuses topics that are missing or differ in partition count (co-partitioning).
fn check_copartitioned(consumer: &BaseConsumer<IngestContext>, topics: &[String]) -> Result<(), IngestError> {
    let mut counts = Vec::new();
    for t in topics {
        let md = consumer
            .fetch_metadata(Some(t), Duration::from_secs(15))
            .map_err(IngestError::Client)?;
        let n = md
            .topics()
            .iter()
            .find(|m| m.name() == t)
            .map_or(0, |m| m.partitions().len());
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
    Ok(())
}

/// The consumer thread: serves the group protocol and turns assignments into workers.
fn consume(
    consumer: Arc<BaseConsumer<IngestContext>>,
    shared: Arc<Shared>,
    engine_cfg: Arc<EngineConfig>,
    dlq: DeadLetters,
) {
    let span = info_span!("consumer");
    let _guard = span.enter();
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
        for change in consumer.context().take_changes() {
            match change {
                Change::Revoked => stop_workers(&shared),
                Change::Assigned {
                    partitions,
                    replay_from,
                } => {
                    start_workers(&consumer, &shared, &engine_cfg, &dlq, &partitions, replay_from);
                }
            }
        }
    }
    info!("shutting down: committing offsets");
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        warn!(error = %e, "committing offsets on shutdown");
    }
    stop_workers(&shared);
    dlq.flush();
    consumer.unsubscribe();
}

fn stop_workers(shared: &Shared) {
    let workers = std::mem::take(&mut shared.lock().workers);
    for w in workers.values() {
        let _ = w.commands.send(Command::Stop);
        w.thread.unpark();
    }
    for (p, w) in workers {
        if !w.shared.ready.load(Ordering::Acquire) {
            shared.metrics.replaying.dec();
        }
        if w.join.join().is_err() {
            error!(partition = p, "a partition worker panicked");
        }
    }
    shared.metrics.assigned.set(0);
    shared.metrics.ready.set(0);
}

fn start_workers(
    consumer: &Arc<BaseConsumer<IngestContext>>,
    shared: &Arc<Shared>,
    engine_cfg: &Arc<EngineConfig>,
    dlq: &DeadLetters,
    partitions: &[(String, i32)],
    replay_from: Option<Millis>,
) {
    let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (topic, p) in partitions {
        by_partition.entry(*p).or_default().push(topic.clone());
    }
    let mut resume = TopicPartitionList::new();
    let mut a = shared.lock();
    a.received = true;
    for (p, topics) in by_partition {
        let mut queues = Vec::new();
        for t in &topics {
            match consumer.split_partition_queue(t, p) {
                Some(q) => queues.push((t.clone(), q)),
                None => error!(topic = %t, partition = p, "could not get the partition's queue"),
            }
            resume.add_partition(t, p);
        }
        let (tx, rx) = channel();
        let (mut worker, worker_shared) = Worker::new(
            p,
            Engine::new(engine_cfg.clone()),
            queues,
            rx,
            replay_from,
            dlq.clone(),
            shared.metrics.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("ccpulse-p{p}"))
            .spawn(move || {
                worker.wake_on_messages(std::thread::current());
                worker.run();
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
    drop(a);
    if let Err(e) = consumer.resume(&resume) {
        error!(error = %e, "resuming partitions");
    }
}
