//! SLA breach state with hysteresis, carried from one snapshot to the next.

use std::collections::HashMap;
use std::sync::Arc;

use crate::policy::Policy;
use crate::snapshot::{Breach, Snapshot};
use crate::time::Millis;

type Key = (String, Option<Arc<str>>, String, u16);

/// Remembers which (window, group, policy) are breached, and since when.
///
/// A policy is breached when its service level is below target with at least
/// `min_contacts` in the denominator; it stays breached until the service level
/// reaches target + hysteresis, or the denominator falls below `min_contacts`.
#[derive(Debug, Default, Clone)]
pub struct BreachTracker {
    active: HashMap<Key, Millis>,
    /// The breaches of the last evaluation.
    last: Vec<Breach>,
}

impl BreachTracker {
    /// Evaluates every policy row of `snap`, marks breached rows, and lists the
    /// breaches in `snap.breaches`.
    pub fn evaluate(&mut self, snap: &mut Snapshot, policies: &[Policy]) {
        let mut next = HashMap::new();
        let now = snap.now;
        snap.breaches.clear();
        for w in &mut snap.windows {
            for row in w.queues.iter_mut().chain(w.channels.iter_mut()) {
                for pr in &mut row.sla {
                    let Some(p) = policies.get(pr.index as usize) else {
                        continue;
                    };
                    let key: Key = (w.window.clone(), row.queue.clone(), row.channel.clone(), pr.index);
                    let was = self.active.get(&key).copied();
                    let breached = match pr.service_level {
                        Some(sl) if pr.denominator >= p.min_contacts => match was {
                            None => sl < p.target,
                            Some(_) => sl < p.target + p.hysteresis,
                        },
                        _ => false,
                    };
                    if breached {
                        let since = was.unwrap_or(now);
                        pr.breached = true;
                        row.breached = true;
                        snap.breaches.push(Breach {
                            policy: p.name.clone(),
                            queue: row.queue.clone(),
                            channel: row.channel.clone(),
                            window: w.window.clone(),
                            service_level: pr.service_level.unwrap_or_default(),
                            target: p.target,
                            denominator: pr.denominator,
                            since,
                        });
                        next.insert(key, since);
                    }
                }
            }
        }
        self.active = next;
        self.last = snap.breaches.clone();
    }

    /// Marks `snap` with the breach state of the last evaluation, without evaluating
    /// it: for a view that is not whole (a partition missing, stale or replaying),
    /// whose service levels could raise a false breach or clear a true one.
    pub fn carry(&self, snap: &mut Snapshot) {
        for w in &mut snap.windows {
            for row in w.queues.iter_mut().chain(w.channels.iter_mut()) {
                for pr in &mut row.sla {
                    let key: Key = (w.window.clone(), row.queue.clone(), row.channel.clone(), pr.index);
                    if self.active.contains_key(&key) {
                        pr.breached = true;
                        row.breached = true;
                    }
                }
            }
        }
        snap.breaches = self.last.clone();
    }
}
