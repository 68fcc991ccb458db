//! A partition worker: one OS thread per partition number, owning that partition of
//! every topic and the [`Engine`] that holds its state. Nothing on its hot path takes a
//! lock: messages come from its own librdkafka queues, and the publisher's requests
//! come over a channel.
//!
//! While it replays (from assignment until every one of its queues has reported
//! partition EOF), it merges its topics by event time: it always applies the message
//! with the smallest `ts` among the heads of its queues, and waits for a queue that has
//! neither a head nor reached its end. Topics of very different volume would otherwise
//! be read at very different event times, and the engine would see one topic's events
//! hours "late". After the replay it applies messages as they come. A worker resumed
//! from a parked engine catches up the same way.
//!
//! The worker stores the offsets it has processed for the group's commits itself: never
//! below the offset committed when the partition was assigned (a replay re-reads older
//! messages, and committing them would move the group back), and never past a dead
//! letter not yet written (a crash must not skip an invalid event that never reached
//! the DLQ). Dead letters below the committed offset were written by an earlier run
//! and are not written again.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use ccpulse_core::engine::Applied;
use ccpulse_core::event::{parse_event, peek_ts, MAX_FUTURE};
use ccpulse_core::interval::QuarterChange;
use ccpulse_core::partial::Partial;
use ccpulse_core::time::Millis;
use ccpulse_core::Engine;
use prometheus::IntCounter;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, OwnedMessage};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;
use tracing::{debug, info, info_span, warn};

use crate::context::IngestContext;
use crate::dlq::{DeadLetters, Delivery, Source};
use crate::metrics::IngestMetrics;
use crate::park::{Parked, Position};

/// A partition queue of one topic.
pub type Queue = rdkafka::consumer::base_consumer::PartitionQueue<IngestContext>;

/// How far before its resume point a queue whose fetch skipped past it is first read
/// again (Tansu 0.6.0's record batches held a few hundred to a thousand messages in the
/// realistic day's checks).
const FIRST_BACK: i64 = 512;

/// Messages applied per queue before the worker looks at its commands again.
const BATCH: usize = 512;

/// How long a queue resumed at an offset (after a park, or after a rebalance paused and
/// resumed its fetch) may yield nothing (no message, no end) before the worker reads it
/// again from where its replay started ([`Worker::unstall`]). Brokers answer a fetch
/// within `fetch.wait.max.ms` (100 ms), with messages or with the partition's end.
const RESUME_STALL: Duration = Duration::from_secs(3);

/// A request to a worker.
#[derive(Debug)]
pub enum Command {
    /// Yield the engine's partial at `now`.
    Partial {
        /// The snapshot's now.
        now: Millis,
        /// Where to send it.
        reply: tokio::sync::oneshot::Sender<Answer>,
    },
    /// Yield the engine's share of the intervals `bounds` (see
    /// `ccpulse_core::Engine::intervals`) at `now`.
    Intervals {
        /// `(name, from, to)` of each interval.
        bounds: Arc<Vec<(String, Millis, Millis)>>,
        /// The report's now.
        now: Millis,
        /// Where to send it.
        reply: tokio::sync::oneshot::Sender<Answer>,
    },
    /// The group rebalanced and this partition stayed: librdkafka paused its fetches
    /// for the rebalance and resumed them at the first message not yet polled, which
    /// may lie inside a record batch (see [`Worker::unstall`] and
    /// [`QueueState::read_past_resume`]).
    Rebalanced,
    /// Stop and hand the engine and its positions back (the partition was revoked).
    Park,
    /// Stop and drop the partition's state.
    Stop,
}

/// A worker's answer to [`Command::Partial`].
#[derive(Debug)]
pub struct Answer {
    /// The engine's figures, once replayed (`None` while replaying: they are not
    /// complete yet).
    pub partial: Option<Partial>,
    /// With a partial: the quarter hours that changed since the last one, for the other
    /// instances' interval reports.
    pub quarters: Vec<QuarterChange>,
    /// With a partial: the newest event time its engine had applied when it answered
    /// (on the event clock, a partial asked at an earlier `now` is behind its engine).
    pub watermark: Option<Millis>,
}

/// One topic's queue of this partition.
struct TopicQueue {
    topic: String,
    queue: Queue,
    ingested: IntCounter,
    /// Wall-clock time this queue last yielded a message or reported its end.
    seen: Arc<AtomicI64>,
}

