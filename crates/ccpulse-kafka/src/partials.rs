//! The partials topic: how every instance answers for the whole contact centre.
//!
//! Every tick each instance writes one record per partition it holds to a compacted
//! topic (default `cc.partials`), keyed by the partition number: the partition's
//! figures (`ccpulse_core::wire`), when its data was last known up to date, or that it
//! is replaying. Every instance reads the whole topic, from its beginning (compaction
//! keeps it small: one record per partition), and keeps the newest record of each
//! partition written by another instance. The publisher merges those with its own
//! partitions (`ccpulse_core::coverage::Book`), so that each instance's answers cover
//! every partition of the cluster, and a partition whose holder stopped writing turns
//! stale as its records age.
//!
//! Interval reports need each partition's quarter-hour sums of several days, too many to
//! write every tick: a holder writes a quarter's record (key `q/<partition>/<start>`)
//! only when the quarter changed, deletes it with a tombstone when it holds nothing any
//! more, and counts the quarter records it has written in a header of the partition's
//! record, so that a reader knows when it has them all.
//!
//! Records are decoded once each, when they are first read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ccpulse_core::agg::Aggregate;
use ccpulse_core::coverage::{Note, Report};
use ccpulse_core::interval::QuarterChange;
use ccpulse_core::partial::Partial;
use ccpulse_core::time::Millis;
use ccpulse_core::wire::{self, QuarterRecord, Record};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientConfig, Message};
use tracing::{info, warn};

use crate::dlq::Throttle;
use crate::error::IngestError;

/// Header naming the instance that wrote a record (so that an instance skips its own
/// records without decoding them).
pub const HEADER_INSTANCE: &str = "ccpulse-instance";

/// Header of a partition record: how many quarter records its writer has published for
/// the partition, so that a reader knows whether it has them all.
pub const HEADER_QUARTERS: &str = "ccpulse-quarters";

/// The largest record read (a partial of a very large partition is a few MB).
const MAX_RECORD: usize = 64 * 1024 * 1024;

/// The metrics of the partials link.
#[derive(Clone, Debug)]
struct LinkMetrics {
    written: IntCounter,
    failed: IntCounter,
    read: IntCounterVec,
}

impl LinkMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = LinkMetrics {
            written: IntCounter::new(
                "ccpulse_partials_written_total",
                "Partition records this instance wrote to the partials topic.",
            )?,
            failed: IntCounter::new(
                "ccpulse_partials_write_failures_total",
                "Partition records that could not be written to the partials topic.",
            )?,
            read: IntCounterVec::new(
                Opts::new(
                    "ccpulse_partials_read_total",
                    "Records of other instances read from the partials topic, by result (ok, undecodable).",
                ),
                &["result"],
            )?,
        };
        registry.register(Box::new(m.written.clone()))?;
        registry.register(Box::new(m.failed.clone()))?;
        registry.register(Box::new(m.read.clone()))?;
        m.read.with_label_values(&["ok"]);
        m.read.with_label_values(&["undecodable"]);
        Ok(m)
    }
}

/// The newest record of one partition from another instance: its bytes until first
/// read, then what they decode to.
enum Newest {
    Raw(Vec<u8>),
    Read(Option<Arc<Report>>),
}

/// A quarter record of another instance: its bytes until first read, then what they
/// decode to.
enum Quarter {
    Raw(Vec<u8>),
    Read(Option<Arc<QuarterChange>>),
}

/// What the reader keeps of the other instances' records.
#[derive(Default)]
struct Received {
    /// The newest record of each partition, with the quarter count its header says.
    newest: BTreeMap<u32, (Newest, Option<u32>)>,
    /// The newest record of each (partition, quarter start).
    quarters: BTreeMap<(u32, Millis), Quarter>,
}

