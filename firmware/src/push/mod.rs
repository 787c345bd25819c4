//! The push channel from offhook-server: `GET /api/handset/events` (server-sent events) with
//! the device's credentials, so that the message lamp comes on within a second of a message
//! being saved and settings changed elsewhere show at once.
//!
//! - [`sse`] — the `text/event-stream` parser, sans-IO and bounded.
//! - [`schedule`] — when to reconnect (backoff with jitter, the server's `retry:`), sans-IO.
//! - [`client`] — the task that connects, reads, reconnects, and polls while disconnected.
//!
//! The provisioned config (`GET /api/handset/config`) is fetched at start, whenever a `config`
//! event names an ETag other than the one of the copy the handset has, and at each poll; the
//! request is conditional (`If-None-Match`), so an unchanged config costs a `304`.
//!
//! The glue: [`PushClient::spawn`] once, with the ETag of the cached config; feed each
//! [`PushEvent`] to the phone (`Voicemail` → `PhoneInput::Voicemail`, `VoicemailList` →
//! `PhoneInput::VoicemailList`, `Settings` → `PhoneInput::ServerSettings`, `Config` → resolve it
//! against the config file, then `PhoneInput::Config`); call [`PushClient::token_refreshed`]
//! after each new token (while the stream is down, that is when the mailbox, settings and
//! config are polled, and a reconnect is tried at once). Dropping the client stops its tasks.

mod client;
#[doc(hidden)]
pub mod fuzz;
pub mod schedule;
pub mod sse;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::api::ServerEndpoint;
use crate::api::provisioning::HandsetConfig;
use crate::backoff::Backoff;
use crate::config::PushOptions;
use crate::phone::{ServerSettings, VoicemailCount, VoicemailList};
use client::Command;
pub use sse::SseLimits;

/// How the push client behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PushConfig {
    /// Off: no stream, only the polls at token refreshes.
    pub enabled: bool,
    pub backoff: Backoff,
    /// Nothing on the stream (not even a keep-alive) for this long: it is dead, reconnect.
    pub idle_timeout: Duration,
    pub limits: SseLimits,
}

impl PushConfig {
    pub fn from_options(options: &PushOptions) -> PushConfig {
        PushConfig {
            enabled: options.enabled,
            backoff: Backoff {
                min: options.min_retry,
                max: options.max_retry,
                jitter: 0.4,
            },
            idle_timeout: options.idle_timeout,
            limits: SseLimits::default(),
        }
    }
}

/// What the push client reports.
#[derive(Debug, Clone, PartialEq)]
pub enum PushEvent {
    /// The stream is open.
    Connected,
    /// The stream is down; the next try is in `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// The mailbox's counts changed (a `voicemail` event).
    Voicemail(VoicemailCount),
    /// The mailbox, fetched (after a `voicemail` event, or polled).
    VoicemailList(VoicemailList),
    /// The handset's settings (a `settings` event, or polled).
    Settings(ServerSettings),
    /// A provisioned config other than the one the handset had (checked, not yet resolved
    /// against the config file), and its ETag.
    Config {
        etag: Option<String>,
        config: Box<HandsetConfig>,
    },
}

/// The running push client. Dropping it stops the task.
pub struct PushClient {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl PushClient {
    /// Starts the task (on the current tokio runtime). `seed` spreads the reconnects of many
    /// handsets (per device: the clock, the process id); `config_etag` is the ETag of the
    /// provisioned config the handset has (its cached copy), if any.
    pub fn spawn(
        endpoint: Arc<ServerEndpoint>,
        config: PushConfig,
        seed: u64,
        config_etag: Option<String>,
    ) -> (PushClient, mpsc::UnboundedReceiver<PushEvent>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(client::run(
            endpoint,
            config,
            seed,
            config_etag,
            command_rx,
            events,
        ));
        (PushClient { commands, task }, event_rx)
    }

    /// A new token arrived: the server is reachable. While the stream is down this polls the
    /// mailbox and the settings and tries to reconnect at once.
    pub fn token_refreshed(&self) {
        let _ = self.commands.send(Command::TokenRefreshed);
    }
}

impl Drop for PushClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}
