//! The event ids that occur on more than one line of a file, found before the file is
//! replayed, so that the router looks up only those in its dedupe tables.
//!
//! Looking every event's id up in the dedupe tables is a random read of tables of
//! megabytes per event, which a core with 1 MiB of L2 misses: about 15 % of a dense
//! day's replay there (BENCHMARKS.md). In a file known whole, an id on one line only
//! can be no event's duplicate, so its event is routed without a look-up and only
//! counted ([`Router::route_unique`](crate::shard::Router::route_unique)). Which ids
//! occur more than once is found by sorting the first halves of the keys of every line
//! ([`Prefix`]): sequential work, in [`BUCKETS`] buckets by their first bits, each
//! sorted within the cache.
//!
//! A key is read from the line's bytes when the line starts in the common shape
//! `{"id":"…"` ([`common_id`]); any other line is parsed as the replay parses it. A file
//! with too many of those ([`ODD_BYTES`]) is not read here: it is replayed with every
//! id looked up, as before.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rustc_hash::FxHashSet;

use super::{common_id, line_ranges, read_line, Chunks};
use crate::dedupe::Dedupe;
use crate::threads::on_threads;
use crate::time::Millis;

/// Buckets of keys, by their first [`BUCKET_BITS`] bits.
const BUCKETS: usize = 1 << BUCKET_BITS;
/// 256 buckets: about 5 500 keys (88 kB) each on a day of 1.4 M lines.
const BUCKET_BITS: u32 = 8;
/// About how long a line is, for making room for the keys: a realistic day's lines take
/// 176 bytes on average (a guess too large or too small only costs the room).
const LINE_BYTES: usize = 176;
/// At most one line in this many bytes of the file (and 1 024 lines more) may be of
/// another shape than the common one and parsed here: about one line in 25 of a
/// realistic day.
const ODD_BYTES: usize = 4096;

/// The first half of a [`Dedupe::key`]. A prefix on two lines marks the ids of both as
/// repeated, even if the ids differ: then both are only looked up, as every id was
/// before. Sorting half keys is faster, and they take half the memory.
type Prefix = u64;

/// The ids that occur on more than one line of a file, by their keys' [`Prefix`].
#[derive(Debug)]
pub(super) struct Repeated {
    prefixes: FxHashSet<Prefix>,
}

impl Repeated {
    /// The ids of more than one line of `segments` (a file's lines, in order), read on
    /// `threads` threads; `None` when too many lines are not of the common shape.
    pub(super) fn find(segments: &[&[u8]], now_wall: Millis, threads: usize) -> Option<Self> {
        let bytes: usize = segments.iter().map(|s| s.len()).sum();
        // Each task is a chunk, named by its segment and its number there; its bounds
        // are found by whoever reads it (see `Chunks`).
        let tasks: Vec<(usize, usize)> = segments
            .iter()
            .enumerate()
            .flat_map(|(s, segment)| (0..Chunks::new(segment).len()).map(move |c| (s, c)))
            .collect();
        let odd_left = AtomicUsize::new(bytes / ODD_BYTES + 1024);
        let gave_up = AtomicBool::new(false);
        let next = AtomicUsize::new(0);
        // Each thread's keys, by bucket.
        let keys_of = || -> Vec<Vec<Prefix>> {
            // Room for each thread's share of a file of lines of about `LINE_BYTES`.
            let room = bytes / LINE_BYTES / BUCKETS / threads.max(1);
            let mut buckets: Vec<Vec<Prefix>> = (0..BUCKETS).map(|_| Vec::with_capacity(room)).collect();
            while let Some(&(s, c)) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) {
                if gave_up.load(Ordering::Relaxed) {
                    break;
                }
                let segment = segments[s];
                for line in line_ranges(segment, Chunks::new(segment).get(c)).map(|r| &segment[r]) {
                    let key = match common_id(line) {
                        Some((id, _)) => Dedupe::key_of_bytes(id),
                        None => {
                            let odd = odd_left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                            if odd.is_err() {
                                gave_up.store(true, Ordering::Relaxed);
                                break;
                            }
                            match read_line(std::str::from_utf8(line), now_wall) {
                                Ok(Some(ev)) => Dedupe::key(&ev.id),
                                Ok(None) | Err(_) => continue,
                            }
                        }
                    };
                    let prefix = prefix_of(key);
                    buckets[bucket_of(prefix)].push(prefix);
                }
            }
            buckets
        };
        // A thread that panicked leaves its keys unread: then nothing is known.
        let per_thread: Vec<_> = on_threads(threads, keys_of)
            .into_iter()
            .collect::<Result<_, _>>()
            .ok()?;
        if gave_up.load(Ordering::Relaxed) {
            return None;
        }
        // Each bucket's keys from every thread, sorted: a repeated key is next to itself.
        let next = AtomicUsize::new(0);
        let repeated_of = || -> Vec<Prefix> {
            let (mut found, mut keys) = (Vec::new(), Vec::new());
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= BUCKETS {
                    break;
                }
                keys.clear();
                per_thread.iter().for_each(|t| keys.extend_from_slice(&t[b]));
                keys.sort_unstable();
                for pair in keys.windows(2) {
                    if pair[0] == pair[1] && found.last() != Some(&pair[0]) {
                        found.push(pair[0]);
                    }
                }
            }
            found
        };
        let found: Vec<_> = on_threads(threads, repeated_of)
            .into_iter()
            .collect::<Result<_, _>>()
            .ok()?;
        Some(Repeated {
            prefixes: found.into_iter().flatten().collect(),
        })
    }

    /// Whether the id of key `key` may occur on more than one line (`false`: it does not).
    pub(super) fn contains(&self, key: u128) -> bool {
        self.prefixes.contains(&prefix_of(key))
    }
}

