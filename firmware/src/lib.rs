//! `offhook`: the desk handset's glue — the board, the Twilio Device, the token client and the
//! sans-IO phone (`offhook-phone`) in one loop, with its config, CLI and systemd integration.
//!
//! The phone's own modules live in `offhook-phone` and are re-exported here under their old
//! paths (`offhook::phone`, `offhook::screens`, …).
//!
//! Module map:
//! - [`app`] — the glue: board, Twilio Device, token client, push channel and phone in one
//!   loop (`offhook run`).
//! - [`demo`] — `offhook demo`: server, lab and handset on one machine (also used by tests;
//!   feature `demo`, off in the shipped binary).
//! - [`config`] — the TOML config file, checked with file/line/column errors, and the
//!   settings offhook-server provisions resolved against it (file, then server, then default).
//! - [`api`] — offhook-server as the handset reaches it: the endpoint (URL, credentials, TLS),
//!   requests, the handset routes (mailbox, settings, provisioned config, status report) and
//!   the held-open event stream.
//! - [`token`] — when to fetch access tokens (backoff, jitter) and the HTTP request itself.
//! - [`ice`] — the Device's ICE servers: the config file's or offhook-server's (beside each
//!   token), checked as the Device checks them, and which a call uses.
//! - [`push`] — the push channel (`GET /api/handset/events`): a bounded server-sent-events
//!   parser, the reconnect schedule, the client that polls while the stream is down, and the
//!   fetcher of the provisioned config (at start and on `config` events, with its ETag).
//! - [`backoff`] — retry timing (doubling, capped, with jitter) for the token and push clients.
//! - [`status`] — status reports to offhook-server (`POST /api/handset/status`): when (sans-IO)
//!   and the task that sends them.
//! - [`systemd`] — readiness, status and watchdog pings for `Type=notify`, journald logging.
pub mod api;
pub mod app;
pub mod backoff;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod ice;
pub mod push;
pub mod status;
pub mod systemd;
pub mod token;

pub use offhook_phone::{
    clock, dialplan, history, phone, screens, state_file, tones, twilio_errors,
};
