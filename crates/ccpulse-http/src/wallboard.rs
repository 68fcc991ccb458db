//! The built-in TV wallboard at `/`: a tile per (queue, channel), channel totals, agents
//! by state and a breach banner, refreshed every second from the API, with an overlay
//! when the view is stale, incomplete or the service cannot be reached.
//!
//! The page is three same-origin files (`/`, `/wallboard.js`, `/wallboard.css`), so
//! that the Content-Security-Policy needs no `'unsafe-inline'`
//! ([`crate::security`]); the script puts every name and figure in the page as text,
//! never as markup. Its thresholds come from the configuration through
//! `GET /api/v1/wallboard/settings` ([`WallboardSettings`]).

use serde::Serialize;

/// The page: markup only, no inline script or style.
pub const PAGE: &str = include_str!("wallboard.html");

/// The page's script, served at `/wallboard.js`.
pub const SCRIPT: &str = include_str!("wallboard.js");

/// The page's style sheet, served at `/wallboard.css`.
pub const STYLE: &str = include_str!("wallboard.css");

/// The most tiles the page shows at once; more groups are shown a page at a time.
pub const TILES_PER_PAGE: u32 = 12;

/// Thresholds of one channel's figures on the wallboard: a figure at or above its
/// `_amber` value is amber, at or above its `_red` value red.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChannelThresholds {
    /// Contacts waiting.
    pub waiting_amber: u32,
    /// Contacts waiting.
    pub waiting_red: u32,
    /// The longest current wait, seconds.
    pub oldest_wait_amber_seconds: f64,
    /// The longest current wait, seconds.
    pub oldest_wait_red_seconds: f64,
    /// Abandon rate, 0..1.
    pub abandon_rate_amber: f64,
    /// Abandon rate, 0..1.
    pub abandon_rate_red: f64,
}

impl ChannelThresholds {
    /// The defaults for voice: 5 and 10 waiting, 30 s and 1 min oldest wait, 5 % and
    /// 10 % abandoned.
    pub const VOICE: ChannelThresholds = ChannelThresholds {
        waiting_amber: 5,
        waiting_red: 10,
        oldest_wait_amber_seconds: 30.0,
        oldest_wait_red_seconds: 60.0,
        abandon_rate_amber: 0.05,
        abandon_rate_red: 0.10,
    };

    /// The defaults for chat: 5 and 10 waiting, 1 and 2 min oldest wait, 5 % and 10 %
    /// abandoned.
    pub const CHAT: ChannelThresholds = ChannelThresholds {
        waiting_amber: 5,
        waiting_red: 10,
        oldest_wait_amber_seconds: 60.0,
        oldest_wait_red_seconds: 120.0,
        abandon_rate_amber: 0.05,
        abandon_rate_red: 0.10,
    };

    /// The defaults for email: 50 and 100 waiting, 30 min and 1 h oldest wait, 2 % and
    /// 5 % abandoned.
    pub const EMAIL: ChannelThresholds = ChannelThresholds {
        waiting_amber: 50,
        waiting_red: 100,
        oldest_wait_amber_seconds: 1800.0,
        oldest_wait_red_seconds: 3600.0,
        abandon_rate_amber: 0.02,
        abandon_rate_red: 0.05,
    };
}

/// The thresholds of each channel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChannelsThresholds {
    /// Voice.
    pub voice: ChannelThresholds,
    /// Chat.
    pub chat: ChannelThresholds,
    /// Email.
    pub email: ChannelThresholds,
}

/// What the wallboard page needs from the configuration (`[wallboard]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WallboardSettings {
    /// A service level below target by at most this many ratio points is amber; further
    /// below (or breached) it is red.
    pub amber_margin: f64,
    /// Seconds each page of tiles is shown when there are more groups than fit.
    pub page_seconds: u32,
    /// Per channel.
    pub channels: ChannelsThresholds,
}

impl Default for WallboardSettings {
    fn default() -> Self {
        WallboardSettings {
            amber_margin: 0.05,
            page_seconds: 10,
            channels: ChannelsThresholds {
                voice: ChannelThresholds::VOICE,
                chat: ChannelThresholds::CHAT,
                email: ChannelThresholds::EMAIL,
            },
        }
    }
}

/// `GET /api/v1/wallboard/settings`: the settings, the windows the service publishes
/// and how many tiles fit a page.
#[derive(Debug, Serialize)]
pub struct SettingsResponse<'a> {
    /// The configured settings.
    #[serde(flatten)]
    pub settings: &'a WallboardSettings,
    /// The most tiles on one page ([`TILES_PER_PAGE`]).
    pub tiles_per_page: u32,
    /// The window names the service publishes (for the page's `window` parameter).
    pub windows: &'a [String],
}
