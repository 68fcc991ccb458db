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
//! Records are decoded once each, when they are first read for a snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ccpulse_core::coverage::{Note, Report};
use ccpulse_core::time::Millis;
use ccpulse_core::wire::{self, Record};
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

/// This instance's end of the partials topic.
pub struct PartialsLink {
    producer: ThreadedProducer<DefaultProducerContext>,
    topic: String,
    instance: String,
    newest: Arc<Mutex<BTreeMap<u32, Newest>>>,
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
        let newest = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (newest, stop, instance, metrics) =
                (newest.clone(), stop.clone(), instance.to_owned(), metrics.clone());
            std::thread::Builder::new()
                .name("ccpulse-partials".into())
                .spawn(move || read(consumer, newest, stop, instance, metrics))
                .map_err(IngestError::Thread)?
        };
        info!(topic, instance, "sharing partials with the other instances");
        Ok(PartialsLink {
            producer,
            topic: topic.to_owned(),
            instance: instance.to_owned(),
            newest,
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

    /// Writes a record for each partition this instance holds.
    pub fn publish(&self, own: &[Report], now_wall: Millis) {
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
            let headers = OwnedHeaders::new().insert(Header {
                key: HEADER_INSTANCE,
                value: Some(self.instance.as_str()),
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
        let mut newest = lock(&self.newest);
        newest
            .values_mut()
            .filter_map(|n| {
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

/// The reader thread: keeps the newest record of each partition from other instances.
fn read(
    consumer: BaseConsumer,
    newest: Arc<Mutex<BTreeMap<u32, Newest>>>,
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
        let own = m.headers().is_some_and(|h| {
            h.iter()
                .any(|h| h.key == HEADER_INSTANCE && h.value == Some(instance.as_bytes()))
        });
        if own {
            continue;
        }
        let partition = m
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| k.parse::<u32>().ok());
        match (partition, m.payload()) {
            (Some(p), Some(bytes)) => {
                lock(&newest).insert(p, Newest::Raw(bytes.to_vec()));
            }
            _ => metrics.read.with_label_values(&["undecodable"]).inc(),
        }
    }
}
