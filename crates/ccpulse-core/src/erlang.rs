//! Erlang C: how many agents a queue needs for its service level (`spec/kpis.md`,
//! "Agents' service level, surveys' timing, staffing and drill-down").
//!
//! With N agents and an offered load of A Erlangs (arrival rate × mean handle time):
//! Erlang B by the recursion B₀ = 1, B_k = A·B_{k−1} / (k + A·B_{k−1}); the probability
//! that a contact waits C = N·B_N / (N − A·(1 − B_N)); the service level at threshold T
//! is 1 − C·e^{−(N−A)·T/AHT}; the average speed of answer C·AHT / (N − A). All of it
//! holds for N > A only: with N ≤ A the queue grows without bound (every contact waits,
//! the service level is 0).
//!
//! The model assumes Poisson arrivals, exponential handle times, one contact per agent
//! at a time and customers who never abandon. It fits voice; for chat, where an agent
//! holds several conversations, it counts one conversation per agent and so overstates
//! the agents needed; for email (no customer waiting on the line, work queued for hours)
//! it does not apply at all, and ccpulse does not use it there.
//!
//! Pure functions, no state: the snapshot calls them per (queue, channel) and window.

/// The largest offered load (Erlangs) staffed; beyond it the answer is `None` (a
/// hundred thousand agents on one queue is a misconfiguration, not a contact centre).
pub const MAX_ERLANGS: f64 = 100_000.0;

/// How many agents past A the search for the required N goes before giving up: only a
/// target of (nearly) 1 with a threshold far below the handle time gets that far.
pub const MAX_EXTRA_AGENTS: u32 = 100_000;

/// Tolerance of the rounding up after shrinkage and occupancy: 14 / (1 − 0.3) is
/// 20.000000000000004 in floating point, and must be 20 agents, not 21.
const ROUNDING: f64 = 1e-9;

/// Erlang B: the blocking probability of `n` servers offered `a` Erlangs, by the
/// recursion B₀ = 1, B_k = A·B_{k−1} / (k + A·B_{k−1}) (numerically stable).
pub fn erlang_b(n: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=n {
        b = next_b(b, k, a);
    }
    b
}

/// One step of the Erlang B recursion: B_k from B_{k−1}.
fn next_b(prev: f64, k: u32, a: f64) -> f64 {
    let x = a * prev;
    x / (f64::from(k) + x)
}

/// Erlang C from B_N: the probability that a contact waits. 1 when `n ≤ a`.
fn c_from_b(n: u32, a: f64, b: f64) -> f64 {
    let n = f64::from(n);
    if n <= a {
        return 1.0;
    }
    n * b / (n - a * (1.0 - b))
}

/// Erlang C: the probability that a contact has to wait, with `n` agents and `a`
/// Erlangs; 1 when `n ≤ a` (every contact waits).
pub fn erlang_c(n: u32, a: f64) -> f64 {
    c_from_b(n, a, erlang_b(n, a))
}

fn sl_from_c(n: u32, a: f64, c: f64, aht: f64, threshold: f64) -> f64 {
    let n = f64::from(n);
    if n <= a {
        return 0.0;
    }
    (1.0 - c * (-(n - a) * threshold / aht).exp()).clamp(0.0, 1.0)
}

/// The service level at `threshold` seconds with `n` agents, `a` Erlangs and a mean
/// handle time of `aht` seconds: 1 − C·e^{−(N−A)·T/AHT}; 0 when `n ≤ a`.
pub fn service_level(n: u32, a: f64, aht: f64, threshold: f64) -> f64 {
    sl_from_c(n, a, erlang_c(n, a), aht, threshold)
}

/// The average speed of answer in seconds (over all contacts, those that did not wait
/// included): C·AHT / (N − A); `None` when `n ≤ a` (it grows without bound).
pub fn asa(n: u32, a: f64, aht: f64) -> Option<f64> {
    let nf = f64::from(n);
    (nf > a).then(|| erlang_c(n, a) * aht / (nf - a))
}

/// The offered load in Erlangs of `offered` contacts over `window_seconds` with a mean
/// handle time of `aht` seconds: (offered / window) × AHT.
pub fn offered_load(offered: f64, window_seconds: f64, aht: f64) -> f64 {
    offered / window_seconds * aht
}

