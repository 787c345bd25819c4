//! Call media: the WebRTC peer ([`rtc`], the only module that knows str0m), codecs,
//! resampling, the jitter buffer, DTMF, and the per-call session that ties them together.
//!
//! - [`audio`] — `AudioSource`/`AudioSink`/`AudioDevice`, tone, silence, recording and WAV.
//! - [`codec`] — PCMU and Opus encoders/decoders with loss concealment.
//! - [`resample`] — windowed-sinc resampling between device and codec rates.
//! - [`jitter`] — the adaptive jitter buffer.
//! - [`dtmf`] — the `send_digits` schedule.
//! - [`analysis`] — level and dominant-frequency measurements.
//! - [`rtc`] — the str0m boundary (SDP, ICE, DTLS-SRTP, RTP, RFC 4733).
//! - [`stun`] — server-reflexive candidates from `stun:` servers.
//! - [`session`] — one call's media, sans-IO.
//! - [`task`] — the tokio shell: one UDP socket per call.

pub mod analysis;
pub mod audio;
pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod resample;
pub mod rtc;
pub mod session;
pub mod stun;
pub mod task;

pub use audio::{AudioDevice, AudioSink, AudioSource};
pub use session::MediaSession;

#[cfg(test)]
mod tests;
