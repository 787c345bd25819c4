//! The SDK's exponential backoff (`lib/twilio/backoff.ts`), made deterministic by taking its
//! random number as an argument.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    pub min_ms: u64,
    pub max_ms: u64,
    pub factor: f64,
    /// 0 < jitter ≤ 1, else no jitter.
    pub jitter: f64,
    /// Attempt 0 waits exactly `min_ms` (used for `Retry-After`).
    pub use_initial_value: bool,
}

#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempts: u32,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            attempts: 0,
        }
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay for the current attempt, given a uniform random number in [0, 1).
    ///
    /// `delay = min·factor^attempt`; deviation = ⌊r·jitter·delay⌋, subtracted when ⌊10r⌋ is even,
    /// added otherwise; capped at `max`; truncated to whole milliseconds.
    pub fn delay(&self, random: f64) -> Duration {
        let c = &self.config;
        if c.use_initial_value && self.attempts == 0 {
            return Duration::from_millis(c.min_ms);
        }
        let mut ms = c.min_ms as f64 * c.factor.powi(self.attempts.min(64) as i32);
        if c.jitter > 0.0 && c.jitter <= 1.0 {
            let r = random.clamp(0.0, 1.0);
            let deviation = (r * c.jitter * ms).floor();
            ms = if ((r * 10.0).floor() as u64) & 1 == 0 {
                ms - deviation
            } else {
                ms + deviation
            };
        }
        let capped = ms.min(c.max_ms as f64).max(0.0);
        Duration::from_millis(capped as u64)
    }

    /// Called when a scheduled attempt fires.
    pub fn attempted(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
    }

    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BackoffConfig {
        BackoffConfig {
            min_ms: 100,
            max_ms: 20_000,
            factor: 2.0,
            jitter: 0.4,
            use_initial_value: false,
        }
    }

    #[test]
    fn grows_exponentially_with_jitter_and_cap() {
        let mut b = Backoff::new(cfg());
        // r = 0.0: no deviation.
        assert_eq!(b.delay(0.0), Duration::from_millis(100));
        b.attempted();
        assert_eq!(b.delay(0.0), Duration::from_millis(200));
        // r = 0.5: floor(5) is odd → add floor(0.5·0.4·200) = 40.
        assert_eq!(b.delay(0.5), Duration::from_millis(240));
        // r = 0.25: floor(2.5) = 2 is even → subtract floor(0.25·0.4·200) = 20.
        assert_eq!(b.delay(0.25), Duration::from_millis(180));
        for _ in 0..20 {
            b.attempted();
        }
        assert_eq!(b.delay(0.99), Duration::from_millis(20_000));
        b.reset();
        assert_eq!(b.delay(0.0), Duration::from_millis(100));
    }

    #[test]
    fn retry_after_waits_exactly_first() {
        let mut b = Backoff::new(BackoffConfig {
            min_ms: 30_000,
            max_ms: 60_000,
            use_initial_value: true,
            ..cfg()
        });
        assert_eq!(b.delay(0.9), Duration::from_millis(30_000));
        b.attempted();
        assert_eq!(b.delay(0.0), Duration::from_millis(60_000));
    }
}
