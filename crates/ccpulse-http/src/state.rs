//! What the HTTP side reads: the published snapshot (swapped in whole by the publisher,
//! read lock-free), with the coverage that decides readiness, and the metrics registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwapOption;
use ccpulse_core::time::Millis;
use ccpulse_core::Snapshot;

/// A published snapshot with lazily serialised answers.
#[derive(Debug)]
pub struct Published {
    /// The figures, for the API.
    pub snapshot: Snapshot,
    /// The figures for `/metrics` when queues or agents past the cardinality cap were
    /// folded into `_other`; `None` when `snapshot` fits (see [`Published::metrics`]).
    folded_metrics: Option<Snapshot>,
    /// Series folded into `_other`: (queues, agents).
    pub folded: (u64, u64),
    /// Wall-clock time it was published.
    pub published_at: Millis,
    /// Serialised answers, built on first request: key is (endpoint, window, channel).
    cache: Mutex<HashMap<CacheKey, Arc<Cached>>>,
}

/// One cached answer: its JSON, and the same gzipped on first request for it.
#[derive(Debug, Default)]
pub struct Cached {
    json: OnceLock<Body>,
    gzip: OnceLock<Body>,
}

impl Cached {
    /// The JSON body.
    pub fn json(&self, make: impl FnOnce() -> Vec<u8>) -> Body {
        self.json.get_or_init(|| Arc::from(make())).clone()
    }

    /// The gzipped JSON body (fast compression level: a 1 MB answer compresses in a
    /// few milliseconds, once per snapshot).
    pub fn gzip(&self, make: impl FnOnce() -> Vec<u8>) -> Body {
        self.gzip
            .get_or_init(|| {
                let json = self.json(make);
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                // Writing to a Vec cannot fail.
                let _ = std::io::Write::write_all(&mut enc, &json);
                Arc::from(enc.finish().unwrap_or_default())
            })
            .clone()
    }
}

/// A serialised JSON body shared between requests.
pub type Body = Arc<[u8]>;

/// Which answer a cached body is: (endpoint, window, channel filter).
pub type CacheKey = (&'static str, String, Option<String>);

impl Published {
    /// Wraps a snapshot for publishing.
    pub fn new(snapshot: Snapshot, metrics: Option<Snapshot>, folded: (u64, u64), published_at: Millis) -> Self {
        Published {
            snapshot,
            folded_metrics: metrics,
            folded,
            published_at,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Why this snapshot cannot be believed whole and fresh at `now_wall`, in words;
    /// empty when it can. A snapshot older than `max_age` means the publisher stalled.
    pub fn waiting_for(&self, now_wall: Millis, max_age: Millis) -> Vec<String> {
        let mut out = self.snapshot.coverage.waiting_for.clone();
        let age = now_wall - self.published_at;
        if age > max_age {
            out.push(format!("the last snapshot is {} s old", age / 1000));
        }
        out
    }

    /// The figures for `/metrics`: the folded snapshot, or the API's own.
    pub fn metrics(&self) -> &Snapshot {
        self.folded_metrics.as_ref().unwrap_or(&self.snapshot)
    }

    /// The cache entry for `key`; its bodies are serialised once per snapshot.
    pub fn cached(&self, key: CacheKey) -> Arc<Cached> {
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.entry(key).or_default().clone()
    }
}

/// Everything the router needs.
#[derive(Clone)]
pub struct AppState {
    /// The current snapshot; `None` until the first tick.
    pub published: Arc<ArcSwapOption<Published>>,
    /// Registry of the service's own metrics.
    pub registry: prometheus::Registry,
    /// Names of the windows, in order (for error messages).
    pub windows: Arc<Vec<String>>,
    /// A published snapshot older than this makes the service not ready (the
    /// publisher should replace it every tick).
    pub max_snapshot_age: Millis,
    /// Who may read what.
    pub access: crate::auth::Access,
    /// The wallboard page's thresholds (`[wallboard]` of the configuration).
    pub wallboard: Arc<crate::wallboard::WallboardSettings>,
    /// Whoever computes interval reports; `None` answers them 404.
    pub intervals: Option<crate::intervals::IntervalSource>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("windows", &self.windows)
            .finish_non_exhaustive()
    }
}
