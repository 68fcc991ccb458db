//! The Kafka path in-process, on librdkafka's mock cluster: the same events through
//! the consumer group and the partition workers give the same figures as the engine
//! alone; invalid events land in the dead-letter topic; topics that are not
//! co-partitioned are refused.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ccpulse_core::coverage::Book;
use ccpulse_core::engine::window_bounds;
use ccpulse_core::partial::Partial;
use ccpulse_core::replay::{json_of, replay_text};
use ccpulse_core::time::parse_rfc3339;
use ccpulse_core::{EngineConfig, Snapshot};
use ccpulse_kafka::{Ingest, IngestError, KafkaSettings, Recovery};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message};

const EVENTS: &str = include_str!("../../ccpulse-core/tests/golden/messy.jsonl");
const AS_OF: &str = "2026-11-22T09:15:00Z";

fn produce(brokers: &str, topic: &str, lines: &str) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let key = line.split_once('\t').map_or("", |(k, _)| k);
        let payload = json_of(line);
        producer.send(BaseRecord::to(topic).key(key).payload(payload)).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

fn settings(brokers: &str, topics: &[&str], group: &str) -> KafkaSettings {
    let mut s = KafkaSettings::new(brokers, Recovery::Beginning);
    s.topics = topics.iter().map(|t| (*t).to_owned()).collect();
    s.group_id = group.into();
    s.dlq_topic = "dlq".into();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_path_equals_the_engine_and_invalid_events_reach_the_dlq() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    // One topic for everything: the contract lets a deployment do that.
    mock.create_topic("events", 2, 1).unwrap();
    mock.create_topic("dlq", 1, 1).unwrap();
    produce(&brokers, "events", EVENTS);

    let cfg = Arc::new(EngineConfig::default());
    let registry = prometheus::Registry::new();
    let ingest = {
        let (s, cfg, r) = (
            settings(&brokers, &["events"], "mock-test"),
            cfg.clone(),
            registry.clone(),
        );
        tokio::task::spawn_blocking(move || Ingest::start(&s, cfg, &r))
            .await
            .unwrap()
            .unwrap()
    };
    let as_of = parse_rfc3339(AS_OF).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut book = Book::default();
    let view = loop {
        let reports = ingest.reports(as_of).await;
        let wall = jiff::Timestamp::now().as_millisecond();
        let base = Partial::empty(as_of, &window_bounds(&cfg, as_of));
        let held: Vec<u32> = reports.iter().map(|r| r.partition).collect();
        let view = book.view(base, &reports, &held, ingest.partition_count(), wall, 10_000);
        if view.coverage.is_whole() {
            break view;
        }
        assert!(Instant::now() < deadline, "not whole after 60 s: {:?}", view.coverage);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((view.coverage.partitions, view.coverage.covered), (2, 2));
    assert!(ingest.replaying().is_empty());
    assert_eq!(ingest.watermark(), Some(parse_rfc3339("2026-11-22T09:11:00Z").unwrap()));
    let through_kafka = Snapshot::build(&view.partial, &cfg);
    let wall = jiff::Timestamp::now().as_millisecond();
    let (alone, invalid) = replay_text(EVENTS, cfg.clone(), Some(as_of), wall);
    assert_eq!(invalid.len(), 3);
    assert_eq!(
        through_kafka.windows, alone.windows,
        "the Kafka path must give the engine's figures"
    );
    assert_eq!(through_kafka.agent_states, alone.agent_states);

    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    for line in [
        r#"ccpulse_events_ingested_total{topic="events"} 19"#,
        r#"ccpulse_events_rejected_total{reason="invalid_json"} 1"#,
        r#"ccpulse_events_rejected_total{reason="score_out_of_range"} 1"#,
        r#"ccpulse_events_rejected_total{reason="unknown_type"} 1"#,
        "ccpulse_events_duplicate_total 1",
        "ccpulse_partitions_assigned 2",
        "ccpulse_partitions_replaying 0",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }

    // The dead letters: original bytes, and headers naming reason and source.
    let dlq: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    dlq.subscribe(&["dlq"]).unwrap();
    let mut letters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while letters.len() < 3 && Instant::now() < deadline {
        if let Some(Ok(m)) = dlq.poll(Duration::from_millis(200)) {
            let headers = m.headers().unwrap();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default()
            };
            letters.push((
                header("ccpulse-reason"),
                header("ccpulse-error"),
                header("ccpulse-source-topic"),
                String::from_utf8_lossy(m.payload().unwrap()).into_owned(),
            ));
        }
    }
    letters.sort();
    assert_eq!(letters.len(), 3, "{letters:?}");
    assert_eq!(letters[0].0, "invalid_json");
    assert_eq!(letters[0].3, "this is not json");
    assert_eq!(letters[1].0, "score_out_of_range");
    assert_eq!(letters[1].1, "score 11 out of range 0..10 for survey.nps");
    assert_eq!(letters[2].0, "unknown_type");
    assert!(letters.iter().all(|l| l.2 == "events"));
    tokio::task::spawn_blocking(move || ingest.shutdown()).await.unwrap();
}

#[tokio::test]
async fn topics_that_are_not_copartitioned_are_refused() {
    let mock = MockCluster::new(1).unwrap();
    let brokers = mock.bootstrap_servers();
    mock.create_topic("cc.voice", 4, 1).unwrap();
    mock.create_topic("cc.chat", 2, 1).unwrap();
    let s = settings(&brokers, &["cc.voice", "cc.chat"], "refused");
    let err = tokio::task::spawn_blocking(move || {
        Ingest::start(&s, Arc::new(EngineConfig::default()), &prometheus::Registry::new())
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, IngestError::NotCopartitioned(_)), "{err}");
    assert!(err.to_string().contains("cc.voice: 4, cc.chat: 2"), "{err}");

    let s = settings(&brokers, &["cc.voice", "cc.nowhere"], "refused2");
    let err = tokio::task::spawn_blocking(move || {
        Ingest::start(&s, Arc::new(EngineConfig::default()), &prometheus::Registry::new())
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(err.to_string().contains("\"cc.nowhere\" does not exist"), "{err}");

    // Without its dead-letter topic every invalid event would be lost: refused, with
    // how to create it.
    mock.create_topic("cc.email", 4, 1).unwrap();
    let mut s = settings(&brokers, &["cc.voice", "cc.email"], "refused3");
    s.dlq_topic = "cc.no-dlq".into();
    let err = tokio::task::spawn_blocking(move || {
        Ingest::start(&s, Arc::new(EngineConfig::default()), &prometheus::Registry::new())
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, IngestError::MissingDlqTopic(_)), "{err}");
    assert!(
        err.to_string().contains("\"cc.no-dlq\" does not exist")
            && err.to_string().contains("--create --topic cc.no-dlq"),
        "{err}"
    );
}