/// This instance's end of the partials topic.
pub struct PartialsLink {
    producer: ThreadedProducer<DefaultProducerContext>,
    topic: String,
    instance: String,
    received: Arc<Mutex<Received>>,
    /// The quarter records this instance has published and not deleted, per partition.
    published: Mutex<BTreeMap<u32, BTreeSet<Millis>>>,
    /// Quarter changes the producer refused (its queue full), sent again next time.
    unsent: Mutex<BTreeMap<(u32, Millis), QuarterChange>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    metrics: LinkMetrics,
    throttle: Throttle,
}

impl std::fmt::Debug for PartialsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartialsLink")
            .field("topic", &self.topic)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl PartialsLink {
    /// Checks that `topic` exists, and starts reading it. `client` holds the brokers
    /// and the user's properties (TLS, SASL); `instance` names this instance.
    pub fn start(client: &ClientConfig, topic: &str, instance: &str, registry: &Registry) -> Result<Self, IngestError> {
        let metrics = LinkMetrics::register(registry).map_err(IngestError::Metrics)?;
        let mut c = client.clone();
        c.set("group.id", format!("ccpulse-partials-{instance}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "100")
            .set("fetch.message.max.bytes", MAX_RECORD.to_string())
            .set("receive.message.max.bytes", (MAX_RECORD + 1024 * 1024).to_string());
        let consumer: BaseConsumer = c.create().map_err(IngestError::Client)?;
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(15))
            .map_err(IngestError::Client)?;
        let partitions = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map_or(0, |t| t.partitions().len());
        if partitions == 0 {
            return Err(IngestError::MissingPartialsTopic(topic.to_owned()));
        }
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(IngestError::Client)?;
        }
        consumer.assign(&tpl).map_err(IngestError::Client)?;
        let mut p = client.clone();
        p.set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.max.bytes", (MAX_RECORD + 1024 * 1024).to_string());
        let producer: ThreadedProducer<DefaultProducerContext> = p.create().map_err(IngestError::Client)?;
        let received = Arc::new(Mutex::new(Received::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (received, stop, instance, metrics) =
                (received.clone(), stop.clone(), instance.to_owned(), metrics.clone());
            std::thread::Builder::new()
                .name("ccpulse-partials".into())
                .spawn(move || read(consumer, received, stop, instance, metrics))
                .map_err(IngestError::Thread)?
        };
        info!(topic, instance, "sharing partials with the other instances");
        Ok(PartialsLink {
            producer,
            topic: topic.to_owned(),
            instance: instance.to_owned(),
            received,
            published: Mutex::new(BTreeMap::new()),
            unsent: Mutex::new(BTreeMap::new()),
            stop,
            reader: Some(reader),
            metrics,
            throttle: Throttle::default(),
        })
    }

    /// This instance's name on the topic.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Writes a record for each quarter hour that changed in a partition this instance
    /// holds, or deletes its key when the quarter holds nothing any more; and forgets
    /// the quarter records of partitions it no longer holds (their new holder writes
    /// them again).
    pub fn publish_quarters(&self, changes: Vec<(u32, QuarterChange)>, held: &[u32], now_wall: Millis) {
        let mut published = lock(&self.published);
        published.retain(|p, _| held.contains(p));
        let mut unsent = lock(&self.unsent);
        let mut todo = std::mem::take(&mut *unsent);
        todo.retain(|(p, _), _| held.contains(p));
        // A newer change of a quarter replaces one not sent yet.
        todo.extend(changes.into_iter().map(|(p, c)| ((p, c.start), c)));
        for ((partition, _), change) in todo {
            let partition = &partition;
            let change = &change;
            let key = wire::quarter_key(*partition, change.start);
            let keys = published.entry(*partition).or_default();
            let headers = OwnedHeaders::new().insert(Header {
                key: HEADER_INSTANCE,
                value: Some(self.instance.as_str()),
            });
            let bytes = if change.groups.is_empty() {
                keys.remove(&change.start);
                None
            } else {
                let record = QuarterRecord {
                    partition: *partition,
                    instance: self.instance.clone(),
                    published_at: now_wall,
                    quarter: change.clone(),
                };
                match wire::encode_quarter(&record) {
                    Ok(b) => {
                        keys.insert(change.start);
                        Some(b)
                    }
                    Err(e) => {
                        self.failed(&e.to_string());
                        continue;
                    }
                }
            };
            let mut record = BaseRecord::<str, [u8]>::to(&self.topic)
                .key(key.as_str())
                .headers(headers);
            if let Some(b) = &bytes {
                record = record.payload(b.as_slice());
            }
            match self.producer.send(record) {
                Ok(()) => self.metrics.written.inc(),
                Err((e, _)) => {
                    self.failed(&e.to_string());
                    unsent.insert((*partition, change.start), change.clone());
                }
            }
        }
    }

    /// Writes a record for each partition this instance holds.
    pub fn publish(&self, own: &[Report], now_wall: Millis) {
        let counts: BTreeMap<u32, String> = lock(&self.published)
            .iter()
            .map(|(p, keys)| (*p, keys.len().to_string()))
            .collect();
        for r in own {
            let record = Record {
                partition: r.partition,
                instance: self.instance.clone(),
                published_at: now_wall,
                fresh_at: r.fresh_at,
                replaying: r.note == Some(Note::Replaying),
                partial: r.partial.as_deref(),
            };
            let bytes = match wire::encode(&record) {
                Ok(b) => b,
                Err(e) => {
                    self.failed(&e.to_string());
                    continue;
                }
            };
            let key = r.partition.to_string();
            let quarters = counts.get(&r.partition).map_or("0", String::as_str);
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: HEADER_INSTANCE,
                    value: Some(self.instance.as_str()),
                })
                .insert(Header {
                    key: HEADER_QUARTERS,
                    value: Some(quarters),
                });
            let sent = self.producer.send(
                BaseRecord::to(&self.topic)
                    .key(key.as_str())
                    .payload(bytes.as_slice())
                    .headers(headers),
            );
            match sent {
                Ok(()) => self.metrics.written.inc(),
                Err((e, _)) => self.failed(&e.to_string()),
            }
        }
    }

    fn failed(&self, error: &str) {
        self.metrics.failed.inc();
        if let Some(held) = self.throttle.admit(jiff::Timestamp::now().as_millisecond()) {
            warn!(error, topic = %self.topic, not_logged = held,
                "could not write a partial to the partials topic; the other instances will see it stale");
        }
    }

    /// The newest record of every partition written by another instance.
    pub fn peers(&self) -> Vec<Arc<Report>> {
        let mut received = lock(&self.received);
        received
            .newest
            .values_mut()
            .filter_map(|(n, _)| {
                if let Newest::Raw(bytes) = n {
                    let report = match wire::decode(bytes) {
                        Ok(record) => {
                            self.metrics.read.with_label_values(&["ok"]).inc();
                            Some(Arc::new(Report {
                                partition: record.partition,
                                partial: record.partial.map(Arc::new),
                                fresh_at: record.fresh_at,
                                note: record.replaying.then_some(Note::Replaying),
                            }))
                        }
                        Err(e) => {
                            self.metrics.read.with_label_values(&["undecodable"]).inc();
                            if let Some(held) = self.throttle.admit(jiff::Timestamp::now().as_millisecond()) {
                                warn!(error = %e, not_logged = held, "a record of the partials topic could not be read");
                            }
                            None
                        }
                    };
                    *n = Newest::Read(report);
                }
                match n {
                    Newest::Read(r) => r.clone(),
                    Newest::Raw(_) => None,
                }
            })
            .collect()
    }

    /// The other instances' share of the intervals `bounds` (`(name, from, to)`) at
    /// `now`: per partition that another instance holds and this one does not (`held`),
    /// its quarter records summed into the intervals, as a report whose partial holds the
    /// intervals as windows. A partition whose holder is replaying, or whose quarter
    /// records have not all arrived yet, has no partial, and its note says why.
    pub fn peer_intervals(&self, held: &[u32], bounds: &[(String, Millis, Millis)], now: Millis) -> Vec<Report> {
        let peers = self.peers();
        let mut received = lock(&self.received);
        let mut out = Vec::new();
        for peer in peers.iter().filter(|r| !held.contains(&r.partition)) {
            let p = peer.partition;
            let expected = received.newest.get(&p).and_then(|(_, n)| *n).unwrap_or(0);
            let have = received.quarters.range((p, Millis::MIN)..=(p, Millis::MAX)).count();
            let (partial, note) = match (&peer.partial, &peer.note) {
                (None, note) => (None, note.clone().or(Some(Note::Replaying))),
                (Some(_), _) if (have as u64) < u64::from(expected) => (None, Some(Note::QuartersArriving)),
                (Some(_), note) => {
                    let mut partial = Partial::empty(now, bounds);
                    for (w, (_, from, to)) in partial.windows.iter_mut().zip(bounds) {
                        for (_, q) in received.quarters.range_mut((p, *from)..(p, *to)) {
                            let Some(q) = self.read_quarter(q) else { continue };
                            for (k, agg) in &q.groups {
                                w.leaves.entry(k.clone()).or_default().merge(agg, 1);
                            }
                        }
                    }
                    (Some(Arc::new(partial)), note.clone())
                }
            };
            out.push(Report {
                partition: p,
                partial,
                fresh_at: peer.fresh_at,
                note,
            });
        }
        out
    }

    /// A quarter record, decoded on first read.
    fn read_quarter(&self, q: &mut Quarter) -> Option<Arc<QuarterChange>> {
        if let Quarter::Raw(bytes) = q {
            let read = match wire::decode_quarter(bytes) {
                Ok(record) => {
                    self.metrics.read.with_label_values(&["ok"]).inc();
                    Some(Arc::new(record.quarter))
                }
                Err(e) => {
                    self.metrics.read.with_label_values(&["undecodable"]).inc();
                    if let Some(held) = self.throttle.admit(jiff::Timestamp::now().as_millisecond()) {
                        warn!(error = %e, not_logged = held, "a quarter record of the partials topic could not be read");
                    }
                    None
                }
            };
            *q = Quarter::Read(read);
        }
        match q {
            Quarter::Read(r) => r.clone(),
            Quarter::Raw(_) => None,
        }
    }

    /// Stops reading and writes what is queued.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Err(e) = self.producer.flush(Duration::from_secs(5)) {
            warn!(error = %e, "flushing the partials producer");
        }
        if let Some(t) = self.reader.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PartialsLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// The reader thread: keeps the newest record of each partition, and of each quarter
