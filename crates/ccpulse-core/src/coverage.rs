//! Coverage: which partitions a view stands for, and how fresh each one's data is.
//!
//! A snapshot merges one partial per partition. The [`Book`] keeps the newest complete
//! partial of every partition with the wall-clock time its data was last known to be
//! up to date with the broker, whoever reported it (this instance's workers, or, later,
//! another instance). A partition whose data has not been known up to date for longer
//! than the staleness threshold keeps its last figures, marked stale: missing data is
//! never shown as zero activity. A partition nobody reports is not covered at all, and
//! the [`Coverage`] of every answer says so.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::partial::Partial;
use crate::time::{Millis, SECOND};

/// What an answer stands for (`spec/api.md`, "Coverage").
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Coverage {
    /// The partition count of the event topics.
    pub partitions: u32,
    /// How many of them the figures include (fresh or stale).
    pub covered: u32,
    /// Covered partitions whose data has not been known up to date for longer than the
    /// staleness threshold: their last figures are included as they were.
    pub stale: Vec<u32>,
    /// How long ago the least recent covered partition was last known to be up to
    /// date; `null` when nothing is covered.
    pub data_age_seconds: Option<f64>,
    /// Why the view is not whole and fresh, in words (for `/readyz`); empty when it is.
    #[serde(skip)]
    pub waiting_for: Vec<String>,
}

impl Coverage {
    /// Every partition covered, none stale, none replaying: figures that can be believed
    /// whole (and that breach state may be evaluated on).
    pub fn is_whole(&self) -> bool {
        self.waiting_for.is_empty()
    }
}

/// Why a partition's holder has no complete, fresh figures for it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Being replayed (after an assignment) or caught up (after a resume).
    Replaying,
    /// Its broker cannot be reached.
    BrokerUnreachable,
    /// Another instance holds it, and not all of the quarter records its interval
    /// report needs have arrived yet.
    QuartersArriving,
}

/// What a holder says of one partition at a tick.
#[derive(Clone, Debug)]
pub struct Report {
    /// The partition.
    pub partition: u32,
    /// Its figures now, when complete (not while replaying).
    pub partial: Option<Arc<Partial>>,
    /// Wall-clock time its data was last known to be up to date with the broker
    /// (caught up to its end, or fetched from).
    pub fresh_at: Option<Millis>,
    /// Why it may be incomplete or behind.
    pub note: Option<Note>,
}

#[derive(Clone, Debug)]
struct Entry {
    partial: Arc<Partial>,
    fresh_at: Millis,
    /// The newest figures whose windows end earlier than `partial`'s: the instances
    /// tick at their own times, so that right after the windows slide by a slice some
    /// partitions' newest figures end a slice later than others'.
    earlier: Option<Arc<Partial>>,
}

impl Entry {
    /// Its figures with windows ending at `to`, if it has them.
    fn ending_at(&self, to: Millis) -> Option<&Arc<Partial>> {
        std::iter::once(&self.partial)
            .chain(&self.earlier)
            .find(|p| p.windows_end() == Some(to))
    }
}

/// The newest figures of every partition, and how old they are.
#[derive(Clone, Debug, Default)]
pub struct Book {
    entries: BTreeMap<u32, Entry>,
    /// Whether a view whose partitions' figures end at different times is not whole
    /// (see [`Book::of_one_moment`]).
    one_moment: bool,
}

/// A merged view and what it covers.
#[derive(Debug)]
pub struct View {
    /// Every covered partition's figures, merged into the base partial.
    pub partial: Partial,
    /// The figures of the partitions this instance holds only (for `/metrics`, where
    /// each instance exports its own partitions so that sums across instances add
    /// up); `None` when they are all of `partial`.
    pub held: Option<Partial>,
    /// What it stands for.
    pub coverage: Coverage,
}

impl Book {
    /// A book whose views are whole only when every fresh partition's figures end at
    /// one time. For the event clock: there each instance's "now" is the newest event
    /// time it has seen, and until the instances have read each other's records their
    /// figures can end minutes apart (after a replay, on a quiet stretch of traffic);
    /// merged, they would count a different stretch of events for each partition, and
    /// the view would look whole. On the wall clock (the default book) the ends differ
    /// by a slice when the instances' ticks fall either side of a slice boundary, the
    /// view merges them at a common end when one is known, and a holder that falls
    /// behind shows in `data_age_seconds`.
    pub fn of_one_moment() -> Self {
        Book {
            one_moment: true,
            ..Book::default()
        }
    }

