//! `offhook`: the desk handset — the phone's behaviour, independent of hardware and network.
//!
//! Module map:
//! - [`app`] — the glue: board, Twilio Device, token client and phone in one loop (`offhook run`).
//! - [`demo`] — `offhook demo`: server, lab and handset on one machine (also used by tests).
//! - [`dialplan`] — digit maps, emergency numbers, speed dials, directory, E.164 normalisation.
//! - [`tones`] — call-progress tones, DTMF feedback and ring cadences per region, as PCM.
//! - [`phone`] — the sans-IO phone state machine: inputs, outputs and the view model.
//! - [`screens`] — the view model drawn in 128×64 mono and 240×320 colour layouts, and as PNG.
//! - [`history`] — placed / received / missed calls, persisted across restarts.
//! - [`state_file`] — atomic writes and corrupt-tolerant reads of state files.
//! - [`twilio_errors`] — every Twilio error code as a title, a plain cause and what to do.
//! - [`config`] — the TOML config file, checked with file/line/column errors.
//! - [`token`] — when to fetch access tokens (backoff, jitter) and the HTTP request itself.
//! - [`systemd`] — readiness, status and watchdog pings for `Type=notify`, journald logging.
//! - [`clock`] — wall-clock time carried on the monotonic clock, and time formatting.
pub mod app;
pub mod clock;
pub mod config;
pub mod demo;
pub mod dialplan;
pub mod history;
pub mod phone;
pub mod screens;
pub mod state_file;
pub mod systemd;
pub mod token;
pub mod tones;
pub mod twilio_errors;