/// of each partition, from other instances.
fn read(
    consumer: BaseConsumer,
    received: Arc<Mutex<Received>>,
    stop: Arc<AtomicBool>,
    instance: String,
    metrics: LinkMetrics,
) {
    while !stop.load(Ordering::Acquire) {
        let Some(r) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = match r {
            Ok(m) => m,
            Err(KafkaError::PartitionEOF(_)) => continue,
            Err(e) => {
                warn!(error = %e, "reading the partials topic");
                continue;
            }
        };
        let header = |name: &str| {
            m.headers()
                .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
        };
        if header(HEADER_INSTANCE) == Some(instance.as_bytes()) {
            continue;
        }
        let key = m.key().and_then(|k| std::str::from_utf8(k).ok()).unwrap_or_default();
        if let Some(q) = wire::parse_quarter_key(key) {
            let mut r = lock(&received);
            match m.payload() {
                Some(bytes) => {
                    r.quarters.insert(q, Quarter::Raw(bytes.to_vec()));
                }
                // A deleted quarter (a tombstone).
                None => {
                    r.quarters.remove(&q);
                }
            }
            continue;
        }
        let quarters = header(HEADER_QUARTERS)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u32>().ok());
        match (key.parse::<u32>().ok(), m.payload()) {
            (Some(p), Some(bytes)) => {
                lock(&received)
                    .newest
                    .insert(p, (Newest::Raw(bytes.to_vec()), quarters));
            }
            _ => metrics.read.with_label_values(&["undecodable"]).inc(),
        }
    }
}
