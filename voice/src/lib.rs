//! `twilio-voice`: a native Twilio Voice client for Linux — what `@twilio/voice-sdk` 2.x is in
//! a browser, without the browser.
//!
//! Module map:
//! - [`error`] — `TwilioError`, the SDK's error table and remapping rules.
//! - [`token`] — Access Tokens: minting (as `twilio-node` does) and verification (as the
//!   signaling server does).
//! - [`protocol`] — the wire: PStream frames, custom parameters, SIDs, SDP munging.
pub mod error;
pub mod token;

pub use error::TwilioError;
pub mod protocol;
