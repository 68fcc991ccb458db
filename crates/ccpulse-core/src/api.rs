//! The response bodies of `spec/api.md`, built from a [`Snapshot`](crate::snapshot::Snapshot).

use serde::Serialize;

use crate::contact::DrillOutcome;
use crate::coverage::Coverage;
use crate::event::Channel;
use crate::partial::Listed;
use crate::snapshot::{AgentRow, Breach, GroupRow, Snapshot, WindowView};
use crate::time::{serialize_opt_rfc3339, serialize_rfc3339, Millis};

/// Which part of a list an answer holds: lists (queues, agents, breaches) are answered a
/// page at a time, so that an answer stays bounded whatever the number of queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Items in the whole list.
    pub total: usize,
    /// Position of the first item of this answer in the whole list.
    pub offset: usize,
    /// The `offset` of the next page; `null` on the last.
    pub next_offset: Option<usize>,
}

impl Page {
    /// The whole list in one answer.
    fn whole(total: usize) -> Self {
        Page {
            total,
            offset: 0,
            next_offset: None,
        }
    }

    /// Keeps the items `[offset, offset + limit)` of `items` and says so.
    pub fn cut<T>(items: &mut Vec<T>, offset: usize, limit: usize) -> Self {
        let total = items.len();
        let start = offset.min(total);
        let end = start.saturating_add(limit).min(total);
        items.truncate(end);
        items.drain(..start);
        Page {
            total,
            offset,
            next_offset: (end < total).then_some(end),
        }
    }
}

/// `GET /api/v1/queues` and `GET /api/v1/channels`.
#[derive(Debug, Serialize)]
pub struct GroupsResponse<'a> {
    /// Window name.
    pub window: &'a str,
    /// Start of the window.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub from: Millis,
    /// End of the window (exclusive).
    #[serde(serialize_with = "serialize_rfc3339")]
    pub to: Millis,
    /// What the figures stand for.
    pub coverage: &'a Coverage,
    /// Which part of the list this is.
    #[serde(flatten)]
    pub page: Page,
    /// The groups.
    pub groups: Vec<&'a GroupRow>,
}

impl GroupsResponse<'_> {
    /// Keeps the groups `[offset, offset + limit)`.
    pub fn paged(mut self, offset: usize, limit: usize) -> Self {
        self.page = Page::cut(&mut self.groups, offset, limit);
        self
    }
}

/// `GET /api/v1/agents`.
#[derive(Debug, Serialize)]
pub struct AgentsResponse<'a> {
    /// Window name.
    pub window: &'a str,
    /// Start of the window.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub from: Millis,
    /// End of the window (exclusive).
    #[serde(serialize_with = "serialize_rfc3339")]
    pub to: Millis,
    /// What the figures stand for.
    pub coverage: &'a Coverage,
    /// Which part of the list this is.
    #[serde(flatten)]
    pub page: Page,
    /// The agents.
    pub agents: Vec<&'a AgentRow>,
}

/// `GET /api/v1/breaches`.
#[derive(Debug, Serialize)]
pub struct BreachesResponse<'a> {
    /// When they were evaluated.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub evaluated_at: Millis,
    /// What the figures stand for. Breach state is evaluated only on a whole view;
    /// while the view is not whole the breaches of the last whole view are kept.
    pub coverage: &'a Coverage,
    /// Which part of the list this is.
    #[serde(flatten)]
    pub page: Page,
    /// The breaches.
    pub breaches: Vec<&'a Breach>,
}

/// One contact behind a figure.
#[derive(Debug, Serialize)]
pub struct ContactRow<'a> {
    /// Its `contact_id`.
    pub contact_id: &'a str,
    /// Its `customer_id` (personal data), when an offer named one.
    pub customer_id: Option<&'a str>,
    /// The queue of the leg.
    pub queue: &'a str,
    /// Its channel.
    pub channel: Channel,
    /// When the leg was offered to the queue; `null` when the offer was not seen.
    #[serde(serialize_with = "serialize_opt_rfc3339")]
    pub offered_at: Option<Millis>,
    /// When the outcome was decided (abandon, answer or end, flow-out, offer); `null`
    /// while it waits.
    #[serde(serialize_with = "serialize_opt_rfc3339")]
    pub decided_at: Option<Millis>,
    /// How long the leg waited for an agent (until now while it waits).
    pub wait_seconds: Option<f64>,
    /// The agent who answered the leg.
    pub agent_id: Option<&'a str>,
    /// What it is listed as.
    pub outcome: DrillOutcome,
}

