//! Shared helpers of the benchmarks: the streams they use.

use ccpulse_core::time::HOUR;
use ccpulse_sim::day::{generate, write, DayConfig};
use ccpulse_sim::Message;

/// A realistic mixed stream of `n` messages (all five topics, time-compressed), and a
/// wall clock late enough that none of it is "in the future".
pub fn stream(n: usize) -> (Vec<Message>, i64) {
    let messages = ccpulse_sim::bulk(1, n);
    let wall = messages.iter().map(|m| m.ts).max().unwrap_or(0) + HOUR;
    (messages, wall)
}

/// A realistic day ([`ccpulse_sim::day`] with its defaults: 200 000 contacts, 100 000
/// customers) as the bare JSON lines `ccpulse replay` reads, and a wall clock after it.
pub fn day() -> (Vec<u8>, i64) {
    let cfg = DayConfig::default();
    let (lines, _) = generate(&cfg);
    let mut text = Vec::with_capacity(lines.iter().map(|l| l.json.len() + 1).sum());
    // Writing into a Vec cannot fail.
    let _ = write(&lines, false, &mut text);
    (text, cfg.start_ms + 30 * HOUR)
}

/// The lines of `text` (without their `\n`).
pub fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect()
}
