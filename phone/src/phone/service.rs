//! Registration, tokens and Device errors: whether the phone can place calls, and if not, why
//! (in words for the screen).

use std::time::{Duration, Instant};

use super::Phone;
use super::io::{DeviceEvent, DeviceState, PhoneOutput, TokenProblem, TokenStatus, TwilioError};
use super::view::{Overlay, Registration};
use crate::twilio_errors::{ErrorKind, advice};

#[derive(Debug, Default)]
pub(super) struct Service {
    /// `None` until the Device has said anything.
    pub device: Option<DeviceState>,
    pub identity: Option<String>,
    pub edge: Option<String>,
    /// The last Device error that matters (cleared on registration).
    pub last_error: Option<TwilioError>,
    pub token_fetching: bool,
    pub token_valid_until: Option<Instant>,
    /// Why the last token fetch failed, and when the next try is.
    pub token_problem: Option<(TokenProblem, Instant)>,
}

/// Why calls cannot be placed, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub code: Option<u32>,
    pub title: String,
    pub cause: String,
    pub action: String,
}

fn secs_until(at: Instant, now: Instant) -> u64 {
    at.saturating_duration_since(now).as_secs_f64().ceil() as u64
}

fn token_problem_words(problem: &TokenProblem) -> (&'static str, String, &'static str) {
    match problem {
        TokenProblem::CredentialsRejected => (
            "Handset refused",
            "Device credentials rejected by the server.".into(),
            "Fix device_id/secret in the config.",
        ),
        TokenProblem::NoNetwork(why) => (
            "No network",
            format!("Can't reach the network: {why}."),
            "Check the network; retrying.",
        ),
        TokenProblem::ServerUnreachable(why) => (
            "No token server",
            format!("Can't reach the token server: {why}."),
            "Check the network and the server URL.",
        ),
        TokenProblem::ServerError(status) => (
            "Token server error",
            format!("The token server answered HTTP {status}."),
            "Check the server's logs.",
        ),
        TokenProblem::BadResponse(why) => (
            "Bad token reply",
            format!("The token server sent something unexpected: {why}."),
            "Check the server version.",
        ),
    }
}

impl Service {
    pub fn can_call(&self) -> bool {
        self.device == Some(DeviceState::Registered)
    }

    fn token_usable(&self, now: Instant) -> bool {
        self.token_valid_until.is_some_and(|until| until > now)
    }

    pub fn registration(&self, now: Instant) -> Registration {
        match self.device {
            Some(DeviceState::Registered) => return Registration::Registered,
            Some(DeviceState::Destroyed) => return Registration::Unregistered,
            _ => {}
        }
        if self.token_problem.is_some() && !self.token_usable(now) {
            return Registration::NoToken;
        }
        if let Some(error) = &self.last_error {
            match advice(error.code).kind {
                ErrorKind::Network => return Registration::Offline,
                ErrorKind::Token | ErrorKind::ServerSetup => return Registration::NoToken,
                _ => {}
            }
        }
        match self.device {
            Some(DeviceState::Registering) => Registration::Registering,
            None if self.token_valid_until.is_none() && !self.token_fetching => {
                Registration::Starting
            }
            None => Registration::Registering,
            _ => Registration::Unregistered,
        }
    }

    /// Why calls cannot be placed right now (`None` when registered).
    pub fn problem(&self, now: Instant) -> Option<Problem> {
        if self.can_call() {
            return None;
        }
        if let Some((problem, retry_at)) = &self.token_problem
            && !self.token_usable(now)
        {
            let (title, cause, action) = token_problem_words(problem);
            return Some(Problem {
                code: None,
                title: title.into(),
                cause,
                action: format!("{action} Retry in {} s.", secs_until(*retry_at, now)),
            });
        }
        if let Some(error) = &self.last_error {
            let advice = advice(error.code);
            return Some(Problem {
                code: Some(error.code),
                title: advice.title.into(),
                cause: advice.cause.into(),
                action: advice.action.into(),
            });
        }
        Some(match self.device {
            Some(DeviceState::Destroyed) => Problem {
                code: None,
                title: "Phone stopped".into(),
                cause: "The voice client was shut down.".into(),
                action: "Restart the phone.".into(),
            },
            Some(DeviceState::Registering) | None => Problem {
                code: None,
                title: "Connecting".into(),
                cause: if self.token_usable(now) {
                    "Registering with Twilio.".into()
                } else {
                    "Getting an access token.".into()
                },
                action: "Wait a moment.".into(),
            },
            _ => Problem {
                code: None,
                title: "Not registered".into(),
                cause: "The phone is not registered with Twilio.".into(),
                action: "Check the network; retrying.".into(),
            },
        })
    }

    /// A problem that does not stop calls yet: the token renewal is failing but the current
    /// token still works.
    pub fn notice(&self, now: Instant) -> Option<String> {
        let (problem, retry_at) = self.token_problem.as_ref()?;
        let until = self.token_valid_until.filter(|u| *u > now)?;
        let (title, _, _) = token_problem_words(problem);
        Some(format!(
            "Token renewal failing ({title}). Retry in {} s; {} min left.",
            secs_until(*retry_at, now),
            until.saturating_duration_since(now).as_secs() / 60
        ))
    }
}

impl Phone {
    pub(super) fn on_device(&mut self, event: DeviceEvent, now: Instant) {
        self.view_dirty = true;
        match event {
            DeviceEvent::Registering => self.service.device = Some(DeviceState::Registering),
            DeviceEvent::Registered => {
                self.service.device = Some(DeviceState::Registered);
                self.service.last_error = None;
            }
            DeviceEvent::Unregistered => self.service.device = Some(DeviceState::Unregistered),
            DeviceEvent::Destroyed => self.service.device = Some(DeviceState::Destroyed),
            DeviceEvent::Error(error) => {
                let advice = advice(error.code);
                match advice.kind {
                    ErrorKind::Minor => return,
                    ErrorKind::Token => self.emit(PhoneOutput::RefreshToken),
                    _ => {}
                }
                if self.service.can_call() {
                    // Still registered: a pop-up, not a screen.
                    self.show_overlay(
                        Overlay::Notice {
                            text: format!("{} ({})", advice.title, error.code),
                        },
                        now,
                    );
                }
                self.service.last_error = Some(error);
            }
            DeviceEvent::Incoming(call) => self.on_incoming(call, now),
            DeviceEvent::TokenWillExpire => self.emit(PhoneOutput::RefreshToken),
            DeviceEvent::Edge(edge) => self.service.edge = edge,
        }
        self.refresh_ready_tone();
    }

    pub(super) fn on_token(&mut self, status: TokenStatus, now: Instant) {
        self.view_dirty = true;
        match status {
            TokenStatus::Fetching => self.service.token_fetching = true,
            TokenStatus::Valid { identity, ttl } => {
                self.service.token_fetching = false;
                self.service.identity = Some(identity);
                self.service.token_valid_until = Some(now + ttl);
                self.service.token_problem = None;
                if self
                    .service
                    .last_error
                    .as_ref()
                    .is_some_and(|e| advice(e.code).kind == ErrorKind::Token)
                {
                    self.service.last_error = None;
                }
            }
            TokenStatus::Failing {
                problem,
                retry_in,
                current_valid_for,
            } => {
                self.service.token_fetching = false;
                self.service.token_problem = Some((problem, now + retry_in));
                self.service.token_valid_until = current_valid_for
                    .filter(|d| *d > Duration::ZERO)
                    .map(|d| now + d);
            }
        }
        self.refresh_ready_tone();
    }
}