/// The smallest N > A whose Erlang C service level at `threshold` seconds reaches
/// `target` (0..1), for `a` Erlangs and a mean handle time of `aht` seconds. `None`
/// when the inputs are not positive and finite, A exceeds [`MAX_ERLANGS`], or no N up
/// to A + [`MAX_EXTRA_AGENTS`] reaches the target.
pub fn erlang_agents(a: f64, aht: f64, threshold: f64, target: f64) -> Option<u32> {
    let valid = a.is_finite()
        && a > 0.0
        && a <= MAX_ERLANGS
        && aht.is_finite()
        && aht > 0.0
        && threshold.is_finite()
        && threshold >= 0.0
        && target.is_finite()
        && target <= 1.0;
    if !valid {
        return None;
    }
    // The first N above A; B is carried along the recursion, one step per N.
    let first = a.floor() as u32 + 1;
    let mut b = 1.0;
    for k in 1..first {
        b = next_b(b, k, a);
    }
    for n in first..=first.saturating_add(MAX_EXTRA_AGENTS) {
        b = next_b(b, n, a);
        let sl = sl_from_c(n, a, c_from_b(n, a, b), aht, threshold);
        if sl >= target {
            return Some(n);
        }
    }
    None
}

/// What a workforce plan adds to the agents on the phones.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Planning {
    /// The share of paid time agents are not available for contacts (breaks, meetings,
    /// training), 0..1: the Erlang N is divided by (1 − shrinkage).
    pub shrinkage: f64,
    /// The highest occupancy A / N agents should run at, 0..1; `None` for no limit.
    pub max_occupancy: Option<f64>,
}

/// The agents required (`spec/kpis.md`): the smallest N with an Erlang C service level
/// at `threshold` ≥ `target` ([`erlang_agents`]), divided by (1 − shrinkage) and
/// rounded up, then raised so that A / N ≤ the maximum occupancy. `None` when
/// [`erlang_agents`] is, or when the planning values are out of range.
pub fn agents_required(a: f64, aht: f64, threshold: f64, target: f64, plan: Planning) -> Option<u32> {
    let n = erlang_agents(a, aht, threshold, target)?;
    if !(0.0..1.0).contains(&plan.shrinkage) {
        return None;
    }
    let mut n = round_up(f64::from(n) / (1.0 - plan.shrinkage))?;
    if let Some(occ) = plan.max_occupancy {
        if !(occ > 0.0 && occ <= 1.0) {
            return None;
        }
        n = n.max(round_up(a / occ)?);
    }
    Some(n)
}