/// What the worker tracks of one topic's queue.
struct QueueState {
    position: Position,
    /// The offset last stored for the group's commits.
    stored: i64,
    /// Dead letters not yet confirmed written, by source offset.
    pending: VecDeque<(i64, Arc<Delivery>)>,
    /// Messages below this offset were applied before the partition was parked; they
    /// are read again only because the resumed fetch stalled or skipped some, and are
    /// skipped.
    skip_below: Option<i64>,
    /// The offset of the last message read from the queue (applied, held, or skipped).
    polled: Option<i64>,
    /// Where the fetch resumed or started: the next message read must not be past it.
    /// `None` when nothing is to be checked (a replay from the log's beginning, or
    /// checked already).
    expect: Option<i64>,
    /// How far before its resume point a queue whose fetch skipped past it is read
    /// again ([`read_again`]); doubled while the fetches keep skipping.
    back: i64,
}

impl QueueState {
    /// Whether `offset` was applied before the partition was parked (and is read again
    /// after a stalled resume): skip it. The first offset at or past the resume point
    /// ends the skipping.
    fn skips(&mut self, offset: i64) -> bool {
        match self.skip_below {
            Some(below) if offset < below => true,
            Some(_) => {
                self.skip_below = None;
                false
            }
            None => false,
        }
    }

    /// A queue whose fetch resumes at an offset (started from a parked engine or a
    /// replica, or resumed after a rebalance) must deliver that offset next.
    fn resumed(&mut self, at: Option<i64>) {
        self.expect = at;
    }

    /// Notes the offset of a message just read. When the fetch skipped past its resume
    /// point, returns that point (the messages from it to `offset` were never delivered;
    /// the message is not taken as read). Tansu 0.6.0 answers a fetch from inside a record
    /// batch with the next batch (or with nothing at the end of the log, see
    /// [`Worker::unstall`]), and librdkafka takes the jump for a gap left by compaction.
    fn read_past_resume(&mut self, offset: i64) -> Option<i64> {
        match self.expect.take() {
            Some(expected) if offset > expected => Some(expected),
            checked => {
                if checked.is_some() {
                    self.back = FIRST_BACK;
                }
                self.polled = Some(offset);
                None
            }
        }
    }

    /// After the fetch skipped past `resume`: where to read again ([`read_again`]); what
    /// comes before `resume` is then skipped, and the first message read must not be past
    /// it.
    fn read_again_from(&mut self, resume: i64) -> Offset {
        let from = resume.saturating_sub(self.back);
        self.back = self.back.saturating_mul(2);
        self.skip_before(resume);
        self.resumed(Some(resume));
        if from > 0 {
            Offset::Offset(from)
        } else {
            Offset::Beginning
        }
    }

    /// After a gap: everything before the resume point `at` was read (applied, held or
    /// skipped), or precedes the replay's start, and must be skipped when read again.
    fn skip_before(&mut self, at: i64) {
        self.skip_below = Some(self.skip_below.map_or(at, |b| b.max(at)));
    }
}

/// What a worker shares with the rest of the service.
#[derive(Debug, Clone)]
pub struct WorkerShared {
    /// Still replaying (or catching up after a resume).
    pub replaying: Arc<AtomicBool>,
    /// Newest event time applied, `i64::MIN` before any.
    pub watermark: Arc<AtomicI64>,
    /// Per topic: wall-clock time its queue last yielded a message or its end.
    pub seen: Vec<(String, Arc<AtomicI64>)>,
}

/// How a worker starts: its partition, its engine (new or resumed), and per topic its
/// queue and position.
pub struct Start {
    /// The partition.
    pub partition: i32,
    /// The engine.
    pub engine: Engine,
    /// Per topic: its queue and where it stands.
    pub queues: Vec<(String, Queue, Position)>,
    /// During the replay: events before this are skipped.
    pub replay_from: Option<Millis>,
    /// The recovery horizon: live, events older than the wall clock minus this are
    /// skipped and counted as too old, as a replay after a restart would skip them.
    pub horizon: Option<Millis>,
}

