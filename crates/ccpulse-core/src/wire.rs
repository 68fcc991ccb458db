//! The partials instances share: a compact, versioned binary encoding.
//!
//! Each instance publishes, every tick, one record per partition it holds to a
//! compacted topic keyed by partition, and every instance merges the newest record of
//! each partition it does not hold with its own (see [`crate::coverage`]). A record is
//! the magic bytes `ccp`, a version byte, and the [`Record`] in `postcard` (serde's
//! compact varint format). A reader refuses a version it does not know, so that a
//! rolling upgrade that changes the encoding shows the other instances' partitions as
//! not covered, not as wrong figures.

use serde::{Deserialize, Serialize};

use crate::error::WireError;
use crate::interval::QuarterChange;
use crate::partial::Partial;
use crate::time::Millis;

/// The first bytes of every record.
pub const MAGIC: [u8; 3] = *b"ccp";

/// The encoding version this build writes and reads. 2: agents' service level, surveys
/// sent and answered with their timing, and the drill-down lists (version 1.1 figures).
pub const VERSION: u8 = 2;

/// What an instance says of one partition it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record<P = Partial> {
    /// The partition.
    pub partition: u32,
    /// The instance that holds it.
    pub instance: String,
    /// The holder's wall clock when it published this record.
    pub published_at: Millis,
    /// When the partition's data was last known up to date with the broker (the
    /// holder's wall clock).
    pub fresh_at: Option<Millis>,
    /// The holder is replaying it (its figures are not complete: `partial` is none).
    pub replaying: bool,
    /// The partition's figures at `published_at`, once replayed.
    pub partial: Option<P>,
}

/// Encodes a record.
pub fn encode(record: &Record<&Partial>) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    postcard::to_io(record, &mut out).map_err(|e| WireError::Body(e.to_string()))?;
    Ok(out)
}

/// Decodes a record.
pub fn decode(bytes: &[u8]) -> Result<Record, WireError> {
    let Some((head, body)) = bytes.split_at_checked(MAGIC.len() + 1) else {
        return Err(WireError::NotAPartial);
    };
    if head[..MAGIC.len()] != MAGIC {
        return Err(WireError::NotAPartial);
    }
    let version = head[MAGIC.len()];
    if version != VERSION {
        return Err(WireError::Version(version, VERSION));
    }
    postcard::from_bytes(body).map_err(|e| WireError::Body(e.to_string()))
}

/// The first bytes of a quarter record.
pub const QUARTER_MAGIC: [u8; 3] = *b"ccq";

/// One partition's sums of one quarter hour, for interval reports (`crate::interval`):
/// its holder writes one, keyed by partition and quarter, whenever the quarter changes
/// (an empty record's key is deleted instead, with a tombstone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuarterRecord {
    /// The partition.
    pub partition: u32,
    /// The instance that holds it.
    pub instance: String,
    /// The holder's wall clock when it published this record.
    pub published_at: Millis,
    /// The quarter and its sums.
    pub quarter: QuarterChange,
}

/// The partials topic's key of a quarter record.
pub fn quarter_key(partition: u32, start: Millis) -> String {
    format!("q/{partition}/{start}")
}

/// The partition and quarter start of a quarter record's key.
pub fn parse_quarter_key(key: &str) -> Option<(u32, Millis)> {
    let (p, q) = key.strip_prefix("q/")?.split_once('/')?;
    Some((p.parse().ok()?, q.parse().ok()?))
}

/// Encodes a quarter record.
pub fn encode_quarter(record: &QuarterRecord) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(&QUARTER_MAGIC);
    out.push(VERSION);
    postcard::to_io(record, &mut out).map_err(|e| WireError::Body(e.to_string()))?;
    Ok(out)
}