    /// Takes this tick's reports, and merges the figures of every partition known into
    /// `base` (an empty partial for now). `reports` are this instance's own reports
    /// first, then the other instances' newest records. `held` are the partitions this
    /// instance holds (its own reports' partitions; another instance's record of one of
    /// them is ignored); `partitions` is the partition count of the event topics; `stale_after`
    /// the staleness threshold; `now_wall` the wall clock.
    pub fn view<'r>(
        &mut self,
        mut base: Partial,
        reports: impl IntoIterator<Item = &'r Report>,
        held: &[u32],
        partitions: u32,
        now_wall: Millis,
        stale_after: Millis,
    ) -> View {
        let mut notes: BTreeMap<u32, &Report> = BTreeMap::new();
        for r in reports {
            // A partition this instance holds is described by its own report, which
            // comes first; another instance's record of it is older news, written
            // before the partition moved here (a "replaying" note from a member that
            // held it during a takeover would otherwise stand for ever: nobody else
            // writes that partition again).
            if held.contains(&r.partition) && notes.contains_key(&r.partition) {
                continue;
            }
            notes.insert(r.partition, r);
            let (Some(partial), Some(fresh_at)) = (&r.partial, r.fresh_at) else {
                continue;
            };
            if now_wall - fresh_at > stale_after {
                // Figures that are not known up to date do not replace the last ones
                // that were (a stalled worker's windows slide on and empty out).
                if self.entries.contains_key(&r.partition) {
                    continue;
                }
            }
            let newer = self.entries.get(&r.partition).is_none_or(|e| fresh_at >= e.fresh_at);
            if newer {
                let earlier = match self.entries.remove(&r.partition) {
                    Some(old) if old.partial.windows_end() != partial.windows_end() => Some(old.partial),
                    Some(old) => old.earlier,
                    None => None,
                };
                self.entries.insert(
                    r.partition,
                    Entry {
                        partial: partial.clone(),
                        fresh_at,
                        earlier,
                    },
                );
            }
        }
        // Every fresh partition's figures for the same windows: those ending at the
        // earliest end among their newest and `base`'s, when each has figures ending
        // there (else the newest of each). Merged figures of windows a slice apart
        // would count the events of that slice at one end for some partitions and not
        // for others.
        let fresh = |e: &&Entry| now_wall - e.fresh_at <= stale_after;
        let end = self
            .entries
            .values()
            .filter(fresh)
            .filter_map(|e| e.partial.windows_end())
            .chain(base.windows_end())
            .min()
            .filter(|&to| self.entries.values().filter(fresh).all(|e| e.ending_at(to).is_some()))
            .filter(|&to| base.windows_end() == Some(to) || base.end_windows_at(to));
        let held_only = (0..partitions)
            .filter(|p| self.entries.contains_key(p))
            .any(|p| !held.contains(&p));
        let mut held_view = held_only.then(|| base.clone());
        let mut view = View {
            partial: base,
            held: None,
            coverage: Coverage {
                partitions,
                ..Coverage::default()
            },
        };
        let view_end = view.partial.windows_end();
        let c = &mut view.coverage;
        let mut oldest: Option<Millis> = None;
        if notes.is_empty() && self.entries.is_empty() {
            c.waiting_for.push("holds no partition".into());
        }
        for p in 0..partitions {
            let note = notes.get(&p).and_then(|r| r.note.as_ref());
            let Some(e) = self.entries.get(&p) else {
                c.waiting_for.push(match note {
                    Some(Note::Replaying) => format!("partition {p} replaying"),
                    Some(Note::BrokerUnreachable) => format!("partition {p}: no data yet, broker unreachable"),
                    Some(Note::QuartersArriving) => {
                        format!(
                            "partition {p}: its quarter-hour sums are still arriving from the instance that holds it"
                        )
                    }
                    None if notes.contains_key(&p) => format!("partition {p}: no figures yet"),
                    None => format!("partition {p}: held by no instance"),
                });
                continue;
            };
            let partial = end.and_then(|to| e.ending_at(to)).unwrap_or(&e.partial);
            view.partial.merge(partial);
            if let Some(h) = held_view.as_mut().filter(|_| held.contains(&p)) {
                h.merge(partial);
            }
            c.covered += 1;
            oldest = Some(oldest.map_or(e.fresh_at, |o| o.min(e.fresh_at)));
            let age = now_wall - e.fresh_at;
            let stale = age > stale_after;
            if stale {
                c.stale.push(p);
            }
            match (note, stale) {
                (Some(Note::Replaying), _) => c.waiting_for.push(format!("partition {p} replaying")),
                (Some(Note::BrokerUnreachable), true) => c.waiting_for.push(format!(
                    "partition {p}: no data for {} s, broker unreachable",
                    age / SECOND
                )),
                (_, true) if !notes.contains_key(&p) => c.waiting_for.push(format!(
                    "partition {p}: no data for {} s, held by no instance",
                    age / SECOND
                )),
                (_, true) => c
                    .waiting_for
                    .push(format!("partition {p}: no data for {} s", age / SECOND)),
                (None, false) if self.one_moment => {
                    let late = view_end.zip(partial.windows_end()).map(|(v, e)| v - e);
                    if let Some(late) = late.filter(|&l| l != 0) {
                        c.waiting_for.push(not_of_one_moment(p, late));
                    }
                }
                _ => {}
            }
        }
        c.data_age_seconds = oldest.map(|o| (now_wall - o).max(0) as f64 / SECOND as f64);
        view.held = held_view;
        view
    }

    /// Forgets the figures of a partition (when the partition count shrinks).
    pub fn forget(&mut self, partition: u32) {
        self.entries.remove(&partition);
    }
}

