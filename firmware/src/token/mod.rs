//! Access tokens from offhook-server: a sans-IO scheduler that decides when to fetch and when
//! to retry (doubling backoff with jitter), and [`http::fetch_token`], the one HTTP request.
//!
//! The glue: `if scheduler.poll_fetch(now) { spawn fetch_token(..) }`; feed the result to
//! [`TokenScheduler::on_result`] (a new token goes to `device.updateToken`), pass
//! [`TokenScheduler::status`] to the phone, and call [`TokenScheduler::refresh_now`] on the
//! phone's `RefreshToken`. Wake up at [`TokenScheduler::poll_timeout`].

pub mod http;

use std::time::{Duration, Instant};

use serde::Deserialize;
use twilio_voice::protocol::duration::{
    MAX_RETRY_AFTER, MAX_TOKEN_TTL, deadline_after, network_duration_secs,
};

pub use crate::backoff::Backoff;
use crate::backoff::Jitter;
use crate::ice::IceServerList;
use crate::phone::{TokenProblem, TokenStatus};

/// The server's answer to `POST /api/token/generate`: `{"token", "identity", "ttl"}`, and the
/// ICE servers offhook-server hands out beside it (`ice_servers`, `ice_servers_stale`,
/// `ice_servers_error: {code, message}`). Nothing about the ICE servers can fail a token: an
/// answer without them, or with entries the Device could not use, still gives its token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawTokenResponse")]
pub struct TokenResponse {
    pub token: String,
    pub identity: String,
    /// Lifetime in seconds (used capped at [`MAX_TOKEN_TTL`]).
    pub ttl: u64,
    pub ice: ServerIce,
}

/// What a token answer says about ICE servers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerIce {
    /// The usable entries of `ice_servers` (`None`: the answer has no list).
    pub servers: Option<IceServerList>,
    /// The server could not refresh them from Twilio: they may have expired.
    pub stale: bool,
    /// `ice_servers_error.code`: why there are none, or why they are stale (`disabled`: the
    /// server hands out none on purpose).
    pub error_code: Option<String>,
    /// `ice_servers_error.message`.
    pub error: Option<String>,
    /// Entries left out (what the Device would refuse), for the log.
    pub dropped: Vec<String>,
}

impl ServerIce {
    /// The server hands out no ICE servers on purpose (`OFFHOOK_ICE_SERVERS=off`).
    pub fn disabled(&self) -> bool {
        self.error_code.as_deref() == Some("disabled")
    }
}

#[derive(Deserialize)]
struct RawTokenResponse {
    token: String,
    identity: String,
    ttl: u64,
    #[serde(default)]
    ice_servers: Option<serde_json::Value>,
    #[serde(default)]
    ice_servers_stale: Option<serde_json::Value>,
    #[serde(default)]
    ice_servers_error: Option<serde_json::Value>,
}

impl From<RawTokenResponse> for TokenResponse {
    fn from(raw: RawTokenResponse) -> TokenResponse {
        let (servers, dropped) = match &raw.ice_servers {
            None | Some(serde_json::Value::Null) => (None, Vec::new()),
            Some(value) => {
                let (list, dropped) = crate::ice::from_token_answer(value);
                (Some(list), dropped)
            }
        };
        let error = raw.ice_servers_error.as_ref();
        let text = |name: &str| {
            error
                .and_then(|e| e.get(name))
                .and_then(serde_json::Value::as_str)
                .map(|s| s.chars().take(300).collect::<String>())
        };
        TokenResponse {
            token: raw.token,
            identity: raw.identity,
            ttl: raw.ttl,
            ice: ServerIce {
                servers,
                stale: raw
                    .ice_servers_stale
                    .as_ref()
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
                error_code: text("code"),
                error: text("message"),
                dropped,
            },
        }
    }
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &"<hidden>")
            .field("identity", &self.identity)
            .field("ttl", &self.ttl)
            .field("ice", &self.ice)
            .finish()
    }
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFetchError {
    /// 401/403: the device id or secret is not accepted.
    #[error("device credentials rejected")]
    Rejected,
    /// 429: too many failures; the server says when to come back.
    #[error("token server is throttling this device")]
    Throttled { retry_after: Option<Duration> },
    #[error("token server answered HTTP {0}")]
    Status(u16),
    /// The server's name does not resolve, or there is no route to it.
    #[error("no network: {0}")]
    NoNetwork(String),
    #[error("cannot reach the token server: {0}")]
    Unreachable(String),
    #[error("unexpected answer from the token server: {0}")]
    BadResponse(String),
}

impl TokenFetchError {
    /// The phone's words for it.
    pub fn problem(&self) -> TokenProblem {
        match self {
            TokenFetchError::Rejected => TokenProblem::CredentialsRejected,
            TokenFetchError::Throttled { .. } => TokenProblem::ServerError(429),
            TokenFetchError::Status(code) => TokenProblem::ServerError(*code),
            TokenFetchError::NoNetwork(why) => TokenProblem::NoNetwork(why.clone()),
            TokenFetchError::Unreachable(why) => TokenProblem::ServerUnreachable(why.clone()),
            TokenFetchError::BadResponse(why) => TokenProblem::BadResponse(why.clone()),
        }
    }
}

