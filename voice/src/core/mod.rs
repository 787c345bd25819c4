//! The Device and its Calls, sans-IO: API calls, socket reports, media reports and time in;
//! socket commands, media requests and events out.
//!
//! This is `device.ts` + `call.ts` without timers or I/O, split the way quinn-proto splits
//! its `Endpoint` and `Connection`: every method takes `now`, and [`Engine::poll_timeout`]
//! says when [`Engine::handle_timeout`] must run next. The async shell ([`crate::device`])
//! owns the socket and the media sessions and only moves bytes.
//!
//! - [`device`] — the Device engine ([`Engine`]): registration, the signaling stream, the
//!   token and its expiry, and the calls in a map, routed to by CallSid;
//! - [`call`] — one call's state machine ([`CallCore`]) with its own poll and deadline, its
//!   state as enums ([`call::phase`]);
//! - [`random`] — the injected random source: a seed reproduces a run;
//! - this file — the engine's inputs and outputs ([`MediaRequest`], [`MediaEvent`],
//!   [`Output`]).

pub mod call;
pub mod device;
pub mod random;

pub use call::{CallCore, MediaPhase};
pub use device::Engine;

use crate::model::{CallEvent, CallId, Codec, DeviceEvent, PeerState};
use crate::quality::RawStats;
use crate::signaling::SocketCommand;

/// What the engine asks of the media session of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaRequest {
    /// Produce the local offer for an outgoing call.
    CreateOffer,
    /// Apply this remote offer and produce an answer (incoming call accepted).
    AnswerOffer { offer: String },
    /// Apply this remote answer to our offer (outgoing call, or an ICE restart).
    ApplyAnswer { answer: String },
    /// Produce an ICE-restart offer.
    RestartIce,
    /// Stop (or resume) sending the microphone.
    Mute(bool),
    /// Send these digits as RFC 4733 events (`0-9*#`, `w` = 500 ms pause).
    SendDigits(String),
    /// Tear the media down.
    Close,
}

/// What the media session of a call reports.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// The local offer or answer asked for.
    LocalDescription(String),
    /// The remote description is applied; which codec won and whether telephone-event was
    /// negotiated.
    RemoteApplied {
        codec: Codec,
        telephone_event: bool,
    },
    /// The local (53400) or remote (53402) description could not be made or applied.
    DescriptionFailed {
        remote: bool,
        message: String,
    },
    IceConnected,
    IceDisconnected,
    /// ICE gave up (end of an ICE cycle: no connectivity after a restart, or none at all).
    IceFailed,
    /// The network changed under the call (an address came or went, the default route
    /// moved): worth an ICE restart; with `path_lost`, the media has no way through until one.
    NetworkChanged {
        path_lost: bool,
    },
    /// One second of counters.
    Stats(RawStats),
    /// A 50 ms level reading, 0–32767 each.
    Volume {
        input_level: f64,
        output_level: f64,
    },
    /// The peer entered a WebRTC state (for Insights; the engine ignores it).
    PeerState(PeerState),
}

/// Everything the engine asks the shell to do or to tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Socket(SocketCommand),
    Device(DeviceEvent),
    Call(CallId, CallEvent),
    Media(CallId, MediaRequest),
    /// The call is over and no longer held by the Device.
    CallRemoved(CallId),
}

#[cfg(test)]
mod test_rig;
#[cfg(test)]
mod tests;
