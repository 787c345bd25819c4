//! Slowing down repeated login failures, per client address and per device (Sans-IO:
//! every call takes the current time; nothing sleeps).
//!
//! A key gets a few free failures; after that each further failure locks it for a time
//! that doubles, up to a cap. While a key is locked, attempts are refused before any
//! credential is checked. A success clears the key; a quiet spell forgets it. The table
//! is bounded, so a flood of addresses cannot grow it without limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures allowed before the first lock.
    pub free_failures: u32,
    /// Length of the first lock; each further failure doubles it.
    pub first_lock: Duration,
    pub max_lock: Duration,
    /// A key with no failure for this long starts afresh.
    pub forget_after: Duration,
    /// At most this many keys are remembered (the stalest are dropped first).
    pub capacity: usize,
}

impl Policy {
    /// For client addresses: strict, since one address guessing is an attack.
    pub const PER_CLIENT: Policy = Policy {
        free_failures: 5,
        first_lock: Duration::from_secs(1),
        max_lock: Duration::from_secs(15 * 60),
        forget_after: Duration::from_secs(60 * 60),
        capacity: 10_000,
    };
    /// For device ids: capped low, so someone else's guessing cannot lock a handset out
    /// for long.
    pub const PER_DEVICE: Policy = Policy {
        free_failures: 5,
        first_lock: Duration::from_secs(1),
        max_lock: Duration::from_secs(60),
        forget_after: Duration::from_secs(60 * 60),
        capacity: 10_000,
    };
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

#[derive(Debug)]
pub struct Throttle<K> {
    policy: Policy,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub fn new(policy: Policy) -> Self {
        Throttle {
            policy,
            entries: HashMap::new(),
        }
    }

    /// `Err(wait)` while `key` is locked.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    pub fn record_failure(&mut self, key: &K, now: Instant) {
        let policy = self.policy;
        if !self.entries.contains_key(key) && self.entries.len() >= policy.capacity {
            self.forget_stale(now);
            if self.entries.len() >= policy.capacity {
                self.evict_oldest();
            }
        }
        let entry = self.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.saturating_duration_since(entry.last_failure) >= policy.forget_after {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures > policy.free_failures {
            let doublings = (entry.failures - policy.free_failures - 1).min(30);
            let lock = policy
                .first_lock
                .saturating_mul(1u32 << doublings)
                .min(policy.max_lock);
            entry.locked_until = Some(now + lock);
        }
    }

    pub fn record_success(&mut self, key: &K) {
        self.entries.remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn forget_stale(&mut self, now: Instant) {
        let forget_after = self.policy.forget_after;
        self.entries.retain(|_, e| {
            let locked = e.locked_until.is_some_and(|u| u > now);
            locked || now.saturating_duration_since(e.last_failure) < forget_after
        });
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_failure)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn free_failures_then_doubling_locks_up_to_the_cap() {
        let mut t = Throttle::new(Policy::PER_DEVICE);
        let mut now = Instant::now();
        for _ in 0..5 {
            assert_eq!(t.check(&"k", now), Ok(()));
            t.record_failure(&"k", now);
        }
        assert_eq!(t.check(&"k", now), Ok(()));
        let mut expected = Vec::new();
        for _ in 0..9 {
            t.record_failure(&"k", now);
            let wait = t.check(&"k", now).unwrap_err();
            expected.push(wait.as_secs());
            now += wait;
            assert_eq!(t.check(&"k", now), Ok(()));
        }
        assert_eq!(expected, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn success_clears_and_quiet_forgets() {
        let mut t = Throttle::new(Policy::PER_CLIENT);
        let now = Instant::now();
        for _ in 0..6 {
            t.record_failure(&1, now);
        }
        assert!(t.check(&1, now).is_err());
        assert_eq!(t.check(&2, now), Ok(()), "other keys are unaffected");
        t.record_success(&1);
        assert_eq!(t.check(&1, now), Ok(()));

        for _ in 0..5 {
            t.record_failure(&3, now);
        }
        let later = now + Policy::PER_CLIENT.forget_after;
        t.record_failure(&3, later);
        assert_eq!(t.check(&3, later), Ok(()), "old failures were forgotten");
    }

    #[test]
    fn table_is_bounded() {
        let policy = Policy {
            capacity: 3,
            ..Policy::PER_CLIENT
        };
        let mut t = Throttle::new(policy);
        let start = Instant::now();
        for i in 0..10u32 {
            t.record_failure(&i, start + S * i);
        }
        assert_eq!(t.len(), 3);
        // The newest keys survive.
        let locked_or_known = |k: u32| t.entries.contains_key(&k);
        assert!(locked_or_known(9) && locked_or_known(8) && locked_or_known(7));
    }
}
