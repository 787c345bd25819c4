//! `offhook-core`: the facts every part of offhook shares, with no async runtime and no
//! WebRTC stack, so that the token server and the lab can use them without building the
//! client.
//!
//! Module map:
//! - [`token`] — Twilio Access Tokens: minting (as `twilio-node` does), verification (as
//!   the signaling server does), and reading a token's own facts.
//! - [`twilio_error`] — the Voice SDK's error table with named codes ([`twilio_error::code`]),
//!   `TwilioError` and the SDK's remapping rules.
//! - [`sid`] — identifiers shaped like Twilio's (`CA…`, `KX…`, `TJS…`).
//! - [`numbering`] — one table of countries and E.164 normalisation.
//! - [`handset`] — the handset's keys, hook events and ring cadences (board and phone).
pub mod handset;
pub mod numbering;
pub mod sid;
pub mod token;
pub mod twilio_error;
