//! `twilio-voice`: a native Twilio Voice client for Linux — what `@twilio/voice-sdk` 2.x is in
//! a browser, without the browser.
//!
//! Module map:
//! - [`core`] — the Device and its Calls as one sans-IO state machine (`device.ts` + `call.ts`).
//! - [`media`] — call media: WebRTC (str0m), codecs, jitter buffer, DTMF, audio traits.
//! - [`model`] — states, directions, codecs, events and samples, named as the SDK names them.
//! - [`options`] — `DeviceOptions` with the SDK's defaults and device meanings.
//! - [`regions`] — edges, regions and signaling URLs.
//! - [`quality`] — MOS and the StatsMonitor's warnings.
//! - [`error`] — `TwilioError`, the SDK's error table and remapping rules.
//! - [`token`] — Access Tokens: minting (as `twilio-node` does) and verification (as the
//!   signaling server does).
//! - [`protocol`] — the wire: PStream frames, custom parameters, SIDs, SDP munging.
//! - [`signaling`] — the signaling stream, sans-IO: transport timers, backoff, edge fallback,
//!   PStream's listen/queue/parse.
pub mod core;
pub mod error;
pub mod media;
pub mod model;
pub mod options;
pub mod quality;
pub mod regions;
pub mod token;

pub use error::TwilioError;
pub mod protocol;
pub mod signaling;