/// The worker's state, moved into its thread.
pub struct Worker {
    partition: i32,
    engine: Engine,
    queues: Vec<TopicQueue>,
    states: Vec<QueueState>,
    /// Per queue, during the replay: whether it reached its end once.
    at_end: Vec<bool>,
    /// Per queue, during the replay: a message read but not applied yet.
    heads: Vec<Option<(Millis, OwnedMessage)>>,
    commands: Receiver<Command>,
    replay_from: Option<Millis>,
    horizon: Option<Millis>,
    replaying: bool,
    shared: WorkerShared,
    consumer: Arc<BaseConsumer<IngestContext>>,
    dlq: DeadLetters,
    metrics: IngestMetrics,
    /// Until the resumed queues have yielded something or [`RESUME_STALL`] has passed:
    /// when the worker started, or when the last rebalance resumed its fetches.
    resumed_at: Option<std::time::Instant>,
    /// Per queue: what its `seen` was when the fetches were last resumed; a queue whose
    /// `seen` is still that has yielded nothing since.
    seen_at_resume: Vec<i64>,
}

impl Worker {
    /// A worker for `start`, storing offsets through `consumer`.
    pub fn new(
        start: Start,
        commands: Receiver<Command>,
        consumer: Arc<BaseConsumer<IngestContext>>,
        dlq: DeadLetters,
        metrics: IngestMetrics,
    ) -> (Self, WorkerShared) {
        let mut queues = Vec::new();
        let mut states = Vec::new();
        for (topic, queue, position) in start.queues {
            queues.push(TopicQueue {
                ingested: metrics.ingested.with_label_values(&[&topic]),
                topic,
                queue,
                seen: Arc::new(AtomicI64::new(i64::MIN)),
            });
            // A queue resumed at an offset, or starting its replay at one (found by
            // time), must deliver it first.
            let start = match position.start {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            states.push(QueueState {
                stored: position.dlq_floor,
                polled: position.next.map(|n| n - 1),
                expect: position.next.or(start),
                back: FIRST_BACK,
                position,
                pending: VecDeque::new(),
                skip_below: None,
            });
        }
        let shared = WorkerShared {
            replaying: Arc::new(AtomicBool::new(true)),
            watermark: Arc::new(AtomicI64::new(start.engine.watermark().unwrap_or(i64::MIN))),
            seen: queues.iter().map(|q| (q.topic.clone(), q.seen.clone())).collect(),
        };
        let resumed_at = states_resumed(&states).then(std::time::Instant::now);
        let seen_at_resume = vec![i64::MIN; queues.len()];
        let worker = Worker {
            partition: start.partition,
            engine: start.engine,
            at_end: vec![false; queues.len()],
            heads: queues.iter().map(|_| None).collect(),
            queues,
            states,
            commands,
            replay_from: start.replay_from,
            horizon: start.horizon,
            replaying: true,
            shared: shared.clone(),
            resumed_at,
            seen_at_resume,
            consumer,
            dlq,
            metrics,
        };
        (worker, shared)
    }

    /// Wakes the worker's thread whenever one of its queues gets a message.
    pub fn wake_on_messages(&mut self, thread: std::thread::Thread) {
        for q in &mut self.queues {
            let t = thread.clone();
            q.queue.set_nonempty_callback(move || t.unpark());
        }
    }

    /// Runs until told to stop or park, or until the command channel closes. Returns
    /// the engine and positions when told to park.
    pub fn run(mut self) -> Option<Parked> {
        let span = info_span!("partition", partition = self.partition);
        let _guard = span.enter();
        info!(topics = self.queues.len(), "replaying");
        let started = std::time::Instant::now();
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Partial { now, reply }) => {
                        // Not while replaying: `now` is then ahead of the events this
                        // engine has applied so far (on the event clock it is the newest
                        // event of any partition, on the wall clock it is the present), and
                        // maintaining at it would close and forget contacts whose later
                        // events are still to be replayed: those events would then be
                        // ignored, and the figures would depend on when ticks fell during
                        // the replay. A replaying engine maintains itself as its own event
                        // time advances (`Engine::apply`); its figures are not complete.
                        let (partial, quarters) = if self.replaying {
                            (None, Vec::new())
                        } else {
                            self.engine.maintain(now);
                            (Some(self.engine.partial(now)), self.engine.take_quarter_changes(now))
                        };
                        let watermark = partial.as_ref().and(self.engine.watermark());
                        let _ = reply.send(Answer {
                            partial,
                            quarters,
                            watermark,
                        });
                    }
                    Ok(Command::Intervals { bounds, now, reply }) => {
                        // Not while replaying, for the same reason as the partial: the
                        // figures are not complete yet.
                        let partial = (!self.replaying).then(|| {
                            let _span = info_span!("intervals", n = bounds.len()).entered();
                            self.engine.intervals(&bounds, now)
                        });
                        let _ = reply.send(Answer {
                            partial,
                            quarters: Vec::new(),
                            watermark: None,
                        });
                    }
                    Ok(Command::Rebalanced) => {
                        // librdkafka fetches again from the message after the last one read.
                        for s in &mut self.states {
                            s.resumed(s.polled.map(|o| o + 1));
                        }
                        self.resumed_at = Some(std::time::Instant::now());
                        self.seen_at_resume = self.queues.iter().map(|q| q.seen.load(Ordering::Relaxed)).collect();
                    }
                    Ok(Command::Park) => {
                        info!("revoked; partition state parked");
                        return Some(self.park());
                    }
                    Ok(Command::Stop) | Err(TryRecvError::Disconnected) => {
                        info!("stopped; partition state dropped");
                        return None;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.unstall();
            let progressed = if self.replaying {
                let p = self.replay_step();
                if !self.replaying {
                    info!(elapsed_ms = started.elapsed().as_millis() as u64, "replayed; live");
                    self.metrics.replaying.dec();
                    self.shared.replaying.store(false, Ordering::Release);
                }
                p
            } else {
                self.live_step()
            };
            // Dead letters still being written hold their offsets back: store again
            // once they are done, even when nothing new came.
            if progressed || self.states.iter().any(|s| !s.pending.is_empty()) {
                self.store_offsets();
            }
            if !progressed {
                std::thread::park_timeout(Duration::from_millis(50));
            }
        }
    }

