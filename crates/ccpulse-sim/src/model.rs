//! The behavioural parameters of the simulation: the time-of-day traffic curve, and per
//! channel how customers wait, how long agents talk, hold and wrap up, how often contacts
//! are transferred, resolved and surveyed.

use std::sync::Arc;

use ccpulse_core::event::Channel;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Relative arrival rate at the middle of each UTC hour, 1.0 at the mid-morning peak:
/// quiet at night, a peak at 10-11, a lunch dip, a second peak early afternoon.
const PROFILE: [f64; 24] = [
    0.06, 0.05, 0.04, 0.04, 0.05, 0.08, 0.15, 0.35, 0.65, 0.90, 1.00, 0.95, 0.75, 0.80, 0.92, 0.85, 0.70, 0.55, 0.42,
    0.32, 0.24, 0.17, 0.12, 0.08,
];

/// The arrival rate at event time `ms` relative to the peak (0 < profile ≤ 1), by UTC
/// time of day, interpolated linearly between the middles of the hours.
pub fn traffic_profile(ms: i64) -> f64 {
    let in_day = ms.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
    let x = in_day - 0.5;
    let lo = x.floor();
    let frac = x - lo;
    let i = (lo as i64).rem_euclid(24) as usize;
    let j = (i + 1) % 24;
    PROFILE[i] * (1.0 - frac) + PROFILE[j] * frac
}

/// How contacts of one channel behave. Durations in seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelModel {
    /// Routing priority when an agent picks the next contact: lower first.
    pub priority: u8,
    /// From reservation of a free agent to the answer (ringing, accepting, opening).
    pub ring: (f64, f64),
    /// Share of customers with very little patience (1-5 s).
    pub short_patience: f64,
    /// Patience of the others: log-normal median and sigma.
    pub patience: (f64, f64),
    /// Email only: the backlog delay before a message is worked, log-normal (median, sigma).
    pub backlog: Option<(f64, f64)>,
    /// Talk time (log-normal median, sigma), without holds.
    pub talk: (f64, f64),
    /// After-contact work (log-normal median, sigma).
    pub acw: (f64, f64),
    /// Share of answered contacts put on hold (1 or 2 times).
    pub hold: f64,
    /// Share of contacts without a known customer.
    pub anonymous: f64,
    /// Share of contacts moved to another queue by routing before an answer.
    pub transfer_before: f64,
    /// Delay of such a transfer after the offer (uniform, seconds).
    pub transfer_before_delay: (f64, f64),
    /// Share of answered contacts transferred by the agent.
    pub transfer_after: f64,
    /// Chance that a contact that ended was resolved.
    pub resolved: f64,
    /// Survey delay after the wrap-up (log-normal median, sigma).
    pub survey_delay: (f64, f64),
    /// Share of CSAT surveys asked on the `five` scale (the rest are `thumbs`).
    pub csat_five: f64,
    /// A wait longer than this makes the customer less happy.
    pub long_wait: f64,
}

/// The model of a channel.
pub(crate) fn model(channel: Channel) -> ChannelModel {
    match channel {
        Channel::Voice => ChannelModel {
            priority: 0,
            ring: (3.0, 10.0),
            short_patience: 0.07,
            patience: (150.0, 0.9),
            backlog: None,
            talk: (270.0, 0.6),
            acw: (40.0, 0.5),
            hold: 0.18,
            anonymous: 0.08,
            transfer_before: 0.015,
            transfer_before_delay: (5.0, 40.0),
            transfer_after: 0.035,
            resolved: 0.8,
            survey_delay: (240.0, 0.7),
            csat_five: 0.7,
            long_wait: 60.0,
        },
        Channel::Chat => ChannelModel {
            priority: 1,
            ring: (3.0, 20.0),
            short_patience: 0.05,
            patience: (300.0, 0.8),
            backlog: None,
            talk: (480.0, 0.5),
            acw: (30.0, 0.5),
            hold: 0.05,
            anonymous: 0.2,
            transfer_before: 0.015,
            transfer_before_delay: (10.0, 60.0),
            transfer_after: 0.035,
            resolved: 0.75,
            survey_delay: (90.0, 0.6),
            csat_five: 0.4,
            long_wait: 120.0,
        },
        Channel::Email => ChannelModel {
            priority: 2,
            ring: (10.0, 90.0),
            short_patience: 0.0,
            patience: (4.0 * 86_400.0, 0.5),
            backlog: Some((1_500.0, 1.0)),
            talk: (420.0, 0.7),
            acw: (60.0, 0.5),
            hold: 0.0,
            anonymous: 0.0,
            transfer_before: 0.02,
            transfer_before_delay: (60.0, 1_800.0),
            transfer_after: 0.02,
            resolved: 0.7,
            survey_delay: (1_800.0, 0.8),
            csat_five: 0.6,
            long_wait: 4.0 * 3_600.0,
        },
    }
}

/// The subjects customers ask about in a queue, by the queue's name.
pub(crate) fn topics(queue: &str) -> Vec<Arc<str>> {
    let list: &[&str] = match queue {
        "billing" => &["invoice", "payment", "refund", "direct_debit"],
        "tech" => &["outage", "setup", "router", "password"],
        "sales" => &["upgrade", "new_contract", "pricing"],
        "support" => &["delivery", "account", "complaint", "cancellation"],
        _ => &["general", "account", "other"],
    };
    list.iter().map(|&t| Arc::from(t)).collect()
}

/// The name of team `i`.
pub(crate) fn team_name(i: usize) -> String {
    const NAMES: [&str; 10] = [
        "aurora", "boreal", "cedar", "delta", "ember", "fjord", "granite", "harbor", "iris", "juniper",
    ];
    match NAMES.get(i) {
        Some(n) => (*n).to_owned(),
        None => format!("team-{}", i + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_is_quiet_at_night_and_peaks_in_the_morning() {
        let at = |h: f64| traffic_profile((h * HOUR_MS as f64) as i64);
        assert!((at(10.5) - 1.0).abs() < 1e-9);
        assert!(at(3.0) < 0.1);
        assert!(at(12.5) < at(14.5));
        for m in 0..(48 * 60) {
            let p = traffic_profile(m * 60_000 - DAY_MS);
            assert!(p > 0.0 && p <= 1.0, "{p}");
        }
    }
}
