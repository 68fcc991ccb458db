//! The response bodies of `spec/api.md`, built from a [`Snapshot`](crate::snapshot::Snapshot).

use serde::Serialize;

use crate::snapshot::{AgentRow, Breach, GroupRow, WindowView};
use crate::time::{serialize_rfc3339, Millis};

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
    /// The groups.
    pub groups: Vec<&'a GroupRow>,
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
    /// The agents.
    pub agents: Vec<&'a AgentRow>,
}

/// `GET /api/v1/breaches`.
#[derive(Debug, Serialize)]
pub struct BreachesResponse<'a> {
    /// When they were evaluated.
    #[serde(serialize_with = "serialize_rfc3339")]
    pub evaluated_at: Millis,
    /// The breaches.
    pub breaches: &'a [Breach],
}

impl WindowView {
    /// The queue groups, optionally of one channel.
    pub fn queues_response(&self, channel: Option<&str>) -> GroupsResponse<'_> {
        GroupsResponse {
            window: &self.window,
            from: self.from,
            to: self.to,
            groups: self
                .queues
                .iter()
                .filter(|g| channel.is_none_or(|c| g.channel == c))
                .collect(),
        }
    }

    /// The channel groups and `all`.
    pub fn channels_response(&self) -> GroupsResponse<'_> {
        GroupsResponse {
            window: &self.window,
            from: self.from,
            to: self.to,
            groups: self.channels.iter().collect(),
        }
    }
}
