//! Retry timing shared by everything that talks to offhook-server (the token client and the
//! push channel): a doubling delay between a minimum and a cap, spread by random jitter so
//! that handsets do not retry in lockstep after an outage.

use std::time::Duration;

/// Retry timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
    /// ± this fraction of random spread (the Voice SDK uses 0.4).
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            min: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.4,
        }
    }
}

impl Backoff {
    /// The wait after `failures` failures in a row (1 = the first): min × 2^(failures−1),
    /// capped at max, spread by ± jitter, never below min / 2 nor above max.
    pub fn delay(&self, failures: u32, jitter: &mut Jitter) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let base = self.min.saturating_mul(1u32 << exponent).min(self.max);
        let spread = (jitter.next_unit() * 2.0 - 1.0) * self.jitter.clamp(0.0, 1.0);
        base.mul_f64(1.0 + spread).max(self.min / 2).min(self.max)
    }
}

/// A small random source for jitter (xorshift64*): seed it with something per device, such
/// as the clock and the process id.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    /// A uniform number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_within_the_jitter() {
        let backoff = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(3),
            jitter: 0.4,
        };
        let mut jitter = Jitter::new(42);
        for (failures, base) in [(1, 100), (2, 200), (3, 400), (6, 3000), (40, 3000)] {
            let d = backoff.delay(failures, &mut jitter).as_millis() as u64;
            let low = (base as f64 * 0.6) as u64;
            let high = ((base as f64 * 1.4) as u64).min(3000);
            assert!((low..=high).contains(&d), "{failures}: {d} ms");
        }
        // No jitter: exactly the doubling.
        let exact = Backoff {
            jitter: 0.0,
            ..backoff
        };
        assert_eq!(exact.delay(3, &mut jitter), Duration::from_millis(400));
    }

    #[test]
    fn different_seeds_spread_out() {
        let backoff = Backoff::default();
        let delays: std::collections::BTreeSet<Duration> = (1..20u64)
            .map(|seed| backoff.delay(3, &mut Jitter::new(seed * 7919)))
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
