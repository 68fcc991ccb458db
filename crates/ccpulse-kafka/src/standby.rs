//! Standby replicas: engines kept up to date for the partitions this instance does not
//! hold, so that a partition that moves here resumes from its replica instead of
//! replaying the recovery horizon (Kafka Streams' standby replicas, KIP-441's warm-up).
//!
//! Each replica reads its partition's topics with a consumer of its own (manual
//! assignment, no group, no commits) into an engine on a worker thread, as a held
//! partition's worker does, but writes no dead letters, stores no offsets and counts in
//! no metric: the holder does those. When the group assigns the partition here, the
//! assignment takes the replica's engine and positions as it takes a parked engine
//! (`context`); when the group revokes it, its parked engine becomes the replica again.
//! The price: every instance applies every event, with the memory of every partition.
//!
//! Replicas are warmed up only once the partitions the group gave this instance are
//! caught up (`ingest`), so that keeping them never delays the instance's own view.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ccpulse_core::{Engine, EngineConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::TopicPartitionList;
use tracing::{error, info, warn};

use crate::context::IngestContext;
use crate::dlq::DeadLetters;
use crate::ingest::{Shared, State};
use crate::metrics::IngestMetrics;
use crate::park::{Parked, Position};
use crate::settings::Recovery;
use crate::worker::{Command, Start, Worker};

/// Dead letters are never written from a replica, and its offsets never stored: every
/// message lies below this floor.
const NO_DEAD_LETTERS: i64 = i64::MAX;

/// One partition's replica.
struct Replica {
    commands: Sender<Command>,
    thread: std::thread::Thread,
    join: JoinHandle<Option<Parked>>,
    /// Still replaying its partition (not yet caught up).
    replaying: Arc<AtomicBool>,
    /// Its consumer, dropped with the replica.
    _consumer: Arc<BaseConsumer<IngestContext>>,
}

/// The replicas of this instance.
pub(crate) struct Standby {
    config: ClientConfig,
    topics: Vec<String>,
    recovery: Recovery,
    engine_cfg: Arc<EngineConfig>,
    dlq: DeadLetters,
    /// Metrics registered nowhere: a replica counts in no exported metric.
    metrics: IngestMetrics,
    /// What the replicas' contexts share (their own; nothing reads it).
    shared: Arc<Shared>,
    replicas: Mutex<BTreeMap<i32, Replica>>,
}

