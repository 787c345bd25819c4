//! Call media: the WebRTC peer ([`rtc`], the only module that knows str0m), codecs,
//! resampling, the jitter buffer, DTMF, and the per-call session that ties them together.
//!
//! - [`audio`] — `AudioPort`/`AudioDevice` (the card's periods), `AudioSource`/`AudioSink`,
//!   tone, silence, recording and WAV, and `PacedPort` for sources without a clock
//!   (`TestAudio`, a fixture, with the `testing` feature).
//! - [`codec`] — PCMU (G.711 from `offhook-dsp`) and Opus encoders/decoders with loss
//!   concealment.
//! - [`resample`] — whole frames between device and codec rates (`offhook-dsp`'s resampler).
//! - [`jitter`] — the adaptive jitter buffer.
//! - [`stretch`] — drift-compensating time-stretch (accelerate/expand) on decoded PCM.
//! - [`echo`] — uplink speech processing: echo cancellation, noise suppression, gain control.
//! - [`playout`] — the receive path per playback period: jitter buffer, decoder, stretch,
//!   fades, resampling.
//! - [`dtmf`] — the `send_digits` schedule.
//! - [`analysis`] — level and dominant-frequency measurements (from `offhook-dsp`).
//! - [`rtc`] — the str0m boundary (SDP, ICE, DTLS-SRTP, RTP, RFC 4733).
//! - [`interfaces`] — host candidates: every usable interface address, IPv4 and IPv6.
//! - [`netwatch`] — network changes during a call, sans-IO: when to gather again and restart
//!   ICE, and whether the media's path is lost.
//! - [`stun`] — server-reflexive candidates from `stun:` servers.
//! - [`turn`] — relay candidates, sans-IO: TURN allocations, permissions, channels and
//!   stream framing (`turn-client-proto`), and `turn:`/`turns:` URLs.
//! - [`relays`] — the relays' connections (UDP, TCP, TLS), timers and release.
//! - [`session`] — one call's media, sans-IO: PCM in and out, the time as a parameter.
//! - [`states`] — the peer's WebRTC states as the session observes them.
//! - [`audio_thread`] — the call's audio/codec thread, driven by the card's periods.
//! - [`task`] — the tokio side: gathering (host sockets, STUN, TURN), then packets in and
//!   out through the socket or relay each datagram's source names; a look at the network
//!   every second, and gathering again for each ICE restart.

pub mod analysis;
pub mod audio;
pub mod audio_thread;
pub mod codec;
pub mod dtmf;
pub mod echo;
pub mod interfaces;
pub mod jitter;
pub mod netwatch;
pub mod playout;
pub mod relays;
pub mod resample;
pub mod rtc;
pub mod session;
pub mod states;
pub mod stretch;
pub mod stun;
pub mod task;
pub mod turn;

pub use audio::{AudioDevice, AudioError, AudioPort, AudioSink, AudioSource, PacedPort};
pub use session::MediaSession;

#[cfg(test)]
mod tests;
