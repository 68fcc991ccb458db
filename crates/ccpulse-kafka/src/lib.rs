//! ccpulse-kafka: the Kafka side of ccpulse. A consumer group over the event topics
//! (range assignment, so that partition p of every topic comes to the same instance),
//! one worker thread and one [`ccpulse_core::Engine`] per assigned partition number,
//! replay from (now − recovery horizon) on assignment, and a dead-letter producer for
//! invalid events.

pub mod context;
pub mod dlq;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod settings;
pub mod worker;

pub use error::IngestError;
pub use ingest::Ingest;
pub use settings::{KafkaSettings, Recovery, DEFAULT_TOPICS};
