//! `twilio-voice`: a native Twilio Voice client for Linux — what `@twilio/voice-sdk` 2.x is in
//! a browser, without the browser.
//!
//! Module map:
//! - [`device`] — the async API: `Device` and `Call` (tokio), signaling sockets and media tasks.
//! - [`core`] — the Device and its Calls, sans-IO (`device.ts` + `call.ts`): a Device engine that
//!   owns and routes to one state machine per call, with an injected random source.
//! - [`media`] — call media: WebRTC (str0m), ICE candidates (every interface, STUN, TURN
//!   relays over UDP, TCP and TLS, gathered again for each ICE restart), network changes
//!   during a call, codecs, jitter buffer, DTMF, audio traits.
//! - [`insights`] — events and samples posted to Twilio's event gateway.
//! - [`liveness`] — heartbeats: whether a Device's task (or any loop) is still running.
//! - [`logging`] — the `log_level` option: what a Device writes to `tracing`.
//! - [`tls`] — rustls client configuration (public roots plus an optional extra CA).
//! - [`http_client`] — one HTTP/1.1 request over TLS (Insights, the handset's token requests).
//! - [`model`] — states, directions, codecs, events and samples, named as the SDK names them.
//! - [`options`] — `DeviceOptions` with the SDK's defaults and device meanings (`iceServers`
//!   and `iceTransportPolicy` in `RTCConfiguration`'s shape).
//! - [`regions`] — edges, regions and signaling URLs.
//! - [`quality`] — MOS and the StatsMonitor's warnings.
//! - [`error`] — `TwilioError`, the SDK's error table and remapping rules.
//! - [`token`] — Access Tokens: minting (as `twilio-node` does) and verification (as the
//!   signaling server does).
//! - [`protocol`] — the wire: PStream frames, custom parameters, SIDs, SDP munging.
//! - [`signaling`] — the signaling stream, sans-IO: transport timers, backoff, edge fallback,
//!   PStream's listen/queue/parse.
pub mod core;
pub mod device;
pub mod error;
pub mod http_client;
pub mod insights;
pub mod liveness;
pub mod logging;
pub mod media;
pub mod model;
pub mod options;
pub mod quality;
pub mod regions;
pub mod tls;
/// Access Tokens, from `offhook-core` (the one implementation the server and lab use too).
pub use offhook_core::token;

pub use device::{Call, CallEvents, Device, DeviceEvents};
pub use error::{TwilioError, VoiceError};
pub use media::{AudioDevice, AudioPort, AudioSink, AudioSource, PacedPort};
pub use model::{CallDirection, CallEvent, CallId, CallStatus, Codec, DeviceEvent, DeviceState};
pub use options::DeviceOptions;
pub mod protocol;
pub mod signaling;
