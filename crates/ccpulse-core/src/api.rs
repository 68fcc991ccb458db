//! The response bodies of `spec/api.md`, built from a [`Snapshot`](crate::snapshot::Snapshot).

use serde::Serialize;

use crate::coverage::Coverage;
use crate::snapshot::{AgentRow, Breach, GroupRow, WindowView};
use crate::time::{serialize_rfc3339, Millis};

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
