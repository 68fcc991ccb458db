//! ccpulse-core: the pure logic of ccpulse. Events in, contact-centre KPIs out, exactly
//! as `spec/events.md` and `spec/kpis.md` define them. No IO, no async, no locks.
//!
//! The flow: [`event::parse_event`] validates a message; an [`engine::Engine`] (one
//! per partition) dedupes it, folds it into its contact's lifecycle
//! ([`contact`]), and adds the resulting facts to sliding-window slices ([`window`]);
//! at a tick each engine yields a [`partial::Partial`], partials merge, and
//! [`snapshot::Snapshot::build`] turns them into the published figures.

pub mod agent;
pub mod agg;
pub mod api;
pub mod breach;
pub mod calendar;
pub mod config;
pub mod contact;
pub mod contact_kind;
pub mod coverage;
pub mod dedupe;
pub mod engine;
pub mod erlang;
pub mod error;
pub mod event;
pub mod fact_ring;
pub mod fcr;
pub mod hist;
pub mod intern;
pub mod interval;
pub mod partial;
pub mod policy;
pub mod replay;
pub mod schedule;
pub mod shard;
pub mod snapshot;
pub mod sorted;
mod threads;
pub mod time;
pub mod window;
pub mod wire;

pub use config::EngineConfig;
pub use engine::Engine;
pub use error::{ConfigError, EventError, WireError};
pub use event::{parse_event, Event};
pub use snapshot::Snapshot;