/// Why partition `p`'s figures, ending `late` ms before the view's windows (after them
/// when negative), keep a view of one moment from being whole.
fn not_of_one_moment(p: u32, late: Millis) -> String {
    let side = if late > 0 { "before" } else { "after" };
    let secs = late.abs() as f64 / SECOND as f64;
    format!("partition {p}: its figures end {secs} s {side} the others' (not yet of one moment)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partial::{GroupKey, LiveLeaf};

    fn partial(waiting: i64) -> Arc<Partial> {
        let mut p = Partial::empty(0, &[]);
        p.live.insert(
            GroupKey {
                queue: Some(Arc::from("q")),
                channel: None,
                policy: None,
            },
            LiveLeaf {
                waiting,
                oldest_since: Some(0),
                at_risk: 0,
            },
        );
        Arc::new(p)
    }

    fn report(partition: u32, waiting: Option<i64>, fresh_at: Option<Millis>, note: Option<Note>) -> Report {
        Report {
            partition,
            partial: waiting.map(partial),
            fresh_at,
            note,
        }
    }

    fn waiting(v: &View) -> i64 {
        v.partial.live.values().map(|l| l.waiting).sum()
    }

    const STALE: Millis = 10 * SECOND;

    #[test]
    fn whole_fresh_stale_and_missing() {
        let mut book = Book::default();
        let v = book.view(Partial::empty(0, &[]), &[], &[], 2, 1_000, STALE);
        assert_eq!((v.coverage.covered, v.coverage.data_age_seconds), (0, None));
        assert_eq!(v.coverage.waiting_for[0], "holds no partition");

        let reports = [
            report(0, Some(3), Some(1_000), None),
            report(1, None, Some(1_000), Some(Note::Replaying)),
        ];
        let v = book.view(Partial::empty(0, &[]), &reports, &[0, 1], 2, 1_000, STALE);
        assert_eq!(v.coverage.covered, 1);
        assert_eq!(v.coverage.waiting_for, ["partition 1 replaying"]);
        assert!(!v.coverage.is_whole());

        let reports = [
            report(0, Some(3), Some(2_000), None),
            report(1, Some(4), Some(1_500), None),
        ];
        let v = book.view(Partial::empty(0, &[]), &reports, &[0, 1], 2, 2_000, STALE);
        assert!(v.coverage.is_whole(), "{:?}", v.coverage);
        assert_eq!(waiting(&v), 7);
        assert_eq!(v.coverage.data_age_seconds, Some(0.5));

        // The broker goes away: partition 1 keeps reporting (its windows sliding on,
        // nothing waiting any more) but is not known up to date; its last figures stay.
        let reports = [
            report(0, Some(3), Some(40_000), None),
            report(1, Some(0), Some(2_000), Some(Note::BrokerUnreachable)),
        ];
        let v = book.view(Partial::empty(0, &[]), &reports, &[0, 1], 2, 40_000, STALE);
        assert_eq!(v.coverage.covered, 2);
        assert_eq!(v.coverage.stale, [1]);
        assert_eq!(waiting(&v), 7, "the last figures, not zeros");
        assert_eq!(
            v.coverage.data_age_seconds,
            Some(38.5),
            "the figures shown were fresh at 1.5 s"
        );
        assert_eq!(
            v.coverage.waiting_for,
            ["partition 1: no data for 38 s, broker unreachable"]
        );

        // Partition 1 is revoked: nobody reports it, its last figures stay, stale.
        let v = book.view(
            Partial::empty(0, &[]),
            &[report(0, Some(3), Some(50_000), None)],
            &[0],
            2,
            50_000,
            STALE,
        );
        assert_eq!((v.coverage.covered, waiting(&v)), (2, 7));
        let held = v.held.as_ref().expect("partition 1 is not held");
        assert_eq!(
            held.live.values().map(|l| l.waiting).sum::<i64>(),
            3,
            "the held view has partition 0 only"
        );
        assert_eq!(
            v.coverage.waiting_for,
            ["partition 1: no data for 48 s, held by no instance"]
        );

        // A third partition appears that nobody holds.
        let v = book.view(
            Partial::empty(0, &[]),
            &[
                report(0, Some(3), Some(50_000), None),
                report(1, Some(1), Some(50_000), None),
            ],
            &[0, 1],
            3,
            50_000,
            STALE,
        );
        assert_eq!((v.coverage.covered, waiting(&v)), (2, 4));
        assert_eq!(v.coverage.waiting_for, ["partition 2: held by no instance"]);
    }

    #[test]
    fn a_held_partition_is_described_by_its_own_report() {
        // Partition 1 was held by another instance while it replayed; its last record
        // says so, and it never writes that partition again. This instance holds it
        // now and has its figures.
        let mut book = Book::default();
        let reports = [
            report(0, Some(3), Some(1_000), None),
            report(1, Some(4), Some(1_000), None),
            report(1, None, Some(500), Some(Note::Replaying)),
        ];
        let v = book.view(Partial::empty(0, &[]), &reports, &[0, 1], 2, 1_000, STALE);
        assert!(v.coverage.is_whole(), "{:?}", v.coverage);
        assert_eq!(waiting(&v), 7);
        // A partition held elsewhere takes the other instance's record.
        let v = book.view(Partial::empty(0, &[]), &reports, &[0], 2, 1_000, STALE);
        assert_eq!(v.coverage.waiting_for, ["partition 1 replaying"]);
    }

    /// Figures of one 5-minute window ending at `to`, with `waiting` to tell them apart.
    fn at(partition: u32, waiting: i64, to: Millis) -> Report {
        let mut p = Partial::empty(to, &[("5m".into(), to - 300_000, to)]);
        p.live = partial(waiting).live.clone();
        Report {
            partition,
            partial: Some(Arc::new(p)),
            fresh_at: Some(to),
            note: None,
        }
    }

    fn base(to: Millis) -> Partial {
        Partial::empty(to, &[("5m".into(), to - 300_000, to)])
    }

    #[test]
    fn every_partition_is_merged_with_the_same_windows() {
        let mut book = Book::default();
        let peer_then = at(1, 10, 5_000);
        book.view(
            base(5_000),
            &[at(0, 1, 5_000), peer_then.clone()],
            &[0],
            2,
            5_000,
            STALE,
        );
        // This instance's windows slid by a slice; the other's record is from before.
        let v = book.view(base(10_000), &[at(0, 2, 10_000), peer_then], &[0], 2, 10_000, STALE);
        assert_eq!(
            (waiting(&v), v.partial.windows[0].from, v.partial.windows[0].to),
            (1 + 10, -295_000, 5_000),
            "both partitions' figures ending at 5 s, and the answer says so"
        );
        let v = book.view(
            base(10_000),
            &[at(0, 2, 10_000), at(1, 20, 10_000)],
            &[0],
            2,
            10_000,
            STALE,
        );
        assert_eq!((waiting(&v), v.partial.windows[0].to), (2 + 20, 10_000));
        // The other instance ahead: this one's figures end a slice earlier.
        let v = book.view(
            base(10_000),
            &[at(0, 3, 10_000), at(1, 30, 15_000)],
            &[0],
            2,
            10_000,
            STALE,
        );
        assert_eq!((waiting(&v), v.partial.windows[0].to), (3 + 20, 10_000));
    }

    #[test]
    fn figures_of_different_windows_are_merged_only_when_no_common_end_is_known() {
        let mut book = Book::default();
        // The other partition's first figures end a slice later, and none earlier.
        let v = book.view(
            base(5_000),
            &[at(0, 1, 5_000), at(1, 10, 10_000)],
            &[0],
            2,
            10_000,
            STALE,
        );
        assert_eq!((waiting(&v), v.partial.windows[0].to), (1 + 10, 5_000));
        // A stale partition's last figures do not hold the others back.
        let mut book = Book::default();
        book.view(base(5_000), &[at(1, 10, 5_000)], &[], 2, 5_000, STALE);
        let v = book.view(base(60_000), &[at(0, 1, 60_000)], &[0], 2, 60_000, STALE);
        assert_eq!(
            (waiting(&v), v.partial.windows[0].to, v.coverage.stale.clone()),
            (1 + 10, 60_000, vec![1])
        );
    }

    #[test]
    fn on_the_event_clock_a_view_is_whole_only_when_its_figures_are_of_one_moment() {
        // After a replay on a quiet stretch: this instance's partition has events up to
        // 95 s later than the other instance's, whose record was written before it read
        // this one's (its "now" is its own newest event time).
        let own = || at(0, 1, 100_000);
        // Each record known up to date at 100 s of wall time, whatever its event time.
        let peer = |waiting, to| Report {
            fresh_at: Some(100_000),
            ..at(1, waiting, to)
        };
        let mut book = Book::of_one_moment();
        let v = book.view(base(100_000), &[own(), peer(10, 5_000)], &[0], 2, 100_000, STALE);
        assert_eq!(
            v.coverage.waiting_for,
            ["partition 1: its figures end 95 s before the others' (not yet of one moment)"]
        );
        assert_eq!(v.coverage.covered, 2, "its figures are still shown");
        assert_eq!((waiting(&v), v.partial.windows[0].to), (1 + 10, 100_000));
        // Its next record is of the same moment.
        let v = book.view(base(100_000), &[own(), peer(20, 100_000)], &[0], 2, 100_000, STALE);
        assert!(v.coverage.is_whole(), "{:?}", v.coverage);
        assert_eq!(waiting(&v), 1 + 20);
        // Figures a slice apart with a common end known are merged at that end: whole.
        let v = book.view(
            base(105_000),
            &[at(0, 2, 105_000), peer(20, 100_000)],
            &[0],
            2,
            100_000,
            STALE,
        );
        assert!(v.coverage.is_whole(), "{:?}", v.coverage);
        assert_eq!((waiting(&v), v.partial.windows[0].to), (1 + 20, 100_000));
        // A partition ahead of the others (not on one clock) is named too.
        let v = book.view(
            base(105_000),
            &[at(0, 2, 105_000), peer(30, 112_500)],
            &[0],
            2,
            100_000,
            STALE,
        );
        assert_eq!(
            v.coverage.waiting_for,
            ["partition 1: its figures end 7.5 s after the others' (not yet of one moment)"]
        );
        // The wall clock's book merges the same figures and calls the view whole.
        let mut wall = Book::default();
        let v = wall.view(base(100_000), &[own(), peer(10, 5_000)], &[0], 2, 100_000, STALE);
        assert!(v.coverage.is_whole(), "{:?}", v.coverage);
    }

    #[test]
    fn older_figures_never_replace_newer_ones() {
        let mut book = Book::default();
        book.view(
            Partial::empty(0, &[]),
            &[report(0, Some(5), Some(10_000), None)],
            &[],
            1,
            10_000,
            STALE,
        );
        let v = book.view(
            Partial::empty(0, &[]),
            &[report(0, Some(1), Some(9_000), None)],
            &[],
            1,
            10_000,
            STALE,
        );
        assert_eq!(waiting(&v), 5);
    }
}
