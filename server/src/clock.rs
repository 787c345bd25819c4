//! Time, behind a trait so tests can move it by hand.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + 'static {
    /// Wall-clock seconds since the Unix epoch (for token `iat`/`exp`).
    fn unix_now(&self) -> u64;
    /// Monotonic time (for rate limits).
    fn now(&self) -> Instant;
}

/// The real clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<(u64, Instant)>,
}

impl ManualClock {
    pub fn new(unix_now: u64) -> Self {
        ManualClock {
            state: Mutex::new((unix_now, Instant::now())),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += by.as_secs();
        state.1 += by;
    }

    /// Sets the wall clock alone (as NTP or a user would), leaving monotonic time.
    pub fn set_unix(&self, unix_now: u64) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 = unix_now;
    }
}

impl Clock for ManualClock {
    fn unix_now(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    fn now(&self) -> Instant {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}
