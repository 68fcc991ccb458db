//! The librdkafka client context: rebalances (park what is revoked; on assignment,
//! resume a parked partition or replay it), statistics (consumer lag, freshness) and
//! logs.
//!
//! The group assigns the partitions of the first topic only (the lead topic); a member
//! given partition `p` of it reads partition `p` of every topic, so that the topics
//! stay co-partitioned whatever the assignor. The assignor is cooperative and sticky
//! (KIP-429): at a rebalance a member keeps the partitions it holds, and only those
//! that move are revoked and assigned, so that when a member leaves the survivors
//! replay its partitions and nothing else.
//!
//! Both rebalance callbacks run on the consumer thread, inside `poll`. A revocation
//! parks the revoked partitions' workers there and then, so that an assignment that
//! follows can see every parked engine. An assignment decides, per partition, where
//! each topic starts, assigns them paused, and leaves a [`Plan`] per partition for the
//! consumer thread, which gives each its own queue, starts its worker and resumes it.
//! With an eager assignor set by the user (`partition.assignment.strategy`), every
//! rebalance revokes and assigns everything; parked engines then resume.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccpulse_core::time::Millis;
use ccpulse_core::Engine;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;
use tracing::{debug, error, info, warn};

use crate::freshness::Fetches;
use crate::ingest::Shared;
use crate::park::{Parked, Position};
use crate::settings::Recovery;
use crate::standby::Standby;
use crate::worker::Command;

/// How one assigned partition starts: its topics and where each stands, and the
/// engine to resume, if it was parked and can resume.
#[derive(Debug)]
pub struct Plan {
    /// The partition.
    pub partition: i32,
    /// Per topic, where it starts.
    pub topics: Vec<(String, Position)>,
    /// The parked engine it resumes with; `None` replays from the start positions.
    pub resume: Option<Engine>,
    /// Events before this are skipped while replaying.
    pub replay_from: Option<Millis>,
}

/// The context shared by the consumer and its partition queues.
pub struct IngestContext {
    /// Every topic read; the group assigns the first one's partitions.
    topics: Vec<String>,
    recovery: Recovery,
    park_grace: Millis,
    shared: Arc<Shared>,
    plans: Mutex<Vec<Plan>>,
    /// The replicas of the partitions not held, when kept (`kafka.standby`).
    standby: Option<Arc<Standby>>,
    /// The (topic, partition) series of `ccpulse_consumer_lag_messages` set by the last
    /// statistics: a partition no longer held loses its series, rather than keeping
    /// its last lag for ever (which summed over a cluster counted it twice).
    lag_series: Mutex<BTreeSet<(String, i32)>>,
}

impl std::fmt::Debug for IngestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestContext")
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

/// Low and high watermarks per (topic, partition).
type Watermarks = BTreeMap<(String, i32), (i64, i64)>;

impl IngestContext {
    /// A context reading `topics` (the group assigns the first one's partitions) for
    /// `recovery`, parking revoked partitions for `park_grace`.
    pub(crate) fn new(topics: Vec<String>, recovery: Recovery, park_grace: Millis, shared: Arc<Shared>) -> Self {
        IngestContext {
            topics,
            recovery,
            park_grace,
            shared,
            plans: Mutex::new(Vec::new()),
            standby: None,
            lag_series: Mutex::new(BTreeSet::new()),
        }
    }

    /// This context, taking partitions assigned from `standby`'s replicas and giving
    /// revoked ones back to them.
    pub(crate) fn with_standby(mut self, standby: Option<Arc<Standby>>) -> Self {
        self.standby = standby;
        self
    }

    /// The standby replicas, when kept.
    pub(crate) fn standby(&self) -> Option<&Standby> {
        self.standby.as_deref()
    }

    /// How long a revoked partition's engine is kept.
    pub(crate) fn park_grace(&self) -> Millis {
        self.park_grace
    }

    /// The freshness book the statistics feed.
    pub(crate) fn fetches(&self) -> &Fetches {
        &self.shared.fetches
    }