    /// The engine and the positions of its queues: a message read ahead but not
    /// applied is read again on resume.
    fn park(mut self) -> Parked {
        if self.replaying {
            self.metrics.replaying.dec();
        }
        self.store_offsets();
        let positions: BTreeMap<String, Position> = self
            .queues
            .iter()
            .zip(&self.states)
            .map(|(q, s)| (q.topic.clone(), s.position))
            .collect();
        Parked {
            engine: self.engine,
            positions,
            parked_at: jiff::Timestamp::now().as_millisecond(),
        }
    }

    /// Reads again, from where its replay started, a queue resumed at an offset that has
    /// yielded nothing for [`RESUME_STALL`], skipping the messages applied before. Tansu
    /// 0.6.0 answers a fetch from inside a record batch with nothing, for ever; a fetch
    /// resumes inside a batch when its partition was parked in the middle of its replay,
    /// or when a rebalance paused it while messages fetched were not all polled yet
    /// (librdkafka then drops them and fetches again from the first not polled). Brokers
    /// that answer such a fetch (Apache Kafka) never get here. Reading again costs the
    /// read, not the figures: what was applied is skipped by offset, and a message held
    /// but not applied yet is dropped, to be read again.
    fn unstall(&mut self) {
        let Some(since) = self.resumed_at else { return };
        let quiet: Vec<usize> = (0..self.queues.len())
            // Something was read from it: it resumed at an offset, not at its start.
            .filter(|&i| self.states[i].position.next.is_some() || self.heads[i].is_some())
            // A replaying queue that reached its end is not read until the others do.
            .filter(|&i| !(self.replaying && self.at_end[i]))
            .filter(|&i| self.queues[i].seen.load(Ordering::Relaxed) == self.seen_at_resume[i])
            .collect();
        if quiet.is_empty() {
            self.resumed_at = None;
            return;
        }
        if since.elapsed() < RESUME_STALL {
            return;
        }
        self.resumed_at = None;
        for i in quiet {
            let (q, state) = (&self.queues[i], &mut self.states[i]);
            let next = state.position.next;
            warn!(topic = %q.topic, offset = ?next, start = ?state.position.start,
                "nothing read from the resumed position; reading from the replay's start and skipping what was applied");
            match self
                .consumer
                .seek(&q.topic, self.partition, state.position.start, Duration::from_secs(5))
            {
                Ok(()) => {
                    state.skip_below = next;
                    self.heads[i] = None;
                    self.metrics.resume_stalls.inc();
                }
                Err(e) => warn!(topic = %q.topic, error = %e, "seeking to the replay's start"),
            }
        }
    }

