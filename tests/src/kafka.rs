//! The Kafka client side of the end-to-end tests: producing messages and reading a topic
//! back, with the real rdkafka client.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ccpulse_sim::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Headers, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Message as _};

#[derive(Default)]
struct Deliveries {
    ok: AtomicUsize,
    failed: AtomicUsize,
    ends: Mutex<BTreeMap<(String, i32), i64>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
                let end = ends.entry((m.topic().to_owned(), m.partition())).or_default();
                *end = (*end).max(m.offset() + 1);
                self.ok.fetch_add(1, Ordering::Relaxed)
            }
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Creates `topics` (name, partitions) with the client settings `client` (brokers, TLS,
/// SASL), and waits until they exist.
pub fn create_topics(client: &ClientConfig, topics: &[(&str, i32)]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = client.create().expect("creating an admin client");
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(t, p)| NewTopic::new(t, *p, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let results = rt
        .block_on(admin.create_topics(
            &new,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("creating topics");
    for r in results {
        if let Err((topic, e)) = r {
            panic!("creating topic {topic}: {e}");
        }
    }
}

/// Produces every message to its topic with its key, and waits until all are delivered;
/// returns the end offset each (topic, partition) written to has after them, as the
/// delivery reports say (Tansu's own answer for the end offset is not reliable).
pub fn produce(brokers: &str, messages: &[Message]) -> BTreeMap<(String, i32), i64> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", brokers);
    produce_with(&client, messages)
}

/// [`produce`] with the client settings `client` (brokers, TLS, SASL).
pub fn produce_with(client: &ClientConfig, messages: &[Message]) -> BTreeMap<(String, i32), i64> {
    send_all(client, messages, None)
}

/// [`produce`] with every message on partition `partition` of its topic, whatever its
/// key (to leave the other partitions without events).
pub fn produce_to_partition(brokers: &str, messages: &[Message], partition: i32) -> BTreeMap<(String, i32), i64> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", brokers);
    send_all(&client, messages, Some(partition))
}

/// Produces `messages`, on `partition` when given (else where their key falls), and
/// waits until all are delivered; returns the end offsets as [`produce`] does.
fn send_all(client: &ClientConfig, messages: &[Message], partition: Option<i32>) -> BTreeMap<(String, i32), i64> {
    let producer: ThreadedProducer<Deliveries> = client
        .clone()
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.max.bytes", "2000000")
        // Retries must not reorder a partition: the replay relies on each topic-partition
        // being in event-time order, as the producers of the contract keep it.
        .set("max.in.flight.requests.per.connection", "1")
        .create_with_context(Deliveries::default())
        .expect("creating a producer");
    for m in messages {
        let mut record = BaseRecord::to(m.topic)
            .key(m.key.as_str())
            .payload(m.payload.as_slice());
        if let Some(p) = partition {
            record = record.partition(p);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => panic!("producing to {}: {e}", m.topic),
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flushing the producer");
    let ctx = producer.context();
    assert_eq!(
        ctx.failed.load(Ordering::Relaxed),
        0,
        "some messages were not delivered"
    );
    assert_eq!(ctx.ok.load(Ordering::Relaxed), messages.len());
    let ends = std::mem::take(&mut *ctx.ends.lock().unwrap_or_else(|p| p.into_inner()));
    ends
}

fn reader(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "e2e-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.message.max.bytes", "2000000")
        .create()
        .expect("creating a reader")
}

/// Every message of `topic` (with `partitions` partitions): reads from the beginning of
/// each partition until at least `expected` messages are in and every partition
/// reported its end after that.
pub fn read_topic(brokers: &str, topic: &str, partitions: u32, expected: usize) -> Vec<OwnedMessage> {
    let consumer = reader(brokers);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("listing a partition");
    }
    consumer.assign(&tpl).expect("assigning the partitions");
    let mut at_end = vec![false; partitions as usize];
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < expected || !at_end.iter().all(|&e| e) {
        assert!(
            Instant::now() < deadline,
            "read {} of {expected} messages from {topic} in 30 s (partitions at end: {at_end:?})",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                at_end[m.partition() as usize] = false;
                out.push(m.detach());
            }
            Some(Err(KafkaError::PartitionEOF(p))) => at_end[p as usize] = true,
            Some(Err(e)) => panic!("reading {topic}: {e}"),
        }
    }
    out
}

/// The value of header `name`, if present.
pub fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    let headers = m.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The offsets group `group` committed on `topic`'s partitions (-1 where none).
pub fn committed(brokers: &str, group: &str, topic: &str, partitions: u32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("creating a consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition(topic, p);
    }
    let c = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("reading committed offsets");
    (0..partitions as i32)
        .map(|p| match c.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => -1,
        })
        .collect()
}
