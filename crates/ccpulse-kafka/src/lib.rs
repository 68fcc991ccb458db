//! ccpulse-kafka: the Kafka side of ccpulse. A consumer group over the event topics
//! (range assignment, so that partition p of every topic comes to the same instance),
//! one worker thread and one [`ccpulse_core::Engine`] per assigned partition number,
//! replay from (now − recovery horizon) on assignment, parked engines that resume when
//! a revoked partition comes back, the freshness of every partition held, and a
//! dead-letter producer for invalid events.

pub mod context;
pub mod dlq;
pub mod error;
pub mod freshness;
pub mod ingest;
pub mod metrics;
pub mod park;
pub mod partials;
pub mod settings;
pub mod standby;
pub mod worker;

pub use error::IngestError;
pub use ingest::Ingest;
pub use settings::{KafkaSettings, Recovery, DEFAULT_TOPICS};
