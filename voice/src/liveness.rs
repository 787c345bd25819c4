//! Heartbeats: a loop beats on every turn; a watchdog elsewhere (systemd's, in the firmware)
//! asks whether it still does before vouching for the process.
//!
//! A loop that panics, returns or hangs stops beating: [`Heartbeat::age`] grows, and once
//! the loop is gone (its [`HeartbeatGuard`] dropped, which unwinding does too) it is `None`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One loop's heartbeat. Cheap to clone; every clone is the same heartbeat.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    inner: Arc<Beat>,
}

#[derive(Debug)]
struct Beat {
    epoch: Instant,
    /// Milliseconds from `epoch` to the last beat.
    last_ms: AtomicU64,
    ended: AtomicBool,
}

impl Heartbeat {
    /// A heartbeat that has just beaten.
    pub fn new() -> Heartbeat {
        Heartbeat::started_at(Instant::now())
    }

    /// A heartbeat whose first beat was at `now`.
    pub fn started_at(now: Instant) -> Heartbeat {
        Heartbeat {
            inner: Arc::new(Beat {
                epoch: now,
                last_ms: AtomicU64::new(0),
                ended: AtomicBool::new(false),
            }),
        }
    }

    /// The loop is alive now.
    pub fn beat(&self) {
        self.beat_at(Instant::now());
    }

    /// The loop was alive at `now`.
    pub fn beat_at(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.inner.epoch).as_millis();
        self.inner
            .last_ms
            .fetch_max(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The loop has ended for good.
    pub fn end(&self) {
        self.inner.ended.store(true, Ordering::Relaxed);
    }

    /// Ends the heartbeat when dropped: hold it in the loop's task or thread so that a panic
    /// ends it too.
    pub fn guard(&self) -> HeartbeatGuard {
        HeartbeatGuard(self.clone())
    }

    /// How long ago the last beat was; `None` once the loop has ended.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        if self.inner.ended.load(Ordering::Relaxed) {
            return None;
        }
        let last = Duration::from_millis(self.inner.last_ms.load(Ordering::Relaxed));
        Some(
            now.saturating_duration_since(self.inner.epoch)
                .saturating_sub(last),
        )
    }

    /// Whether the loop beat within `max_age` of `now` and has not ended.
    pub fn is_fresh(&self, now: Instant, max_age: Duration) -> bool {
        self.age(now).is_some_and(|age| age <= max_age)
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new()
    }
}

/// See [`Heartbeat::guard`].
#[derive(Debug)]
pub struct HeartbeatGuard(Heartbeat);

impl Drop for HeartbeatGuard {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_until_the_next_beat_and_ends_with_its_guard() {
        let t0 = Instant::now();
        let h = Heartbeat::started_at(t0);
        let max = Duration::from_secs(10);
        assert!(h.is_fresh(t0 + Duration::from_secs(10), max));
        assert!(!h.is_fresh(t0 + Duration::from_secs(11), max));
        h.beat_at(t0 + Duration::from_secs(5));
        assert_eq!(
            h.age(t0 + Duration::from_secs(11)),
            Some(Duration::from_secs(6))
        );
        // A late report of an older beat does not make the heartbeat younger or older.
        h.beat_at(t0 + Duration::from_secs(1));
        assert_eq!(
            h.age(t0 + Duration::from_secs(11)),
            Some(Duration::from_secs(6))
        );
        let guard = h.clone().guard();
        let thread = std::thread::spawn(move || {
            let _guard = guard;
            panic!("the loop dies");
        });
        assert!(thread.join().is_err());
        assert_eq!(h.age(t0 + Duration::from_secs(6)), None);
        assert!(!h.is_fresh(t0 + Duration::from_secs(6), max));
    }
}
