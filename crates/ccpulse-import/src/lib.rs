//! ccpulse-import: translations from what contact centres really write to the vendor-neutral
//! event contract of `spec/events.md`.
//!
//! - [`asterisk`]: Asterisk `queue_log` lines (Asterisk, FreePBX, Wazo).
//! - [`connect`]: Amazon Connect contact events (EventBridge) and agent event stream records.
//! - [`twilio`]: Twilio TaskRouter event callbacks, with the signature check and an HTTP
//!   receiver ([`twilio::receiver`]).
//!
//! Every translation is pure: a source record (and, where the source needs it, what the
//! translator remembers of earlier records) in, contract [`Event`]s out, each with a
//! stable id made from the source record, so that importing the same source twice gives
//! the same ids and ccpulse drops the second copy. IO is left to thin callers: the
//! `ccpulse import` commands, the follow mode's [`resume`] file, the receiver's sink.

pub mod asterisk;
pub mod connect;
pub mod contract;
pub mod error;
pub mod report;
pub mod resume;
pub mod twilio;

pub use contract::{Event, Kind};
pub use error::ImportError;
pub use report::Report;