    /// Stores, for the group's next commit, the offset of each queue up to which every
    /// message was processed and every dead letter written, when it is past what the
    /// group had committed.
    fn store_offsets(&mut self) {
        let mut tpl = TopicPartitionList::new();
        for (q, s) in self.queues.iter().zip(self.states.iter_mut()) {
            while s.pending.front().is_some_and(|(_, d)| d.done()) {
                s.pending.pop_front();
            }
            let Some(next) = s.position.next else { continue };
            let upto = s.pending.front().map_or(next, |&(o, _)| o.min(next));
            if upto > s.stored && upto >= s.position.dlq_floor {
                if let Err(e) = tpl.add_partition_offset(&q.topic, self.partition, Offset::Offset(upto)) {
                    warn!(topic = %q.topic, error = %e, "listing an offset to store");
                    continue;
                }
                s.stored = upto;
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.store_offsets(&tpl) {
                debug!(error = %e, "storing offsets (the partition may have been revoked)");
            }
        }
    }

    /// A batch of the event-time merge. Returns whether anything happened.
    ///
    /// Heads polled in this batch stay borrowed from their queues (no copy); only the
    /// heads still pending when the batch ends are detached into `self`.
    fn replay_step(&mut self) -> bool {
        enum Head<'q> {
            Kept(OwnedMessage),
            Borrowed(BorrowedMessage<'q>),
        }
        let Worker {
            queues,
            states,
            at_end,
            heads: kept,
            engine,
            shared,
            dlq,
            metrics,
            replay_from,
            consumer,
            partition,
            ..
        } = self;
        let queues: &Vec<TopicQueue> = queues;
        let now_wall = jiff::Timestamp::now().as_millisecond();
        let mut apply = Applier {
            engine,
            shared,
            dlq,
            metrics,
            replay_from: *replay_from,
            live_floor: None,
            now_wall,
        };
        let mut heads: Vec<Option<(Millis, Head<'_>)>> = kept
            .iter_mut()
            .map(|h| h.take().map(|(ts, m)| (ts, Head::Kept(m))))
            .collect();
        let mut progressed = false;
        let mut done = false;
        for _ in 0..BATCH * 8 {
            for (((q, end), head), state) in queues
                .iter()
                .zip(at_end.iter_mut())
                .zip(heads.iter_mut())
                .zip(states.iter_mut())
            {
                if *end || head.is_some() {
                    continue;
                }
                match q.queue.poll(Duration::ZERO) {
                    None => {}
                    Some(Ok(m)) => {
                        q.seen.store(now_wall, Ordering::Relaxed);
                        progressed = true;
                        if let Some(resume) = state.read_past_resume(m.offset()) {
                            read_again(consumer, *partition, q, state, metrics, resume, m.offset());
                            continue;
                        }
                        if state.skips(m.offset()) {
                            continue;
                        }
                        let ts = merge_ts(m.payload(), now_wall);
                        *head = Some((ts, Head::Borrowed(m)));
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => {
                        debug!(topic = %q.topic, "reached the end");
                        q.seen.store(now_wall, Ordering::Relaxed);
                        *end = true;
                        progressed = true;
                    }
                    Some(Err(e)) => warn!(topic = %q.topic, error = %e, "consumer error"),
                }
            }
            if at_end.iter().zip(&heads).any(|(end, h)| !end && h.is_none()) {
                // A queue may still hold older events: wait for it.
                break;
            }
            let next = heads
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.as_ref().map(|(ts, _)| (*ts, i)))
                .min();
            let Some((_, i)) = next else {
                // Every queue reached its end with nothing pending: caught up.
                done = true;
                break;
            };
            if let Some((_, head)) = heads[i].take() {
                queues[i].ingested.inc();
                progressed = true;
                match &head {
                    Head::Kept(m) => apply.message(m, &mut states[i]),
                    Head::Borrowed(m) => apply.message(m, &mut states[i]),
                }
            }
        }
        for (k, head) in kept.iter_mut().zip(heads) {
            *k = head.map(|(ts, h)| match h {
                Head::Kept(m) => (ts, m),
                Head::Borrowed(m) => (ts, m.detach()),
            });
        }
        if done {
            self.replaying = false;
        }
        progressed
    }

    /// Applies what the queues hold now, a batch per queue.
    fn live_step(&mut self) -> bool {
        let mut progressed = false;
        let now_wall = jiff::Timestamp::now().as_millisecond();
        let mut apply = Applier {
            engine: &mut self.engine,
            shared: &self.shared,
            dlq: &self.dlq,
            metrics: &self.metrics,
            replay_from: None,
            live_floor: self.horizon.map(|h| now_wall - h),
            now_wall,
        };
        for (q, state) in self.queues.iter().zip(self.states.iter_mut()) {
            for _ in 0..BATCH {
                match q.queue.poll(Duration::ZERO) {
                    None => break,
                    Some(Ok(m)) => {
                        progressed = true;
                        q.seen.store(now_wall, Ordering::Relaxed);
                        if let Some(resume) = state.read_past_resume(m.offset()) {
                            read_again(
                                &self.consumer,
                                self.partition,
                                q,
                                state,
                                &self.metrics,
                                resume,
                                m.offset(),
                            );
                            break;
                        }
                        if state.skips(m.offset()) {
                            continue;
                        }
                        q.ingested.inc();
                        apply.message(&m, state);
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => {
                        q.seen.store(now_wall, Ordering::Relaxed);
                        break;
                    }
                    Some(Err(e)) => {
                        warn!(topic = %q.topic, error = %e, "consumer error");
                        break;
                    }
                }
            }
        }
        progressed
    }
}

/// What applying a message needs besides the message: the engine, where its results
/// go, and the wall clock (read once per batch, not per message).
struct Applier<'w> {
    engine: &'w mut Engine,
    shared: &'w WorkerShared,
    dlq: &'w DeadLetters,
    metrics: &'w IngestMetrics,
    /// During the replay: events before this are skipped.
    replay_from: Option<Millis>,
    /// Live: events before this (the wall clock minus the recovery horizon) are skipped
    /// and counted as too old.
    live_floor: Option<Millis>,
    now_wall: Millis,
}

impl Applier<'_> {
    /// Parses, validates and applies one message; an invalid one goes to the DLQ
    /// (unless an earlier run already sent it there). Moves the queue's position past it.
    fn message(&mut self, m: &impl Message, state: &mut QueueState) {
        state.position.next = Some(m.offset() + 1);
        let payload = m.payload().unwrap_or_default();
        match parse_event(payload, self.now_wall) {
            Err(e) => {
                if m.offset() < state.position.dlq_floor {
                    self.metrics.dlq_skipped.inc();
                    return;
                }
                let source = Source {
                    topic: m.topic(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key(),
                };
                let delivery = self.dlq.send(payload, source, &e);
                if !delivery.done() {
                    state.pending.push_back((m.offset(), delivery));
                }
            }
            Ok(ev) => {
                if self.replay_from.is_some_and(|from| ev.ts < from) {
                    return;
                }
                if self.live_floor.is_some_and(|floor| ev.ts < floor) {
                    self.metrics.too_old.inc();
                    return;
                }
                let engine = &mut *self.engine;
                if engine.watermark().is_some_and(|w| ev.ts < w - engine.config().lateness) {
                    self.metrics.late.inc();
                }
                match engine.apply(&ev) {
                    Applied::Duplicate => self.metrics.duplicate.inc(),
                    Applied::TooOld => self.metrics.too_old.inc(),
                    Applied::AfterClose => self.metrics.after_close.inc(),
                    Applied::OverCap => self.metrics.over_cap.inc(),
                    Applied::Applied => {}
                }
                if let Some(w) = engine.watermark() {
                    self.shared.watermark.store(w, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Reads a queue again from [`QueueState::back`] messages before its resume point
/// `resume` (from the log's beginning when that is before it), after its fetch skipped
/// from there to `offset` ([`QueueState::read_past_resume`]), skipping what comes before
/// `resume`. A fetch from inside a record batch skips to the next batch on Tansu 0.6.0,
/// so the read again must start at or before the batch that holds `resume`: when it too
/// skips past `resume`, it is tried again twice as far back. Costs a few fetches.
fn read_again(
    consumer: &BaseConsumer<IngestContext>,
    partition: i32,
    q: &TopicQueue,
    state: &mut QueueState,
    metrics: &IngestMetrics,
    resume: i64,
    offset: i64,
) {
    let at = state.read_again_from(resume);
    warn!(topic = %q.topic, resumed_at = resume, delivered = offset, reading_from = ?at,
        "the fetch skipped messages; reading them again, skipping what was read");
    metrics.resume_gaps.inc();
    // Should the seek fail, the next message is past `resume` again, and another is tried.
    if let Err(e) = consumer.seek(&q.topic, partition, at, Duration::from_secs(5)) {
        warn!(topic = %q.topic, error = %e, "seeking back");
    }
}

/// The event time a message is merged by during the replay: its `ts`, or `i64::MIN`
/// (apply at once) when it will be rejected for its `ts`: absent, unparsable, or more
/// than [`MAX_FUTURE`] ahead of the wall clock. A rejected message does not move the
/// watermark; merged at a bogus future time it would hold back every later message of
/// its topic until the other topics were exhausted, and those would all be applied late
/// and out of order (seen with one `future_ts` event on Tansu: thousands of late
/// events and figures that differed from `ccpulse replay`).
fn merge_ts(payload: Option<&[u8]>, now_wall: Millis) -> Millis {
    match payload.and_then(peek_ts) {
        Some(ts) if ts <= now_wall + MAX_FUTURE => ts,
        _ => i64::MIN,
    }
}

/// Whether any queue starts at an offset it read up to before a park (a resume), rather
/// than where a replay starts.
fn states_resumed(states: &[QueueState]) -> bool {
    states.iter().any(|s| s.position.next.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(next: Option<i64>) -> QueueState {
        QueueState {
            position: Position {
                next,
                start: Offset::Beginning,
                dlq_floor: -1,
            },
            stored: -1,
            pending: VecDeque::new(),
            skip_below: None,
            polled: next.map(|n| n - 1),
            expect: next,
            back: FIRST_BACK,
        }
    }

    #[test]
    fn a_resumed_fetch_that_skips_messages_is_caught_once() {
        // Resumed at 1069 (as after a park): the first message must be 1069.
        let mut s = state(Some(1069));
        assert_eq!(
            s.read_past_resume(1766),
            Some(1069),
            "Tansu's next batch: 1069..1766 never came"
        );
        assert_eq!(s.polled, Some(1068), "the message past the gap is not taken as read");
        assert_eq!(s.read_again_from(1069), Offset::Offset(1069 - 512));
        assert_eq!(
            s.read_past_resume(1766),
            Some(1069),
            "from inside the same batch: skipped again"
        );
        assert_eq!(
            s.read_again_from(1069),
            Offset::Offset(1069 - 1024),
            "twice as far back"
        );
        assert_eq!(s.read_past_resume(40), None, "a batch at or before the resume point");
        assert!((40..1069).all(|o| s.skips(o)), "what was read before is skipped");
        assert!(!s.skips(1069));
        assert_eq!(s.read_past_resume(1070), None, "checked once");
        assert_eq!(s.read_past_resume(5000), None);
        assert_eq!(s.back, FIRST_BACK, "the next gap starts close again");
        let mut near = state(Some(100));
        assert_eq!(near.read_past_resume(300), Some(100));
        assert_eq!(
            near.read_again_from(100),
            Offset::Beginning,
            "not before the log's beginning"
        );

        let mut kept = state(Some(10));
        assert_eq!(kept.read_past_resume(10), None, "delivered where it resumed");
        assert_eq!(kept.read_past_resume(500), None, "a later gap is not a resume's");
        // A rebalance resumes the fetch after the last message read.
        kept.resumed(kept.polled.map(|o| o + 1));
        assert_eq!(kept.read_past_resume(502), Some(501));

        let mut fresh = state(None);
        assert_eq!(
            fresh.read_past_resume(123),
            None,
            "a replay's first read is not checked"
        );
    }

    #[test]
    fn a_gap_during_a_reread_never_lowers_the_skip_point() {
        let mut s = state(Some(100));
        s.skip_before(100);
        s.skip_before(40);
        assert!(s.skips(99), "what was applied before 100 is still skipped");
    }

    #[test]
    fn a_stalled_resume_skips_what_was_applied_and_nothing_after() {
        let mut s = state(Some(69));
        assert!(!s.skips(0), "nothing is skipped before a stall");
        s.skip_below = Some(69);
        assert!((0..69).all(|o| s.skips(o)), "what was applied before the park");
        assert!(!s.skips(69), "the first message not applied");
        assert!(!s.skips(3), "skipping ended at the resume point");
    }

    #[test]
    fn only_queues_read_before_a_park_are_resumed() {
        assert!(!states_resumed(&[state(None), state(None)]));
        assert!(states_resumed(&[state(None), state(Some(5))]));
    }
}