impl Standby {
    /// Replicas reading `topics` with `config` (the instance's client configuration;
    /// the group's commits are turned off here).
    pub(crate) fn new(
        config: &ClientConfig,
        topics: Vec<String>,
        recovery: Recovery,
        engine_cfg: Arc<EngineConfig>,
        dlq: DeadLetters,
    ) -> prometheus::Result<Self> {
        let mut config = config.clone();
        let group = config.get("group.id").unwrap_or("ccpulse").to_owned();
        config
            .set("group.id", format!("{group}.standby"))
            .set("enable.auto.commit", "false")
            .set("statistics.interval.ms", "0")
            .remove("group.instance.id");
        let metrics = IngestMetrics::register(&prometheus::Registry::new())?;
        Ok(Standby {
            config,
            topics,
            recovery,
            engine_cfg,
            dlq,
            shared: Arc::new(Shared::new(metrics.clone())),
            metrics,
            replicas: Mutex::new(BTreeMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, Replica>> {
        match self.replicas.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How many replicas are kept, and how many of them are not yet caught up.
    pub(crate) fn status(&self) -> (usize, usize) {
        let replicas = self.lock();
        let replaying = replicas
            .values()
            .filter(|r| r.replaying.load(Ordering::Acquire))
            .count();
        (replicas.len(), replaying)
    }

    /// Keeps a replica of each partition `choose` picks from the ingest state, from its
    /// parked engine when the lot holds one. The replicas are started after the state's
    /// lock is let go: starting one asks the broker for offsets.
    pub(crate) fn keep_chosen(&self, shared: &Shared, choose: impl FnOnce(&State) -> Vec<i32>) {
        let mut state = shared.lock();
        let chosen = choose(&state);
        let parked: Vec<(i32, Option<Parked>)> = chosen.into_iter().map(|p| (p, state.lot.take(p))).collect();
        shared.metrics.parked.set(state.lot.partitions().count() as i64);
        drop(state);
        for (p, engine) in parked {
            self.keep(p, engine);
        }
    }

    /// Keeps a replica of partition `p`: from `parked` (a partition just revoked here),
    /// else replayed from the recovery horizon.
    pub(crate) fn keep(&self, p: i32, parked: Option<Parked>) {
        if self.lock().contains_key(&p) {
            return;
        }
        match self.start(p, parked) {
            Ok(replica) => {
                self.lock().insert(p, replica);
            }
            Err(e) => warn!(partition = p, error = %e, "could not start a standby replica"),
        }
    }

    /// The replica of partition `p`, stopped, as a parked engine with its positions
    /// (dead letters from the committed offsets on, as for any resumed partition).
    pub(crate) fn take(&self, p: i32) -> Option<Parked> {
        let replica = self.lock().remove(&p)?;
        let _ = replica.commands.send(Command::Park);
        replica.thread.unpark();
        match replica.join.join() {
            Ok(Some(mut parked)) => {
                for pos in parked.positions.values_mut() {
                    pos.dlq_floor = -1;
                }
                info!(partition = p, "standby replica taken over");
                Some(parked)
            }
            Ok(None) => None,
            Err(_) => {
                error!(partition = p, "a standby replica panicked");
                None
            }
        }
    }

    /// Stops every replica.
    pub(crate) fn stop(&self) {
        let replicas = std::mem::take(&mut *self.lock());
        for r in replicas.values() {
            let _ = r.commands.send(Command::Stop);
            r.thread.unpark();
        }
        for (p, r) in replicas {
            if r.join.join().is_err() {
                error!(partition = p, "a standby replica panicked");
            }
        }
    }

    fn start(&self, p: i32, parked: Option<Parked>) -> Result<Replica, String> {
        let context = IngestContext::new(self.topics.clone(), self.recovery, 0, self.shared.clone());
        let consumer: BaseConsumer<IngestContext> =
            self.config.create_with_context(context).map_err(|e| e.to_string())?;
        let consumer = Arc::new(consumer);
        let mut tpl = TopicPartitionList::new();
        for t in &self.topics {
            tpl.add_partition(t, p);
        }
        let now = jiff::Timestamp::now().as_millisecond();
        let replay_from = self.recovery.replay_from(now);
        let (engine, positions): (Engine, BTreeMap<String, Position>) = match parked {
            // A replica writes no dead letters and stores no offsets.
            Some(parked) => (
                parked.engine,
                parked
                    .positions
                    .into_iter()
                    .map(|(t, pos)| {
                        (
                            t,
                            Position {
                                dlq_floor: NO_DEAD_LETTERS,
                                ..pos
                            },
                        )
                    })
                    .collect(),
            ),
            None => {
                let starts = match replay_from {
                    Some(from) => {
                        let marks = IngestContext::watermarks(&consumer, &tpl);
                        IngestContext::replay_offsets(&consumer, &tpl, from, &marks)
                    }
                    None => BTreeMap::new(),
                };
                let positions = self
                    .topics
                    .iter()
                    .map(|t| (t.clone(), Position::replay(t, p, &starts, NO_DEAD_LETTERS)))
                    .collect();
                (Engine::new(self.engine_cfg.clone()), positions)
            }
        };
        for (t, pos) in &positions {
            tpl.set_partition_offset(t, p, pos.resume_at())
                .map_err(|e| e.to_string())?;
        }
        // Paused until each topic has its own queue, as for a held partition.
        consumer
            .assign(&tpl)
            .and_then(|()| consumer.pause(&tpl))
            .map_err(|e| e.to_string())?;
        let mut queues = Vec::new();
        for (t, pos) in positions {
            let q = consumer
                .split_partition_queue(&t, p)
                .ok_or_else(|| format!("no queue for {t} [{p}]"))?;
            queues.push((t, q, pos));
        }
        let start = Start {
            partition: p,
            engine,
            queues,
            replay_from,
            horizon: self.recovery.horizon(),
        };
        let (commands, rx) = channel();
        let (mut worker, shared) = Worker::new(start, rx, consumer.clone(), self.dlq.clone(), self.metrics.clone());
        let join = std::thread::Builder::new()
            .name(format!("ccpulse-s{p}"))
            .spawn(move || {
                worker.wake_on_messages(std::thread::current());
                worker.run()
            })
            .map_err(|e| e.to_string())?;
        consumer.resume(&tpl).map_err(|e| e.to_string())?;
        info!(partition = p, "standby replica started");
        Ok(Replica {
            commands,
            thread: join.thread().clone(),
            join,
            replaying: shared.replaying,
            _consumer: consumer,
        })
    }
}

impl std::fmt::Debug for Standby {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Standby")
            .field("replicas", &self.lock().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
