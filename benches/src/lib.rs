//! Shared helpers of the benchmarks: the realistic mixed stream they all use.

use ccpulse_core::time::HOUR;
use ccpulse_sim::Message;

/// A realistic mixed stream of `n` messages (all five topics, time-compressed), and a
/// wall clock late enough that none of it is "in the future".
pub fn stream(n: usize) -> (Vec<Message>, i64) {
    let messages = ccpulse_sim::bulk(1, n);
    let wall = messages.iter().map(|m| m.ts).max().unwrap_or(0) + HOUR;
    (messages, wall)
}