/// `GET /api/v1/queues/{queue}/contacts`.
#[derive(Debug, Serialize)]
pub struct ContactsResponse<'a> {
    /// Window name.
    pub window: &'a str,
    /// Start of the window.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub from: Millis,
    /// End of the window (exclusive).
    #[serde(serialize_with = "serialize_rfc3339")]
    pub to: Millis,
    /// What the figures stand for.
    pub coverage: &'a Coverage,
    /// The queue.
    pub queue: &'a str,
    /// The channel asked for; `null` for every channel of the queue.
    pub channel: Option<Channel>,
    /// The outcome listed.
    pub outcome: DrillOutcome,
    /// The most contacts listed.
    pub limit: usize,
    /// The contacts, newest first.
    pub contacts: Vec<ContactRow<'a>>,
}

impl<'a> ContactsResponse<'a> {
    /// The contacts of `queue` behind `outcome` in `window`, newest first, at most
    /// `limit` (see [`Snapshot::contacts`]).
    pub fn new(
        snap: &'a Snapshot,
        window: &'a WindowView,
        queue: &'a str,
        channel: Option<Channel>,
        outcome: DrillOutcome,
        limit: usize,
    ) -> Self {
        let row = |(ch, l): (Channel, &'a Listed)| ContactRow {
            contact_id: &l.contact_id,
            customer_id: l.customer_id.as_deref(),
            queue,
            channel: ch,
            offered_at: l.offered_at,
            decided_at: l.decided_at,
            wait_seconds: match (l.decided_at, l.offered_at) {
                (None, Some(o)) => Some((snap.now - o).max(0) as f64 / 1000.0),
                _ => l.wait.map(|w| w as f64 / 1000.0),
            },
            agent_id: l.agent.as_deref(),
            outcome: l.outcome,
        };
        ContactsResponse {
            window: &window.window,
            from: window.from,
            to: window.to,
            coverage: &snap.coverage,
            queue,
            channel,
            outcome,
            limit,
            contacts: snap
                .contacts(queue, channel, outcome, window, limit)
                .into_iter()
                .map(row)
                .collect(),
        }
    }
}

impl WindowView {
    /// The queue groups, optionally of one channel.
    pub fn queues_response<'a>(&'a self, coverage: &'a Coverage, channel: Option<&str>) -> GroupsResponse<'a> {
        GroupsResponse {
            window: &self.window,
            from: self.from,
            to: self.to,
            coverage,
            page: Page::whole(0),
            groups: self
                .queues
                .iter()
                .filter(|g| channel.is_none_or(|c| g.channel == c))
                .collect(),
        }
        .paged(0, usize::MAX)
    }

    /// The channel groups and `all`.
    pub fn channels_response<'a>(&'a self, coverage: &'a Coverage) -> GroupsResponse<'a> {
        GroupsResponse {
            window: &self.window,
            from: self.from,
            to: self.to,
            coverage,
            page: Page::whole(self.channels.len()),
            groups: self.channels.iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cut_the_list_and_say_where_the_next_starts() {
        let mut v: Vec<u32> = (0..10).collect();
        assert_eq!(
            Page::cut(&mut v, 3, 4),
            Page {
                total: 10,
                offset: 3,
                next_offset: Some(7)
            }
        );
        assert_eq!(v, [3, 4, 5, 6]);
        let mut v: Vec<u32> = (0..10).collect();
        assert_eq!(Page::cut(&mut v, 8, 4).next_offset, None);
        assert_eq!(v, [8, 9]);
        let mut v: Vec<u32> = (0..10).collect();
        assert_eq!(Page::cut(&mut v, 20, 4).total, 10);
        assert!(v.is_empty());
        let mut v: Vec<u32> = (0..3).collect();
        assert_eq!(Page::cut(&mut v, 0, usize::MAX), Page::whole(3));
    }
}