/// `x` rounded up to a whole number of agents, forgiving floating-point noise.
fn round_up(x: f64) -> Option<u32> {
    let n = (x - ROUNDING).ceil();
    (n.is_finite() && n >= 0.0 && n <= f64::from(u32::MAX)).then_some(n as u32)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn near(got: f64, want: f64, tolerance: f64) {
        assert!(
            (got - want).abs() <= tolerance,
            "expected {want} ± {tolerance}, got {got}"
        );
    }

    /// The reference values of `spec/kpis.md`: A = 10 Erlangs, AHT 180 s, T = 20 s.
    #[test]
    fn the_reference_values_of_the_spec() {
        near(service_level(13, 10.0, 180.0, 20.0), 0.7956, 5e-5);
        near(service_level(14, 10.0, 180.0, 20.0), 0.8884, 5e-5);
        near(service_level(15, 10.0, 180.0, 20.0), 0.9415, 5e-5);
        near(erlang_c(14, 10.0), 0.1741, 5e-5);
        near(asa(14, 10.0, 180.0).unwrap(), 7.84, 5e-3);
        // 80 % needs 14 agents (13 give 79.56 %); 90 % needs 15.
        assert_eq!(erlang_agents(10.0, 180.0, 20.0, 0.8), Some(14));
        assert_eq!(erlang_agents(10.0, 180.0, 20.0, 0.7955), Some(13));
        assert_eq!(erlang_agents(10.0, 180.0, 20.0, 0.7956), Some(14), "0.79559 < 0.7956");
        assert_eq!(erlang_agents(10.0, 180.0, 20.0, 0.9), Some(15));
        // 100 calls in 30 minutes at AHT 180 s are the same 10 Erlangs.
        near(offered_load(100.0, 1800.0, 180.0), 10.0, 1e-12);
    }

    #[test]
    fn erlang_b_by_hand() {
        // B(1, A) = A / (1 + A); B(2, 1) = (1/2) / (2 + 1/2) = 0.2.
        near(erlang_b(0, 3.0), 1.0, 0.0);
        near(erlang_b(1, 3.0), 0.75, 1e-15);
        near(erlang_b(2, 1.0), 0.2, 1e-15);
        // C(1, A) = A for a single server (the probability that it is busy).
        near(erlang_c(1, 0.25), 0.25, 1e-15);
    }

    #[test]
    fn an_overloaded_queue_needs_more_agents_than_erlangs() {
        assert_eq!(erlang_c(10, 10.0), 1.0);
        assert_eq!(service_level(10, 10.0, 180.0, 20.0), 0.0);
        assert_eq!(service_level(3, 10.0, 180.0, 20.0), 0.0);
        assert_eq!(asa(10, 10.0, 180.0), None);
        // Even a target of 0 needs a queue that does not grow for ever: N > A.
        assert_eq!(erlang_agents(10.0, 180.0, 20.0, 0.0), Some(11));
        assert_eq!(erlang_agents(0.3, 180.0, 20.0, 0.0), Some(1));
    }

    #[test]
    fn shrinkage_and_occupancy() {
        let plan = |shrinkage, max_occupancy| Planning {
            shrinkage,
            max_occupancy,
        };
        assert_eq!(agents_required(10.0, 180.0, 20.0, 0.8, plan(0.0, None)), Some(14));
        // 14 / 0.7 = 20 exactly (20.000000000000004 in floating point).
        assert_eq!(agents_required(10.0, 180.0, 20.0, 0.8, plan(0.3, None)), Some(20));
        // 14 / 0.75 = 18.67: 19.
        assert_eq!(agents_required(10.0, 180.0, 20.0, 0.8, plan(0.25, None)), Some(19));
        // A / N ≤ 0.6 needs N ≥ 16.67: 17, more than Erlang's 14.
        assert_eq!(agents_required(10.0, 180.0, 20.0, 0.8, plan(0.0, Some(0.6))), Some(17));
        // 0.8 needs N ≥ 12.5: Erlang's 14 already holds.
        assert_eq!(agents_required(10.0, 180.0, 20.0, 0.8, plan(0.0, Some(0.8))), Some(14));
        // Shrinkage first (14 / 0.9 = 15.6: 16), then occupancy (10 / 0.6: 17).
        assert_eq!(agents_required(10.0, 180.0, 20.0, 0.8, plan(0.1, Some(0.6))), Some(17));
        assert_eq!(agents_required(10.0, 180.0, 20.0, 0.8, plan(1.0, None)), None);
        assert_eq!(agents_required(10.0, 180.0, 20.0, 0.8, plan(0.0, Some(0.0))), None);
    }

    #[test]
    fn nonsense_is_none_not_a_panic() {
        for (a, aht, t, target) in [
            (0.0, 180.0, 20.0, 0.8),
            (-1.0, 180.0, 20.0, 0.8),
            (f64::NAN, 180.0, 20.0, 0.8),
            (10.0, 0.0, 20.0, 0.8),
            (10.0, 180.0, -1.0, 0.8),
            (MAX_ERLANGS * 2.0, 180.0, 20.0, 0.8),
            (10.0, 180.0, 20.0, f64::INFINITY),
        ] {
            assert_eq!(erlang_agents(a, aht, t, target), None, "{a} {aht} {t} {target}");
        }
        // A target of 1 is reached only once the floating-point service level rounds to
        // 1; a threshold of 0 needs C itself to vanish. Both end, one way or the other.
        assert!(erlang_agents(10.0, 180.0, 20.0, 1.0).is_some_and(|n| n > 15));
        assert!(erlang_agents(10.0, 180.0, 0.0, 0.99).is_some_and(|n| n > 15));
        assert_eq!(erlang_agents(10.0, 180.0, 20.0, 1.5), None, "a target above 1");
    }

    proptest! {
        /// The required N is the smallest that meets the target: N meets it (and is
        /// above A), N − 1 does not (or is not above A).
        #[test]
        fn the_required_n_is_the_smallest_that_meets_the_target(
            a in 0.05f64..300.0,
            aht in 5.0f64..1800.0,
            threshold in 0.0f64..600.0,
            target in 0.01f64..0.99,
        ) {
            let n = erlang_agents(a, aht, threshold, target);
            prop_assert!(n.is_some());
            let n = n.unwrap_or_default();
            prop_assert!(f64::from(n) > a);
            prop_assert!(service_level(n, a, aht, threshold) >= target);
            let below = n - 1;
            prop_assert!(
                f64::from(below) <= a || service_level(below, a, aht, threshold) < target,
                "{} agents already meet {}", below, target
            );
        }

        /// Shrinkage and occupancy only ever add agents, and the answer is the smallest
        /// that satisfies all three conditions.
        #[test]
        fn planning_gives_the_smallest_n_that_satisfies_everything(
            a in 0.05f64..300.0,
            aht in 5.0f64..1800.0,
            threshold in 0.0f64..600.0,
            target in 0.01f64..0.99,
            shrinkage in 0.0f64..0.6,
            occupancy in proptest::option::of(0.3f64..1.0),
        ) {
            let plan = Planning { shrinkage, max_occupancy: occupancy };
            let base = erlang_agents(a, aht, threshold, target).unwrap_or_default();
            let n = agents_required(a, aht, threshold, target, plan).unwrap_or_default();
            let ok = |n: u32| {
                f64::from(n) * (1.0 - shrinkage) >= f64::from(base) - 1e-6
                    && occupancy.is_none_or(|o| a / f64::from(n) <= o + 1e-9)
            };
            prop_assert!(n >= base);
            prop_assert!(ok(n), "{} agents", n);
            prop_assert!(!ok(n - 1), "{} agents would do", n - 1);
        }
    }
}