    /// The partitions assigned since the last call, to start.
    pub fn take_plans(&self) -> Vec<Plan> {
        match self.plans.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    fn push(&self, plans: Vec<Plan>) {
        match self.plans.lock() {
            Ok(mut p) => p.extend(plans),
            Err(poisoned) => poisoned.into_inner().extend(plans),
        }
    }

    /// Watermarks of every element of `tpl` (those the broker answered for).
    ///
    /// A request that fails is asked again until 15 s have passed for the whole list:
    /// right after a broker comes back, the first requests can time out while the
    /// connections are still being made again, and a partition whose watermarks are
    /// unknown is replayed rather than resumed.
    pub(crate) fn watermarks(consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) -> Watermarks {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        let mut out = BTreeMap::new();
        for e in tpl.elements() {
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match consumer.fetch_watermarks(e.topic(), e.partition(), left.min(Duration::from_secs(5))) {
                    Ok(w) => {
                        out.insert((e.topic().to_owned(), e.partition()), w);
                        break;
                    }
                    Err(err) if left > Duration::from_millis(500) => {
                        debug!(topic = e.topic(), partition = e.partition(), error = %err, "fetching watermarks; asking again");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    Err(err) => {
                        warn!(topic = e.topic(), partition = e.partition(), error = %err, "fetching watermarks");
                        break;
                    }
                }
            }
        }
        out
    }

    /// The start offset of each topic-partition for a replay from `from`: the broker's
    /// answer for that time when it lies strictly inside the partition, else the
    /// beginning. Brokers differ: Kafka answers exactly, Tansu answers the earliest
    /// offset and librdkafka's mock cluster the end; starting at the beginning and
    /// skipping events older than the horizon is correct on all of them.
    pub(crate) fn replay_offsets(
        consumer: &BaseConsumer<Self>,
        tpl: &TopicPartitionList,
        from: Millis,
        marks: &Watermarks,
    ) -> BTreeMap<(String, i32), Offset> {
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
        tpl.elements()
            .iter()
            .map(|e| {
                let key = (e.topic().to_owned(), e.partition());
                let found = answer.find_partition(e.topic(), e.partition()).map(|e| e.offset());
                let start = match (found, marks.get(&key)) {
                    (Some(Offset::Offset(o)), Some(&(low, high))) if o > low && o < high => Offset::Offset(o),
                    _ => Offset::Beginning,
                };
                (key, start)
            })
            .collect()
    }

    /// The offsets the group committed for `tpl`: -1 where none.
    fn committed(consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) -> BTreeMap<(String, i32), i64> {
        match consumer.committed_offsets(tpl.clone(), Duration::from_secs(10)) {
            Ok(c) => c
                .elements()
                .iter()
                .map(|e| {
                    let o = match e.offset() {
                        Offset::Offset(o) => o,
                        _ => -1,
                    };
                    ((e.topic().to_owned(), e.partition()), o)
                })
                .collect(),
            Err(e) => {
                // Without them, dead letters an earlier run wrote may be written again
                // (never lost), and parked engines still resume.
                warn!(error = %e, "reading the committed offsets failed");
                BTreeMap::new()
            }
        }
    }

    /// Whether a parked partition can resume: it was parked with the same topics, and
    /// the log still holds every topic's position (retention has not passed it).
    /// Whoever consumed the partition meanwhile, the log from that position on is what
    /// the engine has not seen yet: resuming is exact. (The high watermark is not
    /// compared: Tansu answers it wrong. A topic deleted and created again while its
    /// partition is parked makes the fetch fall back to the beginning, and the engine's
    /// dedupe drops what it already holds.)
    fn can_resume(parked: &Parked, partition: i32, topics: &[String], marks: &Watermarks) -> bool {
        parked.positions.len() == topics.len()
            && topics.iter().all(|t| {
                let Some(pos) = parked.positions.get(t) else {
                    return false;
                };
                let Some(&(low, _)) = marks.get(&(t.clone(), partition)) else {
                    return false;
                };
                match pos.resume_at() {
                    Offset::Offset(o) => o >= low,
                    Offset::Beginning => true,
                    _ => false,
                }
            })
    }

    /// Partition `p` of every topic, for each partition of `lead` (the lead topic's
    /// partitions the group assigned or revoked).
    fn every_topic(&self, lead: &TopicPartitionList) -> TopicPartitionList {
        let mut all = TopicPartitionList::new();
        for p in Self::partitions(lead) {
            for t in &self.topics {
                all.add_partition(t, p);
            }
        }
        all
    }

    /// The partition numbers in `tpl`.
    fn partitions(tpl: &TopicPartitionList) -> BTreeSet<i32> {
        tpl.elements().iter().map(|e| e.partition()).collect()
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, lead: &TopicPartitionList) {
        let mut all = self.every_topic(lead);
        let tpl = &mut all;
        // A cooperative rebalance that moves nothing here assigns an empty list.
        let plans = if tpl.count() == 0 {
            Vec::new()
        } else {
            self.plan(consumer, tpl)
        };
        info!(partitions = ?plans.iter().map(|p| p.partition).collect::<Vec<_>>(), "assigned");
        // Paused until the consumer thread has given each partition its own queue;
        // resumed there.
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let assigned = if cooperative {
            consumer.incremental_assign(tpl)
        } else {
            consumer.assign(tpl)
        };
        if let Err(e) = assigned.and_then(|()| consumer.pause(tpl)) {
            error!(error = %e, "assigning partitions");
        }
        if cooperative {
            self.tell_kept();
        }
        self.push(plans);
        self.shared.assigned.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Per partition of `tpl` (every topic's), how it starts: resumed from its parked
    /// engine or replayed; sets each topic's start offset in `tpl`.
    fn plan(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) -> Vec<Plan> {
        let now = jiff::Timestamp::now().as_millisecond();
        let replay_from = self.recovery.replay_from(now);
        let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for e in tpl.elements() {
            by_partition
                .entry(e.partition())
                .or_default()
                .push(e.topic().to_owned());
        }
        let committed = Self::committed(consumer, tpl);
        let marks = Self::watermarks(consumer, tpl);
        let starts = match replay_from {
            Some(from) => Self::replay_offsets(consumer, tpl, from, &marks),
            None => tpl
                .elements()
                .iter()
                .map(|e| ((e.topic().to_owned(), e.partition()), Offset::Beginning))
                .collect(),
        };
        let mut plans = Vec::new();
        {
            let mut state = self.shared.lock();
            for p in state.lot.expire(now - self.park_grace) {
                info!(partition = p, "parked state dropped: the grace period is over");
            }
            for (p, topics) in by_partition {
                let floor = |t: &str| committed.get(&(t.to_owned(), p)).copied().unwrap_or(-1);
                let parked = state
                    .lot
                    .take(p)
                    .or_else(|| self.standby.as_ref().and_then(|s| s.take(p)));
                let plan = match parked {
                    Some(parked) if Self::can_resume(&parked, p, &topics, &marks) => {
                        self.shared.metrics.resumed.inc();
                        let positions: Vec<(String, Position)> = topics
                            .iter()
                            .filter_map(|t| {
                                let pos = parked.positions.get(t)?;
                                Some((
                                    t.clone(),
                                    Position {
                                        dlq_floor: pos.dlq_floor.max(floor(t)),
                                        ..*pos
                                    },
                                ))
                            })
                            .collect();
                        info!(partition = p, positions = ?positions.iter().map(|(t, pos)| (t, pos.resume_at())).collect::<Vec<_>>(),
                            committed = ?topics.iter().map(|t| (t, floor(t))).collect::<Vec<_>>(),
                            "resuming from the parked engine");
                        Plan {
                            partition: p,
                            topics: positions,
                            resume: Some(parked.engine),
                            replay_from,
                        }
                    }
                    other => {
                        if let Some(parked) = &other {
                            info!(partition = p,
                                positions = ?parked.positions.iter().map(|(t, pos)| (t, pos.resume_at())).collect::<Vec<_>>(),
                                log = ?topics.iter().map(|t| (t, marks.get(&(t.clone(), p)))).collect::<Vec<_>>(),
                                "parked state cannot resume (the log no longer holds its positions); replaying");
                        }
                        Plan {
                            partition: p,
                            topics: topics
                                .iter()
                                .map(|t| (t.clone(), Position::replay(t, p, &starts, floor(t))))
                                .collect(),
                            resume: None,
                            replay_from,
                        }
                    }
                };
                for (t, pos) in &plan.topics {
                    if let Err(e) = tpl.set_partition_offset(t, p, pos.resume_at()) {
                        warn!(error = %e, topic = %t, partition = p, "setting the start offset");
                    }
                }
                plans.push(plan);
            }
            self.shared.metrics.parked.set(state.lot.partitions().count() as i64);
        }
        plans
    }

    /// Tells the workers of the partitions kept through a cooperative rebalance that
    /// their fetches were paused and resumed (see `Worker::unstall`).
    fn tell_kept(&self) {
        let state = self.shared.lock();
        for w in state.workers.values() {
            if w.commands.send(Command::Rebalanced).is_ok() {
                w.thread.unpark();
            }
        }
    }

    /// Parks the revoked partitions (the lead topic's `lead`; every partition on an
    /// eager rebalance) and gives them up.
    fn revoke(&self, consumer: &BaseConsumer<Self>, lead: &TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        // Cooperative: only what `lead` names; eager: everything.
        let revoked = cooperative.then(|| Self::partitions(lead));
        info!(partitions = ?revoked, lost = consumer.assignment_lost(), "partitions revoked; parking their state");
        self.park(revoked.as_ref());
        let given_up = if cooperative {
            consumer.incremental_unassign(&self.every_topic(lead))
        } else {
            consumer.unassign()
        };
        if let Err(e) = given_up {
            error!(error = %e, "unassigning partitions");
        }
        if cooperative {
            self.tell_kept();
        }
        self.to_standby(revoked.as_ref());
    }

    /// With standby replicas: the parked engines of `only` (every one when `None`)
    /// become replicas again, kept up to date until their partition comes back.
    fn to_standby(&self, only: Option<&BTreeSet<i32>>) {
        let Some(standby) = &self.standby else { return };
        standby.keep_chosen(&self.shared, |state| {
            state
                .lot
                .partitions()
                .filter(|p| only.is_none_or(|o| o.contains(p)))
                .collect()
        });
    }

    /// Parks every worker, and every partition assigned but not started yet.
    pub(crate) fn park_all(&self) {
        self.park(None);
    }

    /// Parks the workers of `only` (every one when `None`), and those of its partitions
    /// assigned but not started yet.
    fn park(&self, only: Option<&BTreeSet<i32>>) {
        let now = jiff::Timestamp::now().as_millisecond();
        let chosen = |p: i32| only.is_none_or(|o| o.contains(&p));
        let (unstarted, kept): (Vec<Plan>, Vec<Plan>) =
            self.take_plans().into_iter().partition(|plan| chosen(plan.partition));
        self.push(kept);
        let mut state = self.shared.lock();
        for plan in unstarted {
            if let Some(engine) = plan.resume {
                let positions = plan.topics.into_iter().collect();
                state.lot.park(
                    plan.partition,
                    Parked {
                        engine,
                        positions,
                        parked_at: now,
                    },
                );
            }
        }
        let (workers, kept) = std::mem::take(&mut state.workers)
            .into_iter()
            .partition::<BTreeMap<_, _>, _>(|(p, _)| chosen(*p));
        state.workers = kept;
        for w in workers.values() {
            let _ = w.commands.send(Command::Park);
            w.thread.unpark();
        }
        for (p, w) in workers {
            match w.join.join() {
                Ok(Some(parked)) => state.lot.park(p, parked),
                Ok(None) => {}
                Err(_) => error!(partition = p, "a partition worker panicked"),
            }
        }
        self.shared.metrics.assigned.set(state.workers.len() as i64);
        self.shared.metrics.parked.set(state.lot.partitions().count() as i64);
    }
}

impl ClientContext for IngestContext {
    fn stats(&self, statistics: Statistics) {
        self.fetches()
            .update(&statistics, jiff::Timestamp::now().as_millisecond());
        let mut set = BTreeSet::new();
        for (name, topic) in &statistics.topics {
            for (&partition, p) in &topic.partitions {
                if partition < 0 || !p.desired {
                    continue;
                }
                set.insert((name.clone(), partition));
                let lag = if p.consumer_lag_stored >= 0 {
                    p.consumer_lag_stored
                } else {
                    p.consumer_lag
                };
                if lag >= 0 {
                    self.shared
                        .metrics
                        .lag
                        .with_label_values(&[name, &partition.to_string()])
                        .set(lag);
                }
            }
        }
        if let Ok(mut last) = self.lag_series.lock() {
            for (name, partition) in last.difference(&set) {
                let _ = self
                    .shared
                    .metrics
                    .lag
                    .remove_label_values(&[name, &partition.to_string()]);
            }
            *last = set;
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
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => error!(error = ?other, "rebalance error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshness::statistics;
    use crate::metrics::IngestMetrics;

    /// The `ccpulse_consumer_lag_messages` series: (partition, lag).
    fn lag_series(registry: &prometheus::Registry) -> Vec<(String, i64)> {
        registry
            .gather()
            .iter()
            .filter(|f| f.name() == "ccpulse_consumer_lag_messages")
            .flat_map(|f| f.get_metric().to_vec())
            .map(|m| {
                let partition = m
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "partition")
                    .map(|l| l.value().to_owned())
                    .unwrap_or_default();
                (partition, m.get_gauge().get_value() as i64)
            })
            .collect()
    }

    #[test]
    fn a_partition_no_longer_held_loses_its_lag_series() {
        let registry = prometheus::Registry::new();
        let metrics = IngestMetrics::register(&registry).unwrap();
        let context = IngestContext::new(
            vec!["cc.voice".to_owned()],
            Recovery::Beginning,
            0,
            Arc::new(Shared::new(metrics)),
        );
        context.stats(statistics("UP", 0, true, 7));
        assert_eq!(lag_series(&registry), vec![("0".to_owned(), 7)]);
        context.stats(statistics("UP", 0, true, -1));
        assert_eq!(
            lag_series(&registry),
            vec![("0".to_owned(), 7)],
            "held, lag not known yet"
        );
        context.stats(statistics("UP", 0, false, 3));
        assert_eq!(lag_series(&registry), vec![], "revoked: no series, not its last lag");
        context.stats(statistics("UP", 0, true, 2));
        assert_eq!(lag_series(&registry), vec![("0".to_owned(), 2)], "assigned again");
    }
}