/// The first half of a key.
fn prefix_of(key: u128) -> Prefix {
    (key >> 64) as Prefix
}

/// The bucket of a prefix: its first bits.
fn bucket_of(prefix: Prefix) -> usize {
    (prefix >> (Prefix::BITS - BUCKET_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, threads: usize) -> Option<Vec<Prefix>> {
        // The events' time is before the wall clock: in the future they would be invalid.
        let wall = crate::time::parse_rfc3339("2026-11-23T00:00:00Z").unwrap();
        let mut keys: Vec<Prefix> = Repeated::find(&[text.as_bytes()], wall, threads)?
            .prefixes
            .into_iter()
            .collect();
        keys.sort_unstable();
        Some(keys)
    }

    fn keys(ids: &[&str]) -> Vec<Prefix> {
        let mut keys: Vec<Prefix> = ids.iter().map(|id| prefix_of(Dedupe::key(id))).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn the_common_shape_gives_the_id_and_any_other_none() {
        let id = |line| common_id(line).map(|(id, _)| id);
        assert_eq!(
            common_id(br#"{"id":"e1","type":"x"}"#),
            Some((&b"e1"[..], &br#","type":"x"}"#[..]))
        );
        assert_eq!(id(b"k1\t{\"id\":\"e1\",\"type\":\"x\"}"), Some(&b"e1"[..]));
        for other in [
            &br#"{"id":"e\u0031","type":"x"}"#[..],
            br#"{"type":"x","id":"e1"}"#,
            br#" {"id":"e1"}"#,
            br#"{"id": "e1"}"#,
            br#"{"id":"e1"#,
            b"k1 {\"id\":\"e1\"}",
            b"",
        ] {
            assert_eq!(id(other), None, "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn ids_written_in_any_shape_are_found_repeated() {
        let text = [
            r#"{"id":"a","type":"contact.abandoned","contact_id":"c1","ts":"2026-11-22T06:00:00Z"}"#,
            r#"{"id":"b","type":"contact.abandoned","contact_id":"c1","ts":"2026-11-22T06:00:00Z"}"#,
            // `a` again with an escape, `b` again with its id last and after a key.
            r#"{"id":"\u0061","type":"contact.abandoned","contact_id":"c2","ts":"2026-11-22T06:00:00Z"}"#,
            "k\t{\"type\":\"contact.abandoned\",\"contact_id\":\"c2\",\"ts\":\"2026-11-22T06:00:00Z\",\"id\":\"b\"}",
            r#"{"id":"c","type":"contact.abandoned","contact_id":"c3","ts":"2026-11-22T06:00:00Z"}"#,
            "",
            "not json",
        ]
        .join("\n");
        for threads in [1, 2, 3] {
            assert_eq!(found(&text, threads), Some(keys(&["a", "b"])), "{threads} threads");
        }
    }

    #[test]
    fn a_file_of_other_shapes_is_not_read() {
        let line = r#"{"type":"contact.abandoned","contact_id":"c1","ts":"2026-11-22T06:00:00Z","id":"x"}"#;
        let text = (0..1100)
            .map(|i| line.replace("\"x\"", &format!("\"x{i}\"")))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            found(&text, 2),
            None,
            "1 100 lines of another shape, over the 1 024 allowed"
        );
        let fewer = text.lines().take(1000).collect::<Vec<_>>().join("\n");
        assert_eq!(found(&fewer, 2), Some(Vec::new()));
    }
}
