//! Slowing down repeated login failures, per key (Sans-IO: every call takes the current
//! time; nothing sleeps). The token endpoint's key is a client address block and a device
//! id.
//!
//! A key gets a few free failures; after that each further failure locks it for a time
//! that doubles, up to a cap. A lock never refuses a right secret (the endpoint still
//! checks it and lets it in): it only marks the key's guesses as refused. A success
//! clears the key; a quiet spell forgets it. The table is bounded, so a flood of keys
//! cannot grow it without limit, and the flood's idle entries go before any live lock.

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
    /// At most this many keys are remembered.
    pub capacity: usize,
}

impl Policy {
    /// For (client address, device id) keys. A lock only slows guessers (a right secret
    /// always passes), so it may grow long.
    pub const LOGIN: Policy = Policy {
        free_failures: 5,
        first_lock: Duration::from_secs(1),
        max_lock: Duration::from_secs(15 * 60),
        forget_after: Duration::from_secs(60 * 60),
        capacity: 20_000,
    };
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

impl Entry {
    /// The end of a lock still running at `now`.
    fn lock_at(&self, now: Instant) -> Option<Instant> {
        self.locked_until.filter(|until| *until > now)
    }
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
        match self.entries.get(key).and_then(|e| e.lock_at(now)) {
            Some(until) => Err(until - now),
            None => Ok(()),
        }
    }

    pub fn record_failure(&mut self, key: &K, now: Instant) {
        let policy = self.policy;
        if !self.entries.contains_key(key) && self.entries.len() >= policy.capacity {
            self.make_room(now);
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
            entry.locked_until = now.checked_add(lock).or(entry.locked_until);
        }
    }

    pub fn record_success(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// The failures `key` has on record (forgotten ones included until it fails again).
    pub fn failures(&self, key: &K) -> u32 {
        self.entries.get(key).map_or(0, |e| e.failures)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops forgotten entries; if none, the idle entry (no lock running) that failed
    /// longest ago; only if every entry is locked, the lock that ends soonest.
    fn make_room(&mut self, now: Instant) {
        let forget_after = self.policy.forget_after;
        self.entries.retain(|_, e| {
            e.lock_at(now).is_some() || now.saturating_duration_since(e.last_failure) < forget_after
        });
        if self.entries.len() < self.policy.capacity {
            return;
        }
        let oldest_idle = self
            .entries
            .iter()
            .filter(|(_, e)| e.lock_at(now).is_none())
            .min_by_key(|(_, e)| e.last_failure)
            .map(|(k, _)| k.clone());
        let victim = oldest_idle.or_else(|| {
            self.entries
                .iter()
                .min_by_key(|(_, e)| e.lock_at(now))
                .map(|(k, _)| k.clone())
        });
        if let Some(key) = victim {
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
        let policy = Policy {
            max_lock: Duration::from_secs(60),
            ..Policy::LOGIN
        };
        let mut t = Throttle::new(policy);
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
        assert_eq!(t.failures(&"k"), 14);
    }

    #[test]
    fn success_clears_and_quiet_forgets() {
        let mut t = Throttle::new(Policy::LOGIN);
        let now = Instant::now();
        for _ in 0..6 {
            t.record_failure(&1, now);
        }
        assert!(t.check(&1, now).is_err());
        assert_eq!(t.check(&2, now), Ok(()), "other keys are unaffected");
        t.record_success(&1);
        assert_eq!(t.check(&1, now), Ok(()));
        assert_eq!(t.failures(&1), 0);

        for _ in 0..5 {
            t.record_failure(&3, now);
        }
        let later = now + Policy::LOGIN.forget_after;
        t.record_failure(&3, later);
        assert_eq!(t.check(&3, later), Ok(()), "old failures were forgotten");
    }

    fn small(capacity: usize) -> Throttle<u32> {
        Throttle::new(Policy {
            capacity,
            ..Policy::LOGIN
        })
    }

    fn lock(t: &mut Throttle<u32>, key: u32, at: Instant) {
        for _ in 0..=Policy::LOGIN.free_failures {
            t.record_failure(&key, at);
        }
        assert!(t.check(&key, at).is_err());
    }

    #[test]
    fn table_is_bounded_and_keeps_the_newest_idle_keys() {
        let mut t = small(3);
        let start = Instant::now();
        for i in 0..10u32 {
            t.record_failure(&i, start + S * i);
        }
        assert_eq!(t.len(), 3);
        assert!([7, 8, 9].iter().all(|k| t.entries.contains_key(k)));
    }

    #[test]
    fn a_flood_of_new_keys_never_evicts_a_live_lock_before_idle_entries() {
        let mut t = small(4);
        let start = Instant::now();
        // The oldest entry is the locked one: by age alone it would go first.
        lock(&mut t, 100, start);
        let mut now = start;
        for i in 0..50u32 {
            now = start + Duration::from_millis(u64::from(i) + 1);
            t.record_failure(&i, now);
            assert!(t.check(&100, now).is_err(), "the lock survived key {i}");
        }
        assert_eq!(t.len(), 4);
        assert!(t.entries.contains_key(&49) && t.entries.contains_key(&48));
        // An expired lock is idle again and may go.
        let after = start + Duration::from_secs(2);
        assert!(after > now);
        assert_eq!(t.check(&100, after), Ok(()));
        for i in 50..54u32 {
            t.record_failure(&i, after);
        }
        assert!(!t.entries.contains_key(&100));
    }

    #[test]
    fn with_every_entry_locked_the_lock_that_ends_soonest_goes() {
        let mut t = small(3);
        let mut t3 = Instant::now();
        let start = t3 + S;
        lock(&mut t, 1, start);
        lock(&mut t, 2, start);
        // A longer lock for 3 (each more failure doubles it), though it is the oldest.
        for _ in 0..8 {
            t.record_failure(&3, t3);
            t3 += Duration::from_millis(1);
        }
        let later = start + Duration::from_millis(500);
        assert!(t.check(&3, later).unwrap_err() > t.check(&1, later).unwrap_err());
        t.record_failure(&4, later);
        assert_eq!(t.len(), 3);
        assert!(t.entries.contains_key(&3), "the longest lock stays");
        assert!(t.entries.contains_key(&4));
    }

    #[test]
    fn a_forgotten_entry_goes_before_any_other() {
        let mut t = small(2);
        let start = Instant::now();
        t.record_failure(&1, start);
        let later = start + Policy::LOGIN.forget_after - S;
        t.record_failure(&2, later);
        t.record_failure(&3, start + Policy::LOGIN.forget_after);
        assert!(!t.entries.contains_key(&1));
        assert!(t.entries.contains_key(&2) && t.entries.contains_key(&3));
    }
}