/// Decodes a quarter record.
pub fn decode_quarter(bytes: &[u8]) -> Result<QuarterRecord, WireError> {
    let Some((head, body)) = bytes.split_at_checked(QUARTER_MAGIC.len() + 1) else {
        return Err(WireError::NotAPartial);
    };
    if head[..QUARTER_MAGIC.len()] != QUARTER_MAGIC {
        return Err(WireError::NotAPartial);
    }
    let version = head[QUARTER_MAGIC.len()];
    if version != VERSION {
        return Err(WireError::Version(version, VERSION));
    }
    postcard::from_bytes(body).map_err(|e| WireError::Body(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::config::EngineConfig;
    use crate::engine::Engine;
    use crate::event::parse_event;
    use crate::time::parse_rfc3339;

    fn partial() -> Partial {
        let wall = parse_rfc3339("2026-11-22T12:00:00Z").unwrap_or_default();
        let mut engine = Engine::new(Arc::new(EngineConfig::default()));
        let lines = [
            r#"{"id":"1","type":"agent.state","ts":"2026-11-22T08:59:00Z","agent_id":"a7","team":"red","queues":["billing"],"state":"available"}"#,
            r#"{"id":"2","type":"contact.offered","ts":"2026-11-22T09:00:00Z","contact_id":"c1","channel":"voice","queue":"billing","customer_id":"k"}"#,
            r#"{"id":"3","type":"contact.answered","ts":"2026-11-22T09:00:14Z","contact_id":"c1","agent_id":"a7"}"#,
            r#"{"id":"4","type":"contact.ended","ts":"2026-11-22T09:05:14Z","contact_id":"c1"}"#,
            r#"{"id":"5","type":"contact.wrapped_up","ts":"2026-11-22T09:06:00Z","contact_id":"c1"}"#,
            r#"{"id":"6","type":"survey.nps","ts":"2026-11-22T09:07:00Z","contact_id":"c1","score":9}"#,
            r#"{"id":"7","type":"contact.offered","ts":"2026-11-22T09:08:00Z","contact_id":"c2","channel":"chat","queue":"tech"}"#,
        ];
        for l in lines {
            if let Ok(ev) = parse_event(l.as_bytes(), wall) {
                engine.apply(&ev);
            }
        }
        engine.partial(parse_rfc3339("2026-11-22T09:10:00Z").unwrap_or_default())
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let p = partial();
        assert!(!p.windows[0].leaves.is_empty() && !p.live.is_empty() && !p.agents.is_empty());
        let record = Record {
            partition: 3,
            instance: "i-1".into(),
            published_at: 1,
            fresh_at: Some(2),
            replaying: false,
            partial: Some(&p),
        };
        let bytes = encode(&record).expect("encodes");
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.partial.as_ref(), Some(&p));
        assert_eq!(
            (back.partition, back.instance.as_str(), back.fresh_at),
            (3, "i-1", Some(2))
        );
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        let p = partial();
        let mut bytes = encode(&Record {
            partition: 0,
            instance: String::new(),
            published_at: 0,
            fresh_at: None,
            replaying: true,
            partial: Some(&p),
        })
        .expect("encodes");
        let whole = bytes.clone();
        bytes[3] = 1;
        assert_eq!(decode(&bytes), Err(WireError::Version(1, VERSION)));
        assert_eq!(decode(b"ccp"), Err(WireError::NotAPartial));
        assert_eq!(decode(b"{\"json\": 1}"), Err(WireError::NotAPartial));
        assert!(matches!(decode(&whole[..whole.len() / 2]), Err(WireError::Body(_))));
    }

    #[test]
    fn a_large_histogram_reads_back_as_written() {
        let mut h = crate::hist::SparseHist::default();
        for ms in (0..5_000).map(|i| i * 997) {
            h.record(ms, 1 + ms % 3);
        }
        assert!(h.len() > 64, "paged storage");
        let bytes = postcard::to_stdvec(&h).expect("encodes");
        let back: crate::hist::SparseHist = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, h);
        assert_eq!(back.quantile(0.9), h.quantile(0.9));
    }

    #[test]
    fn a_quarter_record_reads_back_as_written_and_its_key_parses() {
        let p = partial();
        let groups: Vec<_> = p.windows[0].leaves.clone().into_iter().collect();
        assert!(!groups.is_empty());
        let record = QuarterRecord {
            partition: 2,
            instance: "i-2".into(),
            published_at: 5,
            quarter: QuarterChange { start: 900_000, groups },
        };
        let bytes = encode_quarter(&record).expect("encodes");
        assert_eq!(decode_quarter(&bytes), Ok(record));
        assert_eq!(decode(&bytes), Err(WireError::NotAPartial), "not a partition record");
        assert_eq!(parse_quarter_key(&quarter_key(2, -900_000)), Some((2, -900_000)));
        assert_eq!(parse_quarter_key("2"), None);
        assert_eq!(parse_quarter_key("q/x/1"), None);
    }

    proptest! {
        /// Whatever arrives on the topic, reading it never panics.
        #[test]
        fn any_bytes_decode_or_fail_cleanly(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut bytes = b"ccp\x02".to_vec();
            bytes.extend_from_slice(&tail);
            let _ = decode(&bytes);
            bytes[..3].copy_from_slice(b"ccq");
            let _ = decode_quarter(&bytes);
        }
    }
}
