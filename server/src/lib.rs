//! `offhook-server`: what a handset owner runs next to their Twilio account. It mints the
//! handsets' Access Tokens, answers Twilio's voice webhooks with TwiML (ringing, forwarding,
//! do-not-disturb, voicemail), keeps the handsets told of new messages and settings and
//! provisions them, and serves a web interface to run it all (`/admin`).
//!
//! Module map:
//! - [`config`] — settings from the environment and `.env`, with Twilio's names.
//! - [`check`] — the settings check (`offhook-server check`, the System page).
//! - [`dotenv`] — the `.env` file format.
//! - [`handsets`] — handsets (ids, identities, extensions, hashed secrets) and the handsets
//!   file, imported into the database at start.
//! - [`secret`] — generating, hashing (Argon2id) and checking device secrets and admin
//!   passwords.
//! - [`phone`] — normalising dialled numbers to E.164 with a default country.
//! - [`signature`] — `X-Twilio-Signature` computation and validation.
//! - [`xml`] — a tiny escaping XML writer.
//! - [`twiml`] — the TwiML verbs the server answers with.
//! - [`calls`] — what incoming and outgoing calls do (pure: parameters and stored facts →
//!   TwiML): ringing, do-not-disturb, forwarding.
//! - [`forwarding`] — a handset's do-not-disturb and forwarding: JSON, checks, targets.
//! - [`voicemail`] — mailboxes, taking a message, the `*97` listening menu (pure).
//! - [`provisioning`] — what a handset is provisioned with (`GET /api/handset/config`): the
//!   JSON, its `ETag`, the checks of an admin's changes (pure).
//! - [`call_log`] — the call log from Twilio's status callbacks (pure).
//! - [`admin`] — signing in to the web interface: sessions, CSRF, cookies, setup links.
//! - [`throttle`] — slowing down repeated login failures (Sans-IO).
//! - [`forwarded`] — trusted proxies and the `X-Forwarded-For` walk.
//! - [`store`] — the database (SQLite or PostgreSQL): handsets, provisioning, voicemail,
//!   forwarding, DND, status, the call log, admins and their sessions.
//! - [`push`] — change notifications for the handsets' event streams, and their limits.
//! - [`twilio_api`] — Twilio's REST API (deleting and fetching recordings, ICE servers).
//! - [`ice`] — the handsets' ICE servers from Twilio's Network Traversal Service: cached for
//!   their lifetime, refreshed before it ends, the last good list kept when Twilio fails.
//! - [`worker`] — deleting recordings at Twilio and retrying what failed; reloading the
//!   handsets when another instance changed them; forgetting ended sessions; keeping the ICE
//!   servers fresh.
//! - [`clock`] — wall and monotonic time behind a trait.
//! - [`http`] — the axum router: token endpoint, handset API and provisioning, webhooks,
//!   the `/admin` pages, health.
//! - [`server`] — serving the router in-process or as a daemon with clean shutdown.
//! - [`error`] — the crate's error type.

pub mod admin;
pub mod call_log;
pub mod calls;
pub mod check;
pub mod clock;
pub mod config;
pub mod dotenv;
pub mod error;
pub mod forwarded;
pub mod forwarding;
pub mod handsets;
pub mod http;
pub mod ice;
pub mod phone;
pub mod provisioning;
pub mod push;
pub mod secret;
pub mod server;
pub mod signature;
pub mod store;
pub mod throttle;
pub mod twilio_api;
pub mod twiml;
pub mod voicemail;
pub mod worker;
pub mod xml;

pub use config::Config;
pub use error::Error;
pub use handsets::{Handset, Handsets};
pub use http::{AppState, app};
pub use server::{RunningServer, ShutdownHandle, run, start, start_at};
