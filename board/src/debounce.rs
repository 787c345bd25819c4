//! A time-based debouncer for one two-state contact (a key, a button, the hook switch).
//!
//! Sans-IO: feed it raw samples with the time they were taken; it reports a new stable level
//! once the raw level has differed from the stable one in every sample for `settle`. Contacts
//! bounce for a few milliseconds, so a single odd sample never changes the stable level.

use std::time::{Duration, Instant};

/// A debounced level change: the new level and when the raw signal first showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub level: bool,
    /// The first raw sample of the run that settled (the physical edge, minus bounce).
    pub since: Instant,
}

/// Debouncer state for one contact.
#[derive(Debug, Clone)]
pub struct Debouncer {
    settle: Duration,
    stable: Option<bool>,
    candidate_since: Option<Instant>,
}

impl Debouncer {
    /// A debouncer with no known level yet: the first level that holds for `settle` is reported.
    pub fn new(settle: Duration) -> Self {
        Debouncer {
            settle,
            stable: None,
            candidate_since: None,
        }
    }

    /// A debouncer that starts from a known level (nothing is reported until it changes).
    pub fn with_level(settle: Duration, level: bool) -> Self {
        Debouncer {
            settle,
            stable: Some(level),
            candidate_since: None,
        }
    }

    /// The current debounced level, if one has settled yet.
    pub fn stable(&self) -> Option<bool> {
        self.stable
    }

    /// Feeds one raw sample taken at `now`. Returns the new level when it settles.
    pub fn update(&mut self, raw: bool, now: Instant) -> Option<Settled> {
        if self.stable == Some(raw) {
            self.candidate_since = None;
            return None;
        }
        let since = *self.candidate_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= self.settle {
            self.stable = Some(raw);
            self.candidate_since = None;
            return Some(Settled { level: raw, since });
        }
        None
    }

    /// When the raw level started differing from the stable one, if it currently does.
    pub fn pending_since(&self) -> Option<Instant> {
        self.candidate_since
    }

    /// When a pending change will have settled (sample again at or after this time).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.candidate_since.map(|since| since + self.settle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn reports_first_level_after_settle() {
        let t0 = Instant::now();
        let mut d = Debouncer::new(ms(20));
        assert_eq!(d.update(true, t0), None);
        assert_eq!(d.update(true, t0 + ms(10)), None);
        assert_eq!(d.next_deadline(), Some(t0 + ms(20)));
        assert_eq!(
            d.update(true, t0 + ms(20)),
            Some(Settled {
                level: true,
                since: t0
            })
        );
        assert_eq!(d.stable(), Some(true));
        assert_eq!(d.update(true, t0 + ms(30)), None);
    }

    #[test]
    fn bounce_restarts_the_settle_time() {
        let t0 = Instant::now();
        let mut d = Debouncer::with_level(ms(20), false);
        // Contact closes with bounce: 1 0 1 0 1 1 1 ...
        let pattern = [true, false, true, false, true, true, true, true, true];
        let mut settled = None;
        for (i, raw) in pattern.iter().enumerate() {
            let now = t0 + ms(5 * i as u64);
            if let Some(s) = d.update(*raw, now) {
                settled = Some((s, i));
            }
        }
        // The last run starts at sample 4 (20 ms) and settles 20 ms later at sample 8.
        let (s, at) = settled.expect("settles");
        assert!(s.level);
        assert_eq!(s.since, t0 + ms(20));
        assert_eq!(at, 8);
    }

    #[test]
    fn zero_settle_is_immediate() {
        let t0 = Instant::now();
        let mut d = Debouncer::with_level(Duration::ZERO, false);
        assert!(d.update(true, t0).is_some());
        assert!(d.update(false, t0).is_some());
    }
}