/// Ignore refresh requests this soon after a token arrived (a burst of token errors from one
/// expiry should cause one fetch, not many).
const REFRESH_DEBOUNCE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Current {
    token: String,
    identity: String,
    received: Instant,
    expires: Instant,
}

/// Decides when to fetch a token.
#[derive(Debug, Clone)]
pub struct TokenScheduler {
    backoff: Backoff,
    jitter: Jitter,
    current: Option<Current>,
    /// When to start the next fetch (`None` while one is in flight).
    next_fetch: Option<Instant>,
    in_flight: bool,
    /// Consecutive failures.
    failures: u32,
    problem: Option<TokenProblem>,
}

impl TokenScheduler {
    /// A scheduler that wants a token right away. `seed` feeds the jitter (use something
    /// per-device, e.g. from the clock, so handsets do not retry in lockstep).
    pub fn new(backoff: Backoff, seed: u64, now: Instant) -> TokenScheduler {
        TokenScheduler {
            backoff,
            jitter: Jitter::new(seed),
            current: None,
            next_fetch: Some(now),
            in_flight: false,
            failures: 0,
            problem: None,
        }
    }

    /// True when a fetch should start now; the scheduler then waits for [`Self::on_result`].
    pub fn poll_fetch(&mut self, now: Instant) -> bool {
        match self.next_fetch {
            Some(at) if at <= now && !self.in_flight => {
                self.in_flight = true;
                self.next_fetch = None;
                true
            }
            _ => false,
        }
    }

    /// When [`Self::poll_fetch`] will next say yes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight {
            None
        } else {
            self.next_fetch
        }
    }

    /// The outcome of a fetch; returns the new token (for `updateToken`) if there is one.
    pub fn on_result(
        &mut self,
        result: Result<TokenResponse, TokenFetchError>,
        now: Instant,
    ) -> Option<TokenResponse> {
        self.in_flight = false;
        match result {
            Ok(response) => {
                let ttl = network_duration_secs(response.ttl.max(1), MAX_TOKEN_TTL);
                self.current = Some(Current {
                    token: response.token.clone(),
                    identity: response.identity.clone(),
                    received: now,
                    expires: deadline_after(now, ttl),
                });
                self.failures = 0;
                self.problem = None;
                // Our own refresh before expiry, in case `tokenWillExpire` does not come
                // (it fires once per Device in some SDK versions).
                let margin = (ttl / 5).min(Duration::from_secs(300));
                self.next_fetch = Some(deadline_after(now, ttl - margin));
                Some(response)
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                let delay = match &error {
                    TokenFetchError::Rejected => self.backoff.max,
                    TokenFetchError::Throttled {
                        retry_after: Some(after),
                        // Never sooner than our own minimum, never later than the cap. Not
                        // `clamp`: it panics when a configured minimum is above the cap.
                    } => (*after).max(self.backoff.min).min(MAX_RETRY_AFTER),
                    _ => self.backoff.delay(self.failures, &mut self.jitter),
                };
                self.problem = Some(error.problem());
                self.next_fetch = Some(deadline_after(now, delay));
                None
            }
        }
    }

    /// The phone or the Device wants a fresh token (`tokenWillExpire`, token errors).
    pub fn refresh_now(&mut self, now: Instant) {
        if self.in_flight || self.problem.is_some() {
            // A fetch is running, or we are backing off after failures: keep that pace.
            return;
        }
        if let Some(current) = &self.current
            && now.saturating_duration_since(current.received) < REFRESH_DEBOUNCE
        {
            return;
        }
        self.next_fetch = Some(now);
    }

    /// The current token, if it has not expired.
    pub fn token(&self, now: Instant) -> Option<&str> {
        self.current
            .as_ref()
            .filter(|c| c.expires > now)
            .map(|c| c.token.as_str())
    }

    /// What the phone should know.
    pub fn status(&self, now: Instant) -> TokenStatus {
        match (&self.problem, &self.current) {
            (Some(problem), current) => TokenStatus::Failing {
                problem: problem.clone(),
                retry_in: self
                    .next_fetch
                    .map(|at| at.saturating_duration_since(now))
                    .unwrap_or_default(),
                current_valid_for: current
                    .as_ref()
                    .map(|c| c.expires.saturating_duration_since(now))
                    .filter(|d| !d.is_zero()),
            },
            (None, Some(current)) if !self.in_flight => TokenStatus::Valid {
                identity: current.identity.clone(),
                ttl: current.expires.saturating_duration_since(now),
            },
            _ => TokenStatus::Fetching,
        }
    }
}

#[cfg(test)]
mod tests;
