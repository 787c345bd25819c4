//! When to (re)connect the push channel, sans-IO: connect at once, then after each failure or
//! end of the stream wait min × 2^(n−1) (capped, ± jitter), at least what the server asked with
//! `retry:`. A stream that delivered an event worked: the count starts again. A refusal (the
//! route or the handset unknown, credentials rejected) waits the longest. A refreshed token
//! says the server is back: try again now.

use std::time::{Duration, Instant};

use crate::backoff::{Backoff, Jitter};

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Could not connect, or the stream broke or went silent: back off and retry.
    Failed,
    /// The server refused (401/403/404): retry at the longest interval.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting { until: Instant },
    Connecting,
    Connected,
}

/// Decides when to open the stream.
#[derive(Debug, Clone)]
pub struct PushSchedule {
    backoff: Backoff,
    jitter: Jitter,
    state: State,
    /// Failures since the stream last delivered an event.
    failures: u32,
    /// The server's `retry:`, a floor for the next wait.
    server_retry: Option<Duration>,
}

impl PushSchedule {
    /// Wants to connect right away.
    pub fn new(backoff: Backoff, seed: u64, now: Instant) -> PushSchedule {
        PushSchedule {
            backoff,
            jitter: Jitter::new(seed),
            state: State::Waiting { until: now },
            failures: 0,
            server_retry: None,
        }
    }

    /// True when a connection should be opened now; then report [`Self::on_connected`] or
    /// [`Self::on_closed`].
    pub fn poll_connect(&mut self, now: Instant) -> bool {
        match self.state {
            State::Waiting { until } if until <= now => {
                self.state = State::Connecting;
                true
            }
            _ => false,
        }
    }

    /// When [`Self::poll_connect`] will next say yes (`None` while connecting or connected).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { until } => Some(until),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// The server answered with the event stream.
    pub fn on_connected(&mut self) {
        self.state = State::Connected;
    }

    /// An event arrived and made sense: the channel works.
    pub fn on_event(&mut self) {
        self.failures = 0;
    }

    /// The server's `retry:` field.
    pub fn on_retry_hint(&mut self, wait: Duration) {
        self.server_retry = Some(wait.min(self.backoff.max));
    }

    /// The connection failed or ended; returns how long until the next try.
    pub fn on_closed(&mut self, how: Closed, now: Instant) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let wait = match how {
            Closed::Refused => self.backoff.max,
            Closed::Failed => self
                .backoff
                .delay(self.failures, &mut self.jitter)
                .max(self.server_retry.unwrap_or_default()),
        };
        self.state = State::Waiting { until: now + wait };
        wait
    }

    /// The token was refreshed, so the server is reachable: if waiting, try now.
    pub fn reconnect_now(&mut self, now: Instant) {
        if let State::Waiting { until } = self.state
            && until > now
        {
            self.state = State::Waiting { until: now };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn backoff() -> Backoff {
        Backoff {
            min: ms(1000),
            max: ms(60_000),
            jitter: 0.4,
        }
    }

    /// `wait` is `base` ± 40 %, within the cap.
    fn near(wait: Duration, base: u64) -> bool {
        let low = ms(base * 6 / 10).max(ms(500));
        let high = ms(base * 14 / 10).min(ms(60_000));
        (low..=high).contains(&wait)
    }

    #[test]
    fn connects_at_once_then_backs_off_doubling_to_the_cap() {
        let t0 = Instant::now();
        let mut s = PushSchedule::new(backoff(), 99, t0);
        assert_eq!(s.poll_timeout(), Some(t0));
        assert!(s.poll_connect(t0));
        assert!(!s.poll_connect(t0), "one attempt at a time");
        assert_eq!(s.poll_timeout(), None);
        let mut now = t0;
        for (n, base) in [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
            .into_iter()
            .enumerate()
        {
            let wait = s.on_closed(Closed::Failed, now);
            assert!(near(wait, base), "failure {}: {wait:?}", n + 1);
            assert_eq!(s.poll_timeout(), Some(now + wait));
            assert!(!s.poll_connect(now + wait - ms(1)));
            now += wait;
            assert!(s.poll_connect(now));
        }
    }

    #[test]
    fn an_event_resets_the_count_but_a_bare_connection_does_not() {
        let t0 = Instant::now();
        let mut s = PushSchedule::new(backoff(), 5, t0);
        let mut now = t0;
        for _ in 0..4 {
            assert!(s.poll_connect(now));
            // Connects, but the stream dies before saying anything (a broken proxy).
            s.on_connected();
            assert!(s.is_connected());
            now += s.on_closed(Closed::Failed, now);
        }
        assert!(s.poll_connect(now));
        s.on_connected();
        let wait = s.on_closed(Closed::Failed, now);
        assert!(near(wait, 16_000), "still backing off: {wait:?}");
        now += wait;
        assert!(s.poll_connect(now));
        s.on_connected();
        s.on_event();
        let wait = s.on_closed(Closed::Failed, now);
        assert!(
            near(wait, 1000),
            "a stream that worked retries soon: {wait:?}"
        );
    }

    #[test]
    fn refusals_wait_longest_and_the_servers_retry_is_a_floor() {
        let t0 = Instant::now();
        let mut s = PushSchedule::new(backoff(), 5, t0);
        assert!(s.poll_connect(t0));
        assert_eq!(s.on_closed(Closed::Refused, t0), ms(60_000));
        s.reconnect_now(t0 + ms(10));
        assert!(
            s.poll_connect(t0 + ms(10)),
            "a refreshed token retries at once"
        );
        s.on_connected();
        s.on_retry_hint(ms(5000));
        s.on_event();
        let wait = s.on_closed(Closed::Failed, t0 + ms(20));
        assert!(wait >= ms(5000), "{wait:?}");
        s.on_retry_hint(ms(10_000_000));
        let wait = s.on_closed(Closed::Failed, t0 + ms(20));
        assert_eq!(wait, ms(60_000), "capped");
        // Connected: a token refresh changes nothing.
        let mut s = PushSchedule::new(backoff(), 5, t0);
        assert!(s.poll_connect(t0));
        s.on_connected();
        s.reconnect_now(t0);
        assert!(!s.poll_connect(t0));
    }
}
