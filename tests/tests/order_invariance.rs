//! On a realistic stream (surveys, repeat customers, transfers, agents, invalid
//! messages), arrival order within the allowed lateness and duplicates change no
//! figure: the property the independent checks of `ccpulse replay` rely on.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use ccpulse_core::replay::replay_text;
use ccpulse_core::time::MINUTE;
use ccpulse_core::EngineConfig;

/// A small deterministic generator (xorshift), so the shuffle is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn jitter_within_the_lateness_and_duplicates_change_nothing() {
    let now = jiff::Timestamp::now().as_millisecond();
    let messages = ccpulse_sim::bulk_ending_before(7, 30_000, now, 3).unwrap();
    let line = |m: &ccpulse_sim::Message| format!("{}\t{}", m.key, String::from_utf8_lossy(&m.payload));
    let in_order: Vec<String> = messages.iter().map(line).collect();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut arrivals: Vec<(i64, String)> = Vec::new();
    for m in &messages {
        let delay = (rng.next() % (5 * MINUTE as u64)) as i64;
        arrivals.push((m.ts + delay, line(m)));
        if rng.next().is_multiple_of(10) {
            let again = (rng.next() % (5 * MINUTE as u64)) as i64;
            arrivals.push((m.ts + again, line(m)));
        }
    }
    arrivals.sort_by_key(|(t, _)| *t);
    let jittered: Vec<String> = arrivals.into_iter().map(|(_, l)| l).collect();
    assert!(jittered.len() > in_order.len());

    let cfg = Arc::new(EngineConfig::default());
    let as_of = messages.iter().map(|m| m.ts).max().unwrap() + 1;
    let (a, bad_a) = replay_text(&in_order.join("\n"), cfg.clone(), Some(as_of), now);
    let (b, bad_b) = replay_text(&jittered.join("\n"), cfg, Some(as_of), now);
    assert!(!bad_a.is_empty(), "the stream carries invalid messages");
    assert!(
        bad_b.len() >= bad_a.len(),
        "a duplicated invalid line is reported twice"
    );
    assert!(
        b.stats.duplicates > a.stats.duplicates,
        "the duplicates were seen and dropped"
    );
    for (wa, wb) in a.windows.iter().zip(&b.windows) {
        for (ga, gb) in wa
            .queues
            .iter()
            .chain(&wa.channels)
            .zip(wb.queues.iter().chain(&wb.channels))
        {
            assert_eq!(
                ga, gb,
                "window {}: group {:?}/{} differs",
                wa.window, ga.queue, ga.channel
            );
        }
        assert_eq!(wa.agents, wb.agents, "window {}: agents differ", wa.window);
        assert_eq!(wa, wb);
    }
    assert_eq!(a.agent_states, b.agent_states);
    assert_eq!(a.breaches, b.breaches);
    assert!(a
        .windows
        .iter()
        .any(|w| w.channels.iter().any(|g| g.repeat_contacts > 0 && g.csat_responses > 0)));
}
